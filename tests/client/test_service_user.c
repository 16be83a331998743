/*
 * client/: the service user, the sign-in of the clinic's daemon. It syncs
 * and takes in scans; the library itself (not only the CLI) refuses it
 * every view and change of a chart.
 */
#include "client/chartsync.h"
#include "support/internal.h"
#include "support/org.h"
#include "support/records.h"
#include "support/testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SERVICE_PW "7Qm2-service-passphrase-from-a-file"

static char *dir;
static chs_store *admin;
static char pat[33], visit[33];

static void setup(void)
{
	chs_edit p[] = { tu_edit("name", "Ada Byron"), tu_edit("mrn", "A-1001") };
	chs_edit v[] = { tu_edit("date", "2024-03-15"), tu_edit("reason", "cough") };

	admin = tu_store_temp("maria", "front-desk", &dir);
	ck_assert_int_eq(chs_record_add(admin, "patient", p, 2, NULL, NULL, pat), 0);
	ck_assert_int_eq(chs_record_add(admin, "encounter", v, 2, pat, NULL, visit), 0);
}

static void teardown(void)
{
	chs_store_free(admin);
	admin = NULL;
	tu_rmtree(dir);
	free(dir);
}

static chs_store *open_service(void)
{
	chs_store *s = NULL;

	ck_assert_msg(chs_store_open(&s, dir, "scanner", SERVICE_PW, strlen(SERVICE_PW)) == 0,
		      "%s", chs_error_last());
	return s;
}

static void add_service(void)
{
	ck_assert_msg(chs_store_user_add_service(admin, "scanner", SERVICE_PW,
						 strlen(SERVICE_PW)) == 0,
		      "%s", chs_error_last());
}

/* Who made the first change of record `id`, and at which terminal,
 * from its audited history. */
static void check_author(chs_store *s, const char *id, const char *user,
			 const char *terminal)
{
	const chs_history_entry *e;
	chs_history *h = NULL;

	ck_assert_msg(chs_access_log(&h, s, id) == 0, "%s", chs_error_last());
	ck_assert_ptr_nonnull(e = chs_history_get(h, 0));
	ck_assert_str_eq(e->user, user);
	ck_assert_str_eq(e->terminal, terminal);
	chs_history_free(h);
}

static int64_t changes(chs_store *s)
{
	chs_status st;
	int64_t n;

	ck_assert_int_eq(chs_store_status(s, &st), 0);
	n = st.changes;
	chs_status_dispose(&st);
	return n;
}

/* A refusal a technician can act on: the code, and words naming the user. */
#define ck_refused(call) do { \
	int err_ = (call); \
	ck_assert_msg(err_ == CHS_EDENIED, "%s gave %d: %s", #call, err_, chs_error_last()); \
	ck_assert_msg(strstr(chs_error_last(), "'scanner' is a service user") && \
		      strstr(chs_error_last(), "sign in as a person"), "%s: %s", #call, \
		      chs_error_last()); \
} while (0)

START_TEST(test_service_user__an_admin_adds_one_and_it_is_never_an_admin)
{
	chs_user *users = NULL;
	chs_store *svc;
	chs_rekey_result rk;
	size_t n = 0, i;
	int seen = 0;

	add_service();
	ck_assert_int_eq(chs_store_user_add_service(admin, "scanner", "x", 1), CHS_EEXISTS);
	ck_assert_int_eq(chs_store_user_is_service(admin), 0);
	ck_assert_int_eq(chs_store_user_list(admin, &users, &n), 0);
	for (i = 0; i < n; i++) {
		if (strcmp(users[i].name, "scanner") == 0) {
			seen = 1;
			ck_assert_int_eq(users[i].service, 1);
			ck_assert_int_eq(users[i].admin, 0);
		} else {
			ck_assert_int_eq(users[i].service, 0);
		}
	}
	ck_assert_int_eq(seen, 1);
	chs_user_list_free(users, n);

	svc = open_service();
	ck_assert_int_eq(chs_store_user_is_service(svc), 1);
	ck_assert_int_eq(chs_store_user_is_admin(svc), 0);
	/* no admin's work: users, services, a new key */
	ck_assert_int_eq(chs_store_user_add(svc, "eve", 1, "pw", 2), CHS_EDENIED);
	ck_assert_int_eq(chs_store_user_add_service(svc, "scanner2", "pw", 2), CHS_EDENIED);
	ck_assert_int_eq(chs_store_user_rm(svc, "maria"), CHS_EDENIED);
	ck_assert_int_eq(chs_store_rekey(svc, &rk), CHS_EDENIED);
	chs_store_free(svc);
}
END_TEST

START_TEST(test_service_user__only_an_admin_adds_one)
{
	chs_user *users = NULL;
	chs_store *tom = NULL;
	size_t n = 0;

	ck_assert_int_eq(chs_store_user_add(admin, "tom", 0, "tom pw", 6), 0);
	ck_assert_int_eq(chs_store_open(&tom, dir, "tom", "tom pw", 6), 0);
	ck_assert_int_eq(chs_store_user_add_service(tom, "scanner", SERVICE_PW,
						    strlen(SERVICE_PW)), CHS_EDENIED);
	ck_assert_ptr_nonnull(strstr(chs_error_last(), "only an admin"));
	ck_assert_int_eq(chs_store_user_list(admin, &users, &n), 0);
	ck_assert_int_eq(n, 2);
	chs_user_list_free(users, n);
	chs_store_free(tom);
	ck_assert_int_eq(chs_store_open(&tom, dir, "scanner", SERVICE_PW, strlen(SERVICE_PW)),
			 CHS_EAUTH);
}
END_TEST

START_TEST(test_service_user__cannot_show_list_open_or_change_a_chart)
{
	chs_edit name = tu_edit("name", "Ada King");
	chs_edit p = tu_edit("name", "Bo");
	const char *ids[] = { visit };
	chs_coding_assign_opts co;
	chs_record_list *l = NULL;
	chs_coding_list *q = NULL;
	chs_coding_assignment *a = NULL;
	chs_access_report *ar = NULL;
	chs_consistency_report *cr = NULL;
	chs_confirmation *cf = NULL;
	chs_access *acc = NULL;
	chs_record *r = NULL;
	chs_history *h = NULL;
	char id[33], *text = NULL, *csv = NULL;
	int64_t before, count = 0;
	chs_store *svc;

	add_service();
	before = changes(admin);
	svc = open_service();
	memset(&co, 0, sizeof(co));
	/* the audited views: show, ls, log, open, cat */
	ck_refused(chs_access_show(&r, svc, pat));
	ck_assert_ptr_null(r);
	ck_refused(chs_access_list(&l, svc, NULL, pat));
	ck_refused(chs_access_list(&l, svc, "patient", NULL));
	ck_assert_ptr_null(l);
	ck_refused(chs_access_log(&h, svc, pat));
	ck_refused(chs_chart_open(svc, pat, &text, &acc));
	ck_assert_ptr_null(text);
	ck_refused(chs_access_cat(svc, pat, 1));
	/* writing a chart */
	ck_refused(chs_record_add(svc, "patient", &p, 1, NULL, NULL, id));
	ck_refused(chs_record_set(svc, pat, &name, 1));
	ck_refused(chs_record_rm(svc, visit));
	ck_refused(chs_record_import(svc, "/dev/null", &count));
	ck_refused(chs_review_resolve(svc, pat, &name, 1, NULL));
	ck_refused(chs_record_confirm(svc, ids, 1, NULL, NULL));
	ck_refused(chs_record_confirmation(&cf, svc, visit));
	ck_refused(chs_record_list_unconfirmed(&l, svc, NULL));
	ck_refused(chs_review_list(&l, svc));
	/* coding and billing */
	ck_refused(chs_coding_send(svc, visit));
	ck_refused(chs_coding_queue(&q, svc));
	ck_refused(chs_coding_assign(&a, svc, visit, &co));
	ck_refused(chs_coding_done(svc, visit));
	ck_refused(chs_claims_export(svc, "2024-01-01", &csv, NULL));
	/* the reports */
	ck_refused(chs_report_access(&ar, svc, NULL));
	ck_refused(chs_report_consistency(&cr, svc, NULL));
	ck_refused(chs_export_fhir(svc, pat, NULL, stdout));
	/* where the clinic's work goes, and who is in the organisation */
	ck_refused(chs_remote_set(svc, "/srv/elsewhere.git"));
	ck_refused(chs_org_init(svc, NULL, NULL));
	/* and the writer itself, whoever calls it: an access event */
	{
		chs_change *c = NULL;
		chs_writer w;

		ck_assert_int_eq(chs_change_new(&c), 0);
		chs_random(c->record, 16);
		c->op = CHS_OP_CREATE;
		c->type = strdup(CHS_AUDIT_TYPE);
		ck_assert_int_eq(chs_change_set_string(c, "action", "show"), 0);
		ck_assert_int_eq(chs_records__writer_begin(&w, svc), 0);
		ck_refused(chs_records__writer_put(&w, c));
		chs_records__writer_abort(&w);
	}
	/* nothing written, and no access event either */
	ck_assert_int_eq(changes(svc), before);
	chs_store_free(svc);
	ck_assert_int_eq(changes(admin), before);
}
END_TEST

START_TEST(test_service_user__takes_in_a_scan_and_reads_the_status)
{
	char *file = tu_path(dir, "A-1001_page1.pdf"), *v = NULL, id[33];
	chs_record_list *l = NULL;
	chs_record *r = NULL;
	chs_status st;
	int64_t review = -1;
	chs_store *svc;
	size_t i;
	int found = 0;

	add_service();
	ck_assert_int_eq(tu_write(file, "%PDF-1.4 scanned page", 21), 0);
	svc = open_service();
	/* find the patient by the chart number, as the hot folder does
	 * (the unaudited view: the service sees who, never what) */
	ck_assert_int_eq(chs_record_query(&l, svc, "patient", NULL), 0);
	for (i = 0; i < chs_record_list_count(l); i++) {
		const char *mrn = chs_record_field(chs_record_list_get(l, i), "mrn");

		if (mrn && strcmp(mrn, "\"A-1001\"") == 0)
			found = 1;
	}
	chs_record_list_free(l);
	ck_assert_int_eq(found, 1);
	ck_assert_msg(chs_attach(svc, pat, file, NULL, "A-1001_page1.pdf", id) == 0, "%s",
		      chs_error_last());
	ck_assert_int_eq(chs_store_status(svc, &st), 0);
	ck_assert_int_eq(st.service, 1);
	ck_assert_int_eq(st.admin, 0);
	ck_assert_str_eq(st.user, "scanner");
	chs_status_dispose(&st);
	ck_assert_int_eq(chs_config_get(svc, "sync.interval", &v), 0);
	free(v);
	ck_assert_int_eq(chs_review_count(svc, &review), 0);
	ck_assert_int_eq(review, 0);
	chs_store_free(svc);

	/* signed and attributed to the service, at this terminal */
	ck_assert_msg(chs_access_show(&r, admin, id) == 0, "%s", chs_error_last());
	ck_assert_str_eq(chs_record_type(r), "attachment");
	chs_record_free(r);
	check_author(admin, id, "scanner", "front-desk");
	free(file);
}
END_TEST

/* The service user syncs the clinic's store; what it took in reaches the
 * organisation like any change. */
START_TEST(test_service_user__syncs_and_its_scan_reaches_another_site)
{
	char *top = NULL, *archive = NULL, *dirs[2], *file, *out, att[33], p[33];
	chs_edit e[] = { tu_edit("name", "Jo Park"), tu_edit("mrn", "B-7") };
	chs_store *st[2], *svc = NULL;
	chs_record *r = NULL;
	unsigned char *bytes;
	size_t len = 0;
	int fd;

	tu_org_setup(&top, &archive, tu_org_members, 2, st, dirs);
	ck_assert_int_eq(chs_record_add(st[1], "patient", e, 2, NULL, NULL, p), 0);
	ck_assert_int_eq(chs_store_user_add_service(st[1], "scanner", SERVICE_PW,
						    strlen(SERVICE_PW)), 0);
	file = tu_path(top, "B-7_scan.png");
	ck_assert_int_eq(tu_write(file, "\x89PNG scanned", 12), 0);
	ck_assert_int_eq(chs_store_open(&svc, dirs[1], "scanner", SERVICE_PW,
					strlen(SERVICE_PW)), 0);
	ck_assert_msg(chs_attach(svc, p, file, NULL, NULL, att) == 0, "%s", chs_error_last());
	tu_sync_ok(svc);
	ck_refused(chs_access_show(&r, svc, att));
	chs_store_free(svc);

	tu_sync_ok(st[0]);
	check_author(st[0], att, "scanner", tu_org_members[1].terminal);
	out = tu_path(top, "out.png");
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(chs_access_cat(st[0], att, fd) == 0, "%s", chs_error_last());
	close(fd);
	bytes = tu_read(out, &len);
	ck_assert_uint_eq(len, 12);
	ck_assert_int_eq(memcmp(bytes, "\x89PNG scanned", 12), 0);
	free(bytes);
	free(out);
	free(file);
	tu_org_teardown(&top, &archive, st, dirs, 2);
}
END_TEST

/* A store made before schema 5 gains the service flag of its users when
 * opened; its users stay people. */
START_TEST(test_service_user__a_schema_4_store_is_upgraded_on_open)
{
	chs_store *s = NULL;
	char *v = NULL;

	ck_assert_int_eq(chs_store__exec(admin, "ALTER TABLE users DROP COLUMN service;"
					 "UPDATE meta SET value = '4' WHERE key = 'schema'"), 0);
	chs_store_free(admin);
	admin = NULL;
	ck_assert_int_eq(chs_store_open(&s, dir, "maria", "pw", 2), 0);
	ck_assert_int_eq(chs_store_user_is_admin(s), 1);
	ck_assert_int_eq(chs_store_user_is_service(s), 0);
	ck_assert_int_eq(chs_store__get_text(s, "SELECT value FROM meta WHERE key = 'schema'",
					     NULL, &v), 0);
	ck_assert_int_eq(atoi(v), CHS_STORE_SCHEMA); /* the schema this code writes */
	free(v);
	admin = s;
	add_service();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("client_service_user");
	TCase *tc = tcase_create("service_user");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_service_user__an_admin_adds_one_and_it_is_never_an_admin);
	tcase_add_test(tc, test_service_user__only_an_admin_adds_one);
	tcase_add_test(tc, test_service_user__cannot_show_list_open_or_change_a_chart);
	tcase_add_test(tc, test_service_user__takes_in_a_scan_and_reads_the_status);
	tcase_add_test(tc, test_service_user__syncs_and_its_scan_reaches_another_site);
	tcase_add_test(tc, test_service_user__a_schema_4_store_is_upgraded_on_open);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
