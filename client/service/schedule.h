/*
 * client/service/schedule.h - when the service's next sync is due
 * (schedule.c). Offered to the tests; the rest of client/service reaches
 * it through service_int.h.
 */
#ifndef CHS_CLIENT_SERVICE_SCHEDULE_H
#define CHS_CLIENT_SERVICE_SCHEDULE_H

#include <stdint.h>

typedef struct chs_schedule_conf {
	long interval_s;      /* 0: no interval */
	int window_start;     /* minutes after local midnight; -1: no window */
	int window_end;
	long after_write_s;
	uint64_t offset_ms;   /* this store's fixed offset, 0 .. 60 s */
} chs_schedule_conf;

typedef struct chs_backoff {
	unsigned failures;    /* in a row; 0 after a good sync */
	uint64_t delay_ms;    /* the current wait */
} chs_backoff;

/* When the next sync is due (wall-clock ms since the epoch), given the
 * last good sync's time (0: never) and now: the interval after the last
 * good sync (now when it already passed: catch-up), or the next opening
 * of the window (local time) that has had no good sync yet, whichever
 * comes first; each plus a share of the store's offset. Never earlier
 * than now; UINT64_MAX when neither an interval nor a window is set. */
uint64_t chs_service__next_sync(const chs_schedule_conf *c, uint64_t last_good_ms,
				uint64_t now_ms);
/* After a failed attempt: the wait before the next, with full jitter:
 * 1 s plus a random time below min(15 min, 30 s * 2^(failures before
 * this one)). */
uint64_t chs_service__backoff_fail(chs_backoff *b);
void chs_service__backoff_reset(chs_backoff *b);

#endif /* CHS_CLIENT_SERVICE_SCHEDULE_H */
