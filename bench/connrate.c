/* SPDX-License-Identifier: MIT */
/* Connection rate: a fixed number of clients, each in a loop of connect,
 * SOCKS5 handshake (no auth, CONNECT to the echo target), one 64-byte
 * echo, close.  Direct, a loop is a TCP connect, the echo and close.
 * The target closes first, after its echo, and the client closes when it
 * sees that EOF: see enum target_kind for why.
 * Counted are the loops that end within the window after a warm-up, and
 * the handshake time of each: from before connect() to the CONNECT reply
 * (direct: to the connect's completion); and the server's CPU time
 * (utime+stime, all instances) over the window, per connection, and if
 * asked its system calls and context switches (see counters.c). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* a loop stuck this long is a failure, and the client starts again */
#define LOOP_TIMEOUT_S 3.0
#define MAX_SAMPLES (4u << 20)

enum phase { IDLE, HANDSHAKE, ECHO };

struct client {
	struct hs h;
	enum phase phase;
	uint32_t gen;		/* tells a stale event from the new fd's */
	size_t echoed;
};

struct rater {
	const struct sockaddr_in *proxy, *echo;
	int ep;
	struct client *c;
	int n;
	double w0, w1;		/* the window */
	double cpu0;		/* the server's CPU seconds at w0; NAN: not
				 * read yet, or direct */
	struct counts n0;	/* its system calls, context switches at w0 */
	long done, errors;
	struct samples hs_us;
};

static int
in_window(const struct rater *r, double t)
{
	return t >= r->w0 && t < r->w1;
}

static void
client_start(struct rater *r, int i)
{
	struct client *c = &r->c[i];
	struct epoll_event ev;

	c->phase = IDLE;
	if (hs_begin(&c->h, r->proxy, r->echo) < 0) {
		r->errors += in_window(r, now_s());
		return;
	}
	c->gen++;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = (uint64_t)c->gen << 32 | (uint32_t)i;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->h.fd, &ev) < 0) {
		close(c->h.fd);
		r->errors += in_window(r, now_s());
		return;
	}
	c->phase = HANDSHAKE;
}

/* ends the loop, counted as done or as an error, and starts the next */
static void
client_end(struct rater *r, int i, int ok)
{
	struct client *c = &r->c[i];
	double t = now_s();

	close(c->h.fd);
	if (in_window(r, t)) {
		if (ok)
			r->done++;
		else
			r->errors++;
	}
	client_start(r, i);
}

/* 1 when the whole message came back and then EOF, 0 when more must come,
 * -1 on error or anything else */
static int
echo_read(struct client *c)
{
	unsigned char buf[MSG_SIZE + 1];
	ssize_t n;

	for (;;) {
		/* one byte more than the echo: EOF must follow it */
		n = recv(c->h.fd, buf, MSG_SIZE + 1 - c->echoed, 0);
		if (n > 0)
			c->echoed += (size_t)n;
		else if (n == 0)
			return c->echoed == MSG_SIZE ? 1 : -1;
		else if (errno != EINTR)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		if (c->echoed > MSG_SIZE)
			return -1;
	}
}

/* the handshake is through: its time, then the echo's request */
static int
handshake_done(struct rater *r, struct client *c)
{
	static const unsigned char msg[MSG_SIZE] = "socksbench";
	double t = now_s();

	if (in_window(r, t))
		samples_add(&r->hs_us, (t - c->h.t_start) * 1e6);
	c->phase = ECHO;
	c->echoed = 0;
	return send(c->h.fd, msg, MSG_SIZE, MSG_NOSIGNAL) == MSG_SIZE ? 0 : -1;
}

static void
client_event(struct rater *r, int i, uint32_t ev)
{
	struct client *c = &r->c[i];
	enum hs_state st;
	int e;

	if (c->phase == HANDSHAKE) {
		st = hs_advance(&c->h, ev, r->proxy, r->echo);
		if (st == HS_FAILED || (st == HS_DONE &&
		    handshake_done(r, c) < 0)) {
			client_end(r, i, 0);
			return;
		}
	}
	if (c->phase == ECHO && (e = echo_read(c)) != 0)
		client_end(r, i, e > 0);
}

static void
handle_events(struct rater *r)
{
	struct epoll_event ev[256];
	int k, n, i;

	n = epoll_wait(r->ep, ev, 256, 5);
	for (k = 0; k < n; k++) {
		i = (int)(ev[k].data.u64 & 0xffffffffu);
		if ((uint32_t)(ev[k].data.u64 >> 32) == r->c[i].gen &&
		    r->c[i].phase != IDLE)
			client_event(r, i, ev[k].events);
	}
}

/* clients that could not start, or are stuck, start again */
static void
tend_clients(struct rater *r)
{
	double t = now_s();
	int i;

	for (i = 0; i < r->n; i++) {
		if (r->c[i].phase == IDLE)
			client_start(r, i);
		else if (t - r->c[i].h.t_start > LOOP_TIMEOUT_S)
			client_end(r, i, 0);
	}
}

/* the server's CPU seconds; NAN for direct, or when /proc fails */
static double
server_cpu(const struct server *s)
{
	struct proc_usage u;

	return server_usage(s, 0, &u) == 0 ? u.cpu_s : NAN;
}

/* (n1 - n0) / done, for each count */
static void
per_conn(const struct counts *n0, const struct counts *n1, long done,
    struct conn_result *res)
{
	res->sys_per_conn = done > 0 ? (n1->syscalls - n0->syscalls) /
	    (double)done : NAN;
	res->cs_per_conn = done > 0 ? (n1->switches - n0->switches) /
	    (double)done : NAN;
}

int
connrate_run(const struct server *s, struct target *t, int clients,
    int count, const struct run_opts *o, struct conn_result *res)
{
	struct counters k;
	struct counts n1;
	struct rater r;
	double cpu1;
	int marked = 0, counting, i;

	memset(&r, 0, sizeof r);
	r.proxy = s->kind == KIND_DIRECT ? NULL : &s->addr;
	r.echo = &t->addr[T_ECHO_ONCE];
	r.n = clients;
	r.c = calloc((size_t)clients, sizeof *r.c);
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!r.c || r.ep < 0)
		die("out of memory or fds");
	samples_init(&r.hs_us, MAX_SAMPLES);
	r.cpu0 = NAN;
	/* before the warm-up: attaching to each thread takes a moment */
	counting = count && o->counters && counters_open(&k, s) == 0;
	r.w0 = now_s() + o->warmup_s;
	r.w1 = r.w0 + o->conn_s;
	for (i = 0; i < clients; i++)
		client_start(&r, i);
	while (now_s() < r.w1) {
		handle_events(&r);
		tend_clients(&r);
		/* once, at the window's start: a /proc scan takes a moment
		 * with the clients stalled, at both edges alike */
		if (!marked && now_s() >= r.w0) {
			r.cpu0 = server_cpu(s);
			if (counting)
				counters_read(&k, &r.n0);
			marked = 1;
		}
	}
	cpu1 = server_cpu(s);
	res->sys_per_conn = res->cs_per_conn = NAN;
	if (counting) {
		counters_read(&k, &n1);
		per_conn(&r.n0, &n1, r.done, res);
		counters_close(&k);
	}
	for (i = 0; i < clients; i++)
		if (r.c[i].phase != IDLE)
			close(r.c[i].h.fd);
	res->rate = (double)r.done / o->conn_s;
	res->cpu_us_per_conn = r.done > 0 ? (cpu1 - r.cpu0) * 1e6 /
	    (double)r.done : NAN;
	res->hs_p50_us = samples_quantile(&r.hs_us, 0.50);
	res->hs_p99_us = samples_quantile(&r.hs_us, 0.99);
	res->errors = r.errors;
	samples_free(&r.hs_us);
	free(r.c);
	close(r.ep);
	target_wait_idle(t, 5.0);
	return 0;
}
