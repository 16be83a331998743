/*
 * The key slot file, DIR/keyslots.
 *
 * It must be readable before the store is unlocked, so it lives outside
 * the encrypted database. It holds nothing secret: per user, the Argon2id
 * parameters, the salt and the wrapped store key. Who is a user and who
 * is an admin is decided inside the encrypted database; a slot only lets
 * its owner unwrap the key. Format (version 2):
 *
 *   {"format":"chartsync-keyslots","version":2,"store":"<32 hex>",
 *    "slots":{"<user>":{"kdf":"argon2id13","ops":N,"mem":BYTES,
 *                       "salt":"<hex>","wrapped":"<hex>",
 *                       "box":"<64 hex>","sealed":"<hex>"}, ...}}
 *
 * A slot with "box" and "sealed" is a version 2 slot (crypto/slot.c): the
 * passphrase unwraps the slot's own X25519 secret key, and the store key
 * is sealed to "box", so `rekey` can seal a new key to every slot. A slot
 * without them (all of a version 1 file) wraps the store key itself; it
 * is upgraded the next time its user opens the store.
 *
 * The file is replaced atomically (temp file, fsync, rename).
 */
#include "store_int.h"
#include "client/util/file.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS_FORMAT "chartsync-keyslots"
#define SLOTS_VERSION 2
#define SLOTS_MAX_BYTES (1u << 20)
#define KDF_NAME "argon2id13"

static int bad_file(const char *path)
{
	return chs_error_set(CHS_ENOTSTORE,
			     "'%s' is not a chartsync key slot file or is damaged",
			     path);
}

static int hex_field(json_t *obj, const char *name, void *out, size_t len)
{
	const char *hex = json_string_value(json_object_get(obj, name));

	return hex ? chs_unhex(out, len, hex) : CHS_EINVALID;
}

static int parse_slot(chs_slot *slot, json_t *obj)
{
	json_t *ops = json_object_get(obj, "ops"), *mem = json_object_get(obj, "mem");
	const char *kdf = json_string_value(json_object_get(obj, "kdf"));

	if (!kdf || strcmp(kdf, KDF_NAME) != 0 || !json_is_integer(ops) ||
	    !json_is_integer(mem) || json_integer_value(ops) <= 0 ||
	    json_integer_value(mem) <= 0)
		return CHS_EINVALID;
	slot->kdf.ops = (uint64_t)json_integer_value(ops);
	slot->kdf.mem = (uint64_t)json_integer_value(mem);
	if (hex_field(obj, "salt", slot->salt, sizeof(slot->salt)) < 0 ||
	    hex_field(obj, "wrapped", slot->wrapped, sizeof(slot->wrapped)) < 0)
		return CHS_EINVALID;
	slot->version = 1;
	if (!json_object_get(obj, "box") && !json_object_get(obj, "sealed"))
		return 0;
	if (hex_field(obj, "box", slot->box_pk, sizeof(slot->box_pk)) < 0 ||
	    hex_field(obj, "sealed", slot->sealed, sizeof(slot->sealed)) < 0)
		return CHS_EINVALID;
	slot->version = 2;
	return 0;
}

static int parse_slots(chs_slot_file *sf, json_t *root)
{
	json_t *slots = json_object_get(root, "slots"), *val;
	const char *fmt = json_string_value(json_object_get(root, "format"));
	const char *store = json_string_value(json_object_get(root, "store"));
	json_t *ver = json_object_get(root, "version");
	const char *user;
	unsigned char id[16];

	if (!fmt || strcmp(fmt, SLOTS_FORMAT) != 0 || !json_is_integer(ver) ||
	    json_integer_value(ver) < 1 || json_integer_value(ver) > SLOTS_VERSION || !store ||
	    chs_unhex(id, sizeof(id), store) < 0 || !json_is_object(slots))
		return CHS_EINVALID;
	memcpy(sf->store_id, store, 33);
	sf->entries = chs_calloc(json_object_size(slots) + 1, sizeof(*sf->entries));
	if (!sf->entries)
		return CHS_ENOMEM;
	json_object_foreach(slots, user, val) {
		chs_slot_entry *e = &sf->entries[sf->count];

		if (!json_is_object(val) || parse_slot(&e->slot, val) < 0)
			return CHS_EINVALID;
		if (!(e->user = chs_util__strdup(user)))
			return CHS_ENOMEM;
		sf->count++;
	}
	return 0;
}

int chs_store__slots_read(chs_slot_file *sf, const char *path)
{
	json_error_t jerr;
	json_t *root = NULL;
	char *text = NULL;
	size_t len = 0;
	int err;

	memset(sf, 0, sizeof(*sf));
	if ((err = chs_file_read(path, SLOTS_MAX_BYTES, &text, &len)) < 0)
		return err == CHS_EINVALID ? bad_file(path) : err;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || (err = parse_slots(sf, root)) < 0) {
		err = err == CHS_ENOMEM ? chs_error_set(err, "out of memory")
					: bad_file(path);
		chs_store__slots_dispose(sf);
	}
	json_decref(root);
	free(text);
	return err;
}

static json_t *slot_json(const chs_slot *slot)
{
	char salt[2 * CHS_SALT_BYTES + 1], wrapped[2 * CHS_SLOT_WRAPPED_BYTES + 1];
	char box[2 * CHS_SLOT_BOX_BYTES + 1], sealed[2 * CHS_SLOT_SEALED_BYTES + 1];
	json_t *o;

	chs_hex(salt, slot->salt, sizeof(slot->salt));
	chs_hex(wrapped, slot->wrapped, sizeof(slot->wrapped));
	o = json_pack("{s:s, s:I, s:I, s:s, s:s}", "kdf", KDF_NAME, "ops",
		      (json_int_t)slot->kdf.ops, "mem", (json_int_t)slot->kdf.mem,
		      "salt", salt, "wrapped", wrapped);
	if (!o || slot->version < 2)
		return o;
	chs_hex(box, slot->box_pk, sizeof(slot->box_pk));
	chs_hex(sealed, slot->sealed, sizeof(slot->sealed));
	if (json_object_set_new(o, "box", json_string(box)) < 0 ||
	    json_object_set_new(o, "sealed", json_string(sealed)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int chs_store__slots_write(const chs_slot_file *sf, const char *path)
{
	json_t *root, *slots;
	char *text = NULL;
	size_t i;
	int err;

	slots = json_object();
	root = json_pack("{s:s, s:i, s:s, s:o}", "format", SLOTS_FORMAT,
			 "version", SLOTS_VERSION, "store", sf->store_id,
			 "slots", slots);
	if (!root) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < sf->count; i++)
		if (json_object_set_new(slots, sf->entries[i].user,
					slot_json(&sf->entries[i].slot)) < 0) {
			err = chs_error_set(CHS_ENOMEM, "out of memory");
			goto done;
		}
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto done;
	}
	err = chs_file_write(path, text, strlen(text), 0600);
done:
	free(text);
	json_decref(root);
	return err;
}

void chs_store__slots_dispose(chs_slot_file *sf)
{
	size_t i;

	if (!sf)
		return;
	for (i = 0; i < sf->count; i++)
		free(sf->entries[i].user);
	free(sf->entries);
	sf->entries = NULL;
	sf->count = 0;
}

chs_slot_entry *chs_store__slots_find(chs_slot_file *sf, const char *user)
{
	size_t i;

	for (i = 0; i < sf->count; i++)
		if (strcmp(sf->entries[i].user, user) == 0)
			return &sf->entries[i];
	return NULL;
}

int chs_store__slots_put(chs_slot_file *sf, const char *user,
			 const chs_slot *slot)
{
	chs_slot_entry *e = chs_store__slots_find(sf, user);
	size_t cap = sf->count; /* the file keeps no spare room */
	int err;

	if (e) {
		e->slot = *slot;
		return 0;
	}
	if ((err = CHS_ARRAY_GROW(sf->entries, cap, sf->count + 1)) < 0)
		return err;
	e = &sf->entries[sf->count];
	if (!(e->user = chs_util__strdup(user)))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	e->slot = *slot;
	sf->count++;
	return 0;
}

void chs_store__slots_remove(chs_slot_file *sf, const char *user)
{
	chs_slot_entry *e = chs_store__slots_find(sf, user);

	if (!e)
		return;
	free(e->user);
	*e = sf->entries[--sf->count];
}
