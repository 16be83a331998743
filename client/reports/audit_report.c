/*
 * The access report: every access event this store holds (its own and,
 * once synced, every other site's), filtered and oldest first. Who is the
 * event's change's user and terminal, never a field anyone typed.
 */
#include "report_int.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

typedef struct event {
	int64_t start;   /* ms since the epoch; INT64_MIN when unreadable */
	chs_hlc written; /* its change's stamp: orders events of one millisecond */
	chs_access_event e; /* its strings owned */
} event;

struct chs_access_report {
	event *ev;
	size_t n, cap;
};

typedef struct report {
	const chs_access_filter *f;
	int64_t since, until; /* inclusive bounds, ms */
	chs_access_report *out;
} report;

static int num(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* An ISO 8601 date or date-time (as the schema accepts them) in ms since
 * the epoch. A date alone is its first millisecond, or with `end` its
 * last. -1 if it is not one. */
static int parse_when(const char *s, int end, int64_t *out)
{
	int64_t ms, days;
	const char *p;

	if (chs_schema_day(s, &days) < 0)
		return -1;
	ms = days * DAY_MS;
	if (s[10] == '\0') {
		*out = end ? ms + DAY_MS - 1 : ms;
		return 0;
	}
	ms += (num(s + 11, 2) * 3600LL + num(s + 14, 2) * 60LL) * 1000;
	p = s + 16;
	if (*p == ':') {
		ms += num(p + 1, 2) * 1000LL;
		p += 3;
		if (*p == '.') {
			int scale = 100;

			for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
				ms += scale ? (*p - '0') * scale : 0;
		}
	}
	if (*p == '+' || *p == '-')
		ms += (*p == '+' ? -1 : 1) * (num(p + 1, 2) * 3600LL + num(p + 4, 2) * 60LL) * 1000;
	*out = ms;
	return 0;
}

static void event_dispose(chs_access_event *e)
{
	size_t i;

	free((char *)e->event);
	free((char *)e->start);
	free((char *)e->user);
	free((char *)e->terminal);
	free((char *)e->device);
	free((char *)e->action);
	free((char *)e->patient);
	free((char *)e->record);
	for (i = 0; i < e->nrecords; i++)
		free((char *)e->records[i]);
	free((void *)e->records);
}

void chs_access_report_free(chs_access_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		event_dispose(&r->ev[i].e);
	free(r->ev);
	free(r);
}

size_t chs_access_report_count(const chs_access_report *r)
{
	return r ? r->n : 0;
}

const chs_access_event *chs_access_report_get(const chs_access_report *r, size_t i)
{
	return r && i < r->n ? &r->ev[i].e : NULL;
}

static const char *str_field(json_t *fields, const char *name)
{
	const char *v = json_string_value(json_object_get(fields, name));

	return v ? v : "";
}

/* A copy of `v` into *out; v NULL is "". Counts a failure in *bad. */
static void copy(const char **out, const char *v, int *bad)
{
	if (!(*out = chs_util__strdup(v ? v : "")))
		*bad = 1;
}

/* The ids of `records` (an array; anything else is none). */
static void copy_records(chs_access_event *e, json_t *records, int *bad)
{
	const char **ids;
	size_t i, n = json_is_array(records) ? json_array_size(records) : 0;

	if (!n)
		return;
	if (!(ids = chs_calloc(n, sizeof(*ids)))) {
		*bad = 1;
		return;
	}
	e->records = ids;
	for (i = 0; i < n; i++, e->nrecords++)
		copy(&ids[i], json_string_value(json_array_get(records, i)), bad);
}

/* The event of one audit record, or 1 when the filter leaves it out. */
static int event_of(report *r, const char *id, json_t *fields, const chs_change *c,
		    event *ev)
{
	const chs_access_filter *f = r->f;
	const char *when = str_field(fields, "start");
	json_t *dur = json_object_get(fields, "duration_ms");
	chs_access_event *e = &ev->e;
	int bad = 0;

	if (parse_when(when, 0, &ev->start) < 0)
		ev->start = INT64_MIN;
	if ((f->user && strcmp(f->user, c->user ? c->user : "") != 0) ||
	    (f->terminal && strcmp(f->terminal, c->terminal ? c->terminal : "") != 0) ||
	    (f->since && ev->start < r->since) || (f->until && ev->start > r->until))
		return 1;
	ev->written = c->hlc;
	e->duration_ms = json_is_integer(dur) ? (int64_t)json_integer_value(dur) : 0;
	copy(&e->event, id, &bad);
	copy(&e->start, when, &bad);
	copy(&e->user, c->user, &bad);
	copy(&e->terminal, c->terminal, &bad);
	copy(&e->device, c->device, &bad);
	copy(&e->action, str_field(fields, "action"), &bad);
	copy(&e->patient, str_field(fields, CHS_FIELD_PATIENT), &bad);
	copy(&e->record, str_field(fields, "record"), &bad);
	copy_records(e, json_object_get(fields, "records"), &bad);
	return bad ? chs_error_set(CHS_ENOMEM, "out of memory") : 0;
}

static int push_event(report *r, sqlite3_stmt *st)
{
	json_t *state = json_loadb(sqlite3_column_blob(st, 1),
				   (size_t)sqlite3_column_bytes(st, 1), 0, NULL);
	chs_access_report *out = r->out;
	chs_change *c = NULL;
	char id[33];
	int err = 0;

	chs_hex(id, sqlite3_column_blob(st, 0), 16);
	if ((err = chs_change_decode(&c, sqlite3_column_blob(st, 2),
				     (size_t)sqlite3_column_bytes(st, 2))) < 0) {
		if (err != CHS_ENOMEM)
			err = chs_error_set(CHS_EDAMAGED,
					    "the store is damaged: a stored change does not decode");
		goto done;
	}
	if (c->op != CHS_OP_CREATE)
		goto done;
	if ((err = CHS_ARRAY_GROW(out->ev, out->cap, out->n + 1)) < 0)
		goto done;
	memset(&out->ev[out->n], 0, sizeof(*out->ev));
	if ((err = event_of(r, id, json_object_get(state, "fields"), c, &out->ev[out->n])) != 0)
		event_dispose(&out->ev[out->n].e);
	else
		out->n++;
	if (err > 0)
		err = 0;
done:
	json_decref(state);
	chs_change_free(c);
	return err;
}

static int cmp_event(const void *a, const void *b)
{
	const event *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->written != y->written)
		return x->written < y->written ? -1 : 1;
	return strcmp(x->e.event, y->e.event);
}

static int collect(chs_store *s, report *r, const unsigned char *pid)
{
	sqlite3_stmt *st = NULL;
	int64_t total = 0;
	size_t done = 0;
	int err, rc;

	if (r->f->progress && (err = chs_store__get_int(s,
			"SELECT count(*) FROM records WHERE type = 'audit'", &total)) < 0)
		return err;
	/* one patient's events through the patient index, not a scan */
	if ((err = chs_store__prepare(s, &st, pid
		     ? "SELECT r.id, r.state, c.body FROM records r JOIN changes c"
		       " ON c.record = r.id WHERE r.type = 'audit' AND r.patient = ?1"
		     : "SELECT r.id, r.state, c.body FROM records r JOIN changes c"
		       " ON c.record = r.id WHERE r.type = 'audit'")) < 0)
		return err;
	if (pid && (err = chs_store__bind_blob(s, st, 1, pid, 16)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = push_event(r, st)) < 0)
			break;
		if (r->f->progress && ++done % 1024 == 0)
			r->f->progress("Reading access events", done, (size_t)total, r->f->payload);
	}
	chs_store__finish(s, st);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading access events");
	if (err == 0 && r->f->progress)
		r->f->progress("Reading access events", done, (size_t)total, r->f->payload);
	return err;
}

static int check_filter(report *r)
{
	const chs_access_filter *f = r->f;

	if (f->since && parse_when(f->since, 0, &r->since) < 0)
		return chs_error_set(CHS_EINVALID, "--since '%s' is not a date (expected e.g."
				     " 2024-03-15 or 2024-03-15T09:30Z)", f->since);
	if (f->until && parse_when(f->until, 1, &r->until) < 0)
		return chs_error_set(CHS_EINVALID, "--until '%s' is not a date (expected e.g."
				     " 2024-03-15 or 2024-03-15T17:00Z)", f->until);
	return 0;
}

int chs_report_access(chs_access_report **out, chs_store *s, const chs_access_filter *f)
{
	static const chs_access_filter none;
	unsigned char pid[16];
	report r;
	char hex[33];
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	memset(&r, 0, sizeof(r));
	r.f = f ? f : &none;
	if ((err = check_filter(&r)) < 0)
		return err;
	/* a full id is taken as it is: the patient may be one this store
	 * does not hold */
	if (r.f->patient && chs_util__parse_id(pid, r.f->patient) < 0) {
		if ((err = chs_record_resolve(s, r.f->patient, hex)) < 0)
			return err;
		chs_util__parse_id(pid, hex);
	}
	if (!(r.out = chs_calloc(1, sizeof(*r.out))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = collect(s, &r, r.f->patient ? pid : NULL)) < 0) {
		chs_access_report_free(r.out);
		return err;
	}
	if (r.out->n > 1)
		qsort(r.out->ev, r.out->n, sizeof(*r.out->ev), cmp_event);
	*out = r.out;
	return 0;
}
