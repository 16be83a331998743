/*
 * client/identity: merging two charts and undoing it, in one real store.
 * What an archivist would check: the other chart's visits, notes and
 * their companions are on the kept chart, access events stayed where
 * they were, the two charts' differing values wait in review with both
 * candidates, the other chart points at the kept one, and an unmerge
 * moves back exactly what the merge moved. Refusals change nothing.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static chs_store *s;

static void setup(void)
{
	s = tu_store_temp("ann", "archive-1", &dir);
}

static void teardown(void)
{
	chs_store_free(s);
	tu_rmtree(dir);
	free(dir);
	s = NULL;
	dir = NULL;
}

static void add(const char *type, chs_edit *e, size_t n, const char *patient,
		const char *encounter, char id[33])
{
	ck_assert_msg(chs_record_add(s, type, e, n, patient, encounter, id) == 0, "%s",
		      chs_error_last());
}

static void patient(const char *name, const char *mrn, const char *phone, char id[33])
{
	chs_edit p[] = { tu_edit("name", name), tu_edit("dob", "1970-01-01"),
			 tu_edit("mrn", mrn), tu_edit("phone", phone) };

	add("patient", p, phone ? 4 : 3, NULL, NULL, id);
}

/* OTHER's chart: a visit with a reason (kept on its clinical
 * companion), a note, and an access event (reading the note). */
static void other_chart(const char *other, char visit[33], char note[33])
{
	chs_edit v[] = { tu_edit("date", "2026-11-02"), tu_edit("reason", "chest pain") };
	chs_edit n[] = { tu_edit("text", "Seen for chest pain") };
	chs_record *r = NULL;

	add("encounter", v, 2, other, NULL, visit);
	add("note", n, 1, other, visit, note);
	ck_assert_int_eq(chs_access_show(&r, s, note), 0);
	chs_record_free(r);
}

/* How many live records of `type` link to patient `hex`. */
static int64_t count_on(const char *hex, const char *type)
{
	sqlite3_stmt *st = NULL;
	unsigned char id[16];
	int64_t n = -1;

	ck_assert_int_eq(chs_unhex(id, 16, hex), 0);
	/* a literal: the store caches statements by their text's address */
	ck_assert_int_eq(chs_store__prepare(s, &st, "SELECT count(*) FROM records"
					    " WHERE patient = ? AND type = ? AND NOT deleted"), 0);
	ck_assert_int_eq(chs_store__bind_blob(s, st, 1, id, 16), 0);
	ck_assert_int_eq(chs_store__bind_text(s, st, 2, type), 0);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	chs_store__finish(s, st);
	return n;
}

/* Two concurrent changes of record `id`'s patient (the same parents),
 * `first` then `second`: the link goes to review, `second` provisional. */
static void patient_in_review(const char *id, const char *type, const char *first,
			      const char *second)
{
	const char *to[2] = { first, second };
	chs_change **changes = NULL, *c;
	unsigned char rec[16];
	chs_merged *m = NULL;
	size_t n = 0, i, k;
	chs_writer w;

	ck_assert_int_eq(chs_unhex(rec, 16, id), 0);
	ck_assert_int_eq(chs_records__writer_begin(&w, s), 0);
	ck_assert_int_eq(chs_records__merge_record(s, rec, &m, &changes, &n), 0);
	for (k = 0; k < 2; k++) {
		ck_assert_int_eq(chs_change_new(&c), 0);
		memcpy(c->record, rec, 16);
		c->op = CHS_OP_UPDATE;
		c->type = strdup(type);
		for (i = 0; i < m->nheads; i++)
			ck_assert_int_eq(chs_change_add_parent(c, m->heads[i]->id), 0);
		ck_assert_int_eq(chs_change_set_string(c, "patient", to[k]), 0);
		ck_assert_int_eq(chs_records__writer_put(&w, c), 0);
	}
	chs_merged_free(m);
	chs_records__changes_free(changes, n);
	ck_assert_int_eq(chs_records__writer_commit(&w), 0);
}

/* A note on patient `on` written as a sync would deliver it: straight to
 * the record, whatever `on` is now (entry lands a new record for a
 * merged patient on the chart it was merged into). */
static void note_arrives(const char *on, const char *text, char id[33])
{
	unsigned char rec[16];
	chs_change *c = NULL;
	chs_writer w;

	chs_random(rec, sizeof(rec));
	chs_hex(id, rec, 16);
	ck_assert_int_eq(chs_change_new(&c), 0);
	memcpy(c->record, rec, 16);
	c->op = CHS_OP_CREATE;
	c->type = strdup("note");
	ck_assert_int_eq(chs_change_set_string(c, "text", text), 0);
	ck_assert_int_eq(chs_change_set_string(c, "patient", on), 0);
	ck_assert_int_eq(chs_records__writer_begin(&w, s), 0);
	ck_assert_int_eq(chs_records__writer_put(&w, c), 0);
	ck_assert_int_eq(chs_records__writer_commit(&w), 0);
}

static void state_hash(char hash[65])
{
	int64_t n;

	ck_assert_msg(chs_store_verify(s, 0, hash, &n) == 0, "%s", chs_error_last());
}

static void merge_ok(const char *keep, const char *other, chs_merge_result *r)
{
	ck_assert_msg(chs_patient_merge(s, keep, other, "same person: X-1", r) == 0, "%s",
		      chs_error_last());
}

/* The change id of the candidate of `field` with `value` on `rec`. */
static char *candidate_with(json_t *rec, const char *field, const char *value)
{
	json_t *list = json_object_get(json_object_get(rec, "candidates"), field), *c;
	size_t i;

	json_array_foreach(list, i, c)
		if (strcmp(json_string_value(json_object_get(c, "value")), value) == 0)
			return strdup(json_string_value(json_object_get(c, "change")));
	return NULL;
}

START_TEST(test_merge__moves_the_chart_and_reviews_what_differs)
{
	char keep[33], other[33], visit[33], note[33], *take, *theirs;
	chs_merge_result r;
	json_t *j;

	patient("John Smith", "X-1", NULL, keep);
	patient("Jon Smith", "X-1b", "555-0101", other);
	other_chart(other, visit, note);
	ck_assert_int_eq(count_on(other, "visit_reason"), 1);
	merge_ok(keep, other, &r);

	/* the visit, its companion and the note moved; the access event stayed */
	ck_assert_uint_eq(r.moved, 3);
	ck_assert_int_eq(count_on(keep, "encounter"), 1);
	ck_assert_int_eq(count_on(keep, "visit_reason"), 1);
	ck_assert_int_eq(count_on(keep, "note"), 1);
	ck_assert_int_eq(count_on(other, "audit"), 1);
	ck_assert_int_eq(count_on(keep, "audit"), 0);
	ck_assert_int_eq(count_on(other, "note") + count_on(other, "encounter"), 0);

	/* OTHER points at KEEP; the phone filled KEEP's empty field */
	j = tu_show(s, other);
	ck_assert_str_eq(tu_field(j, "merged_into"), keep);
	json_decref(j);
	ck_assert_uint_eq(r.filled, 1);
	ck_assert_uint_eq(r.nreview, 2);
	ck_assert_str_eq(r.review[0], "name");
	ck_assert_str_eq(r.review[1], "mrn");
	ck_assert_str_eq(r.keep, keep);
	ck_assert_str_eq(r.other, other);
	ck_assert_uint_eq(strlen(r.act), 32);
	ck_assert_uint_eq(strlen(r.link), 32);

	/* name and chart number wait in review with both charts' values */
	j = tu_show(s, keep);
	ck_assert(json_is_true(json_object_get(j, "review")));
	ck_assert_str_eq(tu_field(j, "phone"), "555-0101");
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(j, "candidates"),
							  "name")), 2);
	take = candidate_with(j, "name", "Jon Smith");
	ck_assert_ptr_nonnull(take);
	theirs = candidate_with(j, "mrn", "X-1b");
	ck_assert_ptr_nonnull(theirs);
	/* OTHER's values are one change: its name and its chart number */
	ck_assert_str_eq(take, theirs);
	free(theirs);
	json_decref(j);

	/* a person settles it by taking OTHER's values */
	ck_assert_msg(chs_review_resolve(s, keep, NULL, 0, take) == 0, "%s", chs_error_last());
	free(take);
	j = tu_show(s, keep);
	ck_assert(json_is_false(json_object_get(j, "review")));
	ck_assert_str_eq(tu_field(j, "name"), "Jon Smith");
	ck_assert_str_eq(tu_field(j, "mrn"), "X-1b");
	json_decref(j);
	chs_merge_result_dispose(&r);
}
END_TEST

START_TEST(test_merge__a_record_whose_patient_is_in_review_is_left)
{
	char keep[33], other[33], third[33], visit[33], note[33];
	chs_merge_result r;
	json_t *j;

	patient("John Smith", "X-1", NULL, keep);
	patient("Jon Smith", "X-2", NULL, other);
	patient("Joan Smith", "X-3", NULL, third);
	other_chart(other, visit, note);
	/* two sites put the note on two patients: a person decides */
	patient_in_review(note, "note", third, other);
	ck_assert_int_eq(count_on(other, "note"), 1);
	merge_ok(keep, other, &r);
	ck_assert_uint_eq(r.moved, 2);
	ck_assert_uint_eq(r.nleft, 1);
	ck_assert_str_eq(r.left[0].record, note);
	ck_assert_str_eq(r.left[0].type, "note");
	ck_assert_ptr_nonnull(strstr(r.left[0].why, "under review"));
	chs_merge_result_dispose(&r);
	j = tu_show(s, note);
	ck_assert(json_is_true(json_object_get(j, "review")));
	ck_assert_str_eq(tu_field(j, "patient"), other);
	json_decref(j);
}
END_TEST

START_TEST(test_merge__the_verdict_is_settled_by_its_command_only)
{
	char keep[33], other[33];
	chs_merge_result r;

	patient("John Smith", "X-1", NULL, keep);
	patient("John Smith", "X-2", NULL, other);
	merge_ok(keep, other, &r);
	ck_assert_int_eq(chs_review_resolve(s, r.link, NULL, 0, "abcd"), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "patient merge"));
	chs_merge_result_dispose(&r);
}
END_TEST

START_TEST(test_merge__refused_for_a_clinic_user_who_is_not_admin)
{
	char keep[33], other[33], before[65], after[65];
	chs_store *bob = NULL;

	patient("John Smith", "X-1", NULL, keep);
	patient("Jon Smith", "X-2", NULL, other);
	ck_assert_int_eq(chs_store_user_add(s, "bob", 0, "pw", 2), 0);
	state_hash(before);
	ck_assert_msg(chs_store_open(&bob, dir, "bob", "pw", 2) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_patient_merge(bob, keep, other, NULL, NULL), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "archivist"));
	ck_assert_int_eq(chs_patient_unmerge(bob, keep, other, NULL), CHS_EDENIED);
	chs_store_free(bob);
	state_hash(after);
	ck_assert_str_eq(before, after);
}
END_TEST

START_TEST(test_merge__refusals_change_nothing)
{
	char a[33], b[33], c[33], visit[33], note[33], before[65], after[65];

	patient("John Smith", "X-1", NULL, a);
	patient("Jon Smith", "X-2", NULL, b);
	patient("Johnny Smith", "X-3", NULL, c);
	other_chart(c, visit, note);
	merge_ok(b, a, NULL);
	state_hash(before);
	ck_assert_int_eq(chs_patient_merge(s, a, a, NULL, NULL), CHS_EINVALID);
	ck_assert_int_eq(chs_patient_merge(s, a, note, NULL, NULL), CHS_EINVALID);
	/* A is B's now: C goes into B, not A */
	ck_assert_int_eq(chs_patient_merge(s, a, c, NULL, NULL), CHS_EEXISTS);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), b));
	/* the other way round, while merged: unmerge first */
	ck_assert_int_eq(chs_patient_merge(s, a, b, NULL, NULL), CHS_EEXISTS);
	ck_assert_int_eq(chs_patient_unmerge(s, c, b, NULL), CHS_EINVALID);
	state_hash(after);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(count_on(c, "note"), 1);
}
END_TEST

START_TEST(test_merge__again_moves_what_reached_other_since)
{
	char keep[33], other[33], visit[33], note[33], late[33], h1[65], h2[65];
	chs_edit name[] = { tu_edit("name", "John Smith"), tu_edit("mrn", "X-1") };
	chs_merge_result r;
	json_t *j;

	patient("John Smith", "X-1", NULL, keep);
	patient("Jon Smith", "X-2", NULL, other);
	other_chart(other, visit, note);
	merge_ok(keep, other, NULL);
	ck_assert_msg(chs_review_resolve(s, keep, name, 2, NULL) == 0, "%s", chs_error_last());
	/* a note typed on OTHER elsewhere, arriving after the merge */
	note_arrives(other, "Late entry", late);
	merge_ok(keep, other, &r);
	ck_assert_uint_eq(r.moved, 1);
	ck_assert_uint_eq(r.nreview, 0);
	ck_assert_uint_eq(r.filled, 0);
	chs_merge_result_dispose(&r);
	ck_assert_int_eq(count_on(keep, "note"), 2);
	/* the settled review stays settled */
	j = tu_show(s, keep);
	ck_assert(json_is_false(json_object_get(j, "review")));
	json_decref(j);
	/* nothing new: nothing written */
	state_hash(h1);
	ck_assert_int_eq(chs_patient_merge(s, keep, other, NULL, &r), 0);
	ck_assert_uint_eq(r.moved, 0);
	ck_assert_str_eq(r.act, "");
	chs_merge_result_dispose(&r);
	state_hash(h2);
	ck_assert_str_eq(h1, h2);
}
END_TEST

START_TEST(test_merge__unmerge_moves_back_exactly_what_moved)
{
	char keep[33], other[33], visit[33], note[33], mine[33], gone[33], since[33];
	chs_edit n[] = { tu_edit("text", "KEEP's own") }, g[] = { tu_edit("text", "to go") };
	chs_edit l[] = { tu_edit("text", "after the merge") };
	chs_merge_result r;
	json_t *j;

	patient("John Smith", "X-1", NULL, keep);
	patient("Jon Smith", "X-2", NULL, other);
	add("note", n, 1, keep, NULL, mine);
	other_chart(other, visit, note);
	add("note", g, 1, other, NULL, gone);
	merge_ok(keep, other, NULL);
	/* since the merge: one moved record removed, one new on KEEP */
	ck_assert_int_eq(chs_record_rm(s, gone), 0);
	add("note", l, 1, keep, NULL, since);

	ck_assert_msg(chs_patient_unmerge(s, keep, other, &r) == 0, "%s", chs_error_last());
	ck_assert_uint_eq(r.moved, 3);
	ck_assert_uint_eq(r.nleft, 1);
	ck_assert_str_eq(r.left[0].record, gone);
	ck_assert_uint_eq(r.nsince, 1);
	ck_assert_str_eq(r.since[0].record, since);
	ck_assert_str_eq(r.since[0].type, "note");
	chs_merge_result_dispose(&r);

	ck_assert_int_eq(count_on(other, "encounter"), 1);
	ck_assert_int_eq(count_on(other, "visit_reason"), 1);
	ck_assert_int_eq(count_on(other, "note"), 1);
	ck_assert_int_eq(count_on(keep, "note"), 2); /* its own and the new one */
	j = tu_show(s, other);
	ck_assert_ptr_null(tu_field(j, "merged_into"));
	json_decref(j);
	/* merged again, and unmerged again: the same set once more */
	merge_ok(keep, other, NULL);
	ck_assert_int_eq(chs_patient_unmerge(s, keep, other, &r), 0);
	ck_assert_uint_eq(r.moved, 3);
	chs_merge_result_dispose(&r);
}
END_TEST

START_TEST(test_merge__a_note_with_a_control_character_is_refused)
{
	char keep[33], other[33], visit[33], note[33], before[65], after[65];

	patient("John Smith", "X-1", NULL, keep);
	patient("Jon Smith", "X-2", NULL, other);
	other_chart(other, visit, note);
	state_hash(before);
	ck_assert_int_eq(chs_patient_merge(s, keep, other, "same\x1b[2Jperson", NULL),
			 CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "note"));
	state_hash(after);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(count_on(other, "note"), 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("client_identity_merge");
	TCase *tc = tcase_create("merge");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_merge__moves_the_chart_and_reviews_what_differs);
	tcase_add_test(tc, test_merge__a_record_whose_patient_is_in_review_is_left);
	tcase_add_test(tc, test_merge__the_verdict_is_settled_by_its_command_only);
	tcase_add_test(tc, test_merge__refused_for_a_clinic_user_who_is_not_admin);
	tcase_add_test(tc, test_merge__refusals_change_nothing);
	tcase_add_test(tc, test_merge__again_moves_what_reached_other_since);
	tcase_add_test(tc, test_merge__unmerge_moves_back_exactly_what_moved);
	tcase_add_test(tc, test_merge__a_note_with_a_control_character_is_refused);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return tu_run(suite());
}
