/*
 * tools/bench/duplicates - finding and merging duplicate patients (README,
 * Benchmarks), on a fresh encrypted store of N patients (default 100,000)
 * imported as JSON Lines, among them `planted` pairs that are one person
 * written twice (a typo in the name, first and last names swapped, or
 * the name in capitals with extra spaces; the same date of birth, their
 * own chart numbers and phones). Prints one JSON line:
 *
 *   report_s     chs_report_duplicates over the whole store (target
 *                under 5 s for 100,000 patients)
 *   scan_s       its reference: the same patients read as records
 *                (chs_record_query of type patient), with nothing compared
 *   pairs_found  the pairs the report gave (`planted` of them planted)
 *   merge_s      chs_patient_merge of a patient holding 1,000 records
 *                (250 visits, each with a note, a diagnosis and a
 *                procedure) into another (target under 1 s)
 *   moved        the records that merge moved
 */
#include "client/chartsync.h"
#include "client/records/views.h"
#include "workload.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MERGE_RECORDS 1000 /* the merged patient's records: 250 visits x 4 */

static const char *const firsts[] = {
	"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
	"David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
	"Thomas", "Sarah", "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa",
};
static const char *const syllables[] = {
	"ka", "ro", "mi", "te", "lu", "sa", "no", "bi", "de", "fa", "go", "hu", "ji", "ve",
	"pa", "zu",
};
#define NFIRSTS (sizeof(firsts) / sizeof(firsts[0]))
#define NSYL (sizeof(syllables) / sizeof(syllables[0]))
#define DOB_DAYS 26880L /* 80 years of 12 months of 28 days */

static void die(const char *what)
{
	fprintf(stderr, "duplicates: %s: %s\n", what, chs_error_last());
	exit(2);
}

/* Patient i's name: a first name and a last name of syllables spelling
 * i (its most significant digit first), so no two patients share a name;
 * two born on the same day (i apart by a multiple of DOB_DAYS) get
 * different first names. */
static void name_of(long i, char *out, size_t n)
{
	char last[64] = "";
	int digits[16], nd = 0;
	long k = i;
	size_t len = 0;

	do {
		digits[nd++] = (int)(k % (long)NSYL);
		k /= (long)NSYL;
	} while (k && nd < 16);
	while (nd > 0)
		len += (size_t)snprintf(last + len, sizeof(last) - len, "%s",
					syllables[digits[--nd]]);
	last[0] = (char)(last[0] - 'a' + 'A');
	snprintf(out, n, "%s %s", firsts[(i + i / DOB_DAYS) % (long)NFIRSTS], last);
}

/* Dates of birth over 80 years, 28 days a month. */
static void dob_of(long i, char out[16])
{
	snprintf(out, 16, "%04ld-%02ld-%02ld", 1930 + i / 336 % 80, 1 + i / 28 % 12, 1 + i % 28);
}

/* The same name written another way: kind 0 a letter of the last name
 * dropped, 1 the words swapped, 2 capitals and doubled spaces. */
static void variant_of(const char *name, int kind, char *out, size_t n)
{
	const char *sp = strchr(name, ' ');
	size_t i, len;

	if (kind == 1) {
		snprintf(out, n, "%s %.*s", sp + 1, (int)(sp - name), name);
	} else if (kind == 2) {
		for (i = 0, len = 0; name[i] && len + 3 < n; i++) {
			if (name[i] == ' ')
				out[len++] = ' ';
			out[len++] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
		}
		out[len] = '\0';
	} else {
		/* drop the last name's third letter */
		len = (size_t)(sp - name) + 3;
		snprintf(out, n, "%.*s%s", (int)len, name, name + len + 1);
	}
}

static void patient_line(FILE *f, const char *id, const char *name, const char *dob, long mrn)
{
	fprintf(f, "{\"type\":\"patient\",\"id\":\"%s\",\"fields\":{\"name\":\"%s\",\"dob\":\"%s\","
		   "\"mrn\":\"MRN-%08ld\",\"phone\":\"555-%07ld\",\"sex\":\"%s\","
		   "\"member_id\":\"MB%08ld\"}}\n", id, name, dob, mrn, mrn, mrn % 2 ? "F" : "M", mrn);
}

/* N patients, every `step`-th written again as a variant (`*planted`
 * pairs), then OTHER's 1,000 records; KEEP and OTHER are patients 0 and
 * 1. */
static char *write_input(const char *dir, long n, long *planted, char keep[33], char other[33])
{
	size_t len = strlen(dir) + 20;
	char *path = chs_malloc(len), id[33], name[96], variant[96], dob[16], e[33];
	long i, written = 0, step = 50;
	FILE *f;
	int k;

	snprintf(path, len, "%s/patients.jsonl", dir);
	if (!(f = fopen(path, "w")))
		die("cannot write the input");
	*planted = 0;
	for (i = 0; written < n; i++) {
		snprintf(id, sizeof(id), "1%031lx", i);
		name_of(i, name, sizeof(name));
		dob_of(i, dob);
		patient_line(f, id, name, dob, written++);
		if (i > 1 && i % step == 0 && written < n) {
			snprintf(id, sizeof(id), "2%031lx", i);
			variant_of(name, (int)(i / step % 3), variant, sizeof(variant));
			patient_line(f, id, variant, dob, written++);
			(*planted)++;
		}
	}
	snprintf(keep, 33, "1%031lx", 0L);
	snprintf(other, 33, "1%031lx", 1L);
	for (k = 0; k < MERGE_RECORDS / 4; k++) {
		snprintf(e, sizeof(e), "3%031x", k);
		fprintf(f, "{\"type\":\"encounter\",\"id\":\"%s\",\"patient\":\"%s\",\"fields\":"
			   "{\"date\":\"2024-%02d-%02d\",\"reason\":\"follow-up\"}}\n",
			e, other, 1 + k % 12, 1 + k % 28);
		fprintf(f, "{\"type\":\"note\",\"patient\":\"%s\",\"encounter\":\"%s\",\"fields\":"
			   "{\"date\":\"2024-%02d-%02d\",\"author\":\"Dr Example\","
			   "\"text\":\"Seen for follow-up; stable.\"}}\n", other, e, 1 + k % 12,
			1 + k % 28);
		fprintf(f, "{\"type\":\"diagnosis\",\"patient\":\"%s\",\"encounter\":\"%s\","
			   "\"fields\":{\"icd\":\"E11.9\"}}\n", other, e);
		fprintf(f, "{\"type\":\"procedure\",\"patient\":\"%s\",\"encounter\":\"%s\","
			   "\"fields\":{\"cpt\":\"99213\",\"fee\":12500}}\n", other, e);
	}
	if (fclose(f) != 0)
		die("cannot write the input");
	return path;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "patients", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	char dir[] = "/tmp/chs-bench-duplicates-XXXXXX", keep[33], other[33], *input;
	chs_duplicates_report *report = NULL;
	chs_record_list *all = NULL;
	chs_merge_result m;
	long patients = 100000, planted = 0;
	double t0, report_s, scan_s, merge_s;
	size_t found, scanned;
	int64_t imported = 0;
	chs_store *s;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'p' || (patients = strtol(optarg, NULL, 10)) < 2) {
			fprintf(stderr, "usage: duplicates [--patients N]  (N at least 2)\n");
			return 1;
		}
	}
	if (chs_crypto_init() < 0 || !mkdtemp(dir))
		die("setup");
	input = write_input(dir, patients, &planted, keep, other);
	if (!(s = bench_store_create(dir)))
		die("create");
	if (chs_record_import(s, input, &imported) < 0)
		die("import");

	t0 = bench_now_s();
	if (chs_record_query(&all, s, "patient", NULL) < 0)
		die("scan");
	scan_s = bench_now_s() - t0;
	scanned = chs_record_list_count(all);
	chs_record_list_free(all);

	t0 = bench_now_s();
	if (chs_report_duplicates(&report, s, NULL) < 0)
		die("report");
	report_s = bench_now_s() - t0;
	found = chs_duplicates_report_count(report);
	if (chs_duplicates_report_patients(report) != scanned)
		fprintf(stderr, "duplicates: the report read %zu patients, the scan %zu\n",
			chs_duplicates_report_patients(report), scanned);
	chs_duplicates_report_free(report);

	memset(&m, 0, sizeof(m));
	t0 = bench_now_s();
	if (chs_patient_merge(s, keep, other, NULL, &m) < 0)
		die("merge");
	merge_s = bench_now_s() - t0;
	chs_store_free(s);
	free(input);
	{
		char cmd[sizeof(dir) + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "duplicates: could not remove %s\n", dir);
	}
	printf("{\"bench\":\"duplicates\",\"patients\":%zu,\"planted\":%ld,\"pairs_found\":%zu,"
	       "\"report_s\":%.3f,\"report_target_s\":5,\"scan_s\":%.3f,"
	       "\"merge_records\":%d,\"moved\":%zu,\"merge_s\":%.3f,\"merge_target_s\":1}\n",
	       scanned, planted, found, report_s, scan_s, MERGE_RECORDS, m.moved, merge_s);
	chs_merge_result_dispose(&m);
	return 0;
}
