/*
 * client/desk/page_history.c - GET /record/ID: a record, every change of
 * its history (who, when, terminal, site, and what it changed field by
 * field, old -> new) and the change graph drawn as inline SVG.
 *
 * The page is one access ("desk history": the record shown and its
 * history), handed to the session and written when the page is left.
 */
#include "desk_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/replicate/replicate.h"

/* The graph's geometry, in SVG user units (CSS pixels). */
#define LANE_W 22  /* between lanes */
#define ROW_H 26   /* between rows */
#define MARGIN 14  /* round the nodes */
#define NODE_R 6   /* a node's radius */
#define LABEL_W 260 /* room for a row's label right of the lanes */

/* ------------------------------------------------------------------ */
/* The history read once in causal order                               */
/*
 * What a change changed is its fields' values against the state its
 * author saw: the state after its parent, or, for a change made after
 * seeing several heads (a merge, a resolution), the parents' states
 * merged. A field's state is kept as its frontier: the changes that
 * wrote it and no other write of it in that state's past descends from
 * (one when the field is settled, several while sites disagree: then each
 * of their values is what the change replaced). One pass in history
 * order builds every change's state from its parents' (a copy of the one
 * parent's row; at a merge, per field, the union of the parents'
 * frontiers less any write that another in the union descends from,
 * which the changes' ancestor bitsets answer in constant time: n * n / 8
 * bytes, 125 KB for a thousand changes, and none for a history without
 * merges), then puts the change's own writes in. Nothing is searched per
 * change, so a thousand changes take a few milliseconds.
 *
 * The lanes of the graph come out of the same pass: a change continues
 * the lane of its first parent unless another child took it already; else
 * it takes the lowest lane free from that parent's row down to its own.
 * A change keeps its lane busy down to its last child's row (every edge
 * out of it runs there), a leaf to its own row.
 */
typedef struct wset {
	size_t n;
	size_t w[]; /* writers: indexes into the history */
} wset;

typedef struct id_index {
	const char *id;
	size_t i;
} id_index;

typedef struct graph {
	const chs_history_entry **e; /* the history, in its order */
	size_t n;
	const char **fields;         /* every field named, sorted */
	size_t nf;
	id_index *ids;               /* change id -> index, sorted */
	size_t *last;                /* the row of its last child, or its own */
	unsigned char *taken;        /* a child continued its lane */
	size_t *lane;
	size_t nlanes;
	uint64_t *anc;               /* n rows of `words`: ancestors and self */
	size_t words;
	const wset **seen;           /* n rows of nf: what each change saw */
	const wset **st;             /* n rows of nf: the state after it */
	wset **owned;                /* every wset allocated */
	size_t nowned, capowned;
} graph;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(((const id_index *)a)->id, ((const id_index *)b)->id);
}

/* The index of change `id`, or n when the history does not hold it. */
static size_t index_of(const graph *g, const char *id)
{
	id_index key = { id, 0 };
	const id_index *hit = bsearch(&key, g->ids, g->n, sizeof(*g->ids), cmp_id);

	return hit ? hit->i : g->n;
}

static size_t field_slot(const graph *g, const char *name)
{
	const char **hit = bsearch(&name, g->fields, g->nf, sizeof(*g->fields), cmp_str);

	return (size_t)(hit - g->fields);
}

static void graph_dispose(graph *g)
{
	size_t i;

	for (i = 0; i < g->nowned; i++)
		free(g->owned[i]);
	free(g->owned);
	free(g->e);
	free(g->fields);
	free(g->ids);
	free(g->last);
	free(g->taken);
	free(g->lane);
	free(g->anc);
	free(g->seen);
	free(g->st);
}

static wset *wset_new(graph *g, size_t n)
{
	wset *s;

	if (CHS_ARRAY_GROW(g->owned, g->capowned, g->nowned + 1) < 0)
		return NULL;
	if (!(s = chs_malloc(sizeof(*s) + n * sizeof(s->w[0])))) {
		chs_error_set(CHS_ENOMEM, "out of memory");
		return NULL;
	}
	s->n = 0;
	g->owned[g->nowned++] = s;
	return s;
}

/* Every field any change sets or clears, sorted and without repeats. */
static int collect_fields(graph *g)
{
	size_t i, k, cap = 0, n = 0;

	for (i = 0; i < g->n; i++)
		cap += g->e[i]->nset + g->e[i]->nunset;
	if (cap && !(g->fields = chs_malloc(cap * sizeof(*g->fields))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < g->n; i++) {
		for (k = 0; k < g->e[i]->nset; k++)
			g->fields[n++] = g->e[i]->set[k].name;
		for (k = 0; k < g->e[i]->nunset; k++)
			g->fields[n++] = g->e[i]->unset[k];
	}
	if (n)
		qsort(g->fields, n, sizeof(*g->fields), cmp_str);
	for (i = 0, k = 0; i < n; i++)
		if (k == 0 || strcmp(g->fields[k - 1], g->fields[i]) != 0)
			g->fields[k++] = g->fields[i];
	g->nf = k;
	return 0;
}

static int graph_alloc(graph *g, const chs_history *h)
{
	size_t i, n = chs_history_count(h), merges = 0;

	g->n = n;
	if (n == 0)
		return 0;
	/* ancestry is asked only where heads meet: none, no bitsets */
	for (i = 0; i < n; i++)
		merges += chs_history_get(h, i)->nparents > 1;
	g->words = merges ? (n + 63) / 64 : 0;
	if (!(g->e = chs_calloc(n, sizeof(*g->e))) || !(g->ids = chs_calloc(n, sizeof(*g->ids))) ||
	    !(g->last = chs_calloc(n, sizeof(*g->last))) ||
	    !(g->taken = chs_calloc(n, sizeof(*g->taken))) ||
	    !(g->lane = chs_calloc(n, sizeof(*g->lane))) ||
	    (g->words && (g->words > SIZE_MAX / sizeof(uint64_t) / n ||
			  !(g->anc = chs_calloc(n * g->words, sizeof(uint64_t))))))
		return chs_error_set(CHS_ENOMEM, "out of memory for a history of %zu changes", n);
	for (i = 0; i < n; i++) {
		g->e[i] = chs_history_get(h, i);
		g->ids[i].id = g->e[i]->change;
		g->ids[i].i = i;
	}
	qsort(g->ids, n, sizeof(*g->ids), cmp_id);
	return 0;
}

/* What writer `w` wrote to field `name`: its value, or NULL (cleared). */
static const char *written(const graph *g, size_t w, const char *name)
{
	const chs_history_entry *e = g->e[w];
	size_t k;

	for (k = 0; k < e->nset; k++)
		if (strcmp(e->set[k].name, name) == 0)
			return e->set[k].value;
	return NULL;
}

static int is_ancestor(const graph *g, size_t a, size_t of)
{
	return (g->anc[of * g->words + a / 64] >> (a % 64)) & 1;
}

/* The frontier of one field where several parents meet: the union of
 * theirs less the writes another one in it descends from. */
static int merge_field(graph *g, const size_t *par, size_t np, size_t f, const wset **out)
{
	const wset *first = g->st[par[0] * g->nf + f];
	size_t p, k, j, total = 0, same = 1;
	wset *u;

	for (p = 0; p < np; p++) {
		const wset *s = g->st[par[p] * g->nf + f];

		total += s ? s->n : 0;
		same &= s == first;
	}
	if (same || total == 0) {
		*out = first;
		return 0;
	}
	if (!(u = wset_new(g, total)))
		return CHS_ENOMEM;
	for (p = 0; p < np; p++) {
		const wset *s = g->st[par[p] * g->nf + f];

		for (k = 0; s && k < s->n; k++) {
			for (j = 0; j < u->n && u->w[j] != s->w[k]; j++)
				;
			if (j == u->n)
				u->w[u->n++] = s->w[k];
		}
	}
	for (k = 0; k < u->n;) {
		for (j = 0; j < u->n && (j == k || !is_ancestor(g, u->w[k], u->w[j])); j++)
			;
		if (j < u->n) /* superseded: drop it, look at what moved in */
			u->w[k] = u->w[--u->n];
		else
			k++;
	}
	*out = u;
	return 0;
}

/* Place change i in a lane: its first parent's, unless another child
 * took that; else the lowest lane free from the first parent's row down
 * to this one. A lane is busy for every edge that runs down it: a change
 * holds its lane down to the row of its last child (a leaf to its own
 * row only), so a branch never takes the lane of a sibling still to come
 * or of an edge passing by. */
static int place(graph *g, size_t i, const size_t *par, size_t np, size_t **end, size_t *cap)
{
	size_t l, from = np ? par[0] + 1 : i, until;

	if (np && !g->taken[par[0]]) {
		l = g->lane[par[0]];
		g->taken[par[0]] = 1;
	} else {
		/* end[l]: one past the last row lane l is busy for */
		for (l = 0; l < g->nlanes && (*end)[l] > from; l++)
			;
	}
	if (l == g->nlanes) {
		if (CHS_ARRAY_GROW(*end, *cap, l + 1) < 0)
			return CHS_ENOMEM;
		(*end)[l] = 0;
		g->nlanes++;
	}
	g->lane[i] = l;
	until = g->last[i] + 1;
	if ((*end)[l] < until)
		(*end)[l] = until;
	return 0;
}

/* The parents of change i that the history holds, as indexes. */
static size_t parents_of(const graph *g, size_t i, size_t *par)
{
	const chs_history_entry *e = g->e[i];
	size_t k, np = 0, p;

	for (k = 0; k < e->nparents; k++)
		if ((p = index_of(g, e->parents[k])) < i)
			par[np++] = p;
	return np;
}

/* The state change i saw (from its parents), then the state after it. */
static int walk_state(graph *g, size_t i, const size_t *par, size_t np)
{
	const chs_history_entry *e = g->e[i];
	const wset **seen, **st;
	wset *self;
	size_t f, k, w;
	int err;

	for (k = 0; k < np; k++)
		for (w = 0; w < g->words; w++)
			g->anc[i * g->words + w] |= g->anc[par[k] * g->words + w];
	if (g->words)
		g->anc[i * g->words + i / 64] |= (uint64_t)1 << (i % 64);
	if (g->nf == 0)
		return 0;
	seen = g->seen + i * g->nf;
	st = g->st + i * g->nf;
	for (f = 0; f < g->nf; f++) {
		if (np == 0)
			seen[f] = NULL;
		else if (np == 1)
			seen[f] = g->st[par[0] * g->nf + f];
		else if ((err = merge_field(g, par, np, f, &seen[f])) < 0)
			return err;
	}
	memcpy(st, seen, g->nf * sizeof(*st));
	if (e->nset + e->nunset == 0)
		return 0;
	if (!(self = wset_new(g, 1)))
		return CHS_ENOMEM;
	self->w[self->n++] = i;
	for (k = 0; k < e->nset; k++)
		st[field_slot(g, e->set[k].name)] = self;
	for (k = 0; k < e->nunset; k++)
		st[field_slot(g, e->unset[k])] = self;
	return 0;
}

static int graph_build(graph *g, const chs_history *h)
{
	size_t *end = NULL, *par = NULL, i, k, np, cap = 0, maxp = 1;
	int err;

	memset(g, 0, sizeof(*g));
	if ((err = graph_alloc(g, h)) < 0 || (err = collect_fields(g)) < 0)
		return err;
	if (g->n == 0)
		return 0;
	if (g->nf && (!(g->seen = chs_calloc(g->n * g->nf, sizeof(*g->seen))) ||
		      !(g->st = chs_calloc(g->n * g->nf, sizeof(*g->st)))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < g->n; i++)
		if (g->e[i]->nparents > maxp)
			maxp = g->e[i]->nparents;
	if (!(par = chs_malloc(maxp * sizeof(*par))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < g->n; i++) {
		g->last[i] = i;
		for (np = parents_of(g, i, par), k = 0; k < np; k++)
			g->last[par[k]] = i; /* children come in row order */
	}
	for (i = 0, err = 0; i < g->n && err == 0; i++) {
		np = parents_of(g, i, par);
		if ((err = place(g, i, par, np, &end, &cap)) == 0)
			err = walk_state(g, i, par, np);
	}
	free(end);
	free(par);
	return err;
}

/* ------------------------------------------------------------------ */
/* The page                                                             */

/* 1 when `id` is one of the comma-separated ids of `list`. */
static int in_list(const char *list, const char *id)
{
	size_t len = strlen(id);
	const char *p;

	for (p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, id, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return 1;
	return 0;
}

/* The classes a change's node and row carry besides their own. */
static void change_classes(desk_resp *rs, const chs_history_entry *e, const char *confirmed)
{
	if (e->merge)
		desk_put(rs, " merge");
	if (strcmp(e->op, "resolve") == 0)
		desk_put(rs, " resolve");
	if (confirmed && in_list(confirmed, e->change))
		desk_put(rs, " confirmed");
}

/* Each value the field held in the state the change saw, once each. */
static void old_values(desk_resp *rs, const graph *g, const wset *s, const char *name)
{
	size_t k, j;

	if (!s || s->n == 0) {
		desk_put(rs, "<span class=\"none\">(not set)</span>");
		return;
	}
	for (k = 0; k < s->n; k++) {
		const char *v = written(g, s->w[k], name);

		for (j = 0; j < k; j++) {
			const char *u = written(g, s->w[j], name);

			if (u == v || (u && v && strcmp(u, v) == 0))
				break;
		}
		if (j < k)
			continue;
		if (k)
			desk_put(rs, " <span class=\"or\">or</span> ");
		if (!v) {
			desk_put(rs, "<span class=\"old cleared\">(cleared)</span>");
			continue;
		}
		desk_put(rs, "<span class=\"old\">");
		desk_value(rs, v);
		desk_put(rs, "</span>");
	}
}

static void field_change(desk_resp *rs, const graph *g, size_t i, const char *name,
			 const char *value)
{
	const wset *seen = g->nf ? g->seen[i * g->nf + field_slot(g, name)] : NULL;

	desk_put(rs, "<li><span class=\"field\">");
	desk_text(rs, name);
	desk_put(rs, "</span> ");
	old_values(rs, g, seen, name);
	desk_put(rs, " <span class=\"arrow\">&#8594;</span> ");
	if (value) {
		desk_put(rs, "<span class=\"new\">");
		desk_value(rs, value);
		desk_put(rs, "</span></li>");
	} else {
		desk_put(rs, "<span class=\"new cleared\">(cleared)</span></li>");
	}
}

/* What change i changed, field by field: old -> new. */
static void change_diff(desk_resp *rs, const graph *g, size_t i)
{
	const chs_history_entry *e = g->e[i];
	size_t k;

	desk_put(rs, "<ul class=\"diff\">");
	for (k = 0; k < e->nset; k++)
		field_change(rs, g, i, e->set[k].name, e->set[k].value);
	for (k = 0; k < e->nunset; k++)
		field_change(rs, g, i, e->unset[k], NULL);
	if (strcmp(e->op, "delete") == 0)
		desk_put(rs, "<li>removed the record</li>");
	if (e->removed)
		desk_put(rs, "<li>settled for removal: the record is removed</li>");
	desk_put(rs, "</ul>");
}

/* The op, and for a merge the heads it joined, linked to their rows. */
static void change_op(desk_resp *rs, const chs_history_entry *e, const char *confirmed)
{
	size_t k;

	desk_text(rs, e->op);
	if (e->merge) {
		desk_put(rs, "<br>merge of");
		for (k = 0; k < e->nparents; k++)
			desk_printf(rs, "%s <a href=\"#c-%.64s\"><code>%.12s</code></a>", k ? "," : "",
				    e->parents[k], e->parents[k]);
	}
	if (confirmed && in_list(confirmed, e->change))
		desk_put(rs, "<br><span class=\"confirmed\">the confirmed version</span>");
}

static void history_table(desk_resp *rs, const graph *g, const chs_device_roster *roster,
			  const char *confirmed)
{
	size_t i;

	desk_put(rs, "<h2 id=\"changes\">Every change</h2>\n"
		     "<table id=\"history\" aria-labelledby=\"changes\"><thead><tr>"
		     "<th scope=\"col\">Change</th><th scope=\"col\">When</th>"
		     "<th scope=\"col\">Who</th><th scope=\"col\">Terminal</th>"
		     "<th scope=\"col\">Site</th><th scope=\"col\">What</th>"
		     "<th scope=\"col\">What it changed (old &#8594; new)</th>"
		     "</tr></thead>\n<tbody>\n");
	for (i = 0; i < g->n; i++) {
		const chs_history_entry *e = g->e[i];

		desk_printf(rs, "<tr class=\"change");
		change_classes(rs, e, confirmed);
		desk_printf(rs, "\" id=\"c-%.64s\"><td><code title=\"%.64s\">%.12s</code></td><td>",
			    e->change, e->change, e->change);
		desk_time(rs, e->time);
		desk_put(rs, "</td><td>");
		desk_text_or_dash(rs, e->user);
		desk_put(rs, "</td><td>");
		desk_text_or_dash(rs, e->terminal);
		desk_put(rs, "</td><td>");
		/* "" when not on the roster this store holds (or none yet) */
		desk_text_or_dash(rs, desk_site_of(roster, e->device));
		desk_put(rs, "</td><td>");
		change_op(rs, e, confirmed);
		desk_put(rs, "</td><td>");
		change_diff(rs, g, i);
		desk_put(rs, "</td></tr>\n");
	}
	desk_put(rs, "</tbody></table>\n");
}

static int node_x(size_t lane)
{
	return MARGIN + (int)lane * LANE_W;
}

static int node_y(size_t row)
{
	return MARGIN + (int)row * ROW_H;
}

/* The edges into change i: straight down a lane; a branch leaves its
 * parent at once and runs down its own lane; a joining head runs down
 * its own lane to the row above the change, then across. */
static void graph_edges(desk_resp *rs, const graph *g, size_t i, size_t *par)
{
	size_t k, np = parents_of(g, i, par);
	int x2 = node_x(g->lane[i]), y2 = node_y(i);

	for (k = 0; k < np; k++) {
		int x1 = node_x(g->lane[par[k]]), y1 = node_y(par[k]);

		if (x1 == x2)
			desk_printf(rs, "<path class=\"edge\" d=\"M%d %dV%d\"/>\n", x1, y1, y2);
		else if (k == 0)
			desk_printf(rs, "<path class=\"edge\" d=\"M%d %dL%d %dV%d\"/>\n", x1, y1, x2,
				    y1 + ROW_H, y2);
		else
			desk_printf(rs, "<path class=\"edge join\" d=\"M%d %dV%dL%d %d\"/>\n", x1, y1,
				    y2 - ROW_H, x2, y2);
	}
}

static void graph_node(desk_resp *rs, const graph *g, size_t i, const char *confirmed,
		       int label_x)
{
	const chs_history_entry *e = g->e[i];
	int x = node_x(g->lane[i]), y = node_y(i);

	desk_printf(rs, "<a href=\"#c-%.64s\" aria-label=\"change %.12s\">"
			"<circle class=\"node", e->change, e->change);
	change_classes(rs, e, confirmed);
	desk_printf(rs, "\" data-change=\"%.64s\" cx=\"%d\" cy=\"%d\" r=\"%d\"><title>", e->change,
		    x, y, NODE_R);
	desk_text(rs, e->op);
	desk_put(rs, " by ");
	desk_text_or_dash(rs, e->user);
	desk_put(rs, " at ");
	desk_text_or_dash(rs, e->terminal);
	desk_put(rs, ", ");
	desk_text(rs, e->time);
	desk_printf(rs, "</title></circle></a><text class=\"label\" x=\"%d\" y=\"%d\">%.12s ",
		    label_x, y + 4, e->change);
	desk_text(rs, e->op);
	desk_put(rs, " ");
	desk_text(rs, e->user);
	desk_put(rs, "</text>\n");
}

/* The change graph: one row per change in history order, a lane per
 * concurrent branch, sized to them. */
static int history_graph(desk_resp *rs, const graph *g, const char *confirmed)
{
	size_t i, *par, maxp = 1;
	int lanes = g->nlanes ? (int)g->nlanes : 1, rows = g->n ? (int)g->n : 1;
	int w = 2 * MARGIN + (lanes - 1) * LANE_W + LABEL_W, h = 2 * MARGIN + (rows - 1) * ROW_H;
	int label_x = MARGIN + (lanes - 1) * LANE_W + 2 * NODE_R + 4;

	for (i = 0; i < g->n; i++)
		if (g->e[i]->nparents > maxp)
			maxp = g->e[i]->nparents;
	if (!(par = chs_malloc(maxp * sizeof(*par))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	desk_put(rs, "<h2 id=\"graph-title\">The change graph</h2>\n"
		     "<p class=\"hint\">One row per change, oldest at the top; concurrent edits "
		     "run in lanes side by side until a merge or a resolution joins them. "
		     "Each node leads to its row in the table.</p>\n");
	desk_printf(rs, "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
			"height=\"%d\" viewBox=\"0 0 %d %d\" aria-labelledby=\"graph-title\">\n",
		    w, h, w, h);
	for (i = 0; i < g->n; i++)
		graph_edges(rs, g, i, par);
	for (i = 0; i < g->n; i++)
		graph_node(rs, g, i, confirmed, label_x);
	desk_put(rs, "</svg>\n");
	free(par);
	return 0;
}

/* The record as it is now: its fields, review and confirmation. */
static void record_now(desk_resp *rs, const chs_record *r)
{
	const chs_confirmation *c = chs_record_confirmed(r);
	size_t i;

	desk_put(rs, "<h2 id=\"now\">The record now</h2>\n");
	if (chs_record_deleted(r))
		desk_put(rs, "<p class=\"removed\">This record is removed.</p>\n");
	if (chs_record_under_review(r))
		desk_printf(rs, "<p class=\"under-review\">Under review: the values below are "
				"provisional. <a href=\"/review/%s\">Review it</a>.</p>\n",
			    chs_record_id(r));
	if (c) {
		desk_put(rs, "<p class=\"confirmed\">Confirmed by ");
		desk_text(rs, c->by);
		desk_put(rs, " at ");
		desk_text(rs, c->terminal);
		desk_put(rs, ", ");
		desk_time(rs, c->time);
		desk_put(rs, ".</p>\n");
	}
	desk_put(rs, "<table id=\"fields\" aria-labelledby=\"now\"><thead><tr>"
		     "<th scope=\"col\">Field</th><th scope=\"col\">Value</th></tr></thead><tbody>\n");
	for (i = 0; i < chs_record_field_count(r); i++) {
		desk_put(rs, "<tr><th scope=\"row\">");
		desk_text(rs, chs_record_field_name(r, i));
		desk_put(rs, "</th><td>");
		desk_value(rs, chs_record_field_value(r, i));
		desk_put(rs, chs_record_field_under_review(r, i) ? " <span class=\"flag\">(under "
								    "review)</span></td></tr>\n"
								  : "</td></tr>\n");
	}
	desk_put(rs, "</tbody></table>\n");
}

static int render(desk_resp *rs, const desk_req *rq, const chs_record *r, const graph *g,
		  const chs_device_roster *roster)
{
	const chs_confirmation *c = chs_record_confirmed(r);
	const char *confirmed = c ? c->change : NULL;
	char title[96];
	int err;

	snprintf(title, sizeof(title), "History of %.32s %.12s", chs_record_type(r),
		 chs_record_id(r));
	desk_page_begin(rs, rq, title);
	desk_printf(rs, "<p class=\"record-id\">Record <code>%s</code>, %zu change%s.</p>\n",
		    chs_record_id(r), g->n, g->n == 1 ? "" : "s");
	record_now(rs, r);
	if ((err = history_graph(rs, g, confirmed)) < 0)
		return err;
	history_table(rs, g, roster, confirmed);
	desk_page_end(rs, rq);
	return 0;
}

int desk_page_history(desk_req *rq, desk_resp *rs)
{
	static const char prefix[] = "/record/";
	chs_store *s = rq->session->store;
	char id[33];
	chs_device_roster *roster = NULL;
	chs_access *a = NULL;
	chs_history *h = NULL;
	chs_record *r = NULL;
	graph g;
	int err;

	memset(&g, 0, sizeof(g));
	if ((err = desk_path_id(rq->path, prefix, "", id)) < 0 || (err = chs_access_begin(&a, s, "desk history")) < 0 ||
	    (err = chs_access_add_show(a, &r, s, id)) < 0 ||
	    (err = chs_access_add_log(a, &h, s, chs_record_id(r))) < 0 ||
	    (err = desk_roster_load(s, &roster)) < 0 || (err = graph_build(&g, h)) < 0)
		goto cleanup;
	/* the session holds the access from here: it is written when the
	 * page is left, and nothing is shown unless it is held */
	err = desk_session_keep_view(rq->session, a, rs->view);
	a = NULL;
	if (err < 0)
		goto cleanup;
	err = render(rs, rq, r, &g, roster);
cleanup:
	graph_dispose(&g);
	chs_device_roster_free(roster);
	chs_history_free(h);
	chs_record_free(r);
	chs_access_free(a);
	return err;
}
