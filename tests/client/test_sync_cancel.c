/*
 * client/: what a service needs of a sync. It stops when asked, wherever
 * it is (applying a large pull, or waiting on an archive that never
 * answers), keeping whole batches only, and the next sync goes on from
 * there; it gives up on a silent archive after sync.timeout; and while it
 * applies a large pull the CLI's `add` goes on working, getting in
 * between its groups of batches. Real stores, a real archive (a bare
 * repository by path), the real chartsync binary.
 *
 * CHS_PULL_CHANGES sets the size of the large pull (default below: a
 * size that keeps the suite short on two cores; the figure is
 * 100000).
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/scale.h"
#include "support/gitserver.h"
#include "support/testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PULL_CHANGES_DEFAULT 50000 /* a multiple of CHS_BATCH_MAX_CHANGES */
#define NET_TEST_TIMEOUT_S 30      /* far below the 60 s default limit */
#define IDLE_ADDS 5                /* adds timed before the pull, for comparison */

enum { ADMIN, C1, C2, NSTORES };

static const tu_member *const members = tu_org_members;
static char *top, *archive, *dirs[NSTORES];
static chs_store *st[NSTORES];

static void setup(void)
{
	tu_org_setup(&top, &archive, members, NSTORES, st, dirs);
}

static void teardown(void)
{
	tu_org_teardown(&top, &archive, st, dirs, NSTORES);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t pull_changes(void)
{
	const char *v = getenv("CHS_PULL_CHANGES");
	long n = v ? strtol(v, NULL, 10) : 0;

	if (n < CHS_BATCH_MAX_CHANGES * 10)
		return PULL_CHANGES_DEFAULT;
	return (size_t)n / CHS_BATCH_MAX_CHANGES * CHS_BATCH_MAX_CHANGES;
}

/* Clinic A types `n` patients and sends them to the archive. */
static void sent_by_clinic_a(size_t n)
{
	chs_sync_report r;

	tu_import_others(st[C1], top, (int)n);
	r = tu_sync_ok(st[C1]);
	ck_assert_uint_eq(r.changes_pushed, n);
}

static int64_t records_in(int i, char hash[65])
{
	int64_t n = 0;

	ck_assert_msg(chs_store_verify(st[i], 0, hash, &n) == 0, "%s", chs_error_last());
	return n;
}

/* ------------------------------------------------------------------ */
/* Stopped while applying                                               */

typedef struct stopper {
	size_t after;   /* say stop once this many batches were taken to apply */
	size_t taken;
} stopper;

static void count_applying(const char *what, size_t done, size_t total, void *payload)
{
	stopper *p = payload;

	(void)total;
	if (strcmp(what, "Applying batches") == 0)
		p->taken = done;
}

static int stop_after(void *payload)
{
	const stopper *p = payload;

	return p->taken >= p->after;
}

START_TEST(test_sync_cancel__stopped_mid_pull_keeps_whole_batches_and_goes_on)
{
	size_t n = pull_changes();
	size_t applied;
	stopper p = { 3, 0 };
	chs_sync_opts o = { count_applying, stop_after, &p };
	chs_sync_report r;
	char h1[65], h2[65];
	int64_t before, after;
	int err;

	sent_by_clinic_a(n);
	before = records_in(C2, h2);
	err = chs_store_sync(st[C2], &o, &r);
	ck_assert_msg(err == CHS_ECANCELLED, "%d: %s", err, chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), "stopped before it finished") &&
		      strstr(chs_error_last(), "next sync goes on"), "%s", chs_error_last());
	/* stopped part-way, whole batches only, and the report says what */
	ck_assert_uint_gt(r.changes_in, 0);
	ck_assert_uint_lt(r.changes_in, n);
	ck_assert_uint_eq(r.changes_in, r.batches_in * CHS_BATCH_MAX_CHANGES);
	applied = r.changes_in;
	chs_sync_report_dispose(&r);
	after = records_in(C2, h2);
	ck_assert_int_eq(after - before, (int64_t)applied);
	ck_assert_msg(chs_store_check(st[C2]) == 0, "%s", chs_error_last());
	/* the next sync goes on from there: everything, once */
	r = tu_sync_ok(st[C2]);
	ck_assert_uint_eq(r.changes_in + after - before, n);
	ck_assert_int_eq(records_in(C2, h2), records_in(C1, h1));
	ck_assert_str_eq(h1, h2);
}
END_TEST

static void count_preparing(const char *what, size_t done, size_t total, void *payload)
{
	stopper *p = payload;

	(void)total;
	if (strcmp(what, "Preparing batches") == 0)
		p->taken = done;
}

START_TEST(test_sync_cancel__stopped_while_preparing_batches_loses_none)
{
	size_t n = 10 * CHS_BATCH_MAX_CHANGES;
	stopper p = { 3, 0 };
	chs_sync_opts o = { count_preparing, stop_after, &p };
	chs_sync_report r;
	char h1[65], h2[65];
	int err;

	tu_import_others(st[C1], top, (int)n);
	err = chs_store_sync(st[C1], &o, &r);
	chs_sync_report_dispose(&r);
	ck_assert_msg(err == CHS_ECANCELLED, "%d: %s", err, chs_error_last());
	/* the batches committed before the stop are kept, the rest follow */
	r = tu_sync_ok(st[C1]);
	ck_assert_uint_eq(r.changes_pushed, n);
	ck_assert_uint_lt(r.changes_out, n);
	r = tu_sync_ok(st[C2]);
	ck_assert_uint_eq(r.changes_in, n);
	ck_assert_int_eq(records_in(C2, h2), records_in(C1, h1));
	ck_assert_str_eq(h1, h2);
}
END_TEST

static int stop_on_second_ask(void *payload)
{
	int *asked = payload;

	return ++*asked >= 2;
}

/* The fetch from a folder archive runs in this process: the first ask
 * is before it, the second inside it (as its pack is built). */
START_TEST(test_sync_cancel__stopped_inside_a_fetch_from_a_folder_moves_nothing)
{
	char ref[128];
	int asked = 0, err;
	chs_sync_opts o = { NULL, stop_on_second_ask, &asked };
	chs_sync_report r;
	char h1[65], h2[65];

	sent_by_clinic_a(20 * CHS_BATCH_MAX_CHANGES);
	snprintf(ref, sizeof(ref), "refs/remotes/archive/chartsync/devices/%s",
		 chs_store_device_id(st[C1]));
	ck_assert_int_eq(tu_sh("git -C '%s/git' rev-parse -q --verify %s > '%s/before' || true",
			       dirs[C2], ref, top), 0);
	err = chs_store_sync(st[C2], &o, &r);
	chs_sync_report_dispose(&r);
	ck_assert_msg(err == CHS_ECANCELLED, "%d: %s", err, chs_error_last());
	ck_assert_int_ge(asked, 2);
	/* the fetch stopped: the mirror's view of the archive did not move */
	ck_assert_int_eq(tu_sh("git -C '%s/git' rev-parse -q --verify %s > '%s/after' || true",
			       dirs[C2], ref, top), 0);
	ck_assert_int_eq(tu_sh("cmp -s '%s/before' '%s/after'", top, top), 0);
	r = tu_sync_ok(st[C2]);
	ck_assert_int_eq(records_in(C2, h2), records_in(C1, h1));
	ck_assert_str_eq(h1, h2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* An archive that accepts and never answers                            */

static void *accept_and_keep(void *arg)
{
	int s = (int)(intptr_t)arg;

	while (accept(s, NULL, NULL) >= 0)
		; /* kept open, never answered */
	return NULL;
}

/* A TCP listener on 127.0.0.1 that accepts and never says anything; its
 * URL as an archive in `url`. Lives as long as the test's process. */
static void silent_archive(char url[128])
{
	int port, s = tu_silent_listener(&port);
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, accept_and_keep, (void *)(intptr_t)s), 0);
	pthread_detach(t);
	snprintf(url, 128, "git://127.0.0.1:%d/archive.git", port);
}

typedef struct timer_stop {
	long long at;     /* say stop from then on */
	long long first;  /* when it first said so */
} timer_stop;

static int stop_at(void *payload)
{
	timer_stop *t = payload;

	if (now_ms() < t->at)
		return 0;
	if (!t->first)
		t->first = now_ms();
	return 1;
}

START_TEST(test_sync_cancel__stopped_while_the_archive_is_silent)
{
	timer_stop t = { 0, 0 };
	chs_sync_opts o = { NULL, stop_at, &t };
	chs_sync_report r;
	char url[128];
	long long took;
	int err;

	unsetenv("CHARTSYNC_NET_TIMEOUT");
	silent_archive(url);
	ck_assert_int_eq(chs_remote_set(st[C2], url), 0);
	ck_assert_int_eq(chs_config_set(st[C2], "sync.timeout", "1h"), 0);
	t.at = now_ms() + 500; /* the helper is waiting on the archive by then */
	err = chs_store_sync(st[C2], &o, &r);
	took = now_ms() - t.first;
	chs_sync_report_dispose(&r);
	/* without the cancel it would wait an hour (the test's timeout) */
	ck_assert_msg(err == CHS_ECANCELLED, "%d: %s", err, chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), "stopped before it finished"), "%s",
		      chs_error_last());
	ck_assert(t.first > 0);
	fprintf(stderr, "stopped %lld ms after the cancel said so\n", took);
	/* the store and its mirror still work: a sync with the real archive */
	ck_assert_int_eq(chs_remote_set(st[C2], archive), 0);
	tu_sync_ok(st[C2]);
}
END_TEST

START_TEST(test_sync_cancel__sync_timeout_gives_up_on_a_silent_archive)
{
	chs_sync_report r;
	char url[128];
	long long t0, took;
	int err;

	unsetenv("CHARTSYNC_NET_TIMEOUT");
	silent_archive(url);
	ck_assert_int_eq(chs_remote_set(st[C2], url), 0);
	ck_assert_int_eq(chs_config_set(st[C2], "sync.timeout", "5s"), 0);
	t0 = now_ms();
	err = chs_store_sync(st[C2], NULL, &r);
	took = now_ms() - t0;
	chs_sync_report_dispose(&r);
	/* the default 60 s would outlast the test's timeout */
	ck_assert_msg(err == CHS_EIO, "%d: %s", err, chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), "stopped answering for 5 s"), "%s",
		      chs_error_last());
	ck_assert_msg(took >= 5000 - 100, "gave up after %lld ms", took);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The CLI beside a long pull                                           */

/* `chartsync ARGS...` on store i, its output thrown away. */
static pid_t spawn_cli(int i, const char *const *args)
{
	const char *argv[16] = { "chartsync", "--store", dirs[i], "--user", members[i].user };
	size_t k = 5;
	pid_t pid;

	while (*args && k < 15)
		argv[k++] = *args++;
	argv[k] = NULL;
	if ((pid = fork()) == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		setenv("CHARTSYNC_PASSPHRASE", "pw", 1);
		execv(CHARTSYNC_BIN, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	return pid;
}

static int exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int exit_of(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return exit_code(status);
}

/* 1 once `pid` ended (its exit in *code), reaped once. */
static int ended(pid_t pid, int *code)
{
	int status;

	if (*code >= 0)
		return 1;
	if (waitpid(pid, &status, WNOHANG) != pid)
		return 0;
	*code = exit_code(status);
	return 1;
}

/* Batches of other devices this store holds now. */
static int64_t batches_pulled(int i)
{
	int64_t n = 0;

	ck_assert_msg(chs_store__get_int(st[i], "SELECT count(*) FROM batches WHERE NOT local",
					 &n) == 0, "%s", chs_error_last());
	return n;
}

static int by_value(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

START_TEST(test_sync_cancel__cli_add_works_beside_a_long_pull)
{
	const char *sync[] = { "sync", NULL };
	size_t n = pull_changes(), adds = 0, mid_pull = 0, cap = 4096;
	long long *ms = calloc(cap, sizeof(*ms));
	int64_t base, total_batches = (int64_t)(n / CHS_BATCH_MAX_CHANGES), got;
	char h[65];
	long long idle[IDLE_ADDS];
	int sync_exit = -1, idle_adds;
	pid_t syncer;

	ck_assert_ptr_nonnull(ms);
	sent_by_clinic_a(n);
	/* for the figure printed at the end: an add with no sync running */
	for (idle_adds = 0; idle_adds < IDLE_ADDS; idle_adds++) {
		char mrn[64];
		const char *add[] = { "add", "patient", "name=Typed Before", mrn, NULL };
		long long t0 = now_ms();

		snprintf(mrn, sizeof(mrn), "mrn=TB-%d", idle_adds);
		ck_assert_int_eq(exit_of(spawn_cli(C2, add)), 0);
		idle[idle_adds] = now_ms() - t0;
	}
	qsort(idle, IDLE_ADDS, sizeof(*idle), by_value);
	base = records_in(C2, h);
	syncer = spawn_cli(C2, sync);
	/* type from the start: a group is committed early only when a writer
	 * waits for it, so the first add that waits ends the first group */
	for (;;) {
		char name[64], mrn[64];
		const char *add[] = { "add", "patient", name, mrn, NULL };
		long long t0 = now_ms();
		int done = ended(syncer, &sync_exit), rc;

		snprintf(name, sizeof(name), "name=Typed Meanwhile %zu", adds);
		snprintf(mrn, sizeof(mrn), "mrn=TM-%zu", adds);
		rc = exit_of(spawn_cli(C2, add));
		ck_assert_msg(rc == 0, "add %zu failed (exit %d) during the pull", adds, rc);
		if (adds < cap)
			ms[adds] = now_ms() - t0;
		adds++;
		got = batches_pulled(C2);
		if (got > 0 && got < total_batches)
			mid_pull++; /* in between two groups of the pull */
		if (done || got >= total_batches)
			break;
	}
	if (sync_exit < 0)
		sync_exit = exit_of(syncer);
	ck_assert_int_eq(sync_exit, 0);
	/* the adds did not wait for the whole pull: they got in between its
	 * groups (before, each waited until the pull had applied everything) */
	ck_assert_msg(mid_pull >= 2, "only %zu of %zu adds got in while the pull applied",
		      mid_pull, adds);
	/* none lost: every pulled change and every add is here */
	ck_assert_int_eq(records_in(C2, h), base + (int64_t)n + (int64_t)adds);
	qsort(ms, adds < cap ? adds : cap, sizeof(*ms), by_value);
	fprintf(stderr, "CLI add with no sync: median %lld ms; during a %zu-change pull: %zu adds"
		" (%zu mid-pull), p50 %lld ms, p99 %lld ms, max %lld ms\n", idle[IDLE_ADDS / 2], n,
		adds, mid_pull,
		ms[(adds < cap ? adds : cap) / 2], ms[((adds < cap ? adds : cap) * 99) / 100],
		ms[(adds < cap ? adds : cap) - 1]);
	free(ms);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sync_cancel");
	TCase *tc = tcase_create("pull"), *net = tcase_create("net");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_sync_cancel__stopped_mid_pull_keeps_whole_batches_and_goes_on);
	tcase_add_test(tc, test_sync_cancel__stopped_while_preparing_batches_loses_none);
	tcase_add_test(tc, test_sync_cancel__stopped_inside_a_fetch_from_a_folder_moves_nothing);
	tcase_add_test(tc, test_sync_cancel__cli_add_works_beside_a_long_pull);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(net, setup, teardown);
	tcase_set_timeout(net, NET_TEST_TIMEOUT_S);
	tcase_add_test(net, test_sync_cancel__stopped_while_the_archive_is_silent);
	tcase_add_test(net, test_sync_cancel__sync_timeout_gives_up_on_a_silent_archive);
	suite_add_tcase(s, net);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
