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
#include "crypto/crypto.h"
#include "client/store/store.h"
#include "client/service/hotfolder.h"

/* ------------------------------------------------------------------ */
/* log.c: chs_log and chs_service__log() are in hotfolder.h              */

/* The wall clock, ms since the epoch (what schedules are kept against:
 * libuv's clock stops while the machine sleeps). */
uint64_t chs_service__wall_ms(void);

/* ------------------------------------------------------------------ */
/* proto.c                                                              */

#define CHS_RPC_PARSE_ERROR (-32700)
#define CHS_RPC_INVALID_REQUEST (-32600)

typedef struct chs_request {
	json_t *id;       /* any JSON value, or NULL when absent (owned) */
	char method[16];  /* "status", "sync", "reload", "stop" */
	json_t *params;   /* an object (owned; never NULL after a parse) */
} chs_request;

/* Decode one request line (without its newline). 0, or an error code
 * (CHS_RPC_*) with `*reply` (malloc'ed, newline-terminated) the error
 * reply to send. Never crashes on any bytes (fuzzed). */
int chs_service__request_parse(chs_request *out, const char *line, size_t len, char **reply);
void chs_service__request_dispose(chs_request *r);
/* Replies, newline-terminated, malloc'ed (NULL when out of memory).
 * `result` is stolen. */
char *chs_service__reply_result(json_t *id, json_t *result);
char *chs_service__reply_error(json_t *id, int code, const char *message);

/* ------------------------------------------------------------------ */
/* schedule.c                                                           */

typedef struct chs_schedule_conf {
	long interval_s;      /* 0: no interval */
	int window_start;     /* minutes after local midnight; -1: no window */
	int window_end;
	long after_write_s;
	uint64_t offset_ms;   /* this store's fixed offset, 0 .. 60 s */
} chs_schedule_conf;

typedef struct chs_backoff {
	unsigned failures;    /* in a row; 0 after a good sync */
	uint64_t delay_ms;    /* the current wait */
} chs_backoff;

/* When the next sync is due (wall-clock ms since the epoch), given the
 * last good sync's time (0: never), the last attempt's (0: never) and
 * now. A window is in local time. Never earlier than now. */
uint64_t chs_service__next_sync(const chs_schedule_conf *c, uint64_t last_good_ms,
				uint64_t now_ms);
/* After a failed attempt: the wait before the next, with full jitter
 * (a random time between 0 and min(15 min, 30 s * 2^failures)). */
uint64_t chs_service__backoff_fail(chs_backoff *b);
void chs_service__backoff_reset(chs_backoff *b);

/* ------------------------------------------------------------------ */
/* notify.c                                                             */

/* sd_notify(3) when $NOTIFY_SOCKET is set; nothing otherwise. */
void chs_service__notify(const char *state);
/* The watchdog's interval in ms (half of $WATCHDOG_USEC for this pid),
 * 0 when systemd asked for none. */
uint64_t chs_service__watchdog_ms(void);

/* scan.c and hotfolder.c: client/service/hotfolder.h (offered to tests) */

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
