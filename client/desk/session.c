/*
 * client/desk/session.c - the people signed in to the desk: each one's
 * store, opened as them, their idle clock, and the access events of the
 * pages they have open.
 *
 * Everything here runs with the desk's mutex held (desk_int.h).
 */
#include "desk_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* desk.idle's bounds are the setting's own (client/store/config.c); the
 * default stands in for a value that somehow does not parse. */
#define IDLE_DEFAULT_MIN 15

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
	if (!(ss = calloc(1, sizeof(*ss)))) {
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
		if (!token_is(ss->token, token))
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

/* Write view `i`'s access event and drop it from the list. The event's
 * failure is not the page's to report (it was left already): the error
 * is returned for a caller that can say it. */
static int close_view(desk_session *ss, size_t i)
{
	int err = chs_access_close(ss->store, ss->views[i].access);

	memmove(&ss->views[i], &ss->views[i + 1], (ss->nviews - i - 1) * sizeof(ss->views[0]));
	ss->nviews--;
	memset(&ss->views[ss->nviews], 0, sizeof(ss->views[0]));
	return err;
}

void desk_session_end(chs_desk *d, desk_session *ss)
{
	desk_session **pp;

	if (!ss)
		return;
	while (ss->nviews > 0)
		(void)close_view(ss, ss->nviews - 1);
	for (pp = &d->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == ss) {
			*pp = ss->next;
			break;
		}
	}
	chs_store_free(ss->store);
	chs_wipe(ss, sizeof(*ss));
	free(ss);
}

void desk_session_expire(chs_desk *d)
{
	desk_session *ss, *next;
	int64_t now = desk_now_ms();

	for (ss = d->sessions; ss; ss = next) {
		next = ss->next;
		if (idle_over(ss, now)) {
			remember_gone(d, ss);
			desk_session_end(d, ss);
		}
	}
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
	desk_token(ss->views[ss->nviews].token);
	ss->views[ss->nviews].access = a;
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
