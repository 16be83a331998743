/*
 * tools/bench/backup - `chartsync backup` and `chartsync restore` of a
 * store with N changes (N patient records imported; default 1,000,000).
 *
 * Prints one JSON line: the seconds each took and its speed in MB of the
 * store per second, the store's size and the backup's, their quotient
 * `copy_ratio` (a backup costs about the store's size: near 1), and the
 * number of changes; beside them its reference, `copy_s`, a plain copy of
 * the database file with an fsync (the floor for anything that writes
 * every page), and each command's time against it (`backup_ratio`,
 * `restore_ratio`).
 */
#include "client/chartsync.h"
#include "workload.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "backup: %s: %s\n", what, chs_error_last());
	exit(2);
}

static double file_mb(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (double)sb.st_size / 1e6 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "changes", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	char tmpl[] = "/tmp/chs-bench-XXXXXX", store[512], db[600], dest[512], restored[512];
	char slots[600], cmd[1600];
	const char *tmp = getenv("CHARTSYNC_BENCH_DIR");
	long changes = 1000000;
	chs_backup_result r;
	chs_store *s = NULL;
	int64_t imported = 0;
	double t0, backup_s, restore_s, store_mb, copy_s;
	char copy[620];
	char *d, *end;
	const char *what;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'c')
			changes = strtol(optarg, &end, 10);
		if (c != 'c' || *optarg == '\0' || *end != '\0' || changes < 1 ||
		    changes > 100000000) {
			fprintf(stderr, "usage: backup [--changes N]\n");
			return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: backup [--changes N]\n");
		return 1;
	}
	if (tmp && *tmp) {
		snprintf(tmpl, sizeof(tmpl), "%s", "");
		d = (char *)tmp;
	} else if (!(d = mkdtemp(tmpl))) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(store, sizeof(store), "%s/store", d);
	snprintf(db, sizeof(db), "%s/store.db", store);
	snprintf(slots, sizeof(slots), "%s/keyslots", store);
	snprintf(dest, sizeof(dest), "%s/backups", d);
	snprintf(restored, sizeof(restored), "%s/restored", d);
	if (!(s = bench_store_imported(d, changes, &imported, &what)))
		die(what);
	store_mb = file_mb(db) + file_mb(slots);
	/* the reference: a plain copy of the database file, fsynced */
	snprintf(copy, sizeof(copy), "%s/copy.db", d);
	if ((copy_s = bench_copy_s(db, copy)) < 0)
		die("copy");

	t0 = bench_now_s();
	if (chs_store_backup(s, dest, NULL, &r) < 0)
		die("backup");
	backup_s = bench_now_s() - t0;
	chs_store_free(s);

	t0 = bench_now_s();
	if (chs_store_restore(r.path, restored, "bench", "bench", 5, NULL) < 0)
		die("restore");
	restore_s = bench_now_s() - t0;

	printf("{\"bench\":\"backup\",\"changes\":%lld,\"store_mb\":%.1f,\"copy_mb\":%.1f,"
	       "\"copy_ratio\":%.3f,\"backup_s\":%.3f,\"backup_mb_s\":%.1f,"
	       "\"restore_s\":%.3f,\"restore_mb_s\":%.1f,\"copy_s\":%.3f,"
	       "\"backup_ratio\":%.2f,\"restore_ratio\":%.2f}\n",
	       (long long)imported, store_mb, (double)r.bytes / 1e6,
	       store_mb > 0 ? (double)r.bytes / 1e6 / store_mb : 0, backup_s,
	       backup_s > 0 ? store_mb / backup_s : 0, restore_s,
	       restore_s > 0 ? store_mb / restore_s : 0, copy_s,
	       copy_s > 0 ? backup_s / copy_s : 0, copy_s > 0 ? restore_s / copy_s : 0);
	chs_backup_result_dispose(&r);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", store, dest, restored);
	if (system(cmd) != 0)
		return 2;
	if (*tmpl)
		rmdir(tmpl);
	return 0;
}
