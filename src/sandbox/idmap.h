/* Idmapped mounts of the store (DESIGN.md, "The central store"): what an
 * instance writes lands owned by the store's owner on disk, and what the
 * owner made appears as the instance's own. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "util/err.h"

/* A user namespace, held open by descriptor, that maps the disk owner
 * DISK_UID/DISK_GID to HOST_UID/HOST_GID (the instance user's host ids)
 * and nothing else. */
int sp_idmap_userns(uid_t disk_uid, gid_t disk_gid, uid_t host_uid, gid_t host_gid,
		    int *userns_fd, struct sp_err *err);

/* A detached copy of the mount at DIRFD (open_tree with OPEN_TREE_CLONE),
 * with ATTR (MOUNT_ATTR_*) applied recursively, and idmapped through
 * USERNS_FD when it is >= 0.  The result is moved into place later,
 * from inside the instance's mount namespace. */
int sp_detached_mount(int dirfd, const char *path, bool recursive, unsigned long long attr,
		      int userns_fd, int *mount_fd, struct sp_err *err);

/* Whether the filesystem holding DIRFD accepts idmapped mounts. */
bool sp_idmap_supported(int dirfd);

/* An id used only by that probe, never by an instance. */
#define SP_PROBE_ID 0x7ffffff0u
