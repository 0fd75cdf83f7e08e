/* The manifest of host software: every kind of change is reported, and
 * the fast mode reads only files whose metadata moved. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include <cmocka.h>

#include "store/manifest.h"

static char dir[] = "/tmp/spectrum-test-manifest-XXXXXX";
static const char *const paths[] = { "usr", "etc/ld.so.cache", NULL };

static int setup(void **ctx)
{
	(void)ctx;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **ctx)
{
	char cmd[128];

	(void)ctx;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void at(char *buf, size_t n, const char *rel)
{
	snprintf(buf, n, "%s/%s", dir, rel);
}

static void put(const char *rel, const char *data, mode_t mode)
{
	char p[512];
	FILE *f;

	at(p, sizeof p, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fputs(data, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void mkd(const char *rel)
{
	char p[512];

	at(p, sizeof p, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void lnk(const char *target, const char *rel)
{
	char p[512];

	at(p, sizeof p, rel);
	assert_int_equal(symlink(target, p), 0);
}

static char *manifest(const char *previous, bool full, struct sp_manifest_stats *st)
{
	struct sp_manifest_opts o = { .root = dir, .paths = paths, .previous = previous, .full = full };
	struct sp_err err = { 0 };
	char *out = NULL;

	if (sp_manifest_string(&o, &out, st, &err) < 0)
		fail_msg("manifest: %s", err.msg);
	return out;
}

struct seen {
	char lines[16][256];
	int n;
};

static void collect(const char *path, const char *what, void *arg)
{
	struct seen *s = arg;

	if (s->n < 16)
		snprintf(s->lines[s->n++], sizeof s->lines[0], "%s: %s", path, what);
}

/* Verifies against RECORDED and expects exactly the one difference WANT
 * (or none when WANT is NULL), in the fast mode and in the full one. */
static void expect(const char *recorded, const char *want)
{
	for (int full = 0; full <= 1; full++) {
		struct sp_err err = { 0 };
		struct seen s = { .n = 0 };
		int n;

		n = sp_manifest_verify(recorded, dir, paths, full, collect, &s, NULL, &err);
		if (n < 0)
			fail_msg("verify: %s", err.msg);
		if (!want) {
			if (n != 0)
				fail_msg("full=%d: expected no difference, got %d, first %s", full, n, s.lines[0]);
			continue;
		}
		if (n != 1)
			fail_msg("full=%d: expected \"%s\", got %d differences, first \"%s\"",
				 full, want, n, n ? s.lines[0] : "");
		assert_string_equal(s.lines[0], want);
	}
}

static void build_tree(void)
{
	mkd("usr");
	mkd("usr/bin");
	put("usr/bin/tool", "#!/bin/sh\n", 0755);
	put("usr/bin/empty", "", 0644);
	mkd("usr/lib");
	put("usr/lib/libx.so.1", "library bytes", 0644);
	lnk("libx.so.1", "usr/lib/libx.so");
	mkd("usr/share");
	mkd("usr/share/empty-dir");
	mkd("etc");
	put("etc/ld.so.cache", "cache", 0644);
	/* Not listed: only /usr and /etc/ld.so.cache are what an instance sees. */
	put("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
}

static void test_manifest(void **ctx)
{
	struct sp_manifest_stats st;
	char *m, *m2, p[512];

	(void)ctx;
	build_tree();
	m = manifest(NULL, false, &st);
	assert_int_equal(st.entries, 10);
	assert_int_equal(st.files, 4);
	assert_int_equal(st.hashed_files, 4);
	assert_int_equal(st.hashed_bytes, 10 + 13 + 5);
	assert_int_equal(st.reused, 0);
	/* Sorted, the listed paths in order, etc/passwd absent. */
	assert_int_equal(strncmp(m, "etc/ld.so.cache\t100644\t5\t", 25), 0);
	assert_null(strstr(m, "passwd"));
	assert_non_null(strstr(m, "\nusr/lib/libx.so\t120777\t9\tlibx.so.1\t"));
	assert_true(strstr(m, "\nusr/bin/tool\t") < strstr(m, "\nusr/lib\t"));

	/* The fast mode reads nothing when nothing moved; --full reads all. */
	m2 = manifest(m, false, &st);
	assert_string_equal(m2, m);
	assert_int_equal(st.hashed_files, 0);
	assert_int_equal(st.hashed_bytes, 0);
	assert_int_equal(st.reused, 4);
	free(m2);
	m2 = manifest(m, true, &st);
	assert_string_equal(m2, m);
	assert_int_equal(st.hashed_files, 4);
	assert_int_equal(st.reused, 0);
	free(m2);
	expect(m, NULL);

	/* One byte changed: only that file is read again. */
	put("usr/lib/libx.so.1", "library bytez", 0644);
	m2 = manifest(m, false, &st);
	assert_int_equal(st.hashed_files, 1);
	assert_int_equal(st.hashed_bytes, 13);
	assert_int_equal(st.reused, 3);
	free(m2);
	expect(m, "usr/lib/libx.so.1: content changed");
	put("usr/lib/libx.so.1", "library bytes", 0644);
	expect(m, NULL);

	at(p, sizeof p, "usr/bin/tool");
	assert_int_equal(chmod(p, 0700), 0);
	expect(m, "usr/bin/tool: mode changed");
	assert_int_equal(chmod(p, 0755), 0);

	put("usr/bin/intruder", "x", 0755);
	expect(m, "usr/bin/intruder: added");
	at(p, sizeof p, "usr/bin/intruder");
	assert_int_equal(unlink(p), 0);

	at(p, sizeof p, "usr/bin/empty");
	assert_int_equal(unlink(p), 0);
	expect(m, "usr/bin/empty: removed");
	put("usr/bin/empty", "", 0644);

	at(p, sizeof p, "usr/lib/libx.so");
	assert_int_equal(unlink(p), 0);
	lnk("/tmp/evil.so", "usr/lib/libx.so");
	expect(m, "usr/lib/libx.so: symlink target changed");
	assert_int_equal(unlink(p), 0);
	lnk("libx.so.1", "usr/lib/libx.so");

	at(p, sizeof p, "usr/share/empty-dir");
	assert_int_equal(rmdir(p), 0);
	put("usr/share/empty-dir", "", 0644);
	expect(m, "usr/share/empty-dir: type changed");
	assert_int_equal(unlink(p), 0);
	mkd("usr/share/empty-dir");

	put("etc/ld.so.cache", "cachf", 0644);
	expect(m, "etc/ld.so.cache: content changed");
	put("etc/ld.so.cache", "cache", 0644);
	expect(m, NULL);
	free(m);
}

static void test_bad_manifest(void **ctx)
{
	struct sp_err err = { 0 };
	struct seen s = { .n = 0 };

	(void)ctx;
	assert_int_equal(sp_manifest_verify("usr\tnot a mode\n", dir, paths, false,
					    collect, &s, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "line 1"));
}

/* Empties (false) or refills (true) the effective capability set from
 * the permitted one. */
static void set_effective_caps(bool on)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	assert_int_equal(syscall(SYS_capget, &hdr, data), 0);
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		data[i].effective = on ? data[i].permitted : 0;
	assert_int_equal(syscall(SYS_capset, &hdr, data), 0);
}

static void test_unreadable_is_error(void **ctx)
{
	struct sp_manifest_opts o = { .root = dir, .paths = paths };
	struct sp_err err = { 0 };
	char *out = NULL;

	(void)ctx;
	put("usr/secret", "s", 0000);
	/* Root reads everything through CAP_DAC_OVERRIDE and
	 * CAP_DAC_READ_SEARCH: without its effective capabilities, it is the
	 * owner of a mode 0000 file like anyone else, which is what an
	 * unreadable file means.  CI runs as root. */
	if (geteuid() == 0)
		set_effective_caps(false);
	int r = sp_manifest_string(&o, &out, NULL, &err);
	if (geteuid() == 0)
		set_effective_caps(true);
	assert_int_equal(r, -1);
	assert_non_null(strstr(err.msg, "usr/secret"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_bad_manifest),
		cmocka_unit_test(test_unreadable_is_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
