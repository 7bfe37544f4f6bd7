/* SPDX-License-Identifier: MIT */
/* Unit tests of the session line: each macro, checked formats, times. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "unit.h"

static union sockaddr_union client, peer, bound;

static void
set(union sockaddr_union *u, const char *ip, unsigned short port)
{
	memset(u, 0, sizeof *u);
	if (inet_pton(AF_INET, ip, &u->v4.sin_addr) == 1) {
		u->v4.sin_family = AF_INET;
		u->v4.sin_port = htons(port);
	} else {
		u->v6.sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &u->v6.sin6_addr);
		u->v6.sin6_port = htons(port);
	}
}

static struct log_session
session(void)
{
	struct log_session s;

	set(&client, "127.0.0.1", 40000);
	set(&peer, "::1", 80);
	set(&bound, "127.0.0.2", 5555);
	memset(&s, 0, sizeof s);
	/* 2026-11-21T12:34:56.789Z */
	s.end_ms = 1795264496789LL;
	s.duration_ms = 1234;
	s.client = &client;
	s.user = "alice";
	s.cmd = "CONNECT";
	s.dst = "example.com:80";
	s.peer = &peer;
	s.bound = &bound;
	s.listen_port = 1080;
	s.rep = 0;
	s.reason = "closed";
	s.up = 123;
	s.down = 4567;
	return s;
}

static int
formats(const char *fmt, const struct log_session *s, const char *want)
{
	char buf[512];

	logfmt(buf, sizeof buf, fmt, s);
	if (strcmp(buf, want))
		printf("  '%s' gave '%s', not '%s'\n", fmt, buf, want);
	return !strcmp(buf, want);
}

static void
test_default(void)
{
	struct log_session s = session();

	CHECK(formats(LOG_FORMAT, &s, "2026-11-21T12:34:56.789Z client "
	    "127.0.0.1:40000 user alice CONNECT example.com:80 to [::1]:80 "
	    "reply 0 (closed) up 123 down 4567 bytes 1234ms"));
	s.user = NULL;
	s.cmd = NULL;
	s.dst = NULL;
	s.peer = NULL;
	s.bound = NULL;
	s.rep = -1;
	s.reason = "auth failed";
	s.up = s.down = 0;
	CHECK(formats(LOG_FORMAT, &s, "2026-11-21T12:34:56.789Z client "
	    "127.0.0.1:40000 user - - - to - reply - (auth failed) up 0 "
	    "down 0 bytes 1234ms"));
}

static void
test_macros(void)
{
	struct log_session s = session();

	CHECK(formats("%Y-%y-%m-%d %H:%M:%S.%. %z %t", &s,
	    "2026-26-11-21 12:34:56.789 +0000 1795264496"));
	CHECK(formats("%C %c %a %U %N %n %q %h", &s, "127.0.0.1 40000 "
	    "127.0.0.1:40000 alice CONNECT example.com 80 example.com:80"));
	CHECK(formats("%R %r %A %e %p %E %T %O %I %D %%", &s,
	    "::1 80 [::1]:80 127.0.0.2 1080 0 closed 123 4567 1234 %"));
	s.dst = "[2001:db8::1]:443";
	CHECK(formats("%n %q", &s, "2001:db8::1 443"));
	s.dst = NULL;
	s.peer = NULL;
	CHECK(formats("%n %q %R %r %A", &s, "- 0 - 0 -"));
	/* a format cut short keeps its last character */
	CHECK(formats("100%", &s, "100%"));
}

static void
test_check(void)
{
	const char *bad = NULL;

	CHECK(logfmt_check(LOG_FORMAT, &bad) == 0);
	CHECK(logfmt_check("plain text", &bad) == 0);
	CHECK(logfmt_check("%C %Q", &bad) < 0 && bad && !strcmp(bad, "%Q"));
	CHECK(logfmt_check("ends in %", &bad) < 0);
	CHECK(logfmt_check("%%", &bad) == 0);
}

static void
test_cut(void)
{
	struct log_session s = session();
	char buf[8];

	CHECK(logfmt(buf, sizeof buf, "%U%U%U", &s) == 7);
	CHECK(!strcmp(buf, "aliceal"));
}

/* last: from here on, times are local */
static void
test_local(void)
{
	struct log_session s = session();

	setenv("TZ", "Europe/Berlin", 1);
	if (log_local_zone() < 0) {
		printf("  no zone Europe/Berlin here (package tzdata)\n");
		return;
	}
	CHECK(formats("%i %z %H", &s, "2026-11-21T13:34:56.789+01:00 +0100 13"));
	/* summer time */
	s.end_ms -= 150LL * 86400 * 1000;
	CHECK(formats("%i", &s, "2026-06-24T14:34:56.789+02:00"));
	setenv("TZ", "<+0130>-1:30", 1);
	CHECK(log_local_zone() == 0);
	CHECK(formats("%i %z", &s, "2026-06-24T14:04:56.789+01:30 +0130"));
	setenv("TZ", "XYZ3", 1);
	CHECK(log_local_zone() == 0);
	CHECK(formats("%i", &s, "2026-06-24T09:34:56.789-03:00"));
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	CHECK(log_local_zone() < 0);
	setenv("TZ", "../etc/passwd", 1);
	CHECK(log_local_zone() < 0);
	setenv("TZ", "/etc/passwd", 1);
	CHECK(log_local_zone() < 0);
}

int
main(void)
{
	run("logfmt_default", test_default);
	run("logfmt_macros", test_macros);
	run("logfmt_check", test_check);
	run("logfmt_cut", test_cut);
	run("logfmt_local", test_local);
	return unit_summary();
}
