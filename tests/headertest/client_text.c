/* client/text/text.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/text/text.h"

int chs_headertest_client_text(void);

int chs_headertest_client_text(void)
{
	return 0;
}
