/* SPDX-License-Identifier: MIT */
/* UDP ASSOCIATE (RFC 1928 section 7): one relay socket faces the client;
 * one socket per address family, opened when first needed, faces the
 * destinations. A datagram from the client loses its SOCKS header on the
 * way out; one from a destination the client has sent to gains a header
 * naming its source on the way back. Anything else is dropped. */
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "socks5.h"
#include "udp.h"

/* the largest datagram, and room before it for the header of a reply */
#define UDP_MAX 65536
#define UDP_HEADROOM SOCKS5_REPLY_MAX

/* destinations remembered, whose replies are let through */
#define UDP_PEERS 32

/* names resolved, remembered for the next datagrams to them */
#define UDP_NAMES 4

/* datagrams taken from one socket before the others get their turn */
#define UDP_BATCH 64

/* kernel buffering per socket, for bursts */
#define UDP_SOCKBUF (1024 * 1024)

struct assoc {
	int ufd;			/* faces the client */
	int out[2];			/* face IPv4 and IPv6 destinations */
	union sockaddr_union client;
	int have_port;			/* client's port is known */
	union sockaddr_union peers[UDP_PEERS];
	int npeers, next_peer;
	struct {
		char host[256];
		union sockaddr_union addr;
	} names[UDP_NAMES];
	int next_name;
	const struct udp_opts *o;
	unsigned char *buf;		/* UDP_HEADROOM + UDP_MAX bytes */
	struct relay_stats *st;
};

static void
set_bufs(int fd)
{
	int size = UDP_SOCKBUF;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

int
udp_open(const union sockaddr_union *local, const struct udp_opts *o,
    union sockaddr_union *bnd)
{
	union sockaddr_union u = *local;
	unsigned span, i, start;
	socklen_t len;
	int fd, err;

	fd = socket(u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	span = o->port_lo ? (unsigned)(o->port_hi - o->port_lo) + 1 : 1;
	/* spread the associations over the range */
	start = (unsigned)now_ms() % span;
	for (i = 0; i < span; i++) {
		unsigned short port = o->port_lo ?
		    (unsigned short)(o->port_lo + (start + i) % span) : 0;
		sa_set_port(&u, port);
		if (bind(fd, &u.sa, sa_len(&u)) == 0)
			break;
		if (errno != EADDRINUSE)
			goto fail;
	}
	if (i == span)
		goto fail;
	len = sizeof *bnd;
	if (getsockname(fd, &bnd->sa, &len) < 0)
		goto fail;
	if (o->announce) {
		unsigned short port = sa_port(bnd);

		*bnd = *o->announce;
		sa_set_port(bnd, port);
	}
	set_bufs(fd);
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static int
same_addr(const union sockaddr_union *a, const union sockaddr_union *b)
{
	return sa_same_ip(a, b) && sa_port(a) == sa_port(b);
}

/* The address of a name that a datagram goes to: one datagram, one
 * address, unlike CONNECT that tries each in turn. The first of the
 * family of -b, or else of the client's own connection, which are known
 * to reach out; else the first IPv4 or IPv6 one. NULL when none is. */
static const struct addrinfo *
pick_addr(const struct addrinfo *res, int family)
{
	const struct addrinfo *ai, *any = NULL;

	for (ai = res; ai; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(union sockaddr_union))
			continue;
		if (ai->ai_family == family)
			return ai;
		if (!any)
			any = ai;
	}
	return any;
}

/* the destination of a client's datagram; -1 when it has none */
static int
dest_addr(struct assoc *a, const struct socks5_request *req,
    union sockaddr_union *dst)
{
	const struct addrinfo *ai;
	struct addrinfo *res;
	int i;

	if (sa_of_request(req, dst) == 0)
		return 0;
	/* a client sends many datagrams to the same few names */
	for (i = 0; i < UDP_NAMES; i++)
		if (!strcmp(a->names[i].host, req->host))
			goto found;
	if (server_resolve(req->host, req->port, 0, &res) != 0)
		return -1;
	ai = pick_addr(res, a->o->bindaddr ? a->o->bindaddr->sa.sa_family :
	    a->client.sa.sa_family);
	if (!ai) {
		freeaddrinfo(res);
		return -1;
	}
	i = a->next_name;
	a->next_name = (i + 1) % UDP_NAMES;
	memset(&a->names[i].addr, 0, sizeof a->names[i].addr);
	memcpy(&a->names[i].addr, ai->ai_addr, ai->ai_addrlen);
	memcpy(a->names[i].host, req->host, sizeof a->names[i].host);
	freeaddrinfo(res);
found:
	*dst = a->names[i].addr;
	sa_set_port(dst, req->port);
	return 0;
}

/* the socket facing destinations of dst's family, opened when needed */
static int
out_socket(struct assoc *a, const union sockaddr_union *dst)
{
	int i = dst->sa.sa_family == AF_INET6, fd;
	const union sockaddr_union *from = a->o->bindaddr;

	if (a->out[i] >= 0)
		return a->out[i];
	fd = socket(dst->sa.sa_family,
	    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if ((a->o->device && server_bind_device(fd, a->o->device) < 0) ||
	    (from && from->sa.sa_family == dst->sa.sa_family &&
	    bind(fd, &from->sa, sa_len(from)) < 0)) {
		close(fd);
		return -1;
	}
	set_bufs(fd);
	return a->out[i] = fd;
}

static void
remember_peer(struct assoc *a, const union sockaddr_union *dst)
{
	int i;

	for (i = 0; i < a->npeers; i++)
		if (same_addr(&a->peers[i], dst))
			return;
	a->peers[a->next_peer] = *dst;
	a->next_peer = (a->next_peer + 1) % UDP_PEERS;
	if (a->npeers < UDP_PEERS)
		a->npeers++;
}

static int
known_peer(const struct assoc *a, const union sockaddr_union *src)
{
	int i;

	for (i = 0; i < a->npeers; i++)
		if (same_addr(&a->peers[i], src))
			return 1;
	return 0;
}

/* one datagram from the client's side: check, unwrap, send on */
static void
from_client(struct assoc *a, size_t n, const union sockaddr_union *src)
{
	struct socks5_request req;
	union sockaddr_union dst;
	unsigned char *p = a->buf + UDP_HEADROOM, frag;
	size_t hlen;
	int fd;

	if (!sa_same_ip(src, &a->client) ||
	    (a->have_port && sa_port(src) != sa_port(&a->client)))
		return;
	if (!a->have_port) {
		a->client = *src;
		a->have_port = 1;
	}
	/* no fragments: RFC 1928 lets a server drop them */
	if (socks5_parse_udp(p, n, &req, &frag, &hlen) != PARSE_DONE ||
	    frag != 0 || dest_addr(a, &req, &dst) < 0)
		return;
	/* sent, remembered and matched with replies as plain IPv4, which
	 * is what replies come from */
	sa_unmap(&dst);
	if (a->o->denied(&dst))
		return;
	fd = out_socket(a, &dst);
	if (fd < 0 || sendto(fd, p + hlen, n - hlen, 0, &dst.sa,
	    sa_len(&dst)) < 0)
		return;
	remember_peer(a, &dst);
	a->st->up += n - hlen;
}

/* one datagram from a destination: wrap it and pass it to the client */
static void
from_peer(struct assoc *a, size_t n, const union sockaddr_union *src)
{
	unsigned char head[SOCKS5_REPLY_MAX];
	size_t hlen;

	if (!a->have_port || !known_peer(a, src))
		return;
	hlen = socks5_udp_header(head, &src->sa);
	memcpy(a->buf + UDP_HEADROOM - hlen, head, hlen);
	/* too big once wrapped: the send fails, the datagram is lost */
	if (sendto(a->ufd, a->buf + UDP_HEADROOM - hlen, hlen + n, 0,
	    &a->client.sa, sa_len(&a->client)) >= 0)
		a->st->down += n;
}

/* reads up to UDP_BATCH datagrams from fd and passes each on, to the
 * peer it names or back to the client; 0, or -1 on a socket error */
static int
forward(struct assoc *a, int fd)
{
	union sockaddr_union src;
	socklen_t len;
	ssize_t n;
	int i;

	for (i = 0; i < UDP_BATCH; i++) {
		len = sizeof src;
		n = recvfrom(fd, a->buf + UDP_HEADROOM, UDP_MAX, MSG_TRUNC,
		    &src.sa, &len);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNREFUSED ? 0 : -1;
		/* a datagram cut short is not passed on */
		if (n > UDP_MAX)
			continue;
		sa_unmap(&src);
		if (fd == a->ufd)
			from_client(a, (size_t)n, &src);
		else
			from_peer(a, (size_t)n, &src);
	}
	return 0;
}

void
udp_relay(int cfd, int ufd, const union sockaddr_union *client,
    const struct udp_opts *o, struct relay_stats *st)
{
	struct assoc *a;
	struct pollfd pfd[4];
	unsigned long long moved;
	long long deadline;
	char sink[512];
	ssize_t n;
	int i, r;

	st->up = st->down = 0;
	a = calloc(1, sizeof *a);
	if (!a || !(a->buf = malloc(UDP_HEADROOM + UDP_MAX))) {
		free(a);
		return;
	}
	a->ufd = ufd;
	a->out[0] = a->out[1] = -1;
	a->client = *client;
	a->have_port = sa_port(client) != 0;
	a->o = o;
	a->st = st;
	deadline = now_ms() + o->idle_ms;
	for (;;) {
		pfd[0].fd = cfd;
		pfd[1].fd = ufd;
		pfd[2].fd = a->out[0];
		pfd[3].fd = a->out[1];
		for (i = 0; i < 4; i++)
			pfd[i].events = POLLIN;
		/* only datagrams passed on count as life: anyone may send
		 * datagrams that are dropped */
		r = poll(pfd, 4, ms_left(deadline));
		if (r == 0 || ms_left(deadline) == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		/* the control connection carries nothing but its end */
		if (pfd[0].revents) {
			n = recv(cfd, sink, sizeof sink, 0);
			if (n == 0 || (n < 0 && errno != EAGAIN &&
			    errno != EINTR))
				break;
		}
		moved = st->up + st->down;
		for (i = 1; i < 4; i++)
			if (pfd[i].revents && forward(a, pfd[i].fd) < 0)
				goto out;
		if (st->up + st->down != moved)
			deadline = now_ms() + o->idle_ms;
	}
out:
	for (i = 0; i < 2; i++)
		if (a->out[i] >= 0)
			close(a->out[i]);
	free(a->buf);
	free(a);
}
