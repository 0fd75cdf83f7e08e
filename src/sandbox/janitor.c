#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/cgroup.h"
#include "sandbox/idrange.h"
#include "sandbox/janitor.h"
#include "util/rmtree.h"

int sp_janitor_lock(const char *name, int *fd, struct sp_err *err)
{
	char path[512];

	*fd = -1;
	if (mkdir(SP_ID_LOCK_DIR, 0700) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "create %s", SP_ID_LOCK_DIR);
	snprintf(path, sizeof path, SP_ID_LOCK_DIR "/instance-%s.lock", name);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0)
		return sp_fail_errno(err, errno, "open %s", path);
	for (int i = 0; i < 200; i++) {
		if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		usleep(50 * 1000);
	}
	close(*fd);
	*fd = -1;
	return sp_fail(err, SP_ERR_RUNTIME, "the cleanup after the previous run of %s did not end within 10 s", name);
}

int sp_janitor_start(const char *name, struct sp_janitor *j, struct sp_err *err)
{
	return sp_janitor_start_with(name, NULL, -1, j, err);
}

int sp_janitor_start_with(const char *name, const char *const *remove, int lock_fd, struct sp_janitor *j,
			  struct sp_err *err)
{
	return sp_janitor_start_hook(name, remove, lock_fd, NULL, j, err);
}

int sp_janitor_start_hook(const char *name, const char *const *remove, int lock_fd,
			  const struct sp_janitor_hook *hook, struct sp_janitor *j, struct sp_err *err)
{
	int p[2];
	char c = 0;

	j->pid = -1;
	j->fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return sp_fail_errno(err, errno, "janitor pipe");
	j->pid = fork();
	if (j->pid < 0) {
		close(p[0]);
		close(p[1]);
		return sp_fail_errno(err, errno, "fork janitor");
	}
	if (j->pid == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		sigset_t none;

		/* Nothing of the engine's: not its terminal or pipes (a
		 * caller reading our stdout must see it close), not its
		 * signals (a ^C to the engine must not stop the cleanup). */
		setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		/* The instance's lock, held until the cleanup is done
		 * (moved up first: the dup2 to 3 must not close it). */
		int lk = lock_fd >= 0 ? fcntl(lock_fd, F_DUPFD, 10) : -1;
		if (p[0] != 3) {
			dup2(p[0], 3);
		}
		if (lk >= 0)
			dup2(lk, 4);
		syscall(SYS_close_range, lk >= 0 ? 5 : 4, ~0U, 0);
		while (read(3, &c, 1) < 0 && errno == EINTR)
			;
		if (c != 'd') {
			sp_cgroup_cleanup_name(name);
			for (size_t i = 0; remove && remove[i]; i++)
				sp_rmtree(AT_FDCWD, remove[i]);
			if (hook && hook->fn)
				hook->fn(hook->arg);
		}
		_exit(0);
	}
	close(p[0]);
	j->fd = p[1];
	return 0;
}

void sp_janitor_dismiss(struct sp_janitor *j)
{
	if (j->fd >= 0) {
		(void)!write(j->fd, "d", 1);
		close(j->fd);
		j->fd = -1;
	}
	if (j->pid > 0)
		while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
			;
	j->pid = -1;
}
