/*
 * The git layer: batches as signed commits on per-device refs, and the
 * moves that carry them to and from an archive. Only this file includes
 * <git2.h>.
 *
 * What libgit2 1.5 really does, and what this file does about it
 * (../shared/FACTS.md has the details):
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
 *   stops answering (see "Bounding network time"), and the locks a killed
 *   transfer leaves are removed.
 * - SSH authenticates with the device key through a custom sign callback,
 *   so the key never touches disk; the callback for credentials is called
 *   again after each refused key, so it counts and gives up itself.
 * - libgit2 leaves Nagle's algorithm on for its sockets, and writes a push
 *   in many small pieces: the helper process turns it off before the pack
 *   goes (see no_delay()).
 */
#define _GNU_SOURCE /* pipe2() */
#include "sync/sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* What a fetch asks for: a store that may not read clinical data never
 * receives attachment chunks, not even as ciphertext. A ref the archive
 * lacks (no roster yet) is no error. */
#define FETCH_ROSTER "+refs/chartsync/roster:refs/remotes/archive/chartsync/roster"
#define FETCH_DEVICES "+refs/chartsync/devices/*:refs/remotes/archive/chartsync/devices/*"
#define FETCH_BLOBS "+refs/chartsync/blobs/*:refs/remotes/archive/chartsync/blobs/*"
#define NET_TIMEOUT_DEFAULT_MS 60000 /* inactivity limit of a push or fetch */
#define PROGRESS_EVERY_MS 100        /* least time between progress reports */
#define CHILD_POLL_MS 100            /* how often the parent checks the child */
#define NET_MSG_MAX 4096             /* bytes of one message: PIPE_BUF, atomic */

/* A ref move waiting for its objects to reach disk (see chs_git_hold). */
typedef struct pending_ref {
	char *ref;
	git_oid old, tip;
	int has_old;
} pending_ref;

#define MAX_PENDING 8

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
	pending_ref pending[MAX_PENDING];
	size_t npending;
};

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_start(void)
{
	git_libgit2_init();
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
	/* a pull walks each commit once: libgit2's defaults (a 256 MiB object
	 * cache, up to 8 GiB of pack mapped) would only hold memory that a
	 * pull of a million changes must keep under 200 MB */
	git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)(16 << 20));
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)(64 << 20));
	/* windows of 1 GiB (the 64-bit default) would keep a whole pack's
	 * touched pages resident however low the limit: smaller windows are
	 * unmapped as the walk moves on */
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)(16 << 20));
}

static int git_fail(int code, const char *what)
{
	const git_error *e = git_error_last();

	return chs_error_set(code, "%s: %s", what, e && e->message ? e->message : "git failed");
}

/* Batches are ciphertext: no two objects ever share a run of bytes, so
 * searching for deltas when building a pack (the main cost of a push) is
 * wasted. libgit2 1.5 reads its size limit for delta candidates from
 * pack.deltaCacheSize (sic, pack-objects.c); 1 byte rules every object
 * out. Should a later libgit2 read another key, pushes are only slower. */
static void no_deltas(git_repository *repo)
{
	git_config *cfg = NULL;

	if (git_repository_config(&cfg, repo) == 0)
		git_config_set_int64(cfg, "pack.deltaCacheSize", 1);
	git_config_free(cfg);
}

/* New objects are written to memory and reach disk as one pack with
 * one fsync (chs_git_flush), not as loose objects with an fsync each:
 * the difference between a few milliseconds and tens per batch. */
static int add_mempack(chs_git *g)
{
	git_odb *odb = NULL;
	int rc;

	if (git_repository_odb(&odb, g->repo) < 0 || git_mempack_new(&g->mempack) < 0)
		rc = -1;
	else if ((rc = git_odb_add_backend(odb, g->mempack, 1000)) < 0)
		g->mempack->free(g->mempack);
	git_odb_free(odb);
	if (rc < 0) {
		g->mempack = NULL;
		return git_fail(CHS_ERROR, "cannot prepare the git repository");
	}
	return 0;
}

/* Finish opening: remember the git folder (the helper process opens its
 * own handle there, and stale locks are looked for there). */
static int keep_path(chs_git *g, chs_git **out)
{
	if (!(g->path = strdup(git_repository_path(g->repo)))) {
		git_repository_free(g->repo);
		free(g);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	*out = g;
	return 0;
}

int chs_git_open(chs_git **out, const char *path)
{
	chs_git *g = calloc(1, sizeof(*g));
	int err;

	*out = NULL;
	if (!g)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	pthread_once(&git_once, git_start);
	if (git_repository_open_bare(&g->repo, path) < 0) {
		if (git_repository_init(&g->repo, path, 1) < 0) {
			free(g);
			return git_fail(CHS_EIO, "cannot open the git repository");
		}
		no_deltas(g->repo);
	}
	if ((err = add_mempack(g)) < 0) {
		git_repository_free(g->repo);
		free(g);
		return err;
	}
	return keep_path(g, out);
}

int chs_git_open_env(chs_git **out)
{
	chs_git *g = calloc(1, sizeof(*g));
	int err;

	*out = NULL;
	if (!g)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	pthread_once(&git_once, git_start);
	if (git_repository_open_ext(&g->repo, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL) < 0) {
		free(g);
		return git_fail(CHS_EIO, "cannot open the archive's repository");
	}
	g->from_env = 1;
	if ((err = add_mempack(g)) < 0) {
		git_repository_free(g->repo);
		free(g);
		return err;
	}
	return keep_path(g, out);
}

/* Settings an archive needs that its hook cannot enforce itself. */
static int configure_archive(git_repository *repo)
{
	git_config *cfg = NULL;
	int err = 0;

	if (git_repository_config(&cfg, repo) < 0)
		return git_fail(CHS_EIO, "cannot read the archive's settings");
	/* keep each push as one pack: ciphertext never deltas, and loose
	 * objects make every later fetch slow (FACTS.md) */
	if (git_config_set_int32(cfg, "receive.unpackLimit", 1) < 0 ||
	    /* a malformed object is refused before the hook even runs */
	    git_config_set_bool(cfg, "receive.fsckObjects", 1) < 0 ||
	    /* these guard refs/heads/ only; the hook guards refs/chartsync/ */
	    git_config_set_bool(cfg, "receive.denyNonFastForwards", 1) < 0 ||
	    git_config_set_bool(cfg, "receive.denyDeletes", 1) < 0 ||
	    /* ciphertext never deltas: git's pack-objects serving a fetch
	     * skips the search with no window, libgit2 (a store fetching
	     * from this folder) with no delta candidates (see no_deltas()) */
	    git_config_set_int32(cfg, "pack.window", 0) < 0 ||
	    git_config_set_int64(cfg, "pack.deltaCacheSize", 1) < 0)
		err = git_fail(CHS_EIO, "cannot write the archive's settings");
	git_config_free(cfg);
	return err;
}

int chs_git_init_archive(const char *path)
{
	git_repository_init_options opts;
	git_repository *repo = NULL;
	int rc, err;

	pthread_once(&git_once, git_start);
	git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT |
		     GIT_REPOSITORY_INIT_MKPATH;
	if ((rc = git_repository_init_ext(&repo, path, &opts)) < 0)
		return rc == GIT_EEXISTS
			? chs_error_set(CHS_EEXISTS, "'%s' is a git repository already", path)
			: git_fail(CHS_EIO, "cannot create the archive");
	err = configure_archive(repo);
	git_repository_free(repo);
	return err;
}

int chs_git_probe_bare(const char *path)
{
	git_repository *repo = NULL;
	int bare;

	pthread_once(&git_once, git_start);
	/* NO_SEARCH: a folder inside some other repository is not one */
	if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
		return chs_error_set(CHS_ENOTFOUND, "'%s' is not a git repository", path);
	bare = git_repository_is_bare(repo);
	git_repository_free(repo);
	return bare ? 0 : chs_error_set(CHS_EINVALID,
					"'%s' is not a bare git repository (an archive has no "
					"working tree)", path);
}

void chs_git_free(chs_git *g)
{
	size_t i;

	if (!g)
		return;
	/* what was never flushed is dropped: no ref points at it */
	for (i = 0; i < g->npending; i++)
		free(g->pending[i].ref);
	git_repository_free(g->repo);
	free(g->held.ids);
	free(g->path);
	free(g);
}

/* ------------------------------------------------------------------ */
/* Writing a batch commit                                               */

static int oid_list_add(oid_list *l, const git_oid *id)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		git_oid *grown = realloc(l->ids, cap * sizeof(*grown));

		if (!grown)
			return chs_error_set(CHS_ENOMEM, "out of memory");
		l->ids = grown;
		l->cap = cap;
	}
	git_oid_cpy(&l->ids[l->n++], id);
	return 0;
}

/* Remember an object this handle wrote into the mempack: the flush
 * writes exactly these to disk. */
static int note_held(chs_git *g, const git_oid *id)
{
	return oid_list_add(&g->held, id);
}

static int write_tree(chs_git *g, const chs_git_entry *e, size_t n, git_tree **out)
{
	git_treebuilder *tb = NULL;
	git_oid blob, tree;
	size_t i;
	int err = 0;

	if (git_treebuilder_new(&tb, g->repo, NULL) < 0)
		return git_fail(CHS_ERROR, "cannot build a tree");
	for (i = 0; i < n && !err; i++) {
		if (git_blob_create_from_buffer(&blob, g->repo, e[i].data, e[i].len) < 0 ||
		    git_treebuilder_insert(NULL, tb, e[i].name, &blob, GIT_FILEMODE_BLOB) < 0)
			err = git_fail(CHS_ERROR, "cannot store a batch in git");
		else if ((err = note_held(g, &blob)) == 0)
			g->held_bytes += e[i].len;
	}
	if (!err && (git_treebuilder_write(&tree, tb) < 0 ||
		     git_tree_lookup(out, g->repo, &tree) < 0))
		err = git_fail(CHS_ERROR, "cannot store a batch in git");
	if (!err)
		err = note_held(g, &tree);
	git_treebuilder_free(tb);
	return err;
}

/* The current tip of `ref`, if any: *has = 0 when the ref is new. */
static int ref_tip(git_repository *repo, const char *ref, git_oid *tip, int *has)
{
	int rc = git_reference_name_to_id(tip, repo, ref);

	*has = rc == 0;
	if (rc == 0 || rc == GIT_ENOTFOUND)
		return 0;
	return git_fail(CHS_EIO, "cannot read a git ref");
}

static int sign_and_store(chs_git *g, const git_buf *content, const chs_identity *id,
			  git_oid *out)
{
	chs_buf sig;
	int err;

	chs_buf_init(&sig, 0);
	if ((err = chs_sshsig_sign(&sig, id, "git", content->ptr, content->size)) < 0)
		return err;
	if (git_commit_create_with_signature(out, g->repo, content->ptr, sig.ptr, "gpgsig") < 0)
		err = git_fail(CHS_ERROR, "cannot store a signed commit");
	else
		err = note_held(g, out);
	chs_buf_dispose(&sig);
	return err;
}

/* Move `ref` from `old` (or from nothing) to `new` if it is still there:
 * libgit2's answer (GIT_EMODIFIED or GIT_EEXISTS: it moved meanwhile). */
static int swap_ref(git_repository *repo, const char *ref, const git_oid *new,
		    const git_oid *old, int has_old, const char *why)
{
	git_reference *r = NULL;
	int rc = has_old ? git_reference_create_matching(&r, repo, ref, new, 1, old, why)
			 : git_reference_create(&r, repo, ref, new, 0, why);

	git_reference_free(r);
	return rc;
}

/* Move `ref` from `old` (or from nothing) to `new`, failing if it moved. */
static int move_ref(git_repository *repo, const char *ref, const git_oid *new,
		    const git_oid *old, int has_old)
{
	int rc = swap_ref(repo, ref, new, old, has_old, "chartsync batch");

	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS)
		return chs_error_set(CHS_EBUSY, "the ref '%s' moved meanwhile; try again", ref);
	if (rc == GIT_ELOCKED)
		return chs_error_set(CHS_EBUSY, "the ref '%s' is locked (%s.lock): another write "
				     "is under way, or one was interrupted; the next sync removes "
				     "a stale lock", ref, ref);
	return rc < 0 ? git_fail(CHS_EIO, "cannot move a git ref") : 0;
}

static pending_ref *pending_of(chs_git *g, const char *ref)
{
	size_t i;

	for (i = 0; i < g->npending; i++)
		if (strcmp(g->pending[i].ref, ref) == 0)
			return &g->pending[i];
	return NULL;
}

/* Where `ref` will point: its pending tip, else where it points now. */
static int next_parent(chs_git *g, const char *ref, git_oid *tip, int *has)
{
	pending_ref *p = pending_of(g, ref);

	if (p) {
		git_oid_cpy(tip, &p->tip);
		*has = 1;
		return 0;
	}
	return ref_tip(g->repo, ref, tip, has);
}

static int note_pending(chs_git *g, const char *ref, const git_oid *old, int has_old,
			const git_oid *tip)
{
	pending_ref *p = pending_of(g, ref);

	if (!p) {
		if (g->npending == MAX_PENDING)
			return chs_error_set(CHS_ERROR, "too many refs in one git write");
		p = &g->pending[g->npending];
		if (!(p->ref = strdup(ref)))
			return chs_error_set(CHS_ENOMEM, "out of memory");
		git_oid_cpy(&p->old, old);
		p->has_old = has_old;
		g->npending++;
	}
	git_oid_cpy(&p->tip, tip);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Held objects, written as one pack                                    */

/*
 * What a sync makes (blobs, trees, commits) waits in the mempack and
 * reaches disk as one pack, written here rather than by
 * git_mempack_dump(): libgit2's pack builder deflates every object at
 * zlib's default level, and most of a batch is ciphertext, which does not
 * shrink. For 10,000 changes that deflating took 53 ms of a 0.3 s commit
 * step, and the indexer spent more inflating it back. Here an object
 * whose first KiB does not shrink at level 1 is stored as it is
 * (deflate's stored blocks: a copy and a checksum), anything else is
 * deflated at level 1. The stream is pack version 2: a header, each
 * object's type and size then its zlib stream, and the SHA-1 of it all.
 * libgit2's indexer (git_odb_write_pack) takes it as it takes a fetched
 * pack: it hashes every object again, checks the trailer, writes the
 * index and fsyncs both; nothing here is trusted by git unchecked.
 */
#define PACK_FEED_BYTES ((size_t)1 << 20) /* given to the indexer at a time */
#define HOLD_MAX_BYTES ((size_t)32 << 20) /* held before a pack is written */
#define ROLL_MAX_BYTES ((off_t)32 << 20)  /* a pack this big is never rolled up */
#define SHRINK_PROBE_BYTES 1024           /* what is tried before deflating */

/* SHA-1 (FIPS 180-4), for the pack's trailer: libgit2 offers its own
 * only inside the library. */
typedef struct sha1_ctx {
	uint32_t h[5];
	uint64_t len;
	unsigned char block[64];
	size_t used;
} sha1_ctx;

static uint32_t rol32(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

/* One round: the four kinds of round differ in f and k only, so four
 * plain loops instead of one that picks f and k as it goes (a fifth
 * faster: 16 MiB at 110-115 MB/s before, 133-143 MB/s after). */
#define SHA1_ROUND(f, k)                                              \
	do {                                                          \
		uint32_t t = rol32(a, 5) + (f) + e + (k) + w[i];      \
		e = d;                                                \
		d = c;                                                \
		c = rol32(b, 30);                                     \
		b = a;                                                \
		a = t;                                                \
	} while (0)

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (i = 0; i < 20; i++)
		SHA1_ROUND((b & c) | (~b & d), 0x5a827999u);
	for (; i < 40; i++)
		SHA1_ROUND(b ^ c ^ d, 0x6ed9eba1u);
	for (; i < 60; i++)
		SHA1_ROUND((b & c) | (b & d) | (c & d), 0x8f1bbcdcu);
	for (; i < 80; i++)
		SHA1_ROUND(b ^ c ^ d, 0xca62c1d6u);
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void sha1_init(sha1_ctx *s)
{
	static const uint32_t h0[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
					0xc3d2e1f0 };

	memcpy(s->h, h0, sizeof(h0));
	s->len = 0;
	s->used = 0;
}

static void sha1_update(sha1_ctx *s, const void *data, size_t len)
{
	const unsigned char *p = data;

	s->len += len;
	if (s->used) {
		size_t take = 64 - s->used < len ? 64 - s->used : len;

		memcpy(s->block + s->used, p, take);
		s->used += take;
		p += take;
		len -= take;
		if (s->used < 64)
			return;
		sha1_block(s->h, s->block);
		s->used = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha1_block(s->h, p);
	memcpy(s->block, p, len);
	s->used = len;
}

static void sha1_final(sha1_ctx *s, unsigned char out[20])
{
	uint64_t bits = s->len * 8;
	unsigned char pad[72] = { 0x80 };
	size_t n = (s->used < 56 ? 56 : 120) - s->used;
	int i;

	for (i = 0; i < 8; i++)
		pad[n + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
	sha1_update(s, pad, n + 8);
	for (i = 0; i < 20; i++)
		out[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

/* A pack on its way to the indexer. */
typedef struct pack_out {
	git_odb_writepack *wp;
	git_indexer_progress stats;
	sha1_ctx sha;
	unsigned char *buf; /* bytes not yet given to the indexer */
	size_t len, cap;
} pack_out;

static int pack_feed(pack_out *po)
{
	int rc = po->len ? po->wp->append(po->wp, po->buf, po->len, &po->stats) : 0;

	po->len = 0;
	return rc < 0 ? git_fail(CHS_EIO, "cannot write to the git repository") : 0;
}

/* Room for `more` bytes at po->buf + po->len. */
static int pack_room(pack_out *po, size_t more)
{
	unsigned char *grown;
	size_t cap;

	if (po->cap - po->len >= more)
		return 0;
	if (more > SIZE_MAX / 2 - po->len)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	cap = po->len + more > PACK_FEED_BYTES ? po->len + more : PACK_FEED_BYTES;
	if (!(grown = realloc(po->buf, cap)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	po->buf = grown;
	po->cap = cap;
	return 0;
}

/* 1 when deflating `data` is worth it: its first KiB shrinks at level 1.
 * Ciphertext never does. */
static int worth_deflating(const unsigned char *data, size_t len)
{
	unsigned char z[SHRINK_PROBE_BYTES + 64];
	uLongf zlen = sizeof(z);
	uLong probe = len < SHRINK_PROBE_BYTES ? (uLong)len : SHRINK_PROBE_BYTES;

	if (compress2(z, &zlen, data, probe, Z_BEST_SPEED) != Z_OK)
		return 0;
	return zlen < probe - probe / 8;
}

/* One object: its type and size, then its zlib stream. */
static int pack_object(pack_out *po, git_odb_object *obj)
{
	const unsigned char *data = git_odb_object_data(obj);
	size_t len = git_odb_object_size(obj), n = 0, start;
	unsigned char head[16];
	uLongf zlen;
	size_t left = len;
	int err;

	head[n++] = (unsigned char)((git_odb_object_type(obj) & 7) << 4 | (left & 15));
	for (left >>= 4; left; left >>= 7) {
		head[n - 1] |= 0x80;
		head[n++] = (unsigned char)(left & 0x7f);
	}
	zlen = compressBound((uLong)len);
	if ((err = pack_room(po, n + zlen)) < 0)
		return err;
	start = po->len;
	memcpy(po->buf + po->len, head, n);
	if (compress2(po->buf + po->len + n, &zlen, data, (uLong)len,
		      worth_deflating(data, len) ? Z_BEST_SPEED : Z_NO_COMPRESSION) != Z_OK)
		return chs_error_set(CHS_ENOMEM, "cannot compress an object for git");
	po->len += n + zlen;
	sha1_update(&po->sha, po->buf + start, po->len - start);
	return po->len >= PACK_FEED_BYTES ? pack_feed(po) : 0;
}

static int by_oid(const void *a, const void *b)
{
	return git_oid_cmp(a, b);
}

/* Sort `ids` and keep each once; the count kept. */
static size_t unique_oids(git_oid *ids, size_t n)
{
	size_t i, kept = 0;

	qsort(ids, n, sizeof(*ids), by_oid);
	for (i = 0; i < n; i++)
		if (kept == 0 || !git_oid_equal(&ids[kept - 1], &ids[i]))
			git_oid_cpy(&ids[kept++], &ids[i]);
	return kept;
}

/* Objects `ids` of odb `from`, each once, as a new pack in odb `to`
 * (the same or another repository's); fsynced by the indexer. Its file
 * name in `name` when not NULL (libgit2 names a pack by its checksum). */
static int write_pack_of(git_odb *from, git_odb *to, const git_oid *ids, size_t n,
			 char name[64])
{
	unsigned char head[12] = { 'P', 'A', 'C', 'K', 0, 0, 0, 2 }, trailer[20];
	git_odb_object *obj = NULL;
	pack_out po;
	size_t i;
	int err = 0;

	memset(&po, 0, sizeof(po));
	sha1_init(&po.sha);
	head[8] = (unsigned char)(n >> 24);
	head[9] = (unsigned char)(n >> 16);
	head[10] = (unsigned char)(n >> 8);
	head[11] = (unsigned char)n;
	if (git_odb_write_pack(&po.wp, to, NULL, NULL) < 0)
		return git_fail(CHS_EIO, "cannot write to the git repository");
	if ((err = pack_room(&po, sizeof(head))) == 0) {
		memcpy(po.buf, head, sizeof(head));
		po.len = sizeof(head);
		sha1_update(&po.sha, head, sizeof(head));
	}
	for (i = 0; i < n && err == 0; i++) {
		if (git_odb_read(&obj, from, &ids[i]) < 0)
			err = git_fail(CHS_EIO, "cannot read an object to pack");
		else
			err = pack_object(&po, obj);
		git_odb_object_free(obj);
		obj = NULL;
	}
	if (err == 0 && (err = pack_room(&po, sizeof(trailer))) == 0) {
		sha1_final(&po.sha, trailer);
		memcpy(po.buf + po.len, trailer, sizeof(trailer));
		po.len += sizeof(trailer);
		if ((err = pack_feed(&po)) == 0 && po.wp->commit(po.wp, &po.stats) < 0)
			err = git_fail(CHS_EIO, "cannot write to the git repository");
	}
	if (err == 0 && name) {
		git_oid sum;

		git_oid_fromraw(&sum, trailer);
		snprintf(name, 64, "pack-%s.pack", git_oid_tostr_s(&sum));
	}
	po.wp->free(po.wp);
	free(po.buf);
	return err;
}

/* The objects held in memory, as one pack on disk. */
static int write_held_objects(chs_git *g)
{
	git_odb *odb = NULL;
	int err = 0;

	if (g->held.n) {
		if (git_repository_odb(&odb, g->repo) < 0)
			err = git_fail(CHS_EIO, "cannot write to the git repository");
		else /* each once: a blob can be in two commits of one sync */
			err = write_pack_of(odb, odb, g->held.ids, unique_oids(g->held.ids, g->held.n),
					    NULL);
		git_odb_free(odb);
	}
	g->held.n = 0;
	g->held_bytes = 0;
	git_mempack_reset(g->mempack);
	return err;
}

int chs_git_flush(chs_git *g)
{
	size_t i;
	int err = 0;

	if (g->npending == 0)
		return 0;
	err = write_held_objects(g);
	/* refs move only once their objects are on disk */
	for (i = 0; i < g->npending; i++) {
		pending_ref *p = &g->pending[i];

		if (err == 0)
			err = move_ref(g->repo, p->ref, &p->tip, &p->old, p->has_old);
		free(p->ref);
	}
	g->npending = 0;
	return err;
}

void chs_git_hold(chs_git *g)
{
	g->holding = 1;
}

int chs_git_release(chs_git *g)
{
	g->holding = 0;
	return chs_git_flush(g);
}

int chs_git_write_commit(chs_git *g, const char *ref, const chs_git_entry *entries,
			 size_t n, const char *message, const chs_identity *id,
			 int64_t when, char oid_out[41])
{
	git_signature *who = NULL;
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_buf content = { 0 };
	git_oid tip, commit, old;
	char name[64], device[33];
	int has_tip, has_old, err;

	chs_identity_device_id(id, device);
	snprintf(name, sizeof(name), "device %s", device);
	if ((err = ref_tip(g->repo, ref, &old, &has_old)) < 0 ||
	    (err = next_parent(g, ref, &tip, &has_tip)) < 0 ||
	    (err = write_tree(g, entries, n, &tree)) < 0)
		goto done;
	if ((has_tip && git_commit_lookup(&parent, g->repo, &tip) < 0) ||
	    git_signature_new(&who, name, "chartsync@invalid", when, 0) < 0 ||
	    git_commit_create_buffer(&content, g->repo, who, who, NULL, message, tree,
				     has_tip ? 1 : 0, (const git_commit **)&parent) < 0) {
		err = git_fail(CHS_ERROR, "cannot make a batch commit");
		goto done;
	}
	if ((err = sign_and_store(g, &content, id, &commit)) < 0 ||
	    (err = note_pending(g, ref, &old, has_old, &commit)) < 0 ||
	    (!g->holding && (err = chs_git_flush(g)) < 0))
		goto done;
	/* a sync of a million changes holds a pack at a time, not all of
	 * them: the objects go to disk, the refs still wait for the rest */
	if (g->holding && g->held_bytes >= HOLD_MAX_BYTES && (err = write_held_objects(g)) < 0)
		goto done;
	git_oid_tostr(oid_out, 41, &commit);
done:
	git_buf_dispose(&content);
	git_signature_free(who);
	git_commit_free(parent);
	git_tree_free(tree);
	return err;
}

/* ------------------------------------------------------------------ */
/* Keeping reads fast: fewer packs                                      */

/*
 * Every fetch and every sync's commits add a pack, to the mirror and (by
 * path) to the archive, and libgit2 looks for an object in each pack in
 * turn and has no gc: a folder archive after 100 syncs of 100 changes
 * took twice as long to sync as after 10. Past a number of packs, the
 * small ones are rolled into one, as git's `repack --geometric=2` does:
 * sorted by size, the packs that would not each be at least twice the
 * size of all smaller ones together become one, and the big packs of
 * history are left as they are. Each byte is copied a few times over its
 * life, not at every repack, so the cost follows what is new. Packs of
 * 32 MiB and more (a big sync writes its objects in packs of that size)
 * are never rolled up: rewriting them would be a pause of seconds for
 * nothing, as lookups in a few big packs are cheap.
 *
 * Objects only ever move: the new pack is on disk (the indexer fsyncs it)
 * before the packs it replaces are removed, so a process reading the
 * repository at the same time finds every object (libgit2 looks again in
 * the pack folder when an object is missing). Packs git marks as not
 * to be repacked (.keep: receive-pack keeps its pack so until the refs
 * move; .promisor, .mtimes) and packs whose index is not written yet are
 * never touched.
 */
typedef struct pack_file {
	char *name; /* pack-<hash>.pack */
	off_t size;
} pack_file;

static void packs_free(pack_file *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(p[i].name);
	free(p);
}

/* The path of pack `name`'s file with extension `ext` (".idx", ...) in
 * `dir`; -1 when it does not fit. */
static int pack_path(char path[4096], const char *dir, const char *name, const char *ext)
{
	int len = snprintf(path, 4096, "%s/%.*s%s", dir, (int)(strlen(name) - 5), name, ext);

	return len < 0 || len >= 4096 ? -1 : 0;
}

/* 1 when pack `name` has a file with extension `ext` in `dir`. */
static int pack_has(const char *dir, const char *name, const char *ext)
{
	char path[4096];
	struct stat st;

	return pack_path(path, dir, name, ext) == 0 && stat(path, &st) == 0;
}

static int by_size(const void *a, const void *b)
{
	const pack_file *x = a, *y = b;

	return (x->size > y->size) - (x->size < y->size);
}

/* 1 when pack `name` in `dir` may be rolled up: complete (its index is
 * there), marked by git for no repack, under ROLL_MAX_BYTES; its size in
 * *size. */
static int pack_rollable(const char *dir, const char *name, off_t *size)
{
	char path[4096];
	struct stat st;

	if (!pack_has(dir, name, ".idx") || pack_has(dir, name, ".keep") ||
	    pack_has(dir, name, ".promisor") || pack_has(dir, name, ".mtimes") ||
	    pack_path(path, dir, name, ".pack") < 0 || stat(path, &st) < 0 ||
	    st.st_size >= ROLL_MAX_BYTES)
		return 0;
	*size = st.st_size;
	return 1;
}

/* The packs in `dir` (objects/pack) that may be rolled up, smallest
 * first; none when the folder holds `max_packs` packs or fewer, which is
 * known from the names alone (no stat at each sync). */
static int list_packs(const char *dir, size_t max_packs, pack_file **out, size_t *n)
{
	pack_file *list = NULL;
	struct dirent *e;
	size_t cap = 0, i, kept = 0;
	DIR *d;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!(d = opendir(dir)))
		return 0;
	while (err == 0 && (e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len < 10 || strncmp(e->d_name, "pack-", 5) || strcmp(e->d_name + len - 5, ".pack"))
			continue;
		if (*n == cap) {
			pack_file *grown = realloc(list, (cap = cap ? 2 * cap : 16) * sizeof(*grown));

			if (!grown) {
				err = chs_error_set(CHS_ENOMEM, "out of memory");
				break;
			}
			list = grown;
		}
		if (!(list[*n].name = strdup(e->d_name)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			(*n)++;
	}
	closedir(d);
	if (err < 0 || *n <= max_packs) {
		packs_free(list, *n);
		*n = 0;
		return err;
	}
	for (i = 0; i < *n; i++) {
		if (pack_rollable(dir, list[i].name, &list[i].size))
			list[kept++] = list[i];
		else
			free(list[i].name);
	}
	*n = kept;
	qsort(list, *n, sizeof(*list), by_size);
	*out = list;
	return 0;
}

/* How many of the packs `p` (smallest first) to roll into one, so that
 * each pack left is at least twice the size of all smaller ones. */
static size_t geometric_split(const pack_file *p, size_t n)
{
	off_t rolled = 0;
	size_t i, split;

	if (n < 2)
		return 0;
	/* the big packs that already grow twofold stay */
	for (i = n - 1; i > 0; i--)
		if (p[i].size < 2 * p[i - 1].size)
			break;
	split = i ? i + 1 : 0;
	for (i = 0; i < split; i++)
		rolled += p[i].size;
	/* and any of them the new pack would not be half the size of */
	for (; split < n && p[split].size < 2 * rolled; split++)
		rolled += p[split].size;
	return split;
}

/* Remove pack `name` from `dir`: its index first, so that nobody starts
 * reading it, then the pack and what git may keep beside it. */
static void remove_pack(const char *dir, const char *name)
{
	static const char *const ext[] = { ".idx", ".pack", ".rev", ".bitmap" };
	char path[4096];
	size_t i;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		if (pack_path(path, dir, name, ext[i]) == 0)
			unlink(path);
}

static int add_oid(const git_oid *id, void *payload)
{
	return oid_list_add(payload, id) < 0 ? GIT_EUSER : 0;
}

/* Packs `p`, each opened on its own, as one object database. */
static int open_packs(git_odb **out, const char *dir, const pack_file *p, size_t n)
{
	git_odb_backend *b;
	char path[4096];
	size_t i;

	if (git_odb_new(out) < 0)
		return git_fail(CHS_ENOMEM, "cannot read the packs");
	for (i = 0; i < n; i++) {
		if (pack_path(path, dir, p[i].name, ".idx") < 0 ||
		    git_odb_backend_one_pack(&b, path) < 0)
			return git_fail(CHS_EIO, "cannot read a pack");
		if (git_odb_add_backend(*out, b, 1) < 0) {
			b->free(b);
			return git_fail(CHS_ENOMEM, "cannot read the packs");
		}
	}
	return 0;
}

/* Roll the packs of `repo` into fewer when there are more than
 * `max_packs`. */
static int roll_up_packs(git_repository *repo, size_t max_packs)
{
	const char *gitdir = git_repository_path(repo); /* ends in '/' */
	git_odb *packs = NULL, *odb = NULL;
	pack_file *p = NULL;
	oid_list ids = { 0 };
	char dir[4096], fresh[64];
	size_t n = 0, split, i;
	int rc, err;

	if (snprintf(dir, sizeof(dir), "%sobjects/pack", gitdir) >= (int)sizeof(dir))
		return chs_error_set(CHS_EINVALID, "the git folder's path is too long");
	if ((err = list_packs(dir, max_packs, &p, &n)) < 0 || n <= max_packs ||
	    (split = geometric_split(p, n)) < 2)
		goto done;
	if ((err = open_packs(&packs, dir, p, split)) < 0)
		goto done;
	if ((rc = git_odb_foreach(packs, add_oid, &ids)) < 0) {
		err = rc == GIT_EUSER ? chs_error_last_code() : git_fail(CHS_EIO, "cannot read a pack");
		goto done;
	}
	if (git_repository_odb(&odb, repo) < 0) {
		err = git_fail(CHS_EIO, "cannot open the git repository");
		goto done;
	}
	if ((err = write_pack_of(packs, odb, ids.ids, unique_oids(ids.ids, ids.n), fresh)) < 0)
		goto done;
	/* the old packs go only once the new one is there under its name */
	if (!pack_has(dir, fresh, ".pack") || !pack_has(dir, fresh, ".idx")) {
		err = chs_error_set(CHS_EIO, "the pack just written is not in %s", dir);
		goto done;
	}
	for (i = 0; i < split; i++)
		if (strcmp(p[i].name, fresh) != 0)
			remove_pack(dir, p[i].name);
	git_odb_refresh(odb);
done:
	git_odb_free(odb);
	git_odb_free(packs);
	free(ids.ids);
	packs_free(p, n);
	return err;
}

int chs_git_maintain(chs_git *g, size_t max_packs)
{
	return roll_up_packs(g->repo, max_packs);
}

/* ------------------------------------------------------------------ */
/* Push and fetch: what happens on the wire                             */

/*
 * One push or fetch, and what its callbacks learn. The same code runs in
 * this process (local paths) or in the helper process (network archives,
 * see "Bounding network time" below); `fd` tells which.
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
	chs_buf refused;           /* "ref: reason" lines from the server */
	chs_buf said;              /* what the archive's hook printed */
	fd_set inherited;          /* helper: descriptors open when it started */
} net_op;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void send_progress(int fd, const char *what, size_t done, size_t total);

/* Tell the caller (or the parent) how far the transfer is. `what` NULL is
 * a sign of life only (the server answered), never shown to a person. */
static void report(net_op *op, const char *what, size_t done, size_t total)
{
	uint64_t now = mono_ms();

	/* at most ten reports a second; the last one of a phase always */
	if (now - op->reported_ms < PROGRESS_EVERY_MS && !(what && total && done == total))
		return;
	op->reported_ms = now;
	if (op->fd >= 0)
		send_progress(op->fd, what, done, total);
	else if (what && op->t->progress)
		op->t->progress(what, done, total, op->t->payload);
}

static int on_ref_status(const char *refname, const char *status, void *payload)
{
	net_op *op = payload;

	if (status)
		chs_buf_printf(&op->refused, "%s%s: %s", op->refused.len ? "; " : "",
			       refname, status);
	return 0;
}

static int on_sideband(const char *text, int len, void *payload)
{
	net_op *op = payload;

	report(op, NULL, 0, 0);
	if (op->push && len > 0 && op->said.len < 1024)
		chs_buf_put(&op->said, text, (size_t)len);
	return 0;
}

static int on_pack(int stage, uint32_t current, uint32_t total, void *payload)
{
	report(payload, stage == GIT_PACKBUILDER_ADDING_OBJECTS ? "counting objects"
							       : "compressing objects",
	       current, total);
	return 0;
}

static int on_push_transfer(unsigned int current, unsigned int total, size_t bytes,
			    void *payload)
{
	(void)bytes;
	report(payload, "writing objects", current, total);
	return 0;
}

static int on_fetch_transfer(const git_indexer_progress *p, void *payload)
{
	if (p->received_objects < p->total_objects)
		report(payload, "receiving objects", p->received_objects, p->total_objects);
	else
		report(payload, "resolving deltas", p->indexed_deltas, p->total_deltas);
	return 0;
}

/* libgit2 checks an SSH host against ~/.ssh/known_hosts (and an https
 * certificate against the system's CAs) before it calls this; keep its
 * verdict and remember a bad one for the message. */
static int on_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	net_op *op = payload;

	(void)cert;
	(void)host;
	report(op, NULL, 0, 0);
	if (!valid)
		op->host_unknown = 1;
	return GIT_PASSTHROUGH;
}

/* The SSH wire form of an Ed25519 public key:
 * string("ssh-ed25519") string(32-byte key), each with a 4-byte
 * big-endian length. */
#define SSH_ED25519_BLOB_BYTES (4 + 11 + 4 + CHS_SIGN_PK_BYTES)

static void ssh_ed25519_blob(unsigned char out[SSH_ED25519_BLOB_BYTES],
			     const unsigned char pk[CHS_SIGN_PK_BYTES])
{
	static const unsigned char head[4 + 11 + 4] = {
		0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9',
		0, 0, 0, CHS_SIGN_PK_BYTES
	};

	memcpy(out, head, sizeof(head));
	memcpy(out + sizeof(head), pk, CHS_SIGN_PK_BYTES);
}

/* libssh2 asks for the raw 64-byte Ed25519 signature of `data` in
 * malloc'ed memory (it frees it, and wraps it in string("ssh-ed25519")
 * string(sig) itself: checked against OpenSSH 9.2's sshd). `*abstract`
 * is the payload given to git_credential_ssh_custom_new(). */
static int sign_with_device(LIBSSH2_SESSION *session, unsigned char **sig, size_t *sig_len,
			    const unsigned char *data, size_t data_len, void **abstract)
{
	const chs_identity *id = *abstract;

	(void)session;
	if (!(*sig = malloc(CHS_SIGNATURE_BYTES)))
		return -1;
	chs_identity_sign(id, *sig, data, data_len);
	*sig_len = CHS_SIGNATURE_BYTES;
	return 0;
}

/* The SSH keys this device may offer, in order: the device key when the
 * caller set one; otherwise ssh-agent (when running) and then
 * ~/.ssh/id_ed25519 (when present). Offering an agent that is not there
 * would end the connection instead of trying the next key. */
static int ssh_key_at(git_credential **out, const net_op *op, const char *user, size_t i)
{
	unsigned char blob[SSH_ED25519_BLOB_BYTES];
	const char *home = getenv("HOME"), *agent = getenv("SSH_AUTH_SOCK");
	char file[4096];

	if (op->t->ssh_key) {
		if (i > 0)
			return GIT_ENOTFOUND;
		ssh_ed25519_blob(blob, chs_identity_public(op->t->ssh_key));
		return git_credential_ssh_custom_new(out, user, (const char *)blob, sizeof(blob),
						     sign_with_device, (void *)op->t->ssh_key);
	}
	if (agent && *agent && i-- == 0)
		return git_credential_ssh_key_from_agent(out, user);
	if (home && snprintf(file, sizeof(file), "%s/.ssh/id_ed25519", home) < (int)sizeof(file) &&
	    access(file, R_OK) == 0 && i-- == 0)
		return git_credential_ssh_key_new(out, user, NULL, file, NULL);
	return GIT_ENOTFOUND;
}

/* Called once to start and again after each refused key: hand out the
 * next key, and give up (out_of_keys) when none is left. */
static int on_credentials(git_credential **out, const char *url, const char *user_from_url,
			  unsigned int allowed, void *payload)
{
	net_op *op = payload;
	const char *user = user_from_url && *user_from_url ? user_from_url : "git";
	int rc;

	(void)url;
	report(op, NULL, 0, 0);
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	if (!(allowed & (GIT_CREDENTIAL_SSH_CUSTOM | GIT_CREDENTIAL_SSH_KEY)))
		return GIT_PASSTHROUGH; /* https with a password: not ours to answer */
	rc = ssh_key_at(out, op, user, op->tries++);
	if (rc == GIT_ENOTFOUND) {
		op->out_of_keys = 1;
		git_error_set_str(GIT_ERROR_SSH, "no more SSH keys to offer");
		return GIT_EAUTH;
	}
	return rc;
}

/*
 * libgit2 1.5 writes a push as many small writes (the commands, the pack
 * header, each object's header and data) on a socket with Nagle's
 * algorithm on: a small write then waits until the server acknowledges
 * the one before, and the server delays that acknowledgement by 40 ms
 * (Linux's shortest delayed ACK). Measured on git:// at 127.0.0.1: 40 of
 * the 90 ms of a push of 100 changes. libgit2 has no hook on its sockets
 * (a custom GIT_STREAM_STANDARD would break its ssh transport, which reads
 * the descriptor out of libgit2's own socket struct), so the helper
 * process, once libgit2 has connected and before the pack goes, turns
 * TCP_NODELAY on for every TCP socket that was not open when the helper
 * started: libgit2's, never one it shares with the parent. Speed only:
 * any failure here is ignored.
 */
static void note_inherited(net_op *op)
{
	int fd;

	FD_ZERO(&op->inherited);
	for (fd = 0; fd < FD_SETSIZE; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			FD_SET(fd, &op->inherited);
}

static void no_delay(const net_op *op)
{
	struct sockaddr_storage a;
	socklen_t len;
	int fd, type, one = 1;

	for (fd = 0; fd < FD_SETSIZE; fd++) {
		if (FD_ISSET(fd, &op->inherited))
			continue;
		len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
			continue;
		len = sizeof(a);
		if (getsockname(fd, (struct sockaddr *)&a, &len) == 0 &&
		    (a.ss_family == AF_INET || a.ss_family == AF_INET6))
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
}

/* Called once connected, with the refs agreed, before the pack is sent. */
static int on_negotiated(const git_push_update **updates, size_t n, void *payload)
{
	net_op *op = payload;

	(void)updates;
	(void)n;
	report(op, NULL, 0, 0);
	if (op->fd >= 0)
		no_delay(op);
	return 0;
}

static void set_callbacks(git_remote_callbacks *cb, net_op *op)
{
	cb->credentials = on_credentials;
	cb->certificate_check = on_certificate;
	cb->sideband_progress = on_sideband;
	cb->payload = op;
	if (op->push) {
		cb->push_update_reference = on_ref_status;
		cb->push_negotiation = on_negotiated;
		cb->pack_progress = on_pack;
		cb->push_transfer_progress = on_push_transfer;
	} else {
		cb->transfer_progress = on_fetch_transfer;
	}
}

/* The hook's own words, trimmed to one line, when it said anything. */
static const char *hook_words(net_op *op)
{
	char *p;

	if (!op->said.ptr)
		return "";
	while ((p = strchr(op->said.ptr, '\r')) || (p = strchr(op->said.ptr, '\n')))
		*p = ' ';
	return op->said.ptr;
}

/* A push that would rewind a ref of the archive, however it was found. */
static int refused_rewind(void)
{
	return chs_error_set(CHS_EDENIED, "the archive refused the push: it holds commits of "
			     "this device's ref that this device does not have (not a "
			     "fast-forward)");
}

/* Why a push or fetch failed, in words, once libgit2 gave up. */
static int net_failure(net_op *op, int rc, const char *doing)
{
	if (op->host_unknown)
		return chs_error_set(CHS_EDENIED, "the archive at %s is not the host this device "
				     "knows (its SSH host key is not in ~/.ssh/known_hosts, or it "
				     "changed); ask the admin for the archive's host key", op->url);
	if (op->out_of_keys && op->tries == 1 && !op->t->ssh_key)
		return chs_error_set(CHS_EDENIED, "no SSH key to offer the archive at %s (no "
				     "device key set, no ssh-agent, no ~/.ssh/id_ed25519)", op->url);
	if (op->out_of_keys)
		return chs_error_set(CHS_EDENIED, op->t->ssh_key
				     ? "the archive at %s refused this device's SSH key; ask the "
				       "admin to add it (chartsync device allowed-signers prints it)"
				     : "the archive at %s refused every SSH key of this computer "
				       "(ssh-agent, ~/.ssh/id_ed25519); ask the admin to add one",
				     op->url);
	if (rc == GIT_ENONFASTFORWARD)
		return refused_rewind();
	return git_fail(CHS_EIO, doing);
}

static int push_refspecs(git_remote *remote, net_op *op)
{
	git_push_options opts;
	git_strarray specs;
	char **list = calloc(op->n + 1, sizeof(*list));
	size_t i;
	int rc, err = 0;

	if (!list)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < op->n && !err; i++) {
		chs_buf b;

		/* no '+': the archive must fast-forward, never rewind */
		chs_buf_init(&b, 0);
		if ((err = chs_buf_printf(&b, "%s:%s", op->refs[i], op->refs[i])) == 0)
			list[i] = chs_buf_detach(&b);
	}
	specs.strings = list;
	specs.count = op->n;
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	set_callbacks(&opts.callbacks, op);
	if (!err && (rc = git_remote_push(remote, &specs, &opts)) < 0)
		err = net_failure(op, rc, "cannot push to the archive");
	for (i = 0; i < op->n; i++)
		free(list[i]);
	free(list);
	return err;
}

static int fetch_refspecs(git_remote *remote, net_op *op)
{
	char *spec[3];
	git_strarray specs = { spec, 0 };
	git_fetch_options opts;
	int rc;

	if (op->what & CHS_GIT_FETCH_CHANGES) {
		spec[specs.count++] = (char *)FETCH_ROSTER;
		spec[specs.count++] = (char *)FETCH_DEVICES;
	}
	if (op->what & CHS_GIT_FETCH_CHUNKS)
		spec[specs.count++] = (char *)FETCH_BLOBS;
	if (specs.count == 0)
		return 0;
	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	opts.prune = GIT_FETCH_NO_PRUNE;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.update_fetchhead = 0; /* nothing reads FETCH_HEAD: one lock less */
	set_callbacks(&opts.callbacks, op);
	if ((rc = git_remote_fetch(remote, &specs, &opts, NULL)) < 0)
		return net_failure(op, rc, "cannot fetch from the archive");
	return 0;
}

static int is_local(const char *url);

/* ------------------------------------------------------------------ */
/* Fetching from an archive on this machine                             */

/*
 * libgit2's local transport copies every object the archive holds,
 * whatever refs were asked for, so a billing office fetching from a
 * folder would receive every attachment chunk. A fetch from a path is
 * therefore done here: walk the wanted refs in the archive, hiding what
 * this mirror already has, pack exactly those objects into this mirror,
 * then point the fetched refs (refs/remotes/archive/...) at the archive's
 * tips, as the forced refspecs of a network fetch would.
 */
typedef struct wanted_ref {
	char *src;  /* refs/chartsync/... in the archive */
	git_oid tip;
} wanted_ref;

static int wanted(unsigned what, const char *name)
{
	if (what & CHS_GIT_FETCH_CHANGES &&
	    (!strcmp(name, "refs/chartsync/roster") || !strncmp(name, "refs/chartsync/devices/", 23)))
		return 1;
	return (what & CHS_GIT_FETCH_CHUNKS) && !strncmp(name, "refs/chartsync/blobs/", 21);
}

static void wanted_free(wanted_ref *w, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(w[i].src);
	free(w);
}

static int list_wanted(git_repository *src, unsigned what, wanted_ref **out, size_t *n)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	wanted_ref *list = NULL;
	size_t cap = 0;
	int rc, err = 0;

	*out = NULL;
	*n = 0;
	if (git_reference_iterator_glob_new(&it, src, "refs/chartsync/*") < 0)
		return git_fail(CHS_EIO, "cannot read the archive's refs");
	while (err == 0 && (rc = git_reference_next(&ref, it)) == 0) {
		const git_oid *id = git_reference_target(ref);

		if (id && wanted(what, git_reference_name(ref))) {
			if (*n == cap) {
				wanted_ref *g = realloc(list, (cap = cap ? cap * 2 : 16) * sizeof(*g));

				if (!g) {
					err = chs_error_set(CHS_ENOMEM, "out of memory");
					git_reference_free(ref);
					break;
				}
				list = g;
			}
			git_oid_cpy(&list[*n].tip, id);
			if (!(list[*n].src = strdup(git_reference_name(ref))))
				err = chs_error_set(CHS_ENOMEM, "out of memory");
			else
				(*n)++;
		}
		git_reference_free(ref);
	}
	if (err == 0 && rc != GIT_ITEROVER)
		err = git_fail(CHS_EIO, "cannot read the archive's refs");
	git_reference_iterator_free(it);
	if (err < 0)
		wanted_free(list, *n);
	else
		*out = list;
	return err;
}

/* Hide, in the archive's walk, every tip this mirror already holds.
 * Most of this mirror's refs name commits the archive has not got (or
 * not yet): looked up without libgit2 reading the pack folder again at
 * each miss, a miss only costs a few objects copied twice. */
static int hide_known(git_repository *mine, git_repository *src, git_revwalk *w)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	git_odb *odb = NULL;
	int rc, err = 0;

	if (git_repository_odb(&odb, src) < 0 || git_reference_iterator_new(&it, mine) < 0) {
		git_odb_free(odb);
		return git_fail(CHS_EIO, "cannot read the git repository");
	}
	while ((rc = git_reference_next(&ref, it)) == 0) {
		const git_oid *id = git_reference_target(ref);

		if (id && git_odb_exists_ext(odb, id, GIT_ODB_LOOKUP_NO_REFRESH) &&
		    git_revwalk_hide(w, id) < 0)
			err = git_fail(CHS_EIO, "cannot walk the archive");
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	git_odb_free(odb);
	return err;
}

/* The indexer keeps its count in the progress it is given: one for the
 * whole pack, from the first append to the commit. */
typedef struct pack_sink {
	git_odb_writepack *wp;
	git_indexer_progress stats;
} pack_sink;

static int append_to_pack(void *buf, size_t size, void *payload)
{
	pack_sink *sink = payload;

	return sink->wp->append(sink->wp, buf, size, &sink->stats);
}

/* The objects the archive's tips reach and this mirror lacks, as one
 * pack in this mirror. */
static int copy_objects(git_repository *mine, git_repository *src, const wanted_ref *w,
			size_t n)
{
	git_packbuilder *pb = NULL;
	git_revwalk *walk = NULL;
	pack_sink sink;
	git_odb *odb = NULL;
	size_t i;
	int err = 0;

	memset(&sink, 0, sizeof(sink));
	if (git_revwalk_new(&walk, src) < 0 || git_packbuilder_new(&pb, src) < 0)
		err = git_fail(CHS_EIO, "cannot read the archive");
	for (i = 0; i < n && err == 0; i++)
		if (git_revwalk_push(walk, &w[i].tip) < 0)
			err = git_fail(CHS_EDAMAGED, "the archive holds a ref to a missing commit");
	if (err == 0)
		err = hide_known(mine, src, walk);
	if (err == 0 && git_packbuilder_insert_walk(pb, walk) < 0)
		err = git_fail(CHS_EDAMAGED, "cannot read the archive's commits");
	if (err == 0 && git_packbuilder_object_count(pb) > 0) {
		if (git_repository_odb(&odb, mine) < 0 ||
		    git_odb_write_pack(&sink.wp, odb, NULL, NULL) < 0 ||
		    git_packbuilder_foreach(pb, append_to_pack, &sink) < 0 ||
		    sink.wp->commit(sink.wp, &sink.stats) < 0)
			err = git_fail(CHS_EIO, "cannot copy the archive's objects");
	}
	if (sink.wp)
		sink.wp->free(sink.wp);
	git_odb_free(odb);
	git_packbuilder_free(pb);
	git_revwalk_free(walk);
	return err;
}

static int point_fetched_refs(git_repository *mine, const wanted_ref *w, size_t n)
{
	chs_buf name;
	size_t i;
	int err = 0;

	chs_buf_init(&name, 0);
	for (i = 0; i < n && err == 0; i++) {
		git_reference *r = NULL;
		git_oid now;

		name.len = 0;
		if ((err = chs_buf_printf(&name, "refs/remotes/archive/%s",
					  w[i].src + strlen("refs/"))) < 0)
			break;
		/* a ref that has not moved is not written again: each write
		 * costs two fsyncs, and most refs stand still between syncs */
		if (git_reference_name_to_id(&now, mine, name.ptr) < 0)
			git_error_clear();
		else if (git_oid_equal(&now, &w[i].tip))
			continue;
		if (git_reference_create(&r, mine, name.ptr, &w[i].tip, 1, "chartsync fetch") < 0)
			err = git_fail(CHS_EIO, "cannot record what was fetched");
		git_reference_free(r);
	}
	chs_buf_dispose(&name);
	return err;
}

/* The folder of a path or file:// archive. */
static const char *folder_of(const char *url)
{
	return strncmp(url, "file://", 7) ? url : url + 7;
}

/* An archive on this machine, opened as it is (no search upwards). */
static int open_folder(git_repository **out, const char *url)
{
	if (git_repository_open_ext(out, folder_of(url), GIT_REPOSITORY_OPEN_NO_SEARCH |
				    GIT_REPOSITORY_OPEN_BARE, NULL) < 0)
		return git_fail(CHS_EIO, "cannot open the archive");
	return 0;
}

static int local_fetch(git_repository *mine, const char *url, unsigned what)
{
	git_repository *src = NULL;
	wanted_ref *w = NULL;
	size_t n = 0;
	int err;

	if ((err = open_folder(&src, url)) < 0)
		return err;
	if ((err = list_wanted(src, what, &w, &n)) == 0 && n > 0 &&
	    (err = copy_objects(mine, src, w, n)) == 0)
		err = point_fetched_refs(mine, w, n);
	wanted_free(w, n);
	git_repository_free(src);
	return err;
}

/* ------------------------------------------------------------------ */
/* Pushing to an archive on this machine                                */

/*
 * libgit2's local transport sends a push through its pack builder, which
 * deflates every object again at zlib's default level (ciphertext, which
 * never shrinks). What a push must send is known without it: the
 * objects of the commits from each ref's tip here back to its tip in the
 * archive. They are packed into the archive as held objects are packed
 * here (write_pack_of), then each ref is moved from the archive's tip to
 * this mirror's with compare-and-swap, and only as a fast-forward: a
 * rewind, or a ref that moved meanwhile, is refused in the words a
 * network archive's refusal gets, so the caller's fetch-and-retry works
 * the same. No hook runs for a push by path, with libgit2 or without.
 * (10,000 changes to a folder: 27-31k changes/s through libgit2, 36-39k
 * so; 100 changes: 3-5 ms of 20 less.)
 */
typedef struct push_ref {
	const char *name;
	git_oid mine, theirs;
	int has_theirs, moves;
} push_ref;

/* The objects a push sends: those the archive does not hold yet. Every
 * new object is a miss there, looked up without reading the archive's
 * pack folder again (a pack that arrived meanwhile only means an object
 * sent twice). */
typedef struct to_send {
	oid_list list;
	git_odb *archive;
	int err;
} to_send;

static int send_object(to_send *t, const git_oid *id)
{
	if (git_odb_exists_ext(t->archive, id, GIT_ODB_LOOKUP_NO_REFRESH))
		return 0;
	return t->err = oid_list_add(&t->list, id);
}

static int add_tree_entry(const char *root, const git_tree_entry *e, void *payload)
{
	(void)root;
	return send_object(payload, git_tree_entry_id(e)) < 0 ? -1 : 0;
}

/* Where each ref stands here and in the archive; a ref the archive holds
 * moves only to a descendant of its tip there. */
static int push_plan(git_repository *mine, git_odb *have, git_repository *src, push_ref *pr,
		     size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (git_reference_name_to_id(&pr[i].mine, mine, pr[i].name) < 0)
			return git_fail(CHS_EIO, "cannot read a git ref");
		rc = git_reference_name_to_id(&pr[i].theirs, src, pr[i].name);
		if (rc < 0 && rc != GIT_ENOTFOUND)
			return git_fail(CHS_EIO, "cannot read the archive's refs");
		pr[i].has_theirs = rc == 0;
		pr[i].moves = !pr[i].has_theirs || !git_oid_equal(&pr[i].mine, &pr[i].theirs);
		if (!pr[i].moves || !pr[i].has_theirs)
			continue;
		/* an archive tip unknown here is not an ancestor either */
		if (!git_odb_exists(have, &pr[i].theirs))
			return refused_rewind();
		rc = git_graph_descendant_of(mine, &pr[i].mine, &pr[i].theirs);
		if (rc == 0)
			return refused_rewind();
		if (rc < 0)
			return git_fail(CHS_EIO, "cannot walk this device's commits");
	}
	return 0;
}

/* The objects the archive lacks of the commits the moving refs add:
 * each commit, its tree and everything the tree holds. */
static int objects_to_send(git_repository *mine, const push_ref *pr, size_t n, to_send *l)
{
	git_revwalk *walk = NULL;
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_oid id;
	size_t i;
	int rc = GIT_ITEROVER, err = 0;

	if (git_revwalk_new(&walk, mine) < 0)
		return git_fail(CHS_EIO, "cannot walk this device's commits");
	for (i = 0; i < n && err == 0; i++) {
		if (pr[i].moves && git_revwalk_push(walk, &pr[i].mine) < 0)
			err = git_fail(CHS_EIO, "cannot walk this device's commits");
		else if (pr[i].moves && pr[i].has_theirs && git_revwalk_hide(walk, &pr[i].theirs) < 0)
			err = git_fail(CHS_EIO, "cannot walk this device's commits");
	}
	while (err == 0 && (rc = git_revwalk_next(&id, walk)) == 0) {
		if (git_commit_lookup(&c, mine, &id) < 0 || git_commit_tree(&t, c) < 0)
			err = git_fail(CHS_EDAMAGED, "a commit of this device cannot be read");
		else if (send_object(l, &id) < 0 || send_object(l, git_tree_id(t)) < 0 ||
			 git_tree_walk(t, GIT_TREEWALK_PRE, add_tree_entry, l) < 0)
			err = l->err ? l->err : git_fail(CHS_EDAMAGED, "a commit of this device "
							 "cannot be read");
		git_tree_free(t);
		git_commit_free(c);
		t = NULL;
		c = NULL;
	}
	if (err == 0 && rc != GIT_ITEROVER)
		err = git_fail(CHS_EIO, "cannot walk this device's commits");
	git_revwalk_free(walk);
	return err;
}

/* Move the archive's ref, if it still is where the plan found it. */
static int push_ref_move(git_repository *src, const push_ref *p)
{
	int rc = swap_ref(src, p->name, &p->mine, &p->theirs, p->has_theirs, "chartsync push");

	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS)
		return refused_rewind();
	if (rc == GIT_ELOCKED)
		return chs_error_set(CHS_EBUSY, "the archive's ref '%s' is locked (%s.lock): "
				     "another push is under way, or one was interrupted; a sync "
				     "%d s later clears a lock left behind", p->name, p->name,
				     CHS_GIT_STALE_LOCK_S);
	return rc < 0 ? git_fail(CHS_EIO, "cannot move a ref in the archive") : 0;
}

static void clear_dir(const char *dir, int deep, time_t older_than);

/* What a push killed midway left in the archive and would block it with:
 * the locks of the refs this push moves (only this device writes them)
 * and temporary packs, when stale (as chs_git_clear_stale_locks()). */
static void clear_archive_leftovers(git_repository *src, const push_ref *pr, size_t n)
{
	time_t stale = time(NULL) - CHS_GIT_STALE_LOCK_S;
	const char *gitdir = git_repository_path(src); /* ends in '/' */
	char path[4096];
	struct stat st;
	size_t i;

	for (i = 0; i < n; i++)
		if (pr[i].moves &&
		    snprintf(path, sizeof(path), "%s%s.lock", gitdir, pr[i].name) < (int)sizeof(path) &&
		    lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < stale)
			unlink(path);
	if (snprintf(path, sizeof(path), "%sobjects/pack", gitdir) < (int)sizeof(path))
		clear_dir(path, 0, stale);
}

static int local_push(git_repository *mine, const char *url, const char *const *refs,
		      size_t n)
{
	git_repository *src = NULL;
	git_odb *from = NULL, *to = NULL;
	push_ref *pr = calloc(n + 1, sizeof(*pr));
	to_send l;
	size_t i;
	int err;

	memset(&l, 0, sizeof(l));
	if (!pr)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		pr[i].name = refs[i];
	if ((err = open_folder(&src, url)) < 0)
		goto done;
	if (git_repository_odb(&from, mine) < 0 || git_repository_odb(&to, src) < 0) {
		err = git_fail(CHS_EIO, "cannot open the archive");
		goto done;
	}
	l.archive = to;
	if ((err = push_plan(mine, from, src, pr, n)) < 0 ||
	    (err = objects_to_send(mine, pr, n, &l)) < 0)
		goto done;
	clear_archive_leftovers(src, pr, n);
	if (l.list.n &&
	    (err = write_pack_of(from, to, l.list.ids, unique_oids(l.list.ids, l.list.n),
				 NULL)) < 0) {
		err = chs_error_wrap(err, "cannot write into the archive at %s", folder_of(url));
		goto done;
	}
	/* refs move only once their objects are in the archive */
	for (i = 0; i < n && err == 0; i++)
		if (pr[i].moves)
			err = push_ref_move(src, &pr[i]);
done:
	free(l.list.ids);
	free(pr);
	git_odb_free(from);
	git_odb_free(to);
	git_repository_free(src);
	return err;
}

int chs_git_maintain_archive(const char *url, size_t max_packs)
{
	git_repository *src = NULL;
	int err;

	if (!is_local(url))
		return 0;
	pthread_once(&git_once, git_start);
	if ((err = open_folder(&src, url)) == 0)
		err = roll_up_packs(src, max_packs);
	git_repository_free(src);
	return err;
}

/* Run one push or fetch on `repo`, wherever this process is. */
static int net_run(git_repository *repo, net_op *op)
{
	git_remote *remote = NULL;
	int err;

	if (git_remote_create_anonymous(&remote, repo, op->url) < 0) {
		err = git_fail(CHS_EINVALID, "not an archive address");
		goto done;
	}
	if (is_local(op->url))
		err = op->push ? local_push(repo, op->url, op->refs, op->n)
			       : local_fetch(repo, op->url, op->what);
	else
		err = op->push ? push_refspecs(remote, op) : fetch_refspecs(remote, op);
	if (err < 0)
		goto done;
	/* git_remote_push returns 0 for a refusal: the status tells */
	if (op->refused.len)
		err = chs_error_set(CHS_EDENIED, "the archive refused the push (%s) %s",
				    op->refused.ptr, hook_words(op));
done:
	git_remote_free(remote);
	return err;
}

/* ------------------------------------------------------------------ */
/* Bounding network time                                                */

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
 * is never cut, a dead one is cut after the limit. libgit2 calls back
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
 * pack_git2_* files. The parent removes them (clear_locks below): only
 * a sync writes those places, and the caller runs one sync per
 * repository at a time, so any such file is the child's or a leftover of
 * an earlier crash. A push writes nothing in the local repository.
 *
 * Local paths and file:// skip the child: nothing there waits on a
 * network, and a fork costs more than the rest of a small local push
 * (measured in tests/sync/test_git_net.c).
 */

static int send_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* One message: type, 4-byte length, `head` then `text` (cut to fit). */
static void send_msg(int fd, char type, const void *head, size_t hlen, const char *text)
{
	unsigned char m[NET_MSG_MAX];
	size_t tlen = text ? strlen(text) : 0;
	uint32_t len;

	if (tlen > sizeof(m) - 5 - hlen)
		tlen = sizeof(m) - 5 - hlen;
	len = (uint32_t)(hlen + tlen);
	m[0] = (unsigned char)type;
	memcpy(m + 1, &len, 4);
	memcpy(m + 5, head, hlen);
	if (tlen)
		memcpy(m + 5 + hlen, text, tlen);
	if (send_all(fd, m, 5 + len) < 0)
		_exit(1); /* the parent is gone or gave up on us */
}

static void send_progress(int fd, const char *what, size_t done, size_t total)
{
	uint64_t head[2] = { done, total };

	send_msg(fd, 'P', head, sizeof(head), what ? what : "");
}

static void send_result(int fd, int code, const char *message)
{
	int32_t c = code;

	send_msg(fd, 'R', &c, sizeof(c), message);
}

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
	note_inherited(op);
	if ((g->from_env ? git_repository_open_ext(&repo, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL)
			 : git_repository_open_bare(&repo, g->path)) < 0)
		err = git_fail(CHS_EIO, "cannot open the git repository");
	else
		err = net_run(repo, op);
	send_result(op->fd, err, err < 0 ? chs_error_last() : "");
	/* no cleanup: the process ends here, and _exit skips atexit (and
	 * LeakSanitizer) on purpose */
	_exit(0);
}

/* What the parent has heard from the child so far. */
typedef struct child_news {
	unsigned char buf[2 * NET_MSG_MAX];
	size_t len;
	int done;        /* the result arrived */
	int code;
	char message[NET_MSG_MAX];
} child_news;

/* Act on every whole message in `cn->buf`. */
static void take_messages(child_news *cn, const chs_git_transport *t)
{
	size_t at = 0;
	uint32_t len;

	while (cn->len - at >= 5) {
		const unsigned char *m = cn->buf + at;

		memcpy(&len, m + 1, 4);
		if (len > NET_MSG_MAX || cn->len - at < 5 + (size_t)len)
			break;
		if (m[0] == 'P' && len > 16 && t->progress) { /* 16: a sign of life */
			uint64_t head[2];
			char what[128];

			memcpy(head, m + 5, sizeof(head));
			snprintf(what, sizeof(what), "%.*s", (int)(len - 16), (const char *)m + 21);
			t->progress(what, (size_t)head[0], (size_t)head[1], t->payload);
		} else if (m[0] == 'R' && len >= 4) {
			int32_t c;

			memcpy(&c, m + 5, 4);
			cn->code = c;
			snprintf(cn->message, sizeof(cn->message), "%.*s", (int)(len - 4),
				 (const char *)m + 9);
			cn->done = 1;
		}
		at += 5 + len;
	}
	memmove(cn->buf, cn->buf + at, cn->len - at);
	cn->len -= at;
}

/* Read what is there; 1 if anything arrived, 0 if nothing, -1 at EOF. */
static int read_news(int fd, child_news *cn, const chs_git_transport *t)
{
	ssize_t r = read(fd, cn->buf + cn->len, sizeof(cn->buf) - cn->len);

	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (r == 0)
		return -1;
	cn->len += (size_t)r;
	take_messages(cn, t);
	return 1;
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/*
 * Wait for the child's result, restarting the clock at every message.
 * The child may exit without EOF on the pipe reaching us (another thread
 * may have forked meanwhile and hold a copy of the write end), so its exit
 * is also polled for. 1 when it had to be killed.
 */
static int watch_child(int fd, pid_t pid, const chs_git_transport *t, int timeout_ms,
		       child_news *cn)
{
	uint64_t last = mono_ms();
	int status = 0, eof = 0, exited = 0;

	while (!cn->done && !exited) {
		int waited = (int)(mono_ms() - last), slice, rc;
		pid_t w;

		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			reap(pid, &status);
			return 1;
		}
		slice = timeout_ms - waited < CHILD_POLL_MS ? timeout_ms - waited : CHILD_POLL_MS;
		if (eof) { /* closed, not yet exited: wait without spinning */
			poll(NULL, 0, slice);
		} else if (poll(&(struct pollfd){ fd, POLLIN, 0 }, 1, slice) > 0) {
			if ((rc = read_news(fd, cn, t)) > 0)
				last = mono_ms();
			eof = rc < 0;
		}
		w = waitpid(pid, &status, WNOHANG);
		exited = w == pid || (w < 0 && errno == ECHILD);
	}
	while (!cn->done && read_news(fd, cn, t) > 0)
		; /* what it wrote before it exited */
	if (!exited)
		reap(pid, &status); /* it _exits right after its result */
	return 0;
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

static void clear_locks(const char *gitdir, int sync_only, time_t older_than);

static int run_in_child(chs_git *g, net_op *op)
{
	int timeout_ms = net_timeout_ms(&g->net), fds[2], killed;
	child_news *cn = NULL;
	pid_t pid, parent = getpid();
	int err = 0;

	if (!(cn = calloc(1, sizeof(*cn))))
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
	killed = watch_child(fds[0], pid, &g->net, timeout_ms, cn);
	if (killed) {
		clear_locks(g->path, 1, 0);
		err = chs_error_set(CHS_EIO, "the archive at %s stopped answering for %d s; "
				    "nothing was lost, run sync again", op->url,
				    (timeout_ms + 999) / 1000);
	} else if (!cn->done) {
		clear_locks(g->path, 1, 0);
		err = chs_error_set(CHS_EIO, "the sync helper for %s ended without a result; "
				    "nothing was lost, run sync again", op->url);
	} else if (cn->code < 0) {
		err = chs_error_set(cn->code, "%s", cn->message);
	}
done:
	close(fds[0]);
	free(cn);
	return err;
}

/* A path or file:// URL: no network, nothing to bound. libgit2 reads
 * "host:path" (a ':' before any '/') as scp-style ssh. */
static int is_local(const char *url)
{
	const char *colon = strchr(url, ':'), *slash = strchr(url, '/');

	if (!strncmp(url, "file://", 7))
		return 1;
	return !colon || (slash && slash < colon);
}

static int net_op_start(chs_git *g, net_op *op)
{
	int err;

	chs_buf_init(&op->refused, 4096);
	chs_buf_init(&op->said, 4096);
	op->t = &g->net;
	op->fd = -1;
	err = is_local(op->url) ? net_run(g->repo, op) : run_in_child(g, op);
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

int chs_git_push(chs_git *g, const char *url, const char *const *refs, size_t n)
{
	net_op op = { 0 };

	op.push = 1;
	op.url = url;
	op.refs = refs;
	op.n = n;
	return net_op_start(g, &op);
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

/* ------------------------------------------------------------------ */
/* Stale locks                                                          */

/* A lock libgit2 takes (git forbids ref names ending in ".lock") or a
 * temporary file it writes (mkstemp names with "_git2_"). */
static int is_leftover(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".lock")) || strstr(name, "_git2_") != NULL;
}

/* Remove leftovers in `dir` (into subfolders when `deep`) last changed
 * before `older_than` (0: any). */
static void clear_dir(const char *dir, int deep, time_t older_than)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	struct stat st;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
		    lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && deep)
			clear_dir(path, deep, older_than);
		else if (S_ISREG(st.st_mode) && is_leftover(e->d_name) &&
			 (!older_than || st.st_mtime < older_than))
			unlink(path);
	}
	closedir(d);
}

/* `sync_only`: just the places a fetch writes (see "Bounding network
 * time"); otherwise every place libgit2 locks or writes temporary files,
 * except loose object folders (no leftovers there: loose objects are
 * written as objects/tmp_object_git2_* and renamed). */
static void clear_locks(const char *gitdir, int sync_only, time_t older_than)
{
	static const char *const deep_sync[] = { "refs/remotes", "objects/pack" };
	static const char *const deep_all[] = { "refs" };
	static const char *const shallow_all[] = { "", "objects", "objects/pack" };
	const char *const *deep = sync_only ? deep_sync : deep_all;
	size_t i, ndeep = sync_only ? 2 : 1, nshallow = sync_only ? 0 : 3;
	char path[4096];

	for (i = 0; i < ndeep + nshallow; i++) {
		const char *place = i < ndeep ? deep[i] : shallow_all[i - ndeep];

		if (snprintf(path, sizeof(path), "%s/%s", gitdir, place) < (int)sizeof(path))
			clear_dir(path, i < ndeep, older_than);
	}
}

void chs_git_clear_stale_locks(chs_git *g)
{
	clear_locks(g->path, 0, time(NULL) - CHS_GIT_STALE_LOCK_S);
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */

static int walk(git_revwalk *w, const git_oid *tip, const git_oid *since,
		char (**out)[41], size_t *n)
{
	size_t cap = 0;
	git_oid oid;
	int rc;

	if (git_revwalk_push(w, tip) < 0 || (since && git_revwalk_hide(w, since) < 0))
		return git_fail(CHS_EDAMAGED, "cannot walk a device's history");
	git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	while ((rc = git_revwalk_next(&oid, w)) == 0) {
		if (*n == cap) {
			char (*g)[41] = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(*g));

			if (!g)
				return chs_error_set(CHS_ENOMEM, "out of memory");
			*out = g;
		}
		git_oid_tostr((*out)[(*n)++], 41, &oid);
	}
	return rc == GIT_ITEROVER ? 0 : git_fail(CHS_EDAMAGED, "cannot walk a device's history");
}

int chs_git_log(chs_git *g, const char *ref, const char *since,
		char (**out)[41], size_t *n)
{
	git_revwalk *w = NULL;
	git_oid tip, from;
	int has, err;

	*out = NULL;
	*n = 0;
	if ((err = ref_tip(g->repo, ref, &tip, &has)) < 0 || !has)
		return err;
	if (since && git_oid_fromstr(&from, since) < 0)
		return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", since);
	if (git_revwalk_new(&w, g->repo) < 0)
		return git_fail(CHS_ERROR, "cannot walk a device's history");
	err = walk(w, &tip, since ? &from : NULL, out, n);
	git_revwalk_free(w);
	if (err < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return err;
}

int chs_git_log_range(chs_git *g, const char *tip, const char *since,
		      char (**out)[41], size_t *n)
{
	git_revwalk *w = NULL;
	git_oid from, to;
	int err;

	*out = NULL;
	*n = 0;
	if (git_oid_fromstr(&from, tip) < 0)
		return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", tip);
	if (since && git_oid_fromstr(&to, since) < 0)
		return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", since);
	if (git_revwalk_new(&w, g->repo) < 0)
		return git_fail(CHS_ERROR, "cannot walk a device's history");
	err = walk(w, &from, since ? &to : NULL, out, n);
	git_revwalk_free(w);
	if (err < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return err;
}

int chs_git_has_file(chs_git *g, const void *data, size_t len, int *yes)
{
	git_odb *odb = NULL;
	git_oid oid;

	*yes = 0;
	if (git_odb_hash(&oid, data, len, GIT_OBJECT_BLOB) < 0 ||
	    git_repository_odb(&odb, g->repo) < 0)
		return git_fail(CHS_ERROR, "cannot look in the git repository");
	*yes = git_odb_exists(odb, &oid);
	git_odb_free(odb);
	return 0;
}

int chs_git_ref(chs_git *g, const char *ref, char oid_out[41])
{
	git_oid tip;
	int has, err;

	oid_out[0] = '\0';
	if ((err = ref_tip(g->repo, ref, &tip, &has)) < 0)
		return err;
	if (!has)
		return chs_error_set(CHS_ENOTFOUND, "no ref '%s'", ref);
	git_oid_tostr(oid_out, 41, &tip);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void chs_git_refs_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int chs_git_refs(chs_git *g, const char *prefix, char ***names, size_t *n)
{
	git_reference_iterator *it = NULL;
	const char *name;
	char **list = NULL;
	size_t cnt = 0, cap = 0, plen = strlen(prefix);
	chs_buf glob;
	int rc, err = 0;

	*names = NULL;
	*n = 0;
	chs_buf_init(&glob, 0);
	if ((err = chs_buf_printf(&glob, "%s*", prefix)) < 0)
		return err;
	if (git_reference_iterator_glob_new(&it, g->repo, glob.ptr) < 0) {
		chs_buf_dispose(&glob);
		return git_fail(CHS_EIO, "cannot list git refs");
	}
	while (err == 0 && (rc = git_reference_next_name(&name, it)) == 0) {
		if (strncmp(name, prefix, plen) != 0)
			continue;
		if (cnt == cap) {
			char **grown = realloc(list, (cap = cap ? cap * 2 : 16) * sizeof(*list));

			if (!grown) {
				err = chs_error_set(CHS_ENOMEM, "out of memory");
				break;
			}
			list = grown;
		}
		if (!(list[cnt] = strdup(name)))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			cnt++;
	}
	if (err == 0 && rc != GIT_ITEROVER)
		err = git_fail(CHS_EIO, "cannot list git refs");
	git_reference_iterator_free(it);
	chs_buf_dispose(&glob);
	if (err < 0) {
		chs_git_refs_free(list, cnt);
		return err;
	}
	if (cnt)
		qsort(list, cnt, sizeof(*list), by_name);
	*names = list;
	*n = cnt;
	return 0;
}

int chs_git_is_ancestor(chs_git *g, const char *ancestor, const char *descendant,
			int *yes)
{
	git_oid a, d;
	int rc;

	*yes = 0;
	if (git_oid_fromstr(&a, ancestor) < 0 || git_oid_fromstr(&d, descendant) < 0)
		return chs_error_set(CHS_EINVALID, "not a commit id");
	if (git_oid_equal(&a, &d)) {
		*yes = 1;
		return 0;
	}
	rc = git_graph_descendant_of(g->repo, &d, &a);
	if (rc < 0)
		return git_fail(CHS_EDAMAGED, "cannot compare two commits");
	*yes = rc;
	return 0;
}

void chs_git_commit_free(chs_git_commit *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nentries; i++) {
		free(c->entries[i].name);
		free(c->entries[i].data);
	}
	free(c->entries);
	free(c->message);
	free(c);
}

static int read_entries(git_repository *repo, git_commit *commit, chs_git_commit *c)
{
	git_tree *tree = NULL;
	size_t i, n;
	int err = 0;

	if (git_commit_tree(&tree, commit) < 0)
		return git_fail(CHS_EDAMAGED, "a batch commit has no tree");
	n = git_tree_entrycount(tree);
	if (!(c->entries = calloc(n + 1, sizeof(*c->entries))))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < n && !err; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		git_blob *blob = NULL;
		chs_git_blob *e = &c->entries[i];

		if (git_tree_entry_type(te) != GIT_OBJECT_BLOB ||
		    git_blob_lookup(&blob, repo, git_tree_entry_id(te)) < 0) {
			err = chs_error_set(CHS_EDAMAGED, "a batch commit holds something other than files");
			break;
		}
		e->len = (size_t)git_blob_rawsize(blob);
		e->name = strdup(git_tree_entry_name(te));
		e->data = malloc(e->len + 1);
		if (!e->name || !e->data)
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			memcpy(e->data, git_blob_rawcontent(blob), e->len);
		c->nentries = i + 1;
		git_blob_free(blob);
	}
	git_tree_free(tree);
	return err;
}

/* The signer of a commit, from its gpgsig header. */
static int commit_signer(git_repository *repo, git_oid *oid, unsigned char signer[32])
{
	git_buf sig = { 0 }, data = { 0 };
	int err;

	if (git_commit_extract_signature(&sig, &data, repo, oid, "gpgsig") < 0)
		return chs_error_set(CHS_EDAMAGED, "a batch commit is not signed");
	err = chs_sshsig_verify(signer, sig.ptr, sig.size, "git", data.ptr, data.size);
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
	return err < 0 ? chs_error_set(CHS_EDAMAGED, "a batch commit's signature does not verify")
		       : 0;
}

int chs_git_read(chs_git *g, const char *oid_hex, chs_git_commit **out)
{
	git_commit *commit = NULL;
	chs_git_commit *c = NULL;
	git_oid oid;
	int err;

	*out = NULL;
	if (git_oid_fromstr(&oid, oid_hex) < 0)
		return chs_error_set(CHS_EINVALID, "'%s' is not a commit id", oid_hex);
	if (!(c = calloc(1, sizeof(*c))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (git_commit_lookup(&commit, g->repo, &oid) < 0) {
		err = git_fail(CHS_ENOTFOUND, "no such commit");
		goto done;
	}
	c->parents = git_commit_parentcount(commit);
	if (c->parents)
		git_oid_tostr(c->parent, sizeof(c->parent), git_commit_parent_id(commit, 0));
	c->time = (int64_t)git_commit_time(commit);
	if (!(c->message = strdup(git_commit_message(commit) ? git_commit_message(commit) : ""))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	if ((err = commit_signer(g->repo, &oid, c->signer)) < 0 ||
	    (err = read_entries(g->repo, commit, c)) < 0)
		goto done;
	*out = c;
	c = NULL;
done:
	git_commit_free(commit);
	chs_git_commit_free(c);
	return err;
}
