/* SPDX-License-Identifier: MIT */
/* Logging to stderr or syslog, a whole line per write(2), the session
 * line (made by logfmt.c) among them.
 *
 * Both writers are our own for reasons the C library's do not meet: the
 * syslog client never blocks (syslog(3) may wait on a full socket, and a
 * logger that stopped reading would stop every thread that logs), and a
 * stderr that takes nothing (a pipe or journal whose reader stalled)
 * costs lines, not threads; stdio would also lock and buffer where one
 * write(2) a line is all we need. */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "logfmt.h"

#define SYSLOG_DAEMON (3 << 3)

/* How long a line waits for a stderr that takes nothing (a pipe or a
 * journal stream whose reader stopped reading) before it is dropped.
 * Once one was, those after it are dropped without waiting, until stderr
 * takes a line again. */
#ifndef STDERR_WAIT_MS
#define STDERR_WAIT_MS 1000
#endif

/* set once by main before any thread starts */
int log_quiet;
static int log_localtime;	/* times in the local zone, not UTC */

static int syslog_fd = -1;
static pthread_mutex_t syslog_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;
/* under stderr_lock: */
static int stderr_kind;		/* STDERR_* */
static int stderr_stalled;	/* the last line was dropped */
static unsigned long stderr_lost;	/* lines dropped since the last one out */

enum { STDERR_UNKNOWN, STDERR_FILE, STDERR_STREAM };

/* the time now as %i writes it, and a blank; size > 1 */
static size_t
stamp(char *buf, size_t size)
{
	struct timespec ts;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = logfmt_time(buf, size - 1, (long long)ts.tv_sec * 1000 +
	    ts.tv_nsec / 1000000, log_localtime);
	buf[n++] = ' ';
	buf[n] = '\0';
	return n;
}

/* what snprintf wrote into size bytes, from what it says it would have */
static size_t
written(int n, size_t size)
{
	if (n < 0 || size == 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

void
log_local_time(void)
{
	tzset();
	log_localtime = 1;
}

static int
syslog_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memcpy(sun.sun_path, LOG_SYSLOG_PATH, sizeof LOG_SYSLOG_PATH);
	return connect(syslog_fd, (struct sockaddr *)&sun, sizeof sun);
}

int
log_to_syslog(void)
{
	/* non-blocking: a logger that reads nothing costs lines, not
	 * threads stuck in send() */
	syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (syslog_fd < 0)
		return -1;
	return syslog_connect();
}

static void
syslog_send(int level, const char *text, size_t n)
{
	static const char self[] = "microsocks: ";
	char buf[LOG_LINE_MAX + 64];
	size_t len;

	/* the tag names us already */
	if (n >= sizeof self - 1 && !memcmp(text, self, sizeof self - 1)) {
		text += sizeof self - 1;
		n -= sizeof self - 1;
	}
	len = written(snprintf(buf, sizeof buf, "<%d>microsocks[%ld]: ",
	    SYSLOG_DAEMON | level, (long)getpid()), sizeof buf);
	if (n > sizeof buf - len)
		n = sizeof buf - len;
	memcpy(buf + len, text, n);
	len += n;
	if (send(syslog_fd, buf, len, MSG_NOSIGNAL) >= 0 || errno == EAGAIN)
		return;
	/* the daemon was restarted: reconnect once */
	pthread_mutex_lock(&syslog_lock);
	if (syslog_connect() == 0 &&
	    send(syslog_fd, buf, len, MSG_NOSIGNAL) < 0) {
		/* lost: nowhere left to say so */
	}
	pthread_mutex_unlock(&syslog_lock);
}

/* A line (with its newline) to stderr, or dropped when stderr takes
 * nothing for a while: a reader that stopped must not stop the threads
 * that log. A file takes every line; a pipe, socket or terminal is
 * waited for with poll(), and then takes the line without blocking, as
 * this lock keeps our other writers out and a line (with the note of
 * lines lost) is no longer than PIPE_BUF. */
static void
stderr_write(const char *text, size_t n)
{
	struct pollfd pfd = { 2, POLLOUT, 0 };
	struct iovec iov[2];
	char note[128];
	size_t len;
	int r;

	pthread_mutex_lock(&stderr_lock);
	/* what cannot seek may block: a pipe, a socket, a terminal */
	if (stderr_kind == STDERR_UNKNOWN)
		stderr_kind = lseek(2, 0, SEEK_CUR) < 0 && errno == ESPIPE ?
		    STDERR_STREAM : STDERR_FILE;
	if (stderr_kind == STDERR_STREAM) {
		while ((r = poll(&pfd, 1, stderr_stalled ? 0 :
		    STDERR_WAIT_MS)) < 0 && errno == EINTR)
			;
		if (r <= 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))) {
			stderr_stalled = 1;
			stderr_lost++;
			pthread_mutex_unlock(&stderr_lock);
			return;
		}
	}
	iov[0].iov_base = note;
	iov[0].iov_len = 0;
	if (stderr_lost) {
		len = stamp(note, sizeof note);
		iov[0].iov_len = len + written(snprintf(note + len,
		    sizeof note - len, "microsocks: %lu log lines lost: "
		    "stderr took nothing for a while\n", stderr_lost),
		    sizeof note - len);
	}
	iov[1].iov_base = (void *)text;
	iov[1].iov_len = n;
	/* a lost log line is not worth more than a try */
	if (writev(2, iov, 2) < 0) {
		stderr_lost++;
	} else {
		stderr_lost = 0;
		stderr_stalled = 0;
	}
	pthread_mutex_unlock(&stderr_lock);
}

static void
emit(int level, const char *text, size_t n)
{
	if (syslog_fd >= 0)
		syslog_send(level, text, n);
	else
		stderr_write(text, n + 1);
}

void
log_msg(int level, const char *fmt, ...)
{
	/* no stdio stream: its lock and buffer are not needed */
	char buf[LOG_LINE_MAX];
	va_list ap;
	size_t n = 0;

	if (log_quiet)
		return;
	/* syslog has a time of its own */
	if (syslog_fd < 0)
		n = stamp(buf, sizeof buf - 1);
	va_start(ap, fmt);
	n += written(vsnprintf(buf + n, sizeof buf - 1 - n, fmt, ap),
	    sizeof buf - 1 - n);
	va_end(ap);
	buf[n] = '\n';
	emit(level, buf, n);
}

void
log_session(const char *fmt, const struct logfmt_record *r)
{
	char buf[LOG_LINE_MAX];
	size_t n;

	if (log_quiet)
		return;
	n = logfmt(buf, sizeof buf - 1, fmt, r, log_localtime);
	buf[n] = '\n';
	emit(LOG_L_INFO, buf, n);
}
