/* SPDX-License-Identifier: MIT */
/* Socket plumbing: addresses, listening, bounded connect and send. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

socklen_t
sa_len(const union sockaddr_union *u)
{
	return u->sa.sa_family == AF_INET6 ? sizeof u->v6 : sizeof u->v4;
}

int
sa_same_ip(const union sockaddr_union *a, const union sockaddr_union *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET)
		return a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr;
	return !memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, 16);
}

void
sa_key(const union sockaddr_union *u, unsigned char *ip)
{
	if (u->sa.sa_family == AF_INET6) {
		memcpy(ip, &u->v6.sin6_addr, 16);
		return;
	}
	memset(ip, 0, 10);
	ip[10] = ip[11] = 0xff;
	memcpy(ip + 12, &u->v4.sin_addr, 4);
}

void
sa_unmap(union sockaddr_union *u)
{
	struct sockaddr_in v4;

	if (u->sa.sa_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&u->v6.sin6_addr))
		return;
	memset(&v4, 0, sizeof v4);
	v4.sin_family = AF_INET;
	v4.sin_port = u->v6.sin6_port;
	memcpy(&v4.sin_addr, u->v6.sin6_addr.s6_addr + 12, 4);
	u->v4 = v4;
}

char *
sa_str(const union sockaddr_union *u, char *buf)
{
	char ip[INET6_ADDRSTRLEN];

	if (u->sa.sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &u->v6.sin6_addr, ip, sizeof ip))
		snprintf(buf, SA_STRLEN, "[%s]:%u", ip, ntohs(u->v6.sin6_port));
	else if (u->sa.sa_family == AF_INET &&
	    inet_ntop(AF_INET, &u->v4.sin_addr, ip, sizeof ip))
		snprintf(buf, SA_STRLEN, "%s:%u", ip, ntohs(u->v4.sin_port));
	else
		snprintf(buf, SA_STRLEN, "?");
	return buf;
}

int
server_resolve(const char *host, unsigned short port, int flags,
    struct addrinfo **res)
{
	struct addrinfo hints;
	char service[8];

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags;
	snprintf(service, sizeof service, "%u", port);
	return getaddrinfo(host, service, &hints, res);
}

int
server_listen(const struct addrinfo *ai)
{
	int fd, one = 1, saved;

	fd = socket(ai->ai_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* accepted sockets inherit TCP_NODELAY: the relay copies what each
	 * end wrote, let the ends do the batching */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* restart at once on the port that TIME_WAIT tunnels still hold */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, SERVER_BACKLOG) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
server_bind_device(int fd, const char *dev)
{
#ifdef SO_BINDTODEVICE
	return setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev,
	    (socklen_t)strlen(dev) + 1);
#else
	(void)fd;
	(void)dev;
	errno = ENOPROTOOPT;
	return -1;
#endif
}

int
server_connect(const union sockaddr_union *dst,
    const union sockaddr_union *bindaddr, const char *dev, int timeout_ms,
    int watch)
{
	struct pollfd pfd[2];
	long long deadline = now_ms() + timeout_ms;
	socklen_t len;
	int fd, err, one = 1, r;

	fd = socket(dst->sa.sa_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* the relay copies what each end wrote; let the ends do the batching */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (dev && server_bind_device(fd, dev) < 0)
		goto fail;
	if (bindaddr && bindaddr->sa.sa_family == dst->sa.sa_family) {
#ifdef IP_BIND_ADDRESS_NO_PORT
		/* pick the port at connect(), so that one bind address can
		 * serve as many tunnels as there are (address, port) pairs */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		    sizeof one);
#endif
		if (bind(fd, &bindaddr->sa, sa_len(bindaddr)) < 0)
			goto fail;
	}
	if (connect(fd, &dst->sa, sa_len(dst)) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	pfd[0].fd = fd;
	pfd[0].events = POLLOUT;
	pfd[1].fd = watch;
	pfd[1].events = POLLRDHUP;
	while ((r = poll(pfd, 2, ms_left(deadline))) < 0 && errno == EINTR)
		;
	if (r < 0)
		goto fail;
	if (r == 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	/* done connecting, whatever watch says; else watch ended the wait */
	if (!pfd[0].revents) {
		errno = ECANCELED;
		goto fail;
	}
	/* a connect that failed says so with POLLERR or POLLHUP */
	if (!(pfd[0].revents & (POLLERR | POLLHUP)))
		return fd;
	len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		goto fail;
	errno = err ? err : ECONNREFUSED;
	goto fail;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ms_left(long long deadline)
{
	long long left = deadline - now_ms();

	if (left <= 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

int
send_all(int fd, const void *buf, size_t n, long long deadline)
{
	const char *p = buf;
	struct pollfd pfd;
	ssize_t w;
	int r;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		r = poll(&pfd, 1, ms_left(deadline));
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (r < 0 && errno != EINTR)
			return -1;
	}
	return 0;
}

unsigned short
sa_port(const union sockaddr_union *u)
{
	if (u->sa.sa_family == AF_INET)
		return ntohs(u->v4.sin_port);
	if (u->sa.sa_family == AF_INET6)
		return ntohs(u->v6.sin6_port);
	return 0;
}

void
sa_set_port(union sockaddr_union *u, unsigned short port)
{
	if (u->sa.sa_family == AF_INET)
		u->v4.sin_port = htons(port);
	else if (u->sa.sa_family == AF_INET6)
		u->v6.sin6_port = htons(port);
}

int
sa_is_any(const union sockaddr_union *u)
{
	if (u->sa.sa_family == AF_INET)
		return u->v4.sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&u->v6.sin6_addr);
}

int
sa_of_request(const struct socks5_request *req, union sockaddr_union *u)
{
	memset(u, 0, sizeof *u);
	if (req->atyp == ATYP_IPV4) {
		u->v4.sin_family = AF_INET;
		memcpy(&u->v4.sin_addr, req->addr, 4);
	} else if (req->atyp == ATYP_IPV6) {
		u->v6.sin6_family = AF_INET6;
		memcpy(&u->v6.sin6_addr, req->addr, 16);
	} else {
		return -1;
	}
	sa_set_port(u, req->port);
	return 0;
}
