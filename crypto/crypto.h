/*
 * crypto/crypto.h - what the crypto module offers the rest of chartsync.
 *
 * crypto/ is the bottom of the module stack (tools -> client -> sync ->
 * crypto). Besides keys and ciphers it owns the few helpers every module
 * needs: the error convention and the bounded byte buffer. It is the only
 * module that includes <sodium.h>; callers see sizes and opaque types.
 *
 * Memory: secrets (store keys, data keys, device secret keys) live in
 * memory from chs_secret_alloc(), which is guarded, locked and wiped when
 * freed. Everything a function allocates for its caller comes back through
 * an out-pointer and names the function that frees it.
 */
#ifndef CHS_CRYPTO_H
#define CHS_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __GNUC__
# define CHS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
# define CHS_PRINTF(f, a)
#endif

/* ---------------------------------------------------------------------
 * Errors
 *
 * Functions return 0 on success and a negative code on failure; the
 * one-line detail, in words a technician can act on, is kept per thread
 * and read with chs_error_last(). The numbers never change.
 */
enum {
	CHS_OK = 0,
	CHS_ERROR = -1,      /* generic failure; see the message */
	CHS_ENOMEM = -2,     /* out of memory */
	CHS_ENOTFOUND = -3,  /* no such store, user, record, setting */
	CHS_EEXISTS = -4,    /* already there */
	CHS_EAUTH = -5,      /* wrong user or passphrase (never says which) */
	CHS_EDAMAGED = -6,   /* data altered or damaged: a MAC did not verify */
	CHS_EINVALID = -7,   /* a value from a person or a file was refused */
	CHS_EDENIED = -8,    /* not allowed for this user (e.g. admins only) */
	CHS_EBUSY = -9,      /* the store is locked by another process */
	CHS_ENOTSTORE = -10, /* the folder is not a chartsync store */
	CHS_EIO = -11,       /* the operating system refused a read or write */
	CHS_EREVIEW = -12,   /* the record is under review */
	CHS_EAMBIGUOUS = -13, /* a short id matches more than one record */
	CHS_ECANCELLED = -14  /* stopped on request before the end (a service stopping);
			       * what was done is kept, the rest is done next time */
};

/* Set the calling thread's error message and return `code` so callers can
 * write `return chs_error_set(CHS_EINVALID, "...")`. */
int chs_error_set(int code, const char *fmt, ...) CHS_PRINTF(2, 3);
int chs_error_setv(int code, const char *fmt, va_list ap);
/* Prefix the current message with "context: ", returning `code`. */
int chs_error_wrap(int code, const char *fmt, ...) CHS_PRINTF(2, 3);
/* The last message set on this thread ("" if none); borrowed. */
const char *chs_error_last(void);
/* The code that went with it (0 if none). */
int chs_error_last_code(void);
void chs_error_clear(void);

/* A caller's bug at a public entry point (a NULL store, out-pointer or
 * required string), as opposed to bad input from a person or a file,
 * which gets CHS_EINVALID and a message. Debug builds stop at the bug;
 * release builds (NDEBUG) set CHS_ERROR with the expression and return
 * it from the calling function, which must return int. After libgit2's
 * GIT_ASSERT_ARG (src/util/assert_safe.h). */
#ifndef NDEBUG
# include <assert.h>
# define CHS_ASSERT_ARG(expr) assert(expr)
#else
# define CHS_ASSERT_ARG(expr) \
	do { \
		if (!(expr)) \
			return chs_error_set(CHS_ERROR, \
					     "invalid argument: %s (a bug in the caller)", #expr); \
	} while (0)
#endif

/* ---------------------------------------------------------------------
 * Allocation (crypto/alloc.c)
 *
 * chartsync's own code allocates only through these; each behaves as the
 * C library's function of the same name (free() what they return). They
 * exist so that the tests can fail any one allocation.
 */
void *chs_malloc(size_t n);
void *chs_calloc(size_t n, size_t size);
void *chs_realloc(void *p, size_t n);
char *chs_strdup(const char *s);
char *chs_strndup(const char *s, size_t n);

/* Allocation drills, for the tests only: from now on the `nth` allocation
 * (1: the next) fails, and with `sticky` every one after it too; 0 ends
 * the drill. Counting starts again at each call. */
void chs_alloc_fail_at(unsigned long nth, int sticky);
/* Allocations made since chs_alloc_fail_at() (counted only during a
 * drill), and how many of them the drill failed. */
unsigned long chs_alloc_count(void);
unsigned long chs_alloc_failed(void);

/* ---------------------------------------------------------------------
 * Bounded, always NUL-terminated byte buffer (after curl's dynbuf).
 *
 * A buffer never grows past `max` bytes; a failed append leaves it freed
 * and returns CHS_ENOMEM (or CHS_EINVALID when the ceiling is hit), so a
 * chain of appends can be checked once at the end.
 */
typedef struct chs_buf {
	char *ptr;
	size_t len;
	size_t cap;
	size_t max;
	int secret; /* chs_buf_init_secret(): wiped as it grows and when disposed */
} chs_buf;

#define CHS_BUF_MAX_DEFAULT ((size_t)256 << 20) /* 256 MiB */

void chs_buf_init(chs_buf *b, size_t max);
/* A buffer for secrets (keys, the admin's secrets blob): every block it
 * outgrows, and its last one when disposed, is wiped before it is freed,
 * so no copy stays behind in freed memory. */
void chs_buf_init_secret(chs_buf *b, size_t max);
void chs_buf_dispose(chs_buf *b);
int chs_buf_put(chs_buf *b, const void *data, size_t len);
int chs_buf_puts(chs_buf *b, const char *s);
int chs_buf_printf(chs_buf *b, const char *fmt, ...) CHS_PRINTF(2, 3);
/* Hand the contents to the caller (free() it); the buffer is left empty. */
char *chs_buf_detach(chs_buf *b);

/* ---------------------------------------------------------------------
 * Checked growable arrays (after libgit2's git_array_t)
 *
 * Make room for `need` elements of `elem_size` bytes in the array *ptr,
 * whose capacity is *cap elements: *cap at least doubles (to 8 at first),
 * so n appends cost O(n) copying. The byte count is checked for overflow
 * and never exceeds CHS_ARRAY_MAX. On failure CHS_ENOMEM with a message,
 * and *ptr and *cap are untouched: the old array stays valid and is still
 * the caller's to free. CHS_ARRAY_GROW takes the element size from the
 * pointer's type.
 */
#define CHS_ARRAY_MAX ((size_t)1 << 30) /* bytes in one array: 1 GiB */

int chs_array_grow(void **ptr, size_t *cap, size_t need, size_t elem_size);
#define CHS_ARRAY_GROW(p, cap, need) \
	chs_array_grow((void **)&(p), &(cap), (need), sizeof(*(p)))

/* ---------------------------------------------------------------------
 * Library start-up
 */
/* Initialise libsodium; safe to call many times and from any thread. */
int chs_crypto_init(void);

/* ---------------------------------------------------------------------
 * Secret memory
 */
#define CHS_KEY_BYTES 32u /* every symmetric key: 256 bits */

/* Guarded, mlock'ed, zeroed memory; NULL when out of memory. */
void *chs_secret_alloc(size_t len);
/* Wipe and release; accepts NULL. */
void chs_secret_free(void *p);
/* Wipe memory that is not secret-allocated (stack copies, buffers). */
void chs_wipe(void *p, size_t len);
/* Constant-time equality of two equally long byte strings. */
int chs_equal(const void *a, const void *b, size_t len);
/* Unpredictable bytes for ids, nonces and salts (keys: chs_key_new). */
void chs_random(void *out, size_t len);
/* A fresh random key in secret memory; NULL when out of memory. */
unsigned char *chs_key_new(void);
/* Derive subkey number `id` for `purpose` (8 characters, e.g. "vfs-page")
 * from a master key, into caller-provided secret memory. */
void chs_key_derive(unsigned char out[CHS_KEY_BYTES],
		    const unsigned char master[CHS_KEY_BYTES], uint64_t id,
		    const char purpose[8]);

/* ---------------------------------------------------------------------
 * Hashing: BLAKE2b-256
 */
#define CHS_HASH_BYTES 32u

typedef struct chs_hash_state {
	/* Opaque storage for crypto_generichash_state (384 bytes, aligned). */
	_Alignas(64) unsigned char opaque[384];
} chs_hash_state;

void chs_hash(unsigned char out[CHS_HASH_BYTES], const void *data, size_t len);
void chs_hash_init(chs_hash_state *st);
void chs_hash_update(chs_hash_state *st, const void *data, size_t len);
void chs_hash_final(chs_hash_state *st, unsigned char out[CHS_HASH_BYTES]);
/* BLAKE2b-256 keyed with `key` (a MAC, a PRF): who lacks the key can
 * neither compute nor confirm it. */
void chs_hash_keyed(unsigned char out[CHS_HASH_BYTES], const unsigned char key[CHS_KEY_BYTES],
		    const void *data, size_t len);

/* SHA-256, for attachment content addresses (what other tools print). */
#define CHS_SHA256_BYTES 32u

typedef struct chs_sha256_state {
	/* Opaque storage for crypto_hash_sha256_state (104 bytes). */
	_Alignas(8) unsigned char opaque[128];
} chs_sha256_state;

void chs_sha256_init(chs_sha256_state *st);
void chs_sha256_update(chs_sha256_state *st, const void *data, size_t len);
void chs_sha256_final(chs_sha256_state *st, unsigned char out[CHS_SHA256_BYTES]);

/* Lowercase hex of `len` bytes into `out` (2*len+1 bytes, NUL-terminated). */
void chs_hex(char *out, const void *bin, size_t len);
/* Parse exactly `len` bytes of hex; CHS_EINVALID if malformed. */
int chs_unhex(void *out, size_t len, const char *hex);

/* ---------------------------------------------------------------------
 * Authenticated encryption: XChaCha20-Poly1305 (IETF)
 *
 * Sealed form: nonce (24) || ciphertext || tag (16). The nonce is random,
 * which is safe for XChaCha20's 192-bit nonces. `ad` is bound in but not
 * stored.
 */
#define CHS_AEAD_NONCE_BYTES 24u
#define CHS_AEAD_TAG_BYTES 16u
#define CHS_AEAD_OVERHEAD (CHS_AEAD_NONCE_BYTES + CHS_AEAD_TAG_BYTES)

/* `out` holds len + CHS_AEAD_OVERHEAD bytes. */
void chs_aead_seal(unsigned char *out, const void *msg, size_t len,
		   const void *ad, size_t adlen,
		   const unsigned char key[CHS_KEY_BYTES]);
/* The same with the caller's nonce, for deterministic (convergent)
 * encryption: the nonce must be a keyed hash of everything sealed with
 * it, so one nonce never seals two different messages under one key. */
void chs_aead_seal_nonce(unsigned char *out, const void *msg, size_t len,
			 const void *ad, size_t adlen,
			 const unsigned char nonce[CHS_AEAD_NONCE_BYTES],
			 const unsigned char key[CHS_KEY_BYTES]);
/* `out` holds len - CHS_AEAD_OVERHEAD bytes. CHS_EDAMAGED when the data,
 * the associated data or the key does not match. */
int chs_aead_open(unsigned char *out, const unsigned char *sealed, size_t len,
		  const void *ad, size_t adlen,
		  const unsigned char key[CHS_KEY_BYTES]);

/* ---------------------------------------------------------------------
 * Sealed envelopes: anonymous public-key encryption to a device's X25519
 * key (crypto_box_seal), for handing a data key to a device.
 */
#define CHS_SEAL_OVERHEAD 48u

/* `out` holds len + CHS_SEAL_OVERHEAD bytes. */
int chs_seal(unsigned char *out, const void *msg, size_t len,
	     const unsigned char x25519_pk[32]);

/* ---------------------------------------------------------------------
 * Device identity: an Ed25519 key pair, with its X25519 form for
 * receiving sealed envelopes. The secret halves live in secret memory.
 */
#define CHS_SIGN_PK_BYTES 32u
#define CHS_SIGN_SK_BYTES 64u
#define CHS_SIGNATURE_BYTES 64u
#define CHS_DEVICE_ID_BYTES 16u /* BLAKE2b-128 of the public key */

typedef struct chs_identity chs_identity;

int chs_identity_new(chs_identity **out);
/* Rebuild from a 64-byte Ed25519 secret key (copied). */
int chs_identity_from_secret(chs_identity **out,
			     const unsigned char sk[CHS_SIGN_SK_BYTES]);
void chs_identity_free(chs_identity *id);
const unsigned char *chs_identity_public(const chs_identity *id);
/* The secret key, borrowed, valid until chs_identity_free(). */
const unsigned char *chs_identity_secret(const chs_identity *id);
/* The device id: 32 lowercase hex characters and a NUL. */
void chs_identity_device_id(const chs_identity *id, char out[33]);
void chs_device_id_of(const unsigned char pk[CHS_SIGN_PK_BYTES], char out[33]);
void chs_identity_sign(const chs_identity *id,
		       unsigned char sig[CHS_SIGNATURE_BYTES],
		       const void *msg, size_t len);
/* 0 if `sig` is pk's signature over msg, CHS_EDAMAGED otherwise. */
int chs_sign_verify(const unsigned char pk[CHS_SIGN_PK_BYTES],
		    const unsigned char sig[CHS_SIGNATURE_BYTES],
		    const void *msg, size_t len);
/* The X25519 public key that sealed envelopes for this device use. */
void chs_identity_box_public(const chs_identity *id, unsigned char out[32]);
/* Convert an Ed25519 public key to its X25519 form; CHS_EINVALID if the
 * key is not a valid point. */
int chs_sign_pk_to_box(unsigned char out[32],
		       const unsigned char pk[CHS_SIGN_PK_BYTES]);
/* Open an envelope sealed to this identity; CHS_EDAMAGED if not ours or
 * altered. `out` holds len - CHS_SEAL_OVERHEAD bytes. */
int chs_identity_unseal(const chs_identity *id, unsigned char *out,
			const unsigned char *sealed, size_t len);

/* ---------------------------------------------------------------------
 * SSH signatures (SSHSIG), as git signs commits with an SSH key: what
 * `git log --show-signature` verifies against an allowed-signers file.
 * Ed25519 with SHA-512 only. Format described in crypto/sshsig.c.
 */

/* Append the armored signature of `msg` under namespace `ns` (git uses
 * "git"): byte-identical to `ssh-keygen -Y sign -n ns`, no final newline. */
int chs_sshsig_sign(chs_buf *out, const chs_identity *id, const char *ns,
		    const void *msg, size_t len);
/* Verify an armored signature over `msg` in namespace `ns`; on success
 * the signer's public key is copied to `signer` (when not NULL). The
 * caller decides whether it trusts that key. CHS_EDAMAGED otherwise. */
int chs_sshsig_verify(unsigned char signer[CHS_SIGN_PK_BYTES], const char *armored,
		      size_t armored_len, const char *ns, const void *msg, size_t len);
/* "ssh-ed25519 BASE64" for an allowed-signers file or authorized_keys. */
int chs_ssh_public_key(chs_buf *out, const unsigned char pk[CHS_SIGN_PK_BYTES]);
/* Parse such a line (a trailing comment is ignored); CHS_EINVALID. */
int chs_ssh_public_key_parse(unsigned char pk[CHS_SIGN_PK_BYTES], const char *line);

/* ---------------------------------------------------------------------
 * Key slots: the store key wrapped under a user's passphrase
 *
 * Like LUKS: one random store key, wrapped once per user under a key
 * derived from that user's passphrase with Argon2id. The KDF parameters
 * travel with the slot so they can be raised later without breaking old
 * slots. The associated data binds the slot to its store and user, so a
 * slot copied to another user's name does not open.
 *
 * A version 2 slot adds a step, so that an admin can give every user a
 * new store key without knowing their passphrases (chartsync rekey): the
 * passphrase unwraps the secret half of an X25519 key pair of the slot's
 * own, and the store key is sealed (crypto_box_seal) to its public half,
 * which is kept in the clear. Re-sealing a new key to the public half
 * (chs_slot_rewrap) needs no secret; opening it needs the passphrase. A
 * new passphrase makes a new key pair, so an old copy of a slot and its
 * old passphrase never open a key sealed after the change. A version 1
 * slot wraps the store key itself and cannot be re-wrapped.
 */
#define CHS_SALT_BYTES 16u
#define CHS_SLOT_WRAPPED_BYTES (CHS_KEY_BYTES + CHS_AEAD_OVERHEAD)
#define CHS_SLOT_BOX_BYTES 32u
#define CHS_SLOT_SEALED_BYTES (CHS_KEY_BYTES + CHS_SEAL_OVERHEAD)

typedef struct chs_kdf_params {
	uint64_t ops;    /* Argon2id passes */
	uint64_t mem;    /* memory, bytes */
} chs_kdf_params;

typedef struct chs_slot {
	chs_kdf_params kdf;
	int version;     /* 1: wrapped is the store key; 2: see above */
	unsigned char salt[CHS_SALT_BYTES];
	unsigned char wrapped[CHS_SLOT_WRAPPED_BYTES]; /* nonce||ct||tag */
	unsigned char box_pk[CHS_SLOT_BOX_BYTES];      /* version 2 */
	unsigned char sealed[CHS_SLOT_SEALED_BYTES];   /* version 2 */
} chs_slot;

/* Defaults for new slots: libsodium's "interactive" level (64 MiB, 2
 * passes, about 0.1 s here). */
void chs_kdf_params_default(chs_kdf_params *p);
/* The cheapest parameters libsodium allows; for tests only. */
void chs_kdf_params_minimum(chs_kdf_params *p);
/* The most Argon2id passes a slot may ask for: 32 times the default's. */
#define CHS_KDF_OPS_MAX 64u
/* CHS_EINVALID if parameters are out of libsodium's range, or over 4 GiB
 * or CHS_KDF_OPS_MAX passes (a slot file can carry anything). */
int chs_kdf_params_check(const chs_kdf_params *p);

/* Wrap `key` for `user` of store `store_id` under `pass`: a version 2
 * slot with a new key pair. */
int chs_slot_wrap(chs_slot *out, const unsigned char key[CHS_KEY_BYTES],
		  const char *store_id, const char *user,
		  const char *pass, size_t passlen, const chs_kdf_params *kdf);
/* Unwrap into `key` (secret memory of CHS_KEY_BYTES). CHS_EAUTH when the
 * passphrase, user or store does not match. */
int chs_slot_unwrap(unsigned char key[CHS_KEY_BYTES], const chs_slot *slot,
		    const char *store_id, const char *user,
		    const char *pass, size_t passlen);
/* Seal a new store `key` into a version 2 slot, without its passphrase.
 * CHS_EINVALID for a version 1 slot (its user must set a passphrase
 * again). */
int chs_slot_rewrap(chs_slot *slot, const unsigned char key[CHS_KEY_BYTES]);

/* ---------------------------------------------------------------------
 * Shamir's secret sharing (crypto/share.c, through libgfshare): a secret
 * split into `n` shares of which any `k` rebuild it, while fewer tell
 * nothing about it. Each share is as long as the secret; share i of the
 * split (0-based) has the share number i + 1, which combining needs.
 */
#define CHS_SHARES_MAX 255u               /* shares of one secret */
#define CHS_SHARE_SECRET_MAX (1u << 20)   /* bytes of one secret */

/* Split `secret` (len bytes) into `n` shares, threshold `k`, written one
 * after the other into `out` (n * len bytes). The coefficients come from
 * libsodium's random bytes. CHS_EINVALID unless 2 <= k <= n <= 255 and
 * 1 <= len <= CHS_SHARE_SECRET_MAX. */
int chs_share_split(unsigned char *out, const void *secret, size_t len, unsigned k,
		    unsigned n);
/* Rebuild a secret of `len` bytes from `k` shares: shares[i] is share
 * number nrs[i] (1 to 255, each once). Any k shares of a split with
 * threshold k give the secret; fewer give bytes unrelated to it, which
 * the caller must be able to tell (a MAC over the secret). CHS_EINVALID
 * for a share number 0 or given twice. */
int chs_share_combine(void *secret, size_t len, const unsigned char *nrs,
		      const unsigned char *const *shares, unsigned k);

/* ---------------------------------------------------------------------
 * The page-encrypting SQLite VFS
 *
 * Each open store registers its own VFS instance carrying the page key;
 * the caller opens the database with sqlite3_open_v2(..., chs_vfs_name())
 * and frees the VFS only after closing every connection that used it.
 * The layout and the reasoning are described at the top of crypto/vfs.c.
 *
 * Databases opened through it must use CHS_VFS_PAGE_SIZE pages with
 * CHS_VFS_RESERVE reserved bytes per page (set before the first write with
 * SQLITE_FCNTL_RESERVE_BYTES), journal_mode=WAL and temp_store=MEMORY;
 * the VFS refuses rollback journals and on-disk temporary files.
 */
#define CHS_VFS_PAGE_SIZE 4096
#define CHS_VFS_RESERVE 48

/* sqlite3_file_control() opcode, on the "main" database: check every page
 * of the database file. The argument is a uint32_t that receives the
 * number of the first damaged page (0 if none); returns SQLITE_OK or
 * SQLITE_IOERR_DATA. */
#define CHS_VFS_FCNTL_VERIFY 0x43485301

typedef struct chs_vfs chs_vfs;

/* Register a VFS that encrypts under a page key derived from `store_key`
 * (which is copied into secret memory). */
int chs_vfs_new(chs_vfs **out, const unsigned char store_key[CHS_KEY_BYTES]);
/* The name to pass to sqlite3_open_v2(); borrowed. */
const char *chs_vfs_name(const chs_vfs *vfs);
/* Unregister and wipe; every connection using it must be closed. */
void chs_vfs_free(chs_vfs *vfs);
/* Why the VFS last refused a store's wal-index (a folder or file in
 * /dev/shm that is not the user's own), for the message of the
 * SQLITE_CANTOPEN that follows; NULL if it never did. Borrowed. */
const char *chs_vfs_problem(const chs_vfs *vfs);

struct sqlite3;
/* Write every page of the database `db` ("main", open through a chartsync
 * VFS) to a new file `dst`, sealed under the page key of `to`: a rekey
 * re-encrypts a store with it. The caller checkpoints the WAL into the
 * database first and holds the database exclusively meanwhile. `dst` is
 * created (never overwritten) 0600 and synced; removed on failure.
 * CHS_EDAMAGED when a page does not decrypt, CHS_EIO for the disk. */
int chs_vfs_copy_rekeyed(struct sqlite3 *db, const chs_vfs *to,
			 const char *dst);

#endif /* CHS_CRYPTO_H */
