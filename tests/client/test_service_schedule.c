/*
 * tests/client/test_service_schedule.c - when the service syncs
 * (client/service/schedule.c): interval and catch-up after a sleep, the
 * nightly window, the per-store offset, and the backoff's bounds.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "client/service/schedule.h"

#define MIN 60000ull
#define HOUR (60 * MIN)
/* 2026-12-04T00:00:00Z */
#define MIDNIGHT 1796342400000ull

static void utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

static chs_schedule_conf conf(long interval_s, int start, int end)
{
	chs_schedule_conf c = { interval_s, start, end, 30, 0 };

	return c;
}

START_TEST(test_interval_and_catch_up)
{
	chs_schedule_conf c = conf(300, -1, -1);
	uint64_t now = MIDNIGHT + 10 * HOUR;

	utc();
	/* never synced: now */
	ck_assert_uint_eq(chs_service__next_sync(&c, 0, now), now);
	/* synced a minute ago: four minutes from now */
	ck_assert_uint_eq(chs_service__next_sync(&c, now - MIN, now), now + 4 * MIN);
	/* the machine slept through the night: due at once, not 5 min later */
	ck_assert_uint_eq(chs_service__next_sync(&c, now - 9 * HOUR, now), now);
}
END_TEST

START_TEST(test_offset_spreads_clinics)
{
	chs_schedule_conf a = conf(300, -1, -1), b = conf(300, -1, -1);
	uint64_t now = MIDNIGHT + 10 * HOUR, last = now - MIN;

	utc();
	a.offset_ms = 7000;
	b.offset_ms = 41000;
	ck_assert_uint_eq(chs_service__next_sync(&a, last, now), last + 5 * MIN + 7000);
	ck_assert_uint_eq(chs_service__next_sync(&b, last, now), last + 5 * MIN + 41000 % 75001);
	ck_assert_uint_ne(chs_service__next_sync(&a, last, now),
			  chs_service__next_sync(&b, last, now));
}
END_TEST

START_TEST(test_window)
{
	/* the billing office: no interval, 01:00-04:00 */
	chs_schedule_conf c = conf(0, 60, 240);
	uint64_t evening = MIDNIGHT + 18 * HOUR;

	utc();
	/* at 18:00, the next opening is 01:00 tomorrow */
	ck_assert_uint_eq(chs_service__next_sync(&c, evening - HOUR, evening),
			  MIDNIGHT + 25 * HOUR);
	/* inside the window with no good sync in it yet: now */
	ck_assert_uint_eq(chs_service__next_sync(&c, MIDNIGHT - 20 * HOUR, MIDNIGHT + 2 * HOUR),
			  MIDNIGHT + 2 * HOUR);
	/* inside the window after a good sync in it: tomorrow's opening */
	ck_assert_uint_eq(chs_service__next_sync(&c, MIDNIGHT + 90 * MIN, MIDNIGHT + 2 * HOUR),
			  MIDNIGHT + 25 * HOUR);
	/* a window across midnight, 22:30-04:00, at 01:00 with the last sync
	 * the previous afternoon: now */
	c = conf(0, 22 * 60 + 30, 240);
	ck_assert_uint_eq(chs_service__next_sync(&c, MIDNIGHT - 10 * HOUR, MIDNIGHT + HOUR),
			  MIDNIGHT + HOUR);
	/* neither interval nor window: never */
	c = conf(0, -1, -1);
	ck_assert_uint_eq(chs_service__next_sync(&c, 0, evening), UINT64_MAX);
}
END_TEST

START_TEST(test_window_and_interval)
{
	/* both: whichever is first */
	chs_schedule_conf c = conf(3600, 60, 240);
	uint64_t now = MIDNIGHT + 30 * MIN;

	utc();
	ck_assert_uint_eq(chs_service__next_sync(&c, now - 10 * MIN, now), now + 30 * MIN);
}
END_TEST

START_TEST(test_backoff_bounds)
{
	chs_backoff b = { 0, 0 };
	uint64_t cap = 30000, d;
	unsigned i;

	for (i = 0; i < 12; i++) {
		d = chs_service__backoff_fail(&b);
		ck_assert_uint_eq(b.failures, i + 1);
		ck_assert_uint_ge(d, 1000);
		ck_assert_uint_le(d, 1000 + cap);
		cap = cap * 2 > 15 * MIN ? 15 * MIN : cap * 2;
	}
	chs_service__backoff_reset(&b);
	ck_assert_uint_eq(b.failures, 0);
	/* full jitter: the first waits are not all the same */
	{
		uint64_t first = chs_service__backoff_fail(&b), other = first;

		for (i = 0; i < 20 && other == first; i++) {
			chs_service__backoff_reset(&b);
			other = chs_service__backoff_fail(&b);
		}
		ck_assert_uint_ne(first, other);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("service_schedule");
	TCase *tc = tcase_create("schedule");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_interval_and_catch_up);
	tcase_add_test(tc, test_offset_spreads_clinics);
	tcase_add_test(tc, test_window);
	tcase_add_test(tc, test_window_and_interval);
	tcase_add_test(tc, test_backoff_bounds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
