/*
 * Hybrid logical clock. See sync/sync.h for the contract.
 */
#include "sync/sync.h"

#include <time.h>

#define COUNTER_MASK ((UINT64_C(1) << CHS_HLC_COUNTER_BITS) - 1)

static chs_hlc make(uint64_t ms, uint64_t counter)
{
	return (ms << CHS_HLC_COUNTER_BITS) | (counter & COUNTER_MASK);
}

uint64_t chs_hlc_ms(chs_hlc t)
{
	return t >> CHS_HLC_COUNTER_BITS;
}

uint64_t chs_hlc_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

chs_hlc chs_hlc_next(chs_hlc last, uint64_t now_ms)
{
	if (now_ms > chs_hlc_ms(last))
		return make(now_ms, 0);
	/* The wall clock has not moved past the last stamp: count on. When
	 * the counter is full, borrow the next millisecond; the sum is still
	 * strictly increasing. */
	return last + 1;
}

chs_hlc chs_hlc_observe(chs_hlc last, chs_hlc remote, uint64_t now_ms)
{
	chs_hlc high = last > remote ? last : remote;

	if (now_ms > chs_hlc_ms(high))
		return make(now_ms, 0);
	return high;
}
