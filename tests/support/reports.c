/*
 * The reports and the roster as JSON text, for the suites.
 */
#include "support/reports.h"

#include <stdlib.h>

int tu_access_report_json(chs_store *s, const chs_access_filter *f, char **json)
{
	chs_access_report *r = NULL;
	int err = chs_report_access(&r, s, f);

	*json = NULL;
	if (err == 0)
		err = chs_json_access_report(json, r);
	chs_access_report_free(r);
	return err;
}

int tu_consistency_json(chs_store *s, const chs_report_opts *o, char **json)
{
	chs_consistency_report *r = NULL;
	int err = chs_report_consistency(&r, s, o);

	*json = NULL;
	if (err == 0)
		err = chs_json_consistency_report(json, r);
	chs_consistency_report_free(r);
	return err;
}

int tu_coding_json(chs_store *s, const chs_report_opts *o, char **json)
{
	chs_coding_report *r = NULL;
	int err = chs_report_coding(&r, s, o);

	*json = NULL;
	if (err == 0)
		err = chs_json_coding_report(json, r);
	chs_coding_report_free(r);
	return err;
}

int tu_device_list_json(chs_store *s, char **json)
{
	chs_device_roster *r = NULL;
	int err = chs_device_list(&r, s);

	*json = NULL;
	if (err == 0)
		err = chs_json_device_roster(json, r);
	chs_device_roster_free(r);
	return err;
}
