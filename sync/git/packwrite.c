/*
 * sync/git/packwrite.c - objects written as one pack of our own making,
 * handed to libgit2's indexer; and the list of object ids that says
 * which. Calls sha1.c and repo.c (chs_git__fail).
 */
#include "git_int.h"
#include "sha1.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <git2/sys/odb_backend.h>

/*
 * What a sync makes (blobs, trees, commits) waits in the mempack and
 * reaches disk as one pack, written here rather than by
 * git_mempack_dump(): libgit2's pack builder deflates every object at
 * zlib's default level, and most of a batch is ciphertext, which does not
 * shrink. For 10,000 changes that deflating took 53 ms of a 0.3 s commit
 * step, and the indexer spent more inflating it back. Here an object
 * whose first KiB does not shrink at level 1 is stored as it is
 * (deflate's stored blocks: a copy and a checksum), anything else is
 * deflated at level 1. The stream is pack version 2: a header, each
 * object's type and size then its zlib stream, and the SHA-1 of it all.
 * libgit2's indexer (git_odb_write_pack) takes it as it takes a fetched
 * pack: it hashes every object again, checks the trailer, writes the
 * index and fsyncs both; nothing here is trusted by git unchecked.
 */
#define PACK_FEED_BYTES ((size_t)1 << 20) /* given to the indexer at a time */
#define SHRINK_PROBE_BYTES 1024           /* what is tried before deflating */
#define STOP_ASKED_EVERY 256              /* objects between asking stop() */

int chs_git__oid_list_add(oid_list *l, const git_oid *id)
{
	int err;

	if (l->n == l->cap && (err = CHS_ARRAY_GROW(l->ids, l->cap, l->n + 1)) < 0)
		return err;
	git_oid_cpy(&l->ids[l->n++], id);
	return 0;
}

/* A pack on its way to the indexer. */
typedef struct pack_out {
	git_odb_writepack *wp;
	git_indexer_progress stats;
	chs_sha1_ctx sha;
	unsigned char *buf; /* bytes not yet given to the indexer */
	size_t len, cap;
} pack_out;

static int pack_feed(pack_out *po)
{
	int rc = po->len ? po->wp->append(po->wp, po->buf, po->len, &po->stats) : 0;

	po->len = 0;
	return rc < 0 ? chs_git__fail(CHS_EIO, "cannot write to the git repository") : 0;
}

/* Room for `more` bytes at po->buf + po->len. */
static int pack_room(pack_out *po, size_t more)
{
	unsigned char *grown;
	size_t cap;

	if (po->cap - po->len >= more)
		return 0;
	if (more > SIZE_MAX / 2 - po->len)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	cap = po->len + more > PACK_FEED_BYTES ? po->len + more : PACK_FEED_BYTES;
	if (!(grown = chs_realloc(po->buf, cap)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	po->buf = grown;
	po->cap = cap;
	return 0;
}

/* 1 when deflating `data` is worth it: its first KiB shrinks at level 1.
 * Ciphertext never does. */
static int worth_deflating(const unsigned char *data, size_t len)
{
	unsigned char z[SHRINK_PROBE_BYTES + 64];
	uLongf zlen = sizeof(z);
	uLong probe = len < SHRINK_PROBE_BYTES ? (uLong)len : SHRINK_PROBE_BYTES;

	if (compress2(z, &zlen, data, probe, Z_BEST_SPEED) != Z_OK)
		return 0;
	return zlen < probe - probe / 8;
}

/* One object: its type and size, then its zlib stream. */
static int pack_object(pack_out *po, git_odb_object *obj)
{
	const unsigned char *data = git_odb_object_data(obj);
	size_t len = git_odb_object_size(obj), n = 0, start;
	unsigned char head[16];
	uLongf zlen;
	size_t left = len;
	int err;

	head[n++] = (unsigned char)((git_odb_object_type(obj) & 7) << 4 | (left & 15));
	for (left >>= 4; left; left >>= 7) {
		head[n - 1] |= 0x80;
		head[n++] = (unsigned char)(left & 0x7f);
	}
	zlen = compressBound((uLong)len);
	if ((err = pack_room(po, n + zlen)) < 0)
		return err;
	start = po->len;
	memcpy(po->buf + po->len, head, n);
	if (compress2(po->buf + po->len + n, &zlen, data, (uLong)len,
		      worth_deflating(data, len) ? Z_BEST_SPEED : Z_NO_COMPRESSION) != Z_OK)
		return chs_error_set(CHS_ENOMEM, "cannot compress an object for git");
	po->len += n + zlen;
	chs_git__sha1_update(&po->sha, po->buf + start, po->len - start);
	return po->len >= PACK_FEED_BYTES ? pack_feed(po) : 0;
}

static int by_oid(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/* Sort `ids` and keep each once; the count kept. */
size_t chs_git__unique_oids(git_oid *ids, size_t n)
{
	size_t i, kept = 0;

	qsort(ids, n, sizeof(*ids), by_oid);
	for (i = 0; i < n; i++)
		if (kept == 0 || !git_oid_equal(&ids[kept - 1], &ids[i]))
			git_oid_cpy(&ids[kept++], &ids[i]);
	return kept;
}

/* Objects `ids` of odb `from`, each once, as a new pack in odb `to`
 * (the same or another repository's); fsynced by the indexer. Its file
 * name in `name` when not NULL (libgit2 names a pack by its checksum). */
int chs_git__write_pack_of(git_odb *from, git_odb *to, const git_oid *ids, size_t n,
			   char name[64], int (*stop)(void *payload), void *payload)
{
	unsigned char head[12] = { 'P', 'A', 'C', 'K', 0, 0, 0, 2 }, trailer[20];
	git_odb_object *obj = NULL;
	pack_out po;
	size_t i;
	int err = 0;

	memset(&po, 0, sizeof(po));
	chs_git__sha1_init(&po.sha);
	head[8] = (unsigned char)(n >> 24);
	head[9] = (unsigned char)(n >> 16);
	head[10] = (unsigned char)(n >> 8);
	head[11] = (unsigned char)n;
	if (git_odb_write_pack(&po.wp, to, NULL, NULL) < 0)
		return chs_git__fail(CHS_EIO, "cannot write to the git repository");
	if ((err = pack_room(&po, sizeof(head))) == 0) {
		memcpy(po.buf, head, sizeof(head));
		po.len = sizeof(head);
		chs_git__sha1_update(&po.sha, head, sizeof(head));
	}
	for (i = 0; i < n && err == 0; i++) {
		if (stop && i % STOP_ASKED_EVERY == 0 && stop(payload)) {
			err = chs_error_set(CHS_ECANCELLED, "stopped before the pack was written");
			break;
		}
		if (git_odb_read(&obj, from, &ids[i]) < 0)
			err = chs_git__fail(CHS_EIO, "cannot read an object to pack");
		else
			err = pack_object(&po, obj);
		git_odb_object_free(obj);
		obj = NULL;
	}
	if (err == 0 && (err = pack_room(&po, sizeof(trailer))) == 0) {
		chs_git__sha1_final(&po.sha, trailer);
		memcpy(po.buf + po.len, trailer, sizeof(trailer));
		po.len += sizeof(trailer);
		if ((err = pack_feed(&po)) == 0 && po.wp->commit(po.wp, &po.stats) < 0)
			err = chs_git__fail(CHS_EIO, "cannot write to the git repository");
	}
	if (err == 0 && name) {
		git_oid sum;

		git_oid_fromraw(&sum, trailer);
		snprintf(name, 64, "pack-%s.pack", git_oid_tostr_s(&sum));
	}
	po.wp->free(po.wp);
	free(po.buf);
	return err;
}
