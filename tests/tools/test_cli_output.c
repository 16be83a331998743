/*
 * tools/: record text is untrusted, and a synced change is never refused
 * for its form, so every human-readable view escapes what it prints. The
 * hostile values are written here through the writer, as a change from
 * another site would arrive, not through entry (which refuses them): ESC
 * (a screen clear), BEL, CR, the C1 control U+009B (CSI) and the
 * bidirectional override U+202E. Then each view is run through the real
 * binary and no raw control byte may reach its output.
 */
#include "support/cli.h"
#include "support/internal.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASS "clinic pass"
/* ESC [2J, BEL, CR, U+009B, U+202E */
#define HOSTILE "Ada\x1b[2J\a\rX\xc2\x9b" "31m\xe2\x80\xae" "evil"

static char *dir;
static char pat[33], visit[33], note[33], proc[33];

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)

/* The id `add` printed. */
static void add(char out[33], const char *type, const char *link_opt, const char *link,
		const char *f1, const char *f2, const char *f3)
{
	result r;

	if (link_opt)
		run(&r, "add", type, link_opt, link, f1, f2, f3, NULL);
	else
		run(&r, "add", type, f1, f2, f3, NULL);
	tu_ck_status(r, 0);
	ck_assert_uint_ge(strlen(r.out), 32);
	memcpy(out, r.out, 32);
	out[32] = '\0';
}

static void set(chs_change **c, const char *id, const char *type)
{
	ck_assert_int_eq(chs_change_new(c), 0);
	chs_unhex((*c)->record, 16, id);
	(*c)->type = strdup(type);
	(*c)->op = CHS_OP_UPDATE;
}

static void set_field(chs_change *c, const char *name, const char *text)
{
	chs_buf b;

	chs_buf_init(&b, 0);
	ck_assert_int_eq(chs_canonical_string(&b, text, strlen(text)), 0);
	ck_assert_int_eq(chs_buf_put(&b, "", 1), 0);
	ck_assert_int_eq(chs_change_set(c, name, b.ptr), 0);
	chs_buf_dispose(&b);
}

/* Hostile text in the patient's name and chart number, the visit's
 * reason, the note's text and a procedure's modifier, all from a terminal
 * whose name is hostile too; a procedure without a code; an access event
 * whose action is hostile. Written as a tampered or foreign client would. */
static void write_hostile(void)
{
	chs_store *s = NULL;
	chs_change *c;
	chs_writer w;

	ck_assert_msg(chs_store_open(&s, dir, "alice", PASS, strlen(PASS)) == 0, "%s",
		      chs_error_last());
	ck_assert_int_eq(chs_records__writer_begin(&w, s), 0);
	free(w.terminal);
	w.terminal = strdup("desk" HOSTILE);
	set(&c, pat, "patient");
	set_field(c, "name", HOSTILE);
	set_field(c, "mrn", "A-1" HOSTILE);
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	set(&c, visit, "encounter");
	set_field(c, "reason", HOSTILE);
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	set(&c, note, "note");
	set_field(c, "text", "first line\n" HOSTILE "\nlast line");
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	set(&c, proc, "procedure");
	ck_assert_int_eq(chs_change_set(c, "cpt", NULL), 0);
	set_field(c, "modifier", HOSTILE);
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_records__writer_commit(&w) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_audit__write(s, "x" HOSTILE, NULL, 0, NULL, chs_audit_now_ms(), 0) == 0,
		      "%s", chs_error_last());
	chs_store_free(s);
}

/* Values that a spreadsheet would run as formulas, in every kind of cell
 * the CSV exports hold: the claims' patient and visit columns, a
 * procedure's modifier, and an access event's action; a negative fee. */
static void write_formulas(void)
{
	chs_store *s = NULL;
	chs_change *c;
	chs_writer w;

	ck_assert_msg(chs_store_open(&s, dir, "alice", PASS, strlen(PASS)) == 0, "%s",
		      chs_error_last());
	ck_assert_int_eq(chs_records__writer_begin(&w, s), 0);
	set(&c, pat, "patient");
	set_field(c, "name", "=HYPERLINK(\"http://x.invalid\",\"y\")");
	set_field(c, "mrn", "+A-1");
	set_field(c, "payer", "@SUM(1+1)");
	set_field(c, "member_id", "\tM-1");
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	set(&c, proc, "procedure");
	ck_assert_int_eq(chs_change_set(c, "cpt", "\"99213\""), 0);
	set_field(c, "modifier", "-2+3");
	ck_assert_int_eq(chs_change_set(c, "fee", "-1250"), 0);
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_records__writer_commit(&w) == 0, "%s", chs_error_last());
	ck_assert_msg(chs_audit__write(s, "=cmd|' /C calc'!A0", NULL, 0, NULL,
				       chs_audit_now_ms(), 0) == 0, "%s", chs_error_last());
	chs_store_free(s);
}

static void setup(void)
{
	result r;

	dir = tu_cli_setup(PASS);
	tu_cli_init_store(CHARTSYNC_BIN);
	add(pat, "patient", NULL, NULL, "name=Ada", "mrn=A-1", "dob=1961-12-10");
	add(visit, "encounter", "--patient", pat, "date=2024-03-15", "reason=cough",
	    "provider=Dr Who");
	add(note, "note", "--encounter", visit, "date=2024-03-15", "text=ok", "author=maria");
	add(proc, "procedure", "--encounter", visit, "cpt=99213", "fee:=12500", "modifier=25");
	run(&r, "code", "send", visit, NULL);
	tu_ck_status(r, 0);
	write_hostile();
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

/* No byte of a terminal control sequence, and none of the two hostile
 * code points, in `what`'s stdout or stderr. */
static void ck_clean(const result *r, const char *what)
{
	const char *o[2] = { r->out, r->err };
	int i;

	for (i = 0; i < 2; i++) {
		ck_assert_msg(!strchr(o[i], '\x1b'), "%s: a raw ESC in %s", what, o[i]);
		ck_assert_msg(!strchr(o[i], '\a'), "%s: a raw BEL in %s", what, o[i]);
		ck_assert_msg(!strchr(o[i], '\r'), "%s: a raw CR in %s", what, o[i]);
		ck_assert_msg(!strstr(o[i], "\xc2\x9b"), "%s: a raw U+009B in %s", what, o[i]);
		ck_assert_msg(!strstr(o[i], "\xe2\x80\xae"), "%s: a raw U+202E in %s", what, o[i]);
	}
}

/* The view ran, printed nothing raw, and shows the text escaped. */
static void ck_view(const result *r, const char *what, const char *escaped)
{
	tu_ck_status(*r, 0);
	ck_clean(r, what);
	if (escaped)
		ck_assert_msg(strstr(r->out, escaped), "%s does not show '%s': %s", what, escaped,
			      r->out);
}

#define ESCAPED "Ada\\x1b[2J\\x07\\x0dX\\u{009b}31m\\u{202e}evil"

START_TEST(test_cli_output__every_view_escapes_synced_text)
{
	result r;

	run(&r, "show", pat, NULL);
	ck_view(&r, "show", ESCAPED);
	ck_assert_ptr_nonnull(strstr(r.out, "A-1" ESCAPED));
	run(&r, "show", note, NULL);
	ck_view(&r, "show of a note", "first line\n" ESCAPED "\nlast line");
	run(&r, "show", visit, NULL);
	ck_view(&r, "show of a visit", ESCAPED);
	/* a list shows a value's first 40 characters */
	run(&r, "ls", NULL);
	ck_view(&r, "ls", "Ada\\x1b[2J\\x07\\x0dX");
	run(&r, "ls", "--patient", pat, NULL);
	ck_view(&r, "ls --patient", "Ada\\x1b[2J\\x07\\x0dX");
	run(&r, "ls", "--unconfirmed", NULL);
	ck_view(&r, "ls --unconfirmed", "Ada\\x1b[2J\\x07\\x0dX");
	run(&r, "log", pat, NULL);
	ck_view(&r, "log", "at desk" ESCAPED);
	run(&r, "log", note, NULL);
	ck_view(&r, "log of a note", ESCAPED);
	run(&r, "open", pat, NULL);
	ck_view(&r, "open", ESCAPED);
	/* each line of a note stays a line of the chart, its text escaped */
	ck_assert_ptr_nonnull(strstr(r.out, "first line\n"));
	ck_assert_ptr_nonnull(strstr(r.out, ESCAPED "\n"));
	run(&r, "review", NULL);
	ck_view(&r, "review", NULL);
	run(&r, "report", "access", NULL);
	ck_view(&r, "report access", "x" ESCAPED);
	run(&r, "report", "consistency", NULL);
	ck_view(&r, "report consistency", NULL);
	run(&r, "report", "coding", NULL);
	ck_view(&r, "report coding", NULL);
	run(&r, "status", NULL);
	ck_view(&r, "status", NULL);
	run(&r, "user", "ls", NULL);
	ck_view(&r, "user ls", NULL);
	run(&r, "config", "--list", NULL);
	ck_view(&r, "config --list", NULL);
}
END_TEST

START_TEST(test_cli_output__code_queue_escapes_and_shows_a_missing_code_as_a_dash)
{
	result r;

	run(&r, "code", "queue", NULL);
	ck_view(&r, "code queue", ESCAPED);
	ck_assert_ptr_nonnull(strstr(r.out, "(A-1" ESCAPED ")"));
	ck_assert_msg(!strstr(r.out, "(null)"), "glibc's (null) for a missing value: %s", r.out);
	ck_assert_msg(strstr(r.out, "    procedure - -" ESCAPED), "no code shows as '-': %s", r.out);
}
END_TEST

START_TEST(test_cli_output__a_refusal_quoting_hostile_text_is_escaped)
{
	result r;

	/* the message names the value it refuses; it reaches stderr escaped */
	run(&r, "set", pat, "dob=" HOSTILE, NULL);
	tu_ck_status(r, 2);
	ck_clean(&r, "a refusal");
	run(&r, "ls", "type" HOSTILE, NULL);
	ck_clean(&r, "ls of an unknown type");
	run(&r, "config", "key" HOSTILE, NULL);
	tu_ck_status(r, 1);
	ck_clean(&r, "an unknown setting");
}
END_TEST

START_TEST(test_cli_output__csv_cells_never_run_as_formulas)
{
	char want[512];
	result r;

	write_formulas();
	run(&r, "export", "claims", "--since", "2024-01-01", NULL);
	tu_ck_status(r, 0);
	/* patient, mrn, name, dob, payer, member_id, ... modifiers, icd, fee */
	snprintf(want, sizeof(want), "%s,\"'+A-1\",\"'=HYPERLINK(\"\"http://x.invalid\"\","
		 "\"\"y\"\")\",1961-12-10,\"'@SUM(1+1)\",\"'\tM-1\",%s,", pat, visit);
	ck_assert_msg(strstr(r.out, want), "claims row: %s\nwanted: %s", r.out, want);
	/* the modifier is text; the fee a number, negative and correct */
	ck_assert_msg(strstr(r.out, ",\"'-2+3\",,-12.50,queued\r\n"), "claims: %s", r.out);
	run(&r, "report", "access", "--csv", NULL);
	tu_ck_status(r, 0);
	ck_assert_msg(strstr(r.out, ",\"'=cmd|' /C calc'!A0\","), "access CSV: %s", r.out);
	ck_assert_msg(!strstr(r.out, ",=cmd"), "a formula left as it is: %s", r.out);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("tools");
	TCase *tc = tcase_create("cli-output");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cli_output__every_view_escapes_synced_text);
	tcase_add_test(tc, test_cli_output__code_queue_escapes_and_shows_a_missing_code_as_a_dash);
	tcase_add_test(tc, test_cli_output__a_refusal_quoting_hostile_text_is_escaped);
	tcase_add_test(tc, test_cli_output__csv_cells_never_run_as_formulas);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
