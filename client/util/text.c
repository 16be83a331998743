/*
 * Values as the store keeps them, read back: record ids in hex, canonical
 * JSON strings, HLC stamps as ISO 8601 times.
 */
#include "client/util/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *chs_util__json_string(const char *json)
{
	size_t len = json ? strlen(json) : 0;
	json_t *v;
	char *out = NULL;

	/* canonical strings without escapes are their own text, quoted */
	if (len >= 2 && json[0] == '"' && json[len - 1] == '"' &&
	    !memchr(json + 1, '\\', len - 2) && (out = chs_malloc(len - 1))) {
		memcpy(out, json + 1, len - 2);
		out[len - 2] = '\0';
		return out;
	}
	v = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;

	if (json_is_string(v))
		out = chs_util__strdup(json_string_value(v));
	json_decref(v);
	return out;
}

int chs_util__parse_id(unsigned char out[16], const char *hex)
{
	return strlen(hex) == 32 ? chs_unhex(out, 16, hex) : CHS_EINVALID;
}

void chs_util__ms_time(int64_t ms, char out[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || !gmtime_r(&secs, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(out, 32, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out + 19, 13, ".%03dZ", (int)(ms % 1000));
}

void chs_util__hlc_time(chs_hlc t, char out[32])
{
	chs_util__ms_time((int64_t)chs_hlc_ms(t), out);
}
