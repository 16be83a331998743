/*
 * client/client_int.h - shared between the files of client/ only.
 */
#ifndef CHS_CLIENT_INT_H
#define CHS_CLIENT_INT_H

#include "client/chartsync.h"
#include "schema_int.h"
#include "sync/sync.h"

#include <sqlite3.h>

#define CHS_STORE_SCHEMA 4           /* schema version this code writes */
#define CHS_BUSY_TIMEOUT_MS 30000    /* wait this long for other writers */
#define CHS_CHECKPOINT_FRAMES 1000   /* checkpoint once the WAL is this long */
#define CHS_USER_NAME_MAX 64         /* bytes */
#define CHS_STMT_CACHE 64            /* prepared statements kept per store */

struct chs_store {
	char *dir;
	char *db_path;
	char *slots_path;
	char *lock_path;
	char *user;
	int admin;
	char store_id[33];
	char device_id[33];
	unsigned char *key; /* the store key, secret memory */
	chs_kdf_params kdf; /* parameters of the opener's slot, for new slots */
	chs_vfs *vfs;
	sqlite3 *db;
	chs_identity *identity;
	int lock_fd;
	int lock_depth;
	int wal_frames; /* frames in the WAL after the last commit */
	struct {
		const char *sql; /* a string literal: compared by address */
		sqlite3_stmt *st;
		int busy;
	} stmts[CHS_STMT_CACHE];
	chs_hlc clock;  /* the last stamp this store gave or saw */
	int role_known; /* role below is read from the newest roster */
	int role;       /* this device's chs_role there; 0: not on one */
};

/* ---- keyslots.c: the slot file ---- */
typedef struct chs_slot_entry {
	char *user;
	chs_slot slot;
} chs_slot_entry;

typedef struct chs_slot_file {
	char store_id[33];
	chs_slot_entry *entries;
	size_t count;
} chs_slot_file;

int chs_client__slots_read(chs_slot_file *out, const char *path);
int chs_client__slots_write(const chs_slot_file *sf, const char *path);
void chs_client__slots_dispose(chs_slot_file *sf);
chs_slot_entry *chs_client__slots_find(chs_slot_file *sf, const char *user);
/* Add or replace the slot of `user`. */
int chs_client__slots_put(chs_slot_file *sf, const char *user,
			  const chs_slot *slot);
void chs_client__slots_remove(chs_slot_file *sf, const char *user);

/* ---- lock.c: the cross-process writer lock ---- */
int chs_client__lock_open(chs_store *s);
int chs_client__lock(chs_store *s);
/* Take the lock only if it is free now: CHS_EBUSY otherwise. */
int chs_client__trylock(chs_store *s);
void chs_client__unlock(chs_store *s);
void chs_client__lock_close(chs_store *s);

/* ---- store.c: the database ---- */
/* Map an SQLite result to a CHS_E* code and message about `what`. */
int chs_client__sqlerr(chs_store *s, int rc, const char *what);
/* The store's tables and indexes, as created (for the import floor bench). */
const char *chs_client__schema_sql(void);
int chs_client__exec(chs_store *s, const char *sql);
/* Prepared statements are cached per store (parsing SQL costs more than
 * running these small statements): `sql` must be a string literal, and
 * every statement goes back with chs_client__finish(), never finalize. */
int chs_client__prepare(chs_store *s, sqlite3_stmt **out, const char *sql);
void chs_client__finish(chs_store *s, sqlite3_stmt *st);
void chs_client__finish_all(chs_store *s);
/* Write transactions: take the writer lock, BEGIN IMMEDIATE ... COMMIT,
 * checkpoint while still holding the lock when the WAL has grown, release.
 * rollback is safe to call after a failed begin or commit. */
int chs_client__begin(chs_store *s);
int chs_client__commit(chs_store *s);
void chs_client__rollback(chs_store *s);
/* After a job that moved `items` changes or records: when it was big,
 * give the heap it freed back to the system. glibc keeps freed memory
 * (a million-change import left 140 MB of it), and every helper process
 * a sync forks afterwards pays for the parent's mappings: 15 ms more per
 * fork per 300 MB. */
void chs_client__after_big_job(size_t items);
/* Scalar helpers; `*out` text is malloc'ed. */
int chs_client__get_text(chs_store *s, const char *sql, const char *arg,
			 char **out);
int chs_client__get_int(chs_store *s, const char *sql, int64_t *out);

/* ---- users.c ---- */
/* CHS_EINVALID with a message unless `name` is a usable user name. */
int chs_client__check_user_name(const char *name);
/* Create or refresh a slot for `user` under the writer lock. */
int chs_client__slot_set(chs_store *s, const char *user, const char *pass,
			 size_t passlen);

/* ---- config.c ---- */
/* Validate and write one setting inside the caller's transaction. */
int chs_client__config_put(chs_store *s, const char *key, const char *value);

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
} chs_writer;

int chs_client__writer_begin(chs_writer *w, chs_store *s);
/* Stamp `c` (hlc, device, user, terminal, and for anything but a create
 * the record's current heads as parents), store it and update the
 * record. Takes ownership of `c` whatever the result. */
int chs_client__writer_put(chs_writer *w, chs_change *c);
/* Seal the last batch and commit; on failure everything is rolled back. */
int chs_client__writer_commit(chs_writer *w);
void chs_client__writer_abort(chs_writer *w);

/* Record a sealed batch under local order `seq`: ours (`local`, not yet
 * sent) or received. */
int chs_client__insert_batch(chs_store *s, const chs_batch *b, int64_t seq,
			     int local);
/* Remember the clock (never moving it back), in the store and in `s`. */
int chs_client__clock_save(chs_store *s, chs_hlc clock);
/* All changes of a record, decoded (free with chs_client__changes_free). */
/* One stored change, decoded: CHS_ENOTFOUND when the store has none with
 * this id, CHS_EDAMAGED when it does not decode. */
int chs_client__load_change(chs_store *s, const unsigned char id[32], chs_change **out);
int chs_client__load_changes(chs_store *s, const unsigned char rec[16],
			     chs_change ***out, size_t *n);
void chs_client__changes_free(chs_change **list, size_t n);
/* Save a record's row from its merged state (none while every change
 * waits for a parent). */
int chs_client__save_state(chs_store *s, const unsigned char rec[16], const chs_merged *m);
/* Recompute a record from its stored changes and save its row. */
int chs_client__refresh_record(chs_store *s, const unsigned char rec[16]);
/* Merge a record's stored changes; `*changes` must outlive `*out`. */
int chs_client__merge_record(chs_store *s, const unsigned char rec[16],
			     chs_merged **out, chs_change ***changes,
			     size_t *n);

/* ---- records.c ---- */
/* The decoded text of a canonical JSON string value; NULL if `json` is
 * not a string. malloc'ed. */
char *chs_client__json_string(const char *json);
/* Parse 32 hex digits. */
int chs_client__parse_id(unsigned char out[16], const char *hex);
/* The typed, checked, canonical JSON for an edit of a field of `t`. */
int chs_client__edit_value(const chs_type_def *t, const chs_edit *e,
			   chs_buf *out);
/* Build the create change of a new record of type `t` with id `id`,
 * checked as at entry; shared by add and import. */
int chs_client__new_record(chs_store *s, const chs_type_def *t,
			   const unsigned char id[16], const chs_edit *edits,
			   size_t n, const char *patient, const char *encounter,
			   chs_change **out);
/* Time of an HLC stamp as ISO 8601 UTC, into out[32]. */
void chs_client__hlc_time(chs_hlc t, char out[32]);

/* ---- replica.c ---- */
/* A stored batch, rebuilt with its changes in manifest order. */
int chs_client__load_batch(chs_store *s, const void *manifest, size_t len,
			   const unsigned char sig[CHS_SIGNATURE_BYTES], chs_batch **out);

/* ---- apply.c ---- */
/* What a received batch means, worked out without the store (so on any
 * thread): records' states and form problems. It points into the batch,
 * which must outlive it. */
typedef struct chs_batch_plan chs_batch_plan;
int chs_client__plan_batch(const chs_batch *b, chs_batch_plan **out);
void chs_client__plan_free(chs_batch_plan *p);
/* Store and merge a batch already verified (whole or the subset this
 * device reads), inside the caller's transaction; *applied = 0 when it
 * was held already. `plan`: the batch's, or NULL to make it here. */
int chs_client__apply_verified(chs_store *s, const chs_batch *b, const chs_batch_plan *plan,
			       int *applied);
/* How far the chain of `device`'s batches is applied here (all zero:
 * nothing yet), and its new end, saved inside the caller's transaction. */
int chs_client__progress_load(chs_store *s, const char *device, chs_chain *chain);
int chs_client__progress_save(chs_store *s, const char *device, const chs_chain *chain);
/* The last batch of `device` applied here (0: none). */
int chs_client__progress_seq(chs_store *s, const char *device, int64_t *seq);

/* ---- audit.c: the access audit ---- */
#define CHS_AUDIT_TYPE "audit" /* the record type of access events */
/* Record that the store's user opened patient data: one signed,
 * append-only `audit` record in one batch (a durable commit of its own,
 * waiting for another writer up to the busy timeout). `action` names what
 * was viewed ("show", "ls", "log", "open", "export", "report ..."; under
 * 32 bytes); `records` the records whose content was shown, the one asked
 * for first (may be NULL with n = 0); `patient` the patient's id or a
 * prefix (NULL when none); `start_ms` wall-clock milliseconds since the
 * Unix epoch (chs_audit_now_ms()) and `duration_ms` how long it lasted.
 * Call it before handing the content to a person, and fail the command
 * when it fails: an unrecorded look at a chart is not acceptable. */
int chs_client__audit(chs_store *s, const char *action,
		      const unsigned char (*records)[16], size_t n,
		      const char *patient, int64_t start_ms, int64_t duration_ms);
/* An access under way, written by chs_access_close(): begin notes the
 * start; add appends a record shown; patient sets the patient. */
int chs_client__access_begin(chs_access **out, const char *action);
int chs_client__access_add(chs_access *a, const unsigned char id[16]);
void chs_client__access_patient(chs_access *a, const unsigned char id[16]);
/* 0 when the store takes a write now (so an access can be recorded). */
int chs_client__audit_probe(chs_store *s);
/* admit.c: refuse (CHS_EDENIED, naming the device) a received batch that edits,
 * removes or re-creates an access event; inside the apply transaction,
 * before the batch's changes are stored. known[i] (one per change) is set
 * to whether the store held a change of change i's record. */
int chs_client__audit_admit(chs_store *s, const chs_batch *b, unsigned char *known);

/* ---- org.c, replicate.c ---- */
/* The newest roster this store accepted (its commit id in `oid`, "" when
 * not yet in git); CHS_ENOTFOUND when the store is in no organisation. */
int chs_client__roster_load(chs_store *s, chs_roster **out, char oid[41]);
int chs_client__roster_save(chs_store *s, const char *body, size_t len,
			    const unsigned char sig[CHS_SIGNATURE_BYTES], const char *oid,
			    uint64_t seq);
/* The organisation and admin key this store pinned; CHS_ENOTFOUND. */
int chs_client__org_pinned(chs_store *s, char org[33],
			   unsigned char admin[CHS_SIGN_PK_BYTES]);
int chs_client__org_pin(chs_store *s, const char *org, const unsigned char *admin);
/* 1 when this store holds the organisation's admin key. */
int chs_client__org_admin(chs_store *s, int *yes);
/* The admin's store: commit the saved rosters not yet in git. */
int chs_client__publish_rosters(chs_store *s, chs_git *g);
/* This device's role on the newest roster (0 when on none), cached. */
int chs_client__role(chs_store *s, int *role);

/* ---- blobsync.c: attachment bytes through the archive ---- */
/* What the sync lends the attachment steps. */
typedef struct chs_blob_sync {
	chs_store *s;
	chs_git *git;
	const char *url;
	const chs_roster *roster;
	const chs_roster_device *me;
	chs_key_fn key_of;       /* the sync's data keys */
	void *key_payload;
	int fetched;             /* the sync's fetch included the chunks */
	const chs_sync_opts *opts;
	chs_sync_report *rep;
} chs_blob_sync;

/* 1 when this store's device (by the roster it holds) reads clinical
 * data, so its fetches should include attachment chunks. */
int chs_client__blobs_wanted(chs_store *s);
/* Read other devices' new chunk commits (fetching them first unless
 * b->fetched), check them and store the chunks; an attachment whose
 * chunks are all here becomes readable. A device whose chunks fail a
 * check is reported (b->rep) and left where it was. Nothing for a device
 * that reads no clinical data. */
int chs_client__blobs_pull(const chs_blob_sync *b);
/* Send the chunks of this store's attachments that the archive does not
 * have yet, a bounded commit at a time, each pushed before the next is
 * made: an interruption loses at most one commit's worth. Run it after
 * the batches that name them are pushed. */
int chs_client__blobs_push(const chs_blob_sync *b);

/* ---- confirm.c ---- */
/* Add "confirmed" (chs_record_confirmation()) to a record's JSON from
 * chs_record_show(), replacing `*json`. */
int chs_client__confirm_annotate(chs_store *s, char **json);

/* ---- fees.c ---- */
/* The site of `device` on the newest roster (NULL when none). */
int chs_client__device_site(chs_store *s, const char *device, char **site);
/* The fee for `code` on `day` at `site` (see chs_coding_assign()). */
int chs_client__fee_lookup(chs_store *s, const char *code, const char *day,
			   const char *site, int64_t *cents, int *found);

/* ---- util.c ---- */
/* Write `len` bytes to `path` crash-safely: temp file, fsync, rename,
 * fsync the folder. */
int chs_client__write_file(const char *path, const void *data, size_t len,
			   int mode);
/* Read a whole file of at most `max` bytes; `*out` is malloc'ed and
 * NUL-terminated. CHS_ENOTFOUND if it does not exist. */
int chs_client__read_file(const char *path, size_t max, char **out,
			  size_t *len);
char *chs_client__path(const char *dir, const char *name);
char *chs_client__strdup(const char *s);
int64_t chs_client__now(void);
/* Die here (SIGKILL) when CHARTSYNC_FAULT names `point`: fault drills. */
void chs_client__fault(const char *point);

#endif
