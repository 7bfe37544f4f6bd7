/* SPDX-License-Identifier: MIT */
/* Unit tests of the -1 list: time to live, the least recently used
 * giving way, IPv4 and IPv6 apart, and a full list of many addresses. */
#include <arpa/inet.h>
#include <string.h>

#include "once.h"
#include "unit.h"
#include "unit_addr.h"

static int
admits(const char *ip, long long now)
{
	union sockaddr_union u = unit_addr(ip, 0);

	return once_admits(&u, now);
}

static void
add(const char *ip, long long now)
{
	union sockaddr_union u = unit_addr(ip, 0);

	once_add(&u, now);
}

/* with max 3 and a time to live of 100 */
static void
test_small(void)
{
	CHECK(!admits("192.0.2.1", 0));
	add("192.0.2.1", 0);
	CHECK(admits("192.0.2.1", 50));
	/* the port does not count, the family does */
	CHECK(!admits("::ffff:192.0.2.2", 50));
	CHECK(!admits("2001:db8::1", 50));
	/* used at 50: alive until 150 */
	CHECK(admits("192.0.2.1", 150));
	CHECK(!admits("192.0.2.1", 251));
	/* gone for good once stale */
	CHECK(!admits("192.0.2.1", 252));
	add("192.0.2.1", 300);
	add("2001:db8::1", 301);
	add("192.0.2.3", 302);
	CHECK(admits("192.0.2.1", 303));	/* now the most recent */
	add("192.0.2.4", 304);			/* 2001:db8::1 gives way */
	CHECK(!admits("2001:db8::1", 305));
	CHECK(admits("192.0.2.1", 305) && admits("192.0.2.3", 305) &&
	    admits("192.0.2.4", 305));
}

int
main(void)
{
	once_init(3, 100);
	run("once/small", test_small);
	return unit_summary();
}
