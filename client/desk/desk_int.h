/*
 * client/desk/desk_int.h - the desk's parts, for its own files only.
 *
 * server.c is the only file that sees libmicrohttpd: it turns a request
 * into a desk_req (method, path, query and form arguments, the session
 * its cookie names), checks what every request must pass (the Host
 * header, the session, the CSRF token of a POST), calls the page the path
 * names, and sends the desk_resp the page filled with the headers every
 * response carries. Pages (page_*.c) render HTML into the response with
 * the helpers of html.c and never see HTTP. Sessions (session.c) hold
 * each signed-in person's store and the access events of the pages they
 * have open.
 *
 * Every request runs on libmicrohttpd's one thread; the desk's mutex
 * is held while a request is handled and while chs_desk_tick() ends
 * idle sessions from the thread that started the desk.
 */
#ifndef CHS_CLIENT_DESK_DESK_INT_H
#define CHS_CLIENT_DESK_DESK_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "client/desk/desk.h"
#include "client/audit/audit.h"
#include "client/store/store.h"
#include "crypto/crypto.h"

/* Tokens (session, CSRF, page view): 32 random bytes as 64 hex. */
#define DESK_TOKEN_HEX 65
/* Pages a session may hold open (their access events waiting); the
 * oldest is closed when more are opened. */
#define DESK_VIEWS_MAX 64
/* A form's largest field, and the most fields a form may have. */
#define DESK_FORM_VALUE_MAX (64 * 1024)
#define DESK_FORM_FIELDS_MAX 256
/* Sessions that ran out whose cookie the desk still recognises. */
#define DESK_GONE_MAX 16

/* ------------------------------------------------------------------ */
/* Sessions (session.c)                                                 */

typedef struct desk_view {
	char token[DESK_TOKEN_HEX]; /* names the page in its /leave beacon */
	chs_access *access;         /* what it showed; written when left */
	char page[96];              /* its path, for a message about it */
	int64_t opened;             /* wall clock seconds */
} desk_view;

/* An access event that could not be written when its page was left (the
 * store's write lock held past its wait by a sync, say): kept, and tried
 * again at the next request or tick, and a last time when the desk
 * stops; what is still not written then is printed on standard error. */
typedef struct desk_unwritten {
	chs_access *access;
	char page[96];
	int64_t opened, left;       /* wall clock seconds */
	int told;                   /* its delay was said on standard error */
} desk_unwritten;

typedef struct desk_session {
	char token[DESK_TOKEN_HEX]; /* the cookie's value */
	char csrf[DESK_TOKEN_HEX];  /* every form carries it */
	chs_store *store;           /* opened as the person who signed in */
	int64_t last_ms;            /* monotonic ms of their last request */
	int64_t idle_ms;            /* desk.idle, read at sign-in */
	desk_view views[DESK_VIEWS_MAX];
	size_t nviews;
	desk_unwritten *unwritten;  /* events waiting for the store */
	size_t nunwritten, unwritten_cap;
	int64_t retry_ms;           /* monotonic ms of the next try */
	int ended;                  /* signed out or ran out: no request
				     * finds it; it stays only until its
				     * unwritten events are written */
	struct desk_session *next;
} desk_session;

struct chs_desk {
	pthread_mutex_t lock;
	char *store_dir;
	char url[128];
	char host[96];           /* what a Host header must say: "127.0.0.1:PORT" */
	char host_alt[96];       /* and the other loopback name, "localhost:PORT" */
	char cookie[40];         /* the session cookie's name, "chartsync_desk_PORT":
				  * a browser keeps cookies per host, not per
				  * port, so two desks on one computer each
				  * need their own */
	void *mhd;               /* struct MHD_Daemon, server.c's */
	desk_session *sessions;
	/* sessions that ran out lately: the next request with their cookie
	 * is sent to /signin?expired=1, which says after how long */
	struct {
		char token[DESK_TOKEN_HEX];
		int minutes;
	} gone[DESK_GONE_MAX];
	size_t gone_next;
};

/* Monotonic milliseconds. */
int64_t desk_now_ms(void);
/* 32 random bytes as 64 hex digits and a NUL. */
void desk_token(char out[DESK_TOKEN_HEX]);
/* Sign `user` in with `pass`: opens the store as them (chs_store_open's
 * check; CHS_EAUTH, its message naming neither which was wrong), refuses
 * a service user (CHS_EDENIED), reads desk.idle, and adds the session. */
int desk_session_sign_in(chs_desk *d, const char *user, const char *pass, size_t passlen,
			 desk_session **out);
/* The live session whose token is `token` (compared in constant time),
 * its idle clock restarted; NULL when none (or it has just expired: it
 * is ended then). */
desk_session *desk_session_find(chs_desk *d, const char *token);
/* The idle minutes after which the session `token` named ran out
 * lately; 0 when it did not. */
int desk_session_gone(chs_desk *d, const char *token);
/* End a session: close every view it holds (their events written),
 * close its store, unlink and free it. An event that cannot be written
 * now keeps the ended session (its store, no longer found by its cookie)
 * until desk_session_expire() writes it. */
void desk_session_end(chs_desk *d, desk_session *ss);
/* End every session idle past its time, and try again the access events
 * that could not be written before. */
void desk_session_expire(chs_desk *d);
/* When the desk stops (no request can come any more): end every
 * session, try each unwritten event a last time, print on standard
 * error what still could not be recorded, free them all. */
void desk_session_stop_all(chs_desk *d);
/* Name the page that holds view `view` (its path) for the messages. */
void desk_session_note_page(desk_session *ss, const char *view, const char *path);
/* Hand a page's access to the session: it is written when the page is
 * left (desk_session_leave) or the session ends. `token_out` names it
 * for the page's beacon. Takes `a` in every case. */
int desk_session_keep_view(desk_session *ss, chs_access *a, char token_out[DESK_TOKEN_HEX]);
/* The page `view` was left: write its access event. 0 when it was not
 * held (already closed). */
int desk_session_leave(desk_session *ss, const char *view);

/* ------------------------------------------------------------------ */
/* Requests and responses (server.c fills and sends them)               */

typedef struct desk_kv {
	char *name;
	char *value;
} desk_kv;

typedef struct desk_req {
	chs_desk *desk;
	desk_session *session; /* NULL when nobody is signed in; the sign-in
				* page sets it (the server then sends the
				* cookie) and sign-out clears it (the
				* cookie is cleared) */
	int gone_minutes;      /* the cookie named a session that ran out
				* after this many idle minutes; else 0 */
	int post;              /* 1: POST (its CSRF token already checked) */
	const char *path;      /* "/review/0a1b...", no query */
	desk_kv *query;        /* the query string's arguments, decoded */
	size_t nquery;
	desk_kv *form;         /* a POST's form fields, decoded */
	size_t nform;
} desk_req;

/* The value of query argument / form field `name`; NULL when absent. */
const char *desk_arg(const desk_req *rq, const char *name);
const char *desk_form(const desk_req *rq, const char *name);

typedef struct desk_resp {
	int status;               /* 200 unless set */
	const char *content_type; /* NULL: text/html; charset=utf-8 */
	chs_buf body;
	char location[512];       /* non-empty: a 303 to here */
	char filename[128];       /* non-empty: a download, by this name */
	char view[DESK_TOKEN_HEX];/* non-empty: the page's access view */
	int err;                  /* sticky: the first failure writing body */
} desk_resp;

/* A page: fill `rs` and return 0, or return a CHS_E* code with
 * chs_error_last() saying what went wrong in a person's words; the server
 * renders that as an error page (404 for CHS_ENOTFOUND, 403 for
 * CHS_EDENIED and CHS_EAUTH, 400 for CHS_EINVALID and CHS_EAMBIGUOUS, 409
 * for CHS_EREVIEW and CHS_EEXISTS, else 500). A page is called only
 * with a session, but for the sign-in page. */
typedef int (*desk_page_fn)(desk_req *rq, desk_resp *rs);

/* ------------------------------------------------------------------ */
/* HTML (html.c)                                                        */
/*
 * Everything from a record, a user, a terminal or a site goes out through
 * desk_text() or desk_value(), escaped for HTML text and attributes alike
 * (& < > " '), with control characters and bidirectional overrides shown
 * as escapes (chs_text_escape), never raw. desk_put() and desk_printf()
 * are for the page's own markup, ids (hex) and numbers only.
 */
void desk_put(desk_resp *rs, const char *markup);
void desk_printf(desk_resp *rs, const char *fmt, ...) CHS_PRINTF(2, 3);
void desk_text(desk_resp *rs, const char *untrusted);
/* A field value (canonical JSON) as a person reads it: a string without
 * its quotes, a number as it is, null as an em dash, anything else as
 * its JSON; escaped as desk_text. A value that holds lines keeps them
 * (the page's CSS shows them). */
void desk_value(desk_resp *rs, const char *json);
/* A time (ISO 8601 UTC, as records hold them) as "2024-03-15 09:30:12
 * UTC" inside a <time datetime=...> element. */
void desk_time(desk_resp *rs, const char *iso);
/* The page's head, header (who is signed in, the navigation, the
 * sign-out form) and the opening of <main>, titled `title` (escaped). */
void desk_page_begin(desk_resp *rs, const desk_req *rq, const char *title);
/* Close <main> and the page. With rs->view set, <body> names the view so
 * desk.js reports leaving it. */
void desk_page_end(desk_resp *rs, const desk_req *rq);
/* The hidden CSRF field every form carries. */
void desk_csrf_field(desk_resp *rs, const desk_req *rq);

/* ------------------------------------------------------------------ */
/* Assets built into the binary (assets.c, generated from assets/)      */

typedef struct desk_asset {
	const char *path;         /* "/static/desk.js" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
} desk_asset;

/* The asset served at `path`, or NULL. */
const desk_asset *desk_asset_find(const char *path);

/* ------------------------------------------------------------------ */
/* Pages                                                                */

/* page_signin.c: GET/POST /signin, POST /signout, POST /leave */
int desk_page_signin(desk_req *rq, desk_resp *rs);
int desk_page_signout(desk_req *rq, desk_resp *rs);
int desk_page_leave(desk_req *rq, desk_resp *rs);

/* page_review.c:
 *   GET  /review                 the queue (?patient= &type= &site=)
 *   GET  /review/ID              one record's candidates side by side
 *   POST /review/ID/preview      the change that would be signed
 *   POST /review/ID/resolve      sign it (when the record's heads are
 *                                still those previewed), then show the
 *                                record as it is now */
int desk_page_review_queue(desk_req *rq, desk_resp *rs);
int desk_page_review_record(desk_req *rq, desk_resp *rs);
int desk_page_review_preview(desk_req *rq, desk_resp *rs);
int desk_page_review_resolve(desk_req *rq, desk_resp *rs);

/* page_history.c: GET /record/ID, the record and its history with the
 * change graph (SVG) */
int desk_page_history(desk_req *rq, desk_resp *rs);

/* page_reports.c:
 *   GET /reports/access        (?patient= &user= &terminal= &since= &until=
 *                               &format=csv)
 *   GET /reports/consistency
 *   GET /reports/coding
 *   GET /reports/sync */
int desk_page_access(desk_req *rq, desk_resp *rs);
int desk_page_consistency(desk_req *rq, desk_resp *rs);
int desk_page_coding(desk_req *rq, desk_resp *rs);
int desk_page_sync(desk_req *rq, desk_resp *rs);

/* ---------------------------------------------------------------------
 * pages.c: what the page files share, so every page answers alike
 */
#include "client/replicate/replicate.h"

/* How a value that was not recorded (a change's user, terminal...) is
 * shown on every page: an em dash. */
#define DESK_NOT_RECORDED "&#8212;"
/* The record id of `path` when it is `prefix` ("/review/"), 4 to 32 hex
 * digits in either case (given back in lowercase, as ids are stored),
 * then `suffix` ("" or "/preview"...); CHS_ENOTFOUND when it is not. */
int desk_path_id(const char *path, const char *prefix, const char *suffix, char out[33]);
/* The roster of the store's organisation; NULL (and 0) when it is in
 * none yet. */
int desk_roster_load(chs_store *s, chs_device_roster **out);
/* Device `device` on the roster (NULL when not there), and its site (""
 * when not there). */
const chs_device_info *desk_device_of(const chs_device_roster *ro, const char *device);
const char *desk_site_of(const chs_device_roster *ro, const char *device);
/* `s` as text, or DESK_NOT_RECORDED when it is NULL or "". */
void desk_text_or_dash(desk_resp *rs, const char *s);

#endif /* CHS_CLIENT_DESK_DESK_INT_H */
