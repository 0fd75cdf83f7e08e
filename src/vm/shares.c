#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <linux/securebits.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/idmap.h"
#include "sandbox/idrange.h"
#include "sandbox/mountpoint.h"
#include "sandbox/seccomp.h"
#include "util/rmtree.h"
#include "util/strv.h"
#include "vm/shares.h"

/* Where the virtiofsd side mounts its export, inside its own mount
 * namespace only (over /run there, which hides the host's). */
#define EXPORT_BASE "/run"
#define EXPORT_DIR "/run/export"
#define VIRTIOFSD_DEBIAN "/usr/lib/qemu/virtiofsd"
/* The descriptor number virtiofsd is told its listening socket has. */
#define VIRTIOFSD_FD 3

const char *sp_virtiofsd_path(void)
{
	const char *p = getenv("SPECTRUM_VIRTIOFSD");

	return p && p[0] == '/' ? p : VIRTIOFSD_DEBIAN;
}

static struct sp_vm_share *add_share(struct sp_vm_shares *s, const char *tag, const char *guest_path,
				     bool readonly, struct sp_err *err)
{
	struct sp_vm_share *v = realloc(s->v, (s->n + 1) * sizeof *v), *sh;

	if (!v) {
		sp_fail_errno(err, ENOMEM, "shares");
		return NULL;
	}
	s->v = v;
	sh = &v[s->n];
	memset(sh, 0, sizeof *sh);
	sh->export_fd = sh->qemu_fd = -1;
	snprintf(sh->tag, sizeof sh->tag, "%.39s", tag);
	sh->readonly = readonly;
	sh->guest_path = strdup(guest_path);
	if (!sh->guest_path) {
		sp_fail_errno(err, ENOMEM, "shares");
		return NULL;
	}
	s->n++;
	return sh;
}

/* A VM's grants are directories (virtiofs exports directories). */
static bool all_dirs(const void *ctx, size_t i)
{
	(void)ctx;
	(void)i;
	return true;
}

char *sp_vm_share_dir(const struct sp_store *store, const char *name)
{
	return sp_printf("%s/shares/%s", store->run_dir, name);
}

size_t sp_vm_share_describe(const struct sp_plan *plan, struct sp_vm_share_desc *out, size_t max)
{
	unsigned ngrant = 0;
	size_t n = 0;

	if (n < max)
		out[n++] = (struct sp_vm_share_desc){ SP_VM_SHARE_ROOT, "/", true, -1 };
	for (size_t i = 0; i < plan->n_mounts && n + 1 < max; i++) {
		const struct sp_mount *m = &plan->mounts[i];

		if (m->kind == SP_MNT_HOME) {
			out[n++] = (struct sp_vm_share_desc){ "home", m->target, false, (long)i };
		} else if (m->kind == SP_MNT_GRANT) {
			out[n] = (struct sp_vm_share_desc){ "", m->target, m->readonly, (long)i };
			snprintf(out[n].tag, sizeof out[n].tag, "data%u", ngrant++);
			n++;
		}
	}
	if (n < max)
		/* Read-only for the guest: what the host puts there is for
		 * it to read; writing is what grants are for (and a writable
		 * share would let a guest fill the host's /run). */
		out[n++] = (struct sp_vm_share_desc){ "share", SP_VM_SHARE_GUEST_PATH, true, -1 };
	return n;
}

static int open_share_dir(const struct sp_store *store, struct sp_vm_shares *s, int *fd, struct sp_err *err)
{
	char *parent = sp_printf("%s/shares", store->run_dir);

	s->share_dir = sp_vm_share_dir(store, s->name);
	if (!parent || !s->share_dir) {
		free(parent);
		return sp_fail_errno(err, ENOMEM, "share directory");
	}
	if (mkdir(parent, 0755) < 0 && errno != EEXIST) {
		sp_fail_errno(err, errno, "create %s", parent);
		free(parent);
		return -1;
	}
	free(parent);
	/* Left by an engine that was killed: it starts empty again. */
	sp_rmtree(AT_FDCWD, s->share_dir);
	if (mkdir(s->share_dir, 0700) < 0)
		return sp_fail_errno(err, errno, "create %s", s->share_dir);
	*fd = open(s->share_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return *fd < 0 ? sp_fail_errno(err, errno, "open %s", s->share_dir) : 0;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The user namespace every virtiofsd of the instance runs in: its ids 0
 * to SP_ID_RANGE - 2 are the host's BASE and up, a part of the
 * instance's leased range that QEMU's id (the range's first) is not in.
 * Held open by descriptor; the process that made it is gone. */
static int server_userns(uid_t base, int *fd, struct sp_err *err)
{
	char path[64], map[64];
	int sync[2], ret = -1;
	pid_t pid;
	char c;

	if (pipe2(sync, O_CLOEXEC) < 0)
		return sp_fail_errno(err, errno, "pipe");
	pid = fork();
	if (pid == 0) {
		/* Says it is in, then waits to be killed. */
		close(sync[0]);
		if (unshare(CLONE_NEWUSER) < 0 || write(sync[1], "u", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(sync[1]);
	if (pid < 0) {
		close(sync[0]);
		return sp_fail_errno(err, errno, "fork");
	}
	if (read(sync[0], &c, 1) != 1) {
		sp_fail(err, SP_ERR_RUNTIME, "the user namespace for virtiofsd could not be made");
		goto out;
	}
	snprintf(map, sizeof map, "0 %u %u\n", (unsigned)base, SP_ID_RANGE - 1);
	snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
	if (write_text(path, map) < 0) {
		sp_fail_errno(err, errno, "write %s", path);
		goto out;
	}
	snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
	if (write_text(path, map) < 0) {
		sp_fail_errno(err, errno, "write %s", path);
		goto out;
	}
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		sp_fail_errno(err, errno, "open %s", path);
		goto out;
	}
	ret = 0;
out:
	close(sync[0]);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return ret;
}

int sp_vm_shares_prepare(const struct sp_plan *plan, const struct sp_store *store, uid_t id_base,
			 struct sp_vm_shares *s, struct sp_err *err)
{
	const unsigned long long ro = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	const unsigned long long rw = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	struct sp_vm_share_desc desc[SP_VM_SHARES_MAX];
	size_t nd = sp_vm_share_describe(plan, desc, SP_VM_SHARES_MAX);
	int userns = -1, home = -1, ret = -1, src;

	memset(s, 0, sizeof *s);
	s->name = plan->name;
	s->userns_fd = -1;
	s->server_base = id_base + SP_VM_SERVER_ID_OFFSET;
	if (server_userns(s->server_base, &s->userns_fd, err) < 0)
		goto out;
	/* The guest's user is uid/gid PLAN->uid in virtiofsd's user
	 * namespace (host ids SERVER_BASE + uid): the store's owner appears
	 * as it, and what it writes lands owned by the store's owner. */
	if (sp_idmap_userns(store->owner_uid, store->owner_gid, s->server_base + plan->uid,
			    s->server_base + plan->gid, &userns, err) < 0)
		goto out;
	if (sp_store_home(store, plan->name, &home, err) < 0)
		goto out;
	for (size_t k = 0; k < nd; k++) {
		const struct sp_mount *m = desc[k].mount >= 0 ? &plan->mounts[desc[k].mount] : NULL;
		struct sp_vm_share *sh = add_share(s, desc[k].tag, desc[k].guest_path, desc[k].readonly, err);
		bool dir = true;

		if (!sh)
			goto out;
		if (strcmp(desc[k].tag, SP_VM_SHARE_ROOT) == 0)
			continue; /* assembled by its virtiofsd's side */
		src = -1;
		if (!m) {
			if (open_share_dir(store, s, &src, err) < 0)
				goto out;
		} else if (m->kind == SP_MNT_HOME) {
			src = fcntl(home, F_DUPFD_CLOEXEC, 0);
			if (src < 0) {
				sp_fail_errno(err, errno, "dup");
				goto out;
			}
		} else {
			if (sp_store_open_grant(store, m->source, &src, &dir, err) < 0)
				goto out;
			if (!dir) {
				close(src);
				sp_fail(err, SP_ERR_USAGE,
					"data grant %s: a VM instance can only be granted directories (virtiofs exports a directory)",
					m->source);
				goto out;
			}
			if (sp_host_mount_point(plan, (size_t)desc[k].mount, store, home, all_dirs, NULL, true, err) < 0) {
				close(src);
				goto out;
			}
		}
		if (sp_detached_mount(src, NULL, false, desc[k].readonly ? ro : rw, userns, &sh->export_fd, err) < 0) {
			close(src);
			sp_err_wrap(err, "%s %s", m ? (m->kind == SP_MNT_HOME ? "home" : "data grant") : "share directory",
				    m ? m->source : s->share_dir);
			goto out;
		}
		close(src);
	}
	ret = 0;
out:
	if (userns >= 0)
		close(userns);
	if (home >= 0)
		close(home);
	if (ret < 0)
		sp_vm_shares_stop(s);
	return ret;
}

/* ---- the virtiofsd side, after fork: exits on any failure ---- */

static void die(const char *what)
{
	dprintf(2, "spectrum: virtiofsd setup: %s: %s\n", what, strerror(errno));
	_exit(127);
}

static void mkdirs(const char *path)
{
	char buf[4200];

	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			die(buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		die(buf);
}

static void parent_of(const char *path, char *out, size_t n)
{
	char *slash;

	snprintf(out, n, "%s", path);
	slash = strrchr(out, '/');
	if (slash && slash != out)
		*slash = '\0';
}

/* The instance's view minus home and grants, as the container engine
 * builds it, on a tmpfs that is made read-only at the end.  What the
 * guest kernel gives itself (/proc, /dev, /sys) is left out; /dev's
 * symlinks are made by the agent. */
static void assemble_root(const struct sp_plan *plan)
{
	struct sp_err e;
	char dst[4200], dir[4200];
	struct stat st;
	int fd;

	if (mount("tmpfs", EXPORT_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m") < 0)
		die("mount the root tmpfs");
	for (const char *const *d = (const char *const[]){ "/proc", "/sys", "/dev", "/tmp", SP_VM_SHARE_GUEST_PATH, NULL };
	     *d; d++) {
		snprintf(dst, sizeof dst, EXPORT_DIR "%s", *d);
		mkdirs(dst);
	}
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sp_mount *m = &plan->mounts[i];
		const char *rest;

		if (strcmp(m->target, "/") == 0 || sp_path_beneath(m->target, "/dev", &rest) || strcmp(m->target, "/dev") == 0 ||
		    sp_path_beneath(m->target, "/proc", &rest))
			continue;
		snprintf(dst, sizeof dst, EXPORT_DIR "%s", m->target);
		parent_of(dst, dir, sizeof dir);
		switch (m->kind) {
		case SP_MNT_BIND:
			if (stat(m->source, &st) < 0) {
				if (m->optional)
					continue;
				die(m->source);
			}
			if (S_ISDIR(st.st_mode)) {
				mkdirs(dst);
			} else {
				mkdirs(dir);
				fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
				if (fd < 0)
					die(dst);
				close(fd);
			}
			/* Read-only, nosuid, nodev all the way down: a mount
			 * beneath /usr keeps no write access.  Not idmapped:
			 * virtiofsd, in its own user namespace, sees the host's
			 * files as unmapped ids (the guest sees nobody:nogroup)
			 * and reads them through their "other" permissions. */
			if (sp_detached_mount(AT_FDCWD, m->source, true,
					      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, -1, &fd, &e) < 0 ||
			    syscall(SYS_move_mount, fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
				die(m->source);
			close(fd);
			break;
		case SP_MNT_SYMLINK:
			mkdirs(dir);
			if (symlink(m->source, dst) < 0 && errno != EEXIST)
				die(dst);
			break;
		case SP_MNT_FILE: {
			size_t len = strlen(m->source);
			mkdirs(dir);
			fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd < 0 || write(fd, m->source, len) != (ssize_t)len)
				die(dst);
			close(fd);
			break;
		}
		case SP_MNT_TMPFS:
		case SP_MNT_HOME:
		case SP_MNT_GRANT:
			/* A mount point; one inside home or a grant was made
			 * on disk by the host, and is skipped here. */
			if (!sp_path_beneath(m->target, SP_INNER_HOME, &rest) || m->kind == SP_MNT_HOME)
				mkdirs(dst);
			break;
		default:
			break;
		}
	}
	if (mount(NULL, EXPORT_DIR, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		die("make the root read-only");
}

/* From host root to the instance's virtiofsd namespace (host ids
 * SERVER_BASE and up, no capability outside it).  The mounts made so far
 * are copied into a mount namespace it owns, where the kernel locks them
 * (read-only, nosuid, nodev stay; nothing beneath is revealed):
 * virtiofsd's own sandbox (a pid, mount and net namespace, pivot_root into
 * the export) then runs on those capabilities of the namespace only.
 *
 * Not as the namespace's uid 0 but as the guest's user (UID, GID), with
 * every capability of the namespace kept through the exec (ambient): the
 * calls virtiofsd makes under its own ids (rename, link) then run as the
 * ids that the idmapped exports give the store's owner.  As uid 0 of the
 * namespace, which no export maps, each failed with EOVERFLOW.  The ids
 * virtiofsd takes for a guest's request (another guest uid) still map to
 * nothing, so those still fail.  SECBIT_NO_SETUID_FIXUP: those switches
 * of its effective uid leave its capabilities as they are. */
static void enter_userns(int userns_fd, uid_t uid, gid_t gid)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (setns(userns_fd, CLONE_NEWUSER) < 0)
		die("enter the user namespace");
	if (unshare(CLONE_NEWNS) < 0)
		die("a mount namespace of the user namespace");
	if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		die("become the guest's user in the user namespace");
	/* Inheritable = permitted, then every one ambient. */
	if (syscall(SYS_capget, &hdr, data) < 0)
		die("capget");
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		data[i].inheritable = data[i].permitted;
	if (syscall(SYS_capset, &hdr, data) < 0)
		die("capset");
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EINVAL)
			die("raise the ambient capabilities");
	/* The id change cleared it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
		_exit(127);
}

/* No user namespace made by virtiofsd, as none by a container's command:
 * one would hold every capability over namespaces of its own, which is
 * the kernel surface a guest that took virtiofsd over would go for next
 * (virtiofsd's own filter lets clone and unshare through, for its
 * threads).  clone3 hides its flags from seccomp: ENOSYS, and glibc falls
 * back to clone. */
static int refuse_userns(struct sp_err *err)
{
	const struct scmp_arg_cmp newuser = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER);
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc;

	if (ctx == NULL)
		return sp_fail(err, SP_ERR_RUNTIME, "seccomp_init failed");
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1, newuser);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, newuser);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc < 0 ? sp_fail_errno(err, -rc, "load the seccomp filter against user namespaces") : 0;
}

static void virtiofsd_child(const struct sp_vm_share *sh, const struct sp_plan *plan, int userns_fd, int listen_fd,
			    int go, int log_fd)
{
	char fdarg[32], cache[32];
	char c;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
		_exit(127);
	sigset_t none;
	int null;

	if (read(go, &c, 1) != 1)
		_exit(127);
	/* Not the engine's blocked signals, stdin or stdout (a caller
	 * reading the engine's output must see it end with the engine). */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid(); /* as QEMU (qemu.c): signals to the engine's group are not ours */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		_exit(127);
	if (log_fd >= 0 && dup2(log_fd, 2) < 0)
		_exit(127);
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("private mount namespace");
	/* 0711: virtiofsd, privileged in its own user namespace only,
	 * passes through to the export but reads nothing else here. */
	if (mount("tmpfs", EXPORT_BASE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0711,size=64k") < 0 ||
	    mkdir(EXPORT_DIR, 0755) < 0)
		die("mount " EXPORT_BASE);
	if (sh->export_fd < 0) {
		assemble_root(plan);
	} else if (syscall(SYS_move_mount, sh->export_fd, "", AT_FDCWD, EXPORT_DIR, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		die("attach the export");
	}
	enter_userns(userns_fd, plan->uid, plan->gid);
	if (dup2(listen_fd, VIRTIOFSD_FD) < 0)
		die("dup2");
	/* Nothing else of the engine's (its caller's descriptors, the
	 * readiness pipe, the store). */
	syscall(SYS_close_range, VIRTIOFSD_FD + 1, ~0U, 0);
	{
		struct sp_err e;
		if (sp_seccomp_apply_file_server(&e) < 0 || refuse_userns(&e) < 0) {
			dprintf(2, "spectrum: virtiofsd setup: %s\n", e.msg);
			_exit(127);
		}
	}
	snprintf(fdarg, sizeof fdarg, "--fd=%d", VIRTIOFSD_FD);
	/* The root share (software, generated /etc) does not change while
	 * the guest runs: it may cache it all.  A read-only grant may still
	 * change on the host. */
	snprintf(cache, sizeof cache, "cache=%s", sh->export_fd < 0 ? "always" : "auto");
	/* --rlimit-nofile=0: raising the limit is not the namespace's to do. */
	execve(sp_virtiofsd_path(),
	       (char *const[]){ "virtiofsd", fdarg, "-o", "source=" EXPORT_DIR, "-o", cache, "-o", "sandbox=namespace",
				"-o", "log_level=err", "--rlimit-nofile=0", NULL },
	       (char *const[]){ "PATH=/usr/bin:/bin", NULL });
	die(sp_virtiofsd_path());
}

/* A listening socket for virtiofsd and the end QEMU gets, already
 * connected: the path exists only between bind and unlink, in a
 * directory only root can enter. */
static int socket_pair(const char *dir, const char *tag, int *listen_fd, int *client_fd, struct sp_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int l = -1, c = -1;

	if ((size_t)snprintf(a.sun_path, sizeof a.sun_path, "%s/.fs-%d-%s", dir, (int)getpid(), tag) >=
	    sizeof a.sun_path)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: the run directory's path is too long for a socket", dir);
	unlink(a.sun_path);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		unlink(a.sun_path);
		if (l >= 0)
			close(l);
		if (c >= 0)
			close(c);
		return sp_fail_errno(err, e, "vhost-user socket %s", a.sun_path);
	}
	unlink(a.sun_path);
	*listen_fd = l;
	*client_fd = c;
	return 0;
}

int sp_vm_shares_start(struct sp_vm_shares *s, const struct sp_plan *plan, const struct sp_store *store,
		       struct sp_cgroup *cg, int log_fd, struct sp_err *err)
{
	char *dir = sp_printf("%s/vm", store->run_dir);
	int ret = -1;

	if (!dir)
		return sp_fail_errno(err, ENOMEM, "run directory");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		sp_fail_errno(err, errno, "create %s", dir);
		goto out;
	}
	for (size_t i = 0; i < s->n; i++) {
		struct sp_vm_share *sh = &s->v[i];
		int l = -1, go[2];
		pid_t pid;

		if (socket_pair(dir, sh->tag, &l, &sh->qemu_fd, err) < 0)
			goto out;
		if (pipe2(go, O_CLOEXEC) < 0) {
			close(l);
			sp_fail_errno(err, errno, "pipe");
			goto out;
		}
		pid = fork();
		if (pid == 0)
			virtiofsd_child(sh, plan, s->userns_fd, l, go[0], log_fd);
		close(l);
		close(go[0]);
		if (pid < 0) {
			close(go[1]);
			sp_fail_errno(err, errno, "fork virtiofsd");
			goto out;
		}
		sh->pid = pid;
		if (sp_cgroup_attach(cg, pid, false, err) < 0 || write(go[1], "g", 1) != 1) {
			close(go[1]);
			sp_err_wrap(err, "virtiofsd for %s", sh->tag);
			goto out;
		}
		close(go[1]);
		/* The export is in the child's mount namespace now. */
		if (sh->export_fd >= 0) {
			close(sh->export_fd);
			sh->export_fd = -1;
		}
	}
	ret = 0;
out:
	free(dir);
	return ret;
}

void sp_vm_shares_stop(struct sp_vm_shares *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct sp_vm_share *sh = &s->v[i];
		if (sh->pid > 0) {
			kill(sh->pid, SIGKILL);
			waitpid(sh->pid, NULL, 0);
		}
		if (sh->export_fd >= 0)
			close(sh->export_fd);
		if (sh->qemu_fd >= 0)
			close(sh->qemu_fd);
		free(sh->guest_path);
	}
	free(s->v);
	if (s->userns_fd > 0)
		close(s->userns_fd);
	if (s->share_dir)
		sp_rmtree(AT_FDCWD, s->share_dir);
	free(s->share_dir);
	memset(s, 0, sizeof *s);
}
