/*
 * chartsync export fhir PATIENT|--all [-o FILE]
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char fhir_help[] =
	"usage: chartsync export fhir PATIENT|--all [-o FILE]\n"
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
	"resource's id is its record id.\n";

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

/* Export into a temporary file beside `path`, then fsync and rename. */
static int export_to_file(chs_store *s, const char *patient, const chs_report_opts *o,
			  const char *path)
{
	size_t len = strlen(path);
	char *tmp = malloc(len + 8), *dir;
	FILE *f = NULL;
	int fd, err = 0;

	if (!tmp)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	snprintf(tmp, len + 8, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0 || !(f = fdopen(fd, "w"))) {
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto done;
	}
	if ((err = chs_export_fhir(s, patient, o, f)) == 0 &&
	    (fflush(f) != 0 || fsync(fileno(f)) != 0))
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", path, strerror(errno));
	if (fclose(f) != 0 && err == 0)
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", path, strerror(errno));
	if (err == 0 && rename(tmp, path) != 0)
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", path, strerror(errno));
	if (err == 0 && (dir = dirname(tmp)) && (fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(fd);
		close(fd);
	}
done:
	if (err < 0 && fd >= 0)
		unlink(tmp);
	free(tmp);
	return err;
}

int cmd_export_fhir(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		CLI_COMMON_OPTS, OPT_END
	};
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
	err = fo.file ? export_to_file(s, patient, &o, fo.file)
		      : chs_export_fhir(s, patient, &o, stdout);
	cli_meter_end(&m);
	rc = err < 0 ? cli_fail(err) : CLI_OK;
	chs_store_free(s);
	return rc;
}
