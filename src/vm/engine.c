/* The VM engine: the same plan as a container instance, run in its own
 * kernel.  It prepares the boot files and the shares, starts one
 * virtiofsd per share and QEMU, all in the instance's cgroup, sends the
 * agent its plan over the control port, then relays stdin, stdout,
 * stderr, signals and the terminal's size until the agent reports the
 * command's end and the guest powers off.  Whatever happens (the guest
 * stops, QEMU is killed or crashes), it leaves no process, socket or
 * file: the cgroup is emptied and removed, the share directory too. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "guest/proto.h"
#include "sandbox/cgroup.h"
#include "sandbox/engine.h"
#include "sandbox/idrange.h"
#include "sandbox/janitor.h"
#include "sandbox/pty.h"
#include "sandbox/runtime.h"
#include "util/shown.h"
#include "util/strv.h"
#include "vm/accel.h"
#include "vm/boot.h"
#include "vm/guestplan.h"
#include "vm/qemu.h"
#include "vm/shares.h"

/* From `spectrum run` to the agent's first word, at most (TCG boots in a
 * few seconds here; a guest that hangs must not hang the engine). */
#define BOOT_TIMEOUT_DEFAULT 120
/* From the command's end to QEMU's exit, at most. */
#define POWEROFF_TIMEOUT 15
/* What the console log keeps of one boot: a guest that floods its
 * console must not fill the store's disk. */
#define CONSOLE_LOG_MAX (4u << 20)

/* Bytes queued for the guest that QEMU has not taken yet: beyond this,
 * stdin is not read until the guest has taken some (the engine itself
 * never blocks on the guest, so signals always get through to it). */
#define OUT_HIGH (1u << 20)
/* A signal for the command that the guest has not taken within this is
 * enforced from outside: QEMU is stopped. */
#define SIGNAL_TIMEOUT 10

/* What goes to the guest, written as QEMU takes it. */
struct out_queue {
	uint8_t *buf;
	size_t len, off, cap;
	uint64_t queued, sent; /* bytes ever queued and ever written */
	bool dead;             /* QEMU's end is gone: drop everything */
};

struct vm_relay {
	int ctl, con, log, sigfd, notify_fd, errpipe;
	size_t logged;
	struct out_queue out;
	uint64_t kill_mark;    /* a signal is delivered once out.sent reaches it */
	double kill_deadline;
	struct sp_vm_shares *shares;
	bool errpipe_eof;
	pid_t qemu;
	int qemu_status;
	bool qemu_done, ctl_eof, con_eof, stdin_open, ready, got_exit;
	int exit_status;
	char error[1024];
	struct sp_frame_reader frames;
	bool tty;
	int term_fd;
	struct termios saved;
	bool raw;
	int tty_watch; /* the watcher that restores SAVED if we are killed */
	const char *pidfile;
	bool pid_written;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int boot_timeout(void)
{
	const char *s = getenv("SPECTRUM_VM_BOOT_TIMEOUT");
	int v = s ? atoi(s) : 0;

	return v > 0 ? v : BOOT_TIMEOUT_DEFAULT;
}

static void flush_out(struct vm_relay *r)
{
	struct out_queue *q = &r->out;

	while (q->off < q->len && !q->dead) {
		ssize_t n = write(r->ctl, q->buf + q->off, q->len - q->off);
		if (n > 0) {
			q->off += (size_t)n;
			q->sent += (uint64_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			break;
		} else {
			/* QEMU's end is closed; what it sent is still read. */
			q->dead = true;
		}
	}
	if (q->off == q->len || q->dead)
		q->off = q->len = 0;
}

static size_t out_pending(const struct vm_relay *r)
{
	return r->out.len - r->out.off;
}

/* Queues one frame for the guest (guest/proto.h) and writes what QEMU
 * takes now. */
static void send_frame(struct vm_relay *r, char type, const void *p, size_t len)
{
	struct out_queue *q = &r->out;
	size_t need = SP_FRAME_HEADER + len;

	if (q->dead)
		return;
	if (q->off > 0 && q->len + need > q->cap) {
		memmove(q->buf, q->buf + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->len + need > q->cap) {
		size_t cap = q->cap ? q->cap : 65536;
		uint8_t *b;
		while (cap < q->len + need)
			cap *= 2;
		b = realloc(q->buf, cap);
		if (!b) {
			q->dead = true;
			return;
		}
		q->buf = b;
		q->cap = cap;
	}
	q->buf[q->len] = (uint8_t)type;
	for (int i = 0; i < 4; i++)
		q->buf[q->len + 1 + (size_t)i] = (uint8_t)((uint32_t)len >> (8 * i));
	if (len)
		memcpy(q->buf + q->len + SP_FRAME_HEADER, p, len);
	q->len += need;
	q->queued += need;
	flush_out(r);
}

static void send_winsize(struct vm_relay *r)
{
	struct winsize ws;
	char text[32];
	int n;

	if (!r->tty || ioctl(r->term_fd, TIOCGWINSZ, &ws) < 0)
		return;
	n = snprintf(text, sizeof text, "%u %u", ws.ws_row, ws.ws_col);
	send_frame(r, SP_FRAME_WINSIZE, text, (size_t)n);
}

static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* The command runs: say where QEMU is, for `list`, and tell a supervisor
 * waiting for readiness. */
static void started(struct vm_relay *r)
{
	r->ready = true;
	sp_runtime_announce(r->pidfile, r->qemu, &r->pid_written, &r->notify_fd);
}

static void on_frame(struct vm_relay *r, char type, const uint8_t *p, size_t len)
{
	char text[256];
	int v;

	switch (type) {
	case SP_FRAME_READY:
		if (!r->ready)
			started(r);
		break;
	case SP_FRAME_STDOUT:
		write_all(1, p, len);
		break;
	case SP_FRAME_STDERR:
		write_all(2, p, len);
		break;
	case SP_FRAME_EXIT:
		snprintf(text, sizeof text, "%.*s", (int)(len < sizeof text ? len : sizeof text - 1), (const char *)p);
		if (sscanf(text, "exit %d", &v) == 1 && v >= 0 && v <= 255) {
			r->exit_status = W_EXITCODE(v, 0);
			r->got_exit = true;
		} else if (sscanf(text, "signal %d", &v) == 1 && v > 0 && v < 128) {
			r->exit_status = v; /* as waitpid says "killed by V" */
			r->got_exit = true;
		}
		break;
	case SP_FRAME_ERROR:
		/* One line of text, whatever the guest sent: no terminal
		 * controls reach the host's terminal, no forged lines
		 * (util/shown.h). */
		if (r->error[0])
			break;
		sp_shown_n(r->error, sizeof r->error, (const char *)p, len);
		break;
	default:
		break;
	}
}

static void read_ctl(struct vm_relay *r)
{
	uint8_t buf[65536];
	const uint8_t *p;
	ssize_t n = read(r->ctl, buf, sizeof buf);
	size_t len;
	char type;
	int k;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		r->ctl_eof = true;
		return;
	}
	if (sp_frame_feed(&r->frames, buf, (size_t)n) < 0) {
		r->ctl_eof = true;
		return;
	}
	while ((k = sp_frame_next(&r->frames, &type, &p, &len)) == 1)
		on_frame(r, type, p, len);
	if (k < 0) {
		/* A guest that breaks the protocol is not listened to. */
		snprintf(r->error, sizeof r->error, "the guest's agent sent a malformed message");
		r->ctl_eof = true;
	}
}

/* The console log, capped per boot for everything that goes there: the
 * guest's serial console, QEMU's and virtiofsd's own messages. */
static void log_bytes(struct vm_relay *r, const char *buf, size_t n)
{
	static const char cut[] = "\n[spectrum: console output beyond 4 MiB dropped]\n";

	if (r->log < 0 || r->logged >= CONSOLE_LOG_MAX)
		return;
	if (r->logged + n > CONSOLE_LOG_MAX) {
		write_all(r->log, (const uint8_t *)buf, CONSOLE_LOG_MAX - r->logged);
		write_all(r->log, (const uint8_t *)cut, sizeof cut - 1);
		r->logged = CONSOLE_LOG_MAX;
		return;
	}
	write_all(r->log, (const uint8_t *)buf, n);
	r->logged += n;
}

static void read_into_log(struct vm_relay *r, int fd, bool *eof)
{
	char buf[16384];
	ssize_t n = read(fd, buf, sizeof buf);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		*eof = true;
		return;
	}
	log_bytes(r, buf, (size_t)n);
}

static void read_stdin(struct vm_relay *r)
{
	uint8_t buf[65536];
	ssize_t n = read(0, buf, sizeof buf);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		r->stdin_open = false;
		if (!r->tty)
			send_frame(r, SP_FRAME_STDIN, "", 0);
		return;
	}
	send_frame(r, SP_FRAME_STDIN, buf, (size_t)n);
}

/* PF_EXITING in /proc/PID/stat's flags (include/linux/sched.h). */
#define TASK_PF_EXITING 0x00000004u

/* True when PID's exit has begun (PF_EXITING) or is done (a zombie).
 * A virtiofsd stops on its own when QEMU's end of its socket closes, and
 * QEMU's descriptors close only once its exit has begun: so a virtiofsd
 * gone while QEMU is exiting is QEMU's end, not the share's, whichever of
 * the two the engine hears of first. */
static bool exiting(pid_t pid)
{
	char path[64], buf[1024], state;
	unsigned long flags;
	const char *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* reaped already: not the engine's child any more */
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	/* "PID (COMM) STATE PPID PGRP SESSION TTY TPGID FLAGS": COMM may
	 * hold anything, so the fields start after its last ')'. */
	rp = strrchr(buf, ')');
	if (!rp || sscanf(rp + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return false;
	return state == 'Z' || state == 'X' || (flags & TASK_PF_EXITING);
}

static void on_signal(struct vm_relay *r)
{
	struct signalfd_siginfo si;
	char text[16];
	int n;

	if (read(r->sigfd, &si, sizeof si) != sizeof si)
		return;
	if (si.ssi_signo == SIGCHLD) {
		if (!r->qemu_done && waitpid(r->qemu, &r->qemu_status, WNOHANG) == r->qemu)
			r->qemu_done = true;
		/* A share's server gone while the command runs: the guest
		 * would hang on that share; stop it and say why. */
		for (size_t i = 0; r->shares && i < r->shares->n; i++) {
			struct sp_vm_share *sh = &r->shares->v[i];
			if (sh->pid <= 0 || waitpid(sh->pid, NULL, WNOHANG) != sh->pid)
				continue;
			sh->pid = 0;
			if (!r->qemu_done && !r->got_exit && !r->error[0] && !exiting(r->qemu)) {
				snprintf(r->error, sizeof r->error, "virtiofsd of the %s share stopped; the guest was stopped",
					 sh->tag);
				kill(r->qemu, SIGKILL);
			}
		}
	} else if (si.ssi_signo == SIGWINCH) {
		send_winsize(r);
	} else if (!r->ready) {
		/* The agent is not listening yet: stop the guest. */
		kill(r->qemu, SIGKILL);
	} else {
		n = snprintf(text, sizeof text, "%u", si.ssi_signo);
		send_frame(r, SP_FRAME_KILL, text, (size_t)n);
		if (out_pending(r) && !r->kill_mark) {
			r->kill_mark = r->out.queued;
			r->kill_deadline = now() + SIGNAL_TIMEOUT;
		}
	}
}

static void relay(struct vm_relay *r)
{
	double start = now(), exit_seen = 0;
	int boot_limit = boot_timeout();

	while (!(r->qemu_done && r->ctl_eof && r->con_eof)) {
		struct pollfd p[5];
		int n = 0, i_ctl = -1, i_con = -1, i_in = -1, i_err = -1, i_sig;

		if (!r->ctl_eof) {
			i_ctl = n;
			p[n++] = (struct pollfd){ .fd = r->ctl, .events = POLLIN | (out_pending(r) ? POLLOUT : 0) };
		}
		if (!r->con_eof) {
			i_con = n;
			p[n++] = (struct pollfd){ .fd = r->con, .events = POLLIN };
		}
		if (!r->errpipe_eof && r->errpipe >= 0) {
			i_err = n;
			p[n++] = (struct pollfd){ .fd = r->errpipe, .events = POLLIN };
		}
		if (r->stdin_open && r->ready && out_pending(r) < OUT_HIGH && !r->out.dead) {
			i_in = n;
			p[n++] = (struct pollfd){ .fd = 0, .events = POLLIN };
		}
		i_sig = n;
		p[n++] = (struct pollfd){ .fd = r->sigfd, .events = POLLIN };
		if (poll(p, (nfds_t)n, 1000) < 0 && errno != EINTR)
			break;
		if (p[i_sig].revents)
			on_signal(r);
		if (i_ctl >= 0 && (p[i_ctl].revents & POLLOUT))
			flush_out(r);
		if (i_ctl >= 0 && (p[i_ctl].revents & (POLLIN | POLLHUP | POLLERR)))
			read_ctl(r);
		if (i_con >= 0 && p[i_con].revents)
			read_into_log(r, r->con, &r->con_eof);
		if (i_err >= 0 && p[i_err].revents)
			read_into_log(r, r->errpipe, &r->errpipe_eof);
		if (i_in >= 0 && p[i_in].revents)
			read_stdin(r);

		/* Deadlines: a guest that never comes up, never takes a
		 * signal, or never powers off after its command ended, is
		 * stopped from outside. */
		if (!r->qemu_done && !r->ready && !r->error[0] && now() - start > boot_limit) {
			snprintf(r->error, sizeof r->error,
				 "the guest did not start its command within %d s (SPECTRUM_VM_BOOT_TIMEOUT)", boot_limit);
			kill(r->qemu, SIGKILL);
		}
		if (r->kill_mark && (r->out.sent >= r->kill_mark || r->out.dead))
			r->kill_mark = 0;
		if (r->kill_mark && !r->qemu_done && now() > r->kill_deadline)
			kill(r->qemu, SIGKILL);
		if ((r->got_exit || r->error[0]) && !exit_seen)
			exit_seen = now();
		if (exit_seen && !r->qemu_done && now() - exit_seen > POWEROFF_TIMEOUT)
			kill(r->qemu, SIGKILL);
	}
	/* What QEMU and virtiofsd said last. */
	while (r->errpipe >= 0 && !r->errpipe_eof) {
		char buf[4096];
		ssize_t k = read(r->errpipe, buf, sizeof buf);
		if (k <= 0)
			break;
		log_bytes(r, buf, (size_t)k);
	}
}

/* log/NAME/console beneath the store, never through a symlink (log/ and
 * log/NAME may be writable by the store's owner). */
static int open_console_log(const struct sp_store *store, const char *name, char *path, size_t n)
{
	int logdir, dir, fd;

	snprintf(path, n, "%s/log/%s/console", store->root, name);
	logdir = openat(store->root_fd, "log", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (logdir < 0)
		return -1;
	if (mkdirat(logdir, name, 0750) < 0 && errno != EEXIST) {
		close(logdir);
		return -1;
	}
	dir = openat(logdir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(logdir);
	if (dir < 0)
		return -1;
	fd = openat(dir, "console", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
	close(dir);
	return fd;
}

static void make_raw(struct vm_relay *r)
{
	struct termios t;
	struct sp_err err = { 0 };

	if (!r->tty || !isatty(0) || tcgetattr(0, &r->saved) < 0)
		return;
	/* Without the watcher a SIGKILL would leave the admin's terminal
	 * raw: then it stays cooked (the guest's line editing suffers, the
	 * admin's shell does not). */
	if (sp_pty_watch_start(&r->saved, &r->tty_watch, &err) < 0)
		return;
	t = r->saved;
	cfmakeraw(&t);
	if (tcsetattr(0, TCSANOW, &t) == 0)
		r->raw = true;
	else
		sp_pty_watch_done(&r->tty_watch);
}

static int vm_run(const struct sp_plan *plan, const struct sp_store *store, const struct sp_run_opts *opts,
		  struct sp_run_result *res, struct sp_err *err)
{
	struct sp_vm_boot boot = { 0 };
	struct sp_id_lease lease = { .lock_fd = -1 };
	struct sp_cgroup *cg = NULL;
	struct sp_janitor jan = { -1, -1 };
	struct sp_vm_shares shares = { 0 };
	struct vm_relay r = { .ctl = -1, .con = -1, .log = -1, .sigfd = -1, .qemu = -1, .term_fd = -1, .errpipe = -1,
				.tty_watch = -1 };
	struct sp_qemu_config qc;
	char why[256], logpath[4200], rundir[4200], pidfile[4300], *share_dir = NULL;
	int ctl[2] = { -1, -1 }, con[2] = { -1, -1 }, errp[2] = { -1, -1 }, ret = -1, kernel_fd = -1, initrd_fd = -1;
	int lock_fd = -1;
	uint8_t *gp = NULL;
	size_t gp_len = 0;
	sigset_t oldmask;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	bool masked = false, kvm = false;

	memset(res, 0, sizeof *res);
	r.notify_fd = opts ? opts->notify_fd : -1;
	r.stdin_open = true;
	for (int fd = 0; fd < 3; fd++)
		if (isatty(fd)) {
			r.tty = true;
			if (r.term_fd < 0)
				r.term_fd = fd;
		}
	if (geteuid() != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: spectrum run needs root (rootless mode is not built yet)",
			       plan->name);
	if (sp_vm_boot_prepare(plan->vm_kernel, &boot, err) < 0)
		goto out;
	if (sp_vm_accel(&boot, &kvm, why, sizeof why, err) < 0)
		goto out;
	if (sp_id_lease(plan->name, &lease, err) < 0)
		goto out;
	if (sp_janitor_lock(plan->id, &lock_fd, err) < 0)
		goto out;
	if (sp_cgroup_create(plan->id, &plan->limits, &cg, err) < 0)
		goto out;
	snprintf(rundir, sizeof rundir, "%s/" SP_RUNTIME_INSTANCES "/%s", store->run_dir, plan->name);
	share_dir = sp_vm_share_dir(store, plan->name);
	if (!share_dir) {
		sp_fail_errno(err, ENOMEM, "share directory");
		goto out;
	}
	{
		/* If the engine is killed, its janitor removes these too. */
		const char *const leftovers[] = { share_dir, rundir, NULL };
		if (sp_janitor_start_with(plan->id, leftovers, lock_fd, &jan, err) < 0)
			goto out;
	}
	if (sp_vm_shares_prepare(plan, store, lease.base, &shares, err) < 0)
		goto out;
	if (sp_vm_guest_plan(plan, &shares, r.tty, &gp, &gp_len, err) < 0)
		goto out;
	r.log = open_console_log(store, plan->name, logpath, sizeof logpath);
	if (r.log < 0) {
		sp_fail_errno(err, errno, "console log %s", logpath);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, con) < 0) {
		sp_fail_errno(err, errno, "socketpair");
		goto out;
	}
	r.ctl = ctl[0];
	r.con = con[0];
	/* QEMU's and virtiofsd's own messages: into the capped log too. */
	if (pipe2(errp, O_CLOEXEC) < 0 || fcntl(errp[0], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(r.ctl, F_SETFL, O_NONBLOCK) < 0) {
		sp_fail_errno(err, errno, "pipe");
		goto out;
	}
	r.errpipe = errp[0];

	r.sigfd = sp_relay_signals_block(&oldmask);
	/* A guest gone while we write to it is an EPIPE, not our death. */
	sigaction(SIGPIPE, &ign, &old_pipe);
	masked = true;
	if (r.sigfd < 0) {
		sp_fail_errno(err, errno, "signalfd");
		goto out;
	}

	r.shares = &shares;
	if (sp_vm_shares_start(&shares, plan, store, cg, errp[1], err) < 0)
		goto out;
	kernel_fd = open(boot.vmlinux, O_RDONLY | O_CLOEXEC);
	initrd_fd = open(boot.initramfs, O_RDONLY | O_CLOEXEC);
	if (kernel_fd < 0 || initrd_fd < 0) {
		sp_fail_errno(err, errno, "open %s", kernel_fd < 0 ? boot.vmlinux : boot.initramfs);
		goto out;
	}
	qc = (struct sp_qemu_config){
		.name = plan->name,
		.vmlinux = boot.vmlinux,
		.initramfs = boot.initramfs,
		.vmlinux_fd = kernel_fd,
		.initramfs_fd = initrd_fd,
		.memory = plan->vm_memory,
		.vcpus = plan->vm_vcpus,
		.kvm = kvm,
		.console_fd = con[1],
		.control_fd = ctl[1],
		.stderr_fd = errp[1],
		.shares = &shares,
		.uid = lease.base,
		.gid = lease.base,
	};
	if (sp_qemu_start(&qc, cg, &r.qemu, err) < 0)
		goto out;
	/* QEMU holds its ends now. */
	close(ctl[1]);
	close(con[1]);
	close(errp[1]);
	ctl[1] = con[1] = errp[1] = -1;
	for (size_t i = 0; i < shares.n; i++) {
		close(shares.v[i].qemu_fd);
		shares.v[i].qemu_fd = -1;
	}

	snprintf(pidfile, sizeof pidfile, "%s/" SP_RUNTIME_INSTANCES, store->run_dir);
	mkdir(pidfile, 0755);
	mkdir(rundir, 0755);
	snprintf(pidfile, sizeof pidfile, "%s/pid", rundir);
	r.pidfile = pidfile;

	/* The plan waits in the socket until the agent opens its port. */
	send_frame(&r, SP_FRAME_PLAN, gp, gp_len);
	send_winsize(&r);
	make_raw(&r);
	relay(&r);

	if (r.got_exit) {
		res->started = true;
		res->status = r.exit_status;
	} else if (r.error[0] && !r.ready && strncmp(r.error, "cannot run ", 11) == 0) {
		/* Like a container whose command cannot be executed. */
		snprintf(res->message, sizeof res->message, "%s", r.error);
		res->status = W_EXITCODE(127, 0);
	} else if (r.error[0]) {
		sp_fail(err, SP_ERR_RUNTIME, "%s (console: %s)", r.error, logpath);
		goto out;
	} else if (r.qemu_done && WIFSIGNALED(r.qemu_status)) {
		/* QEMU was killed (by the OOM killer, or from outside): that
		 * is the instance's fate, as for a container's PID 1. */
		res->started = r.ready;
		res->status = r.qemu_status;
		res->oom_killed = WTERMSIG(r.qemu_status) == SIGKILL && sp_cgroup_oom_killed(cg);
	} else {
		sp_fail(err, SP_ERR_RUNTIME, "the VM stopped before its command ended (QEMU exit status %d; console: %s)",
			r.qemu_done && WIFEXITED(r.qemu_status) ? WEXITSTATUS(r.qemu_status) : -1, logpath);
		goto out;
	}
	ret = 0;
out:
	if (r.raw) {
		tcsetattr(0, TCSANOW, &r.saved);
		sp_pty_watch_done(&r.tty_watch);
	}
	if (r.qemu > 0 && !r.qemu_done) {
		kill(r.qemu, SIGKILL);
		waitpid(r.qemu, NULL, 0);
	}
	sp_vm_shares_stop(&shares);
	if (r.pid_written)
		unlink(pidfile);
	if (r.pidfile)
		rmdir(rundir);
	if (cg)
		sp_cgroup_destroy(cg);
	sp_janitor_dismiss(&jan);
	if (lock_fd >= 0)
		close(lock_fd);
	sp_id_release(&lease);
	if (r.notify_fd >= 0 && opts && r.notify_fd == opts->notify_fd)
		close(r.notify_fd);
	if (r.sigfd >= 0)
		close(r.sigfd);
	if (masked) {
		sigaction(SIGPIPE, &old_pipe, NULL);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	}
	for (int i = 0; i < 2; i++) {
		if (ctl[i] >= 0)
			close(ctl[i]);
		if (con[i] >= 0)
			close(con[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(r.out.buf);
	if (r.log >= 0)
		close(r.log);
	if (kernel_fd >= 0)
		close(kernel_fd);
	if (initrd_fd >= 0)
		close(initrd_fd);
	sp_frame_reader_free(&r.frames);
	free(gp);
	free(share_dir);
	sp_vm_boot_free(&boot);
	return ret;
}

const struct sp_engine sp_vm_engine = {
	.name = "vm",
	.run = vm_run,
};
