/* The container engine, host side: leases ids, makes the cgroup, prepares
 * every host-derived mount as a detached descriptor, clones the instance
 * into its namespaces, and then relays its terminal and signals until it
 * ends.  The instance side is in child.c. */
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/nft.h"
#include "sandbox/cgroup.h"
#include "sandbox/child.h"
#include "sandbox/confine.h"
#include "sandbox/engine.h"
#include "sandbox/idmap.h"
#include "sandbox/idrange.h"
#include "sandbox/janitor.h"
#include "sandbox/mountpoint.h"
#include "sandbox/network.h"
#include "sandbox/pty.h"
#include "sandbox/relay.h"
#include "sandbox/report.h"
#include "sandbox/runtime.h"
#include "util/cleanup.h"

/* clone3's argument, as the kernel defines it (Debian 12's headers and
 * glibc's would clash). */
struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
};
#define SP_CLONE_INTO_CGROUP 0x200000000ULL

/* Clones the instance's PID 1 into its namespaces, and straight into its
 * v2 cgroup when there is one (no migration afterwards).  Returns like
 * fork(); *IN_CGROUP tells whether the cgroup was entered. */
static pid_t clone_instance(uint64_t flags, int cgroup_fd, bool *in_cgroup)
{
	*in_cgroup = false;
	if (cgroup_fd >= 0) {
		struct clone3_args a = {
			.flags = flags | SP_CLONE_INTO_CGROUP,
			.exit_signal = SIGCHLD,
			.cgroup = (uint64_t)cgroup_fd,
		};
		pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof a);
		if (pid >= 0) {
			*in_cgroup = true;
			return pid;
		}
		if (errno != ENOSYS && errno != E2BIG && errno != EINVAL)
			return -1;
	}
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
}

/* The instance's user namespace is created with the lease's host id as
 * its effective uid, which makes that id its owner: the kernel then
 * charges the instance's per-user counts (inotify instances, pending
 * signals, message queues) to it, not to root, whose own would otherwise
 * run out.  SECBIT_NO_SETUID_FIXUP keeps the effective capabilities
 * across the change, which clone3 into the cgroup needs. */
static int as_owner(uid_t owner, int *saved_bits, struct sp_err *err)
{
	*saved_bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (*saved_bits < 0 || prctl(PR_SET_SECUREBITS, *saved_bits | SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "securebits");
	if (setresuid((uid_t)-1, owner, (uid_t)-1) < 0)
		return sp_fail_errno(err, errno, "take the instance's owner id %u", (unsigned)owner);
	return 0;
}

static int back_to_root(int saved_bits, struct sp_err *err)
{
	if (setresuid((uid_t)-1, 0, (uid_t)-1) < 0 || prctl(PR_SET_SECUREBITS, saved_bits, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "return to root after clone");
	return 0;
}

struct prepared_set {
	struct sp_prepared *p;
	size_t n;
	int userns;
	int home;
};

static void prepared_free(struct prepared_set *s)
{
	for (size_t i = 0; s->p && i < s->n; i++)
		if (s->p[i].fd >= 0)
			close(s->p[i].fd);
	free(s->p);
	if (s->userns >= 0)
		close(s->userns);
	if (s->home >= 0)
		close(s->home);
}

static bool prepared_is_dir(const void *ctx, size_t i)
{
	return ((const struct prepared_set *)ctx)->p[i].is_dir;
}

static int prepare_mounts(const struct sp_plan *plan, const struct sp_store *store,
			  const struct sp_id_lease *lease, struct prepared_set *s, struct sp_err *err)
{
	const unsigned long long ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	const unsigned long long rw = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	uid_t inner = lease->base + plan->uid;
	gid_t inner_g = lease->base + plan->gid;

	s->n = plan->n_mounts;
	s->p = calloc(s->n, sizeof *s->p);
	if (!s->p)
		return sp_fail_errno(err, ENOMEM, "prepare mounts");
	for (size_t i = 0; i < s->n; i++)
		s->p[i].fd = -1;
	if (sp_idmap_userns(store->owner_uid, store->owner_gid, inner, inner_g, &s->userns, err) < 0)
		return -1;
	if (sp_store_home(store, plan->name, &s->home, err) < 0)
		return -1;

	for (size_t i = 0; i < s->n; i++) {
		const struct sp_mount *m = &plan->mounts[i];
		struct sp_prepared *p = &s->p[i];
		struct stat st;
		int gfd;

		switch (m->kind) {
		case SP_MNT_BIND:
		case SP_MNT_DEV:
			if (stat(m->source, &st) < 0) {
				if (m->optional) {
					p->skip = true;
					continue;
				}
				return sp_fail_errno(err, errno, "%s", m->source);
			}
			p->is_dir = S_ISDIR(st.st_mode);
			if (sp_detached_mount(AT_FDCWD, m->source, p->is_dir,
					      m->kind == SP_MNT_DEV ? MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC : SP_MUTATE_RO_SOFTWARE ? rw : ro,
					      -1, &p->fd, err) < 0)
				return sp_err_wrap(err, "%s", m->source);
			break;
		case SP_MNT_HOME:
			p->is_dir = true;
			if (sp_detached_mount(s->home, NULL, false, rw, s->userns, &p->fd, err) < 0)
				return sp_err_wrap(err, "home %s", m->source);
			break;
		case SP_MNT_GRANT:
			if (sp_store_open_grant(store, m->source, &gfd, &p->is_dir, err) < 0)
				return -1;
			if (sp_host_mount_point(plan, i, store, s->home, prepared_is_dir, s, p->is_dir, err) < 0) {
				close(gfd);
				return -1;
			}
			if (sp_detached_mount(gfd, NULL, false, m->readonly && !SP_MUTATE_RO_GRANTS ? ro : rw, s->userns, &p->fd, err) < 0) {
				close(gfd);
				return sp_err_wrap(err, "data grant %s", m->source);
			}
			close(gfd);
			break;
		case SP_MNT_TMPFS:
		case SP_MNT_PROC:
		case SP_MNT_DEVPTS:
		case SP_MNT_SYMLINK:
		case SP_MNT_FILE:
		case SP_MNT_MASK:
		case SP_MNT_RO_REMOUNT:
			break;
		}
	}
	return 0;
}

static int mkdir_one(const char *path, mode_t mode, struct sp_err *err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "create %s", path);
	return 0;
}

/* RUN_DIR/instances/NAME/: where the engine says the instance runs. */
static int runtime_dir(const struct sp_store *store, const struct sp_plan *plan, char *buf, size_t n,
		       struct sp_err *err)
{
	snprintf(buf, n, "%s/" SP_RUNTIME_INSTANCES, store->run_dir);
	if (mkdir_one(buf, 0755, err) < 0)
		return -1;
	snprintf(buf, n, "%s/" SP_RUNTIME_INSTANCES "/%s", store->run_dir, plan->name);
	return mkdir_one(buf, 0755, err);
}

static int write_map(pid_t pid, const char *file, unsigned base, struct sp_err *err)
{
	char path[64], map[64];
	cleanup_fd int fd = -1;
	int len;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	len = snprintf(map, sizeof map, "0 %u %u\n", base, SP_ID_RANGE);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, (size_t)len) != len)
		return sp_fail_errno(err, errno, "write %s", path);
	return 0;
}

struct relay {
	struct sp_relay io; /* first: the callbacks get it */
	const char *runtime; /* RUN/instances/NAME, or NULL */
	struct sp_engine_net *net;
	pid_t *pid_written;
	int notify_fd;
	pid_t child;
	int child_status;
	bool got_exit;
	struct sp_run_result *res;
	struct sp_err *err;
	char setup_error[1024];
};

/* The command runs: record PID 1's host pid for `exec` and `list`, and
 * tell a supervisor that waits for readiness. */
static void started(struct relay *r)
{
	char pidfile[4200];
	bool written = false;

	snprintf(pidfile, sizeof pidfile, "%s/pid", r->runtime ? r->runtime : "");
	sp_runtime_announce(r->runtime ? pidfile : NULL, r->child, &written, &r->notify_fd);
	if (written)
		*r->pid_written = r->child;
}

static void handle_report(struct sp_relay *io)
{
	struct relay *r = (struct relay *)io;
	struct sp_run_result *res = r->res;
	struct sp_report msg;
	int n = sp_report_recv(io->sock, &msg);

	if (n <= 0) {
		io->sock_eof = true;
		return;
	}
	switch (msg.type) {
	case SP_REPORT_ERROR:
		snprintf(r->setup_error, sizeof r->setup_error, "%s", msg.text);
		break;
	case SP_REPORT_STARTED:
		res->started = true;
		started(r);
		break;
	case SP_REPORT_MESSAGE:
		snprintf(res->message, sizeof res->message, "%s", msg.text);
		break;
	case SP_REPORT_EXIT:
		res->status = msg.status;
		r->got_exit = true;
		break;
	default:
		if (msg.fd >= 0)
			close(msg.fd);
	}
}

/* A client looks at its provider every second (network.h). */
static void handle_timer(struct sp_relay *io)
{
	struct relay *r = (struct relay *)io;

	if (!io->done)
		sp_engine_net_tick(r->net);
}

static void handle_signal(struct sp_relay *io, const struct signalfd_siginfo *si)
{
	struct relay *r = (struct relay *)io;

	if (si->ssi_signo == SIGCHLD) {
		int st;
		if (!io->done && waitpid(r->child, &st, WNOHANG) == r->child) {
			io->done = true;
			r->child_status = st;
		}
	} else if (!io->done) {
		kill(r->child, (int)si->ssi_signo);
	}
}

static int container_run(const struct sp_plan *plan, const struct sp_store *store, const struct sp_run_opts *opts,
			 struct sp_run_result *res, struct sp_err *err)
{
	struct sp_id_lease lease = { .lock_fd = -1 };
	struct sp_cgroup *cg = NULL;
	struct sp_janitor jan = { -1, -1 };
	struct prepared_set prep = { .userns = -1, .home = -1 };
	struct relay r = { .io = { .sock = -1, .sigfd = -1, .on_report = handle_report, .on_signal = handle_signal },
			   .child = -1 };
	char runtime[4096] = "";
	pid_t pid_written = 0;
	int sv[2] = { -1, -1 }, go[2] = { -1, -1 }, pty_slave = -1;
	sigset_t oldmask;
	bool masked = false, in_cgroup = false;
	int ret = -1, cgroup_fd, secbits = 0, lock_fd = -1;
	struct sp_engine_net net = { .plan = plan, .store = store, .janitor = &jan, .timer = -1 };
	const struct sp_janitor_hook net_hook = { sp_engine_net_down, &net };
	bool net_made = false;

	memset(res, 0, sizeof *res);
	sp_pty_detect(&r.io.pty);
	r.notify_fd = opts ? opts->notify_fd : -1;
	r.pid_written = &pid_written;
	if (geteuid() != 0)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: spectrum run needs root (rootless mode is not built yet)",
			       plan->name);
	if (sp_id_lease(plan->name, &lease, err) < 0)
		goto out;
	if (sp_janitor_lock(plan->id, &lock_fd, err) < 0)
		goto out;
	if (sp_cgroup_create(plan->id, &plan->limits, &cg, err) < 0)
		goto out;
	if (sp_janitor_start_hook(plan->id, NULL, lock_fd, &net_hook, &jan, err) < 0)
		goto out;
	if (prepare_mounts(plan, store, &lease, &prep, err) < 0)
		goto out;
	if (runtime_dir(store, plan, runtime, sizeof runtime, err) < 0)
		goto out;
	r.runtime = runtime;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(go, O_CLOEXEC) < 0) {
		sp_fail_errno(err, errno, "socketpair");
		goto out;
	}
	/* The pty is made here, on the host side (pty.h): the instance gets
	 * its slave, its master never leaves the engine. */
	if (sp_pty_wanted(&r.io.pty)) {
		int master;
		if (sp_pty_open_host(&master, &pty_slave, err) < 0 || sp_pty_attach(&r.io.pty, master, err) < 0)
			goto out;
	}

	r.io.sigfd = sp_relay_signals_block(&oldmask);
	masked = true;
	if (r.io.sigfd < 0) {
		sp_fail_errno(err, errno, "signalfd");
		goto out;
	}

	/* Room for the instance's open files limit, which PID 1 sets
	 * (child.c): inside its user namespace it can only lower it. */
	if (sp_confine_files_room(plan, err) < 0)
		goto out;
	cgroup_fd = sp_cgroup_v2_fd(cg);
	if (as_owner(lease.base, &secbits, err) < 0)
		goto out;
	r.child = clone_instance((CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
				  CLONE_NEWNET) & ~SP_MUTATE_NS_DROP,
				 cgroup_fd, &in_cgroup);
	if (r.child != 0 && back_to_root(secbits, err) < 0) {
		if (r.child > 0) {
			kill(r.child, SIGKILL);
			waitpid(r.child, NULL, 0);
		}
		goto out;
	}
	if (cgroup_fd >= 0)
		close(cgroup_fd);
	if (r.child < 0) {
		sp_fail_errno(err, errno, "clone the instance's namespaces");
		goto out;
	}
	if (r.child == 0) {
		struct sp_child_args a = {
			.plan = plan,
			.prepared = prep.p,
			.report = sv[1],
			.go = go[0],
			.pty_slave = pty_slave,
		};
		memcpy(a.tty, r.io.pty.tty, sizeof a.tty);
		close(sv[0]);
		close(go[1]);
		sp_child_main(&a);
	}
	/* From here on the network may be partly made: it is removed at the
	 * end, whatever happens (removal of what is not there is no error). */
	net_made = true;
	net.child = r.child;
	net.host_gid = lease.base + plan->gid;
	close(sv[1]);
	sv[1] = -1;
	if (pty_slave >= 0)
		close(pty_slave);
	pty_slave = -1;
	close(go[0]);
	go[0] = -1;
	r.io.sock = sv[0];

	/* Two steps: the id maps let the child set up its filesystem; the
	 * v1 cgroups (whose cgroup.procs write waits for an RCU grace
	 * period, milliseconds) are joined meanwhile, and the child waits
	 * for that before anything of the instance's own can run. */
	sp_err_clear(err);
	if (write_map(r.child, "uid_map", lease.base, err) < 0 ||
	    write_map(r.child, "gid_map", lease.base, err) < 0 || write(go[1], "g", 1) != 1 ||
	    sp_cgroup_attach(cg, r.child, in_cgroup, err) < 0 || sp_engine_net_up(&net, err) < 0 ||
	    write(go[1], "a", 1) != 1) {
		if (!err->msg[0])
			sp_fail_errno(err, errno, "start the instance");
		kill(r.child, SIGKILL);
		waitpid(r.child, NULL, 0);
		goto out;
	}
	close(go[1]);
	go[1] = -1;
	/* The descriptors now live in the child's mount namespace. */
	prepared_free(&prep);
	prep = (struct prepared_set){ .userns = -1, .home = -1 };

	r.res = res;
	r.err = err;
	r.net = &net;
	r.io.extra_fd = sp_engine_net_timer(&net);
	if (r.io.extra_fd >= 0)
		r.io.on_extra = handle_timer;
	sp_relay_loop(&r.io);
	if (r.setup_error[0]) {
		sp_fail(err, SP_ERR_RUNTIME, "%s", r.setup_error);
		goto out;
	}
	if (!r.got_exit) {
		/* PID 1 died before reporting: it was killed (the OOM killer
		 * or SIGKILL from outside); that is the instance's fate. */
		res->status = r.child_status;
	}
	res->oom_killed = WIFSIGNALED(res->status) && WTERMSIG(res->status) == SIGKILL &&
			  sp_cgroup_oom_killed(cg);
	ret = 0;
out:
	sp_engine_net_close(&net);
	if (net_made)
		sp_engine_net_down(&net);
	if (pid_written) {
		char pidfile[4200];
		snprintf(pidfile, sizeof pidfile, "%s/pid", runtime);
		unlink(pidfile);
	}
	if (runtime[0])
		rmdir(runtime); /* fails while something else is in it: fine */
	if (r.notify_fd >= 0 && opts && r.notify_fd == opts->notify_fd)
		close(r.notify_fd);
	sp_pty_restore(&r.io.pty); /* closes the master */
	if (pty_slave >= 0)
		close(pty_slave);
	if (r.io.sigfd >= 0)
		close(r.io.sigfd);
	if (masked)
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (go[i] >= 0)
			close(go[i]);
	}
	prepared_free(&prep);
	sp_nft_settle();
	sp_cgroup_destroy(cg);
	sp_janitor_dismiss(&jan);
	if (lock_fd >= 0)
		close(lock_fd);
	sp_id_release(&lease);
	return ret;
}

const struct sp_engine sp_container_engine = {
	.name = "container",
	.run = container_run,
};
