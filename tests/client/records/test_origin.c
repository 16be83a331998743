/*
 * client/records: where a change came from (chs_change_origin_get), as
 * the desk shows it beside each candidate under review, and how far a
 * device's chain of batches reached this store.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <stdlib.h>
#include <string.h>

static char *dir;
static chs_store *s;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	s = tu_store_temp("maria", "front-desk", &dir);
}

static void teardown(void)
{
	chs_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

/* The change that made record `id` (its only head). */
static void head_of(const char *id, char change[65])
{
	chs_record *r = NULL;

	ck_assert_int_eq(chs_record_lookup(&r, s, id), 0);
	ck_assert_uint_eq(chs_record_head_count(r), 1);
	snprintf(change, 65, "%s", chs_record_head(r, 0));
	chs_record_free(r);
}

START_TEST(test_origin__a_local_change_names_its_batch_device_and_a_valid_signature)
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1") };
	chs_edit q[] = { tu_edit("name", "Bo Stone"), tu_edit("mrn", "B-2") };
	chs_change_origin o;
	char id[33], change[65];
	uint64_t dseq;
	int64_t at, before = (int64_t)time(NULL);

	ck_assert_int_eq(chs_record_add(s, "patient", p, 2, NULL, NULL, id), 0);
	ck_assert_int_eq(chs_record_add(s, "patient", q, 2, NULL, NULL, id), 0);
	head_of(id, change);
	ck_assert_msg(chs_change_origin_get(s, change, &o) == 0, "%s", chs_error_last());
	ck_assert_str_eq(o.device, chs_store_device_id(s));
	ck_assert_uint_eq(strlen(o.key), 64);
	ck_assert_uint_eq(strlen(o.batch), 64);
	ck_assert_int_eq(o.local, 1);
	ck_assert_int_eq(o.signature_ok, 1);
	ck_assert_uint_eq(o.dseq, 2);
	ck_assert_int_ge(o.received, before);

	ck_assert_int_eq(chs_store_device_last_batch(s, chs_store_device_id(s), &dseq, &at), 0);
	ck_assert_uint_eq(dseq, 2);
	ck_assert_int_ge(at, before);
	ck_assert_int_eq(chs_store_device_last_batch(s, "00112233445566778899aabbccddeeff",
						     &dseq, &at), 0);
	ck_assert_uint_eq(dseq, 0);
	ck_assert_int_eq(at, 0);
}
END_TEST

START_TEST(test_origin__an_altered_signature_is_reported_not_trusted)
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1") };
	chs_change_origin o;
	char id[33], change[65];

	ck_assert_int_eq(chs_record_add(s, "patient", p, 2, NULL, NULL, id), 0);
	head_of(id, change);
	/* the stored signature zeroed, as a damaged or forged
	 * store would hold it */
	ck_assert_int_eq(chs_store__exec(s, "UPDATE batches SET signature ="
					 " zeroblob(64)"), 0);
	ck_assert_msg(chs_change_origin_get(s, change, &o) == 0, "%s", chs_error_last());
	ck_assert_int_eq(o.signature_ok, 0);

	ck_assert_int_eq(chs_change_origin_get(s, "00", &o), CHS_ENOTFOUND);
	memset(change, 'a', 64);
	ck_assert_int_eq(chs_change_origin_get(s, change, &o), CHS_ENOTFOUND);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("client_records_origin");
	TCase *tc = tcase_create("origin");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_origin__a_local_change_names_its_batch_device_and_a_valid_signature);
	tcase_add_test(tc, test_origin__an_altered_signature_is_reported_not_trusted);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
