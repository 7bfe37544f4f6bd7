/* SPDX-License-Identifier: MIT */
/* Reaching what a client asked for: CONNECT's target, BIND's listener
 * and its peer, UDP ASSOCIATE's socket. Each returns an fd, or -1 with the
 * RFC 1928 reply code; none writes to the client. */
#ifndef TARGET_H
#define TARGET_H
#include "server.h"
#include "socks5.h"
#include "udp.h"

/* CONNECT: the addresses that the request's name resolves to in turn,
 * those of -b's family first, --connect-tries of them at most, and only
 * while the client (fd client) stays. Returns the connected fd, with the
 * target's address in *peer and ours in *bound; or -1 with the reply
 * code in *rep, and errno ECANCELED when the client left. */
int target_connect(const struct socks5_request *req, int client,
    union sockaddr_union *peer, union sockaddr_union *bound, int *rep);

/* BIND's listener for the peer the request names, on the address that
 * the client reached us at (client: its socket) or -b's. Returns it,
 * with the peer expected in *want and the listener's address in *bound;
 * or -1 with the reply code in *rep. */
int target_bind_listen(const struct socks5_request *req, int client,
    union sockaddr_union *want, union sockaddr_union *bound, int *rep);

/* Waits, --bind-timeout at most and while the client stays, for want's
 * connection on the listener lfd, which it closes. Returns the peer's fd
 * with its address in *peer; or -1 with the reply code in *rep. */
int target_bind_accept(int lfd, int client, const union sockaddr_union *want,
    union sockaddr_union *peer, int *rep);

/* UDP ASSOCIATE's relay socket, on the address the client reached us at
 * (client: its socket). Returns its fd, with the address to tell the
 * client in *bound; or -1 with the reply code in *rep. */
int target_udp(int client, union sockaddr_union *bound, int *rep);

/* the options of the UDP relay */
void target_udp_opts(struct udp_opts *o);

#endif /* TARGET_H */
