/* The cgroup v2 backend.
 *
 * Where the instance's cgroup goes.  v2 forbids a non-root cgroup to hold
 * processes and hand controllers to its children at once ("no internal
 * processes").  The engine's own cgroup holds the engine, so:
 *
 *  - with no controller to enable (the v2 directory kept only to count and
 *    kill processes, as on hybrid hosts), "spectrum/NAME" goes beneath
 *    the engine's own cgroup, which v2 allows;
 *  - otherwise beneath the deepest ancestor of the engine's cgroup that,
 *    like all of its own ancestors, holds no process: on a systemd host
 *    that is the slice around the engine's scope or service
 *    (user.slice/user-0.slice/spectrum/NAME for a root login,
 *    system.slice/spectrum/NAME for a service), or the root of the
 *    hierarchy when the engine itself runs there.  The instance stays
 *    inside the limits of that slice: a host that confines Spectrum still
 *    confines its instances, as far as v2 lets it.
 *
 * The controllers are enabled in cgroup.subtree_control from the root down
 * to "spectrum".  Moving the engine into a leaf of its own cgroup instead
 * would be the other way out, but that is for the host's service manager
 * (a delegated scope), not for a library to do behind the caller's back. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/cgroup-internal.h"
#include "util/cleanup.h"

static const struct {
	unsigned bit;
	const char *name;
} v2_names[] = {
	{ SP_CG_MEMORY, "memory" },
	{ SP_CG_PIDS, "pids" },
	{ SP_CG_CPU, "cpu" },
};

static bool has_procs(const char *dir)
{
	char buf[16];

	/* Unreadable: treat as busy, so that we look higher. */
	if (sp_cg_read(dir, "cgroup.procs", buf, sizeof buf) < 0)
		return true;
	return buf[0] != '\0';
}

/* The place (a cgroup path of the hierarchy) that will hold "spectrum". */
static char *choose_place(const struct sp_cg_dir *d)
{
	cleanup_free char *best = NULL;
	cleanup_free char *walk = NULL;
	char *slash;

	if (d->ctrls == 0 || strcmp(d->own, "/") == 0)
		return strdup(d->own);

	/* Every strict ancestor of OWN, from the top down: "/a", "/a/b"
	 * for "/a/b/c".  The root itself may always hand on controllers. */
	best = strdup("/");
	walk = strdup(d->own);
	if (best == NULL || walk == NULL)
		return NULL;
	for (slash = strchr(walk + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		cleanup_free char *dir = NULL;

		*slash = '\0';
		if (asprintf(&dir, "%s%s", d->mount, walk) < 0)
			return NULL;
		if (has_procs(dir))
			break;
		free(best);
		best = strdup(walk);
		if (best == NULL)
			return NULL;
		*slash = '/';
	}
	return steal_ptr(&best);
}

/* Hands the controllers of CTRLS on to the children of DIR. */
static int enable(const char *dir, unsigned ctrls, struct sp_err *err)
{
	char have[1024];

	if (sp_cg_read(dir, "cgroup.subtree_control", have, sizeof have) < 0)
		return sp_fail_errno(err, errno, "read `%s/cgroup.subtree_control'", dir);
	for (size_t i = 0; i < sizeof v2_names / sizeof v2_names[0]; i++) {
		const char *ctrl = v2_names[i].name;
		size_t n = strlen(ctrl);
		bool on = false;
		char word[16];
		char *p;

		if ((ctrls & v2_names[i].bit) == 0)
			continue;
		/* A whole word of the space-separated list: "cpu" is not
		 * "cpuset". */
		for (p = strstr(have, ctrl); p != NULL; p = strstr(p + 1, ctrl)) {
			if ((p == have || p[-1] == ' ') &&
			    (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
				on = true;
		}
		if (on)
			continue;
		snprintf(word, sizeof word, "+%s", ctrl);
		if (sp_cg_write(dir, "cgroup.subtree_control", word, err) < 0)
			return sp_err_wrap(err, "enable the %s controller", ctrl);
	}
	return 0;
}

/* Enables CTRLS in MOUNT and every cgroup down to MOUNT/PLACE. */
static int enable_down_to(const char *mount, const char *place, unsigned ctrls,
			  struct sp_err *err)
{
	cleanup_free char *walk = strdup(place);
	char *slash;

	if (walk == NULL)
		return sp_fail_errno(err, ENOMEM, "enable cgroup controllers");
	if (enable(mount, ctrls, err) < 0)
		return -1;
	if (strcmp(walk, "/") == 0)
		return 0;
	for (slash = strchr(walk + 1, '/');; slash = strchr(slash + 1, '/')) {
		cleanup_free char *dir = NULL;

		if (slash != NULL)
			*slash = '\0';
		if (asprintf(&dir, "%s%s", mount, walk) < 0)
			return sp_fail_errno(err, ENOMEM, "enable cgroup controllers");
		if (enable(dir, ctrls, err) < 0)
			return -1;
		if (slash == NULL)
			return 0;
		*slash = '/';
	}
}

static int v2_create(struct sp_cg_dir *d, const char *name, struct sp_err *err)
{
	cleanup_free char *place = choose_place(d);

	if (place == NULL)
		return sp_fail_errno(err, ENOMEM, "create cgroup");
	if (asprintf(&d->parent, "%s%s/spectrum", d->mount,
		     strcmp(place, "/") == 0 ? "" : place) < 0) {
		d->parent = NULL;
		return sp_fail_errno(err, ENOMEM, "create cgroup");
	}
	d->path = sp_cg_join(d->parent, name);
	if (d->path == NULL)
		return sp_fail_errno(err, ENOMEM, "create cgroup");

	if (d->ctrls != 0 && enable_down_to(d->mount, place, d->ctrls, err) < 0)
		return -1;
	/* Another engine may remove "spectrum" as its last instance goes,
	 * between our mkdir of it and of NAME: make it again. */
	for (int tries = 0;; tries++) {
		if (sp_cg_mkdir(d->parent, err) < 0)
			return -1;
		if ((d->ctrls == 0 || enable(d->parent, d->ctrls, err) == 0) &&
		    sp_cg_mkdir(d->path, err) == 0)
			return 0;
		if (err->errnum != ENOENT || tries == 3)
			return -1;
	}
}

static int v2_set_limits(const struct sp_cg_dir *d, const struct sp_limits *lim,
			 struct sp_err *err)
{
	char v[64];

	if (d->ctrls & SP_CG_MEMORY) {
		snprintf(v, sizeof v, "%" PRIu64, lim->memory_bytes);
		if (sp_cg_write(d->path, "memory.max", v, err) < 0)
			return -1;
		/* Without swap accounting the file is absent, and there is
		 * then no swap to limit through the cgroup. */
		if (sp_cg_exists(d->path, "memory.swap.max") &&
		    sp_cg_write(d->path, "memory.swap.max", "0", err) < 0)
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
		if (sp_cg_write(d->parent, "memory.max", v, err) < 0)
			return -1;
	}
	if ((d->ctrls & SP_CG_PIDS) && lim->all_pids) {
		snprintf(v, sizeof v, "%" PRIu64, lim->all_pids);
		if (sp_cg_write(d->parent, "pids.max", v, err) < 0)
			return -1;
	}
	if (d->ctrls & SP_CG_CPU) {
		snprintf(v, sizeof v, "%" PRIu64 " %" PRIu64, lim->cpu_quota_us,
			 lim->cpu_period_us != 0 ? lim->cpu_period_us : 100000);
		if (sp_cg_write(d->path, "cpu.max", v, err) < 0)
			return -1;
	}
	return 0;
}

static int v2_attach(const struct sp_cg_dir *d, pid_t pid, struct sp_err *err)
{
	char v[32];

	snprintf(v, sizeof v, "%d", (int)pid);
	return sp_cg_write(d->path, "cgroup.procs", v, err);
}

static bool v2_oom_killed(const struct sp_cg_dir *d)
{
	uint64_t n;

	/* memory.events counts the descendants too, memory.events.local
	 * would not. */
	return sp_cg_read_key(d->path, "memory.events", "oom_kill", &n) && n > 0;
}

static int v2_destroy(const char *path)
{
	/* cgroup.kill (Linux 5.14) kills the whole subtree at once, with no
	 * race against fork; older kernels get the kill loop alone. */
	return sp_cg_remove_tree(path, sp_cg_exists(path, "cgroup.kill") ? "cgroup.kill" : NULL);
}

/* cgroup.freeze (Linux 5.2) needs no controller, so it works in the
 * v2 directory of a hybrid host too; the root cgroup has none. */
static int v2_freeze(const char *path, bool frozen, struct sp_err *err)
{
	if (!sp_cg_exists(path, "cgroup.freeze"))
		return 1;
	return sp_cg_write(path, "cgroup.freeze", frozen ? "1" : "0", err);
}

static int v2_frozen_done(const char *path, bool frozen, struct sp_err *err)
{
	uint64_t v;

	/* "frozen 1" once every process of the subtree is frozen. */
	if (!sp_cg_read_key(path, "cgroup.events", "frozen", &v))
		return sp_fail(err, SP_ERR_RUNTIME, "no `frozen' in `%s/cgroup.events'",
			       path);
	return (v != 0) == frozen;
}

const struct sp_cg_ops sp_cg_v2_ops = {
	.name = "v2",
	.create = v2_create,
	.set_limits = v2_set_limits,
	.attach = v2_attach,
	.oom_killed = v2_oom_killed,
	.destroy = v2_destroy,
	.freeze = v2_freeze,
	.frozen_done = v2_frozen_done,
};
