/*
 * client/replicate: the first sync of a restored store, over the network
 * through the archive's hook. A restored store is the store's database
 * and key slots as they were at a backup, with no git mirror; the device
 * went on after the backup and sent more batches. At its first sync the
 * restored store fetches its own batches back, applies them, renumbers
 * what it made meanwhile after the archive's last batch of its own, and
 * goes on: nothing it sent is lost, no sequence number is used twice,
 * every store converges, and the hook accepts every push.
 *
 * Until `chartsync backup` and `restore` exist, a backup here is made
 * by hand: the store closed, store.db (with any -wal) and keyslots
 * copied; a restore deletes the store's folder and puts the copy back.
 */
#include "client/chartsync.h"
#include "support/internal.h" /* the unaudited attachment read (views.h) */
#include "support/gitserver.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <fcntl.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { ADMIN, C1, C2, B1, NSTORES };

static const tu_member *const members = tu_org_members;
static char *top, *srv, *archive, *url, *dirs[NSTORES];
static chs_store *st[NSTORES];
static tu_hooked_archive net;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	tu_hooked_archive_start(&net, CHARTSYNC_BIN);
	top = net.top;
	srv = net.srv;
	archive = net.path;
	url = net.url;
	tu_org_new(top, url, members, NSTORES, st, dirs);
}

static void teardown(void)
{
	tu_org_free(st, dirs, NSTORES);
	tu_hooked_archive_stop(&net);
}

static chs_store *open_store(int i)
{
	chs_store *s = NULL;

	ck_assert_msg(chs_store_open(&s, dirs[i], members[i].user, "pw", 2) == 0, "%s",
		      chs_error_last());
	return s;
}

/* The backup of store i, by hand: closed, its database and key slots
 * copied to TOP/backup-i, opened again. */
static void backup(int i)
{
	chs_store_free(st[i]);
	st[i] = NULL;
	ck_assert_int_eq(tu_sh("b='%s/backup-%d' && rm -rf \"$b\" && mkdir \"$b\" &&"
			       " cp '%s/store.db' '%s/keyslots' \"$b\"/ &&"
			       " if [ -e '%s/store.db-wal' ]; then cp '%s/store.db-wal' \"$b\"/; fi",
			       top, i, dirs[i], dirs[i], dirs[i], dirs[i]), 0);
	st[i] = open_store(i);
}

/* The machine is lost and store i is restored from its backup: the
 * store's folder is deleted and the copy put back, with no git mirror. */
static void restore(int i)
{
	chs_store_free(st[i]);
	st[i] = NULL;
	ck_assert_int_eq(tu_sh("rm -rf '%s' && mkdir '%s' && cp '%s/backup-%d'/* '%s'/ &&"
			       " test ! -e '%s/git'", dirs[i], dirs[i], top, i, dirs[i], dirs[i]),
			 0);
	st[i] = open_store(i);
}

static chs_sync_report sync_ok(int i)
{
	return tu_sync_ok(st[i]);
}

static void add_patients(int i, int n, const char *prefix)
{
	int k;

	for (k = 0; k < n; k++) {
		char name[32], mrn[32], id[33];
		chs_edit p[] = { tu_edit("name", name), tu_edit("dob", "1950-05-05"),
				 tu_edit("mrn", mrn) };

		snprintf(name, sizeof(name), "%s Person %d", prefix, k);
		snprintf(mrn, sizeof(mrn), "%s-%d", prefix, k);
		ck_assert_msg(chs_record_add(st[i], "patient", p, 3, NULL, NULL, id) == 0, "%s",
			      chs_error_last());
	}
}

static void state_hash(int i, char hash[65], int64_t *n)
{
	ck_assert_msg(chs_store_verify(st[i], 1, hash, n) == 0, "%s", chs_error_last());
}

/* Stores i and j hold the same state, of `records` records. */
static void converged(int i, int j, int64_t records)
{
	char h1[65], h2[65];
	int64_t n1, n2;

	state_hash(i, h1, &n1);
	state_hash(j, h2, &n2);
	ck_assert_str_eq(h1, h2);
	ck_assert_int_eq(n1, records);
	ck_assert_int_eq(n2, records);
}

/* The archive's ref of store i's device is its mirror's: everything it
 * made is delivered, and holds `batches` batches, numbered 1..batches
 * without a gap (each a commit on the one before). */
static void delivered(int i, int batches)
{
	const char *dev = chs_store_device_id(st[i]);

	ck_assert_int_eq(tu_sh("test $(git -C '%s' rev-parse refs/chartsync/devices/%s) ="
			       " $(git -C '%s/git' rev-parse refs/chartsync/devices/%s)",
			       archive, dev, dirs[i], dev), 0);
	ck_assert_int_eq(tu_sh("test $(git -C '%s' rev-list --first-parent"
			       " refs/chartsync/devices/%s | wc -l) = %d", archive, dev, batches),
			 0);
}

/* The number of batches store i's device holds in the archive. */
static int archive_batches(int i)
{
	char cmd[512];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-list refs/chartsync/devices/%s 2>/dev/null | wc -l",
		 archive, chs_store_device_id(st[i]));
	ck_assert_ptr_nonnull(p = popen(cmd, "r"));
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/* Restored with no work of its own since: the batches sent after the
 * backup come back (those still unsent at the backup among them), new
 * work continues after them, and clinic B converges with it. */
START_TEST(test_resync__restored_store_fetches_its_own_batches_back_and_goes_on)
{
	chs_sync_report r;
	int before;

	add_patients(C1, 2, "A");
	sync_ok(C1);
	add_patients(C1, 1, "U"); /* saved, not yet sent at the backup */
	backup(C1);
	add_patients(C1, 3, "B"); /* sent after the backup */
	sync_ok(C1);
	before = archive_batches(C1);
	restore(C1);
	/* the command says what happened */
	ck_assert_int_eq(tu_sh("CHARTSYNC_PASSPHRASE=pw '%s' --store '%s' --user %s sync |"
			       " grep -q '^this store was behind its own history .*: 3 of its"
			       " batches came back from the archive; 0 made here'", CHARTSYNC_BIN,
			       dirs[C1], members[C1].user), 0);
	/* nothing was lost: the archive's ref is where it was */
	ck_assert_int_eq(archive_batches(C1), before);
	delivered(C1, before);
	add_patients(C1, 1, "C");
	r = sync_ok(C1);
	ck_assert_uint_eq(r.batches_pushed, 1);
	delivered(C1, before + 1);
	sync_ok(C2);
	converged(C1, C2, 7);
	/* a second sync has nothing to do */
	r = sync_ok(C1);
	ck_assert_uint_eq(r.own_batches_in, 0);
	ck_assert_uint_eq(r.batches_pushed, 0);
}
END_TEST

/* Restored, then worked on before its first sync (an offline morning):
 * what it made is renumbered after the archive's last batch of its own,
 * signed again, and delivered; nothing the lost machine sent is lost. */
START_TEST(test_resync__work_made_before_the_first_sync_is_renumbered_and_delivered)
{
	chs_sync_report r;
	int before;

	add_patients(C1, 1, "A");
	sync_ok(C1);
	backup(C1);
	add_patients(C1, 3, "B");
	sync_ok(C1);
	before = archive_batches(C1);
	restore(C1);
	add_patients(C1, 2, "N"); /* the seqs the archive holds already */
	r = sync_ok(C1);
	ck_assert_uint_eq(r.own_batches_in, 3);
	ck_assert_uint_eq(r.renumbered, 2);
	ck_assert_uint_eq(r.batches_pushed, 2);
	ck_assert_uint_eq(r.batches_in, 0); /* its own are not another device's */
	delivered(C1, before + 2);
	add_patients(C1, 1, "C");
	sync_ok(C1);
	delivered(C1, before + 3);
	sync_ok(C2);
	sync_ok(ADMIN);
	converged(C1, C2, 7);
	converged(C1, ADMIN, 7);
}
END_TEST

/* A billing office restored the same way: its billing batches come back
 * and what it saved before the first sync follows them to clinic B. */
START_TEST(test_resync__a_restored_billing_office_goes_on_after_its_own_history)
{
	chs_sync_report r;
	int before;

	add_patients(B1, 1, "A");
	sync_ok(B1);
	backup(B1);
	add_patients(B1, 2, "B");
	sync_ok(B1);
	before = archive_batches(B1);
	restore(B1);
	add_patients(B1, 1, "N");
	r = sync_ok(B1);
	ck_assert_uint_eq(r.own_batches_in, 2);
	ck_assert_uint_eq(r.renumbered, 1);
	delivered(B1, before + 1);
	sync_ok(C2);
	sync_ok(B1);
	converged(B1, C2, 4);
}
END_TEST

/* The backup held batches already committed to the mirror and never
 * pushed (the sync was killed before its push), and the machine died
 * before any later sync: the restored store has no mirror, so they are
 * committed again and delivered. */
START_TEST(test_resync__batches_committed_but_never_pushed_are_delivered)
{
	int before = archive_batches(C1);

	add_patients(C1, 2, "A");
	chs_store_free(st[C1]);
	st[C1] = NULL;
	ck_assert_int_eq(tu_cli_sync(CHARTSYNC_BIN, dirs[C1], members[C1].user, "pushing"),
			 128 + 9);
	st[C1] = open_store(C1);
	ck_assert_int_eq(archive_batches(C1), before);
	backup(C1);
	restore(C1);
	sync_ok(C1);
	delivered(C1, before + 2);
	sync_ok(C2);
	converged(C1, C2, 2);
}
END_TEST

/* A first sync killed at each of its steps: the next one finishes the
 * job, and the result is the one an uninterrupted sync gives. */
START_TEST(test_resync__an_interrupted_first_sync_resumes)
{
	static const char *const points[] = { "own-renumbered", "own-applied", "committed",
					       "pushing" };
	size_t k;
	int before;

	add_patients(C1, 1, "A");
	sync_ok(C1);
	backup(C1);
	add_patients(C1, 3, "B");
	sync_ok(C1);
	before = archive_batches(C1);
	chs_store_free(st[C1]);
	st[C1] = NULL;
	ck_assert_int_eq(tu_sh("cp -r '%s/backup-%d' '%s/backup-keep'", top, C1, top), 0);
	for (k = 0; k < sizeof(points) / sizeof(*points); k++) {
		char h1[65], h2[65], prefix[8];
		int64_t n1, n2;

		ck_assert_int_eq(tu_sh("rm -rf '%s/backup-%d' && cp -r '%s/backup-keep'"
				       " '%s/backup-%d'", top, C1, top, top, C1), 0);
		st[C1] = open_store(C1);
		restore(C1);
		snprintf(prefix, sizeof(prefix), "N%zu", k);
		add_patients(C1, 1, prefix);
		chs_store_free(st[C1]);
		st[C1] = NULL;
		ck_assert_msg(tu_cli_sync(CHARTSYNC_BIN, dirs[C1], members[C1].user, points[k]) ==
			      128 + 9, "%s", points[k]);
		st[C1] = open_store(C1);
		sync_ok(C1);
		before++;
		delivered(C1, before);
		sync_ok(C2);
		state_hash(C1, h1, &n1);
		state_hash(C2, h2, &n2);
		ck_assert_msg(strcmp(h1, h2) == 0, "%s", points[k]);
		ck_assert_int_eq(n1, 5 + (int64_t)k);
		chs_store_free(st[C1]);
		st[C1] = NULL;
	}
	st[C1] = open_store(C1);
}
END_TEST

/* A forged own ref is still refused when the store is restored: the
 * host replaces the device's ref with a commit it did not sign. */
START_TEST(test_resync__a_restored_store_still_refuses_a_forged_own_ref)
{
	const char *dev;
	chs_sync_report rep;

	add_patients(C1, 1, "A");
	sync_ok(C1);
	backup(C1);
	add_patients(C1, 1, "B");
	sync_ok(C1);
	dev = chs_store_device_id(st[C1]);
	ck_assert_int_eq(tu_sh("cd '%s' && c=$(git -c user.name=host -c user.email=host@localhost"
			       " commit-tree -p refs/chartsync/devices/%s~1 -m forged"
			       " refs/chartsync/devices/%s^{tree}) &&"
			       " git update-ref refs/chartsync/devices/%s $c", archive, dev, dev,
			       dev), 0);
	restore(C1);
	dev = chs_store_device_id(st[C1]);
	ck_assert_int_eq(chs_store_sync(st[C1], NULL, &rep), CHS_EDAMAGED);
	ck_assert_msg(strstr(rep.problems.ptr, "did not make") &&
		      strstr(rep.problems.ptr, "NOT being delivered"), "%s", rep.problems.ptr);
	ck_assert_uint_eq(rep.batches_pushed, 0);
	ck_assert_uint_eq(rep.own_batches_in, 0);
	chs_sync_report_dispose(&rep);
}
END_TEST

/* Attachments: the chunks this device sent after the backup come back
 * (the attachment is readable on the restored store), and a scan taken
 * on the restored store before its first sync is delivered after the
 * archive's chunk commits of this device. */
START_TEST(test_resync__attachment_chunks_come_back_and_new_ones_follow)
{
	char a1[33], a2[33], a3[33];

	tu_attach_scan(st[C1], top, "S1", 3000, a1);
	sync_ok(C1);
	backup(C1);
	tu_attach_scan(st[C1], top, "S2", 5000, a2);
	sync_ok(C1);
	restore(C1);
	ck_assert(!tu_attachment_readable(st[C1], a2));
	tu_attach_scan(st[C1], top, "S3", 4000, a3);
	sync_ok(C1);
	ck_assert(tu_attachment_readable(st[C1], a1));
	ck_assert(tu_attachment_readable(st[C1], a2));
	ck_assert(tu_attachment_readable(st[C1], a3));
	ck_assert_int_eq(tu_sh("git -C '%s' merge-base --is-ancestor"
			       " refs/chartsync/blobs/%s~1 refs/chartsync/blobs/%s", archive,
			       chs_store_device_id(st[C1]), chs_store_device_id(st[C1])), 0);
	sync_ok(C2);
	ck_assert(tu_attachment_readable(st[C2], a2));
	ck_assert(tu_attachment_readable(st[C2], a3));
	converged(C1, C2, 6);
}
END_TEST

/* A machine lost for good, with its store. The admin revokes its device;
 * a new store is enrolled at the same site with the same role and
 * receives everything that role reads from the archive; what the lost
 * machine never synced is gone. For a clinic, clinical and billing
 * records; for a billing office, billing records only (the same state
 * the lost office held). */
static chs_store *lose_and_replace(int i, const char *user, const char *terminal, char **dir)
{
	char dev[33];
	uint64_t after;
	chs_store *s;

	/* the admin's store syncs first: the revocation keeps every batch
	 * the lost device delivered (those after the last its admin's store
	 * accepted are refused everywhere) */
	sync_ok(ADMIN);
	ck_assert_int_eq(chs_device_revoke(st[ADMIN], chs_store_device_id(st[i]), dev, &after), 0);
	chs_store_free(st[i]);
	st[i] = NULL;
	tu_rmtree(dirs[i]);
	sync_ok(ADMIN);
	s = tu_store_new(top, user, terminal, url, dir);
	tu_enroll(st[ADMIN], s, members[i].site, members[i].role);
	sync_ok(ADMIN);
	tu_sync_ok(s);
	return s;
}

START_TEST(test_resync__a_replacement_device_receives_what_its_role_reads)
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("dob", "1961-12-10"),
			 tu_edit("mrn", "A-77") };
	chs_edit n[] = { tu_edit("text", "Persistent cough for three weeks") };
	chs_edit q[] = { tu_edit("name", "Mary Shelley"), tu_edit("dob", "1977-08-30"),
			 tu_edit("mrn", "A-78") };
	char patient[33], note[33], id[33], hb[65], h1[65], h2[65], *dir = NULL, *bdir = NULL;
	char *text = NULL;
	int64_t nb, n1, n2;
	chs_store *a2, *b2;
	json_t *j;

	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 3, NULL, NULL, patient), 0);
	ck_assert_int_eq(chs_record_add(st[C1], "note", n, 1, patient, NULL, note), 0);
	sync_ok(C1);
	add_patients(C1, 1, "L"); /* never synced: lost with the machine */
	sync_ok(C2);
	sync_ok(B1);
	state_hash(B1, hb, &nb);

	a2 = lose_and_replace(C1, "bob2", "clinic-a-2", &dir);
	ck_assert_int_eq(chs_store_verify(a2, 1, h1, &n1), 0);
	state_hash(C2, h2, &n2);
	ck_assert_str_eq(h1, h2);
	ck_assert_int_eq(n1, 2); /* the patient and the note; not the lost one */
	ck_assert_ptr_nonnull(j = tu_show(a2, note));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "fields"), "text")),
			 "Persistent cough for three weeks");
	json_decref(j);
	/* it works on: its batches go through the hook and reach clinic B */
	add_patients(C2, 1, "K");
	sync_ok(C2);
	ck_assert_msg(chs_record_add(a2, "patient", q, 3, NULL, NULL, id) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(tu_sync_ok(a2).batches_pushed, 1);
	sync_ok(C2);
	ck_assert_int_eq(chs_store_verify(a2, 1, h1, &n1), 0);
	state_hash(C2, h2, &n2);
	ck_assert_str_eq(h1, h2);
	ck_assert_int_eq(n1, 4);

	/* a billing office replaced: billing records only, as the lost one held */
	sync_ok(B1);
	state_hash(B1, hb, &nb);
	b2 = lose_and_replace(B1, "dee2", "billing-2", &bdir);
	ck_assert_int_eq(chs_store_verify(b2, 1, h1, &n1), 0);
	ck_assert_str_eq(h1, hb);
	ck_assert_int_eq(n1, nb);
	ck_assert_int_eq(tu_show_json(b2, note, &text), CHS_ENOTFOUND);
	free(text);
	chs_store_free(b2);
	chs_store_free(a2);
	free(bdir);
	free(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("resync");
	TCase *tc = tcase_create("resync");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_resync__restored_store_fetches_its_own_batches_back_and_goes_on);
	tcase_add_test(tc, test_resync__work_made_before_the_first_sync_is_renumbered_and_delivered);
	tcase_add_test(tc, test_resync__a_restored_billing_office_goes_on_after_its_own_history);
	tcase_add_test(tc, test_resync__batches_committed_but_never_pushed_are_delivered);
	tcase_add_test(tc, test_resync__an_interrupted_first_sync_resumes);
	tcase_add_test(tc, test_resync__a_restored_store_still_refuses_a_forged_own_ref);
	tcase_add_test(tc, test_resync__a_replacement_device_receives_what_its_role_reads);
	tcase_add_test(tc, test_resync__attachment_chunks_come_back_and_new_ones_follow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
