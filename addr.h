/* SPDX-License-Identifier: MIT */
/* Socket addresses: IPv4 and IPv6 in one union, and what is done with
 * them. */
#ifndef ADDR_H
#define ADDR_H
#include <netinet/in.h>
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

#endif /* ADDR_H */
