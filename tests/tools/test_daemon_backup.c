/*
 * tools/: the real `chartsync daemon` makes backups on its schedule when
 * backup.dir is set, logs each, and `status` shows the last one.
 */
#include "support/cli.h"
#include "support/daemon.h"
#include "support/testutil.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASS "clinic pass"

static char *dir, *bdir;
static tu_daemon dm;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)

static void setup(void)
{
	dir = tu_cli_setup(PASS);
	bdir = tu_tempdir();
	memset(&dm, 0, sizeof(dm));
}

static void teardown(void)
{
	tu_daemon_free(&dm);
	tu_rmtree(dir);
	tu_rmtree(bdir);
	free(dir);
	free(bdir);
}

static int count_backups(const char *dest)
{
	struct dirent *e;
	DIR *d = opendir(dest);
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int backup_logged(void *arg)
{
	char *log = tu_daemon_log(arg);
	int yes = strstr(log, "backup: made ") != NULL;

	free(log);
	return yes;
}

START_TEST(test_daemon_backup__makes_a_backup_when_backup_dir_is_set)
{
	static const char *const env[] = { "CHARTSYNC_PASSPHRASE=" PASS, NULL };
	char *dest = tu_path(bdir, "b"), *log;
	tu_result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "add", "patient", "name=Ada Lovelace", "mrn=A-1", NULL);
	tu_ck_status(r, 0);
	run(&r, "config", "backup.dir", dest, NULL);
	tu_ck_status(r, 0);
	run(&r, "config", "backup.keep", "3", NULL);
	tu_ck_status(r, 0);
	run(&r, "config", "backup.every", "10s", NULL); /* too often: refused */
	tu_ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "backup.every"));
	run(&r, "config", "backup.dir", "relative/path", NULL);
	tu_ck_status(r, 2);

	tu_daemon_start(&dm, CHARTSYNC_BIN, dir, NULL, bdir, env, 60);
	ck_assert_msg(tu_poll(backup_logged, &dm, 60), "no backup logged");
	ck_assert_int_eq(count_backups(dest), 1);
	tu_daemon_stop(&dm, SIGTERM, 30);
	log = tu_daemon_log(&dm);
	ck_assert_ptr_nonnull(strstr(log, dest));
	free(log);

	/* the backup restores, and status names it */
	run(&r, "status", "--json", NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"backup\":{\"at\":"));
	{
		char *restored = tu_path(bdir, "r");

		run(&r, "restore", dest, restored, NULL);
		tu_ck_status(r, 0);
		free(restored);
	}
	free(dest);
}
END_TEST

static Suite *daemon_backup_suite(void)
{
	Suite *s = suite_create("tools_daemon_backup");
	TCase *tc = tcase_create("backup");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_daemon_backup__makes_a_backup_when_backup_dir_is_set);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(daemon_backup_suite());
}
