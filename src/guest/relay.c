/* The command: started as the plan says (a pty or three pipes; its
 * namespaces and confinement are command.c's), then relayed until it
 * ends: frames from the host become its input, signals and window
 * sizes; its output becomes frames.  When it ends every other process
 * is killed (the instance ends with its command), the output is
 * drained, and 'x' goes out last, so the host has all the output when
 * it reads the status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "guest/agent.h"

#define CHUNK (64 * 1024)
/* Stdin the command has not read yet; past this the port is not read,
 * which holds the host back. */
#define PENDING_MAX (1024 * 1024)
/* After the command: how long the others may take to die and close the
 * output (a process stuck in the kernel must not keep the VM up). */
#define DRAIN_MS 10000

struct relay {
	struct agent *a;
	pid_t pid;      /* the command's PID 1 (command.c), which forwards 'k' signals to it */
	bool done;      /* it has ended, with STATUS */
	int status;
	int status_fd;  /* the command's wait status, from its namespace's PID 1 (command.c) */
	int sigfd;      /* SIGCHLD */
	bool tty;
	int master;     /* tty: the pty's master, its input and output */
	int in;         /* no tty: the stdin pipe's write end, -1 once closed */
	int out, err;   /* no tty: the read ends, -1 at end of file */
	bool stdin_eof; /* the host sent an empty 'i' */
	bool killed;    /* the host is gone or spoke nonsense: SIGKILL sent */
	uint8_t *pending;
	size_t pending_len, pending_cap;
	uint8_t *chunk; /* CHUNK bytes of output on their way */
};

/* ---- starting the command ---- */

static const char *const step_names[] = {
	[STEP_SETSID] = "setsid", [STEP_TTY] = "controlling terminal", [STEP_STDIO] = "stdio",
	[STEP_VIEW] = "the command's /dev, /proc and /sys", [STEP_NET] = "loopback",
	[STEP_CAPS] = "capabilities", [STEP_GROUPS] = "setgroups", [STEP_GID] = "setresgid",
	[STEP_UID] = "setresuid", [STEP_NNP] = "no_new_privs", [STEP_LANDLOCK] = "Landlock",
	[STEP_SECCOMP] = "seccomp", [STEP_FORK] = "fork", [STEP_CHDIR] = "chdir", [STEP_EXEC] = "exec",
};

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* The pty: the master stays with the agent (non-blocking), the slave is
 * opened here rather than in the child so that the master never sees a
 * slave that is not open yet as hung up. */
static void open_pty(struct relay *r, struct agent_child_fds *fds)
{
	char name[64];
	int slave;

	r->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (r->master < 0 || grantpt(r->master) < 0 || unlockpt(r->master) < 0 ||
	    ptsname_r(r->master, name, sizeof name) != 0 || set_nonblock(r->master) < 0)
		agent_fail(r->a, "cannot run %s: pty: %s", r->a->plan.argv[0], strerror(errno));
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		agent_fail(r->a, "cannot run %s: open %s: %s", r->a->plan.argv[0], name, strerror(errno));
	fds->stdio[0] = fds->stdio[1] = fds->stdio[2] = slave;
}

static void open_pipes(struct relay *r, struct agent_child_fds *fds)
{
	int p[3][2];

	for (int i = 0; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0)
			agent_fail(r->a, "cannot run %s: pipe: %s", r->a->plan.argv[0], strerror(errno));
	fds->stdio[0] = p[0][0];
	r->in = p[0][1];
	r->out = p[1][0];
	fds->stdio[1] = p[1][1];
	r->err = p[2][0];
	fds->stdio[2] = p[2][1];
	/* Only the agent's ends: the command gets ordinary blocking pipes. */
	if (set_nonblock(r->in) < 0 || set_nonblock(r->out) < 0 || set_nonblock(r->err) < 0)
		agent_fail(r->a, "cannot run %s: pipe: %s", r->a->plan.argv[0], strerror(errno));
}

/* Reads the child's report pipe to its end: nothing means the exec
 * worked (the pipe closed on exec); a report means it did not. */
static void await_exec(struct relay *r, int report)
{
	struct agent_child_report rep;
	ssize_t n;

	do
		n = read(report, &rep, sizeof rep);
	while (n < 0 && errno == EINTR);
	close(report);
	if (n == 0)
		return;
	if (n != (ssize_t)sizeof rep)
		agent_fail(r->a, "cannot run %s: lost track of the child", r->a->plan.argv[0]);
	if (rep.step == STEP_EXEC)
		agent_fail(r->a, "cannot run %s: %s", r->a->plan.argv[0], strerror(rep.err));
	if (rep.step == STEP_CHDIR)
		agent_fail(r->a, "cannot run %s: chdir %s: %s", r->a->plan.argv[0], r->a->plan.cwd,
			   strerror(rep.err));
	agent_fail(r->a, "cannot run %s: %s: %s", r->a->plan.argv[0],
		   rep.step >= 0 && rep.step < STEP_N ? step_names[rep.step] : "?", strerror(rep.err));
}

static void start(struct relay *r)
{
	struct agent_child_fds fds;
	int report[2], status[2];

	if (r->tty)
		open_pty(r, &fds);
	else
		open_pipes(r, &fds);
	if (pipe2(report, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC | O_NONBLOCK) < 0)
		agent_fail(r->a, "cannot run %s: pipe: %s", r->a->plan.argv[0], strerror(errno));
	fds.report = report[1];
	fds.status = status[1];
	r->status_fd = status[0];
	r->pid = agent_clone_command();
	if (r->pid < 0)
		agent_fail(r->a, "cannot run %s: namespaces: %s", r->a->plan.argv[0], strerror(errno));
	if (r->pid == 0)
		agent_command_main(&r->a->plan, &fds);
	close(report[1]);
	close(status[1]);
	for (int i = 0; i < 3; i++)
		if (i == 0 || fds.stdio[i] != fds.stdio[0])
			close(fds.stdio[i]);
	await_exec(r, report[0]);
	agent_send(r->a, SP_FRAME_READY, NULL, 0);
}

/* ---- relaying ---- */

/* The host cannot see or steer the command any more: end it. */
static void kill_command(struct relay *r)
{
	if (r->killed)
		return;
	r->killed = true;
	kill(-r->pid, SIGKILL);
}

static void reap(struct relay *r)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(r->sigfd, &si, sizeof si) > 0)
		;
	/* PID 1 reaps every process, orphans included. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == r->pid) {
			int cmd_status;

			/* The namespace's PID 1 passed on the command's
			 * status; killed (the host went away), it is its own. */
			r->done = true;
			r->status = read(r->status_fd, &cmd_status, sizeof cmd_status) == (ssize_t)sizeof cmd_status
					    ? cmd_status
					    : status;
		}
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Stdin the command will not take any more (it closed its end, or the
 * pty is gone): what is pending and what comes later is dropped. */
static void drop_stdin(struct relay *r)
{
	r->pending_len = 0;
	if (!r->tty)
		close_fd(&r->in);
}

static void flush_stdin(struct relay *r)
{
	int fd = r->tty ? r->master : r->in;

	while (fd >= 0 && r->pending_len > 0) {
		ssize_t n = write(fd, r->pending, r->pending_len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				drop_stdin(r);
			return;
		}
		memmove(r->pending, r->pending + n, r->pending_len - (size_t)n);
		r->pending_len -= (size_t)n;
	}
	if (r->pending_len == 0 && r->stdin_eof)
		close_fd(&r->in);
}

static void on_stdin(struct relay *r, const uint8_t *data, size_t len)
{
	if (len == 0) {
		/* A terminal has no end of file to pass: ^D is the host's to
		 * send as a byte. */
		if (!r->tty)
			r->stdin_eof = true;
		flush_stdin(r);
		return;
	}
	if ((r->tty ? r->master : r->in) < 0 || r->stdin_eof)
		return;
	if (r->pending_len + len > r->pending_cap) {
		size_t cap = r->pending_cap ? r->pending_cap : CHUNK;
		uint8_t *p;

		while (cap < r->pending_len + len)
			cap *= 2;
		p = realloc(r->pending, cap);
		if (!p) {
			agent_log(r->a, "out of memory for stdin: dropped");
			return;
		}
		r->pending = p;
		r->pending_cap = cap;
	}
	memcpy(r->pending + r->pending_len, data, len);
	r->pending_len += len;
	flush_stdin(r);
}

/* A decimal in [MIN, MAX] and nothing else; -1 otherwise. */
static long parse_num(const char *s, size_t len, long min, long max)
{
	long v = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= min && v <= max ? v : -1;
}

static void on_kill(struct relay *r, const uint8_t *data, size_t len)
{
	long sig = parse_num((const char *)data, len, 1, SIGRTMAX);

	if (sig < 0) {
		agent_log(r->a, "ignored a bad 'k' frame");
		return;
	}
	kill(-r->pid, (int)sig);
}

static void on_winsize(struct relay *r, const uint8_t *data, size_t len)
{
	const char *s = (const char *)data, *space = memchr(s, ' ', len);
	long rows = space ? parse_num(s, (size_t)(space - s), 0, 65535) : -1;
	long cols = space ? parse_num(space + 1, len - (size_t)(space - s) - 1, 0, 65535) : -1;
	struct winsize ws = { 0 };

	if (rows < 0 || cols < 0) {
		agent_log(r->a, "ignored a bad 'w' frame");
		return;
	}
	if (!r->tty || r->master < 0)
		return;
	ws.ws_row = (unsigned short)rows;
	ws.ws_col = (unsigned short)cols;
	ioctl(r->master, TIOCSWINSZ, &ws);
}

/* Every whole frame the reader holds (the first may have come with the
 * plan). */
static void dispatch(struct relay *r)
{
	const uint8_t *payload;
	size_t len;
	char type;
	int got;

	while ((got = sp_frame_next(&r->a->in, &type, &payload, &len)) == 1) {
		if (type == SP_FRAME_STDIN)
			on_stdin(r, payload, len);
		else if (type == SP_FRAME_KILL)
			on_kill(r, payload, len);
		else if (type == SP_FRAME_WINSIZE)
			on_winsize(r, payload, len);
		else
			agent_log(r->a, "ignored a '%c' frame from the host", type);
	}
	if (got < 0) {
		agent_log(r->a, "bad frame from the host: ending the command");
		r->a->host_gone = true;
		kill_command(r);
	}
}

static void read_port(struct relay *r)
{
	ssize_t n = read(r->a->port, r->chunk, CHUNK);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		agent_log(r->a, "read from the control port: %s", strerror(errno));
	}
	if (n <= 0) {
		/* The host end closed: nobody reads what the command does. */
		if (!r->a->host_gone)
			agent_log(r->a, "the host is gone: ending the command");
		r->a->host_gone = true;
		kill_command(r);
		return;
	}
	if (sp_frame_feed(&r->a->in, r->chunk, (size_t)n) < 0) {
		agent_log(r->a, "out of memory for the control port");
		kill_command(r);
		return;
	}
	dispatch(r);
}

/* One read of the command's output into a frame of TYPE; *FD is closed at
 * its end (a pty's master reads EIO once no slave is open). */
static void read_output(struct relay *r, int *fd, char type)
{
	ssize_t n = read(*fd, r->chunk, CHUNK);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (r->tty)
			drop_stdin(r);
		close_fd(fd);
		return;
	}
	if (agent_send(r->a, type, r->chunk, (size_t)n) < 0)
		kill_command(r);
}

enum { P_SIG, P_PORT, P_OUT, P_ERR, P_IN, P_N };

/* One round of poll over what is open; WITH_INPUT false once the command
 * has ended (its input no longer matters). */
static int poll_once(struct relay *r, bool with_input, int timeout)
{
	struct pollfd pf[P_N];
	int in_fd = r->tty ? r->master : r->in;
	int n;

	pf[P_SIG] = (struct pollfd){ r->sigfd, POLLIN, 0 };
	pf[P_PORT] = (struct pollfd){ -1, POLLIN, 0 };
	if (with_input && !r->a->host_gone && r->pending_len < PENDING_MAX)
		pf[P_PORT].fd = r->a->port;
	pf[P_OUT] = (struct pollfd){ r->tty ? r->master : r->out, POLLIN, 0 };
	pf[P_ERR] = (struct pollfd){ r->tty ? -1 : r->err, POLLIN, 0 };
	pf[P_IN] = (struct pollfd){ with_input && r->pending_len > 0 ? in_fd : -1, POLLOUT, 0 };
	n = poll(pf, P_N, timeout);
	if (n <= 0)
		return n < 0 && errno != EINTR ? -1 : 0;
	if (pf[P_SIG].revents)
		reap(r);
	if (pf[P_OUT].revents)
		read_output(r, r->tty ? &r->master : &r->out, SP_FRAME_STDOUT);
	if (pf[P_ERR].revents)
		read_output(r, &r->err, SP_FRAME_STDERR);
	if (pf[P_IN].revents && (r->tty ? r->master : r->in) >= 0)
		flush_stdin(r);
	if (pf[P_PORT].revents)
		read_port(r);
	return 0;
}

/* After the command: every other process is killed, its output read to
 * the end and every child reaped, within DRAIN_MS. */
static void finish(struct relay *r)
{
	long deadline = agent_now_ms() + DRAIN_MS;

	kill(-1, SIGKILL);
	close_fd(&r->in);
	for (;;) {
		long left = deadline - agent_now_ms();
		bool output = (r->tty ? r->master : r->out) >= 0 || (!r->tty && r->err >= 0);

		siginfo_t info;

		reap(r);
		/* WNOWAIT: a child that ends now is reap()'s to count. */
		if (!output && waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD)
			break;
		if (left <= 0) {
			agent_log(r->a, "processes still there %d s after the command: powering off anyway",
				  DRAIN_MS / 1000);
			break;
		}
		if (poll_once(r, false, (int)left) < 0)
			break;
	}
}

static void send_status(struct relay *r)
{
	char msg[32];

	if (WIFSIGNALED(r->status))
		snprintf(msg, sizeof msg, "signal %d", WTERMSIG(r->status));
	else
		snprintf(msg, sizeof msg, "exit %d", WEXITSTATUS(r->status));
	/* Written before the host hears the end, which may be its cue to
	 * stop QEMU. */
	sync();
	agent_send(r->a, SP_FRAME_EXIT, msg, strlen(msg));
}

void agent_run(struct agent *a)
{
	struct relay r = { .a = a, .tty = a->plan.tty, .master = -1, .in = -1, .out = -1, .err = -1, .status_fd = -1 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	r.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	r.chunk = malloc(CHUNK);
	if (r.sigfd < 0 || !r.chunk)
		agent_fail(a, "cannot run %s: %s", a->plan.argv[0], strerror(errno));
	start(&r);
	/* Frames that came right behind the plan. */
	dispatch(&r);
	while (!r.done) {
		if (poll_once(&r, true, -1) < 0) {
			agent_log(a, "poll: %s", strerror(errno));
			break;
		}
	}
	finish(&r);
	if (r.done)
		send_status(&r);
	close_fd(&r.master);
	close_fd(&r.out);
	close_fd(&r.err);
	close(r.sigfd);
	if (r.status_fd >= 0)
		close(r.status_fd);
	free(r.pending);
	free(r.chunk);
}
