/*
 * crypto/crypto_int.h - shared between the files of crypto/ only.
 */
#ifndef CHS_CRYPTO_INT_H
#define CHS_CRYPTO_INT_H

#include "crypto/crypto.h"

#include <sodium.h>
#include <sys/types.h>

/* ---- alloc.c ---- */
/* Whether the allocation drill fails this allocation (counts it). For the
 * allocators crypto/ calls besides malloc's family (sodium_malloc). */
int chs_alloc__fails(void);

/* ---- shmdir.c: the user's own folder for wal-indexes ---- */
typedef struct chs_shm_slot {
	char dir[256];  /* BASE/chartsync-<uid> */
	char path[320]; /* the placeholder SQLite names the wal-index after */
	int lock_fd;    /* holds the folder's shared flock; -1 after leave */
	int hold_fd;    /* the placeholder, read-locked (OFD) while the
			 * connection lives: "in use, not a leftover";
			 * -1 after release */
} chs_shm_slot;

/* Make or check the user's folder under `base`, sweep leftovers, and make
 * or check the placeholder for the database (dev, ino), 0600. Returns 0
 * with a shared flock held until chs_crypto__shm_leave() (call it once the
 * wal-index is mapped) and the placeholder's lock held until
 * chs_crypto__shm_release() (call it when the connection closes); 1 when
 * `base` does not exist (the wal-index stays beside the database); -1
 * with `problem` set when something there belongs to another user or
 * cannot be made. */
int chs_crypto__shm_enter(chs_shm_slot *out, const char *base, dev_t dev,
			  ino_t ino, char *problem, size_t plen);
void chs_crypto__shm_leave(chs_shm_slot *slot);
/* The connection is closed: its wal-index no longer counts as in use by
 * it (drops the placeholder's lock, and the folder's if still held). */
void chs_crypto__shm_release(chs_shm_slot *slot);

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
