/* client/store/store.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/store/store.h"

int chs_headertest_client_store(void);

int chs_headertest_client_store(void)
{
	return 0;
}
