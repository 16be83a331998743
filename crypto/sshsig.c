/*
 * SSH signatures (the SSHSIG format of OpenSSH's PROTOCOL.sshsig), as git
 * writes in a commit's gpgsig header and `git log --show-signature`
 * checks with an allowed-signers file. Only Ed25519 and SHA-512, which is
 * what chartsync's device keys make.
 *
 *   H    = SHA-512(message)
 *   data = "SSHSIG" string(namespace) string("") string("sha512") string(H)
 *   blob = "SSHSIG" uint32(1) string(public key) string(namespace)
 *          string("") string("sha512") string(signature)
 *   public key = string("ssh-ed25519") string(32 bytes)
 *   signature  = string("ssh-ed25519") string(Ed25519(data), 64 bytes)
 *
 * string(x) is a 4-byte big-endian length and x. The armor is the blob in
 * padded base64, 70 columns a line, between BEGIN/END SSH SIGNATURE lines,
 * with no newline after the last one (libgit2 would add a header line).
 * libsodium's Ed25519 is deterministic, so the result is byte-identical
 * to `ssh-keygen -Y sign -n NAMESPACE` with the same key.
 */
#include "crypto_int.h"

#include <string.h>

#define MAGIC "SSHSIG"
#define KEYTYPE "ssh-ed25519"
#define HASHALG "sha512"
#define ARMOR_BEGIN "-----BEGIN SSH SIGNATURE-----"
#define ARMOR_END "-----END SSH SIGNATURE-----"
#define ARMOR_COLS 70
#define BLOB_MAX 1024 /* bytes: an Ed25519 blob is about 150 */

static int put_string(chs_buf *b, const void *s, size_t len)
{
	unsigned char n[4];
	int err;

	chs_crypto__put32(n, (uint32_t)len);
	if ((err = chs_buf_put(b, n, 4)) < 0)
		return err;
	return chs_buf_put(b, s, len);
}

static int put_pubkey(chs_buf *b, const unsigned char pk[CHS_SIGN_PK_BYTES])
{
	chs_buf k;
	int err;

	chs_buf_init(&k, BLOB_MAX);
	if ((err = put_string(&k, KEYTYPE, strlen(KEYTYPE))) == 0 &&
	    (err = put_string(&k, pk, CHS_SIGN_PK_BYTES)) == 0)
		err = put_string(b, k.ptr, k.len);
	chs_buf_dispose(&k);
	return err;
}

/* The bytes Ed25519 signs. */
static int signed_data(chs_buf *d, const char *ns, const void *msg, size_t len)
{
	unsigned char h[crypto_hash_sha512_BYTES];
	int err;

	crypto_hash_sha512(h, msg, len);
	chs_buf_init(d, BLOB_MAX);
	if ((err = chs_buf_put(d, MAGIC, 6)) < 0 ||
	    (err = put_string(d, ns, strlen(ns))) < 0 ||
	    (err = put_string(d, "", 0)) < 0 ||
	    (err = put_string(d, HASHALG, strlen(HASHALG))) < 0 ||
	    (err = put_string(d, h, sizeof(h))) < 0)
		return err;
	return 0;
}

static int armor(chs_buf *out, const chs_buf *blob)
{
	char b64[BLOB_MAX * 4 / 3 + 8];
	size_t i, n;
	int err;

	if (sodium_base64_encoded_len(blob->len, sodium_base64_VARIANT_ORIGINAL) > sizeof(b64))
		return chs_error_set(CHS_EINVALID, "signature too large");
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)blob->ptr, blob->len,
			  sodium_base64_VARIANT_ORIGINAL);
	n = strlen(b64);
	err = chs_buf_puts(out, ARMOR_BEGIN "\n");
	for (i = 0; i < n && err == 0; i += ARMOR_COLS) {
		err = chs_buf_put(out, b64 + i, n - i < ARMOR_COLS ? n - i : ARMOR_COLS);
		if (err == 0)
			err = chs_buf_puts(out, "\n");
	}
	if (err == 0)
		err = chs_buf_puts(out, ARMOR_END);
	return err;
}

int chs_sshsig_sign(chs_buf *out, const chs_identity *id, const char *ns,
		    const void *msg, size_t len)
{
	unsigned char sig[CHS_SIGNATURE_BYTES];
	chs_buf data, s, blob;
	int err;

	chs_buf_init(&s, BLOB_MAX);
	chs_buf_init(&blob, BLOB_MAX);
	if ((err = signed_data(&data, ns, msg, len)) < 0)
		goto done;
	chs_identity_sign(id, sig, data.ptr, data.len);
	if ((err = put_string(&s, KEYTYPE, strlen(KEYTYPE))) < 0 ||
	    (err = put_string(&s, sig, sizeof(sig))) < 0 ||
	    (err = chs_buf_put(&blob, MAGIC, 6)) < 0 ||
	    (err = chs_buf_put(&blob, "\0\0\0\1", 4)) < 0 ||
	    (err = put_pubkey(&blob, chs_identity_public(id))) < 0 ||
	    (err = put_string(&blob, ns, strlen(ns))) < 0 ||
	    (err = put_string(&blob, "", 0)) < 0 ||
	    (err = put_string(&blob, HASHALG, strlen(HASHALG))) < 0 ||
	    (err = put_string(&blob, s.ptr, s.len)) < 0)
		goto done;
	err = armor(out, &blob);
done:
	chs_buf_dispose(&data);
	chs_buf_dispose(&s);
	chs_buf_dispose(&blob);
	return err;
}

/* ---- verification: a reader over the blob that never reads past it ---- */

typedef struct reader {
	const unsigned char *p;
	size_t left;
} reader;

static int get_string(reader *r, const unsigned char **s, size_t *len)
{
	uint32_t n;

	if (r->left < 4)
		return -1;
	n = chs_crypto__get32(r->p);
	if (n > r->left - 4)
		return -1;
	*s = r->p + 4;
	*len = n;
	r->p += 4 + n;
	r->left -= 4 + (size_t)n;
	return 0;
}

static int expect_string(reader *r, const char *want)
{
	const unsigned char *s;
	size_t len;

	return get_string(r, &s, &len) == 0 && len == strlen(want) &&
	       memcmp(s, want, len) == 0 ? 0 : -1;
}

/* Strip the armor and decode the base64 inside it. */
static int dearmor(unsigned char *blob, size_t *bloblen, const char *text, size_t len)
{
	size_t b = strlen(ARMOR_BEGIN), e = strlen(ARMOR_END);
	const char *body, *end;

	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	if (len < b + e || memcmp(text, ARMOR_BEGIN, b) != 0 ||
	    memcmp(text + len - e, ARMOR_END, e) != 0)
		return -1;
	body = text + b;
	end = text + len - e;
	return sodium_base642bin(blob, BLOB_MAX, body, (size_t)(end - body), "\r\n",
				 bloblen, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 ? 0 : -1;
}

static int parse_blob(reader *r, const char *ns, const unsigned char **pk,
		      const unsigned char **sig)
{
	const unsigned char *key, *s;
	size_t keylen, slen, n;
	reader k, sr;

	if (r->left < 10 || memcmp(r->p, MAGIC, 6) != 0 ||
	    chs_crypto__get32(r->p + 6) != 1)
		return -1;
	r->p += 10;
	r->left -= 10;
	if (get_string(r, &key, &keylen) < 0 || expect_string(r, ns) < 0 ||
	    expect_string(r, "") < 0 || expect_string(r, HASHALG) < 0 ||
	    get_string(r, &s, &slen) < 0 || r->left != 0)
		return -1;
	k.p = key;
	k.left = keylen;
	sr.p = s;
	sr.left = slen;
	if (expect_string(&k, KEYTYPE) < 0 || get_string(&k, pk, &n) < 0 ||
	    n != CHS_SIGN_PK_BYTES || k.left != 0 || expect_string(&sr, KEYTYPE) < 0 ||
	    get_string(&sr, sig, &n) < 0 || n != CHS_SIGNATURE_BYTES || sr.left != 0)
		return -1;
	return 0;
}

int chs_sshsig_verify(unsigned char signer[CHS_SIGN_PK_BYTES], const char *armored,
		      size_t armored_len, const char *ns, const void *msg, size_t len)
{
	unsigned char blob[BLOB_MAX];
	const unsigned char *pk, *sig;
	size_t bloblen = 0;
	reader r;
	chs_buf data;
	int err;

	if (dearmor(blob, &bloblen, armored, armored_len) < 0)
		return chs_error_set(CHS_EDAMAGED, "not an SSH signature");
	r.p = blob;
	r.left = bloblen;
	if (parse_blob(&r, ns, &pk, &sig) < 0)
		return chs_error_set(CHS_EDAMAGED,
				     "not an Ed25519 SSH signature for namespace '%s'", ns);
	if ((err = signed_data(&data, ns, msg, len)) == 0) {
		err = chs_sign_verify(pk, sig, data.ptr, data.len);
		if (err == 0 && signer)
			memcpy(signer, pk, CHS_SIGN_PK_BYTES);
	}
	chs_buf_dispose(&data);
	return err;
}

int chs_ssh_public_key(chs_buf *out, const unsigned char pk[CHS_SIGN_PK_BYTES])
{
	char b64[128];
	chs_buf k;
	int err;

	chs_buf_init(&k, BLOB_MAX);
	if ((err = put_string(&k, KEYTYPE, strlen(KEYTYPE))) == 0 &&
	    (err = put_string(&k, pk, CHS_SIGN_PK_BYTES)) == 0) {
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)k.ptr, k.len,
				  sodium_base64_VARIANT_ORIGINAL);
		err = chs_buf_printf(out, KEYTYPE " %s", b64);
	}
	chs_buf_dispose(&k);
	return err;
}

int chs_ssh_public_key_parse(unsigned char pk[CHS_SIGN_PK_BYTES], const char *line)
{
	unsigned char blob[128];
	const unsigned char *key;
	size_t bloblen = 0, n, b64len;
	const char *p = line;
	reader r;

	if (strncmp(p, KEYTYPE " ", strlen(KEYTYPE) + 1) != 0)
		return chs_error_set(CHS_EINVALID, "not an ssh-ed25519 public key");
	p += strlen(KEYTYPE) + 1;
	b64len = strcspn(p, " \t\r\n");
	if (sodium_base642bin(blob, sizeof(blob), p, b64len, NULL, &bloblen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return chs_error_set(CHS_EINVALID, "not an ssh-ed25519 public key");
	r.p = blob;
	r.left = bloblen;
	if (expect_string(&r, KEYTYPE) < 0 || get_string(&r, &key, &n) < 0 ||
	    n != CHS_SIGN_PK_BYTES || r.left != 0)
		return chs_error_set(CHS_EINVALID, "not an ssh-ed25519 public key");
	memcpy(pk, key, CHS_SIGN_PK_BYTES);
	return 0;
}
