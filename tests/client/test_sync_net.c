/*
 * client/: sync over the network, as a clinic syncs with a real archive.
 * The archive is made by `chartsync archive init` (so its pre-receive
 * hook runs on every network push) and served by git daemon on 127.0.0.1
 * and by sshd on 127.0.0.1 with the devices' own keys. An admin store, two
 * clinics and a billing office sync through it; concurrent edits reach
 * review everywhere with one state hash; a resolve travels back; the
 * billing office holds no clinical content; git itself verifies every
 * commit; and a daemon that stops answering or dies mid-transfer costs
 * nothing but a retry.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/gitserver.h"
#include "support/org.h"
#include "support/sshserver.h"
#include "support/records.h"
#include "support/testutil.h"

#include <glob.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ADMIN, C1, C2, B1, NSTORES };

static const tu_member *const members = tu_org_members;
static char *top, *srv, *archive, *url, *dirs[NSTORES];
static chs_store *st[NSTORES];
static tu_hooked_archive net;

static void sync_ok(int i)
{
	tu_sync_ok(st[i]);
}

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	tu_hooked_archive_start(&net, CHARTSYNC_BIN);
	top = net.top;
	srv = net.srv;
	archive = net.path;
	url = net.url;
	tu_org_new(top, url, members, NSTORES, st, dirs);
}

static void teardown(void)
{
	tu_org_free(st, dirs, NSTORES);
	tu_hooked_archive_stop(&net);
}

static void state_hash(int i, char hash[65])
{
	int64_t n;

	ck_assert_msg(chs_store_verify(st[i], 1, hash, &n) == 0, "%s", chs_error_last());
}

static int under_review(int i, const char *id)
{
	char *text = NULL;
	json_t *j;
	int r;

	ck_assert_msg(tu_show_json(st[i], id, &text) == 0, "%s", chs_error_last());
	j = json_loads(text, 0, NULL);
	r = json_is_true(json_object_get(j, "review"));
	json_decref(j);
	free(text);
	return r;
}

/* A chart typed at clinic A, then edited at both clinics while apart. */
static void conflict(char patient[33])
{
	char note[33];
	chs_edit p[] = { tu_edit("name", "Maria Lopez"), tu_edit("dob", "1961-07-14"),
			 tu_edit("mrn", "A-1001") };
	chs_edit n[] = { tu_edit("text", "Persistent cough for three weeks") };
	chs_edit a[] = { tu_edit("phone", "555-0101") }, b[] = { tu_edit("phone", "555-0199") };

	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 3, NULL, NULL, patient), 0);
	ck_assert_int_eq(chs_record_add(st[C1], "note", n, 1, patient, NULL, note), 0);
	sync_ok(C1);
	sync_ok(C2);
	ck_assert_int_eq(chs_record_set(st[C1], patient, a, 1), 0);
	ck_assert_int_eq(chs_record_set(st[C2], patient, b, 1), 0);
	sync_ok(C1);
	sync_ok(C2);
	sync_ok(C1);
	sync_ok(ADMIN);
	sync_ok(B1);
}

START_TEST(test_net__git_daemon_end_to_end)
{
	char patient[33], h1[65], h2[65], ha[65], *signers = NULL, *path;
	chs_edit take[] = { tu_edit("phone", "555-0199") };

	conflict(patient);
	state_hash(C1, h1);
	state_hash(C2, h2);
	state_hash(ADMIN, ha);
	ck_assert_str_eq(h1, h2);
	ck_assert_str_eq(h1, ha);
	ck_assert(under_review(ADMIN, patient));
	ck_assert(under_review(C1, patient));
	ck_assert(under_review(C2, patient));
	/* the billing office sees the patient (billing), never the note */
	ck_assert(under_review(B1, patient));
	ck_assert_int_eq(tu_grep_dir(dirs[B1], "Persistent cough", NULL, 0), 0);
	ck_assert_int_eq(tu_grep_dir(archive, "Persistent cough", NULL, 0), 0);

	/* the archivist resolves; both clinics get it */
	ck_assert_msg(chs_review_resolve(st[ADMIN], patient, take, 1, NULL) == 0, "%s",
		      chs_error_last());
	sync_ok(ADMIN);
	sync_ok(C1);
	sync_ok(C2);
	state_hash(C1, h1);
	state_hash(C2, h2);
	state_hash(ADMIN, ha);
	ck_assert_str_eq(h1, ha);
	ck_assert_str_eq(h2, ha);
	ck_assert(!under_review(C2, patient));

	/* git's own check of every commit the archive holds */
	ck_assert_int_eq(chs_device_allowed_signers(st[C2], &signers), 0);
	path = tu_path(top, "allowed_signers");
	ck_assert_int_eq(tu_write(path, signers, strlen(signers)), 0);
	ck_assert_int_eq(tu_sh("cd '%s' && test $(git rev-list --glob=refs/chartsync | wc -l) ="
			       " $(git -c gpg.ssh.allowedSignersFile='%s' log --show-signature"
			       " --glob=refs/chartsync 2>&1 | grep -c '^Good \"git\" signature')",
			       archive, path), 0);
	free(path);
	free(signers);
}
END_TEST

START_TEST(test_net__ssh_with_the_device_keys)
{
	char patient[33], h1[65], h2[65], *keys = NULL, ssh_url[4200];
	chs_edit p[] = { tu_edit("name", "Ada Quinn"), tu_edit("dob", "1948-03-09"),
			 tu_edit("mrn", "A-77") };
	chs_edit a[] = { tu_edit("address", "1 Hill Road") }, b[] = { tu_edit("payer", "County Plan") };
	struct passwd *pw = getpwuid(getuid());
	tu_sshd sshd;

	/* the archive's authorized_keys are the devices' enrollment lines */
	keys = tu_authorized_keys(st, NSTORES);
	tu_sshd_start(&sshd, keys);
	ck_assert_int_eq(tu_sh("echo '[127.0.0.1]:%d %s' >> \"$HOME/.ssh/known_hosts\"",
			       sshd.port, sshd.host_key), 0);
	snprintf(ssh_url, sizeof(ssh_url), "ssh://%s@127.0.0.1:%d%s", pw->pw_name, sshd.port,
		 archive);
	ck_assert_int_eq(chs_remote_set(st[C1], ssh_url), 0);
	ck_assert_int_eq(chs_remote_set(st[C2], ssh_url), 0);

	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 3, NULL, NULL, patient), 0);
	sync_ok(C1);
	sync_ok(C2);
	ck_assert_int_eq(chs_record_set(st[C1], patient, a, 1), 0);
	ck_assert_int_eq(chs_record_set(st[C2], patient, b, 1), 0);
	sync_ok(C1);
	sync_ok(C2);
	sync_ok(C1);
	state_hash(C1, h1);
	state_hash(C2, h2);
	ck_assert_str_eq(h1, h2);
	/* different fields: merged, not under review */
	ck_assert(!under_review(C1, patient));
	/* and a store on git:// sees the same */
	sync_ok(ADMIN);
	state_hash(ADMIN, h2);
	ck_assert_str_eq(h1, h2);
	tu_sshd_stop(&sshd);
	free(keys);
}
END_TEST

/* Send `sig` to the daemon and everything under it: `git daemon` runs
 * git-daemon as a child, which forks one process per connection. */

static pid_t cli_sync_start(int i)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("CHARTSYNC_PASSPHRASE", "pw", 1);
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(127);
		execl(CHARTSYNC_BIN, CHARTSYNC_BIN, "--store", dirs[i], "--user", members[i].user, "sync",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void import_patients(int i, int n)
{
	char *path = tu_path(top, "import.jsonl");
	FILE *f = fopen(path, "w");
	int64_t count = 0;
	int k;

	ck_assert_ptr_nonnull(f);
	for (k = 0; k < n; k++)
		fprintf(f, "{\"type\":\"patient\",\"fields\":{\"name\":\"Imported %d\","
			   "\"dob\":\"1970-01-01\",\"mrn\":\"IMP-%d\",\"address\":\"%d Long Road,"
			   " Smallville, with some more words to make it a realistic size\"}}\n",
			k, k, k);
	fclose(f);
	ck_assert_msg(chs_record_import(st[i], path, &count) == 0, "%s", chs_error_last());
	free(path);
}

START_TEST(test_net__an_archive_that_stops_answering)
{
	char h1[65], h2[65];
	chs_sync_report rep;

	import_patients(C1, 50);
	/* accepts connections, never answers: the sync gives up, saying so */
	ck_assert_int_eq(setenv("CHARTSYNC_NET_TIMEOUT", "2", 1), 0);
	tu_gitserver_signal(&net.daemon, SIGSTOP);
	ck_assert_int_eq(chs_store_sync(st[C1], NULL, &rep), CHS_EIO);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "stopped answering"));
	chs_sync_report_dispose(&rep);
	tu_gitserver_signal(&net.daemon, SIGCONT);
	/* and the next one does the job */
	sync_ok(C1);
	sync_ok(C2);
	state_hash(C1, h1);
	state_hash(C2, h2);
	ck_assert_str_eq(h1, h2);
}
END_TEST

/* Wait up to 10 s for a file matching `pattern`; 1 when one appeared. */
static int appears(const char *pattern)
{
	struct timespec ms = { 0, 1000000L };
	int i, found = 0;

	for (i = 0; i < 10000 && !found; i++) {
		glob_t g;

		found = glob(pattern, 0, NULL, &g) == 0;
		globfree(&g);
		if (!found)
			nanosleep(&ms, NULL);
	}
	return found;
}

START_TEST(test_net__the_daemon_dies_mid_transfer)
{
	char h1[65], h2[65], ha[65], *incoming = tu_path(archive, "objects/tmp_objdir-incoming-*");
	int status, k, interrupted = 0;

	import_patients(C1, 3000);
	/* kill the daemon and every connection it serves while clinic A's
	 * sync is under way, a few times at different moments: first while
	 * the archive receives the pack (git keeps it in a quarantine folder
	 * until the hook has passed it), then at fixed times; a sync fast
	 * enough to finish first is not an interruption */
	for (k = 0; k < 3; k++) {
		pid_t pid = cli_sync_start(C1);
		struct timespec ts = { 0, 30000000L * k };

		if (k == 0)
			ck_assert_msg(appears(incoming), "the push never reached the archive");
		else
			nanosleep(&ts, NULL);
		tu_gitserver_signal(&net.daemon, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		interrupted += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		waitpid(net.daemon.pid, NULL, 0);
		net.daemon.pid = 0;
		tu_gitserver_start(&net.daemon, srv);
		free(url);
		url = net.url = tu_gitserver_url(&net.daemon, "archive.git");
		ck_assert_int_eq(chs_remote_set(st[C1], url), 0);
	}
	ck_assert_int_ge(interrupted, 1);
	ck_assert_int_eq(chs_remote_set(st[C2], url), 0);
	ck_assert_int_eq(chs_remote_set(st[ADMIN], url), 0);
	sync_ok(C1);
	sync_ok(C2);
	sync_ok(ADMIN);
	state_hash(C1, h1);
	state_hash(C2, h2);
	state_hash(ADMIN, ha);
	ck_assert_str_eq(h1, h2);
	ck_assert_str_eq(h1, ha);
	/* three batches (1,000 changes each), each once in the archive */
	ck_assert_int_eq(tu_sh("test $(git -C '%s' rev-list refs/chartsync/devices/%s | wc -l) = 3",
			       archive, chs_store_device_id(st[C1])), 0);
	free(incoming);
}
END_TEST

/* Through the hook: the host forges clinic A's ref and deletes the
 * roster on the server. Clinic A says its work is not delivered; the
 * admin removes the forged ref; the admin's sync puts the roster back and
 * clinic A's its own history, both through the archive's hook; each store
 * that saw it recorded what happened, and clinic B receives everything. */
START_TEST(test_net__tampering_on_the_server_is_said_healed_and_recorded)
{
	const char *dev = chs_store_device_id(st[C1]);
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("dob", "1961-12-10"),
			 tu_edit("mrn", "A-77") };
	chs_sync_report rep;
	char id[33], h1[65], h2[65];

	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 3, NULL, NULL, id), 0);
	sync_ok(C1);
	ck_assert_int_eq(tu_sh("cd '%s' && c=$(git -c user.name=host -c user.email=host@localhost commit-tree -m forged"
			       " refs/chartsync/devices/%s^{tree}) &&"
			       " git update-ref refs/chartsync/devices/%s $c &&"
			       " git update-ref -d refs/chartsync/roster", archive, dev, dev), 0);
	ck_assert_int_eq(chs_store_sync(st[C1], NULL, &rep), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "holds no roster"), "%s", chs_error_last());
	ck_assert_uint_eq(rep.tampering, 2);
	chs_sync_report_dispose(&rep);
	/* the admin's store puts the roster back, and refuses the forgery */
	ck_assert_int_eq(chs_store_sync(st[ADMIN], NULL, &rep), CHS_EDAMAGED);
	ck_assert_msg(strstr(rep.problems.ptr, dev), "%s", rep.problems.ptr);
	chs_sync_report_dispose(&rep);
	ck_assert_int_eq(tu_sh("git --git-dir='%s' rev-parse -q --verify refs/chartsync/roster"
			       " >/dev/null", archive), 0);
	ck_assert_int_eq(chs_store_sync(st[C1], NULL, &rep), CHS_EDAMAGED);
	ck_assert_msg(strstr(rep.problems.ptr, "NOT being delivered"), "%s", rep.problems.ptr);
	chs_sync_report_dispose(&rep);
	ck_assert_int_eq(tu_sh("git --git-dir='%s' update-ref -d refs/chartsync/devices/%s",
			       archive, dev), 0);
	sync_ok(C1);
	sync_ok(C2);
	sync_ok(ADMIN);
	state_hash(C1, h1);
	state_hash(C2, h2);
	ck_assert_str_eq(h1, h2);
	/* seen by clinic A (its ref replaced, the roster gone, its ref gone)
	 * and by the admin (the roster gone), read at clinic B */
	ck_assert_int_eq(tu_sh("CHARTSYNC_PASSPHRASE=pw '%s' --store '%s' --user %s report archive"
			       " --json | grep -o '\"kind\":\"[a-z-]*\"' | sort | tr '\\n' ' ' |"
			       " grep -qx '\"kind\":\"device-ref-deleted\""
			       " \"kind\":\"device-ref-rewritten\" \"kind\":\"roster-deleted\""
			       " \"kind\":\"roster-deleted\" '", CHARTSYNC_BIN, dirs[C2],
			       members[C2].user), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sync_net");
	TCase *tc = tcase_create("sync_net");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_net__git_daemon_end_to_end);
	tcase_add_test(tc, test_net__ssh_with_the_device_keys);
	tcase_add_test(tc, test_net__an_archive_that_stops_answering);
	tcase_add_test(tc, test_net__the_daemon_dies_mid_transfer);
	tcase_add_test(tc, test_net__tampering_on_the_server_is_said_healed_and_recorded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
