/*
 * client/desk/desk.h - the archivists' desk: a web page, on the loopback
 * interface only, for reviewing what sites edited at once and reading a
 * record's history and the reports.
 *
 * The desk serves the store in one folder. Nobody is signed in when it
 * starts: each person signs in with a user name and passphrase of the
 * store's key slots (the check chs_store_open() makes), and the pages
 * act as that user, on a store opened for them alone, so what they write
 * is signed as theirs and names this terminal. A service user cannot
 * sign in. A session ends when its person signs out, after `desk.idle`
 * minutes without a request (the store's setting; 15 by default), and
 * when the desk stops; every page that showed patient data is recorded
 * as an access event when it is left or its session ends. An event the
 * store does not take then (its write lock held past the wait) is kept
 * and tried again; one still unwritten when the desk stops is printed on
 * standard error, the desk's terminal.
 *
 * HTTP is GNU libmicrohttpd's, run on one thread of its own: every
 * request is handled there, one at a time. chs_desk_tick() ends idle
 * sessions (writing their events through their stores) on the thread
 * that calls it; the desk's mutex is held by both, so a session's store
 * is used by one thread at a time, never by two at once. Errors follow
 * crypto/crypto.h.
 */
#ifndef CHS_CLIENT_DESK_DESK_H
#define CHS_CLIENT_DESK_DESK_H

#include <stdint.h>

typedef struct chs_desk chs_desk;

typedef struct chs_desk_opts {
	const char *store_dir; /* the store the desk serves */
	const char *listen;    /* "127.0.0.1:PORT", "[::1]:PORT" or
				* "localhost:PORT"; PORT 0 picks a free
				* one. NULL: "127.0.0.1:8470" */
} chs_desk_opts;

/* Check `listen` without starting anything: 0 when it names a loopback
 * address and a port, else CHS_EINVALID with a message that says the
 * desk only listens on this computer. For a command line, before the
 * store is asked anything. */
int chs_desk_check_listen(const char *listen);

/* Start serving (the store is probed, not opened: CHS_ENOTSTORE when the
 * folder holds none). CHS_EINVALID for an address chs_desk_check_listen()
 * refuses, CHS_EIO when the address cannot be bound (taken, say). */
int chs_desk_start(chs_desk **out, const chs_desk_opts *opts);
/* The address to open in a browser, "http://127.0.0.1:PORT/" (the port
 * bound, when 0 was asked). Borrowed. */
const char *chs_desk_url(const chs_desk *d);
/* End the sessions whose idle time is over (their pages' access events
 * written), and try again the events the store did not take before; the
 * desk also does this at each request. Call it now and then (every few
 * seconds) from the thread that started the desk, so a session left
 * alone still ends on time. */
void chs_desk_tick(chs_desk *d);
/* Stop serving: the server stops first (its thread is joined, so no
 * request is under way and none can come: a sign-in arriving while the
 * sessions were ending would leave one never ended), then every session
 * ends, its pages' access events written (what the store does not take is
 * printed on standard error). Accepts NULL. */
void chs_desk_stop(chs_desk *d);

#endif /* CHS_CLIENT_DESK_DESK_H */
