/* SPDX-License-Identifier: MIT */
/* Unit tests of the SOCKS5 parsers and the reply encoder: whole, split at
 * every byte, pipelined, truncated and malformed input. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "socks5.h"
#include "unit.h"

typedef enum parse (*parse_fn)(const unsigned char *, size_t, void *,
    size_t *);

/* Every proper prefix of msg must ask for more; the whole of it, and the
 * whole with trailing bytes, must parse and use exactly len bytes. */
static void
check_prefixes(parse_fn fn, const unsigned char *msg, size_t len, void *out)
{
	unsigned char buf[1024];
	size_t i, used;

	for (i = 0; i < len; i++)
		CHECK(fn(msg, i, out, &used) == PARSE_NEED_MORE);
	used = 0;
	CHECK(fn(msg, len, out, &used) == PARSE_DONE);
	CHECK(used == len);
	memcpy(buf, msg, len);
	memcpy(buf + len, "\x05\x01\x00payload", 10);
	used = 0;
	CHECK(fn(buf, len + 10, out, &used) == PARSE_DONE);
	CHECK(used == len);
}

static enum parse
greeting(const unsigned char *b, size_t n, void *o, size_t *u)
{
	return socks5_parse_greeting(b, n, o, u);
}

static enum parse
auth(const unsigned char *b, size_t n, void *o, size_t *u)
{
	return socks5_parse_auth(b, n, o, u);
}

static enum parse
request(const unsigned char *b, size_t n, void *o, size_t *u)
{
	return socks5_parse_request(b, n, o, u);
}

static void
test_greeting(void)
{
	static const unsigned char both[] = { 5, 3, 0x80, 2, 0 };
	static const unsigned char none[] = { 5, 0 };
	static const unsigned char gssapi[] = { 5, 1, 1 };
	struct socks5_greeting g;
	unsigned char many[257];
	size_t used;

	check_prefixes(greeting, both, sizeof both, &g);
	CHECK(g.offers == (OFFER_NOAUTH | OFFER_USERPASS));
	check_prefixes(greeting, none, sizeof none, &g);
	CHECK(g.offers == 0);
	check_prefixes(greeting, gssapi, sizeof gssapi, &g);
	CHECK(g.offers == 0);
	many[0] = 5;
	many[1] = 255;
	memset(many + 2, 0x7f, 255);
	many[256] = METHOD_USERPASS;
	check_prefixes(greeting, many, sizeof many, &g);
	CHECK(g.offers == OFFER_USERPASS);
	CHECK(socks5_parse_greeting((const unsigned char *)"\x04\x01", 2, &g,
	    &used) == PARSE_ERROR);
	CHECK(socks5_parse_greeting((const unsigned char *)"G", 1, &g,
	    &used) == PARSE_ERROR);
}

static void
test_auth(void)
{
	static const unsigned char ok[] = "\x01\x04user\x06secret";
	static const unsigned char empty[] = { 1, 0, 0 };
	struct socks5_auth a;
	unsigned char big[3 + 255 + 255];
	size_t used;

	check_prefixes(auth, ok, sizeof ok - 1, &a);
	CHECK(a.ulen == 4 && !strcmp(a.user, "user"));
	CHECK(a.plen == 6 && !strcmp(a.pass, "secret"));
	check_prefixes(auth, empty, sizeof empty, &a);
	CHECK(a.ulen == 0 && a.user[0] == '\0' && a.plen == 0);
	big[0] = 1;
	big[1] = 255;
	memset(big + 2, 'u', 255);
	big[257] = 255;
	memset(big + 258, 'p', 255);
	check_prefixes(auth, big, sizeof big, &a);
	CHECK(a.ulen == 255 && strlen(a.user) == 255 && a.user[254] == 'u');
	CHECK(a.plen == 255 && strlen(a.pass) == 255 && a.pass[254] == 'p');
	CHECK(socks5_parse_auth((const unsigned char *)"\x05\x01\x00", 3, &a,
	    &used) == PARSE_ERROR);
}

static void
test_request_ipv4(void)
{
	static const unsigned char m[] = { 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90 };
	struct socks5_request r;

	check_prefixes(request, m, sizeof m, &r);
	CHECK(r.cmd == CMD_CONNECT && r.atyp == ATYP_IPV4);
	CHECK(!memcmp(r.addr, "\x7f\0\0\1", 4));
	CHECK(r.port == 8080);
	CHECK(r.rep == REP_SUCCESS);
}

static void
test_request_ipv6(void)
{
	unsigned char m[4 + 16 + 2] = { 5, 3, 0, 4 };
	struct socks5_request r;

	m[4 + 15] = 1;
	m[20] = 0xff;
	m[21] = 0xfe;
	check_prefixes(request, m, sizeof m, &r);
	CHECK(r.cmd == CMD_UDP_ASSOCIATE && r.atyp == ATYP_IPV6);
	CHECK(!memcmp(r.addr, m + 4, 16));
	CHECK(r.port == 65534);
}

static void
test_request_domain(void)
{
	static const unsigned char m[] = "\x05\x01\x00\x03\x09localhost\x00\x50";
	unsigned char longest[7 + 255];
	struct socks5_request r;

	check_prefixes(request, m, sizeof m - 1, &r);
	CHECK(r.atyp == ATYP_DOMAIN && !strcmp(r.host, "localhost"));
	CHECK(r.port == 80);
	memcpy(longest, "\x05\x01\x00\x03\xff", 5);
	memset(longest + 5, 'a', 255);
	longest[260] = 0;
	longest[261] = 1;
	check_prefixes(request, longest, sizeof longest, &r);
	CHECK(strlen(r.host) == 255 && r.port == 1);
}

static void
test_request_malformed(void)
{
	struct socks5_request r;
	size_t used;

	/* wrong version: known as soon as the first byte is there */
	CHECK(socks5_parse_request((const unsigned char *)"\x04", 1, &r,
	    &used) == PARSE_ERROR);
	CHECK(r.rep == REP_FAILURE);
	/* unknown address type: its length cannot be known */
	CHECK(socks5_parse_request((const unsigned char *)"\x05\x01\x00\x05",
	    4, &r, &used) == PARSE_ERROR);
	CHECK(r.rep == REP_ATYP_UNSUPPORTED);
	CHECK(socks5_parse_request((const unsigned char *)"\x05\x01\x00\x00",
	    4, &r, &used) == PARSE_ERROR);
	CHECK(r.rep == REP_ATYP_UNSUPPORTED);
	/* empty name, and a name with a NUL in it */
	CHECK(socks5_parse_request((const unsigned char *)
	    "\x05\x01\x00\x03\x00\x00\x50", 7, &r, &used) == PARSE_ERROR);
	CHECK(r.rep == REP_FAILURE);
	CHECK(socks5_parse_request((const unsigned char *)
	    "\x05\x01\x00\x03\x03" "a\0b\x00\x50", 10, &r, &used) ==
	    PARSE_ERROR);
	CHECK(r.rep == REP_FAILURE);
	/* an unknown command still parses: the server answers it */
	CHECK(socks5_parse_request((const unsigned char *)
	    "\x05\x09\x00\x01\x01\x02\x03\x04\x00\x01", 10, &r, &used) ==
	    PARSE_DONE);
	CHECK(r.cmd == 9 && used == 10);
}

/* messages back to back in one buffer, as a pipelining client sends them */
static void
test_pipelined(void)
{
	static const unsigned char m[] =
	    "\x05\x02\x00\x02" "\x01\x01u\x01p"
	    "\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50" "GET /";
	struct socks5_greeting g;
	struct socks5_auth a;
	struct socks5_request r;
	size_t off = 0, used;

	CHECK(socks5_parse_greeting(m, sizeof m - 1, &g, &used) == PARSE_DONE);
	off += used;
	CHECK(socks5_parse_auth(m + off, sizeof m - 1 - off, &a, &used) ==
	    PARSE_DONE);
	off += used;
	CHECK(!strcmp(a.user, "u") && !strcmp(a.pass, "p"));
	CHECK(socks5_parse_request(m + off, sizeof m - 1 - off, &r, &used) ==
	    PARSE_DONE);
	off += used;
	CHECK(r.port == 80);
	CHECK(sizeof m - 1 - off == 5 && !memcmp(m + off, "GET /", 5));
}

static void
test_udp(void)
{
	static const unsigned char v4[] =
	    "\x00\x00\x00\x01\x7f\x00\x00\x01\x00\x35" "data";
	static const unsigned char name[] =
	    "\x00\x00\x02\x03\x09localhost\x00\x35";
	struct socks5_request r;
	struct sockaddr_in6 sa;
	unsigned char frag, out[SOCKS5_REPLY_MAX];
	size_t used, i;

	CHECK(socks5_parse_udp(v4, sizeof v4 - 1, &r, &frag, &used) ==
	    PARSE_DONE);
	CHECK(used == 10 && frag == 0 && r.atyp == ATYP_IPV4 && r.port == 53);
	CHECK(!memcmp(v4 + used, "data", 4));
	CHECK(socks5_parse_udp(name, sizeof name - 1, &r, &frag, &used) ==
	    PARSE_DONE);
	CHECK(frag == 2 && !strcmp(r.host, "localhost") && used == 16);
	/* a datagram cut anywhere in its header is not whole */
	for (i = 0; i < 10; i++)
		CHECK(socks5_parse_udp(v4, i, &r, &frag, &used) ==
		    PARSE_NEED_MORE);
	CHECK(socks5_parse_udp((const unsigned char *)"\0\0\0\x09", 4, &r,
	    &frag, &used) == PARSE_ERROR);
	CHECK(socks5_parse_udp((const unsigned char *)"\0\0\0\x03\0\0\x35",
	    7, &r, &frag, &used) == PARSE_ERROR);

	memset(&sa, 0, sizeof sa);
	sa.sin6_family = AF_INET6;
	sa.sin6_port = htons(53);
	inet_pton(AF_INET6, "::1", &sa.sin6_addr);
	CHECK(socks5_udp_header(out, (struct sockaddr *)&sa) == 22);
	CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0 && out[3] == ATYP_IPV6);
	CHECK(out[19] == 1 && out[20] == 0 && out[21] == 53);
}

static void
test_reply(void)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	struct sockaddr unspec;
	unsigned char out[SOCKS5_REPLY_MAX];

	memset(&v4, 0, sizeof v4);
	v4.sin_family = AF_INET;
	v4.sin_port = htons(1080);
	inet_pton(AF_INET, "127.0.0.2", &v4.sin_addr);
	CHECK(socks5_reply(out, REP_SUCCESS, (struct sockaddr *)&v4) == 10);
	CHECK(!memcmp(out, "\x05\x00\x00\x01\x7f\x00\x00\x02\x04\x38", 10));

	memset(&v6, 0, sizeof v6);
	v6.sin6_family = AF_INET6;
	v6.sin6_port = htons(443);
	inet_pton(AF_INET6, "::1", &v6.sin6_addr);
	CHECK(socks5_reply(out, REP_SUCCESS, (struct sockaddr *)&v6) == 22);
	CHECK(out[3] == ATYP_IPV6 && out[19] == 1 && out[20] == 0x01 &&
	    out[21] == 0xbb);

	CHECK(socks5_reply(out, REP_REFUSED, NULL) == 10);
	CHECK(!memcmp(out, "\x05\x05\x00\x01\0\0\0\0\0\0", 10));
	memset(&unspec, 0, sizeof unspec);
	CHECK(socks5_reply(out, REP_FAILURE, &unspec) == 10);
	CHECK(!memcmp(out, "\x05\x01\x00\x01\0\0\0\0\0\0", 10));
}

int
main(void)
{
	run("socks5/greeting", test_greeting);
	run("socks5/auth", test_auth);
	run("socks5/request_ipv4", test_request_ipv4);
	run("socks5/request_ipv6", test_request_ipv6);
	run("socks5/request_domain", test_request_domain);
	run("socks5/request_malformed", test_request_malformed);
	run("socks5/pipelined", test_pipelined);
	run("socks5/udp", test_udp);
	run("socks5/reply", test_reply);
	return unit_summary();
}
