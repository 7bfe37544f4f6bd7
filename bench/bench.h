/* SPDX-License-Identifier: MIT */
/* socksbench: throughput, connection rate, latency and idle-tunnel memory
 * of SOCKS5 servers on loopback, each against a direct connection.
 *
 * The benchmark process holds both ends: a load generator in the main
 * thread and the targets (sink, source, echo) in a thread of their own.
 * It only ever talks to 127.0.0.1. */
#ifndef SOCKSBENCH_H
#define SOCKSBENCH_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* size of one write of bulk data, and of the read buffers */
#define BULK_CHUNK (256 * 1024)
/* size of an echoed message: connection rate and latency */
#define MSG_SIZE 64

/* ---- util.c: time, statistics, sockets ---- */

double now_s(void);			/* CLOCK_MONOTONIC */
void sleep_s(double s);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* a growable array of samples, capped so that memory stays bounded */
struct samples {
	double *v;
	size_t n, cap, max;
};
void samples_init(struct samples *s, size_t max);
void samples_add(struct samples *s, double x);
void samples_free(struct samples *s);
/* sorts the samples; the value at quantile q (0..1), NAN when empty */
double samples_quantile(struct samples *s, double q);
/* median of n values (sorts a copy); NAN when n == 0 */
double median_of(const double *v, int n);

struct sockaddr_in loopback(uint16_t port);
/* a non-blocking listening socket on 127.0.0.1 with a kernel-chosen port */
int listen_loopback(struct sockaddr_in *bound);
/* a non-blocking socket with a connect() to a under way; -1 on failure */
int connect_start(const struct sockaddr_in *a);
/* waits, bounded, for a plain TCP connect to a; 0 when it succeeded */
int connect_probe(const struct sockaddr_in *a, int timeout_ms);

/* ---- proc.c: what /proc tells about a server and its children ---- */

struct proc_usage {
	double cpu_s;		/* utime + stime */
	long rss_kib;		/* VmRSS */
	long anon_kib;		/* RssAnon */
	long pss_kib;		/* Pss: shared pages divided among sharers */
	int fds;
	int nprocs;		/* the process and its descendants */
};
/* what proc_usage() reads besides the CPU time: each costs a little */
#define USAGE_MEM 1
#define USAGE_FDS 2
/* sums over pid and all its descendants (dante forks worker processes) */
int proc_usage(pid_t pid, int what, struct proc_usage *u);
/* the threads of pid and its descendants into tids; how many */
int proc_threads(pid_t pid, pid_t *tids, int max);
/* voluntary and involuntary context switches of the threads of pid and
 * its descendants that are there now; -1 when pid is not */
long proc_switches(pid_t pid);

/* ---- server.c: the servers under test ---- */

/* how a server is started: microsocks takes -i and -p, the others a
 * config file written from a template */
enum server_kind {
	KIND_DIRECT,
	KIND_MICROSOCKS,
	KIND_DANTE,		/* danted -f CONF, forks workers */
	KIND_3PROXY,		/* 3proxy CONF */
	KIND_HEV,		/* hev-socks5-server CONF */
	KIND_NKINDS
};

/* the most processes of one server that share its port */
#define MAX_INSTANCES 8

struct server {
	char name[32];
	const char *path;		/* NULL for direct */
	enum server_kind kind;
	int available;			/* installed, or direct */
	pid_t pid;			/* > 0 while it runs; its group's id */
	int instances;			/* processes started, 1 unless set */
	int reuseport;			/* microsocks: --reuseport to each */
	pid_t pids[MAX_INSTANCES];	/* [0] is pid; all in pid's group */
	struct sockaddr_in addr;	/* where it listens */
	char log[128];			/* its stderr */
	char conf[128];			/* the config written for it, if any */
	char pidfile[128];		/* dante: where it writes its pid */
	char exe[128];			/* the copy that runs; not dante */
	struct timespec mtime;		/* of path when the run started */
	int rebuilt;			/* path changed since */
};

/* the config templates by kind (danted.conf, 3proxy.cfg, hev.yml), with
 * @PORT@ for the port; NULL for the kinds that take none */
extern const char *conf_template[KIND_NKINDS];

/* path NULL is direct; the server's files go to workdir, and so does a
 * copy of its binary (but dante's), taken now.  One instance; a microsocks
 * server may be given more before it starts, with reuseport set: they
 * listen on one port, the kernel spreads the connections over them. */
void server_init(struct server *s, const char *name, const char *path,
    const char *workdir);
/* removes the files of all servers, and their directory; safe in a
 * signal handler */
void servers_remove_files(void);
/* 0 when every instance listens; -1 when it did not start */
int server_start(struct server *s);
void server_stop(struct server *s);
/* proc_usage() summed over the instances of a running server */
int server_usage(const struct server *s, int what, struct proc_usage *u);
/* kills every running server at once; safe in a signal handler */
void servers_kill_all(void);

/* ---- counters.c: system calls and context switches of a server ---- */

/* the most threads of a server that counting starts on; those they start
 * later are counted with them */
#define MAX_COUNTED 1024

struct counters {
	const struct server *server;
	int perf;		/* 1: perf events; 0: /proc, switches only */
	int n;
	int sys[MAX_COUNTED], cs[MAX_COUNTED];	/* per thread, one of each */
};
struct counts {
	double syscalls, switches;	/* so far; NAN when not counted */
};

/* starts counting on a running server, with perf events when it can
 * (see counters.c); 0, or -1 for direct or a server that does not run */
int counters_open(struct counters *k, const struct server *s);
/* the counts so far: only their differences mean something */
void counters_read(const struct counters *k, struct counts *c);
void counters_close(struct counters *k);

/* ---- target.c: the far ends, in a thread of their own ---- */

/* Where a connection ends matters: the side that closes first keeps the
 * port pair in TIME_WAIT for a minute.  On the benchmark's thousands of
 * short connections the targets close first, so that TIME_WAIT falls on
 * listening ports, not on the ephemeral ports that every process on the
 * machine (and dante, for each outgoing connection) needs. */
enum target_kind {
	T_SINK,		/* reads and counts */
	T_SOURCE,	/* writes as fast as it can */
	T_ECHO,		/* echoes, holds the connection until asked */
	T_ECHO_ONCE,	/* echoes MSG_SIZE bytes, then closes */
	T_NKINDS
};

struct tconn;

struct target {
	int ep;
	pthread_t thread;
	struct sockaddr_in addr[T_NKINDS];	/* where each kind listens */
	atomic_ullong sink_bytes;	/* read by all sinks so far */
	atomic_int open;		/* connections accepted, not closed */
	atomic_int close_echo;		/* request: close the T_ECHO ones */
	atomic_int stop;
	struct tconn *conns;		/* the thread's, listeners included */
};

int target_start(struct target *t);
void target_stop(struct target *t);
/* waits, bounded, until the targets hold no connection; 0 when they do not */
int target_wait_idle(struct target *t, double timeout_s);
/* has the thread close the T_ECHO connections; 0 when it did in time */
int target_close_echo(struct target *t, double timeout_s);

/* ---- socks.c: the client side of the SOCKS5 handshake ---- */

enum hs_state { HS_CONNECTING, HS_METHOD, HS_REPLY, HS_DONE, HS_FAILED };

/* one connection being set up, without blocking: a TCP connect, and
 * through a proxy the no-auth greeting and an IPv4 CONNECT request */
struct hs {
	int fd;
	enum hs_state state;
	double t_start;			/* before connect() */
	size_t have;
	unsigned char buf[4 + 1 + 255 + 2];	/* the longest reply */
};

/* starts a connection to proxy, or straight to target when proxy is NULL */
int hs_begin(struct hs *h, const struct sockaddr_in *proxy,
    const struct sockaddr_in *target);
/* goes on after epoll reported ev; returns the new state */
enum hs_state hs_advance(struct hs *h, uint32_t ev,
    const struct sockaddr_in *proxy, const struct sockaddr_in *target);

/* opens up to n connections to target (through proxy if not NULL), at most
 * inflight at a time, each within conn_timeout_s and all before
 * deadline_s; the ones established are in fds[0..return value) */
int tunnels_open(const struct sockaddr_in *proxy,
    const struct sockaddr_in *target, int n, int *fds, int inflight,
    double conn_timeout_s, double timeout_s);
void fds_close(int *fds, int n);
/* closes each fd when its peer has closed, the rest after timeout_s */
void fds_close_on_eof(int *fds, int n, double timeout_s);

/* ---- the measurements ---- */

struct run_opts {
	double warmup_s;
	double thru_s;
	double conn_s;
	double lat_s;
	int counters;			/* conn: count system calls and
					 * context switches */
	int tunnels;			/* idle tunnels at the end */
	int tunnels_small;		/* ... and at the first step */
};

struct thru_result {
	double gbps;			/* 10^9 bytes per second */
	double cpu_s_per_gib;		/* NAN for direct */
	int streams;			/* established */
};
int thru_run(const struct server *s, struct target *t, int up,
    int streams, const struct run_opts *o, struct thru_result *r);

struct conn_result {
	double rate;			/* completed connections per second */
	double hs_p50_us, hs_p99_us;
	double cpu_us_per_conn;		/* server CPU; NAN for direct */
	double sys_per_conn;		/* server system calls; NAN: not
					 * counted */
	double cs_per_conn;		/* server context switches */
	long errors;
};
/* count: the server's system calls and context switches too, if
 * o->counters */
int connrate_run(const struct server *s, struct target *t, int clients,
    int count, const struct run_opts *o, struct conn_result *r);

struct lat_result {
	double p50_us, p99_us;
	long samples;
};
int latency_run(const struct server *s, struct target *t,
    const struct run_opts *o, struct lat_result *r);

/* how long idle_run() waits for the server's fds to be back to idle */
#define IDLE_CLOSE_TIMEOUT_S 10.0

struct idle_point {
	int tunnels;			/* established */
	long rss_kib, anon_kib, pss_kib;
	int fds;
	int nprocs;			/* the server's processes */
};
struct idle_result {
	struct idle_point idle, small, full, closed;
	double close_wait_s;		/* until the fds were back to idle */
};
int idle_run(const struct server *s, struct target *t,
    const struct run_opts *o, struct idle_result *r);

/* ---- sections.c: each measurement over all servers, recorded ---- */

#define NSTREAMS 3
#define NCLIENTS 3
#define NSCALE 2
extern const int thru_streams[NSTREAMS];	/* 1, 8, 64 */
extern const int conn_clients[NCLIENTS];	/* 1, 16, 128 */
extern const int scale_instances[NSCALE];	/* 1, 2 */

/* measure names, shared by the sections that record and the tables */
#define M_THRU "%s_x%d"			/* "up"|"down", streams: GB/s */
#define M_THRU_CPU "%s_x%d_cpu"		/* s/GiB */
#define M_CONN "conn_x%d"		/* clients: conn/s */
#define M_CONN_P50 "conn_x%d_hs_p50"	/* us */
#define M_CONN_P99 "conn_x%d_hs_p99"	/* us */
#define M_CONN_ERR "conn_x%d_errors"
#define M_CONN_CPU "conn_x%d_cpu"		/* us per connection */
#define M_CONN_SYS "conn_x%d_sys"		/* system calls per connection */
#define M_CONN_CS "conn_x%d_cs"		/* context switches per connection */
#define M_RTT_P50 "rtt_p50"		/* us */
#define M_RTT_P99 "rtt_p99"
/* idle tunnels, by state ("idle", "t1000", "t9900", "closed") */
#define M_RSS "%s_rss"			/* KiB */
#define M_ANON "%s_anon"		/* KiB */
#define M_PSS "%s_pss"			/* KiB */
#define M_FDS "%s_fds"
#define M_PROCS "%s_procs"
#define M_TUNNELS "%s_tunnels"		/* established */
#define M_RSS_PER "%s_rss_per_tunnel"	/* KiB */
#define M_ANON_PER "%s_anon_per_tunnel"	/* KiB */
#define M_PSS_PER "%s_pss_per_tunnel"	/* KiB */
#define M_FDS_PER "%s_fds_per_tunnel"
#define M_CLOSE_WAIT "closed_wait"	/* s, for the fds to be back */
/* scale: instances, clients */
#define M_SCALE "scale%d_x%d"		/* conn/s */
#define M_SCALE_CPU "scale%d_x%d_cpu"	/* us per connection, all instances */
#define M_SCALE_ERR "scale%d_x%d_errors"

struct section {
	struct server *servers;		/* [0] is direct */
	int nservers;
	struct target *target;
	const struct run_opts *opts;
	int round, rounds;
	/* scale: ours as scale_instances[i] processes on one port, each
	 * with --reuseport, started and stopped by the section; its figures
	 * are recorded under ours, servers[ours] (-1: there is no ours) */
	struct server *scale;
	int ours;
};

void section_thru(const struct section *c);
void section_conn(const struct section *c);
void section_lat(const struct section *c);
void section_idle(const struct section *c);
void section_scale(const struct section *c);

/* which sections run */
#define SEC_THRU 1
#define SEC_CONN 2
#define SEC_LAT 4
#define SEC_IDLE 8
#define SEC_SCALE 16

/* ---- table.c: the tables on stdout ---- */

void print_tables(const struct server *servers, int nservers,
    const struct run_opts *o, int sections);

/* ---- report.c: figures by server, measure and round ---- */

void report_add(int server, const char *measure, const char *unit,
    int round, double value);
/* the median, or the smallest, over rounds; NAN when there is none */
double report_median(int server, const char *measure);
double report_min(int server, const char *measure);
/* for rates: the median over rounds of the ratio to server 0 (direct) of
 * the same round; NAN otherwise */
double report_ratio(int server, const char *measure);
/* prints a note for each round of direct over 1.8x the median of its
 * other rounds (a burst), or under it by that factor (a dip) */
void report_notes(int rounds);
int report_write_tsv(const char *path, const struct server *servers,
    int nservers);

#endif
