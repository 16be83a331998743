/*
 * tests/support/internal.h - the one door from the tests into what the
 * client modules offer each other but not the tools.
 *
 * Tests check the unaudited views (client/records/views.h) against what
 * the audited ones show, build batches through the writer, write access
 * events with chosen times, decode control-socket requests, and look at
 * the database itself. No tool may include these headers (the build
 * refuses); a test includes this file when it needs one of them, and
 * says why where it is not obvious.
 */
#ifndef CHS_TESTS_SUPPORT_INTERNAL_H
#define CHS_TESTS_SUPPORT_INTERNAL_H

#include "client/chartsync.h"
#include "client/store/db.h"
#include "client/records/views.h"
#include "client/records/writer.h"
#include "client/audit/event.h"
#include "client/service/proto.h"
#include "client/service/hotfolder.h"

#endif /* CHS_TESTS_SUPPORT_INTERNAL_H */
