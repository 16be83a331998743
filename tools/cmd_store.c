/*
 * chartsync init | status | config | check | passwd | rekey
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static int print_json(json_t *v)
{
	char *text;

	if (!v)
		return cli_failf("out of memory");
	text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(v);
	if (!text)
		return cli_failf("out of memory");
	puts(text);
	free(text);
	return CLI_OK;
}

/* ---- init ---- */

static const char init_help[] =
	"usage: chartsync init [--store DIR] [--user NAME] [--terminal NAME]\n"
	"\n"
	"Create an encrypted store in DIR and its first user, an admin. NAME\n"
	"defaults to your login name; the terminal name defaults to the host\n"
	"name. The passphrase is asked twice at the terminal, or read from\n"
	"$CHARTSYNC_PASSPHRASE_FILE or $CHARTSYNC_PASSPHRASE.\n";

static int init_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	(void)ctx;
	if (c != 't')
		return -1;
	*(const char **)payload = arg;
	return 0;
}

int cmd_init(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "terminal", required_argument, NULL, 't' }, CLI_COMMON_OPTS, OPT_END
	};
	chs_store_create_opts o;
	const char *terminal = NULL;
	chs_store *s = NULL;
	char *pass = NULL;
	int err, rc;

	if (cli_parse_bare(ctx, argc, argv, opts, init_opt, &terminal, init_help, &rc) < 0)
		return rc;
	memset(&o, 0, sizeof(o));
	o.user = ctx->user ? ctx->user : getenv("CHARTSYNC_USER");
	if (!o.user || !*o.user)
		o.user = chs_login_name();
	o.terminal = terminal;
	if ((err = cli_passphrase(&pass, &o.passphrase_len, "CHARTSYNC_PASSPHRASE_FILE",
				  "CHARTSYNC_PASSPHRASE", "New passphrase: ", 1)) < 0)
		return cli_fail(err);
	o.passphrase = pass;
	err = chs_store_create(&s, cli_store_dir(ctx), &o);
	chs_secret_free(pass);
	if (err < 0)
		return cli_fail(err);
	printf("created store '%s' with admin '%s' (device %s)\n", cli_safe(chs_store_path(s)),
	       cli_safe(chs_store_user(s)), cli_safe(chs_store_device_id(s)));
	chs_store_free(s);
	return CLI_OK;
}

/* ---- status ---- */

static const char status_help[] =
	"usage: chartsync status [--json] [--store DIR] [--user NAME]\n"
	"\n"
	"Show the store's folder, who opened it, this terminal, the device id,\n"
	"counts, and when 'chartsync check' last found every page intact; and\n"
	"when the service ('chartsync daemon') runs: its pid and uptime, the\n"
	"last sync (when, how it went, changes in and out), the next attempt\n"
	"and the current wait after failures, batches waiting to be sent,\n"
	"records under review, the hot folder's queue and the last refusal\n"
	"(--json: the key \"service\", null when none runs); and when and where\n"
	"'chartsync backup' last made a backup (--json: \"backup\", null when never).\n";

/* When `check` last found the store intact: "never" or UTC. */
static void checked_when(char *out, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, n, "never");
}

/* `service` (taken): what a running service answered, or NULL. */
static int print_status(const chs_status *st, size_t archive_events, int json, json_t *service)
{
	char checked[32];

	checked_when(checked, sizeof(checked), st->checked);
	if (json)
		return print_json(json_pack(
			"{s:s, s:s, s:b, s:s, s:s, s:s, s:{s:I, s:I, s:I}, s:o, s:I, s:o, s:b, s:o}",
			"store", st->path, "user", st->user, "admin", st->admin,
			"terminal", st->terminal, "device", st->device_id,
			"store_id", st->store_id, "counts", "users",
			(json_int_t)st->users, "records", (json_int_t)st->records,
			"changes", (json_int_t)st->changes, "checked",
			st->checked > 0 ? json_string(checked) : json_null(),
			"archive_events", (json_int_t)archive_events,
			"service", service ? service : json_null(),
			"service_user", st->service, "backup", cli_backup_status(st->path)));
	printf("store:    %s\n"
	       "user:     %s%s\n"
	       "terminal: %s\n"
	       "device:   %s\n"
	       "users:    %lld\n"
	       "records:  %lld\n"
	       "changes:  %lld\n",
	       cli_safe(st->path), cli_safe(st->user),
	       st->admin ? " (admin)" : st->service ? " (service user)" : "",
	       cli_safe(st->terminal), cli_safe(st->device_id), (long long)st->users,
	       (long long)st->records,
	       (long long)st->changes);
	printf("checked:  %s%s\n", checked,
	       st->checked > 0 ? " (last 'chartsync check' that found it intact)"
			       : " (run 'chartsync check')");
	cli_backup_status_print(st->path);
	cli_service_status_print(service);
	json_decref(service);
	return CLI_OK;
}

int cmd_status(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
	chs_store *s = NULL;
	chs_status st;
	int err, rc;

	if (cli_parse_bare(ctx, argc, argv, opts, NULL, NULL, status_help, &rc) < 0)
		return rc;
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	if ((err = chs_store_status(s, &st)) < 0) {
		rc = cli_fail(err);
	} else {
		/* text: cli_status_archive() says it in words below */
		rc = print_status(&st, ctx->json ? cli_archive_events(s) : 0, ctx->json,
				  cli_service_status(ctx));
		if (!ctx->json)
			cli_status_archive(s);
		chs_status_dispose(&st);
	}
	chs_store_free(s);
	return rc;
}

/* ---- config ---- */

static const char config_help[] =
	"usage: chartsync config KEY [VALUE]\n"
	"       chartsync config --list [--json]\n"
	"\n"
	"Print the setting KEY, or set it to VALUE. Settings are kept inside\n"
	"the encrypted store. --list shows every setting with its value.\n";

static int config_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	(void)ctx;
	(void)arg;
	if (c != 'l')
		return -1;
	*(int *)payload = 1;
	return 0;
}

static int config_list(chs_store *s, int json)
{
	const chs_config_key *k;
	json_t *obj = json ? json_object() : NULL;
	char *v = NULL;
	int err;

	for (k = chs_config_keys(); k->name; k++) {
		if ((err = chs_config_get(s, k->name, &v)) < 0) {
			json_decref(obj);
			return cli_fail(err);
		}
		if (obj)
			json_object_set_new(obj, k->name, json_string(v));
		else
			printf("%s=%s\t# %s\n", k->name, cli_safe(v), k->help);
		free(v);
	}
	return obj ? print_json(obj) : CLI_OK;
}

/* A KEY is a name chartsync defines, like a command's: one it does not
 * know is a malformed command line, found before the store is opened. */
static int known_setting(const char *key)
{
	const chs_config_key *k;

	for (k = chs_config_keys(); k->name; k++)
		if (strcmp(k->name, key) == 0)
			return 1;
	return 0;
}

int cmd_config(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "list", no_argument, NULL, 'l' }, OPT_JSON, CLI_COMMON_OPTS, OPT_END
	};
	chs_store *s = NULL;
	char *v = NULL;
	int list = 0, i, err, rc = CLI_OK;

	ctx->help_text = config_help;
	if ((i = cli_parse(ctx, argc, argv, opts, config_opt, &list)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (!list && (i >= argc || argc - i > 2))
		return cli_usage(ctx, i >= argc ? "which setting? give a KEY"
						 : "too many arguments");
	if (list && i < argc)
		return cli_usage(ctx, "--list takes no KEY");
	if (!list && !known_setting(argv[i]))
		return cli_usage(ctx, "unknown setting '%s' (see 'chartsync config --list')",
				 argv[i]);
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	if (list)
		rc = config_list(s, ctx->json);
	else if (argc - i == 2)
		rc = (err = chs_config_set(s, argv[i], argv[i + 1])) < 0 ? cli_fail(err) : CLI_OK;
	else if ((err = chs_config_get(s, argv[i], &v)) < 0)
		rc = cli_fail(err);
	else
		puts(cli_safe(v));
	free(v);
	chs_store_free(s);
	return rc;
}

/* ---- check ---- */

static const char check_help[] =
	"usage: chartsync check [--store DIR] [--user NAME]\n"
	"\n"
	"Read and verify every page of the store. A store that was altered or\n"
	"damaged on disk is reported with the first bad page. 'chartsync status'\n"
	"shows when check last found the store intact.\n";

int cmd_check(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, OPT_END };
	chs_store *s = NULL;
	int err, rc;

	if (cli_parse_bare(ctx, argc, argv, opts, NULL, NULL, check_help, &rc) < 0)
		return rc;
	if ((err = cli_open(ctx, &s)) < 0 || (err = chs_store_check(s)) < 0) {
		chs_store_free(s);
		return cli_fail(err);
	}
	printf("store '%s' is intact\n", cli_safe(chs_store_path(s)));
	chs_store_free(s);
	return CLI_OK;
}

/* ---- passwd ---- */

static const char passwd_help[] =
	"usage: chartsync passwd [--store DIR] [--user NAME]\n"
	"\n"
	"Change the passphrase of the user who opens the store. The current\n"
	"passphrase is read as usual; the new one is asked twice at the\n"
	"terminal, or read from $CHARTSYNC_NEW_PASSPHRASE_FILE or\n"
	"$CHARTSYNC_NEW_PASSPHRASE. Only your key slot is rewritten.\n";

int cmd_passwd(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, OPT_END };
	chs_store *s = NULL;
	char *pass = NULL;
	size_t len = 0;
	int err, rc;

	if (cli_parse_bare(ctx, argc, argv, opts, NULL, NULL, passwd_help, &rc) < 0)
		return rc;
	if ((err = cli_open(ctx, &s)) < 0 ||
	    (err = cli_passphrase(&pass, &len, "CHARTSYNC_NEW_PASSPHRASE_FILE",
				  "CHARTSYNC_NEW_PASSPHRASE", "New passphrase: ", 1)) < 0 ||
	    (err = chs_store_passwd(s, pass, len)) < 0) {
		chs_secret_free(pass);
		chs_store_free(s);
		return cli_fail(err);
	}
	printf("passphrase of '%s' changed\n", cli_safe(chs_store_user(s)));
	chs_secret_free(pass);
	chs_store_free(s);
	return CLI_OK;
}

/* ---- rekey ---- */

static const char rekey_help[] =
	"usage: chartsync rekey [--store DIR] [--user NAME]\n"
	"\n"
	"Give the store a new key (admins only). Every page is encrypted again\n"
	"and every user's key slot re-wrapped, without their passphrases, so a\n"
	"copy of an old slot file no longer opens the store: run it after\n"
	"'user rm' (or 'user rm --rekey'), or after a passphrase that may have\n"
	"leaked was changed. No other program may have the store open. Killed\n"
	"at any point, the store opens with the old key or the new one. A user\n"
	"whose slot is from before chartsync could re-wrap slots (who has not\n"
	"opened the store since) is named: remove and add them again.\n";

int cli_rekey(chs_store *s)
{
	chs_rekey_result r;
	size_t i;
	int err;

	if ((err = chs_store_rekey(s, &r)) < 0)
		return err;
	printf("store '%s' has a new key; %zu key slot%s re-wrapped\n", chs_store_path(s),
	       r.rewrapped, r.rewrapped == 1 ? "" : "s");
	for (i = 0; i < r.ndropped; i++)
		printf("user '%s' cannot open the store any more (an old key slot): "
		       "'chartsync user rm %s' and 'chartsync user add %s'\n",
		       r.dropped[i], r.dropped[i], r.dropped[i]);
	chs_rekey_result_dispose(&r);
	return 0;
}

int cmd_rekey(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, OPT_END };
	chs_store *s = NULL;
	int err, rc;

	if (cli_parse_bare(ctx, argc, argv, opts, NULL, NULL, rekey_help, &rc) < 0)
		return rc;
	if ((err = cli_open(ctx, &s)) < 0 || (err = cli_rekey(s)) < 0) {
		chs_store_free(s);
		return cli_fail(err);
	}
	chs_store_free(s);
	return CLI_OK;
}
