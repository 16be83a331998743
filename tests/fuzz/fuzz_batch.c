/*
 * Fuzz target: decoding and verifying a batch from untrusted bytes (what
 * a sync fetches from the archive). Never crash; whatever decodes must
 * encode back to the same bytes.
 */
#include "sync/sync.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	chs_batch *b = NULL;
	chs_buf out;

	if (chs_crypto_init() != 0 || chs_batch_decode(&b, data, size) != 0)
		return 0;
	(void)chs_batch_verify(b);
	chs_buf_init(&out, 0);
	if (chs_batch_encode(b, &out) == 0 &&
	    (out.len != size || memcmp(out.ptr, data, size) != 0))
		abort();
	chs_buf_dispose(&out);
	chs_batch_free(b);
	return 0;
}
