/* SPDX-License-Identifier: MIT */
/* The session line: what it tells, and its --log-format macros, named
 * like 3proxy's logformat. Pure: no I/O, no globals. */
#ifndef LOGFMT_H
#define LOGFMT_H
#include <stddef.h>

#include "addr.h"
#include "socks5.h"

/* What a session line tells, filled in as the session goes, from the
 * accept to the end. */
struct logfmt_record {
	union sockaddr_union client;
	union sockaddr_union balancer;	/* that sent the client's PROXY
					 * header; AF_UNSPEC: none */
	char *user;			/* NULL: none; as the client sent it */
	int cmd;			/* CMD_*, 0: no command run */
	struct socks5_request dst;	/* as requested; atyp 0: none */
	union sockaddr_union peer;	/* the target's end; AF_UNSPEC: none */
	union sockaddr_union bound;	/* our end of the tunnel's socket;
					 * AF_UNSPEC: none */
	unsigned listen_port;		/* where the client came in */
	int rep;			/* the reply code sent, -1: none */
	const char *reason;		/* how it ended */
	unsigned long long up, down;	/* bytes each way */
	long long end_ms;		/* wall clock, ms since 1970 */
	long long duration_ms;
};

/* the default session line format */
#define LOGFMT_DEFAULT \
	"%i client %a user %U %N %h to %A reply %E (%T) up %O down %I bytes %Dms"

/* 0 when fmt is a session line format, or -1 with *bad at the first
 * '%' that is not understood */
int logfmt_check(const char *fmt, const char **bad);

/* 1 when fmt has the macro %c (c: a letter of logfmt_check's), whose
 * value may cost its caller a system call to know */
int logfmt_has(const char *fmt, char c);

/* Formats the line of r after fmt into buf (size > 0), NUL-terminated
 * and cut to fit; times in the local zone when local is set, else in
 * UTC. Returns the line's length. */
size_t logfmt(char *buf, size_t size, const char *fmt,
    const struct logfmt_record *r, int local);

/* The time ms (wall clock, ms since 1970) as %i writes it, into buf
 * (size > 0), NUL-terminated and cut to fit; returns its length. */
size_t logfmt_time(char *buf, size_t size, long long ms, int local);

#endif /* LOGFMT_H */
