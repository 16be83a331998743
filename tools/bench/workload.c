/*
 * The benchmarks' shared workload: patients of about 400 bytes each, the
 * size the peer benchmarks use for a change.
 */
#include "workload.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), by_value);
	return v[n / 2];
}

char *bench_write_patients(const char *dir, const char *name, long first, long n)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	char *path = chs_malloc(len);
	FILE *f;
	long i;

	if (!path)
		return NULL;
	snprintf(path, len, "%s/%s", dir, name);
	if (!(f = fopen(path, "w"))) {
		free(path);
		return NULL;
	}
	for (i = first; i < first + n; i++)
		fprintf(f, "{\"type\":\"patient\",\"fields\":{\"name\":\"Patient %07ld Testperson\","
			   "\"dob\":\"19%02ld-%02ld-%02ld\",\"sex\":\"%s\",\"mrn\":\"MRN-%08ld\","
			   "\"phone\":\"555-%04ld\",\"address\":\"%ld Long Country Road, Apartment %ld,"
			   " Smallville, Some County, ST 0%04ld, United States of America\","
			   "\"payer\":\"Regional Health Cooperative Insurance Plan\","
			   "\"member_id\":\"RHC-%010ld-%04ld\"}}\n",
			i, 30 + i % 70, 1 + i % 12, 1 + i % 28, i % 2 ? "F" : "M", i, i % 10000,
			100 + i % 9000, i % 300, i % 10000, i * 7919, i % 9999);
	if (fclose(f) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

chs_store *bench_store_create(const char *dir)
{
	chs_store_create_opts o;
	chs_kdf_params kdf;
	chs_store *s = NULL;
	char *store;
	size_t len = strlen(dir) + sizeof("/store");

	if (!(store = chs_malloc(len)))
		return NULL;
	snprintf(store, len, "%s/store", dir);
	chs_kdf_params_minimum(&kdf);
	memset(&o, 0, sizeof(o));
	o.user = "bench";
	o.passphrase = "bench";
	o.passphrase_len = 5;
	o.kdf = &kdf;
	o.terminal = "bench";
	if (chs_store_create(&s, store, &o) < 0)
		s = NULL;
	free(store);
	return s;
}

chs_store *bench_store_imported(const char *dir, long n, int64_t *imported,
				const char **what)
{
	size_t len = strlen(dir) + sizeof("/store");
	chs_store *s = NULL;
	char *input, *store;

	*what = "cannot write the input";
	if (!(input = bench_write_patients(dir, "patients.jsonl", 0, n)))
		return NULL;
	*what = "import";
	if (!(s = bench_store_create(dir)) || chs_record_import(s, input, imported) < 0) {
		chs_store_free(s);
		s = NULL;
	}
	unlink(input);
	free(input);
	if (!s)
		return NULL;
	chs_store_free(s); /* checkpointed: every page in store.db */
	s = NULL;
	*what = "open";
	if (!(store = chs_malloc(len)))
		return NULL;
	snprintf(store, len, "%s/store", dir);
	if (chs_store_open(&s, store, "bench", "bench", 5) < 0)
		s = NULL;
	free(store);
	return s;
}

double bench_copy_s(const char *from, const char *to)
{
	static char buf[1 << 18];
	double t0 = bench_now_s();
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n = -1;
	int ok = in >= 0 && out >= 0;

	while (ok && (n = read(in, buf, sizeof(buf))) > 0)
		ok = write(out, buf, (size_t)n) == n;
	ok = ok && n == 0 && fsync(out) == 0;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	unlink(to);
	return ok ? bench_now_s() - t0 : -1;
}
