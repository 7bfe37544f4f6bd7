/* SPDX-License-Identifier: MIT */
/* One line of the users file, taken apart. Pure: no I/O, no globals. */
#include <string.h>

#include "userline.h"

int
users_line(const char *line, size_t len, struct users_line *e,
    const char **why)
{
	const char *colon;
	size_t i;

	if (len && line[len - 1] == '\r')
		len--;
	/* blanks before the user name are indentation */
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i == len || line[i] == '#')
		return 0;
	line += i;
	len -= i;
	colon = memchr(line, ':', len);
	if (!colon) {
		*why = "not user:password";
		return -1;
	}
	e->user = line;
	e->ulen = (size_t)(colon - line);
	e->pass = colon + 1;
	e->plen = len - e->ulen - 1;
	if (e->ulen == 0 || e->ulen > 255) {
		*why = "user name empty or longer than 255 bytes";
		return -1;
	}
	/* "bob :pw" would be the user "bob ", whom no one means */
	if (line[e->ulen - 1] == ' ' || line[e->ulen - 1] == '\t') {
		*why = "a blank at the end of the user name";
		return -1;
	}
	if (e->plen == 0 || e->plen > 255) {
		*why = "password empty or longer than 255 bytes";
		return -1;
	}
	if (memchr(line, '\0', len)) {
		*why = "a NUL byte";
		return -1;
	}
	return 1;
}
