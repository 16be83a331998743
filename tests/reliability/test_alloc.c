/*
 * Allocation failures (issue 18): the core paths run again and again with
 * the Nth allocation failing, N = 1, 2, ... until a run completes with no
 * allocation failed. The count covers chartsync's own allocations and
 * SQLite's, jansson's and libgit2's (tests/support/allocfault.c). Every
 * run must return 0 or CHS_ENOMEM with "out of memory" in its message
 * (never "damaged" or "malformed", which would send a technician after
 * the wrong problem), never crash, and leak nothing (LeakSanitizer, in
 * the sanitizer build). After a failed run of a store path, with the
 * drill off, the store passes its check and holds the state from before
 * the run (or, had the change been committed, after it).
 *
 * The quick mode (CI) tries every N while a path makes few enough
 * allocations, else a seeded sample across all of them (the seed is
 * printed; CHARTSYNC_SEED replays it); CHARTSYNC_RELIABILITY=full tries
 * every N.
 */
#include "client/chartsync.h"
#include "support/allocfault.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"
#include "sync/sync.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the drill ---- */

typedef struct scenario {
	const char *name;
	void (*prepare)(void);              /* before each run, drill off */
	int (*run)(void);                   /* the path, under the drill */
	void (*judge)(int err, int failed); /* after it, drill off */
} scenario;

/* How many points a scenario tries in the quick mode before it samples
 * (fewer under the sanitizers, where each run costs several times more). */
static unsigned long quick_budget(void)
{
	return tu_sanitized() ? 1000 : 2000;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One run with allocation `nth` failing (0: none), and with `sticky`
 * every one after it too; whether any failed. */
static int run_at(const scenario *sc, unsigned long nth, int sticky, int *failed,
		  unsigned long *count)
{
	int err;

	if (sc->prepare)
		sc->prepare();
	chs_error_clear();
	chs_alloc_fail_at(nth, sticky);
	err = sc->run();
	*failed = chs_alloc_failed() > 0;
	*count = chs_alloc_count();
	chs_alloc_fail_at(0, 0);
	return err;
}

/* What every run must give: 0, or out of memory said as such. */
static void assert_verdict(const char *name, unsigned long nth, int err, int failed)
{
	const char *msg = chs_error_last();

	ck_assert_msg(err == 0 || err == CHS_ENOMEM,
		      "%s, allocation %lu failing: error %d, \"%s\"", name, nth, err, msg);
	if (err == CHS_ENOMEM)
		/* "out of memory", or "out of secure memory" for chs_secret_alloc() */
		ck_assert_msg(strstr(msg, "out of ") && strstr(msg, "memory") &&
			      !strstr(msg, "damaged") && !strstr(msg, "malformed"),
			      "%s, allocation %lu failing: \"%s\"", name, nth, msg);
	if (!failed)
		ck_assert_msg(err == 0, "%s failed with no allocation failing: %d \"%s\"",
			      name, err, msg);
}

/* N = 1, 2, ... (or a seeded sample of them) until a run completes with
 * no allocation failed: once with the Nth allocation alone failing (the
 * path goes on after it), once with every allocation from the Nth on
 * failing (its clean-up must then do without memory too). */
static void drill_mode(const scenario *sc, int sticky)
{
	unsigned long n, total, count, tried = 0, nomem = 0, stride = 1, seed = 0;
	const char *mode = sticky ? "from the Nth on" : "the Nth alone";
	char name[160];
	double t0 = now_s();
	int err, failed;

	snprintf(name, sizeof(name), "%s, %s", sc->name, mode);
	/* a run with no failure, to count the allocation points */
	err = run_at(sc, (unsigned long)-1, 0, &failed, &total);
	assert_verdict(name, 0, err, 0);
	if (sc->judge)
		sc->judge(err, 0);
	if (!tu_full_mode() && total > quick_budget()) {
		stride = (total + quick_budget() - 1) / quick_budget();
		seed = tu_seed(name);
		srand((unsigned)seed);
	}
	for (n = 1;; n += stride > 1 ? 1 + (unsigned long)rand() % (2 * stride - 1) : 1) {
		err = run_at(sc, n, sticky, &failed, &count);
		assert_verdict(name, n, err, failed);
		if (sc->judge)
			sc->judge(err, failed);
		tried++;
		nomem += err == CHS_ENOMEM;
		if (!failed)
			break;
	}
	ck_assert_msg(nomem > 0, "%s: no run reported out of memory", name);
	printf("alloc: %s: %lu allocation points of %lu tried (%s), %lu said out of memory, "
	       "%.1f s\n", name, tried, total,
	       stride > 1 ? "a seeded sample" : "every one", nomem, now_s() - t0);
	fflush(stdout);
}

static void drill(const scenario *sc)
{
	drill_mode(sc, 0);
	drill_mode(sc, 1);
}

/* ---- sync/: change, batch, merge, roster ---- */

static chs_identity *dev, *admin, *clinic;
static unsigned char *keys[CHS_NCOMPARTMENTS];
static const uint32_t gens[CHS_NCOMPARTMENTS] = { 1, 1 };
static chs_keyring kr;

static void sync_setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	ck_assert_int_eq(chs_identity_new(&dev), 0);
	ck_assert_int_eq(chs_identity_new(&admin), 0);
	ck_assert_int_eq(chs_identity_new(&clinic), 0);
	keys[0] = chs_key_new();
	keys[1] = chs_key_new();
	ck_assert_int_eq(chs_keyring_init(&kr), 0);
}

static void sync_teardown(void)
{
	chs_identity_free(dev);
	chs_identity_free(admin);
	chs_identity_free(clinic);
	chs_secret_free(keys[0]);
	chs_secret_free(keys[1]);
	chs_keyring_dispose(&kr);
}

static const unsigned char record_id[16] = "0123456789abcdef";

/* An encoded change of record_id, with fields a decoder hands to jansson. */
static chs_change *make_change(chs_op op, const unsigned char (*parent)[32], const char *phone,
			       uint64_t t)
{
	chs_change *c = NULL;
	chs_buf b;

	ck_assert_int_eq(chs_change_new(&c), 0);
	memcpy(c->record, record_id, 16);
	c->op = op;
	c->type = strdup("patient");
	c->user = strdup("maria");
	c->terminal = strdup("front-desk");
	chs_identity_device_id(dev, c->device);
	c->hlc = chs_hlc_next(0, 1732500000000ull + t);
	ck_assert_int_eq(chs_change_set_string(c, "name", "Ada Byron"), 0);
	ck_assert_int_eq(chs_change_set_string(c, "phone", phone), 0);
	ck_assert_int_eq(chs_change_set(c, "extra", "{\"a\":[1,2],\"b\":\"x\"}"), 0);
	if (parent)
		ck_assert_int_eq(chs_change_add_parent(c, *parent), 0);
	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_change_encode(c, &b), 0);
	chs_buf_dispose(&b);
	return c;
}

/* change: encode, decode, copy */
static chs_change *ch;
static int ch_ok;

static int change_run(void)
{
	chs_change *back = NULL, *dup = NULL;
	unsigned char id[32];
	chs_buf b;
	int err;

	memcpy(id, ch->id, 32);
	chs_buf_init(&b, 0);
	ch_ok = 0;
	if ((err = chs_change_encode(ch, &b)) == 0 &&
	    (err = chs_change_decode(&back, b.ptr, b.len)) == 0 &&
	    (err = chs_change_dup(&dup, back)) == 0)
		ch_ok = memcmp(back->id, id, 32) == 0 && back->nfields == 3 &&
			strcmp(dup->fields[1].name, "name") == 0;
	chs_change_free(back);
	chs_change_free(dup);
	chs_buf_dispose(&b);
	return err;
}

static void change_judge(int err, int failed)
{
	(void)failed;
	ck_assert(err != 0 || ch_ok);
}

START_TEST(test_alloc__change_encode_and_decode)
{
	scenario sc = { "change (encode, decode, copy)", NULL, change_run, change_judge };

	ch = make_change(CHS_OP_CREATE, NULL, "555-0100", 0);
	drill(&sc);
	chs_change_free(ch);
}
END_TEST

/* batch: seal, encode, decode, verify, pack, unpack */
static chs_change **bc;
static int bt_ok;

static void batch_prepare(void)
{
	bc = calloc(2, sizeof(*bc));
	bc[0] = make_change(CHS_OP_CREATE, NULL, "555-0100", 0);
	bc[1] = make_change(CHS_OP_CREATE, NULL, "555-0101", 1);
	bc[1]->record[0] ^= 1;
	{
		chs_buf b;

		chs_buf_init(&b, 0);
		ck_assert_int_eq(chs_change_encode(bc[1], &b), 0);
		chs_buf_dispose(&b);
	}
}

static int all_keys(int c, uint32_t gen, unsigned char *key, void *payload)
{
	(void)payload;
	(void)gen;
	memcpy(key, keys[c], 32);
	return 0;
}

static int batch_run(void)
{
	int comp[2] = { CHS_COMPARTMENT_CLINICAL, CHS_COMPARTMENT_BILLING };
	chs_batch *b = NULL, *back = NULL, *opened = NULL;
	chs_git_blob f[2 + CHS_NCOMPARTMENTS];
	chs_packed p;
	chs_buf enc;
	size_t i;
	int err, complete = 0;

	bt_ok = 0;
	memset(&p, 0, sizeof(p));
	chs_buf_init(&enc, 0);
	if ((err = chs_batch_seal(&b, dev, 1, NULL, bc, 2)) != 0) {
		chs_change_free(bc[0]);
		chs_change_free(bc[1]);
		free(bc);
		goto cleanup;
	}
	if ((err = chs_batch_encode(b, &enc)) != 0 ||
	    (err = chs_batch_decode(&back, enc.ptr, enc.len)) != 0 ||
	    (err = chs_batch_verify(back)) != 0 ||
	    (err = chs_batch_pack(&p, b, comp, (const unsigned char *const *)keys, gens)) != 0)
		goto cleanup;
	for (i = 0; i < p.n; i++) {
		f[i].name = (char *)p.files[i].name;
		f[i].data = (unsigned char *)p.files[i].data;
		f[i].len = p.files[i].len;
	}
	if ((err = chs_batch_unpack(&opened, f, p.n, all_keys, NULL, &complete)) != 0)
		goto cleanup;
	bt_ok = complete && opened->nchanges == 2 && memcmp(opened->id, b->id, 32) == 0 &&
		memcmp(back->id, b->id, 32) == 0;
cleanup:
	chs_packed_dispose(&p);
	chs_buf_dispose(&enc);
	chs_batch_free(b);
	chs_batch_free(back);
	chs_batch_free(opened);
	return err;
}

static void batch_judge(int err, int failed)
{
	(void)failed;
	ck_assert(err != 0 || bt_ok);
}

START_TEST(test_alloc__batch_seal_open_and_verify)
{
	scenario sc = { "batch (seal, encode, decode, verify, pack, unpack)", batch_prepare,
			batch_run, batch_judge };

	drill(&sc);
}
END_TEST

/* merge: a create, two concurrent edits of one field (review), and a
 * resolve of a second pair */
static chs_change *mc[4];
static unsigned char merged_hash[32];
static int mg_ok;

static int merge_run(void)
{
	chs_merged *m = NULL;
	int err;

	mg_ok = 0;
	if ((err = chs_merge(&m, (const chs_change *const *)mc, 3, NULL, NULL)) == 0)
		mg_ok = m->review && memcmp(m->hash, merged_hash, 32) == 0;
	chs_merged_free(m);
	return err;
}

static void merge_judge(int err, int failed)
{
	(void)failed;
	ck_assert(err != 0 || mg_ok);
}

START_TEST(test_alloc__merge_of_concurrent_changes)
{
	scenario sc = { "merge (two concurrent edits under review)", NULL, merge_run,
			merge_judge };
	chs_merged *m = NULL;
	int i;

	mc[0] = make_change(CHS_OP_CREATE, NULL, "555-0100", 0);
	mc[1] = make_change(CHS_OP_UPDATE, (const unsigned char (*)[32])mc[0]->id, "555-0111", 1);
	mc[2] = make_change(CHS_OP_UPDATE, (const unsigned char (*)[32])mc[0]->id, "555-0122", 2);
	ck_assert_int_eq(chs_merge(&m, (const chs_change *const *)mc, 3, NULL, NULL), 0);
	ck_assert(m->review);
	memcpy(merged_hash, m->hash, 32);
	chs_merged_free(m);
	drill(&sc);
	for (i = 0; i < 3; i++)
		chs_change_free(mc[i]);
}
END_TEST

/* roster: make, sign, parse (which checks the signature), open a key */
static int ro_ok;

static int roster_run(void)
{
	static const char org[] = "00112233445566778899aabbccddeeff";
	unsigned char sig[64], sig2[64];
	unsigned char *key = NULL;
	chs_roster *r = NULL, *back = NULL;
	chs_buf b, b2;
	int err;

	ro_ok = 0;
	chs_buf_init(&b, 0);
	chs_buf_init(&b2, 0);
	if ((err = chs_roster_new(&r, org, chs_identity_public(admin), &kr)) != 0 ||
	    (err = chs_roster_enroll(r, &kr, chs_identity_public(clinic), "Main St clinic",
				     CHS_ROLE_CLINIC)) != 0 ||
	    (err = chs_roster_enroll(r, &kr, chs_identity_public(dev), "Billing office",
				     CHS_ROLE_BILLING)) != 0 ||
	    (err = chs_roster_sign(r, admin, &b, sig)) != 0 ||
	    (err = chs_roster_parse(&back, b.ptr, b.len, sig)) != 0 ||
	    (err = chs_roster_sign(back, admin, &b2, sig2)) != 0)
		goto cleanup;
	if (!(key = chs_secret_alloc(32))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
		goto cleanup;
	}
	if ((err = chs_roster_open_key(back, clinic, CHS_COMPARTMENT_CLINICAL, 1, key)) != 0)
		goto cleanup;
	ro_ok = b.len == b2.len && memcmp(b.ptr, b2.ptr, b.len) == 0 &&
		memcmp(key, kr.key[CHS_COMPARTMENT_CLINICAL][0], 32) == 0 &&
		chs_roster_count(back) == 2;
cleanup:
	chs_secret_free(key);
	chs_roster_free(r);
	chs_roster_free(back);
	chs_buf_dispose(&b);
	chs_buf_dispose(&b2);
	return err;
}

static void roster_judge(int err, int failed)
{
	(void)failed;
	ck_assert(err != 0 || ro_ok);
}

START_TEST(test_alloc__roster_make_sign_and_read)
{
	scenario sc = { "roster (make, sign, verify and decode, open a key)", NULL,
			roster_run, roster_judge };

	drill(&sc);
}
END_TEST

/* ---- client/: a store's records, review and apply ---- */

static chs_store *st, *other;
static char *dir, *other_dir;
static char before[65], patient[33];
static unsigned long iter;
static int writes; /* whether the path under drill writes */

static void state_hash(chs_store *s, char out[65])
{
	int64_t n;

	ck_assert_msg(chs_store_verify(s, 1, out, &n) == 0, "%s", chs_error_last());
}

static void store_setup(void)
{
	chs_edit e[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1001"),
			 tu_edit("dob", "1961-12-10") };

	ck_assert_int_eq(chs_crypto_init(), 0);
	st = tu_store_temp("maria", "front-desk", &dir);
	other = tu_store_temp("tom", "exam-2", &other_dir);
	ck_assert_int_eq(chs_record_add(st, "patient", e, 3, NULL, NULL, patient), 0);
	tu_ship(st, other);
	state_hash(st, before);
	iter = 0;
}

static void store_teardown(void)
{
	chs_store_free(st);
	chs_store_free(other);
	tu_rmtree(dir);
	tu_rmtree(other_dir);
	free(dir);
	free(other_dir);
}

/* After each run: the store passes its check and holds the state from
 * before the run, or after it when the run wrote and reported success. */
static void store_judge(int err, int failed)
{
	char now[65];

	(void)failed;
	ck_assert_msg(chs_store_check(st) == 0, "check after a failed run: %s", chs_error_last());
	state_hash(st, now);
	if (err != 0 || !writes)
		ck_assert_msg(strcmp(now, before) == 0,
			      "the store changed under a run that failed (%d)", err);
	else
		ck_assert_msg(strcmp(now, before) != 0, "a write that succeeded changed nothing");
	memcpy(before, now, sizeof(before));
	iter++;
}

/* The store reopened from its folder holds what the handle held. */
static void assert_reopens(void)
{
	char now[65];

	chs_store_free(st);
	st = NULL;
	ck_assert_msg(chs_store_open(&st, dir, "maria", "pw", 2) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_store_check(st), 0);
	state_hash(st, now);
	ck_assert_str_eq(now, before);
}

static char new_id[33];

static int add_run(void)
{
	char mrn[32] = "";
	chs_edit e[] = { tu_edit("name", "Grace Hopper"), tu_edit("mrn", mrn),
			 tu_edit("dob", "1906-12-09") };

	snprintf(mrn, sizeof(mrn), "G-%lu", iter);
	return chs_record_add(st, "patient", e, 3, NULL, NULL, new_id);
}

START_TEST(test_alloc__records_add)
{
	scenario sc = { "records: add", NULL, add_run, store_judge };

	writes = 1;
	drill(&sc);
	assert_reopens();
}
END_TEST

/* A record of its own for each run that may write, so its history (which
 * a write merges whole) does not grow from run to run. */
static int fresh = 1;

static void new_patient(void)
{
	char mrn[32] = "";
	chs_edit e[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", mrn),
			 tu_edit("dob", "1961-12-10") };

	snprintf(mrn, sizeof(mrn), "A-%lu", iter);
	ck_assert_msg(chs_record_add(st, "patient", e, 3, NULL, NULL, patient) == 0, "%s",
		      chs_error_last());
}

static void set_prepare(void)
{
	if (!fresh)
		return;
	new_patient();
	state_hash(st, before);
	fresh = 0;
}

static void set_judge(int err, int failed)
{
	store_judge(err, failed);
	fresh = err == 0;
}

static int set_run(void)
{
	char phone[32] = "";
	chs_edit e[] = { tu_edit("phone", phone), tu_edit("address", "12 St James's Square, London") };

	snprintf(phone, sizeof(phone), "555-%04lu", iter % 10000);
	return chs_record_set(st, patient, e, 2);
}

START_TEST(test_alloc__records_set)
{
	scenario sc = { "records: set", set_prepare, set_run, set_judge };

	writes = 1;
	fresh = 1;
	drill(&sc);
	assert_reopens();
}
END_TEST

static int show_run(void)
{
	char *json = NULL;
	int err = tu_show_json(st, patient, &json);

	ck_assert(err != 0 || strstr(json, "Ada Byron"));
	free(json);
	return err;
}

START_TEST(test_alloc__records_show)
{
	scenario sc = { "records: show", NULL, show_run, store_judge };

	writes = 0;
	drill(&sc);
}
END_TEST

/* Before each run that may settle one: a conflict over the phone number,
 * made at both stores and carried both ways. */
static int settled = 1;

static void conflict_prepare(void)
{
	char a[32] = "", b[32] = "";
	chs_edit ea[] = { tu_edit("phone", a) };
	chs_edit eb[] = { tu_edit("phone", b) };

	if (!settled)
		return;
	new_patient();
	tu_ship(st, other);
	snprintf(a, sizeof(a), "555-1%03lu", iter % 1000);
	snprintf(b, sizeof(b), "555-2%03lu", iter % 1000);
	ck_assert_msg(chs_record_set(st, patient, ea, 1) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_record_set(other, patient, eb, 1) == 0, "%s", chs_error_last());
	tu_ship(st, other);
	tu_ship(other, st);
	state_hash(st, before);
	settled = 0;
}

static int resolve_run(void)
{
	chs_edit e[] = { tu_edit("phone", "555-0000") };

	return chs_review_resolve(st, patient, e, 1, NULL);
}

static void resolve_judge(int err, int failed)
{
	int64_t n = -1;

	store_judge(err, failed);
	ck_assert_int_eq(chs_review_count(st, &n), 0);
	ck_assert_int_eq(n, err == 0 ? 0 : 1);
	settled = err == 0;
}

START_TEST(test_alloc__review_resolve)
{
	scenario sc = { "records: review resolve", conflict_prepare, resolve_run, resolve_judge };

	writes = 1;
	settled = 1;
	drill(&sc);
	assert_reopens();
}
END_TEST

/* apply: a batch made by the other store (a new patient there before
 * each run that may take one), applied as sync applies what it fetched */
static chs_outgoing *incoming;
static size_t nincoming;
static int applied = 1;

static void apply_prepare(void)
{
	char mrn[32] = "", id[33];
	chs_edit e[] = { tu_edit("name", "Alan Turing"), tu_edit("mrn", mrn),
			 tu_edit("dob", "1912-06-23") };

	if (applied) {
		snprintf(mrn, sizeof(mrn), "T-%lu", iter);
		ck_assert_msg(chs_record_add(other, "patient", e, 3, NULL, NULL, id) == 0, "%s",
			      chs_error_last());
	}
	ck_assert_int_eq(chs_store_unsent(other, &incoming, &nincoming), 0);
	ck_assert_uint_eq(nincoming, 1);
}

/* The same for an edit made there to a record edited here too: applying
 * it merges the two into a review. */
static int64_t reviews_before;

static void apply_conflict_prepare(void)
{
	char a[32] = "", b[32] = "";
	chs_edit ea[] = { tu_edit("phone", a) };
	chs_edit eb[] = { tu_edit("phone", b) };

	if (applied) {
		new_patient();
		tu_ship(st, other);
		snprintf(a, sizeof(a), "555-3%03lu", iter % 1000);
		snprintf(b, sizeof(b), "555-4%03lu", iter % 1000);
		ck_assert_msg(chs_record_set(st, patient, ea, 1) == 0, "%s", chs_error_last());
		ck_assert_msg(chs_record_set(other, patient, eb, 1) == 0, "%s", chs_error_last());
		state_hash(st, before);
	}
	ck_assert_int_eq(chs_review_count(st, &reviews_before), 0);
	ck_assert_int_eq(chs_store_unsent(other, &incoming, &nincoming), 0);
	ck_assert_uint_eq(nincoming, 1);
}

static int apply_run(void)
{
	return chs_store_apply_batch(st, incoming[0].bytes, incoming[0].len);
}

static void apply_judge(int err, int failed)
{
	store_judge(err, failed);
	applied = err == 0;
	if (applied)
		ck_assert_int_eq(chs_store_mark_sent(other, incoming[0].id), 0);
	chs_outgoing_free(incoming, nincoming);
	incoming = NULL;
}

static void apply_conflict_judge(int err, int failed)
{
	int64_t n = -1;

	/* one more record under review after it, none when it failed */
	apply_judge(err, failed);
	ck_assert_int_eq(chs_review_count(st, &n), 0);
	ck_assert_int_eq(n, reviews_before + (err == 0));
	if (err == 0) {
		json_t *r = tu_show(st, patient);

		ck_assert(json_is_true(json_object_get(r, "review")));
		json_decref(r);
	}
}

START_TEST(test_alloc__apply_a_batch_from_another_store)
{
	scenario sc = { "apply (a batch from another store)", apply_prepare, apply_run,
			apply_judge };

	writes = 1;
	applied = 1;
	drill(&sc);
	assert_reopens();
}
END_TEST

/* One case per scenario, so CK_RUN_CASE picks one (and CK_FORK=no runs it
 * under a debugger). */
static void add_case(Suite *s, const char *name, void (*setup)(void), void (*teardown)(void),
		     const TTest *test)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, tu_full_mode() ? 6 * 3600 : 600);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

START_TEST(test_alloc__apply_an_edit_that_makes_a_review)
{
	scenario sc = { "apply (an edit concurrent with one here: a review)",
			apply_conflict_prepare, apply_run, apply_conflict_judge };

	writes = 1;
	applied = 1;
	drill(&sc);
	assert_reopens();
}
END_TEST

/* ---- records: import ---- */

static char *import_file;

/* A file of its own for each run (new chart numbers and ids): patients
 * the import's reader prepares ahead of the writes (more than it hands
 * over at once), and a visit linked to one of them, which it builds with
 * the store. */
static void import_prepare(void)
{
	chs_buf b;
	int k;

	chs_buf_init(&b, 0);
	for (k = 0; k < 70; k++)
		chs_buf_printf(&b, "{\"type\":\"patient\",\"id\":\"%016lx%016x\",\"fields\":"
				   "{\"name\":\"P %d\",\"mrn\":\"I-%lu-%d\"}}\n", iter + 1,
			       (unsigned)k + 1, k, iter, k);
	chs_buf_printf(&b, "{\"type\":\"encounter\",\"patient\":\"%016lx%016x\",\"fields\":"
			   "{\"date\":\"2024-01-02\",\"reason\":\"cough\"}}\n", iter + 1, 1u);
	for (k = 70; k < 74; k++)
		chs_buf_printf(&b, "{\"type\":\"patient\",\"fields\":{\"name\":\"P %d\","
				   "\"mrn\":\"I-%lu-%d\"}}\n", k, iter, k);
	free(import_file);
	import_file = tu_path(dir, "in.jsonl");
	ck_assert_int_eq(tu_write(import_file, b.ptr, b.len), 0);
	chs_buf_dispose(&b);
}

static int import_run(void)
{
	int64_t count = 0;
	int err = chs_record_import(st, import_file, &count);

	ck_assert_int_eq(count, err == 0 ? 75 : 0);
	return err;
}

/* The reader thread of the import allocates beside the writing one: a
 * failure on either side stops both, and the store is as before. */
START_TEST(test_alloc__records_import)
{
	scenario sc = { "records: import", import_prepare, import_run, store_judge };

	writes = 1;
	drill(&sc);
	assert_reopens();
	free(import_file);
	import_file = NULL;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reliability-alloc");
	SRunner *sr;
	int failed;

	/* before anything touches SQLite, jansson or libgit2 */
	tu_allocfault_init();
	/* The stores in memory when the machine has a tmpfs: the disk is not
	 * what this test is about (tests/reliability's I/O faults are), and
	 * the thousands of commits' fsyncs were most of its time. */
	if (!getenv("TMPDIR") && access("/dev/shm", W_OK | X_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	add_case(s, "change", sync_setup, sync_teardown, test_alloc__change_encode_and_decode);
	add_case(s, "batch", sync_setup, sync_teardown, test_alloc__batch_seal_open_and_verify);
	add_case(s, "merge", sync_setup, sync_teardown, test_alloc__merge_of_concurrent_changes);
	add_case(s, "roster", sync_setup, sync_teardown, test_alloc__roster_make_sign_and_read);
	add_case(s, "add", store_setup, store_teardown, test_alloc__records_add);
	add_case(s, "set", store_setup, store_teardown, test_alloc__records_set);
	add_case(s, "import", store_setup, store_teardown, test_alloc__records_import);
	add_case(s, "show", store_setup, store_teardown, test_alloc__records_show);
	add_case(s, "resolve", store_setup, store_teardown, test_alloc__review_resolve);
	add_case(s, "apply", store_setup, store_teardown,
		 test_alloc__apply_a_batch_from_another_store);
	add_case(s, "apply-review", store_setup, store_teardown,
		 test_alloc__apply_an_edit_that_makes_a_review);
	/* as tu_run(), but CK_FORK=no is heard */
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
