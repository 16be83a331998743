/*
 * client/records/views.h - unaudited views of records, offered to the
 * client modules (and tests) only. A person's look at a chart goes
 * through client/audit/audit.h, which records the access before it hands
 * anything back; these views record nothing, so no command calls them.
 */
#ifndef CHS_CLIENT_RECORDS_VIEWS_H
#define CHS_CLIENT_RECORDS_VIEWS_H

#include "client/store/store.h"

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


/* Write an attachment's bytes to `fd`. */
int chs_attachment_cat(chs_store *s, const char *id, int fd);

#endif /* CHS_CLIENT_RECORDS_VIEWS_H */
