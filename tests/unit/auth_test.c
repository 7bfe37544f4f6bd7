/* SPDX-License-Identifier: MIT */
/* Unit tests of auth.c: -u and -P, a --users file and its reload, the
 * ranges of -w, the -1 list through auth_needed() and auth_passed(), and
 * the wrong password's pause. Hashed passwords are tested where crypt(3)
 * can be found at run time, and skipped where not (a static build). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "rules.h"
#include "unit.h"
#include "unit_addr.h"
#include "users.h"

/* "hashed-secret" with SHA-512 crypt and the salt "unitsalt" */
#define HASH "$6$unitsalt$b9s5UgtDyA6cGv4rfXLGJQb9EujF4nO7i4HOkUqFks5m" \
	"RgHdBIgYf1hDMsBvztdXsGG.JuyBSLDJE5zMd5pc/1"

/* the -1 list's bounds for these tests */
#define ONCE_TTL_MS 200
#define ONCE_MAX 2

static char users_path[] = "/tmp/auth_test.XXXXXX";
static int have_crypt;

static int
needed(const char *ip)
{
	union sockaddr_union u = unit_addr(ip, 40000);

	return auth_needed(&u, 1);
}

static void
passed(const char *ip)
{
	union sockaddr_union u = unit_addr(ip, 40000);

	auth_passed(&u);
}

/* auth_check() of user and pass, as the parser hands them over: NUL-
 * padded; fd is the client's socket (-1: one that stays) */
static int
check_fd(const char *user, const char *pass, int fd)
{
	struct socks5_auth a;
	int sv[2] = { -1, -1 }, r;

	memset(&a, 0, sizeof a);
	a.ulen = (unsigned char)strlen(user);
	a.plen = (unsigned char)strlen(pass);
	memcpy(a.user, user, a.ulen);
	memcpy(a.pass, pass, a.plen);
	if (fd < 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			abort();
		fd = sv[0];
	}
	r = auth_check(&a, fd, now_ms() + 5000);
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	return r;
}

static int
check(const char *user, const char *pass)
{
	return check_fd(user, pass, -1);
}

/* config.users_path's contents become text */
static void
write_users(const char *text)
{
	FILE *f = fopen(users_path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

static void
set_user(const char *user, const char *pass)
{
	memset(config.user, 0, sizeof config.user);
	memset(config.pass, 0, sizeof config.pass);
	config.ulen = strlen(user);
	config.plen = strlen(pass);
	memcpy(config.user, user, config.ulen);
	memcpy(config.pass, pass, config.plen);
	config.have_user = 1;
}

/* -w's list of one range */
static sblist *
ranges(const char *a, const char *b)
{
	sblist *l = sblist_new(sizeof(struct rule), 2);
	struct rule r;

	if (!l || rule_parse(a, 0, &r) < 0 || sblist_add(l, &r) < 0)
		abort();
	if (b && (rule_parse(b, 0, &r) < 0 || sblist_add(l, &r) < 0))
		abort();
	return l;
}

/* -u and -P alone */
static void
test_user_password(void)
{
	const char *saved = config.users_path;

	config.users_path = NULL;
	set_user("user", "password");
	CHECK(check("user", "password") == 1);
	CHECK(check("user", "passwore") == 0);
	CHECK(check("usex", "password") == 0);
	CHECK(check("password", "user") == 0);
	/* a prefix, or more than the secret, is not the secret */
	CHECK(check("use", "password") == 0);
	CHECK(check("users", "password") == 0);
	CHECK(check("user", "passwor") == 0);
	CHECK(check("user", "passwordd") == 0);
	CHECK(check("user", "") == 0);
	CHECK(check("", "") == 0);
	/* the file's users are no -u */
	CHECK(check("alice", "wonderland") == 0);
	config.users_path = saved;
}

/* --users beside -u: either works, each with its own password */
static void
test_users_file(void)
{
	set_user("user", "password");
	CHECK(check("alice", "wonderland") == 1);
	CHECK(check("bob", "builder") == 1);
	CHECK(check("user", "password") == 1);
	CHECK(check("alice", "builder") == 0);
	CHECK(check("bob", "wonderland") == 0);
	CHECK(check("alice", "wonderlan") == 0);
	CHECK(check("alice", "wonderlandx") == 0);
	CHECK(check("alic", "wonderland") == 0);
	CHECK(check("alicee", "wonderland") == 0);
	CHECK(check("carol", "wonderland") == 0);
	/* -u's password is not a file user's, nor the other way round */
	CHECK(check("alice", "password") == 0);
	CHECK(check("user", "wonderland") == 0);
	config.have_user = 0;
	CHECK(check("user", "password") == 0);
	CHECK(check("alice", "wonderland") == 1);
}

/* SIGHUP's reload: the new users in, the old out; a broken file keeps
 * the old ones */
static void
test_reload(void)
{
	config.have_user = 0;
	write_users("alice:looking-glass\ncarol:new\n");
	auth_reload();
	CHECK(check("alice", "looking-glass") == 1);
	CHECK(check("alice", "wonderland") == 0);
	CHECK(check("bob", "builder") == 0);
	CHECK(check("carol", "new") == 1);
	/* a user given twice: refused, the last good users stay */
	write_users("dave:one\ndave:two\n");
	auth_reload();
	CHECK(check("dave", "one") == 0);
	CHECK(check("carol", "new") == 1);
	/* -u's user in the file: refused too */
	set_user("erin", "x");
	write_users("erin:y\n");
	auth_reload();
	CHECK(check("erin", "y") == 0);
	CHECK(check("carol", "new") == 1);
	config.have_user = 0;
	write_users("alice:wonderland\nbob:builder\n");
	auth_reload();
	CHECK(check("alice", "wonderland") == 1);
	CHECK(check("carol", "new") == 0);
}

/* a hashed password, and a client that left before its check */
static void
test_hash(void)
{
	int sv[2];

	if (!have_crypt) {
		printf("  no crypt(3) here: hashed passwords not tested\n");
		return;
	}
	config.have_user = 0;
	write_users("frank:" HASH "\nalice:wonderland\n");
	auth_reload();
	CHECK(check("frank", "hashed-secret") == 1);
	CHECK(check("frank", "hashed-secreT") == 0);
	CHECK(check("frank", "hashed-secre") == 0);
	CHECK(check("frank", HASH) == 0);
	CHECK(check("alice", "wonderland") == 1);
	/* the client closed: no hash is computed, nobody is answered */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	close(sv[1]);
	CHECK(check_fd("frank", "hashed-secret", sv[0]) == -1);
	CHECK(auth_client_gone(sv[0]));
	/* a wrong user costs no hash, and is a plain no */
	CHECK(check_fd("nobody", "hashed-secret", sv[0]) == 0);
	/* a plain password needs no turn */
	CHECK(check_fd("alice", "wonderland", sv[0]) == 1);
	close(sv[0]);
	/* one that shut down only its sending side has gone too */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	shutdown(sv[1], SHUT_WR);
	CHECK(check_fd("frank", "hashed-secret", sv[0]) == -1);
	close(sv[0]);
	close(sv[1]);
	write_users("alice:wonderland\nbob:builder\n");
	auth_reload();
}

/* without -u or --users nobody needs to authenticate, -w or not */
static void
test_not_required(void)
{
	config.auth_required = 0;
	config.auth_once = 0;
	config.auth_ips = NULL;
	CHECK(!needed("127.0.0.1"));
	CHECK(!needed("192.0.2.1"));
	CHECK(!needed("2001:db8::1"));
	config.auth_required = 1;
	CHECK(needed("127.0.0.1"));
	CHECK(needed("2001:db8::1"));
}

/* -w: the ranges that need no password, in every spelling */
static void
test_whitelist(void)
{
	sblist *l = ranges("127.0.0.0/8", "2001:db8::/64");
	sblist *m = ranges("::ffff:192.0.2.1", NULL);

	config.auth_required = 1;
	config.auth_once = 0;
	config.auth_ips = l;
	CHECK(!needed("127.0.0.1"));
	CHECK(!needed("127.255.0.9"));
	CHECK(!needed("::ffff:127.0.0.1"));
	CHECK(!needed("2001:db8::42"));
	CHECK(needed("128.0.0.1"));
	CHECK(needed("::1"));
	CHECK(needed("2001:db8:0:1::42"));
	CHECK(needed("::ffff:10.0.0.1"));
	/* a range written mapped is its IPv4 range */
	config.auth_ips = m;
	CHECK(!needed("192.0.2.1"));
	CHECK(!needed("::ffff:192.0.2.1"));
	CHECK(needed("192.0.2.2"));
	CHECK(needed("::ffff:192.0.2.2"));
	/* -w alone asks nothing of anyone */
	config.auth_required = 0;
	CHECK(!needed("192.0.2.2"));
	config.auth_ips = NULL;
	sblist_free(l);
	sblist_free(m);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) < 0)
		;
}

/* -1: an address that authenticated comes back without, while it keeps
 * coming within the time to live */
static void
test_once(void)
{
	config.auth_required = 1;
	config.auth_ips = NULL;
	config.auth_once = 1;
	CHECK(needed("198.51.100.1"));
	passed("198.51.100.1");
	CHECK(!needed("198.51.100.1"));
	/* the same address in IPv6's spelling, not another one */
	CHECK(!needed("::ffff:198.51.100.1"));
	CHECK(needed("198.51.100.2"));
	CHECK(needed("2001:db8::1"));
	/* each use renews the time to live */
	sleep_ms(ONCE_TTL_MS * 6 / 10);
	CHECK(!needed("198.51.100.1"));
	sleep_ms(ONCE_TTL_MS * 6 / 10);
	CHECK(!needed("198.51.100.1"));
	sleep_ms(ONCE_TTL_MS + 50);
	CHECK(needed("198.51.100.1"));
	/* without -1, auth_passed() keeps nothing */
	config.auth_once = 0;
	passed("198.51.100.3");
	config.auth_once = 1;
	CHECK(needed("198.51.100.3"));
	/* without -1 the list is not asked */
	passed("198.51.100.4");
	config.auth_once = 0;
	CHECK(needed("198.51.100.4"));
	config.auth_once = 1;
	CHECK(!needed("198.51.100.4"));
}

/* -1 holds ONCE_MAX addresses: the least recently used gives way */
static void
test_once_max(void)
{
	config.auth_required = 1;
	config.auth_ips = NULL;
	config.auth_once = 1;
	passed("203.0.113.1");
	passed("203.0.113.2");
	/* .1 used again: .2 is now the least recently used */
	CHECK(!needed("203.0.113.1"));
	passed("2001:db8::3");
	CHECK(!needed("2001:db8::3"));
	CHECK(!needed("203.0.113.1"));
	CHECK(needed("203.0.113.2"));
	/* passing again is a use */
	passed("2001:db8::3");
	passed("203.0.113.4");
	CHECK(needed("203.0.113.1"));
	CHECK(!needed("2001:db8::3"));
	CHECK(!needed("203.0.113.4"));
}

/* a wrong password's pause: 300 ms, or less when the deadline comes
 * first, or none once the client closed */
static void
test_fail_pause(void)
{
	long long t;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	t = now_ms();
	auth_fail_pause(sv[0], t + 5000);
	t = now_ms() - t;
	CHECK(t >= 290 && t < 3000);
	t = now_ms();
	auth_fail_pause(sv[0], t + 50);
	t = now_ms() - t;
	CHECK(t >= 40 && t < 280);
	/* bytes the client sends do not end it */
	CHECK(write(sv[1], "x", 1) == 1);
	t = now_ms();
	auth_fail_pause(sv[0], t + 100);
	t = now_ms() - t;
	CHECK(t >= 90);
	CHECK(!auth_client_gone(sv[0]));
	shutdown(sv[1], SHUT_WR);
	t = now_ms();
	auth_fail_pause(sv[0], t + 5000);
	CHECK(now_ms() - t < 250);
	close(sv[0]);
	close(sv[1]);
}

static void
fail(const char *ip)
{
	union sockaddr_union u = unit_addr(ip, 40000);

	auth_failed(&u);
}

static int
banned(const char *ip)
{
	union sockaddr_union u = unit_addr(ip, 40001);

	return auth_banned(&u);
}

/* --auth-fail-max 3: an IPv4 address in any spelling, an IPv6 /64 */
static void
test_ban(void)
{
	fail("10.0.0.1");
	fail("::ffff:10.0.0.1");
	CHECK(!banned("10.0.0.1"));
	fail("10.0.0.1");
	CHECK(banned("10.0.0.1"));
	CHECK(banned("::ffff:10.0.0.1"));
	CHECK(!banned("10.0.0.2"));
	fail("2001:db8::1");
	fail("2001:db8::2");
	fail("2001:db8::ffff:ffff:ffff:ffff");
	CHECK(banned("2001:db8::99"));
	CHECK(banned("2001:db8:0:0:8000::"));
	CHECK(!banned("2001:db8:0:1::1"));
	CHECK(!banned("2001:db9::1"));
}

/* 1 when crypt(3) checks a hash here: users_load() refuses hashes
 * otherwise */
static int
crypt_works(void)
{
	char path[] = "/tmp/auth_test_crypt.XXXXXX";
	struct users *u;
	unsigned long line;
	const char *why;
	FILE *f;
	int fd = mkstemp(path);

	if (fd < 0 || !(f = fdopen(fd, "w")))
		abort();
	fputs("frank:" HASH "\n", f);
	fclose(f);
	u = users_load(path, &line, &why);
	unlink(path);
	users_free(u);
	return u != NULL;
}

int
main(void)
{
	char why[256];
	int fd, r;

	fd = mkstemp(users_path);
	if (fd < 0)
		return 1;
	close(fd);
	have_crypt = crypt_works();
	write_users("alice:wonderland\nbob:builder\n");
	config.users_path = users_path;
	config.auth_required = 1;
	config.auth_once = 1;
	config.once_ttl_ms = ONCE_TTL_MS;
	config.once_max = ONCE_MAX;
	config.fail_max = 3;
	config.fail_ban_ms = 600000;
	if (auth_init(why, sizeof why) < 0) {
		printf("auth_init: %s\n", why);
		unlink(users_path);
		return 1;
	}
	config.auth_once = 0;
	run("auth_user_password", test_user_password);
	run("auth_users_file", test_users_file);
	run("auth_reload", test_reload);
	run("auth_hash", test_hash);
	run("auth_not_required", test_not_required);
	run("auth_whitelist", test_whitelist);
	run("auth_once", test_once);
	run("auth_once_max", test_once_max);
	run("auth_fail_pause", test_fail_pause);
	run("auth_ban", test_ban);
	unlink(users_path);
	r = unit_summary();
	return r;
}
