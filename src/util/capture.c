/* Runs a helper program (nix-store, nix-instantiate) and collects its
 * output.  Its stderr goes to a pipe too, so that a failure can be
 * reported in the caller's single line instead of spilling onto the
 * terminal. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/err.h"
#include "util/strv.h"

#define CAPTURE_MAX (64u << 20)

struct buf {
	char *data;
	size_t len;
};

static int buf_read(int fd, struct buf *b)
{
	char chunk[65536];
	ssize_t r = read(fd, chunk, sizeof chunk);
	char *n;

	if (r <= 0)
		return (int)r;
	if (b->len + (size_t)r > CAPTURE_MAX)
		return -1;
	n = realloc(b->data, b->len + (size_t)r + 1);
	if (!n)
		return -1;
	memcpy(n + b->len, chunk, (size_t)r);
	b->data = n;
	b->len += (size_t)r;
	b->data[b->len] = '\0';
	return 1;
}

/* The first line of Nix's stderr that says something ("error: ..."). */
static void first_line(const char *text, char *line, size_t size)
{
	const char *p = text, *e;

	if (!text) {
		line[0] = '\0';
		return;
	}
	const char *errp = strstr(text, "error:");
	if (errp)
		p = errp;
	while (*p == ' ' || *p == '\n')
		p++;
	e = strchr(p, '\n');
	snprintf(line, size, "%.*s", (int)(e ? (size_t)(e - p) : strlen(p)), p);
}

int sp_capture(char *const argv[], const char *env_extra, char **out, struct sp_err *err)
{
	struct buf o = { 0 }, e = { 0 };
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	int status, ret = -1;
	pid_t pid;

	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		sp_fail_errno(err, errno, "pipe");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		sp_fail_errno(err, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		if (env_extra)
			putenv((char *)env_extra);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	{
		struct pollfd pf[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
		int open_fds = 2;
		while (open_fds > 0) {
			if (poll(pf, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			for (int i = 0; i < 2; i++) {
				if (pf[i].fd < 0 || !pf[i].revents)
					continue;
				int r = buf_read(pf[i].fd, i == 0 ? &o : &e);
				if (r < 0)
					kill(pid, SIGKILL); /* too much output: do not wait on its writes */
				if (r <= 0) {
					pf[i].fd = -1;
					open_fds--;
				}
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !e.data) {
		sp_fail(err, SP_ERR_RUNTIME, "%s: not found (is it installed?)", argv[0]);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char line[700];
		first_line(e.data, line, sizeof line);
		sp_fail(err, SP_ERR_RUNTIME, "%s failed: %s", argv[0], line[0] ? line : "no message");
		goto out;
	}
	*out = o.data ? o.data : strdup("");
	o.data = NULL;
	ret = *out ? 0 : sp_fail_errno(err, ENOMEM, "%s", argv[0]);
out:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	free(o.data);
	free(e.data);
	return ret;
}
