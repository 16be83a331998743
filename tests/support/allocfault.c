/*
 * The libraries' allocators routed through chartsync's drill.
 */
#include "support/allocfault.h"
#include "crypto/crypto.h"

#include <git2.h>
#include <git2/sys/alloc.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQLite asks the size of what it allocated (xSize), so each block
 * carries it in a header; 16 bytes keeps the block as aligned as
 * malloc's. */
#define HEADER 16

static void *sql_malloc(int n)
{
	unsigned char *p;

	if (n <= 0)
		return NULL;
	if (!(p = chs_malloc((size_t)n + HEADER)))
		return NULL;
	memcpy(p, &(size_t){ (size_t)n }, sizeof(size_t));
	return p + HEADER;
}

static void sql_free(void *p)
{
	if (p)
		free((unsigned char *)p - HEADER);
}

static int sql_size(void *p)
{
	size_t n;

	if (!p)
		return 0;
	memcpy(&n, (unsigned char *)p - HEADER, sizeof(n));
	return (int)n;
}

static void *sql_realloc(void *p, int n)
{
	unsigned char *q;

	if (!p)
		return sql_malloc(n);
	if (n <= 0)
		return NULL;
	if (!(q = chs_realloc((unsigned char *)p - HEADER, (size_t)n + HEADER)))
		return NULL;
	memcpy(q, &(size_t){ (size_t)n }, sizeof(size_t));
	return q + HEADER;
}

static int sql_roundup(int n)
{
	return (n + 7) & ~7;
}

static int sql_init(void *unused)
{
	(void)unused;
	return SQLITE_OK;
}

static void sql_shutdown(void *unused)
{
	(void)unused;
}

/* ---- libgit2: its file and line are of no use here ---- */
static void *git_malloc(size_t n, const char *file, int line)
{
	(void)file, (void)line;
	return chs_malloc(n);
}

static void *git_calloc(size_t n, size_t size, const char *file, int line)
{
	(void)file, (void)line;
	return chs_calloc(n, size);
}

static char *git_strdup(const char *s, const char *file, int line)
{
	(void)file, (void)line;
	return chs_strdup(s);
}

static char *git_strndup(const char *s, size_t n, const char *file, int line)
{
	(void)file, (void)line;
	return chs_strndup(s, n);
}

/* exactly n bytes of s, whatever they hold */
static char *git_substrdup(const char *s, size_t n, const char *file, int line)
{
	char *p;

	(void)file, (void)line;
	if (n == (size_t)-1 || !(p = chs_malloc(n + 1)))
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void *git_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file, (void)line;
	return chs_realloc(p, n);
}

static void *git_reallocarray(void *p, size_t nelem, size_t size, const char *file, int line)
{
	(void)file, (void)line;
	if (size && nelem > (size_t)-1 / size)
		return NULL;
	return chs_realloc(p, nelem * size);
}

static void *git_mallocarray(size_t nelem, size_t size, const char *file, int line)
{
	return git_reallocarray(NULL, nelem, size, file, line);
}

static void git_free_(void *p)
{
	free(p);
}

void tu_allocfault_init(void)
{
	static const sqlite3_mem_methods sql = {
		sql_malloc, sql_free, sql_realloc, sql_size, sql_roundup,
		sql_init, sql_shutdown, NULL
	};
	static git_allocator git = {
		git_malloc, git_calloc, git_strdup, git_strndup, git_substrdup,
		git_realloc, git_reallocarray, git_mallocarray, git_free_
	};

	/* SQLITE_MISUSE when SQLite is initialised already: its blocks would
	 * then carry no header */
	if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sql) != SQLITE_OK) {
		fprintf(stderr, "tu_allocfault_init: SQLite was initialised already\n");
		abort();
	}
	/* no lookaside: SQLite's small allocations come here too, each one a
	 * point the drill can fail */
	sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
	/* chs_malloc's blocks are malloc's: jansson may free what it took
	 * before the switch, and libgit2 likewise */
	json_set_alloc_funcs(chs_malloc, free);
	/* before git_libgit2_init, which keeps an allocator set already */
	if (git_libgit2_opts(GIT_OPT_SET_ALLOCATOR, &git) < 0) {
		fprintf(stderr, "tu_allocfault_init: libgit2 refused the allocator\n");
		abort();
	}
}
