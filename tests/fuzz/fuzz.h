/* SPDX-License-Identifier: MIT */
/* Shared by the fuzz targets: FUZZ_CHECK() for a parser's contract, and
 * the checks every stream parser must pass. A target is built either with
 * libFuzzer (a broken contract aborts, and libFuzzer keeps the input) or
 * with replay.c and -DFUZZ_REPLAY (the replay counts it and goes on). */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef FUZZ_REPLAY
/* in replay.c: where a broken contract returns to */
_Noreturn void fuzz_replay_fail(const char *file, int line, const char *cond);
#define FUZZ_FAIL(file, line, cond) fuzz_replay_fail(file, line, cond)
#else
#define FUZZ_FAIL(file, line, cond) do { \
	fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", file, line, cond); \
	abort(); \
} while (0)
#endif

#define FUZZ_CHECK(cond) do { \
	if (!(cond)) \
		FUZZ_FAIL(__FILE__, __LINE__, #cond); \
} while (0)

/* a parser of one message at the start of a stream, its output struct
 * filled and checked by the target */
typedef enum parse (*fuzz_parser)(const unsigned char *buf, size_t len,
    size_t *used);

/* The contract of a parser over a stream of bytes that arrive in pieces:
 * - it answers, and answers the same twice;
 * - PARSE_DONE uses at least one byte, at most len and at most max (the
 *   longest message), and every longer prefix gives the same answer;
 * - it never asks for more once max bytes are there (the server's buffer
 *   is finite);
 * - a prefix of a message that is DONE or still NEED_MORE needs more, and
 *   once a prefix is an ERROR, every longer one is.
 * Prefixes are checked up to max bytes, past which nothing may change.
 * They are read from buf itself: a read past a prefix's end is found when
 * libFuzzer runs that prefix as an input of its own, in a buffer of just
 * its size. */
static inline void
fuzz_stream_contract(fuzz_parser parse, const unsigned char *buf, size_t len,
    size_t max)
{
	size_t used = SIZE_MAX, u, k, lim = len < max + 1 ? len : max + 1;
	enum parse p, q;
	int error_seen = 0;

	p = parse(buf, len, &used);
	FUZZ_CHECK(p == PARSE_NEED_MORE || p == PARSE_DONE ||
	    p == PARSE_ERROR);
	if (p == PARSE_DONE)
		FUZZ_CHECK(used >= 1 && used <= len && used <= max);
	if (p == PARSE_NEED_MORE)
		FUZZ_CHECK(len < max);
	u = SIZE_MAX;
	q = parse(buf, len, &u);
	FUZZ_CHECK(q == p && (p != PARSE_DONE || u == used));
	for (k = 0; k < lim; k++) {
		u = SIZE_MAX;
		q = parse(buf, k, &u);
		if (p == PARSE_DONE && k >= used) {
			FUZZ_CHECK(q == PARSE_DONE && u == used);
		} else if (p != PARSE_ERROR) {
			FUZZ_CHECK(q == PARSE_NEED_MORE);
		} else {
			FUZZ_CHECK(q != PARSE_DONE);
			FUZZ_CHECK(!error_seen || q == PARSE_ERROR);
			error_seen |= q == PARSE_ERROR;
		}
	}
}

/* The address block ATYP DST.ADDR DST.PORT at a, of a request or a UDP
 * header parsed DONE into r, is n bytes long, and r holds what it says. */
static inline void
fuzz_check_address(const unsigned char *a, size_t n,
    const struct socks5_request *r)
{
	size_t alen;

	FUZZ_CHECK(r->atyp == a[0]);
	switch (r->atyp) {
	case ATYP_IPV4:
		alen = 4;
		FUZZ_CHECK(!memcmp(r->addr, a + 1, 4));
		break;
	case ATYP_IPV6:
		alen = 16;
		FUZZ_CHECK(!memcmp(r->addr, a + 1, 16));
		break;
	case ATYP_DOMAIN:
		/* a name the resolver and the rules see alike: no NUL in it */
		alen = 1 + (size_t)a[1];
		FUZZ_CHECK(a[1] > 0 && strlen(r->host) == a[1]);
		FUZZ_CHECK(!memcmp(r->host, a + 2, a[1]));
		break;
	default:
		FUZZ_CHECK(!"a DONE with an unknown ATYP");
		return;
	}
	FUZZ_CHECK(n == 1 + alen + 2);
	FUZZ_CHECK(r->port == (a[1 + alen] << 8 | a[2 + alen]));
}

/* a NUL-terminated copy of data (which may hold NULs: they end it early),
 * or NULL when out of memory */
static inline char *
fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	size_t i;

	if (!s)
		return NULL;
	for (i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

#endif /* FUZZ_H */
