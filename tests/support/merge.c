/*
 * A merge's effect written by hand (tests/support/merge.h): a test-only
 * stand-in for client/identity's merge.
 */
#include "support/merge.h"
#include "support/internal.h"
#include "support/testutil.h"
#include "support/org.h"
#include "support/records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse_id(unsigned char out[16], const char *hex)
{
	int i;

	ck_assert_uint_eq(strlen(hex), 32);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

/* An edit of `rec` (of `type`) setting link `field` to `value`. */
static chs_change *link_change(const char *rec, const char *type, const char *field,
			       const char *value)
{
	chs_change *c = NULL;

	ck_assert_int_eq(chs_change_new(&c), 0);
	parse_id(c->record, rec);
	c->op = CHS_OP_UPDATE;
	c->type = strdup(type);
	ck_assert_ptr_nonnull(c->type);
	ck_assert_int_eq(chs_change_set_string(c, field, value), 0);
	return c;
}

/* Every record of `type` linked to `other` moved to `keep`, in `w`. */
static void move_type(chs_store *s, chs_writer *w, const char *type, const char *keep,
		      const char *other)
{
	chs_record_list *l = NULL;
	size_t i;

	ck_assert_msg(chs_record_query(&l, s, type, other) == 0, "%s", chs_error_last());
	for (i = 0; i < chs_record_list_count(l); i++) {
		const chs_record *r = chs_record_list_get(l, i);

		if (strcmp(chs_record_id(r), other) == 0)
			continue;
		ck_assert_msg(chs_records__writer_put(w, link_change(chs_record_id(r),
				      chs_record_type(r), CHS_FIELD_PATIENT, keep)) == 0,
			      "%s", chs_error_last());
	}
	chs_record_list_free(l);
}

void tu_merge_by_hand(chs_store *s, const char *keep, const char *other)
{
	const chs_type_def *t;
	chs_writer w;

	ck_assert_msg(chs_records__writer_begin(&w, s) == 0, "%s", chs_error_last());
	/* type by type: a list of every type leaves clinical companions out,
	 * and a visit's companion carries the visit's patient link too */
	for (t = chs_schema_types(); t->name; t++)
		if (strcmp(t->name, CHS_AUDIT_TYPE) != 0 &&
		    strcmp(t->name, CHS_ARCHIVE_EVENT_TYPE) != 0)
			move_type(s, &w, t->name, keep, other);
	ck_assert_msg(chs_records__writer_put(&w, link_change(other, "patient",
			      CHS_FIELD_MERGED_INTO, keep)) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_records__writer_commit(&w) == 0, "%s", chs_error_last());
}

/* Every unsent batch of `from` applied to `to`. */
static void ship(chs_store *from, chs_store *to)
{
	chs_outgoing *out = NULL;
	size_t n = 0, i;

	ck_assert_int_eq(chs_store_unsent(from, &out, &n), 0);
	for (i = 0; i < n; i++)
		ck_assert_msg(chs_store_apply_batch(to, out[i].bytes, out[i].len) == 0, "%s",
			      chs_error_last());
	chs_outgoing_free(out, n);
}

void tu_two_clinics_merged(chs_store *s, char keep[33], char other[33], char visit[33])
{
	chs_edit john[] = { tu_edit("name", "John Smith"), tu_edit("mrn", "X-1"),
			    tu_edit("dob", "1970-01-01") };
	chs_edit jon[] = { tu_edit("name", "Jon Smith"), tu_edit("mrn", "X-1"),
			   tu_edit("dob", "1970-01-01") };
	chs_edit v[] = { tu_edit("date", "2024-03-15"), tu_edit("reason", "cough") };
	chs_edit note[] = { tu_edit("date", "2024-03-15"), tu_edit("text", "chest clear") };
	chs_store *b;
	char *dir = NULL, id[33];

	ck_assert_msg(chs_record_add(s, "patient", john, 3, NULL, NULL, keep) == 0, "%s",
		      chs_error_last());
	b = tu_store_temp("bea", "clinic-b", &dir);
	ck_assert_msg(chs_record_add(b, "patient", jon, 3, NULL, NULL, other) == 0, "%s",
		      chs_error_last());
	ck_assert_msg(chs_record_add(b, "encounter", v, 2, other, NULL, visit) == 0, "%s",
		      chs_error_last());
	ck_assert_msg(chs_record_add(b, "note", note, 2, NULL, visit, id) == 0, "%s",
		      chs_error_last());
	ship(b, s);
	chs_store_free(b);
	tu_rmtree(dir);
	free(dir);
	tu_merge_by_hand(s, keep, other);
}
