/*
 * sync/sync_int.h - helpers shared by the files of sync/; included only
 * inside sync/. jansson stays behind this header: nothing outside sync/
 * sees a json_t.
 */
#ifndef CHS_SYNC_INT_H
#define CHS_SYNC_INT_H

#include <jansson.h>

#include "sync/sync.h"

/* Largest change encoding decode accepts (bytes). Attachments travel by
 * content hash, so a change is a few fields of text; this only stops a
 * hostile peer from making us parse gigabytes. */
#define CHS_SYNC_CHANGE_MAX_BYTES ((size_t)4 << 20)

/* Largest integer magnitude canonical JSON carries: 2^53, where doubles
 * stop being exact, so every JSON reader agrees on the value. */
#define CHS_SYNC_INT_MAX ((json_int_t)1 << 53)

/* Flags for every parse in sync/: duplicate keys are refused (their
 * meaning differs between readers). */
#define CHS_SYNC_JSON_FLAGS JSON_REJECT_DUPLICATES

/* Compare two UTF-8 keys in RFC 8785 order (by UTF-16 code units). */
int chs_sync__keycmp(const char *a, const char *b);

/* 1 if `s` (len bytes) is well-formed UTF-8 without NUL bytes. */
int chs_sync__utf8_ok(const char *s, size_t len);

/* Append the canonical form of a parsed value. CHS_EINVALID for reals,
 * integers beyond +-2^53 and strings that are not UTF-8. On failure the
 * bytes appended so far stay in `out`; callers roll back. */
int chs_sync__write_json(chs_buf *out, const json_t *v);

/* Parse `len` bytes of JSON (any value) with the flags above; NULL with
 * CHS_EINVALID set, naming `what`, when it is not JSON, or with
 * CHS_ENOMEM set when jansson ran out of memory (chs_error_last_code()
 * tells which). */
json_t *chs_sync__parse(const void *text, size_t len, const char *what);

/* 1 if `s` is exactly `nchars` lowercase hex digits (then a NUL). */
int chs_sync__is_hex(const char *s, size_t nchars);

/* Write the canonical encoding of `c` to `out` without touching c->id
 * (batch verification re-derives ids from const changes). */
int chs_sync__change_write(const chs_change *c, chs_buf *out);

/* chs_change_decode(), keeping a copy of the bytes in c->encoding. */
int chs_sync__change_decode_kept(chs_change **out, const void *bytes, size_t len);

/* Like chs_batch_verify() and chs_batch_verify_subset() (complete 1 or
 * 0), for a batch whose changes were all just decoded: decoding set each
 * id to the hash of bytes it checked to be the change's exact encoding,
 * so the ids are taken as they are instead of encoded again. */
int chs_sync__verify_decoded(const chs_batch *b, int complete);

/* The id `c` would have: BLAKE2b-256 of its encoding. */
int chs_sync__change_id(const chs_change *c,
			unsigned char id[CHS_CHANGE_ID_BYTES]);

/* 1 when a value is certainly canonical JSON without parsing it (a
 * string with nothing to escape, an integer of at most 15 digits). */
int chs_sync__plainly_canonical(const char *v, size_t len);

/* Put `changes` (ids set) in the order b's manifest lists them; a change
 * it does not list goes first, for verification to refuse. */
int chs_sync__manifest_order(const chs_batch *b, chs_change **changes, size_t n);

#endif
