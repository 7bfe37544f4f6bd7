/* SPDX-License-Identifier: MIT */
/* Parsers of command-line values: pure, no I/O, so that they can be
 * tested and fuzzed alone. Each returns 0, or -1 for a bad value. */
#ifndef ARGS_H
#define ARGS_H

#include <stddef.h>

/* a decimal number in [min, max], digits only */
int args_num(const char *s, long min, long max, long *v);

/* "LO-HI", two ports with 1 <= LO <= HI <= 65535 */
int args_range(const char *s, unsigned short *lo, unsigned short *hi);

/* A listen address: "HOST", "HOST:PORT", "[V6]", "[V6]:PORT", or a bare
 * IPv6 address (two colons or more, no brackets, no port). The host goes
 * to host (size bytes, not empty); *port is -1 when none is given. */
int args_hostport(const char *s, char *host, size_t size, long *port);

#endif /* ARGS_H */
