/*
 * Attachments: scanned chart pages and other files. The bytes are stored
 * once per content (SHA-256), in 1 MiB chunks inside the encrypted
 * database, and an `attachment` record names them. A 50 MB scan never
 * needs more than one chunk in memory.
 */
#include "records_int.h"

#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (1u << 20)                   /* bytes per stored chunk */
#define ATTACH_MAX ((int64_t)2 << 30)      /* 2 GiB */

/* a stored chunk is a chunk as it travels (client/replicate/blobsync.c) */
_Static_assert(CHUNK == CHS_CHUNK_BYTES, "stored and sent chunks differ");
_Static_assert(ATTACH_MAX == (int64_t)CHS_ATTACHMENT_MAX_BYTES, "attachment limits differ");

/* Hash the file, and with `st` non-NULL store its chunks as well. */
static int pass(chs_store *s, int fd, const char *path, unsigned char *buf,
		sqlite3_stmt *st, const unsigned char *want, unsigned char sha[32],
		int64_t *size)
{
	chs_sha256_state h;
	ssize_t n;
	int64_t k = 0;
	int err, rc;

	*size = 0;
	chs_sha256_init(&h);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return chs_error_set(CHS_EIO, "cannot read '%s': %s", path, strerror(errno));
	while ((n = chs_util__read_full(fd, buf, CHUNK)) > 0) {
		chs_sha256_update(&h, buf, (size_t)n);
		*size += n;
		if (!st)
			continue;
		if ((err = chs_store__bind_blob(s, st, 1, want, 32)) < 0 ||
		    (err = chs_store__bind_int64(s, st, 2, k++)) < 0 ||
		    (err = chs_store__bind_blob(s, st, 3, buf, n)) < 0)
			return err;
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return chs_store__sqlerr(s, rc, "saving the attachment");
	}
	if (n < 0)
		return chs_error_set(CHS_EIO, "cannot read '%s': %s", path, strerror(errno));
	chs_sha256_final(&h, sha);
	if (want && memcmp(sha, want, 32) != 0)
		return chs_error_set(CHS_EINVALID, "'%s' changed while it was being attached", path);
	return 0;
}

static int blob_known(chs_store *s, const unsigned char sha[32], int *known)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "SELECT 1 FROM blobs WHERE sha256 = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, sha, 32)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	*known = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "reading");
}

/* Note a new attachment of this store for sending (the chunks sync
 * sends after the batch that names it); an empty one has nothing to send. */
static int outbox_add(chs_store *s, const unsigned char sha[CHS_SHA256_BYTES],
		      int64_t size)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if (size <= 0)
		return 0;
	if ((err = chs_store__prepare(s, &st,
		     "INSERT OR IGNORE INTO blob_outbox(sha256, chunks) VALUES (?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, sha, CHS_SHA256_BYTES)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 2,
					 (int64_t)chs_chunk_count((uint64_t)size))) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving the attachment");
}

static int store_blob(chs_store *s, int fd, const char *path, unsigned char *buf,
		      const unsigned char sha[32], int64_t size)
{
	unsigned char again[32];
	sqlite3_stmt *st = NULL;
	int64_t size2;
	int known, err, rc;

	if ((err = blob_known(s, sha, &known)) < 0 || known)
		return err;
	if ((err = chs_store__prepare(s, &st,
		     "INSERT INTO blob_chunks(sha256, n, data) VALUES (?, ?, ?)")) < 0)
		return err;
	err = pass(s, fd, path, buf, st, sha, again, &size2);
	chs_store__finish(s, st);
	if (err == 0 && size2 != size)
		err = chs_error_set(CHS_EINVALID, "'%s' changed while it was being attached", path);
	if (err < 0 || (err = chs_store__prepare(s, &st,
			"INSERT INTO blobs(sha256, size) VALUES (?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, sha, 32)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 2, size)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE)
		return chs_store__sqlerr(s, rc, "saving the attachment");
	return outbox_add(s, sha, size);
}

static const char *guess_mime(const char *path)
{
	static const char *const map[][2] = {
		{ ".pdf", "application/pdf" }, { ".png", "image/png" },
		{ ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" },
		{ ".tif", "image/tiff" }, { ".tiff", "image/tiff" },
		{ ".txt", "text/plain" }, { ".xml", "application/xml" },
	};
	const char *dot = strrchr(path, '.');
	size_t i;

	for (i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(dot, map[i][0]) == 0)
			return map[i][1];
	return "application/octet-stream";
}

static int attachment_record(chs_writer *w, const char *patient, const char *encounter,
			     const char *path, const char *title,
			     const unsigned char sha[32], int64_t size, unsigned char id[16])
{
	const char *base = strrchr(path, '/');
	char hex[65], num[24];
	chs_edit e[4];
	chs_change *c = NULL;
	int err;

	chs_hex(hex, sha, 32);
	snprintf(num, sizeof(num), "%lld", (long long)size);
	memset(e, 0, sizeof(e));
	e[0].name = "title";
	e[0].value = title ? title : base ? base + 1 : path;
	e[1].name = "mime";
	e[1].value = guess_mime(path);
	e[2].name = "size";
	e[2].value = num;
	e[3].name = "sha256";
	e[3].value = hex;
	chs_random(id, 16);
	if ((err = chs_records__new_record(w->s, chs_schema_type("attachment"), id, e, 4,
					   patient, encounter, &c)) < 0)
		return err;
	return chs_records__writer_put(w, c);
}

int chs_attach_fd(chs_store *s, const char *patient, int fd, const char *path,
		  const char *encounter, const char *title, char id_out[33])
{
	unsigned char sha[32], id[16], *buf = NULL;
	struct stat sb;
	int64_t size = 0;
	chs_writer w;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(fd >= 0);
	CHS_ASSERT_ARG(path);
	CHS_ASSERT_ARG(id_out);

	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > ATTACH_MAX)
		return chs_error_set(CHS_EINVALID, "'%s' is not a regular file of at most 2 GiB",
				     path);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return chs_error_set(CHS_EIO, "cannot read '%s': %s", path, strerror(errno));
	if (!(buf = chs_malloc(CHUNK)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = pass(s, fd, path, buf, NULL, NULL, sha, &size)) < 0 ||
	    (err = chs_records__writer_begin(&w, s)) < 0)
		goto done;
	if ((err = store_blob(s, fd, path, buf, sha, size)) < 0 ||
	    (err = attachment_record(&w, patient, encounter, path, title, sha, size, id)) < 0) {
		chs_records__writer_abort(&w);
		goto done;
	}
	if ((err = chs_records__writer_commit(&w)) == 0)
		chs_hex(id_out, id, 16);
done:
	free(buf);
	return err;
}

int chs_attach(chs_store *s, const char *patient, const char *path,
	       const char *encounter, const char *title, char id_out[33])
{
	int fd, err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(path);
	CHS_ASSERT_ARG(id_out);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return chs_error_set(CHS_EINVALID, "cannot read '%s': %s", path, strerror(errno));
	err = chs_attach_fd(s, patient, fd, path, encounter, title, id_out);
	close(fd);
	return err;
}

/* The content hash an attachment record names, read from its stored
 * state (a record still waiting for a parent has none). */
static int attachment_sha(chs_store *s, const char *prefix, unsigned char sha[32])
{
	sqlite3_stmt *st = NULL;
	unsigned char rec[16];
	char id[33];
	const char *type, *hex;
	int err, rc;

	if ((err = chs_record_resolve(s, prefix, id)) < 0)
		return err;
	chs_util__parse_id(rec, id);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT type, json_extract(CAST(state AS TEXT), '$.fields.sha256')"
		     " FROM records WHERE id = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, rec, 16)) < 0)
		goto done;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		type = (const char *)sqlite3_column_text(st, 0);
		hex = (const char *)sqlite3_column_text(st, 1);
		if (!type || strcmp(type, "attachment") != 0 || !hex ||
		    chs_unhex(sha, 32, hex) < 0)
			err = chs_error_set(CHS_EINVALID, "record '%s' is not an attachment", prefix);
	} else if (rc == SQLITE_DONE) {
		err = chs_error_set(CHS_ENOTFOUND, "no record '%s'", prefix);
	} else {
		err = chs_store__sqlerr(s, rc, "reading a record");
	}
done:
	chs_store__finish(s, st);
	return err;
}

int chs_attachment_cat(chs_store *s, const char *id, int fd)
{
	unsigned char sha[32], got[32];
	chs_sha256_state h;
	sqlite3_stmt *st = NULL;
	int known, err, rc;

	if ((err = attachment_sha(s, id, sha)) < 0 || (err = blob_known(s, sha, &known)) < 0)
		return err;
	/* chunks arrive by sync after the record; nothing is written until
	 * all of them are here (a partial file is no use to anyone) */
	if (!known)
		return chs_error_set(CHS_ENOTFOUND, "the bytes of attachment '%s' have not arrived"
				     " in this store yet (they travel after the records); sync"
				     " again", id);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY n")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, sha, 32)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	chs_sha256_init(&h);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && err == 0) {
		const void *d = sqlite3_column_blob(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		chs_sha256_update(&h, d, n);
		if (chs_util__write_full(fd, d, n) < 0)
			err = chs_error_set(CHS_EIO, "cannot write the attachment: %s", strerror(errno));
	}
	chs_store__finish(s, st);
	if (err < 0)
		return err;
	if (rc != SQLITE_DONE)
		return chs_store__sqlerr(s, rc, "reading the attachment");
	chs_sha256_final(&h, got);
	if (memcmp(got, sha, 32) != 0)
		return chs_error_set(CHS_ENOTFOUND,
				     "the bytes of attachment '%s' are not in this store (yet)", id);
	return 0;
}
