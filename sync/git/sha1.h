/*
 * sync/git/sha1.h - SHA-1 (FIPS 180-4), the hash of a pack's trailer
 * (sync/git/sha1.c). Private to sync/git/, and offered to its tests as
 * well (tests/sync/test_sha1.c checks the known answers): nothing else
 * includes it. It declares SHA-1 and nothing more, so that a test needs
 * no other internal header.
 */
#ifndef CHS_GIT_SHA1_H
#define CHS_GIT_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define CHS_SHA1_BYTES 20 /* a digest */

/* A hash under way. */
typedef struct chs_sha1_ctx {
	uint32_t h[5];
	uint64_t len;
	unsigned char block[64];
	size_t used;
} chs_sha1_ctx;

/* Start a hash; the context lives in the caller's storage and holds no
 * other resources (nothing to free). */
void chs_git__sha1_init(chs_sha1_ctx *s);
/* Hash `len` more bytes of `data`. */
void chs_git__sha1_update(chs_sha1_ctx *s, const void *data, size_t len);
/* The digest of everything given; `s` is used up (init it again). */
void chs_git__sha1_final(chs_sha1_ctx *s, unsigned char out[CHS_SHA1_BYTES]);

#endif
