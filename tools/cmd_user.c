/*
 * chartsync user add NAME [--admin] | user add --service NAME
 * [--passphrase-file FILE] | user ls [--json] | user rm NAME [--rekey]
 */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char user_help[] =
	"usage: chartsync user add NAME [--admin]\n"
	"       chartsync user add --service NAME [--passphrase-file FILE]\n"
	"       chartsync user ls [--json]\n"
	"       chartsync user rm NAME [--rekey]\n"
	"\n"
	"Each technician opens the store with their own passphrase, so every\n"
	"change and every look at a chart records who it was. Adding and\n"
	"removing users is for admins. The new user's passphrase is asked twice\n"
	"at the terminal, or read from $CHARTSYNC_NEW_PASSPHRASE_FILE or\n"
	"$CHARTSYNC_NEW_PASSPHRASE. The last admin cannot be removed.\n"
	"\n"
	"--service adds the sign-in of a program that runs unattended, such as\n"
	"'chartsync daemon': it syncs, takes in scans and answers status, and\n"
	"can never show, open, list, export or change a chart. Nobody types its\n"
	"passphrase: with --passphrase-file FILE that does not exist yet, a\n"
	"random one is made and written to FILE (mode 0600); an existing FILE\n"
	"gives its first line, and must be readable by its owner only. The\n"
	"service then opens the store with that file as\n"
	"$CHARTSYNC_PASSPHRASE_FILE, or as systemd's credential\n"
	"$CREDENTIALS_DIRECTORY/passphrase.\n"
	"\n"
	"A removed user is refused at once, but a copy of their old key slot\n"
	"and passphrase still unwraps the store key until the store gets a new\n"
	"one: --rekey does that right after removing them (as 'chartsync\n"
	"rekey' does), which shuts them out for good.\n";

typedef struct user_opts {
	int admin, rekey, service;
	const char *pass_file; /* --passphrase-file */
} user_opts;

static int user_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	user_opts *o = payload;

	if (c == 'a')
		o->admin = 1;
	else if (c == 'k')
		o->rekey = 1;
	else if (c == 's')
		o->service = 1;
	else if (c == 'p' && !*arg)
		return cli_usage(ctx, "--passphrase-file needs a file name"), -1;
	else if (c == 'p')
		o->pass_file = arg;
	else
		return -1;
	return 0;
}

/* A service's passphrase: from FILE (made when new), else the usual
 * sources of a new passphrase. */
static int service_pass(const user_opts *o, char **pass, size_t *len, int *created)
{
	*created = 0;
	if (o->pass_file)
		return cli_passphrase_service(pass, len, o->pass_file, created);
	return cli_passphrase(pass, len, "CHARTSYNC_NEW_PASSPHRASE_FILE",
			      "CHARTSYNC_NEW_PASSPHRASE", "Passphrase for the service: ", 1);
}

static int service_add(cli_ctx *ctx, const char *name, const user_opts *o)
{
	chs_store *s = NULL;
	char *pass = NULL;
	size_t len = 0;
	int err, created = 0;

	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	if (!chs_store_user_is_admin(s)) {
		/* Refuse before making a passphrase file nobody will use. */
		err = chs_store_user_add_service(s, name, "x", 1);
	} else if ((err = service_pass(o, &pass, &len, &created)) == 0 &&
		   (err = chs_store_user_add_service(s, name, pass, len)) < 0 && created) {
		/* its passphrase opens nothing: take the new file away too */
		unlink(o->pass_file);
		created = 0;
	}
	chs_secret_free(pass);
	if (err == 0)
		printf("added service user '%s'%s%s%s\n", cli_safe(name),
		       created ? "; its passphrase is in '" : "",
		       created ? cli_safe(o->pass_file) : "", created ? "'" : "");
	chs_store_free(s);
	return err < 0 ? cli_fail(err) : CLI_OK;
}

static int user_add(cli_ctx *ctx, const char *name, int admin)
{
	chs_store *s = NULL;
	char *pass = NULL;
	size_t len = 0;
	int err;

	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	if (!chs_store_user_is_admin(s)) {
		/* Refuse before asking for a passphrase nobody will use. */
		err = chs_store_user_add(s, name, admin, "x", 1);
	} else if ((err = cli_passphrase(&pass, &len, "CHARTSYNC_NEW_PASSPHRASE_FILE",
					 "CHARTSYNC_NEW_PASSPHRASE",
					 "Passphrase for the new user: ", 1)) == 0) {
		err = chs_store_user_add(s, name, admin, pass, len);
	}
	chs_secret_free(pass);
	if (err == 0)
		printf("added user '%s'%s\n", cli_safe(name), admin ? " (admin)" : "");
	chs_store_free(s);
	return err < 0 ? cli_fail(err) : CLI_OK;
}

static void format_time(char *out, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm))
		strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(out, n, "%lld", (long long)t);
}

static int print_users(const chs_user *u, size_t n, int json)
{
	json_t *arr = json ? json_array() : NULL;
	char when[32];
	size_t i;

	for (i = 0; i < n; i++) {
		const char *kind = u[i].service ? "service" : u[i].admin ? "admin" : "user";

		format_time(when, sizeof(when), u[i].created);
		if (arr)
			json_array_append_new(arr, json_pack("{s:s, s:b, s:s, s:s}",
				"name", u[i].name, "admin", u[i].admin, "kind", kind,
				"created", when));
		else
			printf("%-20s %-7s %s\n", cli_safe(u[i].name), kind, when);
	}
	if (!arr)
		return CLI_OK;
	{
		char *text = json_dumps(arr, JSON_COMPACT | JSON_SORT_KEYS);

		json_decref(arr);
		if (!text)
			return cli_failf("out of memory");
		puts(text);
		free(text);
	}
	return CLI_OK;
}

static int user_ls(cli_ctx *ctx)
{
	chs_store *s = NULL;
	chs_user *users = NULL;
	size_t n = 0;
	int err, rc;

	if ((err = cli_open(ctx, &s)) < 0 ||
	    (err = chs_store_user_list(s, &users, &n)) < 0) {
		chs_store_free(s);
		return cli_fail(err);
	}
	rc = print_users(users, n, ctx->json);
	chs_user_list_free(users, n);
	chs_store_free(s);
	return rc;
}

static int user_rm(cli_ctx *ctx, const char *name, int rekey)
{
	chs_store *s = NULL;
	int err;

	if ((err = cli_open(ctx, &s)) < 0 || (err = chs_store_user_rm(s, name)) < 0) {
		chs_store_free(s);
		return cli_fail(err);
	}
	printf("removed user '%s'\n", cli_safe(name));
	if (!rekey)
		printf("a copy of their key slot still unwraps the store key: run "
		       "'chartsync rekey' to shut them out for good\n");
	else if ((err = cli_rekey(s)) < 0) {
		chs_store_free(s);
		return cli_fail(err);
	}
	chs_store_free(s);
	return CLI_OK;
}

/* Each verb its own table, holding exactly what its usage line names:
 * 'user ls --admin' is an unknown option, which cli_parse() says goes
 * with 'user add'. */
static const struct option user_bare_opts[] = { CLI_COMMON_OPTS, OPT_END };
static const struct option user_add_opts[] = {
	{ "admin", no_argument, NULL, 'a' },
	{ "service", no_argument, NULL, 's' },
	{ "passphrase-file", required_argument, NULL, 'p' },
	CLI_COMMON_OPTS, OPT_END
};
static const struct option user_ls_opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
static const struct option user_rm_opts[] = {
	{ "rekey", no_argument, NULL, 'k' }, CLI_COMMON_OPTS, OPT_END
};
static const cli_verb user_verbs[] = {
	{ "add", user_add_opts }, { "ls", user_ls_opts }, { "rm", user_rm_opts },
};

static int user_add_checked(cli_ctx *ctx, char **args, int nargs, const user_opts *o)
{
	if (o->pass_file && !o->service)
		return cli_usage(ctx, "--passphrase-file goes with 'user add --service'");
	if (o->service && o->admin)
		return cli_usage(ctx, "a service user is never an admin: give --service or --admin");
	if (nargs != 1)
		return cli_usage(ctx, "wrong arguments for 'user add%s'",
				 o->service ? " --service" : "");
	return o->service ? service_add(ctx, args[0], o) : user_add(ctx, args[0], o->admin);
}

int cmd_user(cli_ctx *ctx, int argc, char **argv)
{
	const cli_verb *v = cli_verb_find(ctx, argc, argv, user_verbs,
					  sizeof(user_verbs) / sizeof(user_verbs[0]), NULL);
	user_opts o = { 0, 0, 0, NULL };
	int i, nargs;

	ctx->help_text = user_help;
	if ((i = cli_parse(ctx, argc, argv, v ? v->opts : user_bare_opts, user_opt, &o)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (i >= argc)
		return cli_usage(ctx, "which? 'user add', 'user ls' or 'user rm'");
	if (!v)
		return cli_usage(ctx, "unknown 'user' command '%s'", argv[i]);
	nargs = argc - i - 1;
	if (v->opts == user_add_opts)
		return user_add_checked(ctx, argv + i + 1, nargs, &o);
	if (v->opts == user_ls_opts && nargs == 0)
		return user_ls(ctx);
	if (v->opts == user_rm_opts && nargs == 1)
		return user_rm(ctx, argv[i + 1], o.rekey);
	return cli_usage(ctx, "wrong arguments for 'user %s'", v->name);
}
