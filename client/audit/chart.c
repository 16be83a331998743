/*
 * A patient's whole chart laid out for reading, the way a technician
 * reads the paper one: demographics, problems, medications, allergies,
 * then each visit (oldest first) with its notes, procedures, diagnoses
 * and attachments, then what belongs to no visit. Removed records are
 * left out; a record under review is marked, its provisional values shown.
 */
#include "audit_int.h"
#include "client/text/text.h"

#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
	char hex[33];
	char type[16];
	unsigned char encounter[16];
	int has_encounter;
	int review;
	json_t *fields; /* owned */
} item;

typedef struct chart {
	item *items;
	size_t n, cap;
	chs_buf out;
} chart;

/* What a field shows, as "label value" pairs; a NULL label shows the
 * value alone. */
typedef struct show_field {
	const char *name;
	const char *label;
} show_field;

static const show_field patient_show[] = { { "mrn", "mrn" }, { "dob", "born" },
	{ "sex", "sex" }, { "phone", "phone" }, { "address", "address" },
	{ "payer", "payer" }, { "member_id", "member id" }, { NULL, NULL } };
static const show_field problem_show[] = { { "name", NULL }, { "icd", NULL },
	{ "onset", "onset" }, { "status", NULL }, { NULL, NULL } };
static const show_field medication_show[] = { { "name", NULL }, { "dose", NULL },
	{ "unit", NULL }, { "route", NULL }, { "frequency", NULL }, { "start", "from" },
	{ "end", "to" }, { NULL, NULL } };
static const show_field allergy_show[] = { { "substance", NULL },
	{ "reaction", "reaction" }, { "severity", "severity" }, { NULL, NULL } };
static const show_field visit_show[] = { { "date", NULL }, { "reason", NULL },
	{ "provider", "provider" }, { NULL, NULL } };
static const show_field procedure_show[] = { { "cpt", "procedure" },
	{ "modifier", "modifier" }, { "fee", "fee" }, { "date", NULL }, { NULL, NULL } };
static const show_field diagnosis_show[] = { { "icd", "diagnosis" }, { NULL, NULL } };
static const show_field note_show[] = { { "date", "note" }, { "author", "by" },
	{ NULL, NULL } };
static const show_field attachment_show[] = { { "title", "attachment" },
	{ "mime", NULL }, { "size", "bytes" }, { NULL, NULL } };

static void chart_dispose(chart *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		json_decref(c->items[i].fields);
	free(c->items);
	chs_buf_dispose(&c->out);
}

static int push_item(chs_store *s, chart *c, sqlite3_stmt *st)
{
	json_t *state = json_loadb(sqlite3_column_blob(st, 3),
				   (size_t)sqlite3_column_bytes(st, 3), 0, NULL);
	item *it;
	int err;

	if ((err = CHS_ARRAY_GROW(c->items, c->cap, c->n + 1)) < 0) {
		json_decref(state);
		return err;
	}
	it = &c->items[c->n++];
	memset(it, 0, sizeof(*it));
	chs_hex(it->hex, sqlite3_column_blob(st, 0), 16);
	snprintf(it->type, sizeof(it->type), "%s", sqlite3_column_text(st, 1));
	if (sqlite3_column_bytes(st, 2) == 16) {
		memcpy(it->encounter, sqlite3_column_blob(st, 2), 16);
		it->has_encounter = 1;
	}
	it->review = sqlite3_column_int(st, 4);
	it->fields = json_incref(json_object_get(state, "fields"));
	json_decref(state);
	/* a visit's reason from its clinical companion, or none at a billing office */
	return chs_records__clinical_fields(s, it->type, sqlite3_column_blob(st, 0), it->fields);
}

static int load_chart(chs_store *s, const unsigned char pid[16], chart *c)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "SELECT id, type, encounter, state, review FROM records WHERE NOT deleted"
		     " AND (patient = ?1 OR id = ?1) AND type <> 'audit' ORDER BY rowid")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, pid, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((err = push_item(s, c, st)) < 0)
			break;
	chs_store__finish(s, st);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading a chart");
	return err;
}

/* ---- drawing ---- */

/* A value as text for a terminal: whatever a sync brought, escaped
 * (client/text), so no control character or bidirectional override in a
 * record reaches the reader's screen. */
static void put_safe(chs_buf *b, const char *s, chs_text_form form)
{
	chs_text_escape(b, s, strlen(s), form);
}

static void put_value(chs_buf *b, const char *name, json_t *v)
{
	if (json_is_string(v))
		put_safe(b, json_string_value(v), CHS_TEXT_LINE);
	else if (json_is_integer(v) && strcmp(name, "fee") == 0)
		chs_buf_printf(b, "$%lld.%02lld", (long long)(json_integer_value(v) / 100),
			       (long long)(json_integer_value(v) % 100));
	else if (json_is_integer(v))
		chs_buf_printf(b, "%lld", (long long)json_integer_value(v));
	else if (v) {
		char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		put_safe(b, t ? t : "", CHS_TEXT_LINE);
		free(t);
	}
}

/* One line: `indent`, then each field present, two spaces apart. */
static void put_line(chs_buf *b, int indent, const item *it, const show_field *sf)
{
	int first = 1;

	chs_buf_printf(b, "%*s", indent, "");
	for (; sf->name; sf++) {
		json_t *v = json_object_get(it->fields, sf->name);

		if (!v || json_is_null(v))
			continue;
		if (!first)
			chs_buf_puts(b, "  ");
		if (sf->label)
			chs_buf_printf(b, "%s ", sf->label);
		put_value(b, sf->name, v);
		first = 0;
	}
	chs_buf_printf(b, "%s\n", it->review ? "  [UNDER REVIEW: provisional]" : "");
}

/* A note's text, every line indented. */
static void put_text(chs_buf *b, int indent, const item *it)
{
	const char *t = json_string_value(json_object_get(it->fields, "text"));
	const char *nl;

	while (t && *t) {
		size_t n;

		nl = strchr(t, '\n');
		n = nl ? (size_t)(nl - t) : strlen(t);
		chs_buf_printf(b, "%*s", indent, "");
		chs_text_escape(b, t, n, CHS_TEXT_LINES); /* a tab stays; a CR does not */
		chs_buf_puts(b, "\n");
		t = nl ? nl + 1 : NULL;
	}
}

static const show_field *shown(const char *type)
{
	static const struct { const char *type; const show_field *sf; } map[] = {
		{ "problem", problem_show }, { "medication", medication_show },
		{ "allergy", allergy_show }, { "procedure", procedure_show },
		{ "diagnosis", diagnosis_show }, { "note", note_show },
		{ "attachment", attachment_show }, { "encounter", visit_show },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].type, type) == 0)
			return map[i].sf;
	return NULL;
}

static void put_item(chs_buf *b, int indent, const item *it)
{
	const show_field *sf = shown(it->type);

	if (!sf)
		return;
	put_line(b, indent, it, sf);
	if (strcmp(it->type, "note") == 0)
		put_text(b, indent + 4, it);
}

/* Every item of `type` whose visit is `enc` (NULL: none of this chart's). */
static size_t put_section(chart *c, const char *title, const char *type,
			  const unsigned char *enc, int indent)
{
	size_t i, shown_n = 0;

	for (i = 0; i < c->n; i++) {
		const item *it = &c->items[i];

		if (strcmp(it->type, type) != 0)
			continue;
		if (enc ? !it->has_encounter || memcmp(it->encounter, enc, 16) != 0
			: it->has_encounter && strcmp(type, "problem") != 0 &&
			  strcmp(type, "medication") != 0 && strcmp(type, "allergy") != 0)
			continue;
		if (title && shown_n == 0)
			chs_buf_printf(&c->out, "\n%s\n", title);
		put_item(&c->out, indent, it);
		shown_n++;
	}
	return shown_n;
}

static const char *date_of(const item *it)
{
	const char *d = json_string_value(json_object_get(it->fields, "date"));

	return d ? d : "";
}

static void put_visit(chart *c, const item *v)
{
	static const char *const parts[] = { "note", "procedure", "diagnosis", "attachment" };
	unsigned char enc[16];
	size_t k;

	chs_unhex(enc, 16, v->hex);
	chs_buf_puts(&c->out, "\n");
	put_line(&c->out, 2, v, visit_show);
	chs_buf_printf(&c->out, "    (visit %.12s)\n", v->hex);
	for (k = 0; k < sizeof(parts) / sizeof(parts[0]); k++)
		put_section(c, NULL, parts[k], enc, 4);
}

/* Visits oldest first (by date, then as entered). */
static void put_visits(chart *c)
{
	const item **v = chs_calloc(c->n + 1, sizeof(*v));
	size_t i, j, n = 0;

	if (!v)
		return;
	for (i = 0; i < c->n; i++)
		if (strcmp(c->items[i].type, "encounter") == 0) {
			const item *it = &c->items[i];

			for (j = n; j > 0 && strcmp(date_of(v[j - 1]), date_of(it)) > 0; j--)
				v[j] = v[j - 1];
			v[j] = it;
			n++;
		}
	if (n)
		chs_buf_printf(&c->out, "\nVisits (%zu)\n", n);
	for (i = 0; i < n; i++)
		put_visit(c, v[i]);
	free(v);
}

static void put_header(chart *c, const item *p)
{
	const char *name = json_string_value(json_object_get(p->fields, "name"));

	chs_buf_puts(&c->out, "Chart of ");
	put_safe(&c->out, name ? name : "(no name)", CHS_TEXT_LINE);
	chs_buf_printf(&c->out, "%s\n", p->review ? "  [UNDER REVIEW: provisional]" : "");
	chs_buf_printf(&c->out, "  patient %s\n", p->hex);
	put_line(&c->out, 2, p, patient_show);
}

static int draw(chart *c, const unsigned char pid[16], char **text)
{
	size_t i;
	char hex[33];

	chs_hex(hex, pid, 16);
	for (i = 0; i < c->n && strcmp(c->items[i].hex, hex) != 0; i++)
		;
	if (i == c->n || strcmp(c->items[i].type, "patient") != 0)
		return chs_error_set(CHS_EINVALID, "record %s is not a patient", hex);
	put_header(c, &c->items[i]);
	put_section(c, "Problems", "problem", NULL, 2);
	put_section(c, "Medications", "medication", NULL, 2);
	put_section(c, "Allergies", "allergy", NULL, 2);
	put_visits(c);
	put_section(c, "Notes not tied to a visit", "note", NULL, 2);
	put_section(c, "Attachments not tied to a visit", "attachment", NULL, 2);
	put_section(c, "Procedures not tied to a visit", "procedure", NULL, 2);
	put_section(c, "Diagnoses not tied to a visit", "diagnosis", NULL, 2);
	if (!(*text = chs_buf_detach(&c->out)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return 0;
}

static int chart_build(chs_store *s, const char *patient, chart *c, unsigned char pid[16],
		       char **text)
{
	char hex[33];
	int err;

	*text = NULL;
	memset(c, 0, sizeof(*c));
	chs_buf_init(&c->out, 0);
	/* a merged patient's chart is the one it was merged into */
	if ((err = chs_record_follow(s, patient, hex, NULL)) < 0)
		return err;
	chs_util__parse_id(pid, hex);
	if ((err = load_chart(s, pid, c)) < 0)
		return err;
	return draw(c, pid, text);
}

int chs_chart_open(chs_store *s, const char *patient, char **text, chs_access **access)
{
	unsigned char pid[16], id[16];
	chs_access *a = NULL;
	size_t i;
	chart c;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(patient);
	CHS_ASSERT_ARG(text);
	CHS_ASSERT_ARG(access);

	*access = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	if ((err = chs_audit__access_begin(&a, "open")) < 0)
		return err;
	if ((err = chart_build(s, patient, &c, pid, text)) < 0)
		goto done;
	chs_audit__access_patient(a, pid);
	/* the patient first, then every record the chart shows */
	if ((err = chs_audit__access_add(a, pid)) < 0)
		goto done;
	for (i = 0; i < c.n && err == 0; i++)
		if (chs_util__parse_id(id, c.items[i].hex) == 0 && memcmp(id, pid, 16) != 0)
			err = chs_audit__access_add(a, id);
	if (err == 0)
		err = chs_audit__probe(s);
done:
	chart_dispose(&c);
	if (err < 0) {
		chs_access_free(a);
		free(*text);
		*text = NULL;
		return err;
	}
	*access = a;
	return 0;
}
