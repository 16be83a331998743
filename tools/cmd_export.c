/*
 * chartsync export <what>: one line per kind of export in the table.
 */
#include "cli.h"

#include <string.h>

static const struct {
	const char *name;
	int (*run)(cli_ctx *ctx, int argc, char **argv);
	const char *summary;
} exports[] = {
	{ "claims", cmd_export_claims, "claims CSV for the billing office (--since DATE)" },
	{ "fhir", cmd_export_fhir, "a FHIR R4 bundle of one patient's chart or of all" },
};

#define NEXPORTS (sizeof(exports) / sizeof(exports[0]))

static void export_help(FILE *out)
{
	size_t i;

	fputs("usage: chartsync export <what> [<options>]\n\n", out);
	for (i = 0; i < NEXPORTS; i++)
		fprintf(out, "  %-8s %s\n", exports[i].name, exports[i].summary);
	fputs("\n'chartsync export <what> --help' says more.\n", out);
}

int cmd_export(cli_ctx *ctx, int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		export_help(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	for (i = 0; i < NEXPORTS; i++)
		if (strcmp(argv[1], exports[i].name) == 0)
			return exports[i].run(ctx, argc - 1, argv + 1);
	return cli_usage(NULL, "'%s' is not something to export (see 'chartsync export --help')",
			 argv[1]);
}
