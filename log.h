/* SPDX-License-Identifier: MIT */
/* Logging to stderr or syslog, a whole line per write, the session line
 * among them. */
#ifndef LOG_H
#define LOG_H

#include "logfmt.h"

/* levels, as syslog(3) numbers them */
#define LOG_L_ERR 3
#define LOG_L_WARNING 4
#define LOG_L_NOTICE 5
#define LOG_L_INFO 6

/* the longest line, newline included: a session line with a name and a
 * user name of 255 bytes each fits */
#define LOG_LINE_MAX 1024

extern int log_quiet;

/* From now on, times (the stamp of stderr lines, the session line's) are
 * in the local zone, as the C library reads TZ or /etc/localtime, rather
 * than UTC. Call before threads start: it calls tzset(). */
void log_local_time(void);

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

/* Formats the session line of r after fmt (see logfmt.h), in the time
 * zone log_local_time() chose, and writes it as log_msg() does (a newline
 * is added; long lines cut). Does nothing when log_quiet is set. */
void log_session(const char *fmt, const struct logfmt_record *r);

#endif /* LOG_H */
