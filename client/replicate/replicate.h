/*
 * client/replicate/replicate.h - the organisation, its devices, and sync
 * through the archive.
 */
#ifndef CHS_CLIENT_REPLICATE_REPLICATE_H
#define CHS_CLIENT_REPLICATE_REPLICATE_H

#include <stddef.h>
#include <stdint.h>
#include "client/store/store.h"

/* ---------------------------------------------------------------------
 * The organisation and sync (org.c, sync.c, pull.c, send.c here)
 *
 * The store keeps a mirror of the archive in DIR/git (ciphertext and
 * signed manifests only) and the roster it last accepted.
 */
/* The longest site name, in bytes. A site is named on the roster, on
 * every batch commit of its devices and on fee lines; the enrollment and
 * the terminal name have always held it to 64. */
#define CHS_SITE_MAX 64

/* 0 when `site` may name a site on the roster: 1 to CHS_SITE_MAX bytes
 * on one line. Else CHS_EINVALID, with a message naming the limit. For
 * every site a person gives (org init, device enroll, fees import). */
int chs_site_check(const char *site);

/* Make this store the organisation's admin store: an admin key, the data
 * keys, and a roster on which this store is the first device (an
 * archivist at `site`, default terminal.name). `archive` (may be NULL)
 * becomes remote.url. The roster reaches the archive with the next sync.
 * CHS_EINVALID for a site chs_site_check() refuses. */
int chs_org_init(chs_store *s, const char *archive, const char *site);
/* This store's enrollment request, one line: its SSH public key with the
 * terminal as comment (malloc'ed). */
int chs_device_request(chs_store *s, char **line);
/* Admin: put the device of `request` on the roster at `site` with `role`
 * ("clinic", "billing", "archivist"), sealing it the data keys its role
 * reads. Takes effect at the next sync. CHS_EINVALID for a bad request,
 * role or site (chs_site_check()). */
int chs_device_enroll(chs_store *s, const char *request, const char *site,
		      const char *role, char device[33]);
/* As chs_device_enroll; with `admin` nonzero the device is an admin
 * device too: the roster seals the admin key to it, and its store
 * enrolls and revokes once it synced. CHS_EINVALID for a role that does
 * not read every compartment (billing). */
int chs_device_enroll_admin(chs_store *s, const char *request, const char *site,
			    const char *role, int admin, char device[33]);
/* Admin: revoke a device (an id prefix): its batches after the last one
 * this store accepted are refused everywhere, and new data keys are
 * sealed to the others only. Revoking an admin device rotates the admin
 * key as well (sealed to the remaining admin devices, handed over by the
 * old key): recovery kits made before it no longer recover the
 * organisation. */
int chs_device_revoke(chs_store *s, const char *prefix, char device[33],
		      uint64_t *after);
/* One device on the roster this store holds. */
typedef struct chs_device_info {
	const char *device;     /* its id, 32 hex */
	const char *key;        /* its Ed25519 public key, 64 hex */
	const char *site;
	const char *role;       /* "clinic", "billing" or "archivist" */
	int self;               /* 1 for this store's own device */
	int revoked;            /* 1 when revoked ... */
	uint64_t revoked_after; /* ... after this batch of its (0 otherwise) */
	int admin;              /* 1 for an admin device (it holds the admin key) */
} chs_device_info;

/* The devices of the roster, in the roster's order: opaque, read with the
 * accessors below, freed with chs_device_roster_free(); the entries and
 * their strings are borrowed from it. `chartsync device list --json`
 * prints it through chs_json_device_roster() (client/json/json.h). */
typedef struct chs_device_roster chs_device_roster;

/* The roster this store last accepted (or made). */
int chs_device_list(chs_device_roster **out, chs_store *s);
size_t chs_device_roster_count(const chs_device_roster *r);
/* Device i, or NULL when i is out of range. */
const chs_device_info *chs_device_roster_get(const chs_device_roster *r, size_t i);
/* Free the roster view; accepts NULL. */
void chs_device_roster_free(chs_device_roster *r);
/* An allowed-signers file for `git log --show-signature`. */
int chs_device_allowed_signers(chs_store *s, char **text);
/* Set the archive (remote.url). */
int chs_remote_set(chs_store *s, const char *url);

typedef struct chs_sync_opts {
	/* long work: what, how far, out of how much (0: unknown) */
	void (*progress)(const char *what, size_t done, size_t total, void *payload);
	/* asked between the steps, between groups of batches applied and
	 * while the network helper waits on the archive: nonzero stops the
	 * sync there with CHS_ECANCELLED; what was applied is kept, whole
	 * batches only, and the next sync goes on from there (may be NULL;
	 * called from the sync's thread, and from the thread that waits on
	 * the network helper) */
	int (*cancel)(void *payload);
	void *payload;
} chs_sync_opts;

typedef struct chs_sync_report {
	uint64_t roster_seq;     /* the roster this store now holds */
	size_t devices;          /* device refs in the archive */
	size_t batches_in, changes_in;   /* applied here */
	size_t batches_out, changes_out; /* made into commits here */
	int pushed;              /* this sync moved the archive's refs */
	size_t refused;          /* things from the archive refused */
	chs_buf problems;        /* one line each */
	size_t chunks_in;        /* attachment chunks received and stored here */
	size_t attachments_in;   /* attachments whose bytes are now all here */
	size_t chunks_out;       /* attachment chunks this sync sent */
	/* this device's batches (and their changes) the archive received
	 * from this sync: made here now or by an earlier sync that could
	 * not send them */
	size_t batches_pushed, changes_pushed;
	/* the archive's tampering this sync saw (and its steps heal),
	 * recorded as archive_event records */
	size_t tampering;
	/* a store behind its own history (restored from a backup): this
	 * device's batches that came back from the archive, and those made
	 * here that the archive lacked, renumbered after its last */
	size_t own_batches_in, renumbered;
	/* this admin store's roster edits made again on top of another admin
	 * store's that reached the archive first (published by this sync) */
	size_t roster_edits_reapplied;
	/* records this device made on a chart merged meanwhile: moved to
	 * the chart the merge kept, and those that could not be (their
	 * patient under review, or the merge itself: 'chartsync review') */
	size_t placed, unplaced;
} chs_sync_report;

/* The archive's tampering that devices saw and their syncs healed: a
 * deleted or wound-back device ref or roster, or one replaced by commits
 * its maker did not make. Each is a signed, append-only record of type
 * archive_event (billing compartment: every role reads them), synced
 * like the access events. Strings are borrowed from the list. */
typedef struct chs_archive_event {
	char id[33];        /* the record's id */
	const char *seen;   /* when, UTC (ISO 8601, milliseconds) */
	const char *kind;   /* "device-ref-deleted", "device-ref-rolled-back",
			     * "device-ref-rewritten", "roster-deleted",
			     * "roster-rolled-back", "roster-rewritten", and
			     * "chunk-ref-deleted", "chunk-ref-rolled-back",
			     * "chunk-ref-rewritten" (a device's attachment
			     * chunks, seen by the devices that read them) */
	const char *ref;    /* the archive's ref, refs/chartsync/... */
	const char *detail; /* what happened and what healed it, in words */
	const char *by;     /* the device that saw it */
	const char *site;   /* its site */
} chs_archive_event;
typedef struct chs_archive_events chs_archive_events;

/* Every archive event this store holds, oldest first. Text in them
 * arrived by sync: escape it before it reaches a terminal. */
int chs_archive_events_list(chs_archive_events **out, chs_store *s);
size_t chs_archive_events_count(const chs_archive_events *l);
/* Event i, or NULL when out of range. */
const chs_archive_event *chs_archive_events_get(const chs_archive_events *l, size_t i);
void chs_archive_events_free(chs_archive_events *l);

/* Fetch, check and apply what is new in the archive, then send this
 * store's batches. Things the archive holds that fail a check are
 * refused and listed in the report (and the sync fails with CHS_EDAMAGED
 * after doing everything else). Resumable at any point. */
int chs_store_sync(chs_store *s, const chs_sync_opts *opts, chs_sync_report *rep);
void chs_sync_report_dispose(chs_sync_report *r);

/* ---------------------------------------------------------------------
 * The recovery kit (kit.c): the organisation outlives its admin's store
 *
 * What only the admin store holds (the admin key, every generation of
 * the data keys) sealed under a recovery passphrase (Argon2id, then
 * XChaCha20-Poly1305), as text to print and keep on paper: the kit
 * whole, or split into N shares of which any K recover it (Shamir's
 * scheme; the sealed kit is split, so shares still need the passphrase).
 * Every line of a text carries a check, so a typo is named by its share
 * and line. The format is specified at the top of kit.c.
 */
typedef struct chs_kit_opts {
	unsigned shares;           /* 0: one text, the kit whole; else N, 2 to 255 */
	unsigned threshold;        /* K, 2 to N, with shares */
	const chs_kdf_params *kdf; /* NULL: the kit's own (Argon2id, 256 MiB, 3 passes) */
} chs_kit_opts;

/* Admin of the admin store: the recovery kit under passphrase `pass`, as
 * `*n` texts (1, or N shares in order), each malloc'ed, the array freed
 * with chs_kit_texts_free(). o may be NULL (one text). CHS_EDENIED for a
 * store without the admin key or a user who is not an admin,
 * CHS_EINVALID for a passphrase under 12 bytes or shares out of range. */
int chs_org_recovery_kit(chs_store *s, const char *pass, size_t passlen, const chs_kit_opts *o,
			 char ***texts, size_t *n);
void chs_kit_texts_free(char **texts, size_t n);
/* Read `n` recovery texts (the kit, or K or more of its shares; each
 * NUL-terminated) and check they make a whole kit, without its
 * passphrase: its organisation into `org`. CHS_EINVALID naming the share
 * and the line of a typo, shares of different kits, or fewer shares than
 * needed ("2 of the 3 shares needed were given"). */
int chs_kit_check(const char *const *texts, size_t n, char org[33]);

typedef struct chs_recover_opts {
	const char *archive;         /* NULL: the store's remote.url */
	const char *site;            /* NULL: terminal.name */
	const chs_sync_opts *sync;   /* for the two syncs (may be NULL) */
} chs_recover_opts;

typedef struct chs_recover_result {
	char org[33];        /* the organisation recovered */
	char device[33];     /* this store's device, now on the roster */
	char site[CHS_SITE_MAX + 1]; /* its site there */
	uint64_t roster_seq; /* the roster that names it, in the archive */
	size_t batches_in;   /* what its sync fetched */
} chs_recover_result;

/* Make this store (a new one, made with chs_store_create) the admin
 * store of the kit's organisation: the texts are read and the kit opened
 * with `pass` before anything is written (CHS_EAUTH for a wrong
 * passphrase, CHS_EINVALID as chs_kit_check()); the store pins the
 * organisation, syncs its roster from the archive (which must be signed
 * by the kit's admin key: CHS_EDENIED saying so when the admin key was
 * replaced since the kit was made), takes the admin's secrets, enrolls
 * itself as an archivist at the site and syncs again, publishing the
 * roster and fetching what an archivist reads. Every other device's view
 * is unchanged. Run again after a failure, it goes on where it stopped.
 * CHS_EINVALID for a kit older than the roster's data keys, and for a
 * store that is a device of the organisation in another role (a clinic's
 * store), before any secret is taken. */
int chs_org_recover(chs_store *s, const char *const *texts, size_t n, const char *pass,
		    size_t passlen, const chs_recover_opts *o, chs_recover_result *res);

#endif /* CHS_CLIENT_REPLICATE_REPLICATE_H */
