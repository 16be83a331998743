/*
 * XChaCha20-Poly1305 with the sealed form nonce || ciphertext || tag, and
 * sealed envelopes (crypto_box_seal) to an X25519 key.
 */
#include "crypto_int.h"

#include <string.h>

_Static_assert(CHS_AEAD_NONCE_BYTES ==
	       crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(CHS_AEAD_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES,
	       "tag size");
_Static_assert(CHS_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	       "key size");
_Static_assert(CHS_SEAL_OVERHEAD == crypto_box_SEALBYTES, "seal overhead");

void chs_aead_seal(unsigned char *out, const void *msg, size_t len,
		   const void *ad, size_t adlen,
		   const unsigned char key[CHS_KEY_BYTES])
{
	unsigned char *nonce = out, *ct = out + CHS_AEAD_NONCE_BYTES;

	chs_random(nonce, CHS_AEAD_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
		ct, ct + len, NULL, msg, len, ad, adlen, NULL, nonce, key);
}

void chs_aead_seal_nonce(unsigned char *out, const void *msg, size_t len,
			 const void *ad, size_t adlen,
			 const unsigned char nonce[CHS_AEAD_NONCE_BYTES],
			 const unsigned char key[CHS_KEY_BYTES])
{
	unsigned char *ct = out + CHS_AEAD_NONCE_BYTES;

	memmove(out, nonce, CHS_AEAD_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
		ct, ct + len, NULL, msg, len, ad, adlen, NULL, out, key);
}

int chs_aead_open(unsigned char *out, const unsigned char *sealed, size_t len,
		  const void *ad, size_t adlen,
		  const unsigned char key[CHS_KEY_BYTES])
{
	size_t mlen;

	if (len < CHS_AEAD_OVERHEAD)
		return chs_error_set(CHS_EDAMAGED, "sealed data is truncated");
	mlen = len - CHS_AEAD_OVERHEAD;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
		    out, NULL, sealed + CHS_AEAD_NONCE_BYTES, mlen,
		    sealed + CHS_AEAD_NONCE_BYTES + mlen, ad, adlen,
		    sealed, key) != 0)
		return chs_error_set(CHS_EDAMAGED,
				     "encrypted data does not verify");
	return 0;
}

int chs_seal(unsigned char *out, const void *msg, size_t len,
	     const unsigned char x25519_pk[32])
{
	if (crypto_box_seal(out, msg, len, x25519_pk) != 0)
		return chs_error_set(CHS_EINVALID,
				     "cannot seal to this device key");
	return 0;
}
