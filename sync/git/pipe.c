/*
 * sync/git/pipe.c - the messages between the helper process and its
 * parent (see "Bounding network time" in helper.c): written by the
 * helper, read by the parent. Calls nothing else in sync/git/.
 */
#include "git_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int send_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* One message: type, 4-byte length, `head` then `text` (cut to fit). */
static void send_msg(int fd, char type, const void *head, size_t hlen, const char *text)
{
	unsigned char m[CHS_GIT_NET_MSG_MAX];
	size_t tlen = text ? strlen(text) : 0;
	uint32_t len;

	if (tlen > sizeof(m) - 5 - hlen)
		tlen = sizeof(m) - 5 - hlen;
	len = (uint32_t)(hlen + tlen);
	m[0] = (unsigned char)type;
	memcpy(m + 1, &len, 4);
	memcpy(m + 5, head, hlen);
	if (tlen)
		memcpy(m + 5 + hlen, text, tlen);
	if (send_all(fd, m, 5 + len) < 0)
		_exit(1); /* the parent is gone or gave up on us */
}

void chs_git__send_progress(int fd, const char *what, size_t done, size_t total)
{
	uint64_t head[2] = { done, total };

	send_msg(fd, 'P', head, sizeof(head), what ? what : "");
}

void chs_git__send_result(int fd, int code, const char *message)
{
	int32_t c = code;

	send_msg(fd, 'R', &c, sizeof(c), message);
}

/* Act on every whole message in `cn->buf`. */
static void take_messages(child_news *cn, const chs_git_transport *t)
{
	size_t at = 0;
	uint32_t len;

	while (cn->len - at >= 5) {
		const unsigned char *m = cn->buf + at;

		memcpy(&len, m + 1, 4);
		if (len > CHS_GIT_NET_MSG_MAX || cn->len - at < 5 + (size_t)len)
			break;
		if (m[0] == 'P' && len > 16 && t->progress) { /* 16: a sign of life */
			uint64_t head[2];
			char what[128];

			memcpy(head, m + 5, sizeof(head));
			snprintf(what, sizeof(what), "%.*s", (int)(len - 16), (const char *)m + 21);
			t->progress(what, (size_t)head[0], (size_t)head[1], t->payload);
		} else if (m[0] == 'R' && len >= 4) {
			int32_t c;

			memcpy(&c, m + 5, 4);
			cn->code = c;
			snprintf(cn->message, sizeof(cn->message), "%.*s", (int)(len - 4),
				 (const char *)m + 9);
			cn->done = 1;
		}
		at += 5 + len;
	}
	memmove(cn->buf, cn->buf + at, cn->len - at);
	cn->len -= at;
}

/* Read what is there; 1 if anything arrived, 0 if nothing, -1 at EOF. */
int chs_git__read_news(int fd, child_news *cn, const chs_git_transport *t)
{
	ssize_t r = read(fd, cn->buf + cn->len, sizeof(cn->buf) - cn->len);

	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (r == 0)
		return -1;
	cn->len += (size_t)r;
	take_messages(cn, t);
	return 1;
}
