/*
 * chartsync patient merge KEEP OTHER [--note TEXT] [--json]
 * chartsync patient unmerge KEEP OTHER [--json]
 * chartsync patient distinct [--clear] A B [--note TEXT]
 */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char merge_help[] =
	"usage: chartsync patient merge KEEP OTHER [--note TEXT] [--json]\n"
	"\n"
	"One person, two charts: make OTHER's chart part of KEEP's. Every\n"
	"record of OTHER (visits, notes, medications, allergies, problems,\n"
	"attachments) moves to KEEP; access events and confirmations stay\n"
	"where they were. OTHER's values fill KEEP's empty fields. Where both\n"
	"charts hold a value and the values differ (a name spelt two ways, two\n"
	"phone numbers, two chart numbers), both go to review on KEEP: settle\n"
	"them with 'chartsync review resolve KEEP'. OTHER stays as a pointer to\n"
	"KEEP, so a lookup of its id or chart number lands on KEEP.\n"
	"\n"
	"The merge syncs like any change: every site sees it, and a record a\n"
	"clinic added to OTHER while offline moves to KEEP when the merge\n"
	"reaches it. Merging the same two again moves what reached OTHER since.\n"
	"When two archivists merged the pair two ways, or OTHER into two\n"
	"different patients, this settles it on KEEP. Only an archivist's\n"
	"store, or an admin of the store, may merge.\n"
	"KEEP and OTHER are patient ids or prefixes (at least 4 hex digits).\n"
	"--note keeps a line on why (e.g. the evidence; one line, at most 1000\n"
	"characters).\n"
	"\n"
	"Refused (exit 2): the same patient twice, a record that is not a\n"
	"patient, a removed one, a pair marked 'not the same person', a\n"
	"patient already merged into a third one (the message names it), or a\n"
	"note that is not one line of text.\n";

static const char unmerge_help[] =
	"usage: chartsync patient unmerge KEEP OTHER [--json]\n"
	"\n"
	"Undo a wrong merge of OTHER into KEEP: the records the merge moved\n"
	"(and those a sync placed on KEEP for it since) go back to OTHER, and\n"
	"OTHER is a chart of its own again. Records removed or moved to another\n"
	"patient since are left where they are and listed; records added to\n"
	"KEEP after the merge stay on KEEP and are listed too, for a person to\n"
	"move with 'chartsync set ID patient=OTHER' where they belong. KEEP's\n"
	"fields keep their values. Only an archivist's store, or an admin of\n"
	"the store, may unmerge.\n";

static const char distinct_help[] =
	"usage: chartsync patient distinct [--clear] A B [--note TEXT]\n"
	"\n"
	"Mark patients A and B 'not the same person': 'chartsync report\n"
	"duplicates' never pairs them again, at any site the mark reaches (it\n"
	"syncs). --clear takes the mark back. A merged pair cannot be marked:\n"
	"unmerge it first. Only an archivist's store, or an admin of the\n"
	"store, may mark.\n";

typedef struct patient_opts {
	const char *note;
	int clear;
} patient_opts;

static int patient_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	patient_opts *o = payload;

	(void)ctx;
	if (c == 'n')
		o->note = arg;
	else if (c == 'c')
		o->clear = 1;
	else
		return -1;
	return 0;
}

/* The two patients of a subcommand, or a usage error. */
static int two_operands(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
			patient_opts *o, const char *help, int *first)
{
	ctx->help_text = help;
	if ((*first = cli_parse(ctx, argc, argv, opts, patient_opt, o)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (argc - *first != 2)
		return cli_usage(ctx, argc - *first < 2 ? "give two patients' ids"
							: "too many arguments: give two patients");
	return -1;
}

static json_t *items_json(const chs_merge_item *items, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "record", items[i].record,
						     "type", items[i].type, "why", items[i].why));
	return arr;
}

static int print_json(const chs_merge_result *r)
{
	json_t *o = json_object(), *review = json_array();
	char *text;
	size_t i;

	for (i = 0; i < r->nreview; i++)
		json_array_append_new(review, json_string(r->review[i]));
	json_object_set_new(o, "keep", json_string(r->keep));
	json_object_set_new(o, "other", json_string(r->other));
	json_object_set_new(o, "link", json_string(r->link));
	json_object_set_new(o, "act", r->act[0] ? json_string(r->act) : json_null());
	json_object_set_new(o, "moved", json_integer((json_int_t)r->moved));
	json_object_set_new(o, "filled", json_integer((json_int_t)r->filled));
	json_object_set_new(o, "review", review);
	json_object_set_new(o, "left", items_json(r->left, r->nleft));
	json_object_set_new(o, "since", items_json(r->since, r->nsince));
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	if (!text)
		return cli_failf("out of memory");
	printf("%s\n", text);
	free(text);
	return CLI_OK;
}

static void print_items(const char *title, const chs_merge_item *items, size_t n)
{
	size_t i;

	if (n > 0)
		printf("%s\n", title);
	for (i = 0; i < n; i++)
		printf("  %s  %-12s %s\n", items[i].record, cli_safe(items[i].type),
		       cli_safe(items[i].why));
}

static void print_merge(const chs_merge_result *r)
{
	size_t i;

	if (!r->act[0]) {
		printf("patient %s is merged into %s already; nothing new to move\n", r->other,
		       r->keep);
		return;
	}
	printf("merged patient %s into %s: %zu record%s moved, %zu empty field%s filled\n",
	       r->other, r->keep, r->moved, r->moved == 1 ? "" : "s", r->filled,
	       r->filled == 1 ? "" : "s");
	if (r->nreview > 0) {
		printf("under review on %s (both charts' values):", r->keep);
		for (i = 0; i < r->nreview; i++)
			printf("%s %s", i ? "," : "", cli_safe(r->review[i]));
		printf("\n  settle with 'chartsync review resolve %s'\n", r->keep);
	}
	print_items("left where they are, for a person to place:", r->left, r->nleft);
}

static void print_unmerge(const chs_merge_result *r)
{
	printf("unmerged patient %s from %s: %zu record%s moved back\n", r->other, r->keep,
	       r->moved, r->moved == 1 ? "" : "s");
	print_items("left where they are (removed or moved since):", r->left, r->nleft);
	print_items("added to the kept chart since the merge; they stay there, for a person"
		    " to place:", r->since, r->nsince);
}

static int patient_merge(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "note", required_argument, NULL, 'n' }, OPT_JSON, CLI_COMMON_OPTS, OPT_END
	};
	patient_opts o = { NULL, 0 };
	chs_merge_result r;
	chs_store *s = NULL;
	int i, err, rc;

	if ((rc = two_operands(ctx, argc, argv, opts, &o, merge_help, &i)) >= 0)
		return rc;
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	rc = CLI_OK;
	memset(&r, 0, sizeof(r));
	if ((err = chs_patient_merge(s, argv[i], argv[i + 1], o.note, &r)) < 0)
		rc = cli_fail(err);
	else if (ctx->json)
		rc = print_json(&r);
	else
		print_merge(&r);
	chs_merge_result_dispose(&r);
	chs_store_free(s);
	return rc;
}

static int patient_unmerge(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
	patient_opts o = { NULL, 0 };
	chs_merge_result r;
	chs_store *s = NULL;
	int i, err, rc;

	if ((rc = two_operands(ctx, argc, argv, opts, &o, unmerge_help, &i)) >= 0)
		return rc;
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	rc = CLI_OK;
	memset(&r, 0, sizeof(r));
	if ((err = chs_patient_unmerge(s, argv[i], argv[i + 1], &r)) < 0)
		rc = cli_fail(err);
	else if (ctx->json)
		rc = print_json(&r);
	else
		print_unmerge(&r);
	chs_merge_result_dispose(&r);
	chs_store_free(s);
	return rc;
}

static int patient_distinct(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "note", required_argument, NULL, 'n' }, { "clear", no_argument, NULL, 'c' },
		CLI_COMMON_OPTS, OPT_END
	};
	patient_opts o = { NULL, 0 };
	chs_store *s = NULL;
	int i, err, rc;

	if ((rc = two_operands(ctx, argc, argv, opts, &o, distinct_help, &i)) >= 0)
		return rc;
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	rc = CLI_OK;
	if ((err = chs_patient_distinct(s, argv[i], argv[i + 1], o.note, o.clear)) < 0)
		rc = cli_fail(err);
	else
		printf(o.clear ? "patients %s and %s may be the same person again\n"
			       : "patients %s and %s are marked 'not the same person'\n",
		       cli_safe(argv[i]), cli_safe(argv[i + 1]));
	chs_store_free(s);
	return rc;
}

static const cli_command subcommands[] = {
	{ "merge", patient_merge, "make OTHER's chart part of KEEP's (archivist or admin)", NULL, NULL },
	{ "unmerge", patient_unmerge, "undo a wrong merge: move back what it moved", NULL, NULL },
	{ "distinct", patient_distinct, "mark two patients 'not the same person'", NULL, NULL },
};

int cmd_patient(cli_ctx *ctx, int argc, char **argv)
{
	return cli_dispatch(ctx, argc, argv, subcommands,
			    sizeof(subcommands) / sizeof(subcommands[0]),
			    "usage: chartsync patient <merge|unmerge|distinct> ...\n",
			    "'chartsync patient <what> --help' says more. Likely duplicates:"
			    " 'chartsync report duplicates'.", "a patient command");
}
