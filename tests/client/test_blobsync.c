/*
 * client/: attachment bytes through a real archive. A scan attached at
 * one clinic reaches the other clinic and the archivist byte for byte,
 * after the records and in bounded commits; the billing office never
 * fetches a chunk; the same file attached twice is stored once; a send
 * killed anywhere loses at most what was in flight; and a chunk altered
 * in the archive is refused.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/gitserver.h"
#include "support/org.h"
#include "support/testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCAN_BYTES 5000000 /* 5 MB: four full chunks and a part */

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

static char *scan_path;
static unsigned char *scan;

/* A "scan": SCAN_BYTES of random bytes in a file. */
static void make_scan(void)
{
	scan_path = tu_path(top, "scan.tif");
	scan = malloc(SCAN_BYTES);
	ck_assert_ptr_nonnull(scan);
	chs_random(scan, SCAN_BYTES);
	ck_assert_int_eq(tu_write(scan_path, scan, SCAN_BYTES), 0);
}

static void blob_setup(void)
{
	setup();
	make_scan();
}

static void blob_teardown(void)
{
	free(scan);
	free(scan_path);
	teardown();
}

static void patient(int i, const char *mrn, char id[33])
{
	chs_edit p[] = { { "name", "Maria Lopez", 0, 0 }, { "dob", "1961-07-14", 0, 0 },
			 { "mrn", mrn, 0, 0 } };

	ck_assert_msg(chs_record_add(st[i], "patient", p, 3, NULL, NULL, id) == 0, "%s",
		      chs_error_last());
}

/* Store i attaches the scan to a new patient; the attachment's id. */
static void attach_scan(int i, const char *mrn, char id[33])
{
	char p[33];

	patient(i, mrn, p);
	ck_assert_msg(chs_attach(st[i], p, scan_path, NULL, "Chart p. 1-12", id) == 0, "%s",
		      chs_error_last());
}

/* chs_attachment_cat into a file: its result, and the bytes compared
 * with the scan when it succeeded. */
static int cat_scan(int i, const char *id)
{
	char *out = tu_path(top, "cat.out");
	unsigned char *got;
	size_t len = 0;
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600), err;

	ck_assert_int_ge(fd, 0);
	err = chs_attachment_cat(st[i], id, fd);
	close(fd);
	got = tu_read(out, &len);
	if (err == 0) {
		ck_assert_uint_eq(len, SCAN_BYTES);
		ck_assert(memcmp(got, scan, SCAN_BYTES) == 0);
	} else {
		ck_assert_uint_eq(len, 0); /* nothing half-written */
	}
	free(got);
	unlink(out);
	free(out);
	return err;
}

static int cli_sync(int i, const char *fault)
{
	return tu_cli_sync(CHARTSYNC_BIN, dirs[i], members[i].user, fault);
}

/* Commits on a device's chunk ref in the archive. */
static int chunk_commits(int i)
{
	return tu_sh("exit $(git -C '%s' rev-list --count refs/chartsync/blobs/%s 2>/dev/null"
		     " || echo 0)", archive, chs_store_device_id(st[i]));
}

/* Objects over 500 kB (chunks) in a repository, and how many copies of
 * them it stores (in every pack, and loose). */
static int big_objects(const char *repo)
{
	return tu_sh("exit $(git -C '%s' cat-file --batch-all-objects --batch-check="
		     "'%%(objecttype) %%(objectsize)' | awk '$1==\"blob\" && $2>500000' | wc -l)",
		     repo);
}

static int big_copies(const char *repo)
{
	return tu_sh("cd '%s' && big=$(git cat-file --batch-all-objects --batch-check="
		     "'%%(objectname) %%(objecttype) %%(objectsize)' | awk '$2==\"blob\" &&"
		     " $3>500000 {print $1}') && exit $( (for i in objects/pack/*.idx; do"
		     " [ -e \"$i\" ] && git show-index <\"$i\"; done | awk '{print $2}';"
		     " find objects -path 'objects/[0-9a-f][0-9a-f]/*' -type f | sed 's|objects/||;s|/||') |"
		     " grep -cFx \"$big\")", repo);
}

START_TEST(test_blobsync__a_scan_reaches_every_clinical_store)
{
	char id[33], *mirror;
	chs_sync_report r;

	attach_scan(C1, "A-1", id);
	r = sync_ok(C1);
	ck_assert_uint_eq(r.batches_out, 2);
	ck_assert_uint_eq(r.chunks_out, 5);
	ck_assert_int_eq(chunk_commits(C1), 2); /* four chunks, then one */
	r = sync_ok(C2);
	ck_assert_uint_eq(r.chunks_in, 5);
	ck_assert_uint_eq(r.attachments_in, 1);
	ck_assert_int_eq(cat_scan(C2, id), 0);
	sync_ok(ADMIN);
	ck_assert_int_eq(cat_scan(ADMIN, id), 0);
	ck_assert_int_eq(cat_scan(C1, id), 0);
	/* the archive holds each chunk once, as ciphertext */
	ck_assert_int_eq(big_objects(archive), 5);
	/* a second sync has nothing to do */
	r = sync_ok(C2);
	ck_assert_uint_eq(r.chunks_in + r.chunks_out, 0);
	r = sync_ok(C1);
	ck_assert_uint_eq(r.chunks_in + r.chunks_out, 0);
	ck_assert_int_eq(r.pushed, 0);

	/* the billing office, from the archive by its path: no chunk ref, no
	 * chunk object, and the scan is not its to read */
	r = sync_ok(B1);
	ck_assert_uint_eq(r.chunks_in, 0);
	mirror = tu_path(dirs[B1], "git");
	ck_assert_int_eq(tu_sh("test -z \"$(git -C '%s' for-each-ref refs/ | grep blobs)\"",
			       mirror), 0);
	ck_assert_int_eq(big_objects(mirror), 0);
	ck_assert_int_eq(cat_scan(B1, id), CHS_ENOTFOUND);
	free(mirror);
}
END_TEST

/* Over a network archive (git://: the smart protocol sends only the refs
 * asked for) the billing office receives no chunk at all; the same holds
 * for an archive given as a path (sync/git/ fetches those itself). */
START_TEST(test_blobsync__the_billing_office_never_fetches_a_chunk)
{
	char id[33], *mirror, *url;
	tu_gitserver server;

	tu_gitserver_start(&server, top);
	url = tu_gitserver_url(&server, "archive.git");
	ck_assert_int_eq(chs_remote_set(st[B1], url), 0);
	attach_scan(C1, "A-1", id);
	sync_ok(C1);
	sync_ok(B1);
	mirror = tu_path(dirs[B1], "git");
	ck_assert_int_eq(tu_sh("test -z \"$(git -C '%s' for-each-ref refs/ | grep blobs)\"",
			       mirror), 0);
	ck_assert_int_eq(big_objects(mirror), 0);
	ck_assert_int_eq(cat_scan(B1, id), CHS_ENOTFOUND);
	/* not a megabyte of it anywhere in the office's folder */
	ck_assert_int_eq(tu_sh("test $(du -sk '%s' | cut -f1) -lt 1500", dirs[B1]), 0);
	tu_gitserver_stop(&server);
	free(mirror);
	free(url);
}
END_TEST

START_TEST(test_blobsync__the_same_file_twice_is_stored_once)
{
	char id1[33], id2[33];

	attach_scan(C1, "A-1", id1);
	attach_scan(C2, "B-1", id2);
	sync_ok(C1);
	sync_ok(C2);
	sync_ok(C1);
	/* the same chunks sealed at clinic B are the same git objects as
	 * clinic A's, which it fetched: it sends none of them again */
	ck_assert_int_eq(chunk_commits(C1), 2);
	ck_assert_int_eq(chunk_commits(C2), 0);
	ck_assert_int_eq(big_objects(archive), 5);
	ck_assert_int_eq(big_copies(archive), 5);
	ck_assert_int_eq(cat_scan(C1, id2), 0);
	ck_assert_int_eq(cat_scan(C2, id1), 0);
}
END_TEST

/* Killed (SIGKILL) at each step of sending the chunks: the records are
 * out already; the next sync sends what is left, nothing twice. */
static const char *const faults[] = { "blob-committed", "blob-pushed", "blob-sent" };
static const size_t chunks_after[] = { 1, 1, 1 }; /* what the next sync seals */

START_TEST(test_blobsync__killed_while_sending_loses_only_what_was_in_flight)
{
	char id[33];
	chs_sync_report r;

	attach_scan(C1, "A-1", id);
	ck_assert_int_eq(cli_sync(C1, faults[_i]), 128 + 9);
	/* the records arrived; the bytes say plainly they have not */
	sync_ok(C2);
	ck_assert_int_eq(cat_scan(C2, id), CHS_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "have not arrived"));
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "sync again"));
	r = sync_ok(C1);
	ck_assert_uint_eq(r.batches_out, 0);
	ck_assert_uint_eq(r.chunks_out, chunks_after[_i]);
	ck_assert_int_eq(chunk_commits(C1), 2);
	r = sync_ok(C2);
	ck_assert_uint_eq(r.attachments_in, 1);
	ck_assert_int_eq(cat_scan(C2, id), 0);
	r = sync_ok(C1);
	ck_assert_uint_eq(r.chunks_out, 0);
}
END_TEST

START_TEST(test_blobsync__a_chunk_altered_in_the_archive_is_refused)
{
	char id[33];
	chs_sync_report rep;
	const char *dev;

	attach_scan(C1, "A-1", id);
	sync_ok(C1);
	dev = chs_store_device_id(st[C1]);
	/* the archive swaps a byte of the last chunk: a commit with the
	 * altered tree in place of the device's last one */
	ck_assert_int_eq(tu_sh("cd '%s' && ref=refs/chartsync/blobs/%s && "
			       "set -- $(git ls-tree $ref) && "
			       "git cat-file blob $3 >/tmp/chunk.$$ && "
			       "printf 'X' | dd of=/tmp/chunk.$$ bs=1 seek=100 conv=notrunc 2>/dev/null && "
			       "new=$(git hash-object -w /tmp/chunk.$$) && rm /tmp/chunk.$$ && "
			       "t=$(printf '100644 blob %%s\\t%%s\\n' $new $4 | git mktree) && "
			       "c=$(git commit-tree -p $ref~1 -m chunk $t) && git update-ref $ref $c",
			       archive, dev), 0);
	ck_assert_int_eq(chs_store_sync(st[C2], NULL, &rep), CHS_EDAMAGED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), dev));
	ck_assert_uint_eq(rep.refused, 1);
	ck_assert_uint_eq(rep.chunks_in, 4); /* the first commit was sound */
	ck_assert_uint_eq(rep.attachments_in, 0);
	chs_sync_report_dispose(&rep);
	ck_assert_int_eq(cat_scan(C2, id), CHS_ENOTFOUND);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("blobsync");
	TCase *tc = tcase_create("blobsync");

	tcase_add_checked_fixture(tc, blob_setup, blob_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_blobsync__a_scan_reaches_every_clinical_store);
	tcase_add_test(tc, test_blobsync__the_billing_office_never_fetches_a_chunk);
	tcase_add_test(tc, test_blobsync__the_same_file_twice_is_stored_once);
	tcase_add_loop_test(tc, test_blobsync__killed_while_sending_loses_only_what_was_in_flight,
			    0, (int)(sizeof(faults) / sizeof(faults[0])));
	tcase_add_test(tc, test_blobsync__a_chunk_altered_in_the_archive_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
