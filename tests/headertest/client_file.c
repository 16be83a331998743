/* client/util/file.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/util/file.h"

int chs_headertest_client_file(void);

int chs_headertest_client_file(void)
{
	return 0;
}
