/*
 * tools/: confirm, code, fees, codes and export claims, driven through the
 * real chartsync binary: exit 1 for a malformed command line, 2 for input
 * refused, 0 when done.
 */
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

typedef struct result {
	int status; /* exit code, or 128+signal */
	char out[16384];
	char err[16384];
} result;

static void setup(void)
{
	dir = tu_tempdir();
	setenv("CHARTSYNC_STORE", dir, 1);
	setenv("CHARTSYNC_PASSPHRASE", "clinic pass", 1);
	unsetenv("CHARTSYNC_PASSPHRASE_FILE");
	unsetenv("CHARTSYNC_NEW_PASSPHRASE");
	unsetenv("CHARTSYNC_NEW_PASSPHRASE_FILE");
	unsetenv("CHARTSYNC_USER");
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

static void drain(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);

	if (n > 0)
		*len += (size_t)n;
	buf[*len] = '\0';
}

/* Run chartsync with the given arguments (NULL-terminated); no terminal,
 * so passphrases come from the environment. */
static void run(result *r, ...)
{
	const char *argv[32];
	int out[2], err[2], n = 1, status;
	size_t olen = 0, elen = 0;
	va_list ap;
	pid_t pid;

	argv[0] = CHARTSYNC_BIN;
	va_start(ap, r);
	while ((argv[n] = va_arg(ap, const char *)) != NULL && n < 30)
		n++;
	va_end(ap);
	argv[n] = NULL;
	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		setsid(); /* no controlling terminal: never prompt */
		dup2(nul, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(CHARTSYNC_BIN, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	for (;;) {
		struct pollfd p[2] = { { out[0], POLLIN, 0 }, { err[0], POLLIN, 0 } };

		if (poll(p, 2, -1) < 0)
			break;
		if (p[0].revents)
			drain(out[0], r->out, sizeof(r->out), &olen);
		if (p[1].revents)
			drain(err[0], r->err, sizeof(r->err), &elen);
		if ((p[0].revents & POLLHUP) && !(p[0].revents & POLLIN) &&
		    (p[1].revents & POLLHUP) && !(p[1].revents & POLLIN))
			break;
	}
	r->out[olen] = r->err[elen] = '\0';
	close(out[0]);
	close(err[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define ck_status(r, code) \
	ck_assert_msg((r).status == (code), "exit %d, wanted %d; stderr: %s", \
		      (r).status, (code), (r).err)

static void init_store(void)
{
	result r;

	run(&r, "init", "--user", "alice", "--terminal", "front-desk", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "created store"));
}

/* alice made the store; bob is a second technician. */
static void two_users(void)
{
	result r;

	init_store();
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

	init_store();
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
	char pat[33], visit[33], *fees, *bad, *icd, *out;
	unsigned char *csv;
	size_t len = 0;
	result r;

	init_store();
	fees = write_tmp("fees.csv", FEES);
	bad = write_tmp("bad.csv", FEES "99214,Visit,12,50,2024-01-01\n");
	icd = tu_path(CHARTSYNC_SOURCE_DIR, "data/codes/icd10cm-sample.txt");
	out = tu_path(dir, "claims.csv");
	run(&r, "fees", "import", bad, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "line 3 has 5 columns"));
	ck_assert_ptr_nonnull(strstr(r.err, "nothing was imported"));
	run(&r, "fees", "import", fees, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "imported 1 fee lines"));
	run(&r, "codes", "import", icd, NULL);
	ck_status(r, 0);
	run(&r, "codes", "import", fees, "--system", "snomed", NULL);
	ck_status(r, 2);

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
	ck_status(r, 2);
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
