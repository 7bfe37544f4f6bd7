/* SPDX-License-Identifier: MIT */
/* What idle tunnels cost a server: its memory and fds when idle, with a
 * thousand tunnels open, with the full number, and after they all closed.
 * A tunnel is established through the server to the echo target, which
 * holds it open; nothing is sent on it. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

/* handshakes in flight: enough to be quick, few enough that the server's
 * listen backlog is never overrun */
#define OPEN_INFLIGHT 256
#define OPEN_CONN_TIMEOUT_S 10.0
#define OPEN_TIMEOUT_S 30.0
/* for the server's threads to finish settling before a sample */
#define SETTLE_S 0.3
/* how long a server's fd count may stay put above idle before we stop
 * waiting for it to drop */
#define STABLE_S 2.0

static void
sample(const struct server *s, int tunnels, struct idle_point *p)
{
	struct proc_usage u;

	server_usage(s, USAGE_MEM | USAGE_FDS, &u);
	p->tunnels = tunnels;
	p->rss_kib = u.rss_kib;
	p->anon_kib = u.anon_kib;
	p->pss_kib = u.pss_kib;
	p->fds = u.fds;
	p->nprocs = u.nprocs;
}

/* opens tunnels until have + n; the new total */
static int
open_more(const struct server *s, struct target *t, int *fds, int have,
    int n)
{
	return have + tunnels_open(&s->addr, &t->addr[T_ECHO], n, fds + have,
	    OPEN_INFLIGHT, OPEN_CONN_TIMEOUT_S, OPEN_TIMEOUT_S);
}

/* waits, bounded, for the server's fd count to be back to idle_fds; the
 * time since t0 that took, or NAN when it did not happen.  A count that
 * stays put for a while is final: dante keeps the workers it forked. */
static double
wait_fds_back(const struct server *s, int idle_fds, double t0)
{
	double start = now_s(), t, since = start;
	struct proc_usage u;
	int last = -1;

	for (;;) {
		t = now_s();
		if (server_usage(s, USAGE_FDS, &u) < 0 || u.fds <= idle_fds)
			return t - t0;
		if (u.fds != last) {
			last = u.fds;
			since = t;
		}
		if (t - start > IDLE_CLOSE_TIMEOUT_S || t - since > STABLE_S)
			return NAN;
		sleep_s(0.05);
	}
}

/* the targets close first, and each client when it sees their EOF come
 * through the server: see enum target_kind for why */
static void
close_tunnels(struct target *t, int *fds, int n)
{
	target_close_echo(t, 5.0);
	fds_close_on_eof(fds, n, IDLE_CLOSE_TIMEOUT_S);
}

int
idle_run(const struct server *s, struct target *t,
    const struct run_opts *o, struct idle_result *r)
{
	int small = o->tunnels_small, *fds, n = 0;
	double t0;

	if (s->kind == KIND_DIRECT || s->pid <= 0)
		return -1;
	fds = malloc((size_t)o->tunnels * sizeof *fds);
	if (!fds)
		die("out of memory");
	sample(s, 0, &r->idle);
	n = open_more(s, t, fds, n, small);
	sleep_s(SETTLE_S);
	sample(s, n, &r->small);
	/* a server that could not take the small number will not take more */
	if (n == small)
		n = open_more(s, t, fds, n, o->tunnels - n);
	sleep_s(SETTLE_S);
	sample(s, n, &r->full);
	t0 = now_s();
	close_tunnels(t, fds, n);
	free(fds);
	r->close_wait_s = wait_fds_back(s, r->idle.fds, t0);
	sample(s, 0, &r->closed);
	target_wait_idle(t, 5.0);
	return 0;
}
