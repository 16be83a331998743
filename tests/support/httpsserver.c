#include "httpsserver.h"
#include "sshserver.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LIGHTTPD "/usr/sbin/lighttpd"
#define HTTP_BACKEND "/usr/lib/git-core/git-http-backend"

/* A CA (NAME.crt, NAME.key) and a certificate it signs for `host`
 * (CERT.crt, CERT.key), with the name in subjectAltName as browsers and
 * mbedTLS want it. RSA: every TLS library takes it. */
static void make_ca(const char *dir, const char *name, const char *cn)
{
	ck_assert_msg(tu_sh("cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 2"
			    " -subj '/CN=%s' -keyout %s.key -out %s.crt 2>/dev/null", dir, cn,
			    name, name) == 0, "openssl could not make a CA: is openssl installed?");
}

static void make_cert(const char *dir, const char *ca, const char *cert, const char *host)
{
	ck_assert_msg(tu_sh("cd '%s' && openssl req -newkey rsa:2048 -nodes -subj '/CN=%s'"
			    " -keyout %s.key -out %s.csr 2>/dev/null &&"
			    " printf 'subjectAltName=DNS:%s\\nbasicConstraints=CA:FALSE\\n' > %s.ext &&"
			    " openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -CAcreateserial"
			    " -days 2 -extfile %s.ext -out %s.crt 2>/dev/null",
			    dir, host, cert, cert, host, cert, cert, ca, ca, cert, cert) == 0,
		      "openssl could not sign a certificate for %s", host);
}

static void write_config(const tu_https *s, const char *root)
{
	char conf[8192], *path = tu_path(s->dir, "lighttpd.conf");
	int n;

	n = snprintf(conf, sizeof(conf),
		     "server.modules = (\"mod_openssl\", \"mod_auth\", \"mod_authn_file\", \"mod_alias\","
		     " \"mod_setenv\", \"mod_cgi\")\n"
		     "server.bind = \"127.0.0.1\"\n"
		     "server.port = %d\n"
		     "server.document-root = \"%s/www\"\n"
		     "server.errorlog = \"%s/error.log\"\n"
		     "ssl.engine = \"enable\"\n"
		     "ssl.pemfile = \"%s/good.crt\"\nssl.privkey = \"%s/good.key\"\n"
		     "$SERVER[\"socket\"] == \"127.0.0.1:%d\" {\n ssl.engine = \"enable\"\n"
		     " ssl.pemfile = \"%s/stranger.crt\"\n ssl.privkey = \"%s/stranger.key\"\n}\n"
		     "$SERVER[\"socket\"] == \"127.0.0.1:%d\" {\n ssl.engine = \"enable\"\n"
		     " ssl.pemfile = \"%s/elsewhere.crt\"\n ssl.privkey = \"%s/elsewhere.key\"\n}\n"
		     /* git-http-backend(1)'s own recipe for lighttpd; under
		      * /private the same archives behind a login */
		     "alias.url = (\"/git\" => \"" HTTP_BACKEND "\","
		     " \"/private\" => \"" HTTP_BACKEND "\")\n"
		     "auth.backend = \"plain\"\n"
		     "auth.backend.plain.userfile = \"%s/users\"\n"
		     "$HTTP[\"url\"] =~ \"^/private\" {\n auth.require = (\"\" => (\"method\" =>"
		     " \"basic\", \"realm\" => \"archive\", \"require\" => \"valid-user\"))\n}\n"
		     "$HTTP[\"url\"] =~ \"^/(git|private)\" {\n cgi.assign = (\"\" => \"\")\n"
		     " setenv.set-environment = (\"GIT_PROJECT_ROOT\" => \"%s\","
		     " \"GIT_HTTP_EXPORT_ALL\" => \"\", \"PATH\" => \"/usr/bin:/bin\")\n}\n",
		     s->port[TU_HTTPS_GOOD], s->dir, s->dir, s->dir, s->dir,
		     s->port[TU_HTTPS_OTHER_CA], s->dir, s->dir, s->port[TU_HTTPS_OTHER_NAME],
		     s->dir, s->dir, s->dir, root);
	ck_assert_int_lt(n, (int)sizeof(conf));
	ck_assert_int_eq(tu_write(path, conf, (size_t)n), 0);
	free(path);
}

static void failed(const tu_https *s, const char *why)
{
	char *log = tu_path(s->dir, "error.log"), *out = tu_path(s->dir, "lighttpd.out");
	size_t n;
	unsigned char *text = tu_read(log, &n), *more = tu_read(out, &n);

	ck_abort_msg("lighttpd %s (are lighttpd and lighttpd-mod-openssl installed? "
		     "tools/dev/deps installs them): %s %s", why, text ? (char *)text : "",
		     more ? (char *)more : "");
}

void tu_https_start(tu_https *s, const char *root)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	char *www;
	pid_t parent = getpid();
	int i, tries, status, up = 0;

	memset(s, 0, sizeof(*s));
	s->dir = tu_tempdir();
	www = tu_path(s->dir, "www");
	ck_assert_int_eq(tu_sh("mkdir '%s'", www), 0);
	free(www);
	make_ca(s->dir, "ca", "Test Clinic CA");
	make_ca(s->dir, "otherca", "Another Clinic CA");
	make_cert(s->dir, "ca", "good", "localhost");
	make_cert(s->dir, "otherca", "stranger", "localhost");
	make_cert(s->dir, "ca", "elsewhere", "archive.example.org");
	s->ca = tu_path(s->dir, "ca.crt");
	for (i = 0; i < TU_HTTPS_PORTS; i++)
		s->port[i] = tu_free_port();
	write_config(s, root);
	www = tu_path(s->dir, "users");
	ck_assert_int_eq(tu_write(www, TU_HTTPS_LOGIN "\n", strlen(TU_HTTPS_LOGIN) + 1), 0);
	free(www);
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		char *conf = tu_path(s->dir, "lighttpd.conf"), *out = tu_path(s->dir, "lighttpd.out");
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600), nul = open("/dev/null", O_RDWR);

		/* a failed check ends the test without its teardown: the
		 * server goes with it */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(LIGHTTPD, LIGHTTPD, "-D", "-f", conf, (char *)NULL);
		fprintf(stderr, "cannot run " LIGHTTPD ": %s\n", strerror(errno));
		_exit(127);
	}
	for (tries = 0; tries < 500 && up < TU_HTTPS_PORTS; tries++) {
		for (up = 0; up < TU_HTTPS_PORTS && tu_port_open(s->port[up]); up++)
			;
		if (up == TU_HTTPS_PORTS)
			break;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			failed(s, "exited at start");
		}
		nanosleep(&ts, NULL);
	}
	if (up < TU_HTTPS_PORTS)
		failed(s, "did not listen within 10 s");
}

char *tu_https_url(const tu_https *s, int which, const char *name)
{
	char url[512];

	snprintf(url, sizeof(url), "https://localhost:%d/git/%s", s->port[which], name);
	return strdup(url);
}

void tu_https_stop(tu_https *s)
{
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, &status, 0);
	}
	s->pid = 0;
	if (s->dir)
		tu_rmtree(s->dir);
	free(s->dir);
	free(s->ca);
	s->dir = s->ca = NULL;
}
