/*
 * chartsync-archive-hook - the archive's pre-receive hook.
 *
 * git runs it once per push, before any ref moves, with one line
 * "<old> <new> <ref>" on stdin for each ref the push would update; a
 * non-zero exit refuses the whole push, and what it prints on stderr git
 * relays to the pusher as "remote: ...". The pushed objects are still in
 * git's quarantine, which chs_git_open_env() reads through the
 * environment git sets.
 *
 * git's own receive.denyNonFastForwards and receive.denyDeletes guard
 * refs/heads/ only, so every rule is checked here:
 * - a ref never moves backwards or sideways, and is never deleted;
 * - only refs/chartsync/roster, refs/chartsync/devices/<device id> and
 *   refs/chartsync/blobs/<device id> (attachment chunks) are taken;
 * - the roster first, since device refs are judged against it: each new
 *   roster commit is signed by the admin key of the roster before it (the
 *   first roster ever pushed pins its own) or by a new admin key that key
 *   handed over to (chs_roster_follows), its seq grows and its
 *   organisation stays the same;
 * - each new batch commit passes chs_batch_accept() against that roster:
 *   the device is on it (and not past its revocation pin), the commit and
 *   the manifest are signed by its key, and the batch continues the
 *   device's chain. Nothing is decrypted: the archive holds no data key;
 * - each new commit of attachment chunks passes chs_chunks_accept(): the
 *   device is on the roster with a role that reads clinical data, the
 *   commit is signed by its key and continues its single line, and it
 *   holds a bounded number of files each named as a chunk id with the
 *   chunk format and size. Chunks carry no sequence number to pin, so a
 *   revoked device may add no chunk commit at all.
 *
 * The chain is resumed from the ref's current tip, which this hook
 * accepted when it arrived: its signed manifest gives the seq and batch id
 * to continue from, so a push costs what it carries, not the device's
 * whole history.
 *
 * One refusal, one line: "chartsync-archive-hook: refused <ref>: <why>",
 * which the pushing device shows its user. The first refusal ends the
 * check, since the whole push is refused anyway.
 */
#include "sync/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK "chartsync-archive-hook"
#define CHARTSYNC_REFS "refs/chartsync/"
#define MAX_LINE 4096     /* bytes of one stdin line; refs are far shorter */
#define MAX_UPDATES 10000 /* refs in one push */

typedef struct update {
	char old[41];
	char new[41];
	char *ref;
} update;

typedef struct hook {
	chs_git *g;
	chs_roster *roster; /* the archive's, then the pushed one once accepted */
	update *u;
	size_t n, cap;
} hook;

static int is_hex40(const char *s)
{
	size_t i;

	for (i = 0; i < 40; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[40] == '\0';
}

static int is_zero(const char *oid)
{
	return strspn(oid, "0") == 40;
}

/* One line of stdin into `u`; CHS_EINVALID when it is not git's format. */
static int parse_line(char *line, update *u)
{
	char *old = line, *new = strchr(line, ' '), *ref, *nl;

	if (!new || !(ref = strchr(new + 1, ' ')))
		return chs_error_set(CHS_EINVALID, "git gave the hook a line it cannot read");
	*new++ = '\0';
	*ref++ = '\0';
	if ((nl = strchr(ref, '\n')))
		*nl = '\0';
	if (!is_hex40(old) || !is_hex40(new) || !*ref)
		return chs_error_set(CHS_EINVALID, "git gave the hook a line it cannot read "
				     "(a SHA-1 repository is expected)");
	memcpy(u->old, old, 41);
	memcpy(u->new, new, 41);
	if (!(u->ref = chs_strdup(ref)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return 0;
}

static int read_updates(hook *h, FILE *in)
{
	char line[MAX_LINE];
	int err;

	while (fgets(line, sizeof(line), in)) {
		if (!strchr(line, '\n') && !feof(in))
			return chs_error_set(CHS_EINVALID, "git gave the hook a line too long");
		if (h->n == MAX_UPDATES)
			return chs_error_set(CHS_EINVALID, "a push of more than %d refs",
					     MAX_UPDATES);
		if ((err = CHS_ARRAY_GROW(h->u, h->cap, h->n + 1)) < 0)
			return err;
		if ((err = parse_line(line, &h->u[h->n])) < 0)
			return err;
		h->n++;
	}
	return ferror(in) ? chs_error_set(CHS_EIO, "cannot read what git gave the hook") : 0;
}

/* ------------------------------------------------------------------ */
/* The roster                                                           */

/* The roster the archive holds now, if any. Accepted by this hook when it
 * was pushed, so only its own signatures are checked again. */
static int load_roster(hook *h)
{
	chs_git_commit *c = NULL;
	char tip[41];
	int err;

	if ((err = chs_git_ref(h->g, CHS_ROSTER_REF, tip)) == CHS_ENOTFOUND)
		return 0;
	if (err < 0 || (err = chs_git_read(h->g, tip, &c)) < 0 ||
	    (err = chs_roster_from_commit(&h->roster, c, NULL)) < 0)
		err = chs_error_wrap(err, "the archive's own roster does not verify");
	chs_git_commit_free(c);
	return err;
}

/* Each commit of a chain has exactly one parent, the commit before it
 * (none for the first commit ever): no merges, nothing on the side. */
static int check_link(const chs_git_commit *c, const char *prev, const char *what)
{
	if (*prev ? c->parents == 1 && strcmp(c->parent, prev) == 0 : c->parents == 0)
		return 0;
	return chs_error_set(CHS_EDAMAGED, "the %s is not a single line of commits", what);
}

static int check_successor(const chs_roster *before, const chs_roster *r)
{
	if (!before)
		return 0;
	if (strcmp(chs_roster_org(r), chs_roster_org(before)) != 0)
		return chs_error_set(CHS_EDENIED, "the roster is for organisation %s, the "
				     "archive's is for %s", chs_roster_org(r),
				     chs_roster_org(before));
	/* signed by the admin key of the roster before, or by a new key that
	 * one handed over to (an admin device was revoked) */
	if (chs_roster_follows(before, r) < 0)
		return chs_error_wrap(CHS_EDENIED, "roster %llu",
				      (unsigned long long)chs_roster_seq(r));
	if (chs_roster_seq(r) <= chs_roster_seq(before))
		return chs_error_set(CHS_EDENIED, "roster %llu is not newer than roster %llu "
				     "(fetch the archive's roster and change that one)",
				     (unsigned long long)chs_roster_seq(r),
				     (unsigned long long)chs_roster_seq(before));
	return 0;
}

/* One new roster commit, after `prev` ("" for the first ever). */
static int accept_roster_commit(hook *h, const char *oid, const char *prev)
{
	chs_git_commit *c = NULL;
	chs_roster *r = NULL;
	int err;

	if ((err = chs_git_read(h->g, oid, &c)) < 0) {
		err = chs_error_wrap(err, "roster commit %.12s", oid);
		goto done;
	}
	if ((err = check_link(c, prev, "roster's history")) < 0 ||
	    (err = chs_roster_from_commit(&r, c, NULL)) < 0 ||
	    (err = check_successor(h->roster, r)) < 0)
		goto done;
	chs_roster_free(h->roster);
	h->roster = r;
	r = NULL;
done:
	chs_roster_free(r);
	chs_git_commit_free(c);
	return err;
}

static int accept_roster(hook *h, const update *u)
{
	const char *since = is_zero(u->old) ? NULL : u->old;
	char (*log)[41] = NULL;
	size_t n = 0, i;
	int err;

	if ((err = chs_git_log_range(h->g, u->new, since, &log, &n)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++)
		err = accept_roster_commit(h, log[i], i ? log[i - 1] : since ? since : "");
	free(log);
	return err;
}

/* ------------------------------------------------------------------ */
/* A device's batches                                                   */

/* Where `device`'s chain stands at `tip`, the commit its ref holds now:
 * that commit's signer and signed manifest say which batch it is. */
static int chain_at(hook *h, const char device[33], const char *tip, chs_chain *chain)
{
	const chs_roster_device *d = chs_roster_find(h->roster, device);
	chs_git_commit *c = NULL;
	chs_batch *b = NULL;
	int all, err;

	if (!d)
		return chs_error_set(CHS_EDENIED, "device %s is not on the roster", device);
	if ((err = chs_git_read(h->g, tip, &c)) < 0 ||
	    (err = chs_batch_unpack(&b, c->entries, c->nentries, chs_key_none, NULL, &all)) < 0) {
		err = chs_error_wrap(err, "the archive's last batch of device %s", device);
		goto done;
	}
	if (!chs_equal(c->signer, d->key, CHS_SIGN_PK_BYTES) || strcmp(b->device, device) != 0) {
		err = chs_error_set(CHS_EDAMAGED, "the archive's last batch of device %s is not "
				    "that device's", device);
		goto done;
	}
	chain->seq = b->seq;
	memcpy(chain->prev, b->id, CHS_HASH_BYTES);
	memcpy(chain->oid, tip, 41);
done:
	chs_batch_free(b);
	chs_git_commit_free(c);
	return err;
}

static int accept_batches(hook *h, const update *u, const char device[33])
{
	char (*log)[41] = NULL;
	chs_git_commit *c = NULL;
	chs_chain chain;
	size_t n = 0, i;
	int err;

	memset(&chain, 0, sizeof(chain));
	if (!h->roster)
		return chs_error_set(CHS_EDENIED, "the archive has no roster yet; the admin "
				     "pushes it first");
	if (!is_zero(u->old) && (err = chain_at(h, device, u->old, &chain)) < 0)
		return err;
	if ((err = chs_git_log_range(h->g, u->new, chain.oid[0] ? chain.oid : NULL, &log,
				     &n)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++) {
		if ((err = chs_git_read(h->g, log[i], &c)) < 0)
			err = chs_error_wrap(err, "device %s's batch at %.12s", device, log[i]);
		else
			err = chs_batch_accept(NULL, NULL, &chain, h->roster, device, log[i], c,
					       NULL, NULL);
		chs_git_commit_free(c);
		c = NULL;
	}
	free(log);
	return err;
}

/* ------------------------------------------------------------------ */
/* A device's attachment chunks                                         */

static int accept_chunks(hook *h, const update *u, const char device[33])
{
	const chs_roster_device *d;
	char (*log)[41] = NULL;
	chs_git_commit *c = NULL;
	size_t n = 0, i;
	int err;

	if (!h->roster)
		return chs_error_set(CHS_EDENIED, "the archive has no roster yet; the admin "
				     "pushes it first");
	if ((d = chs_roster_find(h->roster, device)) && d->revoked)
		return chs_error_set(CHS_EDENIED, "device %s was revoked; it may send no more "
				     "attachment chunks", device);
	if ((err = chs_git_log_range(h->g, u->new, is_zero(u->old) ? NULL : u->old, &log,
				     &n)) < 0)
		return err;
	for (i = 0; i < n && err == 0; i++) {
		if ((err = chs_git_read(h->g, log[i], &c)) == 0)
			err = chs_chunks_accept(h->roster, device,
						i ? log[i - 1] : is_zero(u->old) ? "" : u->old, c);
		if (err < 0)
			err = chs_error_wrap(err, "attachment chunks at %.12s", log[i]);
		chs_git_commit_free(c);
		c = NULL;
	}
	free(log);
	return err;
}

/* The device id a device or chunk ref names: 32 lowercase hex, nothing
 * more after `prefix`. */
static int device_of(const char *ref, const char *prefix, char device[33])
{
	const char *id = ref + strlen(prefix);
	size_t i;

	for (i = 0; i < 32; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			break;
	if (i < 32 || id[32] != '\0')
		return chs_error_set(CHS_EDENIED, "'%s' does not name a device (32 lowercase "
				     "hex digits after %s)", id, prefix);
	memcpy(device, id, 33);
	return 0;
}

/* ------------------------------------------------------------------ */
/* One ref                                                              */

/* What any ref must respect, whatever it holds. */
static int check_move(hook *h, const update *u)
{
	int forward = 0, err;

	if (is_zero(u->new))
		return chs_error_set(CHS_EDENIED, "deleting a ref is not allowed: the archive "
				     "keeps everything it was given");
	if (strncmp(u->ref, CHARTSYNC_REFS, strlen(CHARTSYNC_REFS)) != 0)
		return chs_error_set(CHS_EDENIED, "the archive takes refs under %s only",
				     CHARTSYNC_REFS);
	if (is_zero(u->old))
		return 0;
	if ((err = chs_git_is_ancestor(h->g, u->old, u->new, &forward)) < 0)
		return err;
	if (!forward)
		return chs_error_set(CHS_EDENIED, "rewriting history is not allowed: %.12s does "
				     "not follow the archive's %.12s (fetch, then push only "
				     "new commits on top)", u->new, u->old);
	return 0;
}

static int check_update(hook *h, const update *u)
{
	char device[33];
	int err;

	if ((err = check_move(h, u)) < 0)
		return err;
	if (strcmp(u->old, u->new) == 0)
		return 0;
	if (strcmp(u->ref, CHS_ROSTER_REF) == 0)
		return accept_roster(h, u);
	if (strncmp(u->ref, CHS_DEVICE_REFS, strlen(CHS_DEVICE_REFS)) == 0) {
		if ((err = device_of(u->ref, CHS_DEVICE_REFS, device)) < 0)
			return err;
		return accept_batches(h, u, device);
	}
	if (strncmp(u->ref, CHS_BLOB_REFS, strlen(CHS_BLOB_REFS)) == 0) {
		if ((err = device_of(u->ref, CHS_BLOB_REFS, device)) < 0)
			return err;
		return accept_chunks(h, u, device);
	}
	return chs_error_set(CHS_EDENIED, "chartsync does not use this ref");
}

/* ------------------------------------------------------------------ */

/* The message on one line, whatever a lower layer put in it. */
static void say(const char *ref, const char *msg)
{
	char line[1024];
	char *p;

	snprintf(line, sizeof(line), "%s", *msg ? msg : "the archive could not check this push");
	for (p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (ref)
		fprintf(stderr, HOOK ": refused %s: %s\n", ref, line);
	else
		fprintf(stderr, HOOK ": refused the push: %s\n", line);
}

/* The roster's update first, so batches are judged by the roster they
 * arrive with (a revocation pushed with a batch past its pin refuses it). */
static int check_all(hook *h)
{
	size_t pass, i;
	int err;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < h->n; i++) {
			const update *u = &h->u[i];

			if ((strcmp(u->ref, CHS_ROSTER_REF) == 0) != (pass == 0))
				continue;
			if ((err = check_update(h, u)) < 0) {
				say(u->ref, chs_error_last());
				return err;
			}
		}
	return 0;
}

int main(int argc, char **argv)
{
	hook h;
	size_t i;
	int err;

	memset(&h, 0, sizeof(h));
	if (argc != 1) {
		int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;

		fputs("usage: " HOOK " < \"<old> <new> <ref>\" lines\n\n"
		      "The archive's pre-receive hook, run by git; install it with\n"
		      "'chartsync archive install-hook PATH'.\n", help ? stdout : stderr);
		return help ? 0 : 1;
	}
	if ((err = chs_crypto_init()) < 0 || (err = read_updates(&h, stdin)) < 0 ||
	    (err = chs_git_open_env(&h.g)) < 0 || (err = load_roster(&h)) < 0)
		say(NULL, chs_error_last());
	else
		err = check_all(&h);
	for (i = 0; i < h.n; i++)
		free(h.u[i].ref);
	free(h.u);
	chs_roster_free(h.roster);
	chs_git_free(h.g);
	return err < 0 ? 1 : 0;
}
