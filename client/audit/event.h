/*
 * client/audit/event.h - writing access events, offered to the client
 * modules that show patient data (reports, exports).
 */
#ifndef CHS_CLIENT_AUDIT_EVENT_H
#define CHS_CLIENT_AUDIT_EVENT_H

#include <stdint.h>
#include "client/audit/audit.h"

/* ---- audit.c: the access audit ---- */
/* Record that the store's user opened patient data: one signed,
 * append-only `audit` record in one batch (a durable commit of its own,
 * waiting for another writer up to the busy timeout). `action` names what
 * was viewed ("show", "ls", "log", "open", "export", "report ..."; under
 * 32 bytes); `records` the records whose content was shown, the one asked
 * for first (may be NULL with n = 0); `patient` the patient's id or a
 * prefix (NULL when none); `start_ms` wall-clock milliseconds since the
 * Unix epoch (chs_audit_now_ms()) and `duration_ms` how long it lasted.
 * Call it before handing the content to a person, and fail the command
 * when it fails: an unrecorded look at a chart is not acceptable. */
int chs_audit__write(chs_store *s, const char *action,
		     const unsigned char (*records)[16], size_t n,
		     const char *patient, int64_t start_ms, int64_t duration_ms);
/* An access under way, written by chs_access_close(): begin notes the
 * start; add appends a record shown; patient sets the patient. */
int chs_audit__access_begin(chs_access **out, const char *action);
int chs_audit__access_add(chs_access *a, const unsigned char id[16]);
void chs_audit__access_patient(chs_access *a, const unsigned char id[16]);
/* 0 when the store takes a write now (so an access can be recorded). */
int chs_audit__probe(chs_store *s);

#endif /* CHS_CLIENT_AUDIT_EVENT_H */
