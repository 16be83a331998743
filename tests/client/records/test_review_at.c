/*
 * client/records: settling a record under review only while its heads
 * are the ones a person saw (chs_review_resolve_at), as the desk signs
 * what it previewed: a record settled or edited meanwhile is left as it
 * is.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <stdlib.h>
#include <string.h>

static char *dirs[2];
static chs_store *site[2];
static char patient[33];

/* Carry every unsent batch of `from` to `to`. */
static void ship(int from, int to)
{
	chs_outgoing *out = NULL;
	size_t n = 0, i;

	ck_assert_int_eq(chs_store_unsent(site[from], &out, &n), 0);
	for (i = 0; i < n; i++)
		ck_assert_msg(chs_store_apply_batch(site[to], out[i].bytes, out[i].len) == 0,
			      "%s", chs_error_last());
	chs_outgoing_free(out, n);
}

/* A patient whose phone the two sites set two ways: under review at both. */
static void setup(void)
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1") };
	chs_edit a[] = { tu_edit("phone", "555-0100") };
	chs_edit b[] = { tu_edit("phone", "555-0199") };

	ck_assert_int_eq(chs_crypto_init(), 0);
	site[0] = tu_store_temp("ann", "archive-desk", &dirs[0]);
	site[1] = tu_store_temp("bo", "clinic-b-1", &dirs[1]);
	ck_assert_int_eq(chs_record_add(site[0], "patient", p, 2, NULL, NULL, patient), 0);
	ship(0, 1);
	ck_assert_int_eq(chs_record_set(site[0], patient, a, 1), 0);
	ck_assert_int_eq(chs_record_set(site[1], patient, b, 1), 0);
	ship(0, 1);
	ship(1, 0);
}

static void teardown(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		chs_store_free(site[i]);
		tu_rmtree(dirs[i]);
		free(dirs[i]);
	}
}

/* The record's heads as the desk carries them, and whether it is under
 * review. */
static int heads_now(int at, char *out, size_t len)
{
	chs_record *r = NULL;
	size_t i, o = 0;
	int review;

	ck_assert_int_eq(chs_record_lookup(&r, site[at], patient), 0);
	out[0] = '\0';
	for (i = 0; i < chs_record_head_count(r); i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "",
				      chs_record_head(r, i));
	review = chs_record_under_review(r);
	chs_record_free(r);
	return review;
}

START_TEST(test_review_at__settles_while_the_heads_are_those_read)
{
	chs_edit v[] = { tu_edit("phone", "555-0142") };
	char heads[200];

	ck_assert_int_eq(heads_now(0, heads, sizeof(heads)), 1);
	ck_assert_msg(chs_review_resolve_at(site[0], patient, heads, v, 1, NULL) == 0, "%s",
		      chs_error_last());
	ck_assert_int_eq(heads_now(0, heads, sizeof(heads)), 0);
}
END_TEST

START_TEST(test_review_at__a_record_settled_meanwhile_is_left_as_it_is)
{
	chs_edit mine[] = { tu_edit("phone", "555-0142") };
	chs_edit theirs[] = { tu_edit("phone", "555-0177") };
	char seen[200], now[200], before[65], after[65];
	int64_t records, unsent0, unsent1;

	ck_assert_int_eq(heads_now(0, seen, sizeof(seen)), 1);
	/* another archivist settles it at the other site; it arrives here */
	ck_assert_int_eq(chs_review_resolve(site[1], patient, theirs, 1, NULL), 0);
	ship(1, 0);
	ck_assert_int_eq(heads_now(0, now, sizeof(now)), 0);
	ck_assert_str_ne(seen, now);

	ck_assert_int_eq(chs_store_verify(site[0], 0, before, &records), 0);
	ck_assert_int_eq(chs_store_unsent_count(site[0], &unsent0), 0);
	ck_assert_int_eq(chs_review_resolve_at(site[0], patient, seen, mine, 1, NULL),
			 CHS_EEXISTS);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "changed since it was read"));
	ck_assert_int_eq(chs_store_verify(site[0], 0, after, &records), 0);
	ck_assert_int_eq(chs_store_unsent_count(site[0], &unsent1), 0);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(unsent0, unsent1);
	/* heads that are no list of ids at all are refused the same way */
	ck_assert_int_eq(chs_review_resolve_at(site[0], patient, "", mine, 1, NULL),
			 CHS_EEXISTS);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("client_records_review_at");
	TCase *tc = tcase_create("review_at");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_review_at__settles_while_the_heads_are_those_read);
	tcase_add_test(tc, test_review_at__a_record_settled_meanwhile_is_left_as_it_is);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
