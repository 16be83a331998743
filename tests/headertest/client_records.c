/* client/records/records.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/records/records.h"

int chs_headertest_client_records(void);

int chs_headertest_client_records(void)
{
	return 0;
}
