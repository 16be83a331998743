/*
 * Writes seeds for fuzz_accept from a real archive (a bare repository a
 * sync pushed to): its roster's commits, then one device's batch commits
 * or chunk commits, each read with chs_git_read() as the sync reads
 * them, in fuzz_accept.c's form (no keys: the batches are checked, not
 * opened). One file per device and kind, and the same cut after each of
 * its first commits, each at most 64 KiB (libFuzzer's -max_len); each
 * once after the whole roster chain and once after its last roster only
 * (a store that first sees the archive now):
 *   seed_accept ARCHIVE OUTDIR
 */
#include "sync/sync.h"
#include "sync/git/git.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_MAX 65536

static void put(chs_buf *b, uint32_t v, size_t n)
{
	unsigned char x[4];
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	chs_buf_put(b, x, n);
}

/* Commit `c` in fuzz_accept's form; its parent is the one before it on
 * its chain (links 1) or none (0). */
static void put_commit(chs_buf *b, int kind, const chs_git_commit *c, const char *device)
{
	unsigned char dev[16];
	size_t i;

	memset(dev, 0, sizeof(dev));
	if (device)
		chs_unhex(dev, sizeof(dev), device);
	put(b, (uint32_t)kind, 1);
	chs_buf_put(b, c->signer, sizeof(c->signer));
	put(b, c->parents ? 1 : 0, 1);
	chs_buf_put(b, dev, sizeof(dev));
	put(b, (uint32_t)c->nentries, 1);
	for (i = 0; i < c->nentries; i++) {
		put(b, (uint32_t)strlen(c->entries[i].name), 1);
		chs_buf_put(b, c->entries[i].name, strlen(c->entries[i].name));
		put(b, (uint32_t)c->entries[i].len, 4);
		chs_buf_put(b, c->entries[i].data, c->entries[i].len);
	}
}

static int save(const char *dir, const char *name, const chs_buf *b)
{
	char path[4096];
	FILE *f;

	if (b->len > SEED_MAX)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")) || fwrite(b->ptr, 1, b->len, f) != b->len) {
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

/* The commits of `ref`, oldest first, each appended to `b` (a seed saved
 * after each of the first few). */
static int walk(chs_git *g, const char *ref, int kind, const char *device, chs_buf *b,
		const char *dir, const char *stem, size_t *last)
{
	char (*log)[41] = NULL, name[128];
	chs_git_commit *c = NULL;
	size_t n = 0, i;
	int err;

	if ((err = chs_git_log(g, ref, NULL, &log, &n)) < 0)
		return err;
	for (i = 0; i < n && b->len < SEED_MAX; i++) {
		if ((err = chs_git_read(g, log[i], &c)) < 0)
			break;
		if (last)
			*last = b->len;
		put_commit(b, kind, c, device);
		chs_git_commit_free(c);
		c = NULL;
		if (stem && (i < 3 || i + 1 == n)) {
			snprintf(name, sizeof(name), "%s-%zu", stem, i + 1);
			if ((err = save(dir, name, b)) < 0)
				break;
		}
	}
	free(log);
	return err;
}

int main(int argc, char **argv)
{
	static const char *const prefix[] = { CHS_DEVICE_REFS, CHS_BLOB_REFS };
	chs_git *g = NULL;
	chs_buf roster, latest, b;
	char **refs = NULL, stem[64];
	size_t n = 0, i, last = 1;
	int k, w, err;

	if (argc != 3) {
		fprintf(stderr, "usage: seed_accept ARCHIVE OUTDIR\n");
		return 1;
	}
	if (chs_crypto_init() < 0 || chs_git_open(&g, argv[1]) < 0) {
		fprintf(stderr, "seed_accept: %s\n", chs_error_last());
		return 2;
	}
	chs_buf_init(&roster, 0);
	put(&roster, 0, 1); /* no keys */
	chs_buf_init(&latest, 0);
	if ((err = walk(g, CHS_ROSTER_REF, 0, NULL, &roster, argv[2], "roster", &last)) < 0)
		goto done;
	put(&latest, 0, 1);
	chs_buf_put(&latest, roster.ptr + last, roster.len - last);
	for (k = 0; k < 2 && err == 0; k++) {
		if ((err = chs_git_refs(g, prefix[k], &refs, &n)) < 0)
			break;
		for (i = 0; i < n * 2 && err == 0; i++) {
			const char *device = refs[i / 2] + strlen(prefix[k]);
			const chs_buf *from = i % 2 ? &latest : &roster;

			w = i % 2;
			chs_buf_init(&b, 0);
			chs_buf_put(&b, from->ptr, from->len);
			snprintf(stem, sizeof(stem), "%s%s-%.8s", w ? "latest-" : "",
				 k ? "chunks" : "batches", device);
			err = walk(g, refs[i / 2], k + 1, device, &b, argv[2], stem, NULL);
			chs_buf_dispose(&b);
		}
		chs_git_refs_free(refs, n);
	}
done:
	if (err < 0)
		fprintf(stderr, "seed_accept: %s\n", chs_error_last());
	chs_buf_dispose(&roster);
	chs_buf_dispose(&latest);
	chs_git_free(g);
	return err < 0 ? 2 : 0;
}
