/* SPDX-License-Identifier: MIT */
/* One "user:password" line of the users file. */
#ifndef USERLINE_H
#define USERLINE_H
#include <stddef.h>

struct users_line {
	const char *user, *pass;	/* not NUL-terminated */
	size_t ulen, plen;
};

/* Parses one line (without its newline; a CR at its end is dropped).
 * Returns 1 with the entry in *e, 0 for a blank line or a comment, or
 * -1 with the reason in *why. */
int users_line(const char *line, size_t len, struct users_line *e,
    const char **why);

#endif /* USERLINE_H */
