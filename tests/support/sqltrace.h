/*
 * tests/support/sqltrace.h - every SQL statement a process runs, with no
 * hook in the product: an SQLite auto-extension registers, on every
 * connection the process opens from then on, a statement trace
 * (SQLITE_TRACE_STMT) that keeps each distinct statement's text
 * (sqlite3_sql: as written, parameters unexpanded).
 *
 * The texts go to a file, one per line (a newline inside a statement is
 * written as a space), each appended once per process with one write()
 * to a file opened O_APPEND, so several processes may share the file;
 * the reader removes duplicates. The query-plan test reads it.
 */
#ifndef CHS_TEST_SQLTRACE_H
#define CHS_TEST_SQLTRACE_H

/* Start recording into `path` (appended to, made when missing); 0, or
 * -1 when it cannot be opened. Once per process. */
int tu_sqltrace_start(const char *path);
/* Statements recorded by this process so far (distinct texts). */
unsigned tu_sqltrace_count(void);

/* The environment variable the traced chartsync binary reads at start:
 * when set, it records into the file it names. */
#define TU_SQLTRACE_ENV "CHARTSYNC_TEST_SQL_TRACE"

#endif
