/*
 * client/desk/page_signin.c - signing in and out, and the beacon a page
 * sends when it is left.
 *
 * The server sends the session's cookie when a page leaves rq->session
 * naming a session the request did not come with (a sign-in), and clears
 * it when a page leaves it NULL (a sign-out): pages never write headers.
 */
#include "desk_int.h"

#include <stdio.h>
#include <string.h>

/* The sign-in form; `user` (may be NULL) typed again after a refusal,
 * `error` (may be NULL) said above it. */
static void signin_form(desk_req *rq, desk_resp *rs, const char *user, const char *error)
{
	desk_page_begin(rs, rq, "Sign in");
	if (error) {
		desk_put(rs, "<p class=\"error\" role=\"alert\">");
		desk_text(rs, error);
		desk_put(rs, "</p>\n");
	} else if (desk_arg(rq, "expired")) {
		desk_put(rs, "<p class=\"notice\" role=\"status\">");
		if (rq->gone_minutes > 0)
			desk_printf(rs, "You were signed out after %d minute%s without use.",
				    rq->gone_minutes, rq->gone_minutes == 1 ? "" : "s");
		else
			desk_put(rs, "You were signed out after a while without use.");
		desk_put(rs, " Sign in again to go on.</p>\n");
	}
	desk_put(rs, "<form id=\"signin\" method=\"post\" action=\"/signin\">");
	desk_csrf_field(rs, rq);
	desk_put(rs, "<p><label for=\"user\">User name</label> "
		 "<input id=\"user\" name=\"user\" type=\"text\" autocomplete=\"username\" required"
		 " autofocus value=\"");
	desk_text(rs, user ? user : "");
	desk_put(rs, "\"></p>\n<p><label for=\"passphrase\">Passphrase</label> "
		 "<input id=\"passphrase\" name=\"passphrase\" type=\"password\""
		 " autocomplete=\"current-password\" required></p>\n"
		 "<p><button type=\"submit\">Sign in</button></p></form>\n"
		 "<p class=\"hint\">The user name and passphrase you use with chartsync on this"
		 " computer.</p>\n");
	desk_page_end(rs, rq);
}

int desk_page_signin(desk_req *rq, desk_resp *rs)
{
	const char *user, *pass;
	desk_session *ss = NULL;
	int err;

	if (!rq->post) {
		if (rq->session)
			snprintf(rs->location, sizeof(rs->location), "/review");
		else
			signin_form(rq, rs, NULL, NULL);
		return 0;
	}
	user = desk_form(rq, "user");
	pass = desk_form(rq, "passphrase");
	if (!user || !*user || !pass || !*pass) {
		rs->status = 400;
		signin_form(rq, rs, user, "Type your user name and your passphrase.");
		return 0;
	}
	err = desk_session_sign_in(rq->desk, user, pass, strlen(pass), &ss);
	if (err == CHS_EAUTH || err == CHS_ENOTFOUND) {
		rs->status = 403;
		signin_form(rq, rs, user, "The user name or the passphrase is wrong.");
		return 0;
	}
	if (err == CHS_EDENIED) {
		rs->status = 403;
		signin_form(rq, rs, user, chs_error_last());
		return 0;
	}
	if (err < 0)
		return err;
	/* someone signing in over a live session of their own: it ends */
	if (rq->session)
		desk_session_end(rq->desk, rq->session);
	rq->session = ss;
	snprintf(rs->location, sizeof(rs->location), "/review");
	return 0;
}

int desk_page_signout(desk_req *rq, desk_resp *rs)
{
	desk_session_end(rq->desk, rq->session);
	rq->session = NULL;
	snprintf(rs->location, sizeof(rs->location), "/signin");
	return 0;
}

int desk_page_leave(desk_req *rq, desk_resp *rs)
{
	const char *view = desk_form(rq, "view");

	rs->status = 204;
	return view ? desk_session_leave(rq->session, view) : 0;
}
