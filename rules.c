/* SPDX-License-Identifier: MIT */
/* Address ranges and the decisions made with them: pure, no I/O. */
#include <arpa/inet.h>
#include <string.h>

#include "args.h"
#include "rules.h"

/* the decimal number that makes up all of s[0..n), through args_num():
 * in [0, max], at most 5 digits (a port or a prefix length); -1 if not */
static long
number(const char *s, size_t n, long max)
{
	char buf[6];
	long v;

	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return args_num(buf, 0, max, &v) < 0 ? -1 : v;
}

/* The well-known NAT64 prefix (RFC 6052) and IPv4-mapped addresses (RFC
 * 4291 2.5.5.2): an IPv4 address in their last 4 bytes */
static const unsigned char nat64_prefix[12] = { 0, 0x64, 0xff, 0x9b };
static const unsigned char mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };

/* 1 when the IPv6 address a stands for the IPv4 address in its last 4
 * bytes: mapped, NAT64, or IPv4-compatible (RFC 4291 2.5.5.1: ::/96 but
 * for :: and ::1, which are IPv6's own) */
static int
embeds_v4(const unsigned char *a)
{
	static const unsigned char zero[12];

	if (!memcmp(a, mapped_prefix, 12) || !memcmp(a, nat64_prefix, 12))
		return 1;
	return !memcmp(a, zero, 12) && (a[12] | a[13] | a[14] || a[15] > 1);
}

/* "ADDR" or "ADDR/PREFIX" in s[0..n) */
static int
parse_range(const char *s, size_t n, struct rule *r)
{
	char ip[INET6_ADDRSTRLEN];
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	long prefix;

	if (alen == 0 || alen >= sizeof ip)
		return -1;
	memcpy(ip, s, alen);
	ip[alen] = '\0';
	if (inet_pton(AF_INET, ip, r->addr) == 1)
		r->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, r->addr) == 1)
		r->family = AF_INET6;
	else
		return -1;
	prefix = r->family == AF_INET ? 32 : 128;
	if (slash) {
		prefix = number(slash + 1, n - alen - 1, prefix);
		if (prefix < 0)
			return -1;
	}
	r->prefix = (unsigned char)prefix;
	return 0;
}

/* An IPv4 range in mapped or NAT64 form is that IPv4 range, as the
 * addresses in it are matched as IPv4 (see rules_effective). Returns 0. */
static int
v4_form(struct rule *r)
{
	if (r->family == AF_INET6 && r->prefix >= 96 &&
	    (!memcmp(r->addr, mapped_prefix, 12) ||
	    !memcmp(r->addr, nat64_prefix, 12))) {
		memmove(r->addr, r->addr + 12, 4);
		memset(r->addr + 4, 0, 12);
		r->family = AF_INET;
		r->prefix -= 96;
	}
	return 0;
}

int
rule_parse(const char *s, int with_port, struct rule *r)
{
	const char *colon, *end = s + strlen(s), *close;
	long port;

	memset(r, 0, sizeof *r);
	if (!with_port)
		return parse_range(s, (size_t)(end - s), r) < 0 ? -1 :
		    v4_form(r);
	if (s[0] == '[') {
		/* [V6] or [V6]/PREFIX, then maybe :PORT */
		close = strchr(s, ']');
		if (!close || !memchr(s, ':', (size_t)(close - s)))
			return -1;
		colon = close[1] == ':' ? close + 1 : strchr(close, ':');
		if (colon && colon != strrchr(close, ':'))
			return -1;
		if (parse_range(s + 1, (size_t)(close - s - 1), r) < 0 ||
		    r->family != AF_INET6)
			return -1;
		if (close[1] == '/') {
			port = number(close + 2, (size_t)((colon ? colon : end) -
			    close - 2), 128);
			if (port < 0)
				return -1;
			r->prefix = (unsigned char)port;
		} else if (close[1] != '\0' && close[1] != ':') {
			return -1;
		}
	} else {
		/* V4, V4/PREFIX, maybe with :PORT; or :PORT alone */
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			return -1;	/* IPv6 wants brackets here */
		if (colon == s)
			r->family = AF_UNSPEC;
		else if (parse_range(s, (size_t)((colon ? colon : end) - s),
		    r) < 0 || r->family != AF_INET)
			return -1;
	}
	if (colon) {
		port = number(colon + 1, (size_t)(end - colon - 1), 65535);
		if (port <= 0)
			return -1;
		r->port = (unsigned short)port;
	}
	return v4_form(r);
}

void
rule_from_addr(const union sockaddr_union *u, struct rule *r)
{
	memset(r, 0, sizeof *r);
	r->family = u->sa.sa_family;
	if (r->family == AF_INET) {
		memcpy(r->addr, &u->v4.sin_addr, 4);
		r->prefix = 32;
	} else {
		memcpy(r->addr, &u->v6.sin6_addr, 16);
		r->prefix = 128;
	}
}

static int
rule_match(const struct rule *r, const unsigned char *addr, int family,
    unsigned short port)
{
	unsigned bytes = r->prefix / 8, bits = r->prefix % 8;
	unsigned char mask;

	if (r->port && r->port != port)
		return 0;
	if (r->family == AF_UNSPEC)
		return 1;
	if (r->family != family || memcmp(r->addr, addr, bytes))
		return 0;
	if (!bits)
		return 1;
	mask = (unsigned char)(0xff << (8 - bits));
	return (r->addr[bytes] & mask) == (addr[bytes] & mask);
}

int
rules_effective(const union sockaddr_union *u, union sockaddr_union *out)
{
	static const unsigned char any6[16];
	const unsigned char *a;
	int changed = 0;

	*out = *u;
	if (u->sa.sa_family == AF_INET6) {
		a = u->v6.sin6_addr.s6_addr;
		if (embeds_v4(a)) {
			memset(out, 0, sizeof *out);
			out->v4.sin_family = AF_INET;
			out->v4.sin_port = u->v6.sin6_port;
			memcpy(&out->v4.sin_addr, a + 12, 4);
			changed = 1;
		} else if (!memcmp(a, any6, 16)) {
			out->v6.sin6_addr = in6addr_loopback;
			return 1;
		} else {
			return 0;
		}
	}
	/* 0.0.0.0/8, "this network": Linux connects 0.0.0.0 to the host */
	if (!*(const unsigned char *)&out->v4.sin_addr) {
		out->v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		changed = 1;
	}
	return changed;
}

static int
match_one(const struct rule *r, size_t n, const union sockaddr_union *u)
{
	const unsigned char *addr;
	unsigned short port;
	size_t i;

	port = sa_port(u);
	if (u->sa.sa_family == AF_INET)
		addr = (const unsigned char *)&u->v4.sin_addr;
	else
		addr = u->v6.sin6_addr.s6_addr;
	for (i = 0; i < n; i++)
		if (rule_match(&r[i], addr, u->sa.sa_family, port))
			return 1;
	return 0;
}

int
rules_match(const struct rule *r, size_t n, const union sockaddr_union *u)
{
	union sockaddr_union eff;

	return match_one(r, n, u) ||
	    (rules_effective(u, &eff) && match_one(r, n, &eff));
}
