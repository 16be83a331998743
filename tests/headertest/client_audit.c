/* client/audit/audit.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/audit/audit.h"

int chs_headertest_client_audit(void);

int chs_headertest_client_audit(void)
{
	return 0;
}
