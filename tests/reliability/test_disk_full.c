/*
 * A full disk during import, sync fetch and sync apply (issue 18).
 *
 * A clinic's store lives on a small tmpfs of its own (root only: the test
 * unshares its mount namespace, so the mount is private to it and gone
 * with it); the archive and the admin's store stay on the ordinary disk.
 * The disk is filled to the last block with a filler file, then:
 *   - `chartsync import` (the real binary) exits 2 naming the full disk,
 *     imports nothing, and imports everything once the filler is gone;
 *   - `chartsync sync` (the git mirror's fetch is the first write) the
 *     same, and the next sync brings every record;
 * and, through tests/support/faultvfs.c, the disk fills while a sync
 * applies what it fetched: the sync says the disk is full, the store
 * keeps what it had, and the next sync completes. After each, `check`
 * passes and the clinic reaches the admin's state hash.
 *
 * Without root or a private mount namespace the tmpfs cases cannot run:
 * the test says why and exits 77 (skipped) after the shim's case.
 */
#define _GNU_SOURCE
#include "support/cli.h"
#include "support/faultvfs.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL_FS "size=6m"

static char *top, *archive, *small, *dirs[2];
static chs_store *st[2]; /* the admin (ann), the clinic (bob, on the small disk) */

/* ---------------------------------------------------------------------
 * The small disk
 */
static char why_not[256];

/* Whether this process may mount a tmpfs of its own; why not in why_not. */
static int can_mount(void)
{
	char dir[] = "/tmp/chs-mount-probe-XXXXXX";
	int status = -1;
	pid_t pid;

	if (geteuid() != 0) {
		snprintf(why_not, sizeof(why_not), "not root: a small tmpfs needs a mount");
		return 0;
	}
	/* root in a container may still lack the right to mount: try it, in a
	 * child whose namespace goes with it */
	if (!mkdtemp(dir)) {
		snprintf(why_not, sizeof(why_not), "no temporary folder: %s", strerror(errno));
		return 0;
	}
	if ((pid = fork()) == 0)
		_exit(unshare(CLONE_NEWNS) == 0 &&
				      mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
				      mount("chs-probe", dir, "tmpfs", 0, "size=64k") == 0
			      ? 0
			      : errno);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		snprintf(why_not, sizeof(why_not), "cannot mount a tmpfs in a mount namespace of "
						   "its own: %s",
			 pid > 0 && WIFEXITED(status) ? strerror(WEXITSTATUS(status)) : "no child");
	rmdir(dir);
	return why_not[0] == 0;
}

static void mount_small(void)
{
	ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
	/* nothing mounted here reaches the system's namespace */
	ck_assert_msg(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "%s",
		      strerror(errno));
	ck_assert_int_eq(mkdir(small, 0700), 0);
	ck_assert_msg(mount("chs-small", small, "tmpfs", 0, SMALL_FS ",mode=0700") == 0,
		      "mount tmpfs: %s", strerror(errno));
}

/* Fill the small disk to its last block; the filler's path. */
static char *fill(void)
{
	char *path = tu_path(small, "filler"), block[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t n;

	ck_assert_int_ge(fd, 0);
	memset(block, 0xa5, sizeof(block));
	for (n = sizeof(block); n >= 1; n /= 2)
		while (write(fd, block, n) == (ssize_t)n)
			;
	close(fd);
	return path;
}

static void unfill(char *filler)
{
	ck_assert_int_eq(unlink(filler), 0);
	free(filler);
}

/* ---------------------------------------------------------------------
 * The organisation
 */
static void org(int on_small)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	top = tu_tempdir();
	archive = tu_archive_new(top);
	small = tu_path(top, "small");
	if (on_small)
		mount_small();
	st[0] = tu_store_new(top, "ann", "archive-1", archive, &dirs[0]);
	st[1] = tu_store_new(on_small ? small : top, "bob", "clinic-a-1", archive, &dirs[1]);
	ck_assert_msg(chs_org_init(st[0], archive, "central") == 0, "%s", chs_error_last());
	tu_enroll(st[0], st[1], "Clinic A", "clinic");
	tu_sync_ok(st[0]);
	tu_sync_ok(st[1]);
}

static void org_free(void)
{
	tu_org_free(st, dirs, 2);
	tu_rmtree(top);
	free(top);
	free(archive);
	free(small);
}

/* JSON Lines of `n` patients named PREFIX-i; the file's path. */
static char *patients(const char *prefix, int n)
{
	char name[64], *path;
	FILE *f;
	int i;

	snprintf(name, sizeof(name), "%s.jsonl", prefix);
	path = tu_path(top, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < n; i++)
		fprintf(f, "{\"type\":\"patient\",\"fields\":{\"name\":\"%s %d\",\"mrn\":\"%s-%d\","
			   "\"address\":\"%d Long Street, a town with a long name\"}}\n",
			prefix, i, prefix, i, i);
	fclose(f);
	return path;
}

static void admin_adds(const char *prefix, int n)
{
	char *file = patients(prefix, n);
	int64_t count = 0;

	ck_assert_msg(chs_record_import(st[0], file, &count) == 0, "%s", chs_error_last());
	ck_assert_int_eq(count, n);
	tu_sync_ok(st[0]);
	free(file);
}

static void hash(chs_store *s, char out[65], int64_t *records)
{
	ck_assert_msg(chs_store_check(s) == 0, "check: %s", chs_error_last());
	ck_assert_msg(chs_store_verify(s, 1, out, records) == 0, "%s", chs_error_last());
}

static chs_store *reopen(const char *dir, const char *user)
{
	chs_store *s = NULL;

	ck_assert_msg(chs_store_open(&s, dir, user, "pw", 2) == 0, "%s", chs_error_last());
	return s;
}

/* `chartsync ARGS` on bob's store. */
static void bob_cli(tu_result *r, const char *a, const char *b)
{
	const char *env[] = { "CHARTSYNC_PASSPHRASE=pw", NULL };
	const char *argv[] = { CHARTSYNC_BIN, "--store", dirs[1], "--user", "bob", a, b, NULL };

	tu_cli_runv(r, env, argv);
}

/* Commits the clinic's git mirror holds (what its fetches brought). */
static long mirror_commits(void)
{
	char cmd[1024];
	long n = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "git --git-dir='%s/git' rev-list --all --count", dirs[1]);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	if (fscanf(p, "%ld", &n) != 1)
		n = -1;
	pclose(p);
	return n;
}

static void assert_full_message(const tu_result *r, const char *what)
{
	ck_assert_msg(r->status == 2, "%s on a full disk: exit %d: %s", what, r->status, r->err);
	ck_assert_msg(strstr(r->err, "full"), "%s: the message does not name the full disk: %s",
		      what, r->err);
	fprintf(stderr, "disk full: %s said: %s", what, r->err);
}

/* ---------------------------------------------------------------------
 * The cases
 */
START_TEST(test_disk_full__import)
{
	tu_result r;
	char before[65], now[65], *file, *filler;
	int64_t n0, n1;

	org(1);
	hash(st[1], before, &n0);
	chs_store_free(st[1]);
	st[1] = NULL;
	file = patients("imp", 400);
	filler = fill();
	bob_cli(&r, "import", file);
	assert_full_message(&r, "import");
	unfill(filler);
	st[1] = reopen(dirs[1], "bob");
	hash(st[1], now, &n1);
	ck_assert_msg(strcmp(now, before) == 0 && n1 == n0, "a failed import changed the store");
	chs_store_free(st[1]);
	st[1] = NULL;
	/* space freed: the same import completes */
	bob_cli(&r, "import", file);
	tu_ck_status(r, 0);
	st[1] = reopen(dirs[1], "bob");
	hash(st[1], now, &n1);
	ck_assert_int_eq(n1, n0 + 400);
	free(file);
	org_free();
}
END_TEST

START_TEST(test_disk_full__sync_fetch)
{
	tu_result r;
	char want[65], before[65], now[65], *filler;
	int64_t n0, n1, nw;

	org(1);
	admin_adds("fetch", 400);
	hash(st[0], want, &nw);
	hash(st[1], before, &n0);
	chs_store_free(st[1]);
	st[1] = NULL;
	filler = fill();
	bob_cli(&r, "sync", NULL);
	assert_full_message(&r, "sync (fetch)");
	unfill(filler);
	st[1] = reopen(dirs[1], "bob");
	hash(st[1], now, &n1);
	ck_assert_msg(strcmp(now, before) == 0 && n1 == n0, "a failed fetch changed the store");
	chs_store_free(st[1]);
	st[1] = NULL;
	bob_cli(&r, "sync", NULL);
	tu_ck_status(r, 0);
	st[1] = reopen(dirs[1], "bob");
	hash(st[1], now, &n1);
	ck_assert_str_eq(now, want);
	ck_assert_int_eq(n1, nw);
	org_free();
}
END_TEST

/* The disk fills after the fetch, while the batches are applied: the
 * first write into the store that the sync makes fails, and every one
 * after it (faultvfs.c's fill). */
START_TEST(test_disk_full__sync_apply)
{
	chs_sync_report rep;
	char want[65], before[65], now[65];
	int64_t n0, n1, nw;
	long commits;
	int err;

	tu_faultvfs_install();
	org(0);
	admin_adds("apply", 400);
	hash(st[0], want, &nw);
	hash(st[1], before, &n0);
	commits = mirror_commits();
	tu_faultvfs_fill(1);
	memset(&rep, 0, sizeof(rep));
	err = chs_store_sync(st[1], NULL, &rep);
	tu_faultvfs_disarm();
	chs_sync_report_dispose(&rep);
	ck_assert_msg(err == CHS_EIO, "sync on a full disk: %d: %s", err, chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), "is full"), "%s (the disk filled at a %s)", chs_error_last(),
		      tu_faultvfs_fired_at());
	fprintf(stderr, "disk full: sync (apply) said: %s (at %s)\n", chs_error_last(),
		tu_faultvfs_fired_at());
	/* the fetch was done: the disk filled when the store took the batches */
	ck_assert_msg(mirror_commits() > commits, "the sync failed before it fetched");
	chs_store_free(st[1]);
	st[1] = reopen(dirs[1], "bob");
	hash(st[1], now, &n1);
	/* what was committed stays; a group of batches may be partly applied */
	ck_assert_int_ge(n1, n0);
	ck_assert_int_le(n1, nw);
	tu_sync_ok(st[1]);
	hash(st[1], now, &n1);
	ck_assert_str_eq(now, want);
	ck_assert_int_eq(n1, nw);
	org_free();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("disk_full");
	TCase *tc = tcase_create("disk_full");
	int mountable = can_mount(), rc;

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_disk_full__sync_apply);
	if (mountable) {
		tcase_add_test(tc, test_disk_full__import);
		tcase_add_test(tc, test_disk_full__sync_fetch);
	}
	suite_add_tcase(s, tc);
	rc = tu_run(s);
	if (rc == 0 && !mountable) {
		fprintf(stderr, "disk full: import and sync fetch skipped: %s\n", why_not);
		return 77;
	}
	return rc;
}
