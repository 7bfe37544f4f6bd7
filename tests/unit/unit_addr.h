/* SPDX-License-Identifier: MIT */
/* An address for the unit tests, from its text: an IPv4 or IPv6 address
 * and a port.  A text that is neither ends the test. */
#ifndef UNIT_ADDR_H
#define UNIT_ADDR_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static inline union sockaddr_union
unit_addr(const char *ip, unsigned short port)
{
	union sockaddr_union u;

	memset(&u, 0, sizeof u);
	if (inet_pton(AF_INET, ip, &u.v4.sin_addr) == 1) {
		u.v4.sin_family = AF_INET;
		u.v4.sin_port = htons(port);
	} else {
		u.v6.sin6_family = AF_INET6;
		u.v6.sin6_port = htons(port);
		if (inet_pton(AF_INET6, ip, &u.v6.sin6_addr) != 1)
			abort();
	}
	return u;
}

#endif /* UNIT_ADDR_H */
