/*
 * Applying a batch made elsewhere: verify, then store its changes and
 * merge its records in the caller's transaction; a batch already held
 * changes nothing.
 *
 * The work falls in two halves. A plan is what can be worked out of the
 * batch alone: its changes grouped by record, and each record's state as
 * if the batch held all of its history. The plan asks nothing of the store, so a sync's reader thread
 * makes it while the batch before is written. Applying then asks the
 * store once per change whether it knew the record, writes the rows, and
 * uses a planned state wherever the batch does hold the record's whole
 * history: that is every record new to the store, nearly all of a first
 * pull. Any other record is merged again from what the store holds.
 */
#include "records_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The plan                                                             */

typedef struct plan_entry {
	const chs_change *c;
	size_t index; /* in the batch */
} plan_entry;

/* A record's changes in the batch: entries [start, start + n). */
typedef struct plan_group {
	size_t start, n;
	int distinct;  /* no change twice */
	chs_merged *m; /* their state; NULL when not distinct */
} plan_group;

struct chs_batch_plan {
	plan_entry *entries; /* by record, then change id */
	plan_group *groups;
	size_t ngroups;
};

static int cmp_by_record(const void *a, const void *b)
{
	const chs_change *x = ((const plan_entry *)a)->c;
	const chs_change *y = ((const plan_entry *)b)->c;
	int r = memcmp(x->record, y->record, 16);

	return r ? r : memcmp(x->id, y->id, 32);
}

/* The state of a group's changes, if they were all of the record's
 * history (merged only when distinct: a repeated change is a batch the
 * store will refuse, or merge from its own rows). */
static int plan_state(chs_batch_plan *p, plan_group *g)
{
	const chs_change **list;
	size_t i;
	int err;

	g->distinct = 1;
	for (i = 1; i < g->n; i++)
		if (memcmp(p->entries[g->start + i - 1].c->id, p->entries[g->start + i].c->id,
			   32) == 0)
			g->distinct = 0;
	if (!g->distinct)
		return 0;
	if (!(list = chs_malloc(g->n * sizeof(*list))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < g->n; i++)
		list[i] = p->entries[g->start + i].c;
	err = chs_merge(&g->m, list, g->n, chs_schema_group, NULL);
	free(list);
	return err;
}

static int group_records(chs_batch_plan *p, const chs_batch *b)
{
	size_t i, start;

	for (i = 0; i < b->nchanges; i++) {
		p->entries[i].c = b->changes[i];
		p->entries[i].index = i;
	}
	qsort(p->entries, b->nchanges, sizeof(*p->entries), cmp_by_record);
	for (start = 0; start < b->nchanges; start = i) {
		for (i = start + 1; i < b->nchanges &&
		     memcmp(p->entries[i].c->record, p->entries[start].c->record, 16) == 0; i++)
			;
		p->groups[p->ngroups].start = start;
		p->groups[p->ngroups].n = i - start;
		p->ngroups++;
	}
	return 0;
}

int chs_records__plan_batch(const chs_batch *b, chs_batch_plan **out)
{
	chs_batch_plan *p = chs_calloc(1, sizeof(*p));
	size_t i;
	int err = 0;

	*out = NULL;
	if (!p || !(p->entries = chs_malloc((b->nchanges + 1) * sizeof(*p->entries))) ||
	    !(p->groups = chs_calloc(b->nchanges + 1, sizeof(*p->groups)))) {
		chs_records__plan_free(p);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	group_records(p, b);
	for (i = 0; i < p->ngroups && err == 0; i++)
		err = plan_state(p, &p->groups[i]);
	if (err < 0) {
		chs_records__plan_free(p);
		return err;
	}
	*out = p;
	return 0;
}

void chs_records__plan_free(chs_batch_plan *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->ngroups; i++)
		chs_merged_free(p->groups[i].m);
	free(p->entries);
	free(p->groups);
	free(p);
}

/* ------------------------------------------------------------------ */
/* Writing it                                                           */

static int batch_held(chs_store *s, const unsigned char id[32], int *held)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "SELECT 1 FROM batches WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, id, 32)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	*held = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "reading");
}

/* A batch of this store's own device that comes back from the archive
 * (a store restored from a backup) is its own and sent: `local`, so a
 * later republish of its history sends it too. */
static int mark_own(chs_store *s, const chs_batch *b, int64_t seq)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if (strcmp(b->device, s->device_id) != 0)
		return 0;
	if ((err = chs_store__prepare(s, &st, "UPDATE batches SET local = 1 WHERE seq = ?")) < 0)
		return err;
	if ((err = chs_store__bind_int64(s, st, 1, seq)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving a batch");
}

static int insert_remote_batch(chs_store *s, const chs_batch *b, int64_t *seq)
{
	int err = chs_store__get_int(s, "SELECT ifnull(max(seq), 0) + 1 FROM batches",
				     seq);

	if (err == 0)
		err = chs_records__insert_batch(s, b, *seq, 0);
	return err < 0 ? err : mark_own(s, b, *seq);
}

static int insert_change_row(chs_store *s, const chs_change *c, int64_t seq,
			     const void *body, size_t len)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "INSERT OR IGNORE INTO changes(id, record, batch, body) VALUES (?, ?, ?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, c->id, 32)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, c->record, 16)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 3, seq)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 4, body, len)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving a change");
}

/* The stored bytes must be exactly those whose hash is the id. A change
 * unpacked from a batch kept the bytes it was decoded from (its id is
 * their hash); any other is encoded again and checked. */
static int insert_remote_change(chs_store *s, const chs_change *c, int64_t seq)
{
	chs_buf body;
	chs_change *copy = NULL;
	int err;

	if (c->encoding)
		return insert_change_row(s, c, seq, c->encoding, c->encoding_len);
	chs_buf_init(&body, 0);
	if ((err = chs_change_dup(&copy, c)) < 0 ||
	    (err = chs_change_encode(copy, &body)) < 0)
		goto done;
	if (memcmp(copy->id, c->id, 32) != 0)
		err = chs_error_set(CHS_EDAMAGED, "a received change does not match its id");
	else
		err = insert_change_row(s, c, seq, body.ptr, body.len);
done:
	chs_change_free(copy);
	chs_buf_dispose(&body);
	return err;
}

/* Recompute each record the batch touched. A group that is the record's
 * whole history (the store knew none of its changes before) takes its
 * planned state: the same set of changes gives the same state whatever
 * its source, and reading them back would only decode the same bytes
 * again. `known[i]`: the store held a change of change i's record. */
static int refresh_records(chs_store *s, const chs_batch_plan *p, const unsigned char *known)
{
	size_t i;
	int err = 0;

	for (i = 0; i < p->ngroups && err == 0; i++) {
		const plan_group *g = &p->groups[i];
		const plan_entry *e = &p->entries[g->start];

		if (g->m && !known[e->index])
			err = chs_records__save_state(s, e->c->record, g->m);
		else
			err = chs_records__refresh_record(s, e->c->record);
	}
	return err;
}

static int apply_changes(chs_store *s, const chs_batch *b, const chs_batch_plan *p,
			 const unsigned char *known, int64_t seq)
{
	chs_hlc clock = s->clock;
	size_t i;
	int err = 0;

	for (i = 0; i < b->nchanges && err == 0; i++) {
		const chs_change *c = b->changes[i];

		clock = chs_hlc_observe(clock, c->hlc, chs_hlc_wall_ms());
		err = insert_remote_change(s, c, seq);
	}
	if (err == 0)
		err = refresh_records(s, p, known);
	if (err == 0)
		err = chs_records__clock_save(s, clock);
	return err;
}

/* first_of[i]: the index of the first change in the batch of change i's
 * record, from the plan's groups (whose entries are in id order). */
static void first_changes(const chs_batch_plan *p, size_t *first_of)
{
	size_t i, k;

	for (i = 0; i < p->ngroups; i++) {
		const plan_group *g = &p->groups[i];
		size_t first = p->entries[g->start].index;

		for (k = 1; k < g->n; k++)
			if (p->entries[g->start + k].index < first)
				first = p->entries[g->start + k].index;
		for (k = 0; k < g->n; k++)
			first_of[p->entries[g->start + k].index] = first;
	}
}

int chs_records__apply_verified(chs_store *s, const chs_batch *b, const chs_batch_plan *plan,
				int *applied)
{
	chs_batch_plan *own = NULL;
	unsigned char *known = NULL;
	size_t *first_of = NULL;
	int64_t seq = 0;
	int held = 0, err;

	*applied = 0;
	if ((err = batch_held(s, b->id, &held)) < 0 || held)
		return err;
	if (!plan && (err = chs_records__plan_batch(b, &own)) < 0)
		return err;
	if (!plan)
		plan = own;
	if (!(known = chs_calloc(b->nchanges + 1, 1)) ||
	    !(first_of = chs_malloc((b->nchanges + 1) * sizeof(*first_of)))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	first_changes(plan, first_of);
	/* access events are append-only: a batch that edits one is refused */
	if ((err = chs_records__audit_admit(s, b, first_of, known)) < 0 ||
	    (err = insert_remote_batch(s, b, &seq)) < 0 ||
	    (err = apply_changes(s, b, plan, known, seq)) < 0)
		goto done;
	*applied = 1;
done:
	free(first_of);
	free(known);
	chs_records__plan_free(own);
	return err;
}

int chs_store_apply_batch(chs_store *s, const void *bytes, size_t len)
{
	chs_batch *b = NULL;
	int applied, err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(bytes || len == 0);

	if ((err = chs_batch_decode(&b, bytes, len)) < 0 || (err = chs_batch_verify(b)) < 0) {
		chs_batch_free(b);
		return chs_error_wrap(err == CHS_ENOMEM ? err : CHS_EDAMAGED,
				      "a batch does not verify");
	}
	if ((err = chs_store__begin(s)) < 0)
		goto done;
	if ((err = chs_records__apply_verified(s, b, NULL, &applied)) < 0)
		chs_store__rollback(s);
	else
		err = chs_store__commit(s);
done:
	chs_batch_free(b);
	return err;
}

/* ------------------------------------------------------------------ */
/* How far each device's chain of batches is applied                   */

int chs_records__progress_load(chs_store *s, const char *device, chs_chain *chain)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	memset(chain, 0, sizeof(*chain));
	if ((err = chs_store__prepare(s, &st,
		     "SELECT seq, prev, oid FROM progress WHERE device = ?")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, device)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 1) != CHS_HASH_BYTES ||
		    sqlite3_column_bytes(st, 2) != 40)
			err = chs_error_set(CHS_EDAMAGED, "the store's sync progress is damaged");
		else {
			chain->seq = (uint64_t)sqlite3_column_int64(st, 0);
			memcpy(chain->prev, sqlite3_column_blob(st, 1), CHS_HASH_BYTES);
			memcpy(chain->oid, sqlite3_column_text(st, 2), 41);
		}
	}
	chs_store__finish(s, st);
	if (err == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading sync progress");
	return err;
}

int chs_records__progress_save(chs_store *s, const char *device, const chs_chain *chain)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "INSERT OR REPLACE INTO progress(device, seq, prev, oid) VALUES (?, ?, ?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, device)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 2, (int64_t)chain->seq)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 3, chain->prev, CHS_HASH_BYTES)) < 0 ||
	    (err = chs_store__bind_text(s, st, 4, chain->oid)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving sync progress");
}

int chs_records__progress_seq(chs_store *s, const char *device, int64_t *seq)
{
	chs_chain chain;
	int err = chs_records__progress_load(s, device, &chain);

	*seq = err == 0 ? (int64_t)chain.seq : 0;
	return err;
}
