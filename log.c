/* SPDX-License-Identifier: MIT */
/* Logging to stderr, a whole line per write(2). */
#include <stdarg.h>
#include <unistd.h>

#include "fmt.h"
#include "log.h"

/* set once by main before any thread starts */
int log_quiet;

void
log_line(const char *fmt, ...)
{
	/* no stdio stream: its lock and buffer are not needed for stderr */
	char buf[512];
	va_list ap;
	size_t n;

	if (log_quiet)
		return;
	va_start(ap, fmt);
	n = fmt_vbuf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	/* a lost log line is not worth more than a try */
	if (write(2, buf, n) < 0)
		return;
}

char *
log_clean(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i]; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	if (size)
		dst[i] = '\0';
	return dst;
}
