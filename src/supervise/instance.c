/* What a running instance uses on the host, read-only: the pid its engine
 * records, its cgroups (found from its PID 1's /proc/PID/cgroup and the
 * mounted hierarchies, as the engine placed them) and their memory. */
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/engine.h"
#include "sandbox/network.h"
#include "supervise/supervise.h"
#include "util/cleanup.h"
#include "util/strv.h"

/* The live pid in RUN/instances/NAME/FILE, or 0. */
static pid_t read_pid(const struct sp_sv *sv, const char *name, const char *file)
{
	cleanup_free char *path = sp_printf("%s/" SP_RUNTIME_INSTANCES "/%s/%s", sv->run_dir, name, file);
	cleanup_file FILE *f = path ? fopen(path, "re") : NULL;
	int pid = 0;

	if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 1)
		return 0;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 0;
	return (pid_t)pid;
}

pid_t sp_sv_instance_pid(const struct sp_sv *sv, const char *name)
{
	return read_pid(sv, name, "pid");
}

pid_t sp_sv_instance_net_provider(const struct sp_sv *sv, const char *name)
{
	return read_pid(sv, name, SP_RUNTIME_NET);
}

/* True when the comma-separated LIST contains WORD. */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && strncmp(p, word, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

/* Where the hierarchy named by CTRLS ("" for v2, "memory", "cpu,cpuacct",
 * "name=systemd") is mounted; malloc'ed, NULL when nowhere. */
static char *mount_of(const char *ctrls)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent ent;
	char buf[4096], first[256];
	char *found = NULL;

	if (!f)
		return NULL;
	snprintf(first, sizeof first, "%s", ctrls);
	first[strcspn(first, ",")] = '\0';
	while (!found && getmntent_r(f, &ent, buf, sizeof buf)) {
		if (ctrls[0] == '\0' ? strcmp(ent.mnt_type, "cgroup2") == 0
				     : strcmp(ent.mnt_type, "cgroup") == 0 && has_word(ent.mnt_opts, first))
			found = strdup(ent.mnt_dir);
	}
	endmntent(f);
	return found;
}

char **sp_sv_cgroup_dirs(pid_t pid)
{
	cleanup_free char *file = sp_printf("/proc/%d/cgroup", (int)pid);
	cleanup_file FILE *f = file ? fopen(file, "re") : NULL;
	cleanup_free char *line = NULL;
	size_t cap = 0;
	char **v = NULL;

	while (f && getline(&line, &cap, f) > 0) {
		char *ctrls, *path, *mnt, *dir;

		line[strcspn(line, "\n")] = '\0';
		ctrls = strchr(line, ':');
		if (!ctrls)
			continue;
		path = strchr(++ctrls, ':');
		if (!path)
			continue;
		*path++ = '\0';
		/* Only the instance's own: "/.../spectrum/ID". */
		if (strcmp(path, "/") == 0 || !strstr(path, "/spectrum/"))
			continue;
		mnt = mount_of(ctrls);
		if (!mnt)
			continue;
		dir = sp_printf("%s%s", mnt, path);
		free(mnt);
		if (dir && !sp_strv_contains(v, dir))
			sp_strv_push(&v, dir);
		free(dir);
	}
	return v;
}

static bool read_u64(const char *dir, const char *name, uint64_t *value)
{
	cleanup_free char *path = sp_printf("%s/%s", dir, name);
	cleanup_file FILE *f = path ? fopen(path, "re") : NULL;
	unsigned long long v;

	if (!f || fscanf(f, "%llu", &v) != 1)
		return false;
	*value = v;
	return true;
}

/* The sum of the resident memory of the processes in DIR/cgroup.procs. */
static bool rss_sum(const char *dir, uint64_t *bytes)
{
	cleanup_free char *path = sp_printf("%s/cgroup.procs", dir);
	cleanup_file FILE *f = path ? fopen(path, "re") : NULL;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t sum = 0;
	int pid;

	if (!f)
		return false;
	while (fscanf(f, "%d", &pid) == 1) {
		char statm[64];
		unsigned long long size, rss;
		FILE *s;

		snprintf(statm, sizeof statm, "/proc/%d/statm", pid);
		s = fopen(statm, "re");
		if (!s)
			continue;
		if (fscanf(s, "%llu %llu", &size, &rss) == 2)
			sum += rss * (uint64_t)page;
		fclose(s);
	}
	*bytes = sum;
	return true;
}

bool sp_sv_memory(pid_t pid, uint64_t *bytes)
{
	char **dirs = sp_sv_cgroup_dirs(pid);
	bool ok = false;

	for (size_t i = 0; !ok && dirs && dirs[i]; i++)
		ok = read_u64(dirs[i], "memory.current", bytes);
	for (size_t i = 0; !ok && dirs && dirs[i]; i++)
		ok = read_u64(dirs[i], "memory.usage_in_bytes", bytes);
	for (size_t i = 0; !ok && dirs && dirs[i]; i++)
		if (access(dirs[i], F_OK) == 0 && strstr(dirs[i], "/spectrum/"))
			ok = rss_sum(dirs[i], bytes);
	sp_strv_free(dirs);
	return ok;
}
