/* The guest's initramfs: the in-guest agent as /init, the kernel modules
 * it loads (virtio, virtiofs: modules in Debian's kernel), and the mount
 * points it needs.  Generated, deterministic, cached by content hash. */
#pragma once

#include "util/err.h"

struct sp_initramfs_spec {
	const char *agent_path;     /* a static executable: becomes /init, mode 0755 */
	const char *modules_dir;    /* /lib/modules/RELEASE */
	const char *const *modules; /* NULL-terminated module names, e.g. "virtiofs"; NULL for none */
};

/* Writes the newc cpio archive (uncompressed) to OUT_FD.  Deterministic:
 * entries sorted by name, mtime 0, owner 0:0, inodes numbered in order.
 * Holds the directories dev, proc, sys, tmp, run, mnt, home, nix,
 * nix/store, usr, lib, lib/modules; dev/console (5:1) and dev/null (1:3);
 * init (the agent); lib/modules/NN-NAME.ko for the named modules and their
 * dependencies (from MODULES_DIR/modules.dep) in load order, NN its
 * position from 01, so that name order is load order; modules built into
 * the kernel (modules.builtin) are left out; and lib/modules/order, the
 * .ko names one a line in load order.  A module in neither file is an
 * error. */
int sp_initramfs_write(const struct sp_initramfs_spec *spec, int out_fd, struct sp_err *err);

/* The same archive as CACHE_DIR/initramfs-<SHA-256 of its bytes>.cpio,
 * written (atomically) only when not there yet; CACHE_DIR is created
 * (0755) when missing.  *PATH malloc'ed. */
int sp_initramfs_cached(const struct sp_initramfs_spec *spec, const char *cache_dir, char **path,
			struct sp_err *err);
