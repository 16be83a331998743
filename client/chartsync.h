/*
 * client/chartsync.h - the clinic side of chartsync, as a C library.
 *
 * The chartsync command is a thin layer over these headers, so everything
 * it does can be tested in process. Each module of client/ offers its own
 * public header; this one gathers them for the tools.
 */
#ifndef CHS_CHARTSYNC_H
#define CHS_CHARTSYNC_H

#include "client/store/store.h"
#include "client/records/records.h"
#include "client/audit/audit.h"
#include "client/billing/billing.h"
#include "client/identity/identity.h"
#include "client/reports/reports.h"
#include "client/replicate/replicate.h"
#include "client/json/json.h"
#include "client/service/service.h"
#include "client/desk/desk.h"
#include "client/util/file.h"
#include "client/text/text.h"

#endif /* CHS_CHARTSYNC_H */
