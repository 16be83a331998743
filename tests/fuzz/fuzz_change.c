/*
 * Fuzz target: decoding a change from untrusted bytes (what arrives by
 * sync). Whatever decodes must encode back to exactly the same bytes.
 */
#include "sync/sync.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	chs_change *c = NULL;
	chs_buf b;

	if (chs_change_decode(&c, data, size) != 0)
		return 0;
	chs_buf_init(&b, 0);
	if (chs_change_encode(c, &b) != 0 || b.len != size || memcmp(b.ptr, data, size) != 0)
		abort(); /* a decoded change must be canonical */
	chs_buf_dispose(&b);
	chs_change_free(c);
	return 0;
}
