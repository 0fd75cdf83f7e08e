/* Landlock for a container instance: a second, unprivileged fence around
 * the mount namespace.  Should a bind mount be wrong or a mount escape be
 * found, the process still writes only beneath its home, its read-write
 * grants and its own tmpfs, and never makes device nodes.
 *
 * Raw syscalls: the ABI is three calls, and Debian 12's headers stop at
 * ABI 2-3, so the newer constants and the grown ruleset attribute are
 * defined here, mirroring the kernel's uapi. */
#include "sandbox/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "util/cleanup.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif

#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
/* ABI 2 */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
/* ABI 3 */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
/* ABI 5 */
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
/* ABI 6 */

/* struct landlock_ruleset_attr as of ABI 6.  The kernel reads as many
 * bytes as we say and requires nothing of fields it does not know as long
 * as they are zero; we pass the size of the fields the running ABI has. */
struct sp_ll_ruleset_attr {
	uint64_t handled_access_fs;  /* ABI 1 */
	uint64_t handled_access_net; /* ABI 4; left 0: no network rules */
	uint64_t scoped;             /* ABI 6 */
};

/* struct landlock_path_beneath_attr: packed in the uapi, unchanged since
 * ABI 1. */
struct sp_ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

#define ACCESS_FS_ABI1 ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */

/* The rights that apply to a file (as opposed to a directory): a rule
 * beneath a non-directory may carry only these. */
#define ACCESS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		     LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
		     LANDLOCK_ACCESS_FS_IOCTL_DEV)

#define ACCESS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | \
		     LANDLOCK_ACCESS_FS_EXECUTE)

int sp_landlock_abi(void)
{
	long abi = syscall(__NR_landlock_create_ruleset, NULL, 0,
			   LANDLOCK_CREATE_RULESET_VERSION);

	/* ENOSYS: not built in; EOPNOTSUPP: built in but not enabled. */
	return abi < 0 ? 0 : (int)abi;
}

/* Every filesystem right the ABI knows: the ones left out would be
 * allowed everywhere. */
static uint64_t handled_fs(int abi)
{
	uint64_t fs = ACCESS_FS_ABI1;

	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return fs;
}

static size_t attr_size(int abi)
{
	if (abi >= 6)
		return sizeof(struct sp_ll_ruleset_attr);
	if (abi >= 4)
		return offsetof(struct sp_ll_ruleset_attr, scoped);
	return offsetof(struct sp_ll_ruleset_attr, handled_access_net);
}

/* Allows ACCESS beneath PATH.  OPTIONAL: a missing PATH is no error. */
static int allow_beneath(int ruleset, const char *path, uint64_t access,
			 bool optional, struct sp_err *err)
{
	struct sp_ll_path_beneath_attr attr = { 0 };
	cleanup_fd int fd = -1;
	struct stat st;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 0;
		return sp_fail_errno(err, errno, "open `%s' for Landlock", path);
	}
	if (fstat(fd, &st) < 0)
		return sp_fail_errno(err, errno, "stat `%s' for Landlock", path);
	/* A granted file rather than a directory: the kernel refuses
	 * directory rights on it with EINVAL. */
	if (!S_ISDIR(st.st_mode))
		access &= ACCESS_FILE;

	attr.allowed_access = access;
	attr.parent_fd = fd;
	if (syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
		    &attr, 0) < 0)
		return sp_fail_errno(err, errno, "add Landlock rule for `%s'", path);
	return 0;
}

static bool is_writable_place(const struct sp_mount *m)
{
	switch (m->kind) {
	case SP_MNT_HOME:
		return true;
	case SP_MNT_GRANT:
	case SP_MNT_TMPFS:
		return !m->readonly;
	case SP_MNT_BIND:
	case SP_MNT_PROC:
	case SP_MNT_DEVPTS:
	case SP_MNT_DEV:
	case SP_MNT_SYMLINK:
	case SP_MNT_FILE:
	case SP_MNT_MASK:
	case SP_MNT_RO_REMOUNT:
		return false;
	}
	return false;
}

int sp_landlock_apply(const struct sp_plan *plan, struct sp_err *err)
{
	struct sp_ll_ruleset_attr attr = { 0 };
	cleanup_fd int ruleset = -1;
	uint64_t fs, writable, dev;
	int abi = sp_landlock_abi();

	if (abi <= 0 || SP_MUTATE_LANDLOCK)
		return 0;

	fs = handled_fs(abi);
	attr.handled_access_fs = fs;
	/* No signal or abstract-socket scoping: the instance's pid and
	 * network namespaces already keep both within the instance, and
	 * the scopes would only cut `spectrum exec`'s processes (a Landlock
	 * domain of their own: one cannot join a domain) off from the
	 * instance's, which a debugger or a client of the app needs. */

	ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, attr_size(abi), 0);
	if (ruleset < 0)
		return sp_fail_errno(err, errno, "create Landlock ruleset (ABI %d)", abi);

	if (allow_beneath(ruleset, "/", ACCESS_READ, false, err) < 0)
		return -1;

	/* Device nodes are made by the engine, never by the instance: even
	 * on a tmpfs it owns, a device node is a door to host hardware. */
	writable = fs & ~(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK);
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sp_mount *m = &plan->mounts[i];

		if (!is_writable_place(m))
			continue;
		if (allow_beneath(ruleset, m->target, writable, m->optional, err) < 0)
			return -1;
	}

	/* /dev/null, /dev/tty and /dev/pts/N must stay writable, and a
	 * terminal needs its ioctls (TCGETS, TIOCGWINSZ...).  Creating,
	 * removing or renaming there stays forbidden. */
	dev = (LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
	       LANDLOCK_ACCESS_FS_IOCTL_DEV) & fs;
	if (allow_beneath(ruleset, "/dev", dev, true, err) < 0)
		return -1;

	if (syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
		return sp_fail_errno(err, errno, "enforce Landlock ruleset");
	return 0;
}
