/* SPDX-License-Identifier: MIT */
/* UDP ASSOCIATE (RFC 1928 section 7): the relay socket and its loop. */
#ifndef UDP_H
#define UDP_H

#include "relay.h"
#include "server.h"

struct udp_opts {
	int idle_ms;				/* no datagram either way: end */
	const union sockaddr_union *bindaddr;	/* -b, or NULL */
	const char *device;			/* --bind-interface, or NULL */
	const union sockaddr_union *announce;	/* --udp-announce, or NULL */
	unsigned short port_lo, port_hi;	/* --udp-ports; 0: any */
	int (*denied)(const union sockaddr_union *);	/* --deny */
};

/* Opens an association's relay socket on local's IP address (its port
 * from the range in o, when set). Returns the fd, with the address to
 * tell the client in *bnd; or -1 with errno set. */
int udp_open(const union sockaddr_union *local, const struct udp_opts *o,
    union sockaddr_union *bnd);

/* Relays datagrams between the client and the destinations it names,
 * until the control connection cfd closes or the association idles.
 * The client's datagrams come to ufd from client's IP address, and from
 * its port when that is not 0 (else the first one's port is taken).
 * Closes neither fd. */
void udp_relay(int cfd, int ufd, const union sockaddr_union *client,
    const struct udp_opts *o, struct relay_stats *st);

#endif /* UDP_H */
