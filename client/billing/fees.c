/*
 * The fee schedule and the code lists.
 *
 * Fee schedule: a site's CSV (RFC 4180, a header line, then
 *   code,description,fee,effective
 * with the fee in dollars, "125", "125.5" or "125.00", no currency sign or
 * thousands separator, and the effective date as YYYY-MM-DD). Each line
 * becomes a signed record of type `fee` (billing compartment), so the
 * schedule syncs to the billing office that prices what it codes and to
 * every site. A line is keyed by (site, code, effective): importing a
 * schedule again updates the lines whose fee or description changed and
 * adds the new ones. The whole file is checked before anything is
 * written: a bad line is named by its number and nothing is imported.
 *
 * Code lists: ICD-10-CM, HCPCS and CPT code numbers, imported by each
 * site from CMS's public files into the local table code_lists (schema
 * 3). They are large and public, so they do not travel by sync; they
 * only tell a code no list knows, which is flagged, never refused.
 */
#include "billing_int.h"
#include "client/billing/fees.h"
#include "client/util/file.h"

#include <stdio.h>
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FEES_FILE_MAX ((size_t)64 << 20)   /* bytes */
#define CODES_FILE_MAX ((size_t)256 << 20) /* bytes: ICD-10-CM is ~20 MB */
#define CSV_COLS_MAX 32
#define CSV_FIELD_MAX ((size_t)1 << 20)    /* bytes of one field */
#define FEE_DOLLARS_MAX 9999999            /* $9,999,999.99 */
#define DESCRIPTION_MAX 400                /* bytes kept of a description */

static int nothing_imported(int err, const char *path);

/* ------------------------------------------------------------------ */
/* RFC 4180 records                                                     */

typedef struct csv_reader {
	const char *p, *end;
	int line;      /* line of the next character */
} csv_reader;

typedef struct csv_row {
	int line;      /* where the record starts */
	char *f[CSV_COLS_MAX];
	size_t n;      /* fields seen (may exceed CSV_COLS_MAX) */
} csv_row;

static void csv_row_dispose(csv_row *r)
{
	size_t i;

	for (i = 0; i < r->n && i < CSV_COLS_MAX; i++)
		free(r->f[i]);
	memset(r, 0, sizeof(*r));
}

static int csv_push(csv_row *r, chs_buf *b)
{
	char *v = chs_buf_detach(b);

	if (!v && !(v = chs_util__strdup("")))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if (r->n < CSV_COLS_MAX)
		r->f[r->n] = v;
	else
		free(v);
	r->n++;
	return 0;
}

/* A NUL byte: a field is a C string from here on, so one cut at its NUL
 * would import less than the line holds, silently. A CSV a spreadsheet
 * writes has none; a file that does is no text (UTF-16, a workbook). */
static int csv_nul(void)
{
	return chs_error_set(CHS_EINVALID, "a NUL byte: this is not a text file (save the"
			     " spreadsheet as CSV, UTF-8)");
}

/* A field could not grow: out of memory (passed up as it is), or past
 * its ceiling, which is the file's doing and no memory's. */
static int csv_long(int err, size_t field)
{
	if (err != CHS_EINVALID)
		return err;
	return chs_error_set(CHS_EINVALID, "field %zu is longer than %zu MiB: is this the fee"
			     " schedule?", field, CSV_FIELD_MAX >> 20);
}

/* A quoted field, from after its opening quote to after its closing one. */
static int csv_quoted(csv_reader *c, chs_buf *b, int opened, size_t field)
{
	int err;

	for (;;) {
		if (c->p >= c->end)
			return chs_error_set(CHS_EINVALID,
					     "a quoted field opened on line %d is never closed",
					     opened);
		if (*c->p == '"') {
			if (c->p + 1 < c->end && c->p[1] == '"') {
				c->p += 2;
				if ((err = chs_buf_put(b, "\"", 1)) < 0)
					return csv_long(err, field);
				continue;
			}
			c->p++;
			return 0;
		}
		if (*c->p == '\n')
			c->line++;
		if (*c->p == '\0')
			return csv_nul();
		if ((err = chs_buf_put(b, c->p++, 1)) < 0)
			return csv_long(err, field);
	}
}

/* The next record; *eof at the end of the input. Empty lines are
 * skipped. */
static int csv_next(csv_reader *c, csv_row *r, int *eof)
{
	chs_buf b;
	int err = 0;

	memset(r, 0, sizeof(*r));
	while (c->p < c->end && (*c->p == '\n' || (*c->p == '\r' && c->p + 1 < c->end &&
						    c->p[1] == '\n'))) {
		c->p += *c->p == '\r' ? 2 : 1;
		c->line++;
	}
	if ((*eof = c->p >= c->end))
		return 0;
	r->line = c->line;
	chs_buf_init(&b, CSV_FIELD_MAX);
	for (;;) {
		if (c->p < c->end && *c->p == '"' && b.len == 0) {
			c->p++;
			if ((err = csv_quoted(c, &b, r->line, r->n + 1)) < 0)
				break;
			if (c->p < c->end && *c->p != ',' && *c->p != '\n' &&
			    !(*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n')) {
				err = chs_error_set(CHS_EINVALID,
						    "text after the closing quote of field %zu", r->n + 1);
				break;
			}
		}
		if (c->p >= c->end || *c->p == '\n' || *c->p == '\r' || *c->p == ',') {
			int more = c->p < c->end && *c->p == ',';

			if ((err = csv_push(r, &b)) < 0)
				break;
			if (more) {
				c->p++;
				continue;
			}
			/* \n, \r\n, or a lone \r (an old Mac's line end), each
			 * one line: a lone \r ended the record without
			 * counting it, so later lines were named wrongly */
			if (c->p < c->end && (*c->p == '\r' || *c->p == '\n')) {
				if (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n')
					c->p++;
				c->p++;
				c->line++;
			}
			break;
		}
		if (*c->p == '"') {
			err = chs_error_set(CHS_EINVALID,
					    "a quote inside unquoted field %zu (quote the whole field"
					    " and double the quote)", r->n + 1);
			break;
		}
		if (*c->p == '\0') {
			err = csv_nul();
			break;
		}
		if ((err = chs_buf_put(&b, c->p++, 1)) < 0) {
			err = csv_long(err, r->n + 1);
			break;
		}
	}
	chs_buf_dispose(&b);
	return err;
}

static char *trim(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

/* A spreadsheet cell may hold line breaks and tabs; a fee's description
 * is one line (client/records/schema.c), so each run of them is one space.
 * Other control characters stay, for entry to refuse with the line. */
static void one_line(char *s)
{
	char *d = s, *start = s;

	for (; *s; s++)
		if (*s == '\r' || *s == '\n' || *s == '\t') {
			if (d == start || d[-1] != ' ')
				*d++ = ' ';
		} else {
			*d++ = *s;
		}
	*d = '\0';
}

static void upper(char *s)
{
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

/* ------------------------------------------------------------------ */
/* Fee lines                                                            */

/* the offered header's types (client/billing/fees.h) */
typedef chs_fee_line fee_line;

/* Dollars: digits, then optionally a point and one or two digits. */
static int parse_dollars(const char *s, int64_t *cents)
{
	int64_t d = 0, c = 0;
	size_t i = 0, k;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	for (; isdigit((unsigned char)s[i]); i++) {
		d = d * 10 + (s[i] - '0');
		if (d > FEE_DOLLARS_MAX)
			return -1;
	}
	if (s[i] == '.') {
		for (k = 1; k <= 2 && isdigit((unsigned char)s[i + k]); k++)
			c = c * 10 + (s[i + k] - '0');
		if (k == 1)
			return -1;
		if (k == 2)
			c *= 10;
		i += k;
	}
	if (s[i])
		return -1;
	*cents = d * 100 + c;
	return 0;
}

static int is_day(const char *s)
{
	return strlen(s) == 10 && chs_schema_valid_date(s);
}

static int check_header(const csv_row *r)
{
	static const char *const want[] = { "code", "description", "fee", "effective" };
	size_t i;

	if (r->n != 4)
		goto bad;
	for (i = 0; i < 4; i++) {
		char *h = trim(r->f[i]);

		if (strncasecmp(h, want[i], strlen(want[i])) != 0)
			goto bad;
	}
	return 0;
bad:
	return chs_error_set(CHS_EINVALID,
			     "line %d: the first line must be the header"
			     " code,description,fee,effective", r->line);
}

static int fee_row(const csv_row *r, fee_line *fl)
{
	char *code, *fee, *eff;

	memset(fl, 0, sizeof(*fl));
	fl->line = r->line;
	if (r->n != 4)
		return chs_error_set(CHS_EINVALID,
				     "line %d has %zu columns, expected 4 (code,description,fee,effective)",
				     r->line, r->n);
	code = trim(r->f[0]);
	fee = trim(r->f[2]);
	eff = trim(r->f[3]);
	upper(code);
	if (!chs_schema_valid_cpt(code))
		return chs_error_set(CHS_EINVALID, "line %d: code '%s' is not %s", r->line,
				     code, chs_schema_expected(CHS_KIND_CPT));
	if (parse_dollars(fee, &fl->cents) < 0)
		return chs_error_set(CHS_EINVALID,
				     "line %d: fee '%s' is not dollars and cents (expected e.g."
				     " 125.00 or 125, no $ sign or thousands separator)", r->line, fee);
	if (!is_day(eff))
		return chs_error_set(CHS_EINVALID,
				     "line %d: effective date '%s' is not a date (expected e.g."
				     " 2024-01-01)", r->line, eff);
	snprintf(fl->code, sizeof(fl->code), "%s", code);
	snprintf(fl->effective, sizeof(fl->effective), "%s", eff);
	one_line(r->f[1]);
	if (!(fl->description = chs_util__strdup(trim(r->f[1]))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	return 0;
}

typedef chs_fee_file fee_file;

static void fee_file_dispose(fee_file *ff)
{
	size_t i;

	for (i = 0; i < ff->n; i++)
		free(ff->lines[i].description);
	free(ff->lines);
}

static int fee_duplicate(const fee_file *ff, const fee_line *fl)
{
	size_t i;

	for (i = 0; i < ff->n; i++)
		if (strcmp(ff->lines[i].code, fl->code) == 0 &&
		    strcmp(ff->lines[i].effective, fl->effective) == 0)
			return chs_error_set(CHS_EINVALID,
					     "line %d: code %s effective %s is on line %d already",
					     fl->line, fl->code, fl->effective, ff->lines[i].line);
	return 0;
}

static int fee_add(fee_file *ff, fee_line *fl)
{
	int err;

	if ((err = fee_duplicate(ff, fl)) < 0)
		return err;
	if ((err = CHS_ARRAY_GROW(ff->lines, ff->cap, ff->n + 1)) < 0)
		return err;
	ff->lines[ff->n++] = *fl;
	fl->description = NULL;
	return 0;
}

/* Parse and check the whole file. */
static int read_fee_file(const char *text, size_t len, fee_file *ff)
{
	csv_reader c = { text, text + len, 1 };
	csv_row r;
	fee_line fl;
	int err, eof, first = 1;

	memset(&fl, 0, sizeof(fl));
	for (;;) {
		if ((err = csv_next(&c, &r, &eof)) < 0) {
			err = chs_error_wrap(err, "line %d", r.line ? r.line : c.line);
			csv_row_dispose(&r);
			return err;
		}
		if (eof)
			break;
		if (first)
			err = check_header(&r);
		else if ((err = fee_row(&r, &fl)) == 0)
			err = fee_add(ff, &fl);
		if (err < 0)
			free(fl.description);
		csv_row_dispose(&r);
		if (err < 0)
			return err;
		first = 0;
		memset(&fl, 0, sizeof(fl));
	}
	if (first)
		return chs_error_set(CHS_EINVALID,
				     "the file is empty (expected the header code,description,fee,effective)");
	return 0;
}

/* What `fees import` reads, offered to the tests as it is (fees.h). */
int chs_billing__fees_read(const char *text, size_t len, chs_fee_file *ff)
{
	return read_fee_file(text, len, ff);
}

void chs_billing__fees_dispose(chs_fee_file *ff)
{
	fee_file_dispose(ff);
}

/* ------------------------------------------------------------------ */
/* Sites                                                                */

/* ------------------------------------------------------------------ */
/* Writing the schedule                                                 */

/* A fee line's key in the map of existing_fees(): "site\x1f" "code\x1f"
 * "effective", whole however long the site's name. A key cut to a fixed
 * buffer made two sites whose names shared a long prefix one site, and
 * the second's lines updated the first's. Neither a code nor a date holds
 * a \x1f, so the last two separate the fields even when a site's name
 * holds one. */
static int fee_key(chs_buf *key, const char *site, const char *code, const char *effective)
{
	chs_buf_init(key, 0);
	return chs_buf_printf(key, "%s\x1f%s\x1f%s", site, code, effective);
}

/* The live fee lines, keyed by fee_key(), each [id hex, fee,
 * description]. */
static int existing_fees(chs_store *s, json_t *map)
{
	sqlite3_stmt *st = NULL;
	chs_buf key;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "SELECT id, ifnull(json_extract(j, '$.fields.site'), ''),"
		     " json_extract(j, '$.fields.code'), json_extract(j, '$.fields.effective'),"
		     " json_extract(j, '$.fields.fee'), ifnull(json_extract(j, '$.fields.description'), '')"
		     " FROM (SELECT id, CAST(state AS TEXT) AS j FROM records"
		     "  WHERE type = 'fee' AND NOT deleted)")) < 0)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char hex[33];

		if (sqlite3_column_bytes(st, 0) != 16 || !sqlite3_column_text(st, 2) ||
		    !sqlite3_column_text(st, 3))
			continue;
		chs_hex(hex, sqlite3_column_blob(st, 0), 16);
		if ((err = fee_key(&key, (const char *)sqlite3_column_text(st, 1),
				   (const char *)sqlite3_column_text(st, 2),
				   (const char *)sqlite3_column_text(st, 3))) < 0)
			break;
		json_object_set_new(map, key.ptr, json_pack("[s, I, s]", hex,
			(json_int_t)sqlite3_column_int64(st, 4),
			(const char *)sqlite3_column_text(st, 5)));
		chs_buf_dispose(&key);
	}
	chs_store__finish(s, st);
	if (err < 0)
		return err;
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "reading the fee schedule");
}

static int fee_edits(const fee_line *fl, const char *site, chs_edit *e, char cents[24])
{
	size_t n = 0;

	snprintf(cents, 24, "%lld", (long long)fl->cents);
	e[n++] = (chs_edit){ "code", fl->code, 0, 0 };
	e[n++] = (chs_edit){ "fee", cents, 0, 0 };
	e[n++] = (chs_edit){ "effective", fl->effective, 0, 0 };
	if (*fl->description)
		e[n++] = (chs_edit){ "description", fl->description, 0, 0 };
	if (site && *site)
		e[n++] = (chs_edit){ "site", site, 0, 0 };
	return (int)n;
}

/* An update of a fee line whose fee or description changed. */
static int fee_update(chs_writer *w, const char *hex, const fee_line *fl)
{
	const chs_type_def *t = chs_schema_type("fee");
	chs_edit e[2];
	chs_change *c = NULL;
	char cents[24];
	chs_buf v;
	int err, i;

	snprintf(cents, sizeof(cents), "%lld", (long long)fl->cents);
	e[0] = (chs_edit){ "fee", cents, 0, 0 };
	e[1] = (chs_edit){ "description", fl->description, 0, !*fl->description };
	if ((err = chs_change_new(&c)) < 0)
		return err;
	chs_util__parse_id(c->record, hex);
	c->op = CHS_OP_UPDATE;
	if (!(c->type = chs_util__strdup("fee")))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < 2 && err == 0; i++) {
		chs_buf_init(&v, 0);
		if (e[i].unset)
			err = chs_change_set(c, e[i].name, NULL);
		else if ((err = chs_records__edit_value(t, &e[i], &v)) == 0)
			err = chs_change_set(c, e[i].name, v.ptr);
		chs_buf_dispose(&v);
	}
	if (err < 0) {
		chs_change_free(c);
		return err;
	}
	return chs_records__writer_put(w, c);
}

static int fee_write(chs_writer *w, json_t *map, const fee_line *fl, const char *site,
		     chs_fees_result *res)
{
	char cents[24];
	unsigned char id[16];
	chs_edit e[5];
	chs_change *c = NULL;
	chs_buf key;
	json_t *old;
	int n, err;

	if ((err = fee_key(&key, site ? site : "", fl->code, fl->effective)) < 0)
		return err;
	old = json_object_get(map, key.ptr);
	chs_buf_dispose(&key);
	if (old) {
		if (json_integer_value(json_array_get(old, 1)) == fl->cents &&
		    strcmp(json_string_value(json_array_get(old, 2)), fl->description) == 0)
			return 0;
		res->updated++;
		return fee_update(w, json_string_value(json_array_get(old, 0)), fl);
	}
	n = fee_edits(fl, site, e, cents);
	chs_random(id, sizeof(id));
	if ((err = chs_records__new_record(w->s, chs_schema_type("fee"), id, e, (size_t)n,
					   NULL, NULL, &c)) < 0)
		return err;
	res->added++;
	return chs_records__writer_put(w, c);
}

static int fees_write(chs_store *s, const fee_file *ff, const char *site,
		      chs_fees_result *res)
{
	json_t *map = json_object();
	chs_writer w;
	size_t i;
	int err;

	if (!map)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = chs_records__writer_begin(&w, s)) < 0) {
		json_decref(map);
		return err;
	}
	if ((err = existing_fees(s, map)) == 0)
		for (i = 0; i < ff->n && err == 0; i++)
			if ((err = fee_write(&w, map, &ff->lines[i], site, res)) < 0)
				err = chs_error_wrap(err, "line %d", ff->lines[i].line);
	json_decref(map);
	if (err < 0) {
		chs_records__writer_abort(&w);
		return err;
	}
	return chs_records__writer_commit(&w);
}

int chs_fees_import(chs_store *s, const char *path, const char *site,
		    chs_fees_result *res)
{
	fee_file ff;
	char *text = NULL, *own = NULL;
	size_t len = 0;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(path);
	CHS_ASSERT_ARG(res);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	memset(res, 0, sizeof(*res));
	memset(&ff, 0, sizeof(ff));
	if ((err = chs_file_read(path, FEES_FILE_MAX, &text, &len)) < 0)
		return err == CHS_ENOTFOUND
			? chs_error_set(CHS_ENOTFOUND, "there is no file '%s'", path) : err;
	if ((err = read_fee_file(text, len, &ff)) < 0) {
		err = nothing_imported(err, path);
		goto done;
	}
	if (!site && (err = chs_store__device_site(s, chs_store_device_id(s), &own)) < 0)
		goto done;
	res->lines = (int64_t)ff.n;
	if ((err = fees_write(s, &ff, site ? site : own, res)) < 0) {
		memset(res, 0, sizeof(*res));
		goto done;
	}
done:
	free(own);
	free(text);
	fee_file_dispose(&ff);
	return err;
}

/* The site's fee for `code` effective on `day` (YYYY-MM-DD...): a line
 * for `site` first, else one for every site; latest effective date wins.
 * *found = 0 when no line applies. */
int chs_billing__fee_lookup(chs_store *s, const char *code, const char *day,
			    const char *site, int64_t *cents, int *found)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*found = 0;
	*cents = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT json_extract(j, '$.fields.fee') FROM"
		     " (SELECT CAST(state AS TEXT) AS j FROM records WHERE type = 'fee' AND NOT deleted)"
		     " WHERE json_extract(j, '$.fields.code') = ?1"
		     " AND json_extract(j, '$.fields.effective') <= substr(?2, 1, 10)"
		     " AND ifnull(json_extract(j, '$.fields.site'), '') IN (?3, '')"
		     " ORDER BY ifnull(json_extract(j, '$.fields.site'), '') = ?3 DESC,"
		     " json_extract(j, '$.fields.effective') DESC LIMIT 1")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, code)) < 0 ||
	    (err = chs_store__bind_text(s, st, 2, day)) < 0 ||
	    (err = chs_store__bind_text(s, st, 3, site ? site : "")) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		*cents = sqlite3_column_int64(st, 0);
		*found = 1;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = chs_store__sqlerr(s, rc, "reading the fee schedule");
	}
	chs_store__finish(s, st);
	return err;
}

/* ------------------------------------------------------------------ */
/* Code lists                                                           */

/* "icd10cm", "hcpcs" or "cpt", from what a person typed; NULL if none. */
static const char *system_name(const char *s)
{
	if (!s)
		return NULL;
	if (strcasecmp(s, "icd10cm") == 0 || strcasecmp(s, "icd-10-cm") == 0 ||
	    strcasecmp(s, "icd10") == 0 || strcasecmp(s, "icd") == 0)
		return "icd10cm";
	if (strcasecmp(s, "hcpcs") == 0)
		return "hcpcs";
	if (strcasecmp(s, "cpt") == 0)
		return "cpt";
	return NULL;
}

int chs_codes_system_check(const char *system)
{
	CHS_ASSERT_ARG(system);
	if (system_name(system))
		return 0;
	return chs_error_set(CHS_EINVALID,
			     "'%s' is not a code system (icd10cm, hcpcs or cpt)", system);
}

/* Codes in their stored form: capitals, ICD-10-CM with its dot. */
static void normalise_code(const char *system, const char *in, char out[16])
{
	size_t n;

	snprintf(out, 16, "%s", in);
	upper(out);
	n = strlen(out);
	if (strcmp(system, "icd10cm") == 0 && n > 3 && n < 15 && !strchr(out, '.')) {
		memmove(out + 4, out + 3, n - 2);
		out[3] = '.';
	}
}

static int code_fits(const char *system, const char *code)
{
	if (strcmp(system, "icd10cm") == 0)
		return chs_schema_valid_icd(code);
	if (!chs_schema_valid_cpt(code))
		return 0;
	return strcmp(system, "cpt") == 0 ? isdigit((unsigned char)code[0])
					  : isalpha((unsigned char)code[0]);
}

/* The system a file's first code suggests. */
static const char *guess_system(const char *code)
{
	char up[16];

	snprintf(up, sizeof(up), "%s", code);
	upper(up);
	if (strchr(up, '.'))
		return "icd10cm";
	if (chs_schema_valid_cpt(up))
		return isdigit((unsigned char)up[0]) ? "cpt" : "hcpcs";
	return "icd10cm";
}

typedef struct codes_ctx {
	chs_store *s;
	const char *system;
	int64_t count;
} codes_ctx;

static int code_insert(codes_ctx *x, const char *code, const char *desc, int billable)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(x->s, &st,
		     "INSERT INTO code_lists(system, code, description, billable)"
		     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(system, code) DO UPDATE"
		     " SET description = ?3, billable = ?4")) < 0)
		return err;
	if ((err = chs_store__bind_text(x->s, st, 1, x->system)) < 0 ||
	    (err = chs_store__bind_text(x->s, st, 2, code)) < 0 ||
	    (err = chs_store__bound(x->s, sqlite3_bind_text(st, 3, desc,
				(int)strnlen(desc, DESCRIPTION_MAX), SQLITE_STATIC))) < 0 ||
	    (err = chs_store__bind_int64(x->s, st, 4, billable)) < 0) {
		chs_store__finish(x->s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(x->s, st);
	if (rc != SQLITE_DONE)
		return chs_store__sqlerr(x->s, rc, "saving a code list");
	x->count++;
	return 0;
}

/* One code of a list; the first line of a CSV may be its header. */
static int code_pair(codes_ctx *x, const char *code, const char *desc, int billable,
		     int lineno, int header_ok)
{
	const char *system = x->system ? x->system : guess_system(code);
	char norm[16];

	if (strlen(code) >= sizeof(norm))
		norm[0] = '\0';
	else
		normalise_code(system, code, norm);
	if (!code_fits(system, norm) && header_ok)
		return 0;
	x->system = system;
	if (!code_fits(x->system, norm)) {
		return chs_error_set(CHS_EINVALID,
				     "line %d: '%s' is not a%s %s code (give --system if the"
				     " list is another kind)", lineno, code,
				     strcmp(x->system, "icd10cm") == 0 ? "n" : "",
				     strcmp(x->system, "icd10cm") == 0 ? "ICD-10-CM"
				     : strcmp(x->system, "cpt") == 0 ? "CPT" : "HCPCS");
	}
	return code_insert(x, norm, desc, billable);
}

/* ICD-10-CM order file: 5-digit order number, code (7, no dot), header
 * flag (1 billable), short description (60), long description. */
static int order_line(codes_ctx *x, char *line, int lineno)
{
	size_t n = strlen(line);
	const char *desc;
	char code[8];

	if (n < 16 || line[5] != ' ' || line[13] != ' ' || line[15] != ' ' ||
	    (line[14] != '0' && line[14] != '1'))
		return chs_error_set(CHS_EINVALID,
				     "line %d is not an ICD-10-CM order file line", lineno);
	if (!x->system)
		x->system = "icd10cm";
	memcpy(code, line + 6, 7);
	code[7] = '\0';
	desc = n > 77 ? trim(line + 77) : "";
	if (!*desc) {
		if (n > 76)
			line[76] = '\0';
		desc = trim(line + 16);
	}
	return code_pair(x, trim(code), desc, line[14] == '1', lineno, 0);
}

static int is_order_line(const char *line)
{
	int i;

	for (i = 0; i < 5; i++)
		if (!isdigit((unsigned char)line[i]))
			return 0;
	return line[5] == ' ';
}

/* "CODE description" (or an order file's lines). */
static int codes_lines(codes_ctx *x, char *text)
{
	char *line = text, *nl, *p;
	int lineno = 0, order = -1, err = 0;

	for (; line && *line && err == 0; line = nl) {
		lineno++;
		if ((nl = strchr(line, '\n')))
			*nl++ = '\0';
		if (*line && line[strlen(line) - 1] == '\r')
			line[strlen(line) - 1] = '\0';
		if (!*trim(line) || line[0] == '#')
			continue;
		if (order < 0)
			order = is_order_line(line);
		if (order) {
			err = order_line(x, line, lineno);
			continue;
		}
		for (p = line; *p && !isspace((unsigned char)*p); p++)
			;
		if (*p)
			*p++ = '\0';
		err = code_pair(x, line, trim(p), 1, lineno, 0);
	}
	return err;
}

/* CSV: code in the first column, description in the second; a header
 * line is skipped. */
static int codes_csv(codes_ctx *x, const char *text, size_t len)
{
	csv_reader c = { text, text + len, 1 };
	csv_row r;
	int err = 0, eof, first = 1;

	while (err == 0) {
		if ((err = csv_next(&c, &r, &eof)) < 0) {
			err = chs_error_wrap(err, "line %d", r.line ? r.line : c.line);
		} else if (!eof) {
			err = code_pair(x, trim(r.f[0]), r.n > 1 ? trim(r.f[1]) : "", 1, r.line,
					first);
			first = 0;
		}
		csv_row_dispose(&r);
		if (eof)
			break;
	}
	return err;
}

static int nothing_imported(int err, const char *path)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", chs_error_last());
	return chs_error_set(err, "'%s': %s; nothing was imported", path, msg);
}

int chs_codes_import(chs_store *s, const char *path, const char *system,
		     int64_t *count)
{
	codes_ctx x = { s, NULL, 0 };
	char *text = NULL;
	size_t len = 0, plen;
	int err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(path);
	CHS_ASSERT_ARG(count);

	if ((err = chs_store__refuse_service(s)) < 0)
		return err;

	plen = strlen(path);
	*count = 0;
	if (system && (err = chs_codes_system_check(system)) < 0)
		return err;
	x.system = system_name(system);
	if ((err = chs_file_read(path, CODES_FILE_MAX, &text, &len)) < 0)
		return err == CHS_ENOTFOUND
			? chs_error_set(CHS_ENOTFOUND, "there is no file '%s'", path) : err;
	if ((err = chs_store__begin(s)) < 0)
		goto done;
	if (plen > 4 && strcasecmp(path + plen - 4, ".csv") == 0)
		err = codes_csv(&x, text, len);
	else
		err = codes_lines(&x, text);
	if (err == 0 && x.count == 0)
		err = chs_error_set(CHS_EINVALID, "there are no codes in the file");
	if (err < 0) {
		chs_store__rollback(s);
		err = nothing_imported(err, path);
		goto done;
	}
	if ((err = chs_store__commit(s)) == 0)
		*count = x.count;
done:
	free(text);
	return err;
}

int chs_code_known(chs_store *s, const char *system, const char *code, int *known)
{
	const char *sys = system_name(system);
	sqlite3_stmt *st = NULL;
	char norm[16];
	int err, rc;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(code);
	CHS_ASSERT_ARG(known);

	*known = -1;
	if (!sys)
		return chs_error_set(CHS_EINVALID,
				     "'%s' is not a code system (icd10cm, hcpcs or cpt)", system);
	normalise_code(sys, code, norm);
	if ((err = chs_store__prepare(s, &st,
		     "SELECT EXISTS (SELECT 1 FROM code_lists WHERE system = ?1 AND code = ?2),"
		     " EXISTS (SELECT 1 FROM code_lists WHERE system = ?1)")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, sys)) < 0 ||
	    (err = chs_store__bind_text(s, st, 2, norm)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*known = sqlite3_column_int(st, 0) ? 1 : sqlite3_column_int(st, 1) ? 0 : -1;
	else
		err = chs_store__sqlerr(s, rc, "reading the code lists");
	chs_store__finish(s, st);
	return err;
}
