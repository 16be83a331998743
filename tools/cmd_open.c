/*
 * chartsync open PATIENT: the whole chart in the pager. Its access event
 * records how long the chart stayed open: from the start until the pager
 * exits. The layout is the library's (chs_chart_open); the pager is here.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char open_help[] =
	"usage: chartsync open PATIENT\n"
	"\n"
	"Show a patient's whole chart for reading: demographics, problems,\n"
	"medications, allergies, every visit with its notes, procedures,\n"
	"diagnoses and attachments. It opens in $PAGER (default less), or goes\n"
	"straight to standard output when that is not a terminal.\n"
	"\n"
	"Opening a chart is recorded as an access event (you, this terminal,\n"
	"the records shown, when, and how long the chart stayed open, until\n"
	"the pager is closed); see 'chartsync report access'. If the event\n"
	"cannot be recorded, the chart is not shown.\n"
	"A patient merged into another ('chartsync patient merge') opens the\n"
	"chart it was merged into; a line on standard error says so.\n";

static const struct option open_opts[] = { CLI_COMMON_OPTS, OPT_END };

/* Run the pager on `text`. While it runs, the signals a person sends
 * from the terminal (interrupt, hang-up) go to the pager; this process
 * lives on to record the access when the pager exits. 0, or -1 when no
 * pager could be run. */
static int run_pager(const char *pager, const char *text)
{
	struct sigaction ign, old[5];
	static const int sigs[5] = { SIGINT, SIGQUIT, SIGHUP, SIGTERM, SIGPIPE };
	int fds[2], status = 0, i;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	fflush(stdout);
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	for (i = 0; i < 5; i++)
		sigaction(sigs[i], &ign, &old[i]);
	if ((pid = fork()) == 0) {
		for (i = 0; i < 5; i++)
			sigaction(sigs[i], &old[i], NULL);
		dup2(fds[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		execlp("sh", "sh", "-c", pager, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	if (pid > 0)
		cli_write_all(fds[1], text, strlen(text)); /* the reader may quit early */
	close(fds[1]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (i = 0; i < 5; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (pid < 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 127))
		return -1;
	return 0;
}

static void show(const char *text)
{
	const char *pager = getenv("PAGER");

	if (!isatty(STDOUT_FILENO) || (pager && (strcmp(pager, "cat") == 0 || !*pager))) {
		fputs(text, stdout);
		fflush(stdout);
		return;
	}
	if (run_pager(pager ? pager : "less", text) < 0) {
		fputs(text, stdout);
		fflush(stdout);
	}
}

int cmd_open(cli_ctx *ctx, int argc, char **argv)
{
	char keep[33] = "", from[33] = "";
	chs_access *acc = NULL;
	chs_store *s = NULL;
	char *text = NULL;
	int i, rc = CLI_OK, err;

	ctx->help_text = open_help;
	if ((i = cli_parse(ctx, argc, argv, open_opts, NULL, NULL)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (argc - i != 1)
		return cli_usage(ctx, argc - i < 1 ? "missing arguments" : "too many arguments");
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	cli_follow(s, argv[i], keep, from);
	if ((err = chs_chart_open(s, argv[i], &text, &acc)) < 0) {
		rc = cli_fail(err);
		goto done;
	}
	cli_followed(from, keep, NULL, "opening");
	show(text);
	if ((err = chs_access_close(s, acc)) < 0)
		rc = cli_failf("this opening of the chart could not be recorded: %s",
			       chs_error_last());
done:
	free(text);
	chs_store_free(s);
	return rc;
}
