/* SPDX-License-Identifier: MIT */
/* Logging to stderr or syslog, a whole line per write, and the session
 * line's format. */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

#include "server.h"

/* levels, as syslog(3) numbers them */
#define LOG_L_ERR 3
#define LOG_L_WARNING 4
#define LOG_L_NOTICE 5
#define LOG_L_INFO 6

/* the longest line, newline included: a session line with a name and a
 * user name of 255 bytes each fits */
#define LOG_LINE_MAX 1024

extern int log_quiet;

/* From now on, times in the session line are local, in the zone of TZ
 * or /etc/localtime (a TZif file), rather than UTC. Returns 0, or -1
 * when the zone cannot be read. */
int log_local_zone(void);

/* the syslog daemon's socket */
#define LOG_SYSLOG_PATH "/dev/log"

/* From now on, log to syslog through LOG_SYSLOG_PATH; -1 when it cannot
 * be reached, with errno set. */
int log_to_syslog(void);

/* Formats one line (a newline is added) and writes it at once, so that
 * lines of different threads never interleave; on stderr, the line starts
 * with the time as the session line's %i shows it (syslog stamps its own).
 * Long lines are cut. Does nothing when log_quiet is set. */
void log_msg(int level, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define log_line(...) log_msg(LOG_L_INFO, __VA_ARGS__)

/* Writes a session line of n bytes as logfmt() made it, which has the
 * time where the format puts it (a newline is added; long lines cut). */
void log_session_line(const char *line, size_t n);

/* what a session line tells */
struct log_session {
	long long end_ms;	/* wall clock, ms since 1970 */
	long long duration_ms;
	const union sockaddr_union *client;
	const char *user;	/* NULL: none; as the client sent it */
	const char *cmd;	/* "CONNECT", ...; NULL: no request */
	const char *dst;	/* HOST:PORT requested, as the client sent
				 * it; NULL: none */
	const union sockaddr_union *peer;	/* NULL: none */
	const union sockaddr_union *bound;	/* NULL: none */
	unsigned listen_port;
	int rep;		/* reply code sent, -1: none */
	const char *reason;
	unsigned long long up, down;
};

/* the default session line format */
#define LOG_FORMAT \
	"%i client %a user %U %N %h to %A reply %E (%T) up %O down %I bytes %Dms"

/* 0 when fmt is a session line format, or -1 with *bad at the first
 * '%' that is not understood */
int logfmt_check(const char *fmt, const char **bad);

/* formats the session line s after fmt into buf; returns its length */
size_t logfmt(char *buf, size_t size, const char *fmt,
    const struct log_session *s);

#endif /* LOG_H */
