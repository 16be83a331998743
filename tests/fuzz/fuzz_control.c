/*
 * Fuzz target: one line arriving on the service's control socket
 * (client/service/proto.c). Never crash or leak; a line that decodes
 * names a method the service answers and has params that are an object;
 * every reply, to a good line or a bad one, is one line of JSON that
 * ends in its only newline.
 */
#include "client/service/proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One line of ASCII with no control character but DEL (JSON escapes
 * the others, JSON_ENSURE_ASCII the rest), ending in '\n', that is JSON
 * again. */
static void check_reply(char *reply)
{
	size_t n, i;
	json_t *back;

	if (!reply)
		abort();
	n = strlen(reply);
	if (n < 2 || reply[n - 1] != '\n')
		abort();
	for (i = 0; i + 1 < n; i++)
		if ((unsigned char)reply[i] < 0x20 || (unsigned char)reply[i] > 0x7f)
			abort();
	if (!(back = json_loadb(reply, n - 1, JSON_REJECT_DUPLICATES, NULL)) ||
	    !json_is_object(back) || !json_object_get(back, "id"))
		abort();
	json_decref(back);
	free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	chs_request req;
	char *reply = NULL;
	int rc = chs_service__request_parse(&req, (const char *)data, size, &reply);

	if (rc == 0) {
		if (reply || !req.params || !json_is_object(req.params) ||
		    (strcmp(req.method, "status") != 0 && strcmp(req.method, "sync") != 0 &&
		     strcmp(req.method, "reload") != 0 && strcmp(req.method, "stop") != 0))
			abort();
		/* what the service sends back carries the id it was given */
		check_reply(chs_service__reply_result(req.id, json_pack("{s:s}", "method",
									    req.method)));
		check_reply(chs_service__reply_error(req.id, -5, "refused\nhere"));
		chs_service__request_dispose(&req);
		return 0;
	}
	if (rc != CHS_RPC_PARSE_ERROR && rc != CHS_RPC_INVALID_REQUEST)
		abort();
	if (req.id || req.params)
		abort(); /* a refused request keeps nothing */
	check_reply(reply);
	return 0;
}
