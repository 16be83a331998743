/* crypto/crypto.h compiles alone, with -pedantic (ARCHITECTURE.md, "Checks"). */
#include "crypto/crypto.h"

int chs_headertest_crypto(void);

int chs_headertest_crypto(void)
{
	return 0;
}
