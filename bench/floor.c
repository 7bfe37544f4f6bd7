/* SPDX-License-Identifier: MIT */
/* floor: the least work a SOCKS5 server can do for the conn section, as a
 * measuring stick: one thread, one epoll set, no authentication, CONNECT
 * to an IPv4 address only, no logging, no limits, no timeouts. Not a
 * server to use: what it leaves out, a real one must do.
 *
 *     floor -i 127.0.0.1 -p PORT        (the arguments socksbench gives)
 *
 * Per connection it makes the calls that any server makes: accept, read
 * the greeting, answer it, read the request, socket, connect, learn the
 * bound address, reply, then relay with recv/send until both ends have
 * sent their EOF, passing each on with shutdown(). */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum state { GREETING, REQUEST, CONNECTING, RELAY, ENDED };

struct conn {
	int fd[2];		/* client, target */
	enum state state;
	int eof[2];		/* fd[i] has sent its EOF */
	struct conn *next;	/* on the ended list */
};

static int ep;
/* freed after the batch of events, which may hold more of theirs */
static struct conn *ended;

/* ev's data: the conn, and in its low bit which of its fds */
static void
watch(int op, struct conn *c, int side, unsigned events)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.u64 = (uint64_t)(uintptr_t)c | (uint64_t)side;
	epoll_ctl(ep, op, c->fd[side], &ev);
}

static void
conn_end(struct conn *c)
{
	close(c->fd[0]);
	if (c->fd[1] >= 0)
		close(c->fd[1]);
	c->state = ENDED;
	c->next = ended;
	ended = c;
}

/* the CONNECT request in buf[0..n): connects, or ends c */
static void
request(struct conn *c, const unsigned char *buf, ssize_t n)
{
	struct sockaddr_in dst;
	int one = 1;

	if (n != 10 || buf[0] != 5 || buf[1] != 1 || buf[3] != 1) {
		conn_end(c);
		return;
	}
	memset(&dst, 0, sizeof dst);
	dst.sin_family = AF_INET;
	memcpy(&dst.sin_addr, buf + 4, 4);
	memcpy(&dst.sin_port, buf + 8, 2);
	c->fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (c->fd[1] < 0) {
		conn_end(c);
		return;
	}
	setsockopt(c->fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd[1], (struct sockaddr *)&dst, sizeof dst) < 0 &&
	    errno != EINPROGRESS) {
		conn_end(c);
		return;
	}
	c->state = CONNECTING;
	watch(EPOLL_CTL_ADD, c, 1, EPOLLOUT);
}

/* the target's connect ended: the reply, and the relay begins */
static void
connected(struct conn *c)
{
	unsigned char rep[10] = { 5, 0, 0, 1 };
	struct sockaddr_in b;
	socklen_t len = sizeof b;
	int err = 0;

	len = sizeof err;
	getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
	len = sizeof b;
	if (err || getsockname(c->fd[1], (struct sockaddr *)&b, &len) < 0) {
		rep[1] = 5;
		send(c->fd[0], rep, sizeof rep, MSG_NOSIGNAL);
		conn_end(c);
		return;
	}
	memcpy(rep + 4, &b.sin_addr, 4);
	memcpy(rep + 8, &b.sin_port, 2);
	send(c->fd[0], rep, sizeof rep, MSG_NOSIGNAL);
	c->state = RELAY;
	watch(EPOLL_CTL_MOD, c, 1, EPOLLIN);
}

/* bytes from side's fd to the other; a short relay, not a careful one:
 * a send() that would block loses bytes, which the conn section, with
 * its 64 bytes, never sees */
static void
relay(struct conn *c, int side)
{
	char buf[16384];
	ssize_t n;

	n = recv(c->fd[side], buf, sizeof buf, 0);
	if (n > 0) {
		send(c->fd[1 - side], buf, (size_t)n, MSG_NOSIGNAL);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_end(c);
		return;
	}
	c->eof[side] = 1;
	shutdown(c->fd[1 - side], SHUT_WR);
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd[side], NULL);
	if (c->eof[1 - side])
		conn_end(c);
}

static void
client_event(struct conn *c)
{
	unsigned char buf[512];
	ssize_t n;

	if (c->state == RELAY) {
		relay(c, 0);
		return;
	}
	if (c->state != GREETING && c->state != REQUEST)
		return;
	n = recv(c->fd[0], buf, sizeof buf, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_end(c);
		return;
	}
	if (c->state == REQUEST) {
		request(c, buf, n);
		return;
	}
	/* the greeting: no authentication, whatever was offered */
	if (buf[0] != 5 || n < 2 || n < 2 + buf[1]) {
		conn_end(c);
		return;
	}
	send(c->fd[0], "\5\0", 2, MSG_NOSIGNAL);
	c->state = REQUEST;
	if (n > 2 + buf[1])
		request(c, buf + 2 + buf[1], n - 2 - buf[1]);
}

static void
accept_all(int lfd)
{
	struct conn *c;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC))
	    >= 0) {
		c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd[0] = fd;
		c->fd[1] = -1;
		watch(EPOLL_CTL_ADD, c, 0, EPOLLIN);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a;
	struct epoll_event ev[64];
	struct conn *c;
	int lfd, one = 1, i, n, side;

	if (argc != 5 || strcmp(argv[1], "-i") || strcmp(argv[3], "-p")) {
		fprintf(stderr, "usage: floor -i IPV4 -p PORT\n");
		return 1;
	}
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)atoi(argv[4]));
	if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
		fprintf(stderr, "floor: %s: not an IPv4 address\n", argv[2]);
		return 1;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(lfd, SOMAXCONN) < 0) {
		perror("floor");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev[0].events = EPOLLIN;
	ev[0].data.u64 = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev[0]);
	for (;;) {
		n = epoll_wait(ep, ev, 64, -1);
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == 0) {
				accept_all(lfd);
				continue;
			}
			c = (struct conn *)(uintptr_t)(ev[i].data.u64 & ~1ull);
			side = (int)(ev[i].data.u64 & 1);
			if (c->state == ENDED)
				continue;
			if (side == 0)
				client_event(c);
			else if (c->state == CONNECTING)
				connected(c);
			else
				relay(c, 1);
		}
		while ((c = ended)) {
			ended = c->next;
			free(c);
		}
	}
}
