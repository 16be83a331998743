/*
 * client/service/proto.h - the control protocol's requests and replies
 * (proto.c), offered to the tests that decode what a client may send
 * (tests/fuzz/fuzz_control.c, tests/client/test_service_proto.c).
 * service.h has the protocol's form.
 */
#ifndef CHS_CLIENT_SERVICE_PROTO_H
#define CHS_CLIENT_SERVICE_PROTO_H

#include <stddef.h>
#include <jansson.h>

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
/* An error with what was done all the same in "data" (a sync that
 * refused something still reports what it applied); `data` is stolen. */
char *chs_service__reply_error_data(json_t *id, int code, const char *message, json_t *data);

#endif /* CHS_CLIENT_SERVICE_PROTO_H */
