/*
 * client/records/origin.c - where a change came from: the signed batch
 * that brought it, and how far each device's chain has reached this
 * store. Ids, keys and times only, for the desk's review and sync pages.
 */
#include <stdio.h>
#include <string.h>

#include "records_int.h"
#include "client/store/db.h"

/* Check again that `body` (change `id`) is in the batch whose manifest
 * and signature are given: 1 when it is, 0 when it is not. */
static int proves(const void *body, size_t len, const void *manifest, size_t mlen,
		  const void *sig, size_t siglen)
{
	chs_change *c = NULL;
	int ok = 0;

	if (siglen == CHS_SIGNATURE_BYTES && chs_change_decode(&c, body, len) == 0)
		ok = chs_batch_prove(manifest, mlen, sig, c) == 0;
	chs_change_free(c);
	/* a change that does not prove is what this reports, not a failure */
	chs_error_clear();
	return ok;
}

int chs_change_origin_get(chs_store *s, const char *change, chs_change_origin *out)
{
	unsigned char id[CHS_CHANGE_ID_BYTES];
	sqlite3_stmt *st = NULL;
	int err, rc;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(change);
	CHS_ASSERT_ARG(out);

	memset(out, 0, sizeof(*out));
	if (strlen(change) != 2 * sizeof(id) || chs_unhex(id, sizeof(id), change) < 0)
		return chs_error_set(CHS_ENOTFOUND, "'%.70s' is not a change id (64 hex digits)",
				     change);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT b.id, b.device, b.key, b.dseq, b.local, b.received, c.body,"
		     " b.manifest, b.signature FROM changes c JOIN batches b ON b.seq = c.batch"
		     " WHERE c.id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, id, sizeof(id))) < 0)
		goto cleanup;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		err = chs_error_set(CHS_ENOTFOUND, "this store holds no change %.12s", change);
		goto cleanup;
	}
	if (rc != SQLITE_ROW) {
		err = chs_store__sqlerr(s, rc, "reading where a change came from");
		goto cleanup;
	}
	if (sqlite3_column_bytes(st, 0) == 32)
		chs_hex(out->batch, sqlite3_column_blob(st, 0), 32);
	/* a batch without a device name (NULL) reads as none; NULL for a
	 * value that is there is SQLite out of memory */
	if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		const char *device = (const char *)sqlite3_column_text(st, 1);

		if (!device) {
			err = chs_error_set(CHS_ENOMEM, "out of memory reading where a change came from");
			goto cleanup;
		}
		snprintf(out->device, sizeof(out->device), "%s", device);
	}
	if (sqlite3_column_bytes(st, 2) == CHS_SIGN_PK_BYTES)
		chs_hex(out->key, sqlite3_column_blob(st, 2), CHS_SIGN_PK_BYTES);
	out->dseq = (uint64_t)sqlite3_column_int64(st, 3);
	out->local = sqlite3_column_int(st, 4) != 0;
	out->received = sqlite3_column_int64(st, 5);
	out->signature_ok = proves(sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6),
				   sqlite3_column_blob(st, 7), (size_t)sqlite3_column_bytes(st, 7),
				   sqlite3_column_blob(st, 8), (size_t)sqlite3_column_bytes(st, 8));
	err = 0;
cleanup:
	chs_store__finish(s, st);
	return err;
}

int chs_store_device_last_batch(chs_store *s, const char *device, uint64_t *dseq,
				int64_t *received)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(device);
	CHS_ASSERT_ARG(dseq);
	CHS_ASSERT_ARG(received);

	*dseq = 0;
	*received = 0;
	/* the last of the chain by batches_device(device, dseq) */
	if ((err = chs_store__prepare(s, &st,
		     "SELECT dseq, received FROM batches WHERE device = ?"
		     " ORDER BY dseq DESC LIMIT 1")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, device)) < 0)
		goto cleanup;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*dseq = (uint64_t)sqlite3_column_int64(st, 0);
		*received = sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE) {
		err = chs_store__sqlerr(s, rc, "reading how far a device's batches reached");
	}
cleanup:
	chs_store__finish(s, st);
	return err;
}
