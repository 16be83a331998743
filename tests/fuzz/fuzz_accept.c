/*
 * Fuzz target: the acceptance check (sync/accept.c and the chunk
 * commits' check in sync/chunk.c), fed an archive's commits as a sync
 * reads them: each commit as chs_git_read() gives it (its verified
 * signer, its parents, its files), in the order the sync walks them. A
 * roster commit must verify and follow the roster before it (the first
 * pins the admin key); a batch commit must be accepted on its device's
 * chain; a chunk commit must follow the device's chunks. Never crash or
 * leak, and never take what the promise refuses: an accepted batch is
 * signed by its device's key on the roster, continues its chain (parent,
 * seq, prev) and names its device; a refused one leaves the chain as it
 * was and says CHS_EDENIED or CHS_EDAMAGED.
 *
 * The input (tests/fuzz/corpus/accept holds real archives in this form,
 * written by seed_accept.c):
 *   u8 number of keys, each: u8 compartment, u32 gen, 32 key bytes
 *   then commits, each:
 *     u8 kind (0 roster, 1 batch, 2 chunks), 32 bytes signer,
 *     u8 parents (0 none; 1 the previous commit on the same chain;
 *                 2 some other commit; 3 two parents),
 *     16 bytes device id, u8 number of files, each:
 *       u8 name length, name, u32 data length, data
 * Integers are little-endian; a length past the end is cut to the end.
 */
#include "sync/sync.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEYS_MAX 8
#define DEVICES_MAX 8
#define FILES_MAX 40

typedef struct reader {
	const uint8_t *p, *end;
} reader;

static uint32_t take(reader *r, size_t n)
{
	uint32_t v = 0;
	size_t i;

	for (i = 0; i < n && r->p < r->end; i++)
		v |= (uint32_t)*r->p++ << (8 * i);
	return v;
}

static void take_bytes(reader *r, void *out, size_t n)
{
	size_t have = (size_t)(r->end - r->p) < n ? (size_t)(r->end - r->p) : n;

	memset(out, 0, n);
	memcpy(out, r->p, have);
	r->p += have;
}

typedef struct key {
	int compartment;
	uint32_t gen;
	unsigned char key[CHS_KEY_BYTES];
} key;

typedef struct keys {
	key k[KEYS_MAX];
	size_t n;
} keys;

static int key_of(int compartment, uint32_t gen, unsigned char *out, void *payload)
{
	const keys *ks = payload;
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (ks->k[i].compartment == compartment && ks->k[i].gen == gen) {
			memcpy(out, ks->k[i].key, CHS_KEY_BYTES);
			return 0;
		}
	return CHS_EDENIED;
}

/* Where the sync stands for one device: its batches and its chunks. */
typedef struct device {
	char id[33];
	chs_chain chain;
	char chunks[41];
} device;

typedef struct archive {
	keys ks;
	chs_roster *roster;
	unsigned char admin[CHS_SIGN_PK_BYTES]; /* pinned by the first roster */
	char roster_oid[41];
	device dev[DEVICES_MAX];
	size_t ndev;
	char last[41];                           /* the commit read before */
} archive;

static device *device_of(archive *a, const char id[33])
{
	size_t i;

	for (i = 0; i < a->ndev; i++)
		if (strcmp(a->dev[i].id, id) == 0)
			return &a->dev[i];
	if (a->ndev == DEVICES_MAX)
		return NULL;
	memset(&a->dev[a->ndev], 0, sizeof(a->dev[0]));
	memcpy(a->dev[a->ndev].id, id, 33);
	return &a->dev[a->ndev++];
}

static void refused(int err)
{
	if (err != CHS_EDENIED && err != CHS_EDAMAGED && err != CHS_EINVALID)
		abort();
}

/* 1 when the commit's roster is taken. */
static int take_roster(archive *a, const chs_git_commit *c)
{
	chs_roster *r = NULL;
	int err = chs_roster_from_commit(&r, c, a->roster ? a->admin : NULL);

	if (err == 0 && a->roster &&
	    (strcmp(chs_roster_org(r), chs_roster_org(a->roster)) != 0 ||
	     chs_roster_follows(a->roster, r) < 0 ||
	     chs_roster_seq(r) <= chs_roster_seq(a->roster)))
		err = CHS_EDAMAGED;
	if (err < 0) {
		refused(err);
		chs_roster_free(r);
		return 0;
	}
	if (!chs_equal(c->signer, chs_roster_admin(r), CHS_SIGN_PK_BYTES))
		abort(); /* taken, yet not signed by the admin key it names */
	if (!a->roster)
		memcpy(a->admin, chs_roster_admin(r), CHS_SIGN_PK_BYTES);
	chs_roster_free(a->roster);
	a->roster = r;
	return 1;
}

static void take_batch(archive *a, device *d, const char *oid, const chs_git_commit *c)
{
	chs_chain before = d->chain;
	const chs_roster_device *rd;
	chs_batch *b = NULL;
	int complete = 0, err;

	err = chs_batch_accept(&b, &complete, &d->chain, a->roster, d->id, oid, c, key_of,
			       &a->ks);
	if (err < 0) {
		refused(err);
		if (b || memcmp(&before, &d->chain, sizeof(before)) != 0)
			abort(); /* refused, yet the chain moved */
		return;
	}
	rd = chs_roster_find(a->roster, d->id);
	if (!b || !rd || !chs_equal(rd->key, c->signer, CHS_SIGN_PK_BYTES) ||
	    strcmp(b->device, d->id) != 0 || b->seq != before.seq + 1 ||
	    d->chain.seq != b->seq || strcmp(d->chain.oid, oid) != 0 ||
	    (before.oid[0] ? c->parents != 1 || strcmp(c->parent, before.oid) != 0
			   : c->parents != 0) ||
	    b->has_prev != (before.seq > 0) ||
	    (b->has_prev && !chs_equal(b->prev, before.prev, CHS_HASH_BYTES)) ||
	    (rd->revoked && b->seq > rd->revoked_after))
		abort();
	if (complete && chs_batch_verify(b) != 0)
		abort();
	chs_batch_free(b);
}

static void take_chunks(archive *a, device *d, const char *oid, const chs_git_commit *c)
{
	int err = chs_chunks_accept(a->roster, d->id, d->chunks, c);

	if (err < 0) {
		refused(err);
		return;
	}
	if (c->nentries < 1 || c->nentries > CHS_CHUNKS_PER_COMMIT_MAX ||
	    (d->chunks[0] ? c->parents != 1 || strcmp(c->parent, d->chunks) != 0
			  : c->parents != 0))
		abort();
	memcpy(d->chunks, oid, 41);
}

/* Read one commit; 0 at the end of the input. */
static int read_commit(reader *r, archive *a, size_t n, chs_git_commit *c, int *kind,
		       char id[33], char oid[41])
{
	unsigned char dev[16];
	size_t i, k, nfiles;
	unsigned links;
	device *d;

	if (r->p >= r->end)
		return 0;
	memset(c, 0, sizeof(*c));
	*kind = (int)(take(r, 1) % 3);
	take_bytes(r, c->signer, sizeof(c->signer));
	links = take(r, 1) % 4;
	take_bytes(r, dev, sizeof(dev));
	chs_hex(id, dev, sizeof(dev));
	snprintf(oid, 41, "%040zx", n + 1);
	d = *kind ? device_of(a, id) : NULL;
	if (links) {
		const char *prev = *kind == 0 ? a->roster_oid : !d ? "" : *kind == 1 ? d->chain.oid
						   : d->chunks;

		c->parents = links == 3 ? 2 : 1;
		snprintf(c->parent, sizeof(c->parent), "%s", links == 1 ? prev : a->last);
	}
	c->time = 1700000000;
	nfiles = take(r, 1) % FILES_MAX;
	if (!(c->entries = calloc(nfiles ? nfiles : 1, sizeof(*c->entries))))
		return -1;
	for (i = 0; i < nfiles && r->p < r->end; i++) {
		chs_git_blob *e = &c->entries[c->nentries];

		k = take(r, 1);
		if (!(e->name = calloc(1, k + 1)))
			return -1;
		take_bytes(r, e->name, k);
		k = take(r, 4);
		if (k > (size_t)(r->end - r->p))
			k = (size_t)(r->end - r->p);
		if (!(e->data = malloc(k ? k : 1)))
			return -1;
		take_bytes(r, e->data, k);
		e->len = k;
		c->nentries++;
	}
	return 1;
}

static void commit_dispose(chs_git_commit *c)
{
	size_t i;

	for (i = 0; i < c->nentries; i++) {
		free(c->entries[i].name);
		free(c->entries[i].data);
	}
	free(c->entries);
	memset(c, 0, sizeof(*c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	reader r = { data, data + size };
	archive a;
	chs_git_commit c;
	char id[33], oid[41];
	size_t i, n;
	int kind, more;

	if (chs_crypto_init() != 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.ks.n = take(&r, 1) % (KEYS_MAX + 1);
	for (i = 0; i < a.ks.n; i++) {
		a.ks.k[i].compartment = (int)take(&r, 1);
		a.ks.k[i].gen = take(&r, 4);
		take_bytes(&r, a.ks.k[i].key, CHS_KEY_BYTES);
	}
	for (n = 0; (more = read_commit(&r, &a, n, &c, &kind, id, oid)) != 0; n++) {
		device *d = kind ? device_of(&a, id) : NULL;

		if (more > 0) {
			if (kind == 0) {
				if (take_roster(&a, &c))
					memcpy(a.roster_oid, oid, 41);
			} else if (a.roster && d && kind == 1)
				take_batch(&a, d, oid, &c);
			else if (a.roster && d)
				take_chunks(&a, d, oid, &c);
		}
		memcpy(a.last, oid, 41);
		commit_dispose(&c);
		if (more < 0)
			break;
	}
	chs_roster_free(a.roster);
	return 0;
}
