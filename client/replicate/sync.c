/*
 * chartsync sync: this store and the archive, through the store's own
 * git mirror (DIR/git, a bare repository holding ciphertext and signed
 * manifests only).
 *
 *   1. fetch the archive's chartsync refs into refs/remotes/archive/
 *      (a ref deleted there goes here too), and check the archive is
 *      this organisation's: its roster signed by the admin key this store
 *      pinned (pull.c, chs_replicate__check_archive); otherwise nothing
 *      is applied or sent;
 *      Where the archive's refs stood before the fetch is noted first:
 *      after step 2, each ref that went missing, went back or was
 *      replaced since becomes a signed archive_event record (tamper.c);
 *   2. accept the roster's new commits: signed by the organisation's
 *      admin key (pinned at the first roster this store saw; the pin
 *      moves with a checked handover to a new admin key), each newer
 *      than the last; a roster that moved backwards or sideways is
 *      refused; an admin device's store keeps the admin key the roster
 *      seals to it (org.c);
 *   3. for every other device, walk its ref from where this store last
 *      stopped (table progress): each commit is checked (sync/accept.c),
 *      the compartments this device may read are decrypted (both on a
 *      thread that reads ahead), and the batch is applied together with
 *      the new progress, all or nothing (a savepoint inside a
 *      transaction of several whole batches); a device whose chain
 *      fails a check is reported and left where it was, the others go
 *      on;
 *   4. in the admin's store, commit the rosters not yet in git;
 *   5. a store behind its own history (restored from a backup, or its
 *      mirror lost: the archive holds batches of this device that the
 *      mirror does not): check them, renumber this store's own batches
 *      the archive lacks after the archive's last, apply the archive's
 *      the store lacks, and set the mirror's own ref to the archive's
 *      (resync.c);
 *   5b. the records this device made on a chart merged meanwhile move to
 *      the chart the merge kept (client/identity/place.c), in a save of
 *      the sync's own that goes with this sync;
 *   6. make a commit for every batch saved here and not yet in git
 *      (entry never pays for git: this is the only place commits are
 *      made), and mark it sent;
 *   7. push this device's ref (and the admin's roster); a push the
 *      archive refuses because it moved meanwhile is retried after a
 *      fetch;
 *   8. then the attachment bytes (blobsync.c): send this store's
 *      chunks a bounded commit at a time, and read other devices' chunks
 *      (fetched in step 1 only by a device that reads clinical data).
 *
 * Every step can be interrupted: a batch is applied at most once (its id
 * is unique in the store, and progress moves in the same transaction); a
 * batch committed to git but not yet marked sent is recognised by the
 * sequence number at the tip of this device's ref; a push only moves a
 * ref forward. One sync per store at a time (an flock on DIR/sync.lock).
 *
 * This file runs the steps in order; they live in pull.c (2, 3), org.c
 * (4), resync.c (5), send.c (6, 7), blobsync.c (8) and tamper.c (the
 * record of 1).
 */
#include "replicate_int.h"

#include "client/identity/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define MAX_PACKS 16 /* in the mirror, or a folder archive, before small ones are rolled up */

void chs_sync_report_dispose(chs_sync_report *r)
{
	chs_buf_dispose(&r->problems);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ */
/* The whole sync                                                       */

static int sync_lock(chs_store *s, int *fd)
{
	char *path = chs_util__path(s->dir, "sync.lock");

	*fd = -1;
	if (!path)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (*fd < 0)
		return chs_error_set(CHS_EIO, "cannot write in '%s': %s", s->dir, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		close(*fd);
		*fd = -1;
		return chs_error_set(CHS_EBUSY, "another sync of this store is running; try again"
				     " when it has finished");
	}
	return 0;
}

static void on_transfer(const char *what, size_t done, size_t total, void *payload)
{
	chs_replicate__sync_progress(payload, what, done, total);
}

/* The network helper asks while it waits on the archive. */
static int on_wait(void *payload)
{
	const sync_ctx *x = payload;

	return x->opts && x->opts->cancel && x->opts->cancel(x->opts->payload);
}

/* sync.timeout, the network inactivity limit, in ms (0: the git layer's
 * default). $CHARTSYNC_NET_TIMEOUT still overrides it there (tests). */
static int net_timeout_ms(chs_store *s, int *ms)
{
	char *v = NULL;
	long sec;
	int err;

	*ms = 0;
	if ((err = chs_config_get(s, "sync.timeout", &v)) < 0)
		return err;
	/* config.c checked the value when it was set: at least 5 s */
	if (chs_config_parse_seconds(v, &sec) == 0 && sec > 0 && sec <= 24 * 3600)
		*ms = (int)sec * 1000;
	free(v);
	return 0;
}

/* The mirror, talking to the archive as this device (its key signs SSH
 * logins), with the locks of a killed sync cleared, however fresh: this
 * sync holds the store's sync lock, so no other writer of the mirror is
 * running (the helper of a killed sync held it too, until it died). */
static int open_git(sync_ctx *x)
{
	char *path = chs_util__path(x->s->dir, "git");
	chs_git_transport t;
	int err;

	if (!path)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	err = chs_git_open(&x->git, path);
	free(path);
	if (err < 0)
		return err;
	memset(&t, 0, sizeof(t));
	if ((err = net_timeout_ms(x->s, &t.timeout_ms)) < 0)
		return err;
	t.ssh_key = x->s->identity;
	t.progress = on_transfer;
	t.cancel = on_wait;
	t.payload = x;
	chs_git_set_transport(x->git, &t);
	chs_git_clear_dead_locks(x->git);
	return 0;
}

/* This device on the newest roster, or why it may not sync yet. */
static int find_me(sync_ctx *x)
{
	int err;

	chs_roster_free(x->roster);
	x->roster = NULL;
	x->me = NULL;
	if ((err = chs_store__roster_load(x->s, &x->roster, NULL)) == CHS_ENOTFOUND) {
		char shown[1024];

		chs_git_shown_address(x->url, shown, sizeof(shown));
		return chs_error_set(CHS_EDENIED,
				     "the archive at %s has no roster yet: the organisation's admin"
				     " runs 'chartsync org init --archive %s' first", shown, shown);
	}
	if (err < 0)
		return err;
	x->me = chs_roster_find(x->roster, x->s->device_id);
	if (!x->me)
		return chs_error_set(CHS_EDENIED,
				     "this store is not enrolled in the organisation yet: run"
				     " 'chartsync device request' and give its line to the admin,"
				     " then sync again");
	if (x->me->revoked)
		return chs_error_set(CHS_EDENIED,
				     "this store's device was revoked by the organisation's admin; it"
				     " can no longer sync (its work up to batch %llu is kept)",
				     (unsigned long long)x->me->revoked_after);
	x->rep->roster_seq = chs_roster_seq(x->roster);
	return 0;
}

/* A failed fetch: the git layer's words name the cause (an archive out
 * of reach is not a full disk here); what they all share is said after. */
static int work_is_saved(int err)
{
	char why[1024];

	snprintf(why, sizeof(why), "%s", chs_error_last());
	return chs_error_set(err, "%s; your work is saved here and goes with the next sync", why);
}

/* The organisation's archive lost its roster: nothing goes there, but
 * what this sync saw is recorded here, to go with a later sync (the
 * next fetch starts from what this one saw). The refusal's words stay. */
static void record_before_refusing(sync_ctx *x)
{
	char why[1024];

	snprintf(why, sizeof(why), "%s", chs_error_last());
	if (find_me(x) == 0)
		chs_replicate__record_tampering(x);
	chs_error_set(CHS_EDENIED, "%s", why);
}

/* A push or fetch the network helper stopped says so in the git layer's
 * words; the sync's own words say what is kept. */
static int stopped(const chs_sync_opts *o, int err)
{
	int now;

	if (err != CHS_ECANCELLED)
		return err;
	now = chs_replicate__cancelled(o);
	return now < 0 ? now : err;
}

/* What the attachment steps (blobsync.c) need of this sync. */
static void blob_sync_of(sync_ctx *x, chs_blob_sync *b, int fetched)
{
	memset(b, 0, sizeof(*b));
	b->s = x->s;
	b->git = x->git;
	b->url = x->url;
	b->roster = x->roster;
	b->me = x->me;
	b->key_of = chs_replicate__sync_key_of;
	b->key_payload = x;
	b->fetched = fetched;
	b->opts = x->opts;
	b->rep = x->rep;
}

/* Records first, both ways; attachment bytes after them (step 8 of the
 * top comment's list, blobsync.c): a large scan never holds back
 * a batch. The caller's cancel is asked between the steps (and inside
 * the long ones: pull.c, blobsync.c, the network helper). */
static int run(sync_ctx *x)
{
	int chunks = chs_replicate__blobs_wanted(x->s), err;
	const chs_sync_opts *o = x->opts;
	chs_blob_sync b;

	chs_replicate__sync_progress(x, "Fetching", 0, 0);
	if ((err = chs_replicate__cancelled(o)) < 0 || (err = chs_replicate__seen_before(x)) < 0)
		return err;
	if ((err = chs_git_fetch_refs(x->git, x->url, CHS_GIT_FETCH_CHANGES |
				      (chunks ? CHS_GIT_FETCH_CHUNKS : 0))) < 0)
		return err == CHS_ECANCELLED ? stopped(o, err) : work_is_saved(err);
	chs_util__fault("fetched");
	if ((err = chs_replicate__cancelled(o)) < 0)
		return err;
	if ((err = chs_replicate__check_archive(x)) < 0) {
		if (x->roster_deleted || x->roster_forged)
			record_before_refusing(x);
		return err;
	}
	if ((err = chs_replicate__fetch_roster(x)) < 0)
		return err;
	if (x->org_admin && (err = chs_replicate__publish_rosters(x->s, x->git)) < 0)
		return err;
	if ((err = find_me(x)) < 0 || (err = chs_replicate__record_tampering(x)) < 0 ||
	    (err = chs_replicate__pull_devices(x)) < 0 || (err = chs_replicate__cancelled(o)) < 0 ||
	    (err = chs_replicate__own_history(x)) < 0 || (err = chs_replicate__cancelled(o)) < 0 ||
	    (err = chs_identity_place(x->s, &x->rep->placed, &x->rep->unplaced)) < 0 ||
	    (err = chs_replicate__commit_outgoing(x)) < 0 || (err = chs_replicate__cancelled(o)) < 0 ||
	    (err = chs_replicate__push(x)) < 0)
		return stopped(o, err);
	blob_sync_of(x, &b, chunks);
	if ((err = chs_replicate__cancelled(o)) < 0 || (err = chs_replicate__blobs_push(&b)) < 0 ||
	    (err = chs_replicate__cancelled(o)) < 0 || (err = chs_replicate__blobs_pull(&b)) < 0)
		return stopped(o, err);
	/* housekeeping, not the sync's result: a failure only costs speed,
	 * and a sync asked to stop leaves it to the next one */
	if (o && o->cancel && o->cancel(o->payload))
		return 0;
	if (chs_git_maintain(x->git, MAX_PACKS) < 0 ||
	    chs_git_maintain_archive(x->url, MAX_PACKS) < 0)
		chs_error_clear();
	return 0;
}

int chs_store_sync(chs_store *s, const chs_sync_opts *opts, chs_sync_report *rep)
{
	sync_ctx x;
	char *url = NULL;
	int lock = -1, err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(rep);
	memset(rep, 0, sizeof(*rep));
	chs_buf_init(&rep->problems, 0);
	memset(&x, 0, sizeof(x));
	pthread_mutex_init(&x.keys_lock, NULL);
	x.s = s;
	x.opts = opts;
	x.rep = rep;
	if ((err = chs_config_get(s, "remote.url", &url)) < 0)
		return err;
	if (!*url) {
		err = chs_error_set(CHS_EINVALID, "no archive is set for this store: run"
				    " 'chartsync remote URL' first");
		goto done;
	}
	x.url = url;
	if ((err = chs_store__org_admin(s, &x.org_admin)) < 0 ||
	    (err = sync_lock(s, &lock)) < 0 || (err = open_git(&x)) < 0)
		goto done;
	err = run(&x);
	if (err == 0 && rep->refused)
		err = chs_error_set(CHS_EDAMAGED, "the sync finished, but %zu thing%s from the archive"
				    " %s refused:\n%s", rep->refused, rep->refused == 1 ? "" : "s",
				    rep->refused == 1 ? "was" : "were", rep->problems.ptr);
done:
	chs_replicate__sync_keys_dispose(&x);
	chs_replicate__seen_dispose(&x.seen);
	pthread_mutex_destroy(&x.keys_lock);
	chs_roster_free(x.roster);
	chs_git_free(x.reader_git);
	chs_git_free(x.git);
	if (lock >= 0)
		close(lock);
	free(url);
	chs_store__after_big_job(rep->changes_in + rep->changes_out);
	return err;
}

