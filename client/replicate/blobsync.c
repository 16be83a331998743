/*
 * Attachment bytes through the archive, outside the batches.
 *
 * The batches carry the attachment records (title, type, size, SHA-256);
 * the bytes follow as chunks sealed under the clinical data key
 * (sync/chunk.c), on each device's own refs/chartsync/blobs/<device id>.
 * A sync sends its batches first, so a 50 MB scan never holds back the
 * records, and then the chunks:
 *
 *   sending    the attachments made here wait in table blob_outbox, in
 *              the order they were made, with how many of their chunks
 *              the archive has (`sent`). A commit takes the next
 *              CHS_CHUNKS_PER_COMMIT chunks and is pushed before the next
 *              one is made, then marked sent. Sealing is deterministic, so
 *              a chunk whose file the mirror already holds is not
 *              committed again: another device sent the same bytes (they
 *              are in the archive), or this device committed it and was
 *              stopped before marking it (the next push of its ref takes
 *              it along). At most one commit's worth is ever redone.
 *   receiving  only a device whose role reads clinical data fetches the
 *              chunk refs at all. Each other device's chain is walked from
 *              table blob_progress: every commit is checked (its device on
 *              the roster with a clinical role, its signature, its place
 *              in the chain, its files' form), every chunk is opened and
 *              checked against its name, and the chunks are stored with
 *              the new progress in one transaction. Once every chunk of an
 *              attachment is here and the whole matches its SHA-256, the
 *              attachment becomes readable (table blobs); until then
 *              `chartsync cat` says the bytes have not arrived yet.
 *
 * A billing office never has attachment bytes: it may not write the
 * clinical `attachment` records, and it never fetches chunks.
 */
#include "replicate_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCHED_BLOBS "refs/remotes/archive/chartsync/blobs/"

static void note(const chs_blob_sync *b, const char *fmt, ...) CHS_PRINTF(2, 3);

/* A problem that does not stop the sync: kept for the report. */
static void note(const chs_blob_sync *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chs_replicate__report_notev(b->rep, fmt, ap);
	va_end(ap);
}

static void progress(const chs_blob_sync *b, const char *what, size_t done, size_t total)
{
	if (b->opts && b->opts->progress)
		b->opts->progress(what, done, total, b->opts->payload);
}

int chs_replicate__blobs_wanted(chs_store *s)
{
	int role = 0;

	if (chs_store__role(s, &role) < 0) {
		chs_error_clear();
		return 0;
	}
	return role && chs_role_reads((chs_role)role, CHS_COMPARTMENT_CLINICAL);
}

/* ------------------------------------------------------------------ */
/* Sending                                                              */

typedef struct planned {
	unsigned char sha[CHS_SHA256_BYTES];
	uint32_t index;
} planned;

/* The next chunks to send, in the order the attachments were made. */
static int plan(chs_store *s, planned p[CHS_CHUNKS_PER_COMMIT], size_t *n, size_t *left)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*n = 0;
	*left = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT sha256, chunks, sent FROM blob_outbox WHERE sent < chunks"
		     " ORDER BY rowid")) < 0)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t chunks = sqlite3_column_int64(st, 1), i = sqlite3_column_int64(st, 2);

		if (sqlite3_column_bytes(st, 0) != CHS_SHA256_BYTES || chunks > UINT32_MAX) {
			err = chs_error_set(CHS_EDAMAGED, "the store's list of attachments to send"
					    " is damaged");
			break;
		}
		*left += (size_t)(chunks - i);
		for (; i < chunks && *n < CHS_CHUNKS_PER_COMMIT; i++, (*n)++) {
			memcpy(p[*n].sha, sqlite3_column_blob(st, 0), CHS_SHA256_BYTES);
			p[*n].index = (uint32_t)i;
		}
	}
	chs_store__finish(s, st);
	if (err == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading the attachments to send");
	return err;
}

/* Chunk `p` as stored, sealed under the current clinical key. */
static int seal_planned(chs_store *s, const planned *p, const unsigned char *key,
			uint32_t gen, unsigned char **file, size_t *len, char *name)
{
	sqlite3_stmt *st = NULL;
	chs_chunk c;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "SELECT b.size, c.data FROM blobs b JOIN blob_chunks c"
		     " ON c.sha256 = b.sha256 WHERE b.sha256 = ? AND c.n = ?")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, p->sha, CHS_SHA256_BYTES)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 2, p->index)) < 0)
		goto done;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memcpy(c.sha256, p->sha, CHS_SHA256_BYTES);
		c.size = (uint64_t)sqlite3_column_int64(st, 0);
		c.index = p->index;
		c.data = sqlite3_column_blob(st, 1);
		c.len = (size_t)sqlite3_column_bytes(st, 1);
		err = chs_chunk_seal(file, len, name, &c, key, gen);
		if (err == CHS_EINVALID)
			err = chs_error_set(CHS_EDAMAGED, "an attachment of this store is damaged"
					    " (a chunk has the wrong size)");
	} else {
		err = rc == SQLITE_DONE ? chs_error_set(CHS_EDAMAGED, "an attachment to send is"
							" missing from this store")
					: chs_store__sqlerr(s, rc, "reading an attachment");
	}
done:
	chs_store__finish(s, st);
	return err;
}

static int mark_chunks_sent(chs_store *s, const planned *p, size_t n)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int err, rc = SQLITE_DONE;

	if ((err = chs_store__begin(s)) < 0)
		return err;
	for (i = 0; i < n && rc == SQLITE_DONE; i++) {
		if ((err = chs_store__prepare(s, &st,
			     "UPDATE blob_outbox SET sent = ?2 WHERE sha256 = ?1 AND sent < ?2")) < 0)
			break;
		if ((err = chs_store__bind_blob(s, st, 1, p[i].sha, CHS_SHA256_BYTES)) < 0 ||
		    (err = chs_store__bind_int64(s, st, 2, (int64_t)p[i].index + 1)) < 0) {
			chs_store__finish(s, st);
			break;
		}
		rc = sqlite3_step(st);
		chs_store__finish(s, st);
	}
	if (err == 0 && rc == SQLITE_DONE)
		err = chs_store__exec(s, "DELETE FROM blob_outbox WHERE sent >= chunks");
	else if (err == 0)
		err = chs_store__sqlerr(s, rc, "marking attachment chunks sent");
	if (err < 0) {
		chs_store__rollback(s);
		return err;
	}
	return chs_store__commit(s);
}

/* Seal one plan, and commit what the mirror does not hold yet: a chunk
 * another device sent (the same bytes: sealing is deterministic) is in
 * the archive already, and one in an unpushed commit of this device goes
 * with the next push of its ref. *sealed: how many were committed. */
static int commit_planned(const chs_blob_sync *b, const planned *p, size_t n,
			  const unsigned char *key, uint32_t gen, size_t *sealed)
{
	chs_git_entry files[CHS_CHUNKS_PER_COMMIT];
	unsigned char *owned[CHS_CHUNKS_PER_COMMIT] = { NULL };
	char names[CHS_CHUNKS_PER_COMMIT][CHS_CHUNK_ID_HEX + 1], oid[41];
	size_t i, k = 0;
	int have, err = 0;

	for (i = 0; i < n && err == 0; i++) {
		err = seal_planned(b->s, &p[i], key, gen, &owned[k], &files[k].len, names[k]);
		if (err == 0 && (err = chs_git_has_file(b->git, owned[k], files[k].len, &have)) == 0 &&
		    !have) {
			files[k].data = owned[k];
			files[k].name = names[k];
			k++;
		} else {
			free(owned[k]);
			owned[k] = NULL;
		}
	}
	if (err == 0 && k > 0)
		err = chs_chunks_commit(b->git, files, k, b->s->identity, oid);
	for (i = 0; i < k; i++)
		free(owned[i]);
	*sealed = err == 0 ? k : 0;
	return err;
}

/* Commit, push and mark one plan. Killed after the commit and before the
 * mark, the next sync finds every chunk of the plan in the mirror and
 * only pushes. */
static int send_planned(const chs_blob_sync *b, const char *ref, const planned *p, size_t n,
			const unsigned char *key, uint32_t gen)
{
	const char *refs[1] = { ref };
	char tip[41];
	size_t sealed = 0;
	int err;

	if ((err = commit_planned(b, p, n, key, gen, &sealed)) < 0)
		return err;
	chs_util__fault("blob-committed");
	if ((err = chs_git_ref(b->git, ref, tip)) == CHS_ENOTFOUND)
		chs_error_clear(); /* every chunk came from other devices */
	else if (err < 0 || (err = chs_git_push(b->git, b->url, refs, 1)) < 0)
		return err;
	else
		b->rep->pushed = 1;
	chs_util__fault("blob-pushed");
	if ((err = mark_chunks_sent(b->s, p, n)) < 0)
		return err;
	chs_util__fault("blob-sent");
	b->rep->chunks_out += sealed;
	return 0;
}

static int own_chunks_catch_up(const chs_blob_sync *b, const char *ref);

/* This device's chunk commits that the archive no longer holds (its
 * chunk ref deleted there, or set back) go there again, as its batches
 * do (send.c): a chunk ref is otherwise pushed only with a new chunk
 * commit, and no other device would ever receive those chunks. Only
 * after a fetch of the chunk refs, which says what the archive holds. */
static int own_chunks_republish(const chs_blob_sync *b, const char *ref)
{
	char fetched[sizeof(FETCHED_BLOBS) + 33], mine[41], theirs[41];
	const char *refs[1] = { ref };
	int yes = 0, err;

	if (!b->fetched)
		return 0;
	snprintf(fetched, sizeof(fetched), "%s%s", FETCHED_BLOBS, b->s->device_id);
	if ((err = chs_git_ref(b->git, ref, mine)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	if ((err = chs_git_ref(b->git, fetched, theirs)) == CHS_ENOTFOUND)
		chs_error_clear();
	else if (err < 0 || strcmp(theirs, mine) == 0 ||
		 (err = chs_git_is_ancestor(b->git, theirs, mine, &yes)) < 0 || !yes)
		return err; /* replaced there: refused by the other devices */
	if ((err = chs_git_push(b->git, b->url, refs, 1)) == 0)
		b->rep->pushed = 1;
	return err;
}

int chs_replicate__blobs_push(const chs_blob_sync *b)
{
	char ref[sizeof(CHS_BLOB_REFS) + 33];
	planned p[CHS_CHUNKS_PER_COMMIT];
	unsigned char *key = NULL;
	uint32_t gen;
	size_t n, left, done = 0, total = 0;
	int err;

	if (!b->me || !chs_role_reads(b->me->role, CHS_COMPARTMENT_CLINICAL))
		return 0; /* nothing to send: it can make no attachment */
	snprintf(ref, sizeof(ref), "%s%s", CHS_BLOB_REFS, b->s->device_id);
	if ((err = own_chunks_catch_up(b, ref)) < 0 || (err = own_chunks_republish(b, ref)) < 0 ||
	    (err = plan(b->s, p, &n, &total)) < 0 || n == 0)
		return err;
	gen = chs_roster_generation(b->roster, CHS_COMPARTMENT_CLINICAL);
	if (!(key = chs_secret_alloc(CHS_KEY_BYTES)))
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	if ((err = b->key_of(CHS_COMPARTMENT_CLINICAL, gen, key, b->key_payload)) < 0)
		goto done;
	while (n > 0) {
		progress(b, "Sending attachments", done, total);
		/* between commits: each one sent is kept */
		if ((err = chs_replicate__cancelled(b->opts)) < 0 ||
		    (err = send_planned(b, ref, p, n, key, gen)) < 0 ||
		    (err = plan(b->s, p, &n, &left)) < 0)
			break;
		done = total - left;
	}
	if (err == 0)
		progress(b, "Sending attachments", total, total);
done:
	chs_secret_free(key);
	return err;
}

/* ------------------------------------------------------------------ */
/* Receiving                                                            */

static int blob_progress_load(chs_store *s, const char *device, char oid[41])
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	oid[0] = '\0';
	if ((err = chs_store__prepare(s, &st,
		     "SELECT oid FROM blob_progress WHERE device = ?")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, device)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 40)
		memcpy(oid, sqlite3_column_text(st, 0), 41);
	else if (rc == SQLITE_ROW)
		err = chs_error_set(CHS_EDAMAGED, "the store's sync progress is damaged");
	chs_store__finish(s, st);
	if (err == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading sync progress");
	return err;
}

static int blob_progress_save(chs_store *s, const char *device, const char *oid)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "INSERT OR REPLACE INTO blob_progress(device, oid) VALUES (?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, device)) < 0 ||
	    (err = chs_store__bind_text(s, st, 2, oid)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving sync progress");
}

/* One SQL step with a blob and an integer bound, for the small queries
 * below; *row = 1 when it returned a row, whose first column is *value. */
static int step_sha(chs_store *s, const char *sql, const unsigned char *sha, int64_t n,
		    int *row, int64_t *value)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, sql)) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, sha, CHS_SHA256_BYTES)) < 0 ||
	    (sqlite3_bind_parameter_count(st) > 1 &&
	     (err = chs_store__bind_int64(s, st, 2, n)) < 0)) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (row)
		*row = rc == SQLITE_ROW;
	if (value)
		*value = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	chs_store__finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
						      : chs_store__sqlerr(s, rc, "saving attachment chunks");
}

/* The stored chunks of `sha`, in order, against its SHA-256 and size. */
static int chunks_verify(chs_store *s, const unsigned char *sha, uint64_t size, int *good)
{
	unsigned char got[CHS_SHA256_BYTES];
	chs_sha256_state h;
	sqlite3_stmt *st = NULL;
	uint64_t total = 0;
	int err, rc;

	*good = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY n")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, sha, CHS_SHA256_BYTES)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	chs_sha256_init(&h);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		chs_sha256_update(&h, sqlite3_column_blob(st, 0),
				  (size_t)sqlite3_column_bytes(st, 0));
		total += (uint64_t)sqlite3_column_bytes(st, 0);
	}
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE)
		return chs_store__sqlerr(s, rc, "reading attachment chunks");
	chs_sha256_final(&h, got);
	*good = total == size && memcmp(got, sha, CHS_SHA256_BYTES) == 0;
	return 0;
}

/* An attachment all of whose chunks are here: readable if they add up to
 * what its SHA-256 says, else dropped (reported) for another copy. */
static int complete(const chs_blob_sync *b, const chs_chunk *c, const char *device)
{
	char hex[2 * CHS_SHA256_BYTES + 1];
	int64_t have;
	int good, err;

	if ((err = step_sha(b->s, "SELECT count(*) FROM blob_chunks WHERE sha256 = ?", c->sha256,
			    0, NULL, &have)) < 0 || (uint64_t)have != chs_chunk_count(c->size))
		return err;
	if ((err = chunks_verify(b->s, c->sha256, c->size, &good)) < 0)
		return err;
	if (good) {
		err = step_sha(b->s, "INSERT OR IGNORE INTO blobs(sha256, size) VALUES (?, ?)",
			       c->sha256, (int64_t)c->size, NULL, NULL);
		if (err == 0)
			b->rep->attachments_in++;
		return err;
	}
	chs_hex(hex, c->sha256, CHS_SHA256_BYTES);
	note(b, "device %s: the chunks of attachment %s do not add up to it; they were dropped",
	     device, hex);
	return step_sha(b->s, "DELETE FROM blob_chunks WHERE sha256 = ?", c->sha256, 0, NULL,
			NULL);
}

/* Keep one opened chunk, unless its attachment is here already. */
static int keep_chunk(const chs_blob_sync *b, const chs_chunk *c, const char *device)
{
	sqlite3_stmt *st = NULL;
	int known, err, rc;

	if ((err = step_sha(b->s, "SELECT 1 FROM blobs WHERE sha256 = ?", c->sha256, 0, &known,
			    NULL)) < 0 || known)
		return err;
	if ((err = chs_store__prepare(b->s, &st,
		     "INSERT OR IGNORE INTO blob_chunks(sha256, n, data) VALUES (?, ?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_blob(b->s, st, 1, c->sha256, CHS_SHA256_BYTES)) < 0 ||
	    (err = chs_store__bind_int64(b->s, st, 2, c->index)) < 0 ||
	    (err = chs_store__bind_blob(b->s, st, 3, c->data, c->len)) < 0) {
		chs_store__finish(b->s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(b->s, st);
	if (rc != SQLITE_DONE)
		return chs_store__sqlerr(b->s, rc, "saving attachment chunks");
	if (sqlite3_changes(b->s->db) > 0)
		b->rep->chunks_in++;
	return complete(b, c, device);
}

/* Open every chunk of an accepted commit: all or nothing. */
static int open_all(const chs_blob_sync *b, const chs_git_commit *c, chs_chunk *chunks,
		    unsigned char **plain)
{
	size_t i;
	int err = 0;

	for (i = 0; i < c->nentries && err == 0; i++)
		err = chs_chunk_open(&chunks[i], &plain[i], c->entries[i].name, c->entries[i].data,
				     c->entries[i].len, b->key_of, b->key_payload);
	return err;
}

/* Store the chunks of an accepted commit and the device's new progress,
 * together. */
static int store_commit(const chs_blob_sync *b, const char *device, const char *oid,
			const chs_git_commit *c, const chs_chunk *chunks)
{
	size_t i;
	int err;

	if ((err = chs_store__begin(b->s)) < 0)
		return err;
	for (i = 0; i < c->nentries && err == 0; i++)
		err = keep_chunk(b, &chunks[i], device);
	if (err == 0)
		err = blob_progress_save(b->s, device, oid);
	if (err < 0) {
		chs_store__rollback(b->s);
		return err;
	}
	return chs_store__commit(b->s);
}

/* Check, open and store one commit of `device`'s chunks after `prev`. A
 * refusal is returned as CHS_EDAMAGED or CHS_EDENIED with the reason. */
static int take_commit(const chs_blob_sync *b, const char *device, const char *prev,
		       const char *oid)
{
	chs_chunk chunks[CHS_CHUNKS_PER_COMMIT_MAX];
	unsigned char *plain[CHS_CHUNKS_PER_COMMIT_MAX] = { NULL };
	chs_git_commit *c = NULL;
	size_t i;
	int err;

	if ((err = chs_git_read(b->git, oid, &c)) < 0 ||
	    (err = chs_chunks_accept(b->roster, device, prev, c)) < 0 ||
	    (err = open_all(b, c, chunks, plain)) < 0)
		goto done;
	err = store_commit(b, device, oid, c, chunks);
done:
	for (i = 0; c && i < c->nentries && i < CHS_CHUNKS_PER_COMMIT_MAX; i++) {
		if (plain[i])
			chs_wipe((void *)chunks[i].data, chunks[i].len);
		free(plain[i]);
	}
	chs_git_commit_free(c);
	return err;
}

/* Where to start on a device's chunk ref; *skip when there is nothing new
 * or the ref cannot be trusted (reported). */
static int chunks_start(const chs_blob_sync *b, const char *device, const char *ref,
			char from[41], int *skip)
{
	char tip[41];
	int yes, err;

	*skip = 1;
	if ((err = blob_progress_load(b->s, device, from)) < 0 ||
	    (err = chs_git_ref(b->git, ref, tip)) < 0 || strcmp(tip, from) == 0)
		return err;
	if (from[0]) {
		if ((err = chs_git_is_ancestor(b->git, from, tip, &yes)) < 0)
			return err;
		if (!yes) {
			note(b, "device %s: its attachment chunks in the archive moved backwards or"
			     " sideways; nothing more of them was read", device);
			return 0;
		}
	}
	*skip = 0;
	return 0;
}

static int pull_device_chunks(const chs_blob_sync *b, const char *ref)
{
	const char *device = ref + strlen(FETCHED_BLOBS);
	char (*oids)[41] = NULL, prev[41];
	size_t i, n = 0;
	int skip, err;

	if (strcmp(device, b->s->device_id) == 0)
		return 0;
	if ((err = chunks_start(b, device, ref, prev, &skip)) < 0 || skip)
		return err;
	if ((err = chs_git_log(b->git, ref, prev[0] ? prev : NULL, &oids, &n)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++) {
		progress(b, "Receiving attachments", i, n);
		/* between chunk commits: each one stored is kept */
		if ((err = chs_replicate__cancelled(b->opts)) < 0)
			break;
		err = take_commit(b, device, prev, oids[i]);
		if (err == CHS_EDAMAGED || err == CHS_EDENIED || err == CHS_ENOTFOUND) {
			/* refused: report it, leave this device where it was */
			note(b, "device %s: %s", device, chs_error_last());
			chs_error_clear();
			err = 0;
			break;
		}
		memcpy(prev, oids[i], 41);
	}
	free(oids);
	return err;
}

/*
 * A store behind its own history (restored from a backup, with no
 * mirror; resync.c does the batches): the archive's chunk commits of
 * this device that the mirror lacks are checked like any device's and
 * their chunks kept, so an attachment this device made after the backup
 * is readable here again, and the mirror's own chunk ref is set to the
 * archive's, so the next chunk commit follows it (one that did not would
 * be refused as not a fast-forward, and every sync would fail). A chain
 * that does not check is reported and left as it is. A mirror that went
 * another way keeps its own commits: their chunks go with its push.
 */
static int own_chunks_catch_up(const chs_blob_sync *b, const char *ref)
{
	char fetched[sizeof(FETCHED_BLOBS) + 33], mine[41], theirs[41], prev[41];
	char (*oids)[41] = NULL;
	size_t i, n = 0;
	int has_mine, yes = 0, err;

	snprintf(fetched, sizeof(fetched), "%s%s", FETCHED_BLOBS, b->s->device_id);
	if ((err = chs_git_ref(b->git, ref, mine)) < 0 && err != CHS_ENOTFOUND)
		return err;
	has_mine = err == 0;
	if ((err = chs_git_ref(b->git, fetched, theirs)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	chs_error_clear();
	if (has_mine && (strcmp(mine, theirs) == 0 ||
			 (err = chs_git_is_ancestor(b->git, theirs, mine, &yes)) < 0 || yes ||
			 (err = chs_git_is_ancestor(b->git, mine, theirs, &yes)) < 0 || !yes))
		return err;
	snprintf(prev, sizeof(prev), "%s", has_mine ? mine : "");
	if ((err = chs_git_log(b->git, fetched, has_mine ? mine : NULL, &oids, &n)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++) {
		if ((err = chs_replicate__cancelled(b->opts)) < 0)
			break;
		err = take_commit(b, b->s->device_id, prev, oids[i]);
		if (err == CHS_EDAMAGED || err == CHS_EDENIED || err == CHS_ENOTFOUND) {
			note(b, "this device's attachment chunks in the archive: %s",
			     chs_error_last());
			chs_error_clear();
			free(oids);
			return 0;
		}
		memcpy(prev, oids[i], 41);
	}
	free(oids);
	return err < 0 ? err : chs_git_set_ref(b->git, ref, theirs, has_mine ? mine : NULL);
}

int chs_replicate__blobs_pull(const chs_blob_sync *b)
{
	char **refs = NULL;
	size_t i, n = 0;
	int err;

	if (!b->me || !chs_role_reads(b->me->role, CHS_COMPARTMENT_CLINICAL))
		return 0;
	/* the first sync after enrollment did not know this device's role
	 * when it fetched */
	if (!b->fetched && (err = chs_git_fetch_refs(b->git, b->url, CHS_GIT_FETCH_CHUNKS)) < 0)
		return err;
	if ((err = chs_git_refs(b->git, FETCHED_BLOBS, &refs, &n)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++)
		err = pull_device_chunks(b, refs[i]);
	chs_git_refs_free(refs, n);
	return err;
}
