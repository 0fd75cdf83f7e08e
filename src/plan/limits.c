/* The limits of an instance: what it declares, and defaults for the rest
 * (DESIGN.md, "Default limits").  The defaults are chosen so that one
 * hostile instance, and several together, leave the host usable:
 *
 *   memory   RAM/4, at most 4 GiB (a browser or an office suite fits;
 *            three instances at their limit still leave the host a
 *            quarter).  A VM: its guest's RAM plus 1 GiB for QEMU (whose
 *            TCG translation cache alone may grow to 1 GiB) and virtiofsd.
 *   /tmp and /dev/shm   memory/4 each; declared, at most memory.  tmpfs pages are charged to the
 *            memory cgroup of the process that first writes them, so a
 *            tmpfs is inside memory.max anyway; sized below it, a full
 *            /tmp is ENOSPC for the writer instead of the OOM killer
 *            taking the instance's processes, and both together leave
 *            half the limit to the processes.
 *   files    RLIMIT_NOFILE 1024, soft and hard: what select() can handle,
 *            the kernel's own default for init.
 *   pids     1024, at most pid_max/16 (sixteen instances before the
 *            host's pids run out) and at most file-max / (4 * files), so
 *            that one instance's processes, each at its files limit,
 *            cannot open more than a quarter of fs.file-max.
 *
 * and, whatever each instance declares, every instance together (the
 * cgroup "spectrum") never gets more than RAM less max(RAM/8, 1 GiB)
 * (RAM/2 on hosts below 2 GiB) nor more than half of pid_max. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "plan/plan.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

#define MEMORY_DEFAULT_MAX (4 * GIB)
#define MEMORY_DEFAULT_MIN (64 * MIB)
#define VM_QEMU_ROOM GIB
#define FILES_DEFAULT 1024
#define PIDS_DEFAULT_MAX 1024
#define PIDS_DEFAULT_MIN 64
#define TMPFS_MIN MIB

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static bool read_u64(const char *path, const char *key, uint64_t *out)
{
	FILE *f = fopen(path, "re");
	char line[256];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof line, f)) {
		size_t n = key ? strlen(key) : 0;

		if (key && strncmp(line, key, n) != 0)
			continue;
		found = sscanf(line + n, "%" SCNu64, out) == 1;
		if (!key)
			break;
	}
	fclose(f);
	return found;
}

void sp_host_facts_read(struct sp_host_facts *h)
{
	uint64_t kib;

	h->ram_bytes = read_u64("/proc/meminfo", "MemTotal:", &kib) ? kib * 1024 : GIB;
	if (!read_u64("/proc/sys/kernel/pid_max", NULL, &h->pid_max) || h->pid_max == 0)
		h->pid_max = 32768;
	if (!read_u64("/proc/sys/fs/file-max", NULL, &h->file_max) || h->file_max == 0)
		h->file_max = 65536;
}

static uint64_t default_memory(const struct sp_instance *inst, const struct sp_host_facts *h)
{
	if (inst->isolation == SP_ISOLATION_VM)
		return inst->vm.memory + VM_QEMU_ROOM;
	return max_u64(min_u64(h->ram_bytes / 4, MEMORY_DEFAULT_MAX), MEMORY_DEFAULT_MIN);
}

void sp_plan_limits(const struct sp_instance *inst, const struct sp_host_facts *h, struct sp_limits *out)
{
	const struct sp_resources *r = &inst->resources;
	uint64_t reserve;

	memset(out, 0, sizeof *out);
	out->memory_bytes = r->memory;
	if (!out->memory_bytes) {
		out->memory_bytes = default_memory(inst, h);
		out->defaulted |= SP_LIMIT_DEFAULT_MEMORY;
	}
	out->files = r->files;
	if (!out->files) {
		out->files = FILES_DEFAULT;
		out->defaulted |= SP_LIMIT_DEFAULT_FILES;
	}
	out->pids = r->pids;
	if (!out->pids) {
		out->pids = min_u64(PIDS_DEFAULT_MAX, min_u64(h->pid_max / 16, h->file_max / (4 * out->files)));
		out->pids = max_u64(out->pids, PIDS_DEFAULT_MIN);
		out->defaulted |= SP_LIMIT_DEFAULT_PIDS;
	}
	out->tmp_bytes = r->tmp;
	if (!out->tmp_bytes) {
		out->tmp_bytes = max_u64(out->memory_bytes / 4, TMPFS_MIN);
		out->defaulted |= SP_LIMIT_DEFAULT_TMP;
	}
	out->shm_bytes = r->shm;
	if (!out->shm_bytes) {
		out->shm_bytes = max_u64(out->memory_bytes / 4, TMPFS_MIN);
		out->defaulted |= SP_LIMIT_DEFAULT_SHM;
	}
	/* Never above the memory limit, declared or not: the configuration
	 * refuses more than a declared one (config/parse.c), and a tmpfs
	 * larger than the default one would end in the OOM killer too. */
	out->tmp_bytes = min_u64(out->tmp_bytes, out->memory_bytes);
	out->shm_bytes = min_u64(out->shm_bytes, out->memory_bytes);
	if (r->cpus > 0) {
		double quota = r->cpus * SP_CPU_PERIOD_US;
		out->cpu_period_us = SP_CPU_PERIOD_US;
		out->cpu_quota_us = quota < 1000 ? 1000 : (uint64_t)quota;
	}

	reserve = h->ram_bytes >= 2 * GIB ? max_u64(h->ram_bytes / 8, GIB) : h->ram_bytes / 2;
	out->all_memory_bytes = (h->ram_bytes - reserve) & ~(MIB - 1);
	out->all_pids = h->pid_max / 2;
}
