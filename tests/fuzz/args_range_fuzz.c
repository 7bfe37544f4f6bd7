/* SPDX-License-Identifier: MIT */
/* Fuzz target: args_range(), "LO-HI" of --udp-ports, against a plain
 * reading: two ports 1 <= LO <= HI <= 65535. */
#include <stdint.h>
#include <string.h>

#include "args.h"
#include "fuzz.h"

/* a port of 1 to 5 digits in s[0..n); -1 if not */
static long
port(const char *s, size_t n)
{
	long v = 0;
	size_t i;

	if (n < 1 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535 ? v : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned short lo = 7, hi = 7;
	const char *dash;
	long a = -1, b = -1;
	char *s;
	int r;

	if (size > 4096 || !(s = fuzz_string(data, size)))
		return 0;
	r = args_range(s, &lo, &hi);
	FUZZ_CHECK(r == 0 || r == -1);
	if ((dash = strchr(s, '-'))) {
		a = port(s, (size_t)(dash - s));
		b = port(dash + 1, strlen(dash + 1));
	}
	/* what the plain reading takes, args_range takes alike */
	if (a > 0 && b >= a)
		FUZZ_CHECK(r == 0 && lo == a && hi == b);
	if (r == 0) {
		/* and all it takes is LO-HI in range, if with more zeros */
		FUZZ_CHECK(dash && lo >= 1 && lo <= hi);
		FUZZ_CHECK(strspn(s, "0123456789") == (size_t)(dash - s));
		FUZZ_CHECK(strspn(dash + 1, "0123456789") == strlen(dash + 1));
		FUZZ_CHECK(strtol(s, NULL, 10) == lo);
		FUZZ_CHECK(strtol(dash + 1, NULL, 10) == hi);
	}
	free(s);
	return 0;
}
