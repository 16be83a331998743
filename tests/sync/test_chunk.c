/*
 * sync/chunk: attachment chunks. The same chunk under the same key seals
 * to the same bytes (so git stores it once) and opens to what was
 * sealed; a chunk altered, renamed, opened with another key or by a
 * device without the clinical key is refused; the archive's form check
 * needs no key.
 */
#include "sync/sync.h"
#include "support/testutil.h"

#include <stdlib.h>
#include <string.h>

#define SIZE (CHS_CHUNK_BYTES + 1000) /* two chunks: a full one and a part */

static unsigned char *key, *other, *bytes;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	key = chs_key_new();
	other = chs_key_new();
	bytes = malloc(SIZE);
	chs_random(bytes, SIZE);
}

static void teardown(void)
{
	chs_secret_free(key);
	chs_secret_free(other);
	free(bytes);
}

static int key_fn(int compartment, uint32_t gen, unsigned char *out, void *payload)
{
	ck_assert_int_eq(compartment, CHS_COMPARTMENT_CLINICAL);
	ck_assert_uint_eq(gen, 3);
	memcpy(out, payload, CHS_KEY_BYTES);
	return 0;
}

static int billing_fn(int compartment, uint32_t gen, unsigned char *out, void *payload)
{
	(void)compartment;
	(void)gen;
	(void)out;
	(void)payload;
	return CHS_EDENIED;
}

static chs_chunk chunk(uint32_t index)
{
	chs_chunk c;
	chs_sha256_state h;

	memset(&c, 0, sizeof(c));
	chs_sha256_init(&h);
	chs_sha256_update(&h, bytes, SIZE);
	chs_sha256_final(&h, c.sha256);
	c.size = SIZE;
	c.index = index;
	c.data = bytes + (size_t)index * CHS_CHUNK_BYTES;
	c.len = index ? SIZE - CHS_CHUNK_BYTES : CHS_CHUNK_BYTES;
	return c;
}

START_TEST(test_chunk__seals_deterministically_and_opens)
{
	char name[CHS_CHUNK_ID_HEX + 1], again[CHS_CHUNK_ID_HEX + 1];
	unsigned char *f1 = NULL, *f2 = NULL, *plain = NULL;
	size_t l1, l2;
	chs_chunk c = chunk(1), got;

	ck_assert_uint_eq(chs_chunk_count(SIZE), 2);
	ck_assert_uint_eq(chs_chunk_count(0), 0);
	ck_assert_int_eq(chs_chunk_seal(&f1, &l1, name, &c, key, 3), 0);
	ck_assert_int_eq(chs_chunk_seal(&f2, &l2, again, &c, key, 3), 0);
	ck_assert_str_eq(name, again);
	ck_assert_uint_eq(l1, l2);
	ck_assert(memcmp(f1, f2, l1) == 0);
	ck_assert_int_eq(chs_chunk_check_form(name, f1, l1, 3), 0);
	ck_assert_int_eq(chs_chunk_open(&got, &plain, name, f1, l1, key_fn, key), 0);
	ck_assert_uint_eq(got.index, 1);
	ck_assert_uint_eq(got.size, SIZE);
	ck_assert_uint_eq(got.len, c.len);
	ck_assert(memcmp(got.data, c.data, c.len) == 0);
	ck_assert(memcmp(got.sha256, c.sha256, 32) == 0);
	free(plain);
	free(f2);
	/* another key: another name, other bytes */
	ck_assert_int_eq(chs_chunk_seal(&f2, &l2, again, &c, other, 3), 0);
	ck_assert_str_ne(name, again);
	free(f2);
	free(f1);
}
END_TEST

START_TEST(test_chunk__altered_renamed_or_foreign_is_refused)
{
	char name[CHS_CHUNK_ID_HEX + 1], other_name[CHS_CHUNK_ID_HEX + 1];
	unsigned char *f = NULL, *g = NULL, *plain = NULL;
	size_t len, glen;
	chs_chunk c = chunk(0), d = chunk(1), got;

	ck_assert_int_eq(chs_chunk_seal(&f, &len, name, &c, key, 3), 0);
	ck_assert_int_eq(chs_chunk_seal(&g, &glen, other_name, &d, key, 3), 0);
	/* renamed: the name is bound in */
	ck_assert_int_eq(chs_chunk_open(&got, &plain, other_name, f, len, key_fn, key),
			 CHS_EDAMAGED);
	/* wrong key */
	ck_assert_int_eq(chs_chunk_open(&got, &plain, name, f, len, key_fn, other), CHS_EDAMAGED);
	/* a billing office holds no clinical key: denied, not damaged */
	ck_assert_int_eq(chs_chunk_open(&got, &plain, name, f, len, billing_fn, NULL),
			 CHS_EDENIED);
	/* one bit flipped */
	f[len / 2] ^= 1;
	ck_assert_int_eq(chs_chunk_open(&got, &plain, name, f, len, key_fn, key), CHS_EDAMAGED);
	ck_assert_ptr_null(plain);
	/* the form: name, generation, size */
	ck_assert_int_eq(chs_chunk_check_form("x", f, len, 3), CHS_EDAMAGED);
	ck_assert_int_eq(chs_chunk_check_form(name, f, len, 2), CHS_EDAMAGED);
	ck_assert_int_eq(chs_chunk_check_form(name, f, 20, 3), CHS_EDAMAGED);
	/* a chunk that does not fit its attachment is not sealed */
	d.len = 10;
	ck_assert_int_eq(chs_chunk_seal(&plain, &len, name, &d, key, 3), CHS_EINVALID);
	free(f);
	free(g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync-chunk");
	TCase *tc = tcase_create("chunk");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_chunk__seals_deterministically_and_opens);
	tcase_add_test(tc, test_chunk__altered_renamed_or_foreign_is_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
