/*
 * Settings kept inside the encrypted store, and the status summary.
 *
 * Every setting is declared in one table below with its default and its
 * check, so `chartsync config` can list them and refuse unknown keys.
 */
#include "store_int.h"
#include "client/text/text.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SETTING_MAX 256 /* bytes */

typedef struct setting {
	chs_config_key key;
	char *(*fallback)(void);         /* default; malloc'ed */
	int (*check)(const char *value); /* CHS_EINVALID with a message */
} setting;

static char *host_name(void)
{
	char name[256];

	if (gethostname(name, sizeof(name)) < 0)
		return chs_util__strdup("terminal");
	name[sizeof(name) - 1] = '\0';
	return chs_util__strdup(name);
}

/* The terminal's name goes into every change made here and is shown at
 * every other site: one line of printable text, as a record's text is. */
static int check_terminal(const char *v)
{
	size_t len = strlen(v);

	if (len == 0 || chs_text_is_blank(v, len))
		return chs_error_set(CHS_EINVALID,
				     "terminal.name must be 1 to 64 characters, not blank");
	return chs_text_check(v, len, CHS_TEXT_LINE, 64, "terminal.name");
}

static char *empty(void)
{
	return chs_util__strdup("");
}

/* An archive address: a path, or a URL git understands (file://, git://,
 * ssh://, user@host:path, https://). Whether it answers is sync's call. */
static int check_remote(const char *v)
{
	size_t i;

	for (i = 0; v[i]; i++)
		if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
			return chs_error_set(CHS_EINVALID,
					     "an archive address has no spaces or control characters");
	if (strncmp(v, "http://", 7) == 0)
		return chs_error_set(CHS_EINVALID,
				     "http:// would send the archive's traffic in the clear; use https://");
	return 0;
}

static const setting settings[] = {
	{ { "remote.url",
	    "the archive this store syncs with (set with 'chartsync remote URL')" },
	  empty, check_remote },
	{ { "terminal.name",
	    "the name of this terminal, recorded with every change (default: the host name)" },
	  host_name, check_terminal },
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

const chs_config_key *chs_config_keys(void)
{
	static chs_config_key keys[NSETTINGS + 1];
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		keys[i] = settings[i].key;
	return keys;
}

static const setting *find_setting(const char *key)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].key.name, key) == 0)
			return &settings[i];
	chs_error_set(CHS_ENOTFOUND,
		      "unknown setting '%s' (see 'chartsync config --list')", key);
	return NULL;
}

int chs_config_get(chs_store *s, const char *key, char **out)
{
	const setting *set;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(key);
	CHS_ASSERT_ARG(out);

	set = find_setting(key);
	*out = NULL;
	if (!set)
		return CHS_ENOTFOUND;
	err = chs_store__get_text(s, "SELECT value FROM settings WHERE key = ?",
				  key, out);
	if (err != CHS_ENOTFOUND)
		return err;
	chs_error_clear();
	*out = set->fallback();
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}

int chs_store__config_put(chs_store *s, const char *key, const char *value)
{
	const setting *set = find_setting(key);
	sqlite3_stmt *st = NULL;
	int err, rc;

	if (!set)
		return CHS_ENOTFOUND;
	if (strlen(value) > SETTING_MAX)
		return chs_error_set(CHS_EINVALID, "the value for '%s' is too long",
				     key);
	if ((err = set->check(value)) < 0)
		return err;
	if ((err = chs_store__prepare(s, &st,
		     "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, key)) < 0 ||
	    (err = chs_store__bind_text(s, st, 2, value)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving a setting");
}

int chs_config_set(chs_store *s, const char *key, const char *value)
{
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(key);

	if (!find_setting(key))
		return CHS_ENOTFOUND;
	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = chs_store__config_put(s, key, value)) < 0) {
		chs_store__rollback(s);
		return err;
	}
	return chs_store__commit(s);
}

const char *chs_login_name(void)
{
	static char name[CHS_USER_NAME_MAX + 1];
	struct passwd *pw = getpwuid(geteuid());
	const char *n = pw && pw->pw_name ? pw->pw_name : getenv("USER");

	if (!n || !*n)
		n = "unknown";
	snprintf(name, sizeof(name), "%s", n);
	return name;
}

/* All records less the removed ones: a plain count(*) SQLite takes from
 * the smallest index, and the removed ones from their own (schema 4);
 * "WHERE NOT deleted" read every record of the store. */
static int live_records(chs_store *s, int64_t *n)
{
	int64_t all = 0, removed = 0;
	int err;

	if ((err = chs_store__get_int(s, "SELECT count(*) FROM records", &all)) < 0 ||
	    (err = chs_store__get_int(s, "SELECT count(*) FROM records WHERE deleted",
				      &removed)) < 0)
		return err;
	*n = all - removed;
	return 0;
}

int chs_store_status(chs_store *s, chs_status *out)
{
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(out);

	memset(out, 0, sizeof(*out));
	out->path = s->dir;
	out->user = s->user;
	out->admin = s->admin;
	out->device_id = s->device_id;
	out->store_id = s->store_id;
	if ((err = chs_config_get(s, "terminal.name", &out->terminal)) < 0 ||
	    (err = chs_store__get_int(s, "SELECT count(*) FROM users",
				      &out->users)) < 0 ||
	    (err = live_records(s, &out->records)) < 0 ||
	    (err = chs_store__get_int(s, "SELECT count(*) FROM changes",
				      &out->changes)) < 0 ||
	    (err = chs_store__get_int(s, "SELECT coalesce((SELECT CAST(value AS INTEGER)"
					 " FROM meta WHERE key = 'checked'), 0)",
				      &out->checked)) < 0) {
		chs_status_dispose(out);
		return err;
	}
	return 0;
}

void chs_status_dispose(chs_status *st)
{
	if (!st)
		return;
	free(st->terminal);
	st->terminal = NULL;
}
