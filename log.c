/* SPDX-License-Identifier: MIT */
/* Logging to stderr or syslog, a whole line per write(2), and the
 * session line, formatted after macros named like 3proxy's logformat. */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "log.h"

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
static int log_localtime;

static int syslog_fd = -1;
static pthread_mutex_t syslog_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;
/* under stderr_lock: */
static int stderr_kind;		/* STDERR_* */
static int stderr_stalled;	/* the last line was dropped */
static unsigned long stderr_lost;	/* lines dropped since the last one out */

enum { STDERR_UNKNOWN, STDERR_FILE, STDERR_STREAM };

static size_t stamp(char *buf, size_t size);

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
	len = fmt_buf(buf, sizeof buf, "<%d>microsocks[%ld]: ",
	    SYSLOG_DAEMON | level, (long)getpid());
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
		iov[0].iov_len = len + fmt_buf(note + len, sizeof note - len,
		    "microsocks: %lu log lines lost: stderr took nothing for "
		    "a while\n", stderr_lost);
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
	n += fmt_vbuf(buf + n, sizeof buf - 1 - n, fmt, ap);
	va_end(ap);
	buf[n] = '\n';
	emit(level, buf, n);
}

void
log_session_line(const char *line, size_t n)
{
	char buf[LOG_LINE_MAX];

	if (log_quiet)
		return;
	if (n > sizeof buf - 1)
		n = sizeof buf - 1;
	memcpy(buf, line, n);
	buf[n] = '\n';
	emit(LOG_L_INFO, buf, n);
}

int
logfmt_check(const char *fmt, const char **bad)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%')
			continue;
		if (!fmt[1] || !strchr("iYymdHMS.ztCcaUNnqhRrAepETOID%", fmt[1])) {
			*bad = fmt;
			return -1;
		}
		fmt++;
	}
	return 0;
}

/* the civil date of a day count since 1970-01-01 (H. Hinnant's method) */
static void
civil(long long days, int *y, unsigned *m, unsigned *d)
{
	long long era, z = days + 719468;
	unsigned doe, yoe, doy, mp;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* The local time zone, from a TZif file (tzfile(5)): the times of its
 * transitions and the UTC offset that each brings. Read once, by
 * log_local_zone(), instead of the libc's time zone code, that would
 * double the size of a static build's formatting. */
static long long *zone_at;
static long *zone_off;
static size_t zone_n;
static long zone_first;		/* the offset before the first transition */

static unsigned long
be32(const unsigned char *p)
{
	return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	    (unsigned long)p[2] << 8 | p[3];
}

static long
sbe32(const unsigned char *p)
{
	unsigned long v = be32(p);

	return v & 0x80000000UL ? -(long)(~v & 0x7fffffffUL) - 1 : (long)v;
}

/* A POSIX TZ of a fixed offset, "NAME[+-]hh[:mm[:ss]]", with NAME in
 * letters or in <angle brackets>; one with summer time rules is not
 * understood. Returns 0 with the offset east of UTC in *off, or -1. */
static int
zone_posix(const char *tz, long *off)
{
	long v[3] = { 0, 0, 0 }, sign = 1;
	int i = 0;

	if (*tz == '<') {
		if (!(tz = strchr(tz, '>')))
			return -1;
		tz++;
	} else {
		while ((*tz | 0x20) >= 'a' && (*tz | 0x20) <= 'z')
			tz++;
	}
	if (*tz == '+' || *tz == '-')
		sign = *tz++ == '-' ? -1 : 1;
	if (*tz < '0' || *tz > '9')
		return -1;
	for (;;) {
		while (*tz >= '0' && *tz <= '9' && v[i] < 1000)
			v[i] = v[i] * 10 + *tz++ - '0';
		if (*tz != ':' || i == 2)
			break;
		tz++;
		i++;
	}
	if (*tz || v[0] > 24 || v[1] > 59 || v[2] > 59)
		return -1;
	/* POSIX counts west of UTC as positive */
	*off = -sign * (v[0] * 3600 + v[1] * 60 + v[2]);
	return 0;
}

int
log_local_zone(void)
{
	const char *tz = getenv("TZ");
	char path[256];
	unsigned char buf[1 << 16];
	const unsigned char *times, *idx, *types;
	unsigned long timecnt, typecnt, need;
	ssize_t n;
	size_t i;
	int fd;

	if (tz && *tz == ':')
		tz++;
	if (!tz || !*tz)
		tz = "/etc/localtime";
	if (*tz == '/')
		fmt_buf(path, sizeof path, "%s", tz);
	else
		fmt_buf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
	if (strstr(tz, "..") || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (zone_posix(tz, &zone_first) < 0)
			return -1;
		zone_n = 0;
		log_localtime = 1;
		return 0;
	}
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n < 44 || memcmp(buf, "TZif", 4))
		return -1;
	timecnt = be32(buf + 32);
	typecnt = be32(buf + 36);
	need = 44 + timecnt * 5 + typecnt * 6;
	if (typecnt == 0 || typecnt > 256 || timecnt > 4096 ||
	    need > (size_t)n)
		return -1;
	times = buf + 44;
	idx = times + timecnt * 4;
	types = idx + timecnt;
	zone_at = malloc(timecnt * sizeof *zone_at + 1);
	zone_off = malloc(timecnt * sizeof *zone_off + 1);
	if (!zone_at || !zone_off)
		return -1;
	for (i = 0; i < timecnt; i++) {
		if (idx[i] >= typecnt)
			return -1;
		zone_at[i] = sbe32(times + 4 * i);
		zone_off[i] = sbe32(types + 6 * idx[i]);
	}
	zone_n = timecnt;
	zone_first = sbe32(types);
	log_localtime = 1;
	return 0;
}

/* the local offset from UTC at t, seconds since 1970 */
static long
zone_offset(long long t)
{
	size_t lo = 0, hi = zone_n, mid;

	if (zone_n == 0 || t < zone_at[0])
		return zone_first;
	/* the last transition at or before t */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (zone_at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return zone_off[lo];
}

struct when {
	int year;
	unsigned mon, day, hour, min, sec, ms;
	long off;		/* seconds east of UTC */
};

static void
when(long long ms, struct when *w)
{
	long long secs;

	w->off = log_localtime ? zone_offset(ms / 1000) : 0;
	secs = ms / 1000 + w->off;
	civil(secs / 86400, &w->year, &w->mon, &w->day);
	secs %= 86400;
	w->hour = (unsigned)(secs / 3600);
	w->min = (unsigned)(secs / 60 % 60);
	w->sec = (unsigned)(secs % 60);
	w->ms = (unsigned)(ms % 1000);
}

struct out {
	char *buf;
	size_t size, len;
};

static void
puts_(struct out *o, const char *s)
{
	while (*s && o->len + 1 < o->size)
		o->buf[o->len++] = *s++;
}

/* v with at least digits digits */
static void
putn(struct out *o, unsigned long long v, int digits)
{
	char d[24];
	int n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v || n < digits);
	while (n > 0 && o->len + 1 < o->size)
		o->buf[o->len++] = d[--n];
}

static void
put_off(struct out *o, long off, int colon)
{
	puts_(o, off < 0 ? "-" : "+");
	if (off < 0)
		off = -off;
	putn(o, (unsigned long long)off / 3600, 2);
	if (colon)
		puts_(o, ":");
	putn(o, (unsigned long long)off / 60 % 60, 2);
}

static void
put_iso(struct out *o, const struct when *w)
{
	putn(o, (unsigned long long)w->year, 4);
	puts_(o, "-");
	putn(o, w->mon, 2);
	puts_(o, "-");
	putn(o, w->day, 2);
	puts_(o, "T");
	putn(o, w->hour, 2);
	puts_(o, ":");
	putn(o, w->min, 2);
	puts_(o, ":");
	putn(o, w->sec, 2);
	puts_(o, ".");
	putn(o, w->ms, 3);
	if (log_localtime)
		put_off(o, w->off, 1);
	else
		puts_(o, "Z");
}

/* Text that a client chose (a user or host name) as one token: every
 * byte that is not printable ASCII, and the blank, '%' and quotes, as
 * %XX, so that a line splits on blanks into its fields and a name forges
 * none; the way back is URL decoding. Cut where the line is, like the
 * rest of it. */
static void
put_name(struct out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char out[4] = "";
	unsigned char c;

	for (; *s; s++) {
		c = (unsigned char)*s;
		if (c > ' ' && c < 0x7f && c != '%' && c != '"' && c != '\'') {
			out[0] = (char)c;
			out[1] = '\0';
		} else {
			out[0] = '%';
			out[1] = hex[c >> 4];
			out[2] = hex[c & 15];
			out[3] = '\0';
		}
		puts_(o, out);
	}
}

/* the IP address of u, without port or brackets */
static void
put_ip(struct out *o, const union sockaddr_union *u)
{
	char s[SA_STRLEN], *p = s, *end;

	if (!u || u->sa.sa_family == AF_UNSPEC) {
		puts_(o, "-");
		return;
	}
	sa_str(u, s);
	if (*p == '[')
		p++;
	end = strrchr(p, p == s ? ':' : ']');
	if (end)
		*end = '\0';
	puts_(o, p);
}

static unsigned
port_of(const union sockaddr_union *u)
{
	if (!u || u->sa.sa_family == AF_UNSPEC)
		return 0;
	return ntohs(u->sa.sa_family == AF_INET ? u->v4.sin_port :
	    u->v6.sin6_port);
}

static void
put_addr(struct out *o, const union sockaddr_union *u)
{
	char s[SA_STRLEN];

	puts_(o, u && u->sa.sa_family != AF_UNSPEC ? sa_str(u, s) : "-");
}

/* the host or port part of "HOST:PORT" or "[V6]:PORT" */
static void
put_dst(struct out *o, const char *dst, int port)
{
	char host[264];
	const char *colon;
	size_t n;

	if (!dst) {
		puts_(o, port ? "0" : "-");
		return;
	}
	colon = strrchr(dst, ':');
	if (port) {
		puts_(o, colon ? colon + 1 : "0");
		return;
	}
	n = colon ? (size_t)(colon - dst) : strlen(dst);
	if (n >= 2 && dst[0] == '[') {
		dst++;
		n -= 2;
	}
	if (n >= sizeof host)
		n = sizeof host - 1;
	memcpy(host, dst, n);
	host[n] = '\0';
	put_name(o, host);
}

/* the time now as %i writes it, and a blank */
static size_t
stamp(char *buf, size_t size)
{
	struct out o = { buf, size, 0 };
	struct timespec ts;
	struct when w;

	clock_gettime(CLOCK_REALTIME, &ts);
	when((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &w);
	put_iso(&o, &w);
	puts_(&o, " ");
	return o.len;
}

size_t
logfmt(char *buf, size_t size, const char *fmt, const struct log_session *s)
{
	struct out o = { buf, size, 0 };
	struct when w;

	if (size == 0)
		return 0;
	when(s->end_ms, &w);
	for (; *fmt; fmt++) {
		if (*fmt != '%' || !fmt[1]) {
			if (o.len + 1 < o.size)
				buf[o.len++] = *fmt;
			continue;
		}
		switch (*++fmt) {
		case 'i': put_iso(&o, &w); break;
		case 'Y': putn(&o, (unsigned long long)w.year, 4); break;
		case 'y': putn(&o, (unsigned long long)w.year % 100, 2); break;
		case 'm': putn(&o, w.mon, 2); break;
		case 'd': putn(&o, w.day, 2); break;
		case 'H': putn(&o, w.hour, 2); break;
		case 'M': putn(&o, w.min, 2); break;
		case 'S': putn(&o, w.sec, 2); break;
		case '.': putn(&o, w.ms, 3); break;
		case 'z': put_off(&o, w.off, 0); break;
		case 't': putn(&o, (unsigned long long)(s->end_ms / 1000), 1);
			break;
		case 'C': put_ip(&o, s->client); break;
		case 'c': putn(&o, port_of(s->client), 1); break;
		case 'a': put_addr(&o, s->client); break;
		case 'U': if (s->user) put_name(&o, s->user); else puts_(&o, "-");
			break;
		case 'N': puts_(&o, s->cmd ? s->cmd : "-"); break;
		case 'n': put_dst(&o, s->dst, 0); break;
		case 'q': put_dst(&o, s->dst, 1); break;
		case 'h': if (s->dst) put_name(&o, s->dst); else puts_(&o, "-");
			break;
		case 'R': put_ip(&o, s->peer); break;
		case 'r': putn(&o, port_of(s->peer), 1); break;
		case 'A': put_addr(&o, s->peer); break;
		case 'e': put_ip(&o, s->bound); break;
		case 'p': putn(&o, s->listen_port, 1); break;
		case 'E':
			if (s->rep < 0)
				puts_(&o, "-");
			else
				putn(&o, (unsigned long long)s->rep, 1);
			break;
		case 'T': puts_(&o, s->reason ? s->reason : "-"); break;
		case 'O': putn(&o, s->up, 1); break;
		case 'I': putn(&o, s->down, 1); break;
		case 'D': putn(&o, (unsigned long long)(s->duration_ms < 0 ?
			    0 : s->duration_ms), 1);
			break;
		default: /* '%' */
			puts_(&o, "%");
		}
	}
	buf[o.len] = '\0';
	return o.len;
}
