/* SPDX-License-Identifier: MIT */
/* Fuzz target: the session line format of the log: logfmt_check() on the
 * format, and logfmt() with it, into buffers of every small size. The
 * input is the format, then a NUL and the requested HOST:PORT. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"

#define LINE_MAX_ 4096

static void
check_format(const char *fmt, const struct log_session *s, size_t fmtlen)
{
	static char full[LINE_MAX_ + 1];
	const char *bad = NULL, *p;
	char *buf;
	size_t n, len, size;
	int r;

	r = logfmt_check(fmt, &bad);
	FUZZ_CHECK(r == 0 || r == -1);
	if (r < 0) {
		/* at a '%' of fmt that is not understood */
		FUZZ_CHECK(bad && bad >= fmt && bad < fmt + fmtlen);
		FUZZ_CHECK(*bad == '%');
	} else {
		/* every '%' pairs with a conversion */
		for (p = fmt; (p = strchr(p, '%')); p += 2)
			FUZZ_CHECK(p[1] != '\0');
	}
	/* bounded and NUL-terminated whatever the format */
	len = logfmt(full, sizeof full, fmt, s);
	FUZZ_CHECK(len < sizeof full && len == strlen(full));
	if (!strchr(fmt, '%') && fmtlen < sizeof full)
		FUZZ_CHECK(len == fmtlen && !strcmp(full, fmt));
	/* a smaller buffer gets the beginning of the same line */
	for (size = 1; size <= 64 && size <= len + 1; size++) {
		if (!(buf = malloc(size)))	/* exactly size for ASan */
			return;
		n = logfmt(buf, size, fmt, s);
		FUZZ_CHECK(n < size && n == strlen(buf));
		FUZZ_CHECK(n == (len < size - 1 ? len : size - 1));
		FUZZ_CHECK(!memcmp(buf, full, n));
		free(buf);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	union sockaddr_union client, peer, bound;
	struct log_session s;
	char *fmt, dst[264];
	const char *nul;
	uint32_t h = 2166136261u;
	size_t i, flen;

	if (size > 2048 || !(fmt = fuzz_string(data, size)))
		return 0;
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	nul = memchr(data, '\0', size);
	flen = strlen(fmt);
	dst[0] = '\0';
	if (nul) {
		i = size - (size_t)(nul + 1 - (const char *)data);
		i = i < sizeof dst - 1 ? i : sizeof dst - 1;
		memcpy(dst, nul + 1, i);
		dst[i] = '\0';
	}
	memset(&client, 0, sizeof client);
	client.v4.sin_family = AF_INET;
	client.v4.sin_port = htons((unsigned short)h);
	client.v4.sin_addr.s_addr = htonl(0x7f000001);
	memset(&peer, 0, sizeof peer);
	peer.v6.sin6_family = AF_INET6;
	peer.v6.sin6_port = htons((unsigned short)(h >> 16));
	memcpy(&peer.v6.sin6_addr, data, size < 16 ? size : 16);
	memset(&bound, 0, sizeof bound);
	bound.sa.sa_family = AF_UNSPEC;

	memset(&s, 0, sizeof s);
	/* any time from 1970 to about the year 3000 */
	s.end_ms = (long long)(h % 32503680u) * 1000 + h % 1000;
	s.duration_ms = (long long)(h % 7) - 1;
	s.client = &client;
	s.user = h & 1 ? "alice" : NULL;
	s.cmd = h & 2 ? "CONNECT" : NULL;
	s.dst = nul ? dst : NULL;
	s.peer = h & 4 ? &peer : NULL;
	s.bound = h & 8 ? &bound : NULL;
	s.listen_port = 1080;
	s.rep = h & 16 ? (int)(h >> 24) % 9 : -1;
	s.reason = h & 32 ? "refused" : NULL;
	s.up = h;
	s.down = ~0ULL - h;
	/* in UTC: log_local_zone() is not called */
	check_format(fmt, &s, flen);
	free(fmt);
	return 0;
}
