/*
 * client/store/store.h - the encrypted store: creating, opening and closing
 * it, its users and their key slots, its settings and its status.
 *
 * A store is a folder:
 *
 *   DIR/keyslots    the store key wrapped once per user (JSON, no secrets
 *                   in the clear; rewritten atomically)
 *   DIR/store.db    the encrypted SQLite database (and its -wal)
 *   DIR/lock        advisory lock serialising writers and checkpoints
 *
 * Errors follow crypto/crypto.h: 0 or a negative CHS_E* code, with a
 * message from chs_error_last(). A chs_store belongs to one thread.
 */
#ifndef CHS_CLIENT_STORE_STORE_H
#define CHS_CLIENT_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "crypto/crypto.h"

typedef struct chs_store chs_store;

/* The user name chartsync uses when none is given: the login name. The
 * result is static storage; never NULL ("unknown" as a last resort). */
const char *chs_login_name(void);

/* ---------------------------------------------------------------------
 * Creating, opening and closing
 */
typedef struct chs_store_create_opts {
	const char *user;          /* first user, an admin */
	const char *passphrase;
	size_t passphrase_len;
	const chs_kdf_params *kdf; /* NULL: chs_kdf_params_default() */
	const char *terminal;      /* NULL: the host name */
} chs_store_create_opts;

/* Create a store in `dir` (made if missing) and open it as its first
 * user. CHS_EEXISTS when `dir` already holds a store, CHS_EINVALID for a
 * bad user name or an empty passphrase, CHS_EDENIED when `dir` exists and
 * belongs to another system user (a store is only ever opened by the
 * user whose folder it is: see chs_store_open()). */
int chs_store_create(chs_store **out, const char *dir,
		     const chs_store_create_opts *opts);

/* Open the store in `dir` as `user` (NULL: chs_store_default_user()).
 * CHS_ENOTSTORE when `dir` holds no store, CHS_EAUTH for a wrong user or
 * passphrase (the message does not say which), CHS_EDAMAGED when the store
 * does not decrypt or verify, CHS_EDENIED when the folder belongs to
 * another system user (root included): each system user keeps the store's
 * wal-index in a /dev/shm folder of its own, so two of them opening one
 * store would not share its locks, and the message says to run chartsync
 * as the folder's owner. */
int chs_store_open(chs_store **out, const char *dir, const char *user,
		   const char *passphrase, size_t passphrase_len);

/* 0 if `dir` holds a store (its key slots) this system user may open,
 * else CHS_ENOTSTORE or CHS_EDENIED (as chs_store_open()) with a message;
 * lets a caller fail before asking for a passphrase. */
int chs_store_probe(const char *dir);

/* Close, wiping the keys; accepts NULL. */
void chs_store_free(chs_store *s);

/* The user to open `dir` as when none is given: the store's only user, or
 * else the login name. `*out` is malloc'ed. */
int chs_store_default_user(char **out, const char *dir);

/* Who opened the store: the name whose passphrase unwrapped the key. Every
 * change and access event records this. Borrowed. */
const char *chs_store_user(const chs_store *s);
int chs_store_user_is_admin(const chs_store *s);
/* 1 when the opener is a service user (chs_store_user_add_service()). */
int chs_store_user_is_service(const chs_store *s);
const char *chs_store_path(const chs_store *s);
const char *chs_store_id(const chs_store *s);
const char *chs_store_device_id(const chs_store *s);
/* The device's identity (signing key), borrowed. */
const chs_identity *chs_store_identity(const chs_store *s);

/* Read every page of the store and verify it, then SQLite's structure
 * check; the time of a check that finds the store intact is kept in the
 * store (chs_status.checked). CHS_EDAMAGED names the first damaged page. */
int chs_store_check(chs_store *s);
/* Only the page scan: every WAL frame and database page decrypts
 * (chs_store_verify runs it before it hashes). CHS_EDAMAGED names the
 * first damaged page. */
int chs_store_verify_pages(chs_store *s);

/* ---------------------------------------------------------------------
 * Users
 */
typedef struct chs_user {
	char *name;
	int admin;
	int service;     /* a service user: never an admin */
	int64_t created; /* Unix seconds */
} chs_user;

/* Add a user with their own passphrase (admins only). CHS_EDENIED when the
 * opener is not an admin, CHS_EEXISTS when the name is taken. */
int chs_store_user_add(chs_store *s, const char *name, int admin,
		       const char *passphrase, size_t passphrase_len);
/* Add a service user: the sign-in of a program that runs unattended (the
 * clinic's daemon), whose passphrase is kept in a file (admins only). A
 * service user syncs, takes in scans (chs_attach()), and reads the
 * store's status, settings and roster; it is never an admin, and every
 * view or change of a chart refuses it with CHS_EDENIED: the audited
 * views, every local write but a new attachment, review, confirmation,
 * coding, billing and the reports. CHS_EDENIED when the opener is not an
 * admin, CHS_EEXISTS when the name is taken. */
int chs_store_user_add_service(chs_store *s, const char *name,
			       const char *passphrase, size_t passphrase_len);
/* Remove a user (admins only; never the last admin). Their key slot is
 * deleted and the store refuses them from then on. */
int chs_store_user_rm(chs_store *s, const char *name);
/* The users, sorted by name; free with chs_user_list_free(). */
int chs_store_user_list(chs_store *s, chs_user **out, size_t *count);
void chs_user_list_free(chs_user *users, size_t count);
/* Change the opener's passphrase: re-wraps one key slot. */
int chs_store_passwd(chs_store *s, const char *passphrase,
		     size_t passphrase_len);

/* Give the store a new key (admins only): every page re-encrypted, every
 * remaining user's slot re-wrapped, so an old copy of a slot (a removed
 * user's, or one from before a passphrase change) no longer opens it.
 * Crash-safe: killed at any point, the store opens with the old key or
 * the new one (client/store/rekey_files.c). No other program may have the
 * store open meanwhile (CHS_EBUSY); one that had it open before must open
 * it again. Slots made by chartsync before version 2 slots cannot be
 * re-wrapped without their passphrase: they are dropped and their users
 * named in `out` (remove and add them again). CHS_EDENIED for a non-admin,
 * CHS_EDAMAGED when a page does not decrypt. The store stays open, under
 * the new key. */
typedef struct chs_rekey_result {
	size_t rewrapped;  /* slots that hold the new key */
	char **dropped;    /* users whose old slot could not take it */
	size_t ndropped;
} chs_rekey_result;

int chs_store_rekey(chs_store *s, chs_rekey_result *out);
void chs_rekey_result_dispose(chs_rekey_result *r);

/* ---------------------------------------------------------------------
 * Backups (client/store/backup.c)
 *
 * DEST holds one folder per backup, named after the UTC time it was made
 * (20261204T144512.345Z, so names sort by time): store.db (every page
 * still encrypted under the store key), keyslots, and manifest.json (the
 * format version, store and device ids, the time, each file's size and
 * BLAKE2b-256). A folder without its manifest, or whose name starts with
 * '.', is not a backup: one is built under a temporary name and renamed
 * when whole.
 */
typedef struct chs_backup_opts {
	int verify;             /* open the copy with its own key slots and
				 * check every page before it counts */
	const char *passphrase; /* the opener's, for verify */
	size_t passphrase_len;
	int keep;               /* > 0: remove the oldest backups of this
				 * store beyond this many (DEST may hold
				 * other stores' too; those stay) */
} chs_backup_opts;

typedef struct chs_backup_result {
	char *path;       /* the backup that holds the store now (malloc'ed) */
	int unchanged;    /* 1: the newest backup already did; nothing written */
	int verified;
	int64_t at;       /* Unix seconds when that backup was made */
	uint64_t bytes;   /* bytes written (0 when unchanged) */
	size_t removed;   /* old backups removed by `keep` */
} chs_backup_result;

/* Back up the open store into `dest` (made if missing; its parent must
 * exist) while other programs go on using it: the copy holds the state
 * of one commit. When the store has not changed since its newest backup
 * in `dest` (every commit gives it a new state token), nothing is written
 * and `out->unchanged` says so. DIR/backup.json remembers the last one
 * (chs_store_backup_last). `opts` may be NULL. */
int chs_store_backup(chs_store *s, const char *dest, const chs_backup_opts *opts,
		     chs_backup_result *out);
void chs_backup_result_dispose(chs_backup_result *r);
/* When and where the store in `dir` was last backed up (`*path`
 * malloc'ed); CHS_ENOTFOUND when never. Reads no secret: no passphrase. */
int chs_store_backup_last(const char *dir, int64_t *at, char **path);

/* Make `dir` (missing, or an empty folder) the store backed up in `src`:
 * a backup folder, or a DEST folder for its newest backup. The manifest
 * and every checksum are checked, the copy opened as `user` (NULL: its
 * only user, else the login name) and every page checked before one
 * rename puts it at `dir`; any failure leaves `dir` as it was. The result
 * is dir/store.db and dir/keyslots exactly as at the backup, and nothing
 * else (the git mirror comes back at the first sync). CHS_EEXISTS when
 * `dir` holds a store or other files, CHS_ENOTFOUND when `src` holds no
 * backup, CHS_EDAMAGED for a damaged backup, CHS_EAUTH for a wrong user
 * or passphrase. `used` (may be NULL): the backup folder restored,
 * malloc'ed. */
int chs_store_restore(const char *src, const char *dir, const char *user,
		      const char *passphrase, size_t passphrase_len, char **used);

/* ---------------------------------------------------------------------
 * Settings, kept inside the encrypted store
 */
typedef struct chs_config_key {
	const char *name;
	const char *help;
} chs_config_key;

/* The known settings, terminated by a { NULL, NULL } entry. */
const chs_config_key *chs_config_keys(void);
/* The value of `key` (its default when unset); `*out` is malloc'ed.
 * CHS_ENOTFOUND for an unknown key. */
int chs_config_get(chs_store *s, const char *key, char **out);
/* Set `key`; CHS_EINVALID for a value the setting does not accept. */
int chs_config_set(chs_store *s, const char *key, const char *value);
/* The forms settings take, for the service that reads them: a duration
 * in seconds ("300", "30s", "5m", "2h") and a daily window in minutes
 * after local midnight ("01:00-04:00"; start > end crosses midnight).
 * CHS_EINVALID, without a message, for another form. */
int chs_config_parse_seconds(const char *value, long *out);
int chs_config_parse_window(const char *value, int *start, int *end);

/* ---------------------------------------------------------------------
 * Status
 */
typedef struct chs_status {
	const char *path;      /* borrowed from the store */
	const char *user;
	int admin;
	int service;           /* the opener is a service user */
	char *terminal;        /* malloc'ed */
	const char *device_id;
	const char *store_id;
	int64_t users;
	int64_t records;
	int64_t changes;
	int64_t checked;       /* Unix seconds of the last `check` that found
				* the store intact; 0: never */
} chs_status;

int chs_store_status(chs_store *s, chs_status *out);
void chs_status_dispose(chs_status *st);

#endif /* CHS_CLIENT_STORE_STORE_H */
