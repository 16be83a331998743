/*
 * client/bench/bench_int.h - what bench.c and layout.c share: the
 * databases they make the way the store does, and the rows they copy.
 */
#ifndef CHS_CLIENT_BENCH_BENCH_INT_H
#define CHS_CLIENT_BENCH_BENCH_INT_H

#include "client/bench/bench.h"
#include "client/store/db.h"
#include "client/util/util.h"

/* Monotonic seconds. */
double chs_bench__now_s(void);
/* sqlite3_exec, its failure as CHS_ERROR with SQLite's message. */
int chs_bench__exec(sqlite3 *db, const char *sql);
/* Create PATH (removed first) the way the store does (4096-byte pages,
 * the VFS's reserve, WAL, synchronous=FULL, no automatic checkpoints)
 * with `schema` in it; plain when vfs is NULL. */
int chs_bench__open(sqlite3 **db, const char *path, chs_vfs *vfs, const char *schema);
/* Remove a benchmark database with its WAL and wal-index. */
void chs_bench__remove_db(const char *path);
/* The first change's body and the first patient's state in `s`: the
 * sizes the floors copy. */
int chs_bench__templates(chs_store *s, chs_buf *body, chs_buf *state);

#endif /* CHS_CLIENT_BENCH_BENCH_INT_H */
