/* The guest kernel: which one, its release (to find its modules), and an
 * uncompressed ELF vmlinux of it.  QEMU boots an ELF vmlinux through its
 * PVH entry, which under TCG is far faster than letting the guest
 * decompress a bzImage (DESIGN.md, "VM instances"). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* The newest BOOT_DIR/vmlinuz-* by version order (strverscmp).  *PATH
 * malloc'ed.  An error when there is none. */
int sp_kernel_default(const char *boot_dir, char **path, struct sp_err *err);

/* The kernel release ("6.1.0-56-amd64") read from the image: for a
 * bzImage from its kernel_version header string, for an ELF vmlinux from
 * its "Linux version X " banner; cut at the first space.  malloc'ed. */
int sp_kernel_release(const char *kernel_path, char **release, struct sp_err *err);

/* An uncompressed ELF vmlinux of KERNEL_PATH.  An ELF file is returned as
 * is (the path copied); a bzImage has its payload (xz, zstd or gzip)
 * decompressed once into CACHE_DIR/vmlinux-<SHA-256 of the kernel file>,
 * written atomically; CACHE_DIR is created (0755) when missing.
 * *VMLINUX malloc'ed. */
int sp_kernel_vmlinux(const char *kernel_path, const char *cache_dir, char **vmlinux, struct sp_err *err);

/* Shared with initramfs.c. */

/* Receives decompressed bytes in order; returns -1 (with ERR set) to stop. */
typedef int sp_vm_sink(const void *buf, size_t len, void *ctx, struct sp_err *err);

/* Decompresses the one xz, zstd or gzip stream at the start of IN (the
 * format told by its magic) into SINK; bytes after the stream's end are
 * ignored (a bzImage appends the uncompressed size).  WHAT names the data
 * in error messages. */
int sp_vm_decompress(const uint8_t *in, size_t len, sp_vm_sink *sink, void *ctx, const char *what,
		     struct sp_err *err);

/* Writes CACHE_DIR/NAME so that no reader ever sees a partial file:
 * FILL writes the contents to FD, a temporary file PATH beside NAME,
 * which is then fsync'ed and renamed over NAME, and the directory
 * fsync'ed.  CACHE_DIR and
 * its missing parents are created (0755).  The file is mode 0644. */
int sp_vm_cache_write(const char *cache_dir, const char *name,
		      int (*fill)(int fd, const char *path, void *ctx, struct sp_err *err), void *ctx,
		      struct sp_err *err);

/* Writes all LEN bytes to FD (retrying short writes); PATH for messages. */
int sp_vm_write_all(int fd, const void *buf, size_t len, const char *path, struct sp_err *err);
