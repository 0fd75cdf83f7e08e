#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest/proto.h"
#include "sandbox/idmap.h"
#include "util/strv.h"
#include "vm/qemu.h"

const char *sp_qemu_path(void)
{
	const char *p = getenv("SPECTRUM_QEMU");

	return p && p[0] == '/' ? p : SP_QEMU_DEFAULT;
}

/* The host's TSC frequency in kHz, which is also the guest's under TCG
 * and KVM alike; 0 when /proc/cpuinfo does not say. */
static unsigned long tsc_khz(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[256];
	double mhz = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "cpu MHz", 7) == 0 && sscanf(strchr(line, ':') ? strchr(line, ':') + 1 : "", "%lf", &mhz) == 1)
			break;
	fclose(f);
	return mhz > 0 ? (unsigned long)(mhz * 1000) : 0;
}

char *sp_qemu_cmdline(void)
{
	unsigned long khz = tsc_khz();
	char tsc[48] = "";

	if (khz)
		snprintf(tsc, sizeof tsc, " tsc_early_khz=%lu", khz);
	/* panic=-1: a guest kernel that panics reboots, which -no-reboot
	 * turns into QEMU's exit, instead of hanging. */
	return sp_printf("console=ttyS0 quiet panic=-1 cryptomgr.notests rdinit=/init%s", tsc);
}

static int push(char ***argv, size_t *n, char *s)
{
	char **v;

	if (!s)
		return -1;
	v = realloc(*argv, (*n + 2) * sizeof *v);
	if (!v) {
		free(s);
		return -1;
	}
	v[(*n)++] = s;
	v[*n] = NULL;
	*argv = v;
	return 0;
}

#define ARG(...) push(&argv, &n, sp_printf(__VA_ARGS__))

char **sp_qemu_argv(const struct sp_qemu_config *c)
{
	char **argv = NULL, *cmdline = sp_qemu_cmdline();
	size_t n = 0;
	unsigned long long mib = (unsigned long long)(c->memory >> 20);
	int r = 0;

	if (!cmdline)
		return NULL;
	r |= ARG("%s", sp_qemu_path());
	r |= ARG("-name") | ARG("spectrum-%s", c->name);
	r |= ARG("-nodefaults") | ARG("-no-user-config") | ARG("-display") | ARG("none") | ARG("-no-reboot");
	/* q35, not microvm: QEMU 7.2's microvm fails vhost-user-fs's memory
	 * table setup (vhost_set_mem_table: I/O error), measured here. */
	r |= ARG("-machine") | ARG("q35,accel=%s", c->kvm ? "kvm" : "tcg");
	if (c->kvm)
		r |= ARG("-cpu") | ARG("host");
	r |= ARG("-smp") | ARG("%u", c->vcpus);
	r |= ARG("-m") | ARG("%lluM", mib);
	/* virtiofsd maps the guest's RAM: it has to be shared memory. */
	r |= ARG("-object") | ARG("memory-backend-memfd,id=mem,size=%lluM,share=on", mib);
	r |= ARG("-numa") | ARG("node,memdev=mem");
	if (c->vmlinux_fd >= 0)
		r |= ARG("-kernel") | ARG("/proc/self/fd/%d", c->vmlinux_fd);
	else
		r |= ARG("-kernel") | ARG("%s", c->vmlinux);
	if (c->initramfs_fd >= 0)
		r |= ARG("-initrd") | ARG("/proc/self/fd/%d", c->initramfs_fd);
	else
		r |= ARG("-initrd") | ARG("%s", c->initramfs);
	r |= ARG("-append") | ARG("%s", cmdline);
	if (c->console_fd >= 0) {
		r |= ARG("-chardev") | ARG("socket,id=con,fd=%d", c->console_fd);
		r |= ARG("-serial") | ARG("chardev:con");
	}
	if (c->control_fd >= 0) {
		r |= ARG("-device") | ARG("virtio-serial-pci,id=vser");
		r |= ARG("-chardev") | ARG("socket,id=ctl,fd=%d", c->control_fd);
		r |= ARG("-device") | ARG("virtserialport,bus=vser.0,chardev=ctl,name=%s", SP_GUEST_PORT_NAME);
	}
	for (size_t i = 0; c->shares && i < c->shares->n; i++) {
		const struct sp_vm_share *sh = &c->shares->v[i];
		r |= ARG("-chardev") | ARG("socket,id=fs%zu,fd=%d", i, sh->qemu_fd);
		r |= ARG("-device") | ARG("vhost-user-fs-pci,chardev=fs%zu,tag=%s", i, sh->tag);
	}
	r |= ARG("-sandbox") | ARG("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	r |= ARG("-msg") | ARG("timestamp=off");
	free(cmdline);
	if (r) {
		sp_strv_free(argv);
		return NULL;
	}
	return argv;
}

static void keep_fd(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFD, 0);
}

static void die(const char *what)
{
	dprintf(2, "spectrum: start QEMU: %s: %s\n", what, strerror(errno));
	_exit(127);
}

/* QEMU's own view of the host: /usr (its binary, libraries, firmware)
 * read-only, the loader's cache, a few device nodes, its own /proc and
 * /tmp, and nothing else: no /home, no /var, no sockets of the host, no
 * store.  Everything it needs of Spectrum it gets as descriptors. */
static void confine_fs(bool kvm)
{
	static const char *const devs[] = { "null", "zero", "urandom", "kvm" };
	static const char *const links[][2] = {
		{ "usr/bin", "bin" }, { "usr/lib", "lib" }, { "usr/lib64", "lib64" }, { "usr/sbin", "sbin" },
	};
	struct sp_err e;
	char path[64];
	int fd;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0 || chdir("/run") < 0)
		die("QEMU's root");
	if (mkdir("usr", 0755) < 0 || mkdir("etc", 0755) < 0 || mkdir("dev", 0755) < 0 || mkdir("proc", 0755) < 0 ||
	    mkdir("tmp", 01777) < 0)
		die("QEMU's root");
	if (sp_detached_mount(AT_FDCWD, "/usr", true, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, -1, &fd,
			      &e) < 0 ||
	    syscall(SYS_move_mount, fd, "", AT_FDCWD, "usr", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		die("/usr");
	close(fd);
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlink(links[i][0], links[i][1]) < 0)
			die("QEMU's root");
	fd = open("etc/ld.so.cache", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("QEMU's root");
	close(fd);
	if (mount("/etc/ld.so.cache", "etc/ld.so.cache", NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, "etc/ld.so.cache", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		die("/etc/ld.so.cache");
	for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
		if (strcmp(devs[i], "kvm") == 0 && !kvm)
			continue;
		snprintf(path, sizeof path, "dev/%s", devs[i]);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			die(path);
		close(fd);
		snprintf(path, sizeof path, "/dev/%s", devs[i]);
		if (mount(path, path + 1, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, path + 1, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC, NULL) < 0)
			die(path);
	}
	/* Other users' processes invisible: QEMU sees itself (its
	 * /proc/self/fd holds the kernel and initramfs). */
	if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") < 0)
		die("/proc");
	if (mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=01777,size=16m") < 0)
		die("/tmp");
	if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		die("pivot_root");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		die("read-only root");
}

static void qemu_child(const struct sp_qemu_config *c, char **argv, int go)
{
	gid_t kvm_gid;
	sigset_t none;
	char ch;

	if (read(go, &ch, 1) != 1)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* Out of the engine's process group: a ^C or a group-wide signal
	 * meant for `spectrum run` reaches the command through the agent,
	 * not QEMU, which would stop the guest. */
	setsid();
	if (c->stderr_fd >= 0 && dup2(c->stderr_fd, 2) < 0)
		_exit(127);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		die("/dev/null");
	/* No network and no System V IPC of the host: QEMU has no network
	 * device, and nothing to share; and a filesystem of its own. */
	if (unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWNS) < 0)
		die("namespaces");
	confine_fs(c->kvm);
	/* /dev/kvm is group kvm's: the only group QEMU keeps. */
	kvm_gid = c->kvm ? (gid_t)-1 : 0;
	if (c->kvm) {
		struct group *g = getgrnam("kvm");
		kvm_gid = g ? g->gr_gid : 0;
	}
	if (setgroups(c->kvm && kvm_gid ? 1 : 0, &kvm_gid) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
	    setresuid(c->uid, c->uid, c->uid) < 0)
		die("drop privileges");
	/* After the uid change, which clears it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
		_exit(127);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs");
	/* Only the descriptors named on its command line, and stdio. */
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	keep_fd(c->vmlinux_fd);
	keep_fd(c->initramfs_fd);
	keep_fd(c->console_fd);
	keep_fd(c->control_fd);
	for (size_t i = 0; c->shares && i < c->shares->n; i++)
		keep_fd(c->shares->v[i].qemu_fd);
	execve(argv[0], argv, (char *const[]){ "PATH=/usr/bin:/bin", NULL });
	die(argv[0]);
}

int sp_qemu_start(const struct sp_qemu_config *c, struct sp_cgroup *cg, pid_t *pid, struct sp_err *err)
{
	char **argv = sp_qemu_argv(c);
	int go[2] = { -1, -1 }, ret = -1;
	pid_t p;

	*pid = -1;
	if (!argv)
		return sp_fail_errno(err, ENOMEM, "QEMU's command line");
	if (pipe2(go, O_CLOEXEC) < 0) {
		sp_fail_errno(err, errno, "pipe");
		goto out;
	}
	p = fork();
	if (p == 0) {
		close(go[1]);
		qemu_child(c, argv, go[0]);
	}
	if (p < 0) {
		sp_fail_errno(err, errno, "fork QEMU");
		goto out;
	}
	*pid = p;
	if (sp_cgroup_attach(cg, p, false, err) < 0 || write(go[1], "g", 1) != 1) {
		kill(p, SIGKILL);
		sp_err_wrap(err, "QEMU");
		goto out;
	}
	ret = 0;
out:
	for (int i = 0; i < 2; i++)
		if (go[i] >= 0)
			close(go[i]);
	sp_strv_free(argv);
	return ret;
}
