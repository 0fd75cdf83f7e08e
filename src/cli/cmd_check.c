/* `check`: what this host supports, each feature tried for real rather
 * than guessed from the kernel version. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sandbox/cgroup.h"
#include "sandbox/idmap.h"
#include "sandbox/landlock.h"
#include "store/store.h"
#include "vm/accel.h"
#include "vm/boot.h"
#include "vm/shares.h"

struct feature {
	const char *name;
	bool ok;
	bool required; /* every container instance needs it */
	char detail[256];
};

static bool try_unshare(int flag)
{
	int st;
	pid_t p = fork();

	if (p == 0)
		_exit(unshare(flag) == 0 ? 0 : 1);
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool in_path(const char *prog, char *where, size_t n)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	copy = strdup(path);
	for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
		snprintf(where, n, "%s/%s", d, prog);
		if (access(where, X_OK) == 0) {
			found = true;
			break;
		}
	}
	free(copy);
	return found;
}

static void add(struct feature *f, size_t *n, const char *name, bool ok, bool required, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void add(struct feature *f, size_t *n, const char *name, bool ok, bool required, const char *fmt, ...)
{
	va_list ap;

	f[*n].name = name;
	f[*n].ok = ok;
	f[*n].required = required;
	va_start(ap, fmt);
	vsnprintf(f[*n].detail, sizeof f[*n].detail, fmt, ap);
	va_end(ap);
	(*n)++;
}

/* The deepest existing directory on the way to PATH. */
static int existing_dir(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof buf, "%s", path);
	for (;;) {
		int fd = open(buf, O_PATH | O_DIRECTORY | O_CLOEXEC);
		char *slash;
		if (fd >= 0)
			return fd;
		slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			return open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		*slash = '\0';
	}
}

int sp_cmd_check(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	static const struct {
		const char *name;
		int flag;
	} ns[] = {
		{ "user namespaces", CLONE_NEWUSER }, { "mount namespaces", CLONE_NEWNS },
		{ "pid namespaces", CLONE_NEWPID },   { "network namespaces", CLONE_NEWNET },
		{ "ipc namespaces", CLONE_NEWIPC },   { "uts namespaces", CLONE_NEWUTS },
		{ "cgroup namespaces", CLONE_NEWCGROUP },
	};
	struct feature f[40];
	size_t n = 0;
	bool json = false, missing = false;
	struct sp_cgroup_support cg;
	char where[4096];
	int abi, fd;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return sp_fail(err, SP_ERR_USAGE, "check: %s: unexpected argument", argv[i]);
	}
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
		add(f, &n, ns[i].name, try_unshare(ns[i].flag), true, "%s", "");
	{
		const struct scmp_version *v = seccomp_version();
		unsigned api = seccomp_api_get();
		add(f, &n, "seccomp", api >= 1, true, "libseccomp %u.%u.%u, kernel API level %u", v->major, v->minor,
		    v->micro, api);
	}
	abi = sp_landlock_abi();
	add(f, &n, "landlock", abi > 0, false, abi > 0 ? "ABI %d" : "not in this kernel: instances run without it%.0d",
	    abi);
	{
		struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
		fd = (int)syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
		add(f, &n, "openat2", fd >= 0, true, "%s", fd >= 0 ? "RESOLVE_BENEATH for data grants" : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	sp_cgroup_probe(&cg);
	add(f, &n, "cgroup memory", cg.v2_memory || cg.v1_memory, true, "%s",
	    cg.v2_memory ? "v2" : cg.v1_memory ? "v1 (cgroup2 has no memory controller here)" : "none");
	add(f, &n, "cgroup pids", cg.v2_pids || cg.v1_pids, true, "%s",
	    cg.v2_pids ? "v2" : cg.v1_pids ? "v1 (cgroup2 has no pids controller here)" : "none");
	add(f, &n, "cgroup cpu", cg.v2_cpu || cg.v1_cpu, true, "%s",
	    cg.v2_cpu ? "v2" : cg.v1_cpu ? "v1 (cgroup2 has no cpu controller here)" : "none");
	{
		const char *dir = cli->state_dir ? cli->state_dir : getenv("SPECTRUM_STATE_DIR");
		if (!dir || !*dir)
			dir = SP_DEFAULT_STATE_DIR;
		fd = existing_dir(dir);
		bool ok = fd >= 0 && geteuid() == 0 && sp_idmap_supported(fd);
		add(f, &n, "idmapped mounts", ok, true, "%s on the filesystem of %s",
		    geteuid() != 0 ? "cannot test without root" : ok ? "work" : "DO NOT work", dir);
		if (fd >= 0)
			close(fd);
	}
	add(f, &n, "root", geteuid() == 0, true, "%s",
	    geteuid() == 0 ? "running as root: per-instance uid ranges" : "rootless mode is not built yet");
	{
		/* VMs: the guest kernel, its boot files, and KVM or TCG as
		 * the probe decides (a boot under KVM, once per kernel). */
		struct sp_vm_boot boot;
		struct sp_err e;
		char why[256];
		bool kvm = false;

		if (sp_vm_boot_prepare(NULL, &boot, &e) < 0) {
			add(f, &n, "vm boot files", false, false, "%s", e.msg);
		} else {
			add(f, &n, "vm boot files", true, false, "kernel %s (%s), initramfs %s", boot.kernel, boot.release,
			    boot.initramfs);
			if (sp_vm_accel(&boot, &kvm, why, sizeof why, &e) < 0)
				snprintf(why, sizeof why, "%.200s", e.msg);
			add(f, &n, "vm accelerator", true, false, "%s", why);
			sp_vm_boot_free(&boot);
		}
		add(f, &n, "virtiofsd", access(sp_virtiofsd_path(), X_OK) == 0, false, "%s", sp_virtiofsd_path());
	}
	{
		static const char *const tools[] = { "nix-instantiate", "nix-store", "qemu-system-x86_64", "s6-svscan" };
		for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
			bool ok = in_path(tools[i], where, sizeof where);
			add(f, &n, tools[i], ok, false, "%s", ok ? where : "not installed");
		}
	}

	for (size_t i = 0; i < n; i++)
		missing |= f[i].required && !f[i].ok;
	if (json) {
		json_t *o = json_object();
		for (size_t i = 0; i < n; i++)
			json_object_set_new(o, f[i].name, json_pack("{s:b, s:b, s:s}", "ok", f[i].ok, "required",
								     f[i].required, "detail", f[i].detail));
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(o);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%-8s %-20s %s\n", f[i].ok ? "ok" : f[i].required ? "MISSING" : "absent", f[i].name,
			       f[i].detail);
		printf("\n%s\n", missing ? "Something every container instance needs is missing (above)."
					 : "Everything container instances need is here.");
	}
	return missing ? 1 : 0;
}
