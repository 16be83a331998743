/*
 * client/billing/billing_int.h - shared by the files of client/billing/ only.
 */
#ifndef CHS_CLIENT_BILLING_BILLING_INT_H
#define CHS_CLIENT_BILLING_BILLING_INT_H

#include "client/billing/billing.h"
#include "client/records/writer.h"
#include "client/util/util.h"

/* ---- fees.c ---- */
/* The fee for `code` on `day` at `site` (see chs_coding_assign()). */
int chs_billing__fee_lookup(chs_store *s, const char *code, const char *day,
			    const char *site, int64_t *cents, int *found);

#endif /* CHS_CLIENT_BILLING_BILLING_INT_H */
