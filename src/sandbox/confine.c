#include <errno.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

static int set_files(rlim_t soft, rlim_t hard, struct sp_err *err)
{
	struct rlimit lim = { soft, hard }, old;

	if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
		return 0;
	if (errno == EPERM && getrlimit(RLIMIT_NOFILE, &old) == 0)
		return sp_fail(err, SP_ERR_RUNTIME, "resources.files %llu: above the hard limit %llu of spectrum",
			       (unsigned long long)hard, (unsigned long long)old.rlim_max);
	return sp_fail_errno(err, errno, "RLIMIT_NOFILE %llu", (unsigned long long)hard);
}

int sp_confine_files(const struct sp_plan *plan, struct sp_err *err)
{
	/* Hard equal to soft: limit x processes is what the instance can
	 * take of fs.file-max, and plan/limits.c chose it that way. */
	if (!plan->limits.files)
		return 0;
	return set_files(plan->limits.files, plan->limits.files, err);
}

int sp_confine_files_room(const struct sp_plan *plan, struct sp_err *err)
{
	struct rlimit cur;

	if (getrlimit(RLIMIT_NOFILE, &cur) < 0)
		return sp_fail_errno(err, errno, "RLIMIT_NOFILE");
	if (cur.rlim_max >= plan->limits.files)
		return 0;
	return set_files(cur.rlim_cur, plan->limits.files, err);
}

int sp_confine_privileges(const struct sp_plan *plan, struct sp_err *err)
{
	/* tests/mutation, nnp: the filters go on while privileged, so that they load without no_new_privs. */
	if (SP_MUTATE_NNP && (sp_landlock_apply(plan, err) < 0 || sp_seccomp_apply(err) < 0))
		return -1;
	if (sp_caps_drop_bounding(err) < 0)
		return -1;
	if (sp_become(plan->uid, plan->gid, err) < 0)
		return -1;
	if (sp_caps_clear(err) < 0)
		return -1;
	if (!SP_MUTATE_NNP && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "no_new_privs");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return sp_fail_errno(err, errno, "dumpable");
	return 0;
}

int sp_confine_filters(const struct sp_plan *plan, struct sp_err *err)
{
	if (SP_MUTATE_NNP) /* tests/mutation: loaded in sp_confine_privileges() */
		return 0;
	if (sp_landlock_apply(plan, err) < 0)
		return -1;
	return sp_seccomp_apply(err);
}
