/*
 * Changes: one edit to one record, and its encoding.
 *
 * The encoding is one canonical JSON object (see sync/canonical.c), with
 * exactly these members, written in this (RFC 8785) order:
 *
 *   "deleted"   true; present only on a resolve that deletes the record
 *               (a resolve that keeps it, and every other op, omit it)
 *   "device"    the device id, 32 lowercase hex characters
 *   "fields"    object: field name -> its canonical JSON value, or null
 *               when the change clears the field; {} when none. A name is
 *               a non-empty UTF-8 string. JSON null IS the cleared value:
 *               chs_change_set(c, name, "null") stores NULL.
 *   "hlc"       the hybrid logical clock stamp as a decimal STRING
 *               ("0" .. "18446744073709551615", no sign, no leading
 *               zero): a stamp is 48 bits of milliseconds shifted left by
 *               16, far beyond the +-2^53 that JSON integers carry
 *   "op"        "create" | "update" | "delete" | "resolve"
 *   "parents"   array of change ids (64 lowercase hex), strictly
 *               ascending; [] exactly for a create, at least one for
 *               every other op
 *   "record"    the record id, 32 lowercase hex characters
 *   "terminal"  string (a NULL terminal encodes as "")
 *   "type"      the record type, a non-empty string
 *   "user"      string (a NULL user encodes as "")
 *   "v"         the integer 1, the version of this encoding
 *
 * A delete carries no fields. Example:
 *   {"device":"00..ff","fields":{"dob":"1970-01-01","name":"Ann"},
 *    "hlc":"112233445566","op":"update","parents":["ab..01"],
 *    "record":"0f..e1","terminal":"front-desk","type":"patient",
 *    "user":"ann","v":1}
 *
 * The id is the BLAKE2b-256 of these bytes. Decoding parses, checks every
 * member and then encodes again: bytes that do not come back identical
 * (whitespace, key order, escapes, uppercase hex, "deleted":false, a
 * value not in canonical form) are refused, so an id always names one
 * canonical byte string and the same change has the same id everywhere.
 */
#include "sync_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {
	NULL, "create", "update", "delete", "resolve"
};

static int nomem(void)
{
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------------
 * Building changes
 */

int chs_change_new(chs_change **out)
{
	*out = chs_calloc(1, sizeof(**out));
	return *out ? 0 : nomem();
}

void chs_change_free(chs_change *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nfields; i++) {
		free(c->fields[i].name);
		free(c->fields[i].value);
	}
	free(c->fields);
	free(c->parents);
	free(c->type);
	free(c->user);
	free(c->terminal);
	free(c->encoding);
	free(c);
}

/* Index of `name` in the sorted fields, or where it would go. */
static size_t field_slot(const chs_change *c, const char *name, int *found)
{
	size_t lo = 0, hi = c->nfields;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->fields[mid].name, name);

		if (r == 0) {
			*found = 1;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int chs_change_set(chs_change *c, const char *name, const char *value)
{
	char *v = NULL, *n = NULL;
	chs_field *grown;
	size_t at, cap;
	int found, err;

	if (!c || !name || !*name)
		return chs_error_set(CHS_EINVALID, "a field needs a name");
	/* JSON null is the cleared value: one spelling, one encoding. */
	if (value && strcmp(value, "null") != 0 && !(v = chs_strdup(value)))
		return nomem();
	at = field_slot(c, name, &found);
	if (found) {
		free(c->fields[at].value);
		c->fields[at].value = v;
		return 0;
	}
	/* fields grow one at a time: a change holds a handful */
	cap = c->nfields;
	if ((err = CHS_ARRAY_GROW(c->fields, cap, c->nfields + 1)) < 0) {
		free(v);
		return err;
	}
	if (!(n = chs_strdup(name))) {
		free(v);
		return nomem();
	}
	grown = c->fields;
	memmove(grown + at + 1, grown + at, (c->nfields - at) * sizeof(*grown));
	grown[at].name = n;
	grown[at].value = v;
	c->nfields++;
	return 0;
}

int chs_change_set_string(chs_change *c, const char *name, const char *text)
{
	chs_buf v;
	int err;

	if (!text)
		return chs_error_set(CHS_EINVALID, "field '%s' needs a text", name ? name : "");
	chs_buf_init(&v, 0);
	if ((err = chs_canonical_string(&v, text, strlen(text))) == 0)
		err = chs_change_set(c, name, v.ptr);
	chs_buf_dispose(&v);
	return err;
}

int chs_change_add_parent(chs_change *c,
			  const unsigned char id[CHS_CHANGE_ID_BYTES])
{
	unsigned char (*grown)[CHS_CHANGE_ID_BYTES];
	size_t at = 0, cap;
	int err;

	while (at < c->nparents) {
		int r = memcmp(c->parents[at], id, CHS_CHANGE_ID_BYTES);

		if (r == 0)
			return 0;
		if (r > 0)
			break;
		at++;
	}
	cap = c->nparents;
	if ((err = CHS_ARRAY_GROW(c->parents, cap, c->nparents + 1)) < 0)
		return err;
	grown = c->parents;
	memmove(grown + at + 1, grown + at,
		(c->nparents - at) * sizeof(*grown));
	memcpy(grown[at], id, CHS_CHANGE_ID_BYTES);
	c->nparents++;
	return 0;
}

static int dup_str(char **out, const char *s)
{
	*out = NULL;
	if (s && !(*out = chs_strdup(s)))
		return nomem();
	return 0;
}

static int dup_fields(chs_change *d, const chs_change *c)
{
	size_t i;

	if (!c->nfields)
		return 0;
	if (!(d->fields = chs_calloc(c->nfields, sizeof(*d->fields))))
		return nomem();
	d->nfields = c->nfields;
	for (i = 0; i < c->nfields; i++) {
		if (dup_str(&d->fields[i].name, c->fields[i].name) < 0 ||
		    dup_str(&d->fields[i].value, c->fields[i].value) < 0)
			return CHS_ENOMEM;
	}
	return 0;
}

int chs_change_dup(chs_change **out, const chs_change *c)
{
	chs_change *d = NULL;
	int err;

	*out = NULL;
	if ((err = chs_change_new(&d)) < 0)
		return err;
	memcpy(d->id, c->id, sizeof(d->id));
	memcpy(d->record, c->record, sizeof(d->record));
	memcpy(d->device, c->device, sizeof(d->device));
	d->op = c->op;
	d->hlc = c->hlc;
	d->deleted = c->deleted;
	if ((err = dup_str(&d->type, c->type)) < 0 ||
	    (err = dup_str(&d->user, c->user)) < 0 ||
	    (err = dup_str(&d->terminal, c->terminal)) < 0 ||
	    (err = dup_fields(d, c)) < 0)
		goto done;
	if (c->nparents) {
		d->parents = chs_malloc(c->nparents * sizeof(*d->parents));
		if (!d->parents) {
			err = nomem();
			goto done;
		}
		memcpy(d->parents, c->parents, c->nparents * sizeof(*d->parents));
		d->nparents = c->nparents;
	}
	*out = d;
	d = NULL;
done:
	chs_change_free(d);
	return err;
}

/* ---------------------------------------------------------------------
 * Encoding
 */

static int refuse(const char *what)
{
	return chs_error_set(CHS_EINVALID, "cannot encode change: %s", what);
}

/* 0 if `value` is already in canonical form. */
static int check_value(const chs_field *f)
{
	size_t len = strlen(f->value);
	chs_buf b;
	int err, same;

	if (chs_sync__plainly_canonical(f->value, len))
		return 0;
	chs_buf_init(&b, 0);
	err = chs_canonical_json(&b, f->value, len);
	if (err < 0) {
		chs_buf_dispose(&b);
		return err == CHS_ENOMEM ? err
		       : chs_error_wrap(CHS_EINVALID, "field '%s'", f->name);
	}
	same = b.len == len && memcmp(b.ptr, f->value, b.len) == 0;
	chs_buf_dispose(&b);
	if (!same)
		return chs_error_set(CHS_EINVALID, "field '%s': value is not in "
				     "canonical JSON form", f->name);
	return 0;
}

static int check_fields(const chs_change *c)
{
	size_t i;
	int err;

	if (c->op == CHS_OP_DELETE && c->nfields)
		return refuse("a delete carries no fields");
	for (i = 0; i < c->nfields; i++) {
		const chs_field *f = &c->fields[i];

		if (!f->name || !*f->name ||
		    !chs_sync__utf8_ok(f->name, strlen(f->name)))
			return refuse("a field name is empty or not UTF-8");
		if (i && strcmp(c->fields[i - 1].name, f->name) >= 0)
			return refuse("fields are not sorted by name or repeat");
		if (f->value && (err = check_value(f)) < 0)
			return err;
	}
	return 0;
}

static int check_parents(const chs_change *c)
{
	size_t i;

	if (c->op == CHS_OP_CREATE && c->nparents)
		return refuse("a create has no parents");
	if (c->op != CHS_OP_CREATE && !c->nparents)
		return refuse("only a create may have no parents");
	for (i = 1; i < c->nparents; i++) {
		if (memcmp(c->parents[i - 1], c->parents[i],
			   CHS_CHANGE_ID_BYTES) >= 0)
			return refuse("parents are not sorted or repeat");
	}
	return 0;
}

static int text_ok(const char *s)
{
	return !s || chs_sync__utf8_ok(s, strlen(s));
}

static int check_change(const chs_change *c)
{
	if (c->op < CHS_OP_CREATE || c->op > CHS_OP_RESOLVE)
		return refuse("unknown op");
	if (!c->type || !*c->type || !text_ok(c->type))
		return refuse("the record type is missing");
	if (!chs_sync__is_hex(c->device, 32))
		return refuse("the device id is not 32 lowercase hex digits");
	if (!text_ok(c->user) || !text_ok(c->terminal))
		return refuse("user or terminal is not UTF-8");
	if (c->deleted != 0 && (c->deleted != 1 || c->op != CHS_OP_RESOLVE))
		return refuse("only a resolve may set 'deleted'");
	if (check_parents(c) < 0)
		return CHS_EINVALID;
	return check_fields(c);
}

static int write_str(chs_buf *out, const char *s)
{
	return chs_canonical_string(out, s ? s : "", s ? strlen(s) : 0);
}

static int field_order(const void *a, const void *b)
{
	return chs_sync__keycmp((*(const chs_field *const *)a)->name,
				(*(const chs_field *const *)b)->name);
}

/* 1 when the struct's (byte) order of the names is RFC 8785 order too,
 * as it is unless some names hold characters beyond the BMP. */
static int in_key_order(const chs_change *c)
{
	size_t i;

	for (i = 1; i < c->nfields; i++)
		if (chs_sync__keycmp(c->fields[i - 1].name, c->fields[i].name) >= 0)
			return 0;
	return 1;
}

/* "fields":{...} with names in RFC 8785 order (which differs from the
 * struct's byte order only for some non-BMP names). */
static int write_fields(chs_buf *out, const chs_change *c)
{
	const chs_field **order = NULL;
	size_t i;
	int err, sorted = in_key_order(c);

	if (c->nfields && !sorted) {
		if (!(order = chs_malloc(c->nfields * sizeof(*order))))
			return nomem();
		for (i = 0; i < c->nfields; i++)
			order[i] = &c->fields[i];
		qsort(order, c->nfields, sizeof(*order), field_order);
	}
	err = chs_buf_puts(out, ",\"fields\":{");
	for (i = 0; i < c->nfields && !err; i++) {
		const chs_field *f = sorted ? &c->fields[i] : order[i];

		if (i)
			err = chs_buf_put(out, ",", 1);
		if (!err)
			err = write_str(out, f->name);
		if (!err)
			err = chs_buf_put(out, ":", 1);
		if (!err)
			err = chs_buf_puts(out, f->value ? f->value : "null");
	}
	if (!err)
		err = chs_buf_put(out, "}", 1);
	free(order);
	return err;
}

static int write_parents(chs_buf *out, const chs_change *c)
{
	char hex[2 * CHS_CHANGE_ID_BYTES + 3];
	size_t i;
	int err = chs_buf_puts(out, ",\"parents\":[");

	for (i = 0; i < c->nparents && !err; i++) {
		hex[0] = ',';
		hex[1] = '"';
		chs_hex(hex + 2, c->parents[i], CHS_CHANGE_ID_BYTES);
		hex[2 + 2 * CHS_CHANGE_ID_BYTES] = '"';
		err = chs_buf_put(out, i ? hex : hex + 1, 2 * CHS_CHANGE_ID_BYTES + (i ? 3 : 2));
	}
	return err ? err : chs_buf_put(out, "]", 1);
}

/* ,"hlc":"<decimal>","op":"<op>" without printf (every change has one). */
static int write_hlc_op(chs_buf *out, const chs_change *c)
{
	char digits[24];
	size_t n = sizeof(digits);
	uint64_t v = c->hlc;
	int err;

	do {
		digits[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if ((err = chs_buf_puts(out, ",\"hlc\":\"")) < 0 ||
	    (err = chs_buf_put(out, digits + n, sizeof(digits) - n)) < 0 ||
	    (err = chs_buf_puts(out, "\",\"op\":\"")) < 0 ||
	    (err = chs_buf_puts(out, op_names[c->op])) < 0)
		return err;
	return chs_buf_put(out, "\"", 1);
}

int chs_sync__change_write(const chs_change *c, chs_buf *out)
{
	char rec[2 * CHS_RECORD_ID_BYTES + 1];
	size_t start = out->len;
	int err;

	if ((err = check_change(c)) < 0)
		return err;
	chs_hex(rec, c->record, CHS_RECORD_ID_BYTES);
	if ((err = chs_buf_puts(out, c->deleted ? "{\"deleted\":true,"
				: "{")) < 0 ||
	    (err = chs_buf_puts(out, "\"device\":\"")) < 0 ||
	    (err = chs_buf_put(out, c->device, 32)) < 0 ||
	    (err = chs_buf_put(out, "\"", 1)) < 0 ||
	    (err = write_fields(out, c)) < 0 ||
	    (err = write_hlc_op(out, c)) < 0 ||
	    (err = write_parents(out, c)) < 0 ||
	    (err = chs_buf_puts(out, ",\"record\":\"")) < 0 ||
	    (err = chs_buf_put(out, rec, 2 * CHS_RECORD_ID_BYTES)) < 0 ||
	    (err = chs_buf_puts(out, "\",\"terminal\":")) < 0 ||
	    (err = write_str(out, c->terminal)) < 0 ||
	    (err = chs_buf_puts(out, ",\"type\":")) < 0 ||
	    (err = write_str(out, c->type)) < 0 ||
	    (err = chs_buf_puts(out, ",\"user\":")) < 0 ||
	    (err = write_str(out, c->user)) < 0 ||
	    (err = chs_buf_puts(out, ",\"v\":1}")) < 0) {
		if (out->ptr) {
			out->len = start;
			out->ptr[start] = '\0';
		}
		return err;
	}
	return 0;
}

int chs_sync__change_id(const chs_change *c,
			unsigned char id[CHS_CHANGE_ID_BYTES])
{
	chs_buf b;
	int err;

	chs_buf_init(&b, CHS_SYNC_CHANGE_MAX_BYTES);
	if ((err = chs_sync__change_write(c, &b)) == 0)
		chs_hash(id, b.ptr, b.len);
	chs_buf_dispose(&b);
	return err;
}

int chs_change_encode(chs_change *c, chs_buf *out)
{
	size_t start = out->len;
	int err;

	if ((err = chs_sync__change_write(c, out)) < 0)
		return err;
	chs_hash(c->id, out->ptr + start, out->len - start);
	return 0;
}

/* ---------------------------------------------------------------------
 * Decoding
 */

static int bad(const char *what)
{
	return chs_error_set(CHS_EINVALID, "not a change: %s", what);
}

static int known_keys(json_t *o)
{
	static const char *const keys[] = {
		"deleted", "device", "fields", "hlc", "op", "parents",
		"record", "terminal", "type", "user", "v"
	};
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(o, key, v) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(key, keys[i]) == 0)
				break;
		}
		if (i == sizeof(keys) / sizeof(keys[0]))
			return chs_error_set(CHS_EINVALID, "not a change: "
					     "unknown member '%.40s'", key);
	}
	return 0;
}

/* The string member `key`, or NULL with an error set. */
static const char *get_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v)) {
		chs_error_set(CHS_EINVALID, "not a change: '%s' is missing or "
			      "not a string", key);
		return NULL;
	}
	return json_string_value(v);
}

static int get_copy(json_t *o, const char *key, char **out)
{
	const char *s = get_str(o, key);

	if (!s)
		return CHS_EINVALID;
	return dup_str(out, s);
}

/* Strict decimal uint64: digits only, at most 20, no overflow. Leading
 * zeros are caught by the re-encoding. */
static int parse_hlc(const char *s, chs_hlc *out)
{
	uint64_t v = 0;
	size_t i;

	if (!*s || strlen(s) > 20)
		return bad("'hlc' is not a decimal string");
	for (i = 0; s[i]; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9')
			return bad("'hlc' is not a decimal string");
		if (v > (UINT64_MAX - d) / 10)
			return bad("'hlc' is out of range");
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int decode_op(json_t *o, chs_change *c)
{
	const char *s = get_str(o, "op");
	json_t *del = json_object_get(o, "deleted");
	int i;

	if (!s)
		return CHS_EINVALID;
	for (i = CHS_OP_CREATE; i <= CHS_OP_RESOLVE; i++) {
		if (strcmp(s, op_names[i]) == 0)
			c->op = (chs_op)i;
	}
	if (!c->op)
		return bad("'op' is not create, update, delete or resolve");
	if (del && !json_is_boolean(del))
		return bad("'deleted' is not a boolean");
	c->deleted = json_is_true(del);
	return 0;
}

static int decode_ids(json_t *o, chs_change *c)
{
	const char *rec = get_str(o, "record"), *dev, *hlc;
	json_t *v = json_object_get(o, "v");

	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return bad("'v' is not 1 (made by a newer chartsync?)");
	if (!rec || !chs_sync__is_hex(rec, 2 * CHS_RECORD_ID_BYTES) ||
	    chs_unhex(c->record, CHS_RECORD_ID_BYTES, rec) < 0)
		return bad("'record' is not 32 lowercase hex digits");
	if (!(dev = get_str(o, "device")) || !chs_sync__is_hex(dev, 32))
		return bad("'device' is not 32 lowercase hex digits");
	memcpy(c->device, dev, 33);
	if (!(hlc = get_str(o, "hlc")))
		return CHS_EINVALID;
	return parse_hlc(hlc, &c->hlc);
}

static int decode_parents(json_t *o, chs_change *c)
{
	json_t *arr = json_object_get(o, "parents"), *v;
	size_t i, n;

	if (!json_is_array(arr))
		return bad("'parents' is missing or not an array");
	if (!(n = json_array_size(arr)))
		return 0;
	if (!(c->parents = chs_malloc(n * sizeof(*c->parents))))
		return nomem();
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (!s || !chs_sync__is_hex(s, 2 * CHS_CHANGE_ID_BYTES) ||
		    chs_unhex(c->parents[i], CHS_CHANGE_ID_BYTES, s) < 0)
			return bad("a parent is not 64 lowercase hex digits");
		c->nparents = i + 1;
		if (i && memcmp(c->parents[i - 1], c->parents[i],
				CHS_CHANGE_ID_BYTES) >= 0)
			return bad("'parents' are not sorted or repeat");
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const chs_field *)a)->name, ((const chs_field *)b)->name);
}

/* One field's value as canonical text; NULL (no error) for JSON null. */
static int decode_value(json_t *v, char **out)
{
	chs_buf b;
	int err;

	*out = NULL;
	if (json_is_null(v))
		return 0;
	chs_buf_init(&b, CHS_SYNC_CHANGE_MAX_BYTES);
	if ((err = chs_sync__write_json(&b, v)) < 0) {
		chs_buf_dispose(&b);
		return chs_error_wrap(err, "not a change: a field value");
	}
	if (!(*out = chs_buf_detach(&b)))
		return nomem();
	return 0;
}

static int decode_fields(json_t *o, chs_change *c)
{
	json_t *obj = json_object_get(o, "fields"), *v;
	const char *key;
	int err;

	if (!json_is_object(obj))
		return bad("'fields' is missing or not an object");
	if (!json_object_size(obj))
		return 0;
	c->fields = chs_calloc(json_object_size(obj), sizeof(*c->fields));
	if (!c->fields)
		return nomem();
	json_object_foreach(obj, key, v) {
		chs_field *f = &c->fields[c->nfields];

		if (!*key)
			return bad("a field has an empty name");
		if ((err = dup_str(&f->name, key)) < 0)
			return err;
		c->nfields++;
		if ((err = decode_value(v, &f->value)) < 0)
			return err;
	}
	qsort(c->fields, c->nfields, sizeof(*c->fields), by_name);
	return 0;
}

static int decode_object(json_t *o, chs_change *c)
{
	int err;

	if (!json_is_object(o))
		return bad("not a JSON object");
	if ((err = known_keys(o)) < 0 || (err = decode_op(o, c)) < 0 ||
	    (err = decode_ids(o, c)) < 0 ||
	    (err = get_copy(o, "type", &c->type)) < 0 ||
	    (err = get_copy(o, "user", &c->user)) < 0 ||
	    (err = get_copy(o, "terminal", &c->terminal)) < 0 ||
	    (err = decode_parents(o, c)) < 0 ||
	    (err = decode_fields(o, c)) < 0)
		return err;
	return 0;
}

/* The bytes must be exactly what encoding the decoded change gives. */
static int check_canonical(const chs_change *c, const void *bytes, size_t len)
{
	chs_buf b;
	int err, same;

	chs_buf_init(&b, CHS_SYNC_CHANGE_MAX_BYTES);
	if ((err = chs_sync__change_write(c, &b)) < 0) {
		chs_buf_dispose(&b);
		return err == CHS_ENOMEM ? err : chs_error_wrap(CHS_EINVALID, "not a change");
	}
	same = b.len == len && memcmp(b.ptr, bytes, len) == 0;
	chs_buf_dispose(&b);
	if (!same)
		return bad("not in canonical form (its id would not be its hash)");
	return 0;
}

/* ---------------------------------------------------------------------
 * Decoding without a JSON parser
 *
 * Almost every change that arrives is in the one layout encoding writes,
 * with field values that are plain strings (nothing escaped), small
 * integers or null. Such bytes are read directly, left to right, in
 * about a tenth of the time jansson takes to build a tree of them. Any
 * byte out of that layout (an escape, a nested value, a non-ASCII field
 * name, ...) sends the change to the full decoder below, which also
 * words every error. The scan accepts only text already in the form
 * encoding writes (plain strings taken as they stand, names in order, no
 * leading zeros) and then applies the encoder's own rules, so what it
 * accepts encodes back to the same bytes (debug builds check it) and
 * both decoders accept the same changes and build the same struct.
 */
typedef struct scan {
	const char *p, *end;
} scan;

static int lit(scan *s, const char *text)
{
	size_t n = strlen(text);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, text, n) != 0)
		return 0;
	s->p += n;
	return 1;
}

/* A string with nothing escaped: its quotes included in [*at, *at+*n). */
static int plain_quoted(scan *s, const char **at, size_t *n)
{
	const char *q;

	if (s->p == s->end || *s->p != '"' ||
	    !(q = memchr(s->p + 1, '"', (size_t)(s->end - s->p - 1))))
		return 0;
	*at = s->p;
	*n = (size_t)(q + 1 - s->p);
	if (!chs_sync__plainly_canonical(*at, *n))
		return 0;
	s->p = q + 1;
	return 1;
}

/* A plain string's text, copied. */
static int scan_text(scan *s, char **out)
{
	const char *at;
	size_t n;

	if (!plain_quoted(s, &at, &n))
		return 0;
	if (!(*out = chs_malloc(n - 1)))
		return nomem();
	memcpy(*out, at + 1, n - 2);
	(*out)[n - 2] = '\0';
	return 1;
}

/* `key` then a plain string's text: 1, 0 (not plain) or CHS_ENOMEM. */
static int member_text(scan *s, const char *key, char **out)
{
	return lit(s, key) ? scan_text(s, out) : 0;
}

/* "<hex>" of exactly `bytes` bytes. */
static int scan_hex(scan *s, unsigned char *out, size_t bytes)
{
	char hex[2 * CHS_CHANGE_ID_BYTES + 1];
	size_t n = 2 * bytes;

	if ((size_t)(s->end - s->p) < n + 2 || s->p[0] != '"' || s->p[n + 1] != '"')
		return 0;
	memcpy(hex, s->p + 1, n);
	hex[n] = '\0';
	if (!chs_sync__is_hex(hex, n) || chs_unhex(out, bytes, hex) < 0)
		return 0;
	s->p += n + 2;
	return 1;
}

/* A field value: null (NULL), a plain string or a small integer. */
static int scan_value(scan *s, char **out)
{
	const char *at = s->p;
	size_t n;

	*out = NULL;
	if (lit(s, "null"))
		return 1;
	if (s->p < s->end && *s->p == '"') {
		if (!plain_quoted(s, &at, &n))
			return 0;
	} else {
		while (s->p < s->end && (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')))
			s->p++;
		n = (size_t)(s->p - at);
		if (!n || !chs_sync__plainly_canonical(at, n))
			return 0;
	}
	if (!(*out = chs_malloc(n + 1)))
		return nomem();
	memcpy(*out, at, n);
	(*out)[n] = '\0';
	return 1;
}

static int ascii_name(const char *name)
{
	for (; *name; name++)
		if ((unsigned char)*name >= 0x80)
			return 0;
	return 1;
}

static int scan_field(scan *s, chs_change *c, size_t *cap)
{
	chs_field *f;
	int r;

	if (c->nfields == *cap && (r = CHS_ARRAY_GROW(c->fields, *cap, c->nfields + 1)) < 0)
		return r;
	f = &c->fields[c->nfields];
	f->value = NULL;
	if ((r = scan_text(s, &f->name)) <= 0)
		return r;
	c->nfields++;
	/* ASCII names: RFC 8785 order is byte order, the struct's order */
	if (!*f->name || !ascii_name(f->name) ||
	    (c->nfields > 1 && strcmp(c->fields[c->nfields - 2].name, f->name) >= 0) ||
	    !lit(s, ":"))
		return 0;
	return scan_value(s, &f->value);
}

static int scan_fields(scan *s, chs_change *c)
{
	size_t cap = 0;
	int r;

	if (!lit(s, ",\"fields\":{"))
		return 0;
	if (lit(s, "}"))
		return 1;
	do {
		if ((r = scan_field(s, c, &cap)) <= 0)
			return r;
	} while (lit(s, ","));
	return lit(s, "}");
}

static int scan_hlc_op(scan *s, chs_change *c)
{
	char digits[21];
	const char *q;
	size_t n;
	int i;

	if (!lit(s, ",\"hlc\":\"") ||
	    !(q = memchr(s->p, '"', (size_t)(s->end - s->p))) ||
	    (n = (size_t)(q - s->p)) == 0 || n > 20)
		return 0;
	memcpy(digits, s->p, n);
	digits[n] = '\0';
	s->p = q + 1;
	/* parse_hlc reads to a NUL: one among the digits would hide the rest */
	if (strlen(digits) != n || (digits[0] == '0' && n > 1) ||
	    parse_hlc(digits, &c->hlc) < 0) {
		chs_error_clear();
		return 0;
	}
	if (!lit(s, ",\"op\":\""))
		return 0;
	for (i = CHS_OP_CREATE; i <= CHS_OP_RESOLVE; i++)
		if (lit(s, op_names[i]))
			break;
	if (i > CHS_OP_RESOLVE || !lit(s, "\""))
		return 0;
	c->op = (chs_op)i;
	return 1;
}

static int scan_parents(scan *s, chs_change *c)
{
	size_t cap = 0;

	if (!lit(s, ",\"parents\":["))
		return 0;
	if (lit(s, "]"))
		return 1;
	do {
		if (c->nparents == cap && CHS_ARRAY_GROW(c->parents, cap, c->nparents + 1) < 0)
			return nomem();
		if (!scan_hex(s, c->parents[c->nparents], CHS_CHANGE_ID_BYTES))
			return 0;
		c->nparents++;
	} while (lit(s, ","));
	return lit(s, "]");
}

/* 1 and the change when the bytes are in the plain layout, 0 when the
 * full decoder must read them, or an error (out of memory only). */
static int scan_change(chs_change *c, const void *bytes, size_t len)
{
	unsigned char dev[16];
	scan s = { bytes, (const char *)bytes + len };
	int r;

	c->deleted = lit(&s, "{\"deleted\":true,");
	if (!c->deleted && !lit(&s, "{"))
		return 0;
	if (!lit(&s, "\"device\":") || !scan_hex(&s, dev, 16))
		return 0;
	memcpy(c->device, s.p - 33, 32);
	c->device[32] = '\0';
	if ((r = scan_fields(&s, c)) <= 0 || (r = scan_hlc_op(&s, c)) <= 0 ||
	    (r = scan_parents(&s, c)) <= 0)
		return r;
	if (!lit(&s, ",\"record\":") || !scan_hex(&s, c->record, CHS_RECORD_ID_BYTES))
		return 0;
	if ((r = member_text(&s, ",\"terminal\":", &c->terminal)) <= 0 ||
	    (r = member_text(&s, ",\"type\":", &c->type)) <= 0 ||
	    (r = member_text(&s, ",\"user\":", &c->user)) <= 0)
		return r;
	return lit(&s, ",\"v\":1}") && s.p == s.end;
}

/* The change, when the plain layout reads it and it is valid; else
 * *out NULL (and 0) for the full decoder to decide. */
static int decode_plain(chs_change **out, const void *bytes, size_t len)
{
	chs_change *c = NULL;
	int r;

	*out = NULL;
	if ((r = chs_change_new(&c)) < 0)
		return r;
	r = scan_change(c, bytes, len);
	/* The scan took every string, name and value as it stands, so they
	 * are in the form encoding writes; the rules between members (a
	 * create has no parents, parents ascend, ...) are check_change's. */
	if (r == 1 && check_change(c) == 0) {
		/* a debug build checks the scan against encoding; that
		 * encoding running out of memory is no finding */
		assert(check_canonical(c, bytes, len) != CHS_EINVALID);
		chs_hash(c->id, bytes, len);
		*out = c;
		return 0;
	}
	chs_change_free(c);
	if (r == 1)
		chs_error_clear();
	return r < 0 ? r : 0;
}

int chs_change_decode(chs_change **out, const void *bytes, size_t len)
{
	chs_change *c = NULL;
	json_t *o = NULL;
	int err;

	*out = NULL;
	if (len > CHS_SYNC_CHANGE_MAX_BYTES)
		return bad("larger than any change chartsync writes");
	if ((err = decode_plain(out, bytes, len)) < 0 || *out)
		return err;
	if (!(o = chs_sync__parse(bytes, len, "change"))) {
		err = chs_error_last_code();
		goto done;
	}
	if ((err = chs_change_new(&c)) < 0 ||
	    (err = decode_object(o, c)) < 0 ||
	    (err = check_canonical(c, bytes, len)) < 0)
		goto done;
	chs_hash(c->id, bytes, len);
	*out = c;
	c = NULL;
done:
	json_decref(o);
	chs_change_free(c);
	return err;
}

int chs_sync__change_decode_kept(chs_change **out, const void *bytes, size_t len)
{
	int err = chs_change_decode(out, bytes, len);

	if (err < 0)
		return err;
	if (!((*out)->encoding = chs_malloc(len ? len : 1))) {
		chs_change_free(*out);
		*out = NULL;
		return nomem();
	}
	memcpy((*out)->encoding, bytes, len);
	(*out)->encoding_len = len;
	return 0;
}
