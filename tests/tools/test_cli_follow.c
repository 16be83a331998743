/*
 * tools/: a patient merged into another, looked up by a technician
 * through the real binary: show, ls, open, add and attach land on the
 * chart that holds it now and say so on stderr, the kept chart's number
 * (record text, which may have arrived holding anything) escaped. The
 * tombstone is made by hand in the CLI's store (tests/support/merge.h).
 */
#include "support/cli.h"
#include "support/internal.h"
#include "support/merge.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASS "clinic pass"

static char *dir;
static char keep[33], other[33], visit[33], notice[128];

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)

/* KEEP's chart number made hostile, as a foreign client's change would
 * arrive: ESC ] (a terminal retitled), BEL. */
static void hostile_number(chs_store *s)
{
	chs_change *c = NULL;
	chs_writer w;
	int i;

	ck_assert_int_eq(chs_change_new(&c), 0);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(sscanf(keep + 2 * i, "%2hhx", &c->record[i]), 1);
	c->op = CHS_OP_UPDATE;
	c->type = strdup("patient");
	ck_assert_int_eq(chs_change_set(c, "mrn", "\"X-1\\u001b]0;pwned\\u0007\""), 0);
	ck_assert_int_eq(chs_records__writer_begin(&w, s), 0);
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_records__writer_commit(&w) == 0, "%s", chs_error_last());
}

static void setup(void)
{
	chs_store *s = NULL;

	ck_assert_int_eq(chs_crypto_init(), 0);
	dir = tu_cli_setup(PASS);
	tu_cli_init_store(CHARTSYNC_BIN);
	ck_assert_msg(chs_store_open(&s, dir, "alice", PASS, strlen(PASS)) == 0, "%s",
		      chs_error_last());
	tu_two_clinics_merged(s, keep, other, visit);
	hostile_number(s);
	chs_store_free(s);
	snprintf(notice, sizeof(notice), "patient %.12s was merged into %.12s (chart X-1",
		 other, keep);
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

/* stderr says it was followed, with nothing raw from the record. */
static void said(const result *r, const char *doing)
{
	char tail[64];

	ck_assert_msg(strstr(r->err, notice), "no notice in: %s", r->err);
	snprintf(tail, sizeof(tail), "; %s %.12s\n", doing, keep);
	ck_assert_msg(strstr(r->err, tail), "no '%s' in: %s", tail, r->err);
	ck_assert_ptr_null(strchr(r->err, '\x1b'));
	ck_assert_ptr_null(strchr(r->err, '\a'));
}

START_TEST(test_cli_follow__show_of_a_merged_patient_shows_the_kept_one_and_says_so)
{
	result r;

	run(&r, "show", other, NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "John Smith"));
	ck_assert_ptr_nonnull(strstr(r.out, keep));
	said(&r, "showing");
	/* the kept one itself: no notice */
	run(&r, "show", keep, NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_null(strstr(r.err, "merged"));
}
END_TEST

START_TEST(test_cli_follow__ls_and_open_of_a_merged_patient_land_on_the_kept_chart)
{
	const char *env[] = { "PAGER=cat", NULL };
	const char *open_argv[] = { CHARTSYNC_BIN, "open", other, NULL };
	char short_id[13];
	result r;

	snprintf(short_id, sizeof(short_id), "%.12s", visit);
	run(&r, "ls", "--patient", other, NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, short_id));
	said(&r, "listing");
	tu_cli_runv(&r, env, open_argv);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "John Smith"));
	ck_assert_ptr_nonnull(strstr(r.out, "chest clear"));
	ck_assert_ptr_nonnull(strstr(r.err, "; opening "));
	/* the patients listed leave the merged one out */
	snprintf(short_id, sizeof(short_id), "%.12s", other);
	run(&r, "ls", "patient", NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_null(strstr(r.out, short_id));
}
END_TEST

START_TEST(test_cli_follow__add_and_attach_for_a_merged_patient_go_on_the_kept_one)
{
	char id[33], *file = tu_path(dir, "letter.pdf");
	result r;

	run(&r, "add", "allergy", "--patient", other, "substance=penicillin", NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "; adding to "));
	snprintf(id, sizeof(id), "%.32s", r.out);
	run(&r, "show", "--json", id, NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, keep));
	ck_assert_ptr_null(strstr(r.out, other));
	ck_assert_int_eq(tu_write(file, "%PDF-1.4 a letter", 17), 0);
	run(&r, "attach", other, file, NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "; attaching to "));
	snprintf(id, sizeof(id), "%.32s", r.out);
	run(&r, "show", "--json", id, NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, keep));
	free(file);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("cli_follow");
	TCase *tc = tcase_create("follow");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cli_follow__show_of_a_merged_patient_shows_the_kept_one_and_says_so);
	tcase_add_test(tc, test_cli_follow__ls_and_open_of_a_merged_patient_land_on_the_kept_chart);
	tcase_add_test(tc, test_cli_follow__add_and_attach_for_a_merged_patient_go_on_the_kept_one);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return tu_run(suite());
}
