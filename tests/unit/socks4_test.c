/* SPDX-License-Identifier: MIT */
/* Unit tests of the SOCKS4/4a parser and reply: whole, split at every
 * byte, pipelined, and malformed input. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "socks4.h"
#include "unit.h"

/* Every proper prefix asks for more; the whole, alone or followed by
 * payload, parses and uses exactly len bytes. */
static void
check_prefixes(const unsigned char *msg, size_t len, struct socks4_request *r)
{
	unsigned char buf[1024];
	size_t i, used;

	for (i = 0; i < len; i++)
		CHECK(socks4_parse_request(msg, i, r, &used) == PARSE_NEED_MORE);
	used = 0;
	CHECK(socks4_parse_request(msg, len, r, &used) == PARSE_DONE);
	CHECK(used == len);
	memcpy(buf, msg, len);
	memcpy(buf + len, "GET / HTTP/1.0", 14);
	used = 0;
	CHECK(socks4_parse_request(buf, len + 14, r, &used) == PARSE_DONE);
	CHECK(used == len);
}

static void
test_connect(void)
{
	static const unsigned char m[] = "\x04\x01\x00\x50\x7f\x00\x00\x01" "bob";
	struct socks4_request r;

	check_prefixes(m, sizeof m, &r);
	CHECK(r.cd == SOCKS4_CONNECT && r.port == 80);
	CHECK(!memcmp(r.ip, "\x7f\0\0\x01", 4));
	CHECK(!strcmp(r.userid, "bob") && r.host[0] == '\0');
}

static void
test_socks4a(void)
{
	static const unsigned char m[] =
	    "\x04\x02\x1f\x90\x00\x00\x00\x07" "\0" "localhost";
	struct socks4_request r;

	check_prefixes(m, sizeof m, &r);
	CHECK(r.cd == SOCKS4_BIND && r.port == 8080);
	CHECK(r.userid[0] == '\0' && !strcmp(r.host, "localhost"));
}

static void
test_limits(void)
{
	unsigned char m[8 + 256 + 256];
	struct socks4_request r;
	size_t used;

	/* a user id of 255 bytes fits, one of 256 does not */
	memcpy(m, "\x04\x01\x00\x50\x7f\x00\x00\x01", 8);
	memset(m + 8, 'u', 255);
	m[8 + 255] = '\0';
	check_prefixes(m, 8 + 256, &r);
	CHECK(strlen(r.userid) == 255);
	m[8 + 255] = 'u';
	CHECK(socks4_parse_request(m, 8 + 256, &r, &used) == PARSE_ERROR);
	/* likewise the SOCKS4a name */
	memcpy(m, "\x04\x01\x00\x50\x00\x00\x00\x01\0", 9);
	memset(m + 9, 'h', 256);
	CHECK(socks4_parse_request(m, 9 + 255, &r, &used) == PARSE_NEED_MORE);
	CHECK(socks4_parse_request(m, 9 + 256, &r, &used) == PARSE_ERROR);
	m[9 + 255] = '\0';
	CHECK(socks4_parse_request(m, 9 + 256, &r, &used) == PARSE_DONE);
	CHECK(strlen(r.host) == 255 && used == 9 + 256);
}

static void
test_malformed(void)
{
	struct socks4_request r;
	size_t used;

	CHECK(socks4_parse_request((const unsigned char *)"\x05", 1, &r,
	    &used) == PARSE_ERROR);
	/* SOCKS4a with an empty name */
	CHECK(socks4_parse_request((const unsigned char *)
	    "\x04\x01\x00\x50\x00\x00\x00\x01\0\0", 10, &r, &used) ==
	    PARSE_ERROR);
	/* 0.0.0.0 is plain SOCKS4, whatever follows the user id */
	CHECK(socks4_parse_request((const unsigned char *)
	    "\x04\x01\x00\x50\x00\x00\x00\x00\0x", 10, &r, &used) ==
	    PARSE_DONE);
	CHECK(used == 9 && r.host[0] == '\0');
}

static void
test_reply(void)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	unsigned char out[SOCKS4_REPLY_LEN];

	memset(&v4, 0, sizeof v4);
	v4.sin_family = AF_INET;
	v4.sin_port = htons(1080);
	inet_pton(AF_INET, "127.0.0.2", &v4.sin_addr);
	CHECK(socks4_reply(out, SOCKS4_GRANTED, (struct sockaddr *)&v4) == 8);
	CHECK(!memcmp(out, "\x00\x5a\x04\x38\x7f\x00\x00\x02", 8));
	memset(&v6, 0, sizeof v6);
	v6.sin6_family = AF_INET6;
	v6.sin6_port = htons(1080);
	CHECK(socks4_reply(out, SOCKS4_GRANTED, (struct sockaddr *)&v6) == 8);
	CHECK(!memcmp(out, "\x00\x5a\0\0\0\0\0\0", 8));
	CHECK(socks4_reply(out, SOCKS4_REJECTED, NULL) == 8);
	CHECK(!memcmp(out, "\x00\x5b\0\0\0\0\0\0", 8));
}

int
main(void)
{
	run("socks4/connect", test_connect);
	run("socks4/socks4a", test_socks4a);
	run("socks4/limits", test_limits);
	run("socks4/malformed", test_malformed);
	run("socks4/reply", test_reply);
	return unit_summary();
}
