/* Unit tests of sp_config_load() (src/config/load.c): reading ".json"
 * files, and evaluating ".nix" files with nix-instantiate.  The Nix tests
 * skip, visibly, when nix-instantiate is not installed. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/model.h"
#include "util/err.h"

#define MIB (1024 * 1024)

struct fixture {
	char dir[64];
	char path[256];
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/spectrum-test-config-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int r = nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

	free(f);
	return r;
}

/* Writes TEXT to NAME in the fixture's directory; returns the path. */
static const char *write_file(struct fixture *f, const char *name, const char *text)
{
	FILE *fp;

	snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
	fp = fopen(f->path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	return f->path;
}

/* Loads FILE, which must fail with a one-line error of KIND starting
 * with FILE and containing WANT. */
static void expect_load_error(const char *file, enum sp_err_kind kind, const char *want)
{
	struct sp_config cfg;
	struct sp_err err = { 0 };
	int r = sp_config_load(file, &cfg, &err);

	if (r != -1 || err.kind != kind || !strstr(err.msg, want) || strchr(err.msg, '\n') ||
	    strncmp(err.msg, file, strlen(file)) != 0) {
		print_error("file: %s\n want: %s (kind %d)\n  got: r=%d kind=%d %s\n",
			    file, want, (int)kind, r, (int)err.kind, err.msg);
		if (r == 0)
			sp_config_free(&cfg);
		fail();
	}
	assert_null(cfg.instances);
	assert_int_equal(cfg.n_instances, 0);
}

static bool have_program(const char *name)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;

	if (!path)
		return false;
	copy = strdup(path);
	assert_non_null(copy);
	for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char full[4096];

		snprintf(full, sizeof full, "%s/%s", d[0] ? d : ".", name);
		found = access(full, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* In CI (CI=true) or with SPECTRUM_REQUIRE_ALL=1 a skip is a failure:
 * Nix is installed on the build machines, and a skip would pass unseen. */
static int strict_skips(void)
{
	const char *ci = getenv("CI"), *all = getenv("SPECTRUM_REQUIRE_ALL");

	return (ci && strcmp(ci, "true") == 0) || (all && strcmp(all, "1") == 0);
}

static void need_nix(void)
{
	if (!have_program("nix-instantiate")) {
		if (strict_skips())
			fail_msg("nix-instantiate not found (CI=true or SPECTRUM_REQUIRE_ALL=1: no skips)");
		print_message("nix-instantiate not found: skipping\n");
		skip();
	}
}

static void test_json_file(void **state)
{
	struct fixture *f = *state;
	const char *file = write_file(f, "c.json",
		"{\"instances\": {\"a\": {\"software\": [\"host\"], \"command\": [\"sh\"]}}}\n");
	struct sp_config cfg;
	struct sp_err err = { 0 };

	assert_int_equal(sp_config_load(file, &cfg, &err), 0);
	assert_string_equal(cfg.file, file);
	assert_int_equal(cfg.n_instances, 1);
	assert_string_equal(cfg.instances[0].command[0], "sh");
	sp_config_free(&cfg);
}

static void test_json_errors(void **state)
{
	struct fixture *f = *state;
	char path[300];

	/* Messages name the file as given, with the line and column. */
	write_file(f, "syntax.json", "{\"instances\":\n  {,}}");
	expect_load_error(f->path, SP_ERR_USAGE, ":2:4: ");
	write_file(f, "bad.json", "{\"instances\": {\"a\": {\"software\": [\"host\"], \"command\": []}}}");
	expect_load_error(f->path, SP_ERR_USAGE, ": instances.a.command: expected a non-empty list");
	write_file(f, "empty.json", "");
	expect_load_error(f->path, SP_ERR_USAGE, ":1:0: ");

	snprintf(path, sizeof path, "%s/missing.json", f->dir);
	expect_load_error(path, SP_ERR_USAGE, ": cannot read: No such file or directory");

	/* A directory is unreadable even for root. */
	snprintf(path, sizeof path, "%s/dir.json", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	expect_load_error(path, SP_ERR_USAGE, ": cannot read: Is a directory");
}

static void test_json_size_limit(void **state)
{
	struct fixture *f = *state;
	const char *json = "{\"instances\": {\"a\": {\"software\": [\"host\"], \"command\": [\"sh\"]}}}";
	struct sp_config cfg;
	struct sp_err err = { 0 };
	int fd;

	/* Exactly 16 MiB, padded with blanks: accepted. */
	write_file(f, "big.json", json);
	fd = open(f->path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	{
		size_t left = 16 * MIB - strlen(json);
		char *pad = malloc(left);

		assert_non_null(pad);
		memset(pad, ' ', left);
		assert_int_equal(write(fd, pad, left), (ssize_t)left);
		free(pad);
	}
	assert_int_equal(sp_config_load(f->path, &cfg, &err), 0);
	sp_config_free(&cfg);

	/* One more byte: refused before parsing. */
	assert_int_equal(write(fd, " ", 1), 1);
	assert_int_equal(close(fd), 0);
	expect_load_error(f->path, SP_ERR_USAGE, ": larger than 16 MiB");
}

static void test_nix_missing(void **state)
{
	struct fixture *f = *state;
	char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

	write_file(f, "c.nix", "{ }");
	/* An empty directory as the whole PATH: nix-instantiate is not there. */
	setenv("PATH", f->dir, 1);
	expect_load_error(f->path, SP_ERR_RUNTIME, ": cannot run nix-instantiate: No such file or directory");
	if (old)
		setenv("PATH", old, 1);
	free(old);
}

static void test_nix_file(void **state)
{
	struct fixture *f = *state;
	struct sp_config cfg;
	struct sp_err err = { 0 };
	const struct sp_instance *h;

	need_nix();
	write_file(f, "c.nix",
		"let mem = \"64M\"; in {\n"
		"  instances.hello = {\n"
		"    software = [ \"host\" ];\n"
		"    command = [ \"echo\" \"hi\" ];\n"
		"    resources.memory = mem;\n"
		"    data = [ { path = \"docs\"; at = \"/home/user/docs\"; mode = \"rw\"; } ];\n"
		"  };\n"
		"}\n");
	if (sp_config_load(f->path, &cfg, &err) != 0) {
		print_error("%s\n", err.msg);
		fail();
	}
	assert_string_equal(cfg.file, f->path);
	h = sp_config_find(&cfg, "hello");
	assert_non_null(h);
	assert_true(h->software_host);
	assert_string_equal(h->command[0], "echo");
	assert_string_equal(h->command[1], "hi");
	assert_null(h->command[2]);
	assert_int_equal(h->resources.memory, 64 * MIB);
	assert_int_equal(h->n_data, 1);
	assert_int_equal(h->data[0].mode, SP_GRANT_RW);
	sp_config_free(&cfg);
}

static void test_nix_relative_name(void **state)
{
	struct fixture *f = *state;
	struct sp_config cfg;
	struct sp_err err = { 0 };
	char old[4096];

	need_nix();
	/* A name starting with '-' must not be taken for an option. */
	write_file(f, "-c.nix", "{ instances.a = { software = [ \"host\" ]; command = [ \"sh\" ]; }; }");
	assert_non_null(getcwd(old, sizeof old));
	assert_int_equal(chdir(f->dir), 0);
	if (sp_config_load("-c.nix", &cfg, &err) != 0) {
		assert_int_equal(chdir(old), 0);
		print_error("%s\n", err.msg);
		fail();
	}
	assert_int_equal(chdir(old), 0);
	assert_string_equal(cfg.file, "-c.nix");
	assert_int_equal(cfg.n_instances, 1);
	sp_config_free(&cfg);
}

static void test_nix_errors(void **state)
{
	struct fixture *f = *state;

	need_nix();
	/* Nix's own words, on one line, with where Nix found the problem. */
	write_file(f, "syntax.nix", "{ instances = {\n");
	expect_load_error(f->path, SP_ERR_USAGE, ": error: syntax error");
	expect_load_error(f->path, SP_ERR_USAGE, "syntax.nix:1:16)");
	write_file(f, "throw.nix", "throw \"no configuration here\"");
	expect_load_error(f->path, SP_ERR_USAGE, "no configuration here");
	/* Evaluated fine, then refused by the parser with a key path. */
	write_file(f, "model.nix", "{ instances.a = { command = [ \"sh\" ]; }; }");
	expect_load_error(f->path, SP_ERR_USAGE, "model.nix: instances.a.software: required");
	/* Functions have no JSON form. */
	write_file(f, "function.nix", "{ instances.a = x: x; }");
	expect_load_error(f->path, SP_ERR_USAGE, "function.nix: error: ");
	expect_load_error("/nonexistent/spectrum.nix", SP_ERR_USAGE, "/nonexistent/spectrum.nix: cannot read: No such file");
}

static void test_nix_search_path(void **state)
{
	struct fixture *f = *state;
	struct sp_config cfg;
	struct sp_err err = { 0 };
	char lib[300];

	need_nix();
	snprintf(lib, sizeof lib, "%s/lib", f->dir);
	assert_int_equal(mkdir(lib, 0700), 0);
	write_file(f, "lib/default.nix", "{ command = [ \"from-lib\" ]; }");
	write_file(f, "uses-lib.nix",
		   "let lib = import <spectrum>; in\n"
		   "{ instances.a = { software = [ \"host\" ]; command = lib.command; }; }");

	/* Without SPECTRUM_NIX_DIR, <spectrum> is not on the search path. */
	unsetenv("SPECTRUM_NIX_DIR");
	expect_load_error(f->path, SP_ERR_USAGE, "spectrum");

	setenv("SPECTRUM_NIX_DIR", lib, 1);
	if (sp_config_load(f->path, &cfg, &err) != 0) {
		unsetenv("SPECTRUM_NIX_DIR");
		print_error("%s\n", err.msg);
		fail();
	}
	unsetenv("SPECTRUM_NIX_DIR");
	assert_string_equal(cfg.instances[0].command[0], "from-lib");
	sp_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nix_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nix_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nix_relative_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nix_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nix_search_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
