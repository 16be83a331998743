/*
 * Real stores in a real organisation, for the tests that sync.
 */
#include "support/org.h"
#include "support/testutil.h"

#include <stdlib.h>
#include <string.h>

char *tu_archive_new(const char *top)
{
	char *archive = tu_path(top, "archive.git");

	ck_assert_int_eq(tu_sh("git init -q --bare '%s'", archive), 0);
	return archive;
}

chs_store *tu_store_new(const char *top, const char *user, const char *terminal,
			const char *remote, char **dir)
{
	chs_kdf_params kdf;
	chs_store_create_opts o = { user, "pw", 2, &kdf, terminal };
	chs_store *s = NULL;

	ck_assert_int_eq(chs_crypto_init(), 0);
	chs_kdf_params_minimum(&kdf);
	*dir = tu_path(top, user);
	ck_assert_msg(chs_store_create(&s, *dir, &o) == 0, "%s", chs_error_last());
	if (remote)
		ck_assert_msg(chs_remote_set(s, remote) == 0, "%s", chs_error_last());
	return s;
}

void tu_enroll(chs_store *admin, chs_store *s, const char *site, const char *role)
{
	char *line = NULL, dev[33];

	ck_assert_int_eq(chs_device_request(s, &line), 0);
	ck_assert_msg(chs_device_enroll(admin, line, site, role, dev) == 0, "%s",
		      chs_error_last());
	ck_assert_str_eq(dev, chs_store_device_id(s));
	free(line);
}

chs_sync_report tu_sync_ok(chs_store *s)
{
	chs_sync_report rep, counts;
	int err = chs_store_sync(s, NULL, &rep);

	ck_assert_msg(err == 0, "sync of %s: %s", chs_store_path(s), chs_error_last());
	counts = rep;
	memset(&counts.problems, 0, sizeof(counts.problems));
	chs_sync_report_dispose(&rep);
	return counts;
}
