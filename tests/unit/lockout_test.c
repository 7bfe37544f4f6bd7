/* SPDX-License-Identifier: MIT */
/* Unit tests of lockout.c: the count that starts a ban, the ban's end,
 * the window a count lives in, and what gives way in a full table. The
 * clock is the tests' own: lockout takes the time as an argument. */
#include <string.h>

#include "lockout.h"
#include "unit.h"

/* a key of its own for each number */
static const unsigned char *
key(unsigned n)
{
	static unsigned char k[16];

	memset(k, 0, sizeof k);
	k[0] = 0xfd;
	memcpy(k + 8, &n, sizeof n);
	return k;
}

static void
test_count(void)
{
	lockout_init(3, 1000);
	CHECK(lockout_fail(key(1), 0) == 0);
	CHECK(lockout_fail(key(1), 10) == 0);
	CHECK(!lockout_banned(key(1), 20));
	/* the third starts the ban, and only it says so */
	CHECK(lockout_fail(key(1), 20) == 1);
	CHECK(lockout_banned(key(1), 20));
	CHECK(lockout_fail(key(1), 30) == 0);
	CHECK(!lockout_banned(key(2), 30));
	/* it ends ban_ms after it began, not after the last failure */
	CHECK(lockout_banned(key(1), 1019));
	CHECK(!lockout_banned(key(1), 1020));
	/* and then the count starts again */
	CHECK(lockout_fail(key(1), 1100) == 0);
	CHECK(lockout_fail(key(1), 1110) == 0);
	CHECK(!lockout_banned(key(1), 1110));
	CHECK(lockout_fail(key(1), 1120) == 1);
}

static void
test_window(void)
{
	lockout_init(3, 1000);
	/* failures further apart than ban_ms never add up */
	CHECK(lockout_fail(key(3), 10000) == 0);
	CHECK(lockout_fail(key(3), 11001) == 0);
	CHECK(lockout_fail(key(3), 12002) == 0);
	CHECK(lockout_fail(key(3), 13003) == 0);
	CHECK(!lockout_banned(key(3), 13003));
	/* within it they do */
	CHECK(lockout_fail(key(3), 14000) == 0);
	CHECK(lockout_fail(key(3), 14500) == 1);
}

static void
test_off(void)
{
	int i;

	lockout_init(0, 1000);
	for (i = 0; i < 100; i++)
		CHECK(lockout_fail(key(4), 20000 + i) == 0);
	CHECK(!lockout_banned(key(4), 20100));
}

/* a full table: the most recent bans stay, and the oldest give way */
static void
test_full(void)
{
	unsigned i, n = 0;
	long long t0 = 100000;

	lockout_init(1, 1000000);
	for (i = 0; i < 5000; i++)
		CHECK(lockout_fail(key(1000 + i), t0 + i) == 1);
	for (i = 0; i < 5000; i++)
		n += (unsigned)lockout_banned(key(1000 + i), t0 + 5000);
	CHECK(n == LOCKOUT_SLOTS);
	CHECK(lockout_banned(key(1000 + 4999), t0 + 5000));
	CHECK(!lockout_banned(key(1000), t0 + 5000));
}

/* a flood of single failures does not push out a ban */
static void
test_ban_kept(void)
{
	unsigned i;
	long long t0 = 10000000;

	lockout_init(2, 1000000);
	lockout_fail(key(7), t0);
	CHECK(lockout_fail(key(7), t0) == 1);
	for (i = 0; i < 20000; i++)
		CHECK(lockout_fail(key(100000 + i), t0 + 1 + i) == 0);
	CHECK(lockout_banned(key(7), t0 + 20001));
}

int
main(void)
{
	run("lockout_count", test_count);
	run("lockout_window", test_window);
	run("lockout_off", test_off);
	run("lockout_full", test_full);
	run("lockout_ban_kept", test_ban_kept);
	return unit_summary();
}
