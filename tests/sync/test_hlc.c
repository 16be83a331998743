/*
 * sync/: the hybrid logical clock.
 */
#include "sync/sync.h"
#include "support/testutil.h"

START_TEST(test_hlc__never_goes_backwards)
{
	chs_hlc t = 0, prev = 0;
	uint64_t wall[] = { 1000, 1000, 999, 500, 1001, 1001, 2000 };
	size_t i;

	for (i = 0; i < sizeof(wall) / sizeof(wall[0]); i++) {
		t = chs_hlc_next(t, wall[i]);
		ck_assert_uint_gt(t, prev);
		prev = t;
	}
	ck_assert_uint_eq(chs_hlc_ms(t), 2000);
}
END_TEST

START_TEST(test_hlc__orders_after_a_remote_stamp_from_a_fast_clock)
{
	chs_hlc local = chs_hlc_next(0, 1000);
	chs_hlc remote = chs_hlc_next(0, 50000); /* a device whose clock runs ahead */
	chs_hlc seen = chs_hlc_observe(local, remote, 1001);
	chs_hlc next = chs_hlc_next(seen, 1002);

	ck_assert_uint_ge(seen, remote);
	ck_assert_uint_gt(next, remote);
	/* Once the wall clock catches up, it takes over again. */
	ck_assert_uint_eq(chs_hlc_ms(chs_hlc_next(next, 60000)), 60000);
}
END_TEST

START_TEST(test_hlc__counter_overflow_stays_monotonic)
{
	chs_hlc t = chs_hlc_next(0, 7);
	int i;

	for (i = 0; i < 70000; i++) {
		chs_hlc n = chs_hlc_next(t, 7);

		ck_assert_uint_gt(n, t);
		t = n;
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("hlc");

	tcase_add_test(tc, test_hlc__never_goes_backwards);
	tcase_add_test(tc, test_hlc__orders_after_a_remote_stamp_from_a_fast_clock);
	tcase_add_test(tc, test_hlc__counter_overflow_stays_monotonic);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
