/*
 * The store's SQL discipline: errors mapped to chartsync's codes, the
 * per-store cache of prepared statements, scalar reads, and the write
 * transaction every save goes through (writer lock, BEGIN IMMEDIATE,
 * COMMIT, a passive checkpoint once the WAL has grown).
 */
#include "store_int.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#define BIG_JOB_ITEMS 10000 /* changes or records: a job worth trimming after */

/* ------------------------------------------------------------------ */
/* SQL helpers                                                          */

int chs_store__sqlerr(chs_store *s, int rc, const char *what)
{
	const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return chs_error_set(CHS_EDAMAGED,
				     "the store '%s' is damaged (%s while %s); "
				     "restore it from a backup into a new folder ('chartsync restore BACKUP DIR')",
				     s->dir, msg, what);
	case SQLITE_IOERR:
		if (rc == SQLITE_IOERR_DATA)
			return chs_error_set(CHS_EDAMAGED,
					     "the store '%s' is damaged: a page does not decrypt (while %s); "
					     "restore it from a backup into a new folder ('chartsync restore BACKUP DIR')",
					     s->dir, what);
		return chs_error_set(CHS_EIO, "cannot read or write the store '%s' (%s while %s)",
				     s->dir, msg, what);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return chs_error_set(CHS_EBUSY,
				     "the store '%s' is busy (another chartsync is using it); try again",
				     s->dir);
	case SQLITE_NOMEM:
		return chs_error_set(CHS_ENOMEM, "out of memory");
	case SQLITE_FULL:
		return chs_error_set(CHS_EIO, "the disk holding '%s' is full", s->dir);
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_CANTOPEN:
		if (s->vfs && chs_vfs_problem(s->vfs))
			return chs_error_set(CHS_EIO, "cannot open the store '%s': %s",
					     s->dir, chs_vfs_problem(s->vfs));
		return chs_error_set(CHS_EIO, "cannot open the store '%s' (%s)",
				     s->dir, msg);
	default:
		return chs_error_set(CHS_ERROR, "store '%s': %s while %s", s->dir,
				     msg, what);
	}
}

int chs_store__bound(chs_store *s, int rc)
{
	return rc == SQLITE_OK ? 0 : chs_store__sqlerr(s, rc, "binding a value");
}

int chs_store__bind_text(chs_store *s, sqlite3_stmt *st, int i, const char *v)
{
	return chs_store__bound(s, sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC));
}

int chs_store__bind_blob(chs_store *s, sqlite3_stmt *st, int i, const void *v,
			 size_t len)
{
	/* The 64-bit length: SQLite refuses a blob too big (SQLITE_TOOBIG)
	 * where a cast to int would have wrapped. */
	return chs_store__bound(s, sqlite3_bind_blob64(st, i, v, (sqlite3_uint64)len,
						       SQLITE_STATIC));
}

int chs_store__bind_int64(chs_store *s, sqlite3_stmt *st, int i, int64_t v)
{
	return chs_store__bound(s, sqlite3_bind_int64(st, i, v));
}

int chs_store__bind_null(chs_store *s, sqlite3_stmt *st, int i)
{
	return chs_store__bound(s, sqlite3_bind_null(st, i));
}

int chs_store__exec(chs_store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : chs_store__sqlerr(s, rc, "updating");
}

int chs_store__prepare(chs_store *s, sqlite3_stmt **out, const char *sql)
{
	int i, free_slot = -1, rc;

	*out = NULL;
	for (i = 0; i < CHS_STMT_CACHE; i++) {
		if (s->stmts[i].sql == sql && !s->stmts[i].busy) {
			s->stmts[i].busy = 1;
			*out = s->stmts[i].st;
			return 0;
		}
		if (!s->stmts[i].sql && free_slot < 0)
			free_slot = i;
	}
	rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
	if (rc != SQLITE_OK)
		return chs_store__sqlerr(s, rc, "reading");
	if (free_slot >= 0) {
		s->stmts[free_slot].sql = sql;
		s->stmts[free_slot].st = *out;
		s->stmts[free_slot].busy = 1;
	}
	return 0;
}

void chs_store__finish(chs_store *s, sqlite3_stmt *st)
{
	int i;

	if (!st)
		return;
	for (i = 0; i < CHS_STMT_CACHE; i++) {
		if (s->stmts[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			s->stmts[i].busy = 0;
			return;
		}
	}
	/* not cached: every slot was taken when it was prepared */
	sqlite3_finalize(st);
}

void chs_store__finish_all(chs_store *s)
{
	int i;

	for (i = 0; i < CHS_STMT_CACHE; i++) {
		sqlite3_finalize(s->stmts[i].st);
		s->stmts[i].sql = NULL;
		s->stmts[i].st = NULL;
		s->stmts[i].busy = 0;
	}
}

int chs_store__get_text(chs_store *s, const char *sql, const char *arg,
			char **out)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*out = NULL;
	if ((err = chs_store__prepare(s, &st, sql)) < 0)
		return err;
	if (arg && (err = chs_store__bind_text(s, st, 1, arg)) < 0)
		goto done;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);

		if (!v)
			err = chs_error_set(CHS_ENOTFOUND, "no value");
		else if (!(*out = chs_util__strdup(v)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
	} else if (rc == SQLITE_DONE) {
		err = chs_error_set(CHS_ENOTFOUND, "no value");
	} else {
		err = chs_store__sqlerr(s, rc, "reading");
	}
done:
	chs_store__finish(s, st);
	return err;
}

int chs_store__get_int(chs_store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*out = 0;
	if ((err = chs_store__prepare(s, &st, sql)) < 0)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading");
	chs_store__finish(s, st);
	return err;
}

/* ------------------------------------------------------------------ */
/* Write transactions                                                   */

/* ROLLBACK as a cached statement, prepared before each transaction
 * begins: rolling back must not need memory, or a write that ran out of
 * it would leave its transaction open (and the store busy to every later
 * write) when sqlite3_exec() could not even parse "ROLLBACK". */
static const char rollback_sql[] = "ROLLBACK";

int chs_store__begin(chs_store *s)
{
	sqlite3_stmt *st = NULL;
	int err;

	if ((err = chs_store__lock(s)) < 0)
		return err;
	if ((err = chs_store__prepare(s, &st, rollback_sql)) < 0) {
		chs_store__unlock(s);
		return err;
	}
	chs_store__finish(s, st);
	if ((err = chs_store__exec(s, "BEGIN IMMEDIATE")) < 0)
		chs_store__unlock(s);
	return err;
}

#define CHECKPOINT_DEFER_MAX (8 * CHS_CHECKPOINT_FRAMES) /* frames: never defer past this */

static void checkpoint_if_long(chs_store *s)
{
	/* PASSIVE never waits for readers; what it cannot copy now is copied
	 * by a later checkpoint. A failure here loses nothing. While another
	 * writer waits for the lock (an `add` beside a sync's pull), it is let
	 * in first and a later commit checkpoints: a checkpoint of a pull's
	 * group took as long as the group. */
	if (s->wal_frames < CHS_CHECKPOINT_FRAMES ||
	    (s->wal_frames < CHECKPOINT_DEFER_MAX && chs_store__writer_waiting(s)))
		return;
	if (sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE,
				      NULL, NULL) == SQLITE_OK)
		s->wal_frames = 0;
}

/* Every commit gives the store a new state token (meta 'state': fresh
 * random bytes from SQLite), in the same transaction: equal tokens mean
 * the same commit, so a backup of a store whose token is the newest
 * backup's has nothing to copy (backup.c). A counter could repeat after a
 * restore from an older backup; random bytes do not. */
static int new_state(chs_store *s)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "INSERT OR REPLACE INTO meta(key, value)"
					      " VALUES ('state', lower(hex(randomblob(16))))")) < 0)
		return err;
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "updating");
}

int chs_store__commit(chs_store *s)
{
	int err = new_state(s);

	if (err == 0)
		err = chs_store__exec(s, "COMMIT");

	if (err < 0) {
		chs_store__rollback(s);
		return err;
	}
	checkpoint_if_long(s);
	chs_store__unlock(s);
	return 0;
}

void chs_store__after_big_job(size_t items)
{
#ifdef __GLIBC__
	if (items >= BIG_JOB_ITEMS)
		malloc_trim(0);
#else
	(void)items;
#endif
}

void chs_store__rollback(chs_store *s)
{
	sqlite3_stmt *st = NULL;

	if (s->db && !sqlite3_get_autocommit(s->db)) {
		/* the statement chs_store__begin() cached; parsed again only
		 * when the cache was full */
		if (chs_store__prepare(s, &st, rollback_sql) == 0) {
			sqlite3_step(st);
			chs_store__finish(s, st);
		}
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	chs_store__unlock(s);
}
