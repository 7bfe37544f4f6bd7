/* SPDX-License-Identifier: MIT */
/* Fuzz target: the SOCKS5 greeting, VER NMETHODS METHODS (RFC 1928
 * section 3), as the first bytes of a client's stream. */
#include <stdint.h>

#include "fuzz.h"
#include "socks5.h"

static enum parse
parse(const unsigned char *buf, size_t len, size_t *used)
{
	struct socks5_greeting g;
	unsigned offers = 0;
	enum parse p;
	size_t i;

	g.offers = 0xdead;
	p = socks5_parse_greeting(buf, len, &g, used);
	if (p == PARSE_ERROR)
		FUZZ_CHECK(len >= 1 && buf[0] != 5);
	if (p != PARSE_DONE)
		return p;
	FUZZ_CHECK(buf[0] == 5 && *used == 2 + (size_t)buf[1]);
	for (i = 2; i < *used; i++) {
		if (buf[i] == METHOD_NOAUTH)
			offers |= OFFER_NOAUTH;
		else if (buf[i] == METHOD_USERPASS)
			offers |= OFFER_USERPASS;
	}
	FUZZ_CHECK(g.offers == offers);
	return p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_stream_contract(parse, data, size, SOCKS5_GREETING_MAX);
	return 0;
}
