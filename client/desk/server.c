/*
 * client/desk/server.c - the desk's HTTP server: GNU libmicrohttpd on one
 * thread of its own, bound to a loopback address.
 *
 * Everything HTTP is libmicrohttpd's: the request line and headers, the
 * cookies, the query string and the POST bodies (its post processor
 * decodes url-encoded and multipart forms). What this file adds is what
 * every request must pass before a page sees it, in this order:
 *
 *   1. the Host header names the desk's own address (421 otherwise): a
 *      web page elsewhere that points a name of its own at 127.0.0.1
 *      (DNS rebinding) gets nothing;
 *   2. the form is within DESK_FORM_FIELDS_MAX fields of
 *      DESK_FORM_VALUE_MAX bytes each (413 otherwise);
 *   3. the session the cookie names, when it names a live one; a page
 *      other than /signin and the assets without one is a 303 to /signin
 *      (?expired=1 when the session ran out);
 *   4. a POST with a session carries its CSRF token (403 otherwise), and
 *      a POST the browser says came from another site (Origin,
 *      Sec-Fetch-Site) is refused (403) even without one: a sign-in
 *      forged from another site's page.
 *
 * Before all that, a request the browser says another page sent
 * (Sec-Fetch-Site cross-site or same-site) is refused (403), a GET too,
 * but for the assets: a page on another port of this computer is the
 * same site, so SameSite=Strict sends it the cookie, and a GET of a
 * record's page writes an access event in the signed-in person's name.
 * Typed in (none), the desk's own pages (same-origin) and a client that
 * does not say (no header: curl, the tests) are let through.
 *
 * The page then fills a desk_resp, and every response goes out with the
 * headers that keep patient data out of caches, referrers and frames.
 */
#include "desk_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define DEFAULT_LISTEN "127.0.0.1:8470"
/* A page is at most this big (the history of a record with thousands of
 * changes is a few MB). */
#define PAGE_MAX ((size_t)64 << 20)
/* Connections at once, and seconds a silent one is kept. */
#define CONN_MAX 64
#define CONN_TIMEOUT_S 60
/* libmicrohttpd's buffer for the post processor. */
#define POST_BUFFER 16384

/* connect-src 'self': desk.js's beacon when a page is left (/leave), which
 * writes the page's access event; default-src 'none' would block it */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

/* ------------------------------------------------------------------ */
/* The listening address                                                */

typedef struct listen_addr {
	int v6;         /* [::1] */
	unsigned port;
} listen_addr;

static int refuse_listen(const char *listen)
{
	return chs_error_set(CHS_EINVALID, "cannot listen on '%s': the desk listens only on this"
			     " computer (127.0.0.1, ::1 or localhost), with a port: e.g."
			     " 127.0.0.1:8470 (port 0 picks a free one)", listen);
}

static int parse_listen(const char *listen, listen_addr *out)
{
	const char *colon = strrchr(listen, ':');
	size_t hostlen;
	char *end;
	long port;

	if (!colon || !colon[1])
		return refuse_listen(listen);
	hostlen = (size_t)(colon - listen);
	if (hostlen == 9 && strncmp(listen, "127.0.0.1", 9) == 0)
		out->v6 = 0;
	else if (hostlen == 9 && strncasecmp(listen, "localhost", 9) == 0)
		out->v6 = 0;
	else if (hostlen == 5 && strncmp(listen, "[::1]", 5) == 0)
		out->v6 = 1;
	else
		return refuse_listen(listen);
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end || errno || port < 0 || port > 65535 || colon[1] == '-' || colon[1] == '+')
		return refuse_listen(listen);
	out->port = (unsigned)port;
	return 0;
}

int chs_desk_check_listen(const char *listen)
{
	listen_addr a;

	CHS_ASSERT_ARG(listen);
	return parse_listen(listen, &a);
}

/* ------------------------------------------------------------------ */
/* One request's state, from its first call to its completion           */

typedef struct request {
	struct MHD_PostProcessor *pp;
	desk_kv *form;
	size_t nform, cap;
	int too_big;  /* a field or the field count went over its ceiling */
	int nul;      /* a field holds a NUL byte (%00): no form sends one */
	int bad;      /* the body could not be read as a form */
} request;

static void request_free(request *r)
{
	size_t i;

	if (!r)
		return;
	if (r->pp)
		MHD_destroy_post_processor(r->pp);
	/* a sign-in form holds a passphrase: wiped, not only freed */
	for (i = 0; i < r->nform; i++) {
		free(r->form[i].name);
		if (r->form[i].value)
			chs_wipe(r->form[i].value, strlen(r->form[i].value));
		free(r->form[i].value);
	}
	free(r->form);
	free(r);
}

/* Append `size` bytes at `off` of field `key`: libmicrohttpd hands a long
 * value over in pieces, each with its offset. */
static enum MHD_Result on_post_data(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *filename, const char *content_type,
				    const char *transfer_encoding, const char *data,
				    uint64_t off, size_t size)
{
	request *r = cls;
	desk_kv *kv;
	size_t have;
	char *grown;

	(void)kind; (void)filename; (void)content_type; (void)transfer_encoding;
	if (off == 0) {
		if (r->nform == DESK_FORM_FIELDS_MAX) {
			r->too_big = 1;
			return MHD_NO;
		}
		if (CHS_ARRAY_GROW(r->form, r->cap, r->nform + 1) < 0 ||
		    !(r->form[r->nform].name = chs_strdup(key ? key : "")))
			return MHD_NO;
		r->form[r->nform].value = chs_calloc(1, 1);
		if (!r->form[r->nform++].value)
			return MHD_NO;
	}
	if (r->nform == 0 || size == 0)
		return MHD_YES;
	kv = &r->form[r->nform - 1];
	have = strlen(kv->value);
	if (memchr(data, '\0', size)) {
		r->nul = 1;
		return MHD_NO;
	}
	if (have + size > DESK_FORM_VALUE_MAX) {
		r->too_big = 1;
		return MHD_NO;
	}
	if (!(grown = chs_malloc(have + size + 1)))
		return MHD_NO;
	memcpy(grown, kv->value, have);
	memcpy(grown + have, data, size);
	grown[have + size] = '\0';
	chs_wipe(kv->value, have);
	free(kv->value);
	kv->value = grown;
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls; (void)conn; (void)toe;
	request_free(*con_cls);
	*con_cls = NULL;
}

/* ------------------------------------------------------------------ */
/* Arguments                                                            */

typedef struct query_acc {
	desk_kv *kv;
	size_t n, cap;
	int err;
	int nul;      /* an argument holds a NUL byte (%00) */
} query_acc;

static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				    size_t key_size, const char *value, size_t value_size)
{
	query_acc *q = cls;

	(void)kind;
	/* a C string would end at the NUL and take the rest away unseen */
	if ((key && strlen(key) != key_size) || (value && strlen(value) != value_size)) {
		q->nul = 1;
		return MHD_NO;
	}
	if (q->n == DESK_FORM_FIELDS_MAX) {
		q->err = CHS_EINVALID;
		return MHD_NO;
	}
	if (CHS_ARRAY_GROW(q->kv, q->cap, q->n + 1) < 0 ||
	    !(q->kv[q->n].name = chs_strdup(key ? key : ""))) {
		q->err = CHS_ENOMEM;
		return MHD_NO;
	}
	if (!(q->kv[q->n].value = chs_strdup(value ? value : ""))) {
		free(q->kv[q->n].name);
		q->err = CHS_ENOMEM;
		return MHD_NO;
	}
	q->n++;
	return MHD_YES;
}

static void query_dispose(query_acc *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		free(q->kv[i].name);
		free(q->kv[i].value);
	}
	free(q->kv);
}

/* ------------------------------------------------------------------ */
/* Responses                                                            */

static void resp_init(desk_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->status = MHD_HTTP_OK;
	chs_buf_init(&rs->body, PAGE_MAX);
}

/* A download's name in a header: only characters that need no quoting. */
static void safe_filename(char *out, size_t outlen, const char *name)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < outlen; i++)
		out[i] = (strchr("._-", name[i]) || (name[i] >= '0' && name[i] <= '9') ||
			  ((name[i] | 0x20) >= 'a' && (name[i] | 0x20) <= 'z')) ? name[i] : '_';
	out[i] = '\0';
}

static int add_headers(struct MHD_Response *r, const desk_resp *rs, double page_ms)
{
	char timing[64], disp[192], fname[sizeof(rs->filename)];

	snprintf(timing, sizeof(timing), "page;dur=%.3f", page_ms);
	if (MHD_add_response_header(r, "Content-Type", rs->content_type ? rs->content_type :
				    "text/html; charset=utf-8") != MHD_YES ||
	    MHD_add_response_header(r, "Cache-Control", "no-store") != MHD_YES ||
	    MHD_add_response_header(r, "Referrer-Policy", "no-referrer") != MHD_YES ||
	    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    MHD_add_response_header(r, "Content-Security-Policy", CSP) != MHD_YES ||
	    MHD_add_response_header(r, "Server-Timing", timing) != MHD_YES)
		return -1;
	if (rs->location[0] && MHD_add_response_header(r, "Location", rs->location) != MHD_YES)
		return -1;
	if (rs->filename[0]) {
		safe_filename(fname, sizeof(fname), rs->filename);
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", fname);
		if (MHD_add_response_header(r, "Content-Disposition", disp) != MHD_YES)
			return -1;
	}
	return 0;
}

/* Send `rs`, with `cookie` (a Set-Cookie value, or NULL). */
static enum MHD_Result send_resp(struct MHD_Connection *conn, desk_resp *rs, const char *cookie,
				 double page_ms)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = (unsigned)rs->status;

	if (rs->location[0])
		status = MHD_HTTP_SEE_OTHER;
	r = MHD_create_response_from_buffer(rs->body.len, rs->body.ptr ? rs->body.ptr : (char *)"",
					    MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (add_headers(r, rs, page_ms) < 0 ||
	    (cookie && MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie) != MHD_YES)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A short text answer (421, 405): no page around it. */
static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	desk_resp rs;
	enum MHD_Result ret;

	resp_init(&rs);
	rs.status = (int)status;
	rs.content_type = "text/plain; charset=utf-8";
	desk_put(&rs, text);
	ret = send_resp(conn, &rs, NULL, 0);
	chs_buf_dispose(&rs.body);
	return ret;
}

static int status_of(int err)
{
	switch (err) {
	case CHS_ENOTFOUND: return MHD_HTTP_NOT_FOUND;
	case CHS_EDENIED:
	case CHS_EAUTH: return MHD_HTTP_FORBIDDEN;
	case CHS_EINVALID:
	case CHS_EAMBIGUOUS: return MHD_HTTP_BAD_REQUEST;
	case CHS_EREVIEW:
	case CHS_EEXISTS: return MHD_HTTP_CONFLICT;
	default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static const char *title_of(int status)
{
	switch (status) {
	case MHD_HTTP_NOT_FOUND: return "Not found";
	case MHD_HTTP_FORBIDDEN: return "Not allowed";
	case MHD_HTTP_BAD_REQUEST: return "Not accepted";
	case MHD_HTTP_CONFLICT: return "Not possible now";
	default: return "Something went wrong";
	}
}

/* The page an error shows: what went wrong, in the page's layout. A page
 * that failed after the session took its view keeps it on the error page
 * (data-view), so desk.js's beacon still writes the access event when the
 * page is left; a fresh response would orphan the view until the session
 * ends. */
static void error_page(desk_resp *rs, const desk_req *rq, int status, const char *title,
		       const char *message)
{
	char view[DESK_TOKEN_HEX];

	memcpy(view, rs->view, sizeof(view));
	chs_buf_dispose(&rs->body);
	resp_init(rs);
	memcpy(rs->view, view, sizeof(view));
	rs->status = status;
	desk_page_begin(rs, rq, title);
	desk_put(rs, "<p class=\"error\" role=\"alert\">");
	desk_text(rs, message);
	desk_put(rs, "</p>\n");
	if (rq->session)
		desk_put(rs, "<p><a href=\"/review\">Back to the review queue</a></p>\n");
	else
		desk_put(rs, "<p><a href=\"/signin\">Sign in</a></p>\n");
	desk_page_end(rs, rq);
}

/* ------------------------------------------------------------------ */
/* Routing                                                              */

typedef struct route {
	const char *path;   /* exact, or a prefix ending in '/' with `tail` */
	const char *tail;   /* after the id: "" (none), "/preview", ... */
	int post;
	desk_page_fn page;
} route;

static const route routes[] = {
	{ "/signout", NULL, 1, desk_page_signout },
	{ "/leave", NULL, 1, desk_page_leave },
	{ "/review", NULL, 0, desk_page_review_queue },
	{ "/review/", "", 0, desk_page_review_record },
	{ "/review/", "/preview", 1, desk_page_review_preview },
	{ "/review/", "/resolve", 1, desk_page_review_resolve },
	{ "/record/", "", 0, desk_page_history },
	{ "/reports/access", NULL, 0, desk_page_access },
	{ "/reports/consistency", NULL, 0, desk_page_consistency },
	{ "/reports/coding", NULL, 0, desk_page_coding },
	{ "/reports/sync", NULL, 0, desk_page_sync },
};

/* An id in a path: hex digits (a record's, or a prefix of one). */
static size_t id_len(const char *p)
{
	size_t n = strspn(p, "0123456789abcdefABCDEF");

	return n <= 64 ? n : 0;
}

/* The route `path` names, whatever the method; NULL for none. */
static const route *route_find(const char *path)
{
	size_t i, n;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const route *rt = &routes[i];
		size_t plen = strlen(rt->path);

		if (!rt->tail) {
			if (strcmp(path, rt->path) == 0)
				return rt;
			continue;
		}
		if (strncmp(path, rt->path, plen) != 0 || !(n = id_len(path + plen)))
			continue;
		if (strcmp(path + plen + n, rt->tail) == 0)
			return rt;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Handling one request                                                 */

typedef struct handling {
	chs_desk *d;
	struct MHD_Connection *conn;
	desk_req rq;
	desk_resp rs;
	desk_session *before;  /* the session the cookie named */
	double page_ms;
} handling;

static int host_ok(const chs_desk *d, const char *host)
{
	return host && (strcasecmp(host, d->host) == 0 || strcasecmp(host, d->host_alt) == 0);
}

/* A POST a browser says came from another site's page: an Origin that
 * is not the desk's, or Sec-Fetch-Site other than same-origin (or none:
 * typed in). Origin "null" is what a browser sends for the desk's own
 * forms under Referrer-Policy: no-referrer, so it decides nothing. */
static int from_elsewhere(const chs_desk *d, struct MHD_Connection *conn)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");

	if (origin && strcmp(origin, "null") != 0 &&
	    !(strncmp(origin, "http://", 7) == 0 && host_ok(d, origin + 7)))
		return 1;
	return site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0;
}

/* Sent by another page, on this site or another (Sec-Fetch-Site): what
 * no page of the desk, nor a person typing its address, sends. */
static int sent_by_another_page(struct MHD_Connection *conn)
{
	const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");

	return site && (strcasecmp(site, "cross-site") == 0 || strcasecmp(site, "same-site") == 0);
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void run_page(handling *h, desk_page_fn page)
{
	double t0 = mono_ms();
	int err;

	chs_error_clear();
	err = page(&h->rq, &h->rs);
	h->page_ms = mono_ms() - t0;
	if (err == 0 && h->rs.err)
		err = h->rs.err;
	if (err < 0)
		error_page(&h->rs, &h->rq, status_of(err), title_of(status_of(err)),
			   *chs_error_last() ? chs_error_last() : "the page could not be made");
	if (h->rs.view[0])
		desk_session_note_page(h->rq.session, h->rs.view, h->rq.path);
}

static void redirect(desk_resp *rs, const char *to)
{
	snprintf(rs->location, sizeof(rs->location), "%s", to);
}

/* Everything after the Host check and the form, under the desk's lock. */
static void dispatch(handling *h, const char *method, const char *path, const char *cookie)
{
	const route *rt;
	int post = strcmp(method, "POST") == 0;
	const char *csrf;

	desk_session_expire(h->d);
	h->rq.session = h->before = desk_session_find(h->d, cookie);
	h->rq.gone_minutes = h->rq.session ? 0 : desk_session_gone(h->d, cookie);
	h->rq.post = post;
	if (post) {
		csrf = desk_form(&h->rq, "csrf");
		if ((h->rq.session && !(csrf && strlen(csrf) == DESK_TOKEN_HEX - 1 &&
					chs_equal(csrf, h->rq.session->csrf, DESK_TOKEN_HEX - 1))) ||
		    from_elsewhere(h->d, h->conn)) {
			error_page(&h->rs, &h->rq, MHD_HTTP_FORBIDDEN, "Refused",
				   "this form is out of date or came from another page: "
				   "open the page again and send it from there");
			return;
		}
	}
	if (strcmp(path, "/signin") == 0) {
		run_page(h, desk_page_signin);
		return;
	}
	if (strcmp(path, "/") == 0 && !post) {
		redirect(&h->rs, "/review");
		return;
	}
	if (!(rt = route_find(path))) {
		error_page(&h->rs, &h->rq, MHD_HTTP_NOT_FOUND, "Not found",
			   "there is no such page on the desk");
		return;
	}
	if (rt->post != post) {
		error_page(&h->rs, &h->rq, MHD_HTTP_METHOD_NOT_ALLOWED, "Refused",
			   rt->post ? "this address takes a form sent from a page"
				    : "this address is a page to open, not a form");
		return;
	}
	if (!h->rq.session) {
		redirect(&h->rs, h->rq.gone_minutes ? "/signin?expired=1" : "/signin");
		return;
	}
	run_page(h, rt->page);
}

static enum MHD_Result serve_asset(struct MHD_Connection *conn, const char *path)
{
	const desk_asset *a = desk_asset_find(path);
	desk_resp rs;
	enum MHD_Result ret;

	resp_init(&rs);
	if (!a) {
		rs.status = MHD_HTTP_NOT_FOUND;
		rs.content_type = "text/plain; charset=utf-8";
		desk_put(&rs, "no such file on the desk\n");
	} else {
		rs.content_type = a->content_type;
		if (chs_buf_put(&rs.body, a->data, a->len) < 0)
			rs.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	ret = send_resp(conn, &rs, NULL, 0);
	chs_buf_dispose(&rs.body);
	return ret;
}

/* The Set-Cookie the page's doing asks for: a new session's cookie after
 * sign-in, an emptied one after sign-out; NULL when neither. */
static const char *cookie_for(const handling *h, char *buf, size_t len)
{
	if (h->rq.session && h->rq.session != h->before) {
		snprintf(buf, len, "%s=%s; Path=/; HttpOnly; SameSite=Strict", h->d->cookie,
			 h->rq.session->token);
		return buf;
	}
	if (h->before && !h->rq.session) {
		snprintf(buf, len, "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", h->d->cookie);
		return buf;
	}
	return NULL;
}

static enum MHD_Result handle(chs_desk *d, struct MHD_Connection *conn, const char *method,
			      const char *path, request *r)
{
	handling h;
	query_acc q;
	enum MHD_Result ret;
	char cookie[DESK_TOKEN_HEX + 128];
	const char *set_cookie;

	memset(&h, 0, sizeof(h));
	memset(&q, 0, sizeof(q));
	h.d = d;
	h.conn = conn;
	resp_init(&h.rs);
	h.rq.desk = d;
	h.rq.path = path;
	h.rq.form = r->form;
	h.rq.nform = r->nform;
	MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, on_query_arg, &q);
	h.rq.query = q.kv;
	h.rq.nquery = q.n;
	pthread_mutex_lock(&d->lock);
	if (r->nul || q.nul)
		error_page(&h.rs, &h.rq, MHD_HTTP_BAD_REQUEST, "Refused",
			   "a form field holds a NUL byte (%00), which no page of the desk sends:"
			   " send the form again from its page");
	else if (r->too_big || q.err == CHS_EINVALID)
		error_page(&h.rs, &h.rq, MHD_HTTP_CONTENT_TOO_LARGE, "Refused",
			   "the form is larger than the desk takes");
	else if (r->bad)
		error_page(&h.rs, &h.rq, MHD_HTTP_BAD_REQUEST, "Refused",
			   "the form could not be read: send it again from its page");
	else if (q.err < 0)
		error_page(&h.rs, &h.rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "Refused",
			   "out of memory");
	else
		dispatch(&h, method, path, MHD_lookup_connection_value(conn, MHD_COOKIE_KIND,
									 d->cookie));
	set_cookie = cookie_for(&h, cookie, sizeof(cookie));
	ret = send_resp(conn, &h.rs, set_cookie, h.page_ms);
	pthread_mutex_unlock(&d->lock);
	chs_wipe(cookie, sizeof(cookie));
	chs_buf_dispose(&h.rs.body);
	query_dispose(&q);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	chs_desk *d = cls;
	request *r = *con_cls;
	int post = strcmp(method, "POST") == 0;

	(void)version;
	if (!r) {
		/* the first call: headers only; refuse early what no body
		 * can make right */
		if (!host_ok(d, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host")))
			return send_text(conn, MHD_HTTP_MISDIRECTED_REQUEST,
					 "this desk answers only at its own address\n");
		/* HEAD only for the assets: a page that shows patient data
		 * keeps a view whose leaving no beacon would ever report (a
		 * HEAD's answer is never a page in a browser) */
		if (strcmp(method, "HEAD") == 0 && strncmp(url, "/static/", 8) != 0)
			return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					 "the desk's pages take GET and POST only\n");
		if (!post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					 "the desk takes GET and POST only\n");
		if (strncmp(url, "/static/", 8) != 0 && sent_by_another_page(conn))
			return send_text(conn, MHD_HTTP_FORBIDDEN,
					 "the desk opens only from its own pages: type its address"
					 " in the browser yourself\n");
		if (!(r = chs_calloc(1, sizeof(*r))))
			return MHD_NO;
		/* NULL for a body that is no form (or none): the fields are
		 * then empty, and a POST with a session fails its CSRF check */
		if (post)
			r->pp = MHD_create_post_processor(conn, POST_BUFFER, on_post_data, r);
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (r->pp && !r->too_big && !r->bad && !r->nul &&
		    MHD_post_process(r->pp, upload_data, *upload_data_size) != MHD_YES &&
		    !r->too_big && !r->nul)
			r->bad = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strncmp(url, "/static/", 8) == 0 && !post)
		return serve_asset(conn, url);
	return handle(d, conn, method, url, r);
}

/* ------------------------------------------------------------------ */
/* Starting and stopping                                                */

static int set_addresses(chs_desk *d, const listen_addr *a, unsigned port)
{
	const char *name = a->v6 ? "[::1]" : "127.0.0.1";

	if (snprintf(d->url, sizeof(d->url), "http://%s:%u/", name, port) < 0 ||
	    snprintf(d->host, sizeof(d->host), "%s:%u", name, port) < 0 ||
	    snprintf(d->host_alt, sizeof(d->host_alt), "localhost:%u", port) < 0 ||
	    snprintf(d->cookie, sizeof(d->cookie), "chartsync_desk_%u", port) < 0)
		return chs_error_set(CHS_ERROR, "cannot format the desk's address");
	return 0;
}

static int start_daemon(chs_desk *d, const listen_addr *a, const char *listen)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	const struct sockaddr *sa;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;

	memset(&v4, 0, sizeof(v4));
	memset(&v6, 0, sizeof(v6));
	if (a->v6) {
		v6.sin6_family = AF_INET6;
		v6.sin6_port = htons((uint16_t)a->port);
		v6.sin6_addr = in6addr_loopback;
		sa = (const struct sockaddr *)&v6;
		flags |= MHD_USE_IPv6;
	} else {
		v4.sin_family = AF_INET;
		v4.sin_port = htons((uint16_t)a->port);
		v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa = (const struct sockaddr *)&v4;
	}
	d->mhd = MHD_start_daemon(flags, (uint16_t)a->port, NULL, NULL, on_request, d,
				  MHD_OPTION_SOCK_ADDR, sa,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_MAX,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
				  MHD_OPTION_END);
	if (!d->mhd)
		return chs_error_set(CHS_EIO, "cannot listen on '%s': the port is taken, or this"
				     " computer does not have the address; choose another with"
				     " --listen 127.0.0.1:PORT", listen);
	info = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port)
		return chs_error_set(CHS_EIO, "cannot tell which port the desk listens on");
	return set_addresses(d, a, info->port);
}

int chs_desk_start(chs_desk **out, const chs_desk_opts *opts)
{
	chs_desk *d = NULL;
	listen_addr a;
	const char *listen;
	int err, locked = 0;

	CHS_ASSERT_ARG(out && opts && opts->store_dir);
	*out = NULL;
	listen = opts->listen ? opts->listen : DEFAULT_LISTEN;
	if ((err = parse_listen(listen, &a)) < 0 || (err = chs_store_probe(opts->store_dir)) < 0 ||
	    (err = chs_crypto_init()) < 0)
		return err;
	if (!(d = chs_calloc(1, sizeof(*d))) || !(d->store_dir = chs_strdup(opts->store_dir))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto cleanup;
	}
	if (pthread_mutex_init(&d->lock, NULL) != 0) {
		err = chs_error_set(CHS_ERROR, "cannot make the desk's lock");
		goto cleanup;
	}
	locked = 1;
	if ((err = start_daemon(d, &a, listen)) < 0)
		goto cleanup;
	*out = d;
	return 0;
cleanup:
	if (d && d->mhd)
		MHD_stop_daemon(d->mhd);
	if (locked)
		pthread_mutex_destroy(&d->lock);
	if (d)
		free(d->store_dir);
	free(d);
	return err;
}

const char *chs_desk_url(const chs_desk *d)
{
	return d->url;
}

void chs_desk_tick(chs_desk *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	desk_session_expire(d);
	pthread_mutex_unlock(&d->lock);
}

void chs_desk_stop(chs_desk *d)
{
	if (!d)
		return;
	/* the server first: once it has stopped (its thread joined) no
	 * request is under way and none can come, so the sessions end with
	 * no page racing them, and no sign-in can add a session after they
	 * have ended (desk.h) */
	MHD_stop_daemon(d->mhd);
	desk_session_stop_all(d);
	pthread_mutex_destroy(&d->lock);
	chs_wipe(d->gone, sizeof(d->gone));
	free(d->store_dir);
	free(d);
}
