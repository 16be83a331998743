/*
 * tests/support/gitserver.h - a real git server for tests: git daemon on
 * 127.0.0.1, serving every repository under a folder over git:// with
 * pushes enabled (and no authentication: tests only). Pushes over it run
 * the repositories' hooks, which pushes to a path never do.
 */
#ifndef CHS_TEST_GITSERVER_H
#define CHS_TEST_GITSERVER_H

#include "sync/sync.h"

#include <sys/types.h>

typedef struct tu_gitserver {
	pid_t pid;
	int port;
} tu_gitserver;

/* Start git daemon serving the repositories under `base` (absolute path)
 * on a free port; returns once it accepts connections. Fails the test if
 * it cannot start. */
void tu_gitserver_start(tu_gitserver *s, const char *base);
/* Whether the daemons this process starts from now on take many clients
 * at once (0 at first: git daemon's own listener). git daemon's listener
 * queues 5 connections and serves 32 at once; a test of tens of devices
 * syncing at once (as an archive for that many is set up to take) has
 * its own listener hand each connection to `git daemon --inetd`. */
void tu_gitserver_many_clients(int on);
/* Stop the daemon (when running) and start it again on the same port,
 * as an archive that comes back at its address; fails the test if the
 * port cannot be had again. */
void tu_gitserver_restart(tu_gitserver *s, const char *base);
/* The URL of repository `name` (e.g. "archive.git") under the base folder:
 * git://127.0.0.1:PORT/name; malloc'ed. */
char *tu_gitserver_url(const tu_gitserver *s, const char *name);
/* Send `sig` to the daemon and to every connection it is serving, at
 * once (SIGKILL: the server dies mid-transfer; SIGSTOP: it stops
 * answering). */
void tu_gitserver_signal(const tu_gitserver *s, int sig);
/* Stop the daemon and reap it; accepts a server never started (pid 0). */
void tu_gitserver_stop(tu_gitserver *s);

/* A TCP listener on 127.0.0.1 that never accepts: the kernel completes
 * each connection (up to its backlog), and nothing is ever said on it,
 * as an archive that stopped answering. Its port in *port; close the
 * descriptor returned to take it away. */
int tu_silent_listener(int *port);

/* What most sync tests start from: a fresh folder `top` with a clean
 * HOME (libgit2 reads it once, before its first call), an archive made
 * by `chartsync archive init` (so chartsync's hook guards it) at
 * top/srv/archive.git, and git daemon serving it at `url`. */
typedef struct tu_hooked_archive {
	char *top, *srv, *path, *url;
	tu_gitserver daemon;
} tu_hooked_archive;

void tu_hooked_archive_start(tu_hooked_archive *a, const char *chartsync_bin);
/* Stop the daemon, remove `top`, free the strings. */
void tu_hooked_archive_stop(tu_hooked_archive *a);

/* The git layer's repository at `dir`/`name` (made when missing); fails
 * the test if it cannot be opened. */
chs_git *tu_git_repo(const char *dir, const char *name);
/* A batch commit on `ref` of `g` holding one file, "manifest", signed by
 * `dev` at a fixed time; its id in `oid`. Fails the test otherwise. */
void tu_git_batch(chs_git *g, const char *ref, const chs_identity *dev, const char *manifest,
		  char oid[41]);

#endif
