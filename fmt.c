/* SPDX-License-Identifier: MIT */
/* String formatting without stdio, for log lines and messages. */
#include "fmt.h"

struct out {
	char *buf;
	size_t size, len;	/* len < size: room for the NUL stays */
};

static void
put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len++] = c;
}

static void
put_num(struct out *o, unsigned long long v, int neg)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (neg)
		put(o, '-');
	while (n > 0)
		put(o, digits[--n]);
}

static void
put_signed(struct out *o, long long v)
{
	/* negate as unsigned: -LLONG_MIN does not fit a long long */
	put_num(o, v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v, v < 0);
}

size_t
fmt_vbuf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	const char *s;
	int longs;

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		for (longs = 0; fmt[1] == 'l' && longs < 2; longs++)
			fmt++;
		switch (*++fmt) {
		case 's':
			for (s = va_arg(ap, const char *); s && *s; s++)
				put(&o, *s);
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 'd':
			put_signed(&o, longs == 2 ? va_arg(ap, long long) :
			    longs ? va_arg(ap, long) : va_arg(ap, int));
			break;
		case 'u':
			put_num(&o, longs == 2 ?
			    va_arg(ap, unsigned long long) : longs ?
			    va_arg(ap, unsigned long) : va_arg(ap, unsigned), 0);
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(&o, *fmt);
		}
	}
	buf[o.len] = '\0';
	return o.len;
}

size_t
fmt_buf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = fmt_vbuf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
