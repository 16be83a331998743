/*
 * chartsync confirm | code | fees | codes, and 'export claims'
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define ARGS_MAX 64 /* repeated options kept per command line */

typedef struct coding_opts {
	const char *note;
	const char *cpt;
	const char *site;
	const char *system;
	const char *since;
	const char *csv;
	const char *modifiers[ARGS_MAX];
	size_t nmodifiers;
	const char *icd[ARGS_MAX];
	size_t nicd;
	int icd_given;
} coding_opts;

static int coding_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	coding_opts *o = payload;

	switch (c) {
	case 'n': o->note = arg; return 0;
	case 'c':
		if (o->cpt)
			return cli_usage(ctx, "give one --cpt per 'code assign'"), -1;
		o->cpt = arg;
		return 0;
	case 's':
		/* named as on the roster; an empty --site makes lines for every site */
		o->site = arg;
		return *arg ? cli_opt_valid(ctx, "--site", chs_site_check(arg)) : 0;
	case 'y':
		o->system = arg;
		return cli_opt_valid(ctx, "--system", chs_codes_system_check(arg));
	case 'i':
		o->icd_given = 1;
		if (o->nicd == ARGS_MAX)
			return cli_usage(ctx, "too many --icd"), -1;
		o->icd[o->nicd++] = arg;
		return 0;
	case 'm':
		if (o->nmodifiers == ARGS_MAX)
			return cli_usage(ctx, "too many --modifier"), -1;
		o->modifiers[o->nmodifiers++] = arg;
		return 0;
	case 'b': o->since = arg; return cli_opt_date(ctx, "--since", arg, 0);
	case 'o': o->csv = arg; return 0;
	}
	return -1;
}

/* Each command its own table, holding exactly what its --help names:
 * 'confirm ID --csv X' is an unknown option, not silently ignored. */
#define OPT_NOTE { "note", required_argument, NULL, 'n' }

static const struct option confirm_opts[] = { OPT_NOTE, OPT_JSON, CLI_COMMON_OPTS, OPT_END };
/* each verb of 'code' its own: 'code queue --cpt 1' is an unknown
 * option, which cli_parse() says goes with 'code assign' */
static const struct option code_bare_opts[] = { CLI_COMMON_OPTS, OPT_END };
static const struct option code_queue_opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
static const struct option code_assign_opts[] = {
	{ "cpt", required_argument, NULL, 'c' },
	{ "modifier", required_argument, NULL, 'm' },
	{ "icd", required_argument, NULL, 'i' },
	OPT_JSON, CLI_COMMON_OPTS, OPT_END
};
static const cli_verb code_verbs[] = {
	{ "send", code_bare_opts }, { "queue", code_queue_opts },
	{ "assign", code_assign_opts }, { "done", code_bare_opts },
};
static const struct option fees_opts[] = {
	{ "site", required_argument, NULL, 's' }, OPT_JSON, CLI_COMMON_OPTS, OPT_END
};
static const struct option codes_opts[] = {
	{ "system", required_argument, NULL, 'y' }, OPT_JSON, CLI_COMMON_OPTS, OPT_END
};
static const struct option claims_opts[] = {
	{ "since", required_argument, NULL, 'b' },
	{ "csv", required_argument, NULL, 'o' },
	CLI_COMMON_OPTS, OPT_END
};

/* Parse and print --help; the first operand's index, or -1 with *rc. */
static int parse(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
		 const char *help, coding_opts *o, int *rc)
{
	int i;

	memset(o, 0, sizeof(*o));
	ctx->help_text = help;
	if ((i = cli_parse(ctx, argc, argv, opts, coding_opt, o)) < 0) {
		*rc = CLI_USAGE;
		return -1;
	}
	if (ctx->help) {
		*rc = cli_help(ctx);
		return -1;
	}
	return i;
}

static int open_store(cli_ctx *ctx, chs_store **s, int *rc)
{
	int err;

	if ((err = cli_open(ctx, s)) < 0) {
		*rc = cli_fail(err);
		return -1;
	}
	return 0;
}

/* ---- confirm ---- */

static const char confirm_help[] =
	"usage: chartsync confirm ID... [--note TEXT] [--json]\n"
	"\n"
	"Record that you checked these records against the paper chart. A\n"
	"record whose last change is yours is confirmed by a colleague, not by\n"
	"you; a record under review is settled first. All of the IDs or none.\n"
	"A later edit makes a record unconfirmed again: 'chartsync ls\n"
	"--unconfirmed' lists what waits, 'chartsync show' says who confirmed.\n"
	"The note is free text, so it is kept with the clinical records: a\n"
	"billing office never receives it, and confirms without --note.\n"
	"--note @FILE reads it from FILE, --note @- from standard input.\n";

int cmd_confirm(cli_ctx *ctx, int argc, char **argv)
{
	chs_store *s = NULL;
	char *note = NULL;
	coding_opts o;
	size_t added = 0;
	int i, rc = CLI_OK, err, stdin_used = 0;

	if ((i = parse(ctx, argc, argv, confirm_opts, confirm_help, &o, &rc)) < 0)
		return rc;
	if (i >= argc)
		return cli_usage(ctx, "missing arguments: give the IDs to confirm");
	/* --note @FILE, @- or @@TEXT, as FIELD=@FILE (cli_value_read) */
	if ((rc = cli_value_read(ctx, "note", &o.note, &stdin_used, &note)) != CLI_OK)
		return rc;
	if (open_store(ctx, &s, &rc) < 0) {
		free(note);
		return rc;
	}
	if ((err = chs_record_confirm(s, (const char *const *)argv + i, (size_t)(argc - i),
				      o.note, &added)) < 0)
		rc = cli_fail(err);
	else if (ctx->json)
		printf("{\"confirmed\":%zu}\n", added);
	else
		printf("confirmed %zu record(s)%s\n", added,
		       added < (size_t)(argc - i) ? " (the others were confirmed already)" : "");
	free(note);
	chs_store_free(s);
	return rc;
}

/* ---- code ---- */

static const char code_help[] =
	"usage: chartsync code send ENCOUNTER\n"
	"       chartsync code queue [--json]\n"
	"       chartsync code assign ENCOUNTER [--cpt CODE [--modifier M]...]\n"
	"                             [--icd CODE [CODE...]] [--json]\n"
	"       chartsync code done ENCOUNTER\n"
	"\n"
	"The coding queue. 'send' puts a visit in the queue; 'queue' lists the\n"
	"visits waiting, oldest first, with the procedures and diagnoses they\n"
	"have; 'assign' records a procedure (CPT or HCPCS, its fee taken from\n"
	"the fee schedule for the visit's date) and diagnoses (ICD-10-CM) for a\n"
	"queued visit; 'done' takes it out of the queue as coded by you.\n"
	"A fee the schedule lacks is left unset and a code no imported list\n"
	"knows is accepted; both are printed as warnings. A procedure already on\n"
	"the visit with the same modifiers (assigned or added by hand) is\n"
	"refused, so a claim never bills it twice; when it really was done\n"
	"again, say so with a modifier (76 repeat, 59 distinct, LT/RT side).\n";

/* A visit's field (canonical JSON) as the queue shows it: a string's
 * text; NULL for any other value, and when there is none. */
static char *field_text(const char *value)
{
	char *t = NULL;

	if (value && value[0] == '"')
		chs_json_value_text(&t, value);
	return t;
}

static void print_visit(const chs_coding_visit *v)
{
	char *date = field_text(v->date), *sent = field_text(v->sent);
	size_t j;

	/* cli_safe: synced text escaped, a missing value shown as "-" */
	printf("%.12s  %-10s  %s (%s)  sent %s\n", cli_safe(v->encounter), cli_safe(date),
	       cli_safe(v->name), cli_safe(v->mrn), cli_safe(sent));
	free(date);
	free(sent);
	for (j = 0; j < v->nprocedures; j++) {
		const chs_coding_procedure *p = &v->procedures[j];

		printf("    procedure %s", cli_safe(p->cpt));
		if (p->modifier)
			printf(" -%s", cli_safe(p->modifier));
		if (p->has_fee)
			printf("  $%lld.%02lld", (long long)p->fee / 100, (long long)p->fee % 100);
		printf("\n");
	}
	for (j = 0; j < v->ndiagnoses; j++)
		printf("    diagnosis %s\n", cli_safe(v->diagnoses[j].icd));
}

static void print_queue(const chs_coding_list *q)
{
	size_t k;

	for (k = 0; k < chs_coding_list_count(q); k++)
		print_visit(chs_coding_list_get(q, k));
	if (chs_coding_list_count(q) == 0)
		printf("no visits wait for coding\n");
}

/* With --json the formatter's text (client/json/json.h). */
static int print_json(int (*format)(char **out, const void *obj), const void *obj)
{
	char *json = NULL;
	int err;

	if ((err = format(&json, obj)) < 0)
		return cli_fail(err);
	puts(json);
	free(json);
	return CLI_OK;
}

static int format_queue(char **out, const void *q)
{
	return chs_json_coding_queue(out, q);
}

static int format_assignment(char **out, const void *a)
{
	return chs_json_coding_assignment(out, a);
}

static int code_queue(cli_ctx *ctx, chs_store *s)
{
	chs_coding_list *q = NULL;
	int err, rc = CLI_OK;

	if ((err = chs_coding_queue(&q, s)) < 0)
		return cli_fail(err);
	if (ctx->json)
		rc = print_json(format_queue, q);
	else
		print_queue(q);
	chs_coding_list_free(q);
	return rc;
}

static void print_assigned(const chs_coding_assignment *r)
{
	size_t k;

	if (r->procedure) {
		printf("procedure %s", cli_safe(r->procedure));
		if (r->has_fee)
			printf("  fee $%lld.%02lld", (long long)r->fee / 100, (long long)r->fee % 100);
		else
			printf("  fee unknown");
		printf("\n");
	}
	for (k = 0; k < r->ndiagnoses; k++)
		printf("diagnosis %s\n", cli_safe(r->diagnoses[k]));
}

static int code_assign(cli_ctx *ctx, chs_store *s, const char *enc, coding_opts *o)
{
	chs_coding_assignment *r = NULL;
	chs_coding_assign_opts a;
	size_t k;
	int err, rc = CLI_OK;

	memset(&a, 0, sizeof(a));
	a.cpt = o->cpt;
	a.modifiers = o->modifiers;
	a.nmodifiers = o->nmodifiers;
	a.icd = o->icd;
	a.nicd = o->nicd;
	if ((err = chs_coding_assign(&r, s, enc, &a)) < 0)
		return cli_fail(err);
	for (k = 0; k < r->nwarnings; k++)
		fprintf(stderr, "chartsync: warning: %s\n", cli_safe(r->warnings[k]));
	if (ctx->json)
		rc = print_json(format_assignment, r);
	else
		print_assigned(r);
	chs_coding_assignment_free(r);
	return rc;
}

/* Operands after `code assign ENCOUNTER` are more diagnoses: --icd A B C. */
static int more_icds(cli_ctx *ctx, coding_opts *o, char **args, int n)
{
	int i;

	if (n > 0 && !o->icd_given)
		return cli_usage(ctx, "too many arguments");
	for (i = 0; i < n; i++) {
		if (o->nicd == ARGS_MAX)
			return cli_usage(ctx, "too many --icd");
		o->icd[o->nicd++] = args[i];
	}
	return CLI_OK;
}

/* The operands of a verb of 'code' (its options were held to its table). */
static int code_check_args(cli_ctx *ctx, const char *sub, coding_opts *o, char **args,
			   int n)
{
	int takes_visit = strcmp(sub, "queue") != 0;

	if (takes_visit && n < 1)
		return cli_usage(ctx, "missing arguments: give the visit (ENCOUNTER)");
	if (strcmp(sub, "assign") == 0) {
		if (!o->cpt && !o->icd_given)
			return cli_usage(ctx, "give --cpt CODE or --icd CODE (or both)");
		if (o->nmodifiers && !o->cpt)
			return cli_usage(ctx, "--modifier goes with --cpt");
		return more_icds(ctx, o, args + 1, n - 1);
	}
	if (n > (takes_visit ? 1 : 0))
		return cli_usage(ctx, "too many arguments");
	return CLI_OK;
}

int cmd_code(cli_ctx *ctx, int argc, char **argv)
{
	const cli_verb *v = cli_verb_find(ctx, argc, argv, code_verbs,
					  sizeof(code_verbs) / sizeof(code_verbs[0]), NULL);
	chs_store *s = NULL;
	coding_opts o;
	const char *sub;
	int i, rc = CLI_OK, err;

	if ((i = parse(ctx, argc, argv, v ? v->opts : code_bare_opts, code_help, &o, &rc)) < 0)
		return rc;
	if (i >= argc)
		return cli_usage(ctx, "missing arguments: send, queue, assign or done");
	if (!v)
		return cli_usage(ctx, "'%s' is not a 'code' command (send, queue, assign, done)",
				 argv[i]);
	sub = argv[i++];
	if ((rc = code_check_args(ctx, sub, &o, argv + i, argc - i)) != CLI_OK)
		return rc;
	if (open_store(ctx, &s, &rc) < 0)
		return rc;
	if (strcmp(sub, "queue") == 0)
		rc = code_queue(ctx, s);
	else if (strcmp(sub, "assign") == 0)
		rc = code_assign(ctx, s, argv[i], &o);
	else if ((err = strcmp(sub, "send") == 0 ? chs_coding_send(s, argv[i])
						 : chs_coding_done(s, argv[i])) < 0)
		rc = cli_fail(err);
	chs_store_free(s);
	return rc;
}

/* ---- fees ---- */

static const char fees_help[] =
	"usage: chartsync fees import FILE.csv [--site NAME] [--json]\n"
	"\n"
	"Import a fee schedule: CSV with the header line\n"
	"  code,description,fee,effective\n"
	"then one line per code and date, e.g.\n"
	"  99213,\"Office visit, established patient\",125.00,2024-01-01\n"
	"The fee is in dollars (125, 125.5 or 125.00; no $ sign, no thousands\n"
	"separator), the effective date YYYY-MM-DD; fields with commas or quotes\n"
	"are quoted as RFC 4180 says. The schedule is kept as signed records and\n"
	"syncs, so the billing office prices with it too. --site names the site\n"
	"whose schedule it is (default: this store's site, or every site when\n"
	"the store is in no organisation). A bad line is named by its number and\n"
	"nothing is imported; importing again updates what changed.\n";

int cmd_fees(cli_ctx *ctx, int argc, char **argv)
{
	chs_fees_result res;
	chs_store *s = NULL;
	coding_opts o;
	int i, rc = CLI_OK, err;

	if ((i = parse(ctx, argc, argv, fees_opts, fees_help, &o, &rc)) < 0)
		return rc;
	if (argc - i != 2 || strcmp(argv[i], "import") != 0)
		return cli_usage(ctx, argc - i < 2 ? "missing arguments" : argc - i > 2 ?
				 "too many arguments" : "unknown 'fees' command");
	if (open_store(ctx, &s, &rc) < 0)
		return rc;
	if ((err = chs_fees_import(s, argv[i + 1], o.site, &res)) < 0)
		rc = cli_fail(err);
	else if (ctx->json)
		printf("{\"lines\":%lld,\"added\":%lld,\"updated\":%lld}\n", (long long)res.lines,
		       (long long)res.added, (long long)res.updated);
	else
		printf("imported %lld fee lines (%lld new, %lld changed)\n", (long long)res.lines,
		       (long long)res.added, (long long)res.updated);
	chs_store_free(s);
	return rc;
}

/* ---- codes ---- */

static const char codes_help[] =
	"usage: chartsync codes import FILE [--system icd10cm|hcpcs|cpt] [--json]\n"
	"\n"
	"Import a code list into this store, so codes no list knows are flagged\n"
	"(never refused). FILE is one code per line, the code then whitespace\n"
	"then its description (CMS's ICD-10-CM code file, codes with or without\n"
	"the dot), CMS's ICD-10-CM order file, or CSV (*.csv: code,description;\n"
	"a header line is skipped). CPT lists are code numbers only (the AMA owns\n"
	"the descriptions). --system is guessed from the first code when not\n"
	"given. A sample of each ships in data/codes/.\n";

int cmd_codes(cli_ctx *ctx, int argc, char **argv)
{
	chs_store *s = NULL;
	int64_t count = 0;
	coding_opts o;
	int i, rc = CLI_OK, err;

	if ((i = parse(ctx, argc, argv, codes_opts, codes_help, &o, &rc)) < 0)
		return rc;
	if (argc - i != 2 || strcmp(argv[i], "import") != 0)
		return cli_usage(ctx, argc - i < 2 ? "missing arguments" : argc - i > 2 ?
				 "too many arguments" : "unknown 'codes' command");
	if (open_store(ctx, &s, &rc) < 0)
		return rc;
	if ((err = chs_codes_import(s, argv[i + 1], o.system, &count)) < 0)
		rc = cli_fail(err);
	else if (ctx->json)
		printf("{\"imported\":%lld}\n", (long long)count);
	else
		printf("imported %lld codes\n", (long long)count);
	chs_store_free(s);
	return rc;
}

/* ---- export claims ---- */

static const char claims_help[] =
	"usage: chartsync export claims --since DATE [--csv FILE]\n"
	"\n"
	"Claims for the billing office: CSV (RFC 4180) with a header, one row per\n"
	"procedure of the visits on or after DATE (YYYY-MM-DD): patient, mrn,\n"
	"name, dob, payer, member_id, visit, visit_date, procedure, code,\n"
	"modifiers, icd (the visit's ICD-10-CM codes), fee (dollars; empty when\n"
	"the schedule had none) and coding (queued, done or empty). To standard\n"
	"output, or to FILE (readable by you only: it holds patient data).\n"
	"A text cell that begins with =, +, -, @, a tab or a carriage return is\n"
	"written as '... (quoted, with a leading apostrophe), so a spreadsheet\n"
	"never runs it as a formula; the fee stays a number.\n";

int cmd_export_claims(cli_ctx *ctx, int argc, char **argv)
{
	chs_store *s = NULL;
	char *csv = NULL;
	size_t rows = 0;
	coding_opts o;
	int i, rc = CLI_OK, err;

	if ((i = parse(ctx, argc, argv, claims_opts, claims_help, &o, &rc)) < 0)
		return rc;
	if (!o.since)
		return cli_usage(ctx, "give --since DATE");
	if (i < argc)
		return cli_usage(ctx, "too many arguments");
	if (open_store(ctx, &s, &rc) < 0)
		return rc;
	if ((err = chs_claims_export(s, o.since, &csv, &rows)) < 0)
		rc = cli_fail(err);
	else if (!o.csv)
		fputs(csv, stdout);
	else if ((err = chs_file_save(o.csv, csv, strlen(csv))) < 0)
		rc = cli_fail(err);
	else
		fprintf(stderr, "wrote %zu claim row(s) to '%s'\n", rows, o.csv);
	free(csv);
	chs_store_free(s);
	return rc;
}
