/*
 * client/desk/server.c - (being written)
 */
#include "desk_int.h"

int chs_desk_check_listen(const char *listen)
{
	(void)listen;
	return chs_error_set(CHS_ERROR, "the desk is not built yet");
}

int chs_desk_start(chs_desk **out, const chs_desk_opts *opts)
{
	(void)opts;
	*out = NULL;
	return chs_error_set(CHS_ERROR, "the desk is not built yet");
}

const char *chs_desk_url(const chs_desk *d)
{
	return d->url;
}

void chs_desk_tick(chs_desk *d)
{
	(void)d;
}

void chs_desk_stop(chs_desk *d)
{
	(void)d;
}
