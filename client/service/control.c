/*
 * client/service/control.c - the control socket, DIR/control.
 *
 * A Unix stream socket only the store's owner may reach: it is made
 * mode 0600 (under umask 077, so it never exists with wider rights), and
 * every connection's peer is checked with SO_PEERCRED, which libuv does
 * not offer, through uv_fileno(): a uid other than the service's own (or
 * root's) is closed unanswered.
 *
 * Each connection reads newline-terminated requests of at most
 * CHS_CONTROL_LINE_MAX bytes; a longer one is answered with an error and
 * the connection closed (there is no way to find the next request's
 * start). A request may be answered later (a sync): the connection keeps
 * its open calls, and one that closes first leaves them answering into
 * nothing.
 */
#define _GNU_SOURCE /* struct ucred */
#include "service_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct conn conn;

struct chs_control_call {
	conn *conn;              /* NULL once the connection is gone */
	chs_control_call *next;  /* the connection's open calls */
};

struct conn {
	uv_pipe_t pipe;
	chs_control *ctl;
	conn *next;              /* the control's connections */
	char *buf;               /* the line being read */
	size_t len;
	chs_control_call *calls;
	unsigned writes;         /* replies on their way */
	int closing, eof;
};

struct chs_control {
	uv_pipe_t listener;
	char *path;
	const chs_log *log;
	chs_control_fn fn;
	void *payload;
	conn *conns;
	int closing;
};

typedef struct reply_req {
	uv_write_t req;
	conn *c;
	char *text;
} reply_req;

static void conn_freed(uv_handle_t *h)
{
	conn *c = h->data;

	free(c->buf);
	free(c);
}

static void conn_unlink(conn *c)
{
	conn **p;

	for (p = &c->ctl->conns; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
}

static void conn_close(conn *c)
{
	chs_control_call *call;

	if (c->closing)
		return;
	c->closing = 1;
	for (call = c->calls; call; call = call->next)
		call->conn = NULL;
	c->calls = NULL;
	conn_unlink(c);
	uv_close((uv_handle_t *)&c->pipe, conn_freed);
}

static void call_unlink(conn *c, chs_control_call *call)
{
	chs_control_call **p;

	for (p = &c->calls; *p; p = &(*p)->next)
		if (*p == call) {
			*p = call->next;
			return;
		}
}

/* After the last answer to a client that has stopped writing. */
static void maybe_finish(conn *c)
{
	if (c->eof && !c->calls && !c->writes)
		conn_close(c);
}

static void written(uv_write_t *req, int status)
{
	reply_req *r = (reply_req *)req;
	conn *c = r->c;

	free(r->text);
	free(r);
	c->writes--;
	if (status < 0)
		conn_close(c); /* the client went away; closing twice is a no-op */
	else if (!c->closing)
		maybe_finish(c);
}

/* Queue `text` (taken) on the connection. */
static void send_text(conn *c, char *text)
{
	reply_req *r;
	uv_buf_t b;

	if (!text)
		return;
	if (c->closing || !(r = chs_calloc(1, sizeof(*r)))) {
		free(text);
		return;
	}
	r->c = c;
	r->text = text;
	b = uv_buf_init(text, (unsigned)strlen(text));
	if (uv_write(&r->req, (uv_stream_t *)&c->pipe, &b, 1, written) < 0) {
		free(text);
		free(r);
		conn_close(c);
		return;
	}
	c->writes++;
}

void chs_service__control_answer(chs_control_call *call, char *reply)
{
	conn *c = call->conn;

	if (c) {
		call_unlink(c, call);
		send_text(c, reply);
		maybe_finish(c);
	} else {
		free(reply);
	}
	free(call);
}

static void one_line(conn *c, const char *line, size_t len)
{
	chs_request req;
	chs_control_call *call;
	char *reply = NULL;

	if (len && line[len - 1] == '\r')
		len--;
	if (chs_service__request_parse(&req, line, len, &reply) < 0) {
		send_text(c, reply);
		return;
	}
	if (!(call = chs_calloc(1, sizeof(*call)))) {
		send_text(c, chs_service__reply_error(req.id, CHS_ENOMEM, "out of memory"));
		chs_service__request_dispose(&req);
		return;
	}
	call->conn = c;
	call->next = c->calls;
	c->calls = call;
	c->ctl->fn(call, &req, c->ctl->payload);
	chs_service__request_dispose(&req);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	conn *c = h->data;

	(void)suggested;
	/* the line buffer has room for a whole line and its newline; read
	 * straight into what is left of it */
	if (!c->buf && !(c->buf = chs_malloc(CHS_CONTROL_LINE_MAX))) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	*b = uv_buf_init(c->buf + c->len, (unsigned)(CHS_CONTROL_LINE_MAX - c->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	conn *c = s->data;
	size_t start = 0, i;

	(void)b;
	if (n == UV_EOF || n == UV_ENOBUFS) {
		uv_read_stop(s);
		if (n == UV_ENOBUFS) {
			conn_close(c);
			return;
		}
		c->eof = 1;
		maybe_finish(c);
		return;
	}
	if (n < 0) {
		conn_close(c);
		return;
	}
	for (i = c->len; i < c->len + (size_t)n && !c->closing; i++)
		if (c->buf[i] == '\n') {
			one_line(c, c->buf + start, i - start);
			start = i + 1;
		}
	if (c->closing)
		return;
	c->len += (size_t)n;
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	if (c->len == CHS_CONTROL_LINE_MAX) {
		uv_read_stop(s);
		chs_service__log(c->ctl->log, "control", "a request longer than %d bytes was refused",
				 CHS_CONTROL_LINE_MAX);
		send_text(c, chs_service__reply_error(NULL, CHS_RPC_INVALID_REQUEST,
						      "the request is longer than 64 KiB"));
		c->eof = 1;
		c->len = 0;
		maybe_finish(c);
	}
}

/* The peer must be this service's own user, or root (who could read
 * the store's folder anyway). */
static int peer_is_owner(uv_pipe_t *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)p, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	return cred.uid == geteuid() || cred.uid == 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	chs_control *ctl = server->data;
	conn *c;

	if (status < 0 || !(c = chs_calloc(1, sizeof(*c))))
		return;
	c->ctl = ctl;
	uv_pipe_init(server->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		uv_close((uv_handle_t *)&c->pipe, conn_freed);
		return;
	}
	if (!peer_is_owner(&c->pipe)) {
		chs_service__log(ctl->log, "control", "refused a connection from another user");
		uv_close((uv_handle_t *)&c->pipe, conn_freed);
		return;
	}
	c->next = ctl->conns;
	ctl->conns = c;
	if (uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb) < 0)
		conn_close(c);
}

static void listener_freed(uv_handle_t *h)
{
	chs_control *c = h->data;

	free(c->path);
	free(c);
}

int chs_service__control_listen(chs_control **out, uv_loop_t *loop, const char *path,
				const chs_log *log, chs_control_fn fn, void *payload)
{
	struct sockaddr_un sun;
	chs_control *c;
	mode_t old;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof(sun.sun_path))
		return chs_error_set(CHS_EINVALID, "the store's folder path is too long for its control"
				     " socket '%s' (at most %zu bytes): move the store to a shorter path",
				     path, sizeof(sun.sun_path) - 1);
	if (!(c = chs_calloc(1, sizeof(*c))) || !(c->path = chs_strdup(path))) {
		free(c);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	c->log = log;
	c->fn = fn;
	c->payload = payload;
	uv_pipe_init(loop, &c->listener, 0);
	c->listener.data = c;
	/* The caller holds the service's pid lock: a socket already there is
	 * a killed service's, and nothing listens on it. */
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = chs_error_set(CHS_EIO, "cannot remove the old control socket '%s': %s", path,
				   strerror(errno));
		goto fail;
	}
	old = umask(077);
	rc = uv_pipe_bind(&c->listener, path);
	umask(old);
	if (rc == 0)
		rc = chmod(path, 0600) < 0 ? uv_translate_sys_error(errno) : 0;
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&c->listener, 16, on_connection);
	if (rc < 0) {
		rc = chs_error_set(CHS_EIO, "cannot listen on the control socket '%s': %s", path,
				   uv_strerror(rc));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	uv_close((uv_handle_t *)&c->listener, listener_freed);
	return rc;
}

void chs_service__control_close(chs_control *c)
{
	if (!c || c->closing)
		return;
	c->closing = 1;
	unlink(c->path);
	while (c->conns)
		conn_close(c->conns);
	uv_close((uv_handle_t *)&c->listener, listener_freed);
}
