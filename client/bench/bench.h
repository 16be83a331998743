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

#endif /* CHS_CLIENT_BENCH_BENCH_H */
