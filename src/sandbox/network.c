#include "sandbox/network.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "net/attach.h"
#include "sandbox/engine.h"
#include "sandbox/join.h"
#include "util/cleanup.h"

static void state_path(const struct sp_engine_net *n, char *buf, size_t size)
{
	snprintf(buf, size, "%s/" SP_RUNTIME_INSTANCES "/%s/" SP_RUNTIME_NET, n->store->run_dir, n->plan->name);
}

/* Records the provider the client is linked to (0: none), atomically. */
static void record(struct sp_engine_net *n, pid_t provider)
{
	char path[4200], tmp[4300];
	FILE *f;

	n->provider = provider;
	state_path(n, path, sizeof path);
	if (!provider) {
		unlink(path);
		return;
	}
	snprintf(tmp, sizeof tmp, "%s.new", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%d\n", (int)provider);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

/* Links the client to the provider T runs. */
static int link_client(struct sp_engine_net *n, const struct sp_join_target *t, struct sp_err *err)
{
	cleanup_fd int own = -1;
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/ns/net", (int)n->child);
	own = open(path, O_RDONLY | O_CLOEXEC);
	if (own < 0)
		return sp_fail_errno(err, errno, "open %s", path);
	if (sp_net_client_up(n->plan, t->ns[SP_JOIN_NET], own, n->host_gid, err) < 0)
		return -1;
	record(n, t->pid);
	return 0;
}

int sp_engine_net_up(struct sp_engine_net *n, struct sp_err *err)
{
	const struct sp_plan *plan = n->plan;
	struct sp_join_target provider;
	cleanup_fd int own = -1;
	char path[64];
	int r;

	n->timer = -1;
	if (plan->net.role == SP_NET_ROLE_PROVIDER) {
		snprintf(path, sizeof path, "/proc/%d/ns/net", (int)n->child);
		own = open(path, O_RDONLY | O_CLOEXEC);
		if (own < 0)
			return sp_fail_errno(err, errno, "open %s", path);
		return sp_net_provider_up(plan, own, err);
	}
	if (plan->net.role != SP_NET_ROLE_CLIENT)
		return 0;
	if (sp_join_find(n->store, plan->net.provider, &provider, err) < 0)
		return sp_fail(err, SP_ERR_RUNTIME, "its net provider %s is not running (spectrum start %s)",
			       plan->net.provider, plan->net.provider);
	r = link_client(n, &provider, err);
	sp_join_close(&provider);
	return r;
}

int sp_engine_net_timer(struct sp_engine_net *n)
{
	struct itimerspec every = { { 1, 0 }, { 1, 0 } };

	if (n->plan->net.role != SP_NET_ROLE_CLIENT)
		return -1;
	n->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (n->timer >= 0 && timerfd_settime(n->timer, 0, &every, NULL) < 0) {
		close(n->timer);
		n->timer = -1;
	}
	return n->timer;
}

/* A provider's restart takes its clients' links with its namespace: the
 * client is linked again to the new one, with the same MAC, address and
 * rules, the way Qubes reconnects a qube to a restarted netvm. */
void sp_engine_net_tick(struct sp_engine_net *n)
{
	struct sp_join_target provider;
	struct sp_err err = { 0 };
	uint64_t ticks;

	if (read(n->timer, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
		return;
	/* Each second: one small read while nothing changed. */
	if (n->provider && sp_join_pid(n->store, n->plan->net.provider) == n->provider && kill(n->provider, 0) == 0)
		return;
	if (sp_join_find(n->store, n->plan->net.provider, &provider, &err) < 0) {
		if (n->provider)
			record(n, 0); /* gone: its links went with it */
		return;
	}
	if (provider.pid != n->provider) {
		if (link_client(n, &provider, &err) == 0) {
			n->said = false;
		} else if (!n->said) {
			/* To the instance's log; tried again each second. */
			fprintf(stderr, "spectrum: %s: relink to %s: %s\n", n->plan->name, n->plan->net.provider,
				err.msg);
			n->said = true;
		}
	}
	sp_join_close(&provider);
}

void sp_engine_net_down(const void *arg)
{
	const struct sp_engine_net *n = arg;
	struct sp_join_target provider;
	struct sp_err ignored = { 0 };
	char path[4200];

	if (n->plan->net.role == SP_NET_ROLE_PROVIDER) {
		sp_net_provider_down(n->plan);
	} else if (n->plan->net.role == SP_NET_ROLE_CLIENT) {
		state_path(n, path, sizeof path);
		unlink(path);
		if (sp_join_find(n->store, n->plan->net.provider, &provider, &ignored) == 0) {
			sp_net_client_down(n->plan, provider.ns[SP_JOIN_NET]);
			sp_join_close(&provider);
		}
	}
}

void sp_engine_net_close(struct sp_engine_net *n)
{
	if (n->timer >= 0)
		close(n->timer);
	n->timer = -1;
}
