/* SPDX-License-Identifier: MIT */
/* Fuzz target: an address range of -w, --allow and --deny, as rule_parse()
 * reads it without a port and with one. Checked against inet_pton(3), by
 * writing the range back with a port, and by matching addresses in and
 * just outside it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "rules.h"

/* "ADDR" or "ADDR/PREFIX" read with inet_pton and a 1 to 3 digit prefix;
 * 0 or -1. The parser may accept more ways of writing a prefix, never
 * less. */
static int
oracle(const char *s, struct rule *r)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s), i, n;
	long prefix;

	memset(r, 0, sizeof *r);
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
		n = strlen(slash + 1);
		if (n < 1 || n > 3)
			return -1;
		for (i = 0, prefix = 0; i < n; i++) {
			if (slash[1 + i] < '0' || slash[1 + i] > '9')
				return -1;
			prefix = prefix * 10 + (slash[1 + i] - '0');
		}
		if (prefix > (r->family == AF_INET ? 32 : 128))
			return -1;
	}
	r->prefix = (unsigned char)prefix;
	/* an IPv4 range in IPv4-mapped (::ffff:0:0/96) or NAT64
	 * (64:ff9b::/96) form is that IPv4 range */
	if (r->family == AF_INET6 && r->prefix >= 96 &&
	    ((!memcmp(r->addr, "\0\0\0\0\0\0\0\0\0\0", 10) &&
	    r->addr[10] == 0xff && r->addr[11] == 0xff) ||
	    !memcmp(r->addr, "\0\x64\xff\x9b\0\0\0\0\0\0\0\0", 12))) {
		memcpy(ip, r->addr + 12, 4);
		memset(r->addr, 0, 16);
		memcpy(r->addr, ip, 4);
		r->family = AF_INET;
		r->prefix = (unsigned char)(prefix - 96);
	}
	return 0;
}

/* u does not match r as it is written: where it matches, it is as the
 * address that it stands for (rules_effective), which differs */
static int
no_written_match(const struct rule *r, const union sockaddr_union *u)
{
	union sockaddr_union e;

	if (!rules_match(r, 1, u))
		return 1;
	return rules_effective(u, &e) && rules_match(r, 1, &e);
}

static int
same_rule(const struct rule *a, const struct rule *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	    a->port == b->port && !memcmp(a->addr, b->addr, 16);
}

/* the address addr (4 or 16 bytes by family) and port as a socket address */
static void
make_addr(union sockaddr_union *u, int family, const unsigned char *addr,
    unsigned short port)
{
	memset(u, 0, sizeof *u);
	if (family == AF_INET) {
		u->v4.sin_family = AF_INET;
		memcpy(&u->v4.sin_addr, addr, 4);
		u->v4.sin_port = htons(port);
	} else {
		u->v6.sin6_family = AF_INET6;
		memcpy(&u->v6.sin6_addr, addr, 16);
		u->v6.sin6_port = htons(port);
	}
}

/* The rule holds its own address, and one differing in a host bit, but
 * not one differing in a network bit, nor another port than its own. */
static void
check_match(const struct rule *r, uint32_t h)
{
	unsigned bits = r->family == AF_INET ? 32 : 128, bit;
	unsigned short port = r->port ? r->port : (unsigned short)(h >> 16);
	unsigned char a[16];
	union sockaddr_union u;

	memcpy(a, r->addr, 16);
	if (r->family == AF_UNSPEC) {
		make_addr(&u, h & 1 ? AF_INET : AF_INET6, a, port);
		FUZZ_CHECK(rules_match(r, 1, &u));
		make_addr(&u, AF_INET, a, (unsigned short)(port + 1));
		FUZZ_CHECK(port == 65535 || no_written_match(r, &u));
		return;
	}
	make_addr(&u, r->family, a, port);
	FUZZ_CHECK(rules_match(r, 1, &u));
	if (r->port) {
		make_addr(&u, r->family, a, (unsigned short)(port ^ 1));
		FUZZ_CHECK(no_written_match(r, &u));
	}
	if (r->prefix < bits) {
		bit = r->prefix + h % (bits - r->prefix);
		a[bit / 8] ^= (unsigned char)(0x80 >> bit % 8);
		make_addr(&u, r->family, a, port);
		FUZZ_CHECK(rules_match(r, 1, &u));
		memcpy(a, r->addr, 16);
	}
	if (r->prefix > 0) {
		bit = h % r->prefix;
		a[bit / 8] ^= (unsigned char)(0x80 >> bit % 8);
		make_addr(&u, r->family, a, port);
		FUZZ_CHECK(no_written_match(r, &u));
	}
	/* the other family never matches as written */
	make_addr(&u, r->family == AF_INET ? AF_INET6 : AF_INET, r->addr, port);
	FUZZ_CHECK(no_written_match(r, &u));
}

/* a range read without a port, written as one with a port, reads back
 * the same with that port */
static void
check_with_port(const char *s, const struct rule *r0, uint32_t h)
{
	char t[512];
	const char *slash = strchr(s, '/');
	unsigned short port = (unsigned short)(1 + h % 65535);
	struct rule r1, want = *r0;
	int alen = (int)(slash ? (size_t)(slash - s) : strlen(s));

	if (strlen(s) > 256)
		return;
	if (!strchr(s, ':'))
		snprintf(t, sizeof t, "%s:%u", s, port);
	else
		snprintf(t, sizeof t, "[%.*s]%s:%u", alen, s,
		    slash ? slash : "", port);
	want.port = port;
	FUZZ_CHECK(rule_parse(t, 1, &r1) == 0 && same_rule(&r1, &want));
	check_match(&r1, h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rule r0, r1, o;
	uint32_t h = 2166136261u;
	const char *colon;
	char *s;
	int p0, p1, po;
	size_t i;

	if (size > 4096 || !(s = fuzz_string(data, size)))
		return 0;
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;

	/* without a port */
	p0 = rule_parse(s, 0, &r0);
	po = oracle(s, &o);
	FUZZ_CHECK(p0 == 0 || p0 == -1);
	if (po == 0)
		FUZZ_CHECK(p0 == 0 && same_rule(&r0, &o));
	if (p0 == 0) {
		FUZZ_CHECK(r0.family == AF_INET || r0.family == AF_INET6);
		FUZZ_CHECK(r0.port == 0);
		FUZZ_CHECK(r0.prefix <= (r0.family == AF_INET ? 32 : 128));
		/* the address is what inet_pton reads before the slash */
		o.prefix = r0.prefix;
		FUZZ_CHECK(strchr(s, '/') || same_rule(&r0, &o));
		check_match(&r0, h);
		check_with_port(s, &r0, h);
	}

	/* with a port */
	p1 = rule_parse(s, 1, &r1);
	FUZZ_CHECK(p1 == 0 || p1 == -1);
	if (!strchr(s, ':') && !strchr(s, '['))
		/* nothing but an IPv4 range: the same as without a port */
		FUZZ_CHECK(p0 == 0 && r0.family == AF_INET ?
		    p1 == 0 && same_rule(&r0, &r1) : p1 == -1);
	if (p1 == 0) {
		colon = strrchr(s, ':');
		if (r1.family == AF_UNSPEC)
			FUZZ_CHECK(s[0] == ':' && r1.port != 0);
		else if (r1.family == AF_INET6)
			FUZZ_CHECK(s[0] == '[' && r1.prefix <= 128);
		else
			FUZZ_CHECK(r1.family == AF_INET && r1.prefix <= 32);
		/* a port is ":DIGITS" at the end, never 0 */
		if (r1.port) {
			FUZZ_CHECK(colon && colon[1] >= '0' && colon[1] <= '9');
			FUZZ_CHECK(strtoul(colon + 1, NULL, 10) == r1.port);
			FUZZ_CHECK(strspn(colon + 1, "0123456789") ==
			    strlen(colon + 1));
		} else {
			FUZZ_CHECK(!colon || s[0] == '[');
		}
		check_match(&r1, h);
	}
	free(s);
	return 0;
}
