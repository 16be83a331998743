/*
 * client/util/file.h - files read whole, and written whole or not at all.
 */
#ifndef CHS_CLIENT_UTIL_FILE_H
#define CHS_CLIENT_UTIL_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Read a whole file of at most `max` bytes (a path such as /dev/stdin
 * too): `*out` is malloc'ed and NUL-terminated, `*len` (when not NULL)
 * its length, which a NUL byte inside makes longer than strlen(). Returns
 * 0; CHS_ENOTFOUND if it does not exist, CHS_EINVALID if it holds more
 * than `max` bytes, CHS_EIO when it cannot be read, with the reason. */
int chs_file_read(const char *path, size_t max, char **out, size_t *len);

/* Writes the contents of a file into `f`: 0, or a negative CHS_E* code
 * with a message (chs_error_set), which stops the write. */
typedef int (*chs_file_fill_fn)(FILE *f, void *payload);

/* Write `path` crash-safely: `fill` writes into a new temporary file
 * beside it (PATH.tmp.XXXXXX), which is synced to disk and renamed over
 * `path`, and then the folder is synced so the rename lasts too. A crash
 * or a failure at any point leaves the old file (or none) whole, never a
 * part of the new one; the temporary file is removed on failure (a crash
 * may leave one behind). The file gets `mode` exactly, whatever the
 * umask. Returns 0; CHS_EIO when the folder or the disk refuses, with
 * the reason; or the code `fill` returned, unchanged. */
int chs_file_write_with(const char *path, int mode, chs_file_fill_fn fill, void *payload);

/* chs_file_write_with() for `len` bytes at `data`. */
int chs_file_write(const char *path, const void *data, size_t len, int mode);

/* chs_file_write() readable by its owner only (0600): exports hold
 * patient data. */
int chs_file_save(const char *path, const void *data, size_t len);

/* Test hook (tests/support/faultvfs.c), never set by chartsync itself:
 * called before each step of chs_file_write_with() and chs_util__fsync()
 * that reaches the disk, "write" (the file's contents, `path` the file
 * meant), "sync" (a file or a folder, `path` the one synced) and "rename"
 * (`path` the file replaced). A nonzero return fails that step with it as
 * errno (EIO, ENOSPC), as the system would; the hook may also end the
 * process there, as a crash would. NULL (the default): no hook. */
typedef int (*chs_file_fault_fn)(const char *step, const char *path);
void chs_file__set_fault(chs_file_fault_fn fn);

#endif /* CHS_CLIENT_UTIL_FILE_H */
