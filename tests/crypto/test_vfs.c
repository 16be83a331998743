/*
 * tests/crypto/test_vfs.c - the page-encrypting SQLite VFS, through
 * SQLite itself, on real files.
 *
 * Every test opens stores the way client/ does (see store_open) and checks
 * what a user would: the data comes back, nothing readable is on disk even
 * while a transaction is open or after a crash, and any altered byte is
 * reported as damage instead of being read as data.
 */
#include "crypto/crypto.h"
#include "support/testutil.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARKER "ZEBRA-MARKER-4711"
#define ROW_BYTES 400
#define FRAME_BYTES (24 + CHS_VFS_PAGE_SIZE)

static char *dir;

static void setup(void)
{
	dir = tu_tempdir();
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	dir = NULL;
}

/* ---------------------------------------------------------------------
 * Helpers
 */

static chs_vfs *vfs_with_key(unsigned char fill)
{
	unsigned char key[CHS_KEY_BYTES];
	chs_vfs *v = NULL;

	memset(key, fill, sizeof(key));
	ck_assert_int_eq(chs_vfs_new(&v, key), 0);
	ck_assert_ptr_nonnull(v);
	return v;
}

static int exec_rc(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	int rc = exec_rc(db, sql);

	ck_assert_msg(rc == SQLITE_OK, "%s: %s (%d)", sql, sqlite3_errmsg(db),
		      rc);
}

/* The first column of the first row as an integer; the error code (extended)
 * goes to *rc. */
static sqlite3_int64 query_int_rc(sqlite3 *db, const char *sql, int *rc)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 v = -1;

	*rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (*rc == SQLITE_OK) {
		*rc = sqlite3_step(st);
		if (*rc == SQLITE_ROW) {
			v = sqlite3_column_int64(st, 0);
			*rc = SQLITE_OK;
		} else if (*rc == SQLITE_DONE) {
			*rc = SQLITE_OK;
		} else {
			*rc = sqlite3_extended_errcode(db);
		}
	}
	sqlite3_finalize(st);
	return v;
}

static sqlite3_int64 query_int(sqlite3 *db, const char *sql)
{
	int rc;
	sqlite3_int64 v = query_int_rc(db, sql, &rc);

	ck_assert_msg(rc == SQLITE_OK, "%s: %s (%d)", sql, sqlite3_errmsg(db),
		      rc);
	return v;
}

static int journal_is_wal(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int wal = 0;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st,
					    NULL),
			 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	return wal;
}

/* Open with no setup beyond temp_store; the (extended) result code of the
 * open itself, which reads page 1. *out must be closed either way. */
static int store_try_open(const char *path, const chs_vfs *v, sqlite3 **out)
{
	int rc = sqlite3_open_v2(path, out,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_EXRESCODE,
				 chs_vfs_name(v));

	ck_assert_ptr_nonnull(*out);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(*out, 10000);
		exec_ok(*out, "PRAGMA temp_store=MEMORY");
	}
	return rc;
}

static sqlite3 *store_open_raw(const char *path, const chs_vfs *v)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(store_try_open(path, v, &db), SQLITE_OK);
	return db;
}

/*
 * Open a store the way client/ must: temporary storage in memory, 4096-byte
 * pages with the reserve set before the first write, and a new database
 * switched to WAL through journal_mode=OFF (going straight to WAL would
 * write page 1 under a rollback journal, which the VFS refuses).
 */
static sqlite3 *store_open(const char *path, const chs_vfs *v)
{
	sqlite3 *db = store_open_raw(path, v);
	int reserve = CHS_VFS_RESERVE;

	exec_ok(db, "PRAGMA page_size=4096");
	ck_assert_int_eq(sqlite3_file_control(db, "main",
					      SQLITE_FCNTL_RESERVE_BYTES,
					      &reserve),
			 SQLITE_OK);
	if (!journal_is_wal(db)) {
		exec_ok(db, "PRAGMA journal_mode=OFF");
		exec_ok(db, "PRAGMA journal_mode=WAL");
		ck_assert(journal_is_wal(db));
	}
	return db;
}

static void close_ok(sqlite3 *db)
{
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* Insert `n` rows tagged `tag`, each ROW_BYTES long and containing the
 * marker, numbered from `first`. */
static void insert_rows(sqlite3 *db, const char *tag, int first, int n)
{
	sqlite3_stmt *st = NULL;
	char text[ROW_BYTES + 1];
	int i;

	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "INSERT INTO t(n, tag, body) "
					    "VALUES(?, ?, ?)",
					    -1, &st, NULL),
			 SQLITE_OK);
	for (i = first; i < first + n; i++) {
		memset(text, 'a' + i % 26, ROW_BYTES);
		text[ROW_BYTES] = '\0';
		snprintf(text, sizeof(text), "%s %s %d ", MARKER, tag, i);
		text[strlen(text)] = 'z';
		sqlite3_bind_int(st, 1, i);
		sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, text, ROW_BYTES, SQLITE_TRANSIENT);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
}

static void create_table(sqlite3 *db)
{
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, "
		    "tag TEXT, body TEXT)");
}

/* How many rows carry `tag`, checking each one's body is intact. */
static sqlite3_int64 count_tag_rc(sqlite3 *db, const char *tag, int *rc)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM t WHERE tag='%s' AND length(body)=%d "
		 "AND body LIKE '" MARKER " %s ' || n || ' z%%'",
		 tag, ROW_BYTES, tag);
	return query_int_rc(db, sql, rc);
}

static sqlite3_int64 count_tag(sqlite3 *db, const char *tag)
{
	int rc;
	sqlite3_int64 n = count_tag_rc(db, tag, &rc);

	ck_assert_msg(rc == SQLITE_OK, "count %s: %s (%d)", tag,
		      sqlite3_errmsg(db), rc);
	return n;
}

static char *in_dir(const char *name)
{
	return tu_path(dir, name);
}

static int file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static void assert_no_marker(const char *when)
{
	char hit[512] = "";
	int n = tu_grep_dir(dir, MARKER, hit, sizeof(hit));

	ck_assert_msg(n == 0, "%s: plaintext found in '%s'", when, hit);
}

/* A store of `rows` rows, checkpointed into the database file and closed,
 * so the file alone holds everything. */
static void make_store(const char *path, const chs_vfs *v, int rows)
{
	sqlite3 *db = store_open(path, v);

	create_table(db);
	exec_ok(db, "BEGIN");
	insert_rows(db, "base", 0, rows);
	exec_ok(db, "COMMIT");
	exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	close_ok(db);
}

static int verify_store(sqlite3 *db, uint32_t *bad)
{
	*bad = 0xffffffffu;
	return sqlite3_file_control(db, "main", CHS_VFS_FCNTL_VERIFY, bad);
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	unsigned char *data = tu_read(from, &len);

	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(tu_write(to, data, len), 0);
	free(data);
}

static void write_at(const char *path, long off, const void *data, size_t len)
{
	FILE *f = fopen(path, "r+b");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void read_at(const char *path, long off, void *data, size_t len)
{
	FILE *f = fopen(path, "rb");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
	ck_assert_uint_eq(fread(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* A damaged store must say so: SQLITE_IOERR_DATA from the VFS, or
 * SQLITE_CORRUPT when SQLite notices first (e.g. a file cut short). */
static int is_damage(int rc)
{
	return rc == SQLITE_IOERR_DATA || (rc & 0xff) == SQLITE_CORRUPT ||
	       rc == SQLITE_NOTADB;
}

/* In a forked child: fail with a distinct exit code instead of Check's
 * machinery, which belongs to the parent. */
#define CHILD_CHECK(cond, code)          \
	do {                             \
		if (!(cond))             \
			_exit(code);     \
	} while (0)

static int child_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static sqlite3 *child_open(const char *path, const chs_vfs *v)
{
	sqlite3 *db = NULL;
	int reserve = CHS_VFS_RESERVE;

	CHILD_CHECK(sqlite3_open_v2(path, &db,
				    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
				    chs_vfs_name(v)) == SQLITE_OK,
		    90);
	sqlite3_busy_timeout(db, 10000);
	CHILD_CHECK(child_exec(db, "PRAGMA temp_store=MEMORY") == 0, 91);
	CHILD_CHECK(child_exec(db, "PRAGMA page_size=4096") == 0, 91);
	sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
	return db;
}

static int wait_child(pid_t pid)
{
	int status = 0;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_child_exited_ok(pid_t pid)
{
	int status = wait_child(pid);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child failed: status %d", status);
}

/* ---------------------------------------------------------------------
 * Round trip and setup
 */

START_TEST(test_vfs__round_trip)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	sqlite3 *db = store_open(path, v);
	uint32_t bad;

	create_table(db);
	exec_ok(db, "BEGIN");
	insert_rows(db, "one", 0, 500);
	exec_ok(db, "COMMIT");
	insert_rows(db, "two", 500, 3);
	close_ok(db);

	db = store_open(path, v);
	ck_assert_int_eq(count_tag(db, "one"), 500);
	ck_assert_int_eq(count_tag(db, "two"), 3);
	ck_assert_int_eq(query_int(db, "PRAGMA page_size"), CHS_VFS_PAGE_SIZE);
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM pragma_integrity_check "
				       "WHERE integrity_check='ok'"),
			 1);
	ck_assert_int_eq(verify_store(db, &bad), SQLITE_OK);
	ck_assert_uint_eq(bad, 0);
	close_ok(db);
	ck_assert_int_eq(tu_file_size(path) % CHS_VFS_PAGE_SIZE, 0);
	chs_vfs_free(v);
	free(path);
}
END_TEST

/* Closing a store closes its own files only: a WAL file's close once
 * closed descriptor 0 (the zeroed slot of a wal-index it never opened),
 * so the next socket or file the process opened became fd 0, stdin. */
START_TEST(test_vfs__closing_a_store_leaves_other_descriptors_alone)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	struct stat before, after;
	sqlite3 *db;
	int i;

	if (fcntl(0, F_GETFD) < 0) /* started with no stdin: give it one */
		ck_assert_int_eq(open("/dev/null", O_RDONLY), 0);
	ck_assert_int_eq(fstat(0, &before), 0);
	for (i = 0; i < 2; i++) {
		db = store_open(path, v);
		if (i == 0)
			create_table(db);
		insert_rows(db, "x", i * 10, 10);
		close_ok(db);
	}
	ck_assert_msg(fcntl(0, F_GETFD) >= 0, "closing the store closed fd 0");
	ck_assert_int_eq(fstat(0, &after), 0);
	ck_assert(before.st_dev == after.st_dev && before.st_ino == after.st_ino);
	chs_vfs_free(v);
	free(path);
}
END_TEST

START_TEST(test_vfs__new_store_becomes_wal_without_a_journal)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	char *journal = in_dir("store.db-journal");
	sqlite3 *db = store_open(path, v);

	ck_assert(journal_is_wal(db));
	create_table(db);
	insert_rows(db, "x", 0, 1);
	ck_assert(!file_exists(journal));
	close_ok(db);
	/* Reopening an existing store keeps WAL without any switching. */
	db = store_open(path, v);
	ck_assert(journal_is_wal(db));
	ck_assert_int_eq(count_tag(db, "x"), 1);
	close_ok(db);
	chs_vfs_free(v);
	free(journal);
	free(path);
}
END_TEST

START_TEST(test_vfs__each_vfs_has_its_own_name_and_is_never_default)
{
	chs_vfs *a = vfs_with_key(1), *b = vfs_with_key(1);
	const char *name_a = chs_vfs_name(a);

	ck_assert_str_ne(name_a, chs_vfs_name(b));
	ck_assert_ptr_nonnull(sqlite3_vfs_find(name_a));
	ck_assert_str_eq(sqlite3_vfs_find(NULL)->zName, "unix");
	chs_vfs_free(b);
	ck_assert_ptr_nonnull(sqlite3_vfs_find(name_a));
	chs_vfs_free(a);
	chs_vfs_free(NULL);
	ck_assert_str_eq(sqlite3_vfs_find(NULL)->zName, "unix");
}
END_TEST

START_TEST(test_vfs__store_without_reserve_is_refused)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	sqlite3 *db = store_open_raw(path, v);

	exec_ok(db, "PRAGMA page_size=4096");
	exec_ok(db, "PRAGMA journal_mode=OFF");
	/* Page 1 without the 48 reserved bytes would lose data to our tag. */
	ck_assert_int_ne(exec_rc(db, "PRAGMA journal_mode=WAL; "
				     "CREATE TABLE t(a)"),
			 SQLITE_OK);
	close_ok(db);
	ck_assert_int_eq(tu_file_size(path), 0);
	chs_vfs_free(v);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------
 * No plaintext on disk
 */

START_TEST(test_vfs__no_plaintext_on_disk_after_commit)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	sqlite3 *db = store_open(path, v);

	create_table(db);
	insert_rows(db, "one", 0, 200);
	assert_no_marker("after commit");
	ck_assert_int_eq(tu_grep_dir(dir, "SQLite format 3", NULL, 0), 0);
	ck_assert_int_eq(tu_grep_dir(dir, "CREATE TABLE", NULL, 0), 0);
	exec_ok(db, "PRAGMA wal_checkpoint(PASSIVE)");
	assert_no_marker("after checkpoint");
	close_ok(db);
	assert_no_marker("after close");
	chs_vfs_free(v);
	free(path);
}
END_TEST

START_TEST(test_vfs__no_plaintext_on_disk_while_a_transaction_spills)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	char *wal = in_dir("store.db-wal");
	sqlite3 *db = store_open(path, v);

	create_table(db);
	exec_ok(db, "PRAGMA cache_size=10");
	exec_ok(db, "BEGIN");
	insert_rows(db, "big", 0, 2000);
	/* The cache holds ten pages: the rest went to the WAL uncommitted. */
	ck_assert_int_gt(tu_file_size(wal), 100 * FRAME_BYTES);
	assert_no_marker("during a write transaction");
	exec_ok(db, "COMMIT");
	assert_no_marker("after commit");
	ck_assert_int_eq(count_tag(db, "big"), 2000);
	close_ok(db);
	chs_vfs_free(v);
	free(wal);
	free(path);
}
END_TEST

START_TEST(test_vfs__crash_mid_transaction_leaves_no_plaintext)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	char *wal = in_dir("store.db-wal");
	int fds[2];
	char c = 0;
	pid_t pid;
	sqlite3 *db;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		sqlite3 *cdb = child_open(path, v);

		alarm(30); /* never outlive a failed parent */
		CHILD_CHECK(child_exec(cdb, "PRAGMA journal_mode=OFF; "
					    "PRAGMA journal_mode=WAL; "
					    "PRAGMA cache_size=10") == 0,
			    2);
		CHILD_CHECK(child_exec(cdb, "CREATE TABLE t(id INTEGER "
					    "PRIMARY KEY, n INTEGER, tag "
					    "TEXT, body TEXT)") == 0,
			    3);
		insert_rows(cdb, "kept", 0, 300);
		CHILD_CHECK(child_exec(cdb, "BEGIN") == 0, 4);
		insert_rows(cdb, "lost", 300, 1500);
		CHILD_CHECK(write(fds[1], "x", 1) == 1, 5);
		pause();
		_exit(6);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	ck_assert_int_gt(tu_file_size(wal), 100 * FRAME_BYTES);
	assert_no_marker("while the transaction is open");
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert(WIFSIGNALED(wait_child(pid)));
	close(fds[0]);
	assert_no_marker("after the crash");

	db = store_open(path, v);
	ck_assert_int_eq(count_tag(db, "kept"), 300);
	ck_assert_int_eq(count_tag(db, "lost"), 0);
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t"), 300);
	assert_no_marker("after recovery");
	close_ok(db);
	assert_no_marker("after close");
	chs_vfs_free(v);
	free(wal);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------
 * WAL recovery (SQLite checks every frame's checksum on the way)
 */

/* In a child: commit `txns` transactions of `rows` rows ("t0", "t1", ...)
 * and die without closing, so everything stays in the WAL. */
static void child_commit_and_die(const char *path, const chs_vfs *v, int txns,
				 int rows, int report_fd)
{
	sqlite3 *db = child_open(path, v);
	char *wal = tu_path(dir, "store.db-wal");
	int i;

	CHILD_CHECK(child_exec(db, "PRAGMA journal_mode=OFF; "
				   "PRAGMA journal_mode=WAL; "
				   "PRAGMA wal_autocheckpoint=0") == 0,
		    2);
	CHILD_CHECK(child_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, "
				   "n INTEGER, tag TEXT, body TEXT)") == 0,
		    3);
	for (i = 0; i < txns; i++) {
		char tag[16];
		long size;

		snprintf(tag, sizeof(tag), "t%d", i);
		CHILD_CHECK(child_exec(db, "BEGIN") == 0, 4);
		insert_rows(db, tag, i * rows, rows);
		CHILD_CHECK(child_exec(db, "COMMIT") == 0, 5);
		size = tu_file_size(wal);
		if (report_fd >= 0)
			CHILD_CHECK(write(report_fd, &size, sizeof(size)) ==
					    (ssize_t)sizeof(size),
				    6);
	}
	_exit(0);
}

START_TEST(test_vfs__committed_data_survives_a_crash_through_the_wal)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	char *wal = in_dir("store.db-wal");
	sqlite3 *db;
	pid_t pid;
	int i;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		child_commit_and_die(path, v, 5, 40, -1);
	assert_child_exited_ok(pid);
	/* Nothing was checkpointed: the data is only in the WAL. */
	ck_assert_int_gt(tu_file_size(wal), 5 * 4 * FRAME_BYTES);
	ck_assert_int_le(tu_file_size(path), 2 * CHS_VFS_PAGE_SIZE);
	assert_no_marker("after the crash");

	db = store_open(path, v);
	for (i = 0; i < 5; i++) {
		char tag[16];

		snprintf(tag, sizeof(tag), "t%d", i);
		ck_assert_int_eq(count_tag(db, tag), 40);
	}
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t"), 200);
	close_ok(db);
	chs_vfs_free(v);
	free(wal);
	free(path);
}
END_TEST

START_TEST(test_vfs__long_wal_with_rewritten_frames_recovers)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	sqlite3 *db;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		sqlite3 *cdb = child_open(path, v);
		int i;

		CHILD_CHECK(child_exec(cdb, "PRAGMA journal_mode=OFF; "
					    "PRAGMA journal_mode=WAL; "
					    "PRAGMA wal_autocheckpoint=0; "
					    "CREATE TABLE c(k INTEGER PRIMARY "
					    "KEY, v INTEGER); "
					    "INSERT INTO c VALUES(1, 0); "
					    "CREATE TABLE t(id INTEGER PRIMARY "
					    "KEY, n INTEGER, tag TEXT, body "
					    "TEXT)") == 0,
			    2);
		for (i = 0; i < 300; i++)
			CHILD_CHECK(child_exec(cdb, "UPDATE c SET v = v + 1") == 0,
				    3);
		/* One transaction that spills the same pages again and again,
		 * so SQLite overwrites its own frames and rewrites their
		 * checksums before committing. */
		CHILD_CHECK(child_exec(cdb, "PRAGMA cache_size=2; BEGIN") == 0,
			    4);
		for (i = 0; i < 400; i++) {
			insert_rows(cdb, "spill", i * 3, 3);
			CHILD_CHECK(child_exec(cdb, "UPDATE c SET v = v + 1") == 0,
				    5);
		}
		CHILD_CHECK(child_exec(cdb, "COMMIT") == 0, 6);
		for (i = 0; i < 50; i++)
			CHILD_CHECK(child_exec(cdb, "UPDATE c SET v = v + 1") == 0,
				    7);
		_exit(0);
	}
	assert_child_exited_ok(pid);

	db = store_open(path, v);
	ck_assert_int_eq(query_int(db, "SELECT v FROM c WHERE k = 1"), 750);
	ck_assert_int_eq(count_tag(db, "spill"), 1200);
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM pragma_integrity_check "
				       "WHERE integrity_check='ok'"),
			 1);
	close_ok(db);
	assert_no_marker("after recovery");
	chs_vfs_free(v);
	free(path);
}
END_TEST

/* The last write of a commit that overwrote its own frames is a header
 * with a rewritten checksum and no page after it; with synchronous=NORMAL
 * no sync follows either. A crash right after the commit must keep it. */
static void check_rewrite_then_crash(const char *sync)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	sqlite3 *db;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		sqlite3 *cdb = child_open(path, v);
		char sql[64];
		int i;

		snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", sync);
		CHILD_CHECK(child_exec(cdb, "PRAGMA journal_mode=OFF; "
					    "PRAGMA journal_mode=WAL; "
					    "PRAGMA wal_autocheckpoint=0; "
					    "CREATE TABLE c(k INTEGER PRIMARY "
					    "KEY, v INTEGER); "
					    "INSERT INTO c VALUES(1, 0); "
					    "CREATE TABLE t(id INTEGER PRIMARY "
					    "KEY, n INTEGER, tag TEXT, body "
					    "TEXT)") == 0,
			    2);
		CHILD_CHECK(child_exec(cdb, sql) == 0, 3);
		CHILD_CHECK(child_exec(cdb, "PRAGMA cache_size=2; BEGIN") == 0,
			    4);
		for (i = 0; i < 100; i++) {
			insert_rows(cdb, "spill", i * 3, 3);
			CHILD_CHECK(child_exec(cdb, "UPDATE c SET v = v + 1") == 0,
				    5);
		}
		CHILD_CHECK(child_exec(cdb, "COMMIT") == 0, 6);
		_exit(0);
	}
	assert_child_exited_ok(pid);

	db = store_open(path, v);
	ck_assert_int_eq(query_int(db, "SELECT v FROM c WHERE k = 1"), 100);
	ck_assert_int_eq(count_tag(db, "spill"), 300);
	close_ok(db);
	chs_vfs_free(v);
	free(path);
}

START_TEST(test_vfs__a_commit_with_rewritten_checksums_survives_a_crash)
{
	check_rewrite_then_crash("FULL");
}
END_TEST

START_TEST(test_vfs__a_normal_sync_commit_with_rewritten_checksums_survives_a_crash)
{
	check_rewrite_then_crash("NORMAL");
}
END_TEST

/* ---------------------------------------------------------------------
 * Damage in the database file
 */

/* Flip one bit at `off` of a copy of a healthy store and check both the
 * VERIFY control and a full read report it. */
static void check_flip(const char *clean, const chs_vfs *v, long off)
{
	char *path = in_dir("damaged.db");
	uint32_t expect = (uint32_t)(off / CHS_VFS_PAGE_SIZE) + 1, bad;
	sqlite3 *db;
	int rc;

	copy_file(clean, path);
	tu_flip_bit(path, off, (int)(off % 8));
	rc = store_try_open(path, v, &db);
	if (rc != SQLITE_OK) {
		/* Opening reads page 1. */
		ck_assert_msg(rc == SQLITE_IOERR_DATA && expect == 1,
			      "flip at %ld: open gave %d", off, rc);
		close_ok(db);
		unlink(path);
		free(path);
		return;
	}
	rc = verify_store(db, &bad);
	ck_assert_msg(rc == SQLITE_IOERR_DATA && bad == expect,
		      "flip at %ld: verify gave %d, page %u", off, rc,
		      (unsigned)bad);
	query_int_rc(db, "SELECT sum(length(body)) FROM t", &rc);
	ck_assert_msg(is_damage(rc), "flip at %ld read as data (rc %d)", off,
		      rc);
	close_ok(db);
	unlink(path);
	free(path);
}

START_TEST(test_vfs__a_flipped_bit_anywhere_is_reported_as_damage)
{
	chs_vfs *v = vfs_with_key(1);
	char *clean = in_dir("clean.db");
	long page = CHS_VFS_PAGE_SIZE, pages;
	uint32_t x = 4711; /* fixed, so a failure can be replayed */
	int i;

	make_store(clean, v, 300);
	pages = tu_file_size(clean) / page;
	ck_assert_int_ge(pages, 20);
	check_flip(clean, v, 0);                       /* page 1, start */
	check_flip(clean, v, 99);                      /* page 1 header */
	check_flip(clean, v, (pages / 2) * page + 1000); /* middle, data */
	check_flip(clean, v, 5 * page + 4060);         /* a tag */
	check_flip(clean, v, 7 * page + 4090);         /* a nonce */
	check_flip(clean, v, (pages - 1) * page + 4051); /* last, sealed extra */
	for (i = 0; i < 8; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		check_flip(clean, v, (long)(x % (uint32_t)(pages * page)));
	}
	chs_vfs_free(v);
	free(clean);
}
END_TEST

START_TEST(test_vfs__swapped_pages_are_reported_as_damage)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	unsigned char a[CHS_VFS_PAGE_SIZE], b[CHS_VFS_PAGE_SIZE];
	long page = CHS_VFS_PAGE_SIZE;
	sqlite3 *db;
	uint32_t bad;
	int rc;

	make_store(path, v, 300);
	read_at(path, 5 * page, a, sizeof(a));
	read_at(path, 6 * page, b, sizeof(b));
	write_at(path, 5 * page, b, sizeof(b));
	write_at(path, 6 * page, a, sizeof(a));
	db = store_open_raw(path, v);
	ck_assert_int_eq(verify_store(db, &bad), SQLITE_IOERR_DATA);
	ck_assert_uint_eq(bad, 6);
	query_int_rc(db, "SELECT sum(length(body)) FROM t", &rc);
	ck_assert_int_eq(rc, SQLITE_IOERR_DATA);
	close_ok(db);
	chs_vfs_free(v);
	free(path);
}
END_TEST

START_TEST(test_vfs__a_page_from_another_key_is_reported_as_damage)
{
	chs_vfs *v = vfs_with_key(1), *other = vfs_with_key(2);
	char *path = in_dir("store.db"), *path2 = in_dir("other.db");
	unsigned char page[CHS_VFS_PAGE_SIZE];
	sqlite3 *db;
	uint32_t bad;
	int rc;

	make_store(path, v, 300);
	make_store(path2, other, 300);
	read_at(path2, 4 * CHS_VFS_PAGE_SIZE, page, sizeof(page));
	write_at(path, 4 * CHS_VFS_PAGE_SIZE, page, sizeof(page));
	db = store_open_raw(path, v);
	ck_assert_int_eq(verify_store(db, &bad), SQLITE_IOERR_DATA);
	ck_assert_uint_eq(bad, 5);
	query_int_rc(db, "SELECT sum(length(body)) FROM t", &rc);
	ck_assert_int_eq(rc, SQLITE_IOERR_DATA);
	close_ok(db);
	chs_vfs_free(other);
	chs_vfs_free(v);
	free(path2);
	free(path);
}
END_TEST

START_TEST(test_vfs__a_file_cut_mid_page_is_an_error)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	sqlite3 *db;
	uint32_t bad;
	int rc;

	make_store(path, v, 300);
	ck_assert_int_eq(truncate(path, 10 * CHS_VFS_PAGE_SIZE + 100), 0);
	db = store_open_raw(path, v);
	ck_assert_int_eq(verify_store(db, &bad), SQLITE_IOERR_DATA);
	ck_assert_uint_eq(bad, 11);
	query_int_rc(db, "SELECT sum(length(body)) FROM t", &rc);
	ck_assert_msg(is_damage(rc), "cut file read as data (rc %d)", rc);
	close_ok(db);

	/* Cut inside page 1 as well. */
	ck_assert_int_eq(truncate(path, 1000), 0);
	ck_assert_int_eq(store_try_open(path, v, &db), SQLITE_IOERR_DATA);
	close_ok(db);
	chs_vfs_free(v);
	free(path);
}
END_TEST

/* Deterministic junk; seed 0 gives zeros (a file never written by us). */
static void fill_junk(unsigned char *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = seed ? (unsigned char)x : 0;
	}
}

START_TEST(test_vfs__garbage_files_never_crash)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	unsigned char junk[3 * CHS_VFS_PAGE_SIZE + 17];
	/* (A 1-byte file is an empty database to the unix VFS.) */
	size_t sizes[] = {2 * CHS_VFS_PAGE_SIZE, 100, CHS_VFS_PAGE_SIZE,
			  sizeof(junk)};
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sqlite3 *db = NULL;
		int rc;

		fill_junk(junk, sizeof(junk), (unsigned)i);
		ck_assert_int_eq(tu_write(path, junk, sizes[i]), 0);
		rc = store_try_open(path, v, &db);
		if (rc == SQLITE_OK)
			query_int_rc(db, "SELECT count(*) FROM sqlite_schema",
				     &rc);
		ck_assert_msg(rc == SQLITE_IOERR_DATA,
			      "garbage of %zu bytes: rc %d", sizes[i], rc);
		close_ok(db);
	}
	chs_vfs_free(v);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------
 * Damage in the WAL
 */

/* A crashed child leaves three committed transactions in the WAL; flip
 * a bit at `rel` bytes into the first frame of transaction `txn` and
 * check that transaction and the later ones are gone, and the earlier
 * ones intact. */
static void check_wal_flip(int txn, long rel)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db"), *wal = in_dir("store.db-wal");
	long ends[3];
	int fds[2], i, rc;
	sqlite3 *db;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		child_commit_and_die(path, v, 3, 30, fds[1]);
	close(fds[1]);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(read(fds[0], &ends[i], sizeof(ends[i])),
				 (ssize_t)sizeof(ends[i]));
	close(fds[0]);
	assert_child_exited_ok(pid);
	ck_assert_int_eq((ends[0] - 32) % FRAME_BYTES, 0);

	tu_flip_bit(wal, ends[txn - 1] + rel, 3);
	db = store_open(path, v);
	for (i = 0; i < 3; i++) {
		char tag[16];
		sqlite3_int64 n;

		snprintf(tag, sizeof(tag), "t%d", i);
		n = count_tag_rc(db, tag, &rc);
		ck_assert_int_eq(rc, SQLITE_OK);
		ck_assert_int_eq(n, i < txn ? 30 : 0);
	}
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t"), 30 * txn);
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM pragma_integrity_check "
				       "WHERE integrity_check='ok'"),
			 1);
	close_ok(db);
	chs_vfs_free(v);
	free(wal);
	free(path);
}

START_TEST(test_vfs__a_flipped_bit_in_a_wal_frame_ends_the_wal_there)
{
	check_wal_flip(1, 24 + 500); /* page data */
}
END_TEST

START_TEST(test_vfs__a_flipped_bit_in_a_wal_frame_tag_ends_the_wal_there)
{
	check_wal_flip(2, 24 + 4060); /* tag */
}
END_TEST

START_TEST(test_vfs__a_flipped_bit_in_a_wal_frame_header_ends_the_wal_there)
{
	check_wal_flip(1, 9); /* salt-1: the AD */
}
END_TEST

/* ---------------------------------------------------------------------
 * Keys, journals, temporary files, mmap
 */

START_TEST(test_vfs__the_wrong_key_fails_cleanly)
{
	chs_vfs *v = vfs_with_key(1), *wrong = vfs_with_key(2);
	char *path = in_dir("store.db");
	sqlite3 *db, *db2;
	int rc;

	make_store(path, v, 50);
	ck_assert_int_eq(store_try_open(path, wrong, &db), SQLITE_IOERR_DATA);
	close_ok(db);

	/* Also with committed data waiting in the WAL. */
	db = store_open(path, v);
	exec_ok(db, "PRAGMA wal_autocheckpoint=0");
	insert_rows(db, "wal", 50, 10);
	ck_assert_int_eq(store_try_open(path, wrong, &db2), SQLITE_IOERR_DATA);
	close_ok(db2);
	close_ok(db);

	/* And plain SQLite sees no database at all. */
	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	sqlite3_extended_result_codes(db, 1);
	query_int_rc(db, "SELECT count(*) FROM t", &rc);
	ck_assert_int_eq(rc, SQLITE_NOTADB);
	close_ok(db);

	db = store_open(path, v);
	ck_assert_int_eq(count_tag(db, "base"), 50);
	close_ok(db);
	chs_vfs_free(wrong);
	chs_vfs_free(v);
	free(path);
}
END_TEST

START_TEST(test_vfs__a_plain_sqlite_file_is_not_read)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("plain.db");
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	exec_ok(db, "CREATE TABLE t(a); INSERT INTO t VALUES('" MARKER "')");
	close_ok(db);
	ck_assert_int_eq(store_try_open(path, v, &db), SQLITE_IOERR_DATA);
	close_ok(db);
	chs_vfs_free(v);
	free(path);
}
END_TEST

START_TEST(test_vfs__rollback_journals_are_refused)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db"), *journal = in_dir("store.db-journal");
	sqlite3 *db = store_open_raw(path, v);
	int reserve = CHS_VFS_RESERVE;

	exec_ok(db, "PRAGMA page_size=4096");
	sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
	exec_ok(db, "PRAGMA journal_mode=DELETE");
	ck_assert_int_eq(exec_rc(db, "CREATE TABLE t(a)"), SQLITE_CANTOPEN);
	ck_assert(!file_exists(journal));
	close_ok(db);

	/* A WAL store cannot be switched back to a rollback journal. */
	make_store(path, v, 10);
	db = store_open(path, v);
	ck_assert_int_ne(exec_rc(db, "PRAGMA journal_mode=DELETE"), SQLITE_OK);
	ck_assert(journal_is_wal(db));
	insert_rows(db, "after", 10, 5);
	ck_assert(!file_exists(journal));
	ck_assert_int_eq(count_tag(db, "after"), 5);
	close_ok(db);
	chs_vfs_free(v);
	free(journal);
	free(path);
}
END_TEST

START_TEST(test_vfs__sorts_and_temp_tables_stay_in_memory)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	sqlite3 *db = store_open(path, v);

	create_table(db);
	exec_ok(db, "PRAGMA cache_size=10");
	insert_rows(db, "x", 0, 2000);
	/* Sorting 800 kB with a 40 kB cache would use temporary files. */
	exec_ok(db, "CREATE INDEX t_body ON t(body)");
	exec_ok(db, "CREATE TEMP TABLE tt AS SELECT * FROM t ORDER BY body DESC");
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM tt"), 2000);
	ck_assert_int_eq(query_int(db, "SELECT count(DISTINCT body) FROM "
				       "(SELECT body FROM t ORDER BY random())"),
			 2000);
	exec_ok(db, "VACUUM");
	ck_assert_int_eq(count_tag(db, "x"), 2000);
	close_ok(db);
	assert_no_marker("after sorting");
	chs_vfs_free(v);
	free(path);
}
END_TEST

START_TEST(test_vfs__mmap_never_bypasses_decryption)
{
	chs_vfs *v;
	char *path = in_dir("store.db");
	sqlite3 *db;
	sqlite3_int64 size = 1000000;

	/* Ask for mmap everywhere SQLite allows it. */
	sqlite3_shutdown();
	ck_assert_int_eq(sqlite3_config(SQLITE_CONFIG_MMAP_SIZE,
					(sqlite3_int64)1 << 24,
					(sqlite3_int64)1 << 26),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_initialize(), SQLITE_OK);
	v = vfs_with_key(1);
	db = store_open(path, v);
	create_table(db);
	insert_rows(db, "x", 0, 300);
	close_ok(db);

	db = store_open(path, v);
	ck_assert_int_eq(query_int(db, "PRAGMA mmap_size=1000000"), 0);
	ck_assert_int_eq(sqlite3_file_control(db, "main", SQLITE_FCNTL_MMAP_SIZE,
					      &size),
			 SQLITE_OK);
	ck_assert_int_eq(size, 0);
	ck_assert_int_eq(count_tag(db, "x"), 300);
	exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	insert_rows(db, "y", 300, 100);
	ck_assert_int_eq(count_tag(db, "x"), 300);
	ck_assert_int_eq(count_tag(db, "y"), 100);
	close_ok(db);
	assert_no_marker("with mmap asked for");
	chs_vfs_free(v);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------
 * Concurrency
 */

START_TEST(test_vfs__two_connections_see_consistent_snapshots)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	sqlite3 *w = store_open(path, v), *r;

	create_table(w);
	insert_rows(w, "a", 0, 100);
	r = store_open(path, v);
	exec_ok(r, "BEGIN");
	ck_assert_int_eq(count_tag(r, "a"), 100);
	exec_ok(w, "BEGIN");
	insert_rows(w, "b", 100, 200);
	ck_assert_int_eq(count_tag(r, "b"), 0);
	exec_ok(w, "COMMIT");
	exec_ok(w, "PRAGMA wal_checkpoint(PASSIVE)");
	/* The reader's snapshot still stands after a commit and checkpoint. */
	ck_assert_int_eq(count_tag(r, "b"), 0);
	ck_assert_int_eq(count_tag(r, "a"), 100);
	exec_ok(r, "COMMIT");
	ck_assert_int_eq(count_tag(r, "b"), 200);
	close_ok(r);
	close_ok(w);
	chs_vfs_free(v);
	free(path);
}
END_TEST

/* The wal-index holds a checksum over plaintext: it lives in /dev/shm,
 * never in the store folder, and goes away with the last connection. */
START_TEST(test_vfs__the_wal_index_stays_out_of_the_store_folder)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db"), *shm = in_dir("store.db-shm");
	char placeholder[160];
	struct stat sb;
	sqlite3 *a, *b;

	if (stat("/dev/shm", &sb) < 0)
		return; /* no /dev/shm here: the wal-index stays beside the db */
	a = store_open(path, v);
	create_table(a);
	insert_rows(a, "a", 0, 50);
	b = store_open(path, v);
	ck_assert_int_eq(count_tag(b, "a"), 50);
	ck_assert(!file_exists(shm));
	ck_assert_int_eq(stat(path, &sb), 0);
	snprintf(placeholder, sizeof(placeholder), "/dev/shm/chartsync-%lu/chartsync-%llx-%llx-shm",
		 (unsigned long)geteuid(), (unsigned long long)sb.st_dev,
		 (unsigned long long)sb.st_ino);
	ck_assert_msg(file_exists(placeholder), "no wal-index at %s", placeholder);
	close_ok(b);
	ck_assert(file_exists(placeholder)); /* a is still open */
	close_ok(a);
	ck_assert(!file_exists(placeholder));
	placeholder[strlen(placeholder) - 4] = '\0';
	ck_assert(!file_exists(placeholder));
	chs_vfs_free(v);
	free(path);
	free(shm);
}
END_TEST

/* A reader in another process: every snapshot it sees must be a whole
 * number of ten-row transactions with the right sum. It tells the writer
 * when it has made its first read, and stops when it sees the last row. */
static void child_reader(const char *path, const chs_vfs *v, int ready_fd)
{
	sqlite3 *db = child_open(path, v);
	int reads = 0;

	alarm(30); /* never outlive a failed parent */
	for (;;) {
		sqlite3_stmt *st = NULL;
		sqlite3_int64 n, sum;
		int rc;

		CHILD_CHECK(sqlite3_prepare_v2(db, "SELECT count(*), "
						   "coalesce(sum(n), 0) FROM t",
					       -1, &st, NULL) == SQLITE_OK,
			    3);
		rc = sqlite3_step(st);
		CHILD_CHECK(rc == SQLITE_ROW, 4);
		n = sqlite3_column_int64(st, 0);
		sum = sqlite3_column_int64(st, 1);
		sqlite3_finalize(st);
		CHILD_CHECK(n % 10 == 0, 5);
		CHILD_CHECK(sum == n * (n - 1) / 2, 6);
		if (reads++ == 0)
			CHILD_CHECK(write(ready_fd, "r", 1) == 1, 7);
		if (n == 2000)
			break;
	}
	CHILD_CHECK(sqlite3_close(db) == SQLITE_OK, 8);
	_exit(0);
}

START_TEST(test_vfs__a_reader_process_sees_only_whole_transactions)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("store.db");
	sqlite3 *db = store_open(path, v);
	int fds[2], i;
	char c;
	pid_t pid;

	create_table(db);
	exec_ok(db, "PRAGMA wal_autocheckpoint=20");
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		child_reader(path, v, fds[1]);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	for (i = 0; i < 200; i++) {
		exec_ok(db, "BEGIN");
		insert_rows(db, "r", i * 10, 10);
		exec_ok(db, "COMMIT");
	}
	assert_child_exited_ok(pid);
	ck_assert_int_eq(count_tag(db, "r"), 2000);
	close_ok(db);
	chs_vfs_free(v);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------
 * The file layer directly: what reaches the disk
 */

typedef struct raw_file {
	sqlite3_vfs *vfs;
	sqlite3_file *f;
} raw_file;

static void raw_open(raw_file *rf, const chs_vfs *v, const char *path,
		     int kind)
{
	int out = 0;

	rf->vfs = sqlite3_vfs_find(chs_vfs_name(v));
	ck_assert_ptr_nonnull(rf->vfs);
	rf->f = calloc(1, (size_t)rf->vfs->szOsFile);
	ck_assert_ptr_nonnull(rf->f);
	ck_assert_int_eq(rf->vfs->xOpen(rf->vfs, path, rf->f,
					kind | SQLITE_OPEN_READWRITE |
						SQLITE_OPEN_CREATE,
					&out),
			 SQLITE_OK);
}

static void raw_close(raw_file *rf)
{
	ck_assert_int_eq(rf->f->pMethods->xClose(rf->f), SQLITE_OK);
	free(rf->f);
}

static int raw_write(raw_file *rf, const void *buf, int n, sqlite3_int64 off)
{
	return rf->f->pMethods->xWrite(rf->f, buf, n, off);
}

static int raw_read(raw_file *rf, void *buf, int n, sqlite3_int64 off)
{
	return rf->f->pMethods->xRead(rf->f, buf, n, off);
}

static int all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void fake_page(unsigned char *page, unsigned char fill, uint32_t pgno)
{
	memset(page, fill, CHS_VFS_PAGE_SIZE);
	memset(page + CHS_VFS_PAGE_SIZE - CHS_VFS_RESERVE, 0, CHS_VFS_RESERVE);
	if (pgno == 1) {
		page[16] = CHS_VFS_PAGE_SIZE >> 8;
		page[17] = 0;
		page[20] = CHS_VFS_RESERVE;
	}
}

START_TEST(test_vfs__only_whole_clean_pages_are_written)
{
	chs_vfs *v = vfs_with_key(1);
	char *path = in_dir("raw.db");
	unsigned char page[CHS_VFS_PAGE_SIZE], back[CHS_VFS_PAGE_SIZE];
	raw_file rf;

	raw_open(&rf, v, path, SQLITE_OPEN_MAIN_DB);
	ck_assert(!(rf.f->pMethods->xDeviceCharacteristics(rf.f) & 0x1ff));
	ck_assert(rf.f->pMethods->xDeviceCharacteristics(rf.f) &
		  SQLITE_IOCAP_POWERSAFE_OVERWRITE);
	fake_page(page, 'p', 2);
	ck_assert_int_eq(raw_write(&rf, page, 100, 4096), SQLITE_IOERR_WRITE);
	ck_assert_int_eq(raw_write(&rf, page, 4096, 100), SQLITE_IOERR_WRITE);
	page[4090] = 1; /* SQLite must never see or write our reserve */
	ck_assert_int_eq(raw_write(&rf, page, 4096, 4096), SQLITE_IOERR_WRITE);
	fake_page(page, 'p', 2);
	page[20] = 0; /* page 1 that does not declare the reserve */
	ck_assert_int_eq(raw_write(&rf, page, 4096, 0), SQLITE_IOERR_WRITE);
	ck_assert_int_eq(tu_file_size(path), 0);

	fake_page(page, 'p', 1);
	ck_assert_int_eq(raw_write(&rf, page, 4096, 0), SQLITE_OK);
	fake_page(page, 'q', 2);
	ck_assert_int_eq(raw_write(&rf, page, 4096, 4096), SQLITE_OK);
	ck_assert_int_eq(raw_read(&rf, back, 4096, 4096), SQLITE_OK);
	ck_assert_mem_eq(back, page, sizeof(page));
	/* Partial reads, across a page boundary too. */
	ck_assert_int_eq(raw_read(&rf, back, 100, 4000), SQLITE_OK);
	ck_assert_int_eq(back[0], 'p');
	ck_assert_int_eq(back[47], 'p');
	ck_assert_int_eq(back[48], 0);
	ck_assert_int_eq(back[96], 'q');
	/* Past the end: zeros and a short read. */
	memset(back, 0xee, sizeof(back));
	ck_assert_int_eq(raw_read(&rf, back, 4096, 8192),
			 SQLITE_IOERR_SHORT_READ);
	ck_assert(all_zero(back, sizeof(back)));
	raw_close(&rf);
	ck_assert_int_eq(tu_grep_dir(dir, "ppppppppppppppppp", NULL, 0), 0);
	ck_assert_int_eq(tu_grep_dir(dir, "qqqqqqqqqqqqqqqqq", NULL, 0), 0);
	chs_vfs_free(v);
	free(path);
}
END_TEST

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void frame_header(unsigned char hdr[24], uint32_t pgno,
			 uint32_t cksum1, uint32_t cksum2)
{
	put32(hdr, pgno);
	put32(hdr + 4, 0);
	put32(hdr + 8, 0x1111);  /* salt-1 */
	put32(hdr + 12, 0x2222); /* salt-2 */
	put32(hdr + 16, cksum1);
	put32(hdr + 20, cksum2);
}

START_TEST(test_vfs__wal_checksums_never_reach_the_disk)
{
	chs_vfs *v = vfs_with_key(1);
	char *db_path = in_dir("raw.db"), *path = in_dir("raw.db-wal");
	unsigned char whdr[32] = {0x37, 0x7f, 0x06, 0x82, 0, 0x2d, 0xe2, 0x18};
	unsigned char hdr[24], page[CHS_VFS_PAGE_SIZE];
	unsigned char frame[FRAME_BYTES], disk[24];
	raw_file rf;

	ck_assert_int_eq(tu_write(db_path, "", 0), 0);
	raw_open(&rf, v, path, SQLITE_OPEN_WAL);
	put32(whdr + 8, 1024);
	ck_assert_int_eq(raw_write(&rf, whdr, 32, 0), SQLITE_IOERR_WRITE);
	put32(whdr + 8, CHS_VFS_PAGE_SIZE);
	ck_assert_int_eq(raw_write(&rf, whdr, 32, 0), SQLITE_OK);

	/* A frame as SQLite writes it: header, then page. */
	frame_header(hdr, 3, 0xdeadbeef, 0xcafef00d);
	fake_page(page, 'w', 3);
	ck_assert_int_eq(raw_write(&rf, hdr, 24, 32), SQLITE_OK);
	ck_assert_int_eq(raw_write(&rf, page, CHS_VFS_PAGE_SIZE, 32 + 24),
			 SQLITE_OK);
	read_at(path, 32, disk, sizeof(disk));
	ck_assert_mem_eq(disk, hdr, 16);
	ck_assert(all_zero(disk + 16, 8));
	ck_assert_int_eq(raw_read(&rf, frame, FRAME_BYTES, 32), SQLITE_OK);
	ck_assert_mem_eq(frame, hdr, 24);
	ck_assert_mem_eq(frame + 24, page, sizeof(page));
	ck_assert_int_eq(raw_read(&rf, frame, 8, 32 + 16), SQLITE_OK);
	ck_assert_mem_eq(frame, hdr + 16, 8);

	/* Only the checksum rewritten, as walRewriteChecksums does. */
	frame_header(hdr, 3, 0x01020304, 0x05060708);
	ck_assert_int_eq(raw_write(&rf, hdr, 24, 32), SQLITE_OK);
	ck_assert_int_eq(raw_read(&rf, frame, FRAME_BYTES, 32), SQLITE_OK);
	ck_assert_mem_eq(frame, hdr, 24);
	ck_assert_mem_eq(frame + 24, page, sizeof(page));
	read_at(path, 32 + 16, disk, 8);
	ck_assert(all_zero(disk, 8));

	/* A frame written with zero salts (after an in-place overwrite) and
	 * its header rewritten with the real ones before the commit. */
	frame_header(hdr, 4, 0, 0);
	memset(hdr + 8, 0, 8);
	fake_page(page, 'v', 4);
	ck_assert_int_eq(raw_write(&rf, hdr, 24, 32 + FRAME_BYTES), SQLITE_OK);
	ck_assert_int_eq(raw_write(&rf, page, CHS_VFS_PAGE_SIZE,
				   32 + FRAME_BYTES + 24),
			 SQLITE_OK);
	frame_header(hdr, 4, 0x0a0b0c0d, 0x01010101);
	ck_assert_int_eq(raw_write(&rf, hdr, 24, 32 + FRAME_BYTES), SQLITE_OK);
	ck_assert_int_eq(raw_read(&rf, frame, FRAME_BYTES, 32 + FRAME_BYTES),
			 SQLITE_OK);
	ck_assert_mem_eq(frame, hdr, 24);
	ck_assert_mem_eq(frame + 24, page, sizeof(page));

	/* A header whose page never comes is left as a torn frame. */
	ck_assert_int_eq(raw_write(&rf, hdr, 24, 32 + 2 * FRAME_BYTES),
			 SQLITE_OK);
	ck_assert_int_eq(raw_read(&rf, frame, 8, 32 + 16), SQLITE_OK);
	ck_assert_int_eq(tu_file_size(path), 32 + 2 * FRAME_BYTES + 24);
	ck_assert_int_eq(raw_read(&rf, frame, FRAME_BYTES,
				  32 + 2 * FRAME_BYTES),
			 SQLITE_IOERR_SHORT_READ);
	ck_assert_mem_ne(frame + 8, hdr + 8, 8);
	frame_header(hdr, 3, 0x01020304, 0x05060708);

	/* A damaged frame: a whole-frame read (recovery) gets a frame whose
	 * salts cannot match; a page read is an error. */
	raw_close(&rf);
	tu_flip_bit(path, 32 + 24 + 10, 0);
	raw_open(&rf, v, path, SQLITE_OPEN_WAL);
	ck_assert_int_eq(raw_read(&rf, frame, FRAME_BYTES, 32), SQLITE_OK);
	ck_assert_mem_eq(frame, hdr, 8);
	ck_assert_mem_ne(frame + 8, hdr + 8, 8);
	ck_assert(all_zero(frame + 24, CHS_VFS_PAGE_SIZE));
	ck_assert_int_eq(raw_read(&rf, page, CHS_VFS_PAGE_SIZE, 32 + 24),
			 SQLITE_IOERR_DATA);
	ck_assert_int_eq(raw_read(&rf, frame, 8, 32 + 16), SQLITE_IOERR_DATA);
	ck_assert_int_eq(raw_read(&rf, frame, FRAME_BYTES, 32 + 3 * FRAME_BYTES),
			 SQLITE_IOERR_SHORT_READ);
	ck_assert(all_zero(frame, sizeof(frame)));
	raw_close(&rf);
	ck_assert_int_eq(tu_grep_dir(dir, "wwwwwwwwwwwwwwwww", NULL, 0), 0);
	ck_assert_int_eq(tu_grep_dir(dir, "vvvvvvvvvvvvvvvvv", NULL, 0), 0);
	chs_vfs_free(v);
	free(path);
	free(db_path);
}
END_TEST


/* ---------------------------------------------------------------------
 * The wal-index's folder: the user's own, in memory
 */

/* Point the VFS at a shared-memory folder of the test's own (a VFS reads
 * it when made), and give back BASE/chartsync-<uid>. */
static char *private_shm_base(char **base_out)
{
	char *base = in_dir("shm"), user[64];

	ck_assert_int_eq(mkdir(base, 01777), 0);
	ck_assert_int_eq(chmod(base, 01777), 0);
	ck_assert_int_eq(setenv("CHARTSYNC_SHM_DIR", base, 1), 0);
	snprintf(user, sizeof(user), "chartsync-%lu", (unsigned long)geteuid());
	*base_out = base;
	return tu_path(base, user);
}

/* The wal-index of the database at `db_path`, in folder `udir`; with
 * `suffix` "" its placeholder. */
static char *wal_index_of(const char *udir, const char *db_path,
			  const char *suffix)
{
	char name[128];
	struct stat sb;

	ck_assert_int_eq(stat(db_path, &sb), 0);
	snprintf(name, sizeof(name), "chartsync-%llx-%llx%s",
		 (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino,
		 suffix);
	return tu_path(udir, name);
}

/* /dev/shm is everyone's: the wal-index (a checksum over plaintext) sits
 * 0600 in a 0700 folder of the user's, never under a name in the shared
 * folder that another user could take first. */
START_TEST(test_vfs__the_wal_index_is_private_to_its_user)
{
	char *base = NULL, *udir = private_shm_base(&base);
	char *path = in_dir("store.db"), *shm;
	chs_vfs *v = vfs_with_key(1);
	struct stat sb;
	sqlite3 *db;

	db = store_open(path, v);
	create_table(db);
	insert_rows(db, "a", 0, 20);
	shm = wal_index_of(udir, path, "-shm");
	ck_assert_msg(lstat(shm, &sb) == 0, "no wal-index at %s", shm);
	ck_assert_int_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq(sb.st_uid, geteuid());
	ck_assert_int_eq(lstat(udir, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(sb.st_mode & 07777, 0700);
	ck_assert_int_eq(tu_sh("ls '%s' | grep -q -- '-shm$'", base) == 0, 0);
	close_ok(db);
	ck_assert(!file_exists(shm));
	chs_vfs_free(v);
	free(shm);
	free(path);
	free(udir);
	free(base);
}
END_TEST

/* Reopen the closed store at `path` and expect the first read to be
 * refused, with a message that names `what`. */
static void assert_refused(const char *path, const char *what)
{
	chs_vfs *v = vfs_with_key(1);
	sqlite3 *db = NULL;
	int rc = store_try_open(path, v, &db);

	if (rc == SQLITE_OK)
		query_int_rc(db, "SELECT count(*) FROM t", &rc);
	ck_assert_msg((rc & 0xff) == SQLITE_CANTOPEN, "%s: opened (%d)", what, rc);
	ck_assert_ptr_nonnull(chs_vfs_problem(v));
	ck_assert_msg(strstr(chs_vfs_problem(v), what), "%s", chs_vfs_problem(v));
	sqlite3_close(db);
	chs_vfs_free(v);
}

/* Whatever another user put where our wal-index goes is refused, with a
 * message, never used: a file of theirs, a folder of theirs, a folder
 * others can write in, a symbolic link. */
START_TEST(test_vfs__a_wal_index_place_of_another_user_is_refused)
{
	char *base = NULL, *udir = private_shm_base(&base);
	char *path = in_dir("store.db"), *shm, *placeholder, *elsewhere;
	chs_vfs *v = vfs_with_key(1);
	sqlite3 *db = store_open(path, v);

	create_table(db);
	insert_rows(db, "a", 0, 5);
	close_ok(db);
	chs_vfs_free(v);
	shm = wal_index_of(udir, path, "-shm");
	placeholder = wal_index_of(udir, path, "");
	elsewhere = in_dir("elsewhere");

	ck_assert_int_eq(tu_write(shm, "", 0), 0);
	ck_assert_int_eq(chown(shm, 4242, 4242), 0);
	assert_refused(path, "not yours");
	ck_assert_int_eq(unlink(shm), 0);

	ck_assert_int_eq(tu_write(placeholder, "", 0), 0);
	ck_assert_int_eq(chown(placeholder, 4242, 4242), 0);
	assert_refused(path, "not yours");
	ck_assert_int_eq(unlink(placeholder), 0);

	ck_assert_int_eq(chown(udir, 4242, 4242), 0);
	assert_refused(path, "folder of your own");
	ck_assert_int_eq(chown(udir, geteuid(), getegid()), 0);

	ck_assert_int_eq(chmod(udir, 0777), 0);
	assert_refused(path, "folder of your own");
	ck_assert_int_eq(chmod(udir, 0700), 0);

	ck_assert_int_eq(tu_sh("rm -rf '%s'", udir), 0);
	ck_assert_int_eq(mkdir(elsewhere, 0700), 0);
	ck_assert_int_eq(symlink(elsewhere, udir), 0);
	assert_refused(path, "folder of your own");
	ck_assert_int_eq(unlink(udir), 0);

	v = vfs_with_key(1); /* the place made right again: it opens */
	db = store_open(path, v);
	ck_assert_int_eq(count_tag(db, "a"), 5);
	close_ok(db);
	chs_vfs_free(v);
	free(elsewhere);
	free(placeholder);
	free(shm);
	free(path);
	free(udir);
	free(base);
}
END_TEST

/* An older chartsync kept a database's wal-index in /dev/shm itself: while
 * it has the store open there, this version does not open it beside it
 * with a second wal-index (each would write WAL frames over the other's). */
START_TEST(test_vfs__a_store_an_older_version_has_open_is_not_opened)
{
	char *base = NULL, *udir = private_shm_base(&base);
	char *path = in_dir("old.db"), *old_shm;
	chs_vfs *v = vfs_with_key(1);
	sqlite3 *db;
	int fd;

	db = store_open(path, v);
	create_table(db);
	close_ok(db);
	old_shm = wal_index_of(base, path, "-shm");
	fd = open(old_shm, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_SH), 0); /* the older version, holding it */
	db = store_open_raw(path, v);
	ck_assert_int_ne(sqlite3_exec(db, "SELECT count(*) FROM t", NULL, NULL, NULL), SQLITE_OK);
	close_ok(db);
	ck_assert_msg(strstr(chs_vfs_problem(v), "an older version of chartsync has this store open"),
		      "%s", chs_vfs_problem(v));
	close(fd); /* closed: it opens */
	db = store_open_raw(path, v);
	ck_assert_int_eq(sqlite3_exec(db, "SELECT count(*) FROM t", NULL, NULL, NULL), SQLITE_OK);
	close_ok(db);
	unlink(old_shm);
	chs_vfs_free(v);
	free(old_shm);
	free(path);
	free(udir);
	free(base);
}
END_TEST

/* A process killed with a store open leaves its wal-index in memory;
 * the next open of any store removes it, and leaves alone the wal-index
 * of a store still open (here, in this very process). */
START_TEST(test_vfs__a_killed_process_leaves_no_wal_index_behind)
{
	char *base = NULL, *udir = private_shm_base(&base);
	char *a_path = in_dir("a.db"), *b_path = in_dir("b.db"),
	     *c_path = in_dir("c.db");
	char *a_shm, *a_placeholder, *c_shm;
	chs_vfs *v = vfs_with_key(1);
	sqlite3 *b, *c;
	pid_t pid;
	int status;

	c = store_open(c_path, v);
	create_table(c);
	insert_rows(c, "c", 0, 5);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		sqlite3 *a = child_open(a_path, v);

		CHILD_CHECK(child_exec(a, "PRAGMA journal_mode=OFF") == 0, 2);
		CHILD_CHECK(child_exec(a, "PRAGMA journal_mode=WAL") == 0, 3);
		CHILD_CHECK(child_exec(a, "CREATE TABLE t(x)") == 0, 4);
		raise(SIGKILL);
		_exit(5);
	}
	status = wait_child(pid);
	ck_assert_msg(WIFSIGNALED(status), "child status %d", status);
	a_shm = wal_index_of(udir, a_path, "-shm");
	a_placeholder = wal_index_of(udir, a_path, "");
	c_shm = wal_index_of(udir, c_path, "-shm");
	ck_assert_msg(file_exists(a_shm), "the killed child left no wal-index");
	/* Left in /dev/shm itself by chartsync before the users' folders: ours
	 * goes, another user's stays, and so does one made a moment ago (an
	 * older chartsync may be opening it, outside our folder's lock). */
	ck_assert_int_eq(tu_sh("cd '%s' && : > chartsync-1-2 && : > chartsync-1-2-shm && "
			       ": > chartsync-3-4-shm && chown 4242 chartsync-3-4-shm && "
			       "touch -d '2 minutes ago' chartsync-1-2-shm chartsync-3-4-shm && "
			       ": > chartsync-5-6-shm", base), 0);

	b = store_open(b_path, v);
	create_table(b);
	ck_assert(!file_exists(a_shm));
	ck_assert(!file_exists(a_placeholder));
	ck_assert_int_eq(tu_sh("cd '%s' && test ! -e chartsync-1-2 && test ! -e chartsync-1-2-shm"
			       " && test -e chartsync-3-4-shm && test -e chartsync-5-6-shm", base), 0);
	ck_assert(file_exists(c_shm));
	insert_rows(c, "c", 5, 5);
	ck_assert_int_eq(count_tag(c, "c"), 10);
	close_ok(b);
	close_ok(c);
	chs_vfs_free(v);
	free(a_shm);
	free(a_placeholder);
	free(c_shm);
	free(a_path);
	free(b_path);
	free(c_path);
	free(udir);
	free(base);
}
END_TEST

/* ---------------------------------------------------------------------
 * Suite
 */

static Suite *vfs_suite(void)
{
	Suite *s = suite_create("crypto_vfs");
	TCase *tc = tcase_create("vfs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vfs__round_trip);
	tcase_add_test(tc, test_vfs__new_store_becomes_wal_without_a_journal);
	tcase_add_test(tc, test_vfs__closing_a_store_leaves_other_descriptors_alone);
	tcase_add_test(tc, test_vfs__each_vfs_has_its_own_name_and_is_never_default);
	tcase_add_test(tc, test_vfs__store_without_reserve_is_refused);
	tcase_add_test(tc, test_vfs__no_plaintext_on_disk_after_commit);
	tcase_add_test(tc, test_vfs__no_plaintext_on_disk_while_a_transaction_spills);
	tcase_add_test(tc, test_vfs__crash_mid_transaction_leaves_no_plaintext);
	tcase_add_test(tc, test_vfs__committed_data_survives_a_crash_through_the_wal);
	tcase_add_test(tc, test_vfs__long_wal_with_rewritten_frames_recovers);
	tcase_add_test(tc, test_vfs__a_commit_with_rewritten_checksums_survives_a_crash);
	tcase_add_test(tc, test_vfs__a_normal_sync_commit_with_rewritten_checksums_survives_a_crash);
	tcase_add_test(tc, test_vfs__a_flipped_bit_anywhere_is_reported_as_damage);
	tcase_add_test(tc, test_vfs__swapped_pages_are_reported_as_damage);
	tcase_add_test(tc, test_vfs__a_page_from_another_key_is_reported_as_damage);
	tcase_add_test(tc, test_vfs__a_file_cut_mid_page_is_an_error);
	tcase_add_test(tc, test_vfs__garbage_files_never_crash);
	tcase_add_test(tc, test_vfs__a_flipped_bit_in_a_wal_frame_ends_the_wal_there);
	tcase_add_test(tc, test_vfs__a_flipped_bit_in_a_wal_frame_tag_ends_the_wal_there);
	tcase_add_test(tc, test_vfs__a_flipped_bit_in_a_wal_frame_header_ends_the_wal_there);
	tcase_add_test(tc, test_vfs__the_wrong_key_fails_cleanly);
	tcase_add_test(tc, test_vfs__a_plain_sqlite_file_is_not_read);
	tcase_add_test(tc, test_vfs__rollback_journals_are_refused);
	tcase_add_test(tc, test_vfs__sorts_and_temp_tables_stay_in_memory);
	tcase_add_test(tc, test_vfs__mmap_never_bypasses_decryption);
	tcase_add_test(tc, test_vfs__two_connections_see_consistent_snapshots);
	tcase_add_test(tc, test_vfs__a_reader_process_sees_only_whole_transactions);
	tcase_add_test(tc, test_vfs__only_whole_clean_pages_are_written);
	tcase_add_test(tc, test_vfs__wal_checksums_never_reach_the_disk);
	tcase_add_test(tc, test_vfs__the_wal_index_stays_out_of_the_store_folder);
	tcase_add_test(tc, test_vfs__the_wal_index_is_private_to_its_user);
	tcase_add_test(tc, test_vfs__a_wal_index_place_of_another_user_is_refused);
	tcase_add_test(tc, test_vfs__a_killed_process_leaves_no_wal_index_behind);
	tcase_add_test(tc, test_vfs__a_store_an_older_version_has_open_is_not_opened);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (chs_crypto_init() < 0)
		return EXIT_FAILURE;
	return tu_run(vfs_suite());
}
