/* SPDX-License-Identifier: MIT */
/* The client side of a SOCKS5 tunnel, as a state machine driven by
 * epoll: connect, greeting with the no-auth method only, CONNECT to an
 * IPv4 address, reply.  Each message is sent whole once the previous
 * answer is in, as ordinary clients do.  Replies are read exactly, never
 * beyond, so that the target's first bytes stay in the socket. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* how many failed connections tunnels_open() tolerates before it stops
 * starting new ones: a server out of fds would otherwise be hammered */
#define MAX_FAILURES 64

int
hs_begin(struct hs *h, const struct sockaddr_in *proxy,
    const struct sockaddr_in *target)
{
	h->t_start = now_s();
	h->have = 0;
	h->fd = connect_start(proxy ? proxy : target);
	h->state = h->fd < 0 ? HS_FAILED : HS_CONNECTING;
	return h->fd;
}

/* a short send of a few bytes on a fresh socket is a failure */
static int
send_all(int fd, const void *msg, size_t len)
{
	return send(fd, msg, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* reads up to need bytes in all; 1 when they are in, 0 when more must
 * come, -1 on EOF or error */
static int
read_upto(struct hs *h, size_t need)
{
	ssize_t n;

	while (h->have < need) {
		n = recv(h->fd, h->buf + h->have, need - h->have, 0);
		if (n > 0)
			h->have += (size_t)n;
		else if (n == 0)
			return -1;
		else if (errno != EINTR)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
	return 1;
}

/* length of the CONNECT reply as far as the bytes in hand tell: 4 until
 * the address type is known; -1 for an unknown address type */
static int
reply_len(const unsigned char *b, size_t have)
{
	if (have < 4)
		return 4;
	switch (b[3]) {
	case 1:
		return 4 + 4 + 2;
	case 4:
		return 4 + 16 + 2;
	case 3:
		return have < 5 ? 5 : 4 + 1 + b[4] + 2;
	default:
		return -1;
	}
}

static enum hs_state
on_connect(struct hs *h, uint32_t ev, int via_proxy)
{
	static const unsigned char greeting[] = { 5, 1, 0 };
	socklen_t len = sizeof(int);
	int err = 0;

	if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return HS_CONNECTING;
	if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		return HS_FAILED;
	if (!(ev & EPOLLOUT))
		return HS_CONNECTING;
	if (!via_proxy)
		return HS_DONE;
	return send_all(h->fd, greeting, sizeof greeting) < 0 ?
	    HS_FAILED : HS_METHOD;
}

static enum hs_state
on_method(struct hs *h, const struct sockaddr_in *target)
{
	unsigned char req[10] = { 5, 1, 0, 1 };
	int r = read_upto(h, 2);

	if (r <= 0)
		return r < 0 ? HS_FAILED : HS_METHOD;
	if (h->buf[0] != 5 || h->buf[1] != 0)
		return HS_FAILED;
	/* already in network byte order */
	memcpy(req + 4, &target->sin_addr, 4);
	memcpy(req + 8, &target->sin_port, 2);
	h->have = 0;
	return send_all(h->fd, req, sizeof req) < 0 ? HS_FAILED : HS_REPLY;
}

static enum hs_state
on_reply(struct hs *h)
{
	int need, r;

	for (;;) {
		need = reply_len(h->buf, h->have);
		if (need < 0)
			return HS_FAILED;
		if (h->have == (size_t)need)
			return h->buf[0] == 5 && h->buf[1] == 0 ?
			    HS_DONE : HS_FAILED;
		r = read_upto(h, (size_t)need);
		if (r <= 0)
			return r < 0 ? HS_FAILED : HS_REPLY;
	}
}

enum hs_state
hs_advance(struct hs *h, uint32_t ev, const struct sockaddr_in *proxy,
    const struct sockaddr_in *target)
{
	enum hs_state prev;

	/* each step either moves on or waits for the next event */
	do {
		prev = h->state;
		switch (h->state) {
		case HS_CONNECTING:
			h->state = on_connect(h, ev, proxy != NULL);
			break;
		case HS_METHOD:
			h->state = on_method(h, target);
			break;
		case HS_REPLY:
			h->state = on_reply(h);
			break;
		default:
			break;
		}
	} while (h->state != prev);
	return h->state;
}

void
fds_close(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

void
fds_close_on_eof(int *fds, int n, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	struct epoll_event ev[256];
	int ep, i, k, left = 0;

	ep = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < n && ep >= 0; i++) {
		ev[0].events = EPOLLIN | EPOLLRDHUP;
		ev[0].data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev[0]) == 0)
			left++;
	}
	while (left > 0 && now_s() < deadline) {
		k = epoll_wait(ep, ev, 256, 50);
		for (i = 0; i < k; i++) {
			/* closing also takes it out of the epoll set */
			close(fds[ev[i].data.u32]);
			fds[ev[i].data.u32] = -1;
			left--;
		}
	}
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (ep >= 0)
		close(ep);
}

/* ---- tunnels_open: many handshakes, a bounded number at a time ---- */

struct opener {
	const struct sockaddr_in *proxy, *target;
	int ep;
	struct hs *slot;
	uint32_t *gen;		/* tells a stale event from the slot's new fd */
	int nslots, busy, ok, failed;
};

static void
slot_start(struct opener *o, int i)
{
	struct epoll_event ev;
	struct hs *h = &o->slot[i];

	if (hs_begin(h, o->proxy, o->target) < 0) {
		o->failed++;
		return;
	}
	o->gen[i]++;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = (uint64_t)o->gen[i] << 32 | (uint32_t)i;
	if (epoll_ctl(o->ep, EPOLL_CTL_ADD, h->fd, &ev) < 0) {
		close(h->fd);
		h->state = HS_FAILED;
		o->failed++;
		return;
	}
	o->busy++;
}

/* frees slot i: its fd goes to the caller when done, else is closed */
static void
slot_end(struct opener *o, int i, int *fds)
{
	struct hs *h = &o->slot[i];

	epoll_ctl(o->ep, EPOLL_CTL_DEL, h->fd, NULL);
	if (h->state == HS_DONE) {
		fds[o->ok++] = h->fd;
	} else {
		close(h->fd);
		o->failed++;
	}
	h->state = HS_FAILED;	/* free */
	o->busy--;
}

static int
slot_busy(const struct opener *o, int i)
{
	return o->slot[i].state != HS_FAILED && o->slot[i].state != HS_DONE;
}

static void
fill_slots(struct opener *o, int n)
{
	int i;

	for (i = 0; i < o->nslots; i++)
		if (!slot_busy(o, i) && o->ok + o->busy < n &&
		    o->failed < MAX_FAILURES)
			slot_start(o, i);
}

static void
handle_events(struct opener *o, int *fds)
{
	struct epoll_event ev[256];
	enum hs_state st;
	int i, k, n;

	n = epoll_wait(o->ep, ev, 256, 10);
	for (k = 0; k < n; k++) {
		i = (int)(ev[k].data.u64 & 0xffffffffu);
		if ((uint32_t)(ev[k].data.u64 >> 32) != o->gen[i] ||
		    !slot_busy(o, i))
			continue;
		st = hs_advance(&o->slot[i], ev[k].events, o->proxy, o->target);
		if (st == HS_DONE || st == HS_FAILED)
			slot_end(o, i, fds);
	}
}

/* gives up on the handshakes older than timeout_s */
static void
expire_slots(struct opener *o, double timeout_s, int *fds)
{
	double now = now_s();
	int i;

	for (i = 0; i < o->nslots; i++)
		if (slot_busy(o, i) && now - o->slot[i].t_start > timeout_s) {
			o->slot[i].state = HS_FAILED;
			slot_end(o, i, fds);
		}
}

int
tunnels_open(const struct sockaddr_in *proxy,
    const struct sockaddr_in *target, int n, int *fds, int inflight,
    double conn_timeout_s, double timeout_s)
{
	struct opener o = { .proxy = proxy, .target = target };
	double deadline = now_s() + timeout_s;
	int i;

	o.ep = epoll_create1(EPOLL_CLOEXEC);
	o.nslots = inflight;
	o.slot = calloc((size_t)inflight, sizeof *o.slot);
	o.gen = calloc((size_t)inflight, sizeof *o.gen);
	if (o.ep < 0 || !o.slot || !o.gen)
		die("out of memory or fds");
	for (i = 0; i < inflight; i++)
		o.slot[i].state = HS_FAILED;
	while (now_s() < deadline) {
		fill_slots(&o, n);
		if (o.busy == 0)
			break;
		handle_events(&o, fds);
		expire_slots(&o, conn_timeout_s, fds);
	}
	expire_slots(&o, -1, fds);	/* past the deadline: all of them */
	close(o.ep);
	free(o.slot);
	free(o.gen);
	return o.ok;
}
