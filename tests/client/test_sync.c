/*
 * client/: sync through a real archive. An admin's store (an archivist),
 * two clinics and a billing office, each a real encrypted store with its
 * own git mirror, sync through a bare git repository by path (the
 * embedded default). What a person would check: the same records and the
 * same state hash everywhere that reads them, concurrent edits under
 * review everywhere, a resolve that travels, a billing office that holds
 * no clinical content, batch commits that git itself verifies, and an
 * archive that cannot slip anything past a client.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/reports.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>

enum { ADMIN, C1, C2, B1, NSTORES };

static const tu_member *const members = tu_org_members;
static char *top, *archive, *dirs[NSTORES];
static chs_store *st[NSTORES];

static chs_sync_report sync_ok(int i)
{
	return tu_sync_ok(st[i]);
}

/* An organisation: the admin's store, two clinics and a billing office,
 * all enrolled and synced once. */
static void setup(void)
{
	tu_org_setup(&top, &archive, members, NSTORES, st, dirs);
}

static void teardown(void)
{
	tu_org_teardown(&top, &archive, st, dirs, NSTORES);
}

static void add(int i, const char *type, chs_edit *e, size_t n, const char *patient,
		char id[33])
{
	ck_assert_msg(chs_record_add(st[i], type, e, n, patient, NULL, id) == 0, "%s",
		      chs_error_last());
}

static void state_hash(int i, char hash[65], int64_t *records)
{
	ck_assert_msg(chs_store_verify(st[i], 1, hash, records) == 0, "%s", chs_error_last());
}

/* A patient with a note, typed at clinic A. */
static void chart(char patient[33], char note[33])
{
	chs_edit p[] = { tu_edit("name", "Maria Lopez"), tu_edit("dob", "1961-07-14"),
			 tu_edit("mrn", "A-1001") };
	chs_edit n[] = { tu_edit("text", "Persistent cough for three weeks"),
			 tu_edit("date", "2026-11-20") };

	add(C1, "patient", p, 3, NULL, patient);
	add(C1, "note", n, 2, patient, note);
}

/* The store's state token: new at every commit (client/store/sql.c). */
static void state_token(int i, char out[64])
{
	char *v = NULL;

	ck_assert_msg(chs_store__get_text(st[i], "SELECT value FROM meta WHERE key = 'state'",
					  NULL, &v) == 0, "%s", chs_error_last());
	snprintf(out, 64, "%s", v);
	free(v);
}

START_TEST(test_sync__records_reach_every_store)
{
	char patient[33], note[33], h[NSTORES][65], before[64], after[64];
	chs_sync_report r;
	int64_t n[NSTORES];
	json_t *j;
	int i;

	chart(patient, note);
	r = sync_ok(C1);
	ck_assert_uint_eq(r.batches_out, 2);
	ck_assert_uint_eq(r.changes_out, 2);
	ck_assert_int_eq(r.pushed, 1);
	r = sync_ok(C2);
	ck_assert_uint_eq(r.batches_in, 2);
	ck_assert_uint_eq(r.changes_in, 2);
	sync_ok(ADMIN);
	sync_ok(B1);
	for (i = 0; i < NSTORES; i++)
		state_hash(i, h[i], &n[i]);
	ck_assert_str_eq(h[C1], h[C2]);
	ck_assert_str_eq(h[C1], h[ADMIN]);
	ck_assert_int_eq(n[C1], 2);
	j = tu_show(st[C2], note);
	ck_assert_str_eq(tu_field(j, "text"), "Persistent cough for three weeks");
	json_decref(j);

	/* a second sync has nothing to do */
	r = sync_ok(C2);
	ck_assert_uint_eq(r.batches_in + r.batches_out, 0);
	ck_assert_int_eq(r.pushed, 0);
	/* and writes nothing: clinic A's batches are marked sent already, so
	 * its store keeps its state token (a backup then has nothing to copy) */
	state_token(C1, before);
	r = sync_ok(C1);
	ck_assert_uint_eq(r.batches_in + r.batches_out, 0);
	state_token(C1, after);
	ck_assert_str_eq(before, after);
}
END_TEST

START_TEST(test_sync__billing_office_holds_no_clinical_content)
{
	char patient[33], note[33], id[33], *list = NULL;
	chs_edit n[] = { tu_edit("text", "should never be written here") };
	json_t *j;

	chart(patient, note);
	sync_ok(C1);
	sync_ok(B1);
	j = tu_show(st[B1], patient);
	ck_assert_str_eq(tu_field(j, "name"), "Maria Lopez");
	json_decref(j);
	ck_assert_int_eq(tu_show_json(st[B1], note, &list), CHS_ENOTFOUND);
	ck_assert_int_eq(tu_list_json(st[B1], "note", NULL, &list), 0);
	ck_assert_str_eq(list, "[]");
	free(list);
	/* nothing of the note anywhere in the billing office's folder, its
	 * git mirror included (which holds the note's ciphertext only) */
	ck_assert_int_eq(tu_grep_dir(dirs[B1], "Persistent cough", NULL, 0), 0);
	ck_assert_int_eq(tu_grep_dir(archive, "Persistent cough", NULL, 0), 0);
	ck_assert_int_eq(tu_grep_dir(archive, "Maria Lopez", NULL, 0), 0);
	/* and it cannot type clinical content it could never send */
	ck_assert_int_eq(chs_record_add(st[B1], "note", n, 1, patient, NULL, id), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "billing"));
}
END_TEST

START_TEST(test_sync__concurrent_edits_reach_review_everywhere)
{
	char patient[33], note[33], h1[65], h2[65], ha[65], *text = NULL;
	chs_edit a[] = { tu_edit("phone", "555-0101") }, b[] = { tu_edit("phone", "555-0199") };
	chs_edit take[] = { tu_edit("phone", "555-0199") };
	int64_t n;
	json_t *j;

	chart(patient, note);
	sync_ok(C1);
	sync_ok(C2);
	/* both clinics change the phone number while apart */
	ck_assert_int_eq(chs_record_set(st[C1], patient, a, 1), 0);
	ck_assert_int_eq(chs_record_set(st[C2], patient, b, 1), 0);
	sync_ok(C1);
	sync_ok(C2);
	sync_ok(C1);
	sync_ok(ADMIN);
	state_hash(C1, h1, &n);
	state_hash(C2, h2, &n);
	state_hash(ADMIN, ha, &n);
	ck_assert_str_eq(h1, h2);
	ck_assert_str_eq(h1, ha);
	j = tu_show(st[ADMIN], patient);
	ck_assert(json_is_true(json_object_get(j, "review")));
	json_decref(j);
	j = tu_show(st[C1], patient);
	ck_assert(json_is_true(json_object_get(j, "review")));
	json_decref(j);

	/* the archivist settles it; the clinics get the resolution */
	ck_assert_msg(chs_review_resolve(st[ADMIN], patient, take, 1, NULL) == 0, "%s",
		      chs_error_last());
	sync_ok(ADMIN);
	sync_ok(C1);
	sync_ok(C2);
	state_hash(C1, h1, &n);
	state_hash(C2, h2, &n);
	state_hash(ADMIN, ha, &n);
	ck_assert_str_eq(h1, ha);
	ck_assert_str_eq(h2, ha);
	j = tu_show(st[C2], patient);
	ck_assert(json_is_false(json_object_get(j, "review")));
	ck_assert_str_eq(tu_field(j, "phone"), "555-0199");
	json_decref(j);
	ck_assert_int_eq(tu_review_json(st[C1], &text), 0);
	ck_assert_str_eq(text, "[]");
	free(text);
}
END_TEST

START_TEST(test_sync__git_verifies_every_batch_commit)
{
	char patient[33], note[33], *signers = NULL, *path;
	int good, commits;

	chart(patient, note);
	sync_ok(C1);
	ck_assert_int_eq(chs_device_allowed_signers(st[ADMIN], &signers), 0);
	path = tu_path(top, "allowed_signers");
	ck_assert_int_eq(tu_write(path, signers, strlen(signers)), 0);
	/* every commit on every chartsync ref: a good signature by a device
	 * on the roster, and no commit without one */
	commits = tu_sh("exit $(git -C '%s' rev-list --glob=refs/chartsync | wc -l)", archive);
	good = tu_sh("exit $(git -C '%s' -c gpg.ssh.allowedSignersFile='%s' log"
		     " --show-signature --glob=refs/chartsync 2>&1 | grep -c '^Good \"git\" signature')",
		     archive, path);
	ck_assert_int_ge(commits, 6); /* four rosters and two batches */
	ck_assert_int_eq(good, commits);
	ck_assert_int_eq(tu_sh("git -C '%s' -c gpg.ssh.allowedSignersFile='%s' verify-commit"
			       " refs/chartsync/devices/%s 2>/dev/null", archive, path,
			       chs_store_device_id(st[C1])), 0);
	free(path);
	free(signers);
}
END_TEST

START_TEST(test_sync__a_rewritten_device_ref_is_refused)
{
	char patient[33], note[33], p2[33], h[65];
	chs_edit p[] = { tu_edit("name", "Other Person"), tu_edit("dob", "1990-01-01"),
			 tu_edit("mrn", "B-2") };
	chs_sync_report rep;
	int64_t n;
	const char *dev = chs_store_device_id(st[C1]);

	chart(patient, note);
	add(ADMIN, "patient", p, 3, NULL, p2);
	sync_ok(C1);
	sync_ok(ADMIN);
	/* the archive moves clinic A's ref sideways: a commit with the tree
	 * of batch 2 on top of batch 1, made by someone without the device
	 * key */
	ck_assert_int_eq(tu_sh("cd '%s' && c=$(git commit-tree -p refs/chartsync/devices/%s~1"
			       " -m forged refs/chartsync/devices/%s^{tree}) &&"
			       " git update-ref refs/chartsync/devices/%s $c", archive, dev, dev, dev),
			 0);
	ck_assert_int_eq(chs_store_sync(st[C2], NULL, &rep), CHS_EDAMAGED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), dev));
	ck_assert_uint_eq(rep.refused, 1);
	/* the forged batch was not applied; the others were */
	ck_assert_uint_eq(rep.batches_in, 2);
	chs_sync_report_dispose(&rep);
	state_hash(C2, h, &n);
	ck_assert_int_eq(n, 2);
	/* a store that had applied the real batch 2 sees the move itself */
	ck_assert_int_eq(chs_store_sync(st[ADMIN], NULL, &rep), CHS_EDAMAGED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "sideways"));
	chs_sync_report_dispose(&rep);
}
END_TEST

/* A batch the receiving store refuses to apply (it removes an access
 * event, which no device may do) is undone alone: the device's batches
 * before it, applied in the same store transaction, stand, and the
 * device is left after them. The clinic's own store lets the removal
 * through here as a compromised device would. */
START_TEST(test_sync__a_batch_refused_at_apply_leaves_the_ones_before_it)
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("dob", "1961-12-10"),
			 tu_edit("mrn", "A-77") };
	char pat[33], *text = NULL;
	unsigned char head[32];
	chs_sync_report rep;
	chs_change *c = NULL;
	chs_writer w;
	json_t *events, *ev;

	add(C1, "patient", p, 3, NULL, pat);              /* batch 1 */
	ck_assert_int_eq(tu_access_show_json(st[C1], pat, &text), 0); /* batch 2: an access event */
	free(text);
	ck_assert_int_eq(tu_list_json(st[C1], "audit", NULL, &text), 0);
	events = json_loads(text, 0, NULL);
	free(text);
	ck_assert_uint_eq(json_array_size(events), 1);
	ev = tu_show(st[C1], json_string_value(json_object_get(json_array_get(events, 0), "id")));
	json_decref(events);
	ck_assert_int_eq(chs_change_new(&c), 0);
	ck_assert_int_eq(chs_unhex(c->record, 16, json_string_value(json_object_get(ev, "id"))), 0);
	ck_assert_int_eq(chs_unhex(head, 32, json_string_value(
		json_array_get(json_object_get(ev, "heads"), 0))), 0);
	json_decref(ev);
	c->type = strdup("audit");
	c->op = CHS_OP_DELETE;
	ck_assert_int_eq(chs_change_add_parent(c, head), 0);
	ck_assert_int_eq(chs_records__writer_begin(&w, st[C1]), 0);   /* batch 3 */
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_records__writer_commit(&w), 0);
	sync_ok(C1);

	ck_assert_int_ne(chs_store_sync(st[C2], NULL, &rep), 0);
	ck_assert_uint_eq(rep.refused, 1);
	ck_assert_ptr_nonnull(strstr(rep.problems.ptr, "access"));
	ck_assert_uint_eq(rep.batches_in, 2);
	chs_sync_report_dispose(&rep);
	json_decref(tu_show(st[C2], pat));
	/* nothing applied twice; the removal is refused again */
	ck_assert_int_ne(chs_store_sync(st[C2], NULL, &rep), 0);
	ck_assert_uint_eq(rep.batches_in, 0);
	ck_assert_uint_eq(rep.refused, 1);
	chs_sync_report_dispose(&rep);
}
END_TEST

START_TEST(test_sync__an_older_roster_is_refused)
{
	chs_sync_report rep;
	char *list = NULL;

	/* the archive winds its roster back to the first one */
	ck_assert_int_eq(tu_sh("cd '%s' && git update-ref refs/chartsync/roster"
			       " $(git rev-list --max-parents=0 refs/chartsync/roster)", archive), 0);
	ck_assert_int_ne(chs_store_sync(st[C1], NULL, &rep), 0);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "roster moved backwards"));
	chs_sync_report_dispose(&rep);
	/* the store still knows every device */
	ck_assert_int_eq(tu_device_list_json(st[C1], &list), 0);
	ck_assert_ptr_nonnull(strstr(list, chs_store_device_id(st[B1])));
	free(list);
}
END_TEST

/* The admin's roster lists `dev` revoked after its batch `after`, and
 * the admin's own device as this store's. */
static void roster_says_revoked(chs_store *admin, const char *dev, uint64_t after)
{
	chs_device_roster *r = NULL;
	size_t i, found = 0, self = 0;

	ck_assert_int_eq(chs_device_list(&r, admin), 0);
	for (i = 0; i < chs_device_roster_count(r); i++) {
		const chs_device_info *d = chs_device_roster_get(r, i);

		if (strcmp(d->device, dev) == 0) {
			ck_assert_int_eq(d->revoked, 1);
			ck_assert_uint_eq(d->revoked_after, after);
			ck_assert_int_eq(d->self, 0);
			found++;
		} else {
			ck_assert_int_eq(d->revoked, 0);
		}
		if (d->self) {
			ck_assert_str_eq(d->device, chs_store_device_id(admin));
			self++;
		}
	}
	ck_assert_uint_eq(found, 1);
	ck_assert_uint_eq(self, 1);
	ck_assert_ptr_null(chs_device_roster_get(r, i));
	chs_device_roster_free(r);
}

START_TEST(test_sync__a_revoked_device_is_pinned)
{
	char patient[33], note[33], late[33], dev[33], *list = NULL;
	chs_edit p[] = { tu_edit("name", "Late Entry"), tu_edit("dob", "1970-01-01"),
			 tu_edit("mrn", "A-1002") };
	chs_sync_report rep;
	uint64_t after;

	chart(patient, note);
	sync_ok(C1);
	sync_ok(ADMIN);
	/* the admin revokes clinic A (pinned after its batch 2) before clinic
	 * A hears of it; clinic A then sends one more batch */
	ck_assert_int_eq(chs_device_revoke(st[ADMIN], chs_store_device_id(st[C1]), dev, &after), 0);
	ck_assert_uint_eq(after, 2);
	roster_says_revoked(st[ADMIN], dev, 2);
	add(C1, "patient", p, 3, NULL, late);
	sync_ok(C1);
	/* everyone refuses the late batch, whatever its timestamp */
	ck_assert_int_ne(chs_store_sync(st[ADMIN], NULL, &rep), 0);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "revoked"));
	chs_sync_report_dispose(&rep);
	ck_assert_int_ne(chs_store_sync(st[C2], NULL, &rep), 0);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "revoked"));
	ck_assert_uint_eq(rep.batches_in, 2);
	chs_sync_report_dispose(&rep);
	ck_assert_int_eq(tu_show_json(st[C2], late, &list), CHS_ENOTFOUND);
	/* and clinic A learns it may no longer sync */
	ck_assert_int_eq(chs_store_sync(st[C1], NULL, &rep), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "revoked"));
	chs_sync_report_dispose(&rep);
}
END_TEST

START_TEST(test_sync__not_enrolled_yet)
{
	chs_kdf_params kdf;
	chs_store *s = NULL;
	char *dir = tu_path(top, "new");
	chs_store_create_opts o = { "eve", "pw", 2, &kdf, "new-1" };
	chs_sync_report rep;

	chs_kdf_params_minimum(&kdf);
	ck_assert_int_eq(chs_store_create(&s, dir, &o), 0);
	ck_assert_int_eq(chs_store_sync(s, NULL, &rep), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "chartsync remote"));
	ck_assert_int_eq(chs_remote_set(s, archive), 0);
	ck_assert_int_eq(chs_store_sync(s, NULL, &rep), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "device request"));
	chs_sync_report_dispose(&rep);
	chs_store_free(s);
	free(dir);
}
END_TEST

/* A site name longer than CHS_SITE_MAX bytes is refused where a person
 * gives one, enrolling a device or creating an organisation, and nothing
 * is changed: the limit holds the same name everywhere it is written. */
START_TEST(test_sync__a_site_name_longer_than_the_limit_is_refused)
{
	char site[CHS_SITE_MAX + 2], dev[33], *line = NULL, *dir = NULL;
	chs_store *s = tu_store_new(top, "eve", "new-1", archive, &dir);

	memset(site, 's', CHS_SITE_MAX + 1);
	site[CHS_SITE_MAX + 1] = '\0';
	ck_assert_int_eq(chs_device_request(s, &line), 0);
	ck_assert_int_eq(chs_device_enroll(st[ADMIN], line, site, "clinic", dev), CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), "at most 64 bytes"), "%s", chs_error_last());
	ck_assert_int_eq(chs_org_init(s, NULL, site), CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), "at most 64 bytes"), "%s", chs_error_last());
	/* a site's name is shown at every site: no escape sequence, no bidi
	 * override, not blank */
	ck_assert_int_eq(chs_device_enroll(st[ADMIN], line, "Clinic\x1b[2J", "clinic", dev),
			 CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), "U+001B"), "%s", chs_error_last());
	ck_assert_int_eq(chs_org_init(s, NULL, "Clinic \xe2\x80\xae" "A"), CHS_EINVALID);
	ck_assert_msg(strstr(chs_error_last(), "U+202E"), "%s", chs_error_last());
	ck_assert_int_eq(chs_org_init(s, NULL, "  "), CHS_EINVALID);
	/* nothing was made: the same store may still create its organisation */
	site[CHS_SITE_MAX] = '\0';
	ck_assert_msg(chs_org_init(s, NULL, site) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_device_enroll(st[ADMIN], line, site, "clinic", dev) == 0, "%s",
		      chs_error_last());
	free(line);
	chs_store_free(s);
	free(dir);
}
END_TEST

/* Fault drills: `chartsync sync` killed (SIGKILL) at each step that
 * writes; the next sync finishes the job, nothing applied twice or lost. */
static const char *const faults[] = {
	"fetched", "applied", "applied:2", "group-committed", "committed",
	"pushing", "pushed",
};

/* Each sync adds a pack to the folder archive and to the mirror; no git
 * server rolls them up, so the syncs do, and reads stay fast. */
START_TEST(test_sync__a_folder_archive_keeps_few_packs)
{
	char patient[33], mrn[16], mirror[4200], hash[65];
	chs_sync_report r;
	int64_t records = 0;
	int i;

	for (i = 0; i < 24; i++) {
		chs_edit p[] = { tu_edit("name", "Sam Quinn"), tu_edit("dob", "1970-01-01"),
				 tu_edit("mrn", mrn) };

		snprintf(mrn, sizeof(mrn), "Q-%d", i);
		add(C1, "patient", p, 3, NULL, patient);
		sync_ok(C1);
	}
	snprintf(mirror, sizeof(mirror), "%s/git", dirs[C1]);
	ck_assert_int_le(tu_git_packs(archive), 16);
	ck_assert_int_le(tu_git_packs(mirror), 16);
	ck_assert_int_eq(tu_sh("git -C '%s' fsck --strict 2>/dev/null", archive), 0);
	/* every batch is still there for the other clinic */
	r = sync_ok(C2);
	ck_assert_uint_eq(r.changes_in, 24);
	ck_assert_msg(chs_store_verify(st[C2], 1, hash, &records) == 0, "%s", chs_error_last());
	ck_assert_int_eq(records, 24);
}
END_TEST

static int cli_sync(int i, const char *fault)
{
	return tu_cli_sync(CHARTSYNC_BIN, dirs[i], members[i].user, fault);
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
		add(i, "patient", p, 3, NULL, id);
	}
}

START_TEST(test_sync__killed_anywhere_the_next_sync_finishes)
{
	char h1[65], h2[65], ha[65];
	int64_t n1, n2, na;
	chs_sync_report r;

	add_patients(C2, 3, "B");
	sync_ok(C2);
	add_patients(C1, 3, "A");
	/* killed at the chosen step: the shell sees 128 + SIGKILL */
	ck_assert_int_eq(cli_sync(C1, faults[_i]), 128 + 9);
	r = sync_ok(C1);
	sync_ok(C2);
	sync_ok(ADMIN);
	state_hash(C1, h1, &n1);
	state_hash(C2, h2, &n2);
	state_hash(ADMIN, ha, &na);
	ck_assert_int_eq(n1, 6);
	ck_assert_str_eq(h1, h2);
	ck_assert_str_eq(h1, ha);
	/* nothing twice: a further sync anywhere has nothing to do */
	r = sync_ok(C1);
	ck_assert_uint_eq(r.batches_in + r.batches_out, 0);
	r = sync_ok(C2);
	ck_assert_uint_eq(r.batches_in + r.batches_out, 0);
	ck_assert_int_eq(tu_sh("test $(git -C '%s' rev-list refs/chartsync/devices/%s | wc -l) = 3",
			       archive, chs_store_device_id(st[C1])), 0);
}
END_TEST

START_TEST(test_sync__admin_killed_after_committing_a_roster)
{
	char *dir = NULL;
	chs_store *s = tu_store_new(top, "fay", "late-1", archive, &dir);

	tu_enroll(st[ADMIN], s, "Clinic C", "clinic");
	ck_assert_int_eq(cli_sync(ADMIN, "roster-committed"), 128 + 9);
	sync_ok(ADMIN);
	tu_sync_ok(s);
	/* one roster commit per roster: nothing committed twice */
	ck_assert_int_eq(tu_sh("test $(git -C '%s' rev-list refs/chartsync/roster | wc -l) = 5",
			       archive), 0);
	chs_store_free(s);
	free(dir);
}
END_TEST

/* No ref of this store's device, nor any ref at all, in `repo`. */
static int refs_in(const char *repo)
{
	return tu_sh("test -z \"$(git -C '%s' for-each-ref)\"", repo) == 0 ? 0 : 1;
}

/* Pointed at another organisation's archive, a store sends nothing there
 * and says whose archive it is; the admin's store too. */
START_TEST(test_sync__another_organisations_archive_is_refused)
{
	char patient[33], note[33], *other = tu_path(top, "other.git"), *zdir = NULL;
	chs_store *z = tu_store_new(top, "zed", "other-desk", other, &zdir);
	chs_sync_report rep;
	int i;

	ck_assert_int_eq(tu_sh("git init -q --bare '%s'", other), 0);
	ck_assert_msg(chs_org_init(z, other, "Other archive") == 0, "%s", chs_error_last());
	tu_sync_ok(z);
	ck_assert_int_eq(tu_sh("git -C '%s' rev-parse -q --verify refs/chartsync/roster"
			       " >/dev/null", other), 0);
	chart(patient, note);
	for (i = ADMIN; i <= C1; i++) {
		ck_assert_int_eq(chs_remote_set(st[i], other), 0);
		ck_assert_int_eq(chs_store_sync(st[i], NULL, &rep), CHS_EDENIED);
		ck_assert_msg(strstr(chs_error_last(), "is not organisation") &&
			      strstr(chs_error_last(), "nothing was sent"), "%s", chs_error_last());
		ck_assert_int_eq(rep.pushed, 0);
		chs_sync_report_dispose(&rep);
		ck_assert_int_eq(tu_sh("git -C '%s' rev-parse -q --verify refs/chartsync/devices/%s"
				       " >/dev/null", other, chs_store_device_id(st[i])), 1);
	}
	/* back at its own archive, the clinic's work goes out */
	ck_assert_int_eq(chs_remote_set(st[C1], archive), 0);
	ck_assert_uint_eq(sync_ok(C1).batches_out, 2);
	chs_store_free(z);
	free(zdir);
	free(other);
}
END_TEST

/* An empty bare repository is no organisation's archive: a device
 * refuses to send to it. The admin's store publishes the roster there
 * (that is how 'org init' makes an archive), and then the devices may. */
START_TEST(test_sync__an_empty_archive_takes_the_admins_roster_first)
{
	char patient[33], note[33], *empty = tu_path(top, "empty.git");
	chs_sync_report rep;

	ck_assert_int_eq(tu_sh("git init -q --bare '%s'", empty), 0);
	chart(patient, note);
	ck_assert_int_eq(chs_remote_set(st[C1], empty), 0);
	ck_assert_int_eq(chs_store_sync(st[C1], NULL, &rep), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "holds no roster"), "%s", chs_error_last());
	ck_assert_int_eq(rep.pushed, 0);
	chs_sync_report_dispose(&rep);
	ck_assert_int_eq(refs_in(empty), 0);
	ck_assert_int_eq(chs_remote_set(st[ADMIN], empty), 0);
	sync_ok(ADMIN);
	ck_assert_int_eq(tu_sh("git -C '%s' rev-parse -q --verify refs/chartsync/roster"
			       " >/dev/null", empty), 0);
	ck_assert_uint_eq(sync_ok(C1).batches_out, 2);
	free(empty);
}
END_TEST

/* A full disk while fetching is said as what it is, not as an archive
 * out of reach. The disk fills up here as a file size limit: a write
 * past it fails (EFBIG) as a write to a full disk fails (ENOSPC). */
START_TEST(test_sync__a_full_disk_is_not_an_unreachable_archive)
{
	char patient[33], note[33], id[33], text[16385] = "";
	chs_edit n[] = { tu_edit("text", text), tu_edit("date", "2026-11-21") };
	struct rlimit old, lim;
	chs_sync_report rep;
	unsigned x = 12345;
	int k, i;

	chart(patient, note);
	for (k = 0; k < 16; k++) {
		/* text that compresses little, so the batches' pack is large */
		for (i = 0; i < 16384; i++) {
			x = x * 1103515245u + 12345u;
			text[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(x >> 16) % 36];
		}
		text[16384] = '\0';
		add(C1, "note", n, 2, patient, id);
	}
	sync_ok(C1);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(chs_store_sync(st[C2], NULL, &rep), CHS_EIO);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_msg(strstr(chs_error_last(), "the disk is full or a write failed") &&
		      strstr(chs_error_last(), "File too large") &&
		      !strstr(chs_error_last(), "cannot reach"), "%s", chs_error_last());
	chs_sync_report_dispose(&rep);
	/* with room again, the next sync finishes the job */
	ck_assert_uint_eq(sync_ok(C2).batches_in, 18);
}
END_TEST

/* An archive out of reach is still said so. */
START_TEST(test_sync__an_unreachable_archive_is_said_so)
{
	chs_sync_report rep;
	char *gone = tu_path(top, "gone.git");

	ck_assert_int_eq(chs_remote_set(st[C1], gone), 0);
	ck_assert_int_eq(chs_store_sync(st[C1], NULL, &rep), CHS_EIO);
	ck_assert_msg(strstr(chs_error_last(), "cannot reach the archive at") &&
		      strstr(chs_error_last(), "your work is saved here"), "%s", chs_error_last());
	chs_sync_report_dispose(&rep);
	free(gone);
}
END_TEST

/* A sync that prepared its batches and then lost the archive leaves them
 * to the next one, whose summary counts them as sent. */
START_TEST(test_sync__batches_prepared_earlier_count_as_sent)
{
	chs_sync_report r;

	add_patients(C1, 3, "A");
	ck_assert_int_eq(cli_sync(C1, "committed"), 128 + 9);
	ck_assert_int_eq(tu_sh("CHARTSYNC_PASSPHRASE=pw '%s' --store '%s' --user %s sync"
			       " | grep -q '; sent 3 changes in 3 batches$'", CHARTSYNC_BIN,
			       dirs[C1], members[C1].user), 0);
	add_patients(C1, 1, "B");
	ck_assert_int_eq(cli_sync(C1, "pushing"), 128 + 9);
	add_patients(C1, 1, "C");
	r = sync_ok(C1);
	ck_assert_uint_eq(r.batches_out, 1);
	ck_assert_uint_eq(r.batches_pushed, 2);
	ck_assert_uint_eq(r.changes_pushed, 2);
	r = sync_ok(C2);
	ck_assert_uint_eq(r.batches_in, 5);
}
END_TEST

/* The archive's host rewrites clinic A's own ref: clinic A says that the
 * archive holds commits under its name that it did not make and that its
 * work is not delivered, sync after sync; once the admin removes the ref
 * on the server, clinic A's next sync publishes its own history again
 * and clinic B receives everything. */
START_TEST(test_sync__a_device_whose_own_ref_was_forged_says_so_and_recovers)
{
	const char *dev = chs_store_device_id(st[C1]);
	char patient[33], note[33], h1[65], h2[65];
	chs_sync_report rep;
	int64_t n1, n2;
	int k;

	chart(patient, note);
	sync_ok(C1);
	sync_ok(C2);
	/* the host: a commit on batch 1 that no device signed, as the ref */
	ck_assert_int_eq(tu_sh("cd '%s' && c=$(git commit-tree -p refs/chartsync/devices/%s~1"
			       " -m forged refs/chartsync/devices/%s^{tree}) &&"
			       " git update-ref refs/chartsync/devices/%s $c", archive, dev, dev, dev),
			 0);
	for (k = 0; k < 2; k++) {
		add_patients(C1, 1, k ? "Y" : "X");
		ck_assert_int_eq(chs_store_sync(st[C1], NULL, &rep), CHS_EDAMAGED);
		ck_assert_msg(strstr(rep.problems.ptr, "holds commits under this device's name") &&
			      strstr(rep.problems.ptr, "did not make") &&
			      strstr(rep.problems.ptr, "NOT being delivered") &&
			      strstr(rep.problems.ptr, "update-ref -d refs/chartsync/devices/"),
			      "%s", rep.problems.ptr);
		ck_assert_uint_eq(rep.refused, 1);
		ck_assert_uint_eq(rep.batches_pushed, 0);
		chs_sync_report_dispose(&rep);
	}
	/* what the command prints says it too */
	ck_assert_int_eq(tu_sh("CHARTSYNC_PASSPHRASE=pw '%s' --store '%s' --user %s sync 2>&1"
			       " | grep -q 'NOT being delivered'", CHARTSYNC_BIN, dirs[C1],
			       members[C1].user), 0);
	/* the recovery: the admin removes the ref on the server */
	ck_assert_int_eq(tu_sh("git --git-dir='%s' update-ref -d refs/chartsync/devices/%s",
			       archive, dev), 0);
	rep = sync_ok(C1);
	/* two patients, and the records of what it saw: its ref rewritten,
	 * then deleted (tamper.c) */
	ck_assert_uint_eq(rep.batches_pushed, 6);
	/* the archive holds this device's own history again */
	ck_assert_int_eq(tu_sh("test $(git -C '%s' rev-parse refs/chartsync/devices/%s) ="
			       " $(git -C '%s/git' rev-parse refs/chartsync/devices/%s)",
			       archive, dev, dirs[C1], dev), 0);
	ck_assert_uint_eq(sync_ok(C2).batches_in, 4);
	state_hash(C1, h1, &n1);
	state_hash(C2, h2, &n2);
	ck_assert_str_eq(h1, h2);
	ck_assert_int_eq(n1, 6);
}
END_TEST

/* `chartsync CMD...` on store i, its standard output piped to `filter`
 * (a shell pipeline ending in a test); the pipeline's status. */
static int cli_out(int i, const char *cmd, const char *filter)
{
	return tu_sh("CHARTSYNC_PASSPHRASE=pw '%s' --store '%s' --user %s %s | %s", CHARTSYNC_BIN,
		     dirs[i], members[i].user, cmd, filter);
}

/* The host deletes a clinic's ref, then the roster, then winds the
 * roster back. Each heals (the clinic and the admin push again), and
 * each is recorded by the store that saw it, signed and synced: the
 * admin reads all three in 'status' and 'report archive', and so does
 * the billing office. */
START_TEST(test_sync__healed_tampering_is_recorded_and_shown)
{
	const char *dev = chs_store_device_id(st[C1]);
	char patient[33], note[33], *events = NULL;
	chs_sync_report r;

	chart(patient, note);
	sync_ok(C1);
	sync_ok(ADMIN);
	/* before anything happened: nothing to report */
	ck_assert_int_eq(cli_out(ADMIN, "report archive --json", "grep -qx '\\[\\]'"), 0);
	ck_assert_int_eq(tu_sh("git --git-dir='%s' update-ref -d refs/chartsync/devices/%s",
			       archive, dev), 0);
	r = sync_ok(C1);
	ck_assert_uint_eq(r.tampering, 1);
	ck_assert_int_eq(tu_sh("git -C '%s' merge-base --is-ancestor"
			       " $(git -C '%s/git' rev-parse refs/chartsync/devices/%s~1)"
			       " refs/chartsync/devices/%s", archive, dirs[C1], dev, dev), 0);
	ck_assert_int_eq(tu_sh("git --git-dir='%s' update-ref -d refs/chartsync/roster",
			       archive), 0);
	r = sync_ok(ADMIN);
	ck_assert_uint_eq(r.tampering, 1);
	ck_assert_int_eq(tu_sh("git --git-dir='%s' update-ref refs/chartsync/roster"
			       " refs/chartsync/roster~1", archive), 0);
	r = sync_ok(ADMIN);
	ck_assert_uint_eq(r.tampering, 1);
	/* healed: every store syncs cleanly again */
	sync_ok(C1);
	sync_ok(C2);
	sync_ok(B1);
	r = sync_ok(ADMIN);
	ck_assert_uint_eq(r.tampering, 0);
	ck_assert_int_eq(cli_out(ADMIN, "status", "grep -q '^archive:  tampered with: 3 events"
				 " seen and healed, the last .* (roster-rolled-back);"
				 " see .chartsync report archive.$'"), 0);
	ck_assert_int_eq(cli_out(ADMIN, "status --json", "grep -q '\"archive_events\":3'"), 0);
	ck_assert_int_eq(cli_out(ADMIN, "report archive", "grep -c 'seen by' | grep -qx 3"), 0);
	ck_assert_int_eq(cli_out(ADMIN, "report archive", "grep -q '^3 tampering events'"), 0);
	ck_assert_int_eq(cli_out(ADMIN, "report archive",
				 "grep -q 'device-ref-deleted  refs/chartsync/devices/.* seen by'"),
			 0);
	/* the billing office reads them too, and the same three */
	ck_assert_int_eq(cli_out(B1, "report archive --json",
				 "grep -o '\"kind\":\"[a-z-]*\"' | tr '\\n' ' ' | grep -qx"
				 " '\"kind\":\"device-ref-deleted\" \"kind\":\"roster-deleted\""
				 " \"kind\":\"roster-rolled-back\" '"), 0);
	ck_assert_int_eq(tu_list_json(st[B1], "archive_event", NULL, &events), 0);
	ck_assert_ptr_nonnull(strstr(events, dev));
	free(events);
	/* not typed in by hand, and not in a plain listing */
	{
		chs_edit e[] = { tu_edit("kind", "roster-deleted") };
		char id[33];

		ck_assert_int_eq(chs_record_add(st[ADMIN], "archive_event", e, 1, NULL, NULL, id),
				 CHS_EDENIED);
	}
	ck_assert_int_eq(tu_list_json(st[ADMIN], NULL, NULL, &events), 0);
	ck_assert_ptr_null(strstr(events, "archive_event"));
	free(events);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("sync");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sync__records_reach_every_store);
	tcase_add_test(tc, test_sync__billing_office_holds_no_clinical_content);
	tcase_add_test(tc, test_sync__concurrent_edits_reach_review_everywhere);
	tcase_add_test(tc, test_sync__git_verifies_every_batch_commit);
	tcase_add_test(tc, test_sync__a_rewritten_device_ref_is_refused);
	tcase_add_test(tc, test_sync__a_batch_refused_at_apply_leaves_the_ones_before_it);
	tcase_add_test(tc, test_sync__an_older_roster_is_refused);
	tcase_add_test(tc, test_sync__a_revoked_device_is_pinned);
	tcase_add_test(tc, test_sync__not_enrolled_yet);
	tcase_add_test(tc, test_sync__a_site_name_longer_than_the_limit_is_refused);
	tcase_add_test(tc, test_sync__a_folder_archive_keeps_few_packs);
	tcase_add_loop_test(tc, test_sync__killed_anywhere_the_next_sync_finishes, 0,
			    (int)(sizeof(faults) / sizeof(faults[0])));
	tcase_add_test(tc, test_sync__admin_killed_after_committing_a_roster);
	tcase_add_test(tc, test_sync__another_organisations_archive_is_refused);
	tcase_add_test(tc, test_sync__an_empty_archive_takes_the_admins_roster_first);
	tcase_add_test(tc, test_sync__a_full_disk_is_not_an_unreachable_archive);
	tcase_add_test(tc, test_sync__an_unreachable_archive_is_said_so);
	tcase_add_test(tc, test_sync__batches_prepared_earlier_count_as_sent);
	tcase_add_test(tc, test_sync__a_device_whose_own_ref_was_forged_says_so_and_recovers);
	tcase_add_test(tc, test_sync__healed_tampering_is_recorded_and_shown);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
