/* SPDX-License-Identifier: MIT */
/* The SOCKS5 and SOCKS4(a) negotiation, from the client's first byte to
 * the last reply: the only code that writes to the client before the
 * relay. */
#ifndef HANDSHAKE_H
#define HANDSHAKE_H
#include "session.h"

/* Runs the handshake of s's client, filling in s's record (user, command,
 * destination, replies, addresses). Returns the fd of the tunnel's other
 * end, whose first bytes, the client's early data, were sent; or -1, with
 * how the session ended in *why, after the client was sent its error, if
 * it was to get one. */
int handshake(struct session *s, const char **why);

/* the *why of a client that closed or failed before its handshake ended */
#define HANDSHAKE_CLIENT_GONE "client gone"

#endif /* HANDSHAKE_H */
