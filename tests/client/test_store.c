/*
 * client/: the encrypted store, its users and settings, opened the way
 * technicians open it.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/records.h"
#include "support/scale.h"
#include "support/testutil.h"

#include <jansson.h>
#include <sodium.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define MARKER "QUAGGA-7731-MARKER"
#define PAGE 4096

static char *dir;
static chs_kdf_params kdf;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	chs_kdf_params_minimum(&kdf);
	dir = tu_tempdir();
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

static chs_store *create_as(const char *user, const char *pass)
{
	chs_store_create_opts o = { user, pass, strlen(pass), &kdf, "front-desk" };
	chs_store *s = NULL;

	ck_assert_msg(chs_store_create(&s, dir, &o) == 0, "%s", chs_error_last());
	return s;
}

static int open_as(chs_store **s, const char *user, const char *pass)
{
	return chs_store_open(s, dir, user, pass, strlen(pass));
}

static chs_store *must_open(const char *user, const char *pass)
{
	chs_store *s = NULL;

	ck_assert_msg(open_as(&s, user, pass) == 0, "%s", chs_error_last());
	return s;
}

/* The store's schema is the one this code writes (meta 'schema'). */
static void schema_is_now(chs_store *s)
{
	char *v = NULL;

	ck_assert_int_eq(chs_store__get_text(s, "SELECT value FROM meta WHERE key = 'schema'",
					     NULL, &v), 0);
	ck_assert_int_eq(atoi(v), CHS_STORE_SCHEMA);
	free(v);
}

/* Every file in the store folder, concatenated: what is on disk. */
static char *snapshot(void)
{
	const char *names[] = { "keyslots", "store.db", "store.db-wal" };
	chs_buf b;
	size_t i, n;

	chs_buf_init(&b, 0);
	for (i = 0; i < 3; i++) {
		char *p = tu_path(dir, names[i]);
		unsigned char *d = tu_read(p, &n);

		chs_buf_printf(&b, "[%s:%zu]", names[i], d ? n : 0);
		if (d)
			chs_buf_put(&b, d, n);
		free(d);
		free(p);
	}
	return chs_buf_detach(&b);
}

/* A long-lived process (a sync, the service) prepares more distinct
 * statements than the store keeps: the ones beyond are finalized when
 * done, and the store goes on working. */
START_TEST(test_store__more_statements_than_the_cache_holds)
{
	static char sql[CHS_STMT_CACHE + 8][32];
	chs_store *s = create_as("maria", "pass-maria");
	char *v = NULL;
	int i;

	for (i = 0; i < CHS_STMT_CACHE + 8; i++) {
		sqlite3_stmt *st = NULL;

		snprintf(sql[i], sizeof(sql[i]), "SELECT %d", i);
		ck_assert_int_eq(chs_store__prepare(s, &st, sql[i]), 0);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_int_eq(sqlite3_column_int(st, 0), i);
		chs_store__finish(s, st);
	}
	ck_assert_int_eq(chs_config_set(s, "terminal.name", "back-office"), 0);
	ck_assert_int_eq(chs_config_get(s, "terminal.name", &v), 0);
	ck_assert_str_eq(v, "back-office");
	free(v);
	chs_store_free(s);
}
END_TEST

/* Every save chains its batch to this device's last one. With 20,000
 * batches from other sites in the store, finding it must not read them
 * all: an add costs under a thousand SQLite steps, a scan of the batches
 * over 60,000. */
START_TEST(test_store__a_save_does_not_read_every_batch)
{
	chs_store *s = create_as("maria", "pass-maria");
	chs_edit e[] = { { "name", "Ada Byron", 0, 0 }, { "mrn", "A-1", 0, 0 } };
	char id[33];
	long steps = 0;

	ck_assert_int_eq(chs_store__exec(s,
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)"
		" INSERT INTO batches(seq, id, device, dseq, manifest, signature, key, local,"
		" sent, received) SELECT i, randomblob(32), 'another-site', i, randomblob(64),"
		" randomblob(64), randomblob(32), 0, 1, 0 FROM n"), 0);
	tu_steps_begin(s, &steps);
	ck_assert_msg(chs_record_add(s, "patient", e, 2, NULL, NULL, id) == 0, "%s",
		      chs_error_last());
	tu_steps_end(s);
	ck_assert_msg(steps < 10, "an add took %ld thousand steps", steps);
	chs_store_free(s);
}
END_TEST

/* status counts the live records (all less the removed) without reading
 * every record: with 4,000 in the store, far under a scan's 12,000
 * SQLite steps. */
START_TEST(test_store__status_counts_live_records_without_reading_them)
{
	chs_store *s = create_as("maria", "pass-maria");
	chs_edit e[] = { { "name", "Ada Byron", 0, 0 }, { "mrn", "A-1", 0, 0 } };
	char *tmp = tu_tempdir(), id[33];
	chs_status stt;
	long steps = 0;

	tu_import_others(s, tmp, 4000);
	ck_assert_int_eq(chs_record_add(s, "patient", e, 2, NULL, NULL, id), 0);
	ck_assert_int_eq(chs_record_rm(s, id), 0);
	tu_steps_begin(s, &steps);
	ck_assert_int_eq(chs_store_status(s, &stt), 0);
	tu_steps_end(s);
	ck_assert_int_eq(stt.records, 4000);
	ck_assert_msg(steps < 5, "status took %ld thousand steps", steps);
	chs_status_dispose(&stt);
	chs_store_free(s);
	tu_rmtree(tmp);
	free(tmp);
}
END_TEST

/* A store made before schema 4 gains the indexes of batches by device, of
 * fee lines and of removed records when it is opened, and keeps its
 * records. */
START_TEST(test_store__a_schema_3_store_is_upgraded_on_open)
{
	chs_store *s = create_as("maria", "pass-maria");
	chs_edit e[] = { { "name", "Ada Byron", 0, 0 }, { "mrn", "A-1", 0, 0 } };
	char id[33], *json = NULL;
	int64_t n = -1;

	ck_assert_int_eq(chs_record_add(s, "patient", e, 2, NULL, NULL, id), 0);
	ck_assert_int_eq(chs_store__exec(s, "DROP INDEX batches_device;"
					 "DROP INDEX records_fee; DROP INDEX records_deleted;"
					 "UPDATE meta SET value = '3' WHERE key = 'schema'"), 0);
	chs_store_free(s);

	s = must_open("maria", "pass-maria");
	ck_assert_int_eq(chs_store__get_int(s, "SELECT count(*) FROM sqlite_master"
					    " WHERE name IN ('batches_device', 'records_fee',"
					    " 'records_deleted')", &n), 0);
	ck_assert_int_eq(n, 3);
	schema_is_now(s);
	ck_assert_int_eq(tu_show_json(s, id, &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "Ada Byron"));
	free(json);
	chs_store_free(s);
}
END_TEST

/* Schema 6 keeps a merged chart's pointer in a column of its own: a
 * store made before it gains the column and its indexes when opened. */
START_TEST(test_store__a_schema_5_store_gains_the_merge_column_on_open)
{
	chs_store *s = create_as("maria", "pass-maria");
	int64_t n = -1;

	ck_assert_int_eq(chs_store__exec(s, "DROP INDEX records_merged; DROP INDEX records_link;"
					 "DROP INDEX records_merge_act;"
					 "ALTER TABLE records DROP COLUMN merged_into;"
					 "UPDATE meta SET value = '5' WHERE key = 'schema'"), 0);
	chs_store_free(s);

	s = must_open("maria", "pass-maria");
	ck_assert_int_eq(chs_store__get_int(s, "SELECT count(*) FROM pragma_table_info('records')"
					    " WHERE name = 'merged_into'", &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(chs_store__get_int(s, "SELECT count(*) FROM sqlite_master WHERE name IN"
					    " ('records_merged', 'records_link', 'records_merge_act')",
					    &n), 0);
	ck_assert_int_eq(n, 3);
	schema_is_now(s);
	chs_store_free(s);
}
END_TEST

/* Schema 7 adds three partial indexes (archive events, visits, rosters
 * not yet in git) that queries run at every sync, status and coding
 * queue need (tests/client/store/test_plans.c): a store made by schema 6
 * gains them when opened, in one transaction, its state hash unchanged,
 * and the queries then read through them. */
START_TEST(test_store__a_schema_6_store_gains_its_indexes_on_open)
{
	chs_store *s = create_as("maria", "pass-maria");
	chs_edit pe[] = { { "name", "Ada Byron", 0, 0 }, { "mrn", "A-1", 0, 0 } };
	chs_edit ee[] = { { "date", "2024-03-15", 0, 0 } };
	char pat[33], enc[33], before[65], after[65];
	int64_t n_rec = 0;
	int64_t n = -1;

	ck_assert_int_eq(chs_record_add(s, "patient", pe, 2, NULL, NULL, pat), 0);
	ck_assert_int_eq(chs_record_add(s, "encounter", ee, 1, pat, NULL, enc), 0);
	ck_assert_int_eq(chs_store_verify(s, 0, before, &n_rec), 0);
	ck_assert_int_eq(chs_store__exec(s, "DROP INDEX records_archive_event;"
					 "DROP INDEX records_visit; DROP INDEX rosters_unpublished;"
					 "UPDATE meta SET value = '6' WHERE key = 'schema'"), 0);
	chs_store_free(s);

	s = must_open("maria", "pass-maria");
	ck_assert_int_eq(chs_store__get_int(s, "SELECT count(*) FROM sqlite_master WHERE name IN"
					    " ('records_archive_event', 'records_visit',"
					    " 'rosters_unpublished')", &n), 0);
	ck_assert_int_eq(n, 3);
	schema_is_now(s);
	ck_assert_int_eq(chs_store_verify(s, 0, after, &n_rec), 0);
	ck_assert_str_eq(after, before);
	{
		sqlite3_stmt *st = NULL;

		ck_assert_int_eq(sqlite3_prepare_v2(s->db, "EXPLAIN QUERY PLAN SELECT id, state"
						    " FROM records WHERE type = 'archive_event'"
						    " AND length(id) = 16", -1, &st, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 3),
				 "SEARCH records USING INDEX records_archive_event (type=?)");
		sqlite3_finalize(st);
	}
	chs_store_free(s);
}
END_TEST

/* A store written by the release before schema 7 (schema 6; how it was
 * made: tests/client/store/data/schema6-store/README) opens with this
 * code: its schema moves to the current one in one transaction (the
 * indexes of schema 7, no `flags` table since schema 8), its state hash
 * is the one the old release printed, and it is whole and writable. */
START_TEST(test_store__a_store_made_by_the_previous_release_opens_migrated)
{
	const char *pass = "fixture-pass";
	chs_edit e[] = { { "text", "Seen again", 0, 0 } };
	char hash[65], id[33];
	int64_t n = -1;
	chs_store *s = NULL;

	ck_assert_int_eq(tu_sh("cp '%s/tests/client/store/data/schema6-store/keyslots'"
			       " '%s/tests/client/store/data/schema6-store/store.db' '%s'/",
			       CHARTSYNC_SOURCE_DIR, CHARTSYNC_SOURCE_DIR, dir), 0);
	ck_assert_msg(chs_store_open(&s, dir, "maria", pass, strlen(pass)) == 0, "%s",
		      chs_error_last());
	schema_is_now(s);
	ck_assert_int_eq(chs_store__get_int(s, "SELECT count(*) FROM sqlite_master WHERE name IN"
					    " ('records_archive_event', 'records_visit',"
					    " 'rosters_unpublished')", &n), 0);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(chs_store__get_int(s, "SELECT count(*) FROM sqlite_master"
					    " WHERE name = 'flags'", &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(chs_store_verify(s, 0, hash, &n), 0);
	ck_assert_str_eq(hash, "bd53662249f0379e123fa9e258318faf6616fa0f9e34971047d8918ec1d6922a");
	ck_assert_int_eq(n, 3);
	ck_assert_msg(chs_store_check(s) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_record_add(s, "note", e, 1, "da331948ad6f8bee82051fda6bb6c805", NULL,
				     id) == 0, "%s", chs_error_last());
	chs_store_free(s);
	/* opened again: nothing left to migrate, the new note kept */
	s = must_open("maria", pass);
	ck_assert_int_eq(chs_store_verify(s, 0, hash, &n), 0);
	ck_assert_int_eq(n, 4);
	chs_store_free(s);
}
END_TEST

START_TEST(test_store__create_and_reopen)
{
	chs_store *s = create_as("alice", "correct horse");
	char device[33], *term = NULL;

	ck_assert_str_eq(chs_store_user(s), "alice");
	ck_assert(chs_store_user_is_admin(s));
	snprintf(device, sizeof(device), "%s", chs_store_device_id(s));
	ck_assert_uint_eq(strlen(device), 32);
	chs_store_free(s);

	s = must_open("alice", "correct horse");
	ck_assert_str_eq(chs_store_user(s), "alice");
	/* The device key survives, so the device id is stable. */
	ck_assert_str_eq(chs_store_device_id(s), device);
	ck_assert_int_eq(chs_config_get(s, "terminal.name", &term), 0);
	ck_assert_str_eq(term, "front-desk");
	free(term);
	ck_assert_int_eq(chs_store_check(s), 0);
	chs_store_free(s);
}
END_TEST

START_TEST(test_store__refuses_to_create_over_a_store)
{
	chs_store *s = create_as("alice", "pw"), *again = NULL;
	chs_store_create_opts o = { "bob", "pw2", 3, &kdf, NULL };

	chs_store_free(s);
	ck_assert_int_eq(chs_store_create(&again, dir, &o), CHS_EEXISTS);
	ck_assert_ptr_null(again);
	s = must_open("alice", "pw");
	chs_store_free(s);
}
END_TEST

START_TEST(test_store__wrong_passphrase_and_unknown_user_refused_alike)
{
	chs_store *s = create_as("alice", "right");
	char *before, *after, msg_pass[512];
	int rc;

	chs_store_free(s);
	before = snapshot();
	rc = open_as(&s, "alice", "wrong");
	ck_assert_int_eq(rc, CHS_EAUTH);
	ck_assert_ptr_null(s);
	snprintf(msg_pass, sizeof(msg_pass), "%s", chs_error_last());
	rc = open_as(&s, "mallory", "right");
	ck_assert_int_eq(rc, CHS_EAUTH);
	ck_assert_str_eq(chs_error_last(), msg_pass);
	ck_assert_ptr_nonnull(strstr(msg_pass, "wrong user or passphrase for store"));
	ck_assert_ptr_nonnull(strstr(msg_pass, dir));
	/* Nothing was written by the failed attempts. */
	after = snapshot();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_store__another_users_store_is_refused)
{
	chs_store *s = create_as("alice", "right");
	chs_store_create_opts o = { "bob", "pw", 2, &kdf, NULL };
	char *before, *after, *fresh = tu_path(dir, "fresh");

	chs_store_free(s);
	/* only root can give a folder away; the CI runs as root */
	if (geteuid() != 0)
		goto out;
	before = snapshot();
	ck_assert_int_eq(chown(dir, 65534, 65534), 0);
	ck_assert_int_eq(chs_store_probe(dir), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "run chartsync as that user"));
	ck_assert_int_eq(open_as(&s, "alice", "right"), CHS_EDENIED);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "belongs to the user"));
	ck_assert_int_eq(chown(dir, 0, 0), 0);
	after = snapshot();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	/* a new store in a folder someone else made is refused too */
	ck_assert_int_eq(mkdir(fresh, 0700), 0);
	ck_assert_int_eq(chown(fresh, 65534, 65534), 0);
	ck_assert_int_eq(chs_store_create(&s, fresh, &o), CHS_EDENIED);
	ck_assert_ptr_null(s);
	s = must_open("alice", "right");
	chs_store_free(s);
out:
	free(fresh);
}
END_TEST

START_TEST(test_store__passwd_keeps_data_and_drops_the_old_passphrase)
{
	chs_store *s = create_as("alice", "old pass");
	char *term = NULL;

	ck_assert_int_eq(chs_config_set(s, "terminal.name", "exam-room-2"), 0);
	ck_assert_int_eq(chs_store_passwd(s, "new pass", 8), 0);
	chs_store_free(s);

	ck_assert_int_eq(open_as(&s, "alice", "old pass"), CHS_EAUTH);
	s = must_open("alice", "new pass");
	ck_assert_int_eq(chs_config_get(s, "terminal.name", &term), 0);
	ck_assert_str_eq(term, "exam-room-2");
	free(term);
	chs_store_free(s);
}
END_TEST

START_TEST(test_store__each_user_opens_with_their_own_passphrase)
{
	chs_store *s = create_as("alice", "alice pw");
	chs_user *users = NULL;
	size_t n = 0;

	ck_assert_int_eq(chs_store_user_add(s, "bob", 0, "bob pw", 6), 0);
	ck_assert_int_eq(chs_store_user_add(s, "bob", 0, "x", 1), CHS_EEXISTS);
	ck_assert_int_eq(chs_store_user_add(s, "bad name", 0, "x", 1), CHS_EINVALID);
	ck_assert_int_eq(chs_store_user_list(s, &users, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(users[0].name, "alice");
	ck_assert_int_eq(users[0].admin, 1);
	ck_assert_str_eq(users[1].name, "bob");
	ck_assert_int_eq(users[1].admin, 0);
	chs_user_list_free(users, n);
	chs_store_free(s);

	s = must_open("bob", "bob pw");
	ck_assert_str_eq(chs_store_user(s), "bob");
	ck_assert(!chs_store_user_is_admin(s));
	/* bob is not an admin */
	ck_assert_int_eq(chs_store_user_add(s, "carol", 0, "c", 1), CHS_EDENIED);
	ck_assert_int_eq(chs_store_user_rm(s, "alice"), CHS_EDENIED);
	chs_store_free(s);
	ck_assert_int_eq(open_as(&s, "bob", "alice pw"), CHS_EAUTH);
	ck_assert_int_eq(open_as(&s, "alice", "bob pw"), CHS_EAUTH);
}
END_TEST

START_TEST(test_store__removed_user_can_no_longer_open)
{
	chs_store *s = create_as("alice", "a");
	char *slots = tu_path(dir, "keyslots"), *saved;
	size_t n;

	ck_assert_int_eq(chs_store_user_add(s, "bob", 0, "b", 1), 0);
	saved = (char *)tu_read(slots, &n);
	ck_assert_int_eq(chs_store_user_rm(s, "bob"), 0);
	ck_assert_int_eq(chs_store_user_rm(s, "bob"), CHS_ENOTFOUND);
	chs_store_free(s);
	ck_assert_int_eq(open_as(&s, "bob", "b"), CHS_EAUTH);
	/* Even with the old key slot file put back, the store itself says
	 * bob is no longer a user. */
	ck_assert_int_eq(tu_write(slots, saved, n), 0);
	ck_assert_int_eq(open_as(&s, "bob", "b"), CHS_EAUTH);
	s = must_open("alice", "a");
	chs_store_free(s);
	free(saved);
	free(slots);
}
END_TEST

START_TEST(test_store__last_admin_cannot_be_removed)
{
	chs_store *s = create_as("alice", "a");

	ck_assert_int_eq(chs_store_user_rm(s, "alice"), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "last admin"));
	ck_assert_int_eq(chs_store_user_add(s, "dana", 1, "d", 1), 0);
	ck_assert_int_eq(chs_store_user_rm(s, "alice"), 0);
	chs_store_free(s);
	s = must_open("dana", "d");
	ck_assert(chs_store_user_is_admin(s));
	chs_store_free(s);
}
END_TEST

START_TEST(test_store__default_user_is_the_only_user)
{
	chs_store *s = create_as("alice", "a");
	char *who = NULL;

	ck_assert_int_eq(chs_store_default_user(&who, dir), 0);
	ck_assert_str_eq(who, "alice");
	free(who);
	ck_assert_int_eq(chs_store_user_add(s, "bob", 0, "b", 1), 0);
	ck_assert_int_eq(chs_store_default_user(&who, dir), 0);
	ck_assert_str_eq(who, chs_login_name());
	free(who);
	chs_store_free(s);
	ck_assert_int_eq(chs_store_open(&s, dir, NULL, "b", 1),
			 strcmp(chs_login_name(), "bob") ? CHS_EAUTH : 0);
	chs_store_free(s);
}
END_TEST

START_TEST(test_store__settings_are_checked)
{
	chs_store *s = create_as("alice", "a");
	char *v = NULL;

	ck_assert_int_eq(chs_config_get(s, "no.such", &v), CHS_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "no.such"));
	ck_assert_int_eq(chs_config_set(s, "terminal.name", ""), CHS_EINVALID);
	ck_assert_int_eq(chs_config_set(s, "terminal.name", "a\nb"), CHS_EINVALID);
	/* shown at every other site with each change: no bidi override, no
	 * blank name, as for a record's text */
	ck_assert_int_eq(chs_config_set(s, "terminal.name", "desk\xe2\x80\xae" "2"), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "U+202E"));
	ck_assert_int_eq(chs_config_set(s, "terminal.name", "   "), CHS_EINVALID);
	ck_assert_int_eq(chs_config_get(s, "terminal.name", &v), 0);
	ck_assert_str_eq(v, "front-desk");
	free(v);
	ck_assert_int_eq(chs_config_set(s, "terminal.name", "\xc3\xa9" "tage 2"), 0);
	chs_store_free(s);
}
END_TEST

START_TEST(test_store__never_removes_a_database_it_did_not_make)
{
	chs_store_create_opts o = { "alice", "a", 1, &kdf, NULL };
	char *db = tu_path(dir, "store.db"), *marker = tu_path(dir, "init.pending");
	chs_store *s = NULL;
	size_t n;
	unsigned char *d;

	/* someone else's store.db in the folder: refused, left as it was */
	ck_assert_int_eq(tu_write(db, "someone else's data", 19), 0);
	ck_assert_int_eq(chs_store_create(&s, dir, &o), CHS_EEXISTS);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "did not make"));
	d = tu_read(db, &n);
	ck_assert_uint_eq(n, 19);
	free(d);
	/* what an interrupted init left (its marker is there): started over */
	ck_assert_int_eq(tu_write(marker, "", 0), 0);
	ck_assert_msg(chs_store_create(&s, dir, &o) == 0, "%s", chs_error_last());
	ck_assert_int_eq(tu_file_size(marker), -1);
	chs_store_free(s);
	s = must_open("alice", "a");
	chs_store_free(s);
	free(db);
	free(marker);
}
END_TEST

/* A close that waited for the lock would wait CHS_BUSY_TIMEOUT_MS: the
 * test case "busy" times out well before that (a hang guard, not a
 * measurement: the close takes milliseconds). */
START_TEST(test_store__a_reader_never_waits_on_close_for_a_busy_writer)
{
	chs_store *s = create_as("alice", "a");
	char *lock = tu_path(dir, "lock");
	chs_status st;
	int fd;

	chs_store_free(s);
	/* another process's writer holds the lock (a long import, say) */
	fd = open(lock, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	s = must_open("alice", "a");
	ck_assert_int_eq(chs_store_status(s, &st), 0);
	chs_status_dispose(&st);
	chs_store_free(s);
	close(fd);
	/* the store is whole afterwards */
	s = must_open("alice", "a");
	ck_assert_int_eq(chs_store_check(s), 0);
	chs_store_free(s);
	free(lock);
}
END_TEST

/* A writer that holds the lock a few ms at a time, taking it again at
 * once (a sync applying a pull, group after group), until told to stop. */
typedef struct regrabber {
	chs_store *s;
	pthread_mutex_t lock;
	int rounds, stop, saw_waiting;
	int inside; /* holds the lock, in its 10 ms */
} regrabber;

static void *regrab(void *arg)
{
	regrabber *g = arg;

	for (;;) {
		int stop, waiting;

		ck_assert_int_eq(chs_store__begin(g->s), 0);
		pthread_mutex_lock(&g->lock);
		g->inside = 1;
		pthread_mutex_unlock(&g->lock);
		nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
		waiting = chs_store__writer_waiting(g->s);
		pthread_mutex_lock(&g->lock);
		g->inside = 0;
		pthread_mutex_unlock(&g->lock);
		ck_assert_int_eq(chs_store__commit(g->s), 0);
		pthread_mutex_lock(&g->lock);
		g->rounds++;
		g->saw_waiting |= waiting;
		stop = g->stop;
		pthread_mutex_unlock(&g->lock);
		if (stop)
			return NULL;
	}
}

static int rounds_of(regrabber *g)
{
	int n;

	pthread_mutex_lock(&g->lock);
	n = g->rounds;
	pthread_mutex_unlock(&g->lock);
	return n;
}

static int inside_of(regrabber *g)
{
	int in;

	pthread_mutex_lock(&g->lock);
	in = g->inside;
	pthread_mutex_unlock(&g->lock);
	return in;
}

/* Before the turnstile, the waiting writer polled and almost never found
 * the lock free between two rounds: it waited until the busy timeout. */
START_TEST(test_store__a_waiting_writer_goes_before_one_that_retakes_the_lock)
{
	chs_store *s = create_as("alice", "a"), *other = must_open("alice", "a");
	regrabber g;
	pthread_t t;
	int before, after;

	memset(&g, 0, sizeof(g));
	g.s = s;
	pthread_mutex_init(&g.lock, NULL);
	ck_assert_int_eq(pthread_create(&t, NULL, regrab, &g), 0);
	/* ask while it holds the lock: asked between two of its rounds, this
	 * writer could take the lock at once, and the holder would never see
	 * it wait (the test failed so under load in CI) */
	while (rounds_of(&g) < 2 || !inside_of(&g))
		nanosleep(&(struct timespec){ 0, 200000L }, NULL);
	before = rounds_of(&g);
	ck_assert_msg(chs_store__begin(other) == 0, "%s", chs_error_last());
	after = rounds_of(&g);
	ck_assert_int_eq(chs_store__commit(other), 0);
	pthread_mutex_lock(&g.lock);
	g.stop = 1;
	pthread_mutex_unlock(&g.lock);
	pthread_join(t, NULL);
	/* in after the round under way and at most one more */
	ck_assert_msg(after - before <= 2, "waited for %d rounds", after - before);
	/* and the holder could tell someone waited (a pull ends its group) */
	ck_assert(g.saw_waiting);
	pthread_mutex_destroy(&g.lock);
	chs_store_free(other);
	chs_store_free(s);
}
END_TEST

/* ---- What is on disk ---- */

START_TEST(test_store__no_plaintext_in_any_file)
{
	chs_store *s = create_as("alice", "a");
	char hit[512] = "";

	ck_assert_int_eq(chs_config_set(s, "terminal.name", MARKER), 0);
	ck_assert_int_eq(chs_store_user_add(s, "MARKERUSER", 0, "b", 1), 0);
	/* while the store is open (WAL and wal-index present) ... */
	ck_assert_msg(tu_grep_dir(dir, MARKER, hit, sizeof(hit)) == 0,
		      "plaintext found in %s", hit);
	chs_store_free(s);
	/* ... and after it is closed and checkpointed. The user name is in
	 * the key slot file by design (it names whose slot it is). */
	ck_assert_msg(tu_grep_dir(dir, MARKER, hit, sizeof(hit)) == 0,
		      "plaintext found in %s", hit);
	ck_assert_int_eq(tu_grep_dir(dir, "SQLite format 3", NULL, 0), 0);
	ck_assert_int_eq(tu_grep_dir(dir, "front-desk", NULL, 0), 0);
}
END_TEST

/* ---- Damage ---- */

static char *db_path(void)
{
	return tu_path(dir, "store.db");
}

/* A store with a few pages, closed (so store.db holds everything). */
static void make_store_with_pages(void)
{
	chs_store *s = create_as("alice", "a");
	char name[32];
	int i;

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "user%02d", i);
		ck_assert_int_eq(chs_store_user_add(s, name, 0, "x", 1), 0);
	}
	chs_store_free(s);
	{
		char *p = db_path();

		ck_assert_int_ge(tu_file_size(p) / PAGE, 4);
		free(p);
	}
}

/* Open and check; the store must report damage, never crash. */
static void assert_damage_detected(void)
{
	chs_store *s = NULL;
	int rc = open_as(&s, "alice", "a");

	if (rc == 0) {
		rc = chs_store_check(s);
		chs_store_free(s);
	}
	ck_assert_int_eq(rc, CHS_EDAMAGED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "damaged"));
}

START_TEST(test_store__flipped_bit_anywhere_is_detected)
{
	char *p = db_path();
	long size, pages, offsets[6];
	int i;

	make_store_with_pages();
	size = tu_file_size(p);
	pages = size / PAGE;
	offsets[0] = 0;                          /* page 1, the header */
	offsets[1] = 100;                        /* page 1, first b-tree page */
	offsets[2] = PAGE * (pages / 2) + 1234;  /* a middle page */
	offsets[3] = PAGE * (pages - 1) + PAGE - 1;  /* the last nonce byte */
	offsets[4] = PAGE * 2 + PAGE - 30;       /* a tag */
	offsets[5] = PAGE * (pages - 1) + 17;    /* the last page */
	for (i = 0; i < 6; i++) {
		tu_flip_bit(p, offsets[i], i % 8);
		assert_damage_detected();
		tu_flip_bit(p, offsets[i], i % 8);
	}
	/* flipped back: the store is whole again */
	{
		chs_store *s = must_open("alice", "a");

		ck_assert_int_eq(chs_store_check(s), 0);
		chs_store_free(s);
	}
	free(p);
}
END_TEST

START_TEST(test_store__swapped_pages_are_detected)
{
	char *p = db_path();
	unsigned char *d;
	unsigned char tmp[PAGE];
	size_t n;
	long last;

	make_store_with_pages();
	d = tu_read(p, &n);
	last = (long)(n / PAGE) - 1;
	memcpy(tmp, d + PAGE, PAGE);
	memcpy(d + PAGE, d + last * PAGE, PAGE);
	memcpy(d + last * PAGE, tmp, PAGE);
	ck_assert_int_eq(tu_write(p, d, n), 0);
	assert_damage_detected();
	free(d);
	free(p);
}
END_TEST

START_TEST(test_store__truncated_store_is_reported)
{
	char *p = db_path();

	make_store_with_pages();
	ck_assert_int_eq(truncate(p, tu_file_size(p) - PAGE - 100), 0);
	assert_damage_detected();
	ck_assert_int_eq(truncate(p, 100), 0);
	assert_damage_detected();
	free(p);
}
END_TEST

START_TEST(test_store__not_a_store_is_reported)
{
	chs_store *s = NULL;
	char *slots = tu_path(dir, "keyslots");

	ck_assert_int_eq(open_as(&s, "alice", "a"), CHS_ENOTSTORE);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "no chartsync store"));
	ck_assert_int_eq(tu_write(slots, "{\"format\": 1}", 13), 0);
	ck_assert_int_eq(open_as(&s, "alice", "a"), CHS_ENOTSTORE);
	ck_assert_int_eq(tu_write(slots, "\x01\x02garbage", 9), 0);
	ck_assert_int_eq(open_as(&s, "alice", "a"), CHS_ENOTSTORE);
	free(slots);
}
END_TEST

START_TEST(test_store__slots_from_another_store_do_not_open_it)
{
	char *slots = tu_path(dir, "keyslots"), *other_dir = tu_tempdir();
	char *other_slots = tu_path(other_dir, "keyslots");
	chs_store_create_opts o = { "alice", "a", 1, &kdf, NULL };
	chs_store *s = create_as("alice", "a"), *t = NULL;
	unsigned char *d;
	size_t n;

	chs_store_free(s);
	ck_assert_int_eq(chs_store_create(&t, other_dir, &o), 0);
	chs_store_free(t);
	d = tu_read(other_slots, &n);
	ck_assert_int_eq(tu_write(slots, d, n), 0);
	ck_assert_int_eq(open_as(&s, "alice", "a"), CHS_EDAMAGED);
	free(d);
	free(slots);
	free(other_slots);
	tu_rmtree(other_dir);
	free(other_dir);
}
END_TEST

/* ---- Several processes ---- */

static void hammer(const char *user, const char *pass, int rounds, const char *tag)
{
	chs_store *s = NULL;
	char v[64];
	int i;

	if (open_as(&s, user, pass) != 0)
		_exit(10);
	for (i = 0; i < rounds; i++) {
		snprintf(v, sizeof(v), "%s-%d", tag, i);
		if (chs_config_set(s, "terminal.name", v) != 0)
			_exit(11);
	}
	chs_store_free(s);
	_exit(0);
}

START_TEST(test_store__two_processes_write_at_once)
{
	chs_store *s = create_as("alice", "a");
	pid_t kids[3];
	int i, status;

	ck_assert_int_eq(chs_store_user_add(s, "bob", 0, "b", 1), 0);
	chs_store_free(s);
	for (i = 0; i < 3; i++) {
		kids[i] = fork();
		ck_assert_int_ge(kids[i], 0);
		if (kids[i] == 0)
			hammer(i ? "bob" : "alice", i ? "b" : "a", 150, i ? "b" : "a");
	}
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(waitpid(kids[i], &status, 0), kids[i]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "writer %d failed (status %d)", i, status);
	}
	s = must_open("alice", "a");
	ck_assert_int_eq(chs_store_check(s), 0);
	chs_store_free(s);
}
END_TEST

START_TEST(test_store__killed_writer_leaves_a_whole_store)
{
	chs_store *s = create_as("alice", "a");
	char *v = NULL, hit[512] = "", byte = 0;
	int status, committed[2];
	struct pollfd p;
	pid_t kid;

	ck_assert_int_eq(chs_config_set(s, "terminal.name", "before-crash"), 0);
	chs_store_free(s);
	ck_assert_int_eq(pipe(committed), 0);
	kid = fork();
	if (kid == 0) {
		chs_store *c = NULL;
		char name[40];
		int i;

		close(committed[0]);
		if (open_as(&c, "alice", "a") != 0)
			_exit(10);
		for (i = 0;; i++) {
			snprintf(name, sizeof(name), "%s%d", MARKER, i);
			if (chs_config_set(c, "terminal.name", name) == 0 && committed[1] >= 0) {
				/* one write is committed: the parent may kill us
				 * (mid-way through a later one) */
				if (write(committed[1], "c", 1) != 1)
					_exit(11);
				close(committed[1]);
				committed[1] = -1;
			}
		}
	}
	close(committed[1]);
	p.fd = committed[0];
	p.events = POLLIN;
	ck_assert_msg(poll(&p, 1, 60 * 1000) == 1 && read(committed[0], &byte, 1) == 1,
		      "the writer never committed a write");
	close(committed[0]);
	kill(kid, SIGKILL);
	waitpid(kid, &status, 0);
	ck_assert_msg(tu_grep_dir(dir, MARKER, hit, sizeof(hit)) == 0,
		      "plaintext found in %s", hit);
	s = must_open("alice", "a");
	ck_assert_int_eq(chs_store_check(s), 0);
	ck_assert_int_eq(chs_config_get(s, "terminal.name", &v), 0);
	ck_assert_ptr_nonnull(strstr(v, MARKER)); /* committed writes survived */
	free(v);
	chs_store_free(s);
}
END_TEST

/* glibc keeps what a big job freed; the store gives it back after one.
 * The sanitizers' allocators are not glibc's (nothing to see there), so
 * the test below is built and registered only with glibc's own heap
 * (GLIBC_HEAP) rather than passing without having run. */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define GLIBC_HEAP 1
/* Resident anonymous memory of this process, in KiB. */
static long rss_anon_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

START_TEST(test_store__a_big_job_gives_its_memory_back)
{
	enum { PIECES = 16384, PIECE = 4096 }; /* 64 MiB in the heap, not mmap */
	char **p = malloc(PIECES * sizeof(*p));
	long before, kept, after;
	size_t i;

	ck_assert_ptr_nonnull(p);
	before = rss_anon_kib();
	for (i = 0; i < PIECES; i++) {
		ck_assert_ptr_nonnull(p[i] = malloc(PIECE));
		memset(p[i], 1, PIECE);
	}
	/* freed in the order made: the top of the heap stays in use until the
	 * last, so nothing goes back by itself */
	for (i = 0; i + 1 < PIECES; i++)
		free(p[i]);
	chs_store__after_big_job(9999); /* a small job: nothing done */
	kept = rss_anon_kib();
	ck_assert_msg(kept - before > 48 * 1024, "the heap did not grow: %ld -> %ld KiB", before,
		      kept);
	chs_store__after_big_job(10000);
	after = rss_anon_kib();
	ck_assert_msg(kept - after > 48 * 1024, "kept %ld KiB after a big job (%ld before it)",
		      after, kept);
	free(p[PIECES - 1]);
	free(p);
}
END_TEST
#endif /* GLIBC_HEAP */


/* rekey needs the store to itself: refused while another handle has it
 * open; then every user's slot takes the new key without their
 * passphrase, and the handle that re-keyed goes on writing. */
START_TEST(test_store__rekey_needs_the_store_to_itself_and_rewraps_every_slot)
{
	chs_store *s = create_as("alice", "alice pw"), *other;
	chs_rekey_result r;
	chs_status st;

	ck_assert_int_eq(chs_store_user_add(s, "bob", 0, "bob pw", 6), 0);
	other = must_open("bob", "bob pw");
	ck_assert_int_eq(chs_store_rekey(s, &r), CHS_EBUSY);
	ck_assert_msg(strstr(chs_error_last(), "open in another program"), "%s",
		      chs_error_last());
	chs_store_free(other);
	ck_assert_msg(chs_store_rekey(s, &r) == 0, "%s", chs_error_last());
	ck_assert_uint_eq(r.rewrapped, 2);
	ck_assert_uint_eq(r.ndropped, 0);
	chs_rekey_result_dispose(&r);
	ck_assert_int_eq(chs_config_set(s, "terminal.name", "after-rekey"), 0);
	chs_store_free(s);
	other = must_open("bob", "bob pw");
	ck_assert_int_eq(chs_store_status(other, &st), 0);
	ck_assert_str_eq(st.terminal, "after-rekey");
	ck_assert_int_eq(st.users, 2);
	chs_status_dispose(&st);
	ck_assert_int_eq(chs_store_rekey(other, &r), CHS_EDENIED);
	ck_assert_int_eq(chs_store_check(other), 0);
	chs_store_free(other);
}
END_TEST

/* The wal-index of a store: refused, with a message naming it, when the
 * user's folder for it belongs to someone else. */
START_TEST(test_store__a_wal_index_folder_of_another_user_is_refused)
{
	char *base = tu_path(dir, "shm"), user[64], *udir;
	chs_store *s;

	ck_assert_int_eq(mkdir(base, 01777), 0);
	setenv("CHARTSYNC_SHM_DIR", base, 1);
	s = create_as("alice", "alice pw");
	chs_store_free(s);
	snprintf(user, sizeof(user), "chartsync-%lu", (unsigned long)geteuid());
	udir = tu_path(base, user);
	ck_assert_int_eq(chown(udir, 4242, 4242), 0);
	ck_assert_int_eq(open_as(&s, "alice", "alice pw"), CHS_EIO);
	ck_assert_msg(strstr(chs_error_last(), "refusing the wal-index folder"), "%s",
		      chs_error_last());
	ck_assert_int_eq(chown(udir, geteuid(), getegid()), 0);
	s = must_open("alice", "alice pw");
	chs_store_free(s);
	unsetenv("CHARTSYNC_SHM_DIR");
	free(udir);
	free(base);
}
END_TEST


/* A version 1 slot, as chartsync wrote them before rekey existed: the
 * store key itself wrapped under the passphrase key, associated data
 * "chartsync-slot-v1" NUL store NUL user (crypto/slot.c). */
static json_t *v1_slot(const chs_store *s, const char *user, const char *pass)
{
	unsigned char salt[CHS_SALT_BYTES], kek[CHS_KEY_BYTES];
	unsigned char wrapped[CHS_SLOT_WRAPPED_BYTES];
	char ad[128], salt_hex[2 * sizeof(salt) + 1], wrapped_hex[2 * sizeof(wrapped) + 1];
	size_t adlen;

	randombytes_buf(salt, sizeof(salt));
	ck_assert_int_eq(crypto_pwhash(kek, sizeof(kek), pass, strlen(pass), salt, kdf.ops,
				       (size_t)kdf.mem, crypto_pwhash_ALG_ARGON2ID13), 0);
	adlen = (size_t)snprintf(ad, sizeof(ad), "chartsync-slot-v1%c%s%c%s", 0,
				 chs_store_id(s), 0, user);
	chs_aead_seal(wrapped, s->key, CHS_KEY_BYTES, ad, adlen, kek);
	chs_hex(salt_hex, salt, sizeof(salt));
	chs_hex(wrapped_hex, wrapped, sizeof(wrapped));
	return json_pack("{s:s, s:I, s:I, s:s, s:s}", "kdf", "argon2id13", "ops",
			 (json_int_t)kdf.ops, "mem", (json_int_t)kdf.mem, "salt", salt_hex,
			 "wrapped", wrapped_hex);
}

/* A store made before version 2 slots: its users open it as before, each
 * slot becomes version 2 when its user opens the store, and a rekey
 * drops (and names) a slot still at version 1, whose user cannot open
 * the store after it. */
START_TEST(test_store__version_1_slots_open_are_upgraded_and_named_by_rekey)
{
	chs_store *s = create_as("alice", "alice pw");
	char *path = tu_path(dir, "keyslots"), *text;
	chs_rekey_result r;
	json_t *root;
	size_t len = 0;

	ck_assert_int_eq(chs_store_user_add(s, "bob", 0, "bob pw", 6), 0);
	root = json_pack("{s:s, s:i, s:s, s:{s:o, s:o}}", "format", "chartsync-keyslots",
			 "version", 1, "store", chs_store_id(s), "slots", "alice",
			 v1_slot(s, "alice", "alice pw"), "bob", v1_slot(s, "bob", "bob pw"));
	text = json_dumps(root, JSON_INDENT(2));
	ck_assert_int_eq(tu_write(path, text, strlen(text)), 0);
	free(text);
	json_decref(root);
	chs_store_free(s);

	s = must_open("alice", "alice pw"); /* a version 1 slot opens */
	chs_store_free(s);
	text = (char *)tu_read(path, &len);
	root = json_loadb(text, len, 0, NULL);
	ck_assert_ptr_nonnull(root);
	ck_assert_ptr_nonnull(json_object_get(json_object_get(json_object_get(root, "slots"),
							      "alice"), "box"));
	ck_assert_ptr_null(json_object_get(json_object_get(json_object_get(root, "slots"),
							   "bob"), "box"));
	json_decref(root);
	free(text);

	s = must_open("alice", "alice pw");
	ck_assert_msg(chs_store_rekey(s, &r) == 0, "%s", chs_error_last());
	ck_assert_uint_eq(r.rewrapped, 1);
	ck_assert_uint_eq(r.ndropped, 1);
	ck_assert_str_eq(r.dropped[0], "bob");
	chs_rekey_result_dispose(&r);
	chs_store_free(s);
	ck_assert_int_ne(open_as(&s, "bob", "bob pw"), 0);
	s = must_open("alice", "alice pw");
	ck_assert_int_eq(chs_store_check(s), 0);
	chs_store_free(s);
	free(path);
}
END_TEST

/* The admin who runs rekey keeps their way in: when their own slot is
 * still at version 1 (they opened the store while another program held
 * the writer lock, so it could not be upgraded), rekey refuses rather
 * than drop it, and says how to get it upgraded. */
START_TEST(test_store__rekey_never_drops_the_slot_of_the_admin_running_it)
{
	chs_store *s = create_as("alice", "alice pw");
	char *path = tu_path(dir, "keyslots"), *lock = tu_path(dir, "lock"), *text, h1[65], h2[65];
	chs_rekey_result r;
	int64_t n;
	json_t *root;
	int fd;

	ck_assert_int_eq(chs_store_verify(s, 0, h1, &n), 0);
	root = json_pack("{s:s, s:i, s:s, s:{s:o}}", "format", "chartsync-keyslots",
			 "version", 1, "store", chs_store_id(s), "slots", "alice",
			 v1_slot(s, "alice", "alice pw"));
	text = json_dumps(root, JSON_INDENT(2));
	ck_assert_int_eq(tu_write(path, text, strlen(text)), 0);
	free(text);
	json_decref(root);
	chs_store_free(s);

	fd = open(lock, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	s = must_open("alice", "alice pw"); /* no upgrade: the lock is taken */
	close(fd);
	ck_assert_int_eq(chs_store_rekey(s, &r), CHS_EBUSY);
	ck_assert_msg(strstr(chs_error_last(), "your own key slot"), "%s", chs_error_last());
	chs_store_free(s);
	/* nothing changed: she opens it as before (and now it is upgraded) */
	s = must_open("alice", "alice pw");
	ck_assert_int_eq(chs_store_verify(s, 0, h2, &n), 0);
	ck_assert_str_eq(h1, h2);
	chs_store_free(s);
	s = must_open("alice", "alice pw");
	ck_assert_msg(chs_store_rekey(s, &r) == 0, "%s", chs_error_last());
	ck_assert_uint_eq(r.ndropped, 0);
	chs_rekey_result_dispose(&r);
	chs_store_free(s);
	s = must_open("alice", "alice pw");
	chs_store_free(s);
	free(path);
	free(lock);
}
END_TEST


/* A program that opened the store before its database file was replaced
 * (as a rekey replaces it) holds the old file: its writes would be lost
 * or land in the new file's WAL. It is refused, and told to open again. */
START_TEST(test_store__a_handle_on_a_replaced_database_cannot_write)
{
	chs_store *s = create_as("alice", "alice pw"), *old;
	char *db = tu_path(dir, "store.db"), *copy = tu_path(dir, "store.db.copy");

	chs_store_free(s);
	old = must_open("alice", "alice pw");
	ck_assert_int_eq(tu_sh("cp '%s' '%s' && mv '%s' '%s'", db, copy, copy, db), 0);
	ck_assert_int_eq(chs_config_set(old, "terminal.name", "lost"), CHS_EBUSY);
	ck_assert_msg(strstr(chs_error_last(), "re-keyed after this program opened it"), "%s",
		      chs_error_last());
	chs_store_free(old);
	s = must_open("alice", "alice pw");
	ck_assert_int_eq(chs_config_set(s, "terminal.name", "kept"), 0);
	chs_store_free(s);
	free(db);
	free(copy);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("store");
	TCase *busy = tcase_create("busy");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_store__create_and_reopen);
#ifdef GLIBC_HEAP /* glibc's heap only: see the test */
	tcase_add_test(tc, test_store__a_big_job_gives_its_memory_back);
#endif
	tcase_add_test(tc, test_store__more_statements_than_the_cache_holds);
	tcase_add_test(tc, test_store__a_save_does_not_read_every_batch);
	tcase_add_test(tc, test_store__a_schema_3_store_is_upgraded_on_open);
	tcase_add_test(tc, test_store__a_schema_5_store_gains_the_merge_column_on_open);
	tcase_add_test(tc, test_store__a_schema_6_store_gains_its_indexes_on_open);
	tcase_add_test(tc, test_store__a_store_made_by_the_previous_release_opens_migrated);
	tcase_add_test(tc, test_store__status_counts_live_records_without_reading_them);
	tcase_add_test(tc, test_store__refuses_to_create_over_a_store);
	tcase_add_test(tc, test_store__never_removes_a_database_it_did_not_make);
	tcase_add_test(tc, test_store__wrong_passphrase_and_unknown_user_refused_alike);
	tcase_add_test(tc, test_store__another_users_store_is_refused);
	tcase_add_test(tc, test_store__passwd_keeps_data_and_drops_the_old_passphrase);
	tcase_add_test(tc, test_store__each_user_opens_with_their_own_passphrase);
	tcase_add_test(tc, test_store__removed_user_can_no_longer_open);
	tcase_add_test(tc, test_store__last_admin_cannot_be_removed);
	tcase_add_test(tc, test_store__default_user_is_the_only_user);
	tcase_add_test(tc, test_store__settings_are_checked);
	tcase_add_test(tc, test_store__no_plaintext_in_any_file);
	tcase_add_test(tc, test_store__flipped_bit_anywhere_is_detected);
	tcase_add_test(tc, test_store__swapped_pages_are_detected);
	tcase_add_test(tc, test_store__truncated_store_is_reported);
	tcase_add_test(tc, test_store__not_a_store_is_reported);
	tcase_add_test(tc, test_store__slots_from_another_store_do_not_open_it);
	tcase_add_test(tc, test_store__two_processes_write_at_once);
	tcase_add_test(tc, test_store__killed_writer_leaves_a_whole_store);
	tcase_add_test(tc, test_store__rekey_needs_the_store_to_itself_and_rewraps_every_slot);
	tcase_add_test(tc, test_store__a_wal_index_folder_of_another_user_is_refused);
	tcase_add_test(tc, test_store__version_1_slots_open_are_upgraded_and_named_by_rekey);
	tcase_add_test(tc, test_store__rekey_never_drops_the_slot_of_the_admin_running_it);
	tcase_add_test(tc, test_store__a_handle_on_a_replaced_database_cannot_write);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(busy, setup, teardown);
	tcase_set_timeout(busy, CHS_BUSY_TIMEOUT_MS / 1000 / 2);
	tcase_add_test(busy, test_store__a_reader_never_waits_on_close_for_a_busy_writer);
	tcase_add_test(busy, test_store__a_waiting_writer_goes_before_one_that_retakes_the_lock);
	suite_add_tcase(s, busy);
	return tu_run(s);
}
