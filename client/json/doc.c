/*
 * Building a JSON document (client/json/json_int.h).
 */
#include "json_int.h"

void chs_json__set(chs_json_doc *d, json_t *o, const char *key, json_t *v)
{
	if (!o || !v) {
		json_decref(v);
		d->bad = 1;
	} else if (json_object_set_new(o, key, v) < 0) {
		d->bad = 1;
	}
}

void chs_json__add(chs_json_doc *d, json_t *arr, json_t *v)
{
	if (!arr || !v) {
		json_decref(v);
		d->bad = 1;
	} else if (json_array_append_new(arr, v) < 0) {
		d->bad = 1;
	}
}

json_t *chs_json__value(const char *text)
{
	return json_loads(text, JSON_DECODE_ANY, NULL);
}

json_t *chs_json__strings(chs_json_doc *d, const char *const *s, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		chs_json__add(d, arr, json_string(s[i]));
	return arr;
}

int chs_json__dump(chs_json_doc *d, json_t *v, size_t flags, char **out)
{
	*out = NULL;
	if (!d->bad && v)
		*out = json_dumps(v, JSON_COMPACT | flags);
	json_decref(v);
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}
