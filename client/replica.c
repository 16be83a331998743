/*
 * What replication needs from the store: the state hash that proves two
 * stores converged, this store's sealed batches not yet sent, and applying
 * a batch made elsewhere (verify, then store and merge in one
 * transaction; a batch already held changes nothing).
 */
#include "client_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* verify                                                               */

/* Recompute one record from its changes and compare with its row. */
static int recheck(chs_store *s, const unsigned char rec[16],
		   const void *state, size_t len)
{
	chs_change **changes = NULL;
	chs_merged *m = NULL;
	size_t n = 0;
	int err;

	if ((err = chs_client__merge_record(s, rec, &m, &changes, &n)) < 0)
		return err;
	if (m->state_len != len || memcmp(m->state, state, len) != 0) {
		char hex[33];

		chs_hex(hex, rec, 16);
		err = chs_error_set(CHS_EDAMAGED,
				    "record %s does not match its history; the store '%s' is damaged",
				    hex, s->dir);
	}
	chs_merged_free(m);
	chs_client__changes_free(changes, n);
	return err;
}

int chs_store_verify(chs_store *s, int full, char hash_hex[65], int64_t *records)
{
	unsigned char h[CHS_HASH_BYTES];
	chs_hash_state hs;
	sqlite3_stmt *st = NULL;
	int err, rc;

	*records = 0;
	if ((err = chs_client__prepare(s, &st,
		     "SELECT id, hash, state FROM records ORDER BY id")) < 0)
		return err;
	chs_hash_init(&hs);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *state = sqlite3_column_blob(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2);

		chs_hash(h, state, len);
		if (sqlite3_column_bytes(st, 0) != 16 || sqlite3_column_bytes(st, 1) != 32 ||
		    memcmp(h, sqlite3_column_blob(st, 1), 32) != 0) {
			err = chs_error_set(CHS_EDAMAGED, "the store '%s' is damaged: a record's"
					    " hash does not match its state", s->dir);
			break;
		}
		if (full && (err = recheck(s, sqlite3_column_blob(st, 0), state, len)) < 0)
			break;
		chs_hash_update(&hs, sqlite3_column_blob(st, 0), 16);
		chs_hash_update(&hs, h, sizeof(h));
		(*records)++;
	}
	chs_client__finish(s, st);
	if (err < 0)
		return err;
	if (rc != SQLITE_DONE)
		return chs_client__sqlerr(s, rc, "verifying");
	chs_hash_final(&hs, h);
	chs_hex(hash_hex, h, sizeof(h));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Outgoing batches                                                     */

void chs_outgoing_free(chs_outgoing *list, size_t n)
{
	size_t i;

	for (i = 0; list && i < n; i++)
		free(list[i].bytes);
	free(list);
}

/* Rebuild a sealed batch from its row: the changes in manifest order. */
static int load_batch(chs_store *s, sqlite3_stmt *row, chs_batch **out)
{
	return chs_client__load_batch(s, sqlite3_column_blob(row, 1),
				      (size_t)sqlite3_column_bytes(row, 1),
				      sqlite3_column_blob(row, 2), out);
}

int chs_client__load_batch(chs_store *s, const void *manifest, size_t len,
			   const unsigned char sig[CHS_SIGNATURE_BYTES], chs_batch **out)
{
	unsigned char (*ids)[CHS_CHANGE_ID_BYTES] = NULL;
	chs_batch *b = NULL;
	size_t i, n = 0;
	int err;

	if ((err = chs_batch_from_manifest(&b, manifest, len, sig)) < 0 ||
	    (err = chs_batch_manifest_ids(b, &ids, &n)) < 0)
		goto done;
	if (!(b->changes = calloc(n + 1, sizeof(*b->changes)))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < n && err == 0; i++)
		if ((err = chs_client__load_change(s, ids[i], &b->changes[i])) == CHS_ENOTFOUND)
			err = chs_error_set(CHS_EDAMAGED, "a change of a stored batch is missing");
		else if (err == 0)
			b->nchanges++;
done:
	free(ids);
	if (err < 0)
		chs_batch_free(b);
	else
		*out = b;
	return err;
}

static int push_outgoing(chs_outgoing **list, size_t *n, size_t *cap,
			 const chs_batch *b)
{
	chs_buf enc;
	int err;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		chs_outgoing *g = realloc(*list, ncap * sizeof(*g));

		if (!g)
			return chs_error_set(CHS_ENOMEM, "out of memory");
		*list = g;
		*cap = ncap;
	}
	chs_buf_init(&enc, 0);
	if ((err = chs_batch_encode(b, &enc)) < 0)
		return err;
	memcpy((*list)[*n].id, b->id, 32);
	(*list)[*n].len = enc.len;
	(*list)[*n].bytes = chs_buf_detach(&enc);
	(*n)++;
	return 0;
}

int chs_store_unsent(chs_store *s, chs_outgoing **out, size_t *n)
{
	chs_outgoing *list = NULL;
	sqlite3_stmt *st = NULL;
	size_t cnt = 0, cap = 0;
	int err, rc;

	*out = NULL;
	*n = 0;
	if ((err = chs_client__prepare(s, &st,
		     "SELECT seq, manifest, signature FROM batches WHERE local AND NOT sent"
		     " ORDER BY seq")) < 0)
		return err;
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		chs_batch *b = NULL;

		if (sqlite3_column_bytes(st, 2) != CHS_SIGNATURE_BYTES) {
			err = chs_error_set(CHS_EDAMAGED, "a stored batch is damaged");
			break;
		}
		if ((err = load_batch(s, st, &b)) == 0)
			err = push_outgoing(&list, &cnt, &cap, b);
		chs_batch_free(b);
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_client__sqlerr(s, rc, "reading batches");
	chs_client__finish(s, st);
	if (err < 0) {
		chs_outgoing_free(list, cnt);
		return err;
	}
	*out = list;
	*n = cnt;
	return 0;
}

int chs_store_mark_sent(chs_store *s, const unsigned char id[32])
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_client__begin(s)) < 0)
		return err;
	if ((err = chs_client__prepare(s, &st,
		     "UPDATE batches SET sent = 1 WHERE id = ? AND local")) < 0) {
		chs_client__rollback(s);
		return err;
	}
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	chs_client__finish(s, st);
	if (rc != SQLITE_DONE) {
		err = chs_client__sqlerr(s, rc, "marking a batch sent");
		chs_client__rollback(s);
		return err;
	}
	return chs_client__commit(s);
}

/* ------------------------------------------------------------------ */
/* Incoming batches                                                     */

static int batch_held(chs_store *s, const unsigned char id[32], int *held)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_client__prepare(s, &st, "SELECT 1 FROM batches WHERE id = ?")) < 0)
		return err;
	sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
	rc = sqlite3_step(st);
	chs_client__finish(s, st);
	*held = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : chs_client__sqlerr(s, rc, "reading");
}

static int insert_remote_batch(chs_store *s, const chs_batch *b, int64_t *seq)
{
	int err = chs_client__get_int(s, "SELECT ifnull(max(seq), 0) + 1 FROM batches",
				      seq);

	return err < 0 ? err : chs_client__insert_batch(s, b, *seq, 0);
}

static int insert_change_row(chs_store *s, const chs_change *c, int64_t seq,
			     const void *body, size_t len)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_client__prepare(s, &st,
		     "INSERT OR IGNORE INTO changes(id, record, batch, body) VALUES (?, ?, ?, ?)")) < 0)
		return err;
	sqlite3_bind_blob(st, 1, c->id, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->record, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_blob(st, 4, body, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	chs_client__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_client__sqlerr(s, rc, "saving a change");
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

static int flag(chs_store *s, const chs_change *c, const char *field,
		const char *problem)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_client__prepare(s, &st,
		     "INSERT OR REPLACE INTO flags(change, record, field, problem)"
		     " VALUES (?, ?, ?, ?)")) < 0)
		return err;
	sqlite3_bind_blob(st, 1, c->id, 32, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, c->record, 16, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, problem, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	chs_client__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_client__sqlerr(s, rc, "flagging a change");
}

/* 1 when canonical JSON `v` is an integer: canonical JSON writes
 * integers in plain decimal and has no other numbers. */
static int json_integer_text(const char *v)
{
	if (*v == '-')
		v++;
	if (!*v)
		return 0;
	while (*v >= '0' && *v <= '9')
		v++;
	return *v == '\0';
}

/* 1 when canonical value `v` has the form field kind `f` wants. */
static int value_fits(const chs_field_def *f, const char *v)
{
	char *text;
	int ok;

	if (f->kind == CHS_KIND_IDS)
		return v[0] == '['; /* canonical JSON: an array starts so */
	if (chs_schema_kind_is_integer(f->kind))
		return json_integer_text(v);
	if (!(text = chs_client__json_string(v)))
		return 0;
	ok = chs_schema_check_form(f->kind, text);
	free(text);
	return ok;
}

/* Form checks on what arrived: never a refusal, only a flag. */
static int flag_change(chs_store *s, const chs_change *c)
{
	const chs_type_def *t = chs_schema_type(c->type ? c->type : "");
	size_t i;
	int err = 0;

	if (!t)
		return flag(s, c, "", "unknown record type");
	for (i = 0; i < c->nfields && err == 0; i++) {
		const chs_field_def *f = chs_schema_field(t, c->fields[i].name);
		const char *v = c->fields[i].value;

		if (!v || strcmp(c->fields[i].name, CHS_FIELD_PATIENT) == 0 ||
		    strcmp(c->fields[i].name, CHS_FIELD_ENCOUNTER) == 0)
			continue;
		if (!f)
			err = flag(s, c, c->fields[i].name, "unknown field");
		else if (!value_fits(f, v))
			err = flag(s, c, f->name, chs_schema_expected(f->kind));
	}
	return err;
}

/* Changes of one record in the batch (at most CHS_BATCH_MAX_CHANGES). */
typedef struct rec_group {
	const chs_change **changes;
	size_t n;
} rec_group;

static int cmp_by_record(const void *a, const void *b)
{
	const chs_change *x = *(const chs_change *const *)a;
	const chs_change *y = *(const chs_change *const *)b;
	int r = memcmp(x->record, y->record, 16);

	return r ? r : memcmp(x->id, y->id, 32);
}

/* 1 when the store holds no change of the group's record but the
 * group's own (so they are all of its history), and they are distinct. */
static int group_is_history(chs_store *s, const rec_group *g, int *yes)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int err, rc;

	*yes = 0;
	for (i = 1; i < g->n; i++)
		if (memcmp(g->changes[i - 1]->id, g->changes[i]->id, 32) == 0)
			return 0;
	if ((err = chs_client__prepare(s, &st,
		     "SELECT count(*) FROM changes WHERE record = ?")) < 0)
		return err;
	sqlite3_bind_blob(st, 1, g->changes[0]->record, 16, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*yes = sqlite3_column_int64(st, 0) == (int64_t)g->n;
	chs_client__finish(s, st);
	return rc == SQLITE_ROW ? 0 : chs_client__sqlerr(s, rc, "reading changes");
}

/* Recompute the record of a group of just-stored changes. When they are
 * its whole history (a record new to this store, the common case of a
 * first pull), merge them as they are in memory: the same set of
 * changes gives the same state whatever its source, and reading them
 * back would only decode the same bytes again. */
static int refresh_group(chs_store *s, const rec_group *g)
{
	int whole = 0, err;

	if ((err = group_is_history(s, g, &whole)) < 0)
		return err;
	if (!whole)
		return chs_client__refresh_record(s, g->changes[0]->record);
	return chs_client__save_merged(s, g->changes[0]->record, g->changes, g->n);
}

static int refresh_records(chs_store *s, const chs_batch *b)
{
	const chs_change **sorted = malloc((b->nchanges + 1) * sizeof(*sorted));
	size_t i, start;
	int err = 0;

	if (!sorted)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < b->nchanges; i++)
		sorted[i] = b->changes[i];
	qsort(sorted, b->nchanges, sizeof(*sorted), cmp_by_record);
	for (start = 0; start < b->nchanges && err == 0; start = i) {
		rec_group g;

		for (i = start + 1; i < b->nchanges &&
		     memcmp(sorted[i]->record, sorted[start]->record, 16) == 0; i++)
			;
		g.changes = sorted + start;
		g.n = i - start;
		err = refresh_group(s, &g);
	}
	free(sorted);
	return err;
}

static int apply_changes(chs_store *s, const chs_batch *b, int64_t seq)
{
	chs_hlc clock = s->clock;
	size_t i;
	int err = 0;

	for (i = 0; i < b->nchanges && err == 0; i++) {
		const chs_change *c = b->changes[i];

		clock = chs_hlc_observe(clock, c->hlc, chs_hlc_wall_ms());
		if ((err = insert_remote_change(s, c, seq)) == 0)
			err = flag_change(s, c);
	}
	if (err == 0)
		err = refresh_records(s, b);
	if (err == 0)
		err = chs_client__clock_save(s, clock);
	return err;
}

int chs_client__apply_verified(chs_store *s, const chs_batch *b, int *applied)
{
	int64_t seq = 0;
	int held = 0, err;

	*applied = 0;
	if ((err = batch_held(s, b->id, &held)) < 0 || held)
		return err;
	/* access events are append-only: a batch that edits one is refused */
	if ((err = chs_client__audit_admit(s, b)) < 0)
		return err;
	if ((err = insert_remote_batch(s, b, &seq)) < 0 || (err = apply_changes(s, b, seq)) < 0)
		return err;
	*applied = 1;
	return 0;
}

int chs_store_apply_batch(chs_store *s, const void *bytes, size_t len)
{
	chs_batch *b = NULL;
	int applied, err;

	if ((err = chs_batch_decode(&b, bytes, len)) < 0 || (err = chs_batch_verify(b)) < 0) {
		chs_batch_free(b);
		return chs_error_wrap(err == CHS_ENOMEM ? err : CHS_EDAMAGED,
				      "a batch does not verify");
	}
	if ((err = chs_client__begin(s)) < 0)
		goto done;
	if ((err = chs_client__apply_verified(s, b, &applied)) < 0)
		chs_client__rollback(s);
	else
		err = chs_client__commit(s);
done:
	chs_batch_free(b);
	return err;
}
