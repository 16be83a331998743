/*
 * chartsync report duplicates: pairs of patients that are likely one
 * person, for the archivist to merge or mark "not the same person".
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char duplicates_help[] =
	"usage: chartsync report duplicates [--min-score X] [--json|--csv]\n"
	"\n"
	"Pairs of patients that are likely one person, highest score first:\n"
	"each with its score (0 to 1), its evidence, and both patients' id,\n"
	"name, date of birth, chart number, phone and the site that registered\n"
	"them. Patients removed or merged away are left out, and so is a pair\n"
	"marked \"not the same person\" ('chartsync patient distinct A B'), at\n"
	"every site the mark has reached.\n"
	"\n"
	"Candidates are the patients that share a date of birth, a chart\n"
	"number, a phone number or a member id (a value more than 1,000\n"
	"patients share is a placeholder and is skipped); each pair is scored\n"
	"on all its evidence:\n"
	"\n"
	"  evidence      weight\n"
	"  chart_number  0.60       the same chart number, or one that looks\n"
	"                           alike (case, width, dashes, spaces): two\n"
	"                           sites gave one number\n"
	"  name_dob      0.60 x JW  the same date of birth, and names alike:\n"
	"                           their Jaro-Winkler similarity JW at least\n"
	"                           0.88, accents, case, punctuation and spacing\n"
	"                           aside ('Jos\u00e9  GARC\u00cdA' is 'jose garcia')\n"
	"  swapped_name  0.55 x JW  the same date of birth, first and last names\n"
	"                           swapped ('Smith John', 'John Smith')\n"
	"  member_id     0.55       the same insurance member id\n"
	"  phone         0.50       the same phone number (its last 10 digits;\n"
	"                           at least 7)\n"
	"\n"
	"member_id and phone weigh 0.20 each when both dates of birth are known\n"
	"and differ (a household's phone, a dependant on a subscriber's id). The\n"
	"score is the sum, at most 1; pairs under 0.50 are not shown.\n"
	"\n"
	"  --min-score X  show pairs scoring at least X (0 < X <= 1; default\n"
	"                 0.50)\n"
	"  --json         {\"pairs\":[{\"score\",\"evidence\":[..],\"detail\",\n"
	"                  \"a\":{\"id\",\"name\",\"dob\",\"mrn\",\"phone\",\"site\"},\n"
	"                  \"b\":{..}}],\"patients\":n}\n"
	"  --csv          one row per pair: score, evidence (separated by\n"
	"                 spaces), each side's id, name, dob, mrn, phone and\n"
	"                 site, and the detail; a cell beginning with =, +, -,\n"
	"                 @, a tab or a CR gets a leading apostrophe\n"
	"\n"
	"The exit status is 0 whatever is found.\n";

typedef struct dup_opts {
	chs_duplicates_opts o;
	int csv;
} dup_opts;

static int dup_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	dup_opts *o = payload;
	char *end;
	double v;

	if (c == 'c') {
		o->csv = 1;
		return 0;
	}
	if (c != 'm')
		return -1;
	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0 && v <= 1)) {
		cli_usage(ctx, "--min-score '%s' is not a score (expected a number above 0,"
			  " at most 1, e.g. 0.8)", arg);
		return -1;
	}
	o->o.min_score = v;
	return 0;
}

/* One CSV cell (chs_text_csv_cell): record text never reaches a
 * spreadsheet as a formula. */
static void csv_cell(const char *v, const char *after)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	if (chs_text_csv_cell(&b, v, strlen(v)) == 0 && b.len)
		fwrite(b.ptr, 1, b.len, stdout);
	chs_buf_dispose(&b);
	fputs(after, stdout);
}

static void csv_side(const chs_duplicate_side *s)
{
	csv_cell(s->id, ",");
	csv_cell(s->name, ",");
	csv_cell(s->dob, ",");
	csv_cell(s->mrn, ",");
	csv_cell(s->phone, ",");
	csv_cell(s->site, ",");
}

static void print_csv(const chs_duplicates_report *r)
{
	size_t i, j;

	fputs("score,evidence,a_id,a_name,a_dob,a_mrn,a_phone,a_site,"
	      "b_id,b_name,b_dob,b_mrn,b_phone,b_site,detail\r\n", stdout);
	for (i = 0; i < chs_duplicates_report_count(r); i++) {
		const chs_duplicate_pair *p = chs_duplicates_report_get(r, i);
		chs_buf ev;

		chs_buf_init(&ev, 0);
		for (j = 0; j < p->nevidence; j++)
			chs_buf_printf(&ev, "%s%s", j ? " " : "", p->evidence[j]);
		printf("%.2f,", p->score);
		csv_cell(ev.ptr ? ev.ptr : "", ",");
		chs_buf_dispose(&ev);
		csv_side(&p->a);
		csv_side(&p->b);
		csv_cell(p->detail, "\r\n");
	}
}

/* A value of a side, escaped; "-" when the patient has none. */
static const char *val(const char *v)
{
	return *v ? cli_safe(v) : "-";
}

static void print_side(const chs_duplicate_side *s)
{
	printf("    %s  %s  born %s  chart %s", s->id, val(s->name), val(s->dob), val(s->mrn));
	printf("  phone %s  site %s\n", val(s->phone), val(s->site));
}

static void print_text(const chs_duplicates_report *r)
{
	size_t n = chs_duplicates_report_count(r), patients = chs_duplicates_report_patients(r);
	size_t i, j;

	for (i = 0; i < n; i++) {
		const chs_duplicate_pair *p = chs_duplicates_report_get(r, i);

		printf("%s%.2f  ", i ? "\n" : "", p->score);
		for (j = 0; j < p->nevidence; j++)
			printf("%s%s", j ? "," : "", cli_safe(p->evidence[j]));
		printf("  %s\n", cli_safe(p->detail));
		print_side(&p->a);
		print_side(&p->b);
	}
	fprintf(stderr, "%zu likely duplicate%s among %zu patient%s\n", n, n == 1 ? "" : "s",
		patients, patients == 1 ? "" : "s");
}

static int print_json(const chs_duplicates_report *r)
{
	char *text = NULL;
	int err;

	if ((err = chs_json_duplicates_report(&text, r)) < 0)
		return cli_fail(err);
	err = puts(text);
	free(text);
	return err < 0 ? cli_failf("cannot write the report") : CLI_OK;
}

int cmd_report_duplicates(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "min-score", required_argument, NULL, 'm' },
		{ "csv", no_argument, NULL, 'c' },
		OPT_JSON, CLI_COMMON_OPTS, OPT_END
	};
	chs_duplicates_report *r = NULL;
	chs_store *s = NULL;
	dup_opts o;
	int rc, err;

	memset(&o, 0, sizeof(o));
	if (cli_parse_bare(ctx, argc, argv, opts, dup_opt, &o, duplicates_help, &rc) < 0)
		return rc;
	if (ctx->json && o.csv)
		return cli_usage(ctx, "give --json or --csv, not both");
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	if ((err = chs_report_duplicates(&r, s, &o.o)) < 0) {
		rc = cli_fail(err);
	} else if (ctx->json) {
		rc = print_json(r);
	} else {
		(o.csv ? print_csv : print_text)(r);
		rc = CLI_OK;
	}
	chs_duplicates_report_free(r);
	chs_store_free(s);
	return rc;
}
