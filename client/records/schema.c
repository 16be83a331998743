/*
 * The record types, in one table: for each type its compartment, its
 * links, and its fields with their JSON type, whether they are required,
 * their merge group, their rule (one line or lines, an identifier, how
 * far ahead a date may be) and their length limit; then the checks.
 *
 * The checks guard entry only (chs_schema_check_value: every path a
 * person's text takes into a record). A change that arrives by sync is
 * never refused for its content's form (that would block a site's sync):
 * the consistency report runs the same check over the stored records and
 * flags what fails (malformed_value), and every view escapes what it
 * prints.
 */
#include "client/records/schema.h"

#include "client/text/text.h"
#include "crypto/crypto.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ 1
#define OPT 0

static const chs_field_def patient_fields[] = {
	{ "name", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINE, 200 },
	{ "dob", CHS_KIND_DATE, OPT, NULL, CHS_RULE_PAST, 0 },
	{ "sex", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 32 },
	{ "mrn", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_ID, 64 },
	{ "phone", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 64 },
	{ "address", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 500 },
	{ "payer", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 200 },
	{ "member_id", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_ID, 64 },
	{ CHS_FIELD_MERGED_INTO, CHS_KIND_ID, OPT, NULL, CHS_RULE_COMMAND, 0 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

static const chs_field_def encounter_fields[] = {
	{ "date", CHS_KIND_DATE, REQ, NULL, CHS_RULE_AHEAD, 0 },
	{ "reason", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 1000 },
	{ "provider", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 200 },
	/* the coding queue (client/billing/coding.c): "queued" or "done" */
	{ "coding", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 16 },
	{ "coding_sent", CHS_KIND_DATE, OPT, NULL, CHS_RULE_PAST, 0 },
	{ "coding_done", CHS_KIND_DATE, OPT, NULL, CHS_RULE_PAST, 0 },
	{ "coder", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 200 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

static const chs_field_def note_fields[] = {
	{ "text", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINES, 65536 },
	{ "author", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 200 },
	{ "date", CHS_KIND_DATE, OPT, NULL, CHS_RULE_PAST, 0 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

static const chs_field_def problem_fields[] = {
	{ "name", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINE, 200 },
	{ "icd", CHS_KIND_ICD, OPT, NULL, CHS_RULE_LINE, 0 },
	{ "onset", CHS_KIND_DATE, OPT, NULL, CHS_RULE_PAST, 0 },
	{ "status", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 64 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

/* A dose only means something with its unit, route and frequency: edits
 * to different parts of the regimen at two sites go to review. */
static const chs_field_def medication_fields[] = {
	{ "name", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINE, 200 },
	{ "dose", CHS_KIND_TEXT, OPT, "regimen", CHS_RULE_LINE, 64 },
	{ "unit", CHS_KIND_TEXT, OPT, "regimen", CHS_RULE_LINE, 32 },
	{ "route", CHS_KIND_TEXT, OPT, "regimen", CHS_RULE_LINE, 64 },
	{ "frequency", CHS_KIND_TEXT, OPT, "regimen", CHS_RULE_LINE, 200 },
	{ "start", CHS_KIND_DATE, OPT, NULL, CHS_RULE_AHEAD, 0 },
	{ "end", CHS_KIND_DATE, OPT, NULL, CHS_RULE_PLAN, 0 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

static const chs_field_def allergy_fields[] = {
	{ "substance", CHS_KIND_TEXT, REQ, "allergen", CHS_RULE_LINE, 200 },
	{ "reaction", CHS_KIND_TEXT, OPT, "allergen", CHS_RULE_LINE, 1000 },
	{ "severity", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 64 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

static const chs_field_def procedure_fields[] = {
	{ "cpt", CHS_KIND_CPT, REQ, NULL, CHS_RULE_LINE, 0 },
	{ "modifier", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 16 },
	{ "fee", CHS_KIND_CENTS, OPT, NULL, CHS_RULE_LINE, 0 },
	{ "date", CHS_KIND_DATE, OPT, NULL, CHS_RULE_AHEAD, 0 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

static const chs_field_def diagnosis_fields[] = {
	{ "icd", CHS_KIND_ICD, REQ, NULL, CHS_RULE_LINE, 0 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

static const chs_field_def attachment_fields[] = {
	{ "title", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 255 }, /* a file name */
	{ "mime", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 255 },
	{ "size", CHS_KIND_INT, REQ, NULL, CHS_RULE_LINE, 0 },
	{ "sha256", CHS_KIND_SHA256, REQ, NULL, CHS_RULE_LINE, 0 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

/* An access event: who opened what is the change's user and terminal;
 * `record` is the record asked for, `records` every record whose content
 * was shown, `start` when (UTC, to the millisecond), `duration_ms` how
 * long. Ids, names and times only, no clinical content: the billing
 * compartment, so every role (a billing office included) can write and
 * read its own access events. */
static const chs_field_def audit_fields[] = {
	{ "action", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINE, 64 },
	{ "record", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 64 },
	{ "records", CHS_KIND_IDS, OPT, NULL, CHS_RULE_LINE, 0 },
	{ "start", CHS_KIND_DATE, REQ, NULL, CHS_RULE_PAST, 0 },
	{ "duration_ms", CHS_KIND_INT, OPT, NULL, CHS_RULE_LINE, 0 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

/* Tampering with the archive that a device saw and the sync healed
 * (client/replicate/tamper.c): what happened (`kind`), to which ref, in
 * words, when, and the device and site that saw it. Ids and names only:
 * the billing compartment, so every role records and reads them. */
static const chs_field_def archive_event_fields[] = {
	{ "kind", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINE, 64 },
	{ "ref", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINE, 500 },
	{ "detail", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 1000 },
	{ "seen", CHS_KIND_DATE, REQ, NULL, CHS_RULE_PAST, 0 },
	{ "by", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINE, 64 },
	{ "site", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 500 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

/* A colleague's check of a record against the paper chart
 * (confirm.c): the record and the head change it confirmed. */
static const chs_field_def confirmation_fields[] = {
	{ "record", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINE, 64 },
	{ "change", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_LINE, 65536 },
	{ "note", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 1000 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

/* One line of a site's fee schedule (client/billing/fees.c); no site: every
 * site's. */
static const chs_field_def fee_fields[] = {
	{ "code", CHS_KIND_CPT, REQ, NULL, CHS_RULE_LINE, 0 },
	{ "description", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 500 },
	{ "fee", CHS_KIND_CENTS, REQ, NULL, CHS_RULE_LINE, 0 },
	{ "effective", CHS_KIND_DATE, REQ, NULL, CHS_RULE_AHEAD, 0 },
	{ "site", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 500 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

/* Why a patient came is clinical content: a visit's reason is typed on
 * the encounter (`add encounter ... reason=`) and kept on this companion
 * in the clinical compartment; a billing office sees that a visit
 * happened, its date, its provider and its codes. */
static const chs_field_def visit_reason_fields[] = {
	{ "reason", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 1000 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

/* A confirmation's note is free text about what was checked ("dose
 * corrected to 20 mg per the paper chart"): clinical, kept on this
 * companion; the confirmation itself (ids, who, when) stays billing. */
static const chs_field_def confirmation_note_fields[] = {
	{ "note", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 1000 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

/* Chart merges (client/identity). A pair of patients' verdict, one
 * record per pair (its id derived from the two ids, so two archivists
 * deciding the same pair write the same record, and two verdicts made
 * apart meet in review): `patients` the pair, sorted; `verdict`
 * "merged", "distinct" (not the same person) or "open"; when merged,
 * `keep` and `other`; the archivist's `note`. Each act on a pair is a
 * `patient_merge` record of its own, append-only: `act` "merge",
 * "unmerge" or "place" (a sync moving the records a device made on a
 * merged patient), the pair's `keep` and `other`, and `moved`, the
 * records the act moved, from which an unmerge moves them back. Ids and
 * an administrative note only: the billing compartment, so a billing
 * office follows merges too. */
static const chs_field_def patient_link_fields[] = {
	{ "patients", CHS_KIND_IDS, REQ, NULL, CHS_RULE_COMMAND, 0 },
	{ "verdict", CHS_KIND_TEXT, REQ, "verdict", CHS_RULE_COMMAND, 16 },
	{ "keep", CHS_KIND_ID, OPT, "verdict", CHS_RULE_COMMAND, 0 },
	{ "other", CHS_KIND_ID, OPT, "verdict", CHS_RULE_COMMAND, 0 },
	{ "note", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 1000 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

static const chs_field_def patient_merge_fields[] = {
	{ "act", CHS_KIND_TEXT, REQ, NULL, CHS_RULE_COMMAND, 16 },
	{ "keep", CHS_KIND_ID, REQ, NULL, CHS_RULE_COMMAND, 0 },
	{ "other", CHS_KIND_ID, REQ, NULL, CHS_RULE_COMMAND, 0 },
	{ "moved", CHS_KIND_IDS, OPT, NULL, CHS_RULE_COMMAND, 0 },
	{ "note", CHS_KIND_TEXT, OPT, NULL, CHS_RULE_LINE, 1000 },
	{ NULL, 0, 0, NULL, 0, 0 }
};

/* Confirmations and fees are billing: a compartment is per type, and a
 * billing office must be able to confirm what it reads and to price what
 * it codes. A confirmation holds ids and a name, never the confirmed
 * record's content; its free-text note is kept on its companion. */
static const chs_type_def types[] = {
	{ "patient", CHS_BILLING, CHS_LINK_NONE, CHS_LINK_NONE, 0, patient_fields, NULL },
	{ "encounter", CHS_BILLING, CHS_LINK_REQUIRED, CHS_LINK_NONE, 0, encounter_fields, NULL },
	{ "note", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, 0, note_fields, NULL },
	{ "problem", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, 0, problem_fields, NULL },
	{ "medication", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, 0, medication_fields, NULL },
	{ "allergy", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, 0, allergy_fields, NULL },
	{ "procedure", CHS_BILLING, CHS_LINK_REQUIRED, CHS_LINK_REQUIRED, 0, procedure_fields, NULL },
	{ "diagnosis", CHS_BILLING, CHS_LINK_REQUIRED, CHS_LINK_REQUIRED, 0, diagnosis_fields, NULL },
	{ "attachment", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, CHS_TYPE_VIA_ATTACH, attachment_fields, NULL },
	{ "audit", CHS_BILLING, CHS_LINK_OPTIONAL, CHS_LINK_NONE, CHS_TYPE_APPEND_ONLY, audit_fields, NULL },
	{ "confirmation", CHS_BILLING, CHS_LINK_OPTIONAL, CHS_LINK_NONE,
	  CHS_TYPE_APPEND_ONLY | CHS_TYPE_VIA_COMMAND, confirmation_fields, "confirm" },
	{ "fee", CHS_BILLING, CHS_LINK_NONE, CHS_LINK_NONE, 0, fee_fields, NULL },
	{ "visit_reason", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_REQUIRED, CHS_TYPE_COMPANION,
	  visit_reason_fields, NULL },
	{ "confirmation_note", CHS_CLINICAL, CHS_LINK_OPTIONAL, CHS_LINK_NONE,
	  CHS_TYPE_COMPANION | CHS_TYPE_APPEND_ONLY, confirmation_note_fields, NULL },
	{ "archive_event", CHS_BILLING, CHS_LINK_NONE, CHS_LINK_NONE, CHS_TYPE_APPEND_ONLY,
	  archive_event_fields, NULL },
	{ CHS_PATIENT_LINK_TYPE, CHS_BILLING, CHS_LINK_NONE, CHS_LINK_NONE, CHS_TYPE_VIA_COMMAND,
	  patient_link_fields, "patient merge" },
	{ CHS_PATIENT_MERGE_TYPE, CHS_BILLING, CHS_LINK_NONE, CHS_LINK_NONE,
	  CHS_TYPE_VIA_COMMAND | CHS_TYPE_APPEND_ONLY, patient_merge_fields, "patient merge" },
	{ NULL, 0, 0, 0, 0, NULL, NULL }
};

/* Billing types whose clinical fields a companion keeps. */
static const struct {
	const char *type, *companion;
} companions[] = {
	{ "encounter", "visit_reason" },
	{ "confirmation", "confirmation_note" },
};

const chs_type_def *chs_schema_type(const char *name)
{
	const chs_type_def *t;

	for (t = types; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

int chs_schema_refuse_edit(const char *type, const char *hex)
{
	const chs_type_def *t = chs_schema_type(type ? type : "");

	if (!t || !(t->flags & CHS_TYPE_VIA_COMMAND))
		return 0;
	return chs_error_set(CHS_EDENIED, "record %s is a %s record: only 'chartsync %s' (and its"
			     " undoing) changes or settles it", hex, t->name, t->command);
}

const chs_type_def *chs_schema_types(void)
{
	return types;
}

const chs_field_def *chs_schema_field(const chs_type_def *t, const char *name)
{
	const chs_field_def *f;

	for (f = t->fields; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

const char *chs_schema_group(const char *type, const char *field, void *payload)
{
	const chs_type_def *t = chs_schema_type(type);
	const chs_field_def *f = t ? chs_schema_field(t, field) : NULL;

	(void)payload;
	return f ? f->group : NULL;
}

const char *chs_schema_compartment_name(chs_compartment c)
{
	return c == CHS_BILLING ? "billing" : "clinical";
}

const chs_type_def *chs_schema_companion(const chs_type_def *t)
{
	size_t i;

	for (i = 0; t && i < sizeof(companions) / sizeof(companions[0]); i++)
		if (strcmp(companions[i].type, t->name) == 0)
			return chs_schema_type(companions[i].companion);
	return NULL;
}

const chs_type_def *chs_schema_companion_of(const chs_type_def *c)
{
	size_t i;

	for (i = 0; c && i < sizeof(companions) / sizeof(companions[0]); i++)
		if (strcmp(companions[i].companion, c->name) == 0)
			return chs_schema_type(companions[i].type);
	return NULL;
}

int chs_schema_field_clinical(const chs_type_def *t, const char *name)
{
	const chs_type_def *c;

	if (!t || !name)
		return 0;
	if (t->compartment == CHS_CLINICAL)
		return 1;
	return (c = chs_schema_companion(t)) && chs_schema_field(c, name);
}

/* ------------------------------------------------------------------ */
/* Form checks                                                          */

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int digits(const char *s, int n)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* YYYY-MM-DD, a real calendar day. */
static int valid_day(const char *s)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y = digits(s, 4), m, d;

	if (y < 0 || s[4] != '-' || s[7] != '-')
		return 0;
	m = digits(s + 5, 2);
	d = digits(s + 8, 2);
	if (m < 1 || m > 12 || d < 1)
		return 0;
	return d <= mdays[m - 1] + (m == 2 && is_leap(y));
}

/* hh:mm[:ss[.f+]] then Z or +hh:mm / -hh:mm */
static int valid_time(const char *s)
{
	int h = digits(s, 2), mi;

	if (h < 0 || h > 23 || s[2] != ':' || (mi = digits(s + 3, 2)) < 0 || mi > 59)
		return 0;
	s += 5;
	if (*s == ':') {
		int sec = digits(s + 1, 2);

		if (sec < 0 || sec > 60)
			return 0;
		s += 3;
		if (*s == '.') {
			if (!isdigit((unsigned char)*++s))
				return 0;
			while (isdigit((unsigned char)*s))
				s++;
		}
	}
	if (*s == 'Z')
		return s[1] == '\0';
	if (*s == '+' || *s == '-') {
		int oh = digits(s + 1, 2), om;

		return oh >= 0 && oh <= 23 && s[3] == ':' &&
		       (om = digits(s + 4, 2)) >= 0 && om <= 59 && s[6] == '\0';
	}
	return 0;
}

int chs_schema_valid_date(const char *s)
{
	size_t n = strlen(s);

	if (n < 10 || !valid_day(s))
		return 0;
	if (n == 10)
		return 1;
	return s[10] == 'T' && valid_time(s + 11);
}

/* ICD-10-CM: letter, digit, letter or digit, then optionally a dot and
 * one to four letters or digits (E11.9, S52.521A). */
int chs_schema_valid_icd(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 3 || !isupper((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    !(isdigit((unsigned char)s[2]) || isupper((unsigned char)s[2])))
		return 0;
	if (n == 3)
		return 1;
	if (s[3] != '.' || n < 5 || n > 8)
		return 0;
	for (i = 4; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]))
			return 0;
	return 1;
}

/* CPT: five digits, or four digits and F, T or U (category II/III and
 * PLA codes). HCPCS Level II: a letter A-V and four digits. */
int chs_schema_valid_cpt(const char *s)
{
	if (strlen(s) != 5)
		return 0;
	if (digits(s, 4) >= 0)
		return isdigit((unsigned char)s[4]) || s[4] == 'F' || s[4] == 'T' ||
		       s[4] == 'U';
	return s[0] >= 'A' && s[0] <= 'V' && digits(s + 1, 4) >= 0;
}

/* `n` lowercase hex digits and nothing more. */
static int lower_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return 0;
	return s[n] == '\0';
}

static int valid_sha256(const char *s)
{
	return lower_hex(s, 64);
}

static int valid_record_id(const char *s)
{
	return lower_hex(s, 32);
}

/* What a value of kind `k` must be, as the end of "'X' is not ...". */
const char *chs_schema_expected(chs_kind k)
{
	switch (k) {
	case CHS_KIND_TEXT: return "text";
	case CHS_KIND_INT: return "a whole number";
	case CHS_KIND_CENTS: return "a whole number of cents (expected e.g. 12500 for $125.00)";
	case CHS_KIND_DATE: return "an ISO 8601 date (expected e.g. 2024-03-15 or 2024-03-15T09:30Z)";
	case CHS_KIND_ICD: return "an ICD-10-CM code (expected e.g. E11.9)";
	case CHS_KIND_CPT: return "a CPT or HCPCS code (expected 5 digits, 4 digits and F, T or U,"
				  " or a letter A-V and 4 digits, e.g. 99213 or G0008)";
	case CHS_KIND_SHA256: return "a SHA-256 (expected 64 lowercase hex digits)";
	case CHS_KIND_IDS: return "a JSON array of record ids";
	case CHS_KIND_ID: return "a record id (expected 32 lowercase hex digits)";
	}
	return "a value";
}

/* The form check of a string value of kind `k`; 1 if it passes. */
int chs_schema_check_form(chs_kind k, const char *s)
{
	switch (k) {
	case CHS_KIND_DATE: return chs_schema_valid_date(s);
	case CHS_KIND_ICD: return chs_schema_valid_icd(s);
	case CHS_KIND_CPT: return chs_schema_valid_cpt(s);
	case CHS_KIND_SHA256: return valid_sha256(s);
	case CHS_KIND_ID: return valid_record_id(s);
	default: return 1;
	}
}

int chs_schema_kind_is_integer(chs_kind k)
{
	return k == CHS_KIND_INT || k == CHS_KIND_CENTS;
}

/* ------------------------------------------------------------------ */
/* Bounds                                                               */

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The calendar day of a date that passed valid_day(). */
static int64_t day_of(const char *s)
{
	return days_from_civil(digits(s, 4), digits(s + 5, 2), digits(s + 8, 2));
}

int chs_schema_day(const char *iso, int64_t *days)
{
	if (!iso || !chs_schema_valid_date(iso))
		return -1;
	*days = day_of(iso);
	return 0;
}

/* H. Hinnant's civil_from_days */
void chs_schema_day_text(int64_t days, char out[16])
{
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);

	snprintf(out, 16, "%04d-%02d-%02d", (int)y, (int)m, (int)d);
}

/* A date no earlier than CHS_DATE_MIN (older records are typos: 0000-01-01
 * or 1024 for 2024) and no later than its rule allows. "Today" is the UTC
 * day of `now` and one day more: a clinic east of Greenwich is already in
 * tomorrow's date when UTC is not. */
static int check_date_bounds(const chs_type_def *t, const chs_field_def *f, const char *s,
			     int64_t now)
{
	int64_t day = day_of(s), today = (now >= 0 ? now : now - 86399) / 86400;
	int64_t ahead = f->rule == CHS_RULE_AHEAD ? CHS_AHEAD_DAYS
			: f->rule == CHS_RULE_PLAN ? CHS_PLAN_DAYS : 0;
	int64_t latest = today + 1 + ahead;
	char limit[16];

	if (day < day_of(CHS_DATE_MIN))
		return chs_error_set(CHS_EINVALID,
				     "field '%s' of %s: '%s' is before %s, the earliest date"
				     " chartsync takes (check the year)", f->name, t->name, s,
				     CHS_DATE_MIN);
	if (f->rule != CHS_RULE_PAST && !ahead)
		return 0;
	if (day <= latest)
		return 0;
	chs_schema_day_text(latest, limit);
	if (f->rule == CHS_RULE_PAST)
		return chs_error_set(CHS_EINVALID,
				     "field '%s' of %s: '%s' is in the future (it can be at most"
				     " today, %s at the latest)", f->name, t->name, s, limit);
	return chs_error_set(CHS_EINVALID,
			     "field '%s' of %s: '%s' is more than %s ahead (it can be at most"
			     " %lld days from today, %s at the latest)", f->name, t->name, s,
			     ahead == CHS_AHEAD_DAYS ? "a year" : "ten years", (long long)ahead,
			     limit);
}

/* Dates, codes and hashes have short forms of their own: a longer value is
 * refused by its length before its form (so a 1 MB "date" is not quoted
 * back). */
#define FORM_MAX_CHARS 64

int chs_schema_check_value(const chs_type_def *t, const chs_field_def *f, const char *s,
			   int64_t now)
{
	char what[96];
	size_t len;
	int err;

	CHS_ASSERT_ARG(t);
	CHS_ASSERT_ARG(f);
	CHS_ASSERT_ARG(s);

	len = strlen(s);
	snprintf(what, sizeof(what), "field '%s' of %s", f->name, t->name);
	/* what it holds first: a value is quoted back only once it is safe */
	if ((err = chs_text_check(s, len, f->rule == CHS_RULE_LINES ? CHS_TEXT_LINES
				  : CHS_TEXT_LINE, f->kind == CHS_KIND_TEXT ? f->max_chars
				  : FORM_MAX_CHARS, what)) < 0)
		return err;
	if (!chs_schema_check_form(f->kind, s))
		return chs_error_set(CHS_EINVALID, "%s: '%s' is not %s", what, s,
				     chs_schema_expected(f->kind));
	if (f->kind == CHS_KIND_TEXT && f->required && chs_text_is_blank(s, len))
		return chs_error_set(CHS_EINVALID, "%s must not be empty or blank", what);
	if (f->kind == CHS_KIND_DATE)
		return check_date_bounds(t, f, s, now);
	return 0;
}
