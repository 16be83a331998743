/*
 * chartsync rekey: a new store key, every page re-encrypted, every slot
 * re-wrapped, so that a removed user (or anyone holding an old slot and
 * its old passphrase) can no longer unwrap the key that opens the store.
 *
 * How it stays crash-safe is rekey_files.c: the re-encrypted database is
 * built beside the store, then the slots that hold the new key, and one
 * rename of the database is the switch. Before it the old key opens the
 * store, after it the new one; an open finishes or undoes what a crash
 * left. The CHARTSYNC_FAULT points rekey-copied, rekey-resealed,
 * rekey-slots and rekey-switched let the tests kill it between the steps.
 *
 * Nobody else may have the store open meanwhile: the page copy reads the
 * database file, and a connection left on the old file after the switch
 * would write into the new one's WAL under the old key. So rekey holds
 * the writer lock and takes SQLite's exclusive lock on the database (which
 * fails while any other connection holds its shared lock); a program that
 * opened the store before the switch is refused the writer lock after it
 * (lock.c) and must open it again.
 *
 * Slots: a version 2 slot takes the new key without its passphrase
 * (crypto/slot.c); a version 1 slot (made by an older chartsync, its user
 * has not opened the store since) cannot, and is dropped. Its user stays
 * on the list but cannot open the store until an admin removes and adds
 * them again; chs_store_rekey names them.
 */
#include "store_int.h"
#include "client/util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REKEY_WAIT_MS 2000 /* for other connections to close */

typedef struct rekey_job {
	chs_store *s;
	unsigned char *key;   /* the new store key, secret memory */
	chs_vfs *vfs;         /* pages under the new key */
	char *db_new;         /* DIR/store.db.rekey */
	char *slots_new;      /* DIR/keyslots.rekey */
	chs_rekey_result *out;
} rekey_job;

/* SQLite's exclusive lock: granted only when no other connection, in any
 * process, has the database open. Kept until the connection closes. */
static int take_exclusive(chs_store *s)
{
	int err;

	if ((err = chs_store__exec(s, "PRAGMA locking_mode=EXCLUSIVE")) < 0)
		return err;
	/* Another program keeps the store open for as long as it runs: a short
	 * wait for one that is about to close, then say so. */
	sqlite3_busy_timeout(s->db, REKEY_WAIT_MS);
	err = chs_store__exec(s, "BEGIN EXCLUSIVE; COMMIT;");
	sqlite3_busy_timeout(s->db, CHS_BUSY_TIMEOUT_MS);
	if (err < 0) {
		chs_store__exec(s, "PRAGMA locking_mode=NORMAL");
		if (err == CHS_EBUSY)
			err = chs_error_set(CHS_EBUSY,
					    "the store '%s' is open in another program (the service, or another chartsync); close it there and run rekey again",
					    s->dir);
		return err;
	}
	return 0;
}

/* Every committed page into store.db, and the WAL emptied. */
static int checkpoint_all(chs_store *s)
{
	int log = -1, done = -1;
	int rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_TRUNCATE,
					   &log, &done);

	if (rc != SQLITE_OK)
		return chs_store__sqlerr(s, rc, "re-keying");
	if (log != 0)
		return chs_error_set(CHS_EBUSY, "the store '%s' is busy; run rekey again",
				     s->dir);
	return 0;
}

/* In the copy: the device's secret key sealed under the new key (it is
 * the one thing in the database sealed under the store key itself). The
 * last connection's close checkpoints the copy's WAL into it. */
/* Whether `db` has a write-ahead log that holds anything. */
static int wal_left(const char *db)
{
	size_t len = strlen(db) + sizeof("-wal");
	char *wal = chs_malloc(len);
	struct stat sb;
	int left = 1;

	if (wal) {
		snprintf(wal, len, "%s-wal", db);
		left = stat(wal, &sb) == 0 ? sb.st_size > 0 : errno != ENOENT;
		free(wal);
	}
	return left;
}

static int reseal_device(rekey_job *j)
{
	unsigned char sealed[CHS_STORE_DEVICE_SEALED];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, err;

	if ((err = chs_store__device_seal(j->s, j->key, sealed)) < 0)
		return err;
	rc = sqlite3_open_v2(j->db_new, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
			     SQLITE_OPEN_EXRESCODE, chs_vfs_name(j->vfs));
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0;"
				      "PRAGMA synchronous=FULL;", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "UPDATE device SET secret = ? WHERE id = 1",
					-1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(st, 1, sealed, sizeof(sealed), SQLITE_STATIC);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_DONE)
		rc = sqlite3_changes(db) == 1 ? SQLITE_OK : SQLITE_CORRUPT;
	sqlite3_finalize(st);
	/* The switch renames the main file only: the update must be in it,
	 * not in a WAL that a failed checkpoint-on-close would leave behind
	 * (sqlite3_close() does not report that). */
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	if (sqlite3_close(db) != SQLITE_OK && rc == SQLITE_OK)
		rc = SQLITE_IOERR;
	if (rc == SQLITE_OK && wal_left(j->db_new))
		rc = SQLITE_IOERR;
	chs_wipe(sealed, sizeof(sealed));
	if (rc != SQLITE_OK)
		return chs_error_set(rc == SQLITE_CORRUPT ? CHS_EDAMAGED : CHS_EIO,
				     "cannot write the re-keyed copy of '%s' (%s)",
				     j->s->dir, sqlite3_errstr(rc));
	return 0;
}

static int note_dropped(chs_rekey_result *out, const char *user)
{
	size_t cap = out->ndropped;
	int err;

	if ((err = CHS_ARRAY_GROW(out->dropped, cap, out->ndropped + 1)) < 0)
		return err;
	if (!(out->dropped[out->ndropped] = chs_util__strdup(user)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	out->ndropped++;
	return 0;
}

/* keyslots.rekey: every version 2 slot with the new key sealed in it. */
static int write_slots(rekey_job *j)
{
	chs_slot_file sf;
	size_t i = 0;
	int err;

	if ((err = chs_store__slots_read(&sf, j->s->slots_path)) < 0)
		return err;
	while (i < sf.count && err == 0) {
		chs_slot_entry *e = &sf.entries[i];

		if (e->slot.version >= 2) {
			err = chs_slot_rewrap(&e->slot, j->key);
			j->out->rewrapped++;
			i++;
		} else if (strcmp(e->user, j->s->user) == 0) {
			/* never drop the admin who runs it: their slot is the one
			 * sure way back into the store */
			err = chs_error_set(CHS_EBUSY,
					    "your own key slot is of the older kind, so rekey would"
					    " shut you out; open the store again while no other"
					    " chartsync has it open (that upgrades your slot), then"
					    " run 'chartsync rekey'");
		} else if ((err = note_dropped(j->out, e->user)) == 0) {
			chs_store__slots_remove(&sf, e->user);
		}
	}
	if (err == 0)
		err = chs_store__slots_write(&sf, j->slots_new);
	chs_store__slots_dispose(&sf);
	return err;
}

/* Steps 1 and 2 of rekey_files.c, on the store held exclusively. */
static int prepare(rekey_job *j)
{
	int err;

	if ((err = chs_store__rekey_undo(j->s->dir)) < 0 ||
	    (err = take_exclusive(j->s)) < 0 || (err = checkpoint_all(j->s)) < 0 ||
	    (err = chs_vfs_copy_rekeyed(j->s->db, j->vfs, j->db_new)) < 0)
		return err;
	chs_util__fault("rekey-copied");
	if ((err = reseal_device(j)) < 0 || (err = chs_util__fsync(j->db_new)) < 0)
		return err;
	chs_util__fault("rekey-resealed");
	if ((err = write_slots(j)) < 0)
		return err;
	chs_util__fault("rekey-slots");
	return 0;
}

/* Steps 3 and 4: the switch, then the store reopened under the new key. */
static int switch_over(rekey_job *j)
{
	chs_store *s = j->s;
	int err;

	chs_store__close_db(s);
	if (rename(j->db_new, s->db_path) < 0) {
		err = chs_error_set(CHS_EIO, "cannot put the re-keyed copy in place in '%s': %s",
				    s->dir, strerror(errno));
		chs_store__rekey_undo(s->dir);
		chs_store__open_db(s);
		return err;
	}
	if ((err = chs_util__fsync(s->dir)) < 0)
		return err;
	chs_util__fault("rekey-switched");
	memcpy(s->key, j->key, CHS_KEY_BYTES);
	if (rename(j->slots_new, s->slots_path) < 0)
		return chs_error_set(CHS_EIO, "cannot put the new key slots in place in '%s': %s (the next open finishes it)",
				     s->dir, strerror(errno));
	if ((err = chs_util__fsync(s->dir)) < 0)
		return err;
	return chs_store__open_db(s);
}

static int job_init(rekey_job *j, chs_store *s, chs_rekey_result *out)
{
	memset(j, 0, sizeof(*j));
	j->s = s;
	j->out = out;
	if (!(j->key = chs_key_new()) || !(j->db_new = chs_util__path(s->dir, REKEY_DB)) ||
	    !(j->slots_new = chs_util__path(s->dir, REKEY_SLOTS)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return chs_vfs_new(&j->vfs, j->key);
}

static void job_dispose(rekey_job *j)
{
	chs_vfs_free(j->vfs);
	chs_secret_free(j->key);
	free(j->db_new);
	free(j->slots_new);
}

int chs_store_rekey(chs_store *s, chs_rekey_result *out)
{
	rekey_job j;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(out);

	memset(out, 0, sizeof(*out));
	if (!s->admin)
		return chs_error_set(CHS_EDENIED, "only an admin can rekey the store; '%s' is not an admin",
				     s->user);
	if ((err = job_init(&j, s, out)) < 0)
		goto done;
	if ((err = chs_store__lock(s)) < 0)
		goto done;
	if ((err = prepare(&j)) < 0) {
		chs_store__rekey_undo(s->dir);
		if (s->db) /* normal locking again from the next read on */
			chs_store__exec(s, "PRAGMA locking_mode=NORMAL;"
					   "SELECT count(*) FROM meta;");
	} else {
		err = switch_over(&j);
	}
	chs_store__unlock(s);
done:
	job_dispose(&j);
	if (err < 0)
		chs_rekey_result_dispose(out);
	return err;
}

void chs_rekey_result_dispose(chs_rekey_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ndropped; i++)
		free(r->dropped[i]);
	free(r->dropped);
	memset(r, 0, sizeof(*r));
}
