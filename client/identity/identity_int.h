/*
 * client/identity/identity_int.h - shared by the files of client/identity/
 * only.
 */
#ifndef CHS_CLIENT_IDENTITY_IDENTITY_INT_H
#define CHS_CLIENT_IDENTITY_IDENTITY_INT_H

#include "client/identity/identity.h"
#include "client/records/writer.h"
#include "client/store/db.h"

/* ---- link.c: a pair of patients' verdict ---- */

#define CHS_VERDICT_MERGED "merged"
#define CHS_VERDICT_DISTINCT "distinct"
#define CHS_VERDICT_OPEN "open"

/* The patient_link record of a pair, as the store holds it. */
typedef struct chs_identity__link {
	unsigned char id[16];
	char hex[33];
	int found;        /* the store holds the pair's record (not removed) */
	int review;       /* its verdict is under review: decided two ways */
	char verdict[16]; /* provisional while under review; "" when !found */
	char keep[33];    /* verdict "merged": which way; "" otherwise */
	char other[33];
} chs_identity__link;

/* SQL: member `member` ("device", "hlc": text) of the create change of
 * the record whose id is the SQL expression `rec`, NULL while the store
 * lacks it. Who made a record, read in one place: by the duplicates
 * report (a patient's site), the unmerge (records added since the merge)
 * and the placement at sync (this device's records), without decoding a
 * record's changes. */
#define CHS_IDENTITY__CREATED(rec, member) \
	"(SELECT json_extract(CAST(c.body AS TEXT), '$." member "') FROM changes c" \
	" WHERE c.record = " rec \
	" AND json_extract(CAST(c.body AS TEXT), '$.op') = 'create' LIMIT 1)"

/* Whether this store's user may decide on charts (`what`: "merge
 * charts", for the message): an archivist's device, or an admin of a
 * store that reads clinical records (never a billing office's);
 * CHS_EDENIED otherwise, a service user's refusal for a service. */
int chs_identity__may_decide(chs_store *s, const char *what);
/* The pair's record id: the same whichever way round `a` and `b` come. */
void chs_identity__link_id(const unsigned char a[16], const unsigned char b[16],
			   unsigned char out[16]);
/* Read the pair's verdict (`out->found` 0 when it has none). */
int chs_identity__link_load(chs_store *s, const unsigned char a[16], const unsigned char b[16],
			    chs_identity__link *out);
/* Write the pair's verdict in save `w`: create its record, edit it, or,
 * when its verdict is under review, settle it (a resolve change whose
 * parents are all its heads). `l` is what chs_identity__link_load() read
 * in this save. `keep` and `other` (hex) go with verdict "merged" and
 * are NULL otherwise; `note` NULL leaves the note as it is. */
int chs_identity__link_put(chs_writer *w, const chs_identity__link *l,
			   const unsigned char a[16], const unsigned char b[16],
			   const char *verdict, const char *keep, const char *other,
			   const char *note);
/* Call `fn` for every pair whose verdict is "distinct" and not under
 * review, with the two patient ids (hex, in the record's sorted order);
 * a non-zero return from `fn` stops the walk and is returned. */
int chs_identity__distinct_pairs(chs_store *s,
				 int (*fn)(const char *a, const char *b, void *payload),
				 void *payload);

/* ---- merge.c: moving records between charts (calls link.c; place.c
 * calls it) ---- */

/* The acts a patient_merge record names. */
#define CHS_ACT_MERGE "merge"
#define CHS_ACT_UNMERGE "unmerge"
#define CHS_ACT_PLACE "place"

/* A list of record ids, hex. */
typedef struct chs_identity__ids {
	char (*hex)[33];
	size_t n, cap;
} chs_identity__ids;

int chs_identity__ids_add(chs_identity__ids *l, const char *hex);
int chs_identity__ids_has(const chs_identity__ids *l, const char *hex);
void chs_identity__ids_dispose(chs_identity__ids *l);
/* Why a record (its stored `state`) may not have its patient link
 * edited now, a static reason for a person; NULL when it may. */
const char *chs_identity__unmovable(const void *state, size_t len);
/* Move record `rec` of `type` to patient `to` (hex) in save `w`. */
int chs_identity__move(chs_writer *w, const unsigned char rec[16], const char *type,
		       const char *to);
/* Record act `act` ("merge", "unmerge", "place") on the pair in save `w`:
 * a new patient_merge record, its id in `hex`. `note` may be NULL. */
int chs_identity__act_put(chs_writer *w, const char *act, const char *keep, const char *other,
			  const chs_identity__ids *moved, const char *note, char hex[33]);

/* ---- duplicates.c, distinct.c: above link.c; they offer the other
 * files nothing ---- */

#endif /* CHS_CLIENT_IDENTITY_IDENTITY_INT_H */
