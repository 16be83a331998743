/*
 * tests/support/faultvfs.h - I/O faults under the encrypting VFS.
 *
 * A test-only SQLite VFS registered as the default under the name "unix":
 * crypto/vfs.c builds every store's VFS on sqlite3_vfs_find("unix"), so
 * every page a store reads or writes passes through it, without a change
 * to crypto. It counts xRead, xWrite, xSync, xTruncate, xLock and the
 * wal-index calls (xShmMap, xShmLock), and the writes, syncs and renames
 * of files written outside SQLite (client/util's chs_file__set_fault()
 * hook), on one counter, and fails the Nth:
 *
 *   TU_FAULT_EIO    with an I/O error (SQLITE_IOERR_READ, _WRITE, ...;
 *                   EIO outside SQLite);
 *   TU_FAULT_FULL   with a full disk (SQLITE_FULL; ENOSPC outside SQLite)
 *                   where the call can fill a disk (write, truncate,
 *                   sync), with an I/O error elsewhere;
 *   TU_FAULT_CRASH  as a power cut, as SQLite's crash-test VFS: every
 *                   write not yet synced is undone (each file keeps an
 *                   undo log since its last xSync; a rename whose folder
 *                   was not synced yet is undone too) and the process
 *                   _exit()s with TU_FAULT_CRASH_EXIT. Run it in a forked
 *                   child.
 *
 * After the fault the VFS passes everything through (a fault is one call,
 * as a bad sector or a full disk met once).
 */
#ifndef CHS_TEST_FAULTVFS_H
#define CHS_TEST_FAULTVFS_H

typedef enum tu_fault_mode {
	TU_FAULT_NONE,
	TU_FAULT_EIO,
	TU_FAULT_FULL,
	TU_FAULT_CRASH
} tu_fault_mode;

#define TU_FAULT_CRASH_EXIT 86

/* Register the shim (once; later calls do nothing) and the file hook. */
void tu_faultvfs_install(void);
/* Start counting from zero; fail call `nth` (1 = the next) with `mode`;
 * nth 0 or TU_FAULT_NONE only counts. Undo logs start afresh. */
void tu_faultvfs_arm(tu_fault_mode mode, long nth);
/* The disk fills at call `nth`: from it on, every write and sync (in
 * SQLite and outside it) fails with a full disk, reads still work. */
void tu_faultvfs_fill(long nth);
/* Stop failing (counting goes on). */
void tu_faultvfs_disarm(void);
/* Calls counted since the last arm. */
long tu_faultvfs_calls(void);
/* Calls of one kind since the last arm ("read", ... as below). */
long tu_faultvfs_calls_of(const char *kind);
/* Whether the armed fault was dealt, and at which call kind ("read",
 * "write", "sync", "truncate", "lock", "shm-map", "shm-lock",
 * "file-write", "file-sync", "file-rename"). */
int tu_faultvfs_fired(void);
const char *tu_faultvfs_fired_at(void);
const char *tu_faultvfs_mode_name(tu_fault_mode mode);

#endif
