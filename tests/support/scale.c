/*
 * tests/support/scale.c - a store full of other charts, and the SQLite
 * steps a call costs.
 */
#include "support/scale.h"
#include "support/internal.h"
#include "support/testutil.h"

#include <check.h>
#include <stdlib.h>

void tu_import_others(chs_store *s, const char *tmpdir, int n)
{
	char *path = tu_path(tmpdir, "others.jsonl");
	int64_t count = 0;
	chs_buf b;
	int i;

	chs_buf_init(&b, 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(chs_buf_printf(&b, "{\"type\":\"patient\",\"fields\":"
						"{\"name\":\"Other %d\",\"mrn\":\"O-%d\"}}\n", i, i), 0);
	ck_assert_int_eq(tu_write(path, b.ptr, b.len), 0);
	ck_assert_msg(chs_record_import(s, path, &count) == 0, "%s", chs_error_last());
	ck_assert_int_eq(count, n);
	chs_buf_dispose(&b);
	free(path);
}

static int count_step(void *thousands)
{
	(*(long *)thousands)++;
	return 0;
}

void tu_steps_begin(chs_store *s, long *thousands)
{
	*thousands = 0;
	sqlite3_progress_handler(s->db, 1000, count_step, thousands);
}

void tu_steps_end(chs_store *s)
{
	sqlite3_progress_handler(s->db, 0, NULL, NULL);
}
