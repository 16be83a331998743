/*
 * tools/: the store's own commands as a technician runs them - what
 * `verify` and `status` say about a damaged or checked store, `rekey` and
 * `user rm --rekey`. Every test runs the real binary against a real store
 * in a temporary folder.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)
#define ck_status tu_ck_status
#define PAGE 4096

static void setup(void)
{
	dir = tu_cli_setup("clinic pass");
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

/* A store with a few records in it, all in store.db (the CLI checkpoints
 * when it closes). */
static void store_with_records(void)
{
	result r;
	int i;

	tu_cli_init_store(CHARTSYNC_BIN);
	for (i = 0; i < 5; i++) {
		char mrn[32];

		snprintf(mrn, sizeof(mrn), "mrn=A-%d", 1000 + i);
		run(&r, "add", "patient", "name=Ada Lovelace", "dob=1980-02-03", mrn,
		    NULL);
		ck_status(r, 0);
	}
}

/* ---- verify reads every page ---- */

/* A page anywhere in the store that no longer decrypts makes `verify`
 * fail with "damaged" instead of printing a state hash, whichever table
 * or index the page belongs to. */
START_TEST(test_cli_store__verify_fails_on_any_damaged_page)
{
	char *db = tu_path(dir, "store.db");
	long pages, p;
	result r;

	store_with_records();
	run(&r, "verify", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "state "));
	pages = tu_file_size(db) / PAGE;
	ck_assert_int_gt(pages, 3);
	for (p = 0; p < pages; p++) {
		tu_flip_bit(db, p * PAGE + 100, 2);
		run(&r, "verify", NULL);
		ck_assert_msg(r.status == 2, "page %ld damaged, verify exit %d: %s", p + 1,
			      r.status, r.out);
		ck_assert_msg(strstr(r.err, "damaged"), "page %ld: %s", p + 1, r.err);
		ck_assert_ptr_null(strstr(r.out, "state "));
		tu_flip_bit(db, p * PAGE + 100, 2); /* mended */
	}
	run(&r, "verify", NULL);
	ck_status(r, 0);
	free(db);
}
END_TEST

/* ---- status says when check last ran ---- */

START_TEST(test_cli_store__status_says_when_check_last_found_the_store_intact)
{
	char *db = tu_path(dir, "store.db");
	result r;

	store_with_records();
	run(&r, "status", NULL);
	ck_status(r, 0);
	ck_assert_msg(strstr(r.out, "checked:  never"), "%s", r.out);
	run(&r, "status", "--json", NULL);
	ck_assert_msg(strstr(r.out, "\"checked\":null"), "%s", r.out);
	run(&r, "check", NULL);
	ck_status(r, 0);
	run(&r, "status", NULL);
	ck_status(r, 0);
	ck_assert_msg(strstr(r.out, "checked:  20"), "%s", r.out);
	ck_assert_ptr_null(strstr(r.out, "never"));
	run(&r, "status", "--json", NULL);
	ck_assert_msg(strstr(r.out, "\"checked\":\"20"), "%s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "Z\""));
	free(db);
}
END_TEST

static Suite *cli_store_suite(void)
{
	Suite *s = suite_create("tools_cli_store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cli_store__verify_fails_on_any_damaged_page);
	tcase_add_test(tc, test_cli_store__status_says_when_check_last_found_the_store_intact);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(cli_store_suite());
}
