/*
 * tests/support/testutil.h - helpers shared by the test suites.
 */
#ifndef CHS_TESTUTIL_H
#define CHS_TESTUTIL_H

#include <check.h>
#include <netinet/in.h>
#include <stddef.h>

/* A fresh folder under $TMPDIR (or /tmp); malloc'ed path. */
char *tu_tempdir(void);
/* rm -rf; accepts NULL. */
void tu_rmtree(const char *path);
/* Join a folder and a name; malloc'ed. */
char *tu_path(const char *dir, const char *name);
/* How many files under `dir` (recursively) contain `needle`; the first
 * such file's path is copied into `hit` when not NULL. */
int tu_grep_dir(const char *dir, const char *needle, char *hit, size_t hitlen);
/* Read a whole file; malloc'ed, *len set. NULL if missing. */
unsigned char *tu_read(const char *path, size_t *len);
int tu_write(const char *path, const void *data, size_t len);
/* Flip bit `bit` of the byte at `offset` of a file. */
void tu_flip_bit(const char *path, long offset, int bit);
long tu_file_size(const char *path);
/* The entries of folder `path` (without . and ..), -1 when it cannot be read. */
int tu_count_entries(const char *path);
/* How many packs the git folder `gitdir` holds (.pack files in objects/pack). */
int tu_git_packs(const char *gitdir);
/* Run a shell command (printf-style); its exit status, -1 if it died. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The address PORT on 127.0.0.1 (0: any port, for bind). */
struct sockaddr_in tu_loopback(int port);
/* Run a suite with CK_FORK and return the process exit status. */
int tu_run(Suite *s);

/* ---- The reliability suites (tests/reliability/) ----
 * Their long loops run quick in CI (the default) and whole by hand with
 * CHARTSYNC_RELIABILITY=full. */
int tu_full_mode(void);
/* Whether this build runs under ASan/UBSan (the quick loops shrink there). */
int tu_sanitized(void);
/* The seed of a randomised test: $CHARTSYNC_SEED when set, else one drawn
 * from the clock; printed once on stderr with `what` and how to replay it
 * ("kills: seed 123 (CHARTSYNC_SEED=123 replays it)"). */
unsigned long tu_seed(const char *what);

#endif
