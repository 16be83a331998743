/*
 * FHIR R4 export: a Bundle of type "collection" streamed to a FILE, one
 * entry per live record, in storage order (one sequential scan).
 *
 * Each resource has the record id as its id and "urn:uuid:" + the id in
 * UUID layout as its entry's fullUrl; links between records become
 * references to those fullUrls, so the bundle resolves within itself.
 * Codes go under their canonical system URIs (FHIR R4 terminology and HL7
 * Terminology, THO): ICD-10-CM http://hl7.org/fhir/sid/icd-10-cm (codes
 * with their dot), CPT http://www.ama-assn.org/go/cpt, HCPCS Level II
 * http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets (http, as THO
 * registers it). A code that is
 * not well-formed (it can arrive by sync) goes out as text only.
 *
 * FHIR is stricter than the store in a few places, and every export must
 * validate: a time needs seconds (09:30Z becomes 09:30:00Z), offsets stop
 * at 14:00, strings may not be empty, and a date the store holds in an
 * impossible form is left out rather than written. Not exported: audit
 * and confirmation records (access and quality events, not chart
 * content), attachments' bytes (the DocumentReference carries their type,
 * size and title), fees and modifiers (claims are `export claims`).
 */
#include "report_int.h"

#include <stdio.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SYS_ICD10CM "http://hl7.org/fhir/sid/icd-10-cm"
#define SYS_CPT "http://www.ama-assn.org/go/cpt"
#define SYS_HCPCS "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
#define SYS_V2_0203 "http://terminology.hl7.org/CodeSystem/v2-0203"
#define SYS_ACTCODE "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#define SYS_COND_CLINICAL "http://terminology.hl7.org/CodeSystem/condition-clinical"
#define SYS_COND_CATEGORY "http://terminology.hl7.org/CodeSystem/condition-category"
#define SYS_ALLERGY_CLINICAL "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"

typedef struct fhir {
	chs_store *s;
	const char *hex; /* the record being written */
	chs_report_opts o;
	FILE *out;
	int64_t today; /* days since 1970-01-01 */
	size_t entries;
} fhir;

static int nomem(void)
{
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------------ */
/* Values                                                               */

/* 32 hex digits as a UUID: 8-4-4-4-12. */
static void uuid_text(const char *hex, char out[37])
{
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
		 hex + 20);
}

/* FHIR `date`: YYYY-MM-DD of a valid store date (year 0 is not one). */
static int fhir_date(const char *iso, char out[11])
{
	int64_t day;

	if (chs_schema_day(iso, &day) < 0 || strncmp(iso, "0000", 4) == 0)
		return -1;
	memcpy(out, iso, 10);
	out[10] = '\0';
	return 0;
}

/* FHIR `dateTime` from a valid store date or date-time: the date alone,
 * or the time with seconds and a zone FHIR accepts. `instant` asks for a
 * full instant (a date alone will not do). */
static int fhir_datetime(const char *iso, char out[48], int instant)
{
	const char *t, *zone;
	size_t tlen;

	if (fhir_date(iso, out) < 0)
		return -1;
	if (iso[10] != 'T')
		return instant ? -1 : 0;
	t = iso + 11;
	for (zone = t; *zone && *zone != 'Z' && *zone != '+' && *zone != '-'; zone++)
		;
	if (*zone != 'Z' && (zone[1] > '1' || (zone[1] == '1' && zone[2] > '4') ||
			     (zone[1] == '1' && zone[2] == '4' && strcmp(zone + 4, "00") != 0)))
		return instant ? -1 : 0; /* beyond +-14:00: keep the day only */
	tlen = (size_t)(zone - t);
	if (tlen > 24)
		return instant ? -1 : 0;
	snprintf(out + 10, 38, "T%.*s%s%s", (int)tlen, t, tlen == 5 ? ":00" : "", zone);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writing JSON                                                         */

/* Resources are written straight into one reused buffer (building jansson
 * objects and dumping them cost three times the rest of the export).
 * Members are comma-separated by a stack of "first member" flags. */
#define JW_DEPTH 8

typedef struct jw {
	chs_buf b;
	int first[JW_DEPTH];
	int depth;
	int err;
} jw;

static void jw_raw(jw *w, const char *s, size_t len)
{
	if (!w->err)
		w->err = chs_buf_put(&w->b, s, len);
}

static void jw_escaped(jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	jw_raw(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jw_raw(w, run, (size_t)(s - run));
		run = s + 1;
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			jw_raw(w, esc, 2);
		} else if (c == '\n' || c == '\t' || c == '\r') {
			esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
			jw_raw(w, esc, 2);
		} else {
			jw_raw(w, esc, 6);
		}
	}
	jw_raw(w, run, (size_t)(s - run));
	jw_raw(w, "\"", 1);
}

/* A comma unless first, then "key": when inside an object. */
static void jw_member(jw *w, const char *key)
{
	if (!w->first[w->depth])
		jw_raw(w, ",", 1);
	w->first[w->depth] = 0;
	if (key) {
		jw_escaped(w, key);
		jw_raw(w, ":", 1);
	}
}

static void jw_open(jw *w, const char *key, char bracket)
{
	jw_member(w, key);
	jw_raw(w, &bracket, 1);
	if (w->depth + 1 < JW_DEPTH)
		w->first[++w->depth] = 1;
	else
		w->err = CHS_ERROR;
}

static void jw_close(jw *w, char bracket)
{
	jw_raw(w, &bracket, 1);
	if (w->depth > 0)
		w->depth--;
}

static void jw_str(jw *w, const char *key, const char *v)
{
	jw_member(w, key);
	jw_escaped(w, v);
}

/* ------------------------------------------------------------------ */
/* Pieces of resources                                                  */

static void jw_ref(jw *w, const char *key, const char *hex)
{
	char uuid[37], url[46];

	uuid_text(hex, uuid);
	snprintf(url, sizeof(url), "urn:uuid:%s", uuid);
	jw_open(w, key, '{');
	jw_str(w, "reference", url);
	jw_close(w, '}');
}

/* The record id a link field holds, or NULL. */
static const char *link_of(json_t *fields, const char *name)
{
	const char *hex = json_string_value(json_object_get(fields, name));
	unsigned char id[16];

	return hex && chs_util__parse_id(id, hex) == 0 ? hex : NULL;
}

static void ref_field(jw *w, const char *key, json_t *f, const char *name)
{
	const char *hex = link_of(f, name);

	if (hex)
		jw_ref(w, key, hex);
}

static void datetime_field(jw *w, const char *key, json_t *f, const char *name)
{
	char dt[48];

	if (fhir_datetime(chs_report__text(f, name), dt, 0) == 0)
		jw_str(w, key, dt);
}

static void text_concept(jw *w, const char *key, const char *text)
{
	jw_open(w, key, '{');
	jw_str(w, "text", text);
	jw_close(w, '}');
}

/* {"coding":[{"system":..,"code":..,"display":..}],"text":..} */
static void coded(jw *w, const char *key, const char *system, const char *code,
		  const char *display, const char *text)
{
	jw_open(w, key, '{');
	jw_open(w, "coding", '[');
	jw_open(w, NULL, '{');
	jw_str(w, "system", system);
	jw_str(w, "code", code);
	if (display)
		jw_str(w, "display", display);
	jw_close(w, '}');
	jw_close(w, ']');
	if (text)
		jw_str(w, "text", text);
	jw_close(w, '}');
}

/* A CodeableConcept for a diagnosis or procedure code, when there is
 * something to say. */
static void code_concept(jw *w, const char *key, const char *code, int is_cpt,
			 const char *text)
{
	if (code && is_cpt && chs_schema_valid_cpt(code))
		coded(w, key, isdigit((unsigned char)code[0]) ? SYS_CPT : SYS_HCPCS, code, NULL,
		      text);
	else if (code && !is_cpt && chs_schema_valid_icd(code))
		coded(w, key, SYS_ICD10CM, code, NULL, text);
	else if (text || code)
		text_concept(w, key, text ? text : code);
}

static const char *lower_match(const char *v, const char *const *allowed)
{
	size_t i, j;

	for (i = 0; v && allowed[i]; i++) {
		for (j = 0; v[j] && tolower((unsigned char)v[j]) == allowed[i][j]; j++)
			;
		if (!v[j] && !allowed[i][j])
			return allowed[i];
	}
	return NULL;
}

static void begin(jw *w, fhir *x, const char *type)
{
	jw_open(w, NULL, '{');
	jw_str(w, "resourceType", type);
	jw_str(w, "id", x->hex);
}

/* ------------------------------------------------------------------ */
/* Resources, one per record type                                       */

static const char *gender(const char *sex)
{
	static const char *const m[] = { "m", "male", NULL }, *const f[] = { "f", "female", NULL };
	static const char *const o[] = { "o", "other", "x", NULL };
	static const char *const u[] = { "u", "unknown", NULL };

	return lower_match(sex, m) ? "male" : lower_match(sex, f) ? "female"
		: lower_match(sex, o) ? "other" : lower_match(sex, u) ? "unknown" : NULL;
}

/* One-element array of an object with one string member. */
static void one_of(jw *w, const char *key, const char *member, const char *v)
{
	jw_open(w, key, '[');
	jw_open(w, NULL, '{');
	jw_str(w, member, v);
	jw_close(w, '}');
	jw_close(w, ']');
}

/* One Patient.link: {"other":{"reference":"Patient/ID"},"type":TYPE}. */
static void patient_link(jw *w, const char *hex, const char *type)
{
	char ref[41];

	snprintf(ref, sizeof(ref), "Patient/%s", hex);
	jw_open(w, NULL, '{');
	jw_open(w, "other", '{');
	jw_str(w, "reference", ref);
	jw_close(w, '}');
	jw_str(w, "type", type);
	jw_close(w, '}');
}

/* The patients merged into this one (client/identity), each a link of
 * type "replaces"; none, no member. */
static void replaced_links(jw *w, fhir *x)
{
	unsigned char id[16];
	sqlite3_stmt *st = NULL;
	char hex[33];
	int err, rc, n = 0;

	if (chs_util__parse_id(id, x->hex) < 0)
		return;
	if ((err = chs_store__prepare(x->s, &st,
		     "SELECT id FROM records WHERE merged_into = ? ORDER BY id")) < 0 ||
	    (err = chs_store__bind_blob(x->s, st, 1, id, 16)) < 0) {
		chs_store__finish(x->s, st);
		w->err = w->err ? w->err : err;
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) != 16)
			continue;
		chs_hex(hex, sqlite3_column_blob(st, 0), 16);
		if (n++ == 0)
			jw_open(w, "link", '[');
		patient_link(w, hex, "replaces");
	}
	if (n)
		jw_close(w, ']');
	if (rc != SQLITE_DONE && !w->err)
		w->err = chs_store__sqlerr(x->s, rc, "reading merged patients");
	chs_store__finish(x->s, st);
}

/* A patient merged into another is no chart of its own: an inactive
 * Patient replaced by the one that holds its records now, and nothing
 * else (its values went to that patient, or to review there). */
static void tombstone(jw *w, const char *keep)
{
	jw_member(w, "active");
	jw_raw(w, "false", 5);
	jw_open(w, "link", '[');
	patient_link(w, keep, "replaced-by");
	jw_close(w, ']');
}

static void patient(jw *w, fhir *x, json_t *f)
{
	const char *v;
	char d[11];

	begin(w, x, "Patient");
	if ((v = link_of(f, CHS_FIELD_MERGED_INTO))) {
		tombstone(w, v);
		return;
	}
	if ((v = chs_report__text(f, "mrn"))) {
		jw_open(w, "identifier", '[');
		jw_open(w, NULL, '{');
		coded(w, "type", SYS_V2_0203, "MR", "Medical record number", NULL);
		jw_str(w, "value", v);
		jw_close(w, '}');
		jw_close(w, ']');
	}
	if ((v = chs_report__text(f, "name")))
		one_of(w, "name", "text", v);
	if ((v = chs_report__text(f, "phone"))) {
		jw_open(w, "telecom", '[');
		jw_open(w, NULL, '{');
		jw_str(w, "system", "phone");
		jw_str(w, "value", v);
		jw_close(w, '}');
		jw_close(w, ']');
	}
	if ((v = gender(chs_report__text(f, "sex"))))
		jw_str(w, "gender", v);
	if (fhir_date(chs_report__text(f, "dob"), d) == 0)
		jw_str(w, "birthDate", d);
	if ((v = chs_report__text(f, "address")))
		one_of(w, "address", "text", v);
	replaced_links(w, x);
}

static void encounter(jw *w, fhir *x, json_t *f)
{
	const char *v;
	char dt[48];

	begin(w, x, "Encounter");
	jw_str(w, "status", "finished");
	jw_open(w, "class", '{');
	jw_str(w, "system", SYS_ACTCODE);
	jw_str(w, "code", "AMB");
	jw_str(w, "display", "ambulatory");
	jw_close(w, '}');
	ref_field(w, "subject", f, CHS_FIELD_PATIENT);
	if ((v = chs_report__text(f, "provider"))) {
		jw_open(w, "participant", '[');
		jw_open(w, NULL, '{');
		jw_open(w, "individual", '{');
		jw_str(w, "display", v);
		jw_close(w, '}');
		jw_close(w, '}');
		jw_close(w, ']');
	}
	if (fhir_datetime(chs_report__text(f, "date"), dt, 0) == 0) {
		jw_open(w, "period", '{');
		jw_str(w, "start", dt);
		jw_close(w, '}');
	}
	if ((v = chs_report__text(f, "reason"))) {
		jw_open(w, "reasonCode", '[');
		text_concept(w, NULL, v);
		jw_close(w, ']');
	}
}

static void condition(jw *w, fhir *x, json_t *f, const char *category, const char *status)
{
	begin(w, x, "Condition");
	if (status)
		coded(w, "clinicalStatus", SYS_COND_CLINICAL, status, NULL, NULL);
	jw_open(w, "category", '[');
	coded(w, NULL, SYS_COND_CATEGORY, category, NULL, NULL);
	jw_close(w, ']');
	code_concept(w, "code", chs_report__text(f, "icd"), 0, chs_report__text(f, "name"));
	ref_field(w, "subject", f, CHS_FIELD_PATIENT);
	ref_field(w, "encounter", f, CHS_FIELD_ENCOUNTER);
}

static void problem(jw *w, fhir *x, json_t *f)
{
	static const char *const status[] = { "active", "recurrence", "relapse", "inactive",
					      "remission", "resolved", NULL };

	condition(w, x, f, "problem-list-item", lower_match(chs_report__text(f, "status"), status));
	datetime_field(w, "onsetDateTime", f, "onset");
}

static void diagnosis(jw *w, fhir *x, json_t *f)
{
	condition(w, x, f, "encounter-diagnosis", NULL);
}

static void dosage(jw *w, json_t *f)
{
	static const char *const parts[] = { "dose", "unit", "route", "frequency" };
	const char *route = chs_report__text(f, "route");
	chs_buf text;
	size_t i;

	chs_buf_init(&text, 0);
	for (i = 0; i < 4; i++) {
		const char *v = chs_report__text(f, parts[i]);

		if (v && chs_buf_printf(&text, "%s%s", text.len ? " " : "", v) < 0)
			w->err = CHS_ENOMEM;
	}
	if (text.len || route) {
		jw_open(w, "dosage", '[');
		jw_open(w, NULL, '{');
		if (text.len)
			jw_str(w, "text", text.ptr);
		if (route)
			text_concept(w, "route", route);
		jw_close(w, '}');
		jw_close(w, ']');
	}
	chs_buf_dispose(&text);
}

static void medication(jw *w, fhir *x, json_t *f)
{
	const char *name = chs_report__text(f, "name");
	char start[48], end[48];
	int has_start = fhir_datetime(chs_report__text(f, "start"), start, 0) == 0;
	int has_end = fhir_datetime(chs_report__text(f, "end"), end, 0) == 0;
	int64_t end_day;

	begin(w, x, "MedicationStatement");
	jw_str(w, "status", chs_schema_day(chs_report__text(f, "end"), &end_day) == 0 &&
		    end_day < x->today ? "completed" : "active");
	text_concept(w, "medicationCodeableConcept", name ? name : "(unnamed medication)");
	ref_field(w, "subject", f, CHS_FIELD_PATIENT);
	ref_field(w, "context", f, CHS_FIELD_ENCOUNTER);
	if (has_start || has_end) {
		jw_open(w, "effectivePeriod", '{');
		if (has_start)
			jw_str(w, "start", start);
		if (has_end)
			jw_str(w, "end", end);
		jw_close(w, '}');
	}
	dosage(w, f);
}

static void allergy(jw *w, fhir *x, json_t *f)
{
	static const char *const severities[] = { "mild", "moderate", "severe", NULL };
	const char *v = chs_report__text(f, "substance");
	const char *sev = lower_match(chs_report__text(f, "severity"), severities);

	begin(w, x, "AllergyIntolerance");
	coded(w, "clinicalStatus", SYS_ALLERGY_CLINICAL, "active", NULL, NULL);
	if (v)
		text_concept(w, "code", v);
	ref_field(w, "patient", f, CHS_FIELD_PATIENT);
	ref_field(w, "encounter", f, CHS_FIELD_ENCOUNTER);
	if ((v = chs_report__text(f, "reaction"))) {
		jw_open(w, "reaction", '[');
		jw_open(w, NULL, '{');
		jw_open(w, "manifestation", '[');
		text_concept(w, NULL, v);
		jw_close(w, ']');
		if (sev)
			jw_str(w, "severity", sev);
		jw_close(w, '}');
		jw_close(w, ']');
	}
}

static void procedure(jw *w, fhir *x, json_t *f)
{
	begin(w, x, "Procedure");
	jw_str(w, "status", "completed");
	code_concept(w, "code", chs_report__text(f, "cpt"), 1, NULL);
	ref_field(w, "subject", f, CHS_FIELD_PATIENT);
	ref_field(w, "encounter", f, CHS_FIELD_ENCOUNTER);
	datetime_field(w, "performedDateTime", f, "date");
}

static void base64(jw *w, const char *data)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)data;
	size_t i, len = strlen(data);
	char q[4];

	jw_raw(w, "\"", 1);
	for (i = 0; i + 2 < len; i += 3) {
		q[0] = tab[p[i] >> 2];
		q[1] = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		q[2] = tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		q[3] = tab[p[i + 2] & 63];
		jw_raw(w, q, 4);
	}
	if (i < len) {
		q[0] = tab[p[i] >> 2];
		q[1] = tab[((p[i] & 3) << 4) | (i + 1 < len ? p[i + 1] >> 4 : 0)];
		q[2] = i + 1 < len ? tab[(p[i + 1] & 15) << 2] : '=';
		q[3] = '=';
		jw_raw(w, q, 4);
	}
	jw_raw(w, "\"", 1);
}

/* The DocumentReference of a note (`text`) or an attachment. */
static void document(jw *w, fhir *x, json_t *f, const char *type, const char *text)
{
	const char *author = chs_report__text(f, "author"), *title = chs_report__text(f, "title");
	const char *mime = chs_report__text(f, "mime"), *enc = link_of(f, CHS_FIELD_ENCOUNTER), *p;
	json_t *size = json_object_get(f, "size");
	char instant[48], dt[48];
	int has_dt = fhir_datetime(chs_report__text(f, "date"), dt, 0) == 0;

	/* a FHIR code has no leading, trailing or doubled blanks */
	for (p = mime; p && *p; p++)
		if (isspace((unsigned char)*p) && (p == mime || !p[1] || isspace((unsigned char)p[1])))
			mime = NULL;
	begin(w, x, "DocumentReference");
	jw_str(w, "status", "current");
	text_concept(w, "type", type);
	ref_field(w, "subject", f, CHS_FIELD_PATIENT);
	if (fhir_datetime(chs_report__text(f, "date"), instant, 1) == 0)
		jw_str(w, "date", instant);
	if (author)
		one_of(w, "author", "display", author);
	if (title)
		jw_str(w, "description", title);
	jw_open(w, "content", '[');
	jw_open(w, NULL, '{');
	jw_open(w, "attachment", '{');
	jw_str(w, "contentType", text ? "text/plain; charset=utf-8"
				      : mime ? mime : "application/octet-stream");
	if (text && *text) {
		jw_member(w, "data");
		base64(w, text);
	}
	if (!text && json_is_integer(size) && json_integer_value(size) >= 0 &&
	    json_integer_value(size) <= 2147483647) {
		char n[24];

		jw_member(w, "size");
		snprintf(n, sizeof(n), "%lld", (long long)json_integer_value(size));
		jw_raw(w, n, strlen(n));
	}
	if (title)
		jw_str(w, "title", title);
	jw_close(w, '}');
	jw_close(w, '}');
	jw_close(w, ']');
	if (enc || has_dt) {
		jw_open(w, "context", '{');
		if (enc) {
			jw_open(w, "encounter", '[');
			jw_ref(w, NULL, enc);
			jw_close(w, ']');
		}
		if (has_dt) {
			jw_open(w, "period", '{');
			jw_str(w, "start", dt);
			jw_close(w, '}');
		}
		jw_close(w, '}');
	}
}

static void note(jw *w, fhir *x, json_t *f)
{
	const char *text = chs_report__text(f, "text");

	document(w, x, f, "Clinical note", text ? text : "");
}

static void attachment(jw *w, fhir *x, json_t *f)
{
	document(w, x, f, "Scanned chart page", NULL);
}

typedef void (*resource_fn)(jw *w, fhir *x, json_t *fields);

static resource_fn resource_for(const char *type)
{
	static const struct {
		const char *type;
		resource_fn fn;
	} map[] = {
		{ "patient", patient }, { "encounter", encounter }, { "problem", problem },
		{ "diagnosis", diagnosis }, { "medication", medication },
		{ "allergy", allergy }, { "procedure", procedure }, { "note", note },
		{ "attachment", attachment },
	};
	size_t i;

	for (i = 0; type && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].type, type) == 0)
			return map[i].fn;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The bundle                                                           */

static int write_failed(void)
{
	return chs_error_set(CHS_EIO, "cannot write the export: %s", strerror(errno));
}

/* One entry: {"fullUrl":..,"resource":{..}}, written with one call. */
static int row_entry(fhir *x, jw *w, sqlite3_stmt *st)
{
	resource_fn fn = resource_for((const char *)sqlite3_column_text(st, 1));
	char hex[33], uuid[37], url[46];
	json_t *state;
	int err;

	if (!fn || sqlite3_column_bytes(st, 0) != 16)
		return 0;
	if (!(state = chs_report__state(st, 2)))
		return 0;
	/* a visit's reason from its clinical companion, or none at a billing office */
	if ((err = chs_records__clinical_fields(x->s, (const char *)sqlite3_column_text(st, 1),
						sqlite3_column_blob(st, 0),
						json_object_get(state, "fields"))) < 0) {
		json_decref(state);
		return err;
	}
	chs_hex(hex, sqlite3_column_blob(st, 0), 16);
	x->hex = hex;
	uuid_text(hex, uuid);
	snprintf(url, sizeof(url), "urn:uuid:%s", uuid);
	w->b.len = 0;
	w->depth = 0;
	w->first[0] = x->entries++ == 0;
	jw_open(w, NULL, '{');
	jw_str(w, "fullUrl", url);
	jw_member(w, "resource");
	w->first[w->depth] = 1; /* the resource is the value, no comma */
	fn(w, x, json_object_get(state, "fields"));
	jw_close(w, '}');
	jw_close(w, '}');
	json_decref(state);
	if (w->err)
		return w->err < 0 ? w->err : nomem();
	return fwrite(w->b.ptr, 1, w->b.len, x->out) == w->b.len ? 0 : write_failed();
}

static int bundle_head(fhir *x)
{
	unsigned char id[16];
	char hex[33], now[32];
	time_t t = (time_t)x->o.now;
	struct tm tm;

	chs_random(id, sizeof(id));
	chs_hex(hex, id, 16);
	if (!gmtime_r(&t, &tm) || !strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return chs_error_set(CHS_ERROR, "cannot read the clock");
	if (fprintf(x->out, "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"meta\":"
		    "{\"lastUpdated\":\"%s\"},\"type\":\"collection\",\"timestamp\":\"%s\","
		    "\"entry\":[", hex, now, now) < 0)
		return write_failed();
	return 0;
}

static int count_rows(fhir *x, const unsigned char *pid, int64_t *n)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(x->s, &st, pid
		     ? "SELECT count(*) FROM records WHERE NOT deleted AND"
		       " (patient = ?1 OR id = ?1)"
		     : "SELECT count(*) FROM records WHERE NOT deleted")) < 0)
		return err;
	if (pid && (err = chs_store__bind_blob(x->s, st, 1, pid, 16)) < 0) {
		chs_store__finish(x->s, st);
		return err;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	chs_store__finish(x->s, st);
	return rc == SQLITE_ROW ? 0 : chs_store__sqlerr(x->s, rc, "counting records");
}

static int write_entries(fhir *x, const unsigned char *pid)
{
	sqlite3_stmt *st = NULL;
	int64_t total = 0, done = 0;
	int err, rc = SQLITE_DONE;
	jw w;

	if (x->o.progress && (err = count_rows(x, pid, &total)) < 0)
		return err;
	/* one patient's records through the patient index, not a scan */
	if ((err = chs_store__prepare(x->s, &st, pid
		     ? "SELECT id, type, state FROM records WHERE NOT deleted AND"
		       " (patient = ?1 OR id = ?1) ORDER BY rowid"
		     : "SELECT id, type, state FROM records WHERE NOT deleted ORDER BY rowid")) < 0)
		return err;
	if (pid && (err = chs_store__bind_blob(x->s, st, 1, pid, 16)) < 0) {
		chs_store__finish(x->s, st);
		return err;
	}
	memset(&w, 0, sizeof(w));
	chs_buf_init(&w.b, 0);
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = row_entry(x, &w, st);
		if (x->o.progress && (++done % 1024 == 0 || done == total))
			x->o.progress("exporting records", (size_t)done, (size_t)total,
				      x->o.payload);
	}
	chs_store__finish(x->s, st);
	chs_buf_dispose(&w.b);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(x->s, rc, "reading the records");
	return err;
}

static int check_patient(chs_store *s, const char *prefix, unsigned char pid[16])
{
	sqlite3_stmt *st = NULL;
	char hex[33];
	int err, rc, is_patient = 0, deleted = 0;

	if ((err = chs_record_resolve(s, prefix, hex)) < 0)
		return err;
	chs_util__parse_id(pid, hex);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT type = 'patient', deleted FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, pid, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		is_patient = sqlite3_column_int(st, 0);
		deleted = sqlite3_column_int(st, 1);
	}
	chs_store__finish(s, st);
	if (rc != SQLITE_ROW)
		return chs_store__sqlerr(s, rc, "reading a record");
	if (!is_patient)
		return chs_error_set(CHS_EINVALID, "'%s' is not a patient (give a patient's id)",
				     prefix);
	if (deleted)
		return chs_error_set(CHS_EINVALID, "the patient '%s' was removed", prefix);
	return 0;
}

int chs_export_fhir(chs_store *s, const char *patient_id, const chs_report_opts *opts,
		    FILE *out)
{
	unsigned char pid[16];
	char keep[33];
	int64_t start;
	fhir x;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(out);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	memset(&x, 0, sizeof(x));
	x.s = s;
	x.out = out;
	chs_report__opts(&x.o, opts);
	x.today = x.o.now / CHS_DAY_S;
	/* a merged patient's export is the chart it was merged into */
	if (patient_id && ((err = chs_record_follow(s, patient_id, keep, NULL)) < 0 ||
			   (err = check_patient(s, keep, pid)) < 0))
		return err;
	/* an export is a look at the charts it holds: it is recorded, and
	 * refused when it could not be (checked first, written when done with
	 * how long it took; a caller writing a file renames it only after) */
	if ((err = chs_audit__probe(s)) < 0)
		return chs_error_wrap(err, "this export could not be recorded as an access");
	start = chs_audit_now_ms();
	if ((err = bundle_head(&x)) == 0 && (err = write_entries(&x, patient_id ? pid : NULL)) == 0 &&
	    (fputs("]}\n", out) == EOF || fflush(out) == EOF))
		err = write_failed();
	/* every patient's export names no single chart: one event for all */
	if (err == 0)
		err = chs_audit__write(s, patient_id ? "export" : "export_all",
				       patient_id ? (const unsigned char (*)[16])pid : NULL,
				       patient_id ? 1 : 0, patient_id ? keep : NULL, start,
				       chs_audit_now_ms() - start);
	return err;
}
