/* SPDX-License-Identifier: MIT */
/* System calls and context switches of a server over a window.  /proc
 * counts no system calls, and its context switch counts are per thread:
 * those of a thread that ends go with it, and microsocks and 3proxy end
 * a thread with each connection.  So both come from the kernel's perf
 * events: one counter of each kind on every thread the server has when
 * counting starts, with inherit set, so that the threads and processes
 * these start later are counted too, and what they counted is added to
 * their parent's counter when they end.  Both count in the kernel,
 * which takes CAP_PERFMON (root) or perf_event_paranoid 1 or less.
 * Without perf events the context switches are summed over the threads
 * in /proc at each read, which leaves out the threads that ended in
 * between, and the system calls are not counted. */
#include <errno.h>
#include <linux/perf_event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

/* the tracepoint at the entry of every system call */
static const char *const sys_enter_id[] = {
	"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
	"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
};

/* the tracepoint's id; -1 when tracefs is not there */
static long
tracepoint_id(void)
{
	size_t i;
	long id;
	FILE *f;

	for (i = 0; i < sizeof sys_enter_id / sizeof sys_enter_id[0]; i++) {
		f = fopen(sys_enter_id[i], "re");
		if (!f)
			continue;
		if (fscanf(f, "%ld", &id) != 1)
			id = -1;
		fclose(f);
		return id;
	}
	return -1;
}

/* a counter of one task, and of what it starts from now on */
static int
counter_open(uint32_t type, uint64_t config, pid_t tid)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = type;
	a.config = config;
	a.inherit = 1;
	return (int)syscall(SYS_perf_event_open, &a, tid, -1, -1,
	    PERF_FLAG_FD_CLOEXEC);
}

static double
counter_sum(const int *fd, int n)
{
	uint64_t v;
	double sum = 0;
	int i;

	for (i = 0; i < n; i++)
		if (read(fd[i], &v, sizeof v) == (ssize_t)sizeof v)
			sum += (double)v;
	return sum;
}

/* once per run: why the system calls are not counted */
static void
note_unavailable(const char *what, int err)
{
	static int said;

	if (said++)
		return;
	note("note: no perf events (%s: %s): no system calls counted, "
	    "context switches from /proc (missing the threads that ended)",
	    what, strerror(err));
}

void
counters_close(struct counters *k)
{
	int i;

	for (i = 0; i < k->n; i++) {
		close(k->sys[i]);
		close(k->cs[i]);
	}
	k->n = 0;
}

int
counters_open(struct counters *k, const struct server *s)
{
	pid_t tids[MAX_COUNTED];
	long id = tracepoint_id();
	int i, j, n = 0, err;

	memset(k, 0, sizeof *k);
	k->server = s;
	if (s->kind == KIND_DIRECT || s->pid <= 0)
		return -1;
	if (id < 0) {
		note_unavailable("raw_syscalls:sys_enter", ENOENT);
		return 0;
	}
	for (i = 0; i < s->instances; i++)
		n += proc_threads(s->pids[i], tids + n, MAX_COUNTED - n);
	for (j = 0; j < n; j++) {
		k->sys[k->n] = counter_open(PERF_TYPE_TRACEPOINT, (uint64_t)id,
		    tids[j]);
		if (k->sys[k->n] < 0) {
			err = errno;
			/* it ended since the list was made */
			if (err == ESRCH)
				continue;
			counters_close(k);
			note_unavailable("raw_syscalls:sys_enter", err);
			return 0;
		}
		k->cs[k->n] = counter_open(PERF_TYPE_SOFTWARE,
		    PERF_COUNT_SW_CONTEXT_SWITCHES, tids[j]);
		if (k->cs[k->n] < 0) {
			err = errno;
			close(k->sys[k->n]);
			if (err == ESRCH)
				continue;
			counters_close(k);
			note_unavailable("context-switches", err);
			return 0;
		}
		k->n++;
	}
	k->perf = k->n > 0;
	return 0;
}

void
counters_read(const struct counters *k, struct counts *c)
{
	long cs;
	int i;

	c->syscalls = c->switches = NAN;
	if (!k->server || k->server->pid <= 0)
		return;
	if (k->perf) {
		c->syscalls = counter_sum(k->sys, k->n);
		c->switches = counter_sum(k->cs, k->n);
		return;
	}
	c->switches = 0;
	for (i = 0; i < k->server->instances; i++) {
		cs = proc_switches(k->server->pids[i]);
		if (cs < 0) {
			c->switches = NAN;
			return;
		}
		c->switches += (double)cs;
	}
}
