/* SPDX-License-Identifier: MIT */
/* Address ranges and the decisions made with them: pure, no I/O. */
#ifndef RULES_H
#define RULES_H

#include <stddef.h>

#include "addr.h"

struct rule {
	int family;		/* AF_INET, AF_INET6, or AF_UNSPEC: any */
	unsigned char addr[16];	/* IPv4 in the first 4 bytes */
	unsigned char prefix;	/* bits of addr that count */
	unsigned short port;	/* 0: any */
};

/* Parses one range, "ADDR" or "ADDR/PREFIX", IPv4 or IPv6. With
 * with_port, a port may follow, ":PORT", and then an IPv6 address must
 * be in brackets ("[::1]/128:25"); ":PORT" alone means any address.
 * Returns 0, or -1 when s is no such thing. */
int rule_parse(const char *s, int with_port, struct rule *r);

/* the range of exactly one address */
void rule_from_addr(const union sockaddr_union *u, struct rule *r);

/* The address that u stands for, into *out (the port kept): an IPv4
 * address written as IPv6 (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d,
 * NAT64 64:ff9b::a.b.c.d) as that IPv4 address; the unspecified ones,
 * which Linux connects to this host (0.0.0.0/8 and ::, in any of those
 * forms), as loopback, 127.0.0.1 and ::1. Returns 1 when *out differs
 * from u. */
int rules_effective(const union sockaddr_union *u, union sockaddr_union *out);

/* 1 when u, an IPv4 or IPv6 address and port, falls in one of the n
 * rules at r, as it is written or as the address it stands for
 * (rules_effective): no spelling of an address slips past a rule */
int rules_match(const struct rule *r, size_t n, const union sockaddr_union *u);

#endif /* RULES_H */
