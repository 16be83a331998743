/*
 * client/text/text.h - text from people and from other sites, made safe.
 *
 * Every text value in a record is untrusted: typed at one clinic, it is
 * shown at another. This module is the one place that reads Unicode
 * (with utf8proc): it refuses what must not be typed in (control
 * characters, bidirectional overrides, invalid UTF-8, over-long values),
 * normalises identifiers so look-alikes compare equal, and escapes what
 * reaches a terminal or a spreadsheet from a change that was synced (a
 * synced change is never refused for its form, so output must cope).
 *
 * Functions that build text append to a chs_buf (crypto.h): the caller
 * owns the buffer and disposes of it.
 */
#ifndef CHS_CLIENT_TEXT_H
#define CHS_CLIENT_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crypto/crypto.h"

/* What a text value may hold. */
typedef enum chs_text_form {
	CHS_TEXT_LINE,  /* one line: no control characters at all */
	CHS_TEXT_LINES  /* lines: newline and tab allowed (a note's text) */
} chs_text_form;

/* Whether code point `cp` must never be typed in, nor reach a terminal
 * as it is: C0 controls (tab and newline aside when `form` is
 * CHS_TEXT_LINES), DEL, C1 controls, the bidirectional embeddings,
 * overrides and isolates (U+202A..U+202E, U+2066..U+2069) and the line
 * and paragraph separators (U+2028, U+2029). */
int chs_text_cp_unsafe(int32_t cp, chs_text_form form);

/* Check a value typed in for a field called `what` (used in the message):
 * valid UTF-8, no unsafe code point, at most `max_chars` characters
 * (0: no limit). CHS_EINVALID with a message that names the field, the
 * character (as U+XXXX) and where it is, or the limit. */
int chs_text_check(const char *s, size_t len, chs_text_form form, size_t max_chars,
		   const char *what);

/* Whether `s` holds nothing but white space (Unicode White_Space). */
int chs_text_is_blank(const char *s, size_t len);

/* Number of characters (code points) in valid UTF-8 `s`; invalid bytes
 * count one each. */
size_t chs_text_length(const char *s, size_t len);

/* The length in bytes of the first `max_chars` characters of `s` (all of
 * `len` when it is shorter): where to cut a value for a column without
 * splitting a character. */
size_t chs_text_prefix(const char *s, size_t len, size_t max_chars);

/* An identifier as it is stored (a chart number, a member id): white
 * space trimmed at both ends, Unicode NFC, every dash (Unicode category
 * Pd, and U+2212 MINUS SIGN) made '-'. CHS_EINVALID if `s` is not valid
 * UTF-8. */
int chs_text_normalise_id(chs_buf *out, const char *s, size_t len);

/* The look-alike key of an identifier: its normalised form (above) under
 * NFKC case folding, with white space removed, so "A-1001", "a‐1001" and
 * "Ａ-1001 " share one key. For finding near-duplicates, never stored. */
int chs_text_id_key(chs_buf *out, const char *s, size_t len);

/* The key two people's names are compared by, for finding patients that
 * may be one person (never stored, never shown): Unicode NFKD with every
 * combining mark dropped (accents: "José" is "jose"), case folded,
 * punctuation dropped ("O'Brien" is "obrien") except dashes, commas and
 * slashes, which separate names as a space does ("Smith-Jones",
 * "Smith,John"), and white space trimmed, each run made one space.
 * CHS_EINVALID if `s` is not valid UTF-8. */
int chs_text_name_key(chs_buf *out, const char *s, size_t len);

/* Decode `s` into at most `max` code points in `out` (an invalid byte
 * counts as one, its value): what a measure of text that works on
 * characters (the similarity of two name keys) reads. Returns the number
 * written. */
size_t chs_text_code_points(const char *s, size_t len, int32_t *out, size_t max);

/* Append `s` for a terminal: every unsafe code point written as \xNN (below
 * U+0080) or \u{XXXX}, every byte of invalid UTF-8 as \xNN; with
 * CHS_TEXT_LINES, newline and tab are kept as they are. */
int chs_text_escape(chs_buf *out, const char *s, size_t len, chs_text_form form);

/* Write NUL-terminated `s` to `f`, escaped as chs_text_escape() does. 0, or
 * CHS_ENOMEM / CHS_EIO. For the tools' human-readable views. */
int chs_text_fputs(FILE *f, const char *s, chs_text_form form);

/* Append `s` as one CSV cell (RFC 4180) that a spreadsheet will not run as
 * a formula: text beginning with '=', '+', '-', '@', tab or carriage
 * return gets a leading apostrophe (OWASP's advice for CSV injection);
 * a cell holding a comma, a quote, a newline or a carriage return, or
 * white space at either end, is quoted with inner quotes doubled. Numbers chartsync formats itself
 * (money, counts) are not text: append them as they are, so a negative
 * amount stays a number. */
int chs_text_csv_cell(chs_buf *out, const char *s, size_t len);

#endif
