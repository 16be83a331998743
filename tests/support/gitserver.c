#include "gitserver.h"
#include "testutil.h"

#include <check.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TRIES 5     /* ports tried: another process may take ours */
#define WAIT_STEPS 200    /* of WAIT_STEP_MS: up to 10 s for the daemon */
#define WAIT_STEP_MS 50

/* A port nobody listens on now: bind to port 0, ask which, close. */
static int free_port(void)
{
	struct sockaddr_in sa = tu_loopback(0);
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	close(s);
	return ntohs(sa.sin_port);
}

/* Whether the daemons started from now on take many clients at once. */
static int many_clients;

void tu_gitserver_many_clients(int on)
{
	many_clients = on;
}

/* The listener of a daemon for many clients (in the daemon's process,
 * never returns): a backlog of 1024, each connection served by a `git
 * daemon --inetd` of its own. git daemon's own listener has a backlog of
 * 5, and a client whose SYN finds it full waits 1, 2, 4, ... 32 s before
 * it tries again, longer than a sync's silence limit; its own limit of
 * 32 clients at once makes each new one wait a second more. */
static void serve_many(const char *basearg, const char *base, int port)
{
	struct sockaddr_in sa = tu_loopback(port);
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1024) < 0)
		_exit(127); /* e.g. the port was taken meanwhile */
	/* a fork of the test, not a new program: the test runner's handlers
	 * (which signal its whole group) must not run here */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	signal(SIGCHLD, SIG_IGN); /* the connections' servers reap themselves */
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			_exit(1);
		if (fork() == 0) {
			/* git waits for its own helpers */
			signal(SIGCHLD, SIG_DFL);
			close(s);
			dup2(c, 0);
			dup2(c, 1);
			close(c);
			execlp("git", "git", "daemon", "--inetd", "--export-all",
			       "--enable=receive-pack", basearg, base, (char *)NULL);
			_exit(127);
		}
		close(c);
	}
}

static pid_t spawn(const char *base, int port)
{
	char portarg[32], basearg[4096];
	pid_t parent = getpid(), pid;

	snprintf(portarg, sizeof(portarg), "--port=%d", port);
	snprintf(basearg, sizeof(basearg), "--base-path=%s", base);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		/* A failed check ends the test process without its teardown: the
		 * daemon goes with it, and holds no pipe of the test runner's. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		/* a group of its own: the daemon and every connection it
		 * serves (git's helpers, the hooks) are signalled at once */
		setpgid(0, 0);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2); /* the daemon's notes on each connection */
		if (many_clients)
			serve_many(basearg, base, port);
		execlp("git", "git", "daemon", "--reuseaddr", "--export-all",
		       "--enable=receive-pack", basearg, "--listen=127.0.0.1", portarg, base,
		       (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* 1 once the daemon accepts connections, 0 if it died first. */
static int wait_ready(pid_t pid, int port)
{
	struct sockaddr_in sa = tu_loopback(port);
	struct timespec step = { 0, WAIT_STEP_MS * 1000L * 1000L };
	int i, status;

	for (i = 0; i < WAIT_STEPS; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0), ok;

		ok = connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(c);
		if (ok)
			return 1;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return 0; /* e.g. the port was taken meanwhile */
		nanosleep(&step, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 0;
}

void tu_gitserver_start(tu_gitserver *s, const char *base)
{
	int tries;

	for (tries = 0; tries < START_TRIES; tries++) {
		s->port = free_port();
		s->pid = spawn(base, s->port);
		if (wait_ready(s->pid, s->port))
			return;
	}
	s->pid = 0;
	ck_abort_msg("git daemon did not start on 127.0.0.1");
}

void tu_gitserver_restart(tu_gitserver *s, const char *base)
{
	struct timespec pause = { 0, 200 * 1000000L };
	int tries;

	ck_assert_int_gt(s->port, 0);
	tu_gitserver_stop(s);
	for (tries = 0; tries < START_TRIES * 5; tries++) {
		s->pid = spawn(base, s->port);
		if (wait_ready(s->pid, s->port))
			return;
		nanosleep(&pause, NULL); /* the port still held: try again */
	}
	s->pid = 0;
	ck_abort_msg("git daemon did not start again on 127.0.0.1:%d", s->port);
}

char *tu_gitserver_url(const tu_gitserver *s, const char *name)
{
	size_t n = strlen(name) + 64;
	char *url = malloc(n);

	ck_assert_ptr_nonnull(url);
	snprintf(url, n, "git://127.0.0.1:%d/%s", s->port, name);
	return url;
}

void tu_gitserver_signal(const tu_gitserver *s, int sig)
{
	if (s->pid > 0)
		kill(-s->pid, sig);
}

void tu_gitserver_stop(tu_gitserver *s)
{
	int status;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
		;
	s->pid = 0;
}

int tu_silent_listener(int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	sa = tu_loopback(0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s, 16), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return s;
}

void tu_hooked_archive_start(tu_hooked_archive *a, const char *chartsync_bin)
{
	char *home;

	memset(a, 0, sizeof(*a));
	a->top = tu_tempdir();
	a->srv = tu_path(a->top, "srv");
	a->path = tu_path(a->srv, "archive.git");
	home = tu_path(a->top, "home");
	ck_assert_int_eq(tu_sh("mkdir -p '%s/.ssh' && touch '%s/.ssh/known_hosts'", home, home),
			 0);
	ck_assert_int_eq(setenv("HOME", home, 1), 0);
	free(home);
	ck_assert_int_eq(tu_sh("'%s' archive init '%s' >/dev/null", chartsync_bin, a->path), 0);
	tu_gitserver_start(&a->daemon, a->srv);
	a->url = tu_gitserver_url(&a->daemon, "archive.git");
}

void tu_hooked_archive_stop(tu_hooked_archive *a)
{
	tu_gitserver_stop(&a->daemon);
	tu_rmtree(a->top);
	free(a->top);
	free(a->srv);
	free(a->path);
	free(a->url);
	memset(a, 0, sizeof(*a));
}

chs_git *tu_git_repo(const char *dir, const char *name)
{
	char *p = tu_path(dir, name);
	chs_git *g = NULL;

	ck_assert_msg(chs_git_open(&g, p) == 0, "%s", chs_error_last());
	free(p);
	return g;
}

void tu_git_batch(chs_git *g, const char *ref, const chs_identity *dev, const char *manifest,
		  char oid[41])
{
	chs_git_entry e[1] = { { "manifest", manifest, strlen(manifest) } };

	ck_assert_msg(chs_git_write_commit(g, ref, e, 1, "batch\n", dev, 1732500000, oid) == 0,
		      "%s", chs_error_last());
}
