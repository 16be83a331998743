/*
 * tools/bench/desk_setup - the store tools/bench/desk serves: DIR/store
 * (user and passphrase "bench") holding
 *   - N patients under review: imported there, shipped to a second store
 *     (DIR/other/store, also "bench") as batches, then each patient's
 *     phone set at both stores and the second store's changes shipped
 *     back, so every one has two concurrent phones;
 *   - one more patient with M changes (its phone set M - 1 times).
 * Batches go from store to store with chs_store_unsent() and
 * chs_store_apply_batch(), as sync would carry them, without git: a sync
 * through an archive of 2N changes would only make the setup slower.
 * Prints "REVIEW_ID HISTORY_ID": a record under review and the one with
 * the long history.
 * usage: desk_setup DIR N M
 */
#include "client/chartsync.h"
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what)
{
	fprintf(stderr, "desk_setup: %s: %s\n", what, chs_error_last());
	exit(2);
}

/* Every unsent batch of `from` applied to `to`, marked sent at `from`. */
static void ship(chs_store *from, chs_store *to)
{
	chs_outgoing *out = NULL;
	size_t n = 0, i;

	if (chs_store_unsent(from, &out, &n) < 0)
		die("unsent batches");
	for (i = 0; i < n; i++)
		if (chs_store_apply_batch(to, out[i].bytes, out[i].len) < 0 ||
		    chs_store_mark_sent(from, out[i].id) < 0)
			die("apply a batch");
	chs_outgoing_free(out, n);
}

static void set_phone(chs_store *s, const char *id, const char *fmt, long i)
{
	char phone[32];
	chs_edit e = { "phone", phone, 0, 0 };

	snprintf(phone, sizeof(phone), fmt, i);
	if (chs_record_set(s, id, &e, 1) < 0)
		die("set a phone");
}

int main(int argc, char **argv)
{
	chs_edit pat[] = { { "name", "Long History", 0, 0 }, { "mrn", "HIST-1", 0, 0 },
			   { "dob", "1950-06-01", 0, 0 } };
	chs_record_list *l = NULL;
	chs_store *a, *b;
	char other[4096], *input, hist[33];
	int64_t count = 0;
	long n, m, i;
	size_t k;

	if (argc != 4 || (n = atol(argv[2])) < 1 || (m = atol(argv[3])) < 1) {
		fprintf(stderr, "usage: desk_setup DIR RECORDS CHANGES\n");
		return 1;
	}
	snprintf(other, sizeof(other), "%s/other", argv[1]);
	if (chs_crypto_init() < 0 || !(a = bench_store_create(argv[1])) ||
	    !(b = bench_store_create(other)))
		die("create the stores");
	if (!(input = bench_write_patients(argv[1], "patients.jsonl", 0, n)) ||
	    chs_record_import(a, input, &count) < 0 || count != n)
		die("import");
	remove(input);
	free(input);
	ship(a, b);
	if (chs_access_list(&l, a, "patient", NULL) < 0 || chs_record_list_count(l) != (size_t)n)
		die("list the patients");
	for (k = 0; k < chs_record_list_count(l); k++) {
		const char *id = chs_record_id(chs_record_list_get(l, k));

		set_phone(a, id, "555-1%06ld", (long)k);
		set_phone(b, id, "555-2%06ld", (long)k);
	}
	ship(b, a);
	if (chs_record_add(a, "patient", pat, 3, NULL, NULL, hist) < 0)
		die("add the long history's patient");
	for (i = 1; i < m; i++)
		set_phone(a, hist, "555-3%06ld", i);
	printf("%s %s\n", chs_record_id(chs_record_list_get(l, 0)), hist);
	chs_record_list_free(l);
	chs_store_free(b);
	chs_store_free(a);
	return 0;
}
