/*
 * client/: the coding queue worked by a billing office through a real
 * archive (a bare git repository by path): a clinic imports its fee
 * schedule and sends a visit to coding; the billing office, which holds
 * the billing key only, sees the queue, codes the visit at the clinic's
 * fees, confirms what it reads and marks the visit done; the clinic sees
 * all of it.
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

enum { ADMIN, CLINIC, BILLING, NSTORES };

static const tu_member members[NSTORES] = {
	{ "ann", "ann", "central", "archivist" },
	{ "bob", "bob", "Clinic A", "clinic" },
	{ "dee", "dee", "Billing office", "billing" },
};
static char *top, *archive, *dirs[NSTORES];
static chs_store *st[NSTORES];

static void sync_ok(int i)
{
	tu_sync_ok(st[i]);
}

static void setup(void)
{
	tu_org_setup(&top, &archive, members, NSTORES, st, dirs);
}

static void teardown(void)
{
	tu_org_teardown(&top, &archive, st, dirs, NSTORES);
}

START_TEST(test_coding_sync__a_billing_office_works_the_queue_through_sync)
{
	chs_edit pe[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1") };
	chs_edit ve[] = { tu_edit("date", "2024-03-15") };
	chs_edit ne[] = { tu_edit("text", "cough for a week") };
	const char *icd[1] = { "R05.9" };
	chs_coding_assign_opts o = { "99213", NULL, 0, icd, 1 };
	char pat[33], visit[33], note[33], *path, *text = NULL;
	const char *ids[1];
	const char *ours = "code,description,fee,effective\n99213,Office visit,125.00,2024-01-01\n";
	const char *theirs = "code,description,fee,effective\n99213,Office visit,999.00,2024-01-01\n";
	chs_fees_result res;
	chs_confirmation *c = NULL;
	json_t *q, *a, *r;

	/* the clinic's schedule (its own site by default), and another
	 * site's line that must not apply */
	path = tu_path(top, "fees.csv");
	ck_assert_int_eq(tu_write(path, ours, strlen(ours)), 0);
	ck_assert_msg(chs_fees_import(st[CLINIC], path, NULL, &res) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_write(path, theirs, strlen(theirs)), 0);
	ck_assert_int_eq(chs_fees_import(st[CLINIC], path, "Clinic B", &res), 0);
	free(path);
	ck_assert_int_eq(chs_record_add(st[CLINIC], "patient", pe, 2, NULL, NULL, pat), 0);
	ck_assert_int_eq(chs_record_add(st[CLINIC], "encounter", ve, 1, pat, NULL, visit), 0);
	ck_assert_int_eq(chs_record_add(st[CLINIC], "note", ne, 1, pat, visit, note), 0);
	ck_assert_int_eq(chs_coding_send(st[CLINIC], visit), 0);
	sync_ok(CLINIC);
	sync_ok(BILLING);

	ck_assert_int_eq(tu_coding_queue_json(st[BILLING], &text), 0);
	q = tu_json(text);
	ck_assert_uint_eq(json_array_size(q), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(q, 0), "encounter")), visit);
	json_decref(q);
	ck_assert_msg(tu_coding_assign_json(st[BILLING], visit, &o, &text) == 0, "%s", chs_error_last());
	a = tu_json(text);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "fee")), 12500);
	json_decref(a);
	ck_assert_int_eq(chs_coding_done(st[BILLING], visit), 0);
	/* the billing office confirms the patient it reads (bob typed it),
	 * never the visit it just edited itself */
	ids[0] = pat;
	ck_assert_msg(chs_record_confirm(st[BILLING], ids, 1, NULL, NULL) == 0, "%s",
		      chs_error_last());
	ids[0] = visit;
	ck_assert_int_eq(chs_record_confirm(st[BILLING], ids, 1, NULL, NULL), CHS_EDENIED);
	sync_ok(BILLING);
	sync_ok(CLINIC);

	ck_assert_int_eq(tu_show_json(st[CLINIC], visit, &text), 0);
	r = tu_json(text);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "fields"), "coding")),
			 "done");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "fields"), "coder")),
			 "dee");
	json_decref(r);
	ck_assert_int_eq(chs_record_confirmation(&c, st[CLINIC], pat), 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->by, "dee");
	chs_confirmation_free(c);
	ck_assert_int_eq(chs_claims_export(st[CLINIC], "2024-01-01", &text, NULL), 0);
	ck_assert_ptr_nonnull(strstr(text, ",99213,,R05.9,125.00,done\r\n"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client-coding-sync");
	TCase *tc = tcase_create("coding-sync");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_coding_sync__a_billing_office_works_the_queue_through_sync);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
