/*
 * Sync, steps 6 and 7 (the list in sync.c): this store's batches become
 * commits on its device's ref, packed on a thread, and the ref (with the
 * admin's roster) is pushed to the archive.
 */
#include "replicate_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUSH_TRIES 3

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

/* Whether a batch of this device up to `dseq_upto` is still unsent. */
static int unsent_upto(chs_store *s, int64_t dseq_upto, int *any)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*any = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT EXISTS (SELECT 1 FROM batches WHERE local AND NOT sent"
		     " AND dseq <= ?)")) < 0)
		return err;
	if ((err = chs_store__bind_int64(s, st, 1, dseq_upto)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*any = sqlite3_column_int(st, 0);
	chs_store__finish(s, st);
	return rc == SQLITE_ROW ? 0 : chs_store__sqlerr(s, rc, "reading");
}

/* Mark this device's batches up to `dseq_upto` sent. Every sync asks,
 * and nearly always they are marked already: then nothing is written.
 * A write would cost a commit with its fsync, and give the store a new
 * state token, so a backup after a sync that sent nothing would copy
 * the store again. */
static int mark_sent(chs_store *s, int64_t dseq_upto)
{
	sqlite3_stmt *st = NULL;
	int any, err, rc;

	if ((err = unsent_upto(s, dseq_upto, &any)) < 0 || !any)
		return err;
	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = chs_store__prepare(s, &st,
		     "UPDATE batches SET sent = 1 WHERE local AND NOT sent AND dseq <= ?")) < 0) {
		chs_store__rollback(s);
		return err;
	}
	if ((err = chs_store__bind_int64(s, st, 1, dseq_upto)) < 0) {
		chs_store__finish(s, st);
		chs_store__rollback(s);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE) {
		err = chs_store__sqlerr(s, rc, "marking batches sent");
		chs_store__rollback(s);
		return err;
	}
	return chs_store__commit(s);
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

	if ((err = chs_store__prepare(x->s, &st,
		     "SELECT c.body, r.type FROM changes c JOIN records r ON r.id = c.record"
		     " WHERE c.id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(x->s, st, 1, id, CHS_CHANGE_ID_BYTES)) < 0) {
		chs_store__finish(x->s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*comp = compartment_of((const char *)sqlite3_column_text(st, 1));
		err = chs_buf_put(body, sqlite3_column_blob(st, 0),
				  (size_t)sqlite3_column_bytes(st, 0));
	} else {
		err = rc == SQLITE_DONE ? chs_error_set(CHS_EDAMAGED,
							"a change of a stored batch is missing")
					: chs_store__sqlerr(x->s, rc, "reading a batch");
	}
	chs_store__finish(x->s, st);
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

	if (n && (err = chs_store__prepare(x->s, &st,
		     "SELECT c.id, c.batch, c.body, r.type FROM changes c"
		     " JOIN records r ON r.id = c.record"
		     " WHERE c.rowid >= (SELECT rowid FROM changes WHERE id = ?1)"
		     " ORDER BY c.rowid LIMIT ?2")) < 0)
		return err;
	if (n && ((err = chs_store__bind_blob(x->s, st, 1, ids[0], CHS_CHANGE_ID_BYTES)) < 0 ||
		  (err = chs_store__bind_int64(x->s, st, 2, (int64_t)n)) < 0)) {
		chs_store__finish(x->s, st);
		return err;
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
		chs_store__finish(x->s, st);
	if (err == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = chs_store__sqlerr(x->s, rc, "reading a batch");
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
		if (chs_replicate__sync_key_of(c, gens[c], key[c], x) < 0)
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
	pack_job *j = chs_calloc(1, sizeof(*j));
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
	j->comp = chs_calloc(j->n + 1, sizeof(*j->comp));
	j->enc = chs_calloc(j->n + 1, sizeof(*j->enc));
	j->bodies = chs_calloc(j->n + 1, sizeof(*j->bodies));
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
		return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(x->s, rc, "reading batches");
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
				err = chs_store__sqlerr(x->s, rc, "reading batches");
			continue;
		}
		j = packer_take(&k);
		err = job_commit(x, j, done_seq);
		job_free(j);
		chs_replicate__sync_progress(x, "Preparing batches", x->rep->batches_out, 0);
		/* stopped: the commits made so far are kept (the caller writes them) */
		if (err == 0)
			err = chs_replicate__cancelled(x->opts);
	}
	packer_stop(&k, thread);
	return err;
}

int chs_replicate__commit_outgoing(sync_ctx *x)
{
	char ref[sizeof(CHS_DEVICE_REFS) + 33];
	sqlite3_stmt *st = NULL;
	uint64_t done_seq;
	int err;

	/* the archive's ref of this device is forged and the mirror holds
	 * none (a restored store): commits made now would start a history
	 * in the middle; they wait until the admin removes the forgery */
	if (x->own_unrooted)
		return 0;
	snprintf(ref, sizeof(ref), "%s%s", CHS_DEVICE_REFS, x->s->device_id);
	if ((err = own_tip_seq(x, ref, &done_seq)) < 0 ||
	    (done_seq && (err = mark_sent(x->s, (int64_t)done_seq)) < 0))
		return err;
	if ((err = chs_store__prepare(x->s, &st,
		     "SELECT dseq, manifest, signature, seq FROM batches WHERE local AND NOT sent"
		     " ORDER BY dseq")) < 0)
		return err;
	/* every batch of this sync reaches disk as one pack */
	chs_git_hold(x->git);
	err = commit_unsent(x, st, &done_seq);
	chs_store__finish(x->s, st);
	/* a stopped sync keeps the commits it made; after any other failure
	 * they stay in memory only, and nothing may be marked sent */
	if (err == 0 || err == CHS_ECANCELLED) {
		int err2 = chs_git_release(x->git);

		if (err2 < 0)
			return err2;
	} else {
		return err;
	}
	chs_util__fault("committed");
	/* marked after the statement is done: one write at a time */
	if (x->rep->batches_out && done_seq) {
		int err2 = mark_sent(x->s, (int64_t)done_seq);

		if (err2 < 0)
			return err2;
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

/* The changes of the batch in commit `oid`, as its manifest lists them
 * (unpacked without keys, so none of them is read). */
static int changes_in(sync_ctx *x, const char *oid, size_t *n)
{
	unsigned char (*ids)[CHS_CHANGE_ID_BYTES] = NULL;
	chs_git_commit *c = NULL;
	chs_batch *b = NULL;
	int complete, err;

	*n = 0;
	if ((err = chs_git_read(x->git, oid, &c)) == 0 &&
	    (err = chs_batch_unpack(&b, c->entries, c->nentries, chs_key_none, NULL,
				    &complete)) == 0)
		err = chs_batch_manifest_ids(b, &ids, n);
	free(ids);
	chs_batch_free(b);
	chs_git_commit_free(c);
	return err;
}

/*
 * What a push of this device's ref delivers: every commit after the
 * archive's tip, whichever sync made it. A sync that committed its
 * batches and then lost the archive leaves them for the next one to
 * push, and that one's summary must count them: the batches this sync
 * made are the last `batches_out` (their changes counted already), the
 * older ones are read back.
 */
static int count_outgoing(sync_ctx *x, const char *mine, const char *fetched,
			  size_t *batches, size_t *changes)
{
	char (*oids)[41] = NULL, theirs[41];
	size_t i, n = 0, k;
	int err;

	*batches = *changes = 0;
	if ((err = chs_git_ref(x->git, fetched, theirs)) == CHS_ENOTFOUND) {
		chs_error_clear();
		theirs[0] = '\0';
	} else if (err < 0) {
		return err;
	}
	if ((err = chs_git_log(x->git, mine, theirs[0] ? theirs : NULL, &oids, &n)) < 0)
		return err;
	*batches = n;
	*changes = n >= x->rep->batches_out ? x->rep->changes_out : 0;
	for (i = 0; i + x->rep->batches_out < n && err == 0; i++) {
		if ((err = changes_in(x, oids[i], &k)) == 0)
			*changes += k;
	}
	free(oids);
	return err;
}

/*
 * The archive holds commits under this device's name that it did not
 * make: its ref there is neither this device's tip nor behind it, and
 * its chain did not check (resync.c found it so; a chain this device's
 * key signed, ahead of the mirror, was taken in there). Every push of
 * the ref would be refused as "not a fast-forward", and every other
 * device refuses the forgery, so this device's work reaches no one
 * until the ref is reset: said plainly, with what the admin does about
 * it, instead of a push that fails. An archive tip behind this device's
 * (batches dropped) is no forgery: the push puts them back.
 */
static int own_ref_forged(sync_ctx *x, const char *mine, const char *fetched, int *forged)
{
	char ours[41], theirs[41];
	int yes, err;

	*forged = 0;
	if ((err = chs_git_ref(x->git, mine, ours)) == CHS_ENOTFOUND ||
	    (err == 0 && (err = chs_git_ref(x->git, fetched, theirs)) == CHS_ENOTFOUND)) {
		chs_error_clear();
		return 0;
	}
	if (err < 0 || strcmp(ours, theirs) == 0 ||
	    (err = chs_git_is_ancestor(x->git, theirs, ours, &yes)) < 0 || yes)
		return err;
	*forged = 1;
	return chs_replicate__own_forged_note(x); /* said once a sync */
}

static int push_once(sync_ctx *x)
{
	char mine[sizeof(CHS_DEVICE_REFS) + 33], fetched[sizeof(FETCHED_DEVICES) + 33];
	const char *refs[2];
	size_t n = 0, batches = 0, changes = 0;
	int yes, forged = 0, err;

	snprintf(mine, sizeof(mine), "%s%s", CHS_DEVICE_REFS, x->s->device_id);
	snprintf(fetched, sizeof(fetched), "%s%s", FETCHED_DEVICES, x->s->device_id);
	if (x->org_admin) {
		if ((err = ahead(x, CHS_ROSTER_REF, FETCHED_ROSTER, &yes)) < 0)
			return err;
		if (yes)
			refs[n++] = CHS_ROSTER_REF;
	}
	if ((err = ahead(x, mine, fetched, &yes)) < 0 ||
	    (yes && (err = own_ref_forged(x, mine, fetched, &forged)) < 0))
		return err;
	if (forged)
		yes = 0; /* said; the push would only be refused */
	if (yes && (err = count_outgoing(x, mine, fetched, &batches, &changes)) < 0)
		return err;
	if (yes)
		refs[n++] = mine;
	if (n == 0)
		return 0;
	chs_replicate__sync_progress(x, "Sending", 0, 0);
	chs_util__fault("pushing");
	if ((err = chs_git_push(x->git, x->url, refs, n)) == 0) {
		x->rep->pushed = 1;
		x->rep->batches_pushed = batches;
		x->rep->changes_pushed = changes;
	}
	chs_util__fault("pushed");
	return err;
}

int chs_replicate__push(sync_ctx *x)
{
	int tries, err = 0;

	for (tries = 1; tries <= PUSH_TRIES; tries++) {
		/* "failed to update ref": git's receive-pack found the ref
		 * locked, or moved since it told this push where it was, by
		 * another push of it finishing: a sync killed a moment ago,
		 * whose push the archive was still writing */
		if ((err = push_once(x)) != CHS_EDENIED || tries == PUSH_TRIES ||
		    (!strstr(chs_error_last(), "fast-forward") &&
		     !strstr(chs_error_last(), "fetch first") &&
		     !strstr(chs_error_last(), "failed to update ref")))
			return err;
		/* the archive moved meanwhile: catch up, then try again */
		chs_error_clear();
		if ((err = chs_replicate__cancelled(x->opts)) < 0 ||
		    (err = chs_git_fetch(x->git, x->url)) < 0 ||
		    (err = chs_replicate__check_archive(x)) < 0 ||
		    (err = chs_replicate__fetch_roster(x)) < 0 ||
		    /* another admin store's roster landed: this one's edits,
		     * made again on top of it, go out instead */
		    (x->org_admin && (err = chs_replicate__publish_rosters(x->s, x->git)) < 0))
			return err;
	}
	return err;
}
