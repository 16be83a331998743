/*
 * What `show`, `ls`, `log` and `review` read: records and histories as
 * objects (record.c), from a record's merge or from its stored row. The
 * JSON the CLI prints is made from them at the edge (client/json/).
 */
#include "records_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- clinical content (companion.c) ---- */

/* A billing office's own copy of a record's changes loses the fields a
 * clinical companion keeps: values that earlier versions synced to it in
 * the billing compartment, which no view or log shows there. */
static void strip_clinical(chs_change **changes, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		const chs_type_def *ct = chs_schema_companion(chs_schema_type(
			changes[i]->type ? changes[i]->type : ""));

		for (k = 0; ct && k < changes[i]->nfields;) {
			chs_field *f = &changes[i]->fields[k];

			if (!chs_schema_field(ct, f->name)) {
				k++;
				continue;
			}
			free(f->name);
			free(f->value);
			memmove(f, f + 1, (changes[i]->nfields - k - 1) * sizeof(*f));
			changes[i]->nfields--;
		}
	}
}

/* Resolve `id` and merge the record's stored changes (at a billing
 * office, without the clinical fields of billing records). */
static int merged(chs_store *s, const char *id, char hex[33], chs_merged **m,
		  chs_change ***changes, size_t *n)
{
	unsigned char rec[16];
	int reads, err;

	*m = NULL;
	if ((err = chs_record_resolve(s, id, hex)) < 0 ||
	    (err = chs_records__reads_clinical(s, &reads)) < 0)
		return err;
	chs_util__parse_id(rec, hex);
	if (reads)
		return chs_records__merge_record(s, rec, m, changes, n);
	if ((err = chs_records__load_changes(s, rec, changes, n)) < 0)
		return err;
	if (*n == 0)
		return chs_error_set(CHS_ENOTFOUND, "no such record");
	strip_clinical(*changes, *n);
	if ((err = chs_merge(m, (const chs_change *const *)*changes, *n,
			     chs_schema_group, NULL)) < 0) {
		chs_records__changes_free(*changes, *n);
		*changes = NULL;
		*n = 0;
	}
	return err;
}

/* With who checked the current version (client/confirm.c). */
int chs_record_lookup(chs_record **out, chs_store *s, const char *id)
{
	chs_change **changes = NULL;
	chs_merged *m = NULL;
	chs_record *r = NULL;
	char hex[33];
	size_t n = 0;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	*out = NULL;
	if ((err = merged(s, id, hex, &m, &changes, &n)) < 0 ||
	    (err = chs_records__record_from_merged(&r, hex, m)) < 0 ||
	    (err = chs_records__clinical_record(s, r)) < 0 ||
	    (err = chs_records__confirm_record(s, r)) < 0)
		goto done;
	*out = r;
	r = NULL;
done:
	chs_record_free(r);
	chs_merged_free(m);
	chs_records__changes_free(changes, n);
	return err;
}

int chs_record_history(chs_history **out, chs_store *s, const char *id)
{
	chs_change **changes = NULL;
	chs_merged *m = NULL;
	char hex[33];
	size_t n = 0;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	*out = NULL;
	if ((err = merged(s, id, hex, &m, &changes, &n)) < 0) {
		chs_records__changes_free(changes, n);
		return err;
	}
	/* the history keeps the changes, which the merge points into */
	err = chs_records__history_from_merged(out, m, changes, n);
	chs_merged_free(m);
	return err;
}

/* ---- ls and review ---- */

/* A row of "SELECT id, type, state, review, deleted, heads". */
static int row_record(sqlite3_stmt *st, chs_record **out)
{
	return chs_records__record_from_row(out, sqlite3_column_blob(st, 0),
		(const char *)sqlite3_column_text(st, 1), sqlite3_column_int(st, 4),
		sqlite3_column_int(st, 3), sqlite3_column_blob(st, 5),
		(size_t)sqlite3_column_bytes(st, 5), sqlite3_column_blob(st, 2),
		(size_t)sqlite3_column_bytes(st, 2));
}

/* A clinical companion is shown as part of its record, not listed. */
static int is_companion(const char *type)
{
	const chs_type_def *t = chs_schema_type(type ? type : "");

	return t && (t->flags & CHS_TYPE_COMPANION);
}

static int list_rows(chs_store *s, sqlite3_stmt *st, int companions_hidden,
		     chs_record_list **out)
{
	chs_record_list *l = NULL;
	chs_record *r = NULL;
	int err, rc = SQLITE_DONE;

	if ((err = chs_records__record_list_new(&l)) < 0)
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != 16) {
			err = chs_error_set(CHS_EDAMAGED, "a record's stored id is damaged");
			break;
		}
		if (companions_hidden && is_companion((const char *)sqlite3_column_text(st, 1)))
			continue;
		if ((err = row_record(st, &r)) < 0)
			break;
		if ((err = chs_records__clinical_record(s, r)) < 0) {
			chs_record_free(r);
			break;
		}
		if ((err = chs_records__record_list_add(l, r)) < 0) {
			chs_record_free(r);
			break;
		}
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "listing records");
done:
	chs_store__finish(s, st);
	if (err < 0)
		chs_record_list_free(l);
	else
		*out = l;
	return err;
}

int chs_record_query(chs_record_list **out, chs_store *s, const char *type,
		     const char *patient)
{
	unsigned char pid[16];
	sqlite3_stmt *st = NULL;
	char hex[33];
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if (type && !chs_schema_type(type))
		return chs_error_set(CHS_EINVALID, "'%s' is not a record type", type);
	if (patient) {
		if ((err = chs_record_resolve(s, patient, hex)) < 0)
			return err;
		chs_util__parse_id(pid, hex);
	}
	/* One patient's chart is found through the patient index: written
	 * as "?2 IS NULL OR ...", the filter made SQLite read every record. */
	if ((err = chs_store__prepare(s, &st, patient
		     ? "SELECT id, type, state, review, deleted, heads FROM records WHERE NOT deleted"
		       " AND (?1 IS NULL OR type = ?1) AND (patient = ?2 OR id = ?2)"
		       " AND (?1 IS NOT NULL OR type NOT IN ('audit', 'archive_event')) ORDER BY rowid"
		     : "SELECT id, type, state, review, deleted, heads FROM records WHERE NOT deleted"
		       " AND merged_into IS NULL AND (?1 IS NULL OR type = ?1)"
		       " AND (?1 IS NOT NULL OR type NOT IN ('audit', 'archive_event')) ORDER BY rowid")) < 0)
		return err;
	if ((type && (err = chs_store__bind_text(s, st, 1, type)) < 0) ||
	    (patient && (err = chs_store__bind_blob(s, st, 2, pid, 16)) < 0)) {
		chs_store__finish(s, st);
		return err;
	}
	return list_rows(s, st, !type, out);
}

int chs_record_find_mrn(char (**ids)[33], size_t *n, chs_store *s, const char *mrn)
{
	sqlite3_stmt *st = NULL;
	char hex[33], keep[33];
	size_t cap = 0, i;
	int err, rc = SQLITE_DONE;

	CHS_ASSERT_ARG(ids);
	CHS_ASSERT_ARG(n);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(mrn);

	*ids = NULL;
	*n = 0;
	/* tombstones too: a merged chart's number still names its patient */
	if ((err = chs_store__prepare(s, &st,
		     "SELECT id FROM records WHERE mrn = ? AND NOT deleted AND type = 'patient'"
		     " ORDER BY rowid")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, mrn)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != 16)
			continue;
		chs_hex(hex, sqlite3_column_blob(st, 0), 16);
		if ((err = chs_record_follow(s, hex, keep, NULL)) < 0)
			break;
		for (i = 0; i < *n && strcmp((*ids)[i], keep) != 0; i++)
			;
		if (i == *n && (err = CHS_ARRAY_GROW(*ids, cap, *n + 1)) == 0)
			memcpy((*ids)[(*n)++], keep, 33);
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "finding a chart number");
	chs_store__finish(s, st);
	if (err < 0) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return err;
}

int chs_review_count(chs_store *s, int64_t *out)
{
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(out);

	*out = 0;
	return chs_store__get_int(s, "SELECT count(*) FROM records WHERE review", out);
}

int chs_review_list(chs_record_list **out, chs_store *s)
{
	sqlite3_stmt *st = NULL;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	if ((err = chs_store__prepare(s, &st,
		     /* "review, rowid" is the order of the review index (all
		      * its keys are 1): ordered by rowid alone, SQLite read
		      * every record instead of the few under review */
		     "SELECT id, type, state, review, deleted, heads FROM records WHERE review"
		     " ORDER BY review, rowid")) < 0)
		return err;
	return list_rows(s, st, 0, out);
}
