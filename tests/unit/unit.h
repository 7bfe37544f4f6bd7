/* SPDX-License-Identifier: MIT */
/* A few lines of test runner for the unit tests: CHECK() records a failed
 * condition, run() prints one line a case, unit_summary() the last line. */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>

static int unit_passed, unit_failed, unit_case_failed;

#define CHECK(cond) do { \
	if (!(cond)) { \
		printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, \
		    #cond); \
		unit_case_failed = 1; \
	} \
} while (0)

static void
run(const char *name, void (*fn)(void))
{
	unit_case_failed = 0;
	fn();
	printf("%s %s\n", unit_case_failed ? "FAIL" : "ok", name);
	if (unit_case_failed)
		unit_failed++;
	else
		unit_passed++;
}

static int
unit_summary(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed != 0;
}

#endif /* UNIT_H */
