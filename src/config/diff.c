#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/diff.h"
#include "net/addr.h"

static const char *const restart_names[] = { "no", "on-failure", "always" };

__attribute__((format(printf, 2, 3)))
static int say(char ***v, const char *fmt, ...)
{
	size_t n = 0;
	char **nv, *s;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	while (*v && (*v)[n])
		n++;
	nv = realloc(*v, (n + 2) * sizeof *nv);
	if (!nv) {
		free(s);
		return -1;
	}
	nv[n] = s;
	nv[n + 1] = NULL;
	*v = nv;
	return 0;
}

static bool in_list(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* "writer" of "/nix/store/<32 chars>-writer". */
static const char *store_name(const char *path)
{
	return strlen(path) > 44 ? path + 44 : path;
}

static void join(char *const *v, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; v && v[i] && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? " " : "", v[i]);
}

static void size_text(uint64_t b, char *buf, size_t n)
{
	static const char units[] = "KMGT";
	int u = -1;

	if (!b) {
		snprintf(buf, n, "none");
		return;
	}
	while (b >= 1024 && b % 1024 == 0 && u < 3) {
		b /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, n, "%llu bytes", (unsigned long long)b);
	else
		snprintf(buf, n, "%llu%c", (unsigned long long)b, units[u]);
}

/* "raised from 64M to 128M", "set to 64M", "removed (was 64M)". */
static int limit(char ***v, const char *what, uint64_t a, uint64_t b, bool size)
{
	char x[32], y[32];

	if (a == b)
		return 0;
	if (size) {
		size_text(a, x, sizeof x);
		size_text(b, y, sizeof y);
	} else {
		snprintf(x, sizeof x, "%llu", (unsigned long long)a);
		snprintf(y, sizeof y, "%llu", (unsigned long long)b);
	}
	/* Not declared means the default (src/plan/limits.c), never none. */
	if (!a)
		return say(v, "%s limit set to %s (was the default)", what, y);
	if (!b)
		return say(v, "%s limit back to the default (was %s)", what, x);
	return say(v, "%s limit %s from %s to %s", what, b > a ? "raised" : "lowered", x, y);
}

static const struct sp_grant *find_grant(const struct sp_instance *i, const char *at)
{
	for (size_t k = 0; k < i->n_data; k++)
		if (strcmp(i->data[k].at, at) == 0)
			return &i->data[k];
	return NULL;
}

static const char *env_get(const struct sp_instance *i, const char *key)
{
	for (size_t k = 0; k < i->n_env; k++)
		if (strcmp(i->env[k].key, key) == 0)
			return i->env[k].value;
	return NULL;
}

/* All of an instance's network in one line (malloc'ed, NULL on ENOMEM):
 * any difference restarts it, its links and rules being made at start.
 * Peers go with their MACs: their links are named after them. */
static char *net_text(const struct sp_instance *i)
{
	const struct sp_net *net = &i->net;
	char mac[18], rule[64], *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (i->provides_net) {
		fprintf(f, "provider (uplink %s)", i->uplink == SP_UPLINK_HOST ? "host" : "none");
	} else if (!net->provider) {
		fputs("none", f);
	} else {
		sp_net_mac_text(net->mac, mac);
		fprintf(f, "client of %s (MAC %s", net->provider, mac);
		for (size_t k = 0; k < net->n_peers; k++) {
			sp_net_mac_text(net->peers[k].mac, mac);
			fprintf(f, "%s%s %s", k ? ", " : ", peers ", net->peers[k].name, mac);
		}
		if (!net->allow_any)
			fputs(", allow [", f);
		for (size_t k = 0; !net->allow_any && k < net->n_allow; k++) {
			sp_net_allow_text(&net->allow[k], rule, sizeof rule);
			fprintf(f, "%s%s", k ? ", " : "", rule);
		}
		fputs(net->allow_any ? ")" : "])", f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int compare(const struct sp_instance *a, const struct sp_instance *b, struct sp_instance_diff *d)
{
	char **v = NULL;
	char x[2048], y[2048], *na, *nb;
	int r = 0;

	/* Software, each store path on its own: an app updated on its own
	 * shows as exactly its old and new path. */
	for (size_t k = 0; a->store_paths && a->store_paths[k]; k++) {
		const char *old_path = a->store_paths[k], *same = NULL;
		if (in_list(b->store_paths, old_path))
			continue;
		/* The same package name in a new build: one change, not a
		 * removal and an addition. */
		for (size_t j = 0; b->store_paths && b->store_paths[j] && !same; j++)
			if (!in_list(a->store_paths, b->store_paths[j]) &&
			    strcmp(store_name(b->store_paths[j]), store_name(old_path)) == 0)
				same = b->store_paths[j];
		if (same)
			r |= say(&v, "software changed from %s to %s", old_path, same);
		else
			r |= say(&v, "software removed: %s", old_path);
	}
	for (size_t k = 0; b->store_paths && b->store_paths[k]; k++) {
		bool paired = false;
		if (in_list(a->store_paths, b->store_paths[k]))
			continue;
		for (size_t j = 0; a->store_paths && a->store_paths[j]; j++)
			paired |= !in_list(b->store_paths, a->store_paths[j]) &&
				  strcmp(store_name(a->store_paths[j]), store_name(b->store_paths[k])) == 0;
		if (!paired)
			r |= say(&v, "software added: %s", b->store_paths[k]);
	}
	if (a->software_host != b->software_host)
		r |= say(&v, "host software (/usr) %s", b->software_host ? "added" : "removed");
	join(a->command, x, sizeof x);
	join(b->command, y, sizeof y);
	if (strcmp(x, y) != 0)
		r |= say(&v, "command changed from `%s` to `%s`", x, y);
	for (size_t k = 0; k < a->n_data; k++) {
		const struct sp_grant *g = &a->data[k], *h = find_grant(b, g->at);
		if (!h)
			r |= say(&v, "grant removed: data/%s at %s", g->path, g->at);
		else if (strcmp(g->path, h->path) != 0)
			r |= say(&v, "grant at %s changed from data/%s to data/%s", g->at, g->path, h->path);
		if (h && g->mode != h->mode)
			r |= say(&v, "grant data/%s at %s changed from %s to %s", h->path, g->at,
				 g->mode == SP_GRANT_RW ? "read-write" : "read-only",
				 h->mode == SP_GRANT_RW ? "read-write" : "read-only");
	}
	for (size_t k = 0; k < b->n_data; k++)
		if (!find_grant(a, b->data[k].at))
			r |= say(&v, "grant added: data/%s at %s (%s)", b->data[k].path, b->data[k].at,
				 b->data[k].mode == SP_GRANT_RW ? "read-write" : "read-only");
	if (a->isolation != b->isolation)
		r |= say(&v, "isolation changed from %s to %s", a->isolation == SP_ISOLATION_VM ? "vm" : "container",
			 b->isolation == SP_ISOLATION_VM ? "vm" : "container");
	if (b->isolation == SP_ISOLATION_VM && a->isolation == SP_ISOLATION_VM) {
		char m1[32], m2[32];
		const char *k1 = a->vm.kernel ? a->vm.kernel : "the newest in /boot";
		const char *k2 = b->vm.kernel ? b->vm.kernel : "the newest in /boot";

		size_text(a->vm.memory, m1, sizeof m1);
		size_text(b->vm.memory, m2, sizeof m2);
		if (a->vm.memory != b->vm.memory)
			r |= say(&v, "VM memory changed from %s to %s", m1, m2);
		if (a->vm.vcpus != b->vm.vcpus)
			r |= say(&v, "VM vcpus changed from %u to %u", a->vm.vcpus, b->vm.vcpus);
		if (strcmp(k1, k2) != 0)
			r |= say(&v, "VM kernel changed from %s to %s", k1, k2);
	}
	na = net_text(a);
	nb = net_text(b);
	if (!na || !nb)
		r = -1;
	else if (strcmp(na, nb) != 0)
		r |= say(&v, "network changed from %s to %s", na, nb);
	free(na);
	free(nb);
	r |= limit(&v, "memory", a->resources.memory, b->resources.memory, true);
	r |= limit(&v, "pids", a->resources.pids, b->resources.pids, false);
	r |= limit(&v, "open files", a->resources.files, b->resources.files, false);
	r |= limit(&v, "/tmp size", a->resources.tmp, b->resources.tmp, true);
	r |= limit(&v, "/dev/shm size", a->resources.shm, b->resources.shm, true);
	if (a->resources.cpus != b->resources.cpus) {
		if (!a->resources.cpus)
			r |= say(&v, "cpu limit set to %g CPUs", b->resources.cpus);
		else if (!b->resources.cpus)
			r |= say(&v, "cpu limit removed (was %g CPUs)", a->resources.cpus);
		else
			r |= say(&v, "cpu limit %s from %g to %g CPUs",
				 b->resources.cpus > a->resources.cpus ? "raised" : "lowered", a->resources.cpus,
				 b->resources.cpus);
	}
	for (size_t k = 0; k < a->n_env; k++) {
		const char *nv = env_get(b, a->env[k].key);
		if (!nv)
			r |= say(&v, "environment variable %s removed", a->env[k].key);
		else if (strcmp(nv, a->env[k].value) != 0)
			r |= say(&v, "environment variable %s changed from \"%s\" to \"%s\"", a->env[k].key,
				 a->env[k].value, nv);
	}
	for (size_t k = 0; k < b->n_env; k++)
		if (!env_get(a, b->env[k].key))
			r |= say(&v, "environment variable %s set to \"%s\"", b->env[k].key, b->env[k].value);
	d->needs_restart = v != NULL;
	/* These are the supervisor's business, not the instance's: no
	 * restart for them. */
	if (a->restart != b->restart)
		r |= say(&v, "restart policy changed from %s to %s", restart_names[a->restart],
			 restart_names[b->restart]);
	if (a->autostart != b->autostart)
		r |= say(&v, "autostart turned %s", b->autostart ? "on" : "off");
	if (a->stop_timeout != b->stop_timeout)
		r |= say(&v, "stop timeout changed from %u s to %u s", a->stop_timeout, b->stop_timeout);
	d->changes = v;
	d->kind = v ? SP_DIFF_CHANGED : SP_DIFF_SAME;
	return r ? -1 : 0;
}

int sp_config_diff(const struct sp_config *old, const struct sp_config *new, struct sp_instance_diff **out,
		   size_t *n, struct sp_err *err)
{
	size_t cap = new->n_instances + (old ? old->n_instances : 0), k = 0;
	struct sp_instance_diff *d = calloc(cap + 1, sizeof *d);

	*out = NULL;
	*n = 0;
	if (!d)
		return sp_fail_errno(err, ENOMEM, "diff");
	for (size_t i = 0; i < new->n_instances; i++) {
		const struct sp_instance *b = &new->instances[i];
		const struct sp_instance *a = old ? sp_config_find(old, b->name) : NULL;
		d[k].name = b->name;
		d[k].autostart = b->autostart;
		if (!a) {
			d[k].kind = SP_DIFF_ADDED;
		} else if (compare(a, b, &d[k]) < 0) {
			sp_config_diff_free(d, k + 1);
			return sp_fail_errno(err, ENOMEM, "diff");
		}
		k++;
	}
	for (size_t i = 0; old && i < old->n_instances; i++) {
		if (sp_config_find(new, old->instances[i].name))
			continue;
		d[k].name = old->instances[i].name;
		d[k].kind = SP_DIFF_REMOVED;
		d[k].autostart = old->instances[i].autostart;
		k++;
	}
	*out = d;
	*n = k;
	return 0;
}

void sp_config_diff_free(struct sp_instance_diff *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++) {
		for (size_t k = 0; d[i].changes && d[i].changes[k]; k++)
			free(d[i].changes[k]);
		free(d[i].changes);
	}
	free(d);
}
