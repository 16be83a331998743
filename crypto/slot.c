/*
 * Key slots: the store key wrapped under a key that Argon2id derives from
 * one user's passphrase. The slot's associated data names the store and
 * the user, so a slot renamed or moved to another store does not open, and
 * the KDF parameters travel with the slot so new slots can use stronger
 * ones while old slots keep working.
 *
 * Version 2 (crypto/crypto.h has why): the passphrase key wraps the
 * slot's X25519 secret key (associated data tagged "chartsync-slot-v2"),
 * and the store key is a sealed box to the slot's public key. Version 1
 * slots still open.
 */
#include "crypto_int.h"

#include <string.h>

#define SLOT_AD_TAG "chartsync-slot-v1"
#define SLOT_AD_TAG2 "chartsync-slot-v2"

_Static_assert(crypto_box_SECRETKEYBYTES == CHS_KEY_BYTES &&
		       crypto_box_PUBLICKEYBYTES == CHS_SLOT_BOX_BYTES &&
		       crypto_box_SEALBYTES == CHS_SEAL_OVERHEAD,
	       "a slot's secret key is wrapped like a store key");

void chs_kdf_params_default(chs_kdf_params *p)
{
	p->ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	p->mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
}

void chs_kdf_params_minimum(chs_kdf_params *p)
{
	p->ops = crypto_pwhash_OPSLIMIT_MIN;
	p->mem = crypto_pwhash_MEMLIMIT_MIN;
}

int chs_kdf_params_check(const chs_kdf_params *p)
{
	/* Cap memory at 4 GiB and passes at CHS_KDF_OPS_MAX: a slot file
	 * (a backup's, say) must not make us allocate whatever it likes, nor
	 * spend hours opening the store (libsodium allows 2^32 passes). */
	if (p->ops < crypto_pwhash_OPSLIMIT_MIN || p->ops > CHS_KDF_OPS_MAX ||
	    p->mem < crypto_pwhash_MEMLIMIT_MIN ||
	    p->mem > ((uint64_t)4 << 30))
		return chs_error_set(CHS_EINVALID,
				     "key slot has unusable passphrase settings");
	return 0;
}

/* AD = tag NUL store_id NUL user; both names are short, checked here. */
static int slot_ad(chs_buf *ad, int version, const char *store_id,
		   const char *user)
{
	const char *tag = version >= 2 ? SLOT_AD_TAG2 : SLOT_AD_TAG;
	int err;

	chs_buf_init(ad, 4096);
	if ((err = chs_buf_put(ad, tag, strlen(tag) + 1)) < 0 ||
	    (err = chs_buf_put(ad, store_id, strlen(store_id) + 1)) < 0 ||
	    (err = chs_buf_puts(ad, user)) < 0)
		return err;
	return 0;
}

static int slot_kek(unsigned char *kek, const chs_slot *slot,
		    const char *pass, size_t passlen)
{
	int err;

	if ((err = chs_kdf_params_check(&slot->kdf)) < 0)
		return err;
	if (crypto_pwhash(kek, CHS_KEY_BYTES, pass, passlen, slot->salt,
			  slot->kdf.ops, (size_t)slot->kdf.mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return chs_error_set(CHS_ENOMEM,
				     "not enough memory to check the passphrase");
	return 0;
}

int chs_slot_wrap(chs_slot *out, const unsigned char key[CHS_KEY_BYTES],
		  const char *store_id, const char *user,
		  const char *pass, size_t passlen, const chs_kdf_params *kdf)
{
	unsigned char *kek = NULL, *box_sk = NULL;
	chs_buf ad;
	int err;

	chs_buf_init(&ad, 0);
	memset(out, 0, sizeof(*out));
	out->kdf = *kdf;
	out->version = 2;
	randombytes_buf(out->salt, sizeof(out->salt));
	if (!(kek = chs_secret_alloc(CHS_KEY_BYTES)) ||
	    !(box_sk = chs_secret_alloc(crypto_box_SECRETKEYBYTES))) {
		err = chs_error_set(CHS_ENOMEM, "out of secure memory");
		goto done;
	}
	if ((err = slot_ad(&ad, out->version, store_id, user)) < 0 ||
	    (err = slot_kek(kek, out, pass, passlen)) < 0)
		goto done;
	crypto_box_keypair(out->box_pk, box_sk);
	chs_aead_seal(out->wrapped, box_sk, CHS_KEY_BYTES, ad.ptr, ad.len, kek);
	err = chs_slot_rewrap(out, key);
done:
	chs_secret_free(box_sk);
	chs_secret_free(kek);
	chs_buf_dispose(&ad);
	return err;
}

int chs_slot_rewrap(chs_slot *slot, const unsigned char key[CHS_KEY_BYTES])
{
	CHS_ASSERT_ARG(slot);
	CHS_ASSERT_ARG(key);

	if (slot->version < 2)
		return chs_error_set(CHS_EINVALID, "a version 1 key slot cannot "
						   "be re-wrapped without its passphrase");
	return chs_seal(slot->sealed, key, CHS_KEY_BYTES, slot->box_pk);
}

/* Version 2: `opened` is the slot's secret key; open the sealed store key. */
static int open_sealed(unsigned char key[CHS_KEY_BYTES], const chs_slot *slot,
		       const unsigned char *box_sk)
{
	if (crypto_box_seal_open(key, slot->sealed, sizeof(slot->sealed),
				 slot->box_pk, box_sk) != 0)
		return chs_error_set(CHS_EAUTH, "wrong user or passphrase");
	return 0;
}

int chs_slot_unwrap(unsigned char key[CHS_KEY_BYTES], const chs_slot *slot,
		    const char *store_id, const char *user,
		    const char *pass, size_t passlen)
{
	unsigned char *kek = NULL, *opened = NULL;
	chs_buf ad;
	int err;

	chs_buf_init(&ad, 0);
	if (!(kek = chs_secret_alloc(CHS_KEY_BYTES)) ||
	    !(opened = chs_secret_alloc(CHS_KEY_BYTES))) {
		err = chs_error_set(CHS_ENOMEM, "out of secure memory");
		goto done;
	}
	if ((err = slot_ad(&ad, slot->version, store_id, user)) < 0 ||
	    (err = slot_kek(kek, slot, pass, passlen)) < 0)
		goto done;
	if (chs_aead_open(opened, slot->wrapped, sizeof(slot->wrapped), ad.ptr,
			  ad.len, kek) < 0)
		err = chs_error_set(CHS_EAUTH, "wrong user or passphrase");
	else if (slot->version >= 2)
		err = open_sealed(key, slot, opened);
	else
		memcpy(key, opened, CHS_KEY_BYTES);
done:
	chs_secret_free(opened);
	chs_secret_free(kek);
	chs_buf_dispose(&ad);
	return err;
}
