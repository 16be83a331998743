/*
 * Records as the CLI prints them with --json (client/json/json.h).
 *
 * The text must stay what `chartsync show|ls|log|review --json` printed
 * when the library itself made it, byte for byte: every value goes
 * through jansson (a field's canonical JSON is parsed, then written by
 * json_dumps with the rest), never pasted in as text, since jansson
 * writes some escapes and some key orders differently from canonical
 * JSON.
 *
 * Documents are built as json_int.h describes.
 */
#include "json_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *candidate(chs_json_doc *d, const chs_record_candidate *c, int removal)
{
	json_t *o = json_object();

	chs_json__set(d, o, "change", json_string(c->change));
	chs_json__set(d, o, "user", json_string(c->user));
	chs_json__set(d, o, "terminal", json_string(c->terminal));
	chs_json__set(d, o, "device", json_string(c->device));
	chs_json__set(d, o, "time", json_string(c->time));
	if (removal)
		chs_json__set(d, o, "removed", json_boolean(c->removed));
	else
		chs_json__set(d, o, "value", c->value ? chs_json__value(c->value) : json_null());
	return o;
}

static json_t *fields(chs_json_doc *d, const chs_record *r)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < chs_record_field_count(r); i++)
		chs_json__set(d, o, chs_record_field_name(r, i), chs_json__value(chs_record_field_value(r, i)));
	return o;
}

static json_t *candidates(chs_json_doc *d, const chs_record *r)
{
	json_t *o = json_object();
	size_t i, k, n;

	for (i = 0; i < chs_record_field_count(r); i++) {
		json_t *arr;

		if ((n = chs_record_field_candidate_count(r, i)) == 0)
			continue;
		arr = json_array();
		for (k = 0; k < n; k++)
			chs_json__add(d, arr, candidate(d, chs_record_field_candidate(r, i, k), 0));
		chs_json__set(d, o, chs_record_field_name(r, i), arr);
	}
	return o;
}

static json_t *confirmed(chs_json_doc *d, const chs_confirmation *c)
{
	json_t *o;

	if (!c)
		return json_null();
	o = json_object();
	chs_json__set(d, o, "by", json_string(c->by));
	chs_json__set(d, o, "terminal", json_string(c->terminal));
	chs_json__set(d, o, "time", json_string(c->time));
	chs_json__set(d, o, "note", c->note ? json_string(c->note) : json_null());
	chs_json__set(d, o, "change", json_string(c->change));
	chs_json__set(d, o, "confirmation", json_string(c->confirmation));
	return o;
}

int chs_json_record(char **out, const chs_record *r)
{
	json_t *o = json_object(), *heads = json_array(), *removal;
	chs_json_doc d = { 0 };
	size_t i;

	chs_json__set(&d, o, "id", json_string(chs_record_id(r)));
	chs_json__set(&d, o, "type", json_string(chs_record_type(r)));
	chs_json__set(&d, o, "fields", fields(&d, r));
	chs_json__set(&d, o, "deleted", json_boolean(chs_record_deleted(r)));
	chs_json__set(&d, o, "review", json_boolean(chs_record_under_review(r)));
	for (i = 0; i < chs_record_head_count(r); i++)
		chs_json__add(&d, heads, json_string(chs_record_head(r, i)));
	chs_json__set(&d, o, "heads", heads);
	chs_json__set(&d, o, "candidates", candidates(&d, r));
	chs_json__set(&d, o, "changes", json_integer((json_int_t)chs_record_change_count(r)));
	if (chs_record_removal_under_review(r)) {
		removal = json_array();
		for (i = 0; i < chs_record_removal_count(r); i++)
			chs_json__add(&d, removal, candidate(&d, chs_record_removal_candidate(r, i), 1));
		chs_json__set(&d, o, "removal", removal);
	}
	chs_json__set(&d, o, "confirmed", confirmed(&d, chs_record_confirmed(r)));
	return chs_json__dump(&d, o, JSON_SORT_KEYS, out);
}

/* A record in a list. "under_review" names the parts of the record under
 * review as its stored state does: "exists" (its removal), "fields". */
static json_t *row(chs_json_doc *d, const chs_record *r)
{
	json_t *o = json_object(), *parts;
	size_t i;

	chs_json__set(d, o, "id", json_string(chs_record_id(r)));
	chs_json__set(d, o, "type", json_string(chs_record_type(r)));
	chs_json__set(d, o, "fields", fields(d, r));
	chs_json__set(d, o, "review", json_boolean(chs_record_under_review(r)));
	if (!chs_record_under_review(r))
		return o;
	parts = json_array();
	if (chs_record_removal_under_review(r))
		chs_json__add(d, parts, json_string("exists"));
	for (i = 0; i < chs_record_field_count(r); i++)
		if (chs_record_field_under_review(r, i))
			break;
	if (i < chs_record_field_count(r))
		chs_json__add(d, parts, json_string("fields"));
	chs_json__set(d, o, "under_review", parts);
	return o;
}

int chs_json_record_list(char **out, const chs_record_list *l)
{
	json_t *arr = json_array();
	chs_json_doc d = { 0 };
	size_t i;

	for (i = 0; i < chs_record_list_count(l); i++)
		chs_json__add(&d, arr, row(&d, chs_record_list_get(l, i)));
	return chs_json__dump(&d, arr, JSON_SORT_KEYS, out);
}

static json_t *entry(chs_json_doc *d, const chs_history_entry *e)
{
	json_t *o = json_object(), *set_ = json_object();
	size_t i;

	chs_json__set(d, o, "change", json_string(e->change));
	chs_json__set(d, o, "user", json_string(e->user));
	chs_json__set(d, o, "terminal", json_string(e->terminal));
	chs_json__set(d, o, "device", json_string(e->device));
	chs_json__set(d, o, "time", json_string(e->time));
	chs_json__set(d, o, "op", json_string(e->op));
	for (i = 0; i < e->nset; i++)
		chs_json__set(d, set_, e->set[i].name, chs_json__value(e->set[i].value));
	chs_json__set(d, o, "set", set_);
	chs_json__set(d, o, "unset", chs_json__strings(d, e->unset, e->nunset));
	chs_json__set(d, o, "parents", chs_json__strings(d, e->parents, e->nparents));
	chs_json__set(d, o, "merge", json_boolean(e->merge));
	if (strcmp(e->op, "resolve") == 0)
		chs_json__set(d, o, "removed", json_boolean(e->removed));
	return o;
}

int chs_json_history(char **out, const chs_history *h)
{
	json_t *arr = json_array();
	chs_json_doc d = { 0 };
	size_t i;

	for (i = 0; i < chs_history_count(h); i++)
		chs_json__add(&d, arr, entry(&d, chs_history_get(h, i)));
	return chs_json__dump(&d, arr, JSON_SORT_KEYS, out);
}

int chs_json_value_text(char **out, const char *text)
{
	json_t *v = text ? chs_json__value(text) : NULL;

	*out = NULL;
	if (!v)
		return text ? chs_error_set(CHS_ENOMEM, "out of memory") : 0;
	if (json_is_string(v))
		*out = chs_strdup(json_string_value(v));
	else
		*out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}
