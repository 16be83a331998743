/*
 * client/: what a billing office may see. An organisation (the admin's
 * store, two clinics, a billing office) syncing through a real bare
 * repository by path. Every field of every clinical type, the clinical
 * fields a billing record's companion keeps included, is filled with a
 * marker at a clinic, driven by the schema table; after sync no marker is
 * readable at the billing office: not in its views, its logs, the chart,
 * the coding queue, the claims, the FHIR export or the reports, nor
 * anywhere in its folder. The other clinic reads every one. Reasons that
 * earlier versions wrote inside the encounter (billing compartment) stay
 * readable at clinics and hidden at the billing office.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/reports.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ADMIN, C1, C2, B1, NSTORES };

static char *top, *archive, *dirs[NSTORES];
static chs_store *st[NSTORES];

#define NEEDLES_MAX 128
static char needles[NEEDLES_MAX][80];
static size_t nneedles;

static void setup(void)
{
	tu_org_setup(&top, &archive, tu_org_members, NSTORES, st, dirs);
	nneedles = 0;
}

static void teardown(void)
{
	tu_org_teardown(&top, &archive, st, dirs, NSTORES);
}

static const char *needle(const char *fmt, const char *a, const char *b, int i)
{
	ck_assert_uint_lt(nneedles, NEEDLES_MAX);
	snprintf(needles[nneedles], sizeof(needles[0]), fmt, a, b, i);
	return needles[nneedles++];
}

/* A marker value for field `f` of type `t` (the i-th filled), of its kind;
 * NULL for a kind no clinical field has had so far (the test then fails,
 * so whoever adds one says what marks it). */
static const char *marker(const chs_type_def *t, const chs_field_def *f, int i)
{
	switch (f->kind) {
	case CHS_KIND_TEXT:
		return needle("MK-%s-%s-%d-QZ", t->name, f->name, i);
	case CHS_KIND_DATE:
		return needle("19%.0s%.0s%02d-02-03", t->name, f->name, 10 + i);
	case CHS_KIND_INT:
	case CHS_KIND_CENTS:
		return needle("%.0s%.0s7%05d3", t->name, f->name, i);
	case CHS_KIND_ICD:
		return needle("Q%.0s%.0s%02d.81", t->name, f->name, 10 + i);
	default:
		ck_abort_msg("no marker for field '%s' of %s: add one", f->name, t->name);
		return NULL;
	}
}

/* Edits setting every field of `t` (but its links) to a marker. */
static size_t fill(const chs_type_def *t, chs_edit *e, size_t max)
{
	const chs_field_def *f;
	size_t n = 0;

	for (f = t->fields; f->name; f++) {
		ck_assert_uint_lt(n, max);
		e[n] = tu_edit(f->name, marker(t, f, (int)nneedles));
		n++;
	}
	return n;
}

/* At clinic A: a patient and a visit (its clinical companion's fields
 * typed on it, as a technician types a reason), then one record of every
 * other clinical type under the visit, every field a marker; an
 * attachment whose title and bytes are markers. The visit is coded. */
static const char *confirm_note; /* the confirmation companion's marker */

static void clinic_types_everything(char pat[33], char visit[33])
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1"),
			 tu_edit("dob", "1961-12-10") };
	chs_edit e[32];
	const chs_type_def *t;
	size_t n = 0;
	char id[33], *file;
	int companions = 0;

	ck_assert_msg(chs_record_add(st[C1], "patient", p, 3, NULL, NULL, pat) == 0, "%s",
		      chs_error_last());
	e[n++] = tu_edit("date", "2024-03-15");
	e[n++] = tu_edit("provider", "Dr Lee");
	for (t = chs_schema_types(); t->name; t++) {
		const chs_type_def *parent = chs_schema_companion_of(t);

		if (!(t->flags & CHS_TYPE_COMPANION))
			continue;
		ck_assert_ptr_nonnull(parent);
		companions++;
		if (strcmp(parent->name, "confirmation") == 0) {
			/* typed with 'confirm --note', at the other clinic */
			ck_assert_msg(strcmp(t->fields[0].name, "note") == 0 && !t->fields[1].name,
				      "%s: 'confirm' types a note only", t->name);
			confirm_note = marker(t, t->fields, (int)nneedles);
			continue;
		}
		ck_assert_msg(strcmp(parent->name, "encounter") == 0,
			      "companion %s of a type this test does not fill", t->name);
		n += fill(t, e + n, 32 - n);
	}
	ck_assert_int_ge(companions, 1);
	ck_assert_msg(chs_record_add(st[C1], "encounter", e, n, pat, NULL, visit) == 0, "%s",
		      chs_error_last());

	for (t = chs_schema_types(); t->name; t++) {
		if (t->compartment != CHS_CLINICAL || (t->flags & CHS_TYPE_COMPANION))
			continue;
		if (t->flags & CHS_TYPE_VIA_ATTACH) {
			const char *bytes = needle("MK-%s-%s-%d-bytes", t->name, "file", 0);

			file = tu_path(top, "scan.txt");
			ck_assert_int_eq(tu_write(file, bytes, strlen(bytes)), 0);
			ck_assert_msg(chs_attach(st[C1], pat, file, visit,
						 needle("MK-%s-%s-%d-QZ", t->name, "title", 0), id) == 0,
				      "%s", chs_error_last());
			free(file);
			continue;
		}
		n = fill(t, e, 32);
		ck_assert_msg(chs_record_add(st[C1], t->name, e, n, pat, visit, id) == 0,
			      "%s: %s", t->name, chs_error_last());
	}
	ck_assert_int_eq(chs_coding_send(st[C1], visit), 0);
	{
		const char *icd[1] = { "R05.9" };
		chs_coding_assign_opts o = { "99213", NULL, 0, icd, 1 };
		chs_coding_assignment *a = NULL;

		ck_assert_msg(chs_coding_assign(&a, st[C1], visit, &o) == 0, "%s",
			      chs_error_last());
		chs_coding_assignment_free(a);
	}
}

static void assert_none_in(const char *where, const char *text)
{
	size_t i;

	ck_assert_ptr_nonnull(text);
	for (i = 0; i < nneedles; i++)
		ck_assert_msg(!strstr(text, needles[i]), "the billing office's %s shows '%s':\n%.3000s",
			      where, needles[i], text);
}

static void assert_all_in(const char *where, const char *text)
{
	size_t i;

	for (i = 0; i < nneedles; i++)
		/* an attachment's bytes are read with 'cat', not in a view */
		ck_assert_msg(strstr(needles[i], "-bytes") || strstr(text, needles[i]), "clinic B's %s lacks '%s':\n%.3000s", where,
			      needles[i], text);
}

/* Everything a person at store `s` can read about the chart, as text. */
static char *everything_shown(chs_store *s, const char *pat, const char *visit)
{
	chs_buf b;
	char *t = NULL, *path = tu_path(top, "fhir.json");
	size_t len = 0, rows = 0;
	chs_access *acc = NULL;
	FILE *f;

	chs_buf_init(&b, 0);
	ck_assert_int_eq(tu_list_json(s, NULL, pat, &t), 0);
	chs_buf_puts(&b, t);
	free(t);
	ck_assert_int_eq(tu_show_json(s, visit, &t), 0);
	chs_buf_puts(&b, t);
	free(t);
	ck_assert_int_eq(tu_log_json(s, visit, &t), 0);
	chs_buf_puts(&b, t);
	free(t);
	ck_assert_int_eq(tu_review_json(s, &t), 0);
	chs_buf_puts(&b, t);
	free(t);
	ck_assert_msg(chs_chart_open(s, pat, &t, &acc) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_access_close(s, acc), 0);
	chs_buf_puts(&b, t);
	free(t);
	ck_assert_int_eq(tu_coding_queue_json(s, &t), 0);
	chs_buf_puts(&b, t);
	free(t);
	ck_assert_int_eq(tu_consistency_json(s, NULL, &t), 0);
	chs_buf_puts(&b, t);
	free(t);
	ck_assert_int_eq(chs_claims_export(s, "2000-01-01", &t, &rows), 0);
	chs_buf_puts(&b, t);
	free(t);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_msg(chs_export_fhir(s, pat, NULL, f) == 0, "%s", chs_error_last());
	fclose(f);
	ck_assert_ptr_nonnull(t = (char *)tu_read(path, &len));
	chs_buf_put(&b, t, len);
	free(t);
	unlink(path);
	free(path);
	return chs_buf_detach(&b);
}

/* No change the billing office holds carries a value for a clinical
 * field: what it may not read never reached it. */
static void assert_never_received(chs_store *s)
{
	sqlite3_stmt *q = NULL;
	chs_change *c;
	size_t i, n = 0;

	ck_assert_int_eq(chs_store__prepare(s, &q, "SELECT body FROM changes"), 0);
	while (sqlite3_step(q) == SQLITE_ROW) {
		ck_assert_int_eq(chs_change_decode(&c, sqlite3_column_blob(q, 0),
						   (size_t)sqlite3_column_bytes(q, 0)), 0);
		for (i = 0; i < c->nfields; i++)
			ck_assert_msg(!c->fields[i].value ||
				      !chs_schema_field_clinical(chs_schema_type(c->type),
								 c->fields[i].name),
				      "the billing office holds %s.%s = %s", c->type,
				      c->fields[i].name, c->fields[i].value);
		chs_change_free(c);
		n++;
	}
	chs_store__finish(s, q);
	ck_assert_uint_gt(n, 3);
}

START_TEST(test_billing_office__reads_no_clinical_field)
{
	char pat[33], visit[33], *shown, *list = NULL;
	const chs_type_def *t;
	size_t i;
	json_t *j;

	clinic_types_everything(pat, visit);
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[C2]);
	{
		const char *ids[1] = { visit };
		size_t added = 0;

		ck_assert_msg(chs_record_confirm(st[C2], ids, 1, confirm_note, &added) == 0, "%s",
			      chs_error_last());
		ck_assert_uint_eq(added, 1);
	}
	tu_sync_ok(st[C2]);
	tu_sync_ok(st[B1]);

	/* clinic B reads every marker: the test looks where they would be */
	shown = everything_shown(st[C2], pat, visit);
	assert_all_in("chart", shown);
	free(shown);

	/* the billing office sees the visit, its date, provider and codes */
	j = tu_show(st[B1], visit);
	ck_assert_str_eq(tu_field(j, "date"), "2024-03-15");
	ck_assert_str_eq(tu_field(j, "provider"), "Dr Lee");
	ck_assert_ptr_null(tu_field(j, "reason"));
	json_decref(j);
	shown = everything_shown(st[B1], pat, visit);
	ck_assert_ptr_nonnull(strstr(shown, "99213"));
	ck_assert_ptr_nonnull(strstr(shown, "R05.9"));
	assert_none_in("views and exports", shown);
	free(shown);
	for (t = chs_schema_types(); t->name; t++) {
		if (t->compartment != CHS_CLINICAL)
			continue;
		ck_assert_int_eq(tu_list_json(st[B1], t->name, NULL, &list), 0);
		ck_assert_msg(strcmp(list, "[]") == 0, "%s at the billing office: %s", t->name,
			      list);
		free(list);
	}
	assert_never_received(st[B1]);
	/* nor anywhere in its folder, its git mirror included */
	for (i = 0; i < nneedles; i++)
		ck_assert_msg(tu_grep_dir(dirs[B1], needles[i], NULL, 0) == 0,
			      "'%s' is in the billing office's folder", needles[i]);
}
END_TEST

/* A visit with its reason inside the encounter, as chartsync wrote it
 * before companions: synced to the billing office in the billing
 * compartment. */
static void old_visit(chs_store *s, const char *pat, const char *reason, char visit[33])
{
	chs_edit e[] = { tu_edit("date", "2024-03-15"), tu_edit("reason", reason) };
	unsigned char id[16];
	chs_change *c = NULL;
	chs_writer w;

	chs_random(id, sizeof(id));
	ck_assert_int_eq(chs_records__writer_begin(&w, s), 0);
	ck_assert_msg(chs_records__new_record(s, chs_schema_type("encounter"), id, e, 2, pat,
					      NULL, &c) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_records__writer_put_whole(&w, c), 0);
	ck_assert_int_eq(chs_records__writer_commit(&w), 0);
	chs_hex(visit, id, 16);
}

START_TEST(test_billing_office__reasons_synced_by_earlier_versions_stay_hidden)
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1") };
	chs_edit now[] = { tu_edit("reason", "MK-new-reason-QZ") };
	char pat[33], visit[33], other[33], *shown;
	json_t *j;

	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 2, NULL, NULL, pat), 0);
	old_visit(st[C1], pat, "MK-old-reason-QZ", visit);
	ck_assert_int_eq(chs_coding_send(st[C1], visit), 0);
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[B1]);
	tu_sync_ok(st[C2]);

	/* clinics still read it */
	j = tu_show(st[C2], visit);
	ck_assert_str_eq(tu_field(j, "reason"), "MK-old-reason-QZ");
	json_decref(j);
	/* the billing office holds it (encrypted, in a signed change) but
	 * shows it nowhere */
	nneedles = 0;
	needle("%s%s%.0d", "MK-old-", "reason-QZ", 0);
	shown = everything_shown(st[B1], pat, visit);
	assert_none_in("views and exports", shown);
	ck_assert_ptr_nonnull(strstr(shown, "2024-03-15"));
	free(shown);

	/* a clinic edits it: the new reason goes to the companion, the old
	 * copy inside the encounter is cleared */
	ck_assert_msg(chs_record_set(st[C2], visit, now, 1) == 0, "%s", chs_error_last());
	tu_sync_ok(st[C2]);
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[B1]);
	j = tu_show(st[C1], visit);
	ck_assert_str_eq(tu_field(j, "reason"), "MK-new-reason-QZ");
	json_decref(j);
	needle("%s%s%.0d", "MK-new-", "reason-QZ", 0);
	shown = everything_shown(st[B1], pat, visit);
	assert_none_in("views and exports", shown);
	free(shown);
	ck_assert_int_eq(tu_grep_dir(dirs[B1], "MK-new-reason-QZ", NULL, 0), 0);

	/* it confirms what it reads, but a note is clinical text */
	{
		const char *ids[1] = { visit };
		size_t added = 0;

		ck_assert_int_eq(chs_record_confirm(st[B1], ids, 1, "dose is 20 mg", &added),
				 CHS_EDENIED);
		ck_assert_msg(strstr(chs_error_last(), "field 'note' of confirmation is clinical"),
			      "%s", chs_error_last());
		ck_assert_msg(chs_record_confirm(st[B1], ids, 1, NULL, &added) == 0, "%s",
			      chs_error_last());
	}
	/* the billing office cannot type one, and says why */
	ck_assert_int_eq(chs_record_set(st[B1], visit, now, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "field 'reason' of encounter is clinical"), "%s",
		      chs_error_last());
	{
		chs_edit v[] = { tu_edit("date", "2024-04-01"), tu_edit("reason", "x") };

		ck_assert_int_eq(chs_record_add(st[B1], "encounter", v, 2, pat, NULL, other),
				 CHS_EDENIED);
		ck_assert_msg(chs_record_add(st[B1], "encounter", v, 1, pat, NULL, other) == 0,
			      "%s", chs_error_last());
	}
}
END_TEST

/* At a clinic the reason is the visit's as ever: typed, edited, cleared,
 * moved with the visit, removed with it; never a record of its own in a
 * listing. */
START_TEST(test_billing_office__a_clinic_keeps_the_reason_with_its_visit)
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1") };
	chs_edit q[] = { tu_edit("name", "Bob Byron"), tu_edit("mrn", "A-2") };
	chs_edit v[] = { tu_edit("date", "2024-03-15"), tu_edit("reason", "cough") };
	chs_edit r2[] = { tu_edit("reason", "fever") };
	char pat[33], pat2[33], visit[33], scratch[33], *list = NULL;
	chs_edit unset = { "reason", NULL, 0, 1 };
	json_t *j;

	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 2, NULL, NULL, pat), 0);
	ck_assert_int_eq(chs_record_add(st[C1], "patient", q, 2, NULL, NULL, pat2), 0);
	ck_assert_int_eq(chs_record_add(st[C1], "encounter", v, 2, pat, NULL, visit), 0);
	j = tu_show(st[C1], visit);
	ck_assert_str_eq(tu_field(j, "reason"), "cough");
	json_decref(j);
	ck_assert_int_eq(tu_list_json(st[C1], NULL, pat, &list), 0);
	ck_assert_ptr_null(strstr(list, "visit_reason"));
	ck_assert_ptr_nonnull(strstr(list, "cough"));
	free(list);
	ck_assert_int_eq(chs_record_add(st[C1], "visit_reason", r2, 1, pat, visit, scratch),
			 CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), "give 'reason' on the encounter itself"), "%s",
		      chs_error_last());
	ck_assert_int_eq(chs_record_set(st[C1], visit, r2, 1), 0);
	j = tu_show(st[C1], visit);
	ck_assert_str_eq(tu_field(j, "reason"), "fever");
	json_decref(j);
	ck_assert_int_eq(chs_record_set(st[C1], visit, &unset, 1), 0);
	j = tu_show(st[C1], visit);
	ck_assert_ptr_null(tu_field(j, "reason"));
	json_decref(j);
	ck_assert_int_eq(chs_record_set(st[C1], visit, r2, 1), 0);
	/* the visit moves to the other patient with its reason */
	{
		chs_edit move = tu_edit("patient", pat2);

		ck_assert_msg(chs_record_set(st[C1], visit, &move, 1) == 0, "%s",
			      chs_error_last());
	}
	ck_assert_int_eq(tu_list_json(st[C1], NULL, pat, &list), 0);
	ck_assert_ptr_null(strstr(list, "fever"));
	free(list);
	ck_assert_int_eq(tu_list_json(st[C1], NULL, pat2, &list), 0);
	ck_assert_ptr_nonnull(strstr(list, "fever"));
	free(list);
	/* and goes with it */
	ck_assert_msg(chs_record_rm(st[C1], visit) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_record_rm(st[C1], pat2) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_list_json(st[C1], "visit_reason", NULL, &list), 0);
	ck_assert_str_eq(list, "[]");
	free(list);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client-billing-office");
	TCase *tc = tcase_create("billing-office");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_billing_office__reads_no_clinical_field);
	tcase_add_test(tc, test_billing_office__reasons_synced_by_earlier_versions_stay_hidden);
	tcase_add_test(tc, test_billing_office__a_clinic_keeps_the_reason_with_its_visit);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
