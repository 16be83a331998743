/*
 * client/service: the hot folder. Scans taken into a real store from real
 * files (scan.c), and the folder watched by a real libuv loop while files
 * are written into it (hotfolder.c).
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *dir, *folder;
static chs_store *store;
static char patient[33], other[33];

static const unsigned char pdf[] = "%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";
static const unsigned char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR some pixels";
static const unsigned char jpeg[] = "\xff\xd8\xff\xe0\0\x10JFIF\0 a page";
static const unsigned char tiff[] = "II*\0\x08\0\0\0 a tiff page";

static void setup(void)
{
	chs_edit ada[] = { tu_edit("name", "Ada Lovelace"), tu_edit("mrn", "A-1001") };
	chs_edit bob[] = { tu_edit("name", "Bob Babbage"), tu_edit("mrn", "B-2002") };

	ck_assert_int_eq(chs_crypto_init(), 0);
	store = tu_store_temp("scanner", "front-desk", &dir);
	folder = tu_path(dir, "scans");
	ck_assert_int_eq(mkdir(folder, 0700), 0);
	ck_assert_msg(chs_record_add(store, "patient", ada, 2, NULL, NULL, patient) == 0, "%s",
		      chs_error_last());
	ck_assert_msg(chs_record_add(store, "patient", bob, 2, NULL, NULL, other) == 0, "%s",
		      chs_error_last());
}

static void teardown(void)
{
	chs_store_free(store);
	tu_rmtree(dir);
	free(dir);
	free(folder);
}

static char *in(const char *sub, const char *name)
{
	char *d = sub ? tu_path(folder, sub) : tu_path(folder, "."), *p = tu_path(d, name);

	free(d);
	return p;
}

static void drop(const char *name, const void *data, size_t len)
{
	char *p = in(NULL, name);

	ck_assert_int_eq(tu_write(p, data, len), 0);
	free(p);
}

static int present(const char *sub, const char *name)
{
	char *p = in(sub, name);
	int rc = access(p, F_OK) == 0;

	free(p);
	return rc;
}

static void take(const char *name, int keep, chs_scan_outcome *o)
{
	chs_service__scan_take(store, folder, name, keep, o);
}

/* The patient's attachments, as the store lists them. */
static size_t attachments(const char *who)
{
	chs_record_list *l = NULL;
	size_t n;

	ck_assert_msg(chs_record_query(&l, store, "attachment", who) == 0, "%s",
		      chs_error_last());
	n = chs_record_list_count(l);
	chs_record_list_free(l);
	return n;
}

/* `chartsync cat`'s bytes of attachment `id`. */
static unsigned char *cat(const char *id, size_t *len)
{
	char *p = tu_path(dir, "cat.out");
	unsigned char *bytes;
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_msg(chs_attachment_cat(store, id, fd) == 0, "%s", chs_error_last());
	close(fd);
	bytes = tu_read(p, len);
	free(p);
	return bytes;
}

static char *reason_of(const char *name)
{
	char file[512];
	char *p, *text;
	size_t len;

	snprintf(file, sizeof(file), "%s.reason", name);
	p = in("unmatched", file);
	text = (char *)tu_read(p, &len);
	free(p);
	ck_assert_msg(text != NULL, "no reason beside unmatched/%s", name);
	return text;
}

START_TEST(test_scan__by_chart_number_attached_titled_and_moved_to_done)
{
	chs_scan_outcome o;
	chs_record *r = NULL;
	unsigned char *back;
	size_t len;

	drop("A-1001_referral letter.pdf", pdf, sizeof(pdf) - 1);
	take("A-1001_referral letter.pdf", 1, &o);
	ck_assert_msg(o.status == 0, "%s", o.reason);
	ck_assert_str_eq(o.where, "done");
	ck_assert_str_eq(o.patient, patient);
	ck_assert_int_eq(o.duplicate, 0);
	ck_assert(!present(NULL, "A-1001_referral letter.pdf"));
	ck_assert(present("done", "A-1001_referral letter.pdf"));

	ck_assert_int_eq(chs_record_lookup(&r, store, o.record), 0);
	ck_assert_str_eq(chs_record_type(r), "attachment");
	ck_assert_str_eq(chs_record_field(r, "title"), "\"A-1001_referral letter.pdf\"");
	ck_assert_str_eq(chs_record_field(r, "mime"), "\"application/pdf\"");
	chs_record_free(r);
	ck_assert_int_eq(attachments(patient), 1);
	ck_assert_int_eq(attachments(other), 0);

	back = cat(o.record, &len);
	ck_assert_uint_eq(len, sizeof(pdf) - 1);
	ck_assert(memcmp(back, pdf, len) == 0);
	free(back);
}
END_TEST

START_TEST(test_scan__chart_number_matched_as_the_store_normalises_it)
{
	chs_scan_outcome o;

	/* a scanner's U+2010 hyphen is the chart number's '-' */
	drop("A\xe2\x80\x90" "1001_lab.PNG", png, sizeof(png) - 1);
	take("A\xe2\x80\x90" "1001_lab.PNG", 1, &o);
	ck_assert_msg(o.status == 0, "%s", o.reason);
	ck_assert_str_eq(o.patient, patient);
}
END_TEST

START_TEST(test_scan__by_record_id_prefix)
{
	chs_scan_outcome o;
	char name[64];

	snprintf(name, sizeof(name), "%.6s_xray.jpeg", other);
	drop(name, jpeg, sizeof(jpeg) - 1);
	take(name, 1, &o);
	ck_assert_msg(o.status == 0, "%s", o.reason);
	ck_assert_str_eq(o.patient, other);
	ck_assert_int_eq(attachments(other), 1);

	/* a prefix of a record that is not a patient goes to unmatched/ */
	snprintf(name, sizeof(name), "%.8s_page.tif", o.record);
	drop(name, tiff, sizeof(tiff) - 1);
	take(name, 1, &o);
	ck_assert_str_eq(o.where, "unmatched");
	ck_assert_msg(strstr(o.reason, "not a patient"), "%s", o.reason);
}
END_TEST

START_TEST(test_scan__same_bytes_attached_once)
{
	chs_scan_outcome a, b;
	char first[33];

	drop("A-1001_page1.pdf", pdf, sizeof(pdf) - 1);
	take("A-1001_page1.pdf", 1, &a);
	ck_assert_msg(a.status == 0, "%s", a.reason);
	memcpy(first, a.record, 33);
	/* the scanner sends the same page again, under another name */
	drop("A-1001_page1 again.pdf", pdf, sizeof(pdf) - 1);
	take("A-1001_page1 again.pdf", 1, &b);
	ck_assert_msg(b.status == 0, "%s", b.reason);
	ck_assert_int_eq(b.duplicate, 1);
	ck_assert_str_eq(b.record, first);
	ck_assert_str_eq(b.where, "done");
	ck_assert(present("done", "A-1001_page1 again.pdf"));
	ck_assert_int_eq(attachments(patient), 1);
}
END_TEST

START_TEST(test_scan__unknown_chart_number_goes_to_unmatched_with_reason)
{
	chs_scan_outcome o;
	char *why;

	drop("A-1099_referral.pdf", pdf, sizeof(pdf) - 1);
	take("A-1099_referral.pdf", 1, &o);
	ck_assert_int_ne(o.status, 0);
	ck_assert_str_eq(o.where, "unmatched");
	ck_assert(!present(NULL, "A-1099_referral.pdf"));
	ck_assert(present("unmatched", "A-1099_referral.pdf"));
	why = reason_of("A-1099_referral.pdf");
	ck_assert_str_eq(why, "no patient has chart number A-1099 in this store\n");
	free(why);
	ck_assert_int_eq(attachments(patient) + attachments(other), 0);
}
END_TEST

START_TEST(test_scan__wrong_content_or_name_goes_to_unmatched)
{
	chs_scan_outcome o;
	char *why;

	drop("A-1001_letter.pdf", png, sizeof(png) - 1);
	take("A-1001_letter.pdf", 1, &o);
	ck_assert_str_eq(o.where, "unmatched");
	why = reason_of("A-1001_letter.pdf");
	ck_assert_msg(strstr(why, "not a PDF although its name ends .pdf"), "%s", why);
	free(why);

	drop("A-1001_notes.docx", pdf, sizeof(pdf) - 1);
	take("A-1001_notes.docx", 1, &o);
	ck_assert_str_eq(o.where, "unmatched");

	drop("referral.pdf", pdf, sizeof(pdf) - 1);
	take("referral.pdf", 1, &o);
	ck_assert_str_eq(o.where, "unmatched");
	ck_assert_msg(strstr(o.reason, "A-1001_referral.pdf"), "%s", o.reason);

	drop("A-1001_empty.pdf", "", 0);
	take("A-1001_empty.pdf", 1, &o);
	ck_assert_str_eq(o.where, "unmatched");
	ck_assert_msg(strstr(o.reason, "empty"), "%s", o.reason);

	/* a name from outside with a control character in it */
	drop("A-1001_\x1b[2Jpage.pdf", pdf, sizeof(pdf) - 1);
	take("A-1001_\x1b[2Jpage.pdf", 1, &o);
	ck_assert_str_eq(o.where, "unmatched");
	ck_assert_msg(strstr(o.reason, "U+001B"), "%s", o.reason);
	ck_assert_int_eq(attachments(patient), 0);
}
END_TEST

START_TEST(test_scan__keep_false_removes_the_file)
{
	chs_scan_outcome o;

	drop("A-1001_consent.pdf", pdf, sizeof(pdf) - 1);
	take("A-1001_consent.pdf", 0, &o);
	ck_assert_msg(o.status == 0, "%s", o.reason);
	ck_assert_str_eq(o.where, "removed");
	ck_assert(!present(NULL, "A-1001_consent.pdf"));
	ck_assert(!present("done", "A-1001_consent.pdf"));
	ck_assert_int_eq(attachments(patient), 1);
}
END_TEST

START_TEST(test_scan__name_clash_in_done_and_unmatched_never_overwrites)
{
	static const unsigned char pdf2[] = "%PDF-1.7\nanother page\n";
	chs_scan_outcome o;
	unsigned char *kept;
	size_t len;
	char *p;

	drop("A-1001_page.pdf", pdf, sizeof(pdf) - 1);
	take("A-1001_page.pdf", 1, &o);
	ck_assert_msg(o.status == 0, "%s", o.reason);
	drop("A-1001_page.pdf", pdf2, sizeof(pdf2) - 1);
	take("A-1001_page.pdf", 1, &o);
	ck_assert_msg(o.status == 0, "%s", o.reason);
	ck_assert_int_eq(o.duplicate, 0);
	ck_assert(present("done", "A-1001_page (2).pdf"));
	p = in("done", "A-1001_page.pdf");
	kept = tu_read(p, &len);
	ck_assert_uint_eq(len, sizeof(pdf) - 1);
	ck_assert(memcmp(kept, pdf, len) == 0);
	free(kept);
	free(p);
	ck_assert_int_eq(attachments(patient), 2);

	drop("Z-1_x.pdf", pdf, sizeof(pdf) - 1);
	take("Z-1_x.pdf", 1, &o);
	drop("Z-1_x.pdf", pdf2, sizeof(pdf2) - 1);
	take("Z-1_x.pdf", 1, &o);
	ck_assert_str_eq(o.where, "unmatched");
	ck_assert(present("unmatched", "Z-1_x.pdf"));
	ck_assert(present("unmatched", "Z-1_x (2).pdf"));
	ck_assert(present("unmatched", "Z-1_x (2).pdf.reason"));
}
END_TEST

START_TEST(test_scan__file_gone_is_left_alone)
{
	chs_scan_outcome o;

	take("A-1001_taken away.pdf", 1, &o);
	ck_assert_int_eq(o.status, CHS_ENOTFOUND);
	ck_assert_ptr_null(o.where);
	ck_assert(!present("unmatched", "A-1001_taken away.pdf"));
	ck_assert_int_eq(attachments(patient), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The watcher, on a real loop                                          */

#define SETTLE_MS 500
#define PIECE_MS 60
#define PIECES 12 /* 720 ms of writing: longer than SETTLE_MS */

typedef struct watch {
	uv_loop_t loop;
	uv_timer_t step;
	chs_hotfolder *h;
	chs_log log;
	char names[16][64];   /* ready() calls, in order */
	int n;
} watch;

static void on_ready(chs_hotfolder *h, const char *name, void *payload)
{
	watch *w = payload;

	(void)h;
	if (w->n < 16)
		snprintf(w->names[w->n], sizeof(w->names[0]), "%s", name);
	w->n++;
}

static int readied(const watch *w, const char *name)
{
	int i, k = 0;

	for (i = 0; i < w->n && i < 16; i++)
		k += strcmp(w->names[i], name) == 0;
	return k;
}

static void start_watch(watch *w, uint64_t rescan_ms)
{
	chs_hotfolder_opts o = { folder, SETTLE_MS, rescan_ms, &w->log, on_ready, w };

	memset(w, 0, sizeof(*w));
	w->log.fd = open("/dev/null", O_WRONLY);
	ck_assert_int_eq(uv_loop_init(&w->loop), 0);
	ck_assert_int_eq(uv_timer_init(&w->loop, &w->step), 0);
	ck_assert_msg(chs_service__hotfolder_start(&w->h, &w->loop, &o) == 0, "%s",
		      chs_error_last());
}

static void end_watch(watch *w)
{
	chs_service__hotfolder_stop(w->h);
	uv_close((uv_handle_t *)&w->step, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT); /* the handles' close callbacks */
	ck_assert_int_eq(uv_loop_close(&w->loop), 0);
	close(w->log.fd);
}

static void stop_loop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Let the loop run for `ms` (files are written between runs: inotify
 * keeps their events until the loop reads them). */
static void run_for(watch *w, uint64_t ms)
{
	uv_update_time(&w->loop);
	uv_timer_start(&w->step, stop_loop, ms, 0);
	uv_run(&w->loop, UV_RUN_DEFAULT);
}

START_TEST(test_hotfolder__complete_files_ready_once_ignored_names_left)
{
	static const char *const ignored[] = { ".scanner-state.pdf", "A-1001_a.pdf.tmp",
					       "A-1001_b.pdf.part", "A-1001_c.PART" };
	watch w;
	char *p, *from, *sub;
	int fd, i;

	drop("A-1001_before.pdf", pdf, sizeof(pdf) - 1); /* there before the service */
	for (i = 0; i < 4; i++)
		drop(ignored[i], pdf, sizeof(pdf) - 1);
	sub = tu_path(folder, "A-1001_folder.pdf");
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	start_watch(&w, 200);
	ck_assert(present(NULL, "done") && present(NULL, "unmatched"));

	drop("A-1001_onestep.pdf", pdf, sizeof(pdf) - 1);
	/* the scanner writes under a hidden name, then renames (IN_MOVED_TO) */
	drop(".A-1001_moved.pdf", pdf, sizeof(pdf) - 1);
	from = in(NULL, ".A-1001_moved.pdf");
	p = in(NULL, "A-1001_moved.pdf");
	ck_assert_int_eq(rename(from, p), 0);
	free(p);
	free(from);
	/* a page written in slow pieces, longer in all than the settle time */
	p = in(NULL, "A-1001_slow.pdf");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < PIECES; i++) {
		ck_assert_int_eq(write(fd, pdf, 4), 4);
		run_for(&w, PIECE_MS);
		ck_assert_msg(readied(&w, "A-1001_slow.pdf") == 0,
			      "taken after %d of %d pieces", i + 1, PIECES);
	}
	close(fd);
	free(p);
	ck_assert_int_eq(readied(&w, "A-1001_slow.pdf"), 0);
	run_for(&w, SETTLE_MS * 3);

	ck_assert_int_eq(readied(&w, "A-1001_before.pdf"), 1);
	ck_assert_int_eq(readied(&w, "A-1001_onestep.pdf"), 1);
	ck_assert_int_eq(readied(&w, "A-1001_moved.pdf"), 1);
	ck_assert_int_eq(readied(&w, "A-1001_slow.pdf"), 1);
	ck_assert_int_eq(w.n, 4);
	ck_assert_uint_eq(chs_service__hotfolder_pending(w.h), 4);

	/* not handed again while the daemon works on them (rescans meanwhile) */
	run_for(&w, SETTLE_MS * 2);
	ck_assert_int_eq(w.n, 4);

	/* dealt with (moved away): forgotten; left in place to retry: handed again */
	p = in(NULL, "A-1001_before.pdf");
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	chs_service__hotfolder_done(w.h, "A-1001_before.pdf", 0);
	chs_service__hotfolder_done(w.h, "A-1001_onestep.pdf", 1);
	ck_assert_uint_eq(chs_service__hotfolder_pending(w.h), 3);
	/* after its retry wait (a second, then doubling) and a settle; the
	 * sweep that sees it runs on the threadpool: wait for it, up to 10 s */
	for (i = 0; i < 40 && readied(&w, "A-1001_onestep.pdf") < 2; i++)
		run_for(&w, 250);
	ck_assert_int_eq(readied(&w, "A-1001_onestep.pdf"), 2);
	ck_assert_int_eq(w.n, 5);
	end_watch(&w);
	free(sub);
}
END_TEST

/* The watcher and the taker together, as the daemon uses them. */
static void take_at_once(chs_hotfolder *h, const char *name, void *payload)
{
	watch *w = payload;
	chs_scan_outcome o;

	on_ready(h, name, payload);
	take(name, 1, &o);
	ck_assert_msg(o.where != NULL, "%s", o.reason);
	chs_service__hotfolder_done(h, name, 0);
	(void)w;
}

START_TEST(test_hotfolder__files_taken_end_to_end)
{
	chs_hotfolder_opts o = { NULL, SETTLE_MS, 0, NULL, take_at_once, NULL };
	watch w;
	char *why;

	drop("A-1001_first.pdf", pdf, sizeof(pdf) - 1);
	memset(&w, 0, sizeof(w));
	w.log.fd = open("/dev/null", O_WRONLY);
	o.folder = folder;
	o.log = &w.log;
	o.payload = &w;
	ck_assert_int_eq(uv_loop_init(&w.loop), 0);
	ck_assert_int_eq(uv_timer_init(&w.loop, &w.step), 0);
	ck_assert_msg(chs_service__hotfolder_start(&w.h, &w.loop, &o) == 0, "%s",
		      chs_error_last());
	drop("A-1099_second.pdf", pdf, sizeof(pdf) - 1);
	run_for(&w, SETTLE_MS * 3);
	ck_assert_int_eq(w.n, 2);
	ck_assert_uint_eq(chs_service__hotfolder_pending(w.h), 0);
	ck_assert(present("done", "A-1001_first.pdf"));
	ck_assert(present("unmatched", "A-1099_second.pdf"));
	why = reason_of("A-1099_second.pdf");
	ck_assert_str_eq(why, "no patient has chart number A-1099 in this store\n");
	free(why);
	/* done/ and unmatched/ are not watched: nothing is taken twice */
	run_for(&w, SETTLE_MS * 2);
	ck_assert_int_eq(w.n, 2);
	ck_assert_int_eq(attachments(patient), 1);
	end_watch(&w);
}
END_TEST

START_TEST(test_hotfolder__missing_folder_refused)
{
	chs_hotfolder_opts o = { "/nonexistent/scans", SETTLE_MS, 0, NULL, on_ready, NULL };
	chs_hotfolder *h = (chs_hotfolder *)&o;
	chs_log log = { -1, 0 };
	uv_loop_t loop;

	o.log = &log;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(chs_service__hotfolder_start(&h, &loop, &o), CHS_EIO);
	ck_assert_ptr_null(h);
	ck_assert_msg(strstr(chs_error_last(), "/nonexistent/scans"), "%s", chs_error_last());
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(test_hotfolder__file_names_escaped_in_the_log)
{
	chs_hotfolder_opts o = { NULL, SETTLE_MS, 0, NULL, on_ready, NULL };
	char *logpath = tu_path(dir, "service.log");
	unsigned char *text;
	size_t len;
	watch w;

	memset(&w, 0, sizeof(w));
	w.log.fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(w.log.fd, 0);
	o.folder = folder;
	o.log = &w.log;
	o.payload = &w;
	ck_assert_int_eq(uv_loop_init(&w.loop), 0);
	ck_assert_int_eq(uv_timer_init(&w.loop, &w.step), 0);
	ck_assert_msg(chs_service__hotfolder_start(&w.h, &w.loop, &o) == 0, "%s",
		      chs_error_last());
	drop("A-1001_\x1b]0;owned\x07.pdf", pdf, sizeof(pdf) - 1);
	run_for(&w, SETTLE_MS * 3);
	ck_assert_int_eq(w.n, 1);
	end_watch(&w);
	text = tu_read(logpath, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(!memchr(text, 0x1b, len) && !memchr(text, 0x07, len),
		      "a control character from a file name reached the log");
	ck_assert_msg(strstr((char *)text, "A-1001_\\x1b]0;owned\\x07.pdf: complete"), "%s",
		      (char *)text);
	free(text);
	free(logpath);
}
END_TEST

/* What an archive or a file name says reaches JSON, the log and systemd's
 * status line as one line of valid UTF-8, cut on a character boundary:
 * jansson refuses anything else (a reply or a log line would be lost),
 * and a newline would start a new systemd assignment. */
START_TEST(test_service__text_cleaned_for_json_and_status_lines)
{
	char out[16], big[64];
	chs_log log;
	char *logpath = tu_path(dir, "json.log");
	unsigned char *text;
	size_t len;

	chs_service__clean(big, sizeof(big), "remote: x\nSTOPPING=1 \xff\xfe");
	ck_assert_ptr_null(strchr(big, '\n'));
	ck_assert_str_eq(big, "remote: x\\x0aSTOPPING=1 \\xff\\xfe");
	/* "é" is two bytes: never half of one at the cut */
	chs_service__clean(out, sizeof(out), "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	ck_assert_str_eq(out, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	/* a JSON log line for a name that is not UTF-8 is still written */
	log.fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	log.json = 1;
	ck_assert_int_ge(log.fd, 0);
	chs_service__log(&log, "scan", "%s: not taken", "A-1\xff_x.pdf");
	close(log.fd);
	text = tu_read(logpath, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr((char *)text, "\"message\":\"A-1\\\\xff_x.pdf: not taken\""), "%s",
		      (char *)text);
	free(text);
	free(logpath);
}
END_TEST

/* inotify's queue overflows (a burst the loop did not read in time): the
 * events lost are made up for by reading the whole folder. */
START_TEST(test_hotfolder__queue_overflow_reads_the_folder_again)
{
	watch w;
	char *a = in(NULL, "A-1001_a.pdf"), *b = in(NULL, "A-1001_b.pdf");
	long i, max = 16384;
	int fa, fb;
	FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");

	if (f) {
		ck_assert_int_eq(fscanf(f, "%ld", &max), 1);
		fclose(f);
	}
	start_watch(&w, 0); /* no periodic rescan: only the overflow can find it */
	fa = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fb = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert(fa >= 0 && fb >= 0);
	/* alternate, so the kernel cannot fold the events into one */
	for (i = 0; i < max / 2 + 10; i++) {
		ck_assert_int_eq(write(fa, "x", 1), 1);
		ck_assert_int_eq(write(fb, "x", 1), 1);
	}
	close(fa);
	close(fb);
	drop("A-1001_late.pdf", pdf, sizeof(pdf) - 1); /* its events are lost */
	run_for(&w, SETTLE_MS * 3);
	ck_assert_int_eq(readied(&w, "A-1001_late.pdf"), 1);
	end_watch(&w);
	free(a);
	free(b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("service_scan");
	TCase *t = tcase_create("scan");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_scan__by_chart_number_attached_titled_and_moved_to_done);
	tcase_add_test(t, test_scan__chart_number_matched_as_the_store_normalises_it);
	tcase_add_test(t, test_scan__by_record_id_prefix);
	tcase_add_test(t, test_scan__same_bytes_attached_once);
	tcase_add_test(t, test_scan__unknown_chart_number_goes_to_unmatched_with_reason);
	tcase_add_test(t, test_scan__wrong_content_or_name_goes_to_unmatched);
	tcase_add_test(t, test_scan__keep_false_removes_the_file);
	tcase_add_test(t, test_scan__name_clash_in_done_and_unmatched_never_overwrites);
	tcase_add_test(t, test_scan__file_gone_is_left_alone);
	tcase_add_test(t, test_hotfolder__complete_files_ready_once_ignored_names_left);
	tcase_add_test(t, test_hotfolder__files_taken_end_to_end);
	tcase_add_test(t, test_hotfolder__missing_folder_refused);
	tcase_add_test(t, test_hotfolder__file_names_escaped_in_the_log);
	tcase_add_test(t, test_hotfolder__queue_overflow_reads_the_folder_again);
	tcase_add_test(t, test_service__text_cleaned_for_json_and_status_lines);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
