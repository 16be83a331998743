/*
 * Small file and string helpers for the client.
 */
#include "client/util/util.h"
#include "client/util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *chs_util__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = chs_malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

char *chs_util__path(const char *dir, const char *name)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	if (chs_buf_printf(&b, "%s/%s", dir, name) < 0)
		return NULL;
	return chs_buf_detach(&b);
}

int64_t chs_util__now(void)
{
	return (int64_t)time(NULL);
}

/* The system's refusal of `what` ("write", "sync", "replace") on `path`,
 * from errno: a full disk (or quota) named as such, so the technician
 * knows to free space rather than suspect the file. */
static int refused(const char *what, const char *path)
{
	int e = errno;

	if (e == ENOSPC || e == EDQUOT)
		return chs_error_set(CHS_EIO, "cannot %s '%s': the disk holding it is full; free "
					      "some space and try again", what, path);
	return chs_error_set(CHS_EIO, "cannot %s '%s': %s", what, path, strerror(e));
}

static chs_file_fault_fn fault_hook;

void chs_file__set_fault(chs_file_fault_fn fn)
{
	fault_hook = fn;
}

/* The test hook's say on one step: 0 to go on, or the errno to fail the
 * step with (errno set to it). */
static int faulted(const char *step, const char *path)
{
	int e = fault_hook ? fault_hook(step, path) : 0;

	if (e)
		errno = e;
	return e;
}

int chs_util__fsync(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return chs_error_set(CHS_EIO, "cannot open '%s': %s", path, strerror(errno));
	rc = faulted("sync", path) ? -1 : fsync(fd);
	close(fd);
	return rc < 0 ? refused("sync", path) : 0;
}

static int fsync_dir_of(const char *path)
{
	char *copy = chs_util__strdup(path);
	int rc;

	if (!copy)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	rc = chs_util__fsync(dirname(copy));
	free(copy);
	return rc;
}

/* A temporary file beside `path`, open for writing with `mode` (mkstemp:
 * a name nobody else has, never a link someone left there). */
static int temp_beside(const char *path, int mode, chs_buf *tmp, FILE **f)
{
	int fd, err;

	*f = NULL;
	if ((err = chs_buf_printf(tmp, "%s.tmp.XXXXXX", path)) < 0)
		return err;
	if ((fd = mkstemp(tmp->ptr)) < 0)
		return refused("write", path);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fchmod(fd, (mode_t)mode) < 0 ||
	    !(*f = fdopen(fd, "wb"))) {
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", path, strerror(errno));
		close(fd);
		unlink(tmp->ptr);
		return err;
	}
	return 0;
}

/* The one place chartsync writes a file outside SQLite: temp file, fsync,
 * rename, fsync the folder. */
int chs_file_write_with(const char *path, int mode, chs_file_fill_fn fill, void *payload)
{
	chs_buf tmp;
	FILE *f = NULL;
	int err;

	chs_buf_init(&tmp, 0);
	if ((err = temp_beside(path, mode, &tmp, &f)) < 0)
		goto done;
	if ((err = fill(f, payload)) < 0)
		goto fail;
	if (ferror(f) || faulted("write", path) || fflush(f) != 0 ||
	    faulted("sync", tmp.ptr) || fsync(fileno(f)) != 0) {
		err = refused("write", path);
		goto fail;
	}
	err = fclose(f);
	f = NULL;
	if (err != 0) {
		err = refused("write", path);
		goto fail;
	}
	if (faulted("rename", path) || rename(tmp.ptr, path) < 0) {
		err = refused("replace", path);
		goto fail;
	}
	if ((err = fsync_dir_of(path)) < 0)
		err = chs_error_wrap(err, "cannot replace '%s'", path);
	goto done;
fail:
	if (f)
		fclose(f);
	unlink(tmp.ptr);
done:
	chs_buf_dispose(&tmp);
	return err;
}

typedef struct bytes {
	const void *data;
	size_t len;
} bytes;

static int fill_bytes(FILE *f, void *payload)
{
	const bytes *b = payload;

	/* a short write shows in ferror(), which the caller checks */
	if (b->len)
		fwrite(b->data, 1, b->len, f);
	return 0;
}

int chs_file_write(const char *path, const void *data, size_t len, int mode)
{
	bytes b = { data, len };

	return chs_file_write_with(path, mode, fill_bytes, &b);
}

int chs_file_save(const char *path, const void *data, size_t len)
{
	return chs_file_write(path, data, len, 0600);
}

int chs_file_read(const char *path, size_t max, char **out, size_t *len)
{
	chs_buf b;
	char chunk[8192];
	FILE *f;
	size_t n;
	int err = 0;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT)
			return chs_error_set(CHS_ENOTFOUND, "'%s' does not exist",
					     path);
		return chs_error_set(CHS_EIO, "cannot read '%s': %s", path,
				     strerror(errno));
	}
	chs_buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((err = chs_buf_put(&b, chunk, n)) < 0)
			break;
	if (!err && ferror(f))
		err = chs_error_set(CHS_EIO, "cannot read '%s'", path);
	fclose(f);
	if (err < 0) {
		chs_buf_dispose(&b);
		return err;
	}
	if (len)
		*len = b.len;
	*out = chs_buf_detach(&b);
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}

/* Fault drills: CHARTSYNC_FAULT=POINT[:N] kills this process with
 * SIGKILL, as kill -9 or a power cut would, the Nth time (default the
 * first) it passes POINT. The reliability tests use it to stop a sync at
 * every step that writes; nothing else sets it. */
void chs_util__fault(const char *point)
{
	static int passes;
	const char *want = getenv("CHARTSYNC_FAULT");
	size_t len = strlen(point);
	long nth = 1;

	if (!want || strncmp(want, point, len) != 0 || (want[len] && want[len] != ':'))
		return;
	if (want[len] == ':')
		nth = strtol(want + len + 1, NULL, 10);
	if (++passes >= nth)
		raise(SIGKILL);
}

ssize_t chs_util__read_full(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int chs_util__write_full(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
