/* SPDX-License-Identifier: MIT */
/* The parsers' read cursor: every getter fails, returning -1, instead of
 * reading past the bytes received. */
#ifndef RD_H
#define RD_H
#include <stddef.h>
#include <string.h>

struct rd {
	const unsigned char *p;
	size_t len, pos;
};

static inline int
rd_u8(struct rd *r, unsigned char *v)
{
	if (r->len - r->pos < 1)
		return -1;
	*v = r->p[r->pos++];
	return 0;
}

/* a 16-bit big-endian number */
static inline int
rd_u16(struct rd *r, size_t *v)
{
	if (r->len - r->pos < 2)
		return -1;
	*v = (size_t)r->p[r->pos] << 8 | r->p[r->pos + 1];
	r->pos += 2;
	return 0;
}

static inline int
rd_bytes(struct rd *r, void *dst, size_t n)
{
	if (r->len - r->pos < n)
		return -1;
	memcpy(dst, r->p + r->pos, n);
	r->pos += n;
	return 0;
}

static inline int
rd_skip(struct rd *r, size_t n)
{
	if (r->len - r->pos < n)
		return -1;
	r->pos += n;
	return 0;
}

#endif /* RD_H */
