/* SPDX-License-Identifier: MIT */
/* Address ranges and the decisions made with them: pure, no I/O. */
#include <arpa/inet.h>
#include <string.h>

#include "rules.h"

/* a decimal number in [0, max] making up all of s[0..n); -1 if not */
static long
number(const char *s, size_t n, long max)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
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

int
rule_parse(const char *s, int with_port, struct rule *r)
{
	const char *colon, *end = s + strlen(s), *close;
	long port;

	memset(r, 0, sizeof *r);
	if (!with_port)
		return parse_range(s, (size_t)(end - s), r);
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
	return 0;
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
rules_match(const struct rule *r, size_t n, const union sockaddr_union *u)
{
	const unsigned char *addr;
	unsigned short port;
	size_t i;

	if (u->sa.sa_family == AF_INET) {
		addr = (const unsigned char *)&u->v4.sin_addr;
		port = ntohs(u->v4.sin_port);
	} else {
		addr = u->v6.sin6_addr.s6_addr;
		port = ntohs(u->v6.sin6_port);
	}
	for (i = 0; i < n; i++)
		if (rule_match(&r[i], addr, u->sa.sa_family, port))
			return 1;
	return 0;
}
