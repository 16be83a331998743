/*
 * sync/git/wire.c - push and fetch: what happens on the wire. The
 * callbacks of a libgit2 transfer (progress, host keys and certificates,
 * SSH credentials, the server's refusals) and the refspecs asked for.
 * The same code runs in this process or in the helper process (the
 * progress it reports goes through pipe.c there). Calls pipe.c and
 * repo.c.
 */
#include "git_int.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <libssh2.h>

/* What a fetch asks for: a store that may not read clinical data never
 * receives attachment chunks, not even as ciphertext. A ref the archive
 * lacks (no roster yet) is no error. */
#define FETCH_ROSTER "+refs/chartsync/roster:refs/remotes/archive/chartsync/roster"
#define FETCH_DEVICES "+refs/chartsync/devices/*:refs/remotes/archive/chartsync/devices/*"
#define FETCH_BLOBS "+refs/chartsync/blobs/*:refs/remotes/archive/chartsync/blobs/*"
#define PROGRESS_EVERY_MS 100        /* least time between progress reports */

uint64_t chs_git__mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Tell the caller (or the parent) how far the transfer is. `what` NULL is
 * a sign of life only (the server answered), never shown to a person. */
static void report(net_op *op, const char *what, size_t done, size_t total)
{
	uint64_t now = chs_git__mono_ms();

	/* at most ten reports a second; the last one of a phase always */
	if (now - op->reported_ms < PROGRESS_EVERY_MS && !(what && total && done == total))
		return;
	op->reported_ms = now;
	if (op->fd >= 0)
		chs_git__send_progress(op->fd, what, done, total);
	else if (what && op->t->progress)
		op->t->progress(what, done, total, op->t->payload);
}

static int on_ref_status(const char *refname, const char *status, void *payload)
{
	net_op *op = payload;

	if (status)
		chs_buf_printf(&op->refused, "%s%s: %s", op->refused.len ? "; " : "",
			       refname, status);
	return 0;
}

static int on_sideband(const char *text, int len, void *payload)
{
	net_op *op = payload;

	report(op, NULL, 0, 0);
	if (op->push && len > 0 && op->said.len < 1024)
		chs_buf_put(&op->said, text, (size_t)len);
	return 0;
}

static int on_pack(int stage, uint32_t current, uint32_t total, void *payload)
{
	report(payload, stage == GIT_PACKBUILDER_ADDING_OBJECTS ? "counting objects"
							       : "compressing objects",
	       current, total);
	return 0;
}

static int on_push_transfer(unsigned int current, unsigned int total, size_t bytes,
			    void *payload)
{
	(void)bytes;
	report(payload, "writing objects", current, total);
	return 0;
}

static int on_fetch_transfer(const git_indexer_progress *p, void *payload)
{
	if (p->received_objects < p->total_objects)
		report(payload, "receiving objects", p->received_objects, p->total_objects);
	else
		report(payload, "resolving deltas", p->indexed_deltas, p->total_deltas);
	return 0;
}

static const char *system_known_hosts = CHS_GIT_SYSTEM_KNOWN_HOSTS;

void chs_git__set_system_known_hosts(const char *path)
{
	system_known_hosts = path ? path : CHS_GIT_SYSTEM_KNOWN_HOSTS;
}

/* The port of an ssh address (ssh://[user@]host[:port]/path; 22 for
 * user@host:path), as libgit2 looks the host up: "[host]:port" in a
 * known_hosts file unless it is 22. */
static int ssh_port(const char *url)
{
	const char *p = strstr(url, "://"), *end, *at, *colon;
	long port;

	if (!p)
		return 22;
	p += 3;
	end = p + strcspn(p, "/");
	for (at = p; at < end; at++)
		if (*at == '@')
			p = at + 1;
	if (*p == '[' && (colon = memchr(p, ']', (size_t)(end - p))))
		colon = colon + 1 < end && colon[1] == ':' ? colon + 1 : NULL;
	else
		colon = memchr(p, ':', (size_t)(end - p));
	if (!colon)
		return 22;
	port = strtol(colon + 1, NULL, 10);
	return port > 0 && port < 65536 ? (int)port : 22;
}

/* libssh2's name for the type of a host key libgit2 hands over. */
static int known_key_type(git_cert_ssh_raw_type_t t)
{
	switch (t) {
	case GIT_CERT_SSH_RAW_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case GIT_CERT_SSH_RAW_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
	case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
	default: return -1;
	}
}

/* What the known_hosts file `file` says of `host`'s key: one of
 * LIBSSH2_KNOWNHOST_CHECK_* (NOTFOUND when the file is missing or
 * unreadable: it lists nothing). libssh2 reads OpenSSH's format, hashed
 * host names and "[host]:port" included. */
static int known_in(const char *file, const char *host, int port, const git_cert_hostkey *k,
		    int type)
{
	LIBSSH2_SESSION *session = NULL;
	LIBSSH2_KNOWNHOSTS *hosts = NULL;
	int rc = LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;

	if (!file || access(file, R_OK) != 0)
		return rc;
	/* the list needs a session for its memory functions only */
	if (!(session = libssh2_session_init()) || !(hosts = libssh2_knownhost_init(session))) {
		rc = LIBSSH2_KNOWNHOST_CHECK_FAILURE;
		goto done;
	}
	if (libssh2_knownhost_readfile(hosts, file, LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		rc = LIBSSH2_KNOWNHOST_CHECK_FAILURE;
		goto done;
	}
	rc = libssh2_knownhost_checkp(hosts, host, port, k->hostkey, k->hostkey_len,
				      LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
				      type, NULL);
done:
	if (hosts)
		libssh2_knownhost_free(hosts);
	if (session)
		libssh2_session_free(session);
	return rc;
}

/*
 * libgit2 1.5 checks an SSH host key against $HOME/.ssh/known_hosts only;
 * under the systemd unit HOME is the service user's state folder, and
 * an admin puts the archive's key where every user and the service
 * read it, /etc/ssh/ssh_known_hosts, as OpenSSH does. So a key libgit2
 * did not find is looked up there too: 1 when it is listed there, -1
 * when that file or ~/.ssh/known_hosts lists another key for the host
 * (the host changed, or someone pretends to be it: refused), 0 when
 * neither knows it.
 */
static int known_system_wide(net_op *op, const char *host, const git_cert_hostkey *k)
{
	const char *home = getenv("HOME");
	char mine[4096];
	int type, port = ssh_port(op->url), sys, user = LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;

	if (!host || !(k->type & GIT_CERT_SSH_RAW) || !k->hostkey ||
	    (type = known_key_type(k->raw_type)) < 0)
		return 0;
	sys = known_in(system_known_hosts, host, port, k, type);
	if (home && *home &&
	    snprintf(mine, sizeof(mine), "%s/.ssh/known_hosts", home) < (int)sizeof(mine))
		user = known_in(mine, host, port, k, type);
	if (sys == LIBSSH2_KNOWNHOST_CHECK_MISMATCH || user == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
		return -1;
	return sys == LIBSSH2_KNOWNHOST_CHECK_MATCH;
}

/* libgit2 checks an SSH host against ~/.ssh/known_hosts (and an https
 * certificate against the trusted CAs, see trust_from_env) before it
 * calls this; an SSH key it did not find may be in the system-wide file
 * (known_system_wide). Otherwise keep its verdict and remember a bad
 * one, and which kind, for the message. */
static int on_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	net_op *op = payload;
	int known;

	report(op, NULL, 0, 0);
	if (!valid && cert && cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2) {
		known = known_system_wide(op, host, (const git_cert_hostkey *)cert);
		if (known > 0)
			return 0;
		op->host_changed = known < 0;
	}
	if (!valid) {
		op->host_unknown = 1;
		op->tls_unknown = cert && cert->cert_type == GIT_CERT_X509;
	}
	return GIT_PASSTHROUGH;
}

/*
 * Which CAs an https archive's certificate must come from. libgit2 1.5
 * on Debian uses mbedTLS, which reads /etc/ssl/certs/ca-certificates.crt
 * (the list update-ca-certificates keeps) and nothing else. A clinic
 * whose archive has a certificate from its own CA either adds that CA to
 * the system's list (update-ca-certificates) or, for chartsync alone,
 * names it in SSL_CERT_FILE (a PEM file of CAs) or SSL_CERT_DIR (a
 * folder of them), as OpenSSL's tools (curl, openssl s_client) read
 * them: they then replace the system's list. Runs in the helper process
 * of each https push or fetch, so the variables are read as they are at
 * that sync.
 */
static int trust_from_env(const net_op *op)
{
	const char *file = getenv("SSL_CERT_FILE"), *dir = getenv("SSL_CERT_DIR");
	const git_error *e;

	if (strncmp(op->url, "https://", 8) != 0)
		return 0;
	if (file && !*file)
		file = NULL;
	if (dir && !*dir)
		dir = NULL;
	if (!file && !dir)
		return 0;
	if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, dir) == 0)
		return 0;
	e = git_error_last();
	return chs_error_set(CHS_EINVALID, "cannot read the trusted CAs named by %s%s%s%s%s (%s); "
			     "fix or unset it, then sync again", file ? "SSL_CERT_FILE=" : "",
			     file ? file : "", file && dir ? " and " : "",
			     dir ? "SSL_CERT_DIR=" : "", dir ? dir : "",
			     e && e->message ? e->message : "no reason given");
}

/* libgit2's reason for refusing a certificate, as mbedTLS words it
 * ("the SSL certificate is invalid: 0x04 - The certificate Common Name
 * (CN) does not match with the expected CN"), in a technician's words. */
static const char *tls_reason(const char *why)
{
	if (strstr(why, "Common Name") || strstr(why, "expected CN"))
		return "it is made out for another name than the archive's address";
	if (strstr(why, "not correctly signed") || strstr(why, "trusted CA"))
		return "it is signed by a certificate authority this computer does not trust";
	if (strstr(why, "expired"))
		return "it has expired";
	if (strstr(why, "future"))
		return "it is not valid yet (is this computer's clock right?)";
	return "it does not check";
}

/* The SSH wire form of an Ed25519 public key:
 * string("ssh-ed25519") string(32-byte key), each with a 4-byte
 * big-endian length. */
#define SSH_ED25519_BLOB_BYTES (4 + 11 + 4 + CHS_SIGN_PK_BYTES)

static void ssh_ed25519_blob(unsigned char out[SSH_ED25519_BLOB_BYTES],
			     const unsigned char pk[CHS_SIGN_PK_BYTES])
{
	static const unsigned char head[4 + 11 + 4] = {
		0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9',
		0, 0, 0, CHS_SIGN_PK_BYTES
	};

	memcpy(out, head, sizeof(head));
	memcpy(out + sizeof(head), pk, CHS_SIGN_PK_BYTES);
}

/* libssh2 asks for the raw 64-byte Ed25519 signature of `data` in
 * malloc'ed memory (it frees it, and wraps it in string("ssh-ed25519")
 * string(sig) itself: checked against OpenSSH 9.2's sshd). `*abstract`
 * is the payload given to git_credential_ssh_custom_new(). */
static int sign_with_device(LIBSSH2_SESSION *session, unsigned char **sig, size_t *sig_len,
			    const unsigned char *data, size_t data_len, void **abstract)
{
	const chs_identity *id = *abstract;

	(void)session;
	if (!(*sig = chs_malloc(CHS_SIGNATURE_BYTES)))
		return -1;
	chs_identity_sign(id, *sig, data, data_len);
	*sig_len = CHS_SIGNATURE_BYTES;
	return 0;
}

/* The SSH keys this device may offer, in order: the device key when the
 * caller set one; otherwise ssh-agent (when running) and then
 * ~/.ssh/id_ed25519 (when present). Offering an agent that is not there
 * would end the connection instead of trying the next key. */
static int ssh_key_at(git_credential **out, const net_op *op, const char *user, size_t i)
{
	unsigned char blob[SSH_ED25519_BLOB_BYTES];
	const char *home = getenv("HOME"), *agent = getenv("SSH_AUTH_SOCK");
	char file[4096];

	if (op->t->ssh_key) {
		if (i > 0)
			return GIT_ENOTFOUND;
		ssh_ed25519_blob(blob, chs_identity_public(op->t->ssh_key));
		return git_credential_ssh_custom_new(out, user, (const char *)blob, sizeof(blob),
						     sign_with_device, (void *)op->t->ssh_key);
	}
	if (agent && *agent && i-- == 0)
		return git_credential_ssh_key_from_agent(out, user);
	if (home && snprintf(file, sizeof(file), "%s/.ssh/id_ed25519", home) < (int)sizeof(file) &&
	    access(file, R_OK) == 0 && i-- == 0)
		return git_credential_ssh_key_new(out, user, NULL, file, NULL);
	return GIT_ENOTFOUND;
}

/* Called once to start and again after each refused key: hand out the
 * next key, and give up (out_of_keys) when none is left. */
static int on_credentials(git_credential **out, const char *url, const char *user_from_url,
			  unsigned int allowed, void *payload)
{
	net_op *op = payload;
	const char *user = user_from_url && *user_from_url ? user_from_url : "git";
	int rc;

	(void)url;
	report(op, NULL, 0, 0);
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	if (!(allowed & (GIT_CREDENTIAL_SSH_CUSTOM | GIT_CREDENTIAL_SSH_KEY)))
		return GIT_PASSTHROUGH; /* https with a password: not ours to answer */
	rc = ssh_key_at(out, op, user, op->tries++);
	if (rc == GIT_ENOTFOUND) {
		op->out_of_keys = 1;
		git_error_set_str(GIT_ERROR_SSH, "no more SSH keys to offer");
		return GIT_EAUTH;
	}
	return rc;
}

/*
 * libgit2 1.5 writes a push as many small writes (the commands, the pack
 * header, each object's header and data) on a socket with Nagle's
 * algorithm on: a small write then waits until the server acknowledges
 * the one before, and the server delays that acknowledgement by 40 ms
 * (Linux's shortest delayed ACK). Measured on git:// at 127.0.0.1: 40 of
 * the 90 ms of a push of 100 changes. libgit2 has no hook on its sockets
 * (a custom GIT_STREAM_STANDARD would break its ssh transport, which reads
 * the descriptor out of libgit2's own socket struct), so the helper
 * process, once libgit2 has connected and before the pack goes, turns
 * TCP_NODELAY on for every TCP socket that was not open when the helper
 * started: libgit2's, never one it shares with the parent. Speed only:
 * any failure here is ignored.
 */
void chs_git__note_inherited(net_op *op)
{
	int fd;

	FD_ZERO(&op->inherited);
	for (fd = 0; fd < FD_SETSIZE; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			FD_SET(fd, &op->inherited);
}

static void no_delay(const net_op *op)
{
	struct sockaddr_storage a;
	socklen_t len;
	int fd, type, one = 1;

	for (fd = 0; fd < FD_SETSIZE; fd++) {
		if (FD_ISSET(fd, &op->inherited))
			continue;
		len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
			continue;
		len = sizeof(a);
		if (getsockname(fd, (struct sockaddr *)&a, &len) == 0 &&
		    (a.ss_family == AF_INET || a.ss_family == AF_INET6))
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
}

/* Called once connected, with the refs agreed, before the pack is sent. */
static int on_negotiated(const git_push_update **updates, size_t n, void *payload)
{
	net_op *op = payload;

	(void)updates;
	(void)n;
	report(op, NULL, 0, 0);
	if (op->fd >= 0)
		no_delay(op);
	return 0;
}

static void set_callbacks(git_remote_callbacks *cb, net_op *op)
{
	cb->credentials = on_credentials;
	cb->certificate_check = on_certificate;
	cb->sideband_progress = on_sideband;
	cb->payload = op;
	if (op->push) {
		cb->push_update_reference = on_ref_status;
		cb->push_negotiation = on_negotiated;
		cb->pack_progress = on_pack;
		cb->push_transfer_progress = on_push_transfer;
	} else {
		cb->transfer_progress = on_fetch_transfer;
	}
}

/* The hook's own words, trimmed to one line, when it said anything. */
const char *chs_git__hook_words(net_op *op)
{
	char *p;

	if (!op->said.ptr)
		return "";
	while ((p = strchr(op->said.ptr, '\r')) || (p = strchr(op->said.ptr, '\n')))
		*p = ' ';
	return op->said.ptr;
}

/* A push that would rewind a ref of the archive, however it was found. */
int chs_git__refused_rewind(void)
{
	return chs_error_set(CHS_EDENIED, "the archive refused the push: it holds commits of "
			     "this device's ref that this device does not have (not a "
			     "fast-forward)");
}

/* 1 when libgit2 gave up because the link to the archive broke once it
 * was reached: closed or reset mid-transfer, an ssh session that ended
 * before its banner, key exchange or channel were through, a pack cut
 * short ("early EOF"). Its words then are the network layer's or
 * libssh2's (GIT_ERROR_NET, GIT_ERROR_SSH); an archive never reached
 * ("failed to connect", "failed to resolve") is said as out of reach. */
static int connection_cut(void)
{
	const git_error *e = git_error_last();

	if (!e || !e->message || (e->klass != GIT_ERROR_NET && e->klass != GIT_ERROR_SSH))
		return 0;
	return !strstr(e->message, "failed to connect") && !strstr(e->message, "failed to resolve");
}

/* Why a push or fetch failed, in words, once libgit2 gave up. */
static int net_failure(net_op *op, int rc, const char *doing)
{
	char url[1024];
	const char *shown = chs_git_shown_address(op->url, url, sizeof(url));

	if (rc == GIT_EAUTH && !op->out_of_keys && strncmp(op->url, "https://", 8) == 0)
		return chs_error_set(CHS_EDENIED, "the archive at %s asks for a login that its "
				     "address does not give, or the server refused it: write the "
				     "archive's user and password or access token into the address "
				     "(chartsync remote https://USER:TOKEN@HOST/PATH)", shown);
	if (op->tls_unknown) {
		const git_error *e = git_error_last();
		char why[512];
		size_t n;

		snprintf(why, sizeof(why), "%s", e && e->message ? e->message : "");
		/* mbedTLS gives one line per flaw */
		for (n = 0; why[n]; n++)
			if (why[n] == '\n')
				why[n] = ';';
		while ((n = strlen(why)) && (why[n - 1] == '\n' || why[n - 1] == ' '))
			why[n - 1] = '\0';
		return chs_error_set(CHS_EDENIED, "the archive's certificate is not trusted on this "
				     "computer: %s (%s); nothing was sent or fetched. If the archive "
				     "uses a certificate authority of its own, add it to this "
				     "computer's trusted ones (update-ca-certificates) or name it in "
				     "SSL_CERT_FILE; otherwise check the archive's address (%s)",
				     tls_reason(why), why, shown);
	}
	if (op->host_changed)
		return chs_error_set(CHS_EDENIED, "the archive at %s answered with another SSH host "
				     "key than the one %s or ~/.ssh/known_hosts lists for it: the "
				     "archive's key was replaced, or someone is pretending to be the "
				     "archive; nothing was sent or fetched. Ask the admin whether the "
				     "archive's host key really changed", shown, system_known_hosts);
	if (op->host_unknown)
		return chs_error_set(CHS_EDENIED, "the archive at %s is not a host this computer "
				     "knows: its SSH host key is in neither %s (for every user and "
				     "the service) nor ~/.ssh/known_hosts; ask the admin for the "
				     "archive's host key and add it to one of them", shown,
				     system_known_hosts);
	if (op->out_of_keys && op->tries == 1 && !op->t->ssh_key)
		return chs_error_set(CHS_EDENIED, "no SSH key to offer the archive at %s (no "
				     "device key set, no ssh-agent, no ~/.ssh/id_ed25519)", shown);
	if (op->out_of_keys)
		return chs_error_set(CHS_EDENIED, op->t->ssh_key
				     ? "the archive at %s refused this device's SSH key; ask the "
				       "admin to add it (chartsync device allowed-signers prints it)"
				     : "the archive at %s refused every SSH key of this computer "
				       "(ssh-agent, ~/.ssh/id_ed25519); ask the admin to add one",
				     shown);
	if (rc == GIT_ENONFASTFORWARD)
		return chs_git__refused_rewind();
	if (connection_cut())
		return chs_error_set(CHS_EIO, "the connection to the archive at %s was cut before the "
				     "%s finished (%s); nothing was lost, run sync again", shown,
				     op->push ? "push" : "fetch", git_error_last()->message);
	if (!op->push)
		return chs_git__fail_fetch(shown, "cannot reach the archive at");
	return chs_git__fail(CHS_EIO, doing);
}

int chs_git__push_refspecs(git_remote *remote, net_op *op)
{
	git_push_options opts;
	git_strarray specs;
	char **list = chs_calloc(op->n + 1, sizeof(*list));
	size_t i;
	int rc, err = 0;

	if (!list)
		return chs_error_set(CHS_ENOMEM, "out of memory");
	for (i = 0; i < op->n && !err; i++) {
		chs_buf b;

		/* no '+': the archive must fast-forward, never rewind */
		chs_buf_init(&b, 0);
		if ((err = chs_buf_printf(&b, "%s:%s", op->refs[i], op->refs[i])) == 0)
			list[i] = chs_buf_detach(&b);
	}
	specs.strings = list;
	specs.count = op->n;
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	set_callbacks(&opts.callbacks, op);
	if (!err)
		err = trust_from_env(op);
	if (!err && (rc = git_remote_push(remote, &specs, &opts)) < 0)
		err = net_failure(op, rc, "cannot push to the archive");
	for (i = 0; i < op->n; i++)
		free(list[i]);
	free(list);
	return err;
}

int chs_git__fetch_refspecs(git_remote *remote, net_op *op)
{
	char *spec[3];
	git_strarray specs = { spec, 0 };
	git_fetch_options opts;
	int rc;

	if (op->what & CHS_GIT_FETCH_CHANGES) {
		spec[specs.count++] = (char *)FETCH_ROSTER;
		spec[specs.count++] = (char *)FETCH_DEVICES;
	}
	if (op->what & CHS_GIT_FETCH_CHUNKS)
		spec[specs.count++] = (char *)FETCH_BLOBS;
	if (specs.count == 0)
		return 0;
	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	/* a ref deleted in the archive goes here too: what the mirror says
	 * the archive holds is what it holds now */
	opts.prune = GIT_FETCH_PRUNE;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.update_fetchhead = 0; /* nothing reads FETCH_HEAD: one lock less */
	set_callbacks(&opts.callbacks, op);
	if ((rc = trust_from_env(op)) != 0)
		return rc;
	if ((rc = git_remote_fetch(remote, &specs, &opts, NULL)) < 0)
		return net_failure(op, rc, "cannot fetch from the archive");
	return 0;
}
