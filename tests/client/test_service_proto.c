/*
 * client/service/proto.c: what the service makes of one line on its
 * control socket, and what it sends back. A client that gets the form
 * wrong gets an error reply naming what is wrong, with its id, on one
 * line; nothing it sends is taken for another request.
 */
#include "support/internal.h" /* the decoder, offered to the tests */
#include "support/testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* A reply as a client reads it: one line of ASCII with no control
 * character but DEL (which JSON leaves as it is), ending in its only
 * newline, and JSON. The parsed reply; the test frees it. */
static json_t *read_reply(const char *reply)
{
	size_t n, i;
	json_t *doc;

	ck_assert_ptr_nonnull(reply);
	n = strlen(reply);
	ck_assert_msg(n >= 2 && reply[n - 1] == '\n', "no final newline: %s", reply);
	for (i = 0; i + 1 < n; i++)
		ck_assert_msg((unsigned char)reply[i] >= 0x20 && (unsigned char)reply[i] <= 0x7f,
			      "byte %zu of the reply is %#x: %s", i, (unsigned char)reply[i], reply);
	doc = json_loadb(reply, n - 1, JSON_REJECT_DUPLICATES, NULL);
	ck_assert_msg(doc && json_is_object(doc), "not a JSON object: %s", reply);
	return doc;
}

/* Decode `line`, which must be refused with `code`: the error reply,
 * checked to carry that code and a message. The test frees it. */
static json_t *refused(const char *line, size_t len, int code)
{
	chs_request req;
	char *reply = (char *)"untouched";
	json_t *doc, *err;
	int rc = chs_service__request_parse(&req, line, len, &reply);

	ck_assert_msg(rc == code, "'%.*s': %d, wanted %d", (int)len, line, rc, code);
	ck_assert_ptr_null(req.id);
	ck_assert_ptr_null(req.params);
	doc = read_reply(reply);
	free(reply);
	err = json_object_get(doc, "error");
	ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), code);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(err, "message")));
	ck_assert_ptr_null(json_object_get(doc, "result"));
	return doc;
}

static const char *message(json_t *doc)
{
	return json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
}

#define REFUSED(s, code) refused((s), strlen(s), (code))

START_TEST(test_proto__every_method_decodes)
{
	static const char *const methods[] = { "status", "sync", "reload", "stop" };
	char line[128], *reply = NULL;
	chs_request req;
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "{\"id\":%zu,\"method\":\"%s\",\"params\":{}}", i,
			 methods[i]);
		ck_assert_int_eq(chs_service__request_parse(&req, line, strlen(line), &reply), 0);
		ck_assert_ptr_null(reply);
		ck_assert_str_eq(req.method, methods[i]);
		ck_assert_int_eq(json_integer_value(req.id), (json_int_t)i);
		ck_assert(json_is_object(req.params));
		chs_service__request_dispose(&req);
	}
	/* params may be left out, and the line may have spaces around */
	strcpy(line, " { \"method\" : \"status\" } ");
	ck_assert_int_eq(chs_service__request_parse(&req, line, strlen(line), &reply), 0);
	ck_assert(json_is_object(req.params));
	ck_assert_int_eq(json_object_size(req.params), 0);
	ck_assert_ptr_null(req.id);
	chs_service__request_dispose(&req);
	/* params the method does not use are kept, not refused */
	strcpy(line, "{\"method\":\"sync\",\"params\":{\"why\":\"cli\"}}");
	ck_assert_int_eq(chs_service__request_parse(&req, line, strlen(line), &reply), 0);
	ck_assert_str_eq(json_string_value(json_object_get(req.params, "why")), "cli");
	chs_service__request_dispose(&req);
}
END_TEST

START_TEST(test_proto__not_json_is_a_parse_error)
{
	static const char *const bad[] = {
		"", "status", "{\"method\":\"status\"", "{'method':'status'}",
		"{\"method\":\"status\"} {\"method\":\"stop\"}", /* two requests on one line */
		"{\"method\":\"stat\xffus\"}",                    /* not UTF-8 */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *doc = REFUSED(bad[i], CHS_RPC_PARSE_ERROR);

		ck_assert(json_is_null(json_object_get(doc, "id")));
		json_decref(doc);
	}
	/* a NUL byte inside the line ends nothing early */
	json_decref(refused("{\"method\":\"stop\"}\0garbage", 25, CHS_RPC_PARSE_ERROR));
}
END_TEST

START_TEST(test_proto__json_that_is_not_an_object_is_an_invalid_request)
{
	/* service.h: -32700 only for a line that is not JSON; these are */
	static const char *const bad[] = { "[{\"method\":\"status\"}]", "\"status\"", "42", "null",
					   "true" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *doc = REFUSED(bad[i], CHS_RPC_INVALID_REQUEST);

		ck_assert_str_eq(message(doc), "a request is a JSON object");
		json_decref(doc);
	}
}
END_TEST

START_TEST(test_proto__a_method_missing_unknown_or_too_long_is_refused)
{
	static const struct { const char *line, *says; } cases[] = {
		{ "{\"id\":1}", "names its \"method\"" },
		{ "{\"id\":1,\"method\":5}", "names its \"method\"" },
		{ "{\"id\":1,\"method\":null}", "names its \"method\"" },
		{ "{\"id\":1,\"method\":\"\"}", "names its \"method\"" },
		{ "{\"id\":1,\"method\":\"restart\"}", "status, sync, reload and stop" },
		{ "{\"id\":1,\"method\":\"STATUS\"}", "status, sync, reload and stop" },
		{ "{\"id\":1,\"method\":\"?\"}", "status, sync, reload and stop" },
		{ "{\"id\":1,\"method\":\"status \"}", "status, sync, reload and stop" },
		/* longer than any method: never cut down to one */
		{ "{\"id\":1,\"method\":\"stopstopstopstop\"}", "status, sync, reload and stop" },
		{ "{\"id\":1,\"method\":\"status0123456789abcdef\"}", "status, sync, reload and stop" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		json_t *doc = REFUSED(cases[i].line, CHS_RPC_INVALID_REQUEST);

		ck_assert_msg(strstr(message(doc), cases[i].says), "%s: %s", cases[i].line,
			      message(doc));
		ck_assert_int_eq(json_integer_value(json_object_get(doc, "id")), 1);
		json_decref(doc);
	}
}
END_TEST

START_TEST(test_proto__params_must_be_an_object)
{
	static const char *const bad[] = {
		"{\"id\":1,\"method\":\"status\",\"params\":[]}",
		"{\"id\":1,\"method\":\"status\",\"params\":null}",
		"{\"id\":1,\"method\":\"status\",\"params\":\"{}\"}",
		"{\"id\":1,\"method\":\"status\",\"params\":0}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *doc = REFUSED(bad[i], CHS_RPC_INVALID_REQUEST);

		ck_assert_str_eq(message(doc), "\"params\" must be an object");
		json_decref(doc);
	}
}
END_TEST

/* The id a client sent comes back in the reply, to a good request and to
 * a refused one; no id, no id of its own: null. */
START_TEST(test_proto__the_id_is_echoed)
{
	static const struct { const char *id, *back; } cases[] = {
		{ "7", "7" }, { "-1.5", "-1.5" }, { "\"cli-42\"", "\"cli-42\"" }, { "null", "null" },
		{ NULL, "null" }, { "\"two\\nlines \\u00e9\"", "\"two\\nlines \\u00e9\"" },
		{ "{\"a\":[1]}", "{\"a\":[1]}" },
	};
	char line[256], *reply = NULL, *text;
	chs_request req;
	json_t *doc, *want;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		want = json_loads(cases[i].back, JSON_DECODE_ANY, NULL);
		ck_assert_ptr_nonnull(want);
		if (cases[i].id)
			snprintf(line, sizeof(line), "{\"id\":%s,\"method\":\"status\"}", cases[i].id);
		else
			snprintf(line, sizeof(line), "{\"method\":\"status\"}");
		ck_assert_int_eq(chs_service__request_parse(&req, line, strlen(line), &reply), 0);
		text = chs_service__reply_result(req.id, json_pack("{s:i}", "pid", 1));
		doc = read_reply(text);
		free(text);
		ck_assert_msg(json_equal(json_object_get(doc, "id"), want), "%s", line);
		ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "result"),
								    "pid")), 1);
		json_decref(doc);
		text = chs_service__reply_error(req.id, CHS_EBUSY, "busy");
		doc = read_reply(text);
		free(text);
		ck_assert_msg(json_equal(json_object_get(doc, "id"), want), "%s", line);
		json_decref(doc);
		chs_service__request_dispose(&req);
		/* and to a request refused after its id was read */
		if (cases[i].id)
			snprintf(line, sizeof(line), "{\"id\":%s,\"method\":\"reboot\"}", cases[i].id);
		else
			snprintf(line, sizeof(line), "{\"method\":\"reboot\"}");
		doc = REFUSED(line, CHS_RPC_INVALID_REQUEST);
		ck_assert_msg(json_equal(json_object_get(doc, "id"), want), "%s", line);
		json_decref(doc);
		json_decref(want);
	}
}
END_TEST

/* {"method":"status","method":"stop"} is not read as either: two keys of
 * one name are refused, whichever the parser would have kept. */
START_TEST(test_proto__duplicate_keys_are_refused)
{
	static const char *const bad[] = {
		"{\"id\":1,\"method\":\"status\",\"method\":\"stop\"}",
		"{\"id\":1,\"id\":2,\"method\":\"status\"}",
		"{\"method\":\"status\",\"params\":{},\"params\":{}}",
		"{\"method\":\"status\",\"params\":{\"a\":1,\"a\":2}}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *doc = REFUSED(bad[i], CHS_RPC_INVALID_REQUEST);

		ck_assert_msg(strstr(message(doc), "once"), "%s: %s", bad[i], message(doc));
		json_decref(doc);
	}
}
END_TEST

/* Whatever goes into a reply, it stays one line: a reader that splits on
 * newlines never sees half a reply or two. */
START_TEST(test_proto__a_reply_is_one_line)
{
	json_t *id = json_string("a\nb\r\x1b[2J\xc3\xa9"), *doc;
	char *text;

	text = chs_service__reply_error(id, CHS_EINVALID, "line one\nline two\t\x1b[31m");
	doc = read_reply(text);
	ck_assert_str_eq(message(doc), "line one\nline two\t\x1b[31m");
	ck_assert_str_eq(json_string_value(json_object_get(doc, "id")), "a\nb\r\x1b[2J\xc3\xa9");
	json_decref(doc);
	free(text);
	text = chs_service__reply_result(id, json_pack("{s:s}", "status", "x\ny \xe2\x80\xae"));
	doc = read_reply(text);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "result"),
							   "status")), "x\ny \xe2\x80\xae");
	json_decref(doc);
	free(text);
	/* a message that is not UTF-8 still gets an answer, not silence */
	text = chs_service__reply_error(id, CHS_EIO, "remote: \xff\xfe half");
	ck_assert_ptr_nonnull(text);
	doc = read_reply(text);
	ck_assert_ptr_nonnull(strstr(message(doc), "not valid text"));
	json_decref(doc);
	free(text);
	/* an error with what was done all the same */
	text = chs_service__reply_error_data(id, CHS_EDAMAGED, "1 thing was refused",
					     json_pack("{s:i}", "changes_in", 7));
	doc = read_reply(text);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(
		doc, "error"), "data"), "changes_in")), 7);
	json_decref(doc);
	free(text);
	/* no result given: an empty object, not a missing key */
	text = chs_service__reply_result(NULL, NULL);
	ck_assert_str_eq(text, "{\"id\":null,\"result\":{}}\n");
	free(text);
	json_decref(id);
}
END_TEST

START_TEST(test_proto__deep_nesting_is_refused_not_a_crash)
{
	size_t n = 60000;
	char *line = malloc(n);

	ck_assert_ptr_nonnull(line);
	memset(line, '[', n);
	json_decref(refused(line, n, CHS_RPC_PARSE_ERROR));
	memcpy(line, "{\"method\":\"status\",\"params\":", 28);
	memset(line + 28, '{', n - 28);
	json_decref(refused(line, n, CHS_RPC_PARSE_ERROR));
	free(line);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client/service/proto");
	TCase *tc = tcase_create("proto");

	tcase_add_test(tc, test_proto__every_method_decodes);
	tcase_add_test(tc, test_proto__not_json_is_a_parse_error);
	tcase_add_test(tc, test_proto__json_that_is_not_an_object_is_an_invalid_request);
	tcase_add_test(tc, test_proto__a_method_missing_unknown_or_too_long_is_refused);
	tcase_add_test(tc, test_proto__params_must_be_an_object);
	tcase_add_test(tc, test_proto__the_id_is_echoed);
	tcase_add_test(tc, test_proto__duplicate_keys_are_refused);
	tcase_add_test(tc, test_proto__a_reply_is_one_line);
	tcase_add_test(tc, test_proto__deep_nesting_is_refused_not_a_crash);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
