/*
 * Entry confirmation: a colleague checks a record against the paper chart.
 *
 * A confirmation is an append-only record of type `confirmation` (billing
 * compartment: see schema.c) with the confirmed record's id in
 * `record`, the record's heads at that moment in `change` (one change id;
 * several, sorted and joined by commas, for a record whose concurrent
 * edits merged without review) and an optional `note`; it links to the
 * record's patient, so the confirmations of a chart are found through the
 * patient index. A record is confirmed iff a confirmation names its
 * current heads: any later edit, here or arriving by sync, moves the heads
 * and makes it unconfirmed again, with nothing to update.
 *
 * The rules at entry: never a record whose current version is (partly)
 * the confirming user's own work, never a record under review, never a
 * removed record; all of the ids or none.
 */
#include "records_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADS_MAX 64 /* heads of one record we are ready to name */

/* Chart entries are confirmed; logs and the fee schedule are not. */
static int confirmable(const char *type)
{
	return strcmp(type, "confirmation") != 0 && strcmp(type, "audit") != 0 &&
	       strcmp(type, "fee") != 0;
}

typedef struct target {
	char hex[33];
	unsigned char id[16];
	char type[24];
	char patient[33]; /* "" when the record links to no patient */
	int deleted, review;
	chs_buf heads;    /* comma-joined hex change ids, sorted */
	unsigned char head_ids[HEADS_MAX][CHS_CHANGE_ID_BYTES];
	size_t nheads;
} target;

static void target_dispose(target *t)
{
	chs_buf_dispose(&t->heads);
}

static int heads_text(target *t, const unsigned char *blob, size_t len)
{
	size_t i, n = len / CHS_CHANGE_ID_BYTES;
	char hex[65];
	int err = 0;

	if (n == 0 || n > HEADS_MAX)
		return chs_error_set(CHS_ERROR, "record %s has %zu heads", t->hex, n);
	for (i = 0; i < n && err == 0; i++) {
		memcpy(t->head_ids[i], blob + i * CHS_CHANGE_ID_BYTES, CHS_CHANGE_ID_BYTES);
		chs_hex(hex, blob + i * CHS_CHANGE_ID_BYTES, CHS_CHANGE_ID_BYTES);
		err = chs_buf_printf(&t->heads, "%s%s", i ? "," : "", hex);
	}
	t->nheads = n;
	return err;
}

/* Read a record's row: type, patient, flags and heads. */
static int load_target(chs_store *s, const char *prefix, target *t)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_record_resolve(s, prefix, t->hex)) < 0)
		return err;
	chs_util__parse_id(t->id, t->hex);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT type, patient, deleted, review, heads FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, t->id, 16)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(t->type, sizeof(t->type), "%s", sqlite3_column_text(st, 0));
		if (sqlite3_column_bytes(st, 1) == 16)
			chs_hex(t->patient, sqlite3_column_blob(st, 1), 16);
		else if (strcmp(t->type, "patient") == 0)
			memcpy(t->patient, t->hex, sizeof(t->patient));
		t->deleted = sqlite3_column_int(st, 2);
		t->review = sqlite3_column_int(st, 3);
		err = heads_text(t, sqlite3_column_blob(st, 4),
				 (size_t)sqlite3_column_bytes(st, 4));
	} else {
		err = chs_store__sqlerr(s, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
					"reading a record");
	}
done:
	chs_store__finish(s, st);
	return err;
}

/* ------------------------------------------------------------------ */
/* Finding a record's confirmation                                      */

typedef struct found {
	unsigned char conf[16]; /* the confirmation record */
	char *note;             /* malloc'ed, or NULL */
	int yes;
} found;

/* The first confirmation naming `t` at its current heads. */
static int find_confirmation(chs_store *s, const target *t, found *f)
{
	unsigned char pid[16];
	sqlite3_stmt *st = NULL;
	int err, rc;

	memset(f, 0, sizeof(*f));
	/* "patient IS ?1" would match a NULL too, so SQLite could not use the
	 * patient index (it holds no NULLs) and read every record of the
	 * store on each 'show': "= ?1" when there is a patient. */
#define FIND_CONFIRMATION(patient_is) \
	"SELECT id, json_extract(CAST(state AS TEXT), '$.fields.note')" \
	" FROM records WHERE patient " patient_is " AND type = 'confirmation'" \
	" AND NOT deleted" \
	" AND json_extract(CAST(state AS TEXT), '$.fields.record') = ?2" \
	" AND json_extract(CAST(state AS TEXT), '$.fields.change') = ?3" \
	" ORDER BY rowid LIMIT 1"
	if ((err = chs_store__prepare(s, &st, t->patient[0] ? FIND_CONFIRMATION("= ?1")
							    : FIND_CONFIRMATION("IS NULL"))) < 0)
		return err;
#undef FIND_CONFIRMATION
	if ((t->patient[0] && chs_util__parse_id(pid, t->patient) == 0 &&
	     (err = chs_store__bind_blob(s, st, 1, pid, 16)) < 0) ||
	    (err = chs_store__bind_text(s, st, 2, t->hex)) < 0 ||
	    (err = chs_store__bind_text(s, st, 3, t->heads.ptr)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16) {
		memcpy(f->conf, sqlite3_column_blob(st, 0), 16);
		if (sqlite3_column_text(st, 1))
			f->note = chs_util__strdup((const char *)sqlite3_column_text(st, 1));
		f->yes = 1;
		/* the note from the confirmation's clinical companion */
		err = chs_records__clinical_text(s, "confirmation", f->conf, "note", &f->note);
	} else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		err = chs_store__sqlerr(s, rc, "reading confirmations");
	}
done:
	chs_store__finish(s, st);
	return err;
}

/* Who confirmed `t` at its current version: the changes of the
 * confirmation record (`*n` is 0 when it waits, and for a record that is
 * removed or not a chart entry) and its note in `f`. */
static int confirmed_by(chs_store *s, const target *t, found *f,
			chs_change ***changes, size_t *n)
{
	int err;

	*changes = NULL;
	*n = 0;
	memset(f, 0, sizeof(*f));
	if (t->deleted || !confirmable(t->type))
		return 0;
	if ((err = find_confirmation(s, t, f)) < 0 || !f->yes)
		return err;
	return chs_records__load_changes(s, f->conf, changes, n);
}

/* Read `id`'s row into `t` and who confirmed it at its current version:
 * the confirmation's changes (`*n` is 0 when it waits), its note in `f`
 * and its time in `when`. */
static int load_confirmation(chs_store *s, const char *id, target *t, found *f,
			     chs_change ***changes, size_t *n, char when[32], char hex[33])
{
	int err;

	*changes = NULL;
	*n = 0;
	memset(f, 0, sizeof(*f));
	if ((err = load_target(s, id, t)) < 0 ||
	    (err = confirmed_by(s, t, f, changes, n)) < 0 || *n == 0)
		return err;
	chs_util__hlc_time((*changes)[0]->hlc, when);
	chs_hex(hex, f->conf, 16);
	return 0;
}

void chs_confirmation_free(chs_confirmation *c)
{
	if (!c)
		return;
	free((char *)c->by);
	free((char *)c->terminal);
	free((char *)c->time);
	free((char *)c->note);
	free((char *)c->change);
	free((char *)c->confirmation);
	free(c);
}

/* A copy of the strings, NULL ones as "" but for the note. */
static int confirmation_new(chs_confirmation **out, const char *by, const char *terminal,
			    const char *time, const char *note, const char *change,
			    const char *confirmation)
{
	chs_confirmation *c = chs_calloc(1, sizeof(*c));

	*out = c;
	if (!c)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	c->by = chs_util__strdup(by ? by : "");
	c->terminal = chs_util__strdup(terminal ? terminal : "");
	c->time = chs_util__strdup(time);
	c->note = note ? chs_util__strdup(note) : NULL;
	c->change = chs_util__strdup(change);
	c->confirmation = chs_util__strdup(confirmation);
	if (c->by && c->terminal && c->time && (c->note || !note) && c->change &&
	    c->confirmation)
		return 0;
	chs_confirmation_free(c);
	*out = NULL;
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

int chs_record_confirmation(chs_confirmation **out, chs_store *s, const char *id)
{
	chs_change **changes = NULL;
	size_t n = 0;
	char when[32], hex[33];
	target t;
	found f;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	memset(&t, 0, sizeof(t));
	chs_buf_init(&t.heads, 0);
	if ((err = load_confirmation(s, id, &t, &f, &changes, &n, when, hex)) == 0 && n > 0)
		err = confirmation_new(out, changes[0]->user, changes[0]->terminal, when, f.note,
				       t.heads.ptr, hex);
	chs_records__changes_free(changes, n);
	free(f.note);
	target_dispose(&t);
	return err;
}

int chs_records__confirm_record(chs_store *s, chs_record *r)
{
	chs_change **changes = NULL;
	size_t n = 0;
	char when[32], hex[33];
	target t;
	found f;
	int err;

	memset(&t, 0, sizeof(t));
	chs_buf_init(&t.heads, 0);
	if ((err = load_confirmation(s, chs_record_id(r), &t, &f, &changes, &n, when,
				     hex)) == 0 && n > 0)
		err = chs_records__record_confirmed(r, changes[0]->user, changes[0]->terminal,
						    when, f.note, t.heads.ptr, hex);
	chs_records__changes_free(changes, n);
	free(f.note);
	target_dispose(&t);
	return err;
}

/* ------------------------------------------------------------------ */
/* Confirming                                                           */

/* A second pair of eyes: nobody confirms a version they wrote. */
static int check_not_own(chs_store *s, const target *t)
{
	chs_change *c = NULL;
	size_t i;
	int err = 0;

	for (i = 0; i < t->nheads && err == 0; i++) {
		char when[32];

		if ((err = chs_records__load_change(s, t->head_ids[i], &c)) < 0)
			break;
		chs_util__hlc_time(c->hlc, when);
		if (c->user && strcmp(c->user, chs_store_user(s)) == 0)
			err = chs_error_set(CHS_EDENIED,
					    "you made the last change to %s %s (%s): a colleague"
					    " must confirm it; nothing was confirmed",
					    t->type, t->hex, when);
		chs_change_free(c);
	}
	return err;
}

static int check_confirmable(chs_store *s, const target *t)
{
	if (!confirmable(t->type))
		return chs_error_set(CHS_EINVALID,
				     "%s %s is not a chart entry: only chart entries are confirmed;"
				     " nothing was confirmed", t->type, t->hex);
	if (t->deleted)
		return chs_error_set(CHS_EINVALID, "%s %s was removed; nothing was confirmed",
				     t->type, t->hex);
	if (t->review)
		return chs_error_set(CHS_EREVIEW,
				     "%s %s is under review (edited two ways at once): settle it with"
				     " 'chartsync review resolve' before confirming it; nothing was confirmed",
				     t->type, t->hex);
	return check_not_own(s, t);
}

static int confirm_one(chs_writer *w, const char *prefix, const char *note,
		       size_t *added)
{
	const chs_type_def *ct = chs_schema_type("confirmation");
	chs_edit e[3] = { { "record", NULL, 0, 0 }, { "change", NULL, 0, 0 },
			  { "note", note, 0, 0 } };
	unsigned char id[16];
	chs_change *c = NULL;
	target t;
	found f;
	int err;

	memset(&t, 0, sizeof(t));
	chs_buf_init(&t.heads, 0);
	memset(&f, 0, sizeof(f));
	if ((err = load_target(w->s, prefix, &t)) < 0 ||
	    (err = check_confirmable(w->s, &t)) < 0 ||
	    (err = find_confirmation(w->s, &t, &f)) < 0 || f.yes)
		goto done; /* confirmed already at this version: nothing to add */
	e[0].value = t.hex;
	e[1].value = t.heads.ptr;
	chs_random(id, sizeof(id));
	if ((err = chs_records__new_record(w->s, ct, id, e, note && *note ? 3 : 2,
					   t.patient[0] ? t.patient : NULL, NULL, &c)) < 0 ||
	    (err = chs_records__writer_put(w, c)) < 0)
		goto done;
	(*added)++;
done:
	free(f.note);
	target_dispose(&t);
	return err;
}

int chs_record_confirm(chs_store *s, const char *const *ids, size_t n,
		       const char *note, size_t *added)
{
	size_t i, count = 0;
	chs_writer w;
	int err = 0;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(ids || n == 0);

	if (added)
		*added = 0;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	if (n == 0)
		return chs_error_set(CHS_EINVALID, "no record to confirm");
	if ((err = chs_records__writer_begin(&w, s)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++)
		err = confirm_one(&w, ids[i], note, &count);
	if (err < 0) {
		chs_records__writer_abort(&w);
		return err;
	}
	if ((err = chs_records__writer_commit(&w)) < 0)
		return err;
	if (added)
		*added = count;
	return 0;
}

/* ------------------------------------------------------------------ */
/* What still waits                                                     */

/* The last change of a listed record (its first head): who and when. */
static int last_change(chs_store *s, chs_record *r, const unsigned char *heads,
		       size_t len)
{
	chs_change *c = NULL;
	char when[32];
	int err;

	if (len < CHS_CHANGE_ID_BYTES)
		return 0;
	if ((err = chs_records__load_change(s, heads, &c)) < 0)
		return err == CHS_ENOTFOUND ? 0 : err;
	chs_util__hlc_time(c->hlc, when);
	err = chs_records__record_changed(r, when, c->user);
	chs_change_free(c);
	return err;
}

/* The row of SELECT id, type, state, review, heads as a record in `l`. */
static int unconfirmed_row(chs_store *s, sqlite3_stmt *st, chs_record_list *l)
{
	const chs_type_def *t;
	chs_record *r = NULL;
	int err;

	if (sqlite3_column_bytes(st, 0) != 16)
		return chs_error_set(CHS_EDAMAGED, "a record's id is damaged");
	/* a clinical companion is confirmed with its record, whose every
	 * save that touches the companion is a change of its own too */
	t = chs_schema_type((const char *)sqlite3_column_text(st, 1));
	if (t && (t->flags & CHS_TYPE_COMPANION))
		return 0;
	if ((err = chs_records__record_from_row(&r, sqlite3_column_blob(st, 0),
			(const char *)sqlite3_column_text(st, 1), 0, sqlite3_column_int(st, 3),
			sqlite3_column_blob(st, 4), (size_t)sqlite3_column_bytes(st, 4),
			sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2))) < 0 ||
	    (err = chs_records__clinical_record(s, r)) < 0) {
		chs_record_free(r);
		return err;
	}
	if ((err = last_change(s, r, sqlite3_column_blob(st, 4),
			       (size_t)sqlite3_column_bytes(st, 4))) < 0 ||
	    (err = chs_records__record_list_add(l, r)) < 0)
		chs_record_free(r);
	return err;
}

/* Every live chart entry whose current heads no confirmation names. The
 * confirmations are read once into SQLite's ephemeral index for NOT IN. */
int chs_record_list_unconfirmed(chs_record_list **out, chs_store *s,
				const char *patient)
{
	chs_record_list *l = NULL;
	unsigned char pid[16];
	sqlite3_stmt *st = NULL;
	char hex[33];
	int err, rc = SQLITE_DONE;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	if (patient) {
		/* a merged patient's chart is the one it was merged into */
		if ((err = chs_record_follow(s, patient, hex, NULL)) < 0)
			return err;
		chs_util__parse_id(pid, hex);
	}
	/* One patient's chart, and its confirmations, through the patient
	 * index (confirmations link to the patient of what they confirm). */
#define UNCONFIRMED(chart, confirmations) \
	"SELECT id, type, state, review, heads FROM records WHERE NOT deleted" \
	" AND type NOT IN ('confirmation', 'audit', 'fee')" chart \
	" AND lower(hex(id)) || ':' || lower(hex(heads)) NOT IN" \
	" (SELECT json_extract(CAST(state AS TEXT), '$.fields.record') || ':' ||" \
	"  replace(json_extract(CAST(state AS TEXT), '$.fields.change'), ',', '')" \
	"  FROM records WHERE" confirmations " type = 'confirmation' AND NOT deleted)" \
	" ORDER BY rowid"
	if ((err = chs_records__record_list_new(&l)) < 0 ||
	    (err = chs_store__prepare(s, &st, patient
		     ? UNCONFIRMED(" AND (patient = ?1 OR id = ?1)", " patient = ?1 AND")
		     : UNCONFIRMED("", ""))) < 0)
		goto done;
#undef UNCONFIRMED
	if (patient && (err = chs_store__bind_blob(s, st, 1, pid, 16)) < 0)
		goto done;
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		err = unconfirmed_row(s, st, l);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "listing unconfirmed records");
done:
	chs_store__finish(s, st);
	if (err < 0)
		chs_record_list_free(l);
	else
		*out = l;
	return err;
}
