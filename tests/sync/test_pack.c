/*
 * sync/pack: a batch as the files of its commit. The archive sees
 * ciphertext only; a billing office reads the billing changes and nothing
 * clinical; a sealed file moved, altered or opened with the wrong key is
 * refused.
 */
#include "sync/sync.h"
#include "support/testutil.h"
#include "pack_v2_fixture.h"

#include <stdlib.h>
#include <string.h>

static chs_identity *dev;
static unsigned char *keys[CHS_NCOMPARTMENTS];
static const uint32_t gens[CHS_NCOMPARTMENTS] = { 1, 1 };

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	ck_assert_int_eq(chs_identity_new(&dev), 0);
	keys[0] = chs_key_new();
	keys[1] = chs_key_new();
}

static void teardown(void)
{
	chs_identity_free(dev);
	chs_secret_free(keys[0]);
	chs_secret_free(keys[1]);
}

static chs_change *change(const char *type, const char *name, const char *value)
{
	chs_change *c = NULL;
	chs_buf b;

	ck_assert_int_eq(chs_change_new(&c), 0);
	chs_random(c->record, 16);
	c->op = CHS_OP_CREATE;
	c->type = strdup(type);
	c->user = strdup("tom");
	c->terminal = strdup("desk");
	chs_identity_device_id(dev, c->device);
	c->hlc = chs_hlc_next(0, 1732500000000ull);
	ck_assert_int_eq(chs_change_set(c, name, value), 0);
	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_change_encode(c, &b), 0);
	chs_buf_dispose(&b);
	return c;
}

/* A batch: a patient (billing), a note (clinical), a diagnosis (billing). */
static chs_batch *mixed(uint64_t seq, int comp[3])
{
	chs_change **c = calloc(3, sizeof(*c));
	chs_batch *b = NULL;

	c[0] = change("patient", "name", "\"Ada SECRET-NAME\"");
	c[1] = change("note", "text", "\"CLINICAL-MARKER cough\"");
	c[2] = change("diagnosis", "icd", "\"R05.9\"");
	comp[0] = CHS_COMPARTMENT_BILLING;
	comp[1] = CHS_COMPARTMENT_CLINICAL;
	comp[2] = CHS_COMPARTMENT_BILLING;
	ck_assert_int_eq(chs_batch_seal(&b, dev, seq, NULL, c, 3), 0);
	return b;
}

/* Files as read back from git. */
static chs_git_blob *as_blobs(const chs_packed *p)
{
	chs_git_blob *f = calloc(p->n, sizeof(*f));
	size_t i;

	for (i = 0; i < p->n; i++) {
		f[i].name = strdup(p->files[i].name);
		f[i].len = p->files[i].len;
		f[i].data = malloc(f[i].len + 1);
		memcpy(f[i].data, p->files[i].data, f[i].len);
	}
	return f;
}

static void free_blobs(chs_git_blob *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].data);
	}
	free(f);
}

static int all_keys(int c, uint32_t gen, unsigned char *key, void *payload)
{
	(void)payload;
	if (gen != 1)
		return chs_error_set(CHS_EDENIED, "no such generation");
	memcpy(key, keys[c], 32);
	return 0;
}

static int billing_only(int c, uint32_t gen, unsigned char *key, void *payload)
{
	if (c != CHS_COMPARTMENT_BILLING)
		return chs_error_set(CHS_EDENIED, "not for billing");
	return all_keys(c, gen, key, payload);
}

static int wrong_key(int c, uint32_t gen, unsigned char *key, void *payload)
{
	(void)c;
	(void)gen;
	(void)payload;
	memset(key, 7, 32);
	return 0;
}

static int contains(const chs_packed *p, const char *needle)
{
	size_t i, j, n = strlen(needle);

	for (i = 0; i < p->n; i++)
		for (j = 0; j + n <= p->files[i].len; j++)
			if (memcmp((const char *)p->files[i].data + j, needle, n) == 0)
				return 1;
	return 0;
}

START_TEST(test_pack__the_archive_sees_ciphertext_and_a_clinic_reads_all)
{
	int comp[3], complete = -1;
	chs_batch *b = mixed(1, comp), *back = NULL;
	chs_packed p;
	chs_git_blob *f;
	size_t i;

	ck_assert_int_eq(chs_batch_pack(&p, b, comp, (const unsigned char *const *)keys, gens), 0);
	ck_assert_uint_eq(p.n, 4);
	ck_assert(!contains(&p, "SECRET-NAME"));
	ck_assert(!contains(&p, "CLINICAL-MARKER"));
	ck_assert(!contains(&p, "R05.9"));
	f = as_blobs(&p);
	ck_assert_msg(chs_batch_unpack(&back, f, p.n, all_keys, NULL, &complete) == 0, "%s",
		      chs_error_last());
	ck_assert_int_eq(complete, 1);
	ck_assert_uint_eq(back->nchanges, 3);
	for (i = 0; i < 3; i++) /* in the manifest's order */
		ck_assert_mem_eq(back->changes[i]->id, b->changes[i]->id, 32);
	ck_assert_mem_eq(back->id, b->id, 32);
	chs_batch_free(back);
	free_blobs(f, p.n);
	chs_packed_dispose(&p);
	chs_batch_free(b);
}
END_TEST

START_TEST(test_pack__a_billing_office_reads_billing_changes_only)
{
	int comp[3], complete = -1;
	chs_batch *b = mixed(1, comp), *back = NULL;
	chs_packed p;
	chs_git_blob *f;
	size_t i;

	ck_assert_int_eq(chs_batch_pack(&p, b, comp, (const unsigned char *const *)keys, gens), 0);
	f = as_blobs(&p);
	ck_assert_msg(chs_batch_unpack(&back, f, p.n, billing_only, NULL, &complete) == 0, "%s",
		      chs_error_last());
	ck_assert_int_eq(complete, 0);
	ck_assert_uint_eq(back->nchanges, 2);
	for (i = 0; i < back->nchanges; i++)
		ck_assert_str_ne(back->changes[i]->type, "note");
	ck_assert_int_eq(chs_batch_verify_subset(back), 0);
	ck_assert_int_ne(chs_batch_verify(back), 0); /* not the whole batch */
	chs_batch_free(back);
	free_blobs(f, p.n);
	chs_packed_dispose(&p);
	chs_batch_free(b);
}
END_TEST

START_TEST(test_pack__altered_moved_or_wrongly_keyed_files_are_refused)
{
	int comp[3], complete;
	chs_batch *b = mixed(1, comp), *other = mixed(2, comp), *back = NULL;
	chs_packed p, q;
	chs_git_blob *f, *g, tmp;
	size_t k;

	ck_assert_int_eq(chs_batch_pack(&p, b, comp, (const unsigned char *const *)keys, gens), 0);
	ck_assert_int_eq(chs_batch_pack(&q, other, comp, (const unsigned char *const *)keys, gens), 0);
	f = as_blobs(&p);
	g = as_blobs(&q);
	/* a bit flipped anywhere in a sealed file */
	for (k = 0; k < f[2].len; k += f[2].len / 9 + 1) {
		f[2].data[k] ^= 0x10;
		ck_assert_int_eq(chs_batch_unpack(&back, f, p.n, all_keys, NULL, &complete),
				 CHS_EDAMAGED);
		f[2].data[k] ^= 0x10;
	}
	/* the billing file of another batch, under this batch's manifest */
	tmp = f[2];
	f[2] = g[2];
	ck_assert_int_eq(chs_batch_unpack(&back, f, p.n, all_keys, NULL, &complete),
			 CHS_EDAMAGED);
	f[2] = tmp;
	/* the wrong key */
	ck_assert_int_eq(chs_batch_unpack(&back, f, p.n, wrong_key, NULL, &complete),
			 CHS_EDAMAGED);
	/* the manifest altered: the signature catches it */
	f[0].data[3] ^= 1;
	ck_assert_int_eq(chs_batch_unpack(&back, f, p.n, all_keys, NULL, &complete),
			 CHS_EDAMAGED);
	f[0].data[3] ^= 1;
	/* no manifest at all */
	ck_assert_int_eq(chs_batch_unpack(&back, f + 1, p.n - 1, all_keys, NULL, &complete),
			 CHS_EDAMAGED);
	ck_assert_ptr_null(back);
	/* and intact, it unpacks */
	ck_assert_int_eq(chs_batch_unpack(&back, f, p.n, all_keys, NULL, &complete), 0);
	chs_batch_free(back);
	free_blobs(f, p.n);
	free_blobs(g, q.n);
	chs_packed_dispose(&p);
	chs_packed_dispose(&q);
	chs_batch_free(b);
	chs_batch_free(other);
}
END_TEST

static int fixture_keys(int c, uint32_t gen, unsigned char *key, void *payload)
{
	(void)payload;
	if (gen != 1)
		return chs_error_set(CHS_EDENIED, "no such generation");
	memset(key, c == CHS_COMPARTMENT_BILLING ? 0xb1 : 0xc1, 32);
	return 0;
}

static void fixture_file(chs_git_blob *f, const char *name, const void *data, size_t len)
{
	f->name = strdup(name);
	f->len = len;
	f->data = malloc(len + 1);
	memcpy(f->data, data, len);
}

/* The only field of a change with one, as canonical JSON. */
static const char *only_value(const chs_batch *b, const char *type)
{
	size_t i;

	for (i = 0; i < b->nchanges; i++)
		if (strcmp(b->changes[i]->type, type) == 0 && b->changes[i]->nfields == 1)
			return b->changes[i]->fields[0].value;
	return "";
}

START_TEST(test_pack__a_batch_sealed_with_zlib_before_version_3_still_opens)
{
	chs_git_blob *f = calloc(4, sizeof(*f));
	chs_batch *back = NULL;
	int complete = -1;

	fixture_file(&f[0], "manifest", v2_manifest, strlen(v2_manifest));
	fixture_file(&f[1], "signature", v2_signature, sizeof(v2_signature));
	fixture_file(&f[2], "billing", v2_billing, sizeof(v2_billing));
	fixture_file(&f[3], "clinical", v2_clinical, sizeof(v2_clinical));
	ck_assert_int_eq(f[2].data[4], 2);
	ck_assert_msg(chs_batch_unpack(&back, f, 4, fixture_keys, NULL, &complete) == 0, "%s",
		      chs_error_last());
	ck_assert_int_eq(complete, 1);
	ck_assert_uint_eq(back->nchanges, 2);
	ck_assert_str_eq(only_value(back, "patient"), "\"Ada Lovelace\"");
	ck_assert_str_eq(only_value(back, "note"), "\"cough for two weeks\"");
	chs_batch_free(back);
	/* its version is bound in: relabelled as version 3, it is refused */
	f[3].data[4] = 3;
	ck_assert_int_eq(chs_batch_unpack(&back, f, 4, fixture_keys, NULL, &complete),
			 CHS_EDAMAGED);
	ck_assert_ptr_null(back);
	free_blobs(f, 4);
}
END_TEST

START_TEST(test_pack__new_files_are_version_3_and_cannot_pass_for_version_2)
{
	int comp[3], complete;
	chs_batch *b = mixed(1, comp), *back = NULL;
	chs_packed p;
	chs_git_blob *f;

	ck_assert_int_eq(chs_batch_pack(&p, b, comp, (const unsigned char *const *)keys, gens), 0);
	f = as_blobs(&p);
	ck_assert_str_eq(f[2].name, "billing");
	ck_assert_int_eq(f[2].data[4], 3);
	f[2].data[4] = 2;
	ck_assert_int_eq(chs_batch_unpack(&back, f, p.n, all_keys, NULL, &complete),
			 CHS_EDAMAGED);
	f[2].data[4] = 4; /* a version this store does not know */
	ck_assert_int_eq(chs_batch_unpack(&back, f, p.n, all_keys, NULL, &complete),
			 CHS_EDAMAGED);
	f[2].data[4] = 3;
	ck_assert_int_eq(chs_batch_unpack(&back, f, p.n, all_keys, NULL, &complete), 0);
	chs_batch_free(back);
	free_blobs(f, p.n);
	chs_packed_dispose(&p);
	chs_batch_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync-pack");
	TCase *tc = tcase_create("pack");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pack__the_archive_sees_ciphertext_and_a_clinic_reads_all);
	tcase_add_test(tc, test_pack__a_billing_office_reads_billing_changes_only);
	tcase_add_test(tc, test_pack__altered_moved_or_wrongly_keyed_files_are_refused);
	tcase_add_test(tc, test_pack__a_batch_sealed_with_zlib_before_version_3_still_opens);
	tcase_add_test(tc, test_pack__new_files_are_version_3_and_cannot_pass_for_version_2);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
