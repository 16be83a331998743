/* client/chartsync.h compiles alone, with -pedantic (STYLE.md 15). */
#include "client/chartsync.h"

int chs_headertest_chartsync(void);

int chs_headertest_chartsync(void)
{
	return 0;
}
