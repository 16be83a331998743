/*
 * client/: convergence through real stores. Three encrypted stores make
 * random edits to shared charts (creates, field edits and clears, regimen
 * edits, removals, resolutions) while exchanging random subsets of their
 * signed batches in random orders, children often before their parents.
 * After a full exchange every store must hold the same state, byte for
 * byte (equal state hashes), and every record must equal a recomputation
 * from its history.
 *
 * CHS_CONVERGE_SEED replays a run; CHS_CONVERGE_ROUNDS scales it.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/records.h"
#include "support/org.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSTORES 3
#define MAXREC 64

static char *dirs[NSTORES];
static chs_store *st[NSTORES];
static unsigned long long rng;
static int resolved; /* reviews settled during the run */

static unsigned next_rand(void)
{
	/* xorshift64*: small, seeded, the same everywhere */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (unsigned)((rng * 2685821657736338717ULL) >> 33);
}

static unsigned pick(unsigned n)
{
	return next_rand() % n;
}

static void setup(void)
{
	int i;

	for (i = 0; i < NSTORES; i++) {
		char user[16], term[16];

		snprintf(user, sizeof(user), "tech%d", i);
		snprintf(term, sizeof(term), "site-%d", i);
		st[i] = tu_store_temp(user, term, &dirs[i]);
	}
}

static void teardown(void)
{
	int i;

	for (i = 0; i < NSTORES; i++) {
		chs_store_free(st[i]);
		tu_rmtree(dirs[i]);
		free(dirs[i]);
	}
}

/* Deliver store `from`'s batches to `to`: all, or a random subset, in a
 * shuffled order. Batches already held are no-ops. */
static void deliver(int from, int to, int all)
{
	chs_outgoing *out = NULL;
	size_t n = 0, i;

	ck_assert_int_eq(chs_store_unsent(st[from], &out, &n), 0);
	for (i = n; i > 1; i--) {
		size_t j = pick((unsigned)i);
		chs_outgoing t = out[i - 1];

		out[i - 1] = out[j];
		out[j] = t;
	}
	for (i = 0; i < n; i++)
		if (all || pick(3) == 0)
			ck_assert_msg(chs_store_apply_batch(st[to], out[i].bytes, out[i].len) == 0,
				      "%s", chs_error_last());
	chs_outgoing_free(out, n);
}

/* The records a store can see now (live or not), as ids. */
static size_t known(int s, char ids[][33], const char *type)
{
	char *json = NULL;
	json_t *arr, *r;
	size_t k, n = 0;

	ck_assert_int_eq(tu_list_json(st[s], type, NULL, &json), 0);
	arr = json_loads(json, 0, NULL);
	json_array_foreach(arr, k, r)
		if (n < MAXREC)
			snprintf(ids[n++], 33, "%s", json_string_value(json_object_get(r, "id")));
	json_decref(arr);
	free(json);
	return n;
}

/* An outcome the rules allow for an edit at a random moment. */
static void expect_ok_or_refused(int rc)
{
	ck_assert_msg(rc == 0 || rc == CHS_EREVIEW || rc == CHS_EINVALID ||
		      rc == CHS_EEXISTS || rc == CHS_ENOTFOUND,
		      "unexpected %d: %s", rc, chs_error_last());
}

static const char *const values[] = { "1", "2", "3" };

static int random_resolve(int s);

static void random_edit(int s, unsigned step)
{
	char pats[MAXREC][33], meds[MAXREC][33], id[33], mrn[32];
	size_t np = known(s, pats, "patient"), nm = known(s, meds, "medication");
	unsigned op = pick(10);

	if (np == 0 || op == 0) {
		chs_edit e[2] = { { "name", "P", 0, 0 }, { "mrn", mrn, 0, 0 } };

		snprintf(mrn, sizeof(mrn), "M-%d-%u", s, step);
		expect_ok_or_refused(chs_record_add(st[s], "patient", e, 2, NULL, NULL, id));
	} else if (op == 1) {
		chs_edit e[3] = { { "name", "drug", 0, 0 }, { "dose", values[pick(3)], 0, 0 },
				  { "unit", "mg", 0, 0 } };

		expect_ok_or_refused(chs_record_add(st[s], "medication", e, 3,
						    pats[pick((unsigned)np)], NULL, id));
	} else if (op <= 5) {
		static const char *const f[] = { "phone", "address", "payer" };
		chs_edit e = { f[pick(3)], values[pick(3)], 0, pick(4) == 0 };

		if (e.unset)
			e.value = NULL;
		expect_ok_or_refused(chs_record_set(st[s], pats[pick((unsigned)np)], &e, 1));
	} else if (op <= 7 && nm > 0) {
		static const char *const f[] = { "dose", "unit", "route", "frequency" };
		chs_edit e = { f[pick(4)], values[pick(3)], 0, 0 };

		expect_ok_or_refused(chs_record_set(st[s], meds[pick((unsigned)nm)], &e, 1));
	} else if (op == 8 && nm > 0) {
		expect_ok_or_refused(chs_record_rm(st[s], meds[pick((unsigned)nm)]));
	} else {
		random_resolve(s);
	}
}

static int random_resolve(int s)
{
	char *json = NULL, *rec = NULL;
	json_t *arr, *r;
	int rc = 0;

	ck_assert_int_eq(tu_review_json(st[s], &json), 0);
	arr = json_loads(json, 0, NULL);
	if (json_array_size(arr) > 0) {
		r = json_array_get(arr, pick((unsigned)json_array_size(arr)));
		rec = strdup(json_string_value(json_object_get(r, "id")));
	}
	json_decref(arr);
	free(json);
	if (!rec)
		return 0;
	if (pick(2)) {
		/* take one of the candidates, whichever field it is for */
		char *show = NULL;
		json_t *rj, *cands, *list;
		const char *field, *take = NULL;

		ck_assert_int_eq(tu_show_json(st[s], rec, &show), 0);
		rj = json_loads(show, 0, NULL);
		cands = json_object_get(rj, "candidates");
		json_object_foreach(cands, field, list)
			take = json_string_value(json_object_get(json_array_get(list, 0), "change"));
		if (!take && json_object_get(rj, "removal"))
			take = json_string_value(json_object_get(
				json_array_get(json_object_get(rj, "removal"), 0), "change"));
		if (take && (rc = chs_review_resolve(st[s], rec, NULL, 0, take)) == 0)
			resolved++;
		json_decref(rj);
		free(show);
	} else {
		/* keep every provisional value */
		chs_edit none[1];

		memset(none, 0, sizeof(none));
		rc = chs_review_resolve(st[s], rec, none, 0, NULL);
		ck_assert_int_eq(rc, CHS_EINVALID); /* nothing given: refused */
		rc = 0;
	}
	free(rec);
	expect_ok_or_refused(rc);
	return rc;
}

static void state_of(int s, char hash[65], int64_t *n)
{
	ck_assert_msg(chs_store_verify(st[s], 1, hash, n) == 0, "store %d: %s", s,
		      chs_error_last());
}

START_TEST(test_converge__stores_agree_after_random_edits_and_orders)
{
	const char *seed_env = getenv("CHS_CONVERGE_SEED");
	const char *rounds_env = getenv("CHS_CONVERGE_ROUNDS");
	unsigned long long seed = seed_env ? strtoull(seed_env, NULL, 10) : 20261125ULL;
	unsigned rounds = rounds_env ? (unsigned)strtoul(rounds_env, NULL, 10) : 600;
	char h0[65], h[65];
	int64_t n0, n, changes = 0;
	unsigned step;
	int a, b;

	rng = seed * 2654435761ULL + 1;
	fprintf(stderr, "converge: seed %llu, %u rounds\n", seed, rounds);
	for (step = 0; step < rounds; step++) {
		random_edit((int)pick(NSTORES), step);
		if (pick(8) == 0) {
			a = (int)pick(NSTORES);
			b = (a + 1 + (int)pick(NSTORES - 1)) % NSTORES;
			deliver(a, b, 0);
		}
	}
	/* full exchange, in random orders, twice (pending changes settle) */
	for (step = 0; step < 2; step++)
		for (a = 0; a < NSTORES; a++)
			for (b = 0; b < NSTORES; b++)
				if (a != b)
					deliver(a, b, 1);
	state_of(0, h0, &n0);
	for (a = 1; a < NSTORES; a++) {
		state_of(a, h, &n);
		ck_assert_msg(strcmp(h, h0) == 0 && n == n0,
			      "seed %llu: store %d differs (%lld vs %lld records)", seed, a,
			      (long long)n, (long long)n0);
	}
	for (a = 0; a < NSTORES; a++) {
		chs_status stt;

		ck_assert_int_eq(chs_store_status(st[a], &stt), 0);
		changes += stt.changes;
		chs_status_dispose(&stt);
	}
	ck_assert_int_ge(changes, 3 * 300); /* a real history, not a toy */
	ck_assert_msg(resolved > 0, "seed %llu: no conflict arose; the run tests little", seed);
}
END_TEST

/* Applying a batch builds a record new to the store from the batch's
 * changes in memory, and one with stored history from all of it. Both
 * must equal what the full merge computes from the stored history
 * (verify with full=1 recomputes every record), in any arrival order:
 * store 1 gets the edit before the records it edits (pending), store 2
 * in order, and each batch twice (nothing changes the second time). */
START_TEST(test_converge__applied_batches_equal_the_full_merge)
{
	static const char *const pid = "0123456789abcdef0123456789abcdef";
	char *path = tu_path(dirs[0], "charts.jsonl"), h[NSTORES][65], line[256];
	chs_edit e = { "phone", "555-0100", 0, 0 };
	chs_outgoing *out = NULL;
	chs_buf text;
	int64_t count = 0, n[NSTORES];
	size_t nout = 0, i;
	int k;

	chs_buf_init(&text, 0);
	snprintf(line, sizeof(line), "{\"type\":\"patient\",\"id\":\"%s\",\"fields\":"
		 "{\"name\":\"Ann Lee\",\"dob\":\"1970-01-02\",\"mrn\":\"C-1\"}}\n", pid);
	chs_buf_puts(&text, line);
	for (k = 0; k < 20; k++) {
		snprintf(line, sizeof(line), "{\"type\":\"%s\",\"patient\":\"%s\",\"fields\":"
			 "{\"%s\":\"visit %d, caf\\u00e9 \\\"quoted\\\"\",\"%s\":\"2026-11-%02d\"}}\n",
			 k % 2 ? "note" : "problem", pid, k % 2 ? "text" : "name", k,
			 k % 2 ? "date" : "onset", 1 + k);
		chs_buf_puts(&text, line);
	}
	ck_assert_int_eq(tu_write(path, text.ptr, text.len), 0);
	ck_assert_msg(chs_record_import(st[0], path, &count) == 0, "%s", chs_error_last());
	ck_assert_int_eq(count, 21);
	ck_assert_msg(chs_record_set(st[0], pid, &e, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_store_unsent(st[0], &out, &nout), 0);
	ck_assert_uint_eq(nout, 2); /* the import, then the edit */
	for (k = 0; k < 2; k++)
		for (i = 0; i < nout; i++) {
			size_t at = k ? nout - 1 - i : i; /* store 1: the edit first */

			ck_assert_msg(chs_store_apply_batch(st[1 + (k ? 0 : 1)], out[at].bytes,
							    out[at].len) == 0, "%s", chs_error_last());
			ck_assert_msg(chs_store_apply_batch(st[1 + (k ? 0 : 1)], out[at].bytes,
							    out[at].len) == 0, "%s", chs_error_last());
		}
	for (k = 0; k < NSTORES; k++)
		state_of(k, h[k], &n[k]);
	ck_assert_int_eq(n[0], 21);
	for (k = 1; k < NSTORES; k++) {
		ck_assert_str_eq(h[k], h[0]);
		ck_assert_int_eq(n[k], n[0]);
	}
	chs_outgoing_free(out, nout);
	chs_buf_dispose(&text);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client-converge");
	TCase *tc = tcase_create("converge");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_converge__stores_agree_after_random_edits_and_orders);
	tcase_add_test(tc, test_converge__applied_batches_equal_the_full_merge);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
