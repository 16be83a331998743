/*
 * tools/bench/workload.h - the inputs the benchmarks share.
 */
#ifndef CHS_BENCH_WORKLOAD_H
#define CHS_BENCH_WORKLOAD_H

#include <stddef.h>

#include "client/chartsync.h"

/* Monotonic seconds. */
double bench_now_s(void);
/* The reference for anything that rewrites every page of a file: copy
 * `from` to `to` in 256 KiB reads and writes, fsync, remove the copy;
 * the seconds it took, or -1 when it could not. */
double bench_copy_s(const char *from, const char *to);
/* The median of `n` (> 0) values; sorts them. */
double bench_median(double *v, size_t n);
/* Write `n` patient records of about 400 bytes of JSON each, as JSON
 * Lines for `chartsync import`, to DIR/NAME; numbered from `first` so
 * medical record numbers stay unique across calls. malloc'ed path, NULL
 * on failure. */
char *bench_write_patients(const char *dir, const char *name, long first, long n);
/* Create the store DIR/store, user and passphrase "bench" with the
 * fastest key derivation; NULL (the error set) on failure. */
chs_store *bench_store_create(const char *dir);
/* bench_store_create() holding `n` imported patients, closed (so every
 * page is checkpointed into store.db) and opened again; `*imported` the
 * changes imported. NULL (the error set, `*what` the step) on failure. */
chs_store *bench_store_imported(const char *dir, long n, int64_t *imported,
				const char **what);

#endif
