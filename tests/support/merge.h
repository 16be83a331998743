/*
 * tests/support/merge.h - a merge's effect on a store, written by hand.
 *
 * A TEST-ONLY STAND-IN for 'chartsync patient merge' (client/identity),
 * for the suites of what follows a merged chart: it writes what a merge
 * leaves, and nothing of how it decides (no verdict record, no act
 * record, no review of differing values, no role check).
 */
#ifndef CHS_TEST_MERGE_H
#define CHS_TEST_MERGE_H

#include "client/chartsync.h"

/* In one save through the writer: every live record linked to patient
 * `other` (but access events) gets its `patient` link moved to `keep`,
 * and `other` gets `merged_into` = `keep` (a tombstone). `keep` and
 * `other` are full ids. Fails the test on an error. */
void tu_merge_by_hand(chs_store *s, const char *keep, const char *other);

/* The two clinics on one store `s`: KEEP "John Smith", chart
 * number X-1, born 1970-01-01, registered in `s`; OTHER "Jon Smith", X-1,
 * the same date, registered at a second store (offline, so its number
 * was not refused) and shipped to `s`, with a visit and a note on it.
 * Then OTHER is merged into KEEP by hand (tu_merge_by_hand). Ids of
 * KEEP, OTHER and OTHER's visit (now on KEEP) come back. */
void tu_two_clinics_merged(chs_store *s, char keep[33], char other[33], char visit[33]);

#endif
