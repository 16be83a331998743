/*
 * client/service/daemon.c - chs_service_run(): the loop.
 * (Being written.)
 */
#include "service_int.h"

int chs_service_run(const chs_service_opts *opts)
{
	(void)opts;
	return chs_error_set(CHS_ERROR, "the service is not built yet");
}
