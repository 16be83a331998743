/*
 * tools/bench/daemon - the service's figures (README, Benchmarks), from
 * the real `chartsync daemon` process. An organisation with two clinics
 * and an archive by its path: clinic B enters N changes (patients of
 * about 400 bytes, in batches of 1,000) and sends them; the daemon
 * serving clinic A is asked to sync (a `sync` request on its control
 * socket) and pulls them, while one thread asks it for `status` over and
 * over and another runs `chartsync add` on clinic A back to back. Then
 * the daemon is left with nothing to do. Prints one JSON line:
 *
 *   status_p50_ms, status_p99_ms, status_max_ms
 *                   a `status` request answered (a connection of its own
 *                   each, as `chartsync status` makes), one every
 *                   STATUS_PAUSE_MS while the pull runs; status_requests
 *                   of them
 *   add_p50_ms, add_p99_ms
 *                   `chartsync add patient` in a process of its own
 *                   (start, open the store, add, exit) during the pull;
 *                   `adds` of them, `add_failed` of those failed
 *   pull_changes, pull_s
 *                   the changes that sync brought in, and the time from
 *                   the request to its answer
 *   idle_cpu_pct    the daemon's user + system CPU time over idle_s
 *                   seconds with nothing to do (/proc/PID/stat), in
 *                   percent of one core
 *   idle_rss_mb     its resident memory after that (VmRSS)
 *
 * Targets, printed beside them as *_target: status p99 < 50 ms, add p99 <
 * 250 ms, idle CPU < 0.5 % (no polling), idle RSS < 30 MB.
 * Options: --changes N (default 100000), --idle-seconds S (default 60).
 */
#define _GNU_SOURCE /* prctl, posix_spawn */
#include "client/chartsync.h"
#include "workload.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STATUS_PAUSE_MS 10          /* between two status requests */
#define STATUS_TIMEOUT_MS 10000     /* one status request, at most */
#define SYNC_TIMEOUT_MS (3600 * 1000) /* the pull, at most */
#define SAMPLES_MAX 1000000         /* latencies kept per kind, at most */
#define STOP_WAIT_S 10              /* the daemon's exit after `stop` */

#define TARGET_STATUS_P99_MS 50.0
#define TARGET_ADD_P99_MS 250.0
#define TARGET_IDLE_CPU_PCT 0.5
#define TARGET_IDLE_RSS_MB 30.0

extern char **environ;

static char top[] = "/tmp/chartsync-bench-daemon-XXXXXX";
static char clinic_a[sizeof(top) + 16];
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
		fprintf(stderr, "daemon: could not remove %s\n", top);
}

static void die(const char *what)
{
	fprintf(stderr, "daemon: %s: %s\n", what, chs_error_last());
	cleanup();
	exit(2);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- latencies ---- */

typedef struct samples {
	double *ms;
	size_t n, cap;
} samples;

static void samples_add(samples *s, double ms)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *p;

		if (cap > SAMPLES_MAX)
			return; /* enough to know the tail */
		if (!(p = chs_realloc(s->ms, cap * sizeof(*p))))
			return;
		s->ms = p;
		s->cap = cap;
	}
	s->ms[s->n++] = ms;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank percentile `p` (0 < p <= 100); 0 with no samples. */
static double percentile(samples *s, double p)
{
	size_t rank;

	if (!s->n)
		return 0;
	qsort(s->ms, s->n, sizeof(*s->ms), by_value);
	rank = (size_t)(p / 100 * (double)s->n);
	if ((double)rank < p / 100 * (double)s->n)
		rank++; /* rounded up */
	return s->ms[rank ? (rank > s->n ? s->n : rank) - 1 : 0];
}

/* ---- stores ---- */

static chs_store *make_store(const char *name, const char *user, const char *archive)
{
	chs_kdf_params kdf;
	chs_store_create_opts o;
	chs_store *s = NULL;
	char dir[sizeof(top) + 32];

	chs_kdf_params_minimum(&kdf);
	memset(&o, 0, sizeof(o));
	o.user = user;
	o.passphrase = "bench";
	o.passphrase_len = 5;
	o.kdf = &kdf;
	o.terminal = name;
	snprintf(dir, sizeof(dir), "%s/%s", top, name);
	if (chs_store_create(&s, dir, &o) < 0 || chs_remote_set(s, archive) < 0)
		die("store");
	return s;
}

static void enroll(chs_store *admin, chs_store *s, const char *site)
{
	char *line = NULL, dev[33];

	if (chs_device_request(s, &line) < 0 || chs_device_enroll(admin, line, site, "clinic", dev) < 0)
		die("enroll");
	free(line);
}

static void sync_now(chs_store *s)
{
	chs_sync_report rep;

	if (chs_store_sync(s, NULL, &rep) < 0)
		die("sync");
	chs_sync_report_dispose(&rep);
}

/* The chartsync command built with this benchmark:
 * build/tools/bench/bench_daemon -> build/tools/chartsync. */
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

/* ---- the daemon ---- */

/* What the daemon logged, to stderr: why it failed. */
static void show_log(void)
{
	char path[sizeof(top) + 32], line[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/daemon.log", top);
	if (!(f = fopen(path, "r")))
		return;
	fprintf(stderr, "daemon: its log:\n");
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  %s", line);
	fclose(f);
}

static void start_daemon(void)
{
	const char *exe = chartsync_exe();
	char log[sizeof(top) + 32], *text = NULL;
	int i, fd;

	snprintf(log, sizeof(log), "%s/daemon.log", top);
	if ((daemon_pid = fork()) < 0)
		die("fork");
	if (daemon_pid == 0) {
		/* a benchmark stopped by a signal leaves no daemon behind */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
		    dup2(fd, 2) < 0 || !freopen("/dev/null", "w", stdout))
			_exit(127);
		execl(exe, exe, "--store", clinic_a, "--user", "ana", "daemon", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		if (chs_service_call(clinic_a, "status", NULL, 1000, &text) == 0) {
			free(text);
			return;
		}
		if (waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid) {
			daemon_pid = -1;
			fprintf(stderr, "daemon: chartsync daemon exited at start\n");
			break;
		}
		sleep_ms(20);
	}
	show_log();
	die("chartsync daemon did not answer");
}

/* Ask the daemon to stop and wait for it: it must exit 0. */
static void stop_daemon(void)
{
	char *text = NULL;
	int i, status = 0;

	if (chs_service_call(clinic_a, "stop", NULL, STATUS_TIMEOUT_MS, &text) < 0)
		die("stop request");
	free(text);
	for (i = 0; i < STOP_WAIT_S * 50; i++) {
		if (waitpid(daemon_pid, &status, WNOHANG) == daemon_pid)
			break;
		sleep_ms(20);
	}
	if (i == STOP_WAIT_S * 50) {
		show_log();
		die("chartsync daemon did not stop within 10 s of a stop request");
	}
	daemon_pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "daemon: chartsync daemon ended with %s %d after a stop request\n",
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		show_log();
		die("stop");
	}
}

/* ---- during the pull ---- */

static atomic_int pulling = 1;

static void *status_loop(void *arg)
{
	samples *s = arg;
	char *text;

	while (atomic_load(&pulling)) {
		double t0 = bench_now_s();

		text = NULL;
		if (chs_service_call(clinic_a, "status", NULL, STATUS_TIMEOUT_MS, &text) < 0)
			fprintf(stderr, "daemon: status: %s\n", chs_error_last());
		samples_add(s, (bench_now_s() - t0) * 1000);
		free(text);
		sleep_ms(STATUS_PAUSE_MS);
	}
	return NULL;
}

typedef struct adds {
	samples ms;
	long failed;
} adds;

/* `chartsync add patient` on clinic A: 0 when it exited 0. */
static int cli_add(long i, int err_fd)
{
	const char *exe = chartsync_exe();
	char name[64], mrn[64];
	char *argv[] = { (char *)exe, "--store", clinic_a, "--user", "ana", "add", "patient",
			 name, mrn, NULL };
	posix_spawn_file_actions_t fa;
	int status, rc;
	pid_t pid;

	snprintf(name, sizeof(name), "name=Walk-in %ld", i);
	snprintf(mrn, sizeof(mrn), "mrn=WALKIN-%ld", i);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void *add_loop(void *arg)
{
	adds *a = arg;
	char path[sizeof(top) + 32];
	long i;
	int fd;

	snprintf(path, sizeof(path), "%s/add-errors.log", top);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
		return NULL;
	for (i = 0; atomic_load(&pulling); i++) {
		double t0 = bench_now_s();

		if (cli_add(i, fd) < 0)
			a->failed++;
		samples_add(&a->ms, (bench_now_s() - t0) * 1000);
	}
	close(fd);
	return NULL;
}

/* The sync the daemon is asked for, with status and adds meanwhile:
 * its changes in, and its time. */
static long pull(samples *status, adds *add, double *pull_s)
{
	pthread_t st, ad;
	char *text = NULL;
	json_t *rep;
	double t0;
	long in;
	int err;

	if (pthread_create(&st, NULL, status_loop, status) != 0 ||
	    pthread_create(&ad, NULL, add_loop, add) != 0)
		die("threads");
	t0 = bench_now_s();
	err = chs_service_call(clinic_a, "sync", NULL, SYNC_TIMEOUT_MS, &text);
	*pull_s = bench_now_s() - t0;
	atomic_store(&pulling, 0);
	pthread_join(st, NULL);
	pthread_join(ad, NULL);
	if (err < 0)
		die("the daemon's sync");
	if (!(rep = json_loads(text, 0, NULL)))
		die("the daemon's sync report");
	in = (long)json_integer_value(json_object_get(rep, "changes_in"));
	json_decref(rep);
	free(text);
	return in;
}

/* The adds made during the pull leave too (sync.after_write is 1 s
 * here): sync them now and let the writes settle, so that the idle time
 * measured has nothing to do. */
static void drain(void)
{
	char *text = NULL;
	int i;

	for (i = 0; i < 2; i++) {
		sleep_ms(2000);
		if (chs_service_call(clinic_a, "sync", NULL, SYNC_TIMEOUT_MS, &text) < 0)
			die("the daemon's sync after the adds");
		free(text);
		text = NULL;
	}
	sleep_ms(1000);
}

/* ---- idle ---- */

/* The process's user + system CPU time so far, in seconds. */
static double cpu_s(pid_t pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ut, st;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (!(f = fopen(path, "r")))
		die("cannot read the daemon's /proc/PID/stat");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after "pid (comm) ": state, 5 numbers, flags, 4 fault counts, then
	 * utime and stime (proc(5), fields 14 and 15) */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		die("cannot read the daemon's CPU time");
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Its resident memory now, in MiB. */
static double rss_mb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if (!(f = fopen(path, "r")))
		die("cannot read the daemon's /proc/PID/status");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0)
		die("no VmRSS for the daemon");
	return (double)kb / 1024;
}

/* ---- setup ---- */

static void import(chs_store *s, long n)
{
	char *path;
	int64_t count = 0;

	if (!(path = bench_write_patients(top, "in.jsonl", 0, n)))
		die("cannot write the input");
	if (chs_record_import(s, path, &count) < 0 || count != n)
		die("import");
	free(path);
}

/* The archive, the admin's store and two clinics; clinic B's N changes
 * in the archive, clinic A enrolled and synced once before them, set to
 * sync only when asked (and soon after work typed in), then closed: its
 * process is the daemon's. */
static void setup(long n)
{
	char archive[sizeof(top) + 32], cmd[sizeof(archive) + 4096 + 64];
	chs_store *admin, *a, *b;

	snprintf(archive, sizeof(archive), "%s/archive.git", top);
	snprintf(cmd, sizeof(cmd), "'%s' archive init '%s' >/dev/null", chartsync_exe(), archive);
	if (system(cmd) != 0)
		die("chartsync archive init");
	admin = make_store("admin", "admin", archive);
	a = make_store("clinic-a", "ana", archive);
	b = make_store("clinic-b", "ben", archive);
	if (chs_org_init(admin, archive, "central") < 0)
		die("org init");
	enroll(admin, a, "Clinic A");
	enroll(admin, b, "Clinic B");
	sync_now(admin);
	sync_now(a);
	if (chs_config_set(a, "sync.interval", "") < 0 ||
	    chs_config_set(a, "sync.after_write", "1") < 0)
		die("config");
	import(b, n);
	sync_now(b);
	chs_store_free(admin);
	chs_store_free(a);
	chs_store_free(b);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "changes", required_argument, NULL, 'n' },
		{ "idle-seconds", required_argument, NULL, 'i' }, { NULL, 0, NULL, 0 }
	};
	samples status = { 0 };
	adds add = { { 0 }, 0 };
	double pull_s, cpu0, cpu1, idle_rss;
	long n = 100000, idle_s = 60, in;
	json_t *out;
	char *text;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n' && atol(optarg) >= 1)
			n = atol(optarg);
		else if (c == 'i' && atol(optarg) >= 1)
			idle_s = atol(optarg);
		else {
			fprintf(stderr, "usage: daemon [--changes N] [--idle-seconds S]\n");
			return 1;
		}
	}
	if (chs_crypto_init() < 0 || !mkdtemp(top))
		die("setup");
	snprintf(clinic_a, sizeof(clinic_a), "%s/clinic-a", top);
	/* the daemon and the adds read the passphrase from here */
	if (setenv("CHARTSYNC_PASSPHRASE", "bench", 1) < 0)
		die("setenv");
	unsetenv("CHARTSYNC_PASSPHRASE_FILE");
	setup(n);
	start_daemon();
	in = pull(&status, &add, &pull_s);
	if (in < n)
		fprintf(stderr, "daemon: the pull brought %ld changes of %ld\n", in, n);
	drain();
	cpu0 = cpu_s(daemon_pid);
	sleep_ms(idle_s * 1000);
	cpu1 = cpu_s(daemon_pid);
	idle_rss = rss_mb(daemon_pid);
	stop_daemon();

	out = json_pack("{s:s, s:I, s:f, s:f, s:f, s:I, s:f, s:f, s:I, s:I, s:I, s:f, s:I, s:f,"
			" s:f, s:f, s:f, s:f, s:f}",
			"bench", "daemon", "changes", (json_int_t)n,
			"status_p50_ms", percentile(&status, 50),
			"status_p99_ms", percentile(&status, 99),
			"status_max_ms", percentile(&status, 100),
			"status_requests", (json_int_t)status.n,
			"add_p50_ms", percentile(&add.ms, 50), "add_p99_ms", percentile(&add.ms, 99),
			"adds", (json_int_t)add.ms.n, "add_failed", (json_int_t)add.failed,
			"pull_changes", (json_int_t)in, "pull_s", pull_s,
			"idle_s", (json_int_t)idle_s,
			"idle_cpu_pct", (cpu1 - cpu0) / (double)idle_s * 100,
			"idle_rss_mb", idle_rss,
			"status_p99_ms_target", TARGET_STATUS_P99_MS,
			"add_p99_ms_target", TARGET_ADD_P99_MS,
			"idle_cpu_pct_target", TARGET_IDLE_CPU_PCT,
			"idle_rss_mb_target", TARGET_IDLE_RSS_MB);
	if (!out || !(text = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(4))))
		die("out of memory");
	puts(text);
	free(text);
	json_decref(out);
	free(status.ms);
	free(add.ms.ms);
	cleanup();
	return 0;
}
