/*
 * client/identity/distinct.c - "not the same person": the archivist's
 * mark that silences a pair in the duplicates report, at every site the
 * mark reaches (it is the pair's verdict record, link.c, so it syncs and
 * converges like a merge's).
 */
#include "identity_int.h"

#include <stdio.h>
#include <string.h>

#include "client/text/text.h"
#include "client/util/util.h"

#define NOTE_MAX 1000 /* characters: the patient_link note's limit (schema.c) */

/* Resolve `prefix` to a patient on file: CHS_EINVALID for a record that
 * is not one, or a removed one. `into` is the patient it was merged
 * into, "" when none. */
static int patient_of(chs_store *s, const char *prefix, char hex[33], unsigned char id[16],
		      char into[33])
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	into[0] = '\0';
	if ((err = chs_record_resolve(s, prefix, hex)) < 0)
		return err;
	chs_util__parse_id(id, hex);
	if ((err = chs_store__prepare(s, &st, "SELECT type, deleted, merged_into FROM records"
					      " WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, id, 16)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		err = chs_store__sqlerr(s, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
					"reading a patient");
		goto done;
	}
	if (sqlite3_column_bytes(st, 2) == 16)
		chs_hex(into, sqlite3_column_blob(st, 2), 16);
	if (strcmp((const char *)sqlite3_column_text(st, 0), "patient") != 0)
		err = chs_error_set(CHS_EINVALID, "record %s is a %s, not a patient: give two"
				    " patients", hex, sqlite3_column_text(st, 0));
	else if (sqlite3_column_int(st, 1))
		err = chs_error_set(CHS_EINVALID, "patient %s is removed: give two patients"
				    " on file", hex);
done:
	chs_store__finish(s, st);
	return err;
}

/* Write the verdict in save `w`; *wrote 0 when it already stands. */
static int mark(chs_writer *w, const char *a, const char *b, const char *note, int clear,
		int *wrote)
{
	unsigned char ia[16], ib[16];
	char ha[33], hb[33], into_a[33], into_b[33];
	const char *verdict = clear ? CHS_VERDICT_OPEN : CHS_VERDICT_DISTINCT;
	chs_identity__link l;
	int err;

	*wrote = 0;
	if ((err = patient_of(w->s, a, ha, ia, into_a)) < 0 ||
	    (err = patient_of(w->s, b, hb, ib, into_b)) < 0)
		return err;
	if (strcmp(ha, hb) == 0)
		return chs_error_set(CHS_EINVALID, "'%s' and '%s' are one patient (%s): give two"
				     " patients", a, b, ha);
	if ((err = chs_identity__link_load(w->s, ia, ib, &l)) < 0)
		return err;
	if (strcmp(l.verdict, CHS_VERDICT_MERGED) == 0)
		return chs_error_set(CHS_EEXISTS, "patients %s and %s are merged (%s kept):"
				     " unmerge them first with 'chartsync patient unmerge %s %s'",
				     ha, hb, l.keep, l.keep, l.other);
	/* merged into a third patient: its chart is there now, and so is
	 * the mark's place (a mark may still be taken back) */
	if (!clear && (into_a[0] || into_b[0]))
		return chs_error_set(CHS_EINVALID, "patient %s was merged into %s: mark %s instead",
				     into_a[0] ? ha : hb, into_a[0] ? into_a : into_b,
				     into_a[0] ? into_a : into_b);
	/* the verdict already stands, and no note to add: nothing to sign */
	if (!l.review && !note &&
	    (clear ? !l.found || strcmp(l.verdict, CHS_VERDICT_OPEN) == 0
		   : strcmp(l.verdict, verdict) == 0))
		return 0;
	*wrote = 1;
	return chs_identity__link_put(w, &l, ia, ib, verdict, NULL, NULL, note);
}

int chs_patient_distinct(chs_store *s, const char *a, const char *b, const char *note,
			 int clear)
{
	chs_writer w;
	int err, wrote = 0;

	CHS_ASSERT_ARG(s && a && b);

	if ((err = chs_identity__may_decide(s, clear ? "take back a \"not the same person\" mark"
						      : "mark two patients \"not the same person\"")) < 0)
		return err;
	if (note && (err = chs_text_check(note, strlen(note), CHS_TEXT_LINE, NOTE_MAX,
					  "the note")) < 0)
		return err;
	if ((err = chs_records__writer_begin(&w, s)) < 0)
		return err;
	if ((err = mark(&w, a, b, note, clear, &wrote)) < 0 || !wrote) {
		chs_records__writer_abort(&w);
		return err;
	}
	return chs_records__writer_commit(&w);
}
