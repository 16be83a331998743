/* sync/sync.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "sync/sync.h"

int chs_headertest_sync(void);

int chs_headertest_sync(void)
{
	return 0;
}
