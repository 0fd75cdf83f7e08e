#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/strv.h"
#include "vm/accel.h"
#include "vm/kernel.h"
#include "vm/qemu.h"

#define PROBE_MARK "spectrum-agent: up"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Boots the guest under KVM with nothing attached: the agent prints its
 * mark on the console as soon as it runs (and, with no control port,
 * powers off).  True when the mark came before the deadline. */
static bool probe_kvm(const struct sp_vm_boot *boot, double *seconds, bool *exited)
{
	struct sp_qemu_config c = {
		.name = "kvm-probe",
		.vmlinux = boot->vmlinux,
		.initramfs = boot->initramfs,
		.memory = (uint64_t)256 << 20,
		.vcpus = 1,
		.kvm = true,
		.control_fd = -1,
		.stderr_fd = -1,
		.vmlinux_fd = -1,
		.initramfs_fd = -1,
	};
	char **argv = NULL, buf[4096], seen[8192] = "";
	size_t seen_len = 0;
	int sv[2] = { -1, -1 };
	double start = now();
	bool ok = false;
	pid_t pid = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	c.console_fd = sv[1];
	argv = sp_qemu_argv(&c);
	if (!argv)
		goto out;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fcntl(sv[1], F_SETFD, 0);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execve(argv[0], argv, (char *const[]){ "PATH=/usr/bin:/bin", NULL });
		_exit(127);
	}
	if (pid < 0)
		goto out;
	close(sv[1]);
	sv[1] = -1;
	while (!ok) {
		double left = SP_ACCEL_PROBE_SECONDS - (now() - start);
		struct pollfd p = { .fd = sv[0], .events = POLLIN };
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			break;
		n = read(sv[0], buf, sizeof buf);
		if (n <= 0) {
			*exited = true; /* QEMU closed the console: it stopped */
			break;
		}
		/* Keep the tail: the mark may straddle two reads. */
		if ((size_t)n > sizeof seen - 1 - seen_len) {
			size_t keep = seen_len < sizeof PROBE_MARK ? seen_len : sizeof PROBE_MARK;
			memmove(seen, seen + seen_len - keep, keep);
			seen_len = keep;
		}
		memcpy(seen + seen_len, buf, (size_t)n);
		seen_len += (size_t)n;
		seen[seen_len] = '\0';
		ok = strstr(seen, PROBE_MARK) != NULL;
	}
	*seconds = now() - start;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	sp_strv_free(argv);
	return ok;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static int cache_fill(int fd, const char *path, void *ctx, struct sp_err *err)
{
	return sp_vm_write_all(fd, ctx, strlen(ctx), path, err);
}

int sp_vm_accel(const struct sp_vm_boot *boot, bool *kvm, char *why, size_t n, struct sp_err *err)
{
	const char *forced = getenv("SPECTRUM_VM_ACCEL");
	char name[300], path[4400], text[512];
	double secs = 0;
	bool exited = false;
	FILE *f;
	int fd;

	*kvm = false;
	if (forced && (strcmp(forced, "kvm") == 0 || strcmp(forced, "tcg") == 0)) {
		*kvm = strcmp(forced, "kvm") == 0;
		snprintf(why, n, "%s: SPECTRUM_VM_ACCEL says so", *kvm ? "KVM" : "TCG");
		return 0;
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, n, "TCG: /dev/kvm: %s", strerror(errno));
		return 0;
	}
	close(fd);

	snprintf(name, sizeof name, "accel-%s", base_name(boot->vmlinux));
	snprintf(path, sizeof path, "%s/%s", sp_vm_cache_dir(), name);
	f = fopen(path, "re");
	if (f) {
		bool got = fgets(text, sizeof text, f) != NULL;
		fclose(f);
		text[strcspn(text, "\n")] = '\0';
		if (got && (strncmp(text, "KVM:", 4) == 0 || strncmp(text, "TCG:", 4) == 0)) {
			*kvm = text[0] == 'K';
			snprintf(why, n, "%s (cached in %s)", text, path);
			return 0;
		}
	}
	*kvm = probe_kvm(boot, &secs, &exited);
	if (*kvm)
		snprintf(text, sizeof text, "KVM: a probe guest reached its agent in %.1f s\n", secs);
	else if (exited)
		snprintf(text, sizeof text,
			 "TCG: /dev/kvm exists but QEMU stopped a probe guest under KVM after %.1f s, before its agent ran\n",
			 secs);
	else
		snprintf(text, sizeof text,
			 "TCG: /dev/kvm exists but a probe guest did not reach its agent within %d s\n",
			 SP_ACCEL_PROBE_SECONDS);
	if (sp_vm_cache_write(sp_vm_cache_dir(), name, cache_fill, text, err) < 0)
		return -1;
	text[strcspn(text, "\n")] = '\0';
	snprintf(why, n, "%s", text);
	return 0;
}
