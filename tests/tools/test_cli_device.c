/*
 * tools/: `chartsync device revoke` as an admin runs it for a machine that
 * is gone: the work the lost device delivered to the archive before it
 * was lost is kept, even when the admin's store had not synced since.
 */
#include "support/cli.h"
#include "support/testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef tu_result result;

#define run(r, ...) tu_cli_run(r, CHARTSYNC_BIN, __VA_ARGS__)
#define ck_status tu_ck_status

static char *dir, *top, *archive;

/* The admin's store (CHARTSYNC_STORE), its organisation and archive. */
static void setup(void)
{
	dir = tu_cli_setup("clinic pass");
	top = tu_tempdir();
	archive = tu_path(top, "archive.git");
	tu_cli_init_org(CHARTSYNC_BIN, archive);
}

static void teardown(void)
{
	tu_rmtree(dir);
	tu_rmtree(top);
	free(dir);
	free(top);
	free(archive);
}

/* A clinic's store in TOP/NAME, enrolled and synced once; its path and
 * its device id (`dev`, 33 bytes). */
static char *enrolled_clinic(const char *name, char *dev)
{
	static result r;
	static char line[sizeof(r.out)];
	char *d = tu_path(top, name), *nl;

	run(&r, "--store", d, "init", "--user", "tom", "--terminal", name, NULL);
	ck_status(r, 0);
	run(&r, "--store", d, "remote", archive, NULL);
	ck_status(r, 0);
	run(&r, "--store", d, "device", "request", NULL);
	ck_status(r, 0);
	snprintf(line, sizeof(line), "%s", r.out);
	if ((nl = strchr(line, '\n')))
		*nl = '\0';
	run(&r, "device", "enroll", line, "--site", "Clinic A", "--role", "clinic", NULL);
	ck_status(r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "enrolled device "));
	snprintf(dev, 33, "%.32s", strstr(r.out, "enrolled device ") + strlen("enrolled device "));
	run(&r, "--store", d, "sync", NULL);
	ck_status(r, 0);
	return d;
}

START_TEST(test_cli_device__revoke_keeps_what_the_lost_device_delivered)
{
	static result r;
	char dev[33], *clinic = enrolled_clinic("clinic-a", dev);

	/* the clinic types a chart and syncs it; then its disk dies. The
	 * admin's store has not synced since. */
	run(&r, "--store", clinic, "add", "patient", "name=Delivered Beforeloss", "mrn=A-7001",
	    NULL);
	ck_status(r, 0);
	run(&r, "--store", clinic, "sync", NULL);
	ck_status(r, 0);
	tu_rmtree(clinic);

	run(&r, "device", "revoke", dev, NULL);
	ck_status(r, 0);
	ck_assert_msg(strstr(r.out, "revoked device ") && !strstr(r.out, "after its batch 0"),
		      "%s", r.out);
	run(&r, "sync", NULL);
	ck_status(r, 0);
	run(&r, "ls", "patient", NULL);
	ck_status(r, 0);
	ck_assert_msg(strstr(r.out, "Delivered Beforeloss"), "%s", r.out);
	free(clinic);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools-cli-device");
	TCase *tc = tcase_create("device");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cli_device__revoke_keeps_what_the_lost_device_delivered);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
