/*
 * client/service/notify.c - telling systemd how the service is.
 *
 * libsystemd's sd_notify() (Debian's libsystemd-dev): it is systemd's own
 * implementation, handles abstract socket addresses and credentials, and
 * costs nothing when $NOTIFY_SOCKET is unset, so one code path serves a
 * service run by systemd and one started by hand.
 */
#include "service_int.h"

#include <systemd/sd-daemon.h>

void chs_service__notify(const char *state)
{
	(void)sd_notify(0, state);
}

uint64_t chs_service__watchdog_ms(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec / 2000; /* half the limit, in ms */
}
