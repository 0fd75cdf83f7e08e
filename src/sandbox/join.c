/* `spectrum exec`: joins a running container instance (see join.h).
 *
 * Three processes:
 *   - the host side (`spectrum exec` itself): finds and pins PID 1, then
 *     relays the terminal and signals and waits for the command;
 *   - the helper, forked by it: joins the cgroups as host root, then the
 *     namespaces, forks the command with CLONE_PARENT and exits at once.
 *     It never runs anything of the instance's, cannot be ptraced
 *     (non-dumpable) and lives only milliseconds;
 *   - the command: forked inside the instance's pid namespace (setns
 *     applies to children only), it confines itself exactly as child.c
 *     confines the instance's own PID 1, then execs.
 * Errors before the exec travel to the host side over a SOCK_SEQPACKET
 * pair (report.h); the socket is close-on-exec, so its end of file with
 * no message means the command runs. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/confine.h"
#include "sandbox/join.h"
#include "sandbox/pty.h"
#include "sandbox/relay.h"
#include "sandbox/runtime.h"
#include "sandbox/report.h"
#include "util/cleanup.h"

extern char **environ;

/* The helper tells the host side the command's pid (text). */
#define REPORT_COMMAND 'C'

/* The socket's and the pty slave's numbers in the helper and the command. */
#define FD_REPORT 3
#define FD_SLAVE 4

static const struct {
	const char *file;
	int type;
} ns_kinds[SP_JOIN_NS] = {
	{ "ns/user", CLONE_NEWUSER }, { "ns/mnt", CLONE_NEWNS },  { "ns/pid", CLONE_NEWPID },
	{ "ns/net", CLONE_NEWNET },   { "ns/ipc", CLONE_NEWIPC }, { "ns/uts", CLONE_NEWUTS },
	{ "ns/cgroup", CLONE_NEWCGROUP },
};


/* ---- Finding the instance ---- */

/* Reads at most SIZE-1 bytes of DIRFD/PATH, NUL-terminated. */
static int read_small(int dirfd, const char *path, char *buf, size_t size)
{
	cleanup_fd int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t len = 0;

	if (fd < 0)
		return -1;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return 0;
}

pid_t sp_join_pid(const struct sp_store *store, const char *name)
{
	char path[4200], text[32], *end;
	long pid;

	snprintf(path, sizeof path, "%s/" SP_RUNTIME_INSTANCES "/%s/pid", store->run_dir, name);
	if (read_small(AT_FDCWD, path, text, sizeof text) < 0)
		return -1;
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno || end == text || (*end && *end != '\n') || pid <= 1 || pid > 0x3fffffff)
		return -1;
	return (pid_t)pid;
}

/* True when the "NSpid:" line of STATUS ends in 1 after at least one
 * other pid: the PID 1 of a pid namespace below ours. */
static bool is_namespace_init(const char *status)
{
	const char *line = strstr(status, "\nNSpid:");
	char buf[256], *w, *save = NULL, *last = NULL;
	int n = 0;

	if (!line)
		return false;
	line += strlen("\nNSpid:");
	snprintf(buf, sizeof buf, "%.*s", (int)strcspn(line, "\n"), line);
	for (w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		last = w;
		n++;
	}
	return n >= 2 && strcmp(last, "1") == 0;
}

/* True when one line of CGROUPS ("N:ctrls:/path") ends in /spectrum/ID. */
static bool in_instance_cgroup(const char *cgroups, const char *id)
{
	char want[300];
	size_t wn;

	wn = (size_t)snprintf(want, sizeof want, "/spectrum/%s", id);
	for (const char *line = cgroups; *line;) {
		size_t len = strcspn(line, "\n");
		if (len >= wn && strncmp(line + len - wn, want, wn) == 0)
			return true;
		line += len;
		if (*line == '\n')
			line++;
	}
	return false;
}

static bool same_file(int dirfd, const char *a, const char *b)
{
	struct stat sa, sb;

	return fstatat(dirfd, a, &sa, 0) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

void sp_join_close(struct sp_join_target *t)
{
	if (t->proc >= 0)
		close(t->proc);
	for (int i = 0; i < SP_JOIN_NS; i++)
		if (t->ns[i] >= 0)
			close(t->ns[i]);
	if (t->root >= 0)
		close(t->root);
	free(t->cgroups);
	t->proc = t->root = -1;
	for (int i = 0; i < SP_JOIN_NS; i++)
		t->ns[i] = -1;
	t->cgroups = NULL;
}

int sp_join_find(const struct sp_store *store, const char *name, struct sp_join_target *t, struct sp_err *err)
{
	cleanup_free char *id = NULL;
	char path[64], status[4096];
	const size_t cg_size = 16384;

	t->proc = t->root = -1;
	for (int i = 0; i < SP_JOIN_NS; i++)
		t->ns[i] = -1;
	t->cgroups = NULL;
	t->pid = sp_join_pid(store, name);
	if (t->pid < 0)
		goto not_running;
	/* Everything below is opened through this descriptor: once the
	 * process is gone, they fail, even if its pid is used again. */
	snprintf(path, sizeof path, "/proc/%d", (int)t->pid);
	t->proc = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (t->proc < 0)
		goto not_running;
	if (read_small(t->proc, "status", status, sizeof status) < 0 || !is_namespace_init(status))
		goto not_running;
	if (same_file(t->proc, "ns/user", "/proc/self/ns/user"))
		goto not_running;
	id = sp_instance_id(store, name);
	t->cgroups = malloc(cg_size);
	if (!id || !t->cgroups) {
		sp_fail_errno(err, ENOMEM, "%s", name);
		goto fail;
	}
	if (read_small(t->proc, "cgroup", t->cgroups, cg_size) < 0 || !in_instance_cgroup(t->cgroups, id))
		goto not_running;
	for (int i = 0; i < SP_JOIN_NS; i++) {
		t->ns[i] = openat(t->proc, ns_kinds[i].file, O_RDONLY | O_CLOEXEC);
		if (t->ns[i] < 0)
			goto not_running;
	}
	t->root = openat(t->proc, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (t->root < 0)
		goto not_running;
	return 0;
not_running:
	sp_fail(err, SP_ERR_RUNTIME, "%s is not running", name);
fail:
	sp_join_close(t);
	return -1;
}

/* ---- The helper: cgroups and namespaces ---- */

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/* True when every item of the comma-separated WANT is in HAVE. */
static bool has_all(const char *have, const char *want)
{
	char buf[1024], *w, *save = NULL;

	snprintf(buf, sizeof buf, "%s", want);
	for (w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(w);
		bool found = false;
		for (const char *h = have; *h;) {
			size_t len = strcspn(h, ",");
			if (len == n && strncmp(h, w, n) == 0)
				found = true;
			h += len;
			if (*h == ',')
				h++;
		}
		if (!found)
			return false;
	}
	return true;
}

/* Where the cgroup PATH of the hierarchy CTRLS ("" for cgroup2, else
 * "memory", "cpu,cpuacct", "name=systemd"...) is on the host: the first
 * mount of that hierarchy whose root contains PATH.  False when the host
 * has it mounted nowhere. */
static bool cgroup_dir(const char *ctrls, const char *path, char *dir, size_t size)
{
	cleanup_file FILE *f = fopen("/proc/self/mountinfo", "re");
	cleanup_free char *line = NULL;
	size_t cap = 0;

	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		char *field[64], *save = NULL, *w;
		int n = 0, sep = -1;
		size_t rlen;

		line[strcspn(line, "\n")] = '\0';
		for (w = strtok_r(line, " ", &save); w && n < 64; w = strtok_r(NULL, " ", &save)) {
			if (sep < 0 && strcmp(w, "-") == 0)
				sep = n;
			field[n++] = w;
		}
		if (sep < 5 || n < sep + 4)
			continue;
		if (ctrls[0] ? strcmp(field[sep + 1], "cgroup") != 0 || !has_all(field[sep + 3], ctrls)
			     : strcmp(field[sep + 1], "cgroup2") != 0)
			continue;
		unescape(field[3]);
		unescape(field[4]);
		rlen = strcmp(field[3], "/") == 0 ? 0 : strlen(field[3]);
		if (strncmp(path, field[3], rlen) != 0 || (path[rlen] != '/' && path[rlen] != '\0'))
			continue;
		snprintf(dir, size, "%s%s", field[4], path + rlen);
		return true;
	}
	return false;
}

/* Moves the calling process into every cgroup of CGROUPS (the text of
 * PID 1's /proc/PID/cgroup), hierarchy by hierarchy. */
static int join_cgroups(const char *cgroups, struct sp_err *err)
{
	char lines[16384], *line, *save = NULL, dir[4096], file[4200], me[32];
	int len = snprintf(me, sizeof me, "%d", (int)getpid());

	snprintf(lines, sizeof lines, "%s", cgroups);
	for (line = strtok_r(lines, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctrls = strchr(line, ':'), *path;
		cleanup_fd int fd = -1;

		if (!ctrls)
			continue;
		ctrls++;
		path = strchr(ctrls, ':');
		if (!path)
			continue;
		*path++ = '\0';
		if (path[0] != '/' || strstr(path, "/..") || !cgroup_dir(ctrls, path, dir, sizeof dir))
			continue;
		snprintf(file, sizeof file, "%s/cgroup.procs", dir);
		fd = open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || write(fd, me, (size_t)len) != len)
			return sp_fail_errno(err, errno, "join the instance's cgroup %s", dir);
	}
	return 0;
}

/* As child.c: all three ids, and no supplementary groups. */
static int helper_setup(const struct sp_join_target *t, pid_t host_side, int *sock, int *slave, struct sp_err *err)
{
	struct stat want, got;
	int s, sl = -1;

	/* Never outlive the host side, never be ptraced or dumped: until
	 * the user namespace is joined this process is host root. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != host_side)
		return sp_fail_errno(err, ESRCH, "the host side is gone");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "dumpable");
	/* Away from the caller's terminal: nothing here may open /dev/tty
	 * and reach it. */
	if (setsid() < 0)
		return sp_fail_errno(err, errno, "setsid");
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);

	if (join_cgroups(t->cgroups, err) < 0)
		return -1;
	/* The user namespace first: it owns the others, and joining it
	 * gives the capabilities to join them. */
	if (setns(t->ns[0], CLONE_NEWUSER) < 0)
		return sp_fail_errno(err, errno, "join the user namespace");
	if (sp_become(0, 0, err) < 0)
		return -1;
	if (prctl(PR_SET_SECUREBITS, 0, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "securebits");
	for (int i = 1; i < SP_JOIN_NS; i++) {
		if (setns(t->ns[i], ns_kinds[i].type) < 0)
			return sp_fail_errno(err, errno, "join the %s namespace", ns_kinds[i].file + 3);
	}
	/* setns(mnt) put us at the namespace's root: it must be PID 1's. */
	if (fstat(t->root, &want) < 0 || stat("/", &got) < 0 || want.st_dev != got.st_dev ||
	    want.st_ino != got.st_ino)
		return sp_fail(err, SP_ERR_RUNTIME, "the instance's root is not the root of its mount namespace");
	/* The report socket at 3, the pty slave (if any) at 4, every other
	 * descriptor of the host (the namespaces, /proc/PID, the signalfd,
	 * whatever the caller left open) closed.  Both are moved out of the
	 * way first, so that placing them cannot clobber one another: just
	 * above 4, as RLIMIT_NOFILE is already the instance's (it may be as
	 * low as 64, and F_DUPFD fails with EINVAL at or above it). */
	s = fcntl(*sock, F_DUPFD_CLOEXEC, FD_SLAVE + 1);
	if (*slave >= 0)
		sl = fcntl(*slave, F_DUPFD_CLOEXEC, FD_SLAVE + 1);
	if (s < 0 || (*slave >= 0 && sl < 0) || dup3(s, FD_REPORT, O_CLOEXEC) < 0 ||
	    (sl >= 0 && dup3(sl, FD_SLAVE, O_CLOEXEC) < 0))
		return sp_fail_errno(err, errno, "move descriptors");
	*sock = FD_REPORT;
	if (*slave >= 0)
		*slave = FD_SLAVE;
	if (syscall(SYS_close_range, *slave >= 0 ? FD_SLAVE + 1 : FD_REPORT + 1, ~0U, 0) < 0)
		return sp_fail_errno(err, errno, "close_range");
	return 0;
}

/* ---- The command: the instance's confinement, then exec ---- */

struct command_args {
	const struct sp_plan *plan;
	int sock;
	int slave; /* the host-side pty's slave (pty.h), or -1 */
	bool tty[3];
};

/* Stdio: a terminal is replaced by the pty's slave (the host's terminal
 * never enters the instance), a host directory by /dev/null (openat()
 * from it would reach the host's tree where Landlock is missing). */
static int setup_stdio(const struct command_args *a, struct sp_err *err)
{
	int devnull, ret = 0;
	struct stat st;

	if (a->slave >= 0 && ioctl(a->slave, TIOCSCTTY, 0) < 0)
		return sp_fail_errno(err, errno, "take the pty as controlling terminal");
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return sp_fail_errno(err, errno, "open /dev/null");
	for (int i = 0; i < 3 && ret == 0; i++) {
		int from = -1;
		if (a->tty[i])
			from = a->slave >= 0 ? a->slave : devnull;
		else if (fstat(i, &st) == 0 && S_ISDIR(st.st_mode))
			from = devnull;
		if (from >= 0 && dup2(from, i) < 0)
			ret = sp_fail_errno(err, errno, "dup2");
	}
	close(devnull);
	if (a->slave > 2)
		close(a->slave);
	return ret;
}

/* The order of child.c's setup(), without what joining replaced
 * (namespaces, mounts, hostname, loopback). */
static int command_setup(const struct command_args *a, struct sp_err *err)
{
	const struct sp_plan *plan = a->plan;
	struct rlimit none = { 0, 0 };
	struct pollfd pf = { a->sock, POLLRDHUP, 0 };

	/* Its own session, which the pty becomes the terminal of. */
	if (setsid() < 0)
		return sp_fail_errno(err, errno, "setsid");
	if (setrlimit(RLIMIT_CORE, &none) < 0)
		return sp_fail_errno(err, errno, "RLIMIT_CORE");
	if (setup_stdio(a, err) < 0)
		return -1;
	/* The same as the instance's PID 1; not dumpable until the exec,
	 * which makes it dumpable again like the instance's own command. */
	if (sp_confine_privileges(plan, err) < 0)
		return -1;
	/* The id change cleared the parent-death signal: set it again, and
	 * look whether the host side died meanwhile (its end of the socket
	 * is the only one left). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "pdeathsig");
	if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP)))
		_exit(1);
	if (chdir(plan->cwd) < 0 && chdir("/") < 0)
		return sp_fail_errno(err, errno, "chdir %s", plan->cwd);
	if (sp_confine_filters(plan, err) < 0)
		return -1;
	/* Nothing but stdio and the close-on-exec report socket. */
	if (syscall(SYS_close_range, FD_REPORT + 1, ~0U, 0) < 0)
		return sp_fail_errno(err, errno, "close_range");
	return 0;
}

static noreturn void command_main(const struct command_args *a)
{
	struct sp_err err = { 0 };
	char text[512];
	sigset_t none;
	int e;

	if (command_setup(a, &err) < 0) {
		sp_report_text(a->sock, SP_REPORT_ERROR, err.msg);
		_exit(1);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	environ = a->plan->envp;
	execvp(a->plan->argv[0], a->plan->argv);
	e = errno;
	snprintf(text, sizeof text, "cannot execute %s: %s", a->plan->argv[0], strerror(e));
	sp_report_text(a->sock, SP_REPORT_MESSAGE, text);
	_exit(e == ENOENT ? 127 : 126);
}

static noreturn void helper_main(const struct sp_plan *plan, const struct sp_join_target *t, int sock, int slave,
				 const struct sp_pty_host *pty, pid_t host_side)
{
	struct command_args a = { .plan = plan };
	struct sp_err err = { 0 };
	char text[32];
	pid_t cmd;

	memcpy(a.tty, pty->tty, sizeof a.tty);
	/* Still host root here: the files limit may be above ours. */
	if (sp_confine_files(plan, &err) < 0 || helper_setup(t, host_side, &sock, &slave, &err) < 0) {
		sp_report_text(sock, SP_REPORT_ERROR, err.msg);
		_exit(1);
	}
	a.sock = sock;
	a.slave = slave;
	/* setns(pid) applies to children: the command is one, and a child
	 * of the host side, which waits for it and relays its signals. */
	cmd = (pid_t)syscall(SYS_clone, CLONE_PARENT, NULL, NULL, NULL, 0);
	if (cmd < 0) {
		sp_fail_errno(&err, errno, "fork into the instance");
		sp_report_text(sock, SP_REPORT_ERROR, err.msg);
		_exit(1);
	}
	if (cmd == 0)
		command_main(&a);
	snprintf(text, sizeof text, "%d", (int)cmd);
	if (sp_report_text(sock, REPORT_COMMAND, text) < 0) {
		kill(cmd, SIGKILL);
		_exit(1);
	}
	_exit(0);
}

/* ---- The host side ---- */

struct exec_relay {
	struct sp_relay io; /* first: the callbacks get it */
	pid_t helper, cmd;  /* cmd: 0 until known */
	bool helper_done, cmd_done;
	int helper_status, cmd_status;
	int pending_signal; /* arrived before the command's pid */
	struct sp_run_result *res;
	struct sp_err *err;
	char setup_error[1024];
};

static void update_done(struct exec_relay *r)
{
	/* With the socket at its end, every message has been read: a
	 * command not announced by then was never made. */
	r->io.done = r->helper_done && (r->cmd_done || (r->io.sock_eof && r->cmd == 0));
}

static void on_report(struct sp_relay *io)
{
	struct exec_relay *r = (struct exec_relay *)io;
	struct sp_report msg;
	char *end;
	long pid;

	if (sp_report_recv(io->sock, &msg) <= 0) {
		io->sock_eof = true;
		update_done(r);
		return;
	}
	switch (msg.type) {
	case REPORT_COMMAND:
		pid = strtol(msg.text, &end, 10);
		if (*end || pid <= 0 || (r->cmd != 0 && r->cmd != (pid_t)pid))
			break;
		r->cmd = (pid_t)pid;
		if (r->pending_signal && !r->cmd_done)
			kill(r->cmd, r->pending_signal);
		r->pending_signal = 0;
		break;
	case SP_REPORT_ERROR:
		if (!r->setup_error[0])
			snprintf(r->setup_error, sizeof r->setup_error, "%s", msg.text);
		break;
	case SP_REPORT_MESSAGE:
		snprintf(r->res->message, sizeof r->res->message, "%s", msg.text);
		break;
	default:
		if (msg.fd >= 0)
			close(msg.fd);
	}
	update_done(r);
}

static void on_signal(struct sp_relay *io, const struct signalfd_siginfo *si)
{
	struct exec_relay *r = (struct exec_relay *)io;

	if (si->ssi_signo == SIGCHLD) {
		int st;
		pid_t p;
		/* Our only children: the helper and the command. */
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			if (p == r->helper) {
				r->helper_done = true;
				r->helper_status = st;
			} else {
				r->cmd = p;
				r->cmd_done = true;
				r->cmd_status = st;
			}
		}
		update_done(r);
	} else if (r->cmd > 0 && !r->cmd_done) {
		kill(r->cmd, (int)si->ssi_signo);
	} else if (!r->cmd_done) {
		r->pending_signal = (int)si->ssi_signo;
	}
}

int sp_join_run(const struct sp_plan *plan, const struct sp_join_target *t, struct sp_run_result *res,
		struct sp_err *err)
{
	struct exec_relay r = {
		.io = { .sock = -1, .sigfd = -1, .on_report = on_report, .on_signal = on_signal },
		.helper = -1,
		.res = res,
		.err = err,
	};
	int sv[2] = { -1, -1 }, ret = -1, master = -1, slave = -1;
	sigset_t oldmask;
	bool masked = false;
	pid_t self = getpid();

	memset(res, 0, sizeof *res);
	sp_pty_detect(&r.io.pty);
	if (geteuid() != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "spectrum exec needs root");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return sp_fail_errno(err, errno, "socketpair");
	/* The pty is made here, on the host side (pty.h): its slave reaches
	 * the command through the helper, its master never leaves. */
	if (sp_pty_wanted(&r.io.pty)) {
		if (sp_pty_open_host(&master, &slave, err) < 0)
			goto out;
		if (sp_pty_attach(&r.io.pty, master, err) < 0)
			goto out;
	}

	r.io.sigfd = sp_relay_signals_block(&oldmask);
	masked = true;
	if (r.io.sigfd < 0) {
		sp_fail_errno(err, errno, "signalfd");
		goto out;
	}

	r.helper = fork();
	if (r.helper < 0) {
		sp_fail_errno(err, errno, "fork");
		goto out;
	}
	if (r.helper == 0) {
		close(sv[0]);
		helper_main(plan, t, sv[1], slave, &r.io.pty, self);
	}
	close(sv[1]);
	sv[1] = -1;
	if (slave >= 0)
		close(slave);
	slave = -1;
	r.io.sock = sv[0];

	sp_relay_loop(&r.io);
	if (r.setup_error[0]) {
		sp_fail(err, SP_ERR_RUNTIME, "%s", r.setup_error);
		goto out;
	}
	if (!r.cmd_done) {
		sp_fail(err, SP_ERR_RUNTIME, "could not join the instance (helper %s %d)",
			WIFSIGNALED(r.helper_status) ? "killed by signal" : "exit status",
			WIFSIGNALED(r.helper_status) ? WTERMSIG(r.helper_status) : WEXITSTATUS(r.helper_status));
		goto out;
	}
	res->status = r.cmd_status;
	res->started = !res->message[0];
	ret = 0;
out:
	if (ret < 0 && r.cmd > 0 && !r.cmd_done) {
		kill(r.cmd, SIGKILL);
		waitpid(r.cmd, NULL, 0);
	}
	if (r.helper > 0 && !r.helper_done)
		waitpid(r.helper, NULL, 0);
	sp_pty_restore(&r.io.pty); /* closes the master */
	if (slave >= 0)
		close(slave);
	if (r.io.sigfd >= 0)
		close(r.io.sigfd);
	if (masked)
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	return ret;
}
