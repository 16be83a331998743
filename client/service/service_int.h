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
 * scan taken, counts refreshed, a backup) runs one job at a time on libuv's
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
#include "client/service/hotfolder.h"

/* ------------------------------------------------------------------ */
/* log.c: chs_log and chs_service__log() are in hotfolder.h              */

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

/* scan.c and hotfolder.c: client/service/hotfolder.h (offered to tests) */

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
