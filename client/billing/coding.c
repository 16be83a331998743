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

#include <stdio.h>
#include <ctype.h>
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
	chs_client__parse_id(v->id, v->hex);
	if ((err = chs_client__prepare(s, &st,
		     "SELECT type, patient, deleted, state FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_client__bind_blob(s, st, 1, v->id, 16)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		err = chs_client__sqlerr(s, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc,
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
	chs_client__finish(s, st);
	return err;
}

static int is_queued(const visit *v)
{
	const char *c = vfield(v, "coding");

	return c && strcmp(c, "queued") == 0;
}

/* Now as ISO 8601 UTC with milliseconds. */
static void ms_iso(uint64_t ms, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + 19, 13, ".%03uZ", (unsigned)(ms % 1000));
}

static void now_iso(char out[32])
{
	ms_iso(chs_hlc_wall_ms(), out);
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
	int err = chs_client__get_int(s, "SELECT value FROM meta WHERE key = 'hlc'", &stored);

	if (err < 0)
		return err;
	clock = (chs_hlc)stored > s->clock ? (chs_hlc)stored : s->clock;
	if (clock && ms <= chs_hlc_ms(clock))
		ms = chs_hlc_ms(clock) + 1;
	at = (chs_hlc)ms << CHS_HLC_COUNTER_BITS;
	if (at > s->clock)
		s->clock = at;
	ms_iso(ms, out);
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

/* A visit's procedures and diagnoses into `o`. */
static int visit_codes(chs_store *s, const unsigned char enc[16], json_t *o)
{
	json_t *procs = json_array(), *diags = json_array();
	sqlite3_stmt *st = NULL;
	int err, rc;

	json_object_set_new(o, "procedures", procs);
	json_object_set_new(o, "diagnoses", diags);
	if ((err = chs_client__prepare(s, &st,
		     "SELECT id, type, json_extract(j, '$.fields.cpt'),"
		     " json_extract(j, '$.fields.modifier'), json_extract(j, '$.fields.fee'),"
		     " json_extract(j, '$.fields.icd')"
		     " FROM (SELECT id, type, rowid AS r, CAST(state AS TEXT) AS j FROM records"
		     "  WHERE encounter = ? AND NOT deleted AND type IN ('procedure', 'diagnosis'))"
		     " ORDER BY r")) < 0)
		return err;
	if ((err = chs_client__bind_blob(s, st, 1, enc, 16)) < 0) {
		chs_client__finish(s, st);
		return err;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char hex[33];
		json_t *p;

		chs_hex(hex, sqlite3_column_blob(st, 0), 16);
		if (strcmp((const char *)sqlite3_column_text(st, 1), "procedure") == 0) {
			p = json_pack("{s:s, s:s?, s:s?}", "id", hex, "cpt",
				      (const char *)sqlite3_column_text(st, 2), "modifier",
				      (const char *)sqlite3_column_text(st, 3));
			json_object_set_new(p, "fee", sqlite3_column_type(st, 4) == SQLITE_INTEGER
					    ? json_integer(sqlite3_column_int64(st, 4)) : json_null());
			json_array_append_new(procs, p);
		} else {
			json_array_append_new(diags, json_pack("{s:s, s:s?}", "id", hex, "icd",
				(const char *)sqlite3_column_text(st, 5)));
		}
	}
	chs_client__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_client__sqlerr(s, rc, "reading a visit's codes");
}

/* The patient's name and chart number into `o`. */
static int patient_names(chs_store *s, const void *pid, int len, json_t *o)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if (len != 16)
		return 0;
	if ((err = chs_client__prepare(s, &st,
		     "SELECT json_extract(j, '$.fields.name'), json_extract(j, '$.fields.mrn')"
		     " FROM (SELECT CAST(state AS TEXT) AS j FROM records WHERE id = ?)")) < 0)
		return err;
	if ((err = chs_client__bind_blob(s, st, 1, pid, 16)) < 0) {
		chs_client__finish(s, st);
		return err;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_text(st, 0))
			json_object_set_new(o, "name", json_string((const char *)
						sqlite3_column_text(st, 0)));
		if (sqlite3_column_text(st, 1))
			json_object_set_new(o, "mrn", json_string((const char *)
						sqlite3_column_text(st, 1)));
	}
	chs_client__finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
		: chs_client__sqlerr(s, rc, "reading a patient");
}

static json_t *queue_row(sqlite3_stmt *st)
{
	json_t *state = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	json_t *f = json_object_get(state, "fields"), *o;
	static const char *const keep[][2] = {
		{ "date", "date" }, { "reason", "reason" }, { "provider", "provider" },
		{ "coding_sent", "sent" },
	};
	char hex[33];
	size_t i;

	chs_hex(hex, sqlite3_column_blob(st, 0), 16);
	o = json_pack("{s:s}", "encounter", hex);
	if (o && sqlite3_column_bytes(st, 1) == 16) {
		chs_hex(hex, sqlite3_column_blob(st, 1), 16);
		json_object_set_new(o, "patient", json_string(hex));
	}
	for (i = 0; o && i < sizeof(keep) / sizeof(keep[0]); i++)
		if (json_object_get(f, keep[i][0]))
			json_object_set(o, keep[i][1], json_object_get(f, keep[i][0]));
	json_decref(state);
	return o;
}

int chs_coding_queue(chs_store *s, char **json)
{
	json_t *arr;
	sqlite3_stmt *st = NULL;
	int err, rc;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(json);

	arr = json_array();
	*json = NULL;
	if ((err = chs_client__prepare(s, &st,
		     "SELECT id, patient, j FROM (SELECT id, patient, rowid AS r,"
		     "  CAST(state AS TEXT) AS j FROM records WHERE type = 'encounter' AND NOT deleted)"
		     " WHERE json_extract(j, '$.fields.coding') = 'queued'"
		     " ORDER BY json_extract(j, '$.fields.coding_sent'), r")) < 0)
		goto done;
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = queue_row(st);

		if (!o) {
			err = chs_error_set(CHS_ENOMEM, "out of memory");
			break;
		}
		json_array_append_new(arr, o);
		if ((err = patient_names(s, sqlite3_column_blob(st, 1),
					 sqlite3_column_bytes(st, 1), o)) == 0)
			err = visit_codes(s, sqlite3_column_blob(st, 0), o);
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_client__sqlerr(s, rc, "reading the coding queue");
	chs_client__finish(s, st);
	if (err == 0 && !(*json = json_dumps(arr, JSON_COMPACT | JSON_SORT_KEYS)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
done:
	json_decref(arr);
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
	if ((err = chs_client__load_changes(s, v->id, &changes, &n)) < 0)
		return err;
	for (i = 0; i < n; i++)
		if (changes[i]->op == CHS_OP_CREATE)
			break;
	if (i < n)
		err = chs_client__device_site(s, changes[i]->device, site);
	chs_client__changes_free(changes, n);
	return err;
}

static int warn_unknown(chs_store *s, const char *system, const char *label,
			const char *code, json_t *warnings)
{
	int known, err;

	if ((err = chs_code_known(s, system, code, &known)) < 0)
		return err;
	if (known == 0)
		json_array_append_new(warnings, json_sprintf(
			"%s code %s is not in the imported %s list: check it", label, code,
			label));
	return 0;
}

static int add_record(chs_writer *w, const char *type, chs_edit *e, size_t n,
		      const visit *v, char hex[33])
{
	unsigned char id[16];
	chs_change *c = NULL;
	int err;

	chs_random(id, sizeof(id));
	if ((err = chs_client__new_record(w->s, chs_schema_type(type), id, e, n, NULL,
					  v->hex, &c)) < 0 ||
	    (err = chs_client__writer_put(w, c)) < 0)
		return err;
	chs_hex(hex, id, 16);
	return 0;
}

typedef struct assign_ctx {
	chs_store *s;
	const visit *v;
	const chs_coding_assign_opts *o;
	json_t *out, *warnings;
	char *site;
} assign_ctx;

static int assign_procedure(assign_ctx *x, chs_writer *w)
{
	char cpt[8], mods[16], cents[24], day[11], hex[33];
	const char *date = vfield(x->v, "date");
	chs_edit e[4];
	int64_t fee = 0;
	size_t n = 0, i;
	int found = 0, err;

	json_object_set_new(x->out, "procedure", json_null());
	json_object_set_new(x->out, "fee", json_null());
	if (!x->o->cpt)
		return 0;
	snprintf(cpt, sizeof(cpt), "%s", x->o->cpt);
	for (i = 0; cpt[i]; i++)
		cpt[i] = (char)toupper((unsigned char)cpt[i]);
	snprintf(day, sizeof(day), "%s", date ? date : "");
	if ((err = join_modifiers(x->o, mods)) < 0)
		return err;
	e[n++] = (chs_edit){ "cpt", x->o->cpt, 0, 0 };
	if (*mods)
		e[n++] = (chs_edit){ "modifier", mods, 0, 0 };
	if (*day)
		e[n++] = (chs_edit){ "date", day, 0, 0 };
	if (chs_schema_valid_cpt(cpt) && *day &&
	    (err = chs_client__fee_lookup(x->s, cpt, day, x->site, &fee, &found)) < 0)
		return err;
	if (found) {
		snprintf(cents, sizeof(cents), "%lld", (long long)fee);
		e[n++] = (chs_edit){ "fee", cents, 0, 0 };
	}
	if ((err = add_record(w, "procedure", e, n, x->v, hex)) < 0)
		return err;
	json_object_set_new(x->out, "procedure", json_string(hex));
	if (found)
		json_object_set_new(x->out, "fee", json_integer(fee));
	else
		json_array_append_new(x->warnings, json_sprintf(
			"the fee schedule has no fee for %s on %s: the procedure's fee is left"
			" unset (import the schedule with 'chartsync fees import', then"
			" 'chartsync set %.8s fee:=CENTS')", cpt, *day ? day : "the visit's date",
			hex));
	return warn_unknown(x->s, isdigit((unsigned char)cpt[0]) ? "cpt" : "hcpcs",
			    isdigit((unsigned char)cpt[0]) ? "CPT" : "HCPCS", cpt, x->warnings);
}

/* Whether the visit has a live diagnosis with `icd` (in this save too). */
static int has_diagnosis(chs_store *s, const visit *v, const char *icd, int *yes)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*yes = 0;
	if ((err = chs_client__prepare(s, &st,
		     "SELECT 1 FROM records WHERE encounter = ? AND type = 'diagnosis'"
		     " AND NOT deleted AND json_extract(CAST(state AS TEXT), '$.fields.icd') = ?"
		     " LIMIT 1")) < 0)
		return err;
	if ((err = chs_client__bind_blob(s, st, 1, v->id, 16)) < 0 ||
	    (err = chs_client__bind_text(s, st, 2, icd)) < 0) {
		chs_client__finish(s, st);
		return err;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*yes = 1;
	chs_client__finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
		: chs_client__sqlerr(s, rc, "reading a visit's diagnoses");
}

static int assign_diagnoses(assign_ctx *x, chs_writer *w)
{
	json_t *ids = json_array();
	size_t i;
	int err = 0;

	json_object_set_new(x->out, "diagnoses", ids);
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
		if ((err = add_record(w, "diagnosis", &e, 1, x->v, hex)) < 0)
			break;
		json_array_append_new(ids, json_string(hex));
		err = warn_unknown(x->s, "icd10cm", "ICD-10-CM", icd, x->warnings);
	}
	return err;
}

static int assign_save(assign_ctx *x)
{
	chs_writer w;
	int err;

	if ((err = chs_client__writer_begin(&w, x->s)) < 0)
		return err;
	if ((err = assign_procedure(x, &w)) < 0 || (err = assign_diagnoses(x, &w)) < 0) {
		chs_client__writer_abort(&w);
		return err;
	}
	return chs_client__writer_commit(&w);
}

int chs_coding_assign(chs_store *s, const char *encounter,
		      const chs_coding_assign_opts *o, char **json)
{
	assign_ctx x;
	visit v;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(encounter);
	CHS_ASSERT_ARG(o);
	CHS_ASSERT_ARG(json);

	*json = NULL;
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
	x.out = json_object();
	x.warnings = json_array();
	json_object_set_new(x.out, "warnings", json_incref(x.warnings));
	if ((err = visit_site(s, &v, &x.site)) < 0 || (err = assign_save(&x)) < 0)
		goto done;
	if (!(*json = json_dumps(x.out, JSON_COMPACT | JSON_SORT_KEYS)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
done:
	json_decref(x.out);
	json_decref(x.warnings);
	free(x.site);
	visit_dispose(&v);
	return err;
}

/* ------------------------------------------------------------------ */
/* Claims                                                               */

/* One CSV field, quoted when it must be (RFC 4180). */
static int csv_field(chs_buf *b, const char *v, int last)
{
	const char *p;
	int err = 0;

	if (!v)
		v = "";
	if (strpbrk(v, ",\"\r\n") || (*v && (isspace((unsigned char)v[0]) ||
					     isspace((unsigned char)v[strlen(v) - 1])))) {
		err = chs_buf_puts(b, "\"");
		for (p = v; *p && err == 0; p++)
			err = *p == '"' ? chs_buf_puts(b, "\"\"") : chs_buf_put(b, p, 1);
		if (err == 0)
			err = chs_buf_puts(b, "\"");
	} else {
		err = chs_buf_puts(b, v);
	}
	return err ? err : chs_buf_puts(b, last ? "\r\n" : ",");
}

/* The visit's ICD-10-CM codes, space separated, in entry order. */
static int visit_icds(chs_store *s, const void *enc, chs_buf *out)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_client__prepare(s, &st,
		     "SELECT json_extract(CAST(state AS TEXT), '$.fields.icd') FROM records"
		     " WHERE encounter = ? AND type = 'diagnosis' AND NOT deleted ORDER BY rowid")) < 0)
		return err;
	if ((err = chs_client__bind_blob(s, st, 1, enc, 16)) < 0) {
		chs_client__finish(s, st);
		return err;
	}
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		if (sqlite3_column_text(st, 0))
			err = chs_buf_printf(out, "%s%s", out->len ? " " : "",
					     sqlite3_column_text(st, 0));
	chs_client__finish(s, st);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_client__sqlerr(s, rc, "reading diagnoses");
	return err;
}

#define CLAIM_COLS 14

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
		err = csv_field(b, v[i], i == CLAIM_COLS - 1);
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

	*csv = NULL;
	if (rows)
		*rows = 0;
	if (!since || strlen(since) != 10 || !chs_schema_valid_date(since))
		return chs_error_set(CHS_EINVALID, "'%s' is not a date (expected e.g. 2024-01-01)",
				     since ? since : "");
	chs_buf_init(&b, 0);
	for (i = 0; i < CLAIM_COLS && err == 0; i++)
		err = csv_field(&b, claim_header[i], i == CLAIM_COLS - 1);
	if (err < 0 || (err = chs_client__prepare(s, &st,
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
	if ((err = chs_client__bind_text(s, st, 1, since)) < 0) {
		chs_client__finish(s, st);
		goto done;
	}
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = claim_row(s, st, &b);
		count++;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_client__sqlerr(s, rc, "reading claims");
	chs_client__finish(s, st);
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
