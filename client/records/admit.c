/*
 * The admission rule for access events (and the archive's events,
 * CHS_ARCHIVE_EVENT_TYPE) that arrive by sync: an event is
 * created once, by its only change, and never edited, removed or
 * re-created. Applying a received batch runs it before any of the batch's
 * changes are stored, so a forged edit of the audit trail is refused
 * whole and names the device that sent it.
 */
#include "records_int.h"

#include <stdio.h>
#include <string.h>

/* Whether the store holds a change of record `rec`: one index probe,
 * all that a record new to the store costs. */
static int known_record(chs_store *s, const unsigned char rec[16], int *yes)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*yes = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT EXISTS (SELECT 1 FROM changes WHERE record = ?)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, rec, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*yes = sqlite3_column_int(st, 0);
	chs_store__finish(s, st);
	return rc == SQLITE_ROW ? 0 : chs_store__sqlerr(s, rc, "reading a record");
}

/* The stored type of a record the store knows ("" when it has no state
 * yet) and whether it holds a change other than `change`. */
static int stored(chs_store *s, const unsigned char rec[16], const unsigned char change[32],
		  char type[16], int *other)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "SELECT (SELECT type FROM records WHERE id = ?1),"
		     " EXISTS (SELECT 1 FROM changes WHERE record = ?1 AND id <> ?2)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, rec, 16)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, change, 32)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_TEXT)
			snprintf(type, 16, "%s", sqlite3_column_text(st, 0));
		*other = sqlite3_column_int(st, 1);
	}
	chs_store__finish(s, st);
	return rc == SQLITE_ROW ? 0 : chs_store__sqlerr(s, rc, "reading a record");
}

static int is_audit_type(const char *type)
{
	return type && strcmp(type, CHS_AUDIT_TYPE) == 0;
}

/* Access events and the archive's events: created once, never edited. */
static int is_event(const char *type)
{
	return type && (strcmp(type, CHS_AUDIT_TYPE) == 0 ||
			strcmp(type, CHS_ARCHIVE_EVENT_TYPE) == 0);
}

static int refuse(const chs_batch *b, const chs_change *c, const char *what)
{
	char hex[33];

	chs_hex(hex, c->record, 16);
	return chs_error_set(CHS_EDENIED,
			     "a batch from device %s %s %s record %s; refused (%s can never"
			     " be changed; if this repeats, revoke the device)",
			     b->device, what, is_audit_type(c->type) ? "access-audit" : "archive-event",
			     hex, is_audit_type(c->type) ? "access events" : "the archive's events");
}

/* An access event in a batch: created once, by its only change. The scan
 * of the batch itself is needed only when it holds events (`naudit`). */
static int admit_change(chs_store *s, const chs_batch *b, size_t i, size_t naudit,
			unsigned char *known)
{
	const chs_change *c = b->changes[i];
	int is_audit = is_event(c->type);
	char type[16] = "";
	size_t k;
	int yes, other = 0, err;

	if (is_audit && c->op != CHS_OP_CREATE)
		return refuse(b, c, c->op == CHS_OP_DELETE ? "removes" : "edits");
	if ((err = known_record(s, c->record, &yes)) < 0 ||
	    (yes && (err = stored(s, c->record, c->id, type, &other)) < 0))
		return err;
	known[i] = (unsigned char)yes;
	if (is_event(type) && !is_audit)
		return refuse(b, c, "edits");
	if (is_audit && other)
		return refuse(b, c, "re-creates the id of an existing record as");
	for (k = 0; naudit > 0 && k < b->nchanges; k++) {
		const chs_change *d = b->changes[k];

		if (k != i && memcmp(d->record, c->record, 16) == 0 &&
		    memcmp(d->id, c->id, 32) != 0 &&
		    (is_audit || is_event(d->type)))
			return refuse(b, is_audit ? c : d, "edits");
	}
	return 0;
}

int chs_records__audit_admit(chs_store *s, const chs_batch *b, unsigned char *known)
{
	size_t i, naudit = 0;
	int err;

	for (i = 0; i < b->nchanges; i++)
		if (is_event(b->changes[i]->type))
			naudit++;
	for (i = 0; i < b->nchanges; i++)
		if ((err = admit_change(s, b, i, naudit, known)) < 0)
			return err;
	return 0;
}
