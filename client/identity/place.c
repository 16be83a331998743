/*
 * client/identity/place.c - after a pull, the records this device made on
 * a chart that is now merged move to the chart the merge kept.
 *
 * A clinic offline while the archive merged OTHER into KEEP may add a
 * visit to OTHER; the merge, made before the visit reached the archive,
 * could not move it. The next sync of the clinic brings the merge in,
 * and this moves the visit (following a merge of KEEP into a third
 * patient too), as a save of the sync's own with an act "place" per hop
 * of the chain (KEEP over OTHER, the third over KEEP, ...) that the
 * unmerge of each pair reads back like the merge's. Only the records this
 * device created: every store places its own, so no two sites ever
 * write the same move (which would go to review for nothing). Records
 * that cannot be placed are counted: a patient link under review, or a
 * ring of tombstones (two archivists merged the pair two ways, and the
 * verdict waits in review); 'chartsync patient merge' settles both.
 *
 * A store without tombstones pays one look at an index (records_merged)
 * that holds nothing; one with tombstones, one query for this device's
 * records on all of them (who made a record is its create change's
 * device, read in SQL: CHS_IDENTITY__CREATED), and a bisection of the
 * sorted tombstones per hop of a chain.
 */
#include "identity_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/records/schema.h"
#include "client/util/util.h"
#include "crypto/crypto.h"
#include "sync/sync.h"

/* A patient merged into another. */
typedef struct tomb {
	unsigned char id[16];
	char hex[33], into[33];
} tomb;

static int tombs_load(chs_store *s, tomb **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int err, rc;

	*out = NULL;
	*n = 0;
	/* sorted by id, which sorts the hex the same way: tomb_of() bisects.
	 * INDEXED BY: left to itself the planner reads every record in id
	 * order (the id index spares it a sort) and keeps the tombstones;
	 * the partial index holds the tombstones alone, and sorting those
	 * few is nothing (tests/client/store/test_plans.c). */
	if ((err = chs_store__prepare(s, &st, "SELECT id, merged_into FROM records"
					      " INDEXED BY records_merged"
					      " WHERE merged_into IS NOT NULL ORDER BY id")) < 0)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		tomb *t;

		if (sqlite3_column_bytes(st, 0) != 16 || sqlite3_column_bytes(st, 1) != 16)
			continue;
		if ((err = CHS_ARRAY_GROW(*out, cap, *n + 1)) < 0)
			break;
		t = &(*out)[(*n)++];
		memcpy(t->id, sqlite3_column_blob(st, 0), 16);
		chs_hex(t->hex, t->id, 16);
		chs_hex(t->into, sqlite3_column_blob(st, 1), 16);
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading the merged charts");
	chs_store__finish(s, st);
	return err;
}

static int tomb_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const tomb *)elem)->hex);
}

static const tomb *tomb_of(const tomb *list, size_t n, const char *hex)
{
	return n ? bsearch(hex, list, n, sizeof(*list), tomb_cmp) : NULL;
}

/* The end of `t`'s chain of merges, "" on a ring. */
static void chain_end(const tomb *list, size_t n, const tomb *t, char out[33])
{
	const tomb *next;
	size_t hops;

	memcpy(out, t->into, 33);
	for (hops = 0; (next = tomb_of(list, n, out)); hops++) {
		if (hops >= n) {
			out[0] = '\0';
			return;
		}
		memcpy(out, next->into, 33);
	}
}

/* A record of this device's on a tombstone: its id, type, the tombstone,
 * and why it cannot move (NULL when it can). */
typedef struct own {
	unsigned char id[16];
	char hex[33], type[32], on[33];
	const char *why;
} own;

static int own_row(sqlite3_stmt *st, own **out, size_t *n, size_t *cap)
{
	const char *type = (const char *)sqlite3_column_text(st, 1);
	const chs_type_def *t = chs_schema_type(type ? type : "");
	own *o;
	int err;

	if (sqlite3_column_bytes(st, 0) != 16 || sqlite3_column_bytes(st, 4) != 16 || !t ||
	    (t->flags & CHS_TYPE_APPEND_ONLY))
		return 0;
	if ((err = CHS_ARRAY_GROW(*out, *cap, *n + 1)) < 0)
		return err;
	o = &(*out)[(*n)++];
	memcpy(o->id, sqlite3_column_blob(st, 0), 16);
	chs_hex(o->hex, o->id, 16);
	chs_hex(o->on, sqlite3_column_blob(st, 4), 16);
	snprintf(o->type, sizeof(o->type), "%s", t->name);
	o->why = sqlite3_column_int(st, 2)
		 ? chs_identity__unmovable(sqlite3_column_blob(st, 3),
					   (size_t)sqlite3_column_bytes(st, 3))
		 : NULL;
	return 0;
}

/* This device's live records on every tombstone, in one query (the
 * records_merged index, then records_patient), grouped by tombstone. */
static int own_records(chs_store *s, own **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int err, rc;

	*out = NULL;
	*n = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT r.id, r.type, r.review, r.state, r.patient FROM records r"
		     " WHERE r.patient IN (SELECT id FROM records WHERE merged_into IS NOT NULL)"
		     " AND NOT r.deleted AND " CHS_IDENTITY__CREATED("r.id", "device") " = ?"
		     " ORDER BY r.patient, r.rowid")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, chs_store_device_id(s))) < 0)
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((err = own_row(st, out, n, &cap)) < 0)
			goto done;
	if (rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading the merged charts' records");
done:
	chs_store__finish(s, st);
	return err;
}

/* The acts of records moved from tombstone `t` to the end of its chain:
 * one act "place" per hop (KEEP over OTHER, then the chart KEEP was
 * merged into over KEEP, ...), each naming them all, so that unmerging
 * the hops one by one, from the end, brings them back hop by hop. The
 * chain has no ring: chain_end() found its end. */
static int acts_put(chs_writer *w, const tomb *list, size_t n, const tomb *t,
		    const chs_identity__ids *moved)
{
	char act[33];
	int err = 0;

	for (; t && err == 0; t = tomb_of(list, n, t->into))
		err = chs_identity__act_put(w, CHS_ACT_PLACE, t->into, t->hex, moved, NULL, act);
	return err;
}

/* Place this device's records `rows` (n of them) on tombstone `t`. */
static int place_one(chs_writer *w, const tomb *list, size_t n, const tomb *t,
		     const own *rows, size_t nrows, size_t *placed, size_t *left)
{
	chs_identity__ids moved = { 0 };
	size_t i;
	char to[33];
	int err = 0;

	chain_end(list, n, t, to);
	for (i = 0; i < nrows && err == 0; i++) {
		if (!to[0] || rows[i].why)
			(*left)++;
		else if ((err = chs_identity__move(w, rows[i].id, rows[i].type, to)) == 0)
			err = chs_identity__ids_add(&moved, rows[i].hex);
	}
	if (err == 0 && moved.n > 0 && (err = acts_put(w, list, n, t, &moved)) == 0)
		*placed += moved.n;
	chs_identity__ids_dispose(&moved);
	return err;
}

/* Place every group of `rows` (one per tombstone). */
static int place_all(chs_writer *w, const tomb *list, size_t n, const own *rows,
		     size_t nrows, size_t *placed, size_t *left)
{
	size_t i = 0, j;
	int err = 0;

	while (i < nrows && err == 0) {
		const tomb *t = tomb_of(list, n, rows[i].on);

		for (j = i; j < nrows && strcmp(rows[j].on, rows[i].on) == 0; j++)
			;
		if (t)
			err = place_one(w, list, n, t, rows + i, j - i, placed, left);
		i = j;
	}
	return err;
}

static int any_tomb(chs_store *s, int *yes)
{
	int64_t v = 0;
	int err = chs_store__get_int(s, "SELECT EXISTS (SELECT 1 FROM records"
					" WHERE merged_into IS NOT NULL)", &v);

	*yes = v != 0;
	return err;
}

int chs_identity_place(chs_store *s, size_t *placed, size_t *left)
{
	size_t p = 0, l = 0, n = 0;
	tomb *list = NULL;
	own *rows = NULL;
	size_t nrows = 0;
	chs_writer w;
	int yes = 0, err;

	CHS_ASSERT_ARG(s);

	if (placed)
		*placed = 0;
	if (left)
		*left = 0;
	if ((err = any_tomb(s, &yes)) < 0 || !yes)
		return err;
	if ((err = chs_records__writer_begin(&w, s)) < 0)
		return err;
	w.sync_own = 1;
	if ((err = tombs_load(s, &list, &n)) < 0 || (err = own_records(s, &rows, &nrows)) < 0 ||
	    (err = place_all(&w, list, n, rows, nrows, &p, &l)) < 0)
		goto fail;
	free(list);
	free(rows);
	if (w.changes == 0)
		chs_records__writer_abort(&w);
	else if ((err = chs_records__writer_commit(&w)) < 0)
		return err;
	if (placed)
		*placed = p;
	if (left)
		*left = l;
	return 0;
fail:
	free(list);
	free(rows);
	chs_records__writer_abort(&w);
	return err;
}
