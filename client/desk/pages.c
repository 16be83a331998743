/*
 * client/desk/pages.c - what the page files share, so each page answers
 * alike: a record's address, the roster and the site of a device, and
 * how a value that was not recorded is shown.
 */
#include "desk_int.h"

#include <string.h>

int desk_path_id(const char *path, const char *prefix, const char *suffix, char out[33])
{
	size_t i, n, lp = strlen(prefix);

	CHS_ASSERT_ARG(path && prefix && suffix && out);
	out[0] = '\0';
	if (strncmp(path, prefix, lp) != 0)
		return chs_error_set(CHS_ENOTFOUND, "no such page: the address names no record");
	path += lp;
	n = strspn(path, "0123456789abcdefABCDEF");
	if (n < 4 || n > 32 || strcmp(path + n, suffix) != 0)
		return chs_error_set(CHS_ENOTFOUND, "no record here: a record's address is %s"
				     " followed by its id (4 to 32 hex digits)", prefix);
	/* ids are stored in lowercase; a link typed in capitals is the same */
	for (i = 0; i < n; i++)
		out[i] = (char)(path[i] >= 'A' && path[i] <= 'F' ? path[i] + 32 : path[i]);
	out[n] = '\0';
	return 0;
}

int desk_roster_load(chs_store *s, chs_device_roster **out)
{
	int err = chs_device_list(out, s);

	if (err == CHS_ENOTFOUND) { /* in no organisation yet: no roster */
		chs_error_clear();
		*out = NULL;
		return 0;
	}
	return err;
}

const chs_device_info *desk_device_of(const chs_device_roster *ro, const char *device)
{
	size_t i, n = ro ? chs_device_roster_count(ro) : 0;

	for (i = 0; device && i < n; i++) {
		const chs_device_info *d = chs_device_roster_get(ro, i);

		if (d && strcmp(d->device, device) == 0)
			return d;
	}
	return NULL;
}

const char *desk_site_of(const chs_device_roster *ro, const char *device)
{
	const chs_device_info *d = desk_device_of(ro, device);

	return d ? d->site : "";
}

void desk_text_or_dash(desk_resp *rs, const char *s)
{
	if (s && *s)
		desk_text(rs, s);
	else
		desk_put(rs, DESK_NOT_RECORDED);
}
