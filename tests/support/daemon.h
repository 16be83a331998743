/*
 * tests/support/daemon.h - the real `chartsync daemon` for the tests: a
 * child process with its own environment and its log in a file, its
 * control socket spoken to as the CLI does (chs_service_call) or byte by
 * byte, waited for with deadlines (a hang fails the test, never blocks
 * it), and stopped with a signal and reaped.
 */
#ifndef CHS_TEST_DAEMON_H
#define CHS_TEST_DAEMON_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct tu_daemon {
	pid_t pid;    /* 0: not running (reaped) */
	char *dir;    /* the store's folder (malloc'ed) */
	char *log;    /* its standard error and output (malloc'ed path) */
	int status;   /* once reaped: the exit code, or 128 + signal */
} tu_daemon;

/* Start `bin daemon --store DIR --user USER` (`user` NULL: none), its
 * output going to LOGDIR/daemon-N.log, in an environment with no
 * chartsync variable but `env`'s ("KEY=VALUE", NULL-terminated; NULL:
 * none). It dies with the test process. Returns at once. */
void tu_daemon_spawn(tu_daemon *d, const char *bin, const char *dir, const char *user,
		     const char *logdir, const char *const *env);
/* tu_daemon_spawn, then wait until the control socket answers `status`
 * (fails the test if the daemon exits first or not within `timeout_s`). */
void tu_daemon_start(tu_daemon *d, const char *bin, const char *dir, const char *user,
		     const char *logdir, const char *const *env, int timeout_s);
/* The daemon's `status` result, or NULL when it did not answer within
 * `timeout_ms` (to json_decref). */
json_t *tu_daemon_status(const tu_daemon *d, int timeout_ms);
/* One request through chs_service_call: its return code; the result
 * (when `result` is not NULL) parsed, to json_decref. */
int tu_daemon_call(const tu_daemon *d, const char *method, int timeout_ms, json_t **result);
/* Poll `cond` every 20 ms until it returns non-zero (then 1) or
 * `timeout_s` pass (then 0). */
int tu_poll(int (*cond)(void *), void *arg, int timeout_s);
/* Send `sig`, then reap within `timeout_s` (SIGKILL and fail the test
 * otherwise); the exit status as tu_daemon.status says. */
int tu_daemon_stop(tu_daemon *d, int sig, int timeout_s);
/* Reap a daemon that exits by itself within `timeout_s`: its status, or
 * -1 when it is still running then (left running). */
int tu_daemon_wait_exit(tu_daemon *d, int timeout_s);
/* The log so far (malloc'ed, never NULL). */
char *tu_daemon_log(const tu_daemon *d);
/* SIGKILL and reap when still running, free the paths. */
void tu_daemon_free(tu_daemon *d);

/* The control socket byte by byte: a connected fd (-1 when nothing
 * listens), bytes sent (a failed send is let go: the daemon may close
 * first), and one line of reply (without its newline; malloc'ed, NULL
 * when none came within `timeout_ms` or the connection closed; what
 * follows it stays on the socket). */
int tu_control_connect(const char *dir);
void tu_control_send(int fd, const void *buf, size_t len);
char *tu_control_line(int fd, int timeout_ms);

/* Sleep `ms` milliseconds (only where time itself is the point: a file
 * written in slow pieces). */
void tu_sleep_ms(long ms);
/* Seconds on the monotonic clock. */
double tu_now(void);

#endif
