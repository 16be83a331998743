/*
 * chartsync report <kind>: the reports, one subcommand each, dispatched
 * from the table below.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int report_access(cli_ctx *ctx, int argc, char **argv);

/* One line per report; argv[0] of each is the kind. */
static const cli_command kinds[] = {
	{ "access", report_access, "who looked at which records, when, how long, from where", NULL, NULL },
	{ "consistency", cmd_report_consistency, "each visit checked against the patient's records", NULL, NULL },
	{ "coding", cmd_report_coding, "the coding queue: length, age, throughput per coder", NULL, NULL },
	{ "duplicates", cmd_report_duplicates, "patients that are likely one person, with the evidence", NULL, NULL },
	{ "archive", cmd_report_archive, "the archive's tampering the devices saw and healed", NULL, NULL },
};

int cmd_report(cli_ctx *ctx, int argc, char **argv)
{
	return cli_dispatch(ctx, argc, argv, kinds, sizeof(kinds) / sizeof(kinds[0]),
			    "usage: chartsync report <kind> [<options>]\n\nkinds:",
			    "Every report takes --help and --json.", "a report");
}

/* ---- access ---- */

static const char access_help[] =
	"usage: chartsync report access [--patient ID] [--user U] [--terminal T]\n"
	"                               [--since DATE] [--until DATE] [--json|--csv]\n"
	"\n"
	"Who looked at which records, when, for how long and from which\n"
	"terminal: every access event this store holds, its own and (once\n"
	"synced) every other site's, oldest first. Each 'show', 'ls --patient',\n"
	"'log', 'open' and 'cat' of patient data is one event; the user is the\n"
	"one who opened the store with their own passphrase.\n"
	"\n"
	"  --patient ID    events about this patient (an id or a unique prefix)\n"
	"  --user U        events of this user (to open the store as someone,\n"
	"                  put --user before the command: chartsync --user NAME\n"
	"                  report access)\n"
	"  --terminal T    events at this terminal\n"
	"  --since DATE    from DATE on (ISO 8601, UTC: 2024-03-15 or\n"
	"                  2024-03-15T09:30Z)\n"
	"  --until DATE    up to DATE, inclusive (a date alone: that whole day)\n"
	"  --json          a JSON array, one object per event:\n"
	"                    event        the access event's record id\n"
	"                    start        when it began (ISO 8601 UTC, ms)\n"
	"                    duration_ms  how long (for 'open': until the pager\n"
	"                                 was closed)\n"
	"                    user         who opened the store\n"
	"                    terminal     the terminal's name (terminal.name)\n"
	"                    device       the device id that signed it\n"
	"                    action       show, ls, log, open, cat, ...\n"
	"                    patient      the patient's id (\"\" when none)\n"
	"                    record       the record asked for (\"\" when none)\n"
	"                    records      every record whose content was shown\n"
	"  --csv           the same columns as CSV with a header line (records\n"
	"                  separated by spaces); a cell beginning with =, +, -,\n"
	"                  @, a tab or a CR gets a leading apostrophe, so a\n"
	"                  spreadsheet never runs it as a formula\n"
	"\n"
	"The report shows ids, names and times, no clinical content, and is\n"
	"not itself recorded as an access.\n";

enum { FMT_TEXT, FMT_JSON, FMT_CSV };

typedef struct access_opts {
	chs_access_filter f;
	int csv;
} access_opts;

static int access_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	access_opts *o = payload;

	switch (c) {
	case 'p': o->f.patient = arg; return 0;
	case 'w': o->f.user = arg; return 0;
	case 't': o->f.terminal = arg; return 0;
	case 's': o->f.since = arg; return cli_opt_date(ctx, "--since", arg, 1);
	case 'u': o->f.until = arg; return cli_opt_date(ctx, "--until", arg, 1);
	case 'c': o->csv = 1; return 0;
	}
	return -1;
}

/* --user here filters; the store's user comes before the command. */
static const struct option access_opts_table[] = {
	{ "patient", required_argument, NULL, 'p' },
	{ "user", required_argument, NULL, 'w' },
	{ "terminal", required_argument, NULL, 't' },
	{ "since", required_argument, NULL, 's' },
	{ "until", required_argument, NULL, 'u' },
	{ "csv", no_argument, NULL, 'c' },
	{ "store", required_argument, NULL, 'S' },
	{ "help", no_argument, NULL, 'h' },
	OPT_JSON, OPT_END
};

/* One CSV cell (RFC 4180), through chs_text_csv_cell(): a user, terminal
 * or action that begins like a formula ('=', '+', '-', '@', tab, CR)
 * reaches a spreadsheet as text. */
static void csv_field(const char *v)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	if (chs_text_csv_cell(&b, v, strlen(v)) == 0 && b.len)
		fwrite(b.ptr, 1, b.len, stdout);
	chs_buf_dispose(&b);
}

/* The records, separated by spaces. */
static void csv_records(const chs_access_event *e)
{
	chs_buf b;
	size_t i;

	chs_buf_init(&b, 0);
	for (i = 0; i < e->nrecords; i++)
		chs_buf_printf(&b, "%s%s", i ? " " : "", e->records[i]);
	csv_field(b.ptr ? b.ptr : "");
	chs_buf_dispose(&b);
}

static void print_csv(const chs_access_report *r)
{
	size_t i;

	fputs("start,duration_ms,user,terminal,action,patient,record,records,device,event\r\n",
	      stdout);
	for (i = 0; i < chs_access_report_count(r); i++) {
		const chs_access_event *e = chs_access_report_get(r, i);

		csv_field(e->start);
		printf(",%lld,", (long long)e->duration_ms);
		csv_field(e->user);
		putchar(',');
		csv_field(e->terminal);
		putchar(',');
		csv_field(e->action);
		putchar(',');
		csv_field(e->patient);
		putchar(',');
		csv_field(e->record);
		putchar(',');
		csv_records(e);
		putchar(',');
		csv_field(e->device);
		putchar(',');
		csv_field(e->event);
		fputs("\r\n", stdout);
	}
}

static void print_text(const chs_access_report *r)
{
	size_t i;

	if (chs_access_report_count(r) == 0) {
		puts("no access events");
		return;
	}
	printf("%-24s %9s  %-24s %-7s %-12s %s\n", "START (UTC)", "DURATION", "USER@TERMINAL",
	       "ACTION", "PATIENT", "RECORDS");
	for (i = 0; i < chs_access_report_count(r); i++) {
		const chs_access_event *e = chs_access_report_get(r, i);
		long long ms = (long long)e->duration_ms;
		char who[128];

		snprintf(who, sizeof(who), "%s@%s", cli_safe(e->user), cli_safe(e->terminal));
		printf("%-24s %6lld.%01llds  %-24s %-7s %-12.12s %.12s%s", cli_safe(e->start),
		       ms / 1000, (ms % 1000) / 100, who, cli_safe(e->action),
		       *e->patient ? cli_safe(e->patient) : "-", cli_safe(e->record),
		       e->nrecords > 1 ? "" : "\n");
		if (e->nrecords > 1)
			printf(" and %zu more\n", e->nrecords - 1);
	}
}

static int print_access(const chs_access_report *r, int json, int csv)
{
	char *text = NULL;
	int err;

	if (!json) {
		(csv ? print_csv : print_text)(r);
		return CLI_OK;
	}
	if ((err = chs_json_access_report(&text, r)) < 0)
		return cli_fail(err);
	puts(text);
	free(text);
	return CLI_OK;
}

static int report_access(cli_ctx *ctx, int argc, char **argv)
{
	chs_access_report *r = NULL;
	chs_store *s = NULL;
	cli_meter m;
	access_opts o;
	int i, rc, err;

	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	ctx->help_text = access_help;
	if ((i = cli_parse(ctx, argc, argv, access_opts_table, access_opt, &o)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (i < argc)
		return cli_usage(ctx, "too many arguments");
	if (ctx->json && o.csv)
		return cli_usage(ctx, "give --json or --csv, not both");
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	if (cli_meter_wanted(ctx->json)) {
		o.f.progress = cli_meter_progress;
		o.f.payload = &m;
	}
	err = chs_report_access(&r, s, &o.f);
	cli_meter_end(&m);
	if (err < 0)
		rc = cli_fail(err);
	else
		rc = print_access(r, ctx->json, o.csv);
	chs_access_report_free(r);
	chs_store_free(s);
	return rc;
}
