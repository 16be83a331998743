/*
 * The organisation as this store knows it: the organisation and admin key
 * it pinned, the rosters it accepted (newest last), and what the newest
 * says of a device (this device's role, cached; a device's site). The
 * writer, the reports and sync read these; only sync and the admin's
 * commands write them.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

static int not_in_org(chs_store *s)
{
	return chs_error_set(CHS_ENOTFOUND,
			     "the store '%s' is not part of an organisation yet: the admin runs"
			     " 'chartsync org init', other stores 'chartsync remote URL' and"
			     " 'chartsync sync' once the admin has enrolled them", s->dir);
}

int chs_store__roster_load(chs_store *s, chs_roster **out, char oid[41])
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*out = NULL;
	if (oid)
		oid[0] = '\0';
	if ((err = chs_store__prepare(s, &st,
		     "SELECT body, signature, oid FROM rosters ORDER BY seq DESC LIMIT 1")) < 0)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 1) != CHS_SIGNATURE_BYTES)
			err = chs_error_set(CHS_EDAMAGED, "the store's roster is damaged");
		else
			err = chs_roster_parse(out, sqlite3_column_blob(st, 0),
					       (size_t)sqlite3_column_bytes(st, 0),
					       sqlite3_column_blob(st, 1));
		if (err == 0 && oid && sqlite3_column_text(st, 2))
			snprintf(oid, 41, "%s", (const char *)sqlite3_column_text(st, 2));
	} else if (rc == SQLITE_DONE) {
		err = not_in_org(s);
	} else {
		err = chs_store__sqlerr(s, rc, "reading the roster");
	}
	chs_store__finish(s, st);
	return err;
}

int chs_store__role(chs_store *s, int *role)
{
	chs_roster *r = NULL;
	const chs_roster_device *d;
	int err;

	if (!s->role_known) {
		err = chs_store__roster_load(s, &r, NULL);
		if (err < 0 && err != CHS_ENOTFOUND)
			return err;
		chs_error_clear();
		d = r ? chs_roster_find(r, s->device_id) : NULL;
		s->role = d && !d->revoked ? (int)d->role : 0;
		s->role_known = 1;
		chs_roster_free(r);
	}
	*role = s->role;
	return 0;
}

int chs_store__roster_save(chs_store *s, const char *body, size_t len,
			   const unsigned char sig[CHS_SIGNATURE_BYTES], const char *oid,
			   uint64_t seq)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "INSERT INTO rosters(seq, body, signature, oid) VALUES (?, ?, ?, ?)"
		     " ON CONFLICT(seq) DO UPDATE SET oid = excluded.oid")) < 0)
		return err;
	s->role_known = 0;
	if ((err = chs_store__bind_int64(s, st, 1, (int64_t)seq)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, body, len)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 3, sig, CHS_SIGNATURE_BYTES)) < 0 ||
	    (err = oid && *oid ? chs_store__bind_text(s, st, 4, oid)
			       : chs_store__bind_null(s, st, 4)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving the roster");
}

int chs_store__org_pinned(chs_store *s, char org[33], unsigned char admin[CHS_SIGN_PK_BYTES])
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "SELECT org, admin FROM org WHERE id = 1")) < 0)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == CHS_SIGN_PK_BYTES &&
	    sqlite3_column_bytes(st, 0) == 32) {
		memcpy(org, sqlite3_column_text(st, 0), 33);
		memcpy(admin, sqlite3_column_blob(st, 1), CHS_SIGN_PK_BYTES);
	} else if (rc == SQLITE_ROW) {
		err = chs_error_set(CHS_EDAMAGED, "the store's organisation record is damaged");
	} else if (rc == SQLITE_DONE) {
		err = CHS_ENOTFOUND;
	} else {
		err = chs_store__sqlerr(s, rc, "reading the organisation");
	}
	chs_store__finish(s, st);
	return err;
}

int chs_store__org_pin(chs_store *s, const char *org, const unsigned char *admin)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st,
		     "INSERT INTO org(id, org, admin) VALUES (1, ?, ?)")) < 0)
		return err;
	if ((err = chs_store__bind_text(s, st, 1, org)) < 0 ||
	    (err = chs_store__bind_blob(s, st, 2, admin, CHS_SIGN_PK_BYTES)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving the organisation");
}

int chs_store__org_repin(chs_store *s, const unsigned char *admin)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "UPDATE org SET admin = ? WHERE id = 1")) < 0)
		return err;
	if ((err = chs_store__bind_blob(s, st, 1, admin, CHS_SIGN_PK_BYTES)) < 0) {
		chs_store__finish(s, st);
		return err;
	}
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "saving the organisation");
}

int chs_store__org_secret_drop(chs_store *s)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = chs_store__prepare(s, &st, "DELETE FROM org_secret")) < 0)
		return err;
	rc = sqlite3_step(st);
	chs_store__finish(s, st);
	return rc == SQLITE_DONE ? 0 : chs_store__sqlerr(s, rc, "forgetting the admin key");
}

int chs_store__org_admin(chs_store *s, int *yes)
{
	int64_t n = 0;
	int err = chs_store__get_int(s, "SELECT count(*) FROM org_secret", &n);

	*yes = n > 0;
	return err;
}

int chs_store__device_site(chs_store *s, const char *device, char **site)
{
	const chs_roster_device *d;
	chs_roster *r = NULL;
	int err;

	*site = NULL;
	err = chs_store__roster_load(s, &r, NULL);
	if (err == CHS_ENOTFOUND) {
		chs_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	if ((d = chs_roster_find(r, device)) && d->site && *d->site &&
	    !(*site = chs_util__strdup(d->site)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	chs_roster_free(r);
	return err;
}
