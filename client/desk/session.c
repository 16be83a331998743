/*
 * client/desk/session.c - the people signed in to the desk: each one's
 * store, opened as them, their idle clock, and the access events of the
 * pages they have open.
 *
 * Everything here runs with the desk's mutex held (desk_int.h).
 *
 * An access event is what the store keeps of who saw which chart: one
 * that cannot be written when its page is left (the store's write lock
 * held past its wait by a sync, a full disk) is not dropped. It is kept
 * with its session, tried again at the next request or tick, and what is
 * still not written when the desk stops is printed on standard error
 * (the desk's terminal), for a technician to note by hand.
 */
#include "desk_int.h"

#include "client/text/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* desk.idle's bounds are the setting's own (client/store/config.c); the
 * default stands in for a value that somehow does not parse. */
#define IDLE_DEFAULT_MIN 15
/* After an event could not be written, wait this long before the next
 * try: each try may wait the store's whole busy timeout with the desk's
 * lock held. */
#define RETRY_MS 5000

int64_t desk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void desk_token(char out[DESK_TOKEN_HEX])
{
	unsigned char raw[(DESK_TOKEN_HEX - 1) / 2];

	chs_random(raw, sizeof(raw));
	chs_hex(out, raw, sizeof(raw));
	chs_wipe(raw, sizeof(raw));
}

/* A token as a request carries it, against one we hold: the length is
 * no secret, the digits are compared in constant time. */
static int token_is(const char *held, const char *given)
{
	return given && strlen(given) == DESK_TOKEN_HEX - 1 &&
	       chs_equal(held, given, DESK_TOKEN_HEX - 1);
}

/* desk.idle is whole minutes (the setting refuses anything else). */
static int read_idle_minutes(chs_store *s, long *minutes)
{
	char *v = NULL, *end;
	int err;
	long n;

	if ((err = chs_config_get(s, "desk.idle", &v)) < 0)
		return err;
	errno = 0;
	n = strtol(v, &end, 10);
	*minutes = (!*v || *end || errno || n < 1) ? IDLE_DEFAULT_MIN : n;
	free(v);
	return 0;
}

int desk_session_sign_in(chs_desk *d, const char *user, const char *pass, size_t passlen,
			 desk_session **out)
{
	chs_store *s = NULL;
	desk_session *ss = NULL;
	long minutes = IDLE_DEFAULT_MIN;
	int err;

	CHS_ASSERT_ARG(d && user && pass && out);
	*out = NULL;
	if ((err = chs_store_open(&s, d->store_dir, user, pass, passlen)) < 0)
		goto cleanup;
	if (chs_store_user_is_service(s)) {
		/* a service user's passphrase sits in a file for a program:
		 * a person never works under it */
		err = chs_error_set(CHS_EDENIED, "'%s' is the sign-in of a program (a service"
				    " user), not of a person: sign in with your own name", user);
		goto cleanup;
	}
	if ((err = read_idle_minutes(s, &minutes)) < 0)
		goto cleanup;
	if (!(ss = chs_calloc(1, sizeof(*ss)))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto cleanup;
	}
	desk_token(ss->token);
	desk_token(ss->csrf);
	ss->store = s;
	s = NULL;
	ss->idle_ms = (int64_t)minutes * 60 * 1000;
	ss->last_ms = desk_now_ms();
	ss->next = d->sessions;
	d->sessions = ss;
	*out = ss;
cleanup:
	chs_store_free(s);
	return err;
}

/* Remember that `ss` ran out, so its cookie's next request says so. */
static void remember_gone(chs_desk *d, const desk_session *ss)
{
	size_t i = d->gone_next++ % DESK_GONE_MAX;

	memcpy(d->gone[i].token, ss->token, DESK_TOKEN_HEX);
	d->gone[i].minutes = (int)(ss->idle_ms / 60000);
}

int desk_session_gone(chs_desk *d, const char *token)
{
	size_t i;

	for (i = 0; i < DESK_GONE_MAX; i++)
		if (d->gone[i].minutes > 0 && token_is(d->gone[i].token, token))
			return d->gone[i].minutes;
	return 0;
}

static int idle_over(const desk_session *ss, int64_t now)
{
	return now - ss->last_ms >= ss->idle_ms;
}

desk_session *desk_session_find(chs_desk *d, const char *token)
{
	desk_session *ss;
	int64_t now = desk_now_ms();

	if (!token)
		return NULL;
	for (ss = d->sessions; ss; ss = ss->next) {
		if (ss->ended || !token_is(ss->token, token))
			continue;
		if (idle_over(ss, now)) {
			remember_gone(d, ss);
			desk_session_end(d, ss);
			return NULL;
		}
		ss->last_ms = now;
		return ss;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Writing the access events                                            */

/* `s` as one safe line for the terminal (a user name is the store's, but
 * a terminal shows it raw otherwise). */
static void safe_line(char *out, size_t outlen, const char *s)
{
	chs_buf b;

	chs_buf_init(&b, CHS_BUF_MAX_DEFAULT);
	if (chs_text_escape(&b, s ? s : "", strlen(s ? s : ""), CHS_TEXT_LINE) < 0 || !b.ptr)
		snprintf(out, outlen, "?");
	else
		snprintf(out, outlen, "%.*s", (int)b.len, b.ptr);
	chs_buf_dispose(&b);
}

static void utc(char out[32], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, 32, "?");
}

/* Say on standard error what became of the event of `u`: `what` is the
 * sentence's end, `why` the store's error or NULL. */
static void tell(const desk_session *ss, const desk_unwritten *u, const char *what,
		 const char *why)
{
	char user[128], opened[32], left[32];

	safe_line(user, sizeof(user), chs_store_user(ss->store));
	utc(opened, u->opened);
	utc(left, u->left);
	fprintf(stderr, "chartsync desk: the access event of %s's page %s (open from %s to %s) %s%s%s\n",
		user, u->page[0] ? u->page : "(unnamed)", opened, left, what, why ? ": " : "",
		why ? why : "");
	fflush(stderr);
}

/* Why the store did not take a write: chs_access_begin()'s message, but
 * for its opening words, which are a page's ("so nothing is shown"). */
static const char *why_not(void)
{
	static const char page_words[] = "this access could not be recorded, so nothing is shown: ";
	const char *m = chs_error_last();

	return strncmp(m, page_words, sizeof(page_words) - 1) == 0 ? m + sizeof(page_words) - 1 : m;
}

/* Write `a`'s event: 0 when written (`a` is gone), 1 when the store did
 * not take it now (`a` is kept, chs_error_last() says why): an event is
 * never dropped because the store was busy or its disk full. */
static int try_write(chs_store *s, chs_access *a)
{
	return chs_access_write(s, a) == 0 ? 0 : 1;
}

/* Keep `u` for another try; 0, or CHS_ENOMEM (`u`'s event then dropped,
 * and said). */
static int keep_unwritten(desk_session *ss, const desk_unwritten *u)
{
	int err;

	if ((err = CHS_ARRAY_GROW(ss->unwritten, ss->unwritten_cap, ss->nunwritten + 1)) < 0) {
		tell(ss, u, "could not be kept for another try and is not recorded",
		     "out of memory");
		chs_access_free(u->access);
		return err;
	}
	ss->unwritten[ss->nunwritten++] = *u;
	return 0;
}

/* `v`'s page was left now: what waits to be written for it. */
static void left_now(desk_unwritten *u, const desk_view *v)
{
	memset(u, 0, sizeof(*u));
	u->access = v->access;
	/* its time on screen ends now, however much later it is written */
	chs_access_end(u->access);
	memcpy(u->page, v->page, sizeof(u->page));
	u->opened = v->opened;
	u->left = (int64_t)time(NULL);
}

/* Write the event of a page just left, or keep it for another try. The
 * page was left already, so a failure is not its to show: 0, or
 * CHS_ENOMEM when it could not even be kept (said on standard error). */
static int settle(desk_session *ss, const desk_view *v)
{
	desk_unwritten u;
	int rc;

	left_now(&u, v);
	if (ss->nunwritten > 0)
		rc = 1; /* the older ones go first, and the store was busy */
	else
		rc = try_write(ss->store, u.access);
	if (rc == 0)
		return 0;
	if (ss->nunwritten == 0) {
		tell(ss, &u, "could not be recorded yet; the desk keeps it and tries again every"
		     " few seconds (is a sync holding the store, or is its disk full?)",
		     why_not());
		u.told = 1;
		ss->retry_ms = desk_now_ms() + RETRY_MS;
	}
	return keep_unwritten(ss, &u);
}

/* Try the kept events again, oldest first, up to the first the store
 * does not take now. `last`: the desk stops, this is the last try. */
static void retry_unwritten(desk_session *ss, int64_t now, int last)
{
	size_t done = 0;
	int rc = 0;

	if (ss->nunwritten == 0 || (!last && now < ss->retry_ms))
		return;
	while (done < ss->nunwritten) {
		desk_unwritten *u = &ss->unwritten[done];

		if ((rc = try_write(ss->store, u->access)) == 1)
			break;
		if (u->told)
			tell(ss, u, "is recorded now, after waiting for the store", NULL);
		done++;
	}
	memmove(ss->unwritten, ss->unwritten + done,
		(ss->nunwritten - done) * sizeof(ss->unwritten[0]));
	ss->nunwritten -= done;
	if (ss->nunwritten > 0 && !last) {
		if (!ss->unwritten[0].told) {
			tell(ss, &ss->unwritten[0], "could not be recorded yet; the desk keeps it and"
			     " tries again every few seconds (is a sync holding the store, or is"
			     " its disk full?)", why_not());
			ss->unwritten[0].told = 1;
		}
		ss->retry_ms = now + RETRY_MS;
	}
}

/* Drop view `i` from the list and write its access event (or keep it). */
static int close_view(desk_session *ss, size_t i)
{
	desk_view v = ss->views[i];

	memmove(&ss->views[i], &ss->views[i + 1], (ss->nviews - i - 1) * sizeof(ss->views[0]));
	ss->nviews--;
	memset(&ss->views[ss->nviews], 0, sizeof(ss->views[0]));
	return settle(ss, &v);
}

static void session_free(chs_desk *d, desk_session *ss)
{
	desk_session **pp;

	for (pp = &d->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == ss) {
			*pp = ss->next;
			break;
		}
	}
	free(ss->unwritten);
	chs_store_free(ss->store);
	chs_wipe(ss, sizeof(*ss));
	free(ss);
}

void desk_session_end(chs_desk *d, desk_session *ss)
{
	if (!ss)
		return;
	while (ss->nviews > 0)
		(void)close_view(ss, 0);
	if (ss->nunwritten > 0) {
		/* nobody finds it again; its store stays open only to write
		 * the events it still holds */
		ss->ended = 1;
		chs_wipe(ss->token, sizeof(ss->token));
		chs_wipe(ss->csrf, sizeof(ss->csrf));
		return;
	}
	session_free(d, ss);
}

void desk_session_expire(chs_desk *d)
{
	desk_session *ss, *next;
	int64_t now = desk_now_ms();

	for (ss = d->sessions; ss; ss = next) {
		next = ss->next;
		retry_unwritten(ss, now, 0);
		if (ss->ended) {
			if (ss->nunwritten == 0)
				session_free(d, ss);
		} else if (idle_over(ss, now)) {
			remember_gone(d, ss);
			desk_session_end(d, ss);
		}
	}
}

void desk_session_stop_all(chs_desk *d)
{
	desk_session *ss;
	desk_unwritten u;
	size_t i;

	while ((ss = d->sessions)) {
		/* every page still open is left now: its event joins those
		 * waiting (after them: the oldest goes first), and each gets
		 * a last try, up to the first the store does not take */
		while (ss->nviews > 0) {
			left_now(&u, &ss->views[0]);
			memmove(&ss->views[0], &ss->views[1], --ss->nviews * sizeof(ss->views[0]));
			(void)keep_unwritten(ss, &u);
		}
		retry_unwritten(ss, 0, 1);
		for (i = 0; i < ss->nunwritten; i++) {
			tell(ss, &ss->unwritten[i], "is NOT recorded: the desk stops without it;"
			     " note by hand that the page was seen then (the access report lacks"
			     " it)", i == 0 ? why_not() : NULL);
			chs_access_free(ss->unwritten[i].access);
		}
		ss->nunwritten = 0;
		session_free(d, ss);
	}
}

void desk_session_note_page(desk_session *ss, const char *view, const char *path)
{
	size_t i;

	for (i = 0; ss && view && path && i < ss->nviews; i++)
		if (token_is(ss->views[i].token, view))
			snprintf(ss->views[i].page, sizeof(ss->views[i].page), "%s", path);
}

int desk_session_keep_view(desk_session *ss, chs_access *a, char token_out[DESK_TOKEN_HEX])
{
	CHS_ASSERT_ARG(ss && a && token_out);
	/* a person who opens page after page without leaving any (a
	 * browser that never sends the beacon) keeps DESK_VIEWS_MAX open:
	 * the oldest is taken as left; its event's failure is not the new
	 * page's */
	if (ss->nviews == DESK_VIEWS_MAX)
		(void)close_view(ss, 0);
	memset(&ss->views[ss->nviews], 0, sizeof(ss->views[0]));
	desk_token(ss->views[ss->nviews].token);
	ss->views[ss->nviews].access = a;
	ss->views[ss->nviews].opened = (int64_t)time(NULL);
	memcpy(token_out, ss->views[ss->nviews].token, DESK_TOKEN_HEX);
	ss->nviews++;
	return 0;
}

int desk_session_leave(desk_session *ss, const char *view)
{
	size_t i;

	CHS_ASSERT_ARG(ss);
	for (i = 0; i < ss->nviews; i++)
		if (token_is(ss->views[i].token, view))
			return close_view(ss, i);
	return 0;
}
