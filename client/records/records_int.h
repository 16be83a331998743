/*
 * client/records/records_int.h - shared by the files of client/records/ only.
 */
#ifndef CHS_CLIENT_RECORDS_RECORDS_INT_H
#define CHS_CLIENT_RECORDS_RECORDS_INT_H

#include "client/records/records.h"
#include "client/records/views.h"
#include "client/records/writer.h"
#include "client/records/apply.h"
#include "client/util/util.h"

/* ---- record.c ---- */
/* A record from its merge (a lookup); `id_hex` is its full id. */
int chs_records__record_from_merged(chs_record **out, const char *id_hex,
				    const chs_merged *m);
/* A record from its stored row (a list): the state is the canonical JSON
 * chs_merge() wrote, `heads` the row's concatenated change ids.
 * CHS_EDAMAGED when the state cannot be read. */
int chs_records__record_from_row(chs_record **out, const unsigned char id[16],
				 const char *type, int deleted, int review,
				 const unsigned char *heads, size_t heads_len,
				 const char *state, size_t state_len);
/* Set field `name` of `r` to `value` (canonical JSON, copied), or take it
 * away with NULL; either way it is no longer under review there. */
int chs_records__record_put_field(chs_record *r, const char *name, const char *value);
/* Record who confirmed `r`'s current version (copied; note may be NULL). */
int chs_records__record_confirmed(chs_record *r, const char *by, const char *terminal,
				  const char *time, const char *note,
				  const char *change, const char *confirmation);
/* Record when and by whom `r`'s last change was made (copied). */
int chs_records__record_changed(chs_record *r, const char *time, const char *user);
int chs_records__record_list_new(chs_record_list **out);
/* Append `r`, which the list then owns; on failure (CHS_ENOMEM) it stays
 * the caller's. */
int chs_records__record_list_add(chs_record_list *l, chs_record *r);
/* The history of a merge, which takes the changes (`m` points into them)
 * whether it succeeds or not; `m` may be freed afterwards. */
int chs_records__history_from_merged(chs_history **out, const chs_merged *m,
				     chs_change **changes, size_t n);

/* `r` as this store shows it: with its clinical companion's fields where
 * the store reads them, without any field a companion keeps where not. */
int chs_records__clinical_record(chs_store *s, chs_record *r);

/* ---- confirm.c ---- */
/* Fill in who confirmed `r`'s current version (chs_record_confirmed()),
 * read from the store; nothing when it waits. */
int chs_records__confirm_record(chs_store *s, chs_record *r);


/* ---- admit.c ---- */
/* Refuse (CHS_EDENIED, naming the device) a received batch that edits,
 * removes or re-creates an access event; inside the apply transaction,
 * before the batch's changes are stored. The store is asked once per
 * record: first_of[i] is the index of the first change in the batch of
 * change i's record (i itself for that first one). known[i] (one per
 * change) is set to whether the store held a change of change i's record. */
int chs_records__audit_admit(chs_store *s, const chs_batch *b, const size_t *first_of,
			     unsigned char *known);

#endif /* CHS_CLIENT_RECORDS_RECORDS_INT_H */
