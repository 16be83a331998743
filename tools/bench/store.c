/*
 * tools/bench/store - the encrypted store against plain SQLite.
 *
 * Prints one JSON line: rows/s for ROWS inserts of 400-byte rows in one
 * transaction, encrypted and plain, their quotient `ratio` (target: at
 * least 0.6), and the median latency of a durable one-row transaction.
 */
#include "client/chartsync.h"
#include "client/bench/bench.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int positive(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 100000000)
		return -1;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rows", required_argument, NULL, 'r' },
		{ "commits", required_argument, NULL, 'c' },
		{ "row-bytes", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	int rows = 100000, commits = 200, row_bytes = 400, c;
	char dir[] = "/tmp/chs-bench-XXXXXX";
	const char *tmp = getenv("CHARTSYNC_BENCH_DIR");
	chs_bench_store_result r;
	char *d;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int *slot = c == 'r' ? &rows : c == 'c' ? &commits : &row_bytes;

		if (c == '?' || positive(optarg, slot) < 0) {
			fprintf(stderr, "usage: store [--rows N] [--commits N] [--row-bytes N]\n");
			return 1;
		}
	}
	d = tmp && *tmp ? (char *)tmp : mkdtemp(dir);
	if (!d) {
		perror("mkdtemp");
		return 2;
	}
	if (chs_bench_store(d, rows, row_bytes, commits, &r) < 0) {
		fprintf(stderr, "store: %s\n", chs_error_last());
		if (d == dir)
			rmdir(dir);
		return 2;
	}
	if (d == dir)
		rmdir(dir);
	printf("{\"bench\":\"store\",\"rows\":%d,\"row_bytes\":%d,"
	       "\"encrypted_rows_per_s\":%.0f,\"plain_rows_per_s\":%.0f,"
	       "\"ratio\":%.3f,\"commits\":%d,"
	       "\"encrypted_commit_median_ms\":%.3f,\"plain_commit_median_ms\":%.3f,"
	       "\"commit_ratio\":%.3f}\n",
	       rows, row_bytes, r.encrypted_rows_per_s, r.plain_rows_per_s,
	       r.plain_rows_per_s > 0 ? r.encrypted_rows_per_s / r.plain_rows_per_s : 0,
	       commits, r.encrypted_commit_ms, r.plain_commit_ms,
	       r.plain_commit_ms > 0 ? r.encrypted_commit_ms / r.plain_commit_ms : 0);
	return 0;
}
