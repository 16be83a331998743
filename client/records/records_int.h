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

/* ---- confirm.c ---- */
/* Add "confirmed" (chs_record_confirmation()) to a record's JSON from
 * chs_record_show(), replacing `*json`. */
int chs_client__confirm_annotate(chs_store *s, char **json);


/* ---- admit.c ---- */
/* Refuse (CHS_EDENIED, naming the device) a received batch that edits,
 * removes or re-creates an access event; inside the apply transaction,
 * before the batch's changes are stored. known[i] (one per change) is set
 * to whether the store held a change of change i's record. */
int chs_client__audit_admit(chs_store *s, const chs_batch *b, unsigned char *known);

#endif /* CHS_CLIENT_RECORDS_RECORDS_INT_H */
