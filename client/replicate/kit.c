/*
 * The recovery kit: what only the organisation's admin store holds (the
 * admin key and every generation of the data keys: org.c's
 * chs_replicate__admin_export), sealed under a recovery passphrase, as
 * text that can be printed and typed back; optionally split into N
 * shares of which any K rebuild it (Shamir's scheme, crypto/share.c).
 * The sealed kit is what is split, so K shares still need the
 * passphrase, and fewer than K tell nothing.
 *
 * The sealed kit (bytes; integers big-endian):
 *
 *     0     1  format, 1
 *     1    16  the organisation id (in the clear)
 *    17     8  Argon2id passes        \
 *    25     8  Argon2id memory, bytes  |  a key slot (crypto/slot.c,
 *    33    16  salt                    |  version 2) holding the kit
 *    49    72  wrapped                 |  key under the passphrase; its
 *   121    32  box public key          |  store is the organisation id,
 *   153    80  sealed                 /   its user "recovery-kit"
 *   233     .  the admin's secrets: nonce || ciphertext || tag
 *              (XChaCha20-Poly1305 under the kit key; associated data
 *              "chartsync-recovery-kit-v1" NUL organisation id in hex)
 *
 * Its text, the kit whole or one share (lines starting with '#' and
 * blank lines are instructions and ignored; so are the case of hex
 * digits and the spaces between them):
 *
 *   chartsync recovery kit, format 1
 *       or: chartsync recovery share 2 of 3 (any 2 recover the kit), format 1
 *   organisation 0f1e2d3c4b5a69788796a5b4c3d2e1f0
 *   kit 1a2b3c4d, 411 bytes
 *   line 1: 0123 4567 89ab cdef 0123 4567 89ab cdef  check 5e2a
 *   ...     (16 bytes a line in hex, the last line shorter)
 *   checksum 9c0d1e2f
 *
 * "kit" names the sealed kit (the first 4 bytes of its BLAKE2b-256 in
 * hex), so shares of two kits are never combined, and bytes is its
 * length (a share is as long). A line's check is the first 2 bytes of
 * BLAKE2b-256 over "chartsync-kit-line", the share number (0 for a kit
 * whole), the line number (4 bytes) and the line's bytes: a typo is
 * found and named by its line, and a line typed in the wrong place too.
 * The checksum is the first 4 bytes of BLAKE2b-256 over
 * "chartsync-kit-text", the header's numbers and every payload byte: a
 * line left out, or a header changed, is found.
 */
#include "replicate_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIT_FORMAT 1
#define KIT_HEAD 233 /* bytes before the sealed secrets */
#define AT_WRAPPED 49
#define AT_BOX (AT_WRAPPED + CHS_SLOT_WRAPPED_BYTES)
#define AT_SEALED (AT_BOX + CHS_SLOT_BOX_BYTES)
#define KIT_AD_TAG "chartsync-recovery-kit-v1"
#define KIT_SLOT_USER "recovery-kit"
#define KIT_PASS_MIN 12 /* bytes of a recovery passphrase, at least */
#define LINE_BYTES 16
#define TEXT_MAX (64 * 1024) /* bytes of one kit or share text */
/* A kit is read and attacked offline, for years: Argon2id at libsodium's
 * "moderate" level (256 MiB, 3 passes, about a second here), above the
 * "interactive" level of a store's key slots. */
#define KIT_KDF_OPS 3
#define KIT_KDF_MEM ((uint64_t)256 << 20)

/* One kit or share text, read and checked. */
typedef struct kit_text {
	int whole;            /* the kit itself, not a share */
	unsigned nr, k, n;    /* share nr of n, any k (0 for a kit whole) */
	char org[33];
	char kit_id[9];
	unsigned char *bytes; /* malloc'ed, len bytes */
	size_t len;
} kit_text;

static void text_dispose(kit_text *t)
{
	free(t->bytes);
	memset(t, 0, sizeof(*t));
}

static void put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* ------------------------------------------------------------------ */
/* Sealing                                                              */

static int kit_ad(chs_buf *ad, const char org[33])
{
	chs_buf_init(ad, 256);
	if (chs_buf_put(ad, KIT_AD_TAG, sizeof(KIT_AD_TAG)) < 0 || chs_buf_puts(ad, org) < 0)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return 0;
}

/* Seal the admin's secrets `blob` (org id at 1..16) into `out`. */
static int kit_seal(chs_buf *out, const unsigned char *blob, size_t len, const char *pass,
		    size_t passlen, const chs_kdf_params *kdf)
{
	unsigned char head[KIT_HEAD], *key = NULL, *sealed = NULL;
	chs_kdf_params p = { KIT_KDF_OPS, KIT_KDF_MEM };
	chs_slot slot;
	chs_buf ad;
	char org[33];
	int err;

	chs_buf_init(&ad, 0);
	chs_hex(org, blob + 1, 16);
	if (kdf)
		p = *kdf;
	if (!(key = chs_key_new()) || !(sealed = chs_malloc(len + CHS_AEAD_OVERHEAD))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	if ((err = chs_slot_wrap(&slot, key, org, KIT_SLOT_USER, pass, passlen, &p)) < 0 ||
	    (err = kit_ad(&ad, org)) < 0)
		goto done;
	chs_aead_seal(sealed, blob, len, ad.ptr, ad.len, key);
	head[0] = KIT_FORMAT;
	memcpy(head + 1, blob + 1, 16);
	put64(head + 17, slot.kdf.ops);
	put64(head + 25, slot.kdf.mem);
	memcpy(head + 33, slot.salt, CHS_SALT_BYTES);
	memcpy(head + AT_WRAPPED, slot.wrapped, CHS_SLOT_WRAPPED_BYTES);
	memcpy(head + AT_BOX, slot.box_pk, CHS_SLOT_BOX_BYTES);
	memcpy(head + AT_SEALED, slot.sealed, CHS_SLOT_SEALED_BYTES);
	if ((err = chs_buf_put(out, head, sizeof(head))) == 0)
		err = chs_buf_put(out, sealed, len + CHS_AEAD_OVERHEAD);
done:
	chs_buf_dispose(&ad);
	free(sealed);
	chs_secret_free(key);
	return err;
}

_Static_assert(KIT_HEAD == AT_SEALED + CHS_SLOT_SEALED_BYTES, "the kit's head is a key slot");

/* Open a sealed kit: the admin's secrets into `blob` (wipe after use).
 * CHS_EAUTH for a wrong passphrase. */
static int kit_open(chs_buf *blob, const unsigned char *kit, size_t len, const char *pass,
		    size_t passlen)
{
	unsigned char *key = NULL, *plain = NULL;
	size_t plen;
	chs_slot slot;
	chs_buf ad;
	char org[33];
	int err;

	chs_buf_init(&ad, 0);
	if (len < KIT_HEAD + CHS_AEAD_OVERHEAD + 1 + 16 || kit[0] != KIT_FORMAT)
		return chs_error_set(CHS_EDAMAGED, "the recovery kit is not one this version of"
				     " chartsync reads (format %u)", len ? kit[0] : 0);
	plen = len - KIT_HEAD - CHS_AEAD_OVERHEAD;
	chs_hex(org, kit + 1, 16);
	memset(&slot, 0, sizeof(slot));
	slot.version = 2;
	slot.kdf.ops = get64(kit + 17);
	slot.kdf.mem = get64(kit + 25);
	memcpy(slot.salt, kit + 33, CHS_SALT_BYTES);
	memcpy(slot.wrapped, kit + AT_WRAPPED, CHS_SLOT_WRAPPED_BYTES);
	memcpy(slot.box_pk, kit + AT_BOX, CHS_SLOT_BOX_BYTES);
	memcpy(slot.sealed, kit + AT_SEALED, CHS_SLOT_SEALED_BYTES);
	if (!(key = chs_secret_alloc(CHS_KEY_BYTES)) || !(plain = chs_secret_alloc(plen))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	err = chs_slot_unwrap(key, &slot, org, KIT_SLOT_USER, pass, passlen);
	if (err == CHS_EAUTH)
		err = chs_error_set(CHS_EAUTH, "wrong recovery passphrase for the recovery kit of"
				    " organisation %s: nothing was changed; try again with the"
				    " passphrase chosen when the kit was made", org);
	if (err < 0 || (err = kit_ad(&ad, org)) < 0)
		goto done;
	if (chs_aead_open(plain, kit + KIT_HEAD, len - KIT_HEAD, ad.ptr, ad.len, key) < 0) {
		err = chs_error_set(CHS_EDAMAGED, "the recovery kit of organisation %s is damaged:"
				    " it does not decrypt although its checks passed", org);
		goto done;
	}
	if (plen < 17 || memcmp(plain + 1, kit + 1, 16) != 0) {
		err = chs_error_set(CHS_EDAMAGED, "the recovery kit names another organisation"
				    " than the secrets it holds");
		goto done;
	}
	err = chs_buf_put(blob, plain, plen);
done:
	chs_buf_dispose(&ad);
	chs_secret_free(plain);
	chs_secret_free(key);
	return err;
}

/* ------------------------------------------------------------------ */
/* Text                                                                 */

static void line_check(char out[5], unsigned nr, uint32_t line, const unsigned char *p,
		       size_t len)
{
	static const char tag[] = "chartsync-kit-line";
	unsigned char h[CHS_HASH_BYTES], num[5];
	chs_hash_state st;

	num[0] = (unsigned char)nr;
	put32(num + 1, line);
	chs_hash_init(&st);
	chs_hash_update(&st, tag, sizeof(tag));
	chs_hash_update(&st, num, sizeof(num));
	chs_hash_update(&st, p, len);
	chs_hash_final(&st, h);
	chs_hex(out, h, 2);
}

static void text_checksum(char out[9], const kit_text *t)
{
	static const char tag[] = "chartsync-kit-text";
	unsigned char h[CHS_HASH_BYTES], num[16];
	chs_hash_state st;

	num[0] = (unsigned char)t->nr;
	num[1] = (unsigned char)t->k;
	num[2] = (unsigned char)t->n;
	num[3] = (unsigned char)t->whole;
	put32(num + 4, (uint32_t)t->len);
	memset(num + 8, 0, 8);
	chs_hash_init(&st);
	chs_hash_update(&st, tag, sizeof(tag));
	chs_hash_update(&st, num, sizeof(num));
	chs_hash_update(&st, t->org, 32);
	chs_hash_update(&st, t->kit_id, 8);
	chs_hash_update(&st, t->bytes, t->len);
	chs_hash_final(&st, h);
	chs_hex(out, h, 4);
}

static void kit_id_of(char out[9], const unsigned char *kit, size_t len)
{
	unsigned char h[CHS_HASH_BYTES];

	chs_hash(h, kit, len);
	chs_hex(out, h, 4);
}

static int text_write(chs_buf *b, const kit_text *t)
{
	char hex[2 * LINE_BYTES + 1], check[5], sum[9];
	size_t off, i, n;
	uint32_t line;
	int err;

	if (t->whole)
		err = chs_buf_printf(b, "chartsync recovery kit, format %d\n", KIT_FORMAT);
	else
		err = chs_buf_printf(b, "chartsync recovery share %u of %u (any %u recover the kit),"
				     " format %d\n", t->nr, t->n, t->k, KIT_FORMAT);
	if (err == 0)
		err = chs_buf_printf(b, "organisation %s\nkit %s, %zu bytes\n", t->org, t->kit_id,
				     t->len);
	for (off = 0, line = 1; err == 0 && off < t->len; off += n, line++) {
		n = t->len - off < LINE_BYTES ? t->len - off : LINE_BYTES;
		chs_hex(hex, t->bytes + off, n);
		line_check(check, t->nr, line, t->bytes + off, n);
		err = chs_buf_printf(b, "line %u:", line);
		for (i = 0; err == 0 && i < 2 * n; i += 4)
			err = chs_buf_printf(b, " %.4s", hex + i);
		if (err == 0)
			err = chs_buf_printf(b, "  check %s\n", check);
	}
	text_checksum(sum, t);
	return err ? err : chs_buf_printf(b, "checksum %s\n", sum);
}

/* Who a message names: "share 2" or "the kit" (or the text's place in
 * the list, before its header is read). */
static void text_name(char *out, size_t cap, const kit_text *t, size_t index)
{
	if (t->whole)
		snprintf(out, cap, "the recovery kit");
	else if (t->nr)
		snprintf(out, cap, "share %u", t->nr);
	else
		snprintf(out, cap, "recovery text %zu", index + 1);
}

/* The next line worth reading (not blank, not '#'), trimmed, into
 * `line`; 0 at the end. */
static int next_line(const char **p, const char *end, char *line, size_t cap)
{
	while (*p < end) {
		const char *s = *p, *e = memchr(s, '\n', (size_t)(end - s));
		size_t n;

		if (!e)
			e = end;
		*p = e < end ? e + 1 : end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (s == e || *s == '#')
			continue;
		n = (size_t)(e - s) < cap - 1 ? (size_t)(e - s) : cap - 1;
		memcpy(line, s, n);
		line[n] = '\0';
		return 1;
	}
	return 0;
}

static int bad_text(const char *who, const char *what)
{
	return chs_error_set(CHS_EINVALID, "%s: %s", who, what);
}

/* sscanf() that must consume the whole line: its literal text too (a
 * conversion's count alone says nothing of the text after it). */
#define WHOLE_LINE(line, got, want, end) ((got) == (want) && (end) == (int)strlen(line))

static int read_header(kit_text *t, const char **p, const char *end, size_t index)
{
	char line[256], who[64];
	size_t len;
	int format = 0, e = -1;

	text_name(who, sizeof(who), t, index);
	if (!next_line(p, end, line, sizeof(line)))
		return bad_text(who, "it is empty; give the text of a recovery kit or share");
	if (WHOLE_LINE(line, sscanf(line, "chartsync recovery share %u of %u (any %u recover the"
				    " kit), format %d%n", &t->nr, &t->n, &t->k, &format, &e),
		       4, e)) {
		text_name(who, sizeof(who), t, index);
		if (t->nr < 1 || t->n < 2 || t->n > CHS_SHARES_MAX || t->nr > t->n || t->k < 2 ||
		    t->k > t->n)
			return bad_text(who, "its first line does not make sense: retype it");
	} else if (e = -1, WHOLE_LINE(line, sscanf(line, "chartsync recovery kit, format %d%n",
						   &format, &e), 1, e)) {
		t->whole = 1;
		text_name(who, sizeof(who), t, index);
	} else {
		return bad_text(who, "this is not a chartsync recovery kit or share: its first"
				" line must be 'chartsync recovery kit, ...' or 'chartsync recovery"
				" share ...', as printed");
	}
	if (format != KIT_FORMAT)
		return chs_error_set(CHS_EINVALID, "%s is of format %d, which this version of"
				     " chartsync does not read", who, format);
	e = -1;
	if (!next_line(p, end, line, sizeof(line)) ||
	    !WHOLE_LINE(line, sscanf(line, "organisation %32[0-9a-fA-F]%n", t->org, &e), 1, e) ||
	    strlen(t->org) != 32)
		return bad_text(who, "its 'organisation' line is missing or mistyped: retype it");
	e = -1;
	if (!next_line(p, end, line, sizeof(line)) ||
	    !WHOLE_LINE(line, sscanf(line, "kit %8[0-9a-fA-F], %zu bytes%n", t->kit_id, &len, &e),
			2, e) ||
	    strlen(t->kit_id) != 8 || len < KIT_HEAD || len > TEXT_MAX / 2)
		return bad_text(who, "its 'kit' line is missing or mistyped: retype it");
	t->len = len;
	for (len = 0; len < 32; len++)
		t->org[len] = (char)(t->org[len] | 0x20); /* hex: lowercase */
	for (len = 0; len < 8; len++)
		t->kit_id[len] = (char)(t->kit_id[len] | 0x20);
	if (!(t->bytes = chs_malloc(t->len)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return 0;
}

/* "line N: hex groups  check XXXX" into the right place of t->bytes. */
static int read_payload_line(kit_text *t, const char *line, uint32_t want, const char *who)
{
	char hex[2 * LINE_BYTES + 1], check[5], expect[5];
	const char *p, *c = strstr(line, "check");
	size_t n = 0, off = (size_t)(want - 1) * LINE_BYTES;
	size_t bytes = t->len - off < LINE_BYTES ? t->len - off : LINE_BYTES;
	unsigned got;
	int e = -1;

	if (sscanf(line, "line %u:%n", &got, &e) != 1 || e < 0 || got != want)
		return chs_error_set(CHS_EINVALID, "%s: line %u is missing (found '%.20s' in its"
				     " place): retype it", who, want, line);
	e = -1;
	if (!c || !WHOLE_LINE(c, sscanf(c, "check %4[0-9a-fA-F]%n", check, &e), 1, e) ||
	    strlen(check) != 4)
		return chs_error_set(CHS_EINVALID, "%s, line %u has no check, or a mistyped one:"
				     " retype it", who, want);
	if (!(p = strchr(line, ':')) || p > c)
		goto mismatch;
	for (p++; p < c; p++) {
		if (*p == ' ' || *p == '\t')
			continue;
		if (n == 2 * bytes)
			goto mismatch;
		hex[n++] = *p;
	}
	hex[n] = '\0';
	if (n != 2 * bytes || chs_unhex(t->bytes + off, bytes, hex) < 0)
		goto mismatch;
	line_check(expect, t->nr, want, t->bytes + off, bytes);
	for (n = 0; n < 4; n++)
		check[n] = (char)(check[n] | 0x20);
	if (strcmp(expect, check) == 0)
		return 0;
mismatch:
	chs_error_clear();
	return chs_error_set(CHS_EINVALID, "%s, line %u does not match its check: retype it",
			     who, want);
}

static int text_read(kit_text *t, const char *text, size_t len, size_t index)
{
	const char *p = text, *end = text + len;
	char line[256], who[64], sum[9], expect[9];
	uint32_t i, lines;
	int err, e;

	memset(t, 0, sizeof(*t));
	if (len > TEXT_MAX)
		return chs_error_set(CHS_EINVALID, "recovery text %zu is too long for a kit or share",
				     index + 1);
	if ((err = read_header(t, &p, end, index)) < 0)
		return err;
	text_name(who, sizeof(who), t, index);
	lines = (uint32_t)((t->len + LINE_BYTES - 1) / LINE_BYTES);
	for (i = 1; i <= lines; i++) {
		if (!next_line(&p, end, line, sizeof(line)))
			return chs_error_set(CHS_EINVALID, "%s ends early: line %u is missing", who, i);
		if ((err = read_payload_line(t, line, i, who)) < 0)
			return err;
	}
	e = -1;
	if (!next_line(&p, end, line, sizeof(line)) ||
	    !WHOLE_LINE(line, sscanf(line, "checksum %8[0-9a-fA-F]%n", sum, &e), 1, e) ||
	    strlen(sum) != 8)
		return chs_error_set(CHS_EINVALID, "%s: its 'checksum' line is missing after line"
				     " %u: retype it", who, lines);
	for (i = 0; i < 8; i++)
		sum[i] = (char)(sum[i] | 0x20);
	text_checksum(expect, t);
	if (strcmp(sum, expect) != 0)
		return chs_error_set(CHS_EINVALID, "%s does not match its checksum: every line"
				     " matches its own check, so a header line or the checksum was"
				     " mistyped: retype them", who);
	return 0;
}

/* Read the texts and rebuild the sealed kit from them into `kit`. */
static int kit_read(const char *const *texts, size_t n, chs_buf *kit, char org[33])
{
	kit_text *t = NULL;
	const unsigned char *parts[CHS_SHARES_MAX];
	unsigned char nrs[CHS_SHARES_MAX];
	unsigned char *out = NULL;
	char id[9];
	size_t i;
	int err = 0;

	if (n == 0)
		return chs_error_set(CHS_EINVALID, "give the recovery kit, or its shares");
	if (n > CHS_SHARES_MAX)
		return chs_error_set(CHS_EINVALID, "more than %u recovery texts were given",
				     (unsigned)CHS_SHARES_MAX);
	if (!(t = chs_calloc(n, sizeof(*t))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < n && err == 0; i++)
		err = text_read(&t[i], texts[i], strlen(texts[i]), i);
	for (i = 1; i < n && err == 0; i++) {
		if (t[i].whole || t[0].whole)
			err = chs_error_set(CHS_EINVALID, "give either the recovery kit or its shares,"
					    " not both, nor two kits");
		else if (strcmp(t[i].org, t[0].org) != 0 || strcmp(t[i].kit_id, t[0].kit_id) != 0 ||
			 t[i].k != t[0].k || t[i].n != t[0].n || t[i].len != t[0].len)
			err = chs_error_set(CHS_EINVALID, "share %u and share %u belong to different"
					    " recovery kits (kit %s of organisation %s, and kit %s of"
					    " organisation %s): give shares of one kit", t[0].nr,
					    t[i].nr, t[0].kit_id, t[0].org, t[i].kit_id, t[i].org);
	}
	if (err < 0)
		goto done;
	if (!t[0].whole && n < t[0].k) {
		err = chs_error_set(CHS_EINVALID, "%zu of the %u shares needed were given: any %u"
				    " of the %u shares of kit %s recover it", n, t[0].k, t[0].k,
				    t[0].n, t[0].kit_id);
		goto done;
	}
	if (t[0].whole) {
		err = chs_buf_put(kit, t[0].bytes, t[0].len);
	} else {
		for (i = 0; i < n; i++) {
			nrs[i] = (unsigned char)t[i].nr;
			parts[i] = t[i].bytes;
		}
		if (!(out = chs_malloc(t[0].len)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else if ((err = chs_share_combine(out, t[0].len, nrs, parts, (unsigned)n)) == 0)
			err = chs_buf_put(kit, out, t[0].len);
	}
	if (err < 0)
		goto done;
	kit_id_of(id, (const unsigned char *)kit->ptr, kit->len);
	if (strcmp(id, t[0].kit_id) != 0) {
		err = chs_error_set(CHS_EINVALID, "the shares given do not rebuild kit %s, although"
				    " each passed its checks: one was made for another kit",
				    t[0].kit_id);
		goto done;
	}
	/* the organisation the text names is the one the kit binds */
	chs_hex(org, kit->ptr + 1, 16);
	if (strcmp(org, t[0].org) != 0)
		err = chs_error_set(CHS_EINVALID, "the recovery kit names organisation %s in its"
				    " text and %s inside: it was altered", t[0].org, org);
done:
	for (i = 0; i < n; i++)
		text_dispose(&t[i]);
	free(t);
	free(out);
	return err;
}

int chs_kit_check(const char *const *texts, size_t n, char org[33])
{
	chs_buf kit;
	int err;

	CHS_ASSERT_ARG(texts);
	CHS_ASSERT_ARG(org);
	chs_buf_init(&kit, 0);
	err = kit_read(texts, n, &kit, org);
	chs_buf_dispose(&kit);
	return err;
}

/* ------------------------------------------------------------------ */
/* Making the kit                                                       */

void chs_kit_texts_free(char **texts, size_t n)
{
	size_t i;

	for (i = 0; texts && i < n; i++)
		free(texts[i]);
	free(texts);
}

static int kit_texts(const chs_buf *kit, const chs_kit_opts *o, char ***out, size_t *nout)
{
	unsigned shares = o->shares ? o->shares : 1, i;
	unsigned char *parts = NULL;
	char **texts = NULL;
	kit_text t;
	chs_buf b;
	int err = 0;

	memset(&t, 0, sizeof(t));
	chs_hex(t.org, kit->ptr + 1, 16);
	kit_id_of(t.kit_id, (const unsigned char *)kit->ptr, kit->len);
	t.len = kit->len;
	if (!(texts = chs_calloc(shares, sizeof(*texts))) ||
	    (o->shares && !(parts = chs_malloc((size_t)shares * kit->len)))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	if (o->shares && (err = chs_share_split(parts, kit->ptr, kit->len, o->threshold,
						shares)) < 0)
		goto done;
	for (i = 0; i < shares && err == 0; i++) {
		t.whole = !o->shares;
		t.nr = o->shares ? i + 1 : 0;
		t.k = o->threshold;
		t.n = o->shares;
		t.bytes = o->shares ? parts + (size_t)i * kit->len : (unsigned char *)kit->ptr;
		chs_buf_init(&b, TEXT_MAX);
		if ((err = text_write(&b, &t)) == 0 && !(texts[i] = chs_buf_detach(&b)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		chs_buf_dispose(&b);
	}
	if (err == 0) {
		*out = texts;
		*nout = shares;
		texts = NULL;
	}
done:
	chs_kit_texts_free(texts, shares);
	free(parts);
	return err;
}

int chs_org_recovery_kit(chs_store *s, const char *pass, size_t passlen, const chs_kit_opts *o,
			 char ***texts, size_t *n)
{
	chs_kit_opts none = { 0, 0, NULL };
	chs_buf blob, kit;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(pass);
	CHS_ASSERT_ARG(texts);
	CHS_ASSERT_ARG(n);
	*texts = NULL;
	*n = 0;
	if (!o)
		o = &none;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	if (!s->admin)
		return chs_error_set(CHS_EDENIED, "only an admin user of the organisation's admin store"
				     " may make its recovery kit");
	/* the kit can be attacked offline for as long as it exists */
	if (passlen < KIT_PASS_MIN)
		return chs_error_set(CHS_EINVALID, "the recovery passphrase is too short: give one"
				     " of at least %d characters (a kit may be copied and attacked"
				     " for years)", KIT_PASS_MIN);
	if (o->shares && (o->threshold < 2 || o->threshold > o->shares ||
			  o->shares > CHS_SHARES_MAX))
		return chs_error_set(CHS_EINVALID, "shares: need 2 <= threshold (%u) <= shares (%u)"
				     " <= %u", o->threshold, o->shares, (unsigned)CHS_SHARES_MAX);
	chs_buf_init_secret(&blob, 0);
	chs_buf_init(&kit, 0);
	if ((err = chs_replicate__admin_export(s, &blob)) == 0 &&
	    (err = kit_seal(&kit, (const unsigned char *)blob.ptr, blob.len, pass, passlen,
			    o->kdf)) == 0)
		err = kit_texts(&kit, o, texts, n);
	if (blob.ptr)
		chs_wipe(blob.ptr, blob.len);
	chs_buf_dispose(&blob);
	chs_buf_dispose(&kit);
	return err;
}

/* ------------------------------------------------------------------ */
/* Recovering the organisation                                          */

/* What recover needs of the admin's secrets blob (org.c's layout): its
 * organisation, its admin key, and how many generations of each data
 * key it holds. */
typedef struct kit_secrets {
	char org[33];
	unsigned char admin[CHS_SIGN_PK_BYTES];
	uint32_t gen[CHS_NCOMPARTMENTS];
} kit_secrets;

static int secrets_of(kit_secrets *k, const chs_buf *blob)
{
	const unsigned char *p = (const unsigned char *)blob->ptr;
	chs_identity *id = NULL;
	size_t off = 1 + 16 + CHS_SIGN_SK_BYTES;
	int c, err;

	memset(k, 0, sizeof(*k));
	if (blob->len < off)
		return chs_error_set(CHS_EDAMAGED, "the recovery kit's secrets are malformed");
	chs_hex(k->org, p + 1, 16);
	if ((err = chs_identity_from_secret(&id, p + 17)) < 0)
		return err;
	memcpy(k->admin, chs_identity_public(id), CHS_SIGN_PK_BYTES);
	chs_identity_free(id);
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		if (blob->len < off + 4)
			return chs_error_set(CHS_EDAMAGED, "the recovery kit's secrets are malformed");
		k->gen[c] = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 |
			    (uint32_t)p[off + 2] << 8 | p[off + 3];
		off += 4 + (size_t)k->gen[c] * CHS_KEY_BYTES;
	}
	return 0;
}

/* The store takes the kit's organisation: pinned to it already (a
 * recover tried before), or to none yet. */
static int pin_kit(chs_store *s, const kit_secrets *k)
{
	unsigned char pk[CHS_SIGN_PK_BYTES];
	char org[33];
	int err;

	if ((err = chs_store__org_pinned(s, org, pk)) == 0) {
		if (strcmp(org, k->org) != 0)
			return chs_error_set(CHS_EEXISTS, "this store belongs to organisation %s, not to"
					     " organisation %s of the kit: recover in a new store"
					     " ('chartsync init')", org, k->org);
		if (!chs_equal(pk, k->admin, CHS_SIGN_PK_BYTES))
			return chs_error_set(CHS_EEXISTS, "this store knows organisation %s under"
					     " another admin key than the kit's: the admin key was"
					     " replaced since the kit was made, and this kit can no"
					     " longer recover the organisation", org);
		return 0;
	}
	if (err != CHS_ENOTFOUND)
		return err;
	chs_error_clear();
	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = chs_store__org_pin(s, k->org, k->admin)) < 0) {
		chs_store__rollback(s);
		return err;
	}
	return chs_store__commit(s);
}

/* The roster at the archive's tip, as fetched into the mirror, read
 * whoever signed it; NULL (and 0) when the archive holds none. */
static int archive_roster(chs_git *g, chs_roster **out, char tip[41])
{
	chs_git_commit *c = NULL;
	int err;

	*out = NULL;
	if ((err = chs_git_ref(g, FETCHED_ROSTER, tip)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err == 0 && (err = chs_git_read(g, tip, &c)) == 0)
		err = chs_roster_from_commit(out, c, NULL);
	chs_git_commit_free(c);
	return err;
}

/* After the first sync: the archive holds the kit's organisation under
 * the kit's admin key, the store took its roster (the one at `tip`), and
 * the kit holds every generation of the data keys that roster uses.
 * `synced` is what the sync returned (it ends refusing this store, which
 * is on no roster yet). */
static int check_archive_against(chs_store *s, chs_git *g, const kit_secrets *k, int synced,
				 const char *url, char tip[41])
{
	chs_roster *theirs = NULL, *mine = NULL;
	char why[1024], shown[1024];
	int c, err;

	url = chs_git_shown_address(url, shown, sizeof(shown));
	snprintf(why, sizeof(why), "%s", chs_error_last());
	if ((err = archive_roster(g, &theirs, tip)) < 0)
		goto done;
	if (!theirs) {
		err = synced < 0 ? chs_error_set(synced, "%s", why)
			: chs_error_set(CHS_ENOTFOUND, "the archive at %s holds no roster: is it"
					" organisation %s's archive? (give it with --archive URL)", url,
					k->org);
		goto done;
	}
	if (strcmp(chs_roster_org(theirs), k->org) != 0) {
		err = chs_error_set(CHS_EINVALID, "the archive at %s is organisation %s's, the kit"
				    " organisation %s's: give the organisation's own archive", url,
				    chs_roster_org(theirs), k->org);
		goto done;
	}
	if (!chs_equal(chs_roster_admin(theirs), k->admin, CHS_SIGN_PK_BYTES)) {
		err = chs_error_set(CHS_EDENIED, "organisation %s's admin key was replaced since this"
				    " kit was made: its roster in the archive is signed by another"
				    " key, so this kit can no longer recover the organisation (use a"
				    " kit made after the change, or ask the admin device that holds"
				    " the new key)", k->org);
		goto done;
	}
	if (synced < 0 && synced != CHS_EDENIED) {
		err = chs_error_set(synced, "%s", why);
		goto done;
	}
	if ((err = chs_store__roster_load(s, &mine, NULL)) < 0 ||
	    chs_roster_seq(mine) < chs_roster_seq(theirs)) {
		err = chs_error_set(synced < 0 ? synced : CHS_ERROR, "%s", why);
		goto done;
	}
	/* a version 2 roster seals every generation to the admin key: the
	 * import takes them from it (chs_replicate__admin_import) */
	for (c = 0; c < CHS_NCOMPARTMENTS && chs_roster_version(mine) < 2; c++)
		if (chs_roster_generation(mine, c) > k->gen[c]) {
			err = chs_error_set(CHS_EINVALID, "this kit is older than organisation %s's data"
					    " keys: the roster uses generation %u of a data key and the"
					    " kit holds %u (a device was revoked after the kit was"
					    " made), so it cannot recover the organisation whole; use a"
					    " kit made after the last revocation", k->org,
					    chs_roster_generation(mine, c), k->gen[c]);
			goto done;
		}
done:
	chs_roster_free(theirs);
	chs_roster_free(mine);
	return err;
}

/* Put this store's own device on the roster: an archivist at `site`. */
static int enroll_self(chs_store *s, chs_roster *r, chs_admin_secrets *a, void *arg)
{
	return chs_roster_enroll(r, &a->kr, chs_identity_public(s->identity), arg,
				 CHS_ROLE_ARCHIVIST);
}

/* Whether this store's device is on the roster already (a recover run
 * again): only as the archivist a recover makes. A device of the
 * organisation in another role (a clinic's store) does not become its
 * admin store: that is for a new store. */
static int on_roster(chs_store *s, int *yes)
{
	const chs_roster_device *d;
	chs_roster *r = NULL;
	int err = chs_store__roster_load(s, &r, NULL);

	*yes = 0;
	if (err == 0 && (d = chs_roster_find(r, s->device_id))) {
		*yes = 1;
		if (d->role != CHS_ROLE_ARCHIVIST || d->revoked)
			err = chs_error_set(CHS_EINVALID, "this store is a device of the organisation"
					    " already (%s): recover in a new store made with"
					    " 'chartsync init'", d->revoked ? "revoked" : "not its"
					    " archivist");
	}
	chs_roster_free(r);
	return err;
}

/* Where the recovered store goes: its archive (--archive, else
 * remote.url) and its site (--site, else terminal.name), both checked
 * before anything is written. */
static int recover_where(chs_store *s, const chs_recover_opts *o, char **url, char **site)
{
	int err;

	*url = *site = NULL;
	if (!o->site)
		err = chs_config_get(s, "terminal.name", site);
	else if (!(*site = chs_util__strdup(o->site)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	else
		err = 0;
	if (err < 0 || (err = chs_site_check(*site)) < 0)
		return err;
	if (!o->archive)
		err = chs_config_get(s, "remote.url", url);
	else if (!(*url = chs_util__strdup(o->archive)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	if (err < 0)
		return err;
	if (!**url)
		return chs_error_set(CHS_EINVALID, "no archive is set for this store: give the"
				     " organisation's archive with --archive URL");
	return 0;
}

/* Step 2: the archive's roster, synced and checked against the kit;
 * the tip of the archive's roster chain into `tip`. */
static int first_sync(chs_store *s, const chs_recover_opts *o, const kit_secrets *k,
		      const char *url, char tip[41])
{
	chs_sync_report rep;
	chs_git *g = NULL;
	char *path;
	int synced, err;

	synced = chs_store_sync(s, o->sync, &rep);
	chs_sync_report_dispose(&rep);
	if (!(path = chs_util__path(s->dir, "git")))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = chs_git_open(&g, path)) == 0)
		err = check_archive_against(s, g, k, synced, url, tip);
	chs_git_free(g);
	free(path);
	return err;
}

/* Steps 2 to 4 of chs_org_recover, on the kit's secrets. */
static int recover_with(chs_store *s, const chs_buf *blob, const chs_recover_opts *o,
			chs_recover_result *res)
{
	chs_sync_report rep;
	kit_secrets k;
	char *url = NULL, *site = NULL, tip[41];
	int yes, err;

	memset(&rep, 0, sizeof(rep));
	if ((err = secrets_of(&k, blob)) < 0 || (err = recover_where(s, o, &url, &site)) < 0 ||
	    (err = pin_kit(s, &k)) < 0 || (o->archive && (err = chs_remote_set(s, url)) < 0) ||
	    (err = first_sync(s, o, &k, url, tip)) < 0)
		goto done;
	/* 3: the secrets, and this store on the roster */
	if ((err = on_roster(s, &yes)) < 0 ||
	    (err = chs_replicate__admin_import(s, blob->ptr, blob->len)) < 0 ||
	    (!yes && (err = chs_replicate__admin_edit(s, enroll_self, site)) < 0))
		goto done;
	/* 4: published, and everything this archivist reads fetched */
	if ((err = chs_store_sync(s, o->sync, &rep)) < 0) {
		err = chs_error_wrap(err, "this store holds organisation %s's admin key now, but"
				     " its roster did not reach the archive yet (run 'chartsync"
				     " sync')", k.org);
		goto done;
	}
	memcpy(res->org, k.org, 33);
	memcpy(res->device, s->device_id, 33);
	/* the roster's word (a recover run again keeps the first site) */
	free(site);
	if ((err = chs_store__device_site(s, s->device_id, &site)) < 0)
		goto done;
	snprintf(res->site, sizeof(res->site), "%s", site ? site : "");
	res->roster_seq = rep.roster_seq;
	res->batches_in = rep.batches_in;
done:
	chs_sync_report_dispose(&rep);
	free(site);
	free(url);
	return err;
}

int chs_org_recover(chs_store *s, const char *const *texts, size_t n, const char *pass,
		    size_t passlen, const chs_recover_opts *o, chs_recover_result *res)
{
	chs_recover_opts none = { NULL, NULL, NULL };
	chs_buf kit, blob;
	char org[33];
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(texts);
	CHS_ASSERT_ARG(pass);
	CHS_ASSERT_ARG(res);
	memset(res, 0, sizeof(*res));
	if (!o)
		o = &none;
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	if (!s->admin)
		return chs_error_set(CHS_EDENIED, "only an admin user of this store may recover the"
				     " organisation into it");
	chs_buf_init(&kit, 0);
	chs_buf_init_secret(&blob, 0);
	/* 1: the kit, whole, and opened: nothing is written before */
	if ((err = kit_read(texts, n, &kit, org)) == 0 &&
	    (err = kit_open(&blob, (const unsigned char *)kit.ptr, kit.len, pass, passlen)) == 0)
		err = recover_with(s, &blob, o, res);
	if (blob.ptr)
		chs_wipe(blob.ptr, blob.len);
	chs_buf_dispose(&blob);
	chs_buf_dispose(&kit);
	return err;
}
