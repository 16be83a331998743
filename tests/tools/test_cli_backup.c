/*
 * tools/: `chartsync backup` and `chartsync restore` as a technician runs
 * them - a backup taken while another process writes holds a state the
 * store really had, an unchanged store writes nothing, --keep and
 * --verify, a restore that gives back the same records, damaged backups
 * and used folders refused with nothing made, and no plaintext in a
 * backup. Every test runs the real binary against real stores.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MARKER "ZEBRAQUAGGA"
#define PAGE 4096

static char *dir;  /* the store (CHARTSYNC_STORE) */
static char *bdir; /* backups and restored stores */

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)
#define ck_status tu_ck_status

static void setup(void)
{
	dir = tu_cli_setup("clinic pass");
	bdir = tu_tempdir();
}

static void teardown(void)
{
	tu_rmtree(dir);
	tu_rmtree(bdir);
	free(dir);
	free(bdir);
}

/* Run the CLI on another store folder. */
static void run_in(result *r, const char *store, const char *a1, const char *a2)
{
	char env[4096];
	const char *envv[] = { env, NULL };
	const char *argv[] = { CHARTSYNC_BIN, a1, a2, NULL };

	snprintf(env, sizeof(env), "CHARTSYNC_STORE=%s", store);
	tu_cli_runv(r, envv, argv);
}

static void add_patient(int n)
{
	char name[64], mrn[32];
	result r;

	snprintf(name, sizeof(name), "name=%s %d", MARKER, n);
	snprintf(mrn, sizeof(mrn), "mrn=M-%05d", n);
	run(&r, "add", "patient", name, mrn, NULL);
	ck_status(r, 0);
}

/* The whole backups in `dest`, oldest first (names sort by time). */
static int backups(const char *dest, char names[][64], int max)
{
	struct dirent *e;
	DIR *d = opendir(dest);
	int n = 0, i, j;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(names[n++], 64, "%.63s", e->d_name);
	}
	closedir(d);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[64];

			memcpy(t, names[j], 64);
			memcpy(names[j], names[j - 1], 64);
			memcpy(names[j - 1], t, 64);
		}
	return n;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* How many records M-00001.. M-k the listing holds, checking that they
 * are exactly a prefix: none missing below k, none above. */
static int prefix_len(const char *listing)
{
	char mrn[32];
	int k = 0, i;

	for (;;) {
		snprintf(mrn, sizeof(mrn), "M-%05d", k + 1);
		if (!strstr(listing, mrn))
			break;
		k++;
	}
	for (i = k + 2; i < k + 2000; i++) {
		snprintf(mrn, sizeof(mrn), "M-%05d", i);
		ck_assert_msg(!strstr(listing, mrn), "record %d present but %d missing", i, k + 1);
	}
	return k;
}

static int committed_count(const char *log)
{
	size_t len = 0;
	unsigned char *t = tu_read(log, &len);
	int n = 0;
	size_t i;

	for (i = 0; t && i < len; i++)
		n += t[i] == '\n';
	free(t);
	return n;
}

/* ---- a backup while another process writes ---- */

/* A real chartsync process adds patients in a loop, logging each one that
 * `add` reported committed; backups taken meanwhile open, pass `check`,
 * and hold exactly the first k patients for a k between what was
 * committed when the backup started and when it ended. */
START_TEST(test_cli_backup__while_another_process_writes_holds_a_real_state)
{
	char *log = tu_path(bdir, "committed"), *stop = tu_path(bdir, "stop");
	char *dest = tu_path(bdir, "b"), names[8][64], script[8192];
	int before[4], after[4], i, n, k, status;
	struct timespec t0, now;
	result r;
	pid_t writer;

	tu_cli_init_store(CHARTSYNC_BIN);
	snprintf(script, sizeof(script),
		 "i=0; while [ ! -e '%s' ]; do i=$((i+1));"
		 " '%s' add patient \"name=%s $i\" \"mrn=M-$(printf %%05d $i)\" >/dev/null || exit 3;"
		 " echo $i >> '%s'; done",
		 stop, CHARTSYNC_BIN, MARKER, log);
	writer = fork();
	ck_assert_int_ge(writer, 0);
	if (writer == 0) {
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	/* wait (with a deadline) until the writer is under way */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (committed_count(log) < 3) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ck_assert_msg(now.tv_sec - t0.tv_sec < 60, "the writer never committed");
		nap_ms(20);
	}
	for (i = 0; i < 3; i++) {
		before[i] = committed_count(log);
		run(&r, "backup", dest, "--verify", NULL);
		after[i] = committed_count(log);
		ck_status(r, 0);
		ck_assert_ptr_nonnull(strstr(r.out, "verified"));
		/* let the writer commit some more before the next one */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (committed_count(log) < after[i] + 2) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			ck_assert_msg(now.tv_sec - t0.tv_sec < 120, "the writer stalled");
			nap_ms(20);
		}
	}
	tu_write(stop, "", 0);
	ck_assert_int_eq(waitpid(writer, &status, 0), writer);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer status %d", status);

	n = backups(dest, names, 8);
	ck_assert_int_eq(n, 3);
	for (i = 0; i < n; i++) {
		char *src = tu_path(dest, names[i]), rname[16], *restored;

		snprintf(rname, sizeof(rname), "r%d", i);
		restored = tu_path(bdir, rname);
		run(&r, "restore", src, restored, NULL);
		ck_status(r, 0);
		run_in(&r, restored, "check", NULL);
		ck_status(r, 0);
		run_in(&r, restored, "ls", NULL);
		ck_status(r, 0);
		k = prefix_len(r.out);
		/* an add logged before the backup started is in it; one not
		 * yet committed when it ended cannot be (+1: the add whose
		 * commit came before its log line) */
		ck_assert_msg(k >= before[i] && k <= after[i] + 1,
			      "backup %d holds %d patients; %d were committed before it, %d after",
			      i, k, before[i], after[i]);
		free(src);
		free(restored);
	}
	free(log);
	free(stop);
	free(dest);
}
END_TEST

/* ---- cheap to repeat ---- */

START_TEST(test_cli_backup__an_unchanged_store_writes_nothing)
{
	char *dest = tu_path(bdir, "b"), names[8][64], *id = NULL;
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	add_patient(1);
	run(&r, "backup", dest, NULL);
	ck_status(r, 0);
	ck_assert_int_eq(backups(dest, names, 8), 1);
	run(&r, "backup", dest, "--json", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"unchanged\":true"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"bytes\":0"));
	run(&r, "backup", dest, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "nothing written"));
	ck_assert_int_eq(backups(dest, names, 8), 1);
	/* a new record is a change */
	add_patient(2);
	run(&r, "backup", dest, "--json", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"unchanged\":false"));
	ck_assert_int_eq(backups(dest, names, 8), 2);
	/* so is reading a chart: it writes an access event */
	run(&r, "ls", "--json", NULL);
	ck_status(r, 0);
	id = strstr(r.out, "\"id\":\"");
	ck_assert_ptr_nonnull(id);
	id = strndup(id + 6, 32);
	run(&r, "show", id, NULL);
	ck_status(r, 0);
	run(&r, "backup", dest, NULL);
	ck_status(r, 0);
	ck_assert_ptr_null(strstr(r.out, "nothing written"));
	ck_assert_int_eq(backups(dest, names, 8), 3);
	free(id);
	free(dest);
}
END_TEST

START_TEST(test_cli_backup__keep_removes_the_oldest)
{
	char *dest = tu_path(bdir, "b"), names[8][64], kept[8][64];
	result r;
	int i;

	tu_cli_init_store(CHARTSYNC_BIN);
	for (i = 0; i < 4; i++) {
		add_patient(i + 1);
		run(&r, "backup", dest, NULL);
		ck_status(r, 0);
	}
	ck_assert_int_eq(backups(dest, names, 8), 4);
	add_patient(5);
	run(&r, "backup", dest, "--keep", "2", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "removed 3 old backups"));
	ck_assert_int_eq(backups(dest, kept, 8), 2);
	ck_assert_str_eq(kept[0], names[3]); /* the newest before, and the new one */
	ck_assert_str_gt(kept[1], names[3]);
	/* malformed --keep: a usage error */
	run(&r, "backup", dest, "--keep", "many", NULL);
	ck_status(r, 1);
	run(&r, "backup", dest, "--keep", "0", NULL);
	ck_status(r, 1);
	run(&r, "backup", NULL);
	ck_status(r, 1);
	free(dest);
}
END_TEST

/* ---- restore ---- */

START_TEST(test_cli_backup__restore_gives_back_the_same_store)
{
	char *dest = tu_path(bdir, "b"), *restored = tu_path(bdir, "r"), listing[16384];
	char status_dev[256], *p;
	result r;
	int i;

	tu_cli_init_store(CHARTSYNC_BIN);
	for (i = 0; i < 5; i++)
		add_patient(i + 1);
	run(&r, "status", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "backup:   none yet"));
	p = strstr(r.out, "device:");
	ck_assert_ptr_nonnull(p);
	snprintf(status_dev, sizeof(status_dev), "%.*s", (int)(strchr(p, '\n') - p), p);
	run(&r, "backup", dest, "--verify", NULL);
	ck_status(r, 0);
	run(&r, "status", "--json", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"backup\":{\"at\":"));
	ck_assert_ptr_nonnull(strstr(r.out, "/b/20"));
	run(&r, "ls", NULL);
	ck_status(r, 0);
	snprintf(listing, sizeof(listing), "%s", r.out);
	/* changes after the backup are not in it */
	add_patient(6);

	run(&r, "restore", dest, restored, NULL); /* DEST: its newest backup */
	ck_status(r, 0);
	ck_assert_int_eq(tu_count_entries(restored), 2); /* store.db and keyslots only */
	run_in(&r, restored, "ls", NULL);
	ck_status(r, 0);
	ck_assert_str_eq(r.out, listing);
	run_in(&r, restored, "status", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, status_dev)); /* the same device */
	free(dest);
	free(restored);
}
END_TEST

/* Stores may share a DEST: a restore of DEST then asks which store, and
 * never takes the newest backup of whichever store made one last. */
START_TEST(test_cli_backup__restore_of_a_shared_dest_asks_which_store)
{
	char *dest = tu_path(bdir, "b"), *other = tu_path(bdir, "other");
	char *restored = tu_path(bdir, "r"), *first, names[4][64], dev[256], *p;
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	add_patient(1);
	run(&r, "status", NULL);
	ck_status(r, 0);
	p = strstr(r.out, "device:");
	ck_assert_ptr_nonnull(p);
	snprintf(dev, sizeof(dev), "%.*s", (int)(strchr(p, '\n') - p), p);
	run(&r, "backup", dest, NULL);
	ck_status(r, 0);
	run_in(&r, other, "init", NULL);
	ck_status(r, 0);
	run_in(&r, other, "backup", dest);
	ck_status(r, 0);
	ck_assert_int_eq(backups(dest, names, 4), 2);

	run(&r, "restore", dest, restored, NULL);
	ck_status(r, 2);
	ck_assert_msg(strstr(r.err, "holds the backups of 2 stores"), "%s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, names[0]));
	ck_assert_ptr_nonnull(strstr(r.err, names[1]));
	ck_assert_int_eq(access(restored, F_OK), -1);
	/* the backup named is the one restored */
	first = tu_path(dest, names[0]);
	run(&r, "restore", first, restored, NULL);
	ck_status(r, 0);
	run_in(&r, restored, "status", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, dev));
	free(first);
	free(restored);
	free(other);
	free(dest);
}
END_TEST

START_TEST(test_cli_backup__restore_refuses_a_folder_in_use)
{
	char *dest = tu_path(bdir, "b"), *other = tu_path(bdir, "other"), *f;
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	add_patient(1);
	run(&r, "backup", dest, NULL);
	ck_status(r, 0);
	/* the store itself */
	run(&r, "restore", dest, dir, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "already holds a store"));
	run(&r, "ls", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "M-00001"));
	/* a folder with other files */
	mkdir(other, 0700);
	f = tu_path(other, "notes.txt");
	tu_write(f, "x", 1);
	run(&r, "restore", dest, other, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "not empty"));
	ck_assert_int_eq(tu_count_entries(other), 1);
	/* an empty folder is fine */
	unlink(f);
	run(&r, "restore", dest, other, NULL);
	ck_status(r, 0);
	/* malformed */
	run(&r, "restore", dest, NULL);
	ck_status(r, 1);
	free(f);
	free(dest);
	free(other);
}
END_TEST

/* A damaged backup (a byte of store.db, of keyslots, of the manifest; a
 * file missing) or a wrong passphrase is refused clearly and nothing is
 * made: no DIR, no temporary folder beside it. */
START_TEST(test_cli_backup__a_damaged_backup_is_refused_and_nothing_made)
{
	static const char *const files[] = { "store.db", "keyslots", "manifest.json" };
	char *dest = tu_path(bdir, "b"), *restored = tu_path(bdir, "r"), names[8][64];
	char *backup, *path;
	result r;
	size_t i;

	tu_cli_init_store(CHARTSYNC_BIN);
	add_patient(1);
	run(&r, "backup", dest, NULL);
	ck_status(r, 0);
	ck_assert_int_eq(backups(dest, names, 8), 1);
	backup = tu_path(dest, names[0]);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		long size;

		path = tu_path(backup, files[i]);
		size = tu_file_size(path);
		/* store.db: a byte inside a page; keyslots: inside a value;
		 * the manifest: one of the checksums' digits */
		tu_flip_bit(path, i == 0 ? PAGE + 200 : i == 1 ? size / 2 : size / 4, 0);
		run(&r, "restore", backup, restored, NULL);
		ck_assert_msg(r.status == 2, "%s damaged: exit %d", files[i], r.status);
		ck_assert_msg(strstr(r.err, "damaged"), "%s damaged: %s", files[i], r.err);
		ck_assert_int_eq(exists(restored), 0);
		ck_assert_int_eq(tu_count_entries(bdir), 1); /* only b/ */
		tu_flip_bit(path, i == 0 ? PAGE + 200 : i == 1 ? size / 2 : size / 4, 0);
		free(path);
	}
	/* a missing file */
	path = tu_path(backup, "keyslots");
	{
		char *moved = tu_path(bdir, "keyslots.away");

		ck_assert_int_eq(rename(path, moved), 0);
		run(&r, "restore", backup, restored, NULL);
		ck_status(r, 2);
		ck_assert_ptr_nonnull(strstr(r.err, "keyslots is missing"));
		ck_assert_int_eq(exists(restored), 0);
		ck_assert_int_eq(rename(moved, path), 0);
		free(moved);
	}
	/* a wrong passphrase */
	setenv("CHARTSYNC_PASSPHRASE", "not the pass", 1);
	run(&r, "restore", backup, restored, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "wrong user or passphrase"));
	ck_assert_int_eq(exists(restored), 0);
	ck_assert_int_eq(tu_count_entries(bdir), 1);
	setenv("CHARTSYNC_PASSPHRASE", "clinic pass", 1);
	/* a folder with no backup */
	run(&r, "restore", bdir, restored, NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "no chartsync backup"));
	/* and the whole one still restores */
	run(&r, "restore", backup, restored, NULL);
	ck_status(r, 0);
	free(path);
	free(backup);
	free(dest);
	free(restored);
}
END_TEST

/* ---- never half a backup ---- */

/* A backup killed after its copy, or after its manifest but before the
 * rename, leaves nothing that looks like a backup: restore finds none,
 * and the next backup sweeps it and makes a whole one. */
START_TEST(test_cli_backup__a_killed_backup_never_looks_whole)
{
	static const char *const points[] = { "backup-copied", "backup-manifest" };
	char *dest = tu_path(bdir, "b"), *restored = tu_path(bdir, "r"), names[8][64];
	char fault[64];
	const char *envv[] = { fault, NULL };
	const char *argv[] = { CHARTSYNC_BIN, "backup", dest, NULL };
	result r;
	size_t i;

	tu_cli_init_store(CHARTSYNC_BIN);
	add_patient(1);
	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		snprintf(fault, sizeof(fault), "CHARTSYNC_FAULT=%s", points[i]);
		tu_cli_runv(&r, envv, argv);
		ck_assert_msg(r.status == 128 + SIGKILL, "%s: exit %d", points[i], r.status);
		ck_assert_int_eq(backups(dest, names, 8), 0);
		ck_assert_int_ge(tu_count_entries(dest), 2); /* .lock and the hidden folder */
		run(&r, "restore", dest, restored, NULL);
		ck_status(r, 2);
		ck_assert_ptr_nonnull(strstr(r.err, "no chartsync backup"));
		ck_assert_int_eq(exists(restored), 0);
	}
	run(&r, "backup", dest, NULL);
	ck_status(r, 0);
	ck_assert_int_eq(backups(dest, names, 8), 1);
	ck_assert_int_eq(tu_count_entries(dest), 2); /* .lock and the backup: swept */
	run(&r, "restore", dest, restored, NULL);
	ck_status(r, 0);
	free(dest);
	free(restored);
}
END_TEST

/* ---- never plaintext ---- */

START_TEST(test_cli_backup__a_backup_is_never_plaintext)
{
	char *dest = tu_path(bdir, "b"), hit[4096];
	result r;
	int i;

	tu_cli_init_store(CHARTSYNC_BIN);
	for (i = 0; i < 50; i++)
		add_patient(i + 1);
	run(&r, "backup", dest, "--verify", NULL);
	ck_status(r, 0);
	ck_assert_msg(tu_grep_dir(dest, MARKER, hit, sizeof(hit)) == 0, "plaintext in %s", hit);
	ck_assert_msg(tu_grep_dir(dest, "M-00001", hit, sizeof(hit)) == 0, "plaintext in %s",
		      hit);
	ck_assert_msg(tu_grep_dir(dest, "SQLite format", hit, sizeof(hit)) == 0,
		      "plaintext in %s", hit);
	free(dest);
}
END_TEST

/* ---- messages ---- */

/* A damaged store says how to bring it back: the command, not just "a
 * backup". */
START_TEST(test_cli_backup__a_damaged_store_names_the_restore_command)
{
	char *db = tu_path(dir, "store.db");
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	add_patient(1);
	tu_flip_bit(db, 2 * PAGE + 100, 1);
	run(&r, "check", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "damaged"));
	ck_assert_msg(strstr(r.err, "chartsync restore"), "%s", r.err);
	free(db);
}
END_TEST

static Suite *cli_backup_suite(void)
{
	Suite *s = suite_create("tools_cli_backup");
	TCase *tc = tcase_create("backup");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_cli_backup__while_another_process_writes_holds_a_real_state);
	tcase_add_test(tc, test_cli_backup__an_unchanged_store_writes_nothing);
	tcase_add_test(tc, test_cli_backup__keep_removes_the_oldest);
	tcase_add_test(tc, test_cli_backup__restore_gives_back_the_same_store);
	tcase_add_test(tc, test_cli_backup__restore_refuses_a_folder_in_use);
	tcase_add_test(tc, test_cli_backup__restore_of_a_shared_dest_asks_which_store);
	tcase_add_test(tc, test_cli_backup__a_damaged_backup_is_refused_and_nothing_made);
	tcase_add_test(tc, test_cli_backup__a_killed_backup_never_looks_whole);
	tcase_add_test(tc, test_cli_backup__a_backup_is_never_plaintext);
	tcase_add_test(tc, test_cli_backup__a_damaged_store_names_the_restore_command);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(cli_backup_suite());
}
