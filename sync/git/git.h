/*
 * sync/git/git.h - the git layer, the one part of chartsync that talks to
 * libgit2 (nothing else may include <git2.h>).
 *
 * A local repository (a store's mirror of the archive), batch commits on
 * per-device refs signed in git's SSH signature format, and the push and
 * fetch that carry them. Refs move by compare-and-swap only; a push that
 * the archive refuses fails with the archive's reason (libgit2 reports a
 * refusal only through a callback); fetched refs land under
 * refs/remotes/archive/chartsync/. A push or fetch to a network archive
 * (git://, ssh, https) runs in a helper process that is killed when the
 * archive stops answering, so no call waits on the network forever.
 */
#ifndef CHS_SYNC_GIT_GIT_H
#define CHS_SYNC_GIT_GIT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

typedef struct chs_git chs_git;

/* How pushes and fetches reach the archive. */
typedef struct chs_git_transport {
	const chs_identity *ssh_key; /* signs SSH authentication; NULL: agent/key files only */
	int timeout_ms;               /* inactivity limit of a network operation; 0: default 60000 */
	void (*progress)(const char *what, size_t done, size_t total, void *payload); /* may be NULL */
	/* asked every 100 ms while a network helper runs (may be NULL):
	 * nonzero kills the helper and the push or fetch fails with
	 * CHS_ECANCELLED, leaving the repository as before it */
	int (*cancel)(void *payload);
	void *payload;
} chs_git_transport;

/* Lock and temporary files older than this many seconds are stale. */
#define CHS_GIT_STALE_LOCK_S 10

/* A file of a batch commit's tree, given by the caller. */
typedef struct chs_git_entry {
	const char *name;
	const void *data;
	size_t len;
} chs_git_entry;

/* A file read back from a commit (owned by the chs_git_commit). */
typedef struct chs_git_blob {
	char *name;
	unsigned char *data;
	size_t len;
} chs_git_blob;

typedef struct chs_git_commit {
	unsigned char signer[CHS_SIGN_PK_BYTES]; /* verified SSHSIG signer */
	size_t parents;
	char parent[41];    /* the first parent's id, "" for a root commit */
	int64_t time;       /* committer time, Unix seconds */
	char *message;
	chs_git_blob *entries; /* sorted by name, as git sorts a tree */
	size_t nentries;
} chs_git_commit;

/* Open the bare repository at `path`, creating it if missing. CHS_ERROR
 * when libgit2 could not be started as chartsync needs it (fsync on);
 * every call below that opens a repository fails so too. */
int chs_git_open(chs_git **out, const char *path);
/* Open the repository a git hook runs in, as git describes it in the
 * environment (GIT_DIR, and GIT_OBJECT_DIRECTORY with
 * GIT_ALTERNATE_OBJECT_DIRECTORIES for objects still in quarantine). */
int chs_git_open_env(chs_git **out);
void chs_git_free(chs_git *g);
/* Create a bare repository at `path` (and any missing parent folders) to
 * serve as an archive, with the settings it needs: pushes kept as packs
 * (receive.unpackLimit=1) and objects checked on receipt
 * (receive.fsckObjects). CHS_EEXISTS when a repository is there already.
 * The pre-receive hook is the caller's to install. */
int chs_git_init_archive(const char *path);
/* 0 when `path` itself is a bare git repository; CHS_ENOTFOUND when it is
 * no repository, CHS_EINVALID when it has a working tree. */
int chs_git_probe_bare(const char *path);
/* An archive's address as a message, log or status line may show it:
 * the secret an https address may carry masked, the rest as given.
 * "https://ann:TOKEN@host/x" is shown "https://ann:***@host/x",
 * "https://TOKEN@host/x" (a git host's access token alone) with ***
 * for the token; an ssh login ("ssh://git@host/x", "git@host:x")
 * carries no secret and is shown as is. Writes into buf (truncated to
 * len, always terminated) and returns buf. Every message of sync/git
 * shows the archive so; code above that puts an address into a message
 * calls this. */
const char *chs_git_shown_address(const char *url, char *buf, size_t len);
/* Settings for this handle's pushes and fetches (copied; ssh_key is
 * borrowed and must outlive the handle's pushes and fetches). The
 * environment variable CHARTSYNC_NET_TIMEOUT (whole seconds), when set,
 * overrides timeout_ms. progress is called on the calling thread, at most
 * a few times a second, with what is happening ("counting objects",
 * "writing objects", "receiving objects", ...) and how far (total 0 when
 * not known yet). */
void chs_git_set_transport(chs_git *g, const chs_git_transport *t);
/* Remove the lock and temporary files libgit2 leaves in the repository
 * when a process dies in the middle of a write (they would block later
 * writes), if older than CHS_GIT_STALE_LOCK_S (a live writer holds a
 * lock for milliseconds). Call it at the start of a sync, holding the
 * lock that keeps syncs of this repository one at a time. */
void chs_git_clear_stale_locks(chs_git *g);
/* The same leftovers removed whatever their age, for a caller that knows
 * no writer of the repository is alive: a sync of a store's mirror,
 * holding the store's sync lock, which every writer of the mirror holds
 * (the network helper of an earlier sync inherited it and dropped it only
 * by dying). A sync killed a moment ago leaves locks younger than
 * CHS_GIT_STALE_LOCK_S that would otherwise fail the sync run again. */
void chs_git_clear_dead_locks(chs_git *g);
/* Commit a tree of `entries` on top of `ref` (or as its first commit),
 * signed by `id`, author and committer "device <id>" at `when`, and move
 * `ref` to it unless it moved meanwhile (CHS_EBUSY). */
int chs_git_write_commit(chs_git *g, const char *ref, const chs_git_entry *entries,
			 size_t n, const char *message, const chs_identity *id,
			 int64_t when, char oid_out[41]);
/* Between chs_git_hold() and chs_git_release(), commits stay in memory
 * and their refs do not move; release writes them all as one pack (one
 * fsync; a pack every 32 MiB of objects when there are more) and then
 * moves the refs (compare-and-swap from where they were before the first
 * commit). Without a hold each commit is written at once. A handle freed
 * while holding drops what it held from memory (what reached disk is
 * unreachable: no ref points at it). */
void chs_git_hold(chs_git *g);
int chs_git_release(chs_git *g);
/* Write what is held, keeping the hold. */
int chs_git_flush(chs_git *g);
/* Every fetch and every sync's commits add a pack, and reads slow down
 * with many (8x at 1,000: libgit2 has no gc): past `max_packs` packs
 * under 32 MiB, roll the small ones into one, leaving the big ones of
 * history as they are (as git's `repack --geometric=2`). Objects only
 * move, never go: a process reading the repository meanwhile still finds
 * every one. */
int chs_git_maintain(chs_git *g, size_t max_packs);
/* The same for the archive at `url` when it is a folder on this machine
 * (a path or file://), which each push by path adds a pack to and no git
 * server keeps; a network archive's server does that itself (git's
 * receive-pack runs `git gc --auto`), so for one this does nothing. */
int chs_git_maintain_archive(const char *url, size_t max_packs);
/* 1 in *yes when the repository holds a file (a git blob) of exactly
 * these bytes, whether fetched or made here. */
int chs_git_has_file(chs_git *g, const void *data, size_t len, int *yes);
/* The commit `ref` points at; CHS_ENOTFOUND if it does not exist. */
int chs_git_ref(chs_git *g, const char *ref, char oid_out[41]);
/* Point `ref` at commit `oid`, which the repository holds, if it is still
 * at `old` (NULL: wherever it is now, or absent; "": only if it does not
 * exist yet); CHS_EBUSY when it moved meanwhile. For a mirror's own ref set to the archive's (a store behind
 * its own history). */
int chs_git_set_ref(chs_git *g, const char *ref, const char *oid, const char *old);
/* Push `refs` (each to the same name) without force; CHS_EDENIED with
 * the archive's reason when it refuses, and when it refuses this
 * device's SSH key or its own host key is not the one known
 * (/etc/ssh/ssh_known_hosts or ~/.ssh/known_hosts; a key listed there
 * for the host but different is refused as a possible attack); CHS_EIO when it cannot be reached or stops
 * answering for the inactivity limit (nothing is lost: run it again).
 * URLs: a path, file://, git://, ssh://[user@]host[:port]/path,
 * user@host:path, https://. To a path, the push writes into the archive
 * itself, and first clears what a push killed there left behind (the
 * locks of the refs it moves, temporary packs) once stale. A pushed
 * refs/chartsync/X moves refs/remotes/archive/chartsync/X here too, as
 * git's remote-tracking refs move. */
int chs_git_push(chs_git *g, const char *url, const char *const *refs, size_t n);
/* Fetch the archive's roster and device refs (refs/chartsync/roster and
 * refs/chartsync/devices/...) into refs/remotes/archive/chartsync/...,
 * deleting there the refs of the kinds fetched that the archive no longer
 * holds; errors as chs_git_push(), except that a write this computer
 * refuses (a full disk, a quota, a read-only file system) is CHS_EIO in
 * words that say so, never as an archive out of reach. Attachment chunks
 * are not fetched. */
int chs_git_fetch(chs_git *g, const char *url);
/* What chs_git_fetch_refs() fetches: */
#define CHS_GIT_FETCH_CHANGES 1u /* the roster and the devices' batches */
#define CHS_GIT_FETCH_CHUNKS 2u  /* attachment chunks (refs/chartsync/blobs/...):
				  * only for a device that reads clinical data */
int chs_git_fetch_refs(chs_git *g, const char *url, unsigned what);
/* The commits reachable from `ref` and not from `since` (NULL: all),
 * oldest first; `*out` is malloc'ed (NULL and 0 when `ref` is absent). */
int chs_git_log(chs_git *g, const char *ref, const char *since,
		char (**out)[41], size_t *n);
/* The names of the refs under `prefix` (e.g. "refs/remotes/archive/"),
 * sorted; free with chs_git_refs_free(). */
int chs_git_refs(chs_git *g, const char *prefix, char ***names, size_t *n);
void chs_git_refs_free(char **names, size_t n);
/* Like chs_git_log(), from commit `tip` rather than a ref: a pre-receive
 * hook sees the pushed commits before any ref points at them. `since`
 * NULL walks to the root. */
int chs_git_log_range(chs_git *g, const char *tip, const char *since,
		      char (**out)[41], size_t *n);
/* 1 in *yes when commit `ancestor` is `descendant` or one of its
 * ancestors (`git merge-base --is-ancestor`), else 0. */
int chs_git_is_ancestor(chs_git *g, const char *ancestor, const char *descendant,
			int *yes);
/* Read a commit and verify its signature (CHS_EDAMAGED when unsigned or
 * not verifying; whether the signer is trusted is the caller's call). */
int chs_git_read(chs_git *g, const char *oid, chs_git_commit **out);
void chs_git_commit_free(chs_git_commit *c);

#endif /* CHS_SYNC_GIT_GIT_H */
