/*
 * client/records/apply.h - storing what arrives by sync: batches verified
 * elsewhere, planned off the store's thread and applied inside the
 * caller's transaction, and how far each device's chain is applied.
 */
#ifndef CHS_CLIENT_RECORDS_APPLY_H
#define CHS_CLIENT_RECORDS_APPLY_H

#include "client/store/db.h"

/* ---- replica.c ---- */
/* A stored batch, rebuilt with its changes in manifest order. */
int chs_records__load_batch(chs_store *s, const void *manifest, size_t len,
			    const unsigned char sig[CHS_SIGNATURE_BYTES], chs_batch **out);


/* ---- apply.c ---- */
/* What a received batch means, worked out without the store (so on any
 * thread): records' states and form problems. It points into the batch,
 * which must outlive it. */
typedef struct chs_batch_plan chs_batch_plan;
int chs_records__plan_batch(const chs_batch *b, chs_batch_plan **out);
void chs_records__plan_free(chs_batch_plan *p);
/* Store and merge a batch already verified (whole or the subset this
 * device reads), inside the caller's transaction; *applied = 0 when it
 * was held already. `plan`: the batch's, or NULL to make it here. A
 * batch the store refuses (CHS_EDENIED: it edits an access event) is
 * refused before any of it is written; any other failure may leave part
 * of it written, for the caller to roll back. */
int chs_records__apply_verified(chs_store *s, const chs_batch *b, const chs_batch_plan *plan,
				int *applied);
/* How far the chain of `device`'s batches is applied here (all zero:
 * nothing yet), and its new end, saved inside the caller's transaction. */
int chs_records__progress_load(chs_store *s, const char *device, chs_chain *chain);
int chs_records__progress_save(chs_store *s, const char *device, const chs_chain *chain);
/* The last batch of `device` applied here (0: none). */
int chs_records__progress_seq(chs_store *s, const char *device, int64_t *seq);

#endif /* CHS_CLIENT_RECORDS_APPLY_H */
