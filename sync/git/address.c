/*
 * sync/git/address.c - an archive's address as messages and logs show
 * it: the secret a person may have written into it (an https password or
 * access token) masked. Calls nothing else in sync/git/.
 */
#include "git_int.h"

#include <stdio.h>
#include <string.h>

/* 1 when the scheme of the address `url` (up to "://") is ssh's: its
 * userinfo is a login name and nothing else (the key is elsewhere). */
static int ssh_scheme(const char *url, size_t scheme_len)
{
	static const char *const ssh[] = { "ssh", "git+ssh", "ssh+git" };
	size_t i;

	for (i = 0; i < sizeof(ssh) / sizeof(*ssh); i++)
		if (scheme_len == strlen(ssh[i]) && strncmp(url, ssh[i], scheme_len) == 0)
			return 1;
	return 0;
}

/*
 * The userinfo of `url` (the first `len` bytes) is what lies between
 * "://" and the last '@' before the path. It is shown as
 *   USER:***   when it holds a password (https://ann:TOKEN@host/...)
 *   ***        when it is one word, on anything but ssh: git hosts take
 *              an access token alone as the user name
 *              (https://TOKEN@host/...), which cannot be told from a
 *              name, so it is masked too
 * and an ssh login (ssh://git@host/..., git@host:path) is shown as is.
 * Writes the shown address into out (always terminated); returns the
 * length it would have.
 */
static size_t shown(char *out, size_t cap, const char *url, size_t len)
{
	const char *end = url + len, *scheme = NULL, *auth = NULL, *at = NULL, *colon, *p;
	size_t n;

	for (p = url; p + 3 <= end; p++)
		if (memcmp(p, "://", 3) == 0) {
			scheme = p;
			break;
		}
	if (scheme) {
		auth = scheme + 3;
		for (p = auth; p < end && *p != '/' && *p != '?' && *p != '#'; p++)
			if (*p == '@')
				at = p;
	}
	if (!at)
		return (size_t)snprintf(out, cap, "%.*s", (int)len, url);
	colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon)
		n = (size_t)snprintf(out, cap, "%.*s:***", (int)(colon - url), url);
	else if (ssh_scheme(url, (size_t)(scheme - url)))
		n = (size_t)snprintf(out, cap, "%.*s", (int)(at - url), url);
	else
		n = (size_t)snprintf(out, cap, "%.*s***", (int)(auth - url), url);
	return n + (size_t)snprintf(out + (n < cap ? n : cap), n < cap ? cap - n : 0, "%.*s",
				    (int)(end - at), at);
}

const char *chs_git_shown_address(const char *url, char *buf, size_t len)
{
	if (!buf || len == 0)
		return "";
	if (!url) {
		snprintf(buf, len, "(no address)");
		return buf;
	}
	shown(buf, len, url, strlen(url));
	return buf;
}

/* 1 for a byte that can end an address quoted inside libgit2's words
 * ("malformed URL 'https://...'", "... at https://...: 401"). */
static int ends_address(char c)
{
	return c == '\0' || c == ' ' || c == '\'' || c == '"' || c == '\t' || c == '\n' ||
	       c == '\r' || c == '`' || c == '<' || c == '>';
}

void chs_git__scrub(char *out, size_t cap, const char *text, const char *url)
{
	char mask[1024];
	const char *p = text ? text : "", *s, *hit;
	size_t n = 0, ulen = url ? strlen(url) : 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (ulen)
		chs_git_shown_address(url, mask, sizeof(mask));
	while (*p && n + 1 < cap) {
		/* the address the sync was given, wherever it appears */
		if (ulen && strncmp(p, url, ulen) == 0) {
			n += (size_t)snprintf(out + n, cap - n, "%s", mask);
			p += ulen;
			continue;
		}
		/* any other address with a userinfo: from its scheme to its end */
		hit = strstr(p, "://");
		if (hit == p || !hit || (ulen && (s = strstr(p, url)) && s < hit)) {
			out[n++] = *p++;
			out[n] = '\0';
			continue;
		}
		for (s = hit; s > p && (s[-1] == '+' || s[-1] == '-' || s[-1] == '.' ||
					(s[-1] >= 'a' && s[-1] <= 'z') ||
					(s[-1] >= 'A' && s[-1] <= 'Z') ||
					(s[-1] >= '0' && s[-1] <= '9'));
		     s--)
			;
		if (s > p) { /* the text before the address, as is */
			size_t k = (size_t)(s - p);

			n += (size_t)snprintf(out + n, cap - n, "%.*s", (int)k, p);
			p = s;
			continue;
		}
		for (s = hit + 3; !ends_address(*s); s++)
			;
		{
			size_t want = shown(out + n, cap - n, p, (size_t)(s - p));

			n += want < cap - n ? want : cap - n - 1;
		}
		p = s;
	}
	if (n >= cap)
		out[cap - 1] = '\0';
}
