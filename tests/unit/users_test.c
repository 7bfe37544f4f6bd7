/* SPDX-License-Identifier: MIT */
/* Unit tests of the users file: lines, whole files, and the check of a
 * user and password. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"
#include "users.h"

static int
line_is(const char *s, const char *user, const char *pass)
{
	struct users_line e;
	const char *why;

	return users_line(s, strlen(s), &e, &why) == 1 &&
	    e.ulen == strlen(user) && !memcmp(e.user, user, e.ulen) &&
	    e.plen == strlen(pass) && !memcmp(e.pass, pass, e.plen);
}

static int
line_kind(const char *s)
{
	struct users_line e;
	const char *why = NULL;
	int r = users_line(s, strlen(s), &e, &why);

	if (r < 0)
		CHECK(why != NULL);
	return r;
}

static void
test_lines(void)
{
	char big[300];

	CHECK(line_is("alice:secret", "alice", "secret"));
	CHECK(line_is("alice:secret\r", "alice", "secret"));
	CHECK(line_is("bob:with spaces and : colons", "bob",
	    "with spaces and : colons"));
	CHECK(line_is("carol:$6$salt$hash", "carol", "$6$salt$hash"));
	CHECK(line_kind("") == 0);
	CHECK(line_kind("   \t") == 0);
	CHECK(line_kind("# a comment: with colon") == 0);
	CHECK(line_kind("  # indented comment") == 0);
	CHECK(line_kind("\r") == 0);
	CHECK(line_kind("nocolon") < 0);
	CHECK(line_kind(":pass") < 0);
	CHECK(line_kind("user:") < 0);
	CHECK(line_kind("user:\r") < 0);
	memset(big, 'u', sizeof big);
	memcpy(big + 256, ":pw", 4);
	CHECK(line_kind(big) < 0);
	memcpy(big, "u:", 2);
	memset(big + 2, 'p', 256);
	big[258] = '\0';
	CHECK(line_kind(big) < 0);
	big[257] = '\0';
	CHECK(line_kind(big) == 1);
	CHECK(users_line("a:b\0c", 5, &(struct users_line){ 0 },
	    &(const char *){ NULL }) < 0);
}

/* a temporary file holding n bytes of text; returns its path in buf */
static const char *
file_of(char *buf, const char *text, size_t n)
{
	FILE *f;
	int fd;

	strcpy(buf, "/tmp/users_test.XXXXXX");
	fd = mkstemp(buf);
	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	fwrite(text, 1, n, f);
	fclose(f);
	return buf;
}

static const char *
file_with(char *buf, const char *text)
{
	return file_of(buf, text, strlen(text));
}

static int
check(const struct users *u, const char *user, const char *pass)
{
	char padded[256] = { 0 };

	struct users_entry e;
	int slot;

	memcpy(padded, pass, strlen(pass));
	if (!users_find(u, user, strlen(user), &e))
		return 0;
	if (!e.hashed)
		return users_secret_equal(e.pass, e.plen, padded, strlen(pass));
	slot = users_hash_begin(0);
	return slot >= 0 && users_hash_check(slot, &e, padded, strlen(pass));
}

static void
test_files(void)
{
	char path[64];
	struct users *u;
	unsigned long line = 99;
	const char *why = NULL;

	u = users_load(file_with(path, "# users\nalice:secret\n\nbob:pw two\n"),
	    &line, &why);
	unlink(path);
	CHECK(u != NULL);
	if (!u)
		return;
	CHECK(users_count(u) == 2);
	CHECK(check(u, "alice", "secret"));
	CHECK(check(u, "bob", "pw two"));
	CHECK(!check(u, "alice", "secre"));
	CHECK(!check(u, "alice", "secrets"));
	CHECK(!check(u, "alice", "pw two"));
	CHECK(!check(u, "alic", "secret"));
	CHECK(!check(u, "carol", "secret"));
	users_free(u);

	/* no newline at the end */
	u = users_load(file_with(path, "alice:secret"), &line, &why);
	unlink(path);
	CHECK(u && users_count(u) == 1 && check(u, "alice", "secret"));
	users_free(u);

	u = users_load(file_with(path, "a:1\nb:2\na:3\n"), &line, &why);
	unlink(path);
	CHECK(u == NULL && line == 3 && why && strstr(why, "twice"));

	u = users_load(file_with(path, "a:1\n\n# c\nbroken\n"), &line, &why);
	unlink(path);
	CHECK(u == NULL && line == 4);

	/* a NUL byte is an error, not the end of the file */
	u = users_load(file_of(path, "a:1\nalice:secret\0junk\nbob:pw2\n", 28),
	    &line, &why);
	unlink(path);
	CHECK(u == NULL && line == 2);

	u = users_load("/nonexistent/users", &line, &why);
	CHECK(u == NULL && line == 0);

	/* no hash in the plain text check */
	CHECK(!check(NULL, "alice", "secret"));
}

static void
test_secret_equal(void)
{
	char a[256] = "secret", b[256] = "secret", c[256] = "secreT";

	CHECK(users_secret_equal(a, 6, b, 6));
	CHECK(!users_secret_equal(a, 6, c, 6));
	CHECK(!users_secret_equal(a, 6, b, 5));
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* hash checks at once are bounded; one more waits until its deadline,
 * then gives up; a slot given back is taken again */
static void
test_hash_slots(void)
{
	int slot[64], n = 0, i;
	long long start;

	while (n < 64 && (slot[n] = users_hash_begin(0)) >= 0)
		n++;
	CHECK(n >= 1 && n <= 16);
	start = mono_ms();
	CHECK(users_hash_begin(start + 100) == -1);
	CHECK(mono_ms() - start >= 90);
	users_hash_end(slot[0]);
	CHECK(users_hash_begin(mono_ms() + 1000) == slot[0]);
	for (i = 0; i < n; i++)
		users_hash_end(slot[i]);
}

int
main(void)
{
	run("users_line", test_lines);
	run("users_files", test_files);
	run("users_secret_equal", test_secret_equal);
	run("users_hash_slots", test_hash_slots);
	return unit_summary();
}
