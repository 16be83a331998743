#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *tu_tempdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;
	size_t n;

	if (!base || !*base)
		base = "/tmp";
	n = strlen(base) + 32;
	path = malloc(n);
	ck_assert_ptr_nonnull(path);
	snprintf(path, n, "%s/chs-test-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(path));
	return path;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

void tu_rmtree(const char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	ck_assert_ptr_nonnull(p);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

unsigned char *tu_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = 0;
		*len = (size_t)n;
	}
	return buf;
}

int tu_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int contains(const unsigned char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle), i;

	for (i = 0; m && i + m <= n; i++)
		if (hay[i] == (unsigned char)needle[0] && memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

int tu_grep_dir(const char *dir, const char *needle, char *hit, size_t hitlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		char *p;
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = tu_path(dir, e->d_name);
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			found += tu_grep_dir(p, needle, found ? NULL : hit, hitlen);
		} else if (S_ISREG(sb.st_mode)) {
			size_t n;
			unsigned char *b = tu_read(p, &n);

			if (b && contains(b, n, needle)) {
				if (!found && hit)
					snprintf(hit, hitlen, "%s", p);
				found++;
			}
			free(b);
		}
		free(p);
	}
	closedir(d);
	return found;
}

void tu_flip_bit(const char *path, long offset, int bit)
{
	FILE *f = fopen(path, "r+b");
	int c;

	ck_assert_ptr_nonnull(f);
	fseek(f, offset, SEEK_SET);
	c = fgetc(f);
	ck_assert_int_ne(c, EOF);
	fseek(f, offset, SEEK_SET);
	fputc(c ^ (1 << bit), f);
	fclose(f);
}

long tu_file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

int tu_count_entries(const char *path)
{
	struct dirent *e;
	DIR *d = opendir(path);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

int tu_git_packs(const char *gitdir)
{
	char *dir = tu_path(gitdir, "objects/pack");
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_msg(d != NULL, "no pack folder in %s", gitdir);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		n += len > 5 && !strcmp(e->d_name + len - 5, ".pack");
	}
	closedir(d);
	free(dir);
	return n;
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int tu_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int tu_full_mode(void)
{
	const char *m = getenv("CHARTSYNC_RELIABILITY");

	return m && strcmp(m, "full") == 0;
}

int tu_sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
	return 1;
# else
	return 0;
# endif
#else
	return 0;
#endif
}

unsigned long tu_seed(const char *what)
{
	const char *env = getenv("CHARTSYNC_SEED");
	unsigned long seed;
	struct timespec ts;

	if (env && *env) {
		seed = strtoul(env, NULL, 10);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned long)ts.tv_nsec ^ ((unsigned long)ts.tv_sec << 20) ^
		       (unsigned long)getpid();
		seed %= 1000000000ul;
	}
	fprintf(stderr, "%s: seed %lu (CHARTSYNC_SEED=%lu replays it)\n", what,
		seed, seed);
	return seed;
}

struct sockaddr_in tu_loopback(int port)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	return sa;
}
