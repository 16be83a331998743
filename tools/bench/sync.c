/*
 * tools/bench/sync - the sync figures, on the workload the peer
 * benchmarks run too: N changes of about 400 bytes written in
 * batches of 1,000, pushed to an archive served by `git daemon` on
 * 127.0.0.1 (git://), pulled into a fresh store, then 100 more pushed.
 * Prints one JSON line:
 *
 *   push_changes_per_s    N / the writing store's sync (fetch, commits
 *                         for the pending batches, push)
 *   pull_changes_per_s    N / a fresh store's first sync (fetch, verify,
 *                         decrypt, apply), run as `chartsync sync` in a
 *                         process of its own
 *   incr100_push_s        100 more changes, synced over git:// (the
 *                         median of INCR_ROUNDS rounds: one sync of tens
 *                         of milliseconds is mostly fsync, and a VM's
 *                         fsync varies more than that)
 *   incr100_local_push_s  100 more changes, synced to the same archive
 *                         by its path (the embedded default); median of
 *                         INCR_ROUNDS rounds too
 *   noop_sync_s           a sync with nothing new, at the end (what a
 *                         store pays to learn there is nothing to do:
 *                         compare runs with different --changes)
 *   noop_sync_process_s   the same as `chartsync sync` in a process of its
 *                         own, from its start to its exit (median of
 *                         INCR_ROUNDS): the fixed cost of any small sync
 *                         run from the command line (loading the
 *                         libraries, libgit2's start, opening the store)
 *   pull_s                the pull's seconds (pull_changes_per_s is N over
 *                         them: at a small N they are the fixed cost)
 *   peak_rss_mb           that pulling process's peak resident memory
 *   store_floor_changes_per_s
 *                         the rows the pull stored (changes, records,
 *                         batches) written again by SQLite alone through
 *                         the store's page encryption, in one transaction
 *                         with no fetching, verifying or merging: no pull
 *                         into this store can be faster
 *
 * With --peers DIR it also runs DIR/run-peers N (git's own push and
 * PouchDB: tools/bench/peers, the folder the tools/bench/sync script
 * gives by default) and adds their lines and the ratios, with
 * store_floor_vs_pouchdb_pull: below 10, the pull target is out of reach
 * in that run whatever the pull does.
 * Targets: push >= 10x PouchDB and >= 3x git; pull >= 10x PouchDB;
 * incremental over git:// no slower than git's; local-path under 20 ms.
 */
#define _DEFAULT_SOURCE /* wait4() */
#include "client/chartsync.h"
#include "client/bench/bench.h"
#include "workload.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char top[] = "/tmp/chartsync-bench-sync-XXXXXX";
static pid_t daemon_pid = -1;

static void cleanup(void)
{
	char cmd[sizeof(top) + 16];

	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = -1;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (system(cmd) != 0)
		fprintf(stderr, "sync: could not remove %s\n", top);
}

static void die(const char *what)
{
	fprintf(stderr, "sync: %s: %s\n", what, chs_error_last());
	cleanup();
	exit(2);
}

/* ---- the archive, served by git daemon ---- */

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("no free port");
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int answers(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void start_daemon(int port)
{
	char portarg[32], base[sizeof(top) + 16];
	int i;

	snprintf(portarg, sizeof(portarg), "--port=%d", port);
	snprintf(base, sizeof(base), "--base-path=%s", top);
	if ((daemon_pid = fork()) < 0)
		die("fork");
	if (daemon_pid == 0) {
		/* a benchmark stopped by a signal leaves no daemon behind */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* its complaints about connections cut at exit are noise here */
		if (!freopen("/dev/null", "w", stderr))
			_exit(127);
		execlp("git", "git", "daemon", "--reuseaddr", "--export-all",
		       "--enable=receive-pack", "--listen=127.0.0.1", portarg, base, top,
		       (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && !answers(port); i++)
		nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	if (i == 200)
		die("git daemon did not start");
}

/* ---- stores ---- */

static chs_store *make_store(const char *name, const char *url)
{
	chs_kdf_params kdf;
	chs_store_create_opts o;
	chs_store *s = NULL;
	char dir[sizeof(top) + 32];

	chs_kdf_params_minimum(&kdf);
	memset(&o, 0, sizeof(o));
	o.user = name;
	o.passphrase = "bench";
	o.passphrase_len = 5;
	o.kdf = &kdf;
	o.terminal = name;
	snprintf(dir, sizeof(dir), "%s/%s", top, name);
	if (chs_store_create(&s, dir, &o) < 0 || chs_remote_set(s, url) < 0)
		die("store");
	return s;
}

static void enroll(chs_store *admin, chs_store *s)
{
	char *line = NULL, dev[33];

	if (chs_device_request(s, &line) < 0 ||
	    chs_device_enroll(admin, line, chs_store_user(s), "clinic", dev) < 0)
		die("enroll");
	free(line);
}

/* The chartsync command built with this benchmark:
 * build/tools/bench/bench_sync -> build/tools/chartsync. */
static const char *chartsync_exe(void)
{
	static char exe[4096];
	ssize_t len;

	if (exe[0])
		return exe;
	if ((len = readlink("/proc/self/exe", exe, sizeof(exe) - 32)) < 0)
		die("cannot find chartsync");
	exe[len] = '\0';
	strcpy(strrchr(exe, '/'), "/../chartsync");
	return exe;
}

/* `chartsync sync` on store `name`, in a process of its own: its wall
 * time, and its peak resident memory in MiB. */
static double cli_sync(const char *name, double *rss_mb)
{
	const char *exe = chartsync_exe();
	char dir[sizeof(top) + 32];
	struct rusage ru;
	double t0 = bench_now_s();
	int status;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/%s", top, name);
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		setenv("CHARTSYNC_PASSPHRASE", "bench", 1);
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(exe, exe, "--store", dir, "--user", name, "sync", (char *)NULL);
		_exit(127);
	}
	/* that process's own peak and its helpers' (the fetch runs in one),
	 * not RUSAGE_CHILDREN: that is the largest child this benchmark ever
	 * waited for, and the writer's sync above ran its push in a helper
	 * forked from this process, with all the memory the writer had */
	if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("chartsync sync failed");
	*rss_mb = (double)ru.ru_maxrss / 1024;
	return bench_now_s() - t0;
}

#define INCR_ROUNDS 5

/* The median time of INCR_ROUNDS `chartsync sync` processes with
 * nothing new to do, on store `name` (closed meanwhile by the caller). */
static double cli_noop_median(const char *name)
{
	double t[INCR_ROUNDS], rss;
	int i;

	for (i = 0; i < INCR_ROUNDS; i++)
		t[i] = cli_sync(name, &rss);
	return bench_median(t, INCR_ROUNDS);
}

static double timed_sync(chs_store *s)
{
	chs_sync_report rep;
	double t0 = bench_now_s(), t;

	if (chs_store_sync(s, NULL, &rep) < 0)
		die("sync");
	t = bench_now_s() - t0;
	chs_sync_report_dispose(&rep);
	return t;
}


static void import(chs_store *s, long first, long n);

/* The median time of INCR_ROUNDS syncs of 100 new changes each, the
 * first numbered *next. */
static double incr_median(chs_store *s, long *next)
{
	double t[INCR_ROUNDS];
	int i;

	for (i = 0; i < INCR_ROUNDS; i++) {
		import(s, *next, 100);
		*next += 100;
		t[i] = timed_sync(s);
	}
	return bench_median(t, INCR_ROUNDS);
}

static void import(chs_store *s, long first, long n)
{
	char name[64], *path;
	int64_t count = 0;

	snprintf(name, sizeof(name), "in-%ld.jsonl", first);
	if (!(path = bench_write_patients(top, name, first, n)))
		die("cannot write the input");
	if (chs_record_import(s, path, &count) < 0 || count != n)
		die("import");
	free(path);
}

/* ---- peers ---- */

static json_t *run_peers(const char *dir, long n)
{
	char cmd[4096], line[4096];
	json_t *peers = json_object();
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s/run-peers' %ld", dir, n);
	if (!(p = popen(cmd, "r")))
		die("cannot run the peer benchmarks");
	while (fgets(line, sizeof(line), p)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *peer = json_string_value(json_object_get(j, "peer"));

		if (!j)
			continue;
		json_object_set(peers, peer && strncmp(peer, "git", 3) == 0 ? "git" : "pouchdb", j);
		json_decref(j);
	}
	/* a ratio without its reference is no figure: a peer that failed
	 * (its message is above) fails the run */
	chs_error_clear();
	if (pclose(p) != 0)
		die("the peer benchmarks failed (their messages are above)");
	if (!json_object_get(peers, "git") || !json_object_get(peers, "pouchdb"))
		die("the peer benchmarks did not print both of their lines");
	return peers;
}

static double num(json_t *peers, const char *peer, const char *key)
{
	return json_number_value(json_object_get(json_object_get(peers, peer), key));
}

static void add_ratios(json_t *out, json_t *peers, double push, double pull, double incr,
		       double floor)
{
	json_t *r = json_object();
	double pouch_push = num(peers, "pouchdb", "push_docs_per_s");
	double pouch_pull = num(peers, "pouchdb", "pull_docs_per_s");
	double git_push = num(peers, "git", "push_changes_per_s");
	double git_incr = num(peers, "git", "incr100_push_s");

	if (pouch_push > 0)
		json_object_set_new(r, "push_vs_pouchdb", json_real(push / pouch_push));
	if (git_push > 0)
		json_object_set_new(r, "push_vs_git", json_real(push / git_push));
	if (pouch_pull > 0) {
		json_object_set_new(r, "pull_vs_pouchdb", json_real(pull / pouch_pull));
		json_object_set_new(r, "store_floor_vs_pouchdb_pull", json_real(floor / pouch_pull));
	}
	if (git_incr > 0 && incr > 0)
		json_object_set_new(r, "incr100_git_over_ours", json_real(git_incr / incr));
	json_object_set_new(out, "peers", peers);
	json_object_set_new(out, "ratios", r);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "changes", required_argument, NULL, 'n' },
		{ "peers", required_argument, NULL, 'p' }, { NULL, 0, NULL, 0 }
	};
	const char *peers_dir = NULL;
	char url[128], path[sizeof(top) + 32];
	chs_store *admin, *writer, *fresh;
	double push_s, pull_s, incr_s, local_s, noop_s, noop_cli_s, rss_mb = 0, floor = 0;
	long n = 10000, next;
	json_t *out;
	char *text;
	int c, port;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n' && atol(optarg) >= 1)
			n = atol(optarg);
		else if (c == 'p')
			peers_dir = optarg;
		else {
			fprintf(stderr, "usage: sync [--changes N] [--peers DIR]\n");
			return 1;
		}
	}
	if (chs_crypto_init() < 0 || !mkdtemp(top))
		die("setup");
	snprintf(path, sizeof(path), "%s/archive.git", top);
	{
		/* a real archive: its settings and its pre-receive hook, which
		 * checks every push over git:// (a push by path skips hooks) */
		char cmd[sizeof(path) + 4096 + 64];

		snprintf(cmd, sizeof(cmd), "'%s' archive init '%s' >/dev/null", chartsync_exe(),
			 path);
		if (system(cmd) != 0)
			die("chartsync archive init");
	}
	port = free_port();
	start_daemon(port);
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/archive.git", port);

	admin = make_store("admin", url);
	writer = make_store("clinic", url);
	fresh = make_store("fresh", url);
	if (chs_org_init(admin, url, "central") < 0)
		die("org init");
	enroll(admin, writer);
	enroll(admin, fresh);
	timed_sync(admin);

	import(writer, 0, n);
	push_s = timed_sync(writer);
	/* the pulling store is closed here: its process is the CLI's */
	chs_store_free(fresh);
	fresh = NULL;
	pull_s = cli_sync("fresh", &rss_mb);
	noop_cli_s = cli_noop_median("fresh");
	if (chs_bench_import_floor(writer, top, n, 1, &floor) < 0)
		die("store floor");
	next = n;
	incr_s = incr_median(writer, &next);
	if (chs_remote_set(writer, path) < 0)
		die("remote");
	local_s = incr_median(writer, &next);
	noop_s = timed_sync(writer);

	out = json_pack("{s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "bench", "sync",
			"changes", (json_int_t)n, "push_changes_per_s", (double)n / push_s,
			"pull_changes_per_s", (double)n / pull_s, "incr100_push_s", incr_s,
			"incr100_local_push_s", local_s, "noop_sync_s", noop_s,
			"noop_sync_process_s", noop_cli_s, "pull_s", pull_s,
			"peak_rss_mb", rss_mb, "store_floor_changes_per_s", floor);
	if (peers_dir)
		add_ratios(out, run_peers(peers_dir, n), (double)n / push_s, (double)n / pull_s,
			   incr_s, floor);
	text = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(4));
	puts(text);
	free(text);
	json_decref(out);
	chs_store_free(admin);
	chs_store_free(writer);
	chs_store_free(fresh);
	cleanup();
	return 0;
}
