/*
 * reliability: a hostile archive. The host of the archive edits the bare
 * repository directly, with git's own tools and no hook in the way
 * (update-ref, cat-file, hash-object, mktree, commit-tree, a pack cut
 * short): device refs rewound, deleted, pointed at another device's
 * commits; old batches replayed as new commits with and without their
 * signature; a blob of the head or of a middle batch altered; the roster
 * rolled back, deleted, replaced; refs chartsync does not use; a chunk
 * ref forged or deleted; a revoked device's late batch put back; a commit
 * with two parents; a truncated pack.
 *
 * Every case is one function that attacks, in a table with what must
 * follow, and one checker runs them all the same way on a copy of one
 * organisation (an admin's store, two clinics, a billing office) whose
 * clinic A has sent four batches the others have not applied yet:
 *   - with the hook in place (a copy of the archive taken before the
 *     attack, `chartsync archive install-hook`), the same change pushed
 *     there (`git push --mirror`, which runs the hook) is refused with
 *     the hook's words and no ref there moves;
 *   - every store syncs with the attacked archive, the attacked device
 *     last: each keeps every record it had and holds none that no
 *     device made; the attacked device's sync says what happened;
 *   - the admin does what the messages tell it (a forged ref removed,
 *     the archive restored), every store syncs again, the stores that
 *     read everything reach one state hash and hold every record made,
 *     the attachments are readable, `chartsync check` passes, and the
 *     admin's store lists the tampering its devices saw (`report
 *     archive`).
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { ADMIN, C1, C2, B1, NSTORES };

#define REFUSED "chartsync-archive-hook: refused "

static const tu_member *const members = tu_org_members;
/* top/tmpl: the organisation as built once; top/work: this case's copy,
 * at the same path every time (the stores name their archive by it) */
static char *top, *tmpl, *work, *archive, *hooked, *dirs[NSTORES];
static chs_store *st[NSTORES];
static char dev[NSTORES][33];
static char scan_old[33], scan_new[33]; /* attachments: applied everywhere, and not yet */
static json_t *genuine;                 /* every record made, by id */
static json_t *before[NSTORES];         /* what each store held before the attack */

/* ------------------------------------------------------------------ */
/* The stores                                                           */

static chs_store *open_store(int i)
{
	chs_store *s = NULL;

	ck_assert_msg(chs_store_open(&s, dirs[i], members[i].user, "pw", 2) == 0, "%s",
		      chs_error_last());
	return s;
}

/* What store i holds, as `ls --json` lists it (archive events are not
 * listed), by record id. */
static json_t *holding(int i)
{
	json_t *list, *by = json_object(), *r;
	char *text = NULL;
	size_t k;

	ck_assert_msg(tu_list_json(st[i], NULL, NULL, &text) == 0, "%s", chs_error_last());
	list = tu_json(text);
	json_array_foreach(list, k, r)
		json_object_set(by, json_string_value(json_object_get(r, "id")), r);
	json_decref(list);
	return by;
}

static void add_patient(int i, const char *name)
{
	chs_edit p[] = { tu_edit("name", name), tu_edit("dob", "1950-05-05"),
			 tu_edit("mrn", name) };
	char id[33];

	ck_assert_msg(chs_record_add(st[i], "patient", p, 3, NULL, NULL, id) == 0, "%s",
		      chs_error_last());
}

/* The organisation, built once: clinic A types a chart, a note and a
 * scan, clinic B a chart, and everyone applies them; then clinic A sends
 * four more batches (a scan and two charts) nobody else has applied. */
static void build(void)
{
	chs_edit n[] = { tu_edit("text", "Persistent cough for three weeks"),
			 tu_edit("date", "2026-11-20") };
	char p1[33], note[33];
	chs_edit p[] = { tu_edit("name", "Maria Lopez"), tu_edit("dob", "1961-07-14"),
			 tu_edit("mrn", "A-1001") };
	int i, round;

	ck_assert_int_eq(chs_crypto_init(), 0);
	top = tu_tempdir();
	work = tu_path(top, "work");
	tmpl = tu_path(top, "tmpl");
	archive = tu_path(work, "archive.git");
	hooked = tu_path(work, "hooked.git");
	ck_assert_int_eq(tu_sh("mkdir '%s' && git init -q --bare '%s'", work, archive), 0);
	tu_org_new(work, archive, members, NSTORES, st, dirs);
	for (i = 0; i < NSTORES; i++)
		snprintf(dev[i], sizeof(dev[i]), "%s", chs_store_device_id(st[i]));
	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 3, NULL, NULL, p1), 0);
	ck_assert_int_eq(chs_record_add(st[C1], "note", n, 2, p1, NULL, note), 0);
	tu_attach_scan(st[C1], top, "S1", 3000, scan_old);
	add_patient(C2, "Ben Okafor");
	for (round = 0; round < 2; round++)
		for (i = 0; i < NSTORES; i++)
			tu_sync_ok(st[i]);
	tu_attach_scan(st[C1], top, "S2", 5000, scan_new);
	add_patient(C1, "Ada Byron");
	add_patient(C1, "Tom Reyes");
	tu_sync_ok(st[C1]);
	genuine = holding(C1);
	tu_org_free(st, dirs, NSTORES);
	for (i = 0; i < NSTORES; i++)
		dirs[i] = tu_path(work, members[i].user);
	ck_assert_int_eq(tu_sh("cp -a '%s' '%s'", work, tmpl), 0);
}

static void unbuild(void)
{
	int i;

	tu_rmtree(top);
	json_decref(genuine);
	for (i = 0; i < NSTORES; i++)
		free(dirs[i]);
	free(hooked);
	free(archive);
	free(work);
	free(tmpl);
	free(top);
}

/* This case's copy of the organisation, and the hooked archive: the
 * attacked one as it was, with chartsync's hook. */
static void setup(void)
{
	int i;

	ck_assert_int_eq(chs_crypto_init(), 0);
	ck_assert_int_eq(tu_sh("rm -rf '%s' && cp -a '%s' '%s' && cp -a '%s' '%s' &&"
			       " '%s' archive install-hook '%s' >/dev/null",
			       work, tmpl, work, archive, hooked, CHARTSYNC_BIN, hooked), 0);
	for (i = 0; i < NSTORES; i++) {
		st[i] = open_store(i);
		before[i] = holding(i);
	}
}

static void teardown(void)
{
	int i;

	for (i = 0; i < NSTORES; i++) {
		chs_store_free(st[i]);
		st[i] = NULL;
		json_decref(before[i]);
		before[i] = NULL;
	}
}

/* ------------------------------------------------------------------ */
/* The host's tools                                                     */

/* A shell command run in the attacked archive, which must succeed, with
 * $R the roster's ref, $D1, $D2, $DA, $DB the device refs of clinic A,
 * clinic B, the admin and the billing office, $K1 clinic A's chunk ref,
 * $GIT git as the host, and functions:
 *   tree_alter C F    a tree like C's with the last byte of its file F changed
 *   recommit C SED    C's commit object (its signature kept) edited by SED
 */
static void host(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void host(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ck_assert_msg(tu_sh("cd '%s' && set -e &&"
			    " R=refs/chartsync/roster D1=refs/chartsync/devices/%s"
			    " D2=refs/chartsync/devices/%s DA=refs/chartsync/devices/%s"
			    " DB=refs/chartsync/devices/%s K1=refs/chartsync/blobs/%s"
			    " GIT='git -c user.name=host -c user.email=host@localhost' &&"
			    " tree_alter() { t=$(git rev-parse \"$1^{tree}\");"
			    "   b=$(git rev-parse \"$t:$2\");"
			    "   n=$( (git cat-file blob $b | head -c -1; printf '\\001') |"
			    "        git hash-object -w --stdin);"
			    "   git ls-tree $t | sed \"s/$b/$n/\" | git mktree; } &&"
			    " recommit() { git cat-file commit \"$1\" | sed \"$2\" |"
			    "   git hash-object -t commit -w --stdin; } && %s",
			    archive, dev[C1], dev[C2], dev[ADMIN], dev[B1], dev[C1], cmd) == 0,
		      "the host's command failed: %s", cmd);
}

/* ------------------------------------------------------------------ */
/* The attacks                                                          */

static void rewind_device_ref(void)
{
	host("git update-ref $D1 $(git rev-list --max-parents=0 $D1)");
}

static void rewind_unapplied_batches(void)
{
	host("git update-ref $D1 $D1~2");
}

static void delete_device_ref(void)
{
	host("git update-ref -d $D1");
}

static void device_ref_at_anothers_commits(void)
{
	host("git update-ref $D2 $D1");
}

static void device_refs_swapped(void)
{
	host("a=$(git rev-parse $D1) && git update-ref $D1 $D2 && git update-ref $D2 $a");
}

static void old_batch_replayed_signed(void)
{
	host("root=$(git rev-list --max-parents=0 $D1) && tip=$(git rev-parse $D1) &&"
	     " git update-ref $D1 $(recommit $root \"/^tree /a parent $tip\")");
}

static void old_batch_replayed_unsigned(void)
{
	host("root=$(git rev-list --max-parents=0 $D1) &&"
	     " git update-ref $D1 $($GIT commit-tree -p $D1 -m replay $root^{tree})");
}

static void previous_batch_replayed_on_top(void)
{
	host("git update-ref $D1 $(recommit $D1~1 \"s/^parent .*/parent $(git rev-parse $D1)/\")");
}

static void head_blob_altered(void)
{
	host("git update-ref $D1 $(recommit $D1 \"s/^tree .*/tree $(tree_alter $D1 billing)/\")");
}

static void middle_blob_altered(void)
{
	host("m=$(recommit $D1~1 \"s/^tree .*/tree $(tree_alter $D1~1 billing)/\") &&"
	     " git update-ref $D1 $(recommit $D1 \"s/^parent .*/parent $m/\")");
}

/* The head batch's manifest says "seq":N; 9N written over it. */
static void manifest_seq_changed(void)
{
	host("t=$(git rev-parse $D1^{tree}) && b=$(git rev-parse $t:manifest) &&"
	     " n=$(git cat-file blob $b | sed -E 's/\"seq\":([0-9]+)/\"seq\":9\\1/' |"
	     "     git hash-object -w --stdin) && test $n != $b &&"
	     " nt=$(git ls-tree $t | sed \"s/$b/$n/\" | git mktree) &&"
	     " git update-ref $D1 $(recommit $D1 \"s/^tree .*/tree $nt/\")");
}

static void two_parents(void)
{
	host("git update-ref $D1 $(recommit $D1"
	     " \"s/^parent .*/parent $(git rev-parse $D1)\\nparent $(git rev-parse $D2)/\")");
}

static void device_ref_at_a_tree(void)
{
	host("git update-ref $D1 $(git rev-parse $D1^{tree})");
}

static void device_ref_at_the_roster(void)
{
	host("git update-ref $D1 $R");
}

static void stranger_device_ref(void)
{
	host("git update-ref refs/chartsync/devices/0123456789abcdef0123456789abcdef $D1");
}

static void roster_rolled_back(void)
{
	host("git update-ref $R $R~1");
}

static void roster_rolled_back_to_the_first(void)
{
	host("git update-ref $R $(git rev-list --max-parents=0 $R)");
}

static void roster_deleted(void)
{
	host("git update-ref -d $R");
}

static void older_roster_replayed_on_top(void)
{
	host("git update-ref $R $(recommit $R~1 \"s/^parent .*/parent $(git rev-parse $R)/\")");
}

static void roster_at_a_batch(void)
{
	host("git update-ref $R $D1");
}

static void every_ref_deleted(void)
{
	host("git for-each-ref --format='delete %%(refname)' | git update-ref --stdin");
}

static void refs_outside_chartsync(void)
{
	host("git update-ref refs/heads/main $D1 && git update-ref refs/tags/v1 $R &&"
	     " git update-ref refs/notes/commits $($GIT commit-tree -m note $R^{tree})");
}

static void unknown_chartsync_ref(void)
{
	host("git update-ref refs/chartsync/extra $D1");
}

static void chunk_blob_altered(void)
{
	host("f=$(git ls-tree --name-only $K1 | head -n 1) &&"
	     " git update-ref $K1 $(recommit $K1 \"s/^tree .*/tree $(tree_alter $K1 $f)/\")");
}

static void chunk_ref_deleted(void)
{
	host("git update-ref -d $K1");
}

static void pack_truncated(void)
{
	host("git repack -q -a -d && p=$(ls -S objects/pack/*.pack | head -n 1) &&"
	     " chmod u+w $p && truncate -s $(( $(stat -c %%s $p) / 2 )) $p");
}

/* A revoked device's late batch: the admin revokes clinic B, whose next
 * batch, made before it hears of it, the host took elsewhere; the host
 * puts it on clinic B's ref after the revocation is published. */
static void revoked_devices_batch_put_back(void)
{
	char revoked[33], *old = tu_path(work, "old.git");
	uint64_t after;

	ck_assert_int_eq(tu_sh("cp -a '%s' '%s'", archive, old), 0);
	ck_assert_msg(chs_device_revoke(st[ADMIN], dev[C2], revoked, &after) == 0, "%s",
		      chs_error_last());
	tu_sync_ok(st[ADMIN]);
	add_patient(C2, "Late Entry");
	ck_assert_int_eq(chs_remote_set(st[C2], old), 0);
	tu_sync_ok(st[C2]);
	ck_assert_int_eq(chs_remote_set(st[C2], archive), 0);
	host("git fetch -q '%s' +$D2:$D2", old);
	/* its own late record is its own to keep */
	json_decref(before[C2]);
	before[C2] = holding(C2);
	free(old);
}

/* ------------------------------------------------------------------ */
/* What the admin does when told                                        */

static void remove_d1(void)
{
	host("git update-ref -d $D1");
}

static void remove_d2(void)
{
	host("git update-ref -d $D2");
}

static void remove_d1_d2(void)
{
	host("git update-ref -d $D1 && git update-ref -d $D2");
}

static void remove_roster(void)
{
	host("git update-ref -d $R");
}

/* The revoked device's ref set back to the batch its revocation pins. */
static void unpublish_late_batch(void)
{
	host("git update-ref $D2 $D2~1");
}

static void remove_stranger(void)
{
	host("git update-ref -d refs/chartsync/devices/0123456789abcdef0123456789abcdef");
}

static void remove_k1(void)
{
	host("git update-ref -d $K1");
}

/* The archive restored from the copy taken before the attack. */
static void restore_archive(void)
{
	ck_assert_int_eq(tu_sh("rm -rf '%s' && cp -a '%s' '%s' && rm -f '%s/hooks/pre-receive'",
			       archive, hooked, archive, archive), 0);
}

/* ------------------------------------------------------------------ */
/* The cases                                                            */

typedef struct hostile_case {
	const char *name;
	void (*attack)(void);
	/* with the hook in place: the words of its refusal (NULL: the push
	 * cannot even be made, and no ref moves) */
	const char *hook;
	/* the device attacked: its sync's result and words (NULL: a count
	 * of the tampering in its report) */
	int victim, victim_err;
	const char *says;
	/* what the admin does then (NULL: nothing to do) */
	void (*heal)(void);
	/* a kind of archive event the admin's store lists (NULL: none due) */
	const char *event;
	/* the store whose device the case revoked, or -1 */
	int revoked;
} hostile_case;

static const hostile_case cases[] = {
	{ "a device ref rewound to its first batch", rewind_device_ref,
	  "rewriting history is not allowed", C1, 0, NULL, NULL, "device-ref-rolled-back", -1 },
	{ "a device ref rewound over batches nobody applied", rewind_unapplied_batches,
	  "rewriting history is not allowed", C1, 0, NULL, NULL, "device-ref-rolled-back", -1 },
	{ "a device ref deleted", delete_device_ref,
	  "deleting a ref is not allowed", C1, 0, NULL, NULL, "device-ref-deleted", -1 },
	{ "a device ref pointed at another device's commits", device_ref_at_anothers_commits,
	  "rewriting history is not allowed", C2, CHS_EDAMAGED, "NOT being delivered", remove_d2,
	  "device-ref-rewritten", -1 },
	{ "two devices' refs swapped", device_refs_swapped,
	  "rewriting history is not allowed", C1, CHS_EDAMAGED, "NOT being delivered",
	  remove_d1_d2, "device-ref-rewritten", -1 },
	{ "an old batch replayed as a new commit, its signature kept", old_batch_replayed_signed,
	  "does not verify: it was changed after it was signed", C1, CHS_EDAMAGED,
	  "NOT being delivered", remove_d1, NULL, -1 },
	{ "an old batch replayed as a new commit, unsigned", old_batch_replayed_unsigned,
	  "is not signed", C1, CHS_EDAMAGED, "NOT being delivered", remove_d1, NULL, -1 },
	{ "the batch before the head replayed on top of it", previous_batch_replayed_on_top,
	  "does not verify: it was changed after it was signed", C1, CHS_EDAMAGED,
	  "NOT being delivered", remove_d1, NULL, -1 },
	{ "a blob of the head batch altered", head_blob_altered,
	  "rewriting history is not allowed", C1, CHS_EDAMAGED, "NOT being delivered", remove_d1,
	  "device-ref-rewritten", -1 },
	{ "a blob of a middle batch altered", middle_blob_altered,
	  "rewriting history is not allowed", C1, CHS_EDAMAGED, "NOT being delivered", remove_d1,
	  "device-ref-rewritten", -1 },
	{ "a manifest's seq changed", manifest_seq_changed,
	  "rewriting history is not allowed", C1, CHS_EDAMAGED, "NOT being delivered", remove_d1,
	  "device-ref-rewritten", -1 },
	{ "a batch commit with two parents", two_parents,
	  "signed by another key", C1, CHS_EDAMAGED, "NOT being delivered", remove_d1, NULL, -1 },
	{ "a device ref pointed at a tree", device_ref_at_a_tree,
	  "rewriting history is not allowed", C1, CHS_EDAMAGED, "NOT being delivered", remove_d1,
	  "device-ref-rewritten", -1 },
	{ "a device ref pointed at the roster", device_ref_at_the_roster,
	  "rewriting history is not allowed", C1, CHS_EDAMAGED, "NOT being delivered", remove_d1,
	  "device-ref-rewritten", -1 },
	{ "a device ref of a device not on the roster", stranger_device_ref,
	  "is not on the roster", -1, 0, NULL, remove_stranger, NULL, -1 },
	{ "the roster rolled back one version", roster_rolled_back,
	  "rewriting history is not allowed", C1, CHS_EDAMAGED, "roster moved backwards", NULL,
	  "roster-rolled-back", -1 },
	{ "the roster rolled back to the first", roster_rolled_back_to_the_first,
	  "rewriting history is not allowed", C1, CHS_EDAMAGED, "roster moved backwards", NULL,
	  "roster-rolled-back", -1 },
	{ "the roster deleted", roster_deleted,
	  "deleting a ref is not allowed", C1, CHS_EDENIED, "holds no roster", NULL,
	  "roster-deleted", -1 },
	{ "an older roster replayed on top", older_roster_replayed_on_top,
	  "does not verify: it was changed after it was signed", C1, CHS_EDAMAGED,
	  "roster was replaced", remove_roster,
	  "roster-rewritten", -1 },
	{ "the roster pointed at a batch", roster_at_a_batch,
	  "rewriting history is not allowed", C1, CHS_EDAMAGED, "roster was replaced", remove_roster,
	  "roster-rewritten", -1 },
	{ "every ref deleted", every_ref_deleted,
	  "deleting a ref is not allowed", C1, CHS_EDENIED, "holds no roster", NULL,
	  "device-ref-deleted", -1 },
	{ "refs outside refs/chartsync/", refs_outside_chartsync,
	  "the archive takes refs under refs/chartsync/ only", -1, 0, NULL, NULL, NULL, -1 },
	{ "a ref under refs/chartsync/ chartsync does not use", unknown_chartsync_ref,
	  "chartsync does not use this ref", -1, 0, NULL, NULL, NULL, -1 },
	{ "a chunk commit's blob altered", chunk_blob_altered,
	  "rewriting history is not allowed", -1, 0, NULL, remove_k1, "chunk-ref-rewritten", -1 },
	{ "a chunk ref deleted", chunk_ref_deleted,
	  "deleting a ref is not allowed", C1, 0, NULL, NULL, "chunk-ref-deleted", -1 },
	{ "a revoked device's late batch put back", revoked_devices_batch_put_back,
	  "revoked", C2, CHS_EDENIED, "revoked", unpublish_late_batch,
	  "device-ref-rolled-back", C2 },
	{ "a pack truncated", pack_truncated,
	  NULL, -1, 0, NULL, restore_archive, NULL, -1 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* ------------------------------------------------------------------ */
/* The checker                                                          */

static char *refs_of(const char *repo)
{
	char *out = tu_path(work, "refs.txt"), *text;
	size_t len;

	ck_assert_int_eq(tu_sh("git -C '%s' for-each-ref >'%s'", repo, out), 0);
	text = (char *)tu_read(out, &len);
	ck_assert_ptr_nonnull(text);
	free(out);
	return text;
}

/* The attacked archive pushed as it is now to the hooked one. */
static void hook_refuses(const hostile_case *c)
{
	char *was = refs_of(hooked), *now, *out = tu_path(work, "push.txt"), *text;
	size_t len;
	int rc;

	rc = tu_sh("git -C '%s' push -q --mirror '%s' >'%s' 2>&1", archive, hooked, out);
	text = (char *)tu_read(out, &len);
	ck_assert_ptr_nonnull(text);
	if (c->hook)
		ck_assert_msg(rc != 0 && strstr(text, REFUSED) && strstr(text, c->hook),
			      "%s: the hook's push: exit %d, wanted '%s'; got: %s", c->name, rc,
			      c->hook, text);
	now = refs_of(hooked);
	ck_assert_msg(strcmp(was, now) == 0, "%s: the hooked archive's refs moved:\n%s\nto\n%s",
		      c->name, was, now);
	free(was);
	free(now);
	free(text);
	free(out);
}

/* Store i holds every record it held, unchanged, and nothing no device
 * made. */
static void kept_and_nothing_forged(const hostile_case *c, int i)
{
	json_t *now = holding(i), *r;
	const char *id;

	json_object_foreach(before[i], id, r)
		ck_assert_msg(json_equal(r, json_object_get(now, id)),
			      "%s: %s lost or changed record %s", c->name, members[i].user, id);
	json_object_foreach(now, id, r)
		ck_assert_msg(json_equal(r, json_object_get(genuine, id)) ||
			      json_equal(r, json_object_get(before[i], id)),
			      "%s: %s holds record %s, which no device made so", c->name,
			      members[i].user, id);
	json_decref(now);
}

/* A sync of store i with what it said: the error and the report's lines. */
static int sync_said(int i, chs_sync_report *rep, char *said, size_t len)
{
	int err = chs_store_sync(st[i], NULL, rep);

	snprintf(said, len, "%s\n%s", err ? chs_error_last() : "",
		 rep->problems.ptr ? rep->problems.ptr : "");
	return err;
}

static int has_event(int i, const char *kind)
{
	chs_archive_events *l = NULL;
	size_t k, n;
	int found = 0;

	ck_assert_msg(chs_archive_events_list(&l, st[i]) == 0, "%s", chs_error_last());
	n = chs_archive_events_count(l);
	for (k = 0; k < n; k++)
		found |= strcmp(chs_archive_events_get(l, k)->kind, kind) == 0;
	chs_archive_events_free(l);
	return found;
}

static void state_hash(int i, char hash[65])
{
	int64_t n;

	ck_assert_msg(chs_store_verify(st[i], 1, hash, &n) == 0, "%s", chs_error_last());
}

static void run_case(const hostile_case *c)
{
	static const int order[] = { C2, B1, C1, ADMIN }, final[] = { ADMIN, C1, C2, B1 };
	char said[8192], h[3][65];
	chs_sync_report rep;
	int seq[NSTORES], k, n, i, err, round;

	c->attack();
	hook_refuses(c);
	/* every store syncs with the attacked archive, the attacked one
	 * after the others but before the admin's, whose sync puts back a
	 * roster */
	for (k = 0, n = 0; k < NSTORES - 1; k++)
		if (order[k] != c->victim)
			seq[n++] = order[k];
	if (c->victim >= 0 && c->victim != ADMIN)
		seq[n++] = c->victim;
	seq[n++] = ADMIN;
	for (k = 0; k < n; k++) {
		i = seq[k];
		err = sync_said(i, &rep, said, sizeof(said));
		if (getenv("CHARTSYNC_TEST_VERBOSE"))
			fprintf(stderr, "  [%s] %s: %d %s\n", c->name, members[i].user, err, said);
		ck_assert_msg(!strstr(said, "out of memory"), "%s: %s", c->name, said);
		if (i == c->victim) {
			ck_assert_msg(err == c->victim_err, "%s: %s's sync gave %d, wanted %d: %s",
				      c->name, members[i].user, err, c->victim_err, said);
			if (c->says)
				ck_assert_msg(strstr(said, c->says), "%s: %s's sync did not say '%s': %s",
					      c->name, members[i].user, c->says, said);
			else
				ck_assert_msg(rep.tampering > 0, "%s: %s's sync saw no tampering: %s",
					      c->name, members[i].user, said);
		}
		chs_sync_report_dispose(&rep);
	}
	for (i = 0; i < NSTORES; i++)
		kept_and_nothing_forged(c, i);
	/* the admin does what it was told; everyone syncs until done */
	if (c->heal)
		c->heal();
	for (round = 0; round < 3; round++)
		for (k = 0; k < NSTORES; k++) {
			i = final[k];
			if (round == 2 && i == B1)
				continue;
			err = sync_said(i, &rep, said, sizeof(said));
			if (round > 0)
				ck_assert_msg(err == (i == c->revoked ? CHS_EDENIED : 0),
					      "%s: after the admin's repair, %s's sync gave %d: %s",
					      c->name, members[i].user, err, said);
			chs_sync_report_dispose(&rep);
		}
	for (i = 0; i < NSTORES; i++) {
		ck_assert_msg(chs_store_check(st[i]) == 0, "%s", chs_error_last());
		kept_and_nothing_forged(c, i);
	}
	/* the stores that read everything converge, on every record made */
	state_hash(ADMIN, h[0]);
	state_hash(C1, h[1]);
	ck_assert_msg(strcmp(h[0], h[1]) == 0, "%s: the admin's and clinic A's stores differ",
		      c->name);
	if (c->revoked != C2) {
		state_hash(C2, h[2]);
		ck_assert_msg(strcmp(h[0], h[2]) == 0, "%s: the admin's and clinic B's stores differ",
			      c->name);
	}
	{
		json_t *all = holding(ADMIN);

		ck_assert_msg(json_equal(all, genuine),
			      "%s: the admin's store does not hold every record made", c->name);
		json_decref(all);
	}
	ck_assert(tu_attachment_readable(st[C2], scan_old) || c->revoked == C2);
	ck_assert_msg(tu_attachment_readable(st[C2], scan_new) || c->revoked == C2,
		      "%s: clinic B cannot read the scan clinic A sent", c->name);
	ck_assert(tu_attachment_readable(st[ADMIN], scan_new));
	if (c->event)
		ck_assert_msg(has_event(ADMIN, c->event), "%s: the admin's store lists no %s",
			      c->name, c->event);
}

/* CHARTSYNC_HOSTILE_CASE=N runs case N alone (numbered from 0). */
START_TEST(test_hostile_archive)
{
	const char *only = getenv("CHARTSYNC_HOSTILE_CASE");

	if (!only || atoi(only) == _i)
		run_case(&cases[_i]);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hostile_archive");
	TCase *tc = tcase_create("hostile_archive");

	tcase_add_unchecked_fixture(tc, build, unbuild);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_hostile_archive, 0, (int)NCASES);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
