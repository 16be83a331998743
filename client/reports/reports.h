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

/* ---------------------------------------------------------------------
 * The consistency report (client/reports/reports.c)
 *
 * Each visit checked against its patient's records. What comes back is a
 * chs_consistency_report: opaque, read with the accessors below, freed
 * with chs_consistency_report_free(); every string, struct and array an
 * accessor returns is borrowed from it and lives until it is freed. Ids
 * are 32 lowercase hex digits. Index arguments out of range are caller
 * bugs: the accessors return 0 or NULL for them. `chartsync report
 * consistency --json` prints it through chs_json_consistency_report()
 * (client/json/json.h).
 *
 * Kinds (stable names):
 *   visit_without_note      an encounter with no note
 *   procedure_without_code  a procedure with no CPT/HCPCS code
 *   code_without_procedure  diagnoses on a visit with no procedure
 *                           (records: the visit, then its diagnoses)
 *   malformed_code          a code that arrived (by sync) not well-formed
 *   medication_not_on_list  a note names a medication (one known in the
 *                           store) the patient's medication list lacks
 *   visit_before_birth, note_before_visit, end_before_start
 *   review_overdue          under review for more than review_days
 *   unconfirmed             not confirmed, last changed more than
 *                           confirm_days ago (stores whose schema has the
 *                           `confirmation` record type)
 *   malformed_value         a text or date value entry refuses (control
 *                           characters, invalid UTF-8, over the field's
 *                           length, blank where required, a date out of
 *                           bounds) that arrived by sync or was stored by
 *                           an earlier version; the detail gives entry's
 *                           reason, once per record (its first such field)
 *   duplicate_chart_number  patients whose chart numbers are the same or
 *                           look alike (chs_text_id_key: case, width,
 *                           dashes, spaces); records: every such patient,
 *                           by id; listed under the first. A patient
 *                           merged into another (a tombstone, which keeps
 *                           the number the patient it was merged into
 *                           holds too) is never one of them: tombstones
 *                           are not checked, nor counted as patients
 * A billing store holds no clinical records: the kinds that need them
 * (notes, medications) are left out there.
 */
typedef struct chs_consistency_report chs_consistency_report;

/* One finding: what is wrong, with which records of which patient. */
typedef struct chs_finding {
	const char *kind;            /* one of the kinds above */
	const char *patient;         /* the patient's id; NULL when none */
	const char *const *records;  /* the records concerned; the first is
				      * the one to fix */
	size_t nrecords;
	const char *detail;          /* one line for a person */
} chs_finding;

/* How many findings of one kind. */
typedef struct chs_finding_count {
	const char *kind;
	size_t n;
} chs_finding_count;

/* Check every chart. `opts` may be NULL. */
int chs_report_consistency(chs_consistency_report **out, chs_store *s,
			   const chs_report_opts *opts);
/* The findings, in patient id order. */
size_t chs_consistency_report_count(const chs_consistency_report *r);
const chs_finding *chs_consistency_report_get(const chs_consistency_report *r, size_t i);
/* The kinds found, each with its number of findings, in the order each
 * was first found (none for a kind not found). */
size_t chs_consistency_report_kind_count(const chs_consistency_report *r);
const chs_finding_count *chs_consistency_report_kind(const chs_consistency_report *r,
						     size_t i);
/* The patients (charts with a patient) and visits checked. */
size_t chs_consistency_report_patients(const chs_consistency_report *r);
size_t chs_consistency_report_visits(const chs_consistency_report *r);
/* Free the report and everything borrowed from it; accepts NULL. */
void chs_consistency_report_free(chs_consistency_report *r);

/* ---------------------------------------------------------------------
 * The coding report (client/reports/reports.c)
 *
 * The coding queue, from the encounters' coding fields (coding =
 * "queued" | "done", coding_sent, coding_done, coder). Ages are in days,
 * rounded to one decimal; per_day is over the last 30 days. Read and freed
 * as the consistency report is; `chartsync report coding --json` prints
 * it through chs_json_coding_report() (client/json/json.h).
 */
typedef struct chs_coding_report chs_coding_report;

/* The visits waiting for codes. */
typedef struct chs_coding_queue_stats {
	size_t length;      /* visits queued */
	const char *oldest; /* the visit waiting longest; NULL when no queued
			     * visit says when it was sent */
	double oldest_days; /* how long it has waited (0 without one) */
	double median_days; /* the median wait of those that say */
} chs_coding_queue_stats;

/* One coder's work (a visit done without a coder counts for
 * "(unknown)"). */
typedef struct chs_coder_stats {
	const char *coder;
	size_t done;                   /* visits coded, all time */
	size_t last_30_days;           /* of which done in the last 30 days */
	double per_day;                /* last_30_days / 30 */
	double median_turnaround_days; /* from sent to done; 0 when unknown */
} chs_coder_stats;

int chs_report_coding(chs_coding_report **out, chs_store *s, const chs_report_opts *opts);
const chs_coding_queue_stats *chs_coding_report_queue(const chs_coding_report *r);
/* Visits coded, all coders together. */
size_t chs_coding_report_done(const chs_coding_report *r);
/* The coders, by name. */
size_t chs_coding_report_coder_count(const chs_coding_report *r);
const chs_coder_stats *chs_coding_report_coder(const chs_coding_report *r, size_t i);
/* Free the report; accepts NULL. */
void chs_coding_report_free(chs_coding_report *r);

/* Write a FHIR R4 Bundle (type "collection") of one patient's chart
 * (`patient` an id or prefix) or of every record (NULL) to `out`:
 * Patient, Encounter, Condition (problems and diagnoses),
 * MedicationStatement, AllergyIntolerance, Procedure and DocumentReference
 * (notes and attachments), each with the record id as its id and the
 * urn:uuid: form of it as fullUrl. Values that arrived by sync in a form
 * FHIR cannot carry (an impossible date) are left out rather than written.
 * A patient merged into another (client/identity) is followed: its export
 * is the chart of the patient it was merged into, whose Patient carries a
 * `link` of type "replaces" ("Patient/ID") to each patient merged into
 * it; in an export of every record, a merged patient is a Patient with
 * "active": false and a `link` of type "replaced-by" to it, nothing else.
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

/* One access event. */
typedef struct chs_access_event {
	const char *event;          /* the access event's record id */
	const char *start;          /* when it began, as recorded (ISO 8601
				     * UTC, ms); "" when it holds none */
	int64_t duration_ms;        /* 0 when not recorded */
	const char *user;           /* who opened the store ("" when not
				     * recorded) */
	const char *terminal;       /* where ("" when not recorded) */
	const char *device;         /* the device that signed it, 32 hex */
	const char *action;         /* show, ls, log, open, cat, ... */
	const char *patient;        /* "" when the event names none */
	const char *record;         /* the record asked for; "" when none */
	const char *const *records; /* every record whose content was shown
				     * (an entry that is not text: "") */
	size_t nrecords;
} chs_access_event;

/* The events, oldest first: opaque, read with the accessors below, freed
 * with chs_access_report_free(); the events and everything they point at
 * are borrowed from it. The report lists ids, names and times, no
 * clinical content, and is not itself an access. `chartsync report
 * access --json` prints it through chs_json_access_report()
 * (client/json/json.h). */
typedef struct chs_access_report chs_access_report;

/* `f` may be NULL (every event). CHS_EINVALID for a bad date,
 * CHS_ENOTFOUND for an unknown patient prefix. */
int chs_report_access(chs_access_report **out, chs_store *s, const chs_access_filter *f);
size_t chs_access_report_count(const chs_access_report *r);
/* Event i, or NULL when i is out of range. */
const chs_access_event *chs_access_report_get(const chs_access_report *r, size_t i);
/* Free the report and its events; accepts NULL. */
void chs_access_report_free(chs_access_report *r);

#endif /* CHS_CLIENT_REPORTS_REPORTS_H */
