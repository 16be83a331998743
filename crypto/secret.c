/*
 * libsodium start-up, secret memory, randomness and key derivation.
 */
#include "crypto_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

int chs_crypto_init(void)
{
	if (sodium_init() < 0)
		return chs_error_set(CHS_ERROR,
				     "cannot initialise the crypto library");
	return 0;
}

void *chs_secret_alloc(size_t len)
{
	void *p = chs_alloc__fails() ? NULL : sodium_malloc(len);

	if (p)
		sodium_memzero(p, len);
	return p;
}

void chs_secret_free(void *p)
{
	sodium_free(p); /* wipes; accepts NULL */
}

void chs_wipe(void *p, size_t len)
{
	if (p)
		sodium_memzero(p, len);
}

int chs_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

/*
 * Ids, nonces and salts are drawn often (an id for every record imported,
 * a nonce for every page the store writes), and libsodium asks the kernel
 * on every call: a getrandom() per draw was a tenth of a bulk import.
 * These need bytes nobody can predict, not bytes nobody may see, so they
 * come from a per-thread block of the kernel's randomness, refilled when
 * used up. Keys never come from here (chs_key_new asks the kernel).
 *
 * A forked child starts with a copy of its parent's block and must not
 * hand out the same bytes (a repeated nonce under the same key is the one
 * mistake an AEAD does not survive): fork moves a generation counter, and
 * a block filled before the fork is thrown away.
 */
#define POOL_BYTES 4096u

static atomic_uint fork_generation;
static pthread_once_t fork_hook_once = PTHREAD_ONCE_INIT;

static _Thread_local struct {
	unsigned char bytes[POOL_BYTES];
	size_t used;
	unsigned generation;
	int filled;
} pool;

static void after_fork_in_child(void)
{
	atomic_fetch_add(&fork_generation, 1u);
}

static void install_fork_hook(void)
{
	pthread_atfork(NULL, NULL, after_fork_in_child);
}

void chs_random(void *out, size_t len)
{
	unsigned char *o = out;
	unsigned gen;

	pthread_once(&fork_hook_once, install_fork_hook);
	gen = atomic_load(&fork_generation);
	if (!pool.filled || pool.generation != gen) {
		pool.used = POOL_BYTES; /* nothing drawn before the fork */
		pool.generation = gen;
		pool.filled = 1;
	}
	while (len > 0) {
		size_t n;

		if (pool.used == POOL_BYTES) {
			randombytes_buf(pool.bytes, POOL_BYTES);
			pool.used = 0;
		}
		n = POOL_BYTES - pool.used;
		if (n > len)
			n = len;
		memcpy(o, pool.bytes + pool.used, n);
		/* a byte handed out is not kept */
		sodium_memzero(pool.bytes + pool.used, n);
		pool.used += n;
		o += n;
		len -= n;
	}
}

unsigned char *chs_key_new(void)
{
	unsigned char *k = chs_secret_alloc(CHS_KEY_BYTES);

	if (k)
		randombytes_buf(k, CHS_KEY_BYTES);
	return k;
}

void chs_key_derive(unsigned char out[CHS_KEY_BYTES],
		    const unsigned char master[CHS_KEY_BYTES], uint64_t id,
		    const char purpose[8])
{
	char ctx[crypto_kdf_CONTEXTBYTES];

	memcpy(ctx, purpose, sizeof(ctx));
	crypto_kdf_derive_from_key(out, CHS_KEY_BYTES, id, ctx, master);
}
