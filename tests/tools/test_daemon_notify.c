/*
 * tests/tools/test_daemon_notify.c - what the real `chartsync daemon`
 * tells systemd: a datagram socket stands in for NOTIFY_SOCKET, as
 * systemd's own, and the test reads the messages the service sends over
 * its life: READY=1 once it serves, STATUS= lines, WATCHDOG=1 from its
 * loop, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "support/cli.h"
#include "support/daemon.h"
#include "support/testutil.h"

static int listen_notify(const char *path)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Wait up to `ms` for a message holding `want`; every message seen is
 * appended to `seen`. 1 when found. */
static int wait_message(int fd, const char *want, int ms, char *seen, size_t cap)
{
	struct timespec t0, t;
	char buf[4096];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strlen(seen) + (size_t)n + 2 < cap) {
			strcat(seen, buf);
			strcat(seen, "|");
		}
		if (strstr(buf, want))
			return 1;
	}
}

START_TEST(test_daemon_tells_systemd)
{
	char *dir = tu_cli_setup("notify pass"), *sock, *ctl, seen[16384] = "", notify[4200];
	/* a ping at least every 0.2 s */
	const char *env[] = { "CHARTSYNC_PASSPHRASE=notify pass", notify, "WATCHDOG_USEC=400000",
			      NULL };
	tu_daemon d;
	tu_result r;
	struct stat sb;
	int fd;

	tu_cli_init_store(CHARTSYNC_BIN);
	sock = tu_path(dir, "notify");
	ctl = tu_path(dir, "control");
	fd = listen_notify(sock);
	snprintf(notify, sizeof(notify), "NOTIFY_SOCKET=%s", sock);
	tu_daemon_spawn(&d, CHARTSYNC_BIN, dir, NULL, dir, env);

	ck_assert_msg(wait_message(fd, "READY=1", 20000, seen, sizeof(seen)),
		      "no READY=1; seen: %s", seen);
	/* READY=1 means serving: the control socket is there, owner only */
	ck_assert_int_eq(stat(ctl, &sb), 0);
	ck_assert(S_ISSOCK(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	ck_assert_msg(wait_message(fd, "WATCHDOG=1", 5000, seen, sizeof(seen)),
		      "no WATCHDOG=1; seen: %s", seen);
	/* no archive set: the status line says why it is waiting */
	ck_assert_msg(strstr(seen, "STATUS=") ||
		      wait_message(fd, "STATUS=", 5000, seen, sizeof(seen)),
		      "no STATUS=; seen: %s", seen);

	kill(d.pid, SIGHUP);
	ck_assert_msg(wait_message(fd, "RELOADING=1", 5000, seen, sizeof(seen)),
		      "no RELOADING=1; seen: %s", seen);
	ck_assert_msg(wait_message(fd, "READY=1", 5000, seen, sizeof(seen)),
		      "no READY=1 after the reload; seen: %s", seen);

	/* `status` from the CLI meanwhile: the service's section */
	tu_cli_run(&r, CHARTSYNC_BIN, "status", NULL);
	tu_ck_status(r, 0);
	ck_assert_msg(strstr(r.out, "service:  running, pid"), "%s", r.out);

	ck_assert_int_eq(tu_daemon_stop(&d, SIGTERM, 5), 0);
	ck_assert_msg(wait_message(fd, "STOPPING=1", 5000, seen, sizeof(seen)),
		      "no STOPPING=1; seen: %s", seen);
	ck_assert_int_ne(stat(ctl, &sb), 0); /* the socket is gone */
	tu_cli_run(&r, CHARTSYNC_BIN, "status", NULL);
	ck_assert_msg(strstr(r.out, "service:  not running"), "%s", r.out);
	/* under systemd, $STATE_DIRECTORY (its first folder) is the store
	 * when nothing else names one */
	{
		char statedir[4200], want[4200];
		const char *state_env[] = { "CHARTSYNC_STORE", statedir, NULL };
		const char *argv[] = { CHARTSYNC_BIN, "status", NULL };

		snprintf(statedir, sizeof(statedir), "STATE_DIRECTORY=%s:/var/lib/elsewhere", dir);
		snprintf(want, sizeof(want), "store:    %s\n", dir);
		tu_cli_runv(&r, state_env, argv);
		tu_ck_status(r, 0);
		ck_assert_msg(strstr(r.out, want), "%s", r.out);
	}
	close(fd);
	tu_rmtree(dir);
	tu_daemon_free(&d);
	free(sock);
	free(ctl);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon_notify");
	TCase *tc = tcase_create("notify");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_daemon_tells_systemd);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
