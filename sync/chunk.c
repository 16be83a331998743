/*
 * Attachment chunks: the bytes of scans and other files, outside the
 * batches, as encrypted content-addressed files on each device's
 * refs/chartsync/blobs/<device id>.
 *
 * From the clinical data key K of generation g, three subkeys
 * (chs_key_derive): Kid ("chunk-id"), Kn ("chunk-nc") and Ke ("chunk-ek").
 *
 *   plaintext  the attachment's SHA-256 (32), its size (u64), this
 *              chunk's index (u32), then the chunk's bytes: all of
 *              CHS_CHUNK_BYTES but the last chunk's, which holds the rest
 *   chunk id   BLAKE2b-256 of the plaintext keyed with Kid; the file's
 *              name is its lowercase hex
 *   nonce      the first 24 bytes of BLAKE2b-256 of the chunk id keyed
 *              with Kn
 *   file       "CHSK", 1 (version), 1 (the clinical compartment), g (u32),
 *              then XChaCha20-Poly1305 under Ke: nonce || ciphertext || tag
 *   AD         "chartsync-chunk-v1", the compartment, g, the chunk id
 *
 * Integers are big-endian. The nonce is a keyed function of the whole
 * plaintext (a synthetic IV), so sealing is deterministic: the same chunk
 * under the same generation is the same file, which git stores once
 * however many devices send it, and a nonce never seals two different
 * plaintexts. The AD binds the name and the generation, so a file cannot
 * be renamed or passed off as another generation; the reader recomputes
 * the chunk id from what it decrypted and compares. Without K the archive
 * learns sizes only: how many chunks, and the last one's length. Keyed ids
 * mean that a guessed file cannot be confirmed from the names.
 *
 * A chunk says which attachment it belongs to, so no index file is
 * needed: a receiver puts chunk `index` of `sha256` in its place, and once
 * all are there checks the SHA-256 of the whole, which the signed
 * attachment record names.
 */
#include "sync_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK_MAGIC "CHSK"
#define CHUNK_VERSION 1
#define CHUNK_HEAD 10                    /* magic, version, compartment, generation */
#define PLAIN_HEAD (CHS_SHA256_BYTES + 8 + 4) /* sha256, size, index */
#define AD_TAG "chartsync-chunk-v1"
#define AD_LEN (sizeof(AD_TAG) - 1 + 5 + CHS_HASH_BYTES)

_Static_assert(CHS_CHUNK_SEALED_MAX == CHUNK_HEAD + PLAIN_HEAD + CHS_CHUNK_BYTES +
	       CHS_AEAD_OVERHEAD, "CHS_CHUNK_SEALED_MAX");

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
	int i;

	for (i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

uint64_t chs_chunk_count(uint64_t size)
{
	return (size + CHS_CHUNK_BYTES - 1) / CHS_CHUNK_BYTES;
}

/* The length chunk `index` of an attachment of `size` bytes must have; 0
 * when there is no such chunk. */
static size_t chunk_len(uint64_t size, uint32_t index)
{
	uint64_t at = (uint64_t)index * CHS_CHUNK_BYTES;

	if (size > CHS_ATTACHMENT_MAX_BYTES || at >= size)
		return 0;
	return size - at < CHS_CHUNK_BYTES ? (size_t)(size - at) : CHS_CHUNK_BYTES;
}

typedef struct subkeys {
	unsigned char id[CHS_KEY_BYTES], nonce[CHS_KEY_BYTES], enc[CHS_KEY_BYTES];
} subkeys;

static int subkeys_new(subkeys **out, const unsigned char *key)
{
	subkeys *k = chs_secret_alloc(sizeof(*k));

	if (!(*out = k))
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	chs_key_derive(k->id, key, 1, "chunk-id");
	chs_key_derive(k->nonce, key, 2, "chunk-nc");
	chs_key_derive(k->enc, key, 3, "chunk-ek");
	return 0;
}

static void make_ad(unsigned char ad[AD_LEN], uint32_t gen, const unsigned char id[32])
{
	size_t t = sizeof(AD_TAG) - 1;

	memcpy(ad, AD_TAG, t);
	ad[t] = CHS_COMPARTMENT_CLINICAL;
	put_be(ad + t + 1, gen, 4);
	memcpy(ad + t + 5, id, CHS_HASH_BYTES);
}

static void nonce_of(unsigned char nonce[CHS_AEAD_NONCE_BYTES], const subkeys *k,
		     const unsigned char id[CHS_HASH_BYTES])
{
	unsigned char h[CHS_HASH_BYTES];

	chs_hash_keyed(h, k->nonce, id, CHS_HASH_BYTES);
	memcpy(nonce, h, CHS_AEAD_NONCE_BYTES);
}

int chs_chunk_seal(unsigned char **out, size_t *len, char name[CHS_CHUNK_ID_HEX + 1],
		   const chs_chunk *c, const unsigned char key[CHS_KEY_BYTES], uint32_t gen)
{
	unsigned char id[CHS_HASH_BYTES], nonce[CHS_AEAD_NONCE_BYTES], ad[AD_LEN];
	unsigned char *plain = NULL, *file = NULL;
	subkeys *k = NULL;
	size_t plen = PLAIN_HEAD + c->len;
	int err;

	*out = NULL;
	*len = 0;
	if (c->len == 0 || chunk_len(c->size, c->index) != c->len || gen == 0)
		return chs_error_set(CHS_EINVALID, "not a chunk of its attachment");
	if ((err = subkeys_new(&k, key)) < 0)
		return err;
	plain = chs_malloc(plen);
	file = chs_malloc(CHUNK_HEAD + plen + CHS_AEAD_OVERHEAD);
	if (!plain || !file) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(plain, c->sha256, CHS_SHA256_BYTES);
	put_be(plain + CHS_SHA256_BYTES, c->size, 8);
	put_be(plain + CHS_SHA256_BYTES + 8, c->index, 4);
	memcpy(plain + PLAIN_HEAD, c->data, c->len);
	chs_hash_keyed(id, k->id, plain, plen);
	nonce_of(nonce, k, id);
	make_ad(ad, gen, id);
	memcpy(file, CHUNK_MAGIC, 4);
	file[4] = CHUNK_VERSION;
	file[5] = CHS_COMPARTMENT_CLINICAL;
	put_be(file + 6, gen, 4);
	chs_aead_seal_nonce(file + CHUNK_HEAD, plain, plen, ad, sizeof(ad), nonce, k->enc);
	chs_hex(name, id, CHS_HASH_BYTES);
	*out = file;
	*len = CHUNK_HEAD + plen + CHS_AEAD_OVERHEAD;
	file = NULL;
done:
	if (plain)
		chs_wipe(plain, plen);
	free(plain);
	free(file);
	chs_secret_free(k);
	return err;
}

int chs_chunk_check_form(const char *name, const unsigned char *data, size_t len,
			 uint32_t max_gen)
{
	uint32_t gen;

	if (!chs_sync__is_hex(name, CHS_CHUNK_ID_HEX))
		return chs_error_set(CHS_EDAMAGED, "'%.80s' is not the name of an attachment chunk",
				     name);
	if (len < CHUNK_HEAD + PLAIN_HEAD + 1 + CHS_AEAD_OVERHEAD || len > CHS_CHUNK_SEALED_MAX)
		return chs_error_set(CHS_EDAMAGED, "attachment chunk %.12s has an impossible size"
				     " (%zu bytes)", name, len);
	if (memcmp(data, CHUNK_MAGIC, 4) != 0 || data[4] != CHUNK_VERSION ||
	    data[5] != CHS_COMPARTMENT_CLINICAL)
		return chs_error_set(CHS_EDAMAGED, "attachment chunk %.12s is malformed", name);
	gen = (uint32_t)get_be(data + 6, 4);
	if (gen == 0 || gen > max_gen)
		return chs_error_set(CHS_EDAMAGED, "attachment chunk %.12s names key generation %u,"
				     " which the roster does not have", name, (unsigned)gen);
	return 0;
}

/* The plaintext's header into `c`, checked against the chunk's length. */
static int read_plain(chs_chunk *c, const unsigned char *plain, size_t plen, const char *name)
{
	memcpy(c->sha256, plain, CHS_SHA256_BYTES);
	c->size = get_be(plain + CHS_SHA256_BYTES, 8);
	c->index = (uint32_t)get_be(plain + CHS_SHA256_BYTES + 8, 4);
	c->data = plain + PLAIN_HEAD;
	c->len = plen - PLAIN_HEAD;
	if (chunk_len(c->size, c->index) != c->len)
		return chs_error_set(CHS_EDAMAGED, "attachment chunk %.12s does not fit its"
				     " attachment", name);
	return 0;
}

int chs_chunk_open(chs_chunk *c, unsigned char **plain, const char *name,
		   const unsigned char *data, size_t len, chs_key_fn key_of, void *payload)
{
	unsigned char id[CHS_HASH_BYTES], again[CHS_HASH_BYTES], ad[AD_LEN];
	unsigned char *key = NULL, *p = NULL;
	subkeys *k = NULL;
	size_t plen;
	uint32_t gen;
	int err;

	memset(c, 0, sizeof(*c));
	*plain = NULL;
	if ((err = chs_chunk_check_form(name, data, len, CHS_MAX_GENERATIONS)) < 0)
		return err;
	chs_unhex(id, sizeof(id), name);
	gen = (uint32_t)get_be(data + 6, 4);
	plen = len - CHUNK_HEAD - CHS_AEAD_OVERHEAD;
	if (!(key = chs_secret_alloc(CHS_KEY_BYTES)))
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	if ((err = key_of(CHS_COMPARTMENT_CLINICAL, gen, key, payload)) < 0 ||
	    (err = subkeys_new(&k, key)) < 0)
		goto done;
	if (!(p = chs_malloc(plen))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	make_ad(ad, gen, id);
	if (chs_aead_open(p, data + CHUNK_HEAD, len - CHUNK_HEAD, ad, sizeof(ad), k->enc) < 0) {
		err = chs_error_set(CHS_EDAMAGED, "attachment chunk %.12s does not decrypt", name);
		goto done;
	}
	chs_hash_keyed(again, k->id, p, plen);
	if (!chs_equal(again, id, sizeof(id))) {
		err = chs_error_set(CHS_EDAMAGED, "attachment chunk %.12s is not what its name says",
				    name);
		goto done;
	}
	if ((err = read_plain(c, p, plen, name)) == 0) {
		*plain = p;
		p = NULL;
	}
done:
	if (p) {
		chs_wipe(p, plen);
		free(p);
	}
	if (err < 0)
		memset(c, 0, sizeof(*c));
	chs_secret_free(k);
	chs_secret_free(key);
	return err;
}

int chs_chunks_accept(const chs_roster *r, const char device[33], const char *prev,
		      const chs_git_commit *c)
{
	const chs_roster_device *d = chs_roster_find(r, device);
	uint32_t gen = chs_roster_generation(r, CHS_COMPARTMENT_CLINICAL);
	size_t i;
	int err;

	if (!d)
		return chs_error_set(CHS_EDENIED, "device %s is not on the roster", device);
	if (!chs_role_reads(d->role, CHS_COMPARTMENT_CLINICAL))
		return chs_error_set(CHS_EDENIED, "device %s may not send attachments (its role"
				     " reads no clinical data)", device);
	if (!chs_equal(d->key, c->signer, CHS_SIGN_PK_BYTES))
		return chs_error_set(CHS_EDAMAGED, "attachment chunks of device %s are signed by"
				     " another key", device);
	if (*prev ? c->parents != 1 || strcmp(c->parent, prev) != 0 : c->parents != 0)
		return chs_error_set(CHS_EDAMAGED, "device %s's attachment chunks were rewritten"
				     " (not a single line of commits)", device);
	if (c->nentries == 0 || c->nentries > CHS_CHUNKS_PER_COMMIT_MAX)
		return chs_error_set(CHS_EDAMAGED, "a commit of device %s's attachment chunks holds"
				     " %zu files (1 to %d allowed)", device, c->nentries,
				     CHS_CHUNKS_PER_COMMIT_MAX);
	for (i = 0; i < c->nentries; i++)
		if ((err = chs_chunk_check_form(c->entries[i].name, c->entries[i].data,
						c->entries[i].len, gen)) < 0)
			return chs_error_wrap(err, "device %s", device);
	return 0;
}

int chs_chunks_commit(chs_git *g, const chs_git_entry *files, size_t n,
		      const chs_identity *id, char oid[41])
{
	char ref[sizeof(CHS_BLOB_REFS) + 33], device[33], msg[96];

	chs_identity_device_id(id, device);
	snprintf(ref, sizeof(ref), "%s%s", CHS_BLOB_REFS, device);
	snprintf(msg, sizeof(msg), "%zu attachment chunk%s of device %s\n", n,
		 n == 1 ? "" : "s", device);
	return chs_git_write_commit(g, ref, files, n, msg, id, (int64_t)time(NULL), oid);
}
