/*
 * Progress on stderr for long commands (sync, reports, exports).
 */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DELAY_S 0.5    /* nothing shown for work shorter than this */
#define INTERVAL_S 0.2 /* at most five updates a second */

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

int cli_progress_wanted(int json)
{
	return !json && isatty(STDERR_FILENO);
}

void cli_progress_init(cli_progress *p)
{
	memset(p, 0, sizeof(*p));
}

void cli_progress_end(cli_progress *p)
{
	if (p->shown)
		fputs(", done.\n", stderr);
	p->shown = 0;
	p->what = NULL;
}

void cli_progress_update(const char *what, size_t done, size_t total, void *payload)
{
	cli_progress *p = payload;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!p->what || strcmp(p->what, what) != 0) {
		cli_progress_end(p);
		p->what = what;
		p->start = now;
	}
	if (since(&p->start, &now) < DELAY_S || (p->shown && since(&p->last, &now) < INTERVAL_S))
		return;
	p->last = now;
	p->shown = 1;
	if (total)
		fprintf(stderr, "\r%s: %3u%% (%zu/%zu)", what, (unsigned)(done * 100 / total), done,
			total);
	else
		fprintf(stderr, "\r%s: %zu", what, done);
}
