/*
 * client/json/json.h - records as the CLI prints them with --json: the
 * JSON made at the edge, from the objects of client/records/records.h.
 *
 * The text is compact with its keys sorted (jansson's JSON_COMPACT |
 * JSON_SORT_KEYS), field values as JSON values, and its shape is the
 * CLI's contract (tests and scripts read it); it changes only with the
 * CLI. Each function writes a malloc'ed, NUL-terminated text (no final
 * newline) to `*out`, which the caller free()s; CHS_ENOMEM is its one
 * error, and `*out` is then NULL.
 */
#ifndef CHS_CLIENT_JSON_JSON_H
#define CHS_CLIENT_JSON_JSON_H

#include "client/billing/billing.h"
#include "client/identity/identity.h"
#include "client/reports/reports.h"
#include "client/replicate/replicate.h"
#include "client/records/records.h"

/* `chartsync show --json`, of a record looked up (chs_access_show()):
 *   {"id","type","fields":{..},"deleted","review","heads":[..],
 *    "changes":N,"candidates":{"<field>":[<candidate>,..]},
 *    "removal":[<candidate>,..] (only when a removal is under review),
 *    "confirmed":{"by","terminal","time","note" (null when none),"change",
 *                 "confirmation"} | null}
 * with candidate = {"change","user","terminal","device","time"} and
 * "value" (field candidates) or "removed" (removal candidates). */
int chs_json_record(char **out, const chs_record *r);

/* `chartsync ls --json` and `chartsync review --json`: an array of
 *   {"id","type","fields":{..},"review",
 *    "under_review":[..] (only when under review: "exists" when a
 *                         removal is, "fields" when fields are)} */
int chs_json_record_list(char **out, const chs_record_list *l);

/* `chartsync log --json`: an array of the history's entries,
 *   {"change","op","time","user","terminal","device","set":{..},
 *    "unset":[..],"parents":[..],"merge",
 *    "removed" (resolves only)} */
int chs_json_history(char **out, const chs_history *h);

/* A field value (canonical JSON, as the accessors of records.h give it)
 * as the CLI shows it to a person: a string's text without quotes or
 * escapes, anything else as compact JSON. `*out` is NULL (and 0
 * returned) when `value` is NULL. */
int chs_json_value_text(char **out, const char *value);

/* ---------------------------------------------------------------------
 * Confirmation and coding (client/json/billing.c)
 */
/* `chartsync ls --unconfirmed --json`, of chs_record_list_unconfirmed():
 * an array of {"id","type","fields":{..},"review",
 *              "changed","by" (when the last change is known)} */
int chs_json_unconfirmed(char **out, const chs_record_list *l);

/* `chartsync code queue --json`: an array of
 *   {"encounter","patient","name","mrn","date","reason","provider","sent"
 *    (each only when known),
 *    "procedures":[{"id","cpt","modifier","fee"}],
 *    "diagnoses":[{"id","icd"}]}
 * (a procedure's cpt, modifier and fee, a diagnosis's icd: null when
 * unset). */
int chs_json_coding_queue(char **out, const chs_coding_list *q);

/* `chartsync code assign --json`:
 *   {"procedure":id|null,"fee":cents|null,"diagnoses":[ids],
 *    "warnings":["..."]} */
int chs_json_coding_assignment(char **out, const chs_coding_assignment *a);

/* ---------------------------------------------------------------------
 * Reports and the roster as the CLI prints them with --json
 * (client/json/reports.c)
 *
 * As above (malloc'ed text, CHS_ENOMEM its one error), except that the
 * keys keep the order shown here instead of being sorted: the order
 * these reports have always been printed in.
 */
/* `chartsync report access --json`: an array of the events,
 *   {"event","start","duration_ms","user","terminal","device","action",
 *    "patient","record","records":[..]} */
int chs_json_access_report(char **out, const chs_access_report *r);

/* `chartsync report consistency --json`:
 *   {"findings":[{"kind","patient":<id>|null,"records":[..],"detail"}..],
 *    "counts":{"<kind>":n..},"patients":n,"visits":n}
 * counts in the order the kinds were first found. */
int chs_json_consistency_report(char **out, const chs_consistency_report *r);

/* `chartsync report duplicates --json`:
 *   {"pairs":[{"score":x,"evidence":[..],"detail",
 *              "a":<side>,"b":<side>}..],"patients":n}
 * with side = {"id","name","dob","mrn","phone","site"} ("" when the
 * patient has none), pairs highest score first, score a JSON real. */
int chs_json_duplicates_report(char **out, const chs_duplicates_report *r);

/* `chartsync report coding --json`:
 *   {"queue":{"length":n,"oldest":<visit>|null,"oldest_days":x,
 *             "median_days":x},
 *    "done":n,
 *    "coders":[{"coder","done","last_30_days","per_day",
 *               "median_turnaround_days"}..]}
 * with the days and per_day as JSON reals. */
int chs_json_coding_report(char **out, const chs_coding_report *r);

/* `chartsync device list --json`: an array of
 *   {"device","key","site","role","self":bool,"revoked_after":n|null} */
int chs_json_device_roster(char **out, const chs_device_roster *r);

/* `chartsync report archive --json`: an array, oldest first, of
 *   {"id","seen","kind","ref","detail","by","site"} */
int chs_json_archive_events(char **out, const chs_archive_events *l);

/* A sync's report (client/replicate/replicate.h), as `chartsync sync
 * --json` prints it and the service answers a `sync` request: roster,
 * devices, batches_in, changes_in, batches_out, changes_out, batches_sent,
 * changes_sent, chunks_in, attachments_in, chunks_out, pushed, tampering,
 * refused, and problems when something was refused. */
int chs_json_sync_report(char **out, const chs_sync_report *r);

#endif /* CHS_CLIENT_JSON_JSON_H */
