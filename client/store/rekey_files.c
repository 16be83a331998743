/*
 * The files of a rekey, and finishing or undoing one a crash interrupted.
 *
 * A rekey (rekey.c) gives the store a new key in four steps, each a file
 * made whole before the next begins:
 *
 *   1. DIR/store.db.rekey   every page of store.db sealed under the new
 *                           key, synced
 *   2. DIR/keyslots.rekey   every slot with the new key sealed in it,
 *                           written like any slot file (temp, sync, rename)
 *   3. rename store.db.rekey -> store.db, sync the folder   <- the switch
 *   4. rename keyslots.rekey -> keyslots, sync the folder
 *
 * So which files exist says how far it came, and an open (under the writer
 * lock) puts the store back in one piece:
 *
 *   store.db.rekey present          not switched: the old key and store
 *                                   hold; keyslots.rekey goes first, then
 *                                   store.db.rekey (and its WAL)
 *   only keyslots.rekey present     switched: store.db is under the new
 *                                   key; keyslots.rekey becomes keyslots
 *   neither                         nothing to do
 *
 * Undoing removes keyslots.rekey before store.db.rekey, so a crash while
 * undoing never leaves "only keyslots.rekey", which would mean "switched".
 * At every point the store opens with the old key or the new one.
 */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const db_leftovers[] = {
	"store.db.rekey-wal", "store.db.rekey-shm", REKEY_DB
};

static int exists(const char *dir, const char *name, int *out)
{
	char *p = chs_util__path(dir, name);

	if (!p)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	*out = access(p, F_OK) == 0;
	free(p);
	return 0;
}

static int remove_in(const char *dir, const char *name)
{
	char *p = chs_util__path(dir, name);
	int err = 0;

	if (!p)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (unlink(p) < 0 && errno != ENOENT)
		err = chs_error_set(CHS_EIO, "cannot remove '%s' of an unfinished rekey: %s",
				    p, strerror(errno));
	free(p);
	return err;
}

int chs_store__rekey_undo(const char *dir)
{
	size_t i;
	int err;

	if ((err = remove_in(dir, REKEY_SLOTS)) < 0 ||
	    (err = chs_util__fsync(dir)) < 0)
		return err;
	for (i = 0; i < sizeof(db_leftovers) / sizeof(db_leftovers[0]); i++)
		if ((err = remove_in(dir, db_leftovers[i])) < 0)
			return err;
	return chs_util__fsync(dir);
}

static int finish(chs_store *s)
{
	char *from = chs_util__path(s->dir, REKEY_SLOTS);
	int err = 0;

	if (!from)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (rename(from, s->slots_path) < 0)
		err = chs_error_set(CHS_EIO, "cannot finish the rekey of '%s': %s",
				    s->dir, strerror(errno));
	free(from);
	return err < 0 ? err : chs_util__fsync(s->dir);
}

int chs_store__rekey_recover(chs_store *s)
{
	int db_new = 0, slots_new = 0, err;

	if ((err = exists(s->dir, REKEY_DB, &db_new)) < 0 ||
	    (err = exists(s->dir, REKEY_SLOTS, &slots_new)) < 0)
		return err;
	if (!db_new && !slots_new)
		return 0;
	/* Under the lock, and looked at again: the rekey may be running in
	 * another process, and then it finishes before we get here. */
	if ((err = chs_store__lock(s)) < 0)
		return err;
	if ((err = exists(s->dir, REKEY_DB, &db_new)) == 0 &&
	    (err = exists(s->dir, REKEY_SLOTS, &slots_new)) == 0) {
		if (db_new)
			err = chs_store__rekey_undo(s->dir);
		else if (slots_new)
			err = finish(s);
	}
	chs_store__unlock(s);
	return err;
}
