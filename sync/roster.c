/*
 * The roster: who may write to the archive and who may read what.
 *
 * The organisation's admin key signs it. It lists the enrolled devices
 * (device id, Ed25519 key, site, role) and, for each device, the data
 * keys its role may read, sealed to that device (crypto_box_seal to the
 * X25519 form of its key): clinics and archivists get the clinical and
 * the billing key, a billing office the billing key only. Data keys come
 * in generations; revoking a device pins its last accepted batch and
 * starts a new generation of every key, sealed only to the devices that
 * remain, so what is written afterwards is closed to it.
 *
 * Encoding (canonical JSON, the bytes the admin signs; readers re-encode
 * and refuse anything that does not come back byte for byte):
 *   {"admin":"<64 hex>","devices":[<device>...],
 *    "generations":{"billing":N,"clinical":N},"org":"<32 hex>","seq":N,"v":1}
 *   device = {"device":"<32 hex>","key":"<64 hex>",
 *             "keys":{"billing":[{"gen":N,"sealed":"<160 hex>"}...],
 *                     "clinical":[...]},
 *             "revoked":null|{"after":N},"role":"clinic|billing|archivist",
 *             "site":"..."}
 * Devices are sorted by device id, sealed keys by generation. seq grows
 * with every change, so a client can refuse a roster older than one it
 * has seen.
 *
 * Version 2 adds three things (a version 1 roster is still read, and
 * re-encoded byte for byte as version 1):
 *   {"admin":..,"admin_keys":{"billing":[..],"clinical":[..]},"devices":..,
 *    "generations":..,"handover":null|"<128 hex>","org":..,"seq":N,"v":2}
 *   device = {"admin":null|"<224 hex>","device":.., ...}
 * - a device's "admin" is the admin key's secret half sealed to it: an
 *   admin device, whose store enrolls and revokes too, so losing one
 *   laptop loses no organisation. Only a role that reads every
 *   compartment may be one: its store keeps every data key.
 * - "admin_keys": every generation of every data key sealed to the admin
 *   key itself, so whoever holds the admin key (an admin device, a
 *   recovery kit) rebuilds the key ring from the newest roster alone.
 * - "handover": revoking an admin device gives the organisation a new
 *   admin key. The roster that introduces it is signed by the new key and
 *   carries the old key's signature over HANDOVER_TAG, the organisation
 *   and the new key. The invariant, kept by every store and the
 *   archive's hook: each roster is signed by the admin key of the roster
 *   before it, or by a key that roster's key handed over to. A revoked
 *   admin device still holds the old key, so once the new key's roster is
 *   accepted the old key signs nothing anyone takes.
 */
#include "sync_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define ROSTER_VERSION 2
#define ROSTER_MAX ((size_t)4 << 20)
#define SEALED_BYTES (CHS_KEY_BYTES + CHS_SEAL_OVERHEAD)
#define ADMIN_SEALED_BYTES (CHS_SIGN_SK_BYTES + CHS_SEAL_OVERHEAD)
#define HANDOVER_TAG "chartsync roster handover v1"

static const char *const comp_names[CHS_NCOMPARTMENTS] = { "billing", "clinical" };
static const char *const role_names[] = { "", "clinic", "billing", "archivist" };

struct chs_roster {
	char org[33];
	unsigned char admin[CHS_SIGN_PK_BYTES];
	uint64_t seq;
	uint32_t gen[CHS_NCOMPARTMENTS];
	chs_roster_device *dev; /* sorted by device id */
	size_t ndev;
	int v;
	/* version 2: the data keys sealed to the admin key, and the previous
	 * admin key's handover to this one */
	chs_roster_key *akeys[CHS_NCOMPARTMENTS];
	size_t nakeys[CHS_NCOMPARTMENTS];
	int has_handover;
	unsigned char handover[CHS_SIGNATURE_BYTES];
};

static int seal_admin_keys(chs_roster *r, const chs_keyring *kr);

static int nomem(void)
{
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

int chs_role_reads(chs_role role, int compartment)
{
	if (compartment == CHS_COMPARTMENT_BILLING)
		return role >= CHS_ROLE_CLINIC && role <= CHS_ROLE_ARCHIVIST;
	return role == CHS_ROLE_CLINIC || role == CHS_ROLE_ARCHIVIST;
}

int chs_role_parse(const char *name, chs_role *out)
{
	int i;

	for (i = CHS_ROLE_CLINIC; i <= CHS_ROLE_ARCHIVIST; i++)
		if (strcmp(name, role_names[i]) == 0) {
			*out = (chs_role)i;
			return 0;
		}
	return chs_error_set(CHS_EINVALID,
			     "'%s' is not a role (clinic, billing or archivist)", name);
}

/* ------------------------------------------------------------------ */
/* The key ring: every generation of every data key, held by the admin  */

int chs_keyring_init(chs_keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
	return chs_keyring_rotate(kr);
}

int chs_keyring_rotate(chs_keyring *kr)
{
	int c;

	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		if (kr->gen[c] >= CHS_MAX_GENERATIONS)
			return chs_error_set(CHS_EINVALID, "too many key generations");
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		if (!(kr->key[c][kr->gen[c]] = chs_key_new()))
			return nomem();
		kr->gen[c]++;
	}
	return 0;
}

void chs_keyring_dispose(chs_keyring *kr)
{
	int c;
	uint32_t g;

	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		for (g = 0; g < kr->gen[c]; g++)
			chs_secret_free(kr->key[c][g]);
	memset(kr, 0, sizeof(*kr));
}

/* ------------------------------------------------------------------ */
/* Building                                                             */

int chs_roster_new(chs_roster **out, const char org[33],
		   const unsigned char admin[CHS_SIGN_PK_BYTES], const chs_keyring *kr)
{
	chs_roster *r = chs_calloc(1, sizeof(*r));
	int c;

	*out = NULL;
	if (!r)
		return nomem();
	if (!chs_sync__is_hex(org, 32)) {
		free(r);
		return chs_error_set(CHS_EINVALID, "an organisation id is 32 hex digits");
	}
	memcpy(r->org, org, 33);
	memcpy(r->admin, admin, CHS_SIGN_PK_BYTES);
	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		r->gen[c] = kr->gen[c];
	r->seq = 1;
	if ((c = seal_admin_keys(r, kr)) < 0) {
		chs_roster_free(r);
		return c;
	}
	*out = r;
	return 0;
}

static void device_dispose(chs_roster_device *d)
{
	int c;

	free(d->site);
	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		free(d->keys[c]);
	memset(d, 0, sizeof(*d));
}

void chs_roster_free(chs_roster *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ndev; i++)
		device_dispose(&r->dev[i]);
	for (i = 0; i < CHS_NCOMPARTMENTS; i++)
		free(r->akeys[i]);
	free(r->dev);
	free(r);
}

/* Seal generations [from, kr->gen) of compartment c to the key `pk`,
 * appending to keys/n. */
static int seal_to(chs_roster_key **keys, size_t *n, const unsigned char *pk,
		   const chs_keyring *kr, int c, uint32_t from)
{
	unsigned char box_pk[32];
	uint32_t g;
	size_t cap;
	int err;

	if (from >= kr->gen[c])
		return 0;
	if ((err = chs_sign_pk_to_box(box_pk, pk)) < 0)
		return err;
	cap = *n;
	if ((err = CHS_ARRAY_GROW(*keys, cap, *n + kr->gen[c] - from)) < 0)
		return err;
	for (g = from; g < kr->gen[c]; g++) {
		chs_roster_key *k = &(*keys)[*n];

		k->gen = g + 1;
		if ((err = chs_seal(k->sealed, kr->key[c][g], CHS_KEY_BYTES, box_pk)) < 0)
			return err;
		(*n)++;
	}
	return 0;
}

/* Seal generations [from, kr->gen) of compartment c to device d. */
static int seal_keys(chs_roster_device *d, const chs_keyring *kr, int c, uint32_t from)
{
	if (!chs_role_reads(d->role, c))
		return 0;
	return seal_to(&d->keys[c], &d->nkeys[c], d->key, kr, c, from);
}

/* The generations the admin key does not hold yet (all of them after a
 * version 1 roster, the new ones after a rotation): an edited roster is
 * a version 2 roster. */
static int seal_admin_keys(chs_roster *r, const chs_keyring *kr)
{
	int c, err = 0;

	for (c = 0; c < CHS_NCOMPARTMENTS && !err; c++)
		err = seal_to(&r->akeys[c], &r->nakeys[c], r->admin, kr, c,
			      (uint32_t)r->nakeys[c]);
	r->v = ROSTER_VERSION;
	return err;
}

static chs_roster_device *find(const chs_roster *r, const char *device)
{
	size_t i;

	for (i = 0; i < r->ndev; i++)
		if (strcmp(r->dev[i].device, device) == 0)
			return &r->dev[i];
	return NULL;
}

const chs_roster_device *chs_roster_find(const chs_roster *r, const char device[33])
{
	return find(r, device);
}

static int by_device(const void *a, const void *b)
{
	return strcmp(((const chs_roster_device *)a)->device,
		      ((const chs_roster_device *)b)->device);
}

int chs_roster_enroll(chs_roster *r, const chs_keyring *kr,
		      const unsigned char key[CHS_SIGN_PK_BYTES], const char *site,
		      chs_role role)
{
	chs_roster_device d;
	unsigned char box_pk[32];
	size_t cap;
	int c, err = 0;

	memset(&d, 0, sizeof(d));
	chs_device_id_of(key, d.device);
	if (find(r, d.device))
		return chs_error_set(CHS_EEXISTS, "device %s is already on the roster", d.device);
	if (role < CHS_ROLE_CLINIC || role > CHS_ROLE_ARCHIVIST || !site || !*site ||
	    !chs_sync__utf8_ok(site, strlen(site)))
		return chs_error_set(CHS_EINVALID, "a device needs a site name and a role");
	if ((err = chs_sign_pk_to_box(box_pk, key)) < 0)
		return err;
	memcpy(d.key, key, CHS_SIGN_PK_BYTES);
	d.role = role;
	if (!(d.site = chs_strdup(site)))
		return nomem();
	for (c = 0; c < CHS_NCOMPARTMENTS && !err; c++)
		err = seal_keys(&d, kr, c, 0);
	cap = r->ndev;
	if (!err)
		err = CHS_ARRAY_GROW(r->dev, cap, r->ndev + 1);
	if (err) {
		device_dispose(&d);
		return err;
	}
	r->dev[r->ndev++] = d;
	qsort(r->dev, r->ndev, sizeof(*r->dev), by_device);
	r->seq++;
	r->has_handover = 0;
	return seal_admin_keys(r, kr);
}

int chs_roster_revoke(chs_roster *r, chs_keyring *kr, const char device[33],
		      uint64_t after)
{
	chs_roster_device *d = find(r, device);
	uint32_t old[CHS_NCOMPARTMENTS];
	size_t i;
	int c, err;

	if (!d)
		return chs_error_set(CHS_ENOTFOUND, "device %s is not on the roster", device);
	if (d->revoked)
		return chs_error_set(CHS_EEXISTS, "device %s is already revoked", device);
	d->revoked = 1;
	d->revoked_after = after;
	d->admin = 0; /* what it held is rotated: chs_roster_rotate_admin */
	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		old[c] = kr->gen[c];
	if ((err = chs_keyring_rotate(kr)) < 0)
		return err;
	for (i = 0; i < r->ndev; i++)
		for (c = 0; c < CHS_NCOMPARTMENTS && !r->dev[i].revoked; c++)
			if ((err = seal_keys(&r->dev[i], kr, c, old[c])) < 0)
				return err;
	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		r->gen[c] = kr->gen[c];
	r->seq++;
	r->has_handover = 0;
	return seal_admin_keys(r, kr);
}

int chs_roster_set_admin(chs_roster *r, const char device[33], const chs_identity *admin)
{
	chs_roster_device *d = find(r, device);
	unsigned char box_pk[32];
	int c, err;

	CHS_ASSERT_ARG(!admin || chs_equal(chs_identity_public(admin), r->admin,
					   CHS_SIGN_PK_BYTES));
	if (!d)
		return chs_error_set(CHS_ENOTFOUND, "device %s is not on the roster", device);
	if (!admin) {
		d->admin = 0;
		return 0;
	}
	if (d->revoked)
		return chs_error_set(CHS_EINVALID, "device %s is revoked: it cannot be an admin"
				     " device", device);
	for (c = 0; c < CHS_NCOMPARTMENTS; c++)
		if (!chs_role_reads(d->role, c))
			return chs_error_set(CHS_EINVALID, "a %s device cannot be an admin device:"
					     " an admin device holds every data key, and a %s"
					     " device may not read %s data; enroll a clinic or an"
					     " archivist as admin", role_names[d->role],
					     role_names[d->role], comp_names[c]);
	if ((err = chs_sign_pk_to_box(box_pk, d->key)) < 0 ||
	    (err = chs_seal(d->admin_sealed, chs_identity_secret(admin), CHS_SIGN_SK_BYTES,
			    box_pk)) < 0)
		return err;
	d->admin = 1;
	r->v = ROSTER_VERSION;
	return 0;
}

/* What the previous admin key signs to hand over to `pk`. */
static void handover_message(unsigned char *msg, const char org[33],
			     const unsigned char pk[CHS_SIGN_PK_BYTES])
{
	memcpy(msg, HANDOVER_TAG, sizeof(HANDOVER_TAG));
	memcpy(msg + sizeof(HANDOVER_TAG), org, 32);
	memcpy(msg + sizeof(HANDOVER_TAG) + 32, pk, CHS_SIGN_PK_BYTES);
}

#define HANDOVER_MSG_BYTES (sizeof(HANDOVER_TAG) + 32 + CHS_SIGN_PK_BYTES)

int chs_roster_rotate_admin(chs_roster *r, const chs_keyring *kr, const chs_identity *old,
			    chs_identity **out)
{
	unsigned char msg[HANDOVER_MSG_BYTES];
	chs_identity *fresh = NULL;
	size_t i;
	int c, err;

	CHS_ASSERT_ARG(chs_equal(chs_identity_public(old), r->admin, CHS_SIGN_PK_BYTES));
	*out = NULL;
	if ((err = chs_identity_new(&fresh)) < 0)
		return err;
	memcpy(r->admin, chs_identity_public(fresh), CHS_SIGN_PK_BYTES);
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		free(r->akeys[c]);
		r->akeys[c] = NULL;
		r->nakeys[c] = 0;
	}
	if ((err = seal_admin_keys(r, kr)) < 0)
		goto fail;
	for (i = 0; i < r->ndev; i++)
		if (r->dev[i].admin && !r->dev[i].revoked &&
		    (err = chs_roster_set_admin(r, r->dev[i].device, fresh)) < 0)
			goto fail;
	handover_message(msg, r->org, r->admin);
	chs_identity_sign(old, r->handover, msg, sizeof(msg));
	r->has_handover = 1;
	*out = fresh;
	return 0;
fail:
	/* the roster is half-changed: the caller throws it away */
	chs_identity_free(fresh);
	return err;
}

int chs_roster_follows_key(const unsigned char before_admin[CHS_SIGN_PK_BYTES],
			   const chs_roster *r)
{
	unsigned char msg[HANDOVER_MSG_BYTES];

	if (chs_equal(before_admin, r->admin, CHS_SIGN_PK_BYTES))
		return 0;
	if (!r->has_handover)
		return chs_error_set(CHS_EDAMAGED, "the roster is not signed by the organisation's"
				     " admin key, nor by a key that key handed over to");
	handover_message(msg, r->org, r->admin);
	if (chs_sign_verify(before_admin, r->handover, msg, sizeof(msg)) < 0)
		return chs_error_set(CHS_EDAMAGED, "the roster's admin key handover is not signed"
				     " by the organisation's admin key (a forged handover)");
	return 0;
}

int chs_roster_follows(const chs_roster *before, const chs_roster *r)
{
	if (strcmp(before->org, r->org) != 0)
		return chs_error_set(CHS_EDAMAGED, "the roster is organisation %s's, not %s's",
				     r->org, before->org);
	return chs_roster_follows_key(before->admin, r);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */

static int put_hex(chs_buf *b, const unsigned char *bin, size_t len)
{
	char hex[2 * ADMIN_SEALED_BYTES + 1];
	int err;

	chs_hex(hex, bin, len);
	if ((err = chs_buf_puts(b, "\"")) < 0 || (err = chs_buf_puts(b, hex)) < 0)
		return err;
	return chs_buf_puts(b, "\"");
}

static int write_keys(chs_buf *b, const char *name, chs_roster_key *const *keys,
		      const size_t *nkeys)
{
	size_t k;
	int c, err = chs_buf_printf(b, "\"%s\":{", name);

	for (c = 0; c < CHS_NCOMPARTMENTS && !err; c++) {
		err = chs_buf_printf(b, "%s\"%s\":[", c ? "," : "", comp_names[c]);
		for (k = 0; k < nkeys[c] && !err; k++) {
			err = chs_buf_printf(b, "%s{\"gen\":%u,\"sealed\":", k ? "," : "",
					     (unsigned)keys[c][k].gen);
			if (!err)
				err = put_hex(b, keys[c][k].sealed, SEALED_BYTES);
			if (!err)
				err = chs_buf_puts(b, "}");
		}
		if (!err)
			err = chs_buf_puts(b, "]");
	}
	return err ? err : chs_buf_puts(b, "}");
}

static int write_device(chs_buf *b, const chs_roster_device *d, int v)
{
	int err = chs_buf_puts(b, "{");

	if (!err && v >= 2)
		err = d->admin ? chs_buf_puts(b, "\"admin\":") : chs_buf_puts(b, "\"admin\":null,");
	if (!err && v >= 2 && d->admin && (err = put_hex(b, d->admin_sealed,
							 ADMIN_SEALED_BYTES)) == 0)
		err = chs_buf_puts(b, ",");
	if (err < 0 ||
	    (err = chs_buf_printf(b, "\"device\":\"%s\",\"key\":", d->device)) < 0 ||
	    (err = put_hex(b, d->key, CHS_SIGN_PK_BYTES)) < 0 ||
	    (err = chs_buf_puts(b, ",")) < 0 ||
	    (err = write_keys(b, "keys", d->keys, d->nkeys)) < 0)
		return err;
	if (d->revoked)
		err = chs_buf_printf(b, ",\"revoked\":{\"after\":%llu}",
				     (unsigned long long)d->revoked_after);
	else
		err = chs_buf_puts(b, ",\"revoked\":null");
	if (!err)
		err = chs_buf_printf(b, ",\"role\":\"%s\",\"site\":", role_names[d->role]);
	if (!err)
		err = chs_canonical_string(b, d->site, strlen(d->site));
	return err ? err : chs_buf_puts(b, "}");
}

static int write_roster(chs_buf *b, const chs_roster *r)
{
	size_t i;
	int err;

	if ((err = chs_buf_puts(b, "{\"admin\":")) < 0 ||
	    (err = put_hex(b, r->admin, CHS_SIGN_PK_BYTES)) < 0 ||
	    (err = chs_buf_puts(b, ",")) < 0)
		return err;
	if (r->v >= 2 && ((err = write_keys(b, "admin_keys", r->akeys, r->nakeys)) < 0 ||
			  (err = chs_buf_puts(b, ",")) < 0))
		return err;
	if ((err = chs_buf_puts(b, "\"devices\":[")) < 0)
		return err;
	for (i = 0; i < r->ndev && !err; i++) {
		if (i)
			err = chs_buf_puts(b, ",");
		if (!err)
			err = write_device(b, &r->dev[i], r->v);
	}
	if (!err)
		err = chs_buf_printf(b, "],\"generations\":{\"billing\":%u,\"clinical\":%u},",
				     (unsigned)r->gen[CHS_COMPARTMENT_BILLING],
				     (unsigned)r->gen[CHS_COMPARTMENT_CLINICAL]);
	if (!err && r->v >= 2)
		err = chs_buf_puts(b, "\"handover\":");
	if (!err && r->v >= 2)
		err = r->has_handover ? put_hex(b, r->handover, CHS_SIGNATURE_BYTES)
				      : chs_buf_puts(b, "null");
	if (!err && r->v >= 2)
		err = chs_buf_puts(b, ",");
	if (!err)
		err = chs_buf_printf(b, "\"org\":\"%s\",\"seq\":%llu,\"v\":%d}", r->org,
				     (unsigned long long)r->seq, r->v);
	return err;
}

int chs_roster_sign(const chs_roster *r, const chs_identity *admin, chs_buf *out,
		    unsigned char sig[CHS_SIGNATURE_BYTES])
{
	size_t start = out->len;
	int err;

	if (!chs_equal(chs_identity_public(admin), r->admin, CHS_SIGN_PK_BYTES))
		return chs_error_set(CHS_EDENIED, "only the organisation's admin key signs its roster");
	if ((err = write_roster(out, r)) < 0)
		return err;
	chs_identity_sign(admin, sig, out->ptr + start, out->len - start);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */

static int bad(const char *what)
{
	return chs_error_set(CHS_EDAMAGED, "the roster is malformed (%s)", what);
}

static int hex_of(json_t *o, const char *key, unsigned char *out, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && strlen(s) == 2 * len && chs_unhex(out, len, s) == 0 ? 0 : -1;
}

static int uint_of(json_t *o, const char *key, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_keys(json_t *o, const char *name, chs_roster_key **keys, size_t *nkeys)
{
	json_t *all = json_object_get(o, name), *list, *k;
	size_t i;
	int c;

	if (!json_is_object(all))
		return -1;
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		list = json_object_get(all, comp_names[c]);
		if (!json_is_array(list) || json_array_size(list) > CHS_MAX_GENERATIONS)
			return -1;
		if (json_array_size(list) &&
		    !(keys[c] = chs_calloc(json_array_size(list), sizeof(*keys[c]))))
			return nomem();
		json_array_foreach(list, i, k) {
			uint64_t gen;

			if (uint_of(k, "gen", CHS_MAX_GENERATIONS, &gen) < 0 || gen == 0 ||
			    hex_of(k, "sealed", keys[c][i].sealed, SEALED_BYTES) < 0)
				return -1;
			keys[c][i].gen = (uint32_t)gen;
			nkeys[c] = i + 1;
		}
	}
	return 0;
}

static int parse_device(json_t *o, chs_roster_device *d, int v)
{
	const char *id = json_string_value(json_object_get(o, "device"));
	const char *site = json_string_value(json_object_get(o, "site"));
	const char *role = json_string_value(json_object_get(o, "role"));
	json_t *rev = json_object_get(o, "revoked");
	char derived[33];

	if (!id || !site || !role || !rev || hex_of(o, "key", d->key, CHS_SIGN_PK_BYTES) < 0)
		return -1;
	chs_device_id_of(d->key, derived);
	if (strcmp(derived, id) != 0 || chs_role_parse(role, &d->role) < 0)
		return -1;
	memcpy(d->device, id, 33);
	if (!(d->site = chs_strdup(site)))
		return nomem();
	if (!json_is_null(rev)) {
		d->revoked = 1;
		if (uint_of(rev, "after", (uint64_t)1 << 53, &d->revoked_after) < 0)
			return -1;
	}
	if (v >= 2 && !json_is_null(json_object_get(o, "admin"))) {
		if (hex_of(o, "admin", d->admin_sealed, ADMIN_SEALED_BYTES) < 0)
			return -1;
		d->admin = 1;
	}
	return parse_keys(o, "keys", d->keys, d->nkeys);
}

static int parse_roster(chs_roster *r, json_t *o)
{
	json_t *devs = json_object_get(o, "devices"), *gens = json_object_get(o, "generations"), *d;
	const char *org = json_string_value(json_object_get(o, "org"));
	uint64_t v, g;
	size_t i;
	int c, err;

	if (uint_of(o, "v", 1000, &v) < 0 || v < 1 || v > ROSTER_VERSION || !org ||
	    !chs_sync__is_hex(org, 32) || hex_of(o, "admin", r->admin, CHS_SIGN_PK_BYTES) < 0 ||
	    uint_of(o, "seq", (uint64_t)1 << 53, &r->seq) < 0 || !json_is_array(devs) ||
	    !json_is_object(gens))
		return -1;
	memcpy(r->org, org, 33);
	r->v = (int)v;
	/* a version 1 roster holds none of these: re-encoding would differ */
	if (v >= 2 && (err = parse_keys(o, "admin_keys", r->akeys, r->nakeys)) < 0)
		return err;
	if (v >= 2 && !json_is_null(json_object_get(o, "handover"))) {
		if (hex_of(o, "handover", r->handover, CHS_SIGNATURE_BYTES) < 0)
			return -1;
		r->has_handover = 1;
	}
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		if (uint_of(gens, comp_names[c], CHS_MAX_GENERATIONS, &g) < 0)
			return -1;
		r->gen[c] = (uint32_t)g;
	}
	if (json_array_size(devs) && !(r->dev = chs_calloc(json_array_size(devs), sizeof(*r->dev))))
		return nomem();
	json_array_foreach(devs, i, d) {
		r->ndev = i + 1;
		if (!json_is_object(d))
			return -1;
		if ((err = parse_device(d, &r->dev[i], r->v)) < 0)
			return err;
	}
	return 0;
}

int chs_roster_parse(chs_roster **out, const char *text, size_t len,
		     const unsigned char sig[CHS_SIGNATURE_BYTES])
{
	chs_roster *r = chs_calloc(1, sizeof(*r));
	json_t *o = NULL;
	chs_buf again;
	int err = 0;

	*out = NULL;
	chs_buf_init(&again, ROSTER_MAX);
	if (!r)
		return nomem();
	/* running out of memory is no verdict on the bytes: CHS_ENOMEM as it
	 * came, never "malformed" */
	if (len > ROSTER_MAX) {
		err = bad("not a roster");
		goto done;
	}
	if (!(o = chs_sync__parse(text, len, "the roster"))) {
		err = chs_error_last_code() == CHS_ENOMEM ? CHS_ENOMEM : bad("not a roster");
		goto done;
	}
	if ((err = parse_roster(r, o)) < 0) {
		if (err != CHS_ENOMEM)
			err = bad("not a roster");
		goto done;
	}
	if ((err = write_roster(&again, r)) == CHS_ENOMEM)
		goto done;
	if (err < 0 || again.len != len || memcmp(again.ptr, text, len)) {
		err = bad("not in canonical form");
		goto done;
	}
	if (chs_sign_verify(r->admin, sig, text, len) < 0) {
		err = chs_error_set(CHS_EDAMAGED, "the roster's signature does not verify");
		goto done;
	}
	*out = r;
	r = NULL;
done:
	json_decref(o);
	chs_buf_dispose(&again);
	chs_roster_free(r);
	return err;
}

/* ------------------------------------------------------------------ */
/* Accessors and a device's own keys                                    */

uint64_t chs_roster_seq(const chs_roster *r)
{
	return r->seq;
}

const char *chs_roster_org(const chs_roster *r)
{
	return r->org;
}

const unsigned char *chs_roster_admin(const chs_roster *r)
{
	return r->admin;
}

int chs_roster_version(const chs_roster *r)
{
	return r->v;
}

uint32_t chs_roster_generation(const chs_roster *r, int compartment)
{
	return compartment >= 0 && compartment < CHS_NCOMPARTMENTS ? r->gen[compartment] : 0;
}

size_t chs_roster_count(const chs_roster *r)
{
	return r->ndev;
}

const chs_roster_device *chs_roster_at(const chs_roster *r, size_t i)
{
	return i < r->ndev ? &r->dev[i] : NULL;
}

int chs_roster_open_key(const chs_roster *r, const chs_identity *me, int compartment,
			uint32_t gen, unsigned char key[CHS_KEY_BYTES])
{
	const chs_roster_device *d;
	char id[33];
	size_t k;

	chs_identity_device_id(me, id);
	if (!(d = find(r, id)))
		return chs_error_set(CHS_EDENIED, "this device is not on the roster");
	if (compartment < 0 || compartment >= CHS_NCOMPARTMENTS)
		return chs_error_set(CHS_EINVALID, "no such compartment");
	for (k = 0; k < d->nkeys[compartment]; k++)
		if (d->keys[compartment][k].gen == gen)
			return chs_identity_unseal(me, key, d->keys[compartment][k].sealed,
						   SEALED_BYTES);
	return chs_error_set(CHS_EDENIED, "this device holds no %s key of generation %u",
			     comp_names[compartment], (unsigned)gen);
}

int chs_roster_open_admin(const chs_roster *r, const chs_identity *me, chs_identity **out)
{
	const chs_roster_device *d;
	unsigned char *sk = NULL;
	char id[33];
	int err;

	*out = NULL;
	chs_identity_device_id(me, id);
	if (!(d = find(r, id)) || !d->admin || d->revoked)
		return CHS_ENOTFOUND;
	if (!(sk = chs_secret_alloc(CHS_SIGN_SK_BYTES)))
		return nomem();
	if ((err = chs_identity_unseal(me, sk, d->admin_sealed, ADMIN_SEALED_BYTES)) == 0 &&
	    (err = chs_identity_from_secret(out, sk)) == 0 &&
	    !chs_equal(chs_identity_public(*out), r->admin, CHS_SIGN_PK_BYTES)) {
		chs_identity_free(*out);
		*out = NULL;
		err = chs_error_set(CHS_EDAMAGED, "the admin key the roster seals to this device"
				    " is not the roster's admin key");
	}
	chs_secret_free(sk);
	return err;
}

int chs_roster_open_admin_keys(const chs_roster *r, const chs_identity *admin,
			       chs_keyring *out)
{
	size_t k;
	int c, err = 0;

	memset(out, 0, sizeof(*out));
	if (r->v < 2)
		return chs_error_set(CHS_EDENIED, "a version 1 roster seals no data keys to the"
				     " admin key");
	if (!chs_equal(chs_identity_public(admin), r->admin, CHS_SIGN_PK_BYTES))
		return chs_error_set(CHS_EDENIED, "that is not the roster's admin key");
	for (c = 0; c < CHS_NCOMPARTMENTS && !err; c++) {
		if (r->nakeys[c] != r->gen[c])
			err = chs_error_set(CHS_EDAMAGED, "the roster seals %zu %s keys to the admin"
					    " key, not %u", r->nakeys[c], comp_names[c],
					    (unsigned)r->gen[c]);
		for (k = 0; k < r->nakeys[c] && !err; k++) {
			if (r->akeys[c][k].gen != k + 1) {
				err = chs_error_set(CHS_EDAMAGED, "the roster's admin keys are out of order");
				break;
			}
			if (!(out->key[c][k] = chs_secret_alloc(CHS_KEY_BYTES)))
				err = nomem();
			else
				out->gen[c] = (uint32_t)k + 1;
			if (!err)
				err = chs_identity_unseal(admin, out->key[c][k], r->akeys[c][k].sealed,
							  SEALED_BYTES);
		}
	}
	if (err)
		chs_keyring_dispose(out);
	return err;
}
