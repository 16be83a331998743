/*
 * I/O faults under the encrypting VFS (see faultvfs.h).
 *
 * Test code: plain malloc, so that the allocation drill (chs_alloc_fail_at)
 * never counts or fails the shim's own bookkeeping.
 */
#include "support/faultvfs.h"
#include "client/util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------------
 * The counter
 */
static tu_fault_mode mode;
static long nth, calls;
static int fired;
static const char *fired_kind;

static int full_from; /* tu_faultvfs_fill() */

/* Calls that can need a free block (a full disk refuses them). */
static int fills(const char *kind)
{
	return !strcmp(kind, "write") || !strcmp(kind, "sync") || !strcmp(kind, "file-write") ||
	       !strcmp(kind, "file-sync");
}

static const char *const kinds[] = { "read", "write", "sync", "truncate", "lock", "shm-map",
				      "shm-lock", "file-write", "file-sync", "file-rename" };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))
static long calls_of[NKINDS];

static void tally(const char *kind)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (!strcmp(kinds[i], kind))
			calls_of[i]++;
}

/* One more call of `kind`: 1 when it is the one to fail. */
static int tick(const char *kind)
{
	calls++;
	tally(kind);
	if (full_from) {
		if (calls < nth || !fills(kind))
			return 0;
		if (!fired)
			fired_kind = kind;
		fired = 1;
		return 1;
	}
	if (fired || mode == TU_FAULT_NONE || nth <= 0 || calls != nth)
		return 0;
	fired = 1;
	fired_kind = kind;
	return 1;
}

/* ---------------------------------------------------------------------
 * Crash mode's undo logs: what each file held at its last sync
 */
typedef struct undo_rec {
	sqlite3_int64 off;
	size_t len;
	unsigned char *data;
	struct undo_rec *next; /* older */
} undo_rec;

typedef struct undo_file {
	char *path;
	sqlite3_int64 size; /* at the last sync */
	undo_rec *recs;     /* newest first */
	struct undo_file *next;
} undo_file;

/* A rename outside SQLite whose folder is not synced yet: the file it
 * replaced (NULL data: there was none). */
typedef struct undo_rename {
	char *path, *dir;
	unsigned char *data;
	size_t len;
	int existed;
	struct undo_rename *next;
} undo_rename;

static undo_file *undo_files;
static undo_rename *undo_renames;

static void undo_file_drop(const char *path)
{
	undo_file **p = &undo_files;

	while (*p) {
		undo_file *u = *p;

		if (strcmp(u->path, path) != 0) {
			p = &u->next;
			continue;
		}
		*p = u->next;
		while (u->recs) {
			undo_rec *r = u->recs;

			u->recs = r->next;
			free(r->data);
			free(r);
		}
		free(u->path);
		free(u);
	}
}

static void undo_all_drop(void)
{
	while (undo_files)
		undo_file_drop(undo_files->path);
	while (undo_renames) {
		undo_rename *r = undo_renames;

		undo_renames = r->next;
		free(r->path);
		free(r->dir);
		free(r->data);
		free(r);
	}
}

/* The power cut: every file back to what it held at its last sync, every
 * unsynced rename undone, and the process gone. */
static void crash(void)
{
	undo_file *u;
	undo_rename *r;

	for (u = undo_files; u; u = u->next) {
		int fd = open(u->path, O_RDWR | O_CLOEXEC);
		undo_rec *rec;

		if (fd < 0)
			continue;
		for (rec = u->recs; rec; rec = rec->next)
			if (pwrite(fd, rec->data, rec->len, (off_t)rec->off) != (ssize_t)rec->len)
				fprintf(stderr, "faultvfs: cannot undo a write to %s\n", u->path);
		if (ftruncate(fd, (off_t)u->size) < 0)
			fprintf(stderr, "faultvfs: cannot undo the size of %s\n", u->path);
		close(fd);
	}
	for (r = undo_renames; r; r = r->next) {
		if (!r->existed) {
			unlink(r->path);
			continue;
		}
		int fd = open(r->path, O_WRONLY | O_TRUNC | O_CLOEXEC);

		if (fd < 0 || write(fd, r->data, r->len) != (ssize_t)r->len)
			fprintf(stderr, "faultvfs: cannot undo the rename of %s\n", r->path);
		if (fd >= 0)
			close(fd);
	}
	_exit(TU_FAULT_CRASH_EXIT);
}

/* ---------------------------------------------------------------------
 * The files
 */
typedef struct shim_file {
	sqlite3_file base;
	sqlite3_file *real;
	char *path;
} shim_file;

static sqlite3_vfs *root;
static sqlite3_vfs shim;

#define REAL(f) (((shim_file *)(f))->real)

static undo_file *undo_file_of(shim_file *f)
{
	undo_file *u;
	sqlite3_int64 size = 0;

	for (u = undo_files; u; u = u->next)
		if (strcmp(u->path, f->path) == 0)
			return u;
	if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK)
		return NULL;
	if (!(u = calloc(1, sizeof(*u))) || !(u->path = strdup(f->path))) {
		free(u);
		return NULL;
	}
	u->size = size;
	u->next = undo_files;
	undo_files = u;
	return u;
}

/* Keep what [off, off + len) holds now (within the file's size). */
static void undo_keep(shim_file *f, sqlite3_int64 off, sqlite3_int64 len)
{
	undo_file *u;
	undo_rec *r;
	sqlite3_int64 size = 0;

	if (mode != TU_FAULT_CRASH || fired || !f->path || !(u = undo_file_of(f)))
		return;
	if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK || off >= size)
		return;
	if (off + len > size)
		len = size - off;
	if (!(r = calloc(1, sizeof(*r))) || !(r->data = malloc((size_t)len))) {
		free(r);
		return;
	}
	r->off = off;
	r->len = (size_t)len;
	if (f->real->pMethods->xRead(f->real, r->data, (int)len, off) != SQLITE_OK)
		memset(r->data, 0, r->len);
	r->next = u->recs;
	u->recs = r;
}

static int f_close(sqlite3_file *file)
{
	shim_file *f = (shim_file *)file;
	int rc = f->real->pMethods->xClose(f->real);

	free(f->path);
	f->path = NULL;
	return rc;
}

static int f_read(sqlite3_file *file, void *buf, int n, sqlite3_int64 off)
{
	if (tick("read")) {
		if (mode == TU_FAULT_CRASH)
			crash();
		return SQLITE_IOERR_READ;
	}
	return REAL(file)->pMethods->xRead(REAL(file), buf, n, off);
}

static int f_write(sqlite3_file *file, const void *buf, int n, sqlite3_int64 off)
{
	if (tick("write")) {
		if (mode == TU_FAULT_CRASH)
			crash();
		return mode == TU_FAULT_FULL ? SQLITE_FULL : SQLITE_IOERR_WRITE;
	}
	undo_keep((shim_file *)file, off, n);
	return REAL(file)->pMethods->xWrite(REAL(file), buf, n, off);
}

static int f_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	sqlite3_int64 now = 0;

	if (tick("truncate")) {
		if (mode == TU_FAULT_CRASH)
			crash();
		return SQLITE_IOERR_TRUNCATE;
	}
	if (REAL(file)->pMethods->xFileSize(REAL(file), &now) == SQLITE_OK && now > size)
		undo_keep((shim_file *)file, size, now - size);
	return REAL(file)->pMethods->xTruncate(REAL(file), size);
}

static int f_sync(sqlite3_file *file, int flags)
{
	shim_file *f = (shim_file *)file;
	int rc;

	if (tick("sync")) {
		if (mode == TU_FAULT_CRASH)
			crash();
		return mode == TU_FAULT_FULL ? SQLITE_FULL : SQLITE_IOERR_FSYNC;
	}
	rc = f->real->pMethods->xSync(f->real, flags);
	if (rc == SQLITE_OK && f->path)
		undo_file_drop(f->path);
	return rc;
}

static int f_size(sqlite3_file *file, sqlite3_int64 *out)
{
	return REAL(file)->pMethods->xFileSize(REAL(file), out);
}

static int f_lock(sqlite3_file *file, int lock)
{
	if (tick("lock")) {
		if (mode == TU_FAULT_CRASH)
			crash();
		return SQLITE_IOERR_LOCK;
	}
	return REAL(file)->pMethods->xLock(REAL(file), lock);
}

static int f_unlock(sqlite3_file *file, int lock)
{
	return REAL(file)->pMethods->xUnlock(REAL(file), lock);
}

static int f_reserved(sqlite3_file *file, int *out)
{
	return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}

static int f_control(sqlite3_file *file, int op, void *arg)
{
	return REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
}

static int f_sector(sqlite3_file *file)
{
	return REAL(file)->pMethods->xSectorSize(REAL(file));
}

static int f_caps(sqlite3_file *file)
{
	return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}

static int f_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
	if (tick("shm-map")) {
		if (mode == TU_FAULT_CRASH)
			crash();
		return SQLITE_IOERR_SHMMAP;
	}
	return REAL(file)->pMethods->xShmMap(REAL(file), page, size, extend, out);
}

static int f_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	/* an unlock cannot fail in the unix VFS, and SQLite ignores its result */
	if ((flags & SQLITE_SHM_LOCK) && tick("shm-lock")) {
		if (mode == TU_FAULT_CRASH)
			crash();
		return SQLITE_IOERR_SHMLOCK;
	}
	return REAL(file)->pMethods->xShmLock(REAL(file), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *file)
{
	REAL(file)->pMethods->xShmBarrier(REAL(file));
}

static int f_shm_unmap(sqlite3_file *file, int del)
{
	return REAL(file)->pMethods->xShmUnmap(REAL(file), del);
}

/* Version 2: no xFetch, as the encrypting VFS above asks. */
static const sqlite3_io_methods shim_io = {
	2, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock, f_unlock,
	f_reserved, f_control, f_sector, f_caps, f_shm_map, f_shm_lock, f_shm_barrier,
	f_shm_unmap, NULL, NULL,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
		  int *out_flags)
{
	shim_file *f = (shim_file *)file;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	rc = root->xOpen(root, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc;
	f->path = name ? strdup(name) : NULL;
	f->base.pMethods = &shim_io;
	return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	undo_file_drop(name);
	return root->xDelete(root, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return root->xAccess(root, name, flags, out);
}

static int v_full(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return root->xFullPathname(root, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return root->xDlOpen(root, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	root->xDlError(root, n, out);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
	(void)vfs;
	return root->xDlSym(root, lib, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *lib)
{
	(void)vfs;
	root->xDlClose(root, lib);
}

static int v_random(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return root->xRandomness(root, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int usec)
{
	(void)vfs;
	return root->xSleep(root, usec);
}

static int v_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return root->xCurrentTime(root, out);
}

static int v_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return root->xGetLastError(root, n, out);
}

static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return root->xCurrentTimeInt64(root, out);
}

/* ---------------------------------------------------------------------
 * Files written outside SQLite (client/util)
 */
static int file_fault(const char *step, const char *path)
{
	int is_write = strcmp(step, "write") == 0, is_sync = strcmp(step, "sync") == 0;
	const char *kind = is_write ? "file-write" : is_sync ? "file-sync" : "file-rename";

	if (tick(kind)) {
		if (mode == TU_FAULT_CRASH)
			crash();
		return mode == TU_FAULT_FULL && (is_write || is_sync) ? ENOSPC : EIO;
	}
	if (mode != TU_FAULT_CRASH || fired)
		return 0;
	if (strcmp(step, "rename") == 0) {
		/* undone at a crash until its folder is synced */
		undo_rename *r = calloc(1, sizeof(*r));
		char *copy = strdup(path);
		FILE *in;

		if (!r || !copy || !(r->path = strdup(path)) || !(r->dir = strdup(dirname(copy)))) {
			free(copy);
			free(r);
			return 0;
		}
		free(copy);
		if ((in = fopen(path, "rb"))) {
			struct stat st;

			r->existed = 1;
			if (fstat(fileno(in), &st) == 0 && (r->data = malloc((size_t)st.st_size + 1)))
				r->len = fread(r->data, 1, (size_t)st.st_size, in);
			fclose(in);
		}
		r->next = undo_renames;
		undo_renames = r;
	} else if (is_sync) {
		undo_rename **p = &undo_renames;

		while (*p) {
			undo_rename *r = *p;

			if (strcmp(r->dir, path) != 0) {
				p = &r->next;
				continue;
			}
			*p = r->next;
			free(r->path);
			free(r->dir);
			free(r->data);
			free(r);
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * Public
 */
void tu_faultvfs_install(void)
{
	if (root)
		return;
	root = sqlite3_vfs_find("unix");
	if (!root) {
		fprintf(stderr, "faultvfs: sqlite has no 'unix' vfs\n");
		abort();
	}
	shim.iVersion = 2;
	shim.szOsFile = (int)sizeof(shim_file) + root->szOsFile;
	shim.mxPathname = root->mxPathname;
	/* the name crypto/vfs.c looks for: found first, being the default */
	shim.zName = "unix";
	shim.xOpen = v_open;
	shim.xDelete = v_delete;
	shim.xAccess = v_access;
	shim.xFullPathname = v_full;
	shim.xDlOpen = v_dlopen;
	shim.xDlError = v_dlerror;
	shim.xDlSym = v_dlsym;
	shim.xDlClose = v_dlclose;
	shim.xRandomness = v_random;
	shim.xSleep = v_sleep;
	shim.xCurrentTime = v_time;
	shim.xGetLastError = v_error;
	shim.xCurrentTimeInt64 = v_time64;
	if (sqlite3_vfs_register(&shim, 1) != SQLITE_OK || sqlite3_vfs_find("unix") != &shim) {
		fprintf(stderr, "faultvfs: cannot put the shim under the name 'unix'\n");
		abort();
	}
	chs_file__set_fault(file_fault);
}

void tu_faultvfs_fill(long n)
{
	tu_faultvfs_arm(TU_FAULT_FULL, n);
	full_from = 1;
}

void tu_faultvfs_arm(tu_fault_mode m, long n)
{
	full_from = 0;
	undo_all_drop();
	mode = m;
	nth = n;
	calls = 0;
	memset(calls_of, 0, sizeof(calls_of));
	fired = 0;
	fired_kind = NULL;
}

void tu_faultvfs_disarm(void)
{
	mode = TU_FAULT_NONE;
	full_from = 0;
	undo_all_drop();
}

long tu_faultvfs_calls(void)
{
	return calls;
}

long tu_faultvfs_calls_of(const char *kind)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (!strcmp(kinds[i], kind))
			return calls_of[i];
	return 0;
}

int tu_faultvfs_fired(void)
{
	return fired;
}

const char *tu_faultvfs_fired_at(void)
{
	return fired_kind ? fired_kind : "";
}

const char *tu_faultvfs_mode_name(tu_fault_mode m)
{
	switch (m) {
	case TU_FAULT_EIO: return "I/O error";
	case TU_FAULT_FULL: return "disk full";
	case TU_FAULT_CRASH: return "crash";
	default: return "none";
	}
}
