/*
 * client/: entry confirmation, the coding queue, fee schedules, code
 * lists and claims.
 *
 * Two stores: site 0 is a clinic where maria and tom both work (two
 * users, two handles on one store), site 1 another clinic (kim), with
 * batches carried between them as sync carries them.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "sync/sync.h"
#include "support/scale.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dirs[2];
static chs_store *maria, *tom, *kim;
static char *tmp;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	maria = tu_store_temp("maria", "front-desk", &dirs[0]);
	ck_assert_int_eq(chs_store_user_add(maria, "tom", 0, "tom pw", 6), 0);
	ck_assert_msg(chs_store_open(&tom, dirs[0], "tom", "tom pw", 6) == 0, "%s",
		      chs_error_last());
	kim = tu_store_temp("kim", "clinic-b", &dirs[1]);
	tmp = tu_tempdir();
}

static void teardown(void)
{
	int i;

	chs_store_free(maria);
	chs_store_free(tom);
	chs_store_free(kim);
	for (i = 0; i < 2; i++) {
		tu_rmtree(dirs[i]);
		free(dirs[i]);
	}
	tu_rmtree(tmp);
	free(tmp);
}

/* Carry every unsent batch of `from` to `to`. */
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

static void add(chs_store *s, const char *type, chs_edit *e, size_t n,
		const char *patient, const char *encounter, char id[33])
{
	ck_assert_msg(chs_record_add(s, type, e, n, patient, encounter, id) == 0, "%s",
		      chs_error_last());
}

static void add_patient(chs_store *s, const char *name, const char *mrn, char id[33])
{
	chs_edit e[] = { tu_edit("name", name), tu_edit("mrn", mrn), tu_edit("dob", "1961-12-10") };

	add(s, "patient", e, 3, NULL, NULL, id);
}

static void add_visit(chs_store *s, const char *patient, const char *date, char id[33])
{
	chs_edit e[] = { tu_edit("date", date), tu_edit("reason", "cough") };

	add(s, "encounter", e, 2, patient, NULL, id);
}

static json_t *unconfirmed(chs_store *s, const char *patient)
{
	char *text = NULL;

	ck_assert_msg(tu_unconfirmed_json(s, patient, &text) == 0, "%s",
		      chs_error_last());
	return tu_json(text);
}

static int listed(json_t *arr, const char *id)
{
	json_t *v;
	size_t k;

	json_array_foreach(arr, k, v)
		if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
			return 1;
	return 0;
}

static void state_hash(chs_store *s, char out[65])
{
	int64_t n;

	ck_assert_int_eq(chs_store_verify(s, 0, out, &n), 0);
}

static int confirm(chs_store *s, const char *a, const char *b, size_t *added)
{
	const char *ids[2] = { a, b };

	return chs_record_confirm(s, ids, b ? 2 : 1, "matches the paper chart", added);
}

/* ---- entry confirmation ---- */

START_TEST(test_coding__confirmation_by_the_same_user_is_refused_by_another_accepted)
{
	char pat[33], visit[33], before[65], after[65];
	const char *by;
	json_t *r;
	size_t added = 9;

	add_patient(maria, "Ada Byron", "A-1", pat);
	add_visit(maria, pat, "2024-03-15", visit);
	state_hash(maria, before);
	ck_assert_int_eq(confirm(maria, pat, NULL, &added), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "a colleague must confirm it"));
	state_hash(maria, after);
	ck_assert_str_eq(before, after);

	ck_assert_msg(confirm(tom, pat, visit, &added) == 0, "%s", chs_error_last());
	ck_assert_uint_eq(added, 2);
	r = tu_show(maria, visit);
	by = json_string_value(json_object_get(json_object_get(r, "confirmed"), "by"));
	ck_assert_str_eq(by, "tom");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "confirmed"),
							   "note")), "matches the paper chart");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "confirmed"),
							   "terminal")), "front-desk");
	json_decref(r);
	/* confirming again adds nothing */
	ck_assert_int_eq(confirm(tom, pat, NULL, &added), 0);
	ck_assert_uint_eq(added, 0);
	/* a confirmation is never edited, nor made by hand */
	ck_assert_int_eq(chs_record_add(maria, "confirmation", NULL, 0, pat, NULL, visit),
			 CHS_EINVALID);
}
END_TEST

START_TEST(test_coding__confirm_is_all_or_nothing)
{
	char a[33], b[33], before[65], after[65];
	chs_edit phone[] = { tu_edit("phone", "555-0100") };
	chs_confirmation *c = NULL;

	add_patient(maria, "Ada Byron", "A-1", a);
	add_patient(maria, "Bob Byron", "A-2", b);
	ck_assert_int_eq(chs_record_set(tom, b, phone, 1), 0); /* tom's own now */
	state_hash(tom, before);
	ck_assert_int_eq(confirm(tom, a, b, NULL), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), b));
	state_hash(tom, after);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(chs_record_confirmation(&c, tom, a), 0);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(confirm(tom, a, "ffffffff", NULL), CHS_ENOTFOUND);
}
END_TEST

START_TEST(test_coding__a_later_edit_unconfirms)
{
	chs_edit phone[] = { tu_edit("phone", "555-0100") };
	chs_confirmation *c = NULL;
	char pat[33];
	json_t *r, *l;

	add_patient(maria, "Ada Byron", "A-1", pat);
	ck_assert_int_eq(confirm(tom, pat, NULL, NULL), 0);
	l = unconfirmed(maria, NULL);
	ck_assert(!listed(l, pat));
	json_decref(l);

	ck_assert_int_eq(chs_record_set(maria, pat, phone, 1), 0);
	r = tu_show(maria, pat);
	ck_assert(json_is_null(json_object_get(r, "confirmed")));
	json_decref(r);
	l = unconfirmed(maria, NULL);
	ck_assert(listed(l, pat));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(l, 0), "by")), "maria");
	json_decref(l);
	/* maria's edit: tom confirms it again, not maria */
	ck_assert_int_eq(confirm(maria, pat, NULL, NULL), CHS_EDENIED);
	ck_assert_int_eq(confirm(tom, pat, NULL, NULL), 0);
	ck_assert_int_eq(chs_record_confirmation(&c, maria, pat), 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->by, "tom");
	chs_confirmation_free(c);
}
END_TEST

START_TEST(test_coding__ls_unconfirmed_lists_what_waits)
{
	char a[33], b[33], va[33], vb[33];
	json_t *l;

	add_patient(maria, "Ada Byron", "A-1", a);
	add_patient(maria, "Bob Byron", "A-2", b);
	add_visit(maria, a, "2024-03-15", va);
	add_visit(maria, b, "2024-03-16", vb);
	ck_assert_int_eq(confirm(tom, a, NULL, NULL), 0);
	l = unconfirmed(maria, NULL);
	ck_assert_uint_eq(json_array_size(l), 3); /* b, va, vb; never the confirmation */
	ck_assert(!listed(l, a) && listed(l, b) && listed(l, va) && listed(l, vb));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(l, 0), "id")), b);
	json_decref(l);
	l = unconfirmed(maria, a);
	ck_assert_uint_eq(json_array_size(l), 1);
	ck_assert(listed(l, va));
	json_decref(l);
}
END_TEST

START_TEST(test_coding__a_record_under_review_cannot_be_confirmed_and_confirmations_sync)
{
	chs_edit p1[] = { tu_edit("phone", "555-0100") }, p2[] = { tu_edit("phone", "555-0199") };
	char pat[33], other[33];
	json_t *r;

	add_patient(maria, "Ada Byron", "A-1", pat);
	add_patient(maria, "Bob Byron", "A-2", other);
	ship(maria, kim);
	/* kim, at another clinic, confirms maria's entry; it reaches maria */
	ck_assert_int_eq(confirm(kim, other, NULL, NULL), 0);
	ship(kim, maria);
	r = tu_show(maria, other);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "confirmed"),
							   "by")), "kim");
	json_decref(r);
	/* the same field edited two ways at once */
	ck_assert_int_eq(chs_record_set(maria, pat, p1, 1), 0);
	ck_assert_int_eq(chs_record_set(kim, pat, p2, 1), 0);
	ship(maria, kim);
	ship(kim, maria);
	ck_assert_int_eq(confirm(tom, pat, NULL, NULL), CHS_EREVIEW);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "under review"));
}
END_TEST

/* ---- fee schedule ---- */

static char *write_file(const char *name, const char *text)
{
	char *p = tu_path(tmp, name);

	ck_assert_int_eq(tu_write(p, text, strlen(text)), 0);
	return p;
}

static size_t fee_lines(chs_store *s)
{
	char *text = NULL;
	json_t *l;
	size_t n;

	ck_assert_int_eq(tu_list_json(s, "fee", NULL, &text), 0);
	l = tu_json(text);
	n = json_array_size(l);
	json_decref(l);
	return n;
}

static void assert_fee_file_refused(const char *text, const char *needle)
{
	char *path = write_file("bad.csv", text);
	chs_fees_result res;
	int rc = chs_fees_import(maria, path, NULL, &res);

	ck_assert_msg(rc == CHS_EINVALID, "rc %d for %s", rc, needle);
	ck_assert_msg(strstr(chs_error_last(), needle), "'%s' lacks '%s'", chs_error_last(),
		      needle);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "nothing was imported"));
	ck_assert_uint_eq(fee_lines(maria), 0);
	free(path);
}

#define HEADER "code,description,fee,effective\n"
#define GOOD "99213,Office visit,125.00,2024-01-01\n"

START_TEST(test_coding__a_malformed_fee_line_is_named_and_nothing_imported)
{
	assert_fee_file_refused(HEADER GOOD "99214,Visit,$150.00,2024-01-01\n",
				"line 3: fee '$150.00' is not dollars and cents");
	assert_fee_file_refused(HEADER GOOD "99214,Visit,150.001,2024-01-01\n", "line 3: fee");
	assert_fee_file_refused(HEADER GOOD GOOD, "line 3: code 99213 effective 2024-01-01 is on line 2");
	assert_fee_file_refused(HEADER GOOD "99214,Visit,150.00,2024-02-30\n",
				"line 3: effective date '2024-02-30' is not a date");
	assert_fee_file_refused(HEADER GOOD "9921,Visit,150.00,2024-01-01\n",
				"line 3: code '9921' is not a CPT or HCPCS code");
	assert_fee_file_refused(HEADER GOOD "99214,Visit,150.00\n",
				"line 3 has 3 columns, expected 4");
	assert_fee_file_refused(HEADER GOOD "99214,Visit, with comma,150.00,2024-01-01\n",
				"line 3 has 5 columns");
	assert_fee_file_refused(HEADER GOOD "99214,\"Visit, never closed,150.00,2024-01-01\n"
				"99215,x,1.00,2024-01-01\n",
				"line 3: a quoted field opened on line 3 is never closed");
	assert_fee_file_refused(HEADER GOOD "99214,Vi\"sit,150.00,2024-01-01\n",
				"line 3: a quote inside unquoted field 2");
	assert_fee_file_refused(GOOD, "line 1: the first line must be the header");
	assert_fee_file_refused("", "the file is empty");
	/* a field over its ceiling is the file's fault, not "out of memory" */
	{
		size_t n = ((size_t)1 << 20) + 2, at = sizeof(HEADER "99213,") - 1;
		char *big = malloc(at + n + 32);

		ck_assert_ptr_nonnull(big);
		memcpy(big, HEADER "99213,", at);
		memset(big + at, 'x', n);
		strcpy(big + at + n, ",1.00,2024-01-01\n");
		assert_fee_file_refused(big, "line 2: field 2 is longer than 1 MiB");
		big[at] = '"';
		strcpy(big + at + n, "\",1.00,2024-01-01\n");
		assert_fee_file_refused(big, "line 2: field 2 is longer than 1 MiB");
		free(big);
	}
}
END_TEST

START_TEST(test_coding__a_good_fee_file_is_imported_and_reimported)
{
	char *path = write_file("fees.csv",
		"Code,Description,Fee,Effective date\r\n"
		"99213,\"Office visit, established \"\"low\"\"\",125.00,2024-01-01\r\n"
		"\r\n"
		"99213,\"Office visit,\r\nestablished\",100,2023-01-01\r\n"
		"g0008,Flu shot administration,30.5,2020-01-01\r\n");
	chs_fees_result res;
	char *text = NULL;
	json_t *l, *f;
	size_t k;
	int seen = 0;

	ck_assert_msg(chs_fees_import(maria, path, NULL, &res) == 0, "%s", chs_error_last());
	ck_assert_int_eq(res.lines, 3);
	ck_assert_int_eq(res.added, 3);
	ck_assert_int_eq(tu_list_json(maria, "fee", NULL, &text), 0);
	l = tu_json(text);
	json_array_foreach(l, k, f) {
		json_t *fields = json_object_get(f, "fields");
		const char *code = json_string_value(json_object_get(fields, "code"));
		const char *eff = json_string_value(json_object_get(fields, "effective"));

		if (strcmp(code, "99213") == 0 && strcmp(eff, "2024-01-01") == 0) {
			ck_assert_int_eq(json_integer_value(json_object_get(fields, "fee")), 12500);
			ck_assert_str_eq(json_string_value(json_object_get(fields, "description")),
					 "Office visit, established \"low\"");
			seen++;
		} else if (strcmp(code, "G0008") == 0) {
			ck_assert_int_eq(json_integer_value(json_object_get(fields, "fee")), 3050);
			seen++;
		} else {
			ck_assert_int_eq(json_integer_value(json_object_get(fields, "fee")), 10000);
			seen++;
		}
	}
	ck_assert_int_eq(seen, 3);
	json_decref(l);
	free(path);
	/* again, with one fee changed: one update, nothing new */
	path = write_file("fees2.csv", HEADER "99213,\"Office visit, established \"\"low\"\"\",130.00,2024-01-01\n");
	ck_assert_int_eq(chs_fees_import(maria, path, NULL, &res), 0);
	ck_assert_int_eq(res.added, 0);
	ck_assert_int_eq(res.updated, 1);
	ck_assert_uint_eq(fee_lines(maria), 3);
	/* the schedule syncs, as signed records */
	ship(maria, kim);
	ck_assert_uint_eq(fee_lines(kim), 3);
	free(path);
}
END_TEST

/* The fee of `site`'s only line in the schedule (-1: no line for it). */
static json_int_t site_fee(chs_store *s, const char *site)
{
	char *text = NULL;
	json_t *l, *f;
	json_int_t fee = -1;
	size_t k;

	ck_assert_int_eq(tu_list_json(s, "fee", NULL, &text), 0);
	l = tu_json(text);
	json_array_foreach(l, k, f) {
		json_t *fields = json_object_get(f, "fields");
		const char *at = json_string_value(json_object_get(fields, "site"));

		if (at && strcmp(at, site) == 0) {
			ck_assert_int_eq(fee, -1);
			fee = json_integer_value(json_object_get(fields, "fee"));
		}
	}
	json_decref(l);
	return fee;
}

/* Two sites whose names agree for their first 300 bytes keep a line each:
 * the schedule once keyed its lines by the site name cut short, so the
 * second site's line updated the first site's. */
START_TEST(test_coding__sites_sharing_a_long_prefix_keep_their_own_fee_lines)
{
	char north[320], south[320];
	char *path = write_file("fees.csv", HEADER GOOD);
	char *path2 = write_file("fees2.csv", HEADER "99213,Office visit,150.00,2024-01-01\n");
	chs_fees_result res;

	memset(north, 'x', 300);
	memcpy(south, north, 300);
	snprintf(north + 300, sizeof(north) - 300, " north");
	snprintf(south + 300, sizeof(south) - 300, " south");
	ck_assert_msg(chs_fees_import(maria, path, north, &res) == 0, "%s", chs_error_last());
	ck_assert_int_eq(res.added, 1);
	ck_assert_msg(chs_fees_import(maria, path2, south, &res) == 0, "%s", chs_error_last());
	ck_assert_int_eq(res.added, 1);
	ck_assert_int_eq(res.updated, 0);
	ck_assert_uint_eq(fee_lines(maria), 2);
	ck_assert_int_eq(site_fee(maria, north), 12500);
	ck_assert_int_eq(site_fee(maria, south), 15000);
	free(path);
	free(path2);
}
END_TEST

/* ---- the coding queue ---- */

static void import_fees(chs_store *s)
{
	char *path = write_file("schedule.csv", HEADER
		"99213,Office visit,100.00,2023-01-01\n"
		"99213,Office visit,125.00,2024-01-01\n"
		"99213,Office visit,150.00,2025-01-01\n"
		"J1100,Dexamethasone 1 mg,2.50,2020-01-01\n");
	chs_fees_result res;

	ck_assert_msg(chs_fees_import(s, path, NULL, &res) == 0, "%s", chs_error_last());
	free(path);
}

static json_t *queue(chs_store *s)
{
	char *text = NULL;

	ck_assert_msg(tu_coding_queue_json(s, &text) == 0, "%s", chs_error_last());
	return tu_json(text);
}

static json_t *assign(chs_store *s, const char *visit, const char *cpt, const char *mod,
		      const char *icd1, const char *icd2)
{
	const char *icd[2] = { icd1, icd2 }, *mods[1] = { mod };
	chs_coding_assign_opts o = { cpt, mods, mod ? 1 : 0, icd, icd2 ? 2 : icd1 ? 1 : 0 };
	char *text = NULL;

	ck_assert_msg(tu_coding_assign_json(s, visit, &o, &text) == 0, "%s", chs_error_last());
	return tu_json(text);
}

/* Coding a procedure looks its fee up in the schedule; in a store with
 * 4,000 other charts that reads the schedule's lines, not every record
 * (a scan costs over 10,000 SQLite steps; the whole assign far fewer). */
START_TEST(test_coding__the_fee_lookup_does_not_read_the_store)
{
	char pat[33], visit[33];
	json_t *a;
	long steps = 0;

	import_fees(maria);
	add_patient(maria, "Ada Byron", "A-1", pat);
	add_visit(maria, pat, "2024-03-15", visit);
	ck_assert_int_eq(chs_coding_send(maria, visit), 0);
	tu_import_others(maria, tmp, 4000);

	tu_steps_begin(maria, &steps);
	a = assign(maria, visit, "99213", NULL, "R05.9", NULL);
	tu_steps_end(maria);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "fee")), 12500);
	ck_assert_msg(steps < 5, "coding one visit took %ld thousand steps", steps);
	json_decref(a);
}
END_TEST

/* Visits sent one after another, faster than the clock ticks, queue in
 * the order they were sent, not in the order they were made. */
START_TEST(test_coding__the_queue_keeps_the_order_of_sending)
{
	char pat[33], v[12][33];
	json_t *q;
	int i;

	add_patient(maria, "Ada Byron", "A-1", pat);
	for (i = 0; i < 12; i++)
		add_visit(maria, pat, "2024-03-15", v[i]);
	for (i = 11; i >= 0; i--)
		ck_assert_int_eq(chs_coding_send(maria, v[i]), 0);
	q = queue(maria);
	ck_assert_uint_eq(json_array_size(q), 12);
	for (i = 0; i < 12; i++)
		ck_assert_str_eq(json_string_value(json_object_get(json_array_get(q, (size_t)i),
								   "encounter")), v[11 - i]);
	json_decref(q);
}
END_TEST

START_TEST(test_coding__send_queue_assign_done)
{
	char pat[33], v2023[33], v2024[33];
	json_t *q, *a, *r;

	import_fees(maria);
	add_patient(maria, "Ada Byron", "A-1", pat);
	add_visit(maria, pat, "2023-06-01", v2023);
	add_visit(maria, pat, "2024-03-15T09:30Z", v2024);
	/* not queued yet: nothing to assign */
	ck_assert_int_eq(chs_coding_done(maria, v2024), CHS_EINVALID);
	/* the later visit goes first, so it is the older in the queue */
	ck_assert_int_eq(chs_coding_send(maria, v2024), 0);
	ck_assert_int_eq(chs_coding_send(maria, v2023), 0);
	ck_assert_int_eq(chs_coding_send(maria, v2023), CHS_EEXISTS);
	q = queue(maria);
	ck_assert_uint_eq(json_array_size(q), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(q, 0), "encounter")), v2024);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(q, 1), "encounter")), v2023);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(q, 0), "name")), "Ada Byron");
	json_decref(q);

	/* the fee effective on each visit's date */
	a = assign(maria, v2024, "99213", "25", "R05.9", "J06.9");
	ck_assert_int_eq(json_integer_value(json_object_get(a, "fee")), 12500);
	ck_assert_uint_eq(json_array_size(json_object_get(a, "diagnoses")), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(a, "warnings")), 0);
	r = tu_show(maria, json_string_value(json_object_get(a, "procedure")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "fields"), "modifier")), "25");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "fields"), "date")), "2024-03-15");
	json_decref(r);
	json_decref(a);
	a = assign(maria, v2023, "99213", NULL, "R05.9", NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "fee")), 10000);
	json_decref(a);
	/* a diagnosis already on the visit is not made twice */
	a = assign(maria, v2024, "j1100", NULL, "R05.9", NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "fee")), 250);
	ck_assert_uint_eq(json_array_size(json_object_get(a, "diagnoses")), 0);
	json_decref(a);

	q = queue(maria);
	ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(q, 0), "procedures")), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(q, 0), "diagnoses")), 2);
	json_decref(q);

	ck_assert_int_eq(chs_coding_done(tom, v2024), 0);
	q = queue(maria);
	ck_assert_uint_eq(json_array_size(q), 1);
	json_decref(q);
	r = tu_show(maria, v2024);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "fields"), "coding")), "done");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "fields"), "coder")), "tom");
	json_decref(r);
	/* a done visit takes no more codes until it is sent again */
	{
		chs_coding_assign_opts o = { "99213", NULL, 0, NULL, 0 };
		chs_coding_assignment *none = NULL;

		ck_assert_int_eq(chs_coding_assign(&none, maria, v2024, &o), CHS_EINVALID);
		ck_assert_ptr_null(none);
		ck_assert_ptr_nonnull(strstr(chs_error_last(), "not in the coding queue"));
	}
	ck_assert_int_eq(chs_coding_send(maria, v2024), 0);
	r = tu_show(maria, v2024);
	ck_assert_ptr_null(json_object_get(json_object_get(r, "fields"), "coder"));
	json_decref(r);
}
END_TEST

START_TEST(test_coding__unknown_codes_and_fees_are_flagged_not_refused)
{
	char pat[33], visit[33], *path;
	int64_t n = 0;
	int known;
	json_t *a;

	path = tu_path(CHARTSYNC_SOURCE_DIR, "data/codes/icd10cm-sample.txt");
	ck_assert_msg(chs_codes_import(maria, path, NULL, &n) == 0, "%s", chs_error_last());
	ck_assert_int_ge(n, 30);
	free(path);
	path = tu_path(CHARTSYNC_SOURCE_DIR, "data/codes/hcpcs-sample.txt");
	ck_assert_int_eq(chs_codes_import(maria, path, NULL, &n), 0);
	free(path);
	ck_assert_int_eq(chs_code_known(maria, "icd10cm", "R05.9", &known), 0);
	ck_assert_int_eq(known, 1);
	ck_assert_int_eq(chs_code_known(maria, "icd10cm", "r059", &known), 0);
	ck_assert_int_eq(known, 1);
	ck_assert_int_eq(chs_code_known(maria, "icd10cm", "Z99.89", &known), 0);
	ck_assert_int_eq(known, 0);
	ck_assert_int_eq(chs_code_known(maria, "hcpcs", "J1100", &known), 0);
	ck_assert_int_eq(known, 1);
	ck_assert_int_eq(chs_code_known(maria, "cpt", "99213", &known), 0);
	ck_assert_int_eq(known, -1); /* no CPT list imported: nothing to say */
	ck_assert_int_eq(chs_code_known(maria, "loinc", "1234-5", &known), CHS_EINVALID);

	add_patient(maria, "Ada Byron", "A-1", pat);
	add_visit(maria, pat, "2024-03-15", visit);
	ck_assert_int_eq(chs_coding_send(maria, visit), 0);
	a = assign(maria, visit, "G0009", NULL, "Z99.89", NULL); /* neither priced nor listed */
	ck_assert(json_is_string(json_object_get(a, "procedure")));
	ck_assert(json_is_null(json_object_get(a, "fee")));
	ck_assert_uint_eq(json_array_size(json_object_get(a, "diagnoses")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(a, "warnings")), 2);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(json_object_get(a, "warnings"), 0)),
				     "no fee for G0009"));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(json_object_get(a, "warnings"), 1)),
				     "Z99.89 is not in the imported ICD-10-CM list"));
	json_decref(a);
	/* a malformed code is still refused, and nothing is saved */
	{
		const char *icd[1] = { "E11-9" };
		chs_coding_assign_opts o = { "99213", NULL, 0, icd, 1 };
		chs_coding_assignment *none = NULL;
		json_t *q;

		ck_assert_int_eq(chs_coding_assign(&none, maria, visit, &o), CHS_EINVALID);
		ck_assert_ptr_null(none);
		ck_assert_ptr_nonnull(strstr(chs_error_last(), "'E11-9' is not an ICD-10-CM code"));
		q = queue(maria);
		ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(q, 0), "procedures")), 1);
		json_decref(q);
	}
}
END_TEST

START_TEST(test_coding__code_lists_in_cms_formats)
{
	char *order = write_file("order.txt",
		"00001 A00     0 Cholera                                                      Cholera\n"
		"00002 A000    1 Cholera due to Vibrio cholerae 01, biovar cholerae           Cholera due to Vibrio cholerae 01, biovar cholerae\n"
		"00003 E119    1 Type 2 diabetes mellitus without complications               Type 2 diabetes mellitus without complications\n");
	char *csv = write_file("hcpcs.csv",
		"HCPC,LONG DESCRIPTION\n"
		"G0008,\"Administration of influenza virus vaccine\"\n"
		"J1100,\"Injection, dexamethasone sodium phosphate, 1 mg\"\n");
	char *bad = write_file("bad.txt", "E11.9 Type 2 diabetes\nE11-9 not a code\n");
	char *cpt = tu_path(CHARTSYNC_SOURCE_DIR, "data/codes/cpt-sample.txt");
	int64_t n = 0;
	int known;

	ck_assert_msg(chs_codes_import(maria, order, NULL, &n) == 0, "%s", chs_error_last());
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(chs_code_known(maria, "icd10cm", "E11.9", &known), 0);
	ck_assert_int_eq(known, 1);
	ck_assert_int_eq(chs_code_known(maria, "icd10cm", "A00.0", &known), 0);
	ck_assert_int_eq(known, 1);
	ck_assert_msg(chs_codes_import(maria, csv, NULL, &n) == 0, "%s", chs_error_last());
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(chs_code_known(maria, "hcpcs", "J1100", &known), 0);
	ck_assert_int_eq(known, 1);
	ck_assert_int_eq(chs_codes_import(maria, bad, "icd10cm", &n), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "line 2: 'E11-9' is not an ICD-10-CM code"));
	ck_assert_int_eq(chs_codes_import(maria, cpt, NULL, &n), 0);
	ck_assert_int_ge(n, 30);
	ck_assert_int_eq(chs_code_known(maria, "cpt", "99213", &known), 0);
	ck_assert_int_eq(known, 1);
	ck_assert_int_eq(chs_code_known(maria, "cpt", "99499", &known), 0);
	ck_assert_int_eq(known, 0);
	free(order);
	free(csv);
	free(bad);
	free(cpt);
}
END_TEST

/* ---- claims ---- */

START_TEST(test_coding__claims_csv_rows_and_quoting)
{
	chs_edit pe[] = { tu_edit("name", "Byron, \"Ada\""), tu_edit("mrn", "A-1"),
			  tu_edit("payer", "Acme Health"),
			  tu_edit("member_id", "M 77") };
	char pat[33], old[33], visit[33], line[1024], *csv = NULL;
	size_t rows = 0;
	json_t *a;

	import_fees(maria);
	add(maria, "patient", pe, 4, NULL, NULL, pat);
	add_visit(maria, pat, "2023-06-01", old);
	add_visit(maria, pat, "2024-03-15", visit);
	ck_assert_int_eq(chs_coding_send(maria, old), 0);
	ck_assert_int_eq(chs_coding_send(maria, visit), 0);
	json_decref(assign(maria, old, "99213", NULL, "I10", NULL));
	a = assign(maria, visit, "99213", "25", "R05.9", "J06.9");
	json_decref(a);
	json_decref(assign(maria, visit, "G0009", NULL, NULL, NULL));
	ck_assert_int_eq(chs_coding_done(maria, visit), 0);

	ck_assert_msg(chs_claims_export(maria, "2024-01-01", &csv, &rows) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(rows, 2);
	ck_assert_ptr_nonnull(strstr(csv,
		"patient,mrn,name,dob,payer,member_id,visit,visit_date,procedure,code,"
		"modifiers,icd,fee,coding\r\n"));
	snprintf(line, sizeof(line), "%s,A-1,\"Byron, \"\"Ada\"\"\",,Acme Health,M 77,%s,2024-03-15,",
		 pat, visit);
	ck_assert_msg(strstr(csv, line), "no '%s' in:\n%s", line, csv);
	ck_assert_ptr_nonnull(strstr(csv, ",99213,25,R05.9 J06.9,125.00,done\r\n"));
	ck_assert_ptr_nonnull(strstr(csv, ",G0009,,R05.9 J06.9,,done\r\n"));
	ck_assert_ptr_null(strstr(csv, "I10"));
	free(csv);
	ck_assert_int_eq(chs_claims_export(maria, "2023-01-01", &csv, &rows), 0);
	ck_assert_uint_eq(rows, 3);
	ck_assert_ptr_nonnull(strstr(csv, ",99213,,I10,100.00,queued\r\n"));
	free(csv);
	ck_assert_int_eq(chs_claims_export(maria, "last week", &csv, &rows), CHS_EINVALID);
}
END_TEST

/* A CPT code already on the visit, assigned before or added by hand, is
 * refused with nothing saved: the claim bills each procedure once. The
 * same code with a modifier that says it was done again (76, or the other
 * side) is a second line, as it should be. */
START_TEST(test_coding__assigning_a_code_already_on_the_visit_is_refused)
{
	char pat[33], visit[33], byhand[33], line[64], *csv = NULL;
	chs_coding_assign_opts o = { "99213", NULL, 0, NULL, 0 };
	chs_coding_assignment *res = NULL;
	char before[65], after[65];
	size_t rows = 0;
	json_t *a, *q;

	import_fees(maria);
	add_patient(maria, "Ada Byron", "A-1", pat);
	add_visit(maria, pat, "2024-03-15", visit);
	ck_assert_int_eq(chs_coding_send(maria, visit), 0);
	json_decref(assign(maria, visit, "99213", "25", "R05.9", NULL));

	/* again, the same modifiers in another spelling, and with a diagnosis */
	state_hash(maria, before);
	{
		const char *mods[1] = { "25" }, *icd[1] = { "J06.9" };
		chs_coding_assign_opts again = { "99213", mods, 1, icd, 1 };

		ck_assert_int_eq(chs_coding_assign(&res, maria, visit, &again), CHS_EEXISTS);
		ck_assert_ptr_null(res);
		ck_assert_msg(strstr(chs_error_last(), "procedure 99213 with modifier 25 is on visit"),
			      "%s", chs_error_last());
		ck_assert_ptr_nonnull(strstr(chs_error_last(), "would bill it twice"));
	}
	state_hash(maria, after);
	ck_assert_str_eq(before, after);

	/* first added by hand, then assigned (lower case, as typed) */
	{
		chs_edit e[] = { tu_edit("cpt", "J1100") };

		add(maria, "procedure", e, 1, pat, visit, byhand);
	}
	o.cpt = "j1100";
	ck_assert_int_eq(chs_coding_assign(&res, maria, visit, &o), CHS_EEXISTS);
	ck_assert_ptr_null(res);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "procedure J1100 is on visit"));
	snprintf(line, sizeof(line), "(record %.8s)", byhand);
	ck_assert_msg(strstr(chs_error_last(), line), "%s", chs_error_last());

	/* done again: the modifier says so, and it is billed again */
	a = assign(maria, visit, "99213", "76", NULL, NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "fee")), 12500);
	json_decref(a);
	q = queue(maria);
	ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(q, 0), "procedures")), 3);
	json_decref(q);
	ck_assert_int_eq(chs_claims_export(maria, "2024-01-01", &csv, &rows), 0);
	ck_assert_uint_eq(rows, 3);
	ck_assert_ptr_nonnull(strstr(csv, ",99213,25,R05.9,125.00,queued\r\n"));
	ck_assert_ptr_nonnull(strstr(csv, ",99213,76,R05.9,125.00,queued\r\n"));
	free(csv);
}
END_TEST

/* A procedure with this fee (JSON text) on `visit`, made by `other` and
 * arriving by sync, where no form check refuses it. */
static chs_change *synced_procedure(chs_identity *other, const char *pat, const char *visit,
				    const char *fee)
{
	char link[40];
	chs_change *c = NULL;
	chs_buf enc;

	ck_assert_int_eq(chs_change_new(&c), 0);
	chs_random(c->record, 16);
	c->op = CHS_OP_CREATE;
	c->type = strdup("procedure");
	c->user = strdup("ray");
	c->terminal = strdup("old-clinic");
	chs_identity_device_id(other, c->device);
	c->hlc = chs_hlc_next(0, chs_hlc_wall_ms());
	ck_assert_int_eq(chs_change_set(c, "cpt", "\"99213\""), 0);
	ck_assert_int_eq(chs_change_set(c, "fee", fee), 0);
	snprintf(link, sizeof(link), "\"%s\"", visit);
	ck_assert_int_eq(chs_change_set(c, "encounter", link), 0);
	snprintf(link, sizeof(link), "\"%s\"", pat);
	ck_assert_int_eq(chs_change_set(c, "patient", link), 0);
	chs_buf_init(&enc, 0);
	ck_assert_int_eq(chs_change_encode(c, &enc), 0);
	chs_buf_dispose(&enc);
	return c;
}

/* A negative fee cannot be typed, but one can arrive by sync (or have
 * been typed as fee:=-N before that was refused): the claim shows it as
 * an amount, not as "0.-50" (the sign lost) or "-125.-50". */
START_TEST(test_coding__claims_write_a_negative_fee_as_an_amount)
{
	chs_identity *other = NULL;
	chs_change **list = calloc(2, sizeof(*list));
	chs_batch *b = NULL;
	char pat[33], visit[33], *csv = NULL;
	size_t rows = 0;
	chs_buf enc;

	add_patient(maria, "Ada Byron", "A-1", pat);
	add_visit(maria, pat, "2024-03-15", visit);
	ck_assert_int_eq(chs_identity_new(&other), 0);
	list[0] = synced_procedure(other, pat, visit, "-50");
	list[1] = synced_procedure(other, pat, visit, "-12550");
	ck_assert_int_eq(chs_batch_seal(&b, other, 1, NULL, list, 2), 0);
	chs_buf_init(&enc, 0);
	ck_assert_int_eq(chs_batch_encode(b, &enc), 0);
	ck_assert_msg(chs_store_apply_batch(maria, enc.ptr, enc.len) == 0, "%s",
		      chs_error_last());
	chs_buf_dispose(&enc);
	chs_batch_free(b);
	chs_identity_free(other);
	ck_assert_int_eq(chs_claims_export(maria, "2024-01-01", &csv, &rows), 0);
	ck_assert_uint_eq(rows, 2);
	ck_assert_msg(strstr(csv, ",99213,,,-0.50,\r\n"), "%s", csv);
	ck_assert_msg(strstr(csv, ",99213,,,-125.50,\r\n"), "%s", csv);
	free(csv);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client-coding");
	TCase *tc = tcase_create("coding");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_coding__confirmation_by_the_same_user_is_refused_by_another_accepted);
	tcase_add_test(tc, test_coding__confirm_is_all_or_nothing);
	tcase_add_test(tc, test_coding__a_later_edit_unconfirms);
	tcase_add_test(tc, test_coding__ls_unconfirmed_lists_what_waits);
	tcase_add_test(tc, test_coding__a_record_under_review_cannot_be_confirmed_and_confirmations_sync);
	tcase_add_test(tc, test_coding__a_malformed_fee_line_is_named_and_nothing_imported);
	tcase_add_test(tc, test_coding__a_good_fee_file_is_imported_and_reimported);
	tcase_add_test(tc, test_coding__sites_sharing_a_long_prefix_keep_their_own_fee_lines);
	tcase_add_test(tc, test_coding__send_queue_assign_done);
	tcase_add_test(tc, test_coding__the_queue_keeps_the_order_of_sending);
	tcase_add_test(tc, test_coding__the_fee_lookup_does_not_read_the_store);
	tcase_add_test(tc, test_coding__unknown_codes_and_fees_are_flagged_not_refused);
	tcase_add_test(tc, test_coding__code_lists_in_cms_formats);
	tcase_add_test(tc, test_coding__claims_csv_rows_and_quoting);
	tcase_add_test(tc, test_coding__claims_write_a_negative_fee_as_an_amount);
	tcase_add_test(tc, test_coding__assigning_a_code_already_on_the_visit_is_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
