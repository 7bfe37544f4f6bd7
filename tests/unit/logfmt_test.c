/* SPDX-License-Identifier: MIT */
/* Unit tests of the session line: each macro, checked formats, times in
 * UTC and in local zones. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logfmt.h"
#include "unit.h"

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

static void
set_host(struct logfmt_record *r, const char *host, unsigned short port)
{
	memset(&r->dst, 0, sizeof r->dst);
	r->dst.port = port;
	if (inet_pton(AF_INET, host, r->dst.addr) == 1) {
		r->dst.atyp = ATYP_IPV4;
	} else if (inet_pton(AF_INET6, host, r->dst.addr) == 1) {
		r->dst.atyp = ATYP_IPV6;
	} else {
		r->dst.atyp = ATYP_DOMAIN;
		strcpy(r->dst.host, host);
	}
}

static struct logfmt_record
record(void)
{
	struct logfmt_record r;

	memset(&r, 0, sizeof r);
	set(&r.client, "127.0.0.1", 40000);
	set(&r.peer, "::1", 80);
	set(&r.bound, "127.0.0.2", 5555);
	/* 2026-11-21T12:34:56.789Z */
	r.end_ms = 1795264496789LL;
	r.duration_ms = 1234;
	r.user = "alice";
	r.cmd = CMD_CONNECT;
	set_host(&r, "example.com", 80);
	r.listen_port = 1080;
	r.rep = 0;
	r.reason = "closed";
	r.up = 123;
	r.down = 4567;
	return r;
}

static int
formats_in(const char *fmt, const struct logfmt_record *r, int local,
    const char *want)
{
	char buf[512];
	size_t n;

	n = logfmt(buf, sizeof buf, fmt, r, local);
	if (strcmp(buf, want))
		printf("  '%s' gave '%s', not '%s'\n", fmt, buf, want);
	return !strcmp(buf, want) && n == strlen(buf);
}

static int
formats(const char *fmt, const struct logfmt_record *r, const char *want)
{
	return formats_in(fmt, r, 0, want);
}

static void
test_default(void)
{
	struct logfmt_record r = record();

	CHECK(formats(LOGFMT_DEFAULT, &r, "2026-11-21T12:34:56.789Z client "
	    "127.0.0.1:40000 user alice CONNECT example.com:80 to [::1]:80 "
	    "reply 0 (closed) up 123 down 4567 bytes 1234ms"));
	r.user = NULL;
	r.cmd = 0;
	r.dst.atyp = 0;
	r.peer.sa.sa_family = AF_UNSPEC;
	r.bound.sa.sa_family = AF_UNSPEC;
	r.rep = -1;
	r.reason = "auth failed";
	r.up = r.down = 0;
	CHECK(formats(LOGFMT_DEFAULT, &r, "2026-11-21T12:34:56.789Z client "
	    "127.0.0.1:40000 user - - - to - reply - (auth failed) up 0 "
	    "down 0 bytes 1234ms"));
	r.reason = NULL;
	r.duration_ms = -5;
	CHECK(formats("%T %D", &r, "- 0"));
}

static void
test_macros(void)
{
	struct logfmt_record r = record();

	CHECK(formats("%Y-%y-%m-%d %H:%M:%S.%. %z %t", &r,
	    "2026-26-11-21 12:34:56.789 +0000 1795264496"));
	CHECK(formats("%C %c %a %U %N %n %q %h", &r, "127.0.0.1 40000 "
	    "127.0.0.1:40000 alice CONNECT example.com 80 example.com:80"));
	CHECK(formats("%R %r %A %e %p %E %T %O %I %D %%", &r,
	    "::1 80 [::1]:80 127.0.0.2 1080 0 closed 123 4567 1234 %"));
	r.cmd = CMD_BIND;
	r.rep = REP_REFUSED;
	CHECK(formats("%N %E", &r, "BIND 5"));
	r.cmd = CMD_UDP_ASSOCIATE;
	CHECK(formats("%N", &r, "UDP"));
	set_host(&r, "2001:db8::1", 443);
	CHECK(formats("%n %q %h", &r, "2001:db8::1 443 [2001:db8::1]:443"));
	set_host(&r, "192.0.2.7", 8080);
	CHECK(formats("%n %q %h", &r, "192.0.2.7 8080 192.0.2.7:8080"));
	r.dst.atyp = 0;
	r.peer.sa.sa_family = AF_UNSPEC;
	CHECK(formats("%n %q %h %R %r %A", &r, "- 0 - - 0 -"));
	/* a format cut short keeps its last character */
	CHECK(formats("100%", &r, "100%"));
	CHECK(formats("%%p %", &r, "%p %"));
	r.up = 18446744073709551615ULL;
	CHECK(formats("%O", &r, "18446744073709551615"));
	/* the balancer that sent a PROXY header, "-" without one */
	CHECK(formats("%B", &r, "-"));
	set(&r.balancer, "10.0.0.9", 41000);
	CHECK(formats("%a via %B", &r, "127.0.0.1:40000 via 10.0.0.9:41000"));
	set(&r.balancer, "2001:db8::9", 41001);
	CHECK(formats("%B", &r, "[2001:db8::9]:41001"));
}

/* names the client chose are one token each: no blank, '%' or quote */
static void
test_names(void)
{
	struct logfmt_record r = record();

	r.user = "a b%c\"d'e\x01\xff";
	CHECK(formats("%U", &r, "a%20b%25c%22d%27e%01%FF"));
	set_host(&r, "evil host", 25);
	CHECK(formats("%n|%h", &r, "evil%20host|evil%20host:25"));
}

static void
test_check(void)
{
	const char *bad = NULL;

	CHECK(logfmt_check(LOGFMT_DEFAULT, &bad) == 0);
	CHECK(logfmt_check("plain text", &bad) == 0);
	CHECK(logfmt_check("%C %Q", &bad) < 0 && bad && !strcmp(bad, "%Q"));
	CHECK(logfmt_check("ends in %", &bad) < 0);
	CHECK(logfmt_check("%%", &bad) == 0);
}

static void
test_has(void)
{
	CHECK(logfmt_has("port %p", 'p'));
	CHECK(!logfmt_has("port %%p", 'p'));
	CHECK(logfmt_has("%%%p", 'p'));
	CHECK(!logfmt_has(LOGFMT_DEFAULT, 'p'));
	CHECK(!logfmt_has("p", 'p'));
	CHECK(!logfmt_has("%", 'p'));
}

static void
test_cut(void)
{
	struct logfmt_record r = record();
	char buf[8];

	CHECK(logfmt(buf, sizeof buf, "%U%U%U", &r, 0) == 7);
	CHECK(!strcmp(buf, "aliceal"));
	/* an escape is cut like the rest */
	r.user = "abcde f";
	CHECK(logfmt(buf, sizeof buf, "%U", &r, 0) == 7);
	CHECK(!strcmp(buf, "abcde%2"));
	CHECK(logfmt(buf, 1, "%U", &r, 0) == 0 && buf[0] == '\0');
	CHECK(logfmt_time(buf, sizeof buf, r.end_ms, 0) == 7);
	CHECK(!strcmp(buf, "2026-11"));
}

static void
test_time(void)
{
	char buf[64];

	CHECK(logfmt_time(buf, sizeof buf, 1795264496789LL, 0) == 24);
	CHECK(!strcmp(buf, "2026-11-21T12:34:56.789Z"));
	CHECK(logfmt_time(buf, sizeof buf, 5, 0) == 24);
	CHECK(!strcmp(buf, "1970-01-01T00:00:00.005Z"));
}

/* in zone tz, through the C library */
static int
zone(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
	return 1;
}

static void
test_local(void)
{
	struct logfmt_record r = record();
	char buf[64];

	zone("<+0130>-1:30");
	CHECK(formats_in("%i %z %H:%M", &r, 1,
	    "2026-11-21T14:04:56.789+01:30 +0130 14:04"));
	CHECK(logfmt_time(buf, sizeof buf, r.end_ms, 1) == 29);
	CHECK(!strcmp(buf, "2026-11-21T14:04:56.789+01:30"));
	/* local unset: UTC, whatever TZ says */
	CHECK(formats_in("%i %z", &r, 0, "2026-11-21T12:34:56.789Z +0000"));
	zone("XYZ3");
	CHECK(formats_in("%i %z", &r, 1,
	    "2026-11-21T09:34:56.789-03:00 -0300"));
	/* summer time rules, which our own zone reader did not know */
	zone("CET-1CEST,M3.5.0,M10.5.0/3");
	CHECK(formats_in("%i", &r, 1, "2026-11-21T13:34:56.789+01:00"));
	r.end_ms -= 150LL * 86400 * 1000;
	CHECK(formats_in("%i %z", &r, 1, "2026-06-24T14:34:56.789+02:00 "
	    "+0200"));
	zone("Europe/Berlin");
	if (!formats_in("%z", &r, 1, "+0200")) {
		printf("  no zone Europe/Berlin here (package tzdata)\n");
		return;
	}
	CHECK(formats_in("%i", &r, 1, "2026-06-24T14:34:56.789+02:00"));
}

int
main(void)
{
	run("logfmt_default", test_default);
	run("logfmt_macros", test_macros);
	run("logfmt_names", test_names);
	run("logfmt_check", test_check);
	run("logfmt_has", test_has);
	run("logfmt_cut", test_cut);
	run("logfmt_time", test_time);
	run("logfmt_local", test_local);
	return unit_summary();
}
