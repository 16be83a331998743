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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SSHD "/usr/sbin/sshd"

int tu_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(s, 0);
	sa = tu_loopback(0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &len), 0);
	close(s);
	return ntohs(sa.sin_port);
}

int tu_port_open(int port)
{
	struct sockaddr_in sa;
	int c = socket(AF_INET, SOCK_STREAM, 0), ok;

	sa = tu_loopback(port);
	ok = connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(c);
	return ok;
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char *p = tu_path(dir, name);

	ck_assert_int_eq(tu_write(p, text, strlen(text)), 0);
	free(p);
}

/* The host key, "ssh-ed25519 BASE64" without ssh-keygen's comment. */
static void make_host_key(tu_sshd *s)
{
	char *pub = tu_path(s->dir, "host_ed25519.pub");
	unsigned char *text;
	char *sp;
	size_t n;

	ck_assert_msg(tu_sh("ssh-keygen -q -t ed25519 -N '' -C host -f '%s/host_ed25519'",
			    s->dir) == 0, "ssh-keygen failed: is openssh-client installed?");
	text = tu_read(pub, &n);
	ck_assert_ptr_nonnull(text);
	sp = strchr(strchr((char *)text, ' ') + 1, ' ');
	if (sp)
		*sp = '\0';
	snprintf(s->host_key, sizeof(s->host_key), "%s", (char *)text);
	free(text);
	free(pub);
}

static void write_config(const tu_sshd *s)
{
	char conf[4096];

	snprintf(conf, sizeof(conf),
		 "Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_ed25519\n"
		 "PidFile %s/sshd.pid\nAuthorizedKeysFile %s/authorized_keys\n"
		 "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
		 "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\n"
		 "LogLevel VERBOSE\n",
		 s->port, s->dir, s->dir, s->dir);
	write_text(s->dir, "sshd_config", conf);
}

/* Fail the test with what sshd said. */
static void sshd_failed(tu_sshd *s, const char *why)
{
	char *log = tu_path(s->dir, "sshd.log");
	size_t n;
	unsigned char *text = tu_read(log, &n);

	ck_abort_msg("sshd %s (is openssh-server installed? tools/dev/deps installs it): %s",
		     why, text ? (char *)text : "no log");
}

static void wait_for_port(tu_sshd *s)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int tries, status;

	for (tries = 0; tries < 250; tries++) {
		if (tu_port_open(s->port))
			return;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			sshd_failed(s, "exited at start");
		}
		nanosleep(&ts, NULL);
	}
	sshd_failed(s, "did not listen within 5 s");
}

void tu_sshd_start(tu_sshd *s, const char *authorized_key)
{
	char line[8192];

	memset(s, 0, sizeof(*s));
	s->dir = tu_tempdir();
	s->port = tu_free_port();
	make_host_key(s);
	write_config(s);
	snprintf(line, sizeof(line), "%s\n", authorized_key);
	write_text(s->dir, "authorized_keys", line);
	/* privilege separation needs its empty folder; a fresh container may lack it */
	if (mkdir("/run/sshd", 0755) < 0 && errno != EEXIST && getuid() == 0)
		ck_abort_msg("cannot make /run/sshd: %s", strerror(errno));
	s->pid = fork();
	ck_assert_int_ge(s->pid, 0);
	if (s->pid == 0) {
		char *conf = tu_path(s->dir, "sshd_config"), *log = tu_path(s->dir, "sshd.log");
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		execl(SSHD, SSHD, "-D", "-e", "-f", conf, (char *)NULL);
		fprintf(stderr, "cannot run " SSHD ": %s\n", strerror(errno));
		_exit(127);
	}
	wait_for_port(s);
}

void tu_sshd_stop(tu_sshd *s)
{
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, &status, 0);
	}
	s->pid = 0;
	tu_rmtree(s->dir);
	free(s->dir);
	s->dir = NULL;
}

void tu_sshd_home(const tu_sshd *s, const char *home, int trust)
{
	char *ssh = tu_path(home, ".ssh"), hosts[512];

	ck_assert_int_eq(mkdir(ssh, 0700), 0);
	if (trust)
		snprintf(hosts, sizeof(hosts), "[127.0.0.1]:%d %s\n", s->port, s->host_key);
	else
		hosts[0] = '\0';
	write_text(ssh, "known_hosts", hosts);
	ck_assert_int_eq(setenv("HOME", home, 1), 0);
	free(ssh);
}
