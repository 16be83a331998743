/*
 * sync/git/repo.c - opening, creating and freeing repositories, and the
 * one-time start of libgit2. Calls nothing else in sync/git/: every other
 * file of the folder calls chs_git__fail() here.
 */
#include "git_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
/* What git_start() found, written once under git_once and only read after
 * it: the thread that failed is not always the one that asks, and
 * libgit2 keeps its message per thread. */
static int start_error;
static char start_message[512];

/* Remember why libgit2 could not start: every later open fails with it. */
static void start_failed(const char *what)
{
	const git_error *e = git_error_last();

	snprintf(start_message, sizeof(start_message), "libgit2 did not start: %s (%s); "
		 "no git repository is opened without it", what,
		 e && e->message ? e->message : "no reason given");
	start_error = CHS_ERROR;
}

static void git_start(void)
{
	if (git_libgit2_init() < 0) {
		start_failed("git_libgit2_init failed");
		return;
	}
	/* without it a power cut can take back commits and refs a sync
	 * reported written: better no repository at all than that */
	if (git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1) < 0) {
		start_failed("it refused to fsync what it writes (GIT_OPT_ENABLE_FSYNC_GITDIR)");
		return;
	}
	/* a pull walks each commit once: libgit2's defaults (a 256 MiB object
	 * cache, up to 8 GiB of pack mapped) would only hold memory that a
	 * pull of a million changes must keep under 200 MB */
	if (git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)(16 << 20)) < 0 ||
	    git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)(64 << 20)) < 0 ||
	    /* windows of 1 GiB (the 64-bit default) would keep a whole pack's
	     * touched pages resident however low the limit: smaller windows
	     * are unmapped as the walk moves on */
	    git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)(16 << 20)) < 0)
		start_failed("it refused the limits of its object cache and pack windows");
}

int chs_git__start(void)
{
	pthread_once(&git_once, git_start);
	return start_error ? chs_error_set(start_error, "%s", start_message) : 0;
}

int chs_git__fail(int code, const char *what)
{
	const git_error *e = git_error_last();

	return chs_error_set(code, "%s: %s", what, e && e->message ? e->message : "git failed");
}

/* 1 when `message` is this computer refusing a write: a full disk, a
 * quota, a file size limit, a read-only or failing file system. libgit2
 * keeps no errno, only its words ("failed to write ...: No space left on
 * device"), which end in the C library's own strerror(). */
static int write_refused_here(const char *message)
{
	static const int codes[] = { ENOSPC, EDQUOT, EFBIG, EROFS, EIO };
	size_t i;

	for (i = 0; message && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strstr(message, strerror(codes[i])))
			return 1;
	return 0;
}

int chs_git__fail_fetch(const char *url, const char *what)
{
	const git_error *e = git_error_last();
	const char *why = e && e->message ? e->message : "git failed";

	if (write_refused_here(why))
		return chs_error_set(CHS_EIO, "cannot write what the archive at %s sent into this"
				     " store's git mirror: the disk is full or a write failed (%s);"
				     " free some space, then sync again", url, why);
	return chs_error_set(CHS_EIO, "%s %s: %s", what, url, why);
}

/* Batches are ciphertext: no two objects ever share a run of bytes, so
 * searching for deltas when building a pack (the main cost of a push) is
 * wasted. libgit2 1.5 reads its size limit for delta candidates from
 * pack.deltaCacheSize (sic, pack-objects.c); 1 byte rules every object
 * out. Should a later libgit2 read another key, pushes are only slower. */
static void no_deltas(git_repository *repo)
{
	git_config *cfg = NULL;

	if (git_repository_config(&cfg, repo) == 0)
		git_config_set_int64(cfg, "pack.deltaCacheSize", 1);
	git_config_free(cfg);
}

/* New objects are written to memory and reach disk as one pack with
 * one fsync (chs_git_flush), not as loose objects with an fsync each:
 * the difference between a few milliseconds and tens per batch. */
static int add_mempack(chs_git *g)
{
	git_odb *odb = NULL;
	int rc;

	if (git_repository_odb(&odb, g->repo) < 0 || git_mempack_new(&g->mempack) < 0)
		rc = -1;
	else if ((rc = git_odb_add_backend(odb, g->mempack, 1000)) < 0)
		g->mempack->free(g->mempack);
	git_odb_free(odb);
	if (rc < 0) {
		g->mempack = NULL;
		return chs_git__fail(CHS_ERROR, "cannot prepare the git repository");
	}
	return 0;
}

/* Finish opening: remember the git folder (the helper process opens its
 * own handle there, and stale locks are looked for there). */
static int keep_path(chs_git *g, chs_git **out)
{
	if (!(g->path = chs_strdup(git_repository_path(g->repo)))) {
		git_repository_free(g->repo);
		free(g);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	*out = g;
	return 0;
}

int chs_git_open(chs_git **out, const char *path)
{
	chs_git *g = NULL;
	int err;

	*out = NULL;
	if ((err = chs_git__start()) < 0)
		return err;
	if (!(g = chs_calloc(1, sizeof(*g))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (git_repository_open_bare(&g->repo, path) < 0) {
		if (git_repository_init(&g->repo, path, 1) < 0) {
			free(g);
			return chs_git__fail(CHS_EIO, "cannot open the git repository");
		}
		no_deltas(g->repo);
	}
	if ((err = add_mempack(g)) < 0) {
		git_repository_free(g->repo);
		free(g);
		return err;
	}
	return keep_path(g, out);
}

int chs_git_open_env(chs_git **out)
{
	chs_git *g = NULL;
	int err;

	*out = NULL;
	if ((err = chs_git__start()) < 0)
		return err;
	if (!(g = chs_calloc(1, sizeof(*g))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (git_repository_open_ext(&g->repo, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL) < 0) {
		free(g);
		return chs_git__fail(CHS_EIO, "cannot open the archive's repository");
	}
	g->from_env = 1;
	if ((err = add_mempack(g)) < 0) {
		git_repository_free(g->repo);
		free(g);
		return err;
	}
	return keep_path(g, out);
}

/* Settings an archive needs that its hook cannot enforce itself. */
static int configure_archive(git_repository *repo)
{
	git_config *cfg = NULL;
	int err = 0;

	if (git_repository_config(&cfg, repo) < 0)
		return chs_git__fail(CHS_EIO, "cannot read the archive's settings");
	/* keep each push as one pack: ciphertext never deltas, and loose
	 * objects make every later fetch slow; ARCHITECTURE.md) */
	if (git_config_set_int32(cfg, "receive.unpackLimit", 1) < 0 ||
	    /* a malformed object is refused before the hook even runs */
	    git_config_set_bool(cfg, "receive.fsckObjects", 1) < 0 ||
	    /* these guard refs/heads/ only; the hook guards refs/chartsync/ */
	    git_config_set_bool(cfg, "receive.denyNonFastForwards", 1) < 0 ||
	    git_config_set_bool(cfg, "receive.denyDeletes", 1) < 0 ||
	    /* ciphertext never deltas: git's pack-objects serving a fetch
	     * skips the search with no window, libgit2 (a store fetching
	     * from this folder) with no delta candidates (see no_deltas()) */
	    git_config_set_int32(cfg, "pack.window", 0) < 0 ||
	    git_config_set_int64(cfg, "pack.deltaCacheSize", 1) < 0)
		err = chs_git__fail(CHS_EIO, "cannot write the archive's settings");
	git_config_free(cfg);
	return err;
}

int chs_git_init_archive(const char *path)
{
	git_repository_init_options opts;
	git_repository *repo = NULL;
	int rc, err;

	if ((err = chs_git__start()) < 0)
		return err;
	git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT |
		     GIT_REPOSITORY_INIT_MKPATH;
	if ((rc = git_repository_init_ext(&repo, path, &opts)) < 0)
		return rc == GIT_EEXISTS
			? chs_error_set(CHS_EEXISTS, "'%s' is a git repository already", path)
			: chs_git__fail(CHS_EIO, "cannot create the archive");
	err = configure_archive(repo);
	git_repository_free(repo);
	return err;
}

int chs_git_probe_bare(const char *path)
{
	git_repository *repo = NULL;
	int bare, err;

	if ((err = chs_git__start()) < 0)
		return err;
	/* NO_SEARCH: a folder inside some other repository is not one */
	if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		return chs_error_set(CHS_ENOTFOUND, "'%s' is not a git repository", path);
	bare = git_repository_is_bare(repo);
	git_repository_free(repo);
	return bare ? 0 : chs_error_set(CHS_EINVALID,
					"'%s' is not a bare git repository (an archive has no "
					"working tree)", path);
}

void chs_git_free(chs_git *g)
{
	size_t i;

	if (!g)
		return;
	/* what was never flushed is dropped: no ref points at it */
	for (i = 0; i < g->npending; i++)
		free(g->pending[i].ref);
	git_repository_free(g->repo);
	free(g->held.ids);
	free(g->path);
	free(g);
}
