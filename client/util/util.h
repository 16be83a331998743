/*
 * client/util/util.h - small helpers the client modules share: files, paths,
 * time, fault drills, and values as the store keeps them.
 */
#ifndef CHS_CLIENT_UTIL_UTIL_H
#define CHS_CLIENT_UTIL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "crypto/crypto.h"
#include "sync/sync.h"

/* ---- util.c ---- */
/* fsync a file or a folder (so a rename in it lasts): 0 or CHS_EIO. */
int chs_util__fsync(const char *path);
char *chs_util__path(const char *dir, const char *name);
char *chs_util__strdup(const char *s);
int64_t chs_util__now(void);
/* Die here (SIGKILL) when CHARTSYNC_FAULT names `point`: fault drills. */
void chs_util__fault(const char *point);
/* read() until `len` bytes or the end of the file, retrying EINTR: the
 * bytes read, or -1 with errno. */
ssize_t chs_util__read_full(int fd, void *buf, size_t len);
/* write() all `len` bytes, retrying EINTR and short writes: 0, or -1
 * with errno. */
int chs_util__write_full(int fd, const void *buf, size_t len);

/* ---- text.c ---- */
/* The decoded text of a canonical JSON string value; NULL if `json` is
 * not a string. malloc'ed. */
char *chs_util__json_string(const char *json);
/* Parse 32 hex digits. */
int chs_util__parse_id(unsigned char out[16], const char *hex);
/* Milliseconds since the Unix epoch as ISO 8601 UTC with milliseconds
 * (2024-03-15T09:30:12.345Z), into out[32]. */
void chs_util__ms_time(int64_t ms, char out[32]);
/* Time of an HLC stamp as ISO 8601 UTC, into out[32]. */
void chs_util__hlc_time(chs_hlc t, char out[32]);

#endif /* CHS_CLIENT_UTIL_UTIL_H */
