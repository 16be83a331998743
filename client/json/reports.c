/*
 * Reports and the roster as the CLI prints them with --json
 * (client/json/json.h).
 *
 * The text must stay what `chartsync report access|consistency|coding
 * --json` and `chartsync device list --json` printed when the library
 * made it, byte for byte: compact, keys in the order they were packed
 * (jansson keeps insertion order), reals as jansson writes them.
 *
 * A document is built with set() and add(), which note a failure in a
 * flag instead of stopping: the flag is checked once, at the dump.
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

/* Write `v` (taken) to *out, keys in insertion order. */
static int dump(doc *d, json_t *v, char **out)
{
	*out = NULL;
	if (!d->bad && v)
		*out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(v);
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}

static json_t *strings(doc *d, const char *const *v, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		add(d, arr, json_string(v[i]));
	return arr;
}

static json_t *size(size_t n)
{
	return json_integer((json_int_t)n);
}

static json_t *access_event(doc *d, const chs_access_event *e)
{
	json_t *o = json_object();

	set(d, o, "event", json_string(e->event));
	set(d, o, "start", json_string(e->start));
	set(d, o, "duration_ms", json_integer((json_int_t)e->duration_ms));
	set(d, o, "user", json_string(e->user));
	set(d, o, "terminal", json_string(e->terminal));
	set(d, o, "device", json_string(e->device));
	set(d, o, "action", json_string(e->action));
	set(d, o, "patient", json_string(e->patient));
	set(d, o, "record", json_string(e->record));
	set(d, o, "records", strings(d, e->records, e->nrecords));
	return o;
}

int chs_json_access_report(char **out, const chs_access_report *r)
{
	doc d = { 0 };
	json_t *arr;
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	arr = json_array();
	for (i = 0; i < chs_access_report_count(r); i++)
		add(&d, arr, access_event(&d, chs_access_report_get(r, i)));
	return dump(&d, arr, out);
}

static json_t *finding(doc *d, const chs_finding *f)
{
	json_t *o = json_object();

	set(d, o, "kind", json_string(f->kind));
	set(d, o, "patient", f->patient ? json_string(f->patient) : json_null());
	set(d, o, "records", strings(d, f->records, f->nrecords));
	set(d, o, "detail", json_string(f->detail));
	return o;
}

int chs_json_consistency_report(char **out, const chs_consistency_report *r)
{
	json_t *o, *findings, *counts;
	doc d = { 0 };
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	o = json_object();
	findings = json_array();
	counts = json_object();
	for (i = 0; i < chs_consistency_report_count(r); i++)
		add(&d, findings, finding(&d, chs_consistency_report_get(r, i)));
	for (i = 0; i < chs_consistency_report_kind_count(r); i++) {
		const chs_finding_count *k = chs_consistency_report_kind(r, i);

		set(&d, counts, k->kind, size(k->n));
	}
	set(&d, o, "findings", findings);
	set(&d, o, "counts", counts);
	set(&d, o, "patients", size(chs_consistency_report_patients(r)));
	set(&d, o, "visits", size(chs_consistency_report_visits(r)));
	return dump(&d, o, out);
}

static json_t *coder(doc *d, const chs_coder_stats *c)
{
	json_t *o = json_object();

	set(d, o, "coder", json_string(c->coder));
	set(d, o, "done", size(c->done));
	set(d, o, "last_30_days", size(c->last_30_days));
	set(d, o, "per_day", json_real(c->per_day));
	set(d, o, "median_turnaround_days", json_real(c->median_turnaround_days));
	return o;
}

int chs_json_coding_report(char **out, const chs_coding_report *r)
{
	json_t *o, *queue, *coders;
	const chs_coding_queue_stats *q;
	doc d = { 0 };
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	o = json_object();
	queue = json_object();
	coders = json_array();
	q = chs_coding_report_queue(r);
	set(&d, queue, "length", size(q->length));
	set(&d, queue, "oldest", q->oldest ? json_string(q->oldest) : json_null());
	set(&d, queue, "oldest_days", json_real(q->oldest_days));
	set(&d, queue, "median_days", json_real(q->median_days));
	for (i = 0; i < chs_coding_report_coder_count(r); i++)
		add(&d, coders, coder(&d, chs_coding_report_coder(r, i)));
	set(&d, o, "queue", queue);
	set(&d, o, "done", size(chs_coding_report_done(r)));
	set(&d, o, "coders", coders);
	return dump(&d, o, out);
}

static json_t *device(doc *d, const chs_device_info *v)
{
	json_t *o = json_object();

	set(d, o, "device", json_string(v->device));
	set(d, o, "key", json_string(v->key));
	set(d, o, "site", json_string(v->site));
	set(d, o, "role", json_string(v->role));
	set(d, o, "self", json_boolean(v->self));
	set(d, o, "revoked_after", v->revoked ? json_integer((json_int_t)v->revoked_after)
					       : json_null());
	return o;
}

int chs_json_device_roster(char **out, const chs_device_roster *r)
{
	doc d = { 0 };
	json_t *arr;
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	arr = json_array();
	for (i = 0; i < chs_device_roster_count(r); i++)
		add(&d, arr, device(&d, chs_device_roster_get(r, i)));
	return dump(&d, arr, out);
}
