/* SPDX-License-Identifier: MIT */
/* Unit tests of target.c over loopback: CONNECT's addresses in turn,
 * -b's family first, --connect-tries and --deny; BIND's listener, never
 * on a wildcard, and its one connection; a client gone before the
 * connect.
 *
 * The cases with names (tests/hosts) and with routes of the test
 * namespace need tests/run, which sets MS_TEST_ISOLATED=1; elsewhere they
 * say so and pass. Every wait is bounded by a small --connect-timeout or
 * --bind-timeout. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "rules.h"
#include "target.h"
#include "unit.h"
#include "unit_addr.h"

static int isolated;

/* The reply for a refused port: 05, but 01 under qemu for mips, whose
 * 7.2 does not translate the errno that getsockopt(SO_ERROR) gives (as
 * the black-box cases' MIPS_SO_ERROR says) */
static int
refused(void)
{
	const char *arch = getenv("MS_TEST_ARCH");

	return arch && !strcmp(arch, "mips") ? REP_FAILURE : REP_REFUSED;
}

/* 1 when u is ip, port port (0: any port) */
static int
is(const union sockaddr_union *u, const char *ip, unsigned short port)
{
	union sockaddr_union w = unit_addr(ip, port);

	return sa_same_ip(u, &w) && u->sa.sa_family == w.sa.sa_family &&
	    (!port || sa_port(u) == port);
}

/* a listener on ip, port port (0: any); its port in *got */
static int
listener(const char *ip, unsigned short port, unsigned short *got)
{
	union sockaddr_union u = unit_addr(ip, port);
	socklen_t len = sizeof u;
	int fd = socket(u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, &u.sa, sa_len(&u)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, &u.sa, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (got)
		*got = sa_port(&u);
	return fd;
}

/* a port of ip on which nothing listens */
static unsigned short
closed_port(const char *ip)
{
	unsigned short port = 0;
	int fd = listener(ip, 0, &port);

	if (fd < 0)
		abort();
	close(fd);
	return port;
}

/* the connection waiting on lfd, within ms; -1 when none came */
static int
accepted(int lfd, int ms)
{
	struct pollfd p = { lfd, POLLIN, 0 };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept(lfd, NULL, NULL);
}

static struct socks5_request
req_ip(const char *ip, unsigned short port, int cmd)
{
	struct socks5_request r;
	union sockaddr_union u = unit_addr(ip, 0);

	memset(&r, 0, sizeof r);
	r.cmd = (unsigned char)cmd;
	r.port = port;
	if (u.sa.sa_family == AF_INET) {
		r.atyp = ATYP_IPV4;
		memcpy(r.addr, &u.v4.sin_addr, 4);
	} else {
		r.atyp = ATYP_IPV6;
		memcpy(r.addr, &u.v6.sin6_addr, 16);
	}
	return r;
}

static struct socks5_request
req_name(const char *name, unsigned short port)
{
	struct socks5_request r;

	memset(&r, 0, sizeof r);
	r.cmd = CMD_CONNECT;
	r.atyp = ATYP_DOMAIN;
	r.port = port;
	strcpy(r.host, name);
	return r;
}

/* --deny of the ranges in list, comma-separated; NULL: none */
static void
deny(const char *list)
{
	char buf[256], *p, *save;
	struct rule r;

	if (config.deny)
		sblist_free(config.deny);
	config.deny = NULL;
	if (!list)
		return;
	if (!(config.deny = sblist_new(sizeof r, 4)))
		abort();
	strcpy(buf, list);
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
		if (rule_parse(p, 1, &r) < 0 || sblist_add(config.deny, &r) < 0)
			abort();
}

/* -b ip; NULL: none */
static void
bind_to(const char *ip)
{
	config.have_bind_addr = ip != NULL;
	if (ip)
		config.bind_addr = unit_addr(ip, 0);
}

/* the options as no case changed them */
static void
defaults(void)
{
	config.connect_ms = 2000;
	config.connect_tries = 8;
	config.bind_ms = 2000;
	bind_to(NULL);
	deny(NULL);
}

/* a socketpair that stays, to stand for a client that does */
static int client_fds[2];

static int
need_namespace(void)
{
	if (!isolated)
		printf("  not in tests/run's namespace: its names and routes "
		    "not tested\n");
	return isolated;
}

/* CONNECT to an IPv4 literal: the peer and our end filled in */
static void
test_connect_ipv4(void)
{
	union sockaddr_union peer, bound, seen;
	socklen_t len = sizeof seen;
	struct socks5_request r;
	unsigned short port;
	int lfd, fd, afd, rep = -1;

	defaults();
	lfd = listener("127.0.0.1", 0, &port);
	CHECK(lfd >= 0);
	r = req_ip("127.0.0.1", port, CMD_CONNECT);
	fd = target_connect(&r, client_fds[0], &peer, &bound, &rep);
	CHECK(fd >= 0);
	CHECK(is(&peer, "127.0.0.1", port));
	CHECK(bound.sa.sa_family == AF_INET && sa_port(&bound) != 0);
	afd = accepted(lfd, 1000);
	CHECK(afd >= 0);
	/* what the target sees as its peer is what we tell the client */
	CHECK(afd >= 0 && getpeername(afd, &seen.sa, &len) == 0 &&
	    sa_same_ip(&seen, &bound) && sa_port(&seen) == sa_port(&bound));
	if (afd >= 0)
		close(afd);
	if (fd >= 0)
		close(fd);
	close(lfd);
}

static void
test_connect_ipv6(void)
{
	union sockaddr_union peer, bound;
	struct socks5_request r;
	unsigned short port;
	int lfd, fd, rep = -1;

	defaults();
	if ((lfd = listener("::1", 0, &port)) < 0) {
		printf("  no ::1 here\n");
		return;
	}
	r = req_ip("::1", port, CMD_CONNECT);
	fd = target_connect(&r, client_fds[0], &peer, &bound, &rep);
	CHECK(fd >= 0);
	CHECK(is(&peer, "::1", port));
	CHECK(is(&bound, "::1", 0));
	if (fd >= 0)
		close(fd);
	close(lfd);
}

/* a port where nothing listens: 05, connection refused */
static void
test_connect_refused(void)
{
	union sockaddr_union peer, bound;
	struct socks5_request r;
	int rep = -1;

	defaults();
	r = req_ip("127.0.0.1", closed_port("127.0.0.1"), CMD_CONNECT);
	CHECK(target_connect(&r, client_fds[0], &peer, &bound, &rep) == -1);
	CHECK(rep == refused());
}

/* --deny: 02, without a connect, in every spelling of the address */
static void
test_connect_denied(void)
{
	union sockaddr_union peer, bound;
	struct socks5_request r;
	unsigned short port;
	int lfd, fd, rep;

	defaults();
	lfd = listener("127.0.0.1", 0, &port);
	CHECK(lfd >= 0);
	deny("127.0.0.0/8");
	rep = -1;
	r = req_ip("127.0.0.1", port, CMD_CONNECT);
	CHECK(target_connect(&r, client_fds[0], &peer, &bound, &rep) == -1);
	CHECK(rep == REP_NOT_ALLOWED);
	rep = -1;
	r = req_ip("::ffff:127.0.0.1", port, CMD_CONNECT);
	CHECK(target_connect(&r, client_fds[0], &peer, &bound, &rep) == -1);
	CHECK(rep == REP_NOT_ALLOWED);
	/* nothing reached the listener */
	CHECK(accepted(lfd, 50) < 0);
	/* a rule with a port denies that port only */
	deny("127.0.0.1:1");
	rep = -1;
	r = req_ip("127.0.0.1", port, CMD_CONNECT);
	fd = target_connect(&r, client_fds[0], &peer, &bound, &rep);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	deny(NULL);
	close(lfd);
}

/* multi.test: 127.0.0.5 refuses, 127.0.0.1 listens */
static void
test_connect_multi(void)
{
	union sockaddr_union peer, bound;
	struct socks5_request r;
	unsigned short port;
	int lfd, fd, rep = -1;

	if (!need_namespace())
		return;
	defaults();
	lfd = listener("127.0.0.1", 0, &port);
	CHECK(lfd >= 0);
	r = req_name("multi.test", port);
	fd = target_connect(&r, client_fds[0], &peer, &bound, &rep);
	CHECK(fd >= 0);
	CHECK(is(&peer, "127.0.0.1", port));
	if (fd >= 0)
		close(fd);
	/* one try: the first address, which refuses */
	config.connect_tries = 1;
	rep = -1;
	CHECK(target_connect(&r, client_fds[0], &peer, &bound, &rep) == -1);
	CHECK(rep == refused());
	CHECK(is(&peer, "127.0.0.5", port));
	/* a denied address costs no try */
	deny("127.0.0.5");
	fd = target_connect(&r, client_fds[0], &peer, &bound, &rep);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	/* every address denied: 02 */
	deny("127.0.0.0/8");
	rep = -1;
	config.connect_tries = 8;
	CHECK(target_connect(&r, client_fds[0], &peer, &bound, &rep) == -1);
	CHECK(rep == REP_NOT_ALLOWED);
	deny(NULL);
	close(lfd);
}

/* many.test: four that refuse, then the target; --connect-tries */
static void
test_connect_tries(void)
{
	union sockaddr_union peer, bound;
	struct socks5_request r;
	unsigned short port;
	int lfd, fd, rep;

	if (!need_namespace())
		return;
	defaults();
	lfd = listener("127.0.0.1", 0, &port);
	CHECK(lfd >= 0);
	r = req_name("many.test", port);
	config.connect_tries = 2;
	rep = -1;
	CHECK(target_connect(&r, client_fds[0], &peer, &bound, &rep) == -1);
	CHECK(rep == refused());
	CHECK(is(&peer, "127.0.0.12", port));
	config.connect_tries = 4;
	CHECK(target_connect(&r, client_fds[0], &peer, &bound, &rep) == -1);
	config.connect_tries = 5;
	fd = target_connect(&r, client_fds[0], &peer, &bound, &rep);
	CHECK(fd >= 0 && is(&peer, "127.0.0.1", port));
	if (fd >= 0)
		close(fd);
	/* two denied: three tries are enough */
	config.connect_tries = 3;
	deny("127.0.0.11,127.0.0.12");
	fd = target_connect(&r, client_fds[0], &peer, &bound, &rep);
	CHECK(fd >= 0 && is(&peer, "127.0.0.1", port));
	if (fd >= 0)
		close(fd);
	deny(NULL);
	config.connect_tries = 8;
	fd = target_connect(&r, client_fds[0], &peer, &bound, &rep);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	close(lfd);
}

/* dual.test is 127.0.0.1 and ::1, both listening on one port: which
 * listener a CONNECT reaches, with -b of either family and without */
static int
dual_reaches(int l4, int l6, unsigned short port, const char *from)
{
	union sockaddr_union peer, bound;
	struct socks5_request r = req_name("dual.test", port);
	int fd, rep = -1, a, got;

	bind_to(from);
	fd = target_connect(&r, client_fds[0], &peer, &bound, &rep);
	CHECK(fd >= 0);
	if (fd < 0)
		return 0;
	close(fd);
	if ((a = accepted(l4, 0)) >= 0) {
		got = AF_INET;
		CHECK(is(&peer, "127.0.0.1", port));
	} else if ((a = accepted(l6, 1000)) >= 0) {
		got = AF_INET6;
		CHECK(is(&peer, "::1", port));
	} else {
		got = 0;
	}
	if (a >= 0)
		close(a);
	/* no connection left behind on the other */
	a = accepted(got == AF_INET ? l6 : l4, 20);
	CHECK(a < 0);
	if (a >= 0)
		close(a);
	return got;
}

static void
test_connect_bind_family(void)
{
	struct addrinfo hints, *res;
	unsigned short port = 0;
	int l4, l6 = -1, i, first;

	if (!need_namespace())
		return;
	defaults();
	/* one port free on both */
	for (i = 0; i < 20 && l6 < 0; i++) {
		l4 = listener("127.0.0.1", 0, &port);
		CHECK(l4 >= 0);
		if ((l6 = listener("::1", port, NULL)) < 0)
			close(l4);
	}
	CHECK(l6 >= 0);
	if (l6 < 0)
		return;
	CHECK(dual_reaches(l4, l6, port, "::1") == AF_INET6);
	CHECK(dual_reaches(l4, l6, port, "127.0.0.1") == AF_INET);
	/* without -b, the resolver's order */
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	CHECK(getaddrinfo("dual.test", "1", &hints, &res) == 0);
	first = res ? res->ai_family : -1;
	CHECK(res && res->ai_next && res->ai_next->ai_family != first);
	if (res)
		freeaddrinfo(res);
	CHECK(dual_reaches(l4, l6, port, NULL) == first);
	/* -b's family refusing: the other family is tried after it */
	close(l6);
	CHECK(dual_reaches(l4, -1, port, "::1") == AF_INET);
	bind_to(NULL);
	close(l4);
}

/* a name that does not resolve: 04 */
static void
test_connect_unresolved(void)
{
	union sockaddr_union peer, bound;
	struct socks5_request r = req_name("nowhere.invalid", 80);
	int rep = -1;

	if (!need_namespace())
		return;
	defaults();
	CHECK(target_connect(&r, client_fds[0], &peer, &bound, &rep) == -1);
	CHECK(rep == REP_HOST_UNREACH);
}

/* a client that closed, or shut down its side: nobody to connect for;
 * ECANCELED at once rather than the connect timeout */
static void
test_connect_client_gone(void)
{
	union sockaddr_union peer, bound;
	struct socks5_request r;
	long long t;
	int sv[2], rep = -1, half;

	if (!need_namespace())
		return;
	defaults();
	config.connect_ms = 3000;
	/* 127.3.0.0/16: routed, but the SYNs are dropped */
	r = req_ip("127.3.0.1", 80, CMD_CONNECT);
	for (half = 0; half < 2; half++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			abort();
		if (half)
			shutdown(sv[1], SHUT_WR);
		else
			close(sv[1]);
		t = now_ms();
		errno = 0;
		CHECK(target_connect(&r, sv[0], &peer, &bound, &rep) == -1);
		CHECK(errno == ECANCELED);
		CHECK(now_ms() - t < 1000);
		close(sv[0]);
		if (half)
			close(sv[1]);
	}
	/* a client that stays: the timeout, 06 */
	config.connect_ms = 100;
	rep = -1;
	CHECK(target_connect(&r, client_fds[0], &peer, &bound, &rep) == -1);
	CHECK(rep == REP_TTL_EXPIRED);
}

/* a TCP client of ours at ip: the server side of its connection in *s,
 * its own end returned */
static int
tcp_client(const char *ip, int *s)
{
	union sockaddr_union u;
	socklen_t len = sizeof u;
	unsigned short port;
	int lfd = listener(ip, 0, &port), c;

	*s = -1;
	if (lfd < 0)
		return -1;
	u = unit_addr(ip, port);
	c = socket(u.sa.sa_family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, &u.sa, len = sa_len(&u)) < 0)
		abort();
	*s = accepted(lfd, 1000);
	close(lfd);
	return c;
}

/* BIND: the listener on the address the client reached us at, never a
 * wildcard; a family neither -b nor the client has: 08 */
static void
test_bind_listen(void)
{
	union sockaddr_union want, bound;
	struct socks5_request r;
	int c, s, lfd, rep, sv[2];

	defaults();
	c = tcp_client("127.0.0.1", &s);
	CHECK(c >= 0 && s >= 0);
	r = req_ip("127.0.0.1", 0, CMD_BIND);
	rep = -1;
	lfd = target_bind_listen(&r, s, &want, &bound, &rep);
	CHECK(lfd >= 0);
	CHECK(is(&want, "127.0.0.1", 0));
	CHECK(is(&bound, "127.0.0.1", 0) && sa_port(&bound) != 0);
	if (lfd >= 0)
		close(lfd);
	/* a wildcard -b is no address to listen on */
	bind_to("0.0.0.0");
	lfd = target_bind_listen(&r, s, &want, &bound, &rep);
	CHECK(lfd >= 0 && is(&bound, "127.0.0.1", 0));
	if (lfd >= 0)
		close(lfd);
	/* IPv6 for a client that came over IPv4, without -b of IPv6 */
	bind_to(NULL);
	r = req_ip("::1", 0, CMD_BIND);
	rep = -1;
	CHECK(target_bind_listen(&r, s, &want, &bound, &rep) == -1);
	CHECK(rep == REP_ATYP_UNSUPPORTED);
	bind_to("::");
	rep = -1;
	CHECK(target_bind_listen(&r, s, &want, &bound, &rep) == -1);
	CHECK(rep == REP_ATYP_UNSUPPORTED);
	/* with -b of IPv6, there */
	bind_to("::1");
	lfd = target_bind_listen(&r, s, &want, &bound, &rep);
	if (lfd >= 0 || errno != EADDRNOTAVAIL) {
		CHECK(lfd >= 0 && is(&bound, "::1", 0));
		CHECK(is(&want, "::1", 0));
	}
	if (lfd >= 0)
		close(lfd);
	/* --deny of the peer named */
	bind_to(NULL);
	deny("127.0.0.1");
	r = req_ip("::ffff:127.0.0.1", 0, CMD_BIND);
	rep = -1;
	CHECK(target_bind_listen(&r, s, &want, &bound, &rep) == -1);
	CHECK(rep == REP_NOT_ALLOWED);
	deny(NULL);
	/* a client without an IP address of its own */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	r = req_ip("127.0.0.1", 0, CMD_BIND);
	rep = -1;
	CHECK(target_bind_listen(&r, sv[0], &want, &bound, &rep) == -1);
	CHECK(rep == REP_ATYP_UNSUPPORTED);
	close(sv[0]);
	close(sv[1]);
	close(c);
	close(s);
}

/* connects to the listener at u from ip; returns the fd */
static int
connect_from(const char *ip, const union sockaddr_union *u)
{
	union sockaddr_union from = unit_addr(ip, 0);
	int fd = socket(u->sa.sa_family, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, &from.sa, sa_len(&from)) < 0 ||
	    connect(fd, &u->sa, sa_len(u)) < 0)
		abort();
	return fd;
}

/* BIND's one connection: the peer named, another one (02), nobody
 * within --bind-timeout (06), the client gone (01) */
static void
test_bind_accept(void)
{
	union sockaddr_union want, bound, peer;
	struct socks5_request r;
	int c, s, lfd, fd, p, rep, sv[2];
	long long t;

	defaults();
	c = tcp_client("127.0.0.1", &s);
	CHECK(c >= 0 && s >= 0);
	r = req_ip("127.0.0.1", 0, CMD_BIND);
	lfd = target_bind_listen(&r, s, &want, &bound, &rep);
	CHECK(lfd >= 0);
	p = connect_from("127.0.0.1", &bound);
	fd = target_bind_accept(lfd, s, &want, &peer, &rep);
	CHECK(fd >= 0 && is(&peer, "127.0.0.1", 0));
	if (fd >= 0)
		close(fd);
	close(p);
	/* the wrong peer; 127.0.0.2 is ours where the namespace is not too,
	 * Linux has all of 127.0.0.0/8 */
	lfd = target_bind_listen(&r, s, &want, &bound, &rep);
	CHECK(lfd >= 0);
	p = connect_from("127.0.0.2", &bound);
	rep = -1;
	CHECK(target_bind_accept(lfd, s, &want, &peer, &rep) == -1);
	CHECK(rep == REP_NOT_ALLOWED);
	close(p);
	/* nobody */
	config.bind_ms = 100;
	lfd = target_bind_listen(&r, s, &want, &bound, &rep);
	CHECK(lfd >= 0);
	rep = -1;
	CHECK(target_bind_accept(lfd, s, &want, &peer, &rep) == -1);
	CHECK(rep == REP_TTL_EXPIRED);
	/* the client leaves: at once, not at the timeout */
	config.bind_ms = 3000;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	lfd = target_bind_listen(&r, s, &want, &bound, &rep);
	CHECK(lfd >= 0);
	close(sv[1]);
	t = now_ms();
	rep = -1;
	CHECK(target_bind_accept(lfd, sv[0], &want, &peer, &rep) == -1);
	CHECK(rep == REP_FAILURE && now_ms() - t < 1000);
	close(sv[0]);
	/* the listener is closed either way */
	CHECK(fcntl(lfd, F_GETFD) == -1);
	close(c);
	close(s);
}

int
main(void)
{
	const char *e = getenv("MS_TEST_ISOLATED");

	isolated = e && !strcmp(e, "1");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, client_fds) < 0)
		return 1;
	run("target_connect_ipv4", test_connect_ipv4);
	run("target_connect_ipv6", test_connect_ipv6);
	run("target_connect_refused", test_connect_refused);
	run("target_connect_denied", test_connect_denied);
	run("target_connect_multi", test_connect_multi);
	run("target_connect_tries", test_connect_tries);
	run("target_connect_bind_family", test_connect_bind_family);
	run("target_connect_unresolved", test_connect_unresolved);
	run("target_connect_client_gone", test_connect_client_gone);
	run("target_bind_listen", test_bind_listen);
	run("target_bind_accept", test_bind_accept);
	return unit_summary();
}
