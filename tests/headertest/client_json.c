/* client/json/json.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/json/json.h"

int chs_headertest_client_json(void);

int chs_headertest_client_json(void)
{
	return 0;
}
