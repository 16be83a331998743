/*
 * crypto/crypto_int.h - shared between the files of crypto/ only.
 */
#ifndef CHS_CRYPTO_INT_H
#define CHS_CRYPTO_INT_H

#include "crypto/crypto.h"

#include <sodium.h>

/* Store a 32-bit or 64-bit value big-endian (associated data, encodings). */
static inline void chs_crypto__put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint32_t chs_crypto__get32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void chs_crypto__put64(unsigned char *p, uint64_t v)
{
	chs_crypto__put32(p, (uint32_t)(v >> 32));
	chs_crypto__put32(p + 4, (uint32_t)v);
}

#endif
