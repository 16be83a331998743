/*
 * sync/sync.h - versioned changes: their encoding, the per-record history
 * and its merge rule, and the signed batches they travel in.
 *
 * sync/ knows nothing of SQLite or of the record types: the client stores
 * changes and tells the merge which fields belong together. Field values
 * are carried as canonical JSON text (see sync/canonical.c), so two
 * values are equal exactly when their bytes are.
 *
 * Errors follow crypto/crypto.h: 0 or a negative CHS_E* code with a
 * message from chs_error_last().
 */
#ifndef CHS_SYNC_H
#define CHS_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "sync/git/git.h"

/* ---------------------------------------------------------------------
 * Hybrid logical clock (Kulkarni et al., 2014)
 *
 * A timestamp is one uint64_t: the upper 48 bits are wall-clock
 * milliseconds since the Unix epoch, the lower 16 bits a counter that
 * orders events within one millisecond or while the wall clock lags a
 * timestamp already seen. Timestamps from one clock never go backwards,
 * and a clock that has observed a remote timestamp stamps later events
 * after it, so causal order is kept whatever the devices' clocks say.
 */
typedef uint64_t chs_hlc;

#define CHS_HLC_COUNTER_BITS 16

/* The next timestamp after `last` (0 for a new clock) at wall time
 * `now_ms` (pass chs_hlc_wall_ms()). */
chs_hlc chs_hlc_next(chs_hlc last, uint64_t now_ms);
/* The clock after receiving `remote`: the result is >= both inputs, and
 * the next local timestamp will be later than `remote`. */
chs_hlc chs_hlc_observe(chs_hlc last, chs_hlc remote, uint64_t now_ms);
uint64_t chs_hlc_wall_ms(void);
/* Wall-clock milliseconds part of a timestamp. */
uint64_t chs_hlc_ms(chs_hlc t);


/* ---------------------------------------------------------------------
 * Canonical JSON
 *
 * RFC 8785 restricted to what chartsync writes: objects with members
 * sorted by key as RFC 8785 sorts them (by UTF-16 code units; byte order
 * for ASCII keys), no whitespace, strings
 * escaped only where JSON requires (", \, and control characters: \b
 * \f \n \r \t, others as \u00xx with lowercase hex), UTF-8 kept as
 * is, integers in plain decimal. Numbers with a fraction or exponent, and
 * integers beyond +-2^53, are refused (money is integer cents), as are
 * duplicate keys and invalid UTF-8.
 */

/* Parse any JSON text and write its canonical form to `out` (appended).
 * CHS_EINVALID, with a message naming the problem, for text that is not
 * JSON or not representable. */
int chs_canonical_json(chs_buf *out, const char *text, size_t len);
/* Canonical form of a JSON string holding `s` (UTF-8), appended.
 * CHS_EINVALID for invalid UTF-8 or a NUL byte. */
int chs_canonical_string(chs_buf *out, const char *s, size_t len);

/* ---------------------------------------------------------------------
 * Changes
 *
 * A change is one edit to one record. Its id is the BLAKE2b-256 of its
 * encoding, which is canonical JSON (documented in sync/change.c), so the
 * same change has the same id on every platform, whatever order its
 * fields were typed in.
 */
#define CHS_RECORD_ID_BYTES 16u
#define CHS_CHANGE_ID_BYTES 32u

typedef enum chs_op {
	CHS_OP_CREATE = 1,
	CHS_OP_UPDATE = 2,
	CHS_OP_DELETE = 3,
	CHS_OP_RESOLVE = 4
} chs_op;

typedef struct chs_field {
	char *name;
	char *value; /* canonical JSON; NULL means the field is cleared */
} chs_field;

typedef struct chs_change {
	unsigned char id[CHS_CHANGE_ID_BYTES]; /* set by encode/decode */
	unsigned char record[CHS_RECORD_ID_BYTES];
	char *type;            /* record type, e.g. "patient" */
	chs_op op;
	chs_field *fields;     /* sorted by name, names unique */
	size_t nfields;
	unsigned char (*parents)[CHS_CHANGE_ID_BYTES]; /* sorted, unique */
	size_t nparents;
	chs_hlc hlc;
	char device[33];       /* device id, 32 hex */
	char *user;            /* who opened the store */
	char *terminal;        /* terminal.name */
	int deleted;           /* resolve only: 1 if the resolution deletes */
	/* Its encoding, whose hash is its id, when someone kept it: so a
	 * store saves exactly those bytes and a batch seals them without
	 * encoding again. chs_batch_unpack() and chs_batch_decode() keep the
	 * bytes they decoded; a caller that encoded a change may attach what
	 * chs_change_encode() wrote, and must then not modify the change.
	 * NULL otherwise (and in a copy). Owned. */
	unsigned char *encoding;
	size_t encoding_len;
} chs_change;

/* Allocate an empty change (all zero); free with chs_change_free(). */
int chs_change_new(chs_change **out);
void chs_change_free(chs_change *c);
/* Add or replace a field (value NULL or "null" clears it); keeps fields
 * sorted. The value must already be canonical JSON. */
int chs_change_set(chs_change *c, const char *name, const char *value);
/* chs_change_set() with `text` encoded as a canonical JSON string. */
int chs_change_set_string(chs_change *c, const char *name, const char *text);
/* Add a parent; keeps parents sorted and unique. */
int chs_change_add_parent(chs_change *c,
			  const unsigned char id[CHS_CHANGE_ID_BYTES]);
/* Append the canonical encoding to `out` and set c->id. CHS_EINVALID for
 * a change that cannot be encoded (missing type, bad op, a value not in
 * canonical form, a create with parents or another op without any, ...). */
int chs_change_encode(chs_change *c, chs_buf *out);
/* Decode an encoding; CHS_EINVALID (not CHS_EDAMAGED) when the bytes are
 * not a change or are not in canonical form (so the id would differ).
 * Sets id = BLAKE2b-256(bytes). */
int chs_change_decode(chs_change **out, const void *bytes, size_t len);
/* Deep copy. */
int chs_change_dup(chs_change **out, const chs_change *c);

/* ---------------------------------------------------------------------
 * The merge rule
 *
 * A record's changes form a DAG (parents are the heads the author saw).
 * chs_merge() computes the record's state from any set of its changes,
 * in any order; the result depends only on the set. The rule, per field
 * (and per merge group, and for the record's existence), is a three-way
 * merge against the common ancestors, stated as: the writes to a field
 * that no other write to it descends from decide it. One such write, or
 * several with the same value: that value (merged). Several with
 * different values: the field is under review, every candidate kept with
 * its change, and a deterministic provisional value shown (the candidate
 * with the highest (hlc, change id)). Every create, update and resolve
 * counts as writing "exists"; a delete writes "deleted"; so a delete
 * concurrent with an edit puts the record under review. Fields in one
 * merge group are one unit: two concurrent writes that touch the group
 * and do not set it identically put the whole group under review.
 * A change whose parents are not all present is left out (pending) until
 * they arrive.
 */

/* Which merge group a field of a record type belongs to; NULL if the
 * field merges on its own. */
typedef const char *(*chs_group_fn)(const char *type, const char *field,
				    void *payload);

typedef struct chs_candidate {
	const chs_change *change; /* borrowed from the merge input */
	const char *value;        /* canonical JSON; NULL: cleared. Existence
				   * candidates: "true" (deleted), "false" */
} chs_candidate;

typedef struct chs_merged_field {
	char *name;
	char *value;              /* provisional when under review; never NULL
				   * ("null" when the provisional is a clear) */
	const chs_change *from;   /* the write that decided it */
	chs_candidate *candidates; /* >= 2 when under review, else 0 */
	size_t ncandidates;
} chs_merged_field;

typedef struct chs_merged {
	char *type;
	int deleted;      /* provisional when existence is under review */
	int review;       /* anything under review */
	int exists_review; /* a delete against an edit */
	chs_candidate *exists_candidates; /* value "true" = deleted */
	size_t nexists_candidates;
	chs_merged_field *fields; /* sorted by name; cleared fields absent
				   * unless under review */
	size_t nfields;
	const chs_change **heads; /* sorted by id */
	size_t nheads;
	const chs_change **order; /* applied changes, causal order, ties by
				   * (hlc, id): the history to show */
	size_t norder;
	const chs_change **pending; /* left out: a parent is missing */
	size_t npending;
	/* The state as canonical JSON (type, deleted, fields, review with
	 * candidates by change id): equal sets of changes give equal bytes. */
	char *state;
	size_t state_len;
	unsigned char hash[CHS_HASH_BYTES]; /* BLAKE2b-256 of state */
} chs_merged;

/* Merge the `n` changes of one record. The changes must outlive the
 * result. CHS_EINVALID if they are not all of one record or there is no
 * create among the applied ones (the record has no state yet:
 * result->norder == 0 is returned instead when every change is pending,
 * with type NULL and state "null"). */
int chs_merge(chs_merged **out, const chs_change *const *changes, size_t n,
	      chs_group_fn group, void *payload);
void chs_merged_free(chs_merged *m);
const chs_merged_field *chs_merged_get(const chs_merged *m, const char *name);

/* ---------------------------------------------------------------------
 * Batches
 *
 * One local save is one batch. A batch is signed once by its device over
 * a manifest (canonical JSON) that lists its change ids, so any single
 * change can be proven against its batch, and checking a large pull costs
 * one signature per batch plus hashing. Manifest:
 *   {"changes":["<64 hex>",...],"device":"<32 hex>","key":"<64 hex>",
 *    "prev":"<64 hex>"|null,"seq":N,"v":1}
 * key is the device's Ed25519 public key (device = BLAKE2b-128 of it);
 * seq counts the device's batches from 1 and prev is the previous batch's
 * id, so a device's batches form a chain. The batch id is the BLAKE2b-256
 * of the manifest.
 */
#define CHS_BATCH_MAX_CHANGES 1000

typedef struct chs_batch {
	unsigned char id[CHS_HASH_BYTES];
	char *manifest;      /* canonical JSON */
	size_t manifest_len;
	unsigned char signature[CHS_SIGNATURE_BYTES];
	unsigned char key[CHS_SIGN_PK_BYTES];
	char device[33];
	uint64_t seq;
	int has_prev;
	unsigned char prev[CHS_HASH_BYTES];
	chs_change **changes; /* owned */
	size_t nchanges;
} chs_batch;

/* Build and sign a batch of `n` encoded changes (ids set), taking
 * ownership of the changes array and its changes on success. Each change
 * is checked to be what its id says: by hashing its kept encoding, or
 * else by encoding it again. */
int chs_batch_seal(chs_batch **out, const chs_identity *id, uint64_t seq,
		   const unsigned char *prev /* NULL for the first */,
		   chs_change **changes, size_t n);
/* Check the signature, that the manifest lists exactly the changes'
 * ids, that device matches key and that every change names that device.
 * CHS_EDAMAGED otherwise. */
int chs_batch_verify(const chs_batch *b);
/* Prove one change against a manifest and its signature. */
int chs_batch_prove(const char *manifest, size_t manifest_len,
		    const unsigned char sig[CHS_SIGNATURE_BYTES],
		    const chs_change *c);
/* Rebuild a batch from a stored manifest and signature, with no changes
 * yet (the caller fills `changes` in manifest order before encoding or
 * verifying). CHS_EINVALID for a malformed manifest. */
int chs_batch_from_manifest(chs_batch **out, const char *manifest,
			    size_t len, const unsigned char sig[CHS_SIGNATURE_BYTES]);
/* The change ids b's manifest lists, in its order; `*ids` is malloc'ed.
 * CHS_EINVALID for a malformed manifest. */
int chs_batch_manifest_ids(const chs_batch *b, unsigned char (**ids)[CHS_CHANGE_ID_BYTES],
			   size_t *n);
/* Like chs_batch_verify(), for a batch that holds only some of the
 * changes its manifest lists (the compartments this device can read):
 * each change it holds is listed, once, in the manifest's order. */
int chs_batch_verify_subset(const chs_batch *b);
/* One byte string for shipping, and back. decode verifies nothing: call
 * chs_batch_verify(). Format in sync/batch.c. */
int chs_batch_encode(const chs_batch *b, chs_buf *out);
int chs_batch_decode(chs_batch **out, const void *bytes, size_t len);
void chs_batch_free(chs_batch *b);

/* ---------------------------------------------------------------------
 * The roster (sync/roster.c): devices, roles and sealed data keys,
 * signed by the organisation's admin key. Format in sync/roster.c.
 */
#define CHS_COMPARTMENT_BILLING 0
#define CHS_COMPARTMENT_CLINICAL 1
#define CHS_NCOMPARTMENTS 2
#define CHS_MAX_GENERATIONS 64 /* of each data key */

typedef enum chs_role {
	CHS_ROLE_CLINIC = 1,   /* reads both compartments */
	CHS_ROLE_BILLING = 2,  /* reads billing only */
	CHS_ROLE_ARCHIVIST = 3 /* reads both compartments */
} chs_role;

/* 1 if `role` may read `compartment`. */
int chs_role_reads(chs_role role, int compartment);
/* "clinic", "billing", "archivist"; CHS_EINVALID otherwise. */
int chs_role_parse(const char *name, chs_role *out);

/* Every generation of every data key: what the admin holds. Keys are in
 * secret memory; generation g of compartment c is key[c][g - 1]. */
typedef struct chs_keyring {
	unsigned char *key[CHS_NCOMPARTMENTS][CHS_MAX_GENERATIONS];
	uint32_t gen[CHS_NCOMPARTMENTS];
} chs_keyring;

/* A first generation of fresh keys. */
int chs_keyring_init(chs_keyring *kr);
/* A new generation of every key. */
int chs_keyring_rotate(chs_keyring *kr);
void chs_keyring_dispose(chs_keyring *kr);

typedef struct chs_roster_key {
	uint32_t gen;
	unsigned char sealed[CHS_KEY_BYTES + CHS_SEAL_OVERHEAD];
} chs_roster_key;

typedef struct chs_roster_device {
	char device[33];
	unsigned char key[CHS_SIGN_PK_BYTES];
	char *site;
	chs_role role;
	int revoked;
	uint64_t revoked_after; /* its last accepted batch (device seq) */
	chs_roster_key *keys[CHS_NCOMPARTMENTS]; /* sealed to this device */
	size_t nkeys[CHS_NCOMPARTMENTS];
	/* an admin device (roster version 2): the admin key's secret half,
	 * sealed to this device */
	int admin;
	unsigned char admin_sealed[CHS_SIGN_SK_BYTES + CHS_SEAL_OVERHEAD];
} chs_roster_device;

typedef struct chs_roster chs_roster;

/* An empty roster (seq 1) for organisation `org` (32 hex), signed later
 * by the key whose public half is `admin`. */
int chs_roster_new(chs_roster **out, const char org[33],
		   const unsigned char admin[CHS_SIGN_PK_BYTES], const chs_keyring *kr);
void chs_roster_free(chs_roster *r);
/* Add a device with every generation of the keys its role may read,
 * sealed to it. CHS_EEXISTS if it is on the roster already. */
int chs_roster_enroll(chs_roster *r, const chs_keyring *kr,
		      const unsigned char key[CHS_SIGN_PK_BYTES], const char *site,
		      chs_role role);
/* Revoke a device: pin its last accepted batch (`after`), rotate `kr`,
 * and seal the new generation to the devices that remain only. */
int chs_roster_revoke(chs_roster *r, chs_keyring *kr, const char device[33],
		      uint64_t after);
/* Append the canonical roster to `out` and sign it; CHS_EDENIED unless
 * `admin` is the roster's admin key. */
int chs_roster_sign(const chs_roster *r, const chs_identity *admin, chs_buf *out,
		    unsigned char sig[CHS_SIGNATURE_BYTES]);
/* Make enrolled device `device` an admin device: the secret half of
 * `admin` (the roster's admin key) is sealed to it (admin NULL: it is no
 * longer one). CHS_EINVALID for a role that does not read every
 * compartment (what a role may not read never reaches its store) or a
 * revoked device, CHS_ENOTFOUND for a device not on the roster. */
int chs_roster_set_admin(chs_roster *r, const char device[33], const chs_identity *admin);
/* A new admin key for the roster (after an admin device was revoked):
 * its secret sealed to every remaining admin device, the data keys of
 * `kr` sealed to it, and the old key `old`'s handover signature naming
 * it, so a store that trusts `old` can trust the new key (see
 * chs_roster_follows). The new key comes back in *out (to free). */
int chs_roster_rotate_admin(chs_roster *r, const chs_keyring *kr, const chs_identity *old,
			    chs_identity **out);
/* 0 if roster `r` may follow roster `before`: the same organisation, and
 * signed by the same admin key or by a new one that `before`'s key handed
 * over to. CHS_EDAMAGED otherwise. Seq order is the caller's check. */
int chs_roster_follows(const chs_roster *before, const chs_roster *r);
/* As chs_roster_follows, when only the previous admin key is known. */
int chs_roster_follows_key(const unsigned char before_admin[CHS_SIGN_PK_BYTES],
			   const chs_roster *r);
/* The admin key, unsealed by admin device `me` (*out to free).
 * CHS_ENOTFOUND when the roster does not make `me` an admin device. */
int chs_roster_open_admin(const chs_roster *r, const chs_identity *me, chs_identity **out);
/* Every generation of every data key, as the roster seals them to its
 * admin key, opened with `admin` (that key): the key ring an admin store
 * holds, from the newest roster alone. CHS_EDENIED for a version 1
 * roster or another key, CHS_EDAMAGED when a generation is missing. */
int chs_roster_open_admin_keys(const chs_roster *r, const chs_identity *admin,
			       chs_keyring *out);
/* Parse a roster and check it is canonical and signed by the admin key it
 * names (CHS_EDAMAGED otherwise). Whether that admin key is the
 * organisation's is the caller's check (chs_roster_admin). */
int chs_roster_parse(chs_roster **out, const char *text, size_t len,
		     const unsigned char sig[CHS_SIGNATURE_BYTES]);
uint64_t chs_roster_seq(const chs_roster *r);
const char *chs_roster_org(const chs_roster *r);
const unsigned char *chs_roster_admin(const chs_roster *r);
/* 1 or 2 (the format, sync/roster.c): 2 names its admin devices, seals
 * the data keys to the admin key too and may carry a handover. */
int chs_roster_version(const chs_roster *r);
uint32_t chs_roster_generation(const chs_roster *r, int compartment);
size_t chs_roster_count(const chs_roster *r);
const chs_roster_device *chs_roster_at(const chs_roster *r, size_t i);
const chs_roster_device *chs_roster_find(const chs_roster *r, const char device[33]);
/* Unseal this device's data key of `compartment`, generation `gen`, into
 * `key` (secret memory). CHS_EDENIED when the roster gives it none. */
int chs_roster_open_key(const chs_roster *r, const chs_identity *me, int compartment,
			uint32_t gen, unsigned char key[CHS_KEY_BYTES]);

/* A batch as the files of its commit (sync/pack.c): "manifest",
 * "signature", and "billing" / "clinical" holding that compartment's
 * changes sealed under its data key. */
typedef struct chs_packed {
	chs_git_entry files[2 + CHS_NCOMPARTMENTS];
	size_t n;
	unsigned char *owned[2 + CHS_NCOMPARTMENTS]; /* sealed files */
	size_t nchanges; /* the changes its manifest lists */
} chs_packed;

/* Pack batch `b`; comp[i] is the compartment of b->changes[i]; keys[c]
 * and gens[c] the current data key of compartment c (a compartment the
 * batch has no change in needs no key). `b` must outlive `p`. */
int chs_batch_pack(chs_packed *p, const chs_batch *b, const int *comp,
		   const unsigned char *const keys[CHS_NCOMPARTMENTS],
		   const uint32_t gens[CHS_NCOMPARTMENTS]);
/* The same from the changes' encodings as a store keeps them (enc[i] is
 * the i-th change the manifest lists); each is checked against the
 * manifest (CHS_EDAMAGED), so nothing goes out that its signature does
 * not cover. */
typedef struct chs_encoded {
	const void *data;
	size_t len;
} chs_encoded;
int chs_batch_pack_encoded(chs_packed *p, const chs_batch *b, const chs_encoded *enc,
			   size_t n, const int *comp,
			   const unsigned char *const keys[CHS_NCOMPARTMENTS],
			   const uint32_t gens[CHS_NCOMPARTMENTS]);
/* The same for a caller that holds the manifest's ids already: `ids` and
 * `nids` exactly as chs_batch_manifest_ids(b) gave them (parsing a
 * manifest of 1,000 changes costs about a millisecond). */
int chs_batch_pack_listed(chs_packed *p, const chs_batch *b,
			  const unsigned char (*ids)[CHS_CHANGE_ID_BYTES], size_t nids,
			  const chs_encoded *enc, size_t n, const int *comp,
			  const unsigned char *const keys[CHS_NCOMPARTMENTS],
			  const uint32_t gens[CHS_NCOMPARTMENTS]);
void chs_packed_dispose(chs_packed *p);

/* The data key of `compartment`, generation `gen`, into `key`: 0, or
 * CHS_EDENIED when this device's role may not read that compartment (its
 * changes stay unread). The generation is not covered by any signature
 * until the file decrypts, so a generation this device should hold but
 * does not know yet must be another error (the batch is refused, to be
 * retried with a newer roster), never CHS_EDENIED. */
typedef int (*chs_key_fn)(int compartment, uint32_t gen, unsigned char *key,
			  void *payload);

/* A chs_key_fn holding no key: unpacking with it checks a batch's
 * manifest, its signature and the form of its files, decrypting nothing
 * (what the archive's hook can check, or a store reading its own tip). */
int chs_key_none(int compartment, uint32_t gen, unsigned char *key, void *payload);

/* Unpack and verify a batch commit's files. *complete is 1 when every
 * change was readable (verified as chs_batch_verify does), 0 when some
 * compartment was not (the changes read are verified as a subset).
 * CHS_EDAMAGED for anything altered, moved or malformed. */
int chs_batch_unpack(chs_batch **out, const chs_git_blob *files, size_t n,
		     chs_key_fn key_of, void *payload, int *complete);

/* ---------------------------------------------------------------------
 * Accepting what an archive holds (sync/accept.c)
 *
 * The checks a client makes before it applies anything it fetched, and
 * the archive's hook makes before it takes a push: neither trusts the
 * other. The roster lives on CHS_ROSTER_REF as a chain of commits, each
 * holding the files "roster" (canonical JSON) and "signature" (64 bytes)
 * and signed by the admin key; a device's batches live on
 * CHS_DEVICE_REFS<device id>, one commit per batch, each the child of the
 * previous one.
 */
#define CHS_ROSTER_REF "refs/chartsync/roster"
#define CHS_DEVICE_REFS "refs/chartsync/devices/"

/* The roster a roster commit holds, checked: its signature, and the
 * commit's, by the admin key it names, which must be `admin` when that is
 * not NULL (the organisation's key, pinned at enrollment). */
int chs_roster_from_commit(chs_roster **out, const chs_git_commit *c,
			   const unsigned char *admin);
/* Commit roster `r`, signed by `admin`, on top of `ref`. */
int chs_roster_commit(chs_git *g, const char *ref, const chs_roster *r,
		      const chs_identity *admin, char oid[41]);

/* Where a device's chain of batches stands: its last accepted batch. */
typedef struct chs_chain {
	uint64_t seq;                   /* 0: none yet */
	unsigned char prev[CHS_HASH_BYTES]; /* that batch's id */
	char oid[41];                   /* its commit; "" when none */
} chs_chain;

/* Accept commit `oid` (read as `c`) as the next batch on `device`'s ref:
 * the device is on roster `r` and the commit is signed by its key; the
 * commit's parent is chain->oid; the batch's device, seq (chain->seq + 1)
 * and prev continue the chain; a revoked device's batch is not past its
 * pin. Then the batch is unpacked with `key_of` (NULL: nothing is
 * decrypted, only the manifest's signature and the files' form are
 * checked), and the chain advances. CHS_EDENIED for a device the roster
 * does not allow, CHS_EDAMAGED for anything forged, rewritten or
 * malformed; the message says which. `*out` may be NULL to discard. */
int chs_batch_accept(chs_batch **out, int *complete, chs_chain *chain,
		     const chs_roster *r, const char device[33], const char *oid,
		     const chs_git_commit *c, chs_key_fn key_of, void *payload);

/* Commit a packed batch on its device's ref (CHS_DEVICE_REFS + device),
 * signed by the device, with a message that carries no patient data. */
int chs_batch_commit(chs_git *g, const chs_packed *p, const chs_batch *b,
		     const char *site, const chs_identity *id, char oid[41]);

/* ---------------------------------------------------------------------
 * Attachment chunks (sync/chunk.c)
 *
 * Attachment bytes travel outside the batches: cut in chunks of at most
 * CHS_CHUNK_BYTES, each sealed under the clinical data key into a file
 * named by its chunk id (a keyed hash of its plaintext: the archive can
 * neither read a chunk nor confirm a guess of its content), committed a
 * few at a time on the device's own CHS_BLOB_REFS<device id>, a single
 * line of commits signed by the device. Sealing is deterministic under one
 * key generation, so the same chunk sealed by two devices is the same git
 * object, stored once. The format is documented in sync/chunk.c.
 */
#define CHS_BLOB_REFS "refs/chartsync/blobs/"
#define CHS_CHUNK_BYTES ((size_t)1 << 20)  /* plaintext bytes of one chunk, at most */
#define CHS_CHUNK_ID_HEX 64u                /* a chunk file's name: hex chunk id */
#define CHS_CHUNKS_PER_COMMIT 4             /* chunks a device puts in one commit */
#define CHS_CHUNKS_PER_COMMIT_MAX 16        /* chunks a commit may hold to be accepted */
#define CHS_CHUNK_SEALED_MAX (10u + 44u + CHS_CHUNK_BYTES + CHS_AEAD_OVERHEAD) /* bytes */
#define CHS_ATTACHMENT_MAX_BYTES ((uint64_t)2 << 30) /* 2 GiB */

/* One chunk of an attachment, as sealed and as opened. */
typedef struct chs_chunk {
	unsigned char sha256[CHS_SHA256_BYTES]; /* the attachment's content address */
	uint64_t size;       /* the attachment's size, bytes */
	uint32_t index;      /* this chunk's place in it, from 0 */
	const unsigned char *data; /* size - index * CHS_CHUNK_BYTES bytes, at most a chunk */
	size_t len;
} chs_chunk;

/* How many chunks an attachment of `size` bytes has (0 for an empty one). */
uint64_t chs_chunk_count(uint64_t size);

/* Seal `c` under clinical data key `key` of generation `gen`: `*out`
 * (malloc'ed, `*len` bytes) is the file, `name` its name. The same chunk
 * under the same key gives the same bytes. CHS_EINVALID when `c` is not a
 * chunk of its attachment (wrong length for its index, ...). */
int chs_chunk_seal(unsigned char **out, size_t *len, char name[CHS_CHUNK_ID_HEX + 1],
		   const chs_chunk *c, const unsigned char key[CHS_KEY_BYTES], uint32_t gen);
/* Open the chunk file `name` with the key `key_of` gives, and check it is
 * what its name says. On success c->data points into `*plain` (malloc'ed;
 * the caller wipes and frees it). CHS_EDENIED from `key_of` is passed up;
 * CHS_EDAMAGED for anything altered, renamed or malformed. */
int chs_chunk_open(chs_chunk *c, unsigned char **plain, const char *name,
		   const unsigned char *data, size_t len, chs_key_fn key_of, void *payload);
/* What can be checked without a key: the name is a chunk id, the file has
 * the chunk format, a clinical generation from 1 to `max_gen`, and a size
 * within bounds. CHS_EDAMAGED otherwise. */
int chs_chunk_check_form(const char *name, const unsigned char *data, size_t len,
			 uint32_t max_gen);
/* Accept commit `c` as the next commit of `device`'s chunks after `prev`
 * (its parent; "" for the first commit): the device is on roster `r` with
 * a role that reads the clinical compartment (CHS_EDENIED otherwise), the
 * commit is signed by its key and follows `prev`, and it holds from 1 to
 * CHS_CHUNKS_PER_COMMIT_MAX files of chunk form (CHS_EDAMAGED). Whether a
 * revoked device may still add chunks is the caller's rule. */
int chs_chunks_accept(const chs_roster *r, const char device[33], const char *prev,
		      const chs_git_commit *c);
/* Commit sealed chunk files on this device's CHS_BLOB_REFS ref, signed by
 * `id`, with a message that names no content. */
int chs_chunks_commit(chs_git *g, const chs_git_entry *files, size_t n,
		      const chs_identity *id, char oid[41]);

#endif
