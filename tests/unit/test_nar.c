/* The NAR hash against Nix itself: trees of every kind of entry are added
 * with `nix-store --add`, and our hash of the store path and of the
 * original must both equal `nix-store -q --hash`.  Without nix-store those
 * tests skip, saying so.  Also Nix's base-32 on known vectors and the
 * file list and its diff. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/nar.h"
#include "store/nixbase32.h"

static char dir[] = "/tmp/spectrum-test-nar-XXXXXX";

static int setup(void **ctx)
{
	(void)ctx;
	if (!mkdtemp(dir))
		return -1;
	/* As root with Debian's nix-bin there is no nixbld group. */
	setenv("NIX_CONFIG", "build-users-group =", 1);
	return 0;
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

static void put(const char *rel, const void *data, size_t len, mode_t mode)
{
	char p[512];
	FILE *f;

	at(p, sizeof p, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
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

/* In CI (CI=true) or with SPECTRUM_REQUIRE_ALL=1 a skip is a failure:
 * Nix is installed on the build machines, and a skip would pass unseen. */
static int strict_skips(void)
{
	const char *ci = getenv("CI"), *all = getenv("SPECTRUM_REQUIRE_ALL");

	return (ci && strcmp(ci, "true") == 0) || (all && strcmp(all, "1") == 0);
}

static int have_nix(void)
{
	return system("nix-store --version >/dev/null 2>&1") == 0;
}

/* The first line of CMD's output, without its newline. */
static int run_line(const char *cmd, char *out, size_t n)
{
	FILE *p = popen(cmd, "r");
	size_t len;

	if (!p)
		return -1;
	if (!fgets(out, (int)n, p))
		out[0] = '\0';
	if (pclose(p) != 0)
		return -1;
	len = strlen(out);
	if (len && out[len - 1] == '\n')
		out[len - 1] = '\0';
	return 0;
}

static void ours(const char *path, char *out)
{
	struct sp_err err = { 0 };
	uint8_t h[32];

	if (sp_nar_hash(AT_FDCWD, path, h, NULL, &err) < 0)
		fail_msg("sp_nar_hash %s: %s", path, err.msg);
	assert_int_equal(sp_nar_hash_format(h, out, SP_NAR_HASH_STRSIZE), 0);
}

/* Adds REL to the store and checks our hash of both copies against Nix. */
static void check_with_nix(const char *rel)
{
	char p[512], cmd[1024], store_path[512], nix[128];
	char a[SP_NAR_HASH_STRSIZE], b[SP_NAR_HASH_STRSIZE];

	at(p, sizeof p, rel);
	snprintf(cmd, sizeof cmd, "nix-store --add '%s' 2>/dev/null", p);
	assert_int_equal(run_line(cmd, store_path, sizeof store_path), 0);
	assert_true(strncmp(store_path, "/nix/store/", 11) == 0);
	snprintf(cmd, sizeof cmd, "nix-store -q --hash '%s' 2>/dev/null", store_path);
	assert_int_equal(run_line(cmd, nix, sizeof nix), 0);
	ours(store_path, a);
	ours(p, b);
	if (strcmp(a, nix) != 0 || strcmp(b, nix) != 0)
		fail_msg("%s: nix %s, ours of %s %s, ours of the original %s",
			 rel, nix, store_path, a, b);
}

static void test_against_nix(void **ctx)
{
	static const char *const odd_names[] = {
		/* Byte order puts "B" and "Z" before "a" and "_x" before "a",
		 * "a-c" and "a.c" between "a" and "a0"; a locale's collation
		 * would not.  "\xc3\xa4" is a UTF-8 a-umlaut, after "z". */
		"a", "B", "Z", "_x", "a-c", "a.c", "a0", "\xc3\xa4", "z", "A b",
	};
	uint8_t *big;
	int fd;

	(void)ctx;
	if (!have_nix()) {
		if (strict_skips())
			fail_msg("nix-store not installed (CI=true or SPECTRUM_REQUIRE_ALL=1: no skips)");
		print_message("nix-store not installed: NAR hashes not compared with Nix, skipping\n");
		skip();
	}

	mkd("tree");
	put("tree/file", "hello\n", 6, 0644);
	put("tree/empty", "", 0, 0644);
	mkd("tree/bin");
	put("tree/bin/tool", "#!/bin/sh\necho hi\n", 18, 0755);
	/* Nix's "executable" is the owner's x bit only. */
	put("tree/bin/owner-x", "o", 1, 0700);
	put("tree/bin/other-x", "x", 1, 0641);
	lnk("file", "tree/link");
	lnk("/nonexistent/target", "tree/dangling");
	lnk("bin", "tree/dirlink");
	mkd("tree/d1");
	mkd("tree/d1/d2");
	mkd("tree/d1/d2/d3");
	put("tree/d1/d2/d3/deep", "deep", 4, 0644);
	mkd("tree/emptydir");
	mkd("tree/sorted");
	for (size_t i = 0; i < sizeof odd_names / sizeof *odd_names; i++) {
		char rel[64];

		snprintf(rel, sizeof rel, "tree/sorted/%s", odd_names[i]);
		put(rel, odd_names[i], strlen(odd_names[i]), 0644);
	}
	mkd("tree/sorted/a-dir");
	put("tree/sorted/a-dir/x", "1", 1, 0644);
	/* 3 MiB of random data: several read chunks, not a multiple of 8. */
	big = malloc(3 * 1024 * 1024 + 5);
	assert_non_null(big);
	fd = open("/dev/urandom", O_RDONLY);
	assert_true(fd >= 0);
	for (size_t off = 0; off < 3 * 1024 * 1024 + 5;) {
		ssize_t n = read(fd, big + off, 3 * 1024 * 1024 + 5 - off);

		assert_true(n > 0);
		off += (size_t)n;
	}
	close(fd);
	put("tree/big", big, 3 * 1024 * 1024 + 5, 0644);
	free(big);
	check_with_nix("tree");

	/* Each kind alone at the top. */
	put("lone-empty", "", 0, 0644);
	check_with_nix("lone-empty");
	mkd("lone-emptydir");
	check_with_nix("lone-emptydir");
	put("lone-exec", "#!/bin/sh\n", 10, 0755);
	check_with_nix("lone-exec");
	lnk("somewhere/else", "lone-link");
	check_with_nix("lone-link");
	check_with_nix("tree/d1");
}

static void test_known_hashes(void **ctx)
{
	char out[SP_NAR_HASH_STRSIZE], p[512];

	(void)ctx;
	/* From `nix-hash --type sha256 --base32` of each. */
	put("k-empty", "", 0, 0644);
	at(p, sizeof p, "k-empty");
	ours(p, out);
	assert_string_equal(out, "sha256:0ip26j2h11n1kgkz36rl4akv694yz65hr72q4kv4b3lxcbi65b3p");
	mkd("k-emptydir");
	at(p, sizeof p, "k-emptydir");
	ours(p, out);
	assert_string_equal(out, "sha256:0sjjj9z1dhilhpc8pq4154czrb79z9cm044jvn75kxcjv6v5l2m5");
	put("k-hello", "hello\n", 6, 0644);
	at(p, sizeof p, "k-hello");
	ours(p, out);
	assert_string_equal(out, "sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw");
}

static void hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void test_base32(void **ctx)
{
	static const struct {
		const char *hex, *b32;
	} vec[] = {
		/* sha256("") and sha1(""): `nix-hash --to-base32`. */
		{ "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		  "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73" },
		{ "da39a3ee5e6b4b0d3255bfef95601890afd80709", "143xibwh31h9bvxzalr0sjvbbvpa6ffs" },
		{ "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
		  "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq" },
	};
	uint8_t bin[32], back[32];
	char out[80];

	(void)ctx;
	for (size_t i = 0; i < sizeof vec / sizeof *vec; i++) {
		size_t n = strlen(vec[i].hex) / 2;

		hex(vec[i].hex, bin, n);
		assert_int_equal(sp_nixbase32_len(n), strlen(vec[i].b32));
		assert_int_equal(sp_nixbase32_encode(bin, n, out, sizeof out), (int)strlen(vec[i].b32));
		assert_string_equal(out, vec[i].b32);
		assert_int_equal(sp_nixbase32_decode(out, strlen(out), back, n), 0);
		assert_memory_equal(back, bin, n);
	}
	/* Every byte value, every length up to 32, round trips. */
	for (size_t n = 1; n <= 32; n++) {
		for (size_t i = 0; i < n; i++)
			bin[i] = (uint8_t)(i * 37 + n * 11 + 0xa5);
		assert_int_equal(sp_nixbase32_encode(bin, n, out, sizeof out), (int)sp_nixbase32_len(n));
		assert_int_equal(sp_nixbase32_decode(out, strlen(out), back, n), 0);
		assert_memory_equal(back, bin, n);
	}
	/* Refused: too small a buffer, wrong length, letters outside the
	 * alphabet (e o u t), bits beyond the last byte. */
	assert_int_equal(sp_nixbase32_encode(bin, 32, out, 52), -1);
	assert_int_equal(sp_nixbase32_decode("0mdqa9w1p6", 10, back, 32), -1);
	assert_int_equal(sp_nixbase32_decode("emdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", 52, back, 32), -1);
	assert_int_equal(sp_nixbase32_decode("zmdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", 52, back, 32), -1);

	/* The NAR hash's printable forms. */
	hex(vec[0].hex, bin, 32);
	assert_int_equal(sp_nar_hash_format(bin, out, sizeof out), 0);
	assert_string_equal(out, "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
	assert_int_equal(sp_nar_hash_parse(out, back), 0);
	assert_memory_equal(back, bin, 32);
	snprintf(out, sizeof out, "sha256:%s", vec[0].hex);
	assert_int_equal(sp_nar_hash_parse(out, back), 0);
	assert_memory_equal(back, bin, 32);
	assert_int_equal(sp_nar_hash_parse("md5:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", back), -1);
	assert_int_equal(sp_nar_hash_format(bin, out, SP_NAR_HASH_STRSIZE - 1), -1);
}

static void test_pathcmp(void **ctx)
{
	(void)ctx;
	assert_true(sp_listing_pathcmp(".", "a") < 0);
	assert_true(sp_listing_pathcmp("a", ".") > 0);
	assert_true(sp_listing_pathcmp("a", "a/b") < 0);
	assert_true(sp_listing_pathcmp("a/b", "a-c") < 0); /* strcmp says otherwise */
	assert_true(sp_listing_pathcmp("a/z", "a0") < 0);
	assert_true(sp_listing_pathcmp("B", "a") < 0);
	assert_int_equal(sp_listing_pathcmp("a/b", "a/b"), 0);
}

static char *listing(const char *rel)
{
	struct sp_err err = { 0 };
	char p[512], *out = NULL;

	at(p, sizeof p, rel);
	if (sp_nar_listing(AT_FDCWD, p, &out, NULL, NULL, &err) < 0)
		fail_msg("sp_nar_listing %s: %s", p, err.msg);
	return out;
}

static void expect_first(const char *a, const char *b, const char *want)
{
	char first[256];

	assert_int_equal(sp_nar_listing_diff(a, b, first, sizeof first), 1);
	assert_string_equal(first, want);
}

static void test_listing(void **ctx)
{
	char *a, *b, first[256], p[512];
	uint8_t h1[32], h2[32];
	struct sp_err err = { 0 };
	char *l;

	(void)ctx;
	mkd("ls");
	mkd("ls/usr");
	mkd("ls/usr/bin");
	put("ls/usr/bin/x", "binary", 6, 0755);
	put("ls/usr/bin/y", "other", 5, 0644);
	put("ls/usr/tab\tand\nnewline\\", "odd", 3, 0644);
	lnk("bin/x", "ls/usr/link");
	mkd("ls/usr-lib");
	a = listing("ls");
	/* Exact lines, in the archive's order: "usr/..." before "usr-lib",
	 * and the odd name escaped. */
	assert_string_equal(a,
		"d\t0755\t0\t-\t.\n"
		"d\t0755\t0\t-\tusr\n"
		"d\t0755\t0\t-\tusr/bin\n"
		"x\t0755\t6\t9a3a45d01531a20e89ac6ae10b0b0beb0492acd7216a368aa062d1a5fecaf9cd\tusr/bin/x\n"
		"f\t0644\t5\td9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa\tusr/bin/y\n"
		"l\t0777\t5\tbin/x\tusr/link\n"
		"f\t0644\t3\t990cb8ebd0afb7150da453a213036a92f2c05e091df0d803e62d257ea7796c27\tusr/tab\\tand\\nnewline\\\\\n"
		"d\t0755\t0\t-\tusr-lib\n");
	assert_int_equal(sp_nar_listing_diff(a, a, first, sizeof first), 0);

	/* The same pass gives the same NAR hash as sp_nar_hash. */
	at(p, sizeof p, "ls");
	assert_int_equal(sp_nar_listing(AT_FDCWD, p, &l, h1, NULL, &err), 0);
	assert_int_equal(sp_nar_hash(AT_FDCWD, p, h2, NULL, &err), 0);
	assert_memory_equal(h1, h2, 32);
	free(l);

	put("ls/usr/bin/y", "0ther", 5, 0644);
	b = listing("ls");
	expect_first(a, b, "usr/bin/y: content changed");
	free(b);
	put("ls/usr/bin/y", "other", 5, 0644);

	at(p, sizeof p, "ls/usr/bin/x");
	assert_int_equal(chmod(p, 0644), 0);
	b = listing("ls");
	expect_first(a, b, "usr/bin/x: mode changed");
	free(b);
	assert_int_equal(chmod(p, 0755), 0);

	at(p, sizeof p, "ls/usr/link");
	assert_int_equal(unlink(p), 0);
	lnk("bin/y", "ls/usr/link");
	b = listing("ls");
	expect_first(a, b, "usr/link: symlink target changed");
	free(b);
	assert_int_equal(unlink(p), 0);
	lnk("bin/x", "ls/usr/link");

	put("ls/usr/bin/new", "n", 1, 0644);
	b = listing("ls");
	expect_first(a, b, "usr/bin/new: added");
	free(b);
	at(p, sizeof p, "ls/usr/bin/new");
	assert_int_equal(unlink(p), 0);

	at(p, sizeof p, "ls/usr-lib");
	assert_int_equal(rmdir(p), 0);
	b = listing("ls");
	expect_first(a, b, "usr-lib: removed");
	free(b);
	put("ls/usr-lib", "", 0, 0644);
	b = listing("ls");
	expect_first(a, b, "usr-lib: type changed");
	free(b);

	assert_int_equal(sp_nar_listing_diff(a, "garbage\n", first, sizeof first), -1);
	assert_non_null(strstr(first, "line 1"));
	free(a);
}

static void test_errors(void **ctx)
{
	struct sp_err err = { 0 };
	char p[512];
	uint8_t h[32];

	(void)ctx;
	at(p, sizeof p, "missing");
	assert_int_equal(sp_nar_hash(AT_FDCWD, p, h, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "missing"));
	assert_int_equal(err.errnum, ENOENT);

	/* A fifo cannot be archived: the message names it. */
	mkd("withfifo");
	at(p, sizeof p, "withfifo/pipe");
	assert_int_equal(mkfifo(p, 0644), 0);
	at(p, sizeof p, "withfifo");
	assert_int_equal(sp_nar_hash(AT_FDCWD, p, h, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "withfifo/pipe"));
}

static void test_stats(void **ctx)
{
	struct sp_nar_stats st;
	struct sp_err err = { 0 };
	char p[512];
	uint8_t h[32];

	(void)ctx;
	mkd("st");
	put("st/a", "12345", 5, 0644);
	put("st/b", "123", 3, 0755);
	lnk("a", "st/l");
	at(p, sizeof p, "st");
	assert_int_equal(sp_nar_hash(AT_FDCWD, p, h, &st, &err), 0);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.dirs, 1);
	assert_int_equal(st.symlinks, 1);
	assert_int_equal(st.bytes, 8);
	assert_int_equal(st.nar_size % 8, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base32),
		cmocka_unit_test(test_pathcmp),
		cmocka_unit_test(test_known_hashes),
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_against_nix),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
