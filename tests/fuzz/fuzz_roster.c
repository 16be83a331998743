/*
 * Fuzz target: a roster fetched from the archive, before its signature is
 * known to be good. Never crash; anything that parses is canonical.
 */
#include "sync/sync.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char sig[CHS_SIGNATURE_BYTES];
	chs_roster *r = NULL;

	if (chs_crypto_init() != 0)
		return 0;
	/* the first 64 bytes, when there are enough, stand for the signature */
	memset(sig, 0, sizeof(sig));
	if (size >= sizeof(sig)) {
		memcpy(sig, data, sizeof(sig));
		data += sizeof(sig);
		size -= sizeof(sig);
	}
	if (chs_roster_parse(&r, (const char *)data, size, sig) == 0)
		chs_roster_free(r);
	return 0;
}
