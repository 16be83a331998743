/*
 * tools/bench/workload.h - the inputs the benchmarks share.
 */
#ifndef CHS_BENCH_WORKLOAD_H
#define CHS_BENCH_WORKLOAD_H

/* Monotonic seconds. */
double bench_now_s(void);
/* Write `n` patient records of about 400 bytes of JSON each, as JSON
 * Lines for `chartsync import`, to DIR/NAME; numbered from `first` so
 * medical record numbers stay unique across calls. malloc'ed path, NULL
 * on failure. */
char *bench_write_patients(const char *dir, const char *name, long first, long n);

#endif
