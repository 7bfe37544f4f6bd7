/* SPDX-License-Identifier: MIT */
/* Unit tests of the PROXY protocol header parser: both versions, every
 * field, split at every byte, followed by SOCKS bytes, and malformed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxyproto.h"
#include "unit.h"

#define V2SIG "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A"

/* a SOCKS5 greeting, as a client sends it behind the header */
static const unsigned char socks[] = { 5, 1, 0 };

static enum parse
parse(const void *msg, size_t len, struct proxy_header *h, size_t *used)
{
	return proxy_parse(msg, len, h, used);
}

/* Every proper prefix asks for more; the whole, alone or followed by
 * SOCKS bytes, parses and uses exactly len bytes. */
static void
check_prefixes(const void *msg, size_t len, struct proxy_header *h)
{
	unsigned char buf[PROXY_MAX + sizeof socks];
	size_t i, used;

	for (i = 0; i < len; i++)
		CHECK(parse(msg, i, h, &used) == PARSE_NEED_MORE);
	used = 0;
	CHECK(parse(msg, len, h, &used) == PARSE_DONE);
	CHECK(used == len);
	memcpy(buf, msg, len);
	memcpy(buf + len, socks, sizeof socks);
	used = 0;
	memset(h, 0x55, sizeof *h);
	CHECK(parse(buf, len + sizeof socks, h, &used) == PARSE_DONE);
	CHECK(used == len);
}

/* Refused as soon as its k-th byte comes: shorter prefixes need more,
 * that one and every longer one are errors, and nothing is written. */
static void
check_error_at(const void *msg, size_t len, size_t k)
{
	struct proxy_header h;
	size_t i, used;

	for (i = 0; i < k && i <= len; i++)
		CHECK(parse(msg, i, &h, &used) == PARSE_NEED_MORE);
	for (i = k; i <= len; i++) {
		used = 12345;
		CHECK(parse(msg, i, &h, &used) == PARSE_ERROR);
		CHECK(used == 12345);
	}
}

/* a refusal of the whole of the string s, wherever it comes */
static void
check_error(const char *s)
{
	struct proxy_header h;
	size_t used;

	if (parse(s, strlen(s), &h, &used) != PARSE_ERROR)
		printf("  not refused: \"%s\"\n", s);
	CHECK(parse(s, strlen(s), &h, &used) == PARSE_ERROR);
}

static void
check_v4(const union sockaddr_union *u, const char *ip, unsigned short port)
{
	struct in_addr a;

	CHECK(inet_pton(AF_INET, ip, &a) == 1);
	CHECK(u->sa.sa_family == AF_INET);
	CHECK(!memcmp(&u->v4.sin_addr, &a, 4));
	CHECK(u->v4.sin_port == htons(port));
}

static void
check_v6(const union sockaddr_union *u, const char *ip, unsigned short port)
{
	struct in6_addr a;

	CHECK(inet_pton(AF_INET6, ip, &a) == 1);
	CHECK(u->sa.sa_family == AF_INET6);
	CHECK(!memcmp(&u->v6.sin6_addr, &a, 16));
	CHECK(u->v6.sin6_port == htons(port));
}

/* v2: the 16 bytes of head for command cmd, family fam, and alen bytes
 * after them, into out; returns 16 */
static size_t
v2_head(unsigned char *out, unsigned char vc, unsigned char fam, size_t alen)
{
	memcpy(out, V2SIG, 12);
	out[12] = vc;
	out[13] = fam;
	out[14] = (unsigned char)(alen >> 8);
	out[15] = (unsigned char)(alen & 0xff);
	return 16;
}

static void
test_v1_tcp4(void)
{
	static const char m[] =
	    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
	struct proxy_header h;

	check_prefixes(m, sizeof m - 1, &h);
	CHECK(h.version == 1 && h.cmd == PROXY_PROXY);
	check_v4(&h.src, "192.168.0.1", 56324);
	check_v4(&h.dst, "192.168.0.11", 443);
}

static void
test_v1_tcp4_limits(void)
{
	static const char m[] =
	    "PROXY TCP4 255.255.255.255 0.0.0.0 0 65535\r\n";
	struct proxy_header h;

	check_prefixes(m, sizeof m - 1, &h);
	check_v4(&h.src, "255.255.255.255", 0);
	check_v4(&h.dst, "0.0.0.0", 65535);
}

static void
test_v1_tcp6(void)
{
	static const char m[] =
	    "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1080 8080\r\n";
	/* the longest line of section 2.1, 104 bytes */
	static const char big[] =
	    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n";
	struct proxy_header h;

	check_prefixes(m, sizeof m - 1, &h);
	CHECK(h.version == 1 && h.cmd == PROXY_PROXY);
	check_v6(&h.src, "2001:db8::1", 1080);
	/* IPv4-mapped stays so: the caller unmaps */
	check_v6(&h.dst, "::ffff:10.0.0.1", 8080);
	CHECK(sizeof big - 1 == 104);
	check_prefixes(big, sizeof big - 1, &h);
	check_v6(&h.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	check_v6(&h.dst, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
}

static void
test_v1_unknown(void)
{
	static const char *const ok[] = {
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UNKNOWN  anything \x01\xff at all \r\n",
	};
	/* the worst case of section 2.1, 107 bytes */
	static const char big[] =
	    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	struct proxy_header h;
	size_t i;

	for (i = 0; i < sizeof ok / sizeof *ok; i++) {
		check_prefixes(ok[i], strlen(ok[i]), &h);
		CHECK(h.version == 1 && h.cmd == PROXY_LOCAL);
		CHECK(h.src.sa.sa_family == AF_UNSPEC);
		CHECK(h.dst.sa.sa_family == AF_UNSPEC);
	}
	CHECK(sizeof big - 1 == 107);
	check_prefixes(big, sizeof big - 1, &h);
	CHECK(h.cmd == PROXY_LOCAL && h.src.sa.sa_family == AF_UNSPEC);
}

/* no CRLF in the first 107 bytes: an error once there are 107 */
static void
test_v1_no_crlf(void)
{
	char m[200];
	struct proxy_header h;
	size_t used;

	memcpy(m, "PROXY UNKNOWN ", 14);
	memset(m + 14, 'x', sizeof m - 14);
	check_error_at(m, sizeof m, 107);
	/* CR as the 106th byte: LF must be the 107th */
	m[105] = '\r';
	m[106] = '\n';
	CHECK(parse(m, 106, &h, &used) == PARSE_NEED_MORE);
	CHECK(parse(m, sizeof m, &h, &used) == PARSE_DONE && used == 107);
	m[105] = 'x';
	m[106] = '\r';
	m[107] = '\n';
	CHECK(parse(m, sizeof m, &h, &used) == PARSE_ERROR);
	/* a line that is only a prefix of a valid one stops there too */
	memcpy(m, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2", 30);
	m[30] = '\n';
	CHECK(parse(m, 31, &h, &used) == PARSE_ERROR);
}

static void
test_v1_malformed(void)
{
	static const char *const bad[] = {
		/* the signature and the family */
		"PROXY\r\n",
		"PROXY \r\n",
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY UNKNOW\r\n",
		/* spaces: exactly one between fields, none at the ends */
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n",
		/* addresses that are not of the family, or not addresses */
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n",
		"PROXY TCP4 1.2.3.00 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 ::1 1::2::3 1 2\r\n",
		"PROXY TCP6 ::1 ::g 1 2\r\n",
		"PROXY TCP6 ::1%eth0 ::1 1 2\r\n",
		"PROXY TCP6 [::1] ::1 1 2\r\n",
		/* ports */
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 8a 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
		/* line ends: CRLF and nothing else */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY UNKNOWN\rX",
		"PROXY UNKNOWN\n",
		"PROXY UNKNOWN a\nb\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof *bad; i++)
		check_error(bad[i]);
}

/* a wrong byte is refused when it comes, not at the end of the line */
static void
test_v1_early(void)
{
	static const char a[] = "PROXY TCP4 1.2.3.4x";
	static const char b[] = "PROXY TCP4 1.2.3.4 5.6.7.8 123456";
	static const char c[] = "PROXY TCP7";
	static const char d[] = "PROXY TCP4 1.2.3.4 5.6.7.8 80 0";

	check_error_at(a, sizeof a - 1, sizeof a - 1);
	check_error_at(b, sizeof b - 1, sizeof b - 1);
	check_error_at(c, sizeof c - 1, sizeof c - 1);
	check_error_at("PROXYTCP4", 9, 6);
	/* "0" may be a whole port: it needs to see what comes next */
	CHECK(parse(d, sizeof d - 1, &(struct proxy_header){ 0 },
	    &(size_t){ 0 }) == PARSE_NEED_MORE);
}

/* a first byte that starts neither signature: an error at once, so that
 * a SOCKS client that sends no header is refused on its first byte */
static void
test_first_byte(void)
{
	static const unsigned char first[] = { 0x05, 0x04, 'G', 0x16, 0,
	    'p', '\n', 0xff };
	struct proxy_header h;
	size_t i, used;

	for (i = 0; i < sizeof first; i++)
		CHECK(parse(first + i, 1, &h, &used) == PARSE_ERROR);
	CHECK(parse("P", 1, &h, &used) == PARSE_NEED_MORE);
	CHECK(parse("\r", 1, &h, &used) == PARSE_NEED_MORE);
	CHECK(parse("", 0, &h, &used) == PARSE_NEED_MORE);
	check_error_at("\x05\x01\x00", 3, 1);
	check_error_at("\x04\x01\x00\x50\x7f\x00\x00\x01", 8, 1);
	check_error_at("PX", 2, 2);
	check_error_at("\r\n\r\n\0\r\nQUIT\r", 12, 12);
	check_error_at("\r\r", 2, 2);
}

static void
test_v2_tcp4(void)
{
	unsigned char m[64];
	struct proxy_header h;
	size_t n = v2_head(m, 0x21, 0x11, 12);

	memcpy(m + n, "\xc0\xa8\x00\x01\x0a\x00\x00\x02\xdb\x04\x01\xbb", 12);
	check_prefixes(m, n + 12, &h);
	CHECK(h.version == 2 && h.cmd == PROXY_PROXY);
	check_v4(&h.src, "192.168.0.1", 56068);
	check_v4(&h.dst, "10.0.0.2", 443);
}

static void
test_v2_tcp6(void)
{
	unsigned char m[64];
	struct proxy_header h;
	size_t n = v2_head(m, 0x21, 0x21, 36);

	memcpy(m + n, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	memcpy(m + n + 16, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\0\0\x01", 16);
	memcpy(m + n + 32, "\x04\x38\x00\x50", 4);
	check_prefixes(m, n + 36, &h);
	CHECK(h.version == 2 && h.cmd == PROXY_PROXY);
	check_v6(&h.src, "2001:db8::1", 1080);
	check_v6(&h.dst, "::ffff:10.0.0.1", 80);
}

/* TLVs after the addresses are skipped, and the CRC32C checked */
static void
test_v2_tlvs(void)
{
	static const unsigned char tlvs[] =
	    "\x01\x00\x02" "h2"				/* ALPN */
	    "\x02\x00\x0b" "example.com"		/* AUTHORITY */
	    "\x04\x00\x00"				/* NOOP, empty */
	    "\x05\x00\x04" "\x01\x02\x03\x04"		/* UNIQUE_ID */
	    "\x20\x00\x0f" "\x01\0\0\0\0"		/* SSL */
	    "\x21\x00\x07" "TLSv1.3"			/* its VERSION */
	    "\xe0\x00\x00";				/* a custom one */
	unsigned char m[128];
	struct proxy_header h;
	size_t n = v2_head(m, 0x21, 0x11, 12 + sizeof tlvs - 1);

	memcpy(m + n, "\x01\x02\x03\x04\x05\x06\x07\x08\x12\x34\x00\x50", 12);
	memcpy(m + n + 12, tlvs, sizeof tlvs - 1);
	check_prefixes(m, n + 12 + sizeof tlvs - 1, &h);
	check_v4(&h.src, "1.2.3.4", 0x1234);
	check_v4(&h.dst, "5.6.7.8", 80);
}

static void
test_v2_crc32c(void)
{
	unsigned char m[64];
	struct proxy_header h;
	size_t used, n = v2_head(m, 0x21, 0x11, 19);

	/* the value computed apart, by RFC 4960 appendix B */
	memcpy(m + n, "\x01\x02\x03\x04\x05\x06\x07\x08\x12\x34\x00\x50"
	    "\x03\x00\x04" "\x64\x3e\x10\x3b", 19);
	check_prefixes(m, n + 19, &h);
	check_v4(&h.src, "1.2.3.4", 0x1234);
	/* a checksum that does not match, or covers other bytes */
	m[n + 18] ^= 1;
	CHECK(parse(m, n + 19, &h, &used) == PARSE_ERROR);
	m[n + 18] ^= 1;
	m[n + 11] ^= 1;
	CHECK(parse(m, n + 19, &h, &used) == PARSE_ERROR);
	m[n + 11] ^= 1;
	CHECK(parse(m, n + 19, &h, &used) == PARSE_DONE);
	/* not 4 bytes */
	n = v2_head(m, 0x21, 0x11, 18);
	memcpy(m + n + 12, "\x03\x00\x03" "\x64\x3e\x10", 6);
	CHECK(parse(m, n + 18, &h, &used) == PARSE_ERROR);
}

/* LOCAL: the connection's own addresses; all after the length is
 * skipped unread, the family included (section 2.2) */
static void
test_v2_local(void)
{
	static const unsigned char fams[] = { 0x00, 0x11, 0x12, 0x21, 0x31,
	    0xff };
	unsigned char m[64];
	struct proxy_header h;
	size_t i, n;

	for (i = 0; i < sizeof fams; i++) {
		n = v2_head(m, 0x20, fams[i], 0);
		check_prefixes(m, n, &h);
		CHECK(h.version == 2 && h.cmd == PROXY_LOCAL);
		CHECK(h.src.sa.sa_family == AF_UNSPEC);
		CHECK(h.dst.sa.sa_family == AF_UNSPEC);
		/* a length to skip, whatever it holds: not even TLVs */
		n = v2_head(m, 0x20, fams[i], 13);
		memset(m + n, 0xff, 13);
		check_prefixes(m, n + 13, &h);
		CHECK(h.cmd == PROXY_LOCAL && h.src.sa.sa_family == AF_UNSPEC);
	}
}

/* PROXY over UNSPEC: no addresses, the bytes after the length ignored */
static void
test_v2_unspec(void)
{
	unsigned char m[64];
	struct proxy_header h;
	size_t n = v2_head(m, 0x21, 0x00, 0);

	check_prefixes(m, n, &h);
	CHECK(h.version == 2 && h.cmd == PROXY_PROXY);
	CHECK(h.src.sa.sa_family == AF_UNSPEC);
	CHECK(h.dst.sa.sa_family == AF_UNSPEC);
	n = v2_head(m, 0x21, 0x00, 5);
	memset(m + n, 0xff, 5);
	check_prefixes(m, n + 5, &h);
	CHECK(h.cmd == PROXY_PROXY && h.src.sa.sa_family == AF_UNSPEC);
}

/* PROXY over UNIX stream: 216 bytes of paths, not kept; TLVs after them */
static void
test_v2_unix(void)
{
	unsigned char m[PROXY_MAX];
	struct proxy_header h;
	size_t used, n = v2_head(m, 0x21, 0x31, 216);

	memset(m + n, 0, 216);
	memcpy(m + n, "/run/a.sock", 11);
	memcpy(m + n + 108, "/run/b.sock", 11);
	check_prefixes(m, n + 216, &h);
	CHECK(h.version == 2 && h.cmd == PROXY_PROXY);
	CHECK(h.src.sa.sa_family == AF_UNSPEC);
	CHECK(h.dst.sa.sa_family == AF_UNSPEC);
	n = v2_head(m, 0x21, 0x31, 216 + 5);
	memcpy(m + n + 216, "\x01\x00\x02" "h2", 5);
	check_prefixes(m, n + 216 + 5, &h);
	/* a TLV in them would overrun */
	memcpy(m + n + 216, "\x01\x00\x03" "h2", 5);
	CHECK(parse(m, n + 216 + 5, &h, &used) == PARSE_ERROR);
	/* a block shorter than two paths, refused when the length comes */
	n = v2_head(m, 0x21, 0x31, 215);
	check_error_at(m, n + 215, 16);
}

static void
test_v2_malformed(void)
{
	static const unsigned char vcs[] = { 0x00, 0x11, 0x12, 0x31, 0xf1,
	    0x22, 0x2f, 0x02, 0x10 };
	static const unsigned char fams[] = { 0x12, 0x22, 0x32, 0x01, 0x02,
	    0x10, 0x20, 0x30, 0x13, 0x33, 0x41, 0xff };
	unsigned char m[PROXY_MAX + 16];
	size_t i, n;

	memset(m, 0, sizeof m);
	/* a bad version or command: refused on the 13th byte */
	for (i = 0; i < sizeof vcs; i++) {
		n = v2_head(m, vcs[i], 0x11, 12);
		memset(m + n, 0, 12);
		check_error_at(m, n + 12, 13);
	}
	/* UDP, and families and protocols not assigned, under PROXY: on the
	 * 14th */
	for (i = 0; i < sizeof fams; i++) {
		n = v2_head(m, 0x21, fams[i], 36);
		memset(m + n, 0, 36);
		check_error_at(m, n + 36, 14);
	}
	/* an address block shorter than the family's, on the 16th */
	n = v2_head(m, 0x21, 0x11, 11);
	memset(m + n, 0, 11);
	check_error_at(m, n + 11, 16);
	n = v2_head(m, 0x21, 0x21, 35);
	memset(m + n, 0, 35);
	check_error_at(m, n + 35, 16);
	n = v2_head(m, 0x21, 0x21, 12);
	memset(m + n, 0, 12);
	check_error_at(m, n + 12, 16);
	/* longer than PROXY_MAX, also on the 16th; PROXY_MAX itself fits */
	n = v2_head(m, 0x21, 0x11, PROXY_MAX - 16 + 1);
	memset(m + n, 0, PROXY_MAX - 16 + 1);
	check_error_at(m, sizeof m, 16);
	check_error_at(m, 16, 16);
	n = v2_head(m, 0x20, 0x00, 0xffff);
	check_error_at(m, sizeof m, 16);
}

static void
test_v2_max(void)
{
	unsigned char m[PROXY_MAX + sizeof socks];
	struct proxy_header h;
	size_t n = v2_head(m, 0x21, 0x11, PROXY_MAX - 16);
	size_t tlv = PROXY_MAX - 16 - 12 - 3;

	memset(m + n, 0, 12);
	m[n + 12] = 0x04;	/* NOOP up to the end */
	m[n + 13] = (unsigned char)(tlv >> 8);
	m[n + 14] = (unsigned char)(tlv & 0xff);
	memset(m + n + 15, 0xaa, tlv);
	check_prefixes(m, PROXY_MAX, &h);
	check_v4(&h.src, "0.0.0.0", 0);
}

/* TLVs that do not end where the header does */
static void
test_v2_tlv_overrun(void)
{
	static const struct {
		const char *tlvs;
		size_t len;
	} bad[] = {
		{ "\x01\x00\x0a" "h2", 5 },		/* longer than left */
		{ "\x01\x00\x02" "h2" "\x04", 6 },	/* a type alone */
		{ "\x01\x00\x02" "h2" "\x04\x00", 7 },	/* no length's end */
		{ "\x04\xff\xff", 3 },			/* 65535 */
		{ "\x02", 1 },
	};
	unsigned char m[64];
	struct proxy_header h;
	size_t i, n, used;

	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		n = v2_head(m, 0x21, 0x11, 12 + bad[i].len);
		memset(m + n, 0, 12);
		memcpy(m + n + 12, bad[i].tlvs, bad[i].len);
		CHECK(parse(m, n + 12 + bad[i].len, &h, &used) ==
		    PARSE_ERROR);
		/* the same bytes, with the length field covering them */
		memcpy(m + n + 12 + bad[i].len, socks, sizeof socks);
		CHECK(parse(m, n + 12 + bad[i].len + sizeof socks, &h,
		    &used) == PARSE_ERROR);
	}
}

int
main(void)
{
	run("proxyproto/v1_tcp4", test_v1_tcp4);
	run("proxyproto/v1_tcp4_limits", test_v1_tcp4_limits);
	run("proxyproto/v1_tcp6", test_v1_tcp6);
	run("proxyproto/v1_unknown", test_v1_unknown);
	run("proxyproto/v1_no_crlf", test_v1_no_crlf);
	run("proxyproto/v1_malformed", test_v1_malformed);
	run("proxyproto/v1_early", test_v1_early);
	run("proxyproto/first_byte", test_first_byte);
	run("proxyproto/v2_tcp4", test_v2_tcp4);
	run("proxyproto/v2_tcp6", test_v2_tcp6);
	run("proxyproto/v2_tlvs", test_v2_tlvs);
	run("proxyproto/v2_crc32c", test_v2_crc32c);
	run("proxyproto/v2_local", test_v2_local);
	run("proxyproto/v2_unspec", test_v2_unspec);
	run("proxyproto/v2_unix", test_v2_unix);
	run("proxyproto/v2_malformed", test_v2_malformed);
	run("proxyproto/v2_max", test_v2_max);
	run("proxyproto/v2_tlv_overrun", test_v2_tlv_overrun);
	return unit_summary();
}
