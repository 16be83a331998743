/*
 * Confirmation and coding as the CLI prints them with --json
 * (client/json/json.h): `ls --unconfirmed`, `code queue`, `code assign`.
 *
 * The text must stay what those commands printed when the library made
 * it, byte for byte; as in json.c, every value goes through jansson
 * (a field's canonical JSON is parsed, then written with the rest), and a
 * failure to build is noted in a flag, checked once at the dump.
 */
#include "json_int.h"

#include <jansson.h>
#include <stdlib.h>

/* A string, or null for NULL. */
static json_t *string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* o[key] = the string, only when there is one. */
static void set_string(chs_json_doc *d, json_t *o, const char *key, const char *s)
{
	if (s)
		chs_json__set(d, o, key, json_string(s));
}

/* o[key] = the canonical JSON value, only when there is one. */
static void set_value(chs_json_doc *d, json_t *o, const char *key, const char *text)
{
	if (text)
		chs_json__set(d, o, key, chs_json__value(text));
}

static json_t *unconfirmed_row(chs_json_doc *d, const chs_record *r)
{
	json_t *o = json_object(), *fields = json_object();
	size_t i;

	for (i = 0; i < chs_record_field_count(r); i++)
		chs_json__set(d, fields, chs_record_field_name(r, i), chs_json__value(chs_record_field_value(r, i)));
	chs_json__set(d, o, "id", json_string(chs_record_id(r)));
	chs_json__set(d, o, "type", json_string(chs_record_type(r)));
	chs_json__set(d, o, "fields", fields);
	chs_json__set(d, o, "review", json_boolean(chs_record_under_review(r)));
	set_string(d, o, "changed", chs_record_changed(r));
	set_string(d, o, "by", chs_record_changed_by(r));
	return o;
}

int chs_json_unconfirmed(char **out, const chs_record_list *l)
{
	json_t *arr = json_array();
	chs_json_doc d = { 0 };
	size_t i;

	for (i = 0; i < chs_record_list_count(l); i++)
		chs_json__add(&d, arr, unconfirmed_row(&d, chs_record_list_get(l, i)));
	return chs_json__dump(&d, arr, JSON_SORT_KEYS, out);
}

static json_t *procedure(chs_json_doc *d, const chs_coding_procedure *p)
{
	json_t *o = json_object();

	chs_json__set(d, o, "id", json_string(p->id));
	chs_json__set(d, o, "cpt", string_or_null(p->cpt));
	chs_json__set(d, o, "modifier", string_or_null(p->modifier));
	chs_json__set(d, o, "fee", p->has_fee ? json_integer((json_int_t)p->fee) : json_null());
	return o;
}

static json_t *diagnosis(chs_json_doc *d, const chs_coding_diagnosis *g)
{
	json_t *o = json_object();

	chs_json__set(d, o, "id", json_string(g->id));
	chs_json__set(d, o, "icd", string_or_null(g->icd));
	return o;
}

static json_t *queued_visit(chs_json_doc *d, const chs_coding_visit *v)
{
	json_t *o = json_object(), *procs = json_array(), *diags = json_array();
	size_t i;

	chs_json__set(d, o, "encounter", json_string(v->encounter));
	set_string(d, o, "patient", v->patient);
	set_string(d, o, "name", v->name);
	set_string(d, o, "mrn", v->mrn);
	set_value(d, o, "date", v->date);
	set_value(d, o, "reason", v->reason);
	set_value(d, o, "provider", v->provider);
	set_value(d, o, "sent", v->sent);
	for (i = 0; i < v->nprocedures; i++)
		chs_json__add(d, procs, procedure(d, &v->procedures[i]));
	for (i = 0; i < v->ndiagnoses; i++)
		chs_json__add(d, diags, diagnosis(d, &v->diagnoses[i]));
	chs_json__set(d, o, "procedures", procs);
	chs_json__set(d, o, "diagnoses", diags);
	return o;
}

int chs_json_coding_queue(char **out, const chs_coding_list *q)
{
	json_t *arr = json_array();
	chs_json_doc d = { 0 };
	size_t i;

	for (i = 0; i < chs_coding_list_count(q); i++)
		chs_json__add(&d, arr, queued_visit(&d, chs_coding_list_get(q, i)));
	return chs_json__dump(&d, arr, JSON_SORT_KEYS, out);
}

int chs_json_coding_assignment(char **out, const chs_coding_assignment *a)
{
	json_t *o = json_object();
	chs_json_doc d = { 0 };

	chs_json__set(&d, o, "procedure", string_or_null(a->procedure));
	chs_json__set(&d, o, "fee", a->has_fee ? json_integer((json_int_t)a->fee) : json_null());
	chs_json__set(&d, o, "diagnoses", chs_json__strings(&d, a->diagnoses, a->ndiagnoses));
	chs_json__set(&d, o, "warnings", chs_json__strings(&d, a->warnings, a->nwarnings));
	return chs_json__dump(&d, o, JSON_SORT_KEYS, out);
}
