/*
 * tools/: `chartsync report duplicates`, the real binary, at the archive
 * of an organisation whose two clinics registered one person twice: the
 * pair shows with each side's site, and a name that arrived by sync
 * holding terminal controls (another site's entry never checked it) is
 * shown escaped in the text, and as data in --json.
 */
#include "client/chartsync.h"
#include "support/cli.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ARCHIVE, CLINIC_A, CLINIC_B, NSTORES };

static char *top, *archive, *dirs[NSTORES];
static chs_store *st[NSTORES];

static void setup(void)
{
	tu_org_setup(&top, &archive, tu_org_members, NSTORES, st, dirs);
}

static void teardown(void)
{
	tu_org_teardown(&top, &archive, st, dirs, NSTORES);
}

static void hex_id(unsigned char out[16], const char *hex)
{
	int i;

	for (i = 0; i < 16; i++)
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

/* A patient created through the writer, as a site whose entry checked
 * nothing would send it: `name` as it is. */
static void raw_patient(chs_store *s, const char *id, const char *name_json)
{
	chs_change *c = NULL;
	chs_writer w;

	ck_assert_int_eq(chs_records__writer_begin(&w, s), 0);
	ck_assert_int_eq(chs_change_new(&c), 0);
	hex_id(c->record, id);
	c->op = CHS_OP_CREATE;
	c->type = strdup("patient");
	ck_assert_int_eq(chs_change_set(c, "name", name_json), 0);
	ck_assert_int_eq(chs_change_set(c, "mrn", "\"X-1\""), 0);
	ck_assert_int_eq(chs_change_set(c, "dob", "\"1970-01-01\""), 0);
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_records__writer_commit(&w) == 0, "%s", chs_error_last());
}

static void run(tu_result *r, const char *format)
{
	const char *env[] = { NULL, "CHARTSYNC_USER=ann", "CHARTSYNC_PASSPHRASE=pw",
			      "CHARTSYNC_PASSPHRASE_FILE", NULL };
	const char *argv[] = { CHARTSYNC_BIN, "report", "duplicates", format, NULL };
	char store_env[4096];

	snprintf(store_env, sizeof(store_env), "CHARTSYNC_STORE=%s", dirs[ARCHIVE]);
	env[0] = store_env;
	tu_cli_runv(r, env, argv);
}

START_TEST(test_cli_report_duplicates__two_sites_escaped)
{
	static const char john[] = "0000000000000000000000000000000a";
	static const char jon[] = "0000000000000000000000000000000b";
	json_t *doc, *p;
	tu_result r;

	raw_patient(st[CLINIC_A], john, "\"John Smith\"");
	raw_patient(st[CLINIC_B], jon, "\"Jon Smith\\u001b]0;owned\\u0007\"");
	tu_sync_ok(st[CLINIC_A]);
	tu_sync_ok(st[CLINIC_B]);
	tu_sync_ok(st[ARCHIVE]);
	chs_store_free(st[ARCHIVE]); /* the binary opens it now */
	st[ARCHIVE] = NULL;

	run(&r, NULL);
	tu_ck_status(r, 0);
	ck_assert_msg(strstr(r.out, "  chart_number") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "Clinic A") && strstr(r.out, "Clinic B"), "%s", r.out);
	ck_assert_msg(strstr(r.out, "Jon Smith\\x1b]0;owned\\x07") != NULL, "%s", r.out);
	ck_assert_ptr_null(strchr(r.out, '\x1b'));
	ck_assert_ptr_null(strchr(r.out, '\a'));
	ck_assert_msg(strstr(r.err, "1 likely duplicate among 2 patients"), "%s", r.err);

	run(&r, "--json");
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(doc = json_loads(r.out, 0, NULL));
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "pairs")), 1);
	p = json_array_get(json_object_get(doc, "pairs"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "a"), "id")), john);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "a"), "site")),
			 "Clinic A");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "b"), "name")),
			 "Jon Smith\x1b]0;owned\a");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "evidence"), 0)),
			 "chart_number");
	json_decref(doc);

	run(&r, "--csv");
	tu_ck_status(r, 0);
	ck_assert_msg(strstr(r.out, ",Clinic B,") != NULL, "%s", r.out);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tools_cli_report_duplicates");
	TCase *tc = tcase_create("org");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cli_report_duplicates__two_sites_escaped);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
