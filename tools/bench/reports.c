/*
 * tools/bench/reports - the report figures (README, Benchmarks) on a fresh encrypted
 * store of N patients with ten records each (two visits, each with a note
 * and a diagnosis; a problem, a medication, a procedure), imported as
 * JSON Lines. Prints one JSON line:
 *
 *   consistency_s  chs_report_consistency over the whole store
 *   fhir_all_s     chs_export_fhir of every record, to a file
 *
 * Targets (10,000 patients, 100,000 records): each under 2 s.
 */
#include "client/chartsync.h"
#include "workload.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const meds[] = {
	"Metformin", "Lisinopril", "Atorvastatin", "Levothyroxine", "Amlodipine",
	"Metoprolol", "Omeprazole", "Simvastatin", "Losartan", "Albuterol",
	"Gabapentin", "Hydrochlorothiazide", "Sertraline", "Furosemide", "Insulin glargine",
};
#define NMEDS (sizeof(meds) / sizeof(meds[0]))

static void die(const char *what)
{
	fprintf(stderr, "reports: %s: %s\n", what, chs_error_last());
	exit(2);
}

/* Record ids: a type digit, then the patient's number. */
static void id_of(char out[33], int type, long patient)
{
	snprintf(out, 33, "%x%031lx", type, patient);
}

static void write_chart(FILE *f, long i)
{
	char p[33], e[2][33], id[33];
	int k;

	id_of(p, 1, i);
	fprintf(f, "{\"type\":\"patient\",\"id\":\"%s\",\"fields\":{\"name\":\"Patient %07ld\","
		   "\"mrn\":\"MRN-%08ld\",\"dob\":\"19%02ld-%02ld-%02ld\",\"sex\":\"%s\"}}\n",
		p, i, i, 30 + i % 70, 1 + i % 12, 1 + i % 28, i % 2 ? "F" : "M");
	for (k = 0; k < 2; k++) {
		id_of(e[k], 2 + k, i);
		fprintf(f, "{\"type\":\"encounter\",\"id\":\"%s\",\"patient\":\"%s\",\"fields\":"
			   "{\"date\":\"2024-%02ld-%02d\",\"reason\":\"follow-up visit\"}}\n",
			e[k], p, 1 + i % 12, 1 + k * 10);
		id_of(id, 4 + k, i);
		/* one note in ten names a medication the patient does not take */
		fprintf(f, "{\"type\":\"note\",\"id\":\"%s\",\"patient\":\"%s\",\"encounter\":\"%s\","
			   "\"fields\":{\"date\":\"2024-%02ld-%02d\",\"author\":\"Dr Example\","
			   "\"text\":\"Patient seen for follow-up. Continues %s as prescribed;"
			   " blood pressure stable, no new complaints.%s%s\"}}\n",
			id, p, e[k], 1 + i % 12, 1 + k * 10, meds[i % NMEDS],
			i % 10 == 0 ? " Consider " : "", i % 10 == 0 ? meds[(i + 3) % NMEDS] : "");
		id_of(id, 6 + k, i);
		fprintf(f, "{\"type\":\"diagnosis\",\"id\":\"%s\",\"patient\":\"%s\",\"encounter\":\"%s\","
			   "\"fields\":{\"icd\":\"E11.9\"}}\n", id, p, e[k]);
	}
	id_of(id, 8, i);
	fprintf(f, "{\"type\":\"problem\",\"id\":\"%s\",\"patient\":\"%s\",\"fields\":"
		   "{\"name\":\"Type 2 diabetes mellitus\",\"icd\":\"E11.9\",\"status\":\"active\"}}\n",
		id, p);
	id_of(id, 9, i);
	fprintf(f, "{\"type\":\"medication\",\"id\":\"%s\",\"patient\":\"%s\",\"fields\":"
		   "{\"name\":\"%s\",\"dose\":\"10\",\"unit\":\"mg\",\"route\":\"oral\","
		   "\"frequency\":\"daily\",\"start\":\"2023-01-01\"}}\n", id, p, meds[i % NMEDS]);
	id_of(id, 10, i);
	fprintf(f, "{\"type\":\"procedure\",\"id\":\"%s\",\"patient\":\"%s\",\"encounter\":\"%s\","
		   "\"fields\":{\"cpt\":\"99213\",\"fee\":12500}}\n", id, p, e[0]);
}

static char *write_input(const char *dir, long patients)
{
	size_t len = strlen(dir) + 16;
	char *path = chs_malloc(len);
	FILE *f;
	long i;

	snprintf(path, len, "%s/charts.jsonl", dir);
	if (!(f = fopen(path, "w")))
		die("cannot write the input");
	for (i = 0; i < patients; i++)
		write_chart(f, i);
	if (fclose(f) != 0)
		die("cannot write the input");
	return path;
}

static chs_store *make_store(const char *dir)
{
	chs_store *s = bench_store_create(dir);

	if (!s)
		die("create");
	return s;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "patients", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	char dir[] = "/tmp/chs-bench-reports-XXXXXX", out[64], *input;
	chs_consistency_report *report = NULL;
	long patients = 10000;
	int64_t imported = 0;
	double t0, consistency_s, fhir_s;
	chs_store *s;
	FILE *f;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'p' || (patients = strtol(optarg, NULL, 10)) < 1) {
			fprintf(stderr, "usage: reports [--patients N]\n");
			return 1;
		}
	}
	if (chs_crypto_init() < 0 || !mkdtemp(dir))
		die("setup");
	input = write_input(dir, patients);
	s = make_store(dir);
	if (chs_record_import(s, input, &imported) < 0)
		die("import");
	t0 = bench_now_s();
	if (chs_report_consistency(&report, s, NULL) < 0)
		die("consistency");
	consistency_s = bench_now_s() - t0;
	chs_consistency_report_free(report);
	snprintf(out, sizeof(out), "%s/all.json", dir);
	if (!(f = fopen(out, "w")))
		die("cannot write the export");
	t0 = bench_now_s();
	if (chs_export_fhir(s, NULL, NULL, f) < 0)
		die("export");
	fhir_s = bench_now_s() - t0;
	fclose(f);
	chs_store_free(s);
	free(input);
	{
		char cmd[sizeof(dir) + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "reports: could not remove %s\n", dir);
	}
	printf("{\"bench\":\"reports\",\"patients\":%ld,\"records\":%lld,"
	       "\"consistency_s\":%.3f,\"fhir_all_s\":%.3f}\n",
	       patients, (long long)imported, consistency_s, fhir_s);
	return 0;
}
