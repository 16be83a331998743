/*
 * tools/: the archive's pre-receive hook, through real pushes. Each test
 * makes an archive with the real `chartsync archive init`, serves it with
 * git daemon on 127.0.0.1 (a push to a path runs no hook) and pushes
 * rosters and batches made with the sync API; what the hook refuses fails
 * the push with its one-line reason, and the archive's ref stays put.
 */
#include "sync/sync.h"
#include "support/gitserver.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REFUSED "chartsync-archive-hook: refused "

static const char org[] = "00112233445566778899aabbccddeeff";

typedef struct device {
	chs_identity *id;
	char name[33];
	char ref[128];
	uint64_t seq; /* its last batch */
	unsigned char prev[CHS_HASH_BYTES];
} device;

static char *dir, *archive, *url;
static tu_gitserver server;
static chs_git *local;
static chs_identity *admin, *stranger;
static device a, b;
static chs_keyring kr;
static chs_roster *roster; /* devices a and b; not committed yet */

static void device_init(device *d)
{
	memset(d, 0, sizeof(*d));
	ck_assert_int_eq(chs_identity_new(&d->id), 0);
	chs_identity_device_id(d->id, d->name);
	snprintf(d->ref, sizeof(d->ref), "%s%s", CHS_DEVICE_REFS, d->name);
}

static void setup(void)
{
	char *local_path;

	ck_assert_int_eq(chs_crypto_init(), 0);
	dir = tu_tempdir();
	archive = tu_path(dir, "archive.git");
	ck_assert_int_eq(tu_sh("'%s' archive init '%s' >/dev/null", CHARTSYNC_BIN, archive), 0);
	tu_gitserver_start(&server, dir);
	url = tu_gitserver_url(&server, "archive.git");
	local_path = tu_path(dir, "local.git");
	ck_assert_int_eq(chs_git_open(&local, local_path), 0);
	free(local_path);
	ck_assert_int_eq(chs_identity_new(&admin), 0);
	ck_assert_int_eq(chs_identity_new(&stranger), 0);
	device_init(&a);
	device_init(&b);
	ck_assert_int_eq(chs_keyring_init(&kr), 0);
	ck_assert_int_eq(chs_roster_new(&roster, org, chs_identity_public(admin), &kr), 0);
	ck_assert_int_eq(chs_roster_enroll(roster, &kr, chs_identity_public(a.id), "Main St",
					   CHS_ROLE_CLINIC), 0);
	ck_assert_int_eq(chs_roster_enroll(roster, &kr, chs_identity_public(b.id), "Billing",
					   CHS_ROLE_BILLING), 0);
}

static void teardown(void)
{
	tu_gitserver_stop(&server);
	chs_roster_free(roster);
	chs_keyring_dispose(&kr);
	chs_identity_free(a.id);
	chs_identity_free(b.id);
	chs_identity_free(admin);
	chs_identity_free(stranger);
	chs_git_free(local);
	tu_rmtree(dir);
	free(url);
	free(archive);
	free(dir);
}

/* ---- making rosters and batches ---- */

static void commit_roster(chs_git *g, const chs_roster *r, const chs_identity *signer)
{
	char oid[41];

	ck_assert_msg(chs_roster_commit(g, CHS_ROSTER_REF, r, signer, oid) == 0, "%s",
		      chs_error_last());
}

static chs_change *change(const chs_identity *author)
{
	chs_change *c = NULL;
	chs_buf buf;

	ck_assert_int_eq(chs_change_new(&c), 0);
	chs_random(c->record, sizeof(c->record));
	c->op = CHS_OP_CREATE;
	c->type = strdup("patient");
	c->user = strdup("tom");
	c->terminal = strdup("desk");
	chs_identity_device_id(author, c->device);
	c->hlc = chs_hlc_next(0, chs_hlc_wall_ms());
	ck_assert_int_eq(chs_change_set(c, "name", "\"Ada Lovelace\""), 0);
	chs_buf_init(&buf, 0);
	ck_assert_int_eq(chs_change_encode(c, &buf), 0);
	chs_buf_dispose(&buf);
	return c;
}

/* Batch `seq` (after `prev`, NULL for the first) of one change, sealed by
 * `sealer`; packed into `p`, which needs the batch alive. */
static chs_batch *seal(const chs_identity *sealer, uint64_t seq, const unsigned char *prev,
		       chs_packed *p)
{
	const unsigned char *keys[CHS_NCOMPARTMENTS] = {
		kr.key[0][kr.gen[0] - 1], kr.key[1][kr.gen[1] - 1]
	};
	chs_change **c = calloc(1, sizeof(*c));
	int comp[1] = { CHS_COMPARTMENT_BILLING };
	chs_batch *bt = NULL;

	c[0] = change(sealer);
	ck_assert_int_eq(chs_batch_seal(&bt, sealer, seq, prev, c, 1), 0);
	ck_assert_int_eq(chs_batch_pack(p, bt, comp, keys, kr.gen), 0);
	return bt;
}

/* The device's next batch, committed on its ref in `g`. */
static void next_batch(chs_git *g, device *d)
{
	chs_packed p;
	chs_batch *bt = seal(d->id, d->seq + 1, d->seq ? d->prev : NULL, &p);
	char oid[41];

	ck_assert_msg(chs_batch_commit(g, &p, bt, "Main St", d->id, oid) == 0, "%s",
		      chs_error_last());
	d->seq = bt->seq;
	memcpy(d->prev, bt->id, sizeof(d->prev));
	chs_packed_dispose(&p);
	chs_batch_free(bt);
}

/* Any files, as a commit on `ref` signed by `signer`. */
static void commit_files(const char *ref, const chs_git_entry *files, size_t n,
			 const chs_identity *signer)
{
	char oid[41];

	ck_assert_msg(chs_git_write_commit(local, ref, files, n, "batch\n", signer, 1732500000,
					   oid) == 0, "%s", chs_error_last());
}

/* ---- pushing and looking at the archive ---- */

static void push_ok(const char *ref1, const char *ref2)
{
	const char *refs[] = { ref1, ref2 };

	ck_assert_msg(chs_git_push(local, url, refs, ref2 ? 2 : 1) == 0, "%s", chs_error_last());
}

/* The archive's tip of `ref` ("" when it has none). */
static void archive_tip(const char *ref, char tip[41])
{
	chs_git *g = NULL;

	ck_assert_int_eq(chs_git_open(&g, archive), 0);
	if (chs_git_ref(g, ref, tip) < 0)
		tip[0] = '\0';
	chs_git_free(g);
}

static void local_tip(const char *ref, char tip[41])
{
	ck_assert_int_eq(chs_git_ref(local, ref, tip), 0);
}

/* Push `ref`: the archive refuses it saying `reason`, and its ref stays. */
static void push_refused(const char *ref, const char *reason)
{
	const char *refs[] = { ref };
	char before[41], after[41];

	archive_tip(ref, before);
	ck_assert_int_eq(chs_git_push(local, url, refs, 1), CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), REFUSED) && strstr(chs_error_last(), reason),
		      "wanted '%s'; got: %s", reason, chs_error_last());
	archive_tip(ref, after);
	ck_assert_str_eq(before, after);
}

/* The same with git's own client, for what chs_git_push never sends. */
static void git_push_refused(const char *repo, const char *spec, const char *ref,
			     const char *reason)
{
	char before[41], after[41], *out = tu_path(dir, "push.out"), *text;
	size_t len;

	archive_tip(ref, before);
	ck_assert_int_ne(tu_sh("git -C '%s' push -q '%s' '%s' >'%s' 2>&1", repo, url, spec, out),
			 0);
	text = (char *)tu_read(out, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, REFUSED) && strstr(text, reason), "wanted '%s'; got: %s",
		      reason, text);
	archive_tip(ref, after);
	ck_assert_str_eq(before, after);
	free(text);
	free(out);
}

/* ---- what the archive takes ---- */

START_TEST(test_archive_hook__a_roster_and_batches_are_accepted)
{
	char mine[41], theirs[41], *allowed = tu_path(dir, "allowed");
	chs_buf line;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	next_batch(local, &a);
	next_batch(local, &a);
	push_ok(a.ref, NULL);
	next_batch(local, &a); /* on top of what the archive holds */
	next_batch(local, &b);
	push_ok(a.ref, b.ref);
	local_tip(a.ref, mine);
	archive_tip(a.ref, theirs);
	ck_assert_str_eq(mine, theirs);
	local_tip(b.ref, mine);
	archive_tip(b.ref, theirs);
	ck_assert_str_eq(mine, theirs);
	/* the archive lists them, and git itself verifies every batch commit */
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' for-each-ref --format='%%(refname)' "
			       "refs/chartsync | wc -l)\" = 3", archive), 0);
	chs_buf_init(&line, 0);
	chs_buf_puts(&line, "a namespaces=\"git\" ");
	chs_ssh_public_key(&line, chs_identity_public(a.id));
	chs_buf_puts(&line, "\n");
	ck_assert_int_eq(tu_write(allowed, line.ptr, line.len), 0);
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' -c gpg.ssh.allowedSignersFile='%s' "
			       "log --format=%%G? %s | tr -d '\\n')\" = GGG", archive, allowed,
			       a.ref), 0);
	chs_buf_dispose(&line);
	free(allowed);
}
END_TEST

START_TEST(test_archive_hook__a_device_enrolled_in_the_same_push_is_accepted)
{
	device c;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	device_init(&c);
	ck_assert_int_eq(chs_roster_enroll(roster, &kr, chs_identity_public(c.id), "Annex",
					   CHS_ROLE_CLINIC), 0);
	commit_roster(local, roster, admin);
	next_batch(local, &c);
	/* the device's ref first: the hook still judges it by the new roster */
	push_ok(c.ref, CHS_ROSTER_REF);
	chs_identity_free(c.id);
}
END_TEST

/* ---- what it refuses ---- */

START_TEST(test_archive_hook__a_batch_commit_signed_by_another_key_is_refused)
{
	chs_packed p;
	chs_batch *bt;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	bt = seal(a.id, 1, NULL, &p); /* a's batch, committed by a stranger */
	commit_files(a.ref, p.files, p.n, stranger);
	push_refused(a.ref, "signed by another key");
	chs_packed_dispose(&p);
	chs_batch_free(bt);
}
END_TEST

START_TEST(test_archive_hook__a_manifest_signed_by_another_key_is_refused)
{
	unsigned char forged[CHS_SIGNATURE_BYTES];
	char expect[128];
	chs_packed p;
	chs_batch *bt;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	bt = seal(a.id, 1, NULL, &p);
	chs_identity_sign(stranger, forged, bt->manifest, bt->manifest_len);
	p.files[1].data = forged; /* "signature" */
	commit_files(a.ref, p.files, p.n, a.id);
	snprintf(expect, sizeof(expect), "device %s's batch at", a.name);
	push_refused(a.ref, expect);
	chs_packed_dispose(&p);
	chs_batch_free(bt);
}
END_TEST

START_TEST(test_archive_hook__a_batch_sealed_by_another_device_is_refused)
{
	chs_packed p;
	chs_batch *bt;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	bt = seal(b.id, 1, NULL, &p); /* b's batch on a's ref, committed by a */
	commit_files(a.ref, p.files, p.n, a.id);
	push_refused(a.ref, "names device");
	chs_packed_dispose(&p);
	chs_batch_free(bt);
}
END_TEST

START_TEST(test_archive_hook__a_device_not_on_the_roster_is_refused)
{
	device c;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	device_init(&c);
	next_batch(local, &c);
	push_refused(c.ref, "is not on the roster");
	chs_identity_free(c.id);
}
END_TEST

START_TEST(test_archive_hook__batches_before_any_roster_are_refused)
{
	next_batch(local, &a);
	push_refused(a.ref, "no roster yet");
}
END_TEST

START_TEST(test_archive_hook__a_revoked_device_pushes_up_to_its_pin_only)
{
	char theirs[41], pinned[41];

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	next_batch(local, &a);
	next_batch(local, &a);
	local_tip(a.ref, pinned);
	/* revoked after batch 2, which the archive has not seen yet */
	ck_assert_int_eq(chs_roster_revoke(roster, &kr, a.name, 2), 0);
	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	push_ok(a.ref, NULL);
	archive_tip(a.ref, theirs);
	ck_assert_str_eq(theirs, pinned);
	next_batch(local, &a);
	push_refused(a.ref, "was revoked after its batch 2");
}
END_TEST

START_TEST(test_archive_hook__rewritten_history_is_refused)
{
	char *other_path = tu_path(dir, "other.git"), spec[300];
	chs_git *other = NULL;
	device clone = a;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	next_batch(local, &a);
	next_batch(local, &a);
	push_ok(a.ref, NULL);
	/* the same device's batches 1 and 2 made again (a restored backup):
	 * other commits for the same seqs, force-pushed */
	ck_assert_int_eq(chs_git_open(&other, other_path), 0);
	clone.seq = 0;
	next_batch(other, &clone);
	next_batch(other, &clone);
	snprintf(spec, sizeof(spec), "+%s:%s", a.ref, a.ref);
	git_push_refused(other_path, spec, a.ref, "rewriting history is not allowed");
	chs_git_free(other);
	free(other_path);
}
END_TEST

START_TEST(test_archive_hook__a_seq_used_twice_is_refused)
{
	chs_packed p;
	chs_batch *bt;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	next_batch(local, &a);
	push_ok(a.ref, NULL);
	/* a second batch 1 on top of the first: a fast-forward, but no chain */
	bt = seal(a.id, 1, NULL, &p);
	commit_files(a.ref, p.files, p.n, a.id);
	push_refused(a.ref, "does not follow its batch 1");
	chs_packed_dispose(&p);
	chs_batch_free(bt);
}
END_TEST

START_TEST(test_archive_hook__deleting_a_ref_is_refused)
{
	char spec[300], *local_path = tu_path(dir, "local.git");

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	next_batch(local, &a);
	push_ok(a.ref, NULL);
	snprintf(spec, sizeof(spec), ":%s", a.ref);
	git_push_refused(local_path, spec, a.ref, "deleting a ref is not allowed");
	snprintf(spec, sizeof(spec), ":%s", CHS_ROSTER_REF);
	git_push_refused(local_path, spec, CHS_ROSTER_REF, "deleting a ref is not allowed");
	free(local_path);
}
END_TEST

START_TEST(test_archive_hook__a_malformed_batch_is_refused)
{
	unsigned char sig[CHS_SIGNATURE_BYTES];
	const char garbage[] = "{\"not\":\"a manifest\"}";
	chs_git_entry files[2] = { { "manifest", garbage, sizeof(garbage) - 1 },
				   { "signature", sig, sizeof(sig) } };
	char expect[128];

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	chs_identity_sign(a.id, sig, garbage, sizeof(garbage) - 1);
	commit_files(a.ref, files, 2, a.id); /* signed by the right device */
	snprintf(expect, sizeof(expect), "device %s's batch at", a.name);
	push_refused(a.ref, expect);
}
END_TEST

START_TEST(test_archive_hook__refs_chartsync_does_not_use_are_refused)
{
	chs_git_entry f = { "x", "x", 1 };
	char blobs[128];

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	commit_files("refs/heads/main", &f, 1, a.id);
	push_refused("refs/heads/main", "takes refs under refs/chartsync/ only");
	snprintf(blobs, sizeof(blobs), "refs/chartsync/blobs/%s", a.name);
	commit_files(blobs, &f, 1, a.id);
	push_refused(blobs, "is not the name of an attachment chunk");
	commit_files("refs/chartsync/devices/NOT-A-DEVICE", &f, 1, a.id);
	push_refused("refs/chartsync/devices/NOT-A-DEVICE", "does not name a device");
	commit_files("refs/chartsync/notes", &f, 1, a.id);
	push_refused("refs/chartsync/notes", "chartsync does not use this ref");
}
END_TEST

START_TEST(test_archive_hook__a_roster_not_signed_by_the_admin_key_is_refused)
{
	chs_roster *usurper = NULL;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	/* a roster of the same organisation naming another admin, on top */
	ck_assert_int_eq(chs_roster_new(&usurper, org, chs_identity_public(stranger), &kr), 0);
	ck_assert_int_eq(chs_roster_enroll(usurper, &kr, chs_identity_public(a.id), "Main St",
					   CHS_ROLE_CLINIC), 0);
	ck_assert_int_eq(chs_roster_enroll(usurper, &kr, chs_identity_public(b.id), "Billing",
					   CHS_ROLE_BILLING), 0);
	ck_assert_int_eq(chs_roster_enroll(usurper, &kr, chs_identity_public(stranger), "Mine",
					   CHS_ROLE_ARCHIVIST), 0);
	commit_roster(local, usurper, stranger);
	push_refused(CHS_ROSTER_REF, "not signed by the organisation's admin key");
	chs_roster_free(usurper);
}
END_TEST

START_TEST(test_archive_hook__a_roster_commit_signed_by_another_key_is_refused)
{
	unsigned char sig[CHS_SIGNATURE_BYTES];
	chs_git_entry files[2];
	chs_buf text;

	/* the admin's signed roster text, committed by somebody else */
	chs_buf_init(&text, 0);
	ck_assert_int_eq(chs_roster_sign(roster, admin, &text, sig), 0);
	files[0].name = "roster";
	files[0].data = text.ptr;
	files[0].len = text.len;
	files[1].name = "signature";
	files[1].data = sig;
	files[1].len = sizeof(sig);
	commit_files(CHS_ROSTER_REF, files, 2, stranger);
	push_refused(CHS_ROSTER_REF, "roster commit is not signed by the admin key");
	chs_buf_dispose(&text);
}
END_TEST

START_TEST(test_archive_hook__an_older_roster_is_refused)
{
	chs_roster *older = NULL;

	commit_roster(local, roster, admin); /* seq 3 */
	push_ok(CHS_ROSTER_REF, NULL);
	ck_assert_int_eq(chs_roster_new(&older, org, chs_identity_public(admin), &kr), 0);
	ck_assert_int_eq(chs_roster_enroll(older, &kr, chs_identity_public(a.id), "Main St",
					   CHS_ROLE_CLINIC), 0); /* seq 2 */
	commit_roster(local, older, admin);
	push_refused(CHS_ROSTER_REF, "roster 2 is not newer than roster 3");
	chs_roster_free(older);
}
END_TEST

START_TEST(test_archive_hook__a_roster_of_another_organisation_is_refused)
{
	chs_roster *elsewhere = NULL;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	ck_assert_int_eq(chs_roster_new(&elsewhere, "ffeeddccbbaa99887766554433221100",
					chs_identity_public(admin), &kr), 0);
	ck_assert_int_eq(chs_roster_enroll(elsewhere, &kr, chs_identity_public(a.id), "Main St",
					   CHS_ROLE_CLINIC), 0);
	ck_assert_int_eq(chs_roster_revoke(elsewhere, &kr, a.name, 0), 0);
	ck_assert_int_eq(chs_roster_enroll(elsewhere, &kr, chs_identity_public(b.id), "Billing",
					   CHS_ROLE_BILLING), 0); /* seq 4: newer */
	commit_roster(local, elsewhere, admin);
	push_refused(CHS_ROSTER_REF, "is for organisation ffeeddccbbaa99887766554433221100");
	chs_roster_free(elsewhere);
}
END_TEST

/* An admin device, device a, is revoked: the admin key it held rotates. */
static chs_identity *rotate_out_a(chs_roster *r)
{
	chs_identity *fresh = NULL;

	ck_assert_int_eq(chs_roster_revoke(r, &kr, a.name, 0), 0);
	ck_assert_int_eq(chs_roster_rotate_admin(r, &kr, admin, &fresh), 0);
	return fresh;
}

/* A roster of `org` under `key`, at seq 6 (newer than the fixture's
 * after one revocation). */
static chs_roster *roster_at_seq_6(const chs_identity *key)
{
	chs_roster *r = NULL;

	ck_assert_int_eq(chs_roster_new(&r, org, chs_identity_public(key), &kr), 0);
	ck_assert_int_eq(chs_roster_enroll(r, &kr, chs_identity_public(a.id), "Main St",
					   CHS_ROLE_CLINIC), 0);
	ck_assert_int_eq(chs_roster_enroll(r, &kr, chs_identity_public(b.id), "Billing",
					   CHS_ROLE_BILLING), 0);
	ck_assert_int_eq(chs_roster_enroll(r, &kr, chs_identity_public(stranger), "Elsewhere",
					   CHS_ROLE_CLINIC), 0);
	ck_assert_int_eq(chs_roster_revoke(r, &kr, b.name, 0), 0);
	ck_assert_int_eq(chs_roster_revoke(r, &kr, a.name, 0), 0);
	ck_assert_int_eq(chs_roster_seq(r), 6);
	return r;
}

START_TEST(test_archive_hook__a_new_admin_key_is_accepted_with_the_old_keys_handover)
{
	chs_roster *stolen;
	chs_identity *fresh;

	ck_assert_int_eq(chs_roster_set_admin(roster, a.name, admin), 0);
	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	fresh = rotate_out_a(roster); /* seq 4 */
	commit_roster(local, roster, fresh);
	push_ok(CHS_ROSTER_REF, NULL);
	/* device a kept the old key: what it signs with it no longer follows */
	stolen = roster_at_seq_6(admin);
	commit_roster(local, stolen, admin);
	push_refused(CHS_ROSTER_REF, "not signed by the organisation's admin key");
	chs_roster_free(stolen);
	chs_identity_free(fresh);
}
END_TEST

START_TEST(test_archive_hook__a_forged_handover_is_refused)
{
	chs_identity *t2 = NULL;
	chs_roster *forged;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	/* a stranger hands over from its own key to another of its own */
	forged = roster_at_seq_6(stranger);
	ck_assert_int_eq(chs_roster_rotate_admin(forged, &kr, stranger, &t2), 0);
	commit_roster(local, forged, t2);
	push_refused(CHS_ROSTER_REF, "forged handover");
	chs_roster_free(forged);
	chs_identity_free(t2);
}
END_TEST

START_TEST(test_archive_hook__a_version_1_roster_is_accepted)
{
	unsigned char sig[CHS_SIGNATURE_BYTES];
	chs_git_entry files[2];
	char text[512], pk[65];
	int n;

	/* what archives made before roster version 2 hold */
	chs_hex(pk, chs_identity_public(admin), 32);
	n = snprintf(text, sizeof(text), "{\"admin\":\"%s\",\"devices\":[],\"generations\":"
		     "{\"billing\":1,\"clinical\":1},\"org\":\"%s\",\"seq\":2,\"v\":1}",
		     pk, org);
	chs_identity_sign(admin, sig, text, (size_t)n);
	files[0].name = "roster";
	files[0].data = text;
	files[0].len = (size_t)n;
	files[1].name = "signature";
	files[1].data = sig;
	files[1].len = sizeof(sig);
	commit_files(CHS_ROSTER_REF, files, 2, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	/* and the version 2 roster that follows it */
	commit_roster(local, roster, admin); /* seq 3 */
	push_ok(CHS_ROSTER_REF, NULL);
}
END_TEST

/* ---- attachment chunks ---- */

static void blob_ref(const device *d, char ref[128])
{
	snprintf(ref, 128, "%s%s", CHS_BLOB_REFS, d->name);
}

/* A commit of one sealed chunk (a small attachment of its own) on `d`'s
 * chunk ref, signed by `signer`. */
static void chunk_commit(const device *d, const chs_identity *signer)
{
	unsigned char bytes[300], *file = NULL;
	char name[CHS_CHUNK_ID_HEX + 1], ref[128];
	chs_sha256_state h;
	chs_git_entry e;
	chs_chunk c;

	chs_random(bytes, sizeof(bytes));
	memset(&c, 0, sizeof(c));
	chs_sha256_init(&h);
	chs_sha256_update(&h, bytes, sizeof(bytes));
	chs_sha256_final(&h, c.sha256);
	c.size = sizeof(bytes);
	c.data = bytes;
	c.len = sizeof(bytes);
	ck_assert_int_eq(chs_chunk_seal(&file, &e.len, name, &c, kr.key[1][kr.gen[1] - 1],
					kr.gen[1]), 0);
	e.name = name;
	e.data = file;
	blob_ref(d, ref);
	commit_files(ref, &e, 1, signer);
	free(file);
}

START_TEST(test_archive_hook__attachment_chunks_are_accepted)
{
	char ref[128], mine[41], theirs[41];

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	blob_ref(&a, ref);
	chunk_commit(&a, a.id);
	push_ok(ref, NULL);
	chunk_commit(&a, a.id);
	chunk_commit(&a, a.id);
	push_ok(ref, NULL);
	local_tip(ref, mine);
	archive_tip(ref, theirs);
	ck_assert_str_eq(mine, theirs);
	ck_assert_int_eq(tu_sh("test $(git -C '%s' rev-list --count %s) = 3", archive, ref), 0);
}
END_TEST

START_TEST(test_archive_hook__forged_or_foreign_chunks_are_refused)
{
	char ref[128];
	device c;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	blob_ref(&a, ref);
	chunk_commit(&a, stranger); /* a's ref, another key */
	push_refused(ref, "signed by another key");
	device_init(&c); /* not on the roster */
	blob_ref(&c, ref);
	chunk_commit(&c, c.id);
	push_refused(ref, "is not on the roster");
	blob_ref(&b, ref); /* the billing office reads no clinical data */
	chunk_commit(&b, b.id);
	push_refused(ref, "may not send attachments");
	chs_identity_free(c.id);
}
END_TEST

START_TEST(test_archive_hook__rewritten_or_deleted_chunks_are_refused)
{
	char ref[128], spec[300], *other_path = tu_path(dir, "other.git"),
		*local_path = tu_path(dir, "local.git");
	chs_git *saved = local, *other = NULL;

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	blob_ref(&a, ref);
	chunk_commit(&a, a.id);
	push_ok(ref, NULL);
	/* another first commit of a's chunks, force-pushed */
	ck_assert_int_eq(chs_git_open(&other, other_path), 0);
	local = other;
	chunk_commit(&a, a.id);
	local = saved;
	snprintf(spec, sizeof(spec), "+%s:%s", ref, ref);
	git_push_refused(other_path, spec, ref, "rewriting history is not allowed");
	snprintf(spec, sizeof(spec), ":%s", ref);
	git_push_refused(local_path, spec, ref, "deleting a ref is not allowed");
	chs_git_free(other);
	free(other_path);
	free(local_path);
}
END_TEST

START_TEST(test_archive_hook__a_revoked_device_sends_no_more_chunks)
{
	char ref[128];

	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	blob_ref(&a, ref);
	chunk_commit(&a, a.id);
	push_ok(ref, NULL);
	ck_assert_int_eq(chs_roster_revoke(roster, &kr, a.name, 0), 0);
	commit_roster(local, roster, admin);
	push_ok(CHS_ROSTER_REF, NULL);
	chunk_commit(&a, a.id);
	push_refused(ref, "was revoked");
}
END_TEST

/* ---- archive init and install-hook ---- */

/* An archive made by `chartsync archive init`, and no server. */
static void setup_init(void)
{
	dir = tu_tempdir();
	archive = tu_path(dir, "archive.git");
	ck_assert_int_eq(tu_sh("'%s' archive init '%s' >/dev/null", CHARTSYNC_BIN, archive), 0);
}

static void teardown_init(void)
{
	tu_rmtree(dir);
	free(archive);
	free(dir);
}

static int chartsync(const char *args)
{
	return tu_sh("'%s' %s >/dev/null 2>&1", CHARTSYNC_BIN, args);
}

START_TEST(test_archive_init__sets_what_the_archive_needs_and_installs_the_hook)
{
	char *hook = tu_path(archive, "hooks/pre-receive");
	struct stat sb;

	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' config receive.unpackLimit)\" = 1", archive),
			 0);
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' config --bool receive.fsckObjects)\" = true",
			       archive), 0);
	ck_assert_int_eq(tu_sh("test \"$(git -C '%s' rev-parse --is-bare-repository)\" = true",
			       archive), 0);
	ck_assert_int_eq(stat(hook, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0755);
	ck_assert_int_eq(tu_sh("grep -q chartsync-archive-hook '%s'", hook), 0);
	free(hook);
}
END_TEST

START_TEST(test_archive_init__refuses_a_folder_that_is_not_empty)
{
	char args[512], *full = tu_path(dir, "full");

	ck_assert_int_eq(tu_sh("mkdir '%s' && touch '%s/chart.pdf'", full, full), 0);
	snprintf(args, sizeof(args), "archive init '%s'", full);
	ck_assert_int_eq(chartsync(args), 2);
	ck_assert_int_eq(tu_sh("test \"$(ls '%s')\" = chart.pdf", full), 0); /* untouched */
	snprintf(args, sizeof(args), "archive init '%s'", archive); /* a repository already */
	ck_assert_int_eq(chartsync(args), 2);
	free(full);
}
END_TEST

START_TEST(test_archive_init__usage_errors_exit_1)
{
	ck_assert_int_eq(chartsync("archive init"), 1);
	ck_assert_int_eq(chartsync("archive install-hook"), 1);
	ck_assert_int_eq(chartsync("archive"), 1);
	ck_assert_int_eq(chartsync("archive frobnicate x"), 1);
	ck_assert_int_eq(chartsync("archive init a b"), 1);
	ck_assert_int_eq(chartsync("archive --help"), 0);
}
END_TEST

START_TEST(test_archive_install_hook__into_an_existing_bare_repository_only)
{
	char args[512], *bare = tu_path(dir, "plain.git"), *work = tu_path(dir, "work");

	ck_assert_int_eq(tu_sh("git init -q --bare '%s' && git init -q '%s'", bare, work), 0);
	snprintf(args, sizeof(args), "archive install-hook '%s'", bare);
	ck_assert_int_eq(chartsync(args), 0);
	ck_assert_int_eq(tu_sh("test -x '%s/hooks/pre-receive'", bare), 0);
	ck_assert_int_eq(chartsync(args), 0); /* ours: replaced */
	snprintf(args, sizeof(args), "archive install-hook '%s'", work);
	ck_assert_int_eq(chartsync(args), 2); /* has a working tree */
	snprintf(args, sizeof(args), "archive install-hook '%s/nowhere'", dir);
	ck_assert_int_eq(chartsync(args), 2);
	snprintf(args, sizeof(args), "archive install-hook '%s'", dir);
	ck_assert_int_eq(chartsync(args), 2); /* a folder, not a repository */
	free(bare);
	free(work);
}
END_TEST

START_TEST(test_archive_install_hook__leaves_a_hook_that_is_not_ours_alone)
{
	char args[512], *hook = tu_path(archive, "hooks/pre-receive");

	ck_assert_int_eq(tu_write(hook, "#!/bin/sh\nexit 0\n", 17), 0);
	snprintf(args, sizeof(args), "archive install-hook '%s'", archive);
	ck_assert_int_eq(chartsync(args), 2);
	ck_assert_int_eq(tu_sh("test \"$(cat '%s')\" = \"$(printf '#!/bin/sh\\nexit 0')\"", hook),
			 0);
	free(hook);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools-archive-hook");
	TCase *hook = tcase_create("hook"), *init = tcase_create("init");

	tcase_add_checked_fixture(hook, setup, teardown);
	tcase_set_timeout(hook, 60);
	tcase_add_test(hook, test_archive_hook__a_roster_and_batches_are_accepted);
	tcase_add_test(hook, test_archive_hook__a_new_admin_key_is_accepted_with_the_old_keys_handover);
	tcase_add_test(hook, test_archive_hook__a_forged_handover_is_refused);
	tcase_add_test(hook, test_archive_hook__a_version_1_roster_is_accepted);
	tcase_add_test(hook, test_archive_hook__a_device_enrolled_in_the_same_push_is_accepted);
	tcase_add_test(hook, test_archive_hook__a_batch_commit_signed_by_another_key_is_refused);
	tcase_add_test(hook, test_archive_hook__a_manifest_signed_by_another_key_is_refused);
	tcase_add_test(hook, test_archive_hook__a_batch_sealed_by_another_device_is_refused);
	tcase_add_test(hook, test_archive_hook__a_device_not_on_the_roster_is_refused);
	tcase_add_test(hook, test_archive_hook__batches_before_any_roster_are_refused);
	tcase_add_test(hook, test_archive_hook__a_revoked_device_pushes_up_to_its_pin_only);
	tcase_add_test(hook, test_archive_hook__rewritten_history_is_refused);
	tcase_add_test(hook, test_archive_hook__a_seq_used_twice_is_refused);
	tcase_add_test(hook, test_archive_hook__deleting_a_ref_is_refused);
	tcase_add_test(hook, test_archive_hook__a_malformed_batch_is_refused);
	tcase_add_test(hook, test_archive_hook__refs_chartsync_does_not_use_are_refused);
	tcase_add_test(hook, test_archive_hook__a_roster_not_signed_by_the_admin_key_is_refused);
	tcase_add_test(hook, test_archive_hook__a_roster_commit_signed_by_another_key_is_refused);
	tcase_add_test(hook, test_archive_hook__an_older_roster_is_refused);
	tcase_add_test(hook, test_archive_hook__a_roster_of_another_organisation_is_refused);
	tcase_add_test(hook, test_archive_hook__attachment_chunks_are_accepted);
	tcase_add_test(hook, test_archive_hook__forged_or_foreign_chunks_are_refused);
	tcase_add_test(hook, test_archive_hook__rewritten_or_deleted_chunks_are_refused);
	tcase_add_test(hook, test_archive_hook__a_revoked_device_sends_no_more_chunks);
	suite_add_tcase(s, hook);
	tcase_add_checked_fixture(init, setup_init, teardown_init);
	tcase_add_test(init, test_archive_init__sets_what_the_archive_needs_and_installs_the_hook);
	tcase_add_test(init, test_archive_init__refuses_a_folder_that_is_not_empty);
	tcase_add_test(init, test_archive_init__usage_errors_exit_1);
	tcase_add_test(init, test_archive_install_hook__into_an_existing_bare_repository_only);
	tcase_add_test(init, test_archive_install_hook__leaves_a_hook_that_is_not_ours_alone);
	suite_add_tcase(s, init);
	return tu_run(s);
}
