/*
 * tools/: `chartsync patient merge|unmerge`, driven through the real
 * binary: exit 1 for a malformed command line, 2 for a merge refused,
 * 0 when done, and what a technician reads on the way.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)
#define ck_status tu_ck_status

static void setup(void)
{
	dir = tu_cli_setup("clinic pass");
	tu_cli_init_store(CHARTSYNC_BIN);
	setenv("CHARTSYNC_USER", "alice", 1);
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

static void id_of(const result *r, char id[33])
{
	ck_assert_uint_eq(strlen(r->out), 33);
	memcpy(id, r->out, 32);
	id[32] = '\0';
}

static void patient(const char *name, const char *mrn, char id[33])
{
	char n[256], m[64];
	result r;

	snprintf(n, sizeof(n), "name=%s", name);
	snprintf(m, sizeof(m), "mrn=%s", mrn);
	run(&r, "add", "patient", n, m, "dob=1970-01-01", NULL);
	ck_status(r, 0);
	id_of(&r, id);
}

START_TEST(test_cli_patient__malformed_command_lines_exit_1)
{
	result r;

	run(&r, "patient", NULL);
	ck_status(r, 1);
	run(&r, "patient", "join", "abcd", "abce", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "'join' is not a patient command"));
	run(&r, "patient", "merge", "abcd", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "give two patients' ids"));
	run(&r, "patient", "merge", "abcd", "abce", "abcf", NULL);
	ck_status(r, 1);
	run(&r, "patient", "merge", "abcd", "abce", "--frob", NULL);
	ck_status(r, 1);
	run(&r, "patient", "merge", "abcd", "abce", "--note", NULL);
	ck_status(r, 1);
	run(&r, "patient", "unmerge", "abcd", NULL);
	ck_status(r, 1);
	run(&r, "patient", "unmerge", "abcd", "abce", "--note", "x", NULL);
	ck_status(r, 1);
	run(&r, "patient", "--help", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "merge"));
	run(&r, "patient", "merge", "--help", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "review resolve"));
}
END_TEST

START_TEST(test_cli_patient__merge_and_unmerge)
{
	char keep[33], other[33], note[33], link[33];
	json_t *j;
	result r;

	patient("John Smith", "X-1", keep);
	patient("Jon Smith", "X-2", other);
	run(&r, "add", "note", "text=Seen today", "--patient", other, NULL);
	ck_status(r, 0);
	id_of(&r, note);

	run(&r, "patient", "merge", keep, other, "--note", "same person", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "1 record moved"));
	ck_assert_ptr_nonnull(strstr(r.out, "under review"));
	ck_assert_ptr_nonnull(strstr(r.out, "name, mrn"));
	run(&r, "show", note, "--json", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, keep));

	/* again: nothing new */
	run(&r, "patient", "merge", keep, other, "--json", NULL);
	ck_status(r, 0);
	j = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "moved")), 0);
	ck_assert(json_is_null(json_object_get(j, "act")));
	snprintf(link, sizeof(link), "%s", json_string_value(json_object_get(j, "link")));
	json_decref(j);

	/* the verdict is the patient command's to change */
	run(&r, "review", "resolve", link, "--take", "abcd", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "chartsync patient merge"));

	run(&r, "patient", "unmerge", keep, other, "--json", NULL);
	ck_status(r, 0);
	j = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "moved")), 1);
	json_decref(j);
	run(&r, "patient", "unmerge", keep, other, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "is not merged into"));
}
END_TEST

START_TEST(test_cli_patient__refusals_exit_2)
{
	char keep[33], other[33], note[33];
	result r;

	patient("John Smith", "X-1", keep);
	patient("Jon Smith", "X-2", other);
	run(&r, "add", "note", "text=Seen today", "--patient", other, NULL);
	ck_status(r, 0);
	id_of(&r, note);
	run(&r, "patient", "merge", keep, keep, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "into itself"));
	run(&r, "patient", "merge", keep, note, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "not a patient"));
	run(&r, "patient", "merge", keep, "ffffffff", NULL);
	ck_status(r, 2);
	run(&r, "patient", "merge", keep, "xyz!", NULL);
	ck_status(r, 2);

	/* a technician who is not an admin of this clinic's store */
	setenv("CHARTSYNC_NEW_PASSPHRASE", "bob pass", 1);
	run(&r, "user", "add", "bob", NULL);
	ck_status(r, 0);
	setenv("CHARTSYNC_USER", "bob", 1);
	setenv("CHARTSYNC_PASSPHRASE", "bob pass", 1);
	run(&r, "patient", "merge", keep, other, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "only an archivist, or an admin"));
}
END_TEST

START_TEST(test_cli_patient__not_the_same_person)
{
	char a[33], b[33];
	result r;

	patient("John Smith", "X-1", a);
	patient("Jon Smith", "X-2", b);
	run(&r, "patient", "distinct", a, NULL);
	ck_status(r, 1);
	run(&r, "patient", "distinct", a, b, "--frob", NULL);
	ck_status(r, 1);
	run(&r, "patient", "distinct", a, b, "--note", "twins", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "not the same person"));
	run(&r, "patient", "merge", a, b, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "not the same person"));
	run(&r, "patient", "distinct", "--clear", a, b, NULL);
	ck_status(r, 0);
	run(&r, "patient", "merge", a, b, NULL);
	ck_status(r, 0);
	/* a merged pair is unmerged first */
	run(&r, "patient", "distinct", a, b, NULL);
	ck_status(r, 2);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tools_cli_patient");
	TCase *tc = tcase_create("patient");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cli_patient__malformed_command_lines_exit_1);
	tcase_add_test(tc, test_cli_patient__merge_and_unmerge);
	tcase_add_test(tc, test_cli_patient__refusals_exit_2);
	tcase_add_test(tc, test_cli_patient__not_the_same_person);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
