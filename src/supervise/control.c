/* Up, down and status of a supervised instance, through s6-svc (which
 * subscribes to the service's events before it sends the command, so no
 * transition is missed) and s6-svstat, plus the records the finish script
 * keeps in the service directory: `exits` (runs ended), `last-exit` (the
 * last one's status, or "stopped") and `failures` (in a row, for the
 * backoff). */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supervise/supervise.h"
#include "util/cleanup.h"
#include "util/strv.h"

const char *sp_sv_state_name(enum sp_sv_state s)
{
	switch (s) {
	case SP_SV_DOWN:
		return "down";
	case SP_SV_STARTING:
		return "starting";
	case SP_SV_UP:
		return "up";
	case SP_SV_FAILED:
		return "failed";
	}
	return "?";
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The first word of DIR/NAME, or "" when there is none. */
static void read_record(const char *dir, const char *name, char *buf, size_t size)
{
	cleanup_free char *path = sp_printf("%s/%s", dir, name);
	cleanup_file FILE *f = path ? fopen(path, "re") : NULL;

	buf[0] = '\0';
	if (f && fgets(buf, (int)size, f))
		buf[strcspn(buf, " \n")] = '\0';
}

static long record_number(const char *dir, const char *name, long dflt)
{
	char buf[32], *end;
	long v;

	read_record(dir, name, buf, sizeof buf);
	v = strtol(buf, &end, 10);
	return buf[0] && !*end ? v : dflt;
}

static int write_record(const char *dir, const char *name, const char *value, struct sp_err *err)
{
	cleanup_free char *path = sp_printf("%s/%s", dir, name);
	cleanup_file FILE *f = path ? fopen(path, "we") : NULL;

	if (!f || fprintf(f, "%s\n", value) < 0)
		return sp_fail_errno(err, errno ? errno : EIO, "write %s", path ? path : name);
	return 0;
}

static bool is_supervised(const char *dir)
{
	cleanup_free char *fifo = sp_printf("%s/supervise/control", dir);
	int fd = fifo ? open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC) : -1;

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static bool status_written(const char *dir)
{
	cleanup_free char *path = sp_printf("%s/supervise/status", dir);

	return path && access(path, F_OK) == 0;
}

int sp_sv_status(const struct sp_sv *sv, const char *name, struct sp_sv_status *st, struct sp_err *err)
{
	cleanup_free char *dir = sp_printf("%s/%s", sv->services, name);
	cleanup_free char *out = NULL;
	char last[32], line[256], up[8] = "", want[8] = "", ready[8] = "";
	long long since = 0;
	long failures;
	int r;

	*st = (struct sp_sv_status){ .state = SP_SV_DOWN };
	if (!dir)
		return sp_fail_errno(err, ENOMEM, "status of %s", name);
	read_record(dir, "last-exit", last, sizeof last);
	if (last[0] && strcmp(last, "stopped") != 0) {
		st->have_exit = true;
		st->last_exit = atoi(last);
	}
	failures = record_number(dir, "failures", 0);
	st->failures = failures > 0 ? (unsigned)failures : 0;
	if (!sp_sv_installed(sv, name) || !is_supervised(dir)) {
		st->state = st->have_exit && st->last_exit != 0 ? SP_SV_FAILED : SP_SV_DOWN;
		return 0;
	}
	st->supervised = true;
	{
		char *argv[] = { "s6-svstat", "-o", "up,wantedup,ready,updownfor", dir, NULL };
		r = sp_sv_call(argv, &out, line, sizeof line, err);
	}
	if (r < 0)
		return -1;
	if (r != 0 && !status_written(dir))
		return 0; /* its supervisor has just started: down */
	if (r != 0 || sscanf(out, "%7s %7s %7s %lld", up, want, ready, &since) != 4)
		return sp_fail(err, SP_ERR_RUNTIME, "s6-svstat %s: %s", dir, line[0] ? line : "unexpected output");
	st->want_up = strcmp(want, "true") == 0;
	st->uptime = since;
	if (strcmp(up, "true") == 0) {
		if (strcmp(ready, "true") == 0)
			st->state = SP_SV_UP;
		else
			st->state = st->failures > 0 ? SP_SV_FAILED : SP_SV_STARTING;
	} else if (st->want_up) {
		st->state = st->failures > 0 ? SP_SV_FAILED : SP_SV_STARTING;
	} else {
		st->state = st->have_exit && st->last_exit != 0 ? SP_SV_FAILED : SP_SV_DOWN;
	}
	if (st->state == SP_SV_UP || st->state == SP_SV_STARTING)
		st->pid = sp_sv_instance_pid(sv, name);
	return 0;
}

/* Starts ARGV in the background, stdio on /dev/null. */
static pid_t spawn(char *const argv[], struct sp_err *err)
{
	pid_t pid = fork();

	if (pid < 0) {
		sp_fail_errno(err, errno, "fork %s", argv[0]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		syscall(SYS_close_range, 3, ~0U, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int sp_sv_start(const struct sp_sv *sv, const char *name, unsigned timeout_ms, int *exit_status,
		struct sp_err *err)
{
	cleanup_free char *dir = sp_printf("%s/%s", sv->services, name);
	char tmo[32], last[32];
	long exits0;
	pid_t pid;
	int status = 0;
	bool done = false, ended = false;

	*exit_status = 0;
	if (!dir)
		return sp_fail_errno(err, ENOMEM, "start %s", name);
	if (!is_supervised(dir))
		return sp_fail(err, SP_ERR_RUNTIME, "%s: not supervised (is s6-svscan running on %s?)", name, sv->scan);
	/* An explicit start does not wait out a backoff. */
	if (write_record(dir, "failures", "0", err) < 0)
		return -1;
	exits0 = record_number(dir, "exits", 0);
	snprintf(tmo, sizeof tmo, "%u", timeout_ms);
	{
		char *argv[] = { "s6-svc", "-T", tmo, "-wU", "-u", dir, NULL };
		pid = spawn(argv, err);
	}
	if (pid < 0)
		return -1;
	for (unsigned waited = 0; !done; waited += 10) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			done = true;
			break;
		}
		if (w < 0 && errno != EINTR)
			break;
		if (record_number(dir, "exits", 0) != exits0) {
			ended = true;
			break;
		}
		if (waited > timeout_ms + 2000)
			break;
		sleep_ms(10);
	}
	if (!done) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		status = -1;
	}
	/* Ready, and its PID 1 still there: started.  Ready but already
	 * gone (the engine removes the pid file as it exits): a command that
	 * failed at once, whose status comes with its finish. */
	if (done && WIFEXITED(status) && WEXITSTATUS(status) == 0 && record_number(dir, "exits", 0) == exits0) {
		if (sp_sv_instance_pid(sv, name) > 0)
			return 0;
		for (int i = 0; !ended && i < 1000; i++) {
			ended = record_number(dir, "exits", 0) != exits0;
			if (!ended)
				sleep_ms(10);
		}
		if (!ended)
			return 0;
		read_record(dir, "last-exit", last, sizeof last);
		*exit_status = atoi(last);
		if (*exit_status == 0)
			return 0;
		return sp_fail(err, SP_ERR_RUNTIME, "%s: exited with status %s as it started (see spectrum logs %s)",
			       name, last, name);
	}
	/* The run may have ended just before s6-svc gave up. */
	for (int i = 0; !ended && i < 50; i++) {
		ended = record_number(dir, "exits", 0) != exits0;
		if (!ended)
			sleep_ms(10);
	}
	if (ended) {
		read_record(dir, "last-exit", last, sizeof last);
		*exit_status = atoi(last);
		return sp_fail(err, SP_ERR_RUNTIME, "%s: exited with status %s before it was ready (see spectrum logs %s)",
			       name, last[0] ? last : "?", name);
	}
	if (done && WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return sp_fail(err, SP_ERR_RUNTIME, "s6-svc: cannot run it (is s6 installed?)");
	return sp_fail(err, SP_ERR_RUNTIME, "%s: not ready within %u s", name, timeout_ms / 1000);
}

int sp_sv_stop(const struct sp_sv *sv, const char *name, struct sp_err *err)
{
	cleanup_free char *dir = sp_printf("%s/%s", sv->services, name);
	char **cgroups = NULL;
	char tmo[32], line[256];
	long kill_ms, gone_ms;
	pid_t pid;
	int r, ret = -1;

	if (!dir)
		return sp_fail_errno(err, ENOMEM, "stop %s", name);
	pid = sp_sv_instance_pid(sv, name);
	if (pid > 0)
		cgroups = sp_sv_cgroup_dirs(pid);
	kill_ms = record_number(dir, "timeout-kill", 10000);
	snprintf(tmo, sizeof tmo, "%ld", kill_ms + record_number(dir, "timeout-finish", 10000) + 10000);
	{
		char *argv[] = { "s6-svc", "-T", tmo, "-wD", "-d", dir, NULL };
		r = sp_sv_call(argv, NULL, line, sizeof line, err);
	}
	if (r < 0)
		goto out;
	if (r != 0) {
		sp_fail(err, SP_ERR_RUNTIME, "%s: not down within %s ms%s%s", name, tmo, line[0] ? ": " : "", line);
		goto out;
	}
	/* Its engine removes the cgroups as it exits (its janitor, when it
	 * was killed): every process of the instance is gone with them. */
	gone_ms = 0;
	for (size_t i = 0; cgroups && cgroups[i]; i++) {
		while (access(cgroups[i], F_OK) == 0 && gone_ms < 5000) {
			sleep_ms(20);
			gone_ms += 20;
		}
		if (access(cgroups[i], F_OK) == 0) {
			sp_fail(err, SP_ERR_RUNTIME, "%s: its cgroup %s is still there after it stopped", name,
				cgroups[i]);
			goto out;
		}
	}
	if (pid > 0 && kill(pid, 0) == 0) {
		sp_fail(err, SP_ERR_RUNTIME, "%s: its PID 1 (%d) is still there after it stopped", name, (int)pid);
		goto out;
	}
	ret = 0;
out:
	sp_strv_free(cgroups);
	return ret;
}
