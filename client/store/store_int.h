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

#endif /* CHS_CLIENT_STORE_STORE_INT_H */
