/* What an instance runs: the host's /usr, or Nix store closures.  Only
 * the closure of each listed store path is bound, never the whole of
 * /nix/store, so an instance cannot even list what else is installed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan/plan-internal.h"
#include "util/cleanup.h"
#include "util/nixenv.h"
#include "util/strv.h"

/* The top-level directories that a merged-/usr or split host keeps next
 * to /usr; each is mirrored as a link or bound read-only. */
static const char *const host_top_dirs[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };

static int add_host(struct sp_plan *plan, struct sp_err *err)
{
	char link[256], path[64];
	struct stat st;
	size_t i;

	if (sp_plan_add(plan, SP_MNT_BIND, SP_ORIGIN_SOFTWARE, "/usr", "/usr", true) < 0)
		return sp_fail_errno(err, ENOMEM, "plan");
	for (i = 0; i < sizeof host_top_dirs / sizeof host_top_dirs[0]; i++) {
		snprintf(path, sizeof path, "/%s", host_top_dirs[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(path, link, sizeof link - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (sp_plan_add(plan, SP_MNT_SYMLINK, SP_ORIGIN_SOFTWARE, link, path, true) < 0)
				return sp_fail_errno(err, ENOMEM, "plan");
		} else if (S_ISDIR(st.st_mode)) {
			if (sp_plan_add(plan, SP_MNT_BIND, SP_ORIGIN_SOFTWARE, path, path, true) < 0)
				return sp_fail_errno(err, ENOMEM, "plan");
		}
	}
	/* The loader's cache of /usr's libraries; harmless and needed for
	 * programs linked against libraries outside the default paths. */
	if (sp_plan_add(plan, SP_MNT_BIND, SP_ORIGIN_SOFTWARE, "/etc/ld.so.cache", "/etc/ld.so.cache", true) < 0)
		return sp_fail_errno(err, ENOMEM, "plan");
	plan->mounts[plan->n_mounts - 1].optional = true;
	return 0;
}

/* `nix-store -qR` of every listed path, deduplicated, in Nix's order. */
static int closure(char *const *paths, char ***out, struct sp_err *err)
{
	cleanup_free char *text = NULL;
	char **argv = NULL;
	char *save = NULL, *line;
	int ret = -1;

	if (sp_strv_push(&argv, "nix-store") < 0 || sp_strv_push(&argv, "--query") < 0 ||
	    sp_strv_push(&argv, "--requisites") < 0)
		goto nomem;
	for (size_t i = 0; paths[i]; i++)
		if (sp_strv_push(&argv, paths[i]) < 0)
			goto nomem;
	if (sp_capture(argv, SP_NIX_ENV, &text, err) < 0) {
		sp_err_wrap(err, "closure of the software");
		goto out;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "/nix/store/", 11) != 0 || strchr(line + 11, '/')) {
			sp_fail(err, SP_ERR_RUNTIME, "nix-store printed an unexpected path: %s", line);
			goto out;
		}
		if (!sp_strv_contains(*out, line) && sp_strv_push(out, line) < 0)
			goto nomem;
	}
	ret = 0;
	goto out;
nomem:
	sp_fail_errno(err, ENOMEM, "closure");
out:
	sp_strv_free(argv);
	return ret;
}

static int path_append(char **path, const char *dir)
{
	char *n = *path ? sp_printf("%s:%s", *path, dir) : strdup(dir);

	if (!n)
		return -1;
	free(*path);
	*path = n;
	return 0;
}

int sp_plan_software(const struct sp_instance *inst, struct sp_plan *plan,
		     char **path_out, struct sp_err *err)
{
	char **paths = NULL;
	char *path = NULL;
	int ret = -1;

	if (inst->store_paths && inst->store_paths[0]) {
		for (size_t i = 0; inst->store_paths[i]; i++) {
			if (access(inst->store_paths[i], F_OK) < 0) {
				sp_fail_errno(err, errno, "software %s", inst->store_paths[i]);
				goto out;
			}
		}
		if (closure(inst->store_paths, &paths, err) < 0)
			goto out;
		for (size_t i = 0; paths[i]; i++) {
			if (sp_plan_add(plan, SP_MNT_BIND, SP_ORIGIN_SOFTWARE, paths[i], paths[i], true) < 0 ||
			    sp_strv_push(&plan->software, paths[i]) < 0)
				goto nomem;
		}
		for (size_t i = 0; inst->store_paths[i]; i++) {
			cleanup_free char *bin = sp_printf("%s/bin", inst->store_paths[i]);
			if (!bin || path_append(&path, bin) < 0)
				goto nomem;
		}
	}
	if (inst->software_host) {
		if (add_host(plan, err) < 0)
			goto out;
		if (sp_strv_push(&plan->software, "host") < 0 ||
		    path_append(&path, "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin") < 0)
			goto nomem;
	}
	*path_out = path;
	path = NULL;
	ret = 0;
	goto out;
nomem:
	sp_fail_errno(err, ENOMEM, "plan");
out:
	free(path);
	sp_strv_free(paths);
	return ret;
}
