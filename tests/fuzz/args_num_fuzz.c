/* SPDX-License-Identifier: MIT */
/* Fuzz target: args_num(), a decimal number of the command line (ports,
 * timeouts), against a plain digit-by-digit reading, for the ranges the
 * options use. */
#include <stdint.h>

#include "args.h"
#include "fuzz.h"

/* 0 with the value in *v when s is digits only and within [min, max]; in
 * unsigned long long, where max + 1 (at most 2^31 below) times 10 cannot
 * overflow, as it would in a 32-bit long */
static int
oracle(const char *s, long min, long max, long *v)
{
	unsigned long long n = 0, top = (unsigned long long)max;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (unsigned long long)(*s - '0');
		if (n > top)
			n = top + 1;	/* stays out of range */
	}
	if (n < (unsigned long long)min || n > top)
		return -1;
	*v = (long)n;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long range[][2] = {
		{ 0, 65535 }, { 1, 65535 }, { 1, 2000000 }, { 0, 0 },
		{ 0, 2147483647L }, { 7, 7 },
	};
	long v, w;
	size_t i;
	char *s;
	int r;

	if (size > 4096 || !(s = fuzz_string(data, size)))
		return 0;
	for (i = 0; i < sizeof range / sizeof range[0]; i++) {
		v = w = -12345;
		r = args_num(s, range[i][0], range[i][1], &v);
		FUZZ_CHECK(r == 0 || r == -1);
		FUZZ_CHECK(r == oracle(s, range[i][0], range[i][1], &w));
		FUZZ_CHECK(r < 0 || v == w);
	}
	free(s);
	return 0;
}
