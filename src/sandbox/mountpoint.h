/* Mount points that lie inside an instance's home or inside an earlier
 * grant (a grant at /home/user/Documents, say) must exist on disk before
 * the instance starts: the instance itself cannot make them through an
 * idmapped mount, and the host must never follow a symlink the instance
 * planted there.  Shared by the container and the VM engine. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "plan/plan.h"
#include "store/store.h"
#include "util/err.h"

/* Whether PATH lies strictly beneath DIR; *REST is what follows "DIR/". */
bool sp_path_beneath(const char *path, const char *dir, const char **rest);

/* Makes the mount point of the plan's mount IDX on disk, a directory or
 * (TARGET_IS_DIR false) a regular file, when it lies inside the home
 * (HOME_FD, O_PATH) or inside an earlier grant that is a directory
 * (IS_DIR(CTX, i) says whether mount i is); does nothing when it lies in
 * the instance's own root. */
int sp_host_mount_point(const struct sp_plan *plan, size_t idx, const struct sp_store *store, int home_fd,
			bool (*is_dir)(const void *ctx, size_t i), const void *ctx, bool target_is_dir,
			struct sp_err *err);
