/* SPDX-License-Identifier: MIT */
/* The byte pump between a client and its target. */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>

/* bytes per direction in flight at most; a read or write moves up to this */
#ifndef RELAY_BUFSIZE
#define RELAY_BUFSIZE (16 * 1024)
#endif
#define RELAY_MEMSIZE (2 * RELAY_BUFSIZE)

enum relay_end {
	RELAY_CLOSED,		/* both sides ended their streams */
	RELAY_IDLE,		/* the idle or half-close timeout ran out */
	RELAY_RESET,		/* a side failed: reset, or gone while we wrote */
};

struct relay_opts {
	int idle_ms;		/* no traffic at all for this long: close */
	int halfclose_ms;	/* after one side's EOF: idle bound instead */
};

struct relay_stats {
	unsigned long long up;		/* client to target */
	unsigned long long down;	/* target to client */
};

/* Copies between the non-blocking sockets cfd (client) and tfd (target)
 * until both directions have ended, a side fails, or a timeout runs out.
 * mem is the caller's RELAY_MEMSIZE bytes of buffer space; its first
 * prelen (at most RELAY_BUFSIZE) bytes are what the client sent ahead, to
 * go to the target first. Closes neither fd. */
enum relay_end relay(int cfd, int tfd, char *mem, size_t prelen,
    const struct relay_opts *o, struct relay_stats *st);

#endif /* RELAY_H */
