/*
 * chartsync fields: every field a person types, with the compartment its
 * values travel in, so a site can check what a billing office receives.
 */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char fields_help[] =
	"usage: chartsync fields [--clinical] [--json]\n"
	"\n"
	"List every field of every record type: TYPE FIELD KIND COMPARTMENT.\n"
	"Values of a 'clinical' field travel under the clinical key only: a\n"
	"billing office never receives them, whatever record they are typed on\n"
	"(a visit's reason is kept apart from the visit's billing record).\n"
	"--clinical lists those only. Needs no store.\n";

static int fields_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	(void)ctx;
	(void)arg;
	if (c != 'c')
		return -1;
	*(int *)payload = 1;
	return 0;
}

int cmd_fields(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "clinical", no_argument, NULL, 'c' }, OPT_JSON, CLI_COMMON_OPTS, OPT_END
	};
	json_t *arr = NULL;
	chs_field_info f;
	int clinical_only = 0, rc;
	size_t i;
	char *text;

	if (cli_parse_bare(ctx, argc, argv, opts, fields_opt, &clinical_only, fields_help,
			   &rc) < 0)
		return rc;
	if (ctx->json && !(arr = json_array()))
		return cli_fail(chs_error_set(CHS_ENOMEM, "out of memory"));
	for (i = 0; chs_record_field_info(i, &f) == 0; i++) {
		const char *comp = f.clinical ? "clinical" : "billing";

		if (clinical_only && !f.clinical)
			continue;
		if (!arr)
			printf("%-13s %-12s %-8s %s\n", f.type, f.field, f.kind, comp);
		else if (json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "type", f.type,
							      "field", f.field, "kind", f.kind,
							      "compartment", comp)) < 0) {
			json_decref(arr);
			return cli_fail(chs_error_set(CHS_ENOMEM, "out of memory"));
		}
	}
	chs_error_clear();
	if (!arr)
		return CLI_OK;
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (!text)
		return cli_fail(chs_error_set(CHS_ENOMEM, "out of memory"));
	puts(text);
	free(text);
	return CLI_OK;
}
