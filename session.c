/* SPDX-License-Identifier: MIT */
/* A client's session on its thread: the handshake, then the relay, then
 * the log line; and the list of the sessions running, for the stop. */
#include <sys/socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clients.h"
#include "config.h"
#include "handshake.h"
#include "log.h"
#include "relay.h"
#include "session.h"
#include "target.h"
#include "thread.h"
#include "udp.h"

/* keeps a function's frame off its caller's, which may live for long */
#ifdef __GNUC__
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* a tunnel quiet for this long is taken to be idle: see trim_stack() */
#define QUIET_MS 250

/* stack that the relay's calls may use below the frame that trims it */
#ifndef STACK_MARGIN
#define STACK_MARGIN 512
#endif

/* the sessions running, for session_stop_all() */
static struct session *sessions;
static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
/* set when the grace time is over: sessions end as "stopped" */
static _Atomic int stopping;

void
session_set_user(struct session *s, const char *name)
{
	size_t n = strlen(name) + 1;

	free(s->r.user);
	/* without memory, the log line goes without the name */
	if ((s->r.user = malloc(n)))
		memcpy(s->r.user, name, n);
}

static void
session_add(struct session *s)
{
	pthread_mutex_lock(&sessions_lock);
	s->prev = NULL;
	if ((s->next = sessions))
		sessions->prev = s;
	sessions = s;
	pthread_mutex_unlock(&sessions_lock);
}

static void
session_remove(struct session *s)
{
	pthread_mutex_lock(&sessions_lock);
	if (s->next)
		s->next->prev = s->prev;
	if (s->prev)
		s->prev->next = s->next;
	else
		sessions = s->next;
	pthread_mutex_unlock(&sessions_lock);
}

/* sets the session's other fd, for session_stop_all() to see */
static void
session_tunnel(struct session *s, int fd)
{
	pthread_mutex_lock(&sessions_lock);
	s->tfd = fd;
	pthread_mutex_unlock(&sessions_lock);
}

void
session_stop_all(void)
{
	struct session *s;

	stopping = 1;
	pthread_mutex_lock(&sessions_lock);
	for (s = sessions; s; s = s->next) {
		shutdown(s->c.fd, SHUT_RDWR);
		if (s->tfd >= 0)
			shutdown(s->tfd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&sessions_lock);
}

/* A quiet tunnel may stay so for hours: give back the stack pages that
 * the handshake's deep calls touched. Not done for every tunnel, as each
 * page given back costs a fault when touched again. */
static void
trim_stack(void)
{
	thread_trim_stack(STACK_MARGIN);
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

/* Not inlined: a UDP association's state need not stay on the stack of
 * every TCP relay. */
static NOINLINE const char *
udp_session(struct session *s, struct relay_stats *st)
{
	struct udp_opts o;

	target_udp_opts(&o);
	udp_relay(s->c.fd, s->tfd, &s->r.peer, &o, st);
	return "ended";
}

/* the relay of the tunnel that the handshake set up; returns how it
 * ended */
static const char *
relay_session(struct session *s, struct relay_stats *st)
{
	struct relay_opts ro = {
		config.idle_ms, config.halfclose_ms, QUIET_MS, trim_stack
	};

	if (s->r.cmd == CMD_UDP_ASSOCIATE)
		return udp_session(s, st);
	return relay_end_str(relay(s->c.fd, s->tfd, &ro, st));
}

/* 1 for a balancer's health check that went well: its own connection
 * (PROXY LOCAL or UNKNOWN) that it closed after the greeting or a login,
 * before any request. With a check a second per instance, a line for
 * each would bury the clients'; a check that fails is logged. */
static int
check_passed(const struct session *s)
{
	return s->c.local && s->r.cmd == 0 && s->r.rep < 0 &&
	    !s->auth_failed && s->r.reason &&
	    strcmp(s->r.reason, HANDSHAKE_CLIENT_GONE) == 0;
}

/* The session's line, and its part in the statistics. Not inlined: its
 * buffers need not be on the stack during the relay. */
static NOINLINE void
session_end(struct session *s, const struct relay_stats *st)
{
	union sockaddr_union local = { .sa.sa_family = AF_UNSPEC };
	socklen_t len = sizeof local;
	struct timespec ts;

	if (!log_quiet && !check_passed(s)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		s->r.end_ms = (long long)ts.tv_sec * 1000 +
		    ts.tv_nsec / 1000000;
		s->r.duration_ms = now_ms() - s->c.start;
		if (stopping)
			s->r.reason = "stopped";
		/* what was reached, if anything was */
		if (s->r.rep != REP_SUCCESS || s->r.cmd == CMD_UDP_ASSOCIATE)
			s->r.peer.sa.sa_family = AF_UNSPEC;
		if (s->r.rep != REP_SUCCESS)
			s->r.bound.sa.sa_family = AF_UNSPEC;
		if (logfmt_has(config.log_format, 'p') &&
		    getsockname(s->c.fd, &local.sa, &len) == 0)
			s->r.listen_port = sa_port(&local);
		s->r.up = st->up;
		s->r.down = st->down;
		log_session(config.log_format, &s->r);
	}
	/* last: a stop may end as soon as the last client is counted out */
	clients_leave(s->c.counted ? &s->c.addr : NULL, s->r.rep,
	    s->auth_failed, st->up, st->down);
}

void
session_run(void *arg)
{
	struct relay_stats st = { 0, 0 };
	struct session s;
	int tfd;

	memset(&s, 0, sizeof s);
	s.c = *(const struct client *)arg;
	s.r.client = s.c.addr;
	s.r.rep = -1;
	s.r.peer.sa.sa_family = AF_UNSPEC;
	s.r.bound.sa.sa_family = AF_UNSPEC;
	s.tfd = -1;
	session_add(&s);
	if ((tfd = handshake(&s, &s.r.reason)) >= 0) {
		session_tunnel(&s, tfd);
		s.r.reason = relay_session(&s, &st);
		/* out of the stop's sight before its number can be reused */
		session_tunnel(&s, -1);
		close(tfd);
	}
	session_remove(&s);
	session_end(&s, &st);
	free(s.r.user);
	close(s.c.fd);
}
