/* SPDX-License-Identifier: MIT */
/* The session line: its --log-format macros, named like 3proxy's
 * logformat, written with snprintf, strftime and inet_ntop. Pure: no
 * I/O, no globals, no locks. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "logfmt.h"

/* the letters after '%' that logfmt() knows */
#define MACROS "iYymdHMS.ztCcaBUNnqhRrAepETOID%"

/* the line being written: len < size, so the NUL always fits */
struct line {
	char *buf;
	size_t size, len;
};

/* what fmt makes, after the line, cut where the line's room ends */
static void
add(struct line *l, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void
add(struct line *l, const char *fmt, ...)
{
	size_t room = l->size - l->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, room, fmt, ap);
	va_end(ap);
	/* snprintf says what it would have written; count what it did */
	if (n > 0)
		l->len += (size_t)n < room ? (size_t)n : room - 1;
}

/* the n bytes at s, after the line, cut where the line's room ends: for
 * text without conversions, which needs no trip through vsnprintf */
static void
put(struct line *l, const char *s, size_t n)
{
	size_t room = l->size - l->len - 1;

	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

static void
puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* the time of ms (ms since 1970) in UTC or the local zone, and its ms */
static void
broken_down(long long ms, int local, struct tm *tm, unsigned *msec)
{
	long long secs = ms / 1000, rest = ms % 1000;
	time_t t;

	/* before 1970 the seconds round down, not toward 0 */
	if (rest < 0) {
		rest += 1000;
		secs--;
	}
	t = (time_t)secs;
	*msec = (unsigned)rest;
	if (!(local ? localtime_r(&t, tm) : gmtime_r(&t, tm)))
		memset(tm, 0, sizeof *tm);
}

/* One field of the date through strftime: c is a conversion whose
 * meaning matches our macro of the same letter. */
static void
add_date(struct line *l, const struct tm *tm, char c)
{
	char f[3] = { '%', c, '\0' }, s[32];

	if (strftime(s, sizeof s, f, tm) > 0)
		puts_(l, s);
}

/* the offset from UTC as +hhmm, or +hh:mm with colon set; tm_gmtoff is
 * 0 for gmtime_r()'s UTC */
static void
add_offset(struct line *l, const struct tm *tm, int colon)
{
	long off = tm->tm_gmtoff;
	char sign = off < 0 ? '-' : '+';

	if (off < 0)
		off = -off;
	add(l, "%c%02ld%s%02ld", sign, off / 3600, colon ? ":" : "",
	    off / 60 % 60);
}

/* ISO 8601 with ms: 2026-11-21T12:34:56.789Z in UTC, with the offset
 * (+01:30) in local time */
static void
add_iso(struct line *l, const struct tm *tm, unsigned msec, int local)
{
	char s[64];

	if (strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", tm) == 0)
		s[0] = '\0';
	add(l, "%s.%03u", s, msec);
	if (local)
		add_offset(l, tm, 1);
	else
		puts_(l, "Z");
}

/* Text that a client chose (a user or host name) as one token: every
 * byte that is not printable ASCII, and the blank, '%' and quotes, as
 * %XX, so that a line splits on blanks into its fields and a name forges
 * none; the way back is URL decoding. */
static void
add_name(struct line *l, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3] = { '%', 0, 0 };
	unsigned char c;
	size_t n;

	for (;;) {
		for (n = 0; (c = (unsigned char)s[n]) > ' ' && c < 0x7f &&
		    c != '%' && c != '"' && c != '\''; n++)
			;
		put(l, s, n);
		if (!s[n])
			return;
		c = (unsigned char)s[n];
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 15];
		put(l, esc, 3);
		s += n + 1;
	}
}

/* the IP address of u, without port or brackets; "-" for none */
static void
add_ip(struct line *l, const union sockaddr_union *u)
{
	char s[INET6_ADDRSTRLEN];
	const void *a;

	switch (u->sa.sa_family) {
	case AF_UNSPEC:
		puts_(l, "-");
		return;
	case AF_INET:
		a = &u->v4.sin_addr;
		break;
	case AF_INET6:
		a = &u->v6.sin6_addr;
		break;
	default:
		puts_(l, "?");
		return;
	}
	if (inet_ntop(u->sa.sa_family, a, s, sizeof s))
		puts_(l, s);
}

/* ADDR:PORT as sa_str() writes it; "-" for none */
static void
add_addr(struct line *l, const union sockaddr_union *u)
{
	char s[SA_STRLEN];

	puts_(l, u->sa.sa_family != AF_UNSPEC ? sa_str(u, s) : "-");
}

/* The requested host: the name as the client sent it, or the address;
 * with port set, HOST:PORT ([V6]:PORT for IPv6). "-" for none. */
static void
add_dst(struct line *l, const struct socks5_request *d, int port)
{
	char s[INET6_ADDRSTRLEN];

	switch (d->atyp) {
	case ATYP_DOMAIN:
		add_name(l, d->host);
		break;
	case ATYP_IPV4:
		if (inet_ntop(AF_INET, d->addr, s, sizeof s))
			puts_(l, s);
		break;
	case ATYP_IPV6:
		if (inet_ntop(AF_INET6, d->addr, s, sizeof s))
			add(l, port ? "[%s]" : "%s", s);
		break;
	default:
		puts_(l, "-");
		return;
	}
	if (port)
		add(l, ":%u", d->port);
}

static int
has_dst(const struct socks5_request *d)
{
	return d->atyp == ATYP_DOMAIN || d->atyp == ATYP_IPV4 ||
	    d->atyp == ATYP_IPV6;
}

int
logfmt_check(const char *fmt, const char **bad)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%')
			continue;
		if (!fmt[1] || !strchr(MACROS, fmt[1])) {
			*bad = fmt;
			return -1;
		}
		fmt++;
	}
	return 0;
}

int
logfmt_has(const char *fmt, char c)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%')
			continue;
		if (!*++fmt)
			break;
		/* "%%p" is a '%' and a 'p': the pair is skipped whole */
		if (*fmt == c)
			return 1;
	}
	return 0;
}

size_t
logfmt(char *buf, size_t size, const char *fmt,
    const struct logfmt_record *r, int local)
{
	struct line l = { buf, size, 0 };
	struct tm tm;
	unsigned msec;
	size_t n;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	broken_down(r->end_ms, local, &tm, &msec);
	for (; *fmt; fmt++) {
		/* text up to the next '%'; a '%' at the end stays as it is */
		if (*fmt != '%' || !fmt[1]) {
			n = strcspn(fmt + 1, "%") + 1;
			put(&l, fmt, n);
			fmt += n - 1;
			continue;
		}
		switch (*++fmt) {
		case 'i': add_iso(&l, &tm, msec, local); break;
		case 'Y': case 'y': case 'm': case 'd':
		case 'H': case 'M': case 'S':
			add_date(&l, &tm, *fmt);
			break;
		case '.': add(&l, "%03u", msec); break;
		case 'z': add_offset(&l, &tm, 0); break;
		case 't': add(&l, "%lld", r->end_ms / 1000); break;
		case 'C': add_ip(&l, &r->client); break;
		case 'c': add(&l, "%u", sa_port(&r->client)); break;
		case 'a': add_addr(&l, &r->client); break;
		case 'B': add_addr(&l, &r->balancer); break;
		case 'U':
			if (r->user)
				add_name(&l, r->user);
			else
				puts_(&l, "-");
			break;
		case 'N': puts_(&l, socks5_cmd_str(r->cmd) ?
			    socks5_cmd_str(r->cmd) : "-");
			break;
		case 'n': add_dst(&l, &r->dst, 0); break;
		case 'q':
			add(&l, "%u", has_dst(&r->dst) ? r->dst.port : 0);
			break;
		case 'h': add_dst(&l, &r->dst, 1); break;
		case 'R': add_ip(&l, &r->peer); break;
		case 'r': add(&l, "%u", sa_port(&r->peer)); break;
		case 'A': add_addr(&l, &r->peer); break;
		case 'e': add_ip(&l, &r->bound); break;
		case 'p': add(&l, "%u", r->listen_port); break;
		case 'E':
			if (r->rep < 0)
				puts_(&l, "-");
			else
				add(&l, "%d", r->rep);
			break;
		case 'T': puts_(&l, r->reason ? r->reason : "-"); break;
		case 'O': add(&l, "%llu", r->up); break;
		case 'I': add(&l, "%llu", r->down); break;
		case 'D':
			add(&l, "%lld", r->duration_ms < 0 ? 0 : r->duration_ms);
			break;
		default:
			/* '%', and what logfmt_check() would have refused */
			add(&l, "%%");
		}
	}
	return l.len;
}

size_t
logfmt_time(char *buf, size_t size, long long ms, int local)
{
	struct line l = { buf, size, 0 };
	struct tm tm;
	unsigned msec;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	broken_down(ms, local, &tm, &msec);
	add_iso(&l, &tm, msec, local);
	return l.len;
}
