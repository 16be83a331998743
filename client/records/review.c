/*
 * Settling a record under review: a `resolve` change whose parents are all
 * the record's heads, so it descends from every candidate, writing a value
 * for every field under review (and for the record's existence, when a
 * removal was concurrent with an edit).
 */
#include "records_int.h"

#include <stdlib.h>
#include <string.h>

/* The candidate change a --take prefix names, among all candidates. */
static int find_take(const chs_merged *m, const char *take,
		     const chs_change **out)
{
	const chs_change *found = NULL;
	size_t i, j, len = strlen(take);
	char hex[65];

	*out = NULL;
	for (i = 0; i <= m->nfields; i++) {
		const chs_candidate *c = i < m->nfields ? m->fields[i].candidates
							: m->exists_candidates;
		size_t n = i < m->nfields ? m->fields[i].ncandidates
					  : m->nexists_candidates;

		for (j = 0; j < n; j++) {
			chs_hex(hex, c[j].change->id, 32);
			if (len < 4 || strncmp(hex, take, len) != 0)
				continue;
			if (found && found != c[j].change)
				return chs_error_set(CHS_EAMBIGUOUS,
						     "'%s' matches more than one candidate change",
						     take);
			found = c[j].change;
		}
	}
	if (!found)
		return chs_error_set(CHS_ENOTFOUND,
				     "'%s' is not one of the candidate changes (see 'chartsync review show')",
				     take);
	*out = found;
	return 0;
}

static const chs_candidate *candidate_of(const chs_candidate *c, size_t n,
					 const chs_change *ch)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i].change == ch)
			return &c[i];
	return NULL;
}

static int named(const chs_edit *edits, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(edits[i].name, name) == 0)
			return 1;
	return 0;
}

/* Values for every field under review: from `take`'s candidate, or the
 * edits' own, or else the provisional value. "null" stands for cleared. */
static int settle_fields(chs_change *c, const chs_merged *m, const chs_change *take,
			 const chs_edit *edits, size_t n)
{
	size_t i;
	int err = 0;

	for (i = 0; i < m->nfields && err == 0; i++) {
		const chs_merged_field *f = &m->fields[i];
		const chs_candidate *cand;
		const char *v = f->value;

		if (f->ncandidates < 2 || named(edits, n, f->name))
			continue;
		if (take && (cand = candidate_of(f->candidates, f->ncandidates, take)))
			v = cand->value;
		err = chs_change_set(c, f->name, v && strcmp(v, "null") ? v : NULL);
	}
	if (err == 0 && m->exists_review) {
		const chs_candidate *cand = take ? candidate_of(m->exists_candidates,
							       m->nexists_candidates, take) : NULL;

		/* a removal against an edit: taking a change takes its side;
		 * giving values keeps the record (a person typing what it
		 * should say wants it kept); otherwise the provisional stands */
		c->deleted = cand ? cand->value && strcmp(cand->value, "true") == 0
			     : n > 0 ? 0 : m->deleted;
	}
	return err;
}

static int resolve_change(chs_store *s, const unsigned char rec[16],
			  const chs_merged *m, const chs_edit *edits, size_t n,
			  const char *take, chs_change **out)
{
	const chs_type_def *t = chs_schema_type(m->type);
	const chs_change *taken = NULL;
	chs_change *c = NULL;
	chs_buf v;
	size_t i;
	int err;

	(void)s;
	if (!t)
		return chs_error_set(CHS_EINVALID, "unknown record type '%s'", m->type);
	if (take && (err = find_take(m, take, &taken)) < 0)
		return err;
	if ((err = chs_change_new(&c)) < 0)
		return err;
	memcpy(c->record, rec, 16);
	c->op = CHS_OP_RESOLVE;
	if (!(c->type = chs_util__strdup(m->type)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < n && err == 0; i++) {
		chs_buf_init(&v, 0);
		if (edits[i].unset)
			err = chs_change_set(c, edits[i].name, NULL);
		else if ((err = chs_records__edit_value(t, &edits[i], &v)) == 0)
			err = chs_change_set(c, edits[i].name, v.ptr);
		chs_buf_dispose(&v);
	}
	if (err == 0)
		err = settle_fields(c, m, taken, edits, n);
	if (err < 0) {
		chs_change_free(c);
		return err;
	}
	*out = c;
	return 0;
}

/* Whether the merge's heads are `heads` (ids sorted, joined by commas). */
static int heads_are(const chs_merged *m, const char *heads)
{
	size_t i, len = strlen(heads);
	char hex[65];

	if (len != m->nheads * 65 - (m->nheads > 0))
		return 0;
	for (i = 0; i < m->nheads; i++) {
		chs_hex(hex, m->heads[i]->id, 32);
		if (strncmp(heads + 65 * i, hex, 64) != 0 ||
		    (i + 1 < m->nheads && heads[65 * i + 64] != ','))
			return 0;
	}
	return 1;
}

static int resolve(chs_store *s, const char *id, const char *heads, const chs_edit *edits,
		   size_t n, const char *take)
{
	chs_change **changes = NULL, *c = NULL;
	unsigned char rec[16];
	chs_merged *m = NULL;
	size_t nc = 0;
	chs_writer w;
	char hex[33];
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(id);
	CHS_ASSERT_ARG(edits || n == 0);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	if ((n > 0) == (take != NULL))
		return chs_error_set(CHS_EINVALID,
				     "give either FIELD=VALUE... or --take CHANGE");
	if ((err = chs_records__writer_begin(&w, s)) < 0)
		return err;
	if ((err = chs_record_resolve(s, id, hex)) < 0)
		goto fail;
	chs_util__parse_id(rec, hex);
	if ((err = chs_records__merge_record(s, rec, &m, &changes, &nc)) < 0)
		goto fail;
	if (heads && !heads_are(m, heads)) {
		err = chs_error_set(CHS_EEXISTS, "record %s changed since it was read (someone"
				    " settled or edited it, or a sync brought changes): nothing"
				    " was written; read it again", hex);
		goto fail;
	}
	if (chs_schema_type(m->type) &&
	    (chs_schema_type(m->type)->flags & CHS_TYPE_APPEND_ONLY)) {
		err = chs_error_set(CHS_EDENIED, "record %s is an access event (%s): access"
				    " events can never be changed or removed", hex, m->type);
		goto fail;
	}
	if ((err = chs_schema_refuse_edit(m->type, hex)) < 0)
		goto fail;
	if (!m->review) {
		err = chs_error_set(CHS_EINVALID, "record %s is not under review", hex);
		goto fail;
	}
	if ((err = resolve_change(s, rec, m, edits, n, take, &c)) < 0 ||
	    (err = chs_records__writer_put(&w, c)) < 0)
		goto fail;
	chs_merged_free(m);
	chs_records__changes_free(changes, nc);
	return chs_records__writer_commit(&w);
fail:
	chs_merged_free(m);
	chs_records__changes_free(changes, nc);
	chs_records__writer_abort(&w);
	return err;
}

int chs_review_resolve(chs_store *s, const char *id, const chs_edit *edits,
		       size_t n, const char *take)
{
	return resolve(s, id, NULL, edits, n, take);
}

int chs_review_resolve_at(chs_store *s, const char *id, const char *heads,
			  const chs_edit *edits, size_t n, const char *take)
{
	CHS_ASSERT_ARG(heads);
	return resolve(s, id, heads, edits, n, take);
}
