/*
 * chartsync export <what>: one line per kind of export in the table.
 */
#include "cli.h"

#include <string.h>

static const cli_command exports[] = {
	{ "claims", cmd_export_claims, "claims CSV for the billing office (--since DATE)", NULL, NULL },
	{ "fhir", cmd_export_fhir, "a FHIR R4 bundle of one patient's chart or of all", NULL, NULL },
};

int cmd_export(cli_ctx *ctx, int argc, char **argv)
{
	return cli_dispatch(ctx, argc, argv, exports, sizeof(exports) / sizeof(exports[0]),
			    "usage: chartsync export <what> [<options>]\n",
			    "'chartsync export <what> --help' says more.", "something to export");
}
