/*
 * tests/support/sshserver.h - OpenSSH's sshd on 127.0.0.1 for the tests
 * that push and fetch over ssh. Everything it needs (host key, config,
 * authorized keys, pid file, log) lives in a temporary folder; it runs as
 * the user running the tests, who is the only one who can log in.
 */
#ifndef CHS_SSHSERVER_H
#define CHS_SSHSERVER_H

#include <sys/types.h>

typedef struct tu_sshd {
	char *dir;      /* its temporary folder */
	int port;
	pid_t pid;
	char host_key[256]; /* "ssh-ed25519 BASE64" */
} tu_sshd;

/* A free TCP port on 127.0.0.1 (free when asked: bind it soon). */
int tu_free_port(void);
/* 1 when something accepts connections on 127.0.0.1:`port`. */
int tu_port_open(int port);
/* Start sshd letting in `authorized_key` ("ssh-ed25519 BASE64", or several
 * such lines). Fails
 * the test, with sshd's log, when sshd is missing or does not start:
 * CI installs it (tools/dev/deps), so a missing sshd is a broken setup. */
void tu_sshd_start(tu_sshd *s, const char *authorized_key);
void tu_sshd_stop(tu_sshd *s);
/* Make `home` the test process's HOME, with .ssh/known_hosts trusting
 * s's host key (or, when `trust` is 0, an empty known_hosts). Call it
 * before the first libgit2 call of the process: libgit2 reads HOME once. */
void tu_sshd_home(const tu_sshd *s, const char *home, int trust);

#endif
