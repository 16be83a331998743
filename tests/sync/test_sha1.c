/*
 * sync/git/sha1: the SHA-1 that signs off every pack chartsync writes
 * (libgit2's indexer refuses a pack whose trailer is wrong). Known answers
 * from FIPS 180-2 appendix A, the same digest however the input is cut,
 * and git's own id for a blob. sync/git/sha1.h is private to sync/git/
 * and offered to this test; nothing else here is.
 */
#include "sync/git/sha1.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(char out[2 * CHS_SHA1_BYTES + 1], const unsigned char d[CHS_SHA1_BYTES])
{
	size_t i;

	for (i = 0; i < CHS_SHA1_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void digest_of(char out[2 * CHS_SHA1_BYTES + 1], const void *data, size_t len)
{
	unsigned char d[CHS_SHA1_BYTES];
	chs_sha1_ctx s;

	chs_git__sha1_init(&s);
	chs_git__sha1_update(&s, data, len);
	chs_git__sha1_final(&s, d);
	hex(out, d);
}

START_TEST(test_sha1__fips_180_known_answers)
{
	static const char *const cases[][2] = {
		{ "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
	};
	char got[2 * CHS_SHA1_BYTES + 1];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		digest_of(got, cases[i][0], strlen(cases[i][0]));
		ck_assert_str_eq(got, cases[i][1]);
	}
}
END_TEST

START_TEST(test_sha1__a_million_a_given_in_uneven_pieces)
{
	static const size_t pieces[] = { 1, 63, 64, 65, 127, 1000 };
	unsigned char d[CHS_SHA1_BYTES];
	char got[2 * CHS_SHA1_BYTES + 1];
	char *a = malloc(1000000);
	size_t at = 0, i = 0;
	chs_sha1_ctx s;

	ck_assert_ptr_nonnull(a);
	memset(a, 'a', 1000000);
	digest_of(got, a, 1000000);
	ck_assert_str_eq(got, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	/* cut across block boundaries: the buffered tail must carry over */
	chs_git__sha1_init(&s);
	while (at < 1000000) {
		size_t n = pieces[i++ % (sizeof(pieces) / sizeof(pieces[0]))];

		n = n < 1000000 - at ? n : 1000000 - at;
		chs_git__sha1_update(&s, a + at, n);
		at += n;
	}
	chs_git__sha1_final(&s, d);
	hex(got, d);
	ck_assert_str_eq(got, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	free(a);
}
END_TEST

/* Padding differs when the last block has 55, 56 or 64 bytes left. */
START_TEST(test_sha1__the_same_id_for_a_blob_as_git_hash_object)
{
	static const size_t sizes[] = { 0, 55, 56, 63, 64, 119, 120, 1000 };
	char *dir = tu_tempdir(), *file = tu_path(dir, "blob"), *out = tu_path(dir, "id");
	unsigned char data[1000];
	char head[32], got[2 * CHS_SHA1_BYTES + 1];
	size_t i, j, len;

	for (j = 0; j < sizeof(data); j++)
		data[j] = (unsigned char)(j * 7 + 3);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char d[CHS_SHA1_BYTES], *git_id;
		chs_sha1_ctx s;
		int n = snprintf(head, sizeof(head), "blob %zu", sizes[i]);

		chs_git__sha1_init(&s);
		chs_git__sha1_update(&s, head, (size_t)n + 1); /* with its NUL */
		chs_git__sha1_update(&s, data, sizes[i]);
		chs_git__sha1_final(&s, d);
		hex(got, d);
		ck_assert_int_eq(tu_write(file, data, sizes[i]), 0);
		ck_assert_int_eq(tu_sh("git hash-object '%s' > '%s'", file, out), 0);
		git_id = tu_read(out, &len);
		ck_assert_ptr_nonnull(git_id);
		ck_assert_uint_ge(len, 2 * CHS_SHA1_BYTES);
		ck_assert_int_eq(memcmp(git_id, got, 2 * CHS_SHA1_BYTES), 0);
		free(git_id);
	}
	tu_rmtree(dir);
	free(out);
	free(file);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync-sha1");
	TCase *tc = tcase_create("sha1");

	tcase_add_test(tc, test_sha1__fips_180_known_answers);
	tcase_add_test(tc, test_sha1__a_million_a_given_in_uneven_pieces);
	tcase_add_test(tc, test_sha1__the_same_id_for_a_blob_as_git_hash_object);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
