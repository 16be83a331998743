/* client/desk/desk.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/desk/desk.h"

int chs_headertest_client_desk(void);

int chs_headertest_client_desk(void)
{
	return 0;
}
