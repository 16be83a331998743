/*
 * crypto/sshsig: SSH signatures checked against the real tools. OpenSSH's
 * ssh-keygen must accept ours and we must accept its; with the same key
 * both are byte-identical; and git verifies a commit signed with ours.
 */
#include "crypto/crypto.h"
#include "support/testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char *dir;

static void setup(void)
{
	ck_assert_int_eq(chs_crypto_init(), 0);
	dir = tu_tempdir();
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

static void write_text(const char *name, const char *text, size_t len)
{
	char *p = tu_path(dir, name);

	ck_assert_int_eq(tu_write(p, text, len), 0);
	free(p);
}

static char *read_text(const char *name, size_t *len)
{
	char *p = tu_path(dir, name);
	char *t = (char *)tu_read(p, len);

	free(p);
	ck_assert_ptr_nonnull(t);
	return t;
}

static void allowed_signers(const chs_identity *id)
{
	chs_buf line;

	chs_buf_init(&line, 0);
	ck_assert_int_eq(chs_buf_puts(&line, "dev@chartsync namespaces=\"git\" "), 0);
	ck_assert_int_eq(chs_ssh_public_key(&line, chs_identity_public(id)), 0);
	ck_assert_int_eq(chs_buf_puts(&line, "\n"), 0);
	write_text("allowed", line.ptr, line.len);
	chs_buf_dispose(&line);
}

static const char msg[] = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
			  "author dev <dev@chartsync> 1732500000 +0000\n"
			  "committer dev <dev@chartsync> 1732500000 +0000\n"
			  "\nbatch 1 of device 0123\n";

START_TEST(test_sshsig__ssh_keygen_accepts_ours)
{
	chs_identity *id = NULL;
	chs_buf sig;

	ck_assert_int_eq(chs_identity_new(&id), 0);
	chs_buf_init(&sig, 0);
	ck_assert_int_eq(chs_sshsig_sign(&sig, id, "git", msg, strlen(msg)), 0);
	ck_assert(sig.ptr[sig.len - 1] != '\n'); /* no final newline */
	write_text("sig", sig.ptr, sig.len);
	write_text("msg", msg, strlen(msg));
	allowed_signers(id);
	ck_assert_int_eq(tu_sh("cd '%s' && ssh-keygen -q -Y verify -f allowed -I dev@chartsync "
			    "-n git -s sig < msg >/dev/null", dir), 0);
	/* another namespace or message: refused by ssh-keygen too */
	ck_assert_int_ne(tu_sh("cd '%s' && ssh-keygen -q -Y verify -f allowed -I dev@chartsync "
			    "-n file -s sig < msg >/dev/null 2>&1", dir), 0);
	write_text("msg", "tampered", 8);
	ck_assert_int_ne(tu_sh("cd '%s' && ssh-keygen -q -Y verify -f allowed -I dev@chartsync "
			    "-n git -s sig < msg >/dev/null 2>&1", dir), 0);
	chs_buf_dispose(&sig);
	chs_identity_free(id);
}
END_TEST

/* The 64-byte secret key (seed || public) from an unencrypted OpenSSH
 * private key file, enough of the format for a test. */
static void openssh_secret(const char *path, unsigned char sk[64])
{
	size_t len, blen = 0, i;
	char *text = (char *)tu_read(path, &len), *b64, *p;
	unsigned char *blob = malloc(len);
	int found = 0;

	ck_assert_ptr_nonnull(text);
	b64 = strstr(text, "-----\n") + 6;
	p = strstr(b64, "-----END");
	{
		char *tmp = tu_path(dir, "b64"), *bin = tu_path(dir, "bin");
		unsigned char *raw;

		ck_assert_int_eq(tu_write(tmp, b64, (size_t)(p - b64)), 0);
		ck_assert_int_eq(tu_sh("base64 -d '%s' > '%s'", tmp, bin), 0);
		raw = tu_read(bin, &blen);
		memcpy(blob, raw, blen);
		free(raw);
		free(tmp);
		free(bin);
	}
	/* the private section ends with string(type) string(pk32) string(sk64):
	 * find "ssh-ed25519" followed by a 32-byte string and a 64-byte one */
	for (i = 0; i + 19 + 32 + 4 + 64 <= blen; i++) {
		if (memcmp(blob + i, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 19) == 0 &&
		    memcmp(blob + i + 19 + 32, "\0\0\0\x40", 4) == 0) {
			memcpy(sk, blob + i + 19 + 32 + 4, 64);
			found = 1;
		}
	}
	ck_assert(found);
	free(blob);
	free(text);
}

START_TEST(test_sshsig__same_key_same_bytes_as_ssh_keygen_and_theirs_verifies)
{
	unsigned char sk[64] = { 0 }, pk[32], signer[32];
	chs_identity *id = NULL;
	char *key = tu_path(dir, "key"), *pub, *theirs;
	size_t n;
	chs_buf ours;

	ck_assert_int_eq(tu_sh("ssh-keygen -q -t ed25519 -N '' -C test -f '%s'", key), 0);
	pub = read_text("key.pub", &n);
	ck_assert_int_eq(chs_ssh_public_key_parse(pk, pub), 0);
	write_text("msg", msg, strlen(msg));
	ck_assert_int_eq(tu_sh("cd '%s' && ssh-keygen -q -Y sign -f key -n git msg", dir), 0);
	theirs = read_text("msg.sig", &n);
	/* theirs verifies with us, and names their key */
	ck_assert_int_eq(chs_sshsig_verify(signer, theirs, n, "git", msg, strlen(msg)), 0);
	ck_assert_mem_eq(signer, pk, 32);
	ck_assert_int_eq(chs_sshsig_verify(NULL, theirs, n, "file", msg, strlen(msg)),
			 CHS_EDAMAGED);
	ck_assert_int_eq(chs_sshsig_verify(NULL, theirs, n, "git", msg, 10), CHS_EDAMAGED);
	/* with their key, ours is the same bytes (less ssh-keygen's final newline) */
	openssh_secret(key, sk);
	ck_assert_int_eq(chs_identity_from_secret(&id, sk), 0);
	ck_assert_mem_eq(chs_identity_public(id), pk, 32);
	chs_buf_init(&ours, 0);
	ck_assert_int_eq(chs_sshsig_sign(&ours, id, "git", msg, strlen(msg)), 0);
	ck_assert_uint_eq(ours.len + 1, n);
	ck_assert_mem_eq(ours.ptr, theirs, ours.len);
	chs_buf_dispose(&ours);
	chs_identity_free(id);
	free(pub);
	free(theirs);
	free(key);
}
END_TEST

START_TEST(test_sshsig__git_verifies_a_commit_signed_with_ours)
{
	chs_identity *id = NULL;
	chs_buf sig, commit;
	const char *hdr_end = strstr(msg, "\n\n");
	char *p;

	ck_assert_int_eq(chs_identity_new(&id), 0);
	chs_buf_init(&sig, 0);
	chs_buf_init(&commit, 0);
	ck_assert_int_eq(chs_sshsig_sign(&sig, id, "git", msg, strlen(msg)), 0);
	/* the gpgsig header goes after the committer line; continuation lines
	 * start with a space */
	ck_assert_int_eq(chs_buf_put(&commit, msg, (size_t)(hdr_end - msg) + 1), 0);
	ck_assert_int_eq(chs_buf_puts(&commit, "gpgsig "), 0);
	for (p = sig.ptr; *p; p++) {
		ck_assert_int_eq(chs_buf_put(&commit, p, 1), 0);
		if (*p == '\n')
			ck_assert_int_eq(chs_buf_puts(&commit, " "), 0);
	}
	ck_assert_int_eq(chs_buf_puts(&commit, hdr_end), 0);
	write_text("commit", commit.ptr, commit.len);
	allowed_signers(id);
	ck_assert_int_eq(tu_sh("cd '%s' && git init -q repo && cd repo && "
			    "git hash-object -t tree -w --stdin < /dev/null >/dev/null && "
			    "c=$(git hash-object -t commit -w --stdin < ../commit) && "
			    "git -c gpg.ssh.allowedSignersFile=../allowed verify-commit $c "
			    ">/dev/null 2>&1", dir), 0);
	/* the same commit with another message does not verify */
	p = strstr(commit.ptr, "batch 1");
	p[6] = '2';
	write_text("commit", commit.ptr, commit.len);
	ck_assert_int_ne(tu_sh("cd '%s/repo' && c=$(git hash-object -t commit -w --stdin < ../commit) && "
			    "git -c gpg.ssh.allowedSignersFile=../allowed verify-commit $c "
			    ">/dev/null 2>&1", dir), 0);
	chs_buf_dispose(&sig);
	chs_buf_dispose(&commit);
	chs_identity_free(id);
}
END_TEST

START_TEST(test_sshsig__garbage_never_verifies)
{
	static const char *const bad[] = {
		"", "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----",
		"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----",
		"-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----",
	};
	unsigned char pk[32];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(chs_sshsig_verify(NULL, bad[i], strlen(bad[i]), "git", "m", 1),
				 CHS_EDAMAGED);
	ck_assert_int_eq(chs_ssh_public_key_parse(pk, "ssh-rsa AAAA"), CHS_EINVALID);
	ck_assert_int_eq(chs_ssh_public_key_parse(pk, "ssh-ed25519 AAAA"), CHS_EINVALID);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto-sshsig");
	TCase *tc = tcase_create("sshsig");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sshsig__ssh_keygen_accepts_ours);
	tcase_add_test(tc, test_sshsig__same_key_same_bytes_as_ssh_keygen_and_theirs_verifies);
	tcase_add_test(tc, test_sshsig__git_verifies_a_commit_signed_with_ours);
	tcase_add_test(tc, test_sshsig__garbage_never_verifies);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
