/*
 * client/identity: finding patients that are likely one person
 * (chs_report_duplicates), and the archivist's "not the same person"
 * mark (chs_patient_distinct). The two-site cases run on an organisation
 * (the archive's store, clinics A and B) syncing through a real bare
 * repository; the others on one real store on disk.
 */
#define _GNU_SOURCE /* asprintf */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ARCHIVE, CLINIC_A, CLINIC_B, NSTORES };

static char *top, *archive, *dirs[NSTORES];
static chs_store *st[NSTORES];

static void org_setup(void)
{
	tu_org_setup(&top, &archive, tu_org_members, NSTORES, st, dirs);
}

static void org_teardown(void)
{
	tu_org_teardown(&top, &archive, st, dirs, NSTORES);
}

static chs_store *one;
static char *one_dir;

static void one_setup(void)
{
	one = tu_store_temp("ann", "records-1", &one_dir);
}

static void one_teardown(void)
{
	chs_store_free(one);
	tu_rmtree(one_dir);
	free(one_dir);
	one = NULL;
	one_dir = NULL;
}

/* Add a patient with fields "name=..", "dob=..", ... (NULL-terminated);
 * a chart number of its own (T-1, T-2, ...) unless one is given. */
static void patient(chs_store *s, char id[33], ...)
{
	static int serial;
	chs_edit e[9];
	char *copies[9];
	const char *arg;
	size_t n = 0, i;
	int mrn = 0;
	va_list ap;

	va_start(ap, id);
	while ((arg = va_arg(ap, const char *)) && n < 8) {
		copies[n] = strdup(arg);
		mrn |= strncmp(arg, "mrn=", 4) == 0;
		ck_assert_int_eq(chs_edit_parse(&e[n], copies[n]), 0);
		n++;
	}
	va_end(ap);
	if (!mrn) {
		ck_assert_int_gt(asprintf(&copies[n], "mrn=T-%d", ++serial), 0);
		ck_assert_int_eq(chs_edit_parse(&e[n], copies[n]), 0);
		n++;
	}
	ck_assert_msg(chs_record_add(s, "patient", e, n, NULL, NULL, id) == 0, "%s",
		      chs_error_last());
	for (i = 0; i < n; i++)
		free(copies[i]);
}

static chs_duplicates_report *report(chs_store *s)
{
	chs_duplicates_report *r = NULL;

	ck_assert_msg(chs_report_duplicates(&r, s, NULL) == 0, "%s", chs_error_last());
	return r;
}

/* The pair of `x` and `y` in `r`, NULL when it is not reported. */
static const chs_duplicate_pair *pair_of(const chs_duplicates_report *r, const char *x,
					 const char *y)
{
	size_t i;

	for (i = 0; i < chs_duplicates_report_count(r); i++) {
		const chs_duplicate_pair *p = chs_duplicates_report_get(r, i);

		if ((strcmp(p->a.id, x) == 0 && strcmp(p->b.id, y) == 0) ||
		    (strcmp(p->a.id, y) == 0 && strcmp(p->b.id, x) == 0))
			return p;
	}
	return NULL;
}

static int has_evidence(const chs_duplicate_pair *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->nevidence; i++)
		if (strcmp(p->evidence[i], name) == 0)
			return 1;
	return 0;
}

static void hex_id(unsigned char out[16], const char *hex)
{
	int i;

	for (i = 0; i < 16; i++)
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

/* Make patient `other` a tombstone pointing at `keep`, as a merge writes
 * it, through the writer (support/internal.h): what chs_patient_merge
 * leaves of the chart it merges away. */
static void merged_into(chs_store *s, const char *other, const char *keep)
{
	chs_change *ch = NULL;
	char value[40];
	chs_writer w;

	ck_assert_int_eq(chs_records__writer_begin(&w, s), 0);
	ck_assert_int_eq(chs_change_new(&ch), 0);
	hex_id(ch->record, other);
	ch->op = CHS_OP_UPDATE;
	ch->type = strdup("patient");
	snprintf(value, sizeof(value), "\"%s\"", keep);
	ck_assert_int_eq(chs_change_set(ch, CHS_FIELD_MERGED_INTO, value), 0);
	ck_assert_msg(chs_records__writer_put(&w, ch) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_records__writer_commit(&w) == 0, "%s", chs_error_last());
}

/* Clinic A registers John Smith, X-1, born 1970-01-01; clinic B, not yet
 * synced, registers Jon Smith, X-1, born the same day; all sync. Returns
 * the two ids. */
static void two_sites_x1(char john[33], char jon[33])
{
	patient(st[CLINIC_A], john, "name=John Smith", "mrn=X-1", "dob=1970-01-01", NULL);
	patient(st[CLINIC_B], jon, "name=Jon Smith", "mrn=X-1", "dob=1970-01-01", NULL);
	tu_sync_ok(st[CLINIC_A]);
	tu_sync_ok(st[CLINIC_B]);
	tu_sync_ok(st[ARCHIVE]);
	tu_sync_ok(st[CLINIC_A]);
}

/* The case: after sync every store holds two patients with one
 * chart number, and the report at the archive (and at each clinic) pairs
 * them, with the chart number first, then the names alike on the same
 * date of birth, and each side's site. */
START_TEST(test_duplicates__two_sites_one_chart_number_found)
{
	const chs_duplicate_pair *p;
	chs_duplicates_report *r;
	char john[33], jon[33];
	int i;

	two_sites_x1(john, jon);
	for (i = ARCHIVE; i <= CLINIC_A; i++) {
		r = report(st[i]);
		ck_assert_uint_eq(chs_duplicates_report_patients(r), 2);
		ck_assert_uint_eq(chs_duplicates_report_count(r), 1);
		p = pair_of(r, john, jon);
		ck_assert_ptr_nonnull(p);
		ck_assert_int_lt(strcmp(p->a.id, p->b.id), 0);
		ck_assert_uint_eq(p->nevidence, 2);
		ck_assert_str_eq(p->evidence[0], "chart_number");
		ck_assert_str_eq(p->evidence[1], "name_dob");
		ck_assert(p->score > 0.99 && p->score <= 1.0);
		ck_assert_str_eq(strcmp(p->a.id, john) == 0 ? p->a.site : p->b.site, "Clinic A");
		ck_assert_str_eq(strcmp(p->a.id, jon) == 0 ? p->a.site : p->b.site, "Clinic B");
		ck_assert_str_eq(strcmp(p->a.id, jon) == 0 ? p->a.name : p->b.name, "Jon Smith");
		ck_assert_str_eq(p->a.mrn, "X-1");
		ck_assert_str_eq(p->a.dob, "1970-01-01");
		ck_assert_msg(strstr(p->detail, "chart number") && strstr(p->detail, "alike"),
			      "%s", p->detail);
		chs_duplicates_report_free(r);
	}
}
END_TEST

/* A billing office's store holds none of a chart's clinical records, so
 * its admin (every store's first user is one) may neither merge, unmerge
 * nor mark: a merge made there would leave the notes on the tombstone. */
START_TEST(test_duplicates__a_billing_office_may_not_decide)
{
	chs_store *dee;
	char john[33], jon[33], *dir = NULL;

	two_sites_x1(john, jon);
	dee = tu_store_new(top, "dee", "billing-1", archive, &dir);
	tu_enroll(st[ARCHIVE], dee, "Billing office", "billing");
	tu_sync_ok(st[ARCHIVE]);
	tu_sync_ok(dee);
	ck_assert_int_eq(chs_store_user_is_admin(dee), 1);
	ck_assert_int_eq(chs_patient_merge(dee, john, jon, NULL, NULL), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "billing office"), "%s", chs_error_last());
	ck_assert_int_eq(chs_patient_distinct(dee, john, jon, NULL, 0), CHS_EDENIED);
	ck_assert_int_eq(chs_patient_unmerge(dee, john, jon, NULL), CHS_EDENIED);
	/* the clinic's admin may */
	ck_assert_msg(chs_patient_distinct(st[CLINIC_A], john, jon, NULL, 0) == 0, "%s",
		      chs_error_last());
	chs_store_free(dee);
	free(dir);
}
END_TEST

/* `report consistency` lists the same collision as a finding. */
START_TEST(test_duplicates__consistency_lists_the_two_site_collision)
{
	chs_consistency_report *r = NULL;
	const chs_finding *f = NULL;
	char john[33], jon[33];
	size_t i;

	two_sites_x1(john, jon);
	ck_assert_msg(chs_report_consistency(&r, st[ARCHIVE], NULL) == 0, "%s", chs_error_last());
	for (i = 0; i < chs_consistency_report_count(r); i++)
		if (strcmp(chs_consistency_report_get(r, i)->kind, "duplicate_chart_number") == 0)
			f = chs_consistency_report_get(r, i);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->nrecords, 2);
	ck_assert(strcmp(f->records[0], john) == 0 || strcmp(f->records[1], john) == 0);
	ck_assert(strcmp(f->records[0], jon) == 0 || strcmp(f->records[1], jon) == 0);
	chs_consistency_report_free(r);
}
END_TEST

/* Once the pair is merged, the chart merged away (its tombstone keeps
 * its chart number) is neither a pair nor a chart number collision. */
START_TEST(test_duplicates__merged_pair_no_longer_reported)
{
	chs_consistency_report *c = NULL;
	chs_duplicates_report *r;
	char john[33], jon[33];
	size_t i;

	two_sites_x1(john, jon);
	merged_into(st[ARCHIVE], jon, john);
	r = report(st[ARCHIVE]);
	ck_assert_uint_eq(chs_duplicates_report_patients(r), 1);
	ck_assert_uint_eq(chs_duplicates_report_count(r), 0);
	chs_duplicates_report_free(r);
	ck_assert_msg(chs_report_consistency(&c, st[ARCHIVE], NULL) == 0, "%s", chs_error_last());
	for (i = 0; i < chs_consistency_report_count(c); i++)
		ck_assert_str_ne(chs_consistency_report_get(c, i)->kind, "duplicate_chart_number");
	chs_consistency_report_free(c);
}
END_TEST

/* The archivist marks the pair "not the same person": the report drops
 * it, at the archive and, once synced, at the clinic; taking the mark
 * back brings it again. */
START_TEST(test_duplicates__not_the_same_person_silences_the_pair_everywhere)
{
	chs_duplicates_report *r;
	char john[33], jon[33];

	two_sites_x1(john, jon);
	ck_assert_msg(chs_patient_distinct(st[ARCHIVE], john, jon, "twins? no: checked ids",
					   0) == 0, "%s", chs_error_last());
	r = report(st[ARCHIVE]);
	ck_assert_uint_eq(chs_duplicates_report_count(r), 0);
	ck_assert_uint_eq(chs_duplicates_report_patients(r), 2);
	chs_duplicates_report_free(r);
	tu_sync_ok(st[ARCHIVE]);
	tu_sync_ok(st[CLINIC_B]);
	r = report(st[CLINIC_B]);
	ck_assert_uint_eq(chs_duplicates_report_count(r), 0);
	chs_duplicates_report_free(r);

	/* marked again, the other way round: nothing new to sign */
	ck_assert_int_eq(chs_patient_distinct(st[ARCHIVE], jon, john, NULL, 0), 0);
	ck_assert_msg(chs_patient_distinct(st[ARCHIVE], jon, john, NULL, 1) == 0, "%s",
		      chs_error_last());
	r = report(st[ARCHIVE]);
	ck_assert_ptr_nonnull(pair_of(r, john, jon));
	chs_duplicates_report_free(r);
	tu_sync_ok(st[ARCHIVE]);
	tu_sync_ok(st[CLINIC_B]);
	r = report(st[CLINIC_B]);
	ck_assert_ptr_nonnull(pair_of(r, john, jon));
	chs_duplicates_report_free(r);
}
END_TEST

/* Only an archivist, or an admin of the store, marks pairs; a pair needs
 * two patients. Refused input leaves no verdict. */
START_TEST(test_duplicates__distinct_refuses_what_is_not_a_pair_of_patients)
{
	char a[33], b[33], visit[33];
	chs_duplicates_report *r;
	chs_edit e = tu_edit("date", "2024-03-15");

	patient(one, a, "name=Ann Lee", "dob=1980-02-02", NULL);
	patient(one, b, "name=Anne Lee", "dob=1980-02-02", NULL);
	ck_assert_int_eq(chs_record_add(one, "encounter", &e, 1, a, NULL, visit), 0);
	ck_assert_int_eq(chs_patient_distinct(one, a, a, NULL, 0), CHS_EINVALID);
	ck_assert_int_eq(chs_patient_distinct(one, a, visit, NULL, 0), CHS_EINVALID);
	ck_assert_int_eq(chs_patient_distinct(one, a, "ffffffffffffffff", NULL, 0),
			 CHS_ENOTFOUND);
	ck_assert_int_eq(chs_patient_distinct(one, a, b, "line\x1b[2J", 0), CHS_EINVALID);
	r = report(one);
	ck_assert_ptr_nonnull(pair_of(r, a, b));
	chs_duplicates_report_free(r);
}
END_TEST

/* A person who is neither an archivist nor an admin of the store reads
 * the report but may not mark pairs; a service user (the clinic's
 * daemon) may do neither. */
START_TEST(test_duplicates__who_may_read_and_who_may_mark)
{
	chs_store *clerk = NULL, *svc = NULL;
	chs_duplicates_report *r = NULL;
	char a[33], b[33];

	patient(one, a, "name=Ann Lee", "dob=1980-02-02", NULL);
	patient(one, b, "name=Anne Lee", "dob=1980-02-02", NULL);
	ck_assert_int_eq(chs_store_user_add(one, "clerk", 0, "clerk pw", 8), 0);
	ck_assert_int_eq(chs_store_user_add_service(one, "svc", "svc pw", 6), 0);
	ck_assert_int_eq(chs_store_open(&clerk, one_dir, "clerk", "clerk pw", 8), 0);
	ck_assert_int_eq(chs_store_open(&svc, one_dir, "svc", "svc pw", 6), 0);

	r = report(clerk);
	ck_assert_ptr_nonnull(pair_of(r, a, b));
	chs_duplicates_report_free(r);
	r = NULL;
	ck_assert_int_eq(chs_patient_distinct(clerk, a, b, NULL, 0), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "archivist"), "%s", chs_error_last());
	ck_assert_int_eq(chs_report_duplicates(&r, svc, NULL), CHS_EDENIED);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(chs_patient_distinct(svc, a, b, NULL, 0), CHS_EDENIED);
	chs_store_free(clerk);
	chs_store_free(svc);
	/* the admin may, and the pair is gone */
	ck_assert_msg(chs_patient_distinct(one, a, b, NULL, 0) == 0, "%s", chs_error_last());
	r = report(one);
	ck_assert_uint_eq(chs_duplicates_report_count(r), 0);
	chs_duplicates_report_free(r);
}
END_TEST

/* The pair's verdict record written as a merge writes it: its id derived
 * from the two ids as client/identity/link.c derives it, verdict
 * "merged", KEEP `keep`. */
static void merged_verdict(chs_store *s, const char *keep, const char *other)
{
	static const char tag[] = "chartsync-patient-link-v1";
	unsigned char buf[sizeof(tag) + 32], h[CHS_HASH_BYTES], k[16], o[16];
	int swap;
	char pair[80];
	chs_change *ch = NULL;
	chs_writer w;

	hex_id(k, keep);
	hex_id(o, other);
	swap = memcmp(k, o, 16) > 0;
	memcpy(buf, tag, sizeof(tag));
	memcpy(buf + sizeof(tag), swap ? o : k, 16);
	memcpy(buf + sizeof(tag) + 16, swap ? k : o, 16);
	chs_hash(h, buf, sizeof(buf));
	snprintf(pair, sizeof(pair), "[\"%s\",\"%s\"]", swap ? other : keep, swap ? keep : other);
	ck_assert_int_eq(chs_records__writer_begin(&w, s), 0);
	ck_assert_int_eq(chs_change_new(&ch), 0);
	memcpy(ch->record, h, 16);
	ch->op = CHS_OP_CREATE;
	ch->type = strdup("patient_link");
	ck_assert_int_eq(chs_change_set(ch, "patients", pair), 0);
	ck_assert_int_eq(chs_change_set_string(ch, "verdict", "merged"), 0);
	ck_assert_int_eq(chs_change_set_string(ch, "keep", keep), 0);
	ck_assert_int_eq(chs_change_set_string(ch, "other", other), 0);
	ck_assert_msg(chs_records__writer_put(&w, ch) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_records__writer_commit(&w) == 0, "%s", chs_error_last());
	merged_into(s, other, keep);
}

/* A merged pair is not marked "not the same person": unmerge it first. A
 * patient merged into a third is marked there. */
START_TEST(test_duplicates__distinct_refuses_a_merged_pair)
{
	char a[33], b[33], c[33];

	patient(one, a, "name=Kim Roe", "dob=1966-06-06", NULL);
	patient(one, b, "name=Kim Rowe", "dob=1966-06-06", NULL);
	patient(one, c, "name=Kim Ro", "dob=1966-06-06", NULL);
	merged_verdict(one, a, b);
	ck_assert_int_eq(chs_patient_distinct(one, b, a, NULL, 0), CHS_EEXISTS);
	ck_assert_msg(strstr(chs_error_last(), "unmerge"), "%s", chs_error_last());
	ck_assert_int_eq(chs_patient_distinct(one, a, b, NULL, 1), CHS_EEXISTS);
	ck_assert_int_eq(chs_patient_distinct(one, b, c, NULL, 0), CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), a), "%s", chs_error_last());
	ck_assert_msg(chs_patient_distinct(one, a, c, NULL, 0) == 0, "%s", chs_error_last());
}
END_TEST

/* First and last names swapped, on the same date of birth. */
START_TEST(test_duplicates__swapped_names_found)
{
	const chs_duplicate_pair *p;
	chs_duplicates_report *r;
	char a[33], b[33];

	patient(one, a, "name=Smith John", "dob=1955-05-05", NULL);
	patient(one, b, "name=John Smith", "dob=1955-05-05", NULL);
	r = report(one);
	ck_assert_ptr_nonnull(p = pair_of(r, a, b));
	ck_assert_uint_eq(p->nevidence, 1);
	ck_assert_str_eq(p->evidence[0], "swapped_name");
	ck_assert(!has_evidence(p, "name_dob"));
	ck_assert(p->score >= CHS_DUP_SCORE_MIN);
	chs_duplicates_report_free(r);
}
END_TEST

/* Accents, case and spacing aside, one name. */
START_TEST(test_duplicates__accents_case_and_spacing_found)
{
	const chs_duplicate_pair *p;
	chs_duplicates_report *r;
	char a[33], b[33], c[33];

	patient(one, a, "name=Jos\xc3\xa9  GARC\xc3\x8d" "A", "dob=1990-09-09", NULL);
	patient(one, b, "name=jose garcia", "dob=1990-09-09", NULL);
	patient(one, c, "name=Maria Lopez", "dob=1990-09-09", NULL); /* same day, another */
	r = report(one);
	ck_assert_uint_eq(chs_duplicates_report_count(r), 1);
	ck_assert_ptr_nonnull(p = pair_of(r, a, b));
	ck_assert_str_eq(p->evidence[0], "name_dob");
	ck_assert(p->score >= 0.59);
	ck_assert_msg(strstr(p->detail, "(1.00)"), "%s", p->detail);
	chs_duplicates_report_free(r);
}
END_TEST

/* The same phone (its digits), or the same member id, with nothing to
 * tell the two apart; but a household's phone, or a subscriber's member
 * id on a dependant born another day, is not a pair. */
START_TEST(test_duplicates__same_phone_or_member_id_found)
{
	const chs_duplicate_pair *p;
	chs_duplicates_report *r;
	char a[33], b[33], c[33], d[33], e[33], f[33], g[33];

	patient(one, a, "name=Robert Brown", "phone=+1 (555) 123-4567", NULL);
	patient(one, b, "name=Bob Brown", "phone=555.123.4567", "dob=1960-01-01", NULL);
	patient(one, c, "name=Alice Green", "member_id=W123 456", NULL);
	patient(one, d, "name=A. Green", "member_id=w123456", NULL);
	/* a household: one phone, one member id, three people */
	patient(one, e, "name=Carl White", "phone=555-999-0000", "member_id=H9",
		"dob=1950-01-01", NULL);
	patient(one, f, "name=Dora White", "phone=555-999-0000", "member_id=H9",
		"dob=1952-02-02", NULL);
	/* too few digits to be a phone number */
	patient(one, g, "name=Ed Black", "phone=911", NULL);
	r = report(one);
	ck_assert_ptr_nonnull(p = pair_of(r, a, b));
	ck_assert_uint_eq(p->nevidence, 1);
	ck_assert_str_eq(p->evidence[0], "phone");
	ck_assert_ptr_nonnull(p = pair_of(r, c, d));
	ck_assert_str_eq(p->evidence[0], "member_id");
	ck_assert_ptr_null(pair_of(r, e, f));
	ck_assert_uint_eq(chs_duplicates_report_count(r), 2);
	/* pairs highest score first */
	ck_assert(chs_duplicates_report_get(r, 0)->score >=
		  chs_duplicates_report_get(r, 1)->score);
	chs_duplicates_report_free(r);
}
END_TEST

/* The scale check: 10,000 patients with distinct names, dates of
 * birth and phones give no pair. */
START_TEST(test_duplicates__no_false_pair_among_ten_thousand)
{
	char *path = tu_path(one_dir, "many.jsonl");
	chs_duplicates_report *r;
	int64_t count = 0;
	chs_buf b;
	int i;

	chs_buf_init(&b, 0);
	for (i = 0; i < 10000; i++) {
		/* dates from 1930-01-01 on, one a day (28 days a month) */
		ck_assert_int_eq(chs_buf_printf(&b, "{\"type\":\"patient\",\"fields\":"
						"{\"name\":\"Person %c%c%c Number%d\","
						"\"dob\":\"%04d-%02d-%02d\",\"mrn\":\"M-%d\","
						"\"phone\":\"555-%07d\",\"member_id\":\"MB%d\"}}\n",
						'A' + i % 26, 'a' + i / 26 % 26,
						'a' + i / 676 % 26, i,
						1930 + i / 336, 1 + i / 28 % 12, 1 + i % 28, i,
						i, i), 0);
	}
	ck_assert_int_eq(tu_write(path, b.ptr, b.len), 0);
	ck_assert_msg(chs_record_import(one, path, &count) == 0, "%s", chs_error_last());
	ck_assert_int_eq(count, 10000);
	r = report(one);
	ck_assert_uint_eq(chs_duplicates_report_patients(r), 10000);
	ck_assert_uint_eq(chs_duplicates_report_count(r), 0);
	chs_duplicates_report_free(r);
	chs_buf_dispose(&b);
	free(path);
}
END_TEST

/* A patient merged away (a tombstone whose merged_into names the chart
 * kept) and a removed one are not live: never paired. */
START_TEST(test_duplicates__merged_and_removed_patients_not_reported)
{
	char a[33], b[33], c[33];
	chs_duplicates_report *r;

	patient(one, a, "name=Lee Park", "dob=1977-07-07", NULL);
	patient(one, b, "name=Lee Park", "dob=1977-07-07", NULL);
	patient(one, c, "name=Lee  Park", "dob=1977-07-07", NULL);
	r = report(one);
	ck_assert_uint_eq(chs_duplicates_report_count(r), 3);
	chs_duplicates_report_free(r);

	merged_into(one, b, a);
	ck_assert_int_eq(chs_record_rm(one, c), 0);

	r = report(one);
	ck_assert_uint_eq(chs_duplicates_report_patients(r), 1);
	ck_assert_uint_eq(chs_duplicates_report_count(r), 0);
	chs_duplicates_report_free(r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("client_identity_duplicates");
	TCase *tc = tcase_create("org");

	tcase_add_checked_fixture(tc, org_setup, org_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_duplicates__two_sites_one_chart_number_found);
	tcase_add_test(tc, test_duplicates__consistency_lists_the_two_site_collision);
	tcase_add_test(tc, test_duplicates__a_billing_office_may_not_decide);
	tcase_add_test(tc, test_duplicates__not_the_same_person_silences_the_pair_everywhere);
	tcase_add_test(tc, test_duplicates__merged_pair_no_longer_reported);
	suite_add_tcase(s, tc);
	tc = tcase_create("one");
	tcase_add_checked_fixture(tc, one_setup, one_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_duplicates__distinct_refuses_what_is_not_a_pair_of_patients);
	tcase_add_test(tc, test_duplicates__who_may_read_and_who_may_mark);
	tcase_add_test(tc, test_duplicates__distinct_refuses_a_merged_pair);
	tcase_add_test(tc, test_duplicates__swapped_names_found);
	tcase_add_test(tc, test_duplicates__accents_case_and_spacing_found);
	tcase_add_test(tc, test_duplicates__same_phone_or_member_id_found);
	tcase_add_test(tc, test_duplicates__no_false_pair_among_ten_thousand);
	tcase_add_test(tc, test_duplicates__merged_and_removed_patients_not_reported);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
