/* SPDX-License-Identifier: MIT */
/* Socket plumbing: resolving, listening, bounded connect and send. */
#ifndef SERVER_H
#define SERVER_H

#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "addr.h"

/* getaddrinfo() for a TCP socket; returns its error code (0 on success) */
int server_resolve(const char *host, unsigned short port, int flags,
    struct addrinfo **res);

/* The listen backlog: one value for every libc (SOMAXCONN is 128 in
 * musl, 4096 in glibc); the kernel caps it at net.core.somaxconn. */
#ifndef SERVER_BACKLOG
#define SERVER_BACKLOG 4096
#endif

/* A non-blocking listening socket on ai; with reuseport, one that shares
 * its address and port with those of other processes of the same user
 * that set it too (SO_REUSEPORT), the kernel spreading new connections
 * over them. Returns the fd, or -1 with errno set. */
int server_listen(const struct addrinfo *ai, int reuseport);

/* Connects to dst from bindaddr (when not NULL and of dst's family),
 * through the interface dev (when not NULL), waiting at most timeout_ms,
 * and only while the socket watch (-1: none) has not been closed or shut
 * down by its peer. Returns a non-blocking fd, or -1 with errno set
 * (ETIMEDOUT when the wait ran out, ECANCELED when watch ended it). */
int server_connect(const union sockaddr_union *dst,
    const union sockaddr_union *bindaddr, const char *dev, int timeout_ms,
    int watch);

/* binds fd to the network interface dev (SO_BINDTODEVICE); 0, or -1
 * with errno set, ENOPROTOOPT where the system has no such option */
int server_bind_device(int fd, const char *dev);

/* milliseconds of a monotonic clock */
long long now_ms(void);
/* milliseconds left until deadline, 0 when past it, for poll() */
int ms_left(long long deadline);

/* Sends all n bytes on the non-blocking socket fd before deadline. Returns
 * 0, or -1 with errno set (ETIMEDOUT when the deadline passed). */
int send_all(int fd, const void *buf, size_t n, long long deadline);

#endif /* SERVER_H */
