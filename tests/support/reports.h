/*
 * tests/support/reports.h - the reports and the roster as the CLI prints
 * them with --json: the typed result, then the edge formatter
 * (client/json/json.h), for the suites that read them as JSON.
 */
#ifndef CHS_TEST_REPORTS_H
#define CHS_TEST_REPORTS_H

#include "client/chartsync.h"

/* Each returns the report's error code (or the formatter's), with
 * `*json` malloc'ed on success (NULL otherwise). */
int tu_access_report_json(chs_store *s, const chs_access_filter *f, char **json);
int tu_consistency_json(chs_store *s, const chs_report_opts *o, char **json);
int tu_coding_json(chs_store *s, const chs_report_opts *o, char **json);
int tu_device_list_json(chs_store *s, char **json);

#endif
