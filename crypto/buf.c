/*
 * A growable byte buffer with a ceiling, always NUL-terminated (curl's
 * dynbuf). On any failure the buffer is freed, so a sequence of appends
 * can be checked once.
 *
 * Beside it, the growable array every hand-written realloc doubling used
 * to repeat: one place that checks `count * size` for overflow.
 */
#include "crypto/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_CAP 64
#define ARRAY_MIN_CAP 8 /* elements */

void chs_buf_init(chs_buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : CHS_BUF_MAX_DEFAULT;
	b->secret = 0;
}

void chs_buf_init_secret(chs_buf *b, size_t max)
{
	chs_buf_init(b, max);
	b->secret = 1;
}

void chs_buf_dispose(chs_buf *b)
{
	if (!b)
		return;
	if (b->secret && b->ptr)
		chs_wipe(b->ptr, b->cap);
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

/* chs_realloc() may leave the old block's bytes in freed memory: a secret
 * buffer moves by hand and wipes the block it leaves. */
static char *buf_move(chs_buf *b, size_t cap)
{
	char *p;

	if (!b->secret)
		return chs_realloc(b->ptr, cap);
	if (!(p = chs_malloc(cap)))
		return NULL;
	if (b->ptr) {
		memcpy(p, b->ptr, b->len + 1 <= b->cap ? b->len + 1 : b->len);
		chs_wipe(b->ptr, b->cap);
		free(b->ptr);
	}
	return p;
}

static int buf_grow(chs_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > b->max || b->len > b->max - extra) {
		chs_buf_dispose(b);
		return chs_error_set(CHS_EINVALID,
				     "data too large (limit %zu bytes)", b->max);
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BUF_MIN_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = buf_move(b, cap);
	if (!p) {
		chs_buf_dispose(b);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int chs_buf_put(chs_buf *b, const void *data, size_t len)
{
	int err;

	if ((err = buf_grow(b, len)) < 0)
		return err;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int chs_buf_puts(chs_buf *b, const char *s)
{
	return chs_buf_put(b, s, strlen(s));
}

int chs_buf_printf(chs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, err;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		chs_buf_dispose(b);
		return chs_error_set(CHS_EINVALID, "cannot format text");
	}
	if ((err = buf_grow(b, (size_t)n)) < 0)
		return err;
	va_start(ap, fmt);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *chs_buf_detach(chs_buf *b)
{
	char *p = b->ptr;

	if (!p)
		p = chs_calloc(1, 1);
	b->ptr = NULL;
	b->len = b->cap = 0;
	return p;
}

int chs_array_grow(void **ptr, size_t *cap, size_t need, size_t elem_size)
{
	size_t most, ncap;
	void *p;

	if (need <= *cap)
		return 0;
	/* the most elements that fit under the ceiling: need * elem_size
	 * is never computed before need is known to be at most this */
	most = elem_size ? CHS_ARRAY_MAX / elem_size : 0;
	if (need > most)
		return chs_error_set(CHS_ENOMEM,
				     "out of memory: %zu elements of %zu bytes are more than an"
				     " array may hold (%zu bytes)", need, elem_size,
				     (size_t)CHS_ARRAY_MAX);
	ncap = *cap < ARRAY_MIN_CAP ? ARRAY_MIN_CAP : *cap;
	while (ncap < need)
		ncap = ncap > most / 2 ? most : ncap * 2;
	if (ncap > most)
		ncap = most;
	if (!(p = chs_realloc(*ptr, ncap * elem_size)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	*ptr = p;
	*cap = ncap;
	return 0;
}
