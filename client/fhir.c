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
	char *dump;      /* reusable buffer for one resource's JSON */
	size_t dump_cap;
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

static json_t *ref_json(const char *hex)
{
	char uuid[37], url[46];

	uuid_text(hex, uuid);
	snprintf(url, sizeof(url), "urn:uuid:%s", uuid);
	return json_pack("{s:s}", "reference", url);
}

/* A reference to the record a link field names, or NULL. */
static json_t *link_ref(json_t *fields, const char *name)
{
	const char *hex = json_string_value(json_object_get(fields, name));
	unsigned char id[16];

	return hex && chs_client__parse_id(id, hex) == 0 ? ref_json(hex) : NULL;
}

/* FHIR `date`: YYYY-MM-DD of a valid store date (year 0 is not one). */
static int fhir_date(const char *iso, char out[11])
{
	int64_t day;

	if (chs_report__day(iso, &day) < 0 || strncmp(iso, "0000", 4) == 0)
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

static void set_datetime(json_t *o, const char *key, json_t *fields, const char *name)
{
	char dt[48];

	if (fhir_datetime(chs_report__text(fields, name), dt, 0) == 0)
		json_object_set_new(o, key, json_string(dt));
}

static void set_ref(json_t *o, const char *key, json_t *fields, const char *name)
{
	json_t *r = link_ref(fields, name);

	if (r)
		json_object_set_new(o, key, r);
}

/* A resource of `type` with its id: the record's. */
static json_t *resource(fhir *x, const char *type)
{
	return json_pack("{s:s, s:s}", "resourceType", type, "id", x->hex);
}

static json_t *text_concept(const char *text)
{
	return json_pack("{s:s}", "text", text);
}

static json_t *coded(const char *system, const char *code, const char *display)
{
	json_t *c = json_pack("{s:s, s:s}", "system", system, "code", code);

	if (display)
		json_object_set_new(c, "display", json_string(display));
	return json_pack("{s:[o]}", "coding", c);
}

/* A CodeableConcept for a diagnosis or procedure code, or NULL. */
static json_t *code_concept(const char *code, int is_cpt, const char *text)
{
	json_t *cc;

	if (!code)
		return text ? text_concept(text) : NULL;
	if (is_cpt && chs_schema_valid_cpt(code))
		cc = coded(isdigit((unsigned char)code[0]) ? SYS_CPT : SYS_HCPCS, code, NULL);
	else if (!is_cpt && chs_schema_valid_icd(code))
		cc = coded(SYS_ICD10CM, code, NULL);
	else
		return text_concept(text ? text : code);
	if (text)
		json_object_set_new(cc, "text", json_string(text));
	return cc;
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

static json_t *patient(fhir *x, json_t *f)
{
	json_t *r = resource(x, "Patient");
	const char *v;
	char d[11];

	if ((v = chs_report__text(f, "mrn")))
		json_object_set_new(r, "identifier", json_pack("[{s:o, s:s}]",
			"type", coded(SYS_V2_0203, "MR", "Medical record number"), "value", v));
	if ((v = chs_report__text(f, "name")))
		json_object_set_new(r, "name", json_pack("[{s:s}]", "text", v));
	if ((v = chs_report__text(f, "phone")))
		json_object_set_new(r, "telecom", json_pack("[{s:s, s:s}]", "system", "phone",
							    "value", v));
	if ((v = gender(chs_report__text(f, "sex"))))
		json_object_set_new(r, "gender", json_string(v));
	if (fhir_date(chs_report__text(f, "dob"), d) == 0)
		json_object_set_new(r, "birthDate", json_string(d));
	if ((v = chs_report__text(f, "address")))
		json_object_set_new(r, "address", json_pack("[{s:s}]", "text", v));
	return r;
}

static json_t *encounter(fhir *x, json_t *f)
{
	json_t *r = resource(x, "Encounter");
	json_t *period = json_object();
	const char *v;

	json_object_set_new(r, "status", json_string("finished"));
	json_object_set_new(r, "class", json_pack("{s:s, s:s, s:s}", "system", SYS_ACTCODE,
						  "code", "AMB", "display", "ambulatory"));
	set_ref(r, "subject", f, CHS_FIELD_PATIENT);
	if ((v = chs_report__text(f, "provider")))
		json_object_set_new(r, "participant",
				    json_pack("[{s:{s:s}}]", "individual", "display", v));
	set_datetime(period, "start", f, "date");
	if (json_object_size(period))
		json_object_set(r, "period", period);
	json_decref(period);
	if ((v = chs_report__text(f, "reason")))
		json_object_set_new(r, "reasonCode", json_pack("[o]", text_concept(v)));
	return r;
}

static json_t *condition(fhir *x, json_t *f, const char *category, const char *code,
			 const char *text)
{
	json_t *r = resource(x, "Condition");
	json_t *cc = code_concept(code, 0, text);

	json_object_set_new(r, "category", json_pack("[o]", coded(SYS_COND_CATEGORY,
								  category, NULL)));
	if (cc)
		json_object_set_new(r, "code", cc);
	set_ref(r, "subject", f, CHS_FIELD_PATIENT);
	set_ref(r, "encounter", f, CHS_FIELD_ENCOUNTER);
	return r;
}

static json_t *problem(fhir *x, json_t *f)
{
	static const char *const status[] = { "active", "recurrence", "relapse", "inactive",
					      "remission", "resolved", NULL };
	json_t *r = condition(x, f, "problem-list-item", chs_report__text(f, "icd"),
			      chs_report__text(f, "name"));
	const char *st = lower_match(chs_report__text(f, "status"), status);

	if (st)
		json_object_set_new(r, "clinicalStatus", coded(SYS_COND_CLINICAL, st, NULL));
	set_datetime(r, "onsetDateTime", f, "onset");
	return r;
}

static json_t *diagnosis(fhir *x, json_t *f)
{
	return condition(x, f, "encounter-diagnosis", chs_report__text(f, "icd"), NULL);
}

static json_t *dosage(json_t *f)
{
	static const char *const parts[] = { "dose", "unit", "route", "frequency" };
	json_t *d = json_object();
	chs_buf text;
	size_t i;

	chs_buf_init(&text, 0);
	for (i = 0; i < 4; i++) {
		const char *v = chs_report__text(f, parts[i]);

		if (v && chs_buf_printf(&text, "%s%s", text.len ? " " : "", v) < 0)
			break;
	}
	if (text.len)
		json_object_set_new(d, "text", json_string(text.ptr));
	chs_buf_dispose(&text);
	if (chs_report__text(f, "route"))
		json_object_set_new(d, "route", text_concept(chs_report__text(f, "route")));
	if (!json_object_size(d)) {
		json_decref(d);
		return NULL;
	}
	return json_pack("[o]", d);
}

static json_t *medication(fhir *x, json_t *f)
{
	json_t *r = resource(x, "MedicationStatement");
	json_t *period = json_object(), *dose = dosage(f);
	const char *name = chs_report__text(f, "name");
	int64_t end;

	json_object_set_new(r, "status",
		json_string(chs_report__day(chs_report__text(f, "end"), &end) == 0 &&
			    end < x->today ? "completed" : "active"));
	json_object_set_new(r, "medicationCodeableConcept",
			    text_concept(name ? name : "(unnamed medication)"));
	set_ref(r, "subject", f, CHS_FIELD_PATIENT);
	set_ref(r, "context", f, CHS_FIELD_ENCOUNTER);
	set_datetime(period, "start", f, "start");
	set_datetime(period, "end", f, "end");
	if (json_object_size(period))
		json_object_set(r, "effectivePeriod", period);
	json_decref(period);
	if (dose)
		json_object_set_new(r, "dosage", dose);
	return r;
}

static json_t *allergy(fhir *x, json_t *f)
{
	static const char *const severities[] = { "mild", "moderate", "severe", NULL };
	json_t *r = resource(x, "AllergyIntolerance");
	const char *v = chs_report__text(f, "substance");
	const char *sev = lower_match(chs_report__text(f, "severity"), severities);

	json_object_set_new(r, "clinicalStatus", coded(SYS_ALLERGY_CLINICAL, "active", NULL));
	if (v)
		json_object_set_new(r, "code", text_concept(v));
	set_ref(r, "patient", f, CHS_FIELD_PATIENT);
	set_ref(r, "encounter", f, CHS_FIELD_ENCOUNTER);
	if ((v = chs_report__text(f, "reaction"))) {
		json_t *reaction = json_pack("{s:[o]}", "manifestation", text_concept(v));

		if (sev)
			json_object_set_new(reaction, "severity", json_string(sev));
		json_object_set_new(r, "reaction", json_pack("[o]", reaction));
	}
	return r;
}

static json_t *procedure(fhir *x, json_t *f)
{
	json_t *r = resource(x, "Procedure");
	json_t *cc = code_concept(chs_report__text(f, "cpt"), 1, NULL);

	json_object_set_new(r, "status", json_string("completed"));
	if (cc)
		json_object_set_new(r, "code", cc);
	set_ref(r, "subject", f, CHS_FIELD_PATIENT);
	set_ref(r, "encounter", f, CHS_FIELD_ENCOUNTER);
	set_datetime(r, "performedDateTime", f, "date");
	return r;
}

static char *base64(const char *data, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)data;
	char *out, *o;
	size_t i;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3 || !(out = malloc((len + 2) / 3 * 4 + 1)))
		return NULL;
	for (i = 0, o = out; i + 2 < len; i += 3) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = tab[p[i + 2] & 63];
	}
	if (i < len) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[((p[i] & 3) << 4) | (i + 1 < len ? p[i + 1] >> 4 : 0)];
		*o++ = i + 1 < len ? tab[(p[i + 1] & 15) << 2] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static json_t *document(fhir *x, json_t *f, json_t *attachment, const char *type)
{
	json_t *r = resource(x, "DocumentReference");
	json_t *ctx = json_object(), *enc = link_ref(f, CHS_FIELD_ENCOUNTER);
	char dt[48];

	json_object_set_new(r, "status", json_string("current"));
	json_object_set_new(r, "type", text_concept(type));
	set_ref(r, "subject", f, CHS_FIELD_PATIENT);
	if (fhir_datetime(chs_report__text(f, "date"), dt, 1) == 0)
		json_object_set_new(r, "date", json_string(dt));
	if (enc)
		json_object_set_new(ctx, "encounter", json_pack("[o]", enc));
	if (fhir_datetime(chs_report__text(f, "date"), dt, 0) == 0)
		json_object_set_new(ctx, "period", json_pack("{s:s}", "start", dt));
	json_object_set_new(r, "content", json_pack("[{s:o}]", "attachment", attachment));
	if (json_object_size(ctx))
		json_object_set(r, "context", ctx);
	json_decref(ctx);
	return r;
}

static json_t *note(fhir *x, json_t *f)
{
	const char *text = chs_report__text(f, "text"), *author = chs_report__text(f, "author");
	char *data = base64(text ? text : "", text ? strlen(text) : 0);
	json_t *att, *r;

	if (!data)
		return NULL;
	att = json_pack("{s:s}", "contentType", "text/plain; charset=utf-8");
	if (*data)
		json_object_set_new(att, "data", json_string(data));
	free(data);
	r = document(x, f, att, "Clinical note");
	if (author)
		json_object_set_new(r, "author", json_pack("[{s:s}]", "display", author));
	return r;
}

static json_t *attachment(fhir *x, json_t *f)
{
	const char *mime = chs_report__text(f, "mime"), *title = chs_report__text(f, "title");
	json_t *att = json_object(), *size = json_object_get(f, "size");
	json_t *r;
	const char *p;

	/* a FHIR code has no leading, trailing or doubled blanks */
	for (p = mime; p && *p; p++)
		if (isspace((unsigned char)*p) && (p == mime || !p[1] || isspace((unsigned char)p[1])))
			mime = NULL;
	json_object_set_new(att, "contentType",
			    json_string(mime ? mime : "application/octet-stream"));
	if (json_is_integer(size) && json_integer_value(size) >= 0 &&
	    json_integer_value(size) <= 2147483647)
		json_object_set(att, "size", size);
	if (title)
		json_object_set_new(att, "title", json_string(title));
	r = document(x, f, att, "Scanned chart page");
	if (title)
		json_object_set_new(r, "description", json_string(title));
	return r;
}

typedef json_t *(*resource_fn)(fhir *x, json_t *fields);

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

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
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

/* One entry: the fullUrl, then the resource, dumped into a reusable
 * buffer and written with one call (jansson's FILE writer makes a call per
 * token, which cost more than everything else together). */
static int put_entry(fhir *x, json_t *res)
{
	char uuid[37];
	size_t n;

	uuid_text(x->hex, uuid);
	while ((n = json_dumpb(res, x->dump, x->dump_cap, JSON_COMPACT)) > x->dump_cap) {
		char *p = realloc(x->dump, n);

		if (!p)
			return nomem();
		x->dump = p;
		x->dump_cap = n;
	}
	if (n == 0)
		return nomem();
	if (fprintf(x->out, "%s{\"fullUrl\":\"urn:uuid:%s\",\"resource\":", x->entries++ ? "," : "",
		    uuid) < 0 || fwrite(x->dump, 1, n, x->out) != n || fputc('}', x->out) == EOF)
		return write_failed();
	return 0;
}

static int row_entry(fhir *x, sqlite3_stmt *st)
{
	resource_fn fn = resource_for((const char *)sqlite3_column_text(st, 1));
	json_t *state, *res;
	char hex[33];
	int err;

	if (!fn || sqlite3_column_bytes(st, 0) != 16)
		return 0;
	if (!(state = chs_report__state(st, 2)))
		return 0;
	chs_hex(hex, sqlite3_column_blob(st, 0), 16);
	x->hex = hex;
	res = fn(x, json_object_get(state, "fields"));
	json_decref(state);
	if (!res)
		return nomem();
	err = put_entry(x, res);
	json_decref(res);
	return err;
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

	if ((err = chs_client__prepare(x->s, &st,
		     "SELECT count(*) FROM records WHERE NOT deleted AND"
		     " (?1 IS NULL OR patient = ?1 OR id = ?1)")) < 0)
		return err;
	if (pid)
		sqlite3_bind_blob(st, 1, pid, 16, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	chs_client__finish(x->s, st);
	return rc == SQLITE_ROW ? 0 : chs_client__sqlerr(x->s, rc, "counting records");
}

static int write_entries(fhir *x, const unsigned char *pid)
{
	sqlite3_stmt *st = NULL;
	int64_t total = 0, done = 0;
	int err, rc;

	if (x->o.progress && (err = count_rows(x, pid, &total)) < 0)
		return err;
	if ((err = chs_client__prepare(x->s, &st,
		     "SELECT id, type, state FROM records WHERE NOT deleted AND"
		     " (?1 IS NULL OR patient = ?1 OR id = ?1) ORDER BY rowid")) < 0)
		return err;
	if (pid)
		sqlite3_bind_blob(st, 1, pid, 16, SQLITE_STATIC);
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = row_entry(x, st);
		if (x->o.progress && (++done % 1024 == 0 || done == total))
			x->o.progress("exporting records", (size_t)done, (size_t)total,
				      x->o.payload);
	}
	chs_client__finish(x->s, st);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_client__sqlerr(x->s, rc, "reading the records");
	return err;
}

static int check_patient(chs_store *s, const char *prefix, unsigned char pid[16])
{
	sqlite3_stmt *st = NULL;
	char hex[33];
	int err, rc, is_patient = 0;

	if ((err = chs_record_resolve(s, prefix, hex)) < 0)
		return err;
	chs_client__parse_id(pid, hex);
	if ((err = chs_client__prepare(s, &st,
		     "SELECT type = 'patient' AND NOT deleted FROM records WHERE id = ?")) < 0)
		return err;
	sqlite3_bind_blob(st, 1, pid, 16, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		is_patient = sqlite3_column_int(st, 0);
	chs_client__finish(s, st);
	if (rc != SQLITE_ROW)
		return chs_client__sqlerr(s, rc, "reading a record");
	if (!is_patient)
		return chs_error_set(CHS_EINVALID, "'%s' is not a patient (give a patient's id)",
				     prefix);
	return 0;
}

int chs_export_fhir(chs_store *s, const char *patient_id, const chs_report_opts *opts,
		    FILE *out)
{
	unsigned char pid[16];
	fhir x;
	int err;

	memset(&x, 0, sizeof(x));
	x.s = s;
	x.out = out;
	chs_report__opts(&x.o, opts);
	x.today = x.o.now / CHS_DAY_S;
	if (patient_id && (err = check_patient(s, patient_id, pid)) < 0)
		return err;
	/* TODO(lead, audit): exporting a patient is an access to their chart:
	 * record it with chs_client__audit() once the audit helper's work is merged. */
	if ((err = bundle_head(&x)) == 0 && (err = write_entries(&x, patient_id ? pid : NULL)) == 0 &&
	    (fputs("]}\n", out) == EOF || fflush(out) == EOF))
		err = write_failed();
	free(x.dump);
	return err;
}
