#include <errno.h>
#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "sandbox/caps.h"
#include "sandbox/confine.h"
#include "sandbox/landlock.h"
#include "sandbox/seccomp.h"

int sp_become(uid_t uid, gid_t gid, struct sp_err *err)
{
	if (setgroups(0, NULL) < 0)
		return sp_fail_errno(err, errno, "setgroups");
	if (setresgid(gid, gid, gid) < 0)
		return sp_fail_errno(err, errno, "setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return sp_fail_errno(err, errno, "setresuid %u", (unsigned)uid);
	return 0;
}

int sp_confine_privileges(const struct sp_plan *plan, struct sp_err *err)
{
	if (sp_caps_drop_bounding(err) < 0)
		return -1;
	if (sp_become(plan->uid, plan->gid, err) < 0)
		return -1;
	if (sp_caps_clear(err) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "no_new_privs");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "dumpable");
	return 0;
}

int sp_confine_filters(const struct sp_plan *plan, struct sp_err *err)
{
	if (sp_landlock_apply(plan, err) < 0)
		return -1;
	return sp_seccomp_apply(err);
}
