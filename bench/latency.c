/* SPDX-License-Identifier: MIT */
/* Round-trip time of a 64-byte message on one established tunnel to the
 * echo target, one message in flight at a time.
 *
 * A round trip through a server is four wake-ups (server, target, server,
 * client), and what one costs depends on where the scheduler put the
 * tasks: on the same core, a switch; on another, an inter-processor
 * interrupt, which in a VM is an exit on each side.  Left to itself, the
 * scheduler keeps one placement for a window and may pick another for the
 * next: the same server measured 43, 50 and 62 us in three rounds of one
 * run, more than servers differ.  So, where there are two cores, the
 * server's tasks run on one and the benchmark's client and target on the
 * other, for every server alike, and the figure is that of a server with
 * a core of its own; direct has client and target on the same core. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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

/* the first two cores the benchmark may use into one[0], one[1]; 0 when
 * there are fewer */
static int
two_cores(cpu_set_t *all, cpu_set_t one[2])
{
	int cpu, n = 0;

	if (sched_getaffinity(0, sizeof *all, all) < 0)
		return 0;
	for (cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, all)) {
			CPU_ZERO(&one[n]);
			CPU_SET(cpu, &one[n]);
			n++;
		}
	return n == 2;
}

/* every thread of the server's processes onto set; the threads and
 * processes they start later inherit it */
static void
pin_server(const struct server *s, const cpu_set_t *set)
{
	static pid_t tids[4096];
	int i, n = proc_threads(s->pid, tids, sizeof tids / sizeof tids[0]);

	for (i = 0; i < n; i++)
		sched_setaffinity(tids[i], sizeof *set, set);
}

/* the client (this thread) and the target's thread onto set */
static void
pin_bench(struct target *t, const cpu_set_t *set)
{
	pthread_setaffinity_np(pthread_self(), sizeof *set, set);
	pthread_setaffinity_np(t->thread, sizeof *set, set);
}

int
latency_run(const struct server *s, struct target *t,
    const struct run_opts *o, struct lat_result *r)
{
	cpu_set_t all, one[2];
	struct samples smp;
	int fd, rc = -1, pinned = two_cores(&all, one);

	if (pinned) {
		pin_bench(t, &one[0]);
		if (s->kind != KIND_DIRECT)
			pin_server(s, &one[1]);
	}
	if (tunnels_open(s->kind == KIND_DIRECT ? NULL : &s->addr,
	    &t->addr[T_ECHO], 1, &fd, 1, 5.0, 5.0) != 1)
		goto out;
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
out:
	/* the server is stopped after this section; the benchmark goes on
	 * on all its cores */
	if (pinned)
		pin_bench(t, &all);
	return rc;
}
