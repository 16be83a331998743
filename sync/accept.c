/*
 * Accepting what an archive holds: the roster's chain and each device's
 * chain of batch commits. The client runs these checks on everything it
 * fetched and the archive's hook on everything pushed to it, because a
 * local-path archive runs no hook and a network archive may be
 * compromised: a ref that moves backwards or sideways, a device that is
 * not (or no longer) on the roster, a batch signed by another key or a
 * sequence number used twice is refused wherever it is seen.
 */
#include "sync_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const chs_git_blob *file_of(const chs_git_commit *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nentries; i++)
		if (strcmp(c->entries[i].name, name) == 0)
			return &c->entries[i];
	return NULL;
}

int chs_roster_from_commit(chs_roster **out, const chs_git_commit *c,
			   const unsigned char *admin)
{
	const chs_git_blob *text = file_of(c, "roster"), *sig = file_of(c, "signature");
	chs_roster *r = NULL;
	int err;

	*out = NULL;
	if (!text || !sig || sig->len != CHS_SIGNATURE_BYTES || c->nentries != 2)
		return chs_error_set(CHS_EDAMAGED, "the archive's roster is malformed");
	if ((err = chs_roster_parse(&r, (const char *)text->data, text->len, sig->data)) < 0)
		return err;
	if (admin && !chs_equal(chs_roster_admin(r), admin, CHS_SIGN_PK_BYTES)) {
		chs_roster_free(r);
		return chs_error_set(CHS_EDAMAGED,
				     "the archive's roster is not signed by the organisation's admin key");
	}
	if (!chs_equal(c->signer, chs_roster_admin(r), CHS_SIGN_PK_BYTES)) {
		chs_roster_free(r);
		return chs_error_set(CHS_EDAMAGED,
				     "the archive's roster commit is not signed by the admin key");
	}
	*out = r;
	return 0;
}

int chs_roster_commit(chs_git *g, const char *ref, const chs_roster *r,
		      const chs_identity *admin, char oid[41])
{
	unsigned char sig[CHS_SIGNATURE_BYTES];
	chs_git_entry files[2];
	char msg[96];
	chs_buf text;
	int err;

	chs_buf_init(&text, 0);
	if ((err = chs_roster_sign(r, admin, &text, sig)) < 0)
		goto done;
	files[0].name = "roster";
	files[0].data = text.ptr;
	files[0].len = text.len;
	files[1].name = "signature";
	files[1].data = sig;
	files[1].len = sizeof(sig);
	snprintf(msg, sizeof(msg), "roster %llu: %zu devices\n",
		 (unsigned long long)chs_roster_seq(r), chs_roster_count(r));
	err = chs_git_write_commit(g, ref, files, 2, msg, admin, (int64_t)time(NULL), oid);
done:
	chs_buf_dispose(&text);
	return err;
}

/* The device as the roster lists it, checked before anything is read. */
static int check_signer(const chs_roster *r, const char device[33],
			const chs_git_commit *c, const chs_roster_device **out)
{
	const chs_roster_device *d = chs_roster_find(r, device);

	if (!d)
		return chs_error_set(CHS_EDENIED, "device %s is not on the roster", device);
	if (!chs_equal(d->key, c->signer, CHS_SIGN_PK_BYTES))
		return chs_error_set(CHS_EDAMAGED, "a batch of device %s is signed by another key",
				     device);
	*out = d;
	return 0;
}

static int check_chain(const chs_chain *chain, const chs_roster_device *d,
		       const chs_batch *b, const chs_git_commit *c)
{
	if (strcmp(b->device, d->device) != 0)
		return chs_error_set(CHS_EDAMAGED, "a batch on device %s's ref names device %s",
				     d->device, b->device);
	if ((chain->oid[0] ? c->parents != 1 || strcmp(c->parent, chain->oid) != 0
			   : c->parents != 0))
		return chs_error_set(CHS_EDAMAGED, "device %s's history was rewritten", d->device);
	if (b->seq != chain->seq + 1 || b->has_prev != (chain->seq > 0) ||
	    (b->has_prev && !chs_equal(b->prev, chain->prev, CHS_HASH_BYTES)))
		return chs_error_set(CHS_EDAMAGED,
				     "device %s's batch %llu does not follow its batch %llu",
				     d->device, (unsigned long long)b->seq,
				     (unsigned long long)chain->seq);
	if (d->revoked && b->seq > d->revoked_after)
		return chs_error_set(CHS_EDENIED,
				     "device %s was revoked after its batch %llu; its batch %llu is refused",
				     d->device, (unsigned long long)d->revoked_after,
				     (unsigned long long)b->seq);
	return 0;
}

int chs_key_none(int compartment, uint32_t gen, unsigned char *key, void *payload)
{
	(void)compartment;
	(void)gen;
	(void)key;
	(void)payload;
	return CHS_EDENIED;
}

int chs_batch_accept(chs_batch **out, int *complete, chs_chain *chain,
		     const chs_roster *r, const char device[33], const char *oid,
		     const chs_git_commit *c, chs_key_fn key_of, void *payload)
{
	const chs_roster_device *d = NULL;
	chs_batch *b = NULL;
	int all = 0, err;

	if (out)
		*out = NULL;
	if (complete)
		*complete = 0;
	if ((err = check_signer(r, device, c, &d)) < 0)
		return err;
	if ((err = chs_batch_unpack(&b, c->entries, c->nentries, key_of ? key_of : chs_key_none,
				    payload, &all)) < 0)
		return chs_error_wrap(err, "device %s's batch at %.12s", device, oid);
	if ((err = check_chain(chain, d, b, c)) < 0) {
		chs_batch_free(b);
		return err;
	}
	chain->seq = b->seq;
	memcpy(chain->prev, b->id, CHS_HASH_BYTES);
	memcpy(chain->oid, oid, 41);
	if (complete)
		*complete = all;
	if (out)
		*out = b;
	else
		chs_batch_free(b);
	return 0;
}

int chs_batch_commit(chs_git *g, const chs_packed *p, const chs_batch *b,
		     const char *site, const chs_identity *id, char oid[41])
{
	char ref[sizeof(CHS_DEVICE_REFS) + 33];
	chs_buf msg;
	size_t i, n = p->nchanges; /* the count the manifest signs */
	int err;

	/* site is a name the admin typed, not patient data; keep it on one line */
	chs_buf_init(&msg, 0);
	err = chs_buf_printf(&msg, "batch %llu of device %s (site ",
			     (unsigned long long)b->seq, b->device);
	for (i = 0; err == 0 && site && site[i]; i++)
		err = chs_buf_put(&msg, site[i] == '\n' ? " " : &site[i], 1);
	if (err == 0)
		err = chs_buf_printf(&msg, "): %zu change%s\n", n, n == 1 ? "" : "s");
	snprintf(ref, sizeof(ref), "%s%s", CHS_DEVICE_REFS, b->device);
	if (err == 0)
		err = chs_git_write_commit(g, ref, p->files, p->n, msg.ptr, id,
					   (int64_t)time(NULL), oid);
	chs_buf_dispose(&msg);
	return err;
}
