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
/* The admin's store enrolls store `s` at `site` with `role`, as `device
 * request` and `device enroll` do. */
void tu_enroll(chs_store *admin, chs_store *s, const char *site, const char *role);
/* A sync that must succeed (the test fails with the message otherwise);
 * the report's counts (its problems are let go). */
chs_sync_report tu_sync_ok(chs_store *s);

#endif
