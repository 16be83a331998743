/*
 * client/records: chs_record_field_normal_form(), the text a person types
 * as signing writes it, so a page can show it before it is signed.
 */
#include "client/chartsync.h"
#include "support/testutil.h"

#include <stdlib.h>
#include <string.h>

static void is(const char *type, const char *field, const char *text, const char *want)
{
	char *out = NULL;

	ck_assert_msg(chs_record_field_normal_form(type, field, text, &out) == 0, "%s",
		      chs_error_last());
	ck_assert_str_eq(out, want);
	free(out);
}

START_TEST(test_normal_form__codes_capitals_ids_trimmed_one_dash)
{
	char *out = NULL;

	is("diagnosis", "icd", "i10", "\"I10\"");
	is("patient", "mrn", " A\xe2\x80\x90" "1001\t", "\"A-1001\"");
	is("patient", "name", "Ada", "\"Ada\"");
	/* refused as at entry, with nothing handed back */
	ck_assert_int_eq(chs_record_field_normal_form("diagnosis", "icd", "not a code", &out),
			 CHS_EINVALID);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(chs_record_field_normal_form("patient", "nope", "x", &out), CHS_EINVALID);
	ck_assert_int_eq(chs_record_field_normal_form("nope", "name", "x", &out), CHS_EINVALID);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("client_records_normal_form");
	TCase *tc = tcase_create("normal_form");

	tcase_add_test(tc, test_normal_form__codes_capitals_ids_trimmed_one_dash);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
