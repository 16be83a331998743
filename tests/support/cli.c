/*
 * The chartsync binary run as a technician runs it, with no terminal.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *tu_cli_setup(const char *pass)
{
	char *dir = tu_tempdir();

	setenv("CHARTSYNC_STORE", dir, 1);
	setenv("CHARTSYNC_PASSPHRASE", pass, 1);
	unsetenv("CHARTSYNC_PASSPHRASE_FILE");
	unsetenv("CHARTSYNC_NEW_PASSPHRASE");
	unsetenv("CHARTSYNC_NEW_PASSPHRASE_FILE");
	unsetenv("CHARTSYNC_USER");
	return dir;
}

/* What fits is kept; the rest is read and dropped, so a command that
 * prints more than the buffer still runs to its end (left unread, the
 * pipe filled and the command, and the test, waited forever). */
static void drain(int fd, char *buf, size_t cap, size_t *len)
{
	char spill[4096];
	ssize_t n;

	if (*len + 1 < cap) {
		n = read(fd, buf + *len, cap - 1 - *len);
		if (n > 0)
			*len += (size_t)n;
	} else if (read(fd, spill, sizeof(spill)) < 0) {
		/* the poll loop sees the hang-up */
	}
	buf[*len] = '\0';
}

void tu_cli_run(tu_result *r, const char *bin, ...)
{
	const char *argv[32];
	int n = 1;
	va_list ap;

	argv[0] = bin;
	va_start(ap, bin);
	while ((argv[n] = va_arg(ap, const char *)) != NULL && n < 30)
		n++;
	va_end(ap);
	argv[n] = NULL;
	tu_cli_runv(r, NULL, argv);
}

void tu_cli_runv(tu_result *r, const char *const *env, const char *const *argv)
{
	int out[2], err[2], status;
	size_t olen = 0, elen = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		setsid(); /* no controlling terminal: never prompt */
		dup2(nul, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		for (; env && *env; env++) {
			const char *eq = strchr(*env, '=');
			char name[256];

			snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - *env : 255), *env);
			if (eq)
				setenv(name, eq + 1, 1);
			else
				unsetenv(name);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	for (;;) {
		struct pollfd p[2] = { { out[0], POLLIN, 0 }, { err[0], POLLIN, 0 } };

		if (poll(p, 2, -1) < 0)
			break;
		if (p[0].revents)
			drain(out[0], r->out, sizeof(r->out), &olen);
		if (p[1].revents)
			drain(err[0], r->err, sizeof(r->err), &elen);
		if ((p[0].revents & POLLHUP) && !(p[0].revents & POLLIN) &&
		    (p[1].revents & POLLHUP) && !(p[1].revents & POLLIN))
			break;
	}
	r->out[olen] = r->err[elen] = '\0';
	close(out[0]);
	close(err[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}


void tu_cli_init_store(const char *bin)
{
	tu_result r;

	tu_cli_run(&r, bin, "init", "--user", "alice", "--terminal", "front-desk", NULL);
	tu_ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "created store"));
}

void tu_cli_init_org(const char *bin, const char *archive)
{
	tu_result r;

	tu_cli_init_store(bin);
	tu_cli_run(&r, bin, "archive", "init", archive, NULL);
	tu_ck_status(r, 0);
	tu_cli_run(&r, bin, "org", "init", "--archive", archive, "--site", "central", NULL);
	tu_ck_status(r, 0);
}
