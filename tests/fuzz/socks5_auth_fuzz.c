/* SPDX-License-Identifier: MIT */
/* Fuzz target: the RFC 1929 user/password request, VER ULEN UNAME PLEN
 * PASSWD, as it follows the greeting in a client's stream. */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "socks5.h"

static enum parse
parse(const unsigned char *buf, size_t len, size_t *used)
{
	struct socks5_auth a;
	size_t ulen;
	enum parse p;

	memset(&a, 0x55, sizeof a);
	p = socks5_parse_auth(buf, len, &a, used);
	if (p == PARSE_ERROR)
		FUZZ_CHECK(len >= 1 && buf[0] != 1);
	if (p != PARSE_DONE)
		return p;
	FUZZ_CHECK(buf[0] == 1);
	ulen = buf[1];
	FUZZ_CHECK(a.ulen == ulen && 3 + ulen <= len);
	FUZZ_CHECK(a.plen == buf[2 + ulen]);
	FUZZ_CHECK(*used == 3 + ulen + a.plen);
	/* what the server compares against its secrets, and wipes */
	FUZZ_CHECK(!memcmp(a.user, buf + 2, ulen) && a.user[ulen] == '\0');
	FUZZ_CHECK(!memcmp(a.pass, buf + 3 + ulen, a.plen) &&
	    a.pass[a.plen] == '\0');
	return p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_stream_contract(parse, data, size, SOCKS5_AUTH_MAX);
	return 0;
}
