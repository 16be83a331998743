/*
 * Fuzz target: JSON Lines as `chartsync import` reads them
 * (client/records/import.c, through its offered reader import.h), line
 * by line as getline() hands them over, before any record is built.
 * Never crash or leak. The import has two readers, a fast one for lines
 * as programs write them and jansson for the rest, and neither may take
 * a line in a way jansson would not: whatever a line is read as, jansson
 * reads the same bytes as an object with the same type, members and
 * fields, each field of the type and of its kind.
 */
#include "client/records/import.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_member(json_t *obj, const char *key, const char *read)
{
	json_t *v = json_object_get(obj, key);

	if (!read ? v != NULL : !json_is_string(v) || strcmp(json_string_value(v), read) != 0)
		abort();
}

/* What the reader took from `line` is what jansson reads in `copy`. */
static void check_line(const chs_import_line *l, const char *copy, size_t len)
{
	json_t *obj = json_loadb(copy, len, JSON_REJECT_DUPLICATES, NULL), *fields, *v;
	size_t i;

	if (!json_is_object(obj) || !l->t || l->n > CHS_IMPORT_FIELDS_MAX)
		abort();
	same_member(obj, "type", l->t->name);
	same_member(obj, "id", l->id);
	same_member(obj, "patient", l->patient);
	same_member(obj, "encounter", l->encounter);
	fields = json_object_get(obj, "fields");
	if ((fields ? json_object_size(fields) : 0) != l->n)
		abort();
	for (i = 0; i < l->n; i++) {
		const chs_field_def *f = chs_schema_field(l->t, l->e[i].name);
		char num[24];

		if (!f || !l->e[i].value || l->e[i].raw || l->e[i].unset ||
		    !(v = json_object_get(fields, l->e[i].name)))
			abort();
		if (chs_schema_kind_is_integer(f->kind)) {
			if (!json_is_integer(v))
				abort();
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			if (strcmp(num, l->e[i].value) != 0)
				abort();
		} else if (!json_is_string(v) || strcmp(json_string_value(v), l->e[i].value) != 0) {
			abort();
		}
	}
	json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	chs_import_line l;
	char *buf = malloc(size + 1), *copy = malloc(size + 1);
	size_t at = 0;

	if (!buf || !copy || chs_records__import_begin(&l) != 0) {
		free(buf);
		free(copy);
		return 0;
	}
	memcpy(buf, data, size);
	memcpy(copy, data, size);
	while (at < size) {
		const char *nl = memchr(buf + at, '\n', size - at);
		size_t len = nl ? (size_t)(nl - (buf + at)) + 1 : size - at;

		if (chs_records__import_read(&l, buf + at, len) == 0)
			check_line(&l, copy + at, len);
		at += len;
	}
	chs_records__import_end(&l);
	free(buf);
	free(copy);
	return 0;
}
