/*
 * client/desk/page_review.c - the review queue, one record's candidates
 * side by side, the change a choice would sign, and signing it.
 *
 * Every page here shows patient data, so each begins one access event
 * ("desk review") that names what it shows and hands it to the session,
 * which writes it when the page is left. Everything a page needs is read
 * first (the records through the audited views), then the event is kept
 * and only then is HTML written, so the event names exactly what the
 * page read to show.
 *
 * A choice comes from the record page's form as fields `take.FIELD` (a
 * candidate's change id; `take.(removal)` for a removal under review) and
 * `typed.FIELD` (text) with the button `typed` naming the field whose
 * typed value was asked for. It becomes exactly what chs_review_resolve()
 * is given: a candidate's value as a raw edit (FIELD:=JSON, or unset when
 * the candidate clears the field), a typed value as typed text, or, when
 * every choice is the same change and nothing is typed, that change taken
 * whole (the only way to take a removal).
 */
#include "desk_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client/records/records.h"
#include "client/records/schema.h"
#include "client/replicate/replicate.h"
#include "client/text/text.h"

#define REMOVAL "(removal)"
#define ACTION "desk review"
/* A candidate's time more than this after its batch arrived here means
 * its author's clock ran ahead (seconds). */
#define SKEW_AHEAD_S 300

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

/* The record id of a path "/review/ID" + `suffix`; CHS_ENOTFOUND when the
 * path is not one. An id prefix is accepted as everywhere else. */
static int path_record(const desk_req *rq, const char *suffix, char out[33])
{
	return desk_path_id(rq->path, "/review/", suffix, out);
}

/* The id a link field holds ("\"<32 hex>\""), or 0 when it holds none. */
static int json_id(const char *json, char out[33])
{
	if (!json || strlen(json) != 34 || json[0] != '"' || json[33] != '"' ||
	    strspn(json + 1, "0123456789abcdef") != 32)
		return 0;
	memcpy(out, json + 1, 32);
	out[32] = '\0';
	return 1;
}

/* The patient a record belongs to: its `patient` link, or itself when it
 * is a patient; "" when neither. */
static void record_patient(const chs_record *r, char out[33])
{
	if (strcmp(chs_record_type(r), "patient") == 0)
		snprintf(out, 33, "%s", chs_record_id(r));
	else if (!json_id(chs_record_field(r, CHS_FIELD_PATIENT), out))
		out[0] = '\0';
}

static size_t field_index(const chs_record *r, const char *name)
{
	size_t i, n = chs_record_field_count(r);

	for (i = 0; i < n; i++)
		if (strcmp(chs_record_field_name(r, i), name) == 0)
			return i;
	return (size_t)-1;
}

/* Seconds since the epoch of a record's ISO 8601 UTC time; -1 if not. */
static int64_t iso_seconds(const char *iso)
{
	int64_t days;
	int h, m, s;

	if (!iso || chs_schema_day(iso, &days) < 0 || strlen(iso) < 19 ||
	    sscanf(iso + 11, "%2d:%2d:%2d", &h, &m, &s) != 3)
		return -1;
	return days * 86400 + h * 3600 + m * 60 + s;
}

/* A value carried in a hidden field must come back byte for byte, so it
 * is escaped here rather than shown (desk_text() writes control
 * characters as visible escapes). Only typed text already held to
 * chs_text_check() comes here: newline and tab are its only controls. */
static void put_attr_exact(desk_resp *rs, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, "&<>\"'\n\t");

		if (n > 0) {
			desk_printf(rs, "%.*s", (int)n, s);
			s += n;
			continue;
		}
		switch (*s++) {
		case '&': desk_put(rs, "&amp;"); break;
		case '<': desk_put(rs, "&lt;"); break;
		case '>': desk_put(rs, "&gt;"); break;
		case '"': desk_put(rs, "&quot;"); break;
		case '\'': desk_put(rs, "&#39;"); break;
		case '\n': desk_put(rs, "&#10;"); break;
		default: desk_put(rs, "&#9;"); break;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Sites and signatures                                                 */

/* Whether a candidate's batch was signed by a key on the roster then:
 * the device with that very key, not revoked, or revoked only after that
 * batch. */
static int on_roster(const chs_device_roster *ro, const chs_change_origin *o)
{
	const chs_device_info *d = desk_device_of(ro, o->device);

	return d && strcmp(d->key, o->key) == 0 &&
	       (!d->revoked || d->revoked_after >= o->dseq);
}

/* ------------------------------------------------------------------ */
/* The value both sides started from                                    */
/*
 * Each candidate descends from what its author saw; what the candidates
 * share is their common ancestors in the record's history. The value both
 * sides started from is the one written by the newest of those common
 * ancestors that wrote the field (set or cleared it). History entries
 * come in causal order, so "newest" is the highest index; the ancestors
 * of a change are found by walking parents through an index of the
 * entries sorted by change id.
 */
typedef struct by_change {
	const char *change;
	size_t i; /* its entry's index */
} by_change;

typedef struct lineage {
	const chs_history *h;
	size_t n;
	by_change *by_id;     /* the entries sorted by change id */
	const char **cands;   /* candidate changes whose ancestors are known */
	unsigned char **anc;  /* per candidate: n flags, 1 for a strict ancestor */
	size_t ncands, cap, capanc;
} lineage;

static int by_change_id(const void *a, const void *b)
{
	return strcmp(((const by_change *)a)->change, ((const by_change *)b)->change);
}

static size_t entry_of(const lineage *L, const char *change)
{
	by_change key = { change, 0 };
	const by_change *hit = bsearch(&key, L->by_id, L->n, sizeof(*L->by_id), by_change_id);

	return hit ? hit->i : (size_t)-1;
}

static int lineage_init(lineage *L, const chs_history *h)
{
	size_t i;

	memset(L, 0, sizeof(*L));
	L->h = h;
	L->n = chs_history_count(h);
	if (!(L->by_id = chs_calloc(L->n ? L->n : 1, sizeof(*L->by_id))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < L->n; i++) {
		L->by_id[i].change = chs_history_get(h, i)->change;
		L->by_id[i].i = i;
	}
	qsort(L->by_id, L->n, sizeof(*L->by_id), by_change_id);
	return 0;
}

static void lineage_dispose(lineage *L)
{
	size_t i;

	for (i = 0; i < L->ncands; i++)
		free(L->anc[i]);
	free(L->anc);
	free(L->cands);
	free(L->by_id);
}

/* The strict ancestors of `change` (computed once per change) into
 * `*out`; CHS_ENOTFOUND when the history does not hold it. */
static int ancestors(lineage *L, const char *change, const unsigned char **out)
{
	size_t i, top = 0, e = entry_of(L, change), *stack;
	unsigned char *a;

	for (i = 0; i < L->ncands; i++)
		if (strcmp(L->cands[i], change) == 0) {
			*out = L->anc[i];
			return 0;
		}
	if (e == (size_t)-1)
		return chs_error_set(CHS_ENOTFOUND, "change %.12s is not in the record's history",
				     change);
	if (CHS_ARRAY_GROW(L->cands, L->cap, L->ncands + 1) < 0 ||
	    CHS_ARRAY_GROW(L->anc, L->capanc, L->ncands + 1) < 0)
		return CHS_ENOMEM;
	if (!(a = chs_calloc(L->n, 1)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (!(stack = chs_calloc(L->n + 1, sizeof(size_t)))) {
		free(a);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	stack[top++] = e;
	while (top > 0) {
		const chs_history_entry *x = chs_history_get(L->h, stack[--top]);

		for (i = 0; i < x->nparents; i++) {
			size_t p = entry_of(L, x->parents[i]);

			if (p != (size_t)-1 && !a[p]) {
				a[p] = 1;
				stack[top++] = p;
			}
		}
	}
	free(stack);
	L->cands[L->ncands] = change;
	L->anc[L->ncands++] = a;
	*out = a;
	return 0;
}

static int entry_writes(const chs_history_entry *x, const char *field, const char **value)
{
	size_t i;

	for (i = 0; i < x->nset; i++)
		if (strcmp(x->set[i].name, field) == 0) {
			*value = x->set[i].value;
			return 1;
		}
	for (i = 0; i < x->nunset; i++)
		if (strcmp(x->unset[i], field) == 0) {
			*value = NULL;
			return 1;
		}
	return 0;
}

/* The newest common ancestor of the candidates that wrote `field`
 * (REMOVAL: the newest common ancestor at all) into `*out`: 0, with NULL
 * when they share none; a negative code when it could not be worked out
 * (then the page says so rather than show none). */
static int base_entry(lineage *L, const chs_record_candidate *const *c, size_t nc,
		      const char *field, const char **value, const chs_history_entry **out)
{
	const unsigned char **anc;
	size_t i, k;
	int err = 0;

	*out = NULL;
	if (!(anc = chs_calloc(nc ? nc : 1, sizeof(*anc))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (k = 0; k < nc && err == 0; k++)
		err = ancestors(L, c[k]->change, &anc[k]);
	for (i = L->n; err == 0 && i-- > 0;) {
		const chs_history_entry *x = chs_history_get(L->h, i);

		for (k = 0; k < nc && anc[k][i]; k++)
			;
		if (k == nc && (strcmp(field, REMOVAL) == 0 || entry_writes(x, field, value))) {
			*out = x;
			break;
		}
	}
	free(anc);
	return err;
}

/* ------------------------------------------------------------------ */
/* The choice posted, and what it signs                                 */

typedef struct choice {
	const char *field;                /* the record's field name, or REMOVAL */
	const chs_record_candidate *cand; /* taken; NULL when typed */
	const char *typed;                /* typed text (the form's) */
	char *normal;                     /* typed, as signing writes it: JSON */
	int by_group;                     /* taken along with its merge group */
} choice;

typedef struct plan {
	choice *c;
	size_t n;
	const chs_record_candidate *take; /* one change taken whole, else edits */
	chs_edit *e;
	size_t ne;
} plan;

static void plan_dispose(plan *p)
{
	size_t i;

	for (i = 0; p->c && i < p->n; i++)
		free(p->c[i].normal);
	free(p->c);
	free(p->e);
	memset(p, 0, sizeof(*p));
}

static const choice *choice_of(const plan *p, const char *field)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->c[i].field, field) == 0)
			return &p->c[i];
	return NULL;
}

static const chs_record_candidate *field_cand(const chs_record *r, size_t i, const char *change)
{
	size_t k, n = chs_record_field_candidate_count(r, i);

	for (k = 0; k < n; k++)
		if (strcmp(chs_record_field_candidate(r, i, k)->change, change) == 0)
			return chs_record_field_candidate(r, i, k);
	return NULL;
}

static const chs_record_candidate *removal_cand(const chs_record *r, const char *change)
{
	size_t k, n = chs_record_removal_count(r);

	for (k = 0; k < n; k++)
		if (strcmp(chs_record_removal_candidate(r, k)->change, change) == 0)
			return chs_record_removal_candidate(r, k);
	return NULL;
}

/* The choice `take.NAME=CHANGE`, checked against the record. */
static int take_choice(const chs_record *r, const char *name, const char *change, choice *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	if (strcmp(name, REMOVAL) == 0) {
		if (!chs_record_removal_under_review(r))
			return chs_error_set(CHS_EINVALID, "the record's removal is not under review"
					     " (it may have been settled meanwhile: open the record again)");
		out->field = REMOVAL;
		out->cand = removal_cand(r, change);
	} else {
		i = field_index(r, name);
		if (i == (size_t)-1 || !chs_record_field_under_review(r, i))
			return chs_error_set(CHS_EINVALID, "field '%.64s' is not under review (it may"
					     " have been settled meanwhile: open the record again)",
					     name);
		out->field = chs_record_field_name(r, i);
		out->cand = field_cand(r, i, change);
	}
	if (!out->cand)
		return chs_error_set(CHS_EINVALID, "'%.16s' is not one of the candidates for '%.64s'"
				     " (open the record again to see them)", change, name);
	return 0;
}

/* The choice `typed.NAME=TEXT`, checked as signing will check it: the
 * field is under review, the text holds no character a person may not
 * type, and it has the field's form; `normal` is what signing writes
 * (codes in capitals, identifiers trimmed...), for the preview to show. */
static int typed_choice(const chs_record *r, const char *name, char *text, choice *out)
{
	size_t i = field_index(r, name), w, k;
	int lines;

	memset(out, 0, sizeof(*out));
	if (i == (size_t)-1 || !chs_record_field_under_review(r, i))
		return chs_error_set(CHS_EINVALID, "field '%.64s' is not under review (it may have"
				     " been settled meanwhile: open the record again)", name);
	/* a browser sends a text area's lines as CRLF */
	for (w = k = 0; text[k]; k++)
		if (!(text[k] == '\r' && text[k + 1] == '\n'))
			text[w++] = text[k];
	text[w] = '\0';
	lines = chs_record_field_holds_lines(chs_record_type(r), name);
	if (chs_text_check(text, w, lines ? CHS_TEXT_LINES : CHS_TEXT_LINE, 0, name) < 0)
		return CHS_EINVALID;
	if (chs_record_field_normal_form(chs_record_type(r), name, text, &out->normal) < 0)
		return CHS_EINVALID;
	out->field = chs_record_field_name(r, i);
	out->typed = text;
	return 0;
}

static int add_choice(plan *p, const choice *c)
{
	const choice *had = choice_of(p, c->field);

	if (had) {
		if (had->cand && c->cand && had->cand == c->cand)
			return 0;
		return chs_error_set(CHS_EINVALID, "two choices for '%.64s': choose one", c->field);
	}
	p->c[p->n++] = *c;
	return 0;
}

/* The takes first (but for the field whose typed value was asked for),
 * then the typed values not empty, for fields not chosen yet. */
static int read_choices(const desk_req *rq, const chs_record *r, plan *p)
{
	const char *asked = desk_form(rq, "typed");
	size_t i;
	choice c;
	int err;

	for (i = 0; i < rq->nform; i++) {
		const char *name = rq->form[i].name;

		if (strncmp(name, "take.", 5) != 0 || (asked && strcmp(asked, name + 5) == 0))
			continue;
		if ((err = take_choice(r, name + 5, rq->form[i].value, &c)) < 0 ||
		    (err = add_choice(p, &c)) < 0)
			return err;
	}
	for (i = 0; i < rq->nform; i++) {
		const char *name = rq->form[i].name;
		int is_asked;

		if (strncmp(name, "typed.", 6) != 0)
			continue;
		is_asked = asked && strcmp(asked, name + 6) == 0;
		if (!is_asked && (!rq->form[i].value[0] || choice_of(p, name + 6)))
			continue;
		if (is_asked && !rq->form[i].value[0])
			return chs_error_set(CHS_EINVALID, "type a value for '%.64s', or take one"
					     " of the candidates", name + 6);
		if ((err = typed_choice(r, name + 6, rq->form[i].value, &c)) < 0 ||
		    (err = add_choice(p, &c)) < 0) {
			free(c.normal);
			return err;
		}
	}
	if (asked && !choice_of(p, asked))
		return chs_error_set(CHS_EINVALID, "type a value for '%.64s', or take one of the"
				     " candidates", asked);
	return 0;
}

/* Fields the schema binds into one merge group settle together: taking
 * a change for one takes it for the others it is a candidate of, unless
 * they were chosen otherwise. */
static void extend_groups(const chs_record *r, plan *p)
{
	size_t i, k, nf = chs_record_field_count(r), n = p->n;
	const char *type = chs_record_type(r);

	for (k = 0; k < n; k++) {
		const char *g = p->c[k].cand && strcmp(p->c[k].field, REMOVAL) != 0
					? chs_schema_group(type, p->c[k].field, NULL) : NULL;

		for (i = 0; g && i < nf; i++) {
			const char *name = chs_record_field_name(r, i);
			const char *g2 = chs_schema_group(type, name, NULL);
			const chs_record_candidate *cd;

			if (!chs_record_field_under_review(r, i) || !g2 || strcmp(g, g2) != 0 ||
			    choice_of(p, name) || !(cd = field_cand(r, i, p->c[k].cand->change)))
				continue;
			p->c[p->n++] = (choice){ name, cd, NULL, NULL, 1 };
		}
	}
}

/* One change taken whole when every choice is the same change and
 * nothing is typed; else one edit per field chosen. */
static int decide(plan *p)
{
	const choice *rm = choice_of(p, REMOVAL);
	size_t i;

	if (rm && rm->cand->removed && p->n > 1)
		return chs_error_set(CHS_EINVALID, "taking the removal removes the record: choose"
				     " no values for its fields with it");
	p->take = p->c[0].cand;
	for (i = 0; i < p->n && p->take; i++)
		if (!p->c[i].cand || strcmp(p->c[i].cand->change, p->take->change) != 0)
			p->take = NULL;
	if (p->take)
		return 0;
	if (!(p->e = chs_calloc(p->n, sizeof(chs_edit))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < p->n; i++) {
		const choice *c = &p->c[i];

		if (strcmp(c->field, REMOVAL) == 0)
			continue; /* the keeping side: giving values keeps the record */
		p->e[p->ne].name = c->field;
		p->e[p->ne].value = c->cand ? c->cand->value : c->typed;
		p->e[p->ne].raw = c->cand != NULL;
		p->e[p->ne].unset = c->cand && !c->cand->value;
		p->ne++;
	}
	return 0;
}

/* The plan for the choice posted to record `r`: CHS_EINVALID with a
 * message when it is not one. */
static int plan_read(const desk_req *rq, const chs_record *r, plan *p)
{
	int err;

	memset(p, 0, sizeof(*p));
	if (!(p->c = chs_calloc(chs_record_field_count(r) + 1, sizeof(choice))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = read_choices(rq, r, p)) < 0)
		return err;
	if (p->n == 0)
		return chs_error_set(CHS_EINVALID, "nothing was chosen: take a candidate or type a"
				     " value");
	extend_groups(r, p);
	return decide(p);
}

/* ------------------------------------------------------------------ */
/* Reading what a page shows                                            */

typedef struct shown {
	chs_access *a;
	chs_record *r;
	chs_history *h;
	chs_device_roster *ro;
} shown;

static void shown_dispose(shown *w)
{
	chs_access_free(w->a);
	chs_record_free(w->r);
	chs_history_free(w->h);
	chs_device_roster_free(w->ro);
	memset(w, 0, sizeof(*w));
}

/* Begin the page's access and read record `id` (with its history when
 * `history`) and the roster. */
static int shown_read(shown *w, chs_store *s, const char *id, int history)
{
	int err;

	memset(w, 0, sizeof(*w));
	if ((err = chs_access_begin(&w->a, s, ACTION)) < 0 ||
	    (err = chs_access_add_show(w->a, &w->r, s, id)) < 0 ||
	    (history && (err = chs_access_add_log(w->a, &w->h, s, id)) < 0) ||
	    (err = desk_roster_load(s, &w->ro)) < 0)
		return err;
	return 0;
}

/* Hand the access to the session: the page holds it from now on. */
static int shown_keep(shown *w, const desk_req *rq, desk_resp *rs)
{
	chs_access *a = w->a;

	w->a = NULL;
	return desk_session_keep_view(rq->session, a, rs->view);
}

/* The heads of `r`, sorted, joined by commas. */
static int heads_join(const chs_record *r, chs_buf *out)
{
	size_t i;
	int err = 0;

	chs_buf_init(out, 0);
	for (i = 0; i < chs_record_head_count(r) && err == 0; i++)
		err = chs_buf_printf(out, "%s%s", i ? "," : "", chs_record_head(r, i));
	if (err == 0 && !out->ptr)
		err = chs_buf_puts(out, "");
	return err;
}

/* ------------------------------------------------------------------ */
/* Rendering pieces                                                      */

static void put_short(desk_resp *rs, const char *change)
{
	desk_printf(rs, "<code class=\"change\" title=\"%s\">%.12s</code>", change, change);
}

static void put_record_link(desk_resp *rs, const char *id)
{
	desk_printf(rs, "<a href=\"/record/%s\">%.12s</a>", id, id);
}

static void put_who(desk_resp *rs, const char *user)
{
	desk_text_or_dash(rs, user);
}

/* A candidate's value: cleared, removal sides, or the value. */
static void put_cand_value(desk_resp *rs, const chs_record_candidate *c, int removal)
{
	if (removal)
		desk_put(rs, c->removed ? "remove the record" : "keep the record (it edits it)");
	else if (!c->value)
		desk_put(rs, "(cleared)");
	else
		desk_value(rs, c->value);
}

/* The signature status: the key, whether the batch's signature checks,
 * whether the key was on the roster for that batch; and the clock-skew
 * flag. */
static void put_signature(desk_resp *rs, chs_store *s, const chs_device_roster *ro,
			  const chs_record_candidate *c)
{
	chs_change_origin o;
	int64_t t;
	int ok, roster;

	if (chs_change_origin_get(s, c->change, &o) < 0) {
		desk_printf(rs, "<p class=\"signature sig-bad\">no batch in this store holds this"
			    " change: its signature cannot be checked</p>");
		chs_error_clear();
		return;
	}
	roster = on_roster(ro, &o);
	ok = o.signature_ok && roster;
	desk_printf(rs, "<p class=\"signature %s\">key <code title=\"%s\">%.12s</code>: "
		    "signature %s; %s</p>", ok ? "sig-ok" : "sig-bad", o.key, o.key,
		    o.signature_ok ? "valid" : "NOT valid",
		    roster ? "the key was on the roster for that batch"
			   : "the key was NOT on the roster for that batch");
	t = iso_seconds(c->time);
	if (t >= 0 && t - o.received > SKEW_AHEAD_S)
		desk_printf(rs, "<p class=\"skew\">clock ahead: this change says it was made %"
			    PRId64 " minutes after its batch arrived here, so its author's clock"
			    " was running fast; its time is not to be trusted</p>",
			    (t - o.received) / 60);
}

static void put_candidate(desk_resp *rs, chs_store *s, const chs_device_roster *ro,
			  const char *field, const chs_record_candidate *c, int removal,
			  int can_take)
{
	const char *site = desk_site_of(ro, c->device);

	desk_printf(rs, "<div class=\"candidate\" data-change=\"%s\">\n<p class=\"value\">",
		    c->change);
	put_cand_value(rs, c, removal);
	desk_put(rs, "</p>\n<dl>\n<dt>Who</dt><dd class=\"who\">");
	put_who(rs, c->user);
	desk_put(rs, "</dd>\n<dt>When</dt><dd class=\"when\">");
	desk_time(rs, c->time);
	desk_put(rs, "</dd>\n<dt>Terminal</dt><dd class=\"terminal\">");
	put_who(rs, c->terminal);
	desk_put(rs, "</dd>\n<dt>Site</dt><dd class=\"site\">");
	if (site[0])
		desk_text(rs, site);
	else
		desk_put(rs, "(not on the roster)");
	desk_put(rs, "</dd>\n<dt>Change</dt><dd>");
	put_short(rs, c->change);
	desk_put(rs, "</dd>\n</dl>\n");
	put_signature(rs, s, ro, c);
	if (can_take) {
		desk_put(rs, "<button type=\"submit\" class=\"take\" name=\"take.");
		desk_text(rs, field);
		desk_printf(rs, "\" value=\"%s\">Take this</button>\n", c->change);
	}
	desk_put(rs, "</div>\n");
}

/* The typed value of a field: its own little form (the input and its
 * button name it through form=), so Enter in it asks for that value and
 * never takes a candidate. */
static void put_typed(desk_resp *rs, const chs_record *r, const char *field, size_t n)
{
	/* n: the field's index, which names its form (put_typed_forms) */
	int lines = chs_record_field_holds_lines(chs_record_type(r), field);

	desk_printf(rs, "<p class=\"typed\"><label for=\"typed-%zu\">Or type a value for ", n);
	desk_text(rs, field);
	desk_printf(rs, "</label>\n%s id=\"typed-%zu\" form=\"type-%zu\" name=\"typed.",
		    lines ? "<textarea" : "<input type=\"text\"", n, n);
	desk_text(rs, field);
	desk_printf(rs, "\"%s\n<button type=\"submit\" form=\"type-%zu\" name=\"typed\" value=\"",
		    lines ? "></textarea>" : ">", n);
	desk_text(rs, field);
	desk_put(rs, "\">Use the typed value</button></p>\n");
}

static void put_base(desk_resp *rs, const chs_history_entry *x, const char *value, int removal,
		     int unknown)
{
	desk_put(rs, "<p class=\"base\">Both sides started from: <span class=\"value\">");
	if (unknown)
		desk_put(rs, "could not be worked out (open the record's history to see it)");
	else if (!x)
		desk_put(rs, "&#8212;");
	else if (removal)
		desk_put(rs, strcmp(x->op, "delete") == 0 || x->removed ? "the record removed"
								      : "the record as it was");
	else if (!value)
		desk_put(rs, "(cleared)");
	else
		desk_value(rs, value);
	desk_put(rs, "</span>");
	if (x) {
		desk_put(rs, " <small>(");
		put_short(rs, x->change);
		desk_put(rs, " by ");
		put_who(rs, x->user);
		desk_put(rs, ", ");
		desk_time(rs, x->time);
		desk_put(rs, ")</small>");
	}
	desk_put(rs, "</p>\n");
}

typedef struct conflict_ctx {
	chs_store *s;
	const chs_record *r;
	const chs_device_roster *ro;
	lineage *L;
	int can_take;
} conflict_ctx;

/* One section.conflict: the field (or REMOVAL), the value both sides
 * started from, the candidates left to right, the typed value. */
static void put_conflict(desk_resp *rs, const conflict_ctx *x, size_t i, size_t n)
{
	const chs_record_candidate *c[64];
	int removal = i == (size_t)-1;
	const char *field = removal ? REMOVAL : chs_record_field_name(x->r, i);
	size_t k, nc = removal ? chs_record_removal_count(x->r)
			       : chs_record_field_candidate_count(x->r, i);
	const chs_history_entry *be = NULL;
	const char *bv = NULL;
	int unknown = 0;

	for (k = 0; k < nc && k < 64; k++)
		c[k] = removal ? chs_record_removal_candidate(x->r, k)
			       : chs_record_field_candidate(x->r, i, k);
	if (x->L && base_entry(x->L, c, nc < 64 ? nc : 64, field, &bv, &be) < 0) {
		chs_error_clear();
		unknown = 1;
	}
	desk_put(rs, "<section class=\"conflict\" tabindex=\"0\" data-field=\"");
	desk_text(rs, field);
	desk_printf(rs, "\" aria-labelledby=\"conflict-%zu\">\n<h2 id=\"conflict-%zu\">", n, n);
	if (removal)
		desk_put(rs, "Removed at one site, edited at another");
	else
		desk_text(rs, field);
	desk_put(rs, "</h2>\n");
	put_base(rs, be, bv, removal, unknown);
	desk_put(rs, "<div class=\"candidates\">\n");
	for (k = 0; k < nc && k < 64; k++)
		put_candidate(rs, x->s, x->ro, field, c[k], removal, x->can_take);
	desk_put(rs, "</div>\n");
	if (!removal && x->can_take)
		put_typed(rs, x->r, field, i);
	desk_put(rs, "</section>\n");
}

/* The hidden fields that carry a choice already made. */
static void put_carried(desk_resp *rs, const plan *p)
{
	size_t i;

	for (i = 0; p && i < p->n; i++) {
		desk_printf(rs, "<input type=\"hidden\" name=\"%s.", p->c[i].cand ? "take" : "typed");
		desk_text(rs, p->c[i].field);
		desk_put(rs, "\" value=\"");
		if (p->c[i].cand)
			desk_put(rs, p->c[i].cand->change);
		else
			put_attr_exact(rs, p->c[i].typed);
		desk_put(rs, "\">\n");
	}
}

/* The per-field forms the typed values submit (after form#resolve: forms
 * do not nest). */
static void put_typed_forms(desk_resp *rs, const desk_req *rq, const chs_record *r,
			    const plan *p)
{
	size_t i;

	for (i = 0; i < chs_record_field_count(r); i++) {
		if (!chs_record_field_under_review(r, i) ||
		    (p && choice_of(p, chs_record_field_name(r, i))))
			continue;
		desk_printf(rs, "<form id=\"type-%zu\" class=\"type\" method=\"post\""
			    " action=\"/review/%s/preview\">", i, chs_record_id(r));
		desk_csrf_field(rs, rq);
		put_carried(rs, p);
		desk_put(rs, "</form>\n");
	}
}

/* Fields that settle together (one merge group) are shown together, in
 * a group of their own; the rest one by one. Fields already chosen in
 * `p` are left out. */
static void put_conflicts(desk_resp *rs, const conflict_ctx *x, const plan *p)
{
	const char *type = chs_record_type(x->r);
	size_t i, j, nf = chs_record_field_count(x->r), n = 0;

	for (i = 0; i < nf; i++) {
		const char *name = chs_record_field_name(x->r, i);
		const char *g = chs_schema_group(type, name, NULL);
		int first = 1;

		if (!chs_record_field_under_review(x->r, i) || (p && choice_of(p, name)))
			continue;
		if (!g) {
			put_conflict(rs, x, i, ++n);
			continue;
		}
		/* a group is drawn at its first field under review */
		for (j = 0; j < i && first; j++)
			if (chs_record_field_under_review(x->r, j) &&
			    !(p && choice_of(p, chs_record_field_name(x->r, j))) &&
			    chs_schema_group(type, chs_record_field_name(x->r, j), NULL) &&
			    strcmp(chs_schema_group(type, chs_record_field_name(x->r, j), NULL),
				   g) == 0)
				first = 0;
		if (!first)
			continue;
		desk_put(rs, "<div class=\"merge-group\" data-group=\"");
		desk_text(rs, g);
		desk_put(rs, "\">\n<p class=\"group-note\">These fields were written together (");
		desk_text(rs, g);
		desk_put(rs, ") and settle together: taking a change for one takes it for the others"
			     " that change wrote, unless you choose them otherwise.</p>\n");
		for (j = i; j < nf; j++) {
			const char *n2 = chs_record_field_name(x->r, j);
			const char *g2 = chs_schema_group(type, n2, NULL);

			if (chs_record_field_under_review(x->r, j) && g2 && strcmp(g, g2) == 0 &&
			    !(p && choice_of(p, n2)))
				put_conflict(rs, x, j, ++n);
		}
		desk_put(rs, "</div>\n");
	}
	if (chs_record_removal_under_review(x->r) && !(p && choice_of(p, REMOVAL)))
		put_conflict(rs, x, (size_t)-1, ++n);
}

/* form#resolve with the conflicts not chosen in `p` (all with NULL). */
static void put_resolve_form(desk_resp *rs, const desk_req *rq, const conflict_ctx *x,
			     const plan *p)
{
	desk_printf(rs, "<form id=\"resolve\" method=\"post\" action=\"/review/%s/preview\">\n",
		    chs_record_id(x->r));
	desk_csrf_field(rs, rq);
	put_carried(rs, p);
	put_conflicts(rs, x, p);
	desk_put(rs, "</form>\n");
	if (x->can_take)
		put_typed_forms(rs, rq, x->r, p);
}

/* table#context: the fields not under review, and what the record is. */
static void put_context(desk_resp *rs, const chs_record *r)
{
	size_t i, n = chs_record_field_count(r);
	char link[33];

	desk_put(rs, "<h2 id=\"context-title\">The rest of the record</h2>\n"
		     "<table id=\"context\" aria-labelledby=\"context-title\">\n"
		     "<tr><th scope=\"col\">Field</th><th scope=\"col\">Value</th></tr>\n");
	desk_printf(rs, "<tr><th scope=\"row\">record</th><td>");
	put_record_link(rs, chs_record_id(r));
	desk_put(rs, " (");
	desk_text(rs, chs_record_type(r));
	desk_printf(rs, "%s)</td></tr>\n", chs_record_deleted(r) ? ", removed for now" : "");
	for (i = 0; i < n; i++) {
		if (chs_record_field_under_review(r, i))
			continue;
		desk_put(rs, "<tr><th scope=\"row\">");
		desk_text(rs, chs_record_field_name(r, i));
		desk_put(rs, "</th><td>");
		if (json_id(chs_record_field_value(r, i), link))
			put_record_link(rs, link);
		else
			desk_value(rs, chs_record_field_value(r, i));
		desk_put(rs, "</td></tr>\n");
	}
	desk_put(rs, "</table>\n");
}

static void put_record_head(desk_resp *rs, const chs_record *r)
{
	char pat[33];

	record_patient(r, pat);
	desk_put(rs, "<p class=\"record-head\">");
	desk_text(rs, chs_record_type(r));
	desk_put(rs, " record ");
	put_record_link(rs, chs_record_id(r));
	if (pat[0] && strcmp(pat, chs_record_id(r)) != 0) {
		desk_put(rs, " of patient ");
		put_record_link(rs, pat);
	}
	desk_put(rs, "</p>\n");
}

/* ------------------------------------------------------------------ */
/* GET /review                                                           */

/* Whether a record passes the queue's patient filter: its patient's id
 * (or its own, for a patient) begins with the prefix given. */
static int patient_match(const chs_record *r, const char *prefix)
{
	char pat[33], want[33];
	size_t i, n = strlen(prefix);

	if (n == 0)
		return 1;
	if (n > 32)
		return 0;
	for (i = 0; i <= n; i++)
		want[i] = (char)(prefix[i] >= 'A' && prefix[i] <= 'F' ? prefix[i] + 32 : prefix[i]);
	record_patient(r, pat);
	return strncmp(pat, want, n) == 0 || strncmp(chs_record_id(r), want, n) == 0;
}

/* The distinct changes among a record's candidates. */
static size_t distinct_cands(const chs_record *r, const chs_record_candidate **out, size_t max)
{
	size_t i, k, j, n = 0, nf = chs_record_field_count(r);

	for (i = 0; i <= nf; i++) {
		size_t nc = i < nf ? chs_record_field_candidate_count(r, i)
				   : chs_record_removal_count(r);

		for (k = 0; k < nc; k++) {
			const chs_record_candidate *c = i < nf ? chs_record_field_candidate(r, i, k)
							       : chs_record_removal_candidate(r, k);

			for (j = 0; j < n && strcmp(out[j]->change, c->change) != 0; j++)
				;
			if (j == n && n < max)
				out[n++] = c;
		}
	}
	return n;
}

static int site_match(const chs_record *r, const chs_device_roster *ro, const char *site)
{
	const chs_record_candidate *c[64];
	size_t k, n = distinct_cands(r, c, 64);

	if (!site[0])
		return 1;
	for (k = 0; k < n; k++)
		if (strcmp(desk_site_of(ro, c[k]->device), site) == 0)
			return 1;
	return 0;
}

static void put_queue_row(desk_resp *rs, const chs_record *r, const chs_device_roster *ro)
{
	const chs_record_candidate *c[64], *latest = NULL;
	size_t i, k, n = distinct_cands(r, c, 64), nf = chs_record_field_count(r), said = 0;
	char pat[33];

	record_patient(r, pat);
	desk_printf(rs, "<tr class=\"queue-item\" data-record=\"%s\">\n<td><a href=\"/review/%s\">"
		    "%.12s</a></td>\n<td>", chs_record_id(r), chs_record_id(r), chs_record_id(r));
	desk_text(rs, chs_record_type(r));
	desk_put(rs, "</td>\n<td>");
	if (pat[0])
		put_record_link(rs, pat);
	desk_put(rs, "</td>\n<td class=\"under-review\">");
	for (i = 0; i < nf; i++)
		if (chs_record_field_under_review(r, i)) {
			desk_put(rs, said++ ? ", " : "");
			desk_text(rs, chs_record_field_name(r, i));
		}
	if (chs_record_removal_under_review(r))
		desk_put(rs, said++ ? ", its removal" : "its removal");
	desk_printf(rs, "</td>\n<td>%zu</td>\n<td>", n);
	for (k = 0, said = 0; k < n; k++) {
		const char *site = desk_site_of(ro, c[k]->device);
		size_t j;

		for (j = 0; j < k && strcmp(desk_site_of(ro, c[j]->device), site) != 0; j++)
			;
		if (j == k && site[0]) {
			desk_put(rs, said++ ? ", " : "");
			desk_text(rs, site);
		}
		if (!latest || strcmp(c[k]->time, latest->time) > 0)
			latest = c[k];
	}
	desk_put(rs, "</td>\n<td>");
	if (latest)
		desk_time(rs, latest->time);
	desk_put(rs, "</td>\n</tr>\n");
}

static void put_filter(desk_resp *rs, const char *patient, const char *type, const char *site,
		       const chs_device_roster *ro)
{
	const chs_type_def *t;
	size_t i;

	desk_put(rs, "<form id=\"filter\" method=\"get\" action=\"/review\">\n"
		     "<label for=\"f-patient\">Patient</label> <input type=\"text\" id=\"f-patient\""
		     " name=\"patient\" value=\"");
	desk_text(rs, patient);
	desk_put(rs, "\">\n<label for=\"f-type\">Type</label> <input type=\"text\" id=\"f-type\""
		     " name=\"type\" list=\"types\" value=\"");
	desk_text(rs, type);
	desk_put(rs, "\">\n<label for=\"f-site\">Site</label> <input type=\"text\" id=\"f-site\""
		     " name=\"site\" list=\"sites\" value=\"");
	desk_text(rs, site);
	desk_put(rs, "\">\n<button type=\"submit\">Filter</button>\n<datalist id=\"types\">");
	for (t = chs_schema_types(); t->name; t++)
		desk_printf(rs, "<option value=\"%s\"></option>", t->name);
	desk_put(rs, "</datalist>\n<datalist id=\"sites\">");
	for (i = 0; ro && i < chs_device_roster_count(ro); i++) {
		desk_put(rs, "<option value=\"");
		desk_text(rs, chs_device_roster_get(ro, i)->site);
		desk_put(rs, "\"></option>");
	}
	desk_put(rs, "</datalist>\n</form>\n");
}

typedef struct queue {
	chs_access *a;
	chs_record_list *l; /* the records shown, whole */
	chs_device_roster *ro;
	const char *patient, *type, *site; /* the filters */
	size_t total;                      /* under review, shown or not */
} queue;

static void queue_dispose(queue *q)
{
	chs_access_free(q->a);
	chs_record_list_free(q->l);
	chs_device_roster_free(q->ro);
}

/* Whether record `r` (whole: its candidates, from which sites) passes
 * the queue's filters. */
static int queue_keep(const chs_record *r, void *arg)
{
	queue *q = arg;

	q->total++;
	return (!q->type[0] || strcmp(chs_record_type(r), q->type) == 0) &&
	       patient_match(r, q->patient) && site_match(r, q->ro, q->site);
}

/* The records under review that pass the filters, each read whole; the
 * page's access names those and no other. */
static int queue_read(queue *q, chs_store *s)
{
	int err;

	if ((err = chs_access_begin(&q->a, s, ACTION)) < 0 ||
	    (err = desk_roster_load(s, &q->ro)) < 0 ||
	    (err = chs_access_add_review(q->a, &q->l, s, queue_keep, q)) < 0)
		return err;
	return 0;
}

int desk_page_review_queue(desk_req *rq, desk_resp *rs)
{
	const char *patient = desk_arg(rq, "patient"), *type = desk_arg(rq, "type");
	const char *site = desk_arg(rq, "site");
	queue q = { 0 };
	chs_access *a;
	size_t i;
	int err;

	q.patient = patient = patient ? patient : "";
	q.type = type = type ? type : "";
	q.site = site = site ? site : "";
	if ((err = queue_read(&q, rq->session->store)) < 0)
		goto cleanup;
	a = q.a;
	q.a = NULL;
	if ((err = desk_session_keep_view(rq->session, a, rs->view)) < 0)
		goto cleanup;
	desk_page_begin(rs, rq, "Review queue");
	put_filter(rs, patient, type, site, q.ro);
	desk_printf(rs, "<p>%zu of %zu records under review%s.</p>\n", chs_record_list_count(q.l),
		    q.total,
		    patient[0] || type[0] || site[0] ? " pass the filter" : ", oldest first");
	desk_put(rs, "<table id=\"queue\">\n<caption>Oldest first</caption>\n<tr><th scope=\"col\">"
		     "Record</th><th scope=\"col\">Type</th><th scope=\"col\">Patient</th>"
		     "<th scope=\"col\">Under review</th><th scope=\"col\">Candidates</th>"
		     "<th scope=\"col\">Sites</th><th scope=\"col\">Since</th></tr>\n");
	for (i = 0; i < chs_record_list_count(q.l); i++)
		put_queue_row(rs, chs_record_list_get(q.l, i), q.ro);
	desk_put(rs, "</table>\n");
	desk_page_end(rs, rq);
cleanup:
	queue_dispose(&q);
	return err;
}

/* ------------------------------------------------------------------ */
/* GET /review/ID                                                        */

/* Whether the page may offer to settle `r`: records of a type settled
 * only by their own command are shown, with that command named. */
static int settle_here(desk_resp *rs, const chs_record *r)
{
	if (chs_schema_refuse_edit(chs_record_type(r), chs_record_id(r)) == 0)
		return 1;
	desk_put(rs, "<p class=\"error\" role=\"alert\">");
	desk_text(rs, chs_error_last());
	desk_put(rs, "</p>\n");
	chs_error_clear();
	return 0;
}

static int conflicts_render(desk_resp *rs, const desk_req *rq, const shown *w, const plan *p)
{
	lineage L;
	conflict_ctx x = { rq->session->store, w->r, w->ro, NULL, 1 };
	int err;

	if ((err = lineage_init(&L, w->h)) < 0) {
		lineage_dispose(&L);
		return err;
	}
	x.L = &L;
	x.can_take = settle_here(rs, w->r);
	if (x.can_take)
		desk_put(rs, "<p class=\"keys\">Keys: <kbd>j</kbd> / <kbd>k</kbd> the next / previous"
			     " conflict; <kbd>&#8592;</kbd> / <kbd>&#8594;</kbd> take its left / right"
			     " candidate (then check the change before it is signed).</p>\n");
	put_resolve_form(rs, rq, &x, p);
	lineage_dispose(&L);
	return 0;
}

int desk_page_review_record(desk_req *rq, desk_resp *rs)
{
	shown w;
	char id[33];
	int err;

	if ((err = path_record(rq, "", id)) < 0)
		return err;
	if ((err = shown_read(&w, rq->session->store, id, 1)) < 0 ||
	    (err = shown_keep(&w, rq, rs)) < 0)
		goto cleanup;
	desk_page_begin(rs, rq, "Review a record");
	put_record_head(rs, w.r);
	if (!chs_record_under_review(w.r))
		desk_put(rs, "<p class=\"settled\">This record is not under review (it may have been"
			     " settled meanwhile). <a href=\"/review\">Back to the queue</a></p>\n");
	else if ((err = conflicts_render(rs, rq, &w, NULL)) < 0)
		goto cleanup;
	put_context(rs, w.r);
	desk_page_end(rs, rq);
cleanup:
	shown_dispose(&w);
	return err;
}

/* ------------------------------------------------------------------ */
/* POST /review/ID/preview                                               */

static void put_effect_value(desk_resp *rs, const char *value, int typed)
{
	if (typed && value && strcmp(value, "null") != 0) {
		desk_put(rs, "<q class=\"value\">");
		desk_value(rs, value);
		desk_put(rs, "</q> (typed)");
	} else if (!value || strcmp(value, "null") == 0) {
		desk_put(rs, "cleared");
	} else {
		desk_put(rs, "<span class=\"value\">");
		desk_value(rs, value);
		desk_put(rs, "</span>");
	}
}

/* One field under review: what the change writes to it, as
 * chs_review_resolve() settles it (a choice; else, taking one change,
 * that change's value; else the value shown now, kept). A typed value is
 * shown as signing writes it; once signed (`after`, the record read
 * again), as it was written. */
static void put_effect_field(desk_resp *rs, const chs_record *r, size_t i, const plan *p,
			     const chs_record *after)
{
	const char *name = chs_record_field_name(r, i);
	const choice *c = choice_of(p, name);
	const chs_record_candidate *tk = p->take ? field_cand(r, i, p->take->change) : NULL;

	desk_put(rs, "<li class=\"effect\" data-field=\"");
	desk_text(rs, name);
	desk_put(rs, "\"><strong>");
	desk_text(rs, name);
	desk_put(rs, "</strong>: ");
	if (c && c->typed) {
		desk_put(rs, "set to ");
		put_effect_value(rs, after ? chs_record_field(after, name) : c->normal, 1);
	} else if (c || tk) {
		const chs_record_candidate *cd = c ? c->cand : tk;

		desk_put(rs, cd->value ? "set to " : "");
		put_effect_value(rs, cd->value, 0);
		desk_put(rs, ", the value of change ");
		put_short(rs, cd->change);
		desk_put(rs, c && c->by_group ? " (its merge group settles together)" : "");
	} else {
		desk_put(rs, "nothing chosen: keeps the value shown now, ");
		put_effect_value(rs, chs_record_field_value(r, i), 0);
	}
	desk_put(rs, "</li>\n");
}

static void put_effect_removal(desk_resp *rs, const chs_record *r, const plan *p)
{
	const chs_record_candidate *tk = p->take ? removal_cand(r, p->take->change) : NULL;

	desk_put(rs, "<li class=\"effect\" data-field=\"" REMOVAL "\"><strong>the record</strong>: ");
	if (tk)
		desk_put(rs, tk->removed ? "removed" : "kept");
	else if (p->take)
		desk_put(rs, chs_record_deleted(r) ? "stays removed (as shown now)"
						    : "kept (as shown now)");
	else
		desk_put(rs, "kept (values given keep it)");
	desk_put(rs, "</li>\n");
}

/* #change-preview's list: the record, its heads as parents, and every
 * field the change writes. */
static void put_effect(desk_resp *rs, const chs_record *r, const plan *p,
		       const chs_record *after)
{
	size_t i;

	desk_put(rs, "<dl>\n<dt>Record</dt><dd>");
	desk_text(rs, chs_record_type(r));
	desk_put(rs, " ");
	put_record_link(rs, chs_record_id(r));
	desk_put(rs, "</dd>\n<dt>Parents (the heads it resolves)</dt><dd><ul class=\"heads\">");
	for (i = 0; i < chs_record_head_count(r); i++) {
		desk_put(rs, "<li>");
		put_short(rs, chs_record_head(r, i));
		desk_put(rs, "</li>");
	}
	desk_put(rs, "</ul></dd>\n<dt>What it writes</dt><dd>");
	if (p->take) {
		desk_put(rs, "<p class=\"take-whole\">takes change ");
		put_short(rs, p->take->change);
		desk_put(rs, " by ");
		put_who(rs, p->take->user);
		desk_put(rs, "</p>");
	}
	desk_put(rs, "<ul class=\"effects\">\n");
	for (i = 0; i < chs_record_field_count(r); i++)
		if (chs_record_field_under_review(r, i))
			put_effect_field(rs, r, i, p, after);
	if (chs_record_removal_under_review(r))
		put_effect_removal(rs, r, p);
	desk_put(rs, "</ul></dd>\n</dl>\n");
}

/* Fields under review the choice leaves to their value shown now. */
static size_t unchosen(const chs_record *r, const plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < chs_record_field_count(r); i++)
		if (chs_record_field_under_review(r, i) &&
		    !choice_of(p, chs_record_field_name(r, i)) &&
		    !(p->take && field_cand(r, i, p->take->change)))
			n++;
	return n;
}

static int preview_render(desk_resp *rs, const desk_req *rq, const shown *w, const plan *p)
{
	chs_buf heads;
	int err;

	if ((err = heads_join(w->r, &heads)) < 0)
		return err;
	desk_page_begin(rs, rq, "The change to sign");
	desk_put(rs, "<section id=\"change-preview\""
		     " aria-labelledby=\"preview-title\">\n<h2 id=\"preview-title\">What will be"
		     " signed, as you</h2>\n");
	put_effect(rs, w->r, p, NULL);
	desk_put(rs, "</section>\n");
	desk_printf(rs, "<form id=\"confirm\" method=\"post\" action=\"/review/%s/resolve\">\n",
		    chs_record_id(w->r));
	desk_csrf_field(rs, rq);
	put_carried(rs, p);
	desk_printf(rs, "<input type=\"hidden\" name=\"heads\" value=\"%s\">\n"
		    "<button type=\"submit\" id=\"sign\">Sign this change</button>\n"
		    "<a href=\"/review/%s\">Choose again</a>\n</form>\n", heads.ptr,
		    chs_record_id(w->r));
	chs_buf_dispose(&heads);
	if (unchosen(w->r, p) > 0 || (chs_record_removal_under_review(w->r) && !p->take &&
				       !choice_of(p, REMOVAL))) {
		desk_put(rs, "<h2>Not chosen yet</h2>\n<p>Signing now keeps the values shown now for"
			     " these; choose them here to sign them with the rest.</p>\n");
		err = conflicts_render(rs, rq, w, p);
	}
	put_context(rs, w->r);
	desk_page_end(rs, rq);
	return err;
}

int desk_page_review_preview(desk_req *rq, desk_resp *rs)
{
	shown w;
	plan p = { 0 };
	char id[33];
	int err;

	if ((err = path_record(rq, "/preview", id)) < 0)
		return err;
	if ((err = shown_read(&w, rq->session->store, id, 1)) < 0)
		goto cleanup;
	if (!chs_record_under_review(w.r)) {
		err = chs_error_set(CHS_EINVALID, "record %.12s is not under review (it may have"
				    " been settled meanwhile)", chs_record_id(w.r));
		goto cleanup;
	}
	if ((err = chs_schema_refuse_edit(chs_record_type(w.r), chs_record_id(w.r))) < 0 ||
	    (err = plan_read(rq, w.r, &p)) < 0 || (err = shown_keep(&w, rq, rs)) < 0)
		goto cleanup;
	err = preview_render(rs, rq, &w, &p);
cleanup:
	plan_dispose(&p);
	shown_dispose(&w);
	return err;
}

/* ------------------------------------------------------------------ */
/* POST /review/ID/resolve                                               */

static void put_changed_meanwhile(desk_resp *rs, const desk_req *rq, const chs_record *r)
{
	rs->status = 409;
	desk_page_begin(rs, rq, "Nothing was signed: the record changed");
	desk_printf(rs, "<section id=\"changed-meanwhile\">\n"
		    "<p class=\"error\" role=\"alert\">The record changed after the preview (someone"
		    " else may have settled or edited it, or a sync brought new changes): nothing"
		    " was signed.</p>\n<p><a href=\"/review/%s\">Open the record again</a> to see"
		    " it as it is now.</p>\n</section>\n", chs_record_id(r));
	desk_page_end(rs, rq);
}

/* A refusal of the signing (`err`: CHS_EINVALID, a form check; or
 * CHS_EDENIED), its message shown with a way back. */
static void put_refused(desk_resp *rs, const desk_req *rq, int err, const char *id)
{
	/* the message is read whole before the page's own calls may set
	 * another (a form check's names the value: it may be long) */
	char *msg = chs_strdup(chs_error_last());

	rs->status = err == CHS_EDENIED ? 403 : 400;
	desk_page_begin(rs, rq, "Nothing was signed");
	desk_put(rs, "<p class=\"error\" role=\"alert\">");
	desk_text(rs, msg ? msg : "the change was refused");
	desk_printf(rs, "</p>\n<p><a href=\"/review/%s\">Back to the record</a></p>\n", id);
	desk_page_end(rs, rq);
	free(msg);
}

/* The change was signed, but the record cannot be shown again (its
 * access could not be recorded or held): say it was signed, and which
 * heads it settled, so nobody signs it twice; nothing of the record. */
static void put_signed_unshown(desk_resp *rs, const desk_req *rq, const char *id)
{
	char *msg = chs_strdup(chs_error_last());
	const char *heads = desk_form(rq, "heads");

	desk_page_begin(rs, rq, "Signed");
	desk_printf(rs, "<section id=\"resolved\" aria-labelledby=\"resolved-title\">\n"
			"<h2 id=\"resolved-title\">The change signed</h2>\n<p>The change settling"
			" record <code>%s</code> was signed (its parents: the heads previewed, ", id);
	desk_text(rs, heads ? heads : "");
	desk_put(rs, "). Do not sign it again.</p>\n<p class=\"error\" role=\"alert\">The record"
		     " cannot be shown again now: ");
	desk_text(rs, msg ? msg : "it could not be read");
	desk_printf(rs, "</p>\n<p><a href=\"/record/%s\">Its history</a> &#183; <a href=\"/review\">"
			"The queue</a></p>\n</section>\n", id);
	desk_page_end(rs, rq);
	free(msg);
}

/* The next record in the queue after `id` (else the first other one);
 * "" when none. Ids only: nothing of them is shown. */
static void next_in_queue(chs_store *s, const char *id, char out[33])
{
	chs_record_list *l = NULL;
	size_t i, n, at = 0;

	out[0] = '\0';
	if (chs_review_list(&l, s) < 0) {
		chs_error_clear();
		return;
	}
	n = chs_record_list_count(l);
	for (i = 0; i < n; i++)
		if (strcmp(chs_record_id(chs_record_list_get(l, i)), id) == 0)
			at = i + 1;
	for (i = 0; i < n && !out[0]; i++) {
		const char *x = chs_record_id(chs_record_list_get(l, (at + i) % n));

		if (strcmp(x, id) != 0)
			snprintf(out, 33, "%s", x);
	}
	chs_record_list_free(l);
}

static void put_resolved(desk_resp *rs, const desk_req *rq, const chs_record *before,
			 const chs_record *after, const plan *p)
{
	char next[33];
	size_t i, said = 0;

	next_in_queue(rq->session->store, chs_record_id(after), next);
	desk_page_begin(rs, rq, "Signed");
	desk_put(rs, "<section id=\"resolved\" aria-labelledby=\"resolved-title\">\n"
		     "<h2 id=\"resolved-title\">The change signed</h2>\n");
	put_effect(rs, before, p, after);
	if (chs_record_under_review(after)) {
		desk_put(rs, "<p class=\"still-review\">The record, read again, is still under"
			     " review: ");
		for (i = 0; i < chs_record_field_count(after); i++)
			if (chs_record_field_under_review(after, i)) {
				desk_put(rs, said++ ? ", " : "");
				desk_text(rs, chs_record_field_name(after, i));
			}
		desk_printf(rs, "%s (changes that arrived meanwhile). <a href=\"/review/%s\">"
			    "Review it again</a></p>\n", chs_record_removal_under_review(after)
			    ? (said ? ", its removal" : "its removal") : "", chs_record_id(after));
	} else {
		desk_put(rs, "<p class=\"settled\">The record, read again, is no longer under"
			     " review.</p>\n");
	}
	desk_printf(rs, "<p><a href=\"/record/%s\">Its history</a>", chs_record_id(after));
	if (next[0])
		desk_printf(rs, " &#183; <a class=\"next\" href=\"/review/%s\">Next record in the"
			    " queue</a>", next);
	desk_put(rs, " &#183; <a href=\"/review\">The queue</a></p>\n</section>\n");
	put_context(rs, after);
	desk_page_end(rs, rq);
}

/* 1 when the record's heads are still those previewed, else 0. */
static int heads_same(const desk_req *rq, const chs_record *r, int *same)
{
	const char *want = desk_form(rq, "heads");
	chs_buf heads;
	int err;

	*same = 0;
	if ((err = heads_join(r, &heads)) < 0)
		return err;
	*same = want && strcmp(want, heads.ptr) == 0;
	chs_buf_dispose(&heads);
	return 0;
}

int desk_page_review_resolve(desk_req *rq, desk_resp *rs)
{
	chs_record *after = NULL;
	shown w;
	plan p = { 0 };
	char id[33];
	int err, same;

	if ((err = path_record(rq, "/resolve", id)) < 0)
		return err;
	if ((err = shown_read(&w, rq->session->store, id, 0)) < 0 ||
	    (err = heads_same(rq, w.r, &same)) < 0)
		goto cleanup;
	if (!same) {
		if ((err = shown_keep(&w, rq, rs)) == 0)
			put_changed_meanwhile(rs, rq, w.r);
		goto cleanup;
	}
	/* the heads are checked again inside the write: a sync or another
	 * process may add a change between this look and the write */
	if ((err = plan_read(rq, w.r, &p)) == 0)
		err = chs_review_resolve_at(rq->session->store, chs_record_id(w.r),
					    desk_form(rq, "heads"), p.e, p.ne,
					    p.take ? p.take->change : NULL);
	if (err == CHS_EEXISTS) {
		chs_error_clear();
		if ((err = shown_keep(&w, rq, rs)) == 0)
			put_changed_meanwhile(rs, rq, w.r);
		goto cleanup;
	}
	if (err == CHS_EINVALID || err == CHS_EDENIED) {
		/* refused: nothing written, nothing of the record shown */
		put_refused(rs, rq, err, chs_record_id(w.r));
		err = 0;
		goto cleanup;
	}
	if (err < 0)
		goto cleanup;
	/* signed: from here the page says so, whatever else fails */
	if (chs_access_add_show(w.a, &after, rq->session->store, id) < 0 ||
	    shown_keep(&w, rq, rs) < 0) {
		put_signed_unshown(rs, rq, chs_record_id(w.r));
		chs_error_clear();
		goto cleanup;
	}
	put_resolved(rs, rq, w.r, after, &p);
cleanup:
	chs_record_free(after);
	plan_dispose(&p);
	shown_dispose(&w);
	return err;
}
