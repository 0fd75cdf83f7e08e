/* The s6-svscan of a run directory: found by its control fifo, started on
 * demand (detached, in a session of its own, with a clean environment),
 * stopped on request.  On a host whose init runs
 * `s6-svscan RUN/s6/scan` itself, nothing here starts anything. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervise/supervise.h"
#include "util/cleanup.h"
#include "util/strv.h"

#define READY_TIMEOUT_MS 5000

bool sp_sv_scan_running(const struct sp_sv *sv)
{
	cleanup_free char *fifo = sp_printf("%s/.s6-svscan/control", sv->scan);
	int fd;

	if (!fifo)
		return false;
	/* A writer opens a fifo without blocking only when a reader has it
	 * open: s6-svscan keeps its control fifo open while it runs. */
	fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

bool sp_sv_active(const struct sp_sv *sv)
{
	return sp_sv_scan_running(sv);
}

static int mkdir_one(const char *path, struct sp_err *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "create %s", path);
	return 0;
}

/* The grandchild: s6-svscan, owned by nobody of ours. */
__attribute__((noreturn))
static void exec_svscan(const struct sp_sv *sv, int notify)
{
	static char *const env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	cleanup_free char *logfile = sp_printf("%s/svscan.log", sv->base);
	char *argv[] = { "s6-svscan", "-d", "3", sv->scan, NULL };
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int log = logfile ? open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (chdir("/") < 0)
		_exit(111);
	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(log >= 0 ? log : devnull, 1);
	dup2(log >= 0 ? log : devnull, 2);
	if (notify != 3) {
		dup2(notify, 3);
		close(notify);
	} else {
		fcntl(3, F_SETFD, 0);
	}
	syscall(SYS_close_range, 4, ~0U, 0);
	execvpe(argv[0], argv, env);
	dprintf(2, "spectrum: exec s6-svscan: %s\n", strerror(errno));
	_exit(127);
}

/* Forks twice so that s6-svscan is no child of ours, and waits for its
 * readiness (a line on the pipe) or its end (EOF). */
static int launch(const struct sp_sv *sv, struct sp_err *err)
{
	int p[2], status;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return sp_fail_errno(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return sp_fail_errno(err, errno, "fork");
	}
	if (pid == 0) {
		close(p[0]);
		if (setsid() < 0)
			_exit(111);
		pid = fork();
		if (pid < 0)
			_exit(111);
		if (pid == 0)
			exec_svscan(sv, p[1]);
		_exit(0);
	}
	close(p[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (int waited = 0; waited < READY_TIMEOUT_MS; waited += 100) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		int r = poll(&pf, 1, 100);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0) {
			(void)!read(p[0], &c, 1);
			break;
		}
	}
	close(p[0]);
	return 0;
}

int sp_sv_scan_ensure(const struct sp_sv *sv, struct sp_err *err)
{
	cleanup_free char *lockfile = sp_printf("%s/lock", sv->base);
	cleanup_fd int lock = -1;

	if (!lockfile)
		return sp_fail_errno(err, ENOMEM, "s6-svscan");
	if (sp_sv_scan_running(sv))
		return 0;
	if (mkdir_one(sv->run_dir, err) < 0 || mkdir_one(sv->base, err) < 0 || mkdir_one(sv->scan, err) < 0 ||
	    mkdir_one(sv->services, err) < 0)
		return -1;
	lock = open(lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0)
		return sp_fail_errno(err, errno, "open %s", lockfile);
	while (flock(lock, LOCK_EX) < 0)
		if (errno != EINTR)
			return sp_fail_errno(err, errno, "lock %s", lockfile);
	/* Another start may have made it while we waited for the lock. */
	if (sp_sv_scan_running(sv))
		return 0;
	if (launch(sv, err) < 0)
		return -1;
	if (!sp_sv_scan_running(sv))
		return sp_fail(err, SP_ERR_RUNTIME, "s6-svscan %s did not start (see %s/svscan.log)", sv->scan,
			       sv->base);
	return 0;
}

int sp_sv_scan_stop(const struct sp_sv *sv, struct sp_err *err)
{
	char *argv[] = { "s6-svscanctl", "-t", sv->scan, NULL };
	char line[256];
	int r;

	if (!sp_sv_scan_running(sv))
		return 0;
	r = sp_sv_call(argv, NULL, line, sizeof line, err);
	if (r < 0)
		return -1;
	if (r != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "s6-svscanctl -t %s: %s", sv->scan, line[0] ? line : "failed");
	return 0;
}
