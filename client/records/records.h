/*
 * client/records/records.h - records, their signed history, review and
 * confirmation, and the batches that carry them between stores.
 */
#ifndef CHS_CLIENT_RECORDS_RECORDS_H
#define CHS_CLIENT_RECORDS_RECORDS_H

#include <stddef.h>
#include <stdint.h>
#include "client/store/store.h"

/* ---------------------------------------------------------------------
 * Records
 *
 * A record has a random 128-bit id (32 hex digits; any unique prefix of
 * at least 4 digits is accepted where an id is asked for), a type and
 * named fields. Every call that writes is one transaction and one signed
 * batch of changes, recorded as made by the store's user at its terminal.
 * Results that describe records come back as JSON text (malloc'ed), the
 * same the CLI prints with --json:
 *
 *   record: {"id":..,"type":..,"fields":{..},"deleted":false,
 *            "review":false,"heads":[..],"candidates":{"field":[
 *            {"change":..,"value":..,"user":..,"terminal":..,"time":..}]}}
 */
typedef struct chs_edit {
	const char *name;
	const char *value; /* NULL with unset */
	int raw;           /* value is JSON (FIELD:=JSON), not typed text */
	int unset;         /* clear the field */
} chs_edit;

/* Parse "FIELD=VALUE" or "FIELD:=JSON" (borrowing `arg`'s memory, which
 * is modified). CHS_EINVALID if it is neither. */
int chs_edit_parse(chs_edit *out, char *arg);

/* Create a record. `patient` and `encounter` are ids or prefixes (NULL
 * when not given). CHS_EINVALID names the field, the value and the
 * expected form; CHS_ENOTFOUND for a link to no record. */
int chs_record_add(chs_store *s, const char *type, const chs_edit *edits,
		   size_t n, const char *patient, const char *encounter,
		   char id_out[33]);
int chs_record_set(chs_store *s, const char *id, const chs_edit *edits,
		   size_t n);
int chs_record_rm(chs_store *s, const char *id);
/* Resolve a prefix to a full id: CHS_ENOTFOUND, CHS_EAMBIGUOUS. */
int chs_record_resolve(chs_store *s, const char *prefix, char id_out[33]);
/* Import JSON Lines: one record per line,
 *   {"type":"patient","id":"<optional 32 hex>","patient":"<id>",
 *    "encounter":"<id>","fields":{...}}
 * All or nothing: one transaction, batches of up to 1,000 changes.
 * `*count` gets the number of records imported; a bad line is named in
 * the message with its number. */
int chs_record_import(chs_store *s, const char *path, int64_t *count);

/* Attachments: the file's bytes stored once by content (SHA-256), inside
 * the encrypted store, and an `attachment` record pointing at them. */
int chs_attach(chs_store *s, const char *patient, const char *path,
	       const char *encounter, const char *title, char id_out[33]);

/* ---------------------------------------------------------------------
 * Review
 */
/* JSON array of the records under review. */
int chs_review_list(chs_store *s, char **json);
/* Settle a record under review with a resolve change whose parents are
 * all the heads: the edits given, or, with `take`, the values of that
 * change (an id prefix of one of the candidates). Fields under review
 * that neither names keep their provisional value. A removal against an
 * edit: taking the removal removes the record, taking the edit or giving
 * values keeps it. */
int chs_review_resolve(chs_store *s, const char *id, const chs_edit *edits,
		       size_t n, const char *take);

/* ---------------------------------------------------------------------
 * Entry confirmation (client/records/confirm.c)
 *
 * A colleague confirms that records match the paper chart. A confirmation
 * is an append-only signed record of type `confirmation` naming the
 * record and its current head change (billing compartment: billing
 * offices confirm what they read; it holds ids, never content). A record
 * is confirmed iff a confirmation names its current heads, so any later
 * edit makes it unconfirmed again.
 */
/* Confirm the records `ids` (ids or prefixes), with an optional `note`,
 * in one save: all of them or none. CHS_EDENIED when the current version
 * of one is the user's own work (a second pair of eyes), CHS_EREVIEW when
 * one is under review, CHS_EINVALID for a removed record or one that is
 * not a chart entry (confirmation, audit, fee). A record already
 * confirmed at its current version is left as it is; `*added` (may be
 * NULL) counts the confirmations made. */
int chs_record_confirm(chs_store *s, const char *const *ids, size_t n,
		       const char *note, size_t *added);
/* Who confirmed the current version of a record: JSON
 * {"by","terminal","time","note","change","confirmation"} (note may be
 * absent), or null when it waits. chs_record_show() carries the same as
 * its "confirmed" member. `*json` is malloc'ed. */
int chs_record_confirmation(chs_store *s, const char *id, char **json);
/* Chart entries not confirmed at their current version, oldest first (as
 * chs_record_list(), each row with "changed" and "by" of its last
 * change); one patient's with `patient`. */
int chs_record_list_unconfirmed(chs_store *s, const char *patient, char **json);

/* ---------------------------------------------------------------------
 * Convergence and batches (the replication layer ships these as they are)
 */
/* The state hash over every record: equal for two stores that hold the
 * same changes. With `full`, every record is first recomputed from its
 * changes and compared with what is stored (CHS_EDAMAGED on a mismatch). */
int chs_store_verify(chs_store *s, int full, char hash_hex[65],
		     int64_t *records);

typedef struct chs_outgoing {
	unsigned char id[32];
	char *bytes; /* chs_batch_encode() form */
	size_t len;
} chs_outgoing;

/* This store's batches not yet marked sent, oldest first. */
int chs_store_unsent(chs_store *s, chs_outgoing **out, size_t *n);
void chs_outgoing_free(chs_outgoing *list, size_t n);
int chs_store_mark_sent(chs_store *s, const unsigned char id[32]);
/* Apply a batch made elsewhere: verify its signature, then store and
 * merge its changes in one transaction. A batch already held is a no-op. */
int chs_store_apply_batch(chs_store *s, const void *bytes, size_t len);

#endif /* CHS_CLIENT_RECORDS_RECORDS_H */
