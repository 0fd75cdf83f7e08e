#include <fcntl.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "sandbox/runtime.h"

static const int relayed_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

int sp_relay_signals_block(sigset_t *old)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGWINCH);
	for (size_t i = 0; i < sizeof relayed_signals / sizeof relayed_signals[0]; i++)
		sigaddset(&mask, relayed_signals[i]);
	sigprocmask(SIG_BLOCK, &mask, old);
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

void sp_runtime_announce(const char *pidfile, pid_t pid, bool *written, int *notify_fd)
{
	char tmp[4400], text[32];
	int fd, len;

	if (pidfile) {
		/* A reader sees the old file or the whole new one. */
		snprintf(tmp, sizeof tmp, "%s.new-%d", pidfile, (int)getpid());
		len = snprintf(text, sizeof text, "%d\n", (int)pid);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd >= 0) {
			if (write(fd, text, (size_t)len) == len && rename(tmp, pidfile) == 0)
				*written = true;
			else
				unlink(tmp);
			close(fd);
		}
	}
	if (*notify_fd >= 0) {
		(void)!write(*notify_fd, "\n", 1);
		close(*notify_fd);
		*notify_fd = -1;
	}
}
