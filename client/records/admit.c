/*
 * The admission rule for access events (and the archive's events,
 * CHS_ARCHIVE_EVENT_TYPE) that arrive by sync: an event is
 * created once, by its only change, and never edited, removed or
 * re-created. Applying a received batch runs it before any of the batch's
 * changes are stored, so a forged edit of the audit trail is refused
 * whole and names the device that sent it.
 */
#include "records_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the store holds of a record, asked once for all of its changes in
 * a batch: whether it holds any change of it (all that a record new to
 * the store costs, one index probe: the CASEs run their subqueries only
 * for a record it knows), and then its stored type ("" when it has no
 * state yet) and whether it holds a change other than `change`. */
typedef struct held {
	int known, other;
	char type[16];
} held;

static int ask_record(chs_store *s, const unsigned char rec[16], const unsigned char change[32],
		      held *h)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	memset(h, 0, sizeof(*h));
	if ((err = chs_store__prepare(s, &st,
		     "SELECT k, CASE WHEN k THEN (SELECT type FROM records WHERE id = ?1) END,"
		     " CASE WHEN k THEN EXISTS (SELECT 1 FROM changes WHERE record = ?1"
		     " AND id <> ?2) END"
		     " FROM (SELECT EXISTS (SELECT 1 FROM changes WHERE record = ?1) AS k)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, rec, 16)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, change, 32)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		h->known = sqlite3_column_int(st, 0);
		if (sqlite3_column_type(st, 1) == SQLITE_TEXT)
			snprintf(h->type, sizeof(h->type), "%s", sqlite3_column_text(st, 1));
		h->other = sqlite3_column_int(st, 2);
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

/* An access event in a batch: created once, by its only change. What the
 * store holds of its record is `h`, asked for the record's first change
 * in the batch; for an event that is not that change, whether the store
 * holds another change is asked again (an event with two changes in one
 * batch is refused below anyway, so this is rare). The scan of the batch
 * itself is needed only when it holds events (`naudit`). */
static int admit_change(chs_store *s, const chs_batch *b, size_t i, size_t naudit,
			const held *h, int asked_for_this)
{
	const chs_change *c = b->changes[i];
	int is_audit = is_event(c->type), other = h->other, err;
	held again;
	size_t k;

	if (is_event(h->type) && !is_audit)
		return refuse(b, c, "edits");
	if (is_audit && h->known && !asked_for_this) {
		if ((err = ask_record(s, c->record, c->id, &again)) < 0)
			return err;
		other = again.other;
	}
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

int chs_records__audit_admit(chs_store *s, const chs_batch *b, const size_t *first_of,
			     unsigned char *known)
{
	held *h = NULL;
	size_t i, naudit = 0;
	int err = 0;

	for (i = 0; i < b->nchanges; i++) {
		const chs_change *c = b->changes[i];

		if (!is_event(c->type))
			continue;
		if (c->op != CHS_OP_CREATE)
			return refuse(b, c, c->op == CHS_OP_DELETE ? "removes" : "edits");
		naudit++;
	}
	if (!(h = chs_calloc(b->nchanges + 1, sizeof(*h))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	/* a record's first change comes before its others: asked first */
	for (i = 0; i < b->nchanges && err == 0; i++) {
		size_t first = first_of[i];

		assert(first <= i);
		if (first == i)
			err = ask_record(s, b->changes[i]->record, b->changes[i]->id, &h[i]);
		else
			h[i] = h[first];
		if (err == 0) {
			known[i] = (unsigned char)h[i].known;
			err = admit_change(s, b, i, naudit, &h[i], first == i);
		}
	}
	free(h);
	return err;
}
