/*
 * BLAKE2b-256 and hex.
 */
#include "crypto_int.h"

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(chs_hash_state),
	       "chs_hash_state too small for libsodium's state");
_Static_assert(CHS_HASH_BYTES >= crypto_generichash_BYTES_MIN &&
	       CHS_HASH_BYTES <= crypto_generichash_BYTES_MAX, "hash size");

void chs_hash(unsigned char out[CHS_HASH_BYTES], const void *data, size_t len)
{
	crypto_generichash(out, CHS_HASH_BYTES, data, len, NULL, 0);
}

void chs_hash_init(chs_hash_state *st)
{
	crypto_generichash_init((crypto_generichash_state *)st->opaque, NULL, 0,
				CHS_HASH_BYTES);
}

void chs_hash_update(chs_hash_state *st, const void *data, size_t len)
{
	crypto_generichash_update((crypto_generichash_state *)st->opaque, data,
				  len);
}

void chs_hash_final(chs_hash_state *st, unsigned char out[CHS_HASH_BYTES])
{
	crypto_generichash_final((crypto_generichash_state *)st->opaque, out,
				 CHS_HASH_BYTES);
}

void chs_hash_keyed(unsigned char out[CHS_HASH_BYTES], const unsigned char key[CHS_KEY_BYTES],
		    const void *data, size_t len)
{
	crypto_generichash(out, CHS_HASH_BYTES, data, len, key, CHS_KEY_BYTES);
}

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(chs_sha256_state),
	       "chs_sha256_state too small for libsodium's state");

void chs_sha256_init(chs_sha256_state *st)
{
	crypto_hash_sha256_init((crypto_hash_sha256_state *)st->opaque);
}

void chs_sha256_update(chs_sha256_state *st, const void *data, size_t len)
{
	crypto_hash_sha256_update((crypto_hash_sha256_state *)st->opaque, data,
				  len);
}

void chs_sha256_final(chs_sha256_state *st, unsigned char out[CHS_SHA256_BYTES])
{
	crypto_hash_sha256_final((crypto_hash_sha256_state *)st->opaque, out);
}

void chs_hex(char *out, const void *bin, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = bin;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int chs_unhex(void *out, size_t len, const char *hex)
{
	unsigned char *o = out;
	size_t i;

	for (i = 0; i < len; i++) {
		int hi, lo;

		if (!hex[2 * i] || !hex[2 * i + 1])
			return CHS_EINVALID;
		hi = hexval(hex[2 * i]);
		lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CHS_EINVALID;
		o[i] = (unsigned char)(hi << 4 | lo);
	}
	return hex[2 * len] ? CHS_EINVALID : 0;
}
