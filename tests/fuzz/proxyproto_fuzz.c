/* SPDX-License-Identifier: MIT */
/* Fuzz target: the PROXY protocol header, version 1 (a text line) and 2
 * (binary), at the start of a stream. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "proxyproto.h"

static const unsigned char v2_sig[] =
    "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A";

/* a port in a v1 line, from its digits: decimal, no heading zero, in
 * range; -1 otherwise */
static long
v1_port(const char *s)
{
	long v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? v : -1;
}

static int
port_is(const union sockaddr_union *u, long port)
{
	const unsigned char *p = u->sa.sa_family == AF_INET ?
	    (const unsigned char *)&u->v4.sin_port :
	    (const unsigned char *)&u->v6.sin6_port;

	return (p[0] << 8 | p[1]) == port;
}

/* a v1 line of n bytes, CRLF included, parsed DONE into h */
static void
check_v1(const uint8_t *data, size_t n, const struct proxy_header *h)
{
	char line[128], *f[8], *s;
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	size_t k = 0;
	int af;

	FUZZ_CHECK(n >= 15 && n <= 107);
	FUZZ_CHECK(data[n - 2] == '\r' && data[n - 1] == '\n');
	/* the line ends at its first CR, and holds no LF */
	FUZZ_CHECK(!memchr(data, '\r', n - 2) && !memchr(data, '\n', n - 1));
	FUZZ_CHECK(!memcmp(data, "PROXY ", 6));
	if (!memcmp(data + 6, "UNKNOWN", 7)) {
		FUZZ_CHECK(n == 15 || data[13] == ' ');
		FUZZ_CHECK(h->cmd == PROXY_LOCAL);
		FUZZ_CHECK(h->src.sa.sa_family == AF_UNSPEC &&
		    h->dst.sa.sa_family == AF_UNSPEC);
		return;
	}
	/* TCP4 or TCP6 and four fields, one space between each */
	FUZZ_CHECK(h->cmd == PROXY_PROXY);
	memcpy(line, data, n - 2);
	line[n - 2] = '\0';
	FUZZ_CHECK(strlen(line) == n - 2);
	for (s = line; k < 8; s++) {
		f[k++] = s;
		if (!(s = strchr(s, ' ')))
			break;
		*s = '\0';
	}
	FUZZ_CHECK(k == 6);
	FUZZ_CHECK(!strcmp(f[1], "TCP4") || !strcmp(f[1], "TCP6"));
	af = f[1][3] == '4' ? AF_INET : AF_INET6;
	FUZZ_CHECK(h->src.sa.sa_family == af && h->dst.sa.sa_family == af);
	for (k = 2; k < 4; k++) {
		const union sockaddr_union *u = k == 2 ? &h->src : &h->dst;

		FUZZ_CHECK(inet_pton(af, f[k], a) == 1);
		FUZZ_CHECK(!memcmp(a, af == AF_INET ?
		    (const void *)&u->v4.sin_addr :
		    (const void *)&u->v6.sin6_addr, af == AF_INET ? 4 : 16));
		/* IPv4 in its one spelling: no heading zeroes */
		if (af == AF_INET)
			FUZZ_CHECK(inet_ntop(af, a, text, sizeof text) &&
			    !strcmp(text, f[k]));
	}
	FUZZ_CHECK(v1_port(f[4]) >= 0 && port_is(&h->src, v1_port(f[4])));
	FUZZ_CHECK(v1_port(f[5]) >= 0 && port_is(&h->dst, v1_port(f[5])));
}

/* a v2 header of n bytes parsed DONE into h */
static void
check_v2(const uint8_t *data, size_t n, const struct proxy_header *h)
{
	size_t alen;

	FUZZ_CHECK(n >= 16 && !memcmp(data, v2_sig, 12));
	alen = (size_t)data[14] << 8 | data[15];
	FUZZ_CHECK(n == 16 + alen);
	FUZZ_CHECK(data[12] == 0x20 || data[12] == 0x21);
	FUZZ_CHECK(h->cmd == (data[12] == 0x21 ? PROXY_PROXY : PROXY_LOCAL));
	if (h->cmd == PROXY_LOCAL || data[13] == 0x00 || data[13] == 0x31) {
		FUZZ_CHECK(h->src.sa.sa_family == AF_UNSPEC &&
		    h->dst.sa.sa_family == AF_UNSPEC);
		if (h->cmd == PROXY_PROXY && data[13] == 0x31)
			FUZZ_CHECK(alen >= 216);
		return;
	}
	if (data[13] == 0x11) {
		FUZZ_CHECK(alen >= 12);
		FUZZ_CHECK(h->src.sa.sa_family == AF_INET &&
		    h->dst.sa.sa_family == AF_INET);
		FUZZ_CHECK(!memcmp(&h->src.v4.sin_addr, data + 16, 4));
		FUZZ_CHECK(!memcmp(&h->dst.v4.sin_addr, data + 20, 4));
		FUZZ_CHECK(!memcmp(&h->src.v4.sin_port, data + 24, 2));
		FUZZ_CHECK(!memcmp(&h->dst.v4.sin_port, data + 26, 2));
		return;
	}
	FUZZ_CHECK(data[13] == 0x21 && alen >= 36);
	FUZZ_CHECK(h->src.sa.sa_family == AF_INET6 &&
	    h->dst.sa.sa_family == AF_INET6);
	FUZZ_CHECK(!memcmp(&h->src.v6.sin6_addr, data + 16, 16));
	FUZZ_CHECK(!memcmp(&h->dst.v6.sin6_addr, data + 32, 16));
	FUZZ_CHECK(!memcmp(&h->src.v6.sin6_port, data + 48, 2));
	FUZZ_CHECK(!memcmp(&h->dst.v6.sin6_port, data + 50, 2));
}

static enum parse
parse(const unsigned char *buf, size_t len, size_t *used)
{
	struct proxy_header h, untouched;
	enum parse p;

	memset(&h, 0x55, sizeof h);
	memset(&untouched, 0x55, sizeof untouched);
	p = proxy_parse(buf, len, &h, used);
	/* a first byte that starts neither signature is refused at once */
	if (len >= 1 && buf[0] != 'P' && buf[0] != '\r')
		FUZZ_CHECK(p == PARSE_ERROR);
	/* so is a v2 length past PROXY_MAX */
	if (len >= 16 && !memcmp(buf, v2_sig, 12) &&
	    16 + ((size_t)buf[14] << 8 | buf[15]) > PROXY_MAX)
		FUZZ_CHECK(p == PARSE_ERROR);
	if (p != PARSE_DONE) {
		/* the header is written on PARSE_DONE only */
		FUZZ_CHECK(!memcmp(&h, &untouched, sizeof h));
		return p;
	}
	FUZZ_CHECK(h.version == (buf[0] == 'P' ? 1 : 2));
	if (h.version == 1)
		check_v1(buf, *used, &h);
	else
		check_v2(buf, *used, &h);
	return p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_stream_contract(parse, data, size, PROXY_MAX);
	return 0;
}
