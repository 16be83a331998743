/*
 * Confirmation and coding as the CLI prints them with --json
 * (client/json/json.h): `ls --unconfirmed`, `code queue`, `code assign`.
 *
 * The text must stay what those commands printed when the library made
 * it, byte for byte; as in json.c, every value goes through jansson
 * (a field's canonical JSON is parsed, then written with the rest), and a
 * failure to build is noted in a flag, checked once at the dump.
 */
#include "client/json/json.h"

#include <jansson.h>
#include <stdlib.h>

typedef struct doc {
	int bad; /* something could not be built: out of memory */
} doc;

/* Set o[key] = v, taking `v` whatever happens. */
static void set(doc *d, json_t *o, const char *key, json_t *v)
{
	if (!o || !v) {
		json_decref(v);
		d->bad = 1;
	} else if (json_object_set_new(o, key, v) < 0) {
		d->bad = 1;
	}
}

/* Append `v` to arr, taking `v` whatever happens. */
static void add(doc *d, json_t *arr, json_t *v)
{
	if (!arr || !v) {
		json_decref(v);
		d->bad = 1;
	} else if (json_array_append_new(arr, v) < 0) {
		d->bad = 1;
	}
}

/* Canonical JSON text as a jansson value. */
static json_t *value(const char *text)
{
	return json_loads(text, JSON_DECODE_ANY, NULL);
}

/* A string, or null for NULL. */
static json_t *string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* o[key] = the string, only when there is one. */
static void set_string(doc *d, json_t *o, const char *key, const char *s)
{
	if (s)
		set(d, o, key, json_string(s));
}

/* o[key] = the canonical JSON value, only when there is one. */
static void set_value(doc *d, json_t *o, const char *key, const char *text)
{
	if (text)
		set(d, o, key, value(text));
}

/* Write `v` (taken) to *out. */
static int dump(doc *d, json_t *v, char **out)
{
	*out = NULL;
	if (!d->bad && v)
		*out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(v);
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}

static json_t *unconfirmed_row(doc *d, const chs_record *r)
{
	json_t *o = json_object(), *fields = json_object();
	size_t i;

	for (i = 0; i < chs_record_field_count(r); i++)
		set(d, fields, chs_record_field_name(r, i), value(chs_record_field_value(r, i)));
	set(d, o, "id", json_string(chs_record_id(r)));
	set(d, o, "type", json_string(chs_record_type(r)));
	set(d, o, "fields", fields);
	set(d, o, "review", json_boolean(chs_record_under_review(r)));
	set_string(d, o, "changed", chs_record_changed(r));
	set_string(d, o, "by", chs_record_changed_by(r));
	return o;
}

int chs_json_unconfirmed(char **out, const chs_record_list *l)
{
	json_t *arr = json_array();
	doc d = { 0 };
	size_t i;

	for (i = 0; i < chs_record_list_count(l); i++)
		add(&d, arr, unconfirmed_row(&d, chs_record_list_get(l, i)));
	return dump(&d, arr, out);
}

static json_t *procedure(doc *d, const chs_coding_procedure *p)
{
	json_t *o = json_object();

	set(d, o, "id", json_string(p->id));
	set(d, o, "cpt", string_or_null(p->cpt));
	set(d, o, "modifier", string_or_null(p->modifier));
	set(d, o, "fee", p->has_fee ? json_integer((json_int_t)p->fee) : json_null());
	return o;
}

static json_t *diagnosis(doc *d, const chs_coding_diagnosis *g)
{
	json_t *o = json_object();

	set(d, o, "id", json_string(g->id));
	set(d, o, "icd", string_or_null(g->icd));
	return o;
}

static json_t *queued_visit(doc *d, const chs_coding_visit *v)
{
	json_t *o = json_object(), *procs = json_array(), *diags = json_array();
	size_t i;

	set(d, o, "encounter", json_string(v->encounter));
	set_string(d, o, "patient", v->patient);
	set_string(d, o, "name", v->name);
	set_string(d, o, "mrn", v->mrn);
	set_value(d, o, "date", v->date);
	set_value(d, o, "reason", v->reason);
	set_value(d, o, "provider", v->provider);
	set_value(d, o, "sent", v->sent);
	for (i = 0; i < v->nprocedures; i++)
		add(d, procs, procedure(d, &v->procedures[i]));
	for (i = 0; i < v->ndiagnoses; i++)
		add(d, diags, diagnosis(d, &v->diagnoses[i]));
	set(d, o, "procedures", procs);
	set(d, o, "diagnoses", diags);
	return o;
}

int chs_json_coding_queue(char **out, const chs_coding_list *q)
{
	json_t *arr = json_array();
	doc d = { 0 };
	size_t i;

	for (i = 0; i < chs_coding_list_count(q); i++)
		add(&d, arr, queued_visit(&d, chs_coding_list_get(q, i)));
	return dump(&d, arr, out);
}

static json_t *strings(doc *d, const char *const *s, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		add(d, arr, json_string(s[i]));
	return arr;
}

int chs_json_coding_assignment(char **out, const chs_coding_assignment *a)
{
	json_t *o = json_object();
	doc d = { 0 };

	set(&d, o, "procedure", string_or_null(a->procedure));
	set(&d, o, "fee", a->has_fee ? json_integer((json_int_t)a->fee) : json_null());
	set(&d, o, "diagnoses", strings(&d, a->diagnoses, a->ndiagnoses));
	set(&d, o, "warnings", strings(&d, a->warnings, a->nwarnings));
	return dump(&d, o, out);
}
