/*
 * chartsync desk: the archivists' desk, a web page on this computer.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char desk_help[] =
	"usage: chartsync desk [--listen ADDR] [--store DIR]\n"
	"\n"
	"Serve the archivists' desk for the store: a web page to review what\n"
	"sites edited at once (each candidate side by side, settled with a click),\n"
	"read a record's history as its change graph, and read the reports.\n"
	"Prints the address to open in a browser on this computer, then serves\n"
	"until SIGINT (Ctrl-C) or SIGTERM.\n"
	"\n"
	"Nobody is signed in when it starts: each person signs in on the page\n"
	"with their user name and passphrase of this store (a service user\n"
	"cannot), and what they do there is signed and recorded as theirs. A\n"
	"person is signed out after desk.idle minutes without use (15 unless\n"
	"'chartsync config desk.idle N' says otherwise).\n"
	"\n"
	"  --listen ADDR  127.0.0.1:PORT (the default is 127.0.0.1:8470),\n"
	"                 [::1]:PORT or localhost:PORT; port 0 picks a free one.\n"
	"                 The desk listens only on this computer: any other\n"
	"                 address is refused.\n";

typedef struct desk_args {
	const char *listen;
} desk_args;

static int desk_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	desk_args *a = payload;

	(void)ctx;
	if (c != 'l')
		return -1;
	a->listen = arg;
	return 0;
}

/* Serve until SIGINT or SIGTERM, ending idle sessions every second. The
 * signals are blocked in every thread (the server's inherits the mask)
 * and taken here with sigtimedwait(): no handler runs on the server's
 * thread in the middle of a page. */
static void serve(chs_desk *d, const sigset_t *stop)
{
	struct timespec tick = { 1, 0 };
	int sig;

	for (;;) {
		sig = sigtimedwait(stop, NULL, &tick);
		if (sig == SIGINT || sig == SIGTERM)
			return;
		chs_desk_tick(d);
	}
}

int cmd_desk(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		CLI_COMMON_OPTS, OPT_END
	};
	desk_args a = { NULL };
	chs_desk_opts o;
	chs_desk *d = NULL;
	sigset_t stop, old;
	int err, rc;

	if (cli_parse_bare(ctx, argc, argv, opts, desk_opt, &a, desk_help, &rc) < 0)
		return rc;
	/* an address off this computer is a malformed command line: refused
	 * before the store is asked anything */
	if (a.listen && chs_desk_check_listen(a.listen) < 0)
		return cli_usage(ctx, "%s", chs_error_last());
	memset(&o, 0, sizeof(o));
	o.store_dir = cli_store_dir(ctx);
	o.listen = a.listen;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	if ((err = pthread_sigmask(SIG_BLOCK, &stop, &old)) != 0)
		return cli_failf("cannot block signals: %s", strerror(err));
	if ((err = chs_desk_start(&d, &o)) < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return cli_fail(err);
	}
	printf("chartsync desk: open %s in a browser on this computer\n", chs_desk_url(d));
	fflush(stdout);
	serve(d, &stop);
	chs_desk_stop(d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return CLI_OK;
}
