/* SPDX-License-Identifier: MIT */
/* The listening sockets and the taking of clients from them. A spare
 * thread waits on all the listeners at once, in an epoll set where each
 * is armed for one event: a client wakes one thread, which takes it and
 * arms the listener again for the next.
 *
 * Why not the simpler shape, a main thread that accepts and hands each
 * client to a parked thread: a hand-off wakes two threads per client
 * where this wakes one. Measured in one run each, against a build with
 * the hand-off (same tests passing): 5.1-5.6 context switches of the
 * server per connection here against 5.8-6.5 (one CONNECT, 64 bytes
 * echoed, close; 1 and 16 clients); with `make bench`, connections per
 * second at 16 clients ahead in four runs of four (by 5, 5, 6 and 27%),
 * handshake p50 at 16 clients 6 to 57% shorter. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accept.h"
#include "clients.h"
#include "config.h"
#include "log.h"
#include "session.h"
#include "systemd.h"
#include "thread.h"

/* pause after a failure for lack of fds, threads or memory, so that the
 * accept loop waits for resources instead of spinning on the error */
#ifndef FAILURE_TIMEOUT_MS
#define FAILURE_TIMEOUT_MS 50
#endif

static int lfd[CONFIG_MAX_LISTEN];
static int nlfd;
static int activated;		/* the listeners are systemd's */

/* the listeners, for the spare threads to wait on, one shot each */
static int accept_ep = -1;
/* wakes accept_serve() when no spare thread is left */
static int accept_evfd = -1;
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
/* under accept_lock: the listeners are open, to be taken from */
static int accepting = 1;
/* under accept_lock: a spare fd, given up to refuse a client when there
 * is none left */
static int reserve = -1;
/* the first of a run of resource failures was logged */
static _Atomic int shortage;

/* 1 for 127.0.0.0/8 and ::1 */
static int
is_loopback(const union sockaddr_union *u)
{
	if (u->sa.sa_family == AF_INET)
		return (ntohl(u->v4.sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&u->v6.sin6_addr);
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
	if (!config.auth_required && !config.allow && !is_loopback(&u))
		log_msg(LOG_L_WARNING, "microsocks: warning: an open proxy: "
		    "anyone who reaches %s may use it; see -u, -P, --allow",
		    name);
}

/* a listener on host and port, or exit */
static int
listen_on(const char *host, long port)
{
	struct addrinfo *res, *ai;
	char where[300];
	int fd = -1, err;

	err = server_resolve(host, (unsigned short)port, AI_PASSIVE, &res);
	if (err)
		config_usage_fail("-i", "cannot resolve '%s': %s", host,
		    gai_strerror(err));
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = server_listen(ai, config.reuseport);
	err = errno;
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(where, sizeof where, "%s port %ld", host, port);
		config_fail(where, "%s", strerror(err));
	}
	return fd;
}

int
accept_init(void)
{
	accept_ep = epoll_create1(EPOLL_CLOEXEC);
	accept_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return accept_ep < 0 || accept_evfd < 0 ? -1 : 0;
}

void
accept_open(void)
{
	const struct config_listen *l = config.listen;
	struct epoll_event ev;
	int i, n = systemd_listen_fds();

	if (n < 0)
		config_fail("socket activation", "%s", strerror(errno));
	if (n > CONFIG_MAX_LISTEN)
		config_fail("socket activation", "more than %d sockets",
		    CONFIG_MAX_LISTEN);
	activated = n > 0;
	for (i = 0; i < n; i++)
		lfd[i] = 3 + i;
	if (n == 0 && config.nlisten == 0)
		lfd[n++] = listen_on("0.0.0.0", config.port);
	for (; n < config.nlisten; n++)
		lfd[n] = listen_on(l[n].host, l[n].port < 0 ? config.port :
		    l[n].port);
	nlfd = n;
	for (i = 0; i < n; i++) {
		ev.events = EPOLLIN | EPOLLONESHOT;
		ev.data.fd = lfd[i];
		if (epoll_ctl(accept_ep, EPOLL_CTL_ADD, lfd[i], &ev) < 0)
			config_fail("epoll", "%s", strerror(errno));
	}
	for (i = 0; i < n; i++)
		announce(lfd[i]);
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

/* With accept_lock held: fd is a spare thread's to take a client from
 * again. */
static void
rearm(int fd)
{
	struct epoll_event ev;

	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.fd = fd;
	if (accepting)
		epoll_ctl(accept_ep, EPOLL_CTL_MOD, fd, &ev);
}

/* accept()'s failure err, logged and paused on when it is for lack of
 * resources */
static void
accept_failed(int err)
{
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
}

/* Takes a client from fd into *cl, unless the rules, the limits or a
 * shortage turn it away; with one_shot, arms fd again for the next.
 * Returns 1 when there is a client to serve, else 0. */
static int
accept_client(int fd, struct client *cl, int one_shot)
{
	socklen_t len = sizeof cl->addr;
	char name[SA_STRLEN];
	enum admit admit = ADMIT_OK;
	int cfd, err, allowed = 1;

	pthread_mutex_lock(&accept_lock);
	if (!accepting) {
		pthread_mutex_unlock(&accept_lock);
		return 0;
	}
	/* taken back as soon as an fd is free again */
	if (reserve < 0)
		reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cfd = accept4(fd, &cl->addr.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	err = cfd < 0 ? errno : 0;
	if ((err == EMFILE || err == ENFILE) && reserve >= 0) {
		close(reserve);
		cfd = accept(fd, NULL, NULL);
		if (cfd >= 0)
			close(cfd);
		cfd = -1;
		reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
		clients_refused();
	}
	/* Counted in before the lock goes: a stop that finds accepting
	 * off then counts this client too, and waits for its end. */
	if (cfd >= 0) {
		sa_unmap(&cl->addr);
		/* a balancer's client is known by its PROXY header, and
		 * admitted then, by accept_admit() */
		cl->balancer = config_in(config.proxy_from, &cl->addr);
		cl->counted = !cl->balancer;
		/* --allow: others go before a byte is read */
		allowed = cl->balancer || !config.allow ||
		    config_in(config.allow, &cl->addr);
		if (allowed)
			admit = clients_admit(cl->counted ? &cl->addr : NULL);
	}
	/* the next client is another thread's; after a failure, the same
	 * thread's, after its pause */
	if (one_shot && cfd >= 0)
		rearm(fd);
	pthread_mutex_unlock(&accept_lock);
	if (cfd < 0) {
		accept_failed(err);
		if (one_shot) {
			pthread_mutex_lock(&accept_lock);
			rearm(fd);
			pthread_mutex_unlock(&accept_lock);
		}
		return 0;
	}
	cl->fd = cfd;
	cl->start = now_ms();
	if (!allowed) {
		log_line("client %s: not allowed", sa_str(&cl->addr, name));
		clients_refused();
		close(cfd);
		return 0;
	}
	switch (admit) {
	case ADMIT_OK:
		return 1;
	case ADMIT_NOMEM:
		close(cfd);
		cannot_serve("out of memory");
		return 0;
	default:
		log_line("client %s: refused: too many clients%s",
		    sa_str(&cl->addr, name), admit == ADMIT_FULL_IP ?
		    " from this address" : "");
		close(cfd);
		return 0;
	}
}

int
accept_take(void *arg, int timeout_ms)
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

void
accept_no_spares(void)
{
	uint64_t one = 1;

	if (write(accept_evfd, &one, sizeof one) < 0)
		return;
}

/* The main thread's client, when no spare thread was left to take it:
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
	clients_cancel(cl->counted ? &cl->addr : NULL);
	close(cl->fd);
	cannot_serve(err == ENOMEM ? "out of memory" : "out of threads");
}

void
accept_serve(int sigfd)
{
	struct pollfd pfd[CONFIG_MAX_LISTEN + 2];
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
			for (i = 0; i < nlfd; i++) {
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
		if (pfd[0].revents)
			return;
	}
}

const char *
accept_admit(struct client *cl)
{
	if (config.allow && !config_in(config.allow, &cl->addr)) {
		clients_turn_away();
		return "not allowed";
	}
	switch (clients_admit_ip(&cl->addr)) {
	case ADMIT_OK:
		cl->counted = 1;
		return NULL;
	case ADMIT_NOMEM:
		return "out of memory";
	default:
		return "too many clients from this address";
	}
}

void
accept_stop(void)
{
	int i;

	pthread_mutex_lock(&accept_lock);
	accepting = 0;
	for (i = 0; i < nlfd; i++) {
		epoll_ctl(accept_ep, EPOLL_CTL_DEL, lfd[i], NULL);
		if (!activated)
			close(lfd[i]);
	}
	pthread_mutex_unlock(&accept_lock);
}
