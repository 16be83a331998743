/*
 * client/replicate/kit: the organisation outlives its admin's store. A
 * recovery kit split into shares recovers the organisation on a fresh
 * store, through a real archive (made by `chartsync archive init`, its
 * hook running on every push over git daemon), and the recovered store
 * enrolls and revokes while every clinic keeps syncing; fewer shares
 * than the threshold recover nothing; a wrong passphrase and a mistyped
 * share are refused, naming what to retype; and a kit holds no secret in
 * the clear.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/gitserver.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASS "correct horse battery staple"

static char *top;
static chs_kdf_params fast;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	chs_kdf_params_minimum(&fast);
	top = tu_tempdir();
}

static void teardown(void)
{
	tu_rmtree(top);
	free(top);
}

/* An admin store with its organisation (no archive needed to make a kit). */
static chs_store *admin_store(char **dir)
{
	chs_store *s = tu_store_new(top, "ann", "archive-1", NULL, dir);

	ck_assert_msg(chs_org_init(s, NULL, "central") == 0, "%s", chs_error_last());
	return s;
}

static void make_kit(chs_store *s, unsigned shares, unsigned k, char ***texts, size_t *n)
{
	chs_kit_opts o = { shares, k, &fast };

	ck_assert_msg(chs_org_recovery_kit(s, PASS, strlen(PASS), &o, texts, n) == 0, "%s",
		      chs_error_last());
	ck_assert_uint_eq(*n, shares ? shares : 1);
}

/* Text `t` with the first hex digit of its line `line` changed. */
static char *mistype(const char *t, unsigned line)
{
	char tag[32], *copy = strdup(t), *p;

	snprintf(tag, sizeof(tag), "\nline %u: ", line);
	p = strstr(copy, tag);
	ck_assert_ptr_nonnull(p);
	p += strlen(tag);
	*p = *p == '0' ? '1' : '0';
	return copy;
}

/* ---- the text ---- */

START_TEST(test_kit__text_round_trip_names_the_organisation)
{
	char **texts = NULL, org[33], *dir, *loose;
	const char *one[1];
	chs_store *s = admin_store(&dir);
	chs_device_roster *r = NULL;
	size_t n, i, j;

	make_kit(s, 0, 0, &texts, &n);
	ck_assert_ptr_nonnull(strstr(texts[0], "chartsync recovery kit, format 1\n"));
	one[0] = texts[0];
	ck_assert_msg(chs_kit_check(one, 1, org) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_device_list(&r, s), 0);
	/* the kit names the organisation the roster names */
	ck_assert_int_eq(chs_device_roster_count(r), 1);
	chs_device_roster_free(r);
	/* as typed back: capital hex digits, more spaces, a comment, blank
	 * lines */
	loose = calloc(1, 3 * strlen(texts[0]) + 64);
	strcpy(loose, "# typed back from paper\n\n");
	for (i = 0, j = strlen(loose); texts[0][i]; i++) {
		const char *line = strrchr(texts[0] + i, '\n');
		char c = texts[0][i];
		int in_payload;

		(void)line;
		/* inside "line N: ... check": after a ':' on a payload line */
		in_payload = 0;
		{
			size_t b = i;

			while (b > 0 && texts[0][b - 1] != '\n')
				b--;
			if (strncmp(texts[0] + b, "line ", 5) == 0) {
				const char *colon = strchr(texts[0] + b, ':');
				const char *check = strstr(texts[0] + b, "check");

				in_payload = texts[0] + i > colon && texts[0] + i < check;
			}
		}
		if (in_payload && c >= 'a' && c <= 'f')
			c = (char)(c - 32);
		loose[j++] = c;
		if (in_payload && c == ' ')
			loose[j++] = ' ';
		if (c == '\n')
			loose[j++] = '\n';
	}
	one[0] = loose;
	ck_assert_msg(chs_kit_check(one, 1, org) == 0, "%s", chs_error_last());
	free(loose);
	chs_kit_texts_free(texts, n);
	chs_store_free(s);
	free(dir);
}
END_TEST

START_TEST(test_kit__a_mistyped_share_is_named_by_share_and_line)
{
	char **texts = NULL, org[33], *dir, *bad, *cut;
	const char *two[2];
	chs_store *s = admin_store(&dir);
	size_t n;

	make_kit(s, 3, 2, &texts, &n);
	ck_assert_ptr_nonnull(strstr(texts[1], "chartsync recovery share 2 of 3 (any 2 recover"
					       " the kit)"));
	two[0] = texts[0];
	two[1] = texts[1];
	ck_assert_msg(chs_kit_check(two, 2, org) == 0, "%s", chs_error_last());
	/* one character changed on line 4 of share 2 */
	bad = mistype(texts[1], 4);
	two[1] = bad;
	ck_assert_int_eq(chs_kit_check(two, 2, org), CHS_EINVALID);
	ck_assert_str_eq(chs_error_last(), "share 2, line 4 does not match its check: retype it");
	free(bad);
	/* a line left out */
	cut = strdup(texts[2]);
	{
		char *a = strstr(cut, "\nline 3: "), *b = strstr(cut, "\nline 4: ");

		memmove(a, b, strlen(b) + 1);
	}
	two[1] = cut;
	ck_assert_int_eq(chs_kit_check(two, 2, org), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "share 3: line 3 is missing"));
	free(cut);
	/* the header changed: the checksum tells */
	cut = strdup(texts[2]);
	memcpy(strstr(cut, "(any 2"), "(any 3", 6);
	two[1] = cut;
	ck_assert_int_eq(chs_kit_check(two, 2, org), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "share 3 does not match its checksum"));
	free(cut);
	/* something else altogether */
	two[1] = "Dear Sir or Madam,\n";
	ck_assert_int_eq(chs_kit_check(two, 2, org), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "not a chartsync recovery kit or share"));
	chs_kit_texts_free(texts, n);
	chs_store_free(s);
	free(dir);
}
END_TEST

/* A text cut short anywhere, or with any one byte changed to another
 * character a typist might type (in the header's words too), is refused
 * with a message: never read past, never taken for the kit. */
START_TEST(test_kit__every_cut_and_every_typo_is_refused)
{
	static const char typed[] = "0a9 :x\n#";
	char **texts = NULL, org[33], *dir, *copy;
	const char *one[1];
	chs_store *s = admin_store(&dir);
	size_t n, len, i, j;
	int err;

	make_kit(s, 0, 0, &texts, &n);
	len = strlen(texts[0]);
	one[0] = copy = malloc(len + 1);
	for (i = 0; i + 1 < len; i++) {
		memcpy(copy, texts[0], i);
		copy[i] = '\0';
		ck_assert_int_eq(chs_kit_check(one, 1, org), CHS_EINVALID);
		ck_assert_str_ne(chs_error_last(), "");
	}
	for (i = 0; i < len; i++)
		for (j = 0; j < sizeof(typed) - 1; j++) {
			memcpy(copy, texts[0], len + 1);
			if (copy[i] == typed[j] || copy[i] == ' ' || copy[i] == '\n')
				continue;
			copy[i] = typed[j];
			err = chs_kit_check(one, 1, org);
			ck_assert_msg(err == CHS_EINVALID, "byte %zu as '%c' went through: %.40s", i,
				      typed[j], copy + (i > 20 ? i - 20 : 0));
		}
	free(copy);
	chs_kit_texts_free(texts, n);
	chs_store_free(s);
	free(dir);
}
END_TEST

/* The payload bytes of a share text, as the format at the top of kit.c
 * lays them out. */
static size_t payload(const char *t, unsigned char *out, size_t cap)
{
	const char *p = t;
	size_t n = 0;

	while ((p = strstr(p, "\nline "))) {
		const char *c = strchr(p, ':') + 1, *end = strstr(c, "check");
		char hex[3] = { 0, 0, 0 };
		int h = 0;

		for (; c < end; c++) {
			if (*c == ' ')
				continue;
			hex[h++] = *c;
			if (h == 2) {
				ck_assert_uint_lt(n, cap);
				ck_assert_int_eq(chs_unhex(out + n++, 1, hex), 0);
				h = 0;
			}
		}
		p = end;
	}
	return n;
}

START_TEST(test_kit__fewer_shares_than_the_threshold_recover_nothing)
{
	static unsigned char sh[3][4096], all[4096], less[4096];
	const unsigned char *parts[3] = { sh[0], sh[1], sh[2] };
	unsigned char nrs[3] = { 1, 2, 3 };
	unsigned char h[CHS_HASH_BYTES];
	char **texts = NULL, org[33], *dir, *fresh_dir, id[9], *kit_line, want[9];
	const char *two[2];
	chs_store *s = admin_store(&dir), *fresh;
	chs_recover_result res;
	size_t n, len, i;

	make_kit(s, 3, 3, &texts, &n);
	two[0] = texts[0];
	two[1] = texts[2];
	ck_assert_int_eq(chs_kit_check(two, 2, org), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "2 of the 3 shares needed were given"));
	fresh = tu_store_new(top, "rita", "laptop-2", NULL, &fresh_dir);
	ck_assert_int_eq(chs_org_recover(fresh, two, 2, PASS, strlen(PASS), NULL, &res),
			 CHS_EINVALID);
	ck_assert_int_eq(chs_device_list(&(chs_device_roster *){ NULL }, fresh), CHS_ENOTFOUND);
	/* and the two shares, combined anyway, are not the kit: its id (the
	 * header's "kit" line) is the hash of the three combined only */
	for (i = 0; i < 3; i++)
		len = payload(texts[i], sh[i], sizeof(sh[i]));
	ck_assert_int_gt(len, 233);
	ck_assert_int_eq(chs_share_combine(all, len, nrs, parts, 3), 0);
	ck_assert_int_eq(chs_share_combine(less, len, nrs, parts, 2), 0);
	ck_assert(memcmp(all, less, len) != 0);
	kit_line = strstr(texts[0], "\nkit ");
	ck_assert_ptr_nonnull(kit_line);
	memcpy(want, kit_line + 5, 8);
	want[8] = '\0';
	chs_hash(h, all, len);
	chs_hex(id, h, 4);
	ck_assert_str_eq(id, want);
	chs_hash(h, less, len);
	chs_hex(id, h, 4);
	ck_assert_str_ne(id, want);
	chs_kit_texts_free(texts, n);
	chs_store_free(fresh);
	chs_store_free(s);
	free(fresh_dir);
	free(dir);
}
END_TEST

START_TEST(test_kit__a_wrong_passphrase_is_refused_and_changes_nothing)
{
	char **texts = NULL, *dir, *fresh_dir;
	chs_store *s = admin_store(&dir), *fresh;
	chs_device_roster *r = NULL;
	chs_recover_result res;
	const char *one[1];
	size_t n;

	make_kit(s, 0, 0, &texts, &n);
	one[0] = texts[0];
	fresh = tu_store_new(top, "rita", "laptop-2", NULL, &fresh_dir);
	ck_assert_int_eq(chs_org_recover(fresh, one, 1, "correct horse battery stapler", 29,
					 NULL, &res), CHS_EAUTH);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "wrong recovery passphrase"));
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "nothing was changed"));
	ck_assert_int_eq(chs_device_list(&r, fresh), CHS_ENOTFOUND);
	chs_kit_texts_free(texts, n);
	chs_store_free(fresh);
	chs_store_free(s);
	free(fresh_dir);
	free(dir);
}
END_TEST

/* Every text with its spaces and line ends taken out, so a secret's hex
 * is found across a line break too. */
static char *squeezed(char **texts, size_t n)
{
	size_t i, j, total = 1;
	char *out, *p;

	for (i = 0; i < n; i++)
		total += strlen(texts[i]);
	p = out = malloc(total);
	for (i = 0; i < n; i++)
		for (j = 0; texts[i][j]; j++)
			if (texts[i][j] != ' ' && texts[i][j] != '\n')
				*p++ = texts[i][j];
	*p = '\0';
	return out;
}

static void absent(const char *hay, const unsigned char *secret, size_t len, const char *what)
{
	char hex[129];

	chs_hex(hex, secret, len < 64 ? len : 64);
	ck_assert_msg(!strstr(hay, hex), "the kit holds %s in the clear", what);
}

START_TEST(test_kit__a_kit_holds_no_secret_in_the_clear)
{
	char **texts = NULL, *dir, *all;
	chs_store *s = admin_store(&dir);
	sqlite3_stmt *st = NULL;
	const unsigned char *admin, *kr;
	size_t n, krlen, off;
	unsigned shares;
	int c;

	for (shares = 0; shares <= 3; shares += 3) {
		make_kit(s, shares, 2, &texts, &n);
		all = squeezed(texts, n);
		ck_assert_int_eq(chs_store__prepare(s, &st, "SELECT admin, keyring FROM org_secret"),
				 0);
		ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
		admin = sqlite3_column_blob(st, 0);
		kr = sqlite3_column_blob(st, 1);
		krlen = (size_t)sqlite3_column_bytes(st, 1);
		absent(all, admin, 32, "the admin key");
		absent(all, admin + 16, 16, "part of the admin key");
		/* every data key: after each compartment's 4-byte count */
		for (off = 0, c = 0; c < CHS_NCOMPARTMENTS; c++) {
			uint32_t g, gens;

			ck_assert_uint_le(off + 4, krlen);
			gens = (uint32_t)kr[off] << 24 | (uint32_t)kr[off + 1] << 16 |
			       (uint32_t)kr[off + 2] << 8 | kr[off + 3];
			ck_assert_uint_ge(gens, 1);
			for (off += 4, g = 0; g < gens; g++, off += 32) {
				ck_assert_uint_le(off + 32, krlen);
				absent(all, kr + off, 32, "a data key");
			}
		}
		chs_store__finish(s, st);
		st = NULL;
		ck_assert_ptr_null(strstr(all, "chartsync-slot"));
		ck_assert_ptr_null(strstr(all, "recovery-kit"));
		free(all);
		chs_kit_texts_free(texts, n);
		texts = NULL;
	}
	chs_store_free(s);
	free(dir);
}
END_TEST

START_TEST(test_kit__only_the_admin_store_makes_a_kit)
{
	char **texts = NULL, *dir;
	chs_store *s = tu_store_new(top, "bob", "clinic-a-1", NULL, &dir);
	chs_kit_opts o = { 3, 4, &fast };
	size_t n;

	ck_assert_int_eq(chs_org_recovery_kit(s, PASS, strlen(PASS), NULL, &texts, &n),
			 CHS_EDENIED);
	ck_assert_ptr_null(texts);
	chs_store_free(s);
	free(dir);
	s = admin_store(&dir);
	ck_assert_int_eq(chs_org_recovery_kit(s, PASS, strlen(PASS), &o, &texts, &n),
			 CHS_EINVALID);
	ck_assert_int_eq(chs_org_recovery_kit(s, "", 0, NULL, &texts, &n), CHS_EINVALID);
	chs_store_free(s);
	free(dir);
}
END_TEST

/* ---- kits that can no longer recover, said plainly ---- */

/* The roster of the kit's organisation signed by another admin key (as
 * after the admin key was replaced), in a bare repository of its own. */
static char *archive_under_another_key(const char *org)
{
	char *path = tu_path(top, "replaced.git"), oid[41];
	chs_identity *other = NULL, *dev = NULL;
	chs_roster *r = NULL;
	chs_keyring kr;
	chs_git *g = NULL;

	ck_assert_int_eq(tu_sh("git init -q --bare '%s'", path), 0);
	ck_assert_int_eq(chs_identity_new(&other), 0);
	ck_assert_int_eq(chs_identity_new(&dev), 0);
	ck_assert_int_eq(chs_keyring_init(&kr), 0);
	ck_assert_int_eq(chs_roster_new(&r, org, chs_identity_public(other), &kr), 0);
	ck_assert_int_eq(chs_roster_enroll(r, &kr, chs_identity_public(dev), "central",
					   CHS_ROLE_ARCHIVIST), 0);
	ck_assert_int_eq(chs_git_open(&g, path), 0);
	ck_assert_msg(chs_roster_commit(g, CHS_ROSTER_REF, r, other, oid) == 0, "%s",
		      chs_error_last());
	chs_git_free(g);
	chs_roster_free(r);
	chs_keyring_dispose(&kr);
	chs_identity_free(dev);
	chs_identity_free(other);
	return path;
}

START_TEST(test_kit__an_admin_key_replaced_since_the_kit_is_said_plainly)
{
	char **texts = NULL, *dir, *fresh_dir, *replaced, org[33];
	chs_store *s = admin_store(&dir), *fresh;
	chs_recover_opts ro = { NULL, NULL, NULL };
	chs_recover_result res;
	const char *one[1];
	size_t n;
	int admin = 1;

	make_kit(s, 0, 0, &texts, &n);
	one[0] = texts[0];
	ck_assert_int_eq(chs_kit_check(one, 1, org), 0);
	replaced = archive_under_another_key(org);
	fresh = tu_store_new(top, "rita", "laptop-2", NULL, &fresh_dir);
	ro.archive = replaced;
	ck_assert_int_eq(chs_org_recover(fresh, one, 1, PASS, strlen(PASS), &ro, &res),
			 CHS_EDENIED);
	ck_assert_msg(strstr(chs_error_last(), "admin key was replaced since this kit was made"),
		      "%s", chs_error_last());
	/* the kit's secrets were not taken */
	ck_assert_int_eq(chs_store__org_admin(fresh, &admin), 0);
	ck_assert_int_eq(admin, 0);
	chs_kit_texts_free(texts, n);
	chs_store_free(fresh);
	chs_store_free(s);
	free(replaced);
	free(fresh_dir);
	free(dir);
}
END_TEST

static void state_hash(chs_store *s, char hash[65]);
static void add_patient(chs_store *s, const char *name, const char *mrn, char id[33]);

/* A version 2 roster seals every data key to the admin key: a kit made
 * before a revocation recovers the keys made since from the roster. */
START_TEST(test_kit__a_kit_older_than_a_revocation_recovers_the_newer_keys)
{
	char *archive, *dirs[2], **texts = NULL, *fresh_dir, *c3dir, dev[33], pid[33];
	char h0[65], h3[65];
	chs_store *st[2], *fresh, *c3;
	chs_recover_opts ro = { NULL, NULL, NULL };
	chs_recover_result res;
	const char *one[1];
	uint64_t after;
	size_t n;
	int admin = 0;

	archive = tu_archive_new(top);
	tu_org_new(top, archive, tu_org_members, 2, st, dirs);
	make_kit(st[0], 0, 0, &texts, &n);
	/* a revocation after the kit: new data keys the kit does not hold,
	 * and a chart sealed under them */
	ck_assert_int_eq(chs_device_revoke(st[0], chs_store_device_id(st[1]), dev, &after), 0);
	add_patient(st[0], "Grace Hopper", "A-3003", pid);
	tu_sync_ok(st[0]);
	one[0] = texts[0];
	fresh = tu_store_new(top, "rita", "laptop-2", NULL, &fresh_dir);
	ro.archive = archive;
	ck_assert_msg(chs_org_recover(fresh, one, 1, PASS, strlen(PASS), &ro, &res) == 0, "%s",
		      chs_error_last());
	ck_assert_int_eq(chs_store__org_admin(fresh, &admin), 0);
	ck_assert_int_eq(admin, 1);
	/* a clinic it enrolls reads the chart sealed under the newer keys */
	c3 = tu_store_new(top, "eve", "clinic-c-1", archive, &c3dir);
	tu_enroll(fresh, c3, "Clinic C", "clinic");
	tu_sync_ok(fresh);
	tu_sync_ok(c3);
	tu_sync_ok(st[0]);
	tu_sync_ok(c3);
	tu_sync_ok(fresh);
	tu_sync_ok(st[0]);
	state_hash(st[0], h0);
	state_hash(c3, h3);
	ck_assert_str_eq(h0, h3);
	chs_kit_texts_free(texts, n);
	chs_store_free(c3);
	chs_store_free(fresh);
	tu_org_free(st, dirs, 2);
	free(c3dir);
	free(fresh_dir);
	free(archive);
}
END_TEST

/* ---- the whole story, over a real archive ---- */

enum { ADMIN, C1, C2, NSTORES };

static void state_hash(chs_store *s, char hash[65])
{
	int64_t n;

	ck_assert_msg(chs_store_verify(s, 1, hash, &n) == 0, "%s", chs_error_last());
}

static void add_patient(chs_store *s, const char *name, const char *mrn, char id[33])
{
	chs_edit p[] = { tu_edit("name", name), tu_edit("dob", "1961-07-14"),
			 tu_edit("mrn", mrn) };

	ck_assert_msg(chs_record_add(s, "patient", p, 3, NULL, NULL, id) == 0, "%s",
		      chs_error_last());
}

START_TEST(test_kit__a_fresh_store_recovers_the_organisation_and_enrolls_a_clinic)
{
	char *srv = tu_path(top, "srv"), *archive = tu_path(srv, "archive.git"), *url, *dirs[3];
	char *home = tu_path(top, "home"), *rdir, *c3dir, **texts = NULL, h1[65], h3[65];
	char old_admin[33], p1[33], p3[33], revoked[33];
	const char *two[2];
	chs_store *st[NSTORES], *rec, *c3;
	chs_recover_opts ro = { NULL, "central (recovered)", NULL };
	chs_recover_result res;
	chs_device_roster *r = NULL;
	tu_gitserver daemon;
	uint64_t after;
	size_t n, i;

	ck_assert_int_eq(tu_sh("mkdir -p '%s'", home), 0);
	ck_assert_int_eq(setenv("HOME", home, 1), 0);
	ck_assert_int_eq(tu_sh("'%s' archive init '%s' >/dev/null", CHARTSYNC_BIN, archive), 0);
	tu_gitserver_start(&daemon, srv);
	url = tu_gitserver_url(&daemon, "archive.git");
	tu_org_new(top, url, tu_org_members, NSTORES, st, dirs);
	add_patient(st[C1], "Maria Lopez", "A-1001", p1);
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[C2]);

	/* the kit, 3 shares of which any 2 recover it; then the admin's
	 * laptop is lost */
	make_kit(st[ADMIN], 3, 2, &texts, &n);
	memcpy(old_admin, chs_store_device_id(st[ADMIN]), 33);
	chs_store_free(st[ADMIN]);
	st[ADMIN] = NULL;
	tu_rmtree(dirs[ADMIN]);

	/* one share is not enough, on a fresh store */
	rec = tu_store_new(top, "rita", "laptop-2", NULL, &rdir);
	two[0] = texts[2];
	ck_assert_int_eq(chs_org_recover(rec, two, 1, PASS, strlen(PASS), NULL, &res),
			 CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "1 of the 2 shares needed were given"));
	/* shares 3 and 1 are, but not in a clinic's store */
	two[1] = texts[0];
	ro.archive = url;
	ck_assert_int_eq(chs_org_recover(st[C1], two, 2, PASS, strlen(PASS), &ro, &res),
			 CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "recover in a new store"));
	{
		int admin = 1;

		ck_assert_int_eq(chs_store__org_admin(st[C1], &admin), 0);
		ck_assert_int_eq(admin, 0);
	}
	ck_assert_msg(chs_org_recover(rec, two, 2, PASS, strlen(PASS), &ro, &res) == 0, "%s",
		      chs_error_last());
	ck_assert_str_eq(res.device, chs_store_device_id(rec));
	ck_assert_uint_ge(res.batches_in, 1);
	ck_assert_int_eq(chs_device_list(&r, rec), 0);
	for (i = 0; i < chs_device_roster_count(r); i++) {
		const chs_device_info *d = chs_device_roster_get(r, i);

		if (d->self) {
			ck_assert_str_eq(d->role, "archivist");
			ck_assert_str_eq(d->site, "central (recovered)");
		}
	}
	ck_assert_uint_eq(chs_device_roster_count(r), 4);
	chs_device_roster_free(r);

	/* the recovered admin enrolls a new clinic, and revokes the lost
	 * laptop's device */
	c3 = tu_store_new(top, "eve", "clinic-c-1", url, &c3dir);
	tu_enroll(rec, c3, "Clinic C", "clinic");
	ck_assert_msg(chs_device_revoke(rec, old_admin, revoked, &after) == 0, "%s",
		      chs_error_last());
	tu_sync_ok(rec);
	tu_sync_ok(c3);
	add_patient(c3, "Ada Lovelace", "C-2002", p3);
	tu_sync_ok(c3);
	/* the clinics that never saw the loss go on */
	tu_sync_ok(st[C1]);
	tu_sync_ok(st[C2]);
	tu_sync_ok(c3);
	tu_sync_ok(rec);
	state_hash(st[C1], h1);
	state_hash(c3, h3);
	ck_assert_str_eq(h1, h3);
	state_hash(st[C2], h3);
	ck_assert_str_eq(h1, h3);
	state_hash(rec, h3);
	ck_assert_str_eq(h1, h3);

	chs_kit_texts_free(texts, n);
	chs_store_free(c3);
	chs_store_free(rec);
	tu_gitserver_stop(&daemon);
	tu_org_free(st, dirs, NSTORES);
	free(c3dir);
	free(rdir);
	free(url);
	free(home);
	free(archive);
	free(srv);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client-replicate-kit");
	TCase *tc = tcase_create("kit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_kit__text_round_trip_names_the_organisation);
	tcase_add_test(tc, test_kit__a_mistyped_share_is_named_by_share_and_line);
	tcase_add_test(tc, test_kit__every_cut_and_every_typo_is_refused);
	tcase_add_test(tc, test_kit__fewer_shares_than_the_threshold_recover_nothing);
	tcase_add_test(tc, test_kit__a_wrong_passphrase_is_refused_and_changes_nothing);
	tcase_add_test(tc, test_kit__a_kit_holds_no_secret_in_the_clear);
	tcase_add_test(tc, test_kit__only_the_admin_store_makes_a_kit);
	tcase_add_test(tc, test_kit__an_admin_key_replaced_since_the_kit_is_said_plainly);
	tcase_add_test(tc, test_kit__a_kit_older_than_a_revocation_recovers_the_newer_keys);
	tcase_add_test(tc, test_kit__a_fresh_store_recovers_the_organisation_and_enrolls_a_clinic);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
