/* What a VM instance sees of the host, as virtiofs shares: one virtiofsd
 * process per share, each with its own tag (DESIGN.md, "VM instances").
 *
 *   root     the instance's view without home and grants: software (the
 *            closure under /nix/store, or the host's /usr), the generated
 *            /etc, mount points; assembled on a tmpfs, read-only
 *   home     state/NAME, idmapped so that the guest's user owns it
 *   dataN    each data grant, with its mode, idmapped the same way
 *   share    RUN/shares/NAME (0700), read-only: for grants made while the
 *            instance runs
 *
 * Each virtiofsd is started in a mount namespace of its own in which only
 * its export is mounted (and it adds its own namespaces and seccomp
 * filter on top), in the instance's cgroup, and dies with the engine.
 * It is not host root: it runs in a user namespace whose ids are a part
 * of the instance's leased range (SP_VM_SERVER_ID_OFFSET on), as the
 * guest's user there, with capabilities in that namespace only, serving
 * idmapped exports in which the store's owner is that user (so that what
 * it does under its own ids, rename and link, is the owner's).  A guest that
 * exploits a virtiofsd bug holds an unprivileged, namespaced process.
 * Its vhost-user socket is connected before QEMU starts and unlinked at
 * once: QEMU gets the connected end as a descriptor, so no socket file
 * outlives the start. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "plan/plan.h"
#include "sandbox/cgroup.h"
#include "store/store.h"
#include "util/err.h"

#define SP_VM_SHARE_ROOT "root"
/* Where the guest mounts the per-instance share directory. */
#define SP_VM_SHARE_GUEST_PATH "/run/share"

struct sp_vm_share {
	char tag[40];
	char *guest_path; /* where the guest mounts it; "/" for the root */
	bool readonly;
	int export_fd;    /* detached mount to export; -1 for the root, which the virtiofsd side assembles */
	pid_t pid;        /* its virtiofsd, once started */
	int qemu_fd;      /* QEMU's end of its vhost-user socket */
};

/* virtiofsd's id 0 is the host's lease base + this: QEMU has the base. */
#define SP_VM_SERVER_ID_OFFSET 1

struct sp_vm_shares {
	struct sp_vm_share *v;
	size_t n;
	int userns_fd;    /* virtiofsd's user namespace; -1 before prepare */
	uid_t server_base; /* its id 0 on the host */
	const char *name; /* the instance's */
	char *share_dir; /* RUN/shares/NAME on the host, removed by stop */
};

/* The virtiofsd binary: SPECTRUM_VIRTIOFSD, else Debian 12's. */
const char *sp_virtiofsd_path(void);

/* What PLAN shares, in order, without opening anything (`inspect`
 * prints it; prepare opens it).  MOUNT is the index of the plan's home
 * or grant mount, or -1 for the root and the share directory. */
struct sp_vm_share_desc {
	char tag[40];
	const char *guest_path;
	bool readonly;
	long mount;
};
#define SP_VM_SHARES_MAX 256
size_t sp_vm_share_describe(const struct sp_plan *plan, struct sp_vm_share_desc *out, size_t max);

/* RUN/shares/NAME.  malloc'ed. */
char *sp_vm_share_dir(const struct sp_store *store, const char *name);

/* Resolves and opens everything to export (grants beneath data/, mount
 * points made without following symlinks), without starting anything;
 * makes virtiofsd's user namespace from ID_BASE, the first host id of
 * the instance's lease. */
int sp_vm_shares_prepare(const struct sp_plan *plan, const struct sp_store *store, uid_t id_base,
			 struct sp_vm_shares *s, struct sp_err *err);

/* Starts one virtiofsd per share, in CG, with their stderr on LOG_FD. */
int sp_vm_shares_start(struct sp_vm_shares *s, const struct sp_plan *plan, const struct sp_store *store,
		       struct sp_cgroup *cg, int log_fd, struct sp_err *err);

/* Kills and reaps the virtiofsd processes, closes every descriptor and
 * removes the share directory.  Safe to call more than once. */
void sp_vm_shares_stop(struct sp_vm_shares *s);
