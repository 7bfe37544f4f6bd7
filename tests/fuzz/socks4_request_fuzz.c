/* SPDX-License-Identifier: MIT */
/* Fuzz target: the SOCKS4 and SOCKS4a request, VN CD DSTPORT DSTIP
 * USERID NUL [DOMAIN NUL], and the 8-byte reply. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "socks4.h"

/* 8 bytes of head, a user id and a name of 255 bytes each with their NULs */
#define SOCKS4_REQUEST_MAX (8 + 256 + 256)

static enum parse
parse(const unsigned char *buf, size_t len, size_t *used)
{
	struct socks4_request r;
	size_t ulen, hlen;
	int socks4a;
	enum parse p;

	memset(&r, 0x55, sizeof r);
	p = socks4_parse_request(buf, len, &r, used);
	/* a version other than 4, or a string that is too long or empty */
	if (p == PARSE_ERROR)
		FUZZ_CHECK(len >= 1 && (buf[0] != 4 || len >= 9));
	if (p == PARSE_ERROR && buf[0] == 4 && !memchr(buf + 8, '\0', len - 8))
		FUZZ_CHECK(len - 8 >= 256);
	if (p != PARSE_DONE)
		return p;
	FUZZ_CHECK(buf[0] == 4 && len >= 9 && r.cd == buf[1]);
	FUZZ_CHECK(r.port == (buf[2] << 8 | buf[3]));
	FUZZ_CHECK(!memcmp(r.ip, buf + 4, 4));
	ulen = strlen(r.userid);
	FUZZ_CHECK(ulen <= 255 && 8 + ulen + 1 <= *used);
	FUZZ_CHECK(!memcmp(r.userid, buf + 8, ulen + 1));
	socks4a = !buf[4] && !buf[5] && !buf[6] && buf[7];
	hlen = strlen(r.host);
	if (socks4a) {
		/* the name, not empty, that the server resolves */
		FUZZ_CHECK(hlen >= 1 && hlen <= 255);
		FUZZ_CHECK(!memcmp(r.host, buf + 8 + ulen + 1, hlen + 1));
		FUZZ_CHECK(*used == 8 + ulen + 1 + hlen + 1);
	} else {
		FUZZ_CHECK(hlen == 0 && *used == 8 + ulen + 1);
	}
	return p;
}

/* the reply for the request's address: VN 0, the code, port, address */
static void
check_reply(const struct socks4_request *r)
{
	unsigned char out[SOCKS4_REPLY_LEN + 8];
	struct sockaddr_in sin;
	size_t n;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(r->port);
	memcpy(&sin.sin_addr, r->ip, 4);
	memset(out, 0xee, sizeof out);
	n = socks4_reply(out, r->cd, (const struct sockaddr *)&sin);
	FUZZ_CHECK(n == SOCKS4_REPLY_LEN && out[n] == 0xee);
	FUZZ_CHECK(out[0] == 0 && out[1] == r->cd);
	FUZZ_CHECK(out[2] == r->port >> 8 && out[3] == (r->port & 0xff));
	FUZZ_CHECK(!memcmp(out + 4, r->ip, 4));
	n = socks4_reply(out, SOCKS4_REJECTED, NULL);
	FUZZ_CHECK(n == SOCKS4_REPLY_LEN &&
	    !memcmp(out, "\0\x5b\0\0\0\0\0\0", 8));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct socks4_request r;
	size_t used;

	fuzz_stream_contract(parse, data, size, SOCKS4_REQUEST_MAX);
	if (socks4_parse_request(data, size, &r, &used) == PARSE_DONE)
		check_reply(&r);
	return 0;
}
