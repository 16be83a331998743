/*
 * The git layer: batches as signed commits on per-device refs, and the
 * moves that carry them to and from an archive. Only this file includes
 * <git2.h>.
 *
 * What libgit2 1.5 really does, and what this file does about it
 * (../shared/FACTS.md has the details):
 * - A refusal by the server does not fail git_remote_push(): it comes
 *   only through push_update_reference (and the hook's words through
 *   sideband_progress). Any status there fails the push here, with the
 *   server's reason in the message.
 * - Refs move by compare-and-swap (git_reference_create_matching with the
 *   expected old id): a device ref never moves unless it still is where
 *   the caller last saw it, and never backwards.
 * - Fetching uses a forced refspec into a namespace of its own
 *   (refs/remotes/archive/...), never into a ref this device writes.
 * - libgit2 does not fsync by default: switched on once at start-up.
 * - Commits are signed with SSHSIG (crypto/sshsig.c) in the gpgsig
 *   header, so `git log --show-signature` verifies them; libgit2 verifies
 *   nothing, so reading a commit verifies its signature here.
 * - No network timeouts exist in libgit2: callers that talk to a network
 *   archive must bound the call themselves (the service's job).
 */
#include "sync/sync.h"

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_SPEC "+refs/chartsync/*:refs/remotes/archive/chartsync/*"

/* A ref move waiting for its objects to reach disk (see chs_git_hold). */
typedef struct pending_ref {
	char *ref;
	git_oid old, tip;
	int has_old;
} pending_ref;

#define MAX_PENDING 8

struct chs_git {
	git_repository *repo;
	git_odb_backend *mempack; /* new objects wait here until flushed */
	int holding;              /* chs_git_hold: flush at chs_git_release */
	pending_ref pending[MAX_PENDING];
	size_t npending;
};

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_start(void)
{
	git_libgit2_init();
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
}

static int git_fail(int code, const char *what)
{
	const git_error *e = git_error_last();

	return chs_error_set(code, "%s: %s", what, e && e->message ? e->message : "git failed");
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
		return git_fail(CHS_ERROR, "cannot prepare the git repository");
	}
	return 0;
}

int chs_git_open(chs_git **out, const char *path)
{
	chs_git *g = calloc(1, sizeof(*g));
	int err;

	*out = NULL;
	if (!g)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	pthread_once(&git_once, git_start);
	if (git_repository_open_bare(&g->repo, path) < 0) {
		if (git_repository_init(&g->repo, path, 1) < 0) {
			free(g);
			return git_fail(CHS_EIO, "cannot open the git repository");
		}
		no_deltas(g->repo);
	}
	if ((err = add_mempack(g)) < 0) {
		chs_git_free(g);
		return err;
	}
	*out = g;
	return 0;
}

int chs_git_open_env(chs_git **out)
{
	chs_git *g = calloc(1, sizeof(*g));

	*out = NULL;
	if (!g)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	pthread_once(&git_once, git_start);
	if (git_repository_open_ext(&g->repo, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL) < 0) {
		free(g);
		return git_fail(CHS_EIO, "cannot open the archive's repository");
	}
	*out = g;
	return 0;
}

/* Settings an archive needs that its hook cannot enforce itself. */
static int configure_archive(git_repository *repo)
{
	git_config *cfg = NULL;
	int err = 0;

	if (git_repository_config(&cfg, repo) < 0)
		return git_fail(CHS_EIO, "cannot read the archive's settings");
	/* keep each push as one pack: ciphertext never deltas, and loose
	 * objects make every later fetch slow (FACTS.md) */
	if (git_config_set_int32(cfg, "receive.unpackLimit", 1) < 0 ||
	    /* a malformed object is refused before the hook even runs */
	    git_config_set_bool(cfg, "receive.fsckObjects", 1) < 0 ||
	    /* these guard refs/heads/ only; the hook guards refs/chartsync/ */
	    git_config_set_bool(cfg, "receive.denyNonFastForwards", 1) < 0 ||
	    git_config_set_bool(cfg, "receive.denyDeletes", 1) < 0)
		err = git_fail(CHS_EIO, "cannot write the archive's settings");
	git_config_free(cfg);
	return err;
}

int chs_git_init_archive(const char *path)
{
	git_repository_init_options opts;
	git_repository *repo = NULL;
	int rc, err;

	pthread_once(&git_once, git_start);
	git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT |
		     GIT_REPOSITORY_INIT_MKPATH;
	if ((rc = git_repository_init_ext(&repo, path, &opts)) < 0)
		return rc == GIT_EEXISTS
			? chs_error_set(CHS_EEXISTS, "'%s' is a git repository already", path)
			: git_fail(CHS_EIO, "cannot create the archive");
	err = configure_archive(repo);
	git_repository_free(repo);
	return err;
}

int chs_git_probe_bare(const char *path)
{
	git_repository *repo = NULL;
	int bare;

	pthread_once(&git_once, git_start);
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
	free(g);
}

/* ------------------------------------------------------------------ */
/* Writing a batch commit                                               */

static int write_tree(git_repository *repo, const chs_git_entry *e, size_t n,
		      git_tree **out)
{
	git_treebuilder *tb = NULL;
	git_oid blob, tree;
	size_t i;
	int err = 0;

	if (git_treebuilder_new(&tb, repo, NULL) < 0)
		return git_fail(CHS_ERROR, "cannot build a tree");
	for (i = 0; i < n && !err; i++)
		if (git_blob_create_from_buffer(&blob, repo, e[i].data, e[i].len) < 0 ||
		    git_treebuilder_insert(NULL, tb, e[i].name, &blob, GIT_FILEMODE_BLOB) < 0)
			err = git_fail(CHS_ERROR, "cannot store a batch in git");
	if (!err && (git_treebuilder_write(&tree, tb) < 0 ||
		     git_tree_lookup(out, repo, &tree) < 0))
		err = git_fail(CHS_ERROR, "cannot store a batch in git");
	git_treebuilder_free(tb);
	return err;
}

/* The current tip of `ref`, if any: *has = 0 when the ref is new. */
static int ref_tip(git_repository *repo, const char *ref, git_oid *tip, int *has)
{
	int rc = git_reference_name_to_id(tip, repo, ref);

	*has = rc == 0;
	if (rc == 0 || rc == GIT_ENOTFOUND)
		return 0;
	return git_fail(CHS_EIO, "cannot read a git ref");
}

static int sign_and_store(git_repository *repo, const git_buf *content,
			  const chs_identity *id, git_oid *out)
{
	chs_buf sig;
	int err;

	chs_buf_init(&sig, 0);
	if ((err = chs_sshsig_sign(&sig, id, "git", content->ptr, content->size)) < 0)
		return err;
	if (git_commit_create_with_signature(out, repo, content->ptr, sig.ptr, "gpgsig") < 0)
		err = git_fail(CHS_ERROR, "cannot store a signed commit");
	chs_buf_dispose(&sig);
	return err;
}

/* Move `ref` from `old` (or from nothing) to `new`, failing if it moved. */
static int move_ref(git_repository *repo, const char *ref, const git_oid *new,
		    const git_oid *old, int has_old)
{
	git_reference *r = NULL;
	int rc = has_old ? git_reference_create_matching(&r, repo, ref, new, 1, old,
							  "chartsync batch")
			 : git_reference_create(&r, repo, ref, new, 0, "chartsync batch");

	git_reference_free(r);
	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS)
		return chs_error_set(CHS_EBUSY, "the ref '%s' moved meanwhile; try again", ref);
	return rc < 0 ? git_fail(CHS_EIO, "cannot move a git ref") : 0;
}

static pending_ref *pending_of(chs_git *g, const char *ref)
{
	size_t i;

	for (i = 0; i < g->npending; i++)
		if (strcmp(g->pending[i].ref, ref) == 0)
			return &g->pending[i];
	return NULL;
}

/* Where `ref` will point: its pending tip, else where it points now. */
static int next_parent(chs_git *g, const char *ref, git_oid *tip, int *has)
{
	pending_ref *p = pending_of(g, ref);

	if (p) {
		git_oid_cpy(tip, &p->tip);
		*has = 1;
		return 0;
	}
	return ref_tip(g->repo, ref, tip, has);
}

static int note_pending(chs_git *g, const char *ref, const git_oid *old, int has_old,
			const git_oid *tip)
{
	pending_ref *p = pending_of(g, ref);

	if (!p) {
		if (g->npending == MAX_PENDING)
			return chs_error_set(CHS_ERROR, "too many refs in one git write");
		p = &g->pending[g->npending];
		if (!(p->ref = strdup(ref)))
			return chs_error_set(CHS_ENOMEM, "out of memory");
		git_oid_cpy(&p->old, old);
		p->has_old = has_old;
		g->npending++;
	}
	git_oid_cpy(&p->tip, tip);
	return 0;
}

/* The objects held in memory, as one pack on disk. */
static int write_held_objects(chs_git *g)
{
	git_buf pack = { 0 };
	git_odb *odb = NULL;
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats;
	int err = 0;

	memset(&stats, 0, sizeof(stats));
	if (git_mempack_dump(&pack, g->repo, g->mempack) < 0 ||
	    git_repository_odb(&odb, g->repo) < 0 ||
	    git_odb_write_pack(&wp, odb, NULL, NULL) < 0 ||
	    wp->append(wp, pack.ptr, pack.size, &stats) < 0 || wp->commit(wp, &stats) < 0)
		err = git_fail(CHS_EIO, "cannot write to the git repository");
	if (wp)
		wp->free(wp);
	git_odb_free(odb);
	git_buf_dispose(&pack);
	git_mempack_reset(g->mempack);
	return err;
}

int chs_git_flush(chs_git *g)
{
	size_t i;
	int err = 0;

	if (g->npending == 0)
		return 0;
	err = write_held_objects(g);
	/* refs move only once their objects are on disk */
	for (i = 0; i < g->npending; i++) {
		pending_ref *p = &g->pending[i];

		if (err == 0)
			err = move_ref(g->repo, p->ref, &p->tip, &p->old, p->has_old);
		free(p->ref);
	}
	g->npending = 0;
	return err;
}

void chs_git_hold(chs_git *g)
{
	g->holding = 1;
}

int chs_git_release(chs_git *g)
{
	g->holding = 0;
	return chs_git_flush(g);
}

int chs_git_write_commit(chs_git *g, const char *ref, const chs_git_entry *entries,
			 size_t n, const char *message, const chs_identity *id,
			 int64_t when, char oid_out[41])
{
	git_signature *who = NULL;
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_buf content = { 0 };
	git_oid tip, commit, old;
	char name[64], device[33];
	int has_tip, has_old, err;

	chs_identity_device_id(id, device);
	snprintf(name, sizeof(name), "device %s", device);
	if ((err = ref_tip(g->repo, ref, &old, &has_old)) < 0 ||
	    (err = next_parent(g, ref, &tip, &has_tip)) < 0 ||
	    (err = write_tree(g->repo, entries, n, &tree)) < 0)
		goto done;
	if ((has_tip && git_commit_lookup(&parent, g->repo, &tip) < 0) ||
	    git_signature_new(&who, name, "chartsync@invalid", when, 0) < 0 ||
	    git_commit_create_buffer(&content, g->repo, who, who, NULL, message, tree,
				     has_tip ? 1 : 0, (const git_commit **)&parent) < 0) {
		err = git_fail(CHS_ERROR, "cannot make a batch commit");
		goto done;
	}
	if ((err = sign_and_store(g->repo, &content, id, &commit)) < 0 ||
	    (err = note_pending(g, ref, &old, has_old, &commit)) < 0 ||
	    (!g->holding && (err = chs_git_flush(g)) < 0))
		goto done;
	git_oid_tostr(oid_out, 41, &commit);
done:
	git_buf_dispose(&content);
	git_signature_free(who);
	git_commit_free(parent);
	git_tree_free(tree);
	return err;
}

/* ------------------------------------------------------------------ */
/* Push and fetch                                                       */

typedef struct push_state {
	chs_buf refused; /* "ref: reason" lines from the server */
	chs_buf said;    /* what the hook printed */
} push_state;

static int on_ref_status(const char *refname, const char *status, void *payload)
{
	push_state *ps = payload;

	if (status)
		chs_buf_printf(&ps->refused, "%s%s: %s", ps->refused.len ? "; " : "",
			       refname, status);
	return 0;
}

static int on_sideband(const char *text, int len, void *payload)
{
	push_state *ps = payload;

	if (len > 0 && ps->said.len < 1024)
		chs_buf_put(&ps->said, text, (size_t)len);
	return 0;
}

/* The hook's own words, trimmed to one line, when it said anything. */
static const char *hook_words(push_state *ps)
{
	char *p;

	if (!ps->said.ptr)
		return "";
	while ((p = strchr(ps->said.ptr, '\r')) || (p = strchr(ps->said.ptr, '\n')))
		*p = ' ';
	return ps->said.ptr;
}

static int push_refspecs(git_remote *remote, const char *const *refs, size_t n,
			 push_state *ps)
{
	git_push_options opts;
	git_strarray specs;
	char **list = calloc(n + 1, sizeof(*list));
	size_t i;
	int rc, err = 0;

	if (!list)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < n && !err; i++) {
		chs_buf b;

		/* no '+': the archive must fast-forward, never rewind */
		chs_buf_init(&b, 0);
		if ((err = chs_buf_printf(&b, "%s:%s", refs[i], refs[i])) == 0)
			list[i] = chs_buf_detach(&b);
	}
	specs.strings = list;
	specs.count = n;
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	opts.callbacks.push_update_reference = on_ref_status;
	opts.callbacks.sideband_progress = on_sideband;
	opts.callbacks.payload = ps;
	if (!err && (rc = git_remote_push(remote, &specs, &opts)) < 0)
		err = rc == GIT_ENONFASTFORWARD
			? chs_error_set(CHS_EDENIED, "the archive refused the push: it holds "
					"commits of this device's ref that this device does not "
					"have (not a fast-forward)")
			: git_fail(CHS_EIO, "cannot push to the archive");
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return err;
}

int chs_git_push(chs_git *g, const char *url, const char *const *refs, size_t n)
{
	git_remote *remote = NULL;
	push_state ps;
	int err;

	chs_buf_init(&ps.refused, 4096);
	chs_buf_init(&ps.said, 4096);
	if (git_remote_create_anonymous(&remote, g->repo, url) < 0) {
		err = git_fail(CHS_EINVALID, "not an archive address");
		goto done;
	}
	if ((err = push_refspecs(remote, refs, n, &ps)) < 0)
		goto done;
	/* git_remote_push returns 0 for a refusal: the status tells */
	if (ps.refused.len)
		err = chs_error_set(CHS_EDENIED, "the archive refused the push (%s) %s",
				    ps.refused.ptr, hook_words(&ps));
done:
	git_remote_free(remote);
	chs_buf_dispose(&ps.refused);
	chs_buf_dispose(&ps.said);
	return err;
}

int chs_git_fetch(chs_git *g, const char *url)
{
	char *spec[] = { (char *)FETCH_SPEC };
	git_strarray specs = { spec, 1 };
	git_fetch_options opts;
	git_remote *remote = NULL;
	int err = 0;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	opts.prune = GIT_FETCH_NO_PRUNE;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	if (git_remote_create_anonymous(&remote, g->repo, url) < 0)
		err = git_fail(CHS_EINVALID, "not an archive address");
	else if (git_remote_fetch(remote, &specs, &opts, NULL) < 0)
		err = git_fail(CHS_EIO, "cannot fetch from the archive");
	git_remote_free(remote);
	return err;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */

static int walk(git_revwalk *w, const git_oid *tip, const git_oid *since,
		char (**out)[41], size_t *n)
{
	size_t cap = 0;
	git_oid oid;
	int rc;

	if (git_revwalk_push(w, tip) < 0 || (since && git_revwalk_hide(w, since) < 0))
		return git_fail(CHS_EDAMAGED, "cannot walk a device's history");
	git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	while ((rc = git_revwalk_next(&oid, w)) == 0) {
		if (*n == cap) {
			char (*g)[41] = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(*g));

			if (!g)
				return chs_error_set(CHS_ENOMEM, "out of memory");
			*out = g;
		}
		git_oid_tostr((*out)[(*n)++], 41, &oid);
	}
	return rc == GIT_ITEROVER ? 0 : git_fail(CHS_EDAMAGED, "cannot walk a device's history");
}

int chs_git_log(chs_git *g, const char *ref, const char *since,
		char (**out)[41], size_t *n)
{
	git_revwalk *w = NULL;
	git_oid tip, from;
	int has, err;

	*out = NULL;
	*n = 0;
	if ((err = ref_tip(g->repo, ref, &tip, &has)) < 0 || !has)
		return err;
	if (since && git_oid_fromstr(&from, since) < 0)
		return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", since);
	if (git_revwalk_new(&w, g->repo) < 0)
		return git_fail(CHS_ERROR, "cannot walk a device's history");
	err = walk(w, &tip, since ? &from : NULL, out, n);
	git_revwalk_free(w);
	if (err < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return err;
}

int chs_git_log_range(chs_git *g, const char *tip, const char *since,
		      char (**out)[41], size_t *n)
{
	git_revwalk *w = NULL;
	git_oid from, to;
	int err;

	*out = NULL;
	*n = 0;
	if (git_oid_fromstr(&from, tip) < 0)
		return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", tip);
	if (since && git_oid_fromstr(&to, since) < 0)
		return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", since);
	if (git_revwalk_new(&w, g->repo) < 0)
		return git_fail(CHS_ERROR, "cannot walk a device's history");
	err = walk(w, &from, since ? &to : NULL, out, n);
	git_revwalk_free(w);
	if (err < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return err;
}

int chs_git_ref(chs_git *g, const char *ref, char oid_out[41])
{
	git_oid tip;
	int has, err;

	oid_out[0] = '\0';
	if ((err = ref_tip(g->repo, ref, &tip, &has)) < 0)
		return err;
	if (!has)
		return chs_error_set(CHS_ENOTFOUND, "no ref '%s'", ref);
	git_oid_tostr(oid_out, 41, &tip);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void chs_git_refs_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int chs_git_refs(chs_git *g, const char *prefix, char ***names, size_t *n)
{
	git_reference_iterator *it = NULL;
	const char *name;
	char **list = NULL;
	size_t cnt = 0, cap = 0, plen = strlen(prefix);
	chs_buf glob;
	int rc, err = 0;

	*names = NULL;
	*n = 0;
	chs_buf_init(&glob, 0);
	if ((err = chs_buf_printf(&glob, "%s*", prefix)) < 0)
		return err;
	if (git_reference_iterator_glob_new(&it, g->repo, glob.ptr) < 0) {
		chs_buf_dispose(&glob);
		return git_fail(CHS_EIO, "cannot list git refs");
	}
	while (err == 0 && (rc = git_reference_next_name(&name, it)) == 0) {
		if (strncmp(name, prefix, plen) != 0)
			continue;
		if (cnt == cap) {
			char **grown = realloc(list, (cap = cap ? cap * 2 : 16) * sizeof(*list));

			if (!grown) {
				err = chs_error_set(CHS_ENOMEM, "out of memory");
				break;
			}
			list = grown;
		}
		if (!(list[cnt] = strdup(name)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			cnt++;
	}
	if (err == 0 && rc != GIT_ITEROVER)
		err = git_fail(CHS_EIO, "cannot list git refs");
	git_reference_iterator_free(it);
	chs_buf_dispose(&glob);
	if (err < 0) {
		chs_git_refs_free(list, cnt);
		return err;
	}
	if (cnt)
		qsort(list, cnt, sizeof(*list), by_name);
	*names = list;
	*n = cnt;
	return 0;
}

int chs_git_is_ancestor(chs_git *g, const char *ancestor, const char *descendant,
			int *yes)
{
	git_oid a, d;
	int rc;

	*yes = 0;
	if (git_oid_fromstr(&a, ancestor) < 0 || git_oid_fromstr(&d, descendant) < 0)
		return chs_error_set(CHS_EINVALID, "not a commit id");
	if (git_oid_equal(&a, &d)) {
		*yes = 1;
		return 0;
	}
	rc = git_graph_descendant_of(g->repo, &d, &a);
	if (rc < 0)
		return git_fail(CHS_EDAMAGED, "cannot compare two commits");
	*yes = rc;
	return 0;
}

void chs_git_commit_free(chs_git_commit *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nentries; i++) {
		free(c->entries[i].name);
		free(c->entries[i].data);
	}
	free(c->entries);
	free(c->message);
	free(c);
}

static int read_entries(git_repository *repo, git_commit *commit, chs_git_commit *c)
{
	git_tree *tree = NULL;
	size_t i, n;
	int err = 0;

	if (git_commit_tree(&tree, commit) < 0)
		return git_fail(CHS_EDAMAGED, "a batch commit has no tree");
	n = git_tree_entrycount(tree);
	if (!(c->entries = calloc(n + 1, sizeof(*c->entries))))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < n && !err; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		git_blob *blob = NULL;
		chs_git_blob *e = &c->entries[i];

		if (git_tree_entry_type(te) != GIT_OBJECT_BLOB ||
		    git_blob_lookup(&blob, repo, git_tree_entry_id(te)) < 0) {
			err = chs_error_set(CHS_EDAMAGED, "a batch commit holds something other than files");
			break;
		}
		e->len = (size_t)git_blob_rawsize(blob);
		e->name = strdup(git_tree_entry_name(te));
		e->data = malloc(e->len + 1);
		if (!e->name || !e->data)
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			memcpy(e->data, git_blob_rawcontent(blob), e->len);
		c->nentries = i + 1;
		git_blob_free(blob);
	}
	git_tree_free(tree);
	return err;
}

/* The signer of a commit, from its gpgsig header. */
static int commit_signer(git_repository *repo, git_oid *oid, unsigned char signer[32])
{
	git_buf sig = { 0 }, data = { 0 };
	int err;

	if (git_commit_extract_signature(&sig, &data, repo, oid, "gpgsig") < 0)
		return chs_error_set(CHS_EDAMAGED, "a batch commit is not signed");
	err = chs_sshsig_verify(signer, sig.ptr, sig.size, "git", data.ptr, data.size);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return err < 0 ? chs_error_set(CHS_EDAMAGED, "a batch commit's signature does not verify")
		       : 0;
}

int chs_git_read(chs_git *g, const char *oid_hex, chs_git_commit **out)
{
	git_commit *commit = NULL;
	chs_git_commit *c = NULL;
	git_oid oid;
	int err;

	*out = NULL;
	if (git_oid_fromstr(&oid, oid_hex) < 0)
		return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", oid_hex);
	if (!(c = calloc(1, sizeof(*c))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (git_commit_lookup(&commit, g->repo, &oid) < 0) {
		err = git_fail(CHS_ENOTFOUND, "no such commit");
		goto done;
	}
	c->parents = git_commit_parentcount(commit);
	if (c->parents)
		git_oid_tostr(c->parent, sizeof(c->parent), git_commit_parent_id(commit, 0));
	c->time = (int64_t)git_commit_time(commit);
	if (!(c->message = strdup(git_commit_message(commit) ? git_commit_message(commit) : ""))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	if ((err = commit_signer(g->repo, &oid, c->signer)) < 0 ||
	    (err = read_entries(g->repo, commit, c)) < 0)
		goto done;
	*out = c;
	c = NULL;
done:
	git_commit_free(commit);
	chs_git_commit_free(c);
	return err;
}
