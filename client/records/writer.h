/*
 * client/records/writer.h - local saves and record state, offered to the
 * client modules above the records: one save is one transaction and one
 * signed batch.
 */
#ifndef CHS_CLIENT_RECORDS_WRITER_H
#define CHS_CLIENT_RECORDS_WRITER_H

#include "client/store/db.h"
#include "client/records/schema.h"
#include "client/records/records.h"

#define CHS_AUDIT_TYPE "audit" /* the record type of access events */
/* the record type of the archive's tampering that syncs saw and healed;
 * append-only like access events, and admitted by the same rule */
#define CHS_ARCHIVE_EVENT_TYPE "archive_event"

struct json_t; /* jansson's */

/* ---- writer.c: local changes, batches, and record state ---- */

/* One local save: a write transaction that collects changes into signed
 * batches (one batch per save, up to CHS_BATCH_MAX_CHANGES each). */
typedef struct chs_writer {
	chs_store *s;
	chs_change **batch; /* owned until sealed */
	size_t n, cap;
	chs_hlc clock;
	char *terminal;
	int64_t next_seq;   /* local seq of the batch being filled */
	int64_t changes;    /* changes written by this save */
	int role;           /* this device's role on the roster; 0: none yet */
	/* The sync's own save, not a person's: a service user may make it
	 * (placing the records this device made on a merged chart,
	 * client/identity). Set after chs_records__writer_begin(). */
	int sync_own;
	/* This device's last batch, kept here from chs_records__writer_chain()
	 * on instead of asked of the store at each seal. */
	int chained, has_prev;
	uint64_t dseq;
	unsigned char prev[32];
} chs_writer;

int chs_records__writer_begin(chs_writer *w, chs_store *s);
/* Stamp `c` (hlc, device, user, terminal, and for anything but a create
 * the record's current heads as parents), store it and update the
 * record; the fields a clinical companion keeps go to the companion, in
 * the same save (companion.c). Takes ownership of `c` whatever the
 * result. A change that comes with parents keeps them: two changes put
 * with the same parents are concurrent, as if made at two sites (a
 * merge of two charts puts both charts' differing values so, for a
 * person to choose between in review); the parents must be changes of
 * the record this store holds. */
int chs_records__writer_put(chs_writer *w, chs_change *c);
/* The same, but `c` is stored whole: its clinical fields are not moved
 * to a companion. What chartsync wrote before companions existed; only
 * the tests that make such data call it. */
int chs_records__writer_put_whole(chs_writer *w, chs_change *c);
/*
 * A save in two parts, for bulk import: one thread prepares each change
 * (checks, stamp, encoding, merged state, batches and their signatures),
 * with no use of the store, while another writes the rows. The store is
 * asked for this device's last batch once, by chs_records__writer_chain()
 * (before the preparing starts); the preparing thread owns the writer's
 * clock, batch and seqs until it ends.
 */
int chs_records__writer_chain(chs_writer *w);
/* Prepare new record `c` (a create of a type without companion): checked
 * as chs_records__writer_put() would, stamped, encoded, added to the batch
 * being filled (local seq `*seq`), and merged into `*m` (which points into
 * `c`: free it first). Takes ownership of `c` whatever the result; the
 * batch owns it then, and it must stay unchanged. */
int chs_records__writer_prepare(chs_writer *w, chs_change *c, int64_t *seq,
				chs_merged **m);
/* Seal the batch being filled (none when it is empty: `*b` NULL) into `*b`
 * for local seq `*seq`; written with ..._put_sealed() after its changes. */
int chs_records__writer_seal_apart(chs_writer *w, chs_batch **b, int64_t *seq);
/* The rows of a prepared change: the change, and its record's state. */
int chs_records__writer_put_prepared(chs_writer *w, const chs_change *c, int64_t seq,
				     const chs_merged *m);
int chs_records__writer_put_sealed(chs_writer *w, const chs_batch *b, int64_t seq);
/* Seal the last batch and commit; on failure everything is rolled back. */
int chs_records__writer_commit(chs_writer *w);
void chs_records__writer_abort(chs_writer *w);

/* Record a sealed batch under local order `seq`: ours (`local`, not yet
 * sent) or received. */
int chs_records__insert_batch(chs_store *s, const chs_batch *b, int64_t seq,
			      int local);
/* Remember the clock (never moving it back), in the store and in `s`. */
int chs_records__clock_save(chs_store *s, chs_hlc clock);
/* All changes of a record, decoded (free with chs_records__changes_free). */
/* One stored change, decoded: CHS_ENOTFOUND when the store has none with
 * this id, CHS_EDAMAGED when it does not decode. */
int chs_records__load_change(chs_store *s, const unsigned char id[32], chs_change **out);
int chs_records__load_changes(chs_store *s, const unsigned char rec[16],
			      chs_change ***out, size_t *n);
void chs_records__changes_free(chs_change **list, size_t n);
/* Save a record's row from its merged state (none while every change
 * waits for a parent). */
int chs_records__save_state(chs_store *s, const unsigned char rec[16], const chs_merged *m);
/* Recompute a record from its stored changes and save its row. */
int chs_records__refresh_record(chs_store *s, const unsigned char rec[16]);
/* Merge a record's stored changes; `*changes` must outlive `*out`. */
int chs_records__merge_record(chs_store *s, const unsigned char rec[16],
			      chs_merged **out, chs_change ***changes,
			      size_t *n);


/* ---- companion.c: the clinical fields of billing records ---- */

/* Whether this store's role reads the clinical compartment (a store
 * outside an organisation does). */
int chs_records__reads_clinical(chs_store *s, int *yes);
/* The id of the companion (type `ct`) of record `parent`. */
void chs_records__companion_id(const chs_type_def *ct, const unsigned char parent[16],
			       unsigned char out[16]);
/* For a local change `c` of a type with a clinical companion: take the
 * fields the companion keeps out of `c` into `*out` (a create or edit of
 * the companion; a delete when `c` removes the record), NULL when there
 * is nothing for it. `*empty` is 1 when `c` is left with nothing to
 * write. CHS_EDENIED when a billing office (`role`) writes such a field,
 * CHS_EREVIEW when the companion's field is under review. */
int chs_records__companion_split(chs_store *s, int role, chs_change *c, chs_change **out,
				 int *empty);
/* The fields object of `parent`'s companion of type `ct` (a new
 * reference), NULL when it has none. */
int chs_records__companion_fields(chs_store *s, const chs_type_def *ct,
				  const unsigned char parent[16], struct json_t **out);
/* Make the `fields` object of a stored record of `type` what this store
 * shows: a store that reads clinical content takes the companion's
 * fields into it; a billing office's loses every field a companion keeps
 * (values synced before companions existed). */
int chs_records__clinical_fields(chs_store *s, const char *type, const unsigned char id[16],
				 struct json_t *fields);
/* The same for one text field: `*text` (malloc'ed or NULL) is replaced
 * by what this store shows. */
int chs_records__clinical_text(chs_store *s, const char *type, const unsigned char id[16],
			       const char *field, char **text);

/* ---- records.c ---- */
/* The typed, checked, canonical JSON for an edit of a field of `t`. */
int chs_records__edit_value(const chs_type_def *t, const chs_edit *e,
			    chs_buf *out);
/* The part of chs_records__new_record() that needs no store: the create
 * change with its fields typed and checked and the required ones there,
 * without links (bulk import builds it off the writing thread). */
int chs_records__new_change(const chs_type_def *t, const unsigned char id[16],
			    const chs_edit *edits, size_t n, chs_change **out);
/* CHS_EEXISTS when the chart number (mrn) of create `c` belongs to a
 * live patient of this store other than `self`. */
int chs_records__check_mrn(chs_store *s, const chs_change *c, const unsigned char self[16]);
/* Build the create change of a new record of type `t` with id `id`,
 * checked as at entry; shared by add and import. */
int chs_records__new_record(chs_store *s, const chs_type_def *t,
			    const unsigned char id[16], const chs_edit *edits,
			    size_t n, const char *patient, const char *encounter,
			    chs_change **out);

#endif /* CHS_CLIENT_RECORDS_WRITER_H */
