/*
 * chartsync sync | remote | device ... | org init
 */
#include "cli.h"
#include "sync/sync.h" /* chs_role_parse */

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int run_sync(cli_ctx *ctx, chs_store *s, chs_sync_report *rep)
{
	chs_sync_opts o;
	cli_meter m;
	int err;

	memset(&m, 0, sizeof(m));
	memset(&o, 0, sizeof(o));
	if (cli_meter_wanted(ctx->json)) {
		o.progress = cli_meter_progress;
		o.payload = &m;
	}
	err = chs_store_sync(s, &o, rep);
	cli_meter_end(&m);
	return err;
}

/* ---- sync ---- */

static const char sync_help[] =
	"usage: chartsync sync [--json]\n"
	"\n"
	"Fetch what the other devices sent to the archive, check every batch\n"
	"(signatures, the roster, each device's history), apply what this\n"
	"store may read, then send this store's saved work; attachment bytes\n"
	"travel after the records. Interrupted at any point, the next sync\n"
	"finishes the job. Anything in the archive that fails a check is\n"
	"refused, never applied, and listed (exit 2 after everything else).\n"
	"An archive that is not this organisation's gets nothing. Tampering\n"
	"the sync heals (a ref deleted or set back) is recorded and shown by\n"
	"'chartsync status' and 'chartsync report archive'.\n"
	"\n"
	"With the service running ('chartsync daemon'), it does the sync and\n"
	"this prints its report; no passphrase is asked.\n"
	"\n"
	"'sent' counts what reached the archive, with work an earlier sync\n"
	"prepared but could not send.\n"
	"\n"
	"--json keys: roster, devices, batches_in, changes_in, batches_out and\n"
	"changes_out (prepared for the archive by this sync), batches_sent and\n"
	"changes_sent (received by the archive), chunks_in, attachments_in,\n"
	"chunks_out (1 MiB each), pushed, tampering (events recorded),\n"
	"roster_edits_reapplied (this admin store's roster edits made again on\n"
	"top of another admin store's), refused, and problems when something\n"
	"was refused; own_batches_in and renumbered (a store behind its own\n"
	"history, see below); placed and unplaced (below).\n"
	"\n"
	"A record this store added to a patient whose chart the archive merged\n"
	"into another meanwhile ('chartsync patient merge') is moved to the\n"
	"chart the merge kept, by this sync, and sent with it ('placed'). One\n"
	"whose patient is under review, or whose merge is (two archivists\n"
	"merged the pair two ways), stays where it is ('unplaced') until\n"
	"'chartsync patient merge' settles it.\n"
	"\n"
	"A store restored from a backup is behind its own device's history: the\n"
	"device sent batches after the backup. Its first sync fetches them back\n"
	"from the archive (checked: signed by this device, chain unbroken),\n"
	"applies them, and numbers anything saved since the restore after the\n"
	"archive's last batch of this device, signed again; nothing sent is lost\n"
	"and no batch number is used twice.\n";

static int print_report(const chs_sync_report *r, int json)
{
	if (json) {
		char *text = NULL;
		int err = chs_json_sync_report(&text, r);

		if (err < 0)
			return cli_fail(err);
		puts(text);
		free(text);
		return CLI_OK;
	}
	/* sent: what the archive received, an earlier sync's batches too */
	printf("received %zu change%s in %zu batch%s; sent %zu change%s in %zu batch%s",
	       r->changes_in, r->changes_in == 1 ? "" : "s", r->batches_in,
	       r->batches_in == 1 ? "" : "es", r->changes_pushed,
	       r->changes_pushed == 1 ? "" : "s", r->batches_pushed,
	       r->batches_pushed == 1 ? "" : "es");
	if (r->batches_out > r->batches_pushed)
		printf(" (%zu more prepared, not yet in the archive)",
		       r->batches_out - r->batches_pushed);
	putchar('\n');
	if (r->tampering)
		printf("the archive was tampered with: %zu change%s of its refs recorded (and healed"
		       " where a sync can); see 'chartsync report archive'\n", r->tampering,
		       r->tampering == 1 ? "" : "s");
	if (r->own_batches_in || r->renumbered)
		printf("this store was behind its own history (restored from a backup?): %zu of its"
		       " batches came back from the archive; %zu made here meanwhile go after them\n",
		       r->own_batches_in, r->renumbered);
	if (r->roster_edits_reapplied)
		printf("another admin store changed the roster first: this store's %zu roster"
		       " edit%s made again on top of it\n", r->roster_edits_reapplied,
		       r->roster_edits_reapplied == 1 ? " was" : "s were");
	if (r->placed || r->unplaced)
		printf("merged charts: %zu record%s made here moved to the chart its merge kept;"
		       " %zu could not be yet (see 'chartsync review')\n", r->placed,
		       r->placed == 1 ? "" : "s", r->unplaced);
	if (r->attachments_in || r->chunks_out)
		printf("attachments: %zu received; %zu MiB of scans sent\n", r->attachments_in,
		       r->chunks_out);
	return CLI_OK;
}

/* The report the service answered, back in its struct for the text. */
static void report_from_json(chs_sync_report *r, json_t *o)
{
#define N(key) ((size_t)json_integer_value(json_object_get(o, key)))
	memset(r, 0, sizeof(*r));
	r->roster_seq = N("roster");
	r->devices = N("devices");
	r->batches_in = N("batches_in");
	r->changes_in = N("changes_in");
	r->batches_out = N("batches_out");
	r->changes_out = N("changes_out");
	r->batches_pushed = N("batches_sent");
	r->changes_pushed = N("changes_sent");
	r->chunks_in = N("chunks_in");
	r->attachments_in = N("attachments_in");
	r->chunks_out = N("chunks_out");
	r->tampering = N("tampering");
	r->roster_edits_reapplied = N("roster_edits_reapplied");
	r->refused = N("refused");
	r->own_batches_in = N("own_batches_in");
	r->renumbered = N("renumbered");
	r->placed = N("placed");
	r->unplaced = N("unplaced");
	r->pushed = json_is_true(json_object_get(o, "pushed"));
#undef N
}

/* With a service serving the store, it syncs (it holds the sync lock
 * anyway) and this prints its report: an exit code. -1: no service. */
static int sync_by_service(cli_ctx *ctx)
{
	chs_sync_report rep;
	char *text = NULL;
	json_t *o;
	int err, reached, rc;

	if ((err = cli_service_sync(ctx, &text, &reached)) == CHS_ENOTFOUND && !reached) {
		chs_error_clear();
		return -1;
	}
	if (err < 0 && !text)
		return cli_fail(err);
	/* done, or done with something refused: the report first, as a
	 * sync run here prints it */
	if (ctx->json) {
		puts(text);
		free(text);
		return err < 0 ? cli_fail(err) : CLI_OK;
	}
	o = json_loads(text, 0, NULL);
	free(text);
	if (!o)
		return err < 0 ? cli_fail(err) : cli_failf("the service's report could not be read");
	report_from_json(&rep, o);
	json_decref(o);
	printf("(synced by the service) ");
	rc = print_report(&rep, 0);
	return err < 0 ? cli_fail(err) : rc;
}

int cmd_sync(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
	chs_sync_report rep;
	chs_store *s = NULL;
	int err, rc;

	if (cli_parse_bare(ctx, argc, argv, opts, NULL, NULL, sync_help, &rc) < 0)
		return rc;
	if ((rc = sync_by_service(ctx)) >= 0)
		return rc;
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	err = run_sync(ctx, s, &rep);
	if (err == 0 || err == CHS_EDAMAGED) {
		/* what was done is worth saying even when something was refused */
		rc = print_report(&rep, ctx->json);
		if (err < 0)
			rc = cli_fail(err);
	} else {
		rc = cli_fail(err);
	}
	chs_sync_report_dispose(&rep);
	chs_store_free(s);
	return rc;
}

/* ---- report archive ---- */

static const char archive_report_help[] =
	"usage: chartsync report archive [--json]\n"
	"\n"
	"The archive's tampering that the devices saw and their syncs healed:\n"
	"a device's ref or the roster deleted, set back, or replaced by commits\n"
	"their maker did not make. Each line is one device's signed record\n"
	"(synced like the access events, readable by every role): when, what,\n"
	"which ref, which device and site saw it, and what healed it. Several\n"
	"devices may record the same act.\n"
	"\n"
	"--json: an array of objects with keys id, seen, kind, ref, detail, by,\n"
	"site.\n";

static int print_archive_json(const chs_archive_events *l)
{
	char *text = NULL;
	int err;

	if ((err = chs_json_archive_events(&text, l)) < 0)
		return cli_fail(err);
	puts(text);
	free(text);
	return CLI_OK;
}

int cmd_report_archive(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
	chs_archive_events *l = NULL;
	chs_store *s = NULL;
	size_t i, n;
	int err, rc;

	if (cli_parse_bare(ctx, argc, argv, opts, NULL, NULL, archive_report_help, &rc) < 0)
		return rc;
	if ((err = cli_open(ctx, &s)) < 0 || (err = chs_archive_events_list(&l, s)) < 0) {
		chs_store_free(s);
		return cli_fail(err);
	}
	n = chs_archive_events_count(l);
	if (ctx->json) {
		rc = print_archive_json(l);
	} else {
		printf("%zu tampering event%s the devices saw and healed\n", n, n == 1 ? "" : "s");
		for (i = 0; i < n; i++) {
			const chs_archive_event *e = chs_archive_events_get(l, i);

			/* text that arrived by sync, escaped for the terminal */
			printf("%s  %s  %s  seen by %s (%s): %s\n", cli_safe(e->seen),
			       cli_safe(e->kind), cli_safe(e->ref), cli_safe(e->by),
			       cli_safe(e->site), cli_safe(e->detail));
		}
		rc = CLI_OK;
	}
	chs_archive_events_free(l);
	chs_store_free(s);
	return rc;
}

size_t cli_archive_events(chs_store *s)
{
	chs_archive_events *l = NULL;
	size_t n;

	if (chs_archive_events_list(&l, s) < 0) {
		chs_error_clear();
		return 0;
	}
	n = chs_archive_events_count(l);
	chs_archive_events_free(l);
	return n;
}

void cli_status_archive(chs_store *s)
{
	chs_archive_events *l = NULL;
	size_t n;

	if (chs_archive_events_list(&l, s) < 0) {
		chs_error_clear();
		return;
	}
	if ((n = chs_archive_events_count(l)) > 0) {
		const chs_archive_event *last = chs_archive_events_get(l, n - 1);

		printf("archive:  tampered with: %zu event%s seen and healed, the last %s (%s);"
		       " see 'chartsync report archive'\n", n, n == 1 ? "" : "s",
		       cli_safe(last->seen), cli_safe(last->kind));
	}
	chs_archive_events_free(l);
}

/* After the admin changed the roster: publish it now if the archive
 * answers; the change is saved either way. */
static int publish(cli_ctx *ctx, chs_store *s, const char *done)
{
	chs_sync_report rep;
	int err = run_sync(ctx, s, &rep);

	chs_sync_report_dispose(&rep);
	if (err < 0)
		fprintf(stderr, "chartsync: %s; it reaches the archive with the next sync (%s)\n",
			done, cli_safe(chs_error_last()));
	else
		printf("%s; the archive has it\n", done);
	return CLI_OK;
}

/* ---- remote ---- */

static const char remote_help[] =
	"usage: chartsync remote [URL]\n"
	"\n"
	"Show or set the archive this store syncs with: a folder path, or a\n"
	"file://, git://, ssh:// (or user@host:path) or https:// address.\n"
	"A relative folder path is made absolute.\n"
	"\n"
	"https: a server with accounts (Gitea, GitLab) takes its login in the\n"
	"address, https://USER:TOKEN@host/path (shown here as USER:***; 'chartsync\n"
	"config remote.url' prints it whole); the certificate must come from\n"
	"an authority this computer trusts, or from the one named by\n"
	"$SSL_CERT_FILE (a PEM file) or $SSL_CERT_DIR (a folder of them).\n";

/* A local folder given relative to here, made absolute: the store is
 * used later from anywhere. */
char *cli_absolute_url(const char *url)
{
	const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
	char cwd[4096];
	chs_buf b;

	chs_buf_init(&b, 0);
	if (url[0] == '/' || strstr(url, "://") || (colon && (!slash || colon < slash)) ||
	    !getcwd(cwd, sizeof(cwd)))
		chs_buf_printf(&b, "%s", url);
	else
		chs_buf_printf(&b, "%s/%s", cwd, url);
	return chs_buf_detach(&b);
}

int cmd_remote(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, OPT_END };
	chs_store *s = NULL;
	char *url = NULL;
	int i, err;

	ctx->help_text = remote_help;
	if ((i = cli_parse(ctx, argc, argv, opts, NULL, NULL)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (argc - i > 1)
		return cli_usage(ctx, "give one URL");
	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	if (i < argc) {
		if (!(url = cli_absolute_url(argv[i])))
			err = chs_error_set(CHS_ENOMEM, "out of memory");
		else
			err = chs_remote_set(s, url);
	} else if ((err = chs_config_get(s, "remote.url", &url)) == 0) {
		/* a screen others may see (a technician's, a shared desk):
		 * the token in an https address stays hidden; 'chartsync
		 * config remote.url' prints it whole for whoever needs it */
		char shown[1024];

		puts(*url ? cli_safe(chs_git_shown_address(url, shown, sizeof(shown)))
			  : "(no archive set)");
	}
	free(url);
	chs_store_free(s);
	return err < 0 ? cli_fail(err) : CLI_OK;
}

/* ---- org ---- */

static const char org_help[] =
	"usage: chartsync org init --archive URL [--site NAME]\n"
	"\n"
	"Run once, by the organisation's admin, in the admin's own store: make\n"
	"the organisation's admin key and data keys and a roster signed by it,\n"
	"with this store as its first device (an archivist at site NAME,\n"
	"default the terminal name), and send the roster to the archive. Make\n"
	"the archive first with 'chartsync archive init PATH'.\n"
	"\n"
	"       chartsync org recovery-kit [--shares N --threshold K] [--out DIR]\n"
	"       chartsync org recover KIT... [--archive URL] [--site NAME]\n"
	"\n"
	"The organisation's recovery kit, and a new admin store made from it\n"
	"when the admin's store is lost: see 'chartsync org recovery-kit --help'\n"
	"and 'chartsync org recover --help'.\n";

typedef struct org_args {
	const char *archive, *site;
} org_args;

static int org_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	org_args *a = payload;

	if (c == 'a')
		a->archive = arg;
	else if (c == 's')
		a->site = arg;
	else
		return -1;
	return c == 's' ? cli_opt_valid(ctx, "--site", chs_site_check(arg)) : 0;
}

int cmd_org(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "archive", required_argument, NULL, 'a' },
		{ "site", required_argument, NULL, 's' }, CLI_COMMON_OPTS, OPT_END
	};
	org_args a = { NULL, NULL };
	chs_store *s = NULL;
	char *url = NULL;
	int i, err, rc;

	/* the recovery kit's commands: tools/cmd_org.c */
	if (argc > 1 && strcmp(argv[1], "recovery-kit") == 0)
		return cmd_org_recovery_kit(ctx, argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "recover") == 0)
		return cmd_org_recover(ctx, argc - 1, argv + 1);
	ctx->help_text = org_help;
	if ((i = cli_parse(ctx, argc, argv, opts, org_opt, &a)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (i >= argc || strcmp(argv[i], "init") != 0)
		return cli_usage(ctx, "the 'org' commands are 'org init', 'org recovery-kit' and"
				 " 'org recover'");
	if (i + 1 < argc)
		return cli_usage(ctx, "unexpected argument '%s'", argv[i + 1]);
	if (!a.archive)
		return cli_usage(ctx, "which archive? give --archive URL");
	if (!(url = cli_absolute_url(a.archive)))
		return cli_failf("out of memory");
	if ((err = cli_open(ctx, &s)) < 0 || (err = chs_org_init(s, url, a.site)) < 0)
		rc = cli_fail(err);
	else
		rc = publish(ctx, s, "organisation created");
	free(url);
	chs_store_free(s);
	return rc;
}

/* ---- device ---- */

static const char device_help[] =
	"usage: chartsync device request [--json]\n"
	"       chartsync device enroll REQUEST --site NAME --role clinic|billing|archivist\n"
	"                               [--admin]\n"
	"       chartsync device revoke ID\n"
	"       chartsync device list [--json]\n"
	"       chartsync device allowed-signers\n"
	"\n"
	"A new store prints its enrollment request (one line) with 'device\n"
	"request'; the admin enrolls it with 'device enroll' (REQUEST is that\n"
	"line, or a file holding it, or - for standard input) at a site, with\n"
	"a role: a clinic and an archivist read everything, a billing office\n"
	"billing records only. 'device revoke' (admin) syncs, then stops a\n"
	"device: its batches after the last one the admin's store received\n"
	"are refused, and what is written afterwards uses new keys it never\n"
	"gets.\n"
	"--admin (admins only) makes the new device an admin device: it holds\n"
	"the organisation's admin key too, after its first sync, so a lost\n"
	"admin laptop is not an emergency. Only a clinic or an archivist may be\n"
	"one. Revoking an admin device also gives the organisation a new admin\n"
	"key (recovery kits made before then no longer recover it).\n"
	"'list' marks admin devices.\n"
	"'allowed-signers' prints the file for git log --show-signature.\n";

typedef struct device_args {
	const char *site, *role;
	int admin;
} device_args;

static int device_opt(cli_ctx *ctx, int c, const char *arg, void *payload)
{
	device_args *a = payload;
	chs_role role;

	if (c == 'A') {
		a->admin = 1;
		return 0;
	}
	if (c == 's')
		a->site = arg;
	else if (c == 'r')
		a->role = arg;
	else
		return -1;
	return c == 's' ? cli_opt_valid(ctx, "--site", chs_site_check(arg))
			: cli_opt_valid(ctx, "--role", chs_role_parse(arg, &role));
}

static int device_request(cli_ctx *ctx, chs_store *s)
{
	char *line = NULL;
	int err;

	if ((err = chs_device_request(s, &line)) < 0)
		return cli_fail(err);
	if (ctx->json) {
		json_t *o = json_pack("{s:s, s:s}", "device", chs_store_device_id(s),
				      "request", line);
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		json_decref(o);
		if (text)
			puts(text);
		free(text);
	} else {
		puts(line);
	}
	free(line);
	return CLI_OK;
}

/* The request as given: the line itself, a file holding it, or -. */
static int read_request(const char *arg, char **out)
{
	FILE *f = strcmp(arg, "-") == 0 ? stdin : strncmp(arg, "ssh-", 4) ? fopen(arg, "r") : NULL;
	char line[2048];

	*out = NULL;
	if (!f && strncmp(arg, "ssh-", 4) != 0)
		return chs_error_set(CHS_EINVALID, "cannot read the enrollment request file"
				     " '%s': %s (give the file, or the line itself, which starts"
				     " with ssh-ed25519)", arg, strerror(errno));
	if (!f)
		*out = chs_strdup(arg);
	else
		*out = fgets(line, sizeof(line), f) ? chs_strdup(line) : chs_strdup("");
	if (f && f != stdin)
		fclose(f);
	return *out ? 0 : chs_error_set(CHS_ENOMEM, "out of memory");
}

static int device_enroll(cli_ctx *ctx, chs_store *s, const char *arg, const device_args *a)
{
	char device[33], done[96];
	char *req = NULL;
	int err;

	if ((err = read_request(arg, &req)) < 0)
		return cli_fail(err);
	err = chs_device_enroll_admin(s, req, a->site, a->role, a->admin, device);
	free(req);
	if (err < 0)
		return cli_fail(err);
	snprintf(done, sizeof(done), "enrolled device %s%s", device,
		 a->admin ? " as an admin device" : "");
	return publish(ctx, s, done);
}

/* 1 when roster `r` makes `device` (a whole id) an admin device. */
static int is_admin_on(const chs_device_roster *r, const char *device)
{
	size_t i;

	for (i = 0; i < chs_device_roster_count(r); i++) {
		const chs_device_info *d = chs_device_roster_get(r, i);

		if (strcmp(d->device, device) == 0)
			return d->admin;
	}
	return 0;
}

/* A sync before a revocation, when the store has an archive. */
static int sync_before_revoke(cli_ctx *ctx, chs_store *s)
{
	chs_sync_report rep;
	char *url = NULL;
	int err;

	if ((err = chs_config_get(s, "remote.url", &url)) == 0 && url && *url) {
		err = run_sync(ctx, s, &rep);
		chs_sync_report_dispose(&rep);
	}
	free(url);
	return err;
}

static int device_revoke(cli_ctx *ctx, chs_store *s, const char *id)
{
	chs_device_roster *before = NULL;
	char device[33], done[128];
	uint64_t after;
	int err;

	/* the revocation keeps the device's batches up to the last this store
	 * has: take in first what the archive received from it meanwhile, or
	 * the work it delivered before it was lost would be refused everywhere */
	if (sync_before_revoke(ctx, s) < 0)
		fprintf(stderr, "chartsync: could not sync before revoking (%s): the batches the"
			" archive received from that device since this store's last sync will be"
			" refused everywhere\n", cli_safe(chs_error_last()));
	/* the roster before: revoking takes the device's admin mark */
	if (chs_device_list(&before, s) < 0)
		chs_error_clear(); /* no roster: the revoke says why */
	if ((err = chs_device_revoke(s, id, device, &after)) < 0) {
		chs_device_roster_free(before);
		return cli_fail(err);
	}
	snprintf(done, sizeof(done), "revoked device %s after its batch %llu", device,
		 (unsigned long long)after);
	if (is_admin_on(before, device))
		printf("device %s was an admin device: the organisation has a new admin key,"
		       " sealed to the remaining admin devices. Recovery kits made before now"
		       " no longer recover the organisation: make a new one"
		       " ('chartsync org recovery-kit')\n", device);
	chs_device_roster_free(before);
	return publish(ctx, s, done);
}

static void print_devices(const chs_device_roster *r)
{
	size_t i;

	for (i = 0; i < chs_device_roster_count(r); i++) {
		const chs_device_info *d = chs_device_roster_get(r, i);

		printf("%s  %-9s %s%s", cli_safe(d->device), cli_safe(d->role), cli_safe(d->site),
		       d->self ? "  (this store)" : "");
		if (d->admin)
			printf("  admin");
		if (d->revoked)
			printf("  revoked after batch %lld", (long long)d->revoked_after);
		putchar('\n');
	}
}

static int device_list(cli_ctx *ctx, chs_store *s)
{
	chs_device_roster *r = NULL;
	char *text = NULL;
	int err;

	if ((err = chs_device_list(&r, s)) < 0)
		return cli_fail(err);
	if (ctx->json && (err = chs_json_device_roster(&text, r)) == 0)
		puts(text);
	else if (!ctx->json)
		print_devices(r);
	free(text);
	chs_device_roster_free(r);
	return err < 0 ? cli_fail(err) : CLI_OK;
}

static int device_signers(chs_store *s)
{
	char *text = NULL;
	int err;

	if ((err = chs_device_allowed_signers(s, &text)) < 0)
		return cli_fail(err);
	fputs(text, stdout);
	free(text);
	return CLI_OK;
}

static int device_run(cli_ctx *ctx, const char *verb, char **args, const device_args *a)
{
	chs_store *s = NULL;
	int err, rc;

	if ((err = cli_open(ctx, &s)) < 0)
		return cli_fail(err);
	if (strcmp(verb, "request") == 0)
		rc = device_request(ctx, s);
	else if (strcmp(verb, "enroll") == 0)
		rc = device_enroll(ctx, s, args[0], a);
	else if (strcmp(verb, "revoke") == 0)
		rc = device_revoke(ctx, s, args[0]);
	else if (strcmp(verb, "list") == 0)
		rc = device_list(ctx, s);
	else
		rc = device_signers(s);
	chs_store_free(s);
	return rc;
}

/* Each verb its own table, holding exactly what its usage line names:
 * 'device list --site X' is an unknown option, which cli_parse() says
 * goes with 'device enroll'. */
static const struct option device_bare_opts[] = { CLI_COMMON_OPTS, OPT_END };
static const struct option device_json_opts[] = { OPT_JSON, CLI_COMMON_OPTS, OPT_END };
static const struct option device_enroll_opts[] = {
	{ "site", required_argument, NULL, 's' },
	{ "role", required_argument, NULL, 'r' },
	{ "admin", no_argument, NULL, 'A' }, CLI_COMMON_OPTS, OPT_END
};
static const cli_verb device_verbs[] = {
	{ "request", device_json_opts }, { "enroll", device_enroll_opts },
	{ "revoke", device_bare_opts }, { "list", device_json_opts },
	{ "allowed-signers", device_bare_opts },
};

int cmd_device(cli_ctx *ctx, int argc, char **argv)
{
	const cli_verb *v = cli_verb_find(ctx, argc, argv, device_verbs,
					  sizeof(device_verbs) / sizeof(device_verbs[0]), NULL);
	device_args a = { NULL, NULL, 0 };
	int i, enroll = v && v->opts == device_enroll_opts;
	int nargs = v && (enroll || strcmp(v->name, "revoke") == 0) ? 1 : 0;

	ctx->help_text = device_help;
	if ((i = cli_parse(ctx, argc, argv, v ? v->opts : device_bare_opts, device_opt, &a)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (i >= argc)
		return cli_usage(ctx, "which? request, enroll, revoke, list or allowed-signers");
	if (!v)
		return cli_usage(ctx, "unknown 'device' command '%s'", argv[i]);
	if (argc - i - 1 != nargs)
		return cli_usage(ctx, "wrong arguments for 'device %s'", v->name);
	if (enroll && (!a.site || !a.role))
		return cli_usage(ctx, "'device enroll' needs --site NAME and --role ROLE");
	return device_run(ctx, v->name, argv + i + 1, &a);
}
