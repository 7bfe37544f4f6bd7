/* SPDX-License-Identifier: MIT */
/* Socket plumbing: resolving, listening, bounded connect and send. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

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
server_listen(const struct addrinfo *ai, int reuseport)
{
	int fd, one = 1, saved;

	fd = socket(ai->ai_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* accepted sockets inherit TCP_NODELAY: the relay copies what each
	 * end wrote, let the ends do the batching */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* Not TCP_DEFER_ACCEPT, although a SOCKS client speaks first and a
	 * thread woken for a client whose greeting has not come must wait
	 * again: with it, the kernel holds a connection that sends nothing
	 * for a second, so that it counts against --max-clients and
	 * --max-per-ip and is refused only then, and is closed a second
	 * after --handshake-timeout. */
	/* restart at once on the port that TIME_WAIT tunnels still hold */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof one) < 0) ||
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
