/* SPDX-License-Identifier: MIT */
/* Unit tests of the formatter and of address formatting, against the
 * libc's snprintf() and inet_ntop(). */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "fmt.h"
#include "server.h"
#include "unit.h"

static void
test_conversions(void)
{
	char mine[128], ref[128];

	fmt_buf(mine, sizeof mine, "%s|%c|%d|%u|%ld|%lu|%lld|%llu|%%|x",
	    "str", 'c', INT_MIN, UINT_MAX, LONG_MIN, ULONG_MAX, LLONG_MIN,
	    ULLONG_MAX);
	snprintf(ref, sizeof ref, "%s|%c|%d|%u|%ld|%lu|%lld|%llu|%%|x",
	    "str", 'c', INT_MIN, UINT_MAX, LONG_MIN, ULONG_MAX, LLONG_MIN,
	    ULLONG_MAX);
	CHECK(!strcmp(mine, ref));
	fmt_buf(mine, sizeof mine, "%d %u", 0, 0);
	CHECK(!strcmp(mine, "0 0"));
}

static void
test_cut(void)
{
	size_t (*unchecked)(char *, size_t, const char *, ...) = fmt_buf;
	char buf[8];

	CHECK(fmt_buf(buf, sizeof buf, "%s", "0123456789") == 7);
	CHECK(!strcmp(buf, "0123456"));
	CHECK(fmt_buf(buf, 1, "%s", "x") == 0 && buf[0] == '\0');
	/* a stray % at the end is dropped, not read past; called through a
	 * pointer, which the compiler's format check does not follow */
	CHECK(unchecked(buf, sizeof buf, "ab%") == 2 && !strcmp(buf, "ab"));
}

static void
test_addresses(void)
{
	static const char *const v6[] = {
		"::1", "::", "1::", "2001:db8::1", "2001:db8::1:0:0:1",
		"fe80::1:2:3:4", "1:2:3:4:5:6:7:8", "1:0:3:4:5:6:7:8",
		"0:0:1::", "2001:db8:0:1:1:1:1:1", "1:0:0:2::3", "abcd::ef",
	};
	union sockaddr_union u;
	char mine[SA_STRLEN], ip[INET6_ADDRSTRLEN], ref[SA_STRLEN];
	size_t i;

	for (i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
		memset(&u, 0, sizeof u);
		u.v6.sin6_family = AF_INET6;
		u.v6.sin6_port = htons(65535);
		inet_pton(AF_INET6, v6[i], &u.v6.sin6_addr);
		inet_ntop(AF_INET6, &u.v6.sin6_addr, ip, sizeof ip);
		snprintf(ref, sizeof ref, "[%s]:65535", ip);
		CHECK(!strcmp(sa_str(&u, mine), ref));
	}
	memset(&u, 0, sizeof u);
	u.v4.sin_family = AF_INET;
	u.v4.sin_port = htons(1080);
	inet_pton(AF_INET, "255.0.10.1", &u.v4.sin_addr);
	CHECK(!strcmp(sa_str(&u, mine), "255.0.10.1:1080"));
}

int
main(void)
{
	run("fmt/conversions", test_conversions);
	run("fmt/cut", test_cut);
	run("fmt/addresses", test_addresses);
	return unit_summary();
}
