/*
 * Users: each technician opens the store with their own passphrase, so
 * the access report can say who really looked at a chart.
 *
 * Membership and the admin role live in the encrypted `users` table; the
 * key slot only lets its owner unwrap the store key. Adding writes the
 * slot first (a slot without a row opens nothing); removing deletes the
 * row first (the user is refused from that moment), then the slot.
 *
 * A service user is the sign-in of a program that runs unattended (the
 * clinic's daemon): its passphrase sits in a file, so whoever reads that
 * file is that user. It may sync, take in scans and read the store's
 * status and settings, never an admin's work, and never see or change a
 * chart: the modules that show or write charts ask
 * chs_store__refuse_service() first.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

int chs_store__check_user_name(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0)
		return chs_error_set(CHS_EINVALID, "the user name is empty");
	if (len > CHS_USER_NAME_MAX)
		return chs_error_set(CHS_EINVALID,
				     "user name '%.20s...' is too long (at most %d characters)",
				     name, CHS_USER_NAME_MAX);
	for (i = 0; i < len; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (i > 0 && strchr("._-", c)))
			continue;
		return chs_error_set(CHS_EINVALID,
				     "user name '%s' is not allowed (use letters, digits, '.', '_' and '-', starting with a letter or digit)",
				     name);
	}
	return 0;
}

int chs_store__refuse_service(const chs_store *s)
{
	if (!s->service)
		return 0;
	return chs_error_set(CHS_EDENIED,
			     "'%s' is a service user: it syncs and takes in scans, and cannot read"
			     " or change charts; sign in as a person", s->user);
}

static int require_admin(chs_store *s, const char *what)
{
	if (s->admin)
		return 0;
	return chs_error_set(CHS_EDENIED, "only an admin can %s; '%s' is not an admin",
			     what, s->user);
}

int chs_store__slot_set(chs_store *s, const char *user, const char *pass,
			size_t passlen)
{
	chs_slot_file sf;
	chs_slot slot;
	int err;

	if (!pass || passlen == 0)
		return chs_error_set(CHS_EINVALID, "the passphrase is empty");
	if ((err = chs_slot_wrap(&slot, s->key, s->store_id, user, pass,
				 passlen, &s->kdf)) < 0)
		return err;
	if ((err = chs_store__lock(s)) < 0)
		return err;
	if ((err = chs_store__slots_read(&sf, s->slots_path)) == 0) {
		if ((err = chs_store__slots_put(&sf, user, &slot)) == 0)
			err = chs_store__slots_write(&sf, s->slots_path);
		chs_store__slots_dispose(&sf);
	}
	chs_store__unlock(s);
	return err;
}

static int user_exists(chs_store *s, const char *name, int *admin)
{
	char *v = NULL;
	int err = chs_store__get_text(s, "SELECT admin FROM users WHERE name = ?",
				      name, &v);

	if (err == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	if (admin)
		*admin = strcmp(v, "0") != 0;
	free(v);
	return 1;
}

static int insert_user(chs_store *s, const char *name, int admin, int service)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "INSERT INTO users(name, admin, created, service) VALUES (?, ?, ?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, name)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 2, admin ? 1 : 0)) < 0 ||
	    (err = chs_store__bind_int64(s, st, 3, chs_util__now())) < 0 ||
	    (err = chs_store__bind_int64(s, st, 4, service ? 1 : 0)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "adding the user");
}

static int add_user(chs_store *s, const char *name, int admin, int service,
		    const char *pass, size_t passlen)
{
	int err;

	if ((err = require_admin(s, "add users")) < 0 ||
	    (err = chs_store__check_user_name(name)) < 0)
		return err;
	if (!pass || passlen == 0)
		return chs_error_set(CHS_EINVALID, "the passphrase is empty");
	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = user_exists(s, name, NULL)) != 0) {
		if (err > 0)
			err = chs_error_set(CHS_EEXISTS,
					    "there is already a user '%s'", name);
		goto fail;
	}
	/* The slot first, then the row, both inside the writer lock. */
	if ((err = chs_store__slot_set(s, name, pass, passlen)) < 0 ||
	    (err = insert_user(s, name, admin, service)) < 0)
		goto fail;
	return chs_store__commit(s);
fail:
	chs_store__rollback(s);
	return err;
}

int chs_store_user_add(chs_store *s, const char *name, int admin,
		       const char *pass, size_t passlen)
{
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(name);
	CHS_ASSERT_ARG(pass || passlen == 0);

	return add_user(s, name, admin, 0, pass, passlen);
}

int chs_store_user_add_service(chs_store *s, const char *name, const char *pass,
			       size_t passlen)
{
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(name);
	CHS_ASSERT_ARG(pass || passlen == 0);

	return add_user(s, name, 0, 1, pass, passlen);
}

static int count_admins(chs_store *s, int64_t *n)
{
	return chs_store__get_int(s, "SELECT count(*) FROM users WHERE admin", n);
}

static int delete_user(chs_store *s, const char *name)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "DELETE FROM users WHERE name = ?")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, name)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "removing the user");
}

static int remove_slot(chs_store *s, const char *name)
{
	chs_slot_file sf;
	int err;

	if ((err = chs_store__slots_read(&sf, s->slots_path)) < 0)
		return err;
	chs_store__slots_remove(&sf, name);
	err = chs_store__slots_write(&sf, s->slots_path);
	chs_store__slots_dispose(&sf);
	return err;
}

int chs_store_user_rm(chs_store *s, const char *name)
{
	int64_t admins = 0;
	int admin = 0, err;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(name);

	if ((err = require_admin(s, "remove users")) < 0)
		return err;
	if ((err = chs_store__begin(s)) < 0)
		return err;
	if ((err = user_exists(s, name, &admin)) <= 0) {
		if (err == 0)
			err = chs_error_set(CHS_ENOTFOUND, "there is no user '%s'", name);
		goto fail;
	}
	if ((err = count_admins(s, &admins)) < 0)
		goto fail;
	if (admin && admins <= 1) {
		err = chs_error_set(CHS_EDENIED,
				    "'%s' is the last admin and cannot be removed; make another admin first",
				    name);
		goto fail;
	}
	if ((err = delete_user(s, name)) < 0)
		goto fail;
	if ((err = chs_store__commit(s)) < 0)
		return err;
	/* The row is gone, so the user is already refused; the slot goes
	 * next, under the lock so no other writer rewrites the file. */
	if ((err = chs_store__lock(s)) < 0)
		return err;
	err = remove_slot(s, name);
	chs_store__unlock(s);
	return err;
fail:
	chs_store__rollback(s);
	return err;
}

int chs_store_user_list(chs_store *s, chs_user **out, size_t *count)
{
	sqlite3_stmt *st = NULL;
	chs_user *users = NULL;
	size_t n = 0, cap = 0;
	int err, rc;

	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(count);

	*out = NULL;
	*count = 0;
	if ((err = chs_store__prepare(s, &st,
		     "SELECT name, admin, created, service FROM users ORDER BY name")) < 0)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (CHS_ARRAY_GROW(users, cap, n + 1) < 0)
			goto nomem;
		users[n].name = chs_util__strdup((const char *)sqlite3_column_text(st, 0));
		if (!users[n].name)
			goto nomem;
		users[n].admin = sqlite3_column_int(st, 1);
		users[n].created = sqlite3_column_int64(st, 2);
		users[n].service = sqlite3_column_int(st, 3);
		if (users[n].service)
			users[n].admin = 0;
		n++;
	}
	chs_store__finish(s, st);
	if (rc != SQLITE_DONE) {
		chs_user_list_free(users, n);
		return chs_store__sqlerr(s, rc, "listing users");
	}
	*out = users;
	*count = n;
	return 0;
nomem:
	chs_store__finish(s, st);
	chs_user_list_free(users, n);
	return chs_error_set(CHS_ENOMEM, "out of memory");
}

void chs_user_list_free(chs_user *users, size_t count)
{
	size_t i;

	for (i = 0; i < count && users; i++)
		free(users[i].name);
	free(users);
}

int chs_store_passwd(chs_store *s, const char *pass, size_t passlen)
{
	CHS_ASSERT_ARG(s);
	CHS_ASSERT_ARG(pass || passlen == 0);

	return chs_store__slot_set(s, s->user, pass, passlen);
}
