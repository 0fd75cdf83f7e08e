/* The central store's layout.  The root and everything in it belong to
 * the store's owner; only data/ and state/ are traversable by anyone,
 * because idmapped mounts show them to instance users, yet their
 * contents stay owner-only through their own modes. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/model.h"
#include "store/store.h"
#include "util/cleanup.h"

struct layout_dir {
	const char *name;
	mode_t mode;
};

static const struct layout_dir layout[] = {
	{ "data", 0700 },
	{ "state", 0700 },
	{ "generations", 0700 },
	{ "log", 0700 },
};

static const char *pick(const char *arg, const char *env, const char *dflt)
{
	const char *v;

	if (arg && *arg)
		return arg;
	v = getenv(env);
	if (v && *v)
		return v;
	return dflt;
}

/* mkdir -p with MODE for the last component; parents get 0755. */
static int mkdir_p(const char *path, mode_t mode, struct sp_err *err)
{
	cleanup_free char *copy = strdup(path);
	char *p;

	if (!copy)
		return sp_fail_errno(err, ENOMEM, "%s", path);
	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			return sp_fail_errno(err, errno, "create %s", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "create %s", copy);
	return 0;
}

static int open_dir_nofollow(int dirfd, const char *name, int *fd, struct sp_err *err)
{
	*fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0)
		return sp_fail_errno(err, errno, "open %s", name);
	return 0;
}

int sp_store_open(const char *state_dir, const char *run_dir,
		  struct sp_store *store, struct sp_err *err)
{
	const char *root = pick(state_dir, "SPECTRUM_STATE_DIR", SP_DEFAULT_STATE_DIR);
	const char *run = pick(run_dir, "SPECTRUM_RUN_DIR", SP_DEFAULT_RUN_DIR);
	struct stat st;
	size_t i;

	memset(store, 0, sizeof *store);
	store->root_fd = store->data_fd = store->state_fd = -1;
	if (root[0] != '/' || run[0] != '/')
		return sp_fail(err, SP_ERR_USAGE, "state and run directories must be absolute paths (got %s, %s)",
			       root, run);
	if (mkdir_p(root, 0711, err) < 0 || mkdir_p(run, 0711, err) < 0)
		goto fail;
	store->root = realpath(root, NULL);
	store->run_dir = realpath(run, NULL);
	if (!store->root || !store->run_dir) {
		sp_fail_errno(err, errno, "resolve %s", !store->root ? root : run);
		goto fail;
	}
	store->root_fd = open(store->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (store->root_fd < 0) {
		sp_fail_errno(err, errno, "open %s", store->root);
		goto fail;
	}
	if (fstat(store->root_fd, &st) < 0) {
		sp_fail_errno(err, errno, "stat %s", store->root);
		goto fail;
	}
	/* Whoever owns the store's root owns what instances write. */
	store->owner_uid = st.st_uid;
	store->owner_gid = st.st_gid;
	for (i = 0; i < sizeof layout / sizeof layout[0]; i++) {
		if (mkdirat(store->root_fd, layout[i].name, layout[i].mode) < 0 && errno != EEXIST) {
			sp_fail_errno(err, errno, "create %s/%s", store->root, layout[i].name);
			goto fail;
		}
	}
	if (open_dir_nofollow(store->root_fd, "data", &store->data_fd, err) < 0 ||
	    open_dir_nofollow(store->root_fd, "state", &store->state_fd, err) < 0) {
		sp_err_wrap(err, "store %s", store->root);
		goto fail;
	}
	return 0;
fail:
	sp_store_close(store);
	return -1;
}

void sp_store_close(struct sp_store *store)
{
	free(store->root);
	free(store->run_dir);
	if (store->root_fd >= 0)
		close(store->root_fd);
	if (store->data_fd >= 0)
		close(store->data_fd);
	if (store->state_fd >= 0)
		close(store->state_fd);
	memset(store, 0, sizeof *store);
	store->root_fd = store->data_fd = store->state_fd = -1;
}

int sp_store_home(const struct sp_store *store, const char *name, int *fd,
		  struct sp_err *err)
{
	if (!sp_name_valid(name))
		return sp_fail(err, SP_ERR_USAGE, "%s: not a valid instance name", name);
	if (sp_mkdir_beneath(store->state_fd, name, 0700, fd, err) < 0)
		return sp_err_wrap(err, "home of %s", name);
	return 0;
}
