/*
 * crypto/vfs.c - the page-encrypting SQLite VFS.
 *
 * What it protects
 * ----------------
 * Every byte SQLite keeps on disk for a store goes through this VFS, and
 * none of it may be plaintext or derived from plaintext. SQLite writes
 * three kinds of file that can hold data: the database, its WAL, and
 * journals or temporary files. Rollback journals carry checksums over
 * plaintext and temporary files are SQLite's own, so they are refused
 * outright (xOpen returns SQLITE_CANTOPEN): a store runs in WAL mode with
 * temp_store=MEMORY, and then SQLite never asks for them. What is left is
 * the database and the WAL, both made of 4096-byte pages.
 *
 * Page layout
 * -----------
 * The store reserves CHS_VFS_RESERVE (48) bytes at the end of each page,
 * so SQLite uses only the first 4048. On disk a page is
 *
 *     [0, 4056)     XChaCha20-Poly1305 ciphertext of
 *                   page[0, 4048) || extra[8]
 *     [4056, 4072)  Poly1305 tag
 *     [4072, 4096)  nonce, fresh from the system RNG on every write
 *                   (chs_random: drawn from the kernel in blocks)
 *
 * and xRead hands back page[0, 4048) followed by 48 zero bytes. Because
 * the ciphertext is as long as the page, offsets and file sizes are the
 * same as SQLite's: nothing needs translating. "extra" is zero in the
 * database and carries the WAL frame checksum (below).
 *
 * The associated data binds a page to its place: "chs-main" || page
 * number (u32 big-endian, 1-based) in the database; "chs-wal\0" || frame
 * index (u32, 0-based) || the frame header's first 16 bytes (page number,
 * commit size, salt-1, salt-2) in the WAL. A page moved to another offset,
 * swapped, copied from another WAL generation (other salts) or from a
 * database under another key, or altered in any bit, fails the tag check
 * and is reported as SQLITE_IOERR_DATA, never read as data. Not detected:
 * an older valid copy of the same page in the same place (rollback), and a
 * page copied between two databases under the same key.
 *
 * The WAL
 * -------
 * A WAL is a 32-byte header (magic, version, page size, checkpoint
 * sequence, salts, header checksum: nothing from the data, so kept in the
 * clear) and frames of a 24-byte header and a page, frame k at
 * 32 + k * 4120. The frame header's last 8 bytes are a running checksum
 * SQLite computes over the plaintext pages; they must not reach the disk.
 * We store zeros there and carry the real value as the page's "extra"
 * bytes, inside the AEAD. SQLite writes a frame as two calls, header then
 * page, so a header write is held in the file until its page arrives and
 * both go out in one write. SQLite also writes headers alone: once it has
 * overwritten a frame of the current transaction in place, it writes the
 * later frames with zero salts and checksum and, before the commit,
 * rewrites the headers of them all (walRewriteChecksums). A header written
 * over a frame with the same page number and commit size that decrypts is
 * taken as such a rewrite and applied at once, the page sealed again
 * under the new header: the commit frame's rewrite is SQLite's last write
 * before the commit is visible, with no sync after it under
 * synchronous=NORMAL. A page write that follows still wins. A held header
 * whose page never comes is written with a zero checksum, a torn frame as
 * SQLite would have left it. A page overwritten in place gets a zero
 * checksum; it belongs to the uncommitted transaction, whose headers SQLite
 * rewrites before committing.
 *
 * Reading a frame rebuilds its header with the real checksum. A frame
 * that does not decrypt is damage, with one exception: when SQLite reads a
 * whole frame it is recovering the WAL (or rewriting checksums), and a
 * torn last frame after a crash is normal there. We then return the frame
 * with inverted salts and checksum and a zero page, which SQLite's own
 * check rejects, so recovery ends at that frame as it would for any torn
 * write. A read of just the page of such a frame is SQLITE_IOERR_DATA.
 *
 * Traps this design steers around
 * -------------------------------
 * - Without SQLITE_IOCAP_POWERSAFE_OVERWRITE SQLite pads a commit to a
 *   sector boundary and splits a frame write around an fsync, so a page
 *   would reach us in two pieces. We always advertise it, and never the
 *   ATOMIC ones (which would let SQLite write partial pages).
 * - Memory-mapped I/O would hand SQLite the ciphertext. The io methods are
 *   version 2, so the pager never uses xFetch, and the file controls that
 *   would map or pre-extend the real file (MMAP_SIZE, SIZE_HINT,
 *   CHUNK_SIZE) are swallowed.
 * - SQLite checksums whole pages in the WAL, reserved bytes included, and
 *   we return zeros there; a page handed in with anything else in its
 *   reserved bytes is refused, as is a page 1 that does not declare the
 *   48 reserved bytes (our tag would overwrite its data).
 * - SQLite switches a new database to WAL by writing page 1 in rollback
 *   mode, under a journal we refuse: journal_mode=WAL on a new file fails
 *   with SQLITE_CANTOPEN. So a store is opened, every time, with
 *
 *       PRAGMA temp_store=MEMORY;
 *       PRAGMA page_size=4096;
 *       sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &48);
 *       PRAGMA journal_mode;
 *
 *   and only if that does not answer "wal" (a new, empty file) with
 *   PRAGMA journal_mode=OFF; PRAGMA journal_mode=WAL (MEMORY instead of
 *   OFF works too). An existing store ignores the page size and reserve
 *   and is WAL already; journal_mode=OFF there would take it out of WAL
 *   (a checkpoint and two rewrites of page 1), so send it only to create.
 * - The wal-index (-shm) holds the running checksum of the last frame (8
 *   bytes derived from plaintext) while the database is open and after a
 *   crash, and SQLite maps it directly, so it cannot be encrypted. It is
 *   kept out of the store folder instead: the unix VFS names the wal-index
 *   after the database file it belongs to, so the shm methods go to a
 *   second unix file, an empty placeholder in the user's own folder in
 *   /dev/shm (memory, never the disk; 0700, files 0600, anything there
 *   that is not the user's refused) named after the database's device and
 *   inode. Every process of the user that opens the store finds the same
 *   placeholder, so the wal-index and its locks are shared exactly as they
 *   would be beside the database. Leftovers of killed processes are swept.
 *   crypto/shmdir.c has the details. Where /dev/shm is missing, the
 *   wal-index stays beside the database.
 */
#include "crypto_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE CHS_VFS_PAGE_SIZE                       /* bytes */
#define USABLE (CHS_VFS_PAGE_SIZE - CHS_VFS_RESERVE) /* 4048 bytes */
#define EXTRA 8                                      /* bytes sealed after */
#define SEALED (USABLE + EXTRA)                      /* 4056 bytes */
#define TAG_OFF SEALED
#define NONCE_OFF (TAG_OFF + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define WAL_HDR 32                                   /* WAL header, bytes */
#define FRAME_HDR 24                                 /* frame header, bytes */
#define FRAME (FRAME_HDR + PAGE)                     /* 4120 bytes */
#define AD_MAIN 12
#define AD_WAL 28
/* SQLite never writes the page that holds its lock bytes (the one at 1 GiB,
 * page 262145 at 4096 bytes): it stays a hole, never sealed, and a scan of
 * every page must step over it. */
#define PENDING_BYTE_OFF 0x40000000
#define LOCK_PAGE ((uint32_t)(PENDING_BYTE_OFF / PAGE) + 1)

_Static_assert(NONCE_OFF + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ==
		       PAGE,
	       "tag and nonce fill the reserved bytes exactly");

/* Every file kind SQLite can ask for; we serve two of them. */
#define KIND_MASK                                                         \
	(SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TRANSIENT_DB | \
	 SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_TEMP_JOURNAL |                 \
	 SQLITE_OPEN_SUBJOURNAL | SQLITE_OPEN_SUPER_JOURNAL | SQLITE_OPEN_WAL)

/* Capabilities that would let SQLite write less than a page or skip the
 * journal it is not allowed to have. */
#define IOCAP_REFUSED                                                     \
	(SQLITE_IOCAP_ATOMIC | SQLITE_IOCAP_ATOMIC512 | SQLITE_IOCAP_ATOMIC1K | \
	 SQLITE_IOCAP_ATOMIC2K | SQLITE_IOCAP_ATOMIC4K |                       \
	 SQLITE_IOCAP_ATOMIC8K | SQLITE_IOCAP_ATOMIC16K |                      \
	 SQLITE_IOCAP_ATOMIC32K | SQLITE_IOCAP_ATOMIC64K |                     \
	 SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL |                  \
	 SQLITE_IOCAP_BATCH_ATOMIC)

struct chs_vfs {
	sqlite3_vfs base;   /* first: SQLite sees a sqlite3_vfs */
	sqlite3_vfs *root;  /* the unix VFS doing the real I/O */
	unsigned char *key; /* page key, secret memory */
	char name[48];
	char shm_base[200]; /* where the users' wal-index folders are */
	char problem[512];  /* why the wal-index was last refused */
};

typedef struct vfs_file {
	sqlite3_file base;  /* first: SQLite sees a sqlite3_file */
	sqlite3_file *real; /* the unix file, in the same allocation */
	chs_vfs *vfs;
	const char *path;   /* SQLite's, valid until xClose */
	int wal;
	int pending;        /* a frame header waits for its page */
	int pending_applied; /* ...and was applied as a checksum rewrite */
	uint32_t pending_frame;
	unsigned char pending_hdr[FRAME_HDR];
	sqlite3_file *shm;  /* the /dev/shm placeholder, once the wal-index
			     * is first used; NULL: not yet, or beside the db */
	const char *shm_name; /* its sqlite3_create_filename() name */
	chs_shm_slot slot;  /* where it is; the folder lock until mapped */
	int shm_tried;
	int shm_refused;    /* the folder was refused: no wal-index at all */
	/* Scratch, so no I/O call allocates: a page or frame as on disk, and
	 * a decrypted one for reads that want only part of it. */
	unsigned char io[FRAME];
	unsigned char plain[PAGE];
} vfs_file;

#define REAL_OFFSET ((sizeof(vfs_file) + 15) & ~(size_t)15)

/* ---------------------------------------------------------------------
 * Sealing and opening pages
 */

static void ad_main(unsigned char ad[AD_MAIN], uint32_t pgno)
{
	memcpy(ad, "chs-main", 8);
	chs_crypto__put32(ad + 8, pgno);
}

static void ad_wal(unsigned char ad[AD_WAL], uint32_t frame,
		   const unsigned char *hdr)
{
	memcpy(ad, "chs-wal", 8); /* with its NUL */
	chs_crypto__put32(ad + 8, frame);
	memcpy(ad + 12, hdr, 16);
}

/* io[0, SEALED) holds the plaintext; turn io[0, PAGE) into the on-disk
 * page in place. */
static void page_seal(const chs_vfs *v, unsigned char *io,
		      const unsigned char *ad, size_t adlen)
{
	chs_random(io + NONCE_OFF, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
		io, io + TAG_OFF, NULL, io, SEALED, ad, adlen, NULL,
		io + NONCE_OFF, v->key);
}

/* Decrypt the on-disk page `io` into out[0, SEALED) (out may be io);
 * 0 or -1 when the tag does not verify. */
static int page_open(const chs_vfs *v, unsigned char *out,
		     const unsigned char *io, const unsigned char *ad,
		     size_t adlen)
{
	return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
		       out, NULL, io, SEALED, io + TAG_OFF, ad, adlen,
		       io + NONCE_OFF, v->key) == 0
		       ? 0
		       : -1;
}

/* SQLite must hand us pages whose reserved bytes are what we return for
 * them (zeros): its WAL checksums cover them. Page 1 must declare the
 * reserve, or a later open without it would use our tag as data. */
static int check_page(const vfs_file *f, const unsigned char *page,
		      uint32_t pgno)
{
	if (!sodium_is_zero(page + USABLE, CHS_VFS_RESERVE)) {
		sqlite3_log(SQLITE_IOERR_WRITE,
			    "chartsync vfs: page %u of '%s' has data in its "
			    "reserved bytes; refusing to write it",
			    (unsigned)pgno, f->path);
		return SQLITE_IOERR_WRITE;
	}
	if (pgno == 1 && (page[16] != (PAGE >> 8) || page[17] != 0 ||
			  page[20] != CHS_VFS_RESERVE)) {
		sqlite3_log(SQLITE_IOERR_WRITE,
			    "chartsync vfs: '%s' is not set up for "
			    "encryption (page size %d, reserve %d; expected "
			    "%d and %d): set them before the first write",
			    f->path, (page[16] << 8) | page[17], page[20],
			    PAGE, CHS_VFS_RESERVE);
		return SQLITE_IOERR_WRITE;
	}
	return SQLITE_OK;
}

/* ---------------------------------------------------------------------
 * Real I/O
 */

/* Read from the real file. On SQLITE_IOERR_SHORT_READ (rest zeroed)
 * *got says how many bytes the file had. */
static int real_read(vfs_file *f, void *buf, int len, sqlite3_int64 off,
		     int *got)
{
	sqlite3_int64 size = 0;
	int rc = f->real->pMethods->xRead(f->real, buf, len, off);

	*got = len;
	if (rc != SQLITE_IOERR_SHORT_READ)
		return rc;
	if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK)
		return SQLITE_IOERR_READ;
	*got = size <= off ? 0 : size - off < len ? (int)(size - off) : len;
	return rc;
}

static int real_write(vfs_file *f, const void *buf, int len,
		      sqlite3_int64 off)
{
	return f->real->pMethods->xWrite(f->real, buf, len, off);
}

static int refuse_write(const vfs_file *f, int amt, sqlite3_int64 off)
{
	sqlite3_log(SQLITE_IOERR_WRITE,
		    "chartsync vfs: refusing a write of %d bytes at offset "
		    "%lld of '%s': only whole encrypted pages can be written",
		    amt, (long long)off, f->path);
	return SQLITE_IOERR_WRITE;
}

/* ---------------------------------------------------------------------
 * The database file
 */

static int page_damaged(const vfs_file *f, uint32_t pgno, const char *why)
{
	sqlite3_log(SQLITE_IOERR_DATA,
		    "chartsync vfs: page %u of '%s' %s: the store is damaged "
		    "or the key is wrong",
		    (unsigned)pgno, f->path, why);
	return SQLITE_IOERR_DATA;
}

/* Read and decrypt the page at `off` into out[0, PAGE). A page wholly
 * past the end reads as zeros with SQLITE_IOERR_SHORT_READ. */
static int main_read_page(vfs_file *f, unsigned char *out, sqlite3_int64 off)
{
	uint32_t pgno = (uint32_t)(off / PAGE) + 1;
	unsigned char ad[AD_MAIN];
	int got, rc;

	rc = real_read(f, out, PAGE, off, &got);
	if (rc == SQLITE_IOERR_SHORT_READ && got == 0)
		return rc;
	if (rc == SQLITE_IOERR_SHORT_READ)
		rc = page_damaged(f, pgno, "is cut short");
	if (rc != SQLITE_OK)
		goto done;
	ad_main(ad, pgno);
	if (page_open(f->vfs, out, out, ad, sizeof(ad)) != 0)
		rc = page_damaged(f, pgno, "does not decrypt");
done:
	if (rc == SQLITE_OK)
		memset(out + USABLE, 0, CHS_VFS_RESERVE);
	else
		memset(out, 0, PAGE);
	return rc;
}

/* SQLite reads whole pages, and parts of page 1 (the header) before it
 * knows the page size. */
static int main_read(vfs_file *f, unsigned char *buf, int amt,
		     sqlite3_int64 off)
{
	int result = SQLITE_OK;

	if (amt == PAGE && off % PAGE == 0)
		return main_read_page(f, buf, off);
	while (amt > 0) {
		sqlite3_int64 start = off - off % PAGE;
		int skip = (int)(off - start);
		int n = amt < PAGE - skip ? amt : PAGE - skip;
		int rc = main_read_page(f, f->plain, start);

		if (rc == SQLITE_IOERR_SHORT_READ)
			result = rc;
		else if (rc != SQLITE_OK)
			return rc;
		memcpy(buf, f->plain + skip, (size_t)n);
		buf += n;
		off += n;
		amt -= n;
	}
	return result;
}

static int main_write(vfs_file *f, const unsigned char *buf, int amt,
		      sqlite3_int64 off)
{
	unsigned char ad[AD_MAIN];
	uint32_t pgno;
	int rc;

	if (amt != PAGE || off % PAGE != 0)
		return refuse_write(f, amt, off);
	pgno = (uint32_t)(off / PAGE) + 1;
	if ((rc = check_page(f, buf, pgno)) != SQLITE_OK)
		return rc;
	memcpy(f->io, buf, USABLE);
	memset(f->io + USABLE, 0, EXTRA);
	ad_main(ad, pgno);
	page_seal(f->vfs, f->io, ad, sizeof(ad));
	return real_write(f, f->io, PAGE, off);
}

/* CHS_VFS_FCNTL_VERIFY: every page of the file must decrypt. */
static int main_verify(vfs_file *f, uint32_t *bad)
{
	sqlite3_int64 size = 0, i, pages;
	int rc;

	if (!bad)
		return SQLITE_MISUSE;
	*bad = 0;
	if ((rc = f->real->pMethods->xFileSize(f->real, &size)) != SQLITE_OK)
		return rc;
	pages = size / PAGE;
	for (i = 0; i < pages; i++) {
		if (i + 1 == LOCK_PAGE)
			continue;
		rc = main_read_page(f, f->plain, i * PAGE);
		if (rc == SQLITE_IOERR_DATA)
			*bad = (uint32_t)i + 1;
		if (rc != SQLITE_OK)
			return rc;
	}
	if (size % PAGE != 0) {
		*bad = (uint32_t)pages + 1;
		return page_damaged(f, *bad, "is cut short");
	}
	return SQLITE_OK;
}

/* ---------------------------------------------------------------------
 * The WAL file
 */

static sqlite3_int64 frame_offset(uint32_t frame)
{
	return WAL_HDR + (sqlite3_int64)frame * FRAME;
}

static int frame_damaged(const vfs_file *f, uint32_t frame)
{
	sqlite3_log(SQLITE_IOERR_DATA,
		    "chartsync vfs: frame %u of '%s' does not decrypt: the "
		    "store is damaged or the key is wrong",
		    (unsigned)frame, f->path);
	return SQLITE_IOERR_DATA;
}

/* Seal `page` as frame `frame` under header `hdr` (its checksum goes
 * inside) and write header and page at once. */
static int wal_write_frame(vfs_file *f, uint32_t frame,
			   const unsigned char *hdr, const unsigned char *page)
{
	unsigned char ad[AD_WAL];
	int rc;

	if ((rc = check_page(f, page, chs_crypto__get32(hdr))) != SQLITE_OK)
		return rc;
	memcpy(f->io + FRAME_HDR, page, USABLE);
	memcpy(f->io + FRAME_HDR + USABLE, hdr + 16, EXTRA);
	ad_wal(ad, frame, hdr);
	page_seal(f->vfs, f->io + FRAME_HDR, ad, sizeof(ad));
	memcpy(f->io, hdr, 16);
	memset(f->io + 16, 0, 8);
	return real_write(f, f->io, FRAME, frame_offset(frame));
}

/* A page written over an earlier frame of the same transaction, without
 * a new header: keep the header on disk, checksum zero until SQLite
 * rewrites it. */
static int wal_overwrite_page(vfs_file *f, uint32_t frame,
			      const unsigned char *page)
{
	sqlite3_int64 off = frame_offset(frame);
	unsigned char ad[AD_WAL];
	int got, rc;

	rc = real_read(f, f->io, FRAME_HDR, off, &got);
	if (rc == SQLITE_IOERR_SHORT_READ)
		return refuse_write(f, PAGE, off + FRAME_HDR);
	if (rc != SQLITE_OK)
		return rc;
	if ((rc = check_page(f, page, chs_crypto__get32(f->io))) != SQLITE_OK)
		return rc;
	ad_wal(ad, frame, f->io);
	memcpy(f->io + FRAME_HDR, page, USABLE);
	memset(f->io + FRAME_HDR + USABLE, 0, EXTRA);
	page_seal(f->vfs, f->io + FRAME_HDR, ad, sizeof(ad));
	return real_write(f, f->io + FRAME_HDR, PAGE, off + FRAME_HDR);
}

/* A header-only write may be SQLite rewriting the header of a frame of
 * the current transaction (walRewriteChecksums: after an in-place
 * overwrite it writes later frames with zero salts and checksum, then
 * fixes them all before the commit). If the frame on disk looks like one
 * of those and decrypts, seal its page again under the new header now: for the commit frame nothing else may follow (no sync
 * with synchronous=NORMAL), and a crash must not lose the commit. A new
 * frame that happens to match an old one gets its page next, and that
 * page write wins. */
static int wal_try_rewrite(vfs_file *f, uint32_t frame,
			   const unsigned char *hdr)
{
	sqlite3_int64 off = frame_offset(frame), size = 0;
	unsigned char *page = f->io + FRAME_HDR;
	unsigned char ad[AD_WAL];
	int got, rc;

	if ((rc = f->real->pMethods->xFileSize(f->real, &size)) != SQLITE_OK)
		return rc;
	if (size < off + FRAME)
		return SQLITE_OK;
	if ((rc = real_read(f, f->io, FRAME_HDR, off, &got)) != SQLITE_OK)
		return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_OK : rc;
	/* Same page and commit size; salts the same, or zero as SQLite left
	 * them. (Old frames from before a WAL restart have other salts.) */
	if (memcmp(f->io, hdr, 8) != 0 ||
	    (memcmp(f->io + 8, hdr + 8, 8) != 0 && !sodium_is_zero(f->io + 8, 8)))
		return SQLITE_OK;
	if ((rc = real_read(f, f->io, FRAME, off, &got)) != SQLITE_OK)
		return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_OK : rc;
	ad_wal(ad, frame, f->io);
	if (page_open(f->vfs, page, page, ad, sizeof(ad)) != 0)
		return SQLITE_OK; /* a torn or damaged frame: not ours to fix */
	memcpy(page + USABLE, hdr + 16, EXTRA);
	ad_wal(ad, frame, hdr);
	page_seal(f->vfs, page, ad, sizeof(ad));
	memcpy(f->io, hdr, 16);
	memset(f->io + 16, 0, 8);
	if ((rc = real_write(f, f->io, FRAME, off)) == SQLITE_OK)
		f->pending_applied = 1;
	return rc;
}

/* A held header whose page did not come next. Unless it was a checksum
 * rewrite, leave it on disk as SQLite would (checksum zeroed): over a
 * different frame, or none, that makes a torn frame. */
static int wal_flush(vfs_file *f)
{
	unsigned char hdr[FRAME_HDR];

	if (!f->pending)
		return SQLITE_OK;
	f->pending = 0;
	if (f->pending_applied)
		return SQLITE_OK;
	memcpy(hdr, f->pending_hdr, 16);
	memset(hdr + 16, 0, 8);
	return real_write(f, hdr, FRAME_HDR, frame_offset(f->pending_frame));
}

static int wal_write(vfs_file *f, const unsigned char *buf, int amt,
		     sqlite3_int64 off)
{
	sqlite3_int64 rel = off - WAL_HDR, k = rel / FRAME;
	int within = (int)(rel % FRAME), rc;

	if (off < WAL_HDR) {
		if (off != 0 || amt != WAL_HDR ||
		    chs_crypto__get32(buf + 8) != PAGE)
			return refuse_write(f, amt, off);
		if ((rc = wal_flush(f)) != SQLITE_OK)
			return rc;
		return real_write(f, buf, amt, off);
	}
	if (within == FRAME_HDR && amt == PAGE && f->pending &&
	    f->pending_frame == (uint32_t)k) {
		f->pending = 0;
		return wal_write_frame(f, (uint32_t)k, f->pending_hdr, buf);
	}
	if ((rc = wal_flush(f)) != SQLITE_OK)
		return rc;
	if (within == 0 && amt == FRAME)
		return wal_write_frame(f, (uint32_t)k, buf, buf + FRAME_HDR);
	if (within == FRAME_HDR && amt == PAGE)
		return wal_overwrite_page(f, (uint32_t)k, buf);
	if (within != 0 || amt != FRAME_HDR)
		return refuse_write(f, amt, off);
	f->pending = 1;
	f->pending_applied = 0;
	f->pending_frame = (uint32_t)k;
	memcpy(f->pending_hdr, buf, FRAME_HDR);
	return wal_try_rewrite(f, (uint32_t)k, buf);
}

/* The WAL header is clear text. One whose page size is not ours is not
 * our WAL: hide its magic so SQLite ignores it, as it ignores a torn one. */
static int wal_read_header(vfs_file *f, unsigned char hdr[WAL_HDR])
{
	int got, rc = real_read(f, hdr, WAL_HDR, 0, &got);

	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return rc;
	if (chs_crypto__get32(hdr + 8) != PAGE && !sodium_is_zero(hdr, 4)) {
		sqlite3_log(SQLITE_WARNING,
			    "chartsync vfs: ignoring '%s': its page size is "
			    "not %d",
			    f->path, PAGE);
		memset(hdr, 0, 4);
	}
	return rc;
}

/* Read and decrypt frame `frame` into its rebuilt header and page. A
 * frame wholly past the end is zeros and SQLITE_IOERR_SHORT_READ; one
 * that does not decrypt sets *bad and comes back as a frame SQLite's
 * checksum test rejects. */
static int wal_load_frame(vfs_file *f, uint32_t frame,
			  unsigned char hdr[FRAME_HDR], unsigned char *page,
			  int *bad)
{
	unsigned char ad[AD_WAL];
	int got, i, rc;

	*bad = 0;
	rc = real_read(f, f->io, FRAME, frame_offset(frame), &got);
	if (rc != SQLITE_OK && (rc != SQLITE_IOERR_SHORT_READ || got == 0)) {
		memset(hdr, 0, FRAME_HDR);
		memset(page, 0, PAGE);
		return rc;
	}
	ad_wal(ad, frame, f->io);
	if (got < FRAME ||
	    page_open(f->vfs, page, f->io + FRAME_HDR, ad, sizeof(ad)) != 0) {
		*bad = 1;
		memcpy(hdr, f->io, 8);
		for (i = 8; i < FRAME_HDR; i++)
			hdr[i] = (unsigned char)~f->io[i];
		memset(page, 0, PAGE);
		return rc;
	}
	memcpy(hdr, f->io, 16);
	memcpy(hdr + 16, page + USABLE, EXTRA);
	memset(page + USABLE, 0, CHS_VFS_RESERVE);
	return rc;
}

/* Copy [within, within + n) of frame `frame` to `dst`. */
static int wal_read_part(vfs_file *f, uint32_t frame, int within,
			 unsigned char *dst, int n)
{
	unsigned char hdr[FRAME_HDR];
	int whole = within == 0 && n == FRAME;
	unsigned char *page = within == FRAME_HDR && n == PAGE ? dst
			      : whole			     ? dst + FRAME_HDR
							     : f->plain;
	int bad, rc = wal_load_frame(f, frame, hdr, page, &bad);

	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return rc;
	if (bad && !whole)
		return frame_damaged(f, frame);
	if (bad)
		sqlite3_log(SQLITE_NOTICE,
			    "chartsync vfs: frame %u of '%s' does not decrypt; "
			    "the WAL ends there",
			    (unsigned)frame, f->path);
	if (within < FRAME_HDR)
		memcpy(dst, hdr + within,
		       (size_t)(n < FRAME_HDR - within ? n : FRAME_HDR - within));
	if (page == f->plain && within + n > FRAME_HDR) {
		int from = within > FRAME_HDR ? within : FRAME_HDR;

		memcpy(dst + (from - within), f->plain + (from - FRAME_HDR),
		       (size_t)(within + n - from));
	}
	return rc;
}

static int wal_read(vfs_file *f, unsigned char *buf, int amt,
		    sqlite3_int64 off)
{
	int result = SQLITE_OK, rc;

	if ((rc = wal_flush(f)) != SQLITE_OK)
		return rc;
	if (off < WAL_HDR) {
		unsigned char hdr[WAL_HDR];
		int n = amt < WAL_HDR - (int)off ? amt : WAL_HDR - (int)off;

		result = wal_read_header(f, hdr);
		if (result != SQLITE_OK && result != SQLITE_IOERR_SHORT_READ)
			return result;
		memcpy(buf, hdr + off, (size_t)n);
		buf += n;
		off += n;
		amt -= n;
	}
	while (amt > 0) {
		sqlite3_int64 k = (off - WAL_HDR) / FRAME;
		int within = (int)((off - WAL_HDR) % FRAME);
		int n = amt < FRAME - within ? amt : FRAME - within;

		if (k > UINT32_MAX)
			return SQLITE_IOERR_READ;
		rc = wal_read_part(f, (uint32_t)k, within, buf, n);
		if (rc == SQLITE_IOERR_SHORT_READ)
			result = rc;
		else if (rc != SQLITE_OK)
			return rc;
		buf += n;
		off += n;
		amt -= n;
	}
	return result;
}

/* ---------------------------------------------------------------------
 * sqlite3_io_methods
 */

static void shm_close_placeholder(vfs_file *f);

static int file_close(sqlite3_file *file)
{
	vfs_file *f = (vfs_file *)file;
	int rc = f->wal ? wal_flush(f) : SQLITE_OK;
	int rc2 = f->real->pMethods->xClose(f->real);

	shm_close_placeholder(f);

	sodium_memzero(f->io, sizeof(f->io));
	sodium_memzero(f->plain, sizeof(f->plain));
	return rc != SQLITE_OK ? rc : rc2;
}

static int file_read(sqlite3_file *file, void *buf, int amt,
		     sqlite3_int64 off)
{
	vfs_file *f = (vfs_file *)file;

	if (off < 0 || amt < 0 || off / PAGE >= UINT32_MAX)
		return SQLITE_IOERR_READ;
	return f->wal ? wal_read(f, buf, amt, off) : main_read(f, buf, amt, off);
}

static int file_write(sqlite3_file *file, const void *buf, int amt,
		      sqlite3_int64 off)
{
	vfs_file *f = (vfs_file *)file;

	if (off < 0 || amt < 0 || off / PAGE >= UINT32_MAX)
		return refuse_write(f, amt, off);
	return f->wal ? wal_write(f, buf, amt, off)
		      : main_write(f, buf, amt, off);
}

static int file_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	vfs_file *f = (vfs_file *)file;
	int rc = f->wal ? wal_flush(f) : SQLITE_OK;

	return rc ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int file_sync(sqlite3_file *file, int flags)
{
	vfs_file *f = (vfs_file *)file;
	int rc = f->wal ? wal_flush(f) : SQLITE_OK;

	return rc ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	vfs_file *f = (vfs_file *)file;
	int rc = f->wal ? wal_flush(f) : SQLITE_OK;

	return rc ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int file_lock(sqlite3_file *file, int lock)
{
	sqlite3_file *real = ((vfs_file *)file)->real;

	return real->pMethods->xLock(real, lock);
}

static int file_unlock(sqlite3_file *file, int lock)
{
	sqlite3_file *real = ((vfs_file *)file)->real;

	return real->pMethods->xUnlock(real, lock);
}

static int file_check_reserved(sqlite3_file *file, int *out)
{
	sqlite3_file *real = ((vfs_file *)file)->real;

	return real->pMethods->xCheckReservedLock(real, out);
}

static int file_control(sqlite3_file *file, int op, void *arg)
{
	vfs_file *f = (vfs_file *)file;

	switch (op) {
	case CHS_VFS_FCNTL_VERIFY:
		return f->wal ? SQLITE_NOTFOUND : main_verify(f, arg);
	case SQLITE_FCNTL_MMAP_SIZE:
		/* Mapped pages would bypass decryption. */
		if (arg)
			*(sqlite3_int64 *)arg = 0;
		return SQLITE_OK;
	case SQLITE_FCNTL_SIZE_HINT:
	case SQLITE_FCNTL_CHUNK_SIZE:
		/* Both can extend the file with zeros, which are not pages. */
		return SQLITE_OK;
	default:
		return f->real->pMethods->xFileControl(f->real, op, arg);
	}
}

static int file_sector_size(sqlite3_file *file)
{
	sqlite3_file *real = ((vfs_file *)file)->real;

	return real->pMethods->xSectorSize(real);
}

static int file_device_characteristics(sqlite3_file *file)
{
	sqlite3_file *real = ((vfs_file *)file)->real;
	int caps = real->pMethods->xDeviceCharacteristics(real);

	return (caps & ~IOCAP_REFUSED) | SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

/* ---------------------------------------------------------------------
 * The wal-index, kept in the user's own folder in /dev/shm (see the top
 * of this file and crypto/shmdir.c)
 */
#define SHM_BASE "/dev/shm"

/* SQLITE_OK: the placeholder is open; SQLITE_NOTFOUND: there is no
 * /dev/shm, the wal-index stays beside the database; SQLITE_CANTOPEN
 * with vfs->problem set: refused. */
static int shm_open_placeholder(vfs_file *f)
{
	chs_vfs *v = f->vfs;
	sqlite3_vfs *root = v->root;
	struct stat db;
	int out = 0, rc;

	if (stat(f->path, &db) < 0)
		return SQLITE_NOTFOUND;
	rc = chs_crypto__shm_enter(&f->slot, v->shm_base, db.st_dev, db.st_ino,
				   v->problem, sizeof(v->problem));
	if (rc > 0)
		return SQLITE_NOTFOUND;
	if (rc < 0) {
		sqlite3_log(SQLITE_CANTOPEN, "chartsync vfs: %s", v->problem);
		return SQLITE_CANTOPEN;
	}
	/* the unix VFS reads URI parameters from a database name, so it must
	 * be a real sqlite3 filename object */
	f->shm_name = sqlite3_create_filename(f->slot.path, "", "", 0, NULL);
	f->shm = sqlite3_malloc(root->szOsFile);
	if (!f->shm_name || !f->shm)
		return SQLITE_NOMEM;
	memset(f->shm, 0, (size_t)root->szOsFile);
	if (root->xOpen(root, f->shm_name, f->shm, SQLITE_OPEN_READWRITE |
			SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB, &out) != SQLITE_OK) {
		sqlite3_free(f->shm);
		f->shm = NULL;
		snprintf(v->problem, sizeof(v->problem),
			 "cannot open the wal-index file '%s'", f->slot.path);
		return SQLITE_CANTOPEN;
	}
	return SQLITE_OK;
}

static void shm_close_placeholder(vfs_file *f)
{
	/* the wal-index is no longer in use by this connection */
	chs_crypto__shm_release(&f->slot);
	if (f->shm) {
		if (f->shm->pMethods)
			f->shm->pMethods->xClose(f->shm);
		sqlite3_free(f->shm);
	}
	sqlite3_free_filename(f->shm_name);
	f->shm = NULL;
	f->shm_name = NULL;
}

/* The file whose wal-index SQLite means: the placeholder, or the database
 * itself where there is no /dev/shm; NULL when the user's folder there
 * was refused (never a fall back to a shared place). */
static sqlite3_file *shm_target(vfs_file *f)
{
	if (!f->shm_tried) {
		int rc;

		f->shm_tried = 1;
		f->slot.lock_fd = -1;
		f->slot.hold_fd = -1;
		rc = shm_open_placeholder(f);
		if (rc != SQLITE_OK)
			shm_close_placeholder(f);
		f->shm_refused = rc != SQLITE_OK && rc != SQLITE_NOTFOUND;
	}
	if (f->shm_refused)
		return NULL;
	return f->shm ? f->shm : f->real;
}

static int file_shm_map(sqlite3_file *file, int region, int size, int extend,
			void volatile **pp)
{
	vfs_file *f = (vfs_file *)file;
	sqlite3_file *t = shm_target(f);
	int rc;

	if (!t)
		return SQLITE_CANTOPEN;
	rc = t->pMethods->xShmMap(t, region, size, extend, pp);
	/* SQLite now holds its lock on the wal-index: no sweep takes it. */
	chs_crypto__shm_leave(&f->slot);
	return rc;
}

static int file_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	sqlite3_file *t = shm_target((vfs_file *)file);

	return t ? t->pMethods->xShmLock(t, offset, n, flags) : SQLITE_IOERR_SHMLOCK;
}

static void file_shm_barrier(sqlite3_file *file)
{
	sqlite3_file *t = shm_target((vfs_file *)file);

	if (t)
		t->pMethods->xShmBarrier(t);
}

/* SQLite deletes the wal-index only from the last connection to the
 * database (it holds the database's EXCLUSIVE lock then, and every other
 * connection in WAL mode holds SHARED), so the placeholder can go too:
 * the next connection makes a new one before it maps anything. */
static int file_shm_unmap(sqlite3_file *file, int delete_flag)
{
	vfs_file *f = (vfs_file *)file;
	sqlite3_file *t = shm_target(f);
	int rc = t ? t->pMethods->xShmUnmap(t, delete_flag) : SQLITE_OK;

	if (rc == SQLITE_OK && delete_flag && f->shm)
		unlink(f->shm_name);
	return rc;
}

/* Version 2: no xFetch, so the pager never maps the file. */
static const sqlite3_io_methods io_methods = {
	2,
	file_close,
	file_read,
	file_write,
	file_truncate,
	file_sync,
	file_size,
	file_lock,
	file_unlock,
	file_check_reserved,
	file_control,
	file_sector_size,
	file_device_characteristics,
	file_shm_map,
	file_shm_lock,
	file_shm_barrier,
	file_shm_unmap,
	NULL,
	NULL,
};

/* ---------------------------------------------------------------------
 * sqlite3_vfs: xOpen is ours, the rest is the unix VFS's
 */

static sqlite3_vfs *root_of(sqlite3_vfs *vfs)
{
	return ((chs_vfs *)vfs)->root;
}

static const char *kind_name(int kind)
{
	switch (kind) {
	case SQLITE_OPEN_MAIN_JOURNAL: return "rollback journal";
	case SQLITE_OPEN_TEMP_DB: return "temporary database";
	case SQLITE_OPEN_TEMP_JOURNAL: return "temporary journal";
	case SQLITE_OPEN_TRANSIENT_DB: return "transient database";
	case SQLITE_OPEN_SUBJOURNAL: return "statement journal";
	case SQLITE_OPEN_SUPER_JOURNAL: return "super-journal";
	default: return "unknown file";
	}
}

static int vfs_open(sqlite3_vfs *base, const char *name, sqlite3_file *file,
		    int flags, int *out_flags)
{
	chs_vfs *v = (chs_vfs *)base;
	vfs_file *f = (vfs_file *)file;
	int kind = flags & KIND_MASK, rc;
	sqlite3_int64 no_mmap = 0;

	memset(f, 0, sizeof(*f));
	/* no wal-index slot held yet: a close must not close descriptor 0 */
	f->slot.lock_fd = -1;
	f->slot.hold_fd = -1;
	if (kind != SQLITE_OPEN_MAIN_DB && kind != SQLITE_OPEN_WAL) {
		sqlite3_log(SQLITE_CANTOPEN,
			    "chartsync vfs: refusing to open a %s for '%s': it "
			    "would hold unencrypted data (use journal_mode=WAL "
			    "and temp_store=MEMORY)",
			    kind_name(kind), name ? name : "");
		return SQLITE_CANTOPEN;
	}
	f->real = (sqlite3_file *)((char *)f + REAL_OFFSET);
	rc = v->root->xOpen(v->root, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc;
	f->real->pMethods->xFileControl(f->real, SQLITE_FCNTL_MMAP_SIZE,
					&no_mmap);
	f->vfs = v;
	f->path = name ? name : "";
	f->wal = kind == SQLITE_OPEN_WAL;
	f->base.pMethods = &io_methods;
	return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return root_of(vfs)->xDelete(root_of(vfs), name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags,
		      int *out)
{
	return root_of(vfs)->xAccess(root_of(vfs), name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n,
			     char *out)
{
	return root_of(vfs)->xFullPathname(root_of(vfs), name, n, out);
}

static void *vfs_dl_open(sqlite3_vfs *vfs, const char *name)
{
	return root_of(vfs)->xDlOpen(root_of(vfs), name);
}

static void vfs_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
	root_of(vfs)->xDlError(root_of(vfs), n, out);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
	return root_of(vfs)->xDlSym(root_of(vfs), lib, sym);
}

static void vfs_dl_close(sqlite3_vfs *vfs, void *lib)
{
	root_of(vfs)->xDlClose(root_of(vfs), lib);
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return root_of(vfs)->xRandomness(root_of(vfs), n, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int usec)
{
	return root_of(vfs)->xSleep(root_of(vfs), usec);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
	return root_of(vfs)->xCurrentTime(root_of(vfs), out);
}

static int vfs_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return root_of(vfs)->xGetLastError(root_of(vfs), n, out);
}

static int vfs_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return root_of(vfs)->xCurrentTimeInt64(root_of(vfs), out);
}

static void vfs_fill(chs_vfs *v)
{
	sqlite3_vfs *b = &v->base;

	b->iVersion = 2;
	b->szOsFile = (int)REAL_OFFSET + v->root->szOsFile;
	b->mxPathname = v->root->mxPathname;
	b->zName = v->name;
	b->pAppData = v;
	b->xOpen = vfs_open;
	b->xDelete = vfs_delete;
	b->xAccess = vfs_access;
	b->xFullPathname = vfs_full_pathname;
	b->xDlOpen = vfs_dl_open;
	b->xDlError = vfs_dl_error;
	b->xDlSym = vfs_dl_sym;
	b->xDlClose = vfs_dl_close;
	b->xRandomness = vfs_randomness;
	b->xSleep = vfs_sleep;
	b->xCurrentTime = vfs_current_time;
	b->xGetLastError = vfs_last_error;
	b->xCurrentTimeInt64 = vfs_current_time64;
}

/* ---------------------------------------------------------------------
 * Public
 */

/* /dev/shm, or $CHARTSYNC_SHM_DIR where shared memory lives elsewhere (and
 * for the tests); the same checks apply to the folder made there. */
static void shm_base_of(chs_vfs *v)
{
	const char *env = getenv("CHARTSYNC_SHM_DIR");

	snprintf(v->shm_base, sizeof(v->shm_base), "%s",
		 env && *env ? env : SHM_BASE);
}

int chs_vfs_new(chs_vfs **out, const unsigned char store_key[CHS_KEY_BYTES])
{
	chs_vfs *v = NULL;
	int error;

	assert(out && store_key);
	if (!out || !store_key)
		return chs_error_set(CHS_EINVALID, "no key for the database "
						   "cipher");
	*out = NULL;
	if ((error = chs_crypto_init()) < 0)
		goto done;
	error = CHS_ENOMEM;
	if (!(v = chs_calloc(1, sizeof(*v))) ||
	    !(v->key = chs_secret_alloc(CHS_KEY_BYTES))) {
		chs_error_set(error, "out of memory for the database cipher");
		goto done;
	}
	error = CHS_ERROR;
	if (!(v->root = sqlite3_vfs_find("unix"))) {
		chs_error_set(error, "sqlite has no 'unix' vfs to build on");
		goto done;
	}
	chs_key_derive(v->key, store_key, 1, "vfs-page");
	shm_base_of(v);
	sqlite3_snprintf((int)sizeof(v->name), v->name, "chartsync-%p",
			 (void *)v);
	vfs_fill(v);
	if (sqlite3_vfs_register(&v->base, 0) != SQLITE_OK) {
		chs_error_set(error, "cannot register the database cipher "
				     "with sqlite");
		goto done;
	}
	*out = v;
	v = NULL;
	error = 0;
done:
	if (v) {
		chs_secret_free(v->key);
		free(v);
	}
	return error;
}

const char *chs_vfs_name(const chs_vfs *vfs)
{
	return vfs ? vfs->name : NULL;
}

/* The pages of a chunk are read, re-sealed and written together. */
#define COPY_PAGES 64

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read pages [first, first + n) of `f` and seal them under `to`. */
static int copy_chunk(vfs_file *f, const chs_vfs *to, unsigned char *buf,
		      sqlite3_int64 first, int n)
{
	unsigned char ad[AD_MAIN];
	int i;

	for (i = 0; i < n; i++) {
		unsigned char *page = buf + (size_t)i * PAGE;
		uint32_t pgno = (uint32_t)(first + i) + 1;
		int rc;

		if (pgno == LOCK_PAGE) { /* a hole in the store: a hole in the copy */
			memset(page, 0, PAGE);
			continue;
		}
		rc = main_read_page(f, page, (first + i) * PAGE);
		/* a read the disk refused is not damage: the store is whole, and
		 * the same rekey may succeed once the disk answers */
		if (rc != SQLITE_OK && rc != SQLITE_IOERR_DATA)
			return chs_error_set(CHS_EIO, "cannot read page %u of '%s' (the "
						      "disk refused: %s)",
					     (unsigned)pgno, f->path, sqlite3_errstr(rc));
		if (rc != SQLITE_OK)
			return chs_error_set(CHS_EDAMAGED,
					     "page %u of '%s' does not decrypt; run "
					     "'chartsync check' and restore the store "
					     "from a backup ('chartsync restore "
					     "BACKUP DIR')",
					     (unsigned)pgno, f->path);
		ad_main(ad, pgno);
		page_seal(to, page, ad, sizeof(ad));
	}
	return 0;
}

int chs_vfs_copy_rekeyed(struct sqlite3 *db, const chs_vfs *to,
			 const char *dst)
{
	sqlite3_file *file = NULL;
	sqlite3_int64 size = 0, pages, i;
	unsigned char *buf = NULL;
	vfs_file *f;
	int fd = -1, err = 0;

	CHS_ASSERT_ARG(db);
	CHS_ASSERT_ARG(to);
	CHS_ASSERT_ARG(dst);

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) !=
		    SQLITE_OK ||
	    !file || file->pMethods != &io_methods)
		return chs_error_set(CHS_EINVALID, "the database is not open "
						   "through a chartsync vfs");
	f = (vfs_file *)file;
	if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK)
		return chs_error_set(CHS_EIO, "cannot read the size of '%s'", f->path);
	if (size % PAGE != 0)
		return chs_error_set(CHS_EDAMAGED, "'%s' ends in a partial page; run "
						   "'chartsync check'", f->path);
	pages = size / PAGE;
	if (!(buf = chs_secret_alloc((size_t)COPY_PAGES * PAGE)))
		return chs_error_set(CHS_ENOMEM, "out of secure memory");
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = chs_error_set(CHS_EIO, "cannot create '%s': %s", dst,
				    strerror(errno));
		goto done;
	}
	for (i = 0; i < pages && err == 0; i += COPY_PAGES) {
		int n = pages - i < COPY_PAGES ? (int)(pages - i) : COPY_PAGES;

		if ((err = copy_chunk(f, to, buf, i, n)) == 0 &&
		    write_all(fd, buf, (size_t)n * PAGE) < 0)
			err = chs_error_set(CHS_EIO, "cannot write '%s': %s", dst,
					    strerror(errno));
	}
	if (err == 0 && fsync(fd) < 0)
		err = chs_error_set(CHS_EIO, "cannot sync '%s': %s", dst,
				    strerror(errno));
done:
	if (fd >= 0)
		close(fd);
	if (err < 0 && fd >= 0)
		unlink(dst);
	chs_secret_free(buf);
	return err;
}

const char *chs_vfs_problem(const chs_vfs *vfs)
{
	return vfs && vfs->problem[0] ? vfs->problem : NULL;
}

void chs_vfs_free(chs_vfs *vfs)
{
	if (!vfs)
		return;
	sqlite3_vfs_unregister(&vfs->base);
	chs_secret_free(vfs->key);
	free(vfs);
}
