/*
 * Reports and the roster as the CLI prints them with --json
 * (client/json/json.h).
 *
 * The text must stay what `chartsync report access|consistency|coding
 * --json` and `chartsync device list --json` printed when the library
 * made it, byte for byte: compact, keys in the order they were packed
 * (jansson keeps insertion order), reals as jansson writes them.
 * Documents are built as json_int.h describes.
 */
#include "json_int.h"

#include <jansson.h>
#include <stdlib.h>

static json_t *size(size_t n)
{
	return json_integer((json_int_t)n);
}

static json_t *access_event(chs_json_doc *d, const chs_access_event *e)
{
	json_t *o = json_object();

	chs_json__set(d, o, "event", json_string(e->event));
	chs_json__set(d, o, "start", json_string(e->start));
	chs_json__set(d, o, "duration_ms", json_integer((json_int_t)e->duration_ms));
	chs_json__set(d, o, "user", json_string(e->user));
	chs_json__set(d, o, "terminal", json_string(e->terminal));
	chs_json__set(d, o, "device", json_string(e->device));
	chs_json__set(d, o, "action", json_string(e->action));
	chs_json__set(d, o, "patient", json_string(e->patient));
	chs_json__set(d, o, "record", json_string(e->record));
	chs_json__set(d, o, "records", chs_json__strings(d, e->records, e->nrecords));
	return o;
}

int chs_json_access_report(char **out, const chs_access_report *r)
{
	chs_json_doc d = { 0 };
	json_t *arr;
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	arr = json_array();
	for (i = 0; i < chs_access_report_count(r); i++)
		chs_json__add(&d, arr, access_event(&d, chs_access_report_get(r, i)));
	return chs_json__dump(&d, arr, JSON_PRESERVE_ORDER, out);
}

static json_t *finding(chs_json_doc *d, const chs_finding *f)
{
	json_t *o = json_object();

	chs_json__set(d, o, "kind", json_string(f->kind));
	chs_json__set(d, o, "patient", f->patient ? json_string(f->patient) : json_null());
	chs_json__set(d, o, "records", chs_json__strings(d, f->records, f->nrecords));
	chs_json__set(d, o, "detail", json_string(f->detail));
	return o;
}

int chs_json_consistency_report(char **out, const chs_consistency_report *r)
{
	json_t *o, *findings, *counts;
	chs_json_doc d = { 0 };
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	o = json_object();
	findings = json_array();
	counts = json_object();
	for (i = 0; i < chs_consistency_report_count(r); i++)
		chs_json__add(&d, findings, finding(&d, chs_consistency_report_get(r, i)));
	for (i = 0; i < chs_consistency_report_kind_count(r); i++) {
		const chs_finding_count *k = chs_consistency_report_kind(r, i);

		chs_json__set(&d, counts, k->kind, size(k->n));
	}
	chs_json__set(&d, o, "findings", findings);
	chs_json__set(&d, o, "counts", counts);
	chs_json__set(&d, o, "patients", size(chs_consistency_report_patients(r)));
	chs_json__set(&d, o, "visits", size(chs_consistency_report_visits(r)));
	return chs_json__dump(&d, o, JSON_PRESERVE_ORDER, out);
}

static json_t *dup_side(chs_json_doc *d, const chs_duplicate_side *p)
{
	json_t *o = json_object();

	chs_json__set(d, o, "id", json_string(p->id));
	chs_json__set(d, o, "name", json_string(p->name));
	chs_json__set(d, o, "dob", json_string(p->dob));
	chs_json__set(d, o, "mrn", json_string(p->mrn));
	chs_json__set(d, o, "phone", json_string(p->phone));
	chs_json__set(d, o, "site", json_string(p->site));
	return o;
}

static json_t *dup_pair(chs_json_doc *d, const chs_duplicate_pair *p)
{
	json_t *o = json_object();

	chs_json__set(d, o, "score", json_real(p->score));
	chs_json__set(d, o, "evidence", chs_json__strings(d, p->evidence, p->nevidence));
	chs_json__set(d, o, "detail", json_string(p->detail));
	chs_json__set(d, o, "a", dup_side(d, &p->a));
	chs_json__set(d, o, "b", dup_side(d, &p->b));
	return o;
}

int chs_json_duplicates_report(char **out, const chs_duplicates_report *r)
{
	chs_json_doc d = { 0 };
	json_t *o, *pairs;
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	o = json_object();
	pairs = json_array();
	for (i = 0; i < chs_duplicates_report_count(r); i++)
		chs_json__add(&d, pairs, dup_pair(&d, chs_duplicates_report_get(r, i)));
	chs_json__set(&d, o, "pairs", pairs);
	chs_json__set(&d, o, "patients", size(chs_duplicates_report_patients(r)));
	return chs_json__dump(&d, o, JSON_PRESERVE_ORDER, out);
}

static json_t *coder(chs_json_doc *d, const chs_coder_stats *c)
{
	json_t *o = json_object();

	chs_json__set(d, o, "coder", json_string(c->coder));
	chs_json__set(d, o, "done", size(c->done));
	chs_json__set(d, o, "last_30_days", size(c->last_30_days));
	chs_json__set(d, o, "per_day", json_real(c->per_day));
	chs_json__set(d, o, "median_turnaround_days", json_real(c->median_turnaround_days));
	return o;
}

int chs_json_coding_report(char **out, const chs_coding_report *r)
{
	json_t *o, *queue, *coders;
	const chs_coding_queue_stats *q;
	chs_json_doc d = { 0 };
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	o = json_object();
	queue = json_object();
	coders = json_array();
	q = chs_coding_report_queue(r);
	chs_json__set(&d, queue, "length", size(q->length));
	chs_json__set(&d, queue, "oldest", q->oldest ? json_string(q->oldest) : json_null());
	chs_json__set(&d, queue, "oldest_days", json_real(q->oldest_days));
	chs_json__set(&d, queue, "median_days", json_real(q->median_days));
	for (i = 0; i < chs_coding_report_coder_count(r); i++)
		chs_json__add(&d, coders, coder(&d, chs_coding_report_coder(r, i)));
	chs_json__set(&d, o, "queue", queue);
	chs_json__set(&d, o, "done", size(chs_coding_report_done(r)));
	chs_json__set(&d, o, "coders", coders);
	return chs_json__dump(&d, o, JSON_PRESERVE_ORDER, out);
}

static json_t *device(chs_json_doc *d, const chs_device_info *v)
{
	json_t *o = json_object();

	chs_json__set(d, o, "device", json_string(v->device));
	chs_json__set(d, o, "key", json_string(v->key));
	chs_json__set(d, o, "site", json_string(v->site));
	chs_json__set(d, o, "role", json_string(v->role));
	chs_json__set(d, o, "self", json_boolean(v->self));
	chs_json__set(d, o, "admin", json_boolean(v->admin));
	chs_json__set(d, o, "revoked_after", v->revoked ? json_integer((json_int_t)v->revoked_after)
					       : json_null());
	return o;
}

int chs_json_device_roster(char **out, const chs_device_roster *r)
{
	chs_json_doc d = { 0 };
	json_t *arr;
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	arr = json_array();
	for (i = 0; i < chs_device_roster_count(r); i++)
		chs_json__add(&d, arr, device(&d, chs_device_roster_get(r, i)));
	return chs_json__dump(&d, arr, JSON_PRESERVE_ORDER, out);
}

static json_t *archive_event(chs_json_doc *d, const chs_archive_event *e)
{
	json_t *o = json_object();

	chs_json__set(d, o, "id", json_string(e->id));
	chs_json__set(d, o, "seen", json_string(e->seen));
	chs_json__set(d, o, "kind", json_string(e->kind));
	chs_json__set(d, o, "ref", json_string(e->ref));
	chs_json__set(d, o, "detail", json_string(e->detail));
	chs_json__set(d, o, "by", json_string(e->by));
	chs_json__set(d, o, "site", json_string(e->site));
	return o;
}

int chs_json_archive_events(char **out, const chs_archive_events *l)
{
	chs_json_doc d = { 0 };
	json_t *arr;
	size_t i;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(l);

	arr = json_array();
	for (i = 0; i < chs_archive_events_count(l); i++)
		chs_json__add(&d, arr, archive_event(&d, chs_archive_events_get(l, i)));
	return chs_json__dump(&d, arr, JSON_PRESERVE_ORDER, out);
}

int chs_json_sync_report(char **out, const chs_sync_report *r)
{
	chs_json_doc d = { 0 };
	json_t *o;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(r);

	o = json_object();
	chs_json__set(&d, o, "roster", json_integer((json_int_t)r->roster_seq));
	chs_json__set(&d, o, "devices", json_integer((json_int_t)r->devices));
	chs_json__set(&d, o, "batches_in", json_integer((json_int_t)r->batches_in));
	chs_json__set(&d, o, "changes_in", json_integer((json_int_t)r->changes_in));
	chs_json__set(&d, o, "batches_out", json_integer((json_int_t)r->batches_out));
	chs_json__set(&d, o, "changes_out", json_integer((json_int_t)r->changes_out));
	chs_json__set(&d, o, "batches_sent", json_integer((json_int_t)r->batches_pushed));
	chs_json__set(&d, o, "changes_sent", json_integer((json_int_t)r->changes_pushed));
	chs_json__set(&d, o, "chunks_in", json_integer((json_int_t)r->chunks_in));
	chs_json__set(&d, o, "attachments_in", json_integer((json_int_t)r->attachments_in));
	chs_json__set(&d, o, "chunks_out", json_integer((json_int_t)r->chunks_out));
	chs_json__set(&d, o, "pushed", json_boolean(r->pushed));
	chs_json__set(&d, o, "tampering", json_integer((json_int_t)r->tampering));
	chs_json__set(&d, o, "roster_edits_reapplied",
		      json_integer((json_int_t)r->roster_edits_reapplied));
	chs_json__set(&d, o, "refused", json_integer((json_int_t)r->refused));
	chs_json__set(&d, o, "own_batches_in", json_integer((json_int_t)r->own_batches_in));
	chs_json__set(&d, o, "renumbered", json_integer((json_int_t)r->renumbered));
	chs_json__set(&d, o, "placed", json_integer((json_int_t)r->placed));
	chs_json__set(&d, o, "unplaced", json_integer((json_int_t)r->unplaced));
	if (r->refused)
		chs_json__set(&d, o, "problems", json_string(r->problems.ptr ? r->problems.ptr : ""));
	return chs_json__dump(&d, o, JSON_SORT_KEYS, out);
}
