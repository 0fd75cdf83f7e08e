/* The command's confinement inside the guest: the same as a container
 * command's (DESIGN.md, "Confinement of a container instance"), so that a
 * guest kernel bug is fed by no more than a container's command can reach.
 *
 * The guest's kernel is a boundary of its own, but the surfaces a guest
 * kernel exploit needs (keyrings, io_uring, userfaultfd, bpf, new
 * namespaces, module autoloading through socket families) are the ones
 * the container's filter closes; and the agent itself (PID 1, the control
 * port, every mount) must not be reachable from the command.  So the
 * command runs:
 *   - in new pid, mount, ipc, uts, cgroup and network namespaces of the
 *     guest, in its own session: its own PID 1 (a reaper that forwards
 *     the host's signals, as the container's), its own /proc with the
 *     container's read-only and hidden paths, no /sys, a minimal /dev
 *     (no control port, no virtio devices, no console), loopback only
 *     (a VM has no network device yet);
 *   - with every capability set and the bounding set empty, as uid and
 *     gid of the plan, no_new_privs, not dumpable;
 *   - under Landlock limited to its view (the container's rules, from
 *     sandbox/landlock.c), where the guest's kernel has Landlock;
 *   - under the container's seccomp filter, which the host built with
 *     libseccomp and sent in the plan (the static agent has no
 *     libseccomp; one program for both engines).
 * No user namespace: the guest's initial user namespace is not the
 * host's, every capability is gone and the kernel makes no user namespace
 * (max_user_namespaces is 0 and the filter refuses CLONE_NEWUSER), so one
 * would add kernel surface and no boundary. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include "guest/agent.h"
#include "plan/plan.h"
#include "sandbox/caps.h"
#include "sandbox/landlock.h"

#define NS_FLAGS (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNET)

pid_t agent_clone_command(void)
{
	/* fork() with namespace flags: the child is PID 1 of the new pid
	 * namespace.  The agent is single-threaded, so a raw clone without
	 * glibc's fork handlers is safe. */
	return (pid_t)syscall(SYS_clone, (unsigned long)(NS_FLAGS | SIGCHLD), NULL, NULL, NULL, 0UL);
}

__attribute__((noreturn))
void agent_child_fail(int report, enum agent_step step, int err)
{
	struct agent_child_report r = { step, err };

	/* Smaller than PIPE_BUF: one write, whole or not at all; if even
	 * that fails, the agent sees a short report. */
	(void)!write(report, &r, sizeof r);
	_exit(127);
}

static void reset_signals(void)
{
	sigset_t none;

	for (size_t i = 0; i < agent_n_ignored_signals; i++)
		signal(agent_ignored_signals[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Every descriptor but 0, 1, 2 and the two given (sorted: A < B): the
 * port, the console and the agent's ends must not reach the command. */
static void close_fds_but(int a, int b)
{
	if (a > 3)
		close_range(3, (unsigned)a - 1, 0);
	if (b > a + 1)
		close_range((unsigned)a + 1, (unsigned)b - 1, 0);
	close_range((unsigned)b + 1, ~0u, 0);
}

/* ---- the view ---- */

static int mknod_dev(const char *name, unsigned maj, unsigned min)
{
	char path[32];

	snprintf(path, sizeof path, "/dev/%s", name);
	if (mknod(path, S_IFCHR | 0666, makedev(maj, min)) < 0)
		return -1;
	/* The umask took bits away. */
	return chmod(path, 0666);
}

/* A minimal /dev, as a container's: the harmless character devices, the
 * guest's devpts (where the command's pty lives), a private /dev/shm and
 * the plan's links.  The guest's own /dev (the control port, virtio and
 * console devices) stays behind, out of reach. */
static int make_dev(const struct sp_guest_plan *p)
{
	static const struct { const char *name; unsigned maj, min; } nodes[] = {
		{ "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
		{ "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
	};
	int pts = (int)syscall(SYS_open_tree, AT_FDCWD, "/dev/pts", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

	if (pts < 0)
		return -1;
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
		return -1;
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
		if (mknod_dev(nodes[i].name, nodes[i].maj, nodes[i].min) < 0)
			return -1;
	if (mkdir("/dev/pts", 0755) < 0 ||
	    syscall(SYS_move_mount, pts, "", AT_FDCWD, "/dev/pts", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -1;
	close(pts);
	if (symlink("pts/ptmx", "/dev/ptmx") < 0)
		return -1;
	for (size_t i = 0; i < p->n_links; i++)
		if (strncmp(p->links[i].path, "/dev/", 5) == 0 && symlink(p->links[i].target, p->links[i].path) < 0 &&
		    errno != EEXIST)
			return -1;
	if (mkdir("/dev/shm", 01777) < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		return -1;
	/* Read-only once made, as a container's /dev. */
	return mount(NULL, "/dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
}

/* The command's own /proc, with the container's read-only and hidden
 * paths (the plan's 'ro' and 'mask'); a path this kernel lacks is
 * skipped, as for a container. */
static int make_proc(const struct sp_guest_plan *p)
{
	struct stat st;

	if (umount2("/proc", MNT_DETACH) < 0 ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -1;
	for (size_t i = 0; p->ro[i]; i++) {
		if (lstat(p->ro[i], &st) < 0)
			continue;
		if (mount(p->ro[i], p->ro[i], NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, p->ro[i], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL) < 0)
			return -1;
	}
	for (size_t i = 0; p->mask[i]; i++) {
		if (lstat(p->mask[i], &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) ? mount("tmpfs", p->mask[i], "tmpfs",
						 MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0
					: mount("/dev/null", p->mask[i], NULL, MS_BIND, NULL) < 0)
			return -1;
	}
	return 0;
}

static int make_view(const struct sp_guest_plan *p)
{
	/* Nothing done here reaches the agent's mounts. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	/* No /sys, as in a container: the guest's devices and kernel
	 * settings are the agent's. */
	if (umount2("/sys", MNT_DETACH) < 0 && errno != EINVAL)
		return -1;
	if (make_dev(p) < 0)
		return -1;
	return make_proc(p);
}

/* The new network namespace has only loopback, down. */
static int loopback_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = -1;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return ret;
}

/* ---- privileges and filters ---- */

/* The container's Landlock rules (sandbox/landlock.c) over the guest's
 * view: read and execute beneath "/", write beneath the read-write shares
 * (the home, rw grants), the plan's tmpfs and /dev/shm. */
static int landlock(const struct sp_guest_plan *p, struct sp_err *err)
{
	struct sp_mount m[SP_PLAN_MAX_MOUNTS + SP_PLAN_MAX_TMPFS + 1];
	struct sp_plan lp = { .mounts = m };

	for (size_t i = 0; i < p->n_mounts; i++)
		if (!p->mounts[i].readonly)
			m[lp.n_mounts++] = (struct sp_mount){ .kind = SP_MNT_GRANT, .target = p->mounts[i].path };
	for (size_t i = 0; p->tmpfs[i]; i++)
		m[lp.n_mounts++] = (struct sp_mount){ .kind = SP_MNT_TMPFS, .target = p->tmpfs[i] };
	m[lp.n_mounts++] = (struct sp_mount){ .kind = SP_MNT_TMPFS, .target = (char *)"/dev/shm" };
	return sp_landlock_apply(&lp, err);
}

static int seccomp_load(const struct sp_guest_plan *p)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(p->seccomp_len / sizeof(struct sock_filter)),
		.filter = (struct sock_filter *)(void *)p->seccomp,
	};

	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* In the order that works, as sandbox/confine.c: the bounding set while
 * CAP_SETPCAP is there, the ids (which empty the permitted set), a check
 * that every set is empty, no_new_privs, not dumpable; then Landlock and
 * the filter, which refuses what the steps before needed. */
static void confine(const struct sp_guest_plan *p, int report)
{
	struct sp_err err = { 0 };

	if (sp_caps_drop_bounding(&err) < 0)
		agent_child_fail(report, STEP_CAPS, err.errnum);
	if (setgroups(0, NULL) < 0)
		agent_child_fail(report, STEP_GROUPS, errno);
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		agent_child_fail(report, STEP_GID, errno);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		agent_child_fail(report, STEP_UID, errno);
	if (sp_caps_clear(&err) < 0)
		agent_child_fail(report, STEP_CAPS, err.errnum ? err.errnum : EPERM);
	if (!SP_MUTATE_NNP && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		agent_child_fail(report, STEP_NNP, errno);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		agent_child_fail(report, STEP_NNP, errno);
	if (landlock(p, &err) < 0)
		agent_child_fail(report, STEP_LANDLOCK, err.errnum ? err.errnum : EPERM);
	if (!SP_MUTATE_SECCOMP && seccomp_load(p) < 0)
		agent_child_fail(report, STEP_SECCOMP, errno);
}

/* ---- the reaper ---- */

/* The signals the agent passes on from the host ('k'), which this PID 1
 * forwards to the command, as the container's reaper does. */
static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH };

__attribute__((noreturn))
static void exec_command(const struct sp_guest_plan *p, const struct agent_child_fds *fds)
{
	reset_signals();
	close(fds->status);
	/* Its own session, as in a container: the terminal is the
	 * command's, never this PID 1's. */
	if (setsid() < 0)
		agent_child_fail(fds->report, STEP_SETSID, errno);
	if (p->tty && ioctl(0, TIOCSCTTY, 0) < 0)
		agent_child_fail(fds->report, STEP_TTY, errno);
	if (chdir(p->cwd) < 0)
		agent_child_fail(fds->report, STEP_CHDIR, errno);
	execve(p->argv[0], p->argv, p->envp);
	agent_child_fail(fds->report, STEP_EXEC, errno);
}

void agent_command_main(const struct sp_guest_plan *p, const struct agent_child_fds *fds)
{
	struct signalfd_siginfo si;
	int status, sfd;
	sigset_t set;
	pid_t cmd, pid;

	reset_signals();
	if (setsid() < 0)
		agent_child_fail(fds->report, STEP_SETSID, errno);
	/* Owned by the command's user, as login would leave it. */
	if (p->tty && (fchown(fds->stdio[0], p->uid, p->gid) < 0 || fchmod(fds->stdio[0], 0620) < 0))
		agent_child_fail(fds->report, STEP_TTY, errno);
	for (int i = 0; i < 3; i++)
		if (dup2(fds->stdio[i], i) < 0)
			agent_child_fail(fds->report, STEP_STDIO, errno);
	close_fds_but(fds->report < fds->status ? fds->report : fds->status,
		      fds->report < fds->status ? fds->status : fds->report);
	if (make_view(p) < 0)
		agent_child_fail(fds->report, STEP_VIEW, errno);
	if (loopback_up() < 0)
		agent_child_fail(fds->report, STEP_NET, errno);
	confine(p, fds->report);

	/* Blocked before the fork, so that nothing is missed: a PID 1 of a
	 * namespace gets from outside only what it handles or blocks. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		agent_child_fail(fds->report, STEP_FORK, errno);
	cmd = fork();
	if (cmd < 0)
		agent_child_fail(fds->report, STEP_FORK, errno);
	if (cmd == 0) {
		close(sfd);
		exec_command(p, fds);
	}
	close(fds->report);
	/* Every orphan of the namespace is reaped here; when the command
	 * ends, its status goes to the agent and this PID 1 exits, which
	 * ends every process left in the namespace. */
	for (;;) {
		ssize_t n = read(sfd, &si, sizeof si);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof si)
			_exit(126);
		if (si.ssi_signo != SIGCHLD) {
			kill(cmd, (int)si.ssi_signo);
			continue;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid == cmd) {
				(void)!write(fds->status, &status, sizeof status);
				_exit(0);
			}
		}
	}
}
