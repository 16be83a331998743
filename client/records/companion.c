/*
 * Clinical companions: the clinical fields of a billing record.
 *
 * A compartment is per record type (what a change is sealed under is
 * decided by its record's type, client/replicate/send.c), and a billing
 * office holds the billing key only. Some billing records carry a field
 * whose value is clinical all the same: a visit's `reason` ("suspected
 * exposure ..."), a confirmation's free-text `note`. Such a field is still
 * typed on the billing record (`add encounter ... reason=`, `set`, import,
 * `confirm --note`), but every local save moves it, in the same
 * transaction, onto a companion record of a clinical type
 * (schema.c: `visit_reason`, `confirmation_note`) whose fields name the
 * fields it keeps. So a billing office never receives it, and the
 * compartments, keys and sealed files stay exactly as they were.
 *
 * The companion's id is derived from its record's, so two clinics that
 * give an old visit its first reason at once write the same record, and
 * the merge rule puts different reasons under review as it would any
 * other concurrent edit. An edit of the field also writes the record
 * itself (the field cleared there), so an edit made while another site
 * removed the record still goes to review. A visit's companion carries
 * the visit's patient and the visit (as its `encounter` link), so it
 * moves, and goes, with it; removing a record removes its companion.
 *
 * Reading: a store that reads the clinical compartment shows the
 * companion's fields as the record's own (its value wins; the record's own
 * value, written by chartsync before companions existed, shows while the
 * companion has none). A billing office shows neither: the values that
 * earlier versions synced to it inside the billing record stay in its
 * signed history, encrypted in its store, but no view, log or export
 * shows them. The first save that touches such a field clears the
 * record's own copy.
 */
#include "records_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define COMPANION_TAG "chartsync-companion-v1"

int chs_records__reads_clinical(chs_store *s, int *yes)
{
	int role = 0, err;

	*yes = 1;
	if ((err = chs_store__role(s, &role)) < 0)
		return err;
	/* outside an organisation, or not enrolled yet: a clinic's store */
	*yes = role == 0 || chs_role_reads((chs_role)role, CHS_COMPARTMENT_CLINICAL);
	return 0;
}

void chs_records__companion_id(const chs_type_def *ct, const unsigned char parent[16],
			       unsigned char out[16])
{
	unsigned char buf[sizeof(COMPANION_TAG) + 64 + 16], h[CHS_HASH_BYTES];
	size_t n = strlen(ct->name) < 64 ? strlen(ct->name) : 64;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, COMPANION_TAG, sizeof(COMPANION_TAG)); /* with its NUL */
	memcpy(buf + sizeof(COMPANION_TAG), ct->name, n);
	memcpy(buf + sizeof(COMPANION_TAG) + 64, parent, 16);
	chs_hash(h, buf, sizeof(buf));
	memcpy(out, h, 16);
}

/* A record's row: its state's fields and review fields (new references,
 * NULL when absent), whether it is deleted, and its patient link. */
typedef struct row {
	int found, deleted;
	json_t *state;
	char patient[33];
} row;

static void row_dispose(row *r)
{
	json_decref(r->state);
	r->state = NULL;
}

static int load_row(chs_store *s, const unsigned char id[16], row *r)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	memset(r, 0, sizeof(*r));
	if ((err = chs_store__prepare(s, &st,
		     "SELECT deleted, patient, state FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, id, 16)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r->found = 1;
		r->deleted = sqlite3_column_int(st, 0);
		if (sqlite3_column_bytes(st, 1) == 16)
			chs_hex(r->patient, sqlite3_column_blob(st, 1), 16);
		r->state = json_loadb(sqlite3_column_blob(st, 2),
				      (size_t)sqlite3_column_bytes(st, 2), 0, NULL);
		if (!r->state)
			err = chs_error_set(CHS_EDAMAGED, "the store '%s' is damaged: a record's"
					    " state does not read", chs_store_path(s));
	} else if (rc != SQLITE_DONE) {
		err = chs_store__sqlerr(s, rc, "reading a record");
	}
done:
	chs_store__finish(s, st);
	return err;
}

static json_t *state_fields(const row *r)
{
	return json_object_get(r->state, "fields");
}

static int under_review(const row *r, const char *name)
{
	return json_object_get(json_object_get(json_object_get(r->state, "review"), "fields"),
			       name) != NULL;
}

/* ------------------------------------------------------------------ */
/* Saving                                                               */

static void take_field(chs_change *c, size_t i)
{
	free(c->fields[i].name);
	free(c->fields[i].value);
	memmove(c->fields + i, c->fields + i + 1, (c->nfields - i - 1) * sizeof(*c->fields));
	c->nfields--;
}

static void quoted_id(char out[35], const char *hex)
{
	snprintf(out, 35, "\"%s\"", hex);
}

/* The companion change: a create with the links, or an edit. */
static int companion_change(const chs_type_def *ct, const unsigned char cid[16],
			    const row *comp, chs_change **out)
{
	chs_change *k = NULL;
	int err;

	*out = NULL;
	if ((err = chs_change_new(&k)) < 0)
		return err;
	memcpy(k->record, cid, 16);
	k->op = comp->found ? CHS_OP_UPDATE : CHS_OP_CREATE;
	if (!(k->type = chs_util__strdup(ct->name))) {
		chs_change_free(k);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	*out = k;
	return 0;
}

/* Move the fields of `c` its companion keeps into `k`; an edit of the
 * record keeps them, cleared. */
static int move_fields(const chs_type_def *ct, chs_change *c, chs_change *k, int *moved)
{
	size_t i = 0;
	int err = 0;

	*moved = 0;
	while (i < c->nfields && err == 0) {
		const char *name = c->fields[i].name;

		if (!chs_schema_field(ct, name)) {
			i++;
			continue;
		}
		if ((c->fields[i].value || k->op != CHS_OP_CREATE) &&
		    (err = chs_change_set(k, name, c->fields[i].value)) < 0)
			break;
		(*moved)++;
		if (c->op != CHS_OP_CREATE) {
			/* the record is written too: its own copy of the value
			 * (from before companions) is cleared, and an edit made
			 * while another site removed the record goes to review
			 * as any edit of it would */
			free(c->fields[i].value);
			c->fields[i].value = NULL;
			i++;
		} else {
			take_field(c, i);
		}
	}
	return err;
}

/* The companion's links: the record's patient (as this change leaves it)
 * and, for a visit's, the visit itself. */
static int link_companion(chs_change *k, const chs_change *c, const row *parent)
{
	const char *pat = NULL;
	char q[35], hex[33], e[35];
	size_t i;
	int err;

	for (i = 0; i < c->nfields; i++)
		if (strcmp(c->fields[i].name, CHS_FIELD_PATIENT) == 0)
			pat = c->fields[i].value;
	if (!pat && parent->patient[0]) {
		quoted_id(q, parent->patient);
		pat = q;
	}
	if (pat && (err = chs_change_set(k, CHS_FIELD_PATIENT, pat)) < 0)
		return err;
	/* a visit's companion is one of its records (it moves and goes with
	 * it); another's is found by its derived id alone */
	if (chs_schema_type(k->type)->encounter == CHS_LINK_NONE)
		return 0;
	chs_hex(hex, c->record, 16);
	quoted_id(e, hex);
	return chs_change_set(k, CHS_FIELD_ENCOUNTER, e);
}

static int refuse_billing(const chs_type_def *t, const chs_type_def *ct)
{
	return chs_error_set(CHS_EDENIED,
			     "field '%s' of %s is clinical content: this store is a billing"
			     " office's and keeps billing records only; leave it out, or type"
			     " it at a clinic",
			     ct->fields[0].name, t->name);
}

static int refuse_review(const chs_type_def *t, const char *name, const unsigned char cid[16])
{
	char hex[33];

	chs_hex(hex, cid, 16);
	return chs_error_set(CHS_EREVIEW,
			     "field '%s' of the %s is under review (record %s); settle it with"
			     " 'chartsync review resolve'", name, t->name, hex);
}

/* Some field of `c` the companion keeps, or NULL. */
static const char *companion_field(const chs_type_def *ct, const chs_change *c)
{
	size_t i;

	for (i = 0; i < c->nfields; i++)
		if (chs_schema_field(ct, c->fields[i].name))
			return c->fields[i].name;
	return NULL;
}

/* Removing the record removes its companion. */
static int split_delete(const row *comp, const chs_type_def *ct,
			const unsigned char cid[16], chs_change **out)
{
	int err;

	if (!comp->found || comp->deleted)
		return 0;
	if ((err = companion_change(ct, cid, comp, out)) == 0)
		(*out)->op = CHS_OP_DELETE;
	return err;
}

int chs_records__companion_split(chs_store *s, int role, chs_change *c, chs_change **out,
				 int *empty)
{
	const chs_type_def *t = chs_schema_type(c->type ? c->type : "");
	const chs_type_def *ct = chs_schema_companion(t);
	const char *name = NULL;
	unsigned char cid[16];
	row parent, comp;
	chs_change *k = NULL;
	int err, moved = 0;
	int removes = c->op == CHS_OP_DELETE || (c->op == CHS_OP_RESOLVE && c->deleted);

	*out = NULL;
	*empty = 0;
	if (!ct || (!removes && !(name = companion_field(ct, c))))
		return 0;
	if (role && !chs_role_reads((chs_role)role, CHS_COMPARTMENT_CLINICAL))
		return removes ? 0 : refuse_billing(t, ct);
	chs_records__companion_id(ct, c->record, cid);
	memset(&parent, 0, sizeof(parent));
	if ((err = load_row(s, cid, &comp)) < 0)
		return err;
	if (removes) {
		err = split_delete(&comp, ct, cid, out);
		goto done;
	}
	if (c->op != CHS_OP_CREATE && (err = load_row(s, c->record, &parent)) < 0)
		goto done;
	/* settling review is a deliberate act: a plain edit does not end it */
	if (c->op == CHS_OP_UPDATE && comp.found && under_review(&comp, name)) {
		err = refuse_review(t, name, cid);
		goto done;
	}
	if ((err = companion_change(ct, cid, &comp, &k)) < 0)
		goto done;
	if (c->op == CHS_OP_RESOLVE && comp.found)
		k->op = CHS_OP_RESOLVE;
	if ((err = move_fields(ct, c, k, &moved)) < 0 ||
	    (k->op == CHS_OP_CREATE && (err = link_companion(k, c, &parent)) < 0))
		goto done;
	/* nothing to keep: a reason cleared on a visit that never had one */
	if (k->op == CHS_OP_CREATE && !companion_field(ct, k)) {
		chs_change_free(k);
		k = NULL;
	}
	*out = k;
	k = NULL;
	*empty = c->op != CHS_OP_CREATE && c->nfields == 0;
done:
	chs_change_free(k);
	row_dispose(&parent);
	row_dispose(&comp);
	return err;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */

int chs_records__companion_fields(chs_store *s, const chs_type_def *ct,
				  const unsigned char parent[16], json_t **out)
{
	unsigned char cid[16];
	row comp;
	int err;

	*out = NULL;
	chs_records__companion_id(ct, parent, cid);
	if ((err = load_row(s, cid, &comp)) < 0)
		return err;
	if (comp.found && !comp.deleted)
		*out = json_incref(state_fields(&comp));
	row_dispose(&comp);
	return 0;
}

int chs_records__clinical_fields(chs_store *s, const char *type, const unsigned char id[16],
				 json_t *fields)
{
	const chs_type_def *ct = chs_schema_companion(chs_schema_type(type ? type : ""));
	const chs_field_def *f;
	json_t *cf = NULL, *v;
	int reads, err;

	if (!ct || !json_is_object(fields))
		return 0;
	if ((err = chs_records__reads_clinical(s, &reads)) < 0)
		return err;
	if (reads && (err = chs_records__companion_fields(s, ct, id, &cf)) < 0)
		return err;
	for (f = ct->fields; f->name; f++) {
		if (!reads)
			json_object_del(fields, f->name);
		else if ((v = json_object_get(cf, f->name)) && json_is_null(v))
			json_object_del(fields, f->name);
		else if (v)
			json_object_set(fields, f->name, v);
	}
	json_decref(cf);
	return 0;
}

int chs_records__clinical_text(chs_store *s, const char *type, const unsigned char id[16],
			       const char *field, char **text)
{
	json_t *f = json_object();
	const char *v;
	int err;

	if (!f)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (*text && json_object_set_new(f, field, json_string(*text)) < 0) {
		json_decref(f);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	free(*text);
	*text = NULL;
	if ((err = chs_records__clinical_fields(s, type, id, f)) == 0 &&
	    (v = json_string_value(json_object_get(f, field))) &&
	    !(*text = chs_util__strdup(v)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	json_decref(f);
	return err;
}

/* ------------------------------------------------------------------ */
/* What is clinical, for a person to check                              */

static const char *kind_name(chs_kind k)
{
	switch (k) {
	case CHS_KIND_TEXT: return "text";
	case CHS_KIND_INT: return "integer";
	case CHS_KIND_CENTS: return "cents";
	case CHS_KIND_DATE: return "date";
	case CHS_KIND_ICD: return "icd10cm";
	case CHS_KIND_CPT: return "cpt";
	case CHS_KIND_SHA256: return "sha256";
	case CHS_KIND_IDS: return "ids";
	case CHS_KIND_ID: return "id";
	default: return "other"; /* a kind named here when it is added */
	}
}

int chs_record_field_info(size_t i, chs_field_info *out)
{
	const chs_type_def *t;
	const chs_field_def *f;

	CHS_ASSERT_ARG(out);

	/* a companion's fields are typed on, and listed under, its record */
	for (t = chs_schema_types(); t->name; t++) {
		if (t->flags & CHS_TYPE_COMPANION)
			continue;
		for (f = t->fields; f->name; f++)
			if (i-- == 0) {
				out->type = t->name;
				out->field = f->name;
				out->kind = kind_name(f->kind);
				out->clinical = chs_schema_field_clinical(t, f->name);
				return 0;
			}
	}
	return chs_error_set(CHS_ENOTFOUND, "no such field");
}

int chs_record_field_holds_lines(const char *type, const char *field)
{
	const chs_type_def *t = type ? chs_schema_type(type) : NULL;
	const chs_field_def *f = t && field ? chs_schema_field(t, field) : NULL;

	return f && f->rule == CHS_RULE_LINES;
}
