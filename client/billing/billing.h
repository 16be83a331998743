/*
 * client/billing/billing.h - the coding queue, fee schedules, code lists
 * and claims.
 */
#ifndef CHS_CLIENT_BILLING_BILLING_H
#define CHS_CLIENT_BILLING_BILLING_H

#include <stddef.h>
#include <stdint.h>
#include "client/store/store.h"

/* ---------------------------------------------------------------------
 * Coding and billing (client/billing/coding.c, client/billing/fees.c)
 *
 * A visit goes to coding (its encounter gets coding "queued" and
 * coding_sent), a coder assigns procedure (CPT/HCPCS, with the fee from
 * the fee schedule) and diagnosis (ICD-10-CM) records, and marks it done
 * (coding "done", coding_done, coder). All of it is billing compartment,
 * so a billing office works the queue through sync.
 */
/* Put a visit in the coding queue. CHS_EEXISTS when it is there already;
 * a visit whose coding was done can be sent again. */
int chs_coding_send(chs_store *s, const char *encounter);
/* The queue, oldest sent first: a JSON array of {"encounter","patient",
 * "name","mrn","date","reason","provider","sent","procedures":[{"id",
 * "cpt","modifier","fee"}],"diagnoses":[{"id","icd"}]}. */
int chs_coding_queue(chs_store *s, char **json);

typedef struct chs_coding_assign_opts {
	const char *cpt;                /* NULL: diagnoses only */
	const char *const *modifiers;   /* up to 4, two letters or digits */
	size_t nmodifiers;
	const char *const *icd;         /* ICD-10-CM codes */
	size_t nicd;
} chs_coding_assign_opts;

/* Record a procedure (with its fee from the schedule: the line for the
 * visit's site, else for every site, effective on the visit date) and
 * diagnoses (one per code not on the visit yet) for a queued visit, in
 * one save. A fee the schedule does not know is left unset and a code no
 * imported list knows is accepted: both come back as warnings. `*json`:
 * {"procedure":id|null,"fee":cents|null,"diagnoses":[ids],
 *  "warnings":["..."]}. CHS_EINVALID for a code of the wrong form or a
 * visit not in the queue. */
int chs_coding_assign(chs_store *s, const char *encounter,
		      const chs_coding_assign_opts *o, char **json);
/* Take a visit out of the queue as coded by the store's user. */
int chs_coding_done(chs_store *s, const char *encounter);

typedef struct chs_fees_result {
	int64_t lines;   /* fee lines in the file */
	int64_t added;   /* new lines in the schedule */
	int64_t updated; /* lines whose fee or description changed */
} chs_fees_result;

/* Import a fee schedule: CSV (RFC 4180) with the header
 * code,description,fee,effective; fee in dollars (125, 125.5, 125.00),
 * effective as YYYY-MM-DD. Each line becomes a signed `fee` record for
 * `site` (NULL: this store's site on the roster, or every site when the
 * store is in no organisation), so the schedule syncs. A malformed line is
 * named by its number and nothing is imported (CHS_EINVALID). */
int chs_fees_import(chs_store *s, const char *path, const char *site,
		    chs_fees_result *res);

/* Import a code list into this store (not synced): lines "CODE
 * description" (CMS's ICD-10-CM code file, with or without the dot),
 * CMS's ICD-10-CM order file, or CSV (*.csv: code, description; a header
 * is skipped). `system` is "icd10cm", "hcpcs" or "cpt" (NULL: guessed
 * from the first code). All or nothing; a bad line is named. */
int chs_codes_import(chs_store *s, const char *path, const char *system,
		     int64_t *count);
/* Whether an imported list knows `code` of `system` ("icd10cm", "hcpcs",
 * "cpt"): *known = 1 listed, 0 not listed (flag it, never refuse), -1 no
 * list of that system was imported (nothing to say). */
int chs_code_known(chs_store *s, const char *system, const char *code, int *known);

/* Claims for the billing office: RFC 4180 CSV with a header, one row per
 * procedure of a visit on or after `since` (YYYY-MM-DD), oldest visit
 * first: patient, mrn, name, dob, payer, member_id, visit, visit_date,
 * procedure, code, modifiers, icd (the visit's ICD-10-CM codes, space
 * separated), fee (dollars, empty when unknown), coding. `*csv` is
 * malloc'ed; `*rows` (may be NULL) counts the rows. */
int chs_claims_export(chs_store *s, const char *since, char **csv, size_t *rows);

#endif /* CHS_CLIENT_BILLING_BILLING_H */
