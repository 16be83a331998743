/*
 * client/service/hotfolder.c - watching the hot folder, on the loop thread.
 *
 * libuv's uv_fs_event cannot be used: on Linux it does not ask inotify for
 * IN_CLOSE_WRITE and it drops IN_Q_OVERFLOW silently, so a burst of scans
 * could be lost. A raw inotify descriptor is read through uv_poll instead.
 *
 * An event only says where to look. A file is handed to the daemon once
 * its size and mtime have stayed the same for settle_ms: a scanner that
 * writes a page in slow pieces (or a copy over a network share, which
 * raises no event at all and is found by the periodic rescan) is never
 * taken half-written. Each name seen is an entry:
 *
 *   watching --(unchanged for settle_ms)--> handed --(done)--> forgotten
 *       ^                                      |
 *       +-------------(done, retry)------------+
 *
 * One timer serves every watching entry, armed for the earliest moment one
 * could be complete and stopped when none is watching: nothing runs while
 * the folder is quiet but the rescan timer.
 *
 * The loop never touches the folder's files itself: the folder may be a
 * network share, where a stat() can hang. Every lstat() and the reading of
 * the whole folder happen in a sweep on libuv's threadpool (one at a time;
 * asked for again while one runs, it runs once more after it), and the
 * loop acts on what the sweep saw. An event only marks its name to be
 * looked at.
 */
#include "service_int.h"
#include "client/util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVENT_BUF (64 * 1024) /* bytes read from inotify at a time */
#define RETRY_MAX_MS (15ull * 60 * 1000) /* the longest wait before a failed file's next try */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB | IN_CREATE | \
		    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

typedef struct entry {
	struct entry *next;
	int handed;            /* ready() called; waiting for done() */
	int64_t size;
	struct timespec mtime;
	uint64_t changed_at;   /* uv_now() when last seen to change (later:
				* a failed take waits before the next) */
	unsigned retries;      /* takes that left it in place, in a row */
	int known;             /* size and mtime are from a sweep since the last event */
	int said;              /* "seen" logged */
	char name[];
} entry;

/* One sweep: the names to lstat(), and the whole folder when `list`. */
typedef struct sweep_item {
	char *name;
	int regular;           /* a regular file (size, mtime set) */
	int64_t size;
	struct timespec mtime;
} sweep_item;

typedef struct sweep {
	uv_work_t work;
	chs_hotfolder *h;
	char *folder;
	int list;
	int list_errno;        /* the folder could not be read */
	sweep_item *items;     /* the names asked, then (list) every name found */
	size_t n, asked, cap;
} sweep;

struct chs_hotfolder {
	uv_loop_t *loop;
	uv_poll_t poll;
	uv_timer_t settle;
	uv_timer_t rescan;
	int fd;                /* inotify */
	int open_handles;      /* freed when the last one is closed */
	int stopping;
	char *folder;
	uint64_t settle_ms, rescan_ms;
	const chs_log *log;
	void (*ready)(chs_hotfolder *h, const char *name, void *payload);
	void *payload;
	entry *entries;
	size_t count;
	int sweeping;          /* a sweep is on the threadpool */
	int again, again_list; /* asked for while one ran */
};

/* Names the scanner is still writing under (.*, *.tmp, *.part) and the
 * service's own folders. */
static int ignored(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '.' || name[0] == '\0' ||
	       (n >= 4 && strcasecmp(name + n - 4, ".tmp") == 0) ||
	       (n >= 5 && strcasecmp(name + n - 5, ".part") == 0);
}

static entry *find(chs_hotfolder *h, const char *name)
{
	entry *e;

	for (e = h->entries; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void forget(chs_hotfolder *h, entry *gone)
{
	entry **p;

	for (p = &h->entries; *p; p = &(*p)->next)
		if (*p == gone) {
			*p = gone->next;
			free(gone);
			h->count--;
			return;
		}
}

/* lstat() the name (on the threadpool): 1 a regular file (size and mtime
 * set), 0 not one (gone, a folder, a link, a device...). */
static int look(const char *folder, const char *name, int64_t *size, struct timespec *mtime)
{
	char *path = chs_util__path(folder, name);
	struct stat sb;
	int rc = path && lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);

	free(path);
	if (rc) {
		*size = (int64_t)sb.st_size;
		*mtime = sb.st_mtim;
	}
	return rc;
}

static void on_settle(uv_timer_t *t);

/* Arm the settle timer for the first watching entry that could be
 * complete; stop it when none is watching. */
static void arm(chs_hotfolder *h)
{
	uint64_t now = uv_now(h->loop), first = UINT64_MAX;
	entry *e;

	if (h->stopping)
		return;
	for (e = h->entries; e; e = e->next)
		if (!e->handed && e->known && e->changed_at + h->settle_ms < first)
			first = e->changed_at + h->settle_ms;
	if (first == UINT64_MAX) {
		uv_timer_stop(&h->settle);
		return;
	}
	uv_timer_start(&h->settle, on_settle, first > now ? first - now : 0, 0);
}

static void request_sweep(chs_hotfolder *h, int list);

/* An event for `name`: it is changing now; a sweep looks at it at once
 * (what it is now is what must hold still, or a page written in one go
 * would wait twice). */
static void touch(chs_hotfolder *h, const char *name)
{
	entry *e = find(h, name);
	size_t len = strlen(name);

	if (ignored(name) || (e && e->handed))
		return;
	if (!e) {
		if (!(e = chs_calloc(1, sizeof(*e) + len + 1)))
			return;
		memcpy(e->name, name, len + 1);
		e->next = h->entries;
		h->entries = e;
		h->count++;
	}
	e->changed_at = uv_now(h->loop);
	e->known = 0;
	request_sweep(h, 0);
}

static void sweep_add(sweep *w, const char *name)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		sweep_item *items = chs_realloc(w->items, cap * sizeof(*items));

		if (!items)
			return; /* looked at by a later sweep */
		w->items = items;
		w->cap = cap;
	}
	memset(&w->items[w->n], 0, sizeof(w->items[w->n]));
	if ((w->items[w->n].name = chs_util__strdup(name)))
		w->n++;
}

/* On the threadpool: the file system's answers, nothing else. */
static void sweep_run(uv_work_t *req)
{
	sweep *w = req->data;
	struct dirent *de;
	size_t i;
	DIR *d;

	if (w->list) {
		if (!(d = opendir(w->folder))) {
			w->list_errno = errno;
		} else {
			while ((de = readdir(d)))
				if (!ignored(de->d_name))
					sweep_add(w, de->d_name);
			closedir(d);
		}
	}
	for (i = 0; i < w->n; i++)
		w->items[i].regular = look(w->folder, w->items[i].name, &w->items[i].size,
					   &w->items[i].mtime);
}

static void sweep_free(sweep *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		free(w->items[i].name);
	free(w->items);
	free(w->folder);
	free(w);
}

static void hotfolder_free(chs_hotfolder *h);

/* What one name looked like to the sweep. */
static void sweep_saw(chs_hotfolder *h, const sweep_item *it, int asked, uint64_t now)
{
	entry *e = find(h, it->name);
	size_t len = strlen(it->name);

	if (!e && (asked || !it->regular))
		return; /* forgotten meanwhile, or not a file */
	if (!e) {
		/* found by reading the folder: sitting still counts from now */
		if (!(e = chs_calloc(1, sizeof(*e) + len + 1)))
			return;
		memcpy(e->name, it->name, len + 1);
		e->changed_at = now;
		e->next = h->entries;
		h->entries = e;
		h->count++;
	} else if (!asked || e->handed) {
		return; /* a rescan is no change; a handed file is the daemon's */
	} else if (!it->regular) {
		forget(h, e); /* gone before it was complete, or not a file */
		return;
	} else if (e->known && (it->size != e->size || it->mtime.tv_sec != e->mtime.tv_sec ||
				it->mtime.tv_nsec != e->mtime.tv_nsec)) {
		e->changed_at = now;
	} else if (e->known && now >= e->changed_at + h->settle_ms) {
		e->handed = 1;
		if (!e->retries)
			chs_service__log(h->log, "scan", "%s: complete (%lld bytes), taking it",
					 e->name, (long long)it->size);
		h->ready(h, e->name, h->payload);
		return;
	}
	e->size = it->size;
	e->mtime = it->mtime;
	e->known = 1;
	if (!e->said) {
		e->said = 1;
		chs_service__log(h->log, "scan", "%s: seen, waiting until it stops changing",
				 e->name);
	}
}

static void sweep_done(uv_work_t *req, int status)
{
	sweep *w = req->data;
	chs_hotfolder *h = w->h;
	uint64_t now = uv_now(h->loop);
	size_t i;

	h->sweeping = 0;
	if (h->stopping || status < 0) {
		sweep_free(w);
		if (h->stopping && --h->open_handles == 0)
			hotfolder_free(h);
		return;
	}
	h->open_handles--;
	if (w->list_errno)
		chs_service__log(h->log, "scan", "cannot read the hot folder '%s': %s", h->folder,
				 strerror(w->list_errno));
	/* ready() may call done(), which may forget an entry: look each up */
	for (i = 0; i < w->n && !h->stopping; i++)
		sweep_saw(h, &w->items[i], i < w->asked, now);
	sweep_free(w);
	if (h->again && !h->stopping) {
		int list = h->again_list;

		h->again = h->again_list = 0;
		request_sweep(h, list);
	}
	arm(h);
}

/* Ask the threadpool to look at every entry that is new or due (and the
 * whole folder when `list`). */
static void request_sweep(chs_hotfolder *h, int list)
{
	uint64_t now = uv_now(h->loop);
	sweep *w;
	entry *e;

	if (h->stopping)
		return;
	if (h->sweeping) {
		h->again = 1;
		h->again_list |= list;
		return;
	}
	if (!(w = chs_calloc(1, sizeof(*w))) || !(w->folder = chs_util__strdup(h->folder))) {
		free(w);
		return;
	}
	w->h = h;
	w->list = list;
	for (e = h->entries; e; e = e->next)
		if (!e->handed && (!e->known || now >= e->changed_at + h->settle_ms))
			sweep_add(w, e->name);
	w->asked = w->n;
	if (!w->n && !list) {
		sweep_free(w);
		return;
	}
	w->work.data = w;
	if (uv_queue_work(h->loop, &w->work, sweep_run, sweep_done) < 0) {
		sweep_free(w);
		return;
	}
	h->sweeping = 1;
	h->open_handles++; /* the hot folder outlives the sweep */
}

static void on_settle(uv_timer_t *t)
{
	request_sweep(t->data, 0);
}

/* Every name in the folder, as if each had raised an event (without
 * counting as a change: a file sitting still settles in settle_ms). */
void chs_service__hotfolder_rescan(chs_hotfolder *h)
{
	if (h)
		request_sweep(h, 1);
}

static void on_rescan(uv_timer_t *t)
{
	chs_service__hotfolder_rescan(t->data);
}

static void on_event(chs_hotfolder *h, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		chs_service__log(h->log, "scan",
				 "too many changes at once in the hot folder: reading it whole");
		chs_service__hotfolder_rescan(h);
	} else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
		chs_service__log(h->log, "scan",
				 "the hot folder '%s' was removed or moved away: scans are no"
				 " longer taken until the service restarts", h->folder);
	} else if (ev->len > 0 && !(ev->mask & IN_ISDIR)) {
		touch(h, ev->name);
	}
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	chs_hotfolder *h = p->data;
	char buf[EVENT_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	char *at;

	(void)events;
	if (status < 0) {
		chs_service__log(h->log, "scan", "watching the hot folder failed: %s",
				 uv_strerror(status));
		return;
	}
	while ((n = read(h->fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		for (at = buf; n > 0 && at < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)at;

			on_event(h, ev);
			at += sizeof(*ev) + ev->len;
		}
	arm(h);
}

static void hotfolder_free(chs_hotfolder *h)
{
	entry *e;

	if (h->fd >= 0)
		close(h->fd);
	while ((e = h->entries)) {
		h->entries = e->next;
		free(e);
	}
	free(h->folder);
	free(h);
}

static void on_closed(uv_handle_t *handle)
{
	chs_hotfolder *h = handle->data;

	if (--h->open_handles == 0)
		hotfolder_free(h);
}

static int make_folder(const char *folder, const char *name)
{
	char *path = chs_util__path(folder, name);
	int err = 0;

	if (!path)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		err = chs_error_set(CHS_EIO, "cannot make '%s': %s", path, strerror(errno));
	free(path);
	return err;
}

/* The descriptor and its watch: 0, or CHS_EIO with a message. */
static int watch(chs_hotfolder *h)
{
	if ((h->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		return chs_error_set(CHS_EIO, "cannot watch the hot folder '%s': %s", h->folder,
				     strerror(errno));
	if (inotify_add_watch(h->fd, h->folder, WATCH_MASK) < 0)
		return chs_error_set(CHS_EIO, "cannot watch the hot folder '%s': %s (set"
				     " scan.folder to an existing folder this user may read)",
				     h->folder, strerror(errno));
	return 0;
}

int chs_service__hotfolder_start(chs_hotfolder **out, uv_loop_t *loop,
				 const chs_hotfolder_opts *opts)
{
	chs_hotfolder *h;
	int err;

	CHS_ASSERT_ARG(out);
	*out = NULL;
	CHS_ASSERT_ARG(loop && opts && opts->folder && opts->log && opts->ready);
	if (!(h = chs_calloc(1, sizeof(*h))) || !(h->folder = chs_util__strdup(opts->folder))) {
		free(h);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	h->loop = loop;
	h->fd = -1;
	h->settle_ms = opts->settle_ms;
	h->rescan_ms = opts->rescan_ms;
	h->log = opts->log;
	h->ready = opts->ready;
	h->payload = opts->payload;
	if ((err = make_folder(h->folder, "done")) == 0 &&
	    (err = make_folder(h->folder, "unmatched")) == 0 && (err = watch(h)) == 0 &&
	    (err = uv_poll_init(loop, &h->poll, h->fd)) < 0)
		err = chs_error_set(CHS_EIO, "cannot watch the hot folder '%s': %s", h->folder,
				    uv_strerror(err));
	if (err < 0) {
		if (h->fd >= 0)
			close(h->fd);
		free(h->folder);
		free(h);
		return err;
	}
	uv_timer_init(loop, &h->settle);
	uv_timer_init(loop, &h->rescan);
	h->poll.data = h->settle.data = h->rescan.data = h;
	h->open_handles = 3;
	uv_poll_start(&h->poll, UV_READABLE, on_readable);
	if (h->rescan_ms > 0)
		uv_timer_start(&h->rescan, on_rescan, h->rescan_ms, h->rescan_ms);
	chs_service__log(h->log, "scan", "watching the hot folder '%s'", h->folder);
	chs_service__hotfolder_rescan(h);
	*out = h;
	return 0;
}

/* The extra wait before try n + 1 of a file left in place. */
static uint64_t retry_wait(const chs_hotfolder *h, unsigned n)
{
	uint64_t w = h->settle_ms > 1000 ? h->settle_ms : 1000;

	while (--n > 0 && w < RETRY_MAX_MS)
		w *= 2;
	return w < RETRY_MAX_MS ? w : RETRY_MAX_MS;
}

void chs_service__hotfolder_done(chs_hotfolder *h, const char *name, int retry)
{
	entry *e;

	if (!h || !name || !(e = find(h, name)))
		return;
	if (!retry) {
		forget(h, e);
		return;
	}
	/* left in place (the store or the folder would not take it): tried
	 * again after a wait that doubles, up to RETRY_MAX_MS, so a file that
	 * keeps failing is neither re-read every few seconds nor forgotten */
	e->handed = 0;
	if (e->retries < 16)
		e->retries++;
	e->changed_at = uv_now(h->loop) + retry_wait(h, e->retries);
	arm(h); /* the sweep then compares it with what it was */
}

size_t chs_service__hotfolder_pending(const chs_hotfolder *h)
{
	return h ? h->count : 0;
}

void chs_service__hotfolder_stop(chs_hotfolder *h)
{
	if (!h || h->stopping)
		return;
	h->stopping = 1;
	uv_close((uv_handle_t *)&h->poll, on_closed);
	uv_close((uv_handle_t *)&h->settle, on_closed);
	uv_close((uv_handle_t *)&h->rescan, on_closed);
}
