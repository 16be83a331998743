/*
 * client/: sync with an archive served over https, as Gitea or GitLab
 * would serve it: lighttpd on 127.0.0.1 running git's http-backend, its
 * certificate from a throwaway certificate authority (the clinic's own,
 * trusted through SSL_CERT_FILE or SSL_CERT_DIR: the system's list does
 * not hold it). Two clinics sync through it and the archive's hook
 * guards every push; a certificate from another authority, or made out
 * for another name, is refused with words a technician can act on, and
 * nothing is sent.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/gitserver.h"
#include "support/httpsserver.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ADMIN, C1, C2, NSTORES };

#define FORGED "feedfacefeedfacefeedfacefeedface" /* no device of the roster */

static const tu_member *const members = tu_org_members;
static char *url, *dirs[NSTORES];
static chs_store *st[NSTORES];
static tu_hooked_archive net;
static tu_https https;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	/* an archive made by `chartsync archive init`, its hook in place */
	tu_hooked_archive_start(&net, CHARTSYNC_BIN);
	/* http-backend takes pushes from anonymous users only when told */
	ck_assert_int_eq(tu_sh("git --git-dir='%s' config http.receivepack true", net.path), 0);
	tu_https_start(&https, net.srv);
	url = tu_https_url(&https, TU_HTTPS_GOOD, "archive.git");
	ck_assert_int_eq(setenv("SSL_CERT_FILE", https.ca, 1), 0);
	ck_assert_int_eq(unsetenv("SSL_CERT_DIR"), 0);
	tu_org_new(net.top, url, members, NSTORES, st, dirs);
}

static void teardown(void)
{
	tu_org_free(st, dirs, NSTORES);
	tu_https_stop(&https);
	tu_hooked_archive_stop(&net);
	free(url);
	url = NULL;
}

static void state_hash(int i, char hash[65])
{
	int64_t n;

	ck_assert_msg(chs_store_verify(st[i], 1, hash, &n) == 0, "%s", chs_error_last());
}

/* A sync that must fail with CHS_EDENIED and a message holding `words`
 * (and the reason in the technician's words). */
static void refused(int i, const char *words)
{
	chs_sync_report rep;
	int err = chs_store_sync(st[i], NULL, &rep);

	ck_assert_msg(err == CHS_EDENIED, "sync gave %d: %s", err, chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), "the archive's certificate is not trusted on this "
				"computer"), "%s", chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), words), "%s", chs_error_last());
	chs_sync_report_dispose(&rep);
}

START_TEST(test_https__two_clinics_sync_and_the_hook_guards_the_archive)
{
	char patient[33], h1[65], h2[65], ha[65];
	chs_edit p[] = { tu_edit("name", "Ines Varga"), tu_edit("dob", "1957-02-11"),
			 tu_edit("mrn", "H-443") };
	chs_edit a[] = { tu_edit("phone", "555-0111") }, b[] = { tu_edit("payer", "Lake Mutual") };

	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 3, NULL, NULL, patient), 0);
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[C2]);
	ck_assert_int_eq(chs_record_set(st[C1], patient, a, 1), 0);
	ck_assert_int_eq(chs_record_set(st[C2], patient, b, 1), 0);
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[C2]);
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[ADMIN]);
	state_hash(C1, h1);
	state_hash(C2, h2);
	state_hash(ADMIN, ha);
	ck_assert_str_eq(h1, h2);
	ck_assert_str_eq(h1, ha);
	/* the archive holds ciphertext only */
	ck_assert_int_eq(tu_grep_dir(net.path, "Ines Varga", NULL, 0), 0);
	ck_assert_int_eq(tu_grep_dir(net.path, "Lake Mutual", NULL, 0), 0);
	/* the same sync through the command, as a technician runs it */
	ck_assert_int_eq(tu_cli_sync(CHARTSYNC_BIN, dirs[C2], members[C2].user, ""), 0);

	/* the hook runs on a push over https: a commit no device signed,
	 * under a device name the roster lacks, is refused and never lands */
	ck_assert_int_eq(tu_sh("cd '%s' && git init -q forged && cd forged &&"
			       " git -c user.name=x -c user.email=x@localhost commit -q"
			       " --allow-empty -m forged && GIT_SSL_CAINFO='%s' git push '%s'"
			       " HEAD:refs/chartsync/devices/%s > push.out 2>&1;"
			       " test $? -ne 0 && grep -q 'pre-receive hook declined' push.out ||"
			       " { cat push.out >&2; false; }",
			       net.top, https.ca, url, FORGED), 0);
	ck_assert_int_ne(tu_sh("git --git-dir='%s' rev-parse -q --verify refs/chartsync/devices/%s",
			       net.path, FORGED), 0);
}
END_TEST

/* The sync's own messages (here: an archive that is not the
 * organisation's, behind a login) show the address without its
 * password: the service puts them in systemd's status line. */
START_TEST(test_https__a_login_in_the_address_is_never_shown)
{
	char other[512], cmd[1024];
	chs_sync_report rep;
	int err;

	ck_assert_int_eq(tu_sh("git init -q --bare '%s/empty.git'", net.srv), 0);
	snprintf(other, sizeof(other), "https://" TU_HTTPS_LOGIN "@localhost:%d/private/empty.git",
		 https.port[TU_HTTPS_GOOD]);
	ck_assert_int_eq(chs_remote_set(st[C1], other), 0);
	err = chs_store_sync(st[C1], NULL, &rep);
	chs_sync_report_dispose(&rep);
	ck_assert_msg(err == CHS_EDENIED, "sync gave %d: %s", err, chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), "the archive at https://clinic:***@localhost:"),
		      "%s", chs_error_last());
	ck_assert_msg(!strstr(chs_error_last(), "s3cret"), "%s", chs_error_last());
	/* 'chartsync remote' shows it so too; 'config remote.url' whole */
	snprintf(cmd, sizeof(cmd), "CHARTSYNC_PASSPHRASE=pw '%s' --store '%s' --user %s",
		 CHARTSYNC_BIN, dirs[C1], members[C1].user);
	ck_assert_int_eq(tu_sh("%s remote | grep -qx 'https://clinic:[*][*][*]@localhost:%d/private/"
			       "empty.git'", cmd, https.port[TU_HTTPS_GOOD]), 0);
	ck_assert_int_eq(tu_sh("%s config remote.url | grep -q s3cret", cmd), 0);
}
END_TEST

START_TEST(test_https__a_certificate_from_another_authority_is_refused)
{
	char *other = tu_https_url(&https, TU_HTTPS_OTHER_CA, "archive.git"), cmd[8192];
	chs_edit p[] = { tu_edit("name", "Otto Lind"), tu_edit("dob", "1940-05-05"),
			 tu_edit("mrn", "H-9") };
	char patient[33];

	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 3, NULL, NULL, patient), 0);
	/* the address set as README shows it, with the command */
	snprintf(cmd, sizeof(cmd), "CHARTSYNC_PASSPHRASE=pw '%s' --store '%s' --user %s remote '%s'"
		 " >/dev/null", CHARTSYNC_BIN, dirs[C1], members[C1].user, other);
	ck_assert_int_eq(tu_sh("%s", cmd), 0);
	refused(C1, "signed by a certificate authority this computer does not trust");
	/* the command says the same, exit 2 */
	snprintf(cmd, sizeof(cmd), "CHARTSYNC_PASSPHRASE=pw '%s' --store '%s' --user %s sync"
		 " 2>&1 >/dev/null | grep -q 'certificate is not trusted on this computer'",
		 CHARTSYNC_BIN, dirs[C1], members[C1].user);
	ck_assert_int_eq(tu_sh("%s", cmd), 0);
	ck_assert_int_eq(tu_cli_sync(CHARTSYNC_BIN, dirs[C1], members[C1].user, ""), 2);
	/* nothing reached the archive, and the next sync to it sends it */
	ck_assert_int_ne(tu_sh("git --git-dir='%s' rev-parse -q --verify"
			       " refs/chartsync/devices/%s", net.path, chs_store_device_id(st[C1])), 0);
	ck_assert_int_eq(chs_remote_set(st[C1], url), 0);
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[C2]);
	free(other);
}
END_TEST

START_TEST(test_https__a_certificate_for_another_name_is_refused)
{
	char *other = tu_https_url(&https, TU_HTTPS_OTHER_NAME, "archive.git");

	ck_assert_int_eq(chs_remote_set(st[C2], other), 0);
	refused(C2, "made out for another name");
	free(other);
}
END_TEST

START_TEST(test_https__the_clinic_ca_is_trusted_only_when_named)
{
	chs_sync_report rep;
	char *dir = tu_path(net.top, "cas"), *missing = tu_path(net.top, "no-such-ca.pem");

	/* the system's list does not hold the test CA */
	ck_assert_int_eq(unsetenv("SSL_CERT_FILE"), 0);
	refused(C1, "signed by a certificate authority this computer does not trust");
	/* a folder of CAs works as well as a file */
	ck_assert_int_eq(tu_sh("mkdir '%s' && cp '%s' '%s/clinic-ca.crt'", dir, https.ca, dir), 0);
	ck_assert_int_eq(setenv("SSL_CERT_DIR", dir, 1), 0);
	tu_sync_ok(st[C1]);
	/* a file that is not there is said, not taken for "trust nothing" */
	ck_assert_int_eq(unsetenv("SSL_CERT_DIR"), 0);
	ck_assert_int_eq(setenv("SSL_CERT_FILE", missing, 1), 0);
	ck_assert_int_eq(chs_store_sync(st[C1], NULL, &rep), CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), "cannot read the trusted CAs named by SSL_CERT_FILE="),
		      "%s", chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), missing), "%s", chs_error_last());
	chs_sync_report_dispose(&rep);
	free(dir);
	free(missing);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sync_https");
	TCase *tc = tcase_create("sync_https");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_https__two_clinics_sync_and_the_hook_guards_the_archive);
	tcase_add_test(tc, test_https__a_login_in_the_address_is_never_shown);
	tcase_add_test(tc, test_https__a_certificate_from_another_authority_is_refused);
	tcase_add_test(tc, test_https__a_certificate_for_another_name_is_refused);
	tcase_add_test(tc, test_https__the_clinic_ca_is_trusted_only_when_named);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
