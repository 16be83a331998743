/*
 * Settings kept inside the encrypted store, and the status summary.
 *
 * Every setting is declared in one table below with its default and its
 * check, so `chartsync config` can list them and refuse unknown keys.
 */
#include "store_int.h"
#include "client/text/text.h"

#include <errno.h>
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

/* A duration: whole seconds, or a number with s, m or h ("300", "5m"). */
int chs_config_parse_seconds(const char *v, long *out)
{
	char *end;
	long n, unit = 1;

	errno = 0;
	n = strtol(v, &end, 10);
	if (end == v || n < 0 || errno)
		return CHS_EINVALID;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		unit = 60, end++;
	else if (*end == 'h')
		unit = 3600, end++;
	if (*end || n > 31L * 24 * 3600 / unit)
		return CHS_EINVALID;
	*out = n * unit;
	return 0;
}

static int check_duration(const char *v, const char *key, long min)
{
	long n;

	if (chs_config_parse_seconds(v, &n) < 0 || n < min)
		return chs_error_set(CHS_EINVALID, "%s takes a duration of at least %ld second%s:"
				     " whole seconds, or minutes or hours like 5m or 2h", key, min,
				     min == 1 ? "" : "s");
	return 0;
}

static int check_interval(const char *v) { return *v ? check_duration(v, "sync.interval", 10) : 0; }
static int check_after_write(const char *v) { return check_duration(v, "sync.after_write", 0); }
static int check_timeout(const char *v) { return check_duration(v, "sync.timeout", 5); }
static int check_settle(const char *v) { return check_duration(v, "scan.settle", 0); }
static int check_rescan(const char *v) { return check_duration(v, "scan.rescan", 10); }

static int hhmm(const char *v, int *minutes)
{
	if (!(v[0] >= '0' && v[0] <= '2' && v[1] >= '0' && v[1] <= '9' && v[2] == ':' &&
	      v[3] >= '0' && v[3] <= '5' && v[4] >= '0' && v[4] <= '9'))
		return CHS_EINVALID;
	*minutes = ((v[0] - '0') * 10 + v[1] - '0') * 60 + (v[3] - '0') * 10 + v[4] - '0';
	return *minutes < 24 * 60 ? 0 : CHS_EINVALID;
}

/* A daily window in local time, "HH:MM-HH:MM"; it may cross midnight. */
int chs_config_parse_window(const char *v, int *start, int *end)
{
	if (strlen(v) != 11 || v[5] != '-' || hhmm(v, start) < 0 || hhmm(v + 6, end) < 0 ||
	    *start == *end)
		return CHS_EINVALID;
	return 0;
}

static int check_window(const char *v)
{
	int a, b;

	if (*v && chs_config_parse_window(v, &a, &b) < 0)
		return chs_error_set(CHS_EINVALID, "sync.window takes a daily window in local time"
				     " like 01:00-04:00 (empty: none)");
	return 0;
}

static int check_bool(const char *v)
{
	if (strcmp(v, "true") && strcmp(v, "false"))
		return chs_error_set(CHS_EINVALID, "scan.keep is true or false");
	return 0;
}

/* A folder a scanner writes into: an absolute path on one line. */
static int check_folder(const char *v)
{
	if (*v && v[0] != '/')
		return chs_error_set(CHS_EINVALID, "scan.folder takes an absolute path, like"
				     " /srv/scans (empty: no hot folder)");
	return chs_text_check(v, strlen(v), CHS_TEXT_LINE, 200, "scan.folder");
}

/* backup.dir: where the service makes backups; an absolute path. */
static int check_backup_dir(const char *v)
{
	if (*v && v[0] != '/')
		return chs_error_set(CHS_EINVALID, "backup.dir takes an absolute path, like"
				     " /mnt/backups/clinic (empty: no scheduled backups)");
	return chs_text_check(v, strlen(v), CHS_TEXT_LINE, 200, "backup.dir");
}

static int check_backup_every(const char *v) { return check_duration(v, "backup.every", 60); }

static int check_backup_keep(const char *v)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < 1 || n > 10000)
		return chs_error_set(CHS_EINVALID, "backup.keep takes a whole number of backups"
				     " from 1 to 10000");
	return 0;
}

/* desk.idle: whole minutes, as the desk's sign-out after idleness is
 * spoken of. */
static int check_desk_idle(const char *v)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (!*v || *end || errno || n < 1 || n > 24 * 60)
		return chs_error_set(CHS_EINVALID, "desk.idle takes a whole number of minutes"
				     " from 1 to 1440");
	return 0;
}

static char *five_minutes(void) { return chs_util__strdup("5m"); }
static char *thirty_seconds(void) { return chs_util__strdup("30"); }
static char *one_minute(void) { return chs_util__strdup("60"); }
static char *yes(void) { return chs_util__strdup("true"); }
static char *three_seconds(void) { return chs_util__strdup("3"); }
static char *ten_minutes(void) { return chs_util__strdup("10m"); }
static char *one_day(void) { return chs_util__strdup("24h"); }
static char *fourteen(void) { return chs_util__strdup("14"); }
static char *fifteen(void) { return chs_util__strdup("15"); }

static const setting settings[] = {
	{ { "remote.url",
	    "the archive this store syncs with (set with 'chartsync remote URL')" },
	  empty, check_remote },
	{ { "terminal.name",
	    "the name of this terminal, recorded with every change (default: the host name)" },
	  host_name, check_terminal },
	{ { "sync.interval",
	    "the service syncs this often (default 5m; empty: only in sync.window)" },
	  five_minutes, check_interval },
	{ { "sync.window",
	    "a nightly window in local time when the service syncs, like 01:00-04:00 (default: none)" },
	  empty, check_window },
	{ { "sync.after_write",
	    "the service syncs this long after work is typed in here (default 30 seconds)" },
	  thirty_seconds, check_after_write },
	{ { "sync.timeout",
	    "a sync gives up on an archive silent this long (default 60 seconds)" },
	  one_minute, check_timeout },
	{ { "scan.folder",
	    "the hot folder the service takes scanned pages from (default: none)" },
	  empty, check_folder },
	{ { "scan.keep",
	    "true: a taken scan is moved to scan.folder/done; false: removed (default true)" },
	  yes, check_bool },
	{ { "scan.settle",
	    "a scan is taken once its size and time stayed the same this long (default 3 seconds)" },
	  three_seconds, check_settle },
	{ { "scan.rescan",
	    "the service looks through the whole hot folder this often (default 10m)" },
	  ten_minutes, check_rescan },
	{ { "backup.dir",
	    "the service makes a backup into this folder every backup.every (default: none)" },
	  empty, check_backup_dir },
	{ { "backup.every",
	    "the service backs the store up this often, when it changed (default 24h)" },
	  one_day, check_backup_every },
	{ { "backup.keep",
	    "the service keeps this many backups in backup.dir, removing older ones (default 14)" },
	  fourteen, check_backup_keep },
	{ { "desk.idle",
	    "the desk signs a person out after this many minutes without a request (default 15)" },
	  fifteen, check_desk_idle },
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
	out->service = s->service;
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
