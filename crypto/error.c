/*
 * The per-thread error message (libgit2's git_error_last, in small).
 */
#include "crypto/crypto.h"

#include <stdio.h>
#include <string.h>

#define ERROR_MSG_MAX 512 /* bytes; one line for a person to read */

static _Thread_local char last_msg[ERROR_MSG_MAX];
static _Thread_local int last_code;

int chs_error_setv(int code, const char *fmt, va_list ap)
{
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	last_code = code;
	return code;
}

int chs_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chs_error_setv(code, fmt, ap);
	va_end(ap);
	return code;
}

/* Append `s` to `dst` (holding `*len` bytes), truncating at the limit. */
static void append(char *dst, size_t *len, const char *s)
{
	size_t n = strlen(s), room = ERROR_MSG_MAX - 1 - *len;

	if (n > room)
		n = room;
	memcpy(dst + *len, s, n);
	*len += n;
	dst[*len] = '\0';
}

int chs_error_wrap(int code, const char *fmt, ...)
{
	char old[ERROR_MSG_MAX];
	size_t len;
	va_list ap;

	memcpy(old, last_msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	len = strlen(last_msg);
	if (old[0]) {
		append(last_msg, &len, ": ");
		append(last_msg, &len, old);
	}
	last_code = code;
	return code;
}

const char *chs_error_last(void)
{
	return last_msg;
}

int chs_error_last_code(void)
{
	return last_code;
}

void chs_error_clear(void)
{
	last_msg[0] = '\0';
	last_code = 0;
}
