/*
 * Batches: the changes of one local save, signed once over a manifest.
 *
 * Manifest (canonical JSON, the signed bytes; see sync/sync.h):
 *   {"changes":["<64 hex>",...],"device":"<32 hex>","key":"<64 hex>",
 *    "prev":"<64 hex>"|null,"seq":N,"v":1}
 * N is 1 .. 2^53; change ids are listed in the batch's order and never
 * repeat; at most CHS_BATCH_MAX_CHANGES of them. Readers re-encode the
 * manifest and refuse it unless the bytes come back identical.
 *
 * Every change of a batch names the batch's device: a device signs only
 * its own changes, so one device cannot pass off edits as another's.
 *
 * Shipping encoding (chs_batch_encode), binary and length-prefixed so
 * that nothing is escaped twice; all integers are unsigned 32-bit
 * big-endian:
 *   "CHSB"                 4 bytes, magic
 *   0x01                   1 byte, version of this framing
 *   manifest length        u32, at most MANIFEST_MAX
 *   manifest               that many bytes
 *   signature              64 bytes, Ed25519 over the manifest
 *   change count           u32, at most CHS_BATCH_MAX_CHANGES
 *   per change: length     u32, at most CHS_SYNC_CHANGE_MAX_BYTES
 *               encoding   that many bytes (sync/change.c)
 * The input must end exactly after the last change. Decoding checks the
 * framing, the manifest's form and each change's form (CHS_EINVALID) but
 * no signature and no id: that is chs_batch_verify()'s job
 * (CHS_EDAMAGED).
 */
#include "sync_int.h"

#include <stdlib.h>
#include <string.h>

#define MAGIC "CHSB"
#define FRAMING_VERSION 1
/* A full manifest is ~67 bytes per change plus ~250; bytes. */
#define MANIFEST_MAX ((size_t)256 << 10)

typedef struct manifest {
	unsigned char (*ids)[CHS_CHANGE_ID_BYTES];
	size_t nids;
	char device[33];
	unsigned char key[CHS_SIGN_PK_BYTES];
	uint64_t seq;
	int has_prev;
	unsigned char prev[CHS_HASH_BYTES];
} manifest;

static int nomem(void)
{
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

void chs_batch_free(chs_batch *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->nchanges; i++)
		chs_change_free(b->changes[i]);
	free(b->changes);
	free(b->manifest);
	free(b);
}

/* ---------------------------------------------------------------------
 * The manifest
 */

static int write_manifest(chs_buf *out, const manifest *m)
{
	char hex[2 * CHS_HASH_BYTES + 4];
	size_t i;
	int err = chs_buf_puts(out, "{\"changes\":[");

	for (i = 0; i < m->nids && !err; i++) {
		/* ",\"<hex>\"" without printf: a manifest lists up to 1,000 */
		hex[0] = ',';
		hex[1] = '"';
		chs_hex(hex + 2, m->ids[i], CHS_CHANGE_ID_BYTES);
		hex[2 + 2 * CHS_CHANGE_ID_BYTES] = '"';
		err = chs_buf_put(out, i ? hex : hex + 1, i ? 67 : 66);
	}
	chs_hex(hex, m->key, CHS_SIGN_PK_BYTES);
	if (!err)
		err = chs_buf_printf(out, "],\"device\":\"%s\",\"key\":\"%s\","
				     "\"prev\":", m->device, hex);
	chs_hex(hex, m->prev, CHS_HASH_BYTES);
	if (!err)
		err = chs_buf_printf(out, m->has_prev ? "\"%s\"" : "null", hex);
	if (!err)
		err = chs_buf_printf(out, ",\"seq\":%llu,\"v\":1}",
				     (unsigned long long)m->seq);
	return err;
}

static void manifest_dispose(manifest *m);

static int bad_manifest(const char *what)
{
	return chs_error_set(CHS_EINVALID, "not a batch manifest: %s", what);
}

static int hex_member(json_t *o, const char *key, void *bin, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (!s || !chs_sync__is_hex(s, 2 * len) || chs_unhex(bin, len, s) < 0)
		return chs_error_set(CHS_EINVALID, "not a batch manifest: '%s' "
				     "is not %zu lowercase hex digits", key,
				     2 * len);
	return 0;
}

static int id_order(const void *a, const void *b)
{
	return memcmp(a, b, CHS_CHANGE_ID_BYTES);
}

static int has_repeat(unsigned char (*ids)[CHS_CHANGE_ID_BYTES], size_t n)
{
	unsigned char (*copy)[CHS_CHANGE_ID_BYTES];
	size_t i;
	int rep = 0;

	if (n < 2)
		return 0;
	if (!(copy = chs_malloc(n * sizeof(*copy))))
		return nomem();
	memcpy(copy, ids, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), id_order);
	for (i = 1; i < n && !rep; i++)
		rep = memcmp(copy[i - 1], copy[i], CHS_CHANGE_ID_BYTES) == 0;
	free(copy);
	return rep;
}

static int manifest_ids(json_t *o, manifest *m)
{
	json_t *arr = json_object_get(o, "changes"), *v;
	size_t i;
	int rep;

	if (!json_is_array(arr) || json_array_size(arr) > CHS_BATCH_MAX_CHANGES)
		return bad_manifest("'changes' is not a list of at most 1000 ids");
	m->ids = chs_malloc((json_array_size(arr) + 1) * sizeof(*m->ids));
	if (!m->ids)
		return nomem();
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (!s || !chs_sync__is_hex(s, 2 * CHS_CHANGE_ID_BYTES) ||
		    chs_unhex(m->ids[i], CHS_CHANGE_ID_BYTES, s) < 0)
			return bad_manifest("a change id is not 64 hex digits");
		m->nids = i + 1;
	}
	if ((rep = has_repeat(m->ids, m->nids)) != 0)
		return rep < 0 ? rep : bad_manifest("a change is listed twice");
	return 0;
}

static int manifest_fields(json_t *o, manifest *m)
{
	json_t *seq = json_object_get(o, "seq"), *v = json_object_get(o, "v");
	json_t *prev = json_object_get(o, "prev");
	const char *dev = json_string_value(json_object_get(o, "device"));
	int err;

	if (json_object_size(o) != 6 || !prev)
		return bad_manifest("members other than changes, device, key, "
				    "prev, seq and v");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return bad_manifest("'v' is not 1 (made by a newer chartsync?)");
	if (!json_is_integer(seq) || json_integer_value(seq) < 1 ||
	    json_integer_value(seq) > CHS_SYNC_INT_MAX)
		return bad_manifest("'seq' is not a count from 1");
	m->seq = (uint64_t)json_integer_value(seq);
	if (!dev || !chs_sync__is_hex(dev, 32))
		return bad_manifest("'device' is not 32 lowercase hex digits");
	memcpy(m->device, dev, 33);
	if ((err = hex_member(o, "key", m->key, CHS_SIGN_PK_BYTES)) < 0)
		return err;
	m->has_prev = !json_is_null(prev);
	if (m->has_prev &&
	    (err = hex_member(o, "prev", m->prev, CHS_HASH_BYTES)) < 0)
		return err;
	return manifest_ids(o, m);
}

/* The manifest's bytes must be exactly what writing it back gives. */
static int manifest_canonical(const manifest *m, const char *text, size_t len)
{
	chs_buf b;
	int err, same;

	chs_buf_init(&b, MANIFEST_MAX);
	if ((err = write_manifest(&b, m)) < 0)
		return err;
	same = b.len == len && memcmp(b.ptr, text, len) == 0;
	chs_buf_dispose(&b);
	return same ? 0 : bad_manifest("not in canonical form");
}

/* Manifests in the layout write_manifest gives (every one chartsync
 * writes) are read without a JSON parser, a thousand ids at a time being
 * most of a pull's parsing; anything else goes to jansson, which words
 * the error. Either way the result must write back to the same bytes. */
typedef struct mscan {
	const char *p, *end;
} mscan;

static int mlit(mscan *s, const char *text)
{
	size_t n = strlen(text);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, text, n) != 0)
		return 0;
	s->p += n;
	return 1;
}

/* "<hex>" of `bytes` bytes; `copy` (33 bytes) keeps the digits too. */
static int mhex(mscan *s, unsigned char *out, size_t bytes, char *copy)
{
	char hex[2 * CHS_HASH_BYTES + 1];
	size_t n = 2 * bytes;

	if ((size_t)(s->end - s->p) < n + 2 || s->p[0] != '"' || s->p[n + 1] != '"')
		return 0;
	memcpy(hex, s->p + 1, n);
	hex[n] = '\0';
	if (!chs_sync__is_hex(hex, n) || (out && chs_unhex(out, bytes, hex) < 0))
		return 0;
	if (copy)
		memcpy(copy, hex, n + 1);
	s->p += n + 2;
	return 1;
}

static int mseq(mscan *s, uint64_t *seq)
{
	uint64_t v = 0;
	const char *start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && s->p - start < 17)
		v = v * 10 + (uint64_t)(*s->p++ - '0');
	if (s->p == start || v < 1 || v > (uint64_t)CHS_SYNC_INT_MAX)
		return 0;
	*seq = v;
	return 1;
}

/* 1 when read, 0 when jansson must read it, or CHS_ENOMEM. */
static int scan_manifest(manifest *m, const char *text, size_t len)
{
	mscan s = { text, text + len };
	size_t cap;

	if (!mlit(&s, "{\"changes\":["))
		return 0;
	/* each listed id takes at least 67 bytes of the text */
	cap = len / 67 + 1;
	if (!(m->ids = chs_malloc(cap * sizeof(*m->ids))))
		return nomem();
	if (!mlit(&s, "]")) {
		do {
			if (m->nids == CHS_BATCH_MAX_CHANGES || m->nids == cap ||
			    !mhex(&s, m->ids[m->nids], CHS_CHANGE_ID_BYTES, NULL))
				return 0;
			m->nids++;
		} while (mlit(&s, ","));
		if (!mlit(&s, "]"))
			return 0;
	}
	if (!mlit(&s, ",\"device\":") || !mhex(&s, NULL, 16, m->device) ||
	    !mlit(&s, ",\"key\":") || !mhex(&s, m->key, CHS_SIGN_PK_BYTES, NULL) ||
	    !mlit(&s, ",\"prev\":"))
		return 0;
	m->has_prev = !mlit(&s, "null");
	if (m->has_prev && !mhex(&s, m->prev, CHS_HASH_BYTES, NULL))
		return 0;
	return mlit(&s, ",\"seq\":") && mseq(&s, &m->seq) && mlit(&s, ",\"v\":1}") &&
	       s.p == s.end;
}

/* The manifest read without jansson, checked as the full parse checks it;
 * *done 0 (and no error) when the full parse must decide. */
static int parse_plain(manifest *m, const char *text, size_t len, int *done)
{
	int r = scan_manifest(m, text, len);

	*done = 0;
	if (r == 1 && (r = has_repeat(m->ids, m->nids)) == 0 &&
	    manifest_canonical(m, text, len) == 0) {
		*done = 1;
		return 0;
	}
	manifest_dispose(m);
	memset(m, 0, sizeof(*m));
	/* out of memory keeps its message: only a text the fast path merely
	 * could not read goes on to the full parse with no error left over */
	if (r < 0)
		return r;
	chs_error_clear();
	return 0;
}

/* Parse a manifest strictly; CHS_EINVALID when it is not one. */
static int parse_manifest(manifest *m, const char *text, size_t len)
{
	json_t *o = NULL;
	int done, err;

	memset(m, 0, sizeof(*m));
	if (len > MANIFEST_MAX)
		return bad_manifest("too large");
	if ((err = parse_plain(m, text, len, &done)) < 0 || done)
		return err;
	if (!(o = chs_sync__parse(text, len, "batch manifest")))
		return chs_error_last_code();
	if (!json_is_object(o))
		err = bad_manifest("not a JSON object");
	else if ((err = manifest_fields(o, m)) == 0)
		err = manifest_canonical(m, text, len);
	json_decref(o);
	return err;
}

static void manifest_dispose(manifest *m)
{
	free(m->ids);
	m->ids = NULL;
}

/* ---------------------------------------------------------------------
 * Sealing
 */

/* Each change is what it says (id = hash of its encoding) and is this
 * device's; ids go to m->ids. */
static int check_changes(manifest *m, chs_change **changes, size_t n)
{
	size_t i;
	int err;

	if (!(m->ids = chs_malloc((n + 1) * sizeof(*m->ids))))
		return nomem();
	for (i = 0; i < n; i++) {
		if (!changes[i])
			return chs_error_set(CHS_EINVALID, "batch: change %zu "
					     "is missing", i + 1);
		if (changes[i]->encoding)
			chs_hash(m->ids[i], changes[i]->encoding, changes[i]->encoding_len);
		else if ((err = chs_sync__change_id(changes[i], m->ids[i])) < 0)
			return chs_error_wrap(err, "batch: change %zu", i + 1);
		if (memcmp(m->ids[i], changes[i]->id, CHS_CHANGE_ID_BYTES) != 0)
			return chs_error_set(CHS_EINVALID, "batch: change %zu was "
					     "modified after it was encoded "
					     "(encode it again)", i + 1);
		if (strcmp(changes[i]->device, m->device) != 0)
			return chs_error_set(CHS_EINVALID, "batch: change %zu "
					     "names device '%s', not this "
					     "device '%s'", i + 1,
					     changes[i]->device, m->device);
		m->nids = i + 1;
	}
	if ((err = has_repeat(m->ids, n)) != 0)
		return err < 0 ? err : chs_error_set(CHS_EINVALID, "batch: a "
						     "change is in it twice");
	return 0;
}

static void fill_from(chs_batch *b, const manifest *m)
{
	memcpy(b->key, m->key, sizeof(b->key));
	memcpy(b->device, m->device, sizeof(b->device));
	b->seq = m->seq;
	b->has_prev = m->has_prev;
	memcpy(b->prev, m->prev, sizeof(b->prev));
	chs_hash(b->id, b->manifest, b->manifest_len);
}

/* The manifest of a batch about to be sealed, changes checked. */
static int plan_manifest(manifest *m, const chs_identity *id, uint64_t seq,
			 const unsigned char *prev, chs_change **changes,
			 size_t n)
{
	if (!id || n > CHS_BATCH_MAX_CHANGES || (n && !changes) || seq < 1 ||
	    seq > (uint64_t)CHS_SYNC_INT_MAX)
		return chs_error_set(CHS_EINVALID, "batch: %zu changes (at most "
				     "%d) or sequence number %llu out of range",
				     n, CHS_BATCH_MAX_CHANGES,
				     (unsigned long long)seq);
	memcpy(m->key, chs_identity_public(id), CHS_SIGN_PK_BYTES);
	chs_identity_device_id(id, m->device);
	m->seq = seq;
	if ((m->has_prev = prev != NULL))
		memcpy(m->prev, prev, CHS_HASH_BYTES);
	return check_changes(m, changes, n);
}

int chs_batch_seal(chs_batch **out, const chs_identity *id, uint64_t seq,
		   const unsigned char *prev, chs_change **changes, size_t n)
{
	chs_batch *b = NULL;
	manifest m;
	chs_buf text;
	int err;

	memset(&m, 0, sizeof(m));
	chs_buf_init(&text, MANIFEST_MAX);
	*out = NULL;
	if ((err = plan_manifest(&m, id, seq, prev, changes, n)) < 0 ||
	    (err = write_manifest(&text, &m)) < 0)
		goto done;
	if (!(b = chs_calloc(1, sizeof(*b)))) {
		err = nomem();
		goto done;
	}
	b->manifest_len = text.len;
	b->manifest = chs_buf_detach(&text);
	chs_identity_sign(id, b->signature, b->manifest, b->manifest_len);
	fill_from(b, &m);
	b->changes = changes;
	b->nchanges = n;
	*out = b;
done:
	chs_buf_dispose(&text);
	manifest_dispose(&m);
	return err;
}

/* Parse `text` as b's manifest and take a copy of it and of `sig`. */
static int adopt_manifest(chs_batch *b, manifest *m, const char *text,
			  size_t len, const unsigned char *sig)
{
	int err;

	if ((err = parse_manifest(m, text, len)) < 0)
		return err;
	if (!(b->manifest = chs_malloc(len + 1)))
		return nomem();
	memcpy(b->manifest, text, len);
	b->manifest[len] = '\0';
	b->manifest_len = len;
	memcpy(b->signature, sig, CHS_SIGNATURE_BYTES);
	fill_from(b, m);
	return 0;
}

int chs_batch_from_manifest(chs_batch **out, const char *text, size_t len,
			    const unsigned char sig[CHS_SIGNATURE_BYTES])
{
	chs_batch *b = NULL;
	manifest m;
	int err;

	memset(&m, 0, sizeof(m));
	*out = NULL;
	if (!text || !sig)
		err = bad_manifest("missing");
	else if (!(b = chs_calloc(1, sizeof(*b))))
		err = nomem();
	else
		err = adopt_manifest(b, &m, text, len, sig);
	if (err == 0) {
		*out = b;
		b = NULL;
	}
	manifest_dispose(&m);
	chs_batch_free(b);
	return err;
}

/* ---------------------------------------------------------------------
 * Verifying and proving
 */

static int damaged(const chs_batch *b, const char *what)
{
	char hex[17];

	chs_hex(hex, b->id, 8);
	return chs_error_set(CHS_EDAMAGED, "batch %s from device '%.32s': %s "
			     "(altered or damaged; fetch it again)", hex,
			     b->device, what);
}

/* The struct says what its manifest says. */
static int same_as_manifest(const chs_batch *b, const manifest *m)
{
	unsigned char id[CHS_HASH_BYTES];

	chs_hash(id, b->manifest, b->manifest_len);
	return memcmp(id, b->id, sizeof(id)) == 0 &&
	       memcmp(m->key, b->key, sizeof(m->key)) == 0 &&
	       strcmp(m->device, b->device) == 0 && m->seq == b->seq &&
	       m->has_prev == !!b->has_prev &&
	       (!m->has_prev || memcmp(m->prev, b->prev, sizeof(m->prev)) == 0);
}

/* The manifest is signed by its key and the key is its device's. */
static int check_signer(const manifest *m, const char *text, size_t len,
			const unsigned char sig[CHS_SIGNATURE_BYTES])
{
	char dev[33];

	chs_device_id_of(m->key, dev);
	if (strcmp(dev, m->device) != 0)
		return chs_error_set(CHS_EDAMAGED, "batch: device '%s' does not "
				     "match its key (device '%s')", m->device,
				     dev);
	if (chs_sign_verify(m->key, sig, text, len) < 0)
		return chs_error_set(CHS_EDAMAGED, "batch from device '%s': the "
				     "signature does not verify", m->device);
	return 0;
}

/* The id of a change of the batch: encoded again unless `decoded` (it
 * was just decoded, so its id is the hash of its checked encoding). */
static int id_of(const chs_change *c, int decoded, unsigned char id[CHS_CHANGE_ID_BYTES])
{
	if (!c)
		return CHS_EINVALID;
	if (!decoded)
		return chs_sync__change_id(c, id);
	memcpy(id, c->id, CHS_CHANGE_ID_BYTES);
	return 0;
}

/* 0 when change i of the batch is manifest entry i and the device's. */
static int check_listed(const chs_batch *b, const manifest *m, size_t i, int decoded)
{
	unsigned char id[CHS_CHANGE_ID_BYTES];

	int err;

	/* out of memory is no verdict on the change */
	if ((err = id_of(b->changes[i], decoded, id)) < 0)
		return err == CHS_ENOMEM ? err : damaged(b, "a change cannot be encoded");
	if (memcmp(id, m->ids[i], sizeof(id)) != 0)
		return damaged(b, "a change is not the one its manifest lists");
	if (strcmp(b->changes[i]->device, m->device) != 0)
		return damaged(b, "a change names another device");
	return 0;
}

/* The manifest parses, matches the struct and is signed by its device. */
static int check_head(const chs_batch *b, manifest *m)
{
	char hex[17];
	int err;

	chs_hex(hex, b->id, 8);
	if ((err = parse_manifest(m, b->manifest, b->manifest_len)) < 0)
		return err == CHS_ENOMEM ? err
		       : chs_error_wrap(CHS_EDAMAGED, "batch %s", hex);
	if (!same_as_manifest(b, m))
		return damaged(b, "its fields differ from its manifest");
	return check_signer(m, b->manifest, b->manifest_len, b->signature);
}

static int verify_all(const chs_batch *b, int decoded)
{
	manifest m;
	size_t i;
	int err;

	memset(&m, 0, sizeof(m));
	if (!b || !b->manifest)
		return chs_error_set(CHS_EINVALID, "batch: nothing to verify");
	if ((err = check_head(b, &m)) < 0)
		goto done;
	if (b->nchanges != m.nids || (b->nchanges && !b->changes)) {
		err = damaged(b, "it holds other changes than its manifest lists");
		goto done;
	}
	for (i = 0; !err && i < m.nids; i++)
		err = check_listed(b, &m, i, decoded);
done:
	manifest_dispose(&m);
	return err;
}

int chs_batch_verify(const chs_batch *b)
{
	return verify_all(b, 0);
}

/* Position of change `id` in the manifest at `from` or after, or -1. */
static long manifest_pos_from(const manifest *m, const unsigned char *id, size_t from)
{
	size_t j;

	for (j = from; j < m->nids; j++)
		if (memcmp(m->ids[j], id, CHS_CHANGE_ID_BYTES) == 0)
			return (long)j;
	return -1;
}

/* Position of change `id` in the manifest, or -1. */
static long manifest_pos(const manifest *m, const unsigned char *id)
{
	return manifest_pos_from(m, id, 0);
}

static int verify_subset(const chs_batch *b, int decoded)
{
	unsigned char id[CHS_CHANGE_ID_BYTES];
	manifest m;
	long last = -1, pos;
	size_t i;
	int err;

	memset(&m, 0, sizeof(m));
	if (!b || !b->manifest)
		return chs_error_set(CHS_EINVALID, "batch: nothing to verify");
	if ((err = check_head(b, &m)) < 0)
		goto done;
	for (i = 0; !err && i < b->nchanges; i++) {
		/* in order, each change is after the one before it: searching
		 * from there keeps a 1,000-change batch to one pass over its
		 * manifest; only a refusal looks at the whole of it */
		if ((err = id_of(b->changes[i], decoded, id)) < 0)
			err = err == CHS_ENOMEM ? err : damaged(b, "a change cannot be encoded");
		else if ((pos = manifest_pos_from(&m, id, (size_t)(last + 1))) < 0)
			err = damaged(b, manifest_pos(&m, id) < 0
					? "it holds a change its manifest does not list"
					: "its changes are not in the manifest's order");
		else if (strcmp(b->changes[i]->device, m.device) != 0)
			err = damaged(b, "a change names another device");
		else
			last = pos;
	}
done:
	manifest_dispose(&m);
	return err;
}

int chs_batch_verify_subset(const chs_batch *b)
{
	return verify_subset(b, 0);
}

int chs_sync__verify_decoded(const chs_batch *b, int complete)
{
	return complete ? verify_all(b, 1) : verify_subset(b, 1);
}

int chs_batch_manifest_ids(const chs_batch *b, unsigned char (**ids)[CHS_CHANGE_ID_BYTES],
			   size_t *n)
{
	manifest m;
	int err;

	*ids = NULL;
	*n = 0;
	memset(&m, 0, sizeof(m));
	if ((err = parse_manifest(&m, b->manifest, b->manifest_len)) < 0)
		return err;
	*ids = m.ids; /* handed over */
	*n = m.nids;
	m.ids = NULL;
	manifest_dispose(&m);
	return 0;
}

int chs_sync__manifest_order(const chs_batch *b, chs_change **changes, size_t n)
{
	manifest m;
	long *pos = NULL;
	size_t i, j;
	int err;

	memset(&m, 0, sizeof(m));
	if ((err = parse_manifest(&m, b->manifest, b->manifest_len)) < 0)
		return err;
	if (n && !(pos = chs_malloc(n * sizeof(*pos)))) {
		manifest_dispose(&m);
		return nomem();
	}
	for (i = 0; i < n; i++)
		/* usually in the manifest's order already */
		pos[i] = i < m.nids && memcmp(m.ids[i], changes[i]->id, CHS_CHANGE_ID_BYTES) == 0
			 ? (long)i : manifest_pos(&m, changes[i]->id);
	/* insertion sort: a batch holds at most 1,000 changes */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && pos[j - 1] > pos[j]; j--) {
			long tp = pos[j];
			chs_change *tc = changes[j];

			pos[j] = pos[j - 1];
			changes[j] = changes[j - 1];
			pos[j - 1] = tp;
			changes[j - 1] = tc;
		}
	free(pos);
	manifest_dispose(&m);
	return 0;
}

int chs_batch_prove(const char *manifest_text, size_t manifest_len,
		    const unsigned char sig[CHS_SIGNATURE_BYTES],
		    const chs_change *c)
{
	unsigned char id[CHS_CHANGE_ID_BYTES];
	manifest m;
	size_t i;
	int err;

	if ((err = parse_manifest(&m, manifest_text, manifest_len)) < 0) {
		manifest_dispose(&m);
		return err == CHS_ENOMEM ? err
		       : chs_error_wrap(CHS_EDAMAGED, "cannot prove change");
	}
	if ((err = check_signer(&m, manifest_text, manifest_len, sig)) < 0)
		goto done;
	err = chs_error_set(CHS_EDAMAGED, "change is not in this batch of "
			    "device '%s'", m.device);
	if (!c || chs_sync__change_id(c, id) < 0 ||
	    strcmp(c->device, m.device) != 0)
		goto done;
	for (i = 0; i < m.nids; i++) {
		if (memcmp(m.ids[i], id, sizeof(id)) == 0) {
			chs_error_clear();
			err = 0;
			break;
		}
	}
done:
	manifest_dispose(&m);
	return err;
}

/* ---------------------------------------------------------------------
 * Shipping
 */

static int put_u32(chs_buf *out, size_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	return chs_buf_put(out, b, 4);
}

/* Write the length of what follows `at` (its 4-byte slot) into the slot. */
static int patch_len(chs_buf *out, size_t at)
{
	size_t len = out->len - at - 4;
	unsigned char *p = (unsigned char *)out->ptr + at;

	if (len > CHS_SYNC_CHANGE_MAX_BYTES)
		return chs_error_set(CHS_EINVALID, "batch: a change is too "
				     "large to ship");
	p[0] = (unsigned char)(len >> 24);
	p[1] = (unsigned char)(len >> 16);
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
	return 0;
}

int chs_batch_encode(const chs_batch *b, chs_buf *out)
{
	size_t start = out->len, i, at;
	int err;

	if (b->manifest_len > MANIFEST_MAX || b->nchanges > CHS_BATCH_MAX_CHANGES)
		return chs_error_set(CHS_EINVALID, "batch: too large to ship");
	if ((err = chs_buf_put(out, MAGIC "\x01", 5)) < 0 ||
	    (err = put_u32(out, b->manifest_len)) < 0 ||
	    (err = chs_buf_put(out, b->manifest, b->manifest_len)) < 0 ||
	    (err = chs_buf_put(out, b->signature, CHS_SIGNATURE_BYTES)) < 0 ||
	    (err = put_u32(out, b->nchanges)) < 0)
		goto done;
	for (i = 0; i < b->nchanges && !err; i++) {
		at = out->len;
		if ((err = put_u32(out, 0)) == 0 &&
		    (err = chs_sync__change_write(b->changes[i], out)) == 0)
			err = patch_len(out, at);
	}
done:
	if (err < 0 && out->ptr) {
		out->len = start;
		out->ptr[start] = '\0';
	}
	return err;
}

/* A bounds-checked reader over the shipped bytes. */
typedef struct reader {
	const unsigned char *p;
	size_t left;
} reader;

static int take(reader *r, const void **out, size_t n)
{
	if (n > r->left)
		return chs_error_set(CHS_EINVALID, "not a batch: it ends early "
				     "(truncated?)");
	*out = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

static int take_u32(reader *r, size_t *out, size_t max, const char *what)
{
	const unsigned char *b = NULL;
	int err;

	if ((err = take(r, (const void **)&b, 4)) < 0)
		return err;
	*out = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
	if (*out > max)
		return chs_error_set(CHS_EINVALID, "not a batch: %s %zu is over "
				     "the limit %zu", what, *out, max);
	return 0;
}

static int read_head(reader *r, chs_batch *b, manifest *m)
{
	const void *magic = NULL, *text = NULL, *sig = NULL;
	size_t len = 0;
	int err;

	if ((err = take(r, &magic, 5)) < 0)
		return err;
	if (memcmp(magic, MAGIC, 4) != 0 ||
	    ((const unsigned char *)magic)[4] != FRAMING_VERSION)
		return chs_error_set(CHS_EINVALID, "not a batch (or made by a "
				     "newer chartsync)");
	if ((err = take_u32(r, &len, MANIFEST_MAX, "manifest length")) < 0 ||
	    (err = take(r, &text, len)) < 0 ||
	    (err = take(r, &sig, CHS_SIGNATURE_BYTES)) < 0)
		return err;
	return adopt_manifest(b, m, text, len, sig);
}

static int read_changes(reader *r, chs_batch *b)
{
	size_t n, i, len;
	const void *bytes = NULL;
	int err;

	if ((err = take_u32(r, &n, CHS_BATCH_MAX_CHANGES, "change count")) < 0)
		return err;
	if (!(b->changes = chs_calloc(n ? n : 1, sizeof(*b->changes))))
		return nomem();
	for (i = 0; i < n; i++) {
		if ((err = take_u32(r, &len, CHS_SYNC_CHANGE_MAX_BYTES,
				    "change length")) < 0 ||
		    (err = take(r, &bytes, len)) < 0)
			return err;
		if ((err = chs_sync__change_decode_kept(&b->changes[i], bytes, len)) < 0)
			return chs_error_wrap(err, "batch change %zu", i + 1);
		b->nchanges = i + 1;
	}
	return 0;
}

int chs_batch_decode(chs_batch **out, const void *bytes, size_t len)
{
	reader r = { bytes, len };
	chs_batch *b = NULL;
	manifest m;
	int err;

	memset(&m, 0, sizeof(m));
	*out = NULL;
	if (!(b = chs_calloc(1, sizeof(*b)))) {
		err = nomem();
		goto done;
	}
	if ((err = read_head(&r, b, &m)) < 0 || (err = read_changes(&r, b)) < 0)
		goto done;
	if (r.left) {
		err = chs_error_set(CHS_EINVALID, "not a batch: %zu bytes of "
				    "garbage after it", r.left);
		goto done;
	}
	*out = b;
	b = NULL;
done:
	manifest_dispose(&m);
	chs_batch_free(b);
	return err;
}
