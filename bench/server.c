/* SPDX-License-Identifier: MIT */
/* Starting and stopping the servers under test.  Each runs in a process
 * group of its own, so that stopping it also stops the workers it forked,
 * with RLIMIT_NOFILE 65536, listening on a free port of 127.0.0.1.  A
 * server of several instances (microsocks --reuseport) is that many
 * processes on one port, in one group, writing to one log. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define SERVER_NOFILE 65536
#define START_TIMEOUT_S 5.0
#define STOP_TIMEOUT_S 3.0
/* after the port answers: dante's mother is up, its workers may not be */
#define SETTLE_S 0.2

const char *conf_template[KIND_NKINDS];

/* the process groups of the running servers, for servers_kill_all() */
#define MAX_LIVE 32
static volatile pid_t live[MAX_LIVE];

/* the servers with files, and their directory: servers_remove_files() */
static struct server *known[MAX_LIVE];
static int nknown;
static char known_dir[64];

static void
live_set(pid_t old, pid_t new)
{
	int i;

	for (i = 0; i < MAX_LIVE; i++)
		if (live[i] == old) {
			live[i] = new;
			return;
		}
}

void
servers_kill_all(void)
{
	int i;

	for (i = 0; i < MAX_LIVE; i++)
		if (live[i] > 0)
			kill(-live[i], SIGKILL);
}

/* by the file name: *danted* or *sockd* is dante, *3proxy* 3proxy,
 * *hev-socks5* hev, anything else microsocks */
static enum server_kind
kind_of(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (strstr(base, "danted") || strstr(base, "sockd"))
		return KIND_DANTE;
	if (strstr(base, "3proxy"))
		return KIND_3PROXY;
	if (strstr(base, "hev-socks5"))
		return KIND_HEV;
	return KIND_MICROSOCKS;
}

static struct timespec
mtime_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return (struct timespec){ 0, 0 };
	return st.st_mtim;
}

/* others may rebuild ours while the benchmark runs: the copy taken at the
 * start keeps the rounds on one build, but the figures are then not of
 * the binary found there at the end, which is worth a note */
static void
check_rebuilt(struct server *s)
{
	struct timespec m = mtime_of(s->path);

	if (m.tv_sec != s->mtime.tv_sec || m.tv_nsec != s->mtime.tv_nsec)
		s->rebuilt = 1;
}

/* copies the file at from to a new executable file at to */
static int
copy_exe(const char *from, const char *to)
{
	char buf[65536];
	int in, out, rc = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n)
			rc = -1;
	if (n < 0)
		rc = -1;
	close(in);
	return close(out) < 0 ? -1 : rc;
}

void
server_init(struct server *s, const char *name, const char *path,
    const char *workdir)
{
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", name);
	s->path = path;
	s->instances = 1;
	if (!path) {
		s->kind = KIND_DIRECT;
		s->available = 1;
		return;
	}
	s->kind = kind_of(path);
	s->available = access(path, X_OK) == 0;
	s->mtime = mtime_of(path);
	snprintf(s->log, sizeof s->log, "%s/%s.log", workdir, name);
	snprintf(s->conf, sizeof s->conf, "%s/%s.conf", workdir, name);
	snprintf(s->pidfile, sizeof s->pidfile, "%s/%s.pid", workdir, name);
	/* a build of ours, or of a peer, may be replaced, or removed, in
	 * mid-run; dante's workers find their program by its path, so it
	 * stays where it is */
	if (s->kind != KIND_DANTE && s->available) {
		snprintf(s->exe, sizeof s->exe, "%s/%s.bin", workdir, name);
		if (copy_exe(path, s->exe) < 0)
			s->exe[0] = '\0';
	}
	snprintf(known_dir, sizeof known_dir, "%s", workdir);
	if (nknown < MAX_LIVE)
		known[nknown++] = s;
}

void
servers_remove_files(void)
{
	int i;

	for (i = 0; i < nknown; i++) {
		unlink(known[i]->log);
		unlink(known[i]->conf);
		unlink(known[i]->pidfile);
		unlink(known[i]->exe);
	}
	if (nknown)
		rmdir(known_dir);
}

/* the lowest port the kernel hands out for connect() and bind(0) */
static int
ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	int low = 32768;

	if (f) {
		if (fscanf(f, "%d", &low) != 1)
			low = 32768;
		fclose(f);
	}
	return low;
}

/* 1 when 127.0.0.1:port can be bound now, TIME_WAIT and all */
static int
port_free(int port)
{
	struct sockaddr_in a = loopback((uint16_t)port);
	int fd, ok;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* a free port below the ephemeral range: there, the many connections of
 * a benchmark (or of anyone else) cannot leave it in TIME_WAIT, nor take
 * it between this check and the server's bind, which server_start()
 * survives anyway by trying again */
static int
free_port(void)
{
	int low = ephemeral_low(), span, i, port;
	unsigned start;

	if (low <= 10000 + 1000)
		return -1;
	span = low - 10000;
	/* somewhere else each time: a port just left may be in TIME_WAIT */
	start = (unsigned)getpid() * 7919u + (unsigned)(now_s() * 1000);
	for (i = 0; i < span; i++) {
		port = 10000 + (int)((start + (unsigned)i) % (unsigned)span);
		if (port_free(port))
			return port;
	}
	return -1;
}

/* the template of the server's kind with every @PORT@ replaced, into
 * s->conf */
static int
write_conf(const struct server *s, int port)
{
	const char *template = conf_template[s->kind];
	char buf[8192], *p, *q;
	FILE *in, *out;
	size_t n;

	in = fopen(template, "re");
	if (!in) {
		note("%s: cannot read %s", s->name, template);
		return -1;
	}
	n = fread(buf, 1, sizeof buf - 1, in);
	fclose(in);
	buf[n] = '\0';
	out = fopen(s->conf, "we");
	if (!out)
		return -1;
	for (p = buf; (q = strstr(p, "@PORT@")); p = q + 6)
		fprintf(out, "%.*s%d", (int)(q - p), p, port);
	fputs(p, out);
	return fclose(out) == 0 ? 0 : -1;
}

/* in the child: the limits and fds the server gets, then the server;
 * pgid 0 makes a group of its own, led by this process */
static void __attribute__((noreturn))
exec_server(const struct server *s, int port, pid_t pgid)
{
	struct rlimit rl = { SERVER_NOFILE, SERVER_NOFILE };
	const char *exe = s->exe[0] ? s->exe : s->path;
	char portstr[12];
	int fd;

	setpgid(0, pgid);
	/* a benchmark killed without its cleanup leaves no server behind */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setrlimit(RLIMIT_NOFILE, &rl);
	/* ignored by the benchmark, which exec would pass on */
	signal(SIGPIPE, SIG_DFL);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	/* truncated by the parent: instances share it */
	fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	close_range(3, ~0U, 0);
	snprintf(portstr, sizeof portstr, "%d", port);
	if (s->kind == KIND_DANTE)
		execl(s->path, s->path, "-f", s->conf, "-p", s->pidfile,
		    (char *)NULL);
	else if (s->kind == KIND_3PROXY || s->kind == KIND_HEV)
		execl(exe, exe, s->conf, (char *)NULL);
	else if (s->reuseport)
		execl(exe, exe, "--reuseport", "-i", "127.0.0.1", "-p",
		    portstr, (char *)NULL);
	else
		execl(exe, exe, "-i", "127.0.0.1", "-p", portstr,
		    (char *)NULL);
	_exit(127);
}

/* the first line of the server's log, to tell why it failed */
static void
show_log(const struct server *s)
{
	char line[256] = "";
	FILE *f = fopen(s->log, "re");

	if (f) {
		if (!fgets(line, sizeof line, f))
			line[0] = '\0';
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	note("%s: server did not start%s%s", s->name, line[0] ? ": " : "",
	    line);
}

/* 1 when the server's main process has ended; it stays a zombie, so its
 * id, which is also its group's, cannot be reused by another process */
static int
has_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof si);
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
	    0 && si.si_pid == pid;
}

/* how many of the server's instances have ended */
static int
exited_count(const struct server *s)
{
	int i, n = 0;

	for (i = 0; i < s->instances; i++)
		n += s->pids[i] > 0 && has_exited(s->pids[i]);
	return n;
}

/* kills what is left of the group, then lets the zombies go */
static void
reap(struct server *s)
{
	int status, i;

	kill(-s->pid, SIGKILL);
	for (i = 0; i < s->instances; i++)
		if (s->pids[i] > 0)
			waitpid(s->pids[i], &status, 0);
	live_set(s->pid, 0);
	memset(s->pids, 0, sizeof s->pids);
	s->pid = 0;
}

/* the "listening on" lines in the log: one per instance when each has
 * set up its listener, which the port answering cannot tell once the
 * first has */
static int
listening_count(const struct server *s)
{
	char buf[16384], *p;
	size_t n;
	int count = 0;
	FILE *f = fopen(s->log, "re");

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (p = buf; (p = strstr(p, "listening on ")); p++)
		count++;
	return count;
}

/* 0 when the server answers on its port, and each of several instances
 * listens; -1 when one died or it took too long */
static int
wait_ready(struct server *s)
{
	double deadline = now_s() + START_TIMEOUT_S;

	while (now_s() < deadline) {
		if (exited_count(s) > 0) {
			reap(s);
			return -1;
		}
		if (connect_probe(&s->addr, 100) == 0 && (s->instances == 1 ||
		    listening_count(s) >= s->instances))
			return 0;
		sleep_s(0.01);
	}
	server_stop(s);
	return -1;
}

/* starts the instances on port, all in the first one's group */
static int
spawn(struct server *s, int port)
{
	pid_t pid;
	int i, fd;

	fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	for (i = 0; i < s->instances; i++) {
		pid = fork();
		if (pid < 0) {
			if (i > 0)
				reap(s);
			return -1;
		}
		if (pid == 0)
			exec_server(s, port, i ? s->pid : 0);
		/* the child does the same: whichever runs first, the group
		 * exists before the next fork */
		setpgid(pid, i ? s->pid : pid);
		s->pids[i] = pid;
		if (i == 0) {
			s->pid = pid;
			live_set(0, pid);
		}
	}
	return 0;
}

int
server_start(struct server *s)
{
	int attempt, port;

	if (s->kind == KIND_DIRECT)
		return 0;
	if (s->instances < 1 || s->instances > MAX_INSTANCES ||
	    (s->instances > 1 && (!s->reuseport ||
	    s->kind != KIND_MICROSOCKS)))
		return -1;
	check_rebuilt(s);
	for (attempt = 0; attempt < 3; attempt++) {
		port = free_port();
		if (port < 0)
			return -1;
		if (conf_template[s->kind] && write_conf(s, port) < 0)
			return -1;
		s->addr = loopback((uint16_t)port);
		if (spawn(s, port) < 0)
			return -1;
		if (wait_ready(s) == 0) {
			sleep_s(SETTLE_S);
			return 0;
		}
	}
	show_log(s);
	return -1;
}

void
server_stop(struct server *s)
{
	double deadline = now_s() + STOP_TIMEOUT_S;

	if (s->pid <= 0)
		return;
	kill(-s->pid, SIGTERM);
	while (now_s() < deadline && exited_count(s) < s->instances)
		sleep_s(0.01);
	reap(s);
}

int
server_usage(const struct server *s, int what, struct proc_usage *u)
{
	struct proc_usage one;
	int i;

	memset(u, 0, sizeof *u);
	if (s->pid <= 0)
		return -1;
	for (i = 0; i < s->instances; i++) {
		if (proc_usage(s->pids[i], what, &one) < 0)
			return -1;
		u->cpu_s += one.cpu_s;
		u->rss_kib += one.rss_kib;
		u->anon_kib += one.anon_kib;
		u->pss_kib += one.pss_kib;
		u->fds += one.fds;
		u->nprocs += one.nprocs;
	}
	return 0;
}
