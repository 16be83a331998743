/*
 * tests/support/org.h - real stores in a real organisation, for the tests
 * that sync: each store encrypted on disk with its own user, and an
 * archive that is a bare git repository.
 */
#ifndef CHS_TEST_ORG_H
#define CHS_TEST_ORG_H

#include "client/chartsync.h"

/* A bare repository TOP/archive.git, the archive by its path; malloc'ed. */
char *tu_archive_new(const char *top);
/* A store in TOP/USER (its path in *dir, malloc'ed) whose first user is
 * `user` with passphrase "pw" (the fastest key derivation), recording
 * `terminal`, syncing with `remote` (NULL: none yet). */
chs_store *tu_store_new(const char *top, const char *user, const char *terminal,
			const char *remote, char **dir);
/* A store in a fresh temporary folder (its path in *dir, malloc'ed, to
 * tu_rmtree and free) whose first user is `user` with passphrase "pw",
 * recording `terminal`; for the tests that ship changes by hand. */
chs_store *tu_store_temp(const char *user, const char *terminal, char **dir);
/* Every batch of `from` not yet sent applied to `to`, and marked sent:
 * a sync by hand, for the tests without an archive. */
void tu_ship(chs_store *from, chs_store *to);
/* The enrollment lines of stores st[0..n-1] (`device request`), one per
 * line: an archive's authorized_keys for sshd; malloc'ed. */
char *tu_authorized_keys(chs_store **st, size_t n);
/* The admin's store enrolls store `s` at `site` with `role`, as `device
 * request` and `device enroll` do. */
void tu_enroll(chs_store *admin, chs_store *s, const char *site, const char *role);
/* A sync that must succeed (the test fails with the message otherwise);
 * the report's counts (its problems are let go). */
chs_sync_report tu_sync_ok(chs_store *s);

/* One store of an organisation: its first user, terminal, site and role
 * (the first member is the admin's store, an archivist). */
typedef struct tu_member {
	const char *user, *terminal, *site, *role;
} tu_member;

/* The organisation most sync tests use: ann at the archive (admin), bob
 * and cy at clinics A and B, dee at the billing office. */
extern const tu_member tu_org_members[4];

/* Stores for `n` members in TOP (st[i], dirs[i]) syncing with `remote`;
 * the first makes the organisation, enrolls the others, and all sync once. */
void tu_org_new(const char *top, const char *remote, const tu_member *m, size_t n,
		chs_store **st, char **dirs);
void tu_org_free(chs_store **st, char **dirs, size_t n);

/* The fixture of the suites that sync by path: a fresh temporary folder
 * *top holding the bare repository *archive (both malloc'ed) and the
 * stores of tu_org_new syncing with it. */
void tu_org_setup(char **top, char **archive, const tu_member *m, size_t n,
		  chs_store **st, char **dirs);
/* Undo tu_org_setup: the stores freed, *top removed, everything NULL. */
void tu_org_teardown(char **top, char **archive, chs_store **st, char **dirs, size_t n);

/* `chartsync sync` (the binary `bin`) on a store, as `user`, with the
 * fault drill CHARTSYNC_FAULT=`fault`; its exit status as the shell
 * gives it (128 + 9 when the drill killed it). */
int tu_cli_sync(const char *bin, const char *dir, const char *user, const char *fault);

#endif
