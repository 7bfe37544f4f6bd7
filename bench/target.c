/* SPDX-License-Identifier: MIT */
/* The targets the servers connect to: a sink that counts what it reads,
 * a source that writes as fast as it can, and an echo.  One thread, one
 * edge-triggered epoll, one listening socket per kind. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

struct tconn {
	struct tconn *prev, *next;	/* in target.conns */
	int fd;
	enum target_kind kind;
	int listening;
	char *pend;			/* echo: what is yet to go back */
	size_t pend_off, pend_len;
	size_t echoed;			/* echo: bytes received so far */
};

static int
add_conn(struct target *t, int fd, enum target_kind kind, int listening)
{
	struct epoll_event ev;
	struct tconn *c = calloc(1, sizeof *c);

	if (!c)
		return -1;
	c->fd = fd;
	c->kind = kind;
	c->listening = listening;
	ev.events = listening ? EPOLLIN :
	    EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(c);
		return -1;
	}
	c->next = t->conns;
	if (c->next)
		c->next->prev = c;
	t->conns = c;
	if (!listening)
		atomic_fetch_add(&t->open, 1);
	return 0;
}

static void
close_conn(struct target *t, struct tconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	close(c->fd);
	if (!c->listening)
		atomic_fetch_sub(&t->open, 1);
	free(c->pend);
	free(c);
}

static int
again(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

static void
accept_all(struct target *t, struct tconn *l)
{
	int fd;

	for (;;) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;	/* EAGAIN, or out of fds: the rest waits */
		}
		if (add_conn(t, fd, l->kind, 0) < 0)
			close(fd);
	}
}

/* reads until the socket is empty, counting; -1 when the peer is gone */
static int
sink_read(struct target *t, int fd, char *buf)
{
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, BULK_CHUNK, 0);
		if (n > 0)
			atomic_fetch_add_explicit(&t->sink_bytes,
			    (unsigned long long)n, memory_order_relaxed);
		else if (n == 0)
			return -1;
		else if (errno != EINTR)
			return again() ? 0 : -1;
	}
}

/* writes until the socket is full; -1 when the peer is gone */
static int
source_write(int fd, uint32_t events, char *buf)
{
	char probe;
	ssize_t n;

	/* the client never sends: readable means it closed */
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		n = recv(fd, &probe, 1, 0);
		if (n == 0 || (n < 0 && !again() && errno != EINTR))
			return -1;
	}
	for (;;) {
		n = send(fd, buf, BULK_CHUNK, MSG_NOSIGNAL);
		if (n < 0 && errno != EINTR)
			return again() ? 0 : -1;
	}
}

/* sends back what is pending; 1 when all went, 0 when some waits, -1 */
static int
echo_flush(struct tconn *c)
{
	ssize_t n;

	while (c->pend_len) {
		n = send(c->fd, c->pend + c->pend_off, c->pend_len,
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return again() ? 0 : -1;
		}
		c->pend_off += (size_t)n;
		c->pend_len -= (size_t)n;
	}
	free(c->pend);
	c->pend = NULL;
	c->pend_off = 0;
	return 1;
}

/* keeps what send() did not take, to be sent on the next EPOLLOUT */
static int
echo_keep(struct tconn *c, const char *data, size_t len)
{
	c->pend = malloc(len);
	if (!c->pend)
		return -1;
	memcpy(c->pend, data, len);
	c->pend_off = 0;
	c->pend_len = len;
	return 0;
}

/* echoes until the socket is empty or the peer slow; -1 when it is gone,
 * or for T_ECHO_ONCE when its message went back */
static int
echo(struct tconn *c, char *buf)
{
	ssize_t n, w;
	int r;

	for (;;) {
		if (c->pend_len && (r = echo_flush(c)) <= 0)
			return r;
		if (c->kind == T_ECHO_ONCE && c->echoed >= MSG_SIZE)
			return -1;
		n = recv(c->fd, buf, BULK_CHUNK, 0);
		if (n == 0)
			return -1;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return again() ? 0 : -1;
		}
		c->echoed += (size_t)n;
		w = send(c->fd, buf, (size_t)n, MSG_NOSIGNAL);
		if (w < 0 && !again())
			return -1;
		if (w < 0)
			w = 0;
		if (w < n && echo_keep(c, buf + w, (size_t)(n - w)) < 0)
			return -1;
	}
}

/* closes the held echo connections, first: the clients see EOF */
static void
close_echo(struct target *t)
{
	struct tconn *c, *next;

	for (c = t->conns; c; c = next) {
		next = c->next;
		if (!c->listening && c->kind == T_ECHO)
			close_conn(t, c);
	}
	atomic_store(&t->close_echo, 0);
}

static void
serve(struct target *t, struct tconn *c, uint32_t events, char *buf)
{
	int r = 0;

	if (c->listening) {
		accept_all(t, c);
		return;
	}
	switch (c->kind) {
	case T_SINK:
		r = sink_read(t, c->fd, buf);
		break;
	case T_SOURCE:
		r = source_write(c->fd, events, buf);
		break;
	case T_ECHO:
	case T_ECHO_ONCE:
		r = echo(c, buf);
		break;
	default:
		break;
	}
	if (r < 0)
		close_conn(t, c);
}

static void *
target_main(void *arg)
{
	struct target *t = arg;
	struct epoll_event ev[256];
	char *buf;
	int i, n;

	/* the source's data and the sink's scratch: content is irrelevant */
	buf = calloc(1, BULK_CHUNK);
	if (!buf)
		die("out of memory");
	while (!atomic_load(&t->stop)) {
		n = epoll_wait(t->ep, ev, 256, 100);
		for (i = 0; i < n; i++)
			serve(t, ev[i].data.ptr, ev[i].events, buf);
		if (atomic_load(&t->close_echo))
			close_echo(t);
	}
	free(buf);
	return NULL;
}

int
target_start(struct target *t)
{
	int k, fd;

	memset(t, 0, sizeof *t);
	t->ep = epoll_create1(EPOLL_CLOEXEC);
	if (t->ep < 0)
		return -1;
	for (k = 0; k < T_NKINDS; k++) {
		fd = listen_loopback(&t->addr[k]);
		if (fd < 0 || add_conn(t, fd, (enum target_kind)k, 1) < 0)
			return -1;
	}
	return pthread_create(&t->thread, NULL, target_main, t) == 0 ? 0 : -1;
}

void
target_stop(struct target *t)
{
	atomic_store(&t->stop, 1);
	pthread_join(t->thread, NULL);
	while (t->conns)
		close_conn(t, t->conns);
	close(t->ep);
}

int
target_wait_idle(struct target *t, double timeout_s)
{
	double deadline = now_s() + timeout_s;

	while (atomic_load(&t->open) > 0) {
		if (now_s() > deadline)
			return -1;
		sleep_s(0.005);
	}
	return 0;
}

int
target_close_echo(struct target *t, double timeout_s)
{
	double deadline = now_s() + timeout_s;

	atomic_store(&t->close_echo, 1);
	while (atomic_load(&t->close_echo)) {
		if (now_s() > deadline)
			return -1;
		sleep_s(0.005);
	}
	return 0;
}
