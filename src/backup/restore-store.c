/* `backup restore`: a snapshot, or the homes of chosen instances, into a
 * new directory or back into the store.
 *
 * In place, everything is first restored beside the store (a directory
 * of its own in it, so on the same filesystem), then each part (data,
 * state, generations, current; or state/NAME) is swapped with the live
 * one by renameat2(RENAME_EXCHANGE): a part is either the old or the
 * restored one, never a mix, whenever the restore stops.  An instance
 * whose home would be replaced must not run. */
#include "backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/index.h"
#include "backup/restore.h"
#include "backup/tree.h"
#include "backup/freeze.h"
#include "util/cleanup.h"
#include "util/rmtree.h"
#include "util/strv.h"

/* Opens TO for a restore: made 0700 when it is not there; when it is, it
 * must be an empty directory of ours that nobody else can enter or list
 * (a restore into a 0755 directory would show the store's data to every
 * user, and one of another user's would be theirs to rearrange).  Checked
 * on the descriptor that the restore then writes through. */
static int open_target(const char *to, struct sp_err *err)
{
	cleanup_fd int fd = -1;
	struct stat st;
	DIR *d;
	struct dirent *e;
	int dup_fd;

	if (mkdir(to, 0700) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "%s", to);
	fd = open(to, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return sp_fail_errno(err, errno, "%s", to);
	if (st.st_uid != geteuid())
		return sp_fail(err, SP_ERR_RUNTIME, "%s: owned by uid %ju, not by the user restoring (%ju): refusing it", to,
			       (uintmax_t)st.st_uid, (uintmax_t)geteuid());
	if (st.st_mode & 077)
		return sp_fail(err, SP_ERR_RUNTIME,
			       "%s: mode %04o lets other users in: restore into a new directory, or `chmod 700' this one",
			       to, (unsigned)(st.st_mode & 07777));
	dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (d == NULL) {
		if (dup_fd >= 0)
			close(dup_fd);
		return sp_fail_errno(err, errno, "%s", to);
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			closedir(d);
			return sp_fail(err, SP_ERR_RUNTIME, "%s: not empty (restore writes only into an empty directory)",
				       to);
		}
	}
	closedir(d);
	return steal_fd(&fd);
}

/* Node NAME of the tree at PATH beneath ROOT (for a directory's own
 * metadata, which lives in its parent's listing). */
static int find_meta(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t root[SP_BK_ID_LEN],
		     const char *path, const char *name, struct sp_bk_tree *holder, const struct sp_bk_node **node,
		     struct sp_err *err)
{
	uint8_t id[SP_BK_ID_LEN];

	*node = NULL;
	if (sp_bk_tree_lookup(repo, idx, root, path, id, err) < 0 || sp_bk_tree_load(repo, idx, id, holder, err) < 0)
		return -1;
	for (size_t i = 0; i < holder->n; i++) {
		if (strcmp(holder->nodes[i].name, name) == 0)
			*node = &holder->nodes[i];
	}
	if (*node == NULL || (*node)->type != SP_BK_NODE_DIR)
		return sp_fail(err, SP_ERR_RUNTIME, "no %s/%s in the snapshot", path, name);
	return 0;
}

/* Restores the directory PATH/NAME of the snapshot as NAME beneath
 * DIRFD: its content, then its own owner, mode and times. */
static int restore_dir(struct sp_bk_repo *repo, const struct sp_bk_index *idx, const uint8_t root[SP_BK_ID_LEN],
		       const char *path, const char *name, int dirfd, const char *where,
		       struct sp_bk_restore_budget *budget, struct sp_err *err)
{
	struct sp_bk_tree holder = { 0 };
	const struct sp_bk_node *node;
	cleanup_fd int fd = -1;
	cleanup_free char *sub = NULL;
	struct timespec ts[2];
	int ret = -1;

	if (find_meta(repo, idx, root, path, name, &holder, &node, err) < 0)
		goto out;
	if (mkdirat(dirfd, name, 0700) < 0) {
		sp_fail_errno(err, errno, "%s/%s", where, name);
		goto out;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || asprintf(&sub, "%s/%s", where, name) < 0) {
		sp_fail_errno(err, errno, "%s/%s", where, name);
		goto out;
	}
	if (sp_bk_restore_tree(repo, idx, node->subtree, fd, sub, budget, err) < 0)
		goto out;
	ts[0] = (struct timespec){ node->atime_sec, node->atime_nsec };
	ts[1] = (struct timespec){ node->mtime_sec, node->mtime_nsec };
	/* A home is the store owner's and theirs alone, as the store makes
	 * it (sp_store_home), whatever the snapshot says. */
	if (node->mode & (S_ISUID | S_ISGID))
		budget->dropped.setid++;
	if ((geteuid() == 0 && fchown(fd, budget->owner_uid, budget->owner_gid) < 0) || fchmod(fd, 0700) < 0 ||
	    futimens(fd, ts) < 0) {
		sp_fail_errno(err, errno, "%s", sub);
		goto out;
	}
	ret = 0;
out:
	sp_bk_tree_free(&holder);
	return ret;
}

static bool in_snapshot(const struct sp_bk_snapshot *snap, const char *name)
{
	return sp_strv_contains(snap->instances, name);
}

/* The instances whose homes a restore replaces, checked not running. */
static int check_not_running(const struct sp_bk_restore_opts *opts, const struct sp_bk_snapshot *snap,
			     struct sp_err *err)
{
	cleanup_free char *state = NULL;
	DIR *d;
	struct dirent *e;

	if (opts->instances != NULL) {
		for (size_t i = 0; opts->instances[i] != NULL; i++) {
			if (sp_bk_instance_running(opts->store, opts->instances[i]))
				return sp_fail(err, SP_ERR_RUNTIME,
					       "instance %s is running: stop it first (`spectrum stop %s')",
					       opts->instances[i], opts->instances[i]);
		}
		return 0;
	}
	/* The whole store: every instance it has now or had then. */
	for (size_t i = 0; snap->instances != NULL && snap->instances[i] != NULL; i++) {
		if (sp_bk_instance_running(opts->store, snap->instances[i]))
			return sp_fail(err, SP_ERR_RUNTIME,
				       "instance %s is running: stop every instance before restoring the whole store",
				       snap->instances[i]);
	}
	if (asprintf(&state, "%s/state", opts->store) < 0)
		return sp_fail_errno(err, ENOMEM, "restore");
	d = opendir(state);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' && sp_bk_instance_running(opts->store, e->d_name)) {
			closedir(d);
			return sp_fail(err, SP_ERR_RUNTIME,
				       "instance %s is running: stop every instance before restoring the whole store",
				       e->d_name);
		}
	}
	closedir(d);
	return 0;
}

/* A restored part must be what the store's part is: data, state and
 * generations directories, current a symlink to generations/N.  A
 * forged snapshot whose "state" is a symlink would otherwise point the
 * store's homes anywhere. */
static int check_part(int stagefd, const char *part, const struct stat *st, struct sp_err *err)
{
	char target[64];
	ssize_t n;
	size_t digits;

	if (strcmp(part, "current") != 0) {
		if (!S_ISDIR(st->st_mode))
			return sp_fail(err, SP_ERR_RUNTIME, "the snapshot's %s is not a directory: refusing it", part);
		return 0;
	}
	n = S_ISLNK(st->st_mode) ? readlinkat(stagefd, part, target, sizeof target - 1) : -1;
	if (n > 0)
		target[n] = '\0';
	digits = n > 12 ? strspn(target + 12, "0123456789") : 0;
	if (n <= 12 || strncmp(target, "generations/", 12) != 0 || digits == 0 || target[12 + digits] != '\0')
		return sp_fail(err, SP_ERR_RUNTIME, "the snapshot's current is not a link to generations/N: refusing it");
	return 0;
}

/* Puts STAGE/PART in place of STORE/PART; the old one, if any, goes to
 * STAGE/PART. */
static int swap_in(int stagefd, int storefd, const char *part, const char *store, struct sp_err *err)
{
	if (renameat2(stagefd, part, storefd, part, RENAME_EXCHANGE) == 0)
		return 0;
	if (errno == ENOENT && renameat2(stagefd, part, storefd, part, RENAME_NOREPLACE) == 0)
		return 0;
	return sp_fail_errno(err, errno, "%s/%s: put the restored one in place", store, part);
}

int sp_bk_restore(struct sp_bk_repo *repo, const struct sp_bk_snapshot *snap, const struct sp_bk_restore_opts *opts,
		  struct sp_err *err)
{
	struct sp_bk_index *idx = sp_bk_index_new();
	struct sp_bk_progress progress;
	struct sp_bk_restore_budget budget = { .progress = &progress };
	struct sp_bk_restore_opts chosen;
	const char *swapped[8];
	size_t n_swapped = 0;
	cleanup_free char *stage = NULL;
	cleanup_fd int storefd = -1;
	cleanup_fd int stagefd = -1;
	cleanup_fd int statefd = -1;
	cleanup_fd int livestate = -1;
	const char *target;
	int ret = -1;

	sp_bk_progress_init(&progress, "restoring", opts->quiet);
	if (sp_bk_restore_budget_set(&budget, snap->files, snap->dirs, snap->bytes, err) < 0)
		goto out;
	/* A snapshot of chosen instances restores just those: its state/
	 * holds only them, and must not replace the others' homes. */
	if (opts->instances == NULL && !snap->full) {
		chosen = *opts;
		chosen.instances = snap->instances;
		opts = &chosen;
	}
	if (opts->instances != NULL) {
		for (size_t i = 0; opts->instances[i] != NULL; i++) {
			if (!in_snapshot(snap, opts->instances[i])) {
				sp_fail(err, SP_ERR_RUNTIME, "instance %s: not in snapshot %.8s", opts->instances[i],
					snap->id);
				goto out;
			}
		}
	}
	if (sp_bk_index_load(repo, idx, NULL, err) < 0)
		goto out;

	if (opts->to != NULL) {
		stagefd = open_target(opts->to, err);
		if (stagefd < 0)
			goto out;
		target = opts->to;
		/* Ours: the caller's, who alone can enter the directory. */
		budget.owner_uid = geteuid();
		budget.owner_gid = getegid();
	} else {
		struct stat st;

		if (check_not_running(opts, snap, err) < 0)
			goto out;
		storefd = open(opts->store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (storefd < 0 || fstat(storefd, &st) < 0) {
			sp_fail_errno(err, errno, "store %s", opts->store);
			goto out;
		}
		/* Files in the store have one owner on disk, the owner of its
		 * root (instances write through idmapped mounts as them). */
		budget.owner_uid = st.st_uid;
		budget.owner_gid = st.st_gid;
		if (asprintf(&stage, "%s/.restore-XXXXXX", opts->store) < 0 || mkdtemp(stage) == NULL) {
			sp_fail_errno(err, errno, "%s/.restore-*", opts->store);
			goto out;
		}
		target = stage;
		stagefd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (stagefd < 0) {
			sp_fail_errno(err, errno, "%s", target);
			goto out;
		}
	}

	if (opts->instances == NULL) {
		/* data, state, generations and log are the owner's alone, as
		 * sp_store_open makes them. */
		budget.top_dir_mode = 0700;
		if (sp_bk_restore_tree(repo, idx, snap->tree, stagefd, target, &budget, err) < 0)
			goto out;
	} else {
		if (mkdirat(stagefd, "state", 0700) < 0 && errno != EEXIST) {
			sp_fail_errno(err, errno, "%s/state", target);
			goto out;
		}
		statefd = openat(stagefd, "state", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (statefd < 0) {
			sp_fail_errno(err, errno, "%s/state", target);
			goto out;
		}
		for (size_t i = 0; opts->instances[i] != NULL; i++) {
			char where[4200];

			snprintf(where, sizeof where, "%s/state", target);
			if (restore_dir(repo, idx, snap->tree, "state", opts->instances[i], statefd, where, &budget,
					err) < 0)
				goto out;
		}
	}
	sp_bk_progress_done(&progress);

	if (opts->to == NULL) {
		/* Everything is restored beside the store: on disk first (the
		 * parts it replaces are removed after), then checked, then
		 * swapped. */
		if (syncfs(stagefd) < 0) {
			sp_fail_errno(err, errno, "%s: sync", stage);
			goto out;
		}
		if (opts->instances == NULL) {
			static const char *const parts[] = { "data", "state", "generations", "current", NULL };

			for (size_t i = 0; parts[i] != NULL; i++) {
				struct stat st;

				if (fstatat(stagefd, parts[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
					continue; /* not in the snapshot: left as it is */
				if (check_part(stagefd, parts[i], &st, err) < 0)
					goto out;
			}
			for (size_t i = 0; parts[i] != NULL; i++) {
				if (faccessat(stagefd, parts[i], F_OK, AT_SYMLINK_NOFOLLOW) < 0)
					continue;
				if (swap_in(stagefd, storefd, parts[i], opts->store, err) < 0)
					goto undo;
				swapped[n_swapped++] = parts[i];
			}
		} else {
			if (mkdirat(storefd, "state", 0700) < 0 && errno != EEXIST) {
				sp_fail_errno(err, errno, "%s/state", opts->store);
				goto out;
			}
			livestate = openat(storefd, "state", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (livestate < 0) {
				sp_fail_errno(err, errno, "%s/state", opts->store);
				goto out;
			}
			for (size_t i = 0; opts->instances[i] != NULL; i++) {
				if (n_swapped == sizeof swapped / sizeof *swapped) {
					sp_fail(err, SP_ERR_USAGE, "restore at most %zu instances at once",
						sizeof swapped / sizeof *swapped);
					goto undo;
				}
				if (swap_in(statefd, livestate, opts->instances[i], opts->store, err) < 0)
					goto undo;
				swapped[n_swapped++] = opts->instances[i];
			}
		}
	}
	ret = 0;
	goto out;
undo:
	/* A part that could not be swapped: the ones already swapped go
	 * back, so the store is as it was (each swap is its own inverse). */
	for (size_t i = n_swapped; i-- > 0;) {
		int from = opts->instances == NULL ? stagefd : statefd;
		int to = opts->instances == NULL ? storefd : livestate;

		/* A part the store did not have was moved, not swapped. */
		if (renameat2(from, swapped[i], to, swapped[i], RENAME_EXCHANGE) < 0 && errno == ENOENT)
			renameat2(to, swapped[i], from, swapped[i], RENAME_NOREPLACE);
	}
out:
	sp_bk_progress_done(&progress);
	if (opts->dropped != NULL)
		*opts->dropped = budget.dropped;
	if (stage != NULL) {
		/* What was replaced, or the half-restored copy: both go. */
		const char *base = strrchr(stage, '/') + 1;

		if (storefd >= 0)
			sp_rmtree(storefd, base);
	}
	sp_bk_index_free(idx);
	return ret;
}
