/* client/replicate/replicate.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/replicate/replicate.h"

int chs_headertest_client_replicate(void);

int chs_headertest_client_replicate(void)
{
	return 0;
}
