/*
 * sync/git/git_int.h - what the files of sync/git/ share; included only
 * by them. The git layer: batches as signed commits on per-device refs,
 * and the moves that carry them to and from an archive. Its public calls
 * are declared in sync/git/git.h; only the files of this folder include
 * <git2.h>.
 *
 * What libgit2 1.5 really does, and what the files here do about it
 * (ARCHITECTURE.md, "What the libraries do", has more):
 * - A refusal by the server does not fail git_remote_push(): it comes
 *   only through push_update_reference (and the hook's words through
 *   sideband_progress). Any status there fails the push here, with the
 *   server's reason in the message.
 * - Refs move by compare-and-swap (git_reference_create_matching with the
 *   expected old id): a device ref never moves unless it still is where
 *   the caller last saw it, and never backwards.
 * - Fetching uses a forced refspec into a namespace of its own
 *   (refs/remotes/archive/...), never into a ref this device writes.
 * - libgit2 does not fsync by default: switched on once at start-up.
 * - Commits are signed with SSHSIG (crypto/sshsig.c) in the gpgsig
 *   header, so `git log --show-signature` verifies them; libgit2 verifies
 *   nothing, so reading a commit verifies its signature here.
 * - No network timeouts exist in libgit2: a push or fetch to a network
 *   archive runs in a helper process that is killed when the archive
 *   stops answering (see "Bounding network time" in helper.c), and the
 *   locks a killed transfer leaves are removed.
 * - SSH authenticates with the device key through a custom sign callback,
 *   so the key never touches disk; the callback for credentials is called
 *   again after each refused key, so it counts and gives up itself.
 * - libgit2 leaves Nagle's algorithm on for its sockets, and writes a push
 *   in many small pieces: the helper process turns it off before the pack
 *   goes (see no_delay() in wire.c).
 *
 * The files, each calling only those listed after it (no cycles):
 *   helper.c    the forked network helper and its watchdog; push, fetch
 *   local.c     an archive in a folder: fetch, push, roll-up; net_run
 *   wire.c      a libgit2 transfer's callbacks, credentials, refspecs
 *   pipe.c      the helper's messages to its parent
 *   rollup.c    small packs rolled into one
 *   commit.c    batch commits, held objects, ref moves
 *   read.c      refs, history, commits read back and verified
 *   packwrite.c objects written as one pack; lists of object ids
 *   sha1.c      SHA-1 (sha1.h) for the pack trailer
 *   locks.c     stale locks and temporary files
 *   repo.c      open, create, free; libgit2's start; chs_git__fail
 */
#ifndef CHS_GIT_INT_H
#define CHS_GIT_INT_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/types.h>
#include <time.h>

#include "sync/git/git.h"

#define CHS_GIT_NET_MSG_MAX 4096 /* bytes of one message: PIPE_BUF, atomic */

/* A ref move waiting for its objects to reach disk (see chs_git_hold). */
typedef struct pending_ref {
	char *ref;
	git_oid old, tip;
	int has_old;
} pending_ref;

#define CHS_GIT_MAX_PENDING 8

/* A growing list of object ids. */
typedef struct oid_list {
	git_oid *ids;
	size_t n, cap;
} oid_list;

struct chs_git {
	git_repository *repo;
	char *path;            /* its git folder, for the helper process */
	int from_env;          /* opened as a hook (chs_git_open_env) */
	chs_git_transport net; /* settings of pushes and fetches */
	git_odb_backend *mempack; /* new objects wait here until flushed */
	oid_list held;            /* what this handle put there, to write out */
	size_t held_bytes;        /* their size, about */
	int holding;              /* chs_git_hold: flush at chs_git_release */
	pending_ref pending[CHS_GIT_MAX_PENDING];
	size_t npending;
};

/*
 * One push or fetch, and what its callbacks learn. The same code runs in
 * this process (local paths) or in the helper process (network archives,
 * see "Bounding network time" in helper.c); `fd` tells which.
 */
typedef struct net_op {
	int push;                  /* 1: push `refs`, 0: fetch */
	unsigned what;             /* fetch: CHS_GIT_FETCH_* */
	const char *url;
	const char *const *refs;
	size_t n;
	const chs_git_transport *t;
	int fd;                    /* pipe to the parent; -1 in-process */
	uint64_t reported_ms;      /* when progress was last reported */
	size_t tries;              /* SSH credentials handed out so far */
	int out_of_keys;           /* every credential was refused */
	int host_unknown;          /* the host key or certificate did not check */
	int tls_unknown;           /* ... and it was an https certificate */
	int host_changed;          /* ... and a known_hosts file lists another key */
	chs_buf refused;           /* "ref: reason" lines from the server */
	chs_buf said;              /* what the archive's hook printed */
	fd_set inherited;          /* helper: descriptors open when it started */
} net_op;

/* What the parent has heard from the child so far. */
typedef struct child_news {
	unsigned char buf[2 * CHS_GIT_NET_MSG_MAX];
	size_t len;
	int done;        /* the result arrived */
	int code;
	char message[CHS_GIT_NET_MSG_MAX];
} child_news;

/* repo.c */

/* Start libgit2 once per process (thread-safe), with fsync on and the
 * memory limits set; every entry point that opens a repository calls it
 * first. CHS_ERROR, with libgit2's reason, when any of that failed: then
 * it fails the same way in every thread, for the life of the process. */
int chs_git__start(void);
/* Set `code` with "<what>: <libgit2's last message>"; returns `code`. */
int chs_git__fail(int code, const char *what);
/* A fetch from `url` failed: CHS_EIO, and a message that names the real
 * cause. When libgit2's last error is this computer refusing a write (a
 * full disk, a quota, a read-only file system), it says so; otherwise
 * "<what> <url>: <libgit2's message>" (what: "cannot reach the archive
 * at", ...). A full disk is not an unreachable archive. */
int chs_git__fail_fetch(const char *url, const char *what);

/* packwrite.c */

int chs_git__oid_list_add(oid_list *l, const git_oid *id);
/* Sort `ids` and keep each once; the count kept. */
size_t chs_git__unique_oids(git_oid *ids, size_t n);
/* Objects `ids` of odb `from`, each once, as a new pack in odb `to`
 * (the same or another repository's); fsynced by the indexer. Its file
 * name in `name` when not NULL (libgit2 names a pack by its checksum).
 * `stop`, when not NULL, is asked every few hundred objects: when it
 * says so, nothing is committed and CHS_ECANCELLED returned. */
int chs_git__write_pack_of(git_odb *from, git_odb *to, const git_oid *ids, size_t n,
			   char name[64], int (*stop)(void *payload), void *payload);

/* read.c */

/* The current tip of `ref`, if any: *has = 0 when the ref is new. */
int chs_git__ref_tip(git_repository *repo, const char *ref, git_oid *tip, int *has);

/* commit.c */

/* Move `ref` from `old` (or from nothing) to `new` if it is still there:
 * libgit2's answer (GIT_EMODIFIED or GIT_EEXISTS: it moved meanwhile). */
int chs_git__swap_ref(git_repository *repo, const char *ref, const git_oid *new,
		      const git_oid *old, int has_old, const char *why);

/* rollup.c */

/* Roll the packs of `repo` into fewer when there are more than
 * `max_packs`. */
int chs_git__roll_up_packs(git_repository *repo, size_t max_packs);

/* pipe.c (the helper process writes, its parent reads) */

/* Progress: `what` NULL is a sign of life only. Both _exit(1) when the
 * parent is gone. */
void chs_git__send_progress(int fd, const char *what, size_t done, size_t total);
void chs_git__send_result(int fd, int code, const char *message);
/* Read what is there; 1 if anything arrived, 0 if nothing, -1 at EOF. */
int chs_git__read_news(int fd, child_news *cn, const chs_git_transport *t);

/* wire.c */

/* Milliseconds of a monotonic clock. */
uint64_t chs_git__mono_ms(void);
/* Helper: remember the descriptors open when it started (see no_delay()). */
void chs_git__note_inherited(net_op *op);
/* The hook's own words, trimmed to one line, when it said anything. */
const char *chs_git__hook_words(net_op *op);
/* A push that would rewind a ref of the archive, however it was found. */
int chs_git__refused_rewind(void);
int chs_git__push_refspecs(git_remote *remote, net_op *op);
int chs_git__fetch_refspecs(git_remote *remote, net_op *op);

/* local.c */

/* Run one push or fetch on `repo`, wherever this process is. */
/* The system-wide known_hosts file an SSH archive's host key is also
 * looked up in (CHS_GIT_SYSTEM_KNOWN_HOSTS; NULL puts it back). For the
 * tests, which cannot write /etc/ssh: set before a push or fetch, it
 * holds in the helper process too; `path` is borrowed, kept until set
 * again. */
#define CHS_GIT_SYSTEM_KNOWN_HOSTS "/etc/ssh/ssh_known_hosts"
void chs_git__set_system_known_hosts(const char *path);
int chs_git__net_run(git_repository *repo, net_op *op);
/* `text` (libgit2's words, a message) into out with the archive's
 * address `url` (may be NULL), wherever it appears, and the userinfo of
 * any other address in it shown as chs_git_shown_address() shows it:
 * libgit2 quotes the address it was given ("malformed URL '...'"). */
void chs_git__scrub(char *out, size_t cap, const char *text, const char *url);
/* A path or file:// URL: no network, nothing to bound. */
int chs_git__is_local(const char *url);

/* locks.c */

/* Remove leftovers in `dir` (into subfolders when `deep`) last changed
 * before `older_than` (0: any). */
void chs_git__clear_dir(const char *dir, int deep, time_t older_than);
/* The same in the places a fetch writes (`sync_only`) or in every place
 * libgit2 locks or writes temporary files. */
void chs_git__clear_locks(const char *gitdir, int sync_only, time_t older_than);

#endif
