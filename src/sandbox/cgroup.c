/* Resource limits of an instance through cgroups: what both versions
 * share.  This file finds the hierarchies the host has mounted, chooses a
 * backend for each controller (v2 where its cgroup2 offers the controller,
 * v1 where only a v1 hierarchy has it: hybrid hosts), and removes cgroups.
 * The backends are cgroup-v2.c and cgroup-v1.c behind struct sp_cg_ops.
 *
 * Besides the limited controllers, the instance always joins a cgroup of
 * the v2 hierarchy when one is mounted, with or without controllers: its
 * cgroup.kill ends every process at once, with no pid read from
 * cgroup.procs and reused before the kill(2), its cgroup.procs counts
 * the instance's processes, and its cgroup.freeze stops them all (for a
 * consistent backup).  A host without cgroup2 has the v1 freezer
 * hierarchy for that last job, when it mounts one. */
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/cgroup-internal.h"
#include "util/cleanup.h"

#define N_V1 4 /* memory, pids, cpu, freezer: at most one hierarchy each */

/* One mounted hierarchy. */
struct hier {
	unsigned ctrls; /* v2: offered by its root; v1: mounted in it */
	char *mount;
	char *own;      /* the engine's cgroup in it */
};

struct hosts {
	bool has_v2;
	struct hier v2;
	struct hier v1[N_V1];
	size_t n_v1;
};

struct sp_cgroup {
	char *name;
	struct sp_cg_dir dirs[1 + N_V1]; /* the v2 one first, when there is one */
	size_t n_dirs;
	char desc[128];
};

static const struct {
	unsigned bit;
	const char *name;
} ctrl_names[] = {
	{ SP_CG_MEMORY, "memory" },
	{ SP_CG_PIDS, "pids" },
	{ SP_CG_CPU, "cpu" },
	{ SP_CG_FREEZER, "freezer" },
};

/* ---- Small file helpers, shared with the backends ---- */

char *sp_cg_join(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

int sp_cg_write(const char *dir, const char *file, const char *value,
		struct sp_err *err)
{
	cleanup_free char *path = sp_cg_join(dir, file);
	cleanup_fd int fd = -1;
	size_t len = strlen(value);
	ssize_t n;

	if (path == NULL)
		return sp_fail_errno(err, ENOMEM, "write cgroup file");
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return sp_fail_errno(err, errno, "open `%s'", path);
	/* cgroupfs parses each write(2) on its own: one call, whole. */
	n = write(fd, value, len);
	if (n < 0)
		return sp_fail_errno(err, errno, "write `%s' to `%s'", value, path);
	if ((size_t)n != len)
		return sp_fail(err, SP_ERR_RUNTIME, "short write of `%s' to `%s'",
			       value, path);
	return 0;
}

int sp_cg_read(const char *dir, const char *file, char *buf, size_t size)
{
	cleanup_free char *path = sp_cg_join(dir, file);
	cleanup_fd int fd = -1;
	size_t len = 0;

	if (path == NULL) {
		errno = ENOMEM;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return 0;
}

bool sp_cg_exists(const char *dir, const char *file)
{
	cleanup_free char *path = sp_cg_join(dir, file);

	return path != NULL && access(path, F_OK) == 0;
}

bool sp_cg_read_key(const char *dir, const char *file, const char *key,
		    uint64_t *value)
{
	size_t klen = strlen(key);
	char buf[4096];
	char *line, *save = NULL;

	if (sp_cg_read(dir, file, buf, sizeof buf) < 0)
		return false;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			*value = strtoull(line + klen + 1, NULL, 10);
			return true;
		}
	}
	return false;
}

int sp_cg_mkdir(const char *path, struct sp_err *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "create cgroup `%s'", path);
	return 0;
}

/* ---- Walking a cgroup and its descendants ---- */

/* Calls FN on PATH's child cgroups, then on PATH.  Stops at, and returns,
 * the first negative result. */
static int walk_post(const char *path, int (*fn)(const char *path, void *ctx),
		     void *ctx)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int ret = 0;

	if (d == NULL)
		return -1;
	while (ret >= 0 && (e = readdir(d)) != NULL) {
		cleanup_free char *child = NULL;

		if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		child = sp_cg_join(path, e->d_name);
		if (child == NULL) {
			errno = ENOMEM;
			ret = -1;
			break;
		}
		ret = walk_post(child, fn, ctx);
	}
	closedir(d);
	if (ret < 0)
		return ret;
	return fn(path, ctx);
}

/* Counts in *CTX the processes listed in PATH/cgroup.procs, killing them
 * with SIGKILL when KILL. */
struct procs_ctx {
	bool kill;
	size_t count;
};

static int procs_one(const char *path, void *p)
{
	struct procs_ctx *ctx = p;
	cleanup_free char *file = sp_cg_join(path, "cgroup.procs");
	cleanup_file FILE *f = NULL;
	int pid;

	if (file == NULL)
		return 0;
	f = fopen(file, "re");
	if (f == NULL)
		return 0;
	while (fscanf(f, "%d", &pid) == 1) {
		ctx->count++;
		if (ctx->kill && pid > 0)
			kill(pid, SIGKILL);
	}
	return 0;
}

static size_t procs_tree(const char *path, bool kill_them)
{
	struct procs_ctx ctx = { .kill = kill_them, .count = 0 };

	walk_post(path, procs_one, &ctx);
	return ctx.count;
}

static int rmdir_one(const char *path, void *ctx)
{
	(void)ctx;
	if (rmdir(path) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000L };

	nanosleep(&ts, NULL);
}

int sp_cg_remove_tree(const char *path, const char *kill_file)
{
	/* 200 rounds of 10 ms: killed processes leave their cgroup as they
	 * exit, which takes a moment for large ones; a process forking as
	 * fast as it can is caught within a few rounds since the pids limit
	 * bounds it. */
	for (int round = 0; round < 200; round++) {
		if (access(path, F_OK) < 0 && errno == ENOENT)
			return 0;
		if (kill_file != NULL) {
			struct sp_err ignored;

			sp_cg_write(path, kill_file, "1", &ignored);
		}
		procs_tree(path, true);
		if (walk_post(path, rmdir_one, NULL) == 0)
			return 0;
		sleep_ms(10);
	}
	errno = EBUSY;
	return -1;
}

/* ---- Finding the hierarchies ---- */

static void hier_free(struct hier *h)
{
	free(h->mount);
	free(h->own);
	h->mount = h->own = NULL;
}

static void hosts_free(struct hosts *hs)
{
	if (hs->has_v2)
		hier_free(&hs->v2);
	for (size_t i = 0; i < hs->n_v1; i++)
		hier_free(&hs->v1[i]);
	hs->has_v2 = false;
	hs->n_v1 = 0;
}

/* The controllers among ours named in LIST, separated by SEP. */
static unsigned parse_ctrls(const char *list, const char *sep)
{
	char buf[1024];
	char *w, *save = NULL;
	unsigned ctrls = 0;

	snprintf(buf, sizeof buf, "%s", list);
	for (w = strtok_r(buf, sep, &save); w != NULL; w = strtok_r(NULL, sep, &save)) {
		for (size_t i = 0; i < sizeof ctrl_names / sizeof ctrl_names[0]; i++) {
			if (strcmp(w, ctrl_names[i].name) == 0)
				ctrls |= ctrl_names[i].bit;
		}
	}
	return ctrls;
}

static int read_mounts(struct hosts *hs, struct sp_err *err)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent ent;
	char buf[4096];
	int ret = -1;

	if (f == NULL)
		return sp_fail_errno(err, errno, "open /proc/self/mounts");
	while (getmntent_r(f, &ent, buf, sizeof buf) != NULL) {
		struct hier *h;
		unsigned ctrls, taken = 0;

		if (strcmp(ent.mnt_type, "cgroup2") == 0 && !hs->has_v2) {
			h = &hs->v2;
			ctrls = 0;
		} else if (strcmp(ent.mnt_type, "cgroup") == 0) {
			/* The same hierarchy mounted twice shows the
			 * same options: the first mount wins. */
			for (size_t i = 0; i < hs->n_v1; i++)
				taken |= hs->v1[i].ctrls;
			ctrls = parse_ctrls(ent.mnt_opts, ",") & ~taken;
			if (ctrls == 0 || hs->n_v1 == N_V1)
				continue;
			h = &hs->v1[hs->n_v1];
		} else {
			continue;
		}
		h->ctrls = ctrls;
		h->own = NULL;
		h->mount = strdup(ent.mnt_dir);
		if (h->mount == NULL) {
			sp_fail_errno(err, ENOMEM, "read cgroup mounts");
			goto out;
		}
		if (h == &hs->v2)
			hs->has_v2 = true;
		else
			hs->n_v1++;
	}
	ret = 0;
out:
	endmntent(f);
	return ret;
}

/* A path from /proc/self/cgroup, or "/" when it is not one beneath the
 * hierarchy's mount (a cgroup namespace entered from elsewhere shows
 * "/../.."). */
static char *own_path(const char *p)
{
	if (p[0] != '/' || strstr(p, "/..") != NULL)
		p = "/";
	return strdup(p);
}

/* Sets the engine's own cgroup in every hierarchy from /proc/self/cgroup:
 * "0::/path" for v2, "N:memory:/path" or "N:cpu,cpuacct:/path" for v1. */
static int read_own(struct hosts *hs, struct sp_err *err)
{
	cleanup_file FILE *f = fopen("/proc/self/cgroup", "re");
	cleanup_free char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (f == NULL)
		return sp_fail_errno(err, errno, "open /proc/self/cgroup");
	while ((len = getline(&line, &cap, f)) > 0) {
		char *ctrls, *path;
		unsigned bits;

		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		ctrls = strchr(line, ':');
		if (ctrls == NULL)
			continue;
		ctrls++;
		path = strchr(ctrls, ':');
		if (path == NULL)
			continue;
		*path++ = '\0';
		if (ctrls[0] == '\0') {
			if (hs->has_v2 && hs->v2.own == NULL &&
			    (hs->v2.own = own_path(path)) == NULL)
				return sp_fail_errno(err, ENOMEM, "read /proc/self/cgroup");
			continue;
		}
		bits = parse_ctrls(ctrls, ",");
		for (size_t i = 0; i < hs->n_v1; i++) {
			struct hier *h = &hs->v1[i];

			if ((h->ctrls & bits) == 0 || h->own != NULL)
				continue;
			h->own = own_path(path);
			if (h->own == NULL)
				return sp_fail_errno(err, ENOMEM, "read /proc/self/cgroup");
		}
	}
	return 0;
}

static int hosts_find(struct hosts *hs, struct sp_err *err)
{
	char buf[1024];

	*hs = (struct hosts){ 0 };
	if (read_mounts(hs, err) < 0 || read_own(hs, err) < 0)
		goto fail;
	/* The root's cgroup.controllers: what the kernel gives this
	 * hierarchy rather than v1.  An unreadable list means none. */
	if (hs->has_v2 && sp_cg_read(hs->v2.mount, "cgroup.controllers", buf, sizeof buf) == 0)
		hs->v2.ctrls = parse_ctrls(buf, " \n");
	/* A hierarchy missing from /proc/self/cgroup: its root. */
	if (hs->has_v2 && hs->v2.own == NULL && (hs->v2.own = strdup("/")) == NULL)
		goto nomem;
	for (size_t i = 0; i < hs->n_v1; i++) {
		if (hs->v1[i].own == NULL && (hs->v1[i].own = strdup("/")) == NULL)
			goto nomem;
	}
	return 0;
nomem:
	sp_fail_errno(err, ENOMEM, "find cgroup hierarchies");
fail:
	hosts_free(hs);
	return -1;
}

void sp_cgroup_probe(struct sp_cgroup_support *out)
{
	struct hosts hs;
	struct sp_err err;
	unsigned v1 = 0;

	*out = (struct sp_cgroup_support){ 0 };
	if (hosts_find(&hs, &err) < 0)
		return;
	for (size_t i = 0; i < hs.n_v1; i++)
		v1 |= hs.v1[i].ctrls;
	if (hs.has_v2) {
		snprintf(out->v2_mount, sizeof out->v2_mount, "%s", hs.v2.mount);
		out->v2_memory = hs.v2.ctrls & SP_CG_MEMORY;
		out->v2_pids = hs.v2.ctrls & SP_CG_PIDS;
		out->v2_cpu = hs.v2.ctrls & SP_CG_CPU;
	}
	out->v1_memory = v1 & SP_CG_MEMORY;
	out->v1_pids = v1 & SP_CG_PIDS;
	out->v1_cpu = v1 & SP_CG_CPU;
	hosts_free(&hs);
}

/* ---- Leftovers: where an instance's cgroup may be ---- */

static bool valid_name(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len < 128 && strchr(name, '/') == NULL &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Calls FN on every existing "spectrum/NAME" of the instance: in each v1
 * hierarchy beneath the engine's own cgroup, and in v2 beneath the
 * engine's cgroup or any of its ancestors (cgroup-v2.c places it at one of
 * them depending on the controllers it needs).  The v2 ones come first,
 * so that cgroup.kill does the killing. */
typedef int leftover_fn(const struct sp_cg_ops *ops, const char *path, void *ctx);

static int visit(const struct sp_cg_ops *ops, const char *mount, const char *place,
		 const char *name, leftover_fn *fn, void *ctx)
{
	cleanup_free char *path = NULL;
	struct stat st;

	if (asprintf(&path, "%s%s/spectrum/%s", mount,
		     strcmp(place, "/") == 0 ? "" : place, name) < 0)
		return 0;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	return fn(ops, path, ctx);
}

static int for_each_leftover(const struct hosts *hs, const char *name,
			     leftover_fn *fn, void *ctx)
{
	if (hs->has_v2) {
		cleanup_free char *place = strdup(hs->v2.own);

		if (place == NULL)
			return 0;
		for (;;) {
			char *slash;

			if (visit(&sp_cg_v2_ops, hs->v2.mount, place, name, fn, ctx) < 0)
				return -1;
			if (strcmp(place, "/") == 0)
				break;
			slash = strrchr(place, '/');
			if (slash == place)
				slash[1] = '\0';
			else
				*slash = '\0';
		}
	}
	for (size_t i = 0; i < hs->n_v1; i++) {
		if (visit(&sp_cg_v1_ops, hs->v1[i].mount, hs->v1[i].own, name, fn, ctx) < 0)
			return -1;
	}
	return 0;
}

static int check_not_running(const struct sp_cg_ops *ops, const char *path, void *ctx)
{
	(void)ops;
	(void)ctx;
	return procs_tree(path, false) > 0 ? -1 : 0;
}

struct remove_ctx {
	struct sp_err *err; /* NULL: best effort, no report */
};

/* Removes PATH and, when that leaves it empty, its "spectrum" parent. */
static int remove_leftover(const struct sp_cg_ops *ops, const char *path, void *p)
{
	struct remove_ctx *ctx = p;
	cleanup_free char *parent = strdup(path);
	char *slash;

	if (ops->destroy(path) < 0) {
		if (ctx->err != NULL)
			return sp_fail_errno(ctx->err, errno,
					     "remove leftover cgroup `%s'", path);
		return 0;
	}
	if (parent != NULL && (slash = strrchr(parent, '/')) != NULL) {
		*slash = '\0';
		rmdir(parent); /* EBUSY/ENOTEMPTY: other instances */
	}
	return 0;
}

/* Thaws PATH, with no wait and no report.  A v1 frozen process keeps
 * SIGKILL pending until it is thawed, and the hierarchies are destroyed
 * one by one: all are thawed before the first is killed, in case a
 * crashed `backup' left the instance frozen.  (v2 needs none of this:
 * SIGKILL and cgroup.kill reach frozen processes.) */
static int thaw_quietly(const struct sp_cg_ops *ops, const char *path, void *ctx)
{
	struct sp_err ignored;

	(void)ctx;
	if (ops == &sp_cg_v1_ops)
		ops->freeze(path, false, &ignored);
	return 0;
}

void sp_cgroup_cleanup_name(const char *name)
{
	struct remove_ctx ctx = { .err = NULL };
	struct hosts hs;
	struct sp_err err;

	if (!valid_name(name) || hosts_find(&hs, &err) < 0)
		return;
	for_each_leftover(&hs, name, thaw_quietly, NULL);
	for_each_leftover(&hs, name, remove_leftover, &ctx);
	hosts_free(&hs);
}

bool sp_cgroup_name_running(const char *name)
{
	struct hosts hs;
	struct sp_err err;
	bool running;

	if (!valid_name(name) || hosts_find(&hs, &err) < 0)
		return false;
	running = for_each_leftover(&hs, name, check_not_running, NULL) < 0;
	hosts_free(&hs);
	return running;
}

/* ---- Freezing an instance ---- */

#define FREEZE_TIMEOUT_MS 5000

struct freeze_ctx {
	bool frozen;
	size_t n_done; /* cgroups that have a freezer and reached the state */
	struct sp_err *err;
};

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Asks for the state in PATH and waits until the kernel reports it: a few
 * processes freeze in well under a millisecond, so the first checks come
 * quickly and the pauses grow from there.  The request is repeated now
 * and then, which makes v1 try again the processes it could not freeze
 * yet (v2 ignores a repeated request). */
static int freeze_one(const struct sp_cg_ops *ops, const char *path, void *p)
{
	struct freeze_ctx *ctx = p;
	struct timespec t0, pause = { .tv_sec = 0, .tv_nsec = 100000 };
	long last_ask = 0;
	int r;

	r = ops->freeze(path, ctx->frozen, ctx->err);
	if (r < 0)
		return -1;
	if (r > 0)
		return 0; /* no freezer in this hierarchy */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long ms;

		r = ops->frozen_done(path, ctx->frozen, ctx->err);
		if (r < 0)
			return -1;
		if (r > 0)
			break;
		ms = ms_since(&t0);
		if (ms >= FREEZE_TIMEOUT_MS)
			return sp_fail(ctx->err, SP_ERR_RUNTIME,
				       "cgroup `%s' not %s after %d s (a process stuck "
				       "in the kernel?)",
				       path, ctx->frozen ? "frozen" : "thawed",
				       FREEZE_TIMEOUT_MS / 1000);
		if (ms - last_ask >= 100) {
			if (ops->freeze(path, ctx->frozen, ctx->err) < 0)
				return -1;
			last_ask = ms;
		}
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 10000000)
			pause.tv_nsec *= 2;
	}
	ctx->n_done++;
	return 0;
}

static int freeze_all(const struct hosts *hs, const char *name, bool frozen,
		      struct sp_err *err)
{
	struct freeze_ctx ctx = { .frozen = frozen, .n_done = 0, .err = err };

	if (for_each_leftover(hs, name, freeze_one, &ctx) < 0)
		return -1;
	if (ctx.n_done == 0)
		return sp_fail(err, SP_ERR_RUNTIME,
			       "%s has no cgroup that can be frozen (neither cgroup2 "
			       "nor a v1 freezer hierarchy)",
			       name);
	return 0;
}

int sp_cgroup_freeze_name(const char *name, bool frozen, struct sp_err *err)
{
	struct hosts hs;
	int ret = 0;

	if (!valid_name(name))
		return sp_fail(err, SP_ERR_USAGE, "`%s' is not a valid cgroup name", name);
	if (hosts_find(&hs, err) < 0)
		return -1;
	if (for_each_leftover(&hs, name, check_not_running, NULL) == 0)
		goto out; /* not running: nothing to do */
	ret = freeze_all(&hs, name, frozen, err);
	if (ret < 0 && frozen) {
		/* Half frozen helps no one: thaw what was frozen. */
		struct sp_err ignored;

		freeze_all(&hs, name, false, &ignored);
	}
	if (ret < 0)
		sp_err_wrap(err, "%s %s", frozen ? "freeze" : "thaw", name);
out:
	hosts_free(&hs);
	return ret;
}

/* ---- The instance's cgroups ---- */

static void describe(struct sp_cgroup *cg)
{
	size_t len = 0;

	cg->desc[0] = '\0';
	for (size_t i = 0; i < cg->n_dirs; i++) {
		const struct sp_cg_dir *d = &cg->dirs[i];
		const char *sep = "";

		len += (size_t)snprintf(cg->desc + len, sizeof cg->desc - len, "%s%s (",
					i > 0 ? ", " : "", d->ops->name);
		if (len >= sizeof cg->desc)
			return;
		for (size_t j = 0; j < sizeof ctrl_names / sizeof ctrl_names[0]; j++) {
			if ((d->ctrls & ctrl_names[j].bit) == 0)
				continue;
			len += (size_t)snprintf(cg->desc + len, sizeof cg->desc - len,
						"%s%s", sep, ctrl_names[j].name);
			if (len >= sizeof cg->desc)
				return;
			sep = " ";
		}
		len += (size_t)snprintf(cg->desc + len, sizeof cg->desc - len, "%s)",
					d->ctrls == 0 ? "processes only" : "");
		if (len >= sizeof cg->desc)
			return;
	}
}

const char *sp_cgroup_describe(const struct sp_cgroup *cg)
{
	return cg->desc;
}

static unsigned wanted(const struct sp_limits *lim)
{
	unsigned ctrls = 0;

	if (lim->memory_bytes != 0)
		ctrls |= SP_CG_MEMORY;
	if (lim->pids != 0)
		ctrls |= SP_CG_PIDS;
	if (lim->cpu_quota_us != 0)
		ctrls |= SP_CG_CPU;
	return ctrls;
}

/* Moves the hierarchy strings of H into a new directory of CG. */
static struct sp_cg_dir *add_dir(struct sp_cgroup *cg, const struct sp_cg_ops *ops,
				 struct hier *h, unsigned ctrls)
{
	struct sp_cg_dir *d = &cg->dirs[cg->n_dirs++];

	*d = (struct sp_cg_dir){ .ops = ops, .ctrls = ctrls };
	d->mount = steal_ptr(&h->mount);
	d->own = steal_ptr(&h->own);
	return d;
}

static void dir_free(struct sp_cg_dir *d)
{
	free(d->mount);
	free(d->own);
	free(d->parent);
	free(d->path);
	*d = (struct sp_cg_dir){ 0 };
}

/* Chooses, for each controller LIM needs, v2 when the host's cgroup2
 * offers it and v1 otherwise, and sets up CG's directories accordingly. */
static int plan_dirs(struct sp_cgroup *cg, struct hosts *hs, unsigned need,
		     struct sp_err *err)
{
	unsigned on_v2 = hs->has_v2 ? need & hs->v2.ctrls : 0;
	unsigned on_v1, found = 0;

	/* Without cgroup2 the v1 freezer stands in for cgroup.freeze; a
	 * host without either runs instances that cannot be frozen. */
	if (!hs->has_v2)
		need |= SP_CG_FREEZER;
	on_v1 = need & ~on_v2;

	if (hs->has_v2)
		add_dir(cg, &sp_cg_v2_ops, &hs->v2, on_v2);
	for (size_t i = 0; i < hs->n_v1; i++) {
		unsigned here = hs->v1[i].ctrls & on_v1;

		if (here == 0)
			continue;
		add_dir(cg, &sp_cg_v1_ops, &hs->v1[i], here);
		found |= here;
	}
	for (size_t j = 0; j < sizeof ctrl_names / sizeof ctrl_names[0]; j++) {
		if ((on_v1 & ~found & ~SP_CG_FREEZER & ctrl_names[j].bit) != 0)
			return sp_fail(err, SP_ERR_RUNTIME,
				       "the %s cgroup controller is in neither cgroup v2 nor v1",
				       ctrl_names[j].name);
	}
	return 0;
}

int sp_cgroup_create(const char *name, const struct sp_limits *limits,
		     struct sp_cgroup **cgp, struct sp_err *err)
{
	struct remove_ctx rm = { .err = err };
	struct sp_cgroup *cg = NULL;
	struct hosts hs;

	if (!valid_name(name))
		return sp_fail(err, SP_ERR_USAGE, "`%s' is not a valid cgroup name", name);
	if (hosts_find(&hs, err) < 0)
		return -1;

	/* All leftovers are checked before any is touched: a running
	 * instance must keep all of its cgroups. */
	if (for_each_leftover(&hs, name, check_not_running, NULL) < 0) {
		sp_fail(err, SP_ERR_RUNTIME, "%s is already running", name);
		goto fail;
	}
	for_each_leftover(&hs, name, thaw_quietly, NULL);
	if (for_each_leftover(&hs, name, remove_leftover, &rm) < 0)
		goto fail;

	cg = calloc(1, sizeof *cg);
	if (cg == NULL || (cg->name = strdup(name)) == NULL) {
		sp_fail_errno(err, ENOMEM, "create cgroup of %s", name);
		goto fail;
	}
	if (plan_dirs(cg, &hs, wanted(limits), err) < 0)
		goto fail;

	for (size_t i = 0; i < cg->n_dirs;) {
		struct sp_cg_dir *d = &cg->dirs[i];

		if (d->ops->create(d, name, err) < 0) {
			/* The v2 directory that only counts processes and
			 * the v1 freezer's are conveniences: a host where
			 * they cannot be made (read-only cgroup2) runs
			 * without them. */
			if ((d->ctrls & ~SP_CG_FREEZER) != 0)
				goto fail;
			sp_err_clear(err);
			if (d->path != NULL)
				d->ops->destroy(d->path);
			dir_free(d);
			memmove(d, d + 1, (cg->n_dirs - i - 1) * sizeof *d);
			cg->n_dirs--;
			cg->dirs[cg->n_dirs] = (struct sp_cg_dir){ 0 };
			continue;
		}
		if (d->ops->set_limits(d, limits, err) < 0)
			goto fail;
		i++;
	}
	describe(cg);
	hosts_free(&hs);
	*cgp = cg;
	return 0;
fail:
	sp_cgroup_destroy(cg);
	hosts_free(&hs);
	return -1;
}

int sp_cgroup_v2_fd(const struct sp_cgroup *cg)
{
	for (size_t i = 0; i < cg->n_dirs; i++)
		if (cg->dirs[i].ops == &sp_cg_v2_ops && cg->dirs[i].path)
			return open(cg->dirs[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return -1;
}

int sp_cgroup_attach(struct sp_cgroup *cg, pid_t pid, bool skip_v2, struct sp_err *err)
{
	for (size_t i = 0; i < cg->n_dirs; i++) {
		if (skip_v2 && cg->dirs[i].ops == &sp_cg_v2_ops)
			continue;
		if (cg->dirs[i].ops->attach(&cg->dirs[i], pid, err) < 0)
			return -1;
	}
	return 0;
}

bool sp_cgroup_oom_killed(struct sp_cgroup *cg)
{
	for (size_t i = 0; i < cg->n_dirs; i++) {
		const struct sp_cg_dir *d = &cg->dirs[i];

		if ((d->ctrls & SP_CG_MEMORY) != 0 && d->ops->oom_killed(d))
			return true;
	}
	return false;
}

void sp_cgroup_destroy(struct sp_cgroup *cg)
{
	if (cg == NULL)
		return;
	for (size_t i = 0; i < cg->n_dirs; i++) {
		if (cg->dirs[i].path != NULL)
			thaw_quietly(cg->dirs[i].ops, cg->dirs[i].path, NULL);
	}
	/* In order: the v2 directory first, whose cgroup.kill empties the
	 * v1 ones as well. */
	for (size_t i = 0; i < cg->n_dirs; i++) {
		struct sp_cg_dir *d = &cg->dirs[i];

		if (d->path != NULL && d->ops->destroy(d->path) == 0 && d->parent != NULL)
			rmdir(d->parent); /* EBUSY/ENOTEMPTY: other instances */
		dir_free(d);
	}
	free(cg->name);
	free(cg);
}
