/*
 * Records as technicians enter them: typed values checked for form at
 * entry, links to records that exist, short id prefixes, and the JSON the
 * CLI prints.
 */
#include "records_int.h"
#include "client/text/text.h"

#include <stdio.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ID_PREFIX_MIN 4 /* hex digits, as git asks */
#define SAFE_INT 9007199254740991LL /* 2^53 - 1: exact in every JSON reader */

int chs_edit_parse(chs_edit *out, char *arg)
{
	char *eq;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(arg);

	eq = strchr(arg, '=');
	memset(out, 0, sizeof(*out));
	if (!eq || eq == arg)
		return chs_error_set(CHS_EINVALID,
				     "'%s' is not FIELD=VALUE or FIELD:=JSON", arg);
	if (eq > arg + 1 && eq[-1] == ':') {
		out->raw = 1;
		eq[-1] = '\0';
	}
	*eq = '\0';
	out->name = arg;
	out->value = eq + 1;
	return 0;
}

int chs_record_date_form(const char *s, int with_time)
{
	return s && chs_schema_valid_date(s) && (with_time || strlen(s) == 10);
}

/* ------------------------------------------------------------------ */
/* Values                                                               */

static int bad_value(const chs_type_def *t, const char *field,
		     const char *value, const char *expected)
{
	return chs_error_set(CHS_EINVALID,
			     "field '%s' of %s: '%s' is not %s", field, t->name,
			     value, expected);
}

/* A whole number typed at the prompt: digits with an optional sign. */
static int typed_integer(const chs_type_def *t, const chs_field_def *f,
			 const char *v, chs_buf *out)
{
	long long n;
	char *end;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (!*v || *end || errno || n > SAFE_INT || n < -SAFE_INT ||
	    isspace((unsigned char)*v))
		return bad_value(t, f->name, v, chs_schema_expected(f->kind));
	if (f->kind == CHS_KIND_CENTS && n < 0)
		return bad_value(t, f->name, v, "a fee of zero or more cents");
	return chs_buf_printf(out, "%lld", n);
}

/* A value as it is stored: codes in capitals (they are case-insensitive
 * by convention); identifiers trimmed, in NFC, with one kind of dash
 * (chs_text_normalise_id), so ' A-1001', 'A-1001<tab>' and 'A‐1001' are
 * all chart number A-1001 when its uniqueness is checked; the lines of a
 * note ended by newlines, as a file written on Windows (FIELD=@FILE) ends
 * them with CR LF. A lone CR stays, for the check to refuse. */
static int normalise(const chs_type_def *t, const chs_field_def *f, const char *v,
		     chs_buf *out)
{
	char *p, *q;
	int err;

	if (f->kind == CHS_KIND_TEXT && f->rule == CHS_RULE_ID) {
		if ((err = chs_text_normalise_id(out, v, strlen(v))) < 0)
			return chs_error_wrap(err, "field '%s' of %s", f->name, t->name);
		return chs_buf_puts(out, ""); /* NUL-terminated when empty too */
	}
	if ((err = chs_buf_puts(out, v)) < 0)
		return err;
	if (f->kind == CHS_KIND_ICD || f->kind == CHS_KIND_CPT)
		for (p = out->ptr; *p; p++)
			*p = (char)toupper((unsigned char)*p);
	if (f->rule == CHS_RULE_LINES) {
		for (p = q = out->ptr; *p; p++)
			if (!(p[0] == '\r' && p[1] == '\n'))
				*q++ = *p;
		*q = '\0';
		out->len = (size_t)(q - out->ptr);
	}
	return 0;
}

/* A string value, typed or given as JSON: normalised, checked as entry
 * holds it (chs_schema_check_value), and appended as canonical JSON. */
static int typed_string(const chs_type_def *t, const chs_field_def *f,
			const char *v, chs_buf *out)
{
	chs_buf s;
	int err;

	chs_buf_init(&s, 0);
	if ((err = normalise(t, f, v, &s)) == 0 &&
	    (err = chs_schema_check_value(t, f, s.ptr, chs_util__now())) == 0)
		err = chs_canonical_string(out, s.ptr, s.len);
	chs_buf_dispose(&s);
	return err;
}

/* FIELD:=JSON: canonicalise, then hold it to the field's JSON type; a
 * string is then held to everything a typed one is. */
static int raw_value(const chs_type_def *t, const chs_field_def *f,
		     const char *v, chs_buf *out)
{
	size_t start = out->len;
	json_t *j = NULL;
	int err;

	if ((err = chs_canonical_json(out, v, strlen(v))) < 0)
		return err == CHS_ENOMEM ? err
		       : chs_error_wrap(CHS_EINVALID, "field '%s' of %s", f->name, t->name);
	j = json_loads(out->ptr + start, JSON_DECODE_ANY, NULL);
	if (chs_schema_kind_is_integer(f->kind) ? !json_is_integer(j)
						 : !json_is_string(j))
		err = bad_value(t, f->name, v, chs_schema_kind_is_integer(f->kind)
				? chs_schema_expected(f->kind) : "a JSON string");
	else if (f->kind == CHS_KIND_CENTS && json_integer_value(j) < 0)
		err = bad_value(t, f->name, v, "a fee of zero or more cents");
	else if (json_is_string(j)) {
		out->len = start; /* typed_string writes it again, normalised */
		out->ptr[start] = '\0';
		err = typed_string(t, f, json_string_value(j), out);
	}
	json_decref(j);
	return err;
}


/* A field its command writes (a merged chart's pointer) is never typed:
 * a pointer set by hand would hide a chart without moving its records. */
static int typed_in(const chs_type_def *t, const chs_field_def *f)
{
	if (f->rule != CHS_RULE_COMMAND)
		return 0;
	return chs_error_set(CHS_EINVALID,
			     "field '%s' of %s is written by 'chartsync patient merge' and"
			     " 'unmerge', never typed in", f->name, t->name);
}

int chs_records__edit_value(const chs_type_def *t, const chs_edit *e,
			    chs_buf *out)
{
	const chs_field_def *f = chs_schema_field(t, e->name);
	int err;

	if (!f)
		return chs_error_set(CHS_EINVALID,
				     "%s has no field '%s'", t->name, e->name);
	if ((err = typed_in(t, f)) < 0)
		return err;
	if (e->raw)
		return raw_value(t, f, e->value, out);
	if (chs_schema_kind_is_integer(f->kind))
		return typed_integer(t, f, e->value, out);
	return typed_string(t, f, e->value, out);
}

int chs_record_field_normal_form(const char *type, const char *field, const char *text,
				 char **out)
{
	const chs_type_def *t;
	chs_edit e = { field, text, 0, 0 };
	chs_buf b;
	int err;

	CHS_ASSERT_ARG(type);
	CHS_ASSERT_ARG(field);
	CHS_ASSERT_ARG(text);
	CHS_ASSERT_ARG(out);

	*out = NULL;
	if (!(t = chs_schema_type(type)))
		return chs_error_set(CHS_EINVALID, "there is no record type '%.40s'", type);
	chs_buf_init(&b, 0);
	if ((err = chs_records__edit_value(t, &e, &b)) < 0) {
		chs_buf_dispose(&b);
		return err;
	}
	*out = chs_buf_detach(&b);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Finding records                                                      */

/* The range of 16-byte ids a hex prefix covers. */
static int prefix_range(const char *prefix, unsigned char lo[16],
			unsigned char hi[16])
{
	size_t i, n = strlen(prefix);

	if (n < ID_PREFIX_MIN || n > 32)
		return CHS_EINVALID;
	memset(lo, 0x00, 16);
	memset(hi, 0xff, 16);
	for (i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)prefix[i]);
		int v = isdigit((unsigned char)c) ? c - '0'
			: (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;

		if (v < 0)
			return CHS_EINVALID;
		if (i % 2 == 0) {
			lo[i / 2] = (unsigned char)(v << 4);
			hi[i / 2] = (unsigned char)(v << 4 | 0x0f);
		} else {
			lo[i / 2] |= (unsigned char)v;
			hi[i / 2] = (unsigned char)((hi[i / 2] & 0xf0) | v);
		}
	}
	return 0;
}

int chs_record_resolve(chs_store *s, const char *prefix, char id_out[33])
{
	unsigned char lo[16], hi[16];
	sqlite3_stmt *st = NULL;
	int err, rc, found = 0;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(prefix);
	CHS_ASSERT_ARG(id_out);

	if (prefix_range(prefix, lo, hi) < 0)
		return chs_error_set(CHS_EINVALID,
				     "'%s' is not a record id (at least %d hex digits)",
				     prefix, ID_PREFIX_MIN);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT id FROM records WHERE id BETWEEN ? AND ? LIMIT 2")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, lo, 16)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, hi, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16) {
		chs_hex(id_out, sqlite3_column_blob(st, 0), 16);
		found++;
	}
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return chs_store__sqlerr(s, rc, "finding a record");
	if (found == 0)
		return chs_error_set(CHS_ENOTFOUND, "there is no record '%s'", prefix);
	if (found > 1)
		return chs_error_set(CHS_EAMBIGUOUS,
				     "'%s' matches more than one record; give more digits",
				     prefix);
	return 0;
}

/* Merges followed at most: a longer chain can only be a ring. */
#define FOLLOW_MAX 64

/* The patient that patient `id` was merged into, when it is a tombstone
 * and this store holds that patient: 1 with `next` set, else 0. The
 * pointer is the records' merged_into column (live patients only). */
static int merged_into(chs_store *s, const unsigned char id[16], unsigned char next[16])
{
	sqlite3_stmt *st = NULL;
	int err, rc, found = 0;

	if ((err = chs_store__prepare(s, &st,
		     "SELECT r.merged_into FROM records r JOIN records k ON k.id = r.merged_into"
		     " WHERE r.id = ? AND k.type = 'patient'")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, id, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16) {
		memcpy(next, sqlite3_column_blob(st, 0), 16);
		found = 1;
	}
	chs_store__finish(s, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return chs_store__sqlerr(s, rc, "following a merged chart");
	return found;
}

/* A merge of a merge chains (A into B, then B into C): each pointer is
 * followed to the patient that is no tombstone. Two archivists who
 * merged a pair two ways (A into B at one site, B into A at another)
 * leave a ring until one of them settles it; the walk stops at the last
 * patient before it would come back round, so a lookup still lands on a
 * chart, the same one from the same start at every site. */
int chs_record_follow(chs_store *s, const char *id, char id_out[33], char merged_from[33])
{
	unsigned char seen[FOLLOW_MAX][16], next[16];
	char asked[33];
	size_t n = 1, i;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);
	CHS_ASSERT_ARG(id_out);

	if ((err = chs_record_resolve(s, id, asked)) < 0)
		return err;
	chs_util__parse_id(seen[0], asked);
	while (n < FOLLOW_MAX && (err = merged_into(s, seen[n - 1], next)) == 1) {
		for (i = 0; i < n && memcmp(seen[i], next, 16) != 0; i++)
			;
		if (i < n)
			break; /* a ring: stay before it closes */
		memcpy(seen[n++], next, 16);
	}
	if (err < 0)
		return err;
	chs_hex(id_out, seen[n - 1], 16);
	if (merged_from)
		snprintf(merged_from, 33, "%s", n > 1 ? asked : "");
	return 0;
}

typedef struct rec_info {
	unsigned char id[16];
	char hex[33];
	char type[16];
	unsigned char patient[16];
	int has_patient;
	unsigned char encounter[16];
	int has_encounter;
	int deleted;
	int review;
	char merged_into[33]; /* a merged patient's pointer; "" for any other */
} rec_info;

static int load_info(chs_store *s, const char *prefix, rec_info *ri)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	memset(ri, 0, sizeof(*ri));
	if ((err = chs_record_resolve(s, prefix, ri->hex)) < 0)
		return err;
	chs_util__parse_id(ri->id, ri->hex);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT type, patient, deleted, review, encounter, merged_into FROM records"
		     " WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, ri->id, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(ri->type, sizeof(ri->type), "%s", sqlite3_column_text(st, 0));
		if (sqlite3_column_bytes(st, 1) == 16) {
			memcpy(ri->patient, sqlite3_column_blob(st, 1), 16);
			ri->has_patient = 1;
		}
		ri->deleted = sqlite3_column_int(st, 2);
		ri->review = sqlite3_column_int(st, 3);
		if (sqlite3_column_bytes(st, 4) == 16) {
			memcpy(ri->encounter, sqlite3_column_blob(st, 4), 16);
			ri->has_encounter = 1;
		}
		if (sqlite3_column_bytes(st, 5) == 16)
			chs_hex(ri->merged_into, sqlite3_column_blob(st, 5), 16);
	}
	chs_store__finish(s, st);
	return rc == SQLITE_ROW ? 0 : chs_store__sqlerr(s, rc, "reading a record");
}

/* ------------------------------------------------------------------ */
/* Links                                                                */

/* Check a link to a record of `want_type` and return its full id. */
static int check_link(chs_store *s, const char *prefix, const char *want_type,
		      rec_info *ri)
{
	int err = load_info(s, prefix, ri);

	if (err == CHS_ENOTFOUND)
		return chs_error_set(CHS_ENOTFOUND, "there is no %s '%s' to link to",
				     want_type, prefix);
	if (err < 0)
		return err;
	if (strcmp(ri->type, want_type) != 0)
		return chs_error_set(CHS_EINVALID, "'%s' is a %s, not a %s", prefix,
				     ri->type, want_type);
	if (ri->deleted)
		return chs_error_set(CHS_EINVALID, "the %s '%s' was removed", want_type,
				     prefix);
	return 0;
}

/* Resolve --patient and --encounter for a new record of type `t`: links
 * must name live records of the right type, an encounter must belong to
 * the patient, and a missing patient is taken from the encounter. */
static int add_links(chs_store *s, const chs_type_def *t, chs_change *c,
		     const char *patient, const char *encounter)
{
	rec_info p, e;
	int err;

	if (!patient && !encounter && t->patient == CHS_LINK_REQUIRED)
		return chs_error_set(CHS_EINVALID,
				     "a %s belongs to a patient: give --patient ID", t->name);
	if (patient && t->patient == CHS_LINK_NONE)
		return chs_error_set(CHS_EINVALID, "a %s does not link to a patient", t->name);
	if (encounter && t->encounter == CHS_LINK_NONE)
		return chs_error_set(CHS_EINVALID, "a %s does not link to an encounter",
				     t->name);
	if (!encounter && t->encounter == CHS_LINK_REQUIRED)
		return chs_error_set(CHS_EINVALID,
				     "a %s belongs to an encounter: give --encounter ID", t->name);
	if (encounter) {
		if ((err = check_link(s, encounter, "encounter", &e)) < 0 ||
		    (err = chs_change_set_string(c, CHS_FIELD_ENCOUNTER, e.hex)) < 0)
			return err;
	}
	if (patient) {
		char keep[33];

		/* a patient merged into another: the record goes on the chart
		 * that holds theirs now */
		if ((err = check_link(s, patient, "patient", &p)) < 0 ||
		    (p.merged_into[0] && ((err = chs_record_follow(s, p.hex, keep, NULL)) < 0 ||
					  (err = check_link(s, keep, "patient", &p)) < 0)))
			return err;
		if (encounter && (!e.has_patient || memcmp(e.patient, p.id, 16) != 0))
			return chs_error_set(CHS_EINVALID,
					     "encounter '%s' is not a visit of patient '%s'",
					     encounter, patient);
		return chs_change_set_string(c, CHS_FIELD_PATIENT, p.hex);
	}
	if (encounter && t->patient != CHS_LINK_NONE && e.has_patient) {
		char hex[33];

		chs_hex(hex, e.patient, 16);
		return chs_change_set_string(c, CHS_FIELD_PATIENT, hex);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Entry                                                                */

static int apply_edits(chs_change *c, const chs_type_def *t,
		       const chs_edit *edits, size_t n)
{
	chs_buf v;
	size_t i;
	int err = 0;

	for (i = 0; i < n && err == 0; i++) {
		const chs_field_def *f = chs_schema_field(t, edits[i].name);

		if (edits[i].unset) {
			if (!f)
				return chs_error_set(CHS_EINVALID, "%s has no field '%s'",
						     t->name, edits[i].name);
			if (f->required)
				return chs_error_set(CHS_EINVALID,
						     "field '%s' of %s is required and cannot be cleared",
						     f->name, t->name);
			if ((err = typed_in(t, f)) < 0)
				return err;
			err = chs_change_set(c, f->name, NULL);
			continue;
		}
		chs_buf_init(&v, 0);
		if ((err = chs_records__edit_value(t, &edits[i], &v)) == 0)
			err = chs_change_set(c, edits[i].name, v.ptr);
		chs_buf_dispose(&v);
	}
	return err;
}

static int check_required(const chs_change *c, const chs_type_def *t)
{
	const chs_field_def *f;
	size_t i;

	for (f = t->fields; f->name; f++) {
		int present = 0;

		if (!f->required)
			continue;
		for (i = 0; i < c->nfields; i++)
			if (strcmp(c->fields[i].name, f->name) == 0 && c->fields[i].value)
				present = 1;
		if (!present)
			return chs_error_set(CHS_EINVALID,
					     "field '%s' of %s is required (add %s=...)",
					     f->name, t->name, f->name);
	}
	return 0;
}

/* The chart number is unique among live patients of this store. */
static int check_mrn(chs_store *s, const chs_change *c, const unsigned char self[16])
{
	sqlite3_stmt *st = NULL;
	char *mrn = NULL;
	size_t i;
	int err = 0, rc;

	for (i = 0; i < c->nfields; i++)
		if (strcmp(c->fields[i].name, "mrn") == 0 && c->fields[i].value)
			mrn = chs_util__json_string(c->fields[i].value);
	if (!mrn)
		return 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT id FROM records WHERE mrn = ? AND NOT deleted AND id <> ?")) == 0) {
		if ((err = chs_store__bind_text(s, st, 1, mrn)) < 0 ||
		    (err = chs_store__bind_blob(s, st, 2, self, 16)) < 0)
			goto done;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			char other[33];

			chs_hex(other, sqlite3_column_blob(st, 0), 16);
			err = chs_error_set(CHS_EEXISTS,
					    "chart number (mrn) '%s' already belongs to patient %.8s",
					    mrn, other);
		} else if (rc != SQLITE_DONE) {
			err = chs_store__sqlerr(s, rc, "checking the chart number");
		}
done:
		chs_store__finish(s, st);
	}
	free(mrn);
	return err;
}

int chs_records__new_change(const chs_type_def *t, const unsigned char id[16],
			    const chs_edit *edits, size_t n, chs_change **out)
{
	chs_change *c = NULL;
	int err;

	*out = NULL;
	if ((err = chs_change_new(&c)) < 0)
		return err;
	memcpy(c->record, id, 16);
	c->op = CHS_OP_CREATE;
	if (!(c->type = chs_util__strdup(t->name)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	if (err == 0 && (err = apply_edits(c, t, edits, n)) == 0 &&
	    (err = check_required(c, t)) == 0) {
		*out = c;
		return 0;
	}
	chs_change_free(c);
	return err;
}

int chs_records__check_mrn(chs_store *s, const chs_change *c, const unsigned char self[16])
{
	return check_mrn(s, c, self);
}

int chs_records__new_record(chs_store *s, const chs_type_def *t,
			    const unsigned char id[16], const chs_edit *edits,
			    size_t n, const char *patient, const char *encounter,
			    chs_change **out)
{
	chs_change *c = NULL;
	int err;

	*out = NULL;
	if ((err = chs_records__new_change(t, id, edits, n, &c)) < 0)
		return err;
	if ((err = add_links(s, t, c, patient, encounter)) == 0 &&
	    (err = check_mrn(s, c, id)) == 0) {
		*out = c;
		return 0;
	}
	chs_change_free(c);
	return err;
}

static const chs_type_def *entry_type(const char *type)
{
	const chs_type_def *t = chs_schema_type(type);

	if (!t) {
		chs_error_set(CHS_EINVALID,
			      "'%s' is not a record type (patient, encounter, note, problem,"
			      " medication, allergy, procedure, diagnosis, attachment, audit, fee)",
			      type);
		return NULL;
	}
	if (t->flags & CHS_TYPE_VIA_ATTACH) {
		chs_error_set(CHS_EINVALID, "attachments are added with 'chartsync attach'");
		return NULL;
	}
	if (t->flags & CHS_TYPE_COMPANION) {
		chs_error_set(CHS_EINVALID, "%s records are kept with their %s: give '%s'"
			      " on the %s itself", t->name, chs_schema_companion_of(t)->name,
			      t->fields[0].name, chs_schema_companion_of(t)->name);
		return NULL;
	}
	if (t->flags & CHS_TYPE_VIA_COMMAND) {
		chs_error_set(CHS_EINVALID, "%s records are made with 'chartsync %s'", t->name,
			      t->command);
		return NULL;
	}
	if (t->flags & CHS_TYPE_APPEND_ONLY) {
		chs_error_set(CHS_EDENIED, "%s records are written by chartsync itself (when a"
			      " chart is opened, or a sync finds the archive tampered with),"
			      " never typed in", t->name);
		return NULL;
	}
	return t;
}

int chs_record_add(chs_store *s, const char *type, const chs_edit *edits,
		   size_t n, const char *patient, const char *encounter,
		   char id_out[33])
{
	const chs_type_def *t;
	unsigned char id[16];
	chs_change *c = NULL;
	chs_writer w;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(type);
	CHS_ASSERT_ARG(edits || n == 0);
	CHS_ASSERT_ARG(id_out);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	t = entry_type(type);
	if (!t)
		return chs_error_last_code();
	chs_random(id, sizeof(id));
	if ((err = chs_records__writer_begin(&w, s)) < 0)
		return err;
	if ((err = chs_records__new_record(s, t, id, edits, n, patient, encounter, &c)) < 0 ||
	    (err = chs_records__writer_put(&w, c)) < 0) {
		chs_records__writer_abort(&w);
		return err;
	}
	if ((err = chs_records__writer_commit(&w)) < 0)
		return err;
	chs_hex(id_out, id, 16);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Edits of existing records                                            */

/* A field under review in the merge group of field `name` (dose, unit,
 * route and frequency are one regimen), or NULL. An edit of any field of
 * the group writes the group and would end its review unasked. */
static const chs_merged_field *group_under_review(const chs_merged *m, const char *type,
						 const char *name)
{
	const char *g = chs_schema_group(type, name, NULL), *h;
	size_t i;

	for (i = 0; g && i < m->nfields; i++)
		if (m->fields[i].ncandidates > 1 &&
		    (h = chs_schema_group(type, m->fields[i].name, NULL)) && strcmp(g, h) == 0)
			return &m->fields[i];
	return NULL;
}

/* A record a technician may edit: live, not append-only, and no field
 * being edited under review (settling review is a deliberate act). */
static int check_editable(chs_store *s, const rec_info *ri, const chs_edit *edits,
			  size_t n)
{
	chs_change **changes = NULL;
	chs_merged *m = NULL;
	size_t nc = 0, i;
	int err;

	if (ri->deleted)
		return chs_error_set(CHS_EINVALID, "record %s was removed", ri->hex);
	if (chs_schema_type(ri->type) &&
	    (chs_schema_type(ri->type)->flags & CHS_TYPE_APPEND_ONLY))
		return chs_error_set(CHS_EDENIED, "record %s is an access event (%s):"
				     " access events can never be changed or removed",
				     ri->hex, ri->type);
	if ((err = chs_schema_refuse_edit(ri->type, ri->hex)) < 0)
		return err;
	if (!ri->review)
		return 0;
	if ((err = chs_records__merge_record(s, ri->id, &m, &changes, &nc)) < 0)
		return err;
	if (m->exists_review)
		err = chs_error_set(CHS_EREVIEW,
				    "record %s is under review (removed at one site, edited at another); settle it with 'chartsync review resolve'",
				    ri->hex);
	for (i = 0; i < n && err == 0; i++) {
		const chs_merged_field *f = chs_merged_get(m, edits ? edits[i].name : "");

		if (f && f->ncandidates > 1)
			err = chs_error_set(CHS_EREVIEW,
					    "field '%s' of record %s is under review; settle it with 'chartsync review resolve'",
					    f->name, ri->hex);
		else if ((f = group_under_review(m, ri->type, edits[i].name)))
			err = chs_error_set(CHS_EREVIEW,
					    "field '%s' of record %s goes with '%s', which is under review; settle it with 'chartsync review resolve'",
					    edits[i].name, ri->hex, f->name);
	}
	chs_merged_free(m);
	chs_records__changes_free(changes, nc);
	return err;
}

/* After a link edit, the record's visit must still be a visit of its
 * patient, as at entry: `pat` and `enc` are the links it will have, and
 * `enc_info` the visit's row when the edit named it (else NULL). */
static int check_moved_links(chs_store *s, const unsigned char *pat, const unsigned char *enc,
			     const rec_info *enc_info)
{
	char phex[33], ehex[33];
	rec_info e;
	int err;

	if (!pat || !enc)
		return 0;
	chs_hex(ehex, enc, 16);
	if (!enc_info) {
		/* a visit this store has not received yet: nothing to hold to */
		if ((err = load_info(s, ehex, &e)) == CHS_ENOTFOUND)
			chs_error_clear();
		if (err < 0)
			return err == CHS_ENOTFOUND ? 0 : err;
		enc_info = &e;
	}
	if (enc_info->has_patient && memcmp(enc_info->patient, pat, 16) == 0)
		return 0;
	chs_hex(phex, pat, 16);
	return chs_error_set(CHS_EINVALID, "encounter '%s' is not a visit of patient '%s'",
			     ehex, phex);
}

static int link_edits(chs_store *s, const rec_info *ri, const chs_type_def *t,
		      chs_change *c, const chs_edit *edits, size_t n,
		      chs_edit *rest, size_t *nrest)
{
	const unsigned char *pat = ri->has_patient ? ri->patient : NULL;
	const unsigned char *enc = ri->has_encounter ? ri->encounter : NULL;
	rec_info newp, newe;
	size_t i;
	int err = 0, moved = 0, enc_named = 0;

	memset(&newe, 0, sizeof(newe));
	*nrest = 0;
	for (i = 0; i < n && err == 0; i++) {
		int is_p = strcmp(edits[i].name, CHS_FIELD_PATIENT) == 0;
		int is_e = strcmp(edits[i].name, CHS_FIELD_ENCOUNTER) == 0;
		rec_info target;

		if (!is_p && !is_e) {
			rest[(*nrest)++] = edits[i];
			continue;
		}
		if ((is_p ? t->patient : t->encounter) == CHS_LINK_NONE || edits[i].raw ||
		    (edits[i].unset && (is_p ? t->patient : t->encounter) == CHS_LINK_REQUIRED))
			return chs_error_set(CHS_EINVALID, "cannot change the %s of a %s this way",
					     edits[i].name, t->name);
		moved = 1;
		if (edits[i].unset) {
			if (is_p)
				pat = NULL;
			else
				enc = NULL;
			err = chs_change_set(c, edits[i].name, NULL);
			continue;
		}
		if ((err = check_link(s, edits[i].value, edits[i].name, &target)) == 0)
			err = chs_change_set_string(c, edits[i].name, target.hex);
		if (err == 0 && is_p) {
			newp = target;
			pat = newp.id;
		} else if (err == 0) {
			newe = target;
			enc = newe.id;
			enc_named = 1;
		}
	}
	if (err == 0 && moved && t->patient != CHS_LINK_NONE)
		err = check_moved_links(s, pat, enc, enc_named ? &newe : NULL);
	return err;
}

static int edit_change(chs_store *s, const rec_info *ri, const chs_edit *edits,
		       size_t n, chs_change **out)
{
	const chs_type_def *t = chs_schema_type(ri->type);
	chs_edit *rest = NULL;
	chs_change *c = NULL;
	size_t nrest = 0;
	int err;

	*out = NULL;
	if (!t)
		return chs_error_set(CHS_EINVALID, "record %s has an unknown type '%s'",
				     ri->hex, ri->type);
	if (n == 0)
		return chs_error_set(CHS_EINVALID, "nothing to change: give FIELD=VALUE");
	if (!(rest = chs_calloc(n, sizeof(*rest))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = chs_change_new(&c)) < 0)
		goto done;
	memcpy(c->record, ri->id, 16);
	c->op = CHS_OP_UPDATE;
	if (!(c->type = chs_util__strdup(t->name)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	if (err == 0 && (err = link_edits(s, ri, t, c, edits, n, rest, &nrest)) == 0 &&
	    (err = apply_edits(c, t, rest, nrest)) == 0)
		err = strcmp(t->name, "patient") == 0 ? check_mrn(s, c, ri->id) : 0;
done:
	free(rest);
	if (err < 0)
		chs_change_free(c);
	else
		*out = c;
	return err;
}

/* The live records under visit `v` not yet linked to patient `p`
 * (access events stay where they are), as hex ids; malloc'ed. */
static int records_under(chs_store *s, const unsigned char v[16], const unsigned char p[16],
			 char (**ids)[33], size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int err, rc;

	*ids = NULL;
	*n = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT id FROM records WHERE encounter = ?1 AND NOT deleted"
		     " AND type <> 'audit' AND patient IS NOT ?2 ORDER BY rowid")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, v, 16)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, p, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && err == 0) {
		if ((err = CHS_ARRAY_GROW(*ids, cap, *n + 1)) < 0)
			break;
		if (sqlite3_column_bytes(st, 0) == 16)
			chs_hex((*ids)[(*n)++], sqlite3_column_blob(st, 0), 16);
	}
	chs_store__finish(s, st);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading a visit's records");
	return err;
}

/* A visit moved to another patient takes its records (notes, procedures,
 * diagnoses...) with it, in the same save: left behind, they would sit
 * in one patient's chart under another patient's visit. Called after the
 * visit's own change is stored, so each record's new links check out;
 * `c` is read before any other change is stored (a full batch is sealed,
 * and its changes freed, as the 1,000th is stored). */
static int move_visit_records(chs_store *s, chs_writer *w, const rec_info *visit,
			      const chs_change *c)
{
	const char *v = NULL;
	char (*ids)[33] = NULL, *hex = NULL;
	unsigned char pat[16];
	size_t i, n = 0;
	int err = 0;

	for (i = 0; i < c->nfields; i++)
		if (strcmp(c->fields[i].name, CHS_FIELD_PATIENT) == 0)
			v = c->fields[i].value;
	if (strcmp(visit->type, "encounter") != 0 || !v || !(hex = chs_util__json_string(v)))
		return 0;
	if (chs_util__parse_id(pat, hex) < 0 ||
	    (err = records_under(s, visit->id, pat, &ids, &n)) < 0)
		goto done;
	for (i = 0; i < n && err == 0; i++) {
		chs_edit e = { CHS_FIELD_PATIENT, hex, 0, 0 };
		chs_change *rc = NULL;
		rec_info ri;

		if ((err = load_info(s, ids[i], &ri)) < 0 ||
		    (err = check_editable(s, &ri, &e, 1)) < 0 ||
		    (err = edit_change(s, &ri, &e, 1, &rc)) < 0 ||
		    (err = chs_records__writer_put(w, rc)) < 0)
			chs_error_wrap(err, "moving %s %.8s with its visit", ri.type, ri.hex);
	}
done:
	free(ids);
	free(hex);
	return err;
}

int chs_record_set(chs_store *s, const char *id, const chs_edit *edits,
		   size_t n)
{
	chs_change *c = NULL;
	chs_writer w;
	rec_info ri;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);
	CHS_ASSERT_ARG(edits || n == 0);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	if ((err = chs_records__writer_begin(&w, s)) < 0)
		return err;
	if ((err = load_info(s, id, &ri)) < 0 ||
	    (err = check_editable(s, &ri, edits, n)) < 0 ||
	    (err = edit_change(s, &ri, edits, n, &c)) < 0 ||
	    (err = chs_records__writer_put(&w, c)) < 0 ||
	    (err = move_visit_records(s, &w, &ri, c)) < 0) {
		chs_records__writer_abort(&w);
		return err;
	}
	return chs_records__writer_commit(&w);
}

/* A patient or visit with live records under it stays (access events
 * about it do not count: they stay whatever happens; nor does its
 * clinical companion, which goes with it). */
static int check_no_dependants(chs_store *s, const rec_info *ri)
{
	const chs_type_def *ct = chs_schema_companion(chs_schema_type(ri->type));
	unsigned char cid[16] = { 0 };
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int err, rc;

	if (ct)
		chs_records__companion_id(ct, ri->id, cid);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT count(*) FROM records WHERE NOT deleted AND"
		     " (patient = ?1 OR encounter = ?1) AND type <> 'audit' AND id <> ?2")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, ri->id, 16)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, cid, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	chs_store__finish(s, st);
	if (rc != SQLITE_ROW)
		return chs_store__sqlerr(s, rc, "checking linked records");
	if (n > 0)
		return chs_error_set(CHS_EINVALID,
				     "%s %s still has %lld record(s); remove those first",
				     ri->type, ri->hex, (long long)n);
	return 0;
}

/* A merged patient's record is the merge's pointer (client/identity):
 * removing it would cut the merge without undoing it, leaving lookups of
 * the chart unanswered and the merge impossible to unmerge. */
static int check_not_merged(const rec_info *ri)
{
	if (!ri->merged_into[0])
		return 0;
	return chs_error_set(CHS_EDENIED, "patient %s was merged into patient %s: its record"
			     " is the merge's pointer; to undo the merge, 'chartsync patient"
			     " unmerge %s %s'", ri->hex, ri->merged_into, ri->merged_into, ri->hex);
}

int chs_record_rm(chs_store *s, const char *id)
{
	chs_change *c = NULL;
	chs_writer w;
	rec_info ri;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	if ((err = chs_records__writer_begin(&w, s)) < 0)
		return err;
	if ((err = load_info(s, id, &ri)) < 0 ||
	    (err = check_editable(s, &ri, NULL, 0)) < 0 ||
	    (err = check_not_merged(&ri)) < 0 ||
	    (err = check_no_dependants(s, &ri)) < 0 || (err = chs_change_new(&c)) < 0)
		goto fail;
	memcpy(c->record, ri.id, 16);
	c->op = CHS_OP_DELETE;
	if (!(c->type = chs_util__strdup(ri.type))) {
		chs_change_free(c);
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = chs_records__writer_put(&w, c)) < 0)
		goto fail;
	return chs_records__writer_commit(&w);
fail:
	chs_records__writer_abort(&w);
	return err;
}
