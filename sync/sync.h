/*
 * sync/sync.h - versioned changes and their replication.
 *
 * This module grows with the records and replication issues; today it
 * offers the hybrid logical clock that stamps every change.
 */
#ifndef CHS_SYNC_H
#define CHS_SYNC_H

#include <stdint.h>

/* ---------------------------------------------------------------------
 * Hybrid logical clock (Kulkarni et al., 2014)
 *
 * A timestamp is one uint64_t: the upper 48 bits are wall-clock
 * milliseconds since the Unix epoch, the lower 16 bits a counter that
 * orders events within one millisecond or while the wall clock lags a
 * timestamp already seen. Timestamps from one clock never go backwards,
 * and a clock that has observed a remote timestamp stamps later events
 * after it, so causal order is kept whatever the devices' clocks say.
 */
typedef uint64_t chs_hlc;

#define CHS_HLC_COUNTER_BITS 16

/* The next timestamp after `last` (0 for a new clock) at wall time
 * `now_ms` (pass chs_hlc_wall_ms()). */
chs_hlc chs_hlc_next(chs_hlc last, uint64_t now_ms);
/* The clock after receiving `remote`: the result is >= both inputs, and
 * the next local timestamp will be later than `remote`. */
chs_hlc chs_hlc_observe(chs_hlc last, chs_hlc remote, uint64_t now_ms);
uint64_t chs_hlc_wall_ms(void);
/* Wall-clock milliseconds part of a timestamp. */
uint64_t chs_hlc_ms(chs_hlc t);

#endif
