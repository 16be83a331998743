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
 */
#include "sync_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define ROSTER_VERSION 1
#define ROSTER_MAX ((size_t)4 << 20)
#define SEALED_BYTES (CHS_KEY_BYTES + CHS_SEAL_OVERHEAD)

static const char *const comp_names[CHS_NCOMPARTMENTS] = { "billing", "clinical" };
static const char *const role_names[] = { "", "clinic", "billing", "archivist" };

struct chs_roster {
	char org[33];
	unsigned char admin[CHS_SIGN_PK_BYTES];
	uint64_t seq;
	uint32_t gen[CHS_NCOMPARTMENTS];
	chs_roster_device *dev; /* sorted by device id */
	size_t ndev;
};

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
	chs_roster *r = calloc(1, sizeof(*r));
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
	free(r->dev);
	free(r);
}

/* Seal generations [from, kr->gen) of compartment c to device d. */
static int seal_keys(chs_roster_device *d, const chs_keyring *kr, int c, uint32_t from)
{
	unsigned char box_pk[32];
	uint32_t g;
	size_t cap;
	int err;

	if (!chs_role_reads(d->role, c) || from >= kr->gen[c])
		return 0;
	if ((err = chs_sign_pk_to_box(box_pk, d->key)) < 0)
		return err;
	cap = d->nkeys[c];
	if ((err = CHS_ARRAY_GROW(d->keys[c], cap, d->nkeys[c] + kr->gen[c] - from)) < 0)
		return err;
	for (g = from; g < kr->gen[c]; g++) {
		chs_roster_key *k = &d->keys[c][d->nkeys[c]];

		k->gen = g + 1;
		if ((err = chs_seal(k->sealed, kr->key[c][g], CHS_KEY_BYTES, box_pk)) < 0)
			return err;
		d->nkeys[c]++;
	}
	return 0;
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
	if (!(d.site = strdup(site)))
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
	return 0;
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
	return 0;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */

static int put_hex(chs_buf *b, const unsigned char *bin, size_t len)
{
	char hex[2 * SEALED_BYTES + 1];
	int err;

	chs_hex(hex, bin, len);
	if ((err = chs_buf_puts(b, "\"")) < 0 || (err = chs_buf_puts(b, hex)) < 0)
		return err;
	return chs_buf_puts(b, "\"");
}

static int write_keys(chs_buf *b, const chs_roster_device *d)
{
	size_t k;
	int c, err = chs_buf_puts(b, "\"keys\":{");

	for (c = 0; c < CHS_NCOMPARTMENTS && !err; c++) {
		err = chs_buf_printf(b, "%s\"%s\":[", c ? "," : "", comp_names[c]);
		for (k = 0; k < d->nkeys[c] && !err; k++) {
			err = chs_buf_printf(b, "%s{\"gen\":%u,\"sealed\":", k ? "," : "",
					     (unsigned)d->keys[c][k].gen);
			if (!err)
				err = put_hex(b, d->keys[c][k].sealed, SEALED_BYTES);
			if (!err)
				err = chs_buf_puts(b, "}");
		}
		if (!err)
			err = chs_buf_puts(b, "]");
	}
	return err ? err : chs_buf_puts(b, "}");
}

static int write_device(chs_buf *b, const chs_roster_device *d)
{
	int err;

	if ((err = chs_buf_printf(b, "{\"device\":\"%s\",\"key\":", d->device)) < 0 ||
	    (err = put_hex(b, d->key, CHS_SIGN_PK_BYTES)) < 0 ||
	    (err = chs_buf_puts(b, ",")) < 0 || (err = write_keys(b, d)) < 0)
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
	    (err = chs_buf_puts(b, ",\"devices\":[")) < 0)
		return err;
	for (i = 0; i < r->ndev && !err; i++) {
		if (i)
			err = chs_buf_puts(b, ",");
		if (!err)
			err = write_device(b, &r->dev[i]);
	}
	if (!err)
		err = chs_buf_printf(b, "],\"generations\":{\"billing\":%u,\"clinical\":%u},"
				     "\"org\":\"%s\",\"seq\":%llu,\"v\":%d}",
				     (unsigned)r->gen[CHS_COMPARTMENT_BILLING],
				     (unsigned)r->gen[CHS_COMPARTMENT_CLINICAL], r->org,
				     (unsigned long long)r->seq, ROSTER_VERSION);
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

static int parse_keys(json_t *o, chs_roster_device *d)
{
	json_t *keys = json_object_get(o, "keys"), *list, *k;
	size_t i;
	int c;

	if (!json_is_object(keys))
		return -1;
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		list = json_object_get(keys, comp_names[c]);
		if (!json_is_array(list) || json_array_size(list) > CHS_MAX_GENERATIONS)
			return -1;
		if (json_array_size(list) &&
		    !(d->keys[c] = calloc(json_array_size(list), sizeof(*d->keys[c]))))
			return -1;
		json_array_foreach(list, i, k) {
			uint64_t gen;

			if (uint_of(k, "gen", CHS_MAX_GENERATIONS, &gen) < 0 || gen == 0 ||
			    hex_of(k, "sealed", d->keys[c][i].sealed, SEALED_BYTES) < 0)
				return -1;
			d->keys[c][i].gen = (uint32_t)gen;
			d->nkeys[c] = i + 1;
		}
	}
	return 0;
}

static int parse_device(json_t *o, chs_roster_device *d)
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
	if (!(d->site = strdup(site)))
		return -1;
	if (!json_is_null(rev)) {
		d->revoked = 1;
		if (uint_of(rev, "after", (uint64_t)1 << 53, &d->revoked_after) < 0)
			return -1;
	}
	return parse_keys(o, d);
}

static int parse_roster(chs_roster *r, json_t *o)
{
	json_t *devs = json_object_get(o, "devices"), *gens = json_object_get(o, "generations"), *d;
	const char *org = json_string_value(json_object_get(o, "org"));
	uint64_t v, g;
	size_t i;
	int c;

	if (uint_of(o, "v", 1000, &v) < 0 || v != ROSTER_VERSION || !org ||
	    !chs_sync__is_hex(org, 32) || hex_of(o, "admin", r->admin, CHS_SIGN_PK_BYTES) < 0 ||
	    uint_of(o, "seq", (uint64_t)1 << 53, &r->seq) < 0 || !json_is_array(devs) ||
	    !json_is_object(gens))
		return -1;
	memcpy(r->org, org, 33);
	for (c = 0; c < CHS_NCOMPARTMENTS; c++) {
		if (uint_of(gens, comp_names[c], CHS_MAX_GENERATIONS, &g) < 0)
			return -1;
		r->gen[c] = (uint32_t)g;
	}
	if (json_array_size(devs) && !(r->dev = calloc(json_array_size(devs), sizeof(*r->dev))))
		return -1;
	json_array_foreach(devs, i, d) {
		r->ndev = i + 1;
		if (!json_is_object(d) || parse_device(d, &r->dev[i]) < 0)
			return -1;
	}
	return 0;
}

int chs_roster_parse(chs_roster **out, const char *text, size_t len,
		     const unsigned char sig[CHS_SIGNATURE_BYTES])
{
	chs_roster *r = calloc(1, sizeof(*r));
	json_t *o = NULL;
	chs_buf again;
	int err = 0;

	*out = NULL;
	chs_buf_init(&again, ROSTER_MAX);
	if (!r)
		return nomem();
	if (len > ROSTER_MAX || !(o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)) ||
	    parse_roster(r, o) < 0) {
		err = bad("not a roster");
		goto done;
	}
	if (write_roster(&again, r) < 0 || again.len != len || memcmp(again.ptr, text, len)) {
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
