/*
 * client/bench/bench.h - measurement hooks for tools/bench only (not
 * part of the library's API: no command links them).
 */
#ifndef CHS_CLIENT_BENCH_BENCH_H
#define CHS_CLIENT_BENCH_BENCH_H

#include "client/store/store.h"

/* ---------------------------------------------------------------------
 * Measurement, for tools/bench/store: the encrypted VFS against plain
 * SQLite, both with the store's own settings (4096-byte pages, WAL,
 * synchronous=FULL), in databases created inside `dir`.
 */
typedef struct chs_bench_store_result {
	double encrypted_rows_per_s; /* `rows` inserts in one transaction */
	double plain_rows_per_s;
	double encrypted_commit_ms;  /* median of `commits` one-row commits */
	double plain_commit_ms;
} chs_bench_store_result;

int chs_bench_store(const char *dir, int rows, int row_bytes, int commits,
		    chs_bench_store_result *out);

/* What storing `records` records costs SQLite alone: the rows an import
 * or a pull writes for each (its change, its record, a batch per 1,000),
 * with the sizes of the first change and record in `s`, into a database
 * with the store's own schema and settings, in one transaction, committed
 * and checkpointed. Plain, or with `encrypted` through the store's page
 * encryption (under a throwaway key). No encoding, hashing, verifying,
 * merging or signing: the ceiling an import or a pull can approach. */
int chs_bench_import_floor(chs_store *s, const char *dir, long records, int encrypted,
			   double *records_per_s);

/* The change log's layout (client/bench/layout.c, tools/bench/layout):
 * `changes` changes that each make a new record, a batch per 1,000, with
 * the sizes of the first change and record in `s`, written through the
 * store's page encryption under layout `name` (chs_bench_layout_name(0)
 * is today's schema, as chs_bench_import_floor writes it); then 1,000
 * more, five times, each in a fresh connection; then the reads; with
 * `migrate_today`, today's layout is then moved to "rowref" in place. */
typedef struct chs_bench_layout_result {
	double changes_per_s; /* the load: all rows in one transaction, late
			       * indexes built, committed, checkpointed */
	double load_s;
	double load_cpu_s;    /* the CPU time (user + system) the load took */
	double index_s;       /* of load_s: building the late indexes */
	double append_ms;     /* median of the five appends of 1,000, each
			       * durable and checkpointed */
	double record_us;     /* medians: the changes of one record */
	double history_us;    /* a record, its changes, their batches */
	double change_us;     /* one change by id */
	double batch_us;      /* one batch by id with its 1,000 changes */
	double db_mb;         /* the database after the load */
	double migrate_s;     /* today's only, when asked: moving the loaded
			       * store to "rowref" in place, one transaction */
} chs_bench_layout_result;

/* The i-th layout's name; NULL past the last. */
const char *chs_bench_layout_name(int i);
int chs_bench_layout(chs_store *s, const char *dir, const char *name, long changes,
		     int migrate_today, chs_bench_layout_result *out);

#endif /* CHS_CLIENT_BENCH_BENCH_H */
