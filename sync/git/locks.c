/*
 * sync/git/locks.c - stale locks: the lock and temporary files libgit2
 * leaves when a process dies in the middle of a write. Calls nothing
 * else in sync/git/.
 */
#include "git_int.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A lock libgit2 takes (git forbids ref names ending in ".lock") or a
 * temporary file it writes (mkstemp names with "_git2_"). */
static int is_leftover(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".lock")) || strstr(name, "_git2_") != NULL;
}

/* Remove leftovers in `dir` (into subfolders when `deep`) last changed
 * before `older_than` (0: any). */
void chs_git__clear_dir(const char *dir, int deep, time_t older_than)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	struct stat st;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
		    lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && deep)
			chs_git__clear_dir(path, deep, older_than);
		else if (S_ISREG(st.st_mode) && is_leftover(e->d_name) &&
			 (!older_than || st.st_mtime < older_than))
			unlink(path);
	}
	closedir(d);
}

/* `sync_only`: just the places a fetch writes (see "Bounding network
 * time" in helper.c); otherwise every place libgit2 locks or writes temporary files,
 * except loose object folders (no leftovers there: loose objects are
 * written as objects/tmp_object_git2_* and renamed). */
void chs_git__clear_locks(const char *gitdir, int sync_only, time_t older_than)
{
	static const char *const deep_sync[] = { "refs/remotes", "objects/pack" };
	static const char *const deep_all[] = { "refs" };
	static const char *const shallow_all[] = { "", "objects", "objects/pack" };
	const char *const *deep = sync_only ? deep_sync : deep_all;
	size_t i, ndeep = sync_only ? 2 : 1, nshallow = sync_only ? 0 : 3;
	char path[4096];

	for (i = 0; i < ndeep + nshallow; i++) {
		const char *place = i < ndeep ? deep[i] : shallow_all[i - ndeep];

		if (snprintf(path, sizeof(path), "%s/%s", gitdir, place) < (int)sizeof(path))
			chs_git__clear_dir(path, i < ndeep, older_than);
	}
}

void chs_git_clear_stale_locks(chs_git *g)
{
	chs_git__clear_locks(g->path, 0, time(NULL) - CHS_GIT_STALE_LOCK_S);
}

void chs_git_clear_dead_locks(chs_git *g)
{
	chs_git__clear_locks(g->path, 0, 0);
}
