/*
 * chartsync export fhir PATIENT|--all [-o FILE]
 */
#include "cli.h"

#include <string.h>

static const char fhir_help[] =
	"usage: chartsync export fhir PATIENT|--all [-o|--output FILE]\n"
	"\n"
	"Write a FHIR R4 Bundle (type collection) of one patient's chart, or of\n"
	"every patient with --all, to standard output or to FILE (written whole\n"
	"or not at all). Patients, visits (Encounter), problems and diagnoses\n"
	"(Condition), medications (MedicationStatement), allergies\n"
	"(AllergyIntolerance), procedures (Procedure), notes and attachments\n"
	"(DocumentReference; an attachment's bytes stay in the store: use\n"
	"'chartsync cat'). Codes carry their systems: ICD-10-CM\n"
	"http://hl7.org/fhir/sid/icd-10-cm, CPT http://www.ama-assn.org/go/cpt,\n"
	"HCPCS http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets. Each\n"
	"resource's id is its record id.\n"
	"A patient merged into another ('chartsync patient merge') exports the\n"
	"chart it was merged into (a line on standard error says so), whose\n"
	"Patient links to it (link type replaces); with --all, a merged\n"
	"patient is an inactive Patient linked to the one it was merged into\n"
	"(replaced-by), nothing else.\n";

typedef struct fhir_opts {
	int all;
	const char *file;
} fhir_opts;

static int fhir_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	fhir_opts *o = payload;

	(void)ctx;
	if (c == 'a')
		o->all = 1;
	else if (c == 'o')
		o->file = arg;
	else
		return -1;
	return 0;
}

typedef struct fhir_export {
	chs_store *s;
	const char *patient;
	const chs_report_opts *o;
} fhir_export;

static int fill_fhir(FILE *f, void *payload)
{
	const fhir_export *x = payload;

	return chs_export_fhir(x->s, x->patient, x->o, f);
}

/* Export to `path` whole or not at all (chs_file_write_with), readable by
 * its owner only: it holds patient data. */
static int export_to_file(chs_store *s, const char *patient, const chs_report_opts *o,
			  const char *path)
{
	fhir_export x = { s, patient, o };

	return chs_file_write_with(path, 0600, fill_fhir, &x);
}

int cmd_export_fhir(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		CLI_COMMON_OPTS, OPT_END
	};
	char keep[33] = "", from[33] = "";
	const char *patient = NULL;
	chs_report_opts o;
	cli_meter m;
	fhir_opts fo = { 0, NULL };
	chs_store *s = NULL;
	int i, err, rc;

	static char output_opt[] = "--output";

	ctx->help_text = fhir_help;
	for (i = 1; i < argc; i++) /* -o FILE, as well as --output FILE */
		if (strcmp(argv[i], "-o") == 0)
			argv[i] = output_opt;
	if ((i = cli_parse(ctx, argc, argv, opts, fhir_opt, &fo)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (argc - i > 1 || (argc - i == 1) == fo.all)
		return cli_usage(ctx, fo.all ? "give a patient or --all, not both"
				      : argc - i > 1 ? "too many arguments"
						     : "give a patient's id, or --all");
	if (!fo.all)
		patient = argv[i];
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	chs_report_opts_init(&o);
	memset(&m, 0, sizeof(m));
	if (cli_meter_wanted(0)) {
		o.progress = cli_meter_progress;
		o.payload = &m;
	}
	if (patient)
		cli_follow(s, patient, keep, from);
	err = fo.file ? export_to_file(s, patient, &o, fo.file)
		      : chs_export_fhir(s, patient, &o, stdout);
	cli_meter_end(&m);
	if (err == 0)
		cli_followed(from, keep, NULL, "exporting");
	rc = err < 0 ? cli_fail(err) : CLI_OK;
	chs_store_free(s);
	return rc;
}
