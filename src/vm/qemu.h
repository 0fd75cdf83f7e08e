/* The QEMU process of a VM instance: its command line (q35, KVM or TCG,
 * shared guest RAM for virtiofs, the serial console, the control port,
 * one vhost-user-fs device per share) and its confinement: it runs in
 * the instance's cgroup, in network and IPC namespaces of its own, as the
 * instance's leased unprivileged host uid with no capabilities and
 * no_new_privs, under QEMU's own seccomp sandbox, and dies with the
 * engine. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"
#include "util/err.h"
#include "vm/shares.h"

#define SP_QEMU_DEFAULT "/usr/bin/qemu-system-x86_64"

struct sp_qemu_config {
	const char *name;      /* the instance, for -name */
	const char *vmlinux;
	const char *initramfs;
	/* When >= 0, QEMU reads them through /proc/self/fd: it need not be
	 * able to walk to the cache directory. */
	int vmlinux_fd;
	int initramfs_fd;
	uint64_t memory;
	unsigned vcpus;
	bool kvm;
	int console_fd;        /* QEMU's end of the serial console */
	int control_fd;        /* QEMU's end of the control port */
	int stderr_fd;         /* QEMU's own messages; -1: the engine's stderr */
	const struct sp_vm_shares *shares;
	uid_t uid;             /* run as this host uid/gid */
	gid_t gid;
};

/* SPECTRUM_QEMU (an absolute path), else Debian's. */
const char *sp_qemu_path(void);

/* The kernel command line: quiet, the console on ttyS0, and the TSC's
 * frequency given so that the guest does not calibrate it (slow, and
 * under TCG sometimes stuck). */
char *sp_qemu_cmdline(void);

/* The whole argv (NULL-terminated, malloc'ed strings).  Exposed so that
 * the bare-QEMU benchmark and `inspect` say exactly what runs. */
char **sp_qemu_argv(const struct sp_qemu_config *c);

/* Forks QEMU into CG, confined as above.  *PID is its pid. */
int sp_qemu_start(const struct sp_qemu_config *c, struct sp_cgroup *cg, pid_t *pid, struct sp_err *err);
