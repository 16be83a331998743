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

static int new_id(chs_store *s, const char *hex, unsigned char id[16])
{
	char found[33];

	if (!hex) {
		chs_random(id, 16);
		return 0;
	}
	if (chs_util__parse_id(id, hex) < 0)
		return chs_error_set(CHS_EINVALID, "\"id\" must be 32 hex digits");
	if (chs_record_resolve(s, hex, found) == 0)
		return chs_error_set(CHS_EEXISTS, "record %s already exists", hex);
	chs_error_clear();
	return 0;
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

/* The line read, then its record checked as at entry and saved. */
static int import_line(chs_writer *w, char *text, size_t len, line_edits *le)
{
	int err;

	if ((err = chs_records__import_read(le, text, len)) < 0)
		return err;
	return put_record(w, le->t, le, le->id, le->patient, le->encounter);
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

static int import_stream(chs_writer *w, FILE *f, const char *path, int64_t *count)
{
	line_edits *le = chs_calloc(1, sizeof(*le));
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int err = 0;

	if (!le)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = chs_records__import_begin(le)) < 0) {
		free(le);
		return err;
	}
	while (err == 0 && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if ((size_t)len > IMPORT_LINE_MAX)
			err = chs_error_set(CHS_EINVALID, "line too long");
		else if (!blank(line, (size_t)len) && (err = import_line(w, line, (size_t)len, le)) == 0)
			(*count)++;
		if (err < 0)
			chs_error_wrap(err, "%s, line %ld", path, lineno);
	}
	/* getline() also stops without an error flag when it cannot grow
	 * its buffer: short of the end, the file was not all read, and
	 * committing the lines before would be a partial import */
	if (err == 0 && (ferror(f) || !feof(f)))
		err = chs_error_set(errno == ENOMEM ? CHS_ENOMEM : CHS_EIO,
				    "cannot read '%s' to its end (%s); nothing was imported", path,
				    strerror(errno));
	free(line);
	chs_records__import_end(le);
	free(le);
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
