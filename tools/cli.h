/*
 * tools/cli.h - shared by the chartsync command's source files.
 */
#ifndef CHS_CLI_H
#define CHS_CLI_H

#include "client/chartsync.h"

#include <getopt.h>
#include <stdio.h>
#include <time.h>

/* Exit codes: a contract with scripts, one rule for every command.
 *
 * CLI_USAGE (1): the command line is malformed. What chartsync itself
 * defines was given wrong: a command, a subcommand, a report or export
 * kind, a setting's KEY, an option (unknown, or missing its value), the
 * number of operands, FIELD=VALUE's shape, or an option's value of the
 * wrong form (a date, a number, one of a fixed list). All of it is found
 * while reading argv, before the store is asked anything: cli_usage(),
 * cli_parse() and the cli_opt_*() checks below say so.
 *
 * CLI_FAILED (2): input refused or an operation that failed: whatever the
 * library judges (a record's values, an id that matches nothing, a
 * setting's value, a file that cannot be read, a wrong passphrase).
 * cli_fail() says so; a library's error is never turned into 1. */
#define CLI_OK 0
#define CLI_USAGE 1  /* the command line was malformed */
#define CLI_FAILED 2 /* input refused or the operation failed */

typedef struct cli_ctx {
	const char *store_dir; /* --store, CHARTSYNC_STORE or the default */
	const char *user;      /* --user, CHARTSYNC_USER or NULL */
	int json;
	int help;
	const char *help_text; /* the running command's --help */
	const char *page;      /* the running command's manual page */
	char *default_dir;     /* owned */
	/* Listing mode ('chartsync __complete'): cli_parse() records its
	 * option table here and returns -1 before reading argv, cli_dispatch()
	 * its subcommand table, so a command's own table answers "what options
	 * do you take" without running it. */
	int listing;
	const struct option *listed_opts;
	const struct cli_command *listed_table;
	size_t listed_n;
	/* A command made of verbs (cli_verb_find()): its verbs and the one
	 * given, so cli_parse() can say which verb a foreign option goes with. */
	const struct cli_verb *verbs;
	size_t nverbs;
	const struct cli_verb *verb;
} cli_ctx;

/* One row of the table a command line is dispatched on. The top-level
 * table (chartsync.c) is also the single source of the bash completion
 * and of which manual page documents a command (tests/tools/
 * test_man_pages.sh holds each --help to its page); subcommand tables
 * (report, export, patient) leave `verbs` and `page` NULL. */
typedef struct cli_command {
	const char *name;
	int (*run)(cli_ctx *ctx, int argc, char **argv);
	const char *summary;
	/* the words a command that reads its verb by hand takes as its first
	 * operand, space-separated ("init install-hook"); NULL for one without
	 * verbs, or whose verbs are a table (a subcommand table, or the
	 * cli_verb table it hands cli_verb_find(): the listing reads that) */
	const char *verbs;
	/* its manual page, "chartsync-records(1)" */
	const char *page;
} cli_command;

/* Options every command takes; a command's table ends with these. */
#define CLI_COMMON_OPTS \
	{ "store", required_argument, NULL, 'S' }, \
	{ "user", required_argument, NULL, 'U' }, \
	{ "help", no_argument, NULL, 'h' }

#define OPT_JSON { "json", no_argument, NULL, 'j' }
#define OPT_END { NULL, 0, NULL, 0 }

/* A verb of a command made of verbs ('user add', 'device list', 'code
 * queue'), with the option table it reads argv with: exactly the options
 * its usage line names, so 'user ls --admin' is an unknown option. */
typedef struct cli_verb {
	const char *name;
	const struct option *opts;
} cli_verb;

/* The verb of such a command, found before getopt reads argv with its
 * table: the first operand (options may come before it, and the value of
 * an option such as --store DIR is not one), looked up in `verbs`. Returns
 * its entry, or NULL when no operand was given or it names no verb
 * (`*word` gets that operand, or NULL). Notes the verbs in `ctx`, so that
 * cli_parse() adds to "unknown option '--admin'" which verb takes it. */
const cli_verb *cli_verb_find(cli_ctx *ctx, int argc, char **argv, const cli_verb *verbs,
			      size_t n, const char **word);

/* Parse argv (argv[0] is the command's name) with `opts` (which must hold
 * CLI_COMMON_OPTS and end with a zero entry). Calls `on_opt` for options
 * that are not common; returns the index of the first operand, or -1
 * after printing a usage error. */
int cli_parse(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
	      int (*on_opt)(cli_ctx *ctx, int c, const char *arg, void *payload),
	      void *payload);

/* cli_parse for a command that takes options only, with `help` as its
 * --help text: 0 to go on, or -1 with the exit code in *rc (help shown,
 * a usage error, an operand given). */
int cli_parse_bare(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
		   int (*on_opt)(cli_ctx *ctx, int c, const char *arg, void *payload),
		   void *payload, const char *help, int *rc);

/* A command made of subcommands (report, export): run the one argv[1]
 * names in `table`; with none, or --help, print `usage`, the table and
 * `footer` (to stderr and CLI_USAGE when none was named). `noun` says
 * what an unknown name is not, e.g. "a report". */
int cli_dispatch(cli_ctx *ctx, int argc, char **argv, const cli_command *table, size_t n,
		 const char *usage, const char *footer, const char *noun);
/* Write all of `len` bytes to `fd` (retrying short writes); -1 on error. */
int cli_write_all(int fd, const char *p, size_t len);
/* Print `help_text` for --help, returning CLI_OK. */
int cli_help(const cli_ctx *ctx);
/* Checks of an option's value, for a command's on_opt callback: 0 when
 * `arg`, the value of option `opt` (e.g. "--since"), has the form, else
 * -1 after a usage error naming the option and the form expected.
 * cli_opt_date: a date, YYYY-MM-DD; with `with_time` also a date-time
 * with its zone (2024-03-15T09:30Z). cli_opt_count: a whole number from
 * 0 to INT_MAX, stored in *out. */
int cli_opt_date(cli_ctx *ctx, const char *opt, const char *arg, int with_time);
int cli_opt_count(cli_ctx *ctx, const char *opt, const char *arg, int *out);
/* cli_opt_valid: `err` is what the library's check of a value's form
 * returned (chs_site_check(), chs_role_parse(), chs_codes_system_check()):
 * its message, after `opt`, as a usage error. */
int cli_opt_valid(cli_ctx *ctx, const char *opt, int err);
/* Values kept out of argv, where every local user sees them in `ps` and
 * the shell keeps them in its history: FIELD=@FILE takes the value of
 * FIELD from FILE, FIELD=@- from standard input (once per command line),
 * one trailing newline dropped; FIELD=@@TEXT is the value @TEXT. A file
 * larger than CLI_VALUE_FILE_MAX or holding a NUL byte is refused. */
#define CLI_VALUE_FILE_MAX ((size_t)1 << 20) /* bytes: more than any field holds */

/* The value `*value` (what followed FIELD=) stands for: when it starts
 * with '@', `*value` is pointed at the text read (kept in `*out`, which
 * the caller frees) or, for @@TEXT, at @TEXT; any other value (or NULL)
 * is left as it is, `*out` NULL. `stdin_used` counts @- across a command
 * line. Returns CLI_OK, or an exit code after printing the message. */
int cli_value_read(cli_ctx *ctx, const char *field, const char **value, int *stdin_used,
		   char **out);

/* Text from the store or from another site (a name, a note, a terminal,
 * a site), made safe for a terminal before a human-readable view prints
 * it: every control character, DEL, C1 control and bidirectional override
 * escaped (chs_text_escape()), so synced text cannot clear a screen,
 * retitle a terminal or forge rows. cli_safe() is for one line (a newline
 * shows as \x0a); cli_safe_lines() keeps newline and tab (a note's text).
 * The result lives in a ring of CLI_SAFE_RING buffers: use it in the
 * printf it was made for. A missing value (NULL) shows as "-". */
#define CLI_SAFE_RING 16
const char *cli_safe(const char *s);
const char *cli_safe_lines(const char *s);
/* cli_safe() of the first `max_chars` characters of `s` only: a column's
 * width, cut before escaping so no character or escape is split. */
const char *cli_safe_cut(const char *s, size_t max_chars);

/* A patient merged into another ('chartsync patient merge') is looked up
 * as the patient whose chart it is now: the library follows the pointer
 * (chs_record_follow()), and the command says so. cli_follow(), before
 * the lookup: `keep` gets where `id` lands, `from` the id asked for when
 * it was followed, else "" (an error is left to the command's own
 * lookup, which says it). cli_followed(), once the command succeeded:
 * on stderr, when it was followed, "patient FROM was merged into KEEP
 * (chart MRN); DOING KEEP"; `mrn` is KEEP's chart number as canonical
 * JSON (record text, escaped), or NULL when the command did not read it. */
void cli_follow(chs_store *s, const char *id, char keep[33], char from[33]);
void cli_followed(const char *from, const char *keep, const char *mrn, const char *doing);

/* "chartsync: <message>" on stderr (escaped: a message may quote what was
 * typed or synced), then the matching exit code. */
int cli_usage(const cli_ctx *ctx, const char *fmt, ...) CHS_PRINTF(2, 3);
int cli_fail(int err);
int cli_failf(const char *fmt, ...) CHS_PRINTF(1, 2);

/* The store folder to use for this command. */
const char *cli_store_dir(cli_ctx *ctx);
/* The user to open the store as: --user, $CHARTSYNC_USER, or NULL (the
 * store's only user, else the login name). */
const char *cli_user(cli_ctx *ctx);
/* Open the store as the chosen user, asking for the passphrase. */
int cli_open(cli_ctx *ctx, chs_store **out);

/* Passphrases (passphrase.c), in secret memory: free with
 * chs_secret_free(). `file_env` and `env` name the environment variables
 * to try first; `confirm` asks twice at a terminal. */
int cli_passphrase(char **out, size_t *len, const char *file_env,
		   const char *env, const char *prompt, int confirm);
/* The passphrase that opens a store: $CHARTSYNC_PASSPHRASE_FILE, else
 * $CHARTSYNC_PASSPHRASE, else systemd's credential
 * $CREDENTIALS_DIRECTORY/passphrase (a service's), else the terminal. */
int cli_passphrase_open(char **out, size_t *len);
/* A service user's passphrase, kept in `path`: a file that does not exist
 * yet is created (O_EXCL, mode 0600, fsynced) holding a new random
 * passphrase (`*created` 1: remove it if the user is not added after
 * all); an existing one gives its first line, and is refused when others
 * may read it. */
int cli_passphrase_service(char **out, size_t *len, const char *path, int *created);

/* Progress on stderr, as git shows it (progress.c): a chs_*_opts
 * progress callback with a cli_meter (zeroed) as its payload; it draws
 * only after half a second, at most five times a second. Call it only
 * when stderr is a terminal; cli_meter_end() finishes the line. */
typedef struct cli_meter {
	const char *what;
	struct timespec start, last;
	int shown;
} cli_meter;

void cli_meter_progress(const char *what, size_t done, size_t total, void *payload);
void cli_meter_end(cli_meter *m);
/* 1 when a command run with --json (`json`) should show progress. */
int cli_meter_wanted(int json);

/* Commands */
int cmd_init(cli_ctx *ctx, int argc, char **argv);
int cmd_status(cli_ctx *ctx, int argc, char **argv);
int cmd_config(cli_ctx *ctx, int argc, char **argv);
int cmd_check(cli_ctx *ctx, int argc, char **argv);
int cmd_passwd(cli_ctx *ctx, int argc, char **argv);
int cmd_rekey(cli_ctx *ctx, int argc, char **argv);
int cmd_backup(cli_ctx *ctx, int argc, char **argv);
int cmd_restore(cli_ctx *ctx, int argc, char **argv);
/* The last backup of the store in `dir` (cmd_backup.c), as `status`
 * shows it: {"at", "path"} or JSON null; and its text line. */
struct json_t *cli_backup_status(const char *dir);
void cli_backup_status_print(const char *dir);
/* Rekey the open store `s` and print what it did (shared by `rekey` and
 * `user rm --rekey`); 0 or a negative CHS_E* code. */
int cli_rekey(chs_store *s);
int cmd_user(cli_ctx *ctx, int argc, char **argv);
int cmd_add(cli_ctx *ctx, int argc, char **argv);
int cmd_set(cli_ctx *ctx, int argc, char **argv);
int cmd_rm(cli_ctx *ctx, int argc, char **argv);
int cmd_show(cli_ctx *ctx, int argc, char **argv);
int cmd_ls(cli_ctx *ctx, int argc, char **argv);
int cmd_log(cli_ctx *ctx, int argc, char **argv);
int cmd_import(cli_ctx *ctx, int argc, char **argv);
int cmd_fields(cli_ctx *ctx, int argc, char **argv);
int cmd_attach(cli_ctx *ctx, int argc, char **argv);
int cmd_cat(cli_ctx *ctx, int argc, char **argv);
int cmd_review(cli_ctx *ctx, int argc, char **argv);
int cmd_org(cli_ctx *ctx, int argc, char **argv);
int cmd_device(cli_ctx *ctx, int argc, char **argv);
int cmd_remote(cli_ctx *ctx, int argc, char **argv);
int cmd_sync(cli_ctx *ctx, int argc, char **argv);
/* cmd_org.c: the recovery kit (argv[0] is the subcommand's name) */
int cmd_org_recovery_kit(cli_ctx *ctx, int argc, char **argv);
int cmd_org_recover(cli_ctx *ctx, int argc, char **argv);
/* An archive's URL, a local folder made absolute (cmd_sync.c); malloc'ed. */
char *cli_absolute_url(const char *url);
int cmd_daemon(cli_ctx *ctx, int argc, char **argv);
int cmd_desk(cli_ctx *ctx, int argc, char **argv);
/* The service serving the store (cmd_daemon.c): its `status` answer (a
 * jansson object; {"error": ...} when it does not answer; NULL when none
 * runs), printed as `status` shows it; and a sync asked of it (0 with the
 * report's JSON in *result; *reached is 0 when none runs or it does not
 * answer, 1 when the error is the service's own). */
struct json_t *cli_service_status(cli_ctx *ctx);
void cli_service_status_print(struct json_t *svc);
int cli_service_sync(cli_ctx *ctx, char **result, int *reached);
int cmd_verify(cli_ctx *ctx, int argc, char **argv);
int cmd_archive(cli_ctx *ctx, int argc, char **argv);
int cmd_confirm(cli_ctx *ctx, int argc, char **argv);
int cmd_code(cli_ctx *ctx, int argc, char **argv);
int cmd_fees(cli_ctx *ctx, int argc, char **argv);
int cmd_codes(cli_ctx *ctx, int argc, char **argv);
int cmd_export(cli_ctx *ctx, int argc, char **argv);
/* export subcommands (tools/cmd_export.c's table) */
int cmd_export_claims(cli_ctx *ctx, int argc, char **argv);
int cmd_open(cli_ctx *ctx, int argc, char **argv);
int cmd_report(cli_ctx *ctx, int argc, char **argv);
/* report and export subcommands: argv[0] is the subcommand's name */
int cmd_report_consistency(cli_ctx *ctx, int argc, char **argv);
int cmd_report_coding(cli_ctx *ctx, int argc, char **argv);
int cmd_report_duplicates(cli_ctx *ctx, int argc, char **argv);
/* cmd_sync.c: the archive's tampering, as a report and a line of status */
int cmd_report_archive(cli_ctx *ctx, int argc, char **argv);
/* How many of the archive's events (tampering seen and healed) the store
 * holds; 0 when they cannot be read. */
size_t cli_archive_events(chs_store *s);
void cli_status_archive(chs_store *s);
int cmd_export_fhir(cli_ctx *ctx, int argc, char **argv);
/* cmd_patient.c: merge, unmerge, distinct */
int cmd_patient(cli_ctx *ctx, int argc, char **argv);

#endif
