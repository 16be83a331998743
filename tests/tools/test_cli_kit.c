/*
 * tools/: `chartsync org recovery-kit` and `chartsync org recover` as a
 * technician runs them: the kit's files (owner-only, never plaintext),
 * the shares typed back with a typo or too few of them, a wrong
 * recovery passphrase, the command line's mistakes (exit 1), and a new
 * store that recovers the organisation and enrolls a device.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PASS "a long recovery passphrase"

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)
#define ck_status tu_ck_status

static char *dir, *top, *archive, *kit;

/* The admin's store (CHARTSYNC_STORE), its organisation and archive. */
static void setup(void)
{
	dir = tu_cli_setup("clinic pass");
	top = tu_tempdir();
	archive = tu_path(top, "archive.git");
	kit = tu_path(top, "kit");
	setenv("CHARTSYNC_RECOVERY_PASSPHRASE", PASS, 1);
	unsetenv("CHARTSYNC_RECOVERY_PASSPHRASE_FILE");
	tu_cli_init_org(CHARTSYNC_BIN, archive);
}

static void teardown(void)
{
	tu_rmtree(dir);
	tu_rmtree(top);
	free(dir);
	free(top);
	free(archive);
	free(kit);
}

static char *share_path(int i)
{
	char name[64];

	snprintf(name, sizeof(name), "recovery-share-%d-of-3.txt", i);
	return tu_path(kit, name);
}

static void make_shares(void)
{
	result r;

	run(&r, "org", "recovery-kit", "--shares", "3", "--threshold", "2", "--out", kit, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "3 shares in"));
	ck_assert_ptr_nonnull(strstr(r.out, "any 2 of which recover it"));
}

/* A new store in TOP/NAME, made with `chartsync init`; its path. */
static char *new_store(const char *name)
{
	char *d = tu_path(top, name);
	result r;

	run(&r, "--store", d, "init", "--user", "rita", "--terminal", name, NULL);
	ck_status(r, 0);
	return d;
}

START_TEST(test_cli_kit__shares_are_owner_only_and_hold_no_secret)
{
	struct stat sb;
	char hit[256];
	result r;
	int i;

	make_shares();
	for (i = 1; i <= 3; i++) {
		char *p = share_path(i);
		char *text;
		size_t len;

		ck_assert_int_eq(stat(p, &sb), 0);
		ck_assert_int_eq(sb.st_mode & 0777, 0600);
		text = (char *)tu_read(p, &len);
		ck_assert_ptr_nonnull(strstr(text, "chartsync recovery share"));
		free(text);
		free(p);
	}
	/* what a secret's plain form would show */
	ck_assert_int_eq(tu_grep_dir(kit, "chartsync-slot", hit, sizeof(hit)), 0);
	ck_assert_int_eq(tu_grep_dir(kit, "keyring", hit, sizeof(hit)), 0);
	ck_assert_int_eq(tu_grep_dir(kit, PASS, hit, sizeof(hit)), 0);
	/* the kit whole goes to standard output without --out */
	run(&r, "org", "recovery-kit", NULL);
	ck_status(r, 0);
	ck_assert_ptr_eq(strstr(r.out, "chartsync recovery kit, format 1\n"), r.out);
}
END_TEST

START_TEST(test_cli_kit__the_command_line_mistakes_exit_1)
{
	result r;

	run(&r, "org", "recovery-kit", "--shares", "3", "--out", kit, NULL);
	ck_status(r, 1);
	run(&r, "org", "recovery-kit", "--shares", "3", "--threshold", "4", "--out", kit, NULL);
	ck_status(r, 1);
	run(&r, "org", "recovery-kit", "--shares", "3", "--threshold", "1", "--out", kit, NULL);
	ck_status(r, 1);
	run(&r, "org", "recovery-kit", "--shares", "three", "--threshold", "2", NULL);
	ck_status(r, 1);
	run(&r, "org", "recovery-kit", "--shares", "3", "--threshold", "2", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "--out DIR"));
	run(&r, "org", "recover", NULL);
	ck_status(r, 1);
	run(&r, "org", "recover", "--frobnicate", "x", NULL);
	ck_status(r, 1);
	run(&r, "org", "recovery-kit", "--help", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "--threshold K"));
	/* a short passphrase is the library's refusal: 2 */
	setenv("CHARTSYNC_RECOVERY_PASSPHRASE", "short", 1);
	run(&r, "org", "recovery-kit", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "too short"));
}
END_TEST

START_TEST(test_cli_kit__typos_too_few_shares_and_a_wrong_passphrase_are_refused)
{
	char *s1 = share_path(1), *s2 = share_path(2), *bad = tu_path(top, "typed.txt");
	char *fresh, *text, *p;
	size_t len;
	result r;

	make_shares();
	fresh = new_store("fresh");
	/* share 2 typed back with one character wrong on its line 4 */
	text = (char *)tu_read(s2, &len);
	p = strstr(text, "\nline 4: ") + strlen("\nline 4: ");
	*p = *p == '0' ? '1' : '0';
	ck_assert_int_eq(tu_write(bad, text, len), 0);
	free(text);
	run(&r, "--store", fresh, "org", "recover", s1, bad, "--archive", archive, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "share 2, line 4 does not match its check: retype it"));
	/* one share of the two needed */
	run(&r, "--store", fresh, "org", "recover", s1, "--archive", archive, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "1 of the 2 shares needed were given"));
	/* the right shares, the wrong passphrase */
	setenv("CHARTSYNC_RECOVERY_PASSPHRASE", "a long recovery passphrasE", 1);
	run(&r, "--store", fresh, "org", "recover", s1, s2, "--archive", archive, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "wrong recovery passphrase"));
	/* none of it touched the store */
	run(&r, "--store", fresh, "device", "list", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "not part of an organisation"));
	tu_rmtree(fresh);
	free(fresh);
	free(bad);
	free(s1);
	free(s2);
}
END_TEST

START_TEST(test_cli_kit__a_new_store_recovers_and_enrolls)
{
	static result r;
	static char line[sizeof(r.out)];
	char *s1 = share_path(1), *s3 = share_path(3), *rec, *clinic, *nl, *passfile;

	make_shares();
	tu_rmtree(dir); /* the admin's laptop is lost */
	rec = new_store("recovered");
	/* the passphrase from a file this time */
	passfile = tu_path(top, "recovery-pass");
	ck_assert_int_eq(tu_write(passfile, PASS "\n", strlen(PASS) + 1), 0);
	unsetenv("CHARTSYNC_RECOVERY_PASSPHRASE");
	run(&r, "--store", rec, "org", "recover", s3, s1, "--archive", archive, "--site",
	    "central", "--passphrase-file", passfile, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "recovered: this store"));
	ck_assert_ptr_nonnull(strstr(r.out, "revoke its device"));
	run(&r, "--store", rec, "device", "list", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "archivist central  (this store)"));
	/* it enrolls a new clinic, which then syncs */
	clinic = new_store("clinic-c");
	run(&r, "--store", clinic, "remote", archive, NULL);
	ck_status(r, 0);
	run(&r, "--store", clinic, "device", "request", NULL);
	ck_status(r, 0);
	snprintf(line, sizeof(line), "%s", r.out);
	if ((nl = strchr(line, '\n')))
		*nl = '\0';
	run(&r, "--store", rec, "device", "enroll", line, "--site", "Clinic C", "--role",
	    "clinic", NULL);
	ck_status(r, 0);
	run(&r, "--store", rec, "sync", NULL);
	ck_status(r, 0);
	run(&r, "--store", clinic, "sync", NULL);
	ck_status(r, 0);
	tu_rmtree(rec);
	tu_rmtree(clinic);
	free(rec);
	free(clinic);
	free(passfile);
	free(s1);
	free(s3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools-cli-kit");
	TCase *tc = tcase_create("kit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cli_kit__shares_are_owner_only_and_hold_no_secret);
	tcase_add_test(tc, test_cli_kit__the_command_line_mistakes_exit_1);
	tcase_add_test(tc, test_cli_kit__typos_too_few_shares_and_a_wrong_passphrase_are_refused);
	tcase_add_test(tc, test_cli_kit__a_new_store_recovers_and_enrolls);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
