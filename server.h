/* SPDX-License-Identifier: MIT */
/* Socket plumbing: addresses, listening, bounded connect and send. */
#ifndef SERVER_H
#define SERVER_H

#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "socks5.h"

union sockaddr_union {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/* "255.255.255.255:65535" or "[v6%scope]:65535" with room to spare */
#define SA_STRLEN (INET6_ADDRSTRLEN + 24)

socklen_t sa_len(const union sockaddr_union *u);
/* 1 when a and b hold the same IP address (ports are not compared) */
int sa_same_ip(const union sockaddr_union *a, const union sockaddr_union *b);
/* u's IP address as 16 bytes (IPv4 as ::ffff:a.b.c.d), to key tables */
void sa_key(const union sockaddr_union *u, unsigned char *ip);
/* turns an IPv4-mapped IPv6 address into a plain IPv4 one */
void sa_unmap(union sockaddr_union *u);
/* u's port, in host byte order; 0 when u is neither IPv4 nor IPv6 */
unsigned short sa_port(const union sockaddr_union *u);
/* sets u's port (host byte order) where its family keeps it */
void sa_set_port(union sockaddr_union *u, unsigned short port);
/* the IPv4 or IPv6 destination of req as an address, and 0; -1 for a
 * name */
int sa_of_request(const struct socks5_request *req, union sockaddr_union *u);
/* 1 when u is a wildcard address: 0.0.0.0 or :: */
int sa_is_any(const union sockaddr_union *u);
/* formats u as ADDR:PORT into buf (SA_STRLEN bytes) and returns buf */
char *sa_str(const union sockaddr_union *u, char *buf);

/* getaddrinfo() for a TCP socket; returns its error code (0 on success) */
int server_resolve(const char *host, unsigned short port, int flags,
    struct addrinfo **res);

/* The listen backlog: one value for every libc (SOMAXCONN is 128 in
 * musl, 4096 in glibc); the kernel caps it at net.core.somaxconn. */
#ifndef SERVER_BACKLOG
#define SERVER_BACKLOG 4096
#endif

/* a non-blocking listening socket on ai; returns the fd, or -1 with
 * errno set */
int server_listen(const struct addrinfo *ai);

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
