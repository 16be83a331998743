/*
 * client/: the consistency report (each finding kind, triggered by records
 * built for it, next to clean records that must not trigger it), the
 * coding report's figures, and the FHIR export's shape. What a person
 * cannot type (a procedure with no code, an old conflict, the coding
 * fields) arrives the way it would from another site: in a signed batch.
 * The two FHIR validators run over the CLI's export in tests/fhir/.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "sync/sync.h"
#include "support/records.h"
#include "support/reports.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS (86400ull * 1000)

static char *dir;
static chs_store *s;

static void setup(void)
{
	chs_kdf_params kdf;
	chs_store_create_opts o = { "maria", "pw", 2, &kdf, "front-desk" };

	ck_assert_int_eq(chs_crypto_init(), 0);
	chs_kdf_params_minimum(&kdf);
	dir = tu_tempdir();
	ck_assert_msg(chs_store_create(&s, dir, &o) == 0, "%s", chs_error_last());
}

static void teardown(void)
{
	chs_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

#define ADD(type, patient, encounter, id, ...) do { \
		chs_edit e_[] = { __VA_ARGS__ }; \
		ck_assert_msg(chs_record_add(s, type, e_, sizeof(e_) / sizeof(e_[0]), patient, \
					     encounter, id) == 0, "%s", chs_error_last()); \
	} while (0)

/* ---- changes from another site, forged into a signed batch ---- */

typedef struct forge {
	chs_identity *id;
	char device[33];
	uint64_t seq;
	unsigned char prev[32];
	chs_change **list;
	size_t n;
} forge;

static void forge_init(forge *f)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(chs_identity_new(&f->id), 0);
	chs_identity_device_id(f->id, f->device);
	f->list = calloc(64, sizeof(*f->list));
}

static uint64_t now_ms(void)
{
	return (uint64_t)time(NULL) * 1000;
}

/* A change of record `rec` at wall time `ms`, fields as NAME, JSON pairs
 * ending with NULL; encoded, so its id is set. */
static chs_change *forged(forge *f, const char *rec, const char *type, chs_op op,
			  uint64_t ms, const chs_change *parent, ...)
{
	chs_change *c = NULL;
	const char *name;
	chs_buf enc;
	va_list ap;

	ck_assert_int_eq(chs_change_new(&c), 0);
	ck_assert_int_eq(chs_unhex(c->record, 16, rec), 0);
	c->type = strdup(type);
	c->op = op;
	c->hlc = (chs_hlc)ms << CHS_HLC_COUNTER_BITS | (f->n & 0xff);
	c->user = strdup("tom");
	c->terminal = strdup("exam-2");
	memcpy(c->device, f->device, 33);
	va_start(ap, parent);
	while ((name = va_arg(ap, const char *)))
		ck_assert_int_eq(chs_change_set(c, name, va_arg(ap, const char *)), 0);
	va_end(ap);
	if (parent)
		ck_assert_int_eq(chs_change_add_parent(c, parent->id), 0);
	chs_buf_init(&enc, 0);
	ck_assert_msg(chs_change_encode(c, &enc) == 0, "%s", chs_error_last());
	chs_buf_dispose(&enc);
	f->list[f->n++] = c;
	return c;
}

/* Seal what was forged and apply it to the store. */
static void forge_ship(forge *f)
{
	chs_batch *b = NULL;
	chs_buf enc;

	f->seq++;
	ck_assert_msg(chs_batch_seal(&b, f->id, f->seq, f->seq > 1 ? f->prev : NULL, f->list,
				     f->n) == 0, "%s", chs_error_last());
	memcpy(f->prev, b->id, 32);
	chs_buf_init(&enc, 0);
	ck_assert_int_eq(chs_batch_encode(b, &enc), 0);
	ck_assert_msg(chs_store_apply_batch(s, enc.ptr, enc.len) == 0, "%s", chs_error_last());
	chs_buf_dispose(&enc);
	chs_batch_free(b);
	f->list = calloc(64, sizeof(*f->list));
	f->n = 0;
}

static void forge_dispose(forge *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		chs_change_free(f->list[i]);
	free(f->list);
	chs_identity_free(f->id);
}

static char *quoted(const char *hex)
{
	static char buf[4][40];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "\"%s\"", hex);
	return buf[k];
}

/* ---- the report ---- */

static json_t *consistency(const chs_report_opts *o)
{
	char *text = NULL;
	json_t *j;

	ck_assert_msg(tu_consistency_json(s, o, &text) == 0, "%s", chs_error_last());
	j = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(j);
	free(text);
	return j;
}

/* How many findings of `kind` name `id` (NULL: any record). */
static int count(json_t *rep, const char *kind, const char *id)
{
	json_t *f, *r;
	size_t i, j;
	int n = 0;

	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		if (strcmp(json_string_value(json_object_get(f, "kind")), kind) != 0)
			continue;
		json_array_foreach(json_object_get(f, "records"), j, r)
			if (!id || strcmp(json_string_value(r), id) == 0) {
				n++;
				break;
			}
	}
	return n;
}

static char pat[33];

static void patient(const char *mrn, const char *dob, char id[33])
{
	ADD("patient", NULL, NULL, id, tu_edit("name", "Ada Byron"), tu_edit("mrn", mrn),
	    tu_edit("dob", dob));
}

START_TEST(test_reports__a_clean_chart_has_no_findings)
{
	char v[33], id[33];
	json_t *rep;

	patient("A-1", "1961-12-10", pat);
	ADD("encounter", pat, NULL, v, tu_edit("date", "2024-03-15"));
	ADD("note", NULL, v, id, tu_edit("text", "Takes metformin daily."),
	    tu_edit("date", "2024-03-15"));
	ADD("medication", pat, NULL, id, tu_edit("name", "Metformin"),
	    tu_edit("start", "2020-01-01"),
	    tu_edit("end", "2030-01-01"));
	ADD("procedure", NULL, v, id, tu_edit("cpt", "99213"));
	ADD("diagnosis", NULL, v, id, tu_edit("icd", "E11.9"));
	ADD("allergy", pat, NULL, id, tu_edit("substance", "Penicillin"));
	rep = consistency(NULL);
	ck_assert_int_eq(json_array_size(json_object_get(rep, "findings")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "patients")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "visits")), 1);
	json_decref(rep);
}
END_TEST

START_TEST(test_reports__visit_without_note)
{
	char with[33], without[33], id[33];
	json_t *rep;

	patient("A-1", "1961-12-10", pat);
	ADD("encounter", pat, NULL, with, tu_edit("date", "2024-03-15"));
	ADD("note", NULL, with, id, tu_edit("text", "Seen."));
	ADD("encounter", pat, NULL, without, tu_edit("date", "2024-04-15"));
	rep = consistency(NULL);
	ck_assert_int_eq(count(rep, "visit_without_note", without), 1);
	ck_assert_int_eq(count(rep, "visit_without_note", with), 0);
	ck_assert_int_eq(count(rep, "visit_without_note", NULL), 1);
	json_decref(rep);
}
END_TEST

START_TEST(test_reports__procedure_without_code_and_malformed_codes)
{
	char v[33], good[33], nocode[33], badcpt[33], badicd[33];
	chs_change *c;
	json_t *rep;
	forge f;

	patient("A-1", "1961-12-10", pat);
	ADD("encounter", pat, NULL, v, tu_edit("date", "2024-03-15"));
	ADD("note", NULL, v, good, tu_edit("text", "Seen."));
	ADD("procedure", NULL, v, good, tu_edit("cpt", "99213"));
	/* entry refuses these; another site's sync does not */
	forge_init(&f);
	memset(nocode, 'a', 32), nocode[32] = '\0';
	memset(badcpt, 'b', 32), badcpt[32] = '\0';
	memset(badicd, 'c', 32), badicd[32] = '\0';
	forged(&f, nocode, "procedure", CHS_OP_CREATE, now_ms(), NULL, "patient", quoted(pat),
	       "encounter", quoted(v), "modifier", "\"25\"", NULL);
	forged(&f, badcpt, "procedure", CHS_OP_CREATE, now_ms(), NULL, "patient", quoted(pat),
	       "encounter", quoted(v), "cpt", "\"9921\"", NULL);
	c = forged(&f, badicd, "diagnosis", CHS_OP_CREATE, now_ms(), NULL, "patient",
		   quoted(pat), "encounter", quoted(v), "icd", "\"E11-9\"", NULL);
	(void)c;
	forge_ship(&f);
	rep = consistency(NULL);
	ck_assert_int_eq(count(rep, "procedure_without_code", nocode), 1);
	ck_assert_int_eq(count(rep, "procedure_without_code", NULL), 1);
	ck_assert_int_eq(count(rep, "malformed_code", badcpt), 1);
	ck_assert_int_eq(count(rep, "malformed_code", badicd), 1);
	ck_assert_int_eq(count(rep, "malformed_code", good), 0);
	ck_assert_int_eq(count(rep, "code_without_procedure", NULL), 0);
	json_decref(rep);
	forge_dispose(&f);
}
END_TEST

START_TEST(test_reports__code_without_procedure)
{
	char coded[33], bare[33], d1[33], d2[33], id[33];
	json_t *rep, *fnd;

	patient("A-1", "1961-12-10", pat);
	ADD("encounter", pat, NULL, coded, tu_edit("date", "2024-03-15"));
	ADD("note", NULL, coded, id, tu_edit("text", "Seen."));
	ADD("procedure", NULL, coded, id, tu_edit("cpt", "99213"));
	ADD("diagnosis", NULL, coded, id, tu_edit("icd", "E11.9"));
	ADD("encounter", pat, NULL, bare, tu_edit("date", "2024-04-15"));
	ADD("note", NULL, bare, id, tu_edit("text", "Seen."));
	ADD("diagnosis", NULL, bare, d1, tu_edit("icd", "R05.9"));
	ADD("diagnosis", NULL, bare, d2, tu_edit("icd", "J20.9"));
	rep = consistency(NULL);
	ck_assert_int_eq(count(rep, "code_without_procedure", NULL), 1);
	ck_assert_int_eq(count(rep, "code_without_procedure", coded), 0);
	fnd = json_array_get(json_object_get(rep, "findings"), 0);
	/* the visit first, then its diagnoses */
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(fnd, "records"), 0)), bare);
	ck_assert_int_eq(json_array_size(json_object_get(fnd, "records")), 3);
	ck_assert_int_eq(count(rep, "code_without_procedure", d1), 1);
	ck_assert_int_eq(count(rep, "code_without_procedure", d2), 1);
	ck_assert_str_eq(json_string_value(json_object_get(fnd, "patient")), pat);
	json_decref(rep);
}
END_TEST

START_TEST(test_reports__medication_named_in_a_note_but_not_on_the_list)
{
	char p2[33], v[33], n1[33], n2[33], n3[33], id[33];
	json_t *rep;

	patient("A-1", "1961-12-10", pat);
	patient("B-2", "1970-01-01", p2);
	ADD("medication", pat, NULL, id, tu_edit("name", "Metformin"));
	ADD("medication", pat, NULL, id, tu_edit("name", "Insulin glargine"));
	ADD("medication", p2, NULL, id, tu_edit("name", "Lisinopril"));
	ADD("encounter", pat, NULL, v, tu_edit("date", "2024-03-15"));
	/* on the list, in any case and across punctuation */
	ADD("note", NULL, v, n1, tu_edit("text", "Continues METFORMIN, and insulin  glargine."));
	/* another patient's medication, twice, and a longer word that is none */
	ADD("note", p2, NULL, n2,
	    tu_edit("text", "Start metformin? Metformin (500 mg). Lisinopril ok."));
	ADD("note", p2, NULL, n3,
	    tu_edit("text", "Metformins are not a thing; insulin glargine was discussed."));
	rep = consistency(NULL);
	ck_assert_int_eq(count(rep, "medication_not_on_list", n1), 0);
	ck_assert_int_eq(count(rep, "medication_not_on_list", n2), 1);
	ck_assert_int_eq(count(rep, "medication_not_on_list", n3), 1);
	ck_assert_int_eq(count(rep, "medication_not_on_list", NULL), 2);
	json_decref(rep);
}
END_TEST

START_TEST(test_reports__dates_out_of_order)
{
	char early[33], fine[33], n_early[33], n_fine[33], m_bad[33], m_fine[33];
	json_t *rep;

	patient("A-1", "1961-12-10", pat);
	ADD("encounter", pat, NULL, early, tu_edit("date", "1950-03-15"));
	ADD("encounter", pat, NULL, fine, tu_edit("date", "2024-03-15T09:30Z"));
	ADD("note", NULL, fine, n_early, tu_edit("text", "Seen."), tu_edit("date", "2024-03-14"));
	ADD("note", NULL, fine, n_fine, tu_edit("text", "Seen."),
	    tu_edit("date", "2024-03-15T17:00Z"));
	ADD("note", NULL, early, n_fine, tu_edit("text", "Seen."));
	ADD("medication", pat, NULL, m_bad, tu_edit("name", "Aspirin"),
	    tu_edit("start", "2024-01-01"),
	    tu_edit("end", "2023-12-31"));
	ADD("medication", pat, NULL, m_fine, tu_edit("name", "Metformin"),
	    tu_edit("start", "2024-01-01"),
	    tu_edit("end", "2024-01-01"));
	rep = consistency(NULL);
	ck_assert_int_eq(count(rep, "visit_before_birth", early), 1);
	ck_assert_int_eq(count(rep, "visit_before_birth", NULL), 1);
	ck_assert_int_eq(count(rep, "note_before_visit", n_early), 1);
	ck_assert_int_eq(count(rep, "note_before_visit", NULL), 1);
	ck_assert_int_eq(count(rep, "end_before_start", m_bad), 1);
	ck_assert_int_eq(count(rep, "end_before_start", NULL), 1);
	json_decref(rep);
}
END_TEST

/* The typed report says what its JSON says: findings in order, kinds
 * counted in the order first found, patients and visits, and nothing out
 * of range. */
START_TEST(test_reports__the_typed_report_is_what_the_json_prints)
{
	char early[33], d1[33], n1[33], id[33];
	chs_consistency_report *r = NULL;
	const chs_finding *f;
	json_t *rep, *jf;
	char *text = NULL;
	size_t i, total = 0;

	patient("A-1", "1961-12-10", pat);
	ADD("encounter", pat, NULL, early, tu_edit("date", "1950-03-15"));
	ADD("diagnosis", NULL, early, d1, tu_edit("icd", "R05.9"));
	ADD("note", NULL, early, n1, tu_edit("text", "Seen."), tu_edit("date", "1950-03-14"));
	ADD("medication", pat, NULL, id, tu_edit("name", "Aspirin"),
	    tu_edit("start", "2024-01-01"), tu_edit("end", "2023-12-31"));
	ck_assert_msg(chs_report_consistency(&r, s, NULL) == 0, "%s", chs_error_last());
	rep = consistency(NULL);
	ck_assert_uint_eq(chs_consistency_report_count(r), 4);
	ck_assert_uint_eq(json_array_size(json_object_get(rep, "findings")), 4);
	for (i = 0; i < chs_consistency_report_count(r); i++) {
		f = chs_consistency_report_get(r, i);
		jf = json_array_get(json_object_get(rep, "findings"), i);
		ck_assert_str_eq(f->kind, json_string_value(json_object_get(jf, "kind")));
		ck_assert_str_eq(f->patient, pat);
		ck_assert_str_eq(f->detail, json_string_value(json_object_get(jf, "detail")));
		ck_assert_uint_eq(f->nrecords, json_array_size(json_object_get(jf, "records")));
		ck_assert_str_eq(f->records[0],
				 json_string_value(json_array_get(json_object_get(jf, "records"), 0)));
	}
	ck_assert_ptr_null(chs_consistency_report_get(r, 4));
	f = chs_consistency_report_get(r, 0);
	ck_assert_uint_eq(chs_consistency_report_kind_count(r), 4);
	ck_assert_str_eq(chs_consistency_report_kind(r, 0)->kind, f->kind);
	for (i = 0; i < chs_consistency_report_kind_count(r); i++) {
		const chs_finding_count *k = chs_consistency_report_kind(r, i);

		ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rep, "counts"),
								      k->kind)), (int)k->n);
		total += k->n;
	}
	ck_assert_uint_eq(total, 4);
	ck_assert_ptr_null(chs_consistency_report_kind(r, 4));
	ck_assert_uint_eq(chs_consistency_report_patients(r), 1);
	ck_assert_uint_eq(chs_consistency_report_visits(r), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "visits")), 1);
	/* the formatter prints the same object the report was made from */
	ck_assert_int_eq(chs_json_consistency_report(&text, r), 0);
	ck_assert_ptr_nonnull(strstr(text, "\"counts\":{"));
	free(text);
	json_decref(rep);
	chs_consistency_report_free(r);
	chs_consistency_report_free(NULL);
}
END_TEST

/* A record whose phone two sites changed, `days` ago. */
static void conflict(forge *f, const char *rec, const char *mrn, uint64_t days)
{
	uint64_t t = now_ms() - days * DAY_MS;
	chs_change *c = forged(f, rec, "patient", CHS_OP_CREATE, t - 1000, NULL, "name",
			       "\"Ann\"", "mrn", mrn, NULL);

	forged(f, rec, "patient", CHS_OP_UPDATE, t - 500, c, "phone", "\"555-0100\"", NULL);
	forged(f, rec, "patient", CHS_OP_UPDATE, t, c, "phone", "\"555-0199\"", NULL);
}

START_TEST(test_reports__review_overdue)
{
	char old[33], fresh[33];
	chs_report_opts o;
	json_t *rep;
	forge f;

	memset(old, 'd', 32), old[32] = '\0';
	memset(fresh, 'e', 32), fresh[32] = '\0';
	forge_init(&f);
	conflict(&f, old, "\"R-1\"", 10);
	conflict(&f, fresh, "\"R-2\"", 1);
	forge_ship(&f);
	rep = consistency(NULL);
	ck_assert_int_eq(count(rep, "review_overdue", old), 1);
	ck_assert_int_eq(count(rep, "review_overdue", fresh), 0);
	json_decref(rep);
	chs_report_opts_init(&o);
	o.review_days = 30;
	rep = consistency(&o);
	ck_assert_int_eq(count(rep, "review_overdue", NULL), 0);
	json_decref(rep);
	o.review_days = 0;
	rep = consistency(&o);
	ck_assert_int_eq(count(rep, "review_overdue", NULL), 2);
	json_decref(rep);
	forge_dispose(&f);
}
END_TEST

/* The schema has the confirmation record type, so the report looks for
 * unconfirmed records: the tests below check what it finds (they once
 * returned early when the type was missing, and passed having checked
 * nothing). */
static void assert_confirmations(void)
{
	char *json = NULL;

	ck_assert_ptr_nonnull(chs_schema_type("confirmation"));
	ck_assert_msg(tu_list_json(s, "confirmation", NULL, &json) == 0, "%s",
		      chs_error_last());
	free(json);
}

static const char *head_of(const char *id)
{
	static char head[65];
	char *text = NULL;
	json_t *j;

	ck_assert_int_eq(tu_show_json(s, id, &text), 0);
	j = json_loads(text, 0, NULL);
	snprintf(head, sizeof(head), "%s", json_string_value(json_array_get(json_object_get(j, "heads"), 0)));
	json_decref(j);
	free(text);
	return head;
}

START_TEST(test_reports__unconfirmed_after_n_days)
{
	char a[33], b[33], c[33], conf[33], head[70];
	chs_report_opts o;
	json_t *rep;
	forge f;

	forge_init(&f);
	memset(a, '1', 32), a[32] = '\0';
	memset(b, '2', 32), b[32] = '\0';
	memset(c, '3', 32), c[32] = '\0';
	forged(&f, a, "patient", CHS_OP_CREATE, now_ms() - 20 * DAY_MS, NULL, "name", "\"A\"",
	       "mrn", "\"U-1\"", NULL);
	forged(&f, b, "patient", CHS_OP_CREATE, now_ms() - 20 * DAY_MS, NULL, "name", "\"B\"",
	       "mrn", "\"U-2\"", NULL);
	forged(&f, c, "patient", CHS_OP_CREATE, now_ms() - 1 * DAY_MS, NULL, "name", "\"C\"",
	       "mrn", "\"U-3\"", NULL);
	forge_ship(&f);
	assert_confirmations();
	/* b is confirmed at its head; a is not; c is too new to count */
	memset(conf, '4', 32), conf[32] = '\0';
	snprintf(head, sizeof(head), "\"%s\"", head_of(b));
	forged(&f, conf, "confirmation", CHS_OP_CREATE, now_ms(), NULL, "record", quoted(b),
	       "change", head, "note", "\"checked against the paper chart\"", NULL);
	forge_ship(&f);
	rep = consistency(NULL);
	ck_assert_int_eq(count(rep, "unconfirmed", a), 1);
	ck_assert_int_eq(count(rep, "unconfirmed", b), 0);
	ck_assert_int_eq(count(rep, "unconfirmed", c), 0);
	json_decref(rep);
	chs_report_opts_init(&o);
	o.confirm_days = 0;
	rep = consistency(&o);
	ck_assert_int_eq(count(rep, "unconfirmed", c), 1);
	json_decref(rep);
	/* a later edit makes b unconfirmed again (once it is old enough) */
	{
		chs_edit e = tu_edit("phone", "555-0100");

		ck_assert_int_eq(chs_record_set(s, b, &e, 1), 0);
	}
	o.now = (int64_t)time(NULL) + 2 * 86400;
	rep = consistency(&o);
	ck_assert_int_eq(count(rep, "unconfirmed", b), 1);
	json_decref(rep);
	forge_dispose(&f);
}
END_TEST

/* Edits from two sites that merged without review leave a record with two
 * heads; a colleague confirms it by naming both (client/records/confirm.c), and
 * 'ls --unconfirmed' then leaves it out. The consistency report read only
 * single-head confirmations: it listed the confirmed record as
 * "unconfirmed ... settle the review first", though nothing was under
 * review. */
START_TEST(test_reports__a_record_confirmed_at_two_heads_is_confirmed)
{
	char rec[33], conf[33], heads[140], h1[65], h2[65];
	chs_change *c, *u1, *u2;
	char *json = NULL;
	json_t *rep;
	forge f;

	assert_confirmations();
	forge_init(&f);
	memset(rec, '5', 32), rec[32] = '\0';
	memset(conf, '6', 32), conf[32] = '\0';
	c = forged(&f, rec, "patient", CHS_OP_CREATE, now_ms() - 20 * DAY_MS, NULL, "name",
		   "\"Eve\"", "mrn", "\"H-1\"", NULL);
	u1 = forged(&f, rec, "patient", CHS_OP_UPDATE, now_ms() - 19 * DAY_MS, c, "phone",
		    "\"555-0100\"", NULL);
	u2 = forged(&f, rec, "patient", CHS_OP_UPDATE, now_ms() - 19 * DAY_MS, c, "address",
		    "\"1 Main St\"", NULL);
	chs_hex(h1, u1->id, 32);
	chs_hex(h2, u2->id, 32);
	snprintf(heads, sizeof(heads), "\"%s,%s\"", strcmp(h1, h2) < 0 ? h1 : h2,
		 strcmp(h1, h2) < 0 ? h2 : h1);
	forge_ship(&f);
	forged(&f, conf, "confirmation", CHS_OP_CREATE, now_ms(), NULL, "record", quoted(rec),
	       "change", heads, NULL);
	forge_ship(&f);
	/* confirm.c's own list agrees that it is confirmed */
	ck_assert_int_eq(tu_unconfirmed_json(s, NULL, &json), 0);
	ck_assert_ptr_null(strstr(json, rec));
	free(json);
	rep = consistency(NULL);
	ck_assert_int_eq(count(rep, "unconfirmed", rec), 0);
	json_decref(rep);
	forge_dispose(&f);
}
END_TEST

/* The detail of the first finding of `kind` naming `id`. */
static const char *detail_of(json_t *rep, const char *kind, const char *id)
{
	json_t *f;
	size_t i;

	json_array_foreach(json_object_get(rep, "findings"), i, f)
		if (strcmp(json_string_value(json_object_get(f, "kind")), kind) == 0 &&
		    strcmp(json_string_value(json_array_get(json_object_get(f, "records"), 0)),
			   id) == 0)
			return json_string_value(json_object_get(f, "detail"));
	return NULL;
}

/* Edits from two sites that merged without review are a new version like
 * any other: unconfirmed once older than --confirm-days, and the finding
 * does not send the technician to a review that does not exist. (It was
 * listed at once, as "edited at two sites, settle the review first".) */
START_TEST(test_reports__a_merged_record_is_unconfirmed_like_any_other)
{
	char rec[33], rev[33];
	chs_report_opts o;
	chs_change *c;
	const char *d;
	json_t *rep;
	forge f;

	assert_confirmations();
	forge_init(&f);
	memset(rec, '7', 32), rec[32] = '\0';
	memset(rev, '8', 32), rev[32] = '\0';
	c = forged(&f, rec, "patient", CHS_OP_CREATE, now_ms() - 2 * DAY_MS, NULL, "name",
		   "\"Fay\"", "mrn", "\"M-1\"", NULL);
	forged(&f, rec, "patient", CHS_OP_UPDATE, now_ms() - DAY_MS, c, "phone",
	       "\"555-0100\"", NULL);
	forged(&f, rec, "patient", CHS_OP_UPDATE, now_ms() - DAY_MS, c, "address",
	       "\"1 Main St\"", NULL);
	conflict(&f, rev, "\"M-2\"", 1);
	forge_ship(&f);
	rep = consistency(NULL); /* 7 days by default */
	ck_assert_int_eq(count(rep, "unconfirmed", rec), 0);
	json_decref(rep);
	chs_report_opts_init(&o);
	o.confirm_days = 0;
	o.now = (int64_t)time(NULL) + 2 * 86400;
	rep = consistency(&o);
	ck_assert_int_eq(count(rep, "unconfirmed", rec), 1);
	ck_assert_ptr_nonnull(d = detail_of(rep, "unconfirmed", rec));
	ck_assert_msg(!strstr(d, "review"), "detail '%s' names a review", d);
	ck_assert_ptr_nonnull(d = detail_of(rep, "unconfirmed", rev));
	ck_assert_msg(strstr(d, "review"), "detail '%s' names no review", d);
	json_decref(rep);
	forge_dispose(&f);
}
END_TEST

/* The finding of `kind` whose records include `id` (NULL if none). */
static const chs_finding *typed_finding(const chs_consistency_report *r, const char *kind,
					const char *id)
{
	size_t i, j;

	for (i = 0; i < chs_consistency_report_count(r); i++) {
		const chs_finding *f = chs_consistency_report_get(r, i);

		for (j = 0; strcmp(f->kind, kind) == 0 && j < f->nrecords; j++)
			if (strcmp(f->records[j], id) == 0)
				return f;
	}
	return NULL;
}

/* Chart numbers written before entry normalised them, or synced from a
 * site that did not (a sync never refuses a change for its form): the
 * report groups the patients whose numbers look alike (trimmed, NFC, NFKC
 * case folding, every dash one), each group one finding with every
 * patient's id, under the patient of the lowest id. */
START_TEST(test_reports__lookalike_chart_numbers_already_in_a_store)
{
	char a[33], b[33], c[33], d[33], e[33], g[33];
	char *wide = malloc(2 + 2000 * 2 + 16);
	chs_consistency_report *r = NULL;
	const chs_finding *f;
	json_t *rep, *jf = NULL, *v;
	size_t i;
	forge fg;

	/* a chart number padded with 2,000 no-break spaces: too long to show */
	strcpy(wide, "\"");
	for (i = 0; i < 2000; i++)
		strcat(wide + 1 + i * 2, "\xc2\xa0");
	strcat(wide, "A-1001\"");
	memset(g, '6', 32), g[32] = '\0';

	memset(b, '2', 32), b[32] = '\0';
	memset(c, '3', 32), c[32] = '\0';
	memset(d, '4', 32), d[32] = '\0';
	memset(e, '5', 32), e[32] = '\0';
	forge_init(&fg);
	forged(&fg, b, "patient", CHS_OP_CREATE, now_ms(), NULL, "name", "\"B\"",
	       "mrn", "\" A-1001\"", NULL);
	forged(&fg, c, "patient", CHS_OP_CREATE, now_ms(), NULL, "name", "\"C\"",
	       "mrn", "\"a\u2010" "1001\\t\"", NULL); /* lowercase, U+2010, a tab */
	forged(&fg, d, "patient", CHS_OP_CREATE, now_ms(), NULL, "name", "\"D\"",
	       "mrn", "\"B-77\"", NULL);
	forged(&fg, e, "patient", CHS_OP_CREATE, now_ms(), NULL, "name", "\"E\"",
	       "mrn", "\"\uff21-1001\\u001b[2J\"", NULL); /* fullwidth A, and an ESC */
	forged(&fg, g, "patient", CHS_OP_CREATE, now_ms(), NULL, "name", "\"G\"", "mrn", wide, NULL);
	forge_ship(&fg);
	/* the one typed here: "A-1001" as entry stores it */
	patient("A-1001", "1961-12-10", a);
	ck_assert_msg(chs_report_consistency(&r, s, NULL) == 0, "%s", chs_error_last());
	f = typed_finding(r, "duplicate_chart_number", b);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->nrecords, 4); /* a, b, c and g; not d, and e differs by its ESC */
	ck_assert_ptr_eq(typed_finding(r, "duplicate_chart_number", g), f);
	ck_assert_msg(strlen(f->detail) < 500 && strstr(f->detail, "and 1 more"), "%s", f->detail);
	ck_assert_ptr_eq(typed_finding(r, "duplicate_chart_number", a), f);
	ck_assert_ptr_eq(typed_finding(r, "duplicate_chart_number", c), f);
	ck_assert_ptr_null(typed_finding(r, "duplicate_chart_number", d));
	ck_assert_str_eq(f->patient, f->records[0]);
	for (i = 1; i < f->nrecords; i++)
		ck_assert_int_lt(strcmp(f->records[i - 1], f->records[i]), 0);
	ck_assert_msg(strstr(f->detail, "' A-1001'") && strstr(f->detail, "'A-1001'") &&
		      strstr(f->detail, "\\x09"), "%s", f->detail);
	/* the ESC that arrived by sync is flagged, and shown escaped */
	ck_assert_ptr_nonnull(typed_finding(r, "malformed_value", e));
	for (i = 0; i < chs_consistency_report_count(r); i++)
		ck_assert_ptr_null(strchr(chs_consistency_report_get(r, i)->detail, '\x1b'));
	/* and --json prints the same */
	rep = consistency(NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rep, "counts"),
							      "duplicate_chart_number")), 1);
	json_array_foreach(json_object_get(rep, "findings"), i, v)
		if (strcmp(json_string_value(json_object_get(v, "kind")),
			   "duplicate_chart_number") == 0)
			jf = v;
	ck_assert_ptr_nonnull(jf);
	ck_assert_uint_eq(json_array_size(json_object_get(jf, "records")), 4);
	ck_assert_str_eq(json_string_value(json_object_get(jf, "patient")), f->patient);
	ck_assert_str_eq(json_string_value(json_object_get(jf, "detail")), f->detail);
	json_decref(rep);
	chs_consistency_report_free(r);
	forge_dispose(&fg);
	free(wide);
}
END_TEST

/* What entry refuses but a sync delivers (control characters, a name of
 * 1 MB, a date of birth of 0000-01-01, a blank name) is applied, never
 * refused, and the consistency report flags each record once, saying why
 * as entry would. */
START_TEST(test_reports__values_entry_refuses_that_arrived_by_sync_are_flagged)
{
	char a[33], b[33], c[33], d[33], g[33];
	size_t big = 1 << 20;
	char *longname = malloc(big + 3);
	const char *dt;
	json_t *rep;
	forge fg;

	memset(a, '1', 32), a[32] = '\0';
	memset(b, '2', 32), b[32] = '\0';
	memset(c, '3', 32), c[32] = '\0';
	memset(d, '4', 32), d[32] = '\0';
	memset(g, '5', 32), g[32] = '\0';
	longname[0] = '"';
	memset(longname + 1, 'n', big);
	longname[big + 1] = '"';
	longname[big + 2] = '\0';
	forge_init(&fg);
	forged(&fg, a, "patient", CHS_OP_CREATE, now_ms(), NULL, "name",
	       "\"Eve\\u001b]0;pwned\\u0007\"", "mrn", "\"V-1\"", NULL);
	forged(&fg, b, "patient", CHS_OP_CREATE, now_ms(), NULL, "name", longname,
	       "mrn", "\"V-2\"", NULL);
	forged(&fg, c, "patient", CHS_OP_CREATE, now_ms(), NULL, "name", "\"Old\"",
	       "mrn", "\"V-3\"", "dob", "\"0000-01-01\"", NULL);
	forged(&fg, d, "patient", CHS_OP_CREATE, now_ms(), NULL, "name", "\"   \"",
	       "mrn", "\"V-4\"", NULL);
	forged(&fg, g, "patient", CHS_OP_CREATE, now_ms(), NULL, "name", "\"Fine\"",
	       "mrn", "\"V-5\"", "dob", "\"1961-12-10\"", NULL);
	forge_ship(&fg);
	rep = consistency(NULL);
	ck_assert_int_eq(count(rep, "malformed_value", a), 1);
	ck_assert_ptr_nonnull(dt = detail_of(rep, "malformed_value", a));
	ck_assert_msg(strstr(dt, "field 'name' of patient holds a control character (U+001B)"),
		      "%s", dt);
	ck_assert_ptr_nonnull(dt = detail_of(rep, "malformed_value", b));
	ck_assert_msg(strstr(dt, "the limit is 200"), "%s", dt);
	ck_assert_ptr_nonnull(dt = detail_of(rep, "malformed_value", c));
	ck_assert_msg(strstr(dt, "before 1850-01-01"), "%s", dt);
	ck_assert_ptr_nonnull(dt = detail_of(rep, "malformed_value", d));
	ck_assert_msg(strstr(dt, "must not be empty"), "%s", dt);
	ck_assert_int_eq(count(rep, "malformed_value", g), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rep, "counts"),
							      "malformed_value")), 4);
	json_decref(rep);
	forge_dispose(&fg);
	free(longname);
}
END_TEST

START_TEST(test_reports__billing_and_audit_records_are_not_charts)
{
	char id[33];
	json_t *rep;

	/* an access event, as chartsync writes one (never typed in) */
	(void)id;
	ck_assert_int_eq(chs_audit__write(s, "show", NULL, 0, NULL, chs_audit_now_ms(), 5), 0);
	rep = consistency(NULL);
	ck_assert_int_eq(json_array_size(json_object_get(rep, "findings")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "patients")), 0);
	json_decref(rep);
}
END_TEST

/* ---- the coding report ---- */

static void coded_visit(forge *f, char fill, const char *state, uint64_t sent_days,
			int64_t done_days, const char *coder, int64_t now)
{
	char rec[33], sent[32], done[32];
	time_t t;

	memset(rec, fill, 32), rec[32] = '\0';
	t = (time_t)(now - (int64_t)sent_days * 86400);
	strftime(sent, sizeof(sent), "\"%Y-%m-%dT%H:%M:%SZ\"", gmtime(&t));
	t = (time_t)(now - done_days * 86400);
	strftime(done, sizeof(done), "\"%Y-%m-%dT%H:%M:%SZ\"", gmtime(&t));
	forged(f, rec, "encounter", CHS_OP_CREATE, now_ms(), NULL, "patient", quoted(pat), "date",
	       "\"2024-03-15\"", "coding", state, "coding_sent", sent,
	       done_days >= 0 ? "coding_done" : NULL, done, "coder", coder, NULL);
}

START_TEST(test_reports__coding_queue_age_and_throughput)
{
	int64_t now = (int64_t)time(NULL);
	chs_report_opts o;
	char *text = NULL;
	json_t *rep, *q, *c;
	char id[33];
	forge f;

	patient("A-1", "1961-12-10", pat);
	ADD("encounter", pat, NULL, id, tu_edit("date", "2024-03-15")); /* never sent */
	forge_init(&f);
	coded_visit(&f, 'a', "\"queued\"", 10, -1, NULL, now);
	coded_visit(&f, 'b', "\"queued\"", 2, -1, NULL, now);
	coded_visit(&f, 'c', "\"queued\"", 4, -1, NULL, now);
	coded_visit(&f, 'd', "\"done\"", 5, 3, "\"ann\"", now);
	coded_visit(&f, 'e', "\"done\"", 40, 35, "\"ann\"", now);
	coded_visit(&f, 'f', "\"done\"", 2, 1, "\"bob\"", now);
	forge_ship(&f);
	chs_report_opts_init(&o);
	o.now = now;
	ck_assert_msg(tu_coding_json(s, &o, &text) == 0, "%s", chs_error_last());
	rep = json_loads(text, 0, NULL);
	free(text);
	q = json_object_get(rep, "queue");
	ck_assert_int_eq(json_integer_value(json_object_get(q, "length")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(q, "oldest")),
			 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	ck_assert_double_eq_tol(json_real_value(json_object_get(q, "oldest_days")), 10.0, 0.01);
	ck_assert_double_eq_tol(json_real_value(json_object_get(q, "median_days")), 4.0, 0.01);
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "done")), 3);
	c = json_array_get(json_object_get(rep, "coders"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(c, "coder")), "ann");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "done")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "last_30_days")), 1);
	ck_assert_double_eq_tol(json_real_value(json_object_get(c, "median_turnaround_days")), 3.5, 0.01);
	c = json_array_get(json_object_get(rep, "coders"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(c, "coder")), "bob");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "done")), 1);
	ck_assert_double_eq_tol(json_real_value(json_object_get(c, "median_turnaround_days")), 1.0, 0.01);
	json_decref(rep);
	/* the typed report holds the same figures */
	{
		chs_coding_report *cr = NULL;

		ck_assert_int_eq(chs_report_coding(&cr, s, &o), 0);
		ck_assert_uint_eq(chs_coding_report_queue(cr)->length, 3);
		ck_assert_str_eq(chs_coding_report_queue(cr)->oldest,
				 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
		ck_assert_uint_eq(chs_coding_report_done(cr), 3);
		ck_assert_uint_eq(chs_coding_report_coder_count(cr), 2);
		ck_assert_str_eq(chs_coding_report_coder(cr, 0)->coder, "ann");
		ck_assert_uint_eq(chs_coding_report_coder(cr, 0)->last_30_days, 1);
		ck_assert_double_eq_tol(chs_coding_report_coder(cr, 1)->median_turnaround_days,
					1.0, 0.01);
		ck_assert_ptr_null(chs_coding_report_coder(cr, 2));
		chs_coding_report_free(cr);
	}
	forge_dispose(&f);
}
END_TEST

/* ---- the FHIR export ---- */

static json_t *export_fhir(const char *patient_id)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_t *j;

	ck_assert_ptr_nonnull(f);
	ck_assert_msg(chs_export_fhir(s, patient_id, NULL, f) == 0, "%s", chs_error_last());
	fclose(f);
	j = json_loads(text, 0, NULL);
	ck_assert_msg(j != NULL, "not JSON: %.200s", text);
	free(text);
	return j;
}

static json_t *resource_of(json_t *bundle, const char *id)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(bundle, "entry"), i, e)
		if (strcmp(json_string_value(json_object_get(json_object_get(e, "resource"), "id")),
			   id) == 0)
			return json_object_get(e, "resource");
	return NULL;
}

static const char *coding_of(json_t *res, const char *what)
{
	json_t *c = json_array_get(json_object_get(json_object_get(res, "code"), "coding"), 0);

	return json_string_value(json_object_get(c, what));
}

START_TEST(test_reports__fhir_bundle_holds_every_record_type)
{
	char v[33], note_id[33], cpt[33], hcpcs[33], icd[33], med[33], all[33], prob[33];
	char att[33], other[33], bad[33], uuid[48];
	char *scan = tu_path(dir, "scan.pdf");
	json_t *b, *r, *e;
	forge f;
	size_t i;

	patient("A-1", "1961-12-10", pat);
	ADD("encounter", pat, NULL, v, tu_edit("date", "2024-03-15T09:30Z"),
	    tu_edit("reason", "cough"));
	ADD("note", NULL, v, note_id, tu_edit("text", "Café, seen."),
	    tu_edit("date", "2024-03-15"));
	ADD("procedure", NULL, v, cpt, tu_edit("cpt", "99213"));
	ADD("procedure", NULL, v, hcpcs, tu_edit("cpt", "g0008"));
	ADD("diagnosis", NULL, v, icd, tu_edit("icd", "E11.9"));
	ADD("medication", pat, NULL, med, tu_edit("name", "Metformin"), tu_edit("dose", "500"),
	    tu_edit("unit", "mg"));
	ADD("allergy", pat, NULL, all, tu_edit("substance", "Penicillin"),
	    tu_edit("reaction", "Hives"));
	ADD("problem", pat, NULL, prob, tu_edit("name", "Diabetes"), tu_edit("icd", "E11.9"),
	    tu_edit("status", "Active"));
	ck_assert_int_eq(tu_write(scan, "%PDF-1.4", 8), 0);
	ck_assert_msg(chs_attach(s, pat, scan, NULL, "intake form", att) == 0, "%s", chs_error_last());
	patient("B-2", "1970-01-01", other);
	ck_assert_int_eq(chs_audit__write(s, "show", NULL, 0, pat, chs_audit_now_ms(), 5), 0);
	/* an impossible date from another site is left out, not written */
	forge_init(&f);
	memset(bad, 'f', 32), bad[32] = '\0';
	forged(&f, bad, "encounter", CHS_OP_CREATE, now_ms(), NULL, "patient", quoted(pat),
	       "date", "\"2023-02-30\"", NULL);
	forge_ship(&f);

	b = export_fhir(NULL);
	ck_assert_str_eq(json_string_value(json_object_get(b, "resourceType")), "Bundle");
	ck_assert_str_eq(json_string_value(json_object_get(b, "type")), "collection");
	ck_assert_int_eq(json_array_size(json_object_get(b, "entry")), 12); /* not the audit */
	json_array_foreach(json_object_get(b, "entry"), i, e) {
		const char *rid = json_string_value(json_object_get(json_object_get(e, "resource"), "id"));

		snprintf(uuid, sizeof(uuid), "urn:uuid:%.8s-%.4s-%.4s-%.4s-%.12s", rid, rid + 8,
			 rid + 12, rid + 16, rid + 20);
		ck_assert_str_eq(json_string_value(json_object_get(e, "fullUrl")), uuid);
	}
	ck_assert_str_eq(json_string_value(json_object_get(resource_of(b, pat), "resourceType")), "Patient");
	r = resource_of(b, v);
	ck_assert_str_eq(json_string_value(json_object_get(r, "resourceType")), "Encounter");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "period"), "start")),
			 "2024-03-15T09:30:00Z");
	snprintf(uuid, sizeof(uuid), "urn:uuid:%.8s-%.4s-%.4s-%.4s-%.12s", pat, pat + 8, pat + 12,
		 pat + 16, pat + 20);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "subject"), "reference")), uuid);
	r = resource_of(b, cpt);
	ck_assert_str_eq(coding_of(r, "system"), "http://www.ama-assn.org/go/cpt");
	ck_assert_str_eq(coding_of(r, "code"), "99213");
	r = resource_of(b, hcpcs);
	ck_assert_str_eq(coding_of(r, "system"), "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets");
	ck_assert_str_eq(coding_of(r, "code"), "G0008");
	r = resource_of(b, icd);
	ck_assert_str_eq(json_string_value(json_object_get(r, "resourceType")), "Condition");
	ck_assert_str_eq(coding_of(r, "system"), "http://hl7.org/fhir/sid/icd-10-cm");
	ck_assert_str_eq(coding_of(r, "code"), "E11.9");
	ck_assert_str_eq(coding_of(resource_of(b, prob), "code"), "E11.9");
	ck_assert_str_eq(json_string_value(json_object_get(resource_of(b, med), "resourceType")),
			 "MedicationStatement");
	ck_assert_str_eq(json_string_value(json_object_get(resource_of(b, all), "resourceType")),
			 "AllergyIntolerance");
	ck_assert_str_eq(json_string_value(json_object_get(resource_of(b, note_id), "resourceType")),
			 "DocumentReference");
	ck_assert_str_eq(json_string_value(json_object_get(resource_of(b, att), "resourceType")),
			 "DocumentReference");
	r = resource_of(b, bad);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(json_object_get(r, "period"));
	json_decref(b);

	/* one patient's chart: theirs only */
	b = export_fhir(pat);
	ck_assert_int_eq(json_array_size(json_object_get(b, "entry")), 11);
	ck_assert_ptr_null(resource_of(b, other));
	json_decref(b);
	ck_assert_int_eq(chs_export_fhir(s, v, NULL, stdout), CHS_EINVALID);
	forge_dispose(&f);
	free(scan);
}
END_TEST

/* Asking for a removed patient's chart says so, instead of claiming the
 * id is not a patient's (a technician who copied it from the chart would
 * go looking for a typo). */
START_TEST(test_reports__fhir_of_a_removed_patient_says_removed)
{
	char id[33], other[33], enc[33];
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	patient("X-1", "1961-12-10", id);
	patient("X-2", "1961-12-10", other);
	ADD("encounter", other, NULL, enc, tu_edit("date", "2024-03-15"));
	ck_assert_msg(chs_record_rm(s, id) == 0, "%s", chs_error_last());
	f = open_memstream(&text, &len);
	ck_assert_int_eq(chs_export_fhir(s, id, NULL, f), CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), "was removed"), "%s", chs_error_last());
	ck_assert_int_eq(chs_export_fhir(s, enc, NULL, f), CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), "is not a patient"), "%s", chs_error_last());
	fclose(f);
	free(text);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("client-reports");
	TCase *tc = tcase_create("reports");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_reports__a_clean_chart_has_no_findings);
	tcase_add_test(tc, test_reports__visit_without_note);
	tcase_add_test(tc, test_reports__procedure_without_code_and_malformed_codes);
	tcase_add_test(tc, test_reports__code_without_procedure);
	tcase_add_test(tc, test_reports__medication_named_in_a_note_but_not_on_the_list);
	tcase_add_test(tc, test_reports__dates_out_of_order);
	tcase_add_test(tc, test_reports__the_typed_report_is_what_the_json_prints);
	tcase_add_test(tc, test_reports__review_overdue);
	tcase_add_test(tc, test_reports__unconfirmed_after_n_days);
	tcase_add_test(tc, test_reports__a_record_confirmed_at_two_heads_is_confirmed);
	tcase_add_test(tc, test_reports__a_merged_record_is_unconfirmed_like_any_other);
	tcase_add_test(tc, test_reports__billing_and_audit_records_are_not_charts);
	tcase_add_test(tc, test_reports__lookalike_chart_numbers_already_in_a_store);
	tcase_add_test(tc, test_reports__values_entry_refuses_that_arrived_by_sync_are_flagged);
	tcase_add_test(tc, test_reports__coding_queue_age_and_throughput);
	tcase_add_test(tc, test_reports__fhir_bundle_holds_every_record_type);
	tcase_add_test(tc, test_reports__fhir_of_a_removed_patient_says_removed);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
