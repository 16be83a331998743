/*
 * The archive's tampering that syncs heal, recorded. A git host can
 * delete a device's ref (or its chunk ref, followed by the devices that
 * read attachments), delete the roster, or wind either back; the
 * devices heal it (a device pushes its own history again, the admin's
 * store its rosters), and without a record nobody would learn that the
 * archive was tampered with. So a sync compares what the archive holds
 * now with what it held at this store's last fetch or push (the mirror's
 * refs/remotes/archive/chartsync/..., which a push moves too), and every
 * ref that went missing, went back, or was replaced by commits its
 * device did not make becomes an `archive_event` record: signed by this
 * device in a batch like any save, synced like the access events, append
 * only (client/records/admit.c), in the billing compartment so every role
 * records and reads them. They hold ref names, device ids and sites,
 * never clinical content. `chartsync status` counts them and `chartsync
 * report archive` lists them.
 *
 * Each device that sees a change records it once (the next fetch starts
 * from what it saw), so one act of tampering may be recorded by several
 * devices: each record says who saw it.
 *
 * Calls nothing of pull.c, send.c or sync.c; sync.c calls it.
 */
#include "replicate_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRACKED "refs/remotes/archive/chartsync/"
#define TRACKED_ROSTER TRACKED "roster"
#define TRACKED_DEVICES TRACKED "devices/"
#define TRACKED_CHUNKS TRACKED "blobs/" /* a device reading clinical data fetches them */

void chs_replicate__seen_dispose(chs_replicate_seen *v)
{
	chs_git_refs_free(v->refs, v->n);
	free(v->oids);
	memset(v, 0, sizeof(*v));
}

/* The device a tracked device or chunk ref names; NULL for the roster. */
static const char *device_of(const char *ref)
{
	if (strncmp(ref, TRACKED_DEVICES, strlen(TRACKED_DEVICES)) == 0)
		return ref + strlen(TRACKED_DEVICES);
	if (strncmp(ref, TRACKED_CHUNKS, strlen(TRACKED_CHUNKS)) == 0)
		return ref + strlen(TRACKED_CHUNKS);
	return NULL;
}

/* CHS_ENOTFOUND unless every device ref noted is a device on the roster
 * this store holds. */
static int our_devices(sync_ctx *x, const chs_replicate_seen *v)
{
	chs_roster *mine = NULL;
	size_t i;
	int err;

	if ((err = chs_store__roster_load(x->s, &mine, NULL)) < 0)
		return err;
	for (i = 0; i < v->n; i++)
		if (!chs_roster_find(mine, device_of(v->refs[i])))
			break;
	chs_roster_free(mine);
	return i < v->n ? CHS_ENOTFOUND : 0;
}

/* CHS_ENOTFOUND unless what the mirror last saw was this organisation's
 * archive: its roster there, signed by the pinned admin key (or, with
 * no roster there, device refs of this roster's devices only). After a
 * fetch from some other archive (refused, chs_replicate__check_archive)
 * the mirror holds that archive's refs, and nothing about this one can
 * be told from them. */
static int ours(sync_ctx *x, const chs_replicate_seen *v)
{
	unsigned char admin[CHS_SIGN_PK_BYTES];
	chs_git_commit *c = NULL;
	chs_roster *r = NULL;
	char org[33];
	int err;

	if (v->n == 0)
		return CHS_ENOTFOUND;
	if (strcmp(v->refs[v->n - 1], TRACKED_ROSTER) != 0)
		return our_devices(x, v); /* the roster was missing there already */
	if ((err = chs_store__org_pinned(x->s, org, admin)) < 0)
		return err;
	if (chs_git_read(x->git, v->oids[v->n - 1], &c) < 0 ||
	    chs_roster_from_commit(&r, c, admin) < 0 || strcmp(chs_roster_org(r), org) != 0)
		err = CHS_ENOTFOUND;
	chs_roster_free(r);
	chs_git_commit_free(c);
	return err;
}

/* The roster's, the devices' and their chunks' refs as the mirror says
 * the archive had them: before a fetch, what the last fetch or push
 * left. The roster's last. */
int chs_replicate__seen_before(sync_ctx *x)
{
	chs_replicate_seen *v = &x->seen;
	char **devs = NULL, **chunks = NULL, tip[41];
	size_t i, n = 0, m = 0;
	int err;

	chs_replicate__seen_dispose(v);
	if ((err = chs_git_refs(x->git, TRACKED_DEVICES, &devs, &n)) < 0)
		return err;
	if ((err = chs_git_refs(x->git, TRACKED_CHUNKS, &chunks, &m)) < 0) {
		chs_git_refs_free(devs, n);
		return err;
	}
	v->refs = chs_calloc(n + m + 2, sizeof(*v->refs));
	v->oids = chs_calloc(n + m + 1, sizeof(*v->oids));
	if (!v->refs || !v->oids) {
		chs_git_refs_free(devs, n);
		chs_git_refs_free(chunks, m);
		chs_replicate__seen_dispose(v);
		return chs_error_set(CHS_ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		v->refs[v->n++] = devs[i];
	for (i = 0; i < m; i++)
		v->refs[v->n++] = chunks[i];
	free(devs);
	free(chunks);
	if ((err = chs_git_ref(x->git, TRACKED_ROSTER, tip)) == CHS_ENOTFOUND) {
		chs_error_clear();
		err = 0;
	} else if (err == 0 && !(v->refs[v->n] = chs_util__strdup(TRACKED_ROSTER))) {
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	} else if (err == 0) {
		v->n++;
	}
	for (i = 0; i < v->n && err == 0; i++)
		err = chs_git_ref(x->git, v->refs[i], v->oids[i]);
	if (err == 0 && (err = ours(x, v)) == 0)
		return 0;
	/* compared with nothing: no event, and no reason to fail the sync */
	chs_replicate__seen_dispose(v);
	return err == CHS_ENOTFOUND ? (chs_error_clear(), 0) : err;
}

/* ------------------------------------------------------------------ */
/* Writing an event                                                     */

/* One event, put in the save `w` is making. */
static int put_event(sync_ctx *x, chs_writer *w, const char *kind, const char *ref,
		     const char *detail)
{
	chs_change *c = NULL;
	char when[32];
	int err;

	if ((err = chs_change_new(&c)) < 0)
		return err;
	chs_random(c->record, 16);
	c->op = CHS_OP_CREATE;
	chs_util__ms_time((int64_t)chs_hlc_wall_ms(), when);
	if (!(c->type = chs_util__strdup(CHS_ARCHIVE_EVENT_TYPE)))
		err = chs_error_set(CHS_ENOMEM, "out of memory");
	if (err == 0 && (err = chs_change_set_string(c, "kind", kind)) == 0 &&
	    (err = chs_change_set_string(c, "ref", ref)) == 0 &&
	    (err = chs_change_set_string(c, "detail", detail)) == 0 &&
	    (err = chs_change_set_string(c, "seen", when)) == 0 &&
	    (err = chs_change_set_string(c, "by", x->s->device_id)) == 0 && x->me)
		err = chs_change_set_string(c, "site", x->me->site);
	if (err < 0) {
		chs_change_free(c);
		return err;
	}
	return chs_records__writer_put(w, c);
}

/* ------------------------------------------------------------------ */
/* What changed since                                                   */

/* What happened to tracked ref `ref` (was at `was`): kind and words, or
 * kind "" when it only moved on. */
static int judge(sync_ctx *x, const char *ref, const char *was, const char **kind,
		 char *detail, size_t len)
{
	const char *name = ref + strlen(TRACKED) - strlen("chartsync/");
	const char *dev = device_of(ref);
	int chunks = strncmp(ref, TRACKED_CHUNKS, strlen(TRACKED_CHUNKS)) == 0;
	int own = dev && strcmp(dev, x->s->device_id) == 0;
	char now[41];
	int yes, err;

	*kind = "";
	if ((err = chs_git_ref(x->git, ref, now)) == CHS_ENOTFOUND) {
		chs_error_clear();
		*kind = chunks ? "chunk-ref-deleted" : dev ? "device-ref-deleted" : "roster-deleted";
		snprintf(detail, len, "refs/%s was deleted from the archive; %s", name,
			 own ? "this device published its history again"
			     : dev ? "its device publishes it again at its next sync"
				   : "the admin's store published the roster again");
		return 0;
	}
	if (err < 0 || strcmp(now, was) == 0)
		return err;
	/* a roster the check of the archive refused (pull.c) was replaced,
	 * even when the host put its commits on top of the admin's */
	if (!dev && x->roster_forged)
		yes = 0;
	else if ((err = chs_git_is_ancestor(x->git, was, now, &yes)) < 0 || yes ||
		 (err = chs_git_is_ancestor(x->git, now, was, &yes)) < 0)
		return err;
	if (yes) {
		*kind = chunks ? "chunk-ref-rolled-back"
			: dev ? "device-ref-rolled-back" : "roster-rolled-back";
		snprintf(detail, len, "refs/%s was set back from %.12s to an earlier %.12s; %s",
			 name, was, now, own ? "this device sent its later batches again"
			 : dev ? "its device sends the later batches again at its next sync"
			       : "the admin's store published the later rosters again");
	} else {
		*kind = chunks ? "chunk-ref-rewritten"
			: dev ? "device-ref-rewritten" : "roster-rewritten";
		snprintf(detail, len, "refs/%s was replaced at %.12s by commits its %s did not"
			 " make (was %.12s); %s", name, now, dev ? "device" : "admin", was,
			 own ? "this device's work is not delivered until the admin removes the ref"
			     : "they were refused here");
	}
	return 0;
}

int chs_replicate__record_tampering(sync_ctx *x)
{
	const char *kind;
	char detail[512], ref[128];
	chs_writer w;
	size_t i, n = 0;
	int err = 0, begun = 0;

	for (i = 0; i < x->seen.n && err == 0; i++) {
		if ((err = judge(x, x->seen.refs[i], x->seen.oids[i], &kind, detail,
				 sizeof(detail))) < 0 || !*kind)
			continue;
		if (!begun && (err = chs_records__writer_begin(&w, x->s)) < 0)
			break;
		begun = 1;
		snprintf(ref, sizeof(ref), "refs/chartsync/%s", x->seen.refs[i] + strlen(TRACKED));
		if ((err = put_event(x, &w, kind, ref, detail)) < 0)
			break;
		n++;
	}
	if (begun && err < 0)
		chs_records__writer_abort(&w);
	else if (begun)
		err = chs_records__writer_commit(&w);
	if (err == 0)
		x->rep->tampering = n;
	return err;
}

/* ------------------------------------------------------------------ */
/* Reading the events                                                   */

typedef struct event_item {
	chs_archive_event ev;
	json_t *doc; /* the stored state its strings point into */
} event_item;

struct chs_archive_events {
	event_item *items;
	size_t n, cap;
};

static const char *field(json_t *fields, const char *name)
{
	const char *v = json_string_value(json_object_get(fields, name));

	return v ? v : "";
}

static int by_seen(const void *a, const void *b)
{
	return strcmp(((const event_item *)a)->ev.seen, ((const event_item *)b)->ev.seen);
}

static int add_event(chs_archive_events *l, const unsigned char *id, const char *state,
		     size_t len)
{
	json_t *doc, *f;
	chs_archive_event *e;
	int err;

	if (l->n == l->cap && (err = CHS_ARRAY_GROW(l->items, l->cap, l->n + 1)) < 0)
		return err;
	if (!(doc = json_loadb(state, len, 0, NULL)))
		return chs_error_set(CHS_EDAMAGED, "an archive event's stored state cannot be read");
	l->items[l->n].doc = doc;
	e = &l->items[l->n++].ev;
	f = json_object_get(doc, "fields");
	chs_hex(e->id, id, 16);
	e->seen = field(f, "seen");
	e->kind = field(f, "kind");
	e->ref = field(f, "ref");
	e->detail = field(f, "detail");
	e->by = field(f, "by");
	e->site = field(f, "site");
	return 0;
}

int chs_archive_events_list(chs_archive_events **out, chs_store *s)
{
	chs_archive_events *l;
	sqlite3_stmt *st = NULL;
	int err, rc = SQLITE_DONE;

	CHS_ASSERT_ARG(out);
	CHS_ASSERT_ARG(s);
	*out = NULL;
	if (!(l = chs_calloc(1, sizeof(*l))))
		return chs_error_set(CHS_ENOMEM, "out of memory");
	if ((err = chs_store__prepare(s, &st, "SELECT id, state FROM records WHERE type = '"
				      CHS_ARCHIVE_EVENT_TYPE "' AND length(id) = 16")) < 0)
		goto done;
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		err = add_event(l, sqlite3_column_blob(st, 0),
				(const char *)sqlite3_column_blob(st, 1),
				(size_t)sqlite3_column_bytes(st, 1));
	chs_store__finish(s, st);
	if (err == 0 && rc != SQLITE_DONE)
		err = chs_store__sqlerr(s, rc, "reading the archive's events");
	if (err == 0 && l->n)
		qsort(l->items, l->n, sizeof(*l->items), by_seen);
done:
	if (err < 0)
		chs_archive_events_free(l);
	else
		*out = l;
	return err;
}

size_t chs_archive_events_count(const chs_archive_events *l)
{
	return l ? l->n : 0;
}

const chs_archive_event *chs_archive_events_get(const chs_archive_events *l, size_t i)
{
	return l && i < l->n ? &l->items[i].ev : NULL;
}

void chs_archive_events_free(chs_archive_events *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		json_decref(l->items[i].doc);
	free(l->items);
	free(l);
}
