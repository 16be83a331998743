/*
 * sync/git over https: a push and a fetch through git's http-backend
 * behind lighttpd on 127.0.0.1, its certificate from a throwaway
 * certificate authority that chartsync trusts through SSL_CERT_FILE or
 * SSL_CERT_DIR (libgit2's mbedTLS reads neither by itself); a
 * certificate from another authority, or made out for another name, is
 * refused in words that say which, with nothing sent; a CA file that
 * cannot be read is said, not taken for "trust nothing"; a login comes
 * from the address, and a missing or wrong one is said, its password
 * never shown.
 */
#include "sync/sync.h"
#include "support/org.h"
#include "support/httpsserver.h"
#include "support/gitserver.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir, *archive;
static chs_identity *dev;
static char device[33], ref[128], remote_ref[160];
static tu_https https;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	dir = tu_tempdir();
	ck_assert_int_eq(chs_identity_new(&dev), 0);
	chs_identity_device_id(dev, device);
	snprintf(ref, sizeof(ref), "%s%s", CHS_DEVICE_REFS, device);
	snprintf(remote_ref, sizeof(remote_ref), "refs/remotes/archive/chartsync/devices/%s",
		 device);
	archive = tu_archive_new(dir);
	ck_assert_int_eq(tu_sh("git --git-dir='%s' config http.receivepack true", archive), 0);
	tu_https_start(&https, dir);
	ck_assert_int_eq(setenv("SSL_CERT_FILE", https.ca, 1), 0);
	ck_assert_int_eq(unsetenv("SSL_CERT_DIR"), 0);
}

static void teardown(void)
{
	tu_https_stop(&https);
	chs_identity_free(dev);
	tu_rmtree(dir);
	free(dir);
	free(archive);
}

static chs_git *repo(const char *name)
{
	return tu_git_repo(dir, name);
}

static void commit(chs_git *g, const char *manifest, char oid[41])
{
	tu_git_batch(g, ref, dev, manifest, oid);
}

/* The archive holds no ref of this device. */
static void archive_untouched(void)
{
	ck_assert_int_ne(tu_sh("git --git-dir='%s' rev-parse -q --verify %s >/dev/null", archive,
			       ref), 0);
}

/* Push and fetch at the port showing certificate `which` are both
 * refused with CHS_EDENIED, saying `words`. */
static void refused(int which, const char *words)
{
	char *url = tu_https_url(&https, which, "archive.git"), oid[41];
	const char *refs[] = { ref };
	chs_git *g = repo("local.git");

	commit(g, "m1", oid);
	ck_assert_int_eq(chs_git_push(g, url, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "the archive's certificate is not trusted on this "
				"computer: "), "%s", chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), words), "%s", chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), url), "%s", chs_error_last());
	ck_assert_int_eq(chs_git_fetch(g, url), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), words), "%s", chs_error_last());
	archive_untouched();
	chs_git_free(g);
	free(url);
}

START_TEST(test_git_https__push_and_fetch_with_the_clinic_ca)
{
	char *url = tu_https_url(&https, TU_HTTPS_GOOD, "archive.git"), oid[41], tip[41];
	const char *refs[] = { ref };
	chs_git *a = repo("a.git"), *b = repo("b.git");

	commit(a, "m1", oid);
	ck_assert_msg(chs_git_push(a, url, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_sh("test \"$(git --git-dir='%s' rev-parse %s)\" = %s", archive, ref,
			       oid), 0);
	ck_assert_msg(chs_git_fetch(b, url) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_git_ref(b, remote_ref, tip), 0);
	ck_assert_str_eq(tip, oid);
	chs_git_free(a);
	chs_git_free(b);
	free(url);
}
END_TEST

START_TEST(test_git_https__another_authority_is_refused)
{
	refused(TU_HTTPS_OTHER_CA, "signed by a certificate authority this computer does not trust");
}
END_TEST

START_TEST(test_git_https__another_name_is_refused)
{
	refused(TU_HTTPS_OTHER_NAME, "made out for another name than the archive's address");
}
END_TEST

START_TEST(test_git_https__the_system_list_lacks_the_clinic_ca)
{
	ck_assert_int_eq(unsetenv("SSL_CERT_FILE"), 0);
	refused(TU_HTTPS_GOOD, "signed by a certificate authority this computer does not trust");
}
END_TEST

START_TEST(test_git_https__a_folder_of_authorities_works_too)
{
	char *url = tu_https_url(&https, TU_HTTPS_GOOD, "archive.git"), *cas = tu_path(dir, "cas");
	chs_git *g = repo("local.git");

	ck_assert_int_eq(unsetenv("SSL_CERT_FILE"), 0);
	ck_assert_int_eq(tu_sh("mkdir '%s' && cp '%s' '%s/'", cas, https.ca, cas), 0);
	ck_assert_int_eq(setenv("SSL_CERT_DIR", cas, 1), 0);
	ck_assert_msg(chs_git_fetch(g, url) == 0, "%s", chs_error_last());
	chs_git_free(g);
	free(cas);
	free(url);
}
END_TEST

START_TEST(test_git_https__an_unreadable_ca_file_is_said)
{
	char *url = tu_https_url(&https, TU_HTTPS_GOOD, "archive.git"), oid[41];
	char *missing = tu_path(dir, "no-such-ca.pem");
	const char *refs[] = { ref };
	chs_git *g = repo("local.git");

	commit(g, "m1", oid);
	ck_assert_int_eq(setenv("SSL_CERT_FILE", missing, 1), 0);
	ck_assert_int_eq(chs_git_push(g, url, refs, 1), CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), "cannot read the trusted CAs named by SSL_CERT_FILE="),
		      "%s", chs_error_last());
	ck_assert_msg(strstr(chs_error_last(), missing), "%s", chs_error_last());
	ck_assert_int_eq(chs_git_fetch(g, url), CHS_EINVALID);
	archive_untouched();
	chs_git_free(g);
	free(missing);
	free(url);
}
END_TEST

/* A server with accounts (Gitea, GitLab: a user and an access token):
 * libgit2 sends the user and password written in the URL, and chartsync
 * asks for none; without them the archive is refused, saying so. */
START_TEST(test_git_https__a_login_comes_from_the_url)
{
	char url[512], bare[512], wrong[512], oid[41];
	const char *refs[] = { ref };
	chs_git *g = repo("local.git");

	ck_assert_int_eq(tu_sh("git --git-dir='%s' config --unset http.receivepack", archive), 0);
	snprintf(url, sizeof(url), "https://" TU_HTTPS_LOGIN "@localhost:%d/private/archive.git",
		 https.port[TU_HTTPS_GOOD]);
	snprintf(bare, sizeof(bare), "https://localhost:%d/private/archive.git",
		 https.port[TU_HTTPS_GOOD]);
	snprintf(wrong, sizeof(wrong), "https://clinic:n0tit@localhost:%d/private/archive.git",
		 https.port[TU_HTTPS_GOOD]);
	commit(g, "m1", oid);
	ck_assert_int_eq(chs_git_push(g, bare, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "asks for a login that its address does not give"),
		      "%s", chs_error_last());
	ck_assert_int_eq(chs_git_fetch(g, bare), CHS_EDENIED);
	/* a wrong password is refused too, and never shown */
	ck_assert_int_eq(chs_git_push(g, wrong, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "https://clinic:***@localhost:"), "%s",
		      chs_error_last());
	ck_assert_msg(!strstr(chs_error_last(), "n0tit"), "%s", chs_error_last());
	/* an access token alone, as git hosts take it, is never shown either */
	snprintf(wrong, sizeof(wrong), "https://n0tit@localhost:%d/private/archive.git",
		 https.port[TU_HTTPS_GOOD]);
	ck_assert_int_eq(chs_git_fetch(g, wrong), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "https://***@localhost:"), "%s", chs_error_last());
	ck_assert_msg(!strstr(chs_error_last(), "n0tit"), "%s", chs_error_last());
	archive_untouched();
	ck_assert_msg(chs_git_push(g, url, refs, 1) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_sh("test \"$(git --git-dir='%s' rev-parse %s)\" = %s", archive, ref,
			       oid), 0);
	ck_assert_msg(chs_git_fetch(g, url) == 0, "%s", chs_error_last());
	chs_git_free(g);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("git_https");
	TCase *tc = tcase_create("git_https");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_git_https__push_and_fetch_with_the_clinic_ca);
	tcase_add_test(tc, test_git_https__another_authority_is_refused);
	tcase_add_test(tc, test_git_https__another_name_is_refused);
	tcase_add_test(tc, test_git_https__the_system_list_lacks_the_clinic_ca);
	tcase_add_test(tc, test_git_https__a_folder_of_authorities_works_too);
	tcase_add_test(tc, test_git_https__an_unreadable_ca_file_is_said);
	tcase_add_test(tc, test_git_https__a_login_comes_from_the_url);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
