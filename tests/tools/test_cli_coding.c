/*
 * tools/: confirm, code, fees, codes and export claims, driven through the
 * real chartsync binary: exit 1 for a malformed command line, 2 for input
 * refused, 0 when done.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)
#define ck_status tu_ck_status

static void setup(void)
{
	dir = tu_cli_setup("clinic pass");
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

/* alice made the store; bob is a second technician. */
static void two_users(void)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	setenv("CHARTSYNC_NEW_PASSPHRASE", "bob pass", 1);
	run(&r, "user", "add", "bob", "--user", "alice", NULL);
	ck_status(r, 0);
	setenv("CHARTSYNC_USER", "alice", 1);
}

static void as_bob(void)
{
	setenv("CHARTSYNC_USER", "bob", 1);
	setenv("CHARTSYNC_PASSPHRASE", "bob pass", 1);
}

static void add(char id[33], ...)
{
	const char *a[12] = { NULL };
	va_list ap;
	result r;
	int n = 0;

	va_start(ap, id);
	while ((a[n] = va_arg(ap, const char *)) != NULL && n < 10)
		n++;
	va_end(ap);
	run(&r, "add", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], NULL);
	ck_status(r, 0);
	ck_assert_uint_eq(strlen(r.out), 33);
	memcpy(id, r.out, 32);
	id[32] = '\0';
}

static char *write_tmp(const char *name, const char *text)
{
	char *p = tu_path(dir, name);

	ck_assert_int_eq(tu_write(p, text, strlen(text)), 0);
	return p;
}

START_TEST(test_cli_coding__malformed_command_lines_exit_1)
{
	const char *helps[] = { "confirm", "code", "fees", "codes", "export" };
	result r;
	size_t i;

	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "confirm", NULL);
	ck_status(r, 1);
	run(&r, "code", NULL);
	ck_status(r, 1);
	run(&r, "code", "bill", "x", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "'bill' is not a 'code' command"));
	run(&r, "code", "send", NULL);
	ck_status(r, 1);
	run(&r, "code", "assign", "abcd", NULL);
	ck_status(r, 1);
	run(&r, "code", "assign", "abcd", "--modifier", "25", "--icd", "R05.9", NULL);
	ck_status(r, 1);
	run(&r, "code", "assign", "abcd", "--cpt", "99213", "R05.9", NULL);
	ck_status(r, 1);
	run(&r, "code", "send", "abcd", "--cpt", "99213", NULL);
	ck_status(r, 1);
	run(&r, "code", "queue", "extra", NULL);
	ck_status(r, 1);
	run(&r, "fees", "import", NULL);
	ck_status(r, 1);
	run(&r, "fees", "load", "x.csv", NULL);
	ck_status(r, 1);
	run(&r, "codes", "import", NULL);
	ck_status(r, 1);
	run(&r, "export", NULL);
	ck_status(r, 1);
	run(&r, "export", "everything", NULL);
	ck_status(r, 1);
	run(&r, "export", "claims", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "--since"));
	run(&r, "export", "claims", "--since", NULL);
	ck_status(r, 1);
	run(&r, "ls", "patient", "--unconfirmed", NULL);
	ck_status(r, 1);
	for (i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		run(&r, helps[i], "--help", NULL);
		ck_status(r, 0);
		ck_assert_msg(strncmp(r.out, "usage: chartsync ", 17) == 0, "%s --help: %s",
			      helps[i], r.out);
	}
	run(&r, "export", "claims", "--help", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "usage: chartsync export claims"));
}
END_TEST

START_TEST(test_cli_coding__confirm_by_a_colleague_and_unconfirmed_list)
{
	char pat[33], visit[33];
	result r;

	two_users();
	add(pat, "patient", "name=Ada Byron", "mrn=A-1", NULL);
	add(visit, "encounter", "--patient", pat, "date=2024-03-15", NULL);
	run(&r, "confirm", pat, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "a colleague must confirm it"));
	run(&r, "ls", "--unconfirmed", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "patient"));
	ck_assert_ptr_nonnull(strstr(r.out, "encounter"));

	as_bob();
	run(&r, "confirm", pat, "--note", "checked against the chart", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "confirmed 1 record"));
	run(&r, "show", pat, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "confirmed by bob at front-desk"));
	run(&r, "show", pat, "--json", NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "\"confirmed\":{\"by\":\"bob\""));
	run(&r, "ls", "--unconfirmed", "--patient", pat, "--json", NULL);
	ck_status(r, 0);
	ck_assert_ptr_null(strstr(r.out, "\"type\":\"patient\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"type\":\"encounter\""));
	run(&r, "show", visit, NULL);
	ck_assert_ptr_nonnull(strstr(r.out, "not confirmed"));
	run(&r, "add", "confirmation", "record=x", "change=y", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "chartsync confirm"));
}
END_TEST

#define FEES "code,description,fee,effective\n" \
	     "99213,\"Office visit, established\",125.00,2024-01-01\n"

START_TEST(test_cli_coding__fees_codes_queue_and_claims)
{
	char pat[33], visit[33], proc[33], *fees, *bad, *icd, *out;
	unsigned char *csv;
	size_t len = 0;
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	fees = write_tmp("fees.csv", FEES);
	bad = write_tmp("bad.csv", FEES "99214,Visit,12,50,2024-01-01\n");
	icd = tu_path(CHARTSYNC_SOURCE_DIR, "data/codes/icd10cm-sample.txt");
	out = tu_path(dir, "claims.csv");
	run(&r, "fees", "import", bad, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "line 3 has 5 columns"));
	ck_assert_ptr_nonnull(strstr(r.err, "nothing was imported"));
	run(&r, "fees", "import", fees, "--site", "Clinic of the Northern Valley, Building C,"
	    " Second Floor, East Wing", NULL);
	ck_status(r, 1); /* an option's value of the wrong form */
	ck_assert_ptr_nonnull(strstr(r.err, "at most 64 bytes"));
	run(&r, "fees", "import", fees, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "imported 1 fee lines"));
	run(&r, "codes", "import", icd, NULL);
	ck_status(r, 0);
	run(&r, "codes", "import", fees, "--system", "snomed", NULL);
	ck_status(r, 1); /* a fixed list's value of the wrong form */

	add(pat, "patient", "name=Ada Byron", "mrn=A-1", NULL);
	add(visit, "encounter", "--patient", pat, "date=2024-03-15", NULL);
	run(&r, "code", "assign", visit, "--cpt", "99213", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "not in the coding queue"));
	run(&r, "code", "send", visit, NULL);
	ck_status(r, 0);
	run(&r, "code", "send", visit, NULL);
	ck_status(r, 2);
	run(&r, "code", "queue", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Ada Byron (A-1)"));
	run(&r, "code", "assign", visit, "--cpt", "99213", "--modifier", "25", "--icd", "R05.9",
	    "Z99.89", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "fee $125.00"));
	ck_assert_ptr_nonnull(strstr(r.err, "warning: ICD-10-CM code Z99.89 is not in the imported"));
	run(&r, "code", "assign", visit, "--icd", "E11-9", NULL);
	ck_status(r, 2);
	/* the same code again bills it twice: refused, nothing saved */
	run(&r, "code", "assign", visit, "--cpt", "99213", "--modifier", "25", NULL);
	ck_status(r, 2);
	ck_assert_msg(strstr(r.err, "procedure 99213 with modifier 25 is on visit"), "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "would bill it twice"));
	/* a code first added by hand, then assigned */
	add(proc, "procedure", "--patient", pat, "--encounter", visit, "cpt=99214", NULL);
	run(&r, "code", "assign", visit, "--cpt", "99214", NULL);
	ck_status(r, 2);
	ck_assert_msg(strstr(r.err, "procedure 99214 is on visit"), "%s", r.err);
	run(&r, "rm", proc, NULL);
	ck_status(r, 0);
	run(&r, "code", "done", visit, NULL);
	ck_status(r, 0);
	run(&r, "code", "queue", "--json", NULL);
	ck_status(r, 0);
	ck_assert_str_eq(r.out, "[]\n");

	run(&r, "export", "claims", "--since", "2024-01-01", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, ",99213,25,R05.9 Z99.89,125.00,done\r\n"));
	run(&r, "export", "claims", "--since", "2024-01-01", "--csv", out, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(csv = tu_read(out, &len));
	ck_assert_ptr_nonnull(strstr((char *)csv, "Ada Byron"));
	free(csv);
	run(&r, "export", "claims", "--since", "March", NULL);
	ck_status(r, 1); /* a bad date in --since: usage, as in report access */
	free(fees);
	free(bad);
	free(icd);
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools-cli-coding");
	TCase *tc = tcase_create("cli-coding");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cli_coding__malformed_command_lines_exit_1);
	tcase_add_test(tc, test_cli_coding__confirm_by_a_colleague_and_unconfirmed_list);
	tcase_add_test(tc, test_cli_coding__fees_codes_queue_and_claims);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
