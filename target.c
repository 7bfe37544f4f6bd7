/* SPDX-License-Identifier: MIT */
/* Reaching what a client asked for, within the rules: CONNECT's tries,
 * BIND's listener, UDP ASSOCIATE's socket. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "rules.h"
#include "target.h"

/* 1 when --deny refuses the address u, in whatever form it came */
static int
denied(const union sockaddr_union *u)
{
	union sockaddr_union plain = *u;

	/* ::ffff:127.0.0.1 is 127.0.0.1 */
	sa_unmap(&plain);
	return config_in(config.deny, &plain);
}

/* -b's address, NULL when not given */
static const union sockaddr_union *
bind_addr(void)
{
	return config.have_bind_addr ? &config.bind_addr : NULL;
}

/* Of two failures, the one that got further: a refusal proves the host
 * was reached, a timeout that packets left, and so on. */
static int
rep_further(int a, int b)
{
	static const unsigned char rank[] = {
		[REP_FAILURE] = 0, [REP_NOT_ALLOWED] = 0,
		[REP_NET_UNREACH] = 1, [REP_HOST_UNREACH] = 2,
		[REP_ATYP_UNSUPPORTED] = 0, [REP_TTL_EXPIRED] = 3,
		[REP_REFUSED] = 4,
	};

	return rank[b] > rank[a] ? b : a;
}

/* One connect to dst, unless it is denied, for as long as the client
 * stays; or -1 with the reply code in *rep, and errno EACCES when denied,
 * ECANCELED when the client left. */
static int
try_connect(const union sockaddr_union *dst, int client, int *rep)
{
	int fd;

	if (denied(dst)) {
		*rep = REP_NOT_ALLOWED;
		errno = EACCES;
		return -1;
	}
	fd = server_connect(dst, bind_addr(), config.bind_device,
	    config.connect_ms, client);
	if (fd < 0)
		*rep = socks5_errno_rep(errno);
	return fd;
}

/* try_connect() to the addresses of res in turn: those of -b's family
 * on the first pass, the others on the second, --connect-tries at most */
static int
connect_each(const struct addrinfo *res, int client,
    union sockaddr_union *peer, int *rep)
{
	const union sockaddr_union *from = bind_addr();
	const struct addrinfo *ai;
	int fd = -1, pass, first = 1, r, tries = 0, err = 0;

	for (pass = 0; pass < 2 && fd < 0; pass++) {
		for (ai = res; ai && fd < 0 && tries < config.connect_tries &&
		    err != ECANCELED; ai = ai->ai_next) {
			if ((ai->ai_family != AF_INET &&
			    ai->ai_family != AF_INET6) ||
			    ai->ai_addrlen > sizeof *peer)
				continue;
			if ((!from || ai->ai_family == from->sa.sa_family) !=
			    (pass == 0))
				continue;
			memcpy(peer, ai->ai_addr, ai->ai_addrlen);
			fd = try_connect(peer, client, &r);
			if (fd < 0) {
				err = errno;
				/* a denied address costs no try */
				tries += err != EACCES;
				*rep = first ? r : rep_further(*rep, r);
				first = 0;
			}
		}
	}
	errno = err;
	return fd;
}

int
target_connect(const struct socks5_request *req, int client,
    union sockaddr_union *peer, union sockaddr_union *bound, int *rep)
{
	struct addrinfo *res;
	socklen_t len = sizeof *bound;
	int fd;

	if (sa_of_request(req, peer) == 0) {
		fd = try_connect(peer, client, rep);
	} else {
		/* RFC 1928 has no code for a name that does not resolve */
		*rep = REP_HOST_UNREACH;
		if (server_resolve(req->host, req->port, 0, &res) != 0)
			return -1;
		fd = connect_each(res, client, peer, rep);
		freeaddrinfo(res);
	}
	if (fd >= 0 && getsockname(fd, &bound->sa, &len) < 0)
		bound->sa.sa_family = AF_UNSPEC;
	return fd;
}

/* The address for a BIND listener of the family asked for: -b's when it
 * is of that family, else the one the client reached us at; never a
 * wildcard, which would take connections on every interface. Returns 0,
 * or -1 when there is no such address. */
static int
bind_local(int client, int family, union sockaddr_union *u)
{
	socklen_t len = sizeof *u;

	if (config.have_bind_addr &&
	    config.bind_addr.sa.sa_family == family &&
	    !sa_is_any(&config.bind_addr)) {
		*u = config.bind_addr;
	} else if (getsockname(client, &u->sa, &len) == 0) {
		sa_unmap(u);
		if (u->sa.sa_family != family || sa_is_any(u))
			return -1;
	} else {
		return -1;
	}
	sa_set_port(u, 0);
	return 0;
}

int
target_bind_listen(const struct socks5_request *req, int client,
    union sockaddr_union *want, union sockaddr_union *bound, int *rep)
{
	union sockaddr_union local;
	struct addrinfo *res;
	socklen_t len = sizeof *bound;
	int lfd;

	if (sa_of_request(req, want) < 0) {
		if (server_resolve(req->host, req->port, 0, &res) != 0) {
			*rep = REP_HOST_UNREACH;
			return -1;
		}
		memcpy(want, res->ai_addr, res->ai_addrlen > sizeof *want ?
		    sizeof *want : res->ai_addrlen);
		freeaddrinfo(res);
	}
	sa_unmap(want);
	if (denied(want)) {
		*rep = REP_NOT_ALLOWED;
		return -1;
	}
	if (bind_local(client, want->sa.sa_family, &local) < 0) {
		*rep = REP_ATYP_UNSUPPORTED;
		return -1;
	}
	*rep = REP_FAILURE;
	lfd = socket(local.sa.sa_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -1;
	if (bind(lfd, &local.sa, sa_len(&local)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, &bound->sa, &len) < 0) {
		close(lfd);
		return -1;
	}
	return lfd;
}

/* Waits for a connection on lfd until the deadline, while watching that
 * the client is still there. Returns its fd, or -1 with the reply code
 * in *rep. */
static int
bind_wait(int lfd, int client, union sockaddr_union *peer, int *rep)
{
	long long deadline = now_ms() + config.bind_ms;
	struct pollfd pfd[2];
	socklen_t len;
	int fd, r;

	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	/* the client's going away, not bytes it sends early, which wait
	 * for the relay */
	pfd[1].fd = client;
	pfd[1].events = POLLRDHUP;
	for (;;) {
		r = poll(pfd, 2, ms_left(deadline));
		if (r == 0) {
			*rep = REP_TTL_EXPIRED;
			return -1;
		}
		if (r < 0 && errno != EINTR) {
			*rep = REP_FAILURE;
			return -1;
		}
		if (r < 0)
			continue;
		if (pfd[1].revents) {
			*rep = REP_FAILURE;
			return -1;
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		len = sizeof *peer;
		fd = accept4(lfd, &peer->sa, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			sa_unmap(peer);
			return fd;
		}
		if (errno != EAGAIN && errno != ECONNABORTED &&
		    errno != EINTR) {
			*rep = REP_FAILURE;
			return -1;
		}
	}
}

int
target_bind_accept(int lfd, int client, const union sockaddr_union *want,
    union sockaddr_union *peer, int *rep)
{
	int fd = bind_wait(lfd, client, peer, rep);

	close(lfd);
	if (fd >= 0 && !sa_is_any(want) && !sa_same_ip(peer, want)) {
		close(fd);
		*rep = REP_NOT_ALLOWED;
		return -1;
	}
	return fd;
}

void
target_udp_opts(struct udp_opts *o)
{
	o->idle_ms = config.idle_ms;
	o->bindaddr = bind_addr();
	o->device = config.bind_device;
	o->announce = config.have_udp_announce ? &config.udp_announce : NULL;
	o->port_lo = config.udp_port_lo;
	o->port_hi = config.udp_port_hi;
	o->denied = denied;
}

int
target_udp(int client, union sockaddr_union *bound, int *rep)
{
	union sockaddr_union local;
	struct udp_opts o;
	socklen_t len = sizeof local;
	int fd = -1;

	target_udp_opts(&o);
	if (getsockname(client, &local.sa, &len) == 0) {
		sa_unmap(&local);
		fd = udp_open(&local, &o, bound);
	}
	*rep = REP_FAILURE;
	return fd;
}
