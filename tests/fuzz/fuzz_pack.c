/*
 * Fuzz target: a batch commit's sealed compartment file after it
 * decrypts (sync/pack.c): the length the body states, the body
 * decompressed (Zstandard, or zlib in version 2 files), and the changes
 * framed in it, checked against a signed manifest. The key is the
 * target's own, so the fuzzer's bytes get past the seal: the target seals
 * them as pack.c's header comment describes and unpacks the files through
 * chs_batch_unpack(), the way a sync reads them. Never crash or leak;
 * a batch read whole verifies the slow way too.
 *
 * Input: flags (1 byte), the manifest's length (u32, big-endian), the
 * manifest, its 64-byte signature, then the body. Flags: bit 0, the
 * clinical file (else billing); bit 1, a version 2 (zlib) file (else
 * version 3, Zstandard); bit 2, the body is the decrypted file as it is
 * (stated length, compressed changes), else it is the changes' framing
 * (u32 length and encoding, each), which the target compresses.
 */
#include "sync/sync.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AD_TAG "chartsync-compartment-v" /* then the version digit */
#define AD_LEN (sizeof(AD_TAG) - 1 + 6 + CHS_HASH_BYTES)
#define HEAD 10 /* "CHSC", version, compartment, generation */
#define GEN 1u

static const unsigned char the_key[CHS_KEY_BYTES] = { 0x42, 0x42, 0x42, 0x42, 0x42 };

static int key_of(int compartment, uint32_t gen, unsigned char *key, void *payload)
{
	(void)compartment;
	(void)gen;
	(void)payload;
	memcpy(key, the_key, CHS_KEY_BYTES);
	return 0;
}

static uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_u32(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* What the file decrypts to: the body as it is, or the framing with its
 * length in front, compressed. NULL when the target cannot. */
static unsigned char *decrypted(const uint8_t *body, size_t len, int flags, size_t *zlen)
{
	size_t cap = 4 + (flags & 2 ? (size_t)compressBound((uLong)len) : ZSTD_compressBound(len));
	unsigned char *z = malloc(cap);

	if (!z)
		return NULL;
	if (flags & 4) {
		memcpy(z, body, len);
		*zlen = len;
		return z;
	}
	put_u32(z, len);
	if (flags & 2) {
		uLongf got = (uLongf)(cap - 4);

		if (compress2(z + 4, &got, body, (uLong)len, 1) != Z_OK)
			goto fail;
		*zlen = 4 + got;
	} else {
		size_t got = ZSTD_compress(z + 4, cap - 4, body, len, 1);

		if (ZSTD_isError(got))
			goto fail;
		*zlen = 4 + got;
	}
	return z;
fail:
	free(z);
	return NULL;
}

/* The sealed file, as pack.c writes it for batch `id`. */
static unsigned char *seal(const unsigned char *z, size_t zlen, int version, int comp,
			   const unsigned char id[CHS_HASH_BYTES], size_t *len)
{
	unsigned char ad[AD_LEN], *f = malloc(HEAD + zlen + CHS_AEAD_OVERHEAD);
	size_t t = sizeof(AD_TAG) - 1;

	if (!f)
		return NULL;
	memcpy(ad, AD_TAG, t);
	ad[t] = (unsigned char)('0' + version);
	ad[t + 1] = (unsigned char)comp;
	put_u32(ad + t + 2, GEN);
	memcpy(ad + t + 6, id, CHS_HASH_BYTES);
	memcpy(f, "CHSC", 4);
	f[4] = (unsigned char)version;
	f[5] = (unsigned char)comp;
	put_u32(f + 6, GEN);
	chs_aead_seal(f + HEAD, z, zlen, ad, sizeof(ad), the_key);
	*len = HEAD + zlen + CHS_AEAD_OVERHEAD;
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char manifest_name[] = "manifest", sig_name[] = "signature";
	static char *comp_names[CHS_NCOMPARTMENTS] = { "billing", "clinical" };
	chs_git_blob files[3];
	chs_batch *head = NULL, *b = NULL;
	unsigned char *z = NULL, *file = NULL;
	size_t mlen, zlen = 0, flen = 0;
	int flags, comp, complete = 0;

	if (chs_crypto_init() != 0 || size < 5)
		return 0;
	flags = data[0];
	mlen = get_u32(data + 1);
	if (mlen > size - 5 || size - 5 - mlen < CHS_SIGNATURE_BYTES)
		return 0;
	/* the batch id is the manifest's: the associated data names it */
	if (chs_batch_from_manifest(&head, (const char *)data + 5, mlen, data + 5 + mlen) != 0)
		return 0;
	comp = flags & 1 ? CHS_COMPARTMENT_CLINICAL : CHS_COMPARTMENT_BILLING;
	if (!(z = decrypted(data + 5 + mlen + CHS_SIGNATURE_BYTES,
			    size - 5 - mlen - CHS_SIGNATURE_BYTES, flags, &zlen)) ||
	    !(file = seal(z, zlen, flags & 2 ? 2 : 3, comp, head->id, &flen)))
		goto done;
	files[0].name = manifest_name;
	files[0].data = (unsigned char *)(uintptr_t)(data + 5);
	files[0].len = mlen;
	files[1].name = sig_name;
	files[1].data = (unsigned char *)(uintptr_t)(data + 5 + mlen);
	files[1].len = CHS_SIGNATURE_BYTES;
	files[2].name = comp_names[comp];
	files[2].data = file;
	files[2].len = flen;
	if (chs_batch_unpack(&b, files, 3, key_of, NULL, &complete) == 0) {
		/* the shortcut unpacking takes (ids from the decoded bytes) and
		 * the full check (every change encoded again) agree */
		if (complete && chs_batch_verify(b) != 0)
			abort();
		chs_batch_free(b);
	}
done:
	free(file);
	free(z);
	chs_batch_free(head);
	return 0;
}
