/*
 * client/service/service_int.h - the service's files and what each offers
 * the others. Only this folder includes it.
 *
 * Bottom to top (a file calls only files listed before it):
 *
 *   log.c        one line per event, text or JSON, escaped
 *   proto.c      the control protocol's requests and replies (jansson)
 *   schedule.c   when the next sync is due: interval, window, backoff
 *   notify.c     systemd's notification socket (libsystemd's sd_notify)
 *   scan.c       taking one scanned file into the store (worker thread)
 *   hotfolder.c  watching the hot folder (inotify through uv_poll)
 *   control.c    the control socket (uv_pipe, SO_PEERCRED)
 *   client.c     chs_service_call(): the CLI's side of the socket
 *   daemon.c     chs_service_run(): the loop, the worker, the signals
 *
 * Threads: the loop thread owns every uv handle; store work (a sync, a
 * scan taken, counts refreshed) runs one job at a time on libuv's
 * threadpool with the service's chs_store, and reports back through the
 * job's after-work callback on the loop thread.
 */
#ifndef CHS_CLIENT_SERVICE_SERVICE_INT_H
#define CHS_CLIENT_SERVICE_SERVICE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <jansson.h>

#include "service.h"
#include "schedule.h"
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
/* The wall clock, ms since the epoch (what schedules are kept against:
 * libuv's clock stops while the machine sleeps). */
uint64_t chs_service__wall_ms(void);

/* ------------------------------------------------------------------ */
/* proto.c                                                              */

/* The requests and replies: proto.h, offered to the tests. */
#include "proto.h"

/* schedule.c: client/service/schedule.h (offered, for its tests) */

/* ------------------------------------------------------------------ */
/* notify.c                                                             */

/* sd_notify(3) when $NOTIFY_SOCKET is set; nothing otherwise. */
void chs_service__notify(const char *state);
/* The watchdog's interval in ms (half of $WATCHDOG_USEC for this pid),
 * 0 when systemd asked for none. */
uint64_t chs_service__watchdog_ms(void);

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

/* ------------------------------------------------------------------ */
/* client.c (besides chs_service_call)                                  */

/* CHS_EBUSY naming the pid written in the pid file `fd` of the service
 * that holds the store in `dir`. */
int chs_service__busy(const char *dir, int fd);

/* ------------------------------------------------------------------ */
/* control.c: on the loop thread                                        */

typedef struct chs_control chs_control;
typedef struct chs_control_call chs_control_call;

/* A request arrived; answer it now or later with chs_service__control_answer
 * (exactly once per call). */
typedef void (*chs_control_fn)(chs_control_call *call, const chs_request *req, void *payload);

/* Listen on `path` (mode 0600), replacing a stale socket a killed service
 * left; CHS_EBUSY naming the pid when a live service answers there. */
int chs_service__control_listen(chs_control **out, uv_loop_t *loop, const char *path,
				const chs_log *log, chs_control_fn fn, void *payload);
/* Send the reply (from chs_service__reply_*) to the call's client, if it
 * is still connected; frees `reply` and the call. */
void chs_service__control_answer(chs_control_call *call, char *reply);
/* Stop listening, remove the socket, close every connection. */
void chs_service__control_close(chs_control *c);

#endif /* CHS_CLIENT_SERVICE_SERVICE_INT_H */
