/*
 * client/store/db.h - what the store offers the client modules above it
 * (never the tools): the open store, its SQL discipline and write
 * transactions, and the organisation as the store knows it. Like SQLite's
 * pager.h, it is a contract between layers, not an API.
 */
#ifndef CHS_CLIENT_STORE_DB_H
#define CHS_CLIENT_STORE_DB_H

#include <sqlite3.h>
#include "client/store/store.h"
#include "sync/sync.h"

#define CHS_STORE_SCHEMA 8           /* schema version this code writes */
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
	int service;        /* the opener is a service user (users.c) */
	char store_id[33];
	char device_id[33];
	unsigned char *key; /* the store key, secret memory */
	chs_kdf_params kdf; /* parameters of the opener's slot, for new slots */
	int slot_version;   /* of the opener's slot (crypto.h, key slots) */
	unsigned long db_ino; /* store.db's inode when opened (lock.c) */
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

/* ---- store.c ---- */
/* The store's tables and indexes, as created (for the import floor bench). */
const char *chs_store__schema_sql(void);

/* ---- sql.c: errors, cached statements, write transactions ---- */
/* Map an SQLite result to a CHS_E* code and message about `what`. */
int chs_store__sqlerr(chs_store *s, int rc, const char *what);
int chs_store__exec(chs_store *s, const char *sql);
/* Prepared statements are cached per store (parsing SQL costs more than
 * running these small statements): `sql` must be a string literal, and
 * every statement goes back with chs_store__finish(), never finalize. */
int chs_store__prepare(chs_store *s, sqlite3_stmt **out, const char *sql);
void chs_store__finish(chs_store *s, sqlite3_stmt *st);
void chs_store__finish_all(chs_store *s);
/* Write transactions: take the writer lock, BEGIN IMMEDIATE ... COMMIT,
 * checkpoint while still holding the lock when the WAL has grown, release.
 * rollback is safe to call after a failed begin or commit. */
int chs_store__begin(chs_store *s);
int chs_store__commit(chs_store *s);
void chs_store__rollback(chs_store *s);
/* 1 when another writer (any process) waits for the writer lock this
 * store holds now, so a long job made of several transactions should
 * commit soon and let it in (lock.c); else 0. */
int chs_store__writer_waiting(chs_store *s);
/* After a job that moved `items` changes or records: when it was big,
 * give the heap it freed back to the system. glibc keeps freed memory
 * (a million-change import left 140 MB of it), and every helper process
 * a sync forks afterwards pays for the parent's mappings: 15 ms more per
 * fork per 300 MB. */
void chs_store__after_big_job(size_t items);
/* Binding: every sqlite3_bind_* result goes through chs_store__bound(),
 * which maps a failure (an index out of range, a value too big, out of
 * memory) through chs_store__sqlerr. An unchecked bind that fails leaves
 * the parameter NULL and the statement runs anyway, writing a row without
 * the value. The typed helpers bind borrowed values (SQLITE_STATIC): they
 * must stay valid until the statement is finished. A NULL `v` binds NULL.
 * On failure the caller finishes the statement without stepping it. */
int chs_store__bound(chs_store *s, int rc);
int chs_store__bind_text(chs_store *s, sqlite3_stmt *st, int i, const char *v);
int chs_store__bind_blob(chs_store *s, sqlite3_stmt *st, int i, const void *v,
			 size_t len);
int chs_store__bind_int64(chs_store *s, sqlite3_stmt *st, int i, int64_t v);
int chs_store__bind_null(chs_store *s, sqlite3_stmt *st, int i);
/* Scalar helpers; `*out` text is malloc'ed. */
int chs_store__get_text(chs_store *s, const char *sql, const char *arg,
			char **out);
int chs_store__get_int(chs_store *s, const char *sql, int64_t *out);


/* ---- users.c ---- */
/* CHS_EINVALID with a message unless `name` is a usable user name. */
int chs_store__check_user_name(const char *name);
/* Create or refresh a slot for `user` under the writer lock. */
int chs_store__slot_set(chs_store *s, const char *user, const char *pass,
			size_t passlen);
/* CHS_EDENIED, with the message a technician sees, when the opener is a
 * service user: the guard of every view and write of a chart that a
 * service may not make (records, audit, billing, reports). 0 for a
 * person. */
int chs_store__refuse_service(const chs_store *s);


/* ---- config.c ---- */
/* Validate and write one setting inside the caller's transaction. */
int chs_store__config_put(chs_store *s, const char *key, const char *value);


/* ---- roster.c: the organisation as this store knows it ---- */
/* The newest roster this store accepted (its commit id in `oid`, "" when
 * not yet in git); CHS_ENOTFOUND when the store is in no organisation. */
int chs_store__roster_load(chs_store *s, chs_roster **out, char oid[41]);
int chs_store__roster_save(chs_store *s, const char *body, size_t len,
			   const unsigned char sig[CHS_SIGNATURE_BYTES], const char *oid,
			   uint64_t seq);
/* The organisation and admin key this store pinned; CHS_ENOTFOUND. */
int chs_store__org_pinned(chs_store *s, char org[33],
			  unsigned char admin[CHS_SIGN_PK_BYTES]);
int chs_store__org_pin(chs_store *s, const char *org, const unsigned char *admin);
/* The pinned admin key moves to `admin`: a roster that introduced it was
 * accepted (its handover checked by the caller). */
int chs_store__org_repin(chs_store *s, const unsigned char *admin);
/* Forget the admin key and key ring (this device is no longer an admin
 * device). */
int chs_store__org_secret_drop(chs_store *s);
/* 1 when this store holds the organisation's admin key. */
int chs_store__org_admin(chs_store *s, int *yes);
/* This device's role on the newest roster (0 when on none), cached. */
int chs_store__role(chs_store *s, int *role);

/* The site of `device` on the newest roster (NULL when none). */
int chs_store__device_site(chs_store *s, const char *device, char **site);

#endif /* CHS_CLIENT_STORE_DB_H */
