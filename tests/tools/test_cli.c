/*
 * tools/: the chartsync command, driven as a technician drives it. Every
 * test runs the real binary against a real store in a temporary folder.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)
#define ck_status tu_ck_status

static void setup(void)
{
	dir = tu_cli_setup("clinic pass");
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

START_TEST(test_cli__init_then_status)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "status", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "user:     alice (admin)"));
	ck_assert_ptr_nonnull(strstr(r.out, "terminal: front-desk"));
	ck_assert_ptr_nonnull(strstr(r.out, dir));
	run(&r, "status", "--json", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"user\":\"alice\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"terminal\":\"front-desk\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"device\":\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"users\":1"));
}
END_TEST

START_TEST(test_cli__wrong_passphrase_exits_2_and_says_so)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	setenv("CHARTSYNC_PASSPHRASE", "not it", 1);
	run(&r, "status", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "wrong user or passphrase for store"));
	setenv("CHARTSYNC_PASSPHRASE", "clinic pass", 1);
	run(&r, "status", "--user", "nobody", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "wrong user or passphrase for store"));
}
END_TEST

START_TEST(test_cli__passphrase_file_is_read)
{
	char *file = tu_path(dir, "../chs-pass-file");
	result r;

	ck_assert_int_eq(tu_write(file, "from a file\n", 12), 0);
	setenv("CHARTSYNC_PASSPHRASE_FILE", file, 1);
	tu_cli_init_store(CHARTSYNC_BIN);
	unsetenv("CHARTSYNC_PASSPHRASE_FILE");
	run(&r, "status", NULL); /* CHARTSYNC_PASSPHRASE is another one */
	ck_status(r, 2);
	setenv("CHARTSYNC_PASSPHRASE", "from a file", 1);
	run(&r, "status", NULL);
	ck_status(r, 0);
	setenv("CHARTSYNC_PASSPHRASE_FILE", "/nonexistent/pass", 1);
	run(&r, "status", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "cannot read the passphrase file"));
	unlink(file);
	free(file);
}
END_TEST

START_TEST(test_cli__no_passphrase_and_no_terminal)
{
	result r;

	unsetenv("CHARTSYNC_PASSPHRASE");
	run(&r, "init", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "no passphrase"));
	ck_assert_int_eq(tu_file_size(dir), tu_file_size(dir)); /* folder still there */
	ck_assert_int_eq(tu_grep_dir(dir, "", NULL, 0), 0);     /* and empty */
}
END_TEST

START_TEST(test_cli__users_add_list_remove)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	setenv("CHARTSYNC_NEW_PASSPHRASE", "bob pass", 1);
	run(&r, "user", "add", "bob", NULL);
	ck_status(r, 0);
	/* Two users now: without --user, the login name is tried. */
	run(&r, "user", "add", "carol", "--admin", NULL);
	ck_status(r, 2);
	run(&r, "user", "add", "carol", "--admin", "--user", "alice", NULL);
	ck_status(r, 0);
	run(&r, "user", "ls", "--json", "--user", "alice", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "{\"admin\":true,\"created\":"));
	ck_assert_ptr_nonnull(strstr(r.out, "\"name\":\"bob\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"name\":\"carol\""));

	/* bob signs in as himself and is not an admin */
	setenv("CHARTSYNC_PASSPHRASE", "bob pass", 1);
	setenv("CHARTSYNC_USER", "bob", 1);
	run(&r, "status", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "user:     bob\n"));
	run(&r, "user", "add", "eve", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "only an admin"));
	run(&r, "user", "rm", "alice", NULL);
	ck_status(r, 2);

	setenv("CHARTSYNC_PASSPHRASE", "clinic pass", 1);
	setenv("CHARTSYNC_USER", "alice", 1);
	run(&r, "user", "rm", "bob", NULL);
	ck_status(r, 0);
	run(&r, "user", "rm", "bob", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "no user 'bob'"));
	setenv("CHARTSYNC_PASSPHRASE", "bob pass", 1);
	run(&r, "status", "--user", "bob", NULL);
	ck_status(r, 2);
}
END_TEST

START_TEST(test_cli__last_admin_stays)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "user", "rm", "alice", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "last admin"));
}
END_TEST

START_TEST(test_cli__passwd)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	setenv("CHARTSYNC_NEW_PASSPHRASE", "second pass", 1);
	run(&r, "passwd", NULL);
	ck_status(r, 0);
	run(&r, "status", NULL);
	ck_status(r, 2);
	setenv("CHARTSYNC_PASSPHRASE", "second pass", 1);
	run(&r, "status", NULL);
	ck_status(r, 0);
}
END_TEST

START_TEST(test_cli__config)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "config", "terminal.name", NULL);
	ck_status(r, 0);
	ck_assert_str_eq(r.out, "front-desk\n");
	run(&r, "config", "terminal.name", "exam-2", NULL);
	ck_status(r, 0);
	run(&r, "config", "terminal.name", NULL);
	ck_assert_str_eq(r.out, "exam-2\n");
	run(&r, "config", "no.such.key", NULL); /* a KEY chartsync defines: usage */
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown setting 'no.such.key'"));
	run(&r, "config", "--list", "--json", NULL);
	ck_status(r, 0);
	ck_assert_str_eq(r.out, "{\"backup.dir\":\"\",\"backup.every\":\"24h\",\"backup.keep\":\"14\","
			 "\"desk.idle\":\"15\",\"remote.url\":\"\",\"scan.folder\":\"\",\"scan.keep\":\"true\","
			 "\"scan.rescan\":\"10m\",\"scan.settle\":\"3\",\"sync.after_write\":\"30\","
			 "\"sync.interval\":\"5m\",\"sync.timeout\":\"60\",\"sync.window\":\"\","
			 "\"terminal.name\":\"exam-2\"}\n");
	/* the service's settings refuse what it could not read */
	run(&r, "config", "sync.interval", "5 minutes", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "sync.interval takes a duration"));
	run(&r, "config", "sync.window", "01:00-25:00", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "like 01:00-04:00"));
	run(&r, "config", "sync.window", "22:30-04:00", NULL);
	ck_status(r, 0);
	run(&r, "config", "scan.folder", "scans", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "absolute path"));
	run(&r, "config", NULL);
	ck_status(r, 1);
}
END_TEST

START_TEST(test_cli__usage_errors_exit_1)
{
	const char *cmds[] = { "init", "status", "config", "user", "passwd", "check", "add",
			       "set", "rm", "show", "ls", "log", "import", "attach", "cat",
			       "review", "verify" };
	result r;
	size_t i;

	run(&r, NULL);
	ck_status(r, 1);
	run(&r, "frobnicate", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "'frobnicate' is not a chartsync command"));
	run(&r, "status", "--bogus", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option '--bogus'"));
	run(&r, "init", "--user", NULL);
	ck_status(r, 1);
	run(&r, "user", "delete", "x", NULL);
	ck_status(r, 1);
	run(&r, "--help", NULL);
	ck_status(r, 0);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		run(&r, cmds[i], "--help", NULL);
		ck_status(r, 0);
		ck_assert_msg(strncmp(r.out, "usage: chartsync ", 17) == 0,
			      "%s --help: %s", cmds[i], r.out);
	}
}
END_TEST

START_TEST(test_cli__missing_new_passphrase_names_the_new_variables)
{
	result r;

	/* The store's own passphrase is set, the new user's is not: the
	 * message must name the variables that would give the new one. */
	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "user", "add", "bob", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "CHARTSYNC_NEW_PASSPHRASE_FILE"));
	run(&r, "passwd", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "CHARTSYNC_NEW_PASSPHRASE_FILE"));
}
END_TEST

START_TEST(test_cli__unknown_short_option_is_named)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	/* an unknown short option inside a cluster names that option, not
	 * the argument before it */
	run(&r, "ls", "-xy", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option '-x'"));
	ck_assert_ptr_null(strstr(r.err, "unknown option 'ls'"));
	run(&r, "ls", "--json", "-qz", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option '-q'"));
	run(&r, "ls", "--nope", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown option '--nope'"));
}
END_TEST

START_TEST(test_cli__leading_option_without_a_value)
{
	result r;

	/* --store or --user before the command, with no value */
	run(&r, "--store", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "option '--store' needs a value"));
	run(&r, "--user", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "option '--user' needs a value"));
}
END_TEST

START_TEST(test_cli__not_a_store)
{
	result r;

	run(&r, "status", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "no chartsync store in"));
	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "init", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "already a store"));
}
END_TEST

START_TEST(test_cli__check_reports_damage)
{
	char *db = tu_path(dir, "store.db");
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "check", NULL);
	ck_status(r, 0);
	tu_flip_bit(db, 4096 + 77, 3);
	run(&r, "check", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "damaged"));
	free(db);
}
END_TEST

/* ---- records ---- */

/* Run and return the trimmed first line of stdout (an id). */
static void run_id(char out[64], const char *a1, const char *a2, const char *a3,
		   const char *a4, const char *a5, const char *a6)
{
	result r;

	run(&r, a1, a2, a3, a4, a5, a6, NULL);
	ck_status(r, 0);
	ck_assert_uint_ge(strlen(r.out), 33);
	snprintf(out, 64, "%.32s", r.out);
}

START_TEST(test_cli__records_add_show_ls_log)
{
	char pat[64], enc[64];
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run_id(pat, "add", "patient", "name=Ada Byron", "mrn=A-1001", "dob=1961-12-10", NULL);
	run_id(enc, "add", "encounter", "--patient", pat, "date=2024-03-15", "reason=cough");
	run(&r, "add", "procedure", "--encounter", enc, "cpt=99213", "fee:=12500", NULL);
	ck_status(r, 0);
	run(&r, "show", pat, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Ada Byron"));
	run(&r, "show", "--json", enc, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"reason\":\"cough\""));
	run(&r, "ls", "--patient", pat, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "99213"));
	ck_assert_ptr_nonnull(strstr(r.out, "cough"));
	/* a listing cuts a long value at 40 characters, never inside one:
	 * 39 letters, then two-byte characters */
	run(&r, "set", enc, "reason=abcdefghijklmnopqrstuvwxyzabcdefghijklm\xc3\xa9\xc3\xa9\xc3\xa9", NULL);
	ck_status(r, 0);
	run(&r, "ls", "--patient", pat, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "abcdefghijklmnopqrstuvwxyzabcdefghijklm\xc3\xa9\n"));
	run(&r, "set", pat, "phone=555-0100", NULL);
	ck_status(r, 0);
	run(&r, "log", pat, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "by alice at front-desk"));
	ck_assert_ptr_nonnull(strstr(r.out, "phone = 555-0100"));
	run(&r, "status", "--json", NULL);
	/* three records, the visit's reason on its clinical companion, and
	 * five access events (show, show, ls, ls, log) */
	ck_assert_ptr_nonnull(strstr(r.out, "\"records\":9"));
	/* and nothing of it is on disk in the clear */
	ck_assert_int_eq(tu_grep_dir(dir, "Ada Byron", NULL, 0), 0);
	ck_assert_int_eq(tu_grep_dir(dir, "cough", NULL, 0), 0);
}
END_TEST

START_TEST(test_cli__bad_record_input_exits_2_and_saves_nothing)
{
	static char before[sizeof(((result *)0)->out)];
	char pat[64];
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run_id(pat, "add", "patient", "name=Ada", "mrn=A-1", NULL, NULL);
	run(&r, "verify", NULL);
	memcpy(before, r.out, sizeof(before));
	run(&r, "add", "vehicle", "wheels=4", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "'vehicle' is not a record type"));
	run(&r, "add", "patient", "name=B", "mrn=B-1", "colour=red", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "patient has no field 'colour'"));
	run(&r, "add", "problem", "--patient", pat, "name=diabetes", "icd=E11-9", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "field 'icd' of problem: 'E11-9' is not an ICD-10-CM code"));
	run(&r, "add", "encounter", "--patient", pat, "date=15/03/2024", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "is not an ISO 8601 date"));
	run(&r, "add", "note", "--patient", "ffffffffffff", "text=hello", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "no patient 'ffffffffffff'"));
	run(&r, "set", pat, "notafield", NULL);
	ck_status(r, 1);
	run(&r, "verify", NULL);
	ck_assert_str_eq(r.out, before);
}
END_TEST

START_TEST(test_cli__import_attach_cat_verify)
{
	char *jsonl = tu_path(dir, "../chs-cli-import.jsonl");
	char *scan = tu_path(dir, "../chs-cli-scan.png");
	char pat[64], att[64], cmd[1024];
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	{
		const char *lines =
			"{\"type\":\"patient\",\"id\":\"aaaabbbbccccddddeeeeffff00001111\","
			"\"fields\":{\"name\":\"Grace\",\"mrn\":\"G-1\"}}\n"
			"{\"type\":\"allergy\",\"patient\":\"aaaabbbbccccddddeeeeffff00001111\","
			"\"fields\":{\"substance\":\"penicillin\",\"reaction\":\"rash\"}}\n";

		ck_assert_int_eq(tu_write(jsonl, lines, strlen(lines)), 0);
	}
	run(&r, "import", jsonl, NULL);
	ck_status(r, 0);
	ck_assert_str_eq(r.out, "imported 2 records\n");
	ck_assert_int_eq(tu_write(scan, "\x89PNG fake scan bytes", 20), 0);
	snprintf(pat, sizeof(pat), "aaaabbbb");
	run_id(att, "attach", pat, scan, "--title", "intake form", NULL);
	/* cat through a shell redirect, as a technician would */
	snprintf(cmd, sizeof(cmd), "'%s' cat %s > '%s.out' && cmp -s '%s' '%s.out'",
		 CHARTSYNC_BIN, att, scan, scan, scan);
	ck_assert_int_eq(system(cmd), 0);
	run(&r, "verify", "--full", "--json", NULL);
	ck_status(r, 0);
	/* three records and the access event of the cat */
	ck_assert_ptr_nonnull(strstr(r.out, "\"records\":4"));
	/* nothing has been sent: verify says so, since other stores differ */
	ck_assert_ptr_nonnull(strstr(r.out, "\"unsent_batches\":3"));
	run(&r, "verify", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\n3 batches made here not sent yet: other stores "
					    "differ until they are synced\n"));
	unlink(jsonl);
	unlink(scan);
	snprintf(cmd, sizeof(cmd), "%s.out", scan);
	unlink(cmd);
	free(jsonl);
	free(scan);
}
END_TEST

START_TEST(test_cli__review_with_nothing_under_review)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run(&r, "review", "--json", NULL);
	ck_status(r, 0);
	ck_assert_str_eq(r.out, "[]\n");
	run(&r, "review", "frob", NULL);
	ck_status(r, 1);
}
END_TEST


/* ---- access audit ---- */

static void small_chart(char pat[64])
{
	char enc[64];
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	run_id(pat, "add", "patient", "name=Ada Byron", "mrn=A-1001", "dob=1961-12-10", NULL);
	run_id(enc, "add", "encounter", "--patient", pat, "date=2024-03-15", "reason=cough");
	run(&r, "add", "note", "--encounter", enc, "text=Cough for three weeks", NULL);
	ck_status(r, 0);
	run(&r, "add", "allergy", "--patient", pat, "substance=penicillin", "reaction=rash", NULL);
	ck_status(r, 0);
}

START_TEST(test_cli__open_without_a_terminal_prints_the_chart_and_records_it)
{
	char pat[64];
	result r;

	small_chart(pat);
	setenv("PAGER", "false", 1); /* never run: stdout is not a terminal */
	run(&r, "open", pat, NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Chart of Ada Byron"));
	ck_assert_ptr_nonnull(strstr(r.out, "Allergies"));
	ck_assert_ptr_nonnull(strstr(r.out, "penicillin"));
	ck_assert_ptr_nonnull(strstr(r.out, "2024-03-15  cough"));
	ck_assert_ptr_nonnull(strstr(r.out, "Cough for three weeks"));
	run(&r, "report", "access", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "alice@front-desk"));
	ck_assert_ptr_nonnull(strstr(r.out, " open "));
	run(&r, "open", "ffffffffffff", NULL);
	ck_status(r, 2);
	run(&r, "open", NULL);
	ck_status(r, 1);
	unsetenv("PAGER");
}
END_TEST

START_TEST(test_cli__report_access_json_keys_csv_and_refusals)
{
	static const char *const keys[] = { "event", "start", "duration_ms", "user", "terminal",
		"device", "action", "patient", "record", "records" };
	char pat[64], ev[64], want[256];
	result r;
	size_t i;

	small_chart(pat);
	run(&r, "config", "terminal.name", "desk, \"north\"", NULL);
	ck_status(r, 0);
	run(&r, "show", pat, NULL);
	ck_status(r, 0);
	run(&r, "report", "access", "--json", NULL);
	ck_status(r, 0);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(want, sizeof(want), "\"%s\":", keys[i]);
		ck_assert_msg(strstr(r.out, want), "no key %s in %s", keys[i], r.out);
	}
	snprintf(ev, sizeof(ev), "%.32s", strstr(r.out, "\"event\":\"") + 9);
	ck_assert_ptr_nonnull(strstr(r.out, "\"terminal\":\"desk, \\\"north\\\"\""));
	run(&r, "report", "access", "--csv", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "start,duration_ms,user,terminal,action,patient,"));
	ck_assert_ptr_nonnull(strstr(r.out, ",alice,\"desk, \"\"north\"\"\",show,"));
	run(&r, "report", "access", "--user", "bob", "--json", NULL);
	ck_status(r, 0);
	ck_assert_str_eq(r.out, "[]\n");
	run(&r, "report", "access", "--since", "yesterday", NULL);
	ck_status(r, 1);
	run(&r, "report", "access", "--json", "--csv", NULL);
	ck_status(r, 1);
	run(&r, "report", "frob", NULL);
	ck_status(r, 1);
	run(&r, "report", "access", "--help", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "duration_ms"));
	/* an event is never edited, removed or typed in */
	run(&r, "set", ev, "action=nothing", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "can never be changed"));
	run(&r, "rm", ev, NULL);
	ck_status(r, 2);
	run(&r, "add", "audit", "action=show", "start=2024-01-01", NULL);
	ck_status(r, 2);
}
END_TEST

START_TEST(test_cli__sync_commands_before_an_organisation)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	/* malformed command lines: exit 1 */
	run(&r, "device", NULL);
	ck_status(r, 1);
	run(&r, "device", "enroll", "ssh-ed25519 AAAA", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "--site"));
	run(&r, "device", "list", "--role", "clinic", NULL);
	ck_status(r, 1);
	run(&r, "org", NULL);
	ck_status(r, 1);
	run(&r, "org", "init", NULL);
	ck_status(r, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "--archive"));
	run(&r, "remote", "a", "b", NULL);
	ck_status(r, 1);
	run(&r, "sync", "now", NULL);
	ck_status(r, 1);
	/* refused: exit 2, saying what to do */
	run(&r, "sync", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "chartsync remote"));
	run(&r, "device", "list", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "not part of an organisation"));
	run(&r, "device", "enroll", "not a request", "--site", "A", "--role", "clinic", NULL);
	ck_status(r, 2);
	run(&r, "remote", "http://archive.example/x.git", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "https"));
	/* what works without one */
	run(&r, "device", "request", NULL);
	ck_status(r, 0);
	ck_assert(strncmp(r.out, "ssh-ed25519 ", 12) == 0);
	ck_assert_ptr_nonnull(strstr(r.out, "chartsync:front-desk"));
	run(&r, "remote", "relative/archive.git", NULL);
	ck_status(r, 0);
	run(&r, "remote", NULL);
	ck_status(r, 0);
	ck_assert(r.out[0] == '/');
	ck_assert_ptr_nonnull(strstr(r.out, "/relative/archive.git"));
}
END_TEST

START_TEST(test_cli__enroll_from_a_file_that_cannot_be_read_says_so)
{
	result r;

	tu_cli_init_store(CHARTSYNC_BIN);
	/* REQUEST may be a file holding the line: one that is not there is
	 * a file that cannot be read, not a malformed request */
	run(&r, "device", "enroll", "/nonexistent/request.txt", "--site", "A", "--role",
	    "clinic", NULL);
	ck_status(r, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "cannot read the enrollment request file"
				     " '/nonexistent/request.txt'"));
	ck_assert_ptr_nonnull(strstr(r.err, "No such file or directory"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools");
	TCase *tc = tcase_create("cli");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cli__init_then_status);
	tcase_add_test(tc, test_cli__sync_commands_before_an_organisation);
	tcase_add_test(tc, test_cli__wrong_passphrase_exits_2_and_says_so);
	tcase_add_test(tc, test_cli__passphrase_file_is_read);
	tcase_add_test(tc, test_cli__no_passphrase_and_no_terminal);
	tcase_add_test(tc, test_cli__users_add_list_remove);
	tcase_add_test(tc, test_cli__last_admin_stays);
	tcase_add_test(tc, test_cli__passwd);
	tcase_add_test(tc, test_cli__config);
	tcase_add_test(tc, test_cli__usage_errors_exit_1);
	tcase_add_test(tc, test_cli__not_a_store);
	tcase_add_test(tc, test_cli__check_reports_damage);
	tcase_add_test(tc, test_cli__records_add_show_ls_log);
	tcase_add_test(tc, test_cli__bad_record_input_exits_2_and_saves_nothing);
	tcase_add_test(tc, test_cli__import_attach_cat_verify);
	tcase_add_test(tc, test_cli__review_with_nothing_under_review);
	tcase_add_test(tc, test_cli__open_without_a_terminal_prints_the_chart_and_records_it);
	tcase_add_test(tc, test_cli__report_access_json_keys_csv_and_refusals);
	tcase_add_test(tc, test_cli__missing_new_passphrase_names_the_new_variables);
	tcase_add_test(tc, test_cli__unknown_short_option_is_named);
	tcase_add_test(tc, test_cli__leading_option_without_a_value);
	tcase_add_test(tc, test_cli__enroll_from_a_file_that_cannot_be_read_says_so);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
