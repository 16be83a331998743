/*
 * client/reports/reports.h - read-only reports and exports: access,
 * consistency, coding, FHIR.
 */
#ifndef CHS_CLIENT_REPORTS_REPORTS_H
#define CHS_CLIENT_REPORTS_REPORTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "client/store/store.h"

/* ---------------------------------------------------------------------
 * Reports and exports (client/reports/reports.c, client/reports/fhir.c)
 *
 * Read-only passes over the whole store (or one patient's chart), fast
 * enough for 100,000 records in well under two seconds.
 */
typedef struct chs_report_opts {
	int review_days;  /* review_overdue: under review for more than this */
	int confirm_days; /* unconfirmed: last change older than this */
	int64_t now;      /* Unix seconds ages are measured at; 0: now */
	/* long work: what, how far, out of how much (0: unknown) */
	void (*progress)(const char *what, size_t done, size_t total, void *payload);
	void *payload;
} chs_report_opts;

#define CHS_REPORT_REVIEW_DAYS 7
#define CHS_REPORT_CONFIRM_DAYS 7

/* Defaults: CHS_REPORT_REVIEW_DAYS, CHS_REPORT_CONFIRM_DAYS, now, no
 * progress. */
void chs_report_opts_init(chs_report_opts *o);

/* The consistency report: each visit checked against its patient's
 * records. `*json` (malloc'ed) is
 *   {"findings":[{"kind":..,"patient":<id>|null,"records":[<id>..],
 *                 "detail":".."}..],
 *    "counts":{"<kind>":n..},"patients":n,"visits":n}
 * with findings in patient id order. Kinds (stable names):
 *   visit_without_note      an encounter with no note
 *   procedure_without_code  a procedure with no CPT/HCPCS code
 *   code_without_procedure  diagnoses on a visit with no procedure
 *   malformed_code          a code that arrived (by sync) not well-formed
 *   medication_not_on_list  a note names a medication (one known in the
 *                           store) the patient's medication list lacks
 *   visit_before_birth, note_before_visit, end_before_start
 *   review_overdue          under review for more than review_days
 *   unconfirmed             not confirmed, last changed more than
 *                           confirm_days ago (stores whose schema has the
 *                           `confirmation` record type)
 * A billing store holds no clinical records: the kinds that need them
 * (notes, medications) are left out there. `opts` may be NULL. */
int chs_report_consistency(chs_store *s, const chs_report_opts *opts, char **json);

/* The coding queue, from the encounters' coding fields (coding =
 * "queued" | "done", coding_sent, coding_done, coder). `*json`:
 *   {"queue":{"length":n,"oldest":<encounter>|null,"oldest_days":x,
 *             "median_days":x},
 *    "done":n,
 *    "coders":[{"coder":..,"done":n,"last_30_days":n,"per_day":x,
 *               "median_turnaround_days":x}..]}
 * Ages are in days (one decimal); per_day is over the last 30 days. */
int chs_report_coding(chs_store *s, const chs_report_opts *opts, char **json);

/* Write a FHIR R4 Bundle (type "collection") of one patient's chart
 * (`patient` an id or prefix) or of every record (NULL) to `out`:
 * Patient, Encounter, Condition (problems and diagnoses),
 * MedicationStatement, AllergyIntolerance, Procedure and DocumentReference
 * (notes and attachments), each with the record id as its id and the
 * urn:uuid: form of it as fullUrl. Values that arrived by sync in a form
 * FHIR cannot carry (an impossible date) are left out rather than written.
 * CHS_EIO when `out` fails. `opts` may be NULL. */
int chs_export_fhir(chs_store *s, const char *patient, const chs_report_opts *opts,
		    FILE *out);

/* The access report: who looked at what, when, for how long, from which
 * terminal, across every site this store has synced with. */
typedef struct chs_access_filter {
	const char *patient;  /* id or prefix: events about this patient */
	const char *user;     /* exact user name */
	const char *terminal; /* exact terminal name */
	const char *since;    /* ISO 8601 date or date-time (UTC), inclusive */
	const char *until;    /* inclusive; a date alone covers its whole day */
	/* long work: what, how far, out of how much */
	void (*progress)(const char *what, size_t done, size_t total, void *payload);
	void *payload;
} chs_access_filter;

/* A JSON array of events, oldest first, each
 *   {"event","start","duration_ms","user","terminal","device","action",
 *    "patient","record","records":[..]}
 * ("patient" and "record" are "" when the event names none). The report
 * lists ids, names and times, no clinical content, and is not itself an
 * access. CHS_EINVALID for a bad date, CHS_ENOTFOUND for an unknown
 * patient prefix. */
int chs_report_access(chs_store *s, const chs_access_filter *f, char **json);

#endif /* CHS_CLIENT_REPORTS_REPORTS_H */
