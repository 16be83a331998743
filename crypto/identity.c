/*
 * Device identity: an Ed25519 signing key pair and its X25519 form, which
 * receives the data keys sealed to the device.
 */
#include "crypto_int.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(CHS_SIGN_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "pk size");
_Static_assert(CHS_SIGN_SK_BYTES == crypto_sign_SECRETKEYBYTES, "sk size");
_Static_assert(CHS_SIGNATURE_BYTES == crypto_sign_BYTES, "signature size");

struct chs_identity {
	unsigned char pk[CHS_SIGN_PK_BYTES];
	unsigned char box_pk[crypto_box_PUBLICKEYBYTES];
	unsigned char *sk;     /* secret memory, 64 bytes */
	unsigned char *box_sk; /* secret memory, 32 bytes */
};

static int identity_alloc(chs_identity **out)
{
	chs_identity *id = chs_calloc(1, sizeof(*id));

	if (!id)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	id->sk = chs_secret_alloc(CHS_SIGN_SK_BYTES);
	id->box_sk = chs_secret_alloc(crypto_box_SECRETKEYBYTES);
	if (!id->sk || !id->box_sk) {
		chs_identity_free(id);
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	}
	*out = id;
	return 0;
}

/* Fill the X25519 half from the Ed25519 half already in `id`. */
static int identity_derive_box(chs_identity *id)
{
	if (crypto_sign_ed25519_pk_to_curve25519(id->box_pk, id->pk) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(id->box_sk, id->sk) != 0)
		return chs_error_set(CHS_EDAMAGED, "the device key is not valid");
	return 0;
}

int chs_identity_new(chs_identity **out)
{
	chs_identity *id = NULL;
	int err;

	*out = NULL;
	if ((err = identity_alloc(&id)) < 0)
		return err;
	crypto_sign_keypair(id->pk, id->sk);
	if ((err = identity_derive_box(id)) < 0) {
		chs_identity_free(id);
		return err;
	}
	*out = id;
	return 0;
}

int chs_identity_from_secret(chs_identity **out,
			     const unsigned char sk[CHS_SIGN_SK_BYTES])
{
	unsigned char seed[crypto_sign_SEEDBYTES];
	chs_identity *id = NULL;
	int err;

	*out = NULL;
	if ((err = identity_alloc(&id)) < 0)
		return err;
	/* Rebuild the pair from the seed so a secret key whose stored public
	 * half was altered cannot produce a mismatched identity. */
	crypto_sign_ed25519_sk_to_seed(seed, sk);
	crypto_sign_seed_keypair(id->pk, id->sk, seed);
	sodium_memzero(seed, sizeof(seed));
	if (!chs_equal(id->sk, sk, CHS_SIGN_SK_BYTES)) {
		chs_identity_free(id);
		return chs_error_set(CHS_EDAMAGED, "the device key is damaged");
	}
	if ((err = identity_derive_box(id)) < 0) {
		chs_identity_free(id);
		return err;
	}
	*out = id;
	return 0;
}

void chs_identity_free(chs_identity *id)
{
	if (!id)
		return;
	chs_secret_free(id->sk);
	chs_secret_free(id->box_sk);
	free(id);
}

const unsigned char *chs_identity_public(const chs_identity *id)
{
	return id->pk;
}

const unsigned char *chs_identity_secret(const chs_identity *id)
{
	return id->sk;
}

void chs_device_id_of(const unsigned char pk[CHS_SIGN_PK_BYTES], char out[33])
{
	unsigned char h[CHS_DEVICE_ID_BYTES];

	crypto_generichash(h, sizeof(h), pk, CHS_SIGN_PK_BYTES, NULL, 0);
	chs_hex(out, h, sizeof(h));
}

void chs_identity_device_id(const chs_identity *id, char out[33])
{
	chs_device_id_of(id->pk, out);
}

void chs_identity_sign(const chs_identity *id,
		       unsigned char sig[CHS_SIGNATURE_BYTES],
		       const void *msg, size_t len)
{
	crypto_sign_detached(sig, NULL, msg, len, id->sk);
}

int chs_sign_verify(const unsigned char pk[CHS_SIGN_PK_BYTES],
		    const unsigned char sig[CHS_SIGNATURE_BYTES],
		    const void *msg, size_t len)
{
	if (crypto_sign_verify_detached(sig, msg, len, pk) != 0)
		return chs_error_set(CHS_EDAMAGED, "signature does not verify");
	return 0;
}

void chs_identity_box_public(const chs_identity *id, unsigned char out[32])
{
	memcpy(out, id->box_pk, crypto_box_PUBLICKEYBYTES);
}

int chs_sign_pk_to_box(unsigned char out[32],
		       const unsigned char pk[CHS_SIGN_PK_BYTES])
{
	if (crypto_sign_ed25519_pk_to_curve25519(out, pk) != 0)
		return chs_error_set(CHS_EINVALID, "not a valid device key");
	return 0;
}

int chs_identity_unseal(const chs_identity *id, unsigned char *out,
			const unsigned char *sealed, size_t len)
{
	if (len < CHS_SEAL_OVERHEAD ||
	    crypto_box_seal_open(out, sealed, len, id->box_pk, id->box_sk) != 0)
		return chs_error_set(CHS_EDAMAGED,
				     "sealed key is not for this device or was altered");
	return 0;
}
