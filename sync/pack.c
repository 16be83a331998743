/*
 * A batch as the files of its git commit: the signed manifest in the
 * clear, and the changes of each compartment sealed under that
 * compartment's data key, so the archive holds ciphertext only and a
 * billing office can read the billing changes and nothing clinical.
 *
 *   manifest    the manifest, as signed (canonical JSON)
 *   signature   the device's 64-byte Ed25519 signature over it
 *   billing     sealed billing changes, when the batch has any
 *   clinical    sealed clinical changes, when the batch has any
 *
 * A sealed file: "CHSC", the version (1 byte: 3, or 2 in files written
 * before), the compartment (1 byte), the key generation (u32, big-endian),
 * then XChaCha20-Poly1305 nonce || ciphertext || tag. The plaintext is the
 * length (u32) of the changes' encodings, each preceded by its length
 * (u32), in manifest order, then those encodings compressed: with
 * Zstandard (RFC 8878) in version 3, with zlib (RFC 1950) in version 2.
 * The associated data is "chartsync-compartment-v" and the version digit,
 * the compartment, the generation and the batch id (the BLAKE2b-256 of the
 * manifest), so a sealed file cannot be moved to another batch or
 * compartment or passed off as another generation or version.
 *
 * Why compress: git deflates every object it stores or sends, and
 * ciphertext does not shrink, so the size of these files is what a push,
 * a fetch and the archive pay for. Changes are JSON with the same keys
 * over and over. Why Zstandard: at its fastest level it compresses them
 * about three times as fast as zlib's fastest, a third smaller again, and
 * every later step (sealing, packing, git's own deflating, the network,
 * the archive's checks, a pull) then handles fewer bytes. The length
 * stated up front bounds the decompressing (nothing grows past it).
 */
#include "sync_int.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define SEALED_MAGIC "CHSC"
#define SEALED_VERSION 3     /* written */
#define SEALED_VERSION_ZLIB 2 /* still read */
#define SEALED_MAX ((size_t)64 << 20) /* plaintext of one compartment file */
#define SEALED_HEAD 10 /* magic, version, compartment, generation */
#define AD_TAG "chartsync-compartment-v" /* and the version digit */
#define ZSTD_LEVEL 1 /* time spent on ciphertext-bound bytes matters more
		      * than the last percent */

static const char *const file_names[CHS_NCOMPARTMENTS] = { "billing", "clinical" };

static void make_ad(unsigned char *ad, int version, int comp, uint32_t gen,
		    const unsigned char id[32])
{
	size_t t = sizeof(AD_TAG) - 1;

	memcpy(ad, AD_TAG, t);
	ad[t] = (unsigned char)('0' + version);
	ad[t + 1] = (unsigned char)comp;
	ad[t + 2] = (unsigned char)(gen >> 24);
	ad[t + 3] = (unsigned char)(gen >> 16);
	ad[t + 4] = (unsigned char)(gen >> 8);
	ad[t + 5] = (unsigned char)gen;
	memcpy(ad + t + 6, id, 32);
}

#define AD_LEN (sizeof(AD_TAG) - 1 + 6 + 32)

static int put_u32(chs_buf *b, size_t v)
{
	unsigned char n[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	return chs_buf_put(b, n, 4);
}

static uint32_t get_u32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The plaintext of compartment c: its changes' encodings, length-prefixed. */
static int gather(chs_buf *plain, const chs_encoded *enc, size_t n, const int *comp, int c,
		  size_t *count)
{
	size_t i;
	int err = 0;

	*count = 0;
	for (i = 0; i < n && !err; i++) {
		if (comp[i] != c)
			continue;
		if ((err = put_u32(plain, enc[i].len)) == 0 &&
		    (err = chs_buf_put(plain, enc[i].data, enc[i].len)) == 0)
			(*count)++;
	}
	return err;
}

/* The plaintext length, then the plaintext compressed: what is sealed. */
static int compress_plain(const chs_buf *plain, unsigned char **out, size_t *len)
{
	size_t room = ZSTD_compressBound(plain->len), got;
	unsigned char *z;

	if (plain->len > SEALED_MAX)
		return chs_error_set(CHS_EINVALID, "a batch is too large to send");
	if (!(z = chs_secret_alloc(4 + room)))
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	z[0] = (unsigned char)(plain->len >> 24);
	z[1] = (unsigned char)(plain->len >> 16);
	z[2] = (unsigned char)(plain->len >> 8);
	z[3] = (unsigned char)plain->len;
	got = ZSTD_compress(z + 4, room, plain->ptr, plain->len, ZSTD_LEVEL);
	if (ZSTD_isError(got)) {
		chs_secret_free(z);
		return chs_error_set(CHS_ENOMEM, "cannot compress a batch: %s",
				     ZSTD_getErrorName(got));
	}
	*out = z;
	*len = 4 + got;
	return 0;
}

static int seal_file(chs_packed *p, const chs_batch *b, int c, const chs_buf *plain,
		     const unsigned char *key, uint32_t gen)
{
	unsigned char ad[AD_LEN], *z = NULL, *out;
	size_t zlen = 0, len;
	int err;

	if ((err = compress_plain(plain, &z, &zlen)) < 0)
		return err;
	len = SEALED_HEAD + zlen + CHS_AEAD_OVERHEAD;
	if (!(out = chs_malloc(len))) {
		chs_secret_free(z);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	memcpy(out, SEALED_MAGIC, 4);
	out[4] = SEALED_VERSION;
	out[5] = (unsigned char)c;
	out[6] = (unsigned char)(gen >> 24);
	out[7] = (unsigned char)(gen >> 16);
	out[8] = (unsigned char)(gen >> 8);
	out[9] = (unsigned char)gen;
	make_ad(ad, SEALED_VERSION, c, gen, b->id);
	chs_aead_seal(out + SEALED_HEAD, z, zlen, ad, sizeof(ad), key);
	chs_secret_free(z);
	p->owned[p->n] = out;
	p->files[p->n].name = file_names[c];
	p->files[p->n].data = out;
	p->files[p->n].len = len;
	p->n++;
	return 0;
}

int chs_batch_pack_encoded(chs_packed *p, const chs_batch *b, const chs_encoded *enc,
			   size_t n, const int *comp,
			   const unsigned char *const keys[CHS_NCOMPARTMENTS],
			   const uint32_t gens[CHS_NCOMPARTMENTS])
{
	unsigned char (*ids)[CHS_CHANGE_ID_BYTES] = NULL;
	size_t nids = 0;
	int err;

	memset(p, 0, sizeof(*p));
	if ((err = chs_batch_manifest_ids(b, &ids, &nids)) < 0)
		return err;
	err = chs_batch_pack_listed(p, b, (const unsigned char (*)[CHS_CHANGE_ID_BYTES])ids,
				    nids, enc, n, comp, keys, gens);
	free(ids);
	return err;
}

int chs_batch_pack_listed(chs_packed *p, const chs_batch *b,
			  const unsigned char (*ids)[CHS_CHANGE_ID_BYTES], size_t nids,
			  const chs_encoded *enc, size_t n, const int *comp,
			  const unsigned char *const keys[CHS_NCOMPARTMENTS],
			  const uint32_t gens[CHS_NCOMPARTMENTS])
{
	unsigned char id[CHS_CHANGE_ID_BYTES];
	chs_buf plain;
	size_t count, i;
	int c, err = 0;

	memset(p, 0, sizeof(*p));
	/* what goes out is what the manifest signs, in its order: a damaged
	 * store must not send batches every other store would refuse */
	if (nids != n)
		err = chs_error_set(CHS_EDAMAGED, "a stored batch lacks some of its changes");
	for (i = 0; i < n && !err; i++) {
		chs_hash(id, enc[i].data, enc[i].len);
		if (!chs_equal(id, ids[i], sizeof(id)))
			err = chs_error_set(CHS_EDAMAGED, "a stored change does not match its batch");
	}
	if (err < 0)
		return err;
	p->nchanges = nids;
	p->files[0].name = "manifest";
	p->files[0].data = b->manifest;
	p->files[0].len = b->manifest_len;
	p->files[1].name = "signature";
	p->files[1].data = b->signature;
	p->files[1].len = CHS_SIGNATURE_BYTES;
	p->n = 2;
	for (c = 0; c < CHS_NCOMPARTMENTS && !err; c++) {
		chs_buf_init(&plain, 0);
		if ((err = gather(&plain, enc, n, comp, c, &count)) == 0 && count > 0) {
			if (!keys[c])
				err = chs_error_set(CHS_EINVALID, "no %s key to seal the batch with",
						    file_names[c]);
			else
				err = seal_file(p, b, c, &plain, keys[c], gens[c]);
		}
		chs_wipe(plain.ptr, plain.len);
		chs_buf_dispose(&plain);
	}
	if (err < 0)
		chs_packed_dispose(p);
	return err;
}

int chs_batch_pack(chs_packed *p, const chs_batch *b, const int *comp,
		   const unsigned char *const keys[CHS_NCOMPARTMENTS],
		   const uint32_t gens[CHS_NCOMPARTMENTS])
{
	chs_encoded *enc = chs_calloc(b->nchanges + 1, sizeof(*enc));
	chs_buf *bufs = chs_calloc(b->nchanges + 1, sizeof(*bufs));
	size_t i;
	int err = 0;

	memset(p, 0, sizeof(*p));
	if (!enc || !bufs)
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < b->nchanges && !err; i++) {
		chs_buf_init(&bufs[i], 0);
		if ((err = chs_change_encode(b->changes[i], &bufs[i])) == 0) {
			enc[i].data = bufs[i].ptr;
			enc[i].len = bufs[i].len;
		}
	}
	if (!err)
		err = chs_batch_pack_encoded(p, b, enc, b->nchanges, comp, keys, gens);
	for (i = 0; bufs && i < b->nchanges; i++)
		chs_buf_dispose(&bufs[i]);
	free(bufs);
	free(enc);
	return err;
}

void chs_packed_dispose(chs_packed *p)
{
	size_t i;

	for (i = 0; i < sizeof(p->owned) / sizeof(p->owned[0]); i++)
		free(p->owned[i]);
	memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------ */
/* Unpacking                                                            */

static const chs_git_blob *file_named(const chs_git_blob *f, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return &f[i];
	return NULL;
}

static int push(chs_batch *b, chs_change *c, size_t *cap)
{
	int err;

	if (b->nchanges == *cap && (err = CHS_ARRAY_GROW(b->changes, *cap, b->nchanges + 1)) < 0)
		return err;
	b->changes[b->nchanges++] = c;
	return 0;
}

/* The changes in a decrypted compartment file. */
static int read_changes(chs_batch *b, const unsigned char *p, size_t len)
{
	chs_change *c = NULL;
	size_t cap = b->nchanges; /* what another compartment's file added */
	int err;

	while (len > 0) {
		uint32_t n;

		if (len < 4 || (n = get_u32(p)) > len - 4)
			return chs_error_set(CHS_EDAMAGED, "a sealed batch file is malformed");
		/* out of memory says nothing about the file */
		if ((err = chs_sync__change_decode_kept(&c, p + 4, n)) < 0)
			return err == CHS_ENOMEM ? err
			       : chs_error_wrap(CHS_EDAMAGED, "a sealed batch file");
		if ((err = push(b, c, &cap)) < 0) {
			chs_change_free(c);
			return err;
		}
		if (b->nchanges > CHS_BATCH_MAX_CHANGES)
			return chs_error_set(CHS_EDAMAGED, "a sealed batch file holds too many changes");
		p += 4 + n;
		len -= 4 + (size_t)n;
	}
	return 0;
}

/* Decompress a decrypted file's body into exactly the length it states:
 * anything longer or shorter is damage. */
static int decompress_plain(int version, const unsigned char *z, size_t zlen,
			    unsigned char **out, size_t *len)
{
	size_t want;
	unsigned char *p;
	int ok;

	if (zlen < 4 || (want = get_u32(z)) > SEALED_MAX)
		return chs_error_set(CHS_EDAMAGED, "a sealed batch file is malformed");
	if (!(p = chs_secret_alloc(want + 1)))
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	if (version == SEALED_VERSION_ZLIB) {
		uLongf got = (uLongf)want;

		ok = uncompress(p, &got, z + 4, (uLong)(zlen - 4)) == Z_OK && got == want;
	} else {
		size_t got = ZSTD_decompress(p, want, z + 4, zlen - 4);

		ok = !ZSTD_isError(got) && got == want;
	}
	if (!ok) {
		chs_secret_free(p);
		return chs_error_set(CHS_EDAMAGED, "a sealed batch file is malformed");
	}
	*out = p;
	*len = want;
	return 0;
}

/* Open compartment c's file with the key `key_of` gives: 1 if read, 0 if
 * this device holds no key for it. */
static int open_file(chs_batch *b, const chs_git_blob *f, int c, chs_key_fn key_of,
		     void *payload)
{
	unsigned char ad[AD_LEN], *key = NULL, *z = NULL, *plain = NULL;
	size_t zlen, plen = 0;
	uint32_t gen;
	int version, err;

	if (f->len < SEALED_HEAD + CHS_AEAD_OVERHEAD || memcmp(f->data, SEALED_MAGIC, 4) != 0 ||
	    (f->data[4] != SEALED_VERSION && f->data[4] != SEALED_VERSION_ZLIB) ||
	    f->data[5] != c)
		return chs_error_set(CHS_EDAMAGED, "the %s file of a batch is malformed",
				     file_names[c]);
	version = f->data[4];
	gen = get_u32(f->data + 6);
	if (!(key = chs_secret_alloc(CHS_KEY_BYTES)))
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	if ((err = key_of(c, gen, key, payload)) == CHS_EDENIED) {
		chs_secret_free(key);
		return 0;
	}
	zlen = f->len - SEALED_HEAD - CHS_AEAD_OVERHEAD;
	if (err == 0 && !(z = chs_secret_alloc(zlen + 1)))
		err = chs_error_set(CHS_ENOMEM, "out of secure memory");
	make_ad(ad, version, c, gen, b->id);
	if (err == 0 && chs_aead_open(z, f->data + SEALED_HEAD, f->len - SEALED_HEAD,
				      ad, sizeof(ad), key) < 0)
		err = chs_error_set(CHS_EDAMAGED, "the %s changes of a batch do not decrypt",
				    file_names[c]);
	if (err == 0 && (err = decompress_plain(version, z, zlen, &plain, &plen)) == 0)
		err = read_changes(b, plain, plen);
	chs_secret_free(plain);
	chs_secret_free(z);
	chs_secret_free(key);
	return err < 0 ? err : 1;
}

static int unpack_head(chs_batch **out, const chs_git_blob *files, size_t n)
{
	const chs_git_blob *man = file_named(files, n, "manifest");
	const chs_git_blob *sig = file_named(files, n, "signature");
	size_t i;
	int err;

	*out = NULL;
	if (!man || !sig || sig->len != CHS_SIGNATURE_BYTES)
		return chs_error_set(CHS_EDAMAGED, "a batch commit lacks its manifest or signature");
	for (i = 0; i < n; i++)
		if (strcmp(files[i].name, "manifest") && strcmp(files[i].name, "signature") &&
		    strcmp(files[i].name, file_names[0]) && strcmp(files[i].name, file_names[1]))
			return chs_error_set(CHS_EDAMAGED, "a batch commit holds an unknown file '%s'",
					     files[i].name);
	if ((err = chs_batch_from_manifest(out, (const char *)man->data, man->len,
					   sig->data)) < 0)
		return err == CHS_ENOMEM ? err : chs_error_wrap(CHS_EDAMAGED, "a batch commit");
	return 0;
}

int chs_batch_unpack(chs_batch **out, const chs_git_blob *files, size_t n,
		     chs_key_fn key_of, void *payload, int *complete)
{
	chs_batch *b = NULL;
	int c, read, all = 1, err;

	*out = NULL;
	*complete = 0;
	if ((err = unpack_head(&b, files, n)) < 0)
		return err;
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		const chs_git_blob *f = file_named(files, n, file_names[c]);

		if (!f)
			continue;
		if ((read = open_file(b, f, c, key_of, payload)) < 0) {
			err = read;
			goto done;
		}
		all &= read;
	}
	/* nothing decrypted (the archive's hook, a store without the keys):
	 * nothing to put in order, and the manifest parsed already */
	if (b->nchanges && (err = chs_sync__manifest_order(b, b->changes, b->nchanges)) < 0)
		goto done;
	/* every file read and every listed change present: the whole batch */
	err = chs_sync__verify_decoded(b, all);
	if (err == 0)
		*complete = all;
done:
	if (err < 0)
		chs_batch_free(b);
	else
		*out = b;
	return err;
}
