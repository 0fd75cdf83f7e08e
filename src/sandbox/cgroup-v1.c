/* The cgroup v1 backend, for controllers that a hybrid host keeps on v1
 * hierarchies (DESIGN.md: the build machines' cgroup2 has none).  v1 has
 * no rule against processes in inner cgroups, so "spectrum/NAME" always
 * goes beneath the engine's own cgroup of each hierarchy, and the limits
 * of that cgroup hold for the instance too (memory.use_hierarchy is
 * always on in current kernels).
 *
 * The freezer hierarchy is used only on hosts without cgroup2: its
 * freezer.state reads FREEZING until every process is frozen, then
 * FROZEN.  A frozen process does not die of SIGKILL until it is thawed,
 * which cgroup.c does before it destroys anything. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/cgroup-internal.h"
#include "util/cleanup.h"

static int v1_create(struct sp_cg_dir *d, const char *name, struct sp_err *err)
{
	if (asprintf(&d->parent, "%s%s/spectrum", d->mount,
		     strcmp(d->own, "/") == 0 ? "" : d->own) < 0) {
		d->parent = NULL;
		return sp_fail_errno(err, ENOMEM, "create cgroup");
	}
	d->path = sp_cg_join(d->parent, name);
	if (d->path == NULL)
		return sp_fail_errno(err, ENOMEM, "create cgroup");
	/* Another engine may remove "spectrum" as its last instance goes,
	 * between our mkdir of it and of NAME: make it again. */
	for (int tries = 0;; tries++) {
		if (sp_cg_mkdir(d->parent, err) < 0)
			return -1;
		if (sp_cg_mkdir(d->path, err) == 0)
			return 0;
		if (err->errnum != ENOENT || tries == 3)
			return -1;
	}
}

static int v1_set_limits(const struct sp_cg_dir *d, const struct sp_limits *lim,
			 struct sp_err *err)
{
	char v[32];

	if (d->ctrls & SP_CG_MEMORY) {
		snprintf(v, sizeof v, "%" PRIu64, lim->memory_bytes);
		if (sp_cg_write(d->path, "memory.limit_in_bytes", v, err) < 0)
			return -1;
		/* memory+swap equal to memory: no swap.  The file exists
		 * only with swap accounting; it must not go below
		 * limit_in_bytes, hence the order. */
		if (sp_cg_exists(d->path, "memory.memsw.limit_in_bytes") &&
		    sp_cg_write(d->path, "memory.memsw.limit_in_bytes", v, err) < 0)
			return -1;
	}
	if (d->ctrls & SP_CG_PIDS) {
		snprintf(v, sizeof v, "%" PRIu64, lim->pids);
		if (sp_cg_write(d->path, "pids.max", v, err) < 0)
			return -1;
	}
	/* The ceilings of every instance together, on "spectrum" (shared:
	 * every engine writes the same values). */
	if ((d->ctrls & SP_CG_MEMORY) && lim->all_memory_bytes) {
		snprintf(v, sizeof v, "%" PRIu64, lim->all_memory_bytes);
		if (sp_cg_write(d->parent, "memory.limit_in_bytes", v, err) < 0)
			return -1;
	}
	if ((d->ctrls & SP_CG_PIDS) && lim->all_pids) {
		snprintf(v, sizeof v, "%" PRIu64, lim->all_pids);
		if (sp_cg_write(d->parent, "pids.max", v, err) < 0)
			return -1;
	}
	if (d->ctrls & SP_CG_CPU) {
		/* The period first: the quota is checked against it. */
		snprintf(v, sizeof v, "%" PRIu64,
			 lim->cpu_period_us != 0 ? lim->cpu_period_us : 100000);
		if (sp_cg_write(d->path, "cpu.cfs_period_us", v, err) < 0)
			return -1;
		snprintf(v, sizeof v, "%" PRIu64, lim->cpu_quota_us);
		if (sp_cg_write(d->path, "cpu.cfs_quota_us", v, err) < 0)
			return -1;
	}
	return 0;
}

static int v1_attach(const struct sp_cg_dir *d, pid_t pid, struct sp_err *err)
{
	char v[32];

	snprintf(v, sizeof v, "%d", (int)pid);
	return sp_cg_write(d->path, "cgroup.procs", v, err);
}

static bool v1_oom_killed(const struct sp_cg_dir *d)
{
	uint64_t n;

	/* The "oom_kill" line of memory.oom_control dates from Linux 4.13. */
	return sp_cg_read_key(d->path, "memory.oom_control", "oom_kill", &n) && n > 0;
}

static int v1_destroy(const char *path)
{
	return sp_cg_remove_tree(path, NULL);
}

static int v1_freeze(const char *path, bool frozen, struct sp_err *err)
{
	if (!sp_cg_exists(path, "freezer.state"))
		return 1;
	return sp_cg_write(path, "freezer.state", frozen ? "FROZEN" : "THAWED", err);
}

static int v1_frozen_done(const char *path, bool frozen, struct sp_err *err)
{
	const char *want = frozen ? "FROZEN" : "THAWED";
	char buf[32];

	/* Reading the file is what makes the kernel check whether the
	 * freezing is over. */
	if (sp_cg_read(path, "freezer.state", buf, sizeof buf) < 0)
		return sp_fail_errno(err, errno, "read `%s/freezer.state'", path);
	buf[strcspn(buf, "\n")] = '\0';
	return strcmp(buf, want) == 0;
}

const struct sp_cg_ops sp_cg_v1_ops = {
	.name = "v1",
	.create = v1_create,
	.set_limits = v1_set_limits,
	.attach = v1_attach,
	.oom_killed = v1_oom_killed,
	.destroy = v1_destroy,
	.freeze = v1_freeze,
	.frozen_done = v1_frozen_done,
};
