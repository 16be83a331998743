/*
 * client/text: what may be typed in, how identifiers compare, and what a
 * terminal or a spreadsheet receives.
 */
#include "client/text/text.h"
#include "support/testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* The result of an appending function as a string; the test frees it. */
static char *built(int (*fn)(chs_buf *, const char *, size_t), const char *s)
{
	chs_buf b;

	chs_buf_init(&b, CHS_BUF_MAX_DEFAULT);
	ck_assert_int_eq(fn(&b, s, strlen(s)), 0);
	ck_assert_int_eq(chs_buf_puts(&b, ""), 0);
	return chs_buf_detach(&b);
}

static char *escaped(const char *s, chs_text_form form)
{
	chs_buf b;

	chs_buf_init(&b, CHS_BUF_MAX_DEFAULT);
	ck_assert_int_eq(chs_text_escape(&b, s, strlen(s), form), 0);
	ck_assert_int_eq(chs_buf_puts(&b, ""), 0);
	return chs_buf_detach(&b);
}

#define CHECK(s, form, max) chs_text_check((s), strlen(s), (form), (max), "name")

START_TEST(test_text__check_refuses_every_kind_of_control)
{
	static const char *bad[] = {
		"a\x1b[2Jb", "bell\a", "cr\rhere", "nul\x01", "del\x7f", "c1 \xc2\x9b" "31m",
		"rlo \xe2\x80\xae" "evil", "lre \xe2\x80\xaa", "isolate \xe2\x81\xa6",
		"pdi \xe2\x81\xa9", "ls \xe2\x80\xa8", "not utf-8 \xff", "overlong \xc0\xaf",
		"surrogate \xed\xa0\x80",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ck_assert_msg(CHECK(bad[i], CHS_TEXT_LINES, 0) == CHS_EINVALID, "accepted %zu", i);
		ck_assert_ptr_nonnull(strstr(chs_error_last(), "name"));
	}
	ck_assert_int_eq(CHECK("tab\there", CHS_TEXT_LINE, 0), CHS_EINVALID);
	ck_assert_int_eq(CHECK("two\nlines", CHS_TEXT_LINE, 0), CHS_EINVALID);
	ck_assert_int_eq(CHECK("two\nlines\tand a tab", CHS_TEXT_LINES, 0), 0);
	ck_assert_int_eq(CHECK("Zoë Ångström, 山田 (مرحبا)", CHS_TEXT_LINE, 0), 0);
	ck_assert_int_eq(CHECK("\x1b", CHS_TEXT_LINE, 0), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "U+001B"));
}
END_TEST

START_TEST(test_text__check_counts_characters_not_bytes)
{
	ck_assert_int_eq(CHECK("abcde", CHS_TEXT_LINE, 5), 0);
	ck_assert_int_eq(CHECK("abcdef", CHS_TEXT_LINE, 5), CHS_EINVALID);
	ck_assert_int_eq(CHECK("abcdé", CHS_TEXT_LINE, 5), 0);
	ck_assert_int_eq(CHECK("abcdéf", CHS_TEXT_LINE, 5), CHS_EINVALID);
	ck_assert_int_eq(CHECK("ééééé", CHS_TEXT_LINE, 5), 0);
	ck_assert_int_eq(CHECK("éééééé", CHS_TEXT_LINE, 5), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "the limit is 5"));
	ck_assert_uint_eq(chs_text_length("ééé", strlen("ééé")), 3);
}
END_TEST

START_TEST(test_text__prefix_never_splits_a_character)
{
	const char *s = "ab\xc3\xa9\xe5\xb1\xb1z";

	ck_assert_uint_eq(chs_text_prefix(s, strlen(s), 0), 0);
	ck_assert_uint_eq(chs_text_prefix(s, strlen(s), 2), 2);
	ck_assert_uint_eq(chs_text_prefix(s, strlen(s), 3), 4);
	ck_assert_uint_eq(chs_text_prefix(s, strlen(s), 4), 7);
	ck_assert_uint_eq(chs_text_prefix(s, strlen(s), 99), strlen(s));
}
END_TEST

START_TEST(test_text__blank)
{
	ck_assert(chs_text_is_blank("", 0));
	ck_assert(chs_text_is_blank(" \t\xc2\xa0\xe3\x80\x80", 7));
	ck_assert(!chs_text_is_blank(" a ", 3));
}
END_TEST

START_TEST(test_text__identifiers_normalise_to_one_form)
{
	static const char *same[] = {
		"A-1001", " A-1001", "A-1001 ", "A-1001\t", "A\xe2\x80\x90" "1001",
		"A\xe2\x80\x93" "1001", "A\xe2\x88\x92" "1001", "\xc2\xa0" "A-1001",
	};
	size_t i;
	char *n;

	for (i = 0; i < sizeof(same) / sizeof(*same); i++) {
		n = built(chs_text_normalise_id, same[i]);
		ck_assert_msg(strcmp(n, "A-1001") == 0, "%zu: '%s'", i, n);
		free(n);
	}
	/* NFC: e + combining acute is é */
	n = built(chs_text_normalise_id, "Rene\xcc\x81");
	ck_assert_str_eq(n, "Ren\xc3\xa9");
	free(n);
	n = built(chs_text_normalise_id, "   ");
	ck_assert_str_eq(n, "");
	free(n);
}
END_TEST

START_TEST(test_text__look_alike_keys_match)
{
	char *a = built(chs_text_id_key, "A-1001");
	char *b = built(chs_text_id_key, "a\xe2\x80\x90 1001");
	char *c = built(chs_text_id_key, "\xef\xbc\xa1-1001"); /* fullwidth A */
	char *d = built(chs_text_id_key, "A-1002");

	ck_assert_str_eq(a, b);
	ck_assert_str_eq(a, c);
	ck_assert_str_ne(a, d);
	free(a);
	free(b);
	free(c);
	free(d);
}
END_TEST

/* Names compare by their key: accents, case, punctuation and spacing
 * aside, so "José  GARCÍA" (precomposed or with a combining accent, a
 * no-break space) is "jose garcia"; a dash or a comma separates names. */
START_TEST(test_text__name_keys_ignore_accents_case_and_spacing)
{
	static const struct { const char *in, *key; } v[] = {
		{ "Jos\xc3\xa9  GARC\xc3\x8d" "A", "jose garcia" },
		{ "  jose\xc2\xa0garcia\t", "jose garcia" },
		{ "Jose\xcc\x81 Garci\xcc\x81" "a", "jose garcia" }, /* combining U+0301 */
		{ "O'Brien, Mary-Jane", "obrien mary jane" },
		{ "Smith,John", "smith john" },
		{ "\xef\xbc\xaa\xef\xbd\x8f\xef\xbd\x8e", "jon" }, /* fullwidth */
		{ "M\xc3\xbcller Stra\xc3\x9f" "e", "muller strasse" },
		{ "...", "" },
		{ "", "" },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *k = built(chs_text_name_key, v[i].in);

		ck_assert_msg(strcmp(k, v[i].key) == 0, "'%s': '%s'", v[i].in, k);
		free(k);
	}
	ck_assert_int_eq(chs_text_name_key(&(chs_buf){ 0 }, "\xff", 1), CHS_EINVALID);
}
END_TEST

START_TEST(test_text__escape_leaves_no_control_byte)
{
	char *e = escaped("x\x1b]0;owned\a\r\xc2\x9b\xe2\x80\xae\xff" "é", CHS_TEXT_LINE);
	const char *p;

	ck_assert_str_eq(e, "x\\x1b]0;owned\\x07\\x0d\\u{009b}\\u{202e}\\xffé");
	for (p = e; *p; p++)
		ck_assert((unsigned char)*p >= 0x20 && *p != 0x7f);
	free(e);
	e = escaped("line one\n\tline two\r", CHS_TEXT_LINES);
	ck_assert_str_eq(e, "line one\n\tline two\\x0d");
	free(e);
	e = escaped("line one\n", CHS_TEXT_LINE);
	ck_assert_str_eq(e, "line one\\x0a");
	free(e);
}
END_TEST

START_TEST(test_text__csv_cells_never_start_a_formula)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain", "plain" },
		{ "=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" },
		{ "+1", "\"'+1\"" },
		{ "-2+3", "\"'-2+3\"" },
		{ "@SUM(A1)", "\"'@SUM(A1)\"" },
		{ "\tx", "\"'\tx\"" },
		{ "\rx", "\"'\rx\"" },
		{ "a,b", "\"a,b\"" },
		{ " padded ", "\" padded \"" },
		{ "say \"hi\"", "\"say \"\"hi\"\"\"" },
		{ "", "" },
	};
	size_t i;
	char *c;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		c = built(chs_text_csv_cell, cases[i].in);
		ck_assert_msg(strcmp(c, cases[i].out) == 0, "%zu: %s", i, c);
		free(c);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client/text");
	TCase *tc = tcase_create("text");

	tcase_add_test(tc, test_text__check_refuses_every_kind_of_control);
	tcase_add_test(tc, test_text__check_counts_characters_not_bytes);
	tcase_add_test(tc, test_text__blank);
	tcase_add_test(tc, test_text__prefix_never_splits_a_character);
	tcase_add_test(tc, test_text__identifiers_normalise_to_one_form);
	tcase_add_test(tc, test_text__look_alike_keys_match);
	tcase_add_test(tc, test_text__name_keys_ignore_accents_case_and_spacing);
	tcase_add_test(tc, test_text__escape_leaves_no_control_byte);
	tcase_add_test(tc, test_text__csv_cells_never_start_a_formula);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
