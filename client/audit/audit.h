/*
 * client/audit/audit.h - reading a patient's data, audited.
 */
#ifndef CHS_CLIENT_AUDIT_AUDIT_H
#define CHS_CLIENT_AUDIT_AUDIT_H

#include <stdint.h>
#include "client/store/store.h"
#include "client/records/records.h"

/* ---------------------------------------------------------------------
 * Reading a patient's data, audited 
 *
 * Every opening of a patient's data by a person is an access event: an
 * `audit` record made by the user who opened the store, at this terminal,
 * naming the records shown, what was done ("show", "ls", "log", "open",
 * "cat"), the start and the duration. Events are signed changes that sync
 * like any other and can never be edited or removed. The functions below
 * are the views of chs_record_lookup() and friends that record the event
 * before they hand anything back: when it cannot be recorded (the store
 * is read-only, another writer holds it past the busy timeout) they fail
 * and show nothing. The unaudited views
 * (client/records/views.h) are offered to the client modules only.
 */
typedef struct chs_access chs_access;

/* Wall-clock milliseconds since the Unix epoch. */
int64_t chs_audit_now_ms(void);

/* The views of client/records/views.h, audited: chs_record_lookup() (its
 * access event names the record and its patient), chs_record_history(),
 * and chs_record_query(), audited (one event listing the patient and
 * every record shown) when `patient` is given. What they return is the
 * caller's (chs_record_free(), chs_history_free(), chs_record_list_free());
 * nothing comes back unless the event was recorded.
 * A patient merged into another (client/identity) is followed to the
 * patient whose chart it is now (chs_record_follow()): chs_access_show()
 * of the tombstone gives that patient's record and chs_access_list() of
 * it that chart's records, and the event names what was shown. A caller
 * that says so to a person calls chs_record_follow() itself.
 * chs_access_log() is the record's own history: a tombstone's shows the
 * merge that made it one. */
int chs_access_show(chs_record **out, chs_store *s, const char *id);
int chs_access_log(chs_history **out, chs_store *s, const char *id);
/* chs_access_show() of the record asked for itself, a merged patient too
 * (its own fields may be under review): for review. */
int chs_access_show_exact(chs_record **out, chs_store *s, const char *id);
int chs_access_list(chs_record_list **out, chs_store *s, const char *type,
		    const char *patient);
/* chs_attachment_cat(), recorded once the bytes are written (the store is
 * checked for writes first). */
int chs_access_cat(chs_store *s, const char *id, int fd);

/* Open a chart for a person: its text, and the access under way (the
 * store is checked for writes first). A merged patient's opens the chart
 * it was merged into, as chs_access_show() does. Show the text, then close the
 * access with chs_access_close(), which records how long the chart stayed
 * open; the event is written only then. */
int chs_chart_open(chs_store *s, const char *patient, char **text,
		   chs_access **access);
/* Write the access event with the time since it began (or until
 * chs_access_end()); frees `a`, whether the write succeeds or not. */
int chs_access_close(chs_store *s, chs_access *a);
/* The person left what the access showed: its duration ends now, however
 * much later the event is written. */
void chs_access_end(chs_access *a);
/* Write the access event as chs_access_close() does, but free `a` only
 * when it is written: on failure (the store busy past its wait during a
 * sync, a full disk) `a` stays the caller's, to write again later or
 * drop. For a page whose event is written when it is left, long after
 * what it showed was shown: the event must not vanish with a busy store. */
int chs_access_write(chs_store *s, chs_access *a);
/* Drop an access without recording it (after a failure); accepts NULL. */
void chs_access_free(chs_access *a);

/* ---------------------------------------------------------------------
 * A page a person keeps open (the archivists' desk)
 *
 * One access event for everything a page shows, written when the page is
 * left: chs_access_begin() checks that the store takes a write now (so
 * nothing is shown that could not be recorded) and starts the clock; each
 * view below hands back what chs_access_show_exact(), chs_access_log() and
 * chs_review_list() do and adds the records it shows to `a` instead of
 * writing an event of its own; the event names a patient when every
 * record it names belongs to that one. chs_access_close() writes the
 * event with the time the page stayed open, chs_access_free() drops it
 * after a failure. A service user is refused (CHS_EDENIED).
 * chs_access_add_review() with `keep` reads each record under review
 * whole (chs_access_show_exact()) and asks keep(record, arg): 1 keeps it,
 * 0 leaves it out of the list and of the event (a page's filter: the
 * event names exactly what the page shows), a negative code stops with
 * that error. Without `keep` the list is chs_review_list()'s, all named. */
typedef int (*chs_access_keep_fn)(const chs_record *r, void *arg);
int chs_access_begin(chs_access **out, chs_store *s, const char *action);
int chs_access_add_show(chs_access *a, chs_record **out, chs_store *s, const char *id);
int chs_access_add_log(chs_access *a, chs_history **out, chs_store *s, const char *id);
int chs_access_add_review(chs_access *a, chs_record_list **out, chs_store *s,
			  chs_access_keep_fn keep, void *arg);
/* Add records a page shows from a view of its own (the coding queue's
 * visits and their patients) to `a`: `ids` are 32 hex digits each, a
 * NULL entry skipped. CHS_EINVALID for one that is not a record id. */
int chs_access_add_ids(chs_access *a, chs_store *s, const char *const *ids, size_t n);

#endif /* CHS_CLIENT_AUDIT_AUDIT_H */
