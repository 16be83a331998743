/*
 * chartsync daemon, and what the other commands ask a running service:
 * its part of `status`, and `sync` done by it.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_TIMEOUT_MS 3000

static const char daemon_help[] =
	"usage: chartsync daemon [--log-json] [--passphrase-file FILE] [--store DIR] [--user NAME]\n"
	"\n"
	"Run the clinic's service in the foreground (systemd runs it so): sync\n"
	"every sync.interval and/or in sync.window, and within sync.after_write\n"
	"of work typed in here; retry an archive that does not answer with a\n"
	"growing wait (30 seconds doubling to 15 minutes, at random below it);\n"
	"take scanned pages from scan.folder; answer 'chartsync status' and\n"
	"'chartsync sync' through the control socket DIR/control. One line per\n"
	"event on standard error (--log-json: one JSON object per line).\n"
	"SIGHUP reads the settings again; SIGTERM or SIGINT stops it after the\n"
	"batch being applied. The store's folder comes from --store,\n"
	"$CHARTSYNC_STORE, systemd's $STATE_DIRECTORY, or the default.\n"
	"\n"
	"The passphrase: --passphrase-file FILE, $CHARTSYNC_PASSPHRASE_FILE,\n"
	"systemd's $CREDENTIALS_DIRECTORY/passphrase, or the terminal. Run it\n"
	"as a service user ('chartsync user add --service NAME'), which syncs\n"
	"and takes in scans and can never read a chart.\n";

typedef struct daemon_args {
	int log_json;
	const char *pass_file;
} daemon_args;

static int daemon_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	daemon_args *a = payload;

	(void)ctx;
	if (c == 'L')
		a->log_json = 1;
	else if (c == 'P')
		a->pass_file = arg;
	else
		return -1;
	return 0;
}

int cmd_daemon(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log-json", no_argument, NULL, 'L' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		CLI_COMMON_OPTS, OPT_END
	};
	chs_service_opts o;
	daemon_args a = { 0, NULL };
	char *pass = NULL;
	int err, rc;

	if (cli_parse_bare(ctx, argc, argv, opts, daemon_opt, &a, daemon_help, &rc) < 0)
		return rc;
	memset(&o, 0, sizeof(o));
	o.dir = cli_store_dir(ctx);
	o.user = cli_user(ctx);
	o.log_json = a.log_json;
	o.log_fd = -1;
	if (a.pass_file && setenv("CHARTSYNC_PASSPHRASE_FILE", a.pass_file, 1) < 0)
		return cli_failf("out of memory");
	if ((err = chs_store_probe(o.dir)) < 0 || (err = chs_service_check_free(o.dir)) < 0 ||
	    (err = cli_passphrase_open(&pass, &o.passphrase_len)) < 0)
		return cli_fail(err);
	o.passphrase = pass;
	err = chs_service_run(&o);
	chs_secret_free(pass);
	return err < 0 ? cli_fail(err) : CLI_OK;
}

/* ---- status ---- */

json_t *cli_service_status(cli_ctx *ctx)
{
	char *text = NULL;
	json_t *v = NULL;

	if (chs_service_call(cli_store_dir(ctx), "status", NULL, STATUS_TIMEOUT_MS, &text) == 0)
		v = json_loads(text, 0, NULL);
	else if (chs_error_last_code() != CHS_ENOTFOUND)
		/* a service that does not answer is worth saying */
		v = json_pack("{s:s}", "error", chs_error_last());
	chs_error_clear();
	free(text);
	return v;
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *plural(long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

void cli_service_status_print(json_t *svc)
{
	json_t *last, *back, *scan;
	long long up, n;

	if (!svc) {
		printf("service:  not running\n");
		return;
	}
	if (json_object_get(svc, "error")) {
		printf("service:  not answering: %s\n", cli_safe(str(svc, "error")));
		return;
	}
	up = num(svc, "uptime_s");
	printf("service:  running, pid %lld, up %lldh%02lldm, as %s\n", num(svc, "pid"),
	       up / 3600, up % 3600 / 60, cli_safe(str(svc, "user")));
	printf("  now:        %s\n", cli_safe(str(svc, "status")));
	last = json_object_get(svc, "last_sync");
	if (strcmp(str(last, "outcome"), "none") == 0)
		printf("  last sync:  none yet\n");
	else if (strcmp(str(last, "outcome"), "ok") == 0)
		printf("  last sync:  %s ok (%lld change%s in, %lld out)\n", cli_safe(str(last, "at")),
		       num(last, "changes_in"), plural(num(last, "changes_in"), "", "s"),
		       num(last, "changes_out"));
	else
		printf("  last sync:  %s %s\n", cli_safe(str(last, "at")),
		       cli_safe(str(last, "outcome")));
	if (*str(last, "error"))
		printf("  why:        %s\n", cli_safe(str(last, "error")));
	printf("  next sync:  %s\n", cli_safe(str(svc, "next_attempt")));
	back = json_object_get(svc, "backoff");
	if ((n = num(back, "failures")) > 0)
		printf("  retrying:   %lld failed tr%s since %s; this wait %llds\n", n,
		       plural(n, "y", "ies"), cli_safe(str(back, "failing_since")),
		       num(back, "delay_s"));
	printf("  waiting:    %lld batch%s to send, %lld record%s under review\n",
	       num(svc, "unsent_batches"), plural(num(svc, "unsent_batches"), "", "es"),
	       num(svc, "under_review"), plural(num(svc, "under_review"), "", "s"));
	scan = json_object_get(svc, "scan");
	if (*str(scan, "folder"))
		printf("  scans:      %s: %lld waiting, %lld taken, %lld unmatched\n",
		       cli_safe(str(scan, "folder")), num(scan, "pending"), num(scan, "taken"),
		       num(scan, "unmatched"));
	if (*str(svc, "last_refusal"))
		printf("  refused:    %s\n", cli_safe(str(svc, "last_refusal")));
}

/* ---- sync through the service ---- */

int cli_service_sync(cli_ctx *ctx, char **result, int *reached)
{
	char *status = NULL;
	int err;

	*reached = 0;
	/* a service that is there but does not answer (stopped, wedged) is
	 * said at once, not after the long wait below */
	err = chs_service_call(cli_store_dir(ctx), "status", NULL, STATUS_TIMEOUT_MS, &status);
	free(status);
	if (err < 0)
		return err == CHS_EIO ? chs_error_set(CHS_EIO, "the chartsync service of this store"
						      " does not answer; see its log") : err;
	/* from here on, an error is the service's answer, whatever its code */
	*reached = 1;
	/* a large first pull takes long; the service's own limits (sync.timeout
	 * on a silent archive) bound it, and Ctrl-C leaves it running there */
	return chs_service_call(cli_store_dir(ctx), "sync", NULL, 24 * 3600 * 1000, result);
}
