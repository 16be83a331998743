/*
 * client/records/views.h - unaudited views of records, offered to the
 * client modules (and tests) only. A person's look at a chart goes
 * through client/audit/audit.h, which records the access before it hands
 * anything back; these views record nothing, so no command calls them.
 */
#ifndef CHS_CLIENT_RECORDS_VIEWS_H
#define CHS_CLIENT_RECORDS_VIEWS_H

#include "client/records/records.h"

/* Record `id` (an id or a unique prefix) as the store holds it now,
 * whole: its history counted, the candidates of what is under review,
 * who confirmed its current version (records.h). Free it with
 * chs_record_free(). CHS_ENOTFOUND, CHS_EAMBIGUOUS. */
int chs_record_lookup(chs_record **out, chs_store *s, const char *id);
/* Records oldest first, without their histories (records.h: a record in
 * a list); `type` and `patient` (an id or prefix: the patient and every
 * record linked to them) filter when not NULL. Removed records are left
 * out, and so are access events and the archive's events (types audit,
 * archive_event) unless `type` asks for
 * them. Without `patient`, patients merged into another (tombstones,
 * client/identity) are left out as removed ones are: they are no chart
 * of their own now. `patient` is taken as given, a tombstone too (its
 * own record and what still links to it): the merge needs that, and
 * chs_access_list() follows a merged chart with chs_record_follow()
 * first. CHS_EINVALID for an unknown type; CHS_ENOTFOUND, CHS_EAMBIGUOUS
 * for the patient. */
int chs_record_query(chs_record_list **out, chs_store *s, const char *type,
		     const char *patient);
/* The patients whose chart number (mrn) is `mrn`, as stored (normalised:
 * chs_text_normalise_id), each followed to the patient whose chart it is
 * now (chs_record_follow()), without repeats, oldest first: a tombstone
 * and the patient it was merged into, which share the number after a
 * merge, are one. `*ids` is malloc'ed (NULL when none). For the hot
 * folder, which files a scan by its chart number. */
int chs_record_find_mrn(char (**ids)[33], size_t *n, chs_store *s, const char *mrn);
/* Put `r` (taken) in place of record i of `l`, or, when `r` is NULL,
 * drop record i (the ones after it move up); the record that was there is
 * freed. For a view that keeps only some of a list, read whole. */
int chs_record_list_replace(chs_record_list *l, size_t i, chs_record *r);
/* The history of record `id`: its changes in causal order. Free it with
 * chs_history_free(). CHS_ENOTFOUND, CHS_EAMBIGUOUS. */
int chs_record_history(chs_history **out, chs_store *s, const char *id);

/* Write an attachment's bytes to `fd`. */
int chs_attachment_cat(chs_store *s, const char *id, int fd);

#endif /* CHS_CLIENT_RECORDS_VIEWS_H */
