/*
 * sync/git/commit.c - writing a batch commit: its tree, its signature,
 * the ref moves that wait for its objects (chs_git_hold) and the flush
 * that writes them. Calls packwrite.c (the held objects as one pack),
 * read.c (a ref's tip) and repo.c.
 */
#include "git_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <git2/sys/mempack.h>

#define HOLD_MAX_BYTES ((size_t)32 << 20) /* held before a pack is written */

/* Remember an object this handle wrote into the mempack: the flush
 * writes exactly these to disk. */
static int note_held(chs_git *g, const git_oid *id)
{
	return chs_git__oid_list_add(&g->held, id);
}

static int write_tree(chs_git *g, const chs_git_entry *e, size_t n, git_tree **out)
{
	git_treebuilder *tb = NULL;
	git_oid blob, tree;
	size_t i;
	int err = 0;

	if (git_treebuilder_new(&tb, g->repo, NULL) < 0)
		return chs_git__fail(CHS_ERROR, "cannot build a tree");
	for (i = 0; i < n && !err; i++) {
		if (git_blob_create_from_buffer(&blob, g->repo, e[i].data, e[i].len) < 0 ||
		    git_treebuilder_insert(NULL, tb, e[i].name, &blob, GIT_FILEMODE_BLOB) < 0)
			err = chs_git__fail(CHS_ERROR, "cannot store a batch in git");
		else if ((err = note_held(g, &blob)) == 0)
			g->held_bytes += e[i].len;
	}
	if (!err && (git_treebuilder_write(&tree, tb) < 0 ||
		     git_tree_lookup(out, g->repo, &tree) < 0))
		err = chs_git__fail(CHS_ERROR, "cannot store a batch in git");
	if (!err)
		err = note_held(g, &tree);
	git_treebuilder_free(tb);
	return err;
}

static int sign_and_store(chs_git *g, const git_buf *content, const chs_identity *id,
			  git_oid *out)
{
	chs_buf sig;
	int err;

	chs_buf_init(&sig, 0);
	if ((err = chs_sshsig_sign(&sig, id, "git", content->ptr, content->size)) < 0)
		return err;
	if (git_commit_create_with_signature(out, g->repo, content->ptr, sig.ptr, "gpgsig") < 0)
		err = chs_git__fail(CHS_ERROR, "cannot store a signed commit");
	else
		err = note_held(g, out);
	chs_buf_dispose(&sig);
	return err;
}

/* Move `ref` from `old` (or from nothing) to `new` if it is still there:
 * libgit2's answer (GIT_EMODIFIED or GIT_EEXISTS: it moved meanwhile). */
int chs_git__swap_ref(git_repository *repo, const char *ref, const git_oid *new,
		      const git_oid *old, int has_old, const char *why)
{
	git_reference *r = NULL;
	int rc = has_old ? git_reference_create_matching(&r, repo, ref, new, 1, old, why)
			 : git_reference_create(&r, repo, ref, new, 0, why);

	git_reference_free(r);
	return rc;
}

/* Move `ref` from `old` (or from nothing) to `new`, failing if it moved. */
static int move_ref(git_repository *repo, const char *ref, const git_oid *new,
		    const git_oid *old, int has_old)
{
	int rc = chs_git__swap_ref(repo, ref, new, old, has_old, "chartsync batch");

	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS)
		return chs_error_set(CHS_EBUSY, "the ref '%s' moved meanwhile; try again", ref);
	if (rc == GIT_ELOCKED)
		return chs_error_set(CHS_EBUSY, "the ref '%s' is locked (%s.lock): another write "
				     "is under way, or one was interrupted; the next sync removes "
				     "a stale lock", ref, ref);
	return rc < 0 ? chs_git__fail(CHS_EIO, "cannot move a git ref") : 0;
}

int chs_git_set_ref(chs_git *g, const char *ref, const char *oid, const char *old)
{
	git_oid new_id, old_id;
	git_commit *c = NULL;
	int has_old = 0, err;

	if (git_oid_fromstr(&new_id, oid) < 0 || git_commit_lookup(&c, g->repo, &new_id) < 0)
		return chs_git__fail(CHS_ENOTFOUND, "no such commit in the repository");
	git_commit_free(c);
	if (old && !*old) {
		has_old = 0;
		memset(&old_id, 0, sizeof(old_id));
	} else if (old) {
		if (git_oid_fromstr(&old_id, old) < 0)
			return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", old);
	} else if ((err = chs_git__ref_tip(g->repo, ref, &old_id, &has_old)) < 0) {
		return err;
	}
	return move_ref(g->repo, ref, &new_id, &old_id, old ? *old != 0 : has_old);
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
	return chs_git__ref_tip(g->repo, ref, tip, has);
}

static int note_pending(chs_git *g, const char *ref, const git_oid *old, int has_old,
			const git_oid *tip)
{
	pending_ref *p = pending_of(g, ref);

	if (!p) {
		if (g->npending == CHS_GIT_MAX_PENDING)
			return chs_error_set(CHS_ERROR, "too many refs in one git write");
		p = &g->pending[g->npending];
		if (!(p->ref = chs_strdup(ref)))
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
	git_odb *odb = NULL;
	int err = 0;

	if (g->held.n) {
		if (git_repository_odb(&odb, g->repo) < 0)
			err = chs_git__fail(CHS_EIO, "cannot write to the git repository");
		else /* each once: a blob can be in two commits of one sync */
			err = chs_git__write_pack_of(odb, odb, g->held.ids,
						     chs_git__unique_oids(g->held.ids, g->held.n),
						     NULL, NULL, NULL);
		git_odb_free(odb);
	}
	g->held.n = 0;
	g->held_bytes = 0;
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
	if ((err = chs_git__ref_tip(g->repo, ref, &old, &has_old)) < 0 ||
	    (err = next_parent(g, ref, &tip, &has_tip)) < 0 ||
	    (err = write_tree(g, entries, n, &tree)) < 0)
		goto done;
	if ((has_tip && git_commit_lookup(&parent, g->repo, &tip) < 0) ||
	    git_signature_new(&who, name, "chartsync@invalid", when, 0) < 0 ||
	    git_commit_create_buffer(&content, g->repo, who, who, NULL, message, tree,
				     has_tip ? 1 : 0, (const git_commit **)&parent) < 0) {
		err = chs_git__fail(CHS_ERROR, "cannot make a batch commit");
		goto done;
	}
	if ((err = sign_and_store(g, &content, id, &commit)) < 0 ||
	    (err = note_pending(g, ref, &old, has_old, &commit)) < 0 ||
	    (!g->holding && (err = chs_git_flush(g)) < 0))
		goto done;
	/* a sync of a million changes holds a pack at a time, not all of
	 * them: the objects go to disk, the refs still wait for the rest */
	if (g->holding && g->held_bytes >= HOLD_MAX_BYTES && (err = write_held_objects(g)) < 0)
		goto done;
	git_oid_tostr(oid_out, 41, &commit);
done:
	git_buf_dispose(&content);
	git_signature_free(who);
	git_commit_free(parent);
	git_tree_free(tree);
	return err;
}
