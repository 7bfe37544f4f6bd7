/* SPDX-License-Identifier: MIT */
/* Who may in: one question, "may this client in, with these
 * credentials?", for the handshake to ask. */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "lockout.h"
#include "log.h"
#include "once.h"
#include "users.h"

/* how long a wrong password waits for its answer */
#ifndef AUTH_FAIL_DELAY_MS
#define AUTH_FAIL_DELAY_MS 300
#endif

/* the users of --users, replaced by SIGHUP; under the lock */
static struct users *users;
static pthread_rwlock_t users_lock = PTHREAD_RWLOCK_INITIALIZER;

/* The users' lock, that a reload takes before the clients that come
 * after it: glibc's read locks go first by default, and a stream of
 * clients would keep a reload waiting. */
static void
users_lock_init(void)
{
#ifdef __GLIBC__
	pthread_rwlockattr_t ra;

	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&users_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
#endif
}

/* The users of config.users_path, or NULL with the reason in why. */
static struct users *
users_read(char *why, size_t size)
{
	struct users *u;
	unsigned long line;
	const char *what;
	char where[32] = "";

	u = users_load(config.users_path, &line, &what);
	/* -u's user is one, and only one, password */
	if (u && config.have_user &&
	    users_has(u, config.user, config.ulen)) {
		users_free(u);
		u = NULL;
		line = 0;
		what = "the user of -u is in the file too";
	}
	if (u)
		return u;
	if (line)
		snprintf(where, sizeof where, ":%lu", line);
	else if (!what)
		what = strerror(errno);
	snprintf(why, size, "%s%s: %s", config.users_path, where, what);
	return NULL;
}

/* u in the place of the users, the old ones freed, and logged */
static void
users_set(struct users *u)
{
	struct users *old;

	pthread_rwlock_wrlock(&users_lock);
	old = users;
	users = u;
	pthread_rwlock_unlock(&users_lock);
	users_free(old);
	log_msg(LOG_L_NOTICE, "microsocks: %s: %lu users", config.users_path,
	    (unsigned long)users_count(u));
}

int
auth_init(char *why, size_t size)
{
	struct users *u;

	users_lock_init();
	if (config.users_path) {
		if (!(u = users_read(why, size)))
			return -1;
		users_set(u);
	}
	lockout_init((unsigned)config.fail_max, config.fail_ban_ms);
	if (config.auth_once &&
	    once_init(config.once_max, config.once_ttl_ms) < 0) {
		snprintf(why, size, "%s", strerror(ENOMEM));
		return -1;
	}
	return 0;
}

void
auth_reload(void)
{
	struct users *u;
	char why[512];

	if (!config.users_path) {
		log_msg(LOG_L_NOTICE, "microsocks: nothing to reload");
		return;
	}
	if ((u = users_read(why, sizeof why)))
		users_set(u);
	else
		log_msg(LOG_L_WARNING, "microsocks: %s; keeping the old users",
		    why);
}

int
auth_needed(const union sockaddr_union *a, int once)
{
	if (!config.auth_required || config_in(config.auth_ips, a))
		return 0;
	return !(once && config.auth_once && once_admits(a, now_ms()));
}

int
auth_client_gone(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR);
}

int
auth_check(const struct socks5_auth *a, int fd, long long deadline)
{
	struct users_entry e;
	int ok, found, slot;

	ok = config.have_user &&
	    users_secret_equal(a->user, a->ulen, config.user, config.ulen) &
	    users_secret_equal(a->pass, a->plen, config.pass, config.plen);
	if (ok || !config.users_path)
		return ok;
	pthread_rwlock_rdlock(&users_lock);
	found = users_find(users, a->user, a->ulen, &e);
	pthread_rwlock_unlock(&users_lock);
	if (!found)
		return 0;
	if (!e.hashed)
		ok = users_secret_equal(e.pass, e.plen, a->pass, a->plen);
	else if ((slot = users_hash_begin(deadline)) < 0)
		ok = -1;
	else if (auth_client_gone(fd)) {
		users_hash_end(slot);
		ok = -1;
	} else
		ok = users_hash_check(slot, &e, a->pass, a->plen);
	explicit_bzero(&e, sizeof e);
	return ok;
}

/* IPv4 in the 16 bytes of sa_key() */
static const unsigned char v4_prefix[12] = { [10] = 0xff, [11] = 0xff };

/* What a ban holds: an IPv4 address, or an IPv6 /64, all of which one
 * host is often given. */
static void
ban_key(const union sockaddr_union *a, unsigned char *key)
{
	sa_key(a, key);
	if (memcmp(key, v4_prefix, sizeof v4_prefix))
		memset(key + 8, 0, 8);
}

int
auth_banned(const union sockaddr_union *a)
{
	unsigned char key[16];

	ban_key(a, key);
	return lockout_banned(key, now_ms());
}

void
auth_failed(const union sockaddr_union *a)
{
	unsigned char key[16];
	char s[INET6_ADDRSTRLEN];
	int v4;

	ban_key(a, key);
	if (!lockout_fail(key, now_ms()))
		return;
	v4 = !memcmp(key, v4_prefix, sizeof v4_prefix);
	if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? key + 12 : key, s,
	    sizeof s))
		snprintf(s, sizeof s, "?");
	log_msg(LOG_L_WARNING, "microsocks: %s%s: %d wrong passwords, "
	    "refused for %ld s", s, v4 ? "" : "/64", config.fail_max,
	    config.fail_ban_ms / 1000);
}

void
auth_passed(const union sockaddr_union *a)
{
	if (config.auth_once)
		once_add(a, now_ms());
}

/* A wrong password costs its sender a while, as in sshd: one connection
 * cannot try passwords, or spin a CPU on hashes, at the rate of the
 * network. */
void
auth_fail_pause(int fd, long long deadline)
{
	long long until = now_ms() + AUTH_FAIL_DELAY_MS;
	/* the peer's close, not bytes it sent on, which stay unread */
	struct pollfd pfd = { fd, POLLRDHUP, 0 };

	if (until > deadline)
		until = deadline;
	while (poll(&pfd, 1, ms_left(until)) < 0 && errno == EINTR)
		;
}
