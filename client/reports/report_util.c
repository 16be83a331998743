/*
 * Helpers shared by the reports and the exports: field text, dates as
 * day numbers and Unix seconds, the options in effect.
 */
#include "report_int.h"

#include <ctype.h>
#include <string.h>

const char *chs_report__text(json_t *fields, const char *name)
{
	const char *s = json_string_value(json_object_get(fields, name)), *p;

	if (!s)
		return NULL;
	for (p = s; *p; p++)
		if (!isspace((unsigned char)*p))
			return s;
	return NULL;
}

static int num(const char *s, int n)
{
	int i, v = 0;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Seconds into the day of "hh:mm[:ss[.f]]" and the offset that follows,
 * already checked by chs_schema_valid_date(). */
static int64_t time_of_day(const char *t)
{
	int64_t secs = num(t, 2) * 3600 + num(t + 3, 2) * 60;

	t += 5;
	if (*t == ':') {
		secs += num(t + 1, 2);
		t += 3;
		if (*t == '.')
			while (isdigit((unsigned char)*++t))
				;
	}
	if (*t == '+' || *t == '-') {
		int64_t off = num(t + 1, 2) * 3600 + num(t + 4, 2) * 60;

		secs += *t == '+' ? -off : off;
	}
	return secs;
}

int chs_report__time(json_t *v, int64_t *secs)
{
	const char *s = json_string_value(v);
	int64_t day;

	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		*secs = n > 100000000000LL ? n / 1000 : n;
		return 0;
	}
	if (chs_schema_day(s, &day) < 0)
		return -1;
	*secs = day * CHS_DAY_S + (s[10] == 'T' ? time_of_day(s + 11) : 0);
	return 0;
}

json_t *chs_report__state(sqlite3_stmt *st, int col)
{
	return json_loadb(sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col),
			  0, NULL);
}

void chs_report_opts_init(chs_report_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->review_days = CHS_REPORT_REVIEW_DAYS;
	o->confirm_days = CHS_REPORT_CONFIRM_DAYS;
}

void chs_report__opts(chs_report_opts *o, const chs_report_opts *opts)
{
	if (opts)
		*o = *opts;
	else
		chs_report_opts_init(o);
	if (!o->now)
		o->now = chs_util__now();
}
