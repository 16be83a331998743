/*
 * client/store/store_int.h - shared by the files of client/store/ only: the key
 * slot file and the cross-process writer lock.
 */
#ifndef CHS_CLIENT_STORE_STORE_INT_H
#define CHS_CLIENT_STORE_STORE_INT_H

#include "client/store/db.h"
#include "client/util/util.h"

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

int chs_store__slots_read(chs_slot_file *out, const char *path);
int chs_store__slots_write(const chs_slot_file *sf, const char *path);
void chs_store__slots_dispose(chs_slot_file *sf);
chs_slot_entry *chs_store__slots_find(chs_slot_file *sf, const char *user);
/* Add or replace the slot of `user`. */
int chs_store__slots_put(chs_slot_file *sf, const char *user,
			 const chs_slot *slot);
void chs_store__slots_remove(chs_slot_file *sf, const char *user);


/* ---- lock.c: the cross-process writer lock ---- */
int chs_store__lock_open(chs_store *s);
int chs_store__lock(chs_store *s);
/* Take the lock only if it is free now: CHS_EBUSY otherwise. */
int chs_store__trylock(chs_store *s);
void chs_store__unlock(chs_store *s);
void chs_store__lock_close(chs_store *s);

/* ---- rekey_files.c: the files of a rekey (see there) ---- */
#define REKEY_DB "store.db.rekey"
#define REKEY_SLOTS "keyslots.rekey"
/* Remove what an unfinished rekey made, in the order that keeps the old
 * key the valid one at every step. */
int chs_store__rekey_undo(const char *dir);
/* At open: finish or undo a rekey a crash interrupted, under the writer
 * lock (nothing to do, and no lock taken, when none was). */
int chs_store__rekey_recover(chs_store *s);

/* ---- store.c, for rekey.c ---- */
/* Open DIR/store.db through a new VFS for s->key and configure the
 * connection (s->vfs and s->db must be NULL). */
int chs_store__open_db(chs_store *s);
/* Close the connection and free its VFS (the caller holds the writer
 * lock: the last connection checkpoints). */
void chs_store__close_db(chs_store *s);
/* The device's secret key sealed under `store_key` as the device table
 * keeps it. */
#define CHS_STORE_DEVICE_SEALED (CHS_SIGN_SK_BYTES + CHS_AEAD_OVERHEAD)
int chs_store__device_seal(const chs_store *s, const unsigned char *store_key,
			   unsigned char out[CHS_STORE_DEVICE_SEALED]);

#endif /* CHS_CLIENT_STORE_STORE_INT_H */
