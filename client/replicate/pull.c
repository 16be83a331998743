/*
 * Sync, steps 2 and 3 (the list in sync.c): what other devices put in the
 * archive, fetched by then, is checked and applied here. The roster
 * first, then every other device's batches, read ahead on a thread. The
 * sync's data keys and its report's notes live here too: the lowest of
 * the three files, and the send (send.c) seals with the same keys.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "replicate_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void chs_replicate__report_notev(chs_sync_report *rep, const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (rep->problems.len)
		chs_buf_put(&rep->problems, "\n", 1);
	chs_buf_printf(&rep->problems, "%s", line);
	rep->refused++;
}

/* A problem that does not stop the sync: kept for the report. */
void chs_replicate__sync_note(sync_ctx *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	chs_replicate__report_notev(x->rep, fmt, ap);
	va_end(ap);
}

void chs_replicate__sync_progress(sync_ctx *x, const char *what, size_t done, size_t total)
{
	if (x->opts && x->opts->progress)
		x->opts->progress(what, done, total, x->opts->payload);
}

int chs_replicate__cancelled(const chs_sync_opts *opts)
{
	if (!opts || !opts->cancel || !opts->cancel(opts->payload))
		return 0;
	return chs_error_set(CHS_ECANCELLED, "the sync was stopped before it finished; what it"
			     " applied is kept, and the next sync goes on from there");
}

/* ------------------------------------------------------------------ */
/* Data keys                                                            */

/* A data key, unsealed from the roster the first time it is asked for. */
static int unseal_key(sync_ctx *x, int compartment, uint32_t gen, unsigned char *key)
{
	unsigned char **slot;
	int err;

	if (!x->me || !chs_role_reads(x->me->role, compartment))
		return CHS_EDENIED;
	if (gen == 0 || gen > CHS_MAX_GENERATIONS)
		return chs_error_set(CHS_EDAMAGED, "a batch names a key generation that cannot exist");
	slot = &x->keys[compartment][gen - 1];
	if (!*slot) {
		if (!(*slot = chs_secret_alloc(CHS_KEY_BYTES)))
			return chs_error_set(CHS_ENOMEM, "out of memory");
		err = chs_roster_open_key(x->roster, x->s->identity, compartment, gen, *slot);
		if (err < 0) {
			chs_secret_free(*slot);
			*slot = NULL;
			/* never CHS_EDENIED here: this role reads the compartment,
			 * so a missing generation means a roster newer than ours */
			return chs_error_set(CHS_ENOTFOUND,
					     "a batch uses data key generation %u, which the roster"
					     " this store holds does not give it", (unsigned)gen);
		}
	}
	memcpy(key, *slot, CHS_KEY_BYTES);
	return 0;
}

/* chs_key_fn for chs_batch_accept(): the pull's read-ahead thread asks
 * too, so the cache is shared under a lock. */
int chs_replicate__sync_key_of(int compartment, uint32_t gen, unsigned char *key, void *payload)
{
	sync_ctx *x = payload;
	int err;

	pthread_mutex_lock(&x->keys_lock);
	err = unseal_key(x, compartment, gen, key);
	pthread_mutex_unlock(&x->keys_lock);
	return err;
}

void chs_replicate__sync_keys_dispose(sync_ctx *x)
{
	int c, g;

	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		for (g = 0; g < CHS_MAX_GENERATIONS; g++)
			chs_secret_free(x->keys[c][g]);
	memset(x->keys, 0, sizeof(x->keys));
}
/* ------------------------------------------------------------------ */
/* The roster                                                           */

static int last_roster_oid(chs_store *s, char oid[41], int64_t *seq)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	oid[0] = '\0';
	*seq = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT oid, seq FROM rosters WHERE oid IS NOT NULL ORDER BY seq DESC LIMIT 1")) < 0)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(oid, 41, "%s", (const char *)sqlite3_column_text(st, 0));
		*seq = sqlite3_column_int64(st, 1);
	}
	chs_store__finish(s, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "reading");
}

static int unpublish(chs_store *s, int64_t seq)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "UPDATE rosters SET oid = NULL WHERE seq = ?")) < 0)
		return err;
	if ((err = chs_store__bind_int64(s, st, 1, seq)) == 0 &&
	    (rc = sqlite3_step(st)) != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "saving the roster");
	chs_store__finish(s, st);
	return err;
}

/* The admin key of roster `seq` as this store keeps it. */
static int chain_key(chs_store *s, int64_t seq, unsigned char admin[CHS_SIGN_PK_BYTES])
{
	sqlite3_stmt *st = NULL;
	chs_roster *r = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "SELECT body, signature FROM rosters WHERE seq = ?")) < 0)
		return err;
	if ((err = chs_store__bind_int64(s, st, 1, seq)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == CHS_SIGNATURE_BYTES)
		err = chs_roster_parse(&r, sqlite3_column_blob(st, 0),
				       (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_blob(st, 1));
	else
		err = rc == SQLITE_ROW || rc == SQLITE_DONE
			? chs_error_set(CHS_EDAMAGED, "the store's roster %lld is missing", (long long)seq)
			: chs_store__sqlerr(s, rc, "reading the roster");
	chs_store__finish(s, st);
	if (err == 0)
		memcpy(admin, chs_roster_admin(r), CHS_SIGN_PK_BYTES);
	chs_roster_free(r);
	return err;
}

/* Check one fetched roster commit and keep it; the first one a store
 * sees pins the organisation and its admin key. */
static int accept_roster(sync_ctx *x, const char *oid, int64_t *last_seq)
{
	unsigned char admin[CHS_SIGN_PK_BYTES];
	char org[33];
	chs_git_commit *c = NULL;
	chs_roster *r = NULL;
	chs_buf notes;
	char *line, *end;
	int pinned, err;

	chs_buf_init(&notes, 0);
	if ((err = chs_store__org_pinned(x->s, org, admin)) < 0 && err != CHS_ENOTFOUND)
		return err;
	pinned = err == 0;
	/* signed by the pinned admin key, or by a new one it handed over to
	 * (an admin device was revoked): the pin then moves */
	if ((err = chs_git_read(x->git, oid, &c)) < 0 ||
	    (err = chs_roster_from_commit(&r, c, NULL)) < 0)
		goto done;
	/* the chain is the archive's: a roster follows the last one taken
	 * from it, whose key may differ from the pin when this admin store
	 * rotated the key in an edit not yet published */
	if (pinned && *last_seq > 0 && (err = chain_key(x->s, *last_seq, admin)) < 0)
		goto done;
	if (pinned && (err = chs_roster_follows_key(admin, r)) < 0) {
		/* a store that pinned its key before it took any roster (taken in
		 * from a recovery kit) starts where that key does: the rosters of
		 * the keys before it are history it need not hold */
		if (*last_seq == 0) {
			chs_error_clear();
			err = 0;
			goto done;
		}
		err = chs_error_wrap(err, "the archive's roster %llu",
				     (unsigned long long)chs_roster_seq(r));
		goto done;
	}
	if (pinned && strcmp(chs_roster_org(r), org) != 0) {
		err = chs_error_set(CHS_EDAMAGED, "the archive's roster belongs to another organisation");
		goto done;
	}
	if ((int64_t)chs_roster_seq(r) <= *last_seq) {
		err = chs_error_set(CHS_EDAMAGED,
				    "the archive's roster %llu is not newer than roster %lld,"
				    " which this store has seen", (unsigned long long)chs_roster_seq(r),
				    (long long)*last_seq);
		goto done;
	}
	if ((err = chs_store__begin(x->s)) < 0)
		goto done;
	if ((!pinned && (err = chs_store__org_pin(x->s, chs_roster_org(r),
						  chs_roster_admin(r))) < 0) ||
	    (pinned && !chs_equal(admin, chs_roster_admin(r), CHS_SIGN_PK_BYTES) &&
	     (err = chs_store__org_repin(x->s, chs_roster_admin(r))) < 0) ||
	    (err = chs_replicate__roster_take(x->s, r, &c->entries[0], &c->entries[1], oid,
					      &notes, &x->rep->roster_edits_reapplied)) < 0) {
		chs_store__rollback(x->s);
		goto done;
	}
	if ((err = chs_store__commit(x->s)) == 0)
		*last_seq = (int64_t)chs_roster_seq(r);
	for (line = notes.ptr; err == 0 && line && *line; line = end + 1) {
		end = strchr(line, '\n');
		chs_replicate__sync_note(x, "%.*s", (int)(end - line), line);
	}
done:
	chs_buf_dispose(&notes);
	chs_roster_free(r);
	chs_git_commit_free(c);
	return err;
}

/* This admin store's rosters committed to its mirror that the archive's
 * roster chain (at `tip`) does not hold become unpublished again, newest
 * first, in one transaction: a push that never happened, or that another
 * admin store's roster beat. */
static int unpublish_unreached(sync_ctx *x, const char *tip)
{
	char oid[41];
	int64_t seq;
	int yes = 0, err;

	if ((err = chs_store__begin(x->s)) < 0)
		return err;
	while ((err = last_roster_oid(x->s, oid, &seq)) == 0 && oid[0]) {
		if ((err = chs_git_is_ancestor(x->git, oid, tip, &yes)) < 0 || yes)
			break;
		if ((err = unpublish(x->s, seq)) < 0)
			break;
	}
	if (err < 0) {
		chs_store__rollback(x->s);
		return err;
	}
	return chs_store__commit(x->s);
}

int chs_replicate__fetch_roster(sync_ctx *x)
{
	char tip[41], last[41];
	char (*oids)[41] = NULL;
	int64_t seq;
	size_t i, n = 0;
	int yes, err;

	if ((err = chs_git_ref(x->git, FETCHED_ROSTER, tip)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0; /* an archive the admin has not published to yet */
	}
	if (err < 0 || (err = last_roster_oid(x->s, last, &seq)) < 0)
		return err;
	if (last[0]) {
		if ((err = chs_git_is_ancestor(x->git, last, tip, &yes)) < 0)
			return err;
		if (!yes && x->org_admin) {
			/* the admin's own rosters the archive does not hold: ahead of
			 * it (not pushed yet), or beside it (another admin store's
			 * rosters landed first): those go back to unpublished, and
			 * taking the archive's makes their edits again on top */
			if ((err = chs_git_is_ancestor(x->git, tip, last, &yes)) < 0)
				return err;
			if (yes)
				return 0;
			if ((err = unpublish_unreached(x, tip)) < 0 ||
			    (err = last_roster_oid(x->s, last, &seq)) < 0)
				return err;
			yes = 1;
		}
		if (!yes) {
			if ((err = chs_git_is_ancestor(x->git, tip, last, &yes)) < 0)
				return err;
			return chs_error_set(CHS_EDAMAGED,
						"the archive's roster moved %s: it is not a later version of"
						" the roster this store has; nothing was applied (tell the"
						" organisation's admin)", yes ? "backwards" : "sideways");
		}
	}
	if ((err = chs_git_log(x->git, FETCHED_ROSTER, last[0] ? last : NULL, &oids, &n)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++)
		err = accept_roster(x, oids[i], &seq);
	free(oids);
	return err;
}
/* ------------------------------------------------------------------ */
/* Whose archive this is                                                */

/* The refusal when the archive at the remote is not this organisation's. */
static int not_ours(sync_ctx *x, const char *org, const char *why)
{
	char shown[1024];

	return chs_error_set(CHS_EDENIED,
			     "the archive at %s is not organisation %s's archive: %s; nothing was"
			     " sent or applied (check the address with 'chartsync remote')",
			     chs_git_shown_address(x->url, shown, sizeof(shown)), org, why);
}

/* With no roster in the archive, the admin's sync may publish one: to an
 * empty archive (the first sync after 'org init' creates the
 * organisation's archive so), or over a deleted roster, which is put
 * back. Not where another organisation's devices are. */
static int admin_may_publish(sync_ctx *x, const char *org)
{
	chs_roster *mine = NULL;
	char **refs = NULL;
	size_t i, n = 0;
	int err;

	if ((err = chs_store__roster_load(x->s, &mine, NULL)) < 0 ||
	    (err = chs_git_refs(x->git, FETCHED_DEVICES, &refs, &n)) < 0)
		goto done;
	x->rep->devices = n;
	for (i = 0; i < n; i++)
		if (!chs_roster_find(mine, refs[i] + strlen(FETCHED_DEVICES)))
			break;
	if (i < n)
		err = not_ours(x, org, "it holds no roster, and batches of devices that are not on"
			       " this organisation's roster");
done:
	chs_git_refs_free(refs, n);
	chs_roster_free(mine);
	return err;
}

/* A roster ref there that holds no roster its own admin key signed. In
 * this organisation's archive (the device refs there are its devices')
 * the host replaced the roster, which only the admin can undo: said so,
 * and recorded (tamper.c); anywhere else, it is some other repository. */
static int roster_unreadable(sync_ctx *x, const char *org, const char *why)
{
	char shown[1024];

	if (admin_may_publish(x, org) < 0 || x->rep->devices == 0) {
		chs_error_clear();
		return not_ours(x, org, why);
	}
	x->roster_forged = 1;
	return chs_error_set(CHS_EDAMAGED,
			     "the archive at %s holds this organisation's devices, but its roster"
			     " was replaced by commits the organisation's admin did not sign (%s);"
			     " nothing was sent or applied: tell the organisation's admin, who"
			     " removes that ref in the archive (git update-ref -d"
			     " refs/chartsync/roster); the admin's next sync puts the roster back",
			     chs_git_shown_address(x->url, shown, sizeof(shown)), why);
}

/*
 * Before anything is applied or sent: the archive must carry this
 * organisation's roster, signed by the admin key this store pinned. A
 * store pointed at another organisation's archive, or at some other bare
 * repository, would otherwise push its batches there (ciphertext, but
 * still its work, delivered to no one). A store that has not seen its
 * organisation yet takes the first roster it finds (find_me then checks
 * that it is on it).
 */
int chs_replicate__check_archive(sync_ctx *x)
{
	unsigned char admin[CHS_SIGN_PK_BYTES];
	chs_git_commit *c = NULL;
	chs_roster *r = NULL;
	char org[33], tip[41], why[512];
	int err;

	if ((err = chs_store__org_pinned(x->s, org, admin)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	if ((err = chs_git_ref(x->git, FETCHED_ROSTER, tip)) == CHS_ENOTFOUND) {
		chs_error_clear();
		if (x->org_admin)
			return admin_may_publish(x, org);
		/* this organisation's devices there: its archive, roster deleted */
		x->roster_deleted = admin_may_publish(x, org) == 0 && x->rep->devices > 0;
		return not_ours(x, org, "it holds no roster (if the address is right, the"
				" roster was deleted there: tell the organisation's admin, whose"
				" next sync puts it back)");
	}
	if (err < 0)
		return err;
	if ((err = chs_git_read(x->git, tip, &c)) < 0 ||
	    (err = chs_roster_from_commit(&r, c, NULL)) < 0) {
		/* the message is copied: not_ours() writes the one it reads */
		snprintf(why, sizeof(why), "%s", chs_error_last());
		if (err == CHS_EDAMAGED)
			err = roster_unreadable(x, org, why);
		goto done;
	}
	if (strcmp(chs_roster_org(r), org) != 0) {
		snprintf(why, sizeof(why), "its roster is organisation %s's", chs_roster_org(r));
		err = not_ours(x, org, why);
	}
	/* a version 2 roster may be signed by a newer admin key (or, in an
	 * admin store with a rotation of its own not yet sent, an older one):
	 * fetch_roster checks each handover key by key */
	else if (!chs_equal(chs_roster_admin(r), admin, CHS_SIGN_PK_BYTES) &&
		 chs_roster_version(r) < 2)
		err = not_ours(x, org, "its roster is not signed by the admin key this store knows");
done:
	chs_roster_free(r);
	chs_git_commit_free(c);
	return err;
}

/* ------------------------------------------------------------------ */
/* Other devices' batches                                               */

/*
 * Applying batches: each batch with its device's new progress is all or
 * nothing, and whole batches are applied several to a store transaction,
 * committed every APPLY_GROUP_CHANGES changes and when the pull ends. A
 * transaction per batch wrote every index page a batch touched once per
 * batch: in a large store the random keys of change and record ids put
 * nearly every change on a page of its own, so a first pull wrote each
 * index page many times over. The same holds for groups: each group's
 * commit and checkpoint write nearly every index page again, so a pull
 * of N changes into a large store writes its indexes about N /
 * APPLY_GROUP_CHANGES times. 8,192 made a 100,000-change pull write them
 * 13 times; 65,536 (about 100 MB of WAL at most, and SQLite spills to
 * the WAL anyway once its cache is full) writes them twice, and a
 * 10,000-change pull commits once, as the store floor does. An
 * interrupted pull loses at most the open group, which the next sync
 * applies again from the mirror.
 *
 * The group holds the store's writer lock, so its length is what an
 * `add` typed meanwhile would wait. So once a group has run for
 * APPLY_GROUP_MS, it is committed at the end of the batch being applied
 * when another writer waits (the lock then lets that writer in before
 * the next group, and the commit leaves its checkpoint to a later one:
 * lock.c, sql.c). Only then: each commit costs an fsync and a
 * checkpoint, and committing every 50 ms regardless made a
 * 100,000-change pull about a fifth slower. After each batch the
 * caller's cancel is asked too: a stop ends the group there, and the
 * sync stops before the next one, so a stopping service waits for one
 * batch and never leaves a batch half-applied.
 */
#define APPLY_GROUP_CHANGES 65536
#define APPLY_GROUP_MS 20

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int group_commit(sync_ctx *x)
{
	int err;

	if (!x->applying)
		return 0;
	x->applying = 0;
	if ((err = chs_store__commit(x->s)) == 0) {
		chs_util__fault("group-committed");
		x->rep->batches_in += x->group_batches - x->group_own;
		x->rep->changes_in += x->group_changes;
		x->rep->own_batches_in += x->group_own;
	}
	x->group_batches = x->group_changes = x->group_own = 0;
	return err;
}

int chs_replicate__apply_end(sync_ctx *x)
{
	return group_commit(x);
}

static void group_abort(sync_ctx *x)
{
	if (!x->applying)
		return;
	chs_store__rollback(x->s);
	x->applying = 0;
	x->group_batches = x->group_changes = x->group_own = 0;
}

void chs_replicate__apply_abort(sync_ctx *x)
{
	group_abort(x);
}

/* Apply one accepted batch and the device's new progress, together. A
 * batch the store refuses leaves those before it in the group standing.
 * No chain: this device's own batch (resync.c), whose place is its seq. */
static int apply_one(sync_ctx *x, const char *device, const chs_batch *b,
		     const chs_batch_plan *plan, const chs_chain *chain)
{
	sqlite3_int64 before;
	int applied = 0, err;

	if (!x->applying) {
		if ((err = chs_store__begin(x->s)) < 0)
			return err;
		x->applying = 1;
		x->group_start_ms = mono_ms();
	}
	/*
	 * No savepoint per batch: in WAL mode one copies every page the batch
	 * modifies into a statement journal first (a thousand pages a batch,
	 * malloc'd, freed at its release: 8% of a large pull's CPU). The store
	 * refuses a batch before writing any of it (admit.c), which leaves the
	 * group as it was; a batch that fails once it wrote something (the
	 * disk, memory, a damaged row) ends the group, undone whole, as its
	 * error ends the pull anyway.
	 */
	before = sqlite3_total_changes64(x->s->db);
	if ((err = chs_records__apply_verified(x->s, b, plan, &applied)) < 0 ||
	    (chain && (err = chs_records__progress_save(x->s, device, chain)) < 0)) {
		/* SQLite may have ended the whole transaction (an I/O error) */
		if (sqlite3_get_autocommit(x->s->db) ||
		    sqlite3_total_changes64(x->s->db) != before)
			group_abort(x);
		return err;
	}
	chs_util__fault("applied"); /* applied, not yet committed */
	if (applied) {
		x->group_batches++;
		x->group_changes += b->nchanges;
		x->group_own += !chain;
	}
	/* a stop asked ends the group here too: it waits for one batch */
	if (x->group_changes >= APPLY_GROUP_CHANGES ||
	    (mono_ms() - x->group_start_ms >= APPLY_GROUP_MS &&
	     chs_store__writer_waiting(x->s)) ||
	    (x->opts && x->opts->cancel && x->opts->cancel(x->opts->payload)))
		return group_commit(x);
	return 0;
}

int chs_replicate__apply_batch(sync_ctx *x, const chs_batch *b)
{
	return apply_one(x, x->s->device_id, b, NULL, NULL);
}

/* Where to start on a device's ref; *skip when there is nothing new or
 * the ref cannot be trusted (reported). */
static int chain_start(sync_ctx *x, const char *device, const char *ref,
		       chs_chain *chain, int *skip)
{
	char tip[41];
	int yes, err;

	*skip = 1;
	if ((err = chs_records__progress_load(x->s, device, chain)) < 0 ||
	    (err = chs_git_ref(x->git, ref, tip)) < 0)
		return err;
	if (strcmp(tip, chain->oid) == 0)
		return 0;
	if (chain->oid[0]) {
		if ((err = chs_git_is_ancestor(x->git, chain->oid, tip, &yes)) < 0)
			return err;
		if (!yes) {
			chs_replicate__sync_note(x, "device %s: its ref in the archive moved backwards"
						 " or sideways from batch %llu; nothing more of it"
						 " was applied", device, (unsigned long long)chain->seq);
			return 0;
		}
	}
	*skip = 0;
	return 0;
}

/*
 * Reading ahead. A fifth of a fresh pull's time went to reading,
 * checking and unpacking batches (signatures, decryption, hashes,
 * decoding), the rest to writing them into the store, so a thread reads
 * ahead while this one applies. It has its own git handle (libgit2
 * wants one per thread), touches nothing of the store, and goes through
 * one device's commits in order, since each batch is checked against the
 * chain the batch before it left; each accepted batch is handed over
 * with that chain and its plan (apply.c: the records' states and form
 * checks, so this thread is left with the store's writes), at most
 * READ_AHEAD ahead. It stops after the first batch it cannot accept, and
 * hands that over as the error it was. Applied batches come back to it to
 * be freed: memory is best freed by the thread that allocated it (glibc
 * locks the allocating thread's arena for a free from another, and a
 * batch is thousands of small allocations).
 */
#define READ_AHEAD 4

typedef struct read_item {
	chs_batch *b;
	chs_batch_plan *plan; /* NULL: apply makes it */
	chs_chain chain;  /* after this batch */
	int err;          /* < 0: not accepted, for the reason in msg */
	char msg[512];
} read_item;

typedef struct reader {
	sync_ctx *x;
	const char *device;
	const char (*oids)[41];
	size_t n, next;   /* commits, and the next one to read */
	chs_chain chain;  /* the reader's own */
	pthread_mutex_t lock;
	pthread_cond_t moved; /* an item was put or taken, or stop was set */
	read_item q[READ_AHEAD];
	size_t head, count;
	read_item spent[READ_AHEAD]; /* applied, for the reader to free */
	size_t nspent;
	int stop, done;
} reader;

/* The plan points into the batch: it goes first. */
static void item_free(read_item *it)
{
	chs_records__plan_free(it->plan);
	chs_batch_free(it->b);
	it->plan = NULL;
	it->b = NULL;
}

static void reader_put(reader *r, const read_item *it)
{
	pthread_mutex_lock(&r->lock);
	r->q[(r->head + r->count) % READ_AHEAD] = *it;
	r->count++;
	pthread_cond_broadcast(&r->moved);
	pthread_mutex_unlock(&r->lock);
}

/* Free the batches applied so far. */
static void reader_free_spent(reader *r)
{
	read_item spent[READ_AHEAD];
	size_t i, n;

	pthread_mutex_lock(&r->lock);
	n = r->nspent;
	memcpy(spent, r->spent, n * sizeof(*spent));
	r->nspent = 0;
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < n; i++)
		item_free(&spent[i]);
}

/* The next commit to read, or -1 when there is none or reading stops;
 * waits while READ_AHEAD batches wait to be applied, freeing those
 * applied meanwhile. */
static long reader_next(reader *r)
{
	long i = -1;

	for (;;) {
		reader_free_spent(r);
		pthread_mutex_lock(&r->lock);
		while (!r->stop && r->count == READ_AHEAD && r->nspent == 0)
			pthread_cond_wait(&r->moved, &r->lock);
		if (r->stop || r->count < READ_AHEAD)
			break;
		pthread_mutex_unlock(&r->lock);
	}
	if (!r->stop && r->next < r->n)
		i = (long)r->next++;
	pthread_mutex_unlock(&r->lock);
	return i;
}

/* Hand an applied batch back to the reader to free, or free it here when
 * the reader is behind. */
static void reader_return(reader *r, read_item *it)
{
	int kept = 0;

	pthread_mutex_lock(&r->lock);
	if (!r->stop && r->nspent < READ_AHEAD) {
		r->spent[r->nspent++] = *it;
		kept = 1;
		pthread_cond_broadcast(&r->moved);
	}
	pthread_mutex_unlock(&r->lock);
	if (!kept)
		item_free(it);
}

static void *reader_main(void *arg)
{
	reader *r = arg;
	long i;

	pthread_setname_np(pthread_self(), "chs-reader"); /* for perf and gdb */
	while ((i = reader_next(r)) >= 0) {
		chs_git_commit *c = NULL;
		read_item it;
		int complete;

		memset(&it, 0, sizeof(it));
		it.err = chs_git_read(r->x->reader_git, r->oids[i], &c);
		if (it.err == 0)
			it.err = chs_batch_accept(&it.b, &complete, &r->chain, r->x->roster,
						  r->device, r->oids[i], c, chs_replicate__sync_key_of,
						  r->x);
		chs_git_commit_free(c);
		it.chain = r->chain;
		/* without a plan (out of memory) apply makes one, or says why not */
		if (it.err == 0 && chs_records__plan_batch(it.b, &it.plan) < 0)
			chs_error_clear();
		if (it.err < 0)
			snprintf(it.msg, sizeof(it.msg), "%s", chs_error_last());
		reader_put(r, &it);
		if (it.err < 0)
			break;
	}
	pthread_mutex_lock(&r->lock);
	r->done = 1;
	pthread_cond_broadcast(&r->moved);
	/* nothing more to read: free what comes back until told to stop */
	while (!r->stop) {
		if (r->nspent == 0) {
			pthread_cond_wait(&r->moved, &r->lock);
			continue;
		}
		pthread_mutex_unlock(&r->lock);
		reader_free_spent(r);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* The next batch in order; 0 when the reader stopped without one. */
static int reader_take(reader *r, read_item *it)
{
	int got = 0;

	pthread_mutex_lock(&r->lock);
	while (r->count == 0 && !r->done)
		pthread_cond_wait(&r->moved, &r->lock);
	if (r->count > 0) {
		*it = r->q[r->head];
		r->head = (r->head + 1) % READ_AHEAD;
		r->count--;
		got = 1;
		pthread_cond_broadcast(&r->moved);
	}
	pthread_mutex_unlock(&r->lock);
	return got;
}

/* Stop the reader and drop what it read beyond what was applied. */
static void reader_stop(reader *r, pthread_t thread)
{
	read_item it;

	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_broadcast(&r->moved);
	pthread_mutex_unlock(&r->lock);
	pthread_join(thread, NULL);
	while (r->count > 0 && reader_take(r, &it))
		item_free(&it);
	while (r->nspent > 0)
		item_free(&r->spent[--r->nspent]);
	pthread_cond_destroy(&r->moved);
	pthread_mutex_destroy(&r->lock);
}

/* The reader's git handle, opened once per sync. */
static int reader_git(sync_ctx *x)
{
	char *path;
	int err;

	if (x->reader_git)
		return 0;
	if (!(path = chs_util__path(x->s->dir, "git")))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	err = chs_git_open(&x->reader_git, path);
	free(path);
	return err;
}

/* Apply what the reader accepted, in order, until it stops. */
static int apply_read(sync_ctx *x, reader *r)
{
	read_item it;
	size_t i;
	int err = 0;

	for (i = 0; err == 0 && reader_take(r, &it); i++) {
		chs_replicate__sync_progress(x, "Applying batches", i, r->n);
		if (it.err < 0)
			item_free(&it);
		if (it.err == CHS_ENOMEM || it.err == CHS_EIO)
			return chs_error_set(it.err, "%s", it.msg);
		if (it.err < 0) {
			/* refused: report it, leave this device where it was */
			chs_replicate__sync_note(x, "device %s: %s", r->device, it.msg);
			return 0;
		}
		/* between groups only: a group is whole batches */
		if (!x->applying && (err = chs_replicate__cancelled(x->opts)) < 0) {
			item_free(&it);
			break;
		}
		err = apply_one(x, r->device, it.b, it.plan, &it.chain);
		reader_return(r, &it);
		if (err == CHS_EDENIED) {
			/* refused by the store (an edit of an access event):
			 * reported like a failed check, the device left here */
			chs_replicate__sync_note(x, "%s", chs_error_last());
			chs_error_clear();
			return 0;
		}
	}
	return err;
}

static int pull_device(sync_ctx *x, const char *ref)
{
	const char *device = ref + strlen(FETCHED_DEVICES);
	char (*oids)[41] = NULL;
	pthread_t thread;
	reader r;
	size_t n = 0;
	int skip, err;

	if (strcmp(device, x->s->device_id) == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	if ((err = chain_start(x, device, ref, &r.chain, &skip)) < 0 || skip)
		return err;
	if ((err = chs_git_log(x->git, ref, r.chain.oid[0] ? r.chain.oid : NULL, &oids, &n)) < 0 ||
	    n == 0 || (err = reader_git(x)) < 0)
		goto done;
	r.x = x;
	r.device = device;
	r.oids = (const char (*)[41])oids;
	r.n = n;
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.moved, NULL);
	if ((err = pthread_create(&thread, NULL, reader_main, &r)) != 0) {
		pthread_cond_destroy(&r.moved);
		pthread_mutex_destroy(&r.lock);
		err = chs_error_set(CHS_ENOMEM, "cannot start a thread: %s", strerror(err));
		goto done;
	}
	err = apply_read(x, &r);
	reader_stop(&r, thread);
done:
	free(oids);
	return err;
}

int chs_replicate__pull_devices(sync_ctx *x)
{
	char **refs = NULL;
	size_t i, n = 0;
	int err;

	if ((err = chs_git_refs(x->git, FETCHED_DEVICES, &refs, &n)) < 0)
		return err;
	x->rep->devices = n;
	for (i = 0; i < n && err == 0; i++)
		err = pull_device(x, refs[i]);
	if (err == 0)
		err = group_commit(x);
	else
		group_abort(x);
	chs_git_refs_free(refs, n);
	return err;
}
