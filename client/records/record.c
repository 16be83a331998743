/*
 * Records read back, as objects: chs_record, chs_record_list and
 * chs_history (client/records/records.h), built from a merge (a lookup,
 * a log) or from a record's stored row (a list), and their accessors.
 *
 * Every object owns what it hands out: strings are copied in when it is
 * built, so it outlives the merge, the statement and the store it came
 * from. A history keeps the decoded changes themselves and points into
 * them, since it shows nearly all of each.
 */
#include "records_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct rcand {
	chs_record_candidate pub; /* points into this struct */
	char change[65], device[33], time[32];
	char *user, *terminal, *value;
} rcand;

typedef struct rfield {
	char *name, *value;
	int review;
	rcand *cands;
	size_t ncands;
} rfield;

struct chs_record {
	char id[33];
	char *type;
	int deleted, review, removal_review;
	size_t nchanges;
	char (*heads)[65];
	size_t nheads;
	rfield *fields;
	size_t nfields;
	rcand *removal;
	size_t nremoval;
	chs_confirmation conf; /* valid when `confirmed`; strings owned */
	int confirmed;
	char *changed, *changed_by; /* the last change: unconfirmed lists only */
};

struct chs_record_list {
	chs_record **r;
	size_t n, cap;
};

typedef struct hentry {
	chs_history_entry pub; /* points into this struct and the changes */
	char change[65], time[32];
	chs_named_value *set;
	const char **unset;
	char (*parent_hex)[65];
	const char **parents;
} hentry;

struct chs_history {
	chs_change **changes; /* owned: the entries point into them */
	size_t nchanges;
	hentry *e;
	size_t n;
};

static int nomem(void)
{
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

/* A copy of `s` (NULL stays NULL) into *out; 0 or CHS_ENOMEM. */
static int dup_into(char **out, const char *s)
{
	*out = NULL;
	if (s && !(*out = chs_util__strdup(s)))
		return nomem();
	return 0;
}

/* ------------------------------------------------------------------ */
/* chs_record                                                           */

static void cands_free(rcand *c, size_t n)
{
	size_t i;

	for (i = 0; c && i < n; i++) {
		free(c[i].user);
		free(c[i].terminal);
		free(c[i].value);
	}
	free(c);
}

void chs_record_free(chs_record *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; r->fields && i < r->nfields; i++) {
		free(r->fields[i].name);
		free(r->fields[i].value);
		cands_free(r->fields[i].cands, r->fields[i].ncands);
	}
	free(r->fields);
	cands_free(r->removal, r->nremoval);
	free(r->heads);
	free(r->type);
	free((char *)r->conf.by);
	free((char *)r->conf.terminal);
	free((char *)r->conf.time);
	free((char *)r->conf.note);
	free((char *)r->conf.change);
	free((char *)r->conf.confirmation);
	free(r->changed);
	free(r->changed_by);
	free(r);
}

static int record_new(chs_record **out, const char *id_hex, const char *type)
{
	chs_record *r = chs_calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return nomem();
	memcpy(r->id, id_hex, 32);
	if (dup_into(&r->type, type ? type : "") < 0) {
		free(r);
		return CHS_ENOMEM;
	}
	*out = r;
	return 0;
}

/* One candidate, copied out of the merge. */
static int cand_set(rcand *d, const chs_candidate *c, int existence)
{
	int err;

	chs_hex(d->change, c->change->id, CHS_CHANGE_ID_BYTES);
	memcpy(d->device, c->change->device, sizeof(d->device));
	d->device[32] = '\0';
	chs_util__hlc_time(c->change->hlc, d->time);
	if ((err = dup_into(&d->user, c->change->user ? c->change->user : "")) < 0 ||
	    (err = dup_into(&d->terminal, c->change->terminal ? c->change->terminal : "")) < 0 ||
	    (!existence && (err = dup_into(&d->value, c->value)) < 0))
		return err;
	d->pub.change = d->change;
	d->pub.device = d->device;
	d->pub.time = d->time;
	d->pub.user = d->user;
	d->pub.terminal = d->terminal;
	d->pub.value = existence ? NULL : d->value;
	d->pub.removed = existence && c->value && strcmp(c->value, "true") == 0;
	return 0;
}

static int cands_copy(rcand **out, size_t *nout, const chs_candidate *c, size_t n,
		      int existence)
{
	size_t i;
	int err = 0;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return 0;
	if (!(*out = chs_calloc(n, sizeof(**out))))
		return nomem();
	*nout = n;
	for (i = 0; i < n && err == 0; i++)
		err = cand_set(&(*out)[i], &c[i], existence);
	return err;
}

/* The fields of a merge: all of them, each under review with its
 * candidates (a field under review has two or more). */
static int fields_from_merged(chs_record *r, const chs_merged *m)
{
	size_t i;
	int err = 0;

	if (m->nfields && !(r->fields = chs_calloc(m->nfields, sizeof(*r->fields))))
		return nomem();
	r->nfields = m->nfields;
	for (i = 0; i < m->nfields && err == 0; i++) {
		const chs_merged_field *f = &m->fields[i];
		rfield *d = &r->fields[i];

		if ((err = dup_into(&d->name, f->name)) < 0 ||
		    (err = dup_into(&d->value, f->value)) < 0)
			break;
		d->review = f->ncandidates > 1;
		if (d->review)
			err = cands_copy(&d->cands, &d->ncands, f->candidates,
					 f->ncandidates, 0);
	}
	return err;
}

int chs_records__record_from_merged(chs_record **out, const char *id_hex,
				    const chs_merged *m)
{
	chs_record *r = NULL;
	size_t i;
	int err;

	*out = NULL;
	if ((err = record_new(&r, id_hex, m->type)) < 0)
		return err;
	r->deleted = m->deleted;
	r->review = m->review;
	r->removal_review = m->exists_review;
	r->nchanges = m->norder;
	if (m->nheads && !(r->heads = chs_calloc(m->nheads, sizeof(*r->heads)))) {
		err = nomem();
		goto done;
	}
	r->nheads = m->nheads;
	for (i = 0; i < m->nheads; i++)
		chs_hex(r->heads[i], m->heads[i]->id, CHS_CHANGE_ID_BYTES);
	if ((err = fields_from_merged(r, m)) < 0)
		goto done;
	if (m->exists_review)
		err = cands_copy(&r->removal, &r->nremoval, m->exists_candidates,
				 m->nexists_candidates, 1);
done:
	if (err < 0)
		chs_record_free(r);
	else
		*out = r;
	return err;
}

/* Whether any field of `r` is under review still. */
static int any_field_review(const chs_record *r)
{
	size_t i;

	for (i = 0; i < r->nfields; i++)
		if (r->fields[i].review)
			return 1;
	return 0;
}

int chs_records__record_put_field(chs_record *r, const char *name, const char *value)
{
	size_t at = 0;
	rfield *d, *grown;
	char *v = NULL;

	while (at < r->nfields && strcmp(r->fields[at].name, name) < 0)
		at++;
	d = at < r->nfields && strcmp(r->fields[at].name, name) == 0 ? &r->fields[at] : NULL;
	if (value && dup_into(&v, value) < 0)
		return CHS_ENOMEM;
	if (d) {
		free(d->name);
		free(d->value);
		cands_free(d->cands, d->ncands);
		memmove(d, d + 1, (r->nfields - at - 1) * sizeof(*d));
		r->nfields--;
	}
	if (v) {
		if (!(grown = chs_realloc(r->fields, (r->nfields + 1) * sizeof(*grown)))) {
			free(v);
			return nomem();
		}
		r->fields = grown;
		memmove(grown + at + 1, grown + at, (r->nfields - at) * sizeof(*grown));
		memset(&grown[at], 0, sizeof(grown[at]));
		grown[at].value = v;
		if (dup_into(&grown[at].name, name) < 0) {
			free(v);
			memmove(grown + at, grown + at + 1, (r->nfields - at) * sizeof(*grown));
			return CHS_ENOMEM;
		}
		r->nfields++;
	}
	/* a review that was about that field alone is not this store's to show */
	if (r->review && !r->removal_review && !any_field_review(r))
		r->review = 0;
	return 0;
}

/* `r` as this store shows it: with its companion's fields where it reads
 * them, without any field a companion keeps where it does not. */
int chs_records__clinical_record(chs_store *s, chs_record *r)
{
	const chs_type_def *ct = chs_schema_companion(chs_schema_type(chs_record_type(r)));
	const chs_field_def *f;
	unsigned char id[16];
	json_t *cf = NULL;
	int reads, err = 0;

	if (!ct)
		return 0;
	if ((err = chs_records__reads_clinical(s, &reads)) < 0)
		return err;
	chs_util__parse_id(id, chs_record_id(r));
	if (reads && (err = chs_records__companion_fields(s, ct, id, &cf)) < 0)
		return err;
	for (f = ct->fields; f->name && err == 0; f++) {
		json_t *v = json_object_get(cf, f->name);
		char *text;

		if (reads && !v)
			continue; /* the record's own value, from before companions */
		if (!reads || json_is_null(v)) {
			err = chs_records__record_put_field(r, f->name, NULL);
			continue;
		}
		if (!(text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			err = chs_records__record_put_field(r, f->name, text);
		free(text);
	}
	json_decref(cf);
	return err;
}

int chs_records__record_confirmed(chs_record *r, const char *by, const char *terminal,
				  const char *time, const char *note,
				  const char *change, const char *confirmation)
{
	chs_confirmation *c = &r->conf;
	char *p[6] = { NULL, NULL, NULL, NULL, NULL, NULL };
	int err;

	if ((err = dup_into(&p[0], by ? by : "")) < 0 ||
	    (err = dup_into(&p[1], terminal ? terminal : "")) < 0 ||
	    (err = dup_into(&p[2], time)) < 0 || (err = dup_into(&p[3], note)) < 0 ||
	    (err = dup_into(&p[4], change)) < 0 ||
	    (err = dup_into(&p[5], confirmation)) < 0) {
		size_t i;

		for (i = 0; i < 6; i++)
			free(p[i]);
		return err;
	}
	c->by = p[0];
	c->terminal = p[1];
	c->time = p[2];
	c->note = p[3];
	c->change = p[4];
	c->confirmation = p[5];
	r->confirmed = 1;
	return 0;
}

int chs_records__record_changed(chs_record *r, const char *time, const char *user)
{
	char *t = NULL, *u = NULL;
	int err;

	if ((err = dup_into(&t, time)) < 0 || (err = dup_into(&u, user ? user : "")) < 0) {
		free(t);
		return err;
	}
	free(r->changed);
	free(r->changed_by);
	r->changed = t;
	r->changed_by = u;
	return 0;
}

/* ---- a record from its stored row ----
 *
 * The row's state is canonical JSON that chs_merge() wrote (its format is
 * at the top of sync/merge.c):
 *   {"deleted":..,"fields":{"<name>":<value>,..},
 *    "review":{"exists":[..],"fields":{"<name>":[..],..}},"type":..}
 * Canonical JSON has no whitespace, so each member's value is a span of
 * the text that can be copied as it is: the walk below finds the spans
 * (bounded by the length; any surprise is CHS_EDAMAGED) and never
 * re-encodes a value. */

typedef struct span {
	const char *p;
	size_t len;
} span;

static int damaged(void)
{
	return chs_error_set(CHS_EDAMAGED, "a record's stored state is damaged;"
			     " 'chartsync verify --full' recomputes it");
}

/* Skip one string starting at *p (a '"'). */
static int skip_string(const char **p, const char *end)
{
	const char *q = *p + 1;

	while (q < end && *q != '"')
		q += *q == '\\' ? 2 : 1;
	if (q >= end)
		return damaged();
	*p = q + 1;
	return 0;
}

/* Skip one value starting at *p. */
static int skip_value(const char **p, const char *end)
{
	const char *q = *p;
	size_t depth = 0;
	int err;

	do {
		if (q >= end)
			return damaged();
		if (*q == '"') {
			if ((err = skip_string(&q, end)) < 0)
				return err;
		} else if (*q == '{' || *q == '[') {
			depth++;
			q++;
		} else if (*q == '}' || *q == ']') {
			if (depth == 0)
				return damaged();
			depth--;
			q++;
		} else if (depth == 0) {
			while (q < end && *q != ',' && *q != '}' && *q != ']')
				q++;
		} else {
			q++;
		}
	} while (depth > 0);
	if (q == *p)
		return damaged();
	*p = q;
	return 0;
}

typedef int (*member_fn)(span key, span value, void *payload);

/* Call `fn` for each member of the object `obj`. */
static int each_member(span obj, member_fn fn, void *payload)
{
	const char *p = obj.p, *end = obj.p + obj.len;
	int err;

	if (obj.len < 2 || *p != '{' || end[-1] != '}')
		return damaged();
	p++;
	end--;
	while (p < end) {
		span k = { p, 0 }, v;

		if (*p != '"' || (err = skip_string(&p, end)) < 0)
			return err < 0 ? err : damaged();
		k.len = (size_t)(p - k.p);
		if (p >= end || *p++ != ':')
			return damaged();
		v.p = p;
		if ((err = skip_value(&p, end)) < 0)
			return err;
		v.len = (size_t)(p - v.p);
		if ((err = fn(k, v, payload)) < 0)
			return err;
		if (p < end && *p++ != ',')
			return damaged();
	}
	return 0;
}

static char *span_dup(span s)
{
	char *out = chs_malloc(s.len + 1);

	if (out) {
		memcpy(out, s.p, s.len);
		out[s.len] = '\0';
	}
	return out;
}

/* The decoded text of a key. */
static int key_text(span k, char **out)
{
	char *quoted = span_dup(k);

	*out = NULL;
	if (!quoted)
		return nomem();
	*out = chs_util__json_string(quoted);
	free(quoted);
	if (*out)
		return 0;
	/* a key without escapes is its own text: only memory can fail it */
	return memchr(k.p, '\\', k.len) ? damaged() : nomem();
}

static int key_is(span k, const char *name)
{
	size_t n = strlen(name);

	return k.len == n + 2 && memcmp(k.p + 1, name, n) == 0;
}

typedef struct state_walk {
	chs_record *r;
	span fields, review;
	size_t cap;
} state_walk;

static int top_member(span k, span v, void *payload)
{
	state_walk *w = payload;

	if (key_is(k, "fields"))
		w->fields = v;
	else if (key_is(k, "review"))
		w->review = v;
	return 0;
}

static int count_member(span k, span v, void *payload)
{
	(void)k;
	(void)v;
	(*(size_t *)payload)++;
	return 0;
}

static int field_member(span k, span v, void *payload)
{
	state_walk *w = payload;
	rfield *f;
	int err;

	if (w->r->nfields == w->cap)
		return damaged();
	f = &w->r->fields[w->r->nfields++];
	if ((err = key_text(k, &f->name)) < 0)
		return err;
	return (f->value = span_dup(v)) ? 0 : nomem();
}

static int review_field_member(span k, span v, void *payload)
{
	state_walk *w = payload;
	char *name = NULL;
	size_t i;
	int err;

	(void)v;
	if ((err = key_text(k, &name)) < 0)
		return err;
	for (i = 0; i < w->r->nfields; i++)
		if (strcmp(w->r->fields[i].name, name) == 0)
			w->r->fields[i].review = 1;
	free(name);
	return 0;
}

static int review_member(span k, span v, void *payload)
{
	state_walk *w = payload;

	if (key_is(k, "exists"))
		w->r->removal_review = 1;
	else if (key_is(k, "fields"))
		return each_member(v, review_field_member, w);
	return 0;
}

static int state_fields(chs_record *r, const char *state, size_t len)
{
	state_walk w = { r, { NULL, 0 }, { NULL, 0 }, 0 };
	span all = { state, len };
	int err;

	if ((err = each_member(all, top_member, &w)) < 0)
		return err;
	if (w.fields.p) {
		if ((err = each_member(w.fields, count_member, &w.cap)) < 0)
			return err;
		if (w.cap && !(r->fields = chs_calloc(w.cap, sizeof(*r->fields))))
			return nomem();
		if ((err = each_member(w.fields, field_member, &w)) < 0)
			return err;
	}
	if (w.review.p)
		err = each_member(w.review, review_member, &w);
	return err;
}

int chs_records__record_from_row(chs_record **out, const unsigned char id[16],
				 const char *type, int deleted, int review,
				 const unsigned char *heads, size_t heads_len,
				 const char *state, size_t state_len)
{
	chs_record *r = NULL;
	char hex[33];
	size_t i;
	int err;

	*out = NULL;
	chs_hex(hex, id, 16);
	if ((err = record_new(&r, hex, type)) < 0)
		return err;
	r->deleted = deleted;
	r->review = review;
	r->nheads = heads ? heads_len / CHS_CHANGE_ID_BYTES : 0;
	if (r->nheads && !(r->heads = chs_calloc(r->nheads, sizeof(*r->heads)))) {
		err = nomem();
		goto done;
	}
	for (i = 0; i < r->nheads; i++)
		chs_hex(r->heads[i], heads + i * CHS_CHANGE_ID_BYTES, CHS_CHANGE_ID_BYTES);
	err = state_fields(r, state, state_len);
done:
	if (err < 0)
		chs_record_free(r);
	else
		*out = r;
	return err;
}

/* ---- accessors ---- */

const char *chs_record_id(const chs_record *r)
{
	return r ? r->id : NULL;
}

const char *chs_record_type(const chs_record *r)
{
	return r ? r->type : NULL;
}

int chs_record_deleted(const chs_record *r)
{
	return r ? r->deleted : 0;
}

int chs_record_under_review(const chs_record *r)
{
	return r ? r->review : 0;
}

int chs_record_removal_under_review(const chs_record *r)
{
	return r ? r->removal_review : 0;
}

size_t chs_record_change_count(const chs_record *r)
{
	return r ? r->nchanges : 0;
}

size_t chs_record_head_count(const chs_record *r)
{
	return r ? r->nheads : 0;
}

const char *chs_record_head(const chs_record *r, size_t i)
{
	return r && i < r->nheads ? r->heads[i] : NULL;
}

size_t chs_record_field_count(const chs_record *r)
{
	return r ? r->nfields : 0;
}

const char *chs_record_field_name(const chs_record *r, size_t i)
{
	return r && i < r->nfields ? r->fields[i].name : NULL;
}

const char *chs_record_field_value(const chs_record *r, size_t i)
{
	return r && i < r->nfields ? r->fields[i].value : NULL;
}

const char *chs_record_field(const chs_record *r, const char *name)
{
	size_t i;

	for (i = 0; r && name && i < r->nfields; i++)
		if (strcmp(r->fields[i].name, name) == 0)
			return r->fields[i].value;
	return NULL;
}

int chs_record_field_under_review(const chs_record *r, size_t i)
{
	return r && i < r->nfields ? r->fields[i].review : 0;
}

size_t chs_record_field_candidate_count(const chs_record *r, size_t i)
{
	return r && i < r->nfields ? r->fields[i].ncands : 0;
}

const chs_record_candidate *chs_record_field_candidate(const chs_record *r,
							size_t i, size_t k)
{
	if (!r || i >= r->nfields || k >= r->fields[i].ncands)
		return NULL;
	return &r->fields[i].cands[k].pub;
}

size_t chs_record_removal_count(const chs_record *r)
{
	return r ? r->nremoval : 0;
}

const chs_record_candidate *chs_record_removal_candidate(const chs_record *r,
							  size_t k)
{
	return r && k < r->nremoval ? &r->removal[k].pub : NULL;
}

const chs_confirmation *chs_record_confirmed(const chs_record *r)
{
	return r && r->confirmed ? &r->conf : NULL;
}

const char *chs_record_changed(const chs_record *r)
{
	return r ? r->changed : NULL;
}

const char *chs_record_changed_by(const chs_record *r)
{
	return r ? r->changed_by : NULL;
}

/* ------------------------------------------------------------------ */
/* chs_record_list                                                      */

int chs_records__record_list_new(chs_record_list **out)
{
	return (*out = chs_calloc(1, sizeof(**out))) ? 0 : nomem();
}

int chs_records__record_list_add(chs_record_list *l, chs_record *r)
{
	int err;

	if (l->n == l->cap && (err = CHS_ARRAY_GROW(l->r, l->cap, l->n + 1)) < 0)
		return err;
	l->r[l->n++] = r;
	return 0;
}

size_t chs_record_list_count(const chs_record_list *l)
{
	return l ? l->n : 0;
}

const chs_record *chs_record_list_get(const chs_record_list *l, size_t i)
{
	return l && i < l->n ? l->r[i] : NULL;
}

int chs_record_list_replace(chs_record_list *l, size_t i, chs_record *r)
{
	CHS_ASSERT_ARG(l && i < l->n);
	chs_record_free(l->r[i]);
	if (r) {
		l->r[i] = r;
		return 0;
	}
	memmove(l->r + i, l->r + i + 1, (l->n - i - 1) * sizeof(*l->r));
	l->n--;
	return 0;
}

void chs_record_list_free(chs_record_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		chs_record_free(l->r[i]);
	free(l->r);
	free(l);
}

/* ------------------------------------------------------------------ */
/* chs_history                                                          */

static const char *op_name(chs_op op)
{
	static const char *const ops[] = { "?", "create", "update", "delete", "resolve" };

	return ops[op >= CHS_OP_CREATE && op <= CHS_OP_RESOLVE ? op : 0];
}

static int entry_set(hentry *e, const chs_change *c)
{
	size_t i;

	chs_hex(e->change, c->id, CHS_CHANGE_ID_BYTES);
	chs_util__hlc_time(c->hlc, e->time);
	if ((c->nfields && (!(e->set = chs_calloc(c->nfields, sizeof(*e->set))) ||
			    !(e->unset = chs_calloc(c->nfields, sizeof(*e->unset))))) ||
	    (c->nparents && (!(e->parent_hex = chs_calloc(c->nparents, sizeof(*e->parent_hex))) ||
			     !(e->parents = chs_calloc(c->nparents, sizeof(*e->parents))))))
		return nomem();
	for (i = 0; i < c->nfields; i++) {
		if (c->fields[i].value) {
			e->set[e->pub.nset].name = c->fields[i].name;
			e->set[e->pub.nset++].value = c->fields[i].value;
		} else {
			e->unset[e->pub.nunset++] = c->fields[i].name;
		}
	}
	for (i = 0; i < c->nparents; i++) {
		chs_hex(e->parent_hex[i], c->parents[i], CHS_CHANGE_ID_BYTES);
		e->parents[i] = e->parent_hex[i];
	}
	e->pub.nparents = c->nparents;
	e->pub.change = e->change;
	e->pub.op = op_name(c->op);
	e->pub.time = e->time;
	e->pub.user = c->user ? c->user : "";
	e->pub.terminal = c->terminal ? c->terminal : "";
	e->pub.device = c->device;
	e->pub.set = e->set;
	e->pub.unset = e->unset;
	e->pub.parents = e->parents;
	e->pub.merge = c->nparents > 1;
	e->pub.removed = c->op == CHS_OP_RESOLVE && c->deleted;
	return 0;
}

int chs_records__history_from_merged(chs_history **out, const chs_merged *m,
				     chs_change **changes, size_t n)
{
	chs_history *h = chs_calloc(1, sizeof(*h));
	size_t i;
	int err = 0;

	*out = NULL;
	if (!h) {
		chs_records__changes_free(changes, n);
		return nomem();
	}
	h->changes = changes;
	h->nchanges = n;
	if (m->norder && !(h->e = chs_calloc(m->norder, sizeof(*h->e))))
		err = nomem();
	else
		h->n = m->norder;
	for (i = 0; err == 0 && i < h->n; i++)
		err = entry_set(&h->e[i], m->order[i]);
	if (err < 0)
		chs_history_free(h);
	else
		*out = h;
	return err;
}

size_t chs_history_count(const chs_history *h)
{
	return h ? h->n : 0;
}

const chs_history_entry *chs_history_get(const chs_history *h, size_t i)
{
	return h && i < h->n ? &h->e[i].pub : NULL;
}

void chs_history_free(chs_history *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->n; i++) {
		free(h->e[i].set);
		free(h->e[i].unset);
		free(h->e[i].parent_hex);
		free(h->e[i].parents);
	}
	free(h->e);
	chs_records__changes_free(h->changes, h->nchanges);
	free(h);
}
