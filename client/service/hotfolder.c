/*
 * client/service/hotfolder.c - watching the hot folder.
 * (Being written: see service_int.h for the contract.)
 */
#include "service_int.h"

int chs_service__hotfolder_start(chs_hotfolder **out, uv_loop_t *loop,
				 const chs_hotfolder_opts *opts)
{
	(void)loop; (void)opts;
	*out = NULL;
	return chs_error_set(CHS_ERROR, "the hot folder is not watched yet");
}

void chs_service__hotfolder_done(chs_hotfolder *h, const char *name, int retry)
{
	(void)h; (void)name; (void)retry;
}

size_t chs_service__hotfolder_pending(const chs_hotfolder *h)
{
	(void)h;
	return 0;
}

void chs_service__hotfolder_rescan(chs_hotfolder *h)
{
	(void)h;
}

void chs_service__hotfolder_stop(chs_hotfolder *h)
{
	(void)h;
}
