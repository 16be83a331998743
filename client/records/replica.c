/*
 * What replication needs from the store: the state hash that proves two
 * stores converged, and this store's sealed batches not yet sent.
 * Applying a batch made elsewhere is apply.c.
 */
#include "records_int.h"

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

	if ((err = chs_records__merge_record(s, rec, &m, &changes, &n)) < 0)
		return err;
	if (m->state_len != len || memcmp(m->state, state, len) != 0) {
		char hex[33];

		chs_hex(hex, rec, 16);
		err = chs_error_set(CHS_EDAMAGED,
				    "record %s does not match its history; the store '%s' is damaged",
				    hex, s->dir);
	}
	chs_merged_free(m);
	chs_records__changes_free(changes, n);
	return err;
}

int chs_store_verify(chs_store *s, int full, char hash_hex[65], int64_t *records)
{
	unsigned char h[CHS_HASH_BYTES];
	chs_hash_state hs;
	sqlite3_stmt *st = NULL;
	int err, rc;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(hash_hex);
	CHS_ASSERT_ARG(records);

	*records = 0;
	/* The hash stands for the whole store: a page that no longer
	 * decrypts, wherever it is, must fail here, not only in `check`. */
	if ((err = chs_store_verify_pages(s)) < 0)
		return err;
	if ((err = chs_store__prepare(s, &st,
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
	chs_store__finish(s, st);
	if (err < 0)
		return err;
	if (rc != SQLITE_DONE)
		return chs_store__sqlerr(s, rc, "verifying");
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
	return chs_records__load_batch(s, sqlite3_column_blob(row, 1),
				       (size_t)sqlite3_column_bytes(row, 1),
				       sqlite3_column_blob(row, 2), out);
}

int chs_records__load_batch(chs_store *s, const void *manifest, size_t len,
			    const unsigned char sig[CHS_SIGNATURE_BYTES], chs_batch **out)
{
	unsigned char (*ids)[CHS_CHANGE_ID_BYTES] = NULL;
	chs_batch *b = NULL;
	size_t i, n = 0;
	int err;

	if ((err = chs_batch_from_manifest(&b, manifest, len, sig)) < 0 ||
	    (err = chs_batch_manifest_ids(b, &ids, &n)) < 0)
		goto done;
	if (!(b->changes = chs_calloc(n + 1, sizeof(*b->changes)))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < n && err == 0; i++)
		if ((err = chs_records__load_change(s, ids[i], &b->changes[i])) == CHS_ENOTFOUND)
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

	if ((err = CHS_ARRAY_GROW(*list, *cap, *n + 1)) < 0)
		return err;
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

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(n);

	*out = NULL;
	*n = 0;
	if ((err = chs_store__prepare(s, &st,
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
		err = chs_store__sqlerr(s, rc, "reading batches");
	chs_store__finish(s, st);
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

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = chs_store__prepare(s, &st,
		     "UPDATE batches SET sent = 1 WHERE id = ? AND local")) < 0) {
		chs_store__rollback(s);
		return err;
	}
	if ((err = chs_store__bind_blob(s, st, 1, id, 32)) < 0) {
		chs_store__finish(s, st);
		chs_store__rollback(s);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE) {
		err = chs_store__sqlerr(s, rc, "marking a batch sent");
		chs_store__rollback(s);
		return err;
	}
	return chs_store__commit(s);
}

int chs_store_unsent_count(chs_store *s, int64_t *count)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(count);

	*count = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT count(*) FROM batches WHERE local AND NOT sent")) < 0)
		return err;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	else
		err = chs_store__sqlerr(s, rc, "counting batches");
	chs_store__finish(s, st);
	return err;
}
