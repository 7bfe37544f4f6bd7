/* SPDX-License-Identifier: MIT */
/* Each section runs its measurements on every server in turn (direct
 * first) and records the figures of the round, with a progress line on
 * stderr for each. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "bench.h"

const int thru_streams[NSTREAMS] = { 1, 8, 64 };
const int conn_clients[NCLIENTS] = { 1, 16, 128 };
const int scale_instances[NSCALE] = { 1, 2 };

/* direct always runs; a server only when it started */
static int
runnable(const struct server *s)
{
	return s->kind == KIND_DIRECT || s->pid > 0;
}

static void
progress(const struct section *c, const char *what, const struct server *s,
    const char *fmt, ...)
{
	char figures[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(figures, sizeof figures, fmt, ap);
	va_end(ap);
	note("[round %d/%d] %-9s %-8s %s", c->round, c->rounds, what, s->name,
	    figures);
}

static void
add(const struct section *c, int si, const char *unit, double value,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* records value under the measure name fmt, ... */
static void
add(const struct section *c, int si, const char *unit, double value,
    const char *fmt, ...)
{
	char name[40];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	report_add(si, name, unit, c->round, value);
}

static void
thru_one(const struct section *c, int si, int up, int streams)
{
	const struct server *s = &c->servers[si];
	const char *dir = up ? "up" : "down";
	struct thru_result r;
	char what[16];

	snprintf(what, sizeof what, "%s x%d", dir, streams);
	if (thru_run(s, c->target, up, streams, c->opts, &r) < 0) {
		note("[round %d/%d] %-9s %-8s no stream could be opened",
		    c->round, c->rounds, what, s->name);
		return;
	}
	if (r.streams < streams)
		note("note: %s %s: only %d of %d streams opened", s->name, what,
		    r.streams, streams);
	add(c, si, "GB/s", r.gbps, M_THRU, dir, streams);
	add(c, si, "s/GiB", r.cpu_s_per_gib, M_THRU_CPU, dir, streams);
	progress(c, what, s, isnan(r.cpu_s_per_gib) ? "%.3f GB/s" :
	    "%.3f GB/s, server %.3f CPU s/GiB", r.gbps, r.cpu_s_per_gib);
}

void
section_thru(const struct section *c)
{
	int up, k, si;

	for (up = 1; up >= 0; up--)
		for (k = 0; k < NSTREAMS; k++)
			for (si = 0; si < c->nservers; si++)
				if (runnable(&c->servers[si]))
					thru_one(c, si, up, thru_streams[k]);
}

static void
conn_one(const struct section *c, int si, int clients)
{
	const struct server *s = &c->servers[si];
	struct conn_result r;
	char what[16], per[80] = "";
	int n;

	snprintf(what, sizeof what, "conn x%d", clients);
	connrate_run(s, c->target, clients, 1, c->opts, &r);
	add(c, si, "conn/s", r.rate, M_CONN, clients);
	add(c, si, "us", r.hs_p50_us, M_CONN_P50, clients);
	add(c, si, "us", r.hs_p99_us, M_CONN_P99, clients);
	add(c, si, "count", (double)r.errors, M_CONN_ERR, clients);
	add(c, si, "us", r.cpu_us_per_conn, M_CONN_CPU, clients);
	add(c, si, "count", r.sys_per_conn, M_CONN_SYS, clients);
	add(c, si, "count", r.cs_per_conn, M_CONN_CS, clients);
	n = 0;
	if (!isnan(r.cpu_us_per_conn))
		n += snprintf(per + n, sizeof per - (size_t)n,
		    ", server a conn: %.1f CPU us", r.cpu_us_per_conn);
	if (!isnan(r.sys_per_conn))
		n += snprintf(per + n, sizeof per - (size_t)n,
		    ", %.1f syscalls", r.sys_per_conn);
	if (!isnan(r.cs_per_conn))
		snprintf(per + n, sizeof per - (size_t)n, ", %.2f cs",
		    r.cs_per_conn);
	progress(c, what, s, "%.0f conn/s, handshake p50 %.0f us%s", r.rate,
	    r.hs_p50_us, per);
	if (r.errors)
		note("note: %s %s: %ld failed connections", s->name, what,
		    r.errors);
}

void
section_conn(const struct section *c)
{
	int k, si;

	for (k = 0; k < NCLIENTS; k++)
		for (si = 0; si < c->nservers; si++)
			if (runnable(&c->servers[si]))
				conn_one(c, si, conn_clients[k]);
}

void
section_lat(const struct section *c)
{
	struct lat_result r;
	int si;

	for (si = 0; si < c->nservers; si++) {
		if (!runnable(&c->servers[si]))
			continue;
		if (latency_run(&c->servers[si], c->target, c->opts, &r) < 0) {
			note("note: %s: latency: tunnel failed",
			    c->servers[si].name);
			continue;
		}
		add(c, si, "us", r.p50_us, M_RTT_P50);
		add(c, si, "us", r.p99_us, M_RTT_P99);
		progress(c, "rtt", &c->servers[si], "p50 %.1f us, p99 %.1f us",
		    r.p50_us, r.p99_us);
	}
}

static void
idle_point(const struct section *c, int si, const char *state,
    const struct idle_point *p)
{
	add(c, si, "KiB", (double)p->rss_kib, M_RSS, state);
	add(c, si, "KiB", (double)p->anon_kib, M_ANON, state);
	add(c, si, "KiB", (double)p->pss_kib, M_PSS, state);
	add(c, si, "count", p->fds, M_FDS, state);
	add(c, si, "count", p->nprocs, M_PROCS, state);
}

/* what a tunnel costs, from the difference to idle */
static void
idle_per_tunnel(const struct section *c, int si, const char *state,
    const struct idle_point *idle, const struct idle_point *p)
{
	double n = p->tunnels;

	add(c, si, "count", n, M_TUNNELS, state);
	if (n <= 0)
		return;
	add(c, si, "KiB", (double)(p->rss_kib - idle->rss_kib) / n,
	    M_RSS_PER, state);
	add(c, si, "KiB", (double)(p->anon_kib - idle->anon_kib) / n,
	    M_ANON_PER, state);
	add(c, si, "KiB", (double)(p->pss_kib - idle->pss_kib) / n,
	    M_PSS_PER, state);
	add(c, si, "count", (p->fds - idle->fds) / n, M_FDS_PER, state);
}

static void
idle_one(const struct section *c, int si)
{
	const struct server *s = &c->servers[si];
	char small[16], full[16];
	struct idle_result r;

	if (idle_run(s, c->target, c->opts, &r) < 0)
		return;
	snprintf(small, sizeof small, "t%d", c->opts->tunnels_small);
	snprintf(full, sizeof full, "t%d", c->opts->tunnels);
	idle_point(c, si, "idle", &r.idle);
	idle_point(c, si, small, &r.small);
	idle_point(c, si, full, &r.full);
	idle_point(c, si, "closed", &r.closed);
	idle_per_tunnel(c, si, small, &r.idle, &r.small);
	idle_per_tunnel(c, si, full, &r.idle, &r.full);
	add(c, si, "s", r.close_wait_s, M_CLOSE_WAIT);
	progress(c, "idle", s, "%.0f tunnels, %.1f KiB RSS each",
	    (double)r.full.tunnels, r.full.tunnels ?
	    (double)(r.full.rss_kib - r.idle.rss_kib) / r.full.tunnels : NAN);
	if (r.full.tunnels < c->opts->tunnels)
		note("note: %s: only %d of %d idle tunnels established",
		    s->name, r.full.tunnels, c->opts->tunnels);
	if (isnan(r.close_wait_s))
		note("note: %s: fds not back to idle after the tunnels closed: "
		    "%d, idle %d", s->name, r.closed.fds, r.idle.fds);
}

void
section_idle(const struct section *c)
{
	int si;

	for (si = 0; si < c->nservers; si++)
		if (c->servers[si].kind != KIND_DIRECT &&
		    runnable(&c->servers[si]))
			idle_one(c, si);
}

/* the conn loop on ours as scale_instances[k] processes; the figures go
 * under ours, the measure names carry the number of instances */
static void
scale_one(const struct section *c, int k, int clients)
{
	const struct server *s = &c->scale[k];
	int n = scale_instances[k];
	struct conn_result r;
	char what[16];

	snprintf(what, sizeof what, "scale x%d", clients);
	connrate_run(s, c->target, clients, 0, c->opts, &r);
	add(c, c->ours, "conn/s", r.rate, M_SCALE, n, clients);
	add(c, c->ours, "us", r.cpu_us_per_conn, M_SCALE_CPU, n, clients);
	add(c, c->ours, "count", (double)r.errors, M_SCALE_ERR, n, clients);
	progress(c, what, s, "%.0f conn/s, server %.1f CPU us/conn", r.rate,
	    r.cpu_us_per_conn);
	if (r.errors)
		note("note: %s %s: %ld failed connections", s->name, what,
		    r.errors);
}

/* Ours once as one process and once as two on one port, both started
 * for the whole section, each on a port of its own, and measured in turn
 * at each number of clients. */
void
section_scale(const struct section *c)
{
	int k, j;

	if (c->ours < 0)
		return;
	for (k = 0; k < NSCALE; k++)
		if (server_start(&c->scale[k]) < 0)
			note("note: %s did not start: left out of this section",
			    c->scale[k].name);
	for (j = 0; j < NCLIENTS; j++)
		for (k = 0; k < NSCALE; k++)
			if (c->scale[k].pid > 0)
				scale_one(c, k, conn_clients[j]);
	for (k = 0; k < NSCALE; k++)
		server_stop(&c->scale[k]);
}
