/* SPDX-License-Identifier: MIT */
/* Bulk throughput over 1..64 parallel streams, up (the client writes, the
 * sink counts) or down (the source writes, the client counts).  Bytes are
 * counted where they arrive, over a window that starts after a warm-up,
 * together with the server's CPU time over the same window. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define MAX_STREAMS 1024

/* the bytes, time and server CPU at one edge of the window */
struct mark {
	double t;
	unsigned long long bytes;
	double cpu;
};

struct pump {
	const struct server *s;
	struct target *t;
	int up;
	int ep;
	char *buf;
	unsigned long long got;	/* down: read by the client */
};

static void
mark(struct pump *p, struct mark *m)
{
	struct proc_usage u;

	m->t = now_s();
	m->bytes = p->up ? atomic_load(&p->t->sink_bytes) : p->got;
	/* after the bytes: a /proc scan takes a moment, at both edges */
	m->cpu = server_usage(p->s, 0, &u) == 0 ? u.cpu_s : NAN;
}

/* with edge triggering, each event must be followed until EAGAIN */
static void
pump_write(int fd, const char *buf)
{
	ssize_t n;

	do
		n = send(fd, buf, BULK_CHUNK, MSG_NOSIGNAL);
	while (n > 0 || (n < 0 && errno == EINTR));
}

static void
pump_read(struct pump *p, int fd)
{
	ssize_t n;

	do {
		n = recv(fd, p->buf, BULK_CHUNK, 0);
		if (n > 0)
			p->got += (unsigned long long)n;
	} while (n > 0 || (n < 0 && errno == EINTR));
}

static void
pump_events(struct pump *p, int timeout_ms)
{
	struct epoll_event ev[64];
	int i, n;

	n = epoll_wait(p->ep, ev, 64, timeout_ms);
	for (i = 0; i < n; i++) {
		if (p->up)
			pump_write(ev[i].data.fd, p->buf);
		else
			pump_read(p, ev[i].data.fd);
	}
}

/* keeps the streams busy through warm-up and window; marks the window */
static void
pump_run(struct pump *p, double warmup_s, double window_s, struct mark *m0,
    struct mark *m1)
{
	double end;

	end = now_s() + warmup_s;
	while (now_s() < end)
		pump_events(p, 10);
	mark(p, m0);
	end = m0->t + window_s;
	while (now_s() < end)
		pump_events(p, 10);
	mark(p, m1);
}

static int
pump_add(struct pump *p, int fd)
{
	struct epoll_event ev;

	ev.events = (p->up ? EPOLLOUT : EPOLLIN) | EPOLLET;
	ev.data.fd = fd;
	return epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void
result(const struct pump *p, const struct mark *m0, const struct mark *m1,
    struct thru_result *r)
{
	double bytes = (double)(m1->bytes - m0->bytes);

	r->gbps = bytes / (m1->t - m0->t) / 1e9;
	r->cpu_s_per_gib = p->s->kind == KIND_DIRECT || bytes <= 0 ? NAN :
	    (m1->cpu - m0->cpu) / (bytes / (1024.0 * 1024 * 1024));
}

int
thru_run(const struct server *s, struct target *t, int up, int streams,
    const struct run_opts *o, struct thru_result *r)
{
	struct pump p = { .s = s, .t = t, .up = up };
	struct mark m0, m1;
	int fds[MAX_STREAMS], i, k;

	if (streams > MAX_STREAMS)
		streams = MAX_STREAMS;
	k = tunnels_open(s->kind == KIND_DIRECT ? NULL : &s->addr,
	    &t->addr[up ? T_SINK : T_SOURCE], streams, fds, 64, 5.0, 10.0);
	r->streams = k;
	if (k == 0)
		return -1;
	p.ep = epoll_create1(EPOLL_CLOEXEC);
	p.buf = calloc(1, BULK_CHUNK);
	if (p.ep < 0 || !p.buf)
		die("out of memory or fds");
	for (i = 0; i < k; i++)
		if (pump_add(&p, fds[i]) < 0)
			die("epoll_ctl failed");
	pump_run(&p, o->warmup_s, o->thru_s, &m0, &m1);
	result(&p, &m0, &m1, r);
	fds_close(fds, k);
	close(p.ep);
	free(p.buf);
	/* the next measurement starts on a quiet machine */
	target_wait_idle(t, 5.0);
	return 0;
}
