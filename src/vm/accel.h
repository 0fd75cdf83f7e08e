/* KVM or TCG.  /dev/kvm existing is not enough: on some hosts (the build
 * machines among them) it cannot boot a stock kernel, which then hangs.
 * So the choice is made by booting the guest kernel and initramfs once
 * under KVM with a deadline, and the answer is cached per kernel
 * (SPECTRUM_VM_ACCEL=kvm|tcg overrides it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"
#include "vm/boot.h"

/* How long the probe gives a KVM guest to reach the agent. */
#define SP_ACCEL_PROBE_SECONDS 15

/* *KVM, and in WHY (at most N bytes) a few words on the reason, for
 * `check`: "KVM: a probe guest booted in 0.4 s" or "TCG: ...". */
int sp_vm_accel(const struct sp_vm_boot *boot, bool *kvm, char *why, size_t n, struct sp_err *err);
