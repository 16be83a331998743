/*
 * tools/: the store's own commands as a technician runs them - what
 * `verify` and `status` say about a damaged or checked store, `rekey` and
 * `user rm --rekey`. Every test runs the real binary against a real store
 * in a temporary folder.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir;

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)
#define ck_status tu_ck_status
#define PAGE 4096

static void setup(void)
{
	dir = tu_cli_setup("clinic pass");
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

/* A store with a few records in it, all in store.db (the CLI checkpoints
 * when it closes). */
static void store_with_records(void)
{
	result r;
	int i;

	tu_cli_init_store(CHARTSYNC_BIN);
	for (i = 0; i < 5; i++) {
		char mrn[32];

		snprintf(mrn, sizeof(mrn), "mrn=A-%d", 1000 + i);
		run(&r, "add", "patient", "name=Ada Lovelace", "dob=1980-02-03", mrn,
		    NULL);
		ck_status(r, 0);
	}
}

/* ---- verify reads every page ---- */

/* A page anywhere in the store that no longer decrypts makes `verify`
 * fail with "damaged" instead of printing a state hash, whichever table
 * or index the page belongs to. */
START_TEST(test_cli_store__verify_fails_on_any_damaged_page)
{
	char *db = tu_path(dir, "store.db");
	long pages, p;
	result r;

	store_with_records();
	run(&r, "verify", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "state "));
	pages = tu_file_size(db) / PAGE;
	ck_assert_int_gt(pages, 3);
	for (p = 0; p < pages; p++) {
		tu_flip_bit(db, p * PAGE + 100, 2);
		run(&r, "verify", NULL);
		ck_assert_msg(r.status == 2, "page %ld damaged, verify exit %d: %s", p + 1,
			      r.status, r.out);
		ck_assert_msg(strstr(r.err, "damaged"), "page %ld: %s", p + 1, r.err);
		ck_assert_ptr_null(strstr(r.out, "state "));
		tu_flip_bit(db, p * PAGE + 100, 2); /* mended */
	}
	run(&r, "verify", NULL);
	ck_status(r, 0);
	free(db);
}
END_TEST

/* ---- status says when check last ran ---- */

START_TEST(test_cli_store__status_says_when_check_last_found_the_store_intact)
{
	char *db = tu_path(dir, "store.db");
	result r;

	store_with_records();
	run(&r, "status", NULL);
	ck_status(r, 0);
	ck_assert_msg(strstr(r.out, "checked:  never"), "%s", r.out);
	run(&r, "status", "--json", NULL);
	ck_assert_msg(strstr(r.out, "\"checked\":null"), "%s", r.out);
	run(&r, "check", NULL);
	ck_status(r, 0);
	run(&r, "status", NULL);
	ck_status(r, 0);
	ck_assert_msg(strstr(r.out, "checked:  20"), "%s", r.out);
	ck_assert_ptr_null(strstr(r.out, "never"));
	run(&r, "status", "--json", NULL);
	ck_assert_msg(strstr(r.out, "\"checked\":\"20"), "%s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "Z\""));
	free(db);
}
END_TEST


/* ---- rekey ---- */

static void state_of(char out[80])
{
	result r;

	run(&r, "verify", "--user", "alice", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "(5 records)"));
	snprintf(out, 80, "%.70s", r.out);
}

static unsigned char *slots_now(size_t *len)
{
	char *p = tu_path(dir, "keyslots");
	unsigned char *b = tu_read(p, len);

	ck_assert_ptr_nonnull(b);
	free(p);
	return b;
}

static void put_slots(const unsigned char *b, size_t len)
{
	char *p = tu_path(dir, "keyslots");

	ck_assert_int_eq(tu_write(p, b, len), 0);
	free(p);
}

/* After `user rm --rekey`, a copy of the slot file from before and the
 * old passphrase open nothing: the key they unwrap is retired. Without
 * --rekey, user rm says so. */
START_TEST(test_cli_store__rekey_retires_every_old_key_slot)
{
	unsigned char *old, *now;
	size_t old_len, now_len;
	char before[80], after[80];
	result r;

	store_with_records();
	setenv("CHARTSYNC_NEW_PASSPHRASE", "bob pass", 1);
	run(&r, "user", "add", "bob", "--user", "alice", NULL);
	ck_status(r, 0);
	run(&r, "user", "add", "carol", "--user", "alice", NULL);
	ck_status(r, 0);
	state_of(before);
	old = slots_now(&old_len);

	run(&r, "user", "rm", "carol", "--user", "alice", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "chartsync rekey"));
	setenv("CHARTSYNC_PASSPHRASE", "bob pass", 1);
	run(&r, "rekey", "--user", "bob", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "only an admin"));
	setenv("CHARTSYNC_PASSPHRASE", "clinic pass", 1);

	run(&r, "user", "rm", "bob", "--rekey", "--user", "alice", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "removed user 'bob'"));
	ck_assert_msg(strstr(r.out, "has a new key; 1 key slot re-wrapped"), "%s", r.out);
	state_of(after);
	ck_assert_str_eq(before, after);

	/* The old file and alice's own old slot in it: refused now. */
	now = slots_now(&now_len);
	put_slots(old, old_len);
	run(&r, "status", "--user", "alice", NULL);
	ck_status(r, 2);
	ck_assert_msg(strstr(r.err, "older than its last rekey"), "%s", r.err);
	put_slots(now, now_len);
	run(&r, "check", "--user", "alice", NULL);
	ck_status(r, 0);
	free(old);
	free(now);
}
END_TEST

/* A passphrase changed and then a rekey: the old slot with the old
 * passphrase opens nothing, the new passphrase opens the store. */
START_TEST(test_cli_store__rekey_after_passwd_retires_the_old_passphrase)
{
	unsigned char *old, *now;
	size_t old_len, now_len;
	result r;

	store_with_records();
	old = slots_now(&old_len);
	setenv("CHARTSYNC_NEW_PASSPHRASE", "new pass", 1);
	run(&r, "passwd", NULL);
	ck_status(r, 0);
	setenv("CHARTSYNC_PASSPHRASE", "new pass", 1);
	run(&r, "rekey", NULL);
	ck_status(r, 0);
	now = slots_now(&now_len);
	put_slots(old, old_len);
	setenv("CHARTSYNC_PASSPHRASE", "clinic pass", 1);
	run(&r, "status", NULL);
	ck_status(r, 2);
	put_slots(now, now_len);
	setenv("CHARTSYNC_PASSPHRASE", "new pass", 1);
	run(&r, "verify", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "(5 records)"));
	free(old);
	free(now);
}
END_TEST

/* Killed between any two steps, the store opens, with the old key
 * (before the switch) or the new one (after it), its records intact,
 * and nothing of the unfinished rekey left in the folder. */
START_TEST(test_cli_store__rekey_killed_at_any_step_opens_with_one_key)
{
	static const struct {
		const char *point;
		int switched;
	} points[] = {
		{ "rekey-copied", 0 },
		{ "rekey-resealed", 0 },
		{ "rekey-slots", 0 },
		{ "rekey-switched", 1 },
	};
	char before[80], after[80];
	size_t i;
	result r;

	store_with_records();
	state_of(before);
	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		unsigned char *old, *now;
		size_t old_len, now_len;
		char *left;

		old = slots_now(&old_len);
		setenv("CHARTSYNC_FAULT", points[i].point, 1);
		run(&r, "rekey", NULL);
		unsetenv("CHARTSYNC_FAULT");
		ck_assert_msg(r.status == 128 + 9, "%s: exit %d", points[i].point, r.status);
		state_of(after);
		ck_assert_str_eq(before, after);
		now = slots_now(&now_len);
		ck_assert_msg((old_len == now_len && memcmp(old, now, now_len) == 0) ==
				      !points[i].switched,
			      "%s: the key slots are from the wrong side of the switch",
			      points[i].point);
		left = tu_path(dir, "store.db.rekey");
		ck_assert_msg(access(left, F_OK) != 0, "%s: %s left", points[i].point, left);
		free(left);
		left = tu_path(dir, "keyslots.rekey");
		ck_assert_msg(access(left, F_OK) != 0, "%s: %s left", points[i].point, left);
		free(left);
		run(&r, "check", NULL);
		ck_status(r, 0);
		free(old);
		free(now);
	}
	run(&r, "rekey", NULL);
	ck_status(r, 0);
	state_of(after);
	ck_assert_str_eq(before, after);
}
END_TEST

/* ---- service users ---- */

/* The id (prefix) of the first patient the store holds, as alice's `ls`
 * shows it. */
static void first_patient(char id[33])
{
	result r;
	size_t n;

	run(&r, "ls", "patient", "--user", "alice", NULL);
	ck_status(r, 0);
	n = strcspn(r.out, " ");
	ck_assert_int_ge(n, 4);
	ck_assert_int_le(n, 32);
	memcpy(id, r.out, n);
	id[n] = '\0';
}

/* `user add --service` with a new --passphrase-file makes a random
 * passphrase in a file only its owner reads, and never overwrites it:
 * a second add with the same file reads it. */
START_TEST(test_cli_store__a_service_passphrase_file_is_made_once_owner_only)
{
	char *file = tu_path(dir, "../svc-pass"), *kept;
	unsigned char *first, *again;
	size_t n1 = 0, n2 = 0;
	struct stat sb;
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "user", "add", "--service", "scanner", "--passphrase-file", file,
	    "--user", "alice", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "added service user 'scanner'"));
	ck_assert_int_eq(stat(file, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	first = tu_read(file, &n1);
	ck_assert_uint_eq(n1, 65); /* 32 random bytes in hex, a newline */
	ck_assert_int_eq(first[64], '\n');

	/* the same file again: read, not overwritten (and the name is taken) */
	run(&r, "user", "add", "--service", "scanner", "--passphrase-file", file,
	    "--user", "alice", NULL);
	ck_status(r, 2);
	again = tu_read(file, &n2);
	ck_assert_uint_eq(n2, n1);
	ck_assert_int_eq(memcmp(first, again, n1), 0);
	/* a second service may share it; a refused name leaves no new file */
	run(&r, "user", "add", "--service", "bad name", "--passphrase-file", "new-pass",
	    "--user", "alice", NULL);
	ck_status(r, 2);
	ck_assert_int_ne(access("new-pass", F_OK), 0);

	/* a file others can read is refused, and not used */
	kept = tu_path(dir, "../open-pass");
	ck_assert_int_eq(tu_write(kept, "open to all\n", 12), 0);
	ck_assert_int_eq(chmod(kept, 0644), 0);
	run(&r, "user", "add", "--service", "scanner2", "--passphrase-file", kept,
	    "--user", "alice", NULL);
	ck_status(r, 2);
	ck_assert_msg(strstr(r.err, "can be read by others"), "%s", r.err);

	run(&r, "user", "ls", "--json", "--user", "alice", NULL);
	ck_status(r, 0);
	ck_assert_msg(strstr(r.out, "\"kind\":\"service\",\"name\":\"scanner\""), "%s", r.out);
	ck_assert_ptr_null(strstr(r.out, "scanner2"));
	run(&r, "user", "ls", "--user", "alice", NULL);
	ck_assert_msg(strstr(r.out, "scanner              service"), "%s", r.out);
	unlink(kept);
	unlink(file);
	free(first);
	free(again);
	free(kept);
	free(file);
}
END_TEST

/* Signed in from its file, a service user gets `status` and takes in a
 * scan; `show`, `ls` and `open` of a chart are refused (2) in words a
 * technician can act on. systemd's credential opens the store too. */
START_TEST(test_cli_store__a_service_user_has_status_and_scans_never_charts)
{
	/* beside the store, in a folder of this run's own: a fixed name
	 * under /tmp would meet another run's leftovers */
	char *side = tu_tempdir();
	char *file = tu_path(side, "svc-pass"), *creds = tu_path(side, "creds");
	char *cred, *scan = tu_path(side, "A-1000_p1.pdf"), pat[33];
	unsigned char *pass;
	size_t n = 0;
	result r;

	store_with_records();
	first_patient(pat);
	run(&r, "user", "add", "--service", "scanner", "--passphrase-file", file,
	    "--user", "alice", NULL);
	ck_status(r, 0);
	unsetenv("CHARTSYNC_PASSPHRASE");
	setenv("CHARTSYNC_PASSPHRASE_FILE", file, 1);

	run(&r, "status", "--user", "scanner", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "scanner"));
	run(&r, "show", pat, "--user", "scanner", NULL);
	ck_status(r, 2);
	ck_assert_msg(strstr(r.err, "'scanner' is a service user: it syncs and takes in scans,"
			     " and cannot read or change charts; sign in as a person"), "%s", r.err);
	ck_assert_ptr_null(strstr(r.out, "Ada"));
	run(&r, "ls", "--patient", pat, "--user", "scanner", NULL);
	ck_status(r, 2);
	run(&r, "open", pat, "--user", "scanner", NULL);
	ck_status(r, 2);
	ck_assert_ptr_null(strstr(r.out, "Ada"));
	ck_assert_int_eq(tu_write(scan, "%PDF-1.4 page", 13), 0);
	run(&r, "attach", pat, scan, "--user", "scanner", NULL);
	ck_status(r, 0);

	/* systemd's LoadCredential=passphrase:FILE, and nothing else */
	unsetenv("CHARTSYNC_PASSPHRASE_FILE");
	ck_assert_int_eq(mkdir(creds, 0700), 0);
	cred = tu_path(creds, "passphrase");
	pass = tu_read(file, &n);
	ck_assert_int_eq(tu_write(cred, pass, n), 0);
	run(&r, "status", "--user", "scanner", NULL);
	ck_status(r, 2); /* no credential yet, no terminal */
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	run(&r, "status", "--user", "scanner", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "scanner"));
	/* the variables come first */
	setenv("CHARTSYNC_PASSPHRASE", "clinic pass", 1);
	run(&r, "status", "--user", "alice", NULL);
	ck_status(r, 0);
	unsetenv("CREDENTIALS_DIRECTORY");
	unlink(cred);
	rmdir(creds);
	unlink(scan);
	unlink(file);
	tu_rmtree(side);
	free(side);
	free(pass);
	free(cred);
	free(creds);
	free(scan);
	free(file);
}
END_TEST

static Suite *cli_store_suite(void)
{
	Suite *s = suite_create("tools_cli_store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cli_store__verify_fails_on_any_damaged_page);
	tcase_add_test(tc, test_cli_store__status_says_when_check_last_found_the_store_intact);
	tcase_add_test(tc, test_cli_store__rekey_retires_every_old_key_slot);
	tcase_add_test(tc, test_cli_store__rekey_after_passwd_retires_the_old_passphrase);
	tcase_add_test(tc, test_cli_store__rekey_killed_at_any_step_opens_with_one_key);
	tcase_add_test(tc, test_cli_store__a_service_passphrase_file_is_made_once_owner_only);
	tcase_add_test(tc, test_cli_store__a_service_user_has_status_and_scans_never_charts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(cli_store_suite());
}
