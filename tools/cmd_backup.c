/*
 * chartsync backup | restore, and the last backup as `status` shows it.
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char backup_help[] =
	"usage: chartsync backup DEST [--verify] [--keep N] [--json] [--store DIR] [--user NAME]\n"
	"\n"
	"Copy the store into a new folder inside DEST (made if missing), named\n"
	"after the UTC time, while other programs go on using the store: the\n"
	"database (every page still encrypted under the store key: a backup is\n"
	"never plaintext), the key slots (a backup opens with the same users and\n"
	"passphrases as the store had) and manifest.json (sizes and checksums).\n"
	"A backup is complete once its folder has its final name.\n"
	"When nothing changed since the newest backup in DEST, nothing is\n"
	"written and the command says so. The git mirror is not copied: a\n"
	"restored store fetches it again at its first sync.\n"
	"\n"
	"  --verify    open the copy with your passphrase and check every page\n"
	"  --keep N    then remove the oldest backups of this store in DEST beyond N\n"
	"\n"
	"Bring a store back with 'chartsync restore'.\n";

static const char restore_help[] =
	"usage: chartsync restore SRC DIR [--user NAME]\n"
	"\n"
	"Make DIR (a new or empty folder) the store backed up in SRC: one backup\n"
	"folder, or a backup folder DEST for its newest backup. The manifest and\n"
	"every checksum are checked, the copy opened with the passphrase and\n"
	"every page checked before it is put at DIR; a damaged backup is refused\n"
	"and DIR left as it was. The restored store is the store as it was at the\n"
	"backup; at its first 'chartsync sync' it fetches from the archive what\n"
	"it had sent since. Then point CHARTSYNC_STORE or --store at DIR.\n";

typedef struct backup_args {
	int verify;
	int keep;
} backup_args;

static int backup_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	backup_args *a = payload;

	switch (c) {
	case 'v': a->verify = 1; return 0;
	case 'k':
		if (cli_opt_count(ctx, "--keep", arg, &a->keep) < 0)
			return -1;
		if (a->keep == 0)
			return cli_usage(ctx, "--keep '0' would remove every backup; give 1 or more"),
			       -1;
		return 0;
	}
	return -1;
}

static void utc(char *out, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, n, "never");
}

static int print_backup(const chs_backup_result *r, int json)
{
	char when[32];

	utc(when, sizeof(when), r->at);
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:b, s:b, s:I, s:I}", "path", r->path, "at", when,
				      "unchanged", r->unchanged, "verified", r->verified,
				      "bytes", (json_int_t)r->bytes, "removed",
				      (json_int_t)r->removed);
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

		json_decref(o);
		if (!text)
			return cli_fail(chs_error_set(CHS_ENOMEM, "out of memory"));
		puts(text);
		free(text);
		return CLI_OK;
	}
	if (r->unchanged)
		printf("unchanged since the backup '%s' (%s): nothing written\n", cli_safe(r->path),
		       when);
	else
		printf("backup '%s' made (%s, %.1f MB%s)\n", cli_safe(r->path), when,
		       (double)r->bytes / 1e6, r->verified ? ", verified" : "");
	if (r->removed)
		printf("removed %zu old backup%s\n", r->removed, r->removed == 1 ? "" : "s");
	return CLI_OK;
}

int cmd_backup(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verify", no_argument, NULL, 'v' },
		{ "keep", required_argument, NULL, 'k' },
		OPT_JSON, CLI_COMMON_OPTS, OPT_END
	};
	backup_args a = { 0, 0 };
	chs_backup_opts o;
	chs_backup_result r;
	chs_store *s = NULL;
	char *pass = NULL;
	size_t len = 0;
	int i, err, rc;

	ctx->help_text = backup_help;
	if ((i = cli_parse(ctx, argc, argv, opts, backup_opt, &a)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (argc - i != 1)
		return cli_usage(ctx, argc - i < 1 ? "missing the backup folder DEST"
						   : "too many arguments");
	if ((err = chs_store_probe(cli_store_dir(ctx))) < 0 ||
	    (err = cli_passphrase_open(&pass, &len)) < 0)
		return cli_fail(err);
	memset(&o, 0, sizeof(o));
	o.verify = a.verify;
	o.keep = a.keep;
	o.passphrase = pass;
	o.passphrase_len = len;
	if ((err = chs_store_open(&s, cli_store_dir(ctx), cli_user(ctx), pass, len)) < 0 ||
	    (err = chs_store_backup(s, argv[i], &o, &r)) < 0) {
		rc = cli_fail(err);
	} else {
		rc = print_backup(&r, ctx->json);
		chs_backup_result_dispose(&r);
	}
	chs_store_free(s);
	chs_secret_free(pass);
	return rc;
}

int cmd_restore(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, OPT_END };
	char *pass = NULL, *used = NULL;
	size_t len = 0;
	int i, err;

	ctx->help_text = restore_help;
	if ((i = cli_parse(ctx, argc, argv, opts, NULL, NULL)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (argc - i != 2)
		return cli_usage(ctx, argc - i < 2 ? "missing arguments (SRC and DIR)"
						   : "too many arguments");
	/* Refuse a folder holding a store before asking for a passphrase. */
	if (chs_store_probe(argv[i + 1]) == 0)
		return cli_failf("'%s' already holds a store; restore into a new folder (or move that store away first)",
				 argv[i + 1]);
	chs_error_clear();
	if ((err = cli_passphrase_open(&pass, &len)) < 0)
		return cli_fail(err);
	err = chs_store_restore(argv[i], argv[i + 1], cli_user(ctx), pass, len, &used);
	chs_secret_free(pass);
	if (err < 0)
		return cli_fail(err);
	printf("store restored into '%s' from the backup '%s'; every page checked\n",
	       cli_safe(argv[i + 1]), cli_safe(used));
	printf("its first 'chartsync sync' fetches the git mirror and what it sent since the backup\n");
	free(used);
	return CLI_OK;
}

json_t *cli_backup_status(const char *dir)
{
	char when[32], *path = NULL;
	int64_t at = 0;
	json_t *o;

	if (chs_store_backup_last(dir, &at, &path) < 0) {
		chs_error_clear();
		return json_null();
	}
	utc(when, sizeof(when), at);
	o = json_pack("{s:s, s:s}", "at", when, "path", path);
	free(path);
	return o ? o : json_null();
}

void cli_backup_status_print(const char *dir)
{
	char when[32], *path = NULL;
	int64_t at = 0;

	if (chs_store_backup_last(dir, &at, &path) < 0) {
		chs_error_clear();
		printf("backup:   none yet (run 'chartsync backup DEST')\n");
		return;
	}
	utc(when, sizeof(when), at);
	printf("backup:   %s in '%s'\n", when, cli_safe(path));
	free(path);
}
