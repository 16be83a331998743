/*
 * client/util/file.h - files a person opens.
 */
#ifndef CHS_CLIENT_UTIL_FILE_H
#define CHS_CLIENT_UTIL_FILE_H

#include <stddef.h>

/* Write a file crash-safely (temp file, fsync, rename), readable by its
 * owner only: exports hold patient data. */
int chs_file_save(const char *path, const void *data, size_t len);

#endif /* CHS_CLIENT_UTIL_FILE_H */
