/*
 * Fuzz target: recovery kit and share texts as a technician types them
 * back (client/replicate/kit.c, chs_kit_check): the header lines, the
 * payload lines and their checks, the checksum, and the shares combined.
 * The input is the texts one after another, a NUL byte between two.
 * Never crash or leak; texts that make a kit make the same kit in the
 * other order.
 */
#include "client/replicate/replicate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TEXTS_MAX (CHS_SHARES_MAX + 1) /* one more than is read */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *texts[TEXTS_MAX], *back[TEXTS_MAX];
	char org[33], again[33];
	char *copy = malloc(size + 1);
	size_t i, n = 0;

	if (!copy || chs_crypto_init() != 0) {
		free(copy);
		return 0;
	}
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* the NUL bytes end the texts */
	texts[n++] = copy;
	for (i = 0; i < size && n < TEXTS_MAX; i++)
		if (copy[i] == '\0')
			texts[n++] = copy + i + 1;
	if (chs_kit_check(texts, n, org) == 0) {
		for (i = 0; i < n; i++)
			back[i] = texts[n - 1 - i];
		if (chs_kit_check(back, n, again) != 0 || strcmp(org, again) != 0)
			abort();
	}
	free(copy);
	return 0;
}
