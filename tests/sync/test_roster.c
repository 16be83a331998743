/*
 * sync/roster: who may write and who may read what, signed by the admin.
 */
#include "sync/sync.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char org[] = "00112233445566778899aabbccddeeff";
static chs_identity *admin, *clinic, *billing, *archivist;
static chs_keyring kr;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	ck_assert_int_eq(chs_identity_new(&admin), 0);
	ck_assert_int_eq(chs_identity_new(&clinic), 0);
	ck_assert_int_eq(chs_identity_new(&billing), 0);
	ck_assert_int_eq(chs_identity_new(&archivist), 0);
	ck_assert_int_eq(chs_keyring_init(&kr), 0);
}

static void teardown(void)
{
	chs_identity_free(admin);
	chs_identity_free(clinic);
	chs_identity_free(billing);
	chs_identity_free(archivist);
	chs_keyring_dispose(&kr);
}

static chs_roster *three_sites(void)
{
	chs_roster *r = NULL;

	ck_assert_int_eq(chs_roster_new(&r, org, chs_identity_public(admin), &kr), 0);
	ck_assert_int_eq(chs_roster_enroll(r, &kr, chs_identity_public(clinic), "Main St clinic",
					   CHS_ROLE_CLINIC), 0);
	ck_assert_int_eq(chs_roster_enroll(r, &kr, chs_identity_public(billing), "Billing office",
					   CHS_ROLE_BILLING), 0);
	ck_assert_int_eq(chs_roster_enroll(r, &kr, chs_identity_public(archivist), "Archive",
					   CHS_ROLE_ARCHIVIST), 0);
	return r;
}

/* Sign and read back: what a device would fetch. */
static chs_roster *round_trip(const chs_roster *r)
{
	unsigned char sig[64];
	chs_roster *back = NULL;
	chs_buf b;

	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_roster_sign(r, admin, &b, sig), 0);
	ck_assert_msg(chs_roster_parse(&back, b.ptr, b.len, sig) == 0, "%s", chs_error_last());
	chs_buf_dispose(&b);
	return back;
}

static int can_open(const chs_roster *r, const chs_identity *me, int comp, uint32_t gen)
{
	unsigned char *key = chs_secret_alloc(32);
	int ok = chs_roster_open_key(r, me, comp, gen, key) == 0 &&
		 memcmp(key, kr.key[comp][gen - 1], 32) == 0;

	chs_secret_free(key);
	return ok;
}

START_TEST(test_roster__each_role_gets_the_keys_it_may_read)
{
	chs_roster *r = three_sites(), *back = round_trip(r);

	ck_assert_uint_eq(chs_roster_count(back), 3);
	ck_assert_str_eq(chs_roster_org(back), org);
	ck_assert(can_open(back, clinic, CHS_COMPARTMENT_CLINICAL, 1));
	ck_assert(can_open(back, clinic, CHS_COMPARTMENT_BILLING, 1));
	ck_assert(can_open(back, archivist, CHS_COMPARTMENT_CLINICAL, 1));
	ck_assert(can_open(back, billing, CHS_COMPARTMENT_BILLING, 1));
	/* a billing office never gets the clinical key */
	ck_assert(!can_open(back, billing, CHS_COMPARTMENT_CLINICAL, 1));
	/* a device not on the roster gets nothing */
	ck_assert(!can_open(back, admin, CHS_COMPARTMENT_BILLING, 1));
	chs_roster_free(back);
	chs_roster_free(r);
}
END_TEST

START_TEST(test_roster__revocation_pins_and_closes_new_keys)
{
	chs_roster *r = three_sites(), *back;
	char id[33];
	const chs_roster_device *d;
	uint64_t seq = chs_roster_seq(r);

	chs_identity_device_id(clinic, id);
	ck_assert_int_eq(chs_roster_revoke(r, &kr, id, 41), 0);
	ck_assert_int_eq(chs_roster_revoke(r, &kr, id, 41), CHS_EEXISTS);
	ck_assert_uint_gt(chs_roster_seq(r), seq);
	back = round_trip(r);
	d = chs_roster_find(back, id);
	ck_assert(d && d->revoked);
	ck_assert_uint_eq(d->revoked_after, 41);
	ck_assert_uint_eq(chs_roster_generation(back, CHS_COMPARTMENT_CLINICAL), 2);
	/* the revoked clinic keeps what it had, and gets nothing new */
	ck_assert(can_open(back, clinic, CHS_COMPARTMENT_CLINICAL, 1));
	ck_assert(!can_open(back, clinic, CHS_COMPARTMENT_CLINICAL, 2));
	ck_assert(can_open(back, archivist, CHS_COMPARTMENT_CLINICAL, 2));
	ck_assert(can_open(back, billing, CHS_COMPARTMENT_BILLING, 2));
	ck_assert(!can_open(back, billing, CHS_COMPARTMENT_CLINICAL, 2));
	chs_roster_free(back);
	chs_roster_free(r);
}
END_TEST

START_TEST(test_roster__a_new_device_gets_every_generation)
{
	chs_roster *r = three_sites(), *back;
	chs_identity *late = NULL;
	char id[33];

	chs_identity_device_id(clinic, id);
	ck_assert_int_eq(chs_roster_revoke(r, &kr, id, 7), 0);
	ck_assert_int_eq(chs_identity_new(&late), 0);
	ck_assert_int_eq(chs_roster_enroll(r, &kr, chs_identity_public(late), "New clinic",
					   CHS_ROLE_CLINIC), 0);
	ck_assert_int_eq(chs_roster_enroll(r, &kr, chs_identity_public(late), "Again",
					   CHS_ROLE_CLINIC), CHS_EEXISTS);
	back = round_trip(r);
	/* history written under generation 1 stays readable for it */
	ck_assert(can_open(back, late, CHS_COMPARTMENT_CLINICAL, 1));
	ck_assert(can_open(back, late, CHS_COMPARTMENT_CLINICAL, 2));
	chs_roster_free(back);
	chs_roster_free(r);
	chs_identity_free(late);
}
END_TEST

START_TEST(test_roster__only_the_admin_signs_and_any_change_breaks_it)
{
	chs_roster *r = three_sites(), *back = NULL;
	unsigned char sig[64];
	chs_buf b;
	size_t i;

	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_roster_sign(r, clinic, &b, sig), CHS_EDENIED);
	ck_assert_int_eq(chs_roster_sign(r, admin, &b, sig), 0);
	for (i = 0; i < b.len; i += b.len / 13 + 1) {
		b.ptr[i] ^= 0x01;
		ck_assert_int_eq(chs_roster_parse(&back, b.ptr, b.len, sig), CHS_EDAMAGED);
		ck_assert_ptr_null(back);
		b.ptr[i] ^= 0x01;
	}
	sig[5] ^= 1;
	ck_assert_int_eq(chs_roster_parse(&back, b.ptr, b.len, sig), CHS_EDAMAGED);
	sig[5] ^= 1;
	ck_assert_int_eq(chs_roster_parse(&back, b.ptr, b.len, sig), 0);
	ck_assert_mem_eq(chs_roster_admin(back), chs_identity_public(admin), 32);
	chs_roster_free(back);
	ck_assert_int_eq(chs_roster_parse(&back, "{}", 2, sig), CHS_EDAMAGED);
	ck_assert_int_eq(chs_roster_parse(&back, "not json", 8, sig), CHS_EDAMAGED);
	chs_buf_dispose(&b);
	chs_roster_free(r);
}
END_TEST

START_TEST(test_roster__roles_parse)
{
	chs_role role;

	ck_assert_int_eq(chs_role_parse("billing", &role), 0);
	ck_assert_int_eq(role, CHS_ROLE_BILLING);
	ck_assert_int_eq(chs_role_parse("janitor", &role), CHS_EINVALID);
	ck_assert(chs_role_reads(CHS_ROLE_BILLING, CHS_COMPARTMENT_BILLING));
	ck_assert(!chs_role_reads(CHS_ROLE_BILLING, CHS_COMPARTMENT_CLINICAL));
}
END_TEST

static chs_roster *parse_signed(const chs_roster *r, const chs_identity *signer)
{
	unsigned char sig[64];
	chs_roster *back = NULL;
	chs_buf b;

	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_roster_sign(r, signer, &b, sig), 0);
	ck_assert_msg(chs_roster_parse(&back, b.ptr, b.len, sig) == 0, "%s", chs_error_last());
	chs_buf_dispose(&b);
	return back;
}

START_TEST(test_roster__an_admin_device_opens_the_admin_key_and_every_data_key)
{
	chs_roster *r = three_sites(), *back;
	chs_identity *opened = NULL;
	chs_keyring ring;
	uint32_t g;
	int c;

	char id[33];

	chs_identity_device_id(clinic, id);
	ck_assert_int_eq(chs_roster_set_admin(r, id, admin), 0);
	back = round_trip(r);
	ck_assert_int_eq(chs_roster_version(back), 2);
	ck_assert_int_eq(chs_roster_open_admin(back, clinic, &opened), 0);
	ck_assert_mem_eq(chs_identity_public(opened), chs_identity_public(admin), 32);
	chs_identity_free(opened);
	ck_assert_int_eq(chs_roster_open_admin(back, archivist, &opened), CHS_ENOTFOUND);
	ck_assert_int_eq(chs_roster_open_admin_keys(back, admin, &ring), 0);
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		ck_assert_uint_eq(ring.gen[c], kr.gen[c]);
		for (g = 0; g < kr.gen[c]; g++)
			ck_assert_mem_eq(ring.key[c][g], kr.key[c][g], 32);
	}
	chs_keyring_dispose(&ring);
	ck_assert_int_eq(chs_roster_open_admin_keys(back, clinic, &ring), CHS_EDENIED);
	chs_roster_free(back);
	chs_roster_free(r);
}
END_TEST

START_TEST(test_roster__a_billing_device_cannot_be_an_admin_device)
{
	chs_roster *r = three_sites();
	char id[33];

	chs_identity_device_id(billing, id);
	ck_assert_int_eq(chs_roster_set_admin(r, id, admin), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "billing"));
	ck_assert(!chs_roster_find(r, id)->admin);
	chs_roster_free(r);
}
END_TEST

START_TEST(test_roster__a_new_admin_key_follows_only_with_the_old_keys_handover)
{
	chs_roster *r = three_sites(), *before, *after, *forged;
	chs_identity *fresh = NULL, *opened = NULL, *thief = NULL;
	char cid[33], aid[33];

	chs_identity_device_id(clinic, cid);
	chs_identity_device_id(archivist, aid);
	ck_assert_int_eq(chs_roster_set_admin(r, cid, admin), 0);
	ck_assert_int_eq(chs_roster_set_admin(r, aid, admin), 0);
	before = round_trip(r);
	/* the clinic's laptop is lost: revoked, and the admin key it held rotates */
	ck_assert_int_eq(chs_roster_revoke(r, &kr, cid, 0), 0);
	ck_assert_int_eq(chs_roster_rotate_admin(r, &kr, admin, &fresh), 0);
	after = parse_signed(r, fresh);
	ck_assert_int_eq(chs_roster_follows(before, after), 0);
	ck_assert_int_eq(chs_roster_open_admin(after, archivist, &opened), 0);
	ck_assert_mem_eq(chs_identity_public(opened), chs_identity_public(fresh), 32);
	chs_identity_free(opened);
	ck_assert_int_eq(chs_roster_open_admin(after, clinic, &opened), CHS_ENOTFOUND);
	/* the revoked clinic still holds the old key: its own rotation would
	 * have followed the old roster, but not the one that rotated it out */
	{
		chs_roster *copy = round_trip(before);
		chs_identity *t2 = NULL;

		ck_assert_int_eq(chs_roster_rotate_admin(copy, &kr, admin, &t2), 0);
		forged = parse_signed(copy, t2);
		ck_assert_int_eq(chs_roster_follows(before, forged), 0);
		ck_assert_int_eq(chs_roster_follows(after, forged), CHS_EDAMAGED);
		chs_roster_free(forged);
		chs_identity_free(t2);
		chs_roster_free(copy);
	}
	/* a forged handover: signed by a key that is not the admin key */
	ck_assert_int_eq(chs_identity_new(&thief), 0);
	{
		chs_roster *copy = NULL;
		chs_identity *t3 = NULL;

		ck_assert_int_eq(chs_roster_new(&copy, org, chs_identity_public(thief), &kr), 0);
		ck_assert_int_eq(chs_roster_rotate_admin(copy, &kr, thief, &t3), 0);
		forged = parse_signed(copy, t3);
		ck_assert_int_eq(chs_roster_follows(before, forged), CHS_EDAMAGED);
		ck_assert_ptr_nonnull(strstr(chs_error_last(), "forged"));
		chs_roster_free(forged);
		chs_identity_free(t3);
		chs_roster_free(copy);
	}
	chs_identity_free(thief);
	chs_roster_free(after);
	chs_roster_free(before);
	chs_identity_free(fresh);
	chs_roster_free(r);
}
END_TEST

/* A version 1 roster, as archives made before version 2 hold: read as it
 * is, byte for byte. */
START_TEST(test_roster__a_version_1_roster_is_still_read)
{
	char text[512];
	char pk[65];
	unsigned char sig[64];
	chs_roster *back = NULL, *nothing = NULL;
	int n;

	chs_hex(pk, chs_identity_public(admin), 32);
	n = snprintf(text, sizeof(text), "{\"admin\":\"%s\",\"devices\":[],\"generations\":"
		     "{\"billing\":1,\"clinical\":1},\"org\":\"%s\",\"seq\":3,\"v\":1}",
		     pk, org);
	chs_identity_sign(admin, sig, text, (size_t)n);
	ck_assert_msg(chs_roster_parse(&back, text, (size_t)n, sig) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_roster_version(back), 1);
	ck_assert_int_eq(chs_roster_seq(back), 3);
	ck_assert_int_eq(chs_roster_follows(back, back), 0);
	chs_roster_free(back);
	/* a version 2 roster's fields in a version 1 roster are refused */
	n = snprintf(text, sizeof(text), "{\"admin\":\"%s\",\"devices\":[],\"generations\":"
		     "{\"billing\":1,\"clinical\":1},\"handover\":null,\"org\":\"%s\","
		     "\"seq\":3,\"v\":1}", pk, org);
	chs_identity_sign(admin, sig, text, (size_t)n);
	ck_assert_int_eq(chs_roster_parse(&nothing, text, (size_t)n, sig), CHS_EDAMAGED);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync-roster");
	TCase *tc = tcase_create("roster");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roster__each_role_gets_the_keys_it_may_read);
	tcase_add_test(tc, test_roster__revocation_pins_and_closes_new_keys);
	tcase_add_test(tc, test_roster__a_new_device_gets_every_generation);
	tcase_add_test(tc, test_roster__only_the_admin_signs_and_any_change_breaks_it);
	tcase_add_test(tc, test_roster__roles_parse);
	tcase_add_test(tc, test_roster__an_admin_device_opens_the_admin_key_and_every_data_key);
	tcase_add_test(tc, test_roster__a_billing_device_cannot_be_an_admin_device);
	tcase_add_test(tc, test_roster__a_new_admin_key_follows_only_with_the_old_keys_handover);
	tcase_add_test(tc, test_roster__a_version_1_roster_is_still_read);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
