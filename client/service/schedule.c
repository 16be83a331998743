/*
 * client/service/schedule.c - when the next sync is due.
 *
 * Everything here is wall-clock time in ms: libuv's timers run on the
 * monotonic clock, which stops while a machine sleeps, so a schedule
 * kept on it would let a laptop that slept through the night wait out
 * the rest of its interval on waking. The daemon keeps the last good
 * sync's wall-clock time and asks here afresh after every wake-up of the
 * loop; a due time already past means "now" (catch-up).
 *
 * Each store adds a fixed offset (chosen once, kept in the store) so the
 * clinics of a network, started together, do not all reach the archive
 * in the same minute.
 */
#include "service_int.h"

#include <time.h>

#define BACKOFF_FIRST_MS 30000ull        /* 30 s ... */
#define BACKOFF_CAP_MS (15ull * 60000)   /* ... doubling to 15 min */
#define DAY_MIN (24 * 60)

/* Minutes after local midnight of `ms`, and the ms at that midnight. */
static int local_minute(uint64_t ms, uint64_t *midnight_ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	*midnight_ms = ms - ((uint64_t)tm.tm_hour * 3600 + (uint64_t)tm.tm_min * 60 +
			     (uint64_t)tm.tm_sec) * 1000 - ms % 1000;
	return tm.tm_hour * 60 + tm.tm_min;
}

static int in_window(int minute, int start, int end)
{
	return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}

/* The next time inside the window at or after `now` (plus the offset,
 * kept inside the window), when the window has not had a good sync yet
 * in its current opening. */
static uint64_t window_due(const chs_schedule_conf *c, uint64_t last_good, uint64_t now)
{
	uint64_t midnight, opened, due;
	int minute = local_minute(now, &midnight);
	int len = (c->window_end - c->window_start + DAY_MIN) % DAY_MIN;
	uint64_t offset = c->offset_ms % ((uint64_t)len * 60000 / 2 + 1);

	if (in_window(minute, c->window_start, c->window_end)) {
		/* when this opening began: today, or yesterday for a window
		 * that crossed midnight */
		opened = midnight + (uint64_t)c->window_start * 60000;
		if (opened > now)
			opened -= (uint64_t)DAY_MIN * 60000;
		if (last_good < opened) {
			due = opened + offset;
			return due > now ? due : now;
		}
	}
	/* the next opening (a DST day is off by an hour at most: harmless) */
	due = midnight + (uint64_t)c->window_start * 60000;
	while (due <= now || (last_good >= due))
		due += (uint64_t)DAY_MIN * 60000;
	return due + offset;
}

uint64_t chs_service__next_sync(const chs_schedule_conf *c, uint64_t last_good_ms,
				uint64_t now_ms)
{
	uint64_t due = UINT64_MAX, w;

	if (c->interval_s > 0) {
		due = last_good_ms ? last_good_ms + (uint64_t)c->interval_s * 1000 +
			c->offset_ms % ((uint64_t)c->interval_s * 1000 / 4 + 1) : now_ms;
		if (due < now_ms)
			due = now_ms;
	}
	if (c->window_start >= 0 && (w = window_due(c, last_good_ms, now_ms)) < due)
		due = w;
	return due;
}

static uint64_t random_below(uint64_t n)
{
	uint64_t r;

	chs_random(&r, sizeof(r));
	return r % n; /* n is at most 15 min in ms: the bias is below 2^-40 */
}

uint64_t chs_service__backoff_fail(chs_backoff *b)
{
	uint64_t cap = BACKOFF_FIRST_MS;
	unsigned i;

	for (i = 0; i < b->failures && cap < BACKOFF_CAP_MS; i++)
		cap *= 2;
	if (cap > BACKOFF_CAP_MS)
		cap = BACKOFF_CAP_MS;
	b->failures++;
	/* full jitter: uniform in [0, cap] (AWS's "Exponential Backoff And
	 * Jitter"), at least a second so a failing archive is not hammered */
	b->delay_ms = 1000 + random_below(cap);
	return b->delay_ms;
}

void chs_service__backoff_reset(chs_backoff *b)
{
	b->failures = 0;
	b->delay_ms = 0;
}
