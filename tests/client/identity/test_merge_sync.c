/*
 * client/identity: charts merged across sites, through a real archive (a
 * bare git repository by path). Two archivists' stores and two clinics',
 * each a real encrypted store. What a person would check: the two
 * clinics' "X-1" patients merged at the archive are seen merged at both
 * clinics with equal state hashes, and unmerged the same way; a visit
 * typed on the other chart while a clinic was offline lands on the kept
 * chart when the merge arrives; two archivists merging the pair two ways
 * converge, the pair's verdict waits in review, and a merge settles it.
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

enum { ADMIN, C1, C2, A2, NSTORES };

static const tu_member members[NSTORES] = {
	{ "ann", "archive-1", "central", "archivist" },
	{ "bob", "clinic-a-1", "Clinic A", "clinic" },
	{ "cy", "clinic-b-1", "Clinic B", "clinic" },
	{ "eve", "archive-2", "central", "archivist" },
};
static char *top, *archive, *dirs[NSTORES];
static chs_store *st[NSTORES];

static void setup(void)
{
	tu_org_setup(&top, &archive, members, NSTORES, st, dirs);
}

static void teardown(void)
{
	tu_org_teardown(&top, &archive, st, dirs, NSTORES);
}

static chs_sync_report sync_ok(int i)
{
	return tu_sync_ok(st[i]);
}

/* Every store syncs twice round: each has what every other sent. */
static void sync_all(void)
{
	int round, i;

	for (round = 0; round < 2; round++)
		for (i = 0; i < NSTORES; i++)
			sync_ok(i);
}

static void add(int i, const char *type, chs_edit *e, size_t n, const char *patient,
		char id[33])
{
	ck_assert_msg(chs_record_add(st[i], type, e, n, patient, NULL, id) == 0, "%s",
		      chs_error_last());
}

static void state_hash(int i, char hash[65])
{
	int64_t n;

	ck_assert_msg(chs_store_verify(st[i], 1, hash, &n) == 0, "%s", chs_error_last());
}

static void all_equal(void)
{
	char h[NSTORES][65];
	int i;

	for (i = 0; i < NSTORES; i++) {
		state_hash(i, h[i]);
		ck_assert_str_eq(h[i], h[ADMIN]);
	}
}

/* Issue 21's day: clinic A registers John Smith, X-1; clinic B, apart,
 * Jon Smith, X-1, born the same day, and a note on him. */
static void two_clinics(char keep[33], char other[33], char note[33])
{
	chs_edit a[] = { tu_edit("name", "John Smith"), tu_edit("mrn", "X-1"),
			 tu_edit("dob", "1970-01-01") };
	chs_edit b[] = { tu_edit("name", "Jon Smith"), tu_edit("mrn", "X-1"),
			 tu_edit("dob", "1970-01-01"), tu_edit("phone", "555-0101") };
	chs_edit n[] = { tu_edit("text", "Allergic to penicillin, per patient") };

	add(C1, "patient", a, 3, NULL, keep);
	add(C2, "patient", b, 4, NULL, other);
	add(C2, "note", n, 1, other, note);
	sync_all();
}

static const char *patient_of(int i, const char *id, json_t **j)
{
	*j = tu_show(st[i], id);
	return tu_field(*j, "patient");
}

START_TEST(test_merge_sync__x1_merged_at_the_archive_and_unmerged)
{
	char keep[33], other[33], note[33];
	chs_merge_result r;
	json_t *j;
	int i;

	two_clinics(keep, other, note);
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, "one person", &r) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(r.moved, 1);
	ck_assert_uint_eq(r.nreview, 1); /* the name: X-1 is X-1 */
	chs_merge_result_dispose(&r);
	sync_all();
	all_equal();
	for (i = C1; i <= C2; i++) {
		ck_assert_str_eq(patient_of(i, note, &j), keep);
		json_decref(j);
		j = tu_show(st[i], other);
		ck_assert_str_eq(tu_field(j, "merged_into"), keep);
		json_decref(j);
		j = tu_show(st[i], keep);
		ck_assert(json_is_true(json_object_get(j, "review")));
		ck_assert_str_eq(tu_field(j, "phone"), "555-0101");
		json_decref(j);
	}

	ck_assert_msg(chs_patient_unmerge(st[ADMIN], keep, other, &r) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(r.moved, 1);
	chs_merge_result_dispose(&r);
	sync_all();
	all_equal();
	for (i = C1; i <= C2; i++) {
		ck_assert_str_eq(patient_of(i, note, &j), other);
		json_decref(j);
		j = tu_show(st[i], other);
		ck_assert_ptr_null(tu_field(j, "merged_into"));
		json_decref(j);
	}
}
END_TEST

START_TEST(test_merge_sync__an_offline_visit_on_other_lands_on_keep)
{
	chs_edit v[] = { tu_edit("date", "2026-11-30"), tu_edit("reason", "follow-up") };
	char keep[33], other[33], note[33], visit[33];
	chs_sync_report rep;
	chs_merge_result r;
	json_t *j;

	two_clinics(keep, other, note);
	/* clinic B, offline, sees Jon Smith again while the archive merges */
	add(C2, "encounter", v, 2, other, visit);
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, NULL) == 0, "%s",
		      chs_error_last());
	sync_ok(ADMIN);
	rep = sync_ok(C2);
	ck_assert_uint_eq(rep.placed, 2); /* the visit and its reason */
	ck_assert_uint_eq(rep.unplaced, 0);
	ck_assert_str_eq(patient_of(C2, visit, &j), keep);
	json_decref(j);
	sync_all();
	all_equal();
	ck_assert_str_eq(patient_of(ADMIN, visit, &j), keep);
	json_decref(j);
	ck_assert_str_eq(patient_of(C1, visit, &j), keep);
	json_decref(j);
	/* nothing more to place: later syncs write nothing */
	rep = sync_ok(C2);
	ck_assert_uint_eq(rep.placed, 0);
	ck_assert_uint_eq(rep.changes_out, 0);

	/* an unmerge takes the placed visit back too */
	ck_assert_msg(chs_patient_unmerge(st[ADMIN], keep, other, &r) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(r.moved, 3);
	chs_merge_result_dispose(&r);
	ck_assert_str_eq(patient_of(ADMIN, visit, &j), other);
	json_decref(j);
}
END_TEST

START_TEST(test_merge_sync__a_visit_placed_through_a_chain_comes_back_hop_by_hop)
{
	chs_edit v[] = { tu_edit("date", "2026-11-30"), tu_edit("reason", "follow-up") };
	chs_edit k2e[] = { tu_edit("name", "John A. Smith"), tu_edit("mrn", "X-9"),
			   tu_edit("dob", "1970-01-01") };
	char keep[33], other[33], note[33], visit[33], k2[33];
	chs_sync_report rep;
	json_t *j;

	two_clinics(keep, other, note);
	add(C1, "patient", k2e, 3, NULL, k2);
	sync_all();
	/* clinic B, offline, sees Jon Smith again while the archive merges
	 * him into John Smith, and John Smith into John A. Smith */
	add(C2, "encounter", v, 2, other, visit);
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, NULL) == 0, "%s",
		      chs_error_last());
	ck_assert_msg(chs_patient_merge(st[ADMIN], k2, keep, NULL, NULL) == 0, "%s",
		      chs_error_last());
	sync_ok(ADMIN);
	rep = sync_ok(C2);
	ck_assert_uint_eq(rep.placed, 2);
	ck_assert_str_eq(patient_of(C2, visit, &j), k2);
	json_decref(j);
	sync_ok(ADMIN);

	/* both merges were wrong: undone from the end, hop by hop */
	ck_assert_msg(chs_patient_unmerge(st[ADMIN], k2, keep, NULL) == 0, "%s",
		      chs_error_last());
	ck_assert_str_eq(patient_of(ADMIN, visit, &j), keep);
	json_decref(j);
	ck_assert_msg(chs_patient_unmerge(st[ADMIN], keep, other, NULL) == 0, "%s",
		      chs_error_last());
	ck_assert_str_eq(patient_of(ADMIN, visit, &j), other);
	json_decref(j);
	ck_assert_str_eq(patient_of(ADMIN, note, &j), other);
	json_decref(j);
	sync_all();
	all_equal();
}
END_TEST

START_TEST(test_merge_sync__only_the_device_that_made_a_record_places_it)
{
	chs_edit v[] = { tu_edit("date", "2026-11-30"), tu_edit("reason", "follow-up") };
	char keep[33], other[33], note[33], visit[33];
	chs_sync_report rep;
	json_t *j;

	two_clinics(keep, other, note);
	/* the archive merges while clinic B's visit on OTHER is on its way */
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, NULL) == 0, "%s",
		      chs_error_last());
	add(C2, "encounter", v, 2, other, visit);
	sync_ok(C2);
	rep = sync_ok(ADMIN); /* the visit arrives on the tombstone: not the archive's */
	ck_assert_uint_eq(rep.placed, 0);
	ck_assert_uint_eq(rep.unplaced, 0);
	ck_assert_str_eq(patient_of(ADMIN, visit, &j), other);
	json_decref(j);
	rep = sync_ok(C2); /* clinic B made it: clinic B places it */
	ck_assert_uint_eq(rep.placed, 2);
	sync_all();
	all_equal();
	ck_assert_str_eq(patient_of(ADMIN, visit, &j), keep);
	json_decref(j);
}
END_TEST

START_TEST(test_merge_sync__two_archivists_two_ways_converge_in_review)
{
	chs_edit n[] = { tu_edit("text", "Seen again") };
	char keep[33], other[33], note[33], link[33], late[33];
	chs_sync_report rep;
	chs_merge_result r;
	json_t *j;

	two_clinics(keep, other, note);
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, &r) == 0, "%s",
		      chs_error_last());
	memcpy(link, r.link, 33);
	chs_merge_result_dispose(&r);
	ck_assert_msg(chs_patient_merge(st[A2], other, keep, NULL, NULL) == 0, "%s",
		      chs_error_last());
	sync_all();
	all_equal();
	j = tu_show(st[C1], link);
	ck_assert(json_is_true(json_object_get(j, "review")));
	json_decref(j);
	/* meanwhile clinic B adds a note to OTHER: the two charts point at
	 * each other, so its sync cannot place it, nor its first note (on
	 * KEEP, which the second archivist merged into OTHER) */
	add(C2, "note", n, 1, other, late);
	rep = sync_ok(C2);
	ck_assert_uint_eq(rep.placed, 0);
	ck_assert_uint_eq(rep.unplaced, 2);
	sync_ok(ADMIN);
	/* the verdict moves records: review resolve leaves it to its command */
	ck_assert_int_eq(chs_review_resolve(st[ADMIN], link, NULL, 0, "abcd"), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "patient merge"));

	/* the archivist settles it: KEEP is the chart */
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, NULL) == 0, "%s",
		      chs_error_last());
	sync_all();
	all_equal();
	j = tu_show(st[C2], link);
	ck_assert(json_is_false(json_object_get(j, "review")));
	ck_assert_str_eq(tu_field(j, "keep"), keep);
	json_decref(j);
	j = tu_show(st[C2], keep);
	ck_assert_ptr_null(tu_field(j, "merged_into"));
	json_decref(j);
	j = tu_show(st[C2], other);
	ck_assert_str_eq(tu_field(j, "merged_into"), keep);
	json_decref(j);
	ck_assert_str_eq(patient_of(C1, note, &j), keep);
	json_decref(j);
	ck_assert_str_eq(patient_of(C2, late, &j), keep);
	json_decref(j);
}
END_TEST

START_TEST(test_merge_sync__settled_two_ways_then_unmerged_keeps_keeps_own)
{
	chs_edit n[] = { tu_edit("text", "KEEP's own note") };
	char keep[33], other[33], note[33], own[33];
	chs_merge_result r;
	json_t *j;

	two_clinics(keep, other, note);
	add(C1, "note", n, 1, keep, own);
	sync_all();
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, NULL) == 0, "%s",
		      chs_error_last());
	ck_assert_msg(chs_patient_merge(st[A2], other, keep, NULL, NULL) == 0, "%s",
		      chs_error_last());
	sync_all();
	/* settled: KEEP is the chart; then found wrong and undone */
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, &r) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(r.moved, 1); /* KEEP's own note, back home */
	chs_merge_result_dispose(&r);
	ck_assert_str_eq(patient_of(ADMIN, own, &j), keep);
	json_decref(j);
	ck_assert_msg(chs_patient_unmerge(st[ADMIN], keep, other, &r) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(r.moved, 1); /* OTHER's note only */
	chs_merge_result_dispose(&r);
	sync_all();
	all_equal();
	ck_assert_str_eq(patient_of(C1, own, &j), keep);
	json_decref(j);
	ck_assert_str_eq(patient_of(C1, note, &j), other);
	json_decref(j);
}
END_TEST

START_TEST(test_merge_sync__other_merged_into_two_patients_is_settled_by_a_merge)
{
	chs_edit k2e[] = { tu_edit("name", "John A. Smith"), tu_edit("mrn", "X-9"),
			   tu_edit("dob", "1970-01-01") };
	char keep[33], other[33], note[33], k2[33], link2[33];
	chs_merge_result r;
	json_t *j;

	two_clinics(keep, other, note);
	add(C1, "patient", k2e, 3, NULL, k2);
	sync_all();
	/* one archivist merges OTHER into KEEP, another into K2 */
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, NULL) == 0, "%s",
		      chs_error_last());
	ck_assert_msg(chs_patient_merge(st[A2], k2, other, NULL, &r) == 0, "%s",
		      chs_error_last());
	memcpy(link2, r.link, 33);
	chs_merge_result_dispose(&r);
	sync_all();
	all_equal();
	j = tu_show(st[ADMIN], note);
	ck_assert(json_is_true(json_object_get(j, "review")));
	json_decref(j);

	/* the archivist settles it: KEEP is the chart */
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, &r) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(r.moved, 1);
	chs_merge_result_dispose(&r);
	sync_all();
	all_equal();
	j = tu_show(st[C2], note);
	ck_assert(json_is_false(json_object_get(j, "review")));
	ck_assert_str_eq(tu_field(j, "patient"), keep);
	json_decref(j);
	j = tu_show(st[C2], other);
	ck_assert(json_is_false(json_object_get(j, "review")));
	ck_assert_str_eq(tu_field(j, "merged_into"), keep);
	json_decref(j);
	j = tu_show(st[C2], link2);
	ck_assert_str_eq(tu_field(j, "verdict"), "open");
	json_decref(j);
	/* and, found wrong, undone: the note goes back to OTHER */
	ck_assert_msg(chs_patient_unmerge(st[A2], keep, other, &r) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(r.moved, 1);
	chs_merge_result_dispose(&r);
	ck_assert_str_eq(patient_of(A2, note, &j), other);
	json_decref(j);
}
END_TEST

START_TEST(test_merge_sync__two_archivists_the_same_way_agree)
{
	char keep[33], other[33], note[33], link[33];
	chs_merge_result r;
	json_t *j;

	two_clinics(keep, other, note);
	ck_assert_msg(chs_patient_merge(st[ADMIN], keep, other, NULL, &r) == 0, "%s",
		      chs_error_last());
	memcpy(link, r.link, 33);
	chs_merge_result_dispose(&r);
	ck_assert_msg(chs_patient_merge(st[A2], keep, other, NULL, NULL) == 0, "%s",
		      chs_error_last());
	sync_all();
	all_equal();
	/* one verdict, no review of it; the note moved once, where both said */
	j = tu_show(st[C1], link);
	ck_assert(json_is_false(json_object_get(j, "review")));
	json_decref(j);
	j = tu_show(st[C1], note);
	ck_assert(json_is_false(json_object_get(j, "review")));
	ck_assert_str_eq(tu_field(j, "patient"), keep);
	json_decref(j);
	/* either archivist undoes both acts */
	ck_assert_msg(chs_patient_unmerge(st[A2], keep, other, &r) == 0, "%s", chs_error_last());
	ck_assert_uint_eq(r.moved, 1);
	chs_merge_result_dispose(&r);
	sync_all();
	all_equal();
	ck_assert_str_eq(patient_of(C2, note, &j), other);
	json_decref(j);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("client_identity_merge_sync");
	TCase *tc = tcase_create("merge_sync");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_merge_sync__x1_merged_at_the_archive_and_unmerged);
	tcase_add_test(tc, test_merge_sync__an_offline_visit_on_other_lands_on_keep);
	tcase_add_test(tc, test_merge_sync__a_visit_placed_through_a_chain_comes_back_hop_by_hop);
	tcase_add_test(tc, test_merge_sync__only_the_device_that_made_a_record_places_it);
	tcase_add_test(tc, test_merge_sync__two_archivists_two_ways_converge_in_review);
	tcase_add_test(tc, test_merge_sync__two_archivists_the_same_way_agree);
	tcase_add_test(tc, test_merge_sync__settled_two_ways_then_unmerged_keeps_keeps_own);
	tcase_add_test(tc, test_merge_sync__other_merged_into_two_patients_is_settled_by_a_merge);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return tu_run(suite());
}
