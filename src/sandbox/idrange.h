/* Host uid/gid ranges for instances.  In root mode each running instance
 * holds a lease on its own range of 65536 ids, disjoint from the host's
 * (which stay below 2^30) and from every other running instance's.  The
 * lease is an flock on a slot file, so it ends with the process that
 * holds it, even on a crash.  Files on disk never carry these ids: the
 * store reaches instances through idmapped mounts. */
#pragma once

#include <sys/types.h>

#include "util/err.h"

#define SP_ID_BASE (1u << 30)
#define SP_ID_RANGE 65536u
#define SP_ID_SLOTS 16384u
#define SP_ID_LOCK_DIR "/run/spectrum-ids"

struct sp_id_lease {
	unsigned slot;
	uid_t base; /* host id of the instance's id 0 */
	int lock_fd;
};

/* Leases a free slot, preferring one derived from NAME so that an
 * instance usually gets the same range each time. */
int sp_id_lease(const char *name, struct sp_id_lease *lease, struct sp_err *err);
void sp_id_release(struct sp_id_lease *lease);
