/*
 * Where a passphrase comes from: a file named by an environment variable
 * (for scripts and services; the file's first line), the variable itself
 * (for tests and demos), or the terminal, with echo off.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PASS_MAX 1024 /* bytes */

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

static int from_file(char **out, size_t *len, const char *var, const char *path)
{
	char *buf = chs_secret_alloc(PASS_MAX);
	ssize_t n = 0, got;
	int fd, err;

	if (!buf)
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = chs_error_set(CHS_EINVALID, "cannot read the passphrase file '%s' (from %s): %s",
				    path, var, strerror(errno));
		goto done;
	}
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
	if (fd >= 0)
		close(fd);
	chs_secret_free(buf);
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
