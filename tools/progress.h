/*
 * tools/progress.h - progress on stderr, as git shows it: only when stderr
 * is a terminal and the output is not --json, after half a second, at most
 * five updates a second, each stage ending with ", done.".
 */
#ifndef CHS_PROGRESS_H
#define CHS_PROGRESS_H

#include <stddef.h>
#include <time.h>

typedef struct cli_progress {
	const char *what;
	struct timespec start, last;
	int shown;
} cli_progress;

/* 1 when progress should be shown for a command run with `json`. */
int cli_progress_wanted(int json);
void cli_progress_init(cli_progress *p);
/* The progress callback of the library's options; `payload` is a
 * cli_progress. A new `what` ends the previous stage. */
void cli_progress_update(const char *what, size_t done, size_t total, void *payload);
/* End the stage on screen (", done."); harmless when nothing was shown. */
void cli_progress_end(cli_progress *p);

#endif
