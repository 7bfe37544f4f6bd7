/* SPDX-License-Identifier: MIT */
/* Unit test of a full -1 list of many addresses from one IPv6 /64: each
 * is found, the oldest give way in order. */
#include <arpa/inet.h>
#include <string.h>

#include "once.h"
#include "unit.h"

#define MANY 200000

static union sockaddr_union
nth(unsigned i)
{
	union sockaddr_union u;

	memset(&u, 0, sizeof u);
	u.v6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::", &u.v6.sin6_addr);
	u.v6.sin6_addr.s6_addr[12] = (unsigned char)(i >> 24);
	u.v6.sin6_addr.s6_addr[13] = (unsigned char)(i >> 16);
	u.v6.sin6_addr.s6_addr[14] = (unsigned char)(i >> 8);
	u.v6.sin6_addr.s6_addr[15] = (unsigned char)i;
	return u;
}

static void
test_many(void)
{
	union sockaddr_union u;
	unsigned i, missing = 0;

	for (i = 0; i < MANY + MANY / 2; i++) {
		u = nth(i);
		once_add(&u, 1);
	}
	/* the first half gave way to the last */
	for (i = 0; i < MANY / 2; i++) {
		u = nth(i);
		missing += !once_admits(&u, 2);
	}
	CHECK(missing == MANY / 2);
	for (missing = 0, i = MANY / 2; i < MANY + MANY / 2; i++) {
		u = nth(i);
		missing += !once_admits(&u, 2);
	}
	CHECK(missing == 0);
}

int
main(void)
{
	once_init(MANY, 1000);
	run("once/many", test_many);
	return unit_summary();
}
