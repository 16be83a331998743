/*
 * The record types, in one table: for each type its compartment, its
 * links, and its fields with their JSON type, whether they are required,
 * their form check and their merge group.
 *
 * Form checks guard entry only. A change that arrives by sync is never
 * refused for its content's form (that would block a site's sync); the
 * same checks flag it for the consistency report instead.
 */
#include "client/records/schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REQ 1
#define OPT 0

static const chs_field_def patient_fields[] = {
	{ "name", CHS_KIND_TEXT, REQ, NULL },
	{ "dob", CHS_KIND_DATE, OPT, NULL },
	{ "sex", CHS_KIND_TEXT, OPT, NULL },
	{ "mrn", CHS_KIND_TEXT, REQ, NULL },
	{ "phone", CHS_KIND_TEXT, OPT, NULL },
	{ "address", CHS_KIND_TEXT, OPT, NULL },
	{ "payer", CHS_KIND_TEXT, OPT, NULL },
	{ "member_id", CHS_KIND_TEXT, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

static const chs_field_def encounter_fields[] = {
	{ "date", CHS_KIND_DATE, REQ, NULL },
	{ "reason", CHS_KIND_TEXT, OPT, NULL },
	{ "provider", CHS_KIND_TEXT, OPT, NULL },
	/* the coding queue (client/billing/coding.c): "queued" or "done" */
	{ "coding", CHS_KIND_TEXT, OPT, NULL },
	{ "coding_sent", CHS_KIND_DATE, OPT, NULL },
	{ "coding_done", CHS_KIND_DATE, OPT, NULL },
	{ "coder", CHS_KIND_TEXT, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

static const chs_field_def note_fields[] = {
	{ "text", CHS_KIND_TEXT, REQ, NULL },
	{ "author", CHS_KIND_TEXT, OPT, NULL },
	{ "date", CHS_KIND_DATE, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

static const chs_field_def problem_fields[] = {
	{ "name", CHS_KIND_TEXT, REQ, NULL },
	{ "icd", CHS_KIND_ICD, OPT, NULL },
	{ "onset", CHS_KIND_DATE, OPT, NULL },
	{ "status", CHS_KIND_TEXT, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

/* A dose only means something with its unit, route and frequency: edits
 * to different parts of the regimen at two sites go to review. */
static const chs_field_def medication_fields[] = {
	{ "name", CHS_KIND_TEXT, REQ, NULL },
	{ "dose", CHS_KIND_TEXT, OPT, "regimen" },
	{ "unit", CHS_KIND_TEXT, OPT, "regimen" },
	{ "route", CHS_KIND_TEXT, OPT, "regimen" },
	{ "frequency", CHS_KIND_TEXT, OPT, "regimen" },
	{ "start", CHS_KIND_DATE, OPT, NULL },
	{ "end", CHS_KIND_DATE, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

static const chs_field_def allergy_fields[] = {
	{ "substance", CHS_KIND_TEXT, REQ, "allergen" },
	{ "reaction", CHS_KIND_TEXT, OPT, "allergen" },
	{ "severity", CHS_KIND_TEXT, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

static const chs_field_def procedure_fields[] = {
	{ "cpt", CHS_KIND_CPT, REQ, NULL },
	{ "modifier", CHS_KIND_TEXT, OPT, NULL },
	{ "fee", CHS_KIND_CENTS, OPT, NULL },
	{ "date", CHS_KIND_DATE, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

static const chs_field_def diagnosis_fields[] = {
	{ "icd", CHS_KIND_ICD, REQ, NULL },
	{ NULL, 0, 0, NULL }
};

static const chs_field_def attachment_fields[] = {
	{ "title", CHS_KIND_TEXT, OPT, NULL },
	{ "mime", CHS_KIND_TEXT, OPT, NULL },
	{ "size", CHS_KIND_INT, REQ, NULL },
	{ "sha256", CHS_KIND_SHA256, REQ, NULL },
	{ NULL, 0, 0, NULL }
};

/* An access event: who opened what is the change's user and terminal;
 * `record` is the record asked for, `records` every record whose content
 * was shown, `start` when (UTC, to the millisecond), `duration_ms` how
 * long. Ids, names and times only, no clinical content: the billing
 * compartment, so every role (a billing office included) can write and
 * read its own access events. */
static const chs_field_def audit_fields[] = {
	{ "action", CHS_KIND_TEXT, REQ, NULL },
	{ "record", CHS_KIND_TEXT, OPT, NULL },
	{ "records", CHS_KIND_IDS, OPT, NULL },
	{ "start", CHS_KIND_DATE, REQ, NULL },
	{ "duration_ms", CHS_KIND_INT, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

/* Tampering with the archive that a device saw and the sync healed
 * (client/replicate/tamper.c): what happened (`kind`), to which ref, in
 * words, when, and the device and site that saw it. Ids and names only:
 * the billing compartment, so every role records and reads them. */
static const chs_field_def archive_event_fields[] = {
	{ "kind", CHS_KIND_TEXT, REQ, NULL },
	{ "ref", CHS_KIND_TEXT, REQ, NULL },
	{ "detail", CHS_KIND_TEXT, OPT, NULL },
	{ "seen", CHS_KIND_DATE, REQ, NULL },
	{ "by", CHS_KIND_TEXT, REQ, NULL },
	{ "site", CHS_KIND_TEXT, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

/* A colleague's check of a record against the paper chart
 * (confirm.c): the record and the head change it confirmed. */
static const chs_field_def confirmation_fields[] = {
	{ "record", CHS_KIND_TEXT, REQ, NULL },
	{ "change", CHS_KIND_TEXT, REQ, NULL },
	{ "note", CHS_KIND_TEXT, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

/* One line of a site's fee schedule (client/billing/fees.c); no site: every
 * site's. */
static const chs_field_def fee_fields[] = {
	{ "code", CHS_KIND_CPT, REQ, NULL },
	{ "description", CHS_KIND_TEXT, OPT, NULL },
	{ "fee", CHS_KIND_CENTS, REQ, NULL },
	{ "effective", CHS_KIND_DATE, REQ, NULL },
	{ "site", CHS_KIND_TEXT, OPT, NULL },
	{ NULL, 0, 0, NULL }
};

/* Confirmations and fees are billing: a compartment is per type, and a
 * billing office must be able to confirm what it reads and to price what
 * it codes. A confirmation holds ids, a name and a short note, never the
 * confirmed record's content. */
static const chs_type_def types[] = {
	{ "patient", CHS_BILLING, CHS_LINK_NONE, CHS_LINK_NONE, 0, patient_fields },
	{ "encounter", CHS_BILLING, CHS_LINK_REQUIRED, CHS_LINK_NONE, 0, encounter_fields },
	{ "note", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, 0, note_fields },
	{ "problem", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, 0, problem_fields },
	{ "medication", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, 0, medication_fields },
	{ "allergy", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, 0, allergy_fields },
	{ "procedure", CHS_BILLING, CHS_LINK_REQUIRED, CHS_LINK_REQUIRED, 0, procedure_fields },
	{ "diagnosis", CHS_BILLING, CHS_LINK_REQUIRED, CHS_LINK_REQUIRED, 0, diagnosis_fields },
	{ "attachment", CHS_CLINICAL, CHS_LINK_REQUIRED, CHS_LINK_OPTIONAL, CHS_TYPE_VIA_ATTACH, attachment_fields },
	{ "audit", CHS_BILLING, CHS_LINK_OPTIONAL, CHS_LINK_NONE, CHS_TYPE_APPEND_ONLY, audit_fields },
	{ "confirmation", CHS_BILLING, CHS_LINK_OPTIONAL, CHS_LINK_NONE,
	  CHS_TYPE_APPEND_ONLY | CHS_TYPE_VIA_COMMAND, confirmation_fields },
	{ "fee", CHS_BILLING, CHS_LINK_NONE, CHS_LINK_NONE, 0, fee_fields },
	{ "archive_event", CHS_BILLING, CHS_LINK_NONE, CHS_LINK_NONE, CHS_TYPE_APPEND_ONLY,
	  archive_event_fields },
	{ NULL, 0, 0, 0, 0, NULL }
};

const chs_type_def *chs_schema_type(const char *name)
{
	const chs_type_def *t;

	for (t = types; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
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

static int valid_sha256(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return 0;
	return s[64] == '\0';
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
	default: return 1;
	}
}

int chs_schema_kind_is_integer(chs_kind k)
{
	return k == CHS_KIND_INT || k == CHS_KIND_CENTS;
}
