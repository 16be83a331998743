/*
 * client/identity/merge.c - merging a chart into another, and undoing it.
 *
 * A merge of OTHER into KEEP is one save of ordinary signed changes:
 *   - each live record linked to OTHER (but the append-only ones: access
 *     events, confirmations, acts) gets an edit of its `patient` link to
 *     KEEP; a clinical companion is a record of the chart like any other
 *     and moves the same way. A removed record is not touched (an edit
 *     after a removal would bring it back); one whose patient link is
 *     under review, or whose removal is, is left for a person to place;
 *   - OTHER's values fill KEEP's empty fields; where both hold a value
 *     and the values differ, two changes on KEEP with the same parents
 *     (KEEP's heads), one writing KEEP's values and one OTHER's, make the
 *     merge rule put each such field under review with both candidates,
 *     exactly as two sites editing the chart at once would;
 *   - OTHER's `merged_into` names KEEP (it is a tombstone from then on);
 *   - the pair's verdict (link.c) becomes "merged", KEEP over OTHER;
 *   - a patient_merge record (act "merge") names the records moved;
 *     settling a pair merged two ways (KEEP was merged into OTHER too),
 *     KEEP's own records come back, named in an act "unmerge" of the
 *     other way instead, so an unmerge of either pair moves only its own.
 * OTHER merged into two patients at two sites (its pointer under review,
 * and the patient links of the records both merges moved) is settled on
 * KEEP by resolves, and the other keeper's verdict goes back to "open".
 * An unmerge reads the pair's acts back to its last unmerge, moves the
 * records they moved that are still on KEEP back to OTHER, and lists
 * what it could not move and what KEEP gained since the merge.
 *
 * place.c calls the move and the act (identity_int.h); this file calls
 * link.c only.
 */
#include "identity_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/records/schema.h"
#include "client/text/text.h"
#include "client/util/util.h"
#include "crypto/crypto.h"
#include "sync/sync.h"

/* characters: the note's limit on patient_link and patient_merge (schema.c) */
#define NOTE_MAX 1000

/* ------------------------------------------------------------------ */
/* Lists                                                                */

int chs_identity__ids_add(chs_identity__ids *l, const char *hex)
{
	int err = CHS_ARRAY_GROW(l->hex, l->cap, l->n + 1);

	if (err < 0)
		return err;
	memcpy(l->hex[l->n++], hex, 33);
	return 0;
}

int chs_identity__ids_has(const chs_identity__ids *l, const char *hex)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (memcmp(l->hex[i], hex, 33) == 0)
			return 1;
	return 0;
}

void chs_identity__ids_dispose(chs_identity__ids *l)
{
	free(l->hex);
	memset(l, 0, sizeof(*l));
}

static int item_add(chs_merge_item **list, size_t *n, size_t *cap, const char *hex,
		    const char *type, const char *why)
{
	chs_merge_item *it;
	int err = CHS_ARRAY_GROW(*list, *cap, *n + 1);

	if (err < 0)
		return err;
	it = &(*list)[(*n)++];
	memset(it, 0, sizeof(*it));
	memcpy(it->record, hex, 33);
	snprintf(it->type, sizeof(it->type), "%s", type);
	it->why = why;
	return 0;
}

void chs_merge_result_dispose(chs_merge_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nreview; i++)
		free(r->review[i]);
	free(r->review);
	free(r->left);
	free(r->since);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ */
/* Records as the store holds them                                      */

/* Why a record's patient link may not be edited now (a static reason),
 * or NULL: an edit would settle a review no person looked at. */
const char *chs_identity__unmovable(const void *state, size_t len)
{
	json_t *st = json_loadb(state, len, 0, NULL), *review;
	const char *why = NULL;

	review = json_object_get(st, "review");
	if (!st)
		why = "its state does not read";
	else if (json_object_get(review, "exists"))
		why = "removed at one site and edited at another: under review";
	else if (json_object_get(json_object_get(review, "fields"), CHS_FIELD_PATIENT))
		why = "its patient is under review";
	json_decref(st);
	return why;
}

/* A patient of the store, given as an id or a prefix. */
typedef struct chart {
	unsigned char id[16];
	char hex[33];
	char into[33];   /* merged_into: "" when none */
	int into_review; /* merged_into is under review */
	json_t *state;
} chart;

static void chart_dispose(chart *p)
{
	json_decref(p->state);
	p->state = NULL;
}

static int chart_row(chs_store *s, chart *p, char *type, size_t ntype, int *deleted)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "SELECT type, deleted, state, merged_into"
					      " FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, p->id, 16)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		err = chs_store__sqlerr(s, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
					"reading a patient");
		goto done;
	}
	snprintf(type, ntype, "%s", (const char *)sqlite3_column_text(st, 0));
	*deleted = sqlite3_column_int(st, 1);
	p->state = json_loadb(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2), 0,
			      NULL);
	if (sqlite3_column_bytes(st, 3) == 16)
		chs_hex(p->into, sqlite3_column_blob(st, 3), 16);
	if (!p->state)
		err = chs_error_set(CHS_EDAMAGED, "the store '%s' is damaged: record %s does not"
				    " read", chs_store_path(s), p->hex);
done:
	chs_store__finish(s, st);
	return err;
}

/* Resolve `prefix` to a live patient. */
static int chart_load(chs_store *s, const char *prefix, chart *p)
{
	char type[32];
	int deleted = 0, err;

	memset(p, 0, sizeof(*p));
	if ((err = chs_record_resolve(s, prefix, p->hex)) < 0)
		return err;
	chs_util__parse_id(p->id, p->hex);
	if ((err = chart_row(s, p, type, sizeof(type), &deleted)) < 0)
		return err;
	if (strcmp(type, "patient") != 0)
		return chs_error_set(CHS_EINVALID, "record %s is a %s, not a patient: give two"
				     " patients' ids", p->hex, type);
	if (deleted)
		return chs_error_set(CHS_EINVALID, "patient %s was removed: restore it first, or"
				     " leave it out", p->hex);
	p->into_review = json_object_get(json_object_get(json_object_get(p->state, "review"),
							 "fields"), CHS_FIELD_MERGED_INTO) != NULL;
	return 0;
}

static json_t *chart_fields(const chart *p)
{
	return json_object_get(p->state, "fields");
}

/* ------------------------------------------------------------------ */
/* Changes                                                              */

static int new_change(chs_change **out, const unsigned char rec[16], const char *type,
		      chs_op op)
{
	int err;

	if ((err = chs_change_new(out)) < 0)
		return err;
	memcpy((*out)->record, rec, 16);
	(*out)->op = op;
	if (!((*out)->type = chs_util__strdup(type))) {
		chs_change_free(*out);
		*out = NULL;
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	return 0;
}

/* One field of record `rec` written in save `w`: `value` (text, or NULL
 * to clear it) by a change of kind `op` (an update, or a resolve, whose
 * parents are all the record's heads, writer.c, so it ends the review). */
static int put_field(chs_writer *w, const unsigned char rec[16], const char *type, chs_op op,
		     const char *name, const char *value)
{
	chs_change *c = NULL;
	int err;

	if ((err = new_change(&c, rec, type, op)) < 0)
		return err;
	err = value ? chs_change_set_string(c, name, value) : chs_change_set(c, name, NULL);
	if (err < 0) {
		chs_change_free(c);
		return err;
	}
	return chs_records__writer_put(w, c);
}

int chs_identity__move(chs_writer *w, const unsigned char rec[16], const char *type,
		       const char *to)
{
	return put_field(w, rec, type, CHS_OP_UPDATE, CHS_FIELD_PATIENT, to);
}

/* Set (or, `to` NULL, clear) a patient's merged_into. */
static int set_into(chs_writer *w, const unsigned char patient[16], const char *to)
{
	return put_field(w, patient, "patient", CHS_OP_UPDATE, CHS_FIELD_MERGED_INTO, to);
}

/* `ids` as a canonical JSON array. */
static int ids_json(const chs_identity__ids *ids, chs_buf *out)
{
	chs_buf text;
	size_t i;
	int err = 0;

	chs_buf_init(&text, 0);
	err = chs_buf_puts(&text, "[");
	for (i = 0; i < ids->n && err == 0; i++)
		err = chs_buf_printf(&text, "%s\"%s\"", i ? "," : "", ids->hex[i]);
	if (err == 0 && (err = chs_buf_puts(&text, "]")) == 0 &&
	    (err = chs_canonical_json(out, text.ptr, text.len)) == 0)
		err = chs_buf_puts(out, "");
	chs_buf_dispose(&text);
	return err;
}

int chs_identity__act_put(chs_writer *w, const char *act, const char *keep, const char *other,
			  const chs_identity__ids *moved, const char *note, char hex[33])
{
	unsigned char id[16];
	chs_change *c = NULL;
	chs_buf v;
	int err;

	chs_random(id, sizeof(id));
	chs_hex(hex, id, 16);
	chs_buf_init(&v, 0);
	if ((err = new_change(&c, id, CHS_PATIENT_MERGE_TYPE, CHS_OP_CREATE)) < 0)
		goto done;
	if ((err = chs_change_set_string(c, "act", act)) < 0 ||
	    (err = chs_change_set_string(c, "keep", keep)) < 0 ||
	    (err = chs_change_set_string(c, "other", other)) < 0 ||
	    (err = ids_json(moved, &v)) < 0 || (err = chs_change_set(c, "moved", v.ptr)) < 0 ||
	    (note && (err = chs_change_set_string(c, "note", note)) < 0))
		goto done;
	err = chs_records__writer_put(w, c);
	c = NULL;
done:
	chs_change_free(c);
	chs_buf_dispose(&v);
	return err;
}

/* ------------------------------------------------------------------ */
/* Moving a chart's records                                             */

typedef struct rec_row {
	unsigned char id[16];
	char hex[33];
	char type[32];
	const char *why; /* NULL: it may move */
} rec_row;

/* Append the record of row `st` (its id in column 0) of `type` to
 * `*out`; `*r` is the new row. */
static int row_push(rec_row **out, size_t *n, size_t *cap, sqlite3_stmt *st, const char *type,
		    rec_row **r)
{
	int err;

	if ((err = CHS_ARRAY_GROW(*out, *cap, *n + 1)) < 0)
		return err;
	*r = &(*out)[(*n)++];
	memset(*r, 0, sizeof(**r));
	memcpy((*r)->id, sqlite3_column_blob(st, 0), 16);
	chs_hex((*r)->hex, (*r)->id, 16);
	snprintf((*r)->type, sizeof((*r)->type), "%s", type);
	return 0;
}

static int append_only(const char *type)
{
	const chs_type_def *t = chs_schema_type(type);

	return !t || (t->flags & CHS_TYPE_APPEND_ONLY);
}

/* The live records on patient `from` that a merge would move, each with
 * why it may not (NULL when it may). */
static int records_on(chs_store *s, const unsigned char from[16], rec_row **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int err, rc;

	*out = NULL;
	*n = 0;
	if ((err = chs_store__prepare(s, &st, "SELECT id, type, review, state FROM records"
					      " WHERE patient = ? AND NOT deleted"
					      " ORDER BY rowid")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, from, 16)) < 0)
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 1);
		rec_row *r;

		if (sqlite3_column_bytes(st, 0) != 16 || !type || append_only(type))
			continue;
		if ((err = row_push(out, n, &cap, st, type, &r)) < 0)
			goto done;
		if (sqlite3_column_int(st, 2))
			r->why = chs_identity__unmovable(sqlite3_column_blob(st, 3),
							 (size_t)sqlite3_column_bytes(st, 3));
	}
	if (rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading a chart's records");
done:
	chs_store__finish(s, st);
	return err;
}

/* Move what OTHER holds to KEEP; `moved` lists what moved, but for the
 * records in `mine` (KEEP's own, which a merge of KEEP into OTHER had
 * moved there): they move back too, listed in `back` instead. */
static int move_all(chs_writer *w, const chart *from, const chart *to,
		    const chs_identity__ids *mine, chs_identity__ids *moved,
		    chs_identity__ids *back, chs_merge_result *r)
{
	rec_row *rows = NULL;
	size_t n = 0, i;
	int err;

	if ((err = records_on(w->s, from->id, &rows, &n)) < 0)
		goto done;
	for (i = 0; i < n && err == 0; i++) {
		if (rows[i].why)
			err = item_add(&r->left, &r->nleft, &r->cap_left, rows[i].hex,
				       rows[i].type, rows[i].why);
		else if ((err = chs_identity__move(w, rows[i].id, rows[i].type, to->hex)) == 0)
			err = chs_identity__ids_add(chs_identity__ids_has(mine, rows[i].hex)
						    ? back : moved, rows[i].hex);
	}
done:
	free(rows);
	r->moved = moved->n + back->n;
	return err;
}

/* ------------------------------------------------------------------ */
/* The two charts' values                                               */

static int heads_of(chs_store *s, const unsigned char rec[16], unsigned char **heads, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*heads = NULL;
	*n = 0;
	if ((err = chs_store__prepare(s, &st, "SELECT heads FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, rec, 16)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);

		if (!(*heads = chs_malloc(len + 1))) {
			err = chs_error_set(CHS_ENOMEM, "out of memory");
			goto done;
		}
		memcpy(*heads, sqlite3_column_blob(st, 0), len);
		*n = len / CHS_CHANGE_ID_BYTES;
	} else {
		err = chs_store__sqlerr(s, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
					"reading a patient");
	}
done:
	chs_store__finish(s, st);
	return err;
}

static int add_parents(chs_change *c, const unsigned char *heads, size_t n)
{
	size_t i;
	int err = 0;

	for (i = 0; i < n && err == 0; i++)
		err = chs_change_add_parent(c, heads + i * CHS_CHANGE_ID_BYTES);
	return err;
}

static int review_add(chs_merge_result *r, const char *name)
{
	int err = CHS_ARRAY_GROW(r->review, r->cap_review, r->nreview + 1);

	if (err < 0)
		return err;
	if (!(r->review[r->nreview] = chs_util__strdup(name)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	r->nreview++;
	return 0;
}

static const char *text_of(json_t *fields, const char *name)
{
	const char *v = json_string_value(json_object_get(fields, name));

	return v && *v ? v : NULL;
}

/* Compare the charts field by field: `mine` gets KEEP's values of the
 * fields that differ, `theirs` OTHER's, and the fields KEEP lacks. */
static int compare_fields(const chart *keep, const chart *other, chs_change *mine,
			  chs_change *theirs, chs_merge_result *r)
{
	const chs_field_def *f = chs_schema_type("patient")->fields;
	int err = 0;

	for (; f->name && err == 0; f++) {
		const char *k = text_of(chart_fields(keep), f->name);
		const char *o = text_of(chart_fields(other), f->name);

		if (strcmp(f->name, CHS_FIELD_MERGED_INTO) == 0 || !o)
			continue;
		if (!k) {
			if ((err = chs_change_set_string(theirs, f->name, o)) == 0)
				r->filled++;
		} else if (strcmp(k, o) != 0 &&
			   (err = chs_change_set_string(mine, f->name, k)) == 0 &&
			   (err = chs_change_set_string(theirs, f->name, o)) == 0) {
			err = review_add(r, f->name);
		}
	}
	return err;
}

/* KEEP takes OTHER's values: the empty ones filled, the different ones
 * written as two concurrent changes, KEEP's and OTHER's, on KEEP's heads:
 * the merge rule puts each such field under review with both. */
static int put_fields(chs_writer *w, const chart *keep, const chart *other,
		      chs_merge_result *r)
{
	chs_change *mine = NULL, *theirs = NULL;
	unsigned char *heads = NULL;
	size_t nheads = 0;
	int err;

	if ((err = new_change(&mine, keep->id, "patient", CHS_OP_UPDATE)) < 0 ||
	    (err = new_change(&theirs, keep->id, "patient", CHS_OP_UPDATE)) < 0 ||
	    (err = compare_fields(keep, other, mine, theirs, r)) < 0)
		goto done;
	if (theirs->nfields == 0)
		goto done;
	if (mine->nfields > 0) {
		if ((err = heads_of(w->s, keep->id, &heads, &nheads)) < 0 ||
		    (err = add_parents(mine, heads, nheads)) < 0 ||
		    (err = add_parents(theirs, heads, nheads)) < 0)
			goto done;
		err = chs_records__writer_put(w, mine);
		mine = NULL;
		if (err < 0)
			goto done;
	}
	err = chs_records__writer_put(w, theirs);
	theirs = NULL;
done:
	chs_change_free(mine);
	chs_change_free(theirs);
	free(heads);
	return err;
}

/* ------------------------------------------------------------------ */
/* A pair's acts                                                        */

typedef struct act {
	chs_hlc hlc;
	char act[16];
	json_t *moved; /* array of hex ids */
} act;

static int act_cmp(const void *a, const void *b)
{
	const act *x = a, *y = b;

	return x->hlc < y->hlc ? -1 : x->hlc > y->hlc;
}

/* The hlc of a record's create change, 0 while the store lacks it. */
static int created_at(chs_store *s, const unsigned char rec[16], chs_hlc *hlc)
{
	sqlite3_stmt *st = NULL;
	const char *text;
	int err, rc;

	*hlc = 0;
	if ((err = chs_store__prepare(s, &st, "SELECT " CHS_IDENTITY__CREATED("?", "hlc"))) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, rec, 16)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		err = chs_store__sqlerr(s, rc, "reading when a record was made");
		goto done;
	}
	/* a decimal string (sync/change.c); signed changes hold no other */
	if ((text = (const char *)sqlite3_column_text(st, 0)))
		*hlc = (chs_hlc)strtoull(text, NULL, 10);
done:
	chs_store__finish(s, st);
	return err;
}

static int acts_read(sqlite3_stmt *st, chs_store *s, act **acts, size_t *n)
{
	size_t cap = 0;
	int err = 0, rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *moved = (const char *)sqlite3_column_text(st, 2);
		act *a;

		if (sqlite3_column_bytes(st, 0) != 16 || !name)
			continue;
		if ((err = CHS_ARRAY_GROW(*acts, cap, *n + 1)) < 0)
			return err;
		a = &(*acts)[(*n)++];
		memset(a, 0, sizeof(*a));
		snprintf(a->act, sizeof(a->act), "%s", name);
		a->moved = moved ? json_loads(moved, 0, NULL) : NULL;
		if ((err = created_at(s, sqlite3_column_blob(st, 0), &a->hlc)) < 0)
			return err;
	}
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "reading the acts on two charts");
}

static void acts_free(act *acts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		json_decref(acts[i].moved);
	free(acts);
}

/* The pair's acts (KEEP over OTHER), in the order they were made. */
static int acts_load(chs_store *s, const chart *keep, const chart *other, act **acts,
		     size_t *n)
{
	sqlite3_stmt *st = NULL;
	int err;

	*acts = NULL;
	*n = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT id, json_extract(CAST(state AS TEXT), '$.fields.act'),"
		     " json_extract(CAST(state AS TEXT), '$.fields.moved')"
		     " FROM records WHERE type = '" CHS_PATIENT_MERGE_TYPE "' AND NOT deleted"
		     " AND json_extract(CAST(state AS TEXT), '$.fields.keep') = ?1"
		     " AND json_extract(CAST(state AS TEXT), '$.fields.other') = ?2")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, keep->hex)) == 0 &&
	    (err = chs_store__bind_text(s, st, 2, other->hex)) == 0)
		err = acts_read(st, s, acts, n);
	chs_store__finish(s, st);
	if (err == 0)
		qsort(*acts, *n, sizeof(**acts), act_cmp);
	return err;
}

/* What the merge (and placements since) moved: the acts since the last
 * unmerge; `*since` the time of the first of them. */
static int moved_set(const act *acts, size_t n, chs_identity__ids *set, chs_hlc *since)
{
	size_t i, start = 0, j;
	int err = 0;

	*since = 0;
	for (i = 0; i < n; i++)
		if (strcmp(acts[i].act, CHS_ACT_UNMERGE) == 0)
			start = i + 1;
	for (i = start; i < n && err == 0; i++) {
		if (strcmp(acts[i].act, CHS_ACT_MERGE) != 0 &&
		    strcmp(acts[i].act, CHS_ACT_PLACE) != 0)
			continue;
		if (!*since && strcmp(acts[i].act, CHS_ACT_MERGE) == 0)
			*since = acts[i].hlc;
		for (j = 0; j < json_array_size(acts[i].moved) && err == 0; j++) {
			const char *hex = json_string_value(json_array_get(acts[i].moved, j));

			if (hex && strlen(hex) == 32 && !chs_identity__ids_has(set, hex))
				err = chs_identity__ids_add(set, hex);
		}
	}
	return err;
}

/* ------------------------------------------------------------------ */
/* Merge                                                                */

/* The refusals of identity.h. A pair whose verdict is under review (two
 * archivists merged it two ways, so each points at the other) is settled
 * the way given, and so is OTHER merged into two patients at once (its
 * pointer under review). KEEP merged into a third patient is refused,
 * under review or not: a chart merged away is no chart to keep. */
static int check_merge(const chart *keep, const chart *other, const chs_identity__link *l)
{
	if (memcmp(keep->id, other->id, 16) == 0)
		return chs_error_set(CHS_EINVALID, "a patient cannot be merged into itself: give"
				     " two different patients");
	if (l->found && !l->review && strcmp(l->verdict, CHS_VERDICT_DISTINCT) == 0)
		return chs_error_set(CHS_EEXISTS, "patients %s and %s are marked 'not the same"
				     " person': take the mark back first ('chartsync patient"
				     " distinct --clear')", keep->hex, other->hex);
	if (keep->into[0] && strcmp(keep->into, other->hex) != 0)
		return chs_error_set(CHS_EEXISTS, "patient %s was merged into patient %s: merge"
				     " into %s instead", keep->hex, keep->into, keep->into);
	if (keep->into[0] && !l->review)
		return chs_error_set(CHS_EEXISTS, "patient %s was merged into patient %s: to merge"
				     " the other way, unmerge them first ('chartsync patient"
				     " unmerge %s %s')", keep->hex, other->hex, other->hex,
				     keep->hex);
	if (other->into[0] && strcmp(other->into, keep->hex) != 0 && !other->into_review)
		return chs_error_set(CHS_EEXISTS, "patient %s was merged into patient %s: merge"
				     " %s into %s instead, or unmerge it first", other->hex,
				     other->into, other->into, keep->hex);
	return 0;
}

/* The pair's verdict, unless it says so already (and `note` adds
 * nothing). */
static int put_verdict(chs_writer *w, const chart *keep, const chart *other,
		       const chs_identity__link *l, const char *note)
{
	if (l->found && !l->review && strcmp(l->verdict, CHS_VERDICT_MERGED) == 0 &&
	    strcmp(l->keep, keep->hex) == 0 && !note)
		return 0;
	return chs_identity__link_put(w, l, keep->id, other->id, CHS_VERDICT_MERGED, keep->hex,
				      other->hex, note);
}

/* ------------------------------------------------------------------ */
/* OTHER merged into two patients at two sites                          */

/* Whether `hex` is among the candidates of field `name` under review in
 * `state` (the whole review object: `st`). */
static int candidate_is(json_t *st, const char *name, const char *hex)
{
	json_t *list = json_object_get(json_object_get(json_object_get(st, "review"), "fields"),
				       name), *c;
	size_t i;

	json_array_foreach(list, i, c) {
		const char *v = json_string_value(json_object_get(c, "value"));

		if (v && strcmp(v, hex) == 0)
			return 1;
	}
	return 0;
}

/* Settle field `name` of record `rec` to `value` (hex): a resolve. */
static int resolve_to(chs_writer *w, const unsigned char rec[16], const char *type,
		      const char *name, const char *value)
{
	return put_field(w, rec, type, CHS_OP_RESOLVE, name, value);
}

/* Whether the record of row `st` (id, type, state) has only its patient
 * link under review, every candidate of it one of OTHER's keepers (so
 * the two merges put it there). Any other review is left for a person. */
static int split_by_merges(sqlite3_stmt *st, const chart *other)
{
	json_t *state = json_loadb(sqlite3_column_blob(st, 2),
				   (size_t)sqlite3_column_bytes(st, 2), 0, NULL);
	json_t *review = json_object_get(state, "review"), *list, *c;
	json_t *fields = json_object_get(review, "fields");
	size_t i;
	int ours = 1;

	list = json_object_get(fields, CHS_FIELD_PATIENT);
	if (!sqlite3_column_text(st, 1) || sqlite3_column_bytes(st, 0) != 16 ||
	    json_object_get(review, "exists") || json_object_size(fields) != 1 ||
	    !json_array_size(list))
		ours = 0;
	json_array_foreach(list, i, c) {
		const char *v = json_string_value(json_object_get(c, "value"));

		if (!v || !candidate_is(other->state, CHS_FIELD_MERGED_INTO, v))
			ours = 0;
	}
	json_decref(state);
	return ours;
}

/* The records on candidate keeper `on` whose patient link the merges
 * put under review (read whole before any is written). */
static int split_on(chs_store *s, const char *on, const chart *other, rec_row **out,
		    size_t *n)
{
	sqlite3_stmt *st = NULL;
	unsigned char id[16];
	size_t cap = 0;
	int err, rc;

	*out = NULL;
	*n = 0;
	chs_util__parse_id(id, on);
	if ((err = chs_store__prepare(s, &st, "SELECT id, type, state FROM records"
					      " WHERE patient = ? AND review AND NOT deleted"
					      " ORDER BY rowid")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, id, 16)) < 0)
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rec_row *r;

		if (!split_by_merges(st, other))
			continue;
		if ((err = row_push(out, n, &cap, st, (const char *)sqlite3_column_text(st, 1),
				    &r)) < 0)
			goto done;
	}
	if (rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading a chart's records");
done:
	chs_store__finish(s, st);
	return err;
}

/* Settle those records on KEEP, each counted moved. */
static int settle_on(chs_writer *w, const char *on, const chart *keep, const chart *other,
		     chs_identity__ids *moved, chs_merge_result *r)
{
	rec_row *rows = NULL;
	size_t n = 0, i;
	int err;

	if ((err = split_on(w->s, on, other, &rows, &n)) < 0)
		goto done;
	for (i = 0; i < n && err == 0; i++) {
		if (chs_identity__ids_has(moved, rows[i].hex))
			continue;
		if ((err = resolve_to(w, rows[i].id, rows[i].type, CHS_FIELD_PATIENT,
				      keep->hex)) == 0 &&
		    (err = chs_identity__ids_add(moved, rows[i].hex)) == 0)
			r->moved++;
	}
done:
	free(rows);
	return err;
}

/* Another keeper's merge of OTHER gives way: its verdict is "open" again
 * and an act "unmerge" closes its acts (what they moved is KEEP's now). */
static int give_way(chs_writer *w, const char *hex, const chart *other)
{
	chs_identity__ids none = { 0 };
	chs_identity__link l;
	unsigned char id[16];
	char made[33];
	int err;

	chs_util__parse_id(id, hex);
	if ((err = chs_identity__link_load(w->s, id, other->id, &l)) < 0 || !l.found)
		return err;
	if ((err = chs_identity__link_put(w, &l, id, other->id, CHS_VERDICT_OPEN, NULL, NULL,
					  NULL)) < 0)
		return err;
	return chs_identity__act_put(w, CHS_ACT_UNMERGE, hex, other->hex, &none, NULL, made);
}

/* OTHER was merged into two patients at two sites (its merged_into under
 * review, the records both merges moved under review between the two
 * keepers): settle the pointer on KEEP, settle each such record on KEEP
 * (listed as moved), and each other keeper's verdict goes back to "open". */
static int settle_split(chs_writer *w, const chart *keep, const chart *other,
			chs_identity__ids *moved, chs_merge_result *r)
{
	json_t *list = json_object_get(json_object_get(json_object_get(other->state, "review"),
						       "fields"), CHS_FIELD_MERGED_INTO), *c;
	size_t i;
	int err;

	if ((err = resolve_to(w, other->id, "patient", CHS_FIELD_MERGED_INTO, keep->hex)) < 0)
		return err;
	json_array_foreach(list, i, c) {
		const char *v = json_string_value(json_object_get(c, "value"));

		if (!v || strlen(v) != 32)
			continue;
		if ((err = settle_on(w, v, keep, other, moved, r)) < 0 ||
		    (strcmp(v, keep->hex) != 0 && (err = give_way(w, v, other)) < 0))
			return err;
	}
	return 0;
}

/* Two archivists merged the pair two ways: the records the other way's
 * acts (OTHER kept, KEEP merged) moved from KEEP to OTHER since its last
 * unmerge. They are KEEP's own: settling moves them back, as an unmerge
 * of the other way, so that neither pair's acts claim what the other's
 * moved. */
static int reverse_set(chs_store *s, const chart *keep, const chart *other,
		       chs_identity__ids *set)
{
	act *acts = NULL;
	size_t n = 0;
	chs_hlc since;
	int err;

	if ((err = acts_load(s, other, keep, &acts, &n)) == 0)
		err = moved_set(acts, n, set, &since);
	acts_free(acts, n);
	return err;
}

static int merge_in(chs_writer *w, const chart *keep, const chart *other, const char *note,
		    chs_merge_result *r)
{
	chs_identity__ids moved = { 0 }, mine = { 0 }, back = { 0 };
	chs_identity__link l;
	int64_t before = w->changes;
	int split = other->into_review, err, wrote;
	/* KEEP took OTHER's values already: the pair merged before, or
	 * OTHER merged into KEEP at one site and into another at another */
	int first = strcmp(other->into, keep->hex) != 0 &&
		    !(split && candidate_is(other->state, CHS_FIELD_MERGED_INTO, keep->hex));
	int settle = strcmp(keep->into, other->hex) == 0;
	char undone[33];

	if ((err = chs_identity__link_load(w->s, keep->id, other->id, &l)) < 0 ||
	    (err = check_merge(keep, other, &l)) < 0)
		goto done;
	memcpy(r->link, l.hex, 33);
	if ((settle && (err = reverse_set(w->s, keep, other, &mine)) < 0) ||
	    (err = move_all(w, other, keep, &mine, &moved, &back, r)) < 0 ||
	    (split && (err = settle_split(w, keep, other, &moved, r)) < 0) ||
	    (first && (err = put_fields(w, keep, other, r)) < 0) ||
	    (first && !split && (err = set_into(w, other->id, keep->hex)) < 0) ||
	    /* two archivists merged the pair two ways: KEEP stays a chart */
	    (keep->into[0] && (err = set_into(w, keep->id, NULL)) < 0) ||
	    (err = put_verdict(w, keep, other, &l, note)) < 0)
		goto done;
	wrote = w->changes > before;
	if (settle && (err = chs_identity__act_put(w, CHS_ACT_UNMERGE, other->hex, keep->hex,
						   &back, NULL, undone)) < 0)
		goto done;
	if (wrote)
		err = chs_identity__act_put(w, CHS_ACT_MERGE, keep->hex, other->hex, &moved, note,
					    r->act);
done:
	chs_identity__ids_dispose(&moved);
	chs_identity__ids_dispose(&mine);
	chs_identity__ids_dispose(&back);
	return err;
}

/* ------------------------------------------------------------------ */
/* Unmerge                                                              */

/* One record of the moved set: back to OTHER, or listed in `left`. */
static int move_back(chs_writer *w, const char *hex, const chart *keep, const chart *other,
		     chs_identity__ids *moved, chs_merge_result *r)
{
	sqlite3_stmt *st = NULL;
	unsigned char id[16];
	char type[32] = "", patient[33] = "";
	const char *why = NULL;
	int err, rc, deleted = 1;

	chs_util__parse_id(id, hex);
	if ((err = chs_store__prepare(w->s, &st, "SELECT type, deleted, patient, review, state"
						 " FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(w->s, st, 1, id, 16)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(type, sizeof(type), "%s", (const char *)sqlite3_column_text(st, 0));
		deleted = sqlite3_column_int(st, 1);
		if (sqlite3_column_bytes(st, 2) == 16)
			chs_hex(patient, sqlite3_column_blob(st, 2), 16);
		if (sqlite3_column_int(st, 3))
			why = chs_identity__unmovable(sqlite3_column_blob(st, 4),
						      (size_t)sqlite3_column_bytes(st, 4));
	} else if (rc != SQLITE_DONE) {
		err = chs_store__sqlerr(w->s, rc, "reading a record");
		goto done;
	}
	chs_store__finish(w->s, st);
	st = NULL;
	if (deleted)
		why = "removed since the merge";
	else if (strcmp(patient, keep->hex) != 0)
		why = "moved to another patient since the merge";
	if (why)
		return item_add(&r->left, &r->nleft, &r->cap_left, hex, type, why);
	if ((err = chs_identity__move(w, id, type, other->hex)) == 0)
		err = chs_identity__ids_add(moved, hex);
done:
	chs_store__finish(w->s, st);
	return err;
}

/* The records on KEEP made after the merge and not moved by it: they
 * stay, for a person to place. */
static int list_since(chs_writer *w, const chart *keep, const chs_identity__ids *set,
		      chs_hlc since, chs_merge_result *r)
{
	rec_row *rows = NULL;
	size_t n = 0, i;
	chs_hlc at;
	int err;

	if ((err = records_on(w->s, keep->id, &rows, &n)) < 0)
		goto done;
	for (i = 0; i < n && err == 0; i++) {
		if (chs_identity__ids_has(set, rows[i].hex))
			continue;
		if ((err = created_at(w->s, rows[i].id, &at)) == 0 && at > since)
			err = item_add(&r->since, &r->nsince, &r->cap_since, rows[i].hex,
				       rows[i].type, "added to the kept chart after the merge");
	}
done:
	free(rows);
	return err;
}

static int unmerge_in(chs_writer *w, const chart *keep, const chart *other,
		      chs_merge_result *r)
{
	chs_identity__ids set = { 0 }, moved = { 0 };
	chs_identity__link l;
	act *acts = NULL;
	size_t nacts = 0, i;
	chs_hlc since = 0;
	int err;

	if (strcmp(other->into, keep->hex) != 0)
		return chs_error_set(CHS_EINVALID, "patient %s is not merged into patient %s:"
				     " nothing to unmerge", other->hex, keep->hex);
	if ((err = acts_load(w->s, keep, other, &acts, &nacts)) < 0 ||
	    (err = moved_set(acts, nacts, &set, &since)) < 0)
		goto done;
	for (i = 0; i < set.n && err == 0; i++)
		err = move_back(w, set.hex[i], keep, other, &moved, r);
	r->moved = moved.n;
	if (err < 0 || (err = list_since(w, keep, &set, since, r)) < 0 ||
	    (err = set_into(w, other->id, NULL)) < 0 ||
	    (err = chs_identity__link_load(w->s, keep->id, other->id, &l)) < 0 ||
	    (err = chs_identity__link_put(w, &l, keep->id, other->id, CHS_VERDICT_OPEN, NULL,
					  NULL, NULL)) < 0 ||
	    (err = chs_identity__act_put(w, CHS_ACT_UNMERGE, keep->hex, other->hex, &moved, NULL,
					 r->act)) < 0)
		goto done;
	memcpy(r->link, l.hex, 33);
done:
	acts_free(acts, nacts);
	chs_identity__ids_dispose(&set);
	chs_identity__ids_dispose(&moved);
	return err;
}

/* ------------------------------------------------------------------ */
/* The save of an act                                                   */

/* What a merge or an unmerge does inside its save; `note` NULL for an
 * unmerge. */
typedef int (*act_fn)(chs_writer *w, const chart *keep, const chart *other, const char *note,
		      chs_merge_result *r);

static int unmerge_act(chs_writer *w, const chart *keep, const chart *other, const char *note,
		       chs_merge_result *r)
{
	(void)note;
	return unmerge_in(w, keep, other, r);
}

/* One save: both charts read, the act, the commit; nothing on failure.
 * `what` names the act for a refusal ("merge charts"). */
static int decide(chs_store *s, const char *what, const char *keep, const char *other,
		  const char *note, act_fn fn, chs_merge_result *out)
{
	chs_merge_result mine, *r = out ? out : &mine;
	chart k, o;
	chs_writer w;
	int err;

	CHS_ASSERT_ARG(s && keep && other);

	memset(r, 0, sizeof(*r));
	memset(&k, 0, sizeof(k));
	memset(&o, 0, sizeof(o));
	/* the note is typed by a person: checked before the save begins */
	if ((err = chs_identity__may_decide(s, what)) < 0 ||
	    (note && (err = chs_text_check(note, strlen(note), CHS_TEXT_LINE, NOTE_MAX,
					   "the note")) < 0) ||
	    (err = chs_records__writer_begin(&w, s)) < 0)
		goto done;
	if ((err = chart_load(s, keep, &k)) < 0 || (err = chart_load(s, other, &o)) < 0 ||
	    (err = fn(&w, &k, &o, note, r)) < 0) {
		chs_records__writer_abort(&w);
		goto done;
	}
	memcpy(r->keep, k.hex, 33);
	memcpy(r->other, o.hex, 33);
	err = chs_records__writer_commit(&w);
done:
	chart_dispose(&k);
	chart_dispose(&o);
	if (err < 0 || !out)
		chs_merge_result_dispose(r);
	return err;
}

int chs_patient_merge(chs_store *s, const char *keep, const char *other,
		      const char *note, chs_merge_result *out)
{
	return decide(s, "merge charts", keep, other, note, merge_in, out);
}

int chs_patient_unmerge(chs_store *s, const char *keep, const char *other,
			chs_merge_result *out)
{
	return decide(s, "unmerge charts", keep, other, NULL, unmerge_act, out);
}
