/*
 * client/records/schema.h - the record schema: types, fields, their
 * kinds and compartments, and the form checks at entry. Offered to the
 * client modules.
 */
#ifndef CHS_CLIENT_RECORDS_SCHEMA_H
#define CHS_CLIENT_RECORDS_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

typedef enum chs_kind {
	CHS_KIND_TEXT,   /* JSON string */
	CHS_KIND_INT,    /* JSON integer */
	CHS_KIND_CENTS,  /* JSON integer: money in cents */
	CHS_KIND_DATE,   /* JSON string, ISO 8601 date or date-time */
	CHS_KIND_ICD,    /* JSON string, ICD-10-CM */
	CHS_KIND_CPT,    /* JSON string, CPT or HCPCS Level II */
	CHS_KIND_SHA256, /* JSON string, 64 hex digits */
	CHS_KIND_IDS,    /* JSON array of record ids (32 hex digits each) */
	CHS_KIND_ID      /* JSON string, one record id (32 lowercase hex digits) */
} chs_kind;

typedef enum chs_compartment { CHS_BILLING, CHS_CLINICAL } chs_compartment;
typedef enum chs_link { CHS_LINK_NONE, CHS_LINK_OPTIONAL, CHS_LINK_REQUIRED } chs_link;

#define CHS_TYPE_VIA_ATTACH 1  /* created only by 'chartsync attach' */
#define CHS_TYPE_APPEND_ONLY 2 /* never edited or removed */
#define CHS_TYPE_VIA_COMMAND 4 /* created only by its own command (confirm) */
#define CHS_TYPE_COMPANION 8   /* written only through the record it accompanies */

/* What a field's value may be beyond its kind's form: checked at entry
 * (a change that arrives by sync is never refused for it: the
 * consistency report flags it instead). */
typedef enum chs_rule {
	CHS_RULE_LINE,   /* text: one line, no control characters */
	CHS_RULE_LINES,  /* text: lines (newline and tab allowed): a note */
	CHS_RULE_ID,     /* text: an identifier (a chart number), one line,
			  * stored trimmed, in NFC, with one kind of dash */
	CHS_RULE_PAST,   /* date: from CHS_DATE_MIN to today */
	CHS_RULE_AHEAD,  /* date: from CHS_DATE_MIN to CHS_AHEAD_DAYS from
			  * today (appointments, fee schedules) */
	CHS_RULE_PLAN,   /* date: from CHS_DATE_MIN to CHS_PLAN_DAYS from
			  * today (the end of a course of treatment) */
	CHS_RULE_COMMAND /* written only by its command, never typed: a
			  * merged chart's pointer (client/identity) */
} chs_rule;

#define CHS_DATE_MIN "1850-01-01"
#define CHS_AHEAD_DAYS 366   /* days: one year, a leap day included */
#define CHS_PLAN_DAYS 3653   /* days: ten years */

typedef struct chs_field_def {
	const char *name;
	chs_kind kind;
	int required;
	const char *group; /* merge group, or NULL */
	chs_rule rule;
	size_t max_chars;  /* text: the longest value, in characters */
} chs_field_def;

typedef struct chs_type_def {
	const char *name;
	chs_compartment compartment;
	chs_link patient;
	chs_link encounter;
	int flags;
	const chs_field_def *fields; /* ends with a NULL name */
	/* CHS_TYPE_VIA_COMMAND: the command (after 'chartsync ') that makes,
	 * changes and settles records of this type; no other does */
	const char *command;
} chs_type_def;

/* The link fields every record may carry, holding record ids. */
#define CHS_FIELD_PATIENT "patient"
#define CHS_FIELD_ENCOUNTER "encounter"
/* A patient merged into another (client/identity: 'chartsync patient
 * merge') is a tombstone: its `merged_into` holds the id of the patient
 * whose chart it now is. */
#define CHS_FIELD_MERGED_INTO "merged_into"
/* The record types of chart merges (client/identity): a pair of patients'
 * verdict (one record per pair, its id derived from the pair) and each
 * merge, unmerge or placement made, append-only. */
#define CHS_PATIENT_LINK_TYPE "patient_link"
#define CHS_PATIENT_MERGE_TYPE "patient_merge"

const chs_type_def *chs_schema_type(const char *name);
/* CHS_EDENIED, naming record `hex` and the command, when records of
 * `type` are changed and settled only by their command
 * (CHS_TYPE_VIA_COMMAND: a verdict on two charts moves records with it);
 * 0 for any other type. */
int chs_schema_refuse_edit(const char *type, const char *hex);
const chs_type_def *chs_schema_types(void); /* ends with a NULL name */
const chs_field_def *chs_schema_field(const chs_type_def *t, const char *name);
/* chs_group_fn for chs_merge(). */
const char *chs_schema_group(const char *type, const char *field, void *payload);
const char *chs_schema_compartment_name(chs_compartment c);
/* The clinical companion of billing type `t`, or NULL. A billing record
 * may hold fields whose values are clinical (a visit's reason): they are
 * typed on it as ever, but kept on a companion record of the clinical
 * compartment, so a billing office never receives them. The companion's
 * fields name them (client/records/companion.c). */
const chs_type_def *chs_schema_companion(const chs_type_def *t);
/* The billing type companion type `c` accompanies, or NULL. */
const chs_type_def *chs_schema_companion_of(const chs_type_def *c);
/* 1 when field `name` of `t` holds clinical content: any field of a
 * clinical type, or a field its companion keeps for a billing one. */
int chs_schema_field_clinical(const chs_type_def *t, const char *name);
const char *chs_schema_expected(chs_kind k);
int chs_schema_check_form(chs_kind k, const char *s);
int chs_schema_kind_is_integer(chs_kind k);
int chs_schema_valid_date(const char *s);
/* The day number (days since 1970-01-01, proleptic Gregorian) of an ISO
 * 8601 date or date-time that chs_schema_valid_date() accepts; -1 for
 * any other text (or NULL). */
int chs_schema_day(const char *iso, int64_t *days);
/* YYYY-MM-DD of day number `days`. */
void chs_schema_day_text(int64_t days, char out[16]);
int chs_schema_valid_icd(const char *s);
int chs_schema_valid_cpt(const char *s);
/* Check string value `s` of field `f` of type `t` as entry holds it, once
 * normalised: no unsafe character, within the field's length, not blank
 * when required, of its kind's form, a date within its bounds (today is
 * the UTC day of `now`, Unix seconds). 0, or CHS_EINVALID with a message
 * that names the field and the limit. */
int chs_schema_check_value(const chs_type_def *t, const chs_field_def *f, const char *s,
			   int64_t now);

#endif
