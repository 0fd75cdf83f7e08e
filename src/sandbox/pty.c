#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/pty.h"

void sp_pty_detect(struct sp_pty_host *p)
{
	p->term_fd = -1;
	p->master = -1;
	p->watch = -1;
	p->raw = false;
	for (int i = 0; i < 3; i++) {
		p->tty[i] = isatty(i);
		if (p->tty[i] && p->term_fd < 0)
			p->term_fd = i;
	}
}

void sp_pty_resize(struct sp_pty_host *p)
{
	struct winsize ws;

	if (p->master >= 0 && p->term_fd >= 0 && ioctl(p->term_fd, TIOCGWINSZ, &ws) == 0)
		ioctl(p->master, TIOCSWINSZ, &ws);
}

/* The watcher: a process of its own (not the engine's child) that holds
 * the terminal's saved modes and puts them back if the engine dies
 * without doing so (SIGKILL, the OOM killer): else the admin's terminal
 * stays raw, without echo, after `kill -9` of `spectrum exec`.  It waits
 * on a pipe whose only writer is the engine: a byte means "restored, go",
 * the end of file means the engine is gone. */
static noreturn void watcher_main(const struct termios *saved, int rd)
{
	char c;
	ssize_t n;

	prctl(PR_SET_NAME, "spectrum-tty", 0, 0, 0);
	/* By then the shell may have the terminal back: a background
	 * process may still set its modes when it ignores SIGTTOU. */
	signal(SIGTTOU, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	/* Nothing of the engine's but the terminal: a caller reading its
	 * stdout or stderr must see them close with it. */
	if (dup2(rd, 3) < 0)
		_exit(1);
	close(1);
	close(2);
	syscall(SYS_close_range, 4, ~0U, 0);
	do
		n = read(3, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		tcsetattr(0, TCSANOW, saved);
	_exit(0);
}

int sp_pty_watch_start(const struct termios *saved, int *watch, struct sp_err *err)
{
	int fds[2], st = 0;
	bool ok = false;
	pid_t mid, w;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return sp_fail_errno(err, errno, "pipe for the terminal's watcher");
	/* Forked twice, so that the engine's waitpid(-1) never sees it. */
	mid = fork();
	if (mid == 0) {
		pid_t g;

		close(fds[1]);
		g = fork();
		if (g == 0)
			watcher_main(saved, fds[0]);
		_exit(g < 0 ? 1 : 0);
	}
	close(fds[0]);
	if (mid < 0) {
		close(fds[1]);
		return sp_fail_errno(err, errno, "fork the terminal's watcher");
	}
	{
		do
			w = waitpid(mid, &st, 0);
		while (w < 0 && errno == EINTR);
		/* ECHILD: whoever started us ignores SIGCHLD, and the kernel
		 * reaped it already. */
		ok = w == mid ? WIFEXITED(st) && WEXITSTATUS(st) == 0 : errno == ECHILD;
	}
	if (!ok) {
		close(fds[1]);
		return sp_fail(err, SP_ERR_RUNTIME, "start the terminal's watcher");
	}
	*watch = fds[1];
	return 0;
}

void sp_pty_watch_done(int *watch)
{
	if (*watch < 0)
		return;
	/* Restored: the watcher may go without touching it. */
	if (write(*watch, "r", 1) < 0) {
		/* it is gone already; nothing more to tell it */
	}
	close(*watch);
	*watch = -1;
}

int sp_pty_attach(struct sp_pty_host *p, int master, struct sp_err *err)
{
	struct termios t;

	p->master = master;
	if (fcntl(master, F_SETFL, O_NONBLOCK) < 0)
		return sp_fail_errno(err, errno, "pty");
	if (tcgetattr(p->term_fd, &t) == 0)
		tcsetattr(master, TCSANOW, &t);
	sp_pty_resize(p);
	if (!p->tty[0])
		return 0;
	if (tcgetattr(0, &p->saved) < 0)
		return sp_fail_errno(err, errno, "read terminal modes");
	t = p->saved;
	cfmakeraw(&t);
	if (sp_pty_watch_start(&p->saved, &p->watch, err) < 0)
		return -1;
	if (tcsetattr(0, TCSANOW, &t) < 0)
		return sp_fail_errno(err, errno, "set terminal to raw mode");
	p->raw = true;
	return 0;
}

int sp_pty_pump(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof buf);

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 1; /* the reader went away; keep draining */
		off += w;
	}
	return 1;
}

void sp_pty_restore(struct sp_pty_host *p)
{
	if (p->raw)
		tcsetattr(0, TCSADRAIN, &p->saved);
	p->raw = false;
	sp_pty_watch_done(&p->watch);
	if (p->master >= 0)
		close(p->master);
	p->master = -1;
}

int sp_pty_open_host(int *master, int *slave, struct sp_err *err)
{
	int m, s;

	m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return sp_fail_errno(err, errno, "open /dev/ptmx");
	/* TIOCGPTPEER opens the slave through the master's own devpts, with
	 * no lookup of a /dev/pts/N that could be swapped meanwhile. */
	s = unlockpt(m) < 0 ? -1 : ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		int e = errno;
		close(m);
		return sp_fail_errno(err, e, "set up the pty");
	}
	/* Owned by the caller (host root), 0600, whatever the host's devpts
	 * options: no uid of an instance may open it again, not even
	 * through /proc/PID/fd/N of the process that holds it. */
	if (fchown(s, geteuid(), getegid()) < 0 || fchmod(s, 0600) < 0) {
		int e = errno;
		close(m);
		close(s);
		return sp_fail_errno(err, e, "set the pty's owner and mode");
	}
	*master = m;
	*slave = s;
	return 0;
}
