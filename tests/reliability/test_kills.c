/*
 * kill -9 of real `chartsync sync`, `chartsync import` and `chartsync
 * review resolve` processes at seeded random moments (issue 18).
 *
 * Three devices of one organisation (the admin's archivist and two
 * clinics), each a real store on disk, sync through a real archive
 * served by git daemon on 127.0.0.1 with chartsync's hook. Round after
 * round each device imports three JSON Lines files of patients and their
 * visits (with explicit ids, as a migration writes them), the two
 * clinics edit two patients' phones differently (the conflicts go to
 * review), every device syncs (in an order that turns, so pushes and
 * pulls meet every state), and the device that synced last, holding both
 * edits, resolves the conflicts (the archivist and a clinic in turn).
 * Every import, sync and resolve is first started and killed (SIGKILL
 * to its process group, helpers included) after a delay drawn from the
 * seed across that command's measured duration, so kills land while it
 * starts, in the middle of its work and as it commits; then the same
 * command is run again and must finish.
 *
 * What a technician would check at the end, after every device synced:
 * every store's `chartsync check` passes, `chartsync verify` prints one
 * state hash everywhere, every record each device imported is there once
 * (counts per type), each conflict carries exactly its create, the two
 * edits and one resolve (a change applied twice, or a resolve signed
 * twice, changes the count), with the value the resolve chose, and
 * nothing is left under review.
 *
 * The quick mode stops after 200 kills (40 under the sanitizers), the
 * full mode (CHARTSYNC_RELIABILITY=full) after 2,000. The seed is
 * printed; CHARTSYNC_SEED=N replays the same workload and the same kill
 * fractions (the moments are fractions of measured durations, so a
 * replay lands near, not at, the same instruction).
 */
#include "support/cli.h"
#include "support/gitserver.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NDEV 3
#define PATIENTS_PER_IMPORT 6
#define IMPORTS_PER_ROUND 3 /* per device */
#define CONFLICTS_PER_ROUND 2
#define MAX_PATIENTS 40000

enum { CMD_SYNC, CMD_IMPORT, CMD_RESOLVE, NCMD };
static const char *const cmd_name[NCMD] = { "sync", "import", "review resolve" };

static const tu_member members[NDEV] = {
	{ "ann", "archive-1", "central", "archivist" },
	{ "bob", "clinic-a-1", "Clinic A", "clinic" },
	{ "cy", "clinic-b-1", "Clinic B", "clinic" },
};

static tu_hooked_archive net;
static char *dirs[NDEV];
static uint64_t rng;
static unsigned long seed;

/* What the test made, to be found at the end. */
typedef struct patient {
	char id[33];
	int round;
	int conflict;         /* 1: both clinics edited its phone */
	char resolved[32];    /* the phone the resolve chose */
} patient;

static patient *pats;
static size_t npats, nencounters;

/* Kills and their moments, per command. */
static struct {
	double est_ms;  /* the command's duration, as last measured */
	long kills, finished_first, early, middle, late;
} kst[NCMD];

static uint64_t next_rand(void)
{
	/* splitmix64: one seed, one sequence */
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rand_unit(void)
{
	return (double)(next_rand() >> 11) / (double)(1ULL << 53);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void rand_hex(char out[33])
{
	int i;

	for (i = 0; i < 32; i++)
		out[i] = "0123456789abcdef"[next_rand() & 15];
	out[32] = '\0';
}

/* argv of `chartsync --store DIR --user U ARGS...` */
static void build_argv(const char **argv, int dev, const char *const *args)
{
	int n = 0;

	argv[n++] = CHARTSYNC_BIN;
	argv[n++] = "--store";
	argv[n++] = dirs[dev];
	argv[n++] = "--user";
	argv[n++] = members[dev].user;
	for (; *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
}

static const char *const run_env[] = { "CHARTSYNC_PASSPHRASE=pw", "CHARTSYNC_FAULT", NULL };

/* A whole run's duration measured, for the next kill of the command. */
static void measured(int cmd, double ms)
{
	kst[cmd].est_ms = kst[cmd].est_ms > 0 ? 0.7 * kst[cmd].est_ms + 0.3 * ms : ms;
}

/* The command started and, after a delay drawn from the seed across its
 * measured duration, killed with SIGKILL with its whole process group
 * (the network helper too), as a power cut would. Returns 1 when the
 * kill landed, 0 when the command had finished first. */
static int run_killed(int cmd, int dev, const char *const *args)
{
	const char *argv[40];
	double frac = rand_unit(), delay = frac * kst[cmd].est_ms, t0;
	int status;
	pid_t pid, w;

	build_argv(argv, dev, args);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		setsid();
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		setenv("CHARTSYNC_PASSPHRASE", "pw", 1);
		unsetenv("CHARTSYNC_FAULT");
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	t0 = now_ms();
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		ck_assert_int_ge(w, 0);
		if (w == pid) {
			/* the first run of the command: nothing to refuse */
			ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				      "seed %lu: %s at %s, not killed, ended with status %d",
				      seed, cmd_name[cmd], members[dev].user, status);
			kst[cmd].finished_first++;
			/* a whole run too: its duration counts */
			measured(cmd, now_ms() - t0);
			return 0;
		}
		if (now_ms() - t0 >= delay)
			break;
		nanosleep(&(struct timespec){ 0, 200000 }, NULL);
	}
	/* the group, with any helper it forked; the child itself too, in
	 * case it has not made its group yet */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* and the helper, ours as subreaper: until it has died it holds the
	 * store's sync lock, and the sync run again would find "another sync
	 * of this store is running" (true for those milliseconds) */
	while (waitpid(-pid, &(int){ 0 }, 0) > 0 || errno == EINTR)
		;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		kst[cmd].kills++;
		if (frac < 1.0 / 3)
			kst[cmd].early++;
		else if (frac < 2.0 / 3)
			kst[cmd].middle++;
		else
			kst[cmd].late++;
		return 1;
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "seed %lu: %s at %s, not killed, ended with status %d", seed,
		      cmd_name[cmd], members[dev].user, status);
	kst[cmd].finished_first++;
	return 0;
}

/* The command run to its end; its duration in ms. */
static double run_whole(tu_result *r, int dev, const char *const *args)
{
	const char *argv[40];
	double t0;

	build_argv(argv, dev, args);
	t0 = now_ms();
	tu_cli_runv(r, run_env, argv);
	return now_ms() - t0;
}

static void sync_killed(int dev)
{
	const char *const args[] = { "sync", NULL };
	tu_result r;

	run_killed(CMD_SYNC, dev, args);
	measured(CMD_SYNC, run_whole(&r, dev, args));
	ck_assert_msg(r.status == 0, "seed %lu: sync at %s after a kill: exit %d: %s", seed,
		      members[dev].user, r.status, r.err);
}

/* A JSON Lines file of new patients, each with a visit (whose reason
 * the writer moves to its clinical companion), with the ids given. */
static void import_killed(int dev, int round, const char *top)
{
	char path[4096], enc[33];
	const char *const args[] = { "import", path, NULL };
	static int files;
	size_t first = npats;
	int file = files++, k;
	tu_result r;
	FILE *f;

	snprintf(path, sizeof(path), "%s/import-%d.jsonl", top, file);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (k = 0; k < PATIENTS_PER_IMPORT; k++) {
		patient *p = &pats[npats++];

		ck_assert_uint_lt(npats, MAX_PATIENTS);
		memset(p, 0, sizeof(*p));
		rand_hex(p->id);
		rand_hex(enc);
		p->round = round;
		fprintf(f,
			"{\"type\":\"patient\",\"id\":\"%s\",\"fields\":{\"name\":\"Person %d-%d\","
			"\"mrn\":\"K%d-%d\",\"dob\":\"1961-12-10\",\"phone\":\"555-0000\"}}\n"
			"{\"type\":\"encounter\",\"id\":\"%s\",\"patient\":\"%s\",\"fields\":"
			"{\"date\":\"2024-03-15\",\"reason\":\"cough %d\"}}\n",
			p->id, file, k, file, k, enc, p->id, k);
		nencounters++;
	}
	ck_assert_int_eq(fclose(f), 0);

	double ms;

	run_killed(CMD_IMPORT, dev, args);
	ms = run_whole(&r, dev, args);
	/* the file is one transaction: imported whole by the run killed
	 * (the second run then finds its first record) or not at all */
	if (r.status == 0) {
		ck_assert_ptr_nonnull(strstr(r.out, "imported"));
		measured(CMD_IMPORT, ms);
	} else {
		ck_assert_msg(r.status == 2 && strstr(r.err, pats[first].id) &&
				      strstr(r.err, "already exists"),
			      "seed %lu: import at %s after a kill: exit %d: %s", seed,
			      members[dev].user, r.status, r.err);
	}
}

static void set_phone(int dev, const char *id, const char *phone)
{
	char arg[64];
	const char *const args[] = { "set", id, arg, NULL };
	tu_result r;

	snprintf(arg, sizeof(arg), "phone=%s", phone);
	run_whole(&r, dev, args);
	tu_ck_status(r, 0);
}

static void resolve_killed(int dev, patient *p)
{
	char arg[64];
	const char *const args[] = { "review", "resolve", p->id, arg, NULL };
	tu_result r;

	snprintf(p->resolved, sizeof(p->resolved), "555-9%03d", (int)(next_rand() % 1000));
	snprintf(arg, sizeof(arg), "phone=%s", p->resolved);
	double ms;

	run_killed(CMD_RESOLVE, dev, args);
	ms = run_whole(&r, dev, args);
	if (r.status == 0)
		measured(CMD_RESOLVE, ms);
	/* settled by the run killed (one resolve, committed) or by this one */
	ck_assert_msg(r.status == 0 || (r.status == 2 && strstr(r.err, "not under review")),
		      "seed %lu: review resolve at %s after a kill: exit %d: %s", seed,
		      members[dev].user, r.status, r.err);
}

static long total_kills(void)
{
	long n = 0;
	int c;

	for (c = 0; c < NCMD; c++)
		n += kst[c].kills;
	return n;
}

/* The first patient of round <= `round` not yet in a conflict. */
static patient *pick_unconflicted(int round)
{
	size_t i;

	for (i = 0; i < npats; i++)
		if (!pats[i].conflict && pats[i].round <= round)
			return &pats[i];
	return NULL;
}

/* Each device imports three files; the two clinics edit two charts at
 * once (review); every device syncs, in an order that turns each round,
 * so the last of them holds both edits and resolves them. Imports and
 * resolves cost a fifth of a sync: several of each a round spread the
 * kills over the three commands within the time a run may take. */
static void one_round(int round, const char *top)
{
	static const int order[2][NDEV] = { { 1, 2, 0 }, { 2, 0, 1 } };
	const int *o = order[round % 2];
	patient *conf[CONFLICTS_PER_ROUND] = { NULL };
	int d, k;

	for (k = 0; k < IMPORTS_PER_ROUND; k++)
		for (d = 0; d < NDEV; d++)
			import_killed(d, round, top);
	/* imported two rounds ago: every device holds it by now */
	for (k = 0; k < CONFLICTS_PER_ROUND && (conf[k] = pick_unconflicted(round - 2)); k++) {
		char a[16], b[16];

		conf[k]->conflict = 1;
		snprintf(a, sizeof(a), "555-1%03d", round % 1000);
		snprintf(b, sizeof(b), "555-2%03d", round % 1000);
		set_phone(1, conf[k]->id, a);
		set_phone(2, conf[k]->id, b);
	}
	for (d = 0; d < NDEV; d++)
		sync_killed(o[d]);
	for (k = 0; k < CONFLICTS_PER_ROUND && conf[k]; k++)
		resolve_killed(o[NDEV - 1], conf[k]);
}

static void verify_cli(int dev, char hash[65])
{
	const char *const check[] = { "check", NULL };
	const char *const verify[] = { "verify", "--json", NULL };
	const char *p;
	tu_result r;

	run_whole(&r, dev, check);
	ck_assert_msg(r.status == 0, "seed %lu: check at %s: %s", seed, members[dev].user, r.err);
	run_whole(&r, dev, verify);
	ck_assert_msg(r.status == 0, "seed %lu: verify at %s: %s", seed, members[dev].user, r.err);
	p = strstr(r.out, "\"state\":\"");
	ck_assert_ptr_nonnull(p);
	memcpy(hash, p + 9, 64);
	hash[64] = '\0';
	ck_assert_msg(strstr(r.out, "\"unsent_batches\":0"), "seed %lu: %s has unsent batches: %s",
		      seed, members[dev].user, r.out);
}

static size_t count_type(chs_store *s, const char *type)
{
	chs_record_list *l = NULL;
	size_t n;

	ck_assert_msg(chs_record_query(&l, s, type, NULL) == 0, "%s", chs_error_last());
	n = chs_record_list_count(l);
	chs_record_list_free(l);
	return n;
}

/* Every record there once, every conflict settled once, as chosen. */
static size_t check_records(int dev)
{
	chs_store *s = NULL;
	size_t i, conflicts = 0;

	ck_assert_msg(chs_store_open(&s, dirs[dev], members[dev].user, "pw", 2) == 0, "%s",
		      chs_error_last());
	ck_assert_msg(count_type(s, "patient") == npats, "seed %lu: %s holds %zu patients, %zu made",
		      seed, members[dev].user, count_type(s, "patient"), npats);
	ck_assert_msg(count_type(s, "encounter") == nencounters,
		      "seed %lu: %s holds %zu visits, %zu made", seed, members[dev].user,
		      count_type(s, "encounter"), nencounters);
	ck_assert_msg(count_type(s, "visit_reason") == nencounters,
		      "seed %lu: %s holds %zu visit reasons, %zu made", seed, members[dev].user,
		      count_type(s, "visit_reason"), nencounters);
	for (i = 0; i < npats; i++) {
		chs_record *rec = NULL;
		chs_history *h = NULL;
		size_t k, resolves = 0;
		const patient *p = &pats[i];

		ck_assert_msg(chs_record_lookup(&rec, s, p->id) == 0, "seed %lu: %s lost %s: %s",
			      seed, members[dev].user, p->id, chs_error_last());
		ck_assert_msg(!chs_record_under_review(rec), "seed %lu: %s still under review at %s",
			      seed, p->id, members[dev].user);
		ck_assert_int_eq(chs_record_history(&h, s, p->id), 0);
		for (k = 0; k < chs_history_count(h); k++)
			resolves += strcmp(chs_history_get(h, k)->op, "resolve") == 0;
		/* create; or create, two edits, one resolve */
		ck_assert_msg(chs_history_count(h) == (p->conflict ? 4u : 1u) &&
				      resolves == (p->conflict ? 1u : 0u),
			      "seed %lu: %s at %s has %zu changes (%zu resolves)", seed, p->id,
			      members[dev].user, chs_history_count(h), resolves);
		if (p->conflict) {
			char want[40];

			snprintf(want, sizeof(want), "\"%s\"", p->resolved);
			ck_assert_str_eq(chs_record_field(rec, "phone"), want);
			conflicts++;
		}
		chs_history_free(h);
		chs_record_free(rec);
	}
	chs_store_free(s);
	return conflicts;
}

/* The organisation: an archive behind git daemon with chartsync's hook,
 * three stores enrolled and synced once, closed: from here on only the
 * binary touches them. */
static void org_start(void)
{
	chs_store *st[NDEV];
	int d;

	pats = calloc(MAX_PATIENTS, sizeof(*pats));
	ck_assert_ptr_nonnull(pats);
	npats = nencounters = 0;
	memset(kst, 0, sizeof(kst));
	tu_hooked_archive_start(&net, CHARTSYNC_BIN);
	tu_org_new(net.top, net.url, members, NDEV, st, dirs);
	for (d = 0; d < NDEV; d++)
		chs_store_free(st[d]);
}

static void org_stop(void)
{
	int d;

	for (d = 0; d < NDEV; d++) {
		free(dirs[d]);
		dirs[d] = NULL;
	}
	tu_hooked_archive_stop(&net);
	free(pats);
	pats = NULL;
}

START_TEST(test_kills__killed_anywhere_nothing_lost_nothing_twice)
{
	long target = tu_full_mode() ? 2000 : tu_sanitized() ? 40 : 200;
	char hash[NDEV][65];
	double t0 = now_ms();
	int round, d, c;
	size_t nconf = 0;

	seed = tu_seed("kills");
	rng = seed;
	/* the helpers of killed commands become ours, to reap */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	org_start();
	/* first measures: a sync of each, unkilled */
	for (d = 0; d < NDEV; d++) {
		const char *const args[] = { "sync", NULL };
		tu_result r;

		measured(CMD_SYNC, run_whole(&r, d, args));
		tu_ck_status(r, 0);
	}
	kst[CMD_IMPORT].est_ms = kst[CMD_RESOLVE].est_ms = kst[CMD_SYNC].est_ms;

	for (round = 0; total_kills() < target; round++) {
		one_round(round, net.top);
		if (tu_full_mode() && round % 10 == 9)
			fprintf(stderr, "kills: round %d, %ld kills, %.0f s\n", round + 1,
				total_kills(), (now_ms() - t0) / 1e3);
	}

	/* every device syncs twice round the ring: all hold everything */
	for (c = 0; c < 2; c++)
		for (d = 0; d < NDEV; d++) {
			const char *const args[] = { "sync", NULL };
			tu_result r;

			run_whole(&r, d, args);
			ck_assert_msg(r.status == 0, "seed %lu: final sync at %s: %s", seed,
				      members[d].user, r.err);
		}
	for (d = 0; d < NDEV; d++) {
		verify_cli(d, hash[d]);
		if (d > 0)
			ck_assert_msg(strcmp(hash[d], hash[0]) == 0,
				      "seed %lu: %s's state %s, %s's %s", seed, members[d].user,
				      hash[d], members[0].user, hash[0]);
		nconf = check_records(d);
	}

	fprintf(stderr, "kills: seed %lu, %d rounds, %zu patients (%zu in a conflict, resolved), %.1f s\n",
		seed, round, npats, nconf, (now_ms() - t0) / 1e3);
	for (c = 0; c < NCMD; c++)
		fprintf(stderr,
			"kills: %-15s %4ld kills (early %ld, middle %ld, late %ld), %ld finished"
			" before the kill, last measured %.0f ms\n",
			cmd_name[c], kst[c].kills, kst[c].early, kst[c].middle, kst[c].late,
			kst[c].finished_first, kst[c].est_ms);
	fprintf(stderr, "kills: %ld in all\n", total_kills());

	org_stop();
}
END_TEST

/* A sync killed while its network helper wrote the mirror leaves the
 * locks of the refs it was moving (refs/remotes/archive/...lock), a
 * moment old. The sync run again holds the store's sync lock, which the
 * killed sync's helper held until it died, so they are no live writer's:
 * it clears them and goes through (it used to keep any lock younger than
 * 10 s and fail, "cannot reach the archive ... failed to lock file";
 * CHARTSYNC_SEED=748672137 found it). */
START_TEST(test_kills__a_killed_sync_s_fresh_locks_do_not_stop_the_next)
{
	const char *const sync_args[] = { "sync", NULL };
	char refs[4096];
	tu_result r;
	int round;

	seed = tu_seed("kills");
	rng = seed;
	org_start();
	for (round = 0; round < 2; round++) {
		import_killed(0, round, net.top);
		run_whole(&r, 0, sync_args);
		tu_ck_status(r, 0);
		if (round == 0) {
			run_whole(&r, 1, sync_args);
			tu_ck_status(r, 0);
		}
	}
	/* bob's mirror holds ann's ref, which this sync moves: locked as a
	 * helper killed while moving it leaves it */
	snprintf(refs, sizeof(refs), "%s/git/refs/remotes/archive/chartsync/devices", dirs[1]);
	ck_assert_int_gt(tu_count_entries(refs), 0);
	ck_assert_int_eq(tu_sh("for f in '%s'/*; do : > \"$f.lock\"; done", refs), 0);
	run_whole(&r, 1, sync_args);
	ck_assert_msg(r.status == 0, "sync with a fresh lock of a killed sync: %s", r.err);
	ck_assert_int_eq(tu_sh("! ls '%s'/*.lock >/dev/null 2>&1", refs), 0);
	check_records(1);
	org_stop();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kills");
	TCase *locks = tcase_create("locks"), *tc = tcase_create("kills");

	tcase_set_timeout(locks, 300);
	tcase_add_test(locks, test_kills__a_killed_sync_s_fresh_locks_do_not_stop_the_next);
	suite_add_tcase(s, locks);
	/* the full mode runs as long as it needs */
	tcase_set_timeout(tc, tu_full_mode() ? 24 * 3600 : 600);
	tcase_add_test(tc, test_kills__killed_anywhere_nothing_lost_nothing_twice);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
