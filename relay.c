/* SPDX-License-Identifier: MIT */
/* The byte pump: poll both sockets, move each direction's bytes with
 * recv() and send() through a small buffer of its own while they come a
 * few at a time, through a pipe with splice() once they come in bulk (a
 * heap buffer where there is none), and pass an EOF on as shutdown(SHUT_WR)
 * so that each direction ends on its own.
 *
 * A direction holds its pipe or buffer only while bytes are in flight, so
 * an idle tunnel costs its two sockets and nothing else. Empty pipes go
 * back to a small shared pool; a pipe that still holds bytes cannot. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"
#include "server.h"

#if defined(__linux__) && defined(SPLICE_F_NONBLOCK) && defined(F_SETPIPE_SZ)
#define HAVE_SPLICE 1
#endif

/* How long to wait for a pipe or a buffer to come free, when there is no
 * memory or no fd for one, before trying again. */
#define STARVED_MS 50

/* bytes one direction moves per round before it lets the other one go */
#define ROUND_BYTES (4 * RELAY_PIPESIZE)

/* A read shorter than this most likely emptied the socket: better wait
 * for more than try another read that fails. */
#define SHORT_READ (16 * 1024)

/* For a few bytes, recv() and send() cost less than two splice()s and a
 * pipe from the pool, whose lock all tunnels share. A direction whose read
 * fills this many has shown bulk, and reads into a pipe until the tunnel
 * goes quiet. The buffers are in relay()'s frame, which stays in a quiet
 * tunnel's stack: two of 2 KiB took an idle tunnel from 8.3 to 12.3 KiB
 * with glibc on x86-64. */
#define SMALL_BYTES 1024

struct pipe {
	int rd, wr;
	int big;		/* enlarged to RELAY_PIPESIZE */
};

struct dir {
	int from, to;		/* sockets */
	struct pipe p;		/* p.rd >= 0: bytes in flight are in p ... */
	char *buf;		/* ... else in buf[off..off+len): small, or
				 * from the heap */
	size_t off, len;	/* len: bytes held, in the pipe or the buffer */
	int eof;		/* from has ended its stream */
	int done;		/* ... and all of it went out, to is shut */
	int starved;		/* no pipe or buffer could be had */
	int bulk;		/* reads go into a pipe or the heap */
	unsigned long long bytes;
	char small[SMALL_BYTES];
};

#ifdef HAVE_SPLICE
static struct {
	pthread_mutex_t lock;
	int n;
	struct pipe p[RELAY_POOLSIZE];
} pool = { PTHREAD_MUTEX_INITIALIZER, 0, { { 0, 0, 0 } } };

/* The kernel gives a pipe's pages only while bytes are in it, but bounds
 * the pipe space of a user; enlarge some pipes, not all. */
static atomic_int bigpipes;

static void
pipe_close(struct pipe *p)
{
	close(p->rd);
	close(p->wr);
	if (p->big)
		atomic_fetch_sub(&bigpipes, 1);
	p->rd = p->wr = -1;
}

static int
pipe_get(struct pipe *p)
{
	int fd[2];

	pthread_mutex_lock(&pool.lock);
	if (pool.n > 0) {
		*p = pool.p[--pool.n];
		pthread_mutex_unlock(&pool.lock);
		return 0;
	}
	pthread_mutex_unlock(&pool.lock);
	if (pipe2(fd, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	p->rd = fd[0];
	p->wr = fd[1];
	p->big = 0;
	/* a bigger pipe moves more per splice(): less CPU per byte */
	if (atomic_fetch_add(&bigpipes, 1) < RELAY_BIGPIPES &&
	    fcntl(fd[1], F_SETPIPE_SZ, RELAY_PIPESIZE) >= 0)
		p->big = 1;
	else
		atomic_fetch_sub(&bigpipes, 1);
	return 0;
}

void
relay_idle(void)
{
	struct pipe p;

	pthread_mutex_lock(&pool.lock);
	while (pool.n > 0) {
		p = pool.p[--pool.n];
		pipe_close(&p);
	}
	pthread_mutex_unlock(&pool.lock);
}

/* p must be empty */
static void
pipe_put(struct pipe *p)
{
	pthread_mutex_lock(&pool.lock);
	if (pool.n < RELAY_POOLSIZE) {
		pool.p[pool.n++] = *p;
		pthread_mutex_unlock(&pool.lock);
		p->rd = p->wr = -1;
		return;
	}
	pthread_mutex_unlock(&pool.lock);
	pipe_close(p);
}
#else
void
relay_idle(void)
{
}
#endif

/* gives back d's pipe or buffer once it holds nothing */
static void
dir_release(struct dir *d)
{
	if (d->len)
		return;
	if (d->buf != d->small)
		free(d->buf);
	d->buf = NULL;
#ifdef HAVE_SPLICE
	if (d->p.rd >= 0)
		pipe_put(&d->p);
#endif
}

static int
again(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Reads into d's (empty) pipe or buffer. Returns the bytes read, 0 at EOF
 * or when nothing was there, -1 when the socket failed. */
static ssize_t
dir_fill(struct dir *d)
{
	ssize_t n;

	if (!d->bulk) {
		d->buf = d->small;
		n = recv(d->from, d->small, sizeof d->small, 0);
		d->bulk = n == (ssize_t)sizeof d->small;
		goto got;
	}
#ifdef HAVE_SPLICE
	if (d->p.rd >= 0 || pipe_get(&d->p) == 0) {
		n = splice(d->from, NULL, d->p.wr, NULL, RELAY_PIPESIZE,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		goto got;
	}
#endif
	if (!d->buf && !(d->buf = malloc(RELAY_BUFSIZE))) {
		d->starved = 1;
		return 0;
	}
	n = recv(d->from, d->buf, RELAY_BUFSIZE, 0);
got:
	d->starved = 0;
	if (n > 0) {
		d->off = 0;
		d->len = (size_t)n;
		d->bytes += (size_t)n;
		return n;
	}
	dir_release(d);
	if (n == 0)
		d->eof = 1;
	return n < 0 && !again() ? -1 : 0;
}

/* Writes what d holds; more: the rest of the message is right behind.
 * Returns 0, or -1 when the socket failed. */
static int
dir_flush(struct dir *d, int more)
{
	ssize_t n;

#ifdef HAVE_SPLICE
	if (!d->buf)
		n = splice(d->p.rd, NULL, d->to, NULL, d->len,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	else
#endif
		n = send(d->to, d->buf + d->off, d->len,
		    MSG_NOSIGNAL | (more ? MSG_MORE : 0));
	if (n < 0)
		return again() ? 0 : -1;
	d->off += (size_t)n;
	d->len -= (size_t)n;
	dir_release(d);
	return 0;
}

/* Moves bytes while both sockets are ready, up to ROUND_BYTES: each poll()
 * spared is a syscall less per chunk. A read that filled the small buffer
 * goes out with MSG_MORE, to leave in one segment with the rest of its
 * message, which the next read splices; when no rest comes, TCP_NODELAY
 * set again pushes it out. Returns -1 when a socket failed. */
static int
dir_pump(struct dir *d)
{
	static const int one = 1;
	unsigned long long start = d->bytes;
	ssize_t n;
	int more = 0;

	do {
		n = dir_fill(d);
		if (n < 0)
			return -1;
		if (n > 0) {
			more = d->buf == d->small && d->bulk;
			if (dir_flush(d, more) < 0)
				return -1;
		}
	} while ((n >= SHORT_READ || n == (ssize_t)sizeof d->small) &&
	    d->len == 0 && d->bytes - start < ROUND_BYTES);
	if (more)
		setsockopt(d->to, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return 0;
}

/* the end of a direction: a pipe still holding bytes cannot be reused */
static void
dir_free(struct dir *d)
{
	if (d->buf != d->small)
		free(d->buf);
#ifdef HAVE_SPLICE
	if (d->p.rd >= 0) {
		if (d->len)
			pipe_close(&d->p);
		else
			pipe_put(&d->p);
	}
#endif
}

enum relay_end
relay(int cfd, int tfd, const struct relay_opts *o, struct relay_stats *st)
{
	struct pollfd pfd[2];
	struct dir d[2];
	enum relay_end end = RELAY_CLOSED;
	long long deadline;
	int fd[2] = { cfd, tfd };
	int i, r, timeout, quiet = o->on_quiet != NULL;

	memset(d, 0, sizeof d);
	for (i = 0; i < 2; i++) {
		d[i].from = fd[i];
		d[i].to = fd[1 - i];
		d[i].p.rd = d[i].p.wr = -1;
	}
	deadline = now_ms() + o->idle_ms;

	/* The first thing is a poll(), not a read: the client's first bytes
	 * after its request, if it sent any, came with the request, and the
	 * handshake passed them on; the rest are a round trip away, behind
	 * the reply. */
	for (;;) {
		pfd[0].events = pfd[1].events = 0;
		timeout = ms_left(deadline);
		for (i = 0; i < 2; i++) {
			if (!d[i].done && d[i].eof && d[i].len == 0) {
				/* the last to end needs no shutdown: the
				 * close() that follows says as much */
				if (!d[1 - i].done)
					shutdown(d[i].to, SHUT_WR);
				d[i].done = 1;
				/* from now on the other direction may idle
				 * only for the half-close timeout */
				deadline = now_ms() + o->halfclose_ms;
				timeout = o->halfclose_ms;
			}
			/* the bytes held are the state: none, read; some,
			 * write */
			if (d[i].len)
				pfd[1 - i].events |= POLLOUT;
			else if (d[i].starved && timeout > STARVED_MS)
				timeout = STARVED_MS;
			else if (!d[i].eof && !d[i].starved)
				pfd[i].events |= POLLIN;
		}
		if (d[0].done && d[1].done)
			break;
		/* a socket we want nothing from would report POLLHUP
		 * forever */
		for (i = 0; i < 2; i++)
			pfd[i].fd = pfd[i].events ? fd[i] : -1;
		/* a bulk direction goes back to small reads when quiet */
		if ((quiet || d[0].bulk || d[1].bulk) && o->quiet_ms > 0 &&
		    timeout > o->quiet_ms)
			timeout = o->quiet_ms;
		r = poll(pfd, 2, timeout);
		if (r == 0)
			d[0].bulk = d[1].bulk = 0;
		if (r == 0 && quiet) {
			quiet = 0;
			o->on_quiet();
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			end = RELAY_RESET;
			break;
		}
		if (r <= 0 && ms_left(deadline) == 0) {
			end = RELAY_IDLE;
			break;
		}
		for (i = 0; i < 2; i++) {
			if (d[i].len == 0 && !d[i].eof && (d[i].starved ||
			    pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
				if (dir_pump(&d[i]) < 0)
					goto reset;
			} else if (d[i].len && pfd[1 - i].revents &
			    (POLLOUT | POLLHUP | POLLERR)) {
				if (dir_flush(&d[i], 0) < 0)
					goto reset;
			}
		}
		if (r > 0)
			deadline = now_ms() + (d[0].done || d[1].done ?
			    o->halfclose_ms : o->idle_ms);
	}
	goto out;
reset:
	end = RELAY_RESET;
out:
	for (i = 0; i < 2; i++)
		dir_free(&d[i]);
	st->up = d[0].bytes;
	st->down = d[1].bytes;
	return end;
}
