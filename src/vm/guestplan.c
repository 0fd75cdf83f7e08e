#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/proto.h"
#include "sandbox/seccomp.h"
#include "vm/guestplan.h"

static bool under_dev(const char *path)
{
	return strncmp(path, "/dev/", 5) == 0;
}

int sp_vm_guest_plan(const struct sp_plan *plan, const struct sp_vm_shares *shares, bool tty, uint8_t **out,
		     size_t *len, struct sp_err *err)
{
	struct sp_guest_plan g = {
		.hostname = plan->hostname,
		.uid = (unsigned)plan->uid,
		.gid = (unsigned)plan->gid,
		.cwd = plan->cwd,
		.argv = plan->argv,
		.envp = plan->envp,
		.root = (char *)SP_VM_SHARE_ROOT,
		.tty = tty,
	};
	char *tmpfs[SP_PLAN_MAX_TMPFS + 1] = { 0 };
	char *ro[SP_PLAN_MAX_PROC + 1] = { 0 }, *mask[SP_PLAN_MAX_PROC + 1] = { 0 };
	size_t nt = 0, nro = 0, nmask = 0;
	int ret = -1;

	/* The command in the guest gets the container's filter, from the
	 * same code: one deny list for both engines. */
	if (sp_seccomp_export(&g.seccomp, &g.seccomp_len, err) < 0)
		return -1;

	g.mounts = calloc(shares->n ? shares->n : 1, sizeof *g.mounts);
	g.links = calloc(plan->n_mounts ? plan->n_mounts : 1, sizeof *g.links);
	if (!g.mounts || !g.links) {
		sp_fail_errno(err, ENOMEM, "guest plan");
		goto out;
	}
	for (size_t i = 0; i < shares->n; i++) {
		if (strcmp(shares->v[i].tag, SP_VM_SHARE_ROOT) == 0)
			continue;
		g.mounts[g.n_mounts++] = (struct sp_guest_mount){
			.tag = (char *)shares->v[i].tag,
			.path = shares->v[i].guest_path,
			.readonly = shares->v[i].readonly,
		};
	}
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sp_mount *m = &plan->mounts[i];

		/* The guest's kernel makes its own /dev (devtmpfs, with
		 * ptmx and shm): only the plan's convenience links there
		 * are made by the agent, the rest of the view is on the
		 * root share. */
		if (m->kind == SP_MNT_SYMLINK && under_dev(m->target) && strcmp(m->target, "/dev/ptmx") != 0 &&
		    g.n_links < SP_PLAN_MAX_LINKS)
			g.links[g.n_links++] = (struct sp_guest_link){ .target = m->source, .path = m->target };
		else if (m->kind == SP_MNT_TMPFS && strcmp(m->target, "/") != 0 && strcmp(m->target, "/dev") != 0 &&
			 strcmp(m->target, "/dev/shm") != 0 && nt < SP_PLAN_MAX_TMPFS)
			tmpfs[nt++] = m->target;
		/* The command's own /proc in the guest hides and protects
		 * what a container's does. */
		else if (m->kind == SP_MNT_RO_REMOUNT && strncmp(m->target, "/proc/", 6) == 0 && nro < SP_PLAN_MAX_PROC)
			ro[nro++] = m->target;
		else if (m->kind == SP_MNT_MASK && strncmp(m->target, "/proc/", 6) == 0 && nmask < SP_PLAN_MAX_PROC)
			mask[nmask++] = m->target;
	}
	g.tmpfs = tmpfs;
	g.ro = ro;
	g.mask = mask;
	if (sp_guest_plan_encode(&g, out, len) < 0) {
		sp_fail_errno(err, errno, "the guest's plan");
		goto out;
	}
	ret = 0;
out:
	free(g.mounts);
	free(g.links);
	free(g.seccomp);
	return ret;
}
