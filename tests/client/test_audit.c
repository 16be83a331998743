/*
 * client/: the access audit. Every opening of a patient's data is one
 * access event made by the user who opened the store; events can never be
 * edited or removed, here or by a batch that arrives by sync; they travel
 * to every site, a billing office's included, and the access report lists
 * and filters them.
 *
 * The forged batches are made with the library's internals (a writer that
 * skips the local checks), as a tampered client would make them.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/reports.h"
#include "support/testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- one store, two users ---- */

static char *dir;
static chs_store *s;
static char pat[33], visit[33], note[33];

static void open_as(const char *user, const char *pass)
{
	chs_store_free(s);
	s = NULL;
	ck_assert_msg(chs_store_open(&s, dir, user, pass, strlen(pass)) == 0, "%s",
		      chs_error_last());
}

static void local_setup(void)
{
	chs_kdf_params kdf;
	chs_store_create_opts o = { "maria", "maria pw", 8, &kdf, "front-desk" };
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1001") };
	chs_edit v[] = { tu_edit("date", "2024-03-15"), tu_edit("reason", "cough") };
	chs_edit n[] = { tu_edit("text", "Cough for three weeks") };

	ck_assert_int_eq(chs_crypto_init(), 0);
	chs_kdf_params_minimum(&kdf);
	dir = tu_tempdir();
	ck_assert_msg(chs_store_create(&s, dir, &o) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_store_user_add(s, "tom", 0, "tom pw", 6), 0);
	ck_assert_int_eq(chs_record_add(s, "patient", p, 2, NULL, NULL, pat), 0);
	ck_assert_int_eq(chs_record_add(s, "encounter", v, 2, pat, NULL, visit), 0);
	ck_assert_int_eq(chs_record_add(s, "note", n, 1, NULL, visit, note), 0);
}

static void local_teardown(void)
{
	chs_store_free(s);
	s = NULL;
	tu_rmtree(dir);
	free(dir);
}

static json_t *report(chs_store *st, const chs_access_filter *f)
{
	char *text = NULL;
	json_t *j;

	ck_assert_msg(tu_access_report_json(st, f, &text) == 0, "%s", chs_error_last());
	j = json_loads(text, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(j);
	return j;
}

static const char *key(json_t *ev, const char *name)
{
	const char *v = json_string_value(json_object_get(ev, name));

	return v ? v : "";
}

static int has_record(json_t *ev, const char *id)
{
	json_t *x;
	size_t i;

	json_array_foreach(json_object_get(ev, "records"), i, x)
		if (strcmp(json_string_value(x), id) == 0)
			return 1;
	return 0;
}

static void check_event(json_t *ev, const char *action, const char *user, const char *record)
{
	ck_assert_str_eq(key(ev, "action"), action);
	ck_assert_str_eq(key(ev, "user"), user);
	ck_assert_str_eq(key(ev, "terminal"), "front-desk");
	ck_assert_str_eq(key(ev, "record"), record);
	ck_assert_str_eq(key(ev, "patient"), pat);
	ck_assert_int_eq(key(ev, "start")[10], 'T');
	ck_assert(json_is_integer(json_object_get(ev, "duration_ms")));
	ck_assert(has_record(ev, record));
}

START_TEST(test_audit__show_ls_log_open_each_write_one_event_by_the_opener)
{
	chs_access *acc = NULL;
	struct timespec pause = { 0, 120 * 1000000L };
	char *text = NULL;
	json_t *j, *ev;

	/* the plain views of the library write nothing */
	ck_assert_int_eq(tu_show_json(s, note, &text), 0);
	free(text);
	j = report(s, NULL);
	ck_assert_uint_eq(json_array_size(j), 0);
	json_decref(j);

	open_as("tom", "tom pw");
	ck_assert_int_eq(tu_access_show_json(s, note, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, "three weeks"));
	free(text);
	ck_assert_int_eq(tu_access_list_json(s, NULL, pat, &text), 0);
	free(text);
	ck_assert_int_eq(tu_access_log_json(s, visit, &text), 0);
	free(text);
	ck_assert_msg(chs_chart_open(s, pat, &text, &acc) == 0, "%s", chs_error_last());
	ck_assert_ptr_nonnull(strstr(text, "Chart of Ada Byron"));
	ck_assert_ptr_nonnull(strstr(text, "Cough for three weeks"));
	free(text);
	nanosleep(&pause, NULL); /* the chart stays open a while */
	ck_assert_int_eq(chs_access_close(s, acc), 0);
	/* ls without a patient reads no one's chart in particular */
	ck_assert_int_eq(tu_access_list_json(s, "patient", NULL, &text), 0);
	free(text);
	open_as("maria", "maria pw");
	ck_assert_int_eq(tu_access_show_json(s, pat, &text), 0);
	free(text);

	j = report(s, NULL);
	ck_assert_uint_eq(json_array_size(j), 5);
	check_event(json_array_get(j, 0), "show", "tom", note);
	ev = json_array_get(j, 1);
	check_event(ev, "ls", "tom", pat);
	ck_assert(has_record(ev, visit) && has_record(ev, note));
	ck_assert_uint_eq(json_array_size(json_object_get(ev, "records")), 3);
	check_event(json_array_get(j, 2), "log", "tom", visit);
	ev = json_array_get(j, 3);
	check_event(ev, "open", "tom", pat);
	ck_assert(has_record(ev, visit) && has_record(ev, note));
	ck_assert_int_ge(json_integer_value(json_object_get(ev, "duration_ms")), 100);
	check_event(json_array_get(j, 4), "show", "maria", pat);
	ck_assert_str_eq(key(json_array_get(j, 4), "device"), chs_store_device_id(s));
	json_decref(j);
	/* the typed report holds the same events */
	{
		chs_access_report *r = NULL;
		const chs_access_event *e;

		ck_assert_int_eq(chs_report_access(&r, s, NULL), 0);
		ck_assert_uint_eq(chs_access_report_count(r), 5);
		e = chs_access_report_get(r, 3);
		ck_assert_str_eq(e->action, "open");
		ck_assert_str_eq(e->user, "tom");
		ck_assert_str_eq(e->terminal, "front-desk");
		ck_assert_str_eq(e->patient, pat);
		ck_assert_str_eq(e->record, pat);
		ck_assert_int_ge(e->duration_ms, 100);
		/* the patient, the note and the visit with its reason's companion */
		ck_assert_uint_eq(e->nrecords, 4);
		ck_assert_str_eq(chs_access_report_get(r, 4)->device, chs_store_device_id(s));
		ck_assert_ptr_null(chs_access_report_get(r, 5));
		chs_access_report_free(r);
	}
	/* access events are not part of a patient's listing */
	ck_assert_int_eq(tu_list_json(s, NULL, pat, &text), 0);
	ck_assert_ptr_null(strstr(text, "\"audit\""));
	free(text);
}
END_TEST

static char *first_event(void)
{
	char *text = NULL, *id;
	json_t *j;

	ck_assert_int_eq(tu_access_show_json(s, pat, &text), 0);
	free(text);
	j = report(s, NULL);
	id = strdup(key(json_array_get(j, json_array_size(j) - 1), "event"));
	json_decref(j);
	return id;
}

START_TEST(test_audit__events_are_refused_to_set_rm_resolve_add_import)
{
	chs_edit e[] = { tu_edit("action", "nothing") };
	char *ev = first_event(), *jsonl = tu_path(dir, "audit.jsonl"), id[33], h1[65], h2[65];
	const char *line = "{\"type\":\"audit\",\"fields\":{\"action\":\"show\","
			   "\"start\":\"2024-01-01\"}}\n";
	int64_t n;

	ck_assert_int_eq(chs_store_verify(s, 1, h1, &n), 0);
	ck_assert_int_eq(chs_record_set(s, ev, e, 1), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "can never be changed"));
	ck_assert_int_eq(chs_record_rm(s, ev), CHS_EDENIED);
	ck_assert_int_eq(chs_review_resolve(s, ev, e, 1, NULL), CHS_EDENIED);
	ck_assert_int_eq(chs_record_add(s, "audit", e, 1, pat, NULL, id), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "written by chartsync itself"));
	ck_assert_int_eq(tu_write(jsonl, line, strlen(line)), 0);
	ck_assert_int_lt(chs_record_import(s, jsonl, &n), 0);
	ck_assert_int_eq(chs_store_verify(s, 1, h2, &n), 0);
	ck_assert_str_eq(h1, h2);
	/* and a patient someone looked at can still be removed: events stay */
	ck_assert_int_eq(chs_record_rm(s, note), 0);
	ck_assert_int_eq(chs_record_rm(s, visit), 0);
	ck_assert_msg(chs_record_rm(s, pat) == 0, "%s", chs_error_last());
	free(jsonl);
	free(ev);
}
END_TEST

/* A batch signed by `forger`'s device holding one change `c` (stamped
 * here), applied to `to` as it would be after sync. */
static int forge_apply(chs_store *forger, chs_store *to, chs_change *c)
{
	chs_change **list = calloc(1, sizeof(*list));
	chs_batch *b = NULL;
	chs_buf body, enc;
	int err;

	c->user = strdup("mallory");
	c->terminal = strdup("somewhere");
	memcpy(c->device, chs_store_device_id(forger), 33);
	c->hlc = chs_hlc_next(0, chs_hlc_wall_ms());
	chs_buf_init(&body, 0);
	chs_buf_init(&enc, 0);
	ck_assert_msg(chs_change_encode(c, &body) == 0, "%s", chs_error_last());
	list[0] = c;
	ck_assert_int_eq(chs_batch_seal(&b, chs_store_identity(forger), 1, NULL, list, 1), 0);
	ck_assert_int_eq(chs_batch_encode(b, &enc), 0);
	err = chs_store_apply_batch(to, enc.ptr, enc.len);
	chs_batch_free(b);
	chs_buf_dispose(&body);
	chs_buf_dispose(&enc);
	return err;
}

static chs_store *other_store(char **odir)
{
	chs_kdf_params kdf;
	chs_store_create_opts o = { "mallory", "pw", 2, &kdf, "elsewhere" };
	chs_store *x = NULL;

	chs_kdf_params_minimum(&kdf);
	*odir = tu_tempdir();
	ck_assert_int_eq(chs_store_create(&x, *odir, &o), 0);
	return x;
}

/* The archive's events (client/replicate/tamper.c) are kept as access
 * events are: a batch that edits one is refused, and the message says
 * which kind of record it touched. */
START_TEST(test_audit__forged_edit_of_an_archive_event_is_refused)
{
	char *odir = NULL, h1[65], h2[65];
	chs_store *x = other_store(&odir);
	unsigned char head[32];
	chs_change *c = NULL;
	int64_t n;

	ck_assert_int_eq(chs_store_verify(s, 1, h1, &n), 0);
	ck_assert_int_eq(chs_change_new(&c), 0);
	chs_random(c->record, 16);
	chs_random(head, 32);
	c->type = strdup("archive_event");
	c->op = CHS_OP_UPDATE;
	chs_change_add_parent(c, head);
	chs_change_set_string(c, "detail", "nothing happened");
	ck_assert_int_eq(forge_apply(x, s, c), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "edits archive-event record"));
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "the archive's events can never be changed"));
	ck_assert_int_eq(chs_store_verify(s, 1, h2, &n), 0);
	ck_assert_str_eq(h1, h2);
	chs_store_free(x);
	tu_rmtree(odir);
	free(odir);
}
END_TEST

START_TEST(test_audit__forged_delete_or_recreate_of_an_event_is_refused)
{
	char *ev = first_event(), *odir = NULL, *text = NULL, h1[65], h2[65];
	chs_store *x = other_store(&odir);
	unsigned char head[32];
	chs_change *c = NULL;
	int64_t n;
	json_t *j;

	ck_assert_int_eq(tu_show_json(s, ev, &text), 0);
	j = json_loads(text, 0, NULL);
	free(text);
	chs_unhex(head, 32, json_string_value(json_array_get(json_object_get(j, "heads"), 0)));
	json_decref(j);
	ck_assert_int_eq(chs_store_verify(s, 1, h1, &n), 0);

	/* a removal */
	ck_assert_int_eq(chs_change_new(&c), 0);
	chs_unhex(c->record, 16, ev);
	c->type = strdup("audit");
	c->op = CHS_OP_DELETE;
	chs_change_add_parent(c, head);
	ck_assert_int_eq(forge_apply(x, s, c), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "removes access-audit record"));
	ck_assert_ptr_nonnull(strstr(chs_error_last(), chs_store_device_id(x)));
	/* a create that reuses the event's id */
	ck_assert_int_eq(chs_change_new(&c), 0);
	chs_unhex(c->record, 16, ev);
	c->type = strdup("audit");
	c->op = CHS_OP_CREATE;
	chs_change_set(c, "action", "\"show\"");
	chs_change_set(c, "start", "\"2024-01-01\"");
	ck_assert_int_eq(forge_apply(x, s, c), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "re-creates"));
	/* a change of another type on the event's id */
	ck_assert_int_eq(chs_change_new(&c), 0);
	chs_unhex(c->record, 16, ev);
	c->type = strdup("note");
	c->op = CHS_OP_UPDATE;
	chs_change_add_parent(c, head);
	chs_change_set(c, "text", "\"x\"");
	ck_assert_int_eq(forge_apply(x, s, c), CHS_EDENIED);
	/* nothing of them was applied */
	ck_assert_int_eq(chs_store_verify(s, 1, h2, &n), 0);
	ck_assert_str_eq(h1, h2);
	chs_store_free(x);
	tu_rmtree(odir);
	free(odir);
	free(ev);
}
END_TEST

/* Milliseconds since the epoch of "YYYY-MM-DDThh:mm:ss" UTC. */
static int64_t utc_ms(const char *when)
{
	int y, mo, d, h, mi, se;
	int64_t days, era, yoe, doy;

	ck_assert_int_eq(sscanf(when, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &se), 6);
	y -= mo <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
	return ((days * 24 + h) * 60 + mi) * 60000 + se * 1000LL;
}

/* An event with a chosen start (and half a second), made by the store's
 * user at its terminal, as chs_audit__write() is called by any command. */
static void event_at(const char *action, const char *patient, const char *when)
{
	unsigned char rec[16];

	chs_unhex(rec, 16, patient);
	ck_assert_msg(chs_audit__write(s, action, (const unsigned char (*)[16])rec, 1, patient,
				       utc_ms(when) + 500, 1500) == 0,
		      "%s", chs_error_last());
}

static size_t count(const chs_access_filter *f)
{
	json_t *j = report(s, f);
	size_t n = json_array_size(j);

	json_decref(j);
	return n;
}

START_TEST(test_audit__report_filters_by_patient_user_terminal_and_dates)
{
	chs_edit p[] = { tu_edit("name", "Bo"), tu_edit("mrn", "B-2") };
	chs_access_filter f;
	char other[33];
	json_t *j;

	ck_assert_int_eq(chs_record_add(s, "patient", p, 2, NULL, NULL, other), 0);
	event_at("show", pat, "2024-03-14T23:59:59");   /* maria, front-desk */
	event_at("show", pat, "2024-03-15T00:00:00");
	event_at("log", other, "2024-03-15T12:00:00");
	ck_assert_int_eq(chs_config_set(s, "terminal.name", "exam-2"), 0);
	event_at("ls", other, "2024-03-15T23:59:59");   /* maria, exam-2 */
	open_as("tom", "tom pw");
	event_at("open", pat, "2024-03-16T00:00:00");   /* tom, exam-2 */

	memset(&f, 0, sizeof(f));
	ck_assert_uint_eq(count(&f), 5);
	f.patient = pat;
	ck_assert_uint_eq(count(&f), 3);
	f.patient = other;
	ck_assert_uint_eq(count(&f), 2);
	memset(&f, 0, sizeof(f));
	f.user = "tom";
	ck_assert_uint_eq(count(&f), 1);
	f.user = "maria";
	ck_assert_uint_eq(count(&f), 4);
	f.terminal = "exam-2";
	ck_assert_uint_eq(count(&f), 1);
	memset(&f, 0, sizeof(f));
	f.terminal = "front-desk";
	ck_assert_uint_eq(count(&f), 3);
	memset(&f, 0, sizeof(f));
	f.since = "2024-03-15";
	f.until = "2024-03-15";  /* that whole day, UTC */
	j = report(s, &f);
	ck_assert_uint_eq(json_array_size(j), 3);
	ck_assert_str_eq(key(json_array_get(j, 0), "start"), "2024-03-15T00:00:00.500Z");
	ck_assert_str_eq(key(json_array_get(j, 2), "action"), "ls");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(j, 2), "duration_ms")),
			 1500);
	json_decref(j);
	f.since = "2024-03-15T12:00Z";
	f.until = NULL;
	ck_assert_uint_eq(count(&f), 3);
	f.since = "2024-03-15T13:00+01:00";  /* 12:00 UTC */
	ck_assert_uint_eq(count(&f), 3);
	f.since = NULL;
	f.until = "2024-03-14T23:59:59.499Z";
	ck_assert_uint_eq(count(&f), 0);
	f.until = "2024-03-14T23:59:59.500Z";
	ck_assert_uint_eq(count(&f), 1);
	f.until = "15/03/2024";
	{
		char *text = NULL;

		ck_assert_int_eq(tu_access_report_json(s, &f, &text), CHS_EINVALID);
		ck_assert_ptr_nonnull(strstr(chs_error_last(), "--until"));
	}
}
END_TEST

/* ---- through a real archive ---- */

enum { ADMIN, C1, C2, B1, NSTORES };

static const tu_member *const members = tu_org_members;
static char *top, *archive, *dirs[NSTORES];
static chs_store *st[NSTORES];

static void sync_ok(int i)
{
	tu_sync_ok(st[i]);
}

static void org_setup(void)
{
	tu_org_setup(&top, &archive, members, NSTORES, st, dirs);
}

static void org_teardown(void)
{
	tu_org_teardown(&top, &archive, st, dirs, NSTORES);
}

static void org_chart(void)
{
	chs_edit p[] = { tu_edit("name", "Maria Lopez"), tu_edit("mrn", "A-1001") };
	chs_edit n[] = { tu_edit("text", "Persistent cough") };

	ck_assert_int_eq(chs_record_add(st[C1], "patient", p, 2, NULL, NULL, pat), 0);
	ck_assert_int_eq(chs_record_add(st[C1], "note", n, 1, pat, NULL, note), 0);
	sync_ok(C1);
}

static json_t *event_by(json_t *arr, const char *user)
{
	json_t *ev;
	size_t i;

	json_array_foreach(arr, i, ev)
		if (strcmp(key(ev, "user"), user) == 0)
			return ev;
	return NULL;
}

START_TEST(test_audit__events_sync_everywhere_and_the_report_lists_other_sites)
{
	chs_access_filter f;
	char *text = NULL;
	json_t *j, *ev;

	org_chart();
	sync_ok(C2);
	sync_ok(B1);
	ck_assert_int_eq(tu_access_show_json(st[C2], note, &text), 0);
	free(text);
	/* a billing office records its own looks (it holds no clinical key) */
	ck_assert_msg(tu_access_show_json(st[B1], pat, &text) == 0, "%s", chs_error_last());
	free(text);
	sync_ok(C2);
	sync_ok(B1);
	sync_ok(ADMIN);
	sync_ok(C1);

	j = report(st[ADMIN], NULL);
	ck_assert_uint_eq(json_array_size(j), 2);
	ev = event_by(j, "cy");
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(key(ev, "terminal"), "clinic-b-1");
	ck_assert_str_eq(key(ev, "record"), note);
	ck_assert_str_eq(key(ev, "patient"), pat);
	ck_assert_str_eq(key(ev, "device"), chs_store_device_id(st[C2]));
	ev = event_by(j, "dee");
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(key(ev, "terminal"), "billing-1");
	json_decref(j);
	/* the billing office sees the clinic's event too */
	memset(&f, 0, sizeof(f));
	f.terminal = "clinic-b-1";
	j = report(st[B1], &f);
	ck_assert_uint_eq(json_array_size(j), 1);
	json_decref(j);
	/* and the archive holds no event in the clear */
	ck_assert_int_eq(tu_grep_dir(archive, "clinic-b-1", NULL, 0), 0);
}
END_TEST

/* Edit an access event through a writer that skips the local checks, as
 * a tampered client would. */
static void tamper(int i, const char *event)
{
	chs_change *c = NULL;
	chs_writer w;

	ck_assert_int_eq(chs_change_new(&c), 0);
	chs_unhex(c->record, 16, event);
	c->type = strdup("audit");
	c->op = CHS_OP_UPDATE;
	ck_assert_int_eq(chs_change_set(c, "action", "\"nothing to see\""), 0);
	ck_assert_int_eq(chs_records__writer_begin(&w, st[i]), 0);
	ck_assert_msg(chs_records__writer_put(&w, c) == 0, "%s", chs_error_last());
	ck_assert_int_eq(chs_records__writer_commit(&w), 0);
}

START_TEST(test_audit__a_forged_edit_by_sync_is_refused_reported_and_the_rest_goes_on)
{
	chs_edit p[] = { tu_edit("name", "Jo Park"), tu_edit("mrn", "B-7") };
	chs_edit q[] = { tu_edit("name", "Al Moss"), tu_edit("mrn", "A-9") };
	chs_sync_report rep;
	char *text = NULL, event[33], jo[33], al[33];
	json_t *j;
	int round;

	org_chart();
	ck_assert_int_eq(tu_access_show_json(st[C1], note, &text), 0);
	free(text);
	sync_ok(C1);
	sync_ok(ADMIN);
	j = report(st[ADMIN], NULL);
	ck_assert_uint_eq(json_array_size(j), 1);
	snprintf(event, sizeof(event), "%s", key(json_array_get(j, 0), "event"));
	json_decref(j);

	tamper(C1, event);
	/* and a batch after it, on the same device's chain */
	ck_assert_int_eq(chs_record_add(st[C1], "patient", q, 2, NULL, NULL, al), 0);
	sync_ok(C1);
	/* another clinic's work, sent before it saw the forged batch */
	ck_assert_int_eq(chs_record_add(st[C2], "patient", p, 2, NULL, NULL, jo), 0);
	ck_assert_int_eq(chs_store_sync(st[C2], NULL, &rep), CHS_EDAMAGED);
	ck_assert_uint_eq(rep.batches_out, 1);
	chs_sync_report_dispose(&rep);

	for (round = 0; round < 2; round++) {
		ck_assert_int_eq(chs_store_sync(st[ADMIN], NULL, &rep), CHS_EDAMAGED);
		ck_assert_uint_eq(rep.refused, 1);
		ck_assert_ptr_nonnull(strstr(rep.problems.ptr, "edits access-audit record"));
		ck_assert_ptr_nonnull(strstr(rep.problems.ptr, chs_store_device_id(st[C1])));
		chs_sync_report_dispose(&rep);
	}
	/* the other clinic's work arrived; the event is as it was, and
	 * nothing of the forging device's after the forged batch */
	ck_assert_int_eq(tu_show_json(st[ADMIN], jo, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, "Jo Park"));
	free(text);
	ck_assert_int_eq(tu_show_json(st[ADMIN], al, &text), CHS_ENOTFOUND);
	j = report(st[ADMIN], NULL);
	ck_assert_uint_eq(json_array_size(j), 1);
	ck_assert_str_eq(key(json_array_get(j, 0), "action"), "show");
	json_decref(j);
}
END_TEST

/* The desk's pages: one event for everything a page showed, written when
 * the page is left, with the time it stayed open; nothing before. */
START_TEST(test_audit__a_page_held_open_is_one_event_written_when_it_is_left)
{
	chs_record_list *l = NULL;
	chs_access *a = NULL;
	chs_history *h = NULL;
	chs_record *r = NULL;
	struct timespec nap = { 0, 30 * 1000000 };
	json_t *j, *ev;

	ck_assert_int_eq(chs_access_begin(&a, s, "desk review"), 0);
	ck_assert_int_eq(chs_access_add_review(a, &l, s, NULL, NULL), 0);
	ck_assert_uint_eq(chs_record_list_count(l), 0);
	ck_assert_int_eq(chs_access_add_show(a, &r, s, note), 0);
	ck_assert_str_eq(chs_record_id(r), note);
	chs_record_free(r);
	ck_assert_int_eq(chs_access_add_log(a, &h, s, note), 0);
	ck_assert_uint_eq(chs_history_count(h), 1);
	ck_assert_int_eq(chs_access_add_show(a, &r, s, pat) == 0 && r != NULL, 1);
	chs_record_free(r);
	ck_assert_int_eq(chs_access_add_show(a, &r, s, "ffffffff"), CHS_ENOTFOUND);
	ck_assert_ptr_null(r);
	/* shown, but not left yet: nothing written */
	j = report(s, NULL);
	ck_assert_uint_eq(json_array_size(j), 0);
	json_decref(j);
	nanosleep(&nap, NULL);
	ck_assert_int_eq(chs_access_close(s, a), 0);
	j = report(s, NULL);
	ck_assert_uint_eq(json_array_size(j), 1);
	ev = json_array_get(j, 0);
	/* the note first, its patient the event's; the note once though
	 * shown twice, the patient after it */
	check_event(ev, "desk review", "maria", note);
	ck_assert_uint_eq(json_array_size(json_object_get(ev, "records")), 2);
	ck_assert(has_record(ev, pat));
	ck_assert_int_ge(json_integer_value(json_object_get(ev, "duration_ms")), 30);
	json_decref(j);
	chs_record_list_free(l);
	chs_history_free(h);
}
END_TEST

static int keep_only(const chs_record *r, void *arg)
{
	return strcmp(chs_record_id(r), (const char *)arg) == 0;
}

/* A page's filter keeps some of the records under review: the event
 * names those it kept and no other, and their patient, so the access
 * report for that patient lists it and the other patient's does not. */
START_TEST(test_audit__a_filtered_review_names_only_what_was_kept_and_its_patient)
{
	chs_edit p[] = { tu_edit("name", "Bea"), tu_edit("mrn", "B-2") };
	chs_edit mine = tu_edit("name", "mine"), theirs = tu_edit("name", "theirs");
	chs_access_filter f;
	chs_record_list *l = NULL;
	chs_access *a = NULL;
	chs_store *b;
	char *bdir, bea[33];
	json_t *j, *ev;

	b = tu_store_temp("bob", "elsewhere", &bdir);
	ck_assert_int_eq(chs_record_add(s, "patient", p, 2, NULL, NULL, bea), 0);
	tu_ship(s, b);
	ck_assert_int_eq(chs_record_set(s, pat, &mine, 1), 0);
	ck_assert_int_eq(chs_record_set(b, pat, &theirs, 1), 0);
	ck_assert_int_eq(chs_record_set(s, bea, &mine, 1), 0);
	ck_assert_int_eq(chs_record_set(b, bea, &theirs, 1), 0);
	tu_ship(b, s);

	ck_assert_int_eq(chs_access_begin(&a, s, "desk review"), 0);
	ck_assert_int_eq(chs_access_add_review(a, &l, s, keep_only, pat), 0);
	ck_assert_uint_eq(chs_record_list_count(l), 1);
	ck_assert_str_eq(chs_record_id(chs_record_list_get(l, 0)), pat);
	/* kept whole: its candidates are there to show */
	ck_assert_uint_gt(chs_record_field_candidate_count(chs_record_list_get(l, 0), 0) +
			  chs_record_field_candidate_count(chs_record_list_get(l, 0), 1) +
			  chs_record_field_candidate_count(chs_record_list_get(l, 0), 2), 0);
	ck_assert_int_eq(chs_access_close(s, a), 0);

	memset(&f, 0, sizeof(f));
	f.patient = pat;
	j = report(s, &f);
	ck_assert_uint_eq(json_array_size(j), 1);
	ev = json_array_get(j, 0);
	ck_assert_str_eq(key(ev, "patient"), pat);
	ck_assert_uint_eq(json_array_size(json_object_get(ev, "records")), 1);
	ck_assert(has_record(ev, pat));
	json_decref(j);
	f.patient = bea;
	j = report(s, &f);
	ck_assert_uint_eq(json_array_size(j), 0);
	json_decref(j);
	chs_record_list_free(l);
	chs_store_free(b);
	tu_rmtree(bdir);
	free(bdir);
}
END_TEST

START_TEST(test_audit__a_service_user_cannot_hold_a_page_open)
{
	chs_access *a = NULL;

	ck_assert_int_eq(chs_store_user_add_service(s, "scanner", "scan pw", 7), 0);
	open_as("scanner", "scan pw");
	ck_assert_int_eq(chs_access_begin(&a, s, "desk review"), CHS_EDENIED);
	ck_assert_ptr_null(a);
}
END_TEST

/* A page's event that the store does not take when the page is left is
 * not dropped: chs_access_write() leaves it to the caller, who writes it
 * later, with the time the page was on screen, not the time it waited. */
START_TEST(test_audit__an_event_the_store_refuses_is_kept_and_written_later)
{
	struct timespec nap = { 0, 60 * 1000000 };
	chs_store *scanner = NULL;
	chs_access *a = NULL;
	chs_record *r = NULL;
	json_t *j;

	ck_assert_int_eq(chs_store_user_add_service(s, "scanner", "scan pw", 7), 0);
	ck_assert_int_eq(chs_store_open(&scanner, dir, "scanner", "scan pw", 7), 0);
	ck_assert_int_eq(chs_access_begin(&a, s, "desk history"), 0);
	ck_assert_int_eq(chs_access_add_show(a, &r, s, note), 0);
	chs_record_free(r);
	chs_access_end(a);
	nanosleep(&nap, NULL);
	/* a store that does not take the event (here: a service user's) */
	ck_assert_int_lt(chs_access_write(scanner, a), 0);
	j = report(s, NULL);
	ck_assert_uint_eq(json_array_size(j), 0);
	json_decref(j);
	/* `a` is still the caller's: written now, its duration the page's */
	ck_assert_msg(chs_access_write(s, a) == 0, "%s", chs_error_last());
	j = report(s, NULL);
	ck_assert_uint_eq(json_array_size(j), 1);
	check_event(json_array_get(j, 0), "desk history", "maria", note);
	ck_assert_int_lt(json_integer_value(json_object_get(json_array_get(j, 0), "duration_ms")),
			 60);
	json_decref(j);
	chs_store_free(scanner);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("client_audit");
	TCase *local = tcase_create("local"), *org = tcase_create("sync");

	tcase_add_checked_fixture(local, local_setup, local_teardown);
	tcase_set_timeout(local, 120);
	tcase_add_test(local, test_audit__show_ls_log_open_each_write_one_event_by_the_opener);
	tcase_add_test(local, test_audit__events_are_refused_to_set_rm_resolve_add_import);
	tcase_add_test(local, test_audit__forged_delete_or_recreate_of_an_event_is_refused);
	tcase_add_test(local, test_audit__forged_edit_of_an_archive_event_is_refused);
	tcase_add_test(local, test_audit__report_filters_by_patient_user_terminal_and_dates);
	tcase_add_test(local, test_audit__a_page_held_open_is_one_event_written_when_it_is_left);
	tcase_add_test(local, test_audit__a_filtered_review_names_only_what_was_kept_and_its_patient);
	tcase_add_test(local, test_audit__a_service_user_cannot_hold_a_page_open);
	tcase_add_test(local, test_audit__an_event_the_store_refuses_is_kept_and_written_later);
	suite_add_tcase(su, local);
	tcase_add_checked_fixture(org, org_setup, org_teardown);
	tcase_set_timeout(org, 300);
	tcase_add_test(org, test_audit__events_sync_everywhere_and_the_report_lists_other_sites);
	tcase_add_test(org, test_audit__a_forged_edit_by_sync_is_refused_reported_and_the_rest_goes_on);
	suite_add_tcase(su, org);
	return tu_run(su);
}
