/*
 * The store benchmark's measuring loop (tools/bench/store prints it).
 * It lives here because only client/ and crypto/ may speak SQLite.
 */
#include "client_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return chs_error_set(CHS_ERROR, "benchmark: %s", sqlite3_errmsg(db));
	return 0;
}

/* Create a database the way the store does; plain when vfs is NULL. */
static int bench_open(sqlite3 **db, const char *path, chs_vfs *vfs)
{
	int reserve = CHS_VFS_RESERVE, err;

	unlink(path);
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    vfs ? chs_vfs_name(vfs) : NULL) != SQLITE_OK)
		return chs_error_set(CHS_ERROR, "benchmark: cannot create '%s'", path);
	if ((err = exec(*db, "PRAGMA page_size=4096; PRAGMA temp_store=MEMORY;"
				"PRAGMA journal_mode=MEMORY;")) < 0)
		return err;
	if (vfs)
		sqlite3_file_control(*db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
	return exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			 "PRAGMA wal_autocheckpoint=0;"
			 "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB NOT NULL);");
}

static int insert_rows(sqlite3 *db, int rows, unsigned char *body,
		       int len, double *secs)
{
	sqlite3_stmt *st = NULL;
	double t0 = now_s();
	int i, err;

	if ((err = exec(db, "BEGIN")) < 0)
		return err;
	if (sqlite3_prepare_v2(db, "INSERT INTO t(body) VALUES (?)", -1, &st,
			       NULL) != SQLITE_OK)
		return exec(db, "SELECT error");
	for (i = 0; i < rows; i++) {
		/* vary the row so no two pages are alike */
		memcpy(body, &i, sizeof(i));
		sqlite3_bind_blob(st, 1, body, len, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			break;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (i < rows)
		return chs_error_set(CHS_ERROR, "benchmark: %s", sqlite3_errmsg(db));
	if ((err = exec(db, "COMMIT")) < 0)
		return err;
	*secs = now_s() - t0;
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
	double *ms = calloc((size_t)commits, sizeof(*ms));
	sqlite3_stmt *st = NULL;
	int i, err = 0;

	if (!ms)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(db, "INSERT INTO t(body) VALUES (?)", -1, &st,
			       NULL) != SQLITE_OK) {
		free(ms);
		return exec(db, "SELECT error");
	}
	for (i = 0; i < commits && !err; i++) {
		double t0 = now_s();

		if ((err = exec(db, "BEGIN IMMEDIATE")) < 0)
			break;
		sqlite3_bind_blob(st, 1, body, len, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			err = chs_error_set(CHS_ERROR, "benchmark: %s", sqlite3_errmsg(db));
		sqlite3_reset(st);
		if (!err)
			err = exec(db, "COMMIT");
		ms[i] = (now_s() - t0) * 1000.0;
	}
	sqlite3_finalize(st);
	if (!err) {
		qsort(ms, (size_t)commits, sizeof(*ms), cmp_double);
		*median_ms = ms[commits / 2];
	}
	free(ms);
	return err;
}

static int bench_one(const char *dir, chs_vfs *vfs, int rows, int row_bytes,
		     int commits, double *rows_per_s, double *commit_ms)
{
	char *path = chs_client__path(dir, vfs ? "bench-encrypted.db" : "bench-plain.db");
	unsigned char *body = malloc((size_t)row_bytes);
	sqlite3 *db = NULL;
	double secs = 0;
	int err;

	if (!path || !body) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	chs_random(body, (size_t)row_bytes);
	if ((err = bench_open(&db, path, vfs)) < 0 ||
	    (err = insert_rows(db, rows, body, row_bytes, &secs)) < 0 ||
	    (err = durable_commits(db, commits, body, row_bytes, commit_ms)) < 0)
		goto done;
	*rows_per_s = secs > 0 ? rows / secs : 0;
done:
	sqlite3_close_v2(db);
	if (path) {
		chs_buf b;

		unlink(path);
		chs_buf_init(&b, 0);
		if (chs_buf_printf(&b, "%s-wal", path) == 0)
			unlink(b.ptr);
		chs_buf_dispose(&b);
		chs_buf_init(&b, 0);
		if (chs_buf_printf(&b, "%s-shm", path) == 0)
			unlink(b.ptr);
		chs_buf_dispose(&b);
	}
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
