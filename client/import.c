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
#include "client_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT_LINE_MAX (1u << 20) /* bytes */
#define IMPORT_FIELDS_MAX 64

typedef struct line_edits {
	chs_edit e[IMPORT_FIELDS_MAX];
	char num[IMPORT_FIELDS_MAX][24]; /* integers, as text */
	size_t n;
} line_edits;

static int field_edit(line_edits *le, const chs_type_def *t, const char *name,
		      json_t *v)
{
	const chs_field_def *f = chs_schema_field(t, name);
	chs_edit *e = &le->e[le->n];

	if (!f)
		return chs_error_set(CHS_EINVALID, "%s has no field '%s'", t->name, name);
	e->name = name;
	if (json_is_null(v))
		return chs_error_set(CHS_EINVALID, "field '%s' is null; leave it out", name);
	if (chs_schema_kind_is_integer(f->kind)) {
		if (!json_is_integer(v))
			return chs_error_set(CHS_EINVALID, "field '%s' of %s must be %s",
					     name, t->name, chs_schema_expected(f->kind));
		snprintf(le->num[le->n], sizeof(le->num[0]), "%lld",
			 (long long)json_integer_value(v));
		e->value = le->num[le->n];
	} else {
		if (!json_is_string(v))
			return chs_error_set(CHS_EINVALID, "field '%s' of %s must be a JSON string",
					     name, t->name);
		e->value = json_string_value(v);
	}
	le->n++;
	return 0;
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
		if ((err = field_edit(le, t, name, v)) < 0)
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
	if (chs_client__parse_id(id, hex) < 0)
		return chs_error_set(CHS_EINVALID, "\"id\" must be 32 hex digits");
	if (chs_record_resolve(s, hex, found) == 0)
		return chs_error_set(CHS_EEXISTS, "record %s already exists", hex);
	chs_error_clear();
	return 0;
}

static int import_line(chs_writer *w, const char *text, size_t len, line_edits *le)
{
	const chs_type_def *t;
	const char *type, *id_hex, *patient, *encounter;
	unsigned char id[16];
	chs_change *c = NULL;
	json_error_t jerr;
	json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	int bad = 0, err;

	if (!json_is_object(obj)) {
		json_decref(obj);
		return chs_error_set(CHS_EINVALID, "not a JSON object (%s)", jerr.text);
	}
	type = opt_string(obj, "type", &bad);
	id_hex = opt_string(obj, "id", &bad);
	patient = opt_string(obj, "patient", &bad);
	encounter = opt_string(obj, "encounter", &bad);
	if ((err = check_keys(obj)) < 0)
		goto done;
	if (bad || !type) {
		err = chs_error_set(CHS_EINVALID, "\"type\" (and id, patient, encounter) must be strings");
		goto done;
	}
	if (!(t = chs_schema_type(type)) ||
	    (t->flags & (CHS_TYPE_VIA_ATTACH | CHS_TYPE_VIA_COMMAND | CHS_TYPE_APPEND_ONLY))) {
		err = chs_error_set(CHS_EINVALID, "'%s' is not a record type that can be imported",
				    type);
		goto done;
	}
	if ((err = line_fields(le, t, json_object_get(obj, "fields"))) == 0 &&
	    (err = new_id(w->s, id_hex, id)) == 0 &&
	    (err = chs_client__new_record(w->s, t, id, le->e, le->n, patient,
					  encounter, &c)) == 0)
		err = chs_client__writer_put(w, c);
done:
	json_decref(obj);
	return err;
}

static int blank(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return *s == '\0';
}

static int import_stream(chs_writer *w, FILE *f, const char *path, int64_t *count)
{
	line_edits *le = calloc(1, sizeof(*le));
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int err = 0;

	if (!le)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	while (err == 0 && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if ((size_t)len > IMPORT_LINE_MAX)
			err = chs_error_set(CHS_EINVALID, "line too long");
		else if (!blank(line) && (err = import_line(w, line, (size_t)len, le)) == 0)
			(*count)++;
		if (err < 0)
			chs_error_wrap(err, "%s, line %ld", path, lineno);
	}
	if (err == 0 && ferror(f))
		err = chs_error_set(CHS_EIO, "cannot read '%s'", path);
	free(line);
	free(le);
	return err;
}

int chs_record_import(chs_store *s, const char *path, int64_t *count)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	chs_writer w;
	int err;

	*count = 0;
	if (!f)
		return chs_error_set(CHS_EINVALID, "cannot read '%s': %s", path,
				     strerror(errno));
	if ((err = chs_client__writer_begin(&w, s)) == 0) {
		if ((err = import_stream(&w, f, path, count)) < 0)
			chs_client__writer_abort(&w);
		else
			err = chs_client__writer_commit(&w);
	}
	if (err < 0)
		*count = 0;
	if (f != stdin)
		fclose(f);
	return err;
}
