/*
 * client/service/scan.c - taking one scanned file into the store, on the
 * worker thread (no libuv here).
 *
 * The order is what makes a scan safe to lose power in the middle of:
 * the file is read and checked, the attachment committed in one store
 * transaction, and only then is the file moved out of the hot folder (and
 * both folders fsynced). A crash between the commit and the move leaves
 * the file to be taken again, and its hash finds it already attached. A
 * file is never overwritten in done/ or unmatched/: a name already there
 * gets " (2)", " (3)"... before its extension.
 */
#define _GNU_SOURCE /* renameat2(), RENAME_NOREPLACE */
#include "service_int.h"
#include "client/records/records.h"
#include "client/records/views.h"
#include "client/text/text.h"
#include "client/util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_MAX_BYTES ((int64_t)CHS_ATTACHMENT_MAX_BYTES)
#define HEAD_BYTES 1024        /* read for the magic bytes (PDF allows junk before %PDF) */
#define READ_BYTES (64 * 1024) /* hashing buffer */
#define CLASH_MAX 1000         /* "name (2)" .. "name (999)" */
#define PREFIX_MIN 4           /* hex digits of a record id prefix */

enum kind { KIND_PDF, KIND_TIFF, KIND_JPEG, KIND_PNG, KIND_NONE };

static const struct {
	const char *ext;
	enum kind kind;
} extensions[] = {
	{ "pdf", KIND_PDF }, { "tif", KIND_TIFF }, { "tiff", KIND_TIFF },
	{ "jpg", KIND_JPEG }, { "jpeg", KIND_JPEG }, { "png", KIND_PNG },
};

static const char *const kind_names[] = { "a PDF", "a TIFF", "a JPEG", "a PNG" };

static void say(chs_scan_outcome *out, int status, const char *fmt, ...) CHS_PRINTF(3, 4);

static void say(chs_scan_outcome *out, int status, const char *fmt, ...)
{
	va_list ap;

	out->status = status;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

static enum kind kind_of_name(const char *name, const char **ext)
{
	const char *dot = strrchr(name, '.');
	size_t i;

	*ext = dot ? dot + 1 : "";
	for (i = 0; dot && i < sizeof(extensions) / sizeof(extensions[0]); i++)
		if (strcasecmp(dot + 1, extensions[i].ext) == 0)
			return extensions[i].kind;
	return KIND_NONE;
}

/* What the first bytes say the file is. */
static enum kind kind_of_bytes(const unsigned char *p, size_t n)
{
	size_t i;

	if (n >= 4 && ((p[0] == 'I' && p[1] == 'I' && p[2] == 42 && p[3] == 0) ||
		       (p[0] == 'M' && p[1] == 'M' && p[2] == 0 && p[3] == 42)))
		return KIND_TIFF;
	if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
		return KIND_JPEG;
	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return KIND_PNG;
	for (i = 0; i + 5 <= n; i++)
		if (memcmp(p + i, "%PDF-", 5) == 0)
			return KIND_PDF;
	return KIND_NONE;
}

/* Read the file once: its kind from the first bytes, its SHA-256 (hex)
 * from all of them. -1 with errno when it cannot be read. */
static int read_file(int fd, enum kind *kind, int64_t *size, char hex[65])
{
	unsigned char *buf = chs_malloc(READ_BYTES), sha[CHS_SHA256_BYTES];
	chs_sha256_state h;
	ssize_t n;
	int first = 1;

	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	*kind = KIND_NONE;
	*size = 0;
	chs_sha256_init(&h);
	while ((n = chs_util__read_full(fd, buf, READ_BYTES)) > 0) {
		if (first)
			*kind = kind_of_bytes(buf, (size_t)n < HEAD_BYTES ? (size_t)n : HEAD_BYTES);
		first = 0;
		chs_sha256_update(&h, buf, (size_t)n);
		*size += n;
	}
	free(buf);
	if (n < 0)
		return -1;
	chs_sha256_final(&h, sha);
	chs_hex(hex, sha, CHS_SHA256_BYTES);
	return 0;
}

/* "stem (k).ext" for k > 1, the name itself for k == 1. */
static char *candidate(const char *dir, const char *name, int k)
{
	const char *dot = strrchr(name, '.');
	size_t stem = dot && dot != name ? (size_t)(dot - name) : strlen(name);
	chs_buf b;

	chs_buf_init(&b, 0);
	if (k == 1) {
		if (chs_buf_printf(&b, "%s/%s", dir, name) < 0)
			return NULL;
	} else if (chs_buf_printf(&b, "%s/%.*s (%d)%s", dir, (int)stem, name, k,
				  name + stem) < 0) {
		return NULL;
	}
	return chs_buf_detach(&b);
}

static int exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 || errno != ENOENT;
}

/* Move `src` into folder `dir` under its name, or the first free
 * "name (k)" when taken (`with_reason`: NAME.reason must be free too).
 * Never replaces a file: RENAME_NOREPLACE, or where the file system
 * offers no such rename (some network shares), a look first. The new
 * path (malloc'ed) in `*moved`. */
static int move_into(const char *src, const char *dir, const char *name, int with_reason,
		     char **moved)
{
	char *dst = NULL, reason[4096];
	int k, rc;

	*moved = NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) /* the hot folder's watcher makes it too */
		return chs_error_set(CHS_EIO, "cannot make '%s': %s", dir, strerror(errno));
	for (k = 1; k < CLASH_MAX; k++) {
		free(dst);
		if (!(dst = candidate(dir, name, k)))
			return chs_error_set(CHS_ENOMEM, "out of memory");
		snprintf(reason, sizeof(reason), "%s.reason", dst);
		if (with_reason && exists(reason))
			continue;
		rc = renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE);
		if (rc < 0 && (errno == EINVAL || errno == ENOSYS)) {
			if (exists(dst))
				continue;
			rc = rename(src, dst);
		}
		if (rc == 0) {
			*moved = dst;
			return 0;
		}
		if (errno != EEXIST) {
			rc = chs_error_set(CHS_EIO, "cannot move '%s' to '%s': %s", src, dir,
					   strerror(errno));
			free(dst);
			return rc;
		}
	}
	free(dst);
	return chs_error_set(CHS_EIO, "'%s' holds %d files named like '%s': clear some out",
			     dir, CLASH_MAX, name);
}

/* NAME.reason beside the moved file: one line, written crash-safe (a
 * temporary file, fsync, rename, fsync of the folder). */
static int write_reason(const char *dir, const char *moved, const char *reason)
{
	char *tmp = NULL, *final = NULL;
	const char *base = strrchr(moved, '/') ? strrchr(moved, '/') + 1 : moved;
	chs_buf b;
	int fd = -1, err = 0;
	size_t len = strlen(reason);

	chs_buf_init(&b, 0);
	if (chs_buf_printf(&b, "%s/.%s.reason.tmp", dir, base) < 0 || !(tmp = chs_buf_detach(&b)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	chs_buf_init(&b, 0);
	if (chs_buf_printf(&b, "%s.reason", moved) < 0 || !(final = chs_buf_detach(&b))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, reason, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) < 0) {
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", tmp, strerror(errno));
		goto done;
	}
	if (rename(tmp, final) < 0) {
		err = chs_error_set(CHS_EIO, "cannot write '%s': %s", final, strerror(errno));
		goto done;
	}
	err = chs_util__fsync(dir);
done:
	if (fd >= 0)
		close(fd);
	if (err < 0 && tmp)
		unlink(tmp);
	free(tmp);
	free(final);
	return err;
}

/* The file goes to unmatched/ with its reason (already in out->reason). */
static void to_unmatched(const char *folder, const char *path, const char *name,
			 chs_scan_outcome *out)
{
	char *dir = chs_util__path(folder, "unmatched"), *moved = NULL;
	int err;

	if (!dir) {
		out->status = CHS_ENOMEM;
		return;
	}
	if ((err = move_into(path, dir, name, 1, &moved)) < 0) {
		/* still in the hot folder: say why, for the log */
		say(out, err, "%s", chs_error_last());
		goto done;
	}
	out->where = "unmatched";
	if ((err = write_reason(dir, moved, out->reason)) < 0 ||
	    (err = chs_util__fsync(folder)) < 0)
		strncat(out->reason, " (and the reason could not be written beside it)",
			sizeof(out->reason) - strlen(out->reason) - 1);
done:
	free(moved);
	free(dir);
}

/* The name's parts: the key before the first '_' (into `key`), the kind
 * its extension promises. 0, or 1 with the reason said. */
static int parse_name(const char *name, chs_buf *key, enum kind *kind, const char **ext,
		      chs_scan_outcome *out)
{
	const char *us = strchr(name, '_');

	if (chs_text_check(name, strlen(name), CHS_TEXT_LINE, 255, "the file's name") < 0) {
		say(out, CHS_EINVALID, "%s: rename the file", chs_error_last());
		return 1;
	}
	if ((*kind = kind_of_name(name, ext)) == KIND_NONE) {
		say(out, CHS_EINVALID,
		    "the name does not end in .pdf, .tif, .tiff, .jpg, .jpeg or .png");
		return 1;
	}
	if (!us || us == name) {
		say(out, CHS_EINVALID,
		    "the name does not start with a chart number or a patient's record id and '_'"
		    " (as in A-1001_referral.pdf)");
		return 1;
	}
	if (chs_buf_put(key, name, (size_t)(us - name)) < 0 || chs_buf_puts(key, "") < 0) {
		say(out, CHS_ENOMEM, "out of memory");
		return -1;
	}
	return 0;
}

static int is_hex_prefix(const char *s)
{
	size_t n = strspn(s, "0123456789abcdefABCDEF");

	return n >= PREFIX_MIN && n <= 32 && s[n] == '\0';
}

/* The patients whose chart number is `key` (normalised as stored), each
 * taken to the chart that holds it now: after a merge, the tombstone and
 * the patient it was merged into share the number, and are one. */
static int by_mrn(chs_store *s, const char *key, char patient[33], int *count)
{
	char (*ids)[33] = NULL;
	size_t n = 0;
	chs_buf norm;
	int err;

	*count = 0;
	chs_buf_init(&norm, 0);
	if ((err = chs_text_normalise_id(&norm, key, strlen(key))) == 0 &&
	    (err = chs_buf_puts(&norm, "")) == 0 &&
	    (err = chs_record_find_mrn(&ids, &n, s, norm.ptr)) == 0 && n > 0)
		memcpy(patient, ids[0], 33);
	*count = (int)n;
	free(ids);
	chs_buf_dispose(&norm);
	return err;
}

/* A patient by a prefix of their record's id: 1 when found, 0 with the
 * reason said when not, or a store error. */
static int by_prefix(chs_store *s, const char *key, char patient[33], chs_scan_outcome *out)
{
	chs_record *r = NULL;
	int err = chs_record_lookup(&r, s, key);

	if (err == CHS_ENOTFOUND) {
		say(out, CHS_ENOTFOUND,
		    "no patient has chart number %s, nor a record id starting %s, in this store",
		    key, key);
		return 0;
	}
	if (err == CHS_EAMBIGUOUS) {
		say(out, CHS_EAMBIGUOUS,
		    "no patient has chart number %s, and more than one record's id starts %s:"
		    " name the file with more of the id", key, key);
		return 0;
	}
	if (err < 0)
		return err;
	if (strcmp(chs_record_type(r), "patient") != 0 || chs_record_deleted(r)) {
		say(out, CHS_ENOTFOUND, "record %s is a%s %s, not a patient", key,
		    chs_record_deleted(r) ? " removed" : "", chs_record_type(r));
		err = 0;
	} else if ((err = chs_record_follow(s, chs_record_id(r), patient, NULL)) == 0) {
		err = 1; /* a merged chart's scan goes on the chart that holds it now */
	}
	chs_record_free(r);
	return err;
}

/* Find the patient: 1 found, 0 no match (reason said), or a store error. */
static int find_patient(chs_store *s, const char *key, char patient[33], chs_scan_outcome *out)
{
	int count, err;

	if ((err = by_mrn(s, key, patient, &count)) < 0)
		return err;
	if (count == 1)
		return 1;
	if (count > 1) {
		say(out, CHS_EAMBIGUOUS,
		    "%d patients have chart number %s in this store: correct the wrong ones"
		    " ('chartsync report'), then move the file back", count, key);
		return 0;
	}
	if (is_hex_prefix(key))
		return by_prefix(s, key, patient, out);
	say(out, CHS_ENOTFOUND, "no patient has chart number %s in this store", key);
	return 0;
}

/* The patient's attachment holding these bytes, if any. */
static int find_duplicate(chs_store *s, const char *patient, const char *hex, char record[33])
{
	chs_record_list *l = NULL;
	size_t i;
	int err;

	if ((err = chs_record_query(&l, s, "attachment", patient)) < 0)
		return err;
	for (i = 0; i < chs_record_list_count(l); i++) {
		const chs_record *r = chs_record_list_get(l, i);
		const char *v = chs_record_field(r, "sha256");
		char *sha = v ? chs_util__json_string(v) : NULL;
		int same = sha && strcasecmp(sha, hex) == 0;

		free(sha);
		if (same) {
			memcpy(record, chs_record_id(r), 33);
			err = 1;
			break;
		}
	}
	chs_record_list_free(l);
	return err;
}

/* The attachment is committed: the file leaves the hot folder. */
static void finish(const char *folder, const char *path, const char *name, int keep,
		   chs_scan_outcome *out)
{
	char *dir = NULL, *moved = NULL;
	int err;

	if (keep) {
		if (!(dir = chs_util__path(folder, "done")))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			err = move_into(path, dir, name, 0, &moved);
	} else if (unlink(path) < 0) {
		err = chs_error_set(CHS_EIO, "cannot remove '%s': %s", path, strerror(errno));
	} else {
		err = 0;
	}
	if (err < 0) { /* left in place: taken again, found attached, moved then */
		say(out, err, "attached, but %s", chs_error_last());
		goto done;
	}
	out->where = keep ? "done" : "removed";
	if ((dir && chs_util__fsync(dir) < 0) || chs_util__fsync(folder) < 0)
		snprintf(out->reason, sizeof(out->reason), "%s", chs_error_last());
done:
	free(moved);
	free(dir);
}

/* Check the file and find its patient: 1 to attach, 0 for unmatched/
 * (the reason said), or a failure that leaves the file in place (< 0,
 * the reason said). */
static int examine(chs_store *s, const char *path, const char *name, char hex[65],
		   int *fdp, chs_scan_outcome *out)
{
	enum kind named, found;
	const char *ext;
	struct stat sb;
	int64_t size;
	chs_buf key;
	int fd, err;

	chs_buf_init(&key, 0);
	if ((err = parse_name(name, &key, &named, &ext, out)) != 0) {
		err = err > 0 ? 0 : err; /* a name against the rule: unmatched */
		goto done;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		/* gone (taken away by hand): nothing to move; unreadable: unmatched */
		err = errno == ENOENT ? CHS_ENOTFOUND : 0;
		say(out, err ? err : CHS_EIO, "the file cannot be read: %s", strerror(errno));
		goto done;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		say(out, CHS_EINVALID, "it is not a file (a device or a pipe?)");
		err = 0;
	} else if (sb.st_size > SCAN_MAX_BYTES) {
		say(out, CHS_EINVALID, "the file is larger than 2 GiB, the most an attachment holds");
		err = 0;
	} else if (read_file(fd, &found, &size, hex) < 0) {
		say(out, CHS_EIO, "the file cannot be read: %s", strerror(errno));
		err = 0;
	} else if (size == 0) {
		say(out, CHS_EINVALID, "the file is empty: scan the page again");
		err = 0;
	} else if (found != named) {
		say(out, CHS_EINVALID, "the file is not %s although its name ends .%s%s%s",
		    kind_names[named], ext, found == KIND_NONE ? "" : " (it is ",
		    found == KIND_NONE ? "" : kind_names[found]);
		if (found != KIND_NONE)
			strncat(out->reason, ")", sizeof(out->reason) - strlen(out->reason) - 1);
		err = 0;
	} else if ((err = find_patient(s, key.ptr, out->patient, out)) < 0) {
		say(out, err, "the store could not be read: %s", chs_error_last());
	}
	if (err > 0)
		*fdp = fd; /* what was checked is what is stored */
	else
		close(fd);
done:
	chs_buf_dispose(&key);
	return err;
}

/* The name still holds the file that was checked and stored: nobody
 * renamed another file (a link to a secret, a new scan) over it meanwhile,
 * and it did not change since. */
static int still_the_file(const char *path, int fd)
{
	struct stat now, then;

	return lstat(path, &now) == 0 && fstat(fd, &then) == 0 && now.st_dev == then.st_dev &&
		now.st_ino == then.st_ino && now.st_size == then.st_size &&
		now.st_mtim.tv_sec == then.st_mtim.tv_sec &&
		now.st_mtim.tv_nsec == then.st_mtim.tv_nsec;
}

void chs_service__scan_take(chs_store *s, const char *folder, const char *name, int keep,
			    chs_scan_outcome *out)
{
	char hex[65], *path = NULL;
	int err, fd = -1;

	memset(out, 0, sizeof(*out));
	if (!s || !folder || !name || !*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, "..")) {
		say(out, CHS_ERROR, "invalid argument to scan_take (a bug in the caller)");
		return;
	}
	if (!(path = chs_util__path(folder, name))) {
		say(out, CHS_ENOMEM, "out of memory");
		return;
	}
	if ((err = examine(s, path, name, hex, &fd, out)) == 0) {
		out->patient[0] = '\0'; /* a chart number two patients share named neither */
		to_unmatched(folder, path, name, out);
		goto done;
	}
	if (err < 0)
		goto done;
	if ((err = find_duplicate(s, out->patient, hex, out->record)) < 0) {
		say(out, err, "the store could not be read: %s", chs_error_last());
		goto done;
	}
	out->duplicate = err == 1;
	if (!out->duplicate &&
	    (err = chs_attach_fd(s, out->patient, fd, path, NULL, name, out->record)) < 0) {
		out->record[0] = '\0';
		say(out, err, "the scan could not be stored: %s", chs_error_last());
		goto done;
	}
	out->status = 0;
	if (!still_the_file(path, fd)) {
		/* left in place: looked at again, and what is there now is
		 * taken (or found attached) on its own */
		say(out, CHS_EBUSY, "attached, but the file changed while it was being taken;"
		    " it is looked at again");
		goto done;
	}
	finish(folder, path, name, keep, out);
done:
	if (fd >= 0)
		close(fd);
	free(path);
}
