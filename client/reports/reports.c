/*
 * The consistency report and the coding report.
 *
 * The consistency report reads every live record once, in storage order
 * (one sequential scan of the encrypted table, which costs far less than
 * walking an index), keeps a small summary of each (its links, its dates
 * as day numbers, a code or a medication name, a note's words), and sorts
 * the summaries by (patient, visit, type). A patient's chart is then one
 * run of the array, and each visit inside it a sub-run that starts with
 * the encounter and holds its notes, procedures and diagnoses; every
 * check is a walk over those runs, so the whole report is O(n log n) in
 * the records and never goes back to the database except for the few
 * records under review and, where confirmations exist, the time of an
 * unconfirmed record's last change.
 *
 * Medications named in notes: every medication name in the store, reduced
 * to lowercase words joined by one space, goes into a hash set; a note's
 * text is reduced the same way, and every run of up to as many words as
 * the longest name is looked up. A hit that is not on the patient's own
 * list (compared in the same reduced form) is a finding. So "Metformin"
 * matches "metformin," but not "metformins"; matching is case-insensitive
 * for ASCII letters and byte-exact for the rest.
 */
#include "report_int.h"
#include "client/text/text.h"

#include <stdio.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
	T_PATIENT,
	T_ENCOUNTER,
	T_NOTE,
	T_PROCEDURE,
	T_DIAGNOSIS,
	T_MEDICATION,
	T_OTHER
};

#define NO_DAY INT64_MIN
#define CODE_OK 0
#define CODE_MISSING 1
#define CODE_MALFORMED 2

/* One live record, as much as the checks need. */
typedef struct rrec {
	unsigned char pat[16]; /* its patient (a patient: itself); zero: none */
	unsigned char enc[16]; /* its visit (an encounter: itself); zero: none */
	unsigned char id[16];
	unsigned char head[32]; /* its head, when it has one */
	unsigned char heads_key[32]; /* hash of all its heads, as confirmed */
	unsigned char *heads;   /* all its heads, when it has several */
	size_t nheads;
	unsigned char type;
	unsigned char review;
	unsigned char one_head;
	unsigned char code; /* CODE_* for procedures and diagnoses */
	uint64_t head_ms;   /* when its head was written, for `unconfirmed` */
	int64_t day[2];     /* date, or a medication's start and end */
	char *text;         /* note: reduced text; medication: reduced name;
			     * procedure, diagnosis: the code as written */
	char *bad;          /* why a value of it is one entry refuses, or NULL */
} rrec;

/* A patient's chart number under its look-alike key (chs_text_id_key). */
typedef struct idkey {
	char *key;
	char *mrn;             /* as stored */
	unsigned char id[16];  /* the patient */
} idkey;

typedef struct names {
	char **slot; /* open addressing, power-of-two size */
	size_t cap, n;
	size_t max_words;
} names;

typedef struct report {
	chs_store *s;
	chs_report_opts o;
	rrec *r;
	size_t n, cap;
	names meds;
	unsigned char (*confirmed)[48]; /* record id + heads_key, sorted */
	size_t nconfirmed, capconfirmed;
	idkey *ids;        /* every patient's chart number, sorted by key */
	size_t nids, capids;
	idkey **dups;      /* the first of each group of look-alikes, by id */
	size_t ndups, capdups;
	int confirmations; /* the schema has the confirmation type */
	int clinical;      /* this store reads clinical records */
	chs_consistency_report *out;
} report;

struct chs_consistency_report {
	chs_finding *f;
	size_t n, cap;
	chs_finding_count *kinds;
	size_t nkinds, capkinds;
	size_t patients, visits;
};

static int nomem(void)
{
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------------ */
/* Words                                                                */

static int word_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/* Lowercase words of `in` joined by single spaces; NULL when it has none
 * (or out of memory). `*words` gets their number. */
static char *reduce(const char *in, size_t *words)
{
	size_t len = strlen(in), k = 0, nw = 0;
	char *out = chs_malloc(len + 1);
	const unsigned char *p;

	if (!out)
		return NULL;
	for (p = (const unsigned char *)in; *p;) {
		if (!word_byte(*p)) {
			p++;
			continue;
		}
		if (k)
			out[k++] = ' ';
		while (*p && word_byte(*p))
			out[k++] = (char)tolower(*p++);
		nw++;
	}
	out[k] = '\0';
	if (words)
		*words = nw;
	if (!k) {
		free(out);
		return NULL;
	}
	return out;
}

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static int names_find(const names *t, const char *s, size_t len)
{
	size_t i;

	if (!t->cap)
		return 0;
	for (i = hash_bytes(s, len) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
		if (strncmp(t->slot[i], s, len) == 0 && t->slot[i][len] == '\0')
			return 1;
	return 0;
}

static int names_grow(names *t)
{
	size_t cap = t->cap ? t->cap * 2 : 256, i, j;
	char **slot = chs_calloc(cap, sizeof(*slot));

	if (!slot)
		return nomem();
	for (i = 0; i < t->cap; i++) {
		if (!t->slot[i])
			continue;
		for (j = hash_bytes(t->slot[i], strlen(t->slot[i])) & (cap - 1); slot[j];
		     j = (j + 1) & (cap - 1))
			;
		slot[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = slot;
	t->cap = cap;
	return 0;
}

/* Add a reduced name (borrowed: it lives in the records' summaries). */
static int names_add(names *t, char *name, size_t words)
{
	size_t len = strlen(name), i;
	int err;

	if (names_find(t, name, len))
		return 0;
	if ((t->n + 1) * 2 > t->cap && (err = names_grow(t)) < 0)
		return err;
	for (i = hash_bytes(name, len) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
		;
	t->slot[i] = name;
	t->n++;
	if (words > t->max_words)
		t->max_words = words;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Loading                                                              */

static int type_of(const char *t)
{
	static const char *const names_[] = { "patient", "encounter", "note", "procedure",
					      "diagnosis", "medication" };
	int i;

	for (i = 0; i < T_OTHER; i++)
		if (strcmp(t, names_[i]) == 0)
			return i;
	return T_OTHER;
}

static void link_id(json_t *fields, const char *name, unsigned char out[16])
{
	const char *hex = json_string_value(json_object_get(fields, name));

	if (!hex || chs_util__parse_id(out, hex) < 0)
		memset(out, 0, 16);
}

static int64_t day_of(json_t *fields, const char *name)
{
	int64_t d;

	return chs_schema_day(chs_report__text(fields, name), &d) < 0 ? NO_DAY : d;
}

static unsigned char code_state(const char *code, int is_cpt)
{
	if (!code)
		return CODE_MISSING;
	return (is_cpt ? chs_schema_valid_cpt(code) : chs_schema_valid_icd(code))
		? CODE_OK : CODE_MALFORMED;
}

/* The hash of heads given as comma-joined change ids (as a confirmation
 * names them): 0, 1 when they are not such a list, or CHS_ENOMEM. */
static int heads_key_of(const char *list, unsigned char key[32])
{
	size_t len = strlen(list), n = (len + 1) / 65, i;
	unsigned char *ids;
	char hex[65];
	int bad = 0;

	if (!len || (len + 1) % 65 != 0)
		return 1;
	if (!(ids = chs_malloc(n * 32)))
		return nomem();
	for (i = 0; i < n && !bad; i++) {
		memcpy(hex, list + i * 65, 64);
		hex[64] = '\0';
		bad = (i + 1 < n && list[i * 65 + 64] != ',') ||
		      chs_unhex(ids + i * 32, 32, hex) < 0;
	}
	if (!bad)
		chs_hash(key, ids, n * 32);
	free(ids);
	return bad;
}

/* A confirmation names a record and the heads it confirmed (one change
 * id, or several joined by commas when concurrent edits merged). */
static int add_confirmation(report *rp, json_t *fields)
{
	const char *rec = chs_report__text(fields, "record");
	const char *chg = chs_report__text(fields, "change");
	unsigned char key[48];
	int r;

	if (!rec || !chg || chs_util__parse_id(key, rec) < 0)
		return 0;
	if ((r = heads_key_of(chg, key + 16)) != 0)
		return r < 0 ? r : 0;
	if ((r = CHS_ARRAY_GROW(rp->confirmed, rp->capconfirmed, rp->nconfirmed + 1)) < 0)
		return r;
	memcpy(rp->confirmed[rp->nconfirmed++], key, 48);
	return 0;
}

/* The type-specific part of a summary. */
static int summarise(report *rp, rrec *r, json_t *fields)
{
	const char *v;
	size_t words = 0;

	r->day[0] = r->day[1] = NO_DAY;
	switch (r->type) {
	case T_PATIENT:
		r->day[0] = day_of(fields, "dob");
		break;
	case T_ENCOUNTER:
		r->day[0] = day_of(fields, "date");
		break;
	case T_NOTE:
		r->day[0] = day_of(fields, "date");
		r->text = (v = chs_report__text(fields, "text")) ? reduce(v, NULL) : NULL;
		break;
	case T_MEDICATION:
		r->day[0] = day_of(fields, "start");
		r->day[1] = day_of(fields, "end");
		if ((v = chs_report__text(fields, "name")) && (r->text = reduce(v, &words)))
			return names_add(&rp->meds, r->text, words);
		break;
	case T_PROCEDURE:
	case T_DIAGNOSIS:
		v = chs_report__text(fields, r->type == T_PROCEDURE ? "cpt" : "icd");
		r->code = code_state(v, r->type == T_PROCEDURE);
		if (v && !(r->text = chs_util__strdup(v)))
			return nomem();
		break;
	}
	return 0;
}

/* Values entry refuses (control characters, over-long text, a date out
 * of bounds) that reached the store all the same: a change that arrives
 * by sync is never refused for its form, and earlier versions took them.
 * The first such value of a record is noted for a `malformed_value`
 * finding; codes have their own kind (malformed_code). */
static int check_values(report *rp, rrec *r, const chs_type_def *t, json_t *fields)
{
	const chs_field_def *f;
	const char *v;
	int err;

	for (f = t ? t->fields : NULL; f && f->name && !r->bad; f++) {
		if ((f->kind != CHS_KIND_TEXT && f->kind != CHS_KIND_DATE) ||
		    !(v = json_string_value(json_object_get(fields, f->name))))
			continue;
		if ((err = chs_schema_check_value(t, f, v, rp->o.now)) == 0)
			continue;
		if (err != CHS_EINVALID)
			return err;
		r->bad = chs_util__strdup(chs_error_last());
		chs_error_clear();
		if (!r->bad)
			return nomem();
	}
	return 0;
}

/* Note a patient's chart number under its look-alike key. */
static int add_id(report *rp, const unsigned char id[16], const char *mrn)
{
	idkey *k;
	chs_buf key;
	int err;

	if (!mrn)
		return 0;
	chs_buf_init(&key, 0);
	if ((err = chs_text_id_key(&key, mrn, strlen(mrn))) < 0) {
		chs_buf_dispose(&key);
		/* not UTF-8: malformed_value has it; it can look like no other */
		if (err != CHS_EINVALID)
			return err;
		chs_error_clear();
		return 0;
	}
	if ((err = CHS_ARRAY_GROW(rp->ids, rp->capids, rp->nids + 1)) == 0) {
		k = &rp->ids[rp->nids];
		memcpy(k->id, id, 16);
		k->key = chs_util__strdup(key.ptr ? key.ptr : "");
		k->mrn = chs_util__strdup(mrn);
		if (k->key && k->mrn)
			rp->nids++;
		else
			err = nomem();
		if (err < 0) {
			free(k->key);
			free(k->mrn);
		}
	}
	chs_buf_dispose(&key);
	return err;
}

static int add_row(report *rp, sqlite3_stmt *st)
{
	const char *type = (const char *)sqlite3_column_text(st, 1);
	json_t *state, *fields;
	rrec *r;
	int err = 0;

	if (!type || strcmp(type, "audit") == 0)
		return 0;
	if (!(state = chs_report__state(st, 4)))
		return 0;
	fields = json_object_get(state, "fields");
	/* a patient merged into another is no chart of its own: not checked,
	 * not counted, and its chart number (which the patient it was merged
	 * into holds too) is no collision */
	if (strcmp(type, "patient") == 0 &&
	    json_is_string(json_object_get(fields, CHS_FIELD_MERGED_INTO))) {
		json_decref(state);
		return 0;
	}
	if (strcmp(type, "confirmation") == 0) {
		err = add_confirmation(rp, fields);
		json_decref(state);
		return err;
	}
	if ((err = CHS_ARRAY_GROW(rp->r, rp->cap, rp->n + 1)) < 0) {
		json_decref(state);
		return err;
	}
	r = &rp->r[rp->n++];
	memset(r, 0, sizeof(*r));
	memcpy(r->id, sqlite3_column_blob(st, 0), 16);
	r->type = (unsigned char)type_of(type);
	r->review = (unsigned char)sqlite3_column_int(st, 2);
	if (sqlite3_column_bytes(st, 3) == 32) {
		memcpy(r->head, sqlite3_column_blob(st, 3), 32);
		r->one_head = 1;
	}
	if (sqlite3_column_bytes(st, 3) > 0 && sqlite3_column_bytes(st, 3) % 32 == 0)
		chs_hash(r->heads_key, sqlite3_column_blob(st, 3),
			 (size_t)sqlite3_column_bytes(st, 3));
	if (sqlite3_column_bytes(st, 3) > 32 && sqlite3_column_bytes(st, 3) % 32 == 0) {
		r->nheads = (size_t)sqlite3_column_bytes(st, 3) / 32;
		if (!(r->heads = chs_malloc(r->nheads * 32))) {
			json_decref(state);
			return nomem();
		}
		memcpy(r->heads, sqlite3_column_blob(st, 3), r->nheads * 32);
	}
	if (r->type == T_PATIENT)
		memcpy(r->pat, r->id, 16);
	else
		link_id(fields, CHS_FIELD_PATIENT, r->pat);
	if (r->type == T_ENCOUNTER)
		memcpy(r->enc, r->id, 16);
	else
		link_id(fields, CHS_FIELD_ENCOUNTER, r->enc);
	if ((err = summarise(rp, r, fields)) == 0)
		err = check_values(rp, r, chs_schema_type(type), fields);
	/* a chart merged away (client/identity) keeps its number on its
	 * tombstone: no longer a collision */
	if (err == 0 && r->type == T_PATIENT && !json_object_get(fields, CHS_FIELD_MERGED_INTO))
		err = add_id(rp, r->id, json_string_value(json_object_get(fields, "mrn")));
	json_decref(state);
	return err;
}

static int load(report *rp)
{
	sqlite3_stmt *st = NULL;
	size_t rows = 0;
	int err, rc;

	if ((err = chs_store__prepare(rp->s, &st,
		     "SELECT id, type, review, heads, state FROM records WHERE NOT deleted")) < 0)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && err == 0) {
		if (sqlite3_column_bytes(st, 0) == 16)
			err = add_row(rp, st);
		if (rp->o.progress && ++rows % 4096 == 0)
			rp->o.progress("reading records", rows, 0, rp->o.payload);
	}
	chs_store__finish(rp->s, st);
	if (err == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = chs_store__sqlerr(rp->s, rc, "reading the records");
	return err;
}

static int by_chart(const void *a, const void *b)
{
	const rrec *x = a, *y = b;
	int c = memcmp(x->pat, y->pat, 16);

	if (c == 0)
		c = memcmp(x->enc, y->enc, 16);
	if (c == 0)
		c = (int)x->type - (int)y->type;
	if (c == 0)
		c = memcmp(x->id, y->id, 16);
	return c;
}

static int by_key48(const void *a, const void *b)
{
	return memcmp(a, b, 48);
}

/* ------------------------------------------------------------------ */
/* Findings                                                             */

static int zero_id(const unsigned char id[16])
{
	static const unsigned char zero[16];

	return memcmp(id, zero, 16) == 0;
}

static void finding_dispose(chs_finding *f)
{
	free((char *)f->patient);
	free((void *)f->records);
	free((char *)f->detail);
}

/* The ids as hex, in one block: the pointers, then the strings. */
static const char **ids_hex(const unsigned char (*ids)[16], size_t n)
{
	char **v, *p;
	size_t i;

	if (n > (SIZE_MAX / 2) / (sizeof(*v) + 33) || !(v = chs_malloc(n * (sizeof(*v) + 33))))
		return NULL;
	for (i = 0, p = (char *)(v + n); i < n; i++, p += 33) {
		chs_hex(p, ids[i], 16);
		v[i] = p;
	}
	return (const char **)v;
}

static int count_kind(chs_consistency_report *out, const char *kind)
{
	size_t i;
	int err;

	for (i = 0; i < out->nkinds; i++)
		if (strcmp(out->kinds[i].kind, kind) == 0) {
			out->kinds[i].n++;
			return 0;
		}
	if ((err = CHS_ARRAY_GROW(out->kinds, out->capkinds, out->nkinds + 1)) < 0)
		return err;
	out->kinds[out->nkinds].kind = kind;
	out->kinds[out->nkinds++].n = 1;
	return 0;
}

/* `kind` is a string literal: findings borrow it. */
static int vfinding(report *rp, const char *kind, const unsigned char *pat,
		    const unsigned char (*ids)[16], size_t n, const char *fmt, va_list ap)
{
	chs_consistency_report *out = rp->out;
	char detail[512], hex[33];
	chs_finding *f;
	int err;

	vsnprintf(detail, sizeof(detail), fmt, ap);
	if ((err = CHS_ARRAY_GROW(out->f, out->cap, out->n + 1)) < 0)
		return err;
	f = &out->f[out->n];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	if (pat && !zero_id(pat)) {
		chs_hex(hex, pat, 16);
		f->patient = chs_util__strdup(hex);
	}
	f->records = n ? ids_hex(ids, n) : NULL;
	f->nrecords = n;
	f->detail = chs_util__strdup(detail);
	if ((pat && !zero_id(pat) && !f->patient) || (n && !f->records) || !f->detail) {
		finding_dispose(f);
		return nomem();
	}
	out->n++;
	return count_kind(out, kind);
}

/* Add a finding about records `ids` (n of them) of patient `pat`. */
static int finding(report *rp, const char *kind, const unsigned char *pat,
		   const unsigned char (*ids)[16], size_t n, const char *fmt, ...)
	CHS_PRINTF(6, 7);

static int finding(report *rp, const char *kind, const unsigned char *pat,
		   const unsigned char (*ids)[16], size_t n, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = vfinding(rp, kind, pat, ids, n, fmt, ap);
	va_end(ap);
	return err;
}

/* A finding about one record. */
static int one(report *rp, const char *kind, const rrec *r, const char *fmt, ...)
	CHS_PRINTF(4, 5);

static int one(report *rp, const char *kind, const rrec *r, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = vfinding(rp, kind, r->pat, (const unsigned char (*)[16])r->id, 1, fmt, ap);
	va_end(ap);
	return err;
}

/* ---- record by record ---- */

/* Wall-clock ms of a stored change: its canonical encoding holds
 * "hlc":"<decimal>", and the last such sequence is the top-level member
 * (nothing after it in member order can hold an unescaped quote). */
static uint64_t body_ms(const char *body, size_t len)
{
	static const char key[] = "\"hlc\":\"";
	const size_t klen = sizeof(key) - 1;
	const char *p;
	chs_hlc h = 0;

	if (!body || len < klen)
		return 0;
	for (p = body + len - klen;; p--) {
		if (memcmp(p, key, klen) == 0)
			break;
		if (p == body)
			return 0;
	}
	for (p += klen; p < body + len && isdigit((unsigned char)*p); p++)
		h = h * 10 + (chs_hlc)(*p - '0');
	return chs_hlc_ms(h);
}

static int64_t age_days(const report *rp, uint64_t ms)
{
	return (rp->o.now - (int64_t)(ms / 1000)) / CHS_DAY_S;
}

/* Under review since the latest of its candidate changes: the moment both
 * sides of the conflict existed. */
static int check_review(report *rp, const rrec *r)
{
	chs_change **changes = NULL;
	chs_merged *m = NULL;
	uint64_t newest = 0;
	size_t n = 0, i, j;
	int err;

	if ((err = chs_records__merge_record(rp->s, r->id, &m, &changes, &n)) < 0)
		return err;
	for (i = 0; i < m->nfields; i++)
		for (j = 0; j < m->fields[i].ncandidates; j++)
			if (chs_hlc_ms(m->fields[i].candidates[j].change->hlc) > newest)
				newest = chs_hlc_ms(m->fields[i].candidates[j].change->hlc);
	for (j = 0; j < m->nexists_candidates; j++)
		if (chs_hlc_ms(m->exists_candidates[j].change->hlc) > newest)
			newest = chs_hlc_ms(m->exists_candidates[j].change->hlc);
	chs_merged_free(m);
	chs_records__changes_free(changes, n);
	if (!newest || age_days(rp, newest) <= rp->o.review_days)
		return 0;
	return one(rp, "review_overdue", r,
		   "under review for %lld days (more than %d); settle it with 'chartsync review resolve'",
		   (long long)age_days(rp, newest), rp->o.review_days);
}

static int is_confirmed(const report *rp, const rrec *r)
{
	unsigned char key[48];

	if (!rp->nconfirmed)
		return 0;
	memcpy(key, r->id, 16);
	memcpy(key + 16, r->heads_key, 32);
	return bsearch(key, rp->confirmed, rp->nconfirmed, 48, by_key48) != NULL;
}

/* Heads whose time is needed, sorted by head id. */
typedef struct need {
	unsigned char head[32];
	rrec *r;
} need;

static int by_head(const void *a, const void *b)
{
	return memcmp(((const need *)a)->head, ((const need *)b)->head, 32);
}

#define LOOKUPS_MAX 256 /* more heads than this: one scan of all changes */

/* The time of every unconfirmed record's latest head: a lookup each when
 * they are few, else one sequential scan of the changes (random lookups in
 * the encrypted table cost some 30 us each; the scan reads each page
 * once). */
static int resolve_head_times(report *rp)
{
	sqlite3_stmt *st = NULL;
	need *nd = NULL, key, *hit;
	size_t n = 0, i, j, total = 0;
	int err = 0, rc = SQLITE_DONE, scan;

	if (!rp->confirmations || !rp->n)
		return 0;
	for (i = 0; i < rp->n; i++)
		total += rp->r[i].one_head ? 1 : rp->r[i].nheads;
	if (!(nd = chs_malloc((total + 1) * sizeof(*nd))))
		return nomem();
	for (i = 0; i < rp->n; i++) {
		rrec *r = &rp->r[i];

		if ((!r->one_head && !r->nheads) || is_confirmed(rp, r))
			continue;
		for (j = 0; j < (r->one_head ? 1 : r->nheads); j++) {
			memcpy(nd[n].head, r->one_head ? r->head : r->heads + 32 * j, 32);
			nd[n++].r = r;
		}
	}
	scan = n > LOOKUPS_MAX;
	if (n)
		qsort(nd, n, sizeof(*nd), by_head);
	if (n && (err = chs_store__prepare(rp->s, &st, scan
			? "SELECT id, body FROM changes"
			: "SELECT id, body FROM changes WHERE id = ?")) < 0)
		goto done;
	for (i = 0; n && i < (scan ? 1 : n) && err == 0; i++) {
		if (!scan) {
			sqlite3_reset(st);
			if ((err = chs_store__bind_blob(rp->s, st, 1, nd[i].head, 32)) < 0)
				break;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			uint64_t ms;

			if (sqlite3_column_bytes(st, 0) != 32)
				continue;
			memcpy(key.head, sqlite3_column_blob(st, 0), 32);
			if (!(hit = bsearch(&key, nd, n, sizeof(*nd), by_head)))
				continue;
			ms = body_ms(sqlite3_column_blob(st, 1),
				     (size_t)sqlite3_column_bytes(st, 1));
			if (ms > hit->r->head_ms)
				hit->r->head_ms = ms;
		}
		if (rc != SQLITE_DONE)
			err = chs_store__sqlerr(rp->s, rc, "reading the changes");
	}
	if (st)
		chs_store__finish(rp->s, st);
done:
	free(nd);
	return err;
}

static int check_confirmed(report *rp, const rrec *r)
{
	if (is_confirmed(rp, r))
		return 0;
	if (!r->one_head && r->review)
		return one(rp, "unconfirmed", r,
			   "not confirmed: edited at two sites, settle the review first");
	if (age_days(rp, r->head_ms) <= rp->o.confirm_days)
		return 0;
	return one(rp, "unconfirmed", r,
		   "not confirmed against the paper chart; last changed %lld days ago",
		   (long long)age_days(rp, r->head_ms));
}

static int check_record(report *rp, const rrec *r)
{
	int err = 0;

	if (r->bad)
		err = one(rp, "malformed_value", r, "%s", r->bad);
	if (err == 0 && r->review)
		err = check_review(rp, r);
	if (err == 0 && rp->confirmations)
		err = check_confirmed(rp, r);
	return err;
}

/* ---- one visit ---- */

static int check_visit(report *rp, const rrec *v, size_t n, const rrec *patient)
{
	unsigned char (*diag)[16] = NULL;
	size_t i, notes = 0, procs = 0, ndiag = 0;
	char a[16], b[16];
	int err = 0;

	if (!(diag = chs_calloc(n + 1, 16)))
		return nomem();
	memcpy(diag[ndiag++], v->id, 16);
	for (i = 1; i < n && err == 0; i++) {
		const rrec *r = &v[i];

		if (r->type == T_NOTE) {
			notes++;
			if (r->day[0] != NO_DAY && v->day[0] != NO_DAY && r->day[0] < v->day[0]) {
				chs_schema_day_text(r->day[0], a);
				chs_schema_day_text(v->day[0], b);
				err = one(rp, "note_before_visit", r,
					  "note dated %s is before its visit on %s", a, b);
			}
		} else if (r->type == T_PROCEDURE) {
			procs++;
		} else if (r->type == T_DIAGNOSIS) {
			memcpy(diag[ndiag++], r->id, 16);
		}
	}
	chs_schema_day_text(v->day[0], a);
	if (v->day[0] == NO_DAY)
		snprintf(a, sizeof(a), "(no date)");
	if (err == 0 && rp->clinical && notes == 0)
		err = one(rp, "visit_without_note", v, "visit on %s has no note", a);
	if (err == 0 && procs == 0 && ndiag > 1)
		err = finding(rp, "code_without_procedure", v->pat,
			      (const unsigned char (*)[16])diag, ndiag,
			      "visit on %s has %zu diagnosis code(s) and no documented procedure",
			      a, ndiag - 1);
	if (err == 0 && patient && patient->day[0] != NO_DAY && v->day[0] != NO_DAY &&
	    v->day[0] < patient->day[0]) {
		chs_schema_day_text(patient->day[0], b);
		err = one(rp, "visit_before_birth", v, "visit on %s is before the birth date %s",
			  a, b);
	}
	free(diag);
	return err;
}

/* ---- codes and medications, record by record within a chart ---- */

static int check_code(report *rp, const rrec *r)
{
	int proc = r->type == T_PROCEDURE;

	if (r->code == CODE_MISSING)
		return proc ? one(rp, "procedure_without_code", r,
				  "procedure has no CPT or HCPCS code")
			    : one(rp, "malformed_code", r, "diagnosis has no ICD-10-CM code");
	if (r->code == CODE_MALFORMED)
		return proc ? one(rp, "malformed_code", r,
				  "procedure code '%s' is not a CPT or HCPCS code", r->text)
			    : one(rp, "malformed_code", r,
				  "diagnosis code '%s' is not an ICD-10-CM code", r->text);
	return 0;
}

static int check_dates(report *rp, const rrec *r)
{
	char a[16], b[16];

	if (r->type != T_MEDICATION || r->day[0] == NO_DAY || r->day[1] == NO_DAY ||
	    r->day[1] >= r->day[0])
		return 0;
	chs_schema_day_text(r->day[1], a);
	chs_schema_day_text(r->day[0], b);
	return one(rp, "end_before_start", r, "medication ends on %s, before it starts on %s",
		   a, b);
}

static int on_list(const rrec *chart, size_t n, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (chart[i].type == T_MEDICATION && chart[i].text &&
		    strncmp(chart[i].text, name, len) == 0 && chart[i].text[len] == '\0')
			return 1;
	return 0;
}

#define SEEN_MAX 32 /* names remembered per note, to report each once */

/* Every medication name known in the store that the note's words contain
 * and the patient's list lacks; each name once per note. Names are runs
 * of the note's reduced text, so a name is a (start, length) in it. */
static int check_mentions(report *rp, const rrec *note, const rrec *chart, size_t n)
{
	const char *seen[SEEN_MAX], *w, *e;
	size_t seen_len[SEEN_MAX], nseen = 0, k, len, i;
	int err = 0;

	for (w = note->text; w && *w && err == 0; w = strchr(w, ' ')) {
		w += *w == ' ';
		for (e = w, k = 0; k < rp->meds.max_words && err == 0; k++, e++) {
			while (*e && *e != ' ')
				e++;
			len = (size_t)(e - w);
			if (!names_find(&rp->meds, w, len) || on_list(chart, n, w, len))
				goto next;
			for (i = 0; i < nseen; i++)
				if (seen_len[i] == len && memcmp(seen[i], w, len) == 0)
					goto next;
			if (nseen < SEEN_MAX) {
				seen[nseen] = w;
				seen_len[nseen++] = len;
			}
			err = finding(rp, "medication_not_on_list", note->pat,
				      (const unsigned char (*)[16])note->id, 1,
				      "note names '%.*s', which is not on the patient's medication list",
				      (int)len, w);
next:
			if (!*e)
				break;
		}
	}
	return err;
}

/* ---- chart numbers that look alike ---- */

static int by_key_then_id(const void *a, const void *b)
{
	const idkey *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : memcmp(x->id, y->id, 16);
}

static int by_first_id(const void *a, const void *b)
{
	return memcmp((*(idkey *const *)a)->id, (*(idkey *const *)b)->id, 16);
}

/* Group the chart numbers by look-alike key; each group of two or more
 * patients is one finding, listed with the patient of the lowest id. */
static int group_ids(report *rp)
{
	size_t i, j;
	int err;

	if (rp->nids < 2)
		return 0;
	qsort(rp->ids, rp->nids, sizeof(*rp->ids), by_key_then_id);
	for (i = 0; i < rp->nids; i = j) {
		for (j = i + 1; j < rp->nids && strcmp(rp->ids[j].key, rp->ids[i].key) == 0; j++)
			;
		if (j - i < 2)
			continue;
		if ((err = CHS_ARRAY_GROW(rp->dups, rp->capdups, rp->ndups + 1)) < 0)
			return err;
		rp->dups[rp->ndups++] = &rp->ids[i];
	}
	if (rp->ndups)
		qsort(rp->dups, rp->ndups, sizeof(*rp->dups), by_first_id);
	return 0;
}

#define LOOKALIKE_TEXT_MAX 320 /* bytes of chart numbers in one detail */

/* The finding for patient `r` when it is the first of a group. The chart
 * numbers are record text, shown escaped: they may have arrived by sync
 * holding anything. */
static int check_lookalike(report *rp, const rrec *r)
{
	unsigned char (*ids)[16] = NULL;
	idkey probe, *pp = &probe, **hit;
	const idkey *g;
	chs_buf text, one_mrn;
	size_t n, i, shown;
	int err = 0;

	if (!rp->ndups)
		return 0;
	memcpy(probe.id, r->id, 16);
	if (!(hit = bsearch(&pp, rp->dups, rp->ndups, sizeof(*rp->dups), by_first_id)))
		return 0;
	g = *hit;
	for (n = 1; g + n < rp->ids + rp->nids && strcmp(g[n].key, g->key) == 0; n++)
		;
	if (!(ids = chs_calloc(n, 16)))
		return nomem();
	chs_buf_init(&text, 0);
	chs_buf_init(&one_mrn, 0);
	for (i = 0; i < n; i++)
		memcpy(ids[i], g[i].id, 16);
	/* whole numbers only, those that fit the detail (which is cut at 512
	 * bytes, perhaps inside a character); the others are counted */
	for (i = 0, shown = 0; i < n && err == 0; i++) {
		chs_buf_dispose(&one_mrn);
		chs_buf_init(&one_mrn, 0);
		if ((err = chs_text_escape(&one_mrn, g[i].mrn, strlen(g[i].mrn),
					   CHS_TEXT_LINE)) < 0)
			break;
		if (text.len + one_mrn.len + 4 <= LOOKALIKE_TEXT_MAX &&
		    (err = chs_buf_puts(&text, shown++ ? ", '" : "'")) == 0 &&
		    (err = chs_buf_put(&text, one_mrn.ptr, one_mrn.len)) == 0)
			err = chs_buf_puts(&text, "'");
	}
	if (err == 0 && shown < n)
		err = chs_buf_printf(&text, "%s%zu more", shown ? " and " : "", n - shown);
	if (err == 0)
		err = finding(rp, "duplicate_chart_number", r->pat,
			      (const unsigned char (*)[16])ids, n,
			      "%zu patients have the same chart number, or ones that look alike"
			      " (%s): correct the wrong ones with 'chartsync set ID mrn=...'",
			      n, text.ptr ? text.ptr : "");
	chs_buf_dispose(&one_mrn);
	chs_buf_dispose(&text);
	free(ids);
	return err;
}

/* ---- one chart ---- */

static int check_chart(report *rp, const rrec *c, size_t n)
{
	const rrec *patient = c[0].type == T_PATIENT && memcmp(c[0].id, c[0].pat, 16) == 0
		? &c[0] : NULL;
	size_t i, j;
	int err = 0;

	for (i = 0; i < n && err == 0; i++) {
		const rrec *r = &c[i];

		if (r->type == T_ENCOUNTER && memcmp(r->id, r->enc, 16) == 0) {
			for (j = i + 1; j < n && memcmp(c[j].enc, r->id, 16) == 0; j++)
				;
			rp->out->visits++;
			err = check_visit(rp, r, j - i, patient);
		}
		if (err == 0 && (r->type == T_PROCEDURE || r->type == T_DIAGNOSIS))
			err = check_code(rp, r);
		if (err == 0 && rp->clinical)
			err = check_dates(rp, r);
		if (err == 0 && rp->clinical && r->type == T_NOTE && r->text && rp->meds.n)
			err = check_mentions(rp, r, c, n);
		if (err == 0 && r->type == T_PATIENT && r == patient)
			err = check_lookalike(rp, r);
		if (err == 0)
			err = check_record(rp, r);
	}
	return err;
}

static int check_all(report *rp)
{
	size_t i, j, charts = 0, done = 0;
	int err = 0;

	if (rp->n)
		qsort(rp->r, rp->n, sizeof(*rp->r), by_chart);
	for (i = 0; i < rp->n; i = j) {
		for (j = i + 1; j < rp->n && memcmp(rp->r[j].pat, rp->r[i].pat, 16) == 0; j++)
			;
		charts++;
	}
	for (i = 0; i < rp->n && err == 0; i = j) {
		for (j = i + 1; j < rp->n && memcmp(rp->r[j].pat, rp->r[i].pat, 16) == 0; j++)
			;
		if (!zero_id(rp->r[i].pat))
			rp->out->patients++;
		err = check_chart(rp, &rp->r[i], j - i);
		if (rp->o.progress && (++done % 256 == 0 || done == charts))
			rp->o.progress("checking charts", done, charts, rp->o.payload);
	}
	return err;
}

static void report_dispose(report *rp)
{
	size_t i;

	for (i = 0; i < rp->n; i++) {
		free(rp->r[i].text);
		free(rp->r[i].heads);
		free(rp->r[i].bad);
	}
	for (i = 0; i < rp->nids; i++) {
		free(rp->ids[i].key);
		free(rp->ids[i].mrn);
	}
	free(rp->ids);
	free(rp->dups);
	free(rp->r);
	free(rp->meds.slot);
	free(rp->confirmed);
}

void chs_consistency_report_free(chs_consistency_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		finding_dispose(&r->f[i]);
	free(r->f);
	free(r->kinds);
	free(r);
}

size_t chs_consistency_report_count(const chs_consistency_report *r)
{
	return r ? r->n : 0;
}

const chs_finding *chs_consistency_report_get(const chs_consistency_report *r, size_t i)
{
	return r && i < r->n ? &r->f[i] : NULL;
}

size_t chs_consistency_report_kind_count(const chs_consistency_report *r)
{
	return r ? r->nkinds : 0;
}

const chs_finding_count *chs_consistency_report_kind(const chs_consistency_report *r,
						     size_t i)
{
	return r && i < r->nkinds ? &r->kinds[i] : NULL;
}

size_t chs_consistency_report_patients(const chs_consistency_report *r)
{
	return r ? r->patients : 0;
}

size_t chs_consistency_report_visits(const chs_consistency_report *r)
{
	return r ? r->visits : 0;
}

int chs_report_consistency(chs_consistency_report **out, chs_store *s,
			   const chs_report_opts *opts)
{
	report rp;
	int err, role = 0;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	memset(&rp, 0, sizeof(rp));
	rp.s = s;
	chs_report__opts(&rp.o, opts);
	rp.confirmations = chs_schema_type("confirmation") != NULL;
	if (!(rp.out = chs_calloc(1, sizeof(*rp.out))))
		return nomem();
	if ((err = chs_store__role(s, &role)) == 0) {
		rp.clinical = role != CHS_ROLE_BILLING;
		if ((err = load(&rp)) == 0 && rp.nconfirmed)
			qsort(rp.confirmed, rp.nconfirmed, 48, by_key48);
		if (err == 0 && (err = resolve_head_times(&rp)) == 0 &&
		    (err = group_ids(&rp)) == 0)
			err = check_all(&rp);
	}
	report_dispose(&rp);
	if (err < 0) {
		chs_consistency_report_free(rp.out);
		return err;
	}
	*out = rp.out;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The coding report                                                    */

typedef struct coder {
	char *name;
	size_t done, recent;
	int64_t *turn; /* turnaround seconds */
	size_t nturn, capturn;
} coder;

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double median_days(int64_t *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_i64);
	return (double)(n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) / CHS_DAY_S;
}

static double tenths(double x)
{
	return (double)(int64_t)(x * 10 + (x < 0 ? -0.5 : 0.5)) / 10;
}

typedef struct coding {
	chs_report_opts o;
	int64_t *ages;
	size_t nages, capages, queued, done;
	unsigned char oldest[16];
	int64_t oldest_age;
	coder *coders;
	size_t ncoders, capcoders;
} coding;

static coder *coder_get(coding *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->ncoders; i++)
		if (strcmp(c->coders[i].name, name) == 0)
			return &c->coders[i];
	if (CHS_ARRAY_GROW(c->coders, c->capcoders, c->ncoders + 1) < 0)
		return NULL;
	memset(&c->coders[c->ncoders], 0, sizeof(coder));
	if (!(c->coders[c->ncoders].name = chs_util__strdup(name)))
		return NULL;
	return &c->coders[c->ncoders++];
}

static int push_i64(int64_t **v, size_t *n, size_t *cap, int64_t x)
{
	int err = CHS_ARRAY_GROW(*v, *cap, *n + 1);

	if (err < 0)
		return err;
	(*v)[(*n)++] = x;
	return 0;
}

static int coding_row(coding *c, const unsigned char id[16], json_t *fields)
{
	const char *state = chs_report__text(fields, "coding");
	int64_t sent = -1, done = -1;
	int has_sent = chs_report__time(json_object_get(fields, "coding_sent"), &sent) == 0;
	int has_done = chs_report__time(json_object_get(fields, "coding_done"), &done) == 0;
	const char *who = chs_report__text(fields, "coder");
	coder *k;

	if (!state)
		return 0;
	if (strcmp(state, "queued") == 0) {
		c->queued++;
		if (!has_sent)
			return 0;
		if (c->nages == 0 || c->o.now - sent > c->oldest_age) {
			c->oldest_age = c->o.now - sent;
			memcpy(c->oldest, id, 16);
		}
		return push_i64(&c->ages, &c->nages, &c->capages, c->o.now - sent);
	}
	if (strcmp(state, "done") != 0)
		return 0;
	c->done++;
	if (!(k = coder_get(c, who ? who : "(unknown)")))
		return nomem();
	k->done++;
	if (has_done && c->o.now - done <= 30 * CHS_DAY_S)
		k->recent++;
	if (has_done && has_sent && done >= sent)
		return push_i64(&k->turn, &k->nturn, &k->capturn, done - sent);
	return 0;
}

static int by_coder(const void *a, const void *b)
{
	return strcmp(((const coder *)a)->name, ((const coder *)b)->name);
}

struct chs_coding_report {
	chs_coding_queue_stats queue;
	char oldest[33]; /* queue.oldest, when there is one */
	size_t done;
	chs_coder_stats *coders; /* names owned */
	size_t ncoders;
};

/* The figures of `c` (sorting its coders, and taking their names). */
static int coding_result(coding *c, chs_coding_report **out)
{
	chs_coding_report *r = chs_calloc(1, sizeof(*r));
	size_t i;

	if (!r || (c->ncoders && !(r->coders = chs_calloc(c->ncoders, sizeof(*r->coders))))) {
		free(r);
		return nomem();
	}
	if (c->ncoders)
		qsort(c->coders, c->ncoders, sizeof(*c->coders), by_coder);
	for (i = 0; i < c->ncoders; i++) {
		coder *k = &c->coders[i];
		chs_coder_stats *o = &r->coders[i];

		o->coder = k->name;
		k->name = NULL;
		o->done = k->done;
		o->last_30_days = k->recent;
		o->per_day = tenths((double)k->recent / 30.0);
		o->median_turnaround_days = tenths(median_days(k->turn, k->nturn));
	}
	r->ncoders = c->ncoders;
	r->queue.length = c->queued;
	if (c->nages) {
		chs_hex(r->oldest, c->oldest, 16);
		r->queue.oldest = r->oldest;
	}
	r->queue.oldest_days = tenths((double)c->oldest_age / CHS_DAY_S);
	r->queue.median_days = tenths(median_days(c->ages, c->nages));
	r->done = c->done;
	*out = r;
	return 0;
}

void chs_coding_report_free(chs_coding_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ncoders; i++)
		free((char *)r->coders[i].coder);
	free(r->coders);
	free(r);
}

const chs_coding_queue_stats *chs_coding_report_queue(const chs_coding_report *r)
{
	return r ? &r->queue : NULL;
}

size_t chs_coding_report_done(const chs_coding_report *r)
{
	return r ? r->done : 0;
}

size_t chs_coding_report_coder_count(const chs_coding_report *r)
{
	return r ? r->ncoders : 0;
}

const chs_coder_stats *chs_coding_report_coder(const chs_coding_report *r, size_t i)
{
	return r && i < r->ncoders ? &r->coders[i] : NULL;
}

int chs_report_coding(chs_coding_report **out, chs_store *s, const chs_report_opts *opts)
{
	sqlite3_stmt *st = NULL;
	coding c;
	size_t i;
	int err, rc;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	memset(&c, 0, sizeof(c));
	chs_report__opts(&c.o, opts);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT id, state FROM records WHERE type = 'encounter' AND NOT deleted")) < 0)
		return err;
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *state = chs_report__state(st, 1);

		if (state && sqlite3_column_bytes(st, 0) == 16)
			err = coding_row(&c, sqlite3_column_blob(st, 0),
					 json_object_get(state, "fields"));
		json_decref(state);
	}
	chs_store__finish(s, st);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading the visits");
	if (err == 0)
		err = coding_result(&c, out);
	for (i = 0; i < c.ncoders; i++) {
		free(c.coders[i].name);
		free(c.coders[i].turn);
	}
	free(c.coders);
	free(c.ages);
	return err;
}
