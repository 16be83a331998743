/*
 * Shamir's secret sharing, through libgfshare: a secret split into N
 * shares of which any K rebuild it and K-1 tell nothing about it.
 *
 * libgfshare (Debian's libgfshare-dev) is the well-kept implementation of
 * the scheme in GF(2^8): each byte of the secret is the constant term of
 * its own random polynomial of degree K-1, and share x holds every
 * polynomial's value at x. A share is as long as the secret. It is not
 * written here: it is the kind of code that is easy to get subtly wrong.
 *
 * The polynomials' coefficients come from libgfshare's fill function,
 * which it leaves NULL (its own fallback uses random()): it is set once
 * to libsodium's randombytes_buf, before any context is made, since
 * gfshare_ctx_free() calls it too (it scrambles the context before
 * freeing it): a process that only combines would call NULL. Share numbers are 1..N, the x of each
 * share (0 would be the secret itself).
 */
#include "crypto_int.h"

#include <libgfshare.h>
#include <pthread.h>
#include <string.h>

static pthread_once_t rand_once = PTHREAD_ONCE_INIT;

static void fill_rand(unsigned char *buf, unsigned int len)
{
	randombytes_buf(buf, len);
}

static void set_rand(void)
{
	gfshare_fill_rand = fill_rand;
}

static int check_sizes(size_t len, unsigned k, unsigned n)
{
	if (len == 0 || len > CHS_SHARE_SECRET_MAX)
		return chs_error_set(CHS_EINVALID, "a secret to share must be 1 to %u bytes",
				     (unsigned)CHS_SHARE_SECRET_MAX);
	if (k < 2 || k > n || n > CHS_SHARES_MAX)
		return chs_error_set(CHS_EINVALID, "shares: need 2 <= threshold (%u) <="
				     " shares (%u) <= %u", k, n, (unsigned)CHS_SHARES_MAX);
	return 0;
}

int chs_share_split(unsigned char *out, const void *secret, size_t len, unsigned k,
		    unsigned n)
{
	unsigned char nrs[CHS_SHARES_MAX], *copy = NULL;
	gfshare_ctx *ctx = NULL;
	unsigned i;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(secret);
	if ((err = check_sizes(len, k, n)) < 0 || (err = chs_crypto_init()) < 0)
		return err;
	pthread_once(&rand_once, set_rand);
	for (i = 0; i < n; i++)
		nrs[i] = (unsigned char)(i + 1);
	/* libgfshare takes the secret as non-const: hand it a copy */
	if (!(copy = chs_secret_alloc(len)) ||
	    !(ctx = gfshare_ctx_init_enc(nrs, n, (unsigned char)k, (unsigned)len))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(copy, secret, len);
	gfshare_ctx_enc_setsecret(ctx, copy);
	for (i = 0; i < n; i++)
		gfshare_ctx_enc_getshare(ctx, (unsigned char)i, out + (size_t)i * len);
done:
	if (ctx)
		gfshare_ctx_free(ctx);
	chs_secret_free(copy);
	return err;
}

int chs_share_combine(void *secret, size_t len, const unsigned char *nrs,
		      const unsigned char *const *shares, unsigned k)
{
	unsigned char x[CHS_SHARES_MAX];
	gfshare_ctx *ctx = NULL;
	unsigned i, j;

	CHS_ASSERT_ARG(secret);
	CHS_ASSERT_ARG(nrs);
	CHS_ASSERT_ARG(shares);
	if (len == 0 || len > CHS_SHARE_SECRET_MAX || k < 1 || k > CHS_SHARES_MAX)
		return chs_error_set(CHS_EINVALID, "cannot combine %u shares of %zu bytes", k, len);
	for (i = 0; i < k; i++) {
		if (nrs[i] == 0)
			return chs_error_set(CHS_EINVALID, "share number 0 does not exist (1 to %u)",
					     (unsigned)CHS_SHARES_MAX);
		for (j = 0; j < i; j++)
			if (nrs[j] == nrs[i])
				return chs_error_set(CHS_EINVALID, "share %u was given twice",
						     nrs[i]);
		x[i] = nrs[i];
	}
	pthread_once(&rand_once, set_rand);
	if (!(ctx = gfshare_ctx_init_dec(x, k, (unsigned)len)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < k; i++)
		gfshare_ctx_dec_giveshare(ctx, (unsigned char)i, (unsigned char *)shares[i]);
	gfshare_ctx_dec_extract(ctx, secret);
	gfshare_ctx_free(ctx);
	return 0;
}
