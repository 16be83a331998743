/*
 * sync/git/local.c - an archive that is a folder on this machine (a path
 * or file://): fetched from and pushed to without libgit2's local
 * transport, and its packs rolled up; and chs_git__net_run(), which picks
 * that way or the wire's for one push or fetch. Calls wire.c, commit.c
 * (compare-and-swap of a ref), packwrite.c, rollup.c, locks.c and
 * repo.c.
 */
#include "git_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The objects one repository lacks                                     */

/*
 * Both ways, what moves is the objects of some commits that the other
 * side does not hold yet: each commit, its tree and everything the tree
 * holds. They are listed here and written as one pack of our own
 * (chs_git__write_pack_of) rather than through libgit2's pack builder,
 * which inflates every object and deflates it again at zlib's default
 * level (ciphertext, which never shrinks): that was half of a fetch from
 * a folder. Every object is looked up in the target without reading its
 * pack folder again at each miss (a pack that arrived meanwhile only
 * means an object copied twice).
 */
typedef struct missing {
	oid_list list;
	git_odb *target;
	int err;
} missing;

static int add_missing(missing *m, const git_oid *id)
{
	if (git_odb_exists_ext(m->target, id, GIT_ODB_LOOKUP_NO_REFRESH))
		return 0;
	return m->err = chs_git__oid_list_add(&m->list, id);
}

static int add_tree_entry(const char *root, const git_tree_entry *e, void *payload)
{
	(void)root;
	return add_missing(payload, git_tree_entry_id(e)) < 0 ? -1 : 0;
}

/* A tree and everything it holds, read from `repo`; `unreadable` is
 * what a failure says. */
static int missing_of_tree(git_repository *repo, const git_oid *id, missing *m,
			   const char *unreadable)
{
	git_tree *t = NULL;
	int err = 0;

	if (git_tree_lookup(&t, repo, id) < 0)
		err = chs_git__fail(CHS_EDAMAGED, unreadable);
	else if (add_missing(m, id) < 0 || git_tree_walk(t, GIT_TREEWALK_PRE, add_tree_entry, m) < 0)
		err = m->err ? m->err : chs_git__fail(CHS_EDAMAGED, unreadable);
	git_tree_free(t);
	return err;
}

/* The objects of every commit `walk` yields, read from `repo`. */
static int missing_of_walk(git_repository *repo, git_revwalk *walk, missing *m,
			   const char *unreadable)
{
	git_commit *c = NULL;
	git_oid id;
	int rc = GIT_ITEROVER, err = 0;

	while (err == 0 && (rc = git_revwalk_next(&id, walk)) == 0) {
		if (git_commit_lookup(&c, repo, &id) < 0)
			err = chs_git__fail(CHS_EDAMAGED, unreadable);
		else if ((err = add_missing(m, &id)) == 0)
			err = missing_of_tree(repo, git_commit_tree_id(c), m, unreadable);
		git_commit_free(c);
		c = NULL;
	}
	if (err == 0 && rc != GIT_ITEROVER)
		err = chs_git__fail(CHS_EIO, unreadable);
	return err;
}

/* ------------------------------------------------------------------ */
/* Fetching from an archive on this machine                             */

/*
 * libgit2's local transport copies every object the archive holds,
 * whatever refs were asked for, so a billing office fetching from a
 * folder would receive every attachment chunk. A fetch from a path is
 * therefore done here: walk the wanted refs in the archive, hiding what
 * this mirror already has, pack exactly those objects into this mirror,
 * then point the fetched refs (refs/remotes/archive/...) at the archive's
 * tips, as the forced refspecs of a network fetch would.
 */
typedef struct wanted_ref {
	char *src;  /* refs/chartsync/... in the archive */
	git_oid tip;
} wanted_ref;

static int wanted(unsigned what, const char *name)
{
	if (what & CHS_GIT_FETCH_CHANGES &&
	    (!strcmp(name, "refs/chartsync/roster") || !strncmp(name, "refs/chartsync/devices/", 23)))
		return 1;
	return (what & CHS_GIT_FETCH_CHUNKS) && !strncmp(name, "refs/chartsync/blobs/", 21);
}

static void wanted_free(wanted_ref *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(w[i].src);
	free(w);
}

static int list_wanted(git_repository *src, unsigned what, wanted_ref **out, size_t *n)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	wanted_ref *list = NULL;
	size_t cap = 0;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	if (git_reference_iterator_glob_new(&it, src, "refs/chartsync/*") < 0)
		return chs_git__fail(CHS_EIO, "cannot read the archive's refs");
	while (err == 0 && (rc = git_reference_next(&ref, it)) == 0) {
		const git_oid *id = git_reference_target(ref);

		if (id && wanted(what, git_reference_name(ref))) {
			if (*n == cap && (err = CHS_ARRAY_GROW(list, cap, *n + 1)) < 0) {
				git_reference_free(ref);
				break;
			}
			git_oid_cpy(&list[*n].tip, id);
			if (!(list[*n].src = chs_strdup(git_reference_name(ref))))
				err = chs_error_set(CHS_ENOMEM, "out of memory");
			else
				(*n)++;
		}
		git_reference_free(ref);
	}
	if (err == 0 && rc != GIT_ITEROVER)
		err = chs_git__fail(CHS_EIO, "cannot read the archive's refs");
	git_reference_iterator_free(it);
	if (err < 0)
		wanted_free(list, *n);
	else
		*out = list;
	return err;
}

/* Hide, in the archive's walk, every tip this mirror already holds.
 * Most of this mirror's refs name commits the archive has not got (or
 * not yet): looked up without libgit2 reading the pack folder again at
 * each miss, a miss only costs a few objects copied twice. */
static int hide_known(git_repository *mine, git_repository *src, git_revwalk *w)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	git_odb *odb = NULL;
	int rc, err = 0;

	if (git_repository_odb(&odb, src) < 0 || git_reference_iterator_new(&it, mine) < 0) {
		git_odb_free(odb);
		return chs_git__fail(CHS_EIO, "cannot read the git repository");
	}
	while ((rc = git_reference_next(&ref, it)) == 0) {
		const git_oid *id = git_reference_target(ref);
		git_object_t type = GIT_OBJECT_INVALID;
		size_t len;

		/* only commits can be hidden: a fetched ref may name a tree the
		 * host pointed it at (copy_objects) */
		if (id && git_odb_exists_ext(odb, id, GIT_ODB_LOOKUP_NO_REFRESH) &&
		    git_odb_read_header(&len, &type, odb, id) == 0 && type == GIT_OBJECT_COMMIT &&
		    git_revwalk_hide(w, id) < 0)
			err = chs_git__fail(CHS_EIO, "cannot walk the archive");
		git_error_clear();
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	git_odb_free(odb);
	return err;
}

/* A fetch asked to stop while its pack is written: checked every few
 * hundred objects (a first fetch of a large archive takes seconds). A
 * stopped copy moves no ref, and leaves at most a temporary pack, which
 * chs_git_clear_stale_locks() removes once stale. */
static int fetch_stop_asked(void *payload)
{
	const chs_git_transport *t = payload;

	return t && t->cancel && t->cancel(t->payload);
}

/* Whether this mirror holds every tip: then it holds everything they
 * reach (objects only ever arrive here as whole packs, each closed under
 * what it reaches given what was here), and there is nothing to copy.
 * Most syncs find nothing new: this spares them the walk. */
static int all_held(git_odb *mine, const wanted_ref *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!git_odb_exists_ext(mine, &w[i].tip, GIT_ODB_LOOKUP_NO_REFRESH))
			return 0;
	return 1;
}

/* The objects the archive's tips reach and this mirror lacks, as one
 * pack in this mirror. */
static int copy_objects(git_repository *mine, git_repository *src, const wanted_ref *w,
			size_t n, const char *url, const chs_git_transport *t)
{
	const char *unreadable = "cannot read the archive's commits";
	git_revwalk *walk = NULL;
	git_odb *from = NULL;
	missing m;
	size_t i;
	int err = 0;

	memset(&m, 0, sizeof(m));
	if (git_revwalk_new(&walk, src) < 0 || git_repository_odb(&from, src) < 0 ||
	    git_repository_odb(&m.target, mine) < 0)
		err = chs_git__fail(CHS_EIO, "cannot read the archive");
	if (err == 0 && all_held(m.target, w, n))
		goto done;
	for (i = 0; i < n && err == 0; i++) {
		git_object_t type;
		size_t len;

		if (git_odb_read_header(&len, &type, from, &w[i].tip) < 0)
			err = chs_git__fail(CHS_EDAMAGED, "the archive holds a ref to a missing commit");
		/* a ref a host pointed at a tree or a blob is copied as it is,
		 * as a network fetch copies it, for the sync to refuse that ref
		 * alone: walking it would fail the fetch of every other ref */
		else if (type == GIT_OBJECT_TREE)
			err = missing_of_tree(src, &w[i].tip, &m, unreadable);
		else if (type != GIT_OBJECT_COMMIT)
			err = add_missing(&m, &w[i].tip);
		else if (git_revwalk_push(walk, &w[i].tip) < 0)
			err = chs_git__fail(CHS_EDAMAGED,
					    "the archive holds a ref to a missing commit");
	}
	if (err == 0)
		err = hide_known(mine, src, walk);
	if (err == 0)
		err = missing_of_walk(src, walk, &m, unreadable);
	if (err == 0 && m.list.n > 0 &&
	    (err = chs_git__write_pack_of(from, m.target, m.list.ids,
					  chs_git__unique_oids(m.list.ids, m.list.n), NULL,
					  fetch_stop_asked, (void *)t)) < 0) {
		if (err == CHS_ECANCELLED)
			err = chs_error_set(CHS_ECANCELLED, "the fetch from the archive at %s was"
					    " stopped before it finished; nothing was lost, the next"
					    " sync does it", url);
		else if (err != CHS_ENOMEM)
			err = chs_git__fail_fetch(url, "cannot copy the objects of the archive at");
	}
done:
	free(m.list.ids);
	git_odb_free(m.target);
	git_odb_free(from);
	git_revwalk_free(walk);
	return err;
}

static int point_fetched_refs(git_repository *mine, const wanted_ref *w, size_t n,
			      const char *url)
{
	chs_buf name;
	size_t i;
	int err = 0;

	chs_buf_init(&name, 0);
	for (i = 0; i < n && err == 0; i++) {
		git_reference *r = NULL;
		git_oid now;

		name.len = 0;
		if ((err = chs_buf_printf(&name, "refs/remotes/archive/%s",
					  w[i].src + strlen("refs/"))) < 0)
			break;
		/* a ref that has not moved is not written again: each write
		 * costs two fsyncs, and most refs stand still between syncs */
		if (git_reference_name_to_id(&now, mine, name.ptr) < 0)
			git_error_clear();
		else if (git_oid_equal(&now, &w[i].tip))
			continue;
		if (git_reference_create(&r, mine, name.ptr, &w[i].tip, 1, "chartsync fetch") < 0)
			err = chs_git__fail_fetch(url, "cannot record what was fetched from");
		git_reference_free(r);
	}
	chs_buf_dispose(&name);
	return err;
}

/* Forget the fetched refs of what the archive no longer holds (as the
 * network fetch's prune does): what this mirror says the archive has must
 * be what it has now, or a deleted ref there would go unseen here. Only
 * the kinds of ref this fetch asked for. */
static int prune_fetched(git_repository *mine, unsigned what, const wanted_ref *w, size_t n,
			 const char *url)
{
	const size_t ns = strlen("refs/remotes/archive/");
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	char src[512];
	size_t i;
	int rc, err = 0;

	if (git_reference_iterator_glob_new(&it, mine, "refs/remotes/archive/chartsync/*") < 0)
		return chs_git__fail(CHS_EIO, "cannot read the git repository");
	while (err == 0 && (rc = git_reference_next(&ref, it)) == 0) {
		/* refs/remotes/archive/chartsync/... fetched from refs/chartsync/... */
		snprintf(src, sizeof(src), "refs/%s", git_reference_name(ref) + ns);
		for (i = 0; i < n && strcmp(w[i].src, src) != 0; i++)
			;
		if (i == n && wanted(what, src) && git_reference_delete(ref) < 0)
			err = chs_git__fail_fetch(url, "cannot record what was fetched from");
		git_reference_free(ref);
	}
	if (err == 0 && rc != GIT_ITEROVER)
		err = chs_git__fail(CHS_EIO, "cannot read the git repository");
	git_reference_iterator_free(it);
	return err;
}

/* The folder of a path or file:// archive. */
static const char *folder_of(const char *url)
{
	return strncmp(url, "file://", 7) ? url : url + 7;
}

/* An archive on this machine, opened as it is (no search upwards). */
static int open_folder(git_repository **out, const char *url)
{
	if (git_repository_open_ext(out, folder_of(url), GIT_REPOSITORY_OPEN_NO_SEARCH |
				    GIT_REPOSITORY_OPEN_BARE, NULL) < 0)
		return chs_git__fail_fetch(url, "cannot reach the archive at");
	return 0;
}

static int local_fetch(git_repository *mine, const char *url, unsigned what,
		       const chs_git_transport *t)
{
	git_repository *src = NULL;
	wanted_ref *w = NULL;
	size_t n = 0;
	int err;

	if ((err = open_folder(&src, url)) < 0)
		return err;
	if ((err = list_wanted(src, what, &w, &n)) == 0 && n > 0 &&
	    (err = copy_objects(mine, src, w, n, url, t)) == 0)
		err = point_fetched_refs(mine, w, n, url);
	if (err == 0)
		err = prune_fetched(mine, what, w, n, url);
	wanted_free(w, n);
	git_repository_free(src);
	return err;
}

/* Pushing to an archive on this machine                                */

/*
 * libgit2's local transport sends a push through its pack builder, which
 * deflates every object again at zlib's default level (ciphertext, which
 * never shrinks). What a push must send is known without it: the
 * objects of the commits from each ref's tip here back to its tip in the
 * archive. They are packed into the archive as held objects are packed
 * here (chs_git__write_pack_of), then each ref is moved from the archive's tip to
 * this mirror's with compare-and-swap, and only as a fast-forward: a
 * rewind, or a ref that moved meanwhile, is refused in the words a
 * network archive's refusal gets, so the caller's fetch-and-retry works
 * the same. No hook runs for a push by path, with libgit2 or without.
 * (10,000 changes to a folder: 27-31k changes/s through libgit2, 36-39k
 * so; 100 changes: 3-5 ms of 20 less.)
 */
typedef struct push_ref {
	const char *name;
	git_oid mine, theirs;
	int has_theirs, moves;
} push_ref;

/* Where each ref stands here and in the archive; a ref the archive holds
 * moves only to a descendant of its tip there. */
static int push_plan(git_repository *mine, git_odb *have, git_repository *src, push_ref *pr,
		     size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (git_reference_name_to_id(&pr[i].mine, mine, pr[i].name) < 0)
			return chs_git__fail(CHS_EIO, "cannot read a git ref");
		rc = git_reference_name_to_id(&pr[i].theirs, src, pr[i].name);
		if (rc < 0 && rc != GIT_ENOTFOUND)
			return chs_git__fail(CHS_EIO, "cannot read the archive's refs");
		pr[i].has_theirs = rc == 0;
		pr[i].moves = !pr[i].has_theirs || !git_oid_equal(&pr[i].mine, &pr[i].theirs);
		if (!pr[i].moves || !pr[i].has_theirs)
			continue;
		/* an archive tip unknown here is not an ancestor either */
		if (!git_odb_exists(have, &pr[i].theirs))
			return chs_git__refused_rewind();
		rc = git_graph_descendant_of(mine, &pr[i].mine, &pr[i].theirs);
		if (rc == 0)
			return chs_git__refused_rewind();
		if (rc < 0)
			return chs_git__fail(CHS_EIO, "cannot walk this device's commits");
	}
	return 0;
}

/* The objects the archive lacks of the commits the moving refs add:
 * each commit, its tree and everything the tree holds. */
static int objects_to_send(git_repository *mine, const push_ref *pr, size_t n, missing *l)
{
	git_revwalk *walk = NULL;
	size_t i;
	int err = 0;

	if (git_revwalk_new(&walk, mine) < 0)
		return chs_git__fail(CHS_EIO, "cannot walk this device's commits");
	for (i = 0; i < n && err == 0; i++) {
		if (pr[i].moves && git_revwalk_push(walk, &pr[i].mine) < 0)
			err = chs_git__fail(CHS_EIO, "cannot walk this device's commits");
		else if (pr[i].moves && pr[i].has_theirs && git_revwalk_hide(walk, &pr[i].theirs) < 0)
			err = chs_git__fail(CHS_EIO, "cannot walk this device's commits");
	}
	if (err == 0)
		err = missing_of_walk(mine, walk, l, "a commit of this device cannot be read");
	git_revwalk_free(walk);
	return err;
}

/* Move the archive's ref, if it still is where the plan found it. */
static int push_ref_move(git_repository *src, const push_ref *p)
{
	int rc = chs_git__swap_ref(src, p->name, &p->mine, &p->theirs, p->has_theirs,
				   "chartsync push");

	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS)
		return chs_git__refused_rewind();
	if (rc == GIT_ELOCKED)
		return chs_error_set(CHS_EBUSY, "the archive's ref '%s' is locked (%s.lock): "
				     "another push is under way, or one was interrupted; a sync "
				     "%d s later clears a lock left behind", p->name, p->name,
				     CHS_GIT_STALE_LOCK_S);
	return rc < 0 ? chs_git__fail(CHS_EIO, "cannot move a ref in the archive") : 0;
}

/* What a push killed midway left in the archive and would block it with:
 * the locks of the refs this push moves (only this device writes them)
 * and temporary packs, when stale (as chs_git_clear_stale_locks()). */
static void clear_archive_leftovers(git_repository *src, const push_ref *pr, size_t n)
{
	time_t stale = time(NULL) - CHS_GIT_STALE_LOCK_S;
	const char *gitdir = git_repository_path(src); /* ends in '/' */
	char path[4096];
	struct stat st;
	size_t i;

	for (i = 0; i < n; i++)
		if (pr[i].moves &&
		    snprintf(path, sizeof(path), "%s%s.lock", gitdir, pr[i].name) < (int)sizeof(path) &&
		    lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < stale)
			unlink(path);
	if (snprintf(path, sizeof(path), "%sobjects/pack", gitdir) < (int)sizeof(path))
		chs_git__clear_dir(path, 0, stale);
}

static int local_push(git_repository *mine, const char *url, const char *const *refs,
		      size_t n)
{
	git_repository *src = NULL;
	git_odb *from = NULL, *to = NULL;
	push_ref *pr = chs_calloc(n + 1, sizeof(*pr));
	missing l;
	size_t i;
	int err;

	memset(&l, 0, sizeof(l));
	if (!pr)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		pr[i].name = refs[i];
	if ((err = open_folder(&src, url)) < 0)
		goto done;
	if (git_repository_odb(&from, mine) < 0 || git_repository_odb(&to, src) < 0) {
		err = chs_git__fail(CHS_EIO, "cannot open the archive");
		goto done;
	}
	l.target = to;
	if ((err = push_plan(mine, from, src, pr, n)) < 0 ||
	    (err = objects_to_send(mine, pr, n, &l)) < 0)
		goto done;
	clear_archive_leftovers(src, pr, n);
	if (l.list.n &&
	    (err = chs_git__write_pack_of(from, to, l.list.ids,
					  chs_git__unique_oids(l.list.ids, l.list.n), NULL,
					  NULL, NULL)) < 0) {
		err = chs_error_wrap(err, "cannot write into the archive at %s", folder_of(url));
		goto done;
	}
	/* refs move only once their objects are in the archive */
	for (i = 0; i < n && err == 0; i++)
		if (pr[i].moves)
			err = push_ref_move(src, &pr[i]);
done:
	free(l.list.ids);
	free(pr);
	git_odb_free(from);
	git_odb_free(to);
	git_repository_free(src);
	return err;
}

int chs_git_maintain_archive(const char *url, size_t max_packs)
{
	git_repository *src = NULL;
	int err;

	if (!chs_git__is_local(url))
		return 0;
	if ((err = chs_git__start()) == 0 && (err = open_folder(&src, url)) == 0)
		err = chs_git__roll_up_packs(src, max_packs);
	git_repository_free(src);
	return err;
}

/* Run one push or fetch on `repo`, wherever this process is. */
int chs_git__net_run(git_repository *repo, net_op *op)
{
	git_remote *remote = NULL;
	int err;

	if (git_remote_create_anonymous(&remote, repo, op->url) < 0) {
		err = chs_git__fail(CHS_EINVALID, "not an archive address");
		goto done;
	}
	if (chs_git__is_local(op->url))
		err = op->push ? local_push(repo, op->url, op->refs, op->n)
			       : local_fetch(repo, op->url, op->what, op->t);
	else
		err = op->push ? chs_git__push_refspecs(remote, op)
			       : chs_git__fetch_refspecs(remote, op);
	if (err < 0)
		goto done;
	/* git_remote_push returns 0 for a refusal: the status tells */
	if (op->refused.len)
		err = chs_error_set(CHS_EDENIED, "the archive refused the push (%s) %s",
				    op->refused.ptr, chs_git__hook_words(op));
done:
	git_remote_free(remote);
	if (err < 0) {
		/* libgit2's words may quote the address, login and all */
		char clean[2048];

		chs_git__scrub(clean, sizeof(clean), chs_error_last(), op->url);
		if (strcmp(clean, chs_error_last()) != 0)
			err = chs_error_set(err, "%s", clean);
	}
	return err;
}

/* A path or file:// URL: no network, nothing to bound. libgit2 reads
 * "host:path" (a ':' before any '/') as scp-style ssh. */
int chs_git__is_local(const char *url)
{
	const char *colon = strchr(url, ':'), *slash = strchr(url, '/');

	if (!strncmp(url, "file://", 7))
		return 1;
	return !colon || (slash && slash < colon);
}
