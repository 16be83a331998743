/*
 * client/service: the hot folder after a merge. A scan named by a chart
 * number that a merged patient (a tombstone) and the patient it was
 * merged into both hold, or that only the tombstone holds, or by the
 * tombstone's id, goes on the chart that holds it now; never
 * "ambiguous". Tombstones made by hand (tests/support/merge.h).
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/merge.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *dir, *folder;
static chs_store *store;
static char keep[33], other[33], visit[33];

static const unsigned char pdf[] = "%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	store = tu_store_temp("scanner", "front-desk", &dir);
	folder = tu_path(dir, "scans");
	ck_assert_int_eq(mkdir(folder, 0700), 0);
	tu_two_clinics_merged(store, keep, other, visit);
}

static void teardown(void)
{
	chs_store_free(store);
	tu_rmtree(dir);
	free(dir);
	free(folder);
}

/* Drop `name` (a small PDF, made different by `salt`) and take it. */
static void scan(const char *name, char salt, chs_scan_outcome *o)
{
	unsigned char bytes[sizeof(pdf) + 1];
	char *p = tu_path(folder, name);

	memcpy(bytes, pdf, sizeof(pdf));
	bytes[sizeof(pdf)] = (unsigned char)salt;
	ck_assert_int_eq(tu_write(p, bytes, sizeof(bytes)), 0);
	free(p);
	memset(o, 0, sizeof(*o));
	chs_service__scan_take(store, folder, name, 1, o);
}

static void lands_on_keep(const chs_scan_outcome *o)
{
	json_t *r;

	ck_assert_msg(o->status == 0, "%s", o->reason);
	ck_assert_str_eq(o->patient, keep);
	r = tu_show(store, o->record);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "fields"),
							   "patient")), keep);
	json_decref(r);
}

START_TEST(test_scan_merged__a_number_both_hold_lands_on_the_kept_chart)
{
	chs_scan_outcome o;

	scan("X-1_referral.pdf", 'a', &o);
	lands_on_keep(&o);
}
END_TEST

START_TEST(test_scan_merged__a_number_only_the_merged_patient_holds_lands_on_the_kept_chart)
{
	chs_edit e = tu_edit("mrn", "X-2");
	chs_scan_outcome o;

	/* the kept patient's number was corrected; the tombstone keeps X-1 */
	ck_assert_msg(chs_record_set(store, keep, &e, 1) == 0, "%s", chs_error_last());
	scan("X-1_lab.pdf", 'b', &o);
	lands_on_keep(&o);
}
END_TEST

START_TEST(test_scan_merged__the_merged_patients_id_lands_on_the_kept_chart)
{
	chs_scan_outcome o;
	char name[64];

	snprintf(name, sizeof(name), "%.10s_letter.pdf", other);
	scan(name, 'c', &o);
	lands_on_keep(&o);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("service_scan_merged");
	TCase *tc = tcase_create("merged");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scan_merged__a_number_both_hold_lands_on_the_kept_chart);
	tcase_add_test(tc,
		test_scan_merged__a_number_only_the_merged_patient_holds_lands_on_the_kept_chart);
	tcase_add_test(tc, test_scan_merged__the_merged_patients_id_lands_on_the_kept_chart);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return tu_run(suite());
}
