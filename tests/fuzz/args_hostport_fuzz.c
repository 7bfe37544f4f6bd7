/* SPDX-License-Identifier: MIT */
/* Fuzz target: args_hostport(), the -i value: "HOST", "HOST:PORT",
 * "[V6]", "[V6]:PORT" or a bare IPv6 address. What it returns must spell
 * s again, and fit the buffer it was given, however small. */
#include <stdint.h>
#include <string.h>

#include "args.h"
#include "fuzz.h"

static void
check(const char *s, size_t size)
{
	char *host = malloc(size);	/* exactly size: ASan sees overflows */
	const char *rest;
	long port = -7;
	size_t hlen;
	int r;

	if (!host)
		return;
	r = args_hostport(s, host, size, &port);
	FUZZ_CHECK(r == 0 || r == -1);
	if (r < 0) {
		free(host);
		return;
	}
	hlen = strlen(host);
	FUZZ_CHECK(hlen >= 1 && hlen < size);
	FUZZ_CHECK(port == -1 || (port >= 0 && port <= 65535));
	if (s[0] == '[') {
		/* "[HOST]" or "[HOST]:PORT" */
		FUZZ_CHECK(!strncmp(s + 1, host, hlen) && s[1 + hlen] == ']');
		FUZZ_CHECK(!strchr(host, ']'));
		rest = s + 2 + hlen;
	} else {
		FUZZ_CHECK(!strncmp(s, host, hlen));
		rest = s + hlen;
		/* a colon in the host: an IPv6 address, and no port */
		if (strchr(host, ':'))
			FUZZ_CHECK(!*rest && strchr(strchr(host, ':') + 1, ':'));
	}
	if (port < 0) {
		FUZZ_CHECK(*rest == '\0');
	} else {
		FUZZ_CHECK(rest[0] == ':' && rest[1] >= '0' && rest[1] <= '9');
		FUZZ_CHECK(strspn(rest + 1, "0123456789") == strlen(rest + 1));
		FUZZ_CHECK(strtol(rest + 1, NULL, 10) == port);
	}
	free(host);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 4096 || !(s = fuzz_string(data, size)))
		return 0;
	check(s, 256);
	/* a buffer just big enough, and one byte short */
	check(s, size + 1);
	if (size > 1)
		check(s, size - 1);
	check(s, 1);
	free(s);
	return 0;
}
