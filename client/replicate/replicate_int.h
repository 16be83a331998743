/*
 * client/replicate/replicate_int.h - shared by the files of client/replicate/ only.
 */
#ifndef CHS_CLIENT_REPLICATE_REPLICATE_INT_H
#define CHS_CLIENT_REPLICATE_REPLICATE_INT_H

#include "client/replicate/replicate.h"
#include "client/records/apply.h"
#include "client/records/writer.h"
#include "client/util/util.h"

/* ---- org.c ---- */
/* The admin's store: commit the saved rosters not yet in git. */
int chs_client__publish_rosters(chs_store *s, chs_git *g);

/* ---- blobsync.c: attachment bytes through the archive ---- */
/* What the sync lends the attachment steps. */
typedef struct chs_blob_sync {
	chs_store *s;
	chs_git *git;
	const char *url;
	const chs_roster *roster;
	const chs_roster_device *me;
	chs_key_fn key_of;       /* the sync's data keys */
	void *key_payload;
	int fetched;             /* the sync's fetch included the chunks */
	const chs_sync_opts *opts;
	chs_sync_report *rep;
} chs_blob_sync;

/* 1 when this store's device (by the roster it holds) reads clinical
 * data, so its fetches should include attachment chunks. */
int chs_client__blobs_wanted(chs_store *s);
/* Read other devices' new chunk commits (fetching them first unless
 * b->fetched), check them and store the chunks; an attachment whose
 * chunks are all here becomes readable. A device whose chunks fail a
 * check is reported (b->rep) and left where it was. Nothing for a device
 * that reads no clinical data. */
int chs_client__blobs_pull(const chs_blob_sync *b);
/* Send the chunks of this store's attachments that the archive does not
 * have yet, a bounded commit at a time, each pushed before the next is
 * made: an interruption loses at most one commit's worth. Run it after
 * the batches that name them are pushed. */
int chs_client__blobs_push(const chs_blob_sync *b);

#endif /* CHS_CLIENT_REPLICATE_REPLICATE_INT_H */
