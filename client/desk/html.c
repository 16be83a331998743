/*
 * client/desk/html.c - writing a page: escaped text and values, the
 * layout every page shares (head, navigation, sign-out), the CSRF field.
 *
 * Text that is not the page's own (a record's values, a user, a terminal,
 * a site, an error message quoting any of them) is made safe twice: first
 * chs_text_escape() shows control characters and bidirectional overrides
 * as escapes (so synced text cannot reorder what is around it), then the
 * five characters HTML gives meaning to become entities, which is enough
 * for text and for quoted attribute values alike.
 */
#include "desk_int.h"

#include "client/text/text.h"
#include "client/util/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_len(desk_resp *rs, const char *p, size_t len)
{
	int err;

	if (rs->err)
		return;
	if ((err = chs_buf_put(&rs->body, p, len)) < 0)
		rs->err = err;
}

void desk_put(desk_resp *rs, const char *markup)
{
	put_len(rs, markup, strlen(markup));
}

void desk_printf(desk_resp *rs, const char *fmt, ...)
{
	char small[256], *big = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		rs->err = rs->err ? rs->err : chs_error_set(CHS_ERROR, "a page's format failed");
		return;
	}
	if ((size_t)n < sizeof(small)) {
		put_len(rs, small, (size_t)n);
		return;
	}
	if (!(big = chs_malloc((size_t)n + 1))) {
		rs->err = rs->err ? rs->err : chs_error_set(CHS_ENOMEM, "out of memory");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	put_len(rs, big, (size_t)n);
	free(big);
}

/* `s` (already safe for a terminal) with & < > " ' as entities. */
static void put_entities(desk_resp *rs, const char *s, size_t len)
{
	size_t i, start = 0;
	const char *ent;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		default: continue;
		}
		put_len(rs, s + start, i - start);
		desk_put(rs, ent);
		start = i + 1;
	}
	put_len(rs, s + start, len - start);
}

static void put_escaped(desk_resp *rs, const char *s, chs_text_form form)
{
	chs_buf safe;
	int err;

	if (rs->err)
		return;
	chs_buf_init(&safe, CHS_BUF_MAX_DEFAULT);
	if ((err = chs_text_escape(&safe, s, strlen(s), form)) < 0) {
		rs->err = err;
		return;
	}
	put_entities(rs, safe.ptr ? safe.ptr : "", safe.len);
	chs_buf_dispose(&safe);
}

void desk_text(desk_resp *rs, const char *untrusted)
{
	put_escaped(rs, untrusted ? untrusted : "", CHS_TEXT_LINE);
}

void desk_value(desk_resp *rs, const char *json)
{
	char *text;

	if (!json || strcmp(json, "null") == 0) {
		desk_put(rs, "\xe2\x80\x94"); /* an em dash: no value */
		return;
	}
	if (!(text = chs_util__json_string(json))) {
		/* a number, true/false, or a list or object: as its JSON */
		put_escaped(rs, json, CHS_TEXT_LINE);
		return;
	}
	put_escaped(rs, text, CHS_TEXT_LINES);
	free(text);
}

void desk_time(desk_resp *rs, const char *iso)
{
	char shown[64];
	size_t n;

	if (!iso || !*iso) {
		desk_put(rs, "\xe2\x80\x94");
		return;
	}
	/* 2024-03-15T09:30:12.345Z -> 2024-03-15 09:30:12 UTC; any other
	 * form is shown as it is */
	n = strlen(iso);
	if (n >= 20 && n < sizeof(shown) && iso[10] == 'T' && iso[n - 1] == 'Z')
		snprintf(shown, sizeof(shown), "%.10s %.8s UTC", iso, iso + 11);
	else
		snprintf(shown, sizeof(shown), "%.60s", iso);
	desk_put(rs, "<time datetime=\"");
	desk_text(rs, iso);
	desk_put(rs, "\">");
	desk_text(rs, shown);
	desk_put(rs, "</time>");
}

void desk_csrf_field(desk_resp *rs, const desk_req *rq)
{
	if (!rq->session)
		return;
	desk_printf(rs, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", rq->session->csrf);
}

static void nav(desk_resp *rs, const desk_req *rq)
{
	desk_put(rs, "<header class=\"top\"><nav aria-label=\"Desk\"><ul>"
		 "<li><a href=\"/review\">Review</a></li>"
		 "<li><a href=\"/reports/access\">Access</a></li>"
		 "<li><a href=\"/reports/consistency\">Consistency</a></li>"
		 "<li><a href=\"/reports/coding\">Coding</a></li>"
		 "<li><a href=\"/reports/sync\">Sync</a></li>"
		 "</ul></nav><p id=\"who\">Signed in as <strong>");
	desk_text(rs, chs_store_user(rq->session->store));
	desk_put(rs, "</strong></p><form id=\"signout\" method=\"post\" action=\"/signout\">");
	desk_csrf_field(rs, rq);
	desk_put(rs, "<button type=\"submit\">Sign out</button></form></header>\n");
}

void desk_page_begin(desk_resp *rs, const desk_req *rq, const char *title)
{
	desk_put(rs, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
	if (rq->session)
		desk_printf(rs, "<meta name=\"csrf\" content=\"%s\">", rq->session->csrf);
	/* desk.js empties the page when the session's idle time is over */
	if (rq->session)
		desk_printf(rs, "<meta name=\"idle\" content=\"%lld\">",
			    (long long)(rq->session->idle_ms / 1000));
	desk_put(rs, "<title>");
	desk_text(rs, title);
	desk_put(rs, " \xe2\x80\x94 chartsync desk</title>"
		 "<link rel=\"stylesheet\" href=\"/static/desk.css\">"
		 "<script src=\"/static/desk.js\" defer></script></head>\n<body>\n");
	if (rq->session)
		nav(rs, rq);
	desk_put(rs, "<main id=\"main\">\n<h1>");
	desk_text(rs, title);
	desk_put(rs, "</h1>\n");
}

/* Name the page's view on <body>, which desk_page_begin() wrote before
 * the page had one: the first "<body>" is the layout's own (a title is
 * escaped, so it holds no '<'). */
static void name_view(desk_resp *rs)
{
	const char *at;
	chs_buf b;
	size_t pre;
	int err;

	if (rs->err || !rs->body.ptr || !(at = strstr(rs->body.ptr, "<body>")))
		return;
	pre = (size_t)(at - rs->body.ptr) + 5; /* before the '>' */
	chs_buf_init(&b, rs->body.max);
	if ((err = chs_buf_put(&b, rs->body.ptr, pre)) < 0 ||
	    (err = chs_buf_printf(&b, " data-view=\"%s\"", rs->view)) < 0 ||
	    (err = chs_buf_put(&b, rs->body.ptr + pre, rs->body.len - pre)) < 0) {
		rs->err = err;
		return;
	}
	chs_buf_dispose(&rs->body);
	rs->body = b;
}

void desk_page_end(desk_resp *rs, const desk_req *rq)
{
	(void)rq;
	desk_put(rs, "</main>\n</body>\n</html>\n");
	if (rs->view[0])
		name_view(rs);
}
