/*
 * chartsync sync: this store and the archive, through the store's own
 * git mirror (DIR/git, a bare repository holding ciphertext and signed
 * manifests only).
 *
 *   1. fetch the archive's chartsync refs into refs/remotes/archive/;
 *   2. accept the roster's new commits: signed by the organisation's
 *      admin key (pinned at the first roster this store saw), each newer
 *      than the last; a roster that moved backwards or sideways is
 *      refused;
 *   3. for every other device, walk its ref from where this store last
 *      stopped (table progress): each commit is checked (sync/accept.c),
 *      the compartments this device may read are decrypted (both on a
 *      thread that reads ahead), and the batch is applied together with
 *      the new progress, all or nothing (a savepoint inside a
 *      transaction of several whole batches); a device whose chain
 *      fails a check is reported and left where it was, the others go
 *      on;
 *   4. in the admin's store, commit the rosters not yet in git;
 *   5. make a commit for every batch saved here and not yet in git
 *      (entry never pays for git: this is the only place commits are
 *      made), and mark it sent;
 *   6. push this device's ref (and the admin's roster); a push the
 *      archive refuses because it moved meanwhile is retried after a
 *      fetch;
 *   7. then the attachment bytes (client/blobsync.c): send this store's
 *      chunks a bounded commit at a time, and read other devices' chunks
 *      (fetched in step 1 only by a device that reads clinical data).
 *
 * Every step can be interrupted: a batch is applied at most once (its id
 * is unique in the store, and progress moves in the same transaction); a
 * batch committed to git but not yet marked sent is recognised by the
 * sequence number at the tip of this device's ref; a push only moves a
 * ref forward. One sync per store at a time (an flock on DIR/sync.lock).
 */
#include "replicate_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define FETCHED "refs/remotes/archive/chartsync/"
#define FETCHED_ROSTER FETCHED "roster"
#define FETCHED_DEVICES FETCHED "devices/"
#define PUSH_TRIES 3
#define MAX_PACKS 16 /* in the mirror, or a folder archive, before small ones are rolled up */

typedef struct sync_ctx {
	chs_store *s;
	chs_git *git;
	const char *url;
	chs_roster *roster;
	const chs_roster_device *me;
	const chs_sync_opts *opts;
	chs_sync_report *rep;
	int org_admin; /* this store holds the organisation's admin key */
	/* the store transaction batches are being applied in (see apply_one) */
	int applying;
	size_t group_batches, group_changes;
	/* data keys unsealed this sync, by compartment and generation; the
	 * read-ahead thread unseals them too, under keys_lock */
	unsigned char *keys[CHS_NCOMPARTMENTS][CHS_MAX_GENERATIONS];
	pthread_mutex_t keys_lock;
	chs_git *reader_git; /* the read-ahead thread's own handle */
} sync_ctx;

static void note(sync_ctx *x, const char *fmt, ...) CHS_PRINTF(2, 3);

/* A problem that does not stop the sync: kept for the report. */
static void note(sync_ctx *x, const char *fmt, ...)
{
	chs_buf *b = &x->rep->problems;
	va_list ap;
	char line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (b->len)
		chs_buf_put(b, "\n", 1);
	chs_buf_printf(b, "%s", line);
	x->rep->refused++;
}

static void progress(sync_ctx *x, const char *what, size_t done, size_t total)
{
	if (x->opts && x->opts->progress)
		x->opts->progress(what, done, total, x->opts->payload);
}

void chs_sync_report_dispose(chs_sync_report *r)
{
	chs_buf_dispose(&r->problems);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ */
/* Data keys                                                            */

/* A data key, unsealed from the roster the first time it is asked for. */
static int unseal_key(sync_ctx *x, int compartment, uint32_t gen, unsigned char *key)
{
	unsigned char **slot;
	int err;

	if (!x->me || !chs_role_reads(x->me->role, compartment))
		return CHS_EDENIED;
	if (gen == 0 || gen > CHS_MAX_GENERATIONS)
		return chs_error_set(CHS_EDAMAGED, "a batch names a key generation that cannot exist");
	slot = &x->keys[compartment][gen - 1];
	if (!*slot) {
		if (!(*slot = chs_secret_alloc(CHS_KEY_BYTES)))
			return chs_error_set(CHS_ENOMEM, "out of memory");
		err = chs_roster_open_key(x->roster, x->s->identity, compartment, gen, *slot);
		if (err < 0) {
			chs_secret_free(*slot);
			*slot = NULL;
			/* never CHS_EDENIED here: this role reads the compartment,
			 * so a missing generation means a roster newer than ours */
			return chs_error_set(CHS_ENOTFOUND,
					     "a batch uses data key generation %u, which the roster"
					     " this store holds does not give it", (unsigned)gen);
		}
	}
	memcpy(key, *slot, CHS_KEY_BYTES);
	return 0;
}

/* chs_key_fn for chs_batch_accept(): the pull's read-ahead thread asks
 * too, so the cache is shared under a lock. */
static int key_of(int compartment, uint32_t gen, unsigned char *key, void *payload)
{
	sync_ctx *x = payload;
	int err;

	pthread_mutex_lock(&x->keys_lock);
	err = unseal_key(x, compartment, gen, key);
	pthread_mutex_unlock(&x->keys_lock);
	return err;
}

static void keys_dispose(sync_ctx *x)
{
	int c, g;

	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		for (g = 0; g < CHS_MAX_GENERATIONS; g++)
			chs_secret_free(x->keys[c][g]);
	memset(x->keys, 0, sizeof(x->keys));
}

/* ------------------------------------------------------------------ */
/* The roster                                                           */

static int last_roster_oid(chs_store *s, char oid[41], int64_t *seq)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	oid[0] = '\0';
	*seq = 0;
	if ((err = chs_client__prepare(s, &st,
		     "SELECT oid, seq FROM rosters WHERE oid IS NOT NULL ORDER BY seq DESC LIMIT 1")) < 0)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(oid, 41, "%s", (const char *)sqlite3_column_text(st, 0));
		*seq = sqlite3_column_int64(st, 1);
	}
	chs_client__finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : chs_client__sqlerr(s, rc, "reading");
}

/* Check one fetched roster commit and keep it; the first one a store
 * sees pins the organisation and its admin key. */
static int accept_roster(sync_ctx *x, const char *oid, int64_t *last_seq)
{
	unsigned char admin[CHS_SIGN_PK_BYTES];
	char org[33];
	chs_git_commit *c = NULL;
	chs_roster *r = NULL;
	int pinned, err;

	if ((err = chs_client__org_pinned(x->s, org, admin)) < 0 && err != CHS_ENOTFOUND)
		return err;
	pinned = err == 0;
	if ((err = chs_git_read(x->git, oid, &c)) < 0 ||
	    (err = chs_roster_from_commit(&r, c, pinned ? admin : NULL)) < 0)
		goto done;
	if (pinned && strcmp(chs_roster_org(r), org) != 0) {
		err = chs_error_set(CHS_EDAMAGED, "the archive's roster belongs to another organisation");
		goto done;
	}
	if ((int64_t)chs_roster_seq(r) <= *last_seq) {
		err = chs_error_set(CHS_EDAMAGED,
				    "the archive's roster %llu is not newer than roster %lld,"
				    " which this store has seen", (unsigned long long)chs_roster_seq(r),
				    (long long)*last_seq);
		goto done;
	}
	if ((err = chs_client__begin(x->s)) < 0)
		goto done;
	if ((!pinned && (err = chs_client__org_pin(x->s, chs_roster_org(r),
						   chs_roster_admin(r))) < 0) ||
	    (err = chs_client__roster_save(x->s, (const char *)c->entries[0].data,
					   c->entries[0].len, c->entries[1].data, oid,
					   chs_roster_seq(r))) < 0) {
		chs_client__rollback(x->s);
		goto done;
	}
	if ((err = chs_client__commit(x->s)) == 0)
		*last_seq = (int64_t)chs_roster_seq(r);
done:
	chs_roster_free(r);
	chs_git_commit_free(c);
	return err;
}

static int fetch_roster(sync_ctx *x)
{
	char tip[41], last[41];
	char (*oids)[41] = NULL;
	int64_t seq;
	size_t i, n = 0;
	int yes, err;

	if ((err = chs_git_ref(x->git, FETCHED_ROSTER, tip)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0; /* an archive the admin has not published to yet */
	}
	if (err < 0 || (err = last_roster_oid(x->s, last, &seq)) < 0)
		return err;
	if (last[0]) {
		if ((err = chs_git_is_ancestor(x->git, last, tip, &yes)) < 0)
			return err;
		if (!yes) {
			/* the admin's own unpublished rosters are ahead of the archive */
			if ((err = chs_git_is_ancestor(x->git, tip, last, &yes)) < 0)
				return err;
			return yes && x->org_admin ? 0
				: chs_error_set(CHS_EDAMAGED,
						"the archive's roster moved %s: it is not a later version of"
						" the roster this store has; nothing was applied (tell the"
						" organisation's admin)", yes ? "backwards" : "sideways");
		}
	}
	if ((err = chs_git_log(x->git, FETCHED_ROSTER, last[0] ? last : NULL, &oids, &n)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++)
		err = accept_roster(x, oids[i], &seq);
	free(oids);
	return err;
}

/* ------------------------------------------------------------------ */
/* Other devices' batches                                               */

/*
 * Applying batches: each batch with its device's new progress is all or
 * nothing (a savepoint), and whole batches are applied several to a
 * store transaction, committed every APPLY_GROUP_CHANGES changes and when
 * the pull ends. A transaction per batch wrote every index page a batch
 * touched once per batch: in a large store the random keys of change and
 * record ids put nearly every change on a page of its own, so a first
 * pull wrote each index page many times over. An interrupted pull loses
 * at most the open group, which the next sync applies again.
 */
#define APPLY_GROUP_CHANGES 8192

static int group_commit(sync_ctx *x)
{
	int err;

	if (!x->applying)
		return 0;
	x->applying = 0;
	if ((err = chs_client__commit(x->s)) == 0) {
		chs_client__fault("group-committed");
		x->rep->batches_in += x->group_batches;
		x->rep->changes_in += x->group_changes;
	}
	x->group_batches = x->group_changes = 0;
	return err;
}

static void group_abort(sync_ctx *x)
{
	if (!x->applying)
		return;
	chs_client__rollback(x->s);
	x->applying = 0;
	x->group_batches = x->group_changes = 0;
}

/* Apply one accepted batch and the device's new progress, together. A
 * batch the store refuses is undone alone: those before it stand. */
static int apply_one(sync_ctx *x, const char *device, const chs_batch *b,
		     const chs_batch_plan *plan, const chs_chain *chain)
{
	int applied = 0, err;

	if (!x->applying) {
		if ((err = chs_client__begin(x->s)) < 0)
			return err;
		x->applying = 1;
	}
	if ((err = chs_client__exec(x->s, "SAVEPOINT batch")) < 0)
		goto fail;
	if ((err = chs_client__apply_verified(x->s, b, plan, &applied)) < 0 ||
	    (err = chs_client__progress_save(x->s, device, chain)) < 0) {
		/* SQLite may have ended the whole transaction (an I/O error) */
		if (sqlite3_get_autocommit(x->s->db) ||
		    sqlite3_exec(x->s->db, "ROLLBACK TO batch; RELEASE batch", NULL, NULL,
				 NULL) != SQLITE_OK)
			group_abort(x);
		return err;
	}
	if ((err = chs_client__exec(x->s, "RELEASE batch")) < 0)
		goto fail;
	chs_client__fault("applied"); /* applied, not yet committed */
	if (applied) {
		x->group_batches++;
		x->group_changes += b->nchanges;
	}
	if (x->group_changes >= APPLY_GROUP_CHANGES)
		return group_commit(x);
	return 0;
fail:
	group_abort(x);
	return err;
}

/* Where to start on a device's ref; *skip when there is nothing new or
 * the ref cannot be trusted (reported). */
static int chain_start(sync_ctx *x, const char *device, const char *ref,
		       chs_chain *chain, int *skip)
{
	char tip[41];
	int yes, err;

	*skip = 1;
	if ((err = chs_client__progress_load(x->s, device, chain)) < 0 ||
	    (err = chs_git_ref(x->git, ref, tip)) < 0)
		return err;
	if (strcmp(tip, chain->oid) == 0)
		return 0;
	if (chain->oid[0]) {
		if ((err = chs_git_is_ancestor(x->git, chain->oid, tip, &yes)) < 0)
			return err;
		if (!yes) {
			note(x, "device %s: its ref in the archive moved backwards or sideways from"
			     " batch %llu; nothing more of it was applied", device,
			     (unsigned long long)chain->seq);
			return 0;
		}
	}
	*skip = 0;
	return 0;
}

/*
 * Reading ahead. A fifth of a fresh pull's time went to reading,
 * checking and unpacking batches (signatures, decryption, hashes,
 * decoding), the rest to writing them into the store, so a thread reads
 * ahead while this one applies. It has its own git handle (libgit2
 * wants one per thread), touches nothing of the store, and goes through
 * one device's commits in order, since each batch is checked against the
 * chain the batch before it left; each accepted batch is handed over
 * with that chain and its plan (apply.c: the records' states and form
 * checks, so this thread is left with the store's writes), at most
 * READ_AHEAD ahead. It stops after the first batch it cannot accept, and
 * hands that over as the error it was. Applied batches come back to it to
 * be freed: memory is best freed by the thread that allocated it (glibc
 * locks the allocating thread's arena for a free from another, and a
 * batch is thousands of small allocations).
 */
#define READ_AHEAD 4

typedef struct read_item {
	chs_batch *b;
	chs_batch_plan *plan; /* NULL: apply makes it */
	chs_chain chain;  /* after this batch */
	int err;          /* < 0: not accepted, for the reason in msg */
	char msg[512];
} read_item;

typedef struct reader {
	sync_ctx *x;
	const char *device;
	const char (*oids)[41];
	size_t n, next;   /* commits, and the next one to read */
	chs_chain chain;  /* the reader's own */
	pthread_mutex_t lock;
	pthread_cond_t moved; /* an item was put or taken, or stop was set */
	read_item q[READ_AHEAD];
	size_t head, count;
	read_item spent[READ_AHEAD]; /* applied, for the reader to free */
	size_t nspent;
	int stop, done;
} reader;

/* The plan points into the batch: it goes first. */
static void item_free(read_item *it)
{
	chs_client__plan_free(it->plan);
	chs_batch_free(it->b);
	it->plan = NULL;
	it->b = NULL;
}

static void reader_put(reader *r, const read_item *it)
{
	pthread_mutex_lock(&r->lock);
	r->q[(r->head + r->count) % READ_AHEAD] = *it;
	r->count++;
	pthread_cond_broadcast(&r->moved);
	pthread_mutex_unlock(&r->lock);
}

/* Free the batches applied so far. */
static void reader_free_spent(reader *r)
{
	read_item spent[READ_AHEAD];
	size_t i, n;

	pthread_mutex_lock(&r->lock);
	n = r->nspent;
	memcpy(spent, r->spent, n * sizeof(*spent));
	r->nspent = 0;
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < n; i++)
		item_free(&spent[i]);
}

/* The next commit to read, or -1 when there is none or reading stops;
 * waits while READ_AHEAD batches wait to be applied, freeing those
 * applied meanwhile. */
static long reader_next(reader *r)
{
	long i = -1;

	for (;;) {
		reader_free_spent(r);
		pthread_mutex_lock(&r->lock);
		while (!r->stop && r->count == READ_AHEAD && r->nspent == 0)
			pthread_cond_wait(&r->moved, &r->lock);
		if (r->stop || r->count < READ_AHEAD)
			break;
		pthread_mutex_unlock(&r->lock);
	}
	if (!r->stop && r->next < r->n)
		i = (long)r->next++;
	pthread_mutex_unlock(&r->lock);
	return i;
}

/* Hand an applied batch back to the reader to free, or free it here when
 * the reader is behind. */
static void reader_return(reader *r, read_item *it)
{
	int kept = 0;

	pthread_mutex_lock(&r->lock);
	if (!r->stop && r->nspent < READ_AHEAD) {
		r->spent[r->nspent++] = *it;
		kept = 1;
		pthread_cond_broadcast(&r->moved);
	}
	pthread_mutex_unlock(&r->lock);
	if (!kept)
		item_free(it);
}

static void *reader_main(void *arg)
{
	reader *r = arg;
	long i;

	while ((i = reader_next(r)) >= 0) {
		chs_git_commit *c = NULL;
		read_item it;
		int complete;

		memset(&it, 0, sizeof(it));
		it.err = chs_git_read(r->x->reader_git, r->oids[i], &c);
		if (it.err == 0)
			it.err = chs_batch_accept(&it.b, &complete, &r->chain, r->x->roster,
						  r->device, r->oids[i], c, key_of, r->x);
		chs_git_commit_free(c);
		it.chain = r->chain;
		/* without a plan (out of memory) apply makes one, or says why not */
		if (it.err == 0 && chs_client__plan_batch(it.b, &it.plan) < 0)
			chs_error_clear();
		if (it.err < 0)
			snprintf(it.msg, sizeof(it.msg), "%s", chs_error_last());
		reader_put(r, &it);
		if (it.err < 0)
			break;
	}
	pthread_mutex_lock(&r->lock);
	r->done = 1;
	pthread_cond_broadcast(&r->moved);
	/* nothing more to read: free what comes back until told to stop */
	while (!r->stop) {
		if (r->nspent == 0) {
			pthread_cond_wait(&r->moved, &r->lock);
			continue;
		}
		pthread_mutex_unlock(&r->lock);
		reader_free_spent(r);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* The next batch in order; 0 when the reader stopped without one. */
static int reader_take(reader *r, read_item *it)
{
	int got = 0;

	pthread_mutex_lock(&r->lock);
	while (r->count == 0 && !r->done)
		pthread_cond_wait(&r->moved, &r->lock);
	if (r->count > 0) {
		*it = r->q[r->head];
		r->head = (r->head + 1) % READ_AHEAD;
		r->count--;
		got = 1;
		pthread_cond_broadcast(&r->moved);
	}
	pthread_mutex_unlock(&r->lock);
	return got;
}

/* Stop the reader and drop what it read beyond what was applied. */
static void reader_stop(reader *r, pthread_t thread)
{
	read_item it;

	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_broadcast(&r->moved);
	pthread_mutex_unlock(&r->lock);
	pthread_join(thread, NULL);
	while (r->count > 0 && reader_take(r, &it))
		item_free(&it);
	while (r->nspent > 0)
		item_free(&r->spent[--r->nspent]);
	pthread_cond_destroy(&r->moved);
	pthread_mutex_destroy(&r->lock);
}

/* The reader's git handle, opened once per sync. */
static int reader_git(sync_ctx *x)
{
	char *path;
	int err;

	if (x->reader_git)
		return 0;
	if (!(path = chs_client__path(x->s->dir, "git")))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	err = chs_git_open(&x->reader_git, path);
	free(path);
	return err;
}

/* Apply what the reader accepted, in order, until it stops. */
static int apply_read(sync_ctx *x, reader *r)
{
	read_item it;
	size_t i;
	int err = 0;

	for (i = 0; err == 0 && reader_take(r, &it); i++) {
		progress(x, "Applying batches", i, r->n);
		if (it.err < 0)
			item_free(&it);
		if (it.err == CHS_ENOMEM || it.err == CHS_EIO)
			return chs_error_set(it.err, "%s", it.msg);
		if (it.err < 0) {
			/* refused: report it, leave this device where it was */
			note(x, "device %s: %s", r->device, it.msg);
			return 0;
		}
		err = apply_one(x, r->device, it.b, it.plan, &it.chain);
		reader_return(r, &it);
		if (err == CHS_EDENIED) {
			/* refused by the store (an edit of an access event):
			 * reported like a failed check, the device left here */
			note(x, "%s", chs_error_last());
			chs_error_clear();
			return 0;
		}
	}
	return err;
}

static int pull_device(sync_ctx *x, const char *ref)
{
	const char *device = ref + strlen(FETCHED_DEVICES);
	char (*oids)[41] = NULL;
	pthread_t thread;
	reader r;
	size_t n = 0;
	int skip, err;

	if (strcmp(device, x->s->device_id) == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	if ((err = chain_start(x, device, ref, &r.chain, &skip)) < 0 || skip)
		return err;
	if ((err = chs_git_log(x->git, ref, r.chain.oid[0] ? r.chain.oid : NULL, &oids, &n)) < 0 ||
	    n == 0 || (err = reader_git(x)) < 0)
		goto done;
	r.x = x;
	r.device = device;
	r.oids = (const char (*)[41])oids;
	r.n = n;
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.moved, NULL);
	if ((err = pthread_create(&thread, NULL, reader_main, &r)) != 0) {
		pthread_cond_destroy(&r.moved);
		pthread_mutex_destroy(&r.lock);
		err = chs_error_set(CHS_ENOMEM, "cannot start a thread: %s", strerror(err));
		goto done;
	}
	err = apply_read(x, &r);
	reader_stop(&r, thread);
done:
	free(oids);
	return err;
}

static int pull_devices(sync_ctx *x)
{
	char **refs = NULL;
	size_t i, n = 0;
	int err;

	if ((err = chs_git_refs(x->git, FETCHED_DEVICES, &refs, &n)) < 0)
		return err;
	x->rep->devices = n;
	for (i = 0; i < n && err == 0; i++)
		err = pull_device(x, refs[i]);
	if (err == 0)
		err = group_commit(x);
	else
		group_abort(x);
	chs_git_refs_free(refs, n);
	return err;
}

/* ------------------------------------------------------------------ */
/* This device's batches                                                */

/* The sequence number of the batch at the tip of this device's own ref:
 * batches up to it are in git already (a sync stopped before marking
 * them sent). */
static int own_tip_seq(sync_ctx *x, const char *ref, uint64_t *seq)
{
	chs_git_commit *c = NULL;
	chs_batch *b = NULL;
	char tip[41];
	int complete, err;

	*seq = 0;
	if ((err = chs_git_ref(x->git, ref, tip)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0 || (err = chs_git_read(x->git, tip, &c)) < 0)
		return err;
	if ((err = chs_batch_unpack(&b, c->entries, c->nentries, chs_key_none, NULL, &complete)) == 0)
		*seq = b->seq;
	chs_batch_free(b);
	chs_git_commit_free(c);
	return err;
}

static int mark_sent(chs_store *s, int64_t dseq_upto)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_client__begin(s)) < 0)
		return err;
	if ((err = chs_client__prepare(s, &st,
		     "UPDATE batches SET sent = 1 WHERE local AND NOT sent AND dseq <= ?")) < 0) {
		chs_client__rollback(s);
		return err;
	}
	sqlite3_bind_int64(st, 1, dseq_upto);
	rc = sqlite3_step(st);
	chs_client__finish(s, st);
	if (rc != SQLITE_DONE) {
		err = chs_client__sqlerr(s, rc, "marking batches sent");
		chs_client__rollback(s);
		return err;
	}
	return chs_client__commit(s);
}

/* The compartment a record of `type` belongs to. */
static int compartment_of(const char *type)
{
	const chs_type_def *t = type ? chs_schema_type(type) : NULL;

	return t && t->compartment == CHS_BILLING ? CHS_COMPARTMENT_BILLING
						  : CHS_COMPARTMENT_CLINICAL;
}

/* One change of a stored batch as stored, with its record's compartment. */
static int load_encoded(sync_ctx *x, const unsigned char id[CHS_CHANGE_ID_BYTES],
			chs_buf *body, int *comp)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_client__prepare(x->s, &st,
		     "SELECT c.body, r.type FROM changes c JOIN records r ON r.id = c.record"
		     " WHERE c.id = ?")) < 0)
		return err;
	sqlite3_bind_blob(st, 1, id, CHS_CHANGE_ID_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*comp = compartment_of((const char *)sqlite3_column_text(st, 1));
		err = chs_buf_put(body, sqlite3_column_blob(st, 0),
				  (size_t)sqlite3_column_bytes(st, 0));
	} else {
		err = rc == SQLITE_DONE ? chs_error_set(CHS_EDAMAGED,
							"a change of a stored batch is missing")
					: chs_client__sqlerr(x->s, rc, "reading a batch");
	}
	chs_client__finish(x->s, st);
	return err;
}

/*
 * The stored encodings of the n changes of batch `seq` (ids[i] is the i-th
 * its manifest lists), with their records' compartments. A save inserts a
 * batch's changes one after another in the order its manifest lists them,
 * so one walk of the table from the first one's row finds them all, two
 * index searches a change fewer than looking each one up (10,000 changes:
 * 48 ms of a 0.3 s commit step went to those searches). The walk stops at
 * the first row that is not the next change expected; whatever it did not
 * find is looked up by id, so the order of rows is never trusted, only
 * used. What is loaded is checked against the manifest's hashes later
 * (chs_batch_pack_listed).
 */
static int load_batch(sync_ctx *x, int64_t seq, const unsigned char (*ids)[CHS_CHANGE_ID_BYTES],
		      size_t n, chs_buf *bodies, int *comp)
{
	sqlite3_stmt *st = NULL;
	size_t k = 0;
	int err = 0, rc = SQLITE_DONE;

	if (n && (err = chs_client__prepare(x->s, &st,
		     "SELECT c.id, c.batch, c.body, r.type FROM changes c"
		     " JOIN records r ON r.id = c.record"
		     " WHERE c.rowid >= (SELECT rowid FROM changes WHERE id = ?1)"
		     " ORDER BY c.rowid LIMIT ?2")) < 0)
		return err;
	if (n) {
		sqlite3_bind_blob(st, 1, ids[0], CHS_CHANGE_ID_BYTES, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)n);
	}
	while (k < n && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *id = sqlite3_column_blob(st, 0);

		if (sqlite3_column_bytes(st, 0) != CHS_CHANGE_ID_BYTES ||
		    memcmp(id, ids[k], CHS_CHANGE_ID_BYTES) != 0 ||
		    sqlite3_column_int64(st, 1) != seq)
			break;
		comp[k] = compartment_of((const char *)sqlite3_column_text(st, 3));
		if ((err = chs_buf_put(&bodies[k], sqlite3_column_blob(st, 2),
				       (size_t)sqlite3_column_bytes(st, 2))) < 0)
			break;
		k++;
	}
	if (st)
		chs_client__finish(x->s, st);
	if (err == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = chs_client__sqlerr(x->s, rc, "reading a batch");
	for (; k < n && err == 0; k++)
		err = load_encoded(x, ids[k], &bodies[k], &comp[k]);
	return err;
}

/* The data key of each compartment the batch writes to. */
static int batch_keys(sync_ctx *x, const chs_batch *b, const int *comp, size_t n,
		      unsigned char key[CHS_NCOMPARTMENTS][CHS_KEY_BYTES],
		      const unsigned char *keys[CHS_NCOMPARTMENTS], uint32_t gens[CHS_NCOMPARTMENTS])
{
	size_t i;
	int c;

	for (i = 0; i < n; i++) {
		if (keys[c = comp[i]])
			continue;
		gens[c] = chs_roster_generation(x->roster, c);
		if (key_of(c, gens[c], key[c], x) < 0)
			return chs_error_set(CHS_EDENIED,
					     "this store's role may not write %s records, so its batch"
					     " %llu cannot be sent", c ? "clinical" : "billing",
					     (unsigned long long)b->seq);
		keys[c] = key[c];
	}
	return 0;
}

/*
 * Packing ahead. One of this store's batches goes to git in three steps:
 * load the changes' stored encodings (no decoding and encoding again),
 * pack them (compress and seal, chs_batch_pack_listed), commit the result.
 * Packing needs neither the store nor git, so a thread packs each batch
 * while this one loads the next and commits the one before; the commits
 * stay on this thread, in order, each the parent of the next.
 */
#define PACK_AHEAD 2

typedef struct pack_job {
	chs_batch *b;
	unsigned char (*ids)[CHS_CHANGE_ID_BYTES];
	size_t n;
	chs_buf *bodies;
	chs_encoded *enc;
	int *comp;
	unsigned char key[CHS_NCOMPARTMENTS][CHS_KEY_BYTES];
	const unsigned char *keys[CHS_NCOMPARTMENTS];
	uint32_t gens[CHS_NCOMPARTMENTS];
	chs_packed p;
	int packed; /* the packer is done with it; err says how */
	int err;
	char msg[512];
} pack_job;

typedef struct packer {
	pthread_mutex_t lock;
	pthread_cond_t moved; /* a job was loaded, packed or committed, or stop set */
	pack_job *q[PACK_AHEAD];
	size_t loaded, taken, committed; /* counts: job i is q[i % PACK_AHEAD] */
	int stop;
} packer;

static void job_free(pack_job *j)
{
	size_t i;

	if (!j)
		return;
	chs_packed_dispose(&j->p);
	chs_wipe(j->key, sizeof(j->key));
	for (i = 0; j->bodies && i < j->n; i++)
		chs_buf_dispose(&j->bodies[i]);
	free(j->bodies);
	free(j->enc);
	free(j->comp);
	free(j->ids);
	chs_batch_free(j->b);
	free(j);
}

/* Load the batch of row `st` (dseq, manifest, signature, seq) and the
 * keys to seal it with. */
static int job_load(sync_ctx *x, sqlite3_stmt *st, pack_job **out)
{
	pack_job *j = calloc(1, sizeof(*j));
	size_t i;
	int err;

	*out = NULL;
	if (!j)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (sqlite3_column_bytes(st, 2) != CHS_SIGNATURE_BYTES) {
		err = chs_error_set(CHS_EDAMAGED, "a stored batch is damaged");
		goto fail;
	}
	if ((err = chs_batch_from_manifest(&j->b, sqlite3_column_blob(st, 1),
					   (size_t)sqlite3_column_bytes(st, 1),
					   sqlite3_column_blob(st, 2))) < 0 ||
	    (err = chs_batch_manifest_ids(j->b, &j->ids, &j->n)) < 0)
		goto fail;
	j->comp = calloc(j->n + 1, sizeof(*j->comp));
	j->enc = calloc(j->n + 1, sizeof(*j->enc));
	j->bodies = calloc(j->n + 1, sizeof(*j->bodies));
	if (!j->comp || !j->enc || !j->bodies) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < j->n; i++)
		chs_buf_init(&j->bodies[i], 0);
	if ((err = load_batch(x, sqlite3_column_int64(st, 3),
			      (const unsigned char (*)[CHS_CHANGE_ID_BYTES])j->ids, j->n, j->bodies,
			      j->comp)) < 0 ||
	    (err = batch_keys(x, j->b, j->comp, j->n, j->key, j->keys, j->gens)) < 0)
		goto fail;
	for (i = 0; i < j->n; i++) {
		j->enc[i].data = j->bodies[i].ptr;
		j->enc[i].len = j->bodies[i].len;
	}
	*out = j;
	return 0;
fail:
	job_free(j);
	return err;
}

static void *packer_main(void *arg)
{
	packer *k = arg;
	pack_job *j;

	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (!k->stop && k->taken == k->loaded)
			pthread_cond_wait(&k->moved, &k->lock);
		if (k->stop)
			break;
		j = k->q[k->taken++ % PACK_AHEAD];
		pthread_mutex_unlock(&k->lock);
		j->err = chs_batch_pack_listed(&j->p, j->b,
					       (const unsigned char (*)[CHS_CHANGE_ID_BYTES])j->ids,
					       j->n, j->enc, j->n, j->comp, j->keys, j->gens);
		if (j->err < 0)
			snprintf(j->msg, sizeof(j->msg), "%s", chs_error_last());
		pthread_mutex_lock(&k->lock);
		j->packed = 1;
		pthread_cond_broadcast(&k->moved);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

static void packer_put(packer *k, pack_job *j)
{
	pthread_mutex_lock(&k->lock);
	k->q[k->loaded++ % PACK_AHEAD] = j;
	pthread_cond_broadcast(&k->moved);
	pthread_mutex_unlock(&k->lock);
}

/* The oldest job, once packed. */
static pack_job *packer_take(packer *k)
{
	pack_job *j;

	pthread_mutex_lock(&k->lock);
	j = k->q[k->committed % PACK_AHEAD];
	while (!j->packed)
		pthread_cond_wait(&k->moved, &k->lock);
	k->q[k->committed++ % PACK_AHEAD] = NULL;
	pthread_mutex_unlock(&k->lock);
	return j;
}

/* Stop the packer and drop the jobs not committed. */
static void packer_stop(packer *k, pthread_t thread)
{
	pthread_mutex_lock(&k->lock);
	k->stop = 1;
	pthread_cond_broadcast(&k->moved);
	pthread_mutex_unlock(&k->lock);
	pthread_join(thread, NULL);
	for (; k->committed < k->loaded; k->committed++)
		job_free(k->q[k->committed % PACK_AHEAD]);
	pthread_cond_destroy(&k->moved);
	pthread_mutex_destroy(&k->lock);
}

/* Commit a packed job to git: its batch's commit, on the one before. */
static int job_commit(sync_ctx *x, pack_job *j, uint64_t *done_seq)
{
	char oid[41];
	int err;

	if (j->err < 0)
		return chs_error_set(j->err, "%s", j->msg);
	if ((err = chs_batch_commit(x->git, &j->p, j->b, x->me->site, x->s->identity, oid)) < 0)
		return err;
	x->rep->batches_out++;
	x->rep->changes_out += j->n;
	*done_seq = j->b->seq;
	return 0;
}

/* Every batch saved here and not in git yet, committed on this device's
 * ref, as one pack (held until chs_git_release). */
static int commit_unsent(sync_ctx *x, sqlite3_stmt *st, uint64_t *done_seq)
{
	pthread_t thread;
	packer k;
	int err = 0, rc = sqlite3_step(st), started;

	/* nothing to send, the common case: no thread either */
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? 0 : chs_client__sqlerr(x->s, rc, "reading batches");
	memset(&k, 0, sizeof(k));
	pthread_mutex_init(&k.lock, NULL);
	pthread_cond_init(&k.moved, NULL);
	if ((started = pthread_create(&thread, NULL, packer_main, &k)) != 0) {
		pthread_cond_destroy(&k.moved);
		pthread_mutex_destroy(&k.lock);
		return chs_error_set(CHS_ENOMEM, "cannot start a thread: %s", strerror(started));
	}
	while (err == 0 && (rc == SQLITE_ROW || k.committed < k.loaded)) {
		pack_job *j = NULL;

		/* the row under `st` is loaded while the packer has room */
		if (rc == SQLITE_ROW && k.loaded - k.committed < PACK_AHEAD) {
			if ((err = job_load(x, st, &j)) < 0)
				break;
			packer_put(&k, j);
			if ((rc = sqlite3_step(st)) != SQLITE_ROW && rc != SQLITE_DONE)
				err = chs_client__sqlerr(x->s, rc, "reading batches");
			continue;
		}
		j = packer_take(&k);
		err = job_commit(x, j, done_seq);
		job_free(j);
		progress(x, "Preparing batches", x->rep->batches_out, 0);
	}
	packer_stop(&k, thread);
	return err;
}

static int commit_outgoing(sync_ctx *x)
{
	char ref[sizeof(CHS_DEVICE_REFS) + 33];
	sqlite3_stmt *st = NULL;
	uint64_t done_seq;
	int err;

	snprintf(ref, sizeof(ref), "%s%s", CHS_DEVICE_REFS, x->s->device_id);
	if ((err = own_tip_seq(x, ref, &done_seq)) < 0 ||
	    (done_seq && (err = mark_sent(x->s, (int64_t)done_seq)) < 0))
		return err;
	if ((err = chs_client__prepare(x->s, &st,
		     "SELECT dseq, manifest, signature, seq FROM batches WHERE local AND NOT sent"
		     " ORDER BY dseq")) < 0)
		return err;
	/* every batch of this sync reaches disk as one pack */
	chs_git_hold(x->git);
	err = commit_unsent(x, st, &done_seq);
	chs_client__finish(x->s, st);
	if (err == 0)
		err = chs_git_release(x->git);
	chs_client__fault("committed");
	/* marked after the statement is done: one write at a time */
	if (x->rep->batches_out && done_seq) {
		int err2 = mark_sent(x->s, (int64_t)done_seq);

		if (err == 0)
			err = err2;
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* Push                                                                 */

/* 1 when `ref` here differs from what the archive had at the fetch. */
static int ahead(sync_ctx *x, const char *ref, const char *fetched, int *yes)
{
	char mine[41], theirs[41];
	int err;

	*yes = 0;
	if ((err = chs_git_ref(x->git, ref, mine)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	if ((err = chs_git_ref(x->git, fetched, theirs)) == CHS_ENOTFOUND) {
		chs_error_clear();
		*yes = 1;
		return 0;
	}
	if (err == 0)
		*yes = strcmp(mine, theirs) != 0;
	return err;
}

static int push_once(sync_ctx *x)
{
	char mine[sizeof(CHS_DEVICE_REFS) + 33], fetched[sizeof(FETCHED_DEVICES) + 33];
	const char *refs[2];
	size_t n = 0;
	int yes, err;

	snprintf(mine, sizeof(mine), "%s%s", CHS_DEVICE_REFS, x->s->device_id);
	snprintf(fetched, sizeof(fetched), "%s%s", FETCHED_DEVICES, x->s->device_id);
	if (x->org_admin) {
		if ((err = ahead(x, CHS_ROSTER_REF, FETCHED_ROSTER, &yes)) < 0)
			return err;
		if (yes)
			refs[n++] = CHS_ROSTER_REF;
	}
	if ((err = ahead(x, mine, fetched, &yes)) < 0)
		return err;
	if (yes)
		refs[n++] = mine;
	if (n == 0)
		return 0;
	progress(x, "Sending", 0, 0);
	chs_client__fault("pushing");
	if ((err = chs_git_push(x->git, x->url, refs, n)) == 0)
		x->rep->pushed = 1;
	chs_client__fault("pushed");
	return err;
}

static int push(sync_ctx *x)
{
	int tries, err = 0;

	for (tries = 1; tries <= PUSH_TRIES; tries++) {
		if ((err = push_once(x)) != CHS_EDENIED || tries == PUSH_TRIES ||
		    (!strstr(chs_error_last(), "fast-forward") &&
		     !strstr(chs_error_last(), "fetch first")))
			return err;
		/* the archive moved meanwhile: catch up, then try again */
		chs_error_clear();
		if ((err = chs_git_fetch(x->git, x->url)) < 0 || (err = fetch_roster(x)) < 0)
			return err;
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* The whole sync                                                       */

static int sync_lock(chs_store *s, int *fd)
{
	char *path = chs_client__path(s->dir, "sync.lock");

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
	progress(payload, what, done, total);
}

/* The mirror, talking to the archive as this device (its key signs SSH
 * logins), with stale locks of a killed sync cleared: this sync holds
 * the store's sync lock, so no other writer of the mirror is running. */
static int open_git(sync_ctx *x)
{
	char *path = chs_client__path(x->s->dir, "git");
	chs_git_transport t;
	int err;

	if (!path)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	err = chs_git_open(&x->git, path);
	free(path);
	if (err < 0)
		return err;
	memset(&t, 0, sizeof(t));
	t.ssh_key = x->s->identity;
	t.progress = on_transfer;
	t.payload = x;
	chs_git_set_transport(x->git, &t);
	chs_git_clear_stale_locks(x->git);
	return 0;
}

/* This device on the newest roster, or why it may not sync yet. */
static int find_me(sync_ctx *x)
{
	int err;

	chs_roster_free(x->roster);
	x->roster = NULL;
	x->me = NULL;
	if ((err = chs_client__roster_load(x->s, &x->roster, NULL)) == CHS_ENOTFOUND)
		return chs_error_set(CHS_EDENIED,
				     "the archive at %s has no roster yet: the organisation's admin"
				     " runs 'chartsync org init --archive %s' first", x->url, x->url);
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

/* What the attachment steps (client/blobsync.c) need of this sync. */
static void blob_sync_of(sync_ctx *x, chs_blob_sync *b, int fetched)
{
	memset(b, 0, sizeof(*b));
	b->s = x->s;
	b->git = x->git;
	b->url = x->url;
	b->roster = x->roster;
	b->me = x->me;
	b->key_of = key_of;
	b->key_payload = x;
	b->fetched = fetched;
	b->opts = x->opts;
	b->rep = x->rep;
}

/* Records first, both ways; attachment bytes after them (step 7 of the
 * top comment's list, client/blobsync.c): a large scan never holds back
 * a batch. */
static int run(sync_ctx *x)
{
	int chunks = chs_client__blobs_wanted(x->s), err;
	chs_blob_sync b;

	progress(x, "Fetching", 0, 0);
	if ((err = chs_git_fetch_refs(x->git, x->url, CHS_GIT_FETCH_CHANGES |
				      (chunks ? CHS_GIT_FETCH_CHUNKS : 0))) < 0)
		return chs_error_wrap(err, "cannot reach the archive at %s; your work is saved"
				      " here and goes with the next sync", x->url);
	chs_client__fault("fetched");
	if ((err = fetch_roster(x)) < 0)
		return err;
	if (x->org_admin && (err = chs_client__publish_rosters(x->s, x->git)) < 0)
		return err;
	if ((err = find_me(x)) < 0 || (err = pull_devices(x)) < 0 ||
	    (err = commit_outgoing(x)) < 0 || (err = push(x)) < 0)
		return err;
	blob_sync_of(x, &b, chunks);
	if ((err = chs_client__blobs_push(&b)) < 0 || (err = chs_client__blobs_pull(&b)) < 0)
		return err;
	/* housekeeping, not the sync's result: a failure only costs speed */
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
	if ((err = chs_client__org_admin(s, &x.org_admin)) < 0 ||
	    (err = sync_lock(s, &lock)) < 0 || (err = open_git(&x)) < 0)
		goto done;
	err = run(&x);
	if (err == 0 && rep->refused)
		err = chs_error_set(CHS_EDAMAGED, "the sync finished, but %zu thing%s from the archive"
				    " %s refused:\n%s", rep->refused, rep->refused == 1 ? "" : "s",
				    rep->refused == 1 ? "was" : "were", rep->problems.ptr);
done:
	keys_dispose(&x);
	pthread_mutex_destroy(&x.keys_lock);
	chs_roster_free(x.roster);
	chs_git_free(x.reader_git);
	chs_git_free(x.git);
	if (lock >= 0)
		close(lock);
	free(url);
	chs_client__after_big_job(rep->changes_in + rep->changes_out);
	return err;
}
