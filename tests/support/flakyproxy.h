/*
 * tests/support/flakyproxy.h - a flaky network for the tests: a TCP proxy
 * on 127.0.0.1 in front of a server (git daemon, sshd) that, at random,
 * drops a connection at once or after a few bytes, stalls it (stops
 * forwarding without closing), truncates it mid-pack (forwards part of
 * the server's answer, or of the device's upload, then closes), or slows
 * it to modem speed. It runs as its own process (forked by the test, gone
 * with it), so the sync helper's forks never hold a copy of its sockets;
 * its counters live in memory shared with the test. Each fault is counted
 * by kind when it takes effect, and logged on stderr.
 */
#ifndef CHS_TEST_FLAKYPROXY_H
#define CHS_TEST_FLAKYPROXY_H

#include <sys/types.h>

/* What the proxy did to a connection. */
enum {
	TU_FAULT_NONE,      /* passed through untouched */
	TU_FAULT_DROP,      /* closed at once, before a byte */
	TU_FAULT_CUT,       /* closed after a few bytes (the talk before the pack) */
	TU_FAULT_STALL,     /* stopped forwarding, left open */
	TU_FAULT_TRUNCATE,  /* the server's answer cut mid-pack */
	TU_FAULT_TRUNCATE_UP, /* the device's upload (a push's pack) cut mid-pack */
	TU_FAULT_SLOW,      /* forwarded at modem speed */
	TU_FAULT_KINDS
};

/* How often each kind is chosen for a new connection, in percent (the
 * rest pass through), and the modem's speed. */
typedef struct tu_flaky_odds {
	int percent[TU_FAULT_KINDS]; /* [TU_FAULT_NONE] unused */
	int slow_bytes_per_s;        /* 7000: 56 kbit/s */
	long truncate_max;           /* a truncation cuts within this many bytes */
} tu_flaky_odds;

/* The odds the flaky network suite starts from. */
tu_flaky_odds tu_flaky_default_odds(void);

typedef struct tu_flaky_counts {
	unsigned long connections;
	unsigned long faults[TU_FAULT_KINDS]; /* [TU_FAULT_NONE]: passed untouched */
	unsigned long long bytes;             /* forwarded, both ways */
} tu_flaky_counts;

struct tu_flaky_shared;

typedef struct tu_flakyproxy {
	pid_t pid;
	int port;        /* where the devices connect */
	int target_port; /* the server behind it */
	struct tu_flaky_shared *shm;
} tu_flakyproxy;

/* Start a proxy named `name` (in its log lines) on a free port of
 * 127.0.0.1 in front of 127.0.0.1:`target_port`, its choices drawn from
 * `seed`; returns once it accepts connections. Fails the test otherwise. */
void tu_flakyproxy_start(tu_flakyproxy *p, const char *name, int target_port,
			 unsigned long seed, const tu_flaky_odds *odds);
/* 1: new connections pass untouched (connections under way keep their
 * fate); 0: faults again. */
void tu_flakyproxy_passthrough(tu_flakyproxy *p, int on);
/* What it has done so far. */
void tu_flakyproxy_counts(const tu_flakyproxy *p, tu_flaky_counts *out);
/* Stop it (every connection closes with it) and free the shared memory;
 * accepts a proxy never started. */
void tu_flakyproxy_stop(tu_flakyproxy *p);
/* The name of a kind, for the figures ("drop", "stall", ...). */
const char *tu_flaky_kind_name(int kind);

#endif
