/* The host-guest wire (src/guest/proto.h): frames survive any split of
 * the stream, a bad stream is refused, and a plan parses back to what was
 * encoded while every malformed plan is refused with a reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest/proto.h"

/* ---- frames ---- */

struct frame {
	char type;
	size_t len;
	uint8_t *payload;
};

static void put_header(uint8_t *p, char type, uint32_t len)
{
	p[0] = (uint8_t)type;
	p[1] = (uint8_t)len;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)(len >> 16);
	p[4] = (uint8_t)(len >> 24);
}

/* Five frames, one of BIG bytes, written by sp_frame_write into a memfd
 * and read back as bytes. */
static uint8_t *sample_stream(size_t big_len, size_t *len)
{
	uint8_t *big = malloc(big_len), *buf;
	int fd = memfd_create("frames", MFD_CLOEXEC);
	off_t end;

	assert_non_null(big);
	assert_true(fd >= 0);
	memset(big, 'z', big_len);
	assert_int_equal(sp_frame_write(fd, SP_FRAME_READY, NULL, 0), 0);
	assert_int_equal(sp_frame_write(fd, SP_FRAME_STDOUT, "hi\n", 3), 0);
	assert_int_equal(sp_frame_write(fd, SP_FRAME_STDIN, "", 0), 0);
	assert_int_equal(sp_frame_write(fd, SP_FRAME_STDERR, big, big_len), 0);
	assert_int_equal(sp_frame_write(fd, SP_FRAME_EXIT, "exit 7", 6), 0);
	free(big);
	end = lseek(fd, 0, SEEK_CUR);
	assert_int_equal(end, 5 * SP_FRAME_HEADER + 3 + big_len + 6);
	buf = malloc((size_t)end);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
	close(fd);
	*len = (size_t)end;
	return buf;
}

static void check_sample(const struct frame *f, size_t n, size_t big_len)
{
	assert_int_equal(n, 5);
	assert_int_equal(f[0].type, 'R');
	assert_int_equal(f[0].len, 0);
	assert_int_equal(f[1].type, 'o');
	assert_int_equal(f[1].len, 3);
	assert_memory_equal(f[1].payload, "hi\n", 3);
	assert_int_equal(f[2].type, 'i');
	assert_int_equal(f[2].len, 0);
	assert_int_equal(f[3].type, 'e');
	assert_int_equal(f[3].len, big_len);
	assert_int_equal(f[3].payload[0], 'z');
	assert_int_equal(f[3].payload[big_len - 1], 'z');
	assert_int_equal(f[4].type, 'x');
	assert_memory_equal(f[4].payload, "exit 7", 6);
}

/* Takes every whole frame out of R, copying each (payloads are only valid
 * until the next call). */
static void drain(struct sp_frame_reader *r, struct frame *out, size_t *n, size_t max)
{
	const uint8_t *payload;
	size_t len;
	char type;
	int got;

	while ((got = sp_frame_next(r, &type, &payload, &len)) == 1) {
		assert_true(*n < max);
		out[*n].type = type;
		out[*n].len = len;
		out[*n].payload = malloc(len + 1);
		assert_non_null(out[*n].payload);
		memcpy(out[*n].payload, payload, len);
		(*n)++;
	}
	assert_int_equal(got, 0);
}

static void free_frames(struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].payload);
}

static void test_frame_round_trip(void **ctx)
{
	struct sp_frame_reader r = { 0 };
	struct frame f[8] = { 0 };
	size_t len, n = 0;
	/* Bigger than a pipe's buffer and a virtio port's write. */
	uint8_t *s = sample_stream(70000, &len);

	(void)ctx;
	assert_int_equal(sp_frame_feed(&r, s, len), 0);
	drain(&r, f, &n, 8);
	check_sample(f, n, 70000);
	free_frames(f, n);
	sp_frame_reader_free(&r);
	free(s);
}

static void test_frame_split_everywhere(void **ctx)
{
	size_t len;
	uint8_t *s = sample_stream(300, &len);

	(void)ctx;
	for (size_t at = 0; at <= len; at++) {
		struct sp_frame_reader r = { 0 };
		struct frame f[8] = { 0 };
		size_t n = 0;

		assert_int_equal(sp_frame_feed(&r, s, at), 0);
		drain(&r, f, &n, 8);
		assert_int_equal(sp_frame_feed(&r, s + at, len - at), 0);
		drain(&r, f, &n, 8);
		check_sample(f, n, 300);
		free_frames(f, n);
		sp_frame_reader_free(&r);
	}
	free(s);
}

static void test_frame_byte_by_byte(void **ctx)
{
	struct sp_frame_reader r = { 0 };
	struct frame f[8] = { 0 };
	size_t len, n = 0;
	uint8_t *s = sample_stream(300, &len);

	(void)ctx;
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(sp_frame_feed(&r, s + i, 1), 0);
		drain(&r, f, &n, 8);
	}
	check_sample(f, n, 300);
	free_frames(f, n);
	sp_frame_reader_free(&r);
	free(s);
}

static void test_frame_oversize_refused(void **ctx)
{
	struct sp_frame_reader r = { 0 };
	const uint8_t *payload;
	uint8_t head[SP_FRAME_HEADER];
	size_t len;
	char type;

	(void)ctx;
	/* Exactly the limit is a frame still arriving... */
	put_header(head, 'o', SP_FRAME_MAX);
	assert_int_equal(sp_frame_feed(&r, head, sizeof head), 0);
	assert_int_equal(sp_frame_next(&r, &type, &payload, &len), 0);
	sp_frame_reader_free(&r);
	/* ...one byte more is a bad stream, known from the header alone. */
	put_header(head, 'o', SP_FRAME_MAX + 1);
	assert_int_equal(sp_frame_feed(&r, head, sizeof head), 0);
	assert_int_equal(sp_frame_next(&r, &type, &payload, &len), -1);
	assert_int_equal(sp_frame_next(&r, &type, &payload, &len), -1);
	sp_frame_reader_free(&r);
	put_header(head, 'o', UINT32_MAX);
	assert_int_equal(sp_frame_feed(&r, head, sizeof head), 0);
	assert_int_equal(sp_frame_next(&r, &type, &payload, &len), -1);
	sp_frame_reader_free(&r);
}

static void test_frame_unknown_type_refused(void **ctx)
{
	static const char bad[] = { 'Z', 'p', 0, '\n', 'O' };
	const uint8_t *payload;
	size_t len;
	char type;

	(void)ctx;
	for (size_t i = 0; i < sizeof bad; i++) {
		struct sp_frame_reader r = { 0 };
		uint8_t stream[2 * SP_FRAME_HEADER + 2];

		/* A good frame first: it still comes out, then the stream
		 * stops at the bad type, already from its first byte. */
		put_header(stream, 'o', 2);
		memcpy(stream + SP_FRAME_HEADER, "ok", 2);
		put_header(stream + SP_FRAME_HEADER + 2, bad[i], 0);
		assert_int_equal(sp_frame_feed(&r, stream, SP_FRAME_HEADER + 3), 0);
		assert_int_equal(sp_frame_next(&r, &type, &payload, &len), 1);
		assert_int_equal(type, 'o');
		assert_int_equal(sp_frame_next(&r, &type, &payload, &len), -1);
		sp_frame_reader_free(&r);
	}
}

static void test_frame_write_refuses(void **ctx)
{
	int fd = memfd_create("frames", MFD_CLOEXEC);
	static uint8_t one;

	(void)ctx;
	assert_true(fd >= 0);
	errno = 0;
	assert_int_equal(sp_frame_write(fd, 'Z', "x", 1), -1);
	assert_int_equal(errno, EINVAL);
	/* Not read: the size check comes first. */
	assert_int_equal(sp_frame_write(fd, 'o', &one, (size_t)SP_FRAME_MAX + 1), -1);
	assert_int_equal(errno, E2BIG);
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	close(fd);
	assert_int_equal(sp_frame_write(fd, 'o', "x", 1), -1);
	assert_int_equal(errno, EBADF);
}

/* ---- plans ---- */

#define PAYLOAD(s) (const uint8_t *)(s), sizeof(s) - 1
/* One BPF instruction (return ALLOW), hex: the filter is required. */
#define SC "seccomp=0600000000000000\0"
#define BASE "hostname=box\0uid=1000\0gid=100\0cwd=/home/u\0" SC

static bool strv_equal(char **a, char **b)
{
	size_t i = 0;

	for (; a && a[i] && b && b[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	/* NULL and an empty list are the same list. */
	return !(a && a[i]) && !(b && b[i]);
}

static bool plan_equal(const struct sp_guest_plan *a, const struct sp_guest_plan *b)
{
	if (strcmp(a->hostname, b->hostname) != 0 || a->uid != b->uid || a->gid != b->gid ||
	    strcmp(a->cwd, b->cwd) != 0 || a->tty != b->tty || !strv_equal(a->argv, b->argv) ||
	    !strv_equal(a->envp, b->envp) || !strv_equal(a->tmpfs, b->tmpfs) || a->n_mounts != b->n_mounts ||
	    a->n_links != b->n_links || !strv_equal(a->ro, b->ro) || !strv_equal(a->mask, b->mask) ||
	    a->seccomp_len != b->seccomp_len || memcmp(a->seccomp, b->seccomp, a->seccomp_len) != 0)
		return false;
	for (size_t i = 0; i < a->n_mounts; i++)
		if (strcmp(a->mounts[i].tag, b->mounts[i].tag) != 0 ||
		    strcmp(a->mounts[i].path, b->mounts[i].path) != 0 ||
		    a->mounts[i].readonly != b->mounts[i].readonly)
			return false;
	for (size_t i = 0; i < a->n_links; i++)
		if (strcmp(a->links[i].target, b->links[i].target) != 0 ||
		    strcmp(a->links[i].path, b->links[i].path) != 0)
			return false;
	return true;
}

static void test_plan_parse_fields(void **ctx)
{
	struct sp_guest_plan p;
	char why[256];

	(void)ctx;
	assert_int_equal(sp_guest_plan_parse(PAYLOAD(BASE "tty=1\0arg=/bin/sh\0arg=\0arg=-c\0env=A=b=c\0"
						      "mount=nix-store:ro:/nix/store\0mount=home:rw:/home/u\0"
						      "link=/nix/store/x-bash/bin:/bin\0tmpfs=/tmp\0tmpfs=/run\0"
						      "ro=/proc/sys\0mask=/proc/kcore\0mask=/proc/acpi\0"),
					     &p, why, sizeof why),
			 0);
	assert_string_equal(p.hostname, "box");
	assert_int_equal(p.uid, 1000);
	assert_int_equal(p.gid, 100);
	assert_string_equal(p.cwd, "/home/u");
	assert_true(p.tty);
	assert_string_equal(p.argv[0], "/bin/sh");
	assert_string_equal(p.argv[1], "");
	assert_string_equal(p.argv[2], "-c");
	assert_null(p.argv[3]);
	assert_string_equal(p.envp[0], "A=b=c");
	assert_null(p.envp[1]);
	assert_int_equal(p.n_mounts, 2);
	assert_string_equal(p.mounts[0].tag, "nix-store");
	assert_string_equal(p.mounts[0].path, "/nix/store");
	assert_true(p.mounts[0].readonly);
	assert_false(p.mounts[1].readonly);
	assert_int_equal(p.n_links, 1);
	assert_string_equal(p.links[0].target, "/nix/store/x-bash/bin");
	assert_string_equal(p.links[0].path, "/bin");
	assert_string_equal(p.tmpfs[0], "/tmp");
	assert_string_equal(p.tmpfs[1], "/run");
	assert_null(p.tmpfs[2]);
	assert_string_equal(p.ro[0], "/proc/sys");
	assert_null(p.ro[1]);
	assert_string_equal(p.mask[0], "/proc/kcore");
	assert_string_equal(p.mask[1], "/proc/acpi");
	assert_null(p.mask[2]);
	assert_int_equal(p.seccomp_len, 8);
	assert_memory_equal(p.seccomp, "\x06\0\0\0\0\0\0\0", 8);
	sp_guest_plan_free(&p);

	/* The minimum: no env, no tmpfs, yet both lists are there for execve. */
	assert_int_equal(sp_guest_plan_parse(PAYLOAD(BASE "arg=/bin/true\0"), &p, why, sizeof why), 0);
	assert_non_null(p.envp);
	assert_null(p.envp[0]);
	assert_non_null(p.tmpfs);
	assert_null(p.tmpfs[0]);
	assert_false(p.tty);
	assert_int_equal(p.n_mounts, 0);
	assert_non_null(p.ro);
	assert_null(p.ro[0]);
	assert_non_null(p.mask);
	assert_null(p.mask[0]);
	sp_guest_plan_free(&p);
}

static void test_plan_round_trip(void **ctx)
{
	char *argv[] = { "/bin/busybox", "sh", "-c", "echo 'a:b' \"$X\"", "", NULL };
	char *envp[] = { "X=1", "PATH=/bin:/usr/bin", "EMPTY=", NULL };
	char *tmpfs[] = { "/tmp", "/run/user/1000", NULL };
	struct sp_guest_mount mounts[] = {
		{ "nix-store", "/nix/store", true },
		{ "home", "/home/alice", false },
		{ "grant-0", "/home/alice/Documents/odd:name", false },
	};
	struct sp_guest_link links[] = { { "../nix/store/abc-env/bin", "/usr/bin" } };
	char *ro[] = { "/proc/sys", "/proc/bus", NULL }, *mask[] = { "/proc/kcore", NULL };
	uint8_t prog[24] = { 0x20, 0, 0, 0, 4, 0, 0, 0, 0x15, 0, 0, 1, 0x3e, 0, 0, 0xc0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f };
	struct sp_guest_plan in = {
		.hostname = "writer-1", .uid = 1000, .gid = 2147483647u, .cwd = "/",
		.argv = argv, .envp = envp, .mounts = mounts, .n_mounts = 3,
		.links = links, .n_links = 1, .tmpfs = tmpfs, .tty = true,
		.seccomp = prog, .seccomp_len = sizeof prog, .ro = ro, .mask = mask,
	};
	struct sp_guest_plan out;
	uint8_t *buf = NULL, *again = NULL;
	size_t len, len2;
	char why[256];

	(void)ctx;
	assert_int_equal(sp_guest_plan_encode(&in, &buf, &len), 0);
	assert_int_equal(sp_guest_plan_parse(buf, len, &out, why, sizeof why), 0);
	assert_true(plan_equal(&in, &out));
	/* Encoding is canonical: the parsed plan gives the same bytes. */
	assert_int_equal(sp_guest_plan_encode(&out, &again, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, again, len);
	sp_guest_plan_free(&out);
	free(buf);
	free(again);

	/* NULL lists encode as empty ones. */
	in.envp = NULL;
	in.tmpfs = NULL;
	in.ro = NULL;
	in.mask = NULL;
	in.tty = false;
	assert_int_equal(sp_guest_plan_encode(&in, &buf, &len), 0);
	assert_int_equal(sp_guest_plan_parse(buf, len, &out, why, sizeof why), 0);
	assert_true(plan_equal(&in, &out));
	sp_guest_plan_free(&out);
	free(buf);
}

struct bad_plan {
	const uint8_t *data;
	size_t len;
	const char *why;
};

static void test_plan_bad(void **ctx)
{
	static const struct bad_plan bad[] = {
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=m:ro:nix/store\0"), "record 7: mount: 'nix/store' is not an absolute path" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=m:ro:/nix/../etc\0"), "record 7: mount: '/nix/../etc' has a '.' or '..' component" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=m:ro:/nix/./store\0"), "'.' or '..'" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=m:ro:/nix//store\0"), "empty component" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=m:ro:/nix/store/\0"), "ends with '/'" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=m:ro:/\0"), "record 7: mount: '/' is /" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=Nix:ro:/nix\0"), "record 7: mount: tag must be" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=:ro:/nix\0"), "tag must be" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=a234567890123456789012345678901234567:ro:/nix\0"), "tag must be" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=nix:rx:/nix\0"), "record 7: mount: mode must be ro or rw" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mount=nix:ro\0"), "record 7: mount: expected TAG:ro|rw:PATH" },
		{ PAYLOAD(BASE "arg=/bin/sh\0link=/x\0"), "link: expected TARGET:PATH" },
		{ PAYLOAD(BASE "arg=/bin/sh\0link=:/bin\0"), "link: expected TARGET:PATH" },
		{ PAYLOAD(BASE "arg=/bin/sh\0link=/x:bin\0"), "link: 'bin' is not an absolute path" },
		{ PAYLOAD(BASE "arg=/bin/sh\0tmpfs=/\0"), "tmpfs: '/' is /" },
		{ PAYLOAD(BASE "arg=/bin/sh\0tmpfs=tmp\0"), "not an absolute path" },
		{ PAYLOAD("hostname=box\0uid=1000\0gid=100\0cwd=home\0arg=/bin/sh\0"), "record 4: cwd: 'home' is not an absolute path" },
		{ PAYLOAD(BASE), "no arg" },
		{ PAYLOAD("uid=1\0gid=1\0cwd=/\0arg=/x\0"), "no hostname" },
		{ PAYLOAD("hostname=a\0gid=1\0cwd=/\0arg=/x\0"), "no uid" },
		{ PAYLOAD("hostname=a\0uid=1\0cwd=/\0arg=/x\0"), "no gid" },
		{ PAYLOAD("hostname=a\0uid=1\0gid=1\0arg=/x\0"), "no cwd" },
		{ PAYLOAD(""), "no hostname" },
		{ PAYLOAD(BASE "hostname=box\0arg=/bin/sh\0"), "record 6: hostname: given twice" },
		{ PAYLOAD(BASE "uid=1\0arg=/bin/sh\0"), "record 6: uid: given twice" },
		{ PAYLOAD(BASE "cwd=/\0arg=/bin/sh\0"), "record 6: cwd: given twice" },
		{ PAYLOAD(BASE "tty=1\0tty=1\0arg=/bin/sh\0"), "record 7: tty: given twice" },
		{ PAYLOAD(BASE "tty=0\0arg=/bin/sh\0"), "record 6: tty: expected 1" },
		{ PAYLOAD(BASE "arg=/bin/sh"), "record 6: not terminated by NUL" },
		{ PAYLOAD(BASE "arg=/bin/sh\0a"), "record 7: not terminated by NUL" },
		{ PAYLOAD(BASE "arg=/bin/sh\0color=red\0"), "record 7: unknown key 'color'" },
		{ PAYLOAD(BASE "arg=/bin/sh\0\0"), "record 7: expected KEY=VALUE" },
		{ PAYLOAD(BASE "arg=/bin/sh\0arg\0"), "record 7: expected KEY=VALUE" },
		{ PAYLOAD(BASE "arg=/bin/sh\0ARG=x\0"), "unknown key 'ARG'" },
		{ PAYLOAD(BASE "arg=/bin/sh\0k\n\x01=x\0"), "unknown key 'k?" "?'" },
		{ PAYLOAD(BASE "arg=/bin/sh\0env=NOEQUALS\0"), "record 7: env: expected KEY=VALUE" },
		{ PAYLOAD(BASE "arg=/bin/sh\0env==x\0"), "env: expected KEY=VALUE" },
		{ PAYLOAD("hostname=Box\0uid=1\0gid=1\0cwd=/\0arg=/x\0"), "record 1: hostname: expected 1 to 64" },
		{ PAYLOAD("hostname=\0uid=1\0gid=1\0cwd=/\0arg=/x\0"), "hostname: expected" },
		{ PAYLOAD("hostname=a.b\0uid=1\0gid=1\0cwd=/\0arg=/x\0"), "hostname: expected" },
		{ PAYLOAD("hostname=a\0uid=2147483648\0gid=1\0cwd=/\0arg=/x\0"), "record 2: uid: expected a decimal number below 2^31" },
		{ PAYLOAD("hostname=a\0uid=-1\0gid=1\0cwd=/\0arg=/x\0"), "uid: expected" },
		{ PAYLOAD("hostname=a\0uid=01\0gid=1\0cwd=/\0arg=/x\0"), "uid: expected" },
		{ PAYLOAD("hostname=a\0uid=\0gid=1\0cwd=/\0arg=/x\0"), "uid: expected" },
		{ PAYLOAD("hostname=a\0uid=1\0gid=1x\0cwd=/\0arg=/x\0"), "record 3: gid: expected" },
		/* The filter: required, once, whole instructions in lower-case hex. */
		{ PAYLOAD("hostname=a\0uid=1\0gid=1\0cwd=/\0arg=/x\0"), "no seccomp" },
		{ PAYLOAD(BASE SC "arg=/x\0"), "record 6: seccomp: given twice" },
		{ PAYLOAD("hostname=a\0uid=1\0gid=1\0cwd=/\0arg=/x\0seccomp=\0"), "record 6: seccomp: expected 1 to 4096 BPF instructions" },
		{ PAYLOAD("hostname=a\0uid=1\0gid=1\0cwd=/\0arg=/x\0seccomp=06000000000000\0"), "seccomp: expected 1 to 4096" },
		{ PAYLOAD("hostname=a\0uid=1\0gid=1\0cwd=/\0arg=/x\0seccomp=060000000000000\0"), "seccomp: expected 1 to 4096" },
		{ PAYLOAD("hostname=a\0uid=1\0gid=1\0cwd=/\0arg=/x\0seccomp=060000000000000G\0"), "seccomp: expected lower-case hex" },
		{ PAYLOAD("hostname=a\0uid=1\0gid=1\0cwd=/\0arg=/x\0seccomp=06000000000000FF\0"), "seccomp: expected lower-case hex" },
		{ PAYLOAD(BASE "arg=/bin/sh\0ro=/sys\0"), "record 7: ro: '/sys' is not beneath /proc" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mask=/proc/../etc\0"), "record 7: mask: '/proc/../etc' has a '.' or '..' component" },
		{ PAYLOAD(BASE "arg=/bin/sh\0mask=/proc\0"), "mask: '/proc' is not beneath /proc" },
	};
	char why[256];

	(void)ctx;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sp_guest_plan p;

		if (sp_guest_plan_parse(bad[i].data, bad[i].len, &p, why, sizeof why) == 0)
			fail_msg("bad plan %zu was accepted (wanted '%s')", i, bad[i].why);
		if (!strstr(why, bad[i].why))
			fail_msg("bad plan %zu: '%s' does not say '%s'", i, why, bad[i].why);
		/* One line, and the plan is left empty. */
		assert_null(strchr(why, '\n'));
		assert_null(p.hostname);
		assert_null(p.argv);
	}
}

/* A plan of COUNT records "KEY=VALUE" after BASE and one arg. */
static uint8_t *many(const char *key, const char *value, size_t count, size_t *len)
{
	size_t base = sizeof(BASE "arg=/x"), one = strlen(key) + 1 + strlen(value) + 1;
	uint8_t *buf = malloc(base + count * one), *p;

	assert_non_null(buf);
	memcpy(buf, BASE "arg=/x", base);
	p = buf + base;
	for (size_t i = 0; i < count; i++)
		p += sprintf((char *)p, "%s=%s", key, value) + 1;
	*len = (size_t)(p - buf);
	return buf;
}

static void test_plan_limits(void **ctx)
{
	static const struct {
		const char *key, *value;
		size_t max;
	} kinds[] = {
		{ "arg", "x", SP_PLAN_MAX_ARGS - 1 }, /* one arg is already in BASE */
		{ "env", "A=1", SP_PLAN_MAX_ENV },
		{ "mount", "m:ro:/m", SP_PLAN_MAX_MOUNTS },
		{ "link", "t:/l", SP_PLAN_MAX_LINKS },
		{ "tmpfs", "/t", SP_PLAN_MAX_TMPFS },
		{ "ro", "/proc/r", SP_PLAN_MAX_PROC },
		{ "mask", "/proc/m", SP_PLAN_MAX_PROC },
	};
	struct sp_guest_plan p;
	char why[256], want[64];
	uint8_t *buf;
	size_t len;

	(void)ctx;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		buf = many(kinds[i].key, kinds[i].value, kinds[i].max, &len);
		assert_int_equal(sp_guest_plan_parse(buf, len, &p, why, sizeof why), 0);
		sp_guest_plan_free(&p);
		free(buf);
		buf = many(kinds[i].key, kinds[i].value, kinds[i].max + 1, &len);
		assert_int_equal(sp_guest_plan_parse(buf, len, &p, why, sizeof why), -1);
		snprintf(want, sizeof want, ": %s: more than", kinds[i].key);
		if (!strstr(why, want))
			fail_msg("'%s' does not say '%s'", why, want);
		free(buf);
	}
}

static void test_plan_short_why(void **ctx)
{
	struct sp_guest_plan p;
	char why[8];

	(void)ctx;
	/* A small WHY is cut, never overrun; no WHY at all is fine too. */
	assert_int_equal(sp_guest_plan_parse(PAYLOAD(""), &p, why, sizeof why), -1);
	assert_string_equal(why, "no host");
	assert_int_equal(sp_guest_plan_parse(PAYLOAD(""), &p, NULL, 0), -1);
	assert_int_equal(errno, EINVAL);
}

static void test_plan_encode_refuses(void **ctx)
{
	char *argv[] = { "/bin/sh", NULL }, *big_argv[] = { "/bin/sh", NULL, NULL };
	char *bad_env[] = { "NOEQUALS", NULL };
	struct sp_guest_mount colon_tag = { "a:b", "/m", true }, rel = { "m", "m", true };
	struct sp_guest_link colon_target = { "a:b", "/l" };
	uint8_t allow[8] = { 6, 0, 0, 0, 0, 0, 0xff, 0x7f };
	char *outside[] = { "/sys/x", NULL };
	struct sp_guest_plan good = { .hostname = "h", .cwd = "/", .argv = argv, .seccomp = allow, .seccomp_len = 8 },
			     p;
	uint8_t *buf;
	size_t len;
	char *big;

	(void)ctx;
	p = good;
	p.mounts = &colon_tag;
	p.n_mounts = 1;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	assert_null(buf);
	p.mounts = &rel;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	p = good;
	p.links = &colon_target;
	p.n_links = 1;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	p = good;
	p.envp = bad_env;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	p = good;
	p.uid = 1u << 31;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	p = good;
	p.hostname = NULL;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	p = good;
	p.argv = big_argv + 1; /* no arg */
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	/* No filter, or not whole instructions: the command would run
	 * unconfined, or not at all. */
	p = good;
	p.seccomp = NULL;
	p.seccomp_len = 0;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	p = good;
	p.seccomp_len = 7;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	p = good;
	p.ro = outside;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);

	/* Valid but over a frame. */
	big = malloc(SP_FRAME_MAX);
	assert_non_null(big);
	memset(big, 'a', SP_FRAME_MAX - 1);
	big[SP_FRAME_MAX - 1] = '\0';
	big_argv[1] = big;
	p = good;
	p.argv = big_argv;
	assert_int_equal(sp_guest_plan_encode(&p, &buf, &len), -1);
	assert_int_equal(errno, E2BIG);
	free(big);

	assert_int_equal(sp_guest_plan_encode(&good, &buf, &len), 0);
	assert_int_equal(len, sizeof("hostname=h\0uid=0\0gid=0\0cwd=/\0arg=/bin/sh\0seccomp=060000000000ff7f\0") - 1);
	assert_memory_equal(buf, "hostname=h\0uid=0\0gid=0\0cwd=/\0arg=/bin/sh\0seccomp=060000000000ff7f\0", len);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_round_trip),
		cmocka_unit_test(test_frame_split_everywhere),
		cmocka_unit_test(test_frame_byte_by_byte),
		cmocka_unit_test(test_frame_oversize_refused),
		cmocka_unit_test(test_frame_unknown_type_refused),
		cmocka_unit_test(test_frame_write_refuses),
		cmocka_unit_test(test_plan_parse_fields),
		cmocka_unit_test(test_plan_round_trip),
		cmocka_unit_test(test_plan_bad),
		cmocka_unit_test(test_plan_limits),
		cmocka_unit_test(test_plan_short_why),
		cmocka_unit_test(test_plan_encode_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
