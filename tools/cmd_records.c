/*
 * chartsync add | set | rm | show | ls | log | import | attach | cat |
 *           review | verify
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHORT_ID 12 /* hex digits shown for ids in lists */

/* What the record commands' options set; each command's own table names
 * the options it takes. */
typedef struct rec_opts {
	const char *patient;
	const char *encounter;
	const char *title;
	const char *take;
	chs_edit unset[64];
	size_t nunset;
	int full;
	int unconfirmed;
} rec_opts;

static int rec_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	rec_opts *o = payload;

	switch (c) {
	case 'p': o->patient = arg; return 0;
	case 'e': o->encounter = arg; return 0;
	case 't': o->title = arg; return 0;
	case 'k': o->take = arg; return 0;
	case 'f': o->full = 1; return 0;
	case 'n': o->unconfirmed = 1; return 0;
	case 'u':
		if (o->nunset == sizeof(o->unset) / sizeof(o->unset[0]))
			return cli_usage(ctx, "too many --unset"), -1;
		memset(&o->unset[o->nunset], 0, sizeof(o->unset[0]));
		o->unset[o->nunset].name = arg;
		o->unset[o->nunset++].unset = 1;
		return 0;
	}
	return -1;
}

/* Parse, print --help, and open the store; returns the first operand's
 * index, or -1 with *rc set. */
static int start(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
		 const char *help, rec_opts *o, int min_args, int max_args,
		 chs_store **s, int *rc)
{
	int i, err;

	memset(o, 0, sizeof(*o));
	ctx->help_text = help;
	*s = NULL;
	if ((i = cli_parse(ctx, argc, argv, opts, rec_opt, o)) < 0) {
		*rc = CLI_USAGE;
		return -1;
	}
	if (ctx->help) {
		*rc = cli_help(ctx);
		return -1;
	}
	if (argc - i < min_args || (max_args >= 0 && argc - i > max_args)) {
		*rc = cli_usage(ctx, argc - i < min_args ? "missing arguments"
							 : "too many arguments");
		return -1;
	}
	if ((err = cli_open(ctx, s)) < 0) {
		*rc = cli_fail(err);
		return -1;
	}
	return i;
}

/* The edits of a command line and the values read for them (@FILE). */
typedef struct edit_list {
	chs_edit *e;
	size_t n;
	char **read; /* one slot per operand, NULL or malloc'ed */
	size_t nread;
} edit_list;

static void edit_list_dispose(edit_list *l)
{
	size_t i;

	for (i = 0; i < l->nread; i++)
		free(l->read[i]);
	free(l->read);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

/* A typed value given as @FILE, @- or @@TEXT (cli_value_read). FIELD:=JSON
 * is taken as it is: `name:='"@home"'` is the text @home. */
static int edit_value(cli_ctx *ctx, chs_edit *e, int *stdin_used, char **read)
{
	if (e->raw || e->unset)
		return CLI_OK;
	return cli_value_read(ctx, e->name, &e->value, stdin_used, read);
}

/* FIELD=VALUE / FIELD:=JSON operands plus --unset options. */
static int gather_edits(cli_ctx *ctx, char **args, int n, const rec_opts *o,
			edit_list *out)
{
	edit_list l;
	int i, rc = CLI_OK, stdin_used = 0;

	memset(out, 0, sizeof(*out));
	l.e = chs_calloc((size_t)n + o->nunset + 1, sizeof(*l.e));
	l.read = chs_calloc((size_t)n + 1, sizeof(*l.read));
	l.n = l.nread = 0;
	if (!l.e || !l.read) {
		edit_list_dispose(&l);
		return cli_failf("out of memory");
	}
	for (i = 0; i < n && rc == CLI_OK; i++) {
		if (chs_edit_parse(&l.e[l.n], args[i]) < 0)
			rc = cli_usage(ctx, "%s", chs_error_last());
		else
			rc = edit_value(ctx, &l.e[l.n++], &stdin_used, &l.read[l.nread++]);
	}
	if (rc != CLI_OK) {
		edit_list_dispose(&l);
		return rc;
	}
	memcpy(l.e + l.n, o->unset, o->nunset * sizeof(*l.e));
	l.n += o->nunset;
	*out = l;
	return CLI_OK;
}

static int print_json_text(const char *json)
{
	puts(json);
	return CLI_OK;
}

/* A result the library gives as an object: with --json the text `format`
 * makes of it (client/json/json.h), else drawn for a person by `draw`. */
static int emit_object(const cli_ctx *ctx, int err, const void *obj,
		       int (*format)(char **out, const void *obj),
		       void (*draw)(const void *obj))
{
	char *json = NULL;

	if (err < 0)
		return cli_fail(err);
	if (!ctx->json) {
		draw(obj);
		return CLI_OK;
	}
	if ((err = format(&json, obj)) < 0)
		return cli_fail(err);
	print_json_text(json);
	free(json);
	return CLI_OK;
}

/* A field's value (canonical JSON) as a person reads it; NULL for none
 * (and when out of memory: the line is then printed without it). */
static char *field_text(const char *value)
{
	char *t = NULL;

	chs_json_value_text(&t, value);
	return t;
}

/* ---- add ---- */

/* FIELD=@FILE in every command that takes FIELD=VALUE (cli_value_read). */
#define VALUE_FILE_HELP \
	"FIELD=@FILE reads the value from FILE, FIELD=@- from standard input\n" \
	"(one trailing newline dropped; at most 1 MiB): use them for names and\n" \
	"notes, which on the command line every user of this computer sees in\n" \
	"'ps' and the shell keeps in its history. FIELD=@@TEXT is the value\n" \
	"@TEXT (or FIELD:='\"@TEXT\"').\n"

/* What the commands that look a patient up say of merged charts. */
#define MERGED_HELP \
	"A patient merged into another ('chartsync patient merge') is looked\n" \
	"up as the patient whose chart it is now; a line on standard error\n" \
	"says so ('patient 3f2a... was merged into 8c1d... (chart X-1)').\n"

static const char add_help[] =
	"usage: chartsync add TYPE FIELD=VALUE... [--patient ID] [--encounter ID] [--json]\n"
	"\n"
	"Create a record and print its id. TYPE is one of patient, encounter,\n"
	"note, problem, medication, allergy, procedure, diagnosis (access\n"
	"events, type audit, are written by chartsync itself).\n"
	"FIELD=VALUE takes the value as the field's type says (text, whole\n"
	"number, date); FIELD:=JSON gives raw JSON. Dates are ISO 8601\n"
	"(2024-03-15), diagnosis codes ICD-10-CM (E11.9), procedure codes CPT\n"
	"(99213) or HCPCS (G0008), fees whole cents (12500 for $125.00).\n"
	"Text is refused if it holds control characters, bidirectional\n"
	"overrides or invalid UTF-8 (newline and tab only in a note's text), is\n"
	"blank where required, or is over its field's length (200 characters\n"
	"for a name, 65,536 for a note). Dates run from 1850-01-01; a date of\n"
	"birth is at most today, a visit at most a year ahead. Chart numbers\n"
	"(mrn) are stored trimmed, in NFC, with one kind of dash.\n"
	VALUE_FILE_HELP
	"A visit's reason is clinical: it is kept apart from the visit's\n"
	"billing record, so a billing office never receives it (and cannot\n"
	"type one); 'chartsync fields' lists every clinical field.\n"
	"\n"
	"  chartsync add patient name='Ada Byron' mrn=A-1001 dob=1961-12-10\n"
	"  chartsync add encounter --patient 3f2a date=2024-03-15 reason=cough\n"
	"  chartsync add procedure --encounter 9c1e cpt=99213 fee:=12500\n"
	"  chartsync add note --encounter 9c1e date=2024-03-15 text=@note.txt\n"
	"\n"
	MERGED_HELP;

/* Each command its own option table, holding exactly what its --help
 * names: an option another record command takes ('rm ID --take X') is an
 * unknown option here, not silently ignored. rec_opt() reads them all. */
#define OPT_PATIENT { "patient", required_argument, NULL, 'p' }
#define OPT_ENCOUNTER { "encounter", required_argument, NULL, 'e' }
#define OPT_UNSET { "unset", required_argument, NULL, 'u' }

static const struct option add_opts[] = {
	OPT_PATIENT, OPT_ENCOUNTER, OPT_JSON, CLI_COMMON_OPTS, OPT_END
};

int cmd_add(cli_ctx *ctx, int argc, char **argv)
{
	chs_store *s = NULL;
	edit_list l;
	char id[33], keep[33] = "", from[33] = "";
	rec_opts o;
	int i, rc = CLI_OK, err;

	memset(&l, 0, sizeof(l));
	if ((i = start(ctx, argc, argv, add_opts, add_help, &o, 1, -1, &s, &rc)) < 0)
		return rc;
	if ((rc = gather_edits(ctx, argv + i + 1, argc - i - 1, &o, &l)) != CLI_OK)
		goto done;
	if (o.patient)
		cli_follow(s, o.patient, keep, from);
	if ((err = chs_record_add(s, argv[i], l.e, l.n, o.patient, o.encounter, id)) < 0) {
		rc = cli_fail(err);
		goto done;
	}
	cli_followed(from, keep, NULL, "adding to");
	if (ctx->json)
		printf("{\"id\":\"%s\"}\n", id);
	else
		puts(id);
done:
	edit_list_dispose(&l);
	chs_store_free(s);
	return rc;
}

/* ---- set ---- */

static const char set_help[] =
	"usage: chartsync set ID FIELD=VALUE... [--unset FIELD]...\n"
	"\n"
	"Change fields of a record (ID may be a unique prefix). The change is\n"
	"signed and recorded with your user name and this terminal. A visit\n"
	"moved to another patient (patient=ID) takes its records with it.\n"
	VALUE_FILE_HELP;

static const struct option set_opts[] = { OPT_UNSET, CLI_COMMON_OPTS, OPT_END };

int cmd_set(cli_ctx *ctx, int argc, char **argv)
{
	chs_store *s = NULL;
	edit_list l;
	rec_opts o;
	int i, rc = CLI_OK, err;

	memset(&l, 0, sizeof(l));
	if ((i = start(ctx, argc, argv, set_opts, set_help, &o, 1, -1, &s, &rc)) < 0)
		return rc;
	if ((rc = gather_edits(ctx, argv + i + 1, argc - i - 1, &o, &l)) != CLI_OK)
		goto done;
	if (l.n == 0)
		rc = cli_usage(ctx, "nothing to change: give FIELD=VALUE or --unset FIELD");
	else if ((err = chs_record_set(s, argv[i], l.e, l.n)) < 0)
		rc = cli_fail(err);
done:
	edit_list_dispose(&l);
	chs_store_free(s);
	return rc;
}

/* ---- rm ---- */

static const char rm_help[] =
	"usage: chartsync rm ID\n"
	"\n"
	"Remove a record. Its history stays; a patient or visit that still has\n"
	"records is not removed.\n";

static const struct option rm_opts[] = { CLI_COMMON_OPTS, OPT_END };

int cmd_rm(cli_ctx *ctx, int argc, char **argv)
{
	chs_store *s = NULL;
	rec_opts o;
	int i, rc = CLI_OK, err;

	if ((i = start(ctx, argc, argv, rm_opts, rm_help, &o, 1, 1, &s, &rc)) < 0)
		return rc;
	rc = (err = chs_record_rm(s, argv[i])) < 0 ? cli_fail(err) : CLI_OK;
	chs_store_free(s);
	return rc;
}

/* ---- show ---- */

static const char show_help[] =
	"usage: chartsync show ID [--json]\n"
	"\n"
	"Show a record. A record under review says so, with every candidate\n"
	"value and the change it came from. Recorded as an access event (see\n"
	"'chartsync report access').\n"
	MERGED_HELP;

static void print_candidate(const chs_record_candidate *c, const char *what)
{
	printf("    %.12s  %-24s %s @ %s  %s\n", cli_safe(c->change), cli_safe(what),
	       cli_safe(c->user), cli_safe(c->terminal), cli_safe(c->time));
}

static void print_candidates(const chs_record *r)
{
	size_t i, k, n;

	for (i = 0; i < chs_record_field_count(r); i++) {
		if ((n = chs_record_field_candidate_count(r, i)) == 0)
			continue;
		printf("  field '%s' has %zu candidates:\n", cli_safe(chs_record_field_name(r, i)), n);
		for (k = 0; k < n; k++) {
			const chs_record_candidate *c = chs_record_field_candidate(r, i, k);
			char *v = field_text(c->value ? c->value : "null");

			print_candidate(c, v ? v : "");
			free(v);
		}
	}
}

static void print_removal(const chs_record *r)
{
	size_t k;

	if (!chs_record_removal_under_review(r))
		return;
	printf("  removed at one site, edited at another:\n");
	for (k = 0; k < chs_record_removal_count(r); k++) {
		const chs_record_candidate *c = chs_record_removal_candidate(r, k);

		print_candidate(c, c->removed ? "remove" : "keep");
	}
}

/* Who checked this version against the paper chart. */
static void print_confirmed(const chs_record *r)
{
	const chs_confirmation *c = chs_record_confirmed(r);
	const char *type = chs_record_type(r);

	if (c) {
		printf("confirmed by %s at %s, %s%s%s\n", cli_safe(c->by), cli_safe(c->terminal),
		       cli_safe(c->time), c->note ? ": " : "", c->note ? cli_safe(c->note) : "");
	} else if (!chs_record_deleted(r) && strcmp(type, "audit") != 0 &&
		   strcmp(type, "confirmation") != 0 && strcmp(type, "fee") != 0) {
		printf("not confirmed since its last change\n");
	}
}

static void print_record(const void *obj)
{
	const chs_record *r = obj;
	size_t i;

	printf("%s %s%s\n", cli_safe(chs_record_type(r)), cli_safe(chs_record_id(r)),
	       chs_record_deleted(r) ? " (removed)" : "");
	for (i = 0; i < chs_record_field_count(r); i++) {
		const char *name = chs_record_field_name(r, i);
		char *t = field_text(chs_record_field_value(r, i));

		/* a field that holds lines (a note's text) keeps them */
		printf("  %-10s %s\n", cli_safe(name),
		       !t ? "" : chs_record_field_holds_lines(chs_record_type(r), name)
				 ? cli_safe_lines(t) : cli_safe(t));
		free(t);
	}
	print_confirmed(r);
	if (chs_record_under_review(r)) {
		printf("UNDER REVIEW: values above are provisional; settle with"
		       " 'chartsync review resolve'\n");
		print_candidates(r);
		print_removal(r);
	}
}

static int format_record(char **out, const void *r)
{
	return chs_json_record(out, r);
}

static const struct option show_opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };

int cmd_show(cli_ctx *ctx, int argc, char **argv)
{
	char keep[33] = "", from[33] = "";
	chs_store *s = NULL;
	chs_record *r = NULL;
	rec_opts o;
	int i, rc, err;

	if ((i = start(ctx, argc, argv, show_opts, show_help, &o, 1, 1, &s, &rc)) < 0)
		return rc;
	cli_follow(s, argv[i], keep, from);
	err = chs_access_show(&r, s, argv[i]);
	if (err == 0)
		cli_followed(from, keep, chs_record_field(r, "mrn"), "showing");
	rc = emit_object(ctx, err, r, format_record, print_record);
	chs_record_free(r);
	chs_store_free(s);
	return rc;
}

/* ---- ls ---- */

static const char ls_help[] =
	"usage: chartsync ls [TYPE] [--patient ID] [--json]\n"
	"       chartsync ls --unconfirmed [--patient ID] [--json]\n"
	"\n"
	"List records, oldest first: all, one TYPE, or one patient's. Listing\n"
	"a patient's records is recorded as an access event.\n"
	"--unconfirmed lists the chart entries no colleague has confirmed\n"
	"since their last change (see 'chartsync confirm'). Patients merged\n"
	"into another are not listed; --patient of one lists the chart it was\n"
	"merged into, and says so on standard error.\n";

/* The fields that name a record in a list, by type. */
static const char *summary_fields(const char *type)
{
	static const char *const map[][2] = {
		{ "patient", "name mrn dob" }, { "encounter", "date reason provider" },
		{ "note", "date author text" }, { "problem", "name icd status" },
		{ "medication", "name dose unit route frequency" },
		{ "allergy", "substance reaction severity" },
		{ "procedure", "cpt modifier fee date" }, { "diagnosis", "icd" },
		{ "attachment", "title mime size" }, { "audit", "action record" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i][0], type) == 0)
			return map[i][1];
	return "";
}

static void print_summary(const chs_record *r)
{
	const char *type = chs_record_type(r);
	char names[64], *tok, *save = NULL;

	printf("%.*s  %-10s", SHORT_ID, cli_safe(chs_record_id(r)), cli_safe(type));
	snprintf(names, sizeof(names), "%s", summary_fields(type));
	for (tok = strtok_r(names, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *t = field_text(chs_record_field(r, tok));

		if (t)
			printf("  %s", cli_safe_cut(t, 40));
		free(t);
	}
	printf("%s\n", chs_record_under_review(r) ? "  [under review]" : "");
}

static void print_list(const void *obj)
{
	const chs_record_list *l = obj;
	size_t k;

	for (k = 0; k < chs_record_list_count(l); k++)
		print_summary(chs_record_list_get(l, k));
}

static int format_list(char **out, const void *l)
{
	return chs_json_record_list(out, l);
}

/* `ls --unconfirmed`: the rows of a list, with who changed them last. */
static int format_unconfirmed(char **out, const void *l)
{
	return chs_json_unconfirmed(out, l);
}

/* The chart number of record `id` when the list holds it, else NULL. */
static const char *listed_mrn(const chs_record_list *l, const char *id)
{
	size_t k;

	for (k = 0; k < chs_record_list_count(l); k++)
		if (strcmp(chs_record_id(chs_record_list_get(l, k)), id) == 0)
			return chs_record_field(chs_record_list_get(l, k), "mrn");
	return NULL;
}

static const struct option ls_opts[] = {
	OPT_PATIENT, { "unconfirmed", no_argument, NULL, 'n' }, OPT_JSON, CLI_COMMON_OPTS, OPT_END
};

int cmd_ls(cli_ctx *ctx, int argc, char **argv)
{
	char keep[33] = "", from[33] = "";
	chs_record_list *l = NULL;
	chs_store *s = NULL;
	rec_opts o;
	int i, rc = CLI_OK, err;

	if ((i = start(ctx, argc, argv, ls_opts, ls_help, &o, 0, 1, &s, &rc)) < 0)
		return rc;
	if (o.unconfirmed && i < argc) {
		rc = cli_usage(ctx, "--unconfirmed lists every type: leave out TYPE");
	} else if (o.unconfirmed) {
		if (o.patient)
			cli_follow(s, o.patient, keep, from);
		err = chs_record_list_unconfirmed(&l, s, o.patient);
		if (err == 0)
			cli_followed(from, keep, listed_mrn(l, keep), "listing");
		rc = emit_object(ctx, err, l, format_unconfirmed, print_list);
	} else {
		if (o.patient)
			cli_follow(s, o.patient, keep, from);
		err = chs_access_list(&l, s, i < argc ? argv[i] : NULL, o.patient);
		if (err == 0)
			cli_followed(from, keep, listed_mrn(l, keep), "listing");
		rc = emit_object(ctx, err, l, format_list, print_list);
	}
	chs_record_list_free(l);
	chs_store_free(s);
	return rc;
}

/* ---- log ---- */

static const char log_help[] =
	"usage: chartsync log ID [--json]\n"
	"\n"
	"The history of a record: every change with who made it, when, from\n"
	"which terminal and what it set. A change made after seeing several\n"
	"concurrent versions is shown as a merge. Recorded as an access event.\n";

static void print_change(const chs_history_entry *c)
{
	size_t i;

	printf("change %s\n", cli_safe(c->change));
	printf("  %-8s %s  by %s at %s (device %.12s)\n", cli_safe(c->op), cli_safe(c->time),
	       cli_safe(c->user), cli_safe(c->terminal), cli_safe(c->device));
	if (c->merge) {
		printf("  merge of");
		for (i = 0; i < c->nparents; i++)
			printf(" %.12s", cli_safe(c->parents[i]));
		printf("\n");
	}
	for (i = 0; i < c->nset; i++) {
		char *t = field_text(c->set[i].value);

		printf("    %s = %s\n", cli_safe(c->set[i].name), t ? cli_safe(t) : "");
		free(t);
	}
	for (i = 0; i < c->nunset; i++)
		printf("    %s cleared\n", cli_safe(c->unset[i]));
	if (c->removed)
		printf("    resolved: removed\n");
}

static void print_changes(const void *obj)
{
	const chs_history *h = obj;
	size_t k;

	for (k = 0; k < chs_history_count(h); k++)
		print_change(chs_history_get(h, k));
}

static int format_history(char **out, const void *h)
{
	return chs_json_history(out, h);
}

static const struct option log_opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };

int cmd_log(cli_ctx *ctx, int argc, char **argv)
{
	chs_history *h = NULL;
	chs_store *s = NULL;
	rec_opts o;
	int i, rc, err;

	if ((i = start(ctx, argc, argv, log_opts, log_help, &o, 1, 1, &s, &rc)) < 0)
		return rc;
	err = chs_access_log(&h, s, argv[i]);
	rc = emit_object(ctx, err, h, format_history, print_changes);
	chs_history_free(h);
	chs_store_free(s);
	return rc;
}

/* ---- import ---- */

static const char import_help[] =
	"usage: chartsync import FILE [--json]\n"
	"\n"
	"Import records from JSON Lines (FILE, or - for standard input), one\n"
	"record per line:\n"
	"  {\"type\":\"patient\",\"id\":\"<optional 32 hex>\",\"fields\":{\"name\":\"Ada\",\"mrn\":\"A-1\"}}\n"
	"  {\"type\":\"encounter\",\"patient\":\"<id>\",\"fields\":{\"date\":\"2024-03-15\"}}\n"
	"Every line is checked as at the prompt. All or nothing: a bad line is\n"
	"named and nothing is imported.\n";

static const struct option import_opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };

int cmd_import(cli_ctx *ctx, int argc, char **argv)
{
	chs_store *s = NULL;
	int64_t count = 0;
	rec_opts o;
	int i, rc = CLI_OK, err;

	if ((i = start(ctx, argc, argv, import_opts, import_help, &o, 1, 1, &s, &rc)) < 0)
		return rc;
	if ((err = chs_record_import(s, argv[i], &count)) < 0)
		rc = cli_fail(err);
	else if (ctx->json)
		printf("{\"imported\":%lld}\n", (long long)count);
	else
		printf("imported %lld records\n", (long long)count);
	chs_store_free(s);
	return rc;
}

/* ---- attach, cat ---- */

static const char attach_help[] =
	"usage: chartsync attach PATIENT FILE [--encounter ID] [--title TEXT] [--json]\n"
	"\n"
	"Store a file (a scanned chart page, a letter) in the encrypted store,\n"
	"once per content, and create an attachment record for the patient.\n"
	"Prints the attachment's id. --title @FILE reads the title from FILE,\n"
	"--title @- from standard input.\n"
	MERGED_HELP;

static const struct option attach_opts[] = {
	OPT_ENCOUNTER, { "title", required_argument, NULL, 't' }, OPT_JSON, CLI_COMMON_OPTS,
	OPT_END
};

int cmd_attach(cli_ctx *ctx, int argc, char **argv)
{
	char keep[33] = "", from[33] = "";
	chs_store *s = NULL;
	char id[33], *title = NULL;
	rec_opts o;
	int i, rc = CLI_OK, err, stdin_used = 0;

	if ((i = start(ctx, argc, argv, attach_opts, attach_help, &o, 2, 2, &s, &rc)) < 0)
		return rc;
	/* --title @FILE, @- or @@TEXT, as FIELD=@FILE (cli_value_read) */
	if ((rc = cli_value_read(ctx, "title", &o.title, &stdin_used, &title)) != CLI_OK)
		goto done;
	cli_follow(s, argv[i], keep, from);
	if ((err = chs_attach(s, argv[i], argv[i + 1], o.encounter, o.title, id)) < 0) {
		rc = cli_fail(err);
		goto done;
	}
	cli_followed(from, keep, NULL, "attaching to");
	if (ctx->json)
		printf("{\"id\":\"%s\"}\n", id);
	else
		puts(id);
done:
	free(title);
	chs_store_free(s);
	return rc;
}

static const char cat_help[] =
	"usage: chartsync cat ID > FILE\n"
	"\n"
	"Write the bytes of an attachment to standard output. Recorded as an\n"
	"access event.\n";

static const struct option cat_opts[] = { CLI_COMMON_OPTS, OPT_END };

int cmd_cat(cli_ctx *ctx, int argc, char **argv)
{
	chs_store *s = NULL;
	rec_opts o;
	int i, rc = CLI_OK, err;

	if ((i = start(ctx, argc, argv, cat_opts, cat_help, &o, 1, 1, &s, &rc)) < 0)
		return rc;
	fflush(stdout);
	rc = (err = chs_access_cat(s, argv[i], STDOUT_FILENO)) < 0 ? cli_fail(err) : CLI_OK;
	chs_store_free(s);
	return rc;
}

/* ---- review ---- */

static const char review_help[] =
	"usage: chartsync review [--json]\n"
	"       chartsync review show ID [--json]\n"
	"       chartsync review resolve ID FIELD=VALUE... [--unset FIELD]...\n"
	"       chartsync review resolve ID --take CHANGE\n"
	"\n"
	"Records edited at two sites at once in ways that cannot merge wait\n"
	"here, every candidate kept. 'show' puts the candidates side by side;\n"
	"'resolve' settles the record with the values given, or with those of\n"
	"one candidate change; fields not named keep their provisional value.\n"
	"A removal against an edit: --take the removal to remove the record;\n"
	"taking the edit, or giving values, keeps it.\n"
	VALUE_FILE_HELP;

static int review_resolve(cli_ctx *ctx, chs_store *s, char **args, int n,
			  const rec_opts *o)
{
	edit_list l;
	int rc, err;

	if ((rc = gather_edits(ctx, args + 1, n - 1, o, &l)) != CLI_OK)
		return rc;
	if ((l.n > 0) == (o->take != NULL))
		rc = cli_usage(ctx, "give either FIELD=VALUE... or --take CHANGE");
	else if ((err = chs_review_resolve(s, args[0], l.e, l.n, o->take)) < 0)
		rc = cli_fail(err);
	edit_list_dispose(&l);
	return rc;
}

/* The list and 'review show' take --json; 'review resolve' --take and
 * --unset. */
static const struct option review_opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
static const struct option review_resolve_opts[] = {
	{ "take", required_argument, NULL, 'k' }, OPT_UNSET, CLI_COMMON_OPTS, OPT_END
};

/* The verbs of 'review' and the table each reads its line with; the list
 * (no verb) reads it with review_opts. */
static const cli_verb review_verbs[] = {
	{ "show", review_opts }, { "resolve", review_resolve_opts },
};

int cmd_review(cli_ctx *ctx, int argc, char **argv)
{
	const cli_verb *verb = cli_verb_find(ctx, argc, argv, review_verbs,
					     sizeof(review_verbs) / sizeof(review_verbs[0]), NULL);
	const struct option *opts = verb ? verb->opts : review_opts;
	chs_record_list *l = NULL;
	chs_record *r = NULL;
	chs_store *s = NULL;
	rec_opts o;
	int i, rc = CLI_OK, err = 0, n;

	if ((i = start(ctx, argc, argv, opts, review_help, &o, 0, -1, &s, &rc)) < 0)
		return rc;
	n = argc - i;
	if (n == 0) {
		err = chs_review_list(&l, s);
		rc = emit_object(ctx, err, l, format_list, print_list);
	} else if (strcmp(argv[i], "show") == 0 && n == 2) {
		/* the record under review itself, a merged patient too */
		err = chs_access_show_exact(&r, s, argv[i + 1]);
		rc = emit_object(ctx, err, r, format_record, print_record);
	} else if (strcmp(argv[i], "resolve") == 0 && n >= 2) {
		rc = review_resolve(ctx, s, argv + i + 1, n - 1, &o);
	} else {
		rc = cli_usage(ctx, "unknown 'review' command");
	}
	chs_record_list_free(l);
	chs_record_free(r);
	chs_store_free(s);
	return rc;
}

/* ---- verify ---- */

static const char verify_help[] =
	"usage: chartsync verify [--full] [--json]\n"
	"\n"
	"Print the state hash over every record. Two stores that hold the same\n"
	"changes print the same hash, whatever order the changes reached them.\n"
	"Every record counts, access events included: opening a chart writes an\n"
	"access event, so a store whose latest changes have not been sent yet\n"
	"(verify says how many batches wait) differs from the others until they\n"
	"have all synced.\n"
	"--full first recomputes every record from its history and compares.\n";

static const struct option verify_opts[] = {
	{ "full", no_argument, NULL, 'f' }, OPT_JSON, CLI_COMMON_OPTS, OPT_END
};

int cmd_verify(cli_ctx *ctx, int argc, char **argv)
{
	chs_store *s = NULL;
	int64_t records = 0;
	int64_t unsent = 0;
	char hash[65];
	rec_opts o;
	int i, rc = CLI_OK, err;

	if ((i = start(ctx, argc, argv, verify_opts, verify_help, &o, 0, 0, &s, &rc)) < 0)
		return rc;
	if ((err = chs_store_verify(s, o.full, hash, &records)) < 0 ||
	    (err = chs_store_unsent_count(s, &unsent)) < 0) {
		rc = cli_fail(err);
	} else if (ctx->json) {
		printf("{\"records\":%lld,\"state\":\"%s\",\"unsent_batches\":%lld}\n",
		       (long long)records, hash, (long long)unsent);
	} else {
		printf("state %s (%lld records)\n", hash, (long long)records);
		/* why two stores differ, said where the difference is read */
		if (unsent)
			printf("%lld batch%s made here not sent yet: other stores differ until "
			       "%s synced\n", (long long)unsent, unsent == 1 ? "" : "es",
			       unsent == 1 ? "it is" : "they are");
	}
	chs_store_free(s);
	return rc;
}
