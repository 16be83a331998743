/*
 * client/desk/args.c - a request's arguments, as the pages read them.
 * Its own file: the server calls the pages, and the pages call these.
 */
#include "desk_int.h"

#include <string.h>

static const char *kv_find(const desk_kv *kv, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(kv[i].name, name) == 0)
			return kv[i].value;
	return NULL;
}

const char *desk_arg(const desk_req *rq, const char *name)
{
	return kv_find(rq->query, rq->nquery, name);
}

const char *desk_form(const desk_req *rq, const char *name)
{
	return kv_find(rq->form, rq->nform, name);
}

