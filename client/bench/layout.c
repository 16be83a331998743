/*
 * The change log's layout, measured (tools/bench/layout prints it). The
 * rows of N changes that each make a new record, a batch per 1,000, are
 * written by SQLite alone through the store's page encryption, as
 * chs_bench_import_floor() writes them, under today's schema ("today")
 * and under candidate layouts of the same content; then 1,000 more in a
 * fresh connection, as the next import or pull adds them to a store that
 * big; then the reads the CLI and sync make of the log.
 *
 * The candidates keep every read path the code has (the change log is
 * read by change id, by record, and a batch's changes in row order), so
 * each still has an index on the change id and one from record to
 * changes; they differ in what those indexes hold and when they are
 * built:
 *
 *   deferred  today's tables, every index built by CREATE INDEX once the
 *             rows are in (a sort instead of a random insert per row);
 *             appends to a loaded store keep them up to date as today
 *   rowref    changes point at their record's rowid, not its 16-byte id:
 *             a new record's rowid is the next one, so the per-record
 *             index grows at its end instead of at random places
 *   short     rowref, and the change id indexed by its first 8 bytes (an
 *             integer, not unique: a probe before each insert stands in
 *             for the unique index)
 *   rowref_deferred
 *             rowref with every index built after the rows
 *   wrecords  today's log, records WITHOUT ROWID keyed by their id (no
 *             separate index on the record id)
 *
 * and, for comparison, today's layout with a bigger page cache
 * (today_cache128, today_cache256: 128 and 256 MiB, the store's is 64).
 */
#include "bench_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BATCH 1000        /* changes per batch (CHS_BATCH_MAX_CHANGES) */
#define APPEND 1000       /* changes per append to the loaded store */
#define APPEND_ROUNDS 5
#define SAMPLES 200       /* records, changes and batches read back */

/* Today's tables, as client/store/store.c makes them. */
#define RECORDS_COLS \
	"type TEXT NOT NULL, patient BLOB, encounter BLOB, deleted INTEGER NOT NULL," \
	" review INTEGER NOT NULL, heads BLOB NOT NULL, state BLOB NOT NULL," \
	" hash BLOB NOT NULL, mrn TEXT, merged_into BLOB"
#define RECORDS_INDEXES \
	"CREATE INDEX records_patient ON records(patient) WHERE patient IS NOT NULL;" \
	"CREATE INDEX records_encounter ON records(encounter) WHERE encounter IS NOT NULL;" \
	"CREATE INDEX records_mrn ON records(mrn) WHERE mrn IS NOT NULL;" \
	"CREATE INDEX records_review ON records(review) WHERE review;" \
	"CREATE INDEX records_merged ON records(merged_into) WHERE merged_into IS NOT NULL;" \
	"CREATE INDEX records_fee ON records(type) WHERE type = 'fee';" \
	"CREATE INDEX records_deleted ON records(deleted) WHERE deleted;" \
	"CREATE INDEX records_link ON records(type) WHERE type = 'patient_link';" \
	"CREATE INDEX records_merge_act ON records(type) WHERE type = 'patient_merge';"
#define RECORDS_TODAY \
	"CREATE TABLE records(id BLOB NOT NULL UNIQUE, " RECORDS_COLS ");" RECORDS_INDEXES
#define BATCHES_COLS \
	"seq INTEGER PRIMARY KEY, id BLOB NOT NULL, device TEXT NOT NULL," \
	" dseq INTEGER NOT NULL, manifest BLOB NOT NULL, signature BLOB NOT NULL," \
	" key BLOB NOT NULL, local INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0," \
	" received INTEGER NOT NULL"
#define BATCHES_INDEXES \
	"CREATE INDEX batches_unsent ON batches(seq) WHERE local AND NOT sent;" \
	"CREATE INDEX batches_device ON batches(device, dseq);"
#define BATCHES_TODAY \
	"CREATE TABLE batches(" BATCHES_COLS ", UNIQUE (id));" BATCHES_INDEXES
#define CHANGES_TODAY \
	"CREATE TABLE changes(id BLOB NOT NULL UNIQUE, record BLOB NOT NULL," \
	" batch INTEGER NOT NULL, body BLOB NOT NULL);" \
	"CREATE INDEX changes_record ON changes(record);"
/* A candidate replaces the three tables of the store's schema. */
#define REPLACE "DROP TABLE changes; DROP TABLE records; DROP TABLE batches;"
/* Indexes built once the rows are in; named, so they could be dropped
 * and built again (a UNIQUE column constraint's index cannot). */
#define LATE_INDEXES \
	"CREATE UNIQUE INDEX records_id ON records(id);" RECORDS_INDEXES \
	"CREATE UNIQUE INDEX batches_id ON batches(id);" BATCHES_INDEXES

/* Statements' parameters: writing a change ?1 its id, ?2 its record's
 * id, ?3 its batch, ?4 its body, ?5 its record's rowid, ?6 its id's
 * first 8 bytes; reading ?1 the id looked up (record or change), ?2 the
 * changes of the batch walked, ?6 as above. A statement binds only the
 * ones it names. */
typedef struct layout {
	const char *name;
	const char *schema;      /* run after the store's schema; NULL: as it is */
	const char *indexes;     /* built after the bulk rows, in their transaction */
	const char *change_sql;
	const char *probe_sql;   /* before each change; NULL: a unique index refuses */
	int record_first;        /* the record's row first: the change names its rowid */
	const char *record_q;    /* the changes of one record */
	const char *history_q;   /* a record with its changes and where they came from */
	const char *change_q;    /* one change by id */
	const char *walk_q;      /* a batch's changes, from its first by rowid */
	const char *pragmas;     /* settings of its connections beside the store's */
} layout;

#define TODAY_CHANGE "INSERT INTO changes(id, record, batch, body) VALUES (?1, ?2, ?3, ?4)"
#define TODAY_RECORD "SELECT body FROM changes WHERE record = ?1"
#define TODAY_HISTORY \
	"SELECT r.state, c.body, b.device, b.received FROM records r" \
	" JOIN changes c ON c.record = r.id JOIN batches b ON b.seq = c.batch WHERE r.id = ?1"
#define TODAY_CHANGE_Q "SELECT body FROM changes WHERE id = ?1"
#define TODAY_WALK \
	"SELECT body FROM changes WHERE rowid >= (SELECT rowid FROM changes WHERE id = ?1)" \
	" ORDER BY rowid LIMIT ?2"
#define ROWREF_CHANGE "INSERT INTO changes(id, rec, batch, body) VALUES (?1, ?5, ?3, ?4)"
#define ROWREF_RECORD \
	"SELECT body FROM changes WHERE rec = (SELECT rowid FROM records WHERE id = ?1)"
#define ROWREF_HISTORY \
	"SELECT r.state, c.body, b.device, b.received FROM records r" \
	" JOIN changes c ON c.rec = r.rowid JOIN batches b ON b.seq = c.batch WHERE r.id = ?1"

static const layout layouts[] = {
	{ "today", NULL, NULL, TODAY_CHANGE, NULL, 0,
	  TODAY_RECORD, TODAY_HISTORY, TODAY_CHANGE_Q, TODAY_WALK, NULL },
	{ "deferred",
	  REPLACE "CREATE TABLE changes(id BLOB NOT NULL, record BLOB NOT NULL,"
	  " batch INTEGER NOT NULL, body BLOB NOT NULL);"
	  "CREATE TABLE records(id BLOB NOT NULL, " RECORDS_COLS ");"
	  "CREATE TABLE batches(" BATCHES_COLS ");",
	  "CREATE UNIQUE INDEX changes_id ON changes(id);"
	  "CREATE INDEX changes_record ON changes(record);" LATE_INDEXES,
	  TODAY_CHANGE, NULL, 0,
	  TODAY_RECORD, TODAY_HISTORY, TODAY_CHANGE_Q, TODAY_WALK, NULL },
	{ "rowref",
	  REPLACE "CREATE TABLE changes(id BLOB NOT NULL UNIQUE, rec INTEGER NOT NULL,"
	  " batch INTEGER NOT NULL, body BLOB NOT NULL);"
	  "CREATE INDEX changes_rec ON changes(rec);" RECORDS_TODAY BATCHES_TODAY,
	  NULL, ROWREF_CHANGE, NULL, 1,
	  ROWREF_RECORD, ROWREF_HISTORY, TODAY_CHANGE_Q, TODAY_WALK, NULL },
	{ "short",
	  REPLACE "CREATE TABLE changes(id BLOB NOT NULL, id8 INTEGER NOT NULL,"
	  " rec INTEGER NOT NULL, batch INTEGER NOT NULL, body BLOB NOT NULL);"
	  "CREATE INDEX changes_id8 ON changes(id8);"
	  "CREATE INDEX changes_rec ON changes(rec);" RECORDS_TODAY BATCHES_TODAY,
	  NULL, "INSERT INTO changes(id, id8, rec, batch, body) VALUES (?1, ?6, ?5, ?3, ?4)",
	  "SELECT 1 FROM changes WHERE id8 = ?6 AND id = ?1", 1,
	  ROWREF_RECORD, ROWREF_HISTORY, "SELECT body FROM changes WHERE id8 = ?6 AND id = ?1",
	  "SELECT body FROM changes WHERE rowid >="
	  " (SELECT rowid FROM changes WHERE id8 = ?6 AND id = ?1) ORDER BY rowid LIMIT ?2", NULL },
	{ "rowref_deferred",
	  REPLACE "CREATE TABLE changes(id BLOB NOT NULL, rec INTEGER NOT NULL,"
	  " batch INTEGER NOT NULL, body BLOB NOT NULL);"
	  "CREATE TABLE records(id BLOB NOT NULL, " RECORDS_COLS ");"
	  "CREATE TABLE batches(" BATCHES_COLS ");",
	  "CREATE UNIQUE INDEX changes_id ON changes(id);"
	  "CREATE INDEX changes_rec ON changes(rec);" LATE_INDEXES,
	  ROWREF_CHANGE, NULL, 1,
	  ROWREF_RECORD, ROWREF_HISTORY, TODAY_CHANGE_Q, TODAY_WALK, NULL },
	{ "wrecords",
	  REPLACE CHANGES_TODAY BATCHES_TODAY
	  "CREATE TABLE records(id BLOB NOT NULL PRIMARY KEY, " RECORDS_COLS ") WITHOUT ROWID;"
	  RECORDS_INDEXES,
	  NULL, TODAY_CHANGE, NULL, 0,
	  TODAY_RECORD, TODAY_HISTORY, TODAY_CHANGE_Q, TODAY_WALK, NULL },
	/* Not a layout: today's, with a page cache big enough for the
	 * indexes a load inserts into at random places (the store's is
	 * 64 MiB; at 1,000,000 changes they hold about 100 MB). */
	{ "today_cache128", NULL, NULL, TODAY_CHANGE, NULL, 0,
	  TODAY_RECORD, TODAY_HISTORY, TODAY_CHANGE_Q, TODAY_WALK,
	  "PRAGMA cache_size=-131072;" },
	{ "today_cache256", NULL, NULL, TODAY_CHANGE, NULL, 0,
	  TODAY_RECORD, TODAY_HISTORY, TODAY_CHANGE_Q, TODAY_WALK,
	  "PRAGMA cache_size=-262144;" },
};

const char *chs_bench_layout_name(int i)
{
	return i >= 0 && i < (int)(sizeof(layouts) / sizeof(layouts[0])) ? layouts[i].name : NULL;
}

static const layout *find_layout(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (strcmp(layouts[i].name, name) == 0)
			return &layouts[i];
	return NULL;
}

/* What the load keeps to read back: every `every`-th change's record and
 * id, every `bevery`-th batch's id. */
typedef struct samples {
	long every, bevery;
	size_t nrec, nbatch;
	unsigned char rec[SAMPLES][16];
	unsigned char change[SAMPLES][32];
	unsigned char batch[SAMPLES][32];
} samples;

typedef struct writer {
	sqlite3 *db;
	const layout *l;
	sqlite3_stmt *ch, *rec, *b, *probe;
	chs_buf *body, *state;
	unsigned char manifest[BATCH * 32]; /* the open batch's change ids */
	size_t in_batch;
	long next;       /* changes written: numbers the rows */
	long batches;    /* batches written */
	samples *keep;   /* NULL: keep nothing (the appends) */
} writer;

static int bind_blob(sqlite3_stmt *st, int i, const void *v, int len)
{
	return i > sqlite3_bind_parameter_count(st) ? SQLITE_OK
						     : sqlite3_bind_blob(st, i, v, len, SQLITE_STATIC);
}

static int bind_int(sqlite3_stmt *st, int i, int64_t v)
{
	return i > sqlite3_bind_parameter_count(st) ? SQLITE_OK : sqlite3_bind_int64(st, i, v);
}

static int fail(sqlite3 *db)
{
	return chs_error_set(CHS_ERROR, "benchmark: %s", sqlite3_errmsg(db));
}

static int writer_prepare(writer *w)
{
	const layout *l = w->l;

	if (sqlite3_prepare_v2(w->db, l->change_sql, -1, &w->ch, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db, "INSERT INTO records(id, type, deleted, review, heads,"
				      " state, hash, mrn) VALUES (?1, 'patient', 0, 0, ?2, ?3, ?4, ?5)",
			       -1, &w->rec, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db, "INSERT INTO batches(seq, id, device, dseq, manifest,"
				      " signature, key, local, received) VALUES (?1, ?2, 'bench',"
				      " ?1, ?3, ?4, ?4, 1, 0)", -1, &w->b, NULL) != SQLITE_OK ||
	    (l->probe_sql &&
	     sqlite3_prepare_v2(w->db, l->probe_sql, -1, &w->probe, NULL) != SQLITE_OK))
		return fail(w->db);
	return 0;
}

static void writer_finish(writer *w)
{
	sqlite3_finalize(w->ch);
	sqlite3_finalize(w->rec);
	sqlite3_finalize(w->b);
	sqlite3_finalize(w->probe);
	w->ch = w->rec = w->b = w->probe = NULL;
}

/* The open batch's row, its manifest the ids of its changes. */
static int flush_batch(writer *w)
{
	unsigned char id[32], sig[64];
	int ok;

	if (!w->in_batch)
		return 0;
	chs_random(id, sizeof(id));
	chs_random(sig, sizeof(sig));
	w->batches++;
	ok = sqlite3_bind_int64(w->b, 1, w->batches) == SQLITE_OK &&
	     sqlite3_bind_blob(w->b, 2, id, 32, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_blob(w->b, 3, w->manifest, (int)(w->in_batch * 32),
			       SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_bind_blob(w->b, 4, sig, 64, SQLITE_STATIC) == SQLITE_OK &&
	     sqlite3_step(w->b) == SQLITE_DONE;
	sqlite3_reset(w->b);
	if (w->keep && w->batches % w->keep->bevery == 0 && w->keep->nbatch < SAMPLES)
		memcpy(w->keep->batch[w->keep->nbatch++], id, 32);
	w->in_batch = 0;
	return ok ? 0 : fail(w->db);
}

static int step_record(writer *w, const unsigned char *record, const unsigned char *id,
		       const unsigned char *hash, const char *mrn)
{
	int ok = sqlite3_bind_blob(w->rec, 1, record, 16, SQLITE_STATIC) == SQLITE_OK &&
		 sqlite3_bind_blob(w->rec, 2, id, 32, SQLITE_STATIC) == SQLITE_OK &&
		 sqlite3_bind_blob(w->rec, 3, w->state->ptr, (int)w->state->len,
				   SQLITE_STATIC) == SQLITE_OK &&
		 sqlite3_bind_blob(w->rec, 4, hash, 32, SQLITE_STATIC) == SQLITE_OK &&
		 sqlite3_bind_text(w->rec, 5, mrn, -1, SQLITE_STATIC) == SQLITE_OK &&
		 sqlite3_step(w->rec) == SQLITE_DONE;

	sqlite3_reset(w->rec);
	return ok ? 0 : -1;
}

/* One change that makes a new record, and its record. */
static int one_change(writer *w)
{
	unsigned char id[32], record[16], hash[32];
	int64_t id8, rowid = 0, i = w->next++;
	char mrn[24];
	int ok = 1;

	chs_random(id, sizeof(id));
	chs_random(record, sizeof(record));
	chs_random(hash, sizeof(hash));
	memcpy(&id8, id, sizeof(id8));
	/* vary the rows so no two pages are alike */
	memcpy(w->body->ptr, &i, sizeof(i));
	memcpy(w->state->ptr, &i, sizeof(i));
	snprintf(mrn, sizeof(mrn), "MRN-%08lld", (long long)i);
	if (w->l->record_first) {
		if (step_record(w, record, id, hash, mrn) < 0)
			return fail(w->db);
		rowid = sqlite3_last_insert_rowid(w->db);
	}
	if (w->probe) {
		int rc;

		ok = bind_blob(w->probe, 1, id, 32) == SQLITE_OK &&
		     bind_int(w->probe, 6, id8) == SQLITE_OK;
		rc = ok ? sqlite3_step(w->probe) : SQLITE_ERROR;
		sqlite3_reset(w->probe);
		if (rc != SQLITE_DONE) /* a row: held already; never, ids are random */
			return fail(w->db);
	}
	ok = bind_blob(w->ch, 1, id, 32) == SQLITE_OK &&
	     bind_blob(w->ch, 2, record, 16) == SQLITE_OK &&
	     bind_int(w->ch, 3, w->batches + 1) == SQLITE_OK &&
	     bind_blob(w->ch, 4, w->body->ptr, (int)w->body->len) == SQLITE_OK &&
	     bind_int(w->ch, 5, rowid) == SQLITE_OK &&
	     bind_int(w->ch, 6, id8) == SQLITE_OK &&
	     sqlite3_step(w->ch) == SQLITE_DONE;
	sqlite3_reset(w->ch);
	if (!ok || (!w->l->record_first && step_record(w, record, id, hash, mrn) < 0))
		return fail(w->db);
	memcpy(w->manifest + 32 * w->in_batch++, id, 32);
	if (w->keep && i % w->keep->every == 0 && w->keep->nrec < SAMPLES) {
		memcpy(w->keep->rec[w->keep->nrec], record, 16);
		memcpy(w->keep->change[w->keep->nrec++], id, 32);
	}
	return w->in_batch == BATCH ? flush_batch(w) : 0;
}

static int write_changes(writer *w, long n)
{
	long k;
	int err = 0;

	for (k = 0; k < n && err == 0; k++)
		err = one_change(w);
	return err < 0 ? err : flush_batch(w);
}

/* A database the loads made, opened again the way the store opens one:
 * its own cache, the store's settings. */
static int reopen(sqlite3 **db, const char *path, chs_vfs *vfs, const layout *l)
{
	int err;

	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE, chs_vfs_name(vfs)) != SQLITE_OK)
		return chs_error_set(CHS_ERROR, "benchmark: cannot open '%s'", path);
	if ((err = chs_bench__exec(*db, "PRAGMA cache_size=-65536; PRAGMA synchronous=FULL;"
				      "PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0;")) < 0)
		return err;
	return l->pragmas ? chs_bench__exec(*db, l->pragmas) : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* Every row of `st`, each column's bytes touched; 0 or -1. */
static int drain(sqlite3_stmt *st, long *rows)
{
	int rc, i;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; i < sqlite3_column_count(st); i++)
			(void)sqlite3_column_blob(st, i);
		(*rows)++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Median microseconds of `sql` over the n keys (`len` bytes each), and
 * the rows it gave in all. */
static int time_reads(sqlite3 *db, const char *sql, const unsigned char *keys, size_t len,
		      size_t n, double *us, long *rows)
{
	double t[SAMPLES];
	sqlite3_stmt *st = NULL;
	size_t i;
	int64_t id8;

	*rows = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(db);
	for (i = 0; i < n; i++) {
		double t0 = chs_bench__now_s();

		memcpy(&id8, keys + i * len, sizeof(id8));
		if (bind_blob(st, 1, keys + i * len, (int)len) != SQLITE_OK ||
		    bind_int(st, 6, id8) != SQLITE_OK || drain(st, rows) < 0) {
			sqlite3_finalize(st);
			return fail(db);
		}
		t[i] = (chs_bench__now_s() - t0) * 1e6;
	}
	sqlite3_finalize(st);
	*us = median(t, n);
	return 0;
}

/* A batch by id as sync reads it to send: its row, then its changes
 * walked in row order from the first its manifest lists. */
static int time_batches(sqlite3 *db, const layout *l, const samples *k, double *us,
			long *rows)
{
	double t[SAMPLES];
	sqlite3_stmt *b = NULL, *walk = NULL;
	size_t i;
	int err = 0;

	*rows = 0;
	if (sqlite3_prepare_v2(db, "SELECT manifest FROM batches WHERE id = ?1", -1, &b,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, l->walk_q, -1, &walk, NULL) != SQLITE_OK)
		err = fail(db);
	for (i = 0; i < k->nbatch && err == 0; i++) {
		double t0 = chs_bench__now_s();
		unsigned char first[32];
		int64_t id8;
		int n;

		if (sqlite3_bind_blob(b, 1, k->batch[i], 32, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(b) != SQLITE_ROW || (n = sqlite3_column_bytes(b, 0) / 32) < 1) {
			err = fail(db);
			break;
		}
		memcpy(first, sqlite3_column_blob(b, 0), 32);
		sqlite3_reset(b);
		memcpy(&id8, first, sizeof(id8));
		if (bind_blob(walk, 1, first, 32) != SQLITE_OK || bind_int(walk, 2, n) != SQLITE_OK ||
		    bind_int(walk, 6, id8) != SQLITE_OK || drain(walk, rows) < 0)
			err = fail(db);
		t[i] = (chs_bench__now_s() - t0) * 1e6;
	}
	sqlite3_finalize(b);
	sqlite3_finalize(walk);
	if (err == 0)
		*us = median(t, k->nbatch);
	return err;
}

static int measure_reads(sqlite3 *db, const layout *l, const samples *k,
			 chs_bench_layout_result *out)
{
	long rows = 0;
	int err;

	if ((err = time_reads(db, l->record_q, &k->rec[0][0], 16, k->nrec, &out->record_us,
			      &rows)) < 0)
		return err;
	if (rows != (long)k->nrec)
		return chs_error_set(CHS_ERROR, "benchmark: %s found %ld of %zu records' changes",
				     l->name, rows, k->nrec);
	if ((err = time_reads(db, l->history_q, &k->rec[0][0], 16, k->nrec, &out->history_us,
			      &rows)) < 0)
		return err;
	if (rows != (long)k->nrec)
		return chs_error_set(CHS_ERROR, "benchmark: %s found %ld of %zu histories",
				     l->name, rows, k->nrec);
	if ((err = time_reads(db, l->change_q, &k->change[0][0], 32, k->nrec, &out->change_us,
			      &rows)) < 0)
		return err;
	if (rows != (long)k->nrec)
		return chs_error_set(CHS_ERROR, "benchmark: %s found %ld of %zu changes",
				     l->name, rows, k->nrec);
	if ((err = time_batches(db, l, k, &out->batch_us, &rows)) < 0)
		return err;
	if (rows < (long)k->nbatch)
		return chs_error_set(CHS_ERROR, "benchmark: %s walked %ld changes of %zu batches",
				     l->name, rows, k->nbatch);
	return 0;
}

/* Seconds of CPU this process has used: on a machine others share, the
 * load's CPU time moves less with their work than its wall time. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The bulk load: every row in one transaction, then the late indexes,
 * committed and checkpointed as the store's commit does. */
static int load(writer *w, long n, chs_bench_layout_result *out)
{
	double t0 = chs_bench__now_s(), c0 = cpu_s(), t1;
	int err;

	if ((err = chs_bench__exec(w->db, "BEGIN")) < 0 || (err = writer_prepare(w)) < 0 ||
	    (err = write_changes(w, n)) < 0)
		return err;
	writer_finish(w);
	t1 = chs_bench__now_s();
	if ((w->l->indexes && (err = chs_bench__exec(w->db, w->l->indexes)) < 0) ||
	    (err = chs_bench__exec(w->db, "COMMIT")) < 0)
		return err;
	out->index_s = w->l->indexes ? chs_bench__now_s() - t1 : 0;
	sqlite3_wal_checkpoint_v2(w->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	out->load_s = chs_bench__now_s() - t0;
	out->load_cpu_s = cpu_s() - c0;
	out->changes_per_s = out->load_s > 0 ? (double)n / out->load_s : 0;
	return 0;
}

/* APPEND_ROUNDS appends of APPEND changes, each in a fresh connection
 * (the next import or pull is another process: nothing of the store in
 * SQLite's cache, the file in the system's), durable and checkpointed;
 * their median. */
static int appends(writer *w, const char *path, chs_vfs *vfs, chs_bench_layout_result *out)
{
	double ms[APPEND_ROUNDS];
	int r, err = 0;

	for (r = 0; r < APPEND_ROUNDS && err == 0; r++) {
		double t0;

		sqlite3_close_v2(w->db);
		w->db = NULL;
		if ((err = reopen(&w->db, path, vfs, w->l)) < 0)
			break;
		t0 = chs_bench__now_s();
		if ((err = chs_bench__exec(w->db, "BEGIN IMMEDIATE")) < 0 ||
		    (err = writer_prepare(w)) < 0 || (err = write_changes(w, APPEND)) < 0 ||
		    (err = chs_bench__exec(w->db, "COMMIT")) < 0)
			break;
		sqlite3_wal_checkpoint_v2(w->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		ms[r] = (chs_bench__now_s() - t0) * 1000;
		writer_finish(w);
	}
	writer_finish(w);
	if (err == 0)
		out->append_ms = median(ms, APPEND_ROUNDS);
	return err;
}

/* A store of today's layout moved to "rowref" in place, in one
 * transaction as an upgrade on open would: the log copied in row order
 * with each change's record rowid found by the record's id, the old
 * table dropped, the indexes built by sorting. Changes whose record has
 * no row yet (all waiting for a parent) have no rowid to point at: the
 * product would need a row for them first; the benchmark has none. The
 * reads of "rowref" then run on it, as a check that it holds them all. */
#define MIGRATE_ROWREF \
	"CREATE TABLE changes_new(id BLOB NOT NULL, rec INTEGER NOT NULL," \
	" batch INTEGER NOT NULL, body BLOB NOT NULL);" \
	"INSERT INTO changes_new(rowid, id, rec, batch, body)" \
	" SELECT c.rowid, c.id, r.rowid, c.batch, c.body FROM changes c" \
	" JOIN records r ON r.id = c.record ORDER BY c.rowid;" \
	"DROP TABLE changes;" \
	"ALTER TABLE changes_new RENAME TO changes;" \
	"CREATE UNIQUE INDEX changes_id ON changes(id);" \
	"CREATE INDEX changes_rec ON changes(rec);"

static int migrate(sqlite3 *db, const samples *keep, chs_bench_layout_result *out)
{
	chs_bench_layout_result after;
	sqlite3_stmt *st = NULL;
	int64_t before = -1, moved = -2;
	double t0;
	int err;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM changes", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		before = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	t0 = chs_bench__now_s();
	if ((err = chs_bench__exec(db, "BEGIN IMMEDIATE")) < 0)
		return err;
	if ((err = chs_bench__exec(db, MIGRATE_ROWREF)) < 0) {
		chs_bench__exec(db, "ROLLBACK");
		return err;
	}
	if ((err = chs_bench__exec(db, "COMMIT")) < 0)
		return err;
	sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	out->migrate_s = chs_bench__now_s() - t0;
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM changes", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		moved = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (moved != before)
		return chs_error_set(CHS_ERROR, "benchmark: the migration kept %lld of %lld changes",
				     (long long)moved, (long long)before);
	return measure_reads(db, find_layout("rowref"), keep, &after);
}

int chs_bench_layout(chs_store *s, const char *dir, const char *name, long changes,
		     int migrate_today, chs_bench_layout_result *out)
{
	const layout *l = find_layout(name);
	char *path = chs_util__path(dir, "bench-layout.db");
	unsigned char *key = NULL;
	chs_vfs *vfs = NULL;
	chs_buf body, state;
	samples *keep = chs_calloc(1, sizeof(*keep));
	writer *w = chs_calloc(1, sizeof(*w));
	int64_t pages = 0;
	int err;

	memset(out, 0, sizeof(*out));
	chs_buf_init(&body, 0);
	chs_buf_init(&state, 0);
	if (!path || !keep || !w) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	if (!l || changes < 1) {
		err = chs_error_set(CHS_EINVALID, "benchmark: no layout '%s', or no changes",
				    name ? name : "");
		goto done;
	}
	keep->every = changes / SAMPLES > 1 ? changes / SAMPLES : 1;
	keep->bevery = (changes + BATCH - 1) / BATCH / SAMPLES > 1
			       ? (changes + BATCH - 1) / BATCH / SAMPLES : 1;
	w->l = l;
	w->body = &body;
	w->state = &state;
	w->keep = keep;
	if (!(key = chs_key_new())) {
		err = chs_error_set(CHS_ENOMEM, "out of secure memory");
		goto done;
	}
	if ((err = chs_vfs_new(&vfs, key)) < 0 || (err = chs_bench__templates(s, &body, &state)) < 0 ||
	    (err = chs_bench__open(&w->db, path, vfs, chs_store__schema_sql())) < 0 ||
	    (err = chs_bench__exec(w->db, "PRAGMA cache_size=-65536;")) < 0 ||
	    (l->pragmas && (err = chs_bench__exec(w->db, l->pragmas)) < 0) ||
	    (l->schema && (err = chs_bench__exec(w->db, l->schema)) < 0) ||
	    (err = load(w, changes, out)) < 0)
		goto done;
	{
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(w->db, "PRAGMA page_count", -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			pages = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	out->db_mb = (double)pages * 4096 / 1e6;
	w->keep = NULL;
	if ((err = appends(w, path, vfs, out)) < 0)
		goto done;
	sqlite3_close_v2(w->db);
	w->db = NULL;
	if ((err = reopen(&w->db, path, vfs, l)) < 0 || (err = measure_reads(w->db, l, keep, out)) < 0)
		goto done;
	if (migrate_today && l == &layouts[0] && (err = migrate(w->db, keep, out)) < 0)
		goto done;
done:
	if (w) {
		writer_finish(w);
		sqlite3_close_v2(w->db);
	}
	if (path)
		chs_bench__remove_db(path);
	free(path);
	free(w);
	free(keep);
	chs_vfs_free(vfs);
	chs_secret_free(key);
	chs_buf_dispose(&body);
	chs_buf_dispose(&state);
	return err;
}
