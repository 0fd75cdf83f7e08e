/* Reading a configuration file: ".json" as it is, ".nix" through
 * nix-instantiate.  Both end in sp_config_parse(), so both give the same
 * model and the same messages. */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/model.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/nixenv.h"

/* A configuration is a few kilobytes; the limit only stops a mistake (a
 * device, a huge file) from eating memory. */
#define CONFIG_MAX ((size_t)16 << 20)
/* Enough of Nix's stderr to find its message; the rest is drained. */
#define NIX_STDERR_MAX ((size_t)64 << 10)
#define NIX_MESSAGE_MAX 400

/* Debian's nix-bin warns on every run that the "nixbld" group is missing;
 * evaluation needs no build users, so the setting is emptied. */
#define NIX_CONFIG_EXTRA SP_NIX_CONFIG

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
	bool full; /* more than MAX bytes arrived */
};

/* Reads what is available on FD into B.  Returns 1 when more may come,
 * 0 at end of file, -1 with errno set. */
static int buf_read(int fd, struct buf *b)
{
	char chunk[65536];
	ssize_t r;

	do
		r = read(fd, chunk, sizeof chunk);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return (int)r;
	if (b->len + (size_t)r > b->max) {
		b->full = true;
		r = (ssize_t)(b->max - b->len);
	}
	if (b->len + (size_t)r + 1 > b->cap) {
		/* Doubling keeps a large file from being copied over and over. */
		size_t cap = b->cap ? b->cap : sizeof chunk;
		char *n;

		while (cap < b->len + (size_t)r + 1)
			cap *= 2;
		n = realloc(b->data, cap);
		if (!n) {
			errno = ENOMEM;
			return -1;
		}
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, chunk, (size_t)r);
	b->len += (size_t)r;
	b->data[b->len] = '\0';
	return 1;
}

static int read_file(const char *file, struct buf *b, struct sp_err *err)
{
	cleanup_fd int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		goto fail;
	while ((r = buf_read(fd, b)) > 0) {
		if (b->full)
			return sp_fail(err, SP_ERR_USAGE, "%s: larger than 16 MiB", file);
	}
	if (r < 0)
		goto fail;
	return 0;
fail:
	/* A file that cannot be read is the user's mistake, not the
	 * system's: usage, with errno's words. */
	r = errno;
	sp_fail(err, SP_ERR_USAGE, "%s: cannot read: %s", file, strerror(r));
	err->errnum = r;
	return -1;
}

/* The environment with NIX_CONFIG extended, built before spawning so
 * that nothing is allocated between fork and exec.  The user's own
 * NIX_CONFIG comes after ours, so that their settings win.  *MINE is the
 * one string allocated here; the others belong to environ. */
static char **nix_environment(char **mine)
{
	const char *old = getenv("NIX_CONFIG");
	size_t n = 0, k = 0;
	char **env;
	int r;

	if (old && old[0] != '\0')
		r = asprintf(mine, "NIX_CONFIG=%s\n%s", NIX_CONFIG_EXTRA, old);
	else
		r = asprintf(mine, "NIX_CONFIG=%s", NIX_CONFIG_EXTRA);
	if (r < 0) {
		*mine = NULL;
		return NULL;
	}
	while (environ && environ[n])
		n++;
	env = calloc(n + 2, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "NIX_CONFIG=", strlen("NIX_CONFIG=")) != 0)
			env[k++] = environ[i];
	env[k] = *mine;
	return env;
}

static const char *next_line(const char *p)
{
	const char *nl = strchr(p, '\n');

	return nl ? nl + 1 : NULL;
}

/* Appends the line at S to LINE, with control characters as '?'. */
static size_t put_line(char line[static NIX_MESSAGE_MAX], size_t n, const char *s, size_t room)
{
	for (; *s && *s != '\n' && n + room < NIX_MESSAGE_MAX; s++)
		line[n++] = (unsigned char)*s < 0x20 ? '?' : *s;
	return n;
}

/* Nix's stderr as one line: the first "error:" line (or else the first
 * line that is not blank), followed by the "at FILE:LINE:COL" that
 * locates it when Nix gives one. */
static void nix_message(const char *text, char line[static NIX_MESSAGE_MAX])
{
	const char *msg = NULL, *at = NULL, *p;
	size_t n = 0;

	for (p = text; p && *p; p = next_line(p)) {
		const char *s = p + strspn(p, " \t");

		if (!msg && strncmp(s, "error:", 6) == 0)
			msg = s;
		else if (msg && !at && strncmp(s, "at ", 3) == 0)
			at = s;
	}
	for (p = text; !msg && p && *p; p = next_line(p)) {
		const char *s = p + strspn(p, " \t");

		if (*s != '\n' && *s != '\0')
			msg = s;
	}
	line[0] = '\0';
	if (!msg)
		return;
	n = put_line(line, n, msg, 1);
	if (at && n + 8 < NIX_MESSAGE_MAX) {
		line[n++] = ' ';
		line[n++] = '(';
		n = put_line(line, n, at, 2);
		if (line[n - 1] == ':') /* "at /x.nix:1:3:" */
			n--;
		line[n++] = ')';
	}
	line[n] = '\0';
}

/* Reads the child's stdout into OUT and stderr into ERRB until both
 * close.  Returns -1 with errno set, or when OUT overflows. */
static int collect(int out_fd, int err_fd, struct buf *out, struct buf *errb)
{
	struct pollfd pf[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
	int open_fds = 2;

	while (open_fds > 0) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			int r;

			if (pf[i].fd < 0 || pf[i].revents == 0)
				continue;
			r = buf_read(pf[i].fd, i == 0 ? out : errb);
			if (r < 0)
				return -1;
			if (r == 0) {
				pf[i].fd = -1;
				open_fds--;
			}
			if (out->full) {
				errno = EFBIG;
				return -1;
			}
		}
	}
	return 0;
}

/* Imports the configuration and returns { config; drvs; }: the
 * configuration (derivations become their output paths in the JSON), and
 * the .drv of every derivation in an instance's software, so that
 * `switch` can build them.  Kept here, not in nix/, so that it cannot be
 * swapped along with SPECTRUM_NIX_DIR. */
static const char eval_wrapper[] =
	"{ file }:\n"
	"let\n"
	"  value = import (/. + file);\n"
	"  config = if builtins.isFunction value then value { } else value;\n"
	"  isDrv = x: builtins.isAttrs x && x ? drvPath;\n"
	"  softwareOf = i: if builtins.isAttrs i && builtins.isList (i.software or null)\n"
	"    then i.software else [ ];\n"
	"  instances = if builtins.isAttrs config && builtins.isAttrs (config.instances or null)\n"
	"    then builtins.attrValues config.instances else [ ];\n"
	"  drvPaths = map (d: d.drvPath) (builtins.filter isDrv (builtins.concatMap softwareOf instances));\n"
	"in {\n"
	"  inherit config;\n"
	"  # each once: fifty instances of ten apps are ten builds\n"
	"  drvs = builtins.attrNames (builtins.listToAttrs (map (p: {\n"
	"    name = builtins.unsafeDiscardStringContext p; value = null; }) drvPaths));\n"
	"}\n";

/* Where the Nix library is: SPECTRUM_NIX_DIR, else the repository's nix/
 * as configured at build time. */
static const char *nix_dir(void)
{
	const char *dir = getenv("SPECTRUM_NIX_DIR");

	return dir && dir[0] ? dir : SPECTRUM_NIX_DIR_DEFAULT;
}

static int spawn_nix(const char *path, char **env, int out_fd, int err_fd, pid_t *pid)
{
	cleanup_free char *include = NULL;
	posix_spawn_file_actions_t fa;
	char *argv[16];
	size_t n = 0;
	int r;

	if (asprintf(&include, "spectrum=%s", nix_dir()) < 0) {
		include = NULL;
		return ENOMEM;
	}
	/* Read-write mode: evaluating drvPath writes the .drv files to the
	 * store, so that `switch` can build them afterwards. */
	argv[n++] = "nix-instantiate";
	argv[n++] = "--eval";
	argv[n++] = "--strict";
	argv[n++] = "--json";
	argv[n++] = "--read-write-mode";
	argv[n++] = "-I";
	argv[n++] = include;
	argv[n++] = "--argstr";
	argv[n++] = "file";
	argv[n++] = (char *)path;
	argv[n++] = "--expr";
	argv[n++] = (char *)eval_wrapper;
	argv[n] = NULL;

	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return r;
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	/* posix_spawnp reports a failed exec (nix-instantiate missing) as
	 * its return value, which a bare fork and exec would lose. */
	if (r == 0)
		r = posix_spawnp(pid, "nix-instantiate", &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

static int eval_nix(const char *file, struct buf *out, struct sp_err *err)
{
	struct buf errb = { .max = NIX_STDERR_MAX };
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	char **env = NULL;
	cleanup_free char *env_mine = NULL;
	cleanup_free char *path = NULL;
	char line[NIX_MESSAGE_MAX];
	pid_t pid = -1;
	int status, r, ret = -1;

	/* The wrapper imports the file by its absolute path. */
	path = realpath(file, NULL);
	if (!path) {
		sp_fail_errno(err, errno, "%s: cannot read", file);
		err->kind = SP_ERR_USAGE;
		goto out;
	}
	env = nix_environment(&env_mine);
	if (!env) {
		sp_fail_errno(err, ENOMEM, "%s", file);
		goto out;
	}
	if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
		sp_fail_errno(err, errno, "%s: pipe", file);
		goto out;
	}
	r = spawn_nix(path, env, out_pipe[1], err_pipe[1], &pid);
	if (r != 0) {
		pid = -1;
		sp_fail_errno(err, r, "%s: cannot run nix-instantiate", file);
		goto out;
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;

	if (collect(out_pipe[0], err_pipe[0], out, &errb) < 0) {
		if (out->full)
			sp_fail(err, SP_ERR_USAGE, "%s: evaluates to more than 16 MiB of JSON", file);
		else
			sp_fail_errno(err, errno, "%s: reading from nix-instantiate", file);
		kill(pid, SIGKILL);
		goto out;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			sp_fail_errno(err, errno, "%s: waiting for nix-instantiate", file);
			goto out;
		}
	}
	pid = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ret = 0;
		goto out;
	}
	nix_message(errb.data, line);
	if (line[0] != '\0')
		sp_fail(err, SP_ERR_USAGE, "%s: %s", file, line);
	else if (WIFEXITED(status))
		sp_fail(err, SP_ERR_USAGE, "%s: nix-instantiate exited with status %d",
			file, WEXITSTATUS(status));
	else
		sp_fail(err, SP_ERR_USAGE, "%s: nix-instantiate killed by signal %d",
			file, WTERMSIG(status));
out:
	for (int i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
	}
	/* Reached with a live child only on an error: do not leave a zombie. */
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	free(env);
	free(errb.data);
	return ret;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Splits the wrapper's { config; drvs; } into the configuration's JSON text
 * and the list of derivations. */
static int split_eval(const char *file, const struct buf *text, char **json, char ***drvs,
		      struct sp_err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(text->data ? text->data : "", text->len, 0, &jerr);
	json_t *config, *list, *v;
	size_t i, n;
	int ret = -1;

	config = root ? json_object_get(root, "config") : NULL;
	list = root ? json_object_get(root, "drvs") : NULL;
	if (!config || !json_is_array(list)) {
		sp_fail(err, SP_ERR_USAGE, "%s: the evaluation gave no { config; drvs; }",
			file);
		goto out;
	}
	*json = json_dumps(config, JSON_COMPACT | JSON_ENCODE_ANY);
	n = json_array_size(list);
	*drvs = calloc(n + 1, sizeof **drvs);
	if (!*json || !*drvs) {
		sp_fail_errno(err, ENOMEM, "%s", file);
		goto out;
	}
	json_array_foreach(list, i, v) {
		const char *d = json_string_value(v);
		if (!d || strncmp(d, "/nix/store/", 11) != 0 || strchr(d, '\n')) {
			sp_fail(err, SP_ERR_USAGE, "%s: drvs[%zu]: expected a store path", file, i);
			goto out;
		}
		(*drvs)[i] = strdup(d);
		if (!(*drvs)[i]) {
			sp_fail_errno(err, ENOMEM, "%s", file);
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(root);
	return ret;
}

int sp_config_load(const char *file, struct sp_config *out, struct sp_err *err)
{
	struct buf text = { .max = CONFIG_MAX };
	char *json = NULL;
	char **drvs = NULL;
	int ret;

	memset(out, 0, sizeof *out);
	if (ends_with(file, ".nix")) {
		ret = eval_nix(file, &text, err);
		if (ret == 0)
			ret = split_eval(file, &text, &json, &drvs, err);
	} else {
		ret = read_file(file, &text, err);
		if (ret == 0) {
			json = strndup(text.data ? text.data : "", text.len);
			if (!json)
				ret = sp_fail_errno(err, ENOMEM, "%s", file);
		}
	}
	if (ret == 0)
		ret = sp_config_parse(json, strlen(json), file, out, err);
	if (ret == 0) {
		out->json = json;
		out->derivations = drvs;
		json = NULL;
		drvs = NULL;
	}
	free(json);
	for (size_t i = 0; drvs && drvs[i]; i++)
		free(drvs[i]);
	free(drvs);
	free(text.data);
	return ret;
}
