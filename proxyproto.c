/* SPDX-License-Identifier: MIT */
/* The PROXY protocol header: a parser of both versions over a byte buffer.
 * Sections cited are those of HAProxy's proxy-protocol.txt (2020/03/05). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyproto.h"
#include "rd.h"

/* section 2.1: the longest line, "PROXY UNKNOWN" and two IPv6 addresses
 * and ports, CRLF included */
#define V1_MAX 107
/* section 2.2: signature, version and command, family, length */
#define V2_HEAD 16

static const unsigned char v1_sig[] = "PROXY ";
static const unsigned char v2_sig[] =
    "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A";

/* section 2.2.3 */
#define PP2_TYPE_CRC32C 0x03

/* Reads the n bytes of s: PARSE_DONE when they are there, PARSE_ERROR at
 * the first that differs, PARSE_NEED_MORE when all there were match. */
static enum parse
rd_expect(struct rd *r, const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (r->pos == r->len)
			return PARSE_NEED_MORE;
		if (r->p[r->pos] != s[i])
			return PARSE_ERROR;
		r->pos++;
	}
	return PARSE_DONE;
}

/* a port as two bytes in network order */
static void
set_port(union sockaddr_union *u, const unsigned char port[2])
{
	sa_set_port(u, (unsigned short)(port[0] << 8 | port[1]));
}

/* v1: which characters an address of family af may hold; inet_pton()
 * has the last word, these only refuse a wrong byte as soon as it comes.
 * IPv6 takes dots for the IPv4-mapped form that inet_ntop() writes. */
static int
v1_addr_char(int af, unsigned char c)
{
	if ((c >= '0' && c <= '9') || c == '.')
		return 1;
	return af == AF_INET6 && (c == ':' || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F'));
}

/* Section 2.1: an address of family af and the space after it, into u.
 * IPv4 is four numbers in [0..255] without heading zeroes: refused here
 * too, whatever the C library's inet_pton() takes. */
static enum parse
v1_addr(struct rd *r, int af, union sockaddr_union *u)
{
	char tok[INET6_ADDRSTRLEN];
	size_t n = 0, max = af == AF_INET ? INET_ADDRSTRLEN - 1 :
	    INET6_ADDRSTRLEN - 1;
	unsigned char c;

	for (;;) {
		if (rd_u8(r, &c) < 0)
			return PARSE_NEED_MORE;
		if (c == ' ')
			break;
		if (n == max || !v1_addr_char(af, c))
			return PARSE_ERROR;
		/* a 0 that starts a number and is not all of it */
		if (af == AF_INET && c >= '0' && c <= '9' && n > 0 &&
		    tok[n - 1] == '0' && (n == 1 || tok[n - 2] == '.'))
			return PARSE_ERROR;
		tok[n++] = (char)c;
	}
	tok[n] = '\0';
	memset(u, 0, sizeof *u);
	u->sa.sa_family = (sa_family_t)af;
	if (n == 0 || inet_pton(af, tok, af == AF_INET ?
	    (void *)&u->v4.sin_addr : (void *)&u->v6.sin6_addr) != 1)
		return PARSE_ERROR;
	return PARSE_DONE;
}

/* Section 2.1: a port, a decimal number in [0..65535] without heading
 * zeroes, and the byte end after it; into port in network byte order. */
static enum parse
v1_port(struct rd *r, unsigned char end, unsigned char port[2])
{
	unsigned long v = 0;
	size_t n = 0;
	unsigned char c;

	for (;;) {
		if (rd_u8(r, &c) < 0)
			return PARSE_NEED_MORE;
		if (c == end && n > 0)
			break;
		if (c < '0' || c > '9' || (n == 1 && v == 0))
			return PARSE_ERROR;
		v = v * 10 + (unsigned long)(c - '0');
		if (v > 65535)
			return PARSE_ERROR;
		n++;
	}
	port[0] = (unsigned char)(v >> 8);
	port[1] = (unsigned char)(v & 0xff);
	return PARSE_DONE;
}

/* Section 2.1: "PROXY", a space, then "TCP4" or "TCP6", a space, source
 * and destination addresses, ports, each after one space, and CRLF; or
 * "UNKNOWN" and anything up to CRLF. The line ends at its first CR, which
 * LF must follow; a bare LF before it is refused, as a receiver that ends
 * lines at LF would read another header. Every byte is judged as it
 * comes, so that "PROXY" followed by anything else is refused at once
 * rather than after 107 bytes or a timeout. */
static enum parse
parse_v1(struct rd *r, struct proxy_header *h)
{
	static const unsigned char tcp[] = "TCP", unknown[] = "UNKNOWN";
	unsigned char c, sport[2], dport[2];
	enum parse p;
	int af;

	if ((p = rd_expect(r, v1_sig, sizeof v1_sig - 1)) != PARSE_DONE)
		return p;
	h->version = 1;
	if (r->pos == r->len)
		return PARSE_NEED_MORE;
	if (r->p[r->pos] == 'U') {
		if ((p = rd_expect(r, unknown, sizeof unknown - 1)) !=
		    PARSE_DONE)
			return p;
		/* a space and what the receiver ignores, or the end */
		if (rd_u8(r, &c) < 0)
			return PARSE_NEED_MORE;
		if (c != ' ' && c != '\r')
			return PARSE_ERROR;
		while (c != '\r') {
			if (rd_u8(r, &c) < 0)
				return PARSE_NEED_MORE;
			if (c == '\n')
				return PARSE_ERROR;
		}
		/* the connection's own addresses (section 2.1) */
		h->cmd = PROXY_LOCAL;
		memset(&h->src, 0, sizeof h->src);
		memset(&h->dst, 0, sizeof h->dst);
		h->src.sa.sa_family = h->dst.sa.sa_family = AF_UNSPEC;
		return rd_expect(r, (const unsigned char *)"\n", 1);
	}
	if ((p = rd_expect(r, tcp, sizeof tcp - 1)) != PARSE_DONE)
		return p;
	if (rd_u8(r, &c) < 0)
		return PARSE_NEED_MORE;
	if (c == '4')
		af = AF_INET;
	else if (c == '6')
		af = AF_INET6;
	else
		return PARSE_ERROR;
	h->cmd = PROXY_PROXY;
	if ((p = rd_expect(r, (const unsigned char *)" ", 1)) != PARSE_DONE ||
	    (p = v1_addr(r, af, &h->src)) != PARSE_DONE ||
	    (p = v1_addr(r, af, &h->dst)) != PARSE_DONE ||
	    (p = v1_port(r, ' ', sport)) != PARSE_DONE ||
	    (p = v1_port(r, '\r', dport)) != PARSE_DONE ||
	    (p = rd_expect(r, (const unsigned char *)"\n", 1)) != PARSE_DONE)
		return p;
	set_port(&h->src, sport);
	set_port(&h->dst, dport);
	return PARSE_DONE;
}

/* RFC 4960 appendix B: CRC32c (Castagnoli), reflected, bit by bit: a
 * header is a few hundred bytes, not worth a table. The four bytes at
 * skip count as zeroes (section 2.2.3). */
static unsigned long
crc32c(const unsigned char *p, size_t n, size_t skip)
{
	unsigned long crc = 0xffffffffUL;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		crc ^= i >= skip && i < skip + 4 ? 0 : p[i];
		for (k = 0; k < 8; k++)
			crc = crc >> 1 ^ (0x82f63b78UL & (0UL - (crc & 1)));
	}
	return ~crc & 0xffffffffUL;
}

/* Section 2.2: the TLVs after the addresses, up to the header's end. Each
 * must lie within it and the last end where it ends; a CRC32C must be 4
 * bytes and match (section 2.2.3). The others are not read: the SSL TLV's
 * sub-TLVs lie within its own length. */
static enum parse
v2_tlvs(struct rd *r)
{
	unsigned char type;
	size_t n, at;
	unsigned long crc;

	while (r->pos < r->len) {
		if (rd_u8(r, &type) < 0 || rd_u16(r, &n) < 0)
			return PARSE_ERROR;
		at = r->pos;
		if (rd_skip(r, n) < 0)
			return PARSE_ERROR;
		if (type != PP2_TYPE_CRC32C)
			continue;
		if (n != 4)
			return PARSE_ERROR;
		crc = (unsigned long)r->p[at] << 24 |
		    (unsigned long)r->p[at + 1] << 16 |
		    (unsigned long)r->p[at + 2] << 8 | r->p[at + 3];
		if (crc32c(r->p, r->len, at) != crc)
			return PARSE_ERROR;
	}
	return PARSE_DONE;
}

/* Section 2.2: the 12-byte signature, version 2 and a command, family and
 * protocol, the length of the rest, then addresses and TLVs. LOCAL ignores
 * all that follows the length, the family included. PROXY takes TCP over
 * IPv4 (0x11) and IPv6 (0x21) with their addresses, and UNSPEC (0x00) and
 * UNIX stream (0x31) without: the connection's own addresses serve then
 * ("falls back to the UNSPEC mode"). UDP cannot come over a TCP
 * connection, and the rest are unassigned: both are refused. */
static enum parse
parse_v2(struct rd *r, struct proxy_header *h)
{
	unsigned char vc, fam, ports[4];
	size_t alen, need = 0;
	enum parse p;
	int af = AF_UNSPEC;

	if ((p = rd_expect(r, v2_sig, sizeof v2_sig - 1)) != PARSE_DONE)
		return p;
	h->version = 2;
	if (rd_u8(r, &vc) < 0)
		return PARSE_NEED_MORE;
	if (vc >> 4 != 2 || (vc & 0xf) > 1)
		return PARSE_ERROR;
	h->cmd = (vc & 0xf) == 1 ? PROXY_PROXY : PROXY_LOCAL;
	if (rd_u8(r, &fam) < 0)
		return PARSE_NEED_MORE;
	if (h->cmd == PROXY_PROXY) {
		switch (fam) {
		case 0x00:
			break;
		case 0x11:
			af = AF_INET;
			need = 2 * 4 + 2 * 2;
			break;
		case 0x21:
			af = AF_INET6;
			need = 2 * 16 + 2 * 2;
			break;
		case 0x31:
			need = 2 * 108;
			break;
		default:
			return PARSE_ERROR;
		}
	}
	if (rd_u16(r, &alen) < 0)
		return PARSE_NEED_MORE;
	/* known to be too long or too short before the rest comes */
	if (V2_HEAD + alen > PROXY_MAX || alen < need)
		return PARSE_ERROR;
	if (r->len - r->pos < alen)
		return PARSE_NEED_MORE;
	r->len = V2_HEAD + alen;
	memset(&h->src, 0, sizeof h->src);
	memset(&h->dst, 0, sizeof h->dst);
	h->src.sa.sa_family = h->dst.sa.sa_family = (sa_family_t)af;
	/* LOCAL, UNSPEC: nothing after the length is read */
	if (af == AF_UNSPEC && need == 0) {
		r->pos = r->len;
		return PARSE_DONE;
	}
	/* alen >= need: these fail only if that check goes */
	if (af == AF_INET) {
		if (rd_bytes(r, &h->src.v4.sin_addr, 4) < 0 ||
		    rd_bytes(r, &h->dst.v4.sin_addr, 4) < 0)
			return PARSE_ERROR;
	} else if (af == AF_INET6) {
		if (rd_bytes(r, &h->src.v6.sin6_addr, 16) < 0 ||
		    rd_bytes(r, &h->dst.v6.sin6_addr, 16) < 0)
			return PARSE_ERROR;
	} else if (rd_skip(r, need) < 0) {
		return PARSE_ERROR;
	}
	if (af != AF_UNSPEC) {
		if (rd_bytes(r, ports, 4) < 0)
			return PARSE_ERROR;
		set_port(&h->src, ports);
		set_port(&h->dst, ports + 2);
	}
	return v2_tlvs(r);
}

enum parse
proxy_parse(const unsigned char *buf, size_t len, struct proxy_header *h,
    size_t *used)
{
	struct proxy_header ph;
	struct rd r = { buf, len, 0 };
	enum parse p;

	if (len == 0)
		return PARSE_NEED_MORE;
	if (buf[0] == v1_sig[0]) {
		/* no CRLF in the first 107 bytes is an error (section 2.1) */
		if (r.len > V1_MAX)
			r.len = V1_MAX;
		p = parse_v1(&r, &ph);
		if (p == PARSE_NEED_MORE && len >= V1_MAX)
			p = PARSE_ERROR;
	} else if (buf[0] == v2_sig[0]) {
		p = parse_v2(&r, &ph);
	} else {
		/* neither signature: not a PROXY header (section 2.2) */
		return PARSE_ERROR;
	}
	if (p == PARSE_DONE) {
		*h = ph;
		*used = r.pos;
	}
	return p;
}
