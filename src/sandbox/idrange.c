#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/idrange.h"
#include "util/fnv.h"

int sp_id_lease(const char *name, struct sp_id_lease *lease, struct sp_err *err)
{
	unsigned first = sp_fnv1a32(name) % SP_ID_SLOTS;
	char path[64];

	lease->lock_fd = -1;
	if (mkdir(SP_ID_LOCK_DIR, 0700) < 0 && errno != EEXIST)
		return sp_fail_errno(err, errno, "create %s", SP_ID_LOCK_DIR);
	for (unsigned i = 0; i < SP_ID_SLOTS; i++) {
		unsigned slot = (first + i) % SP_ID_SLOTS;
		int fd;

		snprintf(path, sizeof path, SP_ID_LOCK_DIR "/%05u", slot);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return sp_fail_errno(err, errno, "open %s", path);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			lease->slot = slot;
			lease->base = SP_ID_BASE + slot * SP_ID_RANGE;
			lease->lock_fd = fd;
			return 0;
		}
		close(fd);
		if (errno != EWOULDBLOCK)
			return sp_fail_errno(err, errno, "lock %s", path);
	}
	return sp_fail(err, SP_ERR_RUNTIME, "no free uid range: %u instances running", SP_ID_SLOTS);
}

void sp_id_release(struct sp_id_lease *lease)
{
	if (lease->lock_fd >= 0)
		close(lease->lock_fd);
	lease->lock_fd = -1;
}
