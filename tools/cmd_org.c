/*
 * chartsync org recovery-kit | org recover KIT...
 *
 * The organisation outlives its admin's laptop: the admin store's secrets
 * sealed under a recovery passphrase, as text to print (whole, or as
 * shares of which any K recover it), and a new store made the admin
 * store of the same organisation from it.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KIT_FILE_MAX ((size_t)64 << 10) /* bytes of one kit or share file */
#define RECOVERY_FILE_ENV "CHARTSYNC_RECOVERY_PASSPHRASE_FILE"
#define RECOVERY_ENV "CHARTSYNC_RECOVERY_PASSPHRASE"

/* The recovery passphrase: --passphrase-file FILE, else the environment
 * (CHARTSYNC_RECOVERY_PASSPHRASE_FILE, CHARTSYNC_RECOVERY_PASSPHRASE),
 * else the terminal (twice when a kit is made). */
static int recovery_passphrase(const char *file, int confirm, char **pass, size_t *len)
{
	/* --passphrase-file is read as the variable would be: the same
	 * checks, the same first line */
	if (file && setenv(RECOVERY_FILE_ENV, file, 1) < 0)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return cli_passphrase(pass, len, RECOVERY_FILE_ENV, RECOVERY_ENV,
			      "Recovery passphrase: ", confirm);
}

/* ---- org recovery-kit ---- */

static const char kit_help[] =
	"usage: chartsync org recovery-kit [--shares N --threshold K] [--out DIR]\n"
	"                                  [--passphrase-file FILE]\n"
	"\n"
	"In the organisation's admin store, by an admin: seal what only this\n"
	"store holds (the organisation's admin key and every generation of its\n"
	"data keys) under a recovery passphrase, as text to print on paper.\n"
	"With --shares N --threshold K (2 <= K <= N <= 255) the kit is split\n"
	"into N shares, one file each in DIR, of which any K (and the\n"
	"passphrase) recover the organisation, and fewer tell nothing. Without\n"
	"shares the kit is one text: DIR/recovery-kit.txt, or standard output\n"
	"when no --out is given. Files are written readable by their owner\n"
	"only.\n"
	"\n"
	"The recovery passphrase (at least 12 characters) is asked twice, or\n"
	"read from --passphrase-file FILE, $CHARTSYNC_RECOVERY_PASSPHRASE_FILE\n"
	"or $CHARTSYNC_RECOVERY_PASSPHRASE. Keep it apart from the kit. Make a\n"
	"new kit after every revocation (it holds the data keys of its day).\n"
	"Recover with 'chartsync org recover' in a new store.\n";

typedef struct kit_args {
	int shares, threshold;
	const char *out, *pass_file;
} kit_args;

static int kit_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	kit_args *a = payload;

	switch (c) {
	case 'n':
		return cli_opt_count(ctx, "--shares", arg, &a->shares);
	case 'k':
		return cli_opt_count(ctx, "--threshold", arg, &a->threshold);
	case 'o':
		a->out = arg;
		return 0;
	case 'p':
		a->pass_file = arg;
		return 0;
	}
	return -1;
}

static int kit_args_check(cli_ctx *ctx, const kit_args *a)
{
	if (!a->shares != !a->threshold)
		return cli_usage(ctx, "--shares N and --threshold K go together");
	if (a->shares && (a->threshold < 2 || a->threshold > a->shares || a->shares > 255))
		return cli_usage(ctx, "shares: need 2 <= --threshold (%d) <= --shares (%d) <= 255",
				 a->threshold, a->shares);
	if (a->shares && !a->out)
		return cli_usage(ctx, "with --shares, give --out DIR: each share goes in a file"
				 " of its own");
	return 0;
}

static const char share_note[] =
	"# A share of this organisation's chartsync recovery kit. Any %d of the\n"
	"# %d shares, with the recovery passphrase, make a new store the\n"
	"# organisation's admin store ('chartsync org recover'). Print it, keep it\n"
	"# apart from the other shares and from the passphrase (a safe, a bank box,\n"
	"# a trusted person), and delete this file.\n\n";

static const char kit_note[] =
	"# This organisation's chartsync recovery kit. With the recovery passphrase\n"
	"# it makes a new store the organisation's admin store ('chartsync org\n"
	"# recover'). Print it, keep it apart from the passphrase (a safe, a bank\n"
	"# box), and delete this file.\n\n";

static int save_text(const char *dir, const char *name, const char *note, const char *text)
{
	chs_buf path, body;
	int err;

	chs_buf_init(&path, 0);
	chs_buf_init(&body, 0);
	if ((err = chs_buf_printf(&path, "%s/%s", dir, name)) == 0 &&
	    (err = chs_buf_puts(&body, note)) == 0 && (err = chs_buf_puts(&body, text)) == 0)
		err = chs_file_save(path.ptr, body.ptr, body.len);
	chs_buf_dispose(&path);
	chs_buf_dispose(&body);
	return err;
}

static int save_kit(const kit_args *a, char **texts, size_t n)
{
	char name[64], note[sizeof(share_note) + 16];
	size_t i;
	int err = 0;

	if (mkdir(a->out, 0700) < 0 && errno != EEXIST)
		return chs_error_set(CHS_EIO, "cannot make the folder '%s': %s", a->out,
				     strerror(errno));
	if (!a->shares)
		return save_text(a->out, "recovery-kit.txt", kit_note, texts[0]);
	snprintf(note, sizeof(note), share_note, a->threshold, a->shares);
	for (i = 0; i < n && err == 0; i++) {
		snprintf(name, sizeof(name), "recovery-share-%zu-of-%d.txt", i + 1, a->shares);
		err = save_text(a->out, name, note, texts[i]);
	}
	return err;
}

static void kit_told(const kit_args *a, const char *org)
{
	if (a->shares)
		printf("recovery kit of organisation %s: %d shares in %s\n"
		       "(recovery-share-1-of-%d.txt ...), any %d of which recover it with the\n"
		       "recovery passphrase.\n", org, a->shares, cli_safe(a->out), a->shares,
		       a->threshold);
	else
		printf("recovery kit of organisation %s: %s/recovery-kit.txt\n", org,
		       cli_safe(a->out));
	printf("Print %s on paper and delete the files; keep %s apart, and the passphrase\n"
	       "apart from %s (never in the same place). Make a new kit after every\n"
	       "revocation. To recover: 'chartsync init' a new store, then 'chartsync org\n"
	       "recover FILE... --archive URL' there.\n",
	       a->shares ? "each share" : "the kit", a->shares ? "each share" : "it",
	       a->shares ? "them" : "it");
}

/* The organisation a kit text names (its second line, kit.c). */
static const char *kit_org(const char *text, char org[33])
{
	const char *p = strstr(text, "\norganisation ");

	snprintf(org, 33, "%.32s", p ? p + strlen("\norganisation ") : "?");
	return org;
}

int cmd_org_recovery_kit(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shares", required_argument, NULL, 'n' },
		{ "threshold", required_argument, NULL, 'k' },
		{ "out", required_argument, NULL, 'o' },
		{ "passphrase-file", required_argument, NULL, 'p' }, CLI_COMMON_OPTS, OPT_END
	};
	kit_args a = { 0, 0, NULL, NULL };
	chs_kit_opts o = { 0, 0, NULL };
	chs_store *s = NULL;
	char **texts = NULL, *pass = NULL, org[33];
	size_t n = 0, len = 0;
	int rc, err;

	if (cli_parse_bare(ctx, argc, argv, opts, kit_opt, &a, kit_help, &rc) < 0)
		return rc;
	if (kit_args_check(ctx, &a) != 0)
		return CLI_USAGE;
	o.shares = (unsigned)a.shares;
	o.threshold = (unsigned)a.threshold;
	if ((err = cli_open(ctx, &s)) < 0 ||
	    (err = recovery_passphrase(a.pass_file, 1, &pass, &len)) < 0 ||
	    (err = chs_org_recovery_kit(s, pass, len, &o, &texts, &n)) < 0) {
		rc = cli_fail(err);
		goto done;
	}
	if (!a.out) {
		fputs(texts[0], stdout);
		rc = CLI_OK;
	} else if ((err = save_kit(&a, texts, n)) < 0) {
		rc = cli_fail(err);
	} else {
		kit_told(&a, kit_org(texts[0], org));
		rc = CLI_OK;
	}
done:
	chs_kit_texts_free(texts, n);
	chs_secret_free(pass);
	chs_store_free(s);
	return rc;
}

/* ---- org recover ---- */

static const char recover_help[] =
	"usage: chartsync org recover KIT... [--archive URL] [--site NAME]\n"
	"                             [--passphrase-file FILE]\n"
	"\n"
	"Make this store, a new one ('chartsync init'), the admin store of the\n"
	"organisation whose recovery kit is given: the kit's file, or K of its\n"
	"share files (typed back from paper: every line carries a check, and a\n"
	"mistyped line is named). The kit is opened with the recovery passphrase\n"
	"(asked, or --passphrase-file FILE, $CHARTSYNC_RECOVERY_PASSPHRASE_FILE,\n"
	"$CHARTSYNC_RECOVERY_PASSPHRASE) before anything is written. The store\n"
	"then syncs the organisation's roster from the archive (--archive URL,\n"
	"default the store's remote), which must be signed by the kit's admin\n"
	"key, puts itself on the roster as an archivist at site NAME (default\n"
	"the terminal name) and syncs again. It can then enroll and revoke\n"
	"devices; every other device goes on as before. Interrupted, run it\n"
	"again.\n";

typedef struct recover_args {
	const char *archive, *site, *pass_file;
} recover_args;

static int recover_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	recover_args *a = payload;

	switch (c) {
	case 'a':
		a->archive = arg;
		return 0;
	case 's':
		a->site = arg;
		return cli_opt_valid(ctx, "--site", chs_site_check(arg));
	case 'p':
		a->pass_file = arg;
		return 0;
	}
	return -1;
}

static int read_kit_files(char **files, size_t n, char ***texts)
{
	size_t i;
	int err = 0;

	if (!(*texts = chs_calloc(n, sizeof(**texts))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < n && err == 0; i++) {
		err = chs_file_read(files[i], KIT_FILE_MAX, &(*texts)[i], NULL);
		if (err == CHS_ENOTFOUND)
			err = chs_error_set(CHS_ENOTFOUND, "no kit or share file '%s'", files[i]);
	}
	return err;
}

static void recovered_told(const chs_recover_result *r)
{
	printf("organisation %s recovered: this store (device %s) is its admin store\n"
	       "now, an archivist at %s on roster %llu; it fetched %zu batches.\n"
	       "The lost admin store is still on the roster: revoke its device\n"
	       "('chartsync device list', then 'chartsync device revoke ID'). It holds\n"
	       "the admin key, so revoking it, an admin device, replaces that key.\n"
	       "Then make a new recovery kit ('chartsync org recovery-kit').\n",
	       r->org, r->device, cli_safe(r->site),
	       (unsigned long long)r->roster_seq, r->batches_in);
}

int cmd_org_recover(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "archive", required_argument, NULL, 'a' },
		{ "site", required_argument, NULL, 's' },
		{ "passphrase-file", required_argument, NULL, 'p' }, CLI_COMMON_OPTS, OPT_END
	};
	recover_args a = { NULL, NULL, NULL };
	chs_recover_opts o = { NULL, NULL, NULL };
	chs_recover_result res;
	chs_sync_opts so;
	chs_store *s = NULL;
	char **texts = NULL, *pass = NULL, *url = NULL, org[33];
	size_t n = 0, len = 0;
	cli_meter m;
	int i, rc, err;

	ctx->help_text = recover_help;
	if ((i = cli_parse(ctx, argc, argv, opts, recover_opt, &a)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (i >= argc)
		return cli_usage(ctx, "give the recovery kit's file, or its share files");
	n = (size_t)(argc - i);
	if (a.archive && !(url = cli_absolute_url(a.archive)))
		return cli_failf("out of memory");
	memset(&m, 0, sizeof(m));
	memset(&so, 0, sizeof(so));
	if (cli_meter_wanted(0)) {
		so.progress = cli_meter_progress;
		so.payload = &m;
	}
	o.archive = url;
	o.site = a.site;
	o.sync = &so;
	/* the kit's checks first: a typo is named before any passphrase */
	if ((err = read_kit_files(argv + i, n, &texts)) < 0 ||
	    (err = chs_kit_check((const char *const *)texts, n, org)) < 0 ||
	    (err = cli_open(ctx, &s)) < 0 ||
	    (err = recovery_passphrase(a.pass_file, 0, &pass, &len)) < 0 ||
	    (err = chs_org_recover(s, (const char *const *)texts, n, pass, len, &o, &res)) < 0) {
		cli_meter_end(&m);
		rc = cli_fail(err);
	} else {
		cli_meter_end(&m);
		recovered_told(&res);
		rc = CLI_OK;
	}
	chs_kit_texts_free(texts, n);
	chs_secret_free(pass);
	chs_store_free(s);
	free(url);
	return rc;
}
