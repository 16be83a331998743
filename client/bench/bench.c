/*
 * The store benchmark's measuring loop (tools/bench/store prints it).
 * It lives here because only client/ and crypto/ may speak SQLite.
 */
#include "client/bench/bench.h"
#include "bench_int.h"
#include "client/store/db.h"
#include "client/util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double chs_bench__now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int chs_bench__exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return chs_error_set(CHS_ERROR, "benchmark: %s", sqlite3_errmsg(db));
	return 0;
}

/* Create a database the way the store does, with `schema` in it; plain
 * when vfs is NULL. */
int chs_bench__open(sqlite3 **db, const char *path, chs_vfs *vfs, const char *schema)
{
	int reserve = CHS_VFS_RESERVE, err;

	unlink(path);
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    vfs ? chs_vfs_name(vfs) : NULL) != SQLITE_OK)
		return chs_error_set(CHS_ERROR, "benchmark: cannot create '%s'", path);
	if ((err = chs_bench__exec(*db, "PRAGMA page_size=4096; PRAGMA temp_store=MEMORY;"
				"PRAGMA journal_mode=MEMORY;")) < 0)
		return err;
	if (vfs)
		sqlite3_file_control(*db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
	if ((err = chs_bench__exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			     "PRAGMA wal_autocheckpoint=0;")) < 0)
		return err;
	return chs_bench__exec(*db, schema);
}

static int insert_rows(sqlite3 *db, int rows, unsigned char *body,
		       int len, double *secs)
{
	sqlite3_stmt *st = NULL;
	double t0 = chs_bench__now_s();
	int i, err;

	if ((err = chs_bench__exec(db, "BEGIN")) < 0)
		return err;
	if (sqlite3_prepare_v2(db, "INSERT INTO t(body) VALUES (?)", -1, &st,
			       NULL) != SQLITE_OK)
		return chs_bench__exec(db, "SELECT error");
	for (i = 0; i < rows; i++) {
		/* vary the row so no two pages are alike */
		memcpy(body, &i, sizeof(i));
		if (sqlite3_bind_blob(st, 1, body, len, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			break;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (i < rows)
		return chs_error_set(CHS_ERROR, "benchmark: %s", sqlite3_errmsg(db));
	if ((err = chs_bench__exec(db, "COMMIT")) < 0)
		return err;
	*secs = chs_bench__now_s() - t0;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int durable_commits(sqlite3 *db, int commits, const unsigned char *body,
			   int len, double *median_ms)
{
	double *ms = chs_calloc((size_t)commits, sizeof(*ms));
	sqlite3_stmt *st = NULL;
	int i, err = 0;

	if (!ms)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(db, "INSERT INTO t(body) VALUES (?)", -1, &st,
			       NULL) != SQLITE_OK) {
		free(ms);
		return chs_bench__exec(db, "SELECT error");
	}
	for (i = 0; i < commits && !err; i++) {
		double t0 = chs_bench__now_s();

		if ((err = chs_bench__exec(db, "BEGIN IMMEDIATE")) < 0)
			break;
		if (sqlite3_bind_blob(st, 1, body, len, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_DONE)
			err = chs_error_set(CHS_ERROR, "benchmark: %s", sqlite3_errmsg(db));
		sqlite3_reset(st);
		if (!err)
			err = chs_bench__exec(db, "COMMIT");
		ms[i] = (chs_bench__now_s() - t0) * 1000.0;
	}
	sqlite3_finalize(st);
	if (!err) {
		qsort(ms, (size_t)commits, sizeof(*ms), cmp_double);
		*median_ms = ms[commits / 2];
	}
	free(ms);
	return err;
}

/* A benchmark database and its WAL and wal-index. */
void chs_bench__remove_db(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		chs_buf b;

		chs_buf_init(&b, 0);
		if (chs_buf_printf(&b, "%s%s", path, suffixes[i]) == 0)
			unlink(b.ptr);
		chs_buf_dispose(&b);
	}
}

static int bench_one(const char *dir, chs_vfs *vfs, int rows, int row_bytes,
		     int commits, double *rows_per_s, double *commit_ms)
{
	char *path = chs_util__path(dir, vfs ? "bench-encrypted.db" : "bench-plain.db");
	unsigned char *body = chs_malloc((size_t)row_bytes);
	sqlite3 *db = NULL;
	double secs = 0;
	int err;

	if (!path || !body) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	chs_random(body, (size_t)row_bytes);
	if ((err = chs_bench__open(&db, path, vfs,
			      "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB NOT NULL);")) < 0 ||
	    (err = insert_rows(db, rows, body, row_bytes, &secs)) < 0 ||
	    (err = durable_commits(db, commits, body, row_bytes, commit_ms)) < 0)
		goto done;
	*rows_per_s = secs > 0 ? rows / secs : 0;
done:
	sqlite3_close_v2(db);
	if (path)
		chs_bench__remove_db(path);
	free(path);
	free(body);
	return err;
}

int chs_bench_store(const char *dir, int rows, int row_bytes, int commits,
		    chs_bench_store_result *out)
{
	unsigned char *key = NULL;
	chs_vfs *vfs = NULL;
	int err;

	memset(out, 0, sizeof(*out));
	if (rows < 1 || row_bytes < 8 || commits < 1)
		return chs_error_set(CHS_EINVALID, "benchmark sizes must be positive");
	if ((err = chs_crypto_init()) < 0)
		return err;
	if (!(key = chs_key_new()))
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	if ((err = chs_vfs_new(&vfs, key)) < 0)
		goto done;
	/* plain first, then encrypted: the second run gets no warmer cache
	 * than the first, as both files are new */
	if ((err = bench_one(dir, NULL, rows, row_bytes, commits,
			     &out->plain_rows_per_s, &out->plain_commit_ms)) < 0 ||
	    (err = bench_one(dir, vfs, rows, row_bytes, commits,
			     &out->encrypted_rows_per_s, &out->encrypted_commit_ms)) < 0)
		goto done;
done:
	chs_vfs_free(vfs);
	chs_secret_free(key);
	return err;
}

/* ------------------------------------------------------------------ */
/* The import floor                                                     */

/* The first change and the first patient of `s`: the rows to copy. */
int chs_bench__templates(chs_store *s, chs_buf *body, chs_buf *state)
{
	sqlite3_stmt *st = NULL;
	int err;

	if ((err = chs_store__prepare(s, &st, "SELECT body FROM changes ORDER BY rowid LIMIT 1")) < 0)
		return err;
	if (sqlite3_step(st) == SQLITE_ROW)
		err = chs_buf_put(body, sqlite3_column_blob(st, 0),
				  (size_t)sqlite3_column_bytes(st, 0));
	chs_store__finish(s, st);
	if (err < 0 || (err = chs_store__prepare(s, &st,
			"SELECT state FROM records WHERE type = 'patient' ORDER BY rowid LIMIT 1")) < 0)
		return err;
	if (sqlite3_step(st) == SQLITE_ROW)
		err = chs_buf_put(state, sqlite3_column_blob(st, 0),
				  (size_t)sqlite3_column_bytes(st, 0));
	chs_store__finish(s, st);
	if (err == 0 && (body->len < 8 || state->len < 8))
		err = chs_error_set(CHS_EINVALID, "benchmark: the store holds no imported patient");
	return err;
}

/* A database with the store's schema, and its cache size too; plain
 * when vfs is NULL. */
static int floor_open(sqlite3 **db, const char *path, chs_vfs *vfs)
{
	int err = chs_bench__open(db, path, vfs, chs_store__schema_sql());

	return err < 0 ? err : chs_bench__exec(*db, "PRAGMA cache_size=-65536;");
}

/* One record as an import stores it: its change, then its record. */
static int floor_record(sqlite3_stmt *ch, sqlite3_stmt *rec, long i, chs_buf *body,
			chs_buf *state)
{
	unsigned char id[32], record[16], hash[32];
	char mrn[24];
	int ok;

	chs_random(id, sizeof(id));
	chs_random(record, sizeof(record));
	chs_random(hash, sizeof(hash));
	/* vary the rows so no two pages are alike */
	memcpy(body->ptr, &i, sizeof(i));
	memcpy(state->ptr, &i, sizeof(i));
	snprintf(mrn, sizeof(mrn), "MRN-%08ld", i);
	/* a bare database, no store: a failed bind is reported by the
	 * caller from sqlite3_errmsg() like a failed step */
	ok = sqlite3_bind_blob(ch, 1, id, 32, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_blob(ch, 2, record, 16, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_int64(ch, 3, 1 + i / CHS_BATCH_MAX_CHANGES) == SQLITE_OK &&
	     sqlite3_bind_blob(ch, 4, body->ptr, (int)body->len, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_blob(rec, 1, record, 16, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_blob(rec, 2, id, 32, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_blob(rec, 3, state->ptr, (int)state->len, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_blob(rec, 4, hash, 32, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_text(rec, 5, mrn, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
	     sqlite3_step(ch) == SQLITE_DONE && sqlite3_step(rec) == SQLITE_DONE;
	sqlite3_reset(ch);
	sqlite3_reset(rec);
	return ok ? 0 : -1;
}

static int floor_batch(sqlite3_stmt *b, long seq, const unsigned char *manifest,
		       size_t len)
{
	unsigned char id[32], sig[64];
	int ok;

	chs_random(id, sizeof(id));
	chs_random(sig, sizeof(sig));
	ok = sqlite3_bind_int64(b, 1, seq) == SQLITE_OK &&
	     sqlite3_bind_blob(b, 2, id, 32, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_int64(b, 3, seq) == SQLITE_OK &&
	     sqlite3_bind_blob(b, 4, manifest, (int)len, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_blob(b, 5, sig, 64, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_step(b) == SQLITE_DONE;
	sqlite3_reset(b);
	return ok ? 0 : -1;
}

static int floor_run(sqlite3 *db, long records, chs_buf *body, chs_buf *state,
		     double *secs)
{
	static const unsigned char manifest[CHS_BATCH_MAX_CHANGES * 32];
	sqlite3_stmt *ch = NULL, *rec = NULL, *b = NULL;
	double t0 = chs_bench__now_s();
	long i;
	int err = 0;

	if (sqlite3_prepare_v2(db, "INSERT INTO changes(id, record, batch, body)"
				   " VALUES (?, ?, ?, ?)", -1, &ch, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO records(id, type, deleted, review, heads,"
				   " state, hash, mrn) VALUES (?1, 'patient', 0, 0, ?2, ?3, ?4, ?5)",
			       -1, &rec, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO batches(seq, id, device, dseq, manifest,"
				   " signature, key, local, received) VALUES (?1, ?2, 'bench',"
				   " ?3, ?4, ?5, ?5, 1, 0)", -1, &b, NULL) != SQLITE_OK ||
	    (err = chs_bench__exec(db, "BEGIN")) < 0)
		goto done;
	for (i = 0; i < records && err == 0; i++) {
		err = floor_record(ch, rec, i, body, state);
		if (err == 0 && ((i + 1) % CHS_BATCH_MAX_CHANGES == 0 || i + 1 == records))
			err = floor_batch(b, 1 + i / CHS_BATCH_MAX_CHANGES, manifest,
					  (size_t)(i % CHS_BATCH_MAX_CHANGES + 1) * 32);
	}
	if (err == 0)
		err = chs_bench__exec(db, "COMMIT");
	/* what the store's commit does after a long transaction */
	if (err == 0)
		sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	*secs = chs_bench__now_s() - t0;
done:
	if (err == 0 && (!ch || !rec || !b))
		err = -1;
	if (err < 0 && chs_error_last_code() == 0)
		err = chs_error_set(CHS_ERROR, "benchmark: %s", sqlite3_errmsg(db));
	sqlite3_finalize(ch);
	sqlite3_finalize(rec);
	sqlite3_finalize(b);
	return err;
}

int chs_bench_import_floor(chs_store *s, const char *dir, long records, int encrypted,
			   double *records_per_s)
{
	char *path = chs_util__path(dir, "bench-floor.db");
	unsigned char *key = NULL;
	chs_vfs *vfs = NULL;
	chs_buf body, state;
	sqlite3 *db = NULL;
	double secs = 0;
	int err;

	*records_per_s = 0;
	chs_buf_init(&body, 0);
	chs_buf_init(&state, 0);
	if (!path) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	if (records < 1) {
		err = chs_error_set(CHS_EINVALID, "benchmark sizes must be positive");
		goto done;
	}
	chs_error_clear();
	if (encrypted && !(key = chs_key_new())) {
		err = chs_error_set(CHS_ENOMEM, "out of secure memory");
		goto done;
	}
	if ((encrypted && (err = chs_vfs_new(&vfs, key)) < 0) ||
	    (err = chs_bench__templates(s, &body, &state)) < 0 ||
	    (err = floor_open(&db, path, vfs)) < 0 ||
	    (err = floor_run(db, records, &body, &state, &secs)) < 0)
		goto done;
	*records_per_s = secs > 0 ? (double)records / secs : 0;
done:
	sqlite3_close_v2(db);
	if (path)
		chs_bench__remove_db(path);
	free(path);
	chs_vfs_free(vfs);
	chs_secret_free(key);
	chs_buf_dispose(&body);
	chs_buf_dispose(&state);
	return err;
}
