/*
 * What `show`, `ls`, `log` and `review` print, as JSON built from the
 * merged state. The text forms are drawn by the CLI from the same JSON.
 */
#include "records_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *hex_json(const unsigned char *bin, size_t len)
{
	char hex[65];

	chs_hex(hex, bin, len);
	return json_string(hex);
}

/* Parse canonical JSON text we wrote ourselves. */
static json_t *parse(const char *text, size_t len)
{
	return json_loadb(text, len, JSON_DECODE_ANY, NULL);
}

static int emit(json_t *v, char **out)
{
	*out = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(v);
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}

static json_t *who_json(const chs_change *c)
{
	char when[32];

	chs_client__hlc_time(c->hlc, when);
	return json_pack("{s:o, s:s, s:s, s:s, s:s}", "change", hex_json(c->id, 32),
			 "user", c->user ? c->user : "", "terminal",
			 c->terminal ? c->terminal : "", "device", c->device, "time", when);
}

static json_t *candidates_json(const chs_candidate *cands, size_t n, int existence)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *o = who_json(cands[i].change);

		if (existence)
			json_object_set_new(o, "removed", json_boolean(cands[i].value &&
				strcmp(cands[i].value, "true") == 0));
		else
			json_object_set_new(o, "value", cands[i].value
				? parse(cands[i].value, strlen(cands[i].value)) : json_null());
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *merged_json(const char *id_hex, const chs_merged *m)
{
	json_t *fields = json_object(), *cands = json_object(), *heads = json_array();
	json_t *o;
	size_t i;

	for (i = 0; i < m->nfields; i++) {
		const chs_merged_field *f = &m->fields[i];

		json_object_set_new(fields, f->name, parse(f->value, strlen(f->value)));
		if (f->ncandidates > 1)
			json_object_set_new(cands, f->name,
					    candidates_json(f->candidates, f->ncandidates, 0));
	}
	for (i = 0; i < m->nheads; i++)
		json_array_append_new(heads, hex_json(m->heads[i]->id, 32));
	o = json_pack("{s:s, s:s, s:o, s:b, s:b, s:o, s:o, s:i}", "id", id_hex,
		      "type", m->type, "fields", fields, "deleted", m->deleted,
		      "review", m->review, "heads", heads, "candidates", cands,
		      "changes", (int)m->norder);
	if (m->exists_review)
		json_object_set_new(o, "removal", candidates_json(m->exists_candidates,
					m->nexists_candidates, 1));
	return o;
}

static int with_merged(chs_store *s, const char *id,
		       json_t *(*view)(const char *hex, const chs_merged *m),
		       char **out)
{
	chs_change **changes = NULL;
	unsigned char rec[16];
	chs_merged *m = NULL;
	char hex[33];
	size_t n = 0;
	int err;

	*out = NULL;
	if ((err = chs_record_resolve(s, id, hex)) < 0)
		return err;
	chs_client__parse_id(rec, hex);
	if ((err = chs_client__merge_record(s, rec, &m, &changes, &n)) < 0)
		return err;
	err = emit(view(hex, m), out);
	chs_merged_free(m);
	chs_client__changes_free(changes, n);
	return err;
}

/* With "confirmed": who checked the current version (client/confirm.c). */
int chs_record_show(chs_store *s, const char *id, char **json)
{
	int err = with_merged(s, id, merged_json, json);

	if (err == 0 && (err = chs_client__confirm_annotate(s, json)) < 0) {
		free(*json);
		*json = NULL;
	}
	return err;
}

/* ---- log ---- */

static json_t *change_json(const chs_change *c)
{
	static const char *const ops[] = { "?", "create", "update", "delete", "resolve" };
	json_t *o = who_json(c), *set = json_object(), *unset = json_array();
	json_t *parents = json_array();
	size_t i;

	for (i = 0; i < c->nfields; i++) {
		if (c->fields[i].value)
			json_object_set_new(set, c->fields[i].name,
					    parse(c->fields[i].value, strlen(c->fields[i].value)));
		else
			json_array_append_new(unset, json_string(c->fields[i].name));
	}
	for (i = 0; i < c->nparents; i++)
		json_array_append_new(parents, hex_json(c->parents[i], 32));
	json_object_set_new(o, "op", json_string(ops[c->op <= 4 ? c->op : 0]));
	json_object_set_new(o, "set", set);
	json_object_set_new(o, "unset", unset);
	json_object_set_new(o, "parents", parents);
	json_object_set_new(o, "merge", json_boolean(c->nparents > 1));
	if (c->op == CHS_OP_RESOLVE)
		json_object_set_new(o, "removed", json_boolean(c->deleted));
	return o;
}

static json_t *log_json(const char *hex, const chs_merged *m)
{
	json_t *arr = json_array();
	size_t i;

	(void)hex;
	for (i = 0; i < m->norder; i++)
		json_array_append_new(arr, change_json(m->order[i]));
	return arr;
}

int chs_record_log(chs_store *s, const char *id, char **json)
{
	return with_merged(s, id, log_json, json);
}

/* ---- ls and review ---- */

static json_t *row_json(sqlite3_stmt *st)
{
	json_t *state = parse(sqlite3_column_blob(st, 2), (size_t)sqlite3_column_bytes(st, 2));
	json_t *fields = json_object_get(state, "fields");
	json_t *review = json_object_get(state, "review");
	json_t *o = json_pack("{s:o, s:s, s:o, s:b}", "id",
			      hex_json(sqlite3_column_blob(st, 0), 16), "type",
			      (const char *)sqlite3_column_text(st, 1),
			      "fields", fields ? json_incref(fields) : json_object(),
			      "review", sqlite3_column_int(st, 3));

	if (review) {
		json_t *names = json_array();
		const char *k;
		json_t *v;

		json_object_foreach(review, k, v)
			json_array_append_new(names, json_string(k));
		json_object_set_new(o, "under_review", names);
	}
	json_decref(state);
	return o;
}

static int list_rows(chs_store *s, sqlite3_stmt *st, char **out)
{
	json_t *arr = json_array();
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, row_json(st));
	chs_client__finish(s, st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return chs_client__sqlerr(s, rc, "listing records");
	}
	return emit(arr, out);
}

int chs_record_list(chs_store *s, const char *type, const char *patient,
		    char **json)
{
	unsigned char pid[16];
	sqlite3_stmt *st = NULL;
	char hex[33];
	int err;

	*json = NULL;
	if (type && !chs_schema_type(type))
		return chs_error_set(CHS_EINVALID, "'%s' is not a record type", type);
	if (patient) {
		if ((err = chs_record_resolve(s, patient, hex)) < 0)
			return err;
		chs_client__parse_id(pid, hex);
	}
	/* One patient's chart is found through the patient index: written
	 * as "?2 IS NULL OR ...", the filter made SQLite read every record. */
	if ((err = chs_client__prepare(s, &st, patient
		     ? "SELECT id, type, state, review FROM records WHERE NOT deleted"
		       " AND (?1 IS NULL OR type = ?1) AND (patient = ?2 OR id = ?2)"
		       " AND (?1 IS NOT NULL OR type <> 'audit') ORDER BY rowid"
		     : "SELECT id, type, state, review FROM records WHERE NOT deleted"
		       " AND (?1 IS NULL OR type = ?1)"
		       " AND (?1 IS NOT NULL OR type <> 'audit') ORDER BY rowid")) < 0)
		return err;
	if ((type && (err = chs_client__bind_text(s, st, 1, type)) < 0) ||
	    (patient && (err = chs_client__bind_blob(s, st, 2, pid, 16)) < 0)) {
		chs_client__finish(s, st);
		return err;
	}
	return list_rows(s, st, json);
}

int chs_review_list(chs_store *s, char **json)
{
	sqlite3_stmt *st = NULL;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(json);

	*json = NULL;
	if ((err = chs_client__prepare(s, &st,
		     /* "review, rowid" is the order of the review index (all
		      * its keys are 1): ordered by rowid alone, SQLite read
		      * every record instead of the few under review */
		     "SELECT id, type, state, review FROM records WHERE review"
		     " ORDER BY review, rowid")) < 0)
		return err;
	return list_rows(s, st, json);
}
