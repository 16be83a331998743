/*
 * client/reports: a merged patient (a tombstone) in the FHIR export and
 * the consistency report. The kept Patient links to what it replaces, the
 * tombstone is an inactive Patient replaced by it, a one-patient export
 * of the tombstone is the kept chart; the consistency report does not
 * take the chart number the two share for a collision. Tombstones made by
 * hand (tests/support/merge.h).
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/merge.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
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

/* The bundle `chartsync export fhir` writes, parsed. */
static json_t *export(const char *patient)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(chs_export_fhir(s, patient, NULL, f) == 0, "%s", chs_error_last());
	fclose(f);
	return tu_json(text);
}

/* The bundle's resource of `type` with id `id`, or NULL. */
static json_t *resource(json_t *bundle, const char *type, const char *id)
{
	json_t *e, *r;
	size_t i;

	json_array_foreach(json_object_get(bundle, "entry"), i, e) {
		r = json_object_get(e, "resource");
		if (strcmp(json_string_value(json_object_get(r, "resourceType")), type) == 0 &&
		    strcmp(json_string_value(json_object_get(r, "id")), id) == 0)
			return r;
	}
	return NULL;
}

/* Patient `p` has exactly the one link given. */
static void one_link(json_t *p, const char *to, const char *type)
{
	json_t *links = json_object_get(p, "link"), *l;
	char ref[64];

	ck_assert_uint_eq(json_array_size(links), 1);
	l = json_array_get(links, 0);
	snprintf(ref, sizeof(ref), "Patient/%s", to);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(l, "other"),
							   "reference")), ref);
	ck_assert_str_eq(json_string_value(json_object_get(l, "type")), type);
}

START_TEST(test_merged__fhir_links_the_kept_patient_and_the_merged_one_both_ways)
{
	json_t *b = export(NULL), *k, *o;

	ck_assert_ptr_nonnull(k = resource(b, "Patient", keep));
	ck_assert_ptr_nonnull(o = resource(b, "Patient", other));
	one_link(k, other, "replaces");
	ck_assert_ptr_null(json_object_get(k, "active"));
	one_link(o, keep, "replaced-by");
	ck_assert(json_is_false(json_object_get(o, "active")));
	/* nothing else of the merged chart: no name, number, birth date */
	ck_assert_uint_eq(json_object_size(o), 4); /* resourceType, id, active, link */
	json_decref(b);
}
END_TEST

START_TEST(test_merged__fhir_export_of_the_merged_patient_is_the_kept_chart)
{
	json_t *b = export(other);

	ck_assert_ptr_nonnull(resource(b, "Patient", keep));
	ck_assert_ptr_null(resource(b, "Patient", other));
	ck_assert_ptr_nonnull(resource(b, "Encounter", visit));
	one_link(resource(b, "Patient", keep), other, "replaces");
	json_decref(b);
}
END_TEST

START_TEST(test_merged__consistency_takes_no_shared_number_for_a_collision)
{
	chs_consistency_report *r = NULL;
	size_t i;

	ck_assert_msg(chs_report_consistency(&r, s, NULL) == 0, "%s", chs_error_last());
	for (i = 0; i < chs_consistency_report_count(r); i++)
		ck_assert_str_ne(chs_consistency_report_get(r, i)->kind,
				 "duplicate_chart_number");
	/* the merged patient is no chart of its own */
	ck_assert_uint_eq(chs_consistency_report_patients(r), 1);
	chs_consistency_report_free(r);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("reports_merged");
	TCase *tc = tcase_create("merged");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_merged__fhir_links_the_kept_patient_and_the_merged_one_both_ways);
	tcase_add_test(tc, test_merged__fhir_export_of_the_merged_patient_is_the_kept_chart);
	tcase_add_test(tc, test_merged__consistency_takes_no_shared_number_for_a_collision);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return tu_run(suite());
}
