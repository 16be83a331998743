/*
 * tools/bench/layout - the change log's layout: today's schema against
 * candidate layouts of the same content (client/bench/layout.c says
 * which). For each run and each layout, in turn (so a busy machine slows
 * them alike): N changes that each make a new patient record, a batch
 * per 1,000, written through the store's page encryption in one
 * transaction; 1,000 more five times in a fresh connection; the reads.
 * Prints one JSON line; per layout:
 *
 *   changes_per_s     the load of each run (today's: the encrypted floor)
 *   changes_per_s_median, load_s_median, index_s_median
 *   load_cpu_s_median the load's CPU time (user + system): on a machine
 *                     others share it moves less than the wall time
 *   vs_today          changes_per_s_median / today's
 *   append_1000_ms    median over runs of the median append of 1,000
 *   record_us, history_us, change_us, batch_us
 *                     medians of the reads: the changes of one record; a
 *                     record with its changes and their batches; one
 *                     change by id; one batch by id with its changes
 *   db_mb             the database after the load
 *
 * With --migrate, today's store is then moved to "rowref" in place (one
 * transaction) and read back: migrate_to_rowref_s.
 *
 * Options: --changes N (default 100000), --runs N (default 3), --layout
 * NAME (repeatable; default all), --migrate.
 */
#include "client/chartsync.h"
#include "client/bench/bench.h"
#include "workload.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYOUTS 16
#define MAX_RUNS 10

static void die(const char *what)
{
	fprintf(stderr, "layout: %s: %s\n", what, chs_error_last());
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: layout [--changes N] [--runs N] [--layout NAME]... [--migrate]\n");
	exit(1);
}

/* The median of the `field`s of n results (copied: bench_median sorts). */
static double med(const chs_bench_layout_result *r, int n, size_t field)
{
	double v[MAX_RUNS];
	int i;

	for (i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&r[i] + field, sizeof(double));
	return bench_median(v, (size_t)n);
}

#define MED(r, n, f) med(r, n, offsetof(chs_bench_layout_result, f))

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "changes", required_argument, NULL, 'n' },
		{ "runs", required_argument, NULL, 'r' },
		{ "layout", required_argument, NULL, 'l' },
		{ "migrate", no_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 }
	};
	static chs_bench_layout_result res[MAX_LAYOUTS][MAX_RUNS];
	const char *names[MAX_LAYOUTS];
	char dir[] = "/tmp/chs-bench-layout-XXXXXX";
	long changes = 100000, runs = 3;
	int nl = 0, i, r, c, migrate = 0;
	int64_t imported = 0;
	const char *what;
	double today = 0;
	chs_store *s;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end = NULL;
		long v = optarg ? strtol(optarg, &end, 10) : 0;

		if (c == 'm') {
			migrate = 1;
			continue;
		}
		if (c == 'l') {
			for (i = 0; chs_bench_layout_name(i); i++)
				if (strcmp(chs_bench_layout_name(i), optarg) == 0)
					break;
			if (!chs_bench_layout_name(i) || nl == MAX_LAYOUTS)
				usage();
			names[nl++] = chs_bench_layout_name(i);
			continue;
		}
		if (c == '?' || !end || *end || v < 1 || (c == 'r' && v > MAX_RUNS) ||
		    v > 100000000)
			usage();
		*(c == 'n' ? &changes : &runs) = v;
	}
	if (optind < argc)
		usage();
	if (!nl)
		for (; chs_bench_layout_name(nl) && nl < MAX_LAYOUTS; nl++)
			names[nl] = chs_bench_layout_name(nl);
	if (chs_crypto_init() < 0 || !mkdtemp(dir))
		die("setup");
	/* a few imported patients: the sizes of a change and a record */
	if (!(s = bench_store_imported(dir, 10, &imported, &what)))
		die(what);
	for (r = 0; r < runs; r++)
		for (i = 0; i < nl; i++)
			if (chs_bench_layout(s, dir, names[i], changes, migrate, &res[i][r]) < 0)
				die(names[i]);
	chs_store_free(s);
	{
		char cmd[sizeof(dir) + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "layout: could not remove %s\n", dir);
	}
	for (i = 0; i < nl; i++)
		if (strcmp(names[i], "today") == 0)
			today = MED(res[i], (int)runs, changes_per_s);
	printf("{\"bench\":\"layout\",\"changes\":%ld,\"runs\":%ld", changes, runs);
	for (i = 0; i < nl; i++) {
		const chs_bench_layout_result *x = res[i];
		double rate = MED(x, (int)runs, changes_per_s);

		printf(",\"%s\":{\"changes_per_s\":[", names[i]);
		for (r = 0; r < runs; r++)
			printf("%s%.0f", r ? "," : "", x[r].changes_per_s);
		printf("],\"changes_per_s_median\":%.0f,\"load_s_median\":%.3f,"
		       "\"index_s_median\":%.3f,\"load_cpu_s_median\":%.3f",
		       rate, MED(x, (int)runs, load_s), MED(x, (int)runs, index_s),
		       MED(x, (int)runs, load_cpu_s));
		if (today > 0)
			printf(",\"vs_today\":%.2f", rate / today);
		printf(",\"append_1000_ms\":%.1f,\"record_us\":%.1f,\"history_us\":%.1f,"
		       "\"change_us\":%.1f,\"batch_us\":%.0f,\"db_mb\":%.1f}",
		       MED(x, (int)runs, append_ms), MED(x, (int)runs, record_us),
		       MED(x, (int)runs, history_us), MED(x, (int)runs, change_us),
		       MED(x, (int)runs, batch_us), MED(x, (int)runs, db_mb));
		if (migrate && strcmp(names[i], "today") == 0)
			printf(",\"migrate_to_rowref_s\":%.3f", MED(x, (int)runs, migrate_s));
	}
	printf("}\n");
	return 0;
}
