/*
 * The writer lock.
 *
 * Debian 12's SQLite (3.40) has the WAL-reset bug fixed only in 3.51.3:
 * two processes that write or checkpoint at the same moment can corrupt
 * the database. So every write transaction and every checkpoint happens
 * while holding an exclusive flock() on DIR/lock, and no connection runs
 * automatic checkpoints (the store checkpoints itself, under the lock).
 * flock() locks belong to the open file description, so two stores open
 * in one process exclude each other too, and the kernel drops the lock
 * when a process dies.
 *
 * Waiting is fair to a short writer. A sync applies a large pull as many
 * short transactions (pull.c), releasing the lock between them and taking
 * it again at once: a writer polling for the lock (an `add` typed
 * meanwhile) would almost never find it free, and wait for the whole
 * pull. So a writer that must wait first queues at a turnstile, an OFD
 * lock on byte 0 of the same file (Linux; independent of flock(), and
 * also per open file description), holding it while it polls; and every
 * writer passes the turnstile before it takes the lock. The sync coming
 * back for its next group then waits at the turnstile until the queued
 * writer is in: an `add` waits for one group at most, not for the sync.
 */
#define _GNU_SOURCE /* F_OFD_SETLK, F_OFD_GETLK (Linux 3.15) */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_POLL_MS 5

int chs_store__lock_open(chs_store *s)
{
	s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0)
		return chs_error_set(CHS_EIO, "cannot open the lock file '%s': %s",
				     s->lock_path, strerror(errno));
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* A rekey puts a new store.db in place (rekey.c): a connection opened
 * before it holds the old file, and whatever it wrote now would be lost,
 * or worse, land in the new file's WAL under the old key. So the lock is
 * refused to it; its process must open the store again. */
static int still_the_store(chs_store *s)
{
	struct stat sb;

	if (!s->db || !s->db_ino || (stat(s->db_path, &sb) == 0 &&
				     (unsigned long)sb.st_ino == s->db_ino))
		return 0;
	flock(s->lock_fd, LOCK_UN);
	s->lock_depth = 0;
	return chs_error_set(CHS_EBUSY,
			     "the store '%s' was re-keyed after this program opened it; close it and open it again",
			     s->dir);
}

/* A lock of `type` on the lock file's first byte: the turnstile's. */
static struct flock turnstile_byte(short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	return fl;
}

/* The turnstile (see the top): take (F_WRLCK) or leave (F_UNLCK) it, or
 * try to. 0, or -1 with errno (EAGAIN: another writer queues there). */
static int turnstile(chs_store *s, short type)
{
	struct flock fl = turnstile_byte(type);

	return fcntl(s->lock_fd, F_OFD_SETLK, &fl);
}

int chs_store__writer_waiting(chs_store *s)
{
	struct flock fl = turnstile_byte(F_WRLCK);

	if (s->lock_fd < 0 || fcntl(s->lock_fd, F_OFD_GETLK, &fl) < 0)
		return 0;
	return fl.l_type != F_UNLCK;
}

/* Poll for the turnstile, then for the lock, within one time budget. */
static int wait_for_lock(chs_store *s)
{
	long waited = 0;
	int queued = 0, got = 0;

	while (waited < CHS_BUSY_TIMEOUT_MS) {
		if (!queued && turnstile(s, F_WRLCK) == 0)
			queued = 1;
		else if (!queued && errno != EAGAIN && errno != EACCES && errno != EINTR)
			queued = 1; /* no turnstile here: plain polling still works */
		if (queued && flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0) {
			got = 1;
			break;
		}
		if (queued && errno != EWOULDBLOCK && errno != EINTR)
			break;
		sleep_ms(LOCK_POLL_MS);
		waited += LOCK_POLL_MS;
	}
	if (queued)
		turnstile(s, F_UNLCK);
	return got ? 0 : -1;
}

int chs_store__lock(chs_store *s)
{
	if (s->lock_depth++ > 0)
		return 0;
	if (wait_for_lock(s) < 0) {
		s->lock_depth--;
		return chs_error_set(CHS_EBUSY,
				     "the store '%s' is busy: another chartsync is writing to it; try again",
				     s->dir);
	}
	return still_the_store(s);
}

int chs_store__trylock(chs_store *s)
{
	if (s->lock_depth > 0) {
		s->lock_depth++;
		return 0;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return CHS_EBUSY;
	s->lock_depth = 1;
	return still_the_store(s) < 0 ? CHS_EBUSY : 0;
}

void chs_store__unlock(chs_store *s)
{
	if (s->lock_depth <= 0)
		return;
	if (--s->lock_depth == 0)
		flock(s->lock_fd, LOCK_UN);
}

void chs_store__lock_close(chs_store *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
	s->lock_depth = 0;
}
