/* client/bench/bench.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "client/bench/bench.h"

int chs_headertest_client_bench(void);

int chs_headertest_client_bench(void)
{
	return 0;
}
