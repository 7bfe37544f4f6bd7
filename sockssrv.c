/* SPDX-License-Identifier: MIT */
/* microsocks, a small multithreaded SOCKS server. The story: read the
 * options, set up logging, the users, signals, threads and listeners,
 * say we are ready, serve clients until told to stop, then let the
 * running sessions end. A client's own story is in session.c: the
 * handshake, the relay, the session line. */
#include <sys/signalfd.h>
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accept.h"
#include "auth.h"
#include "clients.h"
#include "config.h"
#include "log.h"
#include "relay.h"
#include "session.h"
#include "systemd.h"
#include "thread.h"

/* how long sessions stopped at the end of the grace time have to end */
#define STOP_MS 1000

/* the counts of SIGUSR1, in one line */
static void
log_stats(void)
{
	struct clients_stats st;
	char failed[128];
	size_t n = 0;
	int i;

	clients_get(&st);
	for (i = 1; i < CLIENTS_REPLIES; i++)
		if (st.replies[i] && n < sizeof failed)
			n += (size_t)snprintf(failed + n, sizeof failed - n,
			    " 0x0%d:%llu", i, st.replies[i]);
	if (n == 0)
		snprintf(failed, sizeof failed, " -");
	log_msg(LOG_L_NOTICE, "microsocks: stats: clients %llu served %llu "
	    "refused %llu up %llu down %llu failed%s auth %llu", st.now,
	    st.served, st.refused, st.up, st.down, failed, st.auth_failed);
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
			auth_reload();
			break;
		default:
			stop = 1;
		}
	}
	return stop;
}

/* The signals that the main thread takes, through a signalfd; blocked
 * before any thread starts, so that none of the others gets them. */
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

/* Waits until the last client has left (0), or until the deadline or a
 * signal to stop on sigfd (-1: none) comes first (-1). */
static int
wait_empty(int sigfd, int wakefd, long long deadline)
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

/* The stop: no new clients, then the running ones get the grace time to
 * end before the exit. Another SIGTERM or SIGINT ends it at once. */
static _Noreturn void
stop(int sigfd, int wakefd)
{
	long long deadline = now_ms() + config.grace_ms;
	struct clients_stats st;

	accept_stop();
	systemd_notify("STOPPING=1");
	clients_get(&st);
	log_msg(LOG_L_NOTICE, "microsocks: stopping, %llu clients, grace %d s",
	    st.now, config.grace_ms / 1000);
	clients_notify_empty();
	if (wait_empty(sigfd, wakefd, deadline) < 0) {
		/* the grace time is over: end the sessions, which log their
		 * lines as they go, for a moment */
		session_stop_all();
		wait_empty(-1, wakefd, now_ms() + STOP_MS);
	}
	thread_stop();
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
	accept_take, session_run, accept_no_spares, on_idle
};

/* what cannot fail but for the system: exit 1 with perror() */
static void
must(int ok, const char *what)
{
	if (!ok) {
		perror(what);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	char why[512];
	int sigfd, wake[2];

	config_read(argc, argv);
	log_quiet = config.quiet;
	if (config.log_local)
		log_local_time();
	if (config.syslog && !log_quiet && log_to_syslog() < 0)
		config_fail("--syslog", "%s: %s", LOG_SYSLOG_PATH,
		    strerror(errno));
	if (auth_init(why, sizeof why) < 0)
		config_fail(config.users_path ? "--users" : "-1", "%s", why);

	/* a client gone while we write is an error return, not a signal */
	signal(SIGPIPE, SIG_IGN);
	/* all set before the first "listening" line, which tells the world
	 * we are up; the signals blocked before any thread starts */
	sigfd = signals_init();
	must(sigfd >= 0 && pipe2(wake, O_NONBLOCK | O_CLOEXEC) == 0 &&
	    clients_init(config.max_clients, config.max_per_ip, wake[1]) == 0,
	    "microsocks");
	must(accept_init() == 0, "microsocks: epoll");
	must(thread_init(&client_ops) == 0, "microsocks: thread");
	accept_open();
	systemd_notify("READY=1");
	do
		accept_serve(sigfd);
	while (!take_signals(sigfd));
	stop(sigfd, wake[0]);
}
