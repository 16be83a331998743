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

char *chs_client__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

char *chs_client__path(const char *dir, const char *name)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	if (chs_buf_printf(&b, "%s/%s", dir, name) < 0)
		return NULL;
	return chs_buf_detach(&b);
}

int64_t chs_client__now(void)
{
	return (int64_t)time(NULL);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

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

static int fsync_dir_of(const char *path)
{
	char *copy = chs_client__strdup(path);
	int fd, rc = 0;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) < 0)
		rc = -1;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

int chs_client__write_file(const char *path, const void *data, size_t len,
			   int mode)
{
	chs_buf tmp;
	int fd = -1, err = 0;

	chs_buf_init(&tmp, 0);
	if ((err = chs_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid())) < 0)
		return err;
	fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", tmp.ptr,
				    strerror(errno));
		goto done;
	}
	if (close(fd) < 0) {
		fd = -1;
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", tmp.ptr,
				    strerror(errno));
		goto done;
	}
	fd = -1;
	if (rename(tmp.ptr, path) < 0 || fsync_dir_of(path) < 0)
		err = chs_error_set(CHS_EIO, "cannot replace '%s': %s", path,
				    strerror(errno));
done:
	if (fd >= 0)
		close(fd);
	if (err < 0)
		unlink(tmp.ptr);
	chs_buf_dispose(&tmp);
	return err;
}

int chs_file_save(const char *path, const void *data, size_t len)
{
	return chs_client__write_file(path, data, len, 0600);
}

int chs_client__read_file(const char *path, size_t max, char **out,
			  size_t *len)
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
void chs_client__fault(const char *point)
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
