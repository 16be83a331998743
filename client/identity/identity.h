/*
 * client/identity/identity.h - one patient, one chart: patients that are
 * likely one person found across sites, merged with their records and
 * history, and unmerged when the merge was wrong.
 *
 * A merge is signed changes like any other, so it syncs, shows in every
 * record's history and converges: each record of OTHER moves to KEEP (an
 * edit of its `patient` link), OTHER becomes a tombstone whose
 * `merged_into` names KEEP, and the pair's verdict is kept on a record of
 * its own (type patient_link, its id derived from the pair). Each act
 * (merge, unmerge, a sync placing what a device made on OTHER while it
 * was offline) is an append-only patient_merge record naming the records
 * it moved: an unmerge moves back exactly those.
 */
#ifndef CHS_CLIENT_IDENTITY_IDENTITY_H
#define CHS_CLIENT_IDENTITY_IDENTITY_H

#include <stddef.h>
#include "client/store/store.h"

/* ---------------------------------------------------------------------
 * Finding them (client/identity/duplicates.c)
 *
 * Pairs of live patients (not removed, not merged away) that are likely
 * one person, each with its evidence and a score in [0, 1]. Candidates
 * are found by blocking (the same date of birth, chart number key, phone
 * number or member id), never by comparing every pair. A pair whose
 * verdict is "distinct" (chs_patient_distinct()) is never reported.
 *
 * Evidence (stable names):
 *   chart_number   the same chart number, or one that looks alike
 *                  (chs_text_id_key: case, width, dashes, spaces)
 *   name_dob       the same date of birth and names alike (accents,
 *                  case, spacing and punctuation aside; Jaro-Winkler at
 *                  least CHS_DUP_NAME_MIN)
 *   swapped_name   the same date of birth, first and last names swapped
 *   phone          the same phone number (its digits, at least 7)
 *   member_id      the same insurance member id
 * The thresholds and weights are documented in duplicates.c and in
 * `chartsync report duplicates --help`.
 */
#define CHS_DUP_NAME_MIN 0.88   /* Jaro-Winkler of two names alike */
#define CHS_DUP_SCORE_MIN 0.50  /* a pair scoring less is not reported */

typedef struct chs_duplicates_report chs_duplicates_report;

/* One side of a pair, as the store holds the patient. Strings are
 * borrowed from the report; "" when the patient has no such value. */
typedef struct chs_duplicate_side {
	const char *id;     /* 32 hex */
	const char *name;
	const char *dob;
	const char *mrn;
	const char *phone;
	const char *site;   /* the site of the device that registered the
			     * patient (the roster's), "" when unknown */
} chs_duplicate_side;

typedef struct chs_duplicate_pair {
	chs_duplicate_side a, b;       /* a.id < b.id */
	double score;                  /* 0 to 1 */
	const char *const *evidence;   /* the names above, strongest first */
	size_t nevidence;
	const char *detail;            /* one line for a person: what matched */
} chs_duplicate_pair;

typedef struct chs_duplicates_opts {
	double min_score; /* 0: CHS_DUP_SCORE_MIN */
} chs_duplicates_opts;

/* Find the likely duplicates among the store's patients. `opts` may be
 * NULL. Pairs come highest score first, ties by (a.id, b.id). A service
 * user is refused (CHS_EDENIED). */
int chs_report_duplicates(chs_duplicates_report **out, chs_store *s,
			  const chs_duplicates_opts *opts);
size_t chs_duplicates_report_count(const chs_duplicates_report *r);
const chs_duplicate_pair *chs_duplicates_report_get(const chs_duplicates_report *r, size_t i);
/* The live patients looked at. */
size_t chs_duplicates_report_patients(const chs_duplicates_report *r);
/* Free the report and everything borrowed from it; accepts NULL. */
void chs_duplicates_report_free(chs_duplicates_report *r);

/* ---------------------------------------------------------------------
 * Merging, unmerging, and "not the same person" (client/identity/merge.c)
 *
 * The archivist's work: a store whose device is an archivist's, or an
 * admin of a store that reads clinical records, may merge, unmerge and
 * mark; anyone else is refused (CHS_EDENIED), a billing office (which
 * holds none of a chart's clinical records to move) and a service user
 * too. Patients are given as ids or
 * prefixes. Each call is one save: all of it, or nothing.
 */

/* A record an act left where it was, or one for a person to place. */
typedef struct chs_merge_item {
	char record[33];
	char type[32];
	const char *why; /* static: a short reason for a person */
} chs_merge_item;

/* What a merge or an unmerge did. Owned arrays: free with
 * chs_merge_result_dispose(). */
typedef struct chs_merge_result {
	char keep[33], other[33];
	char link[33];      /* the pair's patient_link record */
	char act[33];       /* this act's patient_merge record */
	size_t moved;       /* records moved */
	size_t filled;      /* merge: KEEP's empty fields filled from OTHER's */
	char **review;      /* merge: the fields of KEEP now under review
			     * (both charts held a value, and they differ) */
	size_t nreview;
	chs_merge_item *left; /* records left where they are (a removal or
			       * their patient link under review, moved
			       * elsewhere since): for a person to place */
	size_t nleft;
	chs_merge_item *since; /* unmerge: records added to KEEP since the
				* merge; they stay on KEEP, for a person to
				* place */
	size_t nsince;
	size_t cap_review, cap_left, cap_since; /* the arrays' capacities:
						 * the library's, not read */
} chs_merge_result;

void chs_merge_result_dispose(chs_merge_result *r);

/* Merge OTHER into KEEP: every live record of OTHER (visits, notes,
 * medications, allergies, problems, attachments and their companions;
 * access events and confirmations stay where they are) moves to KEEP;
 * OTHER's values fill KEEP's empty fields; where both hold a value and
 * the values differ, both go to review on KEEP (two concurrent changes,
 * KEEP's and OTHER's, settled with 'chartsync review resolve'); OTHER
 * becomes a tombstone pointing at KEEP. `note` may be NULL.
 * Merging a pair already merged so moves what has reached OTHER since.
 * When two archivists merged the pair two ways (its verdict is under
 * review), this settles it the way given: KEEP's own records, moved to
 * OTHER by the other way's merge, come back as an unmerge of that way
 * (and are not this merge's to undo). When OTHER was merged into two
 * patients at two sites (its merged_into under review), this settles it
 * on KEEP: the pointer, and each record whose patient link the two
 * merges put under review between the keepers (counted as moved); each
 * other keeper's verdict on OTHER is "open" again. CHS_EINVALID for KEEP ==
 * OTHER, a record that is not a patient, or a removed one, or a `note`
 * that is not one line of text of at most 1000 characters; CHS_EEXISTS
 * when the pair is marked "not the same person", or either was merged
 * into a third patient (the message names it). `out` may be NULL. */
int chs_patient_merge(chs_store *s, const char *keep, const char *other,
		      const char *note, chs_merge_result *out);
/* Undo a merge of OTHER into KEEP: the records the merge (and any
 * placement since) moved go back to OTHER, except those removed or moved
 * elsewhere since (listed in `left`); records added to KEEP since stay
 * and are listed in `since`; OTHER is a patient again; the verdict goes
 * back to "open". KEEP's fields keep their values. CHS_EINVALID when
 * OTHER is not merged into KEEP. `out` may be NULL. */
int chs_patient_unmerge(chs_store *s, const char *keep, const char *other,
			chs_merge_result *out);
/* Mark A and B "not the same person" (or, with `clear`, take the mark
 * back): the report never pairs them again, at any site the mark
 * reaches. CHS_EEXISTS when the pair is merged (unmerge it first).
 * `note` may be NULL. */
int chs_patient_distinct(chs_store *s, const char *a, const char *b, const char *note,
			 int clear);

/* ---------------------------------------------------------------------
 * Placing at sync (client/identity/place.c)
 *
 * After a pull: the live records this device made on a patient that is
 * now merged (a visit entered offline while the archive merged its
 * chart) move to the patient the merge kept (following merges of merges),
 * in one save by the sync itself (a service user's too), with a
 * patient_merge record of act "place" per hop of the chain (OTHER into
 * KEEP, KEEP into a third, ...), so unmerging each pair from the end of
 * the chain brings the record back hop by hop. A record that cannot be
 * placed (its patient link under review, or the merged patients point at
 * each other while two archivists' verdicts are under review) stays and
 * is counted in `*left`; settling the verdict ('chartsync patient merge')
 * moves it. Only this device's records: each store places its own, so
 * no two sites write the same move. `placed`, `left` may be NULL. */
int chs_identity_place(chs_store *s, size_t *placed, size_t *left);

#endif /* CHS_CLIENT_IDENTITY_IDENTITY_H */
