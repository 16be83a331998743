/*
 * sync/git/rollup.c - keeping reads fast: the small packs of a repository
 * rolled into one. Calls packwrite.c and repo.c.
 */
#include "git_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <git2/sys/odb_backend.h>

#define ROLL_MAX_BYTES ((off_t)32 << 20)  /* a pack this big is never rolled up */

/*
 * Every fetch and every sync's commits add a pack, to the mirror and (by
 * path) to the archive, and libgit2 looks for an object in each pack in
 * turn and has no gc: a folder archive after 100 syncs of 100 changes
 * took twice as long to sync as after 10. Past a number of packs, the
 * small ones are rolled into one, as git's `repack --geometric=2` does:
 * sorted by size, the packs that would not each be at least twice the
 * size of all smaller ones together become one, and the big packs of
 * history are left as they are. Each byte is copied a few times over its
 * life, not at every repack, so the cost follows what is new. Packs of
 * 32 MiB and more (a big sync writes its objects in packs of that size)
 * are never rolled up: rewriting them would be a pause of seconds for
 * nothing, as lookups in a few big packs are cheap.
 *
 * Objects only ever move: the new pack is on disk (the indexer fsyncs it)
 * before the packs it replaces are removed, so a process reading the
 * repository at the same time finds every object (libgit2 looks again in
 * the pack folder when an object is missing). Packs git marks as not
 * to be repacked (.keep: receive-pack keeps its pack so until the refs
 * move; .promisor, .mtimes) and packs whose index is not written yet are
 * never touched.
 */
typedef struct pack_file {
	char *name; /* pack-<hash>.pack */
	off_t size;
} pack_file;

static void packs_free(pack_file *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(p[i].name);
	free(p);
}

/* The path of pack `name`'s file with extension `ext` (".idx", ...) in
 * `dir`; -1 when it does not fit. */
static int pack_path(char path[4096], const char *dir, const char *name, const char *ext)
{
	int len = snprintf(path, 4096, "%s/%.*s%s", dir, (int)(strlen(name) - 5), name, ext);

	return len < 0 || len >= 4096 ? -1 : 0;
}

/* 1 when pack `name` has a file with extension `ext` in `dir`. */
static int pack_has(const char *dir, const char *name, const char *ext)
{
	char path[4096];
	struct stat st;

	return pack_path(path, dir, name, ext) == 0 && stat(path, &st) == 0;
}

static int by_size(const void *a, const void *b)
{
	const pack_file *x = a, *y = b;

	return (x->size > y->size) - (x->size < y->size);
}

/* 1 when pack `name` in `dir` may be rolled up: complete (its index is
 * there), marked by git for no repack, under ROLL_MAX_BYTES; its size in
 * *size. */
static int pack_rollable(const char *dir, const char *name, off_t *size)
{
	char path[4096];
	struct stat st;

	if (!pack_has(dir, name, ".idx") || pack_has(dir, name, ".keep") ||
	    pack_has(dir, name, ".promisor") || pack_has(dir, name, ".mtimes") ||
	    pack_path(path, dir, name, ".pack") < 0 || stat(path, &st) < 0 ||
	    st.st_size >= ROLL_MAX_BYTES)
		return 0;
	*size = st.st_size;
	return 1;
}

/* The packs in `dir` (objects/pack) that may be rolled up, smallest
 * first; none when the folder holds `max_packs` packs or fewer, which is
 * known from the names alone (no stat at each sync). */
static int list_packs(const char *dir, size_t max_packs, pack_file **out, size_t *n)
{
	pack_file *list = NULL;
	struct dirent *e;
	size_t cap = 0, i, kept = 0;
	DIR *d;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!(d = opendir(dir)))
		return 0;
	while (err == 0 && (e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len < 10 || strncmp(e->d_name, "pack-", 5) || strcmp(e->d_name + len - 5, ".pack"))
			continue;
		if (*n == cap && (err = CHS_ARRAY_GROW(list, cap, *n + 1)) < 0)
			break;
		if (!(list[*n].name = chs_strdup(e->d_name)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			(*n)++;
	}
	closedir(d);
	if (err < 0 || *n <= max_packs) {
		packs_free(list, *n);
		*n = 0;
		return err;
	}
	for (i = 0; i < *n; i++) {
		if (pack_rollable(dir, list[i].name, &list[i].size))
			list[kept++] = list[i];
		else
			free(list[i].name);
	}
	*n = kept;
	qsort(list, *n, sizeof(*list), by_size);
	*out = list;
	return 0;
}

/* How many of the packs `p` (smallest first) to roll into one, so that
 * each pack left is at least twice the size of all smaller ones. */
static size_t geometric_split(const pack_file *p, size_t n)
{
	off_t rolled = 0;
	size_t i, split;

	if (n < 2)
		return 0;
	/* the big packs that already grow twofold stay */
	for (i = n - 1; i > 0; i--)
		if (p[i].size < 2 * p[i - 1].size)
			break;
	split = i ? i + 1 : 0;
	for (i = 0; i < split; i++)
		rolled += p[i].size;
	/* and any of them the new pack would not be half the size of */
	for (; split < n && p[split].size < 2 * rolled; split++)
		rolled += p[split].size;
	return split;
}

/* Remove pack `name` from `dir`: its index first, so that nobody starts
 * reading it, then the pack and what git may keep beside it. */
static void remove_pack(const char *dir, const char *name)
{
	static const char *const ext[] = { ".idx", ".pack", ".rev", ".bitmap" };
	char path[4096];
	size_t i;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (pack_path(path, dir, name, ext[i]) == 0)
			unlink(path);
}

static int add_oid(const git_oid *id, void *payload)
{
	return chs_git__oid_list_add(payload, id) < 0 ? GIT_EUSER : 0;
}

/* Packs `p`, each opened on its own, as one object database. */
static int open_packs(git_odb **out, const char *dir, const pack_file *p, size_t n)
{
	git_odb_backend *b;
	char path[4096];
	size_t i;

	if (git_odb_new(out) < 0)
		return chs_git__fail(CHS_ENOMEM, "cannot read the packs");
	for (i = 0; i < n; i++) {
		if (pack_path(path, dir, p[i].name, ".idx") < 0 ||
		    git_odb_backend_one_pack(&b, path) < 0)
			return chs_git__fail(CHS_EIO, "cannot read a pack");
		if (git_odb_add_backend(*out, b, 1) < 0) {
			b->free(b);
			return chs_git__fail(CHS_ENOMEM, "cannot read the packs");
		}
	}
	return 0;
}

/* Roll the packs of `repo` into fewer when there are more than
 * `max_packs`. */
int chs_git__roll_up_packs(git_repository *repo, size_t max_packs)
{
	const char *gitdir = git_repository_path(repo); /* ends in '/' */
	git_odb *packs = NULL, *odb = NULL;
	pack_file *p = NULL;
	oid_list ids = { 0 };
	char dir[4096], fresh[64];
	size_t n = 0, split, i;
	int rc, err;

	if (snprintf(dir, sizeof(dir), "%sobjects/pack", gitdir) >= (int)sizeof(dir))
		return chs_error_set(CHS_EINVALID, "the git folder's path is too long");
	if ((err = list_packs(dir, max_packs, &p, &n)) < 0 || n <= max_packs ||
	    (split = geometric_split(p, n)) < 2)
		goto done;
	if ((err = open_packs(&packs, dir, p, split)) < 0)
		goto done;
	if ((rc = git_odb_foreach(packs, add_oid, &ids)) < 0) {
		err = rc == GIT_EUSER ? chs_error_last_code()
				      : chs_git__fail(CHS_EIO, "cannot read a pack");
		goto done;
	}
	if (git_repository_odb(&odb, repo) < 0) {
		err = chs_git__fail(CHS_EIO, "cannot open the git repository");
		goto done;
	}
	if ((err = chs_git__write_pack_of(packs, odb, ids.ids,
					  chs_git__unique_oids(ids.ids, ids.n), fresh, NULL,
					  NULL)) < 0)
		goto done;
	/* the old packs go only once the new one is there under its name */
	if (!pack_has(dir, fresh, ".pack") || !pack_has(dir, fresh, ".idx")) {
		err = chs_error_set(CHS_EIO, "the pack just written is not in %s", dir);
		goto done;
	}
	for (i = 0; i < split; i++)
		if (strcmp(p[i].name, fresh) != 0)
			remove_pack(dir, p[i].name);
	git_odb_refresh(odb);
done:
	git_odb_free(odb);
	git_odb_free(packs);
	free(ids.ids);
	packs_free(p, n);
	return err;
}

int chs_git_maintain(chs_git *g, size_t max_packs)
{
	return chs_git__roll_up_packs(g->repo, max_packs);
}
