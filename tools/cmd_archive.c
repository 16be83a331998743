/*
 * chartsync archive init PATH | archive install-hook PATH
 *
 * The server side: a bare git repository that devices push to, guarded by
 * chartsync-archive-hook as its pre-receive hook (tools/archive_hook.c).
 * Neither command opens a store.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "cli.h"
#include "sync/sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOOK_EXE "chartsync-archive-hook"
/* A pre-receive hook holding this line is ours to replace. */
#define HOOK_MARK "# installed by 'chartsync archive install-hook'"

static const char archive_help[] =
	"usage: chartsync archive init PATH\n"
	"       chartsync archive install-hook PATH\n"
	"\n"
	"The archive is a bare git repository on any git server (ssh, https or\n"
	"git daemon) that every device pushes its signed batches to.\n"
	"\n"
	"init creates one at PATH (a new or empty folder) with the settings it\n"
	"needs and installs the hook. install-hook installs the hook into an\n"
	"existing bare repository, e.g. one a Gitea server or an ssh account\n"
	"keeps; a pre-receive hook chartsync did not install is left alone.\n"
	"\n"
	"The hook, " HOOK_EXE ", refuses a push that rewrites or deletes\n"
	"a ref, comes from a device not on the roster (or revoked), or carries a\n"
	"bad signature, a malformed batch or a roster the admin did not sign.\n";

/* ---- finding the hook's executable ---- */

static int executable(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0;
}

/* Next to the running chartsync: how both are installed and built. */
static int hook_beside_self(char **out)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	chs_buf b;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	if (!(slash = strrchr(self, '/')))
		return -1;
	*slash = '\0';
	chs_buf_init(&b, 0);
	if (chs_buf_printf(&b, "%s/%s", self, HOOK_EXE) < 0 || !executable(b.ptr)) {
		chs_buf_dispose(&b);
		return -1;
	}
	*out = chs_buf_detach(&b);
	return 0;
}

static int hook_on_path(char **out)
{
	const char *path = getenv("PATH"), *p, *end;
	char full[PATH_MAX];

	for (p = path; p && *p; p = *end ? end + 1 : end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		if (end > p && snprintf(full, sizeof(full), "%.*s/%s", (int)(end - p), p,
					HOOK_EXE) < (int)sizeof(full) &&
		    executable(full) && (*out = realpath(full, NULL)))
			return 0;
	}
	return -1;
}

/* The absolute path of chartsync-archive-hook: the hook script names it,
 * and git runs hooks with a PATH of its own. */
static int find_hook(char **out)
{
	*out = NULL;
	if (hook_beside_self(out) == 0 || hook_on_path(out) == 0)
		return 0;
	return chs_error_set(CHS_ENOTFOUND, "cannot find %s next to chartsync or on PATH; "
			     "install chartsync's server part on this machine", HOOK_EXE);
}

/* ---- writing the hook ---- */

/* `s` in single quotes for sh. */
static int sh_quote(chs_buf *b, const char *s)
{
	int err = chs_buf_puts(b, "'");

	for (; *s && err == 0; s++)
		err = *s == '\'' ? chs_buf_puts(b, "'\\''") : chs_buf_put(b, s, 1);
	return err ? err : chs_buf_puts(b, "'");
}

static int hook_script(chs_buf *b, const char *exe)
{
	int err = chs_buf_puts(b, "#!/bin/sh\n" HOOK_MARK ".\n"
			       "# It checks every push against the chartsync roster; see\n"
			       "# 'chartsync archive --help'.\n"
			       "exec ");

	if (err == 0)
		err = sh_quote(b, exe);
	return err ? err : chs_buf_puts(b, " \"$@\"\n");
}

/* A pre-receive hook already there may be replaced only if it is ours:
 * another one (Gitea's, a mirror's) is somebody's work. */
static int check_existing(const char *file)
{
	char buf[4096];
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? 0 : chs_error_set(CHS_EIO, "cannot read '%s': %s",
							   file, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (strstr(buf, HOOK_MARK))
		return 0;
	return chs_error_set(CHS_EEXISTS, "'%s' is a pre-receive hook chartsync did not install; "
			     "it is left alone: have it run %s, or remove it and try again",
			     file, HOOK_EXE);
}

static int install_hook(const char *repo, const char *exe)
{
	chs_buf dir, file, script;
	int err;

	chs_buf_init(&dir, 0);
	chs_buf_init(&file, 0);
	chs_buf_init(&script, 0);
	if ((err = chs_git_probe_bare(repo)) < 0 ||
	    (err = chs_buf_printf(&dir, "%s/hooks", repo)) < 0 ||
	    (err = chs_buf_printf(&file, "%s/pre-receive", dir.ptr)) < 0)
		goto done;
	if (mkdir(dir.ptr, 0755) < 0 && errno != EEXIST) {
		err = chs_error_set(CHS_EIO, "cannot create '%s': %s", dir.ptr, strerror(errno));
		goto done;
	}
	if ((err = check_existing(file.ptr)) < 0 || (err = hook_script(&script, exe)) < 0 ||
	    /* whole or not at all: git never runs a half-written hook */
	    (err = chs_file_write(file.ptr, script.ptr, script.len, 0755)) < 0)
		goto done;
done:
	chs_buf_dispose(&dir);
	chs_buf_dispose(&file);
	chs_buf_dispose(&script);
	return err;
}

/* ---- init ---- */

/* 1 if `path` is missing, 0 if it is an empty folder; else an error. */
static int check_fresh(const char *path, int *missing)
{
	struct dirent *e;
	DIR *d;
	int empty = 1;

	*missing = 0;
	if (!(d = opendir(path))) {
		if (errno == ENOENT) {
			*missing = 1;
			return 0;
		}
		return chs_error_set(CHS_EEXISTS, "'%s' is not a folder; give a new or empty "
				     "folder for the archive", path);
	}
	while (empty && (e = readdir(d)))
		empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty ? 0 : chs_error_set(CHS_EEXISTS, "'%s' is not empty; give a new or "
					 "empty folder for the archive", path);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

/* Nothing half-done is left behind: what init made goes again. */
static void undo_init(const char *path, int missing)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (!missing)
		mkdir(path, 0755);
}

static int archive_init(const char *path)
{
	char *exe = NULL;
	int missing, err;

	/* find the hook before making anything, the likeliest failure */
	if ((err = check_fresh(path, &missing)) < 0 || (err = find_hook(&exe)) < 0)
		goto done;
	if ((err = chs_git_init_archive(path)) < 0)
		goto done;
	if ((err = install_hook(path, exe)) < 0) {
		undo_init(path, missing);
		goto done;
	}
	printf("created archive '%s'; its pre-receive hook runs %s\n", path, exe);
done:
	free(exe);
	return err;
}

static int archive_install_hook(const char *path)
{
	char *exe = NULL;
	int err;

	if ((err = find_hook(&exe)) == 0 && (err = install_hook(path, exe)) == 0)
		printf("installed the pre-receive hook in '%s'; it runs %s\n", path, exe);
	free(exe);
	return err;
}

int cmd_archive(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	const char *verb;
	int i, err;

	ctx->help_text = archive_help;
	if ((i = cli_parse(ctx, argc, argv, opts, NULL, NULL)) < 0)
		return CLI_USAGE;
	if (ctx->help)
		return cli_help(ctx);
	if (i >= argc)
		return cli_usage(ctx, "what to do? give 'init' or 'install-hook'");
	verb = argv[i];
	if (strcmp(verb, "init") != 0 && strcmp(verb, "install-hook") != 0)
		return cli_usage(ctx, "'%s' is not an archive command", verb);
	if (argc - i < 2)
		return cli_usage(ctx, "which folder? give the archive's PATH");
	if (argc - i > 2)
		return cli_usage(ctx, "unexpected argument '%s'", argv[i + 2]);
	err = strcmp(verb, "init") == 0 ? archive_init(argv[i + 1])
					: archive_install_hook(argv[i + 1]);
	return err < 0 ? cli_fail(err) : CLI_OK;
}
