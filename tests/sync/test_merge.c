/*
 * sync/: the merge rule, case by case, a large history, and the property test
 * (random multi-site histories converge and lose no candidate).
 */
#include "sync/sync.h"
#include "support/testutil.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
}

/* Medication dosing fields merge as one unit, as the schema will say. */
static const char *dosing(const char *type, const char *field, void *payload)
{
	(void)payload;
	if (strcmp(type, "medication") != 0)
		return NULL;
	if (!strcmp(field, "dose") || !strcmp(field, "unit") ||
	    !strcmp(field, "route"))
		return "dosing";
	return NULL;
}

/* ---------------------------------------------------------------------
 * A tiny history builder
 */

#define HIST_MAX 1200

typedef struct hist {
	chs_change *c[HIST_MAX];
	size_t n;
	chs_hlc clock;
	unsigned char record[CHS_RECORD_ID_BYTES];
	const char *type;
} hist;

static void hist_init(hist *h, const char *type)
{
	memset(h, 0, sizeof(*h));
	memset(h->record, 0x42, sizeof(h->record));
	h->type = type;
	h->clock = UINT64_C(1700000000000) << CHS_HLC_COUNTER_BITS;
}

static void hist_dispose(hist *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		chs_change_free(h->c[i]);
}

static void reencode(chs_change *c)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	ck_assert_msg(chs_change_encode(c, &b) == 0, "%s", chs_error_last());
	chs_buf_dispose(&b);
}

/* Fields as "name=json|name=~" (~ clears); parents NULL-terminated. */
static void set_fields(chs_change *c, const char *spec)
{
	char *copy = strdup(spec ? spec : ""), *save = NULL, *tok;

	for (tok = strtok_r(copy, "|", &save); tok;
	     tok = strtok_r(NULL, "|", &save)) {
		char *eq = strchr(tok, '=');

		ck_assert_ptr_nonnull(eq);
		*eq = '\0';
		ck_assert_int_eq(chs_change_set(c, tok, strcmp(eq + 1, "~") ?
						eq + 1 : NULL), 0);
	}
	free(copy);
}

/* The next change of the history, with parents p[0..np). */
static chs_change *new_change(hist *h, chs_op op, const char *fields,
			      chs_change *const *p, size_t np)
{
	chs_change *c;
	size_t i;

	ck_assert_int_eq(chs_change_new(&c), 0);
	c->op = op;
	memcpy(c->record, h->record, sizeof(h->record));
	c->type = strdup(h->type);
	c->user = strdup("ann");
	c->terminal = strdup("desk");
	memcpy(c->device, "0123456789abcdef0123456789abcdef", 33);
	c->hlc = ++h->clock;
	for (i = 0; i < np; i++)
		ck_assert_int_eq(chs_change_add_parent(c, p[i]->id), 0);
	set_fields(c, fields);
	reencode(c);
	ck_assert_uint_lt(h->n, HIST_MAX);
	h->c[h->n++] = c;
	return c;
}

static chs_change *vchg(hist *h, chs_op op, const char *fields, va_list ap)
{
	chs_change *p[8];
	size_t np = 0;

	while ((p[np] = va_arg(ap, chs_change *)) != NULL)
		ck_assert_uint_lt(++np, sizeof(p) / sizeof(p[0]));
	return new_change(h, op, fields, p, np);
}

static chs_change *chg(hist *h, chs_op op, const char *fields, ...)
{
	va_list ap;
	chs_change *c;

	va_start(ap, fields);
	c = vchg(h, op, fields, ap);
	va_end(ap);
	return c;
}

static chs_change *resolve(hist *h, int deleted, const char *fields, ...)
{
	va_list ap;
	chs_change *c;

	va_start(ap, fields);
	c = vchg(h, CHS_OP_RESOLVE, fields, ap);
	va_end(ap);
	c->deleted = deleted;
	reencode(c);
	return c;
}

static void set_hlc(chs_change *c, chs_hlc t)
{
	c->hlc = t;
	reencode(c);
}

static chs_merged *merge_list(chs_change *const *c, size_t n)
{
	chs_merged *m = NULL;

	ck_assert_msg(chs_merge(&m, (const chs_change *const *)c, n, dosing,
				NULL) == 0, "%s", chs_error_last());
	return m;
}

static chs_merged *merge_all(hist *h)
{
	return merge_list(h->c, h->n);
}

static const char *value(const chs_merged *m, const char *name)
{
	const chs_merged_field *f = chs_merged_get(m, name);

	return f ? f->value : NULL;
}

static size_t ncand(const chs_merged *m, const char *name)
{
	const chs_merged_field *f = chs_merged_get(m, name);

	return f ? f->ncandidates : 0;
}

/* The candidate value `name` has from change c ("<absent>" if none). */
static const char *cand_of(const chs_merged *m, const char *name,
			   const chs_change *c)
{
	const chs_merged_field *f = chs_merged_get(m, name);
	size_t j;

	for (j = 0; f && j < f->ncandidates; j++)
		if (f->candidates[j].change == c)
			return f->candidates[j].value ? f->candidates[j].value
						      : "<cleared>";
	return "<absent>";
}

/* ---------------------------------------------------------------------
 * Cases of one shape, as a table: a history in (changes with their
 * parents and fields), the merged fields and the review flag out. Each
 * row is a test of its own (the loop index is the row).
 */

#define ROW_CHANGES 6

typedef struct merge_step {
	chs_op op;		/* 0 ends the history */
	const char *fields;	/* "name=json|name=~" as chg() takes them */
	int parents[3];		/* places (1 is the first change) of earlier
				 * changes; 0 ends */
	int deleted;		/* a resolve's verdict */
} merge_step;

typedef struct merge_row {
	const char *what;
	const char *type;
	merge_step c[ROW_CHANGES];
	const char *fields;	/* every merged field: "name=json|..." */
	int review, exists_review, deleted;
	size_t nheads;		/* 0: not checked */
} merge_row;

static const merge_row merge_rows[] = {
	{ "clearing a field removes it", "patient",
	  { { CHS_OP_CREATE, "name=\"Ann\"|phone=\"555\"", { 0 }, 0 },
	    { CHS_OP_UPDATE, "phone=~", { 1 }, 0 } },
	  "name=\"Ann\"", 0, 0, 0, 0 },
	{ "the same value on both sides is no review", "patient",
	  { { CHS_OP_CREATE, "name=\"Ann\"", { 0 }, 0 },
	    { CHS_OP_UPDATE, "name={\"a\":1}", { 1 }, 0 },
	    { CHS_OP_UPDATE, "name={\"a\":1}", { 1 }, 0 } },
	  "name={\"a\":1}", 0, 0, 0, 2 },
	{ "a delete no edit saw deletes, keeping the fields", "patient",
	  { { CHS_OP_CREATE, "name=\"Ann\"", { 0 }, 0 },
	    { CHS_OP_DELETE, NULL, { 1 }, 0 } },
	  "name=\"Ann\"", 0, 0, 1, 0 },
	{ "an edit after the delete (it saw it) brings the record back", "patient",
	  { { CHS_OP_CREATE, "name=\"Ann\"", { 0 }, 0 },
	    { CHS_OP_DELETE, NULL, { 1 }, 0 },
	    { CHS_OP_UPDATE, "name=\"Back\"", { 2 }, 0 } },
	  "name=\"Back\"", 0, 0, 0, 0 },
	{ "a delete on both sides is deleted without review", "patient",
	  { { CHS_OP_CREATE, "name=\"Ann\"", { 0 }, 0 },
	    { CHS_OP_DELETE, NULL, { 1 }, 0 },
	    { CHS_OP_DELETE, NULL, { 1 }, 0 } },
	  "name=\"Ann\"", 0, 0, 1, 2 },
	{ "a resolve that keeps the record clears existence review", "patient",
	  { { CHS_OP_CREATE, "name=\"Ann\"", { 0 }, 0 },
	    { CHS_OP_UPDATE, "name=\"Anne\"", { 1 }, 0 },
	    { CHS_OP_DELETE, NULL, { 1 }, 0 },
	    { CHS_OP_RESOLVE, NULL, { 2, 3 }, 0 } },
	  "name=\"Anne\"", 0, 0, 0, 0 },
	{ "group fields of a type without merge groups merge per field", "patient",
	  { { CHS_OP_CREATE, "dose=500|unit=\"mg\"", { 0 }, 0 },
	    { CHS_OP_UPDATE, "dose=1", { 1 }, 0 },
	    { CHS_OP_UPDATE, "unit=\"g\"", { 1 }, 0 } },
	  "dose=1|unit=\"g\"", 0, 0, 0, 0 },
	{ "identical group edits are no review", "medication",
	  { { CHS_OP_CREATE, "dose=500|unit=\"mg\"|note=\"x\"", { 0 }, 0 },
	    { CHS_OP_UPDATE, "dose=1|unit=\"g\"|note=\"a\"", { 1 }, 0 },
	    { CHS_OP_UPDATE, "dose=1|unit=\"g\"", { 1 }, 0 } },
	  "dose=1|unit=\"g\"|note=\"a\"", 0, 0, 0, 0 },
	{ "a group edit seen by the other side merges", "medication",
	  { { CHS_OP_CREATE, "dose=500|unit=\"mg\"", { 0 }, 0 },
	    { CHS_OP_UPDATE, "dose=1", { 1 }, 0 },
	    { CHS_OP_UPDATE, "unit=\"g\"", { 2 }, 0 },
	    { CHS_OP_UPDATE, "note=\"n\"", { 1 }, 0 } }, /* not the group */
	  "dose=1|unit=\"g\"|note=\"n\"", 0, 0, 0, 0 },
};

#define MERGE_ROWS ((int)(sizeof(merge_rows) / sizeof(merge_rows[0])))

/* Build row r's history into h. */
static void row_history(hist *h, const merge_row *r)
{
	chs_change *made[ROW_CHANGES], *p[3];
	size_t i, np;

	hist_init(h, r->type);
	for (i = 0; i < ROW_CHANGES && r->c[i].op; i++) {
		const merge_step *st = &r->c[i];

		for (np = 0; np < 3 && st->parents[np]; np++) {
			ck_assert_int_le(st->parents[np], (int)i);
			p[np] = made[st->parents[np] - 1];
		}
		made[i] = new_change(h, st->op, st->fields, p, np);
		if (st->deleted) {
			made[i]->deleted = st->deleted;
			reencode(made[i]);
		}
	}
}

/* Every field of `want` ("name=json|...") has its value in m, and m has
 * no other field. */
static void assert_fields(const merge_row *r, const chs_merged *m)
{
	char *copy = strdup(r->fields), *save = NULL, *tok;
	size_t n = 0;

	ck_assert_ptr_nonnull(copy);
	for (tok = strtok_r(copy, "|", &save); tok; tok = strtok_r(NULL, "|", &save), n++) {
		char *eq = strchr(tok, '=');
		const char *got;

		ck_assert_ptr_nonnull(eq);
		*eq = '\0';
		got = value(m, tok);
		ck_assert_msg(got && !strcmp(got, eq + 1), "%s: field %s is %s, wanted %s",
			      r->what, tok, got ? got : "absent", eq + 1);
	}
	ck_assert_msg(m->nfields == n, "%s: %zu fields, wanted %zu", r->what, m->nfields, n);
	free(copy);
}

START_TEST(test_merge__table)
{
	const merge_row *r = &merge_rows[_i];
	const char *state = r->deleted ? "{\"deleted\":true," : "{\"deleted\":false,";
	chs_merged *m;
	hist h;

	row_history(&h, r);
	m = merge_all(&h);
	assert_fields(r, m);
	ck_assert_msg(m->review == r->review, "%s: review %d", r->what, m->review);
	ck_assert_msg(m->exists_review == r->exists_review, "%s: exists review %d", r->what,
		      m->exists_review);
	ck_assert_msg(m->deleted == r->deleted, "%s: deleted %d", r->what, m->deleted);
	ck_assert_msg(!r->nheads || m->nheads == r->nheads, "%s: %zu heads", r->what, m->nheads);
	ck_assert_msg(!strncmp(m->state, state, strlen(state)), "%s: state %s", r->what,
		      m->state);
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

/* ---------------------------------------------------------------------
 * Cases of their own shape
 */

START_TEST(test_merge__linear_history_applies_in_order)
{
	hist h;
	chs_change *c0, *c1, *c2;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"Ann\"|dob=\"1970-01-01\"", NULL);
	c1 = chg(&h, CHS_OP_UPDATE, "name=\"Anne\"", c0, NULL);
	c2 = chg(&h, CHS_OP_UPDATE, "dob=\"1971-01-01\"|phone=\"555\"", c1, NULL);
	m = merge_all(&h);
	ck_assert_str_eq(m->state, "{\"deleted\":false,\"fields\":{"
			 "\"dob\":\"1971-01-01\",\"name\":\"Anne\","
			 "\"phone\":\"555\"},\"type\":\"patient\"}");
	ck_assert_uint_eq(m->state_len, strlen(m->state));
	ck_assert_int_eq(m->review, 0);
	ck_assert_uint_eq(m->nheads, 1);
	ck_assert_ptr_eq(m->heads[0], c2);
	ck_assert_uint_eq(m->norder, 3);
	ck_assert_ptr_eq(m->order[0], c0);
	ck_assert_ptr_eq(m->order[1], c1);
	ck_assert_ptr_eq(m->order[2], c2);
	ck_assert_ptr_eq(chs_merged_get(m, "name")->from, c1);
	ck_assert_ptr_null(chs_merged_get(m, "nope"));
	{
		unsigned char hh[CHS_HASH_BYTES];

		chs_hash(hh, m->state, m->state_len);
		ck_assert_mem_eq(hh, m->hash, sizeof(hh));
	}
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__field_changed_on_one_side_merges)
{
	hist h;
	chs_change *c0, *l, *r;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"Ann\"|phone=\"1\"|dob=1", NULL);
	l = chg(&h, CHS_OP_UPDATE, "name=\"Anne\"", c0, NULL);
	r = chg(&h, CHS_OP_UPDATE, "phone=\"2\"", c0, NULL);
	m = merge_all(&h);
	ck_assert_int_eq(m->review, 0);
	ck_assert_str_eq(value(m, "name"), "\"Anne\"");
	ck_assert_str_eq(value(m, "phone"), "\"2\"");
	ck_assert_str_eq(value(m, "dob"), "1");
	ck_assert_ptr_eq(chs_merged_get(m, "name")->from, l);
	ck_assert_ptr_eq(chs_merged_get(m, "phone")->from, r);
	ck_assert_uint_eq(m->nheads, 2);
	ck_assert(memcmp(m->heads[0]->id, m->heads[1]->id, CHS_CHANGE_ID_BYTES) < 0);
	ck_assert_ptr_null(strstr(m->state, "review"));
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__same_field_both_sides_goes_to_review)
{
	hist h;
	chs_change *c0, *l, *r;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"Ann\"", NULL);
	l = chg(&h, CHS_OP_UPDATE, "name=\"Anne\"", c0, NULL);
	r = chg(&h, CHS_OP_UPDATE, "name=\"Annie\"", c0, NULL);
	/* The provisional is the highest (hlc, id): make it the change with
	 * the lower id, so the clock and not the id decides. */
	if (memcmp(l->id, r->id, CHS_CHANGE_ID_BYTES) < 0)
		set_hlc(l, r->hlc + 5);
	else
		set_hlc(r, l->hlc + 5);
	m = merge_all(&h);
	ck_assert_int_eq(m->review, 1);
	ck_assert_int_eq(m->exists_review, 0);
	ck_assert_uint_eq(ncand(m, "name"), 2);
	ck_assert_str_eq(cand_of(m, "name", l), "\"Anne\"");
	ck_assert_str_eq(cand_of(m, "name", r), "\"Annie\"");
	{
		const chs_merged_field *f = chs_merged_get(m, "name");
		const chs_change *win = l->hlc > r->hlc ? l : r;

		ck_assert(memcmp(f->candidates[0].change->id,
				 f->candidates[1].change->id,
				 CHS_CHANGE_ID_BYTES) < 0);
		ck_assert_ptr_eq(f->from, win);
		ck_assert_str_eq(f->value, win == l ? "\"Anne\"" : "\"Annie\"");
	}
	ck_assert_ptr_nonnull(strstr(m->state, "\"review\":{\"fields\":{\"name\":[{\"change\":\""));
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__equal_hlc_ties_break_by_change_id)
{
	hist h;
	chs_change *c0, *l, *r, *hi;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"Ann\"", NULL);
	l = chg(&h, CHS_OP_UPDATE, "name=\"L\"", c0, NULL);
	r = chg(&h, CHS_OP_UPDATE, "name=\"R\"", c0, NULL);
	set_hlc(r, l->hlc);
	hi = memcmp(l->id, r->id, CHS_CHANGE_ID_BYTES) > 0 ? l : r;
	m = merge_all(&h);
	ck_assert_ptr_eq(chs_merged_get(m, "name")->from, hi);
	ck_assert_ptr_eq(m->order[2], hi);
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__delete_against_edit_goes_to_review)
{
	hist h;
	chs_change *c0, *e, *d;
	chs_merged *m;
	size_t j;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"Ann\"", NULL);
	e = chg(&h, CHS_OP_UPDATE, "name=\"Anne\"", c0, NULL);
	d = chg(&h, CHS_OP_DELETE, NULL, c0, NULL);
	m = merge_all(&h);
	ck_assert_int_eq(m->review, 1);
	ck_assert_int_eq(m->exists_review, 1);
	ck_assert_uint_eq(m->nexists_candidates, 2);
	for (j = 0; j < 2; j++) {
		const chs_candidate *k = &m->exists_candidates[j];

		ck_assert_str_eq(k->value, k->change == d ? "true" : "false");
	}
	/* d is later: provisionally deleted, the edit kept all the same. */
	ck_assert_int_eq(m->deleted, 1);
	ck_assert_str_eq(value(m, "name"), "\"Anne\"");
	ck_assert_ptr_eq(chs_merged_get(m, "name")->from, e);
	ck_assert_ptr_nonnull(strstr(m->state, "\"review\":{\"exists\":[{"));
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__resolve_of_all_heads_clears_field_review)
{
	hist h;
	chs_change *c0, *l, *r, *res;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"Ann\"|dob=1", NULL);
	l = chg(&h, CHS_OP_UPDATE, "name=\"L\"", c0, NULL);
	r = chg(&h, CHS_OP_UPDATE, "name=\"R\"|dob=2", c0, NULL);
	/* The reviewer picks the older value, even against the clock. */
	res = resolve(&h, 0, "name=\"L\"", l, r, NULL);
	set_hlc(res, 1);
	m = merge_all(&h);
	ck_assert_int_eq(m->review, 0);
	ck_assert_str_eq(value(m, "name"), "\"L\"");
	ck_assert_str_eq(value(m, "dob"), "2");
	ck_assert_ptr_eq(chs_merged_get(m, "name")->from, res);
	ck_assert_uint_eq(m->nheads, 1);
	ck_assert_ptr_eq(m->order[m->norder - 1], res);
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__resolve_delete_clears_existence_review)
{
	hist h;
	chs_change *c0, *e, *d;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"Ann\"", NULL);
	e = chg(&h, CHS_OP_UPDATE, "name=\"Anne\"", c0, NULL);
	d = chg(&h, CHS_OP_DELETE, NULL, c0, NULL);
	set_hlc(d, e->hlc - 10); /* provisional would be "exists" */
	resolve(&h, 1, NULL, e, d, NULL);
	m = merge_all(&h);
	ck_assert_int_eq(m->review, 0);
	ck_assert_int_eq(m->deleted, 1);
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__group_edits_on_two_sides_put_group_in_review)
{
	hist h;
	chs_change *c0, *l, *r, *win;
	chs_merged *m;

	hist_init(&h, "medication");
	c0 = chg(&h, CHS_OP_CREATE, "drug=\"metformin\"|dose=500|unit=\"mg\"|"
		 "route=\"oral\"", NULL);
	l = chg(&h, CHS_OP_UPDATE, "dose=1", c0, NULL);
	r = chg(&h, CHS_OP_UPDATE, "unit=\"g\"", c0, NULL);
	m = merge_all(&h);
	ck_assert_int_eq(m->review, 1);
	/* Per field there would be no conflict; as a unit there is. */
	ck_assert_uint_eq(ncand(m, "dose"), 2);
	ck_assert_uint_eq(ncand(m, "unit"), 2);
	ck_assert_uint_eq(ncand(m, "route"), 2);
	ck_assert_uint_eq(ncand(m, "drug"), 0);
	ck_assert_str_eq(cand_of(m, "dose", l), "1");
	ck_assert_str_eq(cand_of(m, "unit", l), "\"mg\"");
	ck_assert_str_eq(cand_of(m, "dose", r), "500");
	ck_assert_str_eq(cand_of(m, "unit", r), "\"g\"");
	ck_assert_str_eq(cand_of(m, "route", r), "\"oral\"");
	/* The provisional group is one candidate's whole version. */
	win = r->hlc > l->hlc ? r : l;
	ck_assert_str_eq(value(m, "dose"), win == l ? "1" : "500");
	ck_assert_str_eq(value(m, "unit"), win == l ? "\"mg\"" : "\"g\"");
	ck_assert_ptr_eq(chs_merged_get(m, "dose")->from, win);
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

/* A conflict on dose hidden in the past of both group candidates: each
 * candidate saw only the provisional dose, so the other value must be
 * added, or review would lose it. */
START_TEST(test_merge__group_review_keeps_values_hidden_in_candidates_past)
{
	hist h;
	chs_change *c0, *x, *y, *z, *w, *v;
	chs_merged *m;

	hist_init(&h, "medication");
	c0 = chg(&h, CHS_OP_CREATE, "dose=500|unit=\"mg\"", NULL);
	x = chg(&h, CHS_OP_UPDATE, "dose=1", c0, NULL);
	y = chg(&h, CHS_OP_UPDATE, "dose=2", c0, NULL);
	z = chg(&h, CHS_OP_UPDATE, "note=\"merged\"", x, y, NULL);
	w = chg(&h, CHS_OP_UPDATE, "unit=\"g\"", z, NULL);
	v = chg(&h, CHS_OP_UPDATE, "unit=\"kg\"", z, NULL);
	m = merge_all(&h);
	ck_assert_int_eq(m->review, 1);
	/* y is later than x, so both candidates saw dose 2. */
	ck_assert_str_eq(cand_of(m, "dose", w), "2");
	ck_assert_str_eq(cand_of(m, "dose", v), "2");
	ck_assert_str_eq(cand_of(m, "dose", x), "1");
	ck_assert_uint_eq(ncand(m, "dose"), 3);
	ck_assert_uint_eq(ncand(m, "unit"), 2);
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__criss_cross_merge_works)
{
	hist h;
	chs_change *c0, *b1, *b2, *m1, *m2, *e1, *e2;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "a=0|b=0|c=0", NULL);
	b1 = chg(&h, CHS_OP_UPDATE, "a=1", c0, NULL);
	b2 = chg(&h, CHS_OP_UPDATE, "b=2", c0, NULL);
	/* Two sites merge the same two heads independently. */
	m1 = chg(&h, CHS_OP_UPDATE, "c=1", b1, b2, NULL);
	m2 = chg(&h, CHS_OP_UPDATE, "d=1", b1, b2, NULL);
	e1 = chg(&h, CHS_OP_UPDATE, "a=3", m1, NULL);
	e2 = chg(&h, CHS_OP_UPDATE, "b=4", m2, NULL);
	m = merge_all(&h);
	ck_assert_int_eq(m->review, 0);
	ck_assert_str_eq(value(m, "a"), "3");
	ck_assert_str_eq(value(m, "b"), "4");
	ck_assert_str_eq(value(m, "c"), "1");
	ck_assert_str_eq(value(m, "d"), "1");
	ck_assert_uint_eq(m->nheads, 2);
	chs_merged_free(m);
	/* Concurrent edits of one field after the criss-cross: exactly
	 * those two are the candidates, not the older b1. */
	chg(&h, CHS_OP_UPDATE, "a=5", m2, NULL);
	m = merge_all(&h);
	ck_assert_uint_eq(ncand(m, "a"), 2);
	ck_assert_str_eq(cand_of(m, "a", e1), "3");
	ck_assert_str_eq(cand_of(m, "a", b1), "<absent>");
	ck_assert_uint_eq(m->nheads, 3);
	(void)e2;
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__missing_parent_is_pending_until_it_arrives)
{
	hist h;
	chs_change *c0, *c1, *c2, *other;
	chs_change *without[3];
	chs_merged *m, *all, *upto;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"Ann\"", NULL);
	c1 = chg(&h, CHS_OP_UPDATE, "name=\"B\"", c0, NULL);
	c2 = chg(&h, CHS_OP_UPDATE, "phone=\"1\"", c1, NULL);
	other = chg(&h, CHS_OP_UPDATE, "dob=1", c0, NULL);
	without[0] = c2;
	without[1] = c0;
	without[2] = other;
	m = merge_list(without, 3);
	ck_assert_uint_eq(m->npending, 1);
	ck_assert_ptr_eq(m->pending[0], c2);
	ck_assert_uint_eq(m->norder, 2);
	ck_assert_str_eq(value(m, "name"), "\"Ann\"");
	ck_assert_ptr_null(chs_merged_get(m, "phone"));
	/* The state is that of the others alone. */
	upto = merge_list(without + 1, 2);
	ck_assert_str_eq(m->state, upto->state);
	all = merge_all(&h);
	ck_assert_uint_eq(all->npending, 0);
	ck_assert_str_eq(value(all, "name"), "\"B\"");
	ck_assert_str_eq(value(all, "phone"), "\"1\"");
	chs_merged_free(m);
	chs_merged_free(upto);
	chs_merged_free(all);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__everything_pending_is_an_empty_result)
{
	hist h;
	chs_change *c0;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"Ann\"", NULL);
	chg(&h, CHS_OP_UPDATE, "name=\"B\"", c0, NULL);
	m = merge_list(h.c + 1, 1);
	ck_assert_uint_eq(m->norder, 0);
	ck_assert_uint_eq(m->npending, 1);
	ck_assert_ptr_null(m->type);
	ck_assert_str_eq(m->state, "null");
	chs_merged_free(m);
	m = merge_list(NULL, 0);
	ck_assert_uint_eq(m->norder + m->npending, 0);
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__clear_against_set_goes_to_review)
{
	hist h;
	chs_change *c0, *l, *r;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "phone=\"1\"", NULL);
	l = chg(&h, CHS_OP_UPDATE, "phone=\"2\"", c0, NULL);
	r = chg(&h, CHS_OP_UPDATE, "phone=~", c0, NULL);
	set_hlc(r, l->hlc + 1); /* the clear is the provisional */
	m = merge_all(&h);
	ck_assert_int_eq(m->review, 1);
	ck_assert_uint_eq(ncand(m, "phone"), 2);
	ck_assert_str_eq(cand_of(m, "phone", r), "<cleared>");
	ck_assert_str_eq(cand_of(m, "phone", l), "\"2\"");
	ck_assert_str_eq(value(m, "phone"), "null");
	ck_assert_ptr_nonnull(strstr(m->state, "\"fields\":{\"phone\":null}"));
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__child_with_an_earlier_clock_still_follows_its_parent)
{
	hist h;
	chs_change *c0, *c1, *c2;
	chs_merged *m;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"A\"", NULL);
	c1 = chg(&h, CHS_OP_UPDATE, "name=\"B\"", c0, NULL);
	set_hlc(c1, 5); /* a device with a broken clock */
	c2 = chg(&h, CHS_OP_UPDATE, "name=\"C\"", c1, NULL);
	set_hlc(c2, 1);
	m = merge_all(&h);
	ck_assert_ptr_eq(m->order[0], c0);
	ck_assert_ptr_eq(m->order[1], c1);
	ck_assert_ptr_eq(m->order[2], c2);
	ck_assert_str_eq(value(m, "name"), "\"C\"");
	ck_assert_int_eq(m->review, 0);
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__duplicates_and_input_order_do_not_matter)
{
	hist h;
	chs_change *c0, *l, *r, *dup;
	chs_change *in[5];
	chs_merged *a, *b;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"A\"", NULL);
	l = chg(&h, CHS_OP_UPDATE, "name=\"B\"", c0, NULL);
	r = chg(&h, CHS_OP_DELETE, NULL, c0, NULL);
	ck_assert_int_eq(chs_change_dup(&dup, l), 0);
	a = merge_all(&h);
	in[0] = r;
	in[1] = l;
	in[2] = dup;
	in[3] = c0;
	in[4] = l;
	b = merge_list(in, 5);
	ck_assert_str_eq(a->state, b->state);
	ck_assert_mem_eq(a->hash, b->hash, CHS_HASH_BYTES);
	ck_assert_uint_eq(b->norder, 3);
	ck_assert_uint_eq(b->nheads, 2);
	chs_merged_free(a);
	chs_merged_free(b);
	chs_change_free(dup);
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__changes_of_two_records_are_refused)
{
	hist h;
	chs_change *c0, *c1;
	chs_merged *m = NULL;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"A\"", NULL);
	h.record[0] ^= 1;
	c1 = chg(&h, CHS_OP_CREATE, "name=\"B\"", NULL);
	ck_assert_int_eq(chs_merge(&m, (const chs_change *const *)h.c, 2,
				   NULL, NULL), CHS_EINVALID);
	ck_assert_ptr_null(m);
	(void)c0;
	(void)c1;
	hist_dispose(&h);
}
END_TEST

START_TEST(test_merge__applied_history_without_create_is_refused)
{
	hist h;
	chs_change *c0, *c1;
	chs_merged *m = NULL;

	hist_init(&h, "patient");
	c0 = chg(&h, CHS_OP_CREATE, "name=\"A\"", NULL);
	c1 = chg(&h, CHS_OP_UPDATE, "name=\"B\"", c0, NULL);
	/* Only a hand-made change can be a root that is no create. */
	c0->op = CHS_OP_UPDATE;
	ck_assert_int_eq(chs_merge(&m, (const chs_change *const *)h.c, 2,
				   NULL, NULL), CHS_EINVALID);
	ck_assert_ptr_null(m);
	(void)c1;
	hist_dispose(&h);
}
END_TEST

/* ---------------------------------------------------------------------
 * A large history: 1,000 changes in 10 concurrent branches
 */

/* The lone-create shortcut must give exactly what the general path gives
 * (passing the change twice takes the general path, which drops the
 * duplicate). */
START_TEST(test_merge__a_lone_create_merges_as_the_general_path_does)
{
	static const char *const specs[] = {
		"", "name=\"Ada\"", "b=1|a=\"x\"|c=~", "z=[1,2]|\u00e9=\"e\"|y={\"k\":true}",
		"n=null|m=\"\\u0001\"",
	};
	size_t i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		chs_merged *fast = NULL, *slow = NULL;
		chs_change *two[2];
		hist h;

		hist_init(&h, "patient");
		two[0] = two[1] = chg(&h, CHS_OP_CREATE, specs[i], NULL);
		ck_assert_int_eq(chs_merge(&fast, (const chs_change *const *)two, 1, NULL, NULL), 0);
		ck_assert_int_eq(chs_merge(&slow, (const chs_change *const *)two, 2, NULL, NULL), 0);
		ck_assert_uint_eq(fast->state_len, slow->state_len);
		ck_assert_str_eq(fast->state, slow->state);
		ck_assert_mem_eq(fast->hash, slow->hash, CHS_HASH_BYTES);
		ck_assert_uint_eq(fast->nfields, slow->nfields);
		ck_assert_uint_eq(fast->nheads, 1);
		ck_assert_uint_eq(fast->norder, 1);
		chs_merged_free(fast);
		chs_merged_free(slow);
		hist_dispose(&h);
	}
}
END_TEST

/* What this merge costs is measured by tools/bench/records
 * (merge_1000_ms), not asserted here. */
START_TEST(test_merge__thousand_changes_in_ten_branches)
{
	static const char *names[] = { "a", "b", "c", "d", "e", "f", "g",
				       "dose", "unit", "route", "note", "h" };
	static hist h;
	chs_change *tip[10];
	chs_merged *m;
	size_t b, k;
	char spec[64];

	hist_init(&h, "medication");
	tip[0] = chg(&h, CHS_OP_CREATE, "a=0|b=0|dose=1|unit=\"mg\"", NULL);
	for (b = 1; b < 10; b++)
		tip[b] = tip[0];
	for (k = 1; k < 1000; k++) {
		b = k % 10;
		snprintf(spec, sizeof(spec), "%s=%zu|%s=\"v%zu\"",
			 names[k % 12], k % 7, names[(k / 3) % 12], k % 5);
		if (strcmp(names[k % 12], names[(k / 3) % 12]) == 0)
			snprintf(spec, sizeof(spec), "%s=%zu", names[k % 12], k);
		tip[b] = chg(&h, CHS_OP_UPDATE, spec, tip[b], NULL);
	}
	ck_assert_uint_eq(h.n, 1000);
	m = merge_all(&h);
	ck_assert_uint_eq(m->nheads, 10);
	ck_assert_uint_eq(m->norder, 1000);
	ck_assert_int_eq(m->review, 1);
	chs_merged_free(m);
	hist_dispose(&h);
}
END_TEST

/* ---------------------------------------------------------------------
 * The property test: random multi-site histories
 *
 * 3-5 sites each hold a set of changes. Each step one site creates a
 * record, edits one (parents = its heads, from chs_merge on its own set),
 * deletes, resolves what it sees under review, or receives a random
 * subset of another site's changes (so parents go missing for a while,
 * branches run concurrently and merges criss-cross). A few devices stamp
 * garbage clocks. Then every record's full set is merged in many random
 * orders and prefixes and checked against a naive reference.
 *
 * CHS_MERGE_SEED=<n> replays a run; CHS_MERGE_SCALE=<n> multiplies its
 * size (default 1: ~3,500 changes, a few seconds).
 */

#define P_RECORDS 8
#define P_SITES_MAX 5

static const char *const p_names[] = {
	"a", "b", "c", "dose", "unit", "route", "\xc3\xa9tat",
	"\xf0\x9f\x98\x80"
};
#define P_NNAMES (sizeof(p_names) / sizeof(p_names[0]))
static const char *const p_values[] = {
	"1", "2", "\"x\"", "\"y\"", "[1,2]", "{\"k\":\"\\u001f\"}", NULL
};
#define P_NVALUES (sizeof(p_values) / sizeof(p_values[0]))

static unsigned long long p_seed;
static uint64_t p_state;

#define PCHECK(cond, what) \
	ck_assert_msg(cond, "%s (seed %llu; CHS_MERGE_SEED=%llu replays)", \
		      what, p_seed, p_seed)

static uint64_t prnd(void)
{
	uint64_t z = (p_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static size_t pick_n(size_t n)
{
	return (size_t)(prnd() % n);
}

typedef struct plist {
	chs_change **v;
	size_t n, cap;
} plist;

static void plist_push(plist *l, chs_change *c)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		ck_assert_ptr_nonnull(l->v);
	}
	l->v[l->n++] = c;
}

typedef struct psite {
	plist rec[P_RECORDS];   /* its changes of each record, as arrived */
	unsigned char *has;     /* by pool index */
	chs_hlc clock;
	int skew;               /* ms */
	char device[33];
} psite;

typedef struct pworld {
	plist pool;             /* every change; owns them */
	size_t *rec_of, cap;
	unsigned char recid[P_RECORDS][CHS_RECORD_ID_BYTES];
	const char *type[P_RECORDS];
	size_t nrec;
	psite site[P_SITES_MAX];
	size_t nsites;
	uint64_t wall;
} pworld;

static size_t pool_index(const pworld *w, const chs_change *c)
{
	size_t i;

	/* Changes carry their pool index in the user name: "u<index>". */
	i = (size_t)strtoull(c->user + 1, NULL, 10);
	ck_assert_ptr_eq(w->pool.v[i], c);
	return i;
}

static void p_give(pworld *w, size_t s, size_t gi)
{
	psite *st = &w->site[s];

	if (st->has[gi])
		return;
	st->has[gi] = 1;
	plist_push(&st->rec[w->rec_of[gi]], w->pool.v[gi]);
}

static chs_merged *p_merge(chs_change *const *v, size_t n)
{
	chs_merged *m = NULL;
	int err = chs_merge(&m, (const chs_change *const *)v, n, dosing, NULL);

	ck_assert_msg(err == 0, "merge failed: %s (seed %llu)",
		      chs_error_last(), p_seed);
	return m;
}

/* Sign off a new change: stamp, encode, sometimes go through decode. */
static void p_commit(pworld *w, size_t s, size_t r, chs_change *c)
{
	psite *st = &w->site[s];
	size_t gi = w->pool.n;
	char user[32];
	chs_buf b;

	st->clock = chs_hlc_next(st->clock, w->wall + (uint64_t)st->skew);
	c->hlc = pick_n(30) ? st->clock : prnd() % 100000; /* broken clocks */
	snprintf(user, sizeof(user), "u%zu", gi);
	c->user = strdup(user);
	c->terminal = strdup("t");
	memcpy(c->device, st->device, 33);
	memcpy(c->record, w->recid[r], CHS_RECORD_ID_BYTES);
	c->type = strdup(w->type[r]);
	chs_buf_init(&b, 0);
	ck_assert_msg(chs_change_encode(c, &b) == 0, "%s", chs_error_last());
	if (pick_n(4) == 0) {
		chs_change *d = NULL;

		ck_assert_int_eq(chs_change_decode(&d, b.ptr, b.len), 0);
		ck_assert_mem_eq(d->id, c->id, CHS_CHANGE_ID_BYTES);
		chs_change_free(c);
		c = d;
	}
	chs_buf_dispose(&b);
	ck_assert_uint_lt(gi, w->cap);
	plist_push(&w->pool, c);
	w->rec_of[gi] = r;
	p_give(w, s, gi);
}

static void p_random_fields(chs_change *c, size_t most, int clears)
{
	size_t k, n = 1 + pick_n(most);

	for (k = 0; k < n; k++) {
		const char *v = p_values[pick_n(P_NVALUES - (clears ? 0 : 1))];

		ck_assert_int_eq(chs_change_set(c, p_names[pick_n(P_NNAMES)], v), 0);
	}
}

static void p_create(pworld *w, size_t s)
{
	size_t r = w->nrec++, i;
	chs_change *c;

	for (i = 0; i < CHS_RECORD_ID_BYTES; i++) /* from the seed: replayable */
		w->recid[r][i] = (unsigned char)prnd();
	w->type[r] = pick_n(3) ? "medication" : "patient";
	ck_assert_int_eq(chs_change_new(&c), 0);
	c->op = CHS_OP_CREATE;
	p_random_fields(c, 5, 0);
	p_commit(w, s, r, c);
}

/* A reviewer's resolve: one candidate per field under review. */
static void p_fill_resolve(chs_change *c, const chs_merged *m)
{
	size_t j;

	for (j = 0; j < m->nfields; j++) {
		const chs_merged_field *f = &m->fields[j];

		if (f->ncandidates)
			chs_change_set(c, f->name,
				       f->candidates[pick_n(f->ncandidates)].value);
	}
	c->deleted = m->deleted;
	if (m->exists_review)
		c->deleted = !strcmp(m->exists_candidates[pick_n(
			m->nexists_candidates)].value, "true");
	if (pick_n(4) == 0)
		p_random_fields(c, 1, 1);
}

static void p_edit(pworld *w, size_t s, size_t r)
{
	plist *l = &w->site[s].rec[r];
	chs_merged *m = p_merge(l->v, l->n);
	size_t j, x = pick_n(100);
	chs_change *c;

	if (!m->norder) {
		chs_merged_free(m);
		return;
	}
	ck_assert_int_eq(chs_change_new(&c), 0);
	for (j = 0; j < m->nheads; j++)
		chs_change_add_parent(c, m->heads[j]->id);
	if (m->review && pick_n(3)) {
		c->op = CHS_OP_RESOLVE;
		p_fill_resolve(c, m);
	} else if (x < 7) {
		c->op = CHS_OP_DELETE;
	} else if (x < 12) {
		c->op = CHS_OP_RESOLVE;
		c->deleted = pick_n(4) == 0;
		p_random_fields(c, 2, 1);
	} else {
		c->op = CHS_OP_UPDATE;
		p_random_fields(c, 3, 1);
	}
	chs_merged_free(m);
	p_commit(w, s, r, c);
}

/* Site s receives a random part of what site t holds. */
static void p_exchange(pworld *w, size_t s, size_t t)
{
	static const unsigned pct[] = { 30, 70, 100 };
	unsigned p = pct[pick_n(3)];
	chs_hlc seen = 0;
	size_t r, j;

	for (r = 0; r < w->nrec; r++) {
		plist *l = &w->site[t].rec[r];

		for (j = 0; j < l->n; j++) {
			if (prnd() % 100 >= p)
				continue;
			p_give(w, s, pool_index(w, l->v[j]));
			seen = l->v[j]->hlc > seen ? l->v[j]->hlc : seen;
		}
	}
	w->site[s].clock = chs_hlc_observe(w->site[s].clock, seen, w->wall);
}

static void p_step(pworld *w)
{
	size_t s = pick_n(w->nsites), x = pick_n(100), r, tries;

	w->wall += pick_n(3); /* coarse: equal stamps across sites happen */
	if (x < 8) {
		p_exchange(w, s, pick_n(w->nsites));
		return;
	}
	if (w->nrec < P_RECORDS && (x < 12 || w->nrec == 0)) {
		p_create(w, s);
		return;
	}
	for (tries = 0; tries < 4; tries++) {
		r = pick_n(w->nrec);
		if (w->site[s].rec[r].n) {
			p_edit(w, s, r);
			return;
		}
	}
}

static void p_init(pworld *w, size_t steps)
{
	size_t s;

	memset(w, 0, sizeof(*w));
	w->cap = steps + 16;
	w->rec_of = calloc(w->cap, sizeof(size_t));
	ck_assert_ptr_nonnull(w->rec_of);
	w->nsites = 3 + pick_n(3);
	w->wall = UINT64_C(1700000000000);
	for (s = 0; s < w->nsites; s++) {
		psite *st = &w->site[s];

		st->has = calloc(w->cap, 1);
		ck_assert_ptr_nonnull(st->has);
		st->skew = (int)pick_n(100);
		memset(st->device, 'a' + (char)s, 32);
		st->device[32] = '\0';
	}
}

static void p_dispose(pworld *w)
{
	size_t s, r;

	for (s = 0; s < w->pool.n; s++)
		chs_change_free(w->pool.v[s]);
	free(w->pool.v);
	free(w->rec_of);
	for (s = 0; s < w->nsites; s++) {
		for (r = 0; r < P_RECORDS; r++)
			free(w->site[s].rec[r].v);
		free(w->site[s].has);
	}
}

/* ---- the naive reference ---- */

typedef struct pref {
	chs_change **v;   /* the record's changes, sorted by id */
	size_t n, words;
	uint64_t *anc;    /* strict ancestors of v[i]: anc[i * words ...] */
} pref;

static int p_by_id(const void *a, const void *b)
{
	return memcmp((*(chs_change *const *)a)->id,
		      (*(chs_change *const *)b)->id, CHS_CHANGE_ID_BYTES);
}

static size_t pref_find(const pref *p, const unsigned char *id)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (!memcmp(p->v[i]->id, id, CHS_CHANGE_ID_BYTES))
			return i;
	return SIZE_MAX;
}

static int pref_is_anc(const pref *p, size_t a, size_t of)
{
	return (p->anc[of * p->words + a / 64] >> (a % 64)) & 1;
}

/* Ancestors, walking the merge's order after checking it is causal. */
static void pref_build(pref *p, chs_change *const *u, size_t n,
		       const chs_merged *m)
{
	size_t k, j, w;
	size_t *pos = calloc(n, sizeof(size_t));

	p->n = n;
	p->words = (n + 63) / 64;
	p->v = malloc(n * sizeof(*p->v));
	p->anc = calloc(n * p->words, sizeof(uint64_t));
	ck_assert(pos && p->v && p->anc);
	memcpy(p->v, u, n * sizeof(*u));
	qsort(p->v, n, sizeof(*p->v), p_by_id);
	for (k = 0; k < n; k++)
		pos[pref_find(p, m->order[k]->id)] = k;
	for (k = 0; k < n; k++) {
		size_t i = pref_find(p, m->order[k]->id);

		for (j = 0; j < p->v[i]->nparents; j++) {
			size_t q = pref_find(p, p->v[i]->parents[j]);

			PCHECK(q != SIZE_MAX && pos[q] < k,
			       "a parent comes after its child in the order");
			for (w = 0; w < p->words; w++)
				p->anc[i * p->words + w] |= p->anc[q * p->words + w];
			p->anc[i * p->words + q / 64] |= UINT64_C(1) << (q % 64);
		}
	}
	free(pos);
}

static const char *p_value_of(const chs_change *c, const char *name, int *writes)
{
	size_t j;

	*writes = 0;
	for (j = 0; j < c->nfields; j++) {
		if (!strcmp(c->fields[j].name, name)) {
			*writes = 1;
			return c->fields[j].value;
		}
	}
	return NULL;
}

static int p_later(const chs_change *a, const chs_change *b)
{
	if (a->hlc != b->hlc)
		return a->hlc > b->hlc;
	return memcmp(a->id, b->id, CHS_CHANGE_ID_BYTES) > 0;
}

static int p_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static int p_has_cand(const chs_merged_field *f, const chs_change *c,
		      const char *v, int by_change)
{
	size_t j;

	for (j = 0; f && j < f->ncandidates; j++) {
		if (by_change ? f->candidates[j].change == c
			      : p_same(f->candidates[j].value, v))
			return 1;
	}
	return 0;
}

/* Does v[i] touch the dosing group, and do v[i] and v[j] set it alike? */
static int p_touches(const chs_change *c)
{
	size_t j;

	for (j = 0; j < c->nfields; j++)
		if (dosing("medication", c->fields[j].name, NULL))
			return 1;
	return 0;
}

static int p_alike(const chs_change *a, const chs_change *b)
{
	static const char *const g[] = { "dose", "unit", "route" };
	size_t k;
	int wa, wb;

	for (k = 0; k < 3; k++) {
		const char *va = p_value_of(a, g[k], &wa);
		const char *vb = p_value_of(b, g[k], &wb);

		if (wa != wb || (wa && !p_same(va, vb)))
			return 0;
	}
	return 1;
}

/* 1 if the dosing group must be under review: its maximal writes differ.
 * Then each of them is a candidate of every group field under review. */
static int pref_group(const pref *p, const chs_merged *m)
{
	static const char *const g[] = { "dose", "unit", "route" };
	size_t i, j, k, first = SIZE_MAX, nmax = 0;
	int review = 0;

	unsigned char *t = calloc(p->n + 1, 1), *mx = calloc(p->n + 1, 1);

	ck_assert(t && mx);
	for (i = 0; i < p->n; i++)
		t[i] = (unsigned char)p_touches(p->v[i]);
	for (i = 0; i < p->n; i++) {
		int maximal = t[i];

		for (j = 0; j < p->n && maximal; j++)
			if (t[j] && pref_is_anc(p, i, j))
				maximal = 0;
		mx[i] = (unsigned char)maximal;
	}
	for (i = 0; strcmp(m->type, "medication") == 0 && i < p->n; i++) {
		if (!mx[i])
			continue;
		nmax++;
		if (first == SIZE_MAX)
			first = i;
		else if (!p_alike(p->v[first], p->v[i]))
			review = 1;
	}
	for (i = 0; review && i < p->n; i++) {
		for (k = 0; mx[i] && k < 3; k++) {
			const chs_merged_field *f = chs_merged_get(m, g[k]);

			if (f && f->ncandidates)
				PCHECK(p_has_cand(f, p->v[i], NULL, 1),
				       "a group candidate is missing");
		}
	}
	free(t);
	free(mx);
	return review;
}

/* Field `name` against its maximal writes (the rule, stated naively);
 * `grouped`: its group is under review, so only (c) applies. */
static void pref_field(const pref *p, const chs_merged *m, const char *name,
		       int grouped)
{
	const chs_merged_field *f = chs_merged_get(m, name);
	int wr, differ = 0, anyval = 0;
	size_t i, j, nmax = 0, best = SIZE_MAX;

	unsigned char *w = calloc(p->n + 1, 1);

	ck_assert_ptr_nonnull(w);
	for (i = 0; i < p->n; i++)
		p_value_of(p->v[i], name, &wr), w[i] = (unsigned char)wr;
	for (i = 0; i < p->n; i++) {
		const char *v = p_value_of(p->v[i], name, &wr);
		int maximal = wr;

		for (j = 0; j < p->n && maximal; j++) {
			if (w[j] && pref_is_anc(p, i, j))
				maximal = 0;
		}
		if (!maximal)
			continue;
		nmax++;
		anyval |= v != NULL;
		if (best != SIZE_MAX && !p_same(v, p_value_of(p->v[best], name, &wr)))
			differ = 1;
		if (best == SIZE_MAX || p_later(p->v[i], p->v[best]))
			best = i;
		/* (c) no candidate value is ever lost */
		if (f && f->ncandidates)
			PCHECK(p_has_cand(f, p->v[i], v, 0),
			       "a maximal write's value is missing from review");
		if (!grouped && f && f->ncandidates)
			PCHECK(p_has_cand(f, p->v[i], v, 1),
			       "a maximal write is not a candidate");
	}
	free(w);
	if (!nmax)
		return;
	if (differ)
		PCHECK(f && f->ncandidates >= 2, "a conflict is not in review");
	if (!grouped) {
		const char *bv = p_value_of(p->v[best], name, &wr);

		PCHECK(!differ || f->ncandidates == nmax, "extra candidates");
		PCHECK(differ || !f || !f->ncandidates, "review without conflict");
		PCHECK(bv || differ ? f && !strcmp(f->value, bv ? bv : "null")
				    : f == NULL, "wrong value or provisional");
	} else {
		/* The whole group is in review: a field with any value shows. */
		PCHECK(!anyval || (f && f->ncandidates >= 2),
		       "a field of a group in review is not in review");
	}
}

/* Heads, existence and the review flag. */
static void pref_record(const pref *p, const chs_merged *m)
{
	size_t i, j, nheads = 0, best = SIZE_MAX;
	int differ = 0, any = m->exists_review;

	for (i = 0; i < p->n; i++) {
		int head = 1, del = p->v[i]->op == CHS_OP_DELETE ||
			p->v[i]->deleted;

		for (j = 0; j < p->n && head; j++)
			head = !pref_is_anc(p, i, j);
		if (!head)
			continue;
		PCHECK(nheads < m->nheads && m->heads[nheads] == p->v[i],
		       "heads differ from the reference");
		if (best != SIZE_MAX && del != (p->v[best]->op == CHS_OP_DELETE ||
						 p->v[best]->deleted))
			differ = 1;
		if (best == SIZE_MAX || p_later(p->v[i], p->v[best]))
			best = i;
		nheads++;
	}
	PCHECK(nheads == m->nheads, "head count differs");
	PCHECK(m->exists_review == differ, "existence review is wrong");
	PCHECK(!differ || m->nexists_candidates == nheads, "exists candidates");
	PCHECK(m->deleted == (p->v[best]->op == CHS_OP_DELETE ||
			      p->v[best]->deleted), "deleted is wrong");
	for (j = 0; j < m->nfields; j++)
		any |= m->fields[j].ncandidates > 0;
	PCHECK(m->review == any, "review flag is wrong");
}

static void p_reference(chs_change *const *u, size_t n, const chs_merged *m)
{
	pref p;
	size_t k;
	chs_buf b;
	int greview;

	pref_build(&p, u, n, m);
	pref_record(&p, m);
	greview = pref_group(&p, m);
	for (k = 0; k < P_NNAMES; k++)
		pref_field(&p, m, p_names[k],
			   greview && dosing(m->type, p_names[k], NULL));
	/* The state is canonical JSON. */
	chs_buf_init(&b, 0);
	PCHECK(chs_canonical_json(&b, m->state, m->state_len) == 0 &&
	       b.len == m->state_len && !memcmp(b.ptr, m->state, b.len),
	       "state is not canonical JSON");
	chs_buf_dispose(&b);
	free(p.v);
	free(p.anc);
}

/* ---- the checks ---- */

/* Same state, heads and order (and pending, unless `pending` is 0). */
static void p_same_result(const chs_merged *a, const chs_merged *b,
			  int pending)
{
	size_t k;

	PCHECK(a->state_len == b->state_len &&
	       !memcmp(a->state, b->state, a->state_len), "states differ");
	PCHECK(!memcmp(a->hash, b->hash, CHS_HASH_BYTES), "hashes differ");
	PCHECK(a->nheads == b->nheads && a->norder == b->norder &&
	       (!pending || a->npending == b->npending), "lists differ");
	for (k = 0; k < a->nheads; k++)
		PCHECK(a->heads[k] == b->heads[k], "heads differ");
	for (k = 0; k < a->norder; k++)
		PCHECK(a->order[k] == b->order[k], "orders differ");
}

static void p_shuffle(chs_change **v, size_t n)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = pick_n(i);
		chs_change *t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Arrival one batch at a time: every prefix merges, pending changes do
 * not touch the state, and what applies is exactly the closure. */
static void p_prefixes(chs_change *const *v, size_t n, int reference)
{
	size_t len, stride = n / 40 + 1;

	for (len = 1; len <= n; len += stride) {
		chs_merged *m = p_merge(v, len), *o;

		PCHECK(m->norder + m->npending == len, "changes lost");
		o = p_merge((chs_change *const *)m->order, m->norder);
		PCHECK(o->npending == 0, "order has pending changes");
		p_same_result(m, o, 0);
		if (reference && m->norder)
			p_reference((chs_change *const *)m->order, m->norder, m);
		chs_merged_free(o);
		chs_merged_free(m);
	}
}

static void p_check_record(pworld *w, size_t r, size_t orders)
{
	plist u = { 0 };
	chs_merged *base, *m;
	size_t i, k;

	for (i = 0; i < w->pool.n; i++)
		if (w->rec_of[i] == r)
			plist_push(&u, w->pool.v[i]);
	base = p_merge(u.v, u.n);
	PCHECK(base->norder == u.n && base->npending == 0,
	       "the full set does not apply");
	p_reference(u.v, u.n, base);
	for (k = 0; k < orders; k++) {
		p_shuffle(u.v, u.n);
		m = p_merge(u.v, u.n);
		p_same_result(base, m, 1);
		chs_merged_free(m);
		if (k < 3)
			p_prefixes(u.v, u.n, k == 0);
	}
	/* (b) every site, after a full exchange, agrees. */
	for (i = 0; i < w->nsites; i++) {
		plist *l = &w->site[i].rec[r];

		m = p_merge(l->v, l->n);
		p_same_result(base, m, 1);
		chs_merged_free(m);
	}
	chs_merged_free(base);
	free(u.v);
}

/* Site 0 resolves record r with parents = all heads; every site gets it. */
static void p_settle(pworld *w, size_t r)
{
	plist *l = &w->site[0].rec[r];
	chs_merged *m = p_merge(l->v, l->n);
	chs_change *c;
	size_t j, gi = w->pool.n;

	ck_assert_int_eq(chs_change_new(&c), 0);
	c->op = CHS_OP_RESOLVE;
	for (j = 0; j < m->nheads; j++)
		chs_change_add_parent(c, m->heads[j]->id);
	p_fill_resolve(c, m);
	chs_merged_free(m);
	p_commit(w, 0, r, c);
	for (j = 1; j < w->nsites; j++)
		p_give(w, j, gi);
	m = p_merge(l->v, l->n);
	PCHECK(!m->review && m->nheads == 1, "a resolve of all heads left review");
	chs_merged_free(m);
}

static unsigned long long env_num(const char *name, unsigned long long dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return dflt;
	v = strtoull(s, &end, 10);
	return *end ? dflt : v;
}

START_TEST(test_merge__random_histories_converge_and_keep_every_candidate)
{
	static pworld w;
	size_t scale = (size_t)env_num("CHS_MERGE_SCALE", 1), steps, i, s, r;
	size_t reviews = 0;

	p_seed = env_num("CHS_MERGE_SEED", 20240611);
	p_state = p_seed;
	steps = 4500 * (scale ? scale : 1);
	printf("merge property test: seed %llu, %zu steps\n", p_seed, steps);
	p_init(&w, steps + P_RECORDS);
	for (i = 0; i < steps; i++)
		p_step(&w);
	for (s = 0; s < w.nsites; s++) {
		size_t *perm = malloc(w.pool.n * sizeof(size_t));

		ck_assert_ptr_nonnull(perm);
		for (i = 0; i < w.pool.n; i++)
			perm[i] = i;
		for (i = w.pool.n; i > 1; i--) {
			size_t j = pick_n(i), t = perm[i - 1];

			perm[i - 1] = perm[j];
			perm[j] = t;
		}
		for (i = 0; i < w.pool.n; i++)
			p_give(&w, s, perm[i]);
		free(perm);
	}
	for (r = 0; r < w.nrec; r++) {
		plist *l = &w.site[0].rec[r];
		chs_merged *m = p_merge(l->v, l->n);

		reviews += m->review;
		chs_merged_free(m);
		p_check_record(&w, r, 8);
	}
	/* A reviewer settles everything; once that spreads, nothing is
	 * under review anywhere. */
	for (r = 0; r < w.nrec; r++)
		p_settle(&w, r);
	for (r = 0; r < w.nrec; r++)
		p_check_record(&w, r, 2);
	printf("merge property test: %zu changes, %zu records (%zu in review), "
	       "%zu sites\n", w.pool.n, w.nrec, reviews, w.nsites);
	PCHECK(w.pool.n > 2000, "too few changes to mean much");
	p_dispose(&w);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync_merge");
	TCase *tc = tcase_create("cases");
	TCase *tp = tcase_create("property");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_merge__table, 0, MERGE_ROWS);
	tcase_add_test(tc, test_merge__linear_history_applies_in_order);
	tcase_add_test(tc, test_merge__field_changed_on_one_side_merges);
	tcase_add_test(tc, test_merge__same_field_both_sides_goes_to_review);
	tcase_add_test(tc, test_merge__equal_hlc_ties_break_by_change_id);
	tcase_add_test(tc, test_merge__delete_against_edit_goes_to_review);
	tcase_add_test(tc, test_merge__resolve_of_all_heads_clears_field_review);
	tcase_add_test(tc, test_merge__resolve_delete_clears_existence_review);
	tcase_add_test(tc, test_merge__group_edits_on_two_sides_put_group_in_review);
	tcase_add_test(tc, test_merge__group_review_keeps_values_hidden_in_candidates_past);
	tcase_add_test(tc, test_merge__a_lone_create_merges_as_the_general_path_does);
	tcase_add_test(tc, test_merge__criss_cross_merge_works);
	tcase_add_test(tc, test_merge__missing_parent_is_pending_until_it_arrives);
	tcase_add_test(tc, test_merge__everything_pending_is_an_empty_result);
	tcase_add_test(tc, test_merge__clear_against_set_goes_to_review);
	tcase_add_test(tc, test_merge__child_with_an_earlier_clock_still_follows_its_parent);
	tcase_add_test(tc, test_merge__duplicates_and_input_order_do_not_matter);
	tcase_add_test(tc, test_merge__changes_of_two_records_are_refused);
	tcase_add_test(tc, test_merge__applied_history_without_create_is_refused);
	tcase_add_test(tc, test_merge__thousand_changes_in_ten_branches);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tp, setup, NULL);
	tcase_set_timeout(tp, 900);
	tcase_add_test(tp, test_merge__random_histories_converge_and_keep_every_candidate);
	suite_add_tcase(s, tp);
	return tu_run(s);
}
