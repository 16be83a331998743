/*
 * Canonical JSON (RFC 8785, restricted): the one byte form of a value, so
 * that equal values have equal bytes and a change's hash is the same on
 * every platform.
 *
 * jansson parses (it refuses duplicate keys, invalid UTF-8, lone
 * surrogates, NUL characters and integers beyond 64 bits); this file
 * writes. jansson's own dump cannot be used: it escapes control
 * characters as \u001F (RFC 8785 wants lowercase hex) and sorts keys by
 * bytes, not by UTF-16 code units.
 *
 * What is refused and why:
 *   - reals (anything with a fraction or an exponent, even 1.0 or 1e3):
 *     RFC 8785 would print them with ECMAScript's shortest round-trip
 *     algorithm, which chartsync has no need for (money is integer cents);
 *   - integers beyond +-2^53: a double cannot hold them exactly, so other
 *     readers (JavaScript, the archive's tools) would see another value;
 *   - U+0000 anywhere: values and names are C strings.
 * "-0" parses as the integer 0 and is written "0", as RFC 8785 does.
 */
#include "sync_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * UTF-8
 */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. Its code point
 * goes to *cp. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n, i;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, c &= 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, c &= 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, c &= 0x07, min = 0x10000;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

int chs_sync__utf8_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t cp;

	while (i < len) {
		if (p[i] - 1u < 0x7fu) { /* ASCII other than NUL: the common case */
			i++;
			continue;
		}
		if (p[i] == 0)
			return 0;
		if ((n = utf8_next(p + i, len - i, &cp)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* Map a code point to a number that sorts as its UTF-16 form does: the
 * supplementary planes (surrogate pairs, D800-DBFF first) come after
 * U+D7FF and before U+E000. Within each range order is kept. */
static uint32_t utf16_rank(uint32_t cp)
{
	if (cp < 0xD800)
		return cp;
	if (cp >= 0x10000)
		return cp - 0x10000 + 0xD800;
	return cp + 0x110000; /* U+E000..U+FFFF */
}

int chs_sync__keycmp(const char *a, const char *b)
{
	const unsigned char *pa = (const unsigned char *)a;
	const unsigned char *pb = (const unsigned char *)b;
	size_t la = strlen(a), lb = strlen(b);

	/* Equal prefixes need no decoding; start at the first difference's
	 * code point (back up over continuation bytes). */
	size_t i = 0;

	while (i < la && i < lb && pa[i] == pb[i])
		i++;
	while (i > 0 && (pa[i] & 0xC0) == 0x80)
		i--;
	if (i == la || i == lb)
		return (la > i) - (lb > i);
	{
		uint32_t ca = pa[i], cb = pb[i];

		/* Keys are checked UTF-8; a malformed one falls back to bytes. */
		if (!utf8_next(pa + i, la - i, &ca) ||
		    !utf8_next(pb + i, lb - i, &cb))
			return strcmp(a + i, b + i);
		ca = utf16_rank(ca);
		cb = utf16_rank(cb);
		return ca < cb ? -1 : ca > cb;
	}
}

/* ---------------------------------------------------------------------
 * Writer
 */

/* Append s[0..n) raw, then nothing else; chs_buf frees itself on error. */
static int put(chs_buf *out, const char *s, size_t n)
{
	return chs_buf_put(out, s, n);
}

/* The escape for a byte JSON requires escaping, into esc; its length. */
static size_t escape(unsigned char c, char esc[6])
{
	static const char hex[] = "0123456789abcdef";
	static const char shorts[] = "\"\"\\\\\bb\ff\nn\rr\tt";
	size_t i;

	esc[0] = '\\';
	for (i = 0; shorts[i]; i += 2) {
		if ((unsigned char)shorts[i] == c) {
			esc[1] = shorts[i + 1];
			return 2;
		}
	}
	esc[1] = 'u';
	esc[2] = '0';
	esc[3] = '0';
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 15];
	return 6;
}

/* Copy runs of plain bytes at once; escape only ", \ and controls. */
static int write_escaped(chs_buf *out, const char *s, size_t len)
{
	size_t i, run = 0;
	char esc[6];
	int err = 0;

	for (i = 0; i < len && !err; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		err = put(out, s + run, i - run);
		if (!err)
			err = put(out, esc, escape(c, esc));
		run = i + 1;
	}
	if (!err)
		err = put(out, s + run, len - run);
	return err;
}

/* 1 when `v` is certainly in canonical form without parsing it: a string
 * with nothing to escape, or a short integer. 0 means "parse to know". */
int chs_sync__plainly_canonical(const char *v, size_t len)
{
	size_t i;

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		for (i = 1; i + 1 < len; i++) {
			unsigned char c = (unsigned char)v[i];

			if (c < 0x20 || c == '"' || c == '\\')
				return 0;
		}
		return chs_sync__utf8_ok(v + 1, len - 2);
	}
	i = v[0] == '-';
	if (len == i || len - i > 15 || (v[i] == '0' && len - i > 1) ||
	    (i && v[i] == '0'))
		return 0;
	for (; i < len; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	return 1;
}

int chs_canonical_string(chs_buf *out, const char *s, size_t len)
{
	size_t start = out->len;
	int err;

	if (!chs_sync__utf8_ok(s, len))
		return chs_error_set(CHS_EINVALID,
				     "text is not valid UTF-8 (or holds a NUL "
				     "character)");
	if ((err = put(out, "\"", 1)) < 0 ||
	    (err = write_escaped(out, s, len)) < 0 ||
	    (err = put(out, "\"", 1)) < 0) {
		if (out->ptr) {
			out->len = start;
			out->ptr[start] = '\0';
		}
		return err;
	}
	return 0;
}

static int key_order(const void *a, const void *b)
{
	return chs_sync__keycmp(*(const char *const *)a,
				*(const char *const *)b);
}

static int write_object(chs_buf *out, const json_t *obj)
{
	size_t n = json_object_size(obj), i = 0;
	const char **keys = NULL, *key;
	json_t *v;
	int err = 0;

	if (n && !(keys = chs_malloc(n * sizeof(*keys))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	json_object_foreach((json_t *)obj, key, v)
		keys[i++] = key;
	if (n)
		qsort(keys, n, sizeof(*keys), key_order);
	err = put(out, "{", 1);
	for (i = 0; i < n && !err; i++) {
		if (i)
			err = put(out, ",", 1);
		if (!err)
			err = chs_canonical_string(out, keys[i], strlen(keys[i]));
		if (!err)
			err = put(out, ":", 1);
		if (!err)
			err = chs_sync__write_json(out, json_object_get(obj, keys[i]));
	}
	if (!err)
		err = put(out, "}", 1);
	free(keys);
	return err;
}

static int write_array(chs_buf *out, const json_t *arr)
{
	size_t i, n = json_array_size(arr);
	int err = put(out, "[", 1);

	for (i = 0; i < n && !err; i++) {
		if (i)
			err = put(out, ",", 1);
		if (!err)
			err = chs_sync__write_json(out, json_array_get(arr, i));
	}
	return err ? err : put(out, "]", 1);
}

static int write_integer(chs_buf *out, json_int_t v)
{
	if (v > CHS_SYNC_INT_MAX || v < -CHS_SYNC_INT_MAX)
		return chs_error_set(CHS_EINVALID,
				     "integer %lld is beyond +-2^53 (JSON "
				     "readers would round it)", (long long)v);
	return chs_buf_printf(out, "%lld", (long long)v);
}

int chs_sync__write_json(chs_buf *out, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return write_object(out, v);
	case JSON_ARRAY:
		return write_array(out, v);
	case JSON_STRING:
		return chs_canonical_string(out, json_string_value(v),
					    json_string_length(v));
	case JSON_INTEGER:
		return write_integer(out, json_integer_value(v));
	case JSON_REAL:
		return chs_error_set(CHS_EINVALID,
				     "number %.17g has a fraction or an "
				     "exponent (only integers are allowed)",
				     json_real_value(v));
	case JSON_TRUE:
		return put(out, "true", 4);
	case JSON_FALSE:
		return put(out, "false", 5);
	case JSON_NULL:
		return put(out, "null", 4);
	}
	return chs_error_set(CHS_EINVALID, "unknown JSON value");
}

/* jansson 2.14's lexer turns a string it could not allocate into a syntax
 * error ("string or '}' expected"), and may return a value missing a
 * member it could not allocate, so its word alone cannot tell bad bytes
 * from no memory. Its allocator, whichever it is (malloc, or the
 * tests' drill), is wrapped once so that a failure is noted in the thread
 * that parses; wrapped lazily, keeping whatever allocator was set before
 * (a process sets its own first thing, before anything parses). */
static _Thread_local int json_nomem;
static json_malloc_t json_inner_malloc;
static pthread_once_t json_wrapped = PTHREAD_ONCE_INIT;

static void *json_noted_malloc(size_t n)
{
	void *p = json_inner_malloc(n);

	if (!p)
		json_nomem = 1;
	return p;
}

static void json_wrap(void)
{
	json_free_t inner_free;

	json_get_alloc_funcs(&json_inner_malloc, &inner_free);
	json_set_alloc_funcs(json_noted_malloc, inner_free);
}

json_t *chs_sync__parse(const void *text, size_t len, const char *what)
{
	json_error_t jerr;
	json_t *v;

	pthread_once(&json_wrapped, json_wrap);
	memset(&jerr, 0, sizeof(jerr));
	json_nomem = 0;
	v = json_loadb(text, len, CHS_SYNC_JSON_FLAGS | JSON_DECODE_ANY, &jerr);
	/* and a value it built while an allocation failed may lack a member
	 * (2.14 returns such an object whole): not to be trusted */
	if (v && json_nomem) {
		json_decref(v);
		v = NULL;
	}
	/* Out of memory is no verdict on the bytes. jansson 2.14 says so with
	 * json_error_out_of_memory, except when its first allocation fails
	 * (then it gives up with no message at all, where every parse error
	 * has one) and in its lexer (above). */
	if (!v && (json_nomem || !jerr.text[0] ||
		   json_error_code(&jerr) == json_error_out_of_memory))
		chs_error_set(CHS_ENOMEM, "out of memory while parsing %s", what);
	else if (!v)
		chs_error_set(CHS_EINVALID, "%s is not valid JSON: %s "
			      "(at byte %d)", what, jerr.text, jerr.position);
	return v;
}

int chs_canonical_json(chs_buf *out, const char *text, size_t len)
{
	size_t start = out->len;
	json_t *v;
	int err;

	if (!(v = chs_sync__parse(text, len, "value")))
		return chs_error_last_code();
	err = chs_sync__write_json(out, v);
	json_decref(v);
	if (err < 0 && out->ptr) {
		out->len = start;
		out->ptr[start] = '\0';
	}
	return err;
}

int chs_sync__is_hex(const char *s, size_t nchars)
{
	size_t i;

	for (i = 0; i < nchars; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return s[nchars] == '\0';
}
