/*
 * client/service/log.c - the service's log: one line per event on stderr
 * (journald adds the time and the unit), or one JSON object per line.
 *
 * A message can hold text from outside (a scanned file's name, an
 * archive's error words), so the text form is escaped for a terminal and
 * the JSON form leaves the escaping to the encoder. One write() per line,
 * so lines from the loop and the worker never interleave.
 */
#include "service_int.h"
#include "client/text/text.h"
#include "client/util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

uint64_t chs_service__wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a log that cannot be written is not the service's failure */
		p += w;
		n -= (size_t)w;
	}
}

void chs_service__clean(char *out, size_t n, const char *in)
{
	chs_buf b;
	size_t len;

	if (!n)
		return;
	chs_buf_init(&b, 0);
	if (chs_text_escape(&b, in, strlen(in), CHS_TEXT_LINE) < 0 || !b.ptr) {
		snprintf(out, n, "(the message could not be kept)");
		chs_buf_dispose(&b);
		return;
	}
	len = b.len < n - 1 ? b.len : n - 1;
	/* cut on a character's first byte: the escaped text is valid UTF-8 */
	while (len > 0 && len < b.len && ((unsigned char)b.ptr[len] & 0xC0) == 0x80)
		len--;
	memcpy(out, b.ptr, len);
	out[len] = '\0';
	chs_buf_dispose(&b);
}

static void log_json(const chs_log *l, const char *when, const char *event, const char *msg)
{
	char clean[LINE_MAX_BYTES * 2];
	json_t *o;

	/* jansson refuses invalid UTF-8: a name that is not would lose the line */
	chs_service__clean(clean, sizeof(clean), msg);
	o = json_pack("{s:s, s:s, s:s}", "time", when, "event", event, "message", clean);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	if (text) {
		size_t n = strlen(text);

		text[n] = '\n'; /* json_dumps's NUL becomes the line's end */
		write_all(l->fd, text, n + 1);
	}
	free(text);
	json_decref(o);
}

static void log_text(const chs_log *l, const char *when, const char *event, const char *msg)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	if (chs_buf_printf(&b, "%s %s: ", when, event) == 0 &&
	    chs_text_escape(&b, msg, strlen(msg), CHS_TEXT_LINE) == 0 &&
	    chs_buf_printf(&b, "\n") == 0)
		write_all(l->fd, b.ptr, b.len);
	chs_buf_dispose(&b);
}

void chs_service__log(const chs_log *l, const char *event, const char *fmt, ...)
{
	char msg[LINE_MAX_BYTES], when[32];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	chs_util__ms_time((int64_t)chs_service__wall_ms(), when);
	if (l->json)
		log_json(l, when, event, msg);
	else
		log_text(l, when, event, msg);
	errno = saved;
}
