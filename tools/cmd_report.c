/*
 * chartsync report <subcommand>
 *
 * STUB DISPATCHER written by the reports helper because this tree had no
 * tools/cmd_report.c: the audit helper writes the real one (with `access`).
 * LEAD: when merging, keep the audit helper's file and add the two rows
 * below ("consistency", "coding") to its table; the functions live in
 * tools/cmd_report_quality.c.
 */
#include "cli.h"

#include <string.h>

static const struct {
	const char *name;
	int (*run)(cli_ctx *ctx, int argc, char **argv);
	const char *summary;
} reports[] = {
	{ "consistency", cmd_report_consistency, "each visit checked against the patient's records" },
	{ "coding", cmd_report_coding, "the coding queue: length, age, throughput per coder" },
};

#define NREPORTS (sizeof(reports) / sizeof(reports[0]))

static void report_usage(FILE *out)
{
	size_t i;

	fputs("usage: chartsync report <report> [<options>]\n\nreports:\n", out);
	for (i = 0; i < NREPORTS; i++)
		fprintf(out, "  %-12s %s\n", reports[i].name, reports[i].summary);
	fputs("\nEach report takes --help and --json.\n", out);
}

int cmd_report(cli_ctx *ctx, int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		report_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	for (i = 0; i < NREPORTS; i++)
		if (strcmp(argv[1], reports[i].name) == 0)
			return reports[i].run(ctx, argc - 1, argv + 1);
	return cli_usage(NULL, "'%s' is not a report (see 'chartsync report --help')", argv[1]);
}
