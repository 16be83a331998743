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
 * A document is built with set() and add(), which note a failure in a
 * flag instead of stopping: the flag is checked once, at the dump.
 */
#include "client/json/json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

/* A field's canonical JSON as a jansson value. */
static json_t *value(const char *text)
{
	return json_loads(text, JSON_DECODE_ANY, NULL);
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

static json_t *candidate(doc *d, const chs_record_candidate *c, int removal)
{
	json_t *o = json_object();

	set(d, o, "change", json_string(c->change));
	set(d, o, "user", json_string(c->user));
	set(d, o, "terminal", json_string(c->terminal));
	set(d, o, "device", json_string(c->device));
	set(d, o, "time", json_string(c->time));
	if (removal)
		set(d, o, "removed", json_boolean(c->removed));
	else
		set(d, o, "value", c->value ? value(c->value) : json_null());
	return o;
}

static json_t *fields(doc *d, const chs_record *r)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < chs_record_field_count(r); i++)
		set(d, o, chs_record_field_name(r, i), value(chs_record_field_value(r, i)));
	return o;
}

static json_t *candidates(doc *d, const chs_record *r)
{
	json_t *o = json_object();
	size_t i, k, n;

	for (i = 0; i < chs_record_field_count(r); i++) {
		json_t *arr;

		if ((n = chs_record_field_candidate_count(r, i)) == 0)
			continue;
		arr = json_array();
		for (k = 0; k < n; k++)
			add(d, arr, candidate(d, chs_record_field_candidate(r, i, k), 0));
		set(d, o, chs_record_field_name(r, i), arr);
	}
	return o;
}

static json_t *confirmed(doc *d, const chs_confirmation *c)
{
	json_t *o;

	if (!c)
		return json_null();
	o = json_object();
	set(d, o, "by", json_string(c->by));
	set(d, o, "terminal", json_string(c->terminal));
	set(d, o, "time", json_string(c->time));
	set(d, o, "note", c->note ? json_string(c->note) : json_null());
	set(d, o, "change", json_string(c->change));
	set(d, o, "confirmation", json_string(c->confirmation));
	return o;
}

static json_t *strings(doc *d, const char *const *s, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		add(d, arr, json_string(s[i]));
	return arr;
}

int chs_json_record(char **out, const chs_record *r)
{
	json_t *o = json_object(), *heads = json_array(), *removal;
	doc d = { 0 };
	size_t i;

	set(&d, o, "id", json_string(chs_record_id(r)));
	set(&d, o, "type", json_string(chs_record_type(r)));
	set(&d, o, "fields", fields(&d, r));
	set(&d, o, "deleted", json_boolean(chs_record_deleted(r)));
	set(&d, o, "review", json_boolean(chs_record_under_review(r)));
	for (i = 0; i < chs_record_head_count(r); i++)
		add(&d, heads, json_string(chs_record_head(r, i)));
	set(&d, o, "heads", heads);
	set(&d, o, "candidates", candidates(&d, r));
	set(&d, o, "changes", json_integer((json_int_t)chs_record_change_count(r)));
	if (chs_record_removal_under_review(r)) {
		removal = json_array();
		for (i = 0; i < chs_record_removal_count(r); i++)
			add(&d, removal, candidate(&d, chs_record_removal_candidate(r, i), 1));
		set(&d, o, "removal", removal);
	}
	set(&d, o, "confirmed", confirmed(&d, chs_record_confirmed(r)));
	return dump(&d, o, out);
}

/* A record in a list. "under_review" names the parts of the record under
 * review as its stored state does: "exists" (its removal), "fields". */
static json_t *row(doc *d, const chs_record *r)
{
	json_t *o = json_object(), *parts;
	size_t i;

	set(d, o, "id", json_string(chs_record_id(r)));
	set(d, o, "type", json_string(chs_record_type(r)));
	set(d, o, "fields", fields(d, r));
	set(d, o, "review", json_boolean(chs_record_under_review(r)));
	if (!chs_record_under_review(r))
		return o;
	parts = json_array();
	if (chs_record_removal_under_review(r))
		add(d, parts, json_string("exists"));
	for (i = 0; i < chs_record_field_count(r); i++)
		if (chs_record_field_under_review(r, i))
			break;
	if (i < chs_record_field_count(r))
		add(d, parts, json_string("fields"));
	set(d, o, "under_review", parts);
	return o;
}

int chs_json_record_list(char **out, const chs_record_list *l)
{
	json_t *arr = json_array();
	doc d = { 0 };
	size_t i;

	for (i = 0; i < chs_record_list_count(l); i++)
		add(&d, arr, row(&d, chs_record_list_get(l, i)));
	return dump(&d, arr, out);
}

static json_t *entry(doc *d, const chs_history_entry *e)
{
	json_t *o = json_object(), *set_ = json_object();
	size_t i;

	set(d, o, "change", json_string(e->change));
	set(d, o, "user", json_string(e->user));
	set(d, o, "terminal", json_string(e->terminal));
	set(d, o, "device", json_string(e->device));
	set(d, o, "time", json_string(e->time));
	set(d, o, "op", json_string(e->op));
	for (i = 0; i < e->nset; i++)
		set(d, set_, e->set[i].name, value(e->set[i].value));
	set(d, o, "set", set_);
	set(d, o, "unset", strings(d, e->unset, e->nunset));
	set(d, o, "parents", strings(d, e->parents, e->nparents));
	set(d, o, "merge", json_boolean(e->merge));
	if (strcmp(e->op, "resolve") == 0)
		set(d, o, "removed", json_boolean(e->removed));
	return o;
}

int chs_json_history(char **out, const chs_history *h)
{
	json_t *arr = json_array();
	doc d = { 0 };
	size_t i;

	for (i = 0; i < chs_history_count(h); i++)
		add(&d, arr, entry(&d, chs_history_get(h, i)));
	return dump(&d, arr, out);
}

int chs_json_value_text(char **out, const char *text)
{
	json_t *v = text ? value(text) : NULL;

	*out = NULL;
	if (!v)
		return text ? chs_error_set(CHS_ENOMEM, "out of memory") : 0;
	if (json_is_string(v))
		*out = strdup(json_string_value(v));
	else
		*out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}
