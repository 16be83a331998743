/*
 * client/service/hotfolder.h - the hot folder: taking scanned files into
 * the store (scan.c, on the worker thread) and watching the folder for
 * them (hotfolder.c, on the loop thread); with the log both write to.
 * Offered to the tests (tests/support/internal.h), never to tools.
 */
#ifndef CHS_CLIENT_SERVICE_HOTFOLDER_H
#define CHS_CLIENT_SERVICE_HOTFOLDER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/crypto.h"
#include "client/store/store.h"

/* ------------------------------------------------------------------ */
/* log.c                                                                */

typedef struct chs_log {
	int fd;    /* stderr unless told */
	int json;  /* JSON lines */
} chs_log;

/* One event, one line: "2026-12-04T10:42:00Z sync: 12 changes in, 3 out"
 * or {"time":...,"event":"sync","message":...}. The message is escaped
 * for a terminal (text from files and other sites may be in it). */
void chs_service__log(const chs_log *l, const char *event, const char *fmt, ...)
	CHS_PRINTF(3, 4);
/* `in` as one line of valid UTF-8 for JSON, a log or systemd's status:
 * controls, bidi overrides and invalid bytes escaped (chs_text_escape),
 * cut to fit `n` on a character's boundary. */
void chs_service__clean(char *out, size_t n, const char *in);

/* ------------------------------------------------------------------ */
/* scan.c: runs on the worker thread, with the store open               */

typedef struct chs_scan_outcome {
	int status;          /* 0: attached or already there; CHS_E*: see `reason` */
	int duplicate;       /* the same bytes were already attached to the patient */
	char record[33];     /* the attachment record's id, new or the duplicate's
			      * ("" when none) */
	char patient[33];    /* the patient it went to ("" when none) */
	const char *where;   /* "done", "removed", "unmatched" (static strings), or
			      * NULL: still in the hot folder */
	char reason[512];    /* one line, in a technician's words: why it was not
			      * taken (unmatched/NAME.reason holds the same), or what
			      * failed; "" when all went well */
} chs_scan_outcome;

/* Take `name` from `folder`: find its patient by the naming rule
 * (<MRN>_<anything>.<ext> or <record-id-prefix>_<anything>.<ext>; the
 * chart number normalised as the store keeps it, else 4+ hex digits of a
 * patient's id), check that its first bytes are what the extension
 * (pdf, tif, tiff, jpg, jpeg, png, any case) says, store it as an
 * encrypted attachment titled with the file name, then move it to
 * folder/done/ (`keep`) or remove it, only after the attachment is
 * committed, fsyncing both folders. One that matches no patient, has the
 * wrong content, an unsafe name, or cannot be read goes to
 * folder/unmatched/ with NAME.reason saying why (status CHS_ENOTFOUND,
 * CHS_EAMBIGUOUS, CHS_EINVALID or CHS_EIO). A name taken in done/ or
 * unmatched/ gets " (2)", " (3)"... before its extension; nothing is
 * overwritten. done/ and unmatched/ are made when missing. The same
 * bytes (SHA-256) already attached to that patient are not attached
 * again (duplicate, status 0, the file still moved). where == NULL, the
 * file left in place: the store could not be read or written (try again
 * later), the file vanished (CHS_ENOTFOUND), or it could not be moved
 * (after a commit: taken again, it is then found a duplicate). Runs on
 * any thread with `s` to itself; no libuv. */
void chs_service__scan_take(chs_store *s, const char *folder, const char *name, int keep,
			    chs_scan_outcome *out);

/* ------------------------------------------------------------------ */
/* hotfolder.c: on the loop thread                                      */

typedef struct chs_hotfolder chs_hotfolder;

typedef struct chs_hotfolder_opts {
	const char *folder;
	uint64_t settle_ms;   /* size and mtime unchanged this long: complete */
	uint64_t rescan_ms;   /* read the whole folder this often; 0: only at start
			       * and on an inotify overflow */
	const chs_log *log;
	/* A complete file, `name` relative to the folder (borrowed for the
	 * call): the daemon takes it on the worker and then calls
	 * chs_service__hotfolder_done(), which it may also do from inside
	 * ready. Not called again for that name until then. */
	void (*ready)(chs_hotfolder *h, const char *name, void *payload);
	void *payload;
} chs_hotfolder_opts;

/* Start watching (inotify IN_CLOSE_WRITE | IN_MOVED_TO | IN_Q_OVERFLOW,
 * and IN_MODIFY | IN_ATTRIB | IN_CREATE to see a file still changing,
 * through uv_poll) and read the folder once. Files named .*, *.tmp or
 * *.part (any case) are ignored, as are folders (done/ and unmatched/,
 * made if missing) and symbolic links. A file is ready once its size
 * and mtime stayed the same for settle_ms; one timer runs only while a
 * file is settling, besides the rescan timer. One log line per file seen,
 * per file ready, per overflow. `opts->log` must outlive the watcher.
 * CHS_EIO with a message when the folder cannot be watched. */
int chs_service__hotfolder_start(chs_hotfolder **out, uv_loop_t *loop,
				 const chs_hotfolder_opts *opts);
/* The daemon dealt with `name`: forget it (a file of that name seen
 * again later is new); with `retry`, the file was left in place: ready
 * again once it has stayed unchanged for another settle_ms. */
void chs_service__hotfolder_done(chs_hotfolder *h, const char *name, int retry);
/* Files seen and not yet dealt with (settling, or handed to ready). */
size_t chs_service__hotfolder_pending(const chs_hotfolder *h);
/* Read the whole folder now (also on IN_Q_OVERFLOW and every rescan_ms). */
void chs_service__hotfolder_rescan(chs_hotfolder *h);
/* Stop watching; memory goes once libuv has closed the handles (run the
 * loop). Accepts NULL. */
void chs_service__hotfolder_stop(chs_hotfolder *h);

#endif /* CHS_CLIENT_SERVICE_HOTFOLDER_H */
