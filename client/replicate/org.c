/*
 * The organisation: its roster of devices as this store knows it, and,
 * in the admin's store, the admin key and every generation of the data
 * keys, with the enrollments and revocations the admin makes.
 *
 * Every roster this store accepted is kept (table rosters), newest last.
 * The admin's changes are saved in the store first, in one transaction,
 * and committed to the local git mirror and pushed afterwards (publish):
 * if the archive cannot be reached, the next sync publishes them, and
 * nothing the admin did is lost or done twice.
 *
 * An enrollment request is the device's public key as an SSH public key
 * line, "ssh-ed25519 <base64> chartsync:<terminal>": the device id
 * follows from the key, and the same line is what an SSH archive puts in
 * authorized_keys for that device.
 */
#include "replicate_int.h"
#include "client/text/text.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUEST_TAG "chartsync:"

/* ------------------------------------------------------------------ */
/* The admin's secrets                                                  */

typedef chs_admin_secrets admin_secrets;

static void secrets_dispose(admin_secrets *a)
{
	chs_identity_free(a->admin);
	chs_keyring_dispose(&a->kr);
	memset(a, 0, sizeof(*a));
}

/* Keyring blob: per compartment a 4-byte big-endian generation count,
 * then that many 32-byte keys, oldest first. */
static int keyring_encode(const chs_keyring *kr, chs_buf *out)
{
	int c, err = 0;
	uint32_t g;

	for (c = 0; c < CHS_NCOMPARTMENTS && err == 0; c++) {
		unsigned char n[4] = { (unsigned char)(kr->gen[c] >> 24),
				       (unsigned char)(kr->gen[c] >> 16),
				       (unsigned char)(kr->gen[c] >> 8),
				       (unsigned char)kr->gen[c] };

		err = chs_buf_put(out, n, 4);
		for (g = 0; g < kr->gen[c] && err == 0; g++)
			err = chs_buf_put(out, kr->key[c][g], CHS_KEY_BYTES);
	}
	return err;
}

static int keyring_decode(chs_keyring *kr, const unsigned char *p, size_t len)
{
	int c;
	uint32_t g, n;

	memset(kr, 0, sizeof(*kr));
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		if (len < 4)
			goto bad;
		n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		p += 4;
		len -= 4;
		if (n == 0 || n > CHS_MAX_GENERATIONS || len < (size_t)n * CHS_KEY_BYTES)
			goto bad;
		for (g = 0; g < n; g++, p += CHS_KEY_BYTES, len -= CHS_KEY_BYTES) {
			if (!(kr->key[c][g] = chs_secret_alloc(CHS_KEY_BYTES))) {
				chs_keyring_dispose(kr);
				return chs_error_set(CHS_ENOMEM, "out of memory");
			}
			memcpy(kr->key[c][g], p, CHS_KEY_BYTES);
			kr->gen[c] = g + 1;
		}
	}
	if (len == 0)
		return 0;
bad:
	chs_keyring_dispose(kr);
	return chs_error_set(CHS_EDAMAGED, "the organisation's keys in this store are damaged");
}

static int secrets_load(chs_store *s, admin_secrets *a)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	memset(a, 0, sizeof(*a));
	if ((err = chs_store__prepare(s, &st,
		     "SELECT admin, keyring FROM org_secret WHERE id = 1")) < 0)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == CHS_SIGN_SK_BYTES) {
		if ((err = chs_identity_from_secret(&a->admin, sqlite3_column_blob(st, 0))) == 0)
			err = keyring_decode(&a->kr, sqlite3_column_blob(st, 1),
					     (size_t)sqlite3_column_bytes(st, 1));
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		err = chs_error_set(CHS_EDENIED,
				    "only the organisation's admin store enrolls and revokes devices;"
				    " this store holds no admin key");
	} else {
		err = chs_store__sqlerr(s, rc, "reading the admin key");
	}
	chs_store__finish(s, st);
	if (err < 0)
		secrets_dispose(a);
	return err;
}

static int secrets_save(chs_store *s, const admin_secrets *a)
{
	sqlite3_stmt *st = NULL;
	chs_buf kr;
	int err, rc;

	chs_buf_init_secret(&kr, 0);
	if ((err = keyring_encode(&a->kr, &kr)) < 0 ||
	    (err = chs_store__prepare(s, &st,
		     "INSERT OR REPLACE INTO org_secret(id, admin, keyring) VALUES (1, ?, ?)")) < 0)
		goto done;
	if ((err = chs_store__bind_blob(s, st, 1, chs_identity_secret(a->admin),
					CHS_SIGN_SK_BYTES)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, kr.ptr, kr.len)) < 0) {
		chs_store__finish(s, st);
		goto done;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "saving the admin key");
done:
	/* the blob held every data key: wipe it before it goes back */
	if (kr.ptr)
		chs_wipe(kr.ptr, kr.len);
	chs_buf_dispose(&kr);
	return err;
}

#define ADMIN_BLOB_VERSION 1

int chs_replicate__admin_export(chs_store *s, chs_buf *out)
{
	admin_secrets a;
	unsigned char org_raw[16], pk[CHS_SIGN_PK_BYTES];
	unsigned char v = ADMIN_BLOB_VERSION;
	char org[33];
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(out);
	if ((err = chs_store__org_pinned(s, org, pk)) == CHS_ENOTFOUND)
		return chs_error_set(CHS_EDENIED, "this store belongs to no organisation yet");
	if (err < 0)
		return err;
	if (chs_unhex(org_raw, sizeof(org_raw), org) < 0)
		return chs_error_set(CHS_EDAMAGED, "the store's organisation record is damaged");
	if ((err = secrets_load(s, &a)) < 0)
		return err;
	if ((err = chs_buf_put(out, &v, 1)) == 0 &&
	    (err = chs_buf_put(out, org_raw, sizeof(org_raw))) == 0 &&
	    (err = chs_buf_put(out, chs_identity_secret(a.admin), CHS_SIGN_SK_BYTES)) == 0)
		err = keyring_encode(&a.kr, out);
	secrets_dispose(&a);
	return err;
}

/* The roster this store holds, when it is under `a`'s admin key and
 * seals it more generations of the data keys than `a` holds (a recovery
 * kit made before a revocation), gives `a` its key ring. */
static int newer_keyring(chs_store *s, admin_secrets *a)
{
	chs_roster *r = NULL;
	chs_keyring kr;
	int c, newer = 0, err;

	if ((err = chs_store__roster_load(s, &r, NULL)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		newer |= chs_roster_generation(r, c) > a->kr.gen[c];
	if (newer && chs_roster_version(r) >= 2 &&
	    chs_equal(chs_roster_admin(r), chs_identity_public(a->admin), CHS_SIGN_PK_BYTES) &&
	    (err = chs_roster_open_admin_keys(r, a->admin, &kr)) == 0) {
		chs_keyring_dispose(&a->kr);
		a->kr = kr;
	}
	chs_roster_free(r);
	return err;
}

int chs_replicate__admin_import(chs_store *s, const void *blob, size_t len)
{
	const unsigned char *p = blob;
	unsigned char pinned_pk[CHS_SIGN_PK_BYTES];
	char org[33], pinned[33];
	admin_secrets a;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(blob);
	memset(&a, 0, sizeof(a));
	if (!s->admin)
		return chs_error_set(CHS_EDENIED, "only an admin user of this store may take in"
				     " the organisation's admin key");
	if (len < 1 + 16 + CHS_SIGN_SK_BYTES || p[0] != ADMIN_BLOB_VERSION)
		return chs_error_set(CHS_EDAMAGED, "the organisation's keys are malformed");
	chs_hex(org, p + 1, 16);
	if ((err = chs_identity_from_secret(&a.admin, p + 17)) < 0)
		return err;
	if ((err = keyring_decode(&a.kr, p + 17 + CHS_SIGN_SK_BYTES,
				  len - 17 - CHS_SIGN_SK_BYTES)) < 0)
		goto done;
	if ((err = chs_store__begin(s)) < 0)
		goto done;
	err = chs_store__org_pinned(s, pinned, pinned_pk);
	if (err == CHS_ENOTFOUND) {
		chs_error_clear();
		err = chs_store__org_pin(s, org, chs_identity_public(a.admin));
	} else if (err == 0 && (strcmp(pinned, org) != 0 ||
				!chs_equal(pinned_pk, chs_identity_public(a.admin),
					   CHS_SIGN_PK_BYTES))) {
		err = chs_error_set(CHS_EEXISTS, "this store belongs to organisation %s already,"
				    " under another admin key; use a new store", pinned);
	}
	if (err == 0)
		err = newer_keyring(s, &a);
	if (err == 0)
		err = secrets_save(s, &a);
	if (err < 0)
		chs_store__rollback(s);
	else
		err = chs_store__commit(s);
done:
	secrets_dispose(&a);
	return err;
}

/* Sign roster `r` and save it as the newest, inside a transaction. */
static int roster_sign_save(chs_store *s, const chs_roster *r, const admin_secrets *a)
{
	unsigned char sig[CHS_SIGNATURE_BYTES];
	chs_buf text;
	int err;

	chs_buf_init(&text, 0);
	if ((err = chs_roster_sign(r, a->admin, &text, sig)) == 0)
		err = chs_store__roster_save(s, text.ptr, text.len, sig, NULL, chs_roster_seq(r));
	chs_buf_dispose(&text);
	return err;
}

/* The roster says which devices are admin devices: an admin store's own
 * device is one (a roster from before version 2, or the first admin's,
 * learns it at the next edit). Not a device whose role may not be one. */
static int mark_self(chs_store *s, chs_roster *r, const admin_secrets *a)
{
	const chs_roster_device *d = chs_roster_find(r, s->device_id);
	int c;

	if (!d || d->revoked || d->admin)
		return 0;
	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		if (!chs_role_reads(d->role, c))
			return 0;
	return chs_roster_set_admin(r, s->device_id, a->admin);
}

/* Sign and save an edited roster with the secrets it left, inside the
 * caller's transaction; the pin follows a rotated admin key. */
static int edit_save(chs_store *s, chs_roster *r, const admin_secrets *a)
{
	unsigned char pinned[CHS_SIGN_PK_BYTES];
	char org[33];
	int err;

	if ((err = mark_self(s, r, a)) < 0 || (err = secrets_save(s, a)) < 0 ||
	    (err = roster_sign_save(s, r, a)) < 0 ||
	    (err = chs_store__org_pinned(s, org, pinned)) < 0)
		return err;
	if (!chs_equal(pinned, chs_identity_public(a->admin), CHS_SIGN_PK_BYTES))
		err = chs_store__org_repin(s, chs_identity_public(a->admin));
	return err;
}

/* ------------------------------------------------------------------ */
/* org init                                                             */

int chs_site_check(const char *site)
{
	size_t len = site ? strlen(site) : 0;

	if (len == 0)
		return chs_error_set(CHS_EINVALID, "a site needs a name (1 to %d bytes)",
				     CHS_SITE_MAX);
	if (len > CHS_SITE_MAX)
		return chs_error_set(CHS_EINVALID, "site name of %zu bytes is too long: a site"
				     " name is at most %d bytes; give a shorter one", len,
				     CHS_SITE_MAX);
	/* a site's name is shown at every site and in the archive's commit
	 * messages: one line of printable text, as a record's text is */
	if (chs_text_is_blank(site, len))
		return chs_error_set(CHS_EINVALID, "a site needs a name, not blank");
	return chs_text_check(site, len, CHS_TEXT_LINE, 0, "the site name");
}

static int org_create(chs_store *s, const char *archive, const char *site)
{
	admin_secrets a;
	chs_roster *r = NULL;
	unsigned char raw[16];
	char org[33];
	int err;

	memset(&a, 0, sizeof(a));
	chs_random(raw, sizeof(raw));
	chs_hex(org, raw, sizeof(raw));
	if ((err = chs_identity_new(&a.admin)) < 0 || (err = chs_keyring_init(&a.kr)) < 0 ||
	    (err = chs_roster_new(&r, org, chs_identity_public(a.admin), &a.kr)) < 0 ||
	    /* the admin's own store is the first device: an archivist, and
	     * the first admin device */
	    (err = chs_roster_enroll(r, &a.kr, chs_identity_public(s->identity), site,
				     CHS_ROLE_ARCHIVIST)) < 0 ||
	    (err = chs_roster_set_admin(r, s->device_id, a.admin)) < 0)
		goto done;
	if ((err = chs_store__begin(s)) < 0)
		goto done;
	if ((err = chs_store__org_pin(s, org, chs_identity_public(a.admin))) < 0 ||
	    (err = secrets_save(s, &a)) < 0 || (err = roster_sign_save(s, r, &a)) < 0 ||
	    (archive && (err = chs_store__config_put(s, "remote.url", archive)) < 0)) {
		chs_store__rollback(s);
		goto done;
	}
	err = chs_store__commit(s);
done:
	chs_roster_free(r);
	secrets_dispose(&a);
	return err;
}

int chs_org_init(chs_store *s, const char *archive, const char *site)
{
	char org[33];
	unsigned char admin[CHS_SIGN_PK_BYTES];
	char *terminal = NULL;
	int err;

	CHS_ASSERT_ARG(s);
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	if (!s->admin)
		return chs_error_set(CHS_EDENIED, "only an admin of this store may create an organisation");
	err = chs_store__org_pinned(s, org, admin);
	if (err == 0)
		return chs_error_set(CHS_EEXISTS,
				     "this store already belongs to organisation %s", org);
	if (err != CHS_ENOTFOUND)
		return err;
	if (!site && (err = chs_config_get(s, "terminal.name", &terminal)) < 0)
		return err;
	if ((err = chs_site_check(site ? site : terminal)) == 0)
		err = org_create(s, archive, site ? site : terminal);
	free(terminal);
	return err;
}

/* ------------------------------------------------------------------ */
/* Devices                                                              */

int chs_device_request(chs_store *s, char **line)
{
	char *terminal = NULL;
	chs_buf b;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(line);

	*line = NULL;
	chs_buf_init(&b, 0);
	if ((err = chs_config_get(s, "terminal.name", &terminal)) < 0 ||
	    (err = chs_ssh_public_key(&b, chs_identity_public(s->identity))) < 0)
		goto done;
	/* the comment names the terminal with its spaces as underscores, so
	 * the line stays one key, a base64 blob and one word */
	{
		char *p;

		for (p = terminal; *p; p++)
			if (*p == ' ' || *p == '\t')
				*p = '_';
	}
	if ((err = chs_buf_printf(&b, " " REQUEST_TAG "%s", terminal)) == 0)
		*line = chs_buf_detach(&b);
done:
	free(terminal);
	chs_buf_dispose(&b);
	return err;
}

static int parse_request(const char *request, unsigned char pk[CHS_SIGN_PK_BYTES])
{
	if (chs_ssh_public_key_parse(pk, request) < 0)
		return chs_error_set(CHS_EINVALID,
				     "that is not an enrollment request: paste the whole line"
				     " 'chartsync device request' printed on the new store"
				     " (it starts with ssh-ed25519)");
	return 0;
}

int chs_replicate__admin_edit(chs_store *s, chs_roster_edit_fn edit, void *arg)
{
	admin_secrets a;
	chs_roster *r = NULL;
	int err;

	memset(&a, 0, sizeof(a));
	if (!s->admin)
		return chs_error_set(CHS_EDENIED, "only an admin user of this store may enroll or"
				     " revoke devices");
	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = secrets_load(s, &a)) < 0 || (err = chs_store__roster_load(s, &r, NULL)) < 0 ||
	    (err = edit(s, r, &a, arg)) < 0 || (err = edit_save(s, r, &a)) < 0) {
		chs_store__rollback(s);
		goto done;
	}
	err = chs_store__commit(s);
done:
	chs_roster_free(r);
	secrets_dispose(&a);
	return err;
}

typedef struct enroll_arg {
	unsigned char pk[CHS_SIGN_PK_BYTES];
	const char *site;
	chs_role role;
	int admin; /* an admin device: the admin key sealed to it too */
} enroll_arg;

static int do_enroll(chs_store *s, chs_roster *r, admin_secrets *a, void *arg)
{
	enroll_arg *e = arg;
	char dev[33];
	int err;

	(void)s;
	chs_device_id_of(e->pk, dev);
	err = chs_roster_enroll(r, &a->kr, e->pk, e->site, e->role);
	if (err == CHS_EEXISTS)
		return chs_error_set(CHS_EEXISTS, "device %s is enrolled already", dev);
	if (err == 0 && e->admin)
		err = chs_roster_set_admin(r, dev, a->admin);
	return err;
}

int chs_device_enroll(chs_store *s, const char *request, const char *site,
		      const char *role, char device[33])
{
	return chs_device_enroll_admin(s, request, site, role, 0, device);
}

int chs_device_enroll_admin(chs_store *s, const char *request, const char *site,
			    const char *role, int admin, char device[33])
{
	enroll_arg e;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(request);
	CHS_ASSERT_ARG(role);
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	CHS_ASSERT_ARG(device);

	if ((err = parse_request(request, e.pk)) < 0 || (err = chs_role_parse(role, &e.role)) < 0)
		return err;
	if ((err = chs_site_check(site)) < 0)
		return err;
	e.site = site;
	e.admin = admin != 0;
	chs_device_id_of(e.pk, device);
	return chs_replicate__admin_edit(s, do_enroll, &e);
}

/* The device a prefix names on the roster (as git takes short ids). */
static int find_device(chs_store *s, const chs_roster *r, const char *prefix,
		       const chs_roster_device **out)
{
	size_t i, len = strlen(prefix);

	(void)s;
	*out = NULL;
	if (len < 4)
		return chs_error_set(CHS_EINVALID, "give at least 4 characters of the device id");
	for (i = 0; i < chs_roster_count(r); i++) {
		const chs_roster_device *d = chs_roster_at(r, i);

		if (strncmp(d->device, prefix, len) != 0)
			continue;
		if (*out)
			return chs_error_set(CHS_EAMBIGUOUS,
					     "'%s' names more than one device; give more of its id", prefix);
		*out = d;
	}
	return *out ? 0 : chs_error_set(CHS_ENOTFOUND, "no device '%s' on the roster", prefix);
}

typedef struct revoke_arg {
	const char *prefix;
	char device[33];
	uint64_t after;
	int rotated; /* it was an admin device: the admin key rotated */
} revoke_arg;

static int rotate_admin(chs_roster *r, admin_secrets *a);

static int do_revoke(chs_store *s, chs_roster *r, admin_secrets *a, void *arg)
{
	revoke_arg *v = arg;
	const chs_roster_device *d = NULL;
	int64_t after = 0;
	int err;

	if ((err = find_device(s, r, v->prefix, &d)) < 0)
		return err;
	if (d->revoked)
		return chs_error_set(CHS_EEXISTS, "device %s is revoked already", d->device);
	if (strcmp(d->device, s->device_id) == 0)
		return chs_error_set(CHS_EINVALID, "the admin's own store cannot revoke itself");
	memcpy(v->device, d->device, 33);
	v->rotated = d->admin;
	/* pin the last batch this store accepted from it: anything later,
	 * whatever its timestamp, is refused everywhere */
	if ((err = chs_records__progress_seq(s, v->device, &after)) < 0)
		return err;
	v->after = (uint64_t)after;
	if ((err = chs_roster_revoke(r, &a->kr, v->device, v->after)) < 0 || !v->rotated)
		return err;
	return rotate_admin(r, a);
}

/* An admin device was revoked: it holds the admin key, so the
 * organisation gets a new one (sealed to the remaining admin devices,
 * handed over by the old one), and keeps it from now on. */
static int rotate_admin(chs_roster *r, admin_secrets *a)
{
	chs_identity *fresh = NULL;
	int err;

	if ((err = chs_roster_rotate_admin(r, &a->kr, a->admin, &fresh)) < 0)
		return err;
	chs_identity_free(a->admin);
	a->admin = fresh;
	return 0;
}

int chs_device_revoke(chs_store *s, const char *prefix, char device[33], uint64_t *after)
{
	revoke_arg v;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(prefix);
	CHS_ASSERT_ARG(device);
	CHS_ASSERT_ARG(after);
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	memset(&v, 0, sizeof(v));
	v.prefix = prefix;
	if ((err = chs_replicate__admin_edit(s, do_revoke, &v)) < 0)
		return err;
	memcpy(device, v.device, 33);
	*after = v.after;
	return 0;
}

static const char *role_name(chs_role r)
{
	return r == CHS_ROLE_CLINIC ? "clinic" : r == CHS_ROLE_BILLING ? "billing" : "archivist";
}

/* One device's strings in one block: device, key, site (role is a
 * literal). */
typedef struct device_entry {
	chs_device_info info;
	char *strings;
} device_entry;

struct chs_device_roster {
	device_entry *d;
	size_t n;
};

void chs_device_roster_free(chs_device_roster *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++)
		free(r->d[i].strings);
	free(r->d);
	free(r);
}

size_t chs_device_roster_count(const chs_device_roster *r)
{
	return r ? r->n : 0;
}

const chs_device_info *chs_device_roster_get(const chs_device_roster *r, size_t i)
{
	return r && i < r->n ? &r->d[i].info : NULL;
}

static int device_entry_of(device_entry *e, const chs_roster_device *d, const char *self)
{
	size_t dlen = strlen(d->device) + 1, klen = 2 * CHS_SIGN_PK_BYTES + 1;
	size_t slen = strlen(d->site) + 1;
	char *p;

	if (!(p = e->strings = chs_malloc(dlen + klen + slen)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	memcpy(p, d->device, dlen);
	e->info.device = p;
	chs_hex(p + dlen, d->key, CHS_SIGN_PK_BYTES);
	e->info.key = p + dlen;
	memcpy(p + dlen + klen, d->site, slen);
	e->info.site = p + dlen + klen;
	e->info.role = role_name(d->role);
	e->info.self = strcmp(d->device, self) == 0;
	e->info.revoked = d->revoked != 0;
	e->info.revoked_after = d->revoked ? d->revoked_after : 0;
	e->info.admin = d->admin != 0;
	return 0;
}

int chs_device_list(chs_device_roster **out, chs_store *s)
{
	chs_device_roster *l = NULL;
	chs_roster *r = NULL;
	size_t i, n;
	int err;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);

	*out = NULL;
	if ((err = chs_store__roster_load(s, &r, NULL)) < 0)
		return err;
	n = chs_roster_count(r);
	if (!(l = chs_calloc(1, sizeof(*l))) || (n && !(l->d = chs_calloc(n, sizeof(*l->d))))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++, l->n++)
		if ((err = device_entry_of(&l->d[i], chs_roster_at(r, i), s->device_id)) < 0)
			goto done;
	*out = l;
	l = NULL;
done:
	chs_device_roster_free(l);
	chs_roster_free(r);
	return err;
}

int chs_device_allowed_signers(chs_store *s, char **text)
{
	chs_roster *r = NULL;
	chs_buf b;
	size_t i;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(text);

	*text = NULL;
	chs_buf_init(&b, 0);
	if ((err = chs_store__roster_load(s, &r, NULL)) < 0)
		goto done;
	err = chs_buf_printf(&b, "# chartsync allowed signers, roster %llu of organisation %s\n"
			     "# use: git -c gpg.ssh.allowedSignersFile=FILE log --show-signature\n",
			     (unsigned long long)chs_roster_seq(r), chs_roster_org(r));
	/* the admin key signs the roster's commits */
	if (err == 0)
		err = chs_buf_printf(&b, "admin namespaces=\"git\" ");
	if (err == 0)
		err = chs_ssh_public_key(&b, chs_roster_admin(r));
	if (err == 0)
		err = chs_buf_put(&b, "\n", 1);
	for (i = 0; err == 0 && i < chs_roster_count(r); i++) {
		const chs_roster_device *d = chs_roster_at(r, i);

		/* a revoked device stays listed: its batches up to the pin remain
		 * valid history (git checks no revocation by date; sync does) */
		if (d->revoked)
			err = chs_buf_printf(&b, "# %s revoked after its batch %llu\n", d->device,
					     (unsigned long long)d->revoked_after);
		if (err == 0)
			err = chs_buf_printf(&b, "%s namespaces=\"git\" ", d->device);
		if (err == 0)
			err = chs_ssh_public_key(&b, d->key);
		if (err == 0)
			err = chs_buf_put(&b, "\n", 1);
	}
	if (err == 0)
		*text = chs_buf_detach(&b);
done:
	chs_buf_dispose(&b);
	chs_roster_free(r);
	return err;
}

/* ------------------------------------------------------------------ */
/* An accepted roster and the admin's secrets                           */

/* Whether `held` (this store's admin key, if any) is still the roster's. */
static int holds_roster_key(chs_store *s, const chs_roster *r, admin_secrets *held)
{
	int yes, err;

	if ((err = chs_store__org_admin(s, &yes)) < 0 || !yes)
		return err;
	if ((err = secrets_load(s, held)) < 0)
		return err;
	return chs_equal(chs_identity_public(held->admin), chs_roster_admin(r),
			 CHS_SIGN_PK_BYTES);
}

int chs_replicate__admin_adopt(chs_store *s, const chs_roster *r)
{
	const chs_roster_device *me = chs_roster_find(r, s->device_id);
	admin_secrets a, held;
	int err;

	memset(&a, 0, sizeof(a));
	memset(&held, 0, sizeof(held));
	if (chs_roster_version(r) < 2)
		return 0; /* names no admin devices: the one admin store keeps its own */
	if (me && me->revoked)
		return chs_store__org_secret_drop(s);
	err = chs_roster_open_admin(r, s->identity, &a.admin);
	if (err == CHS_ENOTFOUND) {
		/* not an admin device: a store that holds the roster's key all the
		 * same (a recovered one) keeps it; a key rotated away is dropped */
		chs_error_clear();
		if ((err = holds_roster_key(s, r, &held)) <= 0) {
			secrets_dispose(&held);
			return err < 0 ? err : chs_store__org_secret_drop(s);
		}
		a.admin = held.admin;
		held.admin = NULL;
		err = 0;
	}
	/* the key ring as the roster seals it to the admin key: every
	 * generation, whichever admin store made it */
	if (err == 0 && (err = chs_roster_open_admin_keys(r, a.admin, &a.kr)) == 0)
		err = secrets_save(s, &a);
	secrets_dispose(&held);
	secrets_dispose(&a);
	return err;
}

/* ------------------------------------------------------------------ */
/* Two admin stores editing at once                                     */

/*
 * Two admin stores may edit the roster while apart: the archive takes the
 * first one's roster and refuses the second's (fast-forward only). The
 * second store's edits are not lost: when it accepts a roster from the
 * archive while it holds rosters it has not published, it keeps what
 * each edit meant (the difference between its newest roster and the last
 * one it published: devices enrolled, with site, role and admin mark;
 * devices revoked, with their pins; admin marks given), drops those
 * rosters, takes the archive's, and makes the same edits again on top of
 * it, signed, to be published; all in the accepting transaction. An edit
 * that no longer applies (the device is enrolled or revoked already) is
 * reported.
 */
enum { EDIT_ENROLL, EDIT_REVOKE, EDIT_ADMIN };

typedef struct roster_edit {
	int kind;
	char device[33];
	unsigned char pk[CHS_SIGN_PK_BYTES];
	char *site;
	chs_role role;
	int admin;
	uint64_t after;
} roster_edit;

typedef struct roster_edits {
	roster_edit *v;
	size_t n, cap;
} roster_edits;

static void edits_dispose(roster_edits *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->v[i].site);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

static int edit_add(roster_edits *e, int kind, const chs_roster_device *d)
{
	roster_edit *x;
	int err;

	if ((err = CHS_ARRAY_GROW(e->v, e->cap, e->n + 1)) < 0)
		return err;
	x = &e->v[e->n];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	memcpy(x->device, d->device, 33);
	memcpy(x->pk, d->key, CHS_SIGN_PK_BYTES);
	x->role = d->role;
	x->admin = d->admin;
	x->after = d->revoked_after;
	if (kind == EDIT_ENROLL && !(x->site = chs_util__strdup(d->site)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	e->n++;
	return 0;
}

/* What `mine` changed against `base`, as edits to make again. */
static int edits_between(const chs_roster *base, const chs_roster *mine, roster_edits *e)
{
	size_t i;
	int err = 0;

	for (i = 0; i < chs_roster_count(mine) && err == 0; i++) {
		const chs_roster_device *d = chs_roster_at(mine, i);
		const chs_roster_device *b = chs_roster_find(base, d->device);

		if (!b)
			err = edit_add(e, EDIT_ENROLL, d);
		if (err == 0 && d->revoked && (!b || !b->revoked))
			err = edit_add(e, EDIT_REVOKE, d);
		else if (err == 0 && b && d->admin && !b->admin && !d->revoked)
			err = edit_add(e, EDIT_ADMIN, d);
	}
	return err;
}

static int load_where(chs_store *s, const char *sql, chs_roster **r)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*r = NULL;
	if ((err = chs_store__prepare(s, &st, sql)) < 0)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = chs_roster_parse(r, sqlite3_column_blob(st, 0),
				       (size_t)sqlite3_column_bytes(st, 0),
				       sqlite3_column_blob(st, 1));
	else if (rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading the roster");
	chs_store__finish(s, st);
	return err;
}

/* This store's unpublished rosters become edits, and go. */
static int set_aside(chs_store *s, roster_edits *e)
{
	chs_roster *base = NULL, *mine = NULL;
	int err;

	if ((err = load_where(s, "SELECT body, signature FROM rosters WHERE oid IS NULL"
			      " ORDER BY seq DESC LIMIT 1", &mine)) < 0 || !mine)
		return err;
	if ((err = load_where(s, "SELECT body, signature FROM rosters WHERE oid IS NOT NULL"
			      " ORDER BY seq DESC LIMIT 1", &base)) == 0 && base)
		err = edits_between(base, mine, e);
	if (err == 0)
		err = chs_store__exec(s, "DELETE FROM rosters WHERE oid IS NULL");
	chs_roster_free(base);
	chs_roster_free(mine);
	return err;
}

static int note_line(chs_buf *notes, const char *fmt, const char *device)
{
	int err = chs_buf_printf(notes, fmt, device);

	return err ? err : chs_buf_puts(notes, "\n");
}

static int apply_edit(chs_roster *r, admin_secrets *a, const roster_edit *x, chs_buf *notes)
{
	const chs_roster_device *d = chs_roster_find(r, x->device);
	int err, was_admin;

	switch (x->kind) {
	case EDIT_ENROLL:
		if (d)
			return note_line(notes, "this store's enrollment of device %s was not"
					 " made again: another admin store enrolled it already",
					 x->device);
		if ((err = chs_roster_enroll(r, &a->kr, x->pk, x->site, x->role)) == 0 && x->admin)
			err = chs_roster_set_admin(r, x->device, a->admin);
		return err ? err : 1;
	case EDIT_REVOKE:
		if (!d || d->revoked)
			return note_line(notes, "this store's revocation of device %s was not made"
					 " again: another admin store revoked it already", x->device);
		was_admin = d->admin;
		if ((err = chs_roster_revoke(r, &a->kr, x->device, x->after)) == 0 && was_admin)
			err = rotate_admin(r, a);
		return err ? err : 1;
	default:
		if (!d || d->revoked || d->admin)
			return 0;
		err = chs_roster_set_admin(r, x->device, a->admin);
		return err ? err : 1;
	}
}

/* Make the set-aside edits again on the roster just accepted. */
static int reapply(chs_store *s, const roster_edits *e, chs_buf *notes, size_t *made)
{
	admin_secrets a;
	chs_roster *r = NULL;
	size_t i, n = 0;
	int yes, err;

	memset(&a, 0, sizeof(a));
	if ((err = chs_store__org_admin(s, &yes)) < 0)
		return err;
	if (!yes) {
		for (i = 0; i < e->n; i++)
			if ((err = note_line(notes, "this store's roster edit about device %s was"
					     " dropped: this store is no longer an admin store",
					     e->v[i].device)) < 0)
				return err;
		return 0;
	}
	if ((err = secrets_load(s, &a)) < 0 || (err = chs_store__roster_load(s, &r, NULL)) < 0)
		goto done;
	for (i = 0; i < e->n && err >= 0; i++)
		if ((err = apply_edit(r, &a, &e->v[i], notes)) > 0)
			n++;
	if (err >= 0 && n > 0)
		err = edit_save(s, r, &a);
	*made = n; /* the last rebase stands: each one makes the edits again */
done:
	chs_roster_free(r);
	secrets_dispose(&a);
	return err < 0 ? err : 0;
}

int chs_replicate__roster_take(chs_store *s, const chs_roster *r, const chs_git_blob *text,
			       const chs_git_blob *sig, const char *oid, chs_buf *notes,
			       size_t *reapplied)
{
	roster_edits e;
	int err;

	memset(&e, 0, sizeof(e));
	if ((err = set_aside(s, &e)) == 0 &&
	    (err = chs_store__roster_save(s, (const char *)text->data, text->len, sig->data, oid,
					  chs_roster_seq(r))) == 0 &&
	    (err = chs_replicate__admin_adopt(s, r)) == 0 && e.n)
		err = reapply(s, &e, notes, reapplied);
	edits_dispose(&e);
	return err;
}

/* ------------------------------------------------------------------ */
/* Publishing (the admin's store, during sync)                          */

static int roster_set_oid(chs_store *s, uint64_t seq, const char *oid)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = chs_store__prepare(s, &st, "UPDATE rosters SET oid = ? WHERE seq = ?")) < 0) {
		chs_store__rollback(s);
		return err;
	}
	if ((err = chs_store__bind_text(s, st, 1, oid)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 2, (int64_t)seq)) < 0) {
		chs_store__finish(s, st);
		chs_store__rollback(s);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE) {
		err = chs_store__sqlerr(s, rc, "saving the roster");
		chs_store__rollback(s);
		return err;
	}
	return chs_store__commit(s);
}

/* The seq of the roster at the tip of the local roster ref (0: none): a
 * sync stopped between the commit and saving its id left it there. */
static int local_roster_seq(chs_git *g, char tip[41], uint64_t *seq)
{
	chs_git_commit *c = NULL;
	chs_roster *r = NULL;
	int err;

	*seq = 0;
	if ((err = chs_git_ref(g, CHS_ROSTER_REF, tip)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0 || (err = chs_git_read(g, tip, &c)) < 0 ||
	    (err = chs_roster_from_commit(&r, c, NULL)) < 0)
		goto done;
	*seq = chs_roster_seq(r);
done:
	chs_roster_free(r);
	chs_git_commit_free(c);
	return err;
}

/* One saved roster not yet in git. */
static int next_unpublished(chs_store *s, chs_roster **r, uint64_t *seq)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*r = NULL;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT seq, body, signature FROM rosters WHERE oid IS NULL ORDER BY seq"
		     " LIMIT 1")) < 0)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*seq = (uint64_t)sqlite3_column_int64(st, 0);
		err = chs_roster_parse(r, sqlite3_column_blob(st, 1),
				       (size_t)sqlite3_column_bytes(st, 1),
				       sqlite3_column_blob(st, 2));
	} else if (rc != SQLITE_DONE) {
		err = chs_store__sqlerr(s, rc, "reading the roster");
	}
	chs_store__finish(s, st);
	return err;
}

/* The local roster ref goes on from the archive's: a store that became
 * an admin store never had one, and another admin store's rosters may
 * have landed since this one's last commit (a commit of its own that the
 * archive refused is replaced: its edit was applied again on top of the
 * archive's, chs_replicate__admin_set_aside). */
static int align_local_roster(chs_git *g)
{
	char mine[41], theirs[41];
	int yes = 0, err;

	if ((err = chs_git_ref(g, FETCHED_ROSTER, theirs)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	if ((err = chs_git_ref(g, CHS_ROSTER_REF, mine)) == CHS_ENOTFOUND) {
		chs_error_clear();
		return chs_git_set_ref(g, CHS_ROSTER_REF, theirs, "");
	}
	if (err < 0 || strcmp(mine, theirs) == 0 ||
	    (err = chs_git_is_ancestor(g, theirs, mine, &yes)) < 0 || yes)
		return err;
	return chs_git_set_ref(g, CHS_ROSTER_REF, theirs, mine);
}

/* Forget unpublished roster `seq`, superseded by a newer one still
 * unpublished (CHS_EDAMAGED when there is none: then nothing may go). */
static int roster_drop_superseded(chs_store *s, uint64_t seq)
{
	int64_t newer = 0;
	char sql[128];
	int err;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM rosters WHERE oid IS NULL AND seq > %llu",
		 (unsigned long long)seq);
	if ((err = chs_store__get_int(s, sql, &newer)) < 0)
		return err;
	if (newer == 0)
		return chs_error_set(CHS_EDAMAGED, "roster %llu waiting to be published is signed by"
				     " an admin key this store no longer holds",
				     (unsigned long long)seq);
	snprintf(sql, sizeof(sql), "DELETE FROM rosters WHERE seq = %llu AND oid IS NULL",
		 (unsigned long long)seq);
	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = chs_store__exec(s, sql)) < 0) {
		chs_store__rollback(s);
		return err;
	}
	return chs_store__commit(s);
}

int chs_replicate__publish_rosters(chs_store *s, chs_git *g)
{
	admin_secrets a;
	chs_roster *r = NULL;
	uint64_t seq, at_tip;
	char tip[41], oid[41];
	int err;

	memset(&a, 0, sizeof(a));
	if ((err = align_local_roster(g)) < 0 || (err = next_unpublished(s, &r, &seq)) < 0 ||
	    !r)
		return err;
	if ((err = secrets_load(s, &a)) < 0)
		goto done;
	while (r) {
		if ((err = local_roster_seq(g, tip, &at_tip)) < 0)
			break;
		if (at_tip == seq) {
			memcpy(oid, tip, sizeof(oid));
		} else if (!chs_equal(chs_roster_admin(r), chs_identity_public(a.admin),
				      CHS_SIGN_PK_BYTES)) {
			/* signed by the admin key a later edit rotated away (an
			 * enrollment, then revoking an admin device, between two
			 * syncs): this store can no longer sign its commit, and the
			 * newer roster holds the same edit, so it goes unpublished */
			if ((err = roster_drop_superseded(s, seq)) < 0)
				break;
			chs_roster_free(r);
			if ((err = next_unpublished(s, &r, &seq)) < 0)
				break;
			continue;
		} else if ((err = chs_roster_commit(g, CHS_ROSTER_REF, r, a.admin, oid)) < 0) {
			break;
		}
		chs_util__fault("roster-committed");
		if ((err = roster_set_oid(s, seq, oid)) < 0)
			break;
		chs_roster_free(r);
		if ((err = next_unpublished(s, &r, &seq)) < 0)
			break;
	}
done:
	chs_roster_free(r);
	secrets_dispose(&a);
	return err;
}

int chs_remote_set(chs_store *s, const char *url)
{
	int err;

	CHS_ASSERT_ARG(s);
	/* where a service sends the clinic's work is a person's decision */
	if ((err = chs_store__refuse_service(s)) < 0)
		return err;
	return chs_config_set(s, "remote.url", url);
}
