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

static chs_store *store_create(const char *dir, const char *user, const char *terminal)
{
	chs_kdf_params kdf;
	chs_store_create_opts o = { user, "pw", 2, &kdf, terminal };
	chs_store *s = NULL;

	ck_assert_int_eq(chs_crypto_init(), 0);
	chs_kdf_params_minimum(&kdf);
	ck_assert_msg(chs_store_create(&s, dir, &o) == 0, "%s", chs_error_last());
	return s;
}

chs_store *tu_store_temp(const char *user, const char *terminal, char **dir)
{
	*dir = tu_tempdir();
	return store_create(*dir, user, terminal);
}

chs_store *tu_store_new(const char *top, const char *user, const char *terminal,
			const char *remote, char **dir)
{
	chs_store *s;

	*dir = tu_path(top, user);
	s = store_create(*dir, user, terminal);
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

const tu_member tu_org_members[4] = {
	{ "ann", "archive-1", "central", "archivist" },
	{ "bob", "clinic-a-1", "Clinic A", "clinic" },
	{ "cy", "clinic-b-1", "Clinic B", "clinic" },
	{ "dee", "billing-1", "Billing office", "billing" },
};

void tu_org_new(const char *top, const char *remote, const tu_member *m, size_t n,
		chs_store **st, char **dirs)
{
	size_t i;

	for (i = 0; i < n; i++)
		st[i] = tu_store_new(top, m[i].user, m[i].terminal, remote, &dirs[i]);
	ck_assert_msg(chs_org_init(st[0], remote, m[0].site) == 0, "%s", chs_error_last());
	for (i = 1; i < n; i++)
		tu_enroll(st[0], st[i], m[i].site, m[i].role);
	for (i = 0; i < n; i++)
		tu_sync_ok(st[i]);
}

void tu_org_free(chs_store **st, char **dirs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		chs_store_free(st[i]);
		st[i] = NULL;
		free(dirs[i]);
		dirs[i] = NULL;
	}
}

void tu_org_setup(char **top, char **archive, const tu_member *m, size_t n,
		  chs_store **st, char **dirs)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	*top = tu_tempdir();
	*archive = tu_archive_new(*top);
	tu_org_new(*top, *archive, m, n, st, dirs);
}

void tu_org_teardown(char **top, char **archive, chs_store **st, char **dirs, size_t n)
{
	tu_org_free(st, dirs, n);
	tu_rmtree(*top);
	free(*top);
	free(*archive);
	*top = *archive = NULL;
}

int tu_cli_sync(const char *bin, const char *dir, const char *user, const char *fault)
{
	return tu_sh("CHARTSYNC_PASSPHRASE=pw CHARTSYNC_FAULT='%s' '%s' --store '%s' --user %s"
		     " sync >/dev/null 2>&1", fault, bin, dir, user);
}

void tu_ship(chs_store *from, chs_store *to)
{
	chs_outgoing *out = NULL;
	size_t n = 0, i;

	ck_assert_int_eq(chs_store_unsent(from, &out, &n), 0);
	for (i = 0; i < n; i++) {
		ck_assert_msg(chs_store_apply_batch(to, out[i].bytes, out[i].len) == 0, "%s",
			      chs_error_last());
		ck_assert_int_eq(chs_store_mark_sent(from, out[i].id), 0);
	}
	chs_outgoing_free(out, n);
}

char *tu_authorized_keys(chs_store **st, size_t n)
{
	chs_buf keys;
	size_t i;

	chs_buf_init(&keys, CHS_BUF_MAX_DEFAULT);
	for (i = 0; i < n; i++) {
		char *line = NULL;

		ck_assert_int_eq(chs_device_request(st[i], &line), 0);
		ck_assert_int_eq(chs_buf_printf(&keys, "%s%s", i ? "\n" : "", line), 0);
		free(line);
	}
	return chs_buf_detach(&keys);
}
