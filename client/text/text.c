/*
 * Text from people and from other sites: the checks at entry, identifier
 * normalisation, and escaping for terminals and spreadsheets. utf8proc
 * decodes and classifies; nothing here reads UTF-8 by hand.
 */
#include "client/text/text.h"

#include <ctype.h>
#include <string.h>
#include <stdlib.h>
#include <utf8proc.h>

/* The length of the leading run of printable ASCII (U+0020..U+007E) in
 * `s`: such text is valid UTF-8, safe, one character a byte, and its own
 * NFC form, so the common case needs no Unicode tables. */
static size_t printable_ascii(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f)
		i++;
	return i;
}

int chs_text_cp_unsafe(int32_t cp, chs_text_form form)
{
	if (form == CHS_TEXT_LINES && (cp == '\n' || cp == '\t'))
		return 0;
	if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
		return 1; /* C0, DEL, C1 */
	if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
		return 1; /* bidirectional embeddings, overrides, isolates */
	return cp == 0x2028 || cp == 0x2029;
}

/* Decode the code point at `s[i]`: its length in bytes, or -1 when the
 * byte there does not start valid UTF-8 (then *cp is the byte). */
static utf8proc_ssize_t next_cp(const char *s, size_t len, size_t i, int32_t *cp)
{
	utf8proc_int32_t c;
	utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
					      (utf8proc_ssize_t)(len - i), &c);

	if (n <= 0 || c < 0) {
		*cp = (unsigned char)s[i];
		return -1;
	}
	*cp = c;
	return n;
}

static int is_space(int32_t cp)
{
	utf8proc_category_t cat;

	if ((cp >= 0x09 && cp <= 0x0d) || cp == 0x85)
		return 1;
	cat = utf8proc_category(cp);
	return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
	       cat == UTF8PROC_CATEGORY_ZP;
}

/* What an unsafe code point is, in a message. */
static const char *unsafe_kind(int32_t cp)
{
	if (cp == 0x2028 || cp == 0x2029)
		return "a line or paragraph separator";
	if (cp >= 0x2000)
		return "a bidirectional text control";
	return "a control character";
}

int chs_text_check(const char *s, size_t len, chs_text_form form, size_t max_chars,
		   const char *what)
{
	size_t i = 0, chars = 0;
	int32_t cp;
	utf8proc_ssize_t n;

	CHS_ASSERT_ARG(s && what);
	i = chars = printable_ascii(s, len);
	while (i < len) {
		n = next_cp(s, len, i, &cp);
		chars++;
		if (n < 0)
			return chs_error_set(CHS_EINVALID,
					     "%s is not valid UTF-8 text (byte 0x%02X at character %zu); "
					     "save the text as UTF-8 and try again",
					     what, (unsigned)cp, chars);
		if (chs_text_cp_unsafe(cp, form))
			return chs_error_set(CHS_EINVALID,
					     "%s holds %s (U+%04X) at character %zu; %s",
					     what, unsafe_kind(cp), (unsigned)cp, chars,
					     form == CHS_TEXT_LINES ?
					     "only letters, digits, punctuation, spaces, tabs and line breaks are allowed" :
					     "it must be one line of printable text");
		i += (size_t)n;
	}
	if (max_chars && chars > max_chars)
		return chs_error_set(CHS_EINVALID,
				     "%s is too long: %zu characters, the limit is %zu",
				     what, chars, max_chars);
	return 0;
}

int chs_text_is_blank(const char *s, size_t len)
{
	size_t i = 0;
	int32_t cp;
	utf8proc_ssize_t n;

	while (i < len) {
		n = next_cp(s, len, i, &cp);
		if (n < 0 || !is_space(cp))
			return 0;
		i += (size_t)n;
	}
	return 1;
}

size_t chs_text_length(const char *s, size_t len)
{
	size_t i = 0, chars = 0;
	int32_t cp;
	utf8proc_ssize_t n;

	while (i < len) {
		n = next_cp(s, len, i, &cp);
		i += n < 0 ? 1 : (size_t)n;
		chars++;
	}
	return chars;
}

size_t chs_text_prefix(const char *s, size_t len, size_t max_chars)
{
	size_t i = 0, chars = 0;
	int32_t cp;
	utf8proc_ssize_t n;

	while (i < len && chars < max_chars) {
		n = next_cp(s, len, i, &cp);
		i += n < 0 ? 1 : (size_t)n;
		chars++;
	}
	return i;
}

static int is_dash(int32_t cp)
{
	return cp == 0x2212 || utf8proc_category(cp) == UTF8PROC_CATEGORY_PD;
}

/* utf8proc_map() under `options`, appending the result with every dash
 * made '-' and white space trimmed at both ends (or, with `drop_space`,
 * removed everywhere). */
static int map_id(chs_buf *out, const char *s, size_t len, utf8proc_option_t options,
		  int drop_space)
{
	utf8proc_uint8_t *m = NULL;
	utf8proc_ssize_t mlen, n;
	size_t i = 0, start, end;
	int32_t cp;
	int error = 0;
	char dash = '-';

	/* printable ASCII with no space at either end and (without case
	 * folding) as it is: already its own normal form */
	if (!drop_space && printable_ascii(s, len) == len &&
	    (len == 0 || (s[0] != ' ' && s[len - 1] != ' ')) && !(options & UTF8PROC_CASEFOLD))
		return chs_buf_put(out, s, len);
	mlen = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &m,
			    options | UTF8PROC_STABLE);
	if (mlen == UTF8PROC_ERROR_NOMEM)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (mlen < 0)
		return chs_error_set(CHS_EINVALID, "an identifier is not valid UTF-8 text");

	/* trim: find the first and last code points that are not space */
	start = end = 0;
	for (i = 0; i < (size_t)mlen; i += (size_t)n) {
		n = next_cp((const char *)m, (size_t)mlen, i, &cp);
		if (n < 0)
			n = 1;
		if (!is_space(cp)) {
			if (end == 0)
				start = i;
			end = i + (size_t)n;
		}
	}
	for (i = start; i < end && !error; i += (size_t)n) {
		n = next_cp((const char *)m, end, i, &cp);
		if (n < 0)
			n = 1;
		if (is_dash(cp))
			error = chs_buf_put(out, &dash, 1);
		else if (!(drop_space && is_space(cp)))
			error = chs_buf_put(out, m + i, (size_t)n);
	}
	free(m);
	return error;
}

int chs_text_normalise_id(chs_buf *out, const char *s, size_t len)
{
	CHS_ASSERT_ARG(out && s);
	return map_id(out, s, len, UTF8PROC_COMPOSE, 0);
}

int chs_text_id_key(chs_buf *out, const char *s, size_t len)
{
	CHS_ASSERT_ARG(out && s);
	return map_id(out, s, len, UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD, 1);
}

/* What a code point of a decomposed, case-folded name becomes in its
 * key: 0 dropped, ' ' a separator, 1 kept. */
static int name_class(int32_t cp)
{
	utf8proc_category_t cat;

	if (is_space(cp) || is_dash(cp) || cp == ',' || cp == '/')
		return ' ';
	cat = utf8proc_category(cp);
	switch (cat) {
	case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
	case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
	case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
	case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
		return 0;
	default:
		return 1;
	}
}

int chs_text_name_key(chs_buf *out, const char *s, size_t len)
{
	utf8proc_uint8_t *m = NULL;
	utf8proc_ssize_t mlen, n;
	size_t i;
	int32_t cp;
	int err = 0, gap = 0, any = 0, k;

	CHS_ASSERT_ARG(out && (s || !len));
	/* STRIPMARK drops the marks NFKD splits off; name_class() drops any
	 * left standing alone */
	mlen = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &m,
			    UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT |
			    UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK);
	if (mlen == UTF8PROC_ERROR_NOMEM)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (mlen < 0)
		return chs_error_set(CHS_EINVALID, "a name is not valid UTF-8 text");
	for (i = 0; i < (size_t)mlen && err == 0; i += (size_t)n) {
		if ((n = next_cp((const char *)m, (size_t)mlen, i, &cp)) < 0)
			n = 1;
		if ((k = name_class(cp)) == ' ') {
			gap = any;
			continue;
		}
		if (k == 0)
			continue;
		if (gap)
			err = chs_buf_put(out, " ", 1);
		if (err == 0)
			err = chs_buf_put(out, m + i, (size_t)n);
		gap = 0;
		any = 1;
	}
	free(m);
	return err;
}

size_t chs_text_code_points(const char *s, size_t len, int32_t *out, size_t max)
{
	size_t i = 0, n = 0;
	utf8proc_ssize_t k;

	if (!s || !out)
		return 0;
	while (i < len && n < max) {
		k = next_cp(s, len, i, &out[n++]);
		i += k < 0 ? 1 : (size_t)k;
	}
	return n;
}

int chs_text_escape(chs_buf *out, const char *s, size_t len, chs_text_form form)
{
	size_t i = 0, run = 0;
	int32_t cp;
	utf8proc_ssize_t n;
	int error = 0;

	CHS_ASSERT_ARG(out && (s || !len));
	/* copy runs of safe text in one append */
	while (i < len && !error) {
		n = next_cp(s, len, i, &cp);
		if (n > 0 && !chs_text_cp_unsafe(cp, form)) {
			i += (size_t)n;
			run += (size_t)n;
			continue;
		}
		if (run)
			error = chs_buf_put(out, s + i - run, run);
		run = 0;
		if (error)
			break;
		if (n < 0 || cp < 0x80)
			error = chs_buf_printf(out, "\\x%02x", (unsigned)cp);
		else
			error = chs_buf_printf(out, "\\u{%04x}", (unsigned)cp);
		i += n < 0 ? 1 : (size_t)n;
	}
	if (!error && run)
		error = chs_buf_put(out, s + i - run, run);
	return error;
}

int chs_text_fputs(FILE *f, const char *s, chs_text_form form)
{
	chs_buf b;
	int error;

	CHS_ASSERT_ARG(f && s);
	chs_buf_init(&b, CHS_BUF_MAX_DEFAULT);
	error = chs_text_escape(&b, s, strlen(s), form);
	if (!error && b.len && fwrite(b.ptr, 1, b.len, f) != b.len)
		error = chs_error_set(CHS_EIO, "cannot write the output");
	chs_buf_dispose(&b);
	return error;
}

int chs_text_csv_cell(chs_buf *out, const char *s, size_t len)
{
	int formula, quote, error = 0;
	size_t i;

	CHS_ASSERT_ARG(out && (s || !len));
	formula = len && strchr("=+-@\t\r", s[0]) != NULL;
	/* white space at either end is quoted too, or a spreadsheet drops it */
	quote = formula || memchr(s, ',', len) || memchr(s, '"', len) ||
		memchr(s, '\n', len) || memchr(s, '\r', len) ||
		(len && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1])));
	if (!quote)
		return chs_buf_put(out, s, len);
	error = chs_buf_put(out, formula ? "\"'" : "\"", formula ? 2 : 1);
	for (i = 0; i < len && !error; i++)
		error = s[i] == '"' ? chs_buf_put(out, "\"\"", 2) : chs_buf_put(out, s + i, 1);
	return error ? error : chs_buf_put(out, "\"", 1);
}
