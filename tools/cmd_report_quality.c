/*
 * chartsync report consistency | report coding
 */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
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
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (!*arg || *end || errno || v < 0 || v > INT_MAX)
		return cli_usage(ctx, "'%s' is not a number of days", arg), -1;
	if (c == 'r')
		o->review_days = (int)v;
	else if (c == 'c')
		o->confirm_days = (int)v;
	else
		return -1;
	return 0;
}

static void print_finding(json_t *f)
{
	json_t *recs = json_object_get(f, "records"), *id;
	size_t i;

	fputs(json_string_value(json_object_get(f, "kind")), stdout);
	json_array_foreach(recs, i, id)
		printf("%c%s", i ? ' ' : '\t', json_string_value(id));
	printf("\t%s\n", json_string_value(json_object_get(f, "detail")));
}

static int print_consistency(const char *json)
{
	json_t *v = json_loads(json, 0, NULL), *f;
	size_t i, n;

	if (!v)
		return cli_failf("out of memory");
	json_array_foreach(json_object_get(v, "findings"), i, f)
		print_finding(f);
	n = json_array_size(json_object_get(v, "findings"));
	fprintf(stderr, "%zu finding%s over %lld patient%s and %lld visit%s\n", n,
		n == 1 ? "" : "s",
		(long long)json_integer_value(json_object_get(v, "patients")),
		json_integer_value(json_object_get(v, "patients")) == 1 ? "" : "s",
		(long long)json_integer_value(json_object_get(v, "visits")),
		json_integer_value(json_object_get(v, "visits")) == 1 ? "" : "s");
	json_decref(v);
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
	chs_report_opts o;
	cli_meter m;
	chs_store *s = NULL;
	char *json = NULL;
	int rc, err;

	chs_report_opts_init(&o);
	memset(&m, 0, sizeof(m));
	if (start(ctx, argc, argv, opts, consistency_help, &o, &s, &rc) < 0)
		return rc;
	if (cli_meter_wanted(ctx->json)) {
		o.progress = cli_meter_progress;
		o.payload = &m;
	}
	err = chs_report_consistency(s, &o, &json);
	cli_meter_end(&m);
	if (err < 0)
		rc = cli_fail(err);
	else if (ctx->json)
		rc = puts(json) < 0 ? cli_failf("cannot write the report") : CLI_OK;
	else
		rc = print_consistency(json);
	free(json);
	chs_store_free(s);
	return rc;
}

static void print_coding(json_t *v)
{
	json_t *q = json_object_get(v, "queue"), *c;
	size_t i;

	printf("queue: %lld visit%s waiting", (long long)json_integer_value(json_object_get(q, "length")),
	       json_integer_value(json_object_get(q, "length")) == 1 ? "" : "s");
	if (json_is_string(json_object_get(q, "oldest")))
		printf("; oldest %.1f days (%.12s), median %.1f days",
		       json_real_value(json_object_get(q, "oldest_days")),
		       json_string_value(json_object_get(q, "oldest")),
		       json_real_value(json_object_get(q, "median_days")));
	printf("\ncoded: %lld visit%s\n", (long long)json_integer_value(json_object_get(v, "done")),
	       json_integer_value(json_object_get(v, "done")) == 1 ? "" : "s");
	if (json_array_size(json_object_get(v, "coders")))
		printf("\n%-20s %8s %12s %8s %16s\n", "coder", "coded", "last 30 days",
		       "per day", "median days");
	json_array_foreach(json_object_get(v, "coders"), i, c)
		printf("%-20s %8lld %12lld %8.1f %16.1f\n",
		       json_string_value(json_object_get(c, "coder")),
		       (long long)json_integer_value(json_object_get(c, "done")),
		       (long long)json_integer_value(json_object_get(c, "last_30_days")),
		       json_real_value(json_object_get(c, "per_day")),
		       json_real_value(json_object_get(c, "median_turnaround_days")));
}

int cmd_report_coding(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
	chs_report_opts o;
	chs_store *s = NULL;
	char *json = NULL;
	json_t *v;
	int rc, err;

	chs_report_opts_init(&o);
	if (start(ctx, argc, argv, opts, coding_help, &o, &s, &rc) < 0)
		return rc;
	err = chs_report_coding(s, &o, &json);
	if (err < 0) {
		rc = cli_fail(err);
	} else if (ctx->json) {
		rc = puts(json) < 0 ? cli_failf("cannot write the report") : CLI_OK;
	} else if ((v = json_loads(json, 0, NULL))) {
		print_coding(v);
		json_decref(v);
		rc = CLI_OK;
	} else {
		rc = cli_failf("out of memory");
	}
	free(json);
	chs_store_free(s);
	return rc;
}
