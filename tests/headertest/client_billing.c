/* client/billing/billing.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/billing/billing.h"

int chs_headertest_client_billing(void);

int chs_headertest_client_billing(void)
{
	return 0;
}
