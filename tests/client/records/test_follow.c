/*
 * client/records and client/audit: a patient merged into another (a
 * tombstone) is looked up as the patient whose chart it is now, by
 * chs_record_follow() and by every lookup of a person (show, ls, open, a
 * new record's patient). Tombstones are made by hand here
 * (tests/support/merge.h), as a merge leaves them.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/merge.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static chs_store *s;
static char keep[33], other[33], visit[33];

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	s = tu_store_temp("maria", "front-desk", &dir);
	tu_two_clinics_merged(s, keep, other, visit);
}

static void teardown(void)
{
	chs_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

static void patient(const char *name, const char *mrn, char id[33])
{
	chs_edit e[] = { tu_edit("name", name), tu_edit("mrn", mrn) };

	ck_assert_msg(chs_record_add(s, "patient", e, 2, NULL, NULL, id) == 0, "%s",
		      chs_error_last());
}

static void follows(const char *id, const char *want, const char *want_from)
{
	char to[33], from[33];

	ck_assert_msg(chs_record_follow(s, id, to, from) == 0, "%s", chs_error_last());
	ck_assert_str_eq(to, want);
	ck_assert_str_eq(from, want_from);
}

/* The record's `patient` link, as stored. */
static const char *patient_of(json_t *rec)
{
	return json_string_value(json_object_get(json_object_get(rec, "fields"), "patient"));
}

START_TEST(test_follow__a_merged_patient_by_id_or_prefix_lands_on_the_kept_one)
{
	char prefix[9];

	follows(other, keep, other);
	snprintf(prefix, sizeof(prefix), "%.8s", other);
	follows(prefix, keep, other);
	/* the kept patient, and what is no patient, stay where they are */
	follows(keep, keep, "");
	follows(visit, visit, "");
	ck_assert_int_eq(chs_record_follow(s, "ffffffffffff", keep, NULL), CHS_ENOTFOUND);
}
END_TEST

/* A merged patient's record is the merge's pointer: removing it would
 * cut the merge without undoing it, so it is refused, and it still leads
 * to the kept chart. */
START_TEST(test_follow__a_merged_patient_is_not_removed)
{
	ck_assert_int_eq(chs_record_rm(s, other), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "patient unmerge"), "%s", chs_error_last());
	follows(other, keep, other);
}
END_TEST

START_TEST(test_follow__a_merge_of_a_merge_is_followed_to_its_end)
{
	char a[33], b[33], c[33];

	patient("Ann Chain", "C-1", a);
	patient("Ann Chain", "C-2", b);
	patient("Ann Chain", "C-3", c);
	tu_merge_by_hand(s, b, a);
	tu_merge_by_hand(s, c, b);
	follows(a, c, a);
	follows(b, c, b);
	follows(c, c, "");
}
END_TEST

START_TEST(test_follow__merges_in_a_ring_stop_before_it_closes)
{
	char a[33], b[33];

	/* two archivists merged the pair two ways, not settled yet */
	patient("Ring One", "R-1", a);
	patient("Ring One", "R-2", b);
	tu_merge_by_hand(s, b, a);
	tu_merge_by_hand(s, a, b);
	follows(a, b, a);
	follows(b, a, b);
}
END_TEST

START_TEST(test_follow__show_of_a_merged_patient_shows_and_records_the_kept_one)
{
	chs_record_list *events = NULL;
	chs_record *r = NULL;
	const chs_record *ev;
	char *rec;

	ck_assert_msg(chs_access_show(&r, s, other) == 0, "%s", chs_error_last());
	ck_assert_str_eq(chs_record_id(r), keep);
	ck_assert_str_eq(chs_record_field(r, "name"), "\"John Smith\"");
	chs_record_free(r);
	/* the access event names what was shown */
	ck_assert_int_eq(chs_record_query(&events, s, "audit", NULL), 0);
	ck_assert_uint_eq(chs_record_list_count(events), 1);
	ev = chs_record_list_get(events, 0);
	ck_assert_ptr_nonnull(rec = strstr(chs_record_field(ev, "record"), keep));
	ck_assert_ptr_nonnull(strstr(chs_record_field(ev, "patient"), keep));
	chs_record_list_free(events);
}
END_TEST

START_TEST(test_follow__review_shows_the_merged_patient_itself)
{
	chs_record *r = NULL;

	/* its own fields may be under review: review looks at it, not past it */
	ck_assert_msg(chs_access_show_exact(&r, s, other) == 0, "%s", chs_error_last());
	ck_assert_str_eq(chs_record_id(r), other);
	ck_assert_ptr_nonnull(strstr(chs_record_field(r, "merged_into"), keep));
	chs_record_free(r);
}
END_TEST

START_TEST(test_follow__listing_a_merged_patient_lists_the_kept_chart)
{
	chs_record_list *l = NULL;
	size_t i, visits = 0, notes = 0, patients = 0;

	ck_assert_msg(chs_access_list(&l, s, NULL, other) == 0, "%s", chs_error_last());
	for (i = 0; i < chs_record_list_count(l); i++) {
		const chs_record *r = chs_record_list_get(l, i);

		visits += strcmp(chs_record_type(r), "encounter") == 0;
		notes += strcmp(chs_record_type(r), "note") == 0;
		if (strcmp(chs_record_type(r), "patient") == 0) {
			patients++;
			ck_assert_str_eq(chs_record_id(r), keep);
		}
	}
	ck_assert_uint_eq(patients, 1);
	ck_assert_uint_eq(visits, 1);
	ck_assert_uint_eq(notes, 1);
	chs_record_list_free(l);
	/* what waits for a colleague's check, the same */
	ck_assert_msg(chs_record_list_unconfirmed(&l, s, other) == 0, "%s", chs_error_last());
	for (i = 0, visits = 0; i < chs_record_list_count(l); i++) {
		ck_assert_str_ne(chs_record_id(chs_record_list_get(l, i)), other);
		visits += strcmp(chs_record_id(chs_record_list_get(l, i)), visit) == 0;
	}
	ck_assert_uint_eq(visits, 1);
	chs_record_list_free(l);
}
END_TEST

START_TEST(test_follow__opening_a_merged_patient_opens_the_kept_chart)
{
	chs_access *a = NULL;
	char *text = NULL;

	ck_assert_msg(chs_chart_open(s, other, &text, &a) == 0, "%s", chs_error_last());
	ck_assert_ptr_nonnull(strstr(text, "John Smith"));
	ck_assert_ptr_nonnull(strstr(text, "chest clear"));
	ck_assert_ptr_null(strstr(text, "Jon Smith"));
	ck_assert_int_eq(chs_access_close(s, a), 0);
	free(text);
}
END_TEST

START_TEST(test_follow__the_log_of_a_merged_patient_is_its_own_and_shows_the_merge)
{
	const chs_history_entry *last;
	chs_history *h = NULL;
	size_t i;
	int pointer = 0;

	ck_assert_msg(chs_access_log(&h, s, other) == 0, "%s", chs_error_last());
	last = chs_history_get(h, chs_history_count(h) - 1);
	for (i = 0; i < last->nset; i++)
		pointer |= strcmp(last->set[i].name, "merged_into") == 0 &&
			   strstr(last->set[i].value, keep) != NULL;
	ck_assert_int_eq(pointer, 1);
	chs_history_free(h);
}
END_TEST

START_TEST(test_follow__a_new_record_for_a_merged_patient_goes_on_the_kept_one)
{
	chs_edit al[] = { tu_edit("substance", "penicillin") };
	char id[33], path[4096], *file;
	json_t *r;

	ck_assert_msg(chs_record_add(s, "allergy", al, 1, other, NULL, id) == 0, "%s",
		      chs_error_last());
	r = tu_show(s, id);
	ck_assert_str_eq(patient_of(r), keep);
	json_decref(r);
	/* with a prefix, and an attachment */
	snprintf(path, sizeof(path), "%.8s", other);
	ck_assert_msg(chs_record_add(s, "allergy", al, 1, path, NULL, id) == 0, "%s",
		      chs_error_last());
	r = tu_show(s, id);
	ck_assert_str_eq(patient_of(r), keep);
	json_decref(r);
	file = tu_path(dir, "letter.pdf");
	ck_assert_int_eq(tu_write(file, "%PDF-1.4 a letter", 17), 0);
	ck_assert_msg(chs_attach(s, other, file, NULL, "letter", id) == 0, "%s",
		      chs_error_last());
	r = tu_show(s, id);
	ck_assert_str_eq(patient_of(r), keep);
	json_decref(r);
	free(file);
}
END_TEST

START_TEST(test_follow__listing_patients_leaves_merged_ones_out)
{
	chs_record_list *l = NULL;
	size_t i;

	ck_assert_int_eq(chs_access_list(&l, s, "patient", NULL), 0);
	ck_assert_uint_eq(chs_record_list_count(l), 1);
	ck_assert_str_eq(chs_record_id(chs_record_list_get(l, 0)), keep);
	chs_record_list_free(l);
	ck_assert_int_eq(chs_access_list(&l, s, NULL, NULL), 0);
	for (i = 0; i < chs_record_list_count(l); i++)
		ck_assert_str_ne(chs_record_id(chs_record_list_get(l, i)), other);
	chs_record_list_free(l);
}
END_TEST

START_TEST(test_follow__a_chart_number_a_merged_patient_shares_names_one_chart)
{
	char (*ids)[33] = NULL;
	size_t n = 0;

	ck_assert_int_eq(chs_record_find_mrn(&ids, &n, s, "X-1"), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ids[0], keep);
	free(ids);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("records_follow");
	TCase *tc = tcase_create("follow");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_follow__a_merged_patient_by_id_or_prefix_lands_on_the_kept_one);
	tcase_add_test(tc, test_follow__a_merge_of_a_merge_is_followed_to_its_end);
	tcase_add_test(tc, test_follow__merges_in_a_ring_stop_before_it_closes);
	tcase_add_test(tc, test_follow__show_of_a_merged_patient_shows_and_records_the_kept_one);
	tcase_add_test(tc, test_follow__review_shows_the_merged_patient_itself);
	tcase_add_test(tc, test_follow__listing_a_merged_patient_lists_the_kept_chart);
	tcase_add_test(tc, test_follow__opening_a_merged_patient_opens_the_kept_chart);
	tcase_add_test(tc, test_follow__the_log_of_a_merged_patient_is_its_own_and_shows_the_merge);
	tcase_add_test(tc, test_follow__a_new_record_for_a_merged_patient_goes_on_the_kept_one);
	tcase_add_test(tc, test_follow__listing_patients_leaves_merged_ones_out);
	tcase_add_test(tc, test_follow__a_merged_patient_is_not_removed);
	tcase_add_test(tc, test_follow__a_chart_number_a_merged_patient_shares_names_one_chart);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return tu_run(suite());
}
