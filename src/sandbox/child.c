#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/child.h"
#include "sandbox/confine.h"
#include "sandbox/pty.h"
#include "sandbox/reaper.h"
#include "sandbox/report.h"
#include "util/proctitle.h"

/* The descriptors PID 1 keeps, moved to fixed numbers so that everything
 * else can be closed in one call. */
#define FD_REPORT 3
#define FD_SLAVE 4

static int loopback_up(struct sp_err *err)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = 0;

	if (s < 0)
		return sp_fail_errno(err, errno, "socket");
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		r = sp_fail_errno(err, errno, "read loopback flags");
	} else {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			r = sp_fail_errno(err, errno, "bring loopback up");
	}
	close(s);
	return r;
}

/* No core dumps: a crash inside must not start the host's core handler
 * (core_pattern may be a pipe to a program run as root). */
static int limit_core(struct sp_err *err)
{
	struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) < 0)
		return sp_fail_errno(err, errno, "RLIMIT_CORE");
	return 0;
}

/* Replaces, in PID 1 itself, the stdio descriptors the instance must not
 * hold: the host's terminal (only the command gets the pty), and a host
 * directory (`run ... < /some/dir`), from which openat() would reach the
 * host's tree where Landlock is missing. */
static int sanitize_stdio(const struct sp_child_args *a, struct sp_err *err)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct stat st;

	if (devnull < 0)
		return sp_fail_errno(err, errno, "open /dev/null");
	for (int i = 0; i < 3; i++) {
		bool dir = !a->tty[i] && fstat(i, &st) == 0 && S_ISDIR(st.st_mode);
		if ((a->tty[i] || dir) && dup2(devnull, i) < 0)
			return sp_fail_errno(err, errno, "dup2");
	}
	close(devnull);
	return 0;
}

static int setup(const struct sp_child_args *a, int *slave, struct sp_err *err)
{
	const struct sp_plan *plan = a->plan;
	char c;

	/* Root of the new user namespace: the ids the engine mapped. */
	if (sp_become(0, 0, err) < 0)
		return -1;
	/* The engine cloned us with SECBIT_NO_SETUID_FIXUP set: clear it,
	 * so that the switch to the user empties the capability sets. */
	if (prctl(PR_SET_SECUREBITS, 0, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "securebits");
	if (limit_core(err) < 0)
		return -1;
	sp_proctitle_set("spectrum-init");
	prctl(PR_SET_NAME, "spectrum-init", 0, 0, 0);
	if (sp_mounts_setup(plan, a->prepared, err) < 0)
		return -1;
	if (sethostname(plan->hostname, strlen(plan->hostname)) < 0)
		return sp_fail_errno(err, errno, "sethostname");
	if (loopback_up(err) < 0)
		return -1;
	/* The engine made the pty on the host side (pty.h): PID 1 only
	 * passes its slave on to the command. */
	*slave = a->pty_slave;
	if (sanitize_stdio(a, err) < 0)
		return -1;

	/* In every cgroup before the command exists: it inherits them.  The
	 * cgroup namespace is made only then, so that its root is the
	 * instance's cgroup in every hierarchy, the v1 ones the engine
	 * joined us to meanwhile included: inside, /proc/self/cgroup reads
	 * "/" on every line (made earlier, a v1 line showed the host's
	 * path, /spectrum/NAME). */
	if (read(a->go, &c, 1) != 1 || c != 'a')
		return sp_fail(err, SP_ERR_RUNTIME, "the engine did not place the instance in its cgroups");
	if (unshare(CLONE_NEWCGROUP & ~SP_MUTATE_NS_DROP) < 0)
		return sp_fail_errno(err, errno, "new cgroup namespace");
	/* Last, once the mounts no longer need descriptors. */
	if (sp_confine_files(plan, err) < 0)
		return -1;

	/* PID 1 stays not dumpable: not even the instance's own processes
	 * may ptrace it, and it holds the channel to the engine. */
	if (sp_confine_privileges(plan, err) < 0)
		return -1;
	return sp_confine_filters(plan, err);
}

noreturn void sp_child_main(const struct sp_child_args *a)
{
	struct sp_err err = { 0 };
	int slave = -1;
	char c;

	/* The instance must not outlive the engine: if it dies, the kernel
	 * kills PID 1 and with it the whole pid namespace. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(1);
	/* Dispositions survive fork and exec: a signal the caller of
	 * spectrum ignored (a shell's background job ignores SIGINT) must
	 * not stay ignored inside. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	if (read(a->go, &c, 1) != 1 || c != 'g')
		_exit(1);
	if (setup(a, &slave, &err) < 0) {
		sp_report_text(a->report, SP_REPORT_ERROR, err.msg);
		_exit(1);
	}
	close(a->go);
	/* Move the two descriptors PID 1 keeps out of the way first, so
	 * that placing them at 3 and 4 cannot clobber one another: just
	 * above 4, as RLIMIT_NOFILE is already the instance's (it may be
	 * as low as 64, and F_DUPFD fails with EINVAL at or above it). */
	int rep = fcntl(a->report, F_DUPFD_CLOEXEC, FD_SLAVE + 1);
	int sl = slave >= 0 ? fcntl(slave, F_DUPFD_CLOEXEC, FD_SLAVE + 1) : -1;
	if (rep < 0 || (slave >= 0 && sl < 0) || dup3(rep, FD_REPORT, O_CLOEXEC) < 0 ||
	    (sl >= 0 && dup3(sl, FD_SLAVE, O_CLOEXEC) < 0)) {
		sp_fail_errno(&err, errno, "move descriptors");
		sp_report_text(a->report, SP_REPORT_ERROR, err.msg);
		_exit(1);
	}
	/* Nothing the engine had open (mount descriptors, the signalfd,
	 * whatever the caller of spectrum left open) reaches the command. */
	syscall(SYS_close_range, sl >= 0 ? FD_SLAVE + 1 : FD_REPORT + 1, ~0U, 0);
	sp_reaper_main(a->plan, FD_REPORT, slave >= 0 ? FD_SLAVE : -1, a->tty);
}
