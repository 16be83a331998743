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
/* ------------------------------------------------------------------ */
/* scan.c: runs on the worker thread, with the store open               */

typedef struct chs_scan_outcome {
	int status;          /* 0: attached or already there; CHS_E*: see `reason` */
	int duplicate;       /* the same bytes were already attached to the patient */
	char record[33];     /* the attachment record's id ("" when none) */
	char patient[33];    /* the patient it went to ("" when none) */
	const char *where;   /* "done", "removed", "unmatched", or NULL: left in place */
	char reason[512];    /* why it was not taken, in a technician's words */
} chs_scan_outcome;

/* Take `name` from `folder`: find its patient by the naming rule
 * (<MRN>_<anything>.<ext> or <record-id-prefix>_<anything>.<ext>), store
 * it as an encrypted attachment titled from the file name, then move it
 * to folder/done/ (`keep`) or remove it, only after the attachment is
 * committed. One that matches no patient or cannot be read goes to
 * folder/unmatched/ with NAME.reason saying why. The same bytes already
 * attached to that patient are not attached again. A failure to write the
 * store leaves the file where it is (where == NULL), to be tried again. */
void chs_service__scan_take(chs_store *s, const char *folder, const char *name, int keep,
			    chs_scan_outcome *out);

/* ------------------------------------------------------------------ */
/* hotfolder.c: on the loop thread                                      */

typedef struct chs_hotfolder chs_hotfolder;

typedef struct chs_hotfolder_opts {
	const char *folder;
	uint64_t settle_ms;   /* size and mtime unchanged this long: complete */
	uint64_t rescan_ms;   /* read the whole folder this often */
	const chs_log *log;
	/* A complete file, `name` relative to the folder: the daemon takes
	 * it on the worker and then calls chs_service__hotfolder_done(). Not
	 * called again for that name until then. */
	void (*ready)(chs_hotfolder *h, const char *name, void *payload);
	void *payload;
} chs_hotfolder_opts;

/* Start watching (inotify IN_CLOSE_WRITE | IN_MOVED_TO | IN_Q_OVERFLOW,
 * through uv_poll) and read the folder once. Files named .*, *.tmp or
 * *.part are ignored, as are the folders done/ and unmatched/ (made if
 * missing). CHS_EIO with a message when the folder cannot be watched. */
int chs_service__hotfolder_start(chs_hotfolder **out, uv_loop_t *loop,
				 const chs_hotfolder_opts *opts);
/* The daemon dealt with `name`: forget it (retry: look at it again after
 * settle_ms, for a file left in place). */
void chs_service__hotfolder_done(chs_hotfolder *h, const char *name, int retry);
/* Files seen and not yet dealt with. */
size_t chs_service__hotfolder_pending(const chs_hotfolder *h);
/* Read the whole folder now (also on IN_Q_OVERFLOW and every rescan_ms). */
void chs_service__hotfolder_rescan(chs_hotfolder *h);
/* Stop watching; memory goes once libuv has closed the handles (run the
 * loop). Accepts NULL. */
void chs_service__hotfolder_stop(chs_hotfolder *h);

#endif /* CHS_CLIENT_SERVICE_HOTFOLDER_H */
