/*
 * tests/support/httpsserver.h - an https git server for tests: lighttpd
 * on 127.0.0.1 running git's http-backend (CGI), as Gitea or GitLab
 * serve git over https, with certificates from a throwaway certificate
 * authority made by the openssl command. One server listens on three
 * ports, each showing another certificate: the right one (for
 * "localhost", signed by the test CA), one for "localhost" signed by a
 * second CA nobody trusts, and one signed by the test CA for another
 * name. Everything lives in a temporary folder.
 */
#ifndef CHS_TEST_HTTPSSERVER_H
#define CHS_TEST_HTTPSSERVER_H

#include <sys/types.h>

enum { TU_HTTPS_GOOD, TU_HTTPS_OTHER_CA, TU_HTTPS_OTHER_NAME, TU_HTTPS_PORTS };

/* The user name and password of https://localhost:PORT/private/NAME,
 * the same repositories behind a login (git's http-backend then takes
 * pushes without http.receivepack, as a server with accounts does). */
#define TU_HTTPS_LOGIN "clinic:s3cret"

typedef struct tu_https {
	char *dir;               /* its temporary folder */
	char *ca;                /* the test CA's certificate (PEM), to trust */
	pid_t pid;
	int port[TU_HTTPS_PORTS];
} tu_https;

/* Start lighttpd serving every repository under `root` (absolute path)
 * at https://localhost:PORT/git/NAME; returns once every port accepts
 * connections. Pushes need `http.receivepack true` in the repository's
 * config (no authentication: tests only). Fails the test, with
 * lighttpd's log, when it cannot start. */
void tu_https_start(tu_https *s, const char *root);
/* The URL of repository `name` on the port showing certificate `which`
 * (TU_HTTPS_*); malloc'ed. */
char *tu_https_url(const tu_https *s, int which, const char *name);
/* Stop lighttpd and remove its folder; accepts a server never started. */
void tu_https_stop(tu_https *s);

#endif
