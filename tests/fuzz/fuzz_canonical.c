/*
 * Fuzz target: canonical JSON. Canonicalising is idempotent: the
 * canonical form of a canonical text is that text.
 */
#include "sync/sync.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	chs_buf a, b;

	chs_buf_init(&a, 0);
	chs_buf_init(&b, 0);
	if (chs_canonical_json(&a, (const char *)data, size) == 0) {
		if (chs_canonical_json(&b, a.ptr, a.len) != 0 || a.len != b.len ||
		    memcmp(a.ptr, b.ptr, a.len) != 0)
			abort();
	}
	chs_buf_dispose(&a);
	chs_buf_dispose(&b);
	return 0;
}
