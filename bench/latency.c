/* SPDX-License-Identifier: MIT */
/* Round-trip time of a 64-byte message on one established tunnel to the
 * echo target, one message in flight at a time. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_SAMPLES (4u << 20)

/* blocking from here on, with a bound on each wait: one syscall per send
 * and per receive keeps the client's own share of the time small */
static int
make_blocking(int fd, int timeout_s)
{
	struct timeval tv = { .tv_sec = timeout_s };
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
		return -1;
	return 0;
}

/* one round trip; -1 on error or timeout */
static int
ping(int fd)
{
	static const unsigned char msg[MSG_SIZE] = "socksbench";
	unsigned char buf[MSG_SIZE];
	size_t got = 0;
	ssize_t n;

	if (send(fd, msg, MSG_SIZE, MSG_NOSIGNAL) != MSG_SIZE)
		return -1;
	while (got < MSG_SIZE) {
		n = recv(fd, buf, MSG_SIZE - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || errno != EINTR)
			return -1;
	}
	return 0;
}

/* pings for duration_s; the times in samples, when given; -1 on error */
static int
ping_for(int fd, double duration_s, struct samples *s)
{
	double end = now_s() + duration_s, t0;

	while ((t0 = now_s()) < end) {
		if (ping(fd) < 0)
			return -1;
		if (s)
			samples_add(s, (now_s() - t0) * 1e6);
	}
	return 0;
}

int
latency_run(const struct server *s, struct target *t,
    const struct run_opts *o, struct lat_result *r)
{
	struct samples smp;
	int fd, rc = -1;

	if (tunnels_open(s->kind == KIND_DIRECT ? NULL : &s->addr,
	    &t->addr[T_ECHO], 1, &fd, 1, 5.0, 5.0) != 1)
		return -1;
	samples_init(&smp, MAX_SAMPLES);
	if (make_blocking(fd, 1) == 0 && ping_for(fd, o->warmup_s, NULL) == 0 &&
	    ping_for(fd, o->lat_s, &smp) == 0) {
		r->p50_us = samples_quantile(&smp, 0.50);
		r->p99_us = samples_quantile(&smp, 0.99);
		r->samples = (long)smp.n;
		rc = 0;
	}
	samples_free(&smp);
	close(fd);
	target_wait_idle(t, 5.0);
	return rc;
}
