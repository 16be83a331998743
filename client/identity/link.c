/*
 * client/identity/link.c - a pair of patients' verdict: merged (which
 * way), not the same person, or open.
 *
 * One patient_link record per pair, its id derived from the two ids, so
 * that two archivists deciding the same pair at two sites write the same
 * record: the same verdict merges, two verdicts go to review (the
 * `verdict`, `keep` and `other` fields are one merge group), and the next
 * decision settles it.
 */
#include "identity_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "client/records/schema.h"
#include "client/util/util.h"
#include "crypto/crypto.h"
#include "sync/sync.h"

#define LINK_TAG "chartsync-patient-link-v1"

int chs_identity__may_decide(chs_store *s, const char *what)
{
	int role = 0, err;

	CHS_ASSERT_ARG(s && what);

	if ((err = chs_store__refuse_service(s)) < 0 || (err = chs_store__role(s, &role)) < 0)
		return err;
	/* a billing office holds no clinical record: a merge made there
	 * would leave a chart's notes and medications on the tombstone */
	if (role && !chs_role_reads((chs_role)role, CHS_COMPARTMENT_CLINICAL))
		return chs_error_set(CHS_EDENIED, "this store is a billing office's: it holds no"
				     " clinical records, so it cannot %s; ask the archive", what);
	if (role == CHS_ROLE_ARCHIVIST || chs_store_user_is_admin(s))
		return 0;
	return chs_error_set(CHS_EDENIED, "only an archivist, or an admin of this store, may %s;"
			     " '%s' is neither here: ask the archive", what, chs_store_user(s));
}

void chs_identity__link_id(const unsigned char a[16], const unsigned char b[16],
			   unsigned char out[16])
{
	unsigned char buf[sizeof(LINK_TAG) + 32], h[CHS_HASH_BYTES];
	int swap = memcmp(a, b, 16) > 0;

	memcpy(buf, LINK_TAG, sizeof(LINK_TAG)); /* with its NUL */
	memcpy(buf + sizeof(LINK_TAG), swap ? b : a, 16);
	memcpy(buf + sizeof(LINK_TAG) + 16, swap ? a : b, 16);
	chs_hash(h, buf, sizeof(buf));
	memcpy(out, h, 16);
}

/* Copy string field `name` of `fields` into `out` (`n` bytes), "" when
 * absent or not a string that fits. */
static void field_text(json_t *fields, const char *name, char *out, size_t n)
{
	const char *v = json_string_value(json_object_get(fields, name));

	out[0] = '\0';
	if (v && strlen(v) < n)
		memcpy(out, v, strlen(v) + 1);
}

int chs_identity__link_load(chs_store *s, const unsigned char a[16], const unsigned char b[16],
			    chs_identity__link *out)
{
	sqlite3_stmt *st = NULL;
	json_t *state = NULL, *fields;
	int err, rc;

	memset(out, 0, sizeof(*out));
	chs_identity__link_id(a, b, out->id);
	chs_hex(out->hex, out->id, 16);
	if ((err = chs_store__prepare(s, &st, "SELECT review, state FROM records"
					      " WHERE id = ? AND NOT deleted")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, out->id, 16)) < 0)
		goto done;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		goto done;
	if (rc != SQLITE_ROW) {
		err = chs_store__sqlerr(s, rc, "reading a verdict on two charts");
		goto done;
	}
	state = json_loadb(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), 0,
			   NULL);
	if (!state) {
		err = chs_error_set(CHS_EDAMAGED, "the store '%s' is damaged: record %s does not"
				    " read", chs_store_path(s), out->hex);
		goto done;
	}
	out->found = 1;
	out->review = sqlite3_column_int(st, 0) != 0;
	fields = json_object_get(state, "fields");
	field_text(fields, "verdict", out->verdict, sizeof(out->verdict));
	if (strcmp(out->verdict, CHS_VERDICT_MERGED) == 0) {
		field_text(fields, "keep", out->keep, sizeof(out->keep));
		field_text(fields, "other", out->other, sizeof(out->other));
	}
done:
	json_decref(state);
	chs_store__finish(s, st);
	return err;
}

/* `patients`: the pair, sorted, as canonical JSON. */
static int set_pair(chs_change *c, const unsigned char a[16], const unsigned char b[16])
{
	char lo[33], hi[33], text[80];
	chs_buf v;
	int swap = memcmp(a, b, 16) > 0, err;

	chs_hex(lo, swap ? b : a, 16);
	chs_hex(hi, swap ? a : b, 16);
	snprintf(text, sizeof(text), "[\"%s\",\"%s\"]", lo, hi);
	chs_buf_init(&v, 0);
	if ((err = chs_canonical_json(&v, text, strlen(text))) == 0 &&
	    (err = chs_buf_puts(&v, "")) == 0)
		err = chs_change_set(c, "patients", v.ptr);
	chs_buf_dispose(&v);
	return err;
}

/* Set string field `name` to `text`, or clear it (NULL) where the record
 * held it. */
static int set_or_clear(chs_change *c, const char *name, const char *text, int held)
{
	if (text)
		return chs_change_set_string(c, name, text);
	return held ? chs_change_set(c, name, NULL) : 0;
}

int chs_identity__link_put(chs_writer *w, const chs_identity__link *l,
			   const unsigned char a[16], const unsigned char b[16],
			   const char *verdict, const char *keep, const char *other,
			   const char *note)
{
	chs_change *c = NULL;
	int err;

	CHS_ASSERT_ARG(w && l && verdict);
	CHS_ASSERT_ARG(!keep == !other);

	if ((err = chs_change_new(&c)) < 0)
		return err;
	memcpy(c->record, l->id, 16);
	c->op = !l->found ? CHS_OP_CREATE : l->review ? CHS_OP_RESOLVE : CHS_OP_UPDATE;
	if (!(c->type = chs_util__strdup(CHS_PATIENT_LINK_TYPE))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((!l->found && (err = set_pair(c, a, b)) < 0) ||
	    (err = chs_change_set_string(c, "verdict", verdict)) < 0 ||
	    (err = set_or_clear(c, "keep", keep, l->keep[0] != '\0')) < 0 ||
	    (err = set_or_clear(c, "other", other, l->other[0] != '\0')) < 0 ||
	    (note && (err = chs_change_set_string(c, "note", note)) < 0))
		goto fail;
	return chs_records__writer_put(w, c);
fail:
	chs_change_free(c);
	return err;
}

/* The two ids of a `patients` array, "" when it is not one. */
static int pair_of(const char *json, size_t len, char a[33], char b[33])
{
	json_t *arr = json_loadb(json, len, 0, NULL);
	const char *x, *y;
	int ok = 0;

	a[0] = b[0] = '\0';
	if (arr && json_array_size(arr) == 2 &&
	    (x = json_string_value(json_array_get(arr, 0))) &&
	    (y = json_string_value(json_array_get(arr, 1))) &&
	    strlen(x) == 32 && strlen(y) == 32) {
		memcpy(a, x, 33);
		memcpy(b, y, 33);
		ok = 1;
	}
	json_decref(arr);
	return ok;
}

int chs_identity__distinct_pairs(chs_store *s,
				 int (*fn)(const char *a, const char *b, void *payload),
				 void *payload)
{
	sqlite3_stmt *st = NULL;
	char a[33], b[33];
	int err, rc;

	CHS_ASSERT_ARG(s && fn);

	if ((err = chs_store__prepare(s, &st,
		     "SELECT json_extract(CAST(state AS TEXT), '$.fields.patients')"
		     " FROM records WHERE type = '" CHS_PATIENT_LINK_TYPE "'"
		     " AND NOT deleted AND NOT review"
		     " AND json_extract(CAST(state AS TEXT), '$.fields.verdict') = '"
		     CHS_VERDICT_DISTINCT "'")) < 0)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *json = (const char *)sqlite3_column_text(st, 0);

		if (json && pair_of(json, (size_t)sqlite3_column_bytes(st, 0), a, b) &&
		    (err = fn(a, b, payload)) != 0)
			break;
	}
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading the verdicts on pairs of charts");
	chs_store__finish(s, st);
	return err;
}
