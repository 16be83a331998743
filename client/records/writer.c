/*
 * Local saves: every command that writes records goes through a writer.
 *
 * A save is one write transaction. Each change is stamped (hybrid logical
 * clock, device, the user who opened the store, the terminal; parents =
 * the record's heads as the author saw them), stored exactly as encoded,
 * and its record is recomputed from all of its changes by the merge rule
 * (sync/merge.c). The changes are grouped into batches of at most
 * CHS_BATCH_MAX_CHANGES, each signed by the device over its manifest, and
 * the batches are kept as sealed so replication can ship them unchanged.
 * Nothing is visible to other connections until the commit.
 */
#include "records_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Reading and merging a record's changes                               */

void chs_records__changes_free(chs_change **list, size_t n)
{
	size_t i;

	for (i = 0; list && i < n; i++)
		chs_change_free(list[i]);
	free(list);
}

static int push_change(chs_change ***list, size_t *n, size_t *cap,
		       chs_change *c)
{
	int err = CHS_ARRAY_GROW(*list, *cap, *n + 1);

	if (err < 0)
		return err;
	(*list)[(*n)++] = c;
	return 0;
}

int chs_records__load_change(chs_store *s, const unsigned char id[32], chs_change **out)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*out = NULL;
	if ((err = chs_store__prepare(s, &st, "SELECT body FROM changes WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, id, 32)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* out of memory says nothing about the store */
		if ((err = chs_change_decode(out, sqlite3_column_blob(st, 0),
					     (size_t)sqlite3_column_bytes(st, 0))) < 0 &&
		    err != CHS_ENOMEM)
			err = chs_error_set(CHS_EDAMAGED,
					    "the store '%s' is damaged: a stored change does not decode",
					    chs_store_path(s));
	} else {
		err = rc == SQLITE_DONE ? chs_error_set(CHS_ENOTFOUND, "no such change")
					: chs_store__sqlerr(s, rc, "reading a change");
	}
done:
	chs_store__finish(s, st);
	return err;
}

int chs_records__load_changes(chs_store *s, const unsigned char rec[16],
			      chs_change ***out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	chs_change **list = NULL, *c;
	size_t cnt = 0, cap = 0;
	int rc, err;

	*out = NULL;
	*n = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT body FROM changes WHERE record = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, rec, 16)) < 0)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = chs_change_decode(&c, sqlite3_column_blob(st, 0),
					     (size_t)sqlite3_column_bytes(st, 0))) < 0) {
			if (err != CHS_ENOMEM)
				err = chs_error_set(CHS_EDAMAGED,
						    "the store '%s' is damaged: a stored change does not decode",
						    s->dir);
			goto fail;
		}
		if ((err = push_change(&list, &cnt, &cap, c)) < 0) {
			chs_change_free(c);
			goto fail;
		}
	}
	if (rc != SQLITE_DONE) {
		err = chs_store__sqlerr(s, rc, "reading changes");
		goto fail;
	}
	chs_store__finish(s, st);
	*out = list;
	*n = cnt;
	return 0;
fail:
	chs_store__finish(s, st);
	chs_records__changes_free(list, cnt);
	return err;
}

int chs_records__merge_record(chs_store *s, const unsigned char rec[16],
			      chs_merged **out, chs_change ***changes,
			      size_t *n)
{
	int err;

	*out = NULL;
	if ((err = chs_records__load_changes(s, rec, changes, n)) < 0)
		return err;
	if (*n == 0)
		return chs_error_set(CHS_ENOTFOUND, "no such record");
	err = chs_merge(out, (const chs_change *const *)*changes, *n,
			chs_schema_group, NULL);
	if (err < 0) {
		chs_records__changes_free(*changes, *n);
		*changes = NULL;
		*n = 0;
	}
	return err;
}

/* The record id held by a link field's value, as 16 bytes. */
static int link_of(const chs_merged *m, const char *name, unsigned char out[16])
{
	const chs_merged_field *f = chs_merged_get(m, name);
	char *hex;
	int ok;

	if (!f || !(hex = chs_util__json_string(f->value)))
		return 0;
	ok = chs_util__parse_id(out, hex) == 0;
	free(hex);
	return ok;
}

static int bind_heads(chs_store *s, sqlite3_stmt *st, int col, const chs_merged *m)
{
	unsigned char *heads = chs_malloc(m->nheads * CHS_CHANGE_ID_BYTES + 1);
	size_t i;

	if (!heads)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < m->nheads; i++)
		memcpy(heads + i * CHS_CHANGE_ID_BYTES, m->heads[i]->id,
		       CHS_CHANGE_ID_BYTES);
	/* SQLite frees `heads`, also when the bind fails */
	return chs_store__bound(s, sqlite3_bind_blob64(st, col, heads,
					   (sqlite3_uint64)m->nheads * CHS_CHANGE_ID_BYTES,
					   free));
}

static int bind_mrn(chs_store *s, sqlite3_stmt *st, int col, const chs_merged *m)
{
	const chs_merged_field *f;
	char *mrn;

	if (m->deleted || strcmp(m->type, "patient") != 0 ||
	    !(f = chs_merged_get(m, "mrn")) || !(mrn = chs_util__json_string(f->value)))
		return 0;
	/* SQLite frees `mrn`, also when the bind fails */
	return chs_store__bound(s, sqlite3_bind_text(st, col, mrn, -1, free));
}

/* A record's row, inserted or replacing the one there. */
static const char upsert_sql[] =
	"INSERT INTO records(id, type, patient, encounter, deleted, review,"
	" heads, state, hash, mrn, merged_into)"
	" VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
	" ON CONFLICT(id) DO UPDATE SET type=?2, patient=?3, encounter=?4,"
	" deleted=?5, review=?6, heads=?7, state=?8, hash=?9, mrn=?10,"
	" merged_into=?11";

/* The same row when its type, links, chart number and merge pointer stay
 * as they were, which nearly every edit leaves them: SQLite rewrites the
 * entry of every index whose column an UPDATE sets, whether the value
 * changed or not, and the upsert sets them all (eleven index entries for
 * an edit of a visit, two here). No row changed: the upsert then. */
static const char unindexed_sql[] =
	"UPDATE records SET deleted = ?5, review = ?6, heads = ?7, state = ?8, hash = ?9"
	" WHERE id = ?1 AND type = ?2 AND patient IS ?3 AND encounter IS ?4"
	" AND mrn IS ?10 AND merged_into IS ?11";

/* Run `sql` (one of the two above) for a record's merged state; *changed
 * says whether a row changed. */
static int write_record(chs_store *s, const char *sql, const unsigned char rec[16],
			const chs_merged *m, int *changed)
{
	unsigned char patient[16], encounter[16], merged_into[16];
	sqlite3_stmt *st = NULL;
	int err, rc;

	*changed = 0;
	if ((err = chs_store__prepare(s, &st, sql)) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, rec, 16)) < 0 ||
	    (err = chs_store__bind_text(s, st, 2, m->type)) < 0 ||
	    (link_of(m, CHS_FIELD_PATIENT, patient) &&
	     (err = chs_store__bind_blob(s, st, 3, patient, 16)) < 0) ||
	    (link_of(m, CHS_FIELD_ENCOUNTER, encounter) &&
	     (err = chs_store__bind_blob(s, st, 4, encounter, 16)) < 0) ||
	    (err = chs_store__bind_int64(s, st, 5, m->deleted)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 6, m->review)) < 0 ||
	    (err = bind_heads(s, st, 7, m)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 8, m->state, m->state_len)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 9, m->hash, CHS_HASH_BYTES)) < 0 ||
	    (err = bind_mrn(s, st, 10, m)) < 0 ||
	    (!m->deleted && strcmp(m->type, "patient") == 0 &&
	     link_of(m, CHS_FIELD_MERGED_INTO, merged_into) &&
	     (err = chs_store__bind_blob(s, st, 11, merged_into, 16)) < 0))
		goto done;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "saving a record");
	else
		*changed = sqlite3_changes(s->db) > 0;
done:
	chs_store__finish(s, st);
	return err;
}

/* Save the state of a record the store may not hold yet. */
static int save_record(chs_store *s, const unsigned char rec[16], const chs_merged *m)
{
	int changed;

	return write_record(s, upsert_sql, rec, m, &changed);
}

/* Save the state of a record the store holds changes of (an edit). */
static int resave_record(chs_store *s, const unsigned char rec[16], const chs_merged *m)
{
	int changed = 0, err = write_record(s, unindexed_sql, rec, m, &changed);

	if (err == 0 && !changed)
		err = write_record(s, upsert_sql, rec, m, &changed);
	return err;
}

int chs_records__save_state(chs_store *s, const unsigned char rec[16], const chs_merged *m)
{
	/* Every change still waits for a parent: the record has no state. */
	return m->norder > 0 ? save_record(s, rec, m) : 0;
}

/* Merge `n` changes that are all of a record's history and save its row. */
static int save_merged(chs_store *s, const unsigned char rec[16],
		       const chs_change *const *changes, size_t n)
{
	chs_merged *m = NULL;
	int err;

	if ((err = chs_merge(&m, changes, n, chs_schema_group, NULL)) < 0)
		return err;
	err = chs_records__save_state(s, rec, m);
	chs_merged_free(m);
	return err;
}

int chs_records__refresh_record(chs_store *s, const unsigned char rec[16])
{
	chs_change **changes = NULL;
	chs_merged *m = NULL;
	size_t n = 0;
	int err;

	if ((err = chs_records__merge_record(s, rec, &m, &changes, &n)) < 0)
		return err;
	/* every change still waits for a parent: the record has no state */
	err = m->norder > 0 ? resave_record(s, rec, m) : 0;
	chs_merged_free(m);
	chs_records__changes_free(changes, n);
	return err;
}

/* ------------------------------------------------------------------ */
/* The writer                                                           */

static int load_clock(chs_writer *w)
{
	int64_t v = 0;
	int err = chs_store__get_int(w->s,
		"SELECT value FROM meta WHERE key = 'hlc'", &v);

	w->clock = (chs_hlc)v;
	if (w->s->clock > w->clock)
		w->clock = w->s->clock;
	return err;
}

static int next_batch_seq(chs_writer *w)
{
	return chs_store__get_int(w->s,
		"SELECT ifnull(max(seq), 0) + 1 FROM batches", &w->next_seq);
}

int chs_records__writer_begin(chs_writer *w, chs_store *s)
{
	int err;

	memset(w, 0, sizeof(*w));
	w->s = s;
	if ((err = chs_config_get(s, "terminal.name", &w->terminal)) < 0)
		return err;
	if ((err = chs_store__begin(s)) < 0) {
		free(w->terminal);
		w->terminal = NULL;
		return err;
	}
	if ((err = load_clock(w)) < 0 || (err = next_batch_seq(w)) < 0 ||
	    (err = chs_store__role(s, &w->role)) < 0) {
		chs_records__writer_abort(w);
		return err;
	}
	return 0;
}

static int stamp(chs_writer *w, chs_change *c)
{
	free(c->user);
	free(c->terminal);
	c->user = chs_util__strdup(w->s->user);
	c->terminal = chs_util__strdup(w->terminal);
	if (!c->user || !c->terminal)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	memcpy(c->device, w->s->device_id, sizeof(c->device));
	w->clock = chs_hlc_next(w->clock, chs_hlc_wall_ms());
	c->hlc = w->clock;
	return 0;
}

/* Parents: the heads the author saw, which are the record's heads now;
 * or those the caller gave (chs_records__writer_put_whole()). */
static int set_parents(chs_writer *w, chs_change *c)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if (c->op == CHS_OP_CREATE || c->nparents)
		return 0;
	if ((err = chs_store__prepare(w->s, &st,
		     "SELECT heads FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(w->s, st, 1, c->record, 16)) < 0)
		goto done;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *h = sqlite3_column_blob(st, 0);
		size_t i, n = (size_t)sqlite3_column_bytes(st, 0) / CHS_CHANGE_ID_BYTES;

		for (i = 0; i < n && err == 0; i++)
			err = chs_change_add_parent(c, h + i * CHS_CHANGE_ID_BYTES);
	} else {
		err = rc == SQLITE_DONE ? chs_error_set(CHS_ENOTFOUND, "no such record")
					: chs_store__sqlerr(w->s, rc, "reading a record");
	}
done:
	chs_store__finish(w->s, st);
	return err;
}

static int insert_change(chs_writer *w, const chs_change *c, int64_t seq,
			 const unsigned char *body, size_t len)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(w->s, &st,
		     "INSERT INTO changes(id, record, batch, body) VALUES (?, ?, ?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(w->s, st, 1, c->id, CHS_CHANGE_ID_BYTES)) < 0 ||
	    (err = chs_store__bind_blob(w->s, st, 2, c->record, 16)) < 0 ||
	    (err = chs_store__bind_int64(w->s, st, 3, seq)) < 0 ||
	    (err = chs_store__bind_blob(w->s, st, 4, body, len)) < 0) {
		chs_store__finish(w->s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(w->s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(w->s, rc, "saving a change");
}

/* A brand-new record has one change: merge it without reading back. */
static int update_record(chs_writer *w, chs_change *c)
{
	const chs_change *one[1] = { c };

	if (c->op != CHS_OP_CREATE)
		return chs_records__refresh_record(w->s, c->record);
	return save_merged(w->s, c->record, one, 1);
}

/* The previous batch of this device: its dseq and id. */
static int last_local_batch(chs_writer *w, uint64_t *dseq, unsigned char prev[32],
			    int *has_prev)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*has_prev = 0;
	*dseq = 0;
	if ((err = chs_store__prepare(w->s, &st,
		     "SELECT dseq, id FROM batches WHERE device = ?"
		     " ORDER BY dseq DESC LIMIT 1")) < 0)
		return err;
	if ((err = chs_store__bind_text(w->s, st, 1, w->s->device_id)) < 0)
		goto done;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
		*dseq = (uint64_t)sqlite3_column_int64(st, 0);
		memcpy(prev, sqlite3_column_blob(st, 1), 32);
		*has_prev = 1;
	} else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		err = chs_store__sqlerr(w->s, rc, "reading batches");
	}
done:
	chs_store__finish(w->s, st);
	return err;
}

int chs_records__insert_batch(chs_store *s, const chs_batch *b, int64_t seq,
			      int local)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	/* a received batch counts as sent: it is the archive's already */
	if ((err = chs_store__prepare(s, &st,
		     "INSERT INTO batches(seq, id, device, dseq, manifest, signature, key,"
		     " local, sent, received) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9,"
		     " NOT ?9, ?8)")) < 0)
		return err;
	if ((err = chs_store__bind_int64(s, st, 1, seq)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, b->id, 32)) < 0 ||
	    (err = chs_store__bind_text(s, st, 3, b->device)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 4, (int64_t)b->seq)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 5, b->manifest, b->manifest_len)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 6, b->signature, CHS_SIGNATURE_BYTES)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 7, b->key, CHS_SIGN_PK_BYTES)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 8, chs_util__now())) < 0 ||
	    (err = chs_store__bind_int64(s, st, 9, local ? 1 : 0)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving a batch");
}

/* Seal the changes collected so far into `*b`, the next of this
 * device's chain, for local seq `*seq`: the batch owns the changes now. */
static int seal_batch(chs_writer *w, chs_batch **b, int64_t *seq)
{
	unsigned char prev[32];
	uint64_t dseq;
	int has_prev, err;

	*b = NULL;
	if (w->chained) {
		dseq = w->dseq;
		has_prev = w->has_prev;
		memcpy(prev, w->prev, sizeof(prev));
	} else if ((err = last_local_batch(w, &dseq, prev, &has_prev)) < 0) {
		return err;
	}
	if ((err = chs_batch_seal(b, w->s->identity, dseq + 1,
				  has_prev ? prev : NULL, w->batch, w->n)) < 0)
		return err;
	if (w->chained) {
		w->dseq = dseq + 1;
		w->has_prev = 1;
		memcpy(w->prev, (*b)->id, sizeof(w->prev));
	}
	w->batch = NULL;
	w->n = w->cap = 0;
	*seq = w->next_seq++;
	return 0;
}

static int seal(chs_writer *w)
{
	chs_batch *b = NULL;
	int64_t seq;
	int err;

	if (w->n == 0)
		return 0;
	if ((err = seal_batch(w, &b, &seq)) < 0)
		return err;
	err = chs_records__insert_batch(w->s, b, seq, 1);
	chs_batch_free(b);
	return err;
}

int chs_records__writer_chain(chs_writer *w)
{
	int err = last_local_batch(w, &w->dseq, w->prev, &w->has_prev);

	if (err == 0)
		w->chained = 1;
	return err;
}

int chs_records__writer_seal_apart(chs_writer *w, chs_batch **b, int64_t *seq)
{
	*b = NULL;
	if (!w->chained)
		return chs_error_set(CHS_EINVALID, "a batch sealed apart needs the chain first");
	return w->n == 0 ? 0 : seal_batch(w, b, seq);
}

int chs_records__writer_put_sealed(chs_writer *w, const chs_batch *b, int64_t seq)
{
	return chs_records__insert_batch(w->s, b, seq, 1);
}

/* A service user writes two things only: the attachment of a scan it
 * takes in, and the archive events its sync records (replicate/tamper.c),
 * both new records. Whatever else (an access event, an edit, a
 * confirmation, a code) would be the service changing a chart. */
static int service_may_write(chs_writer *w, const chs_change *c)
{
	const char *type = c->type ? c->type : "";

	if (!chs_store_user_is_service(w->s) || w->sync_own)
		return 0;
	if (c->op == CHS_OP_CREATE &&
	    (strcmp(type, "attachment") == 0 || strcmp(type, CHS_ARCHIVE_EVENT_TYPE) == 0))
		return 0;
	return chs_store__refuse_service(w->s);
}

/* A billing office holds no clinical key: what it wrote there could
 * never be sent, and would hold back everything saved after it. */
static int may_write(chs_writer *w, const chs_change *c)
{
	const chs_type_def *t = chs_schema_type(c->type ? c->type : "");
	int err;

	if ((err = service_may_write(w, c)) < 0)
		return err;
	if (w->role && t && t->compartment == CHS_CLINICAL &&
	    !chs_role_reads((chs_role)w->role, CHS_COMPARTMENT_CLINICAL))
		return chs_error_set(CHS_EDENIED,
				     "this store is a billing office's: it keeps billing records"
				     " only, not %s records", t->name);
	return 0;
}

int chs_records__writer_put_whole(chs_writer *w, chs_change *c)
{
	chs_buf body;
	int err;

	chs_buf_init(&body, 0);
	if ((err = may_write(w, c)) < 0 || (err = stamp(w, c)) < 0 ||
	    (err = set_parents(w, c)) < 0 ||
	    (err = chs_change_encode(c, &body)) < 0 ||
	    (err = insert_change(w, c, w->next_seq, (const unsigned char *)body.ptr,
				 body.len)) < 0 ||
	    (err = update_record(w, c)) < 0)
		goto fail;
	/* sealing hashes these bytes instead of encoding the change again */
	c->encoding_len = body.len;
	if (!(c->encoding = (unsigned char *)chs_buf_detach(&body)))
		c->encoding_len = 0;
	if ((err = push_change(&w->batch, &w->n, &w->cap, c)) < 0) {
		chs_change_free(c);
		return err;
	}
	w->changes++;
	if (w->n >= CHS_BATCH_MAX_CHANGES)
		return seal(w);
	return 0;
fail:
	chs_buf_dispose(&body);
	chs_change_free(c);
	return err;
}

int chs_records__writer_prepare(chs_writer *w, chs_change *c, int64_t *seq,
				chs_merged **m)
{
	const chs_change *one[1] = { c };
	const chs_type_def *t = chs_schema_type(c->type ? c->type : "");
	chs_buf body;
	int err;

	*m = NULL;
	chs_buf_init(&body, 0);
	if (c->op != CHS_OP_CREATE || c->nparents || chs_schema_companion(t)) {
		err = chs_error_set(CHS_EINVALID, "only a new record without a companion is"
				    " prepared apart");
		goto fail;
	}
	/* what chs_records__writer_put() does for such a change, but the
	 * rows: service_may_write() is may_write()'s first step */
	if ((err = may_write(w, c)) < 0 || (err = stamp(w, c)) < 0 ||
	    (err = chs_change_encode(c, &body)) < 0)
		goto fail;
	c->encoding_len = body.len;
	if (!(c->encoding = (unsigned char *)chs_buf_detach(&body))) {
		c->encoding_len = 0;
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = chs_merge(m, one, 1, chs_schema_group, NULL)) < 0)
		goto fail;
	if ((err = push_change(&w->batch, &w->n, &w->cap, c)) < 0) {
		chs_merged_free(*m);
		*m = NULL;
		goto fail;
	}
	*seq = w->next_seq;
	w->changes++;
	return 0;
fail:
	chs_buf_dispose(&body);
	chs_change_free(c);
	return err;
}

int chs_records__writer_put_prepared(chs_writer *w, const chs_change *c, int64_t seq,
				     const chs_merged *m)
{
	int err;

	if ((err = insert_change(w, c, seq, c->encoding, c->encoding_len)) < 0)
		return err;
	return chs_records__save_state(w->s, c->record, m);
}

/* A billing record's clinical fields go to its companion (companion.c),
 * in this same save. */
int chs_records__writer_put(chs_writer *w, chs_change *c)
{
	chs_change *k = NULL;
	int empty = 0, err;

	/* before the split, which could refuse for another reason first */
	if ((err = service_may_write(w, c)) < 0 ||
	    (err = chs_records__companion_split(w->s, w->role, c, &k, &empty)) < 0) {
		chs_change_free(c);
		return err;
	}
	if (empty)
		chs_change_free(c);
	else if ((err = chs_records__writer_put_whole(w, c)) < 0) {
		chs_change_free(k);
		return err;
	}
	return k ? chs_records__writer_put_whole(w, k) : 0;
}

int chs_records__clock_save(chs_store *s, chs_hlc clock)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "INSERT INTO meta(key, value) VALUES ('hlc', ?1) ON CONFLICT(key)"
		     " DO UPDATE SET value = max(value, ?1)")) < 0)
		return err;
	if ((err = chs_store__bind_int64(s, st, 1, (int64_t)clock)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE)
		return chs_store__sqlerr(s, rc, "saving the clock");
	if (clock > s->clock)
		s->clock = clock;
	return 0;
}

static int save_clock(chs_writer *w)
{
	return chs_records__clock_save(w->s, w->clock);
}

int chs_records__writer_commit(chs_writer *w)
{
	int err;

	if ((err = seal(w)) < 0 || (err = save_clock(w)) < 0) {
		chs_records__writer_abort(w);
		return err;
	}
	err = chs_store__commit(w->s);
	free(w->terminal);
	w->terminal = NULL;
	return err;
}

void chs_records__writer_abort(chs_writer *w)
{
	chs_store__rollback(w->s);
	chs_records__changes_free(w->batch, w->n);
	w->batch = NULL;
	w->n = w->cap = 0;
	free(w->terminal);
	w->terminal = NULL;
}
