/*
 * sync/: canonical JSON and the change encoding.
 */
#include "sync/sync.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
}

/* Canonical form of `in` (its strlen), or NULL when refused. malloc'ed. */
static char *canon_n(const char *in, size_t len)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	if (chs_canonical_json(&b, in, len) < 0) {
		ck_assert_int_eq(chs_error_last_code(), CHS_EINVALID);
		ck_assert(chs_error_last()[0] != '\0');
		chs_buf_dispose(&b);
		return NULL;
	}
	return chs_buf_detach(&b);
}

static char *canon(const char *in)
{
	return canon_n(in, strlen(in));
}

static void assert_canon(const char *in, const char *want)
{
	char *got = canon(in);

	ck_assert_msg(got != NULL, "refused %s: %s", in, chs_error_last());
	ck_assert_str_eq(got, want);
	free(got);
}

static void assert_refused(const char *in)
{
	char *got = canon(in);

	ck_assert_msg(got == NULL, "accepted %s as %s", in, got ? got : "");
}

/* ---- canonical JSON ---- */

START_TEST(test_canonical__sorts_keys_and_drops_whitespace)
{
	assert_canon(" { \"b\" : 1 ,\n\t\"a\" : [ true , false , null ] } ",
		     "{\"a\":[true,false,null],\"b\":1}");
	assert_canon("{\"z\":{\"y\":{},\"x\":[]},\"aa\":0,\"a\":0}",
		     "{\"a\":0,\"aa\":0,\"z\":{\"x\":[],\"y\":{}}}");
	assert_canon("\"plain\"", "\"plain\"");
	assert_canon("[]", "[]");
}
END_TEST

START_TEST(test_canonical__sorts_keys_by_utf16_code_units)
{
	/* RFC 8785 section 3.2.3's example: the emoji (a surrogate pair,
	 * D83D...) sorts before U+FB33 though its code point is larger. */
	assert_canon("{\"\\u20ac\":1,\"\\r\":2,\"\\ufb33\":3,\"1\":4,"
		     "\"\\ud83d\\ude00\":5,\"\\u0080\":6,\"\\u00f6\":7}",
		     "{\"\\r\":2,\"1\":4,\"\xc2\x80\":6,\"\xc3\xb6\":7,"
		     "\"\xe2\x82\xac\":1,\"\xf0\x9f\x98\x80\":5,"
		     "\"\xef\xac\xb3\":3}");
}
END_TEST

START_TEST(test_canonical__escapes_only_what_json_requires)
{
	assert_canon("\"\\u001F\"", "\"\\u001f\"");
	assert_canon("\"\\u0001\\u000b\\u007f\"", "\"\\u0001\\u000b\x7f\"");
	assert_canon("\"\\b\\f\\n\\r\\t\\\"\\\\\"",
		     "\"\\b\\f\\n\\r\\t\\\"\\\\\"");
	assert_canon("\"\\u0008\\u000C\"", "\"\\b\\f\"");
	assert_canon("\"a\\/b\"", "\"a/b\"");
	assert_canon("\"\\u00e9t\\u00E9\"", "\"\xc3\xa9t\xc3\xa9\"");
	assert_canon("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
		     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	assert_canon("\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"");
	assert_canon("\"\\u2028\"", "\"\xe2\x80\xa8\"");
}
END_TEST

START_TEST(test_canonical__integers_are_plain_decimal)
{
	assert_canon("0", "0");
	assert_canon("-0", "0");
	assert_canon("-12", "-12");
	assert_canon("9007199254740992", "9007199254740992");
	assert_canon("-9007199254740992", "-9007199254740992");
	assert_canon("[1,-1,100]", "[1,-1,100]");
}
END_TEST

START_TEST(test_canonical__refuses_what_it_cannot_represent)
{
	static const char *bad[] = {
		"1.5", "1e3", "1E3", "1.0", "-0.0", "0.1", "2e-1",
		"9007199254740993", "-9007199254740993", "18446744073709551616",
		"NaN", "Infinity", "-Infinity", "nan",
		"{\"a\":1,\"a\":2}", "{\"a\":{\"b\":1,\"b\":1}}",
		"\"\\ud800\"", "\"\\udc00\"", "\"\\u0000\"",
		"", " ", "{", "[1,]", "{\"a\":1,}", "01", "+1", "'a'",
		"\"a\" \"b\"", "1 2", "{} x", "[1.5]", "{\"m\":[1e0]}",
		"tru", "nul", "\"\t\"",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(bad[i]);
}
END_TEST

START_TEST(test_canonical__refuses_invalid_utf8)
{
	static const char *bad[] = {
		"\"\xff\"", "\"\xc0\xaf\"", "\"\xe0\x80\xaf\"",
		"\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xc3\"",
		"\"\x80\"", "{\"\xfe\":1}",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(bad[i]);
	/* A NUL byte inside the text is not JSON either. */
	ck_assert_ptr_null(canon_n("\"a\0b\"", 5));
}
END_TEST

START_TEST(test_canonical__nesting_limit_is_an_error_not_a_crash)
{
	size_t n = 100000;
	char *deep = malloc(n);

	ck_assert_ptr_nonnull(deep);
	memset(deep, '[', n);
	ck_assert_ptr_null(canon_n(deep, n));
	free(deep);
}
END_TEST

START_TEST(test_canonical__string_writer)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_canonical_string(&b, "a\"\\\x1f\n\xc3\xa9", 7), 0);
	ck_assert_str_eq(b.ptr, "\"a\\\"\\\\\\u001f\\n\xc3\xa9\"");
	ck_assert_int_eq(chs_canonical_string(&b, "\xff", 1), CHS_EINVALID);
	/* A refusal leaves what was there. */
	ck_assert_str_eq(b.ptr, "\"a\\\"\\\\\\u001f\\n\xc3\xa9\"");
	ck_assert_int_eq(chs_canonical_string(&b, "a\0b", 3), CHS_EINVALID);
	ck_assert_int_eq(chs_canonical_string(&b, "", 0), 0);
	ck_assert_str_eq(b.ptr, "\"a\\\"\\\\\\u001f\\n\xc3\xa9\"\"\"");
	chs_buf_dispose(&b);
}
END_TEST

START_TEST(test_canonical__canonical_text_is_a_fixed_point)
{
	static const char *in[] = {
		"{\"b\":[1,{\"d\":\"\\u001f\",\"c\":null}],\"a\":\"x\"}",
		"\"\\u00e9\\n\"", "[[[]]]", "-5",
	};
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char *once = canon(in[i]), *twice;

		ck_assert_ptr_nonnull(once);
		twice = canon(once);
		ck_assert_ptr_nonnull(twice);
		ck_assert_str_eq(once, twice);
		free(once);
		free(twice);
	}
}
END_TEST

/* ---- changes ---- */

static const unsigned char RECORD[CHS_RECORD_ID_BYTES] = {
	0x0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xe1
};

static chs_change *make(chs_op op)
{
	chs_change *c;

	ck_assert_int_eq(chs_change_new(&c), 0);
	c->op = op;
	memcpy(c->record, RECORD, sizeof(RECORD));
	c->type = strdup("patient");
	c->user = strdup("ann");
	c->terminal = strdup("front-desk");
	memcpy(c->device, "00112233445566778899aabbccddeeff", 33);
	c->hlc = UINT64_C(0x0000018f2b3c4d5e) << 16 | 7;
	if (op != CHS_OP_CREATE) {
		unsigned char p[CHS_CHANGE_ID_BYTES];

		memset(p, 0xab, sizeof(p));
		ck_assert_int_eq(chs_change_add_parent(c, p), 0);
	}
	return c;
}

/* Encode into a malloc'ed string; asserts success. */
static char *encode(chs_change *c, size_t *len)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	ck_assert_msg(chs_change_encode(c, &b) == 0, "%s", chs_error_last());
	*len = b.len;
	return chs_buf_detach(&b);
}

static int decode_str(const char *s)
{
	chs_change *c = NULL;
	int err = chs_change_decode(&c, s, strlen(s));

	chs_change_free(c);
	return err;
}

START_TEST(test_change__encoding_is_documented_canonical_json)
{
	chs_change *c = make(CHS_OP_UPDATE);
	size_t len;
	char *enc;

	ck_assert_int_eq(chs_change_set(c, "name", "\"Ann\""), 0);
	ck_assert_int_eq(chs_change_set(c, "dob", "\"1970-01-01\""), 0);
	ck_assert_int_eq(chs_change_set(c, "phone", NULL), 0);
	c->hlc = 112233445566;
	enc = encode(c, &len);
	ck_assert_str_eq(enc,
		"{\"device\":\"00112233445566778899aabbccddeeff\","
		"\"fields\":{\"dob\":\"1970-01-01\",\"name\":\"Ann\","
		"\"phone\":null},\"hlc\":\"112233445566\",\"op\":\"update\","
		"\"parents\":[\"abababababababababababababababababababababab"
		"abababababababababab\"],"
		"\"record\":\"0f0102030405060708090a0b0c0d0ee1\","
		"\"terminal\":\"front-desk\",\"type\":\"patient\","
		"\"user\":\"ann\",\"v\":1}");
	/* The canonical JSON writer agrees byte for byte. */
	{
		char *again = canon(enc);

		ck_assert_str_eq(again, enc);
		free(again);
	}
	free(enc);
	chs_change_free(c);
}
END_TEST

START_TEST(test_change__round_trips_and_id_is_hash_of_bytes)
{
	chs_change *c = make(CHS_OP_RESOLVE), *d = NULL;
	unsigned char h[CHS_HASH_BYTES];
	size_t len, len2;
	char *enc, *enc2;

	c->deleted = 1;
	c->hlc = UINT64_MAX;
	ck_assert_int_eq(chs_change_set(c, "note", "{\"b\":[1,2],\"a\":\"x\\n\"}"),
			 CHS_OK);
	/* Not canonical: refused at encode, named. */
	{
		chs_buf b;

		chs_buf_init(&b, 0);
		ck_assert_int_eq(chs_change_encode(c, &b), CHS_EINVALID);
		chs_buf_dispose(&b);
	}
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "note"));
	ck_assert_int_eq(chs_change_set(c, "note", "{\"a\":\"x\\n\",\"b\":[1,2]}"),
			 CHS_OK);
	enc = encode(c, &len);
	chs_hash(h, enc, len);
	ck_assert_mem_eq(c->id, h, sizeof(h));
	ck_assert_ptr_nonnull(strstr(enc, "\"hlc\":\"18446744073709551615\""));
	ck_assert_int_eq(strncmp(enc, "{\"deleted\":true,", 16), 0);
	ck_assert_int_eq(chs_change_decode(&d, enc, len), 0);
	ck_assert_mem_eq(d->id, c->id, sizeof(h));
	ck_assert_uint_eq(d->hlc, UINT64_MAX);
	ck_assert_int_eq(d->deleted, 1);
	ck_assert_int_eq(d->op, CHS_OP_RESOLVE);
	ck_assert_str_eq(d->fields[0].value, "{\"a\":\"x\\n\",\"b\":[1,2]}");
	enc2 = encode(d, &len2);
	ck_assert_str_eq(enc, enc2);
	free(enc);
	free(enc2);
	chs_change_free(c);
	chs_change_free(d);
}
END_TEST

START_TEST(test_change__field_order_typed_does_not_change_the_id)
{
	chs_change *a = make(CHS_OP_CREATE), *b = make(CHS_OP_CREATE), *d;
	size_t la, lb;
	char *ea, *eb;

	chs_change_set(a, "name", "\"Ann\"");
	chs_change_set(a, "dob", "\"1970-01-01\"");
	chs_change_set(a, "\xf0\x9f\x98\x80", "1");
	chs_change_set(a, "\xef\xac\xb3", "2");
	chs_change_set(b, "\xef\xac\xb3", "2");
	chs_change_set(b, "dob", "\"1999-09-09\"");
	chs_change_set(b, "\xf0\x9f\x98\x80", "1");
	chs_change_set(b, "name", "\"Ann\"");
	chs_change_set(b, "dob", "\"1970-01-01\""); /* replaces */
	ck_assert_uint_eq(b->nfields, 4);
	ea = encode(a, &la);
	eb = encode(b, &lb);
	ck_assert_str_eq(ea, eb);
	ck_assert_mem_eq(a->id, b->id, CHS_CHANGE_ID_BYTES);
	/* Names in UTF-16 order in the bytes: the emoji before U+FB33. */
	ck_assert(strstr(ea, "\xf0\x9f\x98\x80") < strstr(ea, "\xef\xac\xb3"));
	ck_assert_int_eq(chs_change_decode(&d, ea, la), 0);
	ck_assert_mem_eq(d->id, a->id, CHS_CHANGE_ID_BYTES);
	ck_assert_str_eq(d->fields[0].name, "dob");
	chs_change_free(d);
	free(ea);
	free(eb);
	chs_change_free(a);
	chs_change_free(b);
}
END_TEST

START_TEST(test_change__null_is_the_cleared_value)
{
	chs_change *a = make(CHS_OP_UPDATE), *b = make(CHS_OP_UPDATE);
	size_t la, lb;
	char *ea, *eb;

	chs_change_set(a, "phone", "null");
	chs_change_set(b, "phone", NULL);
	ck_assert_ptr_null(a->fields[0].value);
	ea = encode(a, &la);
	eb = encode(b, &lb);
	ck_assert_str_eq(ea, eb);
	free(ea);
	free(eb);
	chs_change_free(a);
	chs_change_free(b);
}
END_TEST

START_TEST(test_change__add_parent_keeps_sorted_unique)
{
	chs_change *c = make(CHS_OP_UPDATE);
	unsigned char p[CHS_CHANGE_ID_BYTES];

	memset(p, 0x01, sizeof(p));
	chs_change_add_parent(c, p);
	memset(p, 0xff, sizeof(p));
	chs_change_add_parent(c, p);
	chs_change_add_parent(c, p);
	memset(p, 0xab, sizeof(p));
	chs_change_add_parent(c, p);
	ck_assert_uint_eq(c->nparents, 3);
	ck_assert_int_eq(c->parents[0][0], 0x01);
	ck_assert_int_eq(c->parents[1][0], 0xab);
	ck_assert_int_eq(c->parents[2][0], 0xff);
	chs_change_free(c);
}
END_TEST

START_TEST(test_change__encode_refuses_impossible_changes)
{
	chs_change *c;
	chs_buf b;
	unsigned char p[CHS_CHANGE_ID_BYTES] = { 0 };

	chs_buf_init(&b, 0);
	c = make(CHS_OP_UPDATE);
	free(c->type);
	c->type = NULL;
	ck_assert_int_eq(chs_change_encode(c, &b), CHS_EINVALID);
	chs_change_free(c);

	c = make(CHS_OP_UPDATE);
	c->op = (chs_op)9;
	ck_assert_int_eq(chs_change_encode(c, &b), CHS_EINVALID);
	chs_change_free(c);

	c = make(CHS_OP_DELETE);
	chs_change_set(c, "a", "1");
	ck_assert_int_eq(chs_change_encode(c, &b), CHS_EINVALID);
	chs_change_free(c);

	c = make(CHS_OP_CREATE);
	chs_change_add_parent(c, p);
	ck_assert_int_eq(chs_change_encode(c, &b), CHS_EINVALID);
	chs_change_free(c);

	c = make(CHS_OP_UPDATE);
	free(c->parents);
	c->parents = NULL;
	c->nparents = 0;
	ck_assert_int_eq(chs_change_encode(c, &b), CHS_EINVALID);
	chs_change_free(c);

	c = make(CHS_OP_UPDATE);
	c->deleted = 1;
	ck_assert_int_eq(chs_change_encode(c, &b), CHS_EINVALID);
	chs_change_free(c);

	c = make(CHS_OP_UPDATE);
	memcpy(c->device, "00112233445566778899AABBCCDDEEFF", 33);
	ck_assert_int_eq(chs_change_encode(c, &b), CHS_EINVALID);
	chs_change_free(c);

	c = make(CHS_OP_UPDATE);
	chs_change_set(c, "fee", "12.5");
	ck_assert_int_eq(chs_change_encode(c, &b), CHS_EINVALID);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "fee"));
	chs_change_free(c);

	ck_assert_uint_eq(b.len, 0);
	chs_buf_dispose(&b);
}
END_TEST

/* A valid encoding with one spot replaced: tests build bad inputs this
 * way so each differs from a good one in one respect only. */
static char *good_text(void)
{
	chs_change *c = make(CHS_OP_UPDATE);
	size_t len;
	char *enc;

	chs_change_set(c, "name", "\"Ann\"");
	chs_change_set(c, "age", "7");
	enc = encode(c, &len);
	chs_change_free(c);
	return enc;
}

static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);

	ck_assert_ptr_nonnull(at);
	ck_assert_ptr_nonnull(out);
	memcpy(out, s, (size_t)(at - s));
	memcpy(out + (at - s), to, strlen(to));
	memcpy(out + (at - s) + strlen(to), at + strlen(from),
	       strlen(at + strlen(from)) + 1);
	return out;
}

START_TEST(test_change__decode_refuses_non_canonical_bytes)
{
	static const char *edits[][2] = {
		{ "{\"device\"", "{ \"device\"" },          /* extra space */
		{ "\"v\":1}", "\"v\":1}\n" },                /* trailing newline */
		{ "\"terminal\":\"front-desk\",\"type\":\"patient\"",
		  "\"type\":\"patient\",\"terminal\":\"front-desk\"" }, /* unsorted */
		{ "\"age\":7,\"name\":\"Ann\"",
		  "\"name\":\"Ann\",\"age\":7" },              /* unsorted fields */
		{ "\"age\":7", "\"age\":7.0" },
		{ "\"age\":7", "\"age\":07" },
		{ "\"hlc\":\"", "\"hlc\":\"0" },             /* leading zero */
		{ "\"record\":\"0f", "\"record\":\"0F" },    /* uppercase hex */
		{ "\"name\":\"Ann\"", "\"name\":\"\\u0041nn\"" }, /* needless escape */
		{ "{\"device\":\"00112233445566778899aabbccddeeff\",\"fields\"",
		  "{\"fields\"" },                            /* missing member */
		{ "\"v\":1", "\"v\":2" },
		{ "\"v\":1", "\"v\":1,\"x\":1" },            /* unknown member */
		{ "\"op\":\"update\"", "\"op\":\"edit\"" },
		{ "\"op\":\"update\"", "\"op\":3" },
		{ "\"hlc\":\"", "\"hlc\":1" },
		{ "\"fields\":{", "\"fields\":[" },
		{ "\"user\":\"ann\"", "\"user\":null" },
		{ "\"user\":\"ann\"", "\"user\":\"ann\",\"user\":\"ann\"" },
		{ "{\"device", "{\"deleted\":false,\"device" },
		{ "{\"device", "{\"deleted\":true,\"device" }, /* not a resolve */
		{ "\"parents\":[\"ab", "\"parents\":[\"zz" },
		{ "\"parents\":[\"ab", "\"parents\":[1,\"ab" },
		{ "\"type\":\"patient\"", "\"type\":\"\"" },
		{ "\"name\":\"Ann\"", "\"name\":1.5" },
		{ "\"name\":\"Ann\"", "\"\":1" },
		{ "\"name\":\"Ann\"", "\"name\":9007199254740993" },
		{ "\"device\":\"0011", "\"device\":\"11" },
		{ "\"parents\":[", "\"parents\":[]" },       /* broken JSON */
	};
	char *good = good_text();
	size_t i;

	ck_assert_int_eq(decode_str(good), 0);
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *bad = replace(good, edits[i][0], edits[i][1]);

		ck_assert_msg(decode_str(bad) == CHS_EINVALID,
			      "accepted edit %zu: %s", i, bad);
		free(bad);
	}
	free(good);
}
END_TEST

START_TEST(test_change__decode_refuses_unsorted_or_repeated_parents)
{
	char *good = good_text(), *two, *rev, *dup;
	const char *a = "\"abababababababababababababababababababababababababababababababab\"";
	const char *lo = "\"0101010101010101010101010101010101010101010101010101010101010101\"";
	char buf[200];

	ck_assert_int_lt(snprintf(buf, sizeof(buf), "%s,%s", lo, a), (int)sizeof(buf));
	two = replace(good, a, buf);
	ck_assert_int_eq(decode_str(two), 0);
	snprintf(buf, sizeof(buf), "%s,%s", a, lo);
	rev = replace(good, a, buf);
	ck_assert_int_eq(decode_str(rev), CHS_EINVALID);
	snprintf(buf, sizeof(buf), "%s,%s", a, a);
	dup = replace(good, a, buf);
	ck_assert_int_eq(decode_str(dup), CHS_EINVALID);
	free(good);
	free(two);
	free(rev);
	free(dup);
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Hostile bytes never crash decode, and whatever it accepts is canonical:
 * encoding it again gives the same bytes. */
/* Mutate `good` at random 20,000 times: whatever still decodes must
 * encode back to exactly its bytes. */
static void mutate_and_decode(char *good)
{
	size_t len = strlen(good), i, accepted = 0;
	char *buf = malloc(len + 8);

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < 20000; i++) {
		size_t n = len, k, flips = 1 + rnd() % 3;
		chs_change *c = NULL;

		memcpy(buf, good, len);
		for (k = 0; k < flips; k++)
			buf[rnd() % len] = (char)(rnd() & 0xff);
		if (rnd() % 8 == 0)
			n = rnd() % len;
		if (chs_change_decode(&c, buf, n) == 0) {
			size_t elen;
			char *again = encode(c, &elen);

			ck_assert_uint_eq(elen, n);
			ck_assert_int_eq(memcmp(again, buf, n), 0);
			free(again);
			accepted++;
		}
		chs_change_free(c);
	}
	/* Some flips land in values and stay valid; most do not. */
	ck_assert_uint_lt(accepted, 20000);
	free(buf);
	free(good);
}

START_TEST(test_change__decode_survives_mutated_input)
{
	mutate_and_decode(good_text());
}
END_TEST

/* A resolve that deletes, with a cleared field, a negative number and
 * two parents: every member the plain decoder reads. */
START_TEST(test_change__decode_survives_mutated_resolve)
{
	chs_change *c = make(CHS_OP_RESOLVE);
	unsigned char p[CHS_CHANGE_ID_BYTES];
	size_t len;

	memset(p, 0xcd, sizeof(p));
	ck_assert_int_eq(chs_change_add_parent(c, p), 0);
	c->deleted = 1;
	chs_change_set(c, "a", NULL);
	chs_change_set(c, "b", "\"x\"");
	chs_change_set(c, "c", "-12");
	mutate_and_decode(encode(c, &len));
	chs_change_free(c);
}
END_TEST

/* Decoding reads most changes without a JSON parser and sends anything
 * out of the plain layout to the full one: each variant below leaves the
 * plain layout at another point, and every one must decode to the change
 * that was encoded, field for field. */
START_TEST(test_change__plain_and_full_decoding_build_the_same_change)
{
	static const char *const variants[][2] = {
		{ "name", "\"Ann\"" },          /* plain */
		{ "age", "42" },                 /* plain integer */
		{ "big", "90071992547409" },     /* plain, 14 digits */
		{ "bigger", "9007199254740991" },/* 16 digits: the full decoder */
		{ "note", "\"line\\nbreak\"" },  /* an escape */
		{ "ok", "true" },                /* not a string or integer */
		{ "list", "[1,\"a\"]" },         /* nested */
		{ "obj", "{\"a\":1}" },
		{ "n\xc3\xa4me", "\"x\"" },      /* a non-ASCII name */
		{ "unicode", "\"caf\xc3\xa9\"" },/* UTF-8 in a plain value */
		{ "gone", NULL },                /* cleared */
	};
	size_t i, j, k;

	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		for (k = 0; k < 2; k++) {
			chs_change *c = make(k ? CHS_OP_UPDATE : CHS_OP_CREATE), *d = NULL;
			size_t len;
			char *text;

			/* plain fields around the variant, so the switch comes mid-way */
			chs_change_set(c, "a", "\"first\"");
			chs_change_set(c, variants[i][0], variants[i][1]);
			chs_change_set(c, "z", "7");
			if (k) {
				free(c->terminal);
				c->terminal = strdup("desk \"2\""); /* an escape in a text */
			}
			text = encode(c, &len);
			ck_assert_msg(chs_change_decode(&d, text, len) == 0, "%s: %s", text,
				      chs_error_last());
			ck_assert_mem_eq(d->id, c->id, CHS_CHANGE_ID_BYTES);
			ck_assert_int_eq(d->op, c->op);
			ck_assert_str_eq(d->type, c->type);
			ck_assert_str_eq(d->user, c->user);
			ck_assert_str_eq(d->terminal, c->terminal);
			ck_assert_str_eq(d->device, c->device);
			ck_assert_uint_eq(d->hlc, c->hlc);
			ck_assert_uint_eq(d->nparents, c->nparents);
			ck_assert_uint_eq(d->nfields, c->nfields);
			for (j = 0; j < c->nfields; j++) {
				ck_assert_str_eq(d->fields[j].name, c->fields[j].name);
				if (c->fields[j].value)
					ck_assert_str_eq(d->fields[j].value, c->fields[j].value);
				else
					ck_assert_ptr_null(d->fields[j].value);
			}
			free(text);
			chs_change_free(c);
			chs_change_free(d);
		}
	}
}
END_TEST

START_TEST(test_change__dup_is_deep_and_equal)
{
	chs_change *c = make(CHS_OP_UPDATE), *d;
	size_t la, lb;
	char *ea, *eb;

	chs_change_set(c, "name", "\"Ann\"");
	chs_change_set(c, "phone", NULL);
	ck_assert_int_eq(chs_change_dup(&d, c), 0);
	ea = encode(c, &la);
	chs_change_set(c, "name", "\"Bob\"");
	eb = encode(d, &lb);
	ck_assert_str_eq(ea, eb);
	ck_assert_str_eq(d->fields[0].value, "\"Ann\"");
	free(ea);
	free(eb);
	chs_change_free(c);
	chs_change_free(d);
	chs_change_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sync_change");
	TCase *tc = tcase_create("canonical");
	TCase *tch = tcase_create("change");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_canonical__sorts_keys_and_drops_whitespace);
	tcase_add_test(tc, test_canonical__sorts_keys_by_utf16_code_units);
	tcase_add_test(tc, test_canonical__escapes_only_what_json_requires);
	tcase_add_test(tc, test_canonical__integers_are_plain_decimal);
	tcase_add_test(tc, test_canonical__refuses_what_it_cannot_represent);
	tcase_add_test(tc, test_canonical__refuses_invalid_utf8);
	tcase_add_test(tc, test_canonical__nesting_limit_is_an_error_not_a_crash);
	tcase_add_test(tc, test_canonical__string_writer);
	tcase_add_test(tc, test_canonical__canonical_text_is_a_fixed_point);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tch, setup, NULL);
	tcase_set_timeout(tch, 60);
	tcase_add_test(tch, test_change__encoding_is_documented_canonical_json);
	tcase_add_test(tch, test_change__round_trips_and_id_is_hash_of_bytes);
	tcase_add_test(tch, test_change__field_order_typed_does_not_change_the_id);
	tcase_add_test(tch, test_change__null_is_the_cleared_value);
	tcase_add_test(tch, test_change__add_parent_keeps_sorted_unique);
	tcase_add_test(tch, test_change__encode_refuses_impossible_changes);
	tcase_add_test(tch, test_change__decode_refuses_non_canonical_bytes);
	tcase_add_test(tch, test_change__decode_refuses_unsorted_or_repeated_parents);
	tcase_add_test(tch, test_change__decode_survives_mutated_input);
	tcase_add_test(tch, test_change__decode_survives_mutated_resolve);
	tcase_add_test(tch, test_change__plain_and_full_decoding_build_the_same_change);
	tcase_add_test(tch, test_change__dup_is_deep_and_equal);
	suite_add_tcase(s, tch);
	return tu_run(s);
}
