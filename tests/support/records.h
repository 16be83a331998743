/*
 * tests/support/records.h - records as the suites write and read them:
 * an edit of one field, and what the store shows, as JSON.
 */
#ifndef CHS_TEST_RECORDS_H
#define CHS_TEST_RECORDS_H

#include "client/chartsync.h"

#include <jansson.h>

/* Field `name` set to `value` (NULL clears it). */
chs_edit tu_edit(const char *name, const char *value);
/* `text` (malloc'ed, freed here) parsed as JSON; fails the test if it is
 * not JSON. The caller json_decref()s what it gets. */
json_t *tu_json(char *text);
/* chs_record_show of record `id` in `s`, parsed; fails the test on an
 * error. */
json_t *tu_show(chs_store *s, const char *id);
/* The value of field `name` of a shown record (borrowed; NULL if none). */
const char *tu_field(json_t *rec, const char *name);

#endif
