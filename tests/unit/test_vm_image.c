/* The guest's boot files: the kernel found in /boot, its release, the ELF
 * vmlinux taken out of a bzImage, and the initramfs (read back with a
 * small newc reader).  Synthetic kernels and module trees cover every
 * compression format; the machine's own kernel, when /boot has one,
 * covers the real thing. */
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "vm/initramfs.h"
#include "vm/kernel.h"

static char dir[] = "/tmp/spectrum-test-vm-image-XXXXXX";

static int setup(void **ctx)
{
	(void)ctx;
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **ctx)
{
	char cmd[128];

	(void)ctx;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Helpers. */

static char *tpath(const char *rel)
{
	static char p[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(p[i], sizeof p[i], "%s/%s", dir, rel);
	return p[i];
}

static void mkdirs(const char *rel)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "mkdir -p %s", tpath(rel));
	assert_int_equal(system(cmd), 0);
}

static void put(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum fmt { XZ, ZSTD, GZIP };

static uint8_t *pack(enum fmt f, const uint8_t *in, size_t len, size_t *out_len)
{
	size_t cap = len + len / 2 + 4096;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	*out_len = 0;
	switch (f) {
	case XZ:
		/* As the kernel's build does: CRC32 check. */
		assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, out, out_len, cap),
				 LZMA_OK);
		break;
	case ZSTD:
		*out_len = ZSTD_compress(out, cap, in, len, 3);
		assert_false(ZSTD_isError(*out_len));
		break;
	case GZIP: {
		z_stream z = { 0 };
		assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)len;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
		*out_len = z.total_out;
		deflateEnd(&z);
		break;
	}
	}
	return out;
}

/* "\x7f" "ELF" and LEN - 4 bytes more, some random, some repeated:
 * several decompression chunks (1 MiB) long when LEN is. */
static uint8_t *fake_elf(size_t len, const char *tail, size_t tail_len)
{
	uint8_t *p = malloc(len);
	uint32_t x = 12345;

	assert_non_null(p);
	memcpy(p, "\x7f" "ELF", 4);
	for (size_t i = 4; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (i / 4096) % 2 ? (uint8_t)(x >> 24) : (uint8_t)i;
	}
	if (tail)
		memcpy(p + len - tail_len, tail, tail_len);
	return p;
}

/* A bzImage as the boot protocol lays it out: one setup sector after the
 * boot sector, the payload 16 bytes into the protected-mode code, and
 * the uncompressed size after the payload as the kernel's build appends
 * it. */
static void fake_bzimage(const char *path, const uint8_t *payload, size_t plen, uint32_t unpacked)
{
	const size_t start = 2 * 512 + 16;
	size_t len = start + plen + 4 + 100;
	uint8_t *k = calloc(1, len);
	const char *kver = "6.99.0-test (builder@host) #1 SMP";

	assert_non_null(k);
	k[0x1F1] = 1;
	memcpy(k + 0x202, "HdrS", 4);
	k[0x206] = 0x0F;
	k[0x207] = 0x02;
	k[0x20E] = 0x00; /* the string at 0x300 = 0x100 + 0x200 */
	k[0x20F] = 0x01;
	memcpy(k + 0x300, kver, strlen(kver) + 1);
	k[0x248] = 16;
	memcpy(k + 0x24C, &(uint32_t){ (uint32_t)plen + 4 }, 4);
	memcpy(k + start, payload, plen);
	memcpy(k + start + plen, &unpacked, 4);
	put(path, k, len);
	free(k);
}

/* A tiny newc reader. */

struct entry {
	char name[256];
	unsigned ino, mode, nlink, rmaj, rmin, mtime, uid, gid;
	const uint8_t *data;
	size_t size;
};

static unsigned hex8(const uint8_t *p)
{
	char s[9];

	memcpy(s, p, 8);
	s[8] = '\0';
	return (unsigned)strtoul(s, NULL, 16);
}

/* Entries of the archive A (LEN bytes) into E (up to MAX), the trailer
 * not counted; asserts the format along the way. */
static size_t newc_read(const uint8_t *a, size_t len, struct entry *e, size_t max)
{
	size_t off = 0, n = 0;

	for (;;) {
		struct entry x = { 0 };
		unsigned namesize;
		assert_true(off % 4 == 0);
		assert_true(off + 110 <= len);
		assert_memory_equal(a + off, "070701", 6);
		x.ino = hex8(a + off + 6);
		x.mode = hex8(a + off + 14);
		x.uid = hex8(a + off + 22);
		x.gid = hex8(a + off + 30);
		x.nlink = hex8(a + off + 38);
		x.mtime = hex8(a + off + 46);
		x.size = hex8(a + off + 54);
		assert_int_equal(hex8(a + off + 62), 0); /* devmajor */
		assert_int_equal(hex8(a + off + 70), 0); /* devminor */
		x.rmaj = hex8(a + off + 78);
		x.rmin = hex8(a + off + 86);
		namesize = hex8(a + off + 94);
		assert_int_equal(hex8(a + off + 102), 0); /* check */
		assert_true(namesize > 1 && namesize <= sizeof x.name);
		assert_true(off + 110 + namesize <= len);
		assert_int_equal(a[off + 110 + namesize - 1], '\0');
		memcpy(x.name, a + off + 110, namesize);
		off = (off + 110 + namesize + 3) & ~(size_t)3;
		x.data = a + off;
		assert_true(off + x.size <= len);
		off = (off + x.size + 3) & ~(size_t)3;
		if (strcmp(x.name, "TRAILER!!!") == 0) {
			assert_int_equal(off, len);
			return n;
		}
		assert_true(n < max);
		e[n++] = x;
	}
}

static const struct entry *find(const struct entry *e, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0)
			return &e[i];
	return NULL;
}

/* The archive for SPEC, written by sp_initramfs_write, into *LEN bytes. */
static uint8_t *archive(const struct sp_initramfs_spec *spec, const char *rel, size_t *len)
{
	struct sp_err err = { 0 };
	int fd = open(tpath(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	if (sp_initramfs_write(spec, fd, &err) < 0)
		fail_msg("%s", err.msg);
	close(fd);
	return slurp(tpath(rel), len);
}

/* The machine's kernel, modules and release; skips when /boot has none. */
struct host_kernel {
	char *path, *release, modules[512];
};

static void host_kernel(struct host_kernel *h)
{
	struct sp_err err = { 0 };
	struct stat st;

	if (sp_kernel_default("/boot", &h->path, &err) < 0) {
		print_message("%s: skipping\n", err.msg);
		skip();
	}
	if (sp_kernel_release(h->path, &h->release, &err) < 0)
		fail_msg("%s", err.msg);
	snprintf(h->modules, sizeof h->modules, "/lib/modules/%s", h->release);
	if (stat(h->modules, &st) < 0) {
		print_message("%s missing: skipping\n", h->modules);
		free(h->path);
		free(h->release);
		skip();
	}
}

/* Kernels. */

static void test_default_kernel_by_version(void **ctx)
{
	struct sp_err err = { 0 };
	char *path = NULL;

	(void)ctx;
	mkdirs("boot");
	assert_int_equal(sp_kernel_default(tpath("boot"), &path, &err), -1);
	assert_non_null(strstr(err.msg, "no guest kernel"));
	assert_non_null(strstr(err.msg, "has no vmlinuz-*"));

	/* By version, not by bytes: 10 is newer than 9. */
	put(tpath("boot/vmlinuz-6.1.0-9-amd64"), "x", 1);
	put(tpath("boot/vmlinuz-6.1.0-10-amd64"), "x", 1);
	put(tpath("boot/config-6.1.0-11-amd64"), "x", 1);
	assert_int_equal(symlink("nowhere", tpath("boot/vmlinuz-7.0")), 0);
	if (sp_kernel_default(tpath("boot"), &path, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(path, tpath("boot/vmlinuz-6.1.0-10-amd64"));
	free(path);
}

static void test_fake_bzimage_each_format(void **ctx)
{
	static const enum fmt fmts[] = { XZ, ZSTD, GZIP };
	static const char *const names[] = { "xz", "zstd", "gzip" };
	const size_t elf_len = 3 * (1u << 20) + 12345;
	/* A format string first, as in a real kernel, then the banner. */
	static const char banner[] = "Linux version %s\0Linux version 6.99.0-test (x@y)";
	uint8_t *elf = fake_elf(elf_len, banner, sizeof banner);

	(void)ctx;
	for (size_t i = 0; i < 3; i++) {
		struct sp_err err = { 0 };
		char kpath[64], cache[64];
		char *release = NULL, *vmlinux = NULL, *again = NULL;
		size_t plen, got_len;
		uint8_t *payload = pack(fmts[i], elf, elf_len, &plen);
		uint8_t *got;

		snprintf(kpath, sizeof kpath, "bz-%s", names[i]);
		snprintf(cache, sizeof cache, "cache-%s/sub", names[i]);
		fake_bzimage(tpath(kpath), payload, plen, (uint32_t)elf_len);
		free(payload);

		if (sp_kernel_release(tpath(kpath), &release, &err) < 0)
			fail_msg("%s", err.msg);
		assert_string_equal(release, "6.99.0-test");
		free(release);

		if (sp_kernel_vmlinux(tpath(kpath), tpath(cache), &vmlinux, &err) < 0)
			fail_msg("%s: %s", names[i], err.msg);
		got = slurp(vmlinux, &got_len);
		assert_int_equal(got_len, elf_len);
		assert_memory_equal(got, elf, elf_len);
		free(got);

		/* The ELF's banner gives the same release. */
		if (sp_kernel_release(vmlinux, &release, &err) < 0)
			fail_msg("%s", err.msg);
		assert_string_equal(release, "6.99.0-test");
		free(release);

		if (sp_kernel_vmlinux(tpath(kpath), tpath(cache), &again, &err) < 0)
			fail_msg("%s", err.msg);
		assert_string_equal(again, vmlinux);
		free(again);
		free(vmlinux);
	}
	free(elf);
}

static void test_payload_not_elf_refused(void **ctx)
{
	struct sp_err err = { 0 };
	char *vmlinux = NULL;
	uint8_t *junk = fake_elf(5000, NULL, 0);
	uint8_t *payload;
	size_t plen;

	(void)ctx;
	junk[0] = 'X';
	payload = pack(ZSTD, junk, 5000, &plen);
	fake_bzimage(tpath("bz-junk"), payload, plen, 5000);
	assert_int_equal(sp_kernel_vmlinux(tpath("bz-junk"), tpath("cache-junk"), &vmlinux, &err), -1);
	assert_non_null(strstr(err.msg, "not an ELF"));
	assert_null(vmlinux);

	/* Truncated: the stream ends early. */
	fake_bzimage(tpath("bz-short"), payload, plen / 2, 5000);
	assert_int_equal(sp_kernel_vmlinux(tpath("bz-short"), tpath("cache-junk"), &vmlinux, &err), -1);
	assert_non_null(strstr(err.msg, "bz-short"));

	/* Neither a bzImage nor an ELF. */
	put(tpath("text"), "hello, world\n", 13);
	assert_int_equal(sp_kernel_vmlinux(tpath("text"), tpath("cache-junk"), &vmlinux, &err), -1);
	assert_non_null(strstr(err.msg, "neither a bzImage nor an ELF"));
	assert_int_equal(sp_kernel_release(tpath("text"), &vmlinux, &err), -1);

	/* No temporary file was left behind. */
	{
		char cmd[600];
		snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s)\"", tpath("cache-junk"));
		assert_int_equal(system(cmd), 0);
	}
	free(payload);
	free(junk);
}

static void test_elf_passes_through(void **ctx)
{
	struct sp_err err = { 0 };
	char *vmlinux = NULL;
	struct stat st;

	(void)ctx;
	if (sp_kernel_vmlinux("/bin/true", tpath("cache-elf"), &vmlinux, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(vmlinux, "/bin/true");
	free(vmlinux);
	assert_int_equal(stat(tpath("cache-elf"), &st), -1);
}

static void test_host_kernel(void **ctx)
{
	struct sp_err err = { 0 };
	struct host_kernel h;
	char *vmlinux = NULL, *again = NULL, *release = NULL;
	struct stat kst, vst;
	double t0, t1, t2;
	uint8_t magic[4];
	int fd;

	(void)ctx;
	host_kernel(&h);
	/* The release is what Debian names the file after. */
	assert_string_equal(strrchr(h.path, '/') + 1 + strlen("vmlinuz-"), h.release);

	t0 = now();
	if (sp_kernel_vmlinux(h.path, tpath("cache-host"), &vmlinux, &err) < 0)
		fail_msg("%s", err.msg);
	t1 = now();
	if (sp_kernel_vmlinux(h.path, tpath("cache-host"), &again, &err) < 0)
		fail_msg("%s", err.msg);
	t2 = now();
	print_message("vmlinux of %s: %.3f s, cached %.3f s\n", h.path, t1 - t0, t2 - t1);
	assert_string_equal(vmlinux, again);
	assert_non_null(strstr(vmlinux, "/vmlinux-"));
	assert_true(t2 - t1 < 1.0);

	fd = open(vmlinux, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, magic, 4), 4);
	close(fd);
	assert_memory_equal(magic, "\x7f" "ELF", 4);
	assert_int_equal(stat(h.path, &kst), 0);
	assert_int_equal(stat(vmlinux, &vst), 0);
	assert_true(vst.st_size > kst.st_size);

	if (sp_kernel_release(vmlinux, &release, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(release, h.release);

	free(release);
	free(vmlinux);
	free(again);
	free(h.path);
	free(h.release);
}

/* Initramfs. */

static void check_layout(const struct entry *e, size_t n)
{
	static const char *const dirs[] = {
		"dev", "proc", "sys", "tmp", "run", "mnt", "home", "nix", "nix/store", "usr", "lib", "lib/modules",
	};
	const struct entry *x;

	for (size_t i = 0; i < n; i++) {
		assert_int_equal(e[i].ino, i + 1);
		assert_int_equal(e[i].mtime, 0);
		assert_int_equal(e[i].uid, 0);
		assert_int_equal(e[i].gid, 0);
		assert_int_equal(e[i].nlink, S_ISDIR(e[i].mode) ? 2 : 1);
		if (i > 0)
			assert_true(strcmp(e[i - 1].name, e[i].name) < 0);
	}
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		x = find(e, n, dirs[i]);
		assert_non_null(x);
		assert_int_equal(x->mode, S_IFDIR | 0755);
	}
	x = find(e, n, "dev/console");
	assert_non_null(x);
	assert_int_equal(x->mode, S_IFCHR | 0600);
	assert_int_equal(x->rmaj, 5);
	assert_int_equal(x->rmin, 1);
	x = find(e, n, "dev/null");
	assert_non_null(x);
	assert_int_equal(x->mode, S_IFCHR | 0666);
	assert_int_equal(x->rmaj, 1);
	assert_int_equal(x->rmin, 3);
}

/* Checks lib/modules/order against the .ko entries (the same names, in
 * the same order) and returns it. */
static char *check_order(const struct entry *e, size_t n)
{
	const struct entry *order = find(e, n, "lib/modules/order");
	char *text, *save = NULL;
	size_t k = 0;

	assert_non_null(order);
	assert_int_equal(order->mode, S_IFREG | 0644);
	text = strndup((const char *)order->data, order->size);
	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		if (strncmp(e[i].name, "lib/modules/", 12) == 0 && strstr(e[i].name, ".ko")) {
			assert_int_equal(e[i].mode, S_IFREG | 0644);
			assert_memory_equal(e[i].data, "\x7f" "ELF", 4);
			k++;
		}
	char *copy = strdup(text);
	size_t m = 0;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char name[300];
		m++;
		snprintf(name, sizeof name, "lib/modules/%s", l);
		assert_non_null(find(e, n, name));
		assert_int_equal(atoi(l), (int)m);
	}
	free(copy);
	assert_int_equal(m, k);
	return text;
}

/* A module tree of four modules, one per kind of file. */
static void fake_modules(void)
{
	static const char dep[] = "kernel/a/ring.ko:\n"
				  "kernel/a/core-x.ko.xz: kernel/a/ring.ko\n"
				  "kernel/b/drv.ko.zst: kernel/c/gz.ko.gz kernel/a/core-x.ko.xz kernel/a/ring.ko\n"
				  "kernel/c/gz.ko.gz:\n"
				  "kernel/c/broken.ko: kernel/c/gone.ko\n";
	static const struct {
		const char *path;
		int fmt; /* -1 plain */
	} files[] = {
		{ "mods/kernel/a/ring.ko", -1 },
		{ "mods/kernel/a/core-x.ko.xz", XZ },
		{ "mods/kernel/b/drv.ko.zst", ZSTD },
		{ "mods/kernel/c/gz.ko.gz", GZIP },
	};

	mkdirs("mods/kernel/a");
	mkdirs("mods/kernel/b");
	mkdirs("mods/kernel/c");
	put(tpath("mods/modules.dep"), dep, strlen(dep));
	put(tpath("mods/modules.builtin"), "kernel/fs/built-in.ko\n", 22);
	for (size_t i = 0; i < 4; i++) {
		uint8_t *elf = fake_elf(70000, files[i].path, strlen(files[i].path));
		if (files[i].fmt < 0) {
			put(tpath(files[i].path), elf, 70000);
		} else {
			size_t len;
			uint8_t *c = pack((enum fmt)files[i].fmt, elf, 70000, &len);
			put(tpath(files[i].path), c, len);
			free(c);
		}
		free(elf);
	}
}

static void test_initramfs_fake_modules(void **ctx)
{
	/* "core_x" names core-x.ko.xz: "-" and "_" are the same. */
	static const char *const mods[] = { "drv", "core_x", "built_in", NULL };
	struct sp_initramfs_spec spec = { "/bin/true", NULL, mods };
	struct sp_err err = { 0 };
	struct entry e[64];
	size_t len, n;
	uint8_t *a;
	char *order;

	(void)ctx;
	fake_modules();
	spec.modules_dir = tpath("mods");
	a = archive(&spec, "fake.cpio", &len);
	n = newc_read(a, len, e, 64);
	check_layout(e, n);
	order = check_order(e, n);
	/* drv's dependencies, last listed first, then drv; built_in is
	 * built in. */
	assert_string_equal(order, "01-ring.ko\n02-core-x.ko\n03-gz.ko\n04-drv.ko\n");
	free(order);
	{
		const struct entry *x = find(e, n, "lib/modules/04-drv.ko");
		uint8_t *want = fake_elf(70000, "mods/kernel/b/drv.ko.zst", 24);
		assert_int_equal(x->size, 70000);
		assert_memory_equal(x->data, want, 70000);
		free(want);
		x = find(e, n, "lib/modules/02-core-x.ko");
		want = fake_elf(70000, "mods/kernel/a/core-x.ko.xz", 26);
		assert_memory_equal(x->data, want, 70000);
		free(want);
	}
	free(a);

	/* A dependency without a line of its own. */
	spec.modules = (const char *const[]){ "broken", NULL };
	assert_int_equal(sp_initramfs_write(&spec, -1, &err), -1);
	assert_non_null(strstr(err.msg, "kernel/c/gone.ko"));

	/* No modules at all: an empty order. */
	spec.modules = NULL;
	a = archive(&spec, "none.cpio", &len);
	n = newc_read(a, len, e, 64);
	order = check_order(e, n);
	assert_string_equal(order, "");
	free(order);
	free(a);
}

static void test_initramfs_host(void **ctx)
{
	static const char *const mods[] = { "virtiofs", "virtio_console", "virtio_pci", NULL };
	struct host_kernel h;
	struct sp_initramfs_spec spec = { "/bin/true", NULL, mods };
	struct sp_err err = { 0 };
	struct entry e[128];
	size_t len1, len2, true_len, n;
	uint8_t *a1, *a2, *agent;
	char *path1 = NULL, *path2 = NULL, *order, *p;
	const struct entry *init;
	struct stat st;

	(void)ctx;
	host_kernel(&h);
	spec.modules_dir = h.modules;

	a1 = archive(&spec, "one.cpio", &len1);
	a2 = archive(&spec, "two.cpio", &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(a1, a2, len1);

	if (sp_initramfs_cached(&spec, tpath("cache-initramfs"), &path1, &err) < 0)
		fail_msg("%s", err.msg);
	if (sp_initramfs_cached(&spec, tpath("cache-initramfs"), &path2, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(path1, path2);
	assert_non_null(strstr(path1, "/initramfs-"));
	assert_int_equal(stat(path1, &st), 0);
	assert_int_equal(st.st_size, (off_t)len1);
	free(a2);
	a2 = slurp(path1, &len2);
	assert_memory_equal(a1, a2, len1);

	n = newc_read(a1, len1, e, 128);
	check_layout(e, n);
	init = find(e, n, "init");
	assert_non_null(init);
	assert_int_equal(init->mode, 0100755);
	agent = slurp("/bin/true", &true_len);
	assert_int_equal(init->size, true_len);
	assert_memory_equal(init->data, agent, true_len);

	order = check_order(e, n);
	print_message("initramfs for %s: %zu bytes, modules:\n%s", h.release, len1, order);
	/* Dependencies first (DESIGN.md lists this order). */
	p = strstr(order, "-virtio_ring.ko\n");
	assert_non_null(p);
	p = strstr(p, "-virtio.ko\n");
	assert_non_null(p);
	p = strstr(p, "-virtio_pci.ko\n");
	assert_non_null(p);
	assert_true(strstr(order, "-fuse.ko\n") < strstr(order, "-virtiofs.ko\n"));
	assert_non_null(strstr(order, "-virtio_console.ko\n"));
	assert_true(strstr(order, "-virtio_pci_modern_dev.ko\n") < strstr(order, "-virtio_pci.ko\n"));

	free(order);
	free(agent);
	free(a1);
	free(a2);
	free(path1);
	free(path2);
	free(h.path);
	free(h.release);
}

static void test_initramfs_missing_module(void **ctx)
{
	static const char *const mods[] = { "virtio_pci", "no_such_module_xyz", NULL };
	struct host_kernel h;
	struct sp_initramfs_spec spec = { "/bin/true", NULL, mods };
	struct sp_err err = { 0 };

	(void)ctx;
	host_kernel(&h);
	spec.modules_dir = h.modules;
	assert_int_equal(sp_initramfs_write(&spec, -1, &err), -1);
	assert_non_null(strstr(err.msg, "no_such_module_xyz"));
	assert_non_null(strstr(err.msg, h.modules));

	/* A missing agent is named. */
	spec.agent_path = "/nonexistent/agent";
	spec.modules = NULL;
	assert_int_equal(sp_initramfs_write(&spec, -1, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/agent"));
	free(h.path);
	free(h.release);
}

/* The first module of the machine's modules.builtin leaves no .ko. */
static void test_initramfs_builtin_skipped(void **ctx)
{
	struct host_kernel h;
	struct sp_initramfs_spec spec = { "/bin/true", NULL, NULL };
	char builtin[600], line[256], *slash, *dot;
	struct entry e[64];
	size_t len, n;
	uint8_t *a;
	char *order;
	FILE *f;

	(void)ctx;
	host_kernel(&h);
	snprintf(builtin, sizeof builtin, "%s/modules.builtin", h.modules);
	f = fopen(builtin, "re");
	if (!f || !fgets(line, sizeof line, f)) {
		print_message("%s empty or missing: skipping\n", builtin);
		if (f)
			fclose(f);
		free(h.path);
		free(h.release);
		skip();
	}
	fclose(f);
	slash = strrchr(line, '/');
	dot = strstr(slash ? slash : line, ".ko");
	assert_non_null(dot);
	*dot = '\0';
	spec.modules_dir = h.modules;
	spec.modules = (const char *const[]){ slash ? slash + 1 : line, NULL };
	a = archive(&spec, "builtin.cpio", &len);
	n = newc_read(a, len, e, 64);
	order = check_order(e, n);
	assert_string_equal(order, "");
	free(order);
	free(a);
	free(h.path);
	free(h.release);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_kernel_by_version),
		cmocka_unit_test(test_fake_bzimage_each_format),
		cmocka_unit_test(test_payload_not_elf_refused),
		cmocka_unit_test(test_elf_passes_through),
		cmocka_unit_test(test_host_kernel),
		cmocka_unit_test(test_initramfs_fake_modules),
		cmocka_unit_test(test_initramfs_host),
		cmocka_unit_test(test_initramfs_missing_module),
		cmocka_unit_test(test_initramfs_builtin_skipped),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
