/*
 * client/reports/report_int.h - shared by the files of client/reports/
 * only.
 */
#ifndef CHS_CLIENT_REPORTS_REPORT_INT_H
#define CHS_CLIENT_REPORTS_REPORT_INT_H

#include "client/reports/reports.h"
#include "client/audit/event.h"
#include "client/records/writer.h"
#include "client/util/util.h"

#include <jansson.h>

#define CHS_DAY_S 86400 /* seconds */

/* The text of field `name` in a record's `fields` object: NULL unless it
 * is a string holding something other than blanks. Borrowed. */
const char *chs_report__text(json_t *fields, const char *name);

/* Unix seconds of an ISO 8601 date or date-time (UTC unless it carries an
 * offset), or of a JSON integer (seconds, or milliseconds when larger
 * than 10^11); -1 when `v` is neither. */
int chs_report__time(json_t *v, int64_t *secs);

/* The state JSON of a records row, parsed; NULL if it does not parse. */
json_t *chs_report__state(sqlite3_stmt *st, int col);

/* The options in effect: `opts` or the defaults, `now` filled in. */
void chs_report__opts(chs_report_opts *o, const chs_report_opts *opts);

#endif
