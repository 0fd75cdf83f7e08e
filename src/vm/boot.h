/* What a VM instance boots: the guest kernel (vm.kernel, or the newest in
 * /boot), as an uncompressed ELF that QEMU enters through PVH (under TCG a
 * bzImage spends seconds decompressing itself), and the generated
 * initramfs: the agent as /init and the virtio modules of that kernel.
 * Both are cached by content hash, so they are made once per kernel. */
#pragma once

#include "util/err.h"

/* Where the vmlinux, the initramfs and the accelerator probe's result
 * are kept (SPECTRUM_CACHE_DIR moves it, for tests). */
#define SP_VM_CACHE_DIR "/var/cache/spectrum/vm"

struct sp_vm_boot {
	char *kernel;    /* the image configured or found */
	char *release;   /* "6.1.0-56-amd64" */
	char *vmlinux;   /* the ELF QEMU loads */
	char *initramfs;
};

const char *sp_vm_cache_dir(void);

/* The in-guest agent: SPECTRUM_AGENT, else where the build put it. */
const char *sp_vm_agent_path(void);

/* KERNEL is vm.kernel, or NULL for the newest /boot/vmlinuz-*.  Errors
 * name the kernel, the modules directory or the agent that is missing. */
int sp_vm_boot_prepare(const char *kernel, struct sp_vm_boot *b, struct sp_err *err);
void sp_vm_boot_free(struct sp_vm_boot *b);
