/* SPDX-License-Identifier: MIT */
/* The tables on stdout: one per kind of figure, one row per server (the
 * scale table: per server and number of instances), one column per
 * measure, each cell the median over rounds. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define MAX_ROWS 16
#define MAX_COLS 12
#define CELL 32

struct col {
	char head[24];
	char measure[40];
	const char *fmt;	/* of the median; NULL: "yes" when every
				 * round reached want, else "no" */
	int ratio;		/* append the median ratio to direct */
	double want;
};

static void
cell(const struct col *k, int si, char *out, size_t size)
{
	double v, r;
	int n;

	if (!k->fmt) {
		v = report_min(si, k->measure);
		snprintf(out, size, "%s", isnan(v) ? "-" :
		    v >= k->want ? "yes" : "no");
		return;
	}
	v = report_median(si, k->measure);
	if (isnan(v)) {
		snprintf(out, size, "-");
		return;
	}
	n = snprintf(out, size, k->fmt, v);
	r = k->ratio ? report_ratio(si, k->measure) : NAN;
	if (!isnan(r) && n > 0 && (size_t)n < size)
		snprintf(out + n, size - (size_t)n, " (%.2f)", r);
}

static int
max_int(int a, int b)
{
	return a > b ? a : b;
}

/* a row of a table: its name, the server whose figures it shows, and its
 * columns (the heads are those of the first row) */
struct row {
	char name[40];
	int server;
	const struct col *cols;
};

/* the rows with at least one figure, under title; none when none has */
static void
print_rows(const char *title, const struct row *rows, int nr, int nc)
{
	static char cells[MAX_ROWS][MAX_COLS][CELL];
	int width[MAX_COLS], shown[MAX_ROWS], namew = 6, r, k, any = 0;

	if (nr <= 0)
		return;
	for (k = 0; k < nc; k++)
		width[k] = (int)strlen(rows[0].cols[k].head);
	for (r = 0; r < nr && r < MAX_ROWS; r++) {
		shown[r] = 0;
		for (k = 0; k < nc; k++) {
			cell(&rows[r].cols[k], rows[r].server, cells[r][k],
			    CELL);
			width[k] = max_int(width[k], (int)strlen(cells[r][k]));
			shown[r] |= strcmp(cells[r][k], "-") != 0;
		}
		if (shown[r])
			namew = max_int(namew, (int)strlen(rows[r].name));
		any += shown[r];
	}
	if (!any)
		return;
	printf("\n%s\n%-*s", title, namew, "server");
	for (k = 0; k < nc; k++)
		printf("  %*s", width[k], rows[0].cols[k].head);
	putchar('\n');
	for (r = 0; r < nr && r < MAX_ROWS; r++) {
		if (!shown[r])
			continue;
		printf("%-*s", namew, rows[r].name);
		for (k = 0; k < nc; k++)
			printf("  %*s", width[k], cells[r][k]);
		putchar('\n');
	}
}

/* one row per server, each with the columns cols */
static void
print_table(const char *title, const struct server *sv, int ns,
    const struct col *cols, int nc)
{
	struct row rows[MAX_ROWS];
	int s;

	for (s = 0; s < ns && s < MAX_ROWS; s++) {
		snprintf(rows[s].name, sizeof rows[s].name, "%s", sv[s].name);
		rows[s].server = s;
		rows[s].cols = cols;
	}
	print_rows(title, rows, s, nc);
}

/* a column: its head, the format of its figures (NULL: yes/no, see
 * struct col), whether the ratio to direct goes with them, and the name
 * of its measure as a format and its arguments */
static void __attribute__((format(printf, 5, 6)))
col(struct col *k, const char *head, const char *fmt, int ratio,
    const char *measure, ...)
{
	va_list ap;

	memset(k, 0, sizeof *k);
	snprintf(k->head, sizeof k->head, "%s", head);
	k->fmt = fmt;
	k->ratio = ratio;
	va_start(ap, measure);
	vsnprintf(k->measure, sizeof k->measure, measure, ap);
	va_end(ap);
}

static void
thru_tables(const struct server *sv, int ns)
{
	struct col c[2 * NSTREAMS], cpu[2 * NSTREAMS];
	const char *dir;
	char head[24];
	int up, k, n = 0;

	for (up = 1; up >= 0; up--)
		for (k = 0; k < NSTREAMS; k++, n++) {
			dir = up ? "up" : "down";
			snprintf(head, sizeof head, "%s x%d", dir,
			    thru_streams[k]);
			col(&c[n], head, "%.2f", 1, M_THRU, dir,
			    thru_streams[k]);
			col(&cpu[n], head, "%.3f", 0, M_THRU_CPU, dir,
			    thru_streams[k]);
		}
	print_table("Bulk throughput, GB/s (ratio to direct)", sv, ns, c, n);
	print_table("Server CPU seconds (utime+stime) per GiB moved", sv, ns,
	    cpu, n);
}

static void
conn_table(const struct server *sv, int ns)
{
	struct col c[3 * NCLIENTS], cpu[3 * NCLIENTS];
	char head[24];
	int k, m, n = 0, nc = 0;

	for (k = 0; k < NCLIENTS; k++) {
		m = conn_clients[k];
		snprintf(head, sizeof head, "x%d conn/s", m);
		col(&c[n++], head, "%.0f", 0, M_CONN, m);
		snprintf(head, sizeof head, "x%d p50 us", m);
		col(&c[n++], head, "%.0f", 0, M_CONN_P50, m);
		snprintf(head, sizeof head, "x%d p99 us", m);
		col(&c[n++], head, "%.0f", 0, M_CONN_P99, m);
		snprintf(head, sizeof head, "x%d CPU us", m);
		col(&cpu[nc++], head, "%.1f", 0, M_CONN_CPU, m);
		snprintf(head, sizeof head, "x%d sys/conn", m);
		col(&cpu[nc++], head, "%.1f", 0, M_CONN_SYS, m);
		snprintf(head, sizeof head, "x%d cs/conn", m);
		col(&cpu[nc++], head, "%.2f", 0, M_CONN_CS, m);
	}
	print_table("Connections per second at 1, 16, 128 concurrent clients; "
	    "handshake time p50/p99\n(connect .. CONNECT reply; direct: "
	    "connect only)", sv, ns, c, n);
	print_table("The server's share per connection, at 1, 16, 128 clients: "
	    "CPU microseconds\n(utime+stime), system calls, context "
	    "switches", sv, ns, cpu, nc);
}

/* a row for each number of instances of each server that has them */
static void
scale_table(const struct server *sv, int ns)
{
	static struct col c[MAX_ROWS][2 * NCLIENTS];
	struct row rows[MAX_ROWS];
	char head[24];
	int s, k, j, n, nr = 0;

	for (s = 0; s < ns; s++)
		for (k = 0; k < NSCALE && nr < MAX_ROWS; k++, nr++) {
			n = scale_instances[k];
			snprintf(rows[nr].name, sizeof rows[nr].name,
			    "%s, %d instance%s", sv[s].name, n, n > 1 ? "s" : "");
			rows[nr].server = s;
			rows[nr].cols = c[nr];
			for (j = 0; j < NCLIENTS; j++) {
				snprintf(head, sizeof head, "x%d conn/s",
				    conn_clients[j]);
				col(&c[nr][j], head, "%.0f", 0, M_SCALE, n,
				    conn_clients[j]);
				snprintf(head, sizeof head, "x%d CPU us",
				    conn_clients[j]);
				col(&c[nr][NCLIENTS + j], head, "%.1f", 0,
				    M_SCALE_CPU, n, conn_clients[j]);
			}
		}
	print_rows("Scale-out: instances with --reuseport on one port; "
	    "connections per second at 1, 16,\n128 clients, and server CPU "
	    "microseconds (utime+stime, all instances) per connection", rows,
	    nr, 2 * NCLIENTS);
}

static void
lat_table(const struct server *sv, int ns)
{
	struct col c[2];

	col(&c[0], "p50 us", "%.1f", 0, M_RTT_P50);
	col(&c[1], "p99 us", "%.1f", 0, M_RTT_P99);
	print_table("Round trip of 64 bytes on an established tunnel", sv, ns,
	    c, 2);
}

/* a server of several processes: what its sums mean */
static void
procs_notes(const struct server *sv, int ns, const char *state)
{
	char m[40];
	double n;
	int s;

	snprintf(m, sizeof m, M_PROCS, state);
	for (s = 0; s < ns; s++) {
		n = report_median(s, m);
		if (n > 1)
			printf("note: %s ran as %.0f processes: its figures "
			    "are sums over them, where VmRSS and RssAnon\n"
			    "  count the pages they share once per process, "
			    "and PSS shares them out\n", sv[s].name, n);
	}
}

/* a column of the idle tables: its head, with %d for a number of
 * tunnels, and its measure, with %s for the state of the server ("idle",
 * "t1000", ...) */
static void
idle_col(struct col *k, const char *head, int tunnels, const char *fmt,
    const char *measure, const char *state)
{
	char h[24];

	snprintf(h, sizeof h, head, tunnels);
	col(k, h, fmt, 0, measure, state);
}

static void
idle_tables(const struct server *sv, int ns, const struct run_opts *o)
{
	int ns1 = o->tunnels_small, nf = o->tunnels, n = 0;
	struct col c[MAX_COLS];
	char small[16], full[16];

	snprintf(small, sizeof small, "t%d", ns1);
	snprintf(full, sizeof full, "t%d", nf);
	idle_col(&c[n++], "RSS idle", 0, "%.0f", M_RSS, "idle");
	idle_col(&c[n++], "anon idle", 0, "%.0f", M_ANON, "idle");
	idle_col(&c[n++], "fds idle", 0, "%.0f", M_FDS, "idle");
	idle_col(&c[n++], "RSS@%d", ns1, "%.0f", M_RSS, small);
	idle_col(&c[n++], "RSS@%d", nf, "%.0f", M_RSS, full);
	idle_col(&c[n++], "anon@%d", nf, "%.0f", M_ANON, full);
	idle_col(&c[n++], "PSS@%d", nf, "%.0f", M_PSS, full);
	idle_col(&c[n++], "fds@%d", nf, "%.0f", M_FDS, full);
	idle_col(&c[n++], "RSS closed", 0, "%.0f", M_RSS, "closed");
	idle_col(&c[n++], "fds closed", 0, "%.0f", M_FDS, "closed");
	idle_col(&c[n++], "close wait s", 0, "%.2f", M_CLOSE_WAIT, "");
	print_table("Idle tunnels: server VmRSS, RssAnon and PSS in KiB, open "
	    "fds", sv, ns, c, n);

	n = 0;
	idle_col(&c[n++], "established", 0, "%.0f", M_TUNNELS, full);
	idle_col(&c[n], "all", 0, NULL, M_TUNNELS, full);
	c[n++].want = nf;
	idle_col(&c[n++], "KiB/tunnel@%d", ns1, "%.2f", M_RSS_PER, small);
	idle_col(&c[n++], "KiB/tunnel@%d", nf, "%.2f", M_RSS_PER, full);
	idle_col(&c[n++], "anon KiB/tunnel", 0, "%.2f", M_ANON_PER, full);
	idle_col(&c[n++], "PSS KiB/tunnel", 0, "%.2f", M_PSS_PER, full);
	idle_col(&c[n++], "fds/tunnel", 0, "%.2f", M_FDS_PER, full);
	print_table("Per idle tunnel: (figure at N - idle) / N; KiB/tunnel is "
	    "VmRSS", sv, ns, c, n);
	procs_notes(sv, ns, full);
}

void
print_tables(const struct server *sv, int ns, const struct run_opts *o,
    int sections)
{
	printf("\nEach figure is the median over the rounds; a ratio, the "
	    "median of the ratios\nto direct of the same round.\n");
	if (sections & SEC_THRU)
		thru_tables(sv, ns);
	if (sections & SEC_CONN)
		conn_table(sv, ns);
	if (sections & SEC_LAT)
		lat_table(sv, ns);
	if (sections & SEC_IDLE)
		idle_tables(sv, ns, o);
	if (sections & SEC_SCALE)
		scale_table(sv, ns);
}
