/*
 * sync/: signed batches - sealing, shipping, verifying, proving.
 */
#include "sync/sync.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static chs_identity *ident;
static char device[33];

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	ck_assert_int_eq(chs_identity_new(&ident), 0);
	chs_identity_device_id(ident, device);
}

static void teardown(void)
{
	chs_identity_free(ident);
	ident = NULL;
}

/* An encoded update by `dev` (NULL: this device), distinct per `n`. */
static chs_change *make_change(size_t n, const char *dev)
{
	unsigned char parent[CHS_CHANGE_ID_BYTES];
	char value[32];
	chs_change *c;
	chs_buf b;

	ck_assert_int_eq(chs_change_new(&c), 0);
	c->op = CHS_OP_UPDATE;
	memset(c->record, (int)(n % 7), sizeof(c->record));
	memset(parent, 0x5a, sizeof(parent));
	ck_assert_int_eq(chs_change_add_parent(c, parent), 0);
	c->type = strdup("patient");
	c->user = strdup("ann");
	c->terminal = strdup("desk");
	memcpy(c->device, dev ? dev : device, 33);
	c->hlc = 1000 + n;
	snprintf(value, sizeof(value), "\"v%zu\"", n);
	ck_assert_int_eq(chs_change_set(c, "name", value), 0);
	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_change_encode(c, &b), 0);
	chs_buf_dispose(&b);
	return c;
}

static chs_change **make_changes(size_t n)
{
	chs_change **v = calloc(n ? n : 1, sizeof(*v));
	size_t i;

	ck_assert_ptr_nonnull(v);
	for (i = 0; i < n; i++)
		v[i] = make_change(i, NULL);
	return v;
}

static chs_batch *seal(size_t n, uint64_t seq, const unsigned char *prev)
{
	chs_change **v = make_changes(n);
	chs_batch *b = NULL;

	ck_assert_msg(chs_batch_seal(&b, ident, seq, prev, v, n) == 0, "%s",
		      chs_error_last());
	return b;
}

static void ship(const chs_batch *b, chs_buf *out)
{
	chs_buf_init(out, 0);
	ck_assert_msg(chs_batch_encode(b, out) == 0, "%s", chs_error_last());
}

static void free_changes(chs_change **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		chs_change_free(v[i]);
	free(v);
}

START_TEST(test_batch__seal_encode_decode_verify_round_trip)
{
	chs_batch *b = seal(3, 1, NULL), *d = NULL;
	unsigned char h[CHS_HASH_BYTES];
	chs_buf wire, again;
	char want[256];
	size_t i;

	ck_assert_int_eq(chs_batch_verify(b), 0);
	ck_assert_int_eq(strncmp(b->manifest, "{\"changes\":[\"", 13), 0);
	snprintf(want, sizeof(want), "],\"device\":\"%s\",\"key\":\"", device);
	ck_assert_ptr_nonnull(strstr(b->manifest, want));
	ck_assert_ptr_nonnull(strstr(b->manifest, "\"prev\":null,\"seq\":1,\"v\":1}"));
	chs_hash(h, b->manifest, b->manifest_len);
	ck_assert_mem_eq(h, b->id, sizeof(h));
	ck_assert_str_eq(b->device, device);

	ship(b, &wire);
	ck_assert_int_eq(chs_batch_decode(&d, wire.ptr, wire.len), 0);
	ck_assert_int_eq(chs_batch_verify(d), 0);
	ck_assert_mem_eq(d->id, b->id, sizeof(h));
	ck_assert_mem_eq(d->key, chs_identity_public(ident), CHS_SIGN_PK_BYTES);
	ck_assert_uint_eq(d->seq, 1);
	ck_assert_int_eq(d->has_prev, 0);
	ck_assert_uint_eq(d->nchanges, 3);
	for (i = 0; i < 3; i++)
		ck_assert_mem_eq(d->changes[i]->id, b->changes[i]->id,
				 CHS_CHANGE_ID_BYTES);
	ship(d, &again);
	ck_assert_uint_eq(again.len, wire.len);
	ck_assert_mem_eq(again.ptr, wire.ptr, wire.len);
	chs_buf_dispose(&wire);
	chs_buf_dispose(&again);
	chs_batch_free(b);
	chs_batch_free(d);
}
END_TEST

START_TEST(test_batch__chain_links_to_the_previous_batch)
{
	chs_batch *first = seal(1, 1, NULL), *second = seal(2, 2, first->id);
	chs_batch *d = NULL;
	char hex[2 * CHS_HASH_BYTES + 1], want[128];
	chs_buf wire;

	chs_hex(hex, first->id, CHS_HASH_BYTES);
	snprintf(want, sizeof(want), "\"prev\":\"%s\",\"seq\":2,", hex);
	ck_assert_ptr_nonnull(strstr(second->manifest, want));
	ship(second, &wire);
	ck_assert_int_eq(chs_batch_decode(&d, wire.ptr, wire.len), 0);
	ck_assert_int_eq(d->has_prev, 1);
	ck_assert_mem_eq(d->prev, first->id, CHS_HASH_BYTES);
	ck_assert_uint_eq(d->seq, 2);
	ck_assert_int_eq(chs_batch_verify(d), 0);
	chs_buf_dispose(&wire);
	chs_batch_free(first);
	chs_batch_free(second);
	chs_batch_free(d);
}
END_TEST

/* Every flipped byte is caught: at decode (the bytes no longer parse or
 * are not canonical) or at verify (an id or the signature no longer
 * matches). Nothing crashes. */
START_TEST(test_batch__any_flipped_byte_is_refused)
{
	chs_batch *b = seal(3, 7, NULL);
	chs_buf wire;
	size_t i, at_decode = 0, at_verify = 0;
	int bit;

	ship(b, &wire);
	for (i = 0; i < wire.len; i++) {
		for (bit = 0; bit < 8; bit += 3) {
			chs_batch *d = NULL;
			int err;

			wire.ptr[i] ^= (char)(1 << bit);
			err = chs_batch_decode(&d, wire.ptr, wire.len);
			if (err == 0) {
				err = chs_batch_verify(d);
				ck_assert_msg(err == CHS_EDAMAGED, "byte %zu bit %d "
					      "passed", i, bit);
				at_verify++;
			} else {
				ck_assert_int_eq(err, CHS_EINVALID);
				ck_assert_ptr_null(d);
				at_decode++;
			}
			chs_batch_free(d);
			wire.ptr[i] ^= (char)(1 << bit);
		}
	}
	/* Both layers did some of the catching (the signature, hex digits
	 * in the manifest, values in changes survive decode). */
	ck_assert_uint_gt(at_decode, 0);
	ck_assert_uint_gt(at_verify, 0);
	chs_buf_dispose(&wire);
	chs_batch_free(b);
}
END_TEST

START_TEST(test_batch__truncation_and_trailing_garbage_are_refused)
{
	chs_batch *b = seal(2, 1, NULL), *d = NULL;
	chs_buf wire;
	size_t len;

	ship(b, &wire);
	for (len = 0; len < wire.len; len++) {
		ck_assert_int_eq(chs_batch_decode(&d, wire.ptr, len), CHS_EINVALID);
		ck_assert_ptr_null(d);
	}
	ck_assert_int_eq(chs_buf_put(&wire, "x", 1), 0);
	ck_assert_int_eq(chs_batch_decode(&d, wire.ptr, wire.len), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "garbage"));
	chs_buf_dispose(&wire);
	chs_batch_free(b);
}
END_TEST

START_TEST(test_batch__hostile_lengths_do_not_crash)
{
	static const unsigned char huge[] = {
		'C', 'H', 'S', 'B', 1, 0xff, 0xff, 0xff, 0xff, '{'
	};
	static const unsigned char newer[] = { 'C', 'H', 'S', 'B', 2, 0, 0, 0, 0 };
	chs_batch *d = NULL;
	chs_buf wire;
	chs_batch *b = seal(1, 1, NULL);
	size_t count_at;

	ck_assert_int_eq(chs_batch_decode(&d, huge, sizeof(huge)), CHS_EINVALID);
	ck_assert_int_eq(chs_batch_decode(&d, newer, sizeof(newer)), CHS_EINVALID);
	ck_assert_int_eq(chs_batch_decode(&d, "", 0), CHS_EINVALID);
	/* A change count far beyond the limit. */
	ship(b, &wire);
	count_at = 5 + 4 + b->manifest_len + CHS_SIGNATURE_BYTES;
	wire.ptr[count_at] = (char)0x7f;
	ck_assert_int_eq(chs_batch_decode(&d, wire.ptr, wire.len), CHS_EINVALID);
	ck_assert_ptr_null(d);
	chs_buf_dispose(&wire);
	chs_batch_free(b);
}
END_TEST

START_TEST(test_batch__a_change_is_proven_against_its_manifest)
{
	chs_batch *b = seal(4, 1, NULL);
	chs_change *stranger = make_change(99, NULL), *altered;
	unsigned char badsig[CHS_SIGNATURE_BYTES];
	size_t i;

	for (i = 0; i < b->nchanges; i++)
		ck_assert_int_eq(chs_batch_prove(b->manifest, b->manifest_len,
						 b->signature, b->changes[i]), 0);
	/* Signed by this device, but not in this batch. */
	ck_assert_int_eq(chs_batch_prove(b->manifest, b->manifest_len,
					 b->signature, stranger), CHS_EDAMAGED);
	/* In the batch, but altered since. */
	ck_assert_int_eq(chs_change_dup(&altered, b->changes[2]), 0);
	ck_assert_int_eq(chs_change_set(altered, "name", "\"forged\""), 0);
	ck_assert_int_eq(chs_batch_prove(b->manifest, b->manifest_len,
					 b->signature, altered), CHS_EDAMAGED);
	/* A signature that is not the manifest's. */
	memcpy(badsig, b->signature, sizeof(badsig));
	badsig[10] ^= 1;
	ck_assert_int_eq(chs_batch_prove(b->manifest, b->manifest_len, badsig,
					 b->changes[0]), CHS_EDAMAGED);
	/* A manifest cut short. */
	ck_assert_int_eq(chs_batch_prove(b->manifest, b->manifest_len - 1,
					 b->signature, b->changes[0]),
			 CHS_EDAMAGED);
	chs_change_free(stranger);
	chs_change_free(altered);
	chs_batch_free(b);
}
END_TEST

START_TEST(test_batch__reordered_or_removed_changes_fail_verify)
{
	chs_batch *b = seal(3, 1, NULL);
	chs_change *t;

	t = b->changes[0];
	b->changes[0] = b->changes[1];
	b->changes[1] = t;
	ck_assert_int_eq(chs_batch_verify(b), CHS_EDAMAGED);
	b->changes[1] = b->changes[0];
	b->changes[0] = t;
	ck_assert_int_eq(chs_batch_verify(b), 0);
	/* One removed (kept aside to free). */
	t = b->changes[2];
	b->nchanges = 2;
	ck_assert_int_eq(chs_batch_verify(b), CHS_EDAMAGED);
	b->nchanges = 3;
	ck_assert_int_eq(chs_batch_verify(b), 0);
	/* One edited in place after sealing. */
	ck_assert_int_eq(chs_change_set(t, "name", "\"forged\""), 0);
	ck_assert_int_eq(chs_batch_verify(b), CHS_EDAMAGED);
	chs_batch_free(b);
}
END_TEST

/* What a billing office holds of a batch (some of its changes) verifies
 * when those are in the manifest's order; out of order, or a change the
 * manifest does not list, is refused and named. */
START_TEST(test_batch__a_subset_verifies_in_order_only)
{
	chs_batch *b = seal(5, 1, NULL);
	chs_change *kept[5], *t, *unlisted = NULL;
	size_t i;

	for (i = 0; i < 5; i++)
		kept[i] = b->changes[i];
	b->changes[0] = kept[1];
	b->changes[1] = kept[3];
	b->changes[2] = kept[4];
	b->nchanges = 3;
	ck_assert_int_eq(chs_batch_verify_subset(b), 0);
	t = b->changes[0];
	b->changes[0] = b->changes[2];
	b->changes[2] = t;
	ck_assert_int_eq(chs_batch_verify_subset(b), CHS_EDAMAGED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "not in the manifest's order"));
	ck_assert_int_eq(chs_change_dup(&unlisted, kept[2]), 0);
	ck_assert_int_eq(chs_change_set(unlisted, "name", "\"forged\""), 0);
	b->changes[0] = kept[1];
	b->changes[1] = unlisted;
	b->changes[2] = kept[4];
	ck_assert_int_eq(chs_batch_verify_subset(b), CHS_EDAMAGED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "does not list"));
	for (i = 0; i < 5; i++)
		b->changes[i] = kept[i];
	b->nchanges = 5;
	ck_assert_int_eq(chs_batch_verify_subset(b), 0);
	chs_batch_free(b);
	chs_change_free(unlisted);
}
END_TEST

/* Build the shipped bytes by hand, around any manifest text. */
static void frame(chs_buf *out, const char *manifest,
		  const unsigned char sig[CHS_SIGNATURE_BYTES],
		  chs_change **changes, size_t n)
{
	size_t len = strlen(manifest), i;
	unsigned char be[4];

	chs_buf_init(out, 0);
	ck_assert_int_eq(chs_buf_put(out, "CHSB\x01", 5), 0);
	be[0] = (unsigned char)(len >> 24);
	be[1] = (unsigned char)(len >> 16);
	be[2] = (unsigned char)(len >> 8);
	be[3] = (unsigned char)len;
	chs_buf_put(out, be, 4);
	chs_buf_put(out, manifest, len);
	chs_buf_put(out, sig, CHS_SIGNATURE_BYTES);
	be[0] = be[1] = be[2] = 0;
	be[3] = (unsigned char)n;
	chs_buf_put(out, be, 4);
	for (i = 0; i < n; i++) {
		chs_buf enc;

		chs_buf_init(&enc, 0);
		ck_assert_int_eq(chs_change_encode(changes[i], &enc), 0);
		be[0] = be[1] = 0;
		be[2] = (unsigned char)(enc.len >> 8);
		be[3] = (unsigned char)enc.len;
		chs_buf_put(out, be, 4);
		ck_assert_int_eq(chs_buf_put(out, enc.ptr, enc.len), 0);
		chs_buf_dispose(&enc);
	}
}

/* A manifest for one change, naming `dev`, signed by this identity. */
static char *manifest_for(const chs_change *c, const char *dev)
{
	char id[2 * CHS_CHANGE_ID_BYTES + 1], key[2 * CHS_SIGN_PK_BYTES + 1];
	chs_buf m;

	chs_hex(id, c->id, CHS_CHANGE_ID_BYTES);
	chs_hex(key, chs_identity_public(ident), CHS_SIGN_PK_BYTES);
	chs_buf_init(&m, 0);
	ck_assert_int_eq(chs_buf_printf(&m, "{\"changes\":[\"%s\"],\"device\":"
					"\"%s\",\"key\":\"%s\",\"prev\":null,"
					"\"seq\":1,\"v\":1}", id, dev, key), 0);
	return chs_buf_detach(&m);
}

static int decode_and_verify(const char *manifest, chs_change *c)
{
	unsigned char sig[CHS_SIGNATURE_BYTES];
	chs_batch *d = NULL;
	chs_buf wire;
	int err;

	chs_identity_sign(ident, sig, manifest, strlen(manifest));
	frame(&wire, manifest, sig, &c, 1);
	err = chs_batch_decode(&d, wire.ptr, wire.len);
	ck_assert_msg(err == 0, "%s", chs_error_last());
	err = chs_batch_verify(d);
	chs_batch_free(d);
	chs_buf_dispose(&wire);
	return err;
}

START_TEST(test_batch__device_id_not_matching_key_fails)
{
	const char *other = "ffeeddccbbaa99887766554433221100";
	chs_change *mine = make_change(1, NULL), *theirs = make_change(2, other);
	char *good = manifest_for(mine, device);
	char *lying = manifest_for(theirs, other);

	/* The frame built by hand is right: it verifies. */
	ck_assert_int_eq(decode_and_verify(good, mine), 0);
	/* A device claiming another device's id, signing with its own key. */
	ck_assert_int_eq(decode_and_verify(lying, theirs), CHS_EDAMAGED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "does not match"));
	free(good);
	free(lying);
	chs_change_free(mine);
	chs_change_free(theirs);
}
END_TEST

START_TEST(test_batch__a_change_of_another_device_fails)
{
	const char *other = "ffeeddccbbaa99887766554433221100";
	chs_change *theirs = make_change(2, other);
	char *m = manifest_for(theirs, device);
	chs_change **v = calloc(1, sizeof(*v));
	chs_batch *b = NULL;

	/* Hand-made: a correct signature over someone else's change. */
	ck_assert_int_eq(decode_and_verify(m, theirs), CHS_EDAMAGED);
	ck_assert_int_eq(chs_batch_prove(m, strlen(m), (unsigned char[64]){ 0 },
					 theirs), CHS_EDAMAGED);
	/* And seal will not make one. */
	v[0] = theirs;
	ck_assert_int_eq(chs_batch_seal(&b, ident, 1, NULL, v, 1), CHS_EINVALID);
	ck_assert_ptr_null(b);
	free_changes(v, 1);
	free(m);
}
END_TEST

START_TEST(test_batch__manifest_not_canonical_is_refused)
{
	chs_change *c = make_change(1, NULL);
	char *good = manifest_for(c, device);
	char *spaced = malloc(strlen(good) + 2);
	unsigned char sig[CHS_SIGNATURE_BYTES];
	chs_batch *d = NULL;
	chs_buf wire;

	/* A signed manifest with a space: valid JSON, but not the canonical
	 * bytes, so refused. */
	spaced[0] = '{';
	spaced[1] = ' ';
	memcpy(spaced + 2, good + 1, strlen(good));
	chs_identity_sign(ident, sig, spaced, strlen(spaced));
	frame(&wire, spaced, sig, &c, 1);
	ck_assert_int_eq(chs_batch_decode(&d, wire.ptr, wire.len), CHS_EINVALID);
	ck_assert_int_eq(chs_batch_prove(spaced, strlen(spaced), sig, c),
			 CHS_EDAMAGED);
	chs_buf_dispose(&wire);
	free(spaced);
	free(good);
	chs_change_free(c);
}
END_TEST

START_TEST(test_batch__seal_refuses_bad_batches)
{
	chs_change **v = make_changes(3);
	chs_batch *b = NULL;

	ck_assert_int_eq(chs_batch_seal(&b, ident, 0, NULL, v, 3), CHS_EINVALID);
	/* Modified after encoding: its id is stale. */
	chs_change_set(v[1], "name", "\"changed\"");
	ck_assert_int_eq(chs_batch_seal(&b, ident, 1, NULL, v, 3), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "encode"));
	chs_change_free(v[1]);
	/* The same change twice. */
	v[1] = make_change(0, NULL);
	ck_assert_int_eq(chs_batch_seal(&b, ident, 1, NULL, v, 3), CHS_EINVALID);
	ck_assert_ptr_null(b);
	free_changes(v, 3);
}
END_TEST

START_TEST(test_batch__holds_at_most_the_limit)
{
	size_t n = CHS_BATCH_MAX_CHANGES;
	chs_change **v = make_changes(n + 1);
	chs_batch *b = NULL, *d = NULL;
	chs_buf wire;

	ck_assert_int_eq(chs_batch_seal(&b, ident, 1, NULL, v, n + 1),
			 CHS_EINVALID);
	chs_change_free(v[n]);
	ck_assert_int_eq(chs_batch_seal(&b, ident, 1, NULL, v, n), 0);
	ship(b, &wire);
	ck_assert_int_eq(chs_batch_decode(&d, wire.ptr, wire.len), 0);
	ck_assert_int_eq(chs_batch_verify(d), 0);
	chs_buf_dispose(&wire);
	chs_batch_free(b);
	chs_batch_free(d);
}
END_TEST

START_TEST(test_batch__empty_batch_round_trips)
{
	chs_batch *b = NULL, *d = NULL;
	chs_buf wire;

	ck_assert_int_eq(chs_batch_seal(&b, ident, 1, NULL, NULL, 0), 0);
	ck_assert_int_eq(chs_batch_verify(b), 0);
	ship(b, &wire);
	ck_assert_int_eq(chs_batch_decode(&d, wire.ptr, wire.len), 0);
	ck_assert_int_eq(chs_batch_verify(d), 0);
	chs_buf_dispose(&wire);
	chs_batch_free(b);
	chs_batch_free(d);
	chs_batch_free(NULL);
}
END_TEST

START_TEST(test_batch__rebuilt_from_stored_manifest_verifies)
{
	chs_batch *b = seal(3, 4, NULL), *r = NULL;
	chs_buf a, c;
	size_t i;

	ck_assert_int_eq(chs_batch_from_manifest(&r, b->manifest,
						 b->manifest_len, b->signature), 0);
	ck_assert_uint_eq(r->nchanges, 0);
	ck_assert_mem_eq(r->id, b->id, CHS_HASH_BYTES);
	ck_assert_uint_eq(r->seq, 4);
	ck_assert_str_eq(r->device, device);
	/* The caller fills the changes in, in manifest order. */
	r->changes = calloc(3, sizeof(*r->changes));
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(chs_change_dup(&r->changes[i], b->changes[i]), 0);
		r->nchanges++;
	}
	ck_assert_int_eq(chs_batch_verify(r), 0);
	ship(b, &a);
	ship(r, &c);
	ck_assert_uint_eq(a.len, c.len);
	ck_assert_mem_eq(a.ptr, c.ptr, a.len);
	chs_buf_dispose(&a);
	chs_buf_dispose(&c);
	chs_batch_free(r);
	r = NULL;
	ck_assert_int_eq(chs_batch_from_manifest(&r, b->manifest,
						 b->manifest_len - 1, b->signature),
			 CHS_EINVALID);
	ck_assert_ptr_null(r);
	chs_batch_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync_batch");
	TCase *tc = tcase_create("batch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_batch__seal_encode_decode_verify_round_trip);
	tcase_add_test(tc, test_batch__chain_links_to_the_previous_batch);
	tcase_add_test(tc, test_batch__any_flipped_byte_is_refused);
	tcase_add_test(tc, test_batch__truncation_and_trailing_garbage_are_refused);
	tcase_add_test(tc, test_batch__hostile_lengths_do_not_crash);
	tcase_add_test(tc, test_batch__a_change_is_proven_against_its_manifest);
	tcase_add_test(tc, test_batch__reordered_or_removed_changes_fail_verify);
	tcase_add_test(tc, test_batch__a_subset_verifies_in_order_only);
	tcase_add_test(tc, test_batch__device_id_not_matching_key_fails);
	tcase_add_test(tc, test_batch__a_change_of_another_device_fails);
	tcase_add_test(tc, test_batch__manifest_not_canonical_is_refused);
	tcase_add_test(tc, test_batch__seal_refuses_bad_batches);
	tcase_add_test(tc, test_batch__holds_at_most_the_limit);
	tcase_add_test(tc, test_batch__empty_batch_round_trips);
	tcase_add_test(tc, test_batch__rebuilt_from_stored_manifest_verifies);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
