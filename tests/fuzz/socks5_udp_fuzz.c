/* SPDX-License-Identifier: MIT */
/* Fuzz target: the header of a SOCKS5 UDP datagram, RSV RSV FRAG ATYP
 * DST.ADDR DST.PORT (RFC 1928 section 7), and the header the relay
 * writes in front of a reply datagram, which must parse back. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "socks5.h"

static void
check_header(const struct socks5_request *r)
{
	unsigned char out[SOCKS5_REPLY_MAX + 16];
	struct socks5_request back;
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} u;
	unsigned char frag = 0x55;
	size_t n, used = 0;

	if (r->atyp == ATYP_DOMAIN)
		return;		/* replies come from addresses, not names */
	memset(&u, 0, sizeof u);
	if (r->atyp == ATYP_IPV4) {
		u.v4.sin_family = AF_INET;
		memcpy(&u.v4.sin_addr, r->addr, 4);
		u.v4.sin_port = htons(r->port);
	} else {
		u.v6.sin6_family = AF_INET6;
		memcpy(&u.v6.sin6_addr, r->addr, 16);
		u.v6.sin6_port = htons(r->port);
	}
	memset(out, 0xee, sizeof out);
	n = socks5_udp_header(out, &u.sa);
	FUZZ_CHECK(n == (r->atyp == ATYP_IPV6 ? 22u : 10u) && out[n] == 0xee);
	FUZZ_CHECK(socks5_parse_udp(out, n, &back, &frag, &used) ==
	    PARSE_DONE);
	FUZZ_CHECK(used == n && frag == 0 && out[0] == 0 && out[1] == 0);
	FUZZ_CHECK(back.atyp == r->atyp && back.port == r->port);
	FUZZ_CHECK(!memcmp(back.addr, r->addr, r->atyp == ATYP_IPV4 ? 4 : 16));
}

static enum parse
parse(const unsigned char *buf, size_t len, size_t *used)
{
	struct socks5_request r;
	unsigned char frag = 0x55;
	enum parse p;

	memset(&r, 0x55, sizeof r);
	p = socks5_parse_udp(buf, len, &r, &frag, used);
	if (p == PARSE_ERROR) {
		FUZZ_CHECK(len >= 4);
		if (buf[3] != ATYP_IPV4 && buf[3] != ATYP_IPV6 &&
		    buf[3] != ATYP_DOMAIN)
			FUZZ_CHECK(r.rep == REP_ATYP_UNSUPPORTED);
		else
			FUZZ_CHECK(len >= 5 && buf[3] == ATYP_DOMAIN &&
			    (buf[4] == 0 || (len >= 5 + (size_t)buf[4] &&
			    memchr(buf + 5, '\0', buf[4]))));
	}
	if (p != PARSE_DONE)
		return p;
	FUZZ_CHECK(frag == buf[2] && r.rep == REP_SUCCESS);
	FUZZ_CHECK(r.cmd == CMD_UDP_ASSOCIATE);
	fuzz_check_address(buf + 3, *used - 3, &r);
	return p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct socks5_request r;
	unsigned char frag;
	size_t used;

	/* a datagram is whole, but its header obeys the same rules */
	fuzz_stream_contract(parse, data, size, 4 + 256 + 2);
	if (socks5_parse_udp(data, size, &r, &frag, &used) == PARSE_DONE)
		check_header(&r);
	return 0;
}
