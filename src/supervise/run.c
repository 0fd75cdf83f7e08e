/* Running s6 programs: fork and exec, never a shell, stdout captured and
 * the first line of stderr kept for the one-line error. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervise/supervise.h"

#define OUT_MAX (1u << 20)

static void child(char *const argv[], int out, int errfd)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(out >= 0 ? out : devnull, 1);
	dup2(errfd, 2);
	syscall(SYS_close_range, 3, ~0U, 0);
	execvp(argv[0], argv);
	dprintf(2, "%s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void keep_first_line(const char *text, size_t len, char *line, size_t size)
{
	size_t n = 0;

	while (n < len && text[n] != '\n')
		n++;
	if (line && size)
		snprintf(line, size, "%.*s", (int)n, text);
}

int sp_sv_call(char *const argv[], char **out, char *err_line, size_t err_size, struct sp_err *err)
{
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, status = 0, ret = -1;
	char *obuf = NULL, ebuf[1024];
	size_t olen = 0, elen = 0;
	pid_t pid;

	if (err_line && err_size)
		err_line[0] = '\0';
	if ((out && pipe2(po, O_CLOEXEC) < 0) || pipe2(pe, O_CLOEXEC) < 0) {
		sp_fail_errno(err, errno, "pipe");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		sp_fail_errno(err, errno, "fork %s", argv[0]);
		goto out;
	}
	if (pid == 0)
		child(argv, po[1], pe[1]);
	if (po[1] >= 0)
		close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	for (;;) {
		struct pollfd pf[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
		char chunk[4096];
		ssize_t r;

		if (pf[0].fd < 0 && pf[1].fd < 0)
			break;
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].fd >= 0 && pf[0].revents) {
			r = read(po[0], chunk, sizeof chunk);
			if (r > 0 && olen + (size_t)r < OUT_MAX) {
				char *n = realloc(obuf, olen + (size_t)r + 1);
				if (n) {
					obuf = n;
					memcpy(obuf + olen, chunk, (size_t)r);
					olen += (size_t)r;
					obuf[olen] = '\0';
				}
			} else if (r <= 0 && !(r < 0 && errno == EINTR)) {
				close(po[0]);
				po[0] = -1;
			}
		}
		if (pf[1].fd >= 0 && pf[1].revents) {
			r = read(pe[0], chunk, sizeof chunk);
			if (r > 0) {
				size_t take = (size_t)r < sizeof ebuf - elen ? (size_t)r : sizeof ebuf - elen;
				memcpy(ebuf + elen, chunk, take);
				elen += take;
			} else if (!(r < 0 && errno == EINTR)) {
				close(pe[0]);
				pe[0] = -1;
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			sp_fail_errno(err, errno, "wait for %s", argv[0]);
			goto out;
		}
	}
	keep_first_line(ebuf, elen, err_line, err_size);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		sp_fail(err, SP_ERR_RUNTIME, "%s: cannot run it (is s6 installed?)", argv[0]);
		goto out;
	}
	if (out) {
		*out = obuf ? obuf : strdup("");
		obuf = NULL;
		if (!*out) {
			sp_fail_errno(err, ENOMEM, "%s", argv[0]);
			goto out;
		}
	}
	ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	free(obuf);
	return ret;
}
