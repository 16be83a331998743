/*
 * tools/bench/store - the encrypted store against plain SQLite.
 *
 * Prints one JSON line: rows/s for ROWS inserts of 400-byte rows in one
 * transaction, encrypted and plain, their quotient `ratio` (target: at
 * least 0.6), and the median latency of a durable one-row transaction.
 *
 * With --rekey N: a store of N changes (N patient records imported), then
 * one JSON line with the time `chartsync rekey` takes on it beside a plain
 * copy of its database file (read, write, fsync): the floor for any
 * rekey that re-encrypts every page, and `ratio` = rekey / copy.
 */
#include "client/chartsync.h"
#include "client/bench/bench.h"
#include "workload.h"

#include <fcntl.h>
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

static void die(const char *what)
{
	fprintf(stderr, "store: %s: %s\n", what, chs_error_last());
	exit(2);
}

static int bench_rekey(const char *dir, long changes)
{
	char store[512], db[600], copy[600];
	chs_rekey_result r;
	chs_store *s = NULL;
	int64_t imported = 0;
	double t0, rekey, reference;
	long size;
	const char *what;

	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(db, sizeof(db), "%s/store.db", store);
	snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	if (!(s = bench_store_imported(dir, changes, &imported, &what)))
		die(what);
	{
		FILE *f = fopen(db, "rb");

		if (!f || fseek(f, 0, SEEK_END) < 0)
			die("size");
		size = ftell(f);
		fclose(f);
	}
	if ((reference = bench_copy_s(db, copy)) < 0)
		die("copy");
	t0 = bench_now_s();
	if (chs_store_rekey(s, &r) < 0)
		die("rekey");
	rekey = bench_now_s() - t0;
	chs_rekey_result_dispose(&r);
	chs_store_free(s);
	printf("{\"bench\":\"store_rekey\",\"changes\":%lld,\"store_bytes\":%ld,"
	       "\"rekey_s\":%.3f,\"copy_s\":%.3f,\"ratio\":%.2f}\n",
	       (long long)imported, size, rekey, reference,
	       reference > 0 ? rekey / reference : 0);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store);
		if (system(cmd) != 0)
			return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rows", required_argument, NULL, 'r' },
		{ "commits", required_argument, NULL, 'c' },
		{ "row-bytes", required_argument, NULL, 'b' },
		{ "rekey", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	int rows = 100000, commits = 200, row_bytes = 400, rekey = 0, c;
	char dir[] = "/tmp/chs-bench-XXXXXX";
	const char *tmp = getenv("CHARTSYNC_BENCH_DIR");
	chs_bench_store_result r;
	char *d;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int *slot = c == 'r' ? &rows : c == 'c' ? &commits : c == 'k' ? &rekey : &row_bytes;

		if (c == '?' || positive(optarg, slot) < 0) {
			fprintf(stderr, "usage: store [--rows N] [--commits N] [--row-bytes N]\n"
					"       store --rekey CHANGES\n");
			return 1;
		}
	}
	d = tmp && *tmp ? (char *)tmp : mkdtemp(dir);
	if (!d) {
		perror("mkdtemp");
		return 2;
	}
	if (rekey) {
		int rc = bench_rekey(d, rekey);

		if (d == dir)
			rmdir(dir);
		return rc;
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
