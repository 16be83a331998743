/*
 * Fuzz target: a batch manifest on its own (chs_batch_from_manifest), as
 * a batch commit's "manifest" file arrives from the archive, and the ids
 * it lists. The parser has a fast path for the form chartsync writes and
 * falls back to a JSON parse; either way what it accepts is canonical
 * JSON, so canonicalising an accepted manifest gives it back unchanged.
 * The first 64 bytes, when there are enough, stand for the signature.
 */
#include "sync/sync.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char sig[CHS_SIGNATURE_BYTES];
	unsigned char (*ids)[CHS_CHANGE_ID_BYTES] = NULL;
	chs_batch *b = NULL;
	size_t n = 0;
	chs_buf canon;

	if (chs_crypto_init() != 0)
		return 0;
	memset(sig, 0, sizeof(sig));
	if (size >= sizeof(sig)) {
		memcpy(sig, data, sizeof(sig));
		data += sizeof(sig);
		size -= sizeof(sig);
	}
	if (chs_batch_from_manifest(&b, (const char *)data, size, sig) != 0)
		return 0;
	chs_buf_init(&canon, 0);
	if (chs_canonical_json(&canon, (const char *)data, size) != 0 || canon.len != size ||
	    memcmp(canon.ptr, data, size) != 0)
		abort(); /* accepted, yet not canonical */
	if (chs_batch_manifest_ids(b, &ids, &n) != 0)
		abort(); /* parsed once, so it parses again */
	(void)chs_batch_verify(b);
	free(ids);
	chs_buf_dispose(&canon);
	chs_batch_free(b);
	return 0;
}
