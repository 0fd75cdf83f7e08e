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

/* The defaults, on hosts of fixed facts: limits.c's rules, each. */
static void test_default_limits(void **ctx)
{
	const uint64_t G = 1ull << 30, M = 1ull << 20;
	struct sp_instance inst = { .name = "a", .isolation = SP_ISOLATION_CONTAINER };
	/* 24 GiB, pid_max 32768, file-max 2466310: this build machine. */
	struct sp_host_facts big = { 24 * G, 32768, 2466310 };
	/* 4 GiB, pid_max 4194304 (systemd's), file-max 400000. */
	struct sp_host_facts laptop = { 4 * G, 4194304, 400000 };
	struct sp_host_facts tiny = { 512 * M, 32768, 50000 };
	struct sp_limits l;

	(void)ctx;
	sp_plan_limits(&inst, &big, &l);
	assert_int_equal(l.memory_bytes, 4 * G); /* RAM/4 = 6G, at most 4G */
	assert_int_equal(l.files, 1024);
	/* min(1024, 32768/16 = 2048, 2466310/(4*1024) = 602) */
	assert_int_equal(l.pids, 602);
	assert_true(l.pids * l.files <= big.file_max / 4);
	assert_int_equal(l.tmp_bytes, 1 * G);
	assert_int_equal(l.shm_bytes, 1 * G);
	assert_int_equal(l.cpu_quota_us, 0);
	assert_int_equal(l.all_memory_bytes, 21 * G); /* less RAM/8 */
	assert_int_equal(l.all_pids, 16384);
	assert_int_equal(l.defaulted, SP_LIMIT_DEFAULT_MEMORY | SP_LIMIT_DEFAULT_PIDS | SP_LIMIT_DEFAULT_FILES |
					      SP_LIMIT_DEFAULT_TMP | SP_LIMIT_DEFAULT_SHM);

	sp_plan_limits(&inst, &laptop, &l);
	assert_int_equal(l.memory_bytes, 1 * G);
	assert_int_equal(l.pids, 97); /* 400000 / 4096 */
	assert_int_equal(l.tmp_bytes, 256 * M);
	assert_int_equal(l.all_memory_bytes, 3 * G); /* less 1G */
	assert_int_equal(l.all_pids, 2097152);

	sp_plan_limits(&inst, &tiny, &l);
	assert_int_equal(l.memory_bytes, 128 * M);
	assert_int_equal(l.pids, 64); /* the floor */
	assert_int_equal(l.all_memory_bytes, 256 * M);

	/* Declared values win; tmp and shm follow the declared memory. */
	inst.resources = (struct sp_resources){ .memory = 64 * M, .pids = 32, .files = 4096, .cpus = 0.5 };
	sp_plan_limits(&inst, &big, &l);
	assert_int_equal(l.memory_bytes, 64 * M);
	assert_int_equal(l.pids, 32);
	assert_int_equal(l.files, 4096);
	assert_int_equal(l.tmp_bytes, 16 * M);
	assert_int_equal(l.shm_bytes, 16 * M);
	assert_int_equal(l.cpu_quota_us, 50000);
	assert_int_equal(l.defaulted, SP_LIMIT_DEFAULT_TMP | SP_LIMIT_DEFAULT_SHM);
	inst.resources.tmp = 8 * M;
	inst.resources.shm = 2 * M;
	sp_plan_limits(&inst, &big, &l);
	assert_int_equal(l.tmp_bytes, 8 * M);
	assert_int_equal(l.shm_bytes, 2 * M);
	assert_int_equal(l.defaulted, 0);

	/* A VM: its guest's RAM and room for QEMU. */
	inst = (struct sp_instance){ .name = "v", .isolation = SP_ISOLATION_VM, .vm = { .memory = 256 * M } };
	sp_plan_limits(&inst, &big, &l);
	assert_int_equal(l.memory_bytes, 256 * M + G);
}

/* What plan_build puts in: the same defaults, from this host's facts. */
static void test_plan_has_default_limits(void **ctx)
{
	struct sp_config cfg = { 0 };
	struct sp_plan plan;
	struct sp_host_facts h;
	struct sp_limits want;

	(void)ctx;
	build("{\"instances\":{\"a\":{\"software\":[\"host\"],\"command\":[\"/bin/true\"]}}}", NULL, &cfg, &plan);
	sp_host_facts_read(&h);
	sp_plan_limits(&cfg.instances[0], &h, &want);
	assert_true(plan.limits.memory_bytes > 0 && plan.limits.memory_bytes == want.memory_bytes);
	assert_true(plan.limits.pids > 0 && plan.limits.pids == want.pids);
	assert_int_equal(plan.limits.files, 1024);
	assert_true(plan.limits.tmp_bytes == plan.limits.memory_bytes / 4);
	assert_true(plan.limits.shm_bytes == plan.limits.memory_bytes / 4);
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
		cmocka_unit_test(test_default_limits),
		cmocka_unit_test(test_plan_has_default_limits),
		cmocka_unit_test(test_environment_is_clean),
		cmocka_unit_test(test_command_resolution),
		cmocka_unit_test(test_store_only_software),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
