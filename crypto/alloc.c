/*
 * crypto/alloc.c - the one allocator of chartsync's own code.
 *
 * Every malloc, calloc, realloc, strdup and strndup of crypto/, sync/,
 * client/ and tools/ goes through these, and so does chs_secret_alloc(),
 * so the tests can make the Nth allocation fail and walk every
 * out-of-memory path, as curl's torture tests and SQLite's test_malloc.c
 * do. The tests route SQLite's, jansson's and libgit2's allocators through
 * chs_malloc() too (tests/support/allocfault.c), so one count covers them.
 *
 * Outside a drill the cost is one relaxed atomic load per allocation.
 * The count is shared by every thread (a sync's read-ahead thread
 * allocates too), so which allocation is the Nth may vary between runs
 * of a threaded path; the promise tested is the same for each.
 */
#include "crypto_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong alloc_count;  /* allocations since the drill was set */
static atomic_ulong fail_nth;     /* 0: no drill */
static atomic_int fail_sticky;    /* every one from the Nth on fails */
static atomic_ulong fail_count;   /* allocations the drill failed */

int chs_alloc__fails(void)
{
	unsigned long nth = atomic_load_explicit(&fail_nth, memory_order_relaxed);
	unsigned long n;

	if (!nth)
		return 0;
	n = atomic_fetch_add(&alloc_count, 1) + 1;
	if (n == nth || (n > nth && atomic_load(&fail_sticky))) {
		atomic_fetch_add(&fail_count, 1);
		return 1;
	}
	return 0;
}

void chs_alloc_fail_at(unsigned long nth, int sticky)
{
	atomic_store(&fail_nth, 0);
	atomic_store(&alloc_count, 0);
	atomic_store(&fail_count, 0);
	atomic_store(&fail_sticky, sticky);
	atomic_store(&fail_nth, nth);
}

unsigned long chs_alloc_count(void)
{
	return atomic_load(&alloc_count);
}

unsigned long chs_alloc_failed(void)
{
	return atomic_load(&fail_count);
}

void *chs_malloc(size_t n)
{
	return chs_alloc__fails() ? NULL : malloc(n);
}

void *chs_calloc(size_t n, size_t size)
{
	return chs_alloc__fails() ? NULL : calloc(n, size);
}

void *chs_realloc(void *p, size_t n)
{
	return chs_alloc__fails() ? NULL : realloc(p, n);
}

char *chs_strdup(const char *s)
{
	return chs_alloc__fails() ? NULL : strdup(s);
}

char *chs_strndup(const char *s, size_t n)
{
	return chs_alloc__fails() ? NULL : strndup(s, n);
}
