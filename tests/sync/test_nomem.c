/*
 * sync: running out of memory while reading a change or a batch is
 * reported as CHS_ENOMEM, never as a damaged archive or a malformed
 * change (which would send a technician after the wrong problem). The
 * allocations failed are jansson's, through its own hook
 * (json_set_alloc_funcs): the one allocator sync/ uses that can be failed
 * from outside without wrapping malloc.
 */
#include "sync/sync.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A field value no fast path reads: the decoders hand it to jansson. */
#define NESTED_VALUE "{\"a\":[1,2]}"

static chs_identity *dev;
static unsigned char *keys[CHS_NCOMPARTMENTS];
static const uint32_t gens[CHS_NCOMPARTMENTS] = { 1, 1 };
static long allowed = -1; /* jansson allocations left to succeed; -1: all */

static void *counted_malloc(size_t n)
{
	if (allowed == 0)
		return NULL;
	if (allowed > 0)
		allowed--;
	return malloc(n);
}

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	ck_assert_int_eq(chs_identity_new(&dev), 0);
	keys[0] = chs_key_new();
	keys[1] = chs_key_new();
	json_set_alloc_funcs(counted_malloc, free);
}

static void teardown(void)
{
	allowed = -1;
	chs_identity_free(dev);
	chs_secret_free(keys[0]);
	chs_secret_free(keys[1]);
}

static chs_change *nested_change(void)
{
	chs_change *c = NULL;
	chs_buf b;

	ck_assert_int_eq(chs_change_new(&c), 0);
	chs_random(c->record, 16);
	c->op = CHS_OP_CREATE;
	c->type = strdup("note");
	c->user = strdup("tom");
	c->terminal = strdup("desk");
	chs_identity_device_id(dev, c->device);
	c->hlc = chs_hlc_next(0, 1732500000000ull);
	ck_assert_int_eq(chs_change_set(c, "extra", NESTED_VALUE), 0);
	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_change_encode(c, &b), 0);
	chs_buf_dispose(&b);
	return c;
}

static int all_keys(int c, uint32_t gen, unsigned char *key, void *payload)
{
	(void)payload;
	(void)gen;
	memcpy(key, keys[c], 32);
	return 0;
}

START_TEST(test_nomem__a_change_decoded_without_memory_is_not_called_malformed)
{
	chs_change *c = nested_change(), *back = NULL;
	chs_buf b;

	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_change_encode(c, &b), 0);
	allowed = 0;
	ck_assert_int_eq(chs_change_decode(&back, b.ptr, b.len), CHS_ENOMEM);
	ck_assert_ptr_null(back);
	allowed = -1;
	ck_assert_int_eq(chs_change_decode(&back, b.ptr, b.len), 0);
	chs_change_free(back);
	chs_buf_dispose(&b);
	chs_change_free(c);
}
END_TEST

/* Fail the first, then the second, ... jansson allocation of an unpack
 * until it succeeds: each failure must say out of memory, also where
 * jansson itself words it as bad JSON (2.14's lexer turns a string it
 * could not allocate into a syntax error: sync/canonical.c notes the
 * failed allocation instead). */
START_TEST(test_nomem__a_batch_unpacked_without_memory_is_not_called_damaged)
{
	chs_change **c = calloc(2, sizeof(*c));
	int comp[2] = { CHS_COMPARTMENT_CLINICAL, CHS_COMPARTMENT_BILLING };
	chs_git_blob *f;
	chs_batch *b = NULL, *back = NULL;
	chs_packed p;
	size_t i;
	long n, nomem = 0;
	int complete, err = -1;

	c[0] = nested_change();
	c[1] = nested_change();
	ck_assert_int_eq(chs_batch_seal(&b, dev, 1, NULL, c, 2), 0);
	ck_assert_int_eq(chs_batch_pack(&p, b, comp, (const unsigned char *const *)keys, gens), 0);
	f = calloc(p.n, sizeof(*f));
	for (i = 0; i < p.n; i++) {
		f[i].name = (char *)p.files[i].name;
		f[i].data = (unsigned char *)p.files[i].data;
		f[i].len = p.files[i].len;
	}
	for (n = 0; n < 1000 && err != 0; n++) {
		allowed = n;
		err = chs_batch_unpack(&back, f, p.n, all_keys, NULL, &complete);
		allowed = -1;
		ck_assert_msg(err == 0 || err == CHS_ENOMEM,
			      "failing jansson allocation %ld: %d %s", n, err, chs_error_last());
		nomem += err == CHS_ENOMEM;
		chs_batch_free(back);
		back = NULL;
	}
	ck_assert_int_eq(err, 0);
	ck_assert_int_gt(nomem, 0);
	free(f);
	chs_packed_dispose(&p);
	chs_batch_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync-nomem");
	TCase *tc = tcase_create("nomem");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nomem__a_change_decoded_without_memory_is_not_called_malformed);
	tcase_add_test(tc, test_nomem__a_batch_unpacked_without_memory_is_not_called_damaged);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
