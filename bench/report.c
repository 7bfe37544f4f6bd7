/* SPDX-License-Identifier: MIT */
/* The figures: one record per server, measure and round, kept in the
 * order measured.  Medians over rounds, ratios to direct (server 0) of the
 * same round, burst (and dip) flags, and the TSV file for plotting. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define MAX_MEASURES 256
#define MAX_RECORDS 16384
#define MAX_ROUNDS 64
/* a direct round this much above the median of the others is a burst,
 * this much below a dip */
#define BURST_FACTOR 1.8

struct measure {
	char name[40];
	char unit[12];
};

struct record {
	int server, measure, round;
	double value;
};

static struct measure measures[MAX_MEASURES];
static int nmeasures;
static struct record records[MAX_RECORDS];
static int nrecords;

static int
find_measure(const char *name)
{
	int i;

	for (i = 0; i < nmeasures; i++)
		if (strcmp(measures[i].name, name) == 0)
			return i;
	return -1;
}

static int
add_measure(const char *name, const char *unit)
{
	int m = find_measure(name);

	if (m >= 0 || nmeasures == MAX_MEASURES)
		return m;
	snprintf(measures[nmeasures].name, sizeof measures[0].name, "%s", name);
	snprintf(measures[nmeasures].unit, sizeof measures[0].unit, "%s", unit);
	return nmeasures++;
}

/* rates, where more is better, get a ratio to direct and burst flags */
static int
is_rate(int m)
{
	return strcmp(measures[m].unit, "GB/s") == 0 ||
	    strcmp(measures[m].unit, "conn/s") == 0;
}

void
report_add(int server, const char *measure, const char *unit, int round,
    double value)
{
	int m = add_measure(measure, unit);

	/* a missing figure is left out, not recorded as a number */
	if (m < 0 || isnan(value) || nrecords == MAX_RECORDS ||
	    round < 1 || round > MAX_ROUNDS)
		return;
	records[nrecords++] = (struct record){ server, m, round, value };
}

/* the value of a server's measure in a round; NAN when there is none */
static double
value_at(int server, int m, int round)
{
	int i;

	for (i = 0; i < nrecords; i++)
		if (records[i].server == server && records[i].measure == m &&
		    records[i].round == round)
			return records[i].value;
	return NAN;
}

/* the values of all rounds but skip_round; how many */
static int
values_of(int server, int m, int skip_round, double *v)
{
	int i, n = 0;

	for (i = 0; i < nrecords && n < MAX_ROUNDS; i++)
		if (records[i].server == server && records[i].measure == m &&
		    records[i].round != skip_round)
			v[n++] = records[i].value;
	return n;
}

static double
ratio_at(int server, int m, int round)
{
	double d = value_at(0, m, round);

	return d > 0 ? value_at(server, m, round) / d : NAN;
}

double
report_median(int server, const char *measure)
{
	double v[MAX_ROUNDS];
	int m = find_measure(measure);

	return m < 0 ? NAN : median_of(v, values_of(server, m, 0, v));
}

double
report_min(int server, const char *measure)
{
	double v[MAX_ROUNDS], min = NAN;
	int m = find_measure(measure), i, n;

	n = m < 0 ? 0 : values_of(server, m, 0, v);
	for (i = 0; i < n; i++)
		if (isnan(min) || v[i] < min)
			min = v[i];
	return min;
}

double
report_ratio(int server, const char *measure)
{
	double v[MAX_ROUNDS], r;
	int m = find_measure(measure), round, n = 0;

	if (m < 0 || server == 0 || !is_rate(m))
		return NAN;
	for (round = 1; round <= MAX_ROUNDS; round++)
		if (!isnan(r = ratio_at(server, m, round)))
			v[n++] = r;
	return median_of(v, n);
}

/* the median of direct's rounds of measure m but round */
static double
other_median(int m, int round)
{
	double v[MAX_ROUNDS];

	return median_of(v, values_of(0, m, round, v));
}

/* "burst" for a round of direct over BURST_FACTOR times the median of its
 * other rounds, "dip" for one under it by that factor; else NULL.  With
 * three rounds a dip can make a normal round look like a burst: both
 * flags together tell which. */
static const char *
flag(int m, int round)
{
	double x = value_at(0, m, round), med = other_median(m, round);

	if (!is_rate(m) || isnan(x) || isnan(med))
		return NULL;
	if (x > BURST_FACTOR * med)
		return "burst";
	if (x * BURST_FACTOR < med)
		return "dip";
	return NULL;
}

void
report_notes(int rounds)
{
	const char *f;
	int m, round;

	for (m = 0; m < nmeasures; m++)
		for (round = 1; round <= rounds; round++)
			if ((f = flag(m, round)))
				printf("note: direct %s round %d looks like a "
				    "%s: %.3g %s, the other rounds' median "
				    "%.3g (kept)\n", measures[m].name, round, f,
				    value_at(0, m, round), measures[m].unit,
				    other_median(m, round));
}

static void
tsv_line(FILE *f, const char *server, int m, const char *round,
    double value, double ratio, const char *flag)
{
	fprintf(f, "%s\t%s\t%s\t%s\t%.6g\t", server, measures[m].name,
	    measures[m].unit, round, value);
	if (!isnan(ratio))
		fprintf(f, "%.4f", ratio);
	fprintf(f, "\t%s\n", flag);
}

int
report_write_tsv(const char *path, const struct server *servers,
    int nservers)
{
	const struct record *r;
	const char *fl;
	char round[16];
	double med;
	int i, s, m;
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs("server\tmeasure\tunit\tround\tvalue\tratio_to_direct\tflag\n",
	    f);
	for (i = 0; i < nrecords; i++) {
		r = &records[i];
		snprintf(round, sizeof round, "%d", r->round);
		fl = r->server == 0 ? flag(r->measure, r->round) : NULL;
		tsv_line(f, servers[r->server].name, r->measure, round,
		    r->value,
		    r->server ? ratio_at(r->server, r->measure, r->round) : NAN,
		    fl ? fl : "");
	}
	for (s = 0; s < nservers; s++)
		for (m = 0; m < nmeasures; m++) {
			med = report_median(s, measures[m].name);
			if (!isnan(med))
				tsv_line(f, servers[s].name, m, "median", med,
				    report_ratio(s, measures[m].name), "");
		}
	return fclose(f);
}
