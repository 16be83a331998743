/* client/reports/reports.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/reports/reports.h"

int chs_headertest_client_reports(void);

int chs_headertest_client_reports(void)
{
	return 0;
}
