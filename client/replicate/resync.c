/*
 * Sync, between the pull and the send: a store behind its own history.
 *
 * A store restored from a backup is its database and key slots as they
 * were then, with no git mirror (the mirror is a cache of the archive
 * and is not backed up). The device went on after the backup: it sent
 * batches the restored store never saw, and the archive holds them on
 * the device's own ref. Sending from the store's own numbering would
 * reuse their seqs (every device and the archive's hook refuse that) or
 * start a second history beside the first (refused as not a
 * fast-forward), and the store would never hold its own later work.
 * So, whenever the archive's ref of this device is not the mirror's tip
 * or behind it:
 *
 *   1. walk the archive's commits of this device from the mirror's tip
 *      (from the root when the mirror has none, or went another way) and
 *      accept each as any device's (sync/accept.c): on the roster,
 *      signed by this device's key, each the next of the chain. A ref
 *      that fails is a forgery: said, and nothing here changes;
 *   2. the store's own batches in that span that the archive does not
 *      hold (work made since the restore, or committed to a lost mirror
 *      and never pushed) take the seqs after the archive's last, each
 *      sealed again with the device key over its new seq and prev (its
 *      changes stay as they are: a change names no batch), and wait to
 *      be sent; one transaction;
 *   3. the archive's batches the store lacks are applied, as its own
 *      and sent, in the pull's groups (pull.c);
 *   4. the mirror's own ref is set to the archive's, and the send
 *      (send.c) commits the waiting batches on top of it.
 *
 * Each step can be interrupted: the next sync walks again, finds the
 * renumbered batches in place (nothing to seal) and the applied ones
 * held, and goes on. A store that never left its mirror passes step 1's
 * first test (its tip is the archive's or ahead of it) and pays one ref
 * comparison. When the archive holds no ref of this device and the
 * mirror none either, yet the store holds batches it sent (a lost mirror
 * and a ref deleted on the archive), its whole history waits to be sent
 * again, from seq 1.
 *
 * Calls pull.c (applying, notes, keys); sync.c and send.c call it.
 */
#include "replicate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One of this device's batches as the archive holds it. */
typedef struct own_commit {
	char oid[41];
	uint64_t seq;
	unsigned char id[CHS_HASH_BYTES];
	int held; /* the store holds this very batch */
} own_commit;

typedef struct own_walk {
	chs_chain start; /* the chain before the first commit walked */
	own_commit *c;
	size_t n;
} own_walk;

int chs_replicate__own_forged_note(sync_ctx *x)
{
	if (x->own_ref_forged++)
		return 0; /* said already */
	chs_replicate__sync_note(x, "the archive holds commits under this device's name (%s%s) that"
				 " this device did not make: this store's work is NOT being"
				 " delivered to anyone. Tell the organisation's admin, who removes"
				 " that ref on the archive's server ('git --git-dir=ARCHIVE"
				 " update-ref -d %s%s'); the next sync here then publishes this"
				 " device's own history again", CHS_DEVICE_REFS, x->s->device_id,
				 CHS_DEVICE_REFS, x->s->device_id);
	return 0;
}

/* 1 in *held when the store holds batch `id`. */
static int batch_held(chs_store *s, const unsigned char id[CHS_HASH_BYTES], int *held)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*held = 0;
	if ((err = chs_store__prepare(s, &st, "SELECT 1 FROM batches WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, id, CHS_HASH_BYTES)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	*held = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
		: chs_store__sqlerr(s, rc, "reading batches");
}

/* The chain at commit `oid` of this device's (made here: trusted). */
static int chain_at(sync_ctx *x, const char *oid, chs_chain *chain)
{
	chs_git_commit *c = NULL;
	chs_batch *b = NULL;
	int complete, err;

	if ((err = chs_git_read(x->git, oid, &c)) == 0 &&
	    (err = chs_batch_unpack(&b, c->entries, c->nentries, chs_key_none, NULL,
				    &complete)) == 0) {
		chain->seq = b->seq;
		memcpy(chain->prev, b->id, CHS_HASH_BYTES);
		snprintf(chain->oid, sizeof(chain->oid), "%s", oid);
	}
	chs_batch_free(b);
	chs_git_commit_free(c);
	return err;
}

/* Step 1: accept the archive's commits of this device after `since`
 * (NULL: all), nothing decrypted. A refusal comes back as the check's
 * code (CHS_EDAMAGED, CHS_EDENIED). */
static int walk(sync_ctx *x, const char *fetched, const char *since, own_walk *w)
{
	char (*oids)[41] = NULL;
	chs_chain chain = w->start;
	size_t i, n = 0;
	int err;

	if ((err = chs_git_log(x->git, fetched, since, &oids, &n)) < 0)
		return err;
	if (!(w->c = chs_calloc(n + 1, sizeof(*w->c)))) {
		free(oids);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	for (i = 0; i < n && err == 0; i++) {
		chs_git_commit *c = NULL;
		chs_batch *b = NULL;

		if ((err = chs_git_read(x->git, oids[i], &c)) == 0 &&
		    (err = chs_batch_accept(&b, NULL, &chain, x->roster, x->s->device_id, oids[i],
					    c, NULL, NULL)) == 0) {
			own_commit *o = &w->c[w->n++];

			snprintf(o->oid, sizeof(o->oid), "%s", oids[i]);
			o->seq = b->seq;
			memcpy(o->id, b->id, CHS_HASH_BYTES);
			err = batch_held(x->s, b->id, &o->held);
		}
		chs_batch_free(b);
		chs_git_commit_free(c);
	}
	free(oids);
	return err;
}

static int walked(const own_walk *w, const unsigned char *id)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (chs_equal(w->c[i].id, id, CHS_HASH_BYTES))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Step 2: the store's own batches the archive lacks                    */

typedef struct own_row {
	int64_t seq; /* local order: the changes' rows name it */
	int sent;
	chs_batch *b; /* the manifest, without its changes */
} own_row;

static void rows_free(own_row *r, size_t n)
{
	size_t i;

	for (i = 0; r && i < n; i++)
		chs_batch_free(r[i].b);
	free(r);
}

/* This device's batches after seq `after`, in order. */
static int own_rows(sync_ctx *x, uint64_t after, own_row **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	own_row *r = NULL;
	size_t cap = 0;
	int err, rc = SQLITE_DONE;

	*out = NULL;
	*n = 0;
	if ((err = chs_store__prepare(x->s, &st,
		     "SELECT seq, sent, manifest, signature FROM batches WHERE device = ?"
		     " AND dseq > ? ORDER BY dseq, seq")) < 0)
		return err;
	if ((err = chs_store__bind_text(x->s, st, 1, x->s->device_id)) < 0 ||
	    (err = chs_store__bind_int64(x->s, st, 2, (int64_t)after)) < 0)
		goto done;
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = CHS_ARRAY_GROW(r, cap, *n + 1)) < 0)
			break;
		memset(&r[*n], 0, sizeof(*r));
		r[*n].seq = sqlite3_column_int64(st, 0);
		r[*n].sent = sqlite3_column_int(st, 1);
		if (sqlite3_column_bytes(st, 3) != CHS_SIGNATURE_BYTES)
			err = chs_error_set(CHS_EDAMAGED, "a stored batch is damaged");
		else
			err = chs_batch_from_manifest(&r[*n].b, sqlite3_column_blob(st, 2),
						      (size_t)sqlite3_column_bytes(st, 2),
						      sqlite3_column_blob(st, 3));
		(*n)++;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(x->s, rc, "reading batches");
done:
	chs_store__finish(x->s, st);
	if (err < 0) {
		rows_free(r, *n);
		*n = 0;
	} else {
		*out = r;
	}
	return err;
}

/* Batch row `r` becomes seq `dseq` after `prev`, sealed again with the
 * device key, to be sent. */
static int reseal(sync_ctx *x, const own_row *r, uint64_t dseq,
		  const unsigned char prev[CHS_HASH_BYTES], unsigned char id[CHS_HASH_BYTES])
{
	chs_batch *old = NULL, *b = NULL;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_records__load_batch(x->s, r->b->manifest, r->b->manifest_len,
					   r->b->signature, &old)) < 0)
		return err;
	/* the new batch takes the changes */
	err = chs_batch_seal(&b, x->s->identity, dseq, dseq > 1 ? prev : NULL, old->changes,
			     old->nchanges);
	if (err == 0) {
		old->changes = NULL;
		old->nchanges = 0;
	}
	chs_batch_free(old);
	if (err < 0)
		return err;
	memcpy(id, b->id, CHS_HASH_BYTES);
	if ((err = chs_store__prepare(x->s, &st,
		     "UPDATE batches SET id = ?, dseq = ?, manifest = ?, signature = ?, sent = 0"
		     " WHERE seq = ?")) < 0)
		goto done;
	if ((err = chs_store__bind_blob(x->s, st, 1, b->id, CHS_HASH_BYTES)) < 0 ||
	    (err = chs_store__bind_int64(x->s, st, 2, (int64_t)dseq)) < 0 ||
	    (err = chs_store__bind_blob(x->s, st, 3, b->manifest, b->manifest_len)) < 0 ||
	    (err = chs_store__bind_blob(x->s, st, 4, b->signature, CHS_SIGNATURE_BYTES)) < 0 ||
	    (err = chs_store__bind_int64(x->s, st, 5, r->seq)) < 0)
		goto done;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = chs_store__sqlerr(x->s, rc, "renumbering a batch");
done:
	chs_store__finish(x->s, st);
	chs_batch_free(b);
	return err;
}

/* Batch row `seq`, in place already, waits to be sent. */
static int unsend(sync_ctx *x, int64_t seq)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(x->s, &st, "UPDATE batches SET sent = 0 WHERE seq = ?")) < 0)
		return err;
	if ((err = chs_store__bind_int64(x->s, st, 1, seq)) == 0 &&
	    (rc = sqlite3_step(st)) != SQLITE_DONE)
		err = chs_store__sqlerr(x->s, rc, "saving a batch");
	chs_store__finish(x->s, st);
	return err;
}

/* Give the store's own batches after the walk's start that the archive
 * does not hold the seqs after `last` (the archive's last, `prev` its
 * id), in their order, in one transaction. */
static int renumber(sync_ctx *x, const own_walk *w, uint64_t last,
		    const unsigned char last_id[CHS_HASH_BYTES], int has_last)
{
	unsigned char prev[CHS_HASH_BYTES];
	own_row *r = NULL;
	uint64_t next = last + 1;
	size_t i, n = 0, moved = 0;
	int err;

	if (has_last)
		memcpy(prev, last_id, CHS_HASH_BYTES);
	if ((err = chs_store__begin(x->s)) < 0)
		return err;
	if ((err = own_rows(x, w->start.seq, &r, &n)) < 0)
		goto done;
	for (i = 0; i < n && err == 0; i++, next++) {
		const chs_batch *b = r[i].b;

		if (walked(w, b->id)) {
			next--; /* the archive's own: in place */
			continue;
		}
		if (b->seq == next && (next == 1 || (b->has_prev &&
						     chs_equal(b->prev, prev, CHS_HASH_BYTES)))) {
			/* in place already (a lost mirror, or an earlier sync) */
			if (r[i].sent)
				err = unsend(x, r[i].seq);
			memcpy(prev, b->id, CHS_HASH_BYTES);
			continue;
		}
		if ((err = reseal(x, &r[i], next, prev, prev)) == 0)
			moved++;
	}
done:
	rows_free(r, n);
	if (err < 0) {
		chs_store__rollback(x->s);
		return err;
	}
	if ((err = chs_store__commit(x->s)) < 0)
		return err;
	x->rep->renumbered += moved;
	if (moved)
		chs_util__fault("own-renumbered");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Step 3: the archive's batches the store lacks                        */

static int apply_missing(sync_ctx *x, const own_walk *w)
{
	chs_chain chain = w->start;
	size_t i, applied = 0;
	int err = 0;

	for (i = 0; i < w->n && err == 0; i++) {
		chs_git_commit *c = NULL;
		chs_batch *b = NULL;
		int complete;

		if (w->c[i].held) {
			chain.seq = w->c[i].seq;
			memcpy(chain.prev, w->c[i].id, CHS_HASH_BYTES);
			snprintf(chain.oid, sizeof(chain.oid), "%s", w->c[i].oid);
			continue;
		}
		/* between groups only: a group is whole batches */
		if (!x->applying && (err = chs_replicate__cancelled(x->opts)) < 0)
			break;
		chs_replicate__sync_progress(x, "Applying this device's own batches", i, w->n);
		if ((err = chs_git_read(x->git, w->c[i].oid, &c)) == 0 &&
		    (err = chs_batch_accept(&b, &complete, &chain, x->roster, x->s->device_id,
					    w->c[i].oid, c, chs_replicate__sync_key_of, x)) == 0 &&
		    (err = chs_replicate__apply_batch(x, b)) == 0)
			applied++;
		chs_batch_free(b);
		chs_git_commit_free(c);
	}
	if (err == 0)
		err = chs_replicate__apply_end(x);
	else
		chs_replicate__apply_abort(x);
	if (err == 0 && applied)
		chs_util__fault("own-applied");
	return err;
}

/* ------------------------------------------------------------------ */
/* The whole step                                                       */

/* Neither the archive nor the mirror holds this device's ref: every
 * batch of its own the store sent is sent again (a lost mirror, and a
 * ref deleted on the archive); nothing for a store that sent none. */
static int republish(sync_ctx *x)
{
	sqlite3_stmt *st = NULL;
	int64_t sent = 0;
	int err, rc;

	/* a store that has sent nothing yet (every new one) writes nothing */
	if ((err = chs_store__prepare(x->s, &st, "SELECT count(*) FROM batches WHERE device = ?"
				      " AND sent AND local")) < 0)
		return err;
	if ((err = chs_store__bind_text(x->s, st, 1, x->s->device_id)) == 0) {
		if ((rc = sqlite3_step(st)) == SQLITE_ROW)
			sent = sqlite3_column_int64(st, 0);
		else
			err = chs_store__sqlerr(x->s, rc, "reading batches");
	}
	chs_store__finish(x->s, st);
	st = NULL;
	if (err < 0 || sent == 0)
		return err;
	if ((err = chs_store__begin(x->s)) < 0)
		return err;
	if ((err = chs_store__prepare(x->s, &st,
		     "UPDATE batches SET local = 1, sent = 0 WHERE device = ? AND sent")) == 0 &&
	    (err = chs_store__bind_text(x->s, st, 1, x->s->device_id)) == 0 &&
	    (rc = sqlite3_step(st)) != SQLITE_DONE)
		err = chs_store__sqlerr(x->s, rc, "saving a batch");
	chs_store__finish(x->s, st);
	if (err < 0) {
		chs_store__rollback(x->s);
		return err;
	}
	return chs_store__commit(x->s);
}

/* The archive's ref `theirs` is ahead of the mirror's `mine` (NULL: none,
 * or gone another way): steps 1 to 4. */
static int catch_up(sync_ctx *x, const char *mine_ref, const char *fetched, const char *mine,
		    const char *theirs)
{
	own_walk w;
	const own_commit *last;
	int err;

	memset(&w, 0, sizeof(w));
	if (mine && (err = chain_at(x, mine, &w.start)) < 0)
		return err;
	if ((err = walk(x, fetched, mine, &w)) == CHS_EDAMAGED || err == CHS_EDENIED) {
		chs_error_clear();
		free(w.c);
		x->own_unrooted = !mine;
		return chs_replicate__own_forged_note(x);
	}
	if (err < 0)
		goto done;
	last = w.n ? &w.c[w.n - 1] : NULL;
	if ((err = renumber(x, &w, last ? last->seq : w.start.seq,
			    last ? last->id : w.start.prev, last || w.start.seq)) < 0 ||
	    (err = apply_missing(x, &w)) < 0)
		goto done;
	err = chs_git_set_ref(x->git, mine_ref, theirs, mine);
done:
	free(w.c);
	return err;
}

int chs_replicate__own_history(sync_ctx *x)
{
	char mine_ref[sizeof(CHS_DEVICE_REFS) + 33], fetched[sizeof(FETCHED_DEVICES) + 33];
	char mine[41], theirs[41];
	int has_mine, yes, err;

	snprintf(mine_ref, sizeof(mine_ref), "%s%s", CHS_DEVICE_REFS, x->s->device_id);
	snprintf(fetched, sizeof(fetched), "%s%s", FETCHED_DEVICES, x->s->device_id);
	if ((err = chs_git_ref(x->git, mine_ref, mine)) < 0 && err != CHS_ENOTFOUND)
		return err;
	has_mine = err == 0;
	if ((err = chs_git_ref(x->git, fetched, theirs)) == CHS_ENOTFOUND) {
		chs_error_clear();
		/* a ref deleted on the archive, with the mirror: the push
		 * republishes it; without the mirror, the store does */
		return has_mine ? 0 : republish(x);
	}
	if (err < 0)
		return err;
	chs_error_clear();
	if (has_mine && (strcmp(mine, theirs) == 0 ||
			 ((err = chs_git_is_ancestor(x->git, theirs, mine, &yes)) == 0 && yes)))
		return 0; /* the common case: the mirror is the archive's or ahead */
	if (err < 0)
		return err;
	/* behind the archive: walk from the mirror's tip; gone another way
	 * (a history committed to a lost mirror, or a forgery): from the root */
	if (has_mine && ((err = chs_git_is_ancestor(x->git, mine, theirs, &yes)) < 0))
		return err;
	return catch_up(x, mine_ref, fetched, has_mine && yes ? mine : NULL, theirs);
}
