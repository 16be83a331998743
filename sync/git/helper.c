/*
 * sync/git/helper.c - bounding network time: a push or fetch to a network
 * archive runs in a forked helper process, watched and killed when the
 * archive stops answering; and the public push and fetch calls. Calls
 * local.c (chs_git__net_run), wire.c, pipe.c, locks.c and repo.c.
 */
#define _GNU_SOURCE /* pipe2() */
#include "git_int.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define NET_TIMEOUT_DEFAULT_MS 60000 /* inactivity limit of a push or fetch */
#define CHILD_POLL_MS 100            /* how often the parent checks the child */

/*
 * libgit2 has no timeouts: a server that accepts a connection and never
 * answers blocks git:// and ssh in a read forever, and no libgit2 call can
 * interrupt another. So a push or fetch to a network archive runs in a
 * helper process (fork, no exec) that opens its own handle on the same
 * repository (the parent's handle, its mutexes and its open packs are
 * never touched in the child) and reports over a pipe:
 *
 *   'P' u64 done, u64 total, text   progress (empty text: a sign of life)
 *   'R' i32 code, text              the result: a CHS_E* code and message
 *
 * each message one write() of at most PIPE_BUF bytes, so never torn. The
 * parent waits on the pipe and kills the child (SIGKILL) when nothing
 * arrived for the inactivity limit: a slow link that still moves data
 * is never cut, a dead one is cut after the limit; and at once when the
 * caller's cancel asks (a service stopping). libgit2 calls back
 * during every phase that talks to the server (host key, credentials,
 * the server's sideband text, objects counted, sent, received).
 *
 * The child ends with _exit(): no atexit handler (LeakSanitizer's among
 * them) and no stdio flush runs twice. It dies with its parent
 * (PR_SET_PDEATHSIG: strictly, with the thread that forked it, which
 * waits for it to the end), so a killed daemon leaves no child talking
 * to the archive. Should it hang on a lock another thread of the parent held at
 * fork time, the same limit kills it.
 *
 * A killed child may leave the lock and temporary files libgit2 writes
 * while fetching: refs/remotes/archive/...lock and objects/pack/
 * pack_git2_* files. The parent removes them (chs_git__clear_locks() in
 * locks.c): only a sync writes those places, and the caller runs one sync per
 * repository at a time, so any such file is the child's or a leftover of
 * an earlier crash. A push writes nothing in the local repository.
 *
 * Local paths and file:// skip the child: nothing there waits on a
 * network, and a fork costs more than the rest of a small local push
 * (measured in tests/sync/test_git_net.c).
 */

/* The parent's handlers (a service's SIGTERM handler writing to its event
 * loop's pipe, say) must not run in the child: defaults, nothing
 * blocked, and a closed pipe or socket is an error, not a death. */
static void reset_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
				    SIGCHLD, SIGALRM };
	sigset_t none;
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(*sigs); i++)
		signal(sigs[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
}

/* The helper process: its own repository handle, the operation, the
 * result, _exit. Never returns. */
static _Noreturn void child_main(const chs_git *g, net_op *op, pid_t parent)
{
	git_repository *repo = NULL;
	int err;

	reset_signals();
#ifdef __linux__
	prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	if (getppid() != parent)
		_exit(1);
	chs_git__note_inherited(op);
	if ((g->from_env ? git_repository_open_ext(&repo, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL)
			 : git_repository_open_bare(&repo, g->path)) < 0)
		err = chs_git__fail(CHS_EIO, "cannot open the git repository");
	else
		err = chs_git__net_run(repo, op);
	chs_git__send_result(op->fd, err, err < 0 ? chs_error_last() : "");
	/* no cleanup: the process ends here, and _exit skips atexit (and
	 * LeakSanitizer) on purpose */
	_exit(0);
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/* How watch_child() ended. */
enum { CHILD_DONE, CHILD_SILENT, CHILD_CANCELLED };

/*
 * Wait for the child's result, restarting the clock at every message.
 * The child may exit without EOF on the pipe reaching us (another thread
 * may have forked meanwhile and hold a copy of the write end), so its exit
 * is also polled for. Killed when silent for the limit, or when the
 * caller's cancel says stop (asked every CHILD_POLL_MS at most: a service
 * stopping waits no longer than that for the network).
 */
static int watch_child(int fd, pid_t pid, const chs_git_transport *t, int timeout_ms,
		       child_news *cn)
{
	uint64_t last = chs_git__mono_ms();
	int status = 0, eof = 0, exited = 0;

	while (!cn->done && !exited) {
		int waited = (int)(chs_git__mono_ms() - last), slice, rc, stop;
		pid_t w;

		stop = t->cancel && t->cancel(t->payload);
		if (stop || waited >= timeout_ms) {
			kill(pid, SIGKILL);
			reap(pid, &status);
			return stop ? CHILD_CANCELLED : CHILD_SILENT;
		}
		slice = timeout_ms - waited < CHILD_POLL_MS ? timeout_ms - waited : CHILD_POLL_MS;
		if (eof) { /* closed, not yet exited: wait without spinning */
			poll(NULL, 0, slice);
		} else if (poll(&(struct pollfd){ fd, POLLIN, 0 }, 1, slice) > 0) {
			if ((rc = chs_git__read_news(fd, cn, t)) > 0)
				last = chs_git__mono_ms();
			eof = rc < 0;
		}
		w = waitpid(pid, &status, WNOHANG);
		exited = w == pid || (w < 0 && errno == ECHILD);
	}
	while (!cn->done && chs_git__read_news(fd, cn, t) > 0)
		; /* what it wrote before it exited */
	if (!exited)
		reap(pid, &status); /* it _exits right after its result */
	return CHILD_DONE;
}

static int net_timeout_ms(const chs_git_transport *t)
{
	const char *env = getenv("CHARTSYNC_NET_TIMEOUT");
	char *end;
	long s;

	if (env && *env) {
		errno = 0;
		s = strtol(env, &end, 10);
		if (!errno && !*end && s > 0 && s <= 24 * 3600)
			return (int)s * 1000;
	}
	return t->timeout_ms > 0 ? t->timeout_ms : NET_TIMEOUT_DEFAULT_MS;
}

static int run_in_child(chs_git *g, net_op *op)
{
	int timeout_ms = net_timeout_ms(&g->net), fds[2], ended;
	char shown[1024];
	const char *url = chs_git_shown_address(op->url, shown, sizeof(shown));
	child_news *cn = NULL;
	pid_t pid, parent = getpid();
	int err = 0;

	if (!(cn = chs_calloc(1, sizeof(*cn))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(cn);
		return chs_error_set(CHS_EIO, "cannot start a sync helper: %s", strerror(errno));
	}
	if ((pid = fork()) == 0) {
		close(fds[0]);
		op->fd = fds[1];
		child_main(g, op, parent);
	}
	close(fds[1]);
	if (pid < 0) {
		err = chs_error_set(CHS_EIO, "cannot start a sync helper: %s", strerror(errno));
		goto done;
	}
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	ended = watch_child(fds[0], pid, &g->net, timeout_ms, cn);
	if (ended == CHILD_CANCELLED) {
		chs_git__clear_locks(g->path, 1, 0);
		err = chs_error_set(CHS_ECANCELLED, "the %s with the archive at %s was stopped"
				    " before it finished; nothing was lost, the next sync does it",
				    op->push ? "push" : "fetch", url);
	} else if (ended == CHILD_SILENT) {
		chs_git__clear_locks(g->path, 1, 0);
		err = chs_error_set(CHS_EIO, "the archive at %s stopped answering for %d s; "
				    "nothing was lost, run sync again", url,
				    (timeout_ms + 999) / 1000);
	} else if (!cn->done) {
		chs_git__clear_locks(g->path, 1, 0);
		err = chs_error_set(CHS_EIO, "the sync helper for %s ended without a result; "
				    "nothing was lost, run sync again", url);
	} else if (cn->code < 0) {
		err = chs_error_set(cn->code, "%s", cn->message);
	}
done:
	close(fds[0]);
	free(cn);
	return err;
}

static int net_op_start(chs_git *g, net_op *op)
{
	int err;

	chs_buf_init(&op->refused, 4096);
	chs_buf_init(&op->said, 4096);
	op->t = &g->net;
	op->fd = -1;
	err = chs_git__is_local(op->url) ? chs_git__net_run(g->repo, op) : run_in_child(g, op);
	chs_buf_dispose(&op->refused);
	chs_buf_dispose(&op->said);
	return err;
}

void chs_git_set_transport(chs_git *g, const chs_git_transport *t)
{
	memset(&g->net, 0, sizeof(g->net));
	if (t)
		g->net = *t;
}

/* After a push, the fetched refs say what the archive now holds, as a
 * push updates git's remote-tracking refs: a ref the archive later loses
 * or winds back is then seen missing or behind at the next fetch, even
 * one this device pushed first. Bookkeeping only: a failure costs that
 * sight, not the push. */
static void track_pushed(chs_git *g, const char *const *refs, size_t n)
{
	const size_t ns = strlen("refs/");
	git_reference *r = NULL;
	char name[512];
	git_oid id;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strncmp(refs[i], "refs/chartsync/", 15) != 0 ||
		    git_reference_name_to_id(&id, g->repo, refs[i]) < 0)
			continue;
		snprintf(name, sizeof(name), "refs/remotes/archive/%s", refs[i] + ns);
		if (git_reference_create(&r, g->repo, name, &id, 1, "chartsync push") == 0)
			git_reference_free(r);
		r = NULL;
	}
	git_error_clear();
}

int chs_git_push(chs_git *g, const char *url, const char *const *refs, size_t n)
{
	net_op op = { 0 };
	int err;

	op.push = 1;
	op.url = url;
	op.refs = refs;
	op.n = n;
	if ((err = net_op_start(g, &op)) == 0)
		track_pushed(g, refs, n);
	return err;
}

int chs_git_fetch_refs(chs_git *g, const char *url, unsigned what)
{
	net_op op = { 0 };

	op.url = url;
	op.what = what;
	return net_op_start(g, &op);
}

int chs_git_fetch(chs_git *g, const char *url)
{
	return chs_git_fetch_refs(g, url, CHS_GIT_FETCH_CHANGES);
}
