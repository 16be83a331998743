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
	"until SIGINT (Ctrl-C), SIGTERM, SIGHUP (its terminal closed) or\n"
	"SIGQUIT; each of them stops it cleanly, recording every page still open\n"
	"as an access event.\n"
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

/* Serve until a signal that ends a program from its terminal or from
 * outside (interrupt, terminate, hang-up when the terminal is closed,
 * quit), ending idle sessions every second. Each of them stops the desk
 * the same clean way: a hang-up or a quit left to its default action
 * would kill it before chs_desk_stop() writes the access events of the
 * pages still open (as cmd_open.c keeps the process alive to record its
 * chart). The signals are blocked in every thread (the server's inherits
 * the mask) and taken here with sigtimedwait(): no handler runs on the
 * server's thread in the middle of a page. */
static void serve(chs_desk *d, const sigset_t *stop)
{
	struct timespec tick = { 1, 0 };

	for (;;) {
		if (sigtimedwait(stop, NULL, &tick) > 0)
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
	struct sigaction ign, old_pipe;
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
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGQUIT);
	if ((err = pthread_sigmask(SIG_BLOCK, &stop, &old)) != 0)
		return cli_failf("cannot block signals: %s", strerror(err));
	/* a browser that closes its connection early, or a closed terminal
	 * under the desk's output, is no reason to die: the write fails
	 * (EPIPE) instead of killing the process with the pages' events */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old_pipe);
	if ((err = chs_desk_start(&d, &o)) < 0) {
		sigaction(SIGPIPE, &old_pipe, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return cli_fail(err);
	}
	printf("chartsync desk: open %s in a browser on this computer\n", chs_desk_url(d));
	fflush(stdout);
	serve(d, &stop);
	chs_desk_stop(d);
	sigaction(SIGPIPE, &old_pipe, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return CLI_OK;
}
