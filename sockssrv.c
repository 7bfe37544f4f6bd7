/* SPDX-License-Identifier: MIT */
/* microsocks, a small multithreaded SOCKS server: options, the accept
 * loop, and the client thread that runs the handshake and the relay. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "clients.h"
#include "fmt.h"
#include "log.h"
#include "once.h"
#include "relay.h"
#include "rules.h"
#include "sblist.h"
#include "server.h"
#include "socks4.h"
#include "socks5.h"
#include "systemd.h"
#include "thread.h"
#include "udp.h"
#include "users.h"

#define VERSION "1.1.0"

/* keeps a function's frame off its caller's, which may live for long */
#ifdef __GNUC__
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* pause after a failure for lack of fds, threads or memory, so that the
 * accept loop waits for resources instead of spinning on the error */
#ifndef FAILURE_TIMEOUT_MS
#define FAILURE_TIMEOUT_MS 50
#endif

/* the longest handshake: greeting, RFC 1929 request and SOCKS5 request,
 * all pipelined, and some early payload */
#define HS_BUFSIZE 1536

/* a tunnel quiet for this long is taken to be idle: see trim_stack() */
#define QUIET_MS 250

/* stack that the relay's calls may use below the frame that trims it */
#ifndef STACK_MARGIN
#define STACK_MARGIN 512
#endif

/* how long a wrong password waits for its answer */
#ifndef AUTH_FAIL_DELAY_MS
#define AUTH_FAIL_DELAY_MS 300
#endif

/* how long an error reply may wait for the client to read it */
#define REPLY_LINGER_MS 1000

/* how long sessions stopped at the end of the grace time have to end */
#define STOP_MS 1000

/* listening sockets at most: -i given so often, or passed by systemd */
#define MAX_LISTEN 32

struct client {
	int fd;
	long long start;
	union sockaddr_union addr;
};

/* A client's session, what its log line tells. It stays on the client
 * thread's stack for the tunnel's life: keep it small. */
struct session {
	int fd;
	union sockaddr_union addr;
	int cmd;			/* CMD_*, 0: no request read */
	int rep;			/* the last reply code sent, -1: none */
	int auth_failed;
	const char *why;		/* how it ended */
	char *user;			/* malloc'd, NULL: none */
	long long start;		/* now_ms() at accept */
	char dst[256 + 8];		/* the requested NAME:PORT */
	union sockaddr_union bound;	/* our end of the tunnel's socket */
	union sockaddr_union peer;	/* the target's end */
	int tfd;			/* the tunnel's other fd, -1: none */
	struct session *next, *prev;	/* on the list of all; under lock */
};

/* a client connection during the handshake */
struct conn {
	int fd;
	struct session *s;
	const union sockaddr_union *addr;
	long long deadline;		/* of the handshake */
	int version;			/* 4 or 5: SOCKS4(a) or SOCKS5 */
	int sent;			/* we spoke last */
	size_t len;			/* bytes in buf */
	unsigned char buf[HS_BUFSIZE];
};

/* the sessions running, for the end of a drain to stop them */
static struct session *sessions;
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
/* set when the grace time is over: sessions end as "stopped" */
static _Atomic int stopping;

/* The listeners, for the spare threads to wait on, one shot each: a
 * client wakes one thread, that arms the listener again once it took
 * the client. */
static int accept_ep = -1;
/* wakes the accept loop when no spare thread is left */
static int accept_evfd = -1;
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
/* under accept_lock: the listeners are open, to be accepted from */
static int accepting = 1;
/* under accept_lock: a spare fd, given up to refuse a client when there
 * is none left */
static int reserve = -1;
/* the first of a run of resource failures was logged */
static _Atomic int shortage;

/* configuration: set by main before the first thread starts */
/* -u, -P: zero-padded to 256 bytes, as users_secret_equal() compares */
static char auth_user[256], auth_pass[256];
static int auth_required, have_user;
static size_t auth_ulen, auth_plen;
static int auth_once;
static long once_ttl_ms = 3600 * 1000L;
static size_t once_max = 1024;
static const char *users_path;
static const char *bind_device;
static const char *log_format = LOG_FORMAT;
static int log_format_port;	/* it has %p */
static int grace_ms = 10 * 1000;
static long max_clients, max_per_ip;
static union sockaddr_union bind_addr;
static int have_bind_addr;
static int idle_ms = 15 * 60 * 1000;
static int handshake_ms = 10 * 1000;
static int connect_ms = 10 * 1000;
static int connect_tries = 8;
static int halfclose_ms = 60 * 1000;
static int bind_ms = 60 * 1000;
static union sockaddr_union udp_announce;
static int have_udp_announce;
static unsigned short udp_port_lo, udp_port_hi;
/* address ranges of clients admitted (--allow), destinations refused
 * (--deny) */
static sblist *allow_rules, *deny_rules;

/* ranges of clients that may skip authentication (-w) */
static sblist *auth_ips;

/* the users of --users, replaced by SIGHUP; under the lock */
static struct users *users;
static pthread_rwlock_t users_lock = PTHREAD_RWLOCK_INITIALIZER;

static const char usage_text[] =
"usage: microsocks [-1] [-q] [-i listenip[:port]]... [-p port]\n"
"                  [-u user -P password] [-b bindaddr] [-w ip[,ip...]]\n"
"                  [long options] [-V] [-h]\n"
"  -1  auth once: an IP that authenticated needs no password again\n"
"  -q  log nothing        -i  listen address (0.0.0.0), repeatable\n"
"  -p  port (1080)        -b  address to connect to targets from\n"
"  -u, -P  user name and password\n"
"  -w  client IPs or ranges that need no password\n"
"long options, see microsocks(1) (defaults in brackets):\n"
"  --users file  --auth-once-ttl secs (3600)  --auth-once-max n (1024)\n"
"  --allow ranges  --deny ranges  --max-clients n  --max-per-ip n\n"
"  --bind-interface if  --udp-announce addr  --udp-ports lo-hi\n"
"  --idle-timeout secs (900)  --handshake-timeout secs (10)\n"
"  --connect-timeout secs (10)  --connect-tries n (8)\n"
"  --halfclose-timeout secs (60)\n"
"  --bind-timeout secs (60)  --log-format fmt  --log-time utc|local\n"
"  --syslog  --grace secs (10)\n";

/* writes all n bytes of text to fd, as far as fd takes them */
static void
put_text(int fd, const char *text, size_t n)
{
	ssize_t w;

	while (n > 0 && ((w = write(fd, text, n)) > 0 ||
	    (w < 0 && errno == EINTR)))
		if (w > 0) {
			text += w;
			n -= (size_t)w;
		}
}

/* a formatted message on fd: for start-up, before logging is set */
static void
say(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = fmt_vbuf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	put_text(fd, buf, n);
}

/* "microsocks: OPT: message" on stderr, then the usage when asked: for
 * mistakes at start, before logging is set */
static void
vsay_error(int with_usage, const char *opt, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	n = fmt_buf(buf, sizeof buf - 1, "microsocks: %s: ", opt);
	n += fmt_vbuf(buf + n, sizeof buf - 1 - n, fmt, ap);
	buf[n++] = '\n';
	put_text(2, buf, n);
	if (with_usage)
		put_text(2, usage_text, sizeof usage_text - 1);
}

/* a mistake on the command line: the message and the usage, exit 1 */
static _Noreturn void
usage_error(const char *opt, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay_error(1, opt, fmt, ap);
	va_end(ap);
	exit(1);
}

/* an option that is well written but cannot be served (a file, an
 * address, a socket): the message alone, exit 1 */
static _Noreturn void
start_error(const char *opt, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay_error(0, opt, fmt, ap);
	va_end(ap);
	exit(1);
}

/* 1 when addr falls in one of the ranges of the list l (which may be
 * NULL: an empty list) */
static int
in_rules(const sblist *l, const union sockaddr_union *addr)
{
	return l && rules_match(sblist_get(l, 0), sblist_getsize(l), addr);
}

/* 1 when the client at addr may skip authentication */
static int
is_whitelisted(const union sockaddr_union *addr)
{
	return in_rules(auth_ips, addr) ||
	    (auth_once && once_admits(addr, now_ms()));
}

/* 1 when the client closed its connection: it cannot take an answer */
static int
client_gone(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR);
}

/* 1 when user and password are -u's and -P's or a user's of --users, 0
 * when not; -1 when the client left, or its deadline passed, before its
 * turn for a hash check came: it gets no check and no answer. No lock is
 * held while a hash is computed. */
static int
user_ok(const struct socks5_auth *a, const struct conn *c)
{
	struct users_entry e;
	int ok, found, slot;

	ok = have_user &&
	    users_secret_equal(a->user, a->ulen, auth_user, auth_ulen) &
	    users_secret_equal(a->pass, a->plen, auth_pass, auth_plen);
	if (ok || !users_path)
		return ok;
	pthread_rwlock_rdlock(&users_lock);
	found = users_find(users, a->user, a->ulen, &e);
	pthread_rwlock_unlock(&users_lock);
	if (!found)
		return 0;
	if (!e.hashed)
		ok = users_secret_equal(e.pass, e.plen, a->pass, a->plen);
	else if ((slot = users_hash_begin(c->deadline)) < 0)
		ok = -1;
	else if (client_gone(c->fd)) {
		users_hash_end(slot);
		ok = -1;
	} else
		ok = users_hash_check(slot, &e, a->pass, a->plen);
	explicit_bzero(&e, sizeof e);
	return ok;
}

static const char *
rep_str(int rep)
{
	static const char *const str[] = {
		"succeeded", "general failure", "not allowed by ruleset",
		"network unreachable", "host unreachable", "connection refused",
		"timed out", "command not supported",
		"address type not supported",
	};

	return rep >= 0 && rep <= REP_ATYP_UNSUPPORTED ? str[rep] : "?";
}

/* a command's name, for logs */
static const char *
cmd_str(int cmd)
{
	return cmd == CMD_CONNECT ? "CONNECT" : cmd == CMD_BIND ? "BIND" :
	    cmd == CMD_UDP_ASSOCIATE ? "UDP" : NULL;
}

/* the RFC 1928 reply code for a failed connect()'s errno */
static int
errno_to_rep(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return REP_REFUSED;
	case ENETUNREACH:
	case ENETDOWN:
		return REP_NET_UNREACH;
	case EHOSTUNREACH:
	case EHOSTDOWN:
		return REP_HOST_UNREACH;
	case ETIMEDOUT:
		return REP_TTL_EXPIRED;
	case EAFNOSUPPORT:
	case EPROTONOSUPPORT:
		return REP_ATYP_UNSUPPORTED;
	default:
		return REP_FAILURE;
	}
}

/* Of two failures, the one that got further: a refusal proves the host
 * was reached, a timeout that packets left, and so on. */
static int
rep_further(int a, int b)
{
	static const unsigned char rank[] = {
		[REP_FAILURE] = 0, [REP_NOT_ALLOWED] = 0,
		[REP_NET_UNREACH] = 1, [REP_HOST_UNREACH] = 2,
		[REP_ATYP_UNSUPPORTED] = 0, [REP_TTL_EXPIRED] = 3,
		[REP_REFUSED] = 4,
	};

	return rank[b] > rank[a] ? b : a;
}

/* Reads more of the handshake into c->buf. Returns 0, or -1 when the
 * client closed, failed, ran out of time, or sent more than fits. */
static int
conn_fill(struct conn *c)
{
	struct pollfd pfd;
	ssize_t n;
	int r;

	/* a client answers what we sent after a round trip at the least:
	 * wait before reading then, rather than try a read that fails */
	for (r = c->sent ? 0 : 1;; r = 1) {
		if (c->len == sizeof c->buf)
			return -1;
		if (r > 0) {
			n = recv(c->fd, c->buf + c->len,
			    sizeof c->buf - c->len, 0);
			if (n > 0) {
				c->len += (size_t)n;
				c->sent = 0;
				return 0;
			}
			if (n == 0)
				return -1;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				return -1;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, ms_left(c->deadline));
		if (r == 0) {
			c->s->why = "handshake timeout";
			return -1;
		}
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* drops the first used bytes of c->buf, wiping what they leave behind */
static void
conn_consume(struct conn *c, size_t used)
{
	memmove(c->buf, c->buf + used, c->len - used);
	explicit_bzero(c->buf + c->len - used, used);
	c->len -= used;
}

static int
conn_send(struct conn *c, const void *buf, size_t n)
{
	c->sent = 1;
	return send_all(c->fd, buf, n, now_ms() + REPLY_LINGER_MS);
}

/* Ends a connection after a refusal. Closing with unread input would
 * send a reset that may destroy the reply before the client reads it, so
 * the input is drained until the client closes, for a short while. */
static void
conn_linger(struct conn *c)
{
	long long deadline = now_ms() + REPLY_LINGER_MS;
	struct pollfd pfd;
	char sink[256];
	ssize_t n;

	shutdown(c->fd, SHUT_WR);
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, ms_left(deadline)) > 0) {
		n = recv(c->fd, sink, sizeof sink, 0);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
	}
}

static void
conn_reply(struct conn *c, int rep, const union sockaddr_union *bound)
{
	unsigned char out[SOCKS5_REPLY_MAX];
	const struct sockaddr *sa = bound ? &bound->sa : NULL;
	size_t n;

	c->s->rep = rep;
	if (c->version == 4)
		n = socks4_reply(out, rep == REP_SUCCESS ? SOCKS4_GRANTED :
		    SOCKS4_REJECTED, sa);
	else
		n = socks5_reply(out, rep, sa);
	if (conn_send(c, out, n) == 0 && rep != REP_SUCCESS)
		conn_linger(c);
}

static int
choose_method(const struct conn *c, unsigned offers)
{
	if (!auth_required)
		return offers & OFFER_NOAUTH ? METHOD_NOAUTH : METHOD_NONE;
	if ((offers & OFFER_NOAUTH) && is_whitelisted(c->addr))
		return METHOD_NOAUTH;
	if (offers & OFFER_USERPASS)
		return METHOD_USERPASS;
	return METHOD_NONE;
}

/* keeps the client's user name, for the log line (which escapes it) */
static void
set_user(struct session *s, const char *name)
{
	size_t n = strlen(name) + 1;

	free(s->user);
	/* without memory, the log line goes without the name */
	if ((s->user = malloc(n)))
		memcpy(s->user, name, n);
}

/* Waits AUTH_FAIL_DELAY_MS, or until the client closes or its deadline
 * comes, whichever is first. */
static void
auth_fail_pause(const struct conn *c)
{
	long long until = now_ms() + AUTH_FAIL_DELAY_MS;
	/* the peer's close, not bytes it sent on, which stay unread */
	struct pollfd pfd = { c->fd, POLLRDHUP, 0 };

	if (until > c->deadline)
		until = c->deadline;
	while (poll(&pfd, 1, ms_left(until)) < 0 && errno == EINTR)
		;
}

/* RFC 1929 sub-negotiation; 0 when the client may go on */
static int
authenticate(struct conn *c)
{
	struct socks5_auth a;
	unsigned char out[2] = { 1, 1 };
	size_t used;
	enum parse p;
	int ok;

	memset(&a, 0, sizeof a);
	while ((p = socks5_parse_auth(c->buf, c->len, &a, &used)) ==
	    PARSE_NEED_MORE)
		if (conn_fill(c) < 0)
			goto out;
	if (p == PARSE_ERROR) {
		c->s->why = "bad auth request";
		c->s->auth_failed = 1;
		conn_send(c, out, sizeof out);
		conn_linger(c);
		goto out;
	}
	conn_consume(c, used);
	ok = user_ok(&a, c);
	set_user(c->s, a.user);
	if (ok < 0) {
		c->s->why = client_gone(c->fd) ? "client gone" :
		    "handshake timeout";
		c->s->auth_failed = 1;
		goto out;
	}
	out[1] = !ok;
	/* a wrong password costs its sender a while, as in sshd: one
	 * connection cannot try passwords, or spin a CPU on hashes, at
	 * the rate of the network */
	if (!ok)
		auth_fail_pause(c);
	/* before the reply, that a client may follow with a new connection */
	if (ok && auth_once)
		once_add(c->addr, now_ms());
	if (conn_send(c, out, sizeof out) < 0) {
		ok = 0;
		c->s->why = "client gone";
	} else if (!ok) {
		c->s->why = "auth failed";
		c->s->auth_failed = 1;
		conn_linger(c);
	}
	explicit_bzero(&a, sizeof a);
	return ok ? 0 : -1;
out:
	explicit_bzero(&a, sizeof a);
	return -1;
}

/* the request's IPv4 or IPv6 destination as a socket address */
static void
req_addr(const struct socks5_request *req, union sockaddr_union *u)
{
	memset(u, 0, sizeof *u);
	if (req->atyp == ATYP_IPV4) {
		u->v4.sin_family = AF_INET;
		u->v4.sin_port = htons(req->port);
		memcpy(&u->v4.sin_addr, req->addr, 4);
	} else {
		u->v6.sin6_family = AF_INET6;
		u->v6.sin6_port = htons(req->port);
		memcpy(&u->v6.sin6_addr, req->addr, 16);
	}
}

/* 1 when --deny refuses the address u, in whatever form it came */
static int
denied(const union sockaddr_union *u)
{
	union sockaddr_union plain = *u;

	/* ::ffff:127.0.0.1 is 127.0.0.1 */
	sa_unmap(&plain);
	return in_rules(deny_rules, &plain);
}

/* One connect to dst, unless it is denied, for as long as the client
 * stays; or -1 with the reply code in *rep, and errno ECANCELED when the
 * client left. */
static int
try_connect(const union sockaddr_union *dst, const union sockaddr_union *from,
    int client, int *rep)
{
	int fd;

	if (denied(dst)) {
		*rep = REP_NOT_ALLOWED;
		errno = EACCES;
		return -1;
	}
	fd = server_connect(dst, from, bind_device, connect_ms, client);
	if (fd < 0)
		*rep = errno_to_rep(errno);
	return fd;
}

/* Connects to the request's destination: the addresses that its name
 * resolves to in turn, those of -b's family first, --connect-tries of
 * them at most, and only while the client (fd) stays. Returns the fd,
 * with the address connected to in *peer; or -1 with the reply code in
 * *rep, and errno ECANCELED when the client left. */
static int
connect_target(const struct socks5_request *req, int client,
    union sockaddr_union *peer, int *rep)
{
	struct addrinfo *res, *ai;
	union sockaddr_union dst;
	const union sockaddr_union *from = have_bind_addr ? &bind_addr : NULL;
	int fd = -1, pass, first, r, tries = 0, err = 0;

	if (req->atyp != ATYP_DOMAIN) {
		req_addr(req, &dst);
		fd = try_connect(&dst, from, client, rep);
		*peer = dst;
		return fd;
	}
	/* RFC 1928 has no code for a name that does not resolve */
	*rep = REP_HOST_UNREACH;
	if (server_resolve(req->host, req->port, 0, &res) != 0)
		return -1;
	first = 1;
	for (pass = 0; pass < 2 && fd < 0; pass++) {
		for (ai = res; ai && fd < 0 && tries < connect_tries &&
		    err != ECANCELED; ai = ai->ai_next) {
			if ((ai->ai_family != AF_INET &&
			    ai->ai_family != AF_INET6) ||
			    ai->ai_addrlen > sizeof dst)
				continue;
			if ((!from || ai->ai_family == from->sa.sa_family) !=
			    (pass == 0))
				continue;
			memcpy(&dst, ai->ai_addr, ai->ai_addrlen);
			fd = try_connect(&dst, from, client, &r);
			if (fd < 0) {
				err = errno;
				/* a denied address costs no try */
				tries += err != EACCES;
				*rep = first ? r : rep_further(*rep, r);
				first = 0;
			}
		}
	}
	freeaddrinfo(res);
	*peer = dst;
	errno = err;
	return fd;
}

static void
dst_str(const struct socks5_request *req, char *buf, size_t size)
{
	union sockaddr_union u;

	if (req->atyp == ATYP_DOMAIN) {
		fmt_buf(buf, size, "%s:%u", req->host, req->port);
		return;
	}
	req_addr(req, &u);
	sa_str(&u, buf);
}

static const char *
relay_end_str(enum relay_end e)
{
	switch (e) {
	case RELAY_CLOSED:
		return "closed";
	case RELAY_IDLE:
		return "idle timeout";
	default:
		return "reset";
	}
}

/* SOCKS5 from the greeting to the request; 0, or -1 when the client was
 * refused (and told so, if it is to be told) */
static int
socks5_negotiate(struct conn *c, struct socks5_request *req)
{
	struct socks5_greeting g;
	unsigned char out[2];
	size_t used;
	enum parse p;

	while ((p = socks5_parse_greeting(c->buf, c->len, &g, &used)) ==
	    PARSE_NEED_MORE)
		if (conn_fill(c) < 0)
			return -1;
	if (p == PARSE_ERROR)
		return -1;
	conn_consume(c, used);
	out[0] = 5;
	out[1] = (unsigned char)choose_method(c, g.offers);
	if (conn_send(c, out, sizeof out) < 0)
		return -1;
	if (out[1] == METHOD_NONE) {
		c->s->why = "no acceptable method";
		conn_linger(c);
		return -1;
	}
	if (out[1] == METHOD_USERPASS && authenticate(c) < 0)
		return -1;

	while ((p = socks5_parse_request(c->buf, c->len, req, &used)) ==
	    PARSE_NEED_MORE)
		if (conn_fill(c) < 0)
			return -1;
	if (p == PARSE_ERROR) {
		c->s->why = "bad request";
		conn_reply(c, req->rep, NULL);
		return -1;
	}
	conn_consume(c, used);
	return 0;
}

/* The SOCKS4 or SOCKS4a request, turned into its SOCKS5 equivalent; 0,
 * or -1 when the client was refused. SOCKS4 has no password: where one
 * is required, only a client that needs none may use it. */
static int
socks4_negotiate(struct conn *c, struct socks5_request *req)
{
	struct socks4_request r4;
	size_t used;
	enum parse p;

	while ((p = socks4_parse_request(c->buf, c->len, &r4, &used)) ==
	    PARSE_NEED_MORE)
		if (conn_fill(c) < 0)
			return -1;
	if (p == PARSE_ERROR) {
		c->s->why = "bad request";
		conn_reply(c, REP_FAILURE, NULL);
		return -1;
	}
	conn_consume(c, used);
	/* the user id proves nothing, but tells who it claims to be */
	if (r4.userid[0])
		set_user(c->s, r4.userid);
	if (auth_required && !is_whitelisted(c->addr)) {
		c->s->why = "auth required";
		conn_reply(c, REP_NOT_ALLOWED, NULL);
		return -1;
	}
	memset(req, 0, sizeof *req);
	/* the same numbers, but SOCKS4 has nothing else */
	req->cmd = r4.cd == SOCKS4_CONNECT || r4.cd == SOCKS4_BIND ? r4.cd : 0;
	req->port = r4.port;
	if (r4.host[0]) {
		req->atyp = ATYP_DOMAIN;
		memcpy(req->host, r4.host, sizeof req->host);
	} else {
		req->atyp = ATYP_IPV4;
		memcpy(req->addr, r4.ip, 4);
	}
	return 0;
}

/* CONNECT: returns the target's fd, or -1 when the client was refused */
static int
do_connect(struct conn *c, struct session *s, const struct socks5_request *req)
{
	socklen_t len;
	int fd, rep;

	fd = connect_target(req, c->fd, &s->peer, &rep);
	if (fd < 0 && errno == ECANCELED) {
		/* nobody to answer */
		s->why = "client gone";
		return -1;
	}
	if (fd < 0) {
		s->why = rep_str(rep);
		conn_reply(c, rep, NULL);
		return -1;
	}
	len = sizeof s->bound;
	if (getsockname(fd, &s->bound.sa, &len) < 0)
		s->bound.sa.sa_family = AF_UNSPEC;
	conn_reply(c, REP_SUCCESS, &s->bound);
	return fd;
}

/* 1 when u is 0.0.0.0 or :: */
static int
sa_is_any(const union sockaddr_union *u)
{
	static const unsigned char zero[16];

	if (u->sa.sa_family == AF_INET)
		return u->v4.sin_addr.s_addr == 0;
	return !memcmp(&u->v6.sin6_addr, zero, 16);
}

/* The address for a BIND listener of the family asked for: -b's when it
 * is of that family, else the one the client reached us at; never a
 * wildcard, which would take connections on every interface. Returns 0,
 * or -1 when there is no such address. */
static int
bind_local(const struct conn *c, int family, union sockaddr_union *u)
{
	socklen_t len = sizeof *u;

	if (have_bind_addr && bind_addr.sa.sa_family == family &&
	    !sa_is_any(&bind_addr)) {
		*u = bind_addr;
	} else if (getsockname(c->fd, &u->sa, &len) == 0) {
		sa_unmap(u);
		if (u->sa.sa_family != family || sa_is_any(u))
			return -1;
	} else {
		return -1;
	}
	if (family == AF_INET)
		u->v4.sin_port = 0;
	else
		u->v6.sin6_port = 0;
	return 0;
}

/* Waits for the BIND's peer on lfd until the deadline, while watching
 * that the client is still there. Returns the peer's fd, or -1 with the
 * reply code in *rep. */
static int
bind_accept(struct conn *c, int lfd, union sockaddr_union *peer, int *rep)
{
	long long deadline = now_ms() + bind_ms;
	struct pollfd pfd[2];
	socklen_t len;
	int fd, r;

	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	/* the client's going away, not bytes it sends early, which wait
	 * for the relay */
	pfd[1].fd = c->fd;
	pfd[1].events = POLLRDHUP;
	for (;;) {
		r = poll(pfd, 2, ms_left(deadline));
		if (r == 0) {
			*rep = REP_TTL_EXPIRED;
			return -1;
		}
		if (r < 0 && errno != EINTR) {
			*rep = REP_FAILURE;
			return -1;
		}
		if (r < 0)
			continue;
		if (pfd[1].revents) {
			*rep = REP_FAILURE;
			return -1;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		len = sizeof *peer;
		fd = accept4(lfd, &peer->sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			sa_unmap(peer);
			return fd;
		}
		if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR) {
			*rep = REP_FAILURE;
			return -1;
		}
	}
}

/* BIND (RFC 1928 section 4): listen, tell the client where, take one
 * connection from the peer it named, tell it who came. Returns the
 * peer's fd, or -1 when the client was refused. */
static int
do_bind(struct conn *c, struct session *s, const struct socks5_request *req)
{
	union sockaddr_union want, local;
	struct addrinfo *res;
	socklen_t len;
	int lfd = -1, fd = -1, rep = REP_FAILURE;

	if (req->atyp != ATYP_DOMAIN) {
		req_addr(req, &want);
	} else if (server_resolve(req->host, req->port, 0, &res) == 0) {
		memcpy(&want, res->ai_addr, res->ai_addrlen > sizeof want ?
		    sizeof want : res->ai_addrlen);
		freeaddrinfo(res);
		sa_unmap(&want);
	} else {
		rep = REP_HOST_UNREACH;
		goto fail;
	}
	if (denied(&want)) {
		rep = REP_NOT_ALLOWED;
		goto fail;
	}
	if (bind_local(c, want.sa.sa_family, &local) < 0) {
		rep = REP_ATYP_UNSUPPORTED;
		goto fail;
	}
	lfd = socket(local.sa.sa_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	len = sizeof s->bound;
	if (lfd < 0 || bind(lfd, &local.sa, sa_len(&local)) < 0 ||
	    listen(lfd, 1) < 0 || getsockname(lfd, &s->bound.sa, &len) < 0)
		goto fail;
	conn_reply(c, REP_SUCCESS, &s->bound);
	fd = bind_accept(c, lfd, &s->peer, &rep);
	close(lfd);
	lfd = -1;
	if (fd < 0)
		goto fail;
	if (!sa_is_any(&want) && !sa_same_ip(&s->peer, &want)) {
		close(fd);
		rep = REP_NOT_ALLOWED;
		goto fail;
	}
	conn_reply(c, REP_SUCCESS, &s->peer);
	return fd;
fail:
	if (lfd >= 0)
		close(lfd);
	s->why = rep_str(rep);
	conn_reply(c, rep, NULL);
	return -1;
}

static void
udp_options(struct udp_opts *o)
{
	o->idle_ms = idle_ms;
	o->bindaddr = have_bind_addr ? &bind_addr : NULL;
	o->device = bind_device;
	o->announce = have_udp_announce ? &udp_announce : NULL;
	o->port_lo = udp_port_lo;
	o->port_hi = udp_port_hi;
	o->denied = denied;
}

/* UDP ASSOCIATE: opens the relay socket on the address the client
 * reached us at and tells the client where it is. Returns its fd, with
 * the client's UDP address in s->peer; or -1 when the client was
 * refused. */
static int
do_udp(struct conn *c, struct session *s, const struct socks5_request *req)
{
	union sockaddr_union local;
	struct udp_opts o;
	socklen_t len = sizeof local;
	int fd;

	udp_options(&o);
	if (getsockname(c->fd, &local.sa, &len) < 0) {
		fd = -1;
	} else {
		sa_unmap(&local);
		fd = udp_open(&local, &o, &s->bound);
	}
	if (fd < 0) {
		s->why = "no UDP socket";
		conn_reply(c, REP_FAILURE, NULL);
		return -1;
	}
	/* datagrams count only from the client's address, and from the
	 * port it named, if it named one */
	s->peer = s->addr;
	if (s->peer.sa.sa_family == AF_INET)
		s->peer.v4.sin_port = htons(req->port);
	else
		s->peer.v6.sin6_port = htons(req->port);
	conn_reply(c, REP_SUCCESS, &s->bound);
	return fd;
}

/* The handshake, from the first byte to the last reply. Returns the fd
 * of the tunnel's other end, with s's fields set; or -1, when the client
 * was sent its error, if any. Not inlined: its buffers need not be on the
 * stack during the relay. */
static NOINLINE int
handshake(struct session *s)
{
	struct conn c;
	struct socks5_request req;
	int fd = -1, r;

	c.fd = s->fd;
	c.s = s;
	c.addr = &s->addr;
	c.deadline = now_ms() + handshake_ms;
	c.sent = 0;
	c.len = 0;
	if (conn_fill(&c) < 0)
		goto out;
	/* the first byte tells the protocol */
	c.version = c.buf[0];
	if (c.version == 5) {
		r = socks5_negotiate(&c, &req);
	} else if (c.version == 4) {
		r = socks4_negotiate(&c, &req);
	} else {
		s->why = "not a SOCKS client";
		goto out;
	}
	if (r < 0)
		goto out;
	dst_str(&req, s->dst, sizeof s->dst);
	switch (req.cmd) {
	case CMD_CONNECT:
		s->cmd = CMD_CONNECT;
		fd = do_connect(&c, s, &req);
		break;
	case CMD_BIND:
		s->cmd = CMD_BIND;
		fd = do_bind(&c, s, &req);
		break;
	case CMD_UDP_ASSOCIATE:
		if (c.version == 5) {
			s->cmd = CMD_UDP_ASSOCIATE;
			fd = do_udp(&c, s, &req);
			goto out;
		}
		/* FALLTHROUGH */
	default:
		s->why = rep_str(REP_CMD_UNSUPPORTED);
		conn_reply(&c, REP_CMD_UNSUPPORTED, NULL);
		goto out;
	}
	/* what the client sent after its request goes first */
	if (fd >= 0 && send_all(fd, c.buf, c.len, now_ms() + connect_ms) < 0) {
		s->why = "reset";
		close(fd);
		fd = -1;
	}
out:
	explicit_bzero(c.buf, sizeof c.buf);
	return fd;
}

/* A quiet tunnel may stay so for hours: give back the stack pages that
 * the handshake's deep calls touched. Not done for every tunnel, as each
 * page given back costs a fault when touched again. */
static void
trim_stack(void)
{
	thread_trim_stack(STACK_MARGIN);
}

/* The session's line, and its part in the statistics. Not inlined: its
 * buffers need not be on the stack during the relay. */
static NOINLINE void
log_session(const struct session *s, const struct relay_stats *st)
{
	struct log_session l;
	union sockaddr_union local = { .sa.sa_family = AF_UNSPEC };
	socklen_t len = sizeof local;
	struct timespec ts;
	char line[LOG_LINE_MAX];

	if (log_quiet)
		goto out;
	clock_gettime(CLOCK_REALTIME, &ts);
	l.end_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	l.duration_ms = now_ms() - s->start;
	l.client = &s->addr;
	l.user = s->user;
	l.cmd = cmd_str(s->cmd);
	l.dst = s->dst[0] ? s->dst : NULL;
	/* what was reached, if anything was */
	l.peer = s->rep == REP_SUCCESS && s->cmd != CMD_UDP_ASSOCIATE ?
	    &s->peer : NULL;
	l.bound = s->rep == REP_SUCCESS ? &s->bound : NULL;
	l.listen_port = 0;
	if (log_format_port && getsockname(s->fd, &local.sa, &len) == 0)
		l.listen_port = ntohs(local.sa.sa_family == AF_INET ?
		    local.v4.sin_port : local.v6.sin6_port);
	l.rep = s->rep;
	l.reason = stopping ? "stopped" : s->why ? s->why : "client gone";
	l.up = st->up;
	l.down = st->down;
	log_session_line(line, logfmt(line, sizeof line, log_format, &l));
out:
	/* last: a drain may end as soon as the last client is counted out */
	clients_leave(&s->addr, s->rep, s->auth_failed, st->up, st->down);
}

/* not inlined: a UDP association's state need not stay on the stack of
 * every TCP relay */
static NOINLINE void
udp_session(struct session *s, int ufd, struct relay_stats *st)
{
	struct udp_opts o;

	udp_options(&o);
	udp_relay(s->fd, ufd, &s->peer, &o, st);
	s->why = "ended";
}

/* sets the session's other fd, for stop_sessions() to see */
static void
session_fd(struct session *s, int fd)
{
	pthread_mutex_lock(&sessions_lock);
	s->tfd = fd;
	pthread_mutex_unlock(&sessions_lock);
}

/* one client's session, from the greeting to the relay's end */
static void
serve(struct session *s, struct relay_stats *st)
{
	struct relay_opts ro = { idle_ms, halfclose_ms, QUIET_MS, trim_stack };
	int tfd;

	tfd = handshake(s);
	if (tfd < 0)
		return;
	session_fd(s, tfd);
	if (s->cmd == CMD_UDP_ASSOCIATE)
		udp_session(s, tfd, st);
	else
		s->why = relay_end_str(relay(s->fd, tfd, &ro, st));
	session_fd(s, -1);
	close(tfd);
}

/* a client thread's client; see struct thread_ops */
static void
client_thread(void *arg)
{
	struct client *cl = arg;
	struct relay_stats st = { 0, 0 };
	struct session s;

	s.fd = cl->fd;
	s.addr = cl->addr;
	s.start = cl->start;
	s.cmd = 0;
	s.rep = -1;
	s.auth_failed = 0;
	s.why = NULL;
	s.user = NULL;
	s.dst[0] = '\0';
	s.tfd = -1;
	s.prev = NULL;
	pthread_mutex_lock(&sessions_lock);
	if ((s.next = sessions))
		sessions->prev = &s;
	sessions = &s;
	pthread_mutex_unlock(&sessions_lock);
	serve(&s, &st);
	pthread_mutex_lock(&sessions_lock);
	if (s.next)
		s.next->prev = s.prev;
	if (s.prev)
		s.prev->next = s.next;
	else
		sessions = s.next;
	pthread_mutex_unlock(&sessions_lock);
	log_session(&s, &st);
	free(s.user);
	close(s.fd);
}

/* Ends every session: their sockets shut down, they see the ends of
 * their streams and finish, with their log lines. */
static void
stop_sessions(void)
{
	struct session *s;

	stopping = 1;
	pthread_mutex_lock(&sessions_lock);
	for (s = sessions; s; s = s->next) {
		shutdown(s->fd, SHUT_RDWR);
		if (s->tfd >= 0)
			shutdown(s->tfd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&sessions_lock);
}

/* Logs the first of a run of failures to take clients ("out of memory",
 * "accept failing") and pauses, so that the threads that accept neither
 * spin nor flood the log while resources are short. */
static void
cannot_serve(const char *why)
{
	struct timespec ts = { 0, FAILURE_TIMEOUT_MS * 1000000L };

	if (!atomic_exchange(&shortage, 1))
		log_msg(LOG_L_WARNING, "microsocks: %s: refusing clients", why);
	nanosleep(&ts, NULL);
}

static void
served_again(void)
{
	if (atomic_load(&shortage) && atomic_exchange(&shortage, 0))
		log_msg(LOG_L_NOTICE, "microsocks: serving clients again");
}

/* With accept_lock held: lfd is a spare thread's to take a client from
 * again. */
static void
rearm(int lfd)
{
	struct epoll_event ev;

	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.fd = lfd;
	if (accepting)
		epoll_ctl(accept_ep, EPOLL_CTL_MOD, lfd, &ev);
}

/* Takes a client from lfd into *cl, unless the rules, the limits or a
 * shortage turn it away; with one_shot, arms lfd again for the next.
 * Returns 1 when there is a client to serve, else 0. */
static int
accept_client(int lfd, struct client *cl, int one_shot)
{
	socklen_t len = sizeof cl->addr;
	char name[SA_STRLEN];
	enum admit admit = ADMIT_OK;
	int fd, err, allowed = 1;

	pthread_mutex_lock(&accept_lock);
	if (!accepting) {
		pthread_mutex_unlock(&accept_lock);
		return 0;
	}
	/* taken back as soon as an fd is free again */
	if (reserve < 0)
		reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fd = accept4(lfd, &cl->addr.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	err = fd < 0 ? errno : 0;
	if ((err == EMFILE || err == ENFILE) && reserve >= 0) {
		close(reserve);
		fd = accept(lfd, NULL, NULL);
		if (fd >= 0)
			close(fd);
		fd = -1;
		reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
		clients_refused();
	}
	/* Counted in before the lock goes: a stop that finds accepting
	 * off then counts this client too, and waits for its end. */
	if (fd >= 0) {
		sa_unmap(&cl->addr);
		/* --allow: others go before a byte is read */
		allowed = !allow_rules || in_rules(allow_rules, &cl->addr);
		if (allowed)
			admit = clients_admit(&cl->addr);
	}
	/* the next client is another thread's; after a failure, the same
	 * thread's, after its pause */
	if (one_shot && fd >= 0)
		rearm(lfd);
	pthread_mutex_unlock(&accept_lock);
	if (fd < 0) {
		switch (err) {
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			break;
		case EMFILE:
		case ENFILE:
			cannot_serve("out of file descriptors");
			break;
		case ENOBUFS:
		case ENOMEM:
			cannot_serve("out of memory");
			break;
		default:
			log_msg(LOG_L_ERR, "accept: %s", strerror(err));
			cannot_serve("accept failing");
		}
		if (one_shot) {
			pthread_mutex_lock(&accept_lock);
			rearm(lfd);
			pthread_mutex_unlock(&accept_lock);
		}
		return 0;
	}
	cl->fd = fd;
	cl->start = now_ms();
	if (!allowed) {
		log_line("client %s: not allowed", sa_str(&cl->addr, name));
		clients_refused();
		close(fd);
		return 0;
	}
	switch (admit) {
	case ADMIT_OK:
		return 1;
	case ADMIT_NOMEM:
		close(fd);
		cannot_serve("out of memory");
		return 0;
	default:
		log_line("client %s: refused: too many clients%s",
		    sa_str(&cl->addr, name), admit == ADMIT_FULL_IP ?
		    " from this address" : "");
		close(fd);
		return 0;
	}
}

/* A spare thread's wait for its next client; see struct thread_ops. */
static int
take_client(void *arg, int timeout_ms)
{
	struct client *cl = arg;
	struct epoll_event ev;
	long long deadline = now_ms() + timeout_ms;
	int r;

	for (;;) {
		r = epoll_wait(accept_ep, &ev, 1, timeout_ms < 0 ? -1 :
		    ms_left(deadline));
		if (r == 0 || (r < 0 && errno != EINTR))
			return 0;
		if (r > 0 && accept_client(ev.data.fd, cl, 1)) {
			served_again();
			return 1;
		}
	}
}

/* no spare thread is left: the accept loop takes clients meanwhile */
static void
no_spares(void)
{
	uint64_t one = 1;

	if (write(accept_evfd, &one, sizeof one) < 0)
		return;
}

/* The accept loop's client, when no spare thread was left to take it:
 * it gets a thread of its own, or is refused. */
static void
start_client(const struct client *cl)
{
	int err;

	if (thread_start(cl, sizeof *cl) == 0) {
		served_again();
		return;
	}
	err = errno;
	clients_cancel(&cl->addr);
	close(cl->fd);
	cannot_serve(err == ENOMEM ? "out of memory" : "out of threads");
}

static void
log_stats(void)
{
	struct clients_stats st;
	char failed[128];
	size_t n = 0;
	int i;

	clients_get(&st);
	for (i = 1; i < CLIENTS_REPLIES; i++)
		if (st.replies[i])
			n += fmt_buf(failed + n, sizeof failed - n, " 0x0%d:%llu",
			    i, st.replies[i]);
	if (n == 0)
		fmt_buf(failed, sizeof failed, " -");
	log_msg(LOG_L_NOTICE, "microsocks: stats: clients %llu served %llu "
	    "refused %llu up %llu down %llu failed%s auth %llu", st.now,
	    st.served, st.refused, st.up, st.down, failed, st.auth_failed);
}

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

/* --users, read at start (where a failure is fatal) and on SIGHUP */
static void
load_users(int at_start)
{
	struct users *u, *old;
	unsigned long line;
	const char *why;
	char where[64];

	if (!users_path) {
		log_msg(LOG_L_NOTICE, "microsocks: nothing to reload");
		return;
	}
	u = users_load(users_path, &line, &why);
	/* -u's user is one, and only one, password */
	if (u && have_user && users_has(u, auth_user, auth_ulen)) {
		users_free(u);
		u = NULL;
		line = 0;
		why = "the user of -u is in the file too";
	}
	if (!u) {
		where[0] = '\0';
		if (line)
			fmt_buf(where, sizeof where, ":%lu", line);
		else if (!why)
			why = strerror(errno);
		if (at_start)
			start_error("--users", "%s%s: %s", users_path, where,
			    why);
		log_msg(LOG_L_WARNING, "microsocks: %s%s: %s; keeping the old "
		    "users", users_path, where, why);
		return;
	}
	pthread_rwlock_wrlock(&users_lock);
	old = users;
	users = u;
	pthread_rwlock_unlock(&users_lock);
	users_free(old);
	log_msg(LOG_L_NOTICE, "microsocks: %s: %lu users", users_path,
	    (unsigned long)users_count(u));
}

/* Reads the signals that came; returns 1 when one asks us to stop. */
static int
take_signals(int sigfd)
{
	struct signalfd_siginfo si;
	int stop = 0;

	while (read(sigfd, &si, sizeof si) == sizeof si) {
		switch (si.ssi_signo) {
		case SIGUSR1:
			log_stats();
			break;
		case SIGHUP:
			load_users(0);
			break;
		default:
			stop = 1;
		}
	}
	return stop;
}

/* Serves clients until SIGTERM or SIGINT. The spare threads take the
 * clients; but when none is left, for want of threads or memory, this
 * loop takes them, to start threads for them or to refuse them. */
static void
accept_loop(const int *lfd, int n, int sigfd)
{
	struct pollfd pfd[MAX_LISTEN + 2];
	struct client cl;
	uint64_t v;
	int i, m;

	pfd[0].fd = sigfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = accept_evfd;
	pfd[1].events = POLLIN;
	for (;;) {
		m = 2;
		if (thread_spares() == 0)
			for (i = 0; i < n; i++) {
				pfd[m].fd = lfd[i];
				pfd[m++].events = POLLIN;
			}
		if (poll(pfd, (nfds_t)m, -1) < 0)
			continue;
		while (pfd[1].revents && read(accept_evfd, &v, sizeof v) > 0)
			;
		/* a spare that came meanwhile takes the client instead */
		for (i = 2; i < m && thread_spares() == 0; i++)
			if (pfd[i].revents && accept_client(pfd[i].fd, &cl, 0))
				start_client(&cl);
		if (pfd[0].revents && take_signals(sigfd))
			return;
	}
}

/* Waits until the last client has left (0), or until the deadline or a
 * signal to stop on sigfd (-1: none) comes first (-1). */
static int
wait_drained(int sigfd, int wakefd, long long deadline)
{
	struct pollfd pfd[2];
	char b;

	pfd[0].fd = wakefd;
	pfd[0].events = POLLIN;
	pfd[1].fd = sigfd;
	pfd[1].events = POLLIN;
	while (poll(pfd, sigfd >= 0 ? 2 : 1, ms_left(deadline)) != 0) {
		if (pfd[0].revents && read(wakefd, &b, 1) == 1)
			return 0;
		if (sigfd >= 0 && pfd[1].revents && take_signals(sigfd))
			return -1;
	}
	return -1;
}

/* Stops: no new clients, then the running ones get the grace time to
 * end before the exit. Another SIGTERM or SIGINT ends it at once. */
static void
drain(const int *lfd, int n, int activated, int sigfd, int wakefd)
{
	long long deadline = now_ms() + grace_ms;
	struct clients_stats st;
	int i;

	/* no thread takes a client from now on; the service manager's
	 * sockets are its own, to queue clients for our successor */
	pthread_mutex_lock(&accept_lock);
	accepting = 0;
	for (i = 0; i < n; i++) {
		epoll_ctl(accept_ep, EPOLL_CTL_DEL, lfd[i], NULL);
		if (!activated)
			close(lfd[i]);
	}
	pthread_mutex_unlock(&accept_lock);
	systemd_notify("STOPPING=1");
	clients_get(&st);
	log_msg(LOG_L_NOTICE, "microsocks: stopping, %llu clients, grace %d s",
	    st.now, grace_ms / 1000);
	clients_drain();
	if (wait_drained(sigfd, wakefd, deadline) < 0) {
		/* the grace time is over: end the sessions, that log their
		 * lines as they go, for a moment */
		stop_sessions();
		wait_drained(-1, wakefd, now_ms() + STOP_MS);
	}
	log_msg(LOG_L_NOTICE, "microsocks: stopped");
	exit(0);
}

/* no client left: give back what the busy times left over */
static void
on_idle(void)
{
	relay_idle();
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static const struct thread_ops client_ops = {
	take_client, client_thread, no_spares, on_idle
};

/* a number in [min, max] from option opt's argument, or exit */
static long
parse_num(const char *opt, const char *s, long min, long max)
{
	long v;

	if (args_num(s, min, max, &v) < 0)
		usage_error(opt, "'%s' is not a number from %ld to %ld", s,
		    min, max);
	return v;
}

static void
resolve_or_die(const char *opt, const char *host, struct addrinfo **res)
{
	int err = server_resolve(host, 0, AI_PASSIVE, res);

	if (err)
		usage_error(opt, "cannot resolve '%s': %s", host,
		    gai_strerror(err));
}

/* the first address of a name, for option opt, or exit */
static void
resolve_addr(const char *opt, const char *host, union sockaddr_union *u)
{
	struct addrinfo *res;

	resolve_or_die(opt, host, &res);
	memset(u, 0, sizeof *u);
	memcpy(u, res->ai_addr, res->ai_addrlen > sizeof *u ? sizeof *u :
	    res->ai_addrlen);
	freeaddrinfo(res);
	sa_unmap(u);
}

/* --udp-ports LO-HI, or exit */
static void
parse_range(const char *opt, const char *s)
{
	if (args_range(s, &udp_port_lo, &udp_port_hi) < 0)
		usage_error(opt, "'%s' is not a port range LO-HI", s);
}

static void
add_or_die(sblist *l, const void *item)
{
	if (sblist_add(l, item) < 0) {
		perror("microsocks");
		exit(1);
	}
}

/* -w: comma-separated address ranges, or names for all their addresses */
static void
parse_whitelist(const char *list)
{
	struct addrinfo *res, *ai;
	union sockaddr_union u;
	struct rule r;
	char *copy, *tok, *save = NULL;

	copy = strdup(list);
	if (!copy) {
		perror("microsocks");
		exit(1);
	}
	if (!*list || list[strlen(list) - 1] == ',' || strstr(list, ",,") ||
	    *list == ',')
		usage_error("-w", "empty entry in '%s'", list);
	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		/* a range, or a name for all its addresses */
		if (rule_parse(tok, 0, &r) == 0) {
			add_or_die(auth_ips, &r);
			continue;
		}
		if (strchr(tok, '/'))
			usage_error("-w", "'%s' is not an address range", tok);
		resolve_or_die("-w", tok, &res);
		for (ai = res; ai; ai = ai->ai_next) {
			if (ai->ai_addrlen > sizeof u)
				continue;
			memcpy(&u, ai->ai_addr, ai->ai_addrlen);
			sa_unmap(&u);
			rule_from_addr(&u, &r);
			add_or_die(auth_ips, &r);
		}
		freeaddrinfo(res);
	}
	free(copy);
}

/* --allow, --deny: comma-separated address ranges, with ports for the
 * latter, added to the list l (NULL: a new one); returns the list */
static sblist *
parse_rules(const char *opt, const char *list, int with_port, sblist *l)
{
	const char *p = list, *comma;
	char entry[128];
	struct rule r;
	size_t n;

	if (!l && !(l = sblist_new(sizeof(struct rule), 8))) {
		perror("microsocks");
		exit(1);
	}
	for (;;) {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n >= sizeof entry)
			usage_error(opt, "bad entry in '%s'", list);
		memcpy(entry, p, n);
		entry[n] = '\0';
		if (rule_parse(entry, with_port, &r) < 0)
			usage_error(opt, "'%s' is not an address range%s", entry,
			    with_port ? " (with [brackets] for IPv6 and a port)" :
			    "");
		add_or_die(l, &r);
		if (!comma)
			return l;
		p = comma + 1;
	}
}

/* 1 for 127.0.0.0/8 and ::1 */
static int
is_loopback(const union sockaddr_union *u)
{
	if (u->sa.sa_family == AF_INET)
		return (ntohl(u->v4.sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&u->v6.sin6_addr);
}

/* -b must be an address of this host: a socket bound to it (any port)
 * tells at start, rather than every CONNECT failing with reply 01 */
static void
check_bind_addr(const char *arg)
{
	int fd, err = 0;

	fd = socket(bind_addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, &bind_addr.sa, sa_len(&bind_addr)) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	if (err)
		start_error("-b", "cannot bind to %s: %s", arg, strerror(err));
}

/* logs where fd listens, and a warning when anyone may use it */
static void
announce(int fd)
{
	union sockaddr_union u = { .sa.sa_family = AF_UNSPEC };
	socklen_t len = sizeof u;
	char name[SA_STRLEN];

	if (getsockname(fd, &u.sa, &len) < 0)
		return;
	log_msg(LOG_L_NOTICE, "microsocks: listening on %s", sa_str(&u, name));
	if (!auth_required && !allow_rules && !is_loopback(&u))
		log_msg(LOG_L_WARNING, "microsocks: warning: an open proxy: "
		    "anyone who reaches %s may use it; see -u, -P, --allow",
		    name);
}

static int
listen_on(const char *host, unsigned short port)
{
	struct addrinfo *res, *ai;
	int fd = -1, err;

	err = server_resolve(host, port, AI_PASSIVE, &res);
	if (err)
		usage_error("-i", "cannot resolve '%s': %s", host,
		    gai_strerror(err));
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = server_listen(ai);
	err = errno;
	freeaddrinfo(res);
	if (fd < 0) {
		say(2, "microsocks: %s port %u: %s\n", host, port,
		    strerror(err));
		exit(1);
	}
	return fd;
}

enum {
	OPT_IDLE = 256,
	OPT_HANDSHAKE,
	OPT_CONNECT,
	OPT_CONNECT_TRIES,
	OPT_HALFCLOSE,
	OPT_BIND_TIMEOUT,
	OPT_UDP_ANNOUNCE,
	OPT_UDP_PORTS,
	OPT_ALLOW,
	OPT_DENY,
	OPT_MAX_CLIENTS,
	OPT_MAX_PER_IP,
	OPT_BIND_IFACE,
	OPT_USERS,
	OPT_ONCE_TTL,
	OPT_ONCE_MAX,
	OPT_LOG_FORMAT,
	OPT_LOG_TIME,
	OPT_SYSLOG,
	OPT_GRACE,
};

static const struct option long_options[] = {
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT },
	{ "connect-tries", required_argument, NULL, OPT_CONNECT_TRIES },
	{ "halfclose-timeout", required_argument, NULL, OPT_HALFCLOSE },
	{ "bind-timeout", required_argument, NULL, OPT_BIND_TIMEOUT },
	{ "udp-announce", required_argument, NULL, OPT_UDP_ANNOUNCE },
	{ "udp-ports", required_argument, NULL, OPT_UDP_PORTS },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "deny", required_argument, NULL, OPT_DENY },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "max-per-ip", required_argument, NULL, OPT_MAX_PER_IP },
	{ "bind-interface", required_argument, NULL, OPT_BIND_IFACE },
	{ "users", required_argument, NULL, OPT_USERS },
	{ "auth-once-ttl", required_argument, NULL, OPT_ONCE_TTL },
	{ "auth-once-max", required_argument, NULL, OPT_ONCE_MAX },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "log-time", required_argument, NULL, OPT_LOG_TIME },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* the option that getopt_long() just looked at, for error messages */
static const char *
opt_name(char **argv, int longidx, int c, char *buf)
{
	if (longidx >= 0) {
		fmt_buf(buf, 32, "--%s", long_options[longidx].name);
		return buf;
	}
	if (c > 0 && c < 256) {
		fmt_buf(buf, 32, "-%c", c);
		return buf;
	}
	return argv[optind - 1];
}

/* copies an RFC 1929 user name or password into its 256-byte buffer */
static size_t
copy_secret(const char *opt, const char *arg, char *buf)
{
	size_t n = strlen(arg);

	if (n > 255)
		usage_error(opt, "longer than 255 bytes");
	memcpy(buf, arg, n);
	return n;
}

/* a timeout in seconds, as milliseconds */
static int
parse_timeout(const char *opt, const char *s)
{
	return (int)parse_num(opt, s, 1, 2000000) * 1000;
}

/* -i: ADDR or ADDR:PORT, kept until -p is known */
struct listen_arg {
	char host[256];
	long port;		/* -1: -p's */
};

/* The sockets to serve: systemd's, or those of -i and -p, all set up
 * before the first is announced, so that a "listening" line is never
 * followed by a failure to start. */
static int
open_listeners(const struct listen_arg *la, int nla, long port, int *lfd,
    int *activated)
{
	int i, n = systemd_listen_fds();

	if (n < 0) {
		say(2, "microsocks: socket activation: %s\n",
		    strerror(errno));
		exit(1);
	}
	if (n > MAX_LISTEN) {
		say(2, "microsocks: socket activation: more than %d sockets\n",
		    MAX_LISTEN);
		exit(1);
	}
	*activated = n > 0;
	for (i = 0; i < n; i++)
		lfd[i] = 3 + i;
	if (n == 0 && nla == 0) {
		lfd[0] = listen_on("0.0.0.0", (unsigned short)port);
		n = 1;
	}
	for (; n < nla; n++)
		lfd[n] = listen_on(la[n].host, (unsigned short)(la[n].port < 0 ?
		    port : la[n].port));
	for (i = 0; i < n; i++)
		announce(lfd[i]);
	return n;
}

/* the signals that the main thread takes, through a signalfd; blocked
 * before any thread starts, so that none of the others gets them */
static int
signals_init(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int
main(int argc, char **argv)
{
	static struct listen_arg la[MAX_LISTEN];
	int lfd[MAX_LISTEN], wake[2];
	const char *bad, *bind_arg = NULL;
	sblist *whitelists = NULL;
	size_t i;
	char optbuf[32];
	long port = 1080;
	int c, longidx, nla = 0, nl, activated, sigfd, pass_given = 0;
	int syslog = 0, local_time = 0;
	struct epoll_event ev;

	opterr = 0;
	for (;;) {
		longidx = -1;
		c = getopt_long(argc, argv, ":1qb:i:p:u:P:w:Vh", long_options,
		    &longidx);
		if (c == -1)
			break;
		switch (c) {
		case '1':
			auth_once = 1;
			break;
		case 'q':
			log_quiet = 1;
			break;
		case 'b':
			resolve_addr("-b", optarg, &bind_addr);
			have_bind_addr = 1;
			bind_arg = optarg;
			break;
		case 'i':
			if (nla == MAX_LISTEN)
				usage_error("-i", "more than %d addresses",
				    MAX_LISTEN);
			if (args_hostport(optarg, la[nla].host,
			    sizeof la[nla].host, &la[nla].port) < 0)
				usage_error("-i", "'%s' is not ADDR, ADDR:PORT "
				    "or [ADDR]:PORT", optarg);
			nla++;
			break;
		case 'p':
			port = parse_num("-p", optarg, 0, 65535);
			break;
		case 'u':
			if (have_user)
				usage_error("-u", "given twice; more users go "
				    "in a --users file");
			auth_ulen = copy_secret("-u", optarg, auth_user);
			if (!auth_ulen)
				usage_error("-u", "an empty user name");
			auth_required = have_user = 1;
			break;
		case 'P':
			if (pass_given)
				usage_error("-P", "given twice; more users go "
				    "in a --users file");
			auth_plen = copy_secret("-P", optarg, auth_pass);
			if (!auth_plen)
				usage_error("-P", "an empty password");
			pass_given = 1;
			/* keep the password out of ps */
			explicit_bzero(optarg, auth_plen);
			break;
		case 'w':
			/* parsed once -u and -1 are known; each adds */
			if (!whitelists)
				whitelists = sblist_new(sizeof(char *), 4);
			if (!whitelists || sblist_add(whitelists, &optarg) < 0) {
				perror("microsocks");
				return 1;
			}
			break;
		case OPT_IDLE:
			idle_ms = parse_timeout("--idle-timeout", optarg);
			break;
		case OPT_HANDSHAKE:
			handshake_ms = parse_timeout("--handshake-timeout",
			    optarg);
			break;
		case OPT_CONNECT:
			connect_ms = parse_timeout("--connect-timeout", optarg);
			break;
		case OPT_CONNECT_TRIES:
			connect_tries = (int)parse_num("--connect-tries", optarg,
			    1, 64);
			break;
		case OPT_HALFCLOSE:
			halfclose_ms = parse_timeout("--halfclose-timeout",
			    optarg);
			break;
		case OPT_BIND_TIMEOUT:
			bind_ms = parse_timeout("--bind-timeout", optarg);
			break;
		case OPT_UDP_ANNOUNCE:
			resolve_addr("--udp-announce", optarg, &udp_announce);
			have_udp_announce = 1;
			break;
		case OPT_UDP_PORTS:
			parse_range("--udp-ports", optarg);
			break;
		case OPT_ALLOW:
			allow_rules = parse_rules("--allow", optarg, 0,
			    allow_rules);
			break;
		case OPT_DENY:
			deny_rules = parse_rules("--deny", optarg, 1,
			    deny_rules);
			break;
		case OPT_MAX_CLIENTS:
			max_clients = parse_num("--max-clients", optarg, 1,
			    1000000);
			break;
		case OPT_MAX_PER_IP:
			max_per_ip = parse_num("--max-per-ip", optarg, 1,
			    1000000);
			break;
		case OPT_BIND_IFACE:
#ifdef SO_BINDTODEVICE
			if (!if_nametoindex(optarg))
				usage_error("--bind-interface",
				    "no interface '%s'", optarg);
			bind_device = optarg;
#else
			usage_error("--bind-interface",
			    "not supported on this system");
#endif
			break;
		case OPT_USERS:
			users_path = optarg;
			auth_required = 1;
			break;
		case OPT_ONCE_TTL:
			once_ttl_ms = parse_timeout("--auth-once-ttl", optarg);
			break;
		case OPT_ONCE_MAX:
			once_max = (size_t)parse_num("--auth-once-max", optarg,
			    1, 1000000);
			break;
		case OPT_LOG_FORMAT:
			if (logfmt_check(optarg, &bad) < 0 && !bad[1])
				usage_error("--log-format", "'%%' at the end");
			if (logfmt_check(optarg, &bad) < 0)
				usage_error("--log-format", "unknown '%c%c'",
				    bad[0], bad[1]);
			log_format = optarg;
			log_format_port = strstr(optarg, "%p") != NULL;
			break;
		case OPT_LOG_TIME:
			if (strcmp(optarg, "utc") && strcmp(optarg, "local"))
				usage_error("--log-time", "'%s' is not utc or "
				    "local", optarg);
			local_time = !strcmp(optarg, "local");
			break;
		case OPT_SYSLOG:
			syslog = 1;
			break;
		case OPT_GRACE:
			grace_ms = (int)parse_num("--grace", optarg, 0, 2000000) *
			    1000;
			break;
		case 'V':
			say(1, "microsocks %s\n", VERSION);
			return 0;
		case 'h':
			put_text(1, usage_text, sizeof usage_text - 1);
			return 0;
		case ':':
			usage_error(opt_name(argv, longidx, optopt, optbuf),
			    "requires an argument");
			break;
		default:
			usage_error(opt_name(argv, -1, optopt, optbuf),
			    "unknown option");
		}
	}
	if (optind < argc)
		usage_error(argv[optind], "unexpected argument");
	if (have_user && !pass_given)
		usage_error("-u", "needs -P");
	if (pass_given && !have_user)
		usage_error("-P", "needs -u");
	if (auth_once && !auth_required)
		usage_error("-1", "needs -u and -P, or --users");
	if (whitelists && !auth_required)
		usage_error("-w", "needs -u and -P, or --users");
	if (whitelists) {
		auth_ips = sblist_new(sizeof(struct rule), 8);
		if (!auth_ips) {
			perror("microsocks");
			return 1;
		}
	}
	for (i = 0; whitelists && i < sblist_getsize(whitelists); i++)
		parse_whitelist(*(char **)sblist_get(whitelists, i));
	sblist_free(whitelists);
	if (local_time && log_local_zone() < 0)
		usage_error("--log-time", "cannot read the local time zone "
		    "(TZ or /etc/localtime)");
	if (syslog && !log_quiet && log_to_syslog() < 0)
		start_error("--syslog", "%s: %s", LOG_SYSLOG_PATH,
		    strerror(errno));
	if (bind_arg)
		check_bind_addr(bind_arg);
	users_lock_init();
	if (users_path)
		load_users(1);
	if (auth_once && once_init(once_max, once_ttl_ms) < 0) {
		perror("microsocks");
		return 1;
	}

	/* a client gone while we write is an error return, not a signal */
	signal(SIGPIPE, SIG_IGN);
	/* all set before the first "listening" line, that tells the world
	 * we are up; the signals blocked before any thread starts */
	sigfd = signals_init();
	if (sigfd < 0 || pipe2(wake, O_NONBLOCK | O_CLOEXEC) < 0 ||
	    clients_init(max_clients, max_per_ip, wake[1]) < 0) {
		perror("microsocks");
		return 1;
	}
	accept_ep = epoll_create1(EPOLL_CLOEXEC);
	accept_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (accept_ep < 0 || accept_evfd < 0) {
		perror("microsocks");
		return 1;
	}
	if (thread_init(&client_ops) < 0) {
		perror("microsocks: thread");
		return 1;
	}
	nl = open_listeners(la, nla, port, lfd, &activated);
	for (i = 0; i < (size_t)nl; i++) {
		ev.events = EPOLLIN | EPOLLONESHOT;
		ev.data.fd = lfd[i];
		if (epoll_ctl(accept_ep, EPOLL_CTL_ADD, lfd[i], &ev) < 0) {
			perror("microsocks: epoll");
			return 1;
		}
	}
	systemd_notify("READY=1");
	accept_loop(lfd, nl, sigfd);
	drain(lfd, nl, activated, sigfd, wake[0]);
	return 0;
}
