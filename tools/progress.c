/*
 * Progress on stderr for long work (sync, reports, exports), as git
 * shows it: "Applying batches:  42% (420/1000)", then ", done.".
 */
#include "cli.h"

#include <string.h>
#include <unistd.h>

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void cli_meter_end(cli_meter *m)
{
	if (m->shown)
		fputs(", done.\n", stderr);
	m->shown = 0;
	m->what = NULL;
}

/* After half a second, at most five updates a second. */
void cli_meter_progress(const char *what, size_t done, size_t total, void *payload)
{
	cli_meter *m = payload;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!m->what || strcmp(m->what, what) != 0) {
		cli_meter_end(m);
		m->what = what;
		m->start = now;
	}
	if (since(&m->start, &now) < 0.5 || (m->shown && since(&m->last, &now) < 0.2))
		return;
	m->last = now;
	m->shown = 1;
	if (total)
		fprintf(stderr, "\r%s: %3u%% (%zu/%zu)", what, (unsigned)(done * 100 / total), done,
			total);
	else
		fprintf(stderr, "\r%s: %zu", what, done);
}

int cli_meter_wanted(int json)
{
	return !json && isatty(STDERR_FILENO);
}
