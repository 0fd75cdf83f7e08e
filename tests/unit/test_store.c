/* The store's layout and the resolution of grants beneath data/: every
 * way out (symlinks anywhere on the path, "..") is refused. */
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

#include "store/store.h"

static char dir[] = "/tmp/spectrum-test-store-XXXXXX";
static struct sp_store store;

static int setup(void **ctx)
{
	struct sp_err err = { 0 };

	(void)ctx;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sp_store_open(dir, dir, &store, &err), 0);
	return 0;
}

static int teardown(void **ctx)
{
	char cmd[128];

	(void)ctx;
	sp_store_close(&store);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path(char *buf, size_t n, const char *rel)
{
	snprintf(buf, n, "%s/%s", dir, rel);
}

static void test_layout(void **ctx)
{
	static const char *const names[] = { "data", "state", "generations", "log" };
	char p[256];
	struct stat st;

	(void)ctx;
	for (size_t i = 0; i < 4; i++) {
		path(p, sizeof p, names[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		/* Nobody but the owner reads the store's contents. */
		assert_int_equal(st.st_mode & 077, 0);
	}
}

static void test_grant_created_and_reopened(void **ctx)
{
	struct sp_err err = { 0 };
	bool is_dir = false;
	char p[256];
	struct stat st;
	int fd = -1;

	(void)ctx;
	assert_int_equal(sp_store_open_grant(&store, "Documents/work", &fd, &is_dir, &err), 0);
	assert_true(is_dir);
	close(fd);
	path(p, sizeof p, "data/Documents/work");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(sp_store_open_grant(&store, "Documents/work", &fd, &is_dir, &err), 0);
	close(fd);
}

static void expect_refused(const char *rel)
{
	struct sp_err err = { 0 };
	bool is_dir;
	int fd = -1;

	if (sp_store_open_grant(&store, rel, &fd, &is_dir, &err) == 0)
		fail_msg("grant %s was not refused", rel);
	assert_non_null(strstr(err.msg, rel));
}

static void test_symlink_to_etc_refused(void **ctx)
{
	char p[256];

	(void)ctx;
	path(p, sizeof p, "data/evil");
	assert_int_equal(symlink("/etc", p), 0);
	expect_refused("evil");
	expect_refused("evil/passwd");
}

static void test_symlink_inside_data_refused(void **ctx)
{
	char p[256];

	(void)ctx;
	/* Even a link that stays within data/ is refused: a grant names a
	 * folder, never a link that could be swapped later. */
	path(p, sizeof p, "data/real");
	assert_int_equal(mkdir(p, 0700), 0);
	path(p, sizeof p, "data/alias");
	assert_int_equal(symlink("real", p), 0);
	expect_refused("alias");
	path(p, sizeof p, "data/real/up");
	assert_int_equal(symlink("../../..", p), 0);
	expect_refused("real/up/etc");
}

static void test_dotdot_refused(void **ctx)
{
	(void)ctx;
	expect_refused("../state");
	expect_refused("a/../../x");
	expect_refused("/etc");
}

static void test_home_not_through_symlink(void **ctx)
{
	struct sp_err err = { 0 };
	char p[256];
	int fd = -1;

	(void)ctx;
	path(p, sizeof p, "state/victim");
	assert_int_equal(symlink("/etc", p), 0);
	assert_int_equal(sp_store_home(&store, "victim", &fd, &err), -1);
	assert_int_equal(sp_store_home(&store, "fine", &fd, &err), 0);
	close(fd);
	assert_int_equal(sp_store_home(&store, "../x", &fd, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_grant_created_and_reopened),
		cmocka_unit_test(test_symlink_to_etc_refused),
		cmocka_unit_test(test_symlink_inside_data_refused),
		cmocka_unit_test(test_dotdot_refused),
		cmocka_unit_test(test_home_not_through_symlink),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
