/*
 * sync/git: batch commits through real git. Commits are signed so that
 * git itself verifies them, travel to a bare archive and back (by path and
 * over git daemon on 127.0.0.1), and a refusal by the archive's hook is
 * reported with the hook's words, not mistaken for success.
 */
#include "sync/sync.h"
#include "support/gitserver.h"
#include "support/testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static chs_identity *dev;
static char ref[128];

static void setup(void)
{
	char id[33];

	ck_assert_int_eq(chs_crypto_init(), 0);
	dir = tu_tempdir();
	ck_assert_int_eq(chs_identity_new(&dev), 0);
	chs_identity_device_id(dev, id);
	snprintf(ref, sizeof(ref), "refs/chartsync/devices/%s", id);
}

static void teardown(void)
{
	chs_identity_free(dev);
	tu_rmtree(dir);
	free(dir);
}

static chs_git *repo(const char *name)
{
	return tu_git_repo(dir, name);
}

static void commit(chs_git *g, const char *manifest, const char *blob, char oid[41])
{
	chs_git_entry e[2] = { { "manifest", manifest, strlen(manifest) },
			       { "clinical", blob, strlen(blob) } };

	ck_assert_msg(chs_git_write_commit(g, ref, e, 2, "batch\n", dev, 1732500000, oid) == 0,
		      "%s", chs_error_last());
}

START_TEST(test_git__batch_commits_chain_and_read_back_verified)
{
	chs_git *g = repo("local.git");
	char a[41], b[41], tip[41];
	char (*log)[41] = NULL;
	chs_git_commit *c = NULL;
	size_t n = 0;

	commit(g, "{\"seq\":1}", "ciphertext-1", a);
	commit(g, "{\"seq\":2}", "ciphertext-2", b);
	ck_assert_int_eq(chs_git_ref(g, ref, tip), 0);
	ck_assert_str_eq(tip, b);
	ck_assert_int_eq(chs_git_log(g, ref, NULL, &log, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(log[0], a); /* oldest first */
	ck_assert_str_eq(log[1], b);
	free(log);
	ck_assert_int_eq(chs_git_log(g, ref, a, &log, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(log[0], b);
	free(log);
	ck_assert_int_eq(chs_git_read(g, b, &c), 0);
	ck_assert_mem_eq(c->signer, chs_identity_public(dev), 32);
	ck_assert_uint_eq(c->parents, 1);
	ck_assert_uint_eq(c->nentries, 2);
	ck_assert_str_eq(c->entries[0].name, "clinical");
	ck_assert_uint_eq(c->entries[0].len, 12);
	ck_assert_mem_eq(c->entries[0].data, "ciphertext-2", 12);
	ck_assert_str_eq(c->entries[1].name, "manifest");
	chs_git_commit_free(c);
	chs_git_free(g);
}
END_TEST

START_TEST(test_git__git_log_show_signature_verifies_every_commit)
{
	chs_git *g = repo("local.git");
	char oid[41], *allowed = tu_path(dir, "allowed");
	chs_buf line;

	commit(g, "m1", "c1", oid);
	commit(g, "m2", "c2", oid);
	chs_buf_init(&line, 0);
	chs_buf_puts(&line, "device namespaces=\"git\" ");
	chs_ssh_public_key(&line, chs_identity_public(dev));
	chs_buf_puts(&line, "\n");
	ck_assert_int_eq(tu_write(allowed, line.ptr, line.len), 0);
	/* %G? is G for a good signature from an allowed signer */
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s/local.git' -c gpg.ssh.allowedSignersFile='%s' "
			    "log --format=%%G? %s | sort -u)\" = G", dir, allowed, ref), 0);
	chs_buf_dispose(&line);
	free(allowed);
	chs_git_free(g);
}
END_TEST

START_TEST(test_git__an_unsigned_commit_does_not_read)
{
	chs_git *g = repo("local.git");
	chs_git_commit *c = NULL;
	char oid[41], forged[64];

	commit(g, "m1", "c1", oid);
	/* a commit made by plain git on the same tree, without a signature */
	ck_assert_int_eq(tu_sh("cd '%s/local.git' && t=$(git rev-parse %s^{tree}) && "
			    "GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x GIT_COMMITTER_NAME=x "
			    "GIT_COMMITTER_EMAIL=x git commit-tree $t -m forged > ../forged",
			    dir, oid), 0);
	{
		char *path = tu_path(dir, "forged");
		size_t n;
		char *text = (char *)tu_read(path, &n);

		snprintf(forged, sizeof(forged), "%.40s", text);
		free(text);
		free(path);
	}
	ck_assert_int_eq(chs_git_read(g, forged, &c), CHS_EDAMAGED);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(chs_git_read(g, "not-a-commit", &c), CHS_EINVALID);
	chs_git_free(g);
}
END_TEST

/* A folder, given as a path or as a file:// URL. */
START_TEST(test_git__push_then_fetch_through_a_bare_archive)
{
	chs_git *a = repo("a.git"), *b = repo("b.git");
	char *archive = tu_path(dir, "archive.git"), remote_ref[160], x[41], y[41], url[4200];
	const char *refs[] = { ref };
	char (*log)[41] = NULL;
	chs_git_commit *c = NULL;
	size_t n = 0;

	snprintf(url, sizeof(url), "%s%s", _i ? "file://" : "", archive);
	ck_assert_int_eq(tu_sh("git init -q --bare '%s'", archive), 0);
	commit(a, "m1", "c1", x);
	commit(a, "m2", "c2", y);
	ck_assert_msg(chs_git_push(a, url, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_sh("git -C '%s' fsck --strict 2>/dev/null", archive), 0);
	ck_assert_msg(chs_git_fetch(b, url) == 0, "%s", chs_error_last());
	snprintf(remote_ref, sizeof(remote_ref), "refs/remotes/archive/chartsync/devices/%s",
		 ref + strlen("refs/chartsync/devices/"));
	ck_assert_int_eq(chs_git_log(b, remote_ref, NULL, &log, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(log[1], y);
	ck_assert_int_eq(chs_git_read(b, log[0], &c), 0);
	ck_assert_mem_eq(c->entries[0].data, "c1", 2);
	chs_git_commit_free(c);
	free(log);
	/* nothing new: a second push and fetch are no-ops */
	ck_assert_int_eq(chs_git_push(a, url, refs, 1), 0);
	ck_assert_int_eq(chs_git_fetch(b, url), 0);
	chs_git_free(a);
	chs_git_free(b);
	free(archive);
}
END_TEST

START_TEST(test_git__a_refusing_hook_fails_the_push_with_its_reason)
{
	chs_git *a = repo("a.git");
	char *archive = tu_path(dir, "archive.git"), *url, x[41];
	const char *refs[] = { ref };
	tu_gitserver server;

	ck_assert_int_eq(tu_sh("git init -q --bare '%s' && printf '#!/bin/sh\\n"
			    "echo \"refused: device not on the roster\" >&2\\nexit 1\\n' > "
			    "'%s/hooks/pre-receive' && chmod +x '%s/hooks/pre-receive'",
			    archive, archive, archive), 0);
	tu_gitserver_start(&server, dir);
	url = tu_gitserver_url(&server, "archive.git");
	commit(a, "m1", "c1", x);
	ck_assert_int_eq(chs_git_push(a, url, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "device not on the roster"), "%s",
		      chs_error_last());
	/* nothing reached the archive */
	ck_assert_int_ne(tu_sh("git -C '%s' rev-parse -q --verify %s >/dev/null", archive, ref), 0);
	/* without the hook the same push goes through */
	ck_assert_int_eq(tu_sh("rm '%s/hooks/pre-receive'", archive), 0);
	ck_assert_msg(chs_git_push(a, url, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_sh("git -C '%s' rev-parse -q --verify %s >/dev/null", archive, ref), 0);
	tu_gitserver_stop(&server);
	free(url);
	chs_git_free(a);
	free(archive);
}
END_TEST

/* What the mirror says the archive holds is what it holds: a push moves
 * the fetched ref as git's remote-tracking refs move, and a ref deleted
 * in the archive is gone from the mirror after the next fetch, over
 * git:// (libgit2's prune) and by path alike. */
START_TEST(test_git__fetched_refs_follow_pushes_and_deletions)
{
	chs_git *a = repo("a.git");
	char *archive = tu_path(dir, "archive.git"), *url, x[41], got[41], fetched[160];
	const char *refs[] = { ref };
	tu_gitserver server;

	snprintf(fetched, sizeof(fetched), "refs/remotes/archive/%s", ref + strlen("refs/"));
	ck_assert_int_eq(tu_sh("git init -q --bare '%s'", archive), 0);
	tu_gitserver_start(&server, dir);
	url = _i == 0 ? tu_gitserver_url(&server, "archive.git") : strdup(archive);
	commit(a, "m1", "c1", x);
	ck_assert_msg(chs_git_push(a, url, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_git_ref(a, fetched, got), 0);
	ck_assert_str_eq(got, x);
	ck_assert_msg(chs_git_fetch(a, url) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_git_ref(a, fetched, got), 0);
	ck_assert_int_eq(tu_sh("git --git-dir='%s' update-ref -d %s", archive, ref), 0);
	ck_assert_msg(chs_git_fetch(a, url) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_git_ref(a, fetched, got), CHS_ENOTFOUND);
	tu_gitserver_stop(&server);
	free(url);
	chs_git_free(a);
	free(archive);
}
END_TEST

/* Over git:// the server refuses; by path nothing of git runs in the
 * archive, so chartsync itself must refuse, in the same words. */
static const char *const push_kinds[] = { "git://", "path" };

START_TEST(test_git__a_push_that_would_rewind_the_archive_is_refused)
{
	chs_git *a = repo("a.git"), *other = repo("other.git");
	char *archive = tu_path(dir, "archive.git"), *url, x[41], y[41];
	const char *refs[] = { ref };
	tu_gitserver server;

	ck_assert_int_eq(tu_sh("git init -q --bare '%s'", archive), 0);
	tu_gitserver_start(&server, dir);
	url = _i == 0 ? tu_gitserver_url(&server, "archive.git") : strdup(archive);
	commit(a, "m1", "c1", x);
	commit(a, "m2", "c1", x); /* one blob in two commits: sent once */
	ck_assert_msg(chs_git_push(a, url, refs, 1) == 0, "%s: %s", push_kinds[_i],
		      chs_error_last());
	/* another history for the same ref (a cloned device): not a fast-forward */
	commit(other, "m1'", "c1'", y);
	ck_assert_int_eq(chs_git_push(other, url, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "not a fast-forward"), "%s", chs_error_last());
	/* still refused once the archive's history is known here too */
	ck_assert_msg(chs_git_fetch(other, url) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_git_push(other, url, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "not a fast-forward"), "%s", chs_error_last());
	/* the archive kept the first history, whole */
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' rev-parse %s)\" = %s", archive, ref, x), 0);
	ck_assert_int_eq(tu_sh("git -C '%s' fsck --strict 2>/dev/null", archive), 0);
	/* the first device goes on, as a fast-forward */
	commit(a, "m3", "c3", x);
	ck_assert_msg(chs_git_push(a, url, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' rev-parse %s)\" = %s", archive, ref, x), 0);
	tu_gitserver_stop(&server);
	free(url);
	chs_git_free(a);
	chs_git_free(other);
	free(archive);
}
END_TEST

START_TEST(test_git__many_packs_become_one)
{
	chs_git *g = repo("local.git");
	char oid[41], first[41], manifest[32], (*log)[41] = NULL;
	chs_git_commit *c = NULL;
	size_t n = 0;
	int i;

	/* each commit written on its own is one pack */
	for (i = 0; i < 12; i++) {
		snprintf(manifest, sizeof(manifest), "{\"seq\":%d}", i + 1);
		commit(g, manifest, manifest, oid);
		if (i == 0)
			memcpy(first, oid, sizeof(first));
	}
	ck_assert_int_eq(tu_sh("test $(ls '%s'/local.git/objects/pack/*.pack | wc -l) = 12", dir), 0);
	ck_assert_int_eq(chs_git_maintain(g, 20), 0); /* under the limit: untouched */
	ck_assert_int_eq(tu_sh("test $(ls '%s'/local.git/objects/pack/*.pack | wc -l) = 12", dir), 0);
	ck_assert_msg(chs_git_maintain(g, 4) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_sh("test $(ls '%s'/local.git/objects/pack/*.pack | wc -l) = 1", dir), 0);
	/* everything still there, for this handle and for git */
	ck_assert_int_eq(chs_git_log(g, ref, NULL, &log, &n), 0);
	ck_assert_uint_eq(n, 12);
	free(log);
	ck_assert_int_eq(chs_git_read(g, first, &c), 0);
	chs_git_commit_free(c);
	ck_assert_int_eq(tu_sh("git -C '%s/local.git' fsck --strict 2>/dev/null", dir), 0);
	commit(g, "{\"seq\":13}", "more", oid);
	chs_git_free(g);
}
END_TEST

/* How many packs `repo` (a folder under dir) holds. */
static int packs_in(const char *repo)
{
	char *path = tu_path(dir, repo);
	int n = tu_git_packs(path);

	free(path);
	return n;
}

START_TEST(test_git__big_packs_stay_while_small_ones_roll_up)
{
	chs_git *g = repo("local.git");
	char oid[41], manifest[32], *blob = malloc(256 * 1024);
	size_t i;

	ck_assert_ptr_nonnull(blob);
	/* the first pack is big: a quarter of a MiB that does not compress */
	chs_random(blob, 256 * 1024);
	{
		chs_git_entry e[2] = { { "manifest", "{\"seq\":1}", 9 },
				       { "clinical", blob, 256 * 1024 } };

		ck_assert_int_eq(chs_git_write_commit(g, ref, e, 2, "batch\n", dev, 1732500000, oid),
				 0);
	}
	ck_assert_int_eq(tu_sh("ls '%s'/local.git/objects/pack/*.pack > '%s/big'", dir, dir), 0);
	for (i = 0; i < 10; i++) {
		snprintf(manifest, sizeof(manifest), "{\"seq\":%zu}", i + 2);
		commit(g, manifest, manifest, oid);
	}
	/* and one git would keep (its receive-pack does, until refs move) */
	ck_assert_int_eq(tu_sh("cd '%s'/local.git/objects/pack && p=$(ls -t *.pack | head -1) && "
			       "touch \"${p%%.pack}.keep\" && echo \"$p\" > '%s/kept'", dir, dir), 0);
	ck_assert_int_eq(packs_in("local.git"), 11);
	ck_assert_msg(chs_git_maintain(g, 4) == 0, "%s", chs_error_last());
	/* the nine small ones are one now; the big one and the kept one stay */
	ck_assert_int_eq(packs_in("local.git"), 3);
	ck_assert_int_eq(tu_sh("test -f \"$(cat '%s/big')\"", dir), 0);
	ck_assert_int_eq(tu_sh("test -f '%s'/local.git/objects/pack/\"$(cat '%s/kept')\"", dir, dir),
			 0);
	ck_assert_int_eq(tu_sh("git -C '%s/local.git' fsck --strict 2>/dev/null", dir), 0);
	/* a progression already: nothing to do, even past the limit */
	ck_assert_msg(chs_git_maintain(g, 2) == 0, "%s", chs_error_last());
	ck_assert_int_eq(packs_in("local.git"), 3);
	commit(g, "{\"seq\":12}", "more", oid);
	chs_git_free(g);
	free(blob);
}
END_TEST

/* A big sync writes packs of 32 MiB; rolling those up would rewrite
 * history for nothing, even when two of them are the same size. */
START_TEST(test_git__packs_of_32_mib_are_never_rolled_up)
{
	size_t big = ((size_t)32 << 20) + 4096, i;
	chs_git *g = repo("local.git");
	char oid[41], manifest[32], *blob = malloc(big);

	ck_assert_ptr_nonnull(blob);
	for (i = 0; i < 2; i++) {
		chs_git_entry e[2] = { { "manifest", manifest, 0 }, { "clinical", blob, big } };

		chs_random(blob, big);
		e[0].len = (size_t)snprintf(manifest, sizeof(manifest), "{\"seq\":%zu}", i + 1);
		ck_assert_int_eq(chs_git_write_commit(g, ref, e, 2, "batch\n", dev, 1732500000, oid),
				 0);
	}
	free(blob);
	ck_assert_int_eq(tu_sh("ls '%s'/local.git/objects/pack/*.pack > '%s/big'", dir, dir), 0);
	for (i = 0; i < 6; i++) {
		snprintf(manifest, sizeof(manifest), "{\"seq\":%zu}", i + 3);
		commit(g, manifest, manifest, oid);
	}
	ck_assert_int_eq(packs_in("local.git"), 8);
	ck_assert_msg(chs_git_maintain(g, 4) == 0, "%s", chs_error_last());
	/* only the six small ones were over the limit; the big two stay */
	ck_assert_int_eq(packs_in("local.git"), 3);
	ck_assert_int_eq(tu_sh("for p in $(cat '%s/big'); do test -f \"$p\" || exit 1; done", dir),
			 0);
	ck_assert_int_eq(tu_sh("git -C '%s/local.git' fsck --strict 2>/dev/null", dir), 0);
	chs_git_free(g);
}
END_TEST

/* A folder archive gets a pack per push and no git server to roll them
 * up: the pushing side does, and the network archive is left alone. */
START_TEST(test_git__a_folder_archive_is_rolled_up_too)
{
	chs_git *a = repo("a.git"), *b = repo("b.git");
	char *archive = tu_path(dir, "archive.git"), oid[41], manifest[32], remote_ref[160];
	char (*log)[41] = NULL;
	const char *refs[] = { ref };
	size_t n = 0;
	int i;

	ck_assert_int_eq(tu_sh("git init -q --bare '%s'", archive), 0);
	for (i = 0; i < 12; i++) {
		snprintf(manifest, sizeof(manifest), "{\"seq\":%d}", i + 1);
		commit(a, manifest, manifest, oid);
		ck_assert_msg(chs_git_push(a, archive, refs, 1) == 0, "%s", chs_error_last());
	}
	ck_assert_int_eq(packs_in("archive.git"), 12);
	ck_assert_int_eq(chs_git_maintain_archive("git://127.0.0.1:9/archive.git", 4), 0);
	ck_assert_int_eq(packs_in("archive.git"), 12);
	ck_assert_msg(chs_git_maintain_archive(archive, 4) == 0, "%s", chs_error_last());
	ck_assert_int_lt(packs_in("archive.git"), 4);
	ck_assert_int_eq(tu_sh("git -C '%s' fsck --strict 2>/dev/null", archive), 0);
	/* what was pushed is all still there for another device */
	ck_assert_msg(chs_git_fetch(b, archive) == 0, "%s", chs_error_last());
	snprintf(remote_ref, sizeof(remote_ref), "refs/remotes/archive/%s", ref + strlen("refs/"));
	ck_assert_int_eq(chs_git_log(b, remote_ref, NULL, &log, &n), 0);
	ck_assert_uint_eq(n, 12);
	free(log);
	/* and the pushes go on */
	commit(a, "{\"seq\":13}", "more", oid);
	ck_assert_msg(chs_git_push(a, archive, refs, 1) == 0, "%s", chs_error_last());
	chs_git_free(a);
	chs_git_free(b);
	free(archive);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync-git");
	TCase *tc = tcase_create("git");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_git__batch_commits_chain_and_read_back_verified);
	tcase_add_test(tc, test_git__many_packs_become_one);
	tcase_add_test(tc, test_git__big_packs_stay_while_small_ones_roll_up);
	tcase_add_test(tc, test_git__a_folder_archive_is_rolled_up_too);
	tcase_add_test(tc, test_git__packs_of_32_mib_are_never_rolled_up);
	tcase_add_test(tc, test_git__git_log_show_signature_verifies_every_commit);
	tcase_add_test(tc, test_git__an_unsigned_commit_does_not_read);
	tcase_add_loop_test(tc, test_git__push_then_fetch_through_a_bare_archive, 0, 2);
	tcase_add_test(tc, test_git__a_refusing_hook_fails_the_push_with_its_reason);
	tcase_add_loop_test(tc, test_git__a_push_that_would_rewind_the_archive_is_refused, 0, 2);
	tcase_add_loop_test(tc, test_git__fetched_refs_follow_pushes_and_deletions, 0, 2);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
