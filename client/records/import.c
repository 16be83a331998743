/*
 * Bulk entry and migrations from JSON Lines: one record per line,
 *
 *   {"type":"patient","id":"<32 hex, optional>","patient":"<id>",
 *    "encounter":"<id>","fields":{"name":"Ada Byron","mrn":"A-1"}}
 *
 * Every line is checked as if typed at the prompt (types, forms, links,
 * chart numbers). Lines may link to records made earlier in the same
 * file, by the ids they give. The whole file is one transaction: a bad
 * line, named by its number, leaves the store as it was.
 */
#include "records_int.h"
#include "client/records/import.h"

#include <errno.h>
#include <pthread.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT_LINE_MAX (1u << 20) /* bytes */
#define IMPORT_FIELDS_MAX CHS_IMPORT_FIELDS_MAX

/* a line as read, its type and fields checked (import.h, offered) */
typedef chs_import_line line_edits;

/* A value as a reader found it: its JSON kind, and the text of a string
 * or of an integer in decimal. */
typedef enum val_kind { VAL_OTHER, VAL_NULL, VAL_INT, VAL_STRING } val_kind;

static int field_edit(line_edits *le, const chs_type_def *t, const char *name,
		      val_kind k, const char *text)
{
	const chs_field_def *f = chs_schema_field(t, name);
	chs_edit *e = &le->e[le->n];

	if (!f)
		return chs_error_set(CHS_EINVALID, "%s has no field '%s'", t->name, name);
	e->name = name;
	if (k == VAL_NULL)
		return chs_error_set(CHS_EINVALID, "field '%s' is null; leave it out", name);
	if (chs_schema_kind_is_integer(f->kind)) {
		if (k != VAL_INT)
			return chs_error_set(CHS_EINVALID, "field '%s' of %s must be %s",
					     name, t->name, chs_schema_expected(f->kind));
	} else if (k != VAL_STRING) {
		return chs_error_set(CHS_EINVALID, "field '%s' of %s must be a JSON string",
				     name, t->name);
	}
	e->value = text;
	le->n++;
	return 0;
}

static int json_field_edit(line_edits *le, const chs_type_def *t, const char *name,
			   json_t *v)
{
	if (json_is_integer(v)) {
		snprintf(le->num[le->n], sizeof(le->num[0]), "%lld",
			 (long long)json_integer_value(v));
		return field_edit(le, t, name, VAL_INT, le->num[le->n]);
	}
	return field_edit(le, t, name, json_is_null(v) ? VAL_NULL
				       : json_is_string(v) ? VAL_STRING : VAL_OTHER,
			  json_string_value(v));
}

static int line_fields(line_edits *le, const chs_type_def *t, json_t *fields)
{
	const char *name;
	json_t *v;
	int err;

	le->n = 0;
	if (!fields)
		return 0;
	if (!json_is_object(fields))
		return chs_error_set(CHS_EINVALID, "\"fields\" must be an object");
	if (json_object_size(fields) > IMPORT_FIELDS_MAX)
		return chs_error_set(CHS_EINVALID, "too many fields");
	json_object_foreach(fields, name, v)
		if ((err = json_field_edit(le, t, name, v)) < 0)
			return err;
	return 0;
}

static const char *opt_string(json_t *obj, const char *key, int *bad)
{
	json_t *v = json_object_get(obj, key);

	if (v && !json_is_string(v))
		*bad = 1;
	return json_string_value(v);
}

static int check_keys(json_t *obj)
{
	static const char *const known[] = { "type", "id", "patient", "encounter",
					     "fields", NULL };
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		size_t i;

		for (i = 0; known[i] && strcmp(known[i], k) != 0; i++)
			;
		if (!known[i])
			return chs_error_set(CHS_EINVALID,
					     "unknown key '%s' (expected type, id, patient, encounter, fields)",
					     k);
	}
	return 0;
}

/* CHS_EEXISTS when the store holds record `hex` (32 hex digits). Only
 * "there is none" frees the id: any other failure of the lookup (out of
 * memory, the disk) is the import's, passed up, since SQLite may have
 * rolled the import's transaction back with it. */
static int id_free(chs_store *s, const char *hex)
{
	char found[33];
	int err = chs_record_resolve(s, hex, found);

	if (err == 0)
		return chs_error_set(CHS_EEXISTS, "record %s already exists", hex);
	if (err != CHS_ENOTFOUND)
		return err;
	chs_error_clear();
	return 0;
}

static int new_id(chs_store *s, const char *hex, unsigned char id[16])
{
	if (!hex) {
		chs_random(id, 16);
		return 0;
	}
	if (chs_util__parse_id(id, hex) < 0)
		return chs_error_set(CHS_EINVALID, "\"id\" must be 32 hex digits");
	return id_free(s, hex);
}

static int import_type(const char *type, const chs_type_def **t)
{
	if (!(*t = chs_schema_type(type)) ||
	    ((*t)->flags & (CHS_TYPE_VIA_ATTACH | CHS_TYPE_VIA_COMMAND | CHS_TYPE_APPEND_ONLY |
			    CHS_TYPE_COMPANION)))
		return chs_error_set(CHS_EINVALID, "'%s' is not a record type that can be imported",
				     type);
	return 0;
}

static int bad_members(void)
{
	return chs_error_set(CHS_EINVALID, "\"type\" (and id, patient, encounter) must be strings");
}

/* The line's record, its fields checked: checked as at entry, and saved. */
static int put_record(chs_writer *w, const chs_type_def *t, const line_edits *le,
		      const char *id_hex, const char *patient, const char *encounter)
{
	unsigned char id[16];
	chs_change *c = NULL;
	int err;

	if ((err = new_id(w->s, id_hex, id)) == 0 &&
	    (err = chs_records__new_record(w->s, t, id, le->e, le->n, patient,
					   encounter, &c)) == 0)
		err = chs_records__writer_put(w, c);
	return err;
}

/* A line jansson reads: anything the plain reader below does not take.
 * The object stays in le->json while the texts point into it. */
static int import_json(const char *text, size_t len, line_edits *le)
{
	const char *type;
	json_error_t jerr;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int bad = 0, err;

	if (!json_is_object(obj)) {
		json_decref(obj);
		return chs_error_set(CHS_EINVALID, "not a JSON object (%s)", jerr.text);
	}
	le->json = obj;
	type = opt_string(obj, "type", &bad);
	le->id = opt_string(obj, "id", &bad);
	le->patient = opt_string(obj, "patient", &bad);
	le->encounter = opt_string(obj, "encounter", &bad);
	if ((err = check_keys(obj)) < 0)
		return err;
	if (bad || !type)
		return bad_members();
	if ((err = import_type(type, &le->t)) < 0)
		return err;
	return line_fields(le, le->t, json_object_get(obj, "fields"));
}

/* ------------------------------------------------------------------ */
/* The plain reader                                                     */

/* Parsing each line with jansson was the largest part of an import.
 * Lines as programs write them (ASCII, strings without escapes, integers
 * without fraction or exponent, known members once each) are read here
 * in place; any other line goes to import_json, which reads it again
 * from the start and words every error, so what a line means and which
 * error it gets do not depend on the reader. */
typedef struct chs_import_scratch {
	const char *type, *id, *patient, *encounter;
	const char *name[IMPORT_FIELDS_MAX];
	size_t name_len[IMPORT_FIELDS_MAX];
	val_kind kind[IMPORT_FIELDS_MAX];
	const char *text[IMPORT_FIELDS_MAX];
	size_t nf;
	/* where to write the NULs that end the texts above, once all is read */
	char *ends[4 + 2 * IMPORT_FIELDS_MAX];
	size_t nends;
} plain_line;

typedef struct cursor {
	char *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' ||
				 *c->p == '\r'))
		c->p++;
}

static int take(cursor *c, char ch)
{
	skip_ws(c);
	if (c->p == c->end || *c->p != ch)
		return 0;
	c->p++;
	return 1;
}

/* A string without escapes or control characters: its text starts at
 * *text and ends at *end (the closing quote). */
static int plain_string(cursor *c, const char **text, char **end)
{
	char *q;

	if (!take(c, '"'))
		return 0;
	for (q = c->p; q < c->end && *q != '"'; q++)
		if ((unsigned char)*q < 0x20 || *q == '\\')
			return 0;
	if (q == c->end)
		return 0;
	*text = c->p;
	*end = q;
	c->p = q + 1;
	return 1;
}

/* An integer as JSON writes it and "%lld" prints it: no leading zero, no
 * "-0", at most 15 digits (exact in every reader). */
static int plain_integer(cursor *c, const char **text, char **end)
{
	char *q;
	size_t digits;

	skip_ws(c);
	q = c->p;
	if (q < c->end && *q == '-')
		q++;
	for (digits = 0; q + digits < c->end && q[digits] >= '0' && q[digits] <= '9'; digits++)
		;
	if (!digits || digits > 15 || (q[0] == '0' && (digits > 1 || q > c->p)))
		return 0;
	*text = c->p;
	*end = q + digits;
	c->p = q + digits;
	/* a fraction or an exponent makes it a real */
	return c->p == c->end || (*c->p != '.' && *c->p != 'e' && *c->p != 'E');
}

static int plain_value(cursor *c, plain_line *pl)
{
	size_t i = pl->nf;

	skip_ws(c);
	if (c->p < c->end && *c->p == '"') {
		pl->kind[i] = VAL_STRING;
		return plain_string(c, &pl->text[i], &pl->ends[pl->nends++]);
	}
	if ((size_t)(c->end - c->p) >= 4 && memcmp(c->p, "null", 4) == 0) {
		pl->kind[i] = VAL_NULL;
		pl->text[i] = NULL;
		c->p += 4;
		return 1;
	}
	pl->kind[i] = VAL_INT;
	return plain_integer(c, &pl->text[i], &pl->ends[pl->nends++]);
}

/* 1 when field name [text, end) is among those read before. */
static int name_seen(const plain_line *pl, const char *text, const char *end)
{
	size_t i, n = (size_t)(end - text);

	for (i = 0; i < pl->nf; i++)
		if (pl->name_len[i] == n && memcmp(pl->name[i], text, n) == 0)
			return 1;
	return 0;
}

static int plain_fields(cursor *c, plain_line *pl)
{
	char *end;

	if (!take(c, '{'))
		return 0;
	if (take(c, '}'))
		return 1;
	do {
		/* too many fields, or a name twice: import_json words it */
		if (pl->nf == IMPORT_FIELDS_MAX || !plain_string(c, &pl->name[pl->nf], &end) ||
		    name_seen(pl, pl->name[pl->nf], end) || !take(c, ':'))
			return 0;
		pl->name_len[pl->nf] = (size_t)(end - pl->name[pl->nf]);
		pl->ends[pl->nends++] = end;
		if (!plain_value(c, pl))
			return 0;
		pl->nf++;
	} while (take(c, ','));
	return take(c, '}');
}

/* One top-level member; each known one at most once. */
static int plain_member(cursor *c, plain_line *pl, unsigned *seen)
{
	static const char *const known[] = { "type", "id", "patient", "encounter", "fields" };
	const char **slot[] = { &pl->type, &pl->id, &pl->patient, &pl->encounter };
	const char *key;
	char *end;
	unsigned i;

	if (!plain_string(c, &key, &end) || !take(c, ':'))
		return 0;
	for (i = 0; i < 5; i++)
		if (strlen(known[i]) == (size_t)(end - key) &&
		    memcmp(known[i], key, (size_t)(end - key)) == 0)
			break;
	if (i == 5 || (*seen & (1u << i)))
		return 0;
	*seen |= 1u << i;
	if (i == 4)
		return plain_fields(c, pl);
	if (!plain_string(c, slot[i], &end))
		return 0;
	pl->ends[pl->nends++] = end;
	return 1;
}

/* Read `line` in place: 1 when read (its texts are NUL-terminated in the
 * line), 0 when it is for import_json (the line is left as it was). */
static int plain_read(plain_line *pl, char *line, size_t len)
{
	cursor c = { line, line + len };
	unsigned seen = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] >= 0x80)
			return 0; /* UTF-8 is import_json's to check */
	memset(pl, 0, sizeof(*pl));
	if (!take(&c, '{'))
		return 0;
	if (!take(&c, '}')) {
		do {
			if (!plain_member(&c, pl, &seen))
				return 0;
		} while (take(&c, ','));
		if (!take(&c, '}'))
			return 0;
	}
	skip_ws(&c);
	if (c.p != c.end)
		return 0;
	for (i = 0; i < pl->nends; i++)
		*pl->ends[i] = '\0';
	return 1;
}

static int import_plain(const plain_line *pl, line_edits *le)
{
	size_t i;
	int err;

	if (!pl->type)
		return bad_members();
	if ((err = import_type(pl->type, &le->t)) < 0)
		return err;
	le->id = pl->id;
	le->patient = pl->patient;
	le->encounter = pl->encounter;
	for (i = 0; i < pl->nf; i++)
		if ((err = field_edit(le, le->t, pl->name[i], pl->kind[i], pl->text[i])) < 0)
			return err;
	return 0;
}

int chs_records__import_begin(chs_import_line *l)
{
	memset(l, 0, sizeof(*l));
	if (!(l->scratch = chs_malloc(sizeof(*l->scratch))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return 0;
}

void chs_records__import_end(chs_import_line *l)
{
	json_decref(l->json);
	free(l->scratch);
	memset(l, 0, sizeof(*l));
}

int chs_records__import_read(chs_import_line *l, char *text, size_t len)
{
	json_decref(l->json);
	l->json = NULL;
	l->t = NULL;
	l->id = l->patient = l->encounter = NULL;
	l->n = 0;
	if (plain_read(l->scratch, text, len))
		return import_plain(l->scratch, l);
	return import_json(text, len, l);
}

/* All `len` bytes are blanks (a NUL is not: it ends no line). */
static int blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* The pipeline                                                         */

/*
 * Reading, checking, encoding, merging and signing took more than half
 * of an import, and none of it needs the store: a thread does it ahead
 * (the reader, below), and this one is left with the store, where the
 * file's records are asked about and written in the file's order. A line
 * of a new record of a type without companion that links to nothing
 * (patients, and whatever else names no patient or visit) goes through
 * as prepared changes: the store is asked about it once, for its chart
 * number when it has one (and first whether its id is taken, when the
 * line gives one). Any other line needs the store to be built (its links,
 * its companion): the reader waits until every line before it is
 * written, the writing thread waiting meanwhile, and builds and saves it
 * as chartsync always did, with the store to itself; the SQLite
 * connection is never used by both at once.
 *
 * What the reader found wrong about a line goes in the queue at its
 * place, so errors come in the order of the file, and the same error
 * first as if the lines were read one after the other; the writer
 * stops at the first, and the reader at the first it finds or when told.
 * At most QUEUE_DEPTH items wait; what grows with the file is the set of
 * its chart numbers' hashes (below), 16 bytes or less per patient.
 */
#define QUEUE_DEPTH 256

typedef enum item_kind {
	ITEM_RECORD, /* a prepared new record: its rows */
	ITEM_BATCH,  /* a batch sealed apart: its row, after its changes' */
	ITEM_END     /* the reader ended: err 0 when it read the whole file */
} item_kind;

/* Where a line's error from the reader stands among what the store is
 * asked: before the id is looked up, or after (the order of the checks
 * of chs_records__new_record() and chs_records__writer_put()). The chart
 * number is asked about after both: of what the reader checks after it
 * at entry (chs_records__writer_put()), only running out of memory can
 * befall a patient, the one type with a chart number (patients are
 * billing records, which every store may write, and an import is never
 * a service user's). */
enum { BEFORE_ID, AFTER_ID };

typedef struct item {
	item_kind kind;
	long lineno;
	chs_change *c;       /* RECORD: in the writer's batch, unchanged */
	chs_merged *m;       /* RECORD: owned; points into c */
	chs_batch *b;        /* BATCH: owned */
	int64_t seq;         /* the local seq of the change's batch, or the batch's */
	unsigned char id[16];
	char given[33];      /* RECORD: the id as the line gave it ("": none) */
	int ask_mrn;         /* RECORD: ask the store whose chart number it is */
	int err, stage;      /* < 0: the line's error (pipe.msg), at `stage` */
} item;

/* What a written item leaves for the reader to free: memory is best
 * freed by the thread that allocated it (glibc locks the allocating
 * thread's arena for a free from another, and a batch is thousands of
 * small allocations), as in the pull's read-ahead (replicate/pull.c). */
typedef struct spent {
	chs_merged *m;
	chs_batch *b;
} spent;

/* The writer takes up to TAKE_MAX items at once, and once it waits, it
 * is woken when that many wait (or the reader ends or needs the store):
 * on a busy machine a thread woken for each item waited for the
 * scheduler more than it worked. */
#define TAKE_MAX 64

typedef struct import_pipe {
	chs_writer *w;
	FILE *f;
	const char *path;
	pthread_mutex_t lock;
	/* signalled only when the other thread waits: while both are busy,
	 * handing an item over costs no system call */
	pthread_cond_t to_write;  /* an item was put, or stop was set */
	pthread_cond_t to_read;   /* items were taken or written, or stop */
	int writer_waits, reader_waits;
	int draining;          /* the reader waits for everything to be written */
	item q[QUEUE_DEPTH];
	size_t head, count;
	uint64_t put, written; /* items put, and taken and done with */
	spent back[2 * QUEUE_DEPTH];
	size_t nback;
	int stop;              /* the writer stopped: the reader ends */
	int64_t lines;         /* records read (all of them, once err is 0) */
	/* The chart numbers the file gave so far, hashed (the reader's): a
	 * record's number is asked about only when the store held numbers
	 * before, or when the file gave its hash before (ask_all) */
	uint64_t *mrns;
	size_t mrn_cap, mrn_n;
	int ask_all;
	char msg[512];         /* the reader's error, wrapped with its line */
} import_pipe;

static void spent_free(spent *sp, size_t n)
{
	size_t i;

	/* the merge points into the change, which the batch frees */
	for (i = 0; i < n; i++)
		chs_merged_free(sp[i].m);
	for (i = 0; i < n; i++)
		chs_batch_free(sp[i].b);
}

/* With the lock held: take what the writer gave back into `out`. */
static size_t take_back(import_pipe *p, spent *out)
{
	size_t n = p->nback;

	memcpy(out, p->back, n * sizeof(*out));
	p->nback = 0;
	return n;
}

/* Put `it`, waiting while the queue is full, and free what the writer
 * gave back; 0 when the writer stopped (the item is then the reader's to
 * free). */
static int pipe_put(import_pipe *p, const item *it, int flush)
{
	spent back[2 * QUEUE_DEPTH];
	size_t nback;
	int ok;

	pthread_mutex_lock(&p->lock);
	while (!p->stop && p->count == QUEUE_DEPTH) {
		p->reader_waits++;
		pthread_cond_wait(&p->to_read, &p->lock);
		p->reader_waits--;
	}
	if ((ok = !p->stop)) {
		p->q[(p->head + p->count) % QUEUE_DEPTH] = *it;
		p->count++;
		p->put++;
		if (p->writer_waits && (flush || p->count >= TAKE_MAX))
			pthread_cond_signal(&p->to_write);
	}
	nback = take_back(p, back);
	pthread_mutex_unlock(&p->lock);
	spent_free(back, nback);
	return ok;
}

/* Wait until every item put is written and the writer waits for more:
 * the store is the reader's until it puts the next. 0 when the writer
 * stopped. */
static int pipe_drained(import_pipe *p)
{
	int ok;

	pthread_mutex_lock(&p->lock);
	if (p->writer_waits && p->count)
		pthread_cond_signal(&p->to_write);
	p->draining = 1;
	while (!p->stop && p->written != p->put) {
		p->reader_waits++;
		pthread_cond_wait(&p->to_read, &p->lock);
		p->reader_waits--;
	}
	p->draining = 0;
	ok = !p->stop;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

/* The reader's error `err` on line `lineno`, or on none (0), for the
 * writer to report when it comes to it. */
static void reader_error(import_pipe *p, item *it, int err, long lineno, int stage)
{
	if (lineno > 0)
		chs_error_wrap(err, "%s, line %ld", p->path, lineno);
	pthread_mutex_lock(&p->lock);
	snprintf(p->msg, sizeof(p->msg), "%s", chs_error_last());
	pthread_mutex_unlock(&p->lock);
	it->err = err;
	it->stage = stage;
}

static void item_free(item *it)
{
	spent sp = { it->m, it->b };

	spent_free(&sp, 1);
	it->m = NULL;
	it->b = NULL;
}

/* A line that needs no store to be built; the store is asked about it
 * by the writer. */
/* FNV-1a; never 0, which marks a free slot. */
static uint64_t mrn_hash(const char *v)
{
	uint64_t h = 14695981039346656037ull;

	for (; *v; v++)
		h = (h ^ (unsigned char)*v) * 1099511628211ull;
	return h ? h : 1;
}

/* 1 when `h` was there (or can no longer be told: out of memory), 0 when
 * it was not and is now. */
static int mrn_seen(import_pipe *p, uint64_t h)
{
	size_t i;

	if (p->mrn_n * 2 >= p->mrn_cap) {
		size_t cap = p->mrn_cap ? 2 * p->mrn_cap : 4096, j;
		uint64_t *t = chs_calloc(cap, sizeof(*t));

		if (!t) {
			/* the store answers every one from here on */
			free(p->mrns);
			p->mrns = NULL;
			p->mrn_cap = p->mrn_n = 0;
			p->ask_all = 1;
			return 1;
		}
		for (j = 0; j < p->mrn_cap; j++)
			if (p->mrns[j])
				for (i = p->mrns[j] & (cap - 1); ; i = (i + 1) & (cap - 1))
					if (!t[i]) {
						t[i] = p->mrns[j];
						break;
					}
		free(p->mrns);
		p->mrns = t;
		p->mrn_cap = cap;
	}
	for (i = h & (p->mrn_cap - 1); p->mrns[i]; i = (i + 1) & (p->mrn_cap - 1))
		if (p->mrns[i] == h)
			return 1;
	p->mrns[i] = h;
	p->mrn_n++;
	return 0;
}

/* Whether the store must be asked about the chart number of `c`: a
 * number the store did not hold before the import, and the file did not
 * give before (by its hash), belongs to no other live patient. */
static int ask_mrn(import_pipe *p, const chs_change *c)
{
	size_t i;

	for (i = 0; i < c->nfields; i++)
		if (strcmp(c->fields[i].name, "mrn") == 0 && c->fields[i].value)
			return p->ask_all || mrn_seen(p, mrn_hash(c->fields[i].value));
	return 0;
}

static int prepared_line(const line_edits *le)
{
	return !le->patient && !le->encounter && !chs_schema_companion(le->t);
}

/* Build and prepare the line's record; its item (and the batch it fills,
 * sealed) go in the queue. 0 when the writer stopped, -1 when the line
 * was wrong (its error is in the queue), 1 when all went in. */
static int put_prepared(import_pipe *p, const line_edits *le, long lineno)
{
	item it, bt;
	chs_change *c = NULL;
	int err;

	memset(&it, 0, sizeof(it));
	it.kind = ITEM_RECORD;
	it.lineno = lineno;
	if (!le->id) {
		chs_random(it.id, 16);
	} else if (chs_util__parse_id(it.id, le->id) < 0) {
		reader_error(p, &it, chs_error_set(CHS_EINVALID, "\"id\" must be 32 hex digits"),
			     lineno, BEFORE_ID);
	} else {
		/* 32 hex digits: parsed */
		memcpy(it.given, le->id, 32);
	}
	if (it.err == 0 &&
	    (err = chs_records__new_change(le->t, it.id, le->e, le->n, &c)) < 0)
		reader_error(p, &it, err, lineno, AFTER_ID);
	if (it.err == 0)
		it.ask_mrn = ask_mrn(p, c);
	if (it.err == 0 && (err = chs_records__writer_prepare(p->w, c, &it.seq, &it.m)) < 0)
		reader_error(p, &it, err, lineno, AFTER_ID);
	if (it.err == 0)
		it.c = c;
	if (!pipe_put(p, &it, it.err < 0)) {
		item_free(&it);
		return 0;
	}
	if (it.err < 0)
		return -1;
	if (p->w->n < CHS_BATCH_MAX_CHANGES)
		return 1;
	memset(&bt, 0, sizeof(bt));
	bt.kind = ITEM_BATCH;
	bt.lineno = lineno;
	if ((err = chs_records__writer_seal_apart(p->w, &bt.b, &bt.seq)) < 0)
		reader_error(p, &bt, err, lineno, BEFORE_ID);
	if (!pipe_put(p, &bt, bt.err < 0)) {
		item_free(&bt);
		return 0;
	}
	return bt.err < 0 ? -1 : 1;
}

/* A line whose record needs the store to be built (links, companion):
 * built and saved here, as chartsync always did, once everything before
 * it is written. */
static int put_with_store(import_pipe *p, const line_edits *le, long lineno)
{
	item it;
	int err;

	if (!pipe_drained(p))
		return 0;
	/* its chart number, if it had one, is the store's to tell */
	if (chs_schema_field(le->t, "mrn"))
		p->ask_all = 1;
	if ((err = put_record(p->w, le->t, le, le->id, le->patient, le->encounter)) == 0)
		return 1;
	memset(&it, 0, sizeof(it));
	it.kind = ITEM_END;
	reader_error(p, &it, err, lineno, BEFORE_ID);
	return pipe_put(p, &it, 1) ? -1 : 0;
}

static void *reader_main(void *arg)
{
	import_pipe *p = arg;
	line_edits *le = chs_calloc(1, sizeof(*le));
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int err = 0, r = 1;
	item end;

	memset(&end, 0, sizeof(end));
	end.kind = ITEM_END;
	if (!le || (err = chs_records__import_begin(le)) < 0) {
		if (!le)
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		free(le);
		le = NULL;
		reader_error(p, &end, err, 0, BEFORE_ID);
		pipe_put(p, &end, 1);
		return NULL;
	}
	while (r > 0 && (len = getline(&line, &cap, p->f)) >= 0) {
		lineno++;
		if ((size_t)len > IMPORT_LINE_MAX)
			err = chs_error_set(CHS_EINVALID, "line too long");
		else if (blank(line, (size_t)len))
			continue;
		else
			err = chs_records__import_read(le, line, (size_t)len);
		if (err < 0) {
			reader_error(p, &end, err, lineno, BEFORE_ID);
			break;
		}
		r = prepared_line(le) ? put_prepared(p, le, lineno)
				      : put_with_store(p, le, lineno);
		if (r > 0)
			p->lines++;
	}
	/* getline() also stops without an error flag when it cannot grow
	 * its buffer: short of the end, the file was not all read, and
	 * committing the lines before would be a partial import */
	if (r > 0 && end.err == 0 && (ferror(p->f) || !feof(p->f)))
		reader_error(p, &end,
			     chs_error_set(errno == ENOMEM ? CHS_ENOMEM : CHS_EIO,
					   "cannot read '%s' to its end (%s); nothing was imported",
					   p->path, strerror(errno)), 0, BEFORE_ID);
	if (r > 0)
		pipe_put(p, &end, 1);
	free(line);
	chs_records__import_end(le);
	free(le);
	return NULL;
}

/* The next items, up to `max`, waiting for one; taken out of the queue
 * (the reader may put more meanwhile) but not yet written. */
static size_t pipe_take(import_pipe *p, item *out, size_t max)
{
	size_t n, i;

	pthread_mutex_lock(&p->lock);
	while (p->count == 0) {
		p->writer_waits++;
		pthread_cond_wait(&p->to_write, &p->lock);
		p->writer_waits--;
	}
	n = p->count < max ? p->count : max;
	for (i = 0; i < n; i++)
		out[i] = p->q[(p->head + i) % QUEUE_DEPTH];
	p->head = (p->head + n) % QUEUE_DEPTH;
	p->count -= n;
	if (p->reader_waits && !p->draining)
		pthread_cond_signal(&p->to_read);
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* `n` items taken are done with: what they hold goes back to the reader
 * to free (or is freed here when it has more than it takes back). */
static void pipe_written(import_pipe *p, item *it, size_t n)
{
	size_t i, k = 0;

	pthread_mutex_lock(&p->lock);
	p->written += n;
	for (i = 0; i < n; i++) {
		if (!it[i].m && !it[i].b)
			continue;
		if (p->nback == sizeof(p->back) / sizeof(p->back[0])) {
			it[k++] = it[i];
			continue;
		}
		p->back[p->nback].m = it[i].m;
		p->back[p->nback++].b = it[i].b;
	}
	if (p->reader_waits && p->draining && p->written == p->put)
		pthread_cond_signal(&p->to_read);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < k; i++)
		item_free(&it[i]);
}

/* The reader's error, as it worded it. */
static int read_error(import_pipe *p, const item *it)
{
	int err;

	pthread_mutex_lock(&p->lock);
	err = chs_error_set(it->err, "%s", p->msg);
	pthread_mutex_unlock(&p->lock);
	return err;
}

/* What the store is asked about a prepared record, and its rows. */
static int write_record(import_pipe *p, const item *it)
{
	int err;

	if (it->err < 0 && it->stage == BEFORE_ID)
		return read_error(p, it);
	if (it->given[0] && (err = id_free(p->w->s, it->given)) < 0)
		return chs_error_wrap(err, "%s, line %ld", p->path, it->lineno);
	if (it->err < 0)
		return read_error(p, it);
	if ((it->ask_mrn && (err = chs_records__check_mrn(p->w->s, it->c, it->id)) < 0) ||
	    (err = chs_records__writer_put_prepared(p->w, it->c, it->seq, it->m)) < 0)
		chs_error_wrap(err, "%s, line %ld", p->path, it->lineno);
	return err;
}

/* Write what the reader hands over, in order, until it ends or a line
 * is refused. */
static int write_all(import_pipe *p)
{
	item taken[TAKE_MAX];
	size_t n, i, j;
	int err = 0, end = 0;

	while (err == 0 && !end) {
		n = pipe_take(p, taken, TAKE_MAX);
		for (i = 0; i < n && err == 0 && !end; i++) {
			item *it = &taken[i];

			if (it->kind == ITEM_RECORD) {
				err = write_record(p, it);
			} else if (it->kind == ITEM_BATCH) {
				if (it->err < 0)
					err = read_error(p, it);
				else if ((err = chs_records__writer_put_sealed(p->w, it->b, it->seq)) < 0)
					chs_error_wrap(err, "%s, line %ld", p->path, it->lineno);
			} else {
				end = 1;
				if (it->err < 0)
					err = read_error(p, it);
			}
		}
		/* what follows the item that ended it is not written */
		for (j = i; j < n; j++)
			item_free(&taken[j]);
		pipe_written(p, taken, i);
	}
	return err;
}

/* Tell the reader to stop, wait for it, and free what it left. */
static void pipe_stop(import_pipe *p, pthread_t reader)
{
	item rest[QUEUE_DEPTH];
	spent back[2 * QUEUE_DEPTH];
	size_t n, i;

	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->to_read);
	pthread_mutex_unlock(&p->lock);
	pthread_join(reader, NULL);
	while (p->count > 0)
		for (i = 0, n = pipe_take(p, rest, QUEUE_DEPTH); i < n; i++)
			item_free(&rest[i]);
	spent_free(back, take_back(p, back));
}

static int import_stream(chs_writer *w, FILE *f, const char *path, int64_t *count)
{
	pthread_t reader;
	import_pipe *p;
	int64_t held = 1;
	int err;

	if ((err = chs_records__writer_chain(w)) < 0 ||
	    (err = chs_store__get_int(w->s, "SELECT EXISTS (SELECT 1 FROM records"
				      " WHERE mrn IS NOT NULL)", &held)) < 0)
		return err;
	if (!(p = chs_calloc(1, sizeof(*p))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	/* only a live patient's row has a chart number (writer.c, bind_mrn) */
	p->ask_all = held != 0;
	p->w = w;
	p->f = f;
	p->path = path;
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		free(p);
		return chs_error_set(CHS_ENOMEM, "cannot start reading: out of resources");
	}
	if (pthread_cond_init(&p->to_write, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		free(p);
		return chs_error_set(CHS_ENOMEM, "cannot start reading: out of resources");
	}
	if (pthread_cond_init(&p->to_read, NULL) != 0) {
		pthread_cond_destroy(&p->to_write);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return chs_error_set(CHS_ENOMEM, "cannot start reading: out of resources");
	}
	if (pthread_create(&reader, NULL, reader_main, p) != 0) {
		err = chs_error_set(CHS_ENOMEM, "cannot start reading: out of resources");
	} else {
		err = write_all(p);
		pipe_stop(p, reader);
		if (err == 0)
			*count = p->lines;
	}
	pthread_cond_destroy(&p->to_read);
	pthread_cond_destroy(&p->to_write);
	pthread_mutex_destroy(&p->lock);
	free(p->mrns);
	free(p);
	return err;
}

int chs_record_import(chs_store *s, const char *path, int64_t *count)
{
	FILE *f;
	chs_writer w;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(path);
	CHS_ASSERT_ARG(count);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	*count = 0;
	if (!f)
		return chs_error_set(CHS_EINVALID, "cannot read '%s': %s", path,
				     strerror(errno));
	if ((err = chs_records__writer_begin(&w, s)) == 0) {
		if ((err = import_stream(&w, f, path, count)) < 0)
			chs_records__writer_abort(&w);
		else
			err = chs_records__writer_commit(&w);
	}
	if (err < 0)
		*count = 0;
	if (f != stdin)
		fclose(f);
	chs_store__after_big_job((size_t)*count);
	return err;
}
