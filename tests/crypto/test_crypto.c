/*
 * crypto/: known-answer vectors for the primitives, and the behaviour of
 * key slots, identities and envelopes.
 */
#include "crypto/crypto.h"
#include "support/testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void unhex_ok(void *out, size_t len, const char *hex)
{
	ck_assert_int_eq(chs_unhex(out, len, hex), 0);
}

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
}

/* ---- BLAKE2b-256 (RFC 7693 parameters, 32-byte output) ---- */

START_TEST(test_hash__known_answers)
{
	unsigned char h[CHS_HASH_BYTES];
	char hex[2 * CHS_HASH_BYTES + 1];
	chs_hash_state st;

	chs_hash(h, "", 0);
	chs_hex(hex, h, sizeof(h));
	ck_assert_str_eq(hex, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
	chs_hash(h, "abc", 3);
	chs_hex(hex, h, sizeof(h));
	ck_assert_str_eq(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
	chs_hash_init(&st);
	chs_hash_update(&st, "a", 1);
	chs_hash_update(&st, "bc", 2);
	chs_hash_final(&st, h);
	chs_hex(hex, h, sizeof(h));
	ck_assert_str_eq(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}
END_TEST

START_TEST(test_hex__rejects_malformed)
{
	unsigned char b[2];

	ck_assert_int_eq(chs_unhex(b, 2, "0aFf"), 0);
	ck_assert_int_eq(b[0], 0x0a);
	ck_assert_int_eq(b[1], 0xff);
	ck_assert_int_eq(chs_unhex(b, 2, "0a"), CHS_EINVALID);
	ck_assert_int_eq(chs_unhex(b, 2, "0aff00"), CHS_EINVALID);
	ck_assert_int_eq(chs_unhex(b, 2, "0g00"), CHS_EINVALID);
}
END_TEST

/* ---- XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03, A.3.1 ---- */

static const char xc_key[] = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
static const char xc_nonce[] = "404142434445464748494a4b4c4d4e4f5051525354555657";
static const char xc_ad[] = "50515253c0c1c2c3c4c5c6c7";
static const char xc_pt[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
			    "only one tip for the future, sunscreen would be it.";
static const char xc_ct[] =
	"bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
	"731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
	"2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
	"21f9664c97637da9768812f615c68b13b52e";
static const char xc_tag[] = "c0875924c1c7987947deafd8780acf49";

START_TEST(test_aead__known_answer_opens)
{
	unsigned char key[32], ad[12], sealed[24 + 114 + 16], out[114];

	ck_assert_uint_eq(strlen(xc_pt), 114);
	unhex_ok(key, 32, xc_key);
	unhex_ok(ad, 12, xc_ad);
	unhex_ok(sealed, 24, xc_nonce);
	unhex_ok(sealed + 24, 114, xc_ct);
	unhex_ok(sealed + 24 + 114, 16, xc_tag);
	ck_assert_int_eq(chs_aead_open(out, sealed, sizeof(sealed), ad, 12, key), 0);
	ck_assert_mem_eq(out, xc_pt, 114);
	/* A different associated data, or one flipped bit, refuses. */
	ad[0] ^= 1;
	ck_assert_int_eq(chs_aead_open(out, sealed, sizeof(sealed), ad, 12, key),
			 CHS_EDAMAGED);
	ad[0] ^= 1;
	sealed[60] ^= 0x10;
	ck_assert_int_eq(chs_aead_open(out, sealed, sizeof(sealed), ad, 12, key),
			 CHS_EDAMAGED);
}
END_TEST

START_TEST(test_aead__round_trip_uses_fresh_nonces)
{
	unsigned char *key = chs_key_new();
	unsigned char a[5 + CHS_AEAD_OVERHEAD], b[5 + CHS_AEAD_OVERHEAD], out[5];

	chs_aead_seal(a, "hello", 5, "ad", 2, key);
	chs_aead_seal(b, "hello", 5, "ad", 2, key);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	ck_assert_int_eq(chs_aead_open(out, a, sizeof(a), "ad", 2, key), 0);
	ck_assert_mem_eq(out, "hello", 5);
	ck_assert_int_eq(chs_aead_open(out, a, 10, "ad", 2, key), CHS_EDAMAGED);
	chs_secret_free(key);
}
END_TEST

/* ---- Ed25519: RFC 8032, 7.1, test 1 ---- */

/* Random bytes come from a per-thread block; a forked child must not
 * hand out the bytes its parent hands out next (two processes sealing
 * pages under one key with the same nonce). */
START_TEST(test_random__fork_child_draws_other_bytes)
{
	unsigned char first[8], mine[32], childs[32];
	int fds[2], status;
	pid_t pid;

	chs_random(first, sizeof(first)); /* the block is filled now */
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		chs_random(childs, sizeof(childs));
		_exit(write(fds[1], childs, sizeof(childs)) == (ssize_t)sizeof(childs) ? 0 : 1);
	}
	close(fds[1]);
	chs_random(mine, sizeof(mine));
	ck_assert_int_eq(read(fds[0], childs, sizeof(childs)), (ssize_t)sizeof(childs));
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(memcmp(mine, childs, sizeof(mine)) != 0);
}
END_TEST

/* Draws larger than the block, and many small ones, never repeat. */
START_TEST(test_random__draws_do_not_repeat)
{
	static unsigned char big[3 * 4096 + 7];
	unsigned char a[24], b[24];
	int i;

	chs_random(big, sizeof(big));
	ck_assert(memcmp(big, big + 4096, 4096) != 0);
	ck_assert(memcmp(big + 4096, big + 8192, 4096) != 0);
	for (i = 0; i < 1000; i++) {
		chs_random(a, sizeof(a));
		chs_random(b, sizeof(b));
		ck_assert(memcmp(a, b, sizeof(a)) != 0);
	}
}
END_TEST

START_TEST(test_identity__rfc8032_vector)
{
	unsigned char seed_pk[64], sig[64], want[64];
	chs_identity *id = NULL;

	unhex_ok(seed_pk, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
	unhex_ok(seed_pk + 32, 32, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
	unhex_ok(want, 64, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
			   "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
	ck_assert_int_eq(chs_identity_from_secret(&id, seed_pk), 0);
	ck_assert_mem_eq(chs_identity_public(id), seed_pk + 32, 32);
	chs_identity_sign(id, sig, "", 0);
	ck_assert_mem_eq(sig, want, 64);
	ck_assert_int_eq(chs_sign_verify(seed_pk + 32, sig, "", 0), 0);
	sig[10] ^= 1;
	ck_assert_int_eq(chs_sign_verify(seed_pk + 32, sig, "", 0), CHS_EDAMAGED);
	chs_identity_free(id);
}
END_TEST

START_TEST(test_identity__refuses_mismatched_public_half)
{
	unsigned char sk[64];
	chs_identity *id = NULL, *other = NULL;

	ck_assert_int_eq(chs_identity_new(&id), 0);
	memcpy(sk, chs_identity_secret(id), 64);
	sk[40] ^= 1; /* the stored public half no longer matches the seed */
	ck_assert_int_eq(chs_identity_from_secret(&other, sk), CHS_EDAMAGED);
	ck_assert_ptr_null(other);
	chs_identity_free(id);
}
END_TEST

START_TEST(test_identity__device_id_is_stable_hex)
{
	chs_identity *id = NULL, *again = NULL;
	char a[33], b[33];

	ck_assert_int_eq(chs_identity_new(&id), 0);
	ck_assert_int_eq(chs_identity_from_secret(&again, chs_identity_secret(id)), 0);
	chs_identity_device_id(id, a);
	chs_identity_device_id(again, b);
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(strlen(a), 32);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 32);
	chs_identity_free(id);
	chs_identity_free(again);
}
END_TEST

/* ---- Sealed envelopes ---- */

START_TEST(test_seal__only_the_device_opens)
{
	chs_identity *dev = NULL, *other = NULL;
	unsigned char box_pk[32], from_sign[32];
	unsigned char sealed[32 + CHS_SEAL_OVERHEAD], out[32];
	unsigned char *data_key = chs_key_new();

	ck_assert_int_eq(chs_identity_new(&dev), 0);
	ck_assert_int_eq(chs_identity_new(&other), 0);
	chs_identity_box_public(dev, box_pk);
	/* The X25519 key is derivable from the public signing key alone, so a
	 * roster entry needs to carry only the Ed25519 key. */
	ck_assert_int_eq(chs_sign_pk_to_box(from_sign, chs_identity_public(dev)), 0);
	ck_assert_mem_eq(box_pk, from_sign, 32);
	ck_assert_int_eq(chs_seal(sealed, data_key, 32, box_pk), 0);
	ck_assert_int_eq(chs_identity_unseal(dev, out, sealed, sizeof(sealed)), 0);
	ck_assert_mem_eq(out, data_key, 32);
	ck_assert_int_eq(chs_identity_unseal(other, out, sealed, sizeof(sealed)),
			 CHS_EDAMAGED);
	sealed[50] ^= 4;
	ck_assert_int_eq(chs_identity_unseal(dev, out, sealed, sizeof(sealed)),
			 CHS_EDAMAGED);
	chs_secret_free(data_key);
	chs_identity_free(dev);
	chs_identity_free(other);
}
END_TEST

/* ---- Key slots ---- */

static chs_kdf_params fast_kdf(void)
{
	chs_kdf_params p;

	chs_kdf_params_minimum(&p);
	return p;
}

START_TEST(test_slot__unwraps_with_the_right_passphrase_only)
{
	unsigned char *key = chs_key_new(), *out = chs_secret_alloc(32);
	chs_kdf_params kdf = fast_kdf();
	chs_slot slot;

	ck_assert_int_eq(chs_slot_wrap(&slot, key, "store1", "alice", "pw", 2, &kdf), 0);
	ck_assert_int_eq(chs_slot_unwrap(out, &slot, "store1", "alice", "pw", 2), 0);
	ck_assert_mem_eq(out, key, 32);
	ck_assert_int_eq(chs_slot_unwrap(out, &slot, "store1", "alice", "pW", 2), CHS_EAUTH);
	/* The same slot under another user's name or store does not open. */
	ck_assert_int_eq(chs_slot_unwrap(out, &slot, "store1", "bob", "pw", 2), CHS_EAUTH);
	ck_assert_int_eq(chs_slot_unwrap(out, &slot, "store2", "alice", "pw", 2), CHS_EAUTH);
	ck_assert_str_eq(chs_error_last(), "wrong user or passphrase");
	chs_secret_free(key);
	chs_secret_free(out);
}
END_TEST

START_TEST(test_slot__parameters_travel_with_the_slot)
{
	unsigned char *key = chs_key_new(), *out = chs_secret_alloc(32);
	chs_kdf_params weak = fast_kdf(), strong = fast_kdf();
	chs_slot a, b;

	strong.ops = weak.ops + 2;
	strong.mem = weak.mem * 4;
	ck_assert_int_eq(chs_slot_wrap(&a, key, "s", "u", "pw", 2, &weak), 0);
	ck_assert_int_eq(chs_slot_wrap(&b, key, "s", "u", "pw", 2, &strong), 0);
	ck_assert_int_eq(chs_slot_unwrap(out, &a, "s", "u", "pw", 2), 0);
	ck_assert_int_eq(chs_slot_unwrap(out, &b, "s", "u", "pw", 2), 0);
	ck_assert(memcmp(a.salt, b.salt, sizeof(a.salt)) != 0);
	/* Parameters altered in the file: the derived key differs. */
	b.kdf.ops++;
	ck_assert_int_eq(chs_slot_unwrap(out, &b, "s", "u", "pw", 2), CHS_EAUTH);
	/* Absurd parameters are refused before any work is done: memory
	 * past 4 GiB, or passes that would keep the store shut for hours. */
	b.kdf.mem = UINT64_MAX;
	ck_assert_int_eq(chs_slot_unwrap(out, &b, "s", "u", "pw", 2), CHS_EINVALID);
	b.kdf = weak;
	b.kdf.ops = CHS_KDF_OPS_MAX + 1;
	ck_assert_int_eq(chs_slot_unwrap(out, &b, "s", "u", "pw", 2), CHS_EINVALID);
	b.kdf.ops = UINT32_MAX;
	ck_assert_int_eq(chs_slot_unwrap(out, &b, "s", "u", "pw", 2), CHS_EINVALID);
	chs_secret_free(key);
	chs_secret_free(out);
}
END_TEST

/* ---- Errors and buffers ---- */

START_TEST(test_error__wrap_prefixes_context)
{
	ck_assert_int_eq(chs_error_set(CHS_EIO, "disk full"), CHS_EIO);
	ck_assert_int_eq(chs_error_wrap(CHS_EIO, "saving '%s'", "x"), CHS_EIO);
	ck_assert_str_eq(chs_error_last(), "saving 'x': disk full");
	ck_assert_int_eq(chs_error_last_code(), CHS_EIO);
	chs_error_clear();
	ck_assert_str_eq(chs_error_last(), "");
}
END_TEST

START_TEST(test_buf__stops_at_its_ceiling)
{
	chs_buf b;
	char *s;

	chs_buf_init(&b, 8);
	ck_assert_int_eq(chs_buf_puts(&b, "abc"), 0);
	ck_assert_int_eq(chs_buf_printf(&b, "%d", 42), 0);
	ck_assert_str_eq(b.ptr, "abc42");
	ck_assert_int_eq(chs_buf_puts(&b, "toolong"), CHS_EINVALID);
	ck_assert_ptr_null(b.ptr); /* freed on failure */
	ck_assert_int_eq(chs_buf_puts(&b, "ok"), 0);
	s = chs_buf_detach(&b);
	ck_assert_str_eq(s, "ok");
	free(s);
}
END_TEST

START_TEST(test_array__grows_and_keeps_contents)
{
	int *a = NULL, *before;
	size_t cap = 0, i;

	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(CHS_ARRAY_GROW(a, cap, i + 1), 0);
		ck_assert_uint_ge(cap, i + 1);
		a[i] = (int)i;
	}
	/* geometric: 8 doubled up to 1024, not one element at a time */
	ck_assert_uint_eq(cap, 1024);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(a[i], (int)i);
	/* room enough: nothing moves */
	before = a;
	ck_assert_int_eq(CHS_ARRAY_GROW(a, cap, 1024), 0);
	ck_assert_ptr_eq(a, before);
	ck_assert_uint_eq(cap, 1024);
	free(a);
}
END_TEST

START_TEST(test_array__refuses_an_overflowing_size_untouched)
{
	int *a = NULL, *before;
	size_t cap = 0;

	ck_assert_int_eq(CHS_ARRAY_GROW(a, cap, 3), 0);
	a[0] = 7;
	a[2] = 9;
	before = a;
	/* need * sizeof(int) wraps around size_t */
	ck_assert_int_eq(CHS_ARRAY_GROW(a, cap, SIZE_MAX / 2 + 1), CHS_ENOMEM);
	ck_assert_ptr_eq(a, before);
	ck_assert_uint_eq(cap, 8);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "out of memory"));
	/* fits in size_t but not under the ceiling */
	ck_assert_int_eq(CHS_ARRAY_GROW(a, cap, CHS_ARRAY_MAX / sizeof(int) + 1), CHS_ENOMEM);
	ck_assert_ptr_eq(a, before);
	ck_assert_uint_eq(cap, 8);
	ck_assert_int_eq(a[0], 7);
	ck_assert_int_eq(a[2], 9);
	free(a);
}
END_TEST

static Suite *crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc = tcase_create("primitives");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_hash__known_answers);
	tcase_add_test(tc, test_hex__rejects_malformed);
	tcase_add_test(tc, test_aead__known_answer_opens);
	tcase_add_test(tc, test_aead__round_trip_uses_fresh_nonces);
	tcase_add_test(tc, test_random__fork_child_draws_other_bytes);
	tcase_add_test(tc, test_random__draws_do_not_repeat);
	tcase_add_test(tc, test_identity__rfc8032_vector);
	tcase_add_test(tc, test_identity__refuses_mismatched_public_half);
	tcase_add_test(tc, test_identity__device_id_is_stable_hex);
	tcase_add_test(tc, test_seal__only_the_device_opens);
	tcase_add_test(tc, test_slot__unwraps_with_the_right_passphrase_only);
	tcase_add_test(tc, test_slot__parameters_travel_with_the_slot);
	tcase_add_test(tc, test_error__wrap_prefixes_context);
	tcase_add_test(tc, test_buf__stops_at_its_ceiling);
	tcase_add_test(tc, test_array__grows_and_keeps_contents);
	tcase_add_test(tc, test_array__refuses_an_overflowing_size_untouched);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(crypto_suite());
}
