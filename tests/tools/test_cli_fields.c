/*
 * tools/: 'chartsync fields', through the real binary: every field with
 * the compartment its values travel in, the clinical ones typed on
 * billing records (a visit's reason, a confirmation's note) included.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)

/* The compartment `fields --json` gives type.field, or NULL. */
static const char *compartment(json_t *arr, const char *type, const char *field)
{
	json_t *v;
	size_t k;

	json_array_foreach(arr, k, v)
		if (strcmp(json_string_value(json_object_get(v, "type")), type) == 0 &&
		    strcmp(json_string_value(json_object_get(v, "field")), field) == 0)
			return json_string_value(json_object_get(v, "compartment"));
	return NULL;
}

START_TEST(test_cli_fields__lists_what_a_billing_office_never_receives)
{
	tu_result r;
	json_t *all, *clin;
	size_t k;
	json_t *v;

	run(&r, "fields", "--json", NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(all = json_loads(r.out, 0, NULL));
	ck_assert_str_eq(compartment(all, "encounter", "reason"), "clinical");
	ck_assert_str_eq(compartment(all, "confirmation", "note"), "clinical");
	ck_assert_str_eq(compartment(all, "note", "text"), "clinical");
	ck_assert_str_eq(compartment(all, "encounter", "date"), "billing");
	ck_assert_str_eq(compartment(all, "encounter", "provider"), "billing");
	ck_assert_str_eq(compartment(all, "diagnosis", "icd"), "billing");
	/* companions are how, not what: never listed as types of their own */
	ck_assert_ptr_null(strstr(r.out, "visit_reason"));
	run(&r, "fields", "--clinical", "--json", NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(clin = json_loads(r.out, 0, NULL));
	json_array_foreach(clin, k, v)
		ck_assert_str_eq(json_string_value(json_object_get(v, "compartment")), "clinical");
	ck_assert_uint_ge(json_array_size(clin), 20);
	ck_assert_uint_lt(json_array_size(clin), json_array_size(all));
	json_decref(all);
	json_decref(clin);
	run(&r, "fields", NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "encounter     reason       text     clinical\n"));
	run(&r, "fields", "--bogus", NULL);
	tu_ck_status(r, 1);
	run(&r, "fields", "extra", NULL);
	tu_ck_status(r, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools-cli-fields");
	TCase *tc = tcase_create("cli-fields");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cli_fields__lists_what_a_billing_office_never_receives);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
