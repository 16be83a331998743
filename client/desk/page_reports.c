/*
 * client/desk/page_reports.c - the reports, as `chartsync report` gives
 * them in a terminal: GET /reports/access (and its CSV download),
 * /reports/consistency, /reports/coding and /reports/sync.
 *
 * The access, consistency and sync reports list ids, names and times,
 * not chart content, so, as the CLI's reports, they are not access events
 * themselves. The coding queue shows chart content (patients' names and
 * chart numbers, visit dates, codes): it is one access ("desk coding")
 * naming the visits and patients shown, handed to the session and
 * written when the page is left, as the review and history pages are.
 */
#include "desk_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/billing/billing.h"
#include "client/replicate/replicate.h"
#include "client/reports/reports.h"
#include "client/text/text.h"

/* A query argument, NULL when absent or empty (an empty box of the
 * filter form filters nothing). */
static const char *arg(const desk_req *rq, const char *name)
{
	const char *v = desk_arg(rq, name);

	return v && *v ? v : NULL;
}

/* A record's id linked to its history. */
static void record_link(desk_resp *rs, const char *id)
{
	if (!id || !*id) {
		desk_put(rs, "&#8212;");
		return;
	}
	desk_put(rs, "<a href=\"/record/");
	desk_text(rs, id);
	desk_put(rs, "\"><code>");
	desk_text(rs, id);
	desk_put(rs, "</code></a>");
}

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/* ------------------------------------------------------------------ */
/* The access report                                                    */

/* The filters the page and its CSV link carry, in the form's order. */
static const char *const access_filters[] = { "patient", "user", "terminal", "since", "until" };
#define NFILTERS (sizeof(access_filters) / sizeof(access_filters[0]))

/* Append `s` percent-encoded for a query string (RFC 3986: all but the
 * unreserved characters). */
static int url_encode(chs_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	int err = 0;

	for (p = (const unsigned char *)s; *p && err == 0; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			err = chs_buf_put(b, p, 1);
		else
			err = chs_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
	return err;
}

/* a#csv: the same filters, format=csv. */
static int csv_link(desk_resp *rs, const desk_req *rq)
{
	chs_buf b;
	size_t i;
	int err = 0;

	chs_buf_init(&b, 0);
	err = chs_buf_puts(&b, "/reports/access?");
	for (i = 0; i < NFILTERS && err == 0; i++) {
		const char *v = arg(rq, access_filters[i]);

		if (v && (err = chs_buf_printf(&b, "%s=", access_filters[i])) == 0 &&
		    (err = url_encode(&b, v)) == 0)
			err = chs_buf_puts(&b, "&");
	}
	if (err == 0 && (err = chs_buf_puts(&b, "format=csv")) == 0) {
		desk_put(rs, "<p><a id=\"csv\" download href=\"");
		desk_text(rs, b.ptr);
		desk_put(rs, "\">Download these events as CSV</a> (a cell that begins like a "
			     "formula gets a leading apostrophe, so a spreadsheet never runs it)</p>\n");
	}
	chs_buf_dispose(&b);
	return err;
}

static void access_form(desk_resp *rs, const desk_req *rq)
{
	static const char *const labels[NFILTERS] = {
		"Patient (id or prefix)", "User", "Terminal", "Since (2024-03-15 or 2024-03-15T09:30Z)",
		"Until (a date alone: that whole day)"
	};
	size_t i;

	desk_put(rs, "<form id=\"filter\" method=\"get\" action=\"/reports/access\">\n");
	for (i = 0; i < NFILTERS; i++) {
		const char *v = arg(rq, access_filters[i]);

		desk_printf(rs, "<label for=\"f-%s\">%s</label> <input id=\"f-%s\" name=\"%s\" "
				"type=\"text\" value=\"",
			    access_filters[i], labels[i], access_filters[i], access_filters[i]);
		if (v)
			desk_text(rs, v);
		desk_put(rs, "\">\n");
	}
	desk_put(rs, "<button type=\"submit\">Show</button>\n</form>\n");
}

static void access_row(desk_resp *rs, const chs_access_event *e)
{
	long long ms = (long long)e->duration_ms;

	desk_put(rs, "<tr class=\"event\"><td>");
	if (*e->start)
		desk_time(rs, e->start);
	else
		desk_put(rs, "&#8212;");
	desk_printf(rs, "</td><td>%lld.%01llds</td><td>", ms / 1000, (ms % 1000) / 100);
	desk_text_or_dash(rs, e->user);
	desk_put(rs, "</td><td>");
	desk_text_or_dash(rs, e->terminal);
	desk_put(rs, "</td><td>");
	desk_text(rs, e->action);
	desk_put(rs, "</td><td>");
	record_link(rs, e->patient);
	desk_put(rs, "</td><td>");
	record_link(rs, e->nrecords ? e->records[0] : e->record);
	if (e->nrecords > 1)
		desk_printf(rs, " and %zu more", e->nrecords - 1);
	desk_put(rs, "</td><td><code>");
	desk_text(rs, e->device);
	desk_put(rs, "</code></td></tr>\n");
}

static void access_table(desk_resp *rs, const chs_access_report *r)
{
	size_t i, n = r ? chs_access_report_count(r) : 0;

	if (r && n == 0)
		desk_put(rs, "<p>no access events</p>\n");
	else if (r)
		desk_printf(rs, "<p>%zu access event%s, oldest first.</p>\n", n, plural(n));
	desk_put(rs, "<table id=\"access\"><thead><tr><th scope=\"col\">Start (UTC)</th>"
		     "<th scope=\"col\">Duration</th><th scope=\"col\">User</th>"
		     "<th scope=\"col\">Terminal</th><th scope=\"col\">Action</th>"
		     "<th scope=\"col\">Patient</th><th scope=\"col\">Records</th>"
		     "<th scope=\"col\">Device</th></tr></thead><tbody>\n");
	for (i = 0; i < n; i++)
		access_row(rs, chs_access_report_get(r, i));
	desk_put(rs, "</tbody></table>\n");
}

/* One CSV cell through chs_text_csv_cell(): a user, terminal or action
 * that begins like a formula reaches a spreadsheet as text. */
static int csv_cell(desk_resp *rs, const char *v, const char *after)
{
	int err = chs_text_csv_cell(&rs->body, v, strlen(v));

	return err < 0 ? err : chs_buf_puts(&rs->body, after);
}

/* The records, separated by spaces, in one cell. */
static int csv_records(desk_resp *rs, const chs_access_event *e)
{
	chs_buf b;
	size_t i;
	int err = 0;

	chs_buf_init(&b, 0);
	for (i = 0; i < e->nrecords && err == 0; i++)
		err = chs_buf_printf(&b, "%s%s", i ? " " : "", e->records[i]);
	if (err == 0)
		err = csv_cell(rs, b.ptr ? b.ptr : "", ",");
	chs_buf_dispose(&b);
	return err;
}

/* The CSV `chartsync report access --csv` prints: the same columns. */
static int access_csv(desk_resp *rs, const chs_access_report *r)
{
	size_t i;
	int err;

	rs->content_type = "text/csv; charset=utf-8";
	snprintf(rs->filename, sizeof(rs->filename), "access-report.csv");
	err = chs_buf_puts(&rs->body, "start,duration_ms,user,terminal,action,patient,record,"
				      "records,device,event\r\n");
	for (i = 0; i < chs_access_report_count(r) && err == 0; i++) {
		const chs_access_event *e = chs_access_report_get(r, i);

		if ((err = csv_cell(rs, e->start, ",")) < 0 ||
		    (err = chs_buf_printf(&rs->body, "%lld,", (long long)e->duration_ms)) < 0 ||
		    (err = csv_cell(rs, e->user, ",")) < 0 ||
		    (err = csv_cell(rs, e->terminal, ",")) < 0 ||
		    (err = csv_cell(rs, e->action, ",")) < 0 ||
		    (err = csv_cell(rs, e->patient, ",")) < 0 ||
		    (err = csv_cell(rs, e->record, ",")) < 0 || (err = csv_records(rs, e)) < 0 ||
		    (err = csv_cell(rs, e->device, ",")) < 0)
			break;
		err = csv_cell(rs, e->event, "\r\n");
	}
	return err;
}

/* A date filter as the CLI takes it (ISO 8601, a date or a date-time);
 * else CHS_EINVALID saying which and how. */
static int check_date(const desk_req *rq, const char *name)
{
	const char *v = arg(rq, name);

	if (v && !chs_record_date_form(v, 1))
		return chs_error_set(CHS_EINVALID, "'%s' is not a date: give %s as 2024-03-15 or "
				     "2024-03-15T09:30Z (UTC)", v, name);
	return 0;
}

int desk_page_access(desk_req *rq, desk_resp *rs)
{
	const char *format = arg(rq, "format");
	chs_access_report *r = NULL;
	chs_access_filter f;
	int err, csv = format && strcmp(format, "csv") == 0;

	memset(&f, 0, sizeof(f));
	f.patient = arg(rq, "patient");
	f.user = arg(rq, "user");
	f.terminal = arg(rq, "terminal");
	f.since = arg(rq, "since");
	f.until = arg(rq, "until");
	if (format && !csv)
		err = chs_error_set(CHS_EINVALID, "'%s' is not a format of this report: "
				    "format=csv, or none for the page", format);
	else if ((err = check_date(rq, "since")) == 0 && (err = check_date(rq, "until")) == 0)
		err = chs_report_access(&r, rq->session->store, &f);
	if (csv && err == 0)
		err = access_csv(rs, r);
	if (csv || (err < 0 && err != CHS_EINVALID && err != CHS_ENOTFOUND &&
		    err != CHS_EAMBIGUOUS))
		goto cleanup;
	/* a filter refused (a bad date, an unknown patient): the page again,
	 * saying why */
	desk_page_begin(rs, rq, "Access report");
	desk_put(rs, "<p>Who looked at which records, when, for how "
		     "long and from which terminal: every access event this store holds, its own "
		     "and every other site's it has synced, oldest first.</p>\n");
	access_form(rs, rq);
	if (err < 0) {
		rs->status = 400;
		desk_put(rs, "<p class=\"error\" role=\"alert\">");
		desk_text(rs, chs_error_last());
		desk_put(rs, "</p>\n");
		chs_error_clear();
		err = 0;
	} else if ((err = csv_link(rs, rq)) < 0) {
		goto cleanup;
	}
	access_table(rs, r);
	desk_page_end(rs, rq);
cleanup:
	chs_access_report_free(r);
	return err;
}

/* ------------------------------------------------------------------ */
/* The consistency report                                               */

static void finding_row(desk_resp *rs, const chs_finding *f)
{
	size_t i;

	desk_put(rs, "<tr class=\"finding\"><td>");
	desk_text(rs, f->kind);
	desk_put(rs, "</td><td>");
	record_link(rs, f->patient);
	desk_put(rs, "</td><td>");
	for (i = 0; i < f->nrecords; i++) {
		if (i)
			desk_put(rs, " ");
		record_link(rs, f->records[i]);
	}
	desk_put(rs, "</td><td>");
	desk_text(rs, f->detail);
	desk_put(rs, "</td></tr>\n");
}

int desk_page_consistency(desk_req *rq, desk_resp *rs)
{
	chs_consistency_report *r = NULL;
	size_t i, n, patients, visits;
	int err;

	if ((err = chs_report_consistency(&r, rq->session->store, NULL)) < 0)
		return err;
	n = chs_consistency_report_count(r);
	patients = chs_consistency_report_patients(r);
	visits = chs_consistency_report_visits(r);
	desk_page_begin(rs, rq, "Consistency report");
	desk_printf(rs, "<p>%zu finding%s over %zu patient%s and %zu visit%s. The first record of "
			"a finding is the one to fix.</p>\n",
		    n, plural(n), patients, plural(patients), visits, plural(visits));
	if (chs_consistency_report_kind_count(r)) {
		desk_put(rs, "<ul class=\"kinds\">\n");
		for (i = 0; i < chs_consistency_report_kind_count(r); i++) {
			const chs_finding_count *k = chs_consistency_report_kind(r, i);

			desk_put(rs, "<li>");
			desk_text(rs, k->kind);
			desk_printf(rs, ": %zu</li>\n", k->n);
		}
		desk_put(rs, "</ul>\n");
	}
	desk_put(rs, "<table id=\"findings\"><thead><tr><th scope=\"col\">Kind</th>"
		     "<th scope=\"col\">Patient</th><th scope=\"col\">Records</th>"
		     "<th scope=\"col\">What is wrong</th></tr></thead><tbody>\n");
	for (i = 0; i < n; i++)
		finding_row(rs, chs_consistency_report_get(r, i));
	desk_put(rs, "</tbody></table>\n");
	desk_page_end(rs, rq);
	chs_consistency_report_free(r);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The coding queue                                                     */

/* A visit's field (canonical JSON) as the queue shows it. */
static void visit_value(desk_resp *rs, const char *json)
{
	if (json)
		desk_value(rs, json);
	else
		desk_put(rs, "&#8212;");
}

static void coding_codes(desk_resp *rs, const chs_coding_visit *v)
{
	size_t j;

	desk_put(rs, "</td><td><ul class=\"codes\">");
	for (j = 0; j < v->nprocedures; j++) {
		const chs_coding_procedure *p = &v->procedures[j];

		desk_put(rs, "<li>procedure ");
		desk_text_or_dash(rs, p->cpt);
		if (p->modifier) {
			desk_put(rs, " -");
			desk_text(rs, p->modifier);
		}
		if (p->has_fee)
			desk_printf(rs, " $%lld.%02lld", (long long)p->fee / 100,
				    (long long)p->fee % 100);
		desk_put(rs, "</li>");
	}
	for (j = 0; j < v->ndiagnoses; j++) {
		desk_put(rs, "<li>diagnosis ");
		desk_text_or_dash(rs, v->diagnoses[j].icd);
		desk_put(rs, "</li>");
	}
	desk_put(rs, "</ul></td></tr>\n");
}

static void coding_row(desk_resp *rs, const chs_coding_visit *v)
{
	desk_put(rs, "<tr class=\"visit\"><td>");
	record_link(rs, v->encounter);
	desk_put(rs, "</td><td>");
	visit_value(rs, v->date);
	desk_put(rs, "</td><td>");
	if (v->patient) {
		desk_put(rs, "<a href=\"/record/");
		desk_text(rs, v->patient);
		desk_put(rs, "\">");
	}
	desk_text_or_dash(rs, v->name);
	desk_put(rs, " (");
	desk_text_or_dash(rs, v->mrn);
	desk_put(rs, v->patient ? ")</a>" : ")");
	desk_put(rs, "</td><td>");
	visit_value(rs, v->sent);
	coding_codes(rs, v);
}

/* The summary `chartsync report coding` prints: the queue's age and each
 * coder's throughput. */
static void coding_summary(desk_resp *rs, const chs_coding_report *r)
{
	const chs_coding_queue_stats *q = chs_coding_report_queue(r);
	size_t done = chs_coding_report_done(r), i;

	desk_printf(rs, "<p>queue: %zu visit%s waiting", q->length, plural(q->length));
	if (q->oldest) {
		desk_printf(rs, "; oldest %.1f days (", q->oldest_days);
		record_link(rs, q->oldest);
		desk_printf(rs, "), median %.1f days", q->median_days);
	}
	desk_printf(rs, "<br>coded: %zu visit%s</p>\n", done, plural(done));
	if (!chs_coding_report_coder_count(r))
		return;
	desk_put(rs, "<table id=\"coders\"><thead><tr><th scope=\"col\">coder</th>"
		     "<th scope=\"col\">coded</th><th scope=\"col\">last 30 days</th>"
		     "<th scope=\"col\">per day</th><th scope=\"col\">median days</th>"
		     "</tr></thead><tbody>\n");
	for (i = 0; i < chs_coding_report_coder_count(r); i++) {
		const chs_coder_stats *c = chs_coding_report_coder(r, i);

		desk_put(rs, "<tr><td>");
		desk_text(rs, c->coder);
		desk_printf(rs, "</td><td>%zu</td><td>%zu</td><td>%.1f</td><td>%.1f</td></tr>\n",
			    c->done, c->last_30_days, c->per_day, c->median_turnaround_days);
	}
	desk_put(rs, "</tbody></table>\n");
}

/* The visits and patients of the queue, into the page's access. */
static int coding_access(chs_access *a, chs_store *s, const chs_coding_list *q)
{
	size_t k;
	int err = 0;

	for (k = 0; k < chs_coding_list_count(q) && err == 0; k++) {
		const chs_coding_visit *v = chs_coding_list_get(q, k);
		const char *ids[2] = { v->encounter, v->patient };

		err = chs_access_add_ids(a, s, ids, 2);
	}
	return err;
}

int desk_page_coding(desk_req *rq, desk_resp *rs)
{
	chs_store *s = rq->session->store;
	chs_coding_report *rep = NULL;
	chs_coding_list *q = NULL;
	chs_access *a = NULL;
	size_t k, n;
	int err;

	if ((err = chs_access_begin(&a, s, "desk coding")) < 0 ||
	    (err = chs_coding_queue(&q, s)) < 0 ||
	    (err = chs_report_coding(&rep, s, NULL)) < 0 || (err = coding_access(a, s, q)) < 0)
		goto cleanup;
	/* the session holds the access from here: it is written when the
	 * page is left, and nothing is shown unless it is held */
	err = desk_session_keep_view(rq->session, a, rs->view);
	a = NULL;
	if (err < 0)
		goto cleanup;
	n = chs_coding_list_count(q);
	desk_page_begin(rs, rq, "Coding queue");
	coding_summary(rs, rep);
	desk_put(rs, n ? "<p>The visits waiting for codes, oldest sent first, with the procedures "
			 "and diagnoses they have.</p>\n"
		       : "<p>no visits wait for coding</p>\n");
	desk_put(rs, "<table id=\"coding\"><thead><tr><th scope=\"col\">Visit</th>"
		     "<th scope=\"col\">Date</th><th scope=\"col\">Patient (chart number)</th>"
		     "<th scope=\"col\">Sent</th><th scope=\"col\">Codes</th></tr></thead><tbody>\n");
	for (k = 0; k < n; k++)
		coding_row(rs, chs_coding_list_get(q, k));
	desk_put(rs, "</tbody></table>\n");
	desk_page_end(rs, rq);
cleanup:
	chs_access_free(a);
	chs_coding_report_free(rep);
	chs_coding_list_free(q);
	return err;
}

/* ------------------------------------------------------------------ */
/* Sync state                                                           */

/* Unix seconds as the ISO 8601 UTC time desk_time() shows. */
static void unix_time(desk_resp *rs, int64_t t)
{
	char iso[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
		desk_put(rs, "&#8212;");
		return;
	}
	desk_time(rs, iso);
}

static int device_row(desk_resp *rs, chs_store *s, const chs_device_info *d)
{
	uint64_t dseq;
	int64_t received;
	int err;

	if ((err = chs_store_device_last_batch(s, d->device, &dseq, &received)) < 0)
		return err;
	desk_put(rs, "<tr class=\"device\"><td><code>");
	desk_text(rs, d->device);
	desk_put(rs, d->self ? "</code> (this store)</td><td>" : "</code></td><td>");
	desk_text(rs, d->site);
	desk_put(rs, "</td><td>");
	desk_text(rs, d->role);
	desk_put(rs, d->admin ? "</td><td>admin</td><td>" : "</td><td>&#8212;</td><td>");
	if (d->revoked)
		desk_printf(rs, "revoked after batch %llu", (unsigned long long)d->revoked_after);
	else
		desk_put(rs, "&#8212;");
	if (dseq)
		desk_printf(rs, "</td><td>%llu</td><td>", (unsigned long long)dseq);
	else
		desk_put(rs, "</td><td>none</td><td>");
	unix_time(rs, received);
	desk_put(rs, "</td></tr>\n");
	return 0;
}

static int devices_table(desk_resp *rs, chs_store *s, const chs_device_roster *r)
{
	size_t i;
	int err = 0;

	desk_put(rs, "<h2 id=\"devices-title\">Devices on the roster</h2>\n");
	if (!r)
		desk_put(rs, "<p>This store holds no roster: it is not a device of an "
			     "organisation yet ('chartsync org init', or 'chartsync device "
			     "request' and an admin's enrollment).</p>\n");
	desk_put(rs, "<table id=\"devices\" aria-labelledby=\"devices-title\"><thead><tr>"
		     "<th scope=\"col\">Device</th><th scope=\"col\">Site</th>"
		     "<th scope=\"col\">Role</th><th scope=\"col\">Admin</th>"
		     "<th scope=\"col\">Revoked</th><th scope=\"col\">Last batch here</th>"
		     "<th scope=\"col\">When it arrived</th></tr></thead><tbody>\n");
	for (i = 0; r && i < chs_device_roster_count(r) && err == 0; i++)
		err = device_row(rs, s, chs_device_roster_get(r, i));
	desk_put(rs, "</tbody></table>\n");
	return err;
}

static void events_table(desk_resp *rs, const chs_archive_events *l)
{
	size_t i, n = chs_archive_events_count(l);

	desk_put(rs, "<h2 id=\"events-title\">The archive's tampering</h2>\n");
	desk_printf(rs, "<p>%zu tampering event%s the devices saw and healed: a device's ref or "
			"the roster deleted, set back, or replaced by commits their maker did not "
			"make. What a sync refuses is named in that sync's report.</p>\n",
		    n, plural(n));
	desk_put(rs, "<table id=\"events\" aria-labelledby=\"events-title\"><thead><tr>"
		     "<th scope=\"col\">Seen</th><th scope=\"col\">What</th>"
		     "<th scope=\"col\">Ref</th><th scope=\"col\">Seen by</th>"
		     "<th scope=\"col\">Site</th><th scope=\"col\">What healed it</th>"
		     "</tr></thead><tbody>\n");
	for (i = 0; i < n; i++) {
		const chs_archive_event *e = chs_archive_events_get(l, i);

		desk_put(rs, "<tr class=\"archive-event\"><td>");
		desk_time(rs, e->seen);
		desk_put(rs, "</td><td>");
		desk_text(rs, e->kind);
		desk_put(rs, "</td><td><code>");
		desk_text(rs, e->ref);
		desk_put(rs, "</code></td><td><code>");
		desk_text(rs, e->by);
		desk_put(rs, "</code></td><td>");
		desk_text(rs, e->site);
		desk_put(rs, "</td><td>");
		desk_text(rs, e->detail);
		desk_put(rs, "</td></tr>\n");
	}
	desk_put(rs, "</tbody></table>\n");
}

int desk_page_sync(desk_req *rq, desk_resp *rs)
{
	chs_store *s = rq->session->store;
	chs_device_roster *roster = NULL;
	chs_archive_events *ev = NULL;
	int err;

	if ((err = desk_roster_load(s, &roster)) < 0 ||
	    (err = chs_archive_events_list(&ev, s)) < 0)
		goto cleanup;
	desk_page_begin(rs, rq, "Sync state");
	if ((err = devices_table(rs, s, roster)) < 0)
		goto cleanup;
	events_table(rs, ev);
	desk_page_end(rs, rq);
cleanup:
	chs_archive_events_free(ev);
	chs_device_roster_free(roster);
	return err;
}
