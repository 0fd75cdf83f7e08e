/* Builds the plan of one instance from the model: the mounts in the order
 * they are made, the command, the environment and the limits.  Reads the
 * host's filesystem (which software directories exist, Nix closures) but
 * changes nothing, so it runs without privileges. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan/plan-internal.h"
#include "util/cleanup.h"
#include "util/fnv.h"
#include "util/strv.h"

int sp_plan_add(struct sp_plan *plan, enum sp_mount_kind kind, enum sp_mount_origin origin,
		const char *source, const char *target, bool readonly)
{
	struct sp_mount *n = realloc(plan->mounts, (plan->n_mounts + 1) * sizeof *n);
	struct sp_mount *m;

	if (!n)
		return -1;
	plan->mounts = n;
	m = &n[plan->n_mounts];
	memset(m, 0, sizeof *m);
	m->kind = kind;
	m->origin = origin;
	m->readonly = readonly;
	m->source = source ? strdup(source) : NULL;
	m->target = strdup(target);
	if ((source && !m->source) || !m->target) {
		free(m->source);
		free(m->target);
		return -1;
	}
	plan->n_mounts++;
	return 0;
}

static int add(struct sp_plan *plan, enum sp_mount_kind kind, const char *source,
	       const char *target, bool readonly, bool optional)
{
	if (sp_plan_add(plan, kind, SP_ORIGIN_SYSTEM, source, target, readonly) < 0)
		return -1;
	plan->mounts[plan->n_mounts - 1].optional = optional;
	return 0;
}

/* /proc of the instance's own pid namespace, with the parts that reach
 * the host kernel made read-only or hidden, as Docker and Podman do. */
static int add_proc(struct sp_plan *plan)
{
	static const char *const ro[] = { "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus",
					  "/proc/fs" };
	static const char *const masked[] = { "/proc/kcore", "/proc/keys", "/proc/timer_list",
					      "/proc/sched_debug", "/proc/latency_stats", "/proc/acpi",
					      "/proc/scsi", "/proc/kmsg", "/proc/kallsyms" };
	size_t i;

	if (add(plan, SP_MNT_PROC, NULL, "/proc", false, false) < 0)
		return -1;
	for (i = 0; i < sizeof ro / sizeof ro[0]; i++)
		if (add(plan, SP_MNT_RO_REMOUNT, NULL, ro[i], true, true) < 0)
			return -1;
	for (i = 0; i < sizeof masked / sizeof masked[0]; i++)
		if (add(plan, SP_MNT_MASK, NULL, masked[i], true, true) < 0)
			return -1;
	return 0;
}

/* A minimal /dev: the harmless character devices bound from the host, a
 * private devpts, and the usual links. */
static int add_dev(struct sp_plan *plan)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	char path[32];
	size_t i;

	if (add(plan, SP_MNT_TMPFS, NULL, "/dev", true, false) < 0)
		return -1;
	for (i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		snprintf(path, sizeof path, "/dev/%s", nodes[i]);
		if (add(plan, SP_MNT_DEV, path, path, false, false) < 0)
			return -1;
	}
	if (add(plan, SP_MNT_DEVPTS, NULL, "/dev/pts", false, false) < 0 ||
	    add(plan, SP_MNT_SYMLINK, "pts/ptmx", "/dev/ptmx", true, false) < 0 ||
	    add(plan, SP_MNT_SYMLINK, "/proc/self/fd", "/dev/fd", true, false) < 0 ||
	    add(plan, SP_MNT_SYMLINK, "/proc/self/fd/0", "/dev/stdin", true, false) < 0 ||
	    add(plan, SP_MNT_SYMLINK, "/proc/self/fd/1", "/dev/stdout", true, false) < 0 ||
	    add(plan, SP_MNT_SYMLINK, "/proc/self/fd/2", "/dev/stderr", true, false) < 0 ||
	    add(plan, SP_MNT_TMPFS, NULL, "/dev/shm", false, false) < 0)
		return -1;
	return 0;
}

static int depth(const char *path)
{
	int d = 0;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

/* Grants in order of depth, so that a grant inside another is mounted
 * on top of it and not hidden by it. */
static int cmp_grant(const void *a, const void *b)
{
	const struct sp_grant *ga = *(const struct sp_grant *const *)a;
	const struct sp_grant *gb = *(const struct sp_grant *const *)b;
	int d = depth(ga->at) - depth(gb->at);

	return d ? d : strcmp(ga->at, gb->at);
}

static int add_grants(const struct sp_instance *inst, struct sp_plan *plan)
{
	cleanup_free const struct sp_grant **sorted = calloc(inst->n_data + 1, sizeof *sorted);
	size_t i;

	if (!sorted)
		return -1;
	for (i = 0; i < inst->n_data; i++)
		sorted[i] = &inst->data[i];
	qsort(sorted, inst->n_data, sizeof *sorted, cmp_grant);
	for (i = 0; i < inst->n_data; i++)
		if (sp_plan_add(plan, SP_MNT_GRANT, SP_ORIGIN_GRANT, sorted[i]->path, sorted[i]->at,
				sorted[i]->mode == SP_GRANT_RO) < 0)
			return -1;
	return 0;
}

/* A bare command name is looked up in the software's bin/ directories,
 * in the order PATH gives them, on the host side (the same paths are
 * bound into the instance).  Not found: left bare, so that the failure
 * comes from execve inside, with status 127, as a shell would. */
static char *resolve_command(const char *name, const char *path)
{
	cleanup_free char *copy = NULL;
	char *save = NULL, *dir;

	if (strchr(name, '/') || !path)
		return strdup(name);
	copy = strdup(path);
	if (!copy)
		return NULL;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		cleanup_free char *full = sp_printf("%s/%s", dir, name);
		struct stat st;
		if (full && stat(full, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
			return steal_ptr(&full);
	}
	return strdup(name);
}

static int env_push(char ***envp, const char *key, const char *value)
{
	cleanup_free char *kv = sp_printf("%s=%s", key, value);

	return kv ? sp_strv_push(envp, kv) : -1;
}

static int build_env(const struct sp_instance *inst, const char *path, const char *term,
		     struct sp_plan *plan)
{
	bool path_set = false;

	for (size_t i = 0; i < inst->n_env; i++)
		path_set |= strcmp(inst->env[i].key, "PATH") == 0;
	if (!path_set && env_push(&plan->envp, "PATH", path ? path : "/nonexistent") < 0)
		return -1;
	if (env_push(&plan->envp, "HOME", SP_INNER_HOME) < 0 || env_push(&plan->envp, "USER", "user") < 0 ||
	    env_push(&plan->envp, "LOGNAME", "user") < 0 || env_push(&plan->envp, "HOSTNAME", inst->name) < 0 ||
	    (inst->software_host && env_push(&plan->envp, "SHELL", "/bin/sh") < 0) ||
	    (term && env_push(&plan->envp, "TERM", term) < 0))
		return -1;
	for (size_t i = 0; i < inst->n_env; i++)
		if (env_push(&plan->envp, inst->env[i].key, inst->env[i].value) < 0)
			return -1;
	return 0;
}

char *sp_instance_id(const struct sp_store *store, const char *name)
{
	/* Two stores on one host may both have a "writer-work": the store
	 * is part of what names the instance's cgroups. */
	return sp_printf("%s.%08x", name, (unsigned)sp_fnv1a32(store->root));
}

int sp_plan_build(const struct sp_instance *inst, const struct sp_store *store,
		  char *const *command, const char *term, struct sp_plan *plan,
		  struct sp_err *err)
{
	cleanup_free char *path = NULL;
	char *const *argv = command && command[0] ? command : inst->command;
	struct sp_host_facts facts;

	memset(plan, 0, sizeof *plan);
	plan->name = strdup(inst->name);
	plan->id = sp_instance_id(store, inst->name);
	plan->hostname = strdup(inst->name);
	plan->home_source = sp_printf("%s/state/%s", store->root, inst->name);
	plan->cwd = strdup(SP_INNER_HOME);
	plan->uid = SP_INNER_UID;
	plan->gid = SP_INNER_GID;
	plan->isolation = inst->isolation;
	plan->vm_memory = inst->vm.memory;
	plan->vm_vcpus = inst->vm.vcpus;
	if (inst->vm.kernel && !(plan->vm_kernel = strdup(inst->vm.kernel)))
		goto nomem;
	if (!plan->name || !plan->id || !plan->hostname || !plan->home_source || !plan->cwd)
		goto nomem;

	/* The root is a tmpfs, read-only once everything is in place. */
	if (add(plan, SP_MNT_TMPFS, NULL, "/", true, false) < 0)
		goto nomem;
	if (sp_plan_software(inst, plan, &path, err) < 0)
		goto fail;
	if (sp_plan_net(inst, plan) < 0)
		goto nomem;
	if (sp_plan_etc(inst, plan, err) < 0)
		goto fail;
	if (add_dev(plan) < 0 || add_proc(plan) < 0 || add(plan, SP_MNT_TMPFS, NULL, "/tmp", false, false) < 0)
		goto nomem;
	if (sp_plan_add(plan, SP_MNT_HOME, SP_ORIGIN_HOME, plan->home_source, SP_INNER_HOME, false) < 0)
		goto nomem;
	if (add_grants(inst, plan) < 0)
		goto nomem;

	for (size_t i = 0; argv[i]; i++) {
		char *a = i == 0 ? resolve_command(argv[0], path) : strdup(argv[i]);
		int r = a ? sp_strv_push(&plan->argv, a) : -1;
		free(a);
		if (r < 0)
			goto nomem;
	}
	if (build_env(inst, path, term, plan) < 0)
		goto nomem;

	sp_host_facts_read(&facts);
	sp_plan_limits(inst, &facts, &plan->limits);
	return 0;
nomem:
	sp_fail_errno(err, ENOMEM, "plan of %s", inst->name);
fail:
	sp_plan_free(plan);
	return -1;
}

void sp_plan_free(struct sp_plan *plan)
{
	for (size_t i = 0; i < plan->n_mounts; i++) {
		free(plan->mounts[i].source);
		free(plan->mounts[i].target);
	}
	free(plan->mounts);
	free(plan->name);
	free(plan->id);
	free(plan->hostname);
	free(plan->vm_kernel);
	free(plan->home_source);
	free(plan->cwd);
	sp_strv_free(plan->software);
	sp_strv_free(plan->argv);
	sp_strv_free(plan->envp);
	sp_plan_net_free(&plan->net);
	memset(plan, 0, sizeof *plan);
}

const char *sp_mount_kind_name(enum sp_mount_kind kind)
{
	switch (kind) {
	case SP_MNT_BIND: return "bind";
	case SP_MNT_HOME: return "home";
	case SP_MNT_GRANT: return "grant";
	case SP_MNT_TMPFS: return "tmpfs";
	case SP_MNT_PROC: return "proc";
	case SP_MNT_DEVPTS: return "devpts";
	case SP_MNT_DEV: return "device";
	case SP_MNT_SYMLINK: return "symlink";
	case SP_MNT_FILE: return "file";
	case SP_MNT_MASK: return "masked";
	case SP_MNT_RO_REMOUNT: return "read-only";
	}
	return "?";
}

const char *sp_mount_origin_name(enum sp_mount_origin origin)
{
	switch (origin) {
	case SP_ORIGIN_SYSTEM: return "system";
	case SP_ORIGIN_SOFTWARE: return "software";
	case SP_ORIGIN_HOME: return "home";
	case SP_ORIGIN_GRANT: return "grant";
	}
	return "?";
}
