/*
 * crypto/share: Shamir's secret sharing through libgfshare. Any K of N
 * shares rebuild the secret; K-1 do not; each split draws new random
 * coefficients; the limits are refused as input.
 */
#include "crypto/crypto.h"
#include "support/testutil.h"

#include <stdlib.h>
#include <string.h>

#define LEN 100u

static unsigned char secret[LEN];

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	chs_random(secret, sizeof(secret));
}


static void combine(unsigned char *out, const unsigned char *shares, const unsigned char *nrs,
		    unsigned k)
{
	const unsigned char *p[CHS_SHARES_MAX];
	unsigned i;

	for (i = 0; i < k; i++)
		p[i] = shares + (size_t)(nrs[i] - 1) * LEN;
	ck_assert_int_eq(chs_share_combine(out, LEN, nrs, p, k), 0);
}

START_TEST(test_share__any_k_of_n_rebuild_the_secret)
{
	unsigned char shares[5 * LEN], out[LEN], nrs[3];
	unsigned a, b, c, tried = 0;

	ck_assert_int_eq(chs_share_split(shares, secret, LEN, 3, 5), 0);
	for (a = 1; a <= 5; a++)
		for (b = a + 1; b <= 5; b++)
			for (c = b + 1; c <= 5; c++) {
				/* in any order */
				nrs[0] = (unsigned char)c;
				nrs[1] = (unsigned char)a;
				nrs[2] = (unsigned char)b;
				memset(out, 0, sizeof(out));
				combine(out, shares, nrs, 3);
				ck_assert_mem_eq(out, secret, LEN);
				tried++;
			}
	ck_assert_uint_eq(tried, 10);
	/* a share is not the secret, nor a part of it in the clear */
	for (a = 0; a < 5; a++)
		ck_assert(memcmp(shares + a * LEN, secret, LEN) != 0);
}
END_TEST

START_TEST(test_share__k_minus_one_shares_give_something_else)
{
	unsigned char shares[3 * LEN], out[LEN], nrs[2];
	unsigned a, b;

	ck_assert_int_eq(chs_share_split(shares, secret, LEN, 3, 3), 0);
	for (a = 1; a <= 3; a++)
		for (b = a + 1; b <= 3; b++) {
			nrs[0] = (unsigned char)a;
			nrs[1] = (unsigned char)b;
			combine(out, shares, nrs, 2);
			ck_assert(memcmp(out, secret, LEN) != 0);
		}
}
END_TEST

START_TEST(test_share__each_split_draws_new_coefficients)
{
	unsigned char one[2 * LEN], two[2 * LEN];

	ck_assert_int_eq(chs_share_split(one, secret, LEN, 2, 2), 0);
	ck_assert_int_eq(chs_share_split(two, secret, LEN, 2, 2), 0);
	/* the same secret, different shares: a share of one split says
	 * nothing about a share of another */
	ck_assert(memcmp(one, two, LEN) != 0);
	ck_assert(memcmp(one + LEN, two + LEN, LEN) != 0);
}
END_TEST

/* Known answer: with every coefficient 0 each share is the secret, so
 * shares 1 and 2 both "abc" combine to "abc". Run in a process that
 * never split (libgfshare frees a context through its fill function,
 * which crypto must have set by then). */
START_TEST(test_share__combining_alone_needs_no_split_first)
{
	const unsigned char *p[2] = { (const unsigned char *)"abc", (const unsigned char *)"abc" };
	unsigned char nrs[2] = { 1, 2 }, out[3];

	ck_assert_int_eq(chs_share_combine(out, 3, nrs, p, 2), 0);
	ck_assert_mem_eq(out, "abc", 3);
}
END_TEST

START_TEST(test_share__limits_are_refused_as_input)
{
	unsigned char out[256 * 4], nrs[2] = { 1, 1 };
	const unsigned char *p[2] = { out, out };

	ck_assert_int_eq(chs_share_split(out, secret, 4, 1, 3), CHS_EINVALID);
	ck_assert_int_eq(chs_share_split(out, secret, 4, 4, 3), CHS_EINVALID);
	ck_assert_int_eq(chs_share_split(out, secret, 4, 2, 256), CHS_EINVALID);
	ck_assert_int_eq(chs_share_split(out, secret, 0, 2, 3), CHS_EINVALID);
	ck_assert_int_eq(chs_share_split(out, secret, 4, 255, 255), 0);
	ck_assert_int_eq(chs_share_combine(out, 4, nrs, p, 2), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "twice"));
	nrs[0] = 0;
	ck_assert_int_eq(chs_share_combine(out, 4, nrs, p, 2), CHS_EINVALID);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto-share");
	TCase *tc = tcase_create("share");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_share__any_k_of_n_rebuild_the_secret);
	tcase_add_test(tc, test_share__k_minus_one_shares_give_something_else);
	tcase_add_test(tc, test_share__each_split_draws_new_coefficients);
	tcase_add_test(tc, test_share__combining_alone_needs_no_split_first);
	tcase_add_test(tc, test_share__limits_are_refused_as_input);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
