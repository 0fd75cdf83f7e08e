#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sandbox/pty.h"

void sp_pty_detect(struct sp_pty_host *p)
{
	p->term_fd = -1;
	p->master = -1;
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
	if (p->master >= 0)
		close(p->master);
	p->master = -1;
}

int sp_pty_create(uid_t uid, gid_t gid, int *master, int *slave, struct sp_err *err)
{
	char name[64];
	int m, s;

	m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return sp_fail_errno(err, errno, "open /dev/pts/ptmx");
	if (unlockpt(m) < 0 || ptsname_r(m, name, sizeof name) != 0) {
		int e = errno;
		close(m);
		return sp_fail_errno(err, e, "set up the pty");
	}
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0 || fchown(s, uid, gid) < 0) {
		int e = errno;
		close(m);
		if (s >= 0)
			close(s);
		return sp_fail_errno(err, e, "open %s", name);
	}
	*master = m;
	*slave = s;
	return 0;
}
