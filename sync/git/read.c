/*
 * sync/git/read.c - reading: refs, history walks and batch commits (whose
 * signatures are verified here). Calls repo.c only.
 */
#include "git_int.h"

#include <stdlib.h>
#include <string.h>

/* The current tip of `ref`, if any: *has = 0 when the ref is new. */
int chs_git__ref_tip(git_repository *repo, const char *ref, git_oid *tip, int *has)
{
	int rc = git_reference_name_to_id(tip, repo, ref);

	*has = rc == 0;
	if (rc == 0 || rc == GIT_ENOTFOUND)
		return 0;
	return chs_git__fail(CHS_EIO, "cannot read a git ref");
}

static int walk(git_revwalk *w, const git_oid *tip, const git_oid *since,
		char (**out)[41], size_t *n)
{
	size_t cap = 0;
	git_oid oid;
	int rc;

	if (git_revwalk_push(w, tip) < 0 || (since && git_revwalk_hide(w, since) < 0))
		return chs_git__fail(CHS_EDAMAGED, "cannot walk a device's history");
	git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	while ((rc = git_revwalk_next(&oid, w)) == 0) {
		int err;

		if (*n == cap && (err = CHS_ARRAY_GROW(*out, cap, *n + 1)) < 0)
			return err;
		git_oid_tostr((*out)[(*n)++], 41, &oid);
	}
	return rc == GIT_ITEROVER ? 0
				  : chs_git__fail(CHS_EDAMAGED, "cannot walk a device's history");
}

int chs_git_log(chs_git *g, const char *ref, const char *since,
		char (**out)[41], size_t *n)
{
	git_revwalk *w = NULL;
	git_oid tip, from;
	int has, err;

	*out = NULL;
	*n = 0;
	if ((err = chs_git__ref_tip(g->repo, ref, &tip, &has)) < 0 || !has)
		return err;
	if (since && git_oid_fromstr(&from, since) < 0)
		return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", since);
	if (git_revwalk_new(&w, g->repo) < 0)
		return chs_git__fail(CHS_ERROR, "cannot walk a device's history");
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
		return chs_git__fail(CHS_ERROR, "cannot walk a device's history");
	err = walk(w, &from, since ? &to : NULL, out, n);
	git_revwalk_free(w);
	if (err < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return err;
}

int chs_git_has_file(chs_git *g, const void *data, size_t len, int *yes)
{
	git_odb *odb = NULL;
	git_oid oid;

	*yes = 0;
	if (git_odb_hash(&oid, data, len, GIT_OBJECT_BLOB) < 0 ||
	    git_repository_odb(&odb, g->repo) < 0)
		return chs_git__fail(CHS_ERROR, "cannot look in the git repository");
	*yes = git_odb_exists(odb, &oid);
	git_odb_free(odb);
	return 0;
}

int chs_git_ref(chs_git *g, const char *ref, char oid_out[41])
{
	git_oid tip;
	int has, err;

	oid_out[0] = '\0';
	if ((err = chs_git__ref_tip(g->repo, ref, &tip, &has)) < 0)
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
		return chs_git__fail(CHS_EIO, "cannot list git refs");
	}
	while (err == 0 && (rc = git_reference_next_name(&name, it)) == 0) {
		if (strncmp(name, prefix, plen) != 0)
			continue;
		if (cnt == cap && (err = CHS_ARRAY_GROW(list, cap, cnt + 1)) < 0)
			break;
		if (!(list[cnt] = chs_strdup(name)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			cnt++;
	}
	if (err == 0 && rc != GIT_ITEROVER)
		err = chs_git__fail(CHS_EIO, "cannot list git refs");
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

/* 0 when `id` names an object here that is not a commit; a missing one
 * counts as a commit, and the walk that needs it says it is missing. */
static int is_commit(chs_git *g, const git_oid *id)
{
	git_object_t type = GIT_OBJECT_COMMIT, t;
	git_odb *odb = NULL;
	size_t len;

	if (git_repository_odb(&odb, g->repo) == 0 && git_odb_read_header(&len, &t, odb, id) == 0)
		type = t;
	git_error_clear();
	git_odb_free(odb);
	return type == GIT_OBJECT_COMMIT;
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
	/* a ref may name any object (a host can point one at a tree): no
	 * commit descends from, or leads to, what is not a commit */
	if (!is_commit(g, &a) || !is_commit(g, &d))
		return 0;
	rc = git_graph_descendant_of(g->repo, &d, &a);
	if (rc < 0)
		return chs_git__fail(CHS_EDAMAGED, "cannot compare two commits");
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
		return chs_git__fail(CHS_EDAMAGED, "a batch commit has no tree");
	n = git_tree_entrycount(tree);
	if (!(c->entries = chs_calloc(n + 1, sizeof(*c->entries))))
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
		e->name = chs_strdup(git_tree_entry_name(te));
		e->data = chs_malloc(e->len + 1);
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

/* The signer of a commit, from its gpgsig header. Roster, batch and
 * chunk commits all come here, so the words name the commit, not its
 * kind. */
static int commit_signer(git_repository *repo, git_oid *oid, unsigned char signer[32])
{
	git_buf sig = { 0 }, data = { 0 };
	char hex[GIT_OID_HEXSZ + 1];
	int err;

	git_oid_tostr(hex, sizeof(hex), oid);
	if (git_commit_extract_signature(&sig, &data, repo, oid, "gpgsig") < 0)
		return chs_error_set(CHS_EDAMAGED, "commit %.12s is not signed", hex);
	err = chs_sshsig_verify(signer, sig.ptr, sig.size, "git", data.ptr, data.size);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return err < 0 ? chs_error_set(CHS_EDAMAGED, "the signature of commit %.12s does not"
				       " verify: it was changed after it was signed", hex)
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
	if (!(c = chs_calloc(1, sizeof(*c))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (git_commit_lookup(&commit, g->repo, &oid) < 0) {
		err = chs_git__fail(CHS_ENOTFOUND, "no such commit");
		goto done;
	}
	c->parents = git_commit_parentcount(commit);
	if (c->parents)
		git_oid_tostr(c->parent, sizeof(c->parent), git_commit_parent_id(commit, 0));
	c->time = (int64_t)git_commit_time(commit);
	if (!(c->message = chs_strdup(git_commit_message(commit) ? git_commit_message(commit) : ""))) {
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
