/*
 * crypto/shmdir.c - where the VFS keeps a store's wal-index.
 *
 * The wal-index holds 8 bytes derived from plaintext (see crypto/vfs.c),
 * so it lives in memory (/dev/shm), never in the store folder. /dev/shm
 * is writable by every local user, and a name there that another user can
 * predict is a name that user can take first: a file they made and we
 * then used would let them read and write our wal-index. So nothing of
 * ours sits in /dev/shm itself. Each user has a folder of their own,
 *
 *     /dev/shm/chartsync-<uid>/          0700, owned by the user
 *         chartsync-<dev>-<ino>          the placeholder SQLite's unix VFS
 *                                        names the wal-index after, 0600
 *         chartsync-<dev>-<ino>-shm      the wal-index itself, 0600
 *         lock                           see "Leftovers" below
 *
 * and a folder, placeholder or wal-index that is not a plain folder or
 * file owned by the user, or a folder others can enter, is refused with a
 * message; nothing falls back to a shared place. Only where /dev/shm is
 * missing altogether does the wal-index stay beside the database (in the
 * store folder, which is the user's own).
 *
 * Leftovers
 * ---------
 * A process killed while a store is open leaves its placeholder and
 * wal-index behind (SQLite deletes them only at the last close). A sweep
 * runs whenever a store first maps its wal-index and removes the
 * wal-indexes no process holds. Taking a wal-index that a process still
 * holds is data loss: that process keeps its own mapping of the removed
 * file, the next opener makes a new one, the two write the store through
 * two wal-indexes, and the last to close checkpoints with a stale one and
 * resets the WAL over the other's commits.
 *
 * So "held" must be known for certain. Every connection, from the moment
 * it makes or finds the placeholder until it closes, holds a read lock
 * on the placeholder through a descriptor of its own, an open file
 * description (OFD) lock; the sweep tests it with F_OFD_GETLK through a
 * descriptor it opens and closes. This is safe in a process that has the
 * same store open: closing a descriptor drops that process's POSIX locks
 * on the file, but SQLite takes none on the placeholder (its locks are on
 * the wal-index and on the database), and an OFD lock belongs to its own
 * description, not to the process. A wal-index counts as a leftover only
 * when its placeholder is not locked that way and /proc/locks lists no
 * lock on the wal-index either (an older chartsync, which took no
 * placeholder lock). /proc/locks alone is not enough: the kernel hands it
 * out a page at a time, and a lock dropped meanwhile by any process on
 * the machine shifts the list, so a read can miss a lock that was held
 * the whole time (an idle store open in a service, while a sync's sweep
 * ran beside other busy programs, lost the sync's records that way).
 *
 * The test and the removal must not race with a process that is between
 * creating its placeholder and locking it, so the sweep holds an
 * exclusive flock() on the folder's `lock` and every opener holds a
 * shared one over that window; a sweep skips the folder when an opener
 * is busy. It also removes the user's unheld wal-indexes that chartsync
 * before these folders left in /dev/shm itself.
 */
#define _GNU_SOURCE /* F_OFD_SETLK, F_OFD_GETLK (Linux 3.15) */
#include "crypto_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define SHM_PREFIX "chartsync-"
#define SHM_SUFFIX "-shm"

static int refuse(char *problem, size_t n, const char *fmt, const char *path,
		  const struct stat *sb)
{
	snprintf(problem, n, fmt, path, (unsigned long)sb->st_uid,
		 (unsigned)(sb->st_mode & 07777));
	return -1;
}

/* The user's folder under `base`: made 0700 if missing, refused unless it
 * is a real folder of ours that no one else can enter. */
static int user_dir(char *dir, size_t n, const char *base, char *problem,
		    size_t plen)
{
	struct stat sb;

	if ((size_t)snprintf(dir, n, "%s/" SHM_PREFIX "%lu", base,
			     (unsigned long)geteuid()) >= n) {
		snprintf(problem, plen, "the wal-index folder name under '%s' "
					"is too long",
			 base);
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(problem, plen, "cannot create the wal-index folder "
					"'%s': %s",
			 dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &sb) < 0) {
		snprintf(problem, plen, "cannot read the wal-index folder '%s': %s",
			 dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0)
		return refuse(problem, plen,
			      "refusing the wal-index folder '%s' (owner uid %lu, "
			      "mode %o): it must be a folder of your own that "
			      "no one else can enter; someone may be trying to "
			      "read the store's memory: remove it and open the "
			      "store again",
			      dir, &sb);
	return 0;
}

/* A file in the user's folder: missing is fine, else it must be a plain
 * file of ours; made 0600 if it is. */
static int check_file(const char *path, char *problem, size_t plen)
{
	struct stat sb;

	if (lstat(path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(problem, plen, "cannot look at the wal-index file '%s': %s", path,
			 strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid())
		return refuse(problem, plen,
			      "refusing the wal-index file '%s' (owner uid %lu, "
			      "mode %o): it is not yours; someone may be trying "
			      "to read the store's memory: remove it and open "
			      "the store again",
			      path, &sb);
	if ((sb.st_mode & 07777) != 0600 && chmod(path, 0600) < 0) {
		snprintf(problem, plen, "cannot protect the wal-index file '%s': %s",
			 path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Does /proc/locks list any lock on (dev, ino)? -1 when it cannot be read:
 * then nothing counts as a leftover. */
static int has_lock(FILE *locks, dev_t dev, ino_t ino)
{
	char line[256], want[64];

	snprintf(want, sizeof(want), "%02x:%02x:%lu", major(dev), minor(dev),
		 (unsigned long)ino);
	rewind(locks);
	while (fgets(line, sizeof(line), locks)) {
		char *tok, *save = NULL;

		for (tok = strtok_r(line, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			if (strcmp(tok, want) == 0)
				return 1;
	}
	return ferror(locks) ? -1 : 0;
}

/* A lock of `type` on a placeholder's first byte: the mark of a wal-index
 * in use (see "Leftovers"). */
static struct flock first_byte(short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	return fl;
}

/* Whether a connection holds the placeholder `name` (in `dfd`) locked,
 * see "Leftovers": 1 yes, 0 no (or no such file), -1 cannot tell. The
 * descriptor opened here is closed again: that drops no lock of ours, as
 * no process takes POSIX locks on a placeholder. */
static int placeholder_held(int dfd, const char *name)
{
	struct flock fl;
	int fd = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), held;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	fl = first_byte(F_WRLCK);
	held = fcntl(fd, F_OFD_GETLK, &fl) < 0 ? -1 : fl.l_type != F_UNLCK;
	close(fd);
	return held;
}

/* `before`: only files last changed before then (0: any). `ofd`: the
 * placeholders are ours, locked while in use (the user's folder). */
static void sweep_entry(int dfd, const char *name, FILE *locks, time_t before, int ofd)
{
	size_t len = strlen(name), slen = strlen(SHM_SUFFIX);
	char placeholder[NAME_MAX + 1];
	struct stat sb;

	if (strncmp(name, SHM_PREFIX, strlen(SHM_PREFIX)) != 0 || len <= slen ||
	    strcmp(name + len - slen, SHM_SUFFIX) != 0 ||
	    fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    (before && sb.st_mtime >= before) || has_lock(locks, sb.st_dev, sb.st_ino) != 0)
		return; /* not a leftover of ours: the open refuses what is not */
	memcpy(placeholder, name, len - slen);
	placeholder[len - slen] = '\0';
	if (ofd && placeholder_held(dfd, placeholder) != 0)
		return; /* in use (or cannot tell): never take it */
	unlinkat(dfd, name, 0);
	unlinkat(dfd, placeholder, 0);
}

/* Remove the wal-indexes no process holds (`locks`: /proc/locks, open)
 * (see "Leftovers") with their placeholders, and with `lone` the
 * placeholders left without one. Best effort: a folder we cannot read or
 * lock now is swept by a later open. */
static void sweep(int dfd, int lone, time_t before, FILE *locks, int ofd)
{
	DIR *d = NULL;
	struct dirent *e;
	int fd = dup(dfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		goto done;
	}
	while ((e = readdir(d)))
		sweep_entry(dfd, e->d_name, locks, before, ofd);
	if (!lone)
		goto done;
	rewinddir(d);
	/* Placeholders whose wal-index never came or was just swept. */
	while ((e = readdir(d))) {
		char shm[NAME_MAX + 8];
		struct stat sb;

		if (strncmp(e->d_name, SHM_PREFIX, strlen(SHM_PREFIX)) != 0 ||
		    strstr(e->d_name, SHM_SUFFIX))
			continue;
		snprintf(shm, sizeof(shm), "%s" SHM_SUFFIX, e->d_name);
		if (fstatat(dfd, shm, &sb, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT &&
		    fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode) && sb.st_uid == geteuid() &&
		    (!ofd || placeholder_held(dfd, e->d_name) == 0))
			unlinkat(dfd, e->d_name, 0);
	}
done:
	if (d)
		closedir(d);
}

/* chartsync before the users' own folders kept the wal-index in /dev/shm
 * itself (chartsync-<dev>-<ino>-shm): what it left there of ours, held by
 * no process and untouched for a minute, goes too. Our folder lock does
 * not cover an older chartsync, which may have just made its wal-index and
 * not yet locked it: hence the minute, and a lone placeholder there is
 * left alone. */
static void sweep_base(const char *base, FILE *locks)
{
	int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (bfd < 0)
		return;
	sweep(bfd, 0, time(NULL) - 60, locks, 0);
	close(bfd);
}

/* Whether an older chartsync, which kept this database's wal-index in
 * /dev/shm itself, has the store open now. Two wal-indexes for one
 * database would let each program write WAL frames over the other's:
 * while one is in use there, the store is not opened. */
static int older_version_holds(const char *base, dev_t dev, ino_t ino)
{
	char path[PATH_MAX];
	struct stat sb;
	FILE *locks;
	int held;

	snprintf(path, sizeof(path), "%s/" SHM_PREFIX "%llx-%llx" SHM_SUFFIX, base,
		 (unsigned long long)dev, (unsigned long long)ino);
	if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
		return 0;
	if (!(locks = fopen("/proc/locks", "r")))
		return 1; /* cannot tell: do not risk it */
	held = has_lock(locks, sb.st_dev, sb.st_ino) != 0;
	fclose(locks);
	return held;
}

int chs_crypto__shm_enter(chs_shm_slot *out, const char *base, dev_t dev,
			  ino_t ino, char *problem, size_t plen)
{
	char lock[sizeof(out->path) + 8];
	struct stat sb;
	FILE *locks;
	int dfd = -1;

	out->lock_fd = -1;
	out->hold_fd = -1;
	if (stat(base, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return 1; /* no /dev/shm: beside the database */
	if (older_version_holds(base, dev, ino)) {
		snprintf(problem, plen, "an older version of chartsync has this store open"
			 " (its wal-index is in %s); close it, upgrade it, and open the store"
			 " again", base);
		return -1;
	}
	if (user_dir(out->dir, sizeof(out->dir), base, problem, plen) < 0)
		return -1;
	snprintf(lock, sizeof(lock), "%s/lock", out->dir);
	snprintf(out->path, sizeof(out->path), "%s/" SHM_PREFIX "%llx-%llx",
		 out->dir, (unsigned long long)dev, (unsigned long long)ino);
	if (check_file(lock, problem, plen) < 0)
		return -1;
	out->lock_fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	dfd = open(out->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (out->lock_fd < 0 || dfd < 0) {
		snprintf(problem, plen, "cannot open the wal-index folder '%s': %s",
			 out->dir, strerror(errno));
		goto fail;
	}
	if (flock(out->lock_fd, LOCK_EX | LOCK_NB) == 0 &&
	    (locks = fopen("/proc/locks", "r"))) {
		sweep(dfd, 1, 0, locks, 1);
		sweep_base(base, locks);
		fclose(locks);
	}
	close(dfd);
	dfd = -1;
	/* Shared until the caller has mapped the wal-index (and so holds
	 * SQLite's lock on it): no sweep can take it meanwhile. */
	while (flock(out->lock_fd, LOCK_SH) < 0 && errno == EINTR)
		;
	{
		char shm[sizeof(out->path) + 8];

		snprintf(shm, sizeof(shm), "%s" SHM_SUFFIX, out->path);
		if (check_file(out->path, problem, plen) < 0 ||
		    check_file(shm, problem, plen) < 0)
			goto fail;
	}
	out->hold_fd = open(out->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out->hold_fd < 0) {
		snprintf(problem, plen, "cannot create the wal-index file '%s': %s",
			 out->path, strerror(errno));
		goto fail;
	}
	/* In use from now until the connection closes (see "Leftovers"). */
	{
		struct flock fl = first_byte(F_RDLCK);

		if (fcntl(out->hold_fd, F_OFD_SETLK, &fl) < 0) {
			snprintf(problem, plen, "cannot lock the wal-index file '%s': %s",
				 out->path, strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	if (dfd >= 0)
		close(dfd);
	chs_crypto__shm_release(out);
	return -1;
}

void chs_crypto__shm_leave(chs_shm_slot *slot)
{
	if (slot->lock_fd >= 0)
		close(slot->lock_fd); /* drops the shared flock */
	slot->lock_fd = -1;
}

void chs_crypto__shm_release(chs_shm_slot *slot)
{
	chs_crypto__shm_leave(slot);
	if (slot->hold_fd >= 0)
		close(slot->hold_fd); /* drops the placeholder's lock */
	slot->hold_fd = -1;
}
