/*
 * client/desk: the history page and the reports, rendered by the page
 * functions themselves (desk_int.h: a request and a session made here,
 * as server.c makes them), from real stores whose changes crossed by
 * batches: what a change changed (old -> new, each side's value where
 * sites edited at once), the graph's nodes, lanes and marks, escaping,
 * the page's access event, the time for a thousand changes, and the
 * access report's CSV.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include "desk_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *dir_a, *dir_b;
static chs_store *a, *b;
static desk_session ss;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	a = tu_store_temp("ada", "=a-desk", &dir_a);
	b = tu_store_temp("bob", "b-desk", &dir_b);
	memset(&ss, 0, sizeof(ss));
	ss.store = a;
}

static void teardown(void)
{
	while (ss.nviews)
		desk_session_leave(&ss, ss.views[0].token);
	chs_store_free(a);
	chs_store_free(b);
	tu_rmtree(dir_a);
	tu_rmtree(dir_b);
	free(dir_a);
	free(dir_b);
}

static void set_name(chs_store *s, const char *id, const char *name)
{
	chs_edit e = tu_edit("name", name);

	ck_assert_msg(chs_record_set(s, id, &e, 1) == 0, "%s", chs_error_last());
}

/* Page `fn` for `path` (with `query`, pairs of name and value); the
 * response's body comes back, the caller's to free. */
static char *page(desk_page_fn fn, const char *path, desk_kv *query, size_t nquery,
		  desk_resp *rs)
{
	desk_req rq;
	int err;

	memset(&rq, 0, sizeof(rq));
	memset(rs, 0, sizeof(*rs));
	chs_buf_init(&rs->body, 0);
	rq.session = &ss;
	rq.path = path;
	rq.query = query;
	rq.nquery = nquery;
	err = fn(&rq, rs);
	ck_assert_msg(err == 0, "%s: %s", path, chs_error_last());
	ck_assert_int_eq(rs->err, 0);
	return chs_buf_detach(&rs->body);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (; (hay = strstr(hay, needle)); hay++)
		n++;
	return n;
}

/* The table row of change `id` (malloc'ed). */
static char *row_of(const char *html, const char *id)
{
	char key[80];
	const char *at, *end;

	snprintf(key, sizeof(key), "id=\"c-%s\"", id);
	ck_assert_msg((at = strstr(html, key)) != NULL, "no row for %s", id);
	ck_assert((end = strstr(at, "</tr>")) != NULL);
	return strndup(at, (size_t)(end - at));
}

/* A record edited at two sites at once, settled at the first: create,
 * two concurrent renames, the resolution. */
static void two_sites(char id[33])
{
	chs_edit p[] = { tu_edit("name", "Ada"), tu_edit("mrn", "A-1") };
	chs_edit settle = tu_edit("name", "Ada King");

	ck_assert_int_eq(chs_record_add(a, "patient", p, 2, NULL, NULL, id), 0);
	tu_ship(a, b);
	set_name(a, id, "Ada Lovelace");
	set_name(b, id, "<b>Byron</b>");
	tu_ship(a, b);
	tu_ship(b, a);
	ck_assert_msg(chs_review_resolve(a, id, &settle, 1, NULL) == 0, "%s", chs_error_last());
}

START_TEST(test_history__each_change_old_to_new_with_both_sides_at_the_resolution)
{
	chs_history *h = NULL;
	const chs_history_entry *e;
	char id[33], path[64], *html, *row;
	desk_resp rs;
	size_t i, n;

	two_sites(id);
	ck_assert_int_eq(chs_record_history(&h, a, id), 0);
	n = chs_history_count(h);
	ck_assert_uint_eq(n, 4);
	snprintf(path, sizeof(path), "/record/%s", id);
	html = page(desk_page_history, path, NULL, 0, &rs);

	ck_assert_uint_eq(count(html, "<tr class=\"change"), n);
	ck_assert_uint_eq(count(html, "<circle class=\"node"), n);
	ck_assert_uint_eq(count(html, "class=\"edge"), 4);
	for (i = 0; i < n; i++) {
		char node[96];

		e = chs_history_get(h, i);
		snprintf(node, sizeof(node), "data-change=\"%s\"", e->change);
		ck_assert_msg(strstr(html, node), "no node for %s", e->change);
		row = row_of(html, e->change);
		if (strcmp(e->op, "resolve") == 0) {
			/* it replaced each side's value */
			ck_assert_msg(strstr(row, "<span class=\"old\">Ada Lovelace</span>"), "%s", row);
			ck_assert_msg(strstr(row, "<span class=\"old\">&lt;b&gt;Byron&lt;/b&gt;</span>"),
				      "%s", row);
			ck_assert_msg(strstr(row, "<span class=\"new\">Ada King</span>"), "%s", row);
			snprintf(node, sizeof(node), "<tr class=\"change merge resolve\" id=\"c-%s\"",
				 e->change);
			ck_assert_msg(strstr(html, node), "resolution's row not marked");
		} else if (strcmp(e->op, "create") != 0) {
			ck_assert_msg(strstr(row, "<span class=\"old\">Ada</span>"), "%s", row);
		} else {
			ck_assert_msg(strstr(row, "(not set)"), "%s", row);
		}
		free(row);
	}
	/* the two renames in two lanes; the resolution marked */
	ck_assert_msg(strstr(html, "cx=\"36\""), "no second lane");
	ck_assert_msg(strstr(html, "class=\"node merge resolve\""), "resolution not marked");
	/* record text never reaches the page raw */
	ck_assert_ptr_null(strstr(html, "<b>Byron"));
	ck_assert_ptr_null(strstr(html, "style="));

	/* one access event, written when the page is left */
	ck_assert_uint_eq(ss.nviews, 1);
	ck_assert_str_eq(rs.view, ss.views[0].token);
	ck_assert_int_eq(desk_session_leave(&ss, rs.view), 0);
	{
		chs_access_report *r = NULL;
		chs_access_filter f;
		int found = 0;

		memset(&f, 0, sizeof(f));
		ck_assert_int_eq(chs_report_access(&r, a, &f), 0);
		for (i = 0; i < chs_access_report_count(r); i++) {
			const chs_access_event *ev = chs_access_report_get(r, i);

			found += strcmp(ev->action, "desk history") == 0 &&
				 strcmp(ev->user, "ada") == 0 && ev->nrecords == 1 &&
				 strcmp(ev->records[0], id) == 0;
		}
		ck_assert_int_eq(found, 1);
		chs_access_report_free(r);
	}
	free(html);
	chs_history_free(h);
}
END_TEST

/* The cx of change `id`'s node, or -1. */
static int node_cx(const char *html, const char *id)
{
	char key[96];
	const char *at;
	int cx;

	snprintf(key, sizeof(key), "data-change=\"%s\" cx=\"", id);
	if (!(at = strstr(html, key)) || sscanf(at + strlen(key), "%d", &cx) != 1)
		return -1;
	return cx;
}

/* An unsettled conflict, as an archivist opens it: create, then a rename
 * at each site, no resolution. The renames are two branches of the
 * create, side by side, not a line create -> A -> B. */
START_TEST(test_history__an_unsettled_conflict_draws_two_lanes_from_the_create)
{
	chs_edit p[] = { tu_edit("name", "Ada"), tu_edit("mrn", "A-1") };
	chs_history *h = NULL;
	char id[33], path[64], *html;
	int x0, x1, x2;
	desk_resp rs;

	ck_assert_int_eq(chs_record_add(a, "patient", p, 2, NULL, NULL, id), 0);
	tu_ship(a, b);
	set_name(a, id, "Ada Lovelace");
	set_name(b, id, "Ada Byron");
	tu_ship(b, a);
	ck_assert_int_eq(chs_record_history(&h, a, id), 0);
	ck_assert_uint_eq(chs_history_count(h), 3);
	snprintf(path, sizeof(path), "/record/%s", id);
	html = page(desk_page_history, path, NULL, 0, &rs);

	x0 = node_cx(html, chs_history_get(h, 0)->change);
	x1 = node_cx(html, chs_history_get(h, 1)->change);
	x2 = node_cx(html, chs_history_get(h, 2)->change);
	ck_assert_msg(x0 >= 0 && x1 >= 0 && x2 >= 0, "a node is missing");
	ck_assert_msg(x1 != x2, "both sides drawn in one column (cx %d)", x1);
	/* two edges, both out of the create (row 0, at 14 14): one down its
	 * lane to row 1, one across to the other lane and down to row 2 */
	ck_assert_uint_eq(count(html, "class=\"edge"), 2);
	ck_assert_uint_eq(count(html, "class=\"edge\" d=\"M14 14"), 2);
	ck_assert_msg(strstr(html, "d=\"M14 14V40\""), "no edge down to row 1");
	ck_assert_msg(strstr(html, "d=\"M14 14L36 40V66\""), "no edge across to row 2");
	free(html);
	chs_history_free(h);
}
END_TEST

/* Sites that edit different fields at once are merged without review;
 * the next change sees both heads, and what it replaces is the value one
 * side wrote over the first, not the first too. A colleague's
 * confirmation marks the version it confirmed. */
START_TEST(test_history__a_merge_replaces_only_the_value_not_written_over)
{
	chs_edit p[] = { tu_edit("name", "Ada"), tu_edit("mrn", "A-1") };
	chs_edit mrn = tu_edit("mrn", "A-2");
	const char *ids[1];
	char id[33], path[64], key[128], *html, *row;
	const chs_history_entry *last;
	chs_history *h = NULL;
	desk_resp rs;

	ck_assert_int_eq(chs_record_add(a, "patient", p, 2, NULL, NULL, id), 0);
	tu_ship(a, b);
	set_name(a, id, "Ada L");
	ck_assert_int_eq(chs_record_set(b, id, &mrn, 1), 0);
	tu_ship(a, b);
	tu_ship(b, a);
	set_name(a, id, "Ada K");
	tu_ship(a, b);
	ids[0] = id;
	ck_assert_msg(chs_record_confirm(b, ids, 1, NULL, NULL) == 0, "%s", chs_error_last());
	tu_ship(b, a);

	ck_assert_int_eq(chs_record_history(&h, a, id), 0);
	ck_assert_uint_eq(chs_history_count(h), 4);
	last = chs_history_get(h, 3);
	ck_assert_int_eq(last->merge, 1);
	snprintf(path, sizeof(path), "/record/%s", id);
	html = page(desk_page_history, path, NULL, 0, &rs);
	row = row_of(html, last->change);
	ck_assert_msg(strstr(row, "<span class=\"old\">Ada L</span> <span class=\"arrow\">"), "%s",
		      row);
	ck_assert_ptr_null(strstr(row, "class=\"or\""));
	snprintf(key, sizeof(key), "class=\"node merge confirmed\" data-change=\"%s\"",
		 last->change);
	ck_assert_msg(strstr(html, key), "the confirmed merge is not marked");
	ck_assert_uint_eq(count(html, "class=\"node"), 4);
	ck_assert_uint_eq(count(html, "confirmed\" data-change"), 1);
	free(row);
	free(html);
	chs_history_free(h);
}
END_TEST

START_TEST(test_history__a_thousand_changes_render_fast)
{
	chs_edit p[] = { tu_edit("name", "N0"), tu_edit("mrn", "T-1") };
	struct timespec t0, t1;
	char id[33], path[64], name[32], *html;
	desk_resp rs;
	double ms;
	int i;

	ck_assert_int_eq(chs_record_add(a, "patient", p, 2, NULL, NULL, id), 0);
	for (i = 1; i < 1000; i++) {
		snprintf(name, sizeof(name), "N%d", i);
		set_name(a, id, name);
	}
	snprintf(path, sizeof(path), "/record/%s", id);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	html = page(desk_page_history, path, NULL, 0, &rs);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	fprintf(stderr, "history of 1,000 changes: %.1f ms, %zu bytes\n", ms, strlen(html));
	ck_assert_uint_eq(count(html, "<circle class=\"node"), 1000);
	ck_assert_msg(strstr(html, "<span class=\"old\">N998</span>"), "old value missing");
	/* one lane: every node in the first */
	ck_assert_uint_eq(count(html, "cx=\"14\""), 1000);
	/* the target is 100 ms; sanitizer builds run a few times slower */
	ck_assert_msg(ms < 1000, "%.1f ms", ms);
	free(html);
}
END_TEST

/* A patient whose name two sites changed at once, unsettled. */
static void unsettled(const char *name, const char *mrn, char id[33])
{
	chs_edit p[] = { tu_edit("name", name), tu_edit("mrn", mrn) };
	char left[64], right[64];

	ck_assert_int_eq(chs_record_add(a, "patient", p, 2, NULL, NULL, id), 0);
	tu_ship(a, b);
	snprintf(left, sizeof(left), "%s Lovelace", name);
	snprintf(right, sizeof(right), "%s Byron", name);
	set_name(a, id, left);
	set_name(b, id, right);
	tu_ship(b, a);
}

/* The "desk review" events about `patient`, and the records of the one
 * found (which must be alone) in `records` (NULL when none). */
static size_t review_events(const char *patient, char records[4][33], size_t *nrec)
{
	chs_access_report *r = NULL;
	chs_access_filter f;
	size_t i, k, n = 0;

	memset(&f, 0, sizeof(f));
	f.patient = patient;
	ck_assert_int_eq(chs_report_access(&r, a, &f), 0);
	for (i = 0; i < chs_access_report_count(r); i++) {
		const chs_access_event *ev = chs_access_report_get(r, i);

		if (strcmp(ev->action, "desk review") != 0)
			continue;
		n++;
		*nrec = ev->nrecords;
		for (k = 0; k < ev->nrecords && k < 4; k++)
			snprintf(records[k], 33, "%s", ev->records[k]);
		ck_assert_str_eq(ev->patient, patient);
	}
	chs_access_report_free(r);
	return n;
}

/* The queue filtered to one patient: its access event names the records
 * the page showed and that patient, so the access report for the patient
 * lists it, and the other patient's does not. */
START_TEST(test_review__a_filtered_queue_names_only_what_it_shows_and_its_patient)
{
	char ada[33], bea[33], prefix[9], recs[4][33], *html;
	desk_kv q[] = { { (char *)"patient", prefix } };
	desk_resp rs;
	size_t nrec = 0;

	unsettled("Ada", "A-1", ada);
	unsettled("Bea", "B-2", bea);
	snprintf(prefix, sizeof(prefix), "%.8s", ada);
	html = page(desk_page_review_queue, "/review", q, 1, &rs);
	ck_assert_uint_eq(count(html, "<tr class=\"queue-item\""), 1);
	ck_assert_ptr_nonnull(strstr(html, ada));
	ck_assert_ptr_null(strstr(html, bea));
	free(html);
	ck_assert_int_eq(desk_session_leave(&ss, rs.view), 0);

	ck_assert_uint_eq(review_events(ada, recs, &nrec), 1);
	ck_assert_uint_eq(nrec, 1);
	ck_assert_str_eq(recs[0], ada);
	ck_assert_uint_eq(review_events(bea, recs, &nrec), 0);
}
END_TEST

/* Page `fn` posted `form` (pairs of name and value) at `path`. */
static char *post(desk_page_fn fn, const char *path, desk_kv *form, size_t nform, desk_resp *rs)
{
	desk_req rq;
	int err;

	memset(&rq, 0, sizeof(rq));
	memset(rs, 0, sizeof(*rs));
	chs_buf_init(&rs->body, 0);
	rq.session = &ss;
	rq.path = path;
	rq.form = form;
	rq.nform = nform;
	err = fn(&rq, rs);
	ck_assert_msg(err == 0, "%s: %s", path, chs_error_last());
	ck_assert_int_eq(rs->err, 0);
	return chs_buf_detach(&rs->body);
}

/* A diagnosis whose code two sites changed at once, unsettled. */
static void unsettled_code(char id[33])
{
	chs_edit p[] = { tu_edit("name", "Ada"), tu_edit("mrn", "A-1") };
	chs_edit v[] = { tu_edit("date", "2024-03-15"), tu_edit("reason", "cough") };
	chs_edit d[] = { tu_edit("icd", "J20") };
	chs_edit mine = tu_edit("icd", "J45"), theirs = tu_edit("icd", "J44");
	char pat[33], visit[33];

	ck_assert_int_eq(chs_record_add(a, "patient", p, 2, NULL, NULL, pat), 0);
	ck_assert_int_eq(chs_record_add(a, "encounter", v, 2, pat, NULL, visit), 0);
	ck_assert_msg(chs_record_add(a, "diagnosis", d, 1, pat, visit, id) == 0, "%s",
		      chs_error_last());
	tu_ship(a, b);
	ck_assert_int_eq(chs_record_set(a, id, &mine, 1), 0);
	ck_assert_int_eq(chs_record_set(b, id, &theirs, 1), 0);
	tu_ship(b, a);
}

/* The preview shows a typed value as signing writes it (a code in
 * capitals), and the page after signing shows the value written. */
START_TEST(test_review__the_preview_shows_a_typed_value_as_it_will_be_signed)
{
	char id[33], path[80], *html;
	desk_kv f[] = { { (char *)"typed", (char *)"icd" }, { (char *)"typed.icd", NULL } };
	char typed[] = "i10";
	desk_resp rs;

	f[1].value = typed;
	unsettled_code(id);
	snprintf(path, sizeof(path), "/review/%s/preview", id);
	html = post(desk_page_review_preview, path, f, 2, &rs);
	ck_assert_msg(strstr(html, "<q class=\"value\">I10</q>"), "not previewed as I10");
	ck_assert_ptr_null(strstr(html, ">i10<"));
	/* signed with the heads previewed: the value written, read back */
	{
		const char *at = strstr(html, "name=\"heads\" value=\"");
		char heads[400], typed2[] = "i10";
		desk_kv g[] = { { (char *)"typed", (char *)"icd" }, { (char *)"typed.icd", typed2 },
				{ (char *)"heads", heads } };

		ck_assert_ptr_nonnull(at);
		at += strlen("name=\"heads\" value=\"");
		snprintf(heads, sizeof(heads), "%.*s", (int)strcspn(at, "\""), at);
		free(html);
		snprintf(path, sizeof(path), "/review/%s/resolve", id);
		html = post(desk_page_review_resolve, path, g, 3, &rs);
		ck_assert_msg(strstr(html, "id=\"resolved\""), "not signed");
		ck_assert_msg(strstr(html, "<q class=\"value\">I10</q>"), "not shown as written");
	}
	free(html);
}
END_TEST

/* One parser for a record's address: /review/ID and /record/ID take the
 * id in either case, as links typed by hand may give it. */
START_TEST(test_review__a_record_address_in_capitals_is_the_same_record)
{
	char id[33], up[33], path[80], *html;
	desk_resp rs;
	size_t i;

	unsettled("Ada", "A-1", id);
	for (i = 0; i < 33; i++)
		up[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
	snprintf(path, sizeof(path), "/review/%s", up);
	html = page(desk_page_review_record, path, NULL, 0, &rs);
	ck_assert_msg(strstr(html, "section class=\"conflict\""), "no conflict shown");
	free(html);
	snprintf(path, sizeof(path), "/record/%.12s", up);
	html = page(desk_page_history, path, NULL, 0, &rs);
	ck_assert_msg(strstr(html, id), "not the record");
	free(html);
}
END_TEST

START_TEST(test_reports__access_csv_escapes_formulas_and_keeps_the_filters)
{
	desk_kv q[] = { { "user", "ada" }, { "format", "csv" } };
	desk_kv bad[] = { { "since", "yesterday" } };
	char id[33], path[64], *html, *csv;
	desk_resp rs;

	two_sites(id);
	snprintf(path, sizeof(path), "/record/%s", id);
	free(page(desk_page_history, path, NULL, 0, &rs));
	ck_assert_int_eq(desk_session_leave(&ss, rs.view), 0);

	html = page(desk_page_access, "/reports/access", q, 1, &rs);
	ck_assert_msg(strstr(html, "<table id=\"access\""), "no table");
	ck_assert_uint_eq(count(html, "<tr class=\"event\""), 1);
	ck_assert_msg(strstr(html, "id=\"csv\" download href=\"/reports/access?user=ada&amp;"
				   "format=csv\""), "%s", html);
	free(html);

	csv = page(desk_page_access, "/reports/access", q, 2, &rs);
	ck_assert_str_eq(rs.content_type, "text/csv; charset=utf-8");
	ck_assert_str_eq(rs.filename, "access-report.csv");
	ck_assert_msg(strncmp(csv, "start,duration_ms,user,terminal,action,", 39) == 0, "%s", csv);
	/* a terminal that begins like a formula reaches the sheet as text */
	ck_assert_msg(strstr(csv, ",ada,\"'=a-desk\",desk history,"), "%s", csv);
	free(csv);

	/* a bad date: the page again, saying why */
	html = page(desk_page_access, "/reports/access", bad, 1, &rs);
	ck_assert_msg(strstr(html, "<p class=\"error\" role=\"alert\">&#39;yesterday&#39; is not a date"),
		      "%s", html);
	ck_assert_msg(strstr(html, "<form id=\"filter\""), "no form");
	free(html);
}
END_TEST

START_TEST(test_reports__consistency_coding_and_sync_pages)
{
	char id[33], *html;
	desk_resp rs;

	two_sites(id);
	html = page(desk_page_consistency, "/reports/consistency", NULL, 0, &rs);
	ck_assert_msg(strstr(html, "<table id=\"findings\""), "no findings table");
	free(html);
	html = page(desk_page_coding, "/reports/coding", NULL, 0, &rs);
	ck_assert_msg(strstr(html, "<table id=\"coding\""), "no coding table");
	ck_assert_msg(strstr(html, "no visits wait for coding"), "%s", html);
	free(html);
	/* a store on no roster yet: the tables, and why they are empty */
	html = page(desk_page_sync, "/reports/sync", NULL, 0, &rs);
	ck_assert_msg(strstr(html, "<table id=\"devices\""), "no devices table");
	ck_assert_msg(strstr(html, "<table id=\"events\""), "no events table");
	ck_assert_msg(strstr(html, "holds no roster"), "%s", html);
	free(html);
	/* none of them is an access but the coding queue (chart content) */
	ck_assert_uint_eq(ss.nviews, 1);
}
END_TEST

/* The coding queue shows patients' names, chart numbers, visit dates and
 * codes: it is an access, "desk coding", naming each visit and patient
 * shown, written when the page is left. */
START_TEST(test_reports__the_coding_queue_is_an_access_written_when_left)
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1001") };
	chs_edit v[] = { tu_edit("date", "2024-03-15"), tu_edit("reason", "cough") };
	chs_access_report *r = NULL;
	chs_access_filter f;
	char pat[33], visit[33], *html;
	desk_resp rs;
	size_t i, found = 0;

	ck_assert_int_eq(chs_record_add(a, "patient", p, 2, NULL, NULL, pat), 0);
	ck_assert_int_eq(chs_record_add(a, "encounter", v, 2, pat, NULL, visit), 0);
	ck_assert_msg(chs_coding_send(a, visit) == 0, "%s", chs_error_last());
	html = page(desk_page_coding, "/reports/coding", NULL, 0, &rs);
	ck_assert_msg(strstr(html, "Ada Byron"), "the visit is not listed");
	free(html);
	ck_assert_uint_eq(ss.nviews, 1);
	ck_assert_str_eq(rs.view, ss.views[0].token);
	ck_assert_int_eq(desk_session_leave(&ss, rs.view), 0);

	memset(&f, 0, sizeof(f));
	f.patient = pat;
	ck_assert_int_eq(chs_report_access(&r, a, &f), 0);
	for (i = 0; i < chs_access_report_count(r); i++) {
		const chs_access_event *ev = chs_access_report_get(r, i);

		if (strcmp(ev->action, "desk coding") != 0)
			continue;
		found++;
		ck_assert_str_eq(ev->patient, pat);
		ck_assert_uint_eq(ev->nrecords, 2);
		ck_assert_str_eq(ev->records[0], visit);
		ck_assert_str_eq(ev->records[1], pat);
	}
	ck_assert_uint_eq(found, 1);
	chs_access_report_free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("desk_pages");
	TCase *tc = tcase_create("pages");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_history__each_change_old_to_new_with_both_sides_at_the_resolution);
	tcase_add_test(tc, test_history__a_merge_replaces_only_the_value_not_written_over);
	tcase_add_test(tc, test_history__an_unsettled_conflict_draws_two_lanes_from_the_create);
	tcase_add_test(tc, test_history__a_thousand_changes_render_fast);
	tcase_add_test(tc, test_review__a_filtered_queue_names_only_what_it_shows_and_its_patient);
	tcase_add_test(tc, test_review__the_preview_shows_a_typed_value_as_it_will_be_signed);
	tcase_add_test(tc, test_review__a_record_address_in_capitals_is_the_same_record);
	tcase_add_test(tc, test_reports__access_csv_escapes_formulas_and_keeps_the_filters);
	tcase_add_test(tc, test_reports__consistency_coding_and_sync_pages);
	tcase_add_test(tc, test_reports__the_coding_queue_is_an_access_written_when_left);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
