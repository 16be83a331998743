/*
 * client/desk/page_stubs.c - stand-ins for the pages still being written,
 * so the desk links and serves /signin and its assets meanwhile.
 *
 * Each is a weak definition, and this file is the last of the module's
 * sources: the linker takes a page's real definition from the archive
 * before it reaches these. Delete the file once every page is in.
 */
#include "desk_int.h"

#define STUB(fn) \
	__attribute__((weak)) int fn(desk_req *rq, desk_resp *rs) \
	{ \
		(void)rq; (void)rs; \
		return chs_error_set(CHS_ENOTFOUND, "this page is not built yet"); \
	}

STUB(desk_page_review_queue)
STUB(desk_page_review_record)
STUB(desk_page_review_preview)
STUB(desk_page_review_resolve)
STUB(desk_page_history)
STUB(desk_page_access)
STUB(desk_page_consistency)
STUB(desk_page_coding)
STUB(desk_page_sync)
