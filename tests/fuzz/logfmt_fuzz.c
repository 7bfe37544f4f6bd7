/* SPDX-License-Identifier: MIT */
/* Fuzz target: the session line format of the log: logfmt_check() and
 * logfmt_has() on the format, and logfmt() with it, into buffers of every
 * small size, in UTC and in local time. The input is the format, then a
 * NUL and the host name requested (none: an IPv4 or IPv6 address made
 * of the input's bytes). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "logfmt.h"

#define LINE_MAX_ 4096

static void
check_format(const char *fmt, const struct logfmt_record *r, size_t fmtlen,
    int local)
{
	static char full[LINE_MAX_ + 1];
	const char *bad = NULL, *p;
	char *buf;
	size_t n, len, size;
	int ok;

	ok = logfmt_check(fmt, &bad);
	FUZZ_CHECK(ok == 0 || ok == -1);
	if (ok < 0) {
		/* at a '%' of fmt that is not understood */
		FUZZ_CHECK(bad && bad >= fmt && bad < fmt + fmtlen);
		FUZZ_CHECK(*bad == '%');
	} else {
		/* every '%' pairs with a conversion */
		for (p = fmt; (p = strchr(p, '%')); p += 2)
			FUZZ_CHECK(p[1] != '\0');
	}
	/* a macro it has is a '%' and its letter, not the second of "%%" */
	if (logfmt_has(fmt, 'p'))
		FUZZ_CHECK(strstr(fmt, "%p") != NULL);
	if (!strstr(fmt, "%p"))
		FUZZ_CHECK(!logfmt_has(fmt, 'p'));
	/* bounded and NUL-terminated whatever the format */
	len = logfmt(full, sizeof full, fmt, r, local);
	FUZZ_CHECK(len < sizeof full && len == strlen(full));
	if (!strchr(fmt, '%') && fmtlen < sizeof full)
		FUZZ_CHECK(len == fmtlen && !strcmp(full, fmt));
	/* a smaller buffer gets the beginning of the same line */
	for (size = 1; size <= 64 && size <= len + 1; size++) {
		if (!(buf = malloc(size)))	/* exactly size for ASan */
			return;
		n = logfmt(buf, size, fmt, r, local);
		FUZZ_CHECK(n < size && n == strlen(buf));
		FUZZ_CHECK(n == (len < size - 1 ? len : size - 1));
		FUZZ_CHECK(!memcmp(buf, full, n));
		free(buf);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int zoned;
	struct logfmt_record r;
	char *fmt;
	const char *nul;
	uint32_t h = 2166136261u;
	size_t i, flen;

	if (size > 2048 || !(fmt = fuzz_string(data, size)))
		return 0;
	/* a zone with summer time, read once as the server does */
	if (!zoned) {
		setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
		tzset();
		zoned = 1;
	}
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	nul = memchr(data, '\0', size);
	flen = strlen(fmt);

	memset(&r, 0, sizeof r);
	r.client.v4.sin_family = AF_INET;
	r.client.v4.sin_port = htons((unsigned short)h);
	r.client.v4.sin_addr.s_addr = htonl(0x7f000001);
	if (h & 4) {
		r.peer.v6.sin6_family = AF_INET6;
		r.peer.v6.sin6_port = htons((unsigned short)(h >> 16));
		memcpy(&r.peer.v6.sin6_addr, data, size < 16 ? size : 16);
	} else {
		r.peer.sa.sa_family = AF_UNSPEC;
	}
	r.bound.sa.sa_family = h & 8 ? AF_INET : AF_UNSPEC;
	if (h & 16) {
		r.balancer.v4.sin_family = AF_INET;
		r.balancer.v4.sin_port = htons((unsigned short)(h >> 8));
		r.balancer.v4.sin_addr.s_addr = htonl(0x0a000009);
	}
	if (nul) {
		/* a name as socks5.c passes it: 1 to 255 bytes, no NUL */
		i = strnlen(nul + 1, size - (size_t)((const uint8_t *)nul + 1 -
		    data));
		if (i > sizeof r.dst.host - 1)
			i = sizeof r.dst.host - 1;
		memcpy(r.dst.host, nul + 1, i);
		r.dst.host[i] = '\0';
		r.dst.atyp = i ? ATYP_DOMAIN : h & 64 ? ATYP_IPV6 : ATYP_IPV4;
		memcpy(r.dst.addr, data, size < 16 ? size : 16);
		r.dst.port = (unsigned short)(h >> 8);
	}
	/* any time from 1970 to about the year 3000 */
	r.end_ms = (long long)(h % 32503680u) * 1000 + h % 1000;
	r.duration_ms = (long long)(h % 7) - 1;
	r.user = h & 1 ? "alice" : NULL;
	r.cmd = h & 2 ? (int)(h >> 12) % 4 : 0;
	r.listen_port = 1080;
	r.rep = h & 16 ? (int)(h >> 24) % 9 : -1;
	r.reason = h & 32 ? "refused" : NULL;
	r.up = h;
	r.down = ~0ULL - h;
	check_format(fmt, &r, flen, (h >> 7) & 1);
	free(fmt);
	return 0;
}
