#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "util/cleanup.h"
#include "util/sha256.h"
#include "util/strv.h"
#include "vm/kernel.h"

/* Decompressed data reaches the sink in chunks of this size (the last one
 * shorter), so the first chunk always holds the ELF header. */
#define CHUNK (1u << 20)

/* The x86 boot protocol (Documentation/x86/boot.rst): offsets into the
 * bzImage file. */
#define BZ_SETUP_SECTS 0x1F1
#define BZ_MAGIC 0x202 /* "HdrS" */
#define BZ_VERSION 0x206
#define BZ_KERNEL_VERSION 0x20E
#define BZ_PAYLOAD_OFFSET 0x248
#define BZ_PAYLOAD_LENGTH 0x24C
#define BZ_HEADER_END 0x250

static const uint8_t elf_magic[4] = { 0x7f, 'E', 'L', 'F' };

struct mapped {
	const uint8_t *p;
	size_t len;
};

static int map_file(const char *path, struct mapped *m, struct sp_err *err)
{
	cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *p;

	m->p = NULL;
	m->len = 0;
	if (fd < 0 || fstat(fd, &st) < 0)
		return sp_fail_errno(err, errno, "open %s", path);
	if (!S_ISREG(st.st_mode))
		return sp_fail(err, SP_ERR_RUNTIME, "%s: not a regular file", path);
	if (st.st_size == 0)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: empty file", path);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return sp_fail_errno(err, errno, "map %s", path);
	m->p = p;
	m->len = (size_t)st.st_size;
	return 0;
}

static void unmap_file(struct mapped *m)
{
	if (m->p)
		munmap((void *)m->p, m->len);
	m->p = NULL;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool is_elf(const struct mapped *m)
{
	return m->len >= 4 && memcmp(m->p, elf_magic, 4) == 0;
}

static bool is_bzimage(const struct mapped *m)
{
	return m->len >= BZ_HEADER_END && memcmp(m->p + BZ_MAGIC, "HdrS", 4) == 0;
}

int sp_kernel_default(const char *boot_dir, char **path, struct sp_err *err)
{
	cleanup_free char *best = NULL;
	struct dirent *e;
	DIR *d = opendir(boot_dir);

	*path = NULL;
	if (!d)
		return sp_fail_errno(err, errno, "no guest kernel: cannot list %s", boot_dir);
	while ((e = readdir(d))) {
		struct stat st;
		if (strncmp(e->d_name, "vmlinuz-", 8) != 0 || !e->d_name[8])
			continue;
		/* A dangling link or a directory is no kernel. */
		if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (best && strverscmp(e->d_name, best) <= 0)
			continue;
		free(best);
		best = strdup(e->d_name);
		if (!best) {
			closedir(d);
			return sp_fail_errno(err, ENOMEM, "list %s", boot_dir);
		}
	}
	closedir(d);
	if (!best)
		return sp_fail(err, SP_ERR_RUNTIME,
			       "no guest kernel: %s has no vmlinuz-* (install linux-image-amd64 or set vm.kernel)",
			       boot_dir);
	*path = sp_printf("%s/%s", boot_dir, best);
	if (!*path)
		return sp_fail_errno(err, ENOMEM, "list %s", boot_dir);
	return 0;
}

/* The release at P: up to the first space, NUL or non-printable byte. */
static int take_release(const char *path, const uint8_t *p, size_t avail, char **release, struct sp_err *err)
{
	size_t n = 0;

	while (n < avail && n < 256 && p[n] > ' ' && p[n] < 0x7f)
		n++;
	if (n == 0 || n == 256)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: no kernel release in its version string", path);
	*release = strndup((const char *)p, n);
	if (!*release)
		return sp_fail_errno(err, ENOMEM, "%s", path);
	return 0;
}

int sp_kernel_release(const char *kernel_path, char **release, struct sp_err *err)
{
	static const char banner[] = "Linux version ";
	struct mapped m;
	int r = -1;

	*release = NULL;
	if (map_file(kernel_path, &m, err) < 0)
		return -1;
	if (is_bzimage(&m)) {
		size_t off = (size_t)le16(m.p + BZ_KERNEL_VERSION) + 0x200;
		if (le16(m.p + BZ_VERSION) < 0x200 || le16(m.p + BZ_KERNEL_VERSION) == 0 || off >= m.len) {
			sp_fail(err, SP_ERR_RUNTIME, "%s: bzImage without a kernel_version string", kernel_path);
			goto out;
		}
		r = take_release(kernel_path, m.p + off, m.len - off, release, err);
	} else if (is_elf(&m)) {
		/* linux_banner; other strings start the same ("Linux version %s"),
		 * so take the first one followed by a digit. */
		const uint8_t *p = m.p, *end = m.p + m.len;
		while ((p = memmem(p, (size_t)(end - p), banner, sizeof banner - 1))) {
			p += sizeof banner - 1;
			if (p < end && *p >= '0' && *p <= '9')
				break;
		}
		if (!p) {
			sp_fail(err, SP_ERR_RUNTIME, "%s: ELF file without a \"Linux version\" string", kernel_path);
			goto out;
		}
		r = take_release(kernel_path, p, (size_t)(end - p), release, err);
	} else {
		sp_fail(err, SP_ERR_RUNTIME, "%s: neither a bzImage nor an ELF vmlinux", kernel_path);
	}
out:
	unmap_file(&m);
	return r;
}

/* Decompressors.  Each fills OUT to CHUNK before handing it on. */

static int unxz(const uint8_t *in, size_t len, uint8_t *out, sp_vm_sink *sink, void *ctx, const char *what,
		struct sp_err *err)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret ret;
	int r = -1;

	/* No LZMA_CONCATENATED: the bytes after the stream are not xz. */
	if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK)
		return sp_fail_errno(err, ENOMEM, "%s: xz decoder", what);
	s.next_in = in;
	s.avail_in = len;
	do {
		s.next_out = out;
		s.avail_out = CHUNK;
		do
			ret = lzma_code(&s, LZMA_FINISH);
		while (ret == LZMA_OK && s.avail_out > 0);
		if (ret != LZMA_OK && ret != LZMA_STREAM_END) {
			sp_fail(err, SP_ERR_RUNTIME, "%s: %s", what,
				ret == LZMA_BUF_ERROR ? "xz data ends early"
				: ret == LZMA_MEM_ERROR ? "out of memory decompressing xz"
				: ret == LZMA_OPTIONS_ERROR ? "xz options not supported"
							     : "xz data is corrupt");
			goto out;
		}
		if (CHUNK - s.avail_out > 0 && sink(out, CHUNK - s.avail_out, ctx, err) < 0)
			goto out;
	} while (ret != LZMA_STREAM_END);
	r = 0;
out:
	lzma_end(&s);
	return r;
}

static int unzstd(const uint8_t *in, size_t len, uint8_t *out, sp_vm_sink *sink, void *ctx, const char *what,
		  struct sp_err *err)
{
	ZSTD_DStream *s = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, len, 0 };
	size_t ret = 1;
	int r = -1;

	if (!s)
		return sp_fail_errno(err, ENOMEM, "%s: zstd decoder", what);
	/* The kernel compresses with --ultra -22, whose window may pass the
	 * decoder's default limit (128 MiB). */
	ZSTD_DCtx_setParameter(s, ZSTD_d_windowLogMax, 31);
	while (ret != 0) {
		ZSTD_outBuffer ob = { out, CHUNK, 0 };
		while (ob.pos < ob.size) {
			size_t in_before = ib.pos, out_before = ob.pos;
			ret = ZSTD_decompressStream(s, &ob, &ib);
			if (ZSTD_isError(ret)) {
				sp_fail(err, SP_ERR_RUNTIME, "%s: zstd: %s", what, ZSTD_getErrorName(ret));
				goto out;
			}
			if (ret == 0)
				break;
			if (ib.pos == ib.size && ib.pos == in_before && ob.pos == out_before) {
				sp_fail(err, SP_ERR_RUNTIME, "%s: zstd data ends early", what);
				goto out;
			}
		}
		if (ob.pos > 0 && sink(out, ob.pos, ctx, err) < 0)
			goto out;
	}
	r = 0;
out:
	ZSTD_freeDStream(s);
	return r;
}

static int ungzip(const uint8_t *in, size_t len, uint8_t *out, sp_vm_sink *sink, void *ctx, const char *what,
		  struct sp_err *err)
{
	z_stream z = { 0 };
	int ret = Z_OK;
	int r = -1;

	/* 16 + MAX_WBITS: a gzip header and trailer, not zlib's. */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return sp_fail_errno(err, ENOMEM, "%s: gzip decoder", what);
	z.next_in = (Bytef *)in;
	while (ret != Z_STREAM_END) {
		z.next_out = out;
		z.avail_out = CHUNK;
		while (z.avail_out > 0) {
			/* zlib counts in uInt: feed a huge input in parts. */
			if (z.avail_in == 0 && len > 0) {
				z.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
				len -= z.avail_in;
			}
			ret = inflate(&z, Z_NO_FLUSH);
			if (ret == Z_STREAM_END)
				break;
			if (ret == Z_BUF_ERROR && z.avail_in == 0 && len == 0) {
				sp_fail(err, SP_ERR_RUNTIME, "%s: gzip data ends early", what);
				goto out;
			}
			if (ret != Z_OK && ret != Z_BUF_ERROR) {
				sp_fail(err, SP_ERR_RUNTIME, "%s: gzip: %s", what, z.msg ? z.msg : "data is corrupt");
				goto out;
			}
		}
		if (CHUNK - z.avail_out > 0 && sink(out, CHUNK - z.avail_out, ctx, err) < 0)
			goto out;
	}
	r = 0;
out:
	inflateEnd(&z);
	return r;
}

static bool starts_with(const uint8_t *in, size_t len, const char *magic, size_t mlen)
{
	return len >= mlen && memcmp(in, magic, mlen) == 0;
}

int sp_vm_decompress(const uint8_t *in, size_t len, sp_vm_sink *sink, void *ctx, const char *what,
		     struct sp_err *err)
{
	cleanup_free uint8_t *out = NULL;
	const char *other = NULL;

	if (starts_with(in, len, "BZh", 3))
		other = "bzip2";
	else if (starts_with(in, len, "\x5d\x00\x00", 3))
		other = "lzma";
	else if (starts_with(in, len, "\x02\x21\x4c\x18", 4) || starts_with(in, len, "\x04\x22\x4d\x18", 4))
		other = "lz4";
	else if (starts_with(in, len, "\x89LZO", 4))
		other = "lzo";
	if (other)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: compressed with %s (only xz, zstd and gzip are supported)",
			       what, other);
	out = malloc(CHUNK);
	if (!out)
		return sp_fail_errno(err, ENOMEM, "%s", what);
	if (starts_with(in, len, "\xfd" "7zXZ\0", 6))
		return unxz(in, len, out, sink, ctx, what, err);
	if (starts_with(in, len, "\x28\xb5\x2f\xfd", 4))
		return unzstd(in, len, out, sink, ctx, what, err);
	if (starts_with(in, len, "\x1f\x8b", 2))
		return ungzip(in, len, out, sink, ctx, what, err);
	return sp_fail(err, SP_ERR_RUNTIME, "%s: unknown compression format", what);
}

int sp_vm_write_all(int fd, const void *buf, size_t len, const char *path, struct sp_err *err)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return sp_fail_errno(err, errno, "write %s", path);
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* mkdir -p DIR, mode 0755. */
static int make_dirs(const char *dir, struct sp_err *err)
{
	cleanup_free char *p = strdup(dir);
	struct stat st;

	if (!p)
		return sp_fail_errno(err, ENOMEM, "create %s", dir);
	if (!*p)
		return sp_fail(err, SP_ERR_RUNTIME, "an empty cache directory name");
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return sp_fail_errno(err, errno, "create %s", p);
		*s = c;
		if (!c)
			break;
	}
	if (stat(dir, &st) < 0)
		return sp_fail_errno(err, errno, "create %s", dir);
	if (!S_ISDIR(st.st_mode))
		return sp_fail(err, SP_ERR_RUNTIME, "%s: not a directory", dir);
	return 0;
}

int sp_vm_cache_write(const char *cache_dir, const char *name,
		      int (*fill)(int fd, const char *path, void *ctx, struct sp_err *err), void *ctx,
		      struct sp_err *err)
{
	cleanup_free char *tmp = NULL;
	cleanup_free char *final = NULL;
	cleanup_fd int fd = -1;
	cleanup_fd int dfd = -1;
	int r = -1;

	if (make_dirs(cache_dir, err) < 0)
		return -1;
	tmp = sp_printf("%s/.%s.tmp-XXXXXX", cache_dir, name);
	final = sp_printf("%s/%s", cache_dir, name);
	if (!tmp || !final)
		return sp_fail_errno(err, ENOMEM, "write %s/%s", cache_dir, name);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return sp_fail_errno(err, errno, "create a temporary file in %s", cache_dir);
	if (fchmod(fd, 0644) < 0) {
		sp_fail_errno(err, errno, "chmod %s", tmp);
		goto out;
	}
	if (fill(fd, tmp, ctx, err) < 0)
		goto out;
	if (fsync(fd) < 0) {
		sp_fail_errno(err, errno, "fsync %s", tmp);
		goto out;
	}
	/* Concurrent writers write the same bytes; the last rename wins. */
	if (rename(tmp, final) < 0) {
		sp_fail_errno(err, errno, "rename %s to %s", tmp, final);
		goto out;
	}
	free(steal_ptr(&tmp));
	dfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		sp_fail_errno(err, errno, "fsync %s", cache_dir);
		goto out;
	}
	r = 0;
out:
	if (tmp)
		unlink(tmp);
	return r;
}

struct elf_sink {
	int fd;
	const char *path;
	const char *kernel;
	size_t total;
};

static int write_elf(const void *buf, size_t len, void *ctx, struct sp_err *err)
{
	struct elf_sink *s = ctx;

	/* The first chunk is CHUNK bytes unless the whole output is shorter. */
	if (s->total == 0 && (len < 4 || memcmp(buf, elf_magic, 4) != 0))
		return sp_fail(err, SP_ERR_RUNTIME, "%s: the decompressed payload is not an ELF file", s->kernel);
	s->total += len;
	return sp_vm_write_all(s->fd, buf, len, s->path, err);
}

struct payload {
	const uint8_t *p;
	size_t len;
	const char *kernel;
};

static int fill_vmlinux(int fd, const char *path, void *ctx, struct sp_err *err)
{
	const struct payload *pl = ctx;
	struct elf_sink s = { fd, path, pl->kernel, 0 };

	if (sp_vm_decompress(pl->p, pl->len, write_elf, &s, pl->kernel, err) < 0)
		return -1;
	if (s.total == 0)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: the payload decompresses to nothing", pl->kernel);
	return 0;
}

/* The compressed kernel inside a bzImage, by boot protocol 2.08's fields. */
static int bz_payload(const struct mapped *m, const char *path, struct payload *pl, struct sp_err *err)
{
	unsigned setup_sects = m->p[BZ_SETUP_SECTS];
	uint64_t start, len;

	if (le16(m->p + BZ_VERSION) < 0x208)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: boot protocol %u.%02u has no payload fields (2.08 needed)",
			       path, m->p[BZ_VERSION + 1], m->p[BZ_VERSION]);
	/* 0 means 4, for old bootloaders' sake. */
	if (setup_sects == 0)
		setup_sects = 4;
	start = (uint64_t)(setup_sects + 1) * 512 + le32(m->p + BZ_PAYLOAD_OFFSET);
	len = le32(m->p + BZ_PAYLOAD_LENGTH);
	if (len == 0 || start > m->len || len > m->len - start)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: payload (offset %llu, length %llu) outside the file", path,
			       (unsigned long long)start, (unsigned long long)len);
	pl->p = m->p + start;
	pl->len = (size_t)len;
	pl->kernel = path;
	return 0;
}

int sp_kernel_vmlinux(const char *kernel_path, const char *cache_dir, char **vmlinux, struct sp_err *err)
{
	char name[8 + 64 + 1] = "vmlinux-";
	cleanup_free char *path = NULL;
	struct sp_sha256 h;
	struct payload pl;
	struct mapped m;
	struct stat st;
	uint8_t digest[32];
	int r = -1;

	*vmlinux = NULL;
	if (map_file(kernel_path, &m, err) < 0)
		return -1;
	if (is_elf(&m)) {
		path = strdup(kernel_path);
		if (!path) {
			sp_fail_errno(err, ENOMEM, "%s", kernel_path);
			goto out;
		}
		goto done;
	}
	if (!is_bzimage(&m)) {
		sp_fail(err, SP_ERR_RUNTIME, "%s: neither a bzImage nor an ELF vmlinux", kernel_path);
		goto out;
	}
	if (bz_payload(&m, kernel_path, &pl, err) < 0)
		goto out;
	if (sp_sha256_init(&h) < 0) {
		sp_fail(err, SP_ERR_RUNTIME, "hash %s: cannot load libcrypto.so.3", kernel_path);
		goto out;
	}
	sp_sha256_update(&h, m.p, m.len);
	sp_sha256_final(&h, digest);
	sp_hex(digest, sizeof digest, name + 8);
	path = sp_printf("%s/%s", cache_dir, name);
	if (!path) {
		sp_fail_errno(err, ENOMEM, "%s", kernel_path);
		goto out;
	}
	/* Only a complete file ever has this name. */
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		goto done;
	if (sp_vm_cache_write(cache_dir, name, fill_vmlinux, &pl, err) < 0)
		goto out;
done:
	*vmlinux = steal_ptr(&path);
	r = 0;
out:
	unmap_file(&m);
	return r;
}
