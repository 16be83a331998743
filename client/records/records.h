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
 * What is read back comes as objects (chs_record, chs_record_list,
 * chs_history, below); the JSON the CLI prints with --json is made from
 * them by client/json/json.h.
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
/* 1 when `s` is a date as record fields hold one: ISO 8601 YYYY-MM-DD,
 * or (with `with_time`) also a date-time with its zone, such as
 * 2024-03-15T09:30Z; else 0 (NULL too). For a command line's date options, checked
 * before anything is read. */
int chs_record_date_form(const char *s, int with_time);

/* Create a record. `patient` and `encounter` are ids or prefixes (NULL
 * when not given). Each value is held to its field in the schema
 * (client/records/schema.c): CHS_EINVALID names the field and what is
 * wrong (its form, a control character or bidirectional override,
 * invalid UTF-8, its length limit, blank where required, a date out of
 * bounds); CHS_ENOTFOUND for a link to no record; CHS_EEXISTS for a chart
 * number (mrn) another live patient has. Identifiers (mrn, member_id) are
 * stored trimmed, in NFC, with one kind of dash. chs_record_set, review
 * resolve, import and confirm hold values the same way. */
int chs_record_add(chs_store *s, const char *type, const chs_edit *edits,
		   size_t n, const char *patient, const char *encounter,
		   char id_out[33]);
int chs_record_set(chs_store *s, const char *id, const chs_edit *edits,
		   size_t n);
int chs_record_rm(chs_store *s, const char *id);
/* Resolve a prefix to a full id: CHS_ENOTFOUND, CHS_EAMBIGUOUS. */
int chs_record_resolve(chs_store *s, const char *prefix, char id_out[33]);
/* Resolve `id` (an id or prefix) as chs_record_resolve() does; when it is
 * a patient merged into another (client/identity: its `merged_into`),
 * follow the merges to the patient whose chart it is now, and set
 * `merged_from` (may be NULL) to the id asked for; else `merged_from` is
 * "". Merges that point round in a ring (two archivists merged a pair two
 * ways, under review) stop at the last patient before the ring closes.
 * What a lookup of a patient, a listing of one patient's records, a new
 * record's patient, the export and the hot folder use, so a merged chart
 * lands on the one that holds it now. */
int chs_record_follow(chs_store *s, const char *id, char id_out[33], char merged_from[33]);
/* Import JSON Lines: one record per line,
 *   {"type":"patient","id":"<optional 32 hex>","patient":"<id>",
 *    "encounter":"<id>","fields":{...}}
 * All or nothing: one transaction, batches of up to 1,000 changes.
 * `*count` gets the number of records imported; a bad line is named in
 * the message with its number. */
int chs_record_import(chs_store *s, const char *path, int64_t *count);

/* The fields a person types, record type by record type, and whether
 * their values are clinical: a billing office never receives those (a
 * visit's reason, say, is kept on a clinical companion of the visit).
 * Field `i` (from 0) into `*out`, whose strings are static: 0, or
 * CHS_ENOTFOUND past the last. */
typedef struct chs_field_info {
	const char *type, *field;
	const char *kind; /* text, date, integer, cents, icd10cm, cpt, sha256, ids */
	int clinical;
} chs_field_info;

int chs_record_field_info(size_t i, chs_field_info *out);
/* Whether field `field` of records of `type` holds lines (newline and tab
 * kept, as in a note's text) rather than one line of text; 0 for a field
 * the schema does not know. For views that lay a value out. */
int chs_record_field_holds_lines(const char *type, const char *field);
/* Text typed for field `field` of a record of `type` as signing writes it:
 * normalised (codes in capitals; identifiers trimmed, in NFC, with one
 * kind of dash; a note's CR LF as LF), checked as at entry, and given as
 * its canonical JSON value into `*out` (malloc'ed: "\"I10\"", "12500").
 * So a page shows exactly what will be signed before it is. CHS_EINVALID
 * with the reason when the text is refused. */
int chs_record_field_normal_form(const char *type, const char *field, const char *text,
				 char **out);

/* Attachments: the file's bytes stored once by content (SHA-256), inside
 * the encrypted store, and an `attachment` record pointing at them. */
int chs_attach(chs_store *s, const char *patient, const char *path,
	       const char *encounter, const char *title, char id_out[33]);
/* The same from an open file (read from its start; not closed): what a
 * caller checked is what is stored, whatever is renamed over `path`
 * meanwhile. `path` names it in messages and gives its media type. */
int chs_attach_fd(chs_store *s, const char *patient, int fd, const char *path,
		  const char *encounter, const char *title, char id_out[33]);

/* ---------------------------------------------------------------------
 * Records read back
 *
 * A chs_record is one record as the store holds it now: an opaque object,
 * read with the accessors below, freed with chs_record_free(). It is a
 * copy: it does not change when the store does, and it needs neither the
 * store nor anything else to stay alive. Every string, struct and array
 * an accessor returns is borrowed from the object and lives until it is
 * freed. Ids are lowercase hex (records 32 digits, changes 64), times
 * ISO 8601 UTC to the millisecond ("2024-03-15T09:30:12.345Z"), field
 * values canonical JSON text (sync/sync.h: "\"Ada\"", "12500", "null").
 *
 * A record comes whole from a lookup (chs_access_show(), and the
 * unaudited view in client/records/views.h): its history counted, its
 * heads, the candidates of everything under review, and who confirmed its
 * current version. A record in a chs_record_list (chs_access_list(),
 * chs_review_list()) is read from the stored state alone, without its
 * history: id, type, deleted, heads, fields and which of them are under
 * review; its change count and candidate counts are 0 and it carries no
 * confirmation. Index arguments out of range are caller bugs: the
 * accessors return 0 or NULL for them.
 */
typedef struct chs_record chs_record;

/* One candidate value of something under review: a change that wrote it
 * and no other write to it descends from. */
typedef struct chs_record_candidate {
	const char *change;   /* the change's id */
	const char *value;    /* canonical JSON; NULL when the change clears
			       * the field (and for removal candidates) */
	int removed;          /* removal candidates: 1 if the change removes
			       * the record, 0 if it edits (keeps) it */
	const char *user;     /* who made it; "" when not recorded */
	const char *terminal; /* where; "" when not recorded */
	const char *device;   /* the device that signed it, 32 hex */
	const char *time;     /* when (its clock's wall time) */
} chs_record_candidate;

/* A colleague's check of the record's current version against the paper
 * chart (chs_record_confirm()). */
typedef struct chs_confirmation {
	const char *by;           /* who confirmed */
	const char *terminal;     /* where; "" when not recorded */
	const char *time;         /* when */
	const char *note;         /* NULL when none was given */
	const char *change;       /* the version confirmed: its heads'
				   * change ids, sorted, joined by commas */
	const char *confirmation; /* the confirmation record's id */
} chs_confirmation;

/* The record's id (32 hex) and type ("patient", "note", ...). */
const char *chs_record_id(const chs_record *r);
const char *chs_record_type(const chs_record *r);
/* 1 when the record is removed (provisionally, while a removal is under
 * review). */
int chs_record_deleted(const chs_record *r);
/* 1 when anything of the record is under review (a field, or its
 * removal); its values are then provisional. */
int chs_record_under_review(const chs_record *r);
/* 1 when a removal at one site against an edit at another is under
 * review; its candidates are chs_record_removal_candidate(). */
int chs_record_removal_under_review(const chs_record *r);
/* The number of changes in the record's history (0 in a list). */
size_t chs_record_change_count(const chs_record *r);
/* The record's current heads: change ids, sorted. */
size_t chs_record_head_count(const chs_record *r);
const char *chs_record_head(const chs_record *r, size_t i);

/* The fields, sorted by name; a field under review whose provisional
 * value clears it is listed with the value "null", a cleared field is
 * otherwise absent. */
size_t chs_record_field_count(const chs_record *r);
const char *chs_record_field_name(const chs_record *r, size_t i);
const char *chs_record_field_value(const chs_record *r, size_t i);
/* The value of field `name`, or NULL when the record has none. */
const char *chs_record_field(const chs_record *r, const char *name);
/* 1 when field i is under review (it has candidates). */
int chs_record_field_under_review(const chs_record *r, size_t i);
/* The candidates of field i, in change-id order (none when it is not
 * under review, or in a list). */
size_t chs_record_field_candidate_count(const chs_record *r, size_t i);
const chs_record_candidate *chs_record_field_candidate(const chs_record *r,
							size_t i, size_t k);
/* The candidates of a removal under review (none otherwise, or in a
 * list). */
size_t chs_record_removal_count(const chs_record *r);
const chs_record_candidate *chs_record_removal_candidate(const chs_record *r,
							  size_t k);
/* Who confirmed the current version; NULL when it waits for a colleague,
 * for a record that is not a confirmable chart entry (removed, audit,
 * confirmation, fee), and in a list. */
const chs_confirmation *chs_record_confirmed(const chs_record *r);
/* When the record's last change (its first head) was made, and by whom
 * ("" when not recorded): known for a record listed by
 * chs_record_list_unconfirmed() (NULL there too when that change is not
 * held), NULL for any other record. */
const char *chs_record_changed(const chs_record *r);
const char *chs_record_changed_by(const chs_record *r);
/* Free a record and everything borrowed from it; accepts NULL. */
void chs_record_free(chs_record *r);

/* Records in order (each list says which), owned by the list. */
typedef struct chs_record_list chs_record_list;

size_t chs_record_list_count(const chs_record_list *l);
/* Record i, borrowed from the list; NULL when i is out of range. */
const chs_record *chs_record_list_get(const chs_record_list *l, size_t i);
/* Free the list and its records; accepts NULL. */
void chs_record_list_free(chs_record_list *l);

/* A record's history (chs_access_log()): its changes in causal order,
 * ties by (time, change id). Entries and everything they point at are
 * borrowed from the history and live until chs_history_free(). */
typedef struct chs_history chs_history;

/* A field a change sets: its name and canonical JSON value. */
typedef struct chs_named_value {
	const char *name;
	const char *value;
} chs_named_value;

typedef struct chs_history_entry {
	const char *change;   /* the change's id */
	const char *op;       /* "create", "update", "delete", "resolve" */
	const char *time;
	const char *user;     /* "" when not recorded */
	const char *terminal; /* "" when not recorded */
	const char *device;   /* 32 hex */
	const chs_named_value *set;  /* the fields it sets, by name */
	size_t nset;
	const char *const *unset;    /* the fields it clears, by name */
	size_t nunset;
	const char *const *parents;  /* the heads its author saw, sorted */
	size_t nparents;
	int merge;            /* it saw several heads (nparents > 1) */
	int removed;          /* a resolve: 1 if it settles for removal */
} chs_history_entry;

size_t chs_history_count(const chs_history *h);
/* Entry i, or NULL when i is out of range. */
const chs_history_entry *chs_history_get(const chs_history *h, size_t i);
/* Free the history; accepts NULL. */
void chs_history_free(chs_history *h);

/* Where a change came from: the signed batch that brought it to this
 * store. For the desk's candidates: whose key signed them, and when they
 * arrived beside when their author's clock says they were made. */
typedef struct chs_change_origin {
	char batch[65];      /* the batch's id, 64 hex */
	char device[33];     /* the device that signed it */
	char key[65];        /* the Ed25519 public key it names, 64 hex */
	uint64_t dseq;       /* the batch's number in that device's chain */
	int local;           /* 1: made in this store */
	int64_t received;    /* when it reached this store (Unix seconds;
			      * when it was saved, for a local one) */
	int signature_ok;    /* 1: the change is in the batch's manifest and
			      * the manifest's signature checks out against
			      * `key`, checked again now */
} chs_change_origin;

/* The origin of change `change` (64 hex). CHS_ENOTFOUND when the store
 * holds no such change. Reads ids, keys and times only: not an access. */
int chs_change_origin_get(chs_store *s, const char *change, chs_change_origin *out);
/* How far this store holds the chain of batches of `device` (32 hex):
 * the number of its last batch here (0: none) and when that reached this
 * store (Unix seconds; 0: none). For the desk's sync state. */
int chs_store_device_last_batch(chs_store *s, const char *device, uint64_t *dseq,
				int64_t *received);

/* ---------------------------------------------------------------------
 * Review
 */
/* The records under review (removed ones too: a removal may be what is
 * under review), oldest first, as a list (without their histories: see
 * chs_access_show() for the candidates). */
int chs_review_list(chs_record_list **out, chs_store *s);
/* How many records are under review: a number only, so a service user
 * (which chs_review_list() refuses) can report it in its status. */
int chs_review_count(chs_store *s, int64_t *out);
/* Settle a record under review with a resolve change whose parents are
 * all the heads: the edits given, or, with `take`, the values of that
 * change (an id prefix of one of the candidates). Fields under review
 * that neither names keep their provisional value. A removal against an
 * edit: taking the removal removes the record, taking the edit or giving
 * values keeps it. */
int chs_review_resolve(chs_store *s, const char *id, const chs_edit *edits,
		       size_t n, const char *take);
/* chs_review_resolve() only while the record's heads are `heads` (its
 * chs_record_head() ids, sorted, joined by commas): checked in the same
 * transaction as the write, so a record that changed after a person read
 * it (another archivist settled it, a sync brought changes) is left as
 * it is: CHS_EEXISTS, nothing written. For the desk, which shows the
 * change before it is signed. */
int chs_review_resolve_at(chs_store *s, const char *id, const char *heads,
			  const chs_edit *edits, size_t n, const char *take);

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
/* Who confirmed the current version of a record (the same as
 * chs_record_confirmed() of the record looked up): `*out` is NULL when it
 * waits, and for a record that is removed or not a chart entry; else it
 * is the caller's, to free with chs_confirmation_free(). CHS_ENOTFOUND,
 * CHS_EAMBIGUOUS for `id`. */
int chs_record_confirmation(chs_confirmation **out, chs_store *s, const char *id);
/* Free what chs_record_confirmation() gave, and its strings; accepts NULL.
 * (A record's own chs_record_confirmed() goes with the record.) */
void chs_confirmation_free(chs_confirmation *c);
/* Chart entries not confirmed at their current version, oldest first, as
 * a list (records read from the stored state, as chs_access_list() reads
 * them); one patient's (and the patient's own record) with `patient` (an
 * id or prefix, a merged patient followed as chs_record_follow() does;
 * NULL for all). Each record carries who made its last
 * change and when: chs_record_changed(), chs_record_changed_by(). */
int chs_record_list_unconfirmed(chs_record_list **out, chs_store *s,
				const char *patient);

/* ---------------------------------------------------------------------
 * Convergence and batches (the replication layer ships these as they are)
 */
/* The state hash over every record: equal for two stores that hold the
 * same changes. Every page of the store is read and verified first
 * (chs_store_verify_pages: CHS_EDAMAGED when one does not decrypt). With
 * `full`, every record is also recomputed from its changes and compared
 * with what is stored (CHS_EDAMAGED on a mismatch). */
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
/* How many of this store's batches are not yet marked sent. */
int chs_store_unsent_count(chs_store *s, int64_t *count);
int chs_store_mark_sent(chs_store *s, const unsigned char id[32]);
/* Apply a batch made elsewhere: verify its signature, then store and
 * merge its changes in one transaction. A batch already held is a no-op. */
int chs_store_apply_batch(chs_store *s, const void *bytes, size_t len);

#endif /* CHS_CLIENT_RECORDS_RECORDS_H */
