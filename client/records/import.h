/*
 * client/records/import.h - the JSON Lines reader of `chartsync import`
 * (import.c), offered to the tests: one line's bytes read and checked as
 * the import reads them before it builds the record (the type, the
 * members, each field's name and kind), with no store
 * (tests/fuzz/fuzz_import.c). import.c has the line's form.
 */
#ifndef CHS_CLIENT_RECORDS_IMPORT_H
#define CHS_CLIENT_RECORDS_IMPORT_H

#include <stddef.h>

#include "client/records/records.h"
#include "client/records/schema.h"

#define CHS_IMPORT_FIELDS_MAX 64

/* The plain reader's work space (import.c's own). */
typedef struct chs_import_scratch chs_import_scratch;

/* One line, read: its record type (one that can be imported), the
 * optional members (NULL when absent) and its fields as edits, each a
 * field of `t` with a value of its kind (an integer in decimal for an
 * integer field, else a string). The texts point into the line or into
 * what the reader keeps until the next read. */
typedef struct chs_import_line {
	const chs_type_def *t;
	const char *id, *patient, *encounter;
	chs_edit e[CHS_IMPORT_FIELDS_MAX];
	char num[CHS_IMPORT_FIELDS_MAX][24]; /* integers, as text */
	size_t n;
	void *json;                 /* the line as jansson read it, or NULL */
	chs_import_scratch *scratch;
} chs_import_line;

/* Ready `l` for reading lines (CHS_ENOMEM); end with ..._end() always. */
int chs_records__import_begin(chs_import_line *l);
void chs_records__import_end(chs_import_line *l);
/* Read line `text` (`len` bytes, its newline included or not; written in
 * place: the texts are NUL-terminated in it) into `l`. CHS_EINVALID with
 * the reason, CHS_ENOMEM. */
int chs_records__import_read(chs_import_line *l, char *text, size_t len);

#endif /* CHS_CLIENT_RECORDS_IMPORT_H */
