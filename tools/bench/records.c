/*
 * tools/bench/records - the record figures (README, Benchmarks), measured
 * in one run on a fresh encrypted store. Prints one JSON line:
 *
 *   import_records_per_s  bulk import of N patient records (~400 bytes)
 *   add_median_ms         one interactive add: one durable, signed batch
 *   merge_1000_ms         chs_merge over 1,000 changes in 10 branches
 *   show_1000_ms          the same record loaded from the store, decoded,
 *                         merged and read into a chs_record (what `show`
 *                         costs before it prints)
 *   verify_s              the state hash over all N records
 *   plain_sqlite_floor_records_per_s
 *                         the rows that import wrote, written again by
 *                         SQLite alone into a plain database with the
 *                         store's schema (no encryption, encoding,
 *                         merging or signing): the ceiling for import
 *   encrypted_sqlite_floor_records_per_s
 *                         the same through the store's page encryption:
 *                         the ceiling for import into an encrypted store
 *
 * Targets: import >= 100,000/s, add < 5 ms, merge < 10 ms, verify < 1 s.
 */
#include "client/chartsync.h"
#include "client/bench/bench.h"
#include "client/records/views.h" /* the unaudited lookup, measured */
#include "sync/sync.h"
#include "workload.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "records: %s: %s\n", what, chs_error_last());
	exit(2);
}

static double median_add_ms(chs_store *s, int n)
{
	double *ms = chs_calloc((size_t)n, sizeof(*ms)), m;
	char id[33], name[32], mrn[32];
	int i;

	for (i = 0; i < n; i++) {
		chs_edit e[2] = { { "name", name, 0, 0 }, { "mrn", mrn, 0, 0 } };
		double t0;

		snprintf(name, sizeof(name), "Walk-in %d", i);
		snprintf(mrn, sizeof(mrn), "WALKIN-%d", i);
		t0 = bench_now_s();
		if (chs_record_add(s, "patient", e, 2, NULL, NULL, id) < 0)
			die("add");
		ms[i] = (bench_now_s() - t0) * 1000;
	}
	m = bench_median(ms, (size_t)n);
	free(ms);
	return m;
}

/* A create and 10 branches of updates, 1,000 changes in all. */
static chs_change **branches(const chs_identity *dev, const char *device, size_t *n)
{
	chs_change **all = chs_calloc(1000, sizeof(*all));
	unsigned char rec[16];
	chs_buf enc;
	size_t k = 0;
	int b, i;

	chs_random(rec, sizeof(rec));
	(void)dev;
	for (b = -1; b < 10; b++) {
		const chs_change *prev = all[0];

		for (i = 0; i < (b < 0 ? 1 : b == 9 ? 99 : 100) && k < 1000; i++) {
			chs_change *c;
			char val[40];

			if (chs_change_new(&c) < 0)
				die("change");
			memcpy(c->record, rec, 16);
			c->type = chs_strdup("patient");
			c->user = chs_strdup("bench");
			c->terminal = chs_strdup(b < 0 ? "t" : "branch");
			memcpy(c->device, device, 33);
			c->hlc = ((chs_hlc)(1700000000000ull + k) << 16);
			c->op = b < 0 ? CHS_OP_CREATE : CHS_OP_UPDATE;
			snprintf(val, sizeof(val), "\"value %d-%d\"", b, i);
			chs_change_set(c, b < 0 ? "name" : (b % 2 ? "phone" : "address"), val);
			if (b < 0)
				chs_change_set(c, "mrn", "\"BENCH-1\"");
			if (prev)
				chs_change_add_parent(c, prev->id);
			chs_buf_init(&enc, 0);
			if (chs_change_encode(c, &enc) < 0)
				die("encode");
			chs_buf_dispose(&enc);
			all[k++] = c;
			prev = c;
		}
	}
	*n = k;
	return all;
}

/* Seal the changes into batches and apply them to the store. */
static void apply_all(chs_store *s, const chs_identity *dev, chs_change **all, size_t n,
		      char rec_hex[33])
{
	unsigned char prev[32];
	size_t i;
	uint64_t seq = 1;

	chs_hex(rec_hex, all[0]->record, 16);
	for (i = 0; i < n; i += 100, seq++) {
		size_t m = n - i < 100 ? n - i : 100, j;
		chs_change **part = chs_calloc(m, sizeof(*part));
		chs_batch *b = NULL;
		chs_buf enc;

		for (j = 0; j < m; j++)
			if (chs_change_dup(&part[j], all[i + j]) < 0)
				die("dup");
		if (chs_batch_seal(&b, dev, seq, seq > 1 ? prev : NULL, part, m) < 0)
			die("seal");
		memcpy(prev, b->id, 32);
		chs_buf_init(&enc, 0);
		if (chs_batch_encode(b, &enc) < 0 || chs_store_apply_batch(s, enc.ptr, enc.len) < 0)
			die("apply");
		chs_buf_dispose(&enc);
		chs_batch_free(b);
	}
}

static void merge_figures(chs_store *s, double *merge_ms, double *show_ms)
{
	chs_identity *dev = NULL;
	chs_merged *m = NULL;
	chs_record *shown = NULL;
	chs_change **all;
	char device[33], rec[33];
	size_t n, i;
	double t0;
	int r;

	if (chs_identity_new(&dev) < 0)
		die("identity");
	chs_identity_device_id(dev, device);
	all = branches(dev, device, &n);
	*merge_ms = 1e9;
	for (r = 0; r < 5; r++) {
		t0 = bench_now_s();
		if (chs_merge(&m, (const chs_change *const *)all, n, NULL, NULL) < 0)
			die("merge");
		if ((bench_now_s() - t0) * 1000 < *merge_ms)
			*merge_ms = (bench_now_s() - t0) * 1000;
		chs_merged_free(m);
	}
	apply_all(s, dev, all, n, rec);
	*show_ms = 1e9;
	for (r = 0; r < 5; r++) {
		t0 = bench_now_s();
		if (chs_record_lookup(&shown, s, rec) < 0)
			die("show");
		if ((bench_now_s() - t0) * 1000 < *show_ms)
			*show_ms = (bench_now_s() - t0) * 1000;
		chs_record_free(shown);
	}
	for (i = 0; i < n; i++)
		chs_change_free(all[i]);
	free(all);
	chs_identity_free(dev);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "adds", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	long records = 100000, adds = 100;
	char dir[] = "/tmp/chs-bench-records-XXXXXX", hash[65], *input;
	chs_store *s = NULL;
	double t0, import_s, add_ms, merge_ms, show_ms, verify_s, floor_rps = 0, enc_rps = 0;
	int64_t imported = 0, nrec = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		long v = optarg ? strtol(optarg, NULL, 10) : 0;

		if (c == '?' || v < 1) {
			fprintf(stderr, "usage: records [--records N] [--adds N]\n");
			return 1;
		}
		*(c == 'n' ? &records : &adds) = v;
	}
	if (chs_crypto_init() < 0 || !mkdtemp(dir))
		die("setup");
	if (!(input = bench_write_patients(dir, "patients.jsonl", 0, records)))
		die("cannot write the input");
	if (!(s = bench_store_create(dir)))
		die("create");
	t0 = bench_now_s();
	if (chs_record_import(s, input, &imported) < 0)
		die("import");
	import_s = bench_now_s() - t0;
	if (chs_bench_import_floor(s, dir, (long)imported, 0, &floor_rps) < 0 ||
	    chs_bench_import_floor(s, dir, (long)imported, 1, &enc_rps) < 0)
		die("import floor");
	add_ms = median_add_ms(s, (int)adds);
	merge_figures(s, &merge_ms, &show_ms);
	t0 = bench_now_s();
	if (chs_store_verify(s, 0, hash, &nrec) < 0)
		die("verify");
	verify_s = bench_now_s() - t0;
	chs_store_free(s);
	unlink(input);
	free(input);
	{
		char cmd[sizeof(dir) + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "records: could not remove %s\n", dir);
	}
	printf("{\"bench\":\"records\",\"records\":%lld,\"import_records_per_s\":%.0f,"
	       "\"import_s\":%.3f,\"add_median_ms\":%.3f,\"merge_1000_ms\":%.3f,"
	       "\"show_1000_ms\":%.3f,\"verify_s\":%.3f,\"verify_records\":%lld,"
	       "\"plain_sqlite_floor_records_per_s\":%.0f,"
	       "\"encrypted_sqlite_floor_records_per_s\":%.0f}\n",
	       (long long)imported, imported / import_s, import_s, add_ms, merge_ms,
	       show_ms, verify_s, (long long)nrec, floor_rps, enc_rps);
	return 0;
}
