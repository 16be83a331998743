/*
 * client/replicate: a second admin device, and the admin key's rotation.
 * Real stores syncing through a real archive made by `chartsync archive
 * init` (its pre-receive hook runs on every push) served by git daemon:
 * an admin device enrolled with --admin enrolls and revokes, and every
 * store and the hook accept what it did; revoking an admin device gives
 * the organisation a new admin key that every store follows, while the
 * revoked device loses the key and reads nothing new; a billing office
 * cannot be an admin device.
 */
#include "client/chartsync.h"
#include "sync/git/git.h"
#include "sync/sync.h"
#include "support/gitserver.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ADMIN, C1, C2, B1, NSTORES };

static char *top, *srv, *archive, *url, *dirs[NSTORES], *eve_dir, *fay_dir;
static chs_store *st[NSTORES], *eve, *fay;
static tu_hooked_archive net;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	tu_hooked_archive_start(&net, CHARTSYNC_BIN);
	top = net.top;
	srv = net.srv;
	archive = net.path;
	url = net.url;
	tu_org_new(top, url, tu_org_members, NSTORES, st, dirs);
	/* eve: a clinic's second laptop, enrolled as an admin device */
	eve = tu_store_new(top, "eve", "clinic-e-1", url, &eve_dir);
	fay = NULL;
	fay_dir = NULL;
}

static void teardown(void)
{
	tu_org_free(st, dirs, NSTORES);
	chs_store_free(eve);
	chs_store_free(fay);
	free(eve_dir);
	free(fay_dir);
	tu_hooked_archive_stop(&net);
}

static void enroll_admin(chs_store *admin, chs_store *s, const char *site, const char *role)
{
	char *line = NULL, dev[33];

	ck_assert_int_eq(chs_device_request(s, &line), 0);
	ck_assert_msg(chs_device_enroll_admin(admin, line, site, role, 1, dev) == 0, "%s",
		      chs_error_last());
	free(line);
}

/* What `s`'s roster says of `device`: 1 admin, 2 revoked, 0 neither. */
static int roster_says(chs_store *s, const char *device)
{
	chs_device_roster *r = NULL;
	size_t i;
	int what = -1;

	ck_assert_int_eq(chs_device_list(&r, s), 0);
	for (i = 0; i < chs_device_roster_count(r); i++) {
		const chs_device_info *d = chs_device_roster_get(r, i);

		if (strcmp(d->device, device) == 0)
			what = d->revoked ? 2 : d->admin ? 1 : 0;
	}
	chs_device_roster_free(r);
	ck_assert_int_ne(what, -1);
	return what;
}

static void add_patient(chs_store *s, const char *name, char id[33])
{
	chs_edit p[] = { tu_edit("name", name), tu_edit("dob", "1961-07-14"),
			 tu_edit("mrn", name) };

	ck_assert_msg(chs_record_add(s, "patient", p, 3, NULL, NULL, id) == 0, "%s",
		      chs_error_last());
}

static int can_read(chs_store *s, const char *id)
{
	char *text = NULL;
	int ok = tu_show_json(s, id, &text) == 0;

	free(text);
	return ok;
}

START_TEST(test_admin_devices__a_second_admin_device_enrolls_and_revokes_a_clinic)
{
	char dev[33], *line = NULL, before[33], after_id[33];
	chs_sync_report rep;
	uint64_t after;
	int i;

	enroll_admin(st[ADMIN], eve, "Clinic E", "clinic");
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(eve);
	ck_assert_int_eq(roster_says(eve, chs_store_device_id(eve)), 1);
	/* eve's store enrolls a new clinic, fay, and revokes clinic B (cy) */
	fay = tu_store_new(top, "fay", "clinic-f-1", url, &fay_dir);
	ck_assert_int_eq(chs_device_request(fay, &line), 0);
	ck_assert_msg(chs_device_enroll(eve, line, "Clinic F", "clinic", dev) == 0, "%s",
		      chs_error_last());
	free(line);
	add_patient(st[C2], "Before Revocation", before);
	tu_sync_ok(st[C2]);
	tu_sync_ok(eve);
	ck_assert_msg(chs_device_revoke(eve, chs_store_device_id(st[C2]), dev, &after) == 0, "%s",
		      chs_error_last());
	tu_sync_ok(eve); /* through the hook */
	for (i = 0; i < NSTORES; i++)
		if (i != C2)
			tu_sync_ok(st[i]);
	tu_sync_ok(fay);
	for (i = 0; i < NSTORES; i++) {
		if (i == C2)
			continue;
		ck_assert_int_eq(roster_says(st[i], chs_store_device_id(st[C2])), 2);
		ck_assert_int_eq(roster_says(st[i], chs_store_device_id(fay)), 0);
	}
	/* what is written afterwards: fay and the admin read it, cy does not */
	add_patient(st[C1], "After Revocation", after_id);
	tu_sync_ok(st[C1]);
	tu_sync_ok(fay);
	tu_sync_ok(st[ADMIN]);
	ck_assert(can_read(fay, after_id));
	ck_assert(can_read(fay, before));
	ck_assert(can_read(st[ADMIN], after_id));
	ck_assert_int_ne(chs_store_sync(st[C2], NULL, &rep), 0);
	chs_sync_report_dispose(&rep);
	ck_assert(!can_read(st[C2], after_id));
	/* the first admin store goes on editing after eve's edits */
	ck_assert_int_eq(chs_device_revoke(st[ADMIN], chs_store_device_id(fay), dev, &after), 0);
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(eve);
	ck_assert_int_eq(roster_says(eve, chs_store_device_id(fay)), 2);
}
END_TEST

START_TEST(test_admin_devices__revoking_an_admin_device_rotates_the_admin_key)
{
	char dev[33], id[33], *line = NULL;
	chs_sync_report rep;
	uint64_t after;
	int i, err;

	enroll_admin(st[ADMIN], eve, "Clinic E", "clinic");
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(eve);
	for (i = 0; i < NSTORES; i++)
		tu_sync_ok(st[i]);
	/* eve's laptop is lost: the admin revokes it */
	ck_assert_int_eq(chs_device_revoke(st[ADMIN], chs_store_device_id(eve), dev, &after), 0);
	ck_assert_int_eq(roster_says(st[ADMIN], chs_store_device_id(eve)), 2);
	tu_sync_ok(st[ADMIN]); /* the hook takes the new key's roster */
	for (i = 0; i < NSTORES; i++)
		tu_sync_ok(st[i]); /* every store follows the handover */
	add_patient(st[C1], "Written After", id);
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[ADMIN]);
	ck_assert(can_read(st[ADMIN], id));
	/* the lost device: its sync is refused, it reads nothing new, and
	 * the admin key it held no longer signs a roster anyone takes */
	err = chs_store_sync(eve, NULL, &rep);
	chs_sync_report_dispose(&rep);
	ck_assert_int_ne(err, 0);
	ck_assert(!can_read(eve, id));
	ck_assert_int_eq(chs_device_request(st[B1], &line), 0);
	ck_assert_int_eq(chs_device_enroll(eve, line, "Elsewhere", "clinic", dev), CHS_EDENIED);
	free(line);
	/* the remaining admin store still enrolls */
	fay = tu_store_new(top, "fay", "clinic-f-1", url, &fay_dir);
	tu_enroll(st[ADMIN], fay, "Clinic F", "clinic");
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(fay);
	tu_sync_ok(fay);
	ck_assert(can_read(fay, id));
}
END_TEST

START_TEST(test_admin_devices__a_billing_office_cannot_be_an_admin_device)
{
	char *line = NULL, dev[33];

	ck_assert_int_eq(chs_device_request(eve, &line), 0);
	ck_assert_int_eq(chs_device_enroll_admin(st[ADMIN], line, "Billing 2", "billing", 1, dev),
			 CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "billing device cannot be an admin"));
	/* nothing was saved: the same request enrolls as a plain device */
	ck_assert_int_eq(chs_device_enroll(st[ADMIN], line, "Billing 2", "billing", dev), 0);
	free(line);
	/* and a non-admin store cannot make admins */
	ck_assert_int_eq(chs_device_request(eve, &line), 0);
	ck_assert_int_eq(chs_device_enroll_admin(st[C1], line, "X", "clinic", 1, dev), CHS_EDENIED);
	free(line);
}
END_TEST

START_TEST(test_admin_devices__concurrent_edits_by_two_admin_stores_both_land)
{
	chs_store *gil;
	char *gil_dir = NULL, dev[33], *line = NULL;
	chs_sync_report rep;
	uint64_t after;
	int i, err;

	enroll_admin(st[ADMIN], eve, "Clinic E", "clinic");
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(eve);
	fay = tu_store_new(top, "fay", "clinic-f-1", url, &fay_dir);
	gil = tu_store_new(top, "gil", "clinic-g-1", url, &gil_dir);
	/* apart: the first admin store enrolls fay and revokes the billing
	 * office; eve's store enrolls gil as an admin device and revokes the
	 * billing office and clinic B too */
	tu_enroll(st[ADMIN], fay, "Clinic F", "clinic");
	ck_assert_int_eq(chs_device_revoke(st[ADMIN], chs_store_device_id(st[B1]), dev, &after), 0);
	ck_assert_int_eq(chs_device_request(gil, &line), 0);
	ck_assert_int_eq(chs_device_enroll_admin(eve, line, "Clinic G", "clinic", 1, dev), 0);
	free(line);
	ck_assert_int_eq(chs_device_revoke(eve, chs_store_device_id(st[C2]), dev, &after), 0);
	ck_assert_int_eq(chs_device_revoke(eve, chs_store_device_id(st[B1]), dev, &after), 0);
	tu_sync_ok(st[ADMIN]);
	/* eve's roster is refused as it stood; its edits land on top, and
	 * the one another admin store made already is reported */
	err = chs_store_sync(eve, NULL, &rep);
	ck_assert_int_ne(err, 0);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "revoked it already"));
	ck_assert_uint_eq(rep.roster_edits_reapplied, 2);
	ck_assert_int_eq(rep.pushed, 1);
	chs_sync_report_dispose(&rep);
	tu_sync_ok(eve);
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(st[C1]);
	tu_sync_ok(fay);
	tu_sync_ok(gil);
	for (i = 0; i < 2; i++) {
		chs_store *s = i ? eve : st[ADMIN];

		ck_assert_int_eq(roster_says(s, chs_store_device_id(fay)), 0);
		ck_assert_int_eq(roster_says(s, chs_store_device_id(gil)), 1);
		ck_assert_int_eq(roster_says(s, chs_store_device_id(st[C2])), 2);
		ck_assert_int_eq(roster_says(s, chs_store_device_id(st[B1])), 2);
	}
	/* gil, made an admin device by eve's re-made edit, enrolls too */
	ck_assert_int_eq(chs_device_request(st[C2], &line), 0);
	ck_assert_int_eq(chs_device_enroll(gil, line, "Clinic B", "clinic", dev), CHS_EEXISTS);
	free(line);
	chs_store_free(gil);
	free(gil_dir);
}
END_TEST

/* The admin key a store holds, read from its table org_secret. */
static chs_identity *held_admin_key(chs_store *s)
{
	chs_identity *id = NULL;
	sqlite3_stmt *q = NULL;

	ck_assert_int_eq(chs_store__prepare(s, &q, "SELECT admin FROM org_secret"), 0);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_bytes(q, 0), CHS_SIGN_SK_BYTES);
	ck_assert_int_eq(chs_identity_from_secret(&id, sqlite3_column_blob(q, 0)), 0);
	chs_store__finish(s, q);
	return id;
}

/* Written into the archive's folder, no hook runs: what the revoked
 * admin device signs with the old admin key lands there, and every store
 * refuses it. */
START_TEST(test_admin_devices__a_roster_signed_by_a_rotated_out_key_is_refused_by_stores)
{
	chs_identity *old, *extra[12];
	chs_roster *forged = NULL;
	chs_keyring kr;
	chs_sync_report rep;
	chs_git *g = NULL;
	char dev[33], oid[41];
	uint64_t after, seq;
	size_t i;

	ck_assert_int_eq(chs_git_open(&g, archive), 0);
	enroll_admin(st[ADMIN], eve, "Clinic E", "clinic");
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(eve);
	tu_sync_ok(st[C1]);
	old = held_admin_key(eve);
	ck_assert_int_eq(chs_device_revoke(st[ADMIN], chs_store_device_id(eve), dev, &after), 0);
	seq = tu_sync_ok(st[ADMIN]).roster_seq;
	tu_sync_ok(st[C1]);
	/* the old key signs a newer roster of its own, straight into the archive */
	ck_assert_int_eq(chs_keyring_init(&kr), 0);
	{
		chs_roster *r = NULL;
		char org[33];
		unsigned char pk[CHS_SIGN_PK_BYTES];

		ck_assert_int_eq(chs_store__org_pinned(st[C1], org, pk), 0);
		ck_assert_int_eq(chs_roster_new(&r, org, chs_identity_public(old), &kr), 0);
		forged = r;
	}
	for (i = 0; i < 12; i++)
		ck_assert_int_eq(chs_identity_new(&extra[i]), 0);
	for (i = 0; chs_roster_seq(forged) <= seq && i < 12; i++)
		ck_assert_int_eq(chs_roster_enroll(forged, &kr, chs_identity_public(extra[i]), "Mine",
						   CHS_ROLE_CLINIC), 0);
	ck_assert_int_eq(chs_roster_commit(g, CHS_ROSTER_REF, forged, old, oid), 0);
	for (i = 0; i < NSTORES; i++) {
		if (i == C2 || i == B1)
			continue;
		ck_assert_int_ne(chs_store_sync(st[i], NULL, &rep), 0);
		ck_assert_msg(strstr(chs_error_last(), "not signed by the organisation's admin key"),
			      "%s", chs_error_last());
		ck_assert_uint_eq(rep.roster_seq, 0);
		chs_sync_report_dispose(&rep);
	}
	for (i = 0; i < 12; i++)
		chs_identity_free(extra[i]);
	chs_roster_free(forged);
	chs_keyring_dispose(&kr);
	chs_identity_free(old);
	chs_git_free(g);
}
END_TEST

/* Apart from each other, the first admin enrolls fay and admin device
 * eve revokes admin device gil (a new admin key, locally): the first
 * admin's roster lands first. eve's next sync takes it, makes its
 * revocation again on top of it (a new key handed over from the
 * archive's), and every store ends with gil revoked and fay enrolled. */
START_TEST(test_admin_devices__a_rotation_made_apart_lands_after_another_admins_edit)
{
	chs_store *gil;
	char *gil_dir = NULL, dev[33];
	uint64_t after;

	enroll_admin(st[ADMIN], eve, "Clinic E", "clinic");
	gil = tu_store_new(top, "gil", "clinic-g-1", url, &gil_dir);
	enroll_admin(st[ADMIN], gil, "Clinic G", "clinic");
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(eve);
	tu_sync_ok(gil);
	fay = tu_store_new(top, "fay", "clinic-f-1", url, &fay_dir);
	tu_enroll(st[ADMIN], fay, "Clinic F", "clinic");
	ck_assert_int_eq(chs_device_revoke(eve, chs_store_device_id(gil), dev, &after), 0);
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(eve);
	tu_sync_ok(st[ADMIN]);
	ck_assert_int_eq(roster_says(st[ADMIN], chs_store_device_id(gil)), 2);
	ck_assert_int_eq(roster_says(st[ADMIN], chs_store_device_id(fay)), 0);
	ck_assert_int_eq(roster_says(eve, chs_store_device_id(gil)), 2);
	ck_assert_int_eq(roster_says(eve, chs_store_device_id(fay)), 0);
	chs_store_free(gil);
	free(gil_dir);
}
END_TEST

/* eve's sync is killed after it committed its roster and before the
 * push; the first admin's roster lands meanwhile. eve's next sync makes
 * its enrollment again on top and publishes it. */
START_TEST(test_admin_devices__a_roster_committed_and_never_pushed_is_made_again)
{
	chs_sync_report rep;
	chs_store *gil;
	char *gil_dir = NULL;
	int status;
	pid_t pid;

	enroll_admin(st[ADMIN], eve, "Clinic E", "clinic");
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(eve);
	fay = tu_store_new(top, "fay", "clinic-f-1", url, &fay_dir);
	gil = tu_store_new(top, "gil", "clinic-g-1", url, &gil_dir);
	tu_enroll(st[ADMIN], fay, "Clinic F", "clinic");
	tu_enroll(eve, gil, "Clinic G", "clinic");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("CHARTSYNC_FAULT", "pushing", 1);
		chs_store_sync(eve, NULL, &rep);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	tu_sync_ok(st[ADMIN]);
	tu_sync_ok(eve);
	tu_sync_ok(st[ADMIN]);
	ck_assert_int_eq(roster_says(st[ADMIN], chs_store_device_id(gil)), 0);
	ck_assert_int_eq(roster_says(st[ADMIN], chs_store_device_id(fay)), 0);
	ck_assert_int_eq(roster_says(eve, chs_store_device_id(fay)), 0);
	chs_store_free(gil);
	free(gil_dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client-replicate-admin-devices");
	TCase *tc = tcase_create("admin-devices");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_admin_devices__a_second_admin_device_enrolls_and_revokes_a_clinic);
	tcase_add_test(tc, test_admin_devices__revoking_an_admin_device_rotates_the_admin_key);
	tcase_add_test(tc, test_admin_devices__a_billing_office_cannot_be_an_admin_device);
	tcase_add_test(tc, test_admin_devices__concurrent_edits_by_two_admin_stores_both_land);
	tcase_add_test(tc, test_admin_devices__a_roster_signed_by_a_rotated_out_key_is_refused_by_stores);
	tcase_add_test(tc, test_admin_devices__a_rotation_made_apart_lands_after_another_admins_edit);
	tcase_add_test(tc, test_admin_devices__a_roster_committed_and_never_pushed_is_made_again);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
