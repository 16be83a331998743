/*
 * Records as the suites write and read them.
 */
#include "support/records.h"
#include "support/internal.h"

#include <check.h>
#include <stdlib.h>

chs_edit tu_edit(const char *name, const char *value)
{
	chs_edit e = { name, value, 0, 0 };

	return e;
}

json_t *tu_json(char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	ck_assert_msg(j != NULL, "not JSON: %.200s", text);
	free(text);
	return j;
}

json_t *tu_show(chs_store *s, const char *id)
{
	char *text = NULL;

	ck_assert_msg(chs_record_show(s, id, &text) == 0, "%s", chs_error_last());
	return tu_json(text);
}

const char *tu_field(json_t *rec, const char *name)
{
	return json_string_value(json_object_get(json_object_get(rec, "fields"), name));
}
