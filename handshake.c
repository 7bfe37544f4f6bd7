/* SPDX-License-Identifier: MIT */
/* The handshake: SOCKS5 (RFC 1928, RFC 1929) or SOCKS4(a), read through
 * one buffer that the pure parsers of socks5.c and socks4.c take apart,
 * with a reply for every request and a reason for every end. */
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "accept.h"
#include "auth.h"
#include "config.h"
#include "handshake.h"
#include "proxyproto.h"
#include "socks4.h"
#include "socks5.h"
#include "target.h"

/* the longest handshake: greeting, RFC 1929 request and SOCKS5 request,
 * all pipelined, and some early payload */
#define HS_BUFSIZE 1536

/* how long an error reply may wait for the client to read it */
#define REPLY_LINGER_MS 1000

/* a client connection during the handshake */
struct conn {
	int fd;
	struct session *s;
	long long deadline;		/* of the handshake */
	int version;			/* 4 or 5: SOCKS4(a) or SOCKS5 */
	int sent;			/* we spoke last */
	size_t len;			/* bytes in buf */
	unsigned char buf[HS_BUFSIZE];
};

/* Reads more of the handshake into c->buf. Returns NULL, or why the
 * client cannot go on: it closed, failed, ran out of time, or sent more
 * than fits. */
static const char *
conn_fill(struct conn *c)
{
	struct pollfd pfd;
	ssize_t n;
	int r;

	/* a client answers what we sent after a round trip at the least:
	 * wait before reading then, rather than try a read that fails */
	for (r = c->sent ? 0 : 1;; r = 1) {
		if (c->len == sizeof c->buf)
			return HANDSHAKE_CLIENT_GONE;
		if (r > 0) {
			n = recv(c->fd, c->buf + c->len,
			    sizeof c->buf - c->len, 0);
			if (n > 0) {
				c->len += (size_t)n;
				c->sent = 0;
				return NULL;
			}
			if (n == 0 || (errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR))
				return HANDSHAKE_CLIENT_GONE;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, ms_left(c->deadline));
		if (r == 0)
			return "handshake timeout";
		if (r < 0 && errno != EINTR)
			return HANDSHAKE_CLIENT_GONE;
	}
}

/* drops the first used bytes of c->buf, wiping what they leave behind */
static void
conn_consume(struct conn *c, size_t used)
{
	memmove(c->buf, c->buf + used, c->len - used);
	explicit_bzero(c->buf + c->len - used, used);
	c->len -= used;
}

static int
conn_send(struct conn *c, const void *buf, size_t n)
{
	c->sent = 1;
	return send_all(c->fd, buf, n, now_ms() + REPLY_LINGER_MS);
}

/* Ends a connection after a refusal. Closing with unread input would
 * send a reset that may destroy the reply before the client reads it, so
 * the input is drained until the client closes, for a short while. */
static void
conn_linger(struct conn *c)
{
	long long deadline = now_ms() + REPLY_LINGER_MS;
	struct pollfd pfd;
	char sink[256];
	ssize_t n;

	shutdown(c->fd, SHUT_WR);
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, ms_left(deadline)) > 0) {
		n = recv(c->fd, sink, sizeof sink, 0);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
	}
}

/* the reply rep, with the address bound (NULL: none), in the client's
 * version of the protocol; after a failure, the end of the connection */
static void
conn_reply(struct conn *c, int rep, const union sockaddr_union *bound)
{
	unsigned char out[SOCKS5_REPLY_MAX];
	const struct sockaddr *sa = bound ? &bound->sa : NULL;
	size_t n;

	c->s->r.rep = rep;
	if (c->version == 4)
		n = socks4_reply(out, rep == REP_SUCCESS ? SOCKS4_GRANTED :
		    SOCKS4_REJECTED, sa);
	else
		n = socks5_reply(out, rep, sa);
	if (conn_send(c, out, n) == 0 && rep != REP_SUCCESS)
		conn_linger(c);
}

/* a refusal with reply rep; returns why, as the reply code names it */
static const char *
refuse(struct conn *c, int rep)
{
	conn_reply(c, rep, NULL);
	return socks5_rep_str(rep);
}

/* 1 when the client must authenticate. A balancer's own connections (its
 * health checks) are not remembered by -1: with a check that logs in,
 * the second one would find no password asked for, and fail. */
static int
needs_auth(const struct conn *c)
{
	return auth_needed(&c->s->c.addr, !c->s->c.local);
}

static int
choose_method(const struct conn *c, unsigned offers)
{
	if (!config.auth_required)
		return offers & OFFER_NOAUTH ? METHOD_NOAUTH : METHOD_NONE;
	if ((offers & OFFER_NOAUTH) && !needs_auth(c))
		return METHOD_NOAUTH;
	if (offers & OFFER_USERPASS)
		return METHOD_USERPASS;
	return METHOD_NONE;
}

/* RFC 1929's answer ok to the client, after a wrong password's pause;
 * returns NULL when the client may go on, or why not */
static const char *
auth_answer(struct conn *c, int ok)
{
	unsigned char out[2] = { 1, (unsigned char)!ok };

	if (!ok && !c->s->c.local)
		auth_failed(&c->s->c.addr);
	if (!ok)
		auth_fail_pause(c->fd, c->deadline);
	/* before the reply, that a client may follow with a new connection */
	if (ok && !c->s->c.local)
		auth_passed(&c->s->c.addr);
	if (conn_send(c, out, sizeof out) < 0)
		return HANDSHAKE_CLIENT_GONE;
	if (ok)
		return NULL;
	c->s->auth_failed = 1;
	conn_linger(c);
	return "auth failed";
}

/* RFC 1929 sub-negotiation; NULL when the client may go on, or why not */
static const char *
authenticate(struct conn *c)
{
	static const unsigned char bad[2] = { 1, 1 };
	struct socks5_auth a;
	const char *why = NULL;
	size_t used;
	enum parse p;
	int ok;

	memset(&a, 0, sizeof a);
	while ((p = socks5_parse_auth(c->buf, c->len, &a, &used)) ==
	    PARSE_NEED_MORE)
		if ((why = conn_fill(c)))
			goto out;
	if (p == PARSE_ERROR) {
		c->s->auth_failed = 1;
		conn_send(c, bad, sizeof bad);
		conn_linger(c);
		why = "bad auth request";
		goto out;
	}
	conn_consume(c, used);
	ok = auth_check(&a, c->fd, c->deadline);
	session_set_user(c->s, a.user);
	if (ok < 0) {
		c->s->auth_failed = 1;
		why = auth_client_gone(c->fd) ? HANDSHAKE_CLIENT_GONE :
		    "handshake timeout";
	} else {
		why = auth_answer(c, ok);
	}
out:
	explicit_bzero(&a, sizeof a);
	return why;
}

/* SOCKS5 from the greeting to the request; NULL, or why the client was
 * refused (and told so, if it is to be told) */
static const char *
socks5_negotiate(struct conn *c, struct socks5_request *req)
{
	struct socks5_greeting g;
	unsigned char out[2];
	const char *why;
	size_t used;
	enum parse p;
	int banned;

	while ((p = socks5_parse_greeting(c->buf, c->len, &g, &used)) ==
	    PARSE_NEED_MORE)
		if ((why = conn_fill(c)))
			return why;
	if (p == PARSE_ERROR)
		return HANDSHAKE_CLIENT_GONE;
	conn_consume(c, used);
	out[0] = 5;
	out[1] = (unsigned char)choose_method(c, g.offers);
	/* an address that gave too many wrong passwords gets no more tries */
	banned = out[1] == METHOD_USERPASS && !c->s->c.local &&
	    auth_banned(&c->s->c.addr);
	if (banned)
		out[1] = METHOD_NONE;
	if (conn_send(c, out, sizeof out) < 0)
		return HANDSHAKE_CLIENT_GONE;
	if (out[1] == METHOD_NONE) {
		if (banned)
			c->s->auth_failed = 1;
		conn_linger(c);
		return banned ? "too many wrong passwords" :
		    "no acceptable method";
	}
	if (out[1] == METHOD_USERPASS && (why = authenticate(c)))
		return why;
	while ((p = socks5_parse_request(c->buf, c->len, req, &used)) ==
	    PARSE_NEED_MORE)
		if ((why = conn_fill(c)))
			return why;
	if (p == PARSE_ERROR) {
		conn_reply(c, req->rep, NULL);
		return "bad request";
	}
	conn_consume(c, used);
	return NULL;
}

/* The SOCKS4 or SOCKS4a request, turned into its SOCKS5 equivalent;
 * NULL, or why the client was refused. SOCKS4 has no password: where one
 * is required, only a client that needs none may use it. */
static const char *
socks4_negotiate(struct conn *c, struct socks5_request *req)
{
	struct socks4_request r4;
	const char *why;
	size_t used;
	enum parse p;

	while ((p = socks4_parse_request(c->buf, c->len, &r4, &used)) ==
	    PARSE_NEED_MORE)
		if ((why = conn_fill(c)))
			return why;
	if (p == PARSE_ERROR) {
		conn_reply(c, REP_FAILURE, NULL);
		return "bad request";
	}
	conn_consume(c, used);
	/* the user id proves nothing, but tells who it claims to be */
	if (r4.userid[0])
		session_set_user(c->s, r4.userid);
	if (needs_auth(c)) {
		conn_reply(c, REP_NOT_ALLOWED, NULL);
		return "auth required";
	}
	memset(req, 0, sizeof *req);
	/* the same numbers, but SOCKS4 has nothing else */
	req->cmd = r4.cd == SOCKS4_CONNECT || r4.cd == SOCKS4_BIND ? r4.cd : 0;
	req->port = r4.port;
	if (r4.host[0]) {
		req->atyp = ATYP_DOMAIN;
		memcpy(req->host, r4.host, sizeof req->host);
	} else {
		req->atyp = ATYP_IPV4;
		memcpy(req->addr, r4.ip, 4);
	}
	return NULL;
}

/* CONNECT: the target's fd, or -1 with why in *why */
static int
do_connect(struct conn *c, const char **why)
{
	struct logfmt_record *r = &c->s->r;
	int fd, rep;

	fd = target_connect(&r->dst, c->fd, &r->peer, &r->bound, &rep);
	if (fd < 0 && errno == ECANCELED) {
		/* nobody to answer */
		*why = HANDSHAKE_CLIENT_GONE;
		return -1;
	}
	if (fd < 0) {
		*why = refuse(c, rep);
		return -1;
	}
	conn_reply(c, REP_SUCCESS, &r->bound);
	return fd;
}

/* BIND (RFC 1928 section 4): listen, tell the client where, take one
 * connection from the peer it named, tell it who came. Returns the
 * peer's fd, or -1 with why in *why. */
static int
do_bind(struct conn *c, const char **why)
{
	struct logfmt_record *r = &c->s->r;
	union sockaddr_union want;
	int lfd, fd, rep;

	lfd = target_bind_listen(&r->dst, c->fd, &want, &r->bound, &rep);
	if (lfd < 0) {
		*why = refuse(c, rep);
		return -1;
	}
	conn_reply(c, REP_SUCCESS, &r->bound);
	fd = target_bind_accept(lfd, c->fd, &want, &r->peer, &rep);
	if (fd < 0) {
		*why = refuse(c, rep);
		return -1;
	}
	conn_reply(c, REP_SUCCESS, &r->peer);
	return fd;
}

/* UDP ASSOCIATE: the relay socket's fd, with the client's UDP address in
 * the record's peer; or -1 with why in *why */
static int
do_udp(struct conn *c, const char **why)
{
	struct logfmt_record *r = &c->s->r;
	int fd, rep;

	fd = target_udp(c->fd, &r->bound, &rep);
	if (fd < 0) {
		conn_reply(c, rep, NULL);
		*why = "no UDP socket";
		return -1;
	}
	/* datagrams count only from the client's address, and from the
	 * port it named, if it named one */
	r->peer = c->s->c.addr;
	sa_set_port(&r->peer, r->dst.port);
	conn_reply(c, REP_SUCCESS, &r->bound);
	return fd;
}

/* A balancer's connection (--proxy-protocol): its PROXY header comes
 * first, within the handshake's time, and tells the client's address,
 * which is the client's from then on, for the admission that was put off
 * until now as for all else. Returns NULL, or why the client cannot go
 * on; it gets no reply, as a client refused at accept gets none. */
static const char *
take_proxy_header(struct conn *c)
{
	struct client *cl = &c->s->c;
	struct proxy_header h;
	const char *why;
	size_t used;
	enum parse p;

	while ((p = proxy_parse(c->buf, c->len, &h, &used)) ==
	    PARSE_NEED_MORE)
		if ((why = conn_fill(c)))
			return why;
	if (p == PARSE_ERROR)
		return "bad PROXY header";
	conn_consume(c, used);
	/* LOCAL (a health check): the balancer is the client */
	if (h.src.sa.sa_family == AF_UNSPEC) {
		cl->local = 1;
	} else {
		cl->addr = h.src;
		sa_unmap(&cl->addr);
		c->s->r.client = cl->addr;
	}
	return accept_admit(cl);
}

/* the request's command, run: the tunnel's other fd, or -1 with why */
static int
run_command(struct conn *c, const char **why)
{
	struct logfmt_record *r = &c->s->r;

	switch (r->dst.cmd) {
	case CMD_CONNECT:
		r->cmd = CMD_CONNECT;
		return do_connect(c, why);
	case CMD_BIND:
		r->cmd = CMD_BIND;
		return do_bind(c, why);
	case CMD_UDP_ASSOCIATE:
		if (c->version == 5) {
			r->cmd = CMD_UDP_ASSOCIATE;
			return do_udp(c, why);
		}
		/* FALLTHROUGH */
	default:
		*why = refuse(c, REP_CMD_UNSUPPORTED);
		return -1;
	}
}

int
handshake(struct session *s, const char **why)
{
	struct socks5_request req;
	struct conn c = {
		.fd = s->c.fd, .s = s,
		.deadline = now_ms() + config.handshake_ms,
	};
	int fd = -1;

	/* a balancer's connection names it, its header taken or not */
	if (s->c.balancer)
		s->r.balancer = s->c.addr;
	if (s->c.balancer && (*why = take_proxy_header(&c)))
		goto out;
	if (c.len == 0 && (*why = conn_fill(&c)))
		goto out;
	/* the first byte tells the protocol */
	c.version = c.buf[0];
	if (c.version == 5)
		*why = socks5_negotiate(&c, &req);
	else if (c.version == 4)
		*why = socks4_negotiate(&c, &req);
	else
		*why = "not a SOCKS client";
	if (*why)
		goto out;
	s->r.dst = req;
	fd = run_command(&c, why);
	/* what the client sent after its request goes first */
	if (fd >= 0 && s->r.cmd != CMD_UDP_ASSOCIATE &&
	    send_all(fd, c.buf, c.len, now_ms() + config.connect_ms) < 0) {
		*why = "reset";
		close(fd);
		fd = -1;
	}
out:
	explicit_bzero(c.buf, sizeof c.buf);
	return fd;
}
