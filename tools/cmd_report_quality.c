/*
 * chartsync report consistency | report coding
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char consistency_help[] =
	"usage: chartsync report consistency [--json] [--review-days N] [--confirm-days N]\n"
	"\n"
	"Check each visit against the patient's records and print one finding\n"
	"per line: its kind, the record ids concerned (the first is the one to\n"
	"fix), and what is wrong, separated by tabs. Kinds:\n"
	"\n"
	"  visit_without_note      a visit (encounter) with no note\n"
	"  procedure_without_code  a procedure with no CPT or HCPCS code\n"
	"  code_without_procedure  diagnosis codes on a visit with no procedure\n"
	"                          (ids: the visit, then its diagnoses)\n"
	"  malformed_code          a code that arrived by sync not well-formed\n"
	"  medication_not_on_list  a note names a medication (one known in this\n"
	"                          store) that is not on the patient's list\n"
	"  visit_before_birth      a visit dated before the patient's birth\n"
	"  note_before_visit       a note dated before its visit\n"
	"  end_before_start        a medication that ends before it starts\n"
	"  review_overdue          under review for more than --review-days\n"
	"  unconfirmed             not confirmed against the paper chart, last\n"
	"                          changed more than --confirm-days ago\n"
	"  malformed_value         a value entry refuses (control characters, too\n"
	"                          long, blank, a date out of bounds) that arrived\n"
	"                          by sync or from an earlier chartsync\n"
	"  duplicate_chart_number  patients whose chart numbers are the same or\n"
	"                          look alike (case, width, dashes, spaces)\n"
	"\n"
	"--review-days N   default 7\n"
	"--confirm-days N  default 7\n"
	"--json            {\"findings\":[{\"kind\",\"patient\",\"records\",\"detail\"}],\n"
	"                   \"counts\":{kind:n},\"patients\":n,\"visits\":n}\n"
	"\n"
	"A billing store holds no notes or medications: the kinds that need them\n"
	"are left out there. The exit status is 0 whatever is found.\n";

static const char coding_help[] =
	"usage: chartsync report coding [--json]\n"
	"\n"
	"The coding queue: how many visits wait for codes, how long the oldest\n"
	"and the median have waited, and per coder the visits coded (all time\n"
	"and the last 30 days), visits a day over the last 30 days, and the\n"
	"median time from sending to done. Ages are in days.\n";

static int days_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	chs_report_opts *o = payload;

	if (c == 'r')
		return cli_opt_count(ctx, "--review-days", arg, &o->review_days);
	if (c == 'c')
		return cli_opt_count(ctx, "--confirm-days", arg, &o->confirm_days);
	return -1;
}

static void print_finding(const chs_finding *f)
{
	size_t i;

	fputs(cli_safe(f->kind), stdout);
	for (i = 0; i < f->nrecords; i++)
		printf("%c%s", i ? ' ' : '\t', cli_safe(f->records[i]));
	printf("\t%s\n", cli_safe(f->detail));
}

static int print_consistency(const chs_consistency_report *r, int json)
{
	size_t i, n = chs_consistency_report_count(r);
	size_t patients = chs_consistency_report_patients(r);
	size_t visits = chs_consistency_report_visits(r);
	char *text = NULL;
	int err;

	if (json) {
		if ((err = chs_json_consistency_report(&text, r)) < 0)
			return cli_fail(err);
		err = puts(text);
		free(text);
		return err < 0 ? cli_failf("cannot write the report") : CLI_OK;
	}
	for (i = 0; i < n; i++)
		print_finding(chs_consistency_report_get(r, i));
	fprintf(stderr, "%zu finding%s over %zu patient%s and %zu visit%s\n", n,
		n == 1 ? "" : "s", patients, patients == 1 ? "" : "s", visits,
		visits == 1 ? "" : "s");
	return CLI_OK;
}

/* Parse, --help, open; the first operand's index or -1 with *rc set. */
static int start(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
		 const char *help, chs_report_opts *o, chs_store **s, int *rc)
{
	int i, err;

	ctx->help_text = help;
	*s = NULL;
	if ((i = cli_parse(ctx, argc, argv, opts, days_opt, o)) < 0) {
		*rc = CLI_USAGE;
		return -1;
	}
	if (ctx->help) {
		*rc = cli_help(ctx);
		return -1;
	}
	if (i < argc) {
		*rc = cli_usage(ctx, "too many arguments");
		return -1;
	}
	if ((err = cli_open(ctx, s)) < 0) {
		*rc = cli_fail(err);
		return -1;
	}
	return i;
}

int cmd_report_consistency(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "review-days", required_argument, NULL, 'r' },
		{ "confirm-days", required_argument, NULL, 'c' },
		OPT_JSON, CLI_COMMON_OPTS, OPT_END
	};
	chs_consistency_report *r = NULL;
	chs_report_opts o;
	cli_meter m;
	chs_store *s = NULL;
	int rc, err;

	chs_report_opts_init(&o);
	memset(&m, 0, sizeof(m));
	if (start(ctx, argc, argv, opts, consistency_help, &o, &s, &rc) < 0)
		return rc;
	if (cli_meter_wanted(ctx->json)) {
		o.progress = cli_meter_progress;
		o.payload = &m;
	}
	err = chs_report_consistency(&r, s, &o);
	cli_meter_end(&m);
	rc = err < 0 ? cli_fail(err) : print_consistency(r, ctx->json);
	chs_consistency_report_free(r);
	chs_store_free(s);
	return rc;
}

static void print_coding(const chs_coding_report *r)
{
	const chs_coding_queue_stats *q = chs_coding_report_queue(r);
	size_t done = chs_coding_report_done(r), i;

	printf("queue: %zu visit%s waiting", q->length, q->length == 1 ? "" : "s");
	if (q->oldest)
		printf("; oldest %.1f days (%.12s), median %.1f days", q->oldest_days,
		       cli_safe(q->oldest), q->median_days);
	printf("\ncoded: %zu visit%s\n", done, done == 1 ? "" : "s");
	if (chs_coding_report_coder_count(r))
		printf("\n%-20s %8s %12s %8s %16s\n", "coder", "coded", "last 30 days",
		       "per day", "median days");
	for (i = 0; i < chs_coding_report_coder_count(r); i++) {
		const chs_coder_stats *c = chs_coding_report_coder(r, i);

		printf("%-20s %8zu %12zu %8.1f %16.1f\n", cli_safe(c->coder), c->done, c->last_30_days,
		       c->per_day, c->median_turnaround_days);
	}
}

static int print_coding_json(const chs_coding_report *r)
{
	char *text = NULL;
	int err;

	if ((err = chs_json_coding_report(&text, r)) < 0)
		return cli_fail(err);
	err = puts(text);
	free(text);
	return err < 0 ? cli_failf("cannot write the report") : CLI_OK;
}

int cmd_report_coding(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
	chs_coding_report *r = NULL;
	chs_report_opts o;
	chs_store *s = NULL;
	int rc, err;

	chs_report_opts_init(&o);
	if (start(ctx, argc, argv, opts, coding_help, &o, &s, &rc) < 0)
		return rc;
	err = chs_report_coding(&r, s, &o);
	if (err < 0) {
		rc = cli_fail(err);
	} else if (ctx->json) {
		rc = print_coding_json(r);
	} else {
		print_coding(r);
		rc = CLI_OK;
	}
	chs_coding_report_free(r);
	chs_store_free(s);
	return rc;
}
