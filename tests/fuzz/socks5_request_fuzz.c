/* SPDX-License-Identifier: MIT */
/* Fuzz target: the SOCKS5 request, VER CMD RSV ATYP DST.ADDR DST.PORT
 * (RFC 1928 section 4), and the reply encoder: a reply has the request's
 * layout, so the parser must read back what socks5_reply() wrote. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "socks5.h"

/* the reply for the parsed address must parse back to it */
static void
check_reply(const struct socks5_request *r)
{
	unsigned char out[SOCKS5_REPLY_MAX + 16];
	struct socks5_request back;
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} u;
	size_t n, used = 0;

	memset(&u, 0, sizeof u);
	if (r->atyp == ATYP_IPV4) {
		u.v4.sin_family = AF_INET;
		memcpy(&u.v4.sin_addr, r->addr, 4);
		u.v4.sin_port = htons(r->port);
	} else if (r->atyp == ATYP_IPV6) {
		u.v6.sin6_family = AF_INET6;
		memcpy(&u.v6.sin6_addr, r->addr, 16);
		u.v6.sin6_port = htons(r->port);
	} else {
		/* a name is never a bound address: 0.0.0.0:0 */
		u.sa.sa_family = AF_UNIX;
	}
	memset(out, 0xee, sizeof out);
	n = socks5_reply(out, r->cmd, &u.sa);
	FUZZ_CHECK(n == (r->atyp == ATYP_IPV6 ? 22u : 10u));
	FUZZ_CHECK(out[n] == 0xee);
	FUZZ_CHECK(out[0] == 5 && out[1] == r->cmd && out[2] == 0);
	FUZZ_CHECK(socks5_parse_request(out, n, &back, &used) == PARSE_DONE);
	FUZZ_CHECK(used == n);
	if (r->atyp == ATYP_DOMAIN) {
		FUZZ_CHECK(back.atyp == ATYP_IPV4 && back.port == 0);
		FUZZ_CHECK(!memcmp(back.addr, "\0\0\0\0", 4));
	} else {
		FUZZ_CHECK(back.atyp == r->atyp && back.port == r->port);
		FUZZ_CHECK(!memcmp(back.addr, r->addr,
		    r->atyp == ATYP_IPV4 ? 4 : 16));
	}
}

static enum parse
parse(const unsigned char *buf, size_t len, size_t *used)
{
	struct socks5_request r;
	enum parse p;

	memset(&r, 0x55, sizeof r);
	p = socks5_parse_request(buf, len, &r, used);
	if (p == PARSE_ERROR) {
		/* an error is a reply: one with a code that says why */
		FUZZ_CHECK(len >= 1);
		if (buf[0] != 5)
			FUZZ_CHECK(r.rep == REP_FAILURE);
		else if (len >= 4 && buf[3] != ATYP_IPV4 &&
		    buf[3] != ATYP_IPV6 && buf[3] != ATYP_DOMAIN)
			FUZZ_CHECK(r.rep == REP_ATYP_UNSUPPORTED);
		else
			/* an empty name or one with a NUL in it */
			FUZZ_CHECK(len >= 5 && buf[3] == ATYP_DOMAIN &&
			    (buf[4] == 0 || (len >= 5 + (size_t)buf[4] &&
			    memchr(buf + 5, '\0', buf[4]))) &&
			    r.rep == REP_FAILURE);
	}
	if (p != PARSE_DONE)
		return p;
	FUZZ_CHECK(buf[0] == 5 && r.cmd == buf[1] && r.rep == REP_SUCCESS);
	fuzz_check_address(buf + 3, *used - 3, &r);
	return p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct socks5_request r;
	size_t used;

	fuzz_stream_contract(parse, data, size, SOCKS5_REQUEST_MAX);
	if (socks5_parse_request(data, size, &r, &used) == PARSE_DONE)
		check_reply(&r);
	return 0;
}
