/*
 * The access audit: every opening of a patient's data is an `audit`
 * record, a signed change like any other, written by chartsync itself and
 * never edited or removed.
 *
 * Who opened what is the change's own user (the name whose passphrase
 * opened the store) and terminal, so an event cannot name anyone else.
 * One event per command: the record asked for, every record whose
 * content was shown, the patient, the action, the start (UTC, to the
 * millisecond) and the duration.
 *
 * A look at a chart that is not recorded is not acceptable in a clinic:
 * the audited views below write the event before they hand anything back
 * (so a failure to record it fails the command and shows nothing), and
 * where the content must be shown first (a chart in the pager, an
 * attachment's bytes) they first check that the store takes writes now.
 * The event waits for another writer up to the store's busy timeout.
 *
 * Append-only across sites: a batch arriving by sync that edits, removes
 * or re-creates an access event is refused whole (CHS_EDENIED), and sync
 * reports it like a batch that fails a check.
 */
#include "audit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACTION_MAX 32 /* bytes */

struct chs_access {
	char action[ACTION_MAX];
	unsigned char (*ids)[16]; /* records shown; ids[0] is the one asked for */
	size_t n, cap;
	char patient[33];         /* "" when none */
	int64_t start_ms;         /* wall clock */
	struct timespec t0;       /* monotonic, for the duration */
	int64_t duration_ms;      /* -1 until chs_access_end() */
};

int64_t chs_audit_now_ms(void)
{
	return (int64_t)chs_hlc_wall_ms();
}

/* ------------------------------------------------------------------ */
/* Writing an event                                                     */

static int set_ids(chs_change *c, const unsigned char (*ids)[16], size_t n)
{
	chs_buf v;
	size_t i;
	char hex[33];
	int err = 0;

	chs_buf_init(&v, 0);
	err = chs_buf_puts(&v, "[");
	for (i = 0; i < n && err == 0; i++) {
		chs_hex(hex, ids[i], 16);
		err = chs_buf_printf(&v, "%s\"%s\"", i ? "," : "", hex);
	}
	if (err == 0 && (err = chs_buf_puts(&v, "]")) == 0)
		err = chs_change_set(c, "records", v.ptr);
	chs_buf_dispose(&v);
	return err;
}

/* The create change of a new access event (stamped by the writer). */
static int event_change(const char *action, const unsigned char (*records)[16],
			size_t n, const char *patient, int64_t start_ms,
			int64_t duration_ms, chs_change **out)
{
	chs_change *c = NULL;
	char when[32], hex[33], num[24];
	int err;

	if ((err = chs_change_new(&c)) < 0)
		return err;
	chs_random(c->record, 16);
	c->op = CHS_OP_CREATE;
	chs_util__ms_time(start_ms, when);
	snprintf(num, sizeof(num), "%lld", (long long)(duration_ms < 0 ? 0 : duration_ms));
	if (!(c->type = chs_util__strdup(CHS_AUDIT_TYPE)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	if (err == 0 && (err = chs_change_set_string(c, "action", action)) == 0 &&
	    (err = chs_change_set_string(c, "start", when)) == 0 &&
	    (err = chs_change_set(c, "duration_ms", num)) == 0 && n > 0) {
		chs_hex(hex, records[0], 16);
		if ((err = chs_change_set_string(c, "record", hex)) == 0)
			err = set_ids(c, records, n);
	}
	if (err == 0 && patient && *patient)
		err = chs_change_set_string(c, CHS_FIELD_PATIENT, patient);
	if (err < 0) {
		chs_change_free(c);
		return err;
	}
	*out = c;
	return 0;
}

/* A patient given as a full id is taken as it is (it may be a record this
 * store cannot read); a prefix must name a record here. */
static int patient_id(chs_store *s, const char *patient, char hex[33])
{
	unsigned char bin[16];

	hex[0] = '\0';
	if (!patient || !*patient)
		return 0;
	if (chs_util__parse_id(bin, patient) == 0) {
		chs_hex(hex, bin, 16);
		return 0;
	}
	return chs_record_resolve(s, patient, hex);
}

int chs_audit__write(chs_store *s, const char *action,
		     const unsigned char (*records)[16], size_t n,
		     const char *patient, int64_t start_ms, int64_t duration_ms)
{
	chs_change *c = NULL;
	chs_writer w;
	char pat[33];
	int err;

	if (!action || !*action || strlen(action) >= ACTION_MAX)
		return chs_error_set(CHS_EINVALID, "an access event needs a short action name");
	if ((err = patient_id(s, patient, pat)) < 0 ||
	    (err = event_change(action, records, n, pat, start_ms, duration_ms, &c)) < 0)
		return err;
	if ((err = chs_records__writer_begin(&w, s)) < 0) {
		chs_change_free(c);
		return chs_error_wrap(err, "this access could not be recorded");
	}
	if ((err = chs_records__writer_put(&w, c)) < 0) {
		chs_records__writer_abort(&w);
		return chs_error_wrap(err, "this access could not be recorded");
	}
	if ((err = chs_records__writer_commit(&w)) < 0)
		return chs_error_wrap(err, "this access could not be recorded");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Access handles                                                       */

int chs_audit__access_begin(chs_access **out, const char *action)
{
	chs_access *a = chs_calloc(1, sizeof(*a));

	*out = NULL;
	if (!a)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	snprintf(a->action, sizeof(a->action), "%s", action);
	a->start_ms = chs_audit_now_ms();
	clock_gettime(CLOCK_MONOTONIC, &a->t0);
	a->duration_ms = -1;
	*out = a;
	return 0;
}

int chs_audit__access_add(chs_access *a, const unsigned char id[16])
{
	int err = CHS_ARRAY_GROW(a->ids, a->cap, a->n + 1);

	if (err < 0)
		return err;
	memcpy(a->ids[a->n++], id, 16);
	return 0;
}

void chs_audit__access_patient(chs_access *a, const unsigned char id[16])
{
	chs_hex(a->patient, id, 16);
}

void chs_access_free(chs_access *a)
{
	if (!a)
		return;
	free(a->ids);
	free(a);
}

void chs_access_end(chs_access *a)
{
	struct timespec now;

	if (!a || a->duration_ms >= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	a->duration_ms = (int64_t)(now.tv_sec - a->t0.tv_sec) * 1000 +
			 (now.tv_nsec - a->t0.tv_nsec) / 1000000;
}

int chs_access_write(chs_store *s, chs_access *a)
{
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(a);

	chs_access_end(a);
	err = chs_audit__write(s, a->action, (const unsigned char (*)[16])a->ids, a->n,
			       a->patient, a->start_ms, a->duration_ms);
	if (err == 0)
		chs_access_free(a);
	return err;
}

int chs_access_close(chs_store *s, chs_access *a)
{
	int err;

	CHS_ASSERT_ARG(s);

	if (!a)
		return 0;
	if ((err = chs_access_write(s, a)) < 0)
		chs_access_free(a);
	return err;
}

/* Check that the store takes a write now (the writer lock within the busy
 * timeout, a write transaction, a role that may write events), before
 * content is shown that cannot be taken back. */
int chs_audit__probe(chs_store *s)
{
	chs_writer w;
	int err;

	if ((err = chs_records__writer_begin(&w, s)) < 0)
		return chs_error_wrap(err, "this access could not be recorded, so nothing is shown");
	chs_records__writer_abort(&w);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Audited views                                                        */

/* The patient a record belongs to (itself for a patient); 0 if none. */
static int record_patient(chs_store *s, const unsigned char rec[16], unsigned char out[16])
{
	sqlite3_stmt *st = NULL;
	int err, rc, found = 0;

	if ((err = chs_store__prepare(s, &st,
		     "SELECT type, patient FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, rec, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (strcmp((const char *)sqlite3_column_text(st, 0), "patient") == 0) {
			memcpy(out, rec, 16);
			found = 1;
		} else if (sqlite3_column_bytes(st, 1) == 16) {
			memcpy(out, sqlite3_column_blob(st, 1), 16);
			found = 1;
		}
	}
	chs_store__finish(s, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return chs_store__sqlerr(s, rc, "reading a record");
	return found;
}

/* An access to one record and its patient. */
static int access_one(chs_store *s, const char *action, const char *id, chs_access **out)
{
	unsigned char rec[16], pat[16];
	char hex[33];
	int err;

	*out = NULL;
	if ((err = chs_record_resolve(s, id, hex)) < 0)
		return err;
	chs_util__parse_id(rec, hex);
	if ((err = chs_audit__access_begin(out, action)) < 0)
		return err;
	if ((err = chs_audit__access_add(*out, rec)) < 0 ||
	    (err = record_patient(s, rec, pat)) < 0) {
		chs_access_free(*out);
		*out = NULL;
		return err;
	}
	if (err == 1)
		chs_audit__access_patient(*out, pat);
	return 0;
}

/* Fetch with `fetch` (which fills *out), then record the access; nothing
 * comes back unless it was recorded. */
static int audited_one(chs_store *s, const char *action, const char *id,
		       int (*fetch)(void **out, chs_store *s, const char *id),
		       void (*drop)(void *obj), void **out)
{
	chs_access *a = NULL;
	void *obj = NULL;
	int err;

	*out = NULL;
	if ((err = access_one(s, action, id, &a)) < 0)
		return err;
	if ((err = fetch(&obj, s, id)) < 0) {
		chs_access_free(a);
		return err;
	}
	if ((err = chs_access_close(s, a)) < 0) {
		drop(obj);
		return err;
	}
	*out = obj;
	return 0;
}

static int fetch_record(void **out, chs_store *s, const char *id)
{
	chs_record *r = NULL;
	int err = chs_record_lookup(&r, s, id);

	*out = r;
	return err;
}

static int fetch_history(void **out, chs_store *s, const char *id)
{
	chs_history *h = NULL;
	int err = chs_record_history(&h, s, id);

	*out = h;
	return err;
}

static void drop_record(void *r)
{
	chs_record_free(r);
}

static void drop_history(void *h)
{
	chs_history_free(h);
}

int chs_access_show_exact(chs_record **out, chs_store *s, const char *id)
{
	void *r = NULL;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	err = audited_one(s, "show", id, fetch_record, drop_record, &r);
	*out = r;
	return err;
}

int chs_access_show(chs_record **out, chs_store *s, const char *id)
{
	char hex[33];
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	/* a merged patient's chart is the one it was merged into: that is
	 * what is shown, and what the event names */
	if ((err = chs_record_follow(s, id, hex, NULL)) < 0)
		return err;
	return chs_access_show_exact(out, s, hex);
}

int chs_access_log(chs_history **out, chs_store *s, const char *id)
{
	void *h = NULL;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	err = audited_one(s, "log", id, fetch_history, drop_history, &h);
	*out = h;
	return err;
}

/* Every record of a list, but `skip`, into the access. */
static int add_listed(chs_access *a, const chs_record_list *l, const unsigned char skip[16])
{
	unsigned char id[16];
	size_t i;
	int err = 0;

	for (i = 0; i < chs_record_list_count(l) && err == 0; i++) {
		const char *hex = chs_record_id(chs_record_list_get(l, i));

		if (chs_util__parse_id(id, hex) == 0 && memcmp(id, skip, 16) != 0)
			err = chs_audit__access_add(a, id);
	}
	return err;
}

int chs_access_list(chs_record_list **out, chs_store *s, const char *type,
		    const char *patient)
{
	chs_record_list *l = NULL;
	unsigned char pid[16];
	chs_access *a = NULL;
	char hex[33];
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	if (!patient)
		return chs_record_query(out, s, type, NULL);
	/* a merged patient's records are on the chart it was merged into */
	if ((err = chs_record_follow(s, patient, hex, NULL)) < 0)
		return err;
	chs_util__parse_id(pid, hex);
	if ((err = chs_audit__access_begin(&a, "ls")) < 0)
		return err;
	chs_audit__access_patient(a, pid);
	/* the patient asked for comes first, then what was listed */
	if ((err = chs_audit__access_add(a, pid)) < 0 ||
	    (err = chs_record_query(&l, s, type, hex)) < 0 ||
	    (err = add_listed(a, l, pid)) < 0) {
		chs_access_free(a);
		chs_record_list_free(l);
		return err;
	}
	if ((err = chs_access_close(s, a)) < 0) {
		chs_record_list_free(l);
		return err;
	}
	*out = l;
	return 0;
}

int chs_access_cat(chs_store *s, const char *id, int fd)
{
	chs_access *a = NULL;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	if ((err = access_one(s, "cat", id, &a)) < 0)
		return err;
	if ((err = chs_audit__probe(s)) < 0 ||
	    (err = chs_attachment_cat(s, id, fd)) < 0) {
		chs_access_free(a);
		return err;
	}
	return chs_access_close(s, a);
}

/* ------------------------------------------------------------------ */
/* A page a person keeps open                                          */

int chs_access_begin(chs_access **out, chs_store *s, const char *action)
{
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(action);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0 || (err = chs_audit__probe(s)) < 0)
		return err;
	return chs_audit__access_begin(out, action);
}

/* Add record `hex` to `a`. The event names a patient only when every
 * record it names belongs to that one: the first record's patient, kept
 * while each one after it has the same. */
static int add_shown(chs_store *s, chs_access *a, const char *hex)
{
	unsigned char rec[16], pat[16];
	char phex[33];
	int err;
	size_t i;

	if (chs_util__parse_id(rec, hex) < 0)
		return chs_error_set(CHS_EINVALID, "'%.40s' is not a record id", hex);
	/* a page may show a record twice (its fields, then its history) */
	for (i = 0; i < a->n; i++)
		if (memcmp(a->ids[i], rec, 16) == 0)
			return 0;
	if ((err = chs_audit__access_add(a, rec)) < 0)
		return err;
	if (a->n > 1 && a->patient[0] == '\0')
		return 0; /* no one patient already */
	if ((err = record_patient(s, rec, pat)) < 0)
		return err;
	if (err == 0) {
		a->patient[0] = '\0';
		return 0;
	}
	chs_hex(phex, pat, 16);
	if (a->n == 1)
		chs_audit__access_patient(a, pat);
	else if (strcmp(phex, a->patient) != 0)
		a->patient[0] = '\0';
	return 0;
}

/* Fetch record `id` with `fetch` (as audited_one() does) and add it to
 * `a` instead of writing an event of its own; nothing comes back unless
 * it was added. */
static int added_one(chs_access *a, chs_store *s, const char *id,
		     int (*fetch)(void **out, chs_store *s, const char *id),
		     void (*drop)(void *obj), void **out)
{
	void *obj = NULL;
	char hex[33];
	int err;

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0 ||
	    (err = chs_record_resolve(s, id, hex)) < 0 ||
	    (err = fetch(&obj, s, hex)) < 0)
		return err;
	if ((err = add_shown(s, a, hex)) < 0) {
		drop(obj);
		return err;
	}
	*out = obj;
	return 0;
}

int chs_access_add_show(chs_access *a, chs_record **out, chs_store *s, const char *id)
{
	void *r = NULL;
	int err;

	CHS_ASSERT_ARG(a);
	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	err = added_one(a, s, id, fetch_record, drop_record, &r);
	*out = r;
	return err;
}

int chs_access_add_log(chs_access *a, chs_history **out, chs_store *s, const char *id)
{
	void *h = NULL;
	int err;

	CHS_ASSERT_ARG(a);
	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	err = added_one(a, s, id, fetch_history, drop_history, &h);
	*out = h;
	return err;
}

int chs_access_add_ids(chs_access *a, chs_store *s, const char *const *ids, size_t n)
{
	size_t i;
	int err = 0;

	CHS_ASSERT_ARG(a);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(ids || n == 0);

	for (i = 0; i < n && err == 0; i++)
		if (ids[i])
			err = add_shown(s, a, ids[i]);
	return err;
}

int chs_access_add_review(chs_access *a, chs_record_list **out, chs_store *s,
			  chs_access_keep_fn keep, void *arg)
{
	chs_record_list *l = NULL;
	chs_record *r = NULL;
	size_t i;
	int err;

	CHS_ASSERT_ARG(a);
	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if ((err = chs_review_list(&l, s)) < 0)
		return err;
	for (i = 0; i < chs_record_list_count(l) && err >= 0;) {
		const char *id = chs_record_id(chs_record_list_get(l, i));

		if (keep) {
			/* whole, for the caller to judge and show; what it
			 * refuses is not shown, so not named either */
			if ((err = chs_record_lookup(&r, s, id)) < 0 ||
			    (err = keep(r, arg)) < 0)
				break;
			if (err == 0) {
				chs_record_free(r);
				r = NULL;
				err = chs_record_list_replace(l, i, NULL);
				continue;
			}
			if ((err = chs_record_list_replace(l, i, r)) < 0)
				break;
			r = NULL;
			id = chs_record_id(chs_record_list_get(l, i));
		}
		err = add_shown(s, a, id);
		i++;
	}
	if (err < 0) {
		chs_record_free(r);
		chs_record_list_free(l);
		return err;
	}
	*out = l;
	return 0;
}
