/* The plan, asserted without root: what an instance will see, in which
 * order, with which modes, and nothing of the host's environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/model.h"
#include "plan/plan.h"
#include "store/store.h"

static char state_dir[] = "/tmp/spectrum-test-plan-XXXXXX";
static struct sp_store store;

static int setup(void **ctx)
{
	struct sp_err err = { 0 };

	(void)ctx;
	assert_non_null(mkdtemp(state_dir));
	assert_int_equal(sp_store_open(state_dir, state_dir, &store, &err), 0);
	return 0;
}

static int teardown(void **ctx)
{
	char cmd[128];

	(void)ctx;
	sp_store_close(&store);
	snprintf(cmd, sizeof cmd, "rm -rf %s", state_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char writer_json[] =
	"{\"instances\": {\"w\": {\"software\": [\"host\"], \"command\": [\"sh\", \"-c\", \"true\"],"
	" \"data\": [{\"path\": \"Documents/work/deep\", \"at\": \"/home/user/Documents/deep\"},"
	"            {\"path\": \"Documents/work\", \"at\": \"/home/user/Documents\", \"mode\": \"rw\"}],"
	" \"resources\": {\"memory\": \"64M\", \"cpus\": 0.25, \"pids\": 32},"
	" \"env\": {\"LANG\": \"C.UTF-8\"}}}}";

static const struct sp_mount *find(const struct sp_plan *p, const char *target, size_t *index)
{
	for (size_t i = 0; i < p->n_mounts; i++)
		if (strcmp(p->mounts[i].target, target) == 0) {
			if (index)
				*index = i;
			return &p->mounts[i];
		}
	return NULL;
}

static void build(const char *json, char *const *command, struct sp_config *cfg, struct sp_plan *plan)
{
	struct sp_err err = { 0 };

	assert_int_equal(sp_config_parse(json, strlen(json), "t.json", cfg, &err), 0);
	if (sp_plan_build(&cfg->instances[0], &store, command, NULL, plan, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_mount_order_and_modes(void **ctx)
{
	struct sp_config cfg = { 0 };
	struct sp_plan plan;
	const struct sp_mount *m;
	size_t root, home, outer, inner;

	(void)ctx;
	build(writer_json, NULL, &cfg, &plan);
	assert_non_null(m = find(&plan, "/", &root));
	assert_int_equal(root, 0);
	assert_true(m->readonly);
	assert_non_null(m = find(&plan, "/usr", NULL));
	assert_int_equal(m->kind, SP_MNT_BIND);
	assert_true(m->readonly);
	assert_non_null(m = find(&plan, "/home/user", &home));
	assert_int_equal(m->kind, SP_MNT_HOME);
	assert_false(m->readonly);
	/* The outer grant comes before the one inside it, whatever the
	 * order in the file, or the inner one would be hidden. */
	assert_non_null(m = find(&plan, "/home/user/Documents", &outer));
	assert_int_equal(m->kind, SP_MNT_GRANT);
	assert_false(m->readonly);
	assert_string_equal(m->source, "Documents/work");
	assert_non_null(m = find(&plan, "/home/user/Documents/deep", &inner));
	assert_true(m->readonly); /* mode defaults to ro */
	assert_true(home < outer && outer < inner);
	assert_non_null(m = find(&plan, "/proc", NULL));
	assert_int_equal(m->kind, SP_MNT_PROC);
	assert_non_null(m = find(&plan, "/proc/sys", NULL));
	assert_int_equal(m->kind, SP_MNT_RO_REMOUNT);
	assert_non_null(m = find(&plan, "/dev/pts", NULL));
	assert_int_equal(m->kind, SP_MNT_DEVPTS);
	assert_non_null(m = find(&plan, "/tmp", NULL));
	assert_false(m->readonly);
	/* Nothing of the host but software and harmless devices. */
	for (size_t i = 0; i < plan.n_mounts; i++) {
		m = &plan.mounts[i];
		if (m->kind == SP_MNT_BIND)
			assert_int_equal(m->origin, SP_ORIGIN_SOFTWARE);
		if (m->kind == SP_MNT_DEV)
			assert_true(strncmp(m->source, "/dev/", 5) == 0);
		assert_false(strncmp(m->target, "/sys", 4) == 0);
	}
	assert_null(find(&plan, "/etc/shadow", NULL));
	assert_null(find(&plan, "/run", NULL));
	sp_plan_free(&plan);
	sp_config_free(&cfg);
}

static void test_limits(void **ctx)
{
	struct sp_config cfg = { 0 };
	struct sp_plan plan;

	(void)ctx;
	build(writer_json, NULL, &cfg, &plan);
	assert_int_equal(plan.limits.memory_bytes, 64u << 20);
	assert_int_equal(plan.limits.pids, 32);
	assert_int_equal(plan.limits.cpu_period_us, 100000);
	assert_int_equal(plan.limits.cpu_quota_us, 25000);
	assert_int_equal(plan.uid, 1000);
	assert_int_equal(plan.net.role, SP_NET_ROLE_NONE);
	sp_plan_free(&plan);
	sp_config_free(&cfg);
}

static void test_environment_is_clean(void **ctx)
{
	struct sp_config cfg = { 0 };
	struct sp_plan plan;
	bool lang = false, home = false;

	(void)ctx;
	setenv("SPECTRUM_LEAK_CANARY", "secret", 1);
	build(writer_json, NULL, &cfg, &plan);
	for (size_t i = 0; plan.envp[i]; i++) {
		assert_null(strstr(plan.envp[i], "SPECTRUM_LEAK_CANARY"));
		lang |= strcmp(plan.envp[i], "LANG=C.UTF-8") == 0;
		home |= strcmp(plan.envp[i], "HOME=/home/user") == 0;
	}
	assert_true(lang);
	assert_true(home);
	sp_plan_free(&plan);
	sp_config_free(&cfg);
}

static void test_command_resolution(void **ctx)
{
	struct sp_config cfg = { 0 };
	struct sp_plan plan;
	char *cmd[] = { "true", NULL };
	char *missing[] = { "no-such-program-here", "x", NULL };

	(void)ctx;
	build(writer_json, NULL, &cfg, &plan);
	assert_string_equal(plan.argv[0], access("/usr/local/bin/sh", X_OK) == 0 ? "/usr/local/bin/sh" : "/usr/bin/sh");
	assert_string_equal(plan.argv[2], "true");
	sp_plan_free(&plan);
	sp_config_free(&cfg);

	build(writer_json, cmd, &cfg, &plan);
	assert_string_equal(plan.argv[0], "/usr/bin/true");
	assert_null(plan.argv[1]);
	sp_plan_free(&plan);
	sp_config_free(&cfg);

	/* Not found: left bare, so that execve inside fails with 127. */
	build(writer_json, missing, &cfg, &plan);
	assert_string_equal(plan.argv[0], "no-such-program-here");
	sp_plan_free(&plan);
	sp_config_free(&cfg);
}

static void test_store_only_software(void **ctx)
{
	static const char json[] = "{\"instances\": {\"n\": {\"software\": "
				   "[\"/nix/store/00000000000000000000000000000000-absent\"], \"command\": [\"x\"]}}}";
	struct sp_config cfg = { 0 };
	struct sp_plan plan;
	struct sp_err err = { 0 };

	(void)ctx;
	assert_int_equal(sp_config_parse(json, strlen(json), "t.json", &cfg, &err), 0);
	assert_int_equal(sp_plan_build(&cfg.instances[0], &store, NULL, NULL, &plan, &err), -1);
	assert_non_null(strstr(err.msg, "/nix/store/00000000000000000000000000000000-absent"));
	sp_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mount_order_and_modes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_environment_is_clean),
		cmocka_unit_test(test_command_resolution),
		cmocka_unit_test(test_store_only_software),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
