/*
 * Fuzz target: an SSH signature as a commit's gpgsig header carries it
 * (crypto/sshsig.c), from an archive nobody trusts, and an ssh-ed25519
 * public key line. Never crash or read past the input; a signature that
 * verifies over the message is by one of the two keys that made the seeds
 * (chartsync's own, and one of ssh-keygen's); a key line that parses
 * prints back as a line that parses to the same key.
 */
#include "crypto/crypto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the seeds sign: a commit as git hands it to the signer. */
static const char msg[] = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
			  "author dev <dev@chartsync> 1732500000 +0000\n"
			  "committer dev <dev@chartsync> 1732500000 +0000\n"
			  "\nbatch 1 of device 0123\n";

/* chartsync's identity from the seed 1, 2, ..., 32; then ssh-keygen's */
static const unsigned char signers[2][CHS_SIGN_PK_BYTES] = {
	{ 0x79, 0xb5, 0x56, 0x2e, 0x8f, 0xe6, 0x54, 0xf9, 0x40, 0x78, 0xb1, 0x12, 0xe8, 0xa9,
	  0x8b, 0xa7, 0x90, 0x1f, 0x85, 0x3a, 0xe6, 0x95, 0xbe, 0xd7, 0xe0, 0xe3, 0x91, 0x0b,
	  0xad, 0x04, 0x96, 0x64 },
	{ 0xbc, 0x19, 0xa8, 0xb6, 0x29, 0x80, 0xad, 0x08, 0xf6, 0xe0, 0x53, 0xbd, 0x58, 0xef,
	  0xb9, 0x74, 0x49, 0xdf, 0xd3, 0x90, 0x1f, 0x00, 0x1f, 0x9a, 0x19, 0xb0, 0x52, 0xa6,
	  0xde, 0x9c, 0xad, 0x1a },
};

static void check_key_line(const uint8_t *data, size_t size)
{
	unsigned char pk[CHS_SIGN_PK_BYTES], again[CHS_SIGN_PK_BYTES];
	char *line = malloc(size + 1);
	chs_buf b;

	if (!line)
		return;
	memcpy(line, data, size);
	line[size] = '\0'; /* the parser reads a C string */
	if (chs_ssh_public_key_parse(pk, line) == 0) {
		chs_buf_init(&b, 0);
		if (chs_ssh_public_key(&b, pk) != 0 || chs_ssh_public_key_parse(again, b.ptr) != 0 ||
		    memcmp(pk, again, sizeof(pk)) != 0)
			abort();
		chs_buf_dispose(&b);
	}
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char signer[CHS_SIGN_PK_BYTES];

	if (chs_crypto_init() != 0)
		return 0;
	if (chs_sshsig_verify(signer, (const char *)data, size, "git", msg, strlen(msg)) == 0 &&
	    memcmp(signer, signers[0], sizeof(signer)) != 0 &&
	    memcmp(signer, signers[1], sizeof(signer)) != 0)
		abort(); /* a signature nobody made */
	/* the same bytes over another message and namespace never verify */
	if (chs_sshsig_verify(NULL, (const char *)data, size, "file", data, size) == 0)
		abort();
	check_key_line(data, size);
	return 0;
}
