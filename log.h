/* SPDX-License-Identifier: MIT */
/* Logging to stderr, a whole line per write(2). */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

extern int log_quiet;

/* Formats one line (a newline is added) and writes it to stderr at once,
 * so that lines of different threads never interleave. Long lines are cut.
 * Does nothing when log_quiet is set. */
void log_line(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Copies src into dst (size bytes) with every byte that is not printable
 * ASCII shown as '?', so that client-chosen names cannot forge log lines.
 * Returns dst. */
char *log_clean(char *dst, size_t size, const char *src);

#endif /* LOG_H */
