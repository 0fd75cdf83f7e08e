/* The seccomp filter of a container instance (DESIGN.md, "Confinement of a
 * container instance").  A deny list on top of the other layers: the user
 * namespace and the empty capability sets already stop most of what is
 * listed; the filter closes kernel surfaces that stay reachable without
 * privilege (keyrings, bpf, userfaultfd, io_uring, new namespaces, TIOCSTI)
 * and the non-native syscall ABIs, whose numbers a native deny list does
 * not see. */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>

#include "util/cleanup.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef AF_NETLINK
#define AF_NETLINK 16
#endif

/* The first N_PLAIN entries are syscalls denied outright with EPERM; their
 * `what` is the syscall name, so this table is both what `inspect` shows and
 * what sp_seccomp_apply() loads.  The entries after them describe the rules
 * built by hand below, in the same order. */
#define N_PLAIN 52

static const struct sp_seccomp_rule_desc rules[] = {
	{ "keyctl", "kernel keyrings are not namespaced" },
	{ "add_key", "kernel keyrings are not namespaced" },
	{ "request_key", "kernel keyrings are not namespaced" },
	{ "bpf", "large kernel attack surface" },
	{ "perf_event_open", "observes other processes, kernel attack surface" },
	{ "userfaultfd", "used to widen kernel race windows" },
	{ "kexec_load", "replaces the kernel" },
	{ "kexec_file_load", "replaces the kernel" },
	{ "init_module", "loads kernel code" },
	{ "finit_module", "loads kernel code" },
	{ "delete_module", "unloads kernel code" },
	{ "mount", "the instance's view of files is fixed" },
	{ "umount2", "the instance's view of files is fixed" },
	{ "pivot_root", "the instance's view of files is fixed" },
	{ "move_mount", "the instance's view of files is fixed" },
	{ "open_tree", "the instance's view of files is fixed" },
	{ "fsopen", "the instance's view of files is fixed" },
	{ "fsmount", "the instance's view of files is fixed" },
	{ "fsconfig", "the instance's view of files is fixed" },
	{ "fspick", "the instance's view of files is fixed" },
	{ "mount_setattr", "the instance's view of files is fixed" },
	{ "chroot", "the instance's view of files is fixed" },
	{ "unshare", "no new namespaces: user namespaces expose kernel attack surface" },
	{ "setns", "no joining other namespaces" },
	{ "swapon", "host-wide memory setting" },
	{ "swapoff", "host-wide memory setting" },
	{ "reboot", "host-wide" },
	{ "settimeofday", "the clock is the host's" },
	{ "clock_settime", "the clock is the host's" },
	{ "clock_adjtime", "the clock is the host's" },
	{ "adjtimex", "the clock is the host's" },
	{ "io_uring_setup", "bypasses seccomp, large kernel attack surface" },
	{ "io_uring_enter", "bypasses seccomp, large kernel attack surface" },
	{ "io_uring_register", "bypasses seccomp, large kernel attack surface" },
	{ "open_by_handle_at", "opens files outside the mount namespace" },
	{ "name_to_handle_at", "pairs with open_by_handle_at" },
	{ "quotactl", "host-wide filesystem setting" },
	{ "acct", "host-wide process accounting" },
	{ "lookup_dcookie", "kernel profiling interface" },
	{ "vhangup", "hangs up the terminal of others" },
	{ "uselib", "obsolete loader interface" },
	{ "ustat", "obsolete, leaks host filesystem data" },
	{ "sysfs", "obsolete, leaks host filesystem data" },
	{ "_sysctl", "obsolete host-wide settings" },
	{ "syslog", "reads the kernel log" },
	{ "iopl", "raw hardware port access" },
	{ "ioperm", "raw hardware port access" },
	{ "nfsservctl", "obsolete NFS server control" },
	{ "fanotify_init", "watches the whole filesystem" },
	{ "vm86", "legacy x86 mode" },
	{ "vm86old", "legacy x86 mode" },
	{ "modify_ldt", "legacy x86 segments, kernel attack surface" },
	/* Rules built by hand in add_special_rules(), in this order. */
	{ "clone(CLONE_NEWNS|NEWUSER|NEWPID|NEWNET|NEWIPC|NEWUTS|NEWCGROUP|NEWTIME)",
	  "no new namespaces (EPERM)" },
	{ "clone3", "ENOSYS: its flags are out of seccomp's reach; libc falls back to clone" },
	{ "ioctl(TIOCSTI)", "injects input into the terminal" },
	{ "ioctl(TIOCLINUX)", "injects input into the console" },
	{ "personality(!= PER_LINUX)", "execution domains and flags such as ADDR_NO_RANDOMIZE" },
	{ "socket(family not unix, inet, inet6, netlink)",
	  "EAFNOSUPPORT: packet, vsock, bluetooth... expose kernel attack surface" },
	{ "chmod/fchmod/fchmodat/fchmodat2(S_ISUID or S_ISGID)",
	  "the store is owned by its owner on disk: no setuid or setgid file may land there" },
	{ "open/openat/creat/mknod/mknodat(mode with S_ISUID or S_ISGID)", "the same, at creation" },
	{ "openat2", "ENOSYS: its mode is out of seccomp's reach; libc falls back to openat" },
	{ "quotactl_fd", "host-wide filesystem setting" },
	{ "ioctl(TIOCSETD)", "line disciplines: module autoloading, kernel attack surface" },
	{ "i386 and x32 syscalls", "ENOSYS: a deny list sees only native numbers" },
};

_Static_assert(sizeof rules / sizeof rules[0] == N_PLAIN + 12,
	       "rules[] and add_special_rules() disagree");

const struct sp_seccomp_rule_desc *sp_seccomp_rules(size_t *n)
{
	*n = sizeof rules / sizeof rules[0];
	return rules;
}

/* Resolves NAME for the native arch.  Returns 0 and sets *nr, or 1 when
 * libseccomp does not know the name at all (a syscall of another arch or a
 * newer kernel): nothing to deny then.  A name libseccomp knows but the
 * native arch lacks resolves to a negative pseudo number, which
 * seccomp_rule_add() accepts and ignores. */
static int resolve(const char *name, int *nr)
{
	*nr = seccomp_syscall_resolve_name(name);
	return *nr == __NR_SCMP_ERROR ? 1 : 0;
}

/* libseccomp's SCMP_A0() leaves datum_b unset for one-datum operators,
 * which clang's -Wmissing-field-initializers rejects. */
static struct scmp_arg_cmp cmp(unsigned arg, enum scmp_compare op,
			       uint64_t a, uint64_t b)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a, .datum_b = b };
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
		    unsigned n_args, const struct scmp_arg_cmp *args,
		    struct sp_err *err)
{
	int nr, rc;

	if (resolve(name, &nr) != 0)
		return 0;
	rc = seccomp_rule_add_array(ctx, action, nr, n_args, args);
	if (rc < 0)
		return sp_fail_errno(err, -rc, "add seccomp rule for %s", name);
	return 0;
}

static int add_clone_rules(scmp_filter_ctx ctx, struct sp_err *err)
{
	/* One rule per flag: a MASKED_EQ on the flag bit matches whatever
	 * else is set, where one rule with the flags ORed would only match
	 * when all are set at once. */
	static const uint64_t ns_flags[] = {
		CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
		CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWTIME,
	};

	for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++) {
		struct scmp_arg_cmp a = cmp(0, SCMP_CMP_MASKED_EQ, ns_flags[i],
					    ns_flags[i]);

		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &a, err) < 0)
			return -1;
	}
	/* clone3 passes its flags in memory, which seccomp cannot read.
	 * ENOSYS makes glibc fall back to clone, whose flags it can. */
	return add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
}

static int add_ioctl_rules(scmp_filter_ctx ctx, struct sp_err *err)
{
	/* The kernel takes the request as an unsigned int: compare only the
	 * low 32 bits, or garbage in the upper half would slip through. */
	static const uint64_t reqs[] = { TIOCSTI, TIOCLINUX, TIOCSETD };

	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		struct scmp_arg_cmp a = cmp(1, SCMP_CMP_MASKED_EQ, 0xffffffffu,
					    reqs[i]);

		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &a, err) < 0)
			return -1;
	}
	return 0;
}

static int add_socket_rules(scmp_filter_ctx ctx, struct sp_err *err)
{
	/* An allow list expressed as denials, since the default action is
	 * ALLOW: every family below AF_NETLINK but the three kept, and
	 * everything above it.  The comparison is on all 64 bits, so a value
	 * with upper bits set is above 16 and refused: it fails closed. */
	struct scmp_arg_cmp above = cmp(0, SCMP_CMP_GT, AF_NETLINK, 0);
	uint32_t action = SCMP_ACT_ERRNO(EAFNOSUPPORT);

	for (uint64_t family = 0; family < AF_NETLINK; family++) {
		struct scmp_arg_cmp a = cmp(0, SCMP_CMP_EQ, family, 0);

		if (family == AF_UNIX || family == AF_INET || family == AF_INET6)
			continue;
		if (add_rule(ctx, action, "socket", 1, &a, err) < 0)
			return -1;
	}
	return add_rule(ctx, action, "socket", 1, &above, err);
}

/* Syscalls newer than what Debian 12's libseccomp knows by name, by their
 * x86_64 numbers: an unknown name would otherwise be skipped, and the
 * default action is to allow. */
#define NR_QUOTACTL_FD 443
#define NR_FCHMODAT2 452

static int add_rule_nr(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n_args,
		       const struct scmp_arg_cmp *args, const char *what, struct sp_err *err)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, n_args, args);

	if (rc < 0)
		return sp_fail_errno(err, -rc, "add seccomp rule for %s", what);
	return 0;
}

/* Files written through the idmapped store are owned by the store's
 * owner (root) on disk: a setuid or setgid bit set from inside would be a
 * root-owned setuid program on the host, whatever the nosuid of the
 * instance's own mounts.  Refused wherever a mode is given: chmod and
 * every call that creates a file. */
static int add_mode_rules(scmp_filter_ctx ctx, struct sp_err *err)
{
	static const struct {
		const char *name;
		int nr; /* used when name is NULL */
		unsigned mode_arg;
	} calls[] = {
		{ "chmod", 0, 1 },   { "fchmod", 0, 1 },  { "fchmodat", 0, 2 }, { NULL, NR_FCHMODAT2, 2 },
		{ "open", 0, 2 },    { "openat", 0, 3 },  { "creat", 0, 1 },    { "mknod", 0, 1 },
		{ "mknodat", 0, 2 },
	};
	static const uint64_t bits[] = { S_ISUID, S_ISGID };

	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		for (size_t b = 0; b < sizeof bits / sizeof bits[0]; b++) {
			struct scmp_arg_cmp a = cmp(calls[i].mode_arg, SCMP_CMP_MASKED_EQ, bits[b], bits[b]);
			int r = calls[i].name
					? add_rule(ctx, SCMP_ACT_ERRNO(EPERM), calls[i].name, 1, &a, err)
					: add_rule_nr(ctx, SCMP_ACT_ERRNO(EPERM), calls[i].nr, 1, &a, "fchmodat2", err);
			if (r < 0)
				return -1;
		}
	}
	if (add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "openat2", 0, NULL, err) < 0)
		return -1;
	return add_rule_nr(ctx, SCMP_ACT_ERRNO(EPERM), NR_QUOTACTL_FD, 0, NULL, "quotactl_fd", err);
}

static int add_special_rules(scmp_filter_ctx ctx, struct sp_err *err)
{
	/* PER_LINUX is 0; anything else changes the execution domain or sets
	 * flags such as ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC.  As in
	 * Flatpak, even the query 0xffffffff is refused. */
	struct scmp_arg_cmp persona = cmp(0, SCMP_CMP_NE, 0, 0);

	if (add_clone_rules(ctx, err) < 0 || add_ioctl_rules(ctx, err) < 0 || add_mode_rules(ctx, err) < 0)
		return -1;
	if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), "personality", 1, &persona, err) < 0)
		return -1;
	return add_socket_rules(ctx, err);
}

/* The whole filter in a new context: *CTX, to load or to export. */
static int build_filter(scmp_filter_ctx *out, struct sp_err *err)
{
	scmp_filter_ctx ctx;
	int rc;

	/* seccomp_init() puts only the native arch in the filter.  Any other
	 * audit arch (i386 through int 0x80 or a compat entry) gets the
	 * bad-arch action.  x32 shares x86_64's audit arch; libseccomp then
	 * refuses numbers with __X32_SYSCALL_BIT through the same bad-arch
	 * action as long as x32 is not added (checked by the test that dumps
	 * the loaded program: tests/integration/seccomp-dump.c, from escape.sh
	 * and exec.sh). */
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL || (SP_MUTATE_NNP && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0))
		return sp_fail(err, SP_ERR_RUNTIME, "seccomp_init failed");

	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
	if (rc < 0) {
		sp_fail_errno(err, -rc, "set seccomp bad-arch action");
		goto fail;
	}
	for (size_t i = 0; i < N_PLAIN; i++) {
		if (add_rule(ctx, SCMP_ACT_ERRNO(EPERM), rules[i].what, 0, NULL, err) < 0)
			goto fail;
	}
	if (add_special_rules(ctx, err) < 0)
		goto fail;
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

int sp_seccomp_apply(struct sp_err *err)
{
	scmp_filter_ctx ctx;
	int rc;

	if (SP_MUTATE_SECCOMP) /* tests/mutation: no filter */
		return 0;
	if (build_filter(&ctx, err) < 0)
		return -1;
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return sp_fail_errno(err, -rc, "load seccomp filter");
	return 0;
}

int sp_seccomp_export(uint8_t **prog, size_t *len, struct sp_err *err)
{
	scmp_filter_ctx ctx = NULL; /* gcc cannot see build_filter() set it */
	cleanup_fd int fd = -1;
	struct stat st;
	uint8_t *buf;
	int rc;

	*prog = NULL;
	*len = 0;
	if (build_filter(&ctx, err) < 0)
		return -1;
	/* Debian 12's libseccomp (2.5) exports to a descriptor only. */
	fd = memfd_create("spectrum-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		seccomp_release(ctx);
		return sp_fail_errno(err, errno, "memfd for the seccomp filter");
	}
	rc = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	if (rc < 0)
		return sp_fail_errno(err, -rc, "export the seccomp filter");
	if (fstat(fd, &st) < 0)
		return sp_fail_errno(err, errno, "export the seccomp filter");
	if (st.st_size <= 0 || st.st_size > 65536)
		return sp_fail(err, SP_ERR_RUNTIME, "export the seccomp filter: %lld bytes", (long long)st.st_size);
	buf = malloc((size_t)st.st_size);
	if (!buf)
		return sp_fail_errno(err, ENOMEM, "export the seccomp filter");
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		return sp_fail_errno(err, errno ? errno : EIO, "read back the seccomp filter");
	}
	*prog = buf;
	*len = (size_t)st.st_size;
	return 0;
}

int sp_seccomp_apply_file_server(struct sp_err *err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc, ret = -1;

	if (ctx == NULL)
		return sp_fail(err, SP_ERR_RUNTIME, "seccomp_init failed");
	if (add_mode_rules(ctx, err) < 0)
		goto out;
	if ((rc = seccomp_load(ctx)) < 0)
		sp_fail_errno(err, -rc, "load seccomp filter");
	ret = rc < 0 ? -1 : 0;
out:
	seccomp_release(ctx);
	return ret;
}
