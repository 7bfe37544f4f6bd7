/* SPDX-License-Identifier: MIT */
/* Time, samples and loopback sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* progress and notes go to stderr, so that stdout holds only the tables */
void
note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("socksbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	servers_kill_all();
	exit(1);
}

void
samples_init(struct samples *s, size_t max)
{
	s->v = NULL;
	s->n = s->cap = 0;
	s->max = max;
}

void
samples_add(struct samples *s, double x)
{
	double *v;
	size_t cap;

	if (s->n == s->cap) {
		if (s->cap >= s->max)
			return;
		cap = s->cap ? s->cap * 2 : 4096;
		if (cap > s->max)
			cap = s->max;
		v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
}

void
samples_free(struct samples *s)
{
	free(s->v);
	samples_init(s, s->max);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
samples_quantile(struct samples *s, double q)
{
	size_t i;

	if (s->n == 0)
		return NAN;
	qsort(s->v, s->n, sizeof *s->v, cmp_double);
	/* nearest rank: the smallest value with at least q of all at or
	 * below it */
	i = (size_t)(q * (double)s->n);
	if ((double)i < q * (double)s->n)
		i++;
	return s->v[i ? (i > s->n ? s->n : i) - 1 : 0];
}

double
median_of(const double *v, int n)
{
	double tmp[64];

	if (n <= 0)
		return NAN;
	if (n > 64)
		n = 64;
	memcpy(tmp, v, (size_t)n * sizeof *v);
	qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

struct sockaddr_in
loopback(uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	return a;
}

int
listen_loopback(struct sockaddr_in *bound)
{
	socklen_t len = sizeof *bound;
	int fd;

	*bound = loopback(0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)bound, sizeof *bound) < 0 ||
	    listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)bound, &len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
connect_start(const struct sockaddr_in *a)
{
	int fd;

	/* CLOEXEC everywhere: a server started later must not inherit the
	 * benchmark's sockets, or its fd count would be wrong */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

int
connect_probe(const struct sockaddr_in *a, int timeout_ms)
{
	struct pollfd p;
	socklen_t len = sizeof(int);
	int fd, err = -1;

	fd = connect_start(a);
	if (fd < 0)
		return -1;
	p.fd = fd;
	p.events = POLLOUT;
	if (poll(&p, 1, timeout_ms) == 1 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = -1;
	close(fd);
	return err == 0 ? 0 : -1;
}
