/* Between cgroup.c (what both versions share: finding the hierarchies,
 * choosing a backend per controller, removing a cgroup) and the two
 * backends, cgroup-v1.c and cgroup-v2.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "plan/plan.h"
#include "util/err.h"

/* The controllers Spectrum limits through, and the v1 freezer, which
 * limits nothing: an instance joins its hierarchy on hosts without
 * cgroup2 (whose cgroup.freeze needs no controller), so that it can be
 * frozen there too. */
enum {
	SP_CG_MEMORY = 1u << 0,
	SP_CG_PIDS = 1u << 1,
	SP_CG_CPU = 1u << 2,
	SP_CG_FREEZER = 1u << 3,
};

/* "spectrum/NAME" in one hierarchy. */
struct sp_cg_dir {
	const struct sp_cg_ops *ops;
	unsigned ctrls; /* SP_CG_* limited here; 0 for the v2 dir kept only
			   to count and kill the instance's processes */
	char *mount;    /* where the hierarchy is mounted */
	char *own;      /* the engine's own cgroup in it: "/" or "/a/b" */
	char *parent;   /* MOUNT/PLACE/spectrum, set by create */
	char *path;     /* PARENT/NAME, set by create */
};

struct sp_cg_ops {
	const char *name; /* "v1", "v2" */
	/* Chooses where the instance's cgroup goes (d->parent, d->path),
	 * makes the directories and the controllers of d->ctrls usable in
	 * them.  No leftover exists at this point. */
	int (*create)(struct sp_cg_dir *d, const char *name, struct sp_err *err);
	/* Writes the limits of the controllers in d->ctrls. */
	int (*set_limits)(const struct sp_cg_dir *d, const struct sp_limits *lim,
			  struct sp_err *err);
	int (*attach)(const struct sp_cg_dir *d, pid_t pid, struct sp_err *err);
	bool (*oom_killed)(const struct sp_cg_dir *d);
	/* Kills what is left in PATH and removes it with its descendants;
	 * bounded in time.  Returns 0 once PATH is gone. */
	int (*destroy)(const char *path);
	/* Asks the kernel to freeze (FROZEN true) or thaw every process of
	 * PATH and its descendants; 1 when PATH has no freezer (a v1
	 * hierarchy other than the freezer's). */
	int (*freeze)(const char *path, bool frozen, struct sp_err *err);
	/* 1 once the kernel reports PATH in the state the last freeze
	 * asked for, 0 while it is not yet, -1 when it cannot tell. */
	int (*frozen_done)(const char *path, bool frozen, struct sp_err *err);
};

extern const struct sp_cg_ops sp_cg_v1_ops;
extern const struct sp_cg_ops sp_cg_v2_ops;

/* Helpers of cgroup.c, shared by the backends. */

/* malloc'ed "A/B", or NULL when out of memory. */
char *sp_cg_join(const char *a, const char *b);

/* Writes VALUE to DIR/FILE in one write(2), as cgroupfs wants. */
int sp_cg_write(const char *dir, const char *file, const char *value,
		struct sp_err *err);

/* Reads DIR/FILE into BUF, NUL-terminated.  -1 and errno on failure. */
int sp_cg_read(const char *dir, const char *file, char *buf, size_t size);

bool sp_cg_exists(const char *dir, const char *file);

/* The number after KEY in a "key value" file such as memory.events;
 * false when the file or the key is missing. */
bool sp_cg_read_key(const char *dir, const char *file, const char *key,
		    uint64_t *value);

/* mkdir(2) accepting an existing directory. */
int sp_cg_mkdir(const char *path, struct sp_err *err);

/* The common part of destroy: SIGKILLs every process of PATH and its
 * descendants (after KILL_FILE's "1" when KILL_FILE is not NULL) until
 * the directories can be removed, for at most about two seconds. */
int sp_cg_remove_tree(const char *path, const char *kill_file);
