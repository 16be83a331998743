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
 */
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

int chs_store__lock(chs_store *s)
{
	long waited = 0;

	if (s->lock_depth++ > 0)
		return 0;
	while (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || waited >= CHS_BUSY_TIMEOUT_MS) {
			s->lock_depth--;
			return chs_error_set(CHS_EBUSY,
					     "the store '%s' is busy: another chartsync is writing to it; try again",
					     s->dir);
		}
		sleep_ms(LOCK_POLL_MS);
		waited += LOCK_POLL_MS;
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
