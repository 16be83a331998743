/*
 * client/service/proto.c - the control protocol: one JSON request per
 * line, one JSON reply per line (service.h has the form).
 *
 * The socket is the owner's alone, but what arrives on it is still read
 * as untrusted: any bytes give a well-formed error reply, never a crash
 * (tests/fuzz/fuzz_control.c).
 */
#include "service_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const methods[] = { "status", "sync", "reload", "stop" };

static char *finish(json_t *reply)
{
	char *text, *line = NULL;
	size_t n;

	if (!reply)
		return NULL;
	text = json_dumps(reply, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(reply);
	if (!text)
		return NULL;
	n = strlen(text);
	if ((line = chs_malloc(n + 2))) {
		memcpy(line, text, n);
		line[n] = '\n';
		line[n + 1] = '\0';
	}
	free(text);
	return line;
}

char *chs_service__reply_result(json_t *id, json_t *result)
{
	json_t *r = json_object();

	if (!r || json_object_set(r, "id", id ? id : json_null()) < 0 ||
	    json_object_set_new(r, "result", result ? result : json_object()) < 0) {
		json_decref(r);
		return NULL;
	}
	return finish(r);
}

char *chs_service__reply_error(json_t *id, int code, const char *message)
{
	json_t *r = json_pack("{s:O?, s:{s:i, s:s}}", "id", id, "error", "code", code,
			      "message", message);

	/* a message that is not valid UTF-8 still gets its caller an answer */
	if (!r)
		r = json_pack("{s:O?, s:{s:i, s:s}}", "id", id, "error", "code", code, "message",
			      "the service's message was not valid text; see its log");

	if (r && !id)
		json_object_set_new(r, "id", json_null());
	return finish(r);
}

char *chs_service__reply_error_data(json_t *id, int code, const char *message, json_t *data)
{
	char *line = chs_service__reply_error(id, code, message);
	json_t *r;

	if (!data || !line) {
		json_decref(data);
		return line;
	}
	r = json_loads(line, 0, NULL);
	/* json_object_set_new() takes `data` even when it fails */
	if (!r || json_object_set_new(json_object_get(r, "error"), "data", data) < 0) {
		if (!r)
			json_decref(data);
		json_decref(r);
		return line; /* the error alone, still an answer */
	}
	free(line);
	return finish(r);
}

void chs_service__request_dispose(chs_request *r)
{
	json_decref(r->id);
	json_decref(r->params);
	memset(r, 0, sizeof(*r));
}

static int refuse(chs_request *r, int code, const char *why, char **reply)
{
	*reply = chs_service__reply_error(r->id, code, why);
	chs_service__request_dispose(r);
	return code;
}

int chs_service__request_parse(chs_request *out, const char *line, size_t len, char **reply)
{
	json_error_t jerr;
	json_t *doc, *method, *params;
	size_t i;

	memset(out, 0, sizeof(*out));
	*reply = NULL;
	/* any JSON value, so that a scalar is told it is not an object (not
	 * that it is not JSON); a key given twice is refused, never read as
	 * the first or the last ({"method":"status","method":"stop"}) */
	doc = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!doc && json_error_code(&jerr) == json_error_duplicate_key)
		return refuse(out, CHS_RPC_INVALID_REQUEST, "a request names each key once", reply);
	if (!doc)
		return refuse(out, CHS_RPC_PARSE_ERROR, "the request is not one line of JSON", reply);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return refuse(out, CHS_RPC_INVALID_REQUEST, "a request is a JSON object", reply);
	}
	out->id = json_incref(json_object_get(doc, "id"));
	method = json_incref(json_object_get(doc, "method"));
	params = json_object_get(doc, "params");
	out->params = params ? json_incref(params) : json_object();
	json_decref(doc);
	if (json_is_string(method))
		snprintf(out->method, sizeof(out->method), "%s",
			 strlen(json_string_value(method)) < sizeof(out->method)
			 ? json_string_value(method) : "?"); /* too long to be one */
	json_decref(method);
	if (!out->params || !json_is_object(out->params))
		return refuse(out, CHS_RPC_INVALID_REQUEST, "\"params\" must be an object", reply);
	if (!out->method[0])
		return refuse(out, CHS_RPC_INVALID_REQUEST, "a request names its \"method\"", reply);
	for (i = 0; i < sizeof(methods) / sizeof(*methods); i++)
		if (strcmp(out->method, methods[i]) == 0)
			return 0;
	return refuse(out, CHS_RPC_INVALID_REQUEST,
		      "unknown method: the service answers status, sync, reload and stop", reply);
}
