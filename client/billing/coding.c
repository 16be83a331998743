/*
 * The coding queue and claims.
 *
 * The queue lives on the encounters themselves (billing compartment):
 * `coding` is "queued" from 'code send' until 'code done', with
 * `coding_sent` (when it was sent, to the millisecond, so the queue's order
 * is the order of sending), then `coding_done` and `coder`. Being fields,
 * they sync to the billing office and merge like any other edit: the
 * queue is the same everywhere once synced.
 *
 * Assigning codes makes ordinary procedure and diagnosis records. A
 * procedure's fee comes from the fee schedule (fees.c); when no
 * line applies the fee is left unset and the coder is warned rather than
 * stopped: the schedule often lags new codes, the queue must not stall
 * behind it, and a fee set later is one 'chartsync set'. The claims export
 * leaves such a fee empty.
 */
#include "billing_int.h"
#include "client/text/text.h"

#include <stdio.h>
#include <ctype.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MODIFIERS_MAX 4
#define CODES_MAX 64 /* diagnoses in one assign */

/* ------------------------------------------------------------------ */
/* Visits                                                               */

typedef struct visit {
	char hex[33];
	unsigned char id[16];
	char patient[33];
	json_t *fields; /* owned */
} visit;

static void visit_dispose(visit *v)
{
	json_decref(v->fields);
	v->fields = NULL;
}

static const char *vfield(const visit *v, const char *name)
{
	return json_string_value(json_object_get(v->fields, name));
}

static int load_visit(chs_store *s, const char *prefix, visit *v)
{
	sqlite3_stmt *st = NULL;
	json_t *state = NULL;
	int err, rc;

	memset(v, 0, sizeof(*v));
	if ((err = chs_record_resolve(s, prefix, v->hex)) < 0)
		return err;
	chs_util__parse_id(v->id, v->hex);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT type, patient, deleted, state FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, v->id, 16)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		err = chs_store__sqlerr(s, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
					"reading a visit");
	} else if (strcmp((const char *)sqlite3_column_text(st, 0), "encounter") != 0) {
		err = chs_error_set(CHS_EINVALID, "'%s' is a %s, not a visit (encounter)",
				    prefix, sqlite3_column_text(st, 0));
	} else if (sqlite3_column_int(st, 2)) {
		err = chs_error_set(CHS_EINVALID, "the visit '%s' was removed", prefix);
	} else {
		if (sqlite3_column_bytes(st, 1) == 16)
			chs_hex(v->patient, sqlite3_column_blob(st, 1), 16);
		state = json_loadb(sqlite3_column_blob(st, 3),
				   (size_t)sqlite3_column_bytes(st, 3), 0, NULL);
		v->fields = json_incref(json_object_get(state, "fields"));
		json_decref(state);
		if (!v->fields)
			err = chs_error_set(CHS_EDAMAGED, "the visit '%s' has no fields", prefix);
	}
done:
	chs_store__finish(s, st);
	return err;
}

static int is_queued(const visit *v)
{
	const char *c = vfield(v, "coding");

	return c && strcmp(c, "queued") == 0;
}

/* Now as ISO 8601 UTC with milliseconds. */
static void now_iso(char out[32])
{
	chs_util__ms_time((int64_t)chs_hlc_wall_ms(), out);
}

/* When a visit is sent: now, but later than the store's last change (its
 * clock, in meta), and the clock moved up to it, so the send's own change
 * is stamped no earlier: two visits sent within one millisecond still
 * queue in the order they were sent (the queue sorts on this stamp). */
static int sent_stamp(chs_store *s, char out[32])
{
	uint64_t ms = chs_hlc_wall_ms();
	int64_t stored = 0;
	chs_hlc clock, at;
	int err = chs_store__get_int(s, "SELECT value FROM meta WHERE key = 'hlc'", &stored);

	if (err < 0)
		return err;
	clock = (chs_hlc)stored > s->clock ? (chs_hlc)stored : s->clock;
	if (clock && ms <= chs_hlc_ms(clock))
		ms = chs_hlc_ms(clock) + 1;
	at = (chs_hlc)ms << CHS_HLC_COUNTER_BITS;
	if (at > s->clock)
		s->clock = at;
	chs_util__ms_time((int64_t)ms, out);
	return 0;
}

int chs_coding_send(chs_store *s, const char *encounter)
{
	chs_edit e[4];
	char now[32];
	size_t n = 0;
	visit v;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(encounter);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	if ((err = load_visit(s, encounter, &v)) < 0)
		goto done;
	if (is_queued(&v)) {
		err = chs_error_set(CHS_EEXISTS, "the visit %s is in the coding queue already"
				    " (sent %s)", v.hex, vfield(&v, "coding_sent") ?
				    vfield(&v, "coding_sent") : "earlier");
		goto done;
	}
	if ((err = sent_stamp(s, now)) < 0)
		goto done;
	e[n++] = (chs_edit){ "coding", "queued", 0, 0 };
	e[n++] = (chs_edit){ "coding_sent", now, 0, 0 };
	/* sent again after coding was done: it is coded afresh */
	if (vfield(&v, "coding_done"))
		e[n++] = (chs_edit){ "coding_done", NULL, 0, 1 };
	if (vfield(&v, "coder"))
		e[n++] = (chs_edit){ "coder", NULL, 0, 1 };
	err = chs_record_set(s, v.hex, e, n);
done:
	visit_dispose(&v);
	return err;
}

static int not_queued(const visit *v)
{
	return chs_error_set(CHS_EINVALID,
			     "the visit %s is not in the coding queue (send it with"
			     " 'chartsync code send %.8s')", v->hex, v->hex);
}

int chs_coding_done(chs_store *s, const char *encounter)
{
	chs_edit e[3];
	char now[32];
	visit v;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(encounter);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	if ((err = load_visit(s, encounter, &v)) < 0)
		goto done;
	if (!is_queued(&v)) {
		err = not_queued(&v);
		goto done;
	}
	now_iso(now);
	e[0] = (chs_edit){ "coding", "done", 0, 0 };
	e[1] = (chs_edit){ "coding_done", now, 0, 0 };
	e[2] = (chs_edit){ "coder", chs_store_user(s), 0, 0 };
	err = chs_record_set(s, v.hex, e, 3);
done:
	visit_dispose(&v);
	return err;
}

/* ------------------------------------------------------------------ */
/* The queue                                                            */

/* The queue's objects own their strings: each is malloc'ed (ids too, so
 * the arrays that hold the structs can move when they grow) and freed
 * here, cast back from the const the public structs show. */

struct chs_coding_list {
	chs_coding_visit **v;
	size_t n, cap;
};

/* A visit being read, with the capacities of its arrays. */
typedef struct qvisit {
	chs_coding_visit pub;
	chs_coding_procedure *procs;
	chs_coding_diagnosis *diags;
	size_t capprocs, capdiags;
} qvisit;

static void visit_free(chs_coding_visit *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->nprocedures; i++) {
		free((char *)v->procedures[i].id);
		free((char *)v->procedures[i].cpt);
		free((char *)v->procedures[i].modifier);
	}
	for (i = 0; i < v->ndiagnoses; i++) {
		free((char *)v->diagnoses[i].id);
		free((char *)v->diagnoses[i].icd);
	}
	free((void *)v->procedures);
	free((void *)v->diagnoses);
	free((char *)v->encounter);
	free((char *)v->patient);
	free((char *)v->name);
	free((char *)v->mrn);
	free((char *)v->date);
	free((char *)v->reason);
	free((char *)v->provider);
	free((char *)v->sent);
	free(v); /* the qvisit it is the first member of */
}

void chs_coding_list_free(chs_coding_list *q)
{
	size_t i;

	if (!q)
		return;
	for (i = 0; i < q->n; i++)
		visit_free(q->v[i]);
	free(q->v);
	free(q);
}

size_t chs_coding_list_count(const chs_coding_list *q)
{
	return q ? q->n : 0;
}

const chs_coding_visit *chs_coding_list_get(const chs_coding_list *q, size_t i)
{
	return q && i < q->n ? q->v[i] : NULL;
}

/* A copy of column `col`'s text into *out, NULL for SQL NULL; `*bad` is
 * set when out of memory. */
static void col_text(sqlite3_stmt *st, int col, const char **out, int *bad)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	*out = NULL;
	if (t && !(*out = chs_util__strdup((const char *)t)))
		*bad = 1;
}

/* A 16-byte id column as 32 hex digits into *out (NULL when it is not one). */
static void col_hex(sqlite3_stmt *st, int col, const char **out, int *bad)
{
	char hex[33];

	*out = NULL;
	if (sqlite3_column_bytes(st, col) != 16)
		return;
	chs_hex(hex, sqlite3_column_blob(st, col), 16);
	if (!(*out = chs_util__strdup(hex)))
		*bad = 1;
}

static int code_row(qvisit *q, sqlite3_stmt *st)
{
	int bad = 0, err;

	if (strcmp((const char *)sqlite3_column_text(st, 1), "procedure") == 0) {
		chs_coding_procedure *p;

		if (q->pub.nprocedures == q->capprocs &&
		    (err = CHS_ARRAY_GROW(q->procs, q->capprocs, q->pub.nprocedures + 1)) < 0)
			return err;
		q->pub.procedures = q->procs;
		p = &q->procs[q->pub.nprocedures++];
		memset(p, 0, sizeof(*p));
		col_hex(st, 0, &p->id, &bad);
		col_text(st, 2, &p->cpt, &bad);
		col_text(st, 3, &p->modifier, &bad);
		if ((p->has_fee = sqlite3_column_type(st, 4) == SQLITE_INTEGER))
			p->fee = sqlite3_column_int64(st, 4);
	} else {
		chs_coding_diagnosis *d;

		if (q->pub.ndiagnoses == q->capdiags &&
		    (err = CHS_ARRAY_GROW(q->diags, q->capdiags, q->pub.ndiagnoses + 1)) < 0)
			return err;
		q->pub.diagnoses = q->diags;
		d = &q->diags[q->pub.ndiagnoses++];
		memset(d, 0, sizeof(*d));
		col_hex(st, 0, &d->id, &bad);
		col_text(st, 5, &d->icd, &bad);
	}
	return bad ? chs_error_set(CHS_ENOMEM, "out of memory") : 0;
}

/* A visit's procedures and diagnoses. */
static int visit_codes(chs_store *s, const unsigned char enc[16], qvisit *q)
{
	sqlite3_stmt *st = NULL;
	int err, rc = SQLITE_DONE;

	if ((err = chs_store__prepare(s, &st,
		     "SELECT id, type, json_extract(j, '$.fields.cpt'),"
		     " json_extract(j, '$.fields.modifier'), json_extract(j, '$.fields.fee'),"
		     " json_extract(j, '$.fields.icd')"
		     " FROM (SELECT id, type, rowid AS r, CAST(state AS TEXT) AS j FROM records"
		     "  WHERE encounter = ? AND NOT deleted AND type IN ('procedure', 'diagnosis'))"
		     " ORDER BY r")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, enc, 16)) == 0) {
		while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
			err = code_row(q, st);
		if (err == 0 && rc != SQLITE_DONE)
			err = chs_store__sqlerr(s, rc, "reading a visit's codes");
	}
	chs_store__finish(s, st);
	return err;
}

/* The patient's name and chart number. */
static int patient_names(chs_store *s, const void *pid, int len, qvisit *q)
{
	sqlite3_stmt *st = NULL;
	int bad = 0, err, rc = SQLITE_DONE;

	if (len != 16)
		return 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT json_extract(j, '$.fields.name'), json_extract(j, '$.fields.mrn')"
		     " FROM (SELECT CAST(state AS TEXT) AS j FROM records WHERE id = ?)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, pid, 16)) == 0 &&
	    (rc = sqlite3_step(st)) == SQLITE_ROW) {
		col_text(st, 0, &q->pub.name, &bad);
		col_text(st, 1, &q->pub.mrn, &bad);
	}
	chs_store__finish(s, st);
	if (err < 0)
		return err;
	if (bad)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
		: chs_store__sqlerr(s, rc, "reading a patient");
}

/* The reason a store shows (companion.c): the clinical companion's at a
 * clinic, none at a billing office. `*reason` is JSON text or NULL. */
static int shown_reason(chs_store *s, const void *id, const char **reason)
{
	json_t *f = json_object(), *v;
	int err;

	if (!f)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (*reason && (v = json_loads(*reason, JSON_DECODE_ANY, NULL)))
		json_object_set_new(f, "reason", v);
	free((char *)*reason);
	*reason = NULL;
	if ((err = chs_records__clinical_fields(s, "encounter", id, f)) == 0 &&
	    (v = json_object_get(f, "reason")) &&
	    !(*reason = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	json_decref(f);
	return err;
}

/* A row of the queue's SELECT as a visit in `l`, with its patient's
 * names and its codes. */
static int queue_row(chs_store *s, sqlite3_stmt *st, chs_coding_list *l)
{
	qvisit *q;
	int bad = 0, err;

	if (sqlite3_column_bytes(st, 0) != 16)
		return chs_error_set(CHS_EDAMAGED, "a visit's id is damaged");
	if (l->n == l->cap && (err = CHS_ARRAY_GROW(l->v, l->cap, l->n + 1)) < 0)
		return err;
	if (!(q = chs_calloc(1, sizeof(*q))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	l->v[l->n++] = &q->pub;
	col_hex(st, 0, &q->pub.encounter, &bad);
	col_hex(st, 1, &q->pub.patient, &bad);
	col_text(st, 2, &q->pub.date, &bad);
	col_text(st, 3, &q->pub.reason, &bad);
	col_text(st, 4, &q->pub.provider, &bad);
	col_text(st, 5, &q->pub.sent, &bad);
	if (bad)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = shown_reason(s, sqlite3_column_blob(st, 0), &q->pub.reason)) < 0)
		return err;
	if ((err = patient_names(s, sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1),
				 q)) < 0)
		return err;
	return visit_codes(s, sqlite3_column_blob(st, 0), q);
}

/* The visit's fields are taken with -> (the JSON text of the value, not
 * the SQL value json_extract() makes of it), so a date comes back as
 * "\"2024-03-15\"", as records.h gives field values. */
int chs_coding_queue(chs_coding_list **out, chs_store *s)
{
	chs_coding_list *l;
	sqlite3_stmt *st = NULL;
	int err, rc = SQLITE_DONE;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	if (!(l = chs_calloc(1, sizeof(*l))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = chs_store__prepare(s, &st,
		     "SELECT id, patient, j -> '$.fields.date', j -> '$.fields.reason',"
		     " j -> '$.fields.provider', j -> '$.fields.coding_sent'"
		     " FROM (SELECT id, patient, rowid AS r,"
		     "  CAST(state AS TEXT) AS j FROM records WHERE type = 'encounter' AND NOT deleted)"
		     " WHERE json_extract(j, '$.fields.coding') = 'queued'"
		     " ORDER BY json_extract(j, '$.fields.coding_sent'), r")) < 0)
		goto done;
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		err = queue_row(s, st, l);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading the coding queue");
done:
	chs_store__finish(s, st);
	if (err < 0)
		chs_coding_list_free(l);
	else
		*out = l;
	return err;
}

/* ------------------------------------------------------------------ */
/* Assigning codes                                                      */

/* Modifiers: two capital letters or digits each (25, 59, LT). */
static int join_modifiers(const chs_coding_assign_opts *o, char out[16])
{
	size_t i, n = 0;

	out[0] = '\0';
	if (o->nmodifiers > MODIFIERS_MAX)
		return chs_error_set(CHS_EINVALID, "at most %d modifiers per procedure",
				     MODIFIERS_MAX);
	for (i = 0; i < o->nmodifiers; i++) {
		const char *m = o->modifiers[i];

		if (strlen(m) != 2 || !isalnum((unsigned char)m[0]) ||
		    !isalnum((unsigned char)m[1]))
			return chs_error_set(CHS_EINVALID,
					     "modifier '%s' is not two letters or digits (expected"
					     " e.g. 25, 59 or LT)", m);
		if (i)
			out[n++] = ',';
		out[n++] = (char)toupper((unsigned char)m[0]);
		out[n++] = (char)toupper((unsigned char)m[1]);
		out[n] = '\0';
	}
	return 0;
}

/* The site whose schedule prices a visit: that of the device that made
 * the visit (NULL outside an organisation). */
static int visit_site(chs_store *s, const visit *v, char **site)
{
	chs_change **changes = NULL;
	size_t n = 0, i;
	int err;

	*site = NULL;
	if ((err = chs_records__load_changes(s, v->id, &changes, &n)) < 0)
		return err;
	for (i = 0; i < n; i++)
		if (changes[i]->op == CHS_OP_CREATE)
			break;
	if (i < n)
		err = chs_store__device_site(s, changes[i]->device, site);
	chs_records__changes_free(changes, n);
	return err;
}

/* What an assign made: the public struct and the arrays it shows. */
typedef struct assignment {
	chs_coding_assignment pub;
	char procedure[33];
	char **diagnoses, **warnings;
	size_t capdiagnoses, capwarnings;
} assignment;

void chs_coding_assignment_free(chs_coding_assignment *a)
{
	assignment *x = (assignment *)a; /* pub is its first member */
	size_t i;

	if (!x)
		return;
	for (i = 0; i < a->ndiagnoses; i++)
		free(x->diagnoses[i]);
	for (i = 0; i < a->nwarnings; i++)
		free(x->warnings[i]);
	free(x->diagnoses);
	free(x->warnings);
	free(x);
}

/* Append `str` (taken, freed on failure) to the array `*arr`. */
static int push_string(char ***arr, size_t *n, size_t *cap, char *str)
{
	int err;

	if (!str)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (*n == *cap && (err = CHS_ARRAY_GROW(*arr, *cap, *n + 1)) < 0) {
		free(str);
		return err;
	}
	(*arr)[(*n)++] = str;
	return 0;
}

static int add_diagnosis(assignment *x, const char *hex)
{
	int err = push_string(&x->diagnoses, &x->pub.ndiagnoses, &x->capdiagnoses,
			      chs_util__strdup(hex));

	x->pub.diagnoses = (const char *const *)x->diagnoses;
	return err;
}

static int warn(assignment *x, const char *fmt, ...) CHS_PRINTF(2, 3);

static int warn(assignment *x, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int err;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	err = push_string(&x->warnings, &x->pub.nwarnings, &x->capwarnings,
			  chs_util__strdup(line));
	x->pub.warnings = (const char *const *)x->warnings;
	return err;
}

static int warn_unknown(chs_store *s, const char *system, const char *label,
			const char *code, assignment *x)
{
	int known, err;

	if ((err = chs_code_known(s, system, code, &known)) < 0)
		return err;
	if (known == 0)
		return warn(x, "%s code %s is not in the imported %s list: check it", label,
			    code, label);
	return 0;
}

static int add_record(chs_writer *w, const char *type, chs_edit *e, size_t n,
		      const visit *v, char hex[33])
{
	unsigned char id[16];
	chs_change *c = NULL;
	int err;

	chs_random(id, sizeof(id));
	if ((err = chs_records__new_record(w->s, chs_schema_type(type), id, e, n, NULL,
					   v->hex, &c)) < 0 ||
	    (err = chs_records__writer_put(w, c)) < 0)
		return err;
	chs_hex(hex, id, 16);
	return 0;
}

typedef struct assign_ctx {
	chs_store *s;
	const visit *v;
	const chs_coding_assign_opts *o;
	assignment *out;
	char *site;
} assign_ctx;

/* Modifiers in a canonical order ("LT,59" and "59, lt" are the same
 * pair), so two procedures compare by what they bill. */
static void modifier_key(const char *in, char out[32])
{
	char tok[MODIFIERS_MAX * 2][4];
	size_t n = 0, i, j, len = 0;

	out[0] = '\0';
	while (in && *in && n < sizeof(tok) / sizeof(tok[0])) {
		size_t k = 0;

		while (*in == ',' || isspace((unsigned char)*in))
			in++;
		while (*in && *in != ',' && !isspace((unsigned char)*in)) {
			if (k < sizeof(tok[0]) - 1)
				tok[n][k++] = (char)toupper((unsigned char)*in);
			in++;
		}
		tok[n][k] = '\0';
		if (k)
			n++;
	}
	for (i = 1; i < n; i++) /* insertion sort: a handful at most */
		for (j = i; j > 0 && strcmp(tok[j - 1], tok[j]) > 0; j--) {
			char t[4];

			memcpy(t, tok[j], sizeof(t));
			memcpy(tok[j], tok[j - 1], sizeof(t));
			memcpy(tok[j - 1], t, sizeof(t));
		}
	for (i = 0; i < n && len + 5 < 32; i++)
		len += (size_t)snprintf(out + len, 32 - len, "%s%s", i ? "," : "", tok[i]);
}

/* A live procedure on the visit that bills `cpt` with the same modifiers,
 * whether an earlier assign or 'chartsync add procedure' made it: assigning
 * it again would put a second line with its fee on the claim. */
static int same_procedure(chs_store *s, const visit *v, const char *cpt, const char *mods,
			  char hex[33])
{
	sqlite3_stmt *st = NULL;
	char want[32], have[32];
	int err, rc;

	hex[0] = '\0';
	modifier_key(mods, want);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT id, json_extract(j, '$.fields.modifier') FROM"
		     " (SELECT id, CAST(state AS TEXT) AS j FROM records WHERE encounter = ?"
		     "  AND type = 'procedure' AND NOT deleted)"
		     " WHERE upper(json_extract(j, '$.fields.cpt')) = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, v->id, 16)) < 0 ||
	    (err = chs_store__bind_text(s, st, 2, cpt)) < 0)
		goto done;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		modifier_key((const char *)sqlite3_column_text(st, 1), have);
		if (strcmp(want, have) == 0 && sqlite3_column_bytes(st, 0) == 16) {
			chs_hex(hex, sqlite3_column_blob(st, 0), 16);
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading a visit's procedures");
done:
	chs_store__finish(s, st);
	return err;
}

static int refuse_twice(const visit *v, const char *cpt, const char *mods, const char *hex)
{
	return chs_error_set(CHS_EEXISTS,
			     "procedure %s%s%s is on visit %.8s already (record %.8s): assigning it"
			     " again would bill it twice; if it really was done again, assign it"
			     " with the modifier that says so (e.g. --modifier 76 for a repeat,"
			     " 59 for a distinct procedure, LT or RT for the other side)",
			     cpt, *mods ? " with modifier " : "", mods, v->hex, hex);
}

static int assign_procedure(assign_ctx *x, chs_writer *w)
{
	char cpt[8], mods[16], cents[24], day[11], hex[33];
	const char *date = vfield(x->v, "date");
	chs_edit e[4];
	int64_t fee = 0;
	size_t n = 0, i;
	int found = 0, err;

	if (!x->o->cpt)
		return 0;
	snprintf(cpt, sizeof(cpt), "%s", x->o->cpt);
	for (i = 0; cpt[i]; i++)
		cpt[i] = (char)toupper((unsigned char)cpt[i]);
	snprintf(day, sizeof(day), "%s", date ? date : "");
	if ((err = join_modifiers(x->o, mods)) < 0 ||
	    (err = same_procedure(x->s, x->v, cpt, mods, hex)) < 0)
		return err;
	if (*hex)
		return refuse_twice(x->v, cpt, mods, hex);
	e[n++] = (chs_edit){ "cpt", x->o->cpt, 0, 0 };
	if (*mods)
		e[n++] = (chs_edit){ "modifier", mods, 0, 0 };
	if (*day)
		e[n++] = (chs_edit){ "date", day, 0, 0 };
	if (chs_schema_valid_cpt(cpt) && *day &&
	    (err = chs_billing__fee_lookup(x->s, cpt, day, x->site, &fee, &found)) < 0)
		return err;
	if (found) {
		snprintf(cents, sizeof(cents), "%lld", (long long)fee);
		e[n++] = (chs_edit){ "fee", cents, 0, 0 };
	}
	if ((err = add_record(w, "procedure", e, n, x->v, hex)) < 0)
		return err;
	memcpy(x->out->procedure, hex, sizeof(hex));
	x->out->pub.procedure = x->out->procedure;
	x->out->pub.has_fee = found;
	x->out->pub.fee = found ? fee : 0;
	if (!found && (err = warn(x->out,
			"the fee schedule has no fee for %s on %s: the procedure's fee is left"
			" unset (import the schedule with 'chartsync fees import', then"
			" 'chartsync set %.8s fee:=CENTS')", cpt,
			*day ? day : "the visit's date", hex)) < 0)
		return err;
	return warn_unknown(x->s, isdigit((unsigned char)cpt[0]) ? "cpt" : "hcpcs",
			    isdigit((unsigned char)cpt[0]) ? "CPT" : "HCPCS", cpt, x->out);
}

/* Whether the visit has a live diagnosis with `icd` (in this save too). */
static int has_diagnosis(chs_store *s, const visit *v, const char *icd, int *yes)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*yes = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT 1 FROM records WHERE encounter = ? AND type = 'diagnosis'"
		     " AND NOT deleted AND json_extract(CAST(state AS TEXT), '$.fields.icd') = ?"
		     " LIMIT 1")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, v->id, 16)) < 0 ||
	    (err = chs_store__bind_text(s, st, 2, icd)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*yes = 1;
	chs_store__finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
		: chs_store__sqlerr(s, rc, "reading a visit's diagnoses");
}

static int assign_diagnoses(assign_ctx *x, chs_writer *w)
{
	size_t i;
	int err = 0;

	for (i = 0; i < x->o->nicd && err == 0; i++) {
		chs_edit e = { "icd", x->o->icd[i], 0, 0 };
		char icd[16], hex[33];
		size_t k;
		int yes;

		snprintf(icd, sizeof(icd), "%s", x->o->icd[i]);
		for (k = 0; icd[k]; k++)
			icd[k] = (char)toupper((unsigned char)icd[k]);
		if ((err = has_diagnosis(x->s, x->v, icd, &yes)) < 0 || yes)
			continue;
		if ((err = add_record(w, "diagnosis", &e, 1, x->v, hex)) < 0 ||
		    (err = add_diagnosis(x->out, hex)) < 0)
			break;
		err = warn_unknown(x->s, "icd10cm", "ICD-10-CM", icd, x->out);
	}
	return err;
}

static int assign_save(assign_ctx *x)
{
	chs_writer w;
	int err;

	if ((err = chs_records__writer_begin(&w, x->s)) < 0)
		return err;
	if ((err = assign_procedure(x, &w)) < 0 || (err = assign_diagnoses(x, &w)) < 0) {
		chs_records__writer_abort(&w);
		return err;
	}
	return chs_records__writer_commit(&w);
}

int chs_coding_assign(chs_coding_assignment **out, chs_store *s, const char *encounter,
		      const chs_coding_assign_opts *o)
{
	assign_ctx x;
	visit v;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(encounter);
	CHS_ASSERT_ARG(o);
	CHS_ASSERT_ARG(o->modifiers || o->nmodifiers == 0);
	CHS_ASSERT_ARG(o->icd || o->nicd == 0);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	memset(&x, 0, sizeof(x));
	if (!o->cpt && o->nicd == 0)
		return chs_error_set(CHS_EINVALID, "nothing to assign: give --cpt or --icd");
	if (o->nicd > CODES_MAX)
		return chs_error_set(CHS_EINVALID, "at most %d diagnoses at once", CODES_MAX);
	if (!o->cpt && o->nmodifiers)
		return chs_error_set(CHS_EINVALID, "a modifier belongs to a procedure: give --cpt");
	if ((err = load_visit(s, encounter, &v)) < 0)
		goto done;
	if (!is_queued(&v)) {
		err = not_queued(&v);
		goto done;
	}
	x.s = s;
	x.v = &v;
	x.o = o;
	if (!(x.out = chs_calloc(1, sizeof(*x.out)))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	if ((err = visit_site(s, &v, &x.site)) < 0 || (err = assign_save(&x)) < 0)
		goto done;
	*out = &x.out->pub;
	x.out = NULL;
done:
	chs_coding_assignment_free(x.out ? &x.out->pub : NULL);
	free(x.site);
	visit_dispose(&v);
	return err;
}

/* ------------------------------------------------------------------ */
/* Claims                                                               */

/* One CSV field (RFC 4180). Text goes through chs_text_csv_cell(), so a
 * value that begins like a formula ('=', '+', '-', '@', tab, CR: a name or
 * a code that arrived by sync) reaches a spreadsheet as text. A `number`
 * (the fee, which chartsync formats itself) is written as it is, so a
 * negative amount stays a number. */
static int csv_field(chs_buf *b, const char *v, int last, int number)
{
	size_t n;
	int err;

	if (!v)
		v = "";
	n = strlen(v);
	err = number ? chs_buf_put(b, v, n) : chs_text_csv_cell(b, v, n);
	return err ? err : chs_buf_puts(b, last ? "\r\n" : ",");
}

/* The visit's ICD-10-CM codes, space separated, in entry order. */
static int visit_icds(chs_store *s, const void *enc, chs_buf *out)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "SELECT json_extract(CAST(state AS TEXT), '$.fields.icd') FROM records"
		     " WHERE encounter = ? AND type = 'diagnosis' AND NOT deleted ORDER BY rowid")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, enc, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if (sqlite3_column_text(st, 0))
			err = chs_buf_printf(out, "%s%s", out->len ? " " : "",
					     sqlite3_column_text(st, 0));
	chs_store__finish(s, st);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading diagnoses");
	return err;
}

#define CLAIM_COLS 14
#define CLAIM_FEE 12 /* the one column that is a number */

static const char *const claim_header[CLAIM_COLS] = {
	"patient", "mrn", "name", "dob", "payer", "member_id", "visit", "visit_date",
	"procedure", "code", "modifiers", "icd", "fee", "coding"
};

static int claim_row(chs_store *s, sqlite3_stmt *st, chs_buf *b)
{
	const char *v[CLAIM_COLS];
	char pat[33] = "", visit_hex[33], proc[33], fee[32] = "";
	chs_buf icd;
	int i, err;

	chs_buf_init(&icd, 0);
	chs_hex(proc, sqlite3_column_blob(st, 0), 16);
	chs_hex(visit_hex, sqlite3_column_blob(st, 1), 16);
	if (sqlite3_column_bytes(st, 2) == 16)
		chs_hex(pat, sqlite3_column_blob(st, 2), 16);
	if (sqlite3_column_type(st, 5) == SQLITE_INTEGER) {
		long long c = sqlite3_column_int64(st, 5);
		unsigned long long u = c < 0 ? 0ull - (unsigned long long)c : (unsigned long long)c;

		/* a negative fee can arrive by sync: sign, then the amount */
		snprintf(fee, sizeof(fee), "%s%llu.%02llu", c < 0 ? "-" : "", u / 100, u % 100);
	}
	if ((err = visit_icds(s, sqlite3_column_blob(st, 1), &icd)) < 0) {
		chs_buf_dispose(&icd); /* what it held before the error */
		return err;
	}
	v[0] = pat;
	for (i = 1; i <= 5; i++)
		v[i] = (const char *)sqlite3_column_text(st, 7 + i);
	v[6] = visit_hex;
	v[7] = (const char *)sqlite3_column_text(st, 6);
	v[8] = proc;
	v[9] = (const char *)sqlite3_column_text(st, 3);
	v[10] = (const char *)sqlite3_column_text(st, 4);
	v[11] = icd.ptr;
	v[12] = fee;
	v[13] = (const char *)sqlite3_column_text(st, 7);
	for (i = 0; i < CLAIM_COLS && err == 0; i++)
		err = csv_field(b, v[i], i == CLAIM_COLS - 1, i == CLAIM_FEE);
	chs_buf_dispose(&icd);
	return err;
}

int chs_claims_export(chs_store *s, const char *since, char **csv, size_t *rows)
{
	sqlite3_stmt *st = NULL;
	size_t count = 0;
	chs_buf b;
	int i, err = 0, rc;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(csv);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	*csv = NULL;
	if (rows)
		*rows = 0;
	if (!since || strlen(since) != 10 || !chs_schema_valid_date(since))
		return chs_error_set(CHS_EINVALID, "'%s' is not a date (expected e.g. 2024-01-01)",
				     since ? since : "");
	chs_buf_init(&b, 0);
	for (i = 0; i < CLAIM_COLS && err == 0; i++)
		err = csv_field(&b, claim_header[i], i == CLAIM_COLS - 1, 0);
	if (err < 0 || (err = chs_store__prepare(s, &st,
		     "SELECT p.id, e.id, e.patient,"
		     " json_extract(pj, '$.fields.cpt'), json_extract(pj, '$.fields.modifier'),"
		     " json_extract(pj, '$.fields.fee'), substr(json_extract(ej, '$.fields.date'), 1, 10),"
		     " json_extract(ej, '$.fields.coding'),"
		     " json_extract(tj, '$.fields.mrn'), json_extract(tj, '$.fields.name'),"
		     " json_extract(tj, '$.fields.dob'), json_extract(tj, '$.fields.payer'),"
		     " json_extract(tj, '$.fields.member_id')"
		     " FROM (SELECT id, encounter, rowid AS pr, CAST(state AS TEXT) AS pj FROM records"
		     "  WHERE type = 'procedure' AND NOT deleted) p"
		     " JOIN (SELECT id, patient, rowid AS er, CAST(state AS TEXT) AS ej FROM records"
		     "  WHERE type = 'encounter' AND NOT deleted) e ON e.id = p.encounter"
		     " LEFT JOIN (SELECT id, CAST(state AS TEXT) AS tj FROM records) t ON t.id = e.patient"
		     " WHERE substr(json_extract(ej, '$.fields.date'), 1, 10) >= ?1"
		     " ORDER BY substr(json_extract(ej, '$.fields.date'), 1, 10), er, pr")) < 0)
		goto done;
	if ((err = chs_store__bind_text(s, st, 1, since)) < 0) {
		chs_store__finish(s, st);
		goto done;
	}
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = claim_row(s, st, &b);
		count++;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading claims");
	chs_store__finish(s, st);
done:
	if (err < 0) {
		chs_buf_dispose(&b);
		return err;
	}
	*csv = chs_buf_detach(&b);
	if (rows)
		*rows = count;
	return *csv ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}
