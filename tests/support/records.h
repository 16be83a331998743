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
/* A scan of `size` bytes written to DIR/name and attached at store `s`
 * to a new patient named `name`; the attachment's id in `id`. */
void tu_attach_scan(chs_store *s, const char *dir, const char *name, size_t size,
		    char id[33]);
/* Whether the bytes of attachment `id` are readable at store `s`. */
int tu_attachment_readable(chs_store *s, const char *id);
/* `text` (malloc'ed, freed here) parsed as JSON; fails the test if it is
 * not JSON. The caller json_decref()s what it gets. */
json_t *tu_json(char *text);
/* Record `id` in `s` looked up (chs_record_lookup, unaudited) as `show
 * --json` prints it (chs_json_record), parsed; fails the test on an
 * error. */
json_t *tu_show(chs_store *s, const char *id);

/* The views as JSON text, as the CLI prints them with --json: the typed
 * view, then the edge formatter (client/json/json.h). Each returns the
 * view's error code, with `*json` malloc'ed on success (NULL otherwise). */
int tu_show_json(chs_store *s, const char *id, char **json);
int tu_list_json(chs_store *s, const char *type, const char *patient, char **json);
int tu_log_json(chs_store *s, const char *id, char **json);
int tu_review_json(chs_store *s, char **json);
/* The same through the audited views (client/audit/audit.h). */
int tu_access_show_json(chs_store *s, const char *id, char **json);
int tu_access_list_json(chs_store *s, const char *type, const char *patient,
			char **json);
int tu_access_log_json(chs_store *s, const char *id, char **json);
/* Confirmation and coding as JSON text, the same way: the typed result
 * (chs_record_list_unconfirmed, chs_coding_queue, chs_coding_assign),
 * then its formatter (client/json/json.h). */
int tu_unconfirmed_json(chs_store *s, const char *patient, char **json);
int tu_coding_queue_json(chs_store *s, char **json);
int tu_coding_assign_json(chs_store *s, const char *visit,
			  const chs_coding_assign_opts *o, char **json);
/* The value of field `name` of a shown record (borrowed; NULL if none). */
const char *tu_field(json_t *rec, const char *name);

#endif
