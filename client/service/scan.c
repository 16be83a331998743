/*
 * client/service/scan.c - taking one scanned file into the store.
 * (Being written: see service_int.h for the contract.)
 */
#include "service_int.h"

#include <stdio.h>
#include <string.h>

void chs_service__scan_take(chs_store *s, const char *folder, const char *name, int keep,
			    chs_scan_outcome *out)
{
	(void)s; (void)folder; (void)keep;
	memset(out, 0, sizeof(*out));
	out->status = CHS_ERROR;
	snprintf(out->reason, sizeof(out->reason), "scans are not taken yet (%s)", name);
}
