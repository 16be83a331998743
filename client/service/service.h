/*
 * client/service/service.h - the clinic's service (`chartsync daemon`)
 * and talking to it.
 *
 * The service keeps one store open and runs one libuv event loop: it
 * syncs on a timer, in a nightly window and soon after work is typed in,
 * retries an absent archive with backoff, takes scanned pages from a hot
 * folder, and answers requests on a control socket, DIR/control (a Unix
 * socket only its owner may use). The protocol is newline-delimited JSON,
 * one request per line, at most CHS_CONTROL_LINE_MAX bytes:
 *
 *   {"id": ANY, "method": "status"|"sync"|"reload"|"stop", "params": {}}
 *   -> {"id": ANY, "result": {...}}
 *   -> {"id": ANY, "error": {"code": N, "message": "..."}}
 *
 * `code` is a CHS_E* number (crypto/crypto.h), or -32700 for a line that
 * is not JSON and -32600 for a request of the wrong form (JSON-RPC's
 * numbers). README documents each method's result.
 *
 * Errors follow crypto/crypto.h.
 */
#ifndef CHS_CLIENT_SERVICE_SERVICE_H
#define CHS_CLIENT_SERVICE_SERVICE_H

#include <stddef.h>

#define CHS_CONTROL_LINE_MAX (64 * 1024) /* bytes, newline included */

typedef struct chs_service_opts {
	const char *dir;           /* the store's folder */
	const char *user;          /* NULL: chs_store_default_user() */
	const char *passphrase;
	size_t passphrase_len;
	int log_json;              /* 1: one JSON object per line */
	int log_fd;                /* where the log goes; -1: stderr */
} chs_service_opts;

/* Open the store and serve it until SIGTERM, SIGINT or a `stop` request:
 * 0 after a clean stop (the batch being applied finished, the store
 * closed, the socket removed). CHS_EBUSY when another service serves the
 * store (the message names its pid); the store's own errors otherwise.
 * Installs handlers for SIGTERM, SIGINT and SIGHUP for its duration. */
int chs_service_run(const chs_service_opts *opts);

/* 0 when no service serves the store in `dir`; CHS_EBUSY naming its pid
 * otherwise (before a second one asks for a passphrase). */
int chs_service_check_free(const char *dir);

/* Send one request to the service serving the store in `dir` and wait up
 * to `timeout_ms` for its answer. `params_json` is a JSON object's text
 * (NULL: {}). `*result_json` (malloc'ed) is the result's JSON text.
 * CHS_ENOTFOUND when no service serves the store; the service's own
 * error code and message when it refused or failed the request (with
 * `*result_json` then set when the error came with what was done all
 * the same: a sync's report when it refused something, CHS_EDAMAGED);
 * CHS_EIO when it did not answer in time. */
int chs_service_call(const char *dir, const char *method, const char *params_json,
		     int timeout_ms, char **result_json);

#endif /* CHS_CLIENT_SERVICE_SERVICE_H */
