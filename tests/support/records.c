/*
 * Records as the suites write and read them.
 */
#include "support/records.h"
#include "support/internal.h"
#include "support/testutil.h"

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

chs_edit tu_edit(const char *name, const char *value)
{
	chs_edit e = { name, value, 0, 0 };

	return e;
}

json_t *tu_json(char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	ck_assert_msg(j != NULL, "not JSON: %.200s", text);
	free(text);
	return j;
}

json_t *tu_show(chs_store *s, const char *id)
{
	char *text = NULL;

	ck_assert_msg(tu_show_json(s, id, &text) == 0, "%s", chs_error_last());
	return tu_json(text);
}

/* Format a record got with `err`, and free it. */
static int record_json(int err, chs_record *r, char **json)
{
	*json = NULL;
	if (err == 0)
		err = chs_json_record(json, r);
	chs_record_free(r);
	return err;
}

static int list_json(int err, chs_record_list *l, char **json)
{
	*json = NULL;
	if (err == 0)
		err = chs_json_record_list(json, l);
	chs_record_list_free(l);
	return err;
}

static int history_json(int err, chs_history *h, char **json)
{
	*json = NULL;
	if (err == 0)
		err = chs_json_history(json, h);
	chs_history_free(h);
	return err;
}

int tu_show_json(chs_store *s, const char *id, char **json)
{
	chs_record *r = NULL;

	int err = chs_record_lookup(&r, s, id);

	return record_json(err, r, json);
}

int tu_list_json(chs_store *s, const char *type, const char *patient, char **json)
{
	chs_record_list *l = NULL;

	int err = chs_record_query(&l, s, type, patient);

	return list_json(err, l, json);
}

int tu_log_json(chs_store *s, const char *id, char **json)
{
	chs_history *h = NULL;

	int err = chs_record_history(&h, s, id);

	return history_json(err, h, json);
}

int tu_review_json(chs_store *s, char **json)
{
	chs_record_list *l = NULL;

	int err = chs_review_list(&l, s);

	return list_json(err, l, json);
}

int tu_access_show_json(chs_store *s, const char *id, char **json)
{
	chs_record *r = NULL;

	int err = chs_access_show(&r, s, id);

	return record_json(err, r, json);
}

int tu_access_list_json(chs_store *s, const char *type, const char *patient,
			char **json)
{
	chs_record_list *l = NULL;

	int err = chs_access_list(&l, s, type, patient);

	return list_json(err, l, json);
}

int tu_access_log_json(chs_store *s, const char *id, char **json)
{
	chs_history *h = NULL;

	int err = chs_access_log(&h, s, id);

	return history_json(err, h, json);
}

int tu_unconfirmed_json(chs_store *s, const char *patient, char **json)
{
	chs_record_list *l = NULL;
	int err = chs_record_list_unconfirmed(&l, s, patient);

	*json = NULL;
	if (err == 0)
		err = chs_json_unconfirmed(json, l);
	chs_record_list_free(l);
	return err;
}

int tu_coding_queue_json(chs_store *s, char **json)
{
	chs_coding_list *q = NULL;
	int err = chs_coding_queue(&q, s);

	*json = NULL;
	if (err == 0)
		err = chs_json_coding_queue(json, q);
	chs_coding_list_free(q);
	return err;
}

int tu_coding_assign_json(chs_store *s, const char *visit,
			  const chs_coding_assign_opts *o, char **json)
{
	chs_coding_assignment *a = NULL;
	int err = chs_coding_assign(&a, s, visit, o);

	*json = NULL;
	if (err == 0)
		err = chs_json_coding_assignment(json, a);
	chs_coding_assignment_free(a);
	return err;
}

const char *tu_field(json_t *rec, const char *name)
{
	return json_string_value(json_object_get(json_object_get(rec, "fields"), name));
}

void tu_attach_scan(chs_store *s, const char *dir, const char *name, size_t size,
		    char id[33])
{
	chs_edit p[] = { tu_edit("name", name), tu_edit("dob", "1950-05-05"),
			 tu_edit("mrn", name) };
	unsigned char *bytes = malloc(size);
	char patient[33], *path = tu_path(dir, name);
	size_t k;

	ck_assert_ptr_nonnull(bytes);
	for (k = 0; k < size; k++)
		bytes[k] = (unsigned char)(k * 7 + (unsigned char)name[0]);
	ck_assert_int_eq(tu_write(path, bytes, size), 0);
	ck_assert_msg(chs_record_add(s, "patient", p, 3, NULL, NULL, patient) == 0, "%s",
		      chs_error_last());
	ck_assert_msg(chs_attach(s, patient, path, NULL, name, id) == 0, "%s",
		      chs_error_last());
	free(bytes);
	free(path);
}

int tu_attachment_readable(chs_store *s, const char *id)
{
	int fd = open("/dev/null", O_WRONLY), err;

	ck_assert_int_ge(fd, 0);
	err = chs_attachment_cat(s, id, fd);
	close(fd);
	return err == 0;
}
