/*
 * Where a passphrase comes from: a file named by an environment variable
 * (for scripts and services; the file's first line), the variable itself
 * (for tests and demos), systemd's credential (a service's, when opening
 * a store), or the terminal, with echo off. And a service user's file,
 * which chartsync itself fills with a random passphrase nobody types.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define PASS_MAX 1024 /* bytes */
#define SERVICE_PASS_BYTES 32 /* random bytes of a service's passphrase */
/* the file systemd's LoadCredential=passphrase:... gives a service */
#define CREDENTIAL_NAME "passphrase"

/* Copy the first line of `src` (without its line ending) into secret
 * memory. */
static int keep_line(char **out, size_t *len, const char *src, size_t n)
{
	size_t i;
	char *p;

	for (i = 0; i < n && src[i] != '\n' && src[i] != '\r'; i++)
		;
	if (i == 0)
		return chs_error_set(CHS_EINVALID, "the passphrase is empty");
	if (!(p = chs_secret_alloc(i + 1)))
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	memcpy(p, src, i);
	p[i] = '\0';
	*out = p;
	*len = i;
	return 0;
}

/* The first line of the open file `fd` (named `path`). */
static int from_fd(char **out, size_t *len, int fd, const char *path)
{
	char *buf = chs_secret_alloc(PASS_MAX);
	ssize_t n = 0, got;
	int err;

	if (!buf)
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	while (n < PASS_MAX && (got = read(fd, buf + n, (size_t)(PASS_MAX - n))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = chs_error_set(CHS_EINVALID, "cannot read the passphrase file '%s': %s",
					    path, strerror(errno));
			goto done;
		}
		n += got;
	}
	err = keep_line(out, len, buf, (size_t)n);
	if (err == CHS_EINVALID)
		chs_error_set(err, "the passphrase file '%s' is empty", path);
done:
	chs_secret_free(buf);
	return err;
}

static int from_file(char **out, size_t *len, const char *var, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return chs_error_set(CHS_EINVALID, "cannot read the passphrase file '%s' (from %s): %s",
				     path, var, strerror(errno));
	err = from_fd(out, len, fd, path);
	close(fd);
	return err;
}

static int read_tty_line(int fd, char *buf, size_t max, size_t *n)
{
	char c;
	ssize_t r;

	*n = 0;
	while ((r = read(fd, &c, 1)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (c == '\n' || c == '\r')
			break;
		if (*n + 1 < max)
			buf[(*n)++] = c;
	}
	buf[*n] = '\0';
	return 0;
}

/* Ask once at the terminal, echo off. */
static int ask(char **out, size_t *len, int fd, const char *prompt)
{
	struct termios old, quiet;
	char *buf = chs_secret_alloc(PASS_MAX);
	size_t n = 0;
	int echo_off, err = 0;

	if (!buf)
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	if (write(fd, prompt, strlen(prompt)) < 0) {
		chs_secret_free(buf);
		return chs_error_set(CHS_EIO, "cannot write to the terminal");
	}
	echo_off = tcgetattr(fd, &old) == 0;
	if (echo_off) {
		quiet = old;
		quiet.c_lflag &= (tcflag_t)~ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	if (read_tty_line(fd, buf, PASS_MAX, &n) < 0)
		err = chs_error_set(CHS_EIO, "cannot read from the terminal");
	if (echo_off)
		tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0)
		err = err ? err : chs_error_set(CHS_EIO, "cannot write to the terminal");
	if (!err)
		err = keep_line(out, len, buf, n);
	chs_secret_free(buf);
	return err;
}

static int from_tty(char **out, size_t *len, const char *file_env, const char *env,
		    const char *prompt, int confirm)
{
	char *again = NULL;
	size_t again_len = 0;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), err;

	if (fd < 0)
		return chs_error_set(CHS_EINVALID,
				     "no passphrase: type it at a terminal, or set %s (or %s)",
				     file_env, env);
	if ((err = ask(out, len, fd, prompt)) == 0 && confirm &&
	    (err = ask(&again, &again_len, fd, "Again: ")) == 0 &&
	    (again_len != *len || !chs_equal(again, *out, *len))) {
		err = chs_error_set(CHS_EINVALID, "the passphrases do not match");
	}
	if (err < 0) {
		chs_secret_free(*out);
		*out = NULL;
	}
	chs_secret_free(again);
	close(fd);
	return err;
}

int cli_passphrase(char **out, size_t *len, const char *file_env,
		   const char *env, const char *prompt, int confirm)
{
	const char *path = getenv(file_env), *value = getenv(env);

	*out = NULL;
	*len = 0;
	if (path && *path)
		return from_file(out, len, file_env, path);
	if (value && *value)
		return keep_line(out, len, value, strlen(value));
	return from_tty(out, len, file_env, env, prompt, confirm);
}

/* systemd's credential: a service started with LoadCredential= (or
 * SetCredentialEncrypted=) named "passphrase" finds it in the folder
 * $CREDENTIALS_DIRECTORY, readable by that service alone. 1 when there
 * is one (and it was read), 0 when not. */
static int from_credential(char **out, size_t *len)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char *path;
	size_t n;
	int err;

	if (!dir || !*dir)
		return 0;
	n = strlen(dir) + sizeof("/" CREDENTIAL_NAME);
	if (!(path = chs_malloc(n)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	snprintf(path, n, "%s/%s", dir, CREDENTIAL_NAME);
	if (access(path, F_OK) < 0) {
		free(path);
		return 0;
	}
	err = from_file(out, len, "CREDENTIALS_DIRECTORY", path);
	free(path);
	return err < 0 ? err : 1;
}

int cli_passphrase_open(char **out, size_t *len)
{
	const char *path = getenv("CHARTSYNC_PASSPHRASE_FILE");
	const char *value = getenv("CHARTSYNC_PASSPHRASE");
	int err;

	if ((path && *path) || (value && *value))
		return cli_passphrase(out, len, "CHARTSYNC_PASSPHRASE_FILE",
				      "CHARTSYNC_PASSPHRASE", "Passphrase: ", 0);
	*out = NULL;
	*len = 0;
	if ((err = from_credential(out, len)) != 0)
		return err < 0 ? err : 0;
	return from_tty(out, len, "CHARTSYNC_PASSPHRASE_FILE", "CHARTSYNC_PASSPHRASE",
			"Passphrase: ", 0);
}

/* ------------------------------------------------------------------ */
/* A service user's passphrase file                                     */

/* Make the new file's name last: fsync the folder it is in. */
static int sync_folder(const char *path)
{
	char *copy = chs_strdup(path);
	int fd, err = 0;

	if (!copy)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		err = chs_error_set(CHS_EIO, "cannot save the passphrase file '%s': %s", path,
				    strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return err;
}

/* A new file (O_EXCL: never over another), 0600, holding a passphrase of
 * SERVICE_PASS_BYTES random bytes in hex and a newline, on disk before
 * the store holds a slot for it. */
static int generate(char **out, size_t *len, int fd, const char *path)
{
	unsigned char *raw = chs_secret_alloc(SERVICE_PASS_BYTES);
	char *hex = chs_secret_alloc(2 * SERVICE_PASS_BYTES + 2);
	int err = 0;

	if (!raw || !hex) {
		err = chs_error_set(CHS_ENOMEM, "out of secure memory");
		goto done;
	}
	chs_random(raw, SERVICE_PASS_BYTES);
	chs_hex(hex, raw, SERVICE_PASS_BYTES);
	hex[2 * SERVICE_PASS_BYTES] = '\n';
	hex[2 * SERVICE_PASS_BYTES + 1] = '\0';
	if (fchmod(fd, 0600) < 0 || cli_write_all(fd, hex, 2 * SERVICE_PASS_BYTES + 1) < 0 ||
	    fsync(fd) < 0) {
		err = chs_error_set(CHS_EIO, "cannot write the passphrase file '%s': %s", path,
				    strerror(errno));
		goto done;
	}
	if ((err = sync_folder(path)) == 0)
		err = keep_line(out, len, hex, 2 * SERVICE_PASS_BYTES);
done:
	chs_secret_free(raw);
	chs_secret_free(hex);
	return err;
}

/* An existing file: the owner's alone, a regular file, its first line. */
static int read_own(char **out, size_t *len, const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), err;

	if (fd < 0)
		return chs_error_set(CHS_EINVALID, "cannot read the passphrase file '%s': %s", path,
				     strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		err = chs_error_set(CHS_EINVALID, "the passphrase file '%s' is not a regular file",
				    path);
	else if (sb.st_mode & 077)
		err = chs_error_set(CHS_EINVALID,
				    "the passphrase file '%s' can be read by others (mode %04o): "
				    "run 'chmod 600 %s', or give a new file's name",
				    path, (unsigned)(sb.st_mode & 07777), path);
	else
		err = from_fd(out, len, fd, path);
	close(fd);
	return err;
}

int cli_passphrase_service(char **out, size_t *len, const char *path, int *created)
{
	int fd, err;

	*out = NULL;
	*len = 0;
	*created = 0;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST)
		return read_own(out, len, path);
	if (fd < 0)
		return chs_error_set(CHS_EINVALID, "cannot create the passphrase file '%s': %s",
				     path, strerror(errno));
	*created = 1;
	err = generate(out, len, fd, path);
	if (close(fd) < 0 && err == 0)
		err = chs_error_set(CHS_EIO, "cannot write the passphrase file '%s': %s", path,
				    strerror(errno));
	if (err < 0) {
		unlink(path);
		*created = 0;
		chs_secret_free(*out);
		*out = NULL;
		*len = 0;
	}
	return err;
}
