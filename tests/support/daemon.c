/*
 * The real `chartsync daemon` for the tests, and its control socket.
 */
#define _GNU_SOURCE /* environ */
#include "support/daemon.h"
#include "support/testutil.h"
#include "client/chartsync.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define POLL_MS 20
#define READY_CALL_MS 2000

double tu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tu_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The child's environment: ours without chartsync's variables or
 * systemd's (a test run under a service manager must not notify it),
 * then `env`. */
static void child_env(const char *const *env)
{
	static const char *const drop[] = { "CHARTSYNC_", "NOTIFY_SOCKET=", "WATCHDOG_",
					    "STATE_DIRECTORY=", "CREDENTIALS_DIRECTORY=" };
	char **e;
	size_t i;

	for (e = environ; *e;) {
		int gone = 0;

		for (i = 0; i < sizeof(drop) / sizeof(*drop) && !gone; i++)
			if (strncmp(*e, drop[i], strlen(drop[i])) == 0) {
				char name[256];

				snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
				unsetenv(name);
				gone = 1;
			}
		if (!gone)
			e++;
	}
	for (; env && *env; env++)
		putenv((char *)*env);
}

void tu_daemon_spawn(tu_daemon *d, const char *bin, const char *dir, const char *user,
		     const char *logdir, const char *const *env)
{
	static int serial;
	char name[64];
	pid_t parent = getpid();
	int fd;

	memset(d, 0, sizeof(*d));
	d->dir = strdup(dir);
	snprintf(name, sizeof(name), "daemon-%d.log", ++serial);
	d->log = tu_path(logdir, name);
	ck_assert_ptr_nonnull(d->dir);
	fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		/* both above 2: the test process may run with 0, 1 or 2 closed,
		 * and the log's descriptor be one of them */
		int log = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		nul = fcntl(nul, F_DUPFD_CLOEXEC, 3);

		/* a failed check ends the test process without its teardown:
		 * the daemon goes with it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		setsid(); /* no terminal: never asks for a passphrase there */
		if (log < 0 || nul < 0)
			_exit(127);
		dup2(nul, 0);
		dup2(log, 1);
		dup2(log, 2);
		child_env(env);
		if (user)
			execl(bin, bin, "--store", dir, "--user", user, "daemon", (char *)NULL);
		else
			execl(bin, bin, "--store", dir, "daemon", (char *)NULL);
		_exit(127);
	}
	close(fd);
}

int tu_daemon_wait_exit(tu_daemon *d, int timeout_s)
{
	double end = tu_now() + timeout_s;
	int status;

	if (d->pid <= 0)
		return d->status;
	for (;;) {
		pid_t r = waitpid(d->pid, &status, WNOHANG);

		if (r == d->pid) {
			d->pid = 0;
			d->status = WIFEXITED(status) ? WEXITSTATUS(status)
				: 128 + WTERMSIG(status);
			return d->status;
		}
		if (tu_now() > end)
			return -1;
		tu_sleep_ms(POLL_MS);
	}
}

json_t *tu_daemon_status(const tu_daemon *d, int timeout_ms)
{
	json_t *v = NULL;

	if (tu_daemon_call(d, "status", timeout_ms, &v) < 0)
		return NULL;
	return v;
}

int tu_daemon_call(const tu_daemon *d, const char *method, int timeout_ms, json_t **result)
{
	char *text = NULL;
	int err = chs_service_call(d->dir, method, NULL, timeout_ms, &text);

	if (result) {
		*result = err == 0 ? json_loads(text, 0, NULL) : NULL;
		if (err == 0)
			ck_assert_msg(*result, "the service's %s result is not JSON: %s", method,
				      text);
	}
	free(text);
	return err;
}

void tu_daemon_start(tu_daemon *d, const char *bin, const char *dir, const char *user,
		     const char *logdir, const char *const *env, int timeout_s)
{
	double end;

	tu_daemon_spawn(d, bin, dir, user, logdir, env);
	end = tu_now() + timeout_s;
	for (;;) {
		json_t *st;
		char *log;

		if ((st = tu_daemon_status(d, READY_CALL_MS))) {
			json_decref(st);
			return;
		}
		if (tu_daemon_wait_exit(d, 0) >= 0 || tu_now() > end) {
			log = tu_daemon_log(d);
			ck_abort_msg("the daemon %s (exit %d); its log:\n%s",
				     d->pid ? "never answered status" : "exited", d->status, log);
			free(log);
		}
		tu_sleep_ms(POLL_MS);
	}
}

int tu_poll(int (*cond)(void *), void *arg, int timeout_s)
{
	double end = tu_now() + timeout_s;

	for (;;) {
		if (cond(arg))
			return 1;
		if (tu_now() > end)
			return 0;
		tu_sleep_ms(POLL_MS);
	}
}

int tu_daemon_stop(tu_daemon *d, int sig, int timeout_s)
{
	int status;

	ck_assert_int_gt(d->pid, 0);
	ck_assert_int_eq(kill(d->pid, sig), 0);
	if ((status = tu_daemon_wait_exit(d, timeout_s)) < 0) {
		char *log = tu_daemon_log(d);

		kill(d->pid, SIGKILL);
		tu_daemon_wait_exit(d, 10);
		ck_abort_msg("the daemon did not exit within %d s of signal %d; its log:\n%s",
			     timeout_s, sig, log);
		free(log);
	}
	return status;
}

char *tu_daemon_log(const tu_daemon *d)
{
	size_t len = 0;
	char *text = d->log ? (char *)tu_read(d->log, &len) : NULL;

	if (!text)
		return strdup("");
	text = realloc(text, len + 1);
	ck_assert_ptr_nonnull(text);
	text[len] = '\0';
	return text;
}

void tu_daemon_free(tu_daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		tu_daemon_wait_exit(d, 10);
	}
	free(d->dir);
	free(d->log);
	d->dir = d->log = NULL;
}

int tu_control_connect(const char *dir)
{
	struct sockaddr_un sun;
	char *path = tu_path(dir, "control");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path));
	free(path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void tu_control_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

char *tu_control_line(int fd, int timeout_ms)
{
	double end = tu_now() + timeout_ms / 1000.0;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int left = (int)((end - tu_now()) * 1000);
		char *nl;
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		if (len + 1024 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		/* looked at first, then taken up to the newline: the next
		 * line stays on the socket for the next call */
		n = recv(fd, buf + len, cap - len - 1, MSG_PEEK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		nl = memchr(buf + len, '\n', (size_t)n);
		if (nl)
			n = nl - (buf + len) + 1;
		n = recv(fd, buf + len, (size_t)n, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (nl) {
			buf[len - 1] = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}
