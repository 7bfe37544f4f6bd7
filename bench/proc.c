/* SPDX-License-Identifier: MIT */
/* CPU time, memory and open fds of a server, from /proc.  A server may
 * be a tree of processes (dante forks its workers), so every figure is
 * the sum over the process and its descendants. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MAX_PROCS 1024

/* the text of /proc/PID/NAME in buf; its length, or -1 */
static int
read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (int)n;
}

/* the fields of /proc/PID/stat after the command name, which may itself
 * hold spaces and parentheses: field 3 (state) is returned as index 0 */
static int
stat_fields(pid_t pid, char *buf, size_t size, char **field, int nfield)
{
	char *p;
	int i;

	if (read_proc(pid, "stat", buf, size) < 0)
		return -1;
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	for (i = 0; i < nfield; i++) {
		while (*++p == ' ')
			;
		if (!*p)
			return -1;
		field[i] = p;
		p = strchr(p, ' ');
		if (!p)
			return i + 1 == nfield ? 0 : -1;
	}
	return 0;
}

static pid_t
parent_of(pid_t pid)
{
	char buf[1024], *f[2];

	if (stat_fields(pid, buf, sizeof buf, f, 2) < 0)
		return -1;
	return (pid_t)atoi(f[1]);
}

/* pid and its descendants into pids; how many.  Called by the main
 * thread only, hence the static tables. */
static int
proc_tree(pid_t root, pid_t *pids, int max)
{
	static pid_t all[MAX_PROCS * 8], parent[MAX_PROCS * 8];
	struct dirent *e;
	int n = 0, k = 1, i, j;
	DIR *d;

	pids[0] = root;
	d = opendir("/proc");
	if (!d)
		return 1;
	while ((e = readdir(d)) && n < MAX_PROCS * 8) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		all[n] = (pid_t)atoi(e->d_name);
		parent[n] = parent_of(all[n]);
		n++;
	}
	closedir(d);
	/* breadth first: each pass adopts the children of what is known */
	for (i = 0; i < k && k < max; i++)
		for (j = 0; j < n && k < max; j++)
			if (parent[j] == pids[i])
				pids[k++] = all[j];
	return k;
}

static double
cpu_seconds(pid_t pid)
{
	char buf[1024], *f[13];

	/* utime and stime are fields 14 and 15; a process's figures include
	 * its threads, the ones gone too */
	if (stat_fields(pid, buf, sizeof buf, f, 13) < 0)
		return 0;
	return (double)(strtoull(f[11], NULL, 10) + strtoull(f[12], NULL, 10)) /
	    (double)sysconf(_SC_CLK_TCK);
}

/* the number of a "Name:   123 kB" or "Name:\t123" line of a status
 * file of /proc */
static long
status_field(const char *status, const char *name)
{
	const char *p = strstr(status, name);

	return p ? strtol(p + strlen(name), NULL, 10) : 0;
}

static int
count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int
proc_usage(pid_t pid, int what, struct proc_usage *u)
{
	static pid_t pids[MAX_PROCS];
	char buf[4096];
	int i, n;

	memset(u, 0, sizeof *u);
	if (pid <= 0)
		return -1;
	n = proc_tree(pid, pids, MAX_PROCS);
	u->nprocs = n;
	for (i = 0; i < n; i++) {
		u->cpu_s += cpu_seconds(pids[i]);
		if (what & USAGE_FDS)
			u->fds += count_fds(pids[i]);
		if (!(what & USAGE_MEM))
			continue;
		if (read_proc(pids[i], "status", buf, sizeof buf) > 0) {
			u->rss_kib += status_field(buf, "\nVmRSS:");
			u->anon_kib += status_field(buf, "\nRssAnon:");
		}
		/* the pages shared among dante's processes, shared out */
		if (read_proc(pids[i], "smaps_rollup", buf, sizeof buf) > 0)
			u->pss_kib += status_field(buf, "\nPss:");
	}
	return 0;
}

/* the threads of pid and of its descendants into tids; how many */
int
proc_threads(pid_t pid, pid_t *tids, int max)
{
	static pid_t pids[MAX_PROCS];
	char path[64];
	struct dirent *e;
	int i, n, k = 0;
	DIR *d;

	if (pid <= 0)
		return 0;
	n = proc_tree(pid, pids, MAX_PROCS);
	for (i = 0; i < n && k < max; i++) {
		snprintf(path, sizeof path, "/proc/%d/task", (int)pids[i]);
		d = opendir(path);
		if (!d)
			continue;
		while ((e = readdir(d)) && k < max)
			if (isdigit((unsigned char)e->d_name[0]))
				tids[k++] = (pid_t)atoi(e->d_name);
		closedir(d);
	}
	return k;
}

/* the context switches of one thread, voluntary or not */
static long
task_switches(pid_t pid, const char *tid)
{
	char path[96], buf[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/task/%s/status", (int)pid, tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return status_field(buf, "\nvoluntary_ctxt_switches:") +
	    status_field(buf, "\nnonvoluntary_ctxt_switches:");
}

long
proc_switches(pid_t pid)
{
	static pid_t pids[MAX_PROCS];
	char path[64];
	struct dirent *e;
	long sum = 0;
	int i, n;
	DIR *d;

	if (pid <= 0)
		return -1;
	n = proc_tree(pid, pids, MAX_PROCS);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "/proc/%d/task", (int)pids[i]);
		d = opendir(path);
		if (!d)
			continue;
		while ((e = readdir(d)))
			if (isdigit((unsigned char)e->d_name[0]))
				sum += task_switches(pids[i], e->d_name);
		closedir(d);
	}
	return sum;
}
