/*
 * chartsync - the command line, a thin layer over client/chartsync.h.
 *
 *   chartsync [--store DIR] [--user NAME] <command> [options] [args]
 *
 * Exit codes: 0 done, 1 bad usage, 2 input refused or operation failed
 * (the rule is in cli.h).
 */
#include "cli.h"

#include <assert.h>
#include <stdarg.h>
#include <unistd.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const cli_command commands[] = {
	{ "init", cmd_init, "create a store and its first user, an admin",
	  NULL, "chartsync-store(1)" },
	{ "add", cmd_add, "create a record",
	  NULL, "chartsync-records(1)" },
	{ "set", cmd_set, "change fields of a record",
	  NULL, "chartsync-records(1)" },
	{ "rm", cmd_rm, "remove a record (its history stays)",
	  NULL, "chartsync-records(1)" },
	{ "show", cmd_show, "show a record",
	  NULL, "chartsync-records(1)" },
	{ "ls", cmd_ls, "list records",
	  NULL, "chartsync-records(1)" },
	{ "log", cmd_log, "show the history of a record",
	  NULL, "chartsync-records(1)" },
	{ "open", cmd_open, "read a patient's whole chart in the pager",
	  NULL, "chartsync-records(1)" },
	{ "import", cmd_import, "import records from JSON Lines",
	  NULL, "chartsync-records(1)" },
	{ "fields", cmd_fields, "list every field, and which are clinical",
	  NULL, "chartsync-records(1)" },
	{ "attach", cmd_attach, "store a file (a scanned page) for a patient",
	  NULL, "chartsync-records(1)" },
	{ "cat", cmd_cat, "write an attachment's bytes to standard output",
	  NULL, "chartsync-records(1)" },
	{ "review", cmd_review, "records edited concurrently that need a person",
	  NULL, "chartsync-review(1)" },
	{ "patient", cmd_patient, "merge two charts of one person, unmerge, mark distinct",
	  NULL, "chartsync-records(1)" },
	{ "confirm", cmd_confirm, "confirm records against the paper chart",
	  NULL, "chartsync-coding(1)" },
	{ "code", cmd_code, "the coding queue: send, queue, assign, done",
	  NULL, "chartsync-coding(1)" },
	{ "fees", cmd_fees, "import a site's fee schedule",
	  "import", "chartsync-coding(1)" },
	{ "codes", cmd_codes, "import ICD-10-CM, HCPCS or CPT code lists",
	  "import", "chartsync-coding(1)" },
	{ "export", cmd_export, "export data: claims CSV, FHIR R4 bundles",
	  NULL, "chartsync-report(1)" },
	{ "report", cmd_report, "reports: access, consistency, coding, duplicates",
	  NULL, "chartsync-report(1)" },
	{ "verify", cmd_verify, "print the state hash over all records",
	  NULL, "chartsync-records(1)" },
	{ "status", cmd_status, "show the store, the user, this terminal and counts",
	  NULL, "chartsync-store(1)" },
	{ "config", cmd_config, "read or change a setting of the store",
	  NULL, "chartsync-store(1)" },
	{ "user", cmd_user, "add, list or remove the users of the store",
	  NULL, "chartsync-store(1)" },
	{ "passwd", cmd_passwd, "change your passphrase",
	  NULL, "chartsync-store(1)" },
	{ "check", cmd_check, "verify every page of the store",
	  NULL, "chartsync-store(1)" },
	{ "rekey", cmd_rekey, "give the store a new key (after removing a user)",
	  NULL, "chartsync-store(1)" },
	{ "backup", cmd_backup, "copy the store, still encrypted, into a backup folder",
	  NULL, "chartsync-store(1)" },
	{ "restore", cmd_restore, "make a new store folder from a backup",
	  NULL, "chartsync-store(1)" },
	{ "sync", cmd_sync, "exchange changes with the archive",
	  NULL, "chartsync-sync(1)" },
	{ "daemon", cmd_daemon, "run the service: syncs by itself, takes in scans",
	  NULL, "chartsync-daemon(8)" },
	{ "desk", cmd_desk, "the archivists' desk: review and history in a browser",
	  NULL, "chartsync-review(1)" },
	{ "remote", cmd_remote, "show or set the archive this store syncs with",
	  NULL, "chartsync-sync(1)" },
	{ "device", cmd_device, "this store's enrollment; the admin's roster of devices",
	  NULL, "chartsync-sync(1)" },
	{ "org", cmd_org, "create the organisation; its recovery kit, and recovery",
	  "init recovery-kit recover", "chartsync-sync(1)" },
	{ "archive", cmd_archive, "create an archive or install its hook (server side)",
	  "init install-hook", "chartsync-archive-hook(8)" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_main_help(FILE *out)
{
	size_t i;

	fputs("usage: chartsync [--store DIR] [--user NAME] <command> [<options>]\n"
	      "\n"
	      "chartsync keeps an encrypted store of patient records that works\n"
	      "offline and syncs signed changes through git.\n"
	      "\n"
	      "commands:\n", out);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Every command takes --help. The store is --store DIR, else\n"
	      "$CHARTSYNC_STORE, else $STATE_DIRECTORY (systemd), else\n"
	      "~/.local/share/chartsync. The user is\n"
	      "--user NAME, else $CHARTSYNC_USER, else the store's only user, else\n"
	      "your login name. The passphrase is read from $CHARTSYNC_PASSPHRASE_FILE,\n"
	      "$CHARTSYNC_PASSPHRASE or systemd's $CREDENTIALS_DIRECTORY/passphrase,\n"
	      "else asked for at the terminal.\n"
	      "\n"
	      "Exit status, for every command: 0 done; 1 a malformed command line (an\n"
	      "unknown command, kind, setting KEY or option, a missing argument, an\n"
	      "option's value of the wrong form such as a bad date in --since);\n"
	      "2 input refused (a record's values, an id that matches nothing) or an\n"
	      "operation that failed. A message on stderr says what was wrong.\n"
	      "\n"
	      "The manual: man chartsync (commands), man 7 chartsync (concepts).\n", out);
}

/* "chartsync: " and the message on stderr, escaped like every text that
 * may hold what someone typed or what a sync brought. */
static void say(const char *fmt, va_list ap)
{
	char small[512], *msg = small;
	va_list copy;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0)
		snprintf(small, sizeof(small), "(a message could not be written)");
	if (n >= (int)sizeof(small) && (msg = chs_malloc((size_t)n + 1)) != NULL)
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
	fputs("chartsync: ", stderr);
	chs_text_fputs(stderr, msg ? msg : small, CHS_TEXT_LINES);
	fputc('\n', stderr);
	if (msg != small)
		free(msg);
}

int cli_usage(const cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
	if (ctx && ctx->help_text)
		fprintf(stderr, "\n%s", ctx->help_text);
	return CLI_USAGE;
}

static const char *safe(const char *s, size_t len, chs_text_form form)
{
	static chs_buf ring[CLI_SAFE_RING];
	static size_t next;
	chs_buf *b = &ring[next++ % CLI_SAFE_RING];

	if (!s)
		return "-";
	chs_buf_dispose(b);
	chs_buf_init(b, 0);
	if (chs_text_escape(b, s, len, form) < 0 || chs_buf_put(b, "", 1) < 0)
		return "(out of memory)";
	return b->ptr;
}

const char *cli_safe(const char *s)
{
	return safe(s, s ? strlen(s) : 0, CHS_TEXT_LINE);
}

const char *cli_safe_lines(const char *s)
{
	return safe(s, s ? strlen(s) : 0, CHS_TEXT_LINES);
}

const char *cli_safe_cut(const char *s, size_t max_chars)
{
	return safe(s, s ? chs_text_prefix(s, strlen(s), max_chars) : 0, CHS_TEXT_LINE);
}

void cli_follow(chs_store *s, const char *id, char keep[33], char from[33])
{
	keep[0] = from[0] = '\0';
	if (chs_record_follow(s, id, keep, from) < 0) {
		keep[0] = from[0] = '\0';
		chs_error_clear();
	}
}

void cli_followed(const char *from, const char *keep, const char *mrn, const char *doing)
{
	char *chart = NULL;

	if (!from || !*from)
		return;
	if (mrn)
		chs_json_value_text(&chart, mrn);
	fprintf(stderr, "patient %.12s was merged into %.12s%s%s%s; %s %.12s\n", from, keep,
		chart ? " (chart " : "", chart ? cli_safe(chart) : "", chart ? ")" : "",
		doing, keep);
	free(chart);
}

int cli_opt_date(cli_ctx *ctx, const char *opt, const char *arg, int with_time)
{
	if (chs_record_date_form(arg, with_time))
		return 0;
	cli_usage(ctx, "%s '%s' is not a date (expected e.g. 2024-03-15%s)", opt, arg,
		  with_time ? " or 2024-03-15T09:30Z" : "");
	return -1;
}

int cli_opt_count(cli_ctx *ctx, const char *opt, const char *arg, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (!*arg || *end || errno || v < 0 || v > INT_MAX) {
		cli_usage(ctx, "%s '%s' is not a whole number from 0 to %d", opt, arg, INT_MAX);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int cli_opt_valid(cli_ctx *ctx, const char *opt, int err)
{
	if (err >= 0)
		return 0;
	cli_usage(ctx, "%s: %s", opt, chs_error_last());
	return -1;
}

int cli_value_read(cli_ctx *ctx, const char *field, const char **value, int *stdin_used,
		   char **out)
{
	const char *spec = *value, *path, *what;
	int err, from_stdin;
	size_t len;

	*out = NULL;
	if (!spec || spec[0] != '@')
		return CLI_OK;
	path = what = spec + 1;
	from_stdin = strcmp(path, "-") == 0;
	if (spec[1] == '@') {
		*value = spec + 1;
		return CLI_OK;
	}
	if (!*path)
		return cli_usage(ctx, "%s=@ names no file: give %s=@FILE, %s=@- for standard"
				 " input, or %s=@@TEXT for a value that starts with '@'",
				 field, field, field, field);
	if (from_stdin && (*stdin_used)++)
		return cli_usage(ctx, "only one field can be read from standard input (@-)");
	if (from_stdin)
		what = "standard input";
	err = chs_file_read(from_stdin ? "/dev/stdin" : path, CLI_VALUE_FILE_MAX, out, &len);
	if (err == CHS_EINVALID)
		return cli_failf("'%s' for field '%s' is larger than %zu MiB, more than any field"
				 " holds", what, field, CLI_VALUE_FILE_MAX >> 20);
	if (err < 0)
		return cli_failf("cannot read '%s' for field '%s' (%s)", what, field,
				 chs_error_last());
	if (strlen(*out) != len) {
		free(*out);
		*out = NULL;
		return cli_failf("'%s' for field '%s' holds a NUL byte; a field holds text",
				 what, field);
	}
	/* one trailing newline (or CR LF), as a file or `echo` ends its text */
	if (len > 0 && (*out)[len - 1] == '\n') {
		(*out)[--len] = '\0';
		if (len > 0 && (*out)[len - 1] == '\r')
			(*out)[--len] = '\0';
	}
	*value = *out;
	return CLI_OK;
}

int cli_dispatch(cli_ctx *ctx, int argc, char **argv, const cli_command *table, size_t n,
		 const char *usage, const char *footer, const char *noun)
{
	size_t i, width = 7;
	FILE *out;

	if (ctx->listing && argc < 2) {
		ctx->listed_table = table;
		ctx->listed_n = n;
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		out = argc < 2 && !ctx->help ? stderr : stdout;
		for (i = 0; i < n; i++)
			if (strlen(table[i].name) > width)
				width = strlen(table[i].name);
		fprintf(out, "%s\n", usage);
		for (i = 0; i < n; i++)
			fprintf(out, "  %-*s %s\n", (int)width + 1, table[i].name, table[i].summary);
		fprintf(out, "\n%s\n", footer);
		return out == stderr ? CLI_USAGE : CLI_OK;
	}
	for (i = 0; i < n; i++)
		if (strcmp(argv[1], table[i].name) == 0)
			return table[i].run(ctx, argc - 1, argv + 1);
	return cli_usage(NULL, "'%s' is not %s (see 'chartsync %s --help')", argv[1], noun, argv[0]);
}

int cli_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cli_fail(int err)
{
	const char *msg = chs_error_last();

	(void)err;
	return cli_failf("%s", *msg ? msg : "operation failed");
}

int cli_failf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
	return CLI_FAILED;
}

int cli_help(const cli_ctx *ctx)
{
	fputs(ctx->help_text, stdout);
	if (ctx->page)
		printf("\nThe manual: man %s\n", ctx->page);
	return CLI_OK;
}

/* After getopt_long's '?': was it a short option (in a cluster such as
 * -xy, optind stays on the cluster until its last letter)? A long option
 * always moves optind past itself. */
static int short_option_failed(int argc, char **argv)
{
	const char *a = optind > 0 ? argv[optind - 1] : "";

	if (!optopt)
		return 0;
	if (a[0] == '-' && a[1] != '-' && strchr(a + 1, optopt))
		return 1;
	a = optind < argc ? argv[optind] : "";
	return a[0] == '-' && a[1] != '-' && strchr(a + 1, optopt) != NULL;
}

/* Does the long option `name` (what follows "--", or a prefix of it as
 * getopt takes one) take a value in any of the tables of `verbs`? */
static int verb_takes_value(const cli_verb *verbs, size_t n, const char *name)
{
	const struct option *o;
	size_t i, len = strlen(name);

	for (i = 0; i < n; i++)
		for (o = verbs[i].opts; o->name; o++)
			if (strncmp(o->name, name, len) == 0 && o->has_arg == required_argument)
				return 1;
	return 0;
}

const cli_verb *cli_verb_find(cli_ctx *ctx, int argc, char **argv, const cli_verb *verbs,
			      size_t n, const char **word)
{
	const char *w = NULL;
	size_t v;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			w = i + 1 < argc ? argv[i + 1] : NULL;
			break;
		}
		if (a[0] != '-' || !a[1]) {
			w = a;
			break;
		}
		if (a[1] == '-' && !strchr(a, '=') && verb_takes_value(verbs, n, a + 2))
			i++;
	}
	ctx->verbs = verbs;
	ctx->nverbs = n;
	ctx->verb = NULL;
	for (v = 0; w && v < n; v++)
		if (strcmp(w, verbs[v].name) == 0)
			ctx->verb = &verbs[v];
	if (word)
		*word = w;
	return ctx->verb;
}

/* Does table `opts` hold the long option named by the `len` bytes of `name`? */
static int has_option(const struct option *opts, const char *name, size_t len)
{
	for (; opts->name; opts++)
		if (strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
			return 1;
	return 0;
}

/* A long option `arg` ("--admin" or "--site=X") that getopt refused for
 * a command made of verbs, read with table `opts`: "; --admin goes with
 * 'user add'" when another verb takes it, so a technician learns where it
 * belongs; else "" (also when `opts` has it: then its value was wrong). */
static const char *verb_hint(const cli_ctx *ctx, const struct option *opts, const char *cmd,
			     const char *arg, char *out, size_t size)
{
	size_t v, len, at = 0, found = 0;
	int k;

	out[0] = '\0';
	if (!ctx->verbs || strncmp(arg, "--", 2) != 0)
		return out;
	arg += 2;
	len = strcspn(arg, "=");
	if (has_option(opts, arg, len))
		return out;
	for (v = 0; v < ctx->nverbs; v++) {
		if (&ctx->verbs[v] == ctx->verb || !has_option(ctx->verbs[v].opts, arg, len))
			continue;
		if (found)
			k = snprintf(out + at, size - at, " and '%s %s'", cmd, ctx->verbs[v].name);
		else
			k = snprintf(out + at, size - at, "; --%.*s goes with '%s %s'", (int)len,
				     arg, cmd, ctx->verbs[v].name);
		if (k < 0 || (size_t)k >= size - at) {
			out[at] = '\0';
			break;
		}
		at += (size_t)k;
		found++;
	}
	return out;
}

int cli_parse(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
	      int (*on_opt)(cli_ctx *ctx, int c, const char *arg, void *payload),
	      void *payload)
{
	char hint[256];
	int c;

	if (ctx->listing) {
		ctx->listed_opts = opts;
		return -1;
	}
	opterr = 0;
	optind = 0; /* glibc: start over, argv[0] is the command */
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			ctx->store_dir = optarg;
			break;
		case 'U':
			ctx->user = optarg;
			break;
		case 'h':
			ctx->help = 1;
			break;
		case 'j':
			ctx->json = 1;
			break;
		case ':':
			cli_usage(ctx, "option '%s' needs a value", argv[optind - 1]);
			return -1;
		case '?':
			if (short_option_failed(argc, argv))
				cli_usage(ctx, "unknown option '-%c'", optopt);
			else
				cli_usage(ctx, "unknown option '%s'%s%s%s%s%s%s", argv[optind - 1],
					  ctx->verb ? " for '" : "", ctx->verb ? argv[0] : "",
					  ctx->verb ? " " : "", ctx->verb ? ctx->verb->name : "",
					  ctx->verb ? "'" : "",
					  verb_hint(ctx, opts, argv[0], argv[optind - 1], hint,
						    sizeof(hint)));
			return -1;
		default:
			if (!on_opt || on_opt(ctx, c, optarg, payload) < 0)
				return -1;
		}
	}
	return optind;
}

int cli_parse_bare(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
		   int (*on_opt)(cli_ctx *ctx, int c, const char *arg, void *payload),
		   void *payload, const char *help, int *rc)
{
	int i;

	ctx->help_text = help;
	if ((i = cli_parse(ctx, argc, argv, opts, on_opt, payload)) < 0)
		*rc = CLI_USAGE;
	else if (ctx->help)
		*rc = cli_help(ctx);
	else if (i < argc)
		*rc = cli_usage(ctx, "unexpected argument '%s'", argv[i]);
	else
		return 0;
	return -1;
}

const char *cli_store_dir(cli_ctx *ctx)
{
	const char *env = getenv("CHARTSYNC_STORE"), *base;
	chs_buf b;

	if (ctx->store_dir)
		return ctx->store_dir;
	if (env && *env)
		return ctx->store_dir = env;
	chs_buf_init(&b, 0);
	/* systemd's StateDirectory= (its first folder) for a service */
	if ((base = getenv("STATE_DIRECTORY")) && *base) {
		chs_buf_put(&b, base, strcspn(base, ":"));
		ctx->default_dir = chs_buf_detach(&b);
		return ctx->store_dir = ctx->default_dir;
	}
	if ((base = getenv("XDG_DATA_HOME")) && *base)
		chs_buf_printf(&b, "%s/chartsync", base);
	else if ((base = getenv("HOME")) && *base)
		chs_buf_printf(&b, "%s/.local/share/chartsync", base);
	else
		chs_buf_puts(&b, "chartsync-store");
	ctx->default_dir = chs_buf_detach(&b);
	return ctx->store_dir = ctx->default_dir;
}

const char *cli_user(cli_ctx *ctx)
{
	const char *env = getenv("CHARTSYNC_USER");

	if (!ctx->user && env && *env)
		ctx->user = env;
	return ctx->user;
}

int cli_open(cli_ctx *ctx, chs_store **out)
{
	char *pass = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	if ((err = chs_store_probe(cli_store_dir(ctx))) < 0)
		return err;
	if ((err = cli_passphrase_open(&pass, &len)) < 0)
		return err;
	err = chs_store_open(out, cli_store_dir(ctx), cli_user(ctx), pass, len);
	chs_secret_free(pass);
	return err;
}

/* One line of the listing: what `c` (under `parent`, a subcommand) or
 * `c VERB` takes, as its own tables answer in listing mode; `*sub` and
 * `*nsub` get its table of subcommands, if it has one. */
static void list_one(const cli_command *parent, const cli_command *c, const char *verb,
		     const cli_command **sub, size_t *nsub, const cli_verb **verbs,
		     size_t *nverbs)
{
	char *argv[3] = { (char *)c->name, (char *)verb, NULL };
	cli_ctx ctx;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.listing = 1;
	(void)c->run(&ctx, verb ? 2 : 1, argv);
	printf("%s%s%s%s%s\t", parent ? parent->name : "", parent ? " " : "", c->name,
	       verb ? " " : "", verb ? verb : "");
	for (i = 0; ctx.listed_table && i < ctx.listed_n; i++)
		printf("%s%s", i ? " " : "", ctx.listed_table[i].name);
	/* a command made of verbs names them to cli_verb_find(); the few
	 * that read their verb by hand name them in the table above */
	for (i = 0; !ctx.listed_table && !verb && i < ctx.nverbs; i++)
		printf("%s%s", i ? " " : "", ctx.verbs[i].name);
	if (!ctx.listed_table && !ctx.verbs && c->verbs && !verb)
		fputs(c->verbs, stdout);
	putchar('\t');
	for (i = 0; ctx.listed_opts && ctx.listed_opts[i].name; i++)
		printf("%s--%s%s", i ? " " : "", ctx.listed_opts[i].name,
		       ctx.listed_opts[i].has_arg == required_argument ? "=" : "");
	printf("\t%s\n", parent ? parent->page : c->page);
	free(ctx.default_dir);
	if (sub) {
		*sub = ctx.listed_table;
		*nsub = ctx.listed_n;
		*verbs = ctx.verbs;
		*nverbs = ctx.nverbs;
	}
}

/* 'chartsync __complete': every command line the tables above dispatch
 * on, one per line, "COMMAND[ SUB]<TAB>SUBCOMMANDS<TAB>OPTIONS<TAB>PAGE";
 * an option that takes a value is listed with '=' ("--patient="); a
 * subcommand is documented on its parent's page. Not a user's command
 * (the main help does not list it): the bash completion is generated
 * from it at build time, and the manual pages' test reads it. */
static int list_commands(void)
{
	const cli_command *sub;
	const cli_verb *verbs;
	const char *v, *end;
	char verb[32];
	size_t k, i, nsub, nverbs;

	for (k = 0; k < NCOMMANDS; k++) {
		const cli_command *c = &commands[k];

		list_one(NULL, c, NULL, &sub, &nsub, &verbs, &nverbs);
		for (i = 0; sub && i < nsub; i++)
			list_one(c, &sub[i], NULL, NULL, NULL, NULL, NULL);
		for (i = 0; !sub && verbs && i < nverbs; i++)
			list_one(NULL, c, verbs[i].name, NULL, NULL, NULL, NULL);
		for (v = c->verbs; !sub && !verbs && v && *v; v = end + (*end != '\0')) {
			end = v + strcspn(v, " ");
			assert((size_t)(end - v) < sizeof(verb));
			memcpy(verb, v, (size_t)(end - v));
			verb[end - v] = '\0';
			list_one(NULL, c, verb, NULL, NULL, NULL, NULL);
		}
	}
	return CLI_OK;
}

/* Options given before the command name: --store, --user, --help. */
static int parse_leading(cli_ctx *ctx, int argc, char **argv, int *i)
{
	for (*i = 1; *i < argc && argv[*i][0] == '-'; (*i)++) {
		const char *a = argv[*i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			ctx->help = 1;
		} else if (strcmp(a, "--version") == 0) {
			printf("chartsync %s\n", CHARTSYNC_VERSION);
			return 0;
		} else if ((strcmp(a, "--store") == 0 || strcmp(a, "--user") == 0) &&
			   *i + 1 < argc) {
			*(a[2] == 's' ? &ctx->store_dir : &ctx->user) = argv[++*i];
		} else if (strcmp(a, "--store") == 0 || strcmp(a, "--user") == 0) {
			return cli_usage(NULL, "option '%s' needs a value (see 'chartsync --help')",
					 a);
		} else if (strncmp(a, "--store=", 8) == 0) {
			ctx->store_dir = a + 8;
		} else if (strncmp(a, "--user=", 7) == 0) {
			ctx->user = a + 7;
		} else {
			return cli_usage(NULL, "unknown option '%s' (see 'chartsync --help')", a);
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	cli_ctx ctx;
	size_t k;
	int i, rc;

	memset(&ctx, 0, sizeof(ctx));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (chs_crypto_init() < 0)
		return cli_fail(CHS_ERROR);
	if ((rc = parse_leading(&ctx, argc, argv, &i)) >= 0)
		return rc;
	if (i < argc && strcmp(argv[i], "__complete") == 0)
		return list_commands();
	if (i >= argc) {
		print_main_help(ctx.help ? stdout : stderr);
		return ctx.help ? CLI_OK : CLI_USAGE;
	}
	for (k = 0; k < NCOMMANDS; k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			break;
	if (k == NCOMMANDS)
		return cli_usage(NULL, "'%s' is not a chartsync command (see 'chartsync --help')",
				 argv[i]);
	ctx.page = commands[k].page;
	rc = commands[k].run(&ctx, argc - i, argv + i);
	free(ctx.default_dir);
	return rc;
}
