/*
 * Fuzz target: one raw HTTP request to the archivists' desk
 * (client/desk/server.c), the real server on 127.0.0.1 in this process.
 *
 * The desk starts once, on a throwaway store with one patient whose name
 * is markup, and the target signs in once (again whenever a request ended
 * its session) for a session cookie and a CSRF token. Each input is sent
 * as it is over one TCP connection, after its placeholders are replaced
 * with the live values, so the fuzzer reaches the signed-in pages and
 * their forms:
 *   @COOKIE@  the cookie pair, "chartsync_desk_PORT=TOKEN"
 *   @CSRF@    the session's CSRF token
 *   @HOST@    the desk's Host, "127.0.0.1:PORT"
 *   @PORT@    the port
 *   @ID@      the patient's record id
 * The writing half is then closed and the whole answer read, with a
 * timeout. What must hold: the desk answers in time (never a crash,
 * never a hang); each response starts with a status line and carries the
 * headers that keep patient data out of caches and frames (no-store,
 * nosniff, the CSP), but for libmicrohttpd's own refusals of what is no
 * HTTP (4xx, 5xx; no page, nothing of the request in them); a request
 * whose Host is not the desk's, or that another page sent
 * (Sec-Fetch-Site), is refused; no "<script" of the input comes back in
 * an HTML page but the desk's own tag.
 */
#define _GNU_SOURCE /* memmem */
#include "client/chartsync.h"
#include "client/desk/desk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PASS "fuzz-desk-pw"
#define ANSWER_MS 20000
#define OWN_SCRIPT "<script src=\"/static/desk.js\" defer></script>"

static chs_desk *desk;
static char store_dir[256];
static unsigned port;
static char host[64], cookie[300], csrf[80], record[33];

static void die(const char *what)
{
	fprintf(stderr, "fuzz_desk: %s: %s\n", what, chs_error_last());
	abort();
}

typedef struct buf {
	char *p;
	size_t len, cap;
} buf;

static void buf_add(buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		if (!(b->p = realloc(b->p, b->cap)))
			abort();
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The value of header `name` in the head [h, end), NULL when absent;
 * the first one, as libmicrohttpd looks it up. */
static char *header(const char *h, const char *end, const char *name, char *val, size_t vlen)
{
	size_t nl = strlen(name);

	const char *l, *eol;

	for (l = h; l < end; l = eol + 1) {
		size_t n;

		if (!(eol = memchr(l, '\n', (size_t)(end - l))))
			eol = end;
		if ((size_t)(eol - l) > nl && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
			const char *v = l + nl + 1;

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			n = (size_t)(eol - v);
			while (n && (v[n - 1] == '\r' || v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			if (n >= vlen)
				n = vlen - 1;
			memcpy(val, v, n);
			val[n] = '\0';
			return val;
		}
	}
	return NULL;
}

/* The length of the first response in [p, p + n) when it has all come
 * (its head, and a body of its Content-Length), else 0. */
static int is_head; /* the request is a HEAD: its answer has no body */

static size_t response_len(const char *p, size_t n)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4), *l;
	size_t body = 0;

	if (!end)
		return 0;
	for (l = p; l < end; l++)
		if (*l == '\n' && (size_t)(end - l) > 15 && strncasecmp(l + 1, "Content-Length:", 15) == 0)
			body = strtoul(l + 16, NULL, 10);
	if (is_head)
		body = 0;
	return (size_t)(end + 4 - p) + body <= n ? (size_t)(end + 4 - p) + body : 0;
}

/* Send `req` on a new connection, close the writing half, read the
 * answer: NUL-terminated. A request that has all come (`complete`) must
 * be answered within ANSWER_MS, or it is a hang; one that has not is
 * waited for by the desk (libmicrohttpd keeps a silent connection
 * CONN_TIMEOUT_S seconds, a half-closed one too), so its answer, a
 * refusal of the head, is read for QUIET_MS only. After a whole
 * response, what more comes (to requests sent one after another) is read
 * until QUIET_MS pass without a byte. */
#define QUIET_MS 10
static void exchange(const char *req, size_t len, int complete, buf *out)
{
	struct sockaddr_in sa;
	double last = now_ms();
	size_t sent = 0, seen = 0;
	int fd, whole = 0;

	memset(out, 0, sizeof(*out));
	buf_add(out, "", 0);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		abort();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("fuzz_desk: the desk takes no connection");
		abort();
	}
	while (sent < len) {
		ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* the desk closed early (a refusal): read it */
		sent += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		double wait = (complete && !whole ? ANSWER_MS : QUIET_MS) - (now_ms() - last);
		char chunk[65536];
		ssize_t n;
		size_t r;

		if (wait <= 0) {
			if (complete && !whole) {
				fprintf(stderr, "fuzz_desk: no answer within %d ms to:\n%.*s\n",
					ANSWER_MS, (int)(len > 2000 ? 2000 : len), req);
				abort();
			}
			break;
		}
		if (poll(&p, 1, (int)wait + 1) < 0 && errno != EINTR)
			abort();
		if (!p.revents)
			continue;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* closed (a reset after a refusal too) */
		buf_add(out, chunk, (size_t)n);
		while ((r = response_len(out->p + seen, out->len - seen)) > 0) {
			seen += r;
			whole = 1;
		}
		last = now_ms();
	}
	/* a reset, not a close: the desk keeps a connection whose request
	 * has not all come until it hears of it (and takes CONN_MAX at
	 * once), and a half-closed one is no news to it */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){ 1, 0 }, sizeof(struct linger));
	close(fd);
}

/* Has the request in `req` all come, to the desk? A plain request line
 * and a head that ends, then a body of its Content-Length (none for
 * another way of sending one). */
static int all_come(const char *req, size_t len)
{
	const char *end = memmem(req, len, "\r\n\r\n", 4), *eol = memmem(req, len, "\r\n", 2);
	const char *l;
	char val[64];
	size_t body = 0;

	if (!end || !eol || eol - req < 14 || memcmp(eol - 9, " HTTP/1.", 8) != 0 ||
	    (eol[-1] != '0' && eol[-1] != '1') || memchr(req, '\0', (size_t)(end - req)))
		return 0;
	for (l = eol + 2; l < end; l = (const char *)memmem(l, (size_t)(end - l) + 2, "\r\n", 2) + 2)
		if (memchr(l, '\n', (size_t)((const char *)memmem(l, (size_t)(end - l) + 2, "\r\n", 2) - l)))
			return 0; /* a bare line feed: not this parser's to say */
	if (header(req, end, "Transfer-Encoding", val, sizeof(val)))
		return 0;
	if (header(req, end, "Content-Length", val, sizeof(val))) {
		if (strspn(val, "0123456789") != strlen(val) || strlen(val) > 9)
			return 0;
		body = strtoul(val, NULL, 10);
	}
	return (size_t)(end + 4 - req) + body <= len;
}

/* Sign in as the store's user: the cookie, then the CSRF token from a
 * page. */
static void sign_in(void)
{
	char req[768], val[256];
	const char *end, *at;
	buf b;
	int n;

	is_head = 0;
	n = snprintf(req, sizeof(req),
		     "POST /signin HTTP/1.1\r\nHost: %s\r\n"
		     "Content-Type: application/x-www-form-urlencoded\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\nuser=ada&passphrase=" PASS,
		     host, strlen("user=ada&passphrase=" PASS));
	exchange(req, (size_t)n, 1, &b);
	if (!(end = strstr(b.p, "\r\n\r\n")) || !header(b.p, end, "Set-Cookie", val, sizeof(val)) ||
	    !strchr(val, ';')) {
		fprintf(stderr, "fuzz_desk: sign-in failed: %s\n", b.p);
		abort();
	}
	*strchr(val, ';') = '\0';
	snprintf(cookie, sizeof(cookie), "%s", val);
	free(b.p);
	n = snprintf(req, sizeof(req),
		     "GET /no/such/page HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nConnection: close\r\n\r\n",
		     host, cookie);
	exchange(req, (size_t)n, 1, &b);
	if (!(at = strstr(b.p, "<meta name=\"csrf\" content=\"")) ||
	    sscanf(at + 27, "%64[0-9a-f]", csrf) != 1) {
		fprintf(stderr, "fuzz_desk: no CSRF token: %s\n", b.p);
		abort();
	}
	free(b.p);
}

/* Does the cookie still name a live session? (A Set-Cookie that clears
 * a cookie the input made up leaves it so; signing in again each time
 * would keep a session, and an open store, for each.) */
static int signed_in(void)
{
	char req[512];
	int n, ok;
	buf b;

	is_head = 0;
	n = snprintf(req, sizeof(req),
		     "GET /no/such/page HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nConnection: close\r\n\r\n",
		     host, cookie);
	exchange(req, (size_t)n, 1, &b);
	ok = strstr(b.p, "id=\"who\"") != NULL;
	free(b.p);
	return ok;
}

static void stop(void)
{
	char cmd[300];

	chs_desk_stop(desk);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_desk: cannot remove %s\n", store_dir);
}

static void start(void)
{
	chs_kdf_params kdf;
	chs_store_create_opts o = { "ada", PASS, sizeof(PASS) - 1, &kdf, "fuzz-desk" };
	chs_edit p[] = { { "name", "<script>alert(1)</script> Ada", 0, 0 }, { "mrn", "FZ-1", 0, 0 } };
	chs_desk_opts d = { store_dir, "127.0.0.1:0" };
	const char *tmp = getenv("TMPDIR");
	chs_store *s = NULL;

	signal(SIGPIPE, SIG_IGN);
	snprintf(store_dir, sizeof(store_dir), "%s/fuzz-desk.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(store_dir))
		abort();
	strcat(store_dir, "/store");
	if (chs_crypto_init() < 0)
		die("crypto");
	chs_kdf_params_minimum(&kdf);
	if (chs_store_create(&s, store_dir, &o) < 0)
		die("store");
	if (chs_record_add(s, "patient", p, 2, NULL, NULL, record) < 0)
		die("patient");
	chs_store_free(s);
	if (chs_desk_start(&desk, &d) < 0)
		die("desk");
	port = (unsigned)atoi(strrchr(chs_desk_url(desk), ':') + 1);
	snprintf(host, sizeof(host), "127.0.0.1:%u", port);
	*strrchr(store_dir, '/') = '\0';
	atexit(stop);
	sign_in();
}

/* The input with its placeholders replaced. */
static void expand(const uint8_t *data, size_t size, buf *out)
{
	static const char *names[] = { "@COOKIE@", "@CSRF@", "@HOST@", "@PORT@", "@ID@" };
	char portstr[16];
	const char *vals[] = { cookie, csrf, host, portstr, record };
	size_t i, k;

	snprintf(portstr, sizeof(portstr), "%u", port);
	memset(out, 0, sizeof(*out));
	buf_add(out, "", 0);
	for (i = 0; i < size;) {
		for (k = 0; k < 5; k++) {
			size_t nl = strlen(names[k]);

			if (size - i >= nl && memcmp(data + i, names[k], nl) == 0) {
				buf_add(out, vals[k], strlen(vals[k]));
				i += nl;
				break;
			}
		}
		if (k == 5)
			buf_add(out, data + i++, 1);
	}
}

/* The request's first head: is it one whose Host and Sec-Fetch-Site the
 * desk reads as this parser does (a plain request line, no folded
 * lines)? Then `refuse` says whether it must be refused. */
static int must_refuse(const char *req, int *refuse)
{
	const char *end = strstr(req, "\r\n\r\n"), *l, *sp;
	char val[256];
	int plain_path;

	*refuse = 0;
	if (!end || strlen(req) < (size_t)(end - req))
		return 0;
	for (l = strstr(req, "\r\n") + 2; l < end; l = strstr(l, "\r\n") + 2) {
		if (*l == ' ' || *l == '\t')
			return 0;
		for (sp = l; sp < end && *sp != '\r'; sp++)
			if (*sp == '\n' || *sp == '\0')
				return 0;
	}
	if (!(sp = strchr(req, ' ')) || sp > end || sp[1] != '/')
		return 0;
	plain_path = strncmp(sp + 1, "/static/", 8) != 0 && !memchr(sp + 1, '%', strnlen(sp + 1, 16));
	if (header(req, end, "Host", val, sizeof(val)) && strcasecmp(val, host) != 0 &&
	    !(strncasecmp(val, "localhost:", 10) == 0 && strcmp(val + 10, host + 10) == 0))
		*refuse = 1;
	if (plain_path && header(req, end, "Sec-Fetch-Site", val, sizeof(val)) &&
	    (strcasecmp(val, "cross-site") == 0 || strcasecmp(val, "same-site") == 0))
		*refuse = 1;
	return 1;
}

static void fail(const char *why, const buf *req, const buf *ans)
{
	fprintf(stderr, "fuzz_desk: %s\n--- request\n%.*s\n--- answer\n%.*s\n", why,
		(int)(req->len > 4000 ? 4000 : req->len), req->p,
		(int)(ans->len > 8000 ? 8000 : ans->len), ans->p);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int started;
	buf req, ans;
	const char *at;
	int refuse, checkable, again = 0, first = 1;

	if (!started) {
		start();
		started = 1;
	}
	expand(data, size, &req);
	checkable = must_refuse(req.p, &refuse);
	is_head = strncmp(req.p, "HEAD ", 5) == 0;
	exchange(req.p, req.len, all_come(req.p, req.len), &ans);
	for (at = ans.p; at < ans.p + ans.len;) {
		const char *end = strstr(at, "\r\n\r\n"), *body;
		char val[512];
		size_t blen;
		int status;

		if (strncmp(at, "HTTP/1.", 7) != 0 || sscanf(at + 8, " %3d", &status) != 1)
			fail("an answer without a status line", &req, &ans);
		if (!end)
			fail("an answer whose head does not end", &req, &ans);
		body = end + 4;
		blen = is_head ? 0
			       : header(at, end, "Content-Length", val, sizeof(val))
				     ? strtoul(val, NULL, 10)
				     : (size_t)(ans.p + ans.len - body);
		if (blen > (size_t)(ans.p + ans.len - body))
			blen = (size_t)(ans.p + ans.len - body);
		if (!header(at, end, "Server-Timing", val, sizeof(val))) {
			/* libmicrohttpd's own refusal of what is no request:
			 * an error, and nothing of the request in it */
			if (status < 400 || memmem(body, blen, "<script", 7))
				fail("a response the desk did not make", &req, &ans);
			/* and the connection's last: libmicrohttpd 0.9.75
			 * sends the head of some twice (a bad
			 * Content-Length), so what follows is not read */
			break;
		} else if (!header(at, end, "Cache-Control", val, sizeof(val)) ||
			   strcmp(val, "no-store") != 0 ||
			   !header(at, end, "X-Content-Type-Options", val, sizeof(val)) ||
			   strcmp(val, "nosniff") != 0 ||
			   !header(at, end, "Content-Security-Policy", val, sizeof(val)) ||
			   strncmp(val, "default-src 'none';", 19) != 0) {
			fail("a response without the security headers", &req, &ans);
		}
		if (first && checkable && refuse && status < 400)
			fail("a foreign Host or another page's request was served", &req, &ans);
		if (header(at, end, "Content-Type", val, sizeof(val)) && strstr(val, "text/html")) {
			const char *s = body;
			size_t left = blen;

			while ((s = memmem(s, left, "<script", 7))) {
				if ((size_t)(body + blen - s) < strlen(OWN_SCRIPT) ||
				    memcmp(s, OWN_SCRIPT, strlen(OWN_SCRIPT)) != 0)
					fail("a <script that is not the desk's own in a page", &req, &ans);
				s += 7;
				left = (size_t)(body + blen - s);
			}
		}
		if (header(at, end, "Set-Cookie", val, sizeof(val)) ||
		    (header(at, end, "Location", val, sizeof(val)) && strstr(val, "expired")))
			again = 1;
		first = 0;
		at = body + blen;
	}
	if (again && !signed_in())
		sign_in();
	free(req.p);
	free(ans.p);
	return 0;
}
