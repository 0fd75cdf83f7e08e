/* JSON text to the typed model (model.h).  The walk keeps the key path of
 * the value at hand ("instances.a.data[0].mode") so that every message
 * can name it; the first error ends the walk, and whatever was built so
 * far is freed by sp_config_free(). */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/model.h"
#include "config/parse-internal.h"
#include "config/validate.h"
#include "util/err.h"
#include "util/json.h"

#define MEMORY_MIN ((uint64_t)1 << 20)
#define CPUS_MAX 1024.0
#define PIDS_MAX 4194304 /* the kernel's pid_max limit */

static bool is_control(char ch)
{
	return (unsigned char)ch < 0x20 || ch == 0x7f;
}

static void path_putc(struct ctx *c, char ch)
{
	if (c->len + 1 < sizeof c->path) {
		c->path[c->len++] = ch;
		c->path[c->len] = '\0';
	}
}

static void path_puts(struct ctx *c, const char *s)
{
	for (; *s; s++)
		path_putc(c, *s);
}

/* Keys come from the file: control characters become '?' so that the
 * message stays on one line, and a very long key is cut short.  Each
 * push returns the length to give back to cfg_pop(); on an error the walk
 * ends, so error paths do not pop. */
size_t cfg_push_key(struct ctx *c, const char *key)
{
	size_t old = c->len, i;

	if (c->len > 0)
		path_putc(c, '.');
	for (i = 0; key[i] && i < KEY_SHOWN_MAX; i++)
		path_putc(c, is_control(key[i]) ? '?' : key[i]);
	if (key[i])
		path_puts(c, "...");
	return old;
}

size_t cfg_push_index(struct ctx *c, size_t index)
{
	size_t old = c->len;
	char buf[32];

	snprintf(buf, sizeof buf, "[%zu]", index);
	path_puts(c, buf);
	return old;
}

void cfg_pop(struct ctx *c, size_t old)
{
	c->len = old;
	c->path[old] = '\0';
}

/* S quoted for a message: escaped, on one line, and cut short. */
const char *cfg_shown(char buf[static VALUE_BUF], const char *s)
{
	size_t n = 0, i;

	buf[n++] = '"';
	for (i = 0; s[i] && i < VALUE_SHOWN_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)ch;
		} else if (is_control((char)ch)) {
			n += (size_t)snprintf(buf + n, VALUE_BUF - n, "\\x%02x", ch);
		} else {
			buf[n++] = (char)ch;
		}
	}
	buf[n++] = '"';
	if (s[i]) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

int cfg_fail(struct ctx *c, const char *fmt, ...)
{
	char what[sizeof c->err->msg];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (c->len == 0)
		return sp_fail(c->err, SP_ERR_USAGE, "%s: %s", c->file, what);
	return sp_fail(c->err, SP_ERR_USAGE, "%s: %s: %s", c->file, c->path, what);
}

int cfg_oom(struct ctx *c)
{
	return sp_fail_errno(c->err, ENOMEM, "%s", c->file);
}

int cfg_copy_string(struct ctx *c, char **dst, const char *s)
{
	free(*dst);
	*dst = strdup(s);
	return *dst ? 0 : cfg_oom(c);
}

static int parse_isolation(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	const char *s = sp_json_text(v);

	if (s && strcmp(s, "container") == 0) {
		inst->isolation = SP_ISOLATION_CONTAINER;
		return 0;
	}
	if (s && strcmp(s, "vm") == 0) {
		inst->isolation = SP_ISOLATION_VM;
		return 0;
	}
	return cfg_fail(c, "expected \"container\" or \"vm\"");
}

/* Index of the first element before END of array V equal to string S. */
static bool find_earlier(json_t *v, size_t end, const char *s, size_t *at)
{
	for (size_t j = 0; j < end; j++) {
		const char *t = sp_json_text(json_array_get(v, j));

		if (t && strcmp(t, s) == 0) {
			*at = j;
			return true;
		}
	}
	return false;
}

static int parse_software(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	size_t n = json_array_size(v), k = 0;
	char buf[VALUE_BUF];

	if (!json_is_array(v) || n == 0)
		return cfg_fail(c, "expected a non-empty list of Nix store paths or \"host\"");
	inst->store_paths = calloc(n + 1, sizeof *inst->store_paths);
	if (!inst->store_paths)
		return cfg_oom(c);
	for (size_t i = 0; i < n; i++) {
		const char *s = sp_json_text(json_array_get(v, i));
		size_t old = cfg_push_index(c, i), first;

		if (!s)
			return cfg_fail(c, "expected \"host\" or a Nix store path");
		if (find_earlier(v, i, s, &first))
			return cfg_fail(c, "duplicate %s (also software[%zu])", cfg_shown(buf, s), first);
		if (strcmp(s, "host") == 0) {
			inst->software_host = true;
		} else if (!sp_store_path_valid(s)) {
			return cfg_fail(c, "expected \"host\" or a Nix store path "
				    "\"/nix/store/<hash>-<name>\", got %s", cfg_shown(buf, s));
		} else if (cfg_copy_string(c, &inst->store_paths[k++], s) < 0) {
			return -1;
		}
		cfg_pop(c, old);
	}
	return 0;
}

static int parse_command(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	size_t n = json_array_size(v);

	if (!json_is_array(v) || n == 0)
		return cfg_fail(c, "expected a non-empty list of strings (the program and its arguments)");
	inst->command = calloc(n + 1, sizeof *inst->command);
	if (!inst->command)
		return cfg_oom(c);
	for (size_t i = 0; i < n; i++) {
		const char *s = sp_json_text(json_array_get(v, i));
		size_t old = cfg_push_index(c, i);

		if (!s || s[0] == '\0')
			return cfg_fail(c, "expected a non-empty string");
		if (cfg_copy_string(c, &inst->command[i], s) < 0)
			return -1;
		cfg_pop(c, old);
	}
	return 0;
}

static int grant_path(struct ctx *c, json_t *v, struct sp_grant *g)
{
	const char *s = sp_json_text(v), *why;

	if (!s)
		return cfg_fail(c, "expected a path relative to the data directory");
	why = sp_check_grant_path(s);
	if (why)
		return cfg_fail(c, "%s", why);
	return cfg_copy_string(c, &g->path, s);
}

static int grant_at(struct ctx *c, json_t *v, struct sp_grant *g)
{
	const char *s = sp_json_text(v), *why, *tree;
	char buf[VALUE_BUF];

	if (!s)
		return cfg_fail(c, "expected an absolute path inside the instance");
	why = sp_check_target(s);
	if (why)
		return cfg_fail(c, "%s", why);
	tree = sp_reserved_target(s);
	if (tree && strcmp(tree, "/home/user") == 0)
		return cfg_fail(c, "expected a path beneath the home, not \"/home/user\" itself");
	if (tree)
		return cfg_fail(c, "expected a path outside %s, which the engine provides, got %s",
			    tree, cfg_shown(buf, s));
	return cfg_copy_string(c, &g->at, s);
}

static int grant_mode(struct ctx *c, json_t *v, struct sp_grant *g)
{
	const char *s = sp_json_text(v);

	if (s && strcmp(s, "ro") == 0)
		g->mode = SP_GRANT_RO;
	else if (s && strcmp(s, "rw") == 0)
		g->mode = SP_GRANT_RW;
	else
		return cfg_fail(c, "expected \"ro\" or \"rw\"");
	return 0;
}

static int parse_grant(struct ctx *c, json_t *v, struct sp_grant *g)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v))
		return cfg_fail(c, "expected an object {\"path\": ..., \"at\": ..., \"mode\": ...}");
	g->mode = SP_GRANT_RO;
	json_object_foreach(v, key, val) {
		size_t old = cfg_push_key(c, key);
		int r;

		if (strcmp(key, "path") == 0)
			r = grant_path(c, val, g);
		else if (strcmp(key, "at") == 0)
			r = grant_at(c, val, g);
		else if (strcmp(key, "mode") == 0)
			r = grant_mode(c, val, g);
		else
			r = cfg_fail(c, "unknown key");
		if (r < 0)
			return -1;
		cfg_pop(c, old);
	}
	if (!g->path) {
		cfg_push_key(c, "path");
		return cfg_fail(c, "required, a path relative to the data directory");
	}
	if (!g->at) {
		cfg_push_key(c, "at");
		return cfg_fail(c, "required, an absolute path inside the instance");
	}
	return 0;
}

static int parse_data(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	size_t n = json_array_size(v);
	char buf[VALUE_BUF];

	if (!json_is_array(v))
		return cfg_fail(c, "expected a list of grants");
	if (n == 0)
		return 0;
	inst->data = calloc(n, sizeof *inst->data);
	if (!inst->data)
		return cfg_oom(c);
	inst->n_data = n;
	for (size_t i = 0; i < n; i++) {
		size_t old = cfg_push_index(c, i);

		if (parse_grant(c, json_array_get(v, i), &inst->data[i]) < 0)
			return -1;
		/* Two grants at one target: the second would hide the first. */
		for (size_t j = 0; j < i; j++) {
			if (strcmp(inst->data[j].at, inst->data[i].at) == 0) {
				cfg_push_key(c, "at");
				return cfg_fail(c, "duplicate mount target %s (also data[%zu])",
					    cfg_shown(buf, inst->data[i].at), j);
			}
		}
		cfg_pop(c, old);
	}
	return 0;
}

static int vm_field(struct ctx *c, const char *key, json_t *v, struct sp_vm *vm)
{
	const char *s;
	char buf[VALUE_BUF];

	if (strcmp(key, "memory") == 0) {
		s = sp_json_text(v);
		if (!s || sp_parse_size(s, &vm->memory) < 0 || vm->memory < SP_VM_MEMORY_MIN ||
		    vm->memory > SP_VM_MEMORY_MAX)
			return cfg_fail(c, "expected a size from \"128M\" to \"64G\"");
	} else if (strcmp(key, "vcpus") == 0) {
		json_int_t i = json_integer_value(v);

		if (!json_is_integer(v) || i < 1 || i > SP_VM_VCPUS_MAX)
			return cfg_fail(c, "expected a whole number of virtual CPUs from 1 to 64");
		vm->vcpus = (unsigned)i;
	} else if (strcmp(key, "kernel") == 0) {
		const char *why;

		s = sp_json_text(v);
		if (!s)
			return cfg_fail(c, "expected the absolute path of a kernel image");
		/* The same shape as a grant's target: absolute and normalised. */
		why = sp_check_target(s);
		if (why)
			return cfg_fail(c, "%s, not %s", why, cfg_shown(buf, s));
		if (cfg_copy_string(c, &vm->kernel, s) < 0)
			return -1;
	} else {
		return cfg_fail(c, "unknown key");
	}
	return 0;
}

static int parse_vm(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v))
		return cfg_fail(c, "expected an object with \"memory\", \"vcpus\" or \"kernel\"");
	json_object_foreach(v, key, val) {
		size_t old = cfg_push_key(c, key);

		if (vm_field(c, key, val, &inst->vm) < 0)
			return -1;
		cfg_pop(c, old);
	}
	return 0;
}

static int resource(struct ctx *c, const char *key, json_t *v, struct sp_resources *res)
{
	const char *s;

	if (strcmp(key, "memory") == 0) {
		s = sp_json_text(v);
		if (!s || sp_parse_size(s, &res->memory) < 0 || res->memory < MEMORY_MIN)
			return cfg_fail(c, "expected a size such as \"256M\" (at least 1M)");
	} else if (strcmp(key, "cpus") == 0) {
		double d = json_number_value(v);

		if (!json_is_number(v) || !(d > 0 && d <= CPUS_MAX))
			return cfg_fail(c, "expected a number of CPUs greater than 0 and at most 1024");
		res->cpus = d;
	} else if (strcmp(key, "pids") == 0) {
		json_int_t i = json_integer_value(v);

		if (!json_is_integer(v) || i < 2 || i > PIDS_MAX)
			return cfg_fail(c, "expected a whole number from 2 (its PID 1 and the command) to 4194304");
		res->pids = (uint64_t)i;
	} else if (strcmp(key, "files") == 0) {
		json_int_t i = json_integer_value(v);

		if (!json_is_integer(v) || i < SP_FILES_MIN || i > SP_FILES_MAX)
			return cfg_fail(c, "expected a whole number of open files from 64 to 1048576");
		res->files = (uint64_t)i;
	} else if (strcmp(key, "tmp") == 0 || strcmp(key, "shm") == 0) {
		uint64_t *size = strcmp(key, "tmp") == 0 ? &res->tmp : &res->shm;

		s = sp_json_text(v);
		if (!s || sp_parse_size(s, size) < 0 || *size < MEMORY_MIN)
			return cfg_fail(c, "expected a size such as \"64M\" (at least 1M)");
	} else {
		return cfg_fail(c, "unknown key");
	}
	return 0;
}

static int parse_resources(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v))
		return cfg_fail(c, "expected an object with \"memory\", \"cpus\", \"pids\", \"files\", "
				"\"tmp\" or \"shm\"");
	json_object_foreach(v, key, val) {
		size_t old = cfg_push_key(c, key);

		if (resource(c, key, val, &inst->resources) < 0)
			return -1;
		cfg_pop(c, old);
	}
	/* A tmpfs is charged to the memory of whoever writes it: one larger
	 * than the memory limit would end in the OOM killer, not ENOSPC. */
	for (int i = 0; i < 2; i++) {
		uint64_t size = i == 0 ? inst->resources.tmp : inst->resources.shm;

		if (inst->resources.memory && size > inst->resources.memory) {
			cfg_push_key(c, i == 0 ? "tmp" : "shm");
			return cfg_fail(c, "expected at most resources.memory");
		}
	}
	return 0;
}

static int parse_env(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	size_t n = json_object_size(v), i = 0;
	const char *key;
	json_t *val;

	if (!json_is_object(v))
		return cfg_fail(c, "expected an object of variable names and string values");
	if (n == 0)
		return 0;
	inst->env = calloc(n, sizeof *inst->env);
	if (!inst->env)
		return cfg_oom(c);
	inst->n_env = n;
	json_object_foreach(v, key, val) {
		size_t old = cfg_push_key(c, key);
		const char *s = sp_json_text(val);

		if (!sp_env_name_valid(key))
			return cfg_fail(c, "expected a variable name matching [A-Za-z_][A-Za-z0-9_]*");
		if (sp_env_name_reserved(key))
			return cfg_fail(c, "set by the engine, cannot be overridden");
		if (!s)
			return cfg_fail(c, "expected a string");
		if (cfg_copy_string(c, &inst->env[i].key, key) < 0 ||
		    cfg_copy_string(c, &inst->env[i].value, s) < 0)
			return -1;
		i++;
		cfg_pop(c, old);
	}
	return 0;
}

static int parse_restart(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	const char *s = sp_json_text(v);

	if (s && strcmp(s, "no") == 0)
		inst->restart = SP_RESTART_NO;
	else if (s && strcmp(s, "on-failure") == 0)
		inst->restart = SP_RESTART_ON_FAILURE;
	else if (s && strcmp(s, "always") == 0)
		inst->restart = SP_RESTART_ALWAYS;
	else
		return cfg_fail(c, "expected \"no\", \"on-failure\" or \"always\"");
	return 0;
}

static int parse_autostart(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	if (!json_is_boolean(v))
		return cfg_fail(c, "expected true or false");
	inst->autostart = json_is_true(v);
	return 0;
}

static int parse_stop_timeout(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	json_int_t i = json_integer_value(v);

	if (!json_is_integer(v) || i < 1 || i > SP_STOP_TIMEOUT_MAX)
		return cfg_fail(c, "expected a whole number of seconds from 1 to 3600");
	inst->stop_timeout = (unsigned)i;
	return 0;
}

static const struct field {
	const char *key;
	int (*parse)(struct ctx *c, json_t *v, struct sp_instance *inst);
	const char *required; /* what to say when it is missing, or NULL */
} instance_fields[] = {
	{ "isolation", parse_isolation, NULL },
	{ "vm", parse_vm, NULL },
	{ "provides", cfg_parse_provides, NULL },
	{ "uplink", cfg_parse_uplink, NULL },
	{ "software", parse_software, "a non-empty list of Nix store paths or \"host\"" },
	{ "command", parse_command, "a non-empty list of strings" },
	{ "data", parse_data, NULL },
	{ "net", cfg_parse_net, NULL },
	{ "resources", parse_resources, NULL },
	{ "env", parse_env, NULL },
	{ "restart", parse_restart, NULL },
	{ "autostart", parse_autostart, NULL },
	{ "stop_timeout", parse_stop_timeout, NULL },
};

#define N_FIELDS (sizeof instance_fields / sizeof instance_fields[0])

static const struct field *find_field(const char *key)
{
	for (size_t i = 0; i < N_FIELDS; i++)
		if (strcmp(instance_fields[i].key, key) == 0)
			return &instance_fields[i];
	return NULL;
}

/* What depends on more than one key: a machine only for a VM, and a
 * memory limit that leaves QEMU room above the guest's RAM (the guest's
 * RAM is charged to the instance's cgroup). */
static int check_vm(struct ctx *c, json_t *v, const struct sp_instance *inst)
{
	if (inst->isolation != SP_ISOLATION_VM && json_object_get(v, "vm")) {
		cfg_push_key(c, "vm");
		return cfg_fail(c, "only for \"isolation\": \"vm\"");
	}
	if (inst->isolation == SP_ISOLATION_VM && inst->resources.memory &&
	    inst->resources.memory < inst->vm.memory + SP_VM_OVERHEAD) {
		cfg_push_key(c, "resources");
		cfg_push_key(c, "memory");
		return cfg_fail(c, "expected at least vm.memory plus 96M for QEMU and virtiofsd");
	}
	return 0;
}

/* The key path already ends in NAME. */
static int parse_instance(struct ctx *c, const char *name, json_t *v, struct sp_instance *inst)
{
	const char *key;
	json_t *val;

	if (!sp_name_valid(name))
		return cfg_fail(c, "expected an instance name matching [a-z0-9][a-z0-9-]{0,62}");
	if (!json_is_object(v))
		return cfg_fail(c, "expected an object");
	if (cfg_copy_string(c, &inst->name, name) < 0)
		return -1;
	inst->stop_timeout = SP_STOP_TIMEOUT_DEFAULT;
	inst->vm.memory = SP_VM_MEMORY_DEFAULT;
	inst->vm.vcpus = 1;
	json_object_foreach(v, key, val) {
		const struct field *f = find_field(key);
		size_t old = cfg_push_key(c, key);

		if (!f)
			return cfg_fail(c, "unknown key");
		if (f->parse(c, val, inst) < 0)
			return -1;
		cfg_pop(c, old);
	}
	for (size_t i = 0; i < N_FIELDS; i++) {
		const struct field *f = &instance_fields[i];

		if (f->required && !json_object_get(v, f->key)) {
			cfg_push_key(c, f->key);
			return cfg_fail(c, "required, %s", f->required);
		}
	}
	return check_vm(c, v, inst);
}

static int parse_root(struct ctx *c, json_t *root, struct sp_config *cfg)
{
	const char *key;
	json_t *val, *instances;
	size_t i = 0;

	if (!json_is_object(root))
		return cfg_fail(c, "expected an object with \"instances\"");
	json_object_foreach(root, key, val) {
		if (strcmp(key, "instances") != 0) {
			cfg_push_key(c, key);
			return cfg_fail(c, "unknown key");
		}
	}
	instances = json_object_get(root, "instances");
	cfg_push_key(c, "instances");
	if (!instances)
		return cfg_fail(c, "required, an object of instances by name");
	if (!json_is_object(instances))
		return cfg_fail(c, "expected an object of instances by name");
	if (json_object_size(instances) == 0)
		return cfg_fail(c, "expected at least one instance");
	cfg->instances = calloc(json_object_size(instances), sizeof *cfg->instances);
	if (!cfg->instances)
		return cfg_oom(c);
	cfg->n_instances = json_object_size(instances);
	/* jansson keeps the file's order, so instances come out as written. */
	json_object_foreach(instances, key, val) {
		size_t old = cfg_push_key(c, key);

		if (parse_instance(c, key, val, &cfg->instances[i++]) < 0)
			return -1;
		cfg_pop(c, old);
	}
	cfg_pop(c, 0);
	return cfg_check_net(c, cfg);
}

int sp_config_parse(const char *text, size_t len, const char *file,
		    struct sp_config *out, struct sp_err *err)
{
	struct sp_config cfg = { 0 };
	struct ctx c = { .file = file ? file : "config", .err = err };
	json_error_t jerr;
	json_t *root;
	int ret = -1;

	memset(out, 0, sizeof *out);
	root = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		/* jansson quotes the offending token; keep it on one line. */
		for (char *p = jerr.text; *p; p++)
			if (is_control(*p))
				*p = '?';
		return sp_fail(err, SP_ERR_USAGE, "%s:%d:%d: %s",
			       c.file, jerr.line, jerr.column, jerr.text);
	}
	if (cfg_copy_string(&c, &cfg.file, c.file) < 0)
		goto out;
	if (parse_root(&c, root, &cfg) < 0)
		goto out;
	*out = cfg;
	memset(&cfg, 0, sizeof cfg);
	ret = 0;
out:
	sp_config_free(&cfg);
	json_decref(root);
	return ret;
}
