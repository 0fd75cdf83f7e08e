#include "backup/freeze.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan/plan.h"
#include "sandbox/cgroup.h"
#include "store/store.h"

/* The name of NAME's cgroups: the engines name them by instance and
 * store (plan.c), so that two stores on one host do not collide. */
static char *cgroup_id(const char *store, const char *name)
{
	struct sp_store s = { .root = (char *)store };

	return sp_instance_id(&s, name);
}

bool sp_bk_instance_running(const char *store, const char *name)
{
	char *id = cgroup_id(store, name);
	bool running = id != NULL && sp_cgroup_name_running(id);

	free(id);
	return running;
}

int sp_bk_freeze(const char *store, const char *name, struct sp_bk_freeze *f, struct sp_err *err)
{
	int p[2];

	f->pid = -1;
	f->fd = -1;
	f->id = cgroup_id(store, name);
	if (f->id == NULL)
		return sp_fail_errno(err, ENOMEM, "freeze %s", name);
	if (!sp_cgroup_name_running(f->id)) {
		free(f->id);
		f->id = NULL;
		return 0;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return sp_fail_errno(err, errno, "pipe");
	f->pid = fork();
	if (f->pid < 0) {
		close(p[0]);
		close(p[1]);
		return sp_fail_errno(err, errno, "fork");
	}
	if (f->pid == 0) {
		char b;
		struct sp_err e;

		/* It must outlive the backup, whatever ends it: no death
		 * signal, out of the terminal's process group, deaf to the
		 * signals a user sends to stop a backup. */
		close(p[1]);
		/* Nothing of the backup's (the repository's lock above all)
		 * stays held by it. */
		if (p[0] > 3)
			close_range(3, (unsigned)p[0] - 1, 0);
		close_range((unsigned)p[0] + 1, ~0U, 0);
		setsid();
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		while (read(p[0], &b, 1) < 0 && errno == EINTR)
			;
		sp_cgroup_freeze_name(f->id, false, &e);
		_exit(0);
	}
	close(p[0]);
	f->fd = p[1];
	if (sp_cgroup_freeze_name(f->id, true, err) < 0) {
		sp_bk_thaw(f);
		return sp_err_wrap(err, "freeze instance %s", name);
	}
	return 0;
}

void sp_bk_thaw(struct sp_bk_freeze *f)
{
	struct sp_err e;

	if (f->pid > 0) {
		sp_cgroup_freeze_name(f->id, false, &e);
		close(f->fd);
		waitpid(f->pid, NULL, 0);
	}
	free(f->id);
	f->id = NULL;
	f->pid = -1;
	f->fd = -1;
}
