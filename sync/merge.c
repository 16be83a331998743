/*
 * The merge rule: a record's state from any set of its changes.
 *
 * Why "maximal writes" is a three-way merge
 * -----------------------------------------
 * Two sites edit a record from a common version O (the common ancestors
 * of their heads). A classic three-way merge looks at each field: changed
 * on one side only -> take that side; changed on both sides to the same
 * value -> take it; changed on both sides differently -> conflict. In the
 * change DAG "changed on a side" means "written by a change on that side
 * after O", and "the value at O" is whatever write the later ones
 * descend from. So the rule can be stated without finding O at all:
 *
 *     the writes to a field that no other write to it descends from
 *     ("maximal" writes) decide it.
 *
 * One maximal write: the field was changed on one side only (or on no
 * side since O), and its value wins - exactly the three-way answer.
 * Several maximal writes: each is a side's latest edit that nobody saw;
 * equal values merge, different values are a conflict. The statement has
 * no need of a merge base, so criss-cross histories (two merges of the
 * same heads, where "the" common ancestor does not exist and git needs a
 * recursive merge) cost nothing extra, and the result depends only on the
 * set of changes: which writes descend from which is a property of the
 * DAG, not of the order the changes arrived in.
 *
 * The same rule runs on three kinds of thing:
 *   - each field. A create writes every field it lists, an update and a
 *     resolve the fields they list; a NULL value (clear) is a value too;
 *   - existence: create, update and resolve (deleted=0) write "exists",
 *     delete and resolve (deleted=1) write "deleted", so a delete
 *     concurrent with an edit is a conflict, while a delete seen by a
 *     later edit (or an edit seen by a later delete) is not;
 *   - merge groups: fields the schema binds (dose, unit, route...). The
 *     maximal writes among the changes touching any field of the group
 *     decide: one, or several that set the group identically (same names,
 *     same values), and each field follows its own rule; otherwise the
 *     whole group goes to review, one candidate per maximal group write.
 *     A candidate that did not set a field of the group shows the value
 *     that field had in its own causal past (what its author saw; the
 *     provisional value there if its past was itself in conflict).
 *
 * A conflict is never decided silently: every candidate is kept with its
 * change, and a provisional value - the candidate with the highest (hlc,
 * change id) - is shown meanwhile. A reviewer's resolve descends from all
 * heads and writes the fields (and existence), so it becomes the single
 * maximal write. "No candidate value is lost" holds for groups too: a
 * field's own maximal write whose value no group candidate shows (a
 * conflict on it hidden in a candidate's past) is added as a candidate.
 *
 * How
 * ---
 * 1. Drop duplicate ids; link parents among the input only. A change with
 *    a parent that is absent, or not applied, is pending (Kahn's sort
 *    never reaches it; cycles, impossible with honest hashes, end up
 *    pending the same way).
 * 2. Causal order: Kahn's topological sort, ready changes taken by lowest
 *    (hlc, id). The clock is only a tie-break: a buggy device may stamp a
 *    child earlier than its parent, and parents still come first.
 * 3. Number every field name, group and existence as a "key". In reverse
 *    causal order compute, per change, the set of keys written by its
 *    strict descendants (the OR of its children's writes and sets): a
 *    write is maximal when its key is not in that set. The sets are
 *    processed 64 keys at a time, so memory is one word per change
 *    whatever the number of changes or fields, and time O(changes + edges)
 *    per 64 keys. (A bitset of ancestors per change would cost n^2/8
 *    bytes: 1.25 GB for a hostile 100,000-change record.)
 * 4. Decide each key from its maximal writes, in change-id order.
 *
 * Results when nothing applies (every change pending, or none given):
 * norder == 0, type NULL, no fields, state is the JSON text "null".
 *
 * The state, canonical JSON, the thing two stores compare:
 *   {"deleted":false,"fields":{"<name>":<value>,...},
 *    "review":{"exists":[<candidate>,...],
 *              "fields":{"<name>":[<candidate>,...],...}},
 *    "type":"patient"}
 * with candidate = {"change":"<64 hex>","value":<value>|null} sorted by
 * change id; "review" (and each of its members) appears only when
 * something is under review. Existence candidates carry true (deleted) or
 * false (exists). A field under review whose provisional value is a clear
 * is listed with the value null (in chs_merged_field: the text "null").
 */
#include "sync_int.h"

#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

typedef struct mwrite {
	size_t key;        /* field index, then nf + group, then existence */
	const char *value; /* canonical JSON, NULL: cleared (groups: unused) */
	size_t owner;      /* index of the change that writes it */
	int max;           /* no applied strict descendant writes the key */
} mwrite;

typedef struct mctx {
	const chs_change **ch; /* unique, sorted by id */
	size_t n;
	size_t *poff, *par;    /* present parents of ch[i]: par[poff[i]..] */
	size_t *koff, *kid;    /* children, the same way */
	unsigned char *missing; /* a parent is not in the input */
	size_t *ord, nord;     /* applied changes in causal order */
	size_t *pos;           /* position in ord, NONE when pending */
	const char *type;
	const char **fname;    /* distinct field names, strcmp order */
	size_t nf;
	char **gname;          /* distinct group names, strcmp order */
	size_t ng;
	size_t *fgroup;        /* group of each field, NONE if none */
	size_t nkeys;          /* nf + ng + 1 */
	mwrite *w;             /* writes of ch[i]: w[woff[i]..woff[i+1]) */
	size_t *woff, nw;
	size_t *moff, *mx;     /* maximal writes of key k: mx[moff[k]..] */
	size_t *greview;       /* winning write per group under review */
	size_t *mark, stamp;   /* scratch for ancestor walks */
	unsigned char *below;  /* scratch: a marked descendant writes key */
	size_t *stack;
	chs_merged *m;
} mctx;

static int nomem(void)
{
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

/* calloc that never asks for zero bytes (a NULL result means failure). */
static void *zalloc(size_t n, size_t size)
{
	return chs_calloc(n ? n : 1, size);
}

static int idcmp(const chs_change *a, const chs_change *b)
{
	return memcmp(a->id, b->id, CHS_CHANGE_ID_BYTES);
}

/* (hlc, id) order: the tie-break for causal order and the provisional. */
static int later(const chs_change *a, const chs_change *b)
{
	if (a->hlc != b->hlc)
		return a->hlc > b->hlc;
	return idcmp(a, b) > 0;
}

static int same_value(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* ---------------------------------------------------------------------
 * 1. The graph
 */

static int by_id(const void *a, const void *b)
{
	return idcmp(*(const chs_change *const *)a,
		     *(const chs_change *const *)b);
}

/* Changes come decoded or encoded, so this holds; a hand-made one that
 * breaks it must not crash the merge. */
static int names_ok(const chs_change *c)
{
	size_t j;

	for (j = 0; j < c->nfields; j++)
		if (!c->fields[j].name)
			return 0;
	return 1;
}

static int dedupe(mctx *x, const chs_change *const *changes, size_t n)
{
	size_t i, k = 0;

	if (!(x->ch = zalloc(n, sizeof(*x->ch))))
		return nomem();
	for (i = 0; i < n; i++) {
		if (!changes[i])
			return chs_error_set(CHS_EINVALID, "merge: a change is "
					     "missing (NULL)");
		if (memcmp(changes[i]->record, changes[0]->record,
			   CHS_RECORD_ID_BYTES) != 0)
			return chs_error_set(CHS_EINVALID, "merge: the changes "
					     "belong to more than one record");
		if (!names_ok(changes[i]))
			return chs_error_set(CHS_EINVALID, "merge: a change has "
					     "a field without a name");
		x->ch[i] = changes[i];
	}
	if (n)
		qsort(x->ch, n, sizeof(*x->ch), by_id);
	for (i = 0; i < n; i++) {
		if (!k || idcmp(x->ch[k - 1], x->ch[i]) != 0)
			x->ch[k++] = x->ch[i];
	}
	x->n = k;
	return 0;
}

static size_t find_change(const mctx *x, const unsigned char *id)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = memcmp(x->ch[mid]->id, id, CHS_CHANGE_ID_BYTES);

		if (r == 0)
			return mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

/* Parents found among the input, as indices; children from them. */
static int link_parents(mctx *x)
{
	size_t i, j, np = 0;

	for (i = 0; i < x->n; i++)
		np += x->ch[i]->nparents;
	x->poff = zalloc(x->n + 1, sizeof(size_t));
	x->par = zalloc(np, sizeof(size_t));
	x->koff = zalloc(x->n + 1, sizeof(size_t));
	x->kid = zalloc(np, sizeof(size_t));
	x->missing = zalloc(x->n, 1);
	if (!x->poff || !x->par || !x->koff || !x->kid || !x->missing)
		return nomem();
	for (np = 0, i = 0; i < x->n; i++) {
		x->poff[i] = np;
		for (j = 0; j < x->ch[i]->nparents; j++) {
			size_t p = find_change(x, x->ch[i]->parents[j]);

			if (p == NONE)
				x->missing[i] = 1;
			else
				x->par[np++] = p;
		}
	}
	x->poff[x->n] = np;
	return 0;
}

static int link_children(mctx *x)
{
	size_t i, j, *fill;

	for (i = 0; i < x->n; i++)
		for (j = x->poff[i]; j < x->poff[i + 1]; j++)
			x->koff[x->par[j] + 1]++;
	for (i = 0; i < x->n; i++)
		x->koff[i + 1] += x->koff[i];
	if (!(fill = zalloc(x->n, sizeof(size_t))))
		return nomem();
	for (i = 0; i < x->n; i++) {
		for (j = x->poff[i]; j < x->poff[i + 1]; j++) {
			size_t p = x->par[j];

			x->kid[x->koff[p] + fill[p]++] = i;
		}
	}
	free(fill);
	return 0;
}

/* ---------------------------------------------------------------------
 * 2. Causal order: Kahn's algorithm over a min-heap of (hlc, id)
 */

typedef struct heap {
	size_t *a, n;
	const chs_change **ch;
} heap;

static void heap_push(heap *h, size_t v)
{
	size_t i = h->n++;

	while (i > 0) {
		size_t up = (i - 1) / 2;

		if (!later(h->ch[h->a[up]], h->ch[v]))
			break;
		h->a[i] = h->a[up];
		i = up;
	}
	h->a[i] = v;
}

static size_t heap_pop(heap *h)
{
	size_t top = h->a[0], last = h->a[--h->n], i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && later(h->ch[h->a[c]], h->ch[h->a[c + 1]]))
			c++;
		if (!later(h->ch[last], h->ch[h->a[c]]))
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (h->n)
		h->a[i] = last;
	return top;
}

static int sort_causal(mctx *x)
{
	size_t i, j, *indeg = zalloc(x->n, sizeof(size_t));
	heap h = { zalloc(x->n, sizeof(size_t)), 0, x->ch };
	int err = 0;

	x->ord = zalloc(x->n, sizeof(size_t));
	x->pos = zalloc(x->n, sizeof(size_t));
	if (!indeg || !h.a || !x->ord || !x->pos) {
		err = nomem();
		goto done;
	}
	for (i = 0; i < x->n; i++) {
		x->pos[i] = NONE;
		indeg[i] = x->poff[i + 1] - x->poff[i];
		if (!indeg[i] && !x->missing[i])
			heap_push(&h, i);
	}
	while (h.n) {
		i = heap_pop(&h);
		x->pos[i] = x->nord;
		x->ord[x->nord++] = i;
		for (j = x->koff[i]; j < x->koff[i + 1]; j++) {
			size_t k = x->kid[j];

			if (--indeg[k] == 0 && !x->missing[k])
				heap_push(&h, k);
		}
	}
done:
	free(indeg);
	free(h.a);
	return err;
}

/* The record's type: its first create in causal order. */
static int find_type(mctx *x)
{
	size_t k;

	for (k = 0; k < x->nord; k++) {
		const chs_change *c = x->ch[x->ord[k]];

		if (c->op == CHS_OP_CREATE && c->type) {
			x->type = c->type;
			return 0;
		}
	}
	return chs_error_set(CHS_EINVALID, "merge: the record's changes have "
			     "no create (its history is incomplete)");
}

/* ---------------------------------------------------------------------
 * 3. Keys and writes
 */

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t find_str(const char *const *v, size_t n, const char *s)
{
	const char *const *hit = n ? bsearch(&s, v, n, sizeof(*v), by_str)
				   : NULL;

	return hit ? (size_t)(hit - v) : NONE;
}

/* Sort and drop repeats; returns the new count. */
static size_t sort_unique(const char **v, size_t n)
{
	size_t i, k = 0;

	if (n)
		qsort(v, n, sizeof(*v), by_str);
	for (i = 0; i < n; i++) {
		if (!k || strcmp(v[k - 1], v[i]) != 0)
			v[k++] = v[i];
	}
	return k;
}

static int index_fields(mctx *x)
{
	size_t k, j, nw = 0;

	for (k = 0; k < x->nord; k++)
		nw += x->ch[x->ord[k]]->nfields;
	if (!(x->fname = zalloc(nw, sizeof(*x->fname))))
		return nomem();
	for (nw = 0, k = 0; k < x->nord; k++) {
		const chs_change *c = x->ch[x->ord[k]];

		for (j = 0; j < c->nfields; j++)
			x->fname[nw++] = c->fields[j].name;
	}
	x->nf = sort_unique(x->fname, nw);
	return 0;
}

/* Ask the schema which group each field is in; copy the names (the
 * callback's strings need not outlive the call). */
static int index_groups(mctx *x, chs_group_fn group, void *payload)
{
	size_t f;

	x->fgroup = zalloc(x->nf, sizeof(size_t));
	x->gname = zalloc(x->nf, sizeof(char *));
	if (!x->fgroup || !x->gname)
		return nomem();
	for (f = 0; f < x->nf; f++) {
		const char *g = group ? group(x->type, x->fname[f], payload) : NULL;

		x->fgroup[f] = NONE;
		if (!g || find_str((const char *const *)x->gname, x->ng, g) != NONE)
			continue;
		if (!(x->gname[x->ng++] = chs_strdup(g)))
			return nomem();
		qsort(x->gname, x->ng, sizeof(char *), by_str);
	}
	for (f = 0; f < x->nf; f++) {
		const char *g = group ? group(x->type, x->fname[f], payload) : NULL;

		if (g)
			x->fgroup[f] = find_str((const char *const *)x->gname,
						x->ng, g);
	}
	x->nkeys = x->nf + x->ng + 1;
	return 0;
}

static int by_key(const void *a, const void *b)
{
	const mwrite *p = a, *q = b;

	return (p->key > q->key) - (p->key < q->key);
}

/* The writes of one applied change, sorted by key, groups once. */
static size_t change_writes(mctx *x, size_t i, mwrite *w)
{
	const chs_change *c = x->ch[i];
	int deletes = c->op == CHS_OP_DELETE ||
		      (c->op == CHS_OP_RESOLVE && c->deleted);
	size_t j, n = 0, k = 0;

	for (j = 0; j < c->nfields; j++) {
		size_t f = find_str(x->fname, x->nf, c->fields[j].name);
		const char *v = c->fields[j].value;

		if (v && strcmp(v, "null") == 0)
			v = NULL; /* JSON null is the clear */
		w[n++] = (mwrite){ f, v, i, 0 };
		if (x->fgroup[f] != NONE)
			w[n++] = (mwrite){ x->nf + x->fgroup[f], NULL, i, 0 };
	}
	w[n++] = (mwrite){ x->nkeys - 1, deletes ? "true" : "false", i, 0 };
	qsort(w, n, sizeof(*w), by_key);
	for (j = 0; j < n; j++) {
		if (!k || w[k - 1].key != w[j].key)
			w[k++] = w[j];
	}
	return k;
}

static int collect_writes(mctx *x)
{
	size_t i, most = 0;

	for (i = 0; i < x->n; i++)
		most += 2 * x->ch[i]->nfields + 1;
	x->w = zalloc(most, sizeof(mwrite));
	x->woff = zalloc(x->n + 1, sizeof(size_t));
	if (!x->w || !x->woff)
		return nomem();
	for (i = 0; i < x->n; i++) {
		x->woff[i] = x->nw;
		if (x->pos[i] != NONE)
			x->nw += change_writes(x, i, x->w + x->nw);
	}
	x->woff[x->n] = x->nw;
	return 0;
}

static size_t find_write(const mctx *x, size_t i, size_t key)
{
	size_t lo = x->woff[i], hi = x->woff[i + 1];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->w[mid].key == key)
			return mid;
		if (x->w[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

/* ---------------------------------------------------------------------
 * 3b. Maximal writes, 64 keys at a time (see the essay)
 */

/* Bits of block `b` written by ch[i], from its cursor on. */
static uint64_t block_mask(const mctx *x, size_t i, size_t from, size_t b)
{
	uint64_t mask = 0;
	size_t e;

	for (e = from; e < x->woff[i + 1] && x->w[e].key / 64 == b; e++)
		mask |= UINT64_C(1) << (x->w[e].key % 64);
	return mask;
}

static void sweep_block(mctx *x, size_t b, size_t *cur, uint64_t *wm,
			uint64_t *desc)
{
	size_t k, j, e;

	for (k = 0; k < x->nord; k++)
		wm[k] = block_mask(x, x->ord[k], cur[x->ord[k]], b);
	for (k = x->nord; k-- > 0;) {
		size_t i = x->ord[k];
		uint64_t d = 0;

		for (j = x->koff[i]; j < x->koff[i + 1]; j++) {
			size_t p = x->pos[x->kid[j]];

			if (p != NONE)
				d |= wm[p] | desc[p];
		}
		desc[k] = d;
	}
	for (k = 0; k < x->nord; k++) {
		size_t i = x->ord[k];

		for (e = cur[i]; e < x->woff[i + 1] && x->w[e].key / 64 == b; e++)
			x->w[e].max = !((desc[k] >> (x->w[e].key % 64)) & 1);
		cur[i] = e;
	}
}

static int mark_maximal(mctx *x)
{
	size_t i, b, *cur = zalloc(x->n, sizeof(size_t));
	uint64_t *wm = zalloc(x->nord, sizeof(uint64_t));
	uint64_t *desc = zalloc(x->nord, sizeof(uint64_t));
	int err = 0;

	if (!cur || !wm || !desc) {
		err = nomem();
		goto done;
	}
	for (i = 0; i < x->n; i++)
		cur[i] = x->woff[i];
	for (b = 0; b < (x->nkeys + 63) / 64; b++)
		sweep_block(x, b, cur, wm, desc);
done:
	free(cur);
	free(wm);
	free(desc);
	return err;
}

/* Maximal writes per key, each list in change-id order. */
static int gather_maximal(mctx *x)
{
	size_t e, k, *fill;

	x->moff = zalloc(x->nkeys + 1, sizeof(size_t));
	x->mx = zalloc(x->nw, sizeof(size_t));
	fill = zalloc(x->nkeys, sizeof(size_t));
	if (!x->moff || !x->mx || !fill) {
		free(fill);
		return nomem();
	}
	for (e = 0; e < x->nw; e++)
		if (x->w[e].max)
			x->moff[x->w[e].key + 1]++;
	for (k = 0; k < x->nkeys; k++)
		x->moff[k + 1] += x->moff[k];
	for (e = 0; e < x->nw; e++) {
		k = x->w[e].key;
		if (x->w[e].max)
			x->mx[x->moff[k] + fill[k]++] = e;
	}
	free(fill);
	return 0;
}

/* ---------------------------------------------------------------------
 * 4. Deciding
 */

/* Of the writes w[list[0..n)], the one by the latest (hlc, id) change. */
static size_t pick(const mctx *x, const size_t *list, size_t n)
{
	size_t best = list[0], j;

	for (j = 1; j < n; j++) {
		if (later(x->ch[x->w[list[j]].owner], x->ch[x->w[best].owner]))
			best = list[j];
	}
	return best;
}

static int all_same(const mctx *x, const size_t *list, size_t n)
{
	size_t j;

	for (j = 1; j < n; j++) {
		if (!same_value(x->w[list[0]].value, x->w[list[j]].value))
			return 0;
	}
	return 1;
}

static int set_candidates(mctx *x, chs_candidate **out, size_t *nout,
			  const size_t *list, size_t n)
{
	size_t j;

	if (!(*out = zalloc(n, sizeof(**out))))
		return nomem();
	for (j = 0; j < n; j++) {
		(*out)[j].change = x->ch[x->w[list[j]].owner];
		(*out)[j].value = x->w[list[j]].value;
	}
	*nout = n;
	return 0;
}

static int decide_existence(mctx *x)
{
	size_t key = x->nkeys - 1;
	const size_t *list = x->mx + x->moff[key];
	size_t n = x->moff[key + 1] - x->moff[key];
	chs_merged *m = x->m;

	m->deleted = strcmp(x->w[pick(x, list, n)].value, "true") == 0;
	if (all_same(x, list, n))
		return 0;
	m->exists_review = m->review = 1;
	return set_candidates(x, &m->exists_candidates,
			      &m->nexists_candidates, list, n);
}

/* Do ch[a] and ch[b] set group g's fields identically? */
static int same_group_edit(const mctx *x, size_t a, size_t b, size_t g)
{
	size_t ea = x->woff[a], eb = x->woff[b];

	for (;;) {
		while (ea < x->woff[a + 1] && (x->w[ea].key >= x->nf ||
		       x->fgroup[x->w[ea].key] != g))
			ea++;
		while (eb < x->woff[b + 1] && (x->w[eb].key >= x->nf ||
		       x->fgroup[x->w[eb].key] != g))
			eb++;
		if (ea == x->woff[a + 1] || eb == x->woff[b + 1])
			return ea == x->woff[a + 1] && eb == x->woff[b + 1];
		if (x->w[ea].key != x->w[eb].key ||
		    !same_value(x->w[ea].value, x->w[eb].value))
			return 0;
		ea++;
		eb++;
	}
}

static int decide_groups(mctx *x)
{
	size_t g, j;

	if (!(x->greview = zalloc(x->ng, sizeof(size_t))))
		return nomem();
	for (g = 0; g < x->ng; g++) {
		size_t key = x->nf + g, n = x->moff[key + 1] - x->moff[key];
		const size_t *list = x->mx + x->moff[key];

		x->greview[g] = NONE;
		for (j = 1; j < n; j++) {
			if (!same_group_edit(x, x->w[list[0]].owner,
					     x->w[list[j]].owner, g)) {
				x->greview[g] = pick(x, list, n);
				break;
			}
		}
	}
	return 0;
}

/* Scratch for the (rare) walks into one change's past. */
static int need_scratch(mctx *x)
{
	if (x->mark)
		return 0;
	x->mark = zalloc(x->n, sizeof(size_t));
	x->below = zalloc(x->nord, 1);
	x->stack = zalloc(x->n + 1, sizeof(size_t));
	return x->mark && x->below && x->stack ? 0 : nomem();
}

/* Stamp the strict ancestors of ch[i] in x->mark. */
static void mark_ancestors(mctx *x, size_t i)
{
	size_t sp = 0, j;

	x->stamp++;
	x->stack[sp++] = i;
	while (sp) {
		size_t v = x->stack[--sp];

		for (j = x->poff[v]; j < x->poff[v + 1]; j++) {
			size_t p = x->par[j];

			if (x->mark[p] != x->stamp) {
				x->mark[p] = x->stamp;
				x->stack[sp++] = p;
			}
		}
	}
}

/* Field f as the author of ch[i] saw it: the maximal writes of f among
 * its ancestors decide, as for the record (the latest (hlc, id) one when
 * they differ: the provisional value shown then). NULL if never set. */
static const char *past_value(mctx *x, size_t i, size_t f)
{
	size_t k, j, e, best = NONE;

	mark_ancestors(x, i);
	for (k = x->pos[i]; k-- > 0;) {
		size_t a = x->ord[k];
		unsigned char below = 0;

		if (x->mark[a] != x->stamp)
			continue;
		for (j = x->koff[a]; j < x->koff[a + 1] && !below; j++) {
			size_t c = x->kid[j];

			below = x->mark[c] == x->stamp &&
				(x->below[x->pos[c]] || find_write(x, c, f) != NONE);
		}
		x->below[k] = below;
		if (below || (e = find_write(x, a, f)) == NONE)
			continue;
		if (best == NONE || later(x->ch[a], x->ch[x->w[best].owner]))
			best = e;
	}
	return best == NONE ? NULL : x->w[best].value;
}

/* Append a field to the result (fields come in name order). Takes the
 * candidates. */
static int add_field(mctx *x, size_t f, const char *value,
		     const chs_change *from, chs_candidate *cand, size_t ncand)
{
	chs_merged_field *mf = &x->m->fields[x->m->nfields];

	mf->candidates = cand;
	mf->ncandidates = ncand;
	mf->from = from;
	x->m->nfields++;
	if (ncand)
		x->m->review = 1;
	if (!(mf->name = chs_strdup(x->fname[f])) ||
	    !(mf->value = chs_strdup(value ? value : "null")))
		return nomem();
	return 0;
}

static int plain_field(mctx *x, size_t f)
{
	const size_t *list = x->mx + x->moff[f];
	size_t n = x->moff[f + 1] - x->moff[f], best = pick(x, list, n);
	const mwrite *w = &x->w[best];
	chs_candidate *cand = NULL;
	size_t ncand = 0;
	int err;

	if (all_same(x, list, n) && !w->value)
		return 0; /* cleared: absent */
	if (!all_same(x, list, n) &&
	    (err = set_candidates(x, &cand, &ncand, list, n)) < 0)
		return err;
	return add_field(x, f, w->value, x->ch[w->owner], cand, ncand);
}

static int by_change(const void *a, const void *b)
{
	return idcmp(((const chs_candidate *)a)->change,
		     ((const chs_candidate *)b)->change);
}

static int has_value(const chs_candidate *c, size_t n, const char *v)
{
	size_t j;

	for (j = 0; j < n; j++)
		if (same_value(c[j].value, v))
			return 1;
	return 0;
}

/* Field f of group g, which is under review: one candidate per maximal
 * group write, plus any value of f's own maximal writes none of them
 * shows. Not listed when every candidate has it cleared. */
static int group_field(mctx *x, size_t f, size_t g)
{
	size_t key = x->nf + g, j, nc = 0, win = x->w[x->greview[g]].owner;
	size_t gn = x->moff[key + 1] - x->moff[key];
	size_t fn = x->moff[f + 1] - x->moff[f];
	chs_candidate *c = zalloc(gn + fn, sizeof(*c));
	const char *prov = NULL;
	int any = 0;

	if (!c || need_scratch(x) < 0) {
		free(c);
		return nomem();
	}
	for (j = 0; j < gn; j++) {
		size_t o = x->w[x->mx[x->moff[key] + j]].owner;
		size_t e = find_write(x, o, f);
		const char *v = e != NONE ? x->w[e].value : past_value(x, o, f);

		c[nc++] = (chs_candidate){ x->ch[o], v };
		prov = o == win ? v : prov;
		any |= v != NULL;
	}
	for (j = 0; j < fn; j++) {
		const mwrite *w = &x->w[x->mx[x->moff[f] + j]];

		if (!has_value(c, nc, w->value)) {
			c[nc++] = (chs_candidate){ x->ch[w->owner], w->value };
			any |= w->value != NULL;
		}
	}
	if (!any) {
		free(c);
		return 0;
	}
	qsort(c, nc, sizeof(*c), by_change);
	return add_field(x, f, prov, x->ch[win], c, nc);
}

static int decide_fields(mctx *x)
{
	size_t f;
	int err;

	if (!(x->m->fields = zalloc(x->nf, sizeof(chs_merged_field))))
		return nomem();
	for (f = 0; f < x->nf; f++) {
		size_t g = x->fgroup[f];

		if (g != NONE && x->greview[g] != NONE)
			err = group_field(x, f, g);
		else
			err = plain_field(x, f);
		if (err < 0)
			return err;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Results: heads, order, pending
 */

static int is_head(const mctx *x, size_t i)
{
	size_t j;

	for (j = x->koff[i]; j < x->koff[i + 1]; j++)
		if (x->pos[x->kid[j]] != NONE)
			return 0;
	return 1;
}

static int list_changes(mctx *x)
{
	chs_merged *m = x->m;
	size_t i, k;

	m->heads = zalloc(x->nord, sizeof(*m->heads));
	m->order = zalloc(x->nord, sizeof(*m->order));
	m->pending = zalloc(x->n - x->nord, sizeof(*m->pending));
	if (!m->heads || !m->order || !m->pending)
		return nomem();
	for (k = 0; k < x->nord; k++)
		m->order[m->norder++] = x->ch[x->ord[k]];
	for (i = 0; i < x->n; i++) {
		if (x->pos[i] == NONE)
			m->pending[m->npending++] = x->ch[i];
		else if (is_head(x, i))
			m->heads[m->nheads++] = x->ch[i];
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * The state as canonical JSON
 */

static int write_candidates(chs_buf *b, const chs_candidate *c, size_t n)
{
	char hex[2 * CHS_CHANGE_ID_BYTES + 1];
	size_t j;
	int err = chs_buf_puts(b, "[");

	for (j = 0; j < n && !err; j++) {
		chs_hex(hex, c[j].change->id, CHS_CHANGE_ID_BYTES);
		err = chs_buf_printf(b, "%s{\"change\":\"%s\",\"value\":%s}",
				     j ? "," : "", hex,
				     c[j].value ? c[j].value : "null");
	}
	return err ? err : chs_buf_puts(b, "]");
}

static int by_key_order(const void *a, const void *b)
{
	return chs_sync__keycmp((*(const chs_merged_field *const *)a)->name,
				(*(const chs_merged_field *const *)b)->name);
}

/* {"name":<value or candidates>,...} over the fields in RFC 8785 order;
 * only those under review when `review` is set. */
static int write_field_map(chs_buf *b, const chs_merged_field **f, size_t n,
			   int review)
{
	size_t j, done = 0;
	int err = chs_buf_puts(b, "{");

	for (j = 0; j < n && !err; j++) {
		if (review && !f[j]->ncandidates)
			continue;
		if (done++)
			err = chs_buf_puts(b, ",");
		if (!err)
			err = chs_canonical_string(b, f[j]->name, strlen(f[j]->name));
		if (!err)
			err = chs_buf_puts(b, ":");
		if (!err && review)
			err = write_candidates(b, f[j]->candidates,
					       f[j]->ncandidates);
		else if (!err)
			err = chs_buf_puts(b, f[j]->value);
	}
	return err ? err : chs_buf_puts(b, "}");
}

static int write_review(chs_buf *b, const chs_merged *m,
			const chs_merged_field **f, int fields_review)
{
	int err = chs_buf_puts(b, ",\"review\":{");

	if (!err && m->exists_review)
		err = chs_buf_puts(b, "\"exists\":");
	if (!err && m->exists_review)
		err = write_candidates(b, m->exists_candidates,
				       m->nexists_candidates);
	if (!err && fields_review)
		err = chs_buf_puts(b, m->exists_review ? ",\"fields\":"
				   : "\"fields\":");
	if (!err && fields_review)
		err = write_field_map(b, f, m->nfields, 1);
	return err ? err : chs_buf_puts(b, "}");
}

static int write_state(chs_merged *m)
{
	const chs_merged_field **f = zalloc(m->nfields, sizeof(*f));
	int err, fields_review = 0;
	size_t j;
	chs_buf b;

	if (!f)
		return nomem();
	for (j = 0; j < m->nfields; j++) {
		f[j] = &m->fields[j];
		fields_review |= f[j]->ncandidates > 0;
	}
	/* fields are sorted by bytes, which is RFC 8785 order too unless some
	 * names hold characters beyond the BMP */
	for (j = 1; j < m->nfields && by_key_order(&f[j - 1], &f[j]) < 0; j++)
		;
	if (j < m->nfields)
		qsort(f, m->nfields, sizeof(*f), by_key_order);
	chs_buf_init(&b, 0);
	if ((err = chs_buf_puts(&b, m->deleted ? "{\"deleted\":true,\"fields\":"
				: "{\"deleted\":false,\"fields\":")) == 0 &&
	    (err = write_field_map(&b, f, m->nfields, 0)) == 0 &&
	    (!m->review || (err = write_review(&b, m, f, fields_review)) == 0) &&
	    (err = chs_buf_puts(&b, ",\"type\":")) == 0 &&
	    (err = chs_canonical_string(&b, m->type, strlen(m->type))) == 0 &&
	    (err = chs_buf_puts(&b, "}")) == 0) {
		m->state_len = b.len;
		m->state = chs_buf_detach(&b);
	}
	free(f);
	return err;
}

/* ---------------------------------------------------------------------
 * Entry points
 */

static void ctx_dispose(mctx *x)
{
	size_t g;

	for (g = 0; g < x->ng; g++)
		free(x->gname[g]);
	free(x->gname);
	free(x->ch);
	free(x->poff);
	free(x->par);
	free(x->koff);
	free(x->kid);
	free(x->missing);
	free(x->ord);
	free(x->pos);
	free((void *)x->fname);
	free(x->fgroup);
	free(x->w);
	free(x->woff);
	free(x->moff);
	free(x->mx);
	free(x->greview);
	free(x->mark);
	free(x->below);
	free(x->stack);
}

/* Nothing applies yet: an empty result whose state is "null". */
static int empty_state(chs_merged *m)
{
	if (!(m->state = chs_strdup("null")))
		return nomem();
	m->state_len = 4;
	return 0;
}

/* A lone create is by far the commonest record (every imported one): its
 * state is its own fields, written by the same writer as the general
 * path, so the bytes are the same (tests/sync/test_merge.c checks). */
static int merge_lone_create(chs_merged *m, const chs_change *c)
{
	size_t j, k = 0;

	if (!(m->type = chs_strdup(c->type)) ||
	    !(m->heads = zalloc(1, sizeof(*m->heads))) ||
	    !(m->order = zalloc(1, sizeof(*m->order))) ||
	    (c->nfields && !(m->fields = zalloc(c->nfields, sizeof(*m->fields)))))
		return nomem();
	m->heads[0] = m->order[0] = c;
	m->nheads = m->norder = 1;
	for (j = 0; j < c->nfields; j++) {
		const chs_field *f = &c->fields[j];

		if (!f->value || strcmp(f->value, "null") == 0)
			continue;
		/* counted before its strings, so chs_merged_free() frees a
		 * name whose value could not be copied */
		m->fields[k].from = c;
		m->nfields = ++k;
		if (!(m->fields[k - 1].name = chs_strdup(f->name)) ||
		    !(m->fields[k - 1].value = chs_strdup(f->value)))
			return nomem();
	}
	return write_state(m);
}

static int decide(mctx *x, chs_group_fn group, void *payload)
{
	int err;

	if ((err = find_type(x)) < 0)
		return err;
	if (!(x->m->type = chs_strdup(x->type)))
		return nomem();
	if ((err = index_fields(x)) < 0 ||
	    (err = index_groups(x, group, payload)) < 0 ||
	    (err = collect_writes(x)) < 0 || (err = mark_maximal(x)) < 0 ||
	    (err = gather_maximal(x)) < 0 || (err = decide_existence(x)) < 0 ||
	    (err = decide_groups(x)) < 0 || (err = decide_fields(x)) < 0)
		return err;
	return write_state(x->m);
}

int chs_merge(chs_merged **out, const chs_change *const *changes, size_t n,
	      chs_group_fn group, void *payload)
{
	mctx x;
	int err;

	memset(&x, 0, sizeof(x));
	*out = NULL;
	if (!(x.m = chs_calloc(1, sizeof(*x.m)))) {
		err = nomem();
		goto done;
	}
	if (n == 1 && changes[0] && changes[0]->op == CHS_OP_CREATE &&
	    !changes[0]->nparents && changes[0]->type) {
		err = merge_lone_create(x.m, changes[0]);
		goto hashed;
	}
	if ((err = dedupe(&x, changes, n)) < 0 ||
	    (err = link_parents(&x)) < 0 || (err = link_children(&x)) < 0 ||
	    (err = sort_causal(&x)) < 0 || (err = list_changes(&x)) < 0)
		goto done;
	err = x.nord ? decide(&x, group, payload) : empty_state(x.m);
hashed:
	if (err < 0)
		goto done;
	chs_hash(x.m->hash, x.m->state, x.m->state_len);
	*out = x.m;
	x.m = NULL;
done:
	chs_merged_free(x.m);
	ctx_dispose(&x);
	return err;
}

void chs_merged_free(chs_merged *m)
{
	size_t j;

	if (!m)
		return;
	for (j = 0; j < m->nfields; j++) {
		free(m->fields[j].name);
		free(m->fields[j].value);
		free(m->fields[j].candidates);
	}
	free(m->fields);
	free(m->exists_candidates);
	free((void *)m->heads);
	free((void *)m->order);
	free((void *)m->pending);
	free(m->state);
	free(m->type);
	free(m);
}

static int field_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const chs_merged_field *)elem)->name);
}

const chs_merged_field *chs_merged_get(const chs_merged *m, const char *name)
{
	if (!m || !name || !m->nfields)
		return NULL;
	return bsearch(name, m->fields, m->nfields, sizeof(*m->fields),
		       field_cmp);
}
