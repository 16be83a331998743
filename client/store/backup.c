/*
 * Backups of a store, and a store restored from one.
 *
 * A backup is a folder inside DEST, named after the UTC time it was made
 * (20261204T144512.345Z: names sort as times), holding
 *
 *   store.db       the database, copied page by page with SQLite's online
 *                  backup API through a VFS under the store key: every
 *                  page is read decrypted from the store and written
 *                  encrypted again (fresh nonces); nothing else is
 *                  written, temp_store=MEMORY and no journal
 *   keyslots       the key slots as they were at that moment
 *   manifest.json  format and version, store id, device id, when, the
 *                  store's state token, and each file's size and
 *                  BLAKE2b-256
 *
 * The copy is one read transaction of the store: other programs go on
 * writing (WAL), and the copy holds the state of one commit. The key
 * slots are read at the start of that transaction under the writer lock,
 * so no passphrase change or new user is half-way (the slot file and its
 * row are written under that lock); a rekey needs SQLite's exclusive lock,
 * which the read transaction keeps out until the copy is done.
 *
 * A backup is built in DEST/.tmp-NAME, synced, then renamed: a folder
 * whose name does not start with '.' and holds manifest.json is a whole
 * backup, nothing else is. One backup at a time writes into DEST (an
 * flock on DEST/.lock), which also lets it sweep what a killed backup
 * left.
 *
 * Cheap to repeat: every commit gives the store a new random state token
 * (sql.c). When the token, the store and the key slots' checksum equal the
 * newest backup's, nothing changed since, and nothing is written.
 *
 * A restore checks the manifest, copies each file while hashing it and
 * compares size and checksum, into DIR.restore-XXXXXX beside DIR; opens
 * the copy there and checks every page and SQLite's structure; then one
 * rename puts it at DIR. A failure at any step removes the temporary
 * folder: DIR is either the whole restored store or untouched. A restored
 * store is DIR/store.db and DIR/keyslots and nothing else (no git mirror:
 * the first sync fetches it again).
 */
#define _GNU_SOURCE /* realpath(), flock() */
#include "store_int.h"
#include "client/util/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKUP_FORMAT "chartsync-backup"
#define BACKUP_VERSION 1
#define MANIFEST "manifest.json"
#define MANIFEST_MAX (64 * 1024)
#define LAST_BACKUP "backup.json" /* in the store folder: for `status` */
#define TMP_PREFIX ".tmp-"
#define COPY_CHUNK (1 << 20)
#define HASH_HEX (2 * CHS_HASH_BYTES + 1)

/* The files of a backup, in the order they are written and checked. */
static const char *const backup_files[] = { "store.db", "keyslots" };
#define NFILES (sizeof(backup_files) / sizeof(backup_files[0]))

typedef struct file_sum {
	uint64_t size;
	char hash[HASH_HEX];
} file_sum;

/* ------------------------------------------------------------------ */
/* Files                                                                */

static char *join(const char *dir, const char *name)
{
	char *p = chs_util__path(dir, name);

	if (!p)
		chs_error_set(CHS_ENOMEM, "out of memory");
	return p;
}

/* Read `from` in chunks, hashing it, and (when `to_fd` >= 0) write it
 * there; the size and BLAKE2b-256 in `sum`. */
static int stream_file(const char *from, int to_fd, const char *to, file_sum *sum)
{
	unsigned char *buf = chs_malloc(COPY_CHUNK), digest[CHS_HASH_BYTES];
	chs_hash_state st;
	ssize_t n;
	int fd = -1, err = 0;

	memset(sum, 0, sizeof(*sum));
	if (!buf)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((fd = open(from, O_RDONLY | O_CLOEXEC)) < 0) {
		err = chs_error_set(errno == ENOENT ? CHS_ENOTFOUND : CHS_EIO,
				    "cannot read '%s': %s", from, strerror(errno));
		goto done;
	}
	chs_hash_init(&st);
	while ((n = chs_util__read_full(fd, buf, COPY_CHUNK)) > 0) {
		chs_hash_update(&st, buf, (size_t)n);
		sum->size += (uint64_t)n;
		if (to_fd >= 0 && chs_util__write_full(to_fd, buf, (size_t)n) < 0) {
			err = chs_error_set(CHS_EIO, "cannot write '%s': %s", to, strerror(errno));
			goto done;
		}
	}
	if (n < 0) {
		err = chs_error_set(CHS_EIO, "cannot read '%s': %s", from, strerror(errno));
		goto done;
	}
	chs_hash_final(&st, digest);
	chs_hex(sum->hash, digest, sizeof(digest));
done:
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}

/* Copy `from` to the new file `to` (mode 0600, synced), hashing it. */
static int copy_file(const char *from, const char *to, file_sum *sum)
{
	int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), err;

	if (fd < 0)
		return chs_error_set(CHS_EIO, "cannot create '%s': %s", to, strerror(errno));
	err = stream_file(from, fd, to, sum);
	if (err == 0 && fsync(fd) < 0)
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", to, strerror(errno));
	if (close(fd) < 0 && err == 0)
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", to, strerror(errno));
	return err;
}

/* Remove a folder of plain files (a backup, or a temporary one): the
 * manifest first, so a folder half removed never looks whole. */
static void remove_tree(const char *dir)
{
	char *p;
	DIR *d;
	struct dirent *e;

	if ((p = chs_util__path(dir, MANIFEST))) {
		unlink(p);
		free(p);
	}
	if ((d = opendir(dir))) {
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			if ((p = chs_util__path(dir, e->d_name))) {
				unlink(p);
				free(p);
			}
		}
		closedir(d);
	}
	rmdir(dir);
}

/* What opening a store leaves beside its files: never part of a backup
 * or of a restored store. */
static void remove_open_leftovers(const char *dir)
{
	static const char *const names[] = { "lock", "store.db-wal", "store.db-shm" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *p = chs_util__path(dir, names[i]);

		if (p)
			unlink(p);
		free(p);
	}
}

/* ------------------------------------------------------------------ */
/* Manifests                                                            */

typedef struct manifest {
	char store_id[33];
	char device_id[33];
	int64_t made;
	char *state;
	file_sum files[NFILES];
} manifest;

static void manifest_dispose(manifest *m)
{
	free(m->state);
	m->state = NULL;
}

static int damaged(const char *backup, const char *what)
{
	return chs_error_set(CHS_EDAMAGED,
			     "the backup '%s' is damaged (%s); use another backup", backup, what);
}

static int parse_manifest(manifest *m, json_t *root, const char *backup)
{
	const char *fmt = json_string_value(json_object_get(root, "format"));
	const char *store = json_string_value(json_object_get(root, "store"));
	const char *device = json_string_value(json_object_get(root, "device"));
	const char *state = json_string_value(json_object_get(root, "state"));
	json_t *ver = json_object_get(root, "version"), *made = json_object_get(root, "made");
	json_t *files = json_object_get(root, "files");
	unsigned char id[16], hash[CHS_HASH_BYTES];
	size_t i;

	if (!fmt || strcmp(fmt, BACKUP_FORMAT) != 0 || !json_is_integer(ver))
		return damaged(backup, "its manifest is not a chartsync backup manifest");
	if (json_integer_value(ver) != BACKUP_VERSION)
		return chs_error_set(CHS_EINVALID,
				     "the backup '%s' is of version %lld, which this chartsync does not read; upgrade chartsync",
				     backup, (long long)json_integer_value(ver));
	if (!store || strlen(store) != 32 || chs_unhex(id, sizeof(id), store) < 0 || !device ||
	    strlen(device) != 32 || chs_unhex(id, sizeof(id), device) < 0 || !state ||
	    !json_is_integer(made) || !json_is_object(files))
		return damaged(backup, "its manifest is incomplete");
	memcpy(m->store_id, store, 33);
	memcpy(m->device_id, device, 33);
	m->made = json_integer_value(made);
	if (!(m->state = chs_util__strdup(state)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (json_object_size(files) != NFILES)
		return damaged(backup, "its manifest lists other files than a backup holds");
	for (i = 0; i < NFILES; i++) {
		json_t *f = json_object_get(files, backup_files[i]);
		json_t *size = json_object_get(f, "size");
		const char *h = json_string_value(json_object_get(f, "blake2b"));

		if (!json_is_integer(size) || json_integer_value(size) < 0 || !h ||
		    strlen(h) != 2 * CHS_HASH_BYTES || chs_unhex(hash, sizeof(hash), h) < 0)
			return damaged(backup, "its manifest is incomplete");
		m->files[i].size = (uint64_t)json_integer_value(size);
		memcpy(m->files[i].hash, h, HASH_HEX);
	}
	return 0;
}

/* CHS_ENOTFOUND when `backup` has no manifest (not a backup), else the
 * manifest read or CHS_EDAMAGED. */
static int read_manifest(manifest *m, const char *backup)
{
	char *path = join(backup, MANIFEST), *text = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	int err;

	memset(m, 0, sizeof(*m));
	if (!path)
		return CHS_ENOMEM;
	if ((err = chs_file_read(path, MANIFEST_MAX, &text, NULL)) < 0) {
		if (err == CHS_EINVALID)
			err = damaged(backup, "its manifest is too large");
		goto done;
	}
	if (!(root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr)) || !json_is_object(root)) {
		err = damaged(backup, "its manifest is not JSON");
		goto done;
	}
	err = parse_manifest(m, root, backup);
done:
	if (err < 0)
		manifest_dispose(m);
	json_decref(root);
	free(text);
	free(path);
	return err;
}

static int write_manifest(const char *dir, const manifest *m)
{
	char *path = join(dir, MANIFEST), *text = NULL, when[32];
	json_t *root, *files;
	size_t i;
	int err = 0;

	if (!path)
		return CHS_ENOMEM;
	chs_util__ms_time(m->made * 1000, when);
	files = json_object();
	root = json_pack("{s:s, s:i, s:s, s:s, s:I, s:s, s:s, s:o}", "format", BACKUP_FORMAT,
			 "version", BACKUP_VERSION, "store", m->store_id, "device", m->device_id,
			 "made", (json_int_t)m->made, "made_utc", when, "state", m->state,
			 "files", files);
	for (i = 0; root && i < NFILES; i++)
		if (json_object_set_new(files, backup_files[i],
					json_pack("{s:I, s:s}", "size", (json_int_t)m->files[i].size,
						  "blake2b", m->files[i].hash)) < 0)
			break;
	if (!root || i < NFILES || !(text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	else
		err = chs_file_write(path, text, strlen(text), 0600);
	free(text);
	json_decref(root);
	free(path);
	return err;
}

/* ------------------------------------------------------------------ */
/* The backups in DEST                                                  */

typedef struct backup_list {
	char **names; /* sorted: oldest first */
	size_t count;
} backup_list;

static void list_dispose(backup_list *l)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		free(l->names[i]);
	free(l->names);
	memset(l, 0, sizeof(*l));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether `dir` is a whole backup (a manifest there) and, when
 * `store_id` is not NULL, one of that store (its manifest says so). */
static int is_backup(const char *dir, const char *store_id)
{
	char *m = chs_util__path(dir, MANIFEST);
	struct stat sb;
	manifest man;
	int yes;

	if (!m)
		return 0;
	yes = stat(m, &sb) == 0 && S_ISREG(sb.st_mode);
	free(m);
	if (yes && store_id) {
		yes = read_manifest(&man, dir) == 0 && strcmp(man.store_id, store_id) == 0;
		manifest_dispose(&man);
		chs_error_clear();
	}
	return yes;
}

/* Whole backups only: a folder not starting with '.' holding a manifest;
 * with `store_id`, only that store's (DEST may hold several stores'). */
static int list_backups(backup_list *l, const char *dest, const char *store_id)
{
	size_t cap = 0;
	struct dirent *e;
	DIR *d;
	int err = 0;

	memset(l, 0, sizeof(*l));
	if (!(d = opendir(dest)))
		return chs_error_set(errno == ENOENT ? CHS_ENOTFOUND : CHS_EIO,
				     "cannot read the backup folder '%s': %s", dest, strerror(errno));
	while (err == 0 && (e = readdir(d))) {
		char *dir;
		int whole;

		if (e->d_name[0] == '.')
			continue;
		if (!(dir = join(dest, e->d_name))) {
			err = CHS_ENOMEM;
			break;
		}
		whole = is_backup(dir, store_id);
		free(dir);
		if (!whole)
			continue;
		if ((err = CHS_ARRAY_GROW(l->names, cap, l->count + 1)) < 0)
			break;
		if (!(l->names[l->count] = chs_util__strdup(e->d_name)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			l->count++;
	}
	closedir(d);
	if (err < 0) {
		list_dispose(l);
		return err;
	}
	if (l->count > 1)
		qsort(l->names, l->count, sizeof(*l->names), by_name);
	return 0;
}

/* CHS_EINVALID, naming each store's newest backup, when the backups in
 * `dest` are of more than one store (stores may share a DEST): which one
 * to restore is the person's choice, never the newest by chance. */
static int manifest_of(manifest *m, const char *dest, const char *name)
{
	char *dir = join(dest, name);
	int err;

	memset(m, 0, sizeof(*m));
	if (!dir)
		return CHS_ENOMEM;
	err = read_manifest(m, dir);
	free(dir);
	return err;
}

static int one_store(const char *dest, const backup_list *l)
{
	manifest first, m;
	chs_buf names;
	size_t i;
	int err, stores = 1;

	if ((err = manifest_of(&first, dest, l->names[l->count - 1])) < 0) {
		manifest_dispose(&first);
		return err;
	}
	chs_buf_init(&names, 0);
	err = chs_buf_printf(&names, "'%s' (store %s, device %.8s)", l->names[l->count - 1],
			     first.store_id, first.device_id);
	for (i = l->count - 1; err == 0 && i-- > 0;) {
		if (manifest_of(&m, dest, l->names[i]) == 0 &&
		    strcmp(m.store_id, first.store_id) != 0 && !strstr(names.ptr, m.store_id)) {
			stores++;
			err = chs_buf_printf(&names, ", '%s' (store %s, device %.8s)", l->names[i],
					     m.store_id, m.device_id);
		}
		chs_error_clear();
		manifest_dispose(&m);
	}
	if (err == 0 && stores > 1)
		err = chs_error_set(CHS_EINVALID, "'%s' holds the backups of %d stores; give the backup"
				    " to restore, e.g. 'chartsync restore %s/%s DIR'. The newest of"
				    " each: %s", dest, stores, dest, l->names[l->count - 1], names.ptr);
	manifest_dispose(&first);
	chs_buf_dispose(&names);
	return err;
}

/* The backup `src` names: itself when it holds a manifest, else the
 * newest backup in it. `*out` malloc'ed. */
static int resolve_backup(const char *src, char **out)
{
	backup_list l;
	struct stat sb;
	char *m = join(src, MANIFEST);
	int err;

	*out = NULL;
	if (!m)
		return CHS_ENOMEM;
	if (stat(m, &sb) == 0) {
		free(m);
		*out = chs_util__strdup(src);
		return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
	}
	free(m);
	if ((err = list_backups(&l, src, NULL)) < 0)
		return err;
	if (l.count == 0)
		err = chs_error_set(CHS_ENOTFOUND,
				    "'%s' holds no chartsync backup (make one with 'chartsync backup DEST')",
				    src);
	else if ((err = one_store(src, &l)) == 0 && !(*out = join(src, l.names[l.count - 1])))
		err = CHS_ENOMEM;
	list_dispose(&l);
	return err;
}

/* Remove the oldest whole backups of this store beyond `keep`. */
static int keep_newest(const char *dest, const char *store_id, int keep, size_t *removed)
{
	backup_list l;
	size_t i;
	int err;

	if (keep <= 0 || (err = list_backups(&l, dest, store_id)) < 0)
		return keep <= 0 ? 0 : err;
	for (i = 0; i + (size_t)keep < l.count; i++) {
		char *p = join(dest, l.names[i]);

		if (!p) {
			err = CHS_ENOMEM;
			break;
		}
		remove_tree(p);
		free(p);
		(*removed)++;
	}
	list_dispose(&l);
	return err;
}

/* What a killed backup left (only ever touched under DEST's lock). */
static void sweep_tmp(const char *dest)
{
	struct dirent *e;
	DIR *d = opendir(dest);

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *p;

		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
			continue;
		if ((p = chs_util__path(dest, e->d_name))) {
			remove_tree(p);
			free(p);
		}
	}
	closedir(d);
}

/* DEST made if missing (its parent must exist), and its lock taken. */
static int lock_dest(const char *dest, int *fd)
{
	char *path;

	*fd = -1;
	if (mkdir(dest, 0700) < 0 && errno != EEXIST)
		return chs_error_set(CHS_EIO, "cannot create the backup folder '%s': %s", dest,
				     strerror(errno));
	if (!(path = join(dest, ".lock")))
		return CHS_ENOMEM;
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (*fd < 0)
		return chs_error_set(CHS_EIO, "cannot use the backup folder '%s': %s", dest,
				     strerror(errno));
	while (flock(*fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(*fd);
			*fd = -1;
			return chs_error_set(CHS_EIO, "cannot lock the backup folder '%s': %s",
					     dest, strerror(errno));
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Backup                                                               */

/* The state token of the last commit ("" before the first). */
static int read_state(chs_store *s, char **out)
{
	int err = chs_store__get_text(s, "SELECT value FROM meta WHERE key = 'state'", NULL,
				      out);

	if (err == CHS_ENOTFOUND) {
		chs_error_clear();
		*out = chs_util__strdup("");
		err = *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
	}
	return err;
}

/* Every page of the store's snapshot into the new file `to`, through a
 * VFS under the store key. The destination runs without a journal (the
 * file is new; a failure removes it) and with temp_store=MEMORY, so
 * SQLite writes nothing but the encrypted pages. */
static int copy_pages(chs_store *s, const char *to)
{
	int reserve = CHS_VFS_RESERVE, rc, fd, err = 0;
	chs_vfs *vfs = NULL;
	sqlite3 *db = NULL;
	sqlite3_backup *b;

	if ((fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return chs_error_set(CHS_EIO, "cannot create '%s': %s", to, strerror(errno));
	close(fd);
	if ((err = chs_vfs_new(&vfs, s->key)) < 0)
		return err;
	rc = sqlite3_open_v2(to, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
			     SQLITE_OPEN_EXRESCODE, chs_vfs_name(vfs));
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0;"
				      "PRAGMA page_size=4096; PRAGMA journal_mode=OFF;"
				      "PRAGMA synchronous=OFF;", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
	if (rc == SQLITE_OK) {
		if (!(b = sqlite3_backup_init(db, "main", s->db, "main"))) {
			rc = sqlite3_extended_errcode(db);
		} else {
			rc = sqlite3_backup_step(b, -1);
			if (rc == SQLITE_DONE)
				rc = SQLITE_OK;
			if (sqlite3_backup_finish(b) != SQLITE_OK && rc == SQLITE_OK)
				rc = sqlite3_extended_errcode(db);
		}
	}
	if (rc != SQLITE_OK)
		err = chs_error_set(rc == SQLITE_IOERR_DATA ? CHS_EDAMAGED : CHS_EIO,
				    "cannot copy the store '%s' into '%s' (%s%s%s)", s->dir, to,
				    sqlite3_errstr(rc), vfs && chs_vfs_problem(vfs) ? ": " : "",
				    vfs && chs_vfs_problem(vfs) ? chs_vfs_problem(vfs) : "");
	if (sqlite3_close(db) != SQLITE_OK && err == 0)
		err = chs_error_set(CHS_EIO, "cannot finish the copy '%s'", to);
	chs_vfs_free(vfs);
	if (err == 0)
		err = chs_util__fsync(to);
	return err;
}

/* The snapshot: one read transaction of the store, begun under the
 * writer lock together with the copy of the key slots, then every page. */
static int snapshot(chs_store *s, const char *tmp, char **state)
{
	char *db = join(tmp, "store.db"), *slots = join(tmp, "keyslots");
	file_sum sum;
	struct stat sb;
	int err, locked = 0, in_txn = 0;

	if (!db || !slots) {
		err = CHS_ENOMEM;
		goto done;
	}
	if ((err = chs_store__lock(s)) < 0)
		goto done;
	locked = 1;
	if ((err = chs_store__exec(s, "BEGIN")) < 0)
		goto done;
	in_txn = 1;
	if ((err = read_state(s, state)) < 0)
		goto done;
	if (stat(s->db_path, &sb) < 0 || (unsigned long)sb.st_ino != s->db_ino) {
		err = chs_error_set(CHS_EBUSY,
				    "the store '%s' was re-keyed since it was opened; run the backup again",
				    s->dir);
		goto done;
	}
	if ((err = copy_file(s->slots_path, slots, &sum)) < 0)
		goto done;
	chs_store__unlock(s);
	locked = 0;
	err = copy_pages(s, db);
done:
	if (in_txn)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (locked)
		chs_store__unlock(s);
	free(db);
	free(slots);
	return err;
}

/* Open the copy as a store with its own key slots and check it: every
 * page, then SQLite's structure check. Nothing is noted in the copy (a
 * check of the store itself notes its time). */
static int verify_copy(const char *tmp, const char *user, const char *pass, size_t passlen)
{
	chs_store *c = NULL;
	char *result = NULL;
	int err;

	if ((err = chs_store_open(&c, tmp, user, pass, passlen)) < 0 ||
	    (err = chs_store_verify_pages(c)) < 0 ||
	    (err = chs_store__get_text(c, "PRAGMA quick_check", NULL, &result)) < 0)
		goto done;
	if (strcmp(result, "ok") != 0)
		err = chs_error_set(CHS_EDAMAGED, "the copy in '%s' is damaged: %s", tmp, result);
done:
	free(result);
	chs_store_free(c);
	remove_open_leftovers(tmp);
	return err;
}

/* A name that sorts by time, unique in DEST: 20261204T144512.345Z. */
static int backup_name(const char *dest, char name[64], int64_t *made)
{
	struct timespec ts;
	struct tm tm;
	struct stat sb;
	char base[32];
	int i;

	clock_gettime(CLOCK_REALTIME, &ts);
	*made = (int64_t)ts.tv_sec;
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y%m%dT%H%M%S", &tm);
	for (i = 0; i < 1000; i++) {
		char *p;
		int taken;

		if (i == 0)
			snprintf(name, 64, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
		else
			snprintf(name, 64, "%s.%03ldZ-%d", base, ts.tv_nsec / 1000000, i);
		if (!(p = join(dest, name)))
			return CHS_ENOMEM;
		taken = stat(p, &sb) == 0;
		free(p);
		if (!taken)
			return 0;
	}
	return chs_error_set(CHS_EEXISTS, "too many backups in '%s' at the same moment", dest);
}

/* DIR/backup.json: when and where the last backup was made, for
 * `status`. A file beside the database, not a row in it: writing it must
 * not change the store's state token. Nothing secret in it. */
static int note_last(chs_store *s, const char *path, int64_t at)
{
	char *file = join(s->dir, LAST_BACKUP), *text = NULL, *abs = realpath(path, NULL);
	json_t *root;
	int err;

	if (!file) {
		free(abs);
		return CHS_ENOMEM;
	}
	root = json_pack("{s:I, s:s}", "at", (json_int_t)at, "path", abs ? abs : path);
	if (!root || !(text = json_dumps(root, JSON_COMPACT)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	else
		err = chs_file_write(file, text, strlen(text), 0600);
	free(text);
	json_decref(root);
	free(file);
	free(abs);
	return err;
}

/* 1 when the newest backup in `dest` holds the store as it is now. */
static int unchanged_since(chs_store *s, const char *dest, const backup_list *l,
			   const char *state, manifest *m)
{
	char *newest;
	file_sum now;
	int same = 0;

	if (l->count == 0 || !(newest = join(dest, l->names[l->count - 1])))
		return 0;
	if (read_manifest(m, newest) == 0 && strcmp(m->store_id, s->store_id) == 0 &&
	    strcmp(m->state, state) == 0 && stream_file(s->slots_path, -1, NULL, &now) == 0 &&
	    strcmp(now.hash, m->files[1].hash) == 0)
		same = 1;
	chs_error_clear();
	free(newest);
	return same;
}

static int make_backup(chs_store *s, const char *dest, const chs_backup_opts *opts,
		       chs_backup_result *out)
{
	char name[64], tmpname[80], *tmp = NULL, *final = NULL;
	manifest m;
	size_t i;
	int err;

	memset(&m, 0, sizeof(m));
	if ((err = backup_name(dest, name, &m.made)) < 0)
		return err;
	snprintf(tmpname, sizeof(tmpname), TMP_PREFIX "%s", name);
	if (!(tmp = join(dest, tmpname)) || !(final = join(dest, name))) {
		err = CHS_ENOMEM;
		goto done;
	}
	if (mkdir(tmp, 0700) < 0) {
		err = chs_error_set(CHS_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto done;
	}
	if ((err = snapshot(s, tmp, &m.state)) < 0)
		goto fail;
	chs_util__fault("backup-copied");
	if (opts->verify && (err = verify_copy(tmp, s->user, opts->passphrase,
					       opts->passphrase_len)) < 0)
		goto fail;
	memcpy(m.store_id, s->store_id, 33);
	memcpy(m.device_id, s->device_id, 33);
	for (i = 0; i < NFILES; i++) {
		char *p = join(tmp, backup_files[i]);

		err = p ? stream_file(p, -1, NULL, &m.files[i]) : CHS_ENOMEM;
		free(p);
		if (err < 0)
			goto fail;
		out->bytes += m.files[i].size;
	}
	if ((err = write_manifest(tmp, &m)) < 0 || (err = chs_util__fsync(tmp)) < 0)
		goto fail;
	chs_util__fault("backup-manifest");
	if (rename(tmp, final) < 0) {
		err = chs_error_set(CHS_EIO, "cannot put the backup in place in '%s': %s", dest,
				    strerror(errno));
		goto fail;
	}
	if ((err = chs_util__fsync(dest)) < 0)
		goto done;
	out->at = m.made;
	out->verified = opts->verify;
	out->path = final;
	final = NULL;
	goto done;
fail:
	remove_tree(tmp);
done:
	manifest_dispose(&m);
	free(tmp);
	free(final);
	return err;
}

int chs_store_backup(chs_store *s, const char *dest, const chs_backup_opts *opts,
		     chs_backup_result *out)
{
	chs_backup_opts none;
	backup_list l;
	manifest m;
	char *state = NULL;
	int err, fd = -1;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(dest);
	CHS_ASSERT_ARG(out);

	memset(out, 0, sizeof(*out));
	memset(&m, 0, sizeof(m));
	memset(&l, 0, sizeof(l));
	if (!opts) {
		memset(&none, 0, sizeof(none));
		opts = &none;
	}
	if (opts->verify && !opts->passphrase)
		return chs_error_set(CHS_EINVALID, "verifying a backup needs the passphrase");
	if ((err = lock_dest(dest, &fd)) < 0)
		goto done;
	sweep_tmp(dest);
	if ((err = list_backups(&l, dest, s->store_id)) < 0 || (err = read_state(s, &state)) < 0)
		goto done;
	if (unchanged_since(s, dest, &l, state, &m)) {
		out->unchanged = 1;
		out->at = m.made;
		if (!(out->path = join(dest, l.names[l.count - 1])))
			err = CHS_ENOMEM;
	} else {
		err = make_backup(s, dest, opts, out);
	}
	if (err == 0)
		err = keep_newest(dest, s->store_id, opts->keep, &out->removed);
	if (err == 0 && !out->unchanged)
		err = note_last(s, out->path, out->at);
done:
	if (err < 0)
		chs_backup_result_dispose(out);
	manifest_dispose(&m);
	list_dispose(&l);
	free(state);
	if (fd >= 0)
		close(fd);
	return err;
}

void chs_backup_result_dispose(chs_backup_result *r)
{
	if (!r)
		return;
	free(r->path);
	memset(r, 0, sizeof(*r));
}

int chs_store_backup_last(const char *dir, int64_t *at, char **path)
{
	char *file, *text = NULL;
	json_t *root = NULL;
	const char *p;
	int err;

	CHS_ASSERT_ARG(dir);
	CHS_ASSERT_ARG(at);
	CHS_ASSERT_ARG(path);

	*at = 0;
	*path = NULL;
	if (!(file = join(dir, LAST_BACKUP)))
		return CHS_ENOMEM;
	if ((err = chs_file_read(file, MANIFEST_MAX, &text, NULL)) < 0)
		goto done;
	root = json_loads(text, 0, NULL);
	p = json_string_value(json_object_get(root, "path"));
	if (!p || !json_is_integer(json_object_get(root, "at"))) {
		err = chs_error_set(CHS_ENOTFOUND, "'%s' is not readable; the next backup rewrites it",
				    file);
		goto done;
	}
	*at = json_integer_value(json_object_get(root, "at"));
	if (!(*path = chs_util__strdup(p)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
done:
	json_decref(root);
	free(text);
	free(file);
	return err;
}

/* ------------------------------------------------------------------ */
/* Restore                                                              */

/* 0 when `dir` is missing or an empty folder; CHS_EEXISTS otherwise. */
static int refuse_used(const char *dir)
{
	struct dirent *e;
	DIR *d;
	int empty = 1;

	if (chs_store_probe(dir) == 0)
		return chs_error_set(CHS_EEXISTS,
				     "'%s' already holds a store; restore into a new folder (or move that store away first)",
				     dir);
	chs_error_clear();
	if (!(d = opendir(dir))) {
		if (errno == ENOENT)
			return 0;
		return chs_error_set(errno == ENOTDIR ? CHS_EEXISTS : CHS_EIO,
				     "cannot restore into '%s': %s", dir, strerror(errno));
	}
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty ? 0 : chs_error_set(CHS_EEXISTS,
					 "'%s' is not empty; restore into a new or empty folder", dir);
}

/* Copy the backup's files into `tmp`, each compared with the manifest. */
static int copy_checked(const char *backup, const char *tmp, const manifest *m)
{
	size_t i;
	int err = 0;

	for (i = 0; i < NFILES && err == 0; i++) {
		char *from = join(backup, backup_files[i]), *to = join(tmp, backup_files[i]);
		file_sum sum;
		char what[128];

		err = from && to ? copy_file(from, to, &sum) : CHS_ENOMEM;
		if (err == CHS_ENOTFOUND) {
			snprintf(what, sizeof(what), "%s is missing", backup_files[i]);
			err = damaged(backup, what);
		} else if (err == 0 && (sum.size != m->files[i].size ||
					strcmp(sum.hash, m->files[i].hash) != 0)) {
			snprintf(what, sizeof(what), "%s does not match the checksum in its manifest",
				 backup_files[i]);
			err = damaged(backup, what);
		}
		free(from);
		free(to);
	}
	return err;
}

/* The folder DIR.restore-XXXXXX beside `dir`, made 0700. */
static int make_tmp_beside(const char *dir, char **out)
{
	size_t len = strlen(dir);
	char *t;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (!(t = chs_malloc(len + sizeof(".restore-XXXXXX"))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	memcpy(t, dir, len);
	memcpy(t + len, ".restore-XXXXXX", sizeof(".restore-XXXXXX"));
	if (!mkdtemp(t)) {
		int e = errno;

		free(t);
		return chs_error_set(CHS_EIO, "cannot restore into '%s': %s", dir, strerror(e));
	}
	*out = t;
	return 0;
}

/* The folder that holds `dir`, for syncing the rename. */
static char *parent_of(const char *dir)
{
	char *p = chs_util__strdup(dir), *slash;
	size_t len;

	if (!p)
		return NULL;
	len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	slash = strrchr(p, '/');
	if (!slash) {
		free(p);
		return chs_util__strdup(".");
	}
	if (slash == p)
		slash[1] = '\0';
	else
		*slash = '\0';
	return p;
}

static int check_restored(const char *tmp, const manifest *m, const char *user,
			  const char *pass, size_t passlen)
{
	chs_store *c = NULL;
	char *result = NULL;
	int err;

	if ((err = chs_store_open(&c, tmp, user, pass, passlen)) < 0)
		goto done;
	if (strcmp(chs_store_id(c), m->store_id) != 0 ||
	    strcmp(chs_store_device_id(c), m->device_id) != 0) {
		err = chs_error_set(CHS_EDAMAGED,
				    "the backup holds another store than its manifest names; use another backup");
		goto done;
	}
	if ((err = chs_store_verify_pages(c)) < 0 ||
	    (err = chs_store__get_text(c, "PRAGMA quick_check", NULL, &result)) < 0)
		goto done;
	if (strcmp(result, "ok") != 0)
		err = chs_error_set(CHS_EDAMAGED, "the restored store is damaged: %s; use another backup",
				    result);
done:
	free(result);
	chs_store_free(c);
	remove_open_leftovers(tmp);
	return err;
}

int chs_store_restore(const char *src, const char *dir, const char *user,
		      const char *passphrase, size_t passphrase_len, char **used)
{
	char *backup = NULL, *tmp = NULL, *parent = NULL;
	manifest m;
	int err;

	CHS_ASSERT_ARG(src);
	CHS_ASSERT_ARG(dir);
	CHS_ASSERT_ARG(passphrase || passphrase_len == 0);

	memset(&m, 0, sizeof(m));
	if (used)
		*used = NULL;
	if ((err = refuse_used(dir)) < 0 || (err = resolve_backup(src, &backup)) < 0)
		goto done;
	if ((err = read_manifest(&m, backup)) < 0) {
		if (err == CHS_ENOTFOUND)
			err = damaged(backup, "its manifest is missing");
		goto done;
	}
	if ((err = make_tmp_beside(dir, &tmp)) < 0)
		goto done;
	if ((err = copy_checked(backup, tmp, &m)) < 0 ||
	    (err = check_restored(tmp, &m, user, passphrase, passphrase_len)) < 0 ||
	    (err = chs_util__fsync(tmp)) < 0)
		goto fail;
	chs_util__fault("restore-checked");
	/* rename() puts a folder over a missing or empty one, never over
	 * one with files: a store made at DIR meanwhile is left alone. */
	if ((err = refuse_used(dir)) < 0)
		goto fail;
	if (rename(tmp, dir) < 0) {
		err = chs_error_set(CHS_EIO, "cannot put the restored store at '%s': %s", dir,
				    strerror(errno));
		goto fail;
	}
	if (!(parent = parent_of(dir)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	else
		err = chs_util__fsync(parent);
	if (err == 0 && used) {
		*used = backup;
		backup = NULL;
	}
	goto done;
fail:
	remove_tree(tmp);
done:
	manifest_dispose(&m);
	free(backup);
	free(tmp);
	free(parent);
	return err;
}
