/* `inspect`: the plan, in words or as JSON.  Everything shown comes from
 * the same plan the engine executes, so what it says is what happens. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/netdesc.h"
#include "vm/shares.h"
#include "plan/plan.h"
#include "sandbox/idrange.h"
#include "sandbox/landlock.h"
#include "sandbox/seccomp.h"
#include "store/store.h"

static const char *const namespaces[] = { "user", "mount", "pid", "network", "ipc", "uts", "cgroup" };

/* Whether the instance can write at mount M. */
static bool writable(const struct sp_mount *m)
{
	switch (m->kind) {
	case SP_MNT_HOME:
	case SP_MNT_GRANT:
	case SP_MNT_TMPFS:
		return !m->readonly;
	case SP_MNT_BIND:
	case SP_MNT_PROC:
	case SP_MNT_DEVPTS:
	case SP_MNT_DEV:
	case SP_MNT_SYMLINK:
	case SP_MNT_FILE:
	case SP_MNT_MASK:
	case SP_MNT_RO_REMOUNT:
		return false;
	}
	return false;
}

static const char *source_text(const struct sp_plan *plan, const struct sp_mount *m, char *buf, size_t n,
			       const struct sp_store *store)
{
	switch (m->kind) {
	case SP_MNT_GRANT:
		snprintf(buf, n, "%s/data/%s", store->root, m->source);
		return buf;
	case SP_MNT_HOME:
		return plan->home_source;
	case SP_MNT_FILE:
		return "(generated)";
	case SP_MNT_BIND:
	case SP_MNT_DEV:
	case SP_MNT_SYMLINK:
		return m->source;
	case SP_MNT_TMPFS:
	case SP_MNT_PROC:
	case SP_MNT_DEVPTS:
	case SP_MNT_MASK:
	case SP_MNT_RO_REMOUNT:
		return "";
	}
	return "";
}

static void print_limit(const char *what, unsigned long long v, bool size, bool dflt, const char *how)
{
	char buf[32];

	if (!v) {
		printf("  %-8s unlimited\n", what);
		return;
	}
	if (size)
		sp_format_size(v, buf, sizeof buf);
	else
		snprintf(buf, sizeof buf, "%llu", v);
	printf("  %-8s %s%s%s%s\n", what, buf, dflt ? " (default: " : "", dflt ? how : "", dflt ? ")" : "");
}

static void print_env_limits(const struct sp_plan *plan, const struct sp_config *cfg, const struct sp_instance *inst)
{
	const struct sp_limits *l = &plan->limits;
	bool vm = plan->isolation == SP_ISOLATION_VM;
	char mem[32], pids[32];

	printf("\nenvironment (nothing else of the host's)\n");
	for (size_t i = 0; plan->envp[i]; i++)
		printf("  %s\n", plan->envp[i]);
	sp_cli_net_print(cfg, inst);
	printf("\nlimits (resources.* in the configuration overrides each)\n");
	print_limit("memory", l->memory_bytes, true, l->defaulted & SP_LIMIT_DEFAULT_MEMORY,
		    vm ? "vm.memory + 1G for QEMU" : "RAM/4, at most 4G");
	if (l->cpu_quota_us)
		printf("  %-8s %.2f CPUs (%llu us per %llu us)\n", "cpu",
		       (double)l->cpu_quota_us / (double)l->cpu_period_us,
		       (unsigned long long)l->cpu_quota_us, (unsigned long long)l->cpu_period_us);
	else
		printf("  %-8s unlimited\n", "cpu");
	print_limit("pids", l->pids, false, l->defaulted & SP_LIMIT_DEFAULT_PIDS,
		    "1024, at most pid_max/16 and file-max/(4 x files)");
	if (vm) {
		printf("  %-8s /tmp and /dev/shm live in the guest's RAM (vm.memory)\n", "guest");
	} else {
		print_limit("files", l->files, false, l->defaulted & SP_LIMIT_DEFAULT_FILES,
			    "open files per process, soft and hard");
		print_limit("/tmp", l->tmp_bytes, true, l->defaulted & SP_LIMIT_DEFAULT_TMP, "memory/4");
		print_limit("/dev/shm", l->shm_bytes, true, l->defaulted & SP_LIMIT_DEFAULT_SHM, "memory/4");
	}
	sp_format_size(l->all_memory_bytes, mem, sizeof mem);
	snprintf(pids, sizeof pids, "%llu", (unsigned long long)l->all_pids);
	printf("  %-8s every instance together: memory %s (RAM less max(RAM/8, 1G)), pids %s (pid_max/2)\n", "host",
	       l->all_memory_bytes ? mem : "unlimited", l->all_pids ? pids : "unlimited");
}

static json_t *limits_json(const struct sp_plan *plan)
{
	const struct sp_limits *l = &plan->limits;
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = { { SP_LIMIT_DEFAULT_MEMORY, "memory" }, { SP_LIMIT_DEFAULT_PIDS, "pids" },
		      { SP_LIMIT_DEFAULT_FILES, "files" },   { SP_LIMIT_DEFAULT_TMP, "tmp" },
		      { SP_LIMIT_DEFAULT_SHM, "shm" } };
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "memory_bytes", (json_int_t)l->memory_bytes, "cpu_quota_us",
			      (json_int_t)l->cpu_quota_us, "cpu_period_us", (json_int_t)l->cpu_period_us, "pids",
			      (json_int_t)l->pids);
	json_t *d = json_array();

	/* A VM's guest has its own /tmp and its own open files. */
	if (plan->isolation != SP_ISOLATION_VM) {
		json_object_set_new(o, "files", json_integer((json_int_t)l->files));
		json_object_set_new(o, "tmp_bytes", json_integer((json_int_t)l->tmp_bytes));
		json_object_set_new(o, "shm_bytes", json_integer((json_int_t)l->shm_bytes));
	}
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if ((l->defaulted & names[i].bit) &&
		    (plan->isolation != SP_ISOLATION_VM || names[i].bit & (SP_LIMIT_DEFAULT_MEMORY | SP_LIMIT_DEFAULT_PIDS)))
			json_array_append_new(d, json_string(names[i].name));
	json_object_set_new(o, "defaults", d);
	json_object_set_new(o, "all_instances",
			    json_pack("{s:I, s:I}", "memory_bytes", (json_int_t)l->all_memory_bytes, "pids",
				      (json_int_t)l->all_pids));
	return o;
}

static void print_vm(const struct sp_plan *plan)
{
	struct sp_vm_share_desc d[SP_VM_SHARES_MAX];
	size_t n = sp_vm_share_describe(plan, d, SP_VM_SHARES_MAX);
	char mem[32];

	sp_format_size(plan->vm_memory, mem, sizeof mem);
	printf("\nvirtual machine\n");
	printf("  machine       QEMU q35, %u vCPU%s, %s of RAM (shared memfd, for virtiofs); KVM or TCG as `spectrum check` says\n",
	       plan->vm_vcpus, plan->vm_vcpus == 1 ? "" : "s", mem);
	printf("  kernel        %s\n", plan->vm_kernel ? plan->vm_kernel : "the newest /boot/vmlinuz-* (as an extracted ELF vmlinux)");
	printf("  initramfs     generated: the agent as /init and the kernel's virtio modules\n");
	printf("  shares        (virtiofs: one virtiofsd each)\n");
	for (size_t i = 0; i < n; i++)
		printf("    %-8s %-28s %s\n", d[i].tag, d[i].guest_path, d[i].readonly ? "read-only" : "read-write");
	printf("\nconfinement\n");
	printf("  guest         its own kernel; the command runs as uid %u gid %u with no_new_privs; the agent (PID 1) alone is root\n",
	       (unsigned)plan->uid, (unsigned)plan->gid);
	printf("  qemu          a leased unprivileged host uid, no capabilities, no_new_privs, own network and IPC namespaces,\n"
	       "                -sandbox on (obsolete, elevateprivileges, spawn, resourcecontrol denied), in the instance's cgroup\n");
	printf("  virtiofsd     its own mount namespace in which only its export is mounted, then its own namespace sandbox and seccomp\n");
	printf("  store files   idmapped: the store owner's files appear as the guest user's, what it writes lands as the owner's\n");
}

/* A guest's kernel makes its own /dev and /proc: those lines of the plan
 * are the container engine's only. */
static bool shown_for(const struct sp_plan *plan, const struct sp_mount *m)
{
	if (plan->isolation != SP_ISOLATION_VM)
		return true;
	return !(strncmp(m->target, "/dev", 4) == 0 && (m->target[4] == '/' || !m->target[4])) &&
	       !(strncmp(m->target, "/proc", 5) == 0 && (m->target[5] == '/' || !m->target[5]));
}

static void print_text(const struct sp_plan *plan, const struct sp_store *store, const struct sp_config *cfg,
		       const struct sp_instance *inst)
{
	size_t nrules;
	const struct sp_seccomp_rule_desc *rules = sp_seccomp_rules(&nrules);
	int abi = sp_landlock_abi();
	char buf[4200];

	printf("instance   %s (%s)\n", plan->name, plan->isolation == SP_ISOLATION_VM ? "vm" : "container");
	printf("command   ");
	for (size_t i = 0; plan->argv[i]; i++)
		printf(" %s", plan->argv[i]);
	printf("\nsoftware\n");
	for (size_t i = 0; plan->software && plan->software[i]; i++)
		printf("  %s%s\n", plan->software[i],
		       strcmp(plan->software[i], "host") == 0 ? " (the host's /usr, read-only)" : " (read-only)");
	printf("\nreads and writes\n");
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sp_mount *m = &plan->mounts[i];
		if (writable(m) && shown_for(plan, m))
			printf("  %-28s %-8s %s\n", m->target, sp_mount_kind_name(m->kind),
			       source_text(plan, m, buf, sizeof buf, store));
	}
	printf("\nreads only\n");
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sp_mount *m = &plan->mounts[i];
		if (m->kind == SP_MNT_MASK || m->kind == SP_MNT_RO_REMOUNT || writable(m) || !shown_for(plan, m))
			continue;
		printf("  %-28s %-8s %s\n", m->target, sp_mount_kind_name(m->kind),
		       source_text(plan, m, buf, sizeof buf, store));
	}
	if (plan->isolation == SP_ISOLATION_VM) {
		print_env_limits(plan, cfg, inst);
		print_vm(plan);
		return;
	}
	printf("\nhidden or read-only in /proc\n ");
	for (size_t i = 0; i < plan->n_mounts; i++)
		if (plan->mounts[i].kind == SP_MNT_MASK || plan->mounts[i].kind == SP_MNT_RO_REMOUNT)
			printf(" %s", plan->mounts[i].target);
	print_env_limits(plan, cfg, inst);
	printf("\nconfinement\n  namespaces    ");
	for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
		printf("%s%s", i ? ", " : "", namespaces[i]);
	printf("\n  user          uid %u gid %u (\"user\"); host ids leased at start: a range of %u from %u upward\n",
	       (unsigned)plan->uid, (unsigned)plan->gid, SP_ID_RANGE, SP_ID_BASE);
	printf("  store files   idmapped: the store owner's files appear as the instance's, what it writes lands as the owner's\n");
	printf("  capabilities  none in any set (effective, permitted, inheritable, ambient, bounding)\n");
	printf("  privileges    no_new_privs; every mount nosuid,nodev; PID 1 is Spectrum's reaper\n");
	if (abi > 0)
		printf("  landlock      ABI %d: writes only beneath the writable paths above; no device nodes\n", abi);
	else
		printf("  landlock      NOT AVAILABLE on this kernel (the other layers still apply)\n");
	printf("  seccomp       %zu rules; non-native ABIs (i386, x32) refused:\n", nrules);
	for (size_t i = 0; i < nrules; i++)
		printf("    %-32s %s\n", rules[i].what, rules[i].why);
}

static json_t *plan_json(const struct sp_plan *plan, const struct sp_store *store, const struct sp_config *cfg,
			 const struct sp_instance *inst)
{
	json_t *o = json_object(), *a;
	size_t nrules;
	const struct sp_seccomp_rule_desc *rules = sp_seccomp_rules(&nrules);
	char buf[4200];

	json_object_set_new(o, "name", json_string(plan->name));
	json_object_set_new(o, "isolation", json_string(plan->isolation == SP_ISOLATION_VM ? "vm" : "container"));
	if (plan->isolation == SP_ISOLATION_VM) {
		struct sp_vm_share_desc d[SP_VM_SHARES_MAX];
		size_t nd = sp_vm_share_describe(plan, d, SP_VM_SHARES_MAX);
		json_t *sh = json_array();

		for (size_t i = 0; i < nd; i++)
			json_array_append_new(sh, json_pack("{s:s, s:s, s:b}", "tag", d[i].tag, "path", d[i].guest_path,
							    "readonly", d[i].readonly));
		json_object_set_new(o, "vm",
				    json_pack("{s:s, s:I, s:i, s:s?, s:o}", "machine", "q35", "memory_bytes",
					      (json_int_t)plan->vm_memory, "vcpus", (int)plan->vm_vcpus, "kernel",
					      plan->vm_kernel, "shares", sh));
	}
	a = json_array();
	for (size_t i = 0; plan->software && plan->software[i]; i++)
		json_array_append_new(a, json_string(plan->software[i]));
	json_object_set_new(o, "software", a);
	a = json_array();
	for (size_t i = 0; plan->argv[i]; i++)
		json_array_append_new(a, json_string(plan->argv[i]));
	json_object_set_new(o, "command", a);
	a = json_array();
	for (size_t i = 0; plan->envp[i]; i++)
		json_array_append_new(a, json_string(plan->envp[i]));
	json_object_set_new(o, "environment", a);
	a = json_array();
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sp_mount *m = &plan->mounts[i];
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "target", m->target, "kind",
						   sp_mount_kind_name(m->kind), "origin",
						   sp_mount_origin_name(m->origin), "source",
						   source_text(plan, m, buf, sizeof buf, store), "mode",
						   writable(m) ? "rw" : "ro"));
	}
	json_object_set_new(o, "mounts", a);
	json_object_set_new(o, "network", sp_cli_net_json(cfg, inst));
	json_object_set_new(o, "limits", limits_json(plan));
	a = json_array();
	for (size_t i = 0; i < nrules; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "what", rules[i].what, "why", rules[i].why));
	json_t *ns = json_array();
	for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
		json_array_append_new(ns, json_string(namespaces[i]));
	json_object_set_new(o, "confinement",
			    json_pack("{s:o, s:i, s:i, s:s, s:b, s:i, s:o, s:b}", "namespaces", ns, "uid",
				      (int)plan->uid, "gid", (int)plan->gid, "capabilities", "none", "no_new_privs", 1,
				      "landlock_abi", sp_landlock_abi(), "seccomp", a, "idmapped_store", 1));
	return o;
}

int sp_cmd_inspect(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	const char *config = NULL, *name = NULL;
	bool json = false;
	struct sp_config cfg = { 0 };
	const struct sp_instance *inst;
	struct sp_store store;
	struct sp_plan plan;
	int ret = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
		else if (argv[i][0] == '-')
			return sp_fail(err, SP_ERR_USAGE, "inspect: %s: unknown option", argv[i]);
		else if (!name)
			name = argv[i];
		else
			return sp_fail(err, SP_ERR_USAGE, "inspect: %s: unexpected argument", argv[i]);
	}
	if (!name)
		return sp_fail(err, SP_ERR_USAGE, "inspect: missing instance name");
	if (sp_cli_instance(cli, config, name, &cfg, &inst, err) < 0)
		return -1;
	if (sp_store_open(cli->state_dir, cli->run_dir, &store, err) < 0)
		goto out_cfg;
	if (sp_plan_build(inst, &store, NULL, NULL, &plan, err) < 0) {
		sp_err_wrap(err, "%s", name);
		goto out_store;
	}
	if (json) {
		json_t *o = plan_json(&plan, &store, &cfg, inst);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		print_text(&plan, &store, &cfg, inst);
	}
	ret = 0;
	sp_plan_free(&plan);
out_store:
	sp_store_close(&store);
out_cfg:
	sp_config_free(&cfg);
	return ret;
}
