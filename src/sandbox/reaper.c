#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/reaper.h"
#include "sandbox/report.h"

extern char **environ;

/* The signals a user or supervisor sends to stop or poke an instance;
 * PID 1 passes them on to the command. */
static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH };

static noreturn void exec_command(const struct sp_plan *plan, int report, int slave,
				  const bool tty[3], int exec_pipe)
{
	sigset_t none;
	int e;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	close(report);
	setsid();
	if (slave >= 0) {
		ioctl(slave, TIOCSCTTY, 0);
		for (int i = 0; i < 3; i++)
			if (tty[i])
				dup2(slave, i);
		if (slave > 2)
			close(slave);
	}
	if (chdir(plan->cwd) < 0 && chdir("/") < 0)
		_exit(126);
	environ = plan->envp;
	execvp(plan->argv[0], plan->argv);
	e = errno;
	while (write(exec_pipe, &e, sizeof e) < 0 && errno == EINTR)
		;
	_exit(e == ENOENT ? 127 : 126);
}

/* Tells the engine whether execve worked: the pipe is close-on-exec, so
 * end of file means it did, and an errno means it did not. */
static void report_start(const struct sp_plan *plan, int report, int exec_pipe)
{
	char text[512];
	ssize_t n;
	int e;

	do
		n = read(exec_pipe, &e, sizeof e);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof e) {
		snprintf(text, sizeof text, "cannot execute %s: %s", plan->argv[0], strerror(e));
		sp_report_text(report, SP_REPORT_MESSAGE, text);
	} else {
		sp_report_send(report, SP_REPORT_STARTED, NULL, 0, -1);
	}
}

noreturn void sp_reaper_main(const struct sp_plan *plan, int report, int slave, const bool tty[3])
{
	struct signalfd_siginfo si;
	int ep[2], status = 0, sfd;
	bool done = false;
	sigset_t set;
	pid_t cmd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&set, forwarded[i]);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		sp_report_text(report, SP_REPORT_ERROR, "reaper: signalfd or pipe failed");
		_exit(1);
	}
	cmd = fork();
	if (cmd < 0) {
		sp_report_text(report, SP_REPORT_ERROR, "reaper: cannot fork the command");
		_exit(1);
	}
	if (cmd == 0) {
		close(ep[0]);
		exec_command(plan, report, slave, tty, ep[1]);
	}
	close(ep[1]);
	if (slave >= 0)
		close(slave);
	report_start(plan, report, ep[0]);
	close(ep[0]);

	while (!done) {
		ssize_t n = read(sfd, &si, sizeof si);
		if (n != (ssize_t)sizeof si) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		if (si.ssi_signo != SIGCHLD) {
			kill(cmd, (int)si.ssi_signo);
			continue;
		}
		for (;;) {
			int st;
			pid_t p = waitpid(-1, &st, WNOHANG);
			if (p <= 0)
				break;
			if (p == cmd) {
				status = st;
				done = true;
			}
		}
	}
	/* The instance lives as long as its command: whatever it left
	 * behind goes with it. */
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	sp_report_send(report, SP_REPORT_EXIT, &status, sizeof status, -1);
	_exit(0);
}
