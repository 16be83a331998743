/*
 * The traced chartsync's one addition to the real binary's sources: at
 * start, before main, record every SQL statement the process runs into
 * the file $CHARTSYNC_TEST_SQL_TRACE names (tests/support/sqltrace.h).
 * The product has no hook for this; test_plans.c runs this binary over
 * its workload and asks SQLite for each statement's plan.
 */
#include "support/sqltrace.h"

#include <stdio.h>
#include <stdlib.h>

__attribute__((constructor)) static void trace_from_start(void)
{
	const char *path = getenv(TU_SQLTRACE_ENV);

	if (path && *path && tu_sqltrace_start(path) < 0) {
		fprintf(stderr, "chartsync (traced): cannot record SQL into %s\n", path);
		exit(2);
	}
}
