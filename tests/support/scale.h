/*
 * tests/support/scale.h - what the tests of "cost does not grow with the
 * store" share: a store filled with other charts, and the SQLite work a
 * call costs, counted in steps of its virtual machine (deterministic,
 * unlike time on a shared machine).
 */
#ifndef CHS_TEST_SCALE_H
#define CHS_TEST_SCALE_H

#include "client/chartsync.h"

/* Import `n` other patients (name "Other K", chart number "O-K") into
 * `s`, through a JSON Lines file written in `tmpdir`. */
void tu_import_others(chs_store *s, const char *tmpdir, int n);

/* Count SQLite steps on `s`'s connection, in thousands, into *thousands
 * until tu_steps_end. */
void tu_steps_begin(chs_store *s, long *thousands);
void tu_steps_end(chs_store *s);

#endif
