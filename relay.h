/* SPDX-License-Identifier: MIT */
/* The byte pump between a client and its target. */
#ifndef RELAY_H
#define RELAY_H

/* Bytes in flight per direction: the size of a pipe, where the platform
 * has splice(), of a heap buffer elsewhere or when no pipe can be had. */
#ifndef RELAY_PIPESIZE
#define RELAY_PIPESIZE (1024 * 1024)
#endif
#ifndef RELAY_BUFSIZE
#define RELAY_BUFSIZE (64 * 1024)
#endif
/* empty pipes kept for the next tunnel that has bytes to move */
#ifndef RELAY_POOLSIZE
#define RELAY_POOLSIZE 32
#endif
/* pipes enlarged to RELAY_PIPESIZE at most; the others keep the default */
#ifndef RELAY_BIGPIPES
#define RELAY_BIGPIPES 256
#endif

enum relay_end {
	RELAY_CLOSED,		/* both sides ended their streams */
	RELAY_IDLE,		/* the idle or half-close timeout ran out */
	RELAY_RESET,		/* a side failed: reset, or gone while we wrote */
};

struct relay_opts {
	int idle_ms;		/* no traffic at all for this long: close */
	int halfclose_ms;	/* after one side's EOF: idle bound instead */
	int quiet_ms;		/* no traffic for this long: call on_quiet,
				 * and go back to small reads */
	void (*on_quiet)(void);	/* once per relay, unless NULL */
};

struct relay_stats {
	unsigned long long up;		/* client to target */
	unsigned long long down;	/* target to client */
};

/* Copies between the non-blocking sockets cfd (client) and tfd (target)
 * until both directions have ended, a side fails, or a timeout runs out.
 * Closes neither fd. SIGPIPE must be ignored: splice() has no
 * MSG_NOSIGNAL. */
enum relay_end relay(int cfd, int tfd, const struct relay_opts *o,
    struct relay_stats *st);

/* closes the pipes kept for reuse: for when no tunnel is left */
void relay_idle(void);

#endif /* RELAY_H */
