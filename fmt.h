/* SPDX-License-Identifier: MIT */
/* String formatting without stdio, for log lines and messages. */
#ifndef FMT_H
#define FMT_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into buf (size > 0 bytes), always NUL-terminated, cut to fit,
 * and returns the length written. Knows %s %c %d %u %ld %lu %lld %llu and
 * %%, all this program prints: a static build then carries no printf,
 * with its floating point, and a call stays shallow on a small stack. */
size_t fmt_vbuf(char *buf, size_t size, const char *fmt, va_list ap);
size_t fmt_buf(char *buf, size_t size, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* FMT_H */
