/*
 * client/replicate/replicate_int.h - shared by the files of client/replicate/ only.
 */
#ifndef CHS_CLIENT_REPLICATE_REPLICATE_INT_H
#define CHS_CLIENT_REPLICATE_REPLICATE_INT_H

#include "client/replicate/replicate.h"
#include "client/records/apply.h"
#include "client/records/writer.h"
#include "client/util/util.h"

#include <pthread.h>

/* ---- one sync: sync.c runs it, on send.c, on pull.c, on tamper.c ----
 * The files call downwards only: sync.c calls send.c, resync.c, pull.c
 * and tamper.c, send.c calls resync.c and pull.c, resync.c calls pull.c,
 * pull.c and tamper.c neither. */
#define FETCHED "refs/remotes/archive/chartsync/"
#define FETCHED_ROSTER FETCHED "roster"
#define FETCHED_DEVICES FETCHED "devices/"

/* The archive's refs as the mirror last saw them (tamper.c). */
typedef struct chs_replicate_seen {
	char **refs;        /* refs/remotes/archive/chartsync/... */
	char (*oids)[41];
	size_t n;
} chs_replicate_seen;

typedef struct sync_ctx {
	chs_store *s;
	chs_git *git;
	const char *url;
	chs_roster *roster;
	const chs_roster_device *me;
	const chs_sync_opts *opts;
	chs_sync_report *rep;
	int org_admin; /* this store holds the organisation's admin key */
	int own_ref_forged; /* the archive holds commits under this device's name it did not make */
	int own_unrooted; /* ... and the mirror holds no ref of this device's (resync.c) */
	chs_replicate_seen seen; /* the archive's refs before this sync's fetch */
	int roster_deleted; /* check_archive: only the roster is missing there */
	int roster_forged;  /* check_archive: the roster there is not one the admin signed */
	/* the store transaction batches are being applied in (see apply_one, pull.c) */
	int applying;
	size_t group_batches, group_changes;
	size_t group_own; /* of them this device's own (resync.c) */
	uint64_t group_start_ms; /* monotonic, when the open group began */
	/* data keys unsealed this sync, by compartment and generation; the
	 * read-ahead thread unseals them too, under keys_lock */
	unsigned char *keys[CHS_NCOMPARTMENTS][CHS_MAX_GENERATIONS];
	pthread_mutex_t keys_lock;
	chs_git *reader_git; /* the read-ahead thread's own handle */
} sync_ctx;

/* pull.c: the sync's notes, data keys, and what comes in. */
/* A problem that does not stop the sync: kept for the report (one line,
 * counted as refused); the attachment steps note theirs through the _v
 * form with the report they were lent. */
void chs_replicate__report_notev(chs_sync_report *rep, const char *fmt, va_list ap)
	CHS_PRINTF(2, 0);
void chs_replicate__sync_note(sync_ctx *x, const char *fmt, ...) CHS_PRINTF(2, 3);
/* Tell the caller's progress function, if any. */
void chs_replicate__sync_progress(sync_ctx *x, const char *what, size_t done, size_t total);
/* CHS_ECANCELLED, saying that what was applied is kept, when the
 * caller's cancel (opts may be NULL) says stop; else 0. Asked only where
 * stopping leaves no half-done step. */
int chs_replicate__cancelled(const chs_sync_opts *opts);
/* chs_key_fn over the roster this sync holds (payload: the sync_ctx);
 * unsealed keys are kept until chs_replicate__sync_keys_dispose(), and any
 * thread may ask. CHS_EDENIED for a compartment this device's role does
 * not read. */
int chs_replicate__sync_key_of(int compartment, uint32_t gen, unsigned char *key, void *payload);
void chs_replicate__sync_keys_dispose(sync_ctx *x);
/* CHS_EDENIED, saying why, unless the fetched archive carries this
 * organisation's roster signed by the admin key this store pinned (or may
 * take one: a store that has not pinned its organisation yet; the admin's
 * store publishing to an empty archive or over a deleted roster). Run
 * before anything is applied or sent. */
int chs_replicate__check_archive(sync_ctx *x);
/* Accept the archive's new roster commits (fetched by then). */
int chs_replicate__fetch_roster(sync_ctx *x);
/* Check and apply every other device's new batches; a device whose
 * batches fail a check is noted and left where it was. */
int chs_replicate__pull_devices(sync_ctx *x);
/* Apply this device's own batch `b`, accepted from the archive, in the
 * pull's groups of batches (resync.c); chs_replicate__apply_end()
 * commits the open group, chs_replicate__apply_abort() undoes it. */
int chs_replicate__apply_batch(sync_ctx *x, const chs_batch *b);
int chs_replicate__apply_end(sync_ctx *x);
void chs_replicate__apply_abort(sync_ctx *x);

/* resync.c: a store behind its own history (restored from a backup, or
 * its mirror lost). Calls pull.c. */
/* Where the archive holds batches of this device that this store's
 * mirror does not (DIR/git missing, or behind): check them (this
 * device's key, an unbroken chain), give the store's own batches that
 * the archive lacks the seqs after the archive's last (signed again),
 * apply those the store lacks, and point the mirror's own ref at the
 * archive's, so the send goes on from there. A chain that does not
 * check is noted as a forgery and nothing is changed. Run after the
 * pull, before chs_replicate__commit_outgoing(). */
int chs_replicate__own_history(sync_ctx *x);
/* Say (once a sync) that the archive holds commits under this device's
 * name that it did not make, and what the admin does about it. */
int chs_replicate__own_forged_note(sync_ctx *x);

/* send.c: what goes out. */
/* Commit every batch saved here and not yet in git, and mark them sent. */
int chs_replicate__commit_outgoing(sync_ctx *x);
/* Push this device's ref (and the admin's roster) where it moved,
 * catching up and retrying when the archive moved meanwhile. */
int chs_replicate__push(sync_ctx *x);

/* tamper.c: the archive's tampering that syncs heal, recorded. */
/* Note where the archive's refs stood (before the fetch). */
int chs_replicate__seen_before(sync_ctx *x);
void chs_replicate__seen_dispose(chs_replicate_seen *v);
/* After the fetch (the archive checked to be this organisation's): every
 * noted ref that went missing, went back or was replaced becomes a signed
 * archive_event record of this device, in one save. */
int chs_replicate__record_tampering(sync_ctx *x);

/* ---- org.c (pull.c calls it when a roster is accepted) ---- */
/* The admin's store: commit the saved rosters not yet in git. */
int chs_replicate__publish_rosters(chs_store *s, chs_git *g);
/* After roster `r` was accepted, inside the same transaction: a store
 * whose device it makes an admin device keeps the admin key and the key
 * ring it seals (an admin store rebuilds its key ring, which another
 * admin store may have rotated); a store whose device it revoked, or
 * whose admin key it rotated away, forgets them. Version 1 rosters
 * change nothing. */
int chs_replicate__admin_adopt(chs_store *s, const chs_roster *r);
/* Keep roster `r`, accepted from the archive at commit `oid` (its text
 * and signature as the commit holds them), inside the caller's
 * transaction, with chs_replicate__admin_adopt. An admin store's rosters
 * not yet published (another admin store's landed first) are replaced:
 * their edits are made again on top of `r`, counted in *reapplied; one
 * that no longer applies is a line in `notes`. */
int chs_replicate__roster_take(chs_store *s, const chs_roster *r, const chs_git_blob *text,
			       const chs_git_blob *sig, const char *oid, chs_buf *notes,
			       size_t *reapplied);

/* What only an admin store holds, as one blob (secret: wipe it after
 * use): version byte 1, the organisation id (16 bytes), the admin key's
 * secret half (CHS_SIGN_SK_BYTES), then every generation of every data
 * key (per compartment a 4-byte big-endian count, then the 32-byte keys,
 * oldest first). CHS_EDENIED for a store that holds no admin key. */
int chs_replicate__admin_export(chs_store *s, chs_buf *out);
/* Take such a blob into this store, in one transaction: pin its
 * organisation and admin key (CHS_EEXISTS when the store belongs to
 * another organisation or pins another admin key) and keep its secrets
 * (replacing any the store held). CHS_EDAMAGED for a malformed blob,
 * CHS_EDENIED for a non-admin user. */
int chs_replicate__admin_import(chs_store *s, const void *blob, size_t len);

/* An edit of the roster by the admin's store: `edit` changes the roster
 * this store holds and, through `a`, the admin key and the data keys;
 * the result is signed and saved as the newest roster in one transaction
 * (the next sync publishes it). CHS_EDENIED for a non-admin user or a
 * store without the admin key. */
typedef struct chs_admin_secrets {
	chs_identity *admin;
	chs_keyring kr;
} chs_admin_secrets;
typedef int (*chs_roster_edit_fn)(chs_store *s, chs_roster *r, chs_admin_secrets *a,
				  void *arg);
int chs_replicate__admin_edit(chs_store *s, chs_roster_edit_fn edit, void *arg);

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
int chs_replicate__blobs_wanted(chs_store *s);
/* Read other devices' new chunk commits (fetching them first unless
 * b->fetched), check them and store the chunks; an attachment whose
 * chunks are all here becomes readable. A device whose chunks fail a
 * check is reported (b->rep) and left where it was. Nothing for a device
 * that reads no clinical data. */
int chs_replicate__blobs_pull(const chs_blob_sync *b);
/* Send the chunks of this store's attachments that the archive does not
 * have yet, a bounded commit at a time, each pushed before the next is
 * made: an interruption loses at most one commit's worth. Run it after
 * the batches that name them are pushed. */
int chs_replicate__blobs_push(const chs_blob_sync *b);

/* ---- kit.c: the recovery kit ----
 * Above org.c and sync.c (it calls chs_replicate__admin_export, _import,
 * _edit and chs_store_sync); no file calls it. */

#endif /* CHS_CLIENT_REPLICATE_REPLICATE_INT_H */
