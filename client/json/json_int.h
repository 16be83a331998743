/*
 * client/json/json_int.h - shared by the files of client/json/ only: how
 * a document is built.
 *
 * A document is built with chs_json__set() and chs_json__add(), which take
 * the value they are given whatever happens and note a failure (out of
 * memory) in the document instead of stopping; chs_json__dump() checks the
 * note once, at the end. So a formatter is a plain run of calls with one
 * error check.
 */
#ifndef CHS_CLIENT_JSON_JSON_INT_H
#define CHS_CLIENT_JSON_JSON_INT_H

#include <jansson.h>
#include <stddef.h>

#include "client/json/json.h"

typedef struct chs_json_doc {
	int bad; /* something could not be built: out of memory */
} chs_json_doc;

/* o[key] = v, taking `v`. */
void chs_json__set(chs_json_doc *d, json_t *o, const char *key, json_t *v);
/* Append `v` to `arr`, taking `v`. */
void chs_json__add(chs_json_doc *d, json_t *arr, json_t *v);
/* A canonical JSON value (a field's, a candidate's) as a jansson value;
 * NULL when it does not parse or memory runs out. */
json_t *chs_json__value(const char *text);
/* An array of the `n` strings. */
json_t *chs_json__strings(chs_json_doc *d, const char *const *s, size_t n);
/* Write `v` (taken) to `*out` (malloc'ed) compactly, with jansson's
 * `flags` (JSON_SORT_KEYS, or JSON_PRESERVE_ORDER for the documents whose
 * keys were always printed in their own order); CHS_ENOMEM when anything
 * of the document could not be built. */
int chs_json__dump(chs_json_doc *d, json_t *v, size_t flags, char **out);

#endif /* CHS_CLIENT_JSON_JSON_INT_H */
