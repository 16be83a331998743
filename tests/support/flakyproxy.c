/*
 * A flaky network for the tests: see flakyproxy.h. One process, one poll
 * loop, non-blocking sockets; each connection is given its fate when it
 * is accepted.
 */
#define _GNU_SOURCE /* accept4(), POLLRDHUP, MAP_ANONYMOUS */
#include "flakyproxy.h"
#include "testutil.h"

#include <check.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define BUF_BYTES 16384
#define CUT_MAX 2048          /* a cut comes within the first bytes */
#define STALL_MAX_MS 600000   /* a stalled connection the device never left */
#define TICK_MS 20

struct tu_flaky_shared {
	int passthrough;
	tu_flaky_odds odds;
	tu_flaky_counts counts;
};

static const char *const kind_names[TU_FAULT_KINDS] = {
	"passed", "drop", "cut", "stall", "truncate", "truncate-upload", "slow"
};

const char *tu_flaky_kind_name(int kind)
{
	return kind >= 0 && kind < TU_FAULT_KINDS ? kind_names[kind] : "?";
}

tu_flaky_odds tu_flaky_default_odds(void)
{
	tu_flaky_odds o;

	memset(&o, 0, sizeof(o));
	o.percent[TU_FAULT_DROP] = 8;
	o.percent[TU_FAULT_CUT] = 8;
	o.percent[TU_FAULT_STALL] = 6;
	o.percent[TU_FAULT_TRUNCATE] = 14;
	o.percent[TU_FAULT_TRUNCATE_UP] = 10;
	o.percent[TU_FAULT_SLOW] = 6;
	o.slow_bytes_per_s = 7000;
	o.truncate_max = 256 * 1024;
	return o;
}

/* One direction of a connection: what was read and not yet written. */
typedef struct pipe_dir {
	char buf[BUF_BYTES];
	size_t len, off;
	unsigned long long moved; /* written to the other side */
	int eof;                  /* the source closed its sending side */
} pipe_dir;

typedef struct conn {
	int used, c, s;      /* the device's socket, the server's */
	int kind;
	unsigned long id;
	long limit;          /* bytes before a cut, truncation or stall */
	int stalled, counted;
	uint64_t start_ms;
	pipe_dir up, down;   /* device -> server, server -> device */
} conn;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* xorshift64*: the proxy's own draws, from the test's seed */
static uint64_t rng;

static uint64_t draw(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static long draw_between(long lo, long hi)
{
	return hi <= lo ? lo : lo + (long)(draw() % (uint64_t)(hi - lo + 1));
}

static const char *proxy_name = "proxy";

static void note(struct tu_flaky_shared *sh, conn *k, int kind, const char *how)
{
	__atomic_add_fetch(&sh->counts.faults[kind], 1, __ATOMIC_SEQ_CST);
	k->counted = 1;
	fprintf(stderr, "flakyproxy %s: connection %lu: %s (%llu bytes up, %llu down)\n",
		proxy_name, k->id, how, k->up.moved, k->down.moved);
}

static void conn_close(struct tu_flaky_shared *sh, conn *k, int reset)
{
	if (reset) { /* an RST, as a cable pulled at a router does */
		struct linger l = { 1, 0 };

		setsockopt(k->c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	if (k->c >= 0)
		close(k->c);
	if (k->s >= 0)
		close(k->s);
	if (!k->counted && k->kind == TU_FAULT_NONE)
		__atomic_add_fetch(&sh->counts.faults[TU_FAULT_NONE], 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&sh->counts.bytes, k->up.moved + k->down.moved, __ATOMIC_SEQ_CST);
	memset(k, 0, sizeof(*k));
	k->c = k->s = -1;
}

/* The fate of a new connection, from the odds. */
static int choose(const struct tu_flaky_shared *sh)
{
	long roll = draw_between(0, 99), acc = 0;
	int kind;

	if (__atomic_load_n(&sh->passthrough, __ATOMIC_SEQ_CST))
		return TU_FAULT_NONE;
	for (kind = TU_FAULT_DROP; kind < TU_FAULT_KINDS; kind++) {
		acc += sh->odds.percent[kind];
		if (roll < acc)
			return kind;
	}
	return TU_FAULT_NONE;
}

static void accept_one(struct tu_flaky_shared *sh, int lfd, int target_port, conn *conns,
		       unsigned long *ids)
{
	struct sockaddr_in sa = tu_loopback(target_port);
	int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), s, i;
	conn *k = NULL;

	if (c < 0)
		return;
	for (i = 0; i < MAX_CONNS && !k; i++)
		if (!conns[i].used)
			k = &conns[i];
	if (!k) {
		close(c);
		return;
	}
	memset(k, 0, sizeof(*k));
	k->used = 1;
	k->c = c;
	k->s = -1;
	k->id = ++*ids;
	k->start_ms = now_ms();
	k->kind = choose(sh);
	__atomic_add_fetch(&sh->counts.connections, 1, __ATOMIC_SEQ_CST);
	if (k->kind == TU_FAULT_DROP) {
		note(sh, k, TU_FAULT_DROP, "dropped at once");
		conn_close(sh, k, draw() & 1);
		return;
	}
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "flakyproxy %s: the server at port %d refused: %s\n", proxy_name,
			target_port, strerror(errno));
		if (s >= 0)
			close(s);
		conn_close(sh, k, 0);
		return;
	}
	fcntl(s, F_SETFL, O_NONBLOCK);
	k->s = s;
	switch (k->kind) {
	case TU_FAULT_CUT:
		k->limit = draw_between(1, CUT_MAX);
		break;
	case TU_FAULT_STALL:
		k->limit = draw_between(0, sh->odds.truncate_max);
		break;
	case TU_FAULT_TRUNCATE:
	case TU_FAULT_TRUNCATE_UP:
		k->limit = draw_between(CUT_MAX, sh->odds.truncate_max);
		break;
	case TU_FAULT_SLOW:
		note(sh, k, TU_FAULT_SLOW, "slowed to modem speed");
		break;
	}
}

/* How many bytes this connection may still move (its fault's limit). */
static size_t allowance(const struct tu_flaky_shared *sh, const conn *k, const pipe_dir *d,
			int downward)
{
	unsigned long long total = k->up.moved + k->down.moved;
	size_t room = BUF_BYTES;

	switch (k->kind) {
	case TU_FAULT_CUT:
	case TU_FAULT_STALL:
		room = total >= (unsigned long long)k->limit ? 0 : (size_t)(k->limit - total);
		break;
	case TU_FAULT_TRUNCATE:
		if (downward)
			room = d->moved >= (unsigned long long)k->limit
				       ? 0 : (size_t)(k->limit - d->moved);
		break;
	case TU_FAULT_TRUNCATE_UP:
		if (!downward)
			room = d->moved >= (unsigned long long)k->limit
				       ? 0 : (size_t)(k->limit - d->moved);
		break;
	case TU_FAULT_SLOW: {
		/* a token bucket: rate * time, a small burst */
		unsigned long long may = (now_ms() - k->start_ms) *
						 (unsigned long long)sh->odds.slow_bytes_per_s / 1000u +
					 512u;

		room = may > d->moved + d->len ? (size_t)(may - d->moved - d->len) : 0;
		break;
	}
	}
	return room < BUF_BYTES ? room : BUF_BYTES;
}

/* Move what can move one way; -1 when this direction is finished badly
 * (an error on either socket). */
static int pump(const struct tu_flaky_shared *sh, conn *k, pipe_dir *d, int from, int to,
		int downward)
{
	ssize_t n;

	if (d->len == 0 && !d->eof) {
		size_t room = allowance(sh, k, d, downward);

		if (room > 0) {
			n = read(from, d->buf, room);
			if (n == 0) {
				d->eof = 1;
				shutdown(to, SHUT_WR);
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return -1;
			} else if (n > 0) {
				d->len = (size_t)n;
				d->off = 0;
			}
		}
	}
	while (d->off < d->len) {
		n = write(to, d->buf + d->off, d->len - d->off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		d->off += (size_t)n;
		d->moved += (unsigned long long)n;
	}
	if (d->off == d->len)
		d->len = d->off = 0;
	return 0;
}

/* Whether this connection's fault now takes effect: 1 when it was closed. */
static int strike(struct tu_flaky_shared *sh, conn *k)
{
	unsigned long long total = k->up.moved + k->down.moved;
	char how[128];

	switch (k->kind) {
	case TU_FAULT_CUT:
		if (total < (unsigned long long)k->limit)
			return 0;
		note(sh, k, TU_FAULT_CUT, "cut after a few bytes");
		conn_close(sh, k, draw() & 1);
		return 1;
	case TU_FAULT_TRUNCATE:
		if (k->down.moved < (unsigned long long)k->limit || k->down.len)
			return 0;
		snprintf(how, sizeof(how), "truncated the server's answer at %ld bytes", k->limit);
		note(sh, k, TU_FAULT_TRUNCATE, how);
		conn_close(sh, k, draw() & 1);
		return 1;
	case TU_FAULT_TRUNCATE_UP:
		if (k->up.moved < (unsigned long long)k->limit || k->up.len)
			return 0;
		snprintf(how, sizeof(how), "truncated the device's upload at %ld bytes", k->limit);
		note(sh, k, TU_FAULT_TRUNCATE_UP, how);
		conn_close(sh, k, draw() & 1);
		return 1;
	case TU_FAULT_STALL:
		if (!k->stalled && total >= (unsigned long long)k->limit && !k->up.len &&
		    !k->down.len) {
			k->stalled = 1;
			note(sh, k, TU_FAULT_STALL, "stalled (left open, nothing forwarded)");
		}
		return 0;
	}
	return 0;
}

static _Noreturn void proxy_main(struct tu_flaky_shared *sh, int lfd, int target_port)
{
	static conn conns[MAX_CONNS];
	struct pollfd pfd[1 + 2 * MAX_CONNS];
	unsigned long ids = 0;
	int i;

	for (i = 0; i < MAX_CONNS; i++)
		conns[i].c = conns[i].s = -1;
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int n = 0, slow = 0;

		pfd[n++] = (struct pollfd){ lfd, POLLIN, 0 };
		for (i = 0; i < MAX_CONNS; i++) {
			conn *k = &conns[i];
			short ce = 0, se = 0;

			if (!k->used)
				continue;
			if (k->stalled) {
				/* nothing moves; only the device leaving is watched */
				ce = POLLRDHUP;
			} else {
				/* a source is read only when its fault lets bytes
				 * through (a slow one waits for the tick) */
				if (k->up.len)
					se |= POLLOUT;
				else if (!k->up.eof && allowance(sh, k, &k->up, 0))
					ce |= POLLIN;
				if (k->down.len)
					ce |= POLLOUT;
				else if (!k->down.eof && allowance(sh, k, &k->down, 1))
					se |= POLLIN;
			}
			slow |= k->kind == TU_FAULT_SLOW;
			pfd[n++] = (struct pollfd){ k->c, ce, 0 };
			pfd[n++] = (struct pollfd){ k->s, se, 0 };
		}
		if (poll(pfd, (nfds_t)n, slow ? TICK_MS : 500) < 0 && errno != EINTR)
			_exit(1);
		if (pfd[0].revents & POLLIN)
			accept_one(sh, lfd, target_port, conns, &ids);
		for (i = 0; i < MAX_CONNS; i++) {
			conn *k = &conns[i];

			if (!k->used)
				continue;
			if (k->stalled) {
				char c;

				if (recv(k->c, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0 ||
				    now_ms() - k->start_ms > STALL_MAX_MS)
					conn_close(sh, k, 0);
				continue;
			}
			if (pump(sh, k, &k->up, k->c, k->s, 0) < 0 ||
			    pump(sh, k, &k->down, k->s, k->c, 1) < 0) {
				conn_close(sh, k, 0);
				continue;
			}
			if (strike(sh, k))
				continue;
			if (k->up.eof && k->down.eof && !k->up.len && !k->down.len)
				conn_close(sh, k, 0);
		}
	}
}

void tu_flakyproxy_start(tu_flakyproxy *p, const char *name, int target_port,
			 unsigned long seed, const tu_flaky_odds *odds)
{
	struct sockaddr_in sa = tu_loopback(0);
	socklen_t len = sizeof(sa);
	pid_t parent = getpid();
	int lfd;

	memset(p, 0, sizeof(*p));
	p->target_port = target_port;
	p->shm = mmap(NULL, sizeof(*p->shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	ck_assert_ptr_ne(p->shm, MAP_FAILED);
	memset(p->shm, 0, sizeof(*p->shm));
	p->shm->odds = odds ? *odds : tu_flaky_default_odds();
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 64), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	p->port = ntohs(sa.sin_port);
	fflush(stderr);
	p->pid = fork();
	ck_assert_int_ge(p->pid, 0);
	if (p->pid == 0) {
		/* gone with the test process, even one a failed check ended */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		proxy_name = name;
		rng = seed * 0x9E3779B97F4A7C15ull + 1;
		proxy_main(p->shm, lfd, target_port);
	}
	/* listening already: connections queue until the child takes them */
	close(lfd);
}

void tu_flakyproxy_passthrough(tu_flakyproxy *p, int on)
{
	__atomic_store_n(&p->shm->passthrough, on, __ATOMIC_SEQ_CST);
}

void tu_flakyproxy_counts(const tu_flakyproxy *p, tu_flaky_counts *out)
{
	int i;

	out->connections = __atomic_load_n(&p->shm->counts.connections, __ATOMIC_SEQ_CST);
	out->bytes = __atomic_load_n(&p->shm->counts.bytes, __ATOMIC_SEQ_CST);
	for (i = 0; i < TU_FAULT_KINDS; i++)
		out->faults[i] = __atomic_load_n(&p->shm->counts.faults[i], __ATOMIC_SEQ_CST);
}

void tu_flakyproxy_stop(tu_flakyproxy *p)
{
	int status;

	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (p->shm && p->shm != MAP_FAILED)
		munmap(p->shm, sizeof(*p->shm));
	memset(p, 0, sizeof(*p));
}
