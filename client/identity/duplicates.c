/*
 * client/identity/duplicates.c - patients that are likely one person.
 *
 * The live patients (not removed, not merged away) are read in one
 * query. Candidate pairs come from blocks, never from every pair: the
 * patients that share a date of birth, a chart number key
 * (chs_text_id_key), the last 10 digits of a phone number (at least 7
 * digits) or a member id key. A block of more than BLOCK_MAX patients is
 * left out: a value a thousand patients share is a placeholder
 * ("1900-01-01", "000-0000"), not evidence, and its pairs alone would
 * cost half a million comparisons. Each candidate pair is then scored on
 * all the evidence it has, once, whichever blocks hold it (the first
 * kind of block that holds it gives it; nothing is collected but the
 * pairs reported):
 *
 *   evidence       weight
 *   chart_number   0.60   chart number keys equal (two sites gave one
 *                         number: one site's entry refuses it)
 *   name_dob       0.60 x JW   dates of birth equal, the name keys'
 *                         Jaro-Winkler JW >= CHS_DUP_NAME_MIN (0.88)
 *   swapped_name   0.55 x JW'  dates of birth equal, names not alike as
 *                         written but alike with their words in order
 *                         (JW' of the sorted words >= CHS_DUP_NAME_MIN):
 *                         "Smith John" and "John Smith"
 *   member_id      0.55   member id keys equal
 *   phone          0.50   phone digits equal
 *   (member_id and phone weigh 0.20 each when both dates of birth are
 *   known and differ: a dependant on the subscriber's member id, a
 *   household's phone; the two together stay under the minimum)
 *
 * The score is the sum, capped at 1; a pair under the minimum score
 * (CHS_DUP_SCORE_MIN, 0.50) is not reported, so one piece of evidence of
 * weight 0.50 or more is enough to show a pair to a person, and a shared
 * phone or member id between two people born on different days is not.
 * A pair marked "not the same person" (link.c) is never reported.
 *
 * Name keys are chs_text_name_key(): accents, case, punctuation and
 * spacing aside. Jaro-Winkler works on their code points (the first
 * NAME_CP_MAX of each).
 */
#include "identity_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/text/text.h"
#include "client/util/util.h"
#include "crypto/crypto.h"

#define BLOCK_MAX 1000     /* patients in one block we compare pairwise */
#define NAME_CP_MAX 64     /* code points of a name key Jaro-Winkler reads */
#define PHONE_DIGITS_MIN 7 /* fewer digits is not a phone number */
#define PHONE_DIGITS_KEPT 10 /* the last ones: a country code aside */
#define EVIDENCE_MAX 5

#define W_CHART 0.60
#define W_NAME_DOB 0.60
#define W_SWAPPED 0.55
#define W_MEMBER 0.55
#define W_MEMBER_OTHER_DOB 0.20
#define W_PHONE 0.50
#define W_PHONE_OTHER_DOB 0.20

/* One live patient; strings are offsets into the report's arena until
 * the load is done, then pointers. */
typedef struct patient {
	unsigned char id[16];
	char hex[33];
	size_t name, dob, mrn, phone, site;  /* shown */
	size_t name_key, mrn_key, phone_key, member_key; /* compared */
} patient;

typedef struct pair {
	chs_duplicate_pair pub;
	const char *evidence[EVIDENCE_MAX];
} pair;

struct chs_duplicates_report {
	patient *p;
	size_t np, capp;
	chs_buf arena;      /* every string of every patient, NUL-terminated */
	pair *pairs;
	size_t npairs, cappairs;
	char **details;     /* each pair's detail, in the order found */
	size_t capdetails;
};

static int nomem(void)
{
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

static const char *str(const chs_duplicates_report *r, size_t off)
{
	return r->arena.ptr + off;
}

/* Append `s` (`len` bytes) and its NUL to the arena; its offset in *off. */
static int keep(chs_duplicates_report *r, const char *s, size_t len, size_t *off)
{
	int err;

	*off = r->arena.len;
	if ((err = chs_buf_put(&r->arena, s ? s : "", s ? len : 0)) < 0)
		return err;
	return chs_buf_put(&r->arena, "", 1);
}

/* Append a key made by `fn` from `s`; "" when `s` does not read as text
 * (a synced value is never refused: it just matches nothing). */
static int keep_key(chs_duplicates_report *r, int (*fn)(chs_buf *, const char *, size_t),
		    const char *s, size_t *off)
{
	chs_buf k;
	int err;

	chs_buf_init(&k, 0);
	if (s && (err = fn(&k, s, strlen(s))) < 0) {
		chs_buf_dispose(&k);
		if (err != CHS_EINVALID)
			return err;
		chs_error_clear();
	}
	err = keep(r, k.ptr, k.len, off);
	chs_buf_dispose(&k);
	return err;
}

/* The phone's key: the last PHONE_DIGITS_KEPT of its digits (after NFKC,
 * so fullwidth digits count), "" when fewer than PHONE_DIGITS_MIN. */
static int keep_phone(chs_duplicates_report *r, const char *s, size_t *off)
{
	char digits[PHONE_DIGITS_KEPT];
	size_t n = 0, i, start;
	chs_buf k;
	int err = 0;

	chs_buf_init(&k, 0);
	if (s && (err = chs_text_id_key(&k, s, strlen(s))) < 0) {
		if (err != CHS_EINVALID) {
			chs_buf_dispose(&k);
			return err;
		}
		chs_error_clear();
	}
	for (i = 0; i < k.len; i++)
		if (k.ptr[i] >= '0' && k.ptr[i] <= '9') {
			if (n == PHONE_DIGITS_KEPT)
				memmove(digits, digits + 1, --n);
			digits[n++] = k.ptr[i];
		}
	chs_buf_dispose(&k);
	start = n >= PHONE_DIGITS_MIN ? 0 : n;
	return keep(r, digits + start, n - start, off);
}

/* ------------------------------------------------------------------ */
/* Reading the patients: one query                                      */

/* A device's site, each device asked for once. */
typedef struct site_cache {
	struct { char device[33]; size_t off; } *v;
	size_t n, cap;
} site_cache;

static int site_of(chs_duplicates_report *r, chs_store *s, site_cache *c, const char *device,
		   size_t *off)
{
	char *site = NULL;
	size_t i;
	int err;

	if (!device || strlen(device) != 32)
		return keep(r, "", 0, off);
	for (i = 0; i < c->n; i++)
		if (strcmp(c->v[i].device, device) == 0) {
			*off = c->v[i].off;
			return 0;
		}
	if ((err = chs_store__device_site(s, device, &site)) < 0)
		return err;
	err = keep(r, site, site ? strlen(site) : 0, off);
	free(site);
	if (err < 0 || (err = CHS_ARRAY_GROW(c->v, c->cap, c->n + 1)) < 0)
		return err;
	memcpy(c->v[c->n].device, device, 33);
	c->v[c->n++].off = *off;
	return 0;
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int add_patient(chs_duplicates_report *r, chs_store *s, site_cache *c,
		       sqlite3_stmt *st)
{
	patient *p;
	int err;

	if (sqlite3_column_bytes(st, 0) != 16)
		return 0;
	if ((err = CHS_ARRAY_GROW(r->p, r->capp, r->np + 1)) < 0)
		return err;
	p = &r->p[r->np];
	memcpy(p->id, sqlite3_column_blob(st, 0), 16);
	chs_hex(p->hex, p->id, 16);
#define TEXT(i) col(st, i), col(st, i) ? strlen(col(st, i)) : 0
	if ((err = keep(r, TEXT(1), &p->name)) < 0 || (err = keep(r, TEXT(2), &p->dob)) < 0 ||
	    (err = keep(r, TEXT(3), &p->mrn)) < 0 || (err = keep(r, TEXT(4), &p->phone)) < 0 ||
	    (err = keep_key(r, chs_text_name_key, col(st, 1), &p->name_key)) < 0 ||
	    (err = keep_key(r, chs_text_id_key, col(st, 3), &p->mrn_key)) < 0 ||
	    (err = keep_phone(r, col(st, 4), &p->phone_key)) < 0 ||
	    (err = keep_key(r, chs_text_id_key, col(st, 5), &p->member_key)) < 0 ||
	    (err = site_of(r, s, c, col(st, 6), &p->site)) < 0)
		return err;
#undef TEXT
	r->np++;
	return 0;
}

/* The fields as text (a value that is not a string reads as NULL), and
 * the device of the patient's create change, for its site. */
#define FIELD(f) "CASE WHEN json_type(t, '$.fields." f "') = 'text'" \
		 " THEN json_extract(t, '$.fields." f "') END"
static const char load_sql[] =
	"SELECT id, " FIELD("name") ", " FIELD("dob") ", " FIELD("mrn") ", "
	FIELD("phone") ", " FIELD("member_id") ","
	" " CHS_IDENTITY__CREATED("p.id", "device")
	" FROM (SELECT id, CAST(state AS TEXT) AS t FROM records"
	"       WHERE type = 'patient' AND NOT deleted AND merged_into IS NULL) AS p"
	" ORDER BY id";
#undef FIELD

static int load(chs_duplicates_report *r, chs_store *s)
{
	sqlite3_stmt *st = NULL;
	site_cache c = { 0 };
	int err, rc;

	if ((err = chs_store__prepare(s, &st, load_sql)) < 0)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((err = add_patient(r, s, &c, st)) < 0)
			break;
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading the patients");
	chs_store__finish(s, st);
	free(c.v);
	return err;
}

/* ------------------------------------------------------------------ */
/* Blocks and candidate pairs                                           */

typedef struct entry {
	const char *key;
	uint32_t pat;
	uint32_t kind;
} entry;

static int by_key(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if ((c = strcmp(x->key, y->key)) != 0)
		return c;
	return x->pat < y->pat ? -1 : x->pat > y->pat;
}

#define KINDS 4 /* blocks by: date of birth, chart number, phone, member id */

static const char *key_of(const chs_duplicates_report *r, const patient *p, unsigned kind)
{
	const size_t off[KINDS] = { p->dob, p->mrn_key, p->phone_key, p->member_key };

	return str(r, off[kind]);
}

/* Whether patients x and y, in a block of `kind`, also share a block of
 * an earlier kind that was compared (not over BLOCK_MAX): the pair was
 * given there. `bsize[p][k]` is the size of p's block of kind k. */
static int given_before(const chs_duplicates_report *r, const uint32_t (*bsize)[KINDS],
			uint32_t x, uint32_t y, unsigned kind)
{
	const char *kx;
	unsigned k;

	for (k = 0; k < kind; k++)
		if (bsize[x][k] <= BLOCK_MAX && *(kx = key_of(r, &r->p[x], k)) &&
		    strcmp(kx, key_of(r, &r->p[y], k)) == 0)
			return 1;
	return 0;
}

/* The blocks: every patient once per non-empty key, sorted by kind, key
 * and patient (so within a block, patients come in id order). */
static int blocks(const chs_duplicates_report *r, entry **out, size_t *n,
		  uint32_t (**bsize)[KINDS])
{
	entry *e;
	size_t ne = 0, i, j, end;
	unsigned k;

	*out = NULL;
	*bsize = NULL;
	if (r->np > UINT32_MAX || !(e = chs_malloc((r->np * KINDS + 1) * sizeof(*e))))
		return nomem();
	if (!(*bsize = chs_calloc(r->np + 1, sizeof(**bsize)))) {
		free(e);
		return nomem();
	}
	for (i = 0; i < r->np; i++)
		for (k = 0; k < KINDS; k++)
			if (*key_of(r, &r->p[i], k))
				e[ne++] = (entry){ key_of(r, &r->p[i], k), (uint32_t)i, k };
	qsort(e, ne, sizeof(*e), by_key);
	for (i = 0; i < ne; i = end) {
		for (end = i + 1; end < ne && e[end].kind == e[i].kind &&
		     strcmp(e[end].key, e[i].key) == 0; end++)
			;
		for (j = i; j < end; j++)
			(*bsize)[e[j].pat][e[j].kind] = (uint32_t)(end - i > UINT32_MAX ? UINT32_MAX
											: end - i);
	}
	*out = e;
	*n = ne;
	return 0;
}

/* Call `fn` once for every pair of patients that share a block, the
 * lower id first. Nothing is collected: a pair that several blocks hold
 * is given by the first of them only. A non-zero return from `fn` stops
 * the walk and is returned. */
static int each_candidate(const chs_duplicates_report *r,
			  int (*fn)(const patient *x, const patient *y, void *payload),
			  void *payload)
{
	uint32_t (*bsize)[KINDS] = NULL;
	entry *e = NULL;
	size_t ne = 0, i, j, k, end;
	int err;

	if ((err = blocks(r, &e, &ne, &bsize)) < 0)
		return err;
	for (i = 0; i < ne && err == 0; i = end) {
		end = i + bsize[e[i].pat][e[i].kind];
		if (end - i < 2 || end - i > BLOCK_MAX)
			continue;
		for (j = i; j < end && err == 0; j++)
			for (k = j + 1; k < end && err == 0; k++)
				if (!given_before(r, (const uint32_t (*)[KINDS])bsize, e[j].pat,
						  e[k].pat, e[i].kind))
					err = fn(&r->p[e[j].pat], &r->p[e[k].pat], payload);
	}
	free(e);
	free(bsize);
	return err;
}

/* ------------------------------------------------------------------ */
/* Names                                                                */

/*
 * Jaro-Winkler similarity of two strings of code points, in [0, 1].
 * Jaro: characters match when equal and no further apart than half the
 * longer length less one; with m matches and t half the matched
 * characters out of order, (m/|a| + m/|b| + (m-t)/m) / 3. Winkler adds
 * to it for a common prefix of up to 4 characters (scale 0.1): people
 * misspell names at the end more than at the start.
 */
static double jaro_winkler(const int32_t *a, size_t la, const int32_t *b, size_t lb)
{
	unsigned char ma[NAME_CP_MAX] = { 0 }, mb[NAME_CP_MAX] = { 0 };
	size_t window, i, j, lo, hi, m = 0, t = 0, prefix = 0;
	double jaro;

	if (la == 0 || lb == 0)
		return la == lb ? 1.0 : 0.0;
	window = (la > lb ? la : lb) / 2;
	window = window ? window - 1 : 0;
	for (i = 0; i < la; i++) {
		lo = i > window ? i - window : 0;
		hi = i + window + 1 < lb ? i + window + 1 : lb;
		for (j = lo; j < hi; j++)
			if (!mb[j] && a[i] == b[j]) {
				ma[i] = mb[j] = 1;
				m++;
				break;
			}
	}
	if (m == 0)
		return 0.0;
	for (i = 0, j = 0; i < la; i++) {
		if (!ma[i])
			continue;
		while (!mb[j])
			j++;
		t += a[i] != b[j++];
	}
	jaro = ((double)m / (double)la + (double)m / (double)lb +
		((double)m - (double)t / 2.0) / (double)m) / 3.0;
	while (prefix < 4 && prefix < la && prefix < lb && a[prefix] == b[prefix])
		prefix++;
	return jaro + (double)prefix * 0.1 * (1.0 - jaro);
}

static int by_word(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

#define WORDS_MAX 16

/* `key`'s words (separated by single spaces, as a name key's are) in
 * order, joined by single spaces, into `out` (`n` bytes). */
static void sorted_words(const char *key, char *out, size_t n)
{
	char copy[4 * NAME_CP_MAX + 1], *w[WORDS_MAX], *p;
	size_t nw = 0, i, len = 0;

	snprintf(copy, sizeof(copy), "%s", key);
	for (p = copy; *p && nw < WORDS_MAX; ) {
		w[nw++] = p;
		if (!(p = strchr(p, ' ')))
			break;
		*p++ = '\0';
	}
	qsort(w, nw, sizeof(*w), by_word);
	out[0] = '\0';
	for (i = 0; i < nw && len + strlen(w[i]) + 2 <= n; i++)
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? " " : "", w[i]);
}

static double similarity(const char *x, const char *y)
{
	int32_t a[NAME_CP_MAX], b[NAME_CP_MAX];
	size_t la = chs_text_code_points(x, strlen(x), a, NAME_CP_MAX);
	size_t lb = chs_text_code_points(y, strlen(y), b, NAME_CP_MAX);

	return jaro_winkler(a, la, b, lb);
}

/* ------------------------------------------------------------------ */
/* Scoring a pair                                                       */

typedef struct verdicts {
	unsigned char (*pairs)[32]; /* the two ids, lower first; sorted */
	size_t n, cap;
} verdicts;

static int add_distinct(const char *a, const char *b, void *payload)
{
	verdicts *v = payload;
	int err;

	if ((err = CHS_ARRAY_GROW(v->pairs, v->cap, v->n + 1)) < 0)
		return err;
	if (chs_util__parse_id(v->pairs[v->n], a) < 0 ||
	    chs_util__parse_id(v->pairs[v->n] + 16, b) < 0) {
		chs_error_clear();
		return 0;
	}
	v->n++;
	return 0;
}

static int by_32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int is_distinct(const verdicts *v, const patient *x, const patient *y)
{
	unsigned char probe[32];

	memcpy(probe, x->id, 16);
	memcpy(probe + 16, y->id, 16);
	return v->n && bsearch(probe, v->pairs, v->n, 32, by_32) != NULL;
}

typedef struct score {
	double total;
	struct { const char *name; double w; } ev[EVIDENCE_MAX];
	size_t n;
	double jw;
} score;

static void add_evidence(score *sc, const char *name, double w)
{
	size_t i = sc->n++;

	/* strongest first: insertion into a list of at most five */
	while (i > 0 && sc->ev[i - 1].w < w) {
		sc->ev[i] = sc->ev[i - 1];
		i--;
	}
	sc->ev[i].name = name;
	sc->ev[i].w = w;
	sc->total += w;
}

static int same(const chs_duplicates_report *r, size_t a, size_t b)
{
	return *str(r, a) && strcmp(str(r, a), str(r, b)) == 0;
}

static void score_pair(const chs_duplicates_report *r, const patient *x, const patient *y,
		       score *sc)
{
	const char *dx = str(r, x->dob), *dy = str(r, y->dob);
	int other_dob = *dx && *dy && strcmp(dx, dy) != 0;
	char wx[4 * NAME_CP_MAX + 1], wy[4 * NAME_CP_MAX + 1];
	double jw, jws;

	memset(sc, 0, sizeof(*sc));
	if (same(r, x->mrn_key, y->mrn_key))
		add_evidence(sc, "chart_number", W_CHART);
	if (same(r, x->dob, y->dob) && *str(r, x->name_key) && *str(r, y->name_key)) {
		jw = similarity(str(r, x->name_key), str(r, y->name_key));
		sc->jw = jw;
		if (jw >= CHS_DUP_NAME_MIN) {
			add_evidence(sc, "name_dob", W_NAME_DOB * jw);
		} else {
			sorted_words(str(r, x->name_key), wx, sizeof(wx));
			sorted_words(str(r, y->name_key), wy, sizeof(wy));
			if ((jws = similarity(wx, wy)) >= CHS_DUP_NAME_MIN) {
				sc->jw = jws;
				add_evidence(sc, "swapped_name", W_SWAPPED * jws);
			}
		}
	}
	if (same(r, x->member_key, y->member_key))
		add_evidence(sc, "member_id", other_dob ? W_MEMBER_OTHER_DOB : W_MEMBER);
	if (same(r, x->phone_key, y->phone_key))
		add_evidence(sc, "phone", other_dob ? W_PHONE_OTHER_DOB : W_PHONE);
	if (sc->total > 1.0)
		sc->total = 1.0;
}

/* What matched, in a person's words: no record text (the values are in
 * the pair's sides, for the caller to show escaped). */
static int detail_of(const score *sc, char **out)
{
	chs_buf b;
	size_t i;
	int err = 0;

	chs_buf_init(&b, 0);
	for (i = 0; i < sc->n && err == 0; i++) {
		const char *n = sc->ev[i].name, *sep = i ? "; " : "";

		if (strcmp(n, "chart_number") == 0)
			err = chs_buf_printf(&b, "%sthe same chart number", sep);
		else if (strcmp(n, "name_dob") == 0)
			err = chs_buf_printf(&b, "%sthe same date of birth, names alike (%.2f)",
					     sep, sc->jw);
		else if (strcmp(n, "swapped_name") == 0)
			err = chs_buf_printf(&b, "%sthe same date of birth, first and last names"
					     " swapped (%.2f)", sep, sc->jw);
		else if (strcmp(n, "member_id") == 0)
			err = chs_buf_printf(&b, "%sthe same member id", sep);
		else
			err = chs_buf_printf(&b, "%sthe same phone number", sep);
	}
	if (err == 0)
		err = chs_buf_puts(&b, "");
	if (err < 0) {
		chs_buf_dispose(&b);
		return err;
	}
	*out = chs_buf_detach(&b);
	return 0;
}

static void side(const chs_duplicates_report *r, const patient *p, chs_duplicate_side *s)
{
	s->id = p->hex;
	s->name = str(r, p->name);
	s->dob = str(r, p->dob);
	s->mrn = str(r, p->mrn);
	s->phone = str(r, p->phone);
	s->site = str(r, p->site);
}

static int add_pair(chs_duplicates_report *r, const patient *x, const patient *y,
		    const score *sc)
{
	char *detail = NULL;
	pair *p;
	size_t i;
	int err;

	if ((err = CHS_ARRAY_GROW(r->pairs, r->cappairs, r->npairs + 1)) < 0 ||
	    (err = CHS_ARRAY_GROW(r->details, r->capdetails, r->npairs + 1)) < 0 ||
	    (err = detail_of(sc, &detail)) < 0)
		return err;
	p = &r->pairs[r->npairs];
	r->details[r->npairs++] = detail;
	memset(p, 0, sizeof(*p));
	side(r, x, &p->pub.a);
	side(r, y, &p->pub.b);
	p->pub.score = sc->total;
	for (i = 0; i < sc->n; i++)
		p->evidence[i] = sc->ev[i].name;
	p->pub.nevidence = sc->n;
	p->pub.detail = detail;
	return 0;
}

static int by_score(const void *a, const void *b)
{
	const pair *x = a, *y = b;
	int c;

	if (x->pub.score != y->pub.score)
		return x->pub.score > y->pub.score ? -1 : 1;
	if ((c = strcmp(x->pub.a.id, y->pub.a.id)) != 0)
		return c;
	return strcmp(x->pub.b.id, y->pub.b.id);
}

typedef struct scoring {
	chs_duplicates_report *r;
	const verdicts *v;
	double min;
} scoring;

static int score_one(const patient *x, const patient *y, void *payload)
{
	scoring *g = payload;
	score sc;

	score_pair(g->r, x, y, &sc);
	if (sc.n && sc.total + 1e-9 >= g->min && !is_distinct(g->v, x, y))
		return add_pair(g->r, x, y, &sc);
	return 0;
}

static int score_all(chs_duplicates_report *r, chs_store *s, double min)
{
	verdicts v = { 0 };
	scoring g = { r, &v, min };
	size_t i;
	int err;

	if ((err = chs_identity__distinct_pairs(s, add_distinct, &v)) < 0)
		goto done;
	if (v.n)
		qsort(v.pairs, v.n, 32, by_32);
	if ((err = each_candidate(r, score_one, &g)) < 0)
		goto done;
	if (r->npairs)
		qsort(r->pairs, r->npairs, sizeof(*r->pairs), by_score);
	/* the evidence arrays are in the pairs: point at them once the
	 * pairs no longer move */
	for (i = 0; i < r->npairs; i++)
		r->pairs[i].pub.evidence = r->pairs[i].evidence;
done:
	free(v.pairs);
	return err;
}

/* ------------------------------------------------------------------ */
/* The report                                                           */

int chs_report_duplicates(chs_duplicates_report **out, chs_store *s,
			  const chs_duplicates_opts *opts)
{
	chs_duplicates_report *r;
	double min = opts && opts->min_score > 0 ? opts->min_score : CHS_DUP_SCORE_MIN;
	int err;

	CHS_ASSERT_ARG(out && s);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	if (!(r = chs_calloc(1, sizeof(*r))))
		return nomem();
	chs_buf_init(&r->arena, 0);
	if ((err = load(r, s)) < 0 || (err = score_all(r, s, min)) < 0) {
		chs_duplicates_report_free(r);
		return err;
	}
	*out = r;
	return 0;
}

size_t chs_duplicates_report_count(const chs_duplicates_report *r)
{
	return r ? r->npairs : 0;
}

const chs_duplicate_pair *chs_duplicates_report_get(const chs_duplicates_report *r, size_t i)
{
	return r && i < r->npairs ? &r->pairs[i].pub : NULL;
}

size_t chs_duplicates_report_patients(const chs_duplicates_report *r)
{
	return r ? r->np : 0;
}

void chs_duplicates_report_free(chs_duplicates_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->npairs; i++)
		free(r->details[i]);
	free(r->details);
	free(r->pairs);
	free(r->p);
	chs_buf_dispose(&r->arena);
	free(r);
}
