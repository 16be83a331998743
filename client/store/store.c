/*
 * The encrypted store: creating, opening, closing, checking, and the
 * transaction discipline every write follows.
 *
 * Opening is: read DIR/keyslots, unwrap the store key with the user's
 * passphrase, register a VFS that encrypts every page under a key derived
 * from it, open DIR/store.db through that VFS, and confirm inside the
 * encrypted database that the store id matches the slot file and that the
 * user is still a user. Every failure on the way that could tell an
 * attacker which of user and passphrase was wrong reports the same
 * CHS_EAUTH message.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEVICE_KEY_ID 2
#define DEVICE_AD "chartsync-device-v1:"

/* Replication (schema 2): the organisation this store belongs to, with
 * its admin key pinned; every roster accepted, newest last (oid: its
 * commit, NULL in the admin's store until committed); the admin's own
 * secrets, in the admin's store only; and how far each device's chain of
 * batches has been applied. */
#define REPLICA_SQL \
	"CREATE TABLE IF NOT EXISTS org(id INTEGER PRIMARY KEY CHECK (id = 1)," \
	" org TEXT NOT NULL, admin BLOB NOT NULL);" \
	"CREATE TABLE IF NOT EXISTS rosters(seq INTEGER PRIMARY KEY, body BLOB NOT NULL," \
	" signature BLOB NOT NULL, oid TEXT);" \
	"CREATE TABLE IF NOT EXISTS org_secret(id INTEGER PRIMARY KEY CHECK (id = 1)," \
	" admin BLOB NOT NULL, keyring BLOB NOT NULL);" \
	"CREATE TABLE IF NOT EXISTS progress(device TEXT PRIMARY KEY, seq INTEGER NOT NULL," \
	" prev BLOB NOT NULL, oid TEXT NOT NULL) WITHOUT ROWID;"

/* Attachment bytes by sync (schema 3): the attachments this store made
 * whose chunks are not all in the archive yet, in the order they were
 * made (`sent`: how many of its `chunks` the archive has), and how far
 * each other device's chain of chunk commits has been read. */
#define BLOBSYNC_SQL \
	"CREATE TABLE IF NOT EXISTS blob_outbox(sha256 BLOB NOT NULL UNIQUE," \
	" chunks INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0);" \
	"CREATE TABLE IF NOT EXISTS blob_progress(device TEXT PRIMARY KEY," \
	" oid TEXT NOT NULL) WITHOUT ROWID;"

/* Coding (schema 3): the code lists a site imported (ICD-10-CM, HCPCS,
 * CPT numbers) for flagging codes no list knows; local to this store, as
 * each site imports CMS's files itself. */
#define CODING_SQL \
	"CREATE TABLE IF NOT EXISTS code_lists(system TEXT NOT NULL, code TEXT NOT NULL," \
	" description TEXT NOT NULL, billable INTEGER NOT NULL, PRIMARY KEY (system, code))" \
	" WITHOUT ROWID;"

/* Schema 4. A device's batches by their sequence: every save finds the
 * last batch of this device to chain the next one to it, and without
 * this index that read every batch the store holds, its own and every
 * other site's, so each save grew slower with the organisation's age.
 * The fee schedule's lines: coding a procedure looks its fee up, and
 * found it by reading every record of the store. The removed records:
 * `status` counts the live ones as all minus those, instead of reading
 * every record. Partial indexes cost nothing when other records are
 * written. */
#define SCHEMA4_SQL \
	"CREATE INDEX IF NOT EXISTS batches_device ON batches(device, dseq);" \
	"CREATE INDEX IF NOT EXISTS records_fee ON records(type) WHERE type = 'fee';" \
	"CREATE INDEX IF NOT EXISTS records_deleted ON records(deleted) WHERE deleted;"

/* Schema 5. Service users (users.c): a daemon's sign-in, which syncs and
 * takes in scans but never reads or changes a chart. */
#define SCHEMA5_SQL \
	"ALTER TABLE users ADD COLUMN service INTEGER NOT NULL DEFAULT 0;"

/* Schema 6. Merged charts (client/identity): a patient merged into
 * another keeps the id of the one it was merged into here, as `mrn`
 * keeps its chart number, so the tombstones, and the patients merged into
 * one, are found by index at every sync and lookup. No store before
 * schema 6 holds a merge, so there is nothing to fill in. */
#define SCHEMA6_SQL \
	"ALTER TABLE records ADD COLUMN merged_into BLOB;" \
	"CREATE INDEX IF NOT EXISTS records_merged ON records(merged_into)" \
	" WHERE merged_into IS NOT NULL;" \
	SCHEMA6_INDEXES

/* The verdicts on pairs and the acts of merging, read by type (as the
 * fee schedule's lines are). */
#define SCHEMA6_INDEXES \
	"CREATE INDEX IF NOT EXISTS records_link ON records(type)" \
	" WHERE type = 'patient_link';" \
	"CREATE INDEX IF NOT EXISTS records_merge_act ON records(type)" \
	" WHERE type = 'patient_merge';"

/* Schema 7 (tests/client/store/test_plans.c found each read of every row):
 * the archive's tampering events, which every sync and `status` list,
 * read by type, as the fee schedule's lines are (a store holds few or
 * none); the visits, which the coding queue reads to find those queued,
 * read by type instead of among every record (one entry per visit; the
 * records upsert sets every column, type too, so an edit of a visit
 * rewrites its entry as it rewrites its patient's); and the
 * rosters not yet committed to git (only the admin's, briefly), which
 * every sync looked for by reading every roster, bodies and all. Partial
 * indexes: no other record and no published roster has an entry. */
#define SCHEMA7_SQL \
	"CREATE INDEX IF NOT EXISTS records_archive_event ON records(type)" \
	" WHERE type = 'archive_event';" \
	"CREATE INDEX IF NOT EXISTS records_visit ON records(type)" \
	" WHERE type = 'encounter';" \
	"CREATE INDEX IF NOT EXISTS rosters_unpublished ON rosters(seq) WHERE oid IS NULL;"

/* Schema 8: no `flags` table. Applying a received change wrote a row
 * there for each field that failed its form check, and no statement ever
 * read one: the consistency report runs the check itself over what the
 * store holds (client/reports). The rows cost every pull a form check
 * per field and a write per problem. */
#define SCHEMA8_SQL "DROP TABLE IF EXISTS flags;"

static const char *const schema_sql =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
	" WITHOUT ROWID;"
	"CREATE TABLE users(name TEXT PRIMARY KEY, admin INTEGER NOT NULL,"
	" created INTEGER NOT NULL, service INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	"CREATE TABLE device(id INTEGER PRIMARY KEY CHECK (id = 1),"
	" public BLOB NOT NULL, secret BLOB NOT NULL);"
	/* Records: the merged state of each record, recomputed from its
	 * changes whenever one arrives. Rowid tables: rows are larger than
	 * WITHOUT ROWID suits, and appends are cheap. */
	"CREATE TABLE records(id BLOB NOT NULL UNIQUE, type TEXT NOT NULL,"
	" patient BLOB, encounter BLOB, deleted INTEGER NOT NULL,"
	" review INTEGER NOT NULL, heads BLOB NOT NULL, state BLOB NOT NULL,"
	" hash BLOB NOT NULL, mrn TEXT, merged_into BLOB);"
	"CREATE INDEX records_patient ON records(patient) WHERE patient IS NOT NULL;"
	"CREATE INDEX records_encounter ON records(encounter) WHERE encounter IS NOT NULL;"
	"CREATE INDEX records_mrn ON records(mrn) WHERE mrn IS NOT NULL;"
	"CREATE INDEX records_review ON records(review) WHERE review;"
	"CREATE INDEX records_merged ON records(merged_into) WHERE merged_into IS NOT NULL;"
	/* Changes, exactly as encoded (the id is the hash of body). */
	"CREATE TABLE changes(id BLOB NOT NULL UNIQUE, record BLOB NOT NULL,"
	" batch INTEGER NOT NULL, body BLOB NOT NULL);"
	"CREATE INDEX changes_record ON changes(record);"
	/* Batches: seq is the order they reached this store; local batches
	 * are ours, dseq counts a device's batches. */
	"CREATE TABLE batches(seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE,"
	" device TEXT NOT NULL, dseq INTEGER NOT NULL, manifest BLOB NOT NULL,"
	" signature BLOB NOT NULL, key BLOB NOT NULL, local INTEGER NOT NULL,"
	" sent INTEGER NOT NULL DEFAULT 0, received INTEGER NOT NULL);"
	"CREATE INDEX batches_unsent ON batches(seq) WHERE local AND NOT sent;"
	/* Attachments' bytes by content, in chunks. */
	"CREATE TABLE blobs(sha256 BLOB PRIMARY KEY, size INTEGER NOT NULL)"
	" WITHOUT ROWID;"
	"CREATE TABLE blob_chunks(sha256 BLOB NOT NULL, n INTEGER NOT NULL,"
	" data BLOB NOT NULL, PRIMARY KEY (sha256, n));"
	REPLICA_SQL BLOBSYNC_SQL CODING_SQL SCHEMA4_SQL SCHEMA6_INDEXES SCHEMA7_SQL;

const char *chs_store__schema_sql(void)
{
	return schema_sql;
}

/* ------------------------------------------------------------------ */
/* The connection's hooks                                               */

static int on_wal_commit(void *payload, sqlite3 *db, const char *name,
			 int frames)
{
	chs_store *s = payload;

	(void)db;
	(void)name;
	s->wal_frames = frames;
	return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* Opening the database                                                 */

static int store_paths(chs_store *s, const char *dir)
{
	if (!(s->dir = chs_util__strdup(dir)) ||
	    !(s->db_path = chs_util__path(dir, "store.db")) ||
	    !(s->slots_path = chs_util__path(dir, "keyslots")) ||
	    !(s->lock_path = chs_util__path(dir, "lock")))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return 0;
}

static int store_alloc(chs_store **out, const char *dir)
{
	chs_store *s = chs_calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	s->lock_fd = -1;
	if ((err = store_paths(s, dir)) < 0 ||
	    (err = chs_crypto_init()) < 0) {
		chs_store_free(s);
		return err;
	}
	*out = s;
	return 0;
}

/* Connection settings every open uses. Automatic checkpoints are off (the
 * wal hook replaces SQLite's), see lock.c. */
static int configure_connection(chs_store *s)
{
	int err;

	sqlite3_busy_timeout(s->db, CHS_BUSY_TIMEOUT_MS);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_wal_hook(s->db, on_wal_commit, s);
	if ((err = chs_store__exec(s, "PRAGMA temp_store=MEMORY;"
				       "PRAGMA mmap_size=0;"
				       "PRAGMA cache_size=-65536;"
				       "PRAGMA synchronous=FULL;"
				       "PRAGMA foreign_keys=ON;")) < 0)
		return err;
	return 0;
}

/* The database file's inode before and after SQLite opens it: equal, the
 * connection holds the file now at the path, and the writer lock refuses
 * writes once a rekey has put another file there (lock.c). */
static int open_db(chs_store *s, int create)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    SQLITE_OPEN_EXRESCODE | (create ? SQLITE_OPEN_CREATE : 0);
	struct stat before, after;
	int rc, err, had = stat(s->db_path, &before) == 0;

	if ((err = chs_vfs_new(&s->vfs, s->key)) < 0)
		return err;
	rc = sqlite3_open_v2(s->db_path, &s->db, flags, chs_vfs_name(s->vfs));
	if (rc != SQLITE_OK)
		return chs_store__sqlerr(s, rc, "opening");
	if (stat(s->db_path, &after) < 0 || (had && after.st_ino != before.st_ino))
		return chs_error_set(CHS_EBUSY,
				     "the store '%s' was re-keyed while it was being opened; try again",
				     s->dir);
	s->db_ino = after.st_ino;
	/* SQLite creates files 0644 and gives the -wal and -shm files the
	 * database's mode: keep them all to the owner. */
	if (create && chmod(s->db_path, 0600) < 0)
		return chs_error_set(CHS_EIO, "cannot protect '%s': %s", s->db_path,
				     strerror(errno));
	return configure_connection(s);
}

/* A new database: fix the page layout the VFS needs before anything is
 * written, then switch to WAL. The in-memory journal in between means
 * SQLite never creates a rollback journal file, even for the first
 * write (the VFS would refuse one anyway). */
static int format_db(chs_store *s)
{
	int reserve = CHS_VFS_RESERVE, rc, err;
	char *mode = NULL;

	if ((err = chs_store__exec(s, "PRAGMA page_size=4096;"
				       "PRAGMA journal_mode=MEMORY;")) < 0)
		return err;
	rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_RESERVE_BYTES,
				  &reserve);
	if (rc != SQLITE_OK)
		return chs_store__sqlerr(s, rc, "formatting");
	if ((err = chs_store__get_text(s, "PRAGMA journal_mode=WAL", NULL,
				       &mode)) < 0)
		return err;
	if (strcmp(mode, "wal") != 0)
		err = chs_error_set(CHS_ERROR,
				    "cannot switch the store '%s' to WAL mode",
				    s->dir);
	free(mode);
	return err;
}

static int check_wal_mode(chs_store *s)
{
	char *mode = NULL;
	int err;

	if ((err = chs_store__get_text(s, "PRAGMA journal_mode", NULL,
				       &mode)) < 0)
		return err;
	if (strcmp(mode, "wal") != 0)
		err = chs_error_set(CHS_EDAMAGED,
				    "the store '%s' is damaged (not in WAL mode)",
				    s->dir);
	free(mode);
	return err;
}

/* ------------------------------------------------------------------ */
/* The device identity                                                  */

static void device_ad(const chs_store *s, unsigned char *ad)
{
	memcpy(ad, DEVICE_AD, sizeof(DEVICE_AD) - 1);
	memcpy(ad + sizeof(DEVICE_AD) - 1, s->store_id, 32);
}

int chs_store__device_seal(const chs_store *s, const unsigned char *store_key,
			   unsigned char out[CHS_STORE_DEVICE_SEALED])
{
	unsigned char ad[sizeof(DEVICE_AD) - 1 + 32];
	unsigned char *wrap_key = chs_secret_alloc(CHS_KEY_BYTES);

	if (!wrap_key)
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	chs_key_derive(wrap_key, store_key, DEVICE_KEY_ID, "device-k");
	device_ad(s, ad);
	chs_aead_seal(out, chs_identity_secret(s->identity), CHS_SIGN_SK_BYTES, ad,
		      sizeof(ad), wrap_key);
	chs_secret_free(wrap_key);
	return 0;
}

static int device_save(chs_store *s)
{
	unsigned char sealed[CHS_STORE_DEVICE_SEALED];
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__device_seal(s, s->key, sealed)) < 0)
		return err;
	if ((err = chs_store__prepare(s, &st,
		     "INSERT INTO device(id, public, secret) VALUES (1, ?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, chs_identity_public(s->identity),
					CHS_SIGN_PK_BYTES)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, sealed, sizeof(sealed))) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving the device key");
}

static int device_unwrap(chs_store *s, const void *sealed, int len)
{
	unsigned char ad[sizeof(DEVICE_AD) - 1 + 32];
	unsigned char *wrap_key = chs_secret_alloc(CHS_KEY_BYTES);
	unsigned char *sk = chs_secret_alloc(CHS_SIGN_SK_BYTES);
	int err;

	if (!wrap_key || !sk) {
		err = chs_error_set(CHS_ENOMEM, "out of secure memory");
		goto done;
	}
	if (len != (int)(CHS_SIGN_SK_BYTES + CHS_AEAD_OVERHEAD)) {
		err = chs_error_set(CHS_EDAMAGED, "the device key of store '%s' is damaged",
				    s->dir);
		goto done;
	}
	chs_key_derive(wrap_key, s->key, DEVICE_KEY_ID, "device-k");
	device_ad(s, ad);
	if ((err = chs_aead_open(sk, sealed, (size_t)len, ad, sizeof(ad),
				 wrap_key)) < 0) {
		err = chs_error_set(CHS_EDAMAGED, "the device key of store '%s' is damaged",
				    s->dir);
		goto done;
	}
	err = chs_identity_from_secret(&s->identity, sk);
done:
	chs_secret_free(wrap_key);
	chs_secret_free(sk);
	return err;
}

static int device_load(chs_store *s)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "SELECT secret FROM device WHERE id = 1")) < 0)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = device_unwrap(s, sqlite3_column_blob(st, 0),
				    sqlite3_column_bytes(st, 0));
	else if (rc == SQLITE_DONE)
		err = chs_error_set(CHS_EDAMAGED,
				    "the store '%s' is damaged (no device key)", s->dir);
	else
		err = chs_store__sqlerr(s, rc, "reading the device key");
	chs_store__finish(s, st);
	if (err == 0)
		chs_identity_device_id(s->identity, s->device_id);
	return err;
}

/* ------------------------------------------------------------------ */
/* Create                                                               */

/* mkdir -p, with new folders readable by their owner only. */
static int make_dir(const char *dir)
{
	char *path = chs_util__strdup(dir), *p;
	struct stat sb;
	int err = 0;

	if (!path)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (!*path) {
		free(path);
		return chs_error_set(CHS_EINVALID, "the store folder name is empty");
	}
	for (p = path + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 &&
		    !(errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))) {
			err = chs_error_set(CHS_EIO, "cannot create the folder '%s': %s",
					    path, strerror(errno));
			break;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(path);
	return err;
}

/* DIR/init.pending exists from the first byte init writes until its key
 * slots are in place: only what an interrupted init left is ever removed. */
#define INIT_MARKER "init.pending"

static void remove_leftovers(chs_store *s)
{
	static const char *const names[] = { "store.db", "store.db-wal", "store.db-shm" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = chs_util__path(s->dir, names[i]);

		if (p)
			unlink(p);
		free(p);
	}
}

static int refuse_existing(chs_store *s)
{
	char *marker = chs_util__path(s->dir, INIT_MARKER);
	int interrupted, fd;

	if (!marker)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	interrupted = access(marker, F_OK) == 0;
	if (access(s->slots_path, F_OK) == 0) {
		free(marker);
		return chs_error_set(CHS_EEXISTS, "there is already a store in '%s'", s->dir);
	}
	if (access(s->db_path, F_OK) == 0 && !interrupted) {
		free(marker);
		return chs_error_set(CHS_EEXISTS,
				     "'%s' holds a store.db that chartsync did not make; choose another folder",
				     s->dir);
	}
	if (interrupted)
		remove_leftovers(s);
	fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	free(marker);
	if (fd < 0)
		return chs_error_set(CHS_EIO, "cannot write in '%s': %s", s->dir, strerror(errno));
	close(fd);
	return 0;
}

static void init_done(chs_store *s)
{
	char *marker = chs_util__path(s->dir, INIT_MARKER);

	if (marker)
		unlink(marker);
	free(marker);
}

static int insert_meta(chs_store *s, const chs_store_create_opts *opts)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "INSERT INTO meta(key, value) VALUES ('store_id', ?1),"
		     " ('schema', ?2), ('created', ?3);"
		     )) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, s->store_id)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 2, CHS_STORE_SCHEMA)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 3, chs_util__now())) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE)
		return chs_store__sqlerr(s, rc, "creating");
	if ((err = chs_store__prepare(s, &st,
		     "INSERT INTO users(name, admin, created) VALUES (?, 1, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, s->user)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 2, chs_util__now())) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE)
		return chs_store__sqlerr(s, rc, "creating");
	if (opts->terminal)
		return chs_store__config_put(s, "terminal.name", opts->terminal);
	return 0;
}

static int create_db(chs_store *s, const chs_store_create_opts *opts)
{
	int err;

	if ((err = open_db(s, 1)) < 0 || (err = format_db(s)) < 0 ||
	    (err = chs_identity_new(&s->identity)) < 0)
		return err;
	chs_identity_device_id(s->identity, s->device_id);
	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = chs_store__exec(s, schema_sql)) < 0 ||
	    (err = insert_meta(s, opts)) < 0 || (err = device_save(s)) < 0) {
		chs_store__rollback(s);
		return err;
	}
	return chs_store__commit(s);
}

static int write_first_slot(chs_store *s, const chs_store_create_opts *opts)
{
	chs_slot_file sf;
	chs_slot slot;
	int err;

	memset(&sf, 0, sizeof(sf));
	memcpy(sf.store_id, s->store_id, sizeof(sf.store_id));
	if ((err = chs_slot_wrap(&slot, s->key, s->store_id, s->user,
				 opts->passphrase, opts->passphrase_len,
				 &s->kdf)) < 0 ||
	    (err = chs_store__slots_put(&sf, s->user, &slot)) < 0 ||
	    (err = chs_store__slots_write(&sf, s->slots_path)) < 0)
		goto done;
done:
	chs_store__slots_dispose(&sf);
	return err;
}

static int check_create_opts(const chs_store_create_opts *opts)
{
	int err;

	if (!opts->user)
		return chs_error_set(CHS_EINVALID, "no user name given");
	if ((err = chs_store__check_user_name(opts->user)) < 0)
		return err;
	if (!opts->passphrase || opts->passphrase_len == 0)
		return chs_error_set(CHS_EINVALID, "the passphrase is empty");
	if (opts->kdf && (err = chs_kdf_params_check(opts->kdf)) < 0)
		return err;
	return 0;
}

/* A store is opened only by the user whose folder it is. Two users
 * opening one store at once would not share its locks: each keeps the
 * wal-index in a /dev/shm folder of its own (crypto/shmdir.c), and SQLite
 * then corrupts the database as surely as with two WAL indexes beside it.
 * And root writing in the service user's folder leaves files the service
 * can no longer open. git refuses a repository another user owns for a
 * like reason. A folder that does not exist yet is anyone's to create. */
static int owner_check(const char *dir)
{
	struct stat st;
	struct passwd *pw;
	char owner[64];

	if (stat(dir, &st) < 0 || st.st_uid == geteuid())
		return 0;
	if ((pw = getpwuid(st.st_uid)) != NULL && pw->pw_name)
		snprintf(owner, sizeof(owner), "%s", pw->pw_name);
	else
		snprintf(owner, sizeof(owner), "%lu", (unsigned long)st.st_uid);
	return chs_error_set(CHS_EDENIED,
			     "the store in '%s' belongs to the user '%s', not to you"
			     " ('%s'): run chartsync as that user (runuser -u %s -- chartsync"
			     " ...), so the store's files stay its own and everyone who opens it"
			     " shares its locks", dir, owner, chs_login_name(), owner);
}

int chs_store_create(chs_store **out, const char *dir,
		     const chs_store_create_opts *opts)
{
	unsigned char id[16];
	chs_store *s = NULL;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(dir);
	CHS_ASSERT_ARG(opts);

	*out = NULL;
	if ((err = check_create_opts(opts)) < 0 || (err = owner_check(dir)) < 0 ||
	    (err = store_alloc(&s, dir)) < 0)
		return err;
	if (opts->kdf)
		s->kdf = *opts->kdf;
	else
		chs_kdf_params_default(&s->kdf);
	s->admin = 1;
	chs_random(id, sizeof(id));
	chs_hex(s->store_id, id, sizeof(id));
	if (!(s->user = chs_util__strdup(opts->user)) ||
	    !(s->key = chs_key_new())) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = make_dir(dir)) < 0 || (err = chs_store__lock_open(s)) < 0 ||
	    (err = chs_store__lock(s)) < 0)
		goto fail;
	/* The key slots are written last: until they exist, nothing here is
	 * a store, and an interrupted init is simply redone. */
	if ((err = refuse_existing(s)) < 0 || (err = create_db(s, opts)) < 0 ||
	    (err = write_first_slot(s, opts)) < 0)
		goto fail;
	init_done(s);
	chs_store__unlock(s);
	*out = s;
	return 0;
fail:
	chs_store_free(s);
	return err;
}

/* ------------------------------------------------------------------ */
/* Open                                                                 */

static int wrong_user_or_passphrase(chs_store *s)
{
	return chs_error_set(CHS_EAUTH, "wrong user or passphrase for store '%s'",
			     s->dir);
}

/* Spend the same Argon2id work an existing slot would (the first slot's
 * parameters), so the time taken does not tell an unknown user from a
 * wrong passphrase. */
static void burn_kdf(const chs_slot_file *sf, const char *pass, size_t passlen)
{
	unsigned char key[CHS_KEY_BYTES];
	chs_slot slot;

	memset(&slot, 0, sizeof(slot));
	if (sf->count > 0)
		slot.kdf = sf->entries[0].slot.kdf;
	else
		chs_kdf_params_default(&slot.kdf);
	chs_slot_unwrap(key, &slot, "", "", pass, passlen);
	chs_wipe(key, sizeof(key));
}

static int unwrap_key(chs_store *s, const char *pass, size_t passlen)
{
	chs_slot_file sf;
	chs_slot_entry *e;
	int err;

	if ((err = chs_store__slots_read(&sf, s->slots_path)) < 0) {
		if (err == CHS_ENOTFOUND)
			err = chs_error_set(CHS_ENOTSTORE,
					    "there is no chartsync store in '%s' (create one with 'chartsync init')",
					    s->dir);
		return err;
	}
	memcpy(s->store_id, sf.store_id, sizeof(s->store_id));
	e = chs_store__slots_find(&sf, s->user);
	if (!(s->key = chs_secret_alloc(CHS_KEY_BYTES))) {
		err = chs_error_set(CHS_ENOMEM, "out of secure memory");
	} else if (!e) {
		burn_kdf(&sf, pass, passlen);
		err = wrong_user_or_passphrase(s);
	} else if ((err = chs_slot_unwrap(s->key, &e->slot, s->store_id,
					  s->user, pass, passlen)) < 0) {
		if (err == CHS_EAUTH)
			err = wrong_user_or_passphrase(s);
	} else {
		s->kdf = e->slot.kdf;
		s->slot_version = e->slot.version;
	}
	chs_store__slots_dispose(&sf);
	return err;
}

static int set_schema_version(chs_store *s)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "UPDATE meta SET value = ?1 WHERE key = 'schema'")) < 0)
		return err;
	if ((err = chs_store__bind_int64(s, st, 1, CHS_STORE_SCHEMA)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "upgrading the store");
}

/* ALTER TABLE has no IF NOT EXISTS for columns. */
static int add_service_column(chs_store *s)
{
	int64_t has = 0;
	int err;

	if ((err = chs_store__get_int(s, "SELECT count(*) FROM pragma_table_info('users')"
					  " WHERE name = 'service'", &has)) < 0)
		return err;
	return has ? 0 : chs_store__exec(s, SCHEMA5_SQL);
}

static int add_merged_column(chs_store *s)
{
	int64_t has = 0;
	int err;

	if ((err = chs_store__get_int(s, "SELECT count(*) FROM pragma_table_info('records')"
					  " WHERE name = 'merged_into'", &has)) < 0)
		return err;
	return has ? 0 : chs_store__exec(s, SCHEMA6_SQL);
}

/* A store made by schema 1 gains the replication tables; one made by
 * schema 1 or 2 the attachment and coding tables, with every attachment
 * it holds to send (before schema 3 no attachment bytes travelled: all
 * are its own); one made by schema 1 to 3 the indexes of batches by
 * device, of fee lines and of removed records; one made by schema 1 to 4
 * the service flag of users; one made by schema 1 to 5 the merged charts'
 * pointers; one made by schema 1 to 6 the indexes of archive events, of
 * visits and of unpublished rosters. The version is read again under the write lock: another
 * process may have upgraded the store meanwhile. */
static int upgrade(chs_store *s)
{
	int64_t from = 0;
	int err;

	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = chs_store__get_int(s, "SELECT CAST(value AS INTEGER) FROM meta"
					  " WHERE key = 'schema'", &from)) < 0)
		goto fail;
	if (from < 3 && (err = chs_store__exec(s, REPLICA_SQL BLOBSYNC_SQL CODING_SQL
				"INSERT OR IGNORE INTO blob_outbox(sha256, chunks)"
				" SELECT sha256, (size + 1048575) / 1048576 FROM blobs"
				" WHERE size > 0;")) < 0)
		goto fail;
	if (from < 4 && (err = chs_store__exec(s, SCHEMA4_SQL)) < 0)
		goto fail;
	if (from < 5 && (err = add_service_column(s)) < 0)
		goto fail;
	if (from < 6 && (err = add_merged_column(s)) < 0)
		goto fail;
	if (from < 7 && (err = chs_store__exec(s, SCHEMA7_SQL)) < 0)
		goto fail;
	if (from < 8 && (err = chs_store__exec(s, SCHEMA8_SQL)) < 0)
		goto fail;
	if (from < CHS_STORE_SCHEMA && (err = set_schema_version(s)) < 0)
		goto fail;
	return chs_store__commit(s);
fail:
	chs_store__rollback(s);
	return err;
}

/* Inside the encrypted database: the same store, a known schema, and the
 * user still on the list (a removed user's old slot file opens nothing). */
static int verify_opened(chs_store *s)
{
	char *id = NULL, *schema = NULL, *flags = NULL;
	int err;

	if ((err = check_wal_mode(s)) < 0 ||
	    (err = chs_store__get_text(s, "SELECT value FROM meta WHERE key = 'store_id'",
				       NULL, &id)) < 0 ||
	    (err = chs_store__get_text(s, "SELECT value FROM meta WHERE key = 'schema'",
				       NULL, &schema)) < 0)
		goto done;
	if (strcmp(id, s->store_id) != 0) {
		err = chs_error_set(CHS_EDAMAGED,
				    "the key slots of '%s' belong to another store", s->dir);
		goto done;
	}
	if (strtol(schema, NULL, 10) < CHS_STORE_SCHEMA && (err = upgrade(s)) < 0)
		goto done;
	if (strtol(schema, NULL, 10) > CHS_STORE_SCHEMA) {
		err = chs_error_set(CHS_ERROR,
				    "the store '%s' was made by a newer chartsync; upgrade chartsync",
				    s->dir);
		goto done;
	}
	/* admin 0 or 1, service 0 or 1: one digit each */
	err = chs_store__get_text(s, "SELECT (admin != 0) || (service != 0) FROM users"
				  " WHERE name = ?", s->user, &flags);
	if (err == CHS_ENOTFOUND) {
		err = wrong_user_or_passphrase(s);
	} else if (err == 0) {
		s->service = flags[0] && flags[1] == '1';
		/* a service is never an admin, whatever the row says */
		s->admin = flags[0] == '1' && !s->service;
	}
done:
	if (err == CHS_ENOTFOUND)
		err = chs_error_set(CHS_EDAMAGED, "the store '%s' is damaged (missing settings)",
				    s->dir);
	free(id);
	free(schema);
	free(flags);
	return err;
}

/* A version 1 slot cannot take a new key from `rekey`: now that its user
 * has given the passphrase, make it a version 2 slot. Best effort: the
 * store is open either way, and the next open tries again. */
static void upgrade_slot(chs_store *s, const char *pass, size_t passlen)
{
	if (s->slot_version >= 2)
		return;
	/* Never wait behind another program's long write to do it. */
	if (chs_store__trylock(s) == 0) {
		if (chs_store__slot_set(s, s->user, pass, passlen) == 0)
			s->slot_version = 2;
		chs_store__unlock(s);
	}
	chs_error_clear();
}

/* Which files the database and the key slots are now: a rekey in another
 * process replaces both (client/store/rekey.c). */
static void files_now(const chs_store *s, struct stat *db, struct stat *slots)
{
	if (stat(s->db_path, db) < 0)
		memset(db, 0, sizeof(*db));
	if (stat(s->slots_path, slots) < 0)
		memset(slots, 0, sizeof(*slots));
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int open_existing(chs_store *s, const char *pass, size_t passlen)
{
	struct stat sb, db0, slots0, db1, slots1;
	int err, retried = 0;

	if ((err = chs_store__lock_open(s)) < 0)
		return err;
again:
	files_now(s, &db0, &slots0);
	if ((err = chs_store__rekey_recover(s)) < 0 ||
	    (err = unwrap_key(s, pass, passlen)) < 0)
		return err;
	if (stat(s->db_path, &sb) < 0)
		return chs_error_set(CHS_EDAMAGED,
				     "the store '%s' is damaged: its database is missing",
				     s->dir);
	/* The first reads: page 1 under the key the slot gave. */
	if ((err = open_db(s, 0)) == 0)
		err = check_wal_mode(s);
	/* A rekey that finished while this open read the old key slots: read
	 * them again, once, rather than call a healthy store damaged. */
	if (err == CHS_EDAMAGED && !retried) {
		files_now(s, &db1, &slots1);
		if (!same_file(&db0, &db1) || !same_file(&slots0, &slots1)) {
			retried = 1;
			chs_store__close_db(s);
			chs_secret_free(s->key);
			s->key = NULL;
			chs_error_clear();
			goto again;
		}
	}
	if (err == CHS_EDAMAGED)
		err = chs_error_set(CHS_EDAMAGED,
				    "the store '%s' does not decrypt with the key its key slots hold: "
				    "the store is damaged, or 'keyslots' is older than its last rekey; "
				    "restore the store from a backup ('chartsync restore BACKUP DIR')",
				    s->dir);
	if (err < 0 || (err = verify_opened(s)) < 0 || (err = device_load(s)) < 0)
		return err;
	upgrade_slot(s, pass, passlen);
	return 0;
}

int chs_store__open_db(chs_store *s)
{
	return open_db(s, 0);
}

void chs_store__close_db(chs_store *s)
{
	if (s->db) {
		chs_store__finish_all(s);
		sqlite3_close_v2(s->db);
	}
	s->db = NULL;
	chs_vfs_free(s->vfs);
	s->vfs = NULL;
}

int chs_store_open(chs_store **out, const char *dir, const char *user,
		   const char *passphrase, size_t passphrase_len)
{
	chs_store *s = NULL;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(dir);
	CHS_ASSERT_ARG(passphrase || passphrase_len == 0);

	*out = NULL;
	if ((err = owner_check(dir)) < 0 || (err = store_alloc(&s, dir)) < 0)
		return err;
	if (user)
		s->user = chs_util__strdup(user);
	else if ((err = chs_store_default_user(&s->user, dir)) < 0)
		goto fail;
	if (!s->user) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((err = open_existing(s, passphrase, passphrase_len)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	chs_store_free(s);
	return err;
}

int chs_store_probe(const char *dir)
{
	char *slots;
	int there;

	CHS_ASSERT_ARG(dir);

	slots = chs_util__path(dir, "keyslots");
	if (!slots)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	there = access(slots, F_OK) == 0;
	free(slots);
	if (!there)
		return chs_error_set(CHS_ENOTSTORE,
				     "there is no chartsync store in '%s' (create one with 'chartsync init')",
				     dir);
	return owner_check(dir);
}

int chs_store_default_user(char **out, const char *dir)
{
	chs_slot_file sf;
	char *slots;
	const char *name = chs_login_name();

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(dir);

	slots = chs_util__path(dir, "keyslots");
	*out = NULL;
	if (!slots)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (chs_store__slots_read(&sf, slots) == 0) {
		if (sf.count == 1)
			*out = chs_util__strdup(sf.entries[0].user);
		chs_store__slots_dispose(&sf);
	}
	chs_error_clear();
	free(slots);
	if (!*out)
		*out = chs_util__strdup(name);
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------------ */
/* Close and accessors                                                  */

static void close_db(chs_store *s)
{
	if (!s->db)
		return;
	chs_store__finish_all(s);
	/* The last connection to close checkpoints the WAL: do it under the
	 * writer lock, or not at all. Never wait for the lock here: a reader
	 * must not hang behind another process's long import, and whoever
	 * holds the lock checkpoints after it. */
	if (chs_store__trylock(s) < 0) {
		sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		sqlite3_close_v2(s->db);
	} else {
		sqlite3_close_v2(s->db);
		chs_store__unlock(s);
	}
	s->db = NULL;
}

void chs_store_free(chs_store *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0) {
		close_db(s);
	} else if (s->db) {
		chs_store__finish_all(s);
		sqlite3_close_v2(s->db);
	}
	chs_vfs_free(s->vfs);
	chs_store__lock_close(s);
	chs_identity_free(s->identity);
	chs_secret_free(s->key);
	free(s->dir);
	free(s->db_path);
	free(s->slots_path);
	free(s->lock_path);
	free(s->user);
	free(s);
}

const char *chs_store_user(const chs_store *s)
{
	return s->user;
}

int chs_store_user_is_admin(const chs_store *s)
{
	return s->admin;
}

int chs_store_user_is_service(const chs_store *s)
{
	return s->service;
}

const char *chs_store_path(const chs_store *s)
{
	return s->dir;
}

const char *chs_store_id(const chs_store *s)
{
	return s->store_id;
}

const char *chs_store_device_id(const chs_store *s)
{
	return s->device_id;
}

const chs_identity *chs_store_identity(const chs_store *s)
{
	return s->identity;
}

/* ------------------------------------------------------------------ */
/* Check                                                                */

/* Copy the WAL into the database first, so every committed page is read
 * and verified on its way (a damaged WAL frame would otherwise only end
 * SQLite's recovery quietly), then verify every page of the database
 * file. The page scan reads the file without SQLite's locks, so it runs
 * under the writer lock, which also keeps checkpoints away. */
int chs_store_verify_pages(chs_store *s)
{
	uint32_t bad = 0;
	int rc, err;

	CHS_ASSERT_ARG(s);

	if ((err = chs_store__lock(s)) < 0)
		return err;
	rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_TRUNCATE,
				       NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		chs_store__unlock(s);
		return chs_store__sqlerr(s, rc, "checking");
	}
	rc = sqlite3_file_control(s->db, "main", CHS_VFS_FCNTL_VERIFY, &bad);
	chs_store__unlock(s);
	if (rc != SQLITE_OK)
		return chs_error_set(CHS_EDAMAGED,
				     "the store '%s' is damaged: page %u does not decrypt; "
				     "restore it from a backup into a new folder ('chartsync restore BACKUP DIR')",
				     s->dir, (unsigned)bad);
	return 0;
}

/* `status` says when the store was last found intact. */
static int note_checked(chs_store *s)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = chs_store__prepare(s, &st, "INSERT OR REPLACE INTO meta(key, value)"
					      " VALUES ('checked', ?)")) < 0)
		goto fail;
	if ((err = chs_store__bind_int64(s, st, 1, chs_util__now())) < 0) {
		chs_store__finish(s, st);
		goto fail;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE) {
		err = chs_store__sqlerr(s, rc, "noting the check");
		goto fail;
	}
	return chs_store__commit(s);
fail:
	chs_store__rollback(s);
	return err;
}

/* Every page, then SQLite's own structure check; the time of a check that
 * found the store intact is kept in it. */
int chs_store_check(chs_store *s)
{
	char *result = NULL;
	int err;

	CHS_ASSERT_ARG(s);

	if ((err = chs_store_verify_pages(s)) < 0)
		return err;
	if ((err = chs_store__get_text(s, "PRAGMA quick_check", NULL,
				       &result)) < 0)
		return err;
	if (strcmp(result, "ok") != 0)
		err = chs_error_set(CHS_EDAMAGED, "the store '%s' is damaged: %s",
				    s->dir, result);
	free(result);
	return err < 0 ? err : note_checked(s);
}
