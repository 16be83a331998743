/*
 * Stores held open, idle, by one program while others write them (issue
 * 18): a service or the desk keeps its stores open for hours while the
 * technician runs `chartsync import` beside it. Every record those
 * commands wrote must still be there once the idle program closes its
 * stores (it is the last connection, which checkpoints the WAL), and the
 * programs must share one wal-index per store the whole time: the one
 * the idle program mapped stays the file in the user's folder in
 * /dev/shm. Each command that opens a store sweeps that folder for
 * leftovers of killed processes; a sweep that took a wal-index still in
 * use let the idle program and the commands write one store through two
 * wal-indexes, and the idle program's close then reset the WAL over the
 * commands' records (the flaky-network test lost synced batches so).
 *
 * The sweep decided "in use" from /proc/locks alone, which the kernel
 * hands out a page at a time: a lock dropped meanwhile by any program on
 * the machine shifts the list and a read can miss a lock held all along.
 * So here another program is busy with locks throughout (CHURN_LOCKS
 * byte locks taken and dropped, again and again), as on a busy machine;
 * the idle program and that program run on one CPU and the commands on
 * the other, so that the commands read /proc/locks while it changes.
 *
 * Quick mode: NSTORES stores, 12 imports (each command's sweep checks
 * every held wal-index). CHARTSYNC_RELIABILITY=full: 60 imports.
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include "client/chartsync.h"
#include "support/cli.h"
#include "support/records.h"
#include "support/testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSTORES 6
#define PER_IMPORT 50
#define CHURN_LOCKS 1000

static char *dirs[NSTORES];
static char base[] = "/dev/shm/chs-test-XXXXXX"; /* this test's own wal-index folders */
static int pinned, have_base;

/* The wal-index of store `i`'s database, as crypto/shmdir.c names it. */
static void shm_path(int i, char *out, size_t n)
{
	char *db = tu_path(dirs[i], "store.db");
	struct stat sb;

	ck_assert_int_eq(stat(db, &sb), 0);
	snprintf(out, n, "%s/chartsync-%lu/chartsync-%llx-%llx-shm", base, (unsigned long)geteuid(),
		 (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
	free(db);
}

/* Run this process (and what it starts) on CPU `cpu`, where there are
 * two; else leave it be. */
static void pin(int cpu)
{
	cpu_set_t set;

	if (!pinned)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void pin_setup(void)
{
	cpu_set_t set;

	pinned = sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_ISSET(0, &set) &&
		 CPU_ISSET(1, &set);
}

/* Another program on the machine busy with locks of its own. */
static pid_t churn_start(void)
{
	char *path = tu_path(dirs[0], "churn");
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	pid_t pid;

	ck_assert_int_ge(fd, 0);
	free(path);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (;;) {
			struct flock fl;
			int k;

			memset(&fl, 0, sizeof(fl));
			fl.l_whence = SEEK_SET;
			fl.l_len = 1;
			fl.l_type = F_WRLCK;
			for (k = 0; k < CHURN_LOCKS; k++) {
				fl.l_start = 2 * k; /* apart, so they stay one line each */
				fcntl(fd, F_SETLK, &fl);
			}
			fl.l_type = F_UNLCK;
			fl.l_start = 0;
			fl.l_len = 0;
			fcntl(fd, F_SETLK, &fl);
		}
	}
	close(fd);
	return pid;
}

/* `chartsync import` of PER_IMPORT patients into store `i`, as the
 * technician runs it, on the other CPU. */
static void import_batch(int i, int n)
{
	char *path = tu_path(dirs[i], "batch.jsonl");
	FILE *f = fopen(path, "w");
	tu_result r;
	int k;

	ck_assert_ptr_nonnull(f);
	for (k = 0; k < PER_IMPORT; k++)
		fprintf(f, "{\"type\":\"patient\",\"fields\":{\"name\":\"Patient %d-%d\","
			   "\"dob\":\"1970-01-01\",\"mrn\":\"S-%d-%d\"}}\n", n, k, n, k);
	fclose(f);
	setenv("CHARTSYNC_STORE", dirs[i], 1);
	pin(1);
	tu_cli_run(&r, CHARTSYNC_BIN, "import", path, NULL);
	pin(0);
	tu_ck_status(r, 0);
	free(path);
}

static int patients(chs_store *s)
{
	char *text = NULL;
	json_t *j;
	int n;

	ck_assert_msg(tu_list_json(s, "patient", NULL, &text) == 0, "%s", chs_error_last());
	j = tu_json(text);
	n = (int)json_array_size(j);
	json_decref(j);
	return n;
}

START_TEST(idle_holder_keeps_what_others_wrote)
{
	chs_store *idle[NSTORES], *again = NULL;
	char shm[NSTORES][512];
	struct stat sb;
	ino_t first[NSTORES];
	int imports = tu_full_mode() ? 60 : 12, wrote[NSTORES] = { 0 }, seen[NSTORES];
	int swapped_at[NSTORES] = { 0 }, i, n;
	pid_t churn;

	if (!have_base) {
		/* no shared memory folder: the wal-index stays beside the
		 * database, and there is nothing to sweep */
		fprintf(stderr, "skipped: no /dev/shm\n");
		return;
	}
	pin_setup();
	pin(0);
	for (i = 0; i < NSTORES; i++) {
		dirs[i] = tu_cli_setup("pw");
		/* Our own folder for the wal-indexes, so that only the
		 * programs of this test sweep it (any other program of this
		 * user would sweep /dev/shm/chartsync-UID too). */
		ck_assert_int_eq(setenv("CHARTSYNC_SHM_DIR", base, 1), 0);
		tu_cli_init_store(CHARTSYNC_BIN);
	}
	for (i = 0; i < NSTORES; i++) {
		ck_assert_msg(chs_store_open(&idle[i], dirs[i], "alice", "pw", 2) == 0, "%s",
			      chs_error_last());
		ck_assert_int_eq(patients(idle[i]), 0); /* maps the wal-index */
		shm_path(i, shm[i], sizeof(shm[i]));
		ck_assert_msg(stat(shm[i], &sb) == 0, "no wal-index at %s", shm[i]);
		first[i] = sb.st_ino;
	}
	churn = churn_start();
	for (n = 0; n < imports; n++) {
		import_batch(n % NSTORES, n);
		wrote[n % NSTORES] += PER_IMPORT;
		for (i = 0; i < NSTORES; i++)
			if (!swapped_at[i] && (stat(shm[i], &sb) < 0 || sb.st_ino != first[i]))
				swapped_at[i] = n + 1;
	}
	kill(churn, SIGKILL);
	waitpid(churn, NULL, 0);
	for (i = 0; i < NSTORES; i++) {
		seen[i] = patients(idle[i]);
		chs_store_free(idle[i]); /* the last connection: it checkpoints */
	}
	for (i = 0; i < NSTORES; i++) {
		int kept;

		ck_assert_msg(chs_store_open(&again, dirs[i], "alice", "pw", 2) == 0, "%s",
			      chs_error_last());
		kept = patients(again);
		ck_assert_msg(kept == wrote[i],
			      "store %d holds %d patients once the idle program closed it, %d were"
			      " imported (the idle program saw %d; %s%d)",
			      i, kept, wrote[i], seen[i],
			      swapped_at[i] ? "its wal-index was taken from it at import " : "",
			      swapped_at[i]);
		ck_assert_int_eq(chs_store_check(again), 0);
		chs_store_free(again);
		again = NULL;
	}
	for (i = 0; i < NSTORES; i++) {
		ck_assert_msg(seen[i] == wrote[i], "the idle program saw %d of %d patients in store %d",
			      seen[i], wrote[i], i);
		ck_assert_msg(!swapped_at[i],
			      "after import %d the wal-index %s of store %d was another file:"
			      " the idle program and the commands used two wal-indexes",
			      swapped_at[i], shm[i], i);
	}
	unsetenv("CHARTSYNC_SHM_DIR");
	for (i = 0; i < NSTORES; i++) {
		tu_rmtree(dirs[i]);
		free(dirs[i]);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("shared_store");
	TCase *tc = tcase_create("idle");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, idle_holder_keeps_what_others_wrote);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int rc;

	/* made and removed here, outside the forked test, so that a failed
	 * run leaves nothing in /dev/shm */
	have_base = mkdtemp(base) != NULL;
	rc = tu_run(suite());
	if (have_base)
		tu_rmtree(base);
	return rc;
}
