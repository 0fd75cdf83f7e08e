#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/boot.h"
#include "vm/initramfs.h"
#include "vm/kernel.h"

#ifndef SPECTRUM_AGENT_DEFAULT
#define SPECTRUM_AGENT_DEFAULT "/usr/libexec/spectrum/spectrum-agent"
#endif

/* What the agent needs of the kernel: virtio over PCI (q35), the
 * control port (virtio_console) and the shares (virtiofs).  Their
 * dependencies come from modules.dep; built-in ones are skipped. */
static const char *const guest_modules[] = { "virtio_pci", "virtio_console", "virtiofs", NULL };

const char *sp_vm_cache_dir(void)
{
	const char *d = getenv("SPECTRUM_CACHE_DIR");

	return d && d[0] == '/' ? d : SP_VM_CACHE_DIR;
}

const char *sp_vm_agent_path(void)
{
	const char *a = getenv("SPECTRUM_AGENT");

	return a && a[0] == '/' ? a : SPECTRUM_AGENT_DEFAULT;
}

int sp_vm_boot_prepare(const char *kernel, struct sp_vm_boot *b, struct sp_err *err)
{
	char modules_dir[4200];
	struct sp_initramfs_spec spec;
	struct stat st;

	memset(b, 0, sizeof *b);
	if (kernel) {
		if (stat(kernel, &st) < 0)
			return sp_fail_errno(err, errno, "vm.kernel %s", kernel);
		if (!S_ISREG(st.st_mode))
			return sp_fail(err, SP_ERR_RUNTIME, "vm.kernel %s: expected a kernel image file", kernel);
		b->kernel = strdup(kernel);
		if (!b->kernel)
			return sp_fail_errno(err, ENOMEM, "vm.kernel");
	} else if (sp_kernel_default("/boot", &b->kernel, err) < 0) {
		return -1;
	}
	if (sp_kernel_release(b->kernel, &b->release, err) < 0 ||
	    sp_kernel_vmlinux(b->kernel, sp_vm_cache_dir(), &b->vmlinux, err) < 0)
		goto fail;
	snprintf(modules_dir, sizeof modules_dir, "/lib/modules/%s", b->release);
	if (stat(modules_dir, &st) < 0) {
		sp_fail_errno(err, errno, "guest kernel %s: its modules %s", b->kernel, modules_dir);
		goto fail;
	}
	if (access(sp_vm_agent_path(), X_OK) < 0) {
		sp_fail_errno(err, errno, "the in-guest agent %s (build it, or set SPECTRUM_AGENT)",
			      sp_vm_agent_path());
		goto fail;
	}
	spec = (struct sp_initramfs_spec){
		.agent_path = sp_vm_agent_path(),
		.modules_dir = modules_dir,
		.modules = guest_modules,
	};
	if (sp_initramfs_cached(&spec, sp_vm_cache_dir(), &b->initramfs, err) < 0)
		goto fail;
	return 0;
fail:
	sp_vm_boot_free(b);
	return -1;
}

void sp_vm_boot_free(struct sp_vm_boot *b)
{
	free(b->kernel);
	free(b->release);
	free(b->vmlinux);
	free(b->initramfs);
	memset(b, 0, sizeof *b);
}
