/*
 * libsodium start-up, secret memory, randomness and key derivation.
 */
#include "crypto_int.h"

#include <string.h>

int chs_crypto_init(void)
{
	if (sodium_init() < 0)
		return chs_error_set(CHS_ERROR,
				     "cannot initialise the crypto library");
	return 0;
}

void *chs_secret_alloc(size_t len)
{
	void *p = sodium_malloc(len);

	if (p)
		sodium_memzero(p, len);
	return p;
}

void chs_secret_free(void *p)
{
	sodium_free(p); /* wipes; accepts NULL */
}

void chs_wipe(void *p, size_t len)
{
	if (p)
		sodium_memzero(p, len);
}

int chs_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

void chs_random(void *out, size_t len)
{
	randombytes_buf(out, len);
}

unsigned char *chs_key_new(void)
{
	unsigned char *k = chs_secret_alloc(CHS_KEY_BYTES);

	if (k)
		randombytes_buf(k, CHS_KEY_BYTES);
	return k;
}

void chs_key_derive(unsigned char out[CHS_KEY_BYTES],
		    const unsigned char master[CHS_KEY_BYTES], uint64_t id,
		    const char purpose[8])
{
	char ctx[crypto_kdf_CONTEXTBYTES];

	memcpy(ctx, purpose, sizeof(ctx));
	crypto_kdf_derive_from_key(out, CHS_KEY_BYTES, id, ctx, master);
}
