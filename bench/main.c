/* SPDX-License-Identifier: MIT */
/* socksbench: options, the servers, and the rounds.  Each round runs each
 * section with freshly started servers, and within a section each
 * measurement on direct, ours and the peers in turn, so that a change in
 * the machine's load hits all of them alike. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

#define MAX_SERVERS 16

/* the peers that peers.sh builds: a name, and where the binary is in the
 * source tree of each, under the directory --peers names */
#define NPEERS 3
static const struct {
	const char *name, *path;
} peer_list[NPEERS] = {
	{ "mshead", "microsocks/microsocks" },
	{ "3proxy", "3proxy/bin/3proxy" },
	{ "hev", "hev-socks5-server/bin/hev-socks5-server" },
};

struct config {
	struct run_opts run;
	int rounds;
	int sections;
	char out[PATH_MAX];
	char conf[KIND_NKINDS][PATH_MAX];	/* templates by kind */
	char ours[PATH_MAX];
	int nspec;			/* --server NAME=PATH, in order */
	char *spec_name[MAX_SERVERS], *spec_path[MAX_SERVERS];
	char peers[PATH_MAX];		/* --peers DIR; "" when not given */
	char peer_path[NPEERS][PATH_MAX];
	struct server servers[MAX_SERVERS];	/* [0] is direct */
	char real[MAX_SERVERS][PATH_MAX];	/* their resolved paths */
	int nservers;
	int ours_at;			/* servers[ours_at] is ours; -1: none */
	struct server scale[NSCALE];	/* ours, 1 and 2 instances */
};

static const char usage_text[] =
"usage: socksbench [options]\n"
"  --rounds N          interleaved rounds per measurement (default 3)\n"
"  --duration S        window of each throughput measurement (default 2)\n"
"  --conn-duration S   window of each connection rate measurement (2)\n"
"  --lat-duration S    window of the round-trip measurement (1)\n"
"  --warmup S          before each window (default 0.25)\n"
"  --tunnels N         idle tunnels at the last step (default 9900)\n"
"  --no-counters       conn: count no system calls and context switches\n"
"                      (the count costs each system call on the machine\n"
"                      a little)\n"
"  --sections LIST     of thru,conn,lat,idle,scale (default all)\n"
"  --server NAME=PATH  a server to compare with direct, repeatable; the\n"
"                      first replaces the defaults, which are\n"
"                      ours=../microsocks (next to this program's dir),\n"
"                      debian=/usr/bin/microsocks, dante=/usr/sbin/danted.\n"
"                      A PATH named *danted* or *sockd* is run as dante\n"
"                      with --danted-conf, *3proxy* as 3proxy with\n"
"                      --3proxy-conf, *hev-socks5* as hev-socks5-server\n"
"                      with --hev-conf, any other as microsocks\n"
"  --danted-conf FILE  config templates, @PORT@ for the port (defaults:\n"
"  --3proxy-conf FILE  danted.conf, 3proxy.cfg and hev.yml next to this\n"
"  --hev-conf FILE     program)\n"
"  --peers DIR         adds, after those, the peers that peers.sh built\n"
"                      under DIR: mshead=DIR/microsocks/microsocks,\n"
"                      3proxy=DIR/3proxy/bin/3proxy,\n"
"                      hev=DIR/hev-socks5-server/bin/hev-socks5-server\n"
"                      (each skipped with a note when it is not there)\n"
"  --out FILE          the figures, as TSV (default results.tsv next to\n"
"                      this program)\n"
"Everything runs on 127.0.0.1.\n";

static void __attribute__((noreturn))
usage(const char *fmt, const char *arg)
{
	if (fmt) {
		fputs("socksbench: ", stderr);
		fprintf(stderr, fmt, arg);
		fputc('\n', stderr);
	}
	fputs(usage_text, fmt ? stderr : stdout);
	exit(fmt ? 2 : 0);
}

static double
parse_num(const char *opt, const char *arg, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= min && v <= max)) {
		fprintf(stderr, "socksbench: %s: want a number from %g to %g\n",
		    opt, min, max);
		usage(NULL, NULL);
	}
	return v;
}

static int
parse_sections(char *arg)
{
	static const char *const names[] = { "thru", "conn", "lat", "idle",
	    "scale" };
	int sections = 0, i, n = sizeof names / sizeof names[0];
	char *tok, *save;

	for (tok = strtok_r(arg, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < n && strcmp(tok, names[i]); i++)
			;
		if (i == n)
			usage("unknown section '%s'", tok);
		sections |= 1 << i;
	}
	return sections;
}

static void
parse_server(struct config *c, char *arg)
{
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg || !eq[1])
		usage("--server wants NAME=PATH, not '%s'", arg);
	*eq = '\0';
	/* the name also names the server's files */
	if (strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_-.") != strlen(arg) || strlen(arg) > 20)
		usage("server name '%s': up to 20 letters, digits, _-.", arg);
	if (strcmp(arg, "direct") == 0)
		usage("'%s' is the name of the connection without proxy", arg);
	if (c->nspec == MAX_SERVERS - 1 - NPEERS)
		usage("too many servers at '%s'", arg);
	c->spec_name[c->nspec] = arg;
	c->spec_path[c->nspec++] = eq + 1;
}

/* the directory of this program: default paths are relative to it, so
 * that it runs the same from any working directory */
static void
defaults(struct config *c)
{
	char exe[PATH_MAX], *dir = ".";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	if (n > 0) {
		exe[n] = '\0';
		dir = dirname(exe);
	}
	c->rounds = 3;
	c->sections = SEC_THRU | SEC_CONN | SEC_LAT | SEC_IDLE | SEC_SCALE;
	c->run = (struct run_opts){ .warmup_s = 0.25, .thru_s = 2,
	    .conn_s = 2, .lat_s = 1, .counters = 1, .tunnels = 9900,
	    .tunnels_small = 1000 };
	snprintf(c->out, sizeof c->out, "%s/results.tsv", dir);
	snprintf(c->conf[KIND_DANTE], PATH_MAX, "%s/danted.conf", dir);
	snprintf(c->conf[KIND_3PROXY], PATH_MAX, "%s/3proxy.cfg", dir);
	snprintf(c->conf[KIND_HEV], PATH_MAX, "%s/hev.yml", dir);
	snprintf(c->ours, sizeof c->ours, "%s/../microsocks", dir);
}

static void
parse_args(int argc, char **argv, struct config *c)
{
	static const struct option longopts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "conn-duration", required_argument, NULL, 'c' },
		{ "lat-duration", required_argument, NULL, 'l' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "tunnels", required_argument, NULL, 't' },
		{ "no-counters", no_argument, NULL, 'n' },
		{ "sections", required_argument, NULL, 's' },
		{ "server", required_argument, NULL, 'S' },
		{ "danted-conf", required_argument, NULL, 'D' },
		{ "3proxy-conf", required_argument, NULL, '3' },
		{ "hev-conf", required_argument, NULL, 'H' },
		{ "peers", required_argument, NULL, 'P' },
		{ "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			c->rounds = (int)parse_num("--rounds", optarg, 1, 20);
			break;
		case 'd':
			c->run.thru_s = parse_num("--duration", optarg,
			    0.1, 60);
			break;
		case 'c':
			c->run.conn_s = parse_num("--conn-duration", optarg,
			    0.1, 60);
			break;
		case 'l':
			c->run.lat_s = parse_num("--lat-duration", optarg,
			    0.1, 60);
			break;
		case 'w':
			c->run.warmup_s = parse_num("--warmup", optarg, 0, 10);
			break;
		case 't':
			c->run.tunnels = (int)parse_num("--tunnels", optarg, 1,
			    100000);
			break;
		case 'n':
			c->run.counters = 0;
			break;
		case 's':
			c->sections = parse_sections(optarg);
			break;
		case 'S':
			parse_server(c, optarg);
			break;
		case 'D':
			snprintf(c->conf[KIND_DANTE], PATH_MAX, "%s", optarg);
			break;
		case '3':
			snprintf(c->conf[KIND_3PROXY], PATH_MAX, "%s", optarg);
			break;
		case 'H':
			snprintf(c->conf[KIND_HEV], PATH_MAX, "%s", optarg);
			break;
		case 'P':
			snprintf(c->peers, sizeof c->peers, "%s", optarg);
			break;
		case 'o':
			snprintf(c->out, sizeof c->out, "%s", optarg);
			break;
		case 'h':
			usage(NULL, NULL);
		default:
			usage("bad option", "");
		}
	}
	if (optind < argc)
		usage("unexpected argument '%s'", argv[optind]);
	if (c->run.tunnels_small > c->run.tunnels)
		c->run.tunnels_small = c->run.tunnels;
}

static int
name_taken(const char *name, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* direct, then the servers asked for (or the defaults) and the peers
 * that are there */
static void
setup_servers(struct config *c, const char *workdir)
{
	static const char *const def_name[] = { "ours", "debian", "dante" };
	const char *def_path[] = { c->ours, "/usr/bin/microsocks",
	    "/usr/sbin/danted" };
	const char *name[MAX_SERVERS], *path[MAX_SERVERS];
	struct server *s;
	int i, n = 0;

	for (i = 0; i < (c->nspec ? c->nspec : 3); i++, n++) {
		name[n] = c->nspec ? c->spec_name[i] : def_name[i];
		path[n] = c->nspec ? c->spec_path[i] : def_path[i];
	}
	for (i = 0; i < NPEERS && c->peers[0]; i++) {
		/* the name also names the server's files: one of each */
		if (name_taken(peer_list[i].name, name, n)) {
			note("note: %s is given with --server: the peer of "
			    "that name is left out", peer_list[i].name);
			continue;
		}
		if (snprintf(c->peer_path[i], PATH_MAX, "%s/%s", c->peers,
		    peer_list[i].path) >= PATH_MAX)
			usage("--peers: '%s' is too long", c->peers);
		name[n] = peer_list[i].name;
		path[n++] = c->peer_path[i];
	}
	server_init(&c->servers[0], "direct", NULL, workdir);
	c->nservers = 1;
	for (i = 0; i < n; i++) {
		s = &c->servers[c->nservers];
		server_init(s, name[i], path[i], workdir);
		if (s->available) {
			/* for the header: ours is found through bench/.. */
			if (realpath(s->path, c->real[c->nservers]))
				s->path = c->real[c->nservers];
			c->nservers++;
		}
		else
			note("note: %s (%s) is not installed: skipped", s->name,
			    s->path);
	}
}

/* the scale section's servers: ours, the server of that name, as one
 * and as two processes with --reuseport; the peers have no such option */
static void
setup_scale(struct config *c, const char *workdir)
{
	const struct server *ours = NULL;
	char name[32];
	int i;

	c->ours_at = -1;
	for (i = 1; i < c->nservers && c->ours_at < 0; i++)
		if (strcmp(c->servers[i].name, "ours") == 0 &&
		    c->servers[i].kind == KIND_MICROSOCKS)
			c->ours_at = i;
	if (!(c->sections & SEC_SCALE))
		return;
	if (c->ours_at < 0) {
		note("note: the scale section runs only a microsocks named "
		    "ours: skipped");
		c->sections &= ~SEC_SCALE;
		return;
	}
	ours = &c->servers[c->ours_at];
	for (i = 0; i < NSCALE; i++) {
		snprintf(name, sizeof name, "%s-n%d", ours->name,
		    scale_instances[i]);
		server_init(&c->scale[i], name, ours->path, workdir);
		c->scale[i].instances = scale_instances[i];
		c->scale[i].reuseport = 1;
	}
}

/* the benchmark holds both ends of every connection: ~2 fds a tunnel */
static void
raise_nofile(int tunnels)
{
	struct rlimit rl = { 1 << 20, 1 << 20 };

	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < 2 * (rlim_t)tunnels + 100)
		note("note: RLIMIT_NOFILE is %lu: too low for all idle tunnels",
		    (unsigned long)rl.rlim_cur);
}

static void
on_signal(int sig)
{
	servers_kill_all();
	servers_remove_files();
	_exit(128 + sig);
}

static void
setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* a peer gone in mid-write is normal at the end of a measurement */
	signal(SIGPIPE, SIG_IGN);
}

static void
servers_start(struct config *c)
{
	int i;

	for (i = 1; i < c->nservers; i++)
		if (server_start(&c->servers[i]) < 0)
			note("note: %s did not start: left out of this section",
			    c->servers[i].name);
}

static void
servers_stop(struct config *c)
{
	int i;

	for (i = 1; i < c->nservers; i++)
		server_stop(&c->servers[i]);
}

static void
run_round(struct config *c, struct target *t, int round)
{
	/* in the order of the tables */
	static const struct {
		int section;
		void (*run)(const struct section *);
		int own;	/* starts and stops servers of its own */
	} order[] = {
		{ SEC_THRU, section_thru, 0 },
		{ SEC_CONN, section_conn, 0 },
		{ SEC_LAT, section_lat, 0 },
		{ SEC_IDLE, section_idle, 0 },
		{ SEC_SCALE, section_scale, 1 },
	};
	struct section sec = { c->servers, c->nservers, t, &c->run, round,
	    c->rounds, c->scale, c->ours_at };
	size_t i;

	for (i = 0; i < sizeof order / sizeof order[0]; i++) {
		if (!(c->sections & order[i].section))
			continue;
		if (!order[i].own)
			servers_start(c);
		order[i].run(&sec);
		if (!order[i].own)
			servers_stop(c);
	}
}

/* a rough figure, so that whoever starts it knows what to expect */
static double
estimate_s(const struct config *c)
{
	const struct run_opts *o = &c->run;
	double per_round = 0;
	int n = c->nservers;

	if (c->sections & SEC_THRU)
		per_round += 2 * NSTREAMS * n * (o->warmup_s + o->thru_s + 0.1);
	if (c->sections & SEC_CONN)
		per_round += NCLIENTS * n * (o->warmup_s + o->conn_s + 0.1);
	if (c->sections & SEC_LAT)
		per_round += n * (o->warmup_s + o->lat_s + 0.1);
	if (c->sections & SEC_IDLE)
		per_round += (n - 1) * (2 + o->tunnels / 4000.0);
	if (c->sections & SEC_SCALE)
		per_round += NCLIENTS * NSCALE * (o->warmup_s + o->conn_s + 0.1) +
		    1;
	return per_round * c->rounds;
}

/* its binary's size and time tell one build from another */
static void
print_server(const struct server *s)
{
	char when[32] = "?";
	struct stat st;
	struct tm tm;

	if (!s->path) {
		printf("  %-8s (no proxy: client -> target)\n", s->name);
		return;
	}
	if (stat(s->path, &st) < 0) {
		printf("  %-8s %s\n", s->name, s->path);
		return;
	}
	if (localtime_r(&st.st_mtime, &tm))
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	printf("  %-8s %s (%lld bytes, %s%s)\n", s->name, s->path,
	    (long long)st.st_size, when,
	    s->exe[0] ? "; a copy of it runs" : "");
}

static void
print_header(const struct config *c)
{
	struct utsname u;
	int i;

	uname(&u);
	printf("socksbench: %d round%s; windows: throughput %gs, conn rate "
	    "%gs, rtt %gs, after %gs warm-up; %d idle tunnels\n", c->rounds,
	    c->rounds > 1 ? "s" : "", c->run.thru_s, c->run.conn_s,
	    c->run.lat_s, c->run.warmup_s, c->run.tunnels);
	printf("machine: %ld cpus, %s %s\n", sysconf(_SC_NPROCESSORS_ONLN),
	    u.sysname, u.release);
	for (i = 0; i < c->nservers; i++)
		print_server(&c->servers[i]);
	if (c->sections & SEC_SCALE)
		printf("  scale: %s as 1 and as 2 processes with --reuseport on "
		    "one port\n", c->servers[c->ours_at].name);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	char workdir[] = "/tmp/socksbench.XXXXXX";
	struct config c;
	struct target t;
	double t0 = now_s();
	int round, i;

	memset(&c, 0, sizeof c);
	defaults(&c);
	parse_args(argc, argv, &c);
	conf_template[KIND_DANTE] = c.conf[KIND_DANTE];
	conf_template[KIND_3PROXY] = c.conf[KIND_3PROXY];
	conf_template[KIND_HEV] = c.conf[KIND_HEV];
	setup_signals();
	raise_nofile(c.run.tunnels);
	if (!mkdtemp(workdir))
		die("mkdtemp: %s", strerror(errno));
	setup_servers(&c, workdir);
	setup_scale(&c, workdir);
	print_header(&c);
	note("socksbench: this takes about %.0f s", estimate_s(&c));
	if (target_start(&t) < 0)
		die("cannot start the targets");
	for (round = 1; round <= c.rounds; round++)
		run_round(&c, &t, round);
	target_stop(&t);

	print_tables(c.servers, c.nservers, &c.run, c.sections);
	putchar('\n');
	report_notes(c.rounds);
	for (i = 0; i < NSCALE && c.ours_at >= 0; i++)
		c.servers[c.ours_at].rebuilt |= c.scale[i].rebuilt;
	for (i = 1; i < c.nservers; i++)
		if (c.servers[i].rebuilt)
			printf("note: %s changed while the benchmark ran; %s\n",
			    c.servers[i].path, c.servers[i].exe[0] ?
			    "the figures are of the copy taken at the start" :
			    "the rounds mix builds");
	if (report_write_tsv(c.out, c.servers, c.nservers) < 0)
		note("socksbench: cannot write %s: %s", c.out, strerror(errno));
	else
		printf("figures: %s\n", c.out);
	printf("took %.0f s\n", now_s() - t0);

	servers_remove_files();
	return 0;
}
