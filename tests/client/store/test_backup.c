/*
 * client/store/backup.c through its API: the state token that makes a
 * repeated backup free, what a backup and a restored store hold, and the
 * refusals of chs_store_restore.
 */
#include "client/chartsync.h"
#include "support/records.h"
#include "support/testutil.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASS "clinic pass"

static char *top, *dir, *dest;
static chs_kdf_params kdf;

static void setup(void)
{
	top = tu_tempdir();
	dir = tu_path(top, "store");
	dest = tu_path(top, "backups");
	chs_kdf_params_minimum(&kdf);
}

static void teardown(void)
{
	tu_rmtree(top);
	free(top);
	free(dir);
	free(dest);
}

static chs_store *create(void)
{
	chs_store_create_opts o = { "alice", PASS, strlen(PASS), &kdf, "front-desk" };
	chs_store *s = NULL;

	ck_assert_msg(chs_store_create(&s, dir, &o) == 0, "%s", chs_error_last());
	return s;
}

static void add_patient(chs_store *s, const char *mrn)
{
	chs_edit e[] = { tu_edit("name", "Ada Lovelace"), tu_edit("mrn", mrn) };
	char id[33];

	ck_assert_msg(chs_record_add(s, "patient", e, 2, NULL, NULL, id) == 0, "%s", chs_error_last());
}

static void backup(chs_store *s, chs_backup_result *r)
{
	ck_assert_msg(chs_store_backup(s, dest, NULL, r) == 0, "%s", chs_error_last());
}

/* Every commit is a change (a setting, a record), a close and an open are
 * not, a passphrase change (the key slots) is. */
START_TEST(test_backup__only_a_change_makes_a_new_backup)
{
	chs_backup_result r;
	chs_store *s = create();

	add_patient(s, "A-1");
	backup(s, &r);
	ck_assert_int_eq(r.unchanged, 0);
	ck_assert_uint_gt(r.bytes, 0);
	chs_backup_result_dispose(&r);
	chs_store_free(s);
	ck_assert_int_eq(chs_store_open(&s, dir, "alice", PASS, strlen(PASS)), 0);
	backup(s, &r);
	ck_assert_int_eq(r.unchanged, 1);
	ck_assert_uint_eq(r.bytes, 0);
	chs_backup_result_dispose(&r);
	ck_assert_int_eq(chs_config_set(s, "terminal.name", "exam-2"), 0);
	backup(s, &r);
	ck_assert_int_eq(r.unchanged, 0);
	chs_backup_result_dispose(&r);
	ck_assert_int_eq(chs_store_passwd(s, "new pass", 8), 0);
	backup(s, &r);
	ck_assert_int_eq(r.unchanged, 0);
	chs_backup_result_dispose(&r);
	ck_assert_int_eq(tu_count_entries(dest), 4); /* three backups and .lock */
	chs_store_free(s);
}
END_TEST

/* The restored store: the same store and device, its records, only
 * store.db and keyslots; a store at DIR, a DIR with other files, and a
 * wrong passphrase are refused and leave DIR as it was. */
START_TEST(test_backup__restore_is_the_store_at_the_backup)
{
	char *restored = tu_path(top, "restored"), *used = NULL, *json = NULL;
	char store_id[33], device_id[33];
	chs_backup_result r;
	chs_store *s = create(), *c = NULL;

	add_patient(s, "A-1");
	memcpy(store_id, chs_store_id(s), 33);
	memcpy(device_id, chs_store_device_id(s), 33);
	backup(s, &r);
	add_patient(s, "A-2"); /* after the backup */

	ck_assert_int_eq(chs_store_restore(dest, restored, NULL, "wrong", 5, NULL), CHS_EAUTH);
	ck_assert_int_eq(access(restored, F_OK), -1);
	ck_assert_int_eq(tu_count_entries(top), 2); /* store, backups: no temporary folder */
	ck_assert_int_eq(chs_store_restore(dest, dir, NULL, PASS, strlen(PASS), NULL),
			 CHS_EEXISTS);
	ck_assert_int_eq(chs_store_restore(r.path, restored, NULL, PASS, strlen(PASS), &used),
			 0);
	ck_assert_str_eq(used, r.path);
	ck_assert_int_eq(tu_count_entries(restored), 2);
	ck_assert_int_eq(chs_store_open(&c, restored, "alice", PASS, strlen(PASS)), 0);
	ck_assert_str_eq(chs_store_id(c), store_id);
	ck_assert_str_eq(chs_store_device_id(c), device_id);
	ck_assert_int_eq(tu_list_json(c, "patient", NULL, &json), 0);
	ck_assert_ptr_nonnull(strstr(json, "A-1"));
	ck_assert_ptr_null(strstr(json, "A-2"));
	free(json);
	chs_store_free(c);
	chs_store_free(s);
	chs_backup_result_dispose(&r);
	free(used);
	free(restored);
}
END_TEST

/* Two stores share one DEST: each one's keep counts its own backups, and
 * one store's backup never makes the other look unchanged. */
START_TEST(test_backup__keep_counts_only_this_stores_backups)
{
	chs_store_create_opts o = { "bob", PASS, strlen(PASS), &kdf, "exam-1" };
	chs_backup_opts keep1 = { 0, NULL, 0, 1 };
	char *other_dir = tu_path(top, "other");
	chs_backup_result r;
	chs_store *s = create(), *t = NULL;

	ck_assert_msg(chs_store_create(&t, other_dir, &o) == 0, "%s", chs_error_last());
	add_patient(s, "A-1");
	add_patient(t, "B-1");
	ck_assert_int_eq(chs_store_backup(s, dest, &keep1, &r), 0);
	chs_backup_result_dispose(&r);
	ck_assert_int_eq(chs_store_backup(t, dest, &keep1, &r), 0);
	ck_assert_int_eq(r.unchanged, 0);
	ck_assert_uint_eq(r.removed, 0);
	chs_backup_result_dispose(&r);
	add_patient(s, "A-2");
	ck_assert_int_eq(chs_store_backup(s, dest, &keep1, &r), 0);
	ck_assert_uint_eq(r.removed, 1); /* its own older one, not the other store's */
	chs_backup_result_dispose(&r);
	ck_assert_int_eq(tu_count_entries(dest), 3); /* one backup each, and .lock */
	ck_assert_int_eq(chs_store_backup(t, dest, &keep1, &r), 0);
	ck_assert_int_eq(r.unchanged, 1);
	chs_backup_result_dispose(&r);
	chs_store_free(s);
	chs_store_free(t);
	free(other_dir);
}
END_TEST

static Suite *backup_suite(void)
{
	Suite *s = suite_create("client_store_backup");
	TCase *tc = tcase_create("backup");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_backup__only_a_change_makes_a_new_backup);
	tcase_add_test(tc, test_backup__restore_is_the_store_at_the_backup);
	tcase_add_test(tc, test_backup__keep_counts_only_this_stores_backups);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(backup_suite());
}
