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

/* The coding queue (chs_coding_queue()), oldest sent first: the visits
 * waiting, each with the procedures and diagnoses it has. The entries and
 * everything they point at are borrowed from the list and live until
 * chs_coding_list_free(). Ids are 32 lowercase hex digits. */
typedef struct chs_coding_list chs_coding_list;

typedef struct chs_coding_procedure {
	const char *id;       /* the procedure record */
	const char *cpt;      /* its code (CPT/HCPCS); NULL when it has none */
	const char *modifier; /* e.g. "25,LT"; NULL when none */
	int has_fee;          /* 0: no fee set (the schedule had none) */
	int64_t fee;          /* cents, when has_fee */
} chs_coding_procedure;

typedef struct chs_coding_diagnosis {
	const char *id;  /* the diagnosis record */
	const char *icd; /* its ICD-10-CM code; NULL when it has none */
} chs_coding_diagnosis;

typedef struct chs_coding_visit {
	const char *encounter; /* the visit */
	const char *patient;   /* NULL when the visit links to no patient */
	const char *name;      /* the patient's name and chart number (text); */
	const char *mrn;       /* NULL when not known */
	/* The visit's fields as stored, canonical JSON values (as the field
	 * values of client/records/records.h: "\"2024-03-15\""); NULL when the
	 * visit has none. `sent` is its coding_sent. */
	const char *date, *reason, *provider, *sent;
	const chs_coding_procedure *procedures; /* in entry order */
	size_t nprocedures;
	const chs_coding_diagnosis *diagnoses;  /* in entry order */
	size_t ndiagnoses;
} chs_coding_visit;

/* The queue into `*out` (the caller's: chs_coding_list_free()). */
int chs_coding_queue(chs_coding_list **out, chs_store *s);
size_t chs_coding_list_count(const chs_coding_list *q);
/* Visit i, or NULL when i is out of range. */
const chs_coding_visit *chs_coding_list_get(const chs_coding_list *q, size_t i);
/* Free the list; accepts NULL. */
void chs_coding_list_free(chs_coding_list *q);

typedef struct chs_coding_assign_opts {
	const char *cpt;                /* NULL: diagnoses only */
	const char *const *modifiers;   /* up to 4, two letters or digits */
	size_t nmodifiers;
	const char *const *icd;         /* ICD-10-CM codes */
	size_t nicd;
} chs_coding_assign_opts;

/* What chs_coding_assign() recorded. Everything it points at is owned by
 * it and freed with chs_coding_assignment_free(). */
typedef struct chs_coding_assignment {
	const char *procedure;        /* the procedure record's id; NULL when
				       * no --cpt was given */
	int has_fee;                  /* 0: the schedule had no fee for it */
	int64_t fee;                  /* cents, when has_fee */
	const char *const *diagnoses; /* ids of the diagnoses made (a code the
				       * visit had already makes none) */
	size_t ndiagnoses;
	const char *const *warnings;  /* for the coder: a fee left unset, a
				       * code no imported list knows */
	size_t nwarnings;
} chs_coding_assignment;

/* Record a procedure (with its fee from the schedule: the line for the
 * visit's site, else for every site, effective on the visit date) and
 * diagnoses (one per code not on the visit yet) for a queued visit, in
 * one save. A fee the schedule does not know is left unset and a code no
 * imported list knows is accepted: both come back as warnings. `*out` is
 * the caller's (chs_coding_assignment_free()). CHS_EINVALID for a code of
 * the wrong form or a visit not in the queue. */
int chs_coding_assign(chs_coding_assignment **out, chs_store *s, const char *encounter,
		      const chs_coding_assign_opts *o);
/* Free an assignment; accepts NULL. */
void chs_coding_assignment_free(chs_coding_assignment *a);
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
/* 0 when `system` names a code system chs_codes_import() takes (icd10cm,
 * hcpcs or cpt, as a person may type them); else CHS_EINVALID. */
int chs_codes_system_check(const char *system);
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
