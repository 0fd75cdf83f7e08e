#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/sha256.h"
#include "util/strv.h"
#include "vm/initramfs.h"
#include "vm/kernel.h"

/* NN in lib/modules/NN-NAME.ko has two digits. */
#define MAX_MODULES 99
/* Larger inputs are not a kernel module or an agent. */
#define MAX_INPUT (256u << 20)

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_append(struct buf *b, const void *data, size_t len)
{
	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *np;
		while (cap - b->len < len) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		np = realloc(b->p, cap);
		if (!np)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static int buf_sink(const void *data, size_t len, void *ctx, struct sp_err *err)
{
	if (buf_append(ctx, data, len) < 0)
		return sp_fail_errno(err, ENOMEM, "decompress");
	return 0;
}

/* The newc writer. */

struct cpio_entry {
	char *name;
	uint32_t mode;
	uint32_t rdev_major, rdev_minor;
	uint8_t *data;
	size_t size;
};

/* Appends "070701" entry E as inode INO: the 110-byte header, the name
 * with its NUL padded to 4 bytes, the data padded to 4 bytes.  The
 * header's offset is a multiple of 4 (each entry ends on one). */
static int newc_append(struct buf *b, uint32_t ino, const struct cpio_entry *e, struct sp_err *err)
{
	static const uint8_t zeros[4];
	size_t namesize = strlen(e->name) + 1;
	char hdr[110 + 1];

	if (e->size > UINT32_MAX || namesize > UINT32_MAX)
		return sp_fail(err, SP_ERR_RUNTIME, "initramfs: %s is too large for a newc archive", e->name);
	snprintf(hdr, sizeof hdr, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, e->mode,
		 0u /* uid */, 0u /* gid */, S_ISDIR(e->mode) ? 2u : 1u, 0u /* mtime */, (uint32_t)e->size,
		 0u /* devmajor */, 0u /* devminor */, e->rdev_major, e->rdev_minor, (uint32_t)namesize,
		 0u /* check */);
	if (buf_append(b, hdr, 110) < 0 || buf_append(b, e->name, namesize) < 0 ||
	    buf_append(b, zeros, (4 - (110 + namesize) % 4) % 4) < 0 || buf_append(b, e->data, e->size) < 0 ||
	    buf_append(b, zeros, (4 - e->size % 4) % 4) < 0)
		return sp_fail_errno(err, ENOMEM, "initramfs: %s", e->name);
	return 0;
}

/* The contents. */

struct contents {
	struct cpio_entry *v;
	size_t n;
};

static void contents_free(struct contents *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].data);
	}
	free(c->v);
}

/* Adds an entry; takes DATA (malloc'ed) even on failure. */
static int add(struct contents *c, const char *name, uint32_t mode, uint32_t rmaj, uint32_t rmin, struct buf *data,
	       struct sp_err *err)
{
	struct cpio_entry *nv = realloc(c->v, (c->n + 1) * sizeof *nv);
	char *copy = strdup(name);

	if (nv)
		c->v = nv;
	if (!nv || !copy) {
		free(copy);
		if (data)
			free(data->p);
		return sp_fail_errno(err, ENOMEM, "initramfs: %s", name);
	}
	c->v[c->n++] = (struct cpio_entry){
		.name = copy,
		.mode = mode,
		.rdev_major = rmaj,
		.rdev_minor = rmin,
		.data = data ? data->p : NULL,
		.size = data ? data->len : 0,
	};
	if (data)
		*data = (struct buf){ 0 };
	return 0;
}

static int read_file(const char *path, struct buf *out, struct sp_err *err)
{
	cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	*out = (struct buf){ 0 };
	if (fd < 0 || fstat(fd, &st) < 0)
		return sp_fail_errno(err, errno, "open %s", path);
	if (!S_ISREG(st.st_mode))
		return sp_fail(err, SP_ERR_RUNTIME, "%s: not a regular file", path);
	if ((uint64_t)st.st_size > MAX_INPUT)
		return sp_fail(err, SP_ERR_RUNTIME, "%s: larger than %u MiB", path, MAX_INPUT >> 20);
	out->cap = (size_t)st.st_size + 1;
	out->p = malloc(out->cap);
	if (!out->p)
		return sp_fail_errno(err, ENOMEM, "read %s", path);
	for (;;) {
		ssize_t r;
		if (out->len == out->cap) {
			/* It grew since fstat: make room and go on. */
			uint8_t *np = out->cap < MAX_INPUT ? realloc(out->p, out->cap * 2) : NULL;
			if (!np) {
				free(out->p);
				*out = (struct buf){ 0 };
				return sp_fail(err, SP_ERR_RUNTIME, "read %s: it grew too large while read", path);
			}
			out->p = np;
			out->cap *= 2;
		}
		r = read(fd, out->p + out->len, out->cap - out->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(out->p);
			*out = (struct buf){ 0 };
			return sp_fail_errno(err, errno, "read %s", path);
		}
		if (r == 0)
			return 0;
		out->len += (size_t)r;
	}
}

/* Modules. */

struct dep_line {
	char *path; /* relative to the modules directory, as modules.dep has it */
	char *deps; /* the rest of the line: paths separated by spaces */
	char name[64];
	int state; /* 0 not seen, 1 being visited, 2 placed */
};

struct modules {
	const char *dir;
	char *dep_text, *builtin_text;
	struct dep_line *lines;
	size_t n;
	const struct dep_line *order[MAX_MODULES];
	size_t count;
};

/* "kernel/drivers/char/virtio_console.ko.xz" -> "virtio_console"; "-"
 * and "_" are the same in module names (kmod says so). */
static void module_name(const char *path, char *name, size_t size)
{
	const char *base = strrchr(path, '/');
	size_t n = 0;

	base = base ? base + 1 : path;
	for (; base[n] && n + 1 < size; n++) {
		if (strncmp(base + n, ".ko", 3) == 0 && (base[n + 3] == '\0' || base[n + 3] == '.'))
			break;
		name[n] = base[n] == '-' ? '_' : base[n];
	}
	name[n] = '\0';
}

static int slurp_text(const char *dir, const char *file, bool optional, char **text, struct sp_err *err)
{
	cleanup_free char *path = sp_printf("%s/%s", dir, file);
	struct buf b;

	*text = NULL;
	if (!path)
		return sp_fail_errno(err, ENOMEM, "%s/%s", dir, file);
	if (optional && access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (read_file(path, &b, err) < 0)
		return -1;
	if (buf_append(&b, "", 1) < 0) {
		free(b.p);
		return sp_fail_errno(err, ENOMEM, "read %s", path);
	}
	*text = (char *)b.p;
	return 0;
}

static int modules_load(struct modules *m, const char *dir, struct sp_err *err)
{
	char *save = NULL;

	*m = (struct modules){ .dir = dir };
	if (slurp_text(dir, "modules.dep", false, &m->dep_text, err) < 0)
		return -1;
	/* A kernel without built-in modules may lack the file. */
	if (slurp_text(dir, "modules.builtin", true, &m->builtin_text, err) < 0)
		return -1;
	for (char *line = strtok_r(m->dep_text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		struct dep_line *nv;
		if (!colon)
			return sp_fail(err, SP_ERR_RUNTIME, "%s/modules.dep: a line without ':': %.64s", dir, line);
		nv = realloc(m->lines, (m->n + 1) * sizeof *nv);
		if (!nv)
			return sp_fail_errno(err, ENOMEM, "read %s/modules.dep", dir);
		m->lines = nv;
		*colon = '\0';
		nv = &m->lines[m->n++];
		*nv = (struct dep_line){ .path = line, .deps = colon + 1 };
		module_name(line, nv->name, sizeof nv->name);
	}
	return 0;
}

static void modules_free(struct modules *m)
{
	free(m->dep_text);
	free(m->builtin_text);
	free(m->lines);
}

static struct dep_line *find_by_name(struct modules *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->lines[i].name, name) == 0)
			return &m->lines[i];
	return NULL;
}

static struct dep_line *find_by_path(struct modules *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->lines[i].path, path) == 0)
			return &m->lines[i];
	return NULL;
}

static bool is_builtin(const struct modules *m, const char *name)
{
	const char *p = m->builtin_text;
	char have[64], line[512];

	while (p && *p) {
		size_t n = strcspn(p, "\n");
		snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), p);
		module_name(line, have, sizeof have);
		if (strcmp(have, name) == 0)
			return true;
		p += n + (p[n] == '\n');
	}
	return false;
}

/* Depth-first, post-order: a module is placed after all it needs. */
static int visit(struct modules *m, struct dep_line *l, struct sp_err *err)
{
	cleanup_free char **deps = NULL;
	size_t n = 0;
	char *save = NULL;

	if (l->state == 2)
		return 0;
	if (l->state == 1)
		return sp_fail(err, SP_ERR_RUNTIME, "%s/modules.dep: %s depends on itself", m->dir, l->name);
	l->state = 1;
	for (char *d = strtok_r(l->deps, " \t", &save); d; d = strtok_r(NULL, " \t", &save)) {
		char **nv = realloc(deps, (n + 1) * sizeof *nv);
		if (!nv)
			return sp_fail_errno(err, ENOMEM, "%s/modules.dep", m->dir);
		deps = nv;
		deps[n++] = d;
	}
	/* depmod lists a module's dependencies so that modprobe loads them
	 * last to first; do the same. */
	while (n-- > 0) {
		struct dep_line *d = find_by_path(m, deps[n]);
		if (!d)
			return sp_fail(err, SP_ERR_RUNTIME, "%s/modules.dep: %s needs %s, which has no line", m->dir,
				       l->name, deps[n]);
		if (visit(m, d, err) < 0)
			return -1;
	}
	if (m->count == MAX_MODULES)
		return sp_fail(err, SP_ERR_RUNTIME, "initramfs: more than %d modules needed", MAX_MODULES);
	m->order[m->count++] = l;
	l->state = 2;
	return 0;
}

static int resolve(struct modules *m, const char *const *names, struct sp_err *err)
{
	for (size_t i = 0; names && names[i]; i++) {
		char name[64];
		struct dep_line *l;
		module_name(names[i], name, sizeof name);
		l = find_by_name(m, name);
		if (l) {
			if (visit(m, l, err) < 0)
				return -1;
			continue;
		}
		if (is_builtin(m, name))
			continue;
		return sp_fail(err, SP_ERR_RUNTIME,
			       "kernel module %s: in neither %s/modules.dep nor %s/modules.builtin", names[i], m->dir,
			       m->dir);
	}
	return 0;
}

/* The module's bytes, decompressed when modules.dep names a .ko.xz,
 * .ko.zst or .ko.gz. */
static int module_data(const struct modules *m, const struct dep_line *l, struct buf *out, struct sp_err *err)
{
	cleanup_free char *path = l->path[0] == '/' ? strdup(l->path) : sp_printf("%s/%s", m->dir, l->path);
	const char *ext;
	struct buf raw;
	int r;

	*out = (struct buf){ 0 };
	if (!path)
		return sp_fail_errno(err, ENOMEM, "%s", l->path);
	if (read_file(path, &raw, err) < 0)
		return -1;
	ext = strrchr(path, '/');
	ext = strstr(ext ? ext : path, ".ko");
	if (ext && strcmp(ext, ".ko") == 0) {
		*out = raw;
		return 0;
	}
	if (!ext || (strcmp(ext, ".ko.xz") != 0 && strcmp(ext, ".ko.zst") != 0 && strcmp(ext, ".ko.gz") != 0)) {
		free(raw.p);
		return sp_fail(err, SP_ERR_RUNTIME, "%s: not a .ko, .ko.xz, .ko.zst or .ko.gz file", path);
	}
	r = sp_vm_decompress(raw.p, raw.len, buf_sink, out, path, err);
	free(raw.p);
	if (r < 0) {
		free(out->p);
		*out = (struct buf){ 0 };
	}
	return r;
}

/* The .ko name in the archive: its position, then its file name. */
static void archive_name(const struct dep_line *l, size_t pos, char *name, size_t size)
{
	const char *base = strrchr(l->path, '/');
	const char *ext;
	int n;

	base = base ? base + 1 : l->path;
	ext = strstr(base, ".ko");
	n = ext ? (int)(ext - base) : (int)strlen(base);
	snprintf(name, size, "%02zu-%.*s.ko", pos, n, base);
}

static int add_modules(struct contents *c, const struct sp_initramfs_spec *spec, struct sp_err *err)
{
	struct modules m;
	struct buf order = { 0 };
	int r = -1;

	if (modules_load(&m, spec->modules_dir, err) < 0 || resolve(&m, spec->modules, err) < 0)
		goto out;
	for (size_t i = 0; i < m.count; i++) {
		char name[128], entry[160];
		struct buf data;
		archive_name(m.order[i], i + 1, name, sizeof name);
		snprintf(entry, sizeof entry, "lib/modules/%s", name);
		if (module_data(&m, m.order[i], &data, err) < 0 || add(c, entry, S_IFREG | 0644, 0, 0, &data, err) < 0)
			goto out;
		if (buf_append(&order, name, strlen(name)) < 0 || buf_append(&order, "\n", 1) < 0) {
			sp_fail_errno(err, ENOMEM, "initramfs: lib/modules/order");
			goto out;
		}
	}
	r = add(c, "lib/modules/order", S_IFREG | 0644, 0, 0, &order, err);
out:
	free(order.p);
	modules_free(&m);
	return r;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct cpio_entry *)a)->name, ((const struct cpio_entry *)b)->name);
}

/* The archive's bytes into OUT. */
static int build(const struct sp_initramfs_spec *spec, struct buf *out, struct sp_err *err)
{
	/* Mount points for the agent: the kernel's file systems, the shares
	 * (nix/store, home, mnt) and scratch space. */
	static const char *const dirs[] = {
		"dev", "proc", "sys", "tmp", "run", "mnt", "home", "nix", "nix/store", "usr", "lib", "lib/modules",
	};
	struct contents c = { 0 };
	struct cpio_entry trailer = { .name = "TRAILER!!!", .mode = 0 };
	struct buf agent;
	int r = -1;

	*out = (struct buf){ 0 };
	if (!spec->agent_path || !spec->modules_dir)
		return sp_fail(err, SP_ERR_USAGE, "initramfs: no agent or no modules directory given");
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (add(&c, dirs[i], S_IFDIR | 0755, 0, 0, NULL, err) < 0)
			goto out;
	/* With /dev/console in the archive the kernel opens it for PID 1
	 * before devtmpfs is mounted: the agent has stdin, stdout, stderr. */
	if (add(&c, "dev/console", S_IFCHR | 0600, 5, 1, NULL, err) < 0 ||
	    add(&c, "dev/null", S_IFCHR | 0666, 1, 3, NULL, err) < 0)
		goto out;
	if (read_file(spec->agent_path, &agent, err) < 0 || add(&c, "init", S_IFREG | 0755, 0, 0, &agent, err) < 0)
		goto out;
	if (add_modules(&c, spec, err) < 0)
		goto out;
	qsort(c.v, c.n, sizeof *c.v, cmp_entry);
	for (size_t i = 0; i < c.n; i++)
		if (newc_append(out, (uint32_t)(i + 1), &c.v[i], err) < 0)
			goto out;
	if (newc_append(out, 0, &trailer, err) < 0)
		goto out;
	r = 0;
out:
	if (r < 0) {
		free(out->p);
		*out = (struct buf){ 0 };
	}
	contents_free(&c);
	return r;
}

int sp_initramfs_write(const struct sp_initramfs_spec *spec, int out_fd, struct sp_err *err)
{
	struct buf b;
	int r;

	if (build(spec, &b, err) < 0)
		return -1;
	r = sp_vm_write_all(out_fd, b.p, b.len, "the initramfs", err);
	free(b.p);
	return r;
}

static int fill_buf(int fd, const char *path, void *ctx, struct sp_err *err)
{
	const struct buf *b = ctx;

	return sp_vm_write_all(fd, b->p, b->len, path, err);
}

int sp_initramfs_cached(const struct sp_initramfs_spec *spec, const char *cache_dir, char **path,
			struct sp_err *err)
{
	char name[sizeof "initramfs-" + 64 + sizeof ".cpio"];
	char hex[65];
	uint8_t digest[32];
	struct sp_sha256 h;
	struct stat st;
	struct buf b;
	int r = -1;

	*path = NULL;
	if (build(spec, &b, err) < 0)
		return -1;
	if (sp_sha256_init(&h) < 0) {
		sp_fail(err, SP_ERR_RUNTIME, "hash the initramfs: cannot load libcrypto.so.3");
		goto out;
	}
	sp_sha256_update(&h, b.p, b.len);
	sp_sha256_final(&h, digest);
	sp_hex(digest, sizeof digest, hex);
	snprintf(name, sizeof name, "initramfs-%s.cpio", hex);
	*path = sp_printf("%s/%s", cache_dir, name);
	if (!*path) {
		sp_fail_errno(err, ENOMEM, "%s/%s", cache_dir, name);
		goto out;
	}
	/* Only a complete file ever has this name. */
	if (stat(*path, &st) == 0 && S_ISREG(st.st_mode)) {
		r = 0;
		goto out;
	}
	r = sp_vm_cache_write(cache_dir, name, fill_buf, &b, err);
	if (r < 0) {
		free(*path);
		*path = NULL;
	}
out:
	free(b.p);
	return r;
}
