/* SPDX-License-Identifier: MIT */
/* Fuzz target: users_line(), one "user:password" line of the users file
 * (its caller splits the file at newlines, so a line holds none). */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "userline.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL, *nl;
	struct users_line e;
	char *line;
	size_t len, i;
	int r;

	nl = memchr(data, '\n', size);
	len = nl ? (size_t)(nl - (const char *)data) : size;
	/* exactly len bytes, not NUL-terminated: ASan sees a read past it */
	if (!(line = malloc(len ? len : 1)))
		return 0;
	memcpy(line, data, len);
	memset(&e, 0, sizeof e);
	r = users_line(line, len, &e, &why);
	FUZZ_CHECK(r == 1 || r == 0 || r == -1);
	if (r < 0)
		FUZZ_CHECK(why && *why);
	/* a CR at the end is not part of the line */
	if (len && line[len - 1] == '\r')
		len--;
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	/* blank, or a comment */
	FUZZ_CHECK((r == 0) == (i == len || line[i] == '#'));
	/* the blanks before the user name are indentation */
	if (r == 1) {
		FUZZ_CHECK(e.user == line + i && e.ulen >= 1 && e.ulen <= 255);
		FUZZ_CHECK(e.pass == e.user + e.ulen + 1 && e.user[e.ulen] == ':');
		FUZZ_CHECK(e.plen >= 1 && e.plen <= 255);
		FUZZ_CHECK(i + e.ulen + 1 + e.plen == len);
		FUZZ_CHECK(!memchr(e.user, ':', e.ulen));
		/* no blank before the colon: "bob :pw" is not the user "bob " */
		FUZZ_CHECK(e.user[e.ulen - 1] != ' ' &&
		    e.user[e.ulen - 1] != '\t');
		FUZZ_CHECK(!memchr(line, '\0', len));
	}
	/* a line that looks right is taken */
	if (r < 0 && i < len) {
		const char *colon = memchr(line + i, ':', len - i);
		size_t ulen = colon ? (size_t)(colon - line) - i : 0;

		FUZZ_CHECK(!colon || ulen == 0 || ulen > 255 ||
		    line[i + ulen - 1] == ' ' || line[i + ulen - 1] == '\t' ||
		    len - i - ulen - 1 == 0 || len - i - ulen - 1 > 255 ||
		    memchr(line, '\0', len));
	}
	free(line);
	return 0;
}
