/*
 * Every SQL statement chartsync runs, asked for its query plan: a query
 * that reads a whole table which grows with the store (records, changes,
 * batches, ...) is a defect unless it must read everything (check,
 * verify's state hash, an export, a whole-store report), and then it is
 * in the allow-list below with the reason.
 *
 * The statements are not listed by hand (a list would go stale with the
 * first new query): they are recorded while a wide workload runs through
 * the real commands. tests/support/sqltrace.c registers an SQLite
 * auto-extension that traces every statement of every connection of a
 * process; the CLI runs as chartsync_traced, the real binary's sources
 * plus a constructor that starts that trace (tests/CMakeLists.txt), and
 * the organisation the test builds in process is traced too. The
 * workload: four devices of one organisation over git daemon and the
 * archive's hook (an archivist, two clinics, a billing office); add, set,
 * rm, show, ls, log, open, fields, import, attach and cat, confirm, a
 * conflict made at two clinics and settled by review resolve, fees,
 * code lists and the coding queue, every report, both exports, merge,
 * distinct and unmerge of patients, users, settings, status, check,
 * verify, backup, restore and the restored store's first sync (its
 * batches taken back from the archive), a device revoked, and syncs in
 * every direction; the service (a sync asked through its control
 * socket, a scan taken from its hot folder) and the desk (its pages read
 * through curl), each a traced process of its own. The sync through a
 * local-path archive runs the same statements as through git daemon
 * (only the transport differs), so it is not run again here.
 *
 * Then the archivist's store (which holds everything) is opened and each
 * distinct statement is planned with EXPLAIN QUERY PLAN, parameters
 * unbound: SQLite plans a statement once at prepare time, without the
 * values (no STAT4 here), so the plan seen is the plan the product runs.
 * No ANALYZE: the product never runs it, so the planner works from the
 * schema alone, as in the product.
 *
 * What fails:
 * - "SCAN T" of a growing table T (or of an alias of it), or a full scan
 *   of one of its indexes, or an automatic index built on it (which
 *   reads it whole first), when the statement is not allowed below.
 *   Scanning a partial index that holds only a bounded few rows (the
 *   records under review, the removed ones, the tombstones, the fee
 *   lines, the unsent batches) is what those indexes are for: fine.
 * - "USE TEMP B-TREE FOR ORDER BY" is fine: it sorts the rows the query
 *   already found by index (one patient's records, the review queue);
 *   a scan would show as SCAN first.
 * - An allow-list entry that matches no statement recorded (stale).
 * - A workload that recorded fewer statements than it must, or none of
 *   the statements of a path it runs (the trace broke silently).
 * - An index (not a UNIQUE or PRIMARY KEY constraint's) that no recorded
 *   statement's plan uses: it costs every write of its table for
 *   nothing. It prints every index with the number of statements whose
 *   plans use it.
 * A SEARCH through a partial index of one type (records_visit: every
 * visit, for the coding queue) reads that type whole; it is not flagged,
 * since the query asks for that type and reads no other record.
 */
#include "client/chartsync.h"
#include "support/cli.h"
#include "support/daemon.h"
#include "support/gitserver.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/sqltrace.h"
#include "support/testutil.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* What may read a whole table, and why                                 */

/* The tables that grow with the store's age or size. The others hold a
 * row per user, setting, device or key (users, settings, meta, device,
 * org, org_secret, progress, blob_progress). */
static const char *const growing[] = {
	"records", "changes", "batches", "blobs", "blob_chunks",
	"code_lists", "rosters",
};
/* Not growing: blob_outbox holds the attachments not yet all in the
 * archive, and its rows are deleted once sent (blobsync.c), so reading
 * it whole reads what is left to send. */

/* Partial indexes whose rows stay few whatever the store's size: a scan
 * of one reads only what it indexes. */
static const char *const bounded_index[] = {
	"records_review",    /* records under review: a person settles them */
	"records_deleted",   /* removed records (status counts the live ones) */
	"records_merged",    /* tombstones of merged charts */
	"records_fee",       /* a site's fee schedule lines */
	"records_link",      /* verdicts on pairs of patients */
	"records_merge_act", /* acts of merging */
	"batches_unsent",    /* this store's batches not yet in the archive */
	"records_archive_event", /* the archive's tampering the devices saw */
	"rosters_unpublished", /* the admin's rosters not yet in git */
};

/* A statement allowed to read a whole growing table: a substring that
 * names it (matched against the recorded text), and why it must. */
typedef struct allowed {
	const char *sql;
	const char *why;
	int seen;
} allowed;

static allowed allow[] = {
	/* reads of the whole store by what they are */
	{ "SELECT id, hash, state FROM records ORDER BY id",
	  "verify: the state hash is over every record", 0 },
	{ "SELECT count(*) FROM records",
	  "status: how many records the store holds (SQLite counts the smallest index)", 0 },
	{ "SELECT count(*) FROM changes",
	  "status: how many changes the store holds (SQLite counts the smallest index)", 0 },
	{ "SELECT id, type, state FROM records WHERE NOT deleted ORDER BY rowid",
	  "export fhir --all: every live record", 0 },
	{ "FROM records WHERE NOT deleted AND merged_into IS NULL AND (?1 IS NULL OR type = ?1)",
	  "ls [TYPE]: lists the store (no index on type: one would cost every write)", 0 },
	{ "type NOT IN ('confirmation', 'audit', 'fee') AND lower(hex(id))",
	  "ls --unconfirmed: every live record against every confirmation", 0 },
	{ "WHERE type = 'patient' AND NOT deleted AND merged_into IS NULL) AS p ORDER BY id",
	  "report duplicates: every live patient, paired within blocks", 0 },
	{ "SELECT id, type, review, heads, state FROM records WHERE NOT deleted",
	  "report consistency: every live record is checked", 0 },
	{ "SELECT id, body FROM changes",
	  "report consistency: past LOOKUPS_MAX heads, one pass over changes beats a lookup each", 0 },
	{ "FROM records r JOIN changes c ON c.record = r.id WHERE r.type = 'audit'",
	  "report access: every access event (filtered by patient, user and dates as read)", 0 },
	/* a scan in rowid order that stops at its first row */
	{ "SELECT body, signature, oid FROM rosters ORDER BY seq DESC LIMIT 1",
	  "the newest roster: the last row, read backwards, LIMIT 1", 0 },
	{ "SELECT oid, seq FROM rosters WHERE oid IS NOT NULL ORDER BY seq DESC LIMIT 1",
	  "the newest roster in git: every roster but the admin's unpublished newest has one", 0 },
	{ NULL, NULL, 0 },
};

/* ------------------------------------------------------------------ */
/* The workload                                                         */

#define NDEV 4
/* ann, bob, cy, dee; then bob again, at his store restored from a backup */
static const tu_member members[NDEV + 1] = {
	{ "ann", "archive-1", "central", "archivist" },
	{ "bob", "clinic-a-1", "Clinic A", "clinic" },
	{ "cy", "clinic-b-1", "Clinic B", "clinic" },
	{ "dee", "billing-1", "Billing office", "billing" },
	{ "bob", "clinic-a-1", "Clinic A", "clinic" },
};
enum { ANN, BOB, CY, DEE, RESTORED };
static char *dirs[NDEV + 1];
static char *top, *trace_path, *trace_env;
static char dee_device[33];
static tu_hooked_archive net;

static void vrun(tu_result *r, int dev, va_list ap)
{
	const char *argv[40], *env[] = { "CHARTSYNC_PASSPHRASE=pw", trace_env, "PAGER=cat",
					 "CHARTSYNC_NEW_PASSPHRASE=carl pw", NULL };
	int n = 0;

	argv[n++] = CHARTSYNC_TRACED_BIN;
	argv[n++] = "--store";
	argv[n++] = dirs[dev];
	argv[n++] = "--user";
	argv[n++] = members[dev].user;
	while ((argv[n] = va_arg(ap, const char *)) != NULL && n < 38)
		n++;
	argv[n] = NULL;
	if (getenv("CHARTSYNC_PLANS_VERBOSE")) {
		for (int k = 3; argv[k]; k++)
			fprintf(stderr, "%s ", argv[k]);
		fprintf(stderr, "\n");
	}
	tu_cli_runv(r, env, argv);
}

/* The command as DEV's user, which must succeed; its stdout's first line
 * (an id, for `add`) in a static buffer. */
static const char *ok(int dev, ...)
{
	static char line[256];
	tu_result r;
	va_list ap;

	va_start(ap, dev);
	vrun(&r, dev, ap);
	va_end(ap);
	tu_ck_status(r, 0);
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(r.out, "\n"), r.out);
	return line;
}

static char *write_file(const char *name, const char *text)
{
	char *p = tu_path(top, name);

	ck_assert_int_eq(tu_write(p, text, strlen(text)), 0);
	return p;
}

/* `n` patients with a visit each, ids given, in one import. */
static char *import_file(const char *name, int first, int n)
{
	size_t cap = (size_t)n * 400 + 1, len = 0;
	char *text = malloc(cap), *p;
	int k;

	ck_assert_ptr_nonnull(text);
	for (k = first; k < first + n; k++)
		len += (size_t)snprintf(text + len, cap - len,
					"{\"type\":\"patient\",\"id\":\"%032x\",\"fields\":{\"name\":"
					"\"Person %d\",\"mrn\":\"I-%d\",\"dob\":\"%d-%02d-%02d\","
					"\"phone\":\"555-%04d\"}}\n"
					"{\"type\":\"encounter\",\"patient\":\"%032x\",\"fields\":"
					"{\"date\":\"2024-03-15\",\"reason\":\"cough %d\"}}\n",
					k + 0x1000, k, k, 1900 + k % 100, 1 + k % 12, 1 + k % 28, k,
					k + 0x1000, k);
	p = write_file(name, text);
	free(text);
	return p;
}

static void sync_all(void)
{
	int d;

	for (d = 0; d < NDEV; d++)
		ok(d, "sync", NULL);
}

/* The service at bob's store (the traced binary): a sync asked through
 * the control socket, and a scanned page taken from its hot folder. */
static void service_part(void)
{
	const char *const env[] = { "CHARTSYNC_PASSPHRASE=pw", trace_env, NULL };
	char *scans = tu_path(top, "scans"), *done, *page;
	tu_daemon d;
	int k;

	ck_assert_int_eq(mkdir(scans, 0700), 0);
	done = tu_path(scans, "done");
	page = tu_path(scans, "A-1002_intake.pdf");
	ok(BOB, "config", "scan.folder", scans, NULL);
	ok(BOB, "config", "scan.settle", "1", NULL);
	tu_daemon_start(&d, CHARTSYNC_TRACED_BIN, dirs[BOB], "bob", top, env, 30);
	ck_assert_int_eq(tu_daemon_call(&d, "sync", 60000, NULL), 0);
	ck_assert_int_eq(tu_write(page, "%PDF-1.4 an intake form\n", 24), 0);
	for (k = 0; k < 300 && tu_count_entries(done) < 1; k++)
		tu_sleep_ms(50);
	ck_assert_msg(tu_count_entries(done) == 1, "the service took no scan: %s",
		      tu_daemon_log(&d));
	ck_assert_int_eq(tu_daemon_call(&d, "status", 10000, NULL), 0);
	tu_daemon_stop(&d, SIGTERM, 30);
	tu_daemon_free(&d);
	ok(BOB, "config", "scan.folder", "", NULL);
	free(scans);
	free(done);
	free(page);
}

/* The archivists' desk at ann's store (the traced binary), each page
 * read once through curl: the review queue, a record's history, the
 * reports. */
static void desk_part(const char *pat)
{
	char *out = tu_path(top, "desk.out"), *jar = tu_path(top, "desk.jar"), url[128] = "";
	const char *pages[] = { "review", "record/", "reports/access", "reports/consistency",
				"reports/coding", "reports/sync" };
	size_t i;
	pid_t pid;
	int k;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 1);
		setenv("CHARTSYNC_PASSPHRASE", "pw", 1);
		setenv(TU_SQLTRACE_ENV, trace_path, 1);
		execl(CHARTSYNC_TRACED_BIN, CHARTSYNC_TRACED_BIN, "--store", dirs[ANN], "--user",
		      "ann", "desk", "--listen", "127.0.0.1:0", (char *)NULL);
		_exit(127);
	}
	/* it prints its address once listening: http://127.0.0.1:PORT/ */
	for (k = 0; k < 200 && !url[0]; k++) {
		size_t len = 0;
		unsigned char *text = tu_read(out, &len);
		char *t = text ? realloc(text, len + 1) : NULL, *p;

		if (t) {
			t[len] = '\0';
			if ((p = strstr(t, "http://127.0.0.1:")) != NULL && p[17 + strspn(p + 17,
						"0123456789")] == '/')
				snprintf(url, sizeof(url), "%.*s",
					 (int)(17 + strspn(p + 17, "0123456789")), p);
			free(t);
		} else {
			free(text);
		}
		if (!url[0])
			tu_sleep_ms(50);
	}
	ck_assert_msg(url[0], "the desk printed no address");
	ck_assert_int_eq(tu_sh("curl -sf -o /dev/null -c '%s' -b '%s' -d user=ann -d passphrase=pw"
			       " '%s/signin' -w '%%{http_code}' | grep -q 303", jar, jar, url), 0);
	for (i = 0; i < sizeof(pages) / sizeof(*pages); i++)
		ck_assert_msg(tu_sh("curl -sf -o /dev/null -c '%s' -b '%s' '%s/%s%s'", jar, jar, url,
				    pages[i], strcmp(pages[i], "record/") ? "" : pat) == 0,
			      "the desk's page /%s", pages[i]);
	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &k, 0), pid);
	free(out);
	free(jar);
}

static void workload(void)
{
	char pat[33], pat2[33], dup[33], enc[33], med[33], note[33], att[33];
	char *scan, *imp, *fees, *codes, *out, *backups;

	/* a clinic's day: patients, a visit, a medication, a note */
	snprintf(pat, sizeof(pat), "%s", ok(BOB, "add", "patient", "name=Ada Lovelace",
					    "mrn=A-1001", "dob=1955-12-10", "phone=555-0100",
					    NULL));
	snprintf(pat2, sizeof(pat2), "%s", ok(BOB, "add", "patient", "name=Grace Hopper",
					     "mrn=A-1002", "dob=1906-12-09", NULL));
	snprintf(dup, sizeof(dup), "%s", ok(CY, "add", "patient", "name=Ada  LOVELACE",
					    "mrn=B-77", "dob=1955-12-10", "phone=555-0100",
					    NULL));
	snprintf(enc, sizeof(enc), "%s", ok(BOB, "add", "encounter", "--patient", pat,
					    "date=2024-03-15", "reason=cough", NULL));
	snprintf(med, sizeof(med), "%s", ok(BOB, "add", "medication", "--patient", pat,
					    "name=lisinopril", "dose=10", "unit=mg",
					    "route=oral", "frequency=daily", NULL));
	snprintf(note, sizeof(note), "%s", ok(BOB, "add", "note", "--patient", pat,
					     "text=to be removed", NULL));
	ok(BOB, "set", pat, "phone=555-0101", NULL);
	ok(BOB, "rm", note, NULL);
	ok(BOB, "show", pat, NULL);
	ok(BOB, "show", pat, "--json", NULL);
	ok(BOB, "ls", NULL);
	ok(BOB, "ls", "patient", NULL);
	ok(BOB, "ls", "--patient", pat, NULL);
	ok(BOB, "ls", "--unconfirmed", NULL);
	ok(BOB, "log", pat, NULL);
	ok(BOB, "open", pat, NULL);
	ok(BOB, "fields", NULL);
	imp = import_file("import.jsonl", 0, 150);
	ok(BOB, "import", imp, NULL);
	scan = write_file("scan.pdf", "%PDF-1.4 a scanned page\n");
	snprintf(att, sizeof(att), "%s", ok(BOB, "attach", pat, scan, "--title", "referral",
					    NULL));
	ok(BOB, "cat", att, NULL);

	/* everyone syncs; a colleague at the other clinic confirms */
	sync_all();
	ok(CY, "confirm", med, "--note", "checked against the paper chart", NULL);
	ok(CY, "ls", "--unconfirmed", "--patient", pat, NULL);

	/* a conflict made at two clinics, settled at one */
	ok(BOB, "set", pat, "phone=555-0111", NULL);
	ok(CY, "set", pat, "phone=555-0199", NULL);
	ok(BOB, "sync", NULL);
	ok(CY, "sync", NULL);
	ok(BOB, "sync", NULL);
	ok(BOB, "review", NULL);
	ok(BOB, "review", "show", pat, NULL);
	ok(BOB, "review", "resolve", pat, "phone=555-0142", NULL);

	/* coding: fee schedule, code lists, the queue */
	fees = write_file("fees.csv", "code,description,fee,effective\n"
				      "99213,\"Office visit, established patient\",125.00,2024-01-01\n");
	codes = write_file("icd.txt", "J209    Acute bronchitis, unspecified\n");
	ok(BOB, "fees", "import", fees, NULL);
	ok(BOB, "codes", "import", codes, "--system", "icd10cm", NULL);
	ok(BOB, "code", "send", enc, NULL);
	ok(BOB, "code", "queue", NULL);
	ok(BOB, "code", "assign", enc, "--cpt", "99213", "--icd", "J20.9", NULL);
	ok(BOB, "code", "done", enc, NULL);
	sync_all();
	ok(DEE, "code", "queue", NULL);
	ok(DEE, "export", "claims", "--since", "2024-01-01", NULL);

	/* the archivist: reports, exports, duplicates merged and unmerged */
	ok(ANN, "report", "access", NULL);
	ok(ANN, "report", "access", "--patient", pat, NULL);
	ok(ANN, "report", "consistency", NULL);
	ok(ANN, "report", "coding", NULL);
	ok(ANN, "report", "duplicates", NULL);
	ok(ANN, "report", "archive", NULL);
	ok(ANN, "export", "fhir", pat, NULL);
	out = tu_path(top, "all.json");
	ok(ANN, "export", "fhir", "--all", "-o", out, NULL);
	ok(ANN, "patient", "distinct", pat, pat2, NULL);
	ok(ANN, "patient", "merge", pat, dup, NULL);
	sync_all();
	ok(BOB, "show", dup, NULL);
	ok(BOB, "add", "note", "--patient", dup, "text=after the merge", NULL);
	ok(ANN, "patient", "unmerge", pat, dup, NULL);
	sync_all();

	/* the service and the desk, which run the library's statements in
	 * processes of their own */
	service_part();
	desk_part(pat);

	/* the store's housekeeping */
	ok(BOB, "status", NULL);
	ok(BOB, "status", "--json", NULL);
	ok(BOB, "verify", NULL);
	ok(BOB, "check", NULL);
	ok(BOB, "config", "--list", NULL);
	ok(BOB, "config", "sync.interval", "2h", NULL);
	ok(BOB, "user", "add", "carl", NULL);
	ok(BOB, "user", "ls", NULL);
	ok(BOB, "user", "rm", "carl", NULL);
	ok(ANN, "device", "list", NULL);
	backups = tu_path(top, "backups");
	ok(BOB, "backup", backups, "--verify", NULL);
	/* bob's store lost and restored from the backup, behind its own
	 * history: its first sync takes its device's batches back */
	ok(BOB, "add", "note", "--patient", pat, "text=after the backup", NULL);
	ok(BOB, "sync", NULL);
	{
		const char *argv[] = { CHARTSYNC_TRACED_BIN, "restore", backups, dirs[RESTORED],
				       "--user", "bob", NULL };
		const char *env[] = { "CHARTSYNC_PASSPHRASE=pw", trace_env, NULL };
		tu_result r;

		tu_cli_runv(&r, env, argv);
		tu_ck_status(r, 0);
	}
	ok(RESTORED, "sync", NULL);
	ok(RESTORED, "verify", NULL);
	/* the billing office's device revoked (the admin syncs, then edits
	 * the roster, which the next sync publishes) */
	ok(ANN, "device", "revoke", dee_device, NULL);
	ok(ANN, "sync", NULL);
	ok(ANN, "verify", NULL);
	ok(ANN, "check", NULL);
	ok(ANN, "status", NULL);
	free(imp);
	free(scan);
	free(fees);
	free(codes);
	free(out);
	free(backups);
}

/* ------------------------------------------------------------------ */
/* The plans                                                            */

/* Whether `name` (len bytes) is one of the `n` names of `list`. */
static int listed(const char *const *list, size_t n, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(list[i]) == len && strncmp(list[i], name, len) == 0)
			return 1;
	return 0;
}

static int is_growing(const char *name, size_t len)
{
	return listed(growing, sizeof(growing) / sizeof(*growing), name, len);
}

static int word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Whether `name` (len bytes), as a plan names a table, is a growing
 * table or an alias the statement gives one ("FROM records r", "JOIN
 * changes AS c"). */
static int names_growing(const char *sql, const char *name, size_t len)
{
	const char *p;
	size_t i;

	if (is_growing(name, len))
		return 1;
	for (i = 0; i < sizeof(growing) / sizeof(*growing); i++) {
		size_t tl = strlen(growing[i]);

		for (p = sql; (p = strstr(p, growing[i])) != NULL; p += tl) {
			const char *a = p + tl;

			if ((p > sql && word_char(p[-1])) || word_char(*a))
				continue;
			while (*a == ' ')
				a++;
			if (strncasecmp(a, "AS ", 3) == 0)
				for (a += 3; *a == ' '; a++)
					;
			if (strncmp(a, name, len) == 0 && !word_char(a[len]))
				return 1;
		}
	}
	return 0;
}

static int is_bounded_index(const char *name, size_t len)
{
	return listed(bounded_index, sizeof(bounded_index) / sizeof(*bounded_index), name, len);
}

/* One line of a plan that reads a growing table whole: "SCAN t",
 * "SCAN t USING [COVERING] INDEX i" of an index that is not bounded,
 * or an automatic index on t. */
static int whole_table(const char *sql, const char *detail)
{
	const char *name, *using;
	size_t len;

	if (strstr(detail, "AUTOMATIC")) {
		/* "SEARCH t USING AUTOMATIC ..." or "BLOOM FILTER ON t" */
		name = strchr(detail, ' ');
		if (!name)
			return 0;
		name++;
		len = strcspn(name, " ");
		return names_growing(sql, name, len);
	}
	if (strncmp(detail, "SCAN ", 5) != 0)
		return 0;
	name = detail + 5;
	len = strcspn(name, " ");
	if (!names_growing(sql, name, len))
		return 0;
	if ((using = strstr(name, " INDEX ")) != NULL) {
		using += 7;
		return !is_bounded_index(using, strcspn(using, " "));
	}
	return 1;
}

/* A statement worth planning: a query or a write that finds rows. */
static int plannable(const char *sql)
{
	static const char *const kinds[] = { "SELECT", "INSERT", "UPDATE", "DELETE",
					     "REPLACE", "WITH" };
	size_t i;

	while (*sql == ' ' || *sql == '\t')
		sql++;
	for (i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
		if (strncasecmp(sql, kinds[i], strlen(kinds[i])) == 0)
			return 1;
	return 0;
}

/* Whether a plan reads through index `name` because it needs that index:
 * a SEARCH in it, or a scan of a bounded partial index (reading what it
 * holds is its purpose). A full scan of another index does not count:
 * count(*) or an ORDER BY would scan any index of the table. */
static int uses_index(const char *plan, const char *name)
{
	size_t nl = strlen(name);
	const char *line = plan, *p, *end;

	while (*line) {
		while (*line == ' ' || *line == ';')
			line++;
		end = line + strcspn(line, ";");
		for (p = line; (p = strstr(p, name)) != NULL && p < end; p += nl)
			if (p - line >= 6 && strncmp(p - 6, "INDEX ", 6) == 0 &&
			    (p[nl] == '\0' || p[nl] == ' ' || p[nl] == ';') &&
			    (strncmp(line, "SEARCH ", 7) == 0 || is_bounded_index(name, nl)))
				return 1;
		line = end;
	}
	return 0;
}

typedef struct stmt {
	char *sql;
	char *plan; /* the plan's lines, "; " between */
} stmt;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct statements in the trace file, sorted. */
static char **read_trace(size_t *n)
{
	size_t len = 0, cap = 64, k = 0, i;
	unsigned char *text = tu_read(trace_path, &len);
	char **v = malloc(cap * sizeof(*v)), *line, *save = NULL;

	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(v);
	text = realloc(text, len + 1);
	ck_assert_ptr_nonnull(text);
	text[len] = '\0';
	for (line = strtok_r((char *)text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (k == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof(*v));
			ck_assert_ptr_nonnull(v);
		}
		v[k++] = strdup(line);
	}
	free(text);
	qsort(v, k, sizeof(*v), cmp_str);
	for (i = *n = 0; i < k; i++) {
		if (*n > 0 && strcmp(v[*n - 1], v[i]) == 0) {
			free(v[i]);
			continue;
		}
		v[(*n)++] = v[i];
	}
	return v;
}

static char *plan_of(sqlite3 *db, const char *sql)
{
	size_t cap = 256, len = 0;
	char *q, *plan = calloc(1, cap);
	sqlite3_stmt *st = NULL;
	int rc;

	ck_assert_ptr_nonnull(plan);
	q = malloc(strlen(sql) + 32);
	ck_assert_ptr_nonnull(q);
	sprintf(q, "EXPLAIN QUERY PLAN %s", sql);
	rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
	ck_assert_msg(rc == SQLITE_OK, "cannot plan '%s': %s", sql, sqlite3_errmsg(db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(st, 3);
		size_t dl = strlen(d);

		while (len + dl + 3 > cap) {
			cap *= 2;
			plan = realloc(plan, cap);
			ck_assert_ptr_nonnull(plan);
		}
		len += (size_t)sprintf(plan + len, "%s%s", len ? "; " : "", d);
	}
	ck_assert_int_eq(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	free(q);
	return plan;
}

/* The statements the paths of the workload must have recorded: if one is
 * missing, the trace (or the workload) broke. */
static const char *const must_see[] = {
	"INSERT INTO changes",  /* every save */
	"INSERT INTO batches",  /* every save, and apply */
	"FROM progress",        /* sync */
	"INSERT INTO blob_chunks", /* attach */
	"FROM code_lists",      /* coding */
};

#define MIN_STATEMENTS 160 /* 175 recorded when written */

START_TEST(test_plans__no_query_reads_a_growing_table_whole)
{
	size_t n = 0, i, j, planned = 0, bad = 0, unused = 0;
	char **texts;
	stmt *v;
	chs_store *s = NULL;
	sqlite3_stmt *ix;
	chs_store *st[NDEV];
	int d;

	top = tu_tempdir();
	trace_path = tu_path(top, "statements.txt");
	trace_env = malloc(strlen(trace_path) + sizeof(TU_SQLTRACE_ENV) + 1);
	ck_assert_ptr_nonnull(trace_env);
	sprintf(trace_env, "%s=%s", TU_SQLTRACE_ENV, trace_path);
	ck_assert_int_eq(tu_sqltrace_start(trace_path), 0);

	tu_hooked_archive_start(&net, CHARTSYNC_BIN);
	tu_org_new(net.top, net.url, members, NDEV, st, dirs);
	snprintf(dee_device, sizeof(dee_device), "%s", chs_store_device_id(st[DEE]));
	dirs[RESTORED] = tu_path(net.top, "bob-restored");
	for (d = 0; d < NDEV; d++)
		chs_store_free(st[d]);
	workload();

	texts = read_trace(&n);
	for (i = 0; i < sizeof(must_see) / sizeof(*must_see); i++) {
		for (j = 0; j < n && !strstr(texts[j], must_see[i]); j++)
			;
		ck_assert_msg(j < n, "no statement recorded holds '%s': the trace broke", must_see[i]);
	}
	ck_assert_msg(n >= MIN_STATEMENTS, "only %zu statements recorded (at least %d expected):"
		      " the trace or the workload broke", n, MIN_STATEMENTS);

	ck_assert_msg(chs_store_open(&s, dirs[ANN], "ann", "pw", 2) == 0, "%s", chs_error_last());
	v = calloc(n, sizeof(*v));
	ck_assert_ptr_nonnull(v);
	for (i = 0; i < n; i++) {
		int scans = 0;
		const allowed *a = NULL;
		char *line, *save = NULL, *copy;

		v[i].sql = texts[i];
		if (!plannable(texts[i]))
			continue;
		v[i].plan = plan_of(s->db, texts[i]);
		planned++;
		copy = strdup(v[i].plan);
		for (line = strtok_r(copy, ";", &save); line; line = strtok_r(NULL, ";", &save)) {
			while (*line == ' ')
				line++;
			scans += whole_table(texts[i], line);
		}
		free(copy);
		if (!scans)
			continue;
		for (j = 0; allow[j].sql; j++)
			if (strstr(texts[i], allow[j].sql)) {
				allow[j].seen++;
				a = &allow[j];
				break;
			}
		if (a)
			continue;
		fprintf(stderr, "plans: reads a growing table whole:\n  %s\n  plan: %s\n",
			texts[i], v[i].plan);
		bad++;
	}

	/* every index, and the statements that use it */
	ck_assert_int_eq(sqlite3_prepare_v2(s->db, "SELECT name, tbl_name, sql IS NULL FROM"
					    " sqlite_schema WHERE type = 'index' ORDER BY"
					    " tbl_name, name", -1, &ix, NULL), SQLITE_OK);
	fprintf(stderr, "plans: %zu statements recorded, %zu planned; indexes used:\n", n, planned);
	while (sqlite3_step(ix) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(ix, 0);
		size_t uses = 0;

		for (i = 0; i < n; i++)
			uses += v[i].plan && uses_index(v[i].plan, name);
		fprintf(stderr, "  %-28s %-12s %3zu%s\n", name,
			(const char *)sqlite3_column_text(ix, 1), uses,
			sqlite3_column_int(ix, 2) ? "  (a UNIQUE or PRIMARY KEY constraint)" : "");
		/* An index no statement reads is an entry written with every
		 * row for nothing. A constraint's index stays: it keeps a
		 * promise (one row per id) whether or not a query reads it. */
		if (!uses && !sqlite3_column_int(ix, 2)) {
			fprintf(stderr, "plans: index %s: no statement uses it\n", name);
			unused++;
		}
	}
	sqlite3_finalize(ix);
	if (getenv("CHARTSYNC_PLANS_DUMP"))
		for (i = 0; i < n; i++)
			fprintf(stderr, "SQL  %s\nPLAN %s\n", v[i].sql, v[i].plan ? v[i].plan : "-");

	for (j = 0; allow[j].sql; j++)
		ck_assert_msg(allow[j].seen, "the allow-list names '%s', which no statement"
			      " recorded holds: remove it", allow[j].sql);
	ck_assert_msg(bad == 0, "%zu statements read a growing table whole (listed above)", bad);
	ck_assert_msg(unused == 0, "%zu indexes no statement uses (listed above): each costs every"
		      " write of its table; drop it, or run the query that needs it here", unused);

	chs_store_free(s);
	for (i = 0; i < n; i++) {
		free(v[i].sql);
		free(v[i].plan);
	}
	free(v);
	free(texts);
	for (d = 0; d <= NDEV; d++) {
		free(dirs[d]);
		dirs[d] = NULL;
	}
	tu_hooked_archive_stop(&net);
	tu_rmtree(top);
	free(top);
	free(trace_path);
	free(trace_env);
}
END_TEST

static Suite *plans_suite(void)
{
	Suite *s = suite_create("client_store_plans");
	TCase *tc = tcase_create("plans");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_plans__no_query_reads_a_growing_table_whole);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(plans_suite());
}
