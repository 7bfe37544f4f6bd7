/* SPDX-License-Identifier: MIT */
/* Socket addresses: compared, converted, printed. Pure: no I/O, no
 * globals. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

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
