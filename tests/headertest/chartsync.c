/* client/chartsync.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/chartsync.h"

int chs_headertest_chartsync(void);

int chs_headertest_chartsync(void)
{
	return 0;
}
