/*
 * client/service/client.c - the CLI's side of the control socket: one
 * request, one reply, plain blocking sockets with a deadline (a command
 * has no event loop).
 */
#include "service_int.h"
#include "client/util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_to(const char *dir, int *fd)
{
	struct sockaddr_un sun;
	char *path = chs_util__path(dir, "control");
	int err = 0;

	*fd = -1;
	if (!path)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		err = chs_error_set(CHS_ENOTFOUND, "no chartsync service serves this store");
		goto done;
	}
	memcpy(sun.sun_path, path, strlen(path));
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0) {
		err = chs_error_set(CHS_EIO, "cannot make a socket: %s", strerror(errno));
		goto done;
	}
	if (connect(*fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = errno == ENOENT || errno == ECONNREFUSED
			? chs_error_set(CHS_ENOTFOUND, "no chartsync service serves the store '%s'", dir)
			: chs_error_set(CHS_EIO, "cannot reach the service of the store '%s' at %s: %s",
					dir, path, strerror(errno));
		close(*fd);
		*fd = -1;
	}
done:
	free(path);
	return err;
}

/* Wait for `events` on fd until `deadline` (monotonic ms). */
static int wait_for(int fd, short events, int64_t deadline)
{
	struct pollfd p = { fd, events, 0 };
	int64_t left;
	int rc;

	for (;;) {
		left = deadline - mono_ms();
		if (left <= 0)
			return chs_error_set(CHS_EIO, "the chartsync service did not answer in time");
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return chs_error_set(CHS_EIO, "waiting for the service: %s", strerror(errno));
	}
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline)
{
	int err;

	while (n > 0) {
		ssize_t w;

		if ((err = wait_for(fd, POLLOUT, deadline)) < 0)
			return err;
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0)
			return chs_error_set(CHS_EIO, "the service closed the connection: %s",
					     strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One line of reply (without its newline) into `line`. */
static int read_line(int fd, chs_buf *line, int64_t deadline)
{
	char chunk[4096];
	int err;

	for (;;) {
		char *nl;
		ssize_t r;

		if ((err = wait_for(fd, POLLIN, deadline)) < 0)
			return err;
		r = recv(fd, chunk, sizeof(chunk), 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return chs_error_set(CHS_EIO, "the chartsync service closed the connection"
					     " without answering");
		if ((err = chs_buf_put(line, chunk, (size_t)r)) < 0)
			return err;
		if ((nl = memchr(line->ptr, '\n', line->len))) {
			*nl = '\0';
			line->len = (size_t)(nl - line->ptr);
			return 0;
		}
	}
}

static int decode(const chs_buf *line, char **result_json)
{
	json_t *doc = json_loadb(line->ptr, line->len, 0, NULL), *res, *e;
	int err;

	if (!doc || !json_is_object(doc)) {
		json_decref(doc);
		return chs_error_set(CHS_EIO, "the chartsync service answered something that is"
				     " not a reply");
	}
	if ((res = json_object_get(doc, "result"))) {
		*result_json = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
		err = *result_json ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
	} else if ((e = json_object_get(doc, "error")) && json_is_object(e)) {
		json_int_t code = json_integer_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));

		/* what was done all the same (a sync's report when it refused
		 * something from the archive) */
		if ((res = json_object_get(e, "data")))
			*result_json = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);

		/* the service's own CHS_E* code is passed up unchanged; the
		 * protocol's own refusals are the caller's bug */
		err = chs_error_set(code < 0 && code > -1000 ? (int)code : CHS_ERROR, "%s",
				    msg ? msg : "the service refused the request");
	} else {
		err = chs_error_set(CHS_EIO, "the chartsync service's reply has no result");
	}
	json_decref(doc);
	return err;
}

int chs_service_call(const char *dir, const char *method, const char *params_json,
		     int timeout_ms, char **result_json)
{
	int64_t deadline = mono_ms() + timeout_ms;
	chs_buf req, line;
	json_t *params = NULL, *msg = NULL;
	char *text = NULL;
	int fd = -1, err;

	CHS_ASSERT_ARG(dir);
	CHS_ASSERT_ARG(method);
	CHS_ASSERT_ARG(result_json);
	*result_json = NULL;
	chs_buf_init(&req, 0);
	chs_buf_init(&line, CHS_CONTROL_LINE_MAX);
	params = params_json ? json_loads(params_json, 0, NULL) : json_object();
	CHS_ASSERT_ARG(params && json_is_object(params));
	msg = json_pack("{s:i, s:s, s:O}", "id", 1, "method", method, "params", params);
	if (!msg || !(text = json_dumps(msg, JSON_COMPACT))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	if ((err = chs_buf_printf(&req, "%s\n", text)) < 0 || (err = connect_to(dir, &fd)) < 0 ||
	    (err = send_all(fd, req.ptr, req.len, deadline)) < 0 ||
	    (err = read_line(fd, &line, deadline)) < 0)
		goto done;
	err = decode(&line, result_json);
done:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(msg);
	json_decref(params);
	chs_buf_dispose(&req);
	chs_buf_dispose(&line);
	return err;
}

int chs_service__busy(const char *dir, int fd)
{
	char text[32];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);

	text[n > 0 ? n : 0] = '\0';
	text[strcspn(text, "\n")] = '\0';
	return chs_error_set(CHS_EBUSY, "a chartsync service (pid %s) already serves the store '%s';"
			     " stop it first, or ask it: 'chartsync status', 'chartsync sync'",
			     *text ? text : "unknown", dir);
}

int chs_service_check_free(const char *dir)
{
	char *path = chs_util__path(dir, "service.pid");
	int fd, err = 0;

	CHS_ASSERT_ARG(dir);
	if (!path)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return 0;
	/* a shared lock, dropped at once: refused only while a service holds
	 * its exclusive one */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		err = chs_service__busy(dir, fd);
	close(fd);
	return err;
}
