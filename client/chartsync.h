/*
 * client/chartsync.h - the clinic side of chartsync, as a C library.
 *
 * The chartsync command is a thin layer over this header, so everything it
 * does can be tested in process. A store is a folder:
 *
 *   DIR/keyslots    the store key wrapped once per user (JSON, no secrets
 *                   in the clear; rewritten atomically)
 *   DIR/store.db    the encrypted SQLite database (and its -wal, -shm)
 *   DIR/lock        advisory lock serialising writers and checkpoints
 *
 * Errors follow crypto/crypto.h: 0 or a negative CHS_E* code, with a
 * message from chs_error_last(). A chs_store belongs to one thread.
 */
#ifndef CHS_CHARTSYNC_H
#define CHS_CHARTSYNC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crypto/crypto.h"

typedef struct chs_store chs_store;

/* The user name chartsync uses when none is given: the login name. The
 * result is static storage; never NULL ("unknown" as a last resort). */
const char *chs_login_name(void);

/* ---------------------------------------------------------------------
 * Creating, opening and closing
 */
typedef struct chs_store_create_opts {
	const char *user;          /* first user, an admin */
	const char *passphrase;
	size_t passphrase_len;
	const chs_kdf_params *kdf; /* NULL: chs_kdf_params_default() */
	const char *terminal;      /* NULL: the host name */
} chs_store_create_opts;

/* Create a store in `dir` (made if missing) and open it as its first
 * user. CHS_EEXISTS when `dir` already holds a store, CHS_EINVALID for a
 * bad user name or an empty passphrase. */
int chs_store_create(chs_store **out, const char *dir,
		     const chs_store_create_opts *opts);

/* Open the store in `dir` as `user` (NULL: chs_store_default_user()).
 * CHS_ENOTSTORE when `dir` holds no store, CHS_EAUTH for a wrong user or
 * passphrase (the message does not say which), CHS_EDAMAGED when the store
 * does not decrypt or verify. */
int chs_store_open(chs_store **out, const char *dir, const char *user,
		   const char *passphrase, size_t passphrase_len);

/* 0 if `dir` holds a store (its key slots), else CHS_ENOTSTORE with a
 * message; lets a caller fail before asking for a passphrase. */
int chs_store_probe(const char *dir);

/* Close, wiping the keys; accepts NULL. */
void chs_store_free(chs_store *s);

/* The user to open `dir` as when none is given: the store's only user, or
 * else the login name. `*out` is malloc'ed. */
int chs_store_default_user(char **out, const char *dir);

/* Who opened the store: the name whose passphrase unwrapped the key. Every
 * change and access event records this. Borrowed. */
const char *chs_store_user(const chs_store *s);
int chs_store_user_is_admin(const chs_store *s);
const char *chs_store_path(const chs_store *s);
const char *chs_store_id(const chs_store *s);
const char *chs_store_device_id(const chs_store *s);
/* The device's identity (signing key), borrowed. */
const chs_identity *chs_store_identity(const chs_store *s);

/* Read every page of the store and verify it. CHS_EDAMAGED names the
 * first damaged page. */
int chs_store_check(chs_store *s);

/* ---------------------------------------------------------------------
 * Users
 */
typedef struct chs_user {
	char *name;
	int admin;
	int64_t created; /* Unix seconds */
} chs_user;

/* Add a user with their own passphrase (admins only). CHS_EDENIED when the
 * opener is not an admin, CHS_EEXISTS when the name is taken. */
int chs_store_user_add(chs_store *s, const char *name, int admin,
		       const char *passphrase, size_t passphrase_len);
/* Remove a user (admins only; never the last admin). Their key slot is
 * deleted and the store refuses them from then on. */
int chs_store_user_rm(chs_store *s, const char *name);
/* The users, sorted by name; free with chs_user_list_free(). */
int chs_store_user_list(chs_store *s, chs_user **out, size_t *count);
void chs_user_list_free(chs_user *users, size_t count);
/* Change the opener's passphrase: re-wraps one key slot. */
int chs_store_passwd(chs_store *s, const char *passphrase,
		     size_t passphrase_len);

/* ---------------------------------------------------------------------
 * Settings, kept inside the encrypted store
 */
typedef struct chs_config_key {
	const char *name;
	const char *help;
} chs_config_key;

/* The known settings, terminated by a { NULL, NULL } entry. */
const chs_config_key *chs_config_keys(void);
/* The value of `key` (its default when unset); `*out` is malloc'ed.
 * CHS_ENOTFOUND for an unknown key. */
int chs_config_get(chs_store *s, const char *key, char **out);
/* Set `key`; CHS_EINVALID for a value the setting does not accept. */
int chs_config_set(chs_store *s, const char *key, const char *value);

/* ---------------------------------------------------------------------
 * Status
 */
typedef struct chs_status {
	const char *path;      /* borrowed from the store */
	const char *user;
	int admin;
	char *terminal;        /* malloc'ed */
	const char *device_id;
	const char *store_id;
	int64_t users;
	int64_t records;
	int64_t changes;
} chs_status;

int chs_store_status(chs_store *s, chs_status *out);
void chs_status_dispose(chs_status *st);

/* ---------------------------------------------------------------------
 * Records
 *
 * A record has a random 128-bit id (32 hex digits; any unique prefix of
 * at least 4 digits is accepted where an id is asked for), a type and
 * named fields. Every call that writes is one transaction and one signed
 * batch of changes, recorded as made by the store's user at its terminal.
 * Results that describe records come back as JSON text (malloc'ed), the
 * same the CLI prints with --json:
 *
 *   record: {"id":..,"type":..,"fields":{..},"deleted":false,
 *            "review":false,"heads":[..],"candidates":{"field":[
 *            {"change":..,"value":..,"user":..,"terminal":..,"time":..}]}}
 */
typedef struct chs_edit {
	const char *name;
	const char *value; /* NULL with unset */
	int raw;           /* value is JSON (FIELD:=JSON), not typed text */
	int unset;         /* clear the field */
} chs_edit;

/* Parse "FIELD=VALUE" or "FIELD:=JSON" (borrowing `arg`'s memory, which
 * is modified). CHS_EINVALID if it is neither. */
int chs_edit_parse(chs_edit *out, char *arg);

/* Create a record. `patient` and `encounter` are ids or prefixes (NULL
 * when not given). CHS_EINVALID names the field, the value and the
 * expected form; CHS_ENOTFOUND for a link to no record. */
int chs_record_add(chs_store *s, const char *type, const chs_edit *edits,
		   size_t n, const char *patient, const char *encounter,
		   char id_out[33]);
int chs_record_set(chs_store *s, const char *id, const chs_edit *edits,
		   size_t n);
int chs_record_rm(chs_store *s, const char *id);
/* Resolve a prefix to a full id: CHS_ENOTFOUND, CHS_EAMBIGUOUS. */
int chs_record_resolve(chs_store *s, const char *prefix, char id_out[33]);
int chs_record_show(chs_store *s, const char *id, char **json);
/* A JSON array of records, oldest first; `type` and `patient` filter
 * when not NULL. Removed records are left out, and so are access events
 * (type audit) unless `type` asks for them. */
int chs_record_list(chs_store *s, const char *type, const char *patient,
		    char **json);
/* The history: a JSON array of changes in causal order, each
 * {"change","op","time","user","terminal","device","set":{..},
 *  "unset":[..],"parents":[..],"merge":bool}. */
int chs_record_log(chs_store *s, const char *id, char **json);

/* Import JSON Lines: one record per line,
 *   {"type":"patient","id":"<optional 32 hex>","patient":"<id>",
 *    "encounter":"<id>","fields":{...}}
 * All or nothing: one transaction, batches of up to 1,000 changes.
 * `*count` gets the number of records imported; a bad line is named in
 * the message with its number. */
int chs_record_import(chs_store *s, const char *path, int64_t *count);

/* Attachments: the file's bytes stored once by content (SHA-256), inside
 * the encrypted store, and an `attachment` record pointing at them. */
int chs_attach(chs_store *s, const char *patient, const char *path,
	       const char *encounter, const char *title, char id_out[33]);
/* Write an attachment's bytes to `fd`. */
int chs_attachment_cat(chs_store *s, const char *id, int fd);

/* ---------------------------------------------------------------------
 * Reading a patient's data, audited (client/audit.c, client/chart.c)
 *
 * Every opening of a patient's data by a person is an access event: an
 * `audit` record made by the user who opened the store, at this terminal,
 * naming the records shown, what was done ("show", "ls", "log", "open",
 * "cat"), the start and the duration. Events are signed changes that sync
 * like any other and can never be edited or removed. The functions below
 * are the views of chs_record_show() and friends that record the event
 * before they hand anything back: when it cannot be recorded (the store
 * is read-only, another writer holds it past the busy timeout) they fail
 * and show nothing. The chs_record_* views stay unaudited, for programs.
 */
typedef struct chs_access chs_access;

/* Wall-clock milliseconds since the Unix epoch. */
int64_t chs_audit_now_ms(void);

int chs_access_show(chs_store *s, const char *id, char **json);
int chs_access_log(chs_store *s, const char *id, char **json);
/* chs_record_list(); audited (one event listing every record shown) when
 * `patient` is given. */
int chs_access_list(chs_store *s, const char *type, const char *patient,
		    char **json);
/* chs_attachment_cat(), recorded once the bytes are written (the store is
 * checked for writes first). */
int chs_access_cat(chs_store *s, const char *id, int fd);

/* The patient's whole chart laid out for reading (malloc'ed text):
 * demographics, problems, medications, allergies, visits with their notes,
 * procedures, diagnoses and attachments, then what belongs to no visit.
 * Records under review are marked. Unaudited; see chs_chart_open(). */
int chs_chart_text(chs_store *s, const char *patient, char **text);
/* Open a chart for a person: its text, and the access under way (the
 * store is checked for writes first). Show the text, then close the
 * access with chs_access_close(), which records how long the chart stayed
 * open; the event is written only then. */
int chs_chart_open(chs_store *s, const char *patient, char **text,
		   chs_access **access);
/* Write the access event with the time since it began; frees `a`. */
int chs_access_close(chs_store *s, chs_access *a);
/* Drop an access without recording it (after a failure); accepts NULL. */
void chs_access_free(chs_access *a);

/* The access report: who looked at what, when, for how long, from which
 * terminal, across every site this store has synced with. */
typedef struct chs_access_filter {
	const char *patient;  /* id or prefix: events about this patient */
	const char *user;     /* exact user name */
	const char *terminal; /* exact terminal name */
	const char *since;    /* ISO 8601 date or date-time (UTC), inclusive */
	const char *until;    /* inclusive; a date alone covers its whole day */
	/* long work: what, how far, out of how much */
	void (*progress)(const char *what, size_t done, size_t total, void *payload);
	void *payload;
} chs_access_filter;

/* A JSON array of events, oldest first, each
 *   {"event","start","duration_ms","user","terminal","device","action",
 *    "patient","record","records":[..]}
 * ("patient" and "record" are "" when the event names none). The report
 * lists ids, names and times, no clinical content, and is not itself an
 * access. CHS_EINVALID for a bad date, CHS_ENOTFOUND for an unknown
 * patient prefix. */
int chs_report_access(chs_store *s, const chs_access_filter *f, char **json);

/* ---------------------------------------------------------------------
 * Review
 */
/* JSON array of the records under review. */
int chs_review_list(chs_store *s, char **json);
/* Settle a record under review with a resolve change whose parents are
 * all the heads: the edits given, or, with `take`, the values of that
 * change (an id prefix of one of the candidates). Fields under review
 * that neither names keep their provisional value. A removal against an
 * edit: taking the removal removes the record, taking the edit or giving
 * values keeps it. */
int chs_review_resolve(chs_store *s, const char *id, const chs_edit *edits,
		       size_t n, const char *take);

/* ---------------------------------------------------------------------
 * Convergence and batches (the replication layer ships these as they are)
 */
/* The state hash over every record: equal for two stores that hold the
 * same changes. With `full`, every record is first recomputed from its
 * changes and compared with what is stored (CHS_EDAMAGED on a mismatch). */
int chs_store_verify(chs_store *s, int full, char hash_hex[65],
		     int64_t *records);

typedef struct chs_outgoing {
	unsigned char id[32];
	char *bytes; /* chs_batch_encode() form */
	size_t len;
} chs_outgoing;

/* This store's batches not yet marked sent, oldest first. */
int chs_store_unsent(chs_store *s, chs_outgoing **out, size_t *n);
void chs_outgoing_free(chs_outgoing *list, size_t n);
int chs_store_mark_sent(chs_store *s, const unsigned char id[32]);
/* Apply a batch made elsewhere: verify its signature, then store and
 * merge its changes in one transaction. A batch already held is a no-op. */
int chs_store_apply_batch(chs_store *s, const void *bytes, size_t len);

/* ---------------------------------------------------------------------
 * The organisation and sync (client/org.c, client/replicate.c)
 *
 * The store keeps a mirror of the archive in DIR/git (ciphertext and
 * signed manifests only) and the roster it last accepted.
 */
/* Make this store the organisation's admin store: an admin key, the data
 * keys, and a roster on which this store is the first device (an
 * archivist at `site`, default terminal.name). `archive` (may be NULL)
 * becomes remote.url. The roster reaches the archive with the next sync. */
int chs_org_init(chs_store *s, const char *archive, const char *site);
/* This store's enrollment request, one line: its SSH public key with the
 * terminal as comment (malloc'ed). */
int chs_device_request(chs_store *s, char **line);
/* Admin: put the device of `request` on the roster at `site` with `role`
 * ("clinic", "billing", "archivist"), sealing it the data keys its role
 * reads. Takes effect at the next sync. */
int chs_device_enroll(chs_store *s, const char *request, const char *site,
		      const char *role, char device[33]);
/* Admin: revoke a device (an id prefix): its batches after the last one
 * this store accepted are refused everywhere, and new data keys are
 * sealed to the others only. */
int chs_device_revoke(chs_store *s, const char *prefix, char device[33],
		      uint64_t *after);
/* The roster as a JSON array of {device, key, site, role, self,
 * revoked_after}. */
int chs_device_list(chs_store *s, char **json);
/* An allowed-signers file for `git log --show-signature`. */
int chs_device_allowed_signers(chs_store *s, char **text);
/* Set the archive (remote.url). */
int chs_remote_set(chs_store *s, const char *url);

typedef struct chs_sync_opts {
	/* long work: what, how far, out of how much (0: unknown) */
	void (*progress)(const char *what, size_t done, size_t total, void *payload);
	void *payload;
} chs_sync_opts;

typedef struct chs_sync_report {
	uint64_t roster_seq;     /* the roster this store now holds */
	size_t devices;          /* device refs in the archive */
	size_t batches_in, changes_in;   /* applied here */
	size_t batches_out, changes_out; /* made into commits here */
	int pushed;              /* this sync moved the archive's refs */
	size_t refused;          /* things from the archive refused */
	chs_buf problems;        /* one line each */
	size_t chunks_in;        /* attachment chunks received and stored here */
	size_t attachments_in;   /* attachments whose bytes are now all here */
	size_t chunks_out;       /* attachment chunks this sync sent */
} chs_sync_report;

/* Fetch, check and apply what is new in the archive, then send this
 * store's batches. Things the archive holds that fail a check are
 * refused and listed in the report (and the sync fails with CHS_EDAMAGED
 * after doing everything else). Resumable at any point. */
int chs_store_sync(chs_store *s, const chs_sync_opts *opts, chs_sync_report *rep);
void chs_sync_report_dispose(chs_sync_report *r);

/* ---------------------------------------------------------------------
 * Measurement, for tools/bench/store: the encrypted VFS against plain
 * SQLite, both with the store's own settings (4096-byte pages, WAL,
 * synchronous=FULL), in databases created inside `dir`.
 */
typedef struct chs_bench_store_result {
	double encrypted_rows_per_s; /* `rows` inserts in one transaction */
	double plain_rows_per_s;
	double encrypted_commit_ms;  /* median of `commits` one-row commits */
	double plain_commit_ms;
} chs_bench_store_result;

int chs_bench_store(const char *dir, int rows, int row_bytes, int commits,
		    chs_bench_store_result *out);

/* What storing `records` records costs SQLite alone: the rows an import
 * or a pull writes for each (its change, its record, a batch per 1,000),
 * with the sizes of the first change and record in `s`, into a database
 * with the store's own schema and settings, in one transaction, committed
 * and checkpointed. Plain, or with `encrypted` through the store's page
 * encryption (under a throwaway key). No encoding, hashing, verifying,
 * merging or signing: the ceiling an import or a pull can approach. */
int chs_bench_import_floor(chs_store *s, const char *dir, long records, int encrypted,
			   double *records_per_s);

/* ---------------------------------------------------------------------
 * Entry confirmation (client/confirm.c)
 *
 * A colleague confirms that records match the paper chart. A confirmation
 * is an append-only signed record of type `confirmation` naming the
 * record and its current head change (billing compartment: billing
 * offices confirm what they read; it holds ids, never content). A record
 * is confirmed iff a confirmation names its current heads, so any later
 * edit makes it unconfirmed again.
 */
/* Confirm the records `ids` (ids or prefixes), with an optional `note`,
 * in one save: all of them or none. CHS_EDENIED when the current version
 * of one is the user's own work (a second pair of eyes), CHS_EREVIEW when
 * one is under review, CHS_EINVALID for a removed record or one that is
 * not a chart entry (confirmation, audit, fee). A record already
 * confirmed at its current version is left as it is; `*added` (may be
 * NULL) counts the confirmations made. */
int chs_record_confirm(chs_store *s, const char *const *ids, size_t n,
		       const char *note, size_t *added);
/* Who confirmed the current version of a record: JSON
 * {"by","terminal","time","note","change","confirmation"} (note may be
 * absent), or null when it waits. chs_record_show() carries the same as
 * its "confirmed" member. `*json` is malloc'ed. */
int chs_record_confirmation(chs_store *s, const char *id, char **json);
/* Chart entries not confirmed at their current version, oldest first (as
 * chs_record_list(), each row with "changed" and "by" of its last
 * change); one patient's with `patient`. */
int chs_record_list_unconfirmed(chs_store *s, const char *patient, char **json);

/* ---------------------------------------------------------------------
 * Coding and billing (client/coding.c, client/fees.c)
 *
 * A visit goes to coding (its encounter gets coding "queued" and
 * coding_sent), a coder assigns procedure (CPT/HCPCS, with the fee from
 * the fee schedule) and diagnosis (ICD-10-CM) records, and marks it done
 * (coding "done", coding_done, coder). All of it is billing compartment,
 * so a billing office works the queue through sync.
 */
/* Put a visit in the coding queue. CHS_EEXISTS when it is there already;
 * a visit whose coding was done can be sent again. */
int chs_coding_send(chs_store *s, const char *encounter);
/* The queue, oldest sent first: a JSON array of {"encounter","patient",
 * "name","mrn","date","reason","provider","sent","procedures":[{"id",
 * "cpt","modifier","fee"}],"diagnoses":[{"id","icd"}]}. */
int chs_coding_queue(chs_store *s, char **json);

typedef struct chs_coding_assign_opts {
	const char *cpt;                /* NULL: diagnoses only */
	const char *const *modifiers;   /* up to 4, two letters or digits */
	size_t nmodifiers;
	const char *const *icd;         /* ICD-10-CM codes */
	size_t nicd;
} chs_coding_assign_opts;

/* Record a procedure (with its fee from the schedule: the line for the
 * visit's site, else for every site, effective on the visit date) and
 * diagnoses (one per code not on the visit yet) for a queued visit, in
 * one save. A fee the schedule does not know is left unset and a code no
 * imported list knows is accepted: both come back as warnings. `*json`:
 * {"procedure":id|null,"fee":cents|null,"diagnoses":[ids],
 *  "warnings":["..."]}. CHS_EINVALID for a code of the wrong form or a
 * visit not in the queue. */
int chs_coding_assign(chs_store *s, const char *encounter,
		      const chs_coding_assign_opts *o, char **json);
/* Take a visit out of the queue as coded by the store's user. */
int chs_coding_done(chs_store *s, const char *encounter);

typedef struct chs_fees_result {
	int64_t lines;   /* fee lines in the file */
	int64_t added;   /* new lines in the schedule */
	int64_t updated; /* lines whose fee or description changed */
} chs_fees_result;

/* Import a fee schedule: CSV (RFC 4180) with the header
 * code,description,fee,effective; fee in dollars (125, 125.5, 125.00),
 * effective as YYYY-MM-DD. Each line becomes a signed `fee` record for
 * `site` (NULL: this store's site on the roster, or every site when the
 * store is in no organisation), so the schedule syncs. A malformed line is
 * named by its number and nothing is imported (CHS_EINVALID). */
int chs_fees_import(chs_store *s, const char *path, const char *site,
		    chs_fees_result *res);

/* Import a code list into this store (not synced): lines "CODE
 * description" (CMS's ICD-10-CM code file, with or without the dot),
 * CMS's ICD-10-CM order file, or CSV (*.csv: code, description; a header
 * is skipped). `system` is "icd10cm", "hcpcs" or "cpt" (NULL: guessed
 * from the first code). All or nothing; a bad line is named. */
int chs_codes_import(chs_store *s, const char *path, const char *system,
		     int64_t *count);
/* Whether an imported list knows `code` of `system` ("icd10cm", "hcpcs",
 * "cpt"): *known = 1 listed, 0 not listed (flag it, never refuse), -1 no
 * list of that system was imported (nothing to say). */
int chs_code_known(chs_store *s, const char *system, const char *code, int *known);

/* Claims for the billing office: RFC 4180 CSV with a header, one row per
 * procedure of a visit on or after `since` (YYYY-MM-DD), oldest visit
 * first: patient, mrn, name, dob, payer, member_id, visit, visit_date,
 * procedure, code, modifiers, icd (the visit's ICD-10-CM codes, space
 * separated), fee (dollars, empty when unknown), coding. `*csv` is
 * malloc'ed; `*rows` (may be NULL) counts the rows. */
int chs_claims_export(chs_store *s, const char *since, char **csv, size_t *rows);

/* Write a file crash-safely (temp file, fsync, rename), readable by its
 * owner only: exports hold patient data. */
int chs_file_save(const char *path, const void *data, size_t len);

/* ---------------------------------------------------------------------
 * Reports and exports (client/reports.c, client/fhir.c)
 *
 * Read-only passes over the whole store (or one patient's chart), fast
 * enough for 100,000 records in well under two seconds.
 */
typedef struct chs_report_opts {
	int review_days;  /* review_overdue: under review for more than this */
	int confirm_days; /* unconfirmed: last change older than this */
	int64_t now;      /* Unix seconds ages are measured at; 0: now */
	/* long work: what, how far, out of how much (0: unknown) */
	void (*progress)(const char *what, size_t done, size_t total, void *payload);
	void *payload;
} chs_report_opts;

#define CHS_REPORT_REVIEW_DAYS 7
#define CHS_REPORT_CONFIRM_DAYS 7

/* Defaults: CHS_REPORT_REVIEW_DAYS, CHS_REPORT_CONFIRM_DAYS, now, no
 * progress. */
void chs_report_opts_init(chs_report_opts *o);

/* The consistency report: each visit checked against its patient's
 * records. `*json` (malloc'ed) is
 *   {"findings":[{"kind":..,"patient":<id>|null,"records":[<id>..],
 *                 "detail":".."}..],
 *    "counts":{"<kind>":n..},"patients":n,"visits":n}
 * with findings in patient id order. Kinds (stable names):
 *   visit_without_note      an encounter with no note
 *   procedure_without_code  a procedure with no CPT/HCPCS code
 *   code_without_procedure  diagnoses on a visit with no procedure
 *   malformed_code          a code that arrived (by sync) not well-formed
 *   medication_not_on_list  a note names a medication (one known in the
 *                           store) the patient's medication list lacks
 *   visit_before_birth, note_before_visit, end_before_start
 *   review_overdue          under review for more than review_days
 *   unconfirmed             not confirmed, last changed more than
 *                           confirm_days ago (stores whose schema has the
 *                           `confirmation` record type)
 * A billing store holds no clinical records: the kinds that need them
 * (notes, medications) are left out there. `opts` may be NULL. */
int chs_report_consistency(chs_store *s, const chs_report_opts *opts, char **json);

/* The coding queue, from the encounters' coding fields (coding =
 * "queued" | "done", coding_sent, coding_done, coder). `*json`:
 *   {"queue":{"length":n,"oldest":<encounter>|null,"oldest_days":x,
 *             "median_days":x},
 *    "done":n,
 *    "coders":[{"coder":..,"done":n,"last_30_days":n,"per_day":x,
 *               "median_turnaround_days":x}..]}
 * Ages are in days (one decimal); per_day is over the last 30 days. */
int chs_report_coding(chs_store *s, const chs_report_opts *opts, char **json);

/* Write a FHIR R4 Bundle (type "collection") of one patient's chart
 * (`patient` an id or prefix) or of every record (NULL) to `out`:
 * Patient, Encounter, Condition (problems and diagnoses),
 * MedicationStatement, AllergyIntolerance, Procedure and DocumentReference
 * (notes and attachments), each with the record id as its id and the
 * urn:uuid: form of it as fullUrl. Values that arrived by sync in a form
 * FHIR cannot carry (an impossible date) are left out rather than written.
 * CHS_EIO when `out` fails. `opts` may be NULL. */
int chs_export_fhir(chs_store *s, const char *patient, const chs_report_opts *opts,
		    FILE *out);

#endif /* CHS_CHARTSYNC_H */
