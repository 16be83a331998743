/*
 * sync/git over a network: a push or fetch never waits forever on an
 * archive that stopped answering, a killed transfer leaves nothing that
 * blocks the next write, and ssh authenticates with the device key
 * against a real sshd on 127.0.0.1 (unknown keys and hosts refused
 * clearly, never a hang).
 */
#include "sync/sync.h"
#include "support/org.h"
#include "support/gitserver.h"
#include "support/sshserver.h"
#include "support/testutil.h"
#include "git_int.h" /* chs_git__set_system_known_hosts: /etc/ssh is not the tests' */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SILENT_TIMEOUT_S 2

static char *dir;
static chs_identity *dev;
static char device[33], ref[128], remote_ref[160];

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	dir = tu_tempdir();
	ck_assert_int_eq(chs_identity_new(&dev), 0);
	chs_identity_device_id(dev, device);
	snprintf(ref, sizeof(ref), "%s%s", CHS_DEVICE_REFS, device);
	snprintf(remote_ref, sizeof(remote_ref), "refs/remotes/archive/chartsync/devices/%s",
		 device);
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

static void commit(chs_git *g, const char *manifest, char oid[41])
{
	tu_git_batch(g, ref, dev, manifest, oid);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run a push (refs) or fetch (refs NULL) that must time out, saying so,
 * and not before its limit. How soon after the limit it gives up is not
 * asserted (wall time on a loaded machine); without the limit it would
 * hang until the test case's timeout. */
static void expect_timeout(chs_git *g, const char *url, const char *const *refs, int limit_s)
{
	long long t0 = now_ms(), took;
	char words[64];
	int rc = refs ? chs_git_push(g, url, refs, 1) : chs_git_fetch(g, url);

	took = now_ms() - t0;
	ck_assert_msg(rc == CHS_EIO, "%d: %s", rc, chs_error_last());
	snprintf(words, sizeof(words), "stopped answering for %d s", limit_s);
	ck_assert_msg(strstr(chs_error_last(), words), "%s", chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), url), "%s", chs_error_last());
	ck_assert_msg(took >= limit_s * 1000 - 100, "gave up after %lld ms for a %d s limit", took,
		      limit_s);
}

START_TEST(test_git_net__a_silent_archive_fails_fetch_and_push_at_the_limit)
{
	chs_git *g = repo("local.git");
	char *archive = tu_archive_new(dir), url[128], oid[41], tip[41];
	const char *refs[] = { ref };
	int port, s = tu_silent_listener(&port);

	ck_assert_int_eq(setenv("CHARTSYNC_NET_TIMEOUT", "2", 1), 0);
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/x.git", port);
	commit(g, "m1", oid);
	expect_timeout(g, url, NULL, SILENT_TIMEOUT_S);
	expect_timeout(g, url, refs, SILENT_TIMEOUT_S);
	/* the repository still works: a write, and a push to a reachable archive */
	commit(g, "m2", oid);
	ck_assert_msg(chs_git_push(g, archive, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' rev-parse %s)\" = %s", archive, ref, oid), 0);
	ck_assert_msg(chs_git_fetch(g, archive) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_git_ref(g, remote_ref, tip), 0);
	ck_assert_str_eq(tip, oid);
	close(s);
	chs_git_free(g);
	free(archive);
}
END_TEST

/* An https login in the address never reaches a message: the daemon
 * puts its last error into systemd's status line, which every local
 * user can read. */
static void no_secret(const char *shown_as)
{
	ck_assert_msg(!strstr(chs_error_last(), "SECRETTOKEN"), "%s", chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), shown_as), "%s", chs_error_last());
}

START_TEST(test_git_net__a_token_in_the_address_is_never_shown)
{
	chs_git *g = repo("local.git");
	char url[256], shown[256], oid[41];
	const char *refs[] = { ref };
	int port, s = tu_silent_listener(&port);

	ck_assert_int_eq(setenv("CHARTSYNC_NET_TIMEOUT", "1", 1), 0);
	commit(g, "m1", oid);
	/* a user and token: the archive stops answering */
	snprintf(url, sizeof(url), "https://ann:SECRETTOKEN@127.0.0.1:%d/x.git", port);
	snprintf(shown, sizeof(shown), "the archive at https://ann:***@127.0.0.1:%d/x.git "
		 "stopped answering", port);
	ck_assert_int_eq(chs_git_fetch(g, url), CHS_EIO);
	no_secret(shown);
	ck_assert_int_eq(chs_git_push(g, url, refs, 1), CHS_EIO);
	no_secret(shown);
	/* a git host's token alone, as the user name */
	snprintf(url, sizeof(url), "https://SECRETTOKEN@127.0.0.1:%d/x.git", port);
	snprintf(shown, sizeof(shown), "https://***@127.0.0.1:%d/x.git", port);
	ck_assert_int_eq(chs_git_fetch(g, url), CHS_EIO);
	no_secret(shown);
	/* an address libgit2 cannot read, which it quotes in its words */
	ck_assert_int_ne(chs_git_fetch(g, "https://oauth2:SECRETTOKEN@127.0.0.1:99999x/x.git"), 0);
	no_secret("oauth2:***@");
	ck_assert_int_ne(chs_git_push(g, "https://SECRETTOKEN@[::1/x.git", refs, 1), 0);
	ck_assert_msg(!strstr(chs_error_last(), "SECRETTOKEN"), "%s", chs_error_last());
	unsetenv("CHARTSYNC_NET_TIMEOUT");
	close(s);
	chs_git_free(g);
}
END_TEST

START_TEST(test_git_net__an_address_is_shown_without_its_secret)
{
	static const char *const cases[][2] = {
		{ "https://ann:SECRETTOKEN@host/x.git", "https://ann:***@host/x.git" },
		{ "https://SECRETTOKEN@host:8443/x.git", "https://***@host:8443/x.git" },
		{ "https://oauth2:SECRETTOKEN@gitlab.example/g/x.git",
		  "https://oauth2:***@gitlab.example/g/x.git" },
		{ "http://x-access-token:SECRETTOKEN@host/a@b", "http://x-access-token:***@host/a@b" },
		{ "https://host/x.git", "https://host/x.git" },
		{ "ssh://git@host:2222/srv/x.git", "ssh://git@host:2222/srv/x.git" },
		{ "git@host:srv/x.git", "git@host:srv/x.git" },
		{ "ssh://git:SECRETTOKEN@host/x.git", "ssh://git:***@host/x.git" },
		{ "/srv/archive.git", "/srv/archive.git" },
		{ "file:///srv/archive.git", "file:///srv/archive.git" },
	};
	char buf[256], small[12];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		ck_assert_str_eq(chs_git_shown_address(cases[i][0], buf, sizeof(buf)), cases[i][1]);
	/* a short buffer cuts the address, never shows what follows the cut */
	ck_assert_str_eq(chs_git_shown_address("https://ann:SECRETTOKEN@host/", small,
					       sizeof(small)), "https://ann");
}
END_TEST

START_TEST(test_git_net__the_limit_comes_from_the_transport_without_the_variable)
{
	chs_git *g = repo("local.git");
	chs_git_transport t = { NULL, 1000, NULL, NULL, NULL };
	char url[128];
	int port, s = tu_silent_listener(&port);

	unsetenv("CHARTSYNC_NET_TIMEOUT");
	chs_git_set_transport(g, &t);
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/x.git", port);
	expect_timeout(g, url, NULL, 1);
	close(s);
	chs_git_free(g);
}
END_TEST

/* Make a file with the given age in seconds. */
static void plant(const char *path, int age_s)
{
	struct timespec times[2];

	ck_assert_int_eq(tu_write(path, "", 0), 0);
	clock_gettime(CLOCK_REALTIME, &times[0]);
	times[0].tv_sec -= age_s;
	times[1] = times[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

START_TEST(test_git_net__a_killed_fetch_leaves_no_lock_behind)
{
	chs_git *a = repo("a.git"), *b = repo("b.git");
	char *archive = tu_archive_new(dir), url[128], lock[512], tmp[512], oid[41];
	const char *refs[] = { ref };
	int port, s = tu_silent_listener(&port);

	commit(a, "m1", oid);
	ck_assert_int_eq(chs_git_push(a, archive, refs, 1), 0);
	/* what a fetch killed mid-way leaves: a lock on the ref it was moving
	 * and a half-written pack */
	ck_assert_int_eq(tu_sh("mkdir -p '%s/b.git/refs/remotes/archive/chartsync/devices'", dir), 0);
	snprintf(lock, sizeof(lock), "%s/b.git/%s.lock", dir, remote_ref);
	snprintf(tmp, sizeof(tmp), "%s/b.git/objects/pack/pack_git2_Xy12Ab", dir);
	plant(lock, 0);
	plant(tmp, 0);
	ck_assert_int_ne(chs_git_fetch(b, archive), 0); /* the lock blocks it */
	ck_assert_int_eq(setenv("CHARTSYNC_NET_TIMEOUT", "1", 1), 0);
	snprintf(url, sizeof(url), "git://127.0.0.1:%d/x.git", port);
	expect_timeout(b, url, NULL, 1);
	ck_assert_int_eq(access(lock, F_OK), -1);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_msg(chs_git_fetch(b, archive) == 0, "%s", chs_error_last());
	close(s);
	chs_git_free(a);
	chs_git_free(b);
	free(archive);
}
END_TEST

START_TEST(test_git_net__stale_locks_are_cleared_and_live_ones_kept)
{
	chs_git *g = repo("local.git");
	char lock[512], oid[41];

	commit(g, "m1", oid);
	/* a process killed while moving this device's ref */
	snprintf(lock, sizeof(lock), "%s/local.git/%s.lock", dir, ref);
	plant(lock, 0);
	ck_assert_int_eq(chs_git_write_commit(g, ref, NULL, 0, "batch\n", dev, 1732500000, oid),
			 CHS_EBUSY);
	ck_assert_msg(strstr(chs_error_last(), "locked"), "%s", chs_error_last());
	/* a lock this fresh may be a live writer's: kept */
	chs_git_clear_stale_locks(g);
	ck_assert_int_eq(access(lock, F_OK), 0);
	/* once stale, it goes, and the write goes through */
	plant(lock, CHS_GIT_STALE_LOCK_S + 5);
	chs_git_clear_stale_locks(g);
	ck_assert_int_eq(access(lock, F_OK), -1);
	commit(g, "m2", oid);
	chs_git_free(g);
}
END_TEST

/* A push by path writes into the archive itself, so what a push killed
 * there left behind is this device's to clear, under the same rule. */
START_TEST(test_git_net__a_push_by_path_clears_its_stale_lock_in_the_archive)
{
	chs_git *g = repo("local.git");
	char *archive = tu_archive_new(dir), lock[512], tmp[512], oid[41];
	const char *refs[] = { ref };

	commit(g, "m1", oid);
	ck_assert_msg(chs_git_push(g, archive, refs, 1) == 0, "%s", chs_error_last());
	commit(g, "m2", oid);
	/* a push killed while moving this device's ref in the archive */
	snprintf(lock, sizeof(lock), "%s/%s.lock", archive, ref);
	snprintf(tmp, sizeof(tmp), "%s/objects/pack/pack_git2_0123456789abcdef", archive);
	plant(lock, 0);
	plant(tmp, 0);
	/* this fresh, it may be a live push's: kept, and the push waits */
	ck_assert_int_eq(chs_git_push(g, archive, refs, 1), CHS_EBUSY);
	ck_assert_msg(strstr(chs_error_last(), "locked"), "%s", chs_error_last());
	ck_assert_int_eq(access(lock, F_OK), 0);
	ck_assert_int_eq(access(tmp, F_OK), 0);
	/* once stale, both go and the push goes through */
	plant(lock, CHS_GIT_STALE_LOCK_S + 5);
	plant(tmp, CHS_GIT_STALE_LOCK_S + 5);
	ck_assert_msg(chs_git_push(g, archive, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(access(lock, F_OK), -1);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' rev-parse %s)\" = %s", archive, ref, oid), 0);
	chs_git_free(g);
	free(archive);
}
END_TEST

static volatile sig_atomic_t children;

static void count_child(int sig)
{
	(void)sig;
	children++;
}

/* A local incremental push must stay cheap: it does not go through the
 * helper process (no network to bound, and a fork would cost more than
 * the push). No child ends while local pushes run. What a local push
 * costs is measured by tools/bench/sync (incr100_local_push_s), not
 * asserted here. */
START_TEST(test_git_net__a_local_push_runs_in_process)
{
	chs_git *g = repo("local.git");
	char *archive = tu_archive_new(dir), oid[41], m[32];
	const char *refs[] = { ref };
	struct sigaction sa;
	int i, n = 21;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = count_child;
	sa.sa_flags = SA_RESTART;
	ck_assert_int_eq(sigaction(SIGCHLD, &sa, NULL), 0);
	commit(g, "m0", oid);
	ck_assert_int_eq(chs_git_push(g, archive, refs, 1), 0);
	for (i = 0; i < n; i++) {
		snprintf(m, sizeof(m), "m%d", i + 1);
		commit(g, m, oid);
		ck_assert_int_eq(chs_git_push(g, archive, refs, 1), 0);
	}
	ck_assert_int_eq(children, 0);
	chs_git_free(g);
	free(archive);
}
END_TEST

/* ------------------------------------------------------------------ */
/* ssh                                                                  */

static tu_sshd sshd;

static char *key_line(const chs_identity *id)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_ssh_public_key(&b, chs_identity_public(id)), 0);
	return chs_buf_detach(&b);
}

/* sshd letting in the device key; HOME trusting its host key or not. */
static void ssh_setup(int trust)
{
	char *line = key_line(dev), *home = tu_path(dir, "home");

	ck_assert_int_eq(mkdir(home, 0700), 0);
	tu_sshd_start(&sshd, line);
	tu_sshd_home(&sshd, home, trust);
	unsetenv("SSH_AUTH_SOCK");
	ck_assert_int_eq(setenv("CHARTSYNC_NET_TIMEOUT", "20", 1), 0);
	free(line);
	free(home);
}

static void ssh_url(char *url, size_t len, const char *archive)
{
	struct passwd *pw = getpwuid(getuid());

	ck_assert_ptr_nonnull(pw);
	snprintf(url, len, "ssh://%s@127.0.0.1:%d%s", pw->pw_name, sshd.port, archive);
}

/* What progress reports arrived, joined by spaces (deduplicated). */
static void on_progress(const char *what, size_t done, size_t total, void *payload)
{
	chs_buf *seen = payload;

	ck_assert(total == 0 || done <= total); /* 0: not known yet */
	if (!seen->ptr || !strstr(seen->ptr, what))
		chs_buf_printf(seen, "%s ", what);
}

static chs_buf seen;

static chs_git *ssh_repo(const char *name, const chs_identity *key)
{
	chs_git *g = repo(name);
	chs_git_transport t = { key, 0, on_progress, NULL, &seen };

	chs_git_set_transport(g, &t);
	return g;
}

START_TEST(test_git_net__push_and_fetch_over_ssh_with_the_device_key)
{
	chs_git *a, *b;
	char *archive, url[512], oid[41], tip[41];
	const char *refs[] = { ref };
	chs_git_commit *c = NULL;

	ssh_setup(1);
	a = ssh_repo("a.git", dev);
	b = ssh_repo("b.git", dev);
	archive = tu_archive_new(dir);
	ssh_url(url, sizeof(url), archive);
	commit(a, "m1", oid);
	chs_buf_init(&seen, 0);
	ck_assert_msg(chs_git_push(a, url, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' rev-parse %s)\" = %s", archive, ref, oid), 0);
	/* progress crossed from the helper process to the caller */
	ck_assert_msg(seen.ptr && strstr(seen.ptr, "objects"), "%s", seen.ptr ? seen.ptr : "none");
	chs_buf_dispose(&seen);
	ck_assert_msg(chs_git_fetch(b, url) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_git_ref(b, remote_ref, tip), 0);
	ck_assert_str_eq(tip, oid);
	ck_assert_int_eq(chs_git_read(b, tip, &c), 0);
	ck_assert_mem_eq(c->signer, chs_identity_public(dev), CHS_SIGN_PK_BYTES);
	chs_git_commit_free(c);
	chs_git_free(a);
	chs_git_free(b);
	free(archive);
	tu_sshd_stop(&sshd);
}
END_TEST

START_TEST(test_git_net__an_unknown_device_key_is_refused_clearly)
{
	chs_identity *stranger = NULL;
	chs_git *g;
	char *archive, url[512], oid[41];
	const char *refs[] = { ref };

	ssh_setup(1);
	ck_assert_int_eq(chs_identity_new(&stranger), 0);
	g = ssh_repo("local.git", stranger);
	archive = tu_archive_new(dir);
	ssh_url(url, sizeof(url), archive);
	commit(g, "m1", oid);
	ck_assert_int_eq(chs_git_push(g, url, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "refused this device's SSH key"), "%s",
		      chs_error_last());
	ck_assert_int_eq(chs_git_fetch(g, url), CHS_EDENIED);
	chs_git_free(g);
	chs_identity_free(stranger);
	free(archive);
	tu_sshd_stop(&sshd);
}
END_TEST

/* A device's repository (`*g`, local.git) and an empty archive behind the
 * test's sshd, whose host key ~/.ssh/known_hosts does not list; the
 * archive's ssh:// address in `url`. Returns the archive's path. */
static char *ssh_archive(chs_git **g, char *url, size_t len)
{
	char *archive;

	ssh_setup(0);
	*g = ssh_repo("local.git", dev);
	archive = tu_archive_new(dir);
	ssh_url(url, len, archive);
	return archive;
}

START_TEST(test_git_net__an_unknown_host_is_refused_clearly)
{
	chs_git *g;
	char *archive, url[512];

	archive = ssh_archive(&g, url, sizeof(url));
	ck_assert_int_eq(chs_git_fetch(g, url), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "known_hosts"), "%s", chs_error_last());
	chs_git_free(g);
	free(archive);
	tu_sshd_stop(&sshd);
}
END_TEST

/* Under the systemd unit HOME is the service user's state folder: the
 * archive's host key is in the system-wide known_hosts file, which the
 * tests cannot write, so they name another (git_int.h's setter). */
static char *system_hosts(const char *line)
{
	char *file = tu_path(dir, "ssh_known_hosts");

	ck_assert_int_eq(tu_write(file, line, strlen(line)), 0);
	chs_git__set_system_known_hosts(file);
	return file;
}

START_TEST(test_git_net__a_host_key_in_the_system_wide_file_is_known)
{
	chs_git *g;
	char *archive, *file, url[512], line[1024], oid[41];
	const char *refs[] = { ref };

	archive = ssh_archive(&g, url, sizeof(url)); /* ~/.ssh/known_hosts is empty */
	commit(g, "m1", oid);
	snprintf(line, sizeof(line), "# the clinic's archive\n[127.0.0.1]:%d %s\n", sshd.port,
		 sshd.host_key);
	file = system_hosts(line);
	ck_assert_msg(chs_git_push(g, url, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_git_fetch(g, url) == 0, "%s", chs_error_last());
	/* hashed as ssh-keygen -H writes it, too */
	ck_assert_int_eq(tu_sh("ssh-keygen -q -H -f '%s' && rm -f '%s.old' && "
			       "! grep -q 127.0.0.1 '%s'", file, file, file), 0);
	ck_assert_msg(chs_git_fetch(g, url) == 0, "%s", chs_error_last());
	chs_git__set_system_known_hosts(NULL);
	chs_git_free(g);
	free(archive);
	free(file);
	tu_sshd_stop(&sshd);
}
END_TEST

START_TEST(test_git_net__another_key_in_the_system_wide_file_is_refused)
{
	chs_git *g;
	char *archive, *file, url[512], line[1024], oid[41];
	const char *refs[] = { ref };
	int rc;

	archive = ssh_archive(&g, url, sizeof(url));
	commit(g, "m1", oid);
	/* another key of the same type, listed for this host and port */
	ck_assert_int_eq(tu_sh("ssh-keygen -q -t ed25519 -N '' -f '%s/other' && "
			       "printf '[127.0.0.1]:%d %%s\\n' \"$(cut -d' ' -f1,2 '%s/other.pub')\""
			       " > '%s/ssh_known_hosts'", dir, sshd.port, dir, dir), 0);
	file = tu_path(dir, "ssh_known_hosts");
	chs_git__set_system_known_hosts(file);
	ck_assert_int_eq(chs_git_push(g, url, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "another SSH host key") &&
		      strstr(chs_error_last(), "pretending to be the archive"), "%s",
		      chs_error_last());
	ck_assert_int_ne(tu_sh("git --git-dir='%s' rev-parse -q --verify %s", archive, ref), 0);
	/* the right key in the system-wide file, another in ~/.ssh: refused too */
	snprintf(line, sizeof(line), "[127.0.0.1]:%d %s\n", sshd.port, sshd.host_key);
	free(file);
	file = system_hosts(line);
	ck_assert_int_eq(tu_sh("printf '[127.0.0.1]:%d %%s\\n' \"$(cut -d' ' -f1,2 '%s/other.pub')\""
			       " > \"$HOME/.ssh/known_hosts\"", sshd.port, dir), 0);
	rc = chs_git_fetch(g, url);
	ck_assert_msg(rc == CHS_EDENIED && strstr(chs_error_last(), "another SSH host key"),
		      "%d: %s", rc, chs_error_last());
	chs_git__set_system_known_hosts(NULL);
	chs_git_free(g);
	free(archive);
	free(file);
	tu_sshd_stop(&sshd);
}
END_TEST

START_TEST(test_git_net__a_host_key_known_nowhere_is_refused)
{
	chs_git *g;
	char *archive, *file, url[512], oid[41];
	const char *refs[] = { ref };

	archive = ssh_archive(&g, url, sizeof(url));
	commit(g, "m1", oid);
	file = system_hosts("# nothing here yet\n");
	ck_assert_int_eq(chs_git_push(g, url, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "not a host this computer knows") &&
		      strstr(chs_error_last(), "ssh_known_hosts"), "%s", chs_error_last());
	ck_assert_int_ne(tu_sh("git --git-dir='%s' rev-parse -q --verify %s", archive, ref), 0);
	chs_git__set_system_known_hosts(NULL);
	chs_git_free(g);
	free(archive);
	free(file);
	tu_sshd_stop(&sshd);
}
END_TEST

START_TEST(test_git_net__without_a_device_key_the_key_file_is_offered)
{
	chs_git *g;
	char *archive, url[512], oid[41];
	const char *refs[] = { ref };

	/* sshd lets in ~/.ssh/id_ed25519 (read at each login), not the device */
	ssh_setup(1);
	ck_assert_int_eq(tu_sh("ssh-keygen -q -t ed25519 -N '' -C me -f \"$HOME/.ssh/id_ed25519\" "
			    "&& cp \"$HOME/.ssh/id_ed25519.pub\" '%s/authorized_keys'", sshd.dir), 0);
	g = ssh_repo("local.git", NULL);
	archive = tu_archive_new(dir);
	ssh_url(url, sizeof(url), archive);
	commit(g, "m1", oid);
	ck_assert_msg(chs_git_push(g, url, refs, 1) == 0, "%s", chs_error_last());
	/* with no key file either, it says so */
	ck_assert_int_eq(tu_sh("rm \"$HOME/.ssh/id_ed25519\""), 0);
	ck_assert_int_eq(chs_git_fetch(g, url), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "no SSH key to offer"), "%s", chs_error_last());
	chs_git_free(g);
	free(archive);
	tu_sshd_stop(&sshd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync-git-net");
	TCase *tc = tcase_create("net");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_git_net__a_silent_archive_fails_fetch_and_push_at_the_limit);
	tcase_add_test(tc, test_git_net__the_limit_comes_from_the_transport_without_the_variable);
	tcase_add_test(tc, test_git_net__a_token_in_the_address_is_never_shown);
	tcase_add_test(tc, test_git_net__an_address_is_shown_without_its_secret);
	tcase_add_test(tc, test_git_net__a_killed_fetch_leaves_no_lock_behind);
	tcase_add_test(tc, test_git_net__stale_locks_are_cleared_and_live_ones_kept);
	tcase_add_test(tc, test_git_net__a_push_by_path_clears_its_stale_lock_in_the_archive);
	tcase_add_test(tc, test_git_net__a_local_push_runs_in_process);
	tcase_add_test(tc, test_git_net__push_and_fetch_over_ssh_with_the_device_key);
	tcase_add_test(tc, test_git_net__an_unknown_device_key_is_refused_clearly);
	tcase_add_test(tc, test_git_net__an_unknown_host_is_refused_clearly);
	tcase_add_test(tc, test_git_net__a_host_key_in_the_system_wide_file_is_known);
	tcase_add_test(tc, test_git_net__another_key_in_the_system_wide_file_is_refused);
	tcase_add_test(tc, test_git_net__a_host_key_known_nowhere_is_refused);
	tcase_add_test(tc, test_git_net__without_a_device_key_the_key_file_is_offered);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
