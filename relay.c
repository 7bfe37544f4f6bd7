/* SPDX-License-Identifier: MIT */
/* The byte pump: poll both sockets, one buffer per direction, and pass an
 * EOF on as shutdown(SHUT_WR) so that each direction ends on its own. */
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "relay.h"

struct dir {
	int from, to;		/* indices into the pollfd and fd arrays */
	char *buf;
	size_t off, len;	/* bytes buf[off..off+len) wait to be sent */
	int eof;		/* from has ended its stream */
	int done;		/* ... and all of it went out, to is shut */
	unsigned long long bytes;
};

/* fills d's empty buffer; -1 when the socket failed */
static int
dir_read(struct dir *d, const int *fd)
{
	ssize_t n;

	n = recv(fd[d->from], d->buf, RELAY_BUFSIZE, 0);
	if (n > 0) {
		d->off = 0;
		d->len = (size_t)n;
		d->bytes += (size_t)n;
	} else if (n == 0) {
		d->eof = 1;
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		return -1;
	}
	return 0;
}

/* sends what d holds; -1 when the socket failed */
static int
dir_write(struct dir *d, const int *fd)
{
	ssize_t n;

	n = send(fd[d->to], d->buf + d->off, d->len, MSG_NOSIGNAL);
	if (n > 0) {
		d->off += (size_t)n;
		d->len -= (size_t)n;
	} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		return -1;
	}
	return 0;
}

enum relay_end
relay(int cfd, int tfd, char *mem, size_t prelen,
    const struct relay_opts *o, struct relay_stats *st)
{
	struct pollfd pfd[2];
	struct dir d[2];
	int fd[2] = { cfd, tfd };
	enum relay_end end = RELAY_CLOSED;
	short ev[2];
	int i, r;

	memset(d, 0, sizeof d);
	d[0].from = 0, d[0].to = 1, d[0].buf = mem;
	d[1].from = 1, d[1].to = 0, d[1].buf = mem + RELAY_BUFSIZE;
	d[0].len = prelen;

	for (;;) {
		ev[0] = ev[1] = 0;
		for (i = 0; i < 2; i++) {
			if (!d[i].done && d[i].eof && d[i].len == 0) {
				shutdown(fd[d[i].to], SHUT_WR);
				d[i].done = 1;
			}
			/* the buffer is the state: empty, read; full, write */
			if (d[i].len)
				ev[d[i].to] |= POLLOUT;
			else if (!d[i].eof)
				ev[d[i].from] |= POLLIN;
		}
		if (d[0].done && d[1].done)
			break;
		/* a socket we want nothing from would report POLLHUP forever */
		for (i = 0; i < 2; i++) {
			pfd[i].events = ev[i];
			pfd[i].fd = ev[i] ? fd[i] : -1;
		}
		r = poll(pfd, 2, d[0].done || d[1].done ?
		    o->halfclose_ms : o->idle_ms);
		if (r == 0) {
			end = RELAY_IDLE;
			break;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			end = RELAY_RESET;
			break;
		}
		for (i = 0; i < 2; i++) {
			if (d[i].len == 0 && !d[i].eof &&
			    pfd[d[i].from].revents & (POLLIN | POLLHUP | POLLERR)) {
				if (dir_read(&d[i], fd) < 0)
					goto reset;
				/* most writes succeed at once: spare a poll */
				if (d[i].len && dir_write(&d[i], fd) < 0)
					goto reset;
			} else if (d[i].len &&
			    pfd[d[i].to].revents & (POLLOUT | POLLHUP | POLLERR)) {
				if (dir_write(&d[i], fd) < 0)
					goto reset;
			}
		}
	}
	goto out;
reset:
	end = RELAY_RESET;
out:
	st->up = d[0].bytes;
	st->down = d[1].bytes;
	return end;
}
