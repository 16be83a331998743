/*
 * client/service/daemon.c - chs_service_run(): the service's loop.
 *
 * One libuv loop on the calling thread owns every handle: the control
 * socket, the hot folder, the signals, a watch on the store's folder and
 * one timer for the schedule. Store work never runs on it: a sync, a scan
 * taken, the settings read and the counts refreshed are jobs, run one at
 * a time on libuv's threadpool with the service's one chs_store (a
 * chs_store belongs to one thread at a time; the jobs hand it on). So the
 * loop answers `status` at once even while a long pull applies.
 *
 * When to sync is worked out on the wall clock (schedule.c) every time
 * the timer fires, and the timer never sleeps longer than RECHECK_MS: the
 * loop's clock stops while the machine sleeps, so this is how a laptop
 * that wakes up after a night notices at once that its sync is overdue.
 *
 * Work typed in here by the CLI shows as writes to the store's WAL; the
 * folder watch sees them, and once the counts say batches wait to be
 * sent, a sync is due within sync.after_write.
 *
 * Backups: with backup.dir set, a backup job (chs_store_backup, keeping
 * backup.keep) is queued when backup.every has passed since the last one
 * (DIR/backup.json; at once when there was none), in turn with the other
 * jobs; an unchanged store writes nothing. A failed one is tried again
 * after BACKUP_RETRY_MS (or backup.every, when shorter).
 *
 * Stopping (SIGTERM, SIGINT, `stop`): the running job is asked to stop
 * (a sync ends after the group of batches it is applying, within about a
 * second), then the store is closed, the socket removed and the loop
 * left with every handle closed.
 */
#define _GNU_SOURCE
#include "service_int.h"
#include "client/json/json.h"
#include "client/records/records.h"
#include "client/replicate/replicate.h"
#include "client/util/file.h"
#include "client/util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define RECHECK_MS 60000u          /* the longest the schedule timer sleeps */
#define WAL_SETTLE_MS 500u         /* writes seen: look at the counts after this */
#define SUMMARY_EVERY_MS (30u * 60000) /* a failing archive: one line per half hour */
#define OFFSET_MAX_MS 60000u       /* this store's fixed offset, at most */
#define BACKUP_RETRY_MS (15u * 60000) /* after a failed backup */

typedef enum { JOB_SYNC, JOB_SCAN, JOB_COUNTS, JOB_SETTINGS, JOB_BACKUP } job_kind;

typedef struct daemon daemon_t;
typedef struct waiter waiter;

typedef struct job {
	uv_work_t work;
	job_kind kind;
	daemon_t *d;
	struct job *next;
	/* in */
	char *name;                  /* JOB_SCAN: the file; JOB_BACKUP: backup.dir */
	/* out */
	int err;
	char message[1024];
	chs_sync_report rep;         /* JOB_SYNC */
	waiter *waiters;             /* JOB_SYNC: `sync` requests it answers */
	chs_scan_outcome scan;       /* JOB_SCAN */
	int64_t unsent, review;      /* JOB_COUNTS (and after every job) */
	chs_schedule_conf conf;      /* JOB_SETTINGS */
	char *folder;
	int keep;
	uint64_t settle_ms, rescan_ms;
	char *backup_dir;            /* JOB_SETTINGS: backup.* */
	long backup_every_s;
	int backup_keep;
	chs_backup_result backup;    /* JOB_BACKUP */
} job;

/* A `sync` request, answered by the first sync that starts after it. */
struct waiter {
	chs_control_call *call;
	json_t *id;
	struct waiter *next;
};

struct daemon {
	uv_loop_t loop;
	chs_log log;
	chs_store *s;
	const char *dir;
	uint64_t started_ms;

	/* handles */
	chs_control *control;
	chs_hotfolder *hot;
	uv_timer_t schedule, watchdog, wal_timer;
	uv_signal_t sigterm, sigint, sighup;
	uv_poll_t dir_poll;
	int inotify_fd;
	int pid_fd;

	/* settings (JOB_SETTINGS) */
	chs_schedule_conf conf;
	char *folder;
	int keep;
	uint64_t settle_ms, rescan_ms;
	char *backup_dir;            /* NULL: no scheduled backups */
	long backup_every_s;
	int backup_keep;
	int have_settings;

	/* jobs */
	job *queue, *queue_tail;
	job *running;
	int sync_queued;
	int counts_queued;
	int backup_queued;
	uint64_t next_backup_ms;     /* wall clock; 0: work it out from DIR/backup.json */
	int wal_seen_in_sync;        /* the WAL was written while a sync ran */
	waiter *waiting;             /* for the sync not started yet */
	atomic_int stopping;
	int quiet;                   /* stopping because the start failed */
	int reloading;
	chs_control_call *reload_call;
	json_t *reload_id;

	/* what the schedule and `status` know */
	uint64_t last_good_ms;       /* kept in DIR/service.json */
	uint64_t last_attempt_ms, last_end_ms;
	int last_ok;
	char last_error[1024];
	char last_refusal[1024];
	size_t last_in, last_out, last_batches_in, last_batches_out;
	uint64_t next_ms;            /* the next attempt, wall clock */
	uint64_t write_due_ms;       /* a sync for work typed in here; 0: none */
	chs_backoff backoff;
	uint64_t failing_since_ms, last_summary_ms;
	unsigned tries;
	int64_t unsent, review;
	size_t scans_taken, scans_unmatched;
	char last_scan[512];
	char last_scan_reason[512];  /* of the last file left in place */
	char status_line[256];
};

/* ------------------------------------------------------------------ */
/* Small things                                                         */

static void when_text(uint64_t ms, char out[32])
{
	if (!ms) {
		strcpy(out, "never");
		return;
	}
	chs_util__ms_time((int64_t)ms, out);
}

/* "10:42" in local time, for the one-line status systemd shows. */
static void clock_text(uint64_t ms, char out[16])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, 16, "%H:%M", &tm);
}

static void duration_text(uint64_t ms, char *out, size_t n)
{
	uint64_t s = (ms + 999) / 1000;

	if (s < 60)
		snprintf(out, n, "%us", (unsigned)s);
	else if (s < 3600)
		snprintf(out, n, "%um", (unsigned)((s + 59) / 60));
	else
		snprintf(out, n, "%uh%02um", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60));
}

/* This store's fixed offset: from its id, so it is the same at every
 * start and different from the other clinics'. */
static uint64_t store_offset(const char *store_id)
{
	unsigned char h[CHS_HASH_BYTES];
	uint64_t v = 0;
	size_t i;

	chs_hash(h, store_id, strlen(store_id));
	for (i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return v % OFFSET_MAX_MS;
}

/* ------------------------------------------------------------------ */
/* What survives a restart: the last good sync's wall-clock time         */

static void state_load(daemon_t *d)
{
	char *path = chs_util__path(d->dir, "service.json"), *text = NULL;
	json_t *doc;
	size_t len;

	if (path && chs_file_read(path, 4096, &text, &len) == 0 &&
	    (doc = json_loadb(text, len, 0, NULL))) {
		json_int_t v = json_integer_value(json_object_get(doc, "last_good_sync_ms"));

		d->last_good_ms = v > 0 ? (uint64_t)v : 0;
		/* a clock set back since (it ran ahead then) must not hold
		 * the schedule off until it catches up */
		if (d->last_good_ms > chs_service__wall_ms())
			d->last_good_ms = chs_service__wall_ms();
		json_decref(doc);
	}
	chs_error_clear();
	free(text);
	free(path);
}

static void state_save(daemon_t *d)
{
	char *path = chs_util__path(d->dir, "service.json"), *text = NULL;
	json_t *doc = json_pack("{s:I}", "last_good_sync_ms", (json_int_t)d->last_good_ms);

	if (path && doc && (text = json_dumps(doc, JSON_COMPACT)) &&
	    chs_file_save(path, text, strlen(text)) < 0)
		chs_service__log(&d->log, "state", "cannot keep the time of the last sync: %s",
				 chs_error_last());
	free(text);
	json_decref(doc);
	free(path);
}

/* ------------------------------------------------------------------ */
/* systemd's one-line status                                            */

static void update_status_line(daemon_t *d)
{
	char line[256], at[16], next[16], wait[32];
	uint64_t now = chs_service__wall_ms();

	clock_text(d->last_end_ms, at);
	clock_text(d->next_ms, next);
	if (atomic_load(&d->stopping))
		snprintf(line, sizeof(line), "stopping");
	else if (d->running && d->running->kind == JOB_SYNC)
		snprintf(line, sizeof(line), "syncing");
	else if (d->backoff.failures) {
		char why[181];

		duration_text(d->next_ms > now ? d->next_ms - now : 0, wait, sizeof(wait));
		chs_service__clean(why, sizeof(why), d->last_error);
		snprintf(line, sizeof(line), "retrying in %s: %s", wait, why);
	} else if (d->last_end_ms)
		snprintf(line, sizeof(line), "idle · last sync %s ok · next %s", at,
			 d->next_ms == UINT64_MAX ? "not planned" : next);
	else
		snprintf(line, sizeof(line), "idle · no sync yet · next %s",
			 d->next_ms == UINT64_MAX ? "not planned" : next);
	if (strcmp(line, d->status_line) == 0)
		return;
	snprintf(d->status_line, sizeof(d->status_line), "%s", line);
	{
		char msg[300];

		snprintf(msg, sizeof(msg), "STATUS=%s", line);
		chs_service__notify(msg);
	}
}

/* ------------------------------------------------------------------ */
/* Jobs: on the threadpool, one at a time                               */

static int cancel_requested(void *payload)
{
	daemon_t *d = payload;

	return atomic_load(&d->stopping);
}

/* The words go into replies, `status` and systemd's status line: one
 * line of valid UTF-8, whatever an archive's server said. */
static void keep_error(job *j, int err)
{
	j->err = err;
	chs_service__clean(j->message, sizeof(j->message), chs_error_last());
}

static void read_settings(job *j)
{
	static const char *const keys[] = { "sync.interval", "sync.window", "sync.after_write",
					    "scan.folder", "scan.keep", "scan.settle",
					    "scan.rescan", "backup.dir", "backup.every",
					    "backup.keep" };
	char *v[sizeof(keys) / sizeof(*keys)] = { 0 };
	long n;
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(keys) / sizeof(*keys) && err == 0; i++)
		err = chs_config_get(j->d->s, keys[i], &v[i]);
	if (err < 0) {
		keep_error(j, err);
		goto done;
	}
	/* the settings were checked when set: a form that fails here is
	 * one an older version allowed, and gets the default */
	j->conf.interval_s = *v[0] && chs_config_parse_seconds(v[0], &n) == 0 ? n : 0;
	if (!*v[1] || chs_config_parse_window(v[1], &j->conf.window_start,
					       &j->conf.window_end) < 0)
		j->conf.window_start = j->conf.window_end = -1;
	j->conf.after_write_s = chs_config_parse_seconds(v[2], &n) == 0 ? n : 30;
	j->conf.offset_ms = store_offset(chs_store_id(j->d->s));
	j->folder = *v[3] ? chs_strdup(v[3]) : NULL;
	j->keep = strcmp(v[4], "false") != 0;
	j->settle_ms = (uint64_t)(chs_config_parse_seconds(v[5], &n) == 0 ? n : 3) * 1000;
	j->rescan_ms = (uint64_t)(chs_config_parse_seconds(v[6], &n) == 0 ? n : 600) * 1000;
	j->backup_dir = *v[7] ? chs_strdup(v[7]) : NULL;
	j->backup_every_s = chs_config_parse_seconds(v[8], &n) == 0 && n > 0 ? n : 24 * 3600;
	n = strtol(v[9], NULL, 10);
	j->backup_keep = n > 0 && n <= 10000 ? (int)n : 14;
done:
	for (i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		free(v[i]);
}

static void run_job(uv_work_t *w)
{
	job *j = w->data;
	daemon_t *d = j->d;
	chs_sync_opts o;
	chs_backup_opts bo;
	int err;

	chs_error_clear();
	switch (j->kind) {
	case JOB_SYNC:
		memset(&o, 0, sizeof(o));
		o.cancel = cancel_requested;
		o.payload = d;
		if ((err = chs_store_sync(d->s, &o, &j->rep)) < 0)
			keep_error(j, err);
		break;
	case JOB_SCAN:
		/* the folder and keep of when it was queued: a reload since may
		 * have changed them */
		chs_service__scan_take(d->s, j->folder, j->name, j->keep, &j->scan);
		break;
	case JOB_SETTINGS:
		read_settings(j);
		break;
	case JOB_BACKUP:
		memset(&bo, 0, sizeof(bo));
		bo.keep = j->backup_keep;
		if ((err = chs_store_backup(d->s, j->name, &bo, &j->backup)) < 0)
			keep_error(j, err);
		break;
	case JOB_COUNTS:
		break;
	}
	/* every job ends with fresh counts for `status` */
	if (chs_store_unsent_count(d->s, &j->unsent) < 0 || chs_review_count(d->s, &j->review) < 0)
		j->unsent = j->review = -1;
	chs_error_clear();
}

static void job_free(job *j)
{
	if (j->kind == JOB_SYNC)
		chs_sync_report_dispose(&j->rep);
	if (j->kind == JOB_BACKUP)
		chs_backup_result_dispose(&j->backup);
	free(j->name);
	free(j->folder);
	free(j->backup_dir);
	free(j);
}

static void after_job(uv_work_t *w, int status);
static void on_wal_settled(uv_timer_t *t);
static void schedule(daemon_t *d);
static void finish_stop(daemon_t *d);

static void start_next_job(daemon_t *d)
{
	job *j;

	if (d->running || !(j = d->queue))
		return;
	d->queue = j->next;
	if (!d->queue)
		d->queue_tail = NULL;
	j->next = NULL;
	if (j->kind == JOB_SYNC) {
		/* the requests made so far go with this sync; later ones wait
		 * for the next, which starts after their caller's work was saved */
		d->sync_queued = 0;
		j->waiters = d->waiting;
		d->waiting = NULL;
	}
	if (j->kind == JOB_COUNTS)
		d->counts_queued = 0;
	if (j->kind == JOB_BACKUP)
		d->backup_queued = 0;
	d->running = j;
	j->work.data = j;
	if (j->kind == JOB_SYNC) {
		d->last_attempt_ms = chs_service__wall_ms();
		update_status_line(d);
	}
	if (uv_queue_work(&d->loop, &j->work, run_job, after_job) < 0) {
		d->running = NULL;
		job_free(j);
	}
}

static int queue_job(daemon_t *d, job_kind kind, const char *name)
{
	job *j;

	if (atomic_load(&d->stopping))
		return CHS_ECANCELLED;
	if ((kind == JOB_SYNC && d->sync_queued) || (kind == JOB_COUNTS && d->counts_queued) ||
	    (kind == JOB_BACKUP && d->backup_queued))
		return 0;
	if (!(j = chs_calloc(1, sizeof(*j))) || (name && !(j->name = chs_strdup(name)))) {
		free(j);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	j->kind = kind;
	j->d = d;
	if (kind == JOB_SCAN) {
		j->keep = d->keep;
		if (!d->folder || !(j->folder = chs_strdup(d->folder))) {
			job_free(j);
			return chs_error_set(CHS_ENOMEM, "out of memory");
		}
	}
	if (kind == JOB_SYNC) {
		chs_buf_init(&j->rep.problems, 0);
		d->sync_queued = 1;
	}
	if (kind == JOB_COUNTS)
		d->counts_queued = 1;
	if (kind == JOB_BACKUP) {
		j->backup_keep = d->backup_keep;
		d->backup_queued = 1;
	}
	if (d->queue_tail)
		d->queue_tail->next = j;
	else
		d->queue = j;
	d->queue_tail = j;
	start_next_job(d);
	return 0;
}

/* ------------------------------------------------------------------ */
/* What a finished job means                                            */

static void answer_waiters(job *j)
{
	waiter *w = j->waiters, *next;
	char *report = NULL;

	j->waiters = NULL;
	if (j->err == 0 || j->err == CHS_EDAMAGED)
		if (chs_json_sync_report(&report, &j->rep) < 0)
			report = NULL;
	for (; w; w = next) {
		char *reply;

		next = w->next;
		if (j->err == 0 && report)
			reply = chs_service__reply_result(w->id, json_loads(report, 0, NULL));
		else
			/* a sync that refused something still says what it did */
			reply = chs_service__reply_error_data(
				w->id, j->err ? j->err : CHS_ENOMEM,
				j->err ? j->message : "out of memory",
				j->err == CHS_EDAMAGED && report ? json_loads(report, 0, NULL) : NULL);
		chs_service__control_answer(w->call, reply);
		json_decref(w->id);
		free(w);
	}
	free(report);
}

static void sync_failed(daemon_t *d, const job *j, uint64_t now)
{
	char wait[32];
	uint64_t delay;
	int changed = strcmp(d->last_error, j->message) != 0 || !d->backoff.failures;

	if (j->err == CHS_ECANCELLED)
		return; /* stopping: not the archive's failure */
	delay = chs_service__backoff_fail(&d->backoff);
	d->tries++;
	if (d->backoff.failures == 1)
		d->failing_since_ms = now;
	snprintf(d->last_error, sizeof(d->last_error), "%s", j->message);
	d->next_ms = now + delay;
	duration_text(delay, wait, sizeof(wait));
	if (changed) {
		chs_service__log(&d->log, "sync", "failed: %s; trying again in %s", j->message, wait);
		d->last_summary_ms = now;
	} else if (now - d->last_summary_ms >= SUMMARY_EVERY_MS) {
		char since[16];

		clock_text(d->failing_since_ms, since);
		chs_service__log(&d->log, "sync", "still failing: %u tries since %s, last error: %s",
				 d->tries, since, j->message);
		d->last_summary_ms = now;
	}
}

/* A sync that moved something, in one line. */
static void log_report(daemon_t *d, const chs_sync_report *r)
{
	char more[256] = "";

	if (r->attachments_in || r->chunks_out)
		snprintf(more, sizeof(more), "; %zu attachment%s in, %zu MiB of scans out",
			 r->attachments_in, r->attachments_in == 1 ? "" : "s", r->chunks_out);
	if (r->tampering)
		snprintf(more + strlen(more), sizeof(more) - strlen(more), "; the archive was"
			 " tampered with (see 'chartsync report archive')");
	chs_service__log(&d->log, "sync", "%zu change%s in, %zu out%s", r->changes_in,
			 r->changes_in == 1 ? "" : "s", r->changes_pushed, more);
}

static void sync_done(daemon_t *d, job *j)
{
	uint64_t now = chs_service__wall_ms();

	d->last_end_ms = now;
	if (j->err == CHS_EDAMAGED && j->rep.refused)
		snprintf(d->last_refusal, sizeof(d->last_refusal), "%s", j->message);
	if (j->err == 0) {
		if (d->backoff.failures)
			chs_service__log(&d->log, "sync", "the archive answers again after %u failed"
					 " tr%s", d->tries, d->tries == 1 ? "y" : "ies");
		chs_service__backoff_reset(&d->backoff);
		d->tries = 0;
		d->last_ok = 1;
		d->last_error[0] = '\0';
		d->last_good_ms = now;
		d->write_due_ms = 0;
		d->last_in = j->rep.changes_in;
		d->last_out = j->rep.changes_pushed;
		d->last_batches_in = j->rep.batches_in;
		d->last_batches_out = j->rep.batches_pushed;
		state_save(d);
		if (j->rep.changes_in || j->rep.batches_pushed || j->rep.attachments_in ||
		    j->rep.chunks_out || j->rep.tampering)
			log_report(d, &j->rep);
	} else {
		d->last_ok = 0;
		sync_failed(d, j, now);
	}
	answer_waiters(j);
}

static void apply_settings(daemon_t *d, job *j);

static void backup_done(daemon_t *d, job *j)
{
	uint64_t now = chs_service__wall_ms(), retry = BACKUP_RETRY_MS;
	const chs_backup_result *r = &j->backup;

	if (j->err < 0) {
		if ((uint64_t)d->backup_every_s * 1000 < retry)
			retry = (uint64_t)d->backup_every_s * 1000;
		d->next_backup_ms = now + retry;
		chs_service__log(&d->log, "backup", "failed, trying again in %llu min: %s",
				 (unsigned long long)(retry / 60000), j->message);
		return;
	}
	d->next_backup_ms = now + (uint64_t)d->backup_every_s * 1000;
	if (r->unchanged)
		chs_service__log(&d->log, "backup", "unchanged since %s: nothing written", r->path);
	else
		chs_service__log(&d->log, "backup", "made %s (%.1f MB)", r->path,
				 (double)r->bytes / 1e6);
	if (r->removed)
		chs_service__log(&d->log, "backup", "removed %zu old backup%s", r->removed,
				 r->removed == 1 ? "" : "s");
}

static void scan_done(daemon_t *d, job *j)
{
	const chs_scan_outcome *o = &j->scan;

	if (o->status == 0) {
		d->scans_taken++;
		chs_service__log(&d->log, "scan", "%s: %s patient %.8s%s", j->name,
				 o->duplicate ? "already attached to" : "attached to", o->patient,
				 o->where && strcmp(o->where, "removed") == 0 ? " (removed)" : "");
		if (!o->duplicate && !d->write_due_ms)
			d->write_due_ms = chs_service__wall_ms() + (uint64_t)d->conf.after_write_s * 1000;
	} else if (o->where && strcmp(o->where, "unmatched") == 0) {
		d->scans_unmatched++;
		chs_service__log(&d->log, "scan", "%s: not taken, moved to unmatched/: %s", j->name,
				 o->reason);
	} else if (strcmp(d->last_scan, j->name) != 0 || strcmp(d->last_scan_reason, o->reason)) {
		/* said once per file and reason: it is tried again, less often */
		chs_service__log(&d->log, "scan", "%s: not taken yet, will try again: %s", j->name,
				 o->reason);
		snprintf(d->last_scan_reason, sizeof(d->last_scan_reason), "%s", o->reason);
	}
	snprintf(d->last_scan, sizeof(d->last_scan), "%s", j->name);
	if (d->hot)
		chs_service__hotfolder_done(d->hot, j->name, o->where == NULL);
}

static void after_job(uv_work_t *w, int status)
{
	job *j = w->data;
	daemon_t *d = j->d;

	(void)status;
	d->running = NULL;
	if (j->unsent >= 0) {
		d->unsent = j->unsent;
		d->review = j->review;
	}
	switch (j->kind) {
	case JOB_SYNC:
		sync_done(d, j);
		break;
	case JOB_SCAN:
		scan_done(d, j);
		break;
	case JOB_SETTINGS:
		apply_settings(d, j);
		break;
	case JOB_BACKUP:
		backup_done(d, j);
		break;
	case JOB_COUNTS:
		break;
	}
	/* batches made here wait to go (saved while a sync was past its
	 * push, too): a sync within sync.after_write */
	if (d->unsent > 0 && !d->write_due_ms)
		d->write_due_ms = chs_service__wall_ms() + (uint64_t)d->conf.after_write_s * 1000;
	/* writes seen while the sync ran may have come after its count */
	if (j->kind == JOB_SYNC && d->wal_seen_in_sync && !atomic_load(&d->stopping))
		uv_timer_start(&d->wal_timer, on_wal_settled, WAL_SETTLE_MS, 0);
	if (j->kind == JOB_SYNC)
		d->wal_seen_in_sync = 0;
	job_free(j);
	if (atomic_load(&d->stopping)) {
		finish_stop(d);
		return;
	}
	start_next_job(d);
	schedule(d);
}

/* ------------------------------------------------------------------ */
/* The schedule                                                         */

static void on_schedule(uv_timer_t *t);

static void schedule(daemon_t *d)
{
	uint64_t now = chs_service__wall_ms(), due, wait;

	if (atomic_load(&d->stopping) || !d->have_settings)
		return;
	if (d->backoff.failures)
		due = d->next_ms; /* set by the failure, until a sync succeeds */
	else	/* a clock set back must not hold the schedule off */
		due = chs_service__next_sync(&d->conf, d->last_good_ms > now ? now
					     : d->last_good_ms, now);
	/* work typed in here goes soon, when the archive answers */
	if (d->write_due_ms && !d->backoff.failures && d->write_due_ms < due)
		due = d->write_due_ms;
	d->next_ms = due;
	if (due <= now && !d->running && !d->sync_queued) {
		queue_job(d, JOB_SYNC, NULL);
		due = UINT64_MAX; /* looked at again when the sync ends */
	}
	wait = due == UINT64_MAX || due <= now ? RECHECK_MS : due - now;
	if (d->backup_dir) {
		if (d->next_backup_ms <= now && !d->backup_queued &&
		    !(d->running && d->running->kind == JOB_BACKUP))
			queue_job(d, JOB_BACKUP, d->backup_dir);
		else if (d->next_backup_ms > now && d->next_backup_ms - now < wait)
			wait = d->next_backup_ms - now;
	}
	if (wait > RECHECK_MS)
		wait = RECHECK_MS;
	uv_timer_start(&d->schedule, on_schedule, wait, 0);
	update_status_line(d);
}

static void on_schedule(uv_timer_t *t)
{
	schedule(t->data);
}

/* A complete scan: taken on the worker, in turn with the other jobs. */
static void hot_ready(chs_hotfolder *h, const char *name, void *payload)
{
	daemon_t *d = payload;

	if (queue_job(d, JOB_SCAN, name) < 0)
		chs_service__hotfolder_done(h, name, 1);
}

/* backup.*: the next backup is due backup.every after the last one
 * (now when there was none, or when the folder changed). */

/* 1 when `backup` (a path as chs_store_backup_last() gives it, resolved)
 * is a backup folder directly inside `dir` (as the setting names it: a
 * link, a trailing slash, or "/mnt/b" beside "/mnt/b2" all told apart). */
static int backup_is_in(const char *backup, const char *dir)
{
	char *real = realpath(dir, NULL);
	size_t n = real ? strlen(real) : 0;
	int yes = real && strncmp(backup, real, n) == 0 &&
		  (n == 1 || backup[n] == '/') && !strchr(backup + n + (n > 1), '/');

	free(real);
	return yes;
}
static void apply_backup_settings(daemon_t *d, job *j)
{
	int64_t at = 0;
	char *path = NULL;
	int changed = (d->backup_dir == NULL) != (j->backup_dir == NULL) ||
		      (d->backup_dir && strcmp(d->backup_dir, j->backup_dir) != 0);

	free(d->backup_dir);
	d->backup_dir = j->backup_dir;
	j->backup_dir = NULL;
	d->backup_every_s = j->backup_every_s;
	d->backup_keep = j->backup_keep;
	if (!d->backup_dir || !changed)
		return;
	d->next_backup_ms = 0;
	if (chs_store_backup_last(d->dir, &at, &path) == 0 && at > 0 && path &&
	    backup_is_in(path, d->backup_dir))
		d->next_backup_ms = (uint64_t)(at + d->backup_every_s) * 1000;
	chs_error_clear();
	free(path);
}

static void apply_settings(daemon_t *d, job *j)
{
	int folder_changed;

	if (j->err < 0) {
		chs_service__log(&d->log, "settings", "cannot read the settings: %s%s", j->message,
				 d->have_settings ? "; keeping the ones read before"
				 : "; syncing every 5 minutes meanwhile");
		if (!d->have_settings) {
			/* the defaults, so a service that started still syncs */
			d->conf.interval_s = 300;
			d->conf.window_start = d->conf.window_end = -1;
			d->conf.after_write_s = 30;
			d->conf.offset_ms = store_offset(chs_store_id(d->s));
			d->have_settings = 1;
		}
	} else {
		folder_changed = !d->have_settings || (d->folder == NULL) != (j->folder == NULL) ||
			(d->folder && strcmp(d->folder, j->folder) != 0) ||
			d->settle_ms != j->settle_ms || d->rescan_ms != j->rescan_ms;
		d->conf = j->conf;
		d->keep = j->keep;
		apply_backup_settings(d, j);
		d->settle_ms = j->settle_ms;
		d->rescan_ms = j->rescan_ms;
		if (folder_changed) {
			chs_service__hotfolder_stop(d->hot);
			d->hot = NULL;
			free(d->folder);
			d->folder = j->folder;
			j->folder = NULL;
			if (d->folder) {
				chs_hotfolder_opts ho;

				memset(&ho, 0, sizeof(ho));
				ho.folder = d->folder;
				ho.settle_ms = d->settle_ms;
				ho.rescan_ms = d->rescan_ms;
				ho.log = &d->log;
				ho.ready = hot_ready;
				ho.payload = d;
				if (chs_service__hotfolder_start(&d->hot, &d->loop, &ho) < 0)
					chs_service__log(&d->log, "scan", "the hot folder is not watched: %s",
							 chs_error_last());
			}
		}
		d->have_settings = 1;
	}
	if (d->reloading) {
		d->reloading = 0;
		chs_service__notify("READY=1");
		chs_service__log(&d->log, "reload", "settings read again");
		if (d->reload_call) {
			chs_service__control_answer(d->reload_call, chs_service__reply_result(
				d->reload_id, json_pack("{s:b}", "reloaded", 1)));
			json_decref(d->reload_id);
			d->reload_call = NULL;
			d->reload_id = NULL;
		}
	}
}

/* ------------------------------------------------------------------ */
/* The control socket's methods                                         */

static json_t *status_json(daemon_t *d)
{
	uint64_t now = chs_service__wall_ms();
	char last_good[32], last_attempt[32], next[32], since[32];
	json_t *o;

	when_text(d->last_good_ms, last_good);
	when_text(d->last_attempt_ms, last_attempt);
	when_text(d->next_ms == UINT64_MAX ? 0 : d->next_ms, next);
	when_text(d->failing_since_ms, since);
	o = json_pack("{s:I, s:I, s:s, s:s, s:s}",
		      "pid", (json_int_t)getpid(),
		      "uptime_s", (json_int_t)((now - d->started_ms) / 1000),
		      "user", chs_store_user(d->s),
		      "state", d->running && d->running->kind == JOB_SYNC ? "syncing"
		      : d->backoff.failures ? "retrying" : "idle",
		      "status", d->status_line);
	if (!o)
		return NULL;
	json_object_set_new(o, "last_sync", json_pack(
		"{s:s, s:s, s:s?, s:I, s:I, s:I, s:I, s:s}",
		"at", last_attempt,
		"outcome", !d->last_attempt_ms ? "none" : d->running && d->running->kind == JOB_SYNC
		? "running" : d->last_ok ? "ok" : "failed",
		"error", d->last_error[0] ? d->last_error : NULL,
		"changes_in", (json_int_t)d->last_in, "changes_out", (json_int_t)d->last_out,
		"batches_in", (json_int_t)d->last_batches_in,
		"batches_out", (json_int_t)d->last_batches_out,
		"last_good", last_good));
	json_object_set_new(o, "next_attempt", json_string(next));
	json_object_set_new(o, "backoff", json_pack(
		"{s:i, s:I, s:s}", "failures", (int)d->backoff.failures,
		"delay_s", (json_int_t)(d->backoff.delay_ms / 1000), "failing_since", since));
	json_object_set_new(o, "unsent_batches", json_integer(d->unsent));
	json_object_set_new(o, "under_review", json_integer(d->review));
	json_object_set_new(o, "scan", json_pack(
		"{s:s?, s:I, s:I, s:I}", "folder", d->folder,
		"pending", (json_int_t)(d->hot ? chs_service__hotfolder_pending(d->hot) : 0),
		"taken", (json_int_t)d->scans_taken, "unmatched", (json_int_t)d->scans_unmatched));
	json_object_set_new(o, "last_refusal", d->last_refusal[0] ?
			    json_string(d->last_refusal) : json_null());
	return o;
}

static void begin_stop(daemon_t *d, const char *why);

static void on_request(chs_control_call *call, const chs_request *req, void *payload)
{
	daemon_t *d = payload;
	waiter *w;
	int err;

	if (strcmp(req->method, "status") == 0) {
		chs_service__control_answer(call, chs_service__reply_result(req->id, status_json(d)));
		return;
	}
	if (atomic_load(&d->stopping)) {
		chs_service__control_answer(call, chs_service__reply_error(
			req->id, CHS_ECANCELLED, "the service is stopping"));
		return;
	}
	if (strcmp(req->method, "sync") == 0) {
		/* now, whatever the backoff said; answered when that sync ends.
		 * A sync already running may have started before the caller's
		 * work was saved: this one goes after it. */
		if (!(w = chs_calloc(1, sizeof(*w)))) {
			chs_service__control_answer(call, chs_service__reply_error(
				req->id, CHS_ENOMEM, "out of memory"));
			return;
		}
		w->call = call;
		w->id = json_incref(req->id);
		w->next = d->waiting;
		d->waiting = w;
		if ((err = queue_job(d, JOB_SYNC, NULL)) < 0)
			chs_service__log(&d->log, "sync", "cannot start a sync: %s", chs_error_last());
		return;
	}
	if (strcmp(req->method, "reload") == 0) {
		if (d->reload_call) {
			chs_service__control_answer(call, chs_service__reply_error(
				req->id, CHS_EBUSY, "the settings are being read already"));
			return;
		}
		d->reloading = 1;
		d->reload_call = call;
		d->reload_id = json_incref(req->id);
		chs_service__notify("RELOADING=1");
		queue_job(d, JOB_SETTINGS, NULL);
		return;
	}
	/* stop */
	chs_service__control_answer(call, chs_service__reply_result(
		req->id, json_pack("{s:b}", "stopping", 1)));
	begin_stop(d, "asked to stop");
}

/* ------------------------------------------------------------------ */
/* Signals, the watchdog, the store's folder                            */

static void on_signal(uv_signal_t *h, int signum)
{
	daemon_t *d = h->data;

	if (signum == SIGHUP) {
		if (atomic_load(&d->stopping) || d->reloading)
			return;
		d->reloading = 1;
		chs_service__notify("RELOADING=1");
		queue_job(d, JOB_SETTINGS, NULL);
		return;
	}
	begin_stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	/* sent from the loop itself: a loop that stops turning stops this */
	chs_service__notify("WATCHDOG=1");
}

static void on_wal_settled(uv_timer_t *t)
{
	queue_job(t->data, JOB_COUNTS, NULL);
}

/* Something wrote the store's WAL: the CLI saving work, or this service.
 * The counts, read once the writes settle, tell whether work waits. */
static void on_dir_event(uv_poll_t *p, int status, int events)
{
	daemon_t *d = p->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int seen = 0;
	ssize_t n;

	(void)events;
	if (status < 0)
		return;
	while ((n = read(d->inotify_fd, buf, sizeof(buf))) > 0) {
		char *q = buf;

		while (q < buf + n) {
			const struct inotify_event *e = (const struct inotify_event *)q;

			if ((e->mask & IN_Q_OVERFLOW) ||
			    (e->len && strcmp(e->name, "store.db-wal") == 0))
				seen = 1;
			q += sizeof(*e) + e->len;
		}
	}
	if (!seen)
		return;
	if (d->running && d->running->kind == JOB_SYNC)
		d->wal_seen_in_sync = 1; /* mostly the sync's own; looked at after it */
	else if (!uv_is_active((uv_handle_t *)&d->wal_timer))
		uv_timer_start(&d->wal_timer, on_wal_settled, WAL_SETTLE_MS, 0);
}

static int watch_store(daemon_t *d)
{
	d->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->inotify_fd < 0 || inotify_add_watch(d->inotify_fd, d->dir, IN_MODIFY) < 0)
		return chs_error_set(CHS_EIO, "cannot watch the store's folder '%s': %s", d->dir,
				     strerror(errno));
	if (uv_poll_init(&d->loop, &d->dir_poll, d->inotify_fd) < 0)
		return chs_error_set(CHS_EIO, "cannot watch the store's folder '%s'", d->dir);
	d->dir_poll.data = d;
	return uv_poll_start(&d->dir_poll, UV_READABLE, on_dir_event) < 0
		? chs_error_set(CHS_EIO, "cannot watch the store's folder") : 0;
}

/* ------------------------------------------------------------------ */
/* One service per store                                                */

static int take_pid_lock(daemon_t *d)
{
	char *path = chs_util__path(d->dir, "service.pid"), text[32];
	ssize_t n;
	int err = 0;

	if (!path)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	d->pid_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->pid_fd < 0) {
		err = chs_error_set(CHS_EIO, "cannot write in the store's folder '%s': %s", d->dir,
				    strerror(errno));
		goto done;
	}
	if (flock(d->pid_fd, LOCK_EX | LOCK_NB) < 0) {
		err = chs_service__busy(d->dir, d->pid_fd);
		close(d->pid_fd);
		d->pid_fd = -1;
		goto done;
	}
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(d->pid_fd, 0) < 0 || pwrite(d->pid_fd, text, (size_t)n, 0) != n)
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", path, strerror(errno));
done:
	free(path);
	return err;
}

/* ------------------------------------------------------------------ */
/* Stopping                                                             */

static void begin_stop(daemon_t *d, const char *why)
{
	waiter *w, *next;

	if (atomic_exchange(&d->stopping, 1))
		return;
	chs_service__notify("STOPPING=1");
	if (!d->quiet)
		chs_service__log(&d->log, "stop", "%s: stopping%s", why,
				 d->running ? " after the work in hand" : "");
	/* queued jobs never start */
	while (d->queue) {
		job *j = d->queue;

		d->queue = j->next;
		if (j->kind == JOB_SCAN && d->hot)
			chs_service__hotfolder_done(d->hot, j->name, 1);
		job_free(j);
	}
	d->queue_tail = NULL;
	/* requests for a sync that will not start now; the running one's
	 * are answered when it ends */
	for (w = d->waiting; w; w = next) {
		next = w->next;
		chs_service__control_answer(w->call, chs_service__reply_error(
			w->id, CHS_ECANCELLED, "the service is stopping"));
		json_decref(w->id);
		free(w);
	}
	d->waiting = NULL;
	if (!d->running)
		finish_stop(d);
}

static void close_if_open(uv_handle_t *h)
{
	if (h->type != UV_UNKNOWN_HANDLE && !uv_is_closing(h))
		uv_close(h, NULL);
}

/* Nothing runs on the threadpool any more: close everything; the loop
 * ends when the last handle is closed. */
static void finish_stop(daemon_t *d)
{
	if (d->reload_call) {
		chs_service__control_answer(d->reload_call, chs_service__reply_error(
			d->reload_id, CHS_ECANCELLED, "the service is stopping"));
		json_decref(d->reload_id);
		d->reload_call = NULL;
	}
	chs_service__hotfolder_stop(d->hot);
	d->hot = NULL;
	chs_service__control_close(d->control);
	d->control = NULL;
	close_if_open((uv_handle_t *)&d->schedule);
	close_if_open((uv_handle_t *)&d->watchdog);
	close_if_open((uv_handle_t *)&d->wal_timer);
	close_if_open((uv_handle_t *)&d->sigterm);
	close_if_open((uv_handle_t *)&d->sigint);
	close_if_open((uv_handle_t *)&d->sighup);
	close_if_open((uv_handle_t *)&d->dir_poll);
}

/* ------------------------------------------------------------------ */
/* chs_service_run                                                      */

static int open_store(daemon_t *d, const chs_service_opts *o)
{
	char *user = NULL;
	int err;

	if (!o->user && (err = chs_store_default_user(&user, o->dir)) < 0)
		return err;
	err = chs_store_open(&d->s, o->dir, o->user ? o->user : user, o->passphrase,
			     o->passphrase_len);
	free(user);
	return err;
}

static int start(daemon_t *d, const chs_service_opts *o)
{
	uint64_t wd;
	char *sock;
	int err;

	uv_timer_init(&d->loop, &d->schedule);
	uv_timer_init(&d->loop, &d->watchdog);
	uv_timer_init(&d->loop, &d->wal_timer);
	d->schedule.data = d->watchdog.data = d->wal_timer.data = d;
	uv_signal_init(&d->loop, &d->sigterm);
	uv_signal_init(&d->loop, &d->sigint);
	uv_signal_init(&d->loop, &d->sighup);
	d->sigterm.data = d->sigint.data = d->sighup.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	uv_signal_start(&d->sighup, on_signal, SIGHUP);
	/* a signal before the loop runs is caught by the handlers above */
	if ((err = take_pid_lock(d)) < 0 || (err = open_store(d, o)) < 0)
		return err;
	state_load(d);
	if ((err = watch_store(d)) < 0)
		return err;
	if (!(sock = chs_util__path(d->dir, "control")))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	err = chs_service__control_listen(&d->control, &d->loop, sock, &d->log, on_request, d);
	free(sock);
	if (err < 0)
		return err;
	if ((wd = chs_service__watchdog_ms()) > 0)
		uv_timer_start(&d->watchdog, on_watchdog, 0, wd);
	return queue_job(d, JOB_SETTINGS, NULL);
}

int chs_service_run(const chs_service_opts *o)
{
	daemon_t *d;
	int err, rc;

	CHS_ASSERT_ARG(o);
	CHS_ASSERT_ARG(o->dir);
	if (!(d = chs_calloc(1, sizeof(*d))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	d->log.fd = o->log_fd >= 0 ? o->log_fd : 2;
	d->log.json = o->log_json;
	d->dir = o->dir;
	d->pid_fd = d->inotify_fd = -1;
	d->started_ms = chs_service__wall_ms();
	d->next_ms = UINT64_MAX;
	d->unsent = d->review = -1;
	signal(SIGPIPE, SIG_IGN);
	/* Started with 0, 1 or 2 closed (a service manager may), the loop's
	 * own descriptors would take those numbers, and libuv refuses to
	 * close a descriptor below 3: /dev/null holds them. */
	for (rc = 0; rc < 3; rc++)
		if (fcntl(rc, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", rc == 0 ? O_RDONLY : O_WRONLY) < 0)
			break;
	if ((rc = uv_loop_init(&d->loop)) < 0) {
		free(d);
		return chs_error_set(CHS_ERROR, "cannot start the event loop: %s", uv_strerror(rc));
	}
	err = start(d, o);
	if (err == 0) {
		chs_service__log(&d->log, "start", "serving the store %s as %s (pid %ld)", d->dir,
				 chs_store_user(d->s), (long)getpid());
		chs_service__notify("READY=1");
		update_status_line(d);
	} else {
		char why[1024];

		snprintf(why, sizeof(why), "%s", chs_error_last());
		d->quiet = 1;
		begin_stop(d, "cannot start");
		chs_error_set(err, "%s", why);
	}
	uv_run(&d->loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&d->loop);
	if (rc < 0 && err == 0)
		err = chs_error_set(CHS_ERROR, "the service's loop did not close: %s", uv_strerror(rc));
	if (err == 0)
		chs_service__log(&d->log, "stop", "stopped");
	chs_store_free(d->s);
	if (d->inotify_fd >= 0)
		close(d->inotify_fd);
	if (d->pid_fd >= 0)
		close(d->pid_fd); /* the lock goes with it; the file stays, harmless */
	free(d->folder);
	free(d->backup_dir);
	free(d);
	return err;
}
