/*
 * tests/support/allocfault.h - the allocation drill over the libraries too.
 *
 * chartsync's own code allocates through chs_malloc() and its family
 * (crypto/crypto.h), whose drill chs_alloc_fail_at() fails the Nth
 * allocation. tu_allocfault_init() routes SQLite's, jansson's and
 * libgit2's allocators through the same functions, so one count covers
 * ours and theirs: a test calls it first thing in main(), before anything
 * touches SQLite (sqlite3_config works only before sqlite3_initialize),
 * jansson or libgit2. libsodium's own allocations stay out: on these
 * paths it allocates only through sodium_malloc, which chs_secret_alloc()
 * already counts.
 */
#ifndef CHS_TEST_ALLOCFAULT_H
#define CHS_TEST_ALLOCFAULT_H

/* Route the libraries' allocators through chs_malloc(); the test fails
 * (abort) if SQLite was initialised already. Once per process. */
void tu_allocfault_init(void);

#endif
