#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
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

/* In the janitor: what the engine sends on descriptor 3, until "d" or
 * the engine's end (0).  A descriptor sent to hold is kept in J->fd (the
 * janitor's copy, where it was -1: the engine's end is not the
 * janitor's). */
static char janitor_wait(struct sp_janitor *j)
{
	for (;;) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} ctl;
		char c = 0;
		struct iovec iov = { &c, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				    .msg_controllen = sizeof ctl.buf };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(3, &m, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		cm = CMSG_FIRSTHDR(&m);
		if (c == 'h' && cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
			if (j->fd >= 0)
				close(j->fd);
			memcpy(&j->fd, CMSG_DATA(cm), sizeof(int));
			continue;
		}
		if (c == 'd')
			return 'd';
	}
}

int sp_janitor_hold(struct sp_janitor *j, int fd, struct sp_err *err)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	char c = 'h';
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = sizeof ctl.buf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	if (j->pid <= 0 || j->fd < 0)
		return 0;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(j->fd, &m, MSG_NOSIGNAL) != 1)
		return sp_fail_errno(err, errno, "hand a descriptor to the janitor");
	return 0;
}

int sp_janitor_held(const struct sp_janitor *j)
{
	return j->pid == 0 ? j->fd : -1;
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
	/* Datagrams: "d" (done), or "h" with a descriptor to hold. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0)
		return sp_fail_errno(err, errno, "janitor socket");
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
		c = janitor_wait(j);
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
		(void)!send(j->fd, "d", 1, MSG_NOSIGNAL);
		close(j->fd);
		j->fd = -1;
	}
	if (j->pid > 0)
		while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
			;
	j->pid = -1;
}
