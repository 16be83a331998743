/*
 * tests/support/cli.h - the chartsync binary run as a technician runs it,
 * with no terminal (passphrases come from the environment), in a fresh
 * store folder: what it printed and how it exited.
 */
#ifndef CHS_TEST_CLI_H
#define CHS_TEST_CLI_H

typedef struct tu_result {
	int status; /* exit code, or 128+signal */
	char out[16384];
	char err[16384];
} tu_result;

/* A fresh store folder in CHARTSYNC_STORE, the passphrase `pass` in
 * CHARTSYNC_PASSPHRASE and no other chartsync variable set; the folder's
 * path is returned (malloc'ed, to tu_rmtree and free). */
char *tu_cli_setup(const char *pass);
/* Run `bin` with the arguments that follow (NULL-terminated). */
void tu_cli_run(tu_result *r, const char *bin, ...);
/* Run argv[0] with `argv` (NULL-terminated), its environment ours
 * changed by `env` (NULL-terminated; NULL: none): "KEY=VALUE" sets KEY,
 * "KEY" removes it. */
void tu_cli_runv(tu_result *r, const char *const *env, const char *const *argv);

/* `bin init` as alice at terminal front-desk, which must succeed, in the
 * folder tu_cli_setup made. */
void tu_cli_init_store(const char *bin);
/* tu_cli_init_store(), then make it the admin store of a new organisation
 * (site "central") whose archive `archive_init` makes at `archive`. */
void tu_cli_init_org(const char *bin, const char *archive);

#define tu_ck_status(r, code) \
	ck_assert_msg((r).status == (code), "exit %d, wanted %d; stderr: %s", \
		      (r).status, (code), (r).err)

#endif
