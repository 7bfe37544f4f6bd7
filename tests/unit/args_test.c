/* SPDX-License-Identifier: MIT */
/* Unit tests of the command-line value parsers, good and bad values. */
#include <string.h>

#include "args.h"
#include "unit.h"

/* 1 when s parses as a listen address with this host and port */
static int
hostport(const char *s, const char *host, long port)
{
	char h[64];
	long p;

	return args_hostport(s, h, sizeof h, &p) == 0 && !strcmp(h, host) &&
	    p == port;
}

static int
hostport_bad(const char *s)
{
	char h[64];
	long p;

	return args_hostport(s, h, sizeof h, &p) < 0;
}

static void
test_num(void)
{
	long v = -5;

	CHECK(args_num("0", 0, 10, &v) == 0 && v == 0);
	CHECK(args_num("65535", 0, 65535, &v) == 0 && v == 65535);
	CHECK(args_num("65536", 0, 65535, &v) < 0);
	CHECK(args_num("", 0, 10, &v) < 0);
	CHECK(args_num("-1", -5, 10, &v) < 0);
	CHECK(args_num("+1", 0, 10, &v) < 0);
	CHECK(args_num(" 1", 0, 10, &v) < 0);
	CHECK(args_num("1x", 0, 10, &v) < 0);
	CHECK(args_num("99999999999999999999", 0, 10, &v) < 0);
}

static void
test_range(void)
{
	unsigned short lo = 0, hi = 0;

	CHECK(args_range("1-65535", &lo, &hi) == 0 && lo == 1 && hi == 65535);
	CHECK(args_range("40000-40000", &lo, &hi) == 0 && lo == 40000 &&
	    hi == 40000);
	CHECK(args_range("5-4", &lo, &hi) < 0);
	CHECK(args_range("0-4", &lo, &hi) < 0);
	CHECK(args_range("-4", &lo, &hi) < 0);
	CHECK(args_range("4-", &lo, &hi) < 0);
	CHECK(args_range("4", &lo, &hi) < 0);
	CHECK(args_range("1234567-2", &lo, &hi) < 0);
	CHECK(args_range("1-2-3", &lo, &hi) < 0);
}

static void
test_hostport(void)
{
	CHECK(hostport("127.0.0.1", "127.0.0.1", -1));
	CHECK(hostport("127.0.0.1:1081", "127.0.0.1", 1081));
	CHECK(hostport("localhost:0", "localhost", 0));
	CHECK(hostport("::1", "::1", -1));
	CHECK(hostport("fe80::1:2", "fe80::1:2", -1));
	CHECK(hostport("[::1]", "::1", -1));
	CHECK(hostport("[::1]:1082", "::1", 1082));
	CHECK(hostport_bad(""));
	CHECK(hostport_bad(":80"));
	CHECK(hostport_bad("[]:80"));
	CHECK(hostport_bad("[::1"));
	CHECK(hostport_bad("[::1]x"));
	CHECK(hostport_bad("[::1]:"));
	CHECK(hostport_bad("host:65536"));
	CHECK(hostport_bad("host:-1"));
	CHECK(hostport_bad("host:80x"));
	/* longer than the room for it */
	CHECK(hostport_bad("a-host-name-of-more-than-sixty-four-bytes-which-"
	    "does-not-fit-the-buffer"));
}

int
main(void)
{
	run("args_num", test_num);
	run("args_range", test_range);
	run("args_hostport", test_hostport);
	return unit_summary();
}
