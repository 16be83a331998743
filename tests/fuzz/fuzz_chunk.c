/*
 * Fuzz target: an attachment chunk after it decrypts (sync/chunk.c): the
 * attachment's SHA-256, its size, the chunk's index and its bytes, which
 * must fit together. The key is the target's own: it seals the fuzzer's
 * bytes as chunk.c's header comment describes (subkeys, keyed id, nonce,
 * associated data) and opens the file through chs_chunk_open(), the way a
 * sync reads it. Never crash or leak; a chunk that opens seals again to
 * the same file and name. The bytes also go, as they are, through the
 * form check the archive's hook makes without a key.
 */
#include "sync/sync.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AD_TAG "chartsync-chunk-v1"
#define HEAD 10 /* "CHSK", version, compartment, generation */
#define GEN 3u

static const unsigned char the_key[CHS_KEY_BYTES] = { 0x17, 0x17, 0x17, 0x17 };

static int key_of(int compartment, uint32_t gen, unsigned char *key, void *payload)
{
	(void)compartment;
	(void)payload;
	if (gen != GEN)
		return chs_error_set(CHS_EDAMAGED, "no such generation");
	memcpy(key, the_key, CHS_KEY_BYTES);
	return 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* `plain` sealed as a chunk file, whatever it holds; its name into `name`. */
static unsigned char *seal(const uint8_t *plain, size_t plen, char name[CHS_CHUNK_ID_HEX + 1],
			   size_t *len)
{
	unsigned char kid[CHS_KEY_BYTES], kn[CHS_KEY_BYTES], ke[CHS_KEY_BYTES];
	unsigned char id[CHS_HASH_BYTES], h[CHS_HASH_BYTES];
	unsigned char ad[sizeof(AD_TAG) - 1 + 5 + CHS_HASH_BYTES];
	unsigned char *f = malloc(HEAD + plen + CHS_AEAD_OVERHEAD);
	size_t t = sizeof(AD_TAG) - 1;

	if (!f)
		return NULL;
	chs_key_derive(kid, the_key, 1, "chunk-id");
	chs_key_derive(kn, the_key, 2, "chunk-nc");
	chs_key_derive(ke, the_key, 3, "chunk-ek");
	chs_hash_keyed(id, kid, plain, plen);
	chs_hash_keyed(h, kn, id, sizeof(id));
	memcpy(ad, AD_TAG, t);
	ad[t] = CHS_COMPARTMENT_CLINICAL;
	put_u32(ad + t + 1, GEN);
	memcpy(ad + t + 5, id, sizeof(id));
	memcpy(f, "CHSK", 4);
	f[4] = 1;
	f[5] = CHS_COMPARTMENT_CLINICAL;
	put_u32(f + 6, GEN);
	chs_aead_seal_nonce(f + HEAD, plain, plen, ad, sizeof(ad), h, ke);
	chs_hex(name, id, sizeof(id));
	*len = HEAD + plen + CHS_AEAD_OVERHEAD;
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[CHS_CHUNK_ID_HEX + 1], again_name[CHS_CHUNK_ID_HEX + 1];
	unsigned char *file, *plain = NULL, *again = NULL;
	size_t len, again_len = 0;
	chs_chunk c;

	if (chs_crypto_init() != 0)
		return 0;
	(void)chs_chunk_check_form("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
				   data, size, GEN);
	if (!(file = seal(data, size, name, &len)))
		return 0;
	if (chs_chunk_open(&c, &plain, name, file, len, key_of, NULL) == 0) {
		if (chs_chunk_seal(&again, &again_len, again_name, &c, the_key, GEN) != 0 ||
		    again_len != len || memcmp(again, file, len) != 0 || strcmp(again_name, name) != 0)
			abort();
		free(again);
		free(plain);
	}
	free(file);
	return 0;
}
